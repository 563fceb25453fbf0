/*-------------------------------------------------------------------------
 *
 * kusto_tables.h
 *	  Kusto table management for a sink with create_table: before the
 *	  worker decodes, each of the sink's Kusto tables is created from the
 *	  PostgreSQL definition, or checked against it (a column of another type
 *	  is an error naming every difference; missing columns are added), and
 *	  its streaming ingestion policy is enabled when the sink streams.  The
 *	  ingestion mappings follow the records' layouts (layouts.h).
 *
 * What to run is decided by kusto_ddl.h's ks_kusto_table_commands() (the
 * one generator, which SQL has as kusto_sink._kusto_table_commands and
 * pg_regress tests); this module asks Kusto for each table's schema and
 * runs the commands.  Errors are raised (the worker stops in state error).
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_KUSTO_TABLES_H
#define KS_WORKER_KUSTO_TABLES_H

#include "worker/config.h"
#include "worker/ship.h"

extern void ks_prepare_kusto_tables(KsShipper *shipper, KsSinkConfig *config);

#endif							/* KS_WORKER_KUSTO_TABLES_H */
