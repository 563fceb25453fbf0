/*-------------------------------------------------------------------------
 *
 * snapshot.h
 *	  The initial snapshot of a sink's source tables (and resnapshot_sink):
 *	  their existing rows, read in chunks that each take their place in the
 *	  slot's stream of changes.
 *
 * A chunk is read in a short transaction of its own (ks_snapshot_take):
 *	- it first takes the table's snapshot lock (an advisory lock, key
 *	  KS_SNAPSHOT_LOCK_CLASS << 32 | relid, that resnapshot_sink and
 *	  cancel_snapshot take too before they change the table's progress row),
 *	  so that such a change lands between chunks, never under one (held by
 *	  one of them: the chunk is tried again a little later);
 *	- the table is locked in SHARE mode, which waits for (at most
 *	  KS_SNAPSHOT_LOCK_WAIT_MS, then tries again later) and then keeps out
 *	  writers, so that every change to it has committed;
 *	- a non-transactional logical decoding message (prefix
 *	  KS_SNAPSHOT_MESSAGE_PREFIX, content the sink's name) marks position M
 *	  in the WAL, and the transaction's snapshot is taken (REPEATABLE READ):
 *	  it sees exactly the table's changes that the stream has before M;
 *	- the lock is released (writers wait microseconds), and the next rows
 *	  in primary key order (or replica identity index order; in ctid order
 *	  for a table without either), up to the largest key (the last page) the
 *	  table had at its first chunk, are read with that snapshot (an index
 *	  scan of the key index or a TID range scan, no SQL on the table: none of
 *	  another role's operators, functions or casts runs as the sink's owner;
 *	  the owner needs SELECT and no row-level security policy may apply to it),
 *	  and rendered as records of operation "snapshot" (lsn and commit_lsn
 *	  M - 1, a position no transaction can have);
 *	- the records are stored in kusto_sink.snapshot_chunk with the table's
 *	  progress, in the same transaction.
 * When decoding meets the message (decoder/hooks.h), the worker injects the
 * chunk's records there (ks_snapshot_read), as if a transaction had
 * committed at M - 1: they are batched, sent, acknowledged and (exactly
 * once) recorded like any other records, and a crash re-decodes the
 * message and injects the same stored records again.  Once the slot's
 * confirmed position has passed M, the chunk is delivered
 * (ks_snapshot_delivered): its row goes, and the table's counters move.
 *
 * The last chunk of a resync (a snapshot of a table whose rows the sink may
 * have sent before: resnapshot_sink, a table that joined the sink) also
 * carries a record of operation "snapshot_done" (no user columns; lsn the
 * position of the table's first chunk, commit_lsn M - 1), injected after the
 * rows (KsChunk.done_record); latest_state_query drops the keys older than it.
 *
 * ks_snapshot_refresh() also asks for the snapshot of a table that joined the
 * sink since (option snapshot, kusto_sink._snapshot_follow).  Chunks never
 * hold more than max_rows records or max_bytes of them; at most `ahead`
 * chunks (the worker's choice: KS_SNAPSHOT_AHEAD, or
 * KS_SNAPSHOT_AHEAD_QUEUED when queued batches wait for their status apart,
 * bounded by max_awaiting_status) wait for delivery at a time.  Every function that
 * runs SQL runs its own transaction: call them outside decoding.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_SNAPSHOT_H
#define KS_WORKER_SNAPSHOT_H

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "nodes/pg_list.h"

#include "decoder/hooks.h"

#define KS_SNAPSHOT_AHEAD 8			/* chunks read and not yet delivered */
#define KS_SNAPSHOT_AHEAD_QUEUED 256	/* the same, when their batches wait for
										 * queued statuses (and hold no slot) */
#define KS_SNAPSHOT_LOCK_WAIT_MS 50	/* how long a chunk waits for its lock */
#define KS_SNAPSHOT_LOCK_CLASS 19283	/* 'KS': high half of the advisory key */

typedef struct KsSnapshot KsSnapshot;

/* A stored chunk, read back for injection; everything lives in cxt. */
typedef struct KsChunk
{
	MemoryContext cxt;
	Oid			relid;
	char	   *source_table;	/* its qualified name when the chunk was read */
	KsShape		shape;
	TimestampTz read_at;
	int			nrecords;
	char	  **records;
	int		   *lens;
	char	   *done_record;	/* after the records: a resync's snapshot_done, or NULL */
	int			done_len;
	XLogRecPtr	done_lsn;		/* its lsn: the snapshot's start */
} KsChunk;

extern KsSnapshot *ks_snapshot_start(const char *sink, List *plugin_options);
extern void ks_snapshot_refresh(KsSnapshot *s, XLogRecPtr confirmed);
extern bool ks_snapshot_wanted(KsSnapshot *s, int ahead);
extern void ks_snapshot_take(KsSnapshot *s, int max_rows, size_t max_bytes);
extern KsChunk *ks_snapshot_read(KsSnapshot *s, XLogRecPtr lsn);
extern void ks_snapshot_delivered(KsSnapshot *s, XLogRecPtr confirmed);
extern bool ks_snapshot_is_ours(KsSnapshot *s, const char *content, Size size);

#endif							/* KS_WORKER_SNAPSHOT_H */
