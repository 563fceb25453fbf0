/*-------------------------------------------------------------------------
 *
 * table_commands.c
 *	  SQL access to the worker's Kusto table commands (worker/kusto_ddl.h),
 *	  so that what pg_regress sees is what the worker runs.
 *
 *	_kusto_table_commands(sink text, kusto_table text, kusto_schema jsonb)
 *		-> SETOF text	the commands that make the Kusto table ready for the
 *						sink, given its schema (NULL: it does not exist)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "worker/kusto_ddl.h"

PG_FUNCTION_INFO_V1(kusto_sink_kusto_table_commands);

Datum
kusto_sink_kusto_table_commands(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *commands;
	ListCell   *lc;

	/* (no sink and no Kusto table have an empty name: an error follows) */
	commands = ks_kusto_table_commands(PG_ARGISNULL(0) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(0)),
									   PG_ARGISNULL(1) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(1)),
									   PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	foreach(lc, commands)
	{
		Datum		value = CStringGetTextDatum((char *) lfirst(lc));
		bool		isnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	return (Datum) 0;
}
