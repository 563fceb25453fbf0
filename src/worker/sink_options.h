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
 * ks_check_exactly_once() holds the exactly-once preconditions, on the
 * options as resolved (defaults applied): the validator calls it, and the
 * sink worker again on the configuration it runs with; it returns whether
 * batches are found again by their ingest-by tag (queued) rather than by
 * the LSNs of their first record (streaming, managed).
 * ks_sink_option_text() gives an option's value as text, or its default when
 * the options leave it out (a fixed value, or the kusto_sink.* setting that
 * stands for it; NULL when it has none: the decoder's and the worker's
 * own).  ks_check_kusto_name() applies Kusto's rule for entity names.
 * ks_sink_batching_policy() translates the option ingestion_batching into
 * the JSON of Kusto's IngestionBatching policy (NULL when it is not set).
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
extern bool ks_check_exactly_once(const char *method, bool poll_for_ingestion_status,
								  bool has_lsn, bool has_commit_lsn);
extern void ks_check_kusto_name(const char *what, const char *name);
extern const char *ks_sink_option_text(Jsonb *options, const char *name);
extern bool ks_is_metadata_option(const char *key);
extern char *ks_sink_batching_policy(Jsonb *options);
extern List *ks_sink_metadata_options(Jsonb *options);

/* the i-th option of the table (0, 1, ...), NULL past its end */
extern const char *ks_sink_option_name(int i);

#endif							/* KS_WORKER_SINK_OPTIONS_H */
