/*-------------------------------------------------------------------------
 *
 * progress.h
 *	  Exactly-once bookkeeping of a sink (delivery_guarantee =
 *	  exactly_once) in the WAL-logged tables kusto_sink.progress and
 *	  kusto_sink.batch.
 *
 * Contract:
 *	- A record's position is (commit LSN, index in its transaction).  Per
 *	  Kusto table, batches cover contiguous runs of that table's records.
 *	- ks_progress_record() gives each batch its deterministic id and commits
 *	  a row for it (id, range, method) before the batch is sent; ks_progress_settle() marks acknowledged
 *	  batches and moves each table's committed position over the contiguous
 *	  acknowledged ones (deleting their rows) in one transaction.
 *	- ks_progress_load() reads both after a (re)start: batches whose records
 *	  lie wholly before the slot's confirmed position were delivered (the
 *	  slot never passes an unacknowledged batch) and are folded into the
 *	  committed position; the others are to be rebuilt from the re-decoded
 *	  records and settled idempotently.
 *	- ks_progress_delivered() says whether a re-decoded record is in Kusto
 *	  already; ks_progress_range() finds the recorded batch it belongs to.
 *	All functions that write run their own transaction: call them outside
 *	decoding.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_PROGRESS_H
#define KS_WORKER_PROGRESS_H

#include "access/xlogdefs.h"
#include "nodes/pg_list.h"

struct KsBatch;

typedef struct KsRange
{
	char		id[37];
	char	   *kusto_table;
	XLogRecPtr	first_lsn;
	int64		first_index;
	XLogRecPtr	last_lsn;
	int64		last_index;
	int64		records;
	bool		acked;
	struct KsBatch *rebuild;	/* the batch being rebuilt for it, or NULL */
} KsRange;

typedef struct KsProgress KsProgress;

extern void ks_batch_id(const char *sink, const char *kusto_table, XLogRecPtr lsn, int64 index,
						char *out);
extern KsProgress *ks_progress_load(const char *sink, XLogRecPtr confirmed);
extern bool ks_progress_delivered(KsProgress *p, const char *kusto_table, XLogRecPtr lsn, int64 index);
extern KsRange *ks_progress_range(KsProgress *p, const char *kusto_table, XLogRecPtr lsn, int64 index);
extern int	ks_progress_pending(KsProgress *p);
extern void ks_progress_record(KsProgress *p, List *batches, const char *method);
extern void ks_progress_settle(KsProgress *p, List *batches);

#endif							/* KS_WORKER_PROGRESS_H */
