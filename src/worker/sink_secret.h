/*-------------------------------------------------------------------------
 *
 * sink_secret.h
 *	  The output plugin's options for a sink's column control: the sink
 *	  option "columns", bound to attnums, and the sink's secret salt
 *	  (kusto_sink.sink_secret).
 *
 * ks_sink_column_options() returns DefElems "columns" (when the sink has
 * the option), "column_attnums" (its rules bound to attnums,
 * kusto_sink.sink_column, colbind.h: 1.1, when it has bindings) and
 * "mask_salt" (hex, when the catalog has a salt for the sink: 1.1),
 * allocated in CurrentMemoryContext; the caller is connected
 * to SPI.  The salt is never logged.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_SINK_SECRET_H
#define KS_WORKER_SINK_SECRET_H

#include "nodes/pg_list.h"

extern List *ks_sink_column_options(const char *sink, const char *sink_options_json);

#endif							/* KS_WORKER_SINK_SECRET_H */
