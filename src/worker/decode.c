/*-------------------------------------------------------------------------
 *
 * decode.c
 *	  In-process logical decoding of a sink's slot (the recipe of
 *	  logicalfuncs.c and walsender.c, for a background worker).
 *
 * The worker keeps its decoding context for its whole life, like a
 * walsender, instead of re-decoding from restart_lsn at every round as
 * pg_logical_slot_get_changes() does.  It never reads past the flush
 * position, so read_local_xlog_page() does not sit waiting for WAL; the end
 * of a record that the flush position cuts in two (a large record is flushed
 * in pieces as the WAL buffers fill) is waited for on the latch, which ends
 * the worker when the postmaster dies (read_flushed_page()).
 * Each step runs in a transaction of its own, as decoding does under
 * pg_logical_slot_get_changes(); between steps the worker runs ordinary
 * transactions, so a step starts and ends by invalidating the system caches,
 * as logicalfuncs.c does.  The decoding context lives in a long-lived memory
 * context of its own.
 *
 * A failover slot decodes only WAL that the standbys of
 * synchronized_standby_slots have confirmed (failover.h), as
 * pg_logical_slot_get_changes() waits for them: a step aims at the flush
 * position and, until the standbys have it, at the last position they
 * confirmed, so that a steady load does not keep the target out of reach.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlogutils.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "replication/decode.h"
#include "replication/logical.h"
#include "replication/slot.h"
#include "storage/latch.h"
#include "utils/inval.h"
#include "utils/memutils.h"

#include "compat.h"
#include "worker/decode.h"
#include "worker/failover.h"

struct KsDecodeStream
{
	LogicalDecodingContext *ctx;
	MemoryContext cxt;
	KsDecoderHooks *hooks;		/* the caller's */
	KsDecoderHooks counting;	/* ours: counts, then calls the caller's */
	int64		nrecords;		/* records decoded so far */
	XLogRecPtr	confirmed;
	XLogRecPtr	standby_target; /* failover slot: the position being waited for */
	bool		pause;			/* ks_decode_pause(): stop after this WAL record */
};

/*
 * read_local_xlog_page() once the page asked for is flushed.  Itself it
 * waits for unflushed WAL in a loop of pg_usleep() that never looks at the
 * postmaster, and the rest of a record that the flush position cut in two
 * comes only from a server that still runs: after a crash of the postmaster
 * the worker would wait there for ever, holding the shared memory that keeps
 * a new postmaster from starting.  So it waits here, on its latch with
 * WL_EXIT_ON_PM_DEATH, as the walsender's WalSndWaitForWal() does; a latch
 * set meanwhile is set again for the worker's main loop.
 */
#define KS_WAL_WAIT_MS 10

static int
read_flushed_page(XLogReaderState *state, XLogRecPtr targetPagePtr, int reqLen,
				  XLogRecPtr targetRecPtr, char *cur_page)
{
	bool		woken = false;

	while (targetPagePtr + reqLen > KS_GET_FLUSH_REC_PTR())
	{
		int			rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								   KS_WAL_WAIT_MS, PG_WAIT_EXTENSION);

		if (rc & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			woken = true;
		}
		CHECK_FOR_INTERRUPTS();
	}
	if (woken)
		SetLatch(MyLatch);
	return read_local_xlog_page(state, targetPagePtr, reqLen, targetRecPtr, cur_page);
}

static void
count_record(void *arg, Oid relid, const KsShape *shape, const char *data, int len,
			 XLogRecPtr lsn, XLogRecPtr commit_lsn, int64 index)
{
	KsDecodeStream *stream = (KsDecodeStream *) arg;

	stream->nrecords++;
	stream->hooks->record(stream->hooks->arg, relid, shape, data, len, lsn, commit_lsn, index);
}

static void
forward_commit(void *arg, XLogRecPtr commit_lsn, XLogRecPtr end_lsn,
			   TimestampTz commit_time, int64 nrecords)
{
	KsDecodeStream *stream = (KsDecodeStream *) arg;

	if (stream->hooks->commit != NULL)
		stream->hooks->commit(stream->hooks->arg, commit_lsn, end_lsn, commit_time, nrecords);
}

static void
forward_message(void *arg, XLogRecPtr lsn, const char *content, Size size)
{
	KsDecodeStream *stream = (KsDecodeStream *) arg;

	if (stream->hooks->message != NULL)
		stream->hooks->message(stream->hooks->arg, lsn, content, size);
}

/* the plugin writes through the hooks: the decoding output stays unused */
static void
unused_prepare_write(LogicalDecodingContext *ctx, XLogRecPtr lsn,
					 TransactionId xid, bool last_write)
{
	resetStringInfo(ctx->out);
}

static void
unused_write(LogicalDecodingContext *ctx, XLogRecPtr lsn,
			 TransactionId xid, bool last_write)
{
}

KsDecodeStream *
ks_decode_start(const char *slot_name, List *plugin_options, KsDecoderHooks *hooks)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "kusto_sink decoding",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt;
	KsDecodeStream *stream = MemoryContextAllocZero(cxt, sizeof(KsDecodeStream));

	stream->cxt = cxt;
	stream->hooks = hooks;
	stream->counting.record = count_record;
	stream->counting.commit = forward_commit;
	stream->counting.message = forward_message;
	stream->counting.arg = stream;

	StartTransactionCommand();
	oldcxt = MemoryContextSwitchTo(cxt);
	CheckLogicalDecodingRequirements();
	KS_REPLICATION_SLOT_ACQUIRE(slot_name, true);
	if (MyReplicationSlot->data.database != MyDatabaseId)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("replication slot \"%s\" belongs to another database", slot_name)));
	/* an invalidated slot has lost its restart_lsn (and, since 16, says why) */
	if (XLogRecPtrIsInvalid(MyReplicationSlot->data.restart_lsn))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("replication slot \"%s\" was invalidated: the WAL it needs has been removed",
						slot_name),
				 errdetail("Changes committed while the sink could not keep up are no longer in the WAL."),
				 errhint("Drop and re-create the sink to start again from now, and raise max_slot_wal_keep_size (or set it to -1) to keep this from happening.")));

	ks_decoder_hooks = &stream->counting;
	PG_TRY();
	{
		stream->ctx = CreateDecodingContext(InvalidXLogRecPtr, plugin_options, false,
											XL_ROUTINE(.page_read = read_flushed_page,
													   .segment_open = wal_segment_open,
													   .segment_close = wal_segment_close),
											unused_prepare_write, unused_write, NULL);
	}
	PG_FINALLY();
	{
		ks_decoder_hooks = NULL;
	}
	PG_END_TRY();

	/* the slot's confirmed position holds; decoding restarts at restart_lsn */
	stream->confirmed = MyReplicationSlot->data.confirmed_flush;
	XLogBeginRead(stream->ctx->reader, MyReplicationSlot->data.restart_lsn);
	MemoryContextSwitchTo(oldcxt);
	CommitTransactionCommand();
	return stream;
}

bool
ks_decode_step(KsDecodeStream *stream, int64 max_records, int64 *nrecords)
{
	LogicalDecodingContext *ctx = stream->ctx;
	XLogRecPtr	end_of_wal = KS_GET_FLUSH_REC_PTR();
	int64		start = stream->nrecords;
	bool		caught_up = true;
	MemoryContext oldcxt;

	*nrecords = 0;
	if (ctx->reader->EndRecPtr >= end_of_wal)
		return true;
	if (!ks_standbys_confirmed(end_of_wal))
	{
		/* decode up to the last target the standbys reached, or wait for it */
		if (stream->standby_target <= ctx->reader->EndRecPtr)
			stream->standby_target = end_of_wal;
		if (!ks_standbys_confirmed(stream->standby_target))
			return true;
		end_of_wal = stream->standby_target;
	}

	StartTransactionCommand();

	/*
	 * The WAL reader allocates records too large for its decode buffer in
	 * CurrentMemoryContext and frees them at the next read: they must
	 * outlive this transaction.
	 */
	oldcxt = MemoryContextSwitchTo(stream->cxt);
	/* drop cache entries that ordinary transactions built since the last step */
	InvalidateSystemCaches();
	while (ctx->reader->EndRecPtr < end_of_wal)
	{
		XLogRecord *record;
		char	   *errm = NULL;

		record = XLogReadRecord(ctx->reader, &errm);
		if (errm)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("could not read WAL for logical decoding: %s", errm)));
		if (record != NULL)
			LogicalDecodingProcessRecord(ctx, ctx->reader);

		CHECK_FOR_INTERRUPTS();
		if (stream->pause)
		{
			/* a hook wants to act before the next record (ks_decode_pause) */
			stream->pause = false;
			caught_up = false;
			break;
		}
		if (stream->nrecords - start >= max_records)
		{
			caught_up = false;
			break;
		}
	}
	/* and the entries built under historic snapshots */
	InvalidateSystemCaches();
	MemoryContextSwitchTo(oldcxt);
	CommitTransactionCommand();
	*nrecords = stream->nrecords - start;
	return caught_up;
}

/* Called from a hook: the current step ends after the WAL record being decoded. */
void
ks_decode_pause(KsDecodeStream *stream)
{
	stream->pause = true;
}

/* The position up to which the WAL has been read (and handed to the hooks). */
XLogRecPtr
ks_decode_position(KsDecodeStream *stream)
{
	return stream->ctx->reader->EndRecPtr;
}

XLogRecPtr
ks_decode_confirmed(KsDecodeStream *stream)
{
	return stream->confirmed;
}

void
ks_decode_confirm(KsDecodeStream *stream, XLogRecPtr lsn)
{
	if (lsn <= stream->confirmed)
		return;
	LogicalConfirmReceivedLocation(lsn);
	/* LogicalConfirmReceivedLocation() saves the slot only when xmin or restart_lsn moved */
	ReplicationSlotMarkDirty();
	ReplicationSlotSave();
	stream->confirmed = lsn;
}

void
ks_decode_stop(KsDecodeStream *stream)
{
	FreeDecodingContext(stream->ctx);
	ReplicationSlotRelease();
	MemoryContextDelete(stream->cxt);
}
