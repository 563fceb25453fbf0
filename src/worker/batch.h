/*-------------------------------------------------------------------------
 *
 * batch.h
 *	  A batch: the records bound for one Kusto table, gzip-compressed as
 *	  they arrive, with the position range they cover, and the state of its
 *	  delivery.
 *
 * Records are appended one by one (a newline is added after each) into a
 * zlib deflate stream, so memory grows with the compressed size only.
 * ks_batch_seal() finishes the gzip member; after that `gz` holds the bytes
 * to send.  `seq` orders batches by when they were opened: a commit is
 * acknowledged once every batch with a seq up to the newest one open at
 * that commit has been acknowledged (ack_window.h).
 *
 * The states of a batch (KsBatchState), and who moves it on:
 *
 *	OPEN		taking records (sink_worker.c).  ks_batch_seal() -> SEALED.
 *	SEALED		its gzip member is complete; it waits in the worker's ready
 *				list.  At least once it may be sent: -> SENDING (ship.c).
 *				Exactly once it may not, yet: ks_progress_record() commits its
 *				row in kusto_sink.batch -> RECORDED; a batch rebuilt after a
 *				restart (its row exists already) -> IN_DOUBT (sink_worker.c).
 *	RECORDED	exactly once: its row is committed, and it is not in Kusto (or
 *				a send of it again is harmless: tagged): -> SENDING.
 *	IN_DOUBT	exactly once: it may be in Kusto already (rebuilt after a
 *				restart, or a send that failed after Kusto may have taken it).
 *				Before anything is sent, in_doubt.c finds out: a stream (no
 *				tag) -> PROBING, a queued send -> CHECKING_STATUS.
 *	SENDING		an ingestion (stream, queue post or managed) is running
 *				(ship.c).  Answered: streamed -> ACKED; queued -> AWAITING_STATUS
 *				with poll_for_ingestion_status, else -> ACKED; a managed stream
 *				Kusto refused before storing anything -> SENDING again, queued;
 *				failed -> back to the worker (see below).
 *	AWAITING_STATUS  queued: its status is read until it is final
 *				(in_doubt.c): Succeeded or already there -> ACKED; failed or
 *				no status -> back to the worker.  Sending and confirming are
 *				separate stages: a batch here (or CHECKING_STATUS) holds no
 *				shipping slot, only its bookkeeping (its bytes wait in the
 *				spill file, for a send again), in a set bounded by the sink
 *				option max_awaiting_status (in_doubt.h).
 *	PROBING		in doubt, streamed: Kusto is asked whether the table holds
 *				its first record (in_doubt.c): yes -> ACKED; no -> SENDING;
 *				cannot tell -> IN_DOUBT (back to the worker).
 *	CHECKING_STATUS  in doubt, queued: the status of the earlier send decides
 *				(in_doubt.c): there -> ACKED; Pending -> read again, or, when
 *				it has not moved for kusto_sink.pending_resend_after,
 *				-> SENDING (queued, tagged); never queued, or failed
 *				-> SENDING (managed: -> PROBING first, it may have been
 *				streamed); rejected (partly ingested, skipped) -> back to the
 *				worker; unreadable -> IN_DOUBT.
 *	ACKED		Kusto has it: settled (progress.c), then freed.
 *	REJECTED	Kusto rejected it for good under on_error = dead_letter: it is
 *				stored in kusto_sink.dead_letter (dead_letters.c), then settled
 *				as if acknowledged.  From any state the worker holds it in.
 *
 * "Back to the worker" after a failure: ship.c leaves the batch in the state
 * its next send starts from (ks_batch_retry_state): IN_DOUBT when Kusto may
 * have it, else RECORDED (exactly once) or SEALED (at least once, or a dead
 * letter sent again).  The worker sends it again after a pause, or holds it
 * (on_error = stop), or -> REJECTED.  ks_batch_set_state() knows the legal
 * moves (another one is a bug, logged as a WARNING).
 *
 * What is not a state stays a field of its own: `spilled` says where a
 * waiting batch's bytes are (memory or a spill file), in any waiting
 * state (waiting to be sent, or for its status); `go_queued` (managed, exactly once: once a send of it went queued,
 * every later send is queued and tagged) and `partial` (Kusto once ingested
 * part of it) are facts about its history that outlive many states.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_BATCH_H
#define KS_WORKER_BATCH_H

#include <zlib.h>

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"

typedef enum KsBatchState
{
	KS_BATCH_OPEN,
	KS_BATCH_SEALED,
	KS_BATCH_RECORDED,
	KS_BATCH_IN_DOUBT,
	KS_BATCH_SENDING,
	KS_BATCH_AWAITING_STATUS,
	KS_BATCH_PROBING,
	KS_BATCH_CHECKING_STATUS,
	KS_BATCH_ACKED,
	KS_BATCH_REJECTED
} KsBatchState;

#define KS_BATCH_NSTATES (KS_BATCH_REJECTED + 1)

typedef struct KsBatch
{
	KsBatchState state;			/* see the top of this file */
	uint64		seq;
	char	   *kusto_table;
	MemoryContext cxt;			/* the batch and its buffers */
	z_stream	zs;
	StringInfoData gz;			/* compressed bytes so far */
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
	bool		partial;		/* Kusto ingested only part of it once */
	bool		go_queued;		/* managed: it went queued, so it stays queued */
	/* queued ingestion: its status (in_doubt.c) */
	char		source_id[40];	/* the ingestion's id once queued */
	TimestampTz next_poll_at;	/* the next status read (when waiting for one) */
	TimestampTz sent_at;		/* when it began waiting for its status */
	int			polls;
	int			poll_failures;	/* status reads in a row that failed */
	bool		read_alone;		/* its next status read is its own (in_doubt.c) */
	char	   *error;			/* why Kusto rejected it, for the dead letter */
	/* its records' fields (layouts.c), and the mapping they go through */
	struct KsLayout *layout;	/* NULL for a dead letter sent again */
	const char *mapping;		/* NULL: the sink's ingestion_mapping_ref */
	bool		spilled;		/* waiting: its bytes on disk */
	struct KsSpillFile *spill;	/* which spill file (batch.c) */
	int			spill_fileno;	/* where, in that file */
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
extern size_t ks_batch_compressed_size(KsBatch *batch);
extern void ks_batch_set_state(KsBatch *batch, KsBatchState state);
extern KsBatchState ks_batch_retry_state(KsBatch *batch, bool in_doubt);
extern const char *ks_batch_state_name(KsBatchState state);

#endif							/* KS_WORKER_BATCH_H */
