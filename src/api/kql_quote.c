/*-------------------------------------------------------------------------
 *
 * kql_quote.c
 *	  SQL access to the KQL quoting of src/decoder/escape.c, so that the
 *	  KQL the SQL functions write (latest_state_kql, latest_state_query) and
 *	  the commands the worker sends quote alike.
 *
 *	_kql_string(text) -> text	a KQL string literal: 'text'
 *	_kql_name(text) -> text		a KQL name: ['name']
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "decoder/escape.h"

PG_FUNCTION_INFO_V1(kusto_sink_kql_string);
PG_FUNCTION_INFO_V1(kusto_sink_kql_name);

Datum
kusto_sink_kql_string(PG_FUNCTION_ARGS)
{
	StringInfoData out;

	initStringInfo(&out);
	ks_append_kql_string(&out, text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

Datum
kusto_sink_kql_name(PG_FUNCTION_ARGS)
{
	StringInfoData out;

	initStringInfo(&out);
	ks_append_kql_name(&out, text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}
