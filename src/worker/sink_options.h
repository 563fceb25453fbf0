/*-------------------------------------------------------------------------
 *
 * sink_options.h
 *	  The options of a sink (kusto_sink.sink.options): one table of what
 *	  exists, with each option's type and allowed values or range, and one
 *	  validator, used by the SQL functions (kusto_sink._check_sink_options,
 *	  _check_sink_combination) and by the sink worker when it loads its
 *	  configuration (config.c).
 *
 * ks_check_sink_options() checks each option on its own and returns the
 * object normalised (enum values lower case; a JSON null, which alter_sink
 * uses to reset an option, is kept).  ks_check_sink_combination() checks
 * what the final options say together (the exactly-once preconditions, the
 * metadata columns' names), with the kusto_sink.* defaults for what is left
 * out.  Every error names the option and its allowed values or range.
 * ks_check_kusto_name() applies Kusto's rule for entity names.
 * ks_sink_metadata_options() gives the options that concern the metadata
 * columns (metadata, <key>_column; ks_is_metadata_option() tells them) as
 * the output plugin's DefElem list.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_SINK_OPTIONS_H
#define KS_WORKER_SINK_OPTIONS_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

extern Jsonb *ks_check_sink_options(Jsonb *options);
extern void ks_check_sink_combination(Jsonb *options);
extern void ks_check_kusto_name(const char *what, const char *name);
extern bool ks_is_metadata_option(const char *key);
extern List *ks_sink_metadata_options(Jsonb *options);

/* the i-th option of the table (0, 1, ...), NULL past its end */
extern const char *ks_sink_option_name(int i);

#endif							/* KS_WORKER_SINK_OPTIONS_H */
