/*-------------------------------------------------------------------------
 *
 * layouts.c
 *	  Record layouts per Kusto table and making Kusto ready for them (see
 *	  layouts.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/memutils.h"

#include "common/kusto_name.h"
#include "kusto/kusto.h"
#include "worker/kusto_ddl.h"
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
	bool		csv = config->format == KS_FORMAT_CSV;
	char	   *name;
	char	   *report = NULL;
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

	outcome = ks_ship_command(shipper, ks_kusto_create_merge(l->kusto_table, l->ncolumns, l->names, l->types),
							  message, size);
	if (outcome == KS_SHIP_ACKED && config->ingestion_method != KS_METHOD_QUEUED)
	{
		/*
		 * The table may be new (a table that joined the publication): it
		 * streams, as the tables made ready at start do (kusto_tables.c)
		 */
		outcome = ks_ship_command(shipper, ks_kusto_streaming_policy(l->kusto_table), message, size);
		if (outcome != KS_SHIP_ACKED && kusto_streaming_off_text(message) &&
			config->ingestion_method == KS_METHOD_MANAGED)
		{
			/* a cluster without streaming: managed sends the table queued */
			ereport(WARNING,
					(errmsg("kusto_sink sink \"%s\": streaming ingestion cannot be enabled on Kusto table \"%s\": %s",
							config->name, l->kusto_table, message),
					 errdetail("Managed ingestion sends the table's batches queued."),
					 errhint("Enable streaming ingestion on the cluster for the sink to stream.")));
			outcome = KS_SHIP_ACKED;
			report = psprintf("managed ingestion sends Kusto table \"%s\" queued: %s", l->kusto_table, message);
		}
	}
	if (outcome == KS_SHIP_ACKED && config->ingestion_mapping_ref == NULL)
	{
		name = psprintf("kusto_sink_%s_%016llx", config->name, (unsigned long long) l->hash);
		outcome = ks_ship_command(shipper, ks_kusto_mapping_command(l->kusto_table, name, csv, l->ncolumns, l->names),
								  message, size);
		if (outcome == KS_SHIP_ACKED)
			l->mapping = MemoryContextStrdup(TopMemoryContext, name);
	}
	if (outcome != KS_SHIP_ACKED)
		return outcome;

	/*
	 * Kusto's streaming nodes take the new columns, mapping and policy
	 * minutes later unless told: a batch of this layout streamed meanwhile
	 * would name a mapping they do not know (a permanent refusal) or lose the
	 * new columns' values (dataexplorer-docs: streaming ingestion and schema
	 * changes).  Cleared before the layout's first batch goes out.
	 */
	if (config->ingestion_method != KS_METHOD_QUEUED &&
		ks_ship_command(shipper, ks_kusto_clear_streaming_schema(l->kusto_table), message, size) != KS_SHIP_ACKED)
		return KS_SHIP_TRANSIENT;	/* not sent before it worked: retried */
	/* what there is to report (kusto_sink.status.last_error) */
	snprintf(message, size, "%s", report ? report : "");
	return KS_SHIP_ACKED;
}

/* The Kusto table's column names, in order, from .show table schema JSON. */
static List *
kusto_columns(const char *schema)
{
	List	   *names = NIL;
	ListCell   *lc;

	foreach(lc, ks_kusto_schema_columns(ks_kusto_schema_parse(schema)))
		names = lappend(names, ((KsKustoColumn *) lfirst(lc))->name);
	return names;
}

/* without create_table or a mapping: do the fields land in their columns? */
static KsShipOutcome
check_columns(KsShipper *shipper, KsSinkConfig *config, KsLayout *l,
			  char *message, size_t size)
{
	bool		csv = config->format == KS_FORMAT_CSV;
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
