/*-------------------------------------------------------------------------
 *
 * log_redact.c
 *	  An emit_log_hook that keeps the statements calling the secret-taking
 *	  functions (kusto_sink.create_connection, kusto_sink.alter_connection)
 *	  out of the server log.
 *
 * A report is "about a secret" when debug_query_string (the whole query
 * string the client sent, every statement of it), the message or its
 * detail contains create_connection or alter_connection (any case).  Then:
 *	- hide_stmt is set: no STATEMENT line (log_min_error_statement), which
 *	  also covers the errors raised before the function body runs (an
 *	  unknown argument name, bad JSON, an earlier statement of the same
 *	  string failing);
 *	- a report that goes to the server log only (LOG, LOG_SERVER_ONLY,
 *	  DEBUG) has its message and detail replaced by KS_STATEMENT_HIDDEN:
 *	  those are log_statement's "statement: ...", "duration: ...
 *	  statement: ...", auto_explain's plans ("Query Text: ..."), pgaudit's
 *	  lines (also at a pgaudit.log_level above LOG: "AUDIT: ...") and the
 *	  "parameters: $1 = ..." details;
 *	- a report meant for the client too (INFO and above) keeps its
 *	  message, except a syntax error "at or near" a quoted token (which
 *	  may be a piece of the secret; replaced by KS_SYNTAX_ERROR_HIDDEN,
 *	  the error position stays); a detail that quotes a row ("Failing row
 *	  contains ...", "Key (...)=(...)") is replaced;
 *	- in any report, the context line with a bind's parameter values
 *	  ("unnamed portal with parameters: $1 = ...", from
 *	  log_parameter_max_length_on_error) is replaced by
 *	  KS_PARAMETERS_HIDDEN.
 * The text a client gets back is otherwise unchanged (the client sees the
 * same report, so a replaced detail or context is replaced there too).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "tcop/tcopprot.h"
#include "utils/elog.h"
#include "utils/memutils.h"

#include "api/log_redact.h"

static emit_log_hook_type prev_emit_log_hook = NULL;

static const char *const secret_functions[] = {"create_connection", "alter_connection"};

/* Whether s contains the name of a secret-taking function, in any case. */
static bool
mentions_secret_call(const char *s)
{
	const char *p;

	if (s == NULL)
		return false;
	for (p = s; *p; p++)
	{
		int			i;

		if (*p != 'c' && *p != 'C' && *p != 'a' && *p != 'A')
			continue;
		for (i = 0; i < lengthof(secret_functions); i++)
			if (pg_strncasecmp(p, secret_functions[i], strlen(secret_functions[i])) == 0)
				return true;
	}
	return false;
}

static bool
quotes_row(const char *detail)
{
	return detail != NULL &&
		(strncmp(detail, "Failing row contains", 20) == 0 ||
		 strncmp(detail, "Key (", 5) == 0);
}

/*
 * Cuts the "... portal with parameters: $1 = '...'" line (the values of a
 * bind, log_parameter_max_length_on_error) and what follows off a context.
 */
static void
hide_portal_parameters(ErrorData *edata)
{
	char	   *p = edata->context ? strstr(edata->context, "portal with parameters: ") : NULL;
	StringInfoData buf;

	if (p == NULL)
		return;
	while (p > edata->context && p[-1] != '\n')
		p--;
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, edata->context, p - edata->context);
	appendStringInfoString(&buf, KS_PARAMETERS_HIDDEN);
	pfree(edata->context);
	edata->context = buf.data;
}

static void
ks_emit_log(ErrorData *edata)
{
	if (edata->output_to_server &&
		(mentions_secret_call(debug_query_string) ||
		 mentions_secret_call(edata->message) ||
		 mentions_secret_call(edata->detail) ||
		 mentions_secret_call(edata->detail_log)))
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(ErrorContext);

		edata->hide_stmt = true;
		/* pgaudit's lines also at a pgaudit.log_level above LOG */
		if (edata->elevel <= LOG_SERVER_ONLY ||
			(edata->message && strncmp(edata->message, "AUDIT: ", 7) == 0))
		{
			if (edata->message)
				pfree(edata->message);
			edata->message = pstrdup(KS_STATEMENT_HIDDEN);
			if (edata->detail)
			{
				pfree(edata->detail);
				edata->detail = NULL;
			}
		}
		else if (edata->sqlerrcode == ERRCODE_SYNTAX_ERROR && edata->message &&
				 strstr(edata->message, " at or near ") != NULL)
		{
			/* it quotes a token of the statement (the client keeps the position) */
			pfree(edata->message);
			edata->message = pstrdup(KS_SYNTAX_ERROR_HIDDEN);
		}
		else if (quotes_row(edata->detail))
		{
			pfree(edata->detail);
			edata->detail = pstrdup(KS_STATEMENT_HIDDEN);
		}
		if (edata->detail_log)
		{
			pfree(edata->detail_log);
			edata->detail_log = NULL;
		}
		hide_portal_parameters(edata);
		MemoryContextSwitchTo(oldcxt);
	}

	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

void
ks_log_redact_install(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = ks_emit_log;
}
