/*-------------------------------------------------------------------------
 *
 * batch.h
 *	  A batch: the records bound for one Kusto table, gzip-compressed as
 *	  they arrive, with the position range they cover.
 *
 * Records are appended one by one (a newline is added after each) into a
 * zlib deflate stream, so memory grows with the compressed size only.
 * ks_batch_seal() finishes the gzip member; after that `gz` holds the bytes
 * to send.  `seq` orders batches by when they were opened: a commit is
 * acknowledged once every batch with a seq up to the newest one open at
 * that commit has been acknowledged (sink_worker.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_BATCH_H
#define KS_WORKER_BATCH_H

#include <zlib.h>

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"

typedef struct KsBatch
{
	uint64		seq;
	char	   *kusto_table;
	MemoryContext cxt;			/* the batch and its buffers */
	z_stream	zs;
	StringInfoData gz;			/* compressed bytes so far */
	bool		sealed;
	int64		nrecords;
	int64		raw_bytes;
	XLogRecPtr	first_commit_lsn;
	int64		first_index;
	XLogRecPtr	last_commit_lsn;
	int64		last_index;
	XLogRecPtr	first_change_lsn;	/* the change LSNs of the first and last record */
	XLogRecPtr	last_change_lsn;
	TimestampTz opened_at;
	TimestampTz newest_commit_time; /* for the latency figures */
	TimestampTz oldest_commit_time;
	int			attempts;		/* sends so far */
	TimestampTz retry_at;		/* not before, after a failure */
	int			retry_after_ms; /* what Kusto asked for (Retry-After), or 0 */
	int64		dead_letter_id; /* a dead letter sent again (seq 0), or 0 */
	/* exactly once (progress.c) */
	char		batch_id[37];	/* deterministic id, "" when at least once */
	bool		recorded;		/* its row is committed: it may be sent */
	bool		resume;			/* rebuilt after a restart: settle idempotently */
	bool		resuming;		/* ship.c: reading its status before sending */
	bool		partial;		/* Kusto ingested only part of it once */
	bool		probing;		/* ship.c: asking Kusto whether it is there */
	bool		go_queued;		/* managed: it went queued, so it stays queued */
	/* queued ingestion (ship.c) */
	char		source_id[40];	/* the ingestion's id once queued */
	bool		polling;		/* waiting for its status */
	TimestampTz next_poll_at;
	int			polls;
	int			poll_failures;	/* status reads in a row that failed */
	char	   *error;			/* why Kusto rejected it, for the dead letter */
	/* its records' fields (layouts.c), and the mapping they go through */
	struct KsLayout *layout;	/* NULL for a dead letter sent again */
	const char *mapping;		/* NULL: the sink's ingestion_mapping_ref */
	bool		spilled;		/* sealed and waiting: its bytes on disk */
	int			spill_fileno;	/* where, in the spill file (batch.c) */
	off_t		spill_offset;
	size_t		spill_len;
} KsBatch;

extern KsBatch *ks_batch_open(MemoryContext parent, uint64 seq, const char *kusto_table);
extern void ks_batch_add(KsBatch *batch, const char *data, int len, XLogRecPtr lsn,
						 XLogRecPtr commit_lsn, int64 index);
extern void ks_batch_add_raw(KsBatch *batch, const char *data, int len, int64 nrecords);
extern void ks_batch_seal(KsBatch *batch);
extern char *ks_batch_uncompressed(KsBatch *batch);
extern void ks_batch_free(KsBatch *batch);
extern void ks_batch_spill(KsBatch *batch);
extern void ks_batch_load(KsBatch *batch);

#endif							/* KS_WORKER_BATCH_H */
