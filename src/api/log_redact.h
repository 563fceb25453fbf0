/*-------------------------------------------------------------------------
 *
 * log_redact.h
 *	  Keeping secrets passed to create_connection / alter_connection out of
 *	  the server log.
 *
 * ks_log_redact_install() chains an emit_log_hook: while the current
 * statement (debug_query_string) or the message itself mentions a call of
 * create_connection or alter_connection, no STATEMENT line is logged, and
 * the server-log-only messages that quote statements (log_statement,
 * log_min_duration_statement, auto_explain, pgaudit, "parameters: ..."
 * details) are replaced by KS_STATEMENT_HIDDEN, and a context line with a
 * bind's parameter values by KS_PARAMETERS_HIDDEN.  Called from _PG_init,
 * whenever the library is loaded; what it cannot cover is listed in
 * docs/security.md, "Secrets".
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_LOG_REDACT_H
#define KS_LOG_REDACT_H

#define KS_STATEMENT_HIDDEN "statement hidden by kusto_sink: it may contain a secret"
#define KS_SYNTAX_ERROR_HIDDEN "syntax error in a statement hidden by kusto_sink: it may contain a secret"
#define KS_PARAMETERS_HIDDEN "portal parameters hidden by kusto_sink: they may contain a secret"

extern void ks_log_redact_install(void);

#endif
