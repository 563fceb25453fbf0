/*-------------------------------------------------------------------------
 *
 * kusto_ddl.c
 *	  The Kusto management commands for a sink's tables, and the reader of
 *	  a Kusto table's schema (see kusto_ddl.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "decoder/escape.h"
#include "worker/kusto_ddl.h"
#include "worker/sink_options.h"

/* the sink's options, and how many of its source tables go to a Kusto table */
static const char *const sink_sql =
"SELECT s.options, (SELECT pg_catalog.count(*) FROM kusto_sink._sources_of(s, $2))"
"  FROM kusto_sink.sink s WHERE s.name OPERATOR(pg_catalog.=) $1";

/* the columns the records carry (source columns by kusto_type, then metadata) */
static const char *const columns_sql =
"SELECT k.name, k.type FROM kusto_sink._kusto_columns($1, $2) k";

Jsonb *
ks_kusto_schema_parse(const char *schema_json)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(schema_json)));
}

/* a string member of a JSON object, or NULL */
static char *
string_member(JsonbContainer *object, const char *key)
{
	JsonbValue	k;
	JsonbValue *v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(object, JB_FOBJECT, &k);
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

List *
ks_kusto_schema_columns(Jsonb *schema)
{
	JsonbValue	key;
	JsonbValue *cols;
	List	   *out = NIL;
	uint32		n;
	uint32		i;

	if (schema == NULL || !JB_ROOT_IS_OBJECT(schema))
		return NIL;
	key.type = jbvString;
	key.val.string.val = "OrderedColumns";
	key.val.string.len = strlen("OrderedColumns");
	cols = findJsonbValueFromContainer(&schema->root, JB_FOBJECT, &key);
	if (cols == NULL || cols->type != jbvBinary ||
		!JsonContainerIsArray(cols->val.binary.data) || JsonContainerIsScalar(cols->val.binary.data))
		return NIL;
	n = JsonContainerSize(cols->val.binary.data);
	for (i = 0; i < n; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(cols->val.binary.data, i);
		KsKustoColumn *c = palloc0(sizeof(KsKustoColumn));

		/* (every element keeps its position: CSV maps by ordinal) */
		if (e != NULL && e->type == jbvBinary && JsonContainerIsObject(e->val.binary.data))
		{
			c->name = string_member(e->val.binary.data, "Name");
			c->type = string_member(e->val.binary.data, "CslType");
		}
		if (c->name == NULL)
			c->name = pstrdup("");
		out = lappend(out, c);
	}
	return out;
}

/* ['name']:type, as a column of .create table and .alter-merge table */
static void
append_column(StringInfo s, const char *name, const char *type)
{
	if (s->len > 0)
		appendStringInfoString(s, ", ");
	ks_append_kql_name(s, name);
	appendStringInfo(s, ":%s", type ? type : "");
}

static const KsKustoColumn *
find_column(List *columns, const char *name)
{
	ListCell   *lc;

	foreach(lc, columns)
	{
		KsKustoColumn *c = (KsKustoColumn *) lfirst(lc);

		if (strcmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

static char *
table_command(const char *verb, const char *kusto_table, const char *rest)
{
	StringInfoData cmd;

	initStringInfo(&cmd);
	appendStringInfo(&cmd, "%s ", verb);
	ks_append_kql_name(&cmd, kusto_table);
	appendStringInfoString(&cmd, rest);
	return cmd.data;
}

List *
ks_kusto_table_commands(const char *sink, const char *kusto_table, Jsonb *schema)
{
	List	   *have = ks_kusto_schema_columns(schema);
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	bool		streams = false;
	bool		csv = false;
	bool		mapping_ref = false;
	int64		nsources = 0;
	StringInfoData cols;
	StringInfoData missing;
	StringInfoData diffs;
	List	   *out = NIL;
	char	   *batching = NULL;
	MemoryContext caller = CurrentMemoryContext;
	uint64		i;

	/* (in the caller's context: SPI's ends with SPI_finish) */
	initStringInfo(&cols);
	initStringInfo(&missing);
	initStringInfo(&diffs);
	values[0] = CStringGetTextDatum(sink);
	values[1] = CStringGetTextDatum(kusto_table);

	SPI_connect();
	if (SPI_execute_with_args(sink_sql, 2, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "kusto_sink: could not run \"%s\"", sink_sql);
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d = SPI_getbinval(tup, desc, 1, &isnull);
		Jsonb	   *options = isnull ? NULL : DatumGetJsonbP(d);
		const char *method = ks_sink_option_text(options, "ingestion_method");

		/* (the options as the validator reads them, its defaults included) */
		streams = method != NULL && (strcmp(method, "streaming") == 0 || strcmp(method, "managed") == 0);
		csv = pg_strcasecmp(ks_sink_option_text(options, "format"), "csv") == 0;
		mapping_ref = ks_sink_option_text(options, "ingestion_mapping_ref") != NULL;
		batching = ks_sink_batching_policy(options);
		if (batching != NULL)
			batching = MemoryContextStrdup(caller, batching);
		d = SPI_getbinval(tup, desc, 2, &isnull);
		nsources = isnull ? 0 : DatumGetInt64(d);
	}
	if (nsources == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("sink \"%s\" has no source table for Kusto table \"%s\"", sink, kusto_table),
				 errhint("Only the Kusto tables the sink writes to are created or checked.")));
	/* each layout has its own ordinal mapping, unless the sink names one for all */
	if (csv && mapping_ref && nsources > 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("Kusto table \"%s\" gets CSV records of more than one source table through one mapping",
						kusto_table),
				 errhint("CSV maps fields by position, which differs between tables: leave out ingestion_mapping_ref (create_table makes a mapping per table), use format json, or give each table its own Kusto table.")));

	if (SPI_execute_with_args(columns_sql, 2, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "kusto_sink: could not run \"%s\"", columns_sql);
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *type = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		const KsKustoColumn *c;

		if (name == NULL)
			continue;
		append_column(&cols, name, type);
		if (schema == NULL)
			continue;
		c = find_column(have, name);
		if (c == NULL)
			append_column(&missing, name, type);
		else if (c->type != NULL && type != NULL && strcmp(c->type, type) != 0)
			appendStringInfo(&diffs, "%scolumn \"%s\" is %s in Kusto, but the records carry %s",
							 diffs.len > 0 ? "; " : "", name, c->type, type);
	}
	SPI_finish();

	if (diffs.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("Kusto table \"%s\" does not fit sink \"%s\": %s", kusto_table, sink, diffs.data),
				 errhint("Change those columns in Kusto (.alter column), or map the source table to another Kusto table.")));
	if (schema == NULL)
		out = lappend(out, table_command(".create table", kusto_table, psprintf(" (%s)", cols.data)));
	else if (missing.len > 0)
		out = lappend(out, table_command(".alter-merge table", kusto_table, psprintf(" (%s)", missing.data)));
	if (streams)
		out = lappend(out, ks_kusto_streaming_policy(kusto_table));
	if (batching != NULL)
		out = lappend(out, ks_kusto_batching_policy(kusto_table, batching));
	return out;
}

char *
ks_kusto_create_merge(const char *kusto_table, int ncolumns, char *const *names, char *const *types)
{
	StringInfoData cols;
	int			i;

	initStringInfo(&cols);
	for (i = 0; i < ncolumns; i++)
		append_column(&cols, names[i], types[i]);
	return table_command(".create-merge table", kusto_table, psprintf(" (%s)", cols.data));
}

char *
ks_kusto_streaming_policy(const char *kusto_table)
{
	return table_command(".alter table", kusto_table, " policy streamingingestion enable");
}

/*
 * Makes the streaming nodes take a table's new schema, mappings and policy at
 * once instead of minutes later (dataexplorer-docs: streaming ingestion and
 * schema changes)
 */
char *
ks_kusto_clear_streaming_schema(const char *kusto_table)
{
	return table_command(".clear table", kusto_table, " cache streamingingestion schema");
}

/* .alter table T policy ingestionbatching '<policy JSON>' */
char *
ks_kusto_batching_policy(const char *kusto_table, const char *policy_json)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfoString(&s, " policy ingestionbatching ");
	ks_append_kql_string(&s, policy_json);
	return table_command(".alter table", kusto_table, s.data);
}

char *
ks_kusto_mapping_command(const char *kusto_table, const char *mapping_name, bool csv,
						 int ncolumns, char *const *names)
{
	StringInfoData mapping;
	StringInfoData rest;
	int			i;

	/* the fields by ordinal (CSV) or by name (JSON) */
	initStringInfo(&mapping);
	appendStringInfoChar(&mapping, '[');
	for (i = 0; i < ncolumns; i++)
	{
		if (i > 0)
			appendStringInfoString(&mapping, ", ");
		appendStringInfoString(&mapping, "{\"column\": ");
		ks_append_json_string(&mapping, names[i], strlen(names[i]));
		if (csv)
			appendStringInfo(&mapping, ", \"Properties\": {\"Ordinal\": \"%d\"}}", i);
		else
		{
			StringInfoData path;

			initStringInfo(&path);
			appendStringInfoString(&path, "$[");
			ks_append_kql_string(&path, names[i]);
			appendStringInfoChar(&path, ']');
			appendStringInfoString(&mapping, ", \"Properties\": {\"Path\": ");
			ks_append_json_string(&mapping, path.data, path.len);
			appendStringInfoString(&mapping, "}}");
		}
	}
	appendStringInfoChar(&mapping, ']');

	initStringInfo(&rest);
	appendStringInfo(&rest, " ingestion %s mapping ", csv ? "csv" : "json");
	ks_append_kql_string(&rest, mapping_name);
	appendStringInfoChar(&rest, ' ');
	ks_append_kql_string(&rest, mapping.data);
	return table_command(".create-or-alter table", kusto_table, rest.data);
}
