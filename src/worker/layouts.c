/*-------------------------------------------------------------------------
 *
 * layouts.c
 *	  Record layouts per Kusto table and making Kusto ready for them (see
 *	  layouts.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <jansson.h>

#include "nodes/pg_list.h"
#include "utils/memutils.h"

#include "common/kusto_name.h"
#include "decoder/escape.h"
#include "worker/layouts.h"

/* every layout seen by this worker (few: one per table and ALTER) */
static List *layouts = NIL;

static bool
same_shape(const KsLayout *l, const char *kusto_table, const KsShape *shape)
{
	int			i;

	if (l->hash != shape->hash || l->ncolumns != shape->ncolumns ||
		strcmp(l->kusto_table, kusto_table) != 0)
		return false;
	for (i = 0; i < l->ncolumns; i++)
		if (strcmp(l->names[i], shape->names[i]) != 0 ||
			strcmp(l->types[i], shape->types[i]) != 0)
			return false;
	return true;
}

KsLayout *
ks_layout_get(const char *kusto_table, const KsShape *shape)
{
	MemoryContext oldcxt;
	ListCell   *lc;
	KsLayout   *l;
	int			i;

	foreach(lc, layouts)
	{
		l = (KsLayout *) lfirst(lc);
		if (same_shape(l, kusto_table, shape))
			return l;
	}
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	l = palloc0(sizeof(KsLayout));
	l->kusto_table = pstrdup(kusto_table);
	l->ncolumns = shape->ncolumns;
	l->names = palloc(shape->ncolumns * sizeof(char *));
	l->types = palloc(shape->ncolumns * sizeof(char *));
	for (i = 0; i < shape->ncolumns; i++)
	{
		l->names[i] = pstrdup(shape->names[i]);
		l->types[i] = pstrdup(shape->types[i]);
	}
	l->hash = shape->hash;
	layouts = lappend(layouts, l);
	MemoryContextSwitchTo(oldcxt);
	return l;
}

/* with create_table: add the columns, then the layout's own mapping */
static KsShipOutcome
merge_and_map(KsShipper *shipper, KsSinkConfig *config, KsLayout *l,
			  char *message, size_t size)
{
	bool		csv = strcmp(config->format, "csv") == 0;
	StringInfoData cmd;
	StringInfoData mapping;
	char	   *name;
	KsShipOutcome outcome;
	int			i;

	/*
	 * A column Kusto cannot hold (one added since create_sink checked the
	 * table's columns) stops the sink before anything is sent, naming it,
	 * rather than failing in Kusto's .create-merge
	 */
	for (i = 0; i < l->ncolumns; i++)
	{
		const char *why = kusto_entity_name_error(l->names[i]);

		if (why != NULL)
		{
			snprintf(message, size,
					 "column \"%.200s\" cannot be a column of Kusto table \"%s\": %s; "
					 "the sink stops before sending records that carry it",
					 l->names[i], l->kusto_table, why);
			return KS_SHIP_PERMANENT;
		}
	}

	initStringInfo(&cmd);
	appendStringInfoString(&cmd, ".create-merge table ");
	ks_append_kql_name(&cmd, l->kusto_table);
	appendStringInfoString(&cmd, " (");
	for (i = 0; i < l->ncolumns; i++)
	{
		if (i > 0)
			appendStringInfoString(&cmd, ", ");
		ks_append_kql_name(&cmd, l->names[i]);
		appendStringInfo(&cmd, ":%s", l->types[i]);
	}
	appendStringInfoChar(&cmd, ')');
	outcome = ks_ship_command(shipper, cmd.data, message, size);
	if (outcome == KS_SHIP_ACKED && strcmp(config->ingestion_method, "queued") != 0)
	{
		/*
		 * The table may be new (a table that joined the publication): it
		 * streams, as the tables made ready at start do (kusto_tables.c)
		 */
		resetStringInfo(&cmd);
		appendStringInfoString(&cmd, ".alter table ");
		ks_append_kql_name(&cmd, l->kusto_table);
		appendStringInfoString(&cmd, " policy streamingingestion enable");
		outcome = ks_ship_command(shipper, cmd.data, message, size);
	}
	if (outcome != KS_SHIP_ACKED || config->ingestion_mapping_ref != NULL)
		return outcome;			/* the user's mapping maps the fields */

	/* the fields by ordinal (CSV) or by name (JSON) */
	initStringInfo(&mapping);
	appendStringInfoChar(&mapping, '[');
	for (i = 0; i < l->ncolumns; i++)
	{
		StringInfoData path;

		if (i > 0)
			appendStringInfoString(&mapping, ", ");
		appendStringInfoString(&mapping, "{\"column\": ");
		ks_append_json_string(&mapping, l->names[i], strlen(l->names[i]));
		if (csv)
			appendStringInfo(&mapping, ", \"Properties\": {\"Ordinal\": \"%d\"}}", i);
		else
		{
			initStringInfo(&path);
			appendStringInfoString(&path, "$[");
			ks_append_kql_string(&path, l->names[i]);
			appendStringInfoChar(&path, ']');
			appendStringInfoString(&mapping, ", \"Properties\": {\"Path\": ");
			ks_append_json_string(&mapping, path.data, path.len);
			appendStringInfoString(&mapping, "}}");
		}
	}
	appendStringInfoChar(&mapping, ']');

	name = psprintf("kusto_sink_%s_%016llx", config->name, (unsigned long long) l->hash);
	resetStringInfo(&cmd);
	appendStringInfoString(&cmd, ".create-or-alter table ");
	ks_append_kql_name(&cmd, l->kusto_table);
	appendStringInfo(&cmd, " ingestion %s mapping ", csv ? "csv" : "json");
	ks_append_kql_string(&cmd, name);
	appendStringInfoChar(&cmd, ' ');
	ks_append_kql_string(&cmd, mapping.data);
	outcome = ks_ship_command(shipper, cmd.data, message, size);
	if (outcome != KS_SHIP_ACKED)
		return outcome;
	l->mapping = MemoryContextStrdup(TopMemoryContext, name);
	return KS_SHIP_ACKED;
}

/* The Kusto table's column names, in order, from .show table schema JSON. */
static List *
kusto_columns(const char *schema)
{
	json_error_t jerr;
	json_t	   *root = json_loads(schema, 0, &jerr);
	json_t	   *cols = root ? json_object_get(root, "OrderedColumns") : NULL;
	List	   *names = NIL;
	size_t		i;

	for (i = 0; cols != NULL && i < json_array_size(cols); i++)
	{
		const char *name = json_string_value(json_object_get(json_array_get(cols, i), "Name"));

		names = lappend(names, pstrdup(name ? name : ""));
	}
	if (root)
		json_decref(root);
	return names;
}

/* without create_table or a mapping: do the fields land in their columns? */
static KsShipOutcome
check_columns(KsShipper *shipper, KsSinkConfig *config, KsLayout *l,
			  char *message, size_t size)
{
	bool		csv = strcmp(config->format, "csv") == 0;
	char	   *schema;
	List	   *have;
	StringInfoData missing;
	KsShipOutcome outcome;
	int			i;

	outcome = ks_ship_read_schema(shipper, l->kusto_table, &schema, message, size);
	if (outcome != KS_SHIP_ACKED)
		return outcome;
	if (schema == NULL)
		return KS_SHIP_ACKED;	/* no table: the ingestion says so */
	have = kusto_columns(schema);

	initStringInfo(&missing);
	for (i = 0; i < l->ncolumns; i++)
	{
		if (csv)
		{
			const char *at = i < list_length(have) ? (char *) list_nth(have, i) : NULL;

			if (at == NULL || strcmp(at, l->names[i]) != 0)
			{
				snprintf(message, size,
						 "CSV records for Kusto table \"%s\" do not line up with its columns: "
						 "field %d is \"%s\", but column %d of the table is %s%s%s; "
						 "add the columns in record order, or turn on the sink option create_table",
						 l->kusto_table, i + 1, l->names[i], i + 1,
						 at ? "\"" : "", at ? at : "missing", at ? "\"" : "");
				return KS_SHIP_PERMANENT;
			}
		}
		else
		{
			ListCell   *lc;
			bool		found = false;

			foreach(lc, have)
				if (strcmp((char *) lfirst(lc), l->names[i]) == 0)
					found = true;
			if (!found)
				appendStringInfo(&missing, "%s\"%s\"", missing.len ? ", " : "", l->names[i]);
		}
	}
	if (missing.len > 0)
	{
		snprintf(message, size,
				 "Kusto table \"%s\" has no column %s: Kusto drops those fields until the columns are added "
				 "(or the sink option create_table is turned on)",
				 l->kusto_table, missing.data);
		ereport(WARNING,
				(errmsg("kusto_sink sink \"%s\": %s", config->name, message)));
	}
	return KS_SHIP_ACKED;
}

KsShipOutcome
ks_layout_prepare(KsShipper *shipper, KsSinkConfig *config, KsLayout *layout,
				  char *message, size_t size)
{
	KsShipOutcome outcome;
	MemoryContext cxt;
	MemoryContext oldcxt;

	message[0] = '\0';
	if (layout->ready)
		return KS_SHIP_ACKED;
	/* the commands and schemas live only for this call (the caller's may be long-lived) */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "kusto_sink layout", ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);
	if (config->create_table)
		outcome = merge_and_map(shipper, config, layout, message, size);
	else if (config->ingestion_mapping_ref != NULL)
		outcome = KS_SHIP_ACKED;
	else
		outcome = check_columns(shipper, config, layout, message, size);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(cxt);
	if (outcome == KS_SHIP_ACKED)
		layout->ready = true;
	return outcome;
}
