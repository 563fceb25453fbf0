/*-------------------------------------------------------------------------
 *
 * layouts.h
 *	  The record layouts a sink sends to each Kusto table, and making Kusto
 *	  ready for a layout before its first batch goes out.
 *
 * A layout is one shape of records (decoder/hooks.h: the fields' names and
 * Kusto types in record order) bound for one Kusto table.  A batch holds
 * records of one layout only, so an ALTER TABLE on a source table starts a
 * new batch exactly where it took effect in the WAL.  ks_layout_get()
 * returns the worker-lifetime entry for a (table, shape) pair.
 *
 * ks_layout_prepare() runs, once per layout and worker, before the first
 * batch of that layout is sent (synchronous management commands; a layout
 * change is rare):
 *	- with create_table: `.create-merge table` creates the table or adds the
 *	  layout's columns (a table that joined a publication lands too; a sink
 *	  that streams enables the table's streaming ingestion policy), and
 *	  a mapping named after the sink and the layout's hash maps the fields
 *	  (JSON paths or CSV ordinals); the batch names that mapping, so batches
 *	  of older and newer layouts in flight each keep theirs.  A column whose
 *	  type differs in Kusto is a permanent failure naming it.
 *	- without it and without a mapping of the user's: the Kusto table's
 *	  columns are checked.  For CSV (ordinal) every field must be at its
 *	  column's ordinal, else a permanent failure: nothing is sent to the
 *	  wrong column.  For JSON (by name) fields Kusto has no column for are
 *	  reported once (a warning and last_error): their values are dropped
 *	  until the column exists.
 *	- with the user's ingestion_mapping_ref: the mapping decides; nothing is
 *	  checked.
 * The outcome is KS_SHIP_ACKED when the layout is ready (with a message
 * when there is something to report: the JSON warning), else the failure's
 * kind and message, which the caller treats like a failed send.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_LAYOUTS_H
#define KS_WORKER_LAYOUTS_H

#include "decoder/hooks.h"
#include "worker/config.h"
#include "worker/ship.h"

typedef struct KsLayout
{
	char	   *kusto_table;
	int			ncolumns;
	char	  **names;
	char	  **types;
	uint64		hash;
	char	   *mapping;		/* ours, once created; NULL otherwise */
	bool		ready;			/* Kusto was made ready (or checked) */
} KsLayout;

extern KsLayout *ks_layout_get(const char *kusto_table, const KsShape *shape);
extern KsShipOutcome ks_layout_prepare(KsShipper *shipper, KsSinkConfig *config,
									   KsLayout *layout, char *message, size_t size);

#endif							/* KS_WORKER_LAYOUTS_H */
