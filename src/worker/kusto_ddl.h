/*-------------------------------------------------------------------------
 *
 * kusto_ddl.h
 *	  The one generator of the Kusto management commands a sink runs on its
 *	  tables, and the one reader of a Kusto table's schema.
 *
 * Used by the worker (kusto_tables.c at start, layouts.c before the first
 * batch of a record layout) and, through kusto_sink._kusto_table_commands
 * (src/api/table_commands.c), by SQL.  Every name is quoted with
 * ks_append_kql_name() and every string literal with ks_append_kql_string()
 * (decoder/escape.h); nothing else writes KQL for a table.
 *
 * Contract:
 *	- ks_kusto_schema_columns() reads the columns of a schema as `.show
 *	  table T schema as json` gives it ({"OrderedColumns": [{"Name",
 *	  "CslType"}, ...]}), in order; a column without a string CslType has
 *	  type NULL.  A schema without an OrderedColumns array has no columns.
 *	  ks_kusto_schema_parse() turns such JSON text into jsonb (PostgreSQL's
 *	  parser; invalid JSON is an error).
 *	- ks_kusto_table_commands() decides what makes a Kusto table ready for
 *	  a sink with create_table, from the sink's catalog row and the table's
 *	  current schema (NULL: it does not exist): `.create table`, or
 *	  `.alter-merge table` with the missing columns, then the streaming
 *	  ingestion policy when the sink streams, and the IngestionBatching
 *	  policy the sink option ingestion_batching asks for.  A column of another type is
 *	  an error (datatype_mismatch) naming every difference; a Kusto table
 *	  no source table of the sink goes to (undefined_table), and CSV records
 *	  of several source tables through one mapping of the user's
 *	  (feature_not_supported), are errors too.  It runs SQL through SPI (it
 *	  connects itself) on the installed catalog (1.0 or 1.1); the list and
 *	  its strings are in the caller's memory context.
 *	- The other functions return one palloc'd command each, for one layout
 *	  (names and Kusto types in record order).
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_KUSTO_DDL_H
#define KS_WORKER_KUSTO_DDL_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

typedef struct KsKustoColumn
{
	char	   *name;
	char	   *type;			/* NULL when the schema gives none */
} KsKustoColumn;

extern Jsonb *ks_kusto_schema_parse(const char *schema_json);
extern List *ks_kusto_schema_columns(Jsonb *schema);

extern List *ks_kusto_table_commands(const char *sink, const char *kusto_table, Jsonb *schema);

extern char *ks_kusto_create_merge(const char *kusto_table, int ncolumns,
								   char *const *names, char *const *types);
extern char *ks_kusto_streaming_policy(const char *kusto_table);
extern char *ks_kusto_clear_streaming_schema(const char *kusto_table);
extern char *ks_kusto_batching_policy(const char *kusto_table, const char *policy_json);
extern char *ks_kusto_mapping_command(const char *kusto_table, const char *mapping_name,
									  bool csv, int ncolumns, char *const *names);

#endif							/* KS_WORKER_KUSTO_DDL_H */
