/*-------------------------------------------------------------------------
 *
 * kusto_tables.c
 *	  Creating and checking a sink's Kusto tables (see kusto_tables.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "kusto/kusto.h"
#include "worker/kusto_ddl.h"
#include "worker/kusto_tables.h"
#include "worker/worker_sql.h"

/* The first column of every row of a query, copied into cxt. */
static List *
query_texts(const char *sql, int nargs, Oid *types, Datum *values, char *nulls, MemoryContext cxt)
{
	KsSqlTxn	txn;
	List	   *out = NIL;
	uint64		i;

	ks_sql_begin(&txn);
	if (SPI_execute_with_args(sql, nargs, types, values, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "kusto_sink: could not run \"%s\"", sql);
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

		if (v != NULL)
		{
			/* in cxt, list cells too: SPI's context ends with the transaction */
			MemoryContext oldcxt = MemoryContextSwitchTo(cxt);

			out = lappend(out, pstrdup(v));
			MemoryContextSwitchTo(oldcxt);
		}
	}
	ks_sql_end(&txn);
	return out;
}

/* the commands that make one Kusto table ready (kusto_ddl.h), copied into cxt */
static List *
table_commands(const char *sink, const char *table, const char *schema, MemoryContext cxt)
{
	KsSqlTxn	txn;
	List	   *commands;
	List	   *out = NIL;
	ListCell   *lc;

	ks_sql_begin(&txn);
	commands = ks_kusto_table_commands(sink, table, schema ? ks_kusto_schema_parse(schema) : NULL);
	foreach(lc, commands)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(cxt);

		out = lappend(out, pstrdup((char *) lfirst(lc)));
		MemoryContextSwitchTo(oldcxt);
	}
	ks_sql_end(&txn);
	return out;
}

void
ks_prepare_kusto_tables(KsShipper *shipper, KsSinkConfig *config)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "kusto_sink tables",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	List	   *tables;
	ListCell   *lc;

	values[0] = CStringGetTextDatum(config->name);
	tables = query_texts("SELECT kusto_sink._kusto_tables($1)", 1, types, values, NULL, cxt);
	foreach(lc, tables)
	{
		char	   *table = (char *) lfirst(lc);
		char	   *schema;
		List	   *commands;
		ListCell   *cc;
		bool		changed = false;

		CHECK_FOR_INTERRUPTS();
		schema = ks_ship_table_schema(shipper, table);
		commands = table_commands(config->name, table, schema, cxt);
		foreach(cc, commands)
		{
			char		message[768];
			const char *cmd = (char *) lfirst(cc);
			bool		policy = strcmp(cmd, ks_kusto_streaming_policy(table)) == 0;

			CHECK_FOR_INTERRUPTS();
			if (ks_ship_command(shipper, cmd, message, sizeof(message)) == KS_SHIP_ACKED)
			{
				changed = true;
				continue;
			}
			if (policy && kusto_streaming_off_text(message) &&
				config->ingestion_method == KS_METHOD_MANAGED)
			{
				/* a cluster without streaming (a new cluster's default): managed goes queued */
				ereport(WARNING,
						(errmsg("kusto_sink sink \"%s\": streaming ingestion cannot be enabled on Kusto table \"%s\": %s",
								config->name, table, message),
						 errdetail("Managed ingestion sends the table's batches queued."),
						 errhint("Enable streaming ingestion on the cluster for the sink to stream.")));
				continue;
			}
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("kusto_sink sink \"%s\": could not prepare Kusto table \"%s\": %s",
							config->name, table, message),
					 policy && kusto_streaming_off_text(message) ?
					 errhint("Enable streaming ingestion on the cluster, or use the sink option ingestion_method \"managed\" or \"queued\".") : 0));
		}

		/*
		 * Kusto's streaming nodes take a changed schema, mapping or policy
		 * minutes later unless told (kusto_ddl.c): a stream meanwhile would
		 * fail or lose values
		 */
		if (changed && config->ingestion_method != KS_METHOD_QUEUED)
		{
			char		message[768];

			if (ks_ship_command(shipper, ks_kusto_clear_streaming_schema(table), message,
								sizeof(message)) != KS_SHIP_ACKED)
				ereport(WARNING,
						(errmsg("kusto_sink sink \"%s\": could not make Kusto's streaming nodes take the schema of table \"%s\" now: %s",
								config->name, table, message)));
		}
		ereport(LOG,
				(errmsg("kusto_sink sink \"%s\": Kusto table \"%s\" %s", config->name, table,
						schema == NULL ? "created" : "checked")));
	}
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(cxt);
}
