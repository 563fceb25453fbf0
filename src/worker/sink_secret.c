/*-------------------------------------------------------------------------
 *
 * sink_secret.c
 *	  A sink's column control options for the output plugin (see
 *	  sink_secret.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"

#include "worker/sink_secret.h"

static const char *columns_sql =
"SELECT ($1::pg_catalog.jsonb OPERATOR(pg_catalog.->) 'columns')::pg_catalog.text, "
"pg_catalog.to_regclass('kusto_sink.sink_secret') IS NOT NULL, "
"pg_catalog.to_regclass('kusto_sink.sink_column') IS NOT NULL";

static const char *salt_sql =
"SELECT pg_catalog.encode(s.mask_salt, 'hex') FROM kusto_sink.sink_secret s "
"WHERE s.sink OPERATOR(pg_catalog.=) $1";

static const char *attnums_sql =
"SELECT kusto_sink._column_attnums($1)::pg_catalog.text";

List *
ks_sink_column_options(const char *sink, const char *sink_options_json)
{
	MemoryContext cxt = CurrentMemoryContext;
	List	   *options = NIL;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	char	   *columns = NULL;
	char	   *salt = NULL;
	char	   *attnums = NULL;
	bool		have_table = false;
	bool		have_bindings = false;
	bool		isnull;

	values[0] = CStringGetTextDatum(sink_options_json);
	if (SPI_execute_with_args(columns_sql, 1, types, values, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "kusto_sink: could not read the column options of sink \"%s\"", sink);
	columns = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	have_table = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	have_bindings = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	if (have_table)
	{
		values[0] = CStringGetTextDatum(sink);
		if (SPI_execute_with_args(salt_sql, 1, types, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "kusto_sink: could not read the secrets of sink \"%s\"", sink);
		if (SPI_processed == 1)
			salt = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	}
	if (have_bindings)
	{
		values[0] = CStringGetTextDatum(sink);
		if (SPI_execute_with_args(attnums_sql, 1, types, values, NULL, true, 1) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "kusto_sink: could not read the column bindings of sink \"%s\"", sink);
		attnums = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	}
	MemoryContextSwitchTo(cxt);
	if (columns != NULL)
		options = lappend(options, makeDefElem("columns", (Node *) makeString(pstrdup(columns)), -1));
	if (attnums != NULL)
		options = lappend(options, makeDefElem("column_attnums", (Node *) makeString(pstrdup(attnums)), -1));
	if (salt != NULL)
		options = lappend(options, makeDefElem("mask_salt", (Node *) makeString(pstrdup(salt)), -1));
	return options;
}
