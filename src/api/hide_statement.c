/*-------------------------------------------------------------------------
 *
 * hide_statement.c
 *	  Keeping secrets passed as function arguments out of pg_stat_activity
 *	  and out of the STATEMENT line of error reports.
 *
 *	kusto_sink._hide_statement(what text): replaces the current statement's
 *	text, as pg_stat_activity shows it (also after the statement ends, until
 *	the session runs another one) and as an error raised later in the
 *	statement logs it, by "SELECT <what>(...) -- arguments hidden by
 *	kusto_sink".  Called first thing by the functions that take secrets.
 *	It cannot help with log_statement, which logs a statement before it
 *	runs (docs/security.md, "Secrets").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(kusto_sink_hide_statement);

Datum
kusto_sink_hide_statement(PG_FUNCTION_ARGS)
{
	char	   *what = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *hidden;

	/* lives until the end of the transaction, as long as the statement */
	hidden = MemoryContextAllocZero(TopTransactionContext, strlen(what) + 64);
	snprintf(hidden, strlen(what) + 64,
			 "SELECT %s(...) -- arguments hidden by kusto_sink", what);
	pgstat_report_activity(STATE_RUNNING, hidden);
	debug_query_string = hidden;
	PG_RETURN_VOID();
}
