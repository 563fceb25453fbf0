/*-------------------------------------------------------------------------
 *
 * sink_worker.c
 *	  The sink worker: decodes one sink's slot in-process, fills a batch per
 *	  Kusto table, ships batches while it goes on decoding, and moves the
 *	  slot's confirmed position once Kusto has acknowledged every record of
 *	  the transactions before it (at-least-once: nothing is confirmed before
 *	  it is acknowledged, so a crash re-sends, never loses).
 *
 * Batches get a sequence number when they open.  At each commit the worker
 * notes (end_lsn, newest seq open); that commit is confirmable once every
 * batch up to that seq is acknowledged ("ack watermark", ack_window.h).  A transaction
 * larger than a batch fills several: the record hook seals full batches and
 * waits for a free shipping slot, so memory stays bounded by
 * (open batches + KS_MAX_INFLIGHT) x batch size whatever the transaction's
 * size.  When nothing is open or in flight the worker confirms everything
 * it has read, so an idle sink never holds WAL.
 *
 * Between decoding steps the worker reads the initial snapshot's chunks
 * (snapshot.h); decoding pauses at each chunk's message, where the chunk's
 * records go in as if a transaction had committed there.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/slot.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "worker/ack_window.h"
#include "worker/batch.h"
#include "worker/catalog_version.h"
#include "worker/config.h"
#include "worker/crashpoint.h"
#include "worker/dead_letters.h"
#include "worker/decode.h"
#include "worker/failover.h"
#include "worker/kusto_tables.h"
#include "worker/layouts.h"
#include "worker/launcher.h"
#include "worker/progress.h"
#include "worker/registry.h"
#include "worker/ship.h"
#include "worker/sink_options.h"
#include "worker/snapshot.h"
#include "worker/table_access.h"
#include "worker/worker_sql.h"

PGDLLEXPORT void ks_sink_worker_main(Datum main_arg);

static pg_noreturn void run_sink(KsSinkSlot *slot, const char *name);

#define KS_MAX_INFLIGHT 4		/* batches being sent at once (not those
								 * waiting for their status) */
#define KS_STEP_RECORDS 5000	/* decoded records between shipping turns */
#define KS_IDLE_POLL_MS 20		/* WAL poll interval when caught up */
/* exactly once without tags: room left in a stream for a run of one WAL record */
#define KS_RUN_MARGIN (1024 * 1024)
#define KS_SNAPSHOT_CHUNK_ROWS 10000	/* at most, and at most batch_size */
#define KS_SNAPSHOT_CHUNK_BYTES (16 * 1024 * 1024)	/* at most, and at most a batch */
#define KS_SNAPSHOT_CHECK_MS 2000	/* looks for resnapshot_sink() requests */
/* a configuration change: how long transfers in flight may still finish */
#define KS_CHANGE_GRACE_MS 500

typedef struct SinkWorker
{
	KsSinkSlot *slot;
	KsSinkConfig *config;
	KsDecodeStream *stream;
	KsShipper  *shipper;
	MemoryContext cxt;			/* "kusto_sink worker": for the worker's life */
	MemoryContext loop_cxt;		/* reset at every turn of the main loop */
	MemoryContext batch_cxt;	/* the batches (each a child context) */

	List	   *open;			/* KsBatch *, one per Kusto table */
	List	   *ready;			/* sealed, waiting to be shipped */
	int			inflight;
	KsAckWindow *acks;			/* which commits may be confirmed (ack_window.h) */


	HTAB	   *routes;			/* relid -> Kusto table */
	size_t		max_batch_bytes;
	bool		error_stop;		/* a permanent error stopped shipping */
	TimestampTz error_stop_until;	/* until the rejected batches' retry */

	/* dead letters (on_error = dead_letter), written outside decoding */
	KsDeadLetters *dead_letters;

	/* exactly once (progress.c) */
	bool		eo;
	bool		keep_runs;		/* a batch never ends inside one WAL record's records */
	KsProgress *progress;
	List	   *settled;		/* acknowledged (or dead-lettered) batches to settle */

	/* the initial snapshot (snapshot.h) */
	KsSnapshot *snapshot;
	XLogRecPtr	chunk_due;		/* a chunk's message met in decoding, or 0 */
	TimestampTz next_snapshot_check;
} SinkWorker;

typedef struct RouteEntry
{
	Oid			relid;
	char	   *kusto_table;	/* in the worker's context: never cut (issue 14) */
	uint64		shape_hash;		/* of the relation's latest records */
	KsLayout   *layout;			/* their layout */
} RouteEntry;

/* this process's sink worker: its state across decoding steps and hooks */
static SinkWorker *MyWorker = NULL;
static TimestampTz change_seen = 0;	/* when the worker saw a configuration change */

/* ---------- configuration changes ---------- */

/* alter_sink, alter_connection (reload) or drop_sink (stop) asked for a restart */
static bool
config_change_pending(void)
{
	return MyWorker != NULL && MyWorker->slot != NULL &&
		ks_slot_requested(MyWorker->slot, KS_REQUEST_RELOAD | KS_REQUEST_STOP);
}

/*
 * The stop check of the core's transfers (ks_ship_set_stop_check): true once
 * a configuration change has waited KS_CHANGE_GRACE_MS, so that no token
 * fetch, command or transfer (of a broken connection: retried for ever) holds
 * the worker longer.  Cheap, raises nothing: curl's callbacks call it.
 */
static bool
config_change_due(void)
{
	TimestampTz now;

	if (!config_change_pending())
		return false;
	now = GetCurrentTimestamp();
	if (change_seen == 0)
		change_seen = now;
	return TimestampDifferenceExceeds(change_seen, now, KS_CHANGE_GRACE_MS);
}

/* ---------- acknowledgement bookkeeping ---------- */

/* Confirms every commit whose batches are all acknowledged. */
static void
confirm_acknowledged(void)
{
	XLogRecPtr	confirm = InvalidXLogRecPtr;
	TimestampTz commit_time = 0;

	(void) ks_ack_confirmable(MyWorker->acks, &confirm, &commit_time);
	if (ks_ack_pending_commits(MyWorker->acks) == 0 && MyWorker->open == NIL && MyWorker->ready == NIL && MyWorker->inflight == 0)
	{
		/* nothing of ours is pending: everything read so far is settled */
		XLogRecPtr	pos = ks_decode_position(MyWorker->stream);

		if (pos > confirm)
			confirm = pos;
	}
	if (confirm != InvalidXLogRecPtr && confirm > ks_decode_confirmed(MyWorker->stream))
	{
		ks_decode_confirm(MyWorker->stream, confirm);
		SpinLockAcquire(&MyWorker->slot->mutex);
		MyWorker->slot->confirmed_lsn = confirm;
		if (commit_time != 0)
			MyWorker->slot->last_commit_time = commit_time;
		SpinLockRelease(&MyWorker->slot->mutex);
	}
}

/* ---------- shipping ---------- */

static void ship_done_internal(KsBatch *batch, KsShipOutcome outcome, const char *message);

/* may run inside decoding (see on_record): lists go to the worker's context */
static void
ship_done(void *arg, KsBatch *batch, KsShipOutcome outcome, const char *message)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(MyWorker->cxt);

	ship_done_internal(batch, outcome, message);
	MemoryContextSwitchTo(oldcxt);
}

static void
ship_done_internal(KsBatch *batch, KsShipOutcome outcome, const char *message)
{
	TimestampTz now = GetCurrentTimestamp();

	MyWorker->inflight--;
	if (batch->dead_letter_id != 0)
	{
		/* a dead letter sent again: its row is settled outside decoding */
		ks_dead_letters_resent(MyWorker->dead_letters, batch,
							   outcome == KS_SHIP_ACKED ? NULL : message);
		return;
	}
	if (outcome == KS_SHIP_ACKED)
	{
		SpinLockAcquire(&MyWorker->slot->mutex);
		MyWorker->slot->rows_sent += batch->nrecords;
		MyWorker->slot->batches_sent++;
		MyWorker->slot->raw_bytes += batch->raw_bytes;
		MyWorker->slot->compressed_bytes += ks_batch_compressed_size(batch);
		MyWorker->slot->last_success = now;
		/* (a batch that was in flight with a rejected one: the sink stays stopped) */
		if (MyWorker->slot->state != KS_STATE_PAUSED && !MyWorker->error_stop)
			MyWorker->slot->state = KS_STATE_RUNNING;
		SpinLockRelease(&MyWorker->slot->mutex);
		if (message != NULL)
			ks_slot_set_error(MyWorker->slot, message); /* a notice (ship.h) */
		if (batch->newest_commit_time != 0)
			ks_slot_add_latency(MyWorker->slot,
								(double) (now - batch->newest_commit_time) / 1000.0);
		ks_ack_done(MyWorker->acks, batch->seq);
		if (MyWorker->eo)
		{
			/* its progress is committed outside decoding (settle_progress) */
			ks_crash_point("after_ack");
			MyWorker->settled = lappend(MyWorker->settled, batch);
			return;
		}
		ks_batch_free(batch);
		return;
	}

	SpinLockAcquire(&MyWorker->slot->mutex);
	MyWorker->slot->ingestion_failures++;
	SpinLockRelease(&MyWorker->slot->mutex);
	ks_slot_set_error(MyWorker->slot, message);

	if (outcome == KS_SHIP_PERMANENT && MyWorker->config->on_error == KS_ON_ERROR_DEAD_LETTER)
	{
		ereport(LOG,
				(errmsg("kusto_sink sink \"%s\": Kusto rejected a batch of %lld records for table \"%s\", stored in kusto_sink.dead_letter: %s",
						MyWorker->config->name, (long long) batch->nrecords, batch->kusto_table, message)));
		ks_batch_set_state(batch, KS_BATCH_REJECTED);
		ks_dead_letters_reject(MyWorker->dead_letters, batch, message);
		return;
	}
	if (outcome == KS_SHIP_PERMANENT || outcome == KS_SHIP_STOP)
	{
		ereport(LOG,
				(errmsg("kusto_sink sink \"%s\": Kusto rejected a batch of %lld records for table \"%s\": %s",
						MyWorker->config->name, (long long) batch->nrecords, batch->kusto_table, message),
				 errhint("Nothing was skipped: the sink stops until the cause is fixed (see kusto_sink.status), then resumes with this batch.")));
		SpinLockAcquire(&MyWorker->slot->mutex);
		MyWorker->slot->state = KS_STATE_ERROR;
		SpinLockRelease(&MyWorker->slot->mutex);
		MyWorker->error_stop = true;
	}
	else
	{
		SpinLockAcquire(&MyWorker->slot->mutex);
		MyWorker->slot->retries++;
		SpinLockRelease(&MyWorker->slot->mutex);
	}
	/*
	 * Send it again later: the core's retry policy (backoff with jitter, at
	 * least Retry-After); a permanent rejection under on_error = stop is
	 * tried again the same way, in case its cause went away.
	 */
	batch->attempts++;
	batch->retry_at = TimestampTzPlusMilliseconds(now, ks_ship_retry_delay_ms(batch, outcome));
	if (outcome == KS_SHIP_PERMANENT || outcome == KS_SHIP_STOP)
	{
		/* the pause lasts until every rejected batch is due; they go first */
		MyWorker->error_stop_until = Max(MyWorker->error_stop_until, batch->retry_at);
		MyWorker->ready = lcons(batch, MyWorker->ready);
	}
	else
		MyWorker->ready = lappend(MyWorker->ready, batch);
}

/*
 * Is Kusto ready for the batch's layout (layouts.h)?  When it cannot be made
 * ready (false: layout_outcome and layout_message say why), the batch fails
 * as a send would: retried, or stopped on.
 */
static KsShipOutcome layout_outcome;
static char layout_message[1024];

static bool
layout_ready(KsBatch *batch)
{
	if (batch->layout == NULL)
		return true;
	if (!batch->layout->ready)
	{
		layout_outcome = ks_layout_prepare(MyWorker->shipper, MyWorker->config, batch->layout,
										   layout_message, sizeof(layout_message));
		if (layout_outcome != KS_SHIP_ACKED)
			return false;
		if (layout_message[0] != '\0')
			ks_slot_set_error(MyWorker->slot, layout_message);
	}
	batch->mapping = batch->layout->mapping;
	return true;
}

/*
 * Whether every shipping slot is taken: KS_MAX_INFLIGHT batches are being
 * sent (a batch the queue took and that waits for its status holds none),
 * or the set of batches waiting for their status is full
 * (max_awaiting_status).
 */
static bool
slots_busy(void)
{
	int			awaiting = ks_ship_awaiting(MyWorker->shipper, NULL);

	return MyWorker->inflight - awaiting >= KS_MAX_INFLIGHT ||
		awaiting >= MyWorker->config->max_awaiting_status;
}

/* Starts the batches that are due; returns how long until the next one is. */
static long
start_ready(void)
{
	TimestampTz now = GetCurrentTimestamp();
	long		wait_ms = -1;
	ListCell   *lc;
	KsBatch    *failed = NULL;

	foreach(lc, MyWorker->ready)
	{
		KsBatch    *batch = (KsBatch *) lfirst(lc);

		if (slots_busy() || MyWorker->error_stop)
			break;
		/*
		 * Exactly once: its row is committed first (record_ready).  A dead
		 * letter sent again has no row and no id: its batch left the protocol
		 * when Kusto rejected it, so the retry is delivered at least once.
		 */
		if (MyWorker->eo && batch->state == KS_BATCH_SEALED && batch->dead_letter_id == 0)
			continue;
		if (batch->retry_at > now)
		{
			long		ms = TimestampDifferenceMilliseconds(now, batch->retry_at);

			wait_ms = (wait_ms < 0) ? ms : Min(wait_ms, ms);
			continue;
		}
		if (!layout_ready(batch))
		{
			failed = batch;
			break;
		}
		MyWorker->ready = foreach_delete_current(MyWorker->ready, lc);
		MyWorker->inflight++;
		ks_batch_load(batch);
		ks_ship_start(MyWorker->shipper, batch);
	}
	if (failed != NULL)
	{
		/* Kusto is not ready for its records: it fails as a send would */
		MyWorker->ready = list_delete_ptr(MyWorker->ready, failed);
		MyWorker->inflight++;
		ship_done(NULL, failed, layout_outcome, layout_message);
		wait_ms = 0;
	}
	return wait_ms;
}

static void
seal(KsBatch *batch)
{
	ks_batch_seal(batch);
	MyWorker->open = list_delete_ptr(MyWorker->open, batch);
	MyWorker->ready = lappend(MyWorker->ready, batch);
}

/* Ends the pause of a permanent rejection once the batches' retry is due. */
static void
end_error_pause(void)
{
	if (MyWorker->error_stop && MyWorker->error_stop_until <= GetCurrentTimestamp())
	{
		MyWorker->error_stop = false;
		MyWorker->error_stop_until = 0;
	}
}

/*
 * The one wait for the batches in flight: takes the transfers' answers for
 * at most timeout_ms, or, with none in flight (batches wait for their retry,
 * or nothing is to be sent), sleeps on the latch as long.
 */
static void
wait_for_shipping(long timeout_ms)
{
	if (ks_ship_inflight(MyWorker->shipper) > 0)
		ks_ship_poll(MyWorker->shipper, timeout_ms, ship_done, NULL);
	else
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * A configuration change: the transfers in flight (and, with ship, the
 * batches due now: never one that waits for its retry) get what is left of
 * KS_CHANGE_GRACE_MS to finish and their answers are taken; then the core
 * cancels whatever is still running (config_change_due).
 */
static void
finish_for_change(bool ship)
{
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (config_change_due())
			break;
		if (ship && !MyWorker->error_stop)
			start_ready();
		if (ks_ship_inflight(MyWorker->shipper) == 0)
			break;
		wait_for_shipping(50);
	}
	/* the answers of what was cancelled */
	ks_ship_poll(MyWorker->shipper, 0, ship_done, NULL);
}

/* Is a batch waiting for its retry (Kusto failed it)? */
static bool
retry_waiting(void)
{
	ListCell   *lc;

	foreach(lc, MyWorker->ready)
	{
		if (((KsBatch *) lfirst(lc))->attempts > 0)
			return true;
	}
	return false;
}

/*
 * A drop_sink, or an alter_sink/alter_connection while shipping is stuck (a
 * rejection holds the sink, or batches wait for their retry), that comes
 * while decoding waits for room cannot wait for the transaction's end,
 * which may never come: finish what is in flight (briefly) and exit.
 * Nothing past the confirmed position is acknowledged, so the restarted
 * worker decodes the transaction again.  (Decoding is under way: exit
 * without freeing its context; the slot is released at exit.)
 */
static void
exit_while_decoding(void)
{
	finish_for_change(false);
	SpinLockAcquire(&MyWorker->slot->mutex);
	MyWorker->slot->state = KS_STATE_STOPPED;
	SpinLockRelease(&MyWorker->slot->mutex);
	/* the next worker has the new configuration */
	(void) ks_slot_take_request(MyWorker->slot, KS_REQUEST_RELOAD);
	proc_exit(0);
}

/*
 * Starts the sealed batches, waiting while KS_MAX_INFLIGHT are being
 * shipped already; then gives the transfers a turn, so that uploads go on
 * while decoding continues.
 */
static void
wait_for_room(void)
{
	if (MyWorker->eo)
	{
		/*
		 * Exactly once: a batch is sent only after its row is committed,
		 * which cannot happen inside decoding; sealed batches wait for the
		 * end of the decoding step (the transfers still get a turn), on
		 * disk beyond the first few so that memory stays bounded.
		 */
		ListCell   *lc;
		int			in_memory = 0;

		foreach(lc, MyWorker->ready)
		{
			KsBatch    *b = (KsBatch *) lfirst(lc);

			if (b->state == KS_BATCH_SEALED && !b->spilled && ++in_memory > KS_MAX_INFLIGHT)
				ks_batch_spill(b);
		}
		start_ready();
		ks_ship_poll(MyWorker->shipper, 0, ship_done, NULL);
		/*
		 * A large transaction decodes on for long: a drop_sink or a change
		 * does not wait.  No batch sealed in this decoding step was sent
		 * (batches are recorded, then sent, between steps); those of earlier
		 * steps are recorded, and the next worker settles them as after a
		 * crash: no loss and no second delivery.
		 */
		if (config_change_pending())
			exit_while_decoding();
		return;
	}
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		start_ready();
		ks_ship_poll(MyWorker->shipper, 0, ship_done, NULL);
		if (list_length(MyWorker->ready) == 0)
			break;
		/* (only batches waiting for their retry: it sleeps, it does not spin) */
		wait_for_shipping(100);
		if (MyWorker->error_stop)
		{
			/* nothing can be shipped: hold here, the status says why */
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 1000, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			if (ks_slot_requested(MyWorker->slot, KS_REQUEST_RELOAD))
				exit_while_decoding();
			end_error_pause();
		}
		/*
		 * At least once, a healthy transaction ships on to its end (exiting
		 * would send its acknowledged batches again); a stuck one does not
		 * hold a change back.
		 */
		if (ks_slot_requested(MyWorker->slot, KS_REQUEST_STOP) ||
			(ks_slot_requested(MyWorker->slot, KS_REQUEST_RELOAD) && retry_waiting()))
			exit_while_decoding();
	}
}

/* ---------- decoding hooks ---------- */

/*
 * A source table's Kusto table, and the layout of its records (layouts.h).
 * `name` is the table's qualified name for when it no longer exists (a
 * snapshot chunk read before a DROP TABLE), or NULL.
 */
static RouteEntry *
route(Oid relid, const KsShape *shape, const char *name)
{
	RouteEntry *entry;
	bool		found;

	entry = hash_search(MyWorker->routes, &relid, HASH_FIND, NULL);
	if (entry == NULL)
	{
		char	   *rel = get_rel_name(relid);
		const char *qualified;
		const char *table;

		if (rel == NULL && name != NULL)
			qualified = name;
		else
			qualified = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), rel);
		table = ks_route_table(MyWorker->config, rel != NULL ? relid : InvalidOid, qualified);
		if (table == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("kusto_sink sink \"%s\" has no Kusto table for source table %s",
							MyWorker->config->name, qualified),
					 errhint("Map it in the sink option \"tables\" with kusto_sink.alter_sink().")));
		entry = hash_search(MyWorker->routes, &relid, HASH_ENTER, &found);
		entry->kusto_table = MemoryContextStrdup(MyWorker->cxt, table);
		entry->layout = NULL;
	}
	if (entry->layout == NULL || entry->shape_hash != shape->hash)
	{
		/* first seen, or an ALTER TABLE took effect here */
		entry->layout = ks_layout_get(entry->kusto_table, shape);
		entry->shape_hash = shape->hash;
	}
	return entry;
}

/* A new batch with the next sequence number, counted as unacknowledged. */
static KsBatch *
open_batch(const char *kusto_table)
{
	return ks_batch_open(MyWorker->batch_cxt, ks_ack_open(MyWorker->acks), kusto_table);
}

/*
 * The open batch for a Kusto table and a layout: a batch holds one layout,
 * so records of a new layout seal the table's batch and start the next.
 */
static KsBatch *
batch_for(const char *kusto_table, KsLayout *layout)
{
	ListCell   *lc;
	KsBatch    *batch;

	foreach(lc, MyWorker->open)
	{
		batch = (KsBatch *) lfirst(lc);
		if (strcmp(batch->kusto_table, kusto_table) != 0)
			continue;
		if (batch->layout == layout || batch->nrecords == 0)
		{
			batch->layout = layout;
			return batch;
		}
		seal(batch);
		wait_for_room();
		break;
	}
	batch = open_batch(kusto_table);
	batch->layout = layout;
	MyWorker->open = lappend(MyWorker->open, batch);
	return batch;
}

/*
 * The hooks run inside decoding, where CurrentMemoryContext is the output
 * plugin's per-change context: the worker's lists live in MyWorker->cxt.
 */
/*
 * Exactly once, after a restart: a record already in Kusto is skipped, a
 * record of a recorded batch goes into that batch again (rebuilt with its
 * id, then settled idempotently).  True when the record was taken care of.
 */
static bool
eo_replay(RouteEntry *route, const char *data, int len, XLogRecPtr lsn,
		  XLogRecPtr commit_lsn, int64 index)
{
	const char *kusto_table = route->kusto_table;
	KsRange    *r;
	KsBatch    *b;

	if (ks_progress_delivered(MyWorker->progress, kusto_table, commit_lsn, index))
		return true;
	r = ks_progress_range(MyWorker->progress, kusto_table, commit_lsn, index);
	if (r == NULL)
		return false;
	if (r->rebuild == NULL)
	{
		ListCell   *lc;

		/* a batch of new records for the table ends where the recorded one starts */
		foreach(lc, MyWorker->open)
		{
			b = (KsBatch *) lfirst(lc);
			if (strcmp(b->kusto_table, kusto_table) == 0)
			{
				seal(b);
				break;
			}
		}
		b = open_batch(kusto_table);
		b->layout = route->layout;
		strlcpy(b->batch_id, r->id, sizeof(b->batch_id));
		r->rebuild = b;
	}
	b = r->rebuild;
	ks_batch_add(b, data, len, lsn, commit_lsn, index);
	if (commit_lsn == r->last_lsn && index == r->last_index)
	{
		/* its row is there already, and Kusto may have it: settled idempotently */
		ks_batch_seal(b);
		ks_batch_set_state(b, KS_BATCH_IN_DOUBT);
		MyWorker->ready = lappend(MyWorker->ready, b);
		r->rebuild = NULL;
	}
	return true;
}

/* Whether a batch is full (it is sealed before it takes more). */
static bool
batch_full(KsBatch *batch, int len)
{
	return batch->nrecords > 0 &&
		(batch->raw_bytes + len + 1 > MyWorker->max_batch_bytes ||
		 batch->nrecords >= MyWorker->config->batch_size);
}

static void
on_record(void *arg, Oid relid, const KsShape *shape, const char *data, int len,
		  XLogRecPtr lsn, XLogRecPtr commit_lsn, int64 index)
{
	MemoryContext oldcxt;
	RouteEntry *r;
	KsBatch    *batch;
	bool		hold;

	/* only while the owner may read the whole table (table_access.h) */
	if (!ks_access_record(relid, &hold))
	{
		if (hold)
			ks_decode_pause(MyWorker->stream);
		return;
	}
	oldcxt = MemoryContextSwitchTo(MyWorker->cxt);
	r = route(relid, shape, NULL);
	if (MyWorker->eo && eo_replay(r, data, len, lsn, commit_lsn, index))
	{
		MemoryContextSwitchTo(oldcxt);
		return;
	}
	batch = batch_for(r->kusto_table, r->layout);

	/*
	 * With keep_runs, records of one WAL record (same commit and change LSN)
	 * stay in one batch, so that a batch is recognised in Kusto by its first
	 * record (see ship.c, exactly once without tags).
	 */
	if (batch_full(batch, len) &&
		!(MyWorker->keep_runs && batch->last_commit_lsn == commit_lsn && batch->last_change_lsn == lsn))
	{
		seal(batch);
		wait_for_room();
		batch = batch_for(r->kusto_table, r->layout);
	}
	ks_batch_add(batch, data, len, lsn, commit_lsn, index);
	if (!MyWorker->keep_runs && batch->nrecords >= MyWorker->config->batch_size)
	{
		seal(batch);
		wait_for_room();
	}
	else if (MyWorker->inflight > 0 && (batch->nrecords & 1023) == 0)
	{
		/* a long transaction: keep the transfers going */
		ks_ship_poll(MyWorker->shipper, 0, ship_done, NULL);
	}
	MemoryContextSwitchTo(oldcxt);
}

static void
on_commit(void *arg, XLogRecPtr commit_lsn, XLogRecPtr end_lsn,
		  TimestampTz commit_time, int64 nrecords)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(MyWorker->cxt);
	ListCell   *lc;

	foreach(lc, MyWorker->open)
	{
		KsBatch    *batch = (KsBatch *) lfirst(lc);

		if (batch->oldest_commit_time == 0)
			batch->oldest_commit_time = commit_time;
		batch->newest_commit_time = commit_time;
	}
	ks_ack_commit(MyWorker->acks, end_lsn, commit_time);
	MemoryContextSwitchTo(oldcxt);
}

/* A snapshot chunk's message: its records go in right after it (inject_chunk). */
static void
on_message(void *arg, XLogRecPtr lsn, const char *content, Size size)
{
	if (!ks_snapshot_is_ours(MyWorker->snapshot, content, size))
		return;
	MyWorker->chunk_due = lsn;
	ks_decode_pause(MyWorker->stream);
}

static KsDecoderHooks hooks = {on_record, on_commit, on_message, NULL};

/*
 * Puts a snapshot chunk's records where its message is in the stream, as if
 * a transaction had committed just before the message (snapshot.h).  Runs
 * between decoding steps, in a transaction of its own for the catalog
 * lookups of route().
 */
static void
inject_chunk(XLogRecPtr lsn)
{
	KsChunk    *chunk = ks_snapshot_read(MyWorker->snapshot, lsn);
	MemoryContext oldcxt;
	RouteEntry *r;
	ListCell   *lc;
	int			i;

	if (chunk == NULL)
		return;					/* its transaction did not commit */
	StartTransactionCommand();
	oldcxt = MemoryContextSwitchTo(MyWorker->cxt);
	r = route(chunk->relid, &chunk->shape, chunk->source_table);
	/* the chunk starts a batch, so that it never makes one too big */
	foreach(lc, MyWorker->open)
	{
		KsBatch    *b = (KsBatch *) lfirst(lc);

		if (strcmp(b->kusto_table, r->kusto_table) == 0 && b->nrecords > 0)
		{
			seal(b);
			wait_for_room();
			break;
		}
	}
	for (i = 0; i < chunk->nrecords; i++)
	{
		CHECK_FOR_INTERRUPTS();
		on_record(NULL, chunk->relid, &chunk->shape, chunk->records[i], chunk->lens[i],
				  lsn - 1, lsn - 1, i);
	}
	if (chunk->done_record != NULL)
		on_record(NULL, chunk->relid, &chunk->shape, chunk->done_record, chunk->done_len,
				  chunk->done_lsn, lsn - 1, i++);
	on_commit(NULL, lsn - 1, lsn, chunk->read_at, i);
	MemoryContextSwitchTo(oldcxt);
	CommitTransactionCommand();
	MemoryContextDelete(chunk->cxt);
	ks_crash_point("after_chunk");
}

/*
 * The snapshot's turn in the loop: count delivered chunks, look for new
 * requests now and then, read the next chunk when one is wanted.  True when
 * a chunk was read (decoding will meet its message).
 */
static bool
snapshot_turn(void)
{
	TimestampTz now = GetCurrentTimestamp();
	KsSinkConfig *cfg = MyWorker->config;

	/*
	 * Queued with status reads, a chunk's batches wait for Kusto's batching
	 * time without holding a shipping slot: many chunks may be on their way,
	 * so that the snapshot takes about the batching time plus the reading,
	 * not a batching time per 8 chunks.
	 */
	int			ahead = (cfg->ingestion_method == KS_METHOD_QUEUED && cfg->poll_for_ingestion_status) ?
		Min(KS_SNAPSHOT_AHEAD_QUEUED, cfg->max_awaiting_status) : KS_SNAPSHOT_AHEAD;

	ks_snapshot_delivered(MyWorker->snapshot, ks_decode_confirmed(MyWorker->stream));
	if (!ks_snapshot_wanted(MyWorker->snapshot, ahead) && now >= MyWorker->next_snapshot_check)
	{
		ks_snapshot_refresh(MyWorker->snapshot, ks_decode_confirmed(MyWorker->stream));
		MyWorker->next_snapshot_check = TimestampTzPlusMilliseconds(now, KS_SNAPSHOT_CHECK_MS);
	}
	if (!ks_snapshot_wanted(MyWorker->snapshot, ahead))
		return false;
	ks_snapshot_take(MyWorker->snapshot,
					 Min(MyWorker->config->batch_size, KS_SNAPSHOT_CHUNK_ROWS),
					 Min(MyWorker->max_batch_bytes, KS_SNAPSHOT_CHUNK_BYTES));
	return true;
}

/* ---------- the loop ---------- */

/* Is a sealed batch waiting for its first send (not for a retry)? */
static bool
ready_waiting(void)
{
	ListCell   *lc;

	foreach(lc, MyWorker->ready)
	{
		KsBatch    *b = (KsBatch *) lfirst(lc);

		if (b->attempts == 0 && b->dead_letter_id == 0)
			return true;
	}
	return false;
}

/* Seals batches that are old enough (or all of them); returns ms until the next is due. */
static long
seal_due(bool all)
{
	TimestampTz now = GetCurrentTimestamp();
	long		wait_ms = -1;
	ListCell   *lc;
	MemoryContext oldcxt = MemoryContextSwitchTo(MyWorker->cxt);

	/*
	 * Batches grow with the backlog: while every shipping slot is taken, or
	 * sealed batches still wait for one, a batch due by batch_interval_ms
	 * stays open and fills on up to batch_size and client_batch_size_limit
	 * (on_record seals it then), so a backlog makes few, large batches.
	 */
	bool		grow = !all && (slots_busy() || ready_waiting());

	foreach(lc, MyWorker->open)
	{
		KsBatch    *batch = (KsBatch *) lfirst(lc);
		TimestampTz due = TimestampTzPlusMilliseconds(batch->opened_at, MyWorker->config->batch_interval_ms);

		if (all || (due <= now && !grow) || (MyWorker->keep_runs && batch_full(batch, 0)))
		{
			MyWorker->open = foreach_delete_current(MyWorker->open, lc);
			ks_batch_seal(batch);
			MyWorker->ready = lappend(MyWorker->ready, batch);
		}
		else
		{
			/* (growing: looked at again at the next turn) */
			long		ms = due <= now ? KS_IDLE_POLL_MS : TimestampDifferenceMilliseconds(now, due);

			wait_ms = (wait_ms < 0) ? ms : Min(wait_ms, ms);
		}
	}
	MemoryContextSwitchTo(oldcxt);
	return wait_ms;
}

/* ---------- dead letters ---------- */

/*
 * Stores rejected batches, settles retried ones, and picks up retry requests
 * (dead_letters.h); the stored batches are settled like acknowledged ones.
 */
static void
settle_dead_letters(bool check_requests)
{
	List	   *stored;
	List	   *retry;
	ListCell   *lc;
	MemoryContext oldcxt;

	ks_dead_letters_settle(MyWorker->dead_letters, check_requests, &stored, &retry);
	oldcxt = MemoryContextSwitchTo(MyWorker->cxt);
	MyWorker->ready = list_concat(MyWorker->ready, retry);
	foreach(lc, stored)
	{
		KsBatch    *b = (KsBatch *) lfirst(lc);

		ks_ack_done(MyWorker->acks, b->seq);
		if (MyWorker->eo && b->batch_id[0] != '\0')
			MyWorker->settled = lappend(MyWorker->settled, b);
		else
			ks_batch_free(b);
	}
	MemoryContextSwitchTo(oldcxt);
	list_free(stored);
	list_free(retry);
}

/* Exactly once: commits the rows of the sealed batches so that they may be sent. */
static void
record_ready(void)
{
	List	   *fresh = NIL;
	ListCell   *lc;

	if (!MyWorker->eo)
		return;
	foreach(lc, MyWorker->ready)
	{
		KsBatch    *b = (KsBatch *) lfirst(lc);

		if (b->state != KS_BATCH_SEALED || b->dead_letter_id != 0)
			continue;
		fresh = lappend(fresh, b);
	}
	if (fresh == NIL)
		return;
	ks_progress_record(MyWorker->progress, fresh,
					   ks_ingestion_method_name(MyWorker->config->ingestion_method));
	list_free(fresh);
	/* a failover slot: the standbys have the rows before Kusto gets the batches */
	ks_wait_for_standbys(XactLastCommitEnd);
	ks_crash_point("after_record");
}

/* Exactly once: commits the progress the acknowledged batches allow. */
static void
settle_progress(void)
{
	ListCell   *lc;

	if (!MyWorker->eo || MyWorker->settled == NIL)
		return;
	ks_progress_settle(MyWorker->progress, MyWorker->settled);
	foreach(lc, MyWorker->settled)
		ks_batch_free((KsBatch *) lfirst(lc));
	list_free(MyWorker->settled);
	MyWorker->settled = NIL;
	ks_crash_point("after_progress");
}

static void
publish_progress(void)
{
	TimestampTz oldest = 0;
	TimestampTz oldest_awaiting;
	int			awaiting;
	ListCell   *lc;

	oldest = ks_ack_oldest_commit_time(MyWorker->acks);
	foreach(lc, MyWorker->open)
	{
		KsBatch    *b = (KsBatch *) lfirst(lc);

		if (b->oldest_commit_time != 0 && (oldest == 0 || b->oldest_commit_time < oldest))
			oldest = b->oldest_commit_time;
	}
	awaiting = ks_ship_awaiting(MyWorker->shipper, &oldest_awaiting);
	SpinLockAcquire(&MyWorker->slot->mutex);
	MyWorker->slot->decoded_lsn = ks_decode_position(MyWorker->stream);
	MyWorker->slot->oldest_pending = oldest;
	MyWorker->slot->awaiting_status = awaiting;
	MyWorker->slot->oldest_awaiting_status = oldest_awaiting;
	SpinLockRelease(&MyWorker->slot->mutex);
}

/*
 * How long the loop waits once decoding caught up: a turn of the transfers
 * in flight; else until the next batch is due, at most KS_IDLE_POLL_MS (the
 * WAL poll), or a second while a rejection holds the sink.
 */
static long
idle_wait_ms(long due_ms)
{
	if (ks_ship_inflight(MyWorker->shipper) > 0)
		return KS_IDLE_POLL_MS;
	if (MyWorker->error_stop)
		return 1000;
	if (due_ms >= 0)
		return Min(KS_IDLE_POLL_MS, Max(due_ms, 1));
	return KS_IDLE_POLL_MS;
}

/* Exits so that the launcher neither counts a failure nor waits to restart. */
static void
stop_cleanly(void)
{
	SpinLockAcquire(&MyWorker->slot->mutex);
	MyWorker->slot->state = KS_STATE_STOPPED;
	SpinLockRelease(&MyWorker->slot->mutex);
	ks_decode_stop(MyWorker->stream);
	proc_exit(0);
}

/*
 * Judges the source tables again with the current privileges (an ERROR
 * when the owner may no longer read one).  Records held back on a denial
 * that the current catalog lifts are decoded again: exit, confirming
 * nothing more, and the launcher restarts the worker at once.
 */
static void
access_turn(void)
{
	if (!ks_access_refresh())
		return;
	ereport(LOG,
			(errmsg("kusto_sink sink \"%s\": its owner may read a table now, decoding again from %X/%X",
					MyWorker->config->name, LSN_FORMAT_ARGS(ks_decode_confirmed(MyWorker->stream)))));
	stop_cleanly();
}

static void
worker_exit(int code, Datum arg)
{
	KsSinkSlot *slot = (KsSinkSlot *) DatumGetPointer(arg);

	slot->pid = 0;
}

void
ks_sink_worker_main(Datum main_arg)
{
	int			index = DatumGetInt32(main_arg);
	uint64		generation;
	KsSinkSlot *slot;
	char		name[KS_NAME_LEN];
	HASHCTL		ctl;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	memcpy(&generation, MyBgworkerEntry->bgw_extra, sizeof(uint64));
	slot = &ks_registry->slots[index];
	LWLockAcquire(ks_registry->lock, LW_EXCLUSIVE);
	if (!slot->in_use || slot->generation != generation || slot->dropping)
	{
		LWLockRelease(ks_registry->lock);
		proc_exit(0);			/* a stale launch */
	}
	slot->pid = MyProcPid;
	strlcpy(name, slot->name, KS_NAME_LEN);
	LWLockRelease(ks_registry->lock);
	before_shmem_exit(worker_exit, PointerGetDatum(slot));

	/* connect as the bootstrap superuser to read the secrets, then become the owner */
	BackgroundWorkerInitializeConnection(ks_database, NULL, 0);
	ks_sql_pin_search_path();
	pgstat_report_appname(psprintf("kusto_sink %s", name));

	/*
	 * The worker's memory: a context for its life (its state, configuration,
	 * lists and routes), one per batch under "kusto_sink batches", and one
	 * reset at every turn of the main loop for whatever a turn allocates and
	 * does not keep (as logical replication's ApplyMessageContext).
	 */
	{
		MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "kusto_sink worker",
												  ALLOCSET_DEFAULT_SIZES);

		MyWorker = MemoryContextAllocZero(cxt, sizeof(SinkWorker));
		MyWorker->cxt = cxt;
	}
	MyWorker->loop_cxt = AllocSetContextCreate(MyWorker->cxt, "kusto_sink worker iteration",
											   ALLOCSET_DEFAULT_SIZES);
	MyWorker->batch_cxt = AllocSetContextCreate(MyWorker->cxt, "kusto_sink batches", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(MyWorker->cxt);
	MyWorker->slot = slot;
	MyWorker->acks = ks_ack_create();
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(RouteEntry);
	ctl.hcxt = MyWorker->cxt;
	MyWorker->routes = hash_create("kusto_sink routes", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ks_ship_set_stop_check(config_change_due);

	PG_TRY();
	{
		run_sink(slot, name);
	}
	PG_CATCH();
	{
		/* an error ends the worker: say why in kusto_sink.status too */
		ErrorData  *edata;

		MemoryContextSwitchTo(TopMemoryContext);
		if (ks_slot_requested(slot, KS_REQUEST_RELOAD | KS_REQUEST_STOP))
		{
			/*
			 * A configuration change cancelled what the worker waited for (or
			 * came while it failed): no failure, the launcher starts the
			 * worker again at once with the new configuration.
			 */
			EmitErrorReport();
			FlushErrorState();
			ereport(LOG,
					(errmsg("kusto_sink sink \"%s\": configuration changed; restarting", name)));
			SpinLockAcquire(&slot->mutex);
			slot->state = KS_STATE_STOPPED;
			SpinLockRelease(&slot->mutex);
			(void) ks_slot_take_request(slot, KS_REQUEST_RELOAD);
			proc_exit(0);
		}
		edata = CopyErrorData();
		ks_slot_set_error(slot, edata->message);
		SpinLockAcquire(&slot->mutex);
		slot->state = KS_STATE_ERROR;
		SpinLockRelease(&slot->mutex);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* The worker's life after connecting: never returns (it exits). */
static void
run_sink(KsSinkSlot *slot, const char *name)
{
	ks_crash_point("before_config");
	MyWorker->config = ks_load_config(name, MyWorker->cxt);
	if (MyWorker->config == NULL)
	{
		ereport(LOG, (errmsg("kusto_sink sink \"%s\" no longer exists", name)));
		SpinLockAcquire(&slot->mutex);
		slot->state = KS_STATE_STOPPED;
		SpinLockRelease(&slot->mutex);
		proc_exit(0);
	}
	ks_check_catalog_version(slot, name);
	ks_access_start(MyWorker->config, slot);
	ks_check_slot(MyWorker->config, slot);
	SetUserIdAndSecContext(MyWorker->config->owner, SECURITY_LOCAL_USERID_CHANGE);

	MyWorker->max_batch_bytes = (size_t) MyWorker->config->client_batch_size_limit_mb * 1024 * 1024;
	MyWorker->shipper = ks_shipper_create(MyWorker->config);
	if (ks_ship_streaming_limit(MyWorker->shipper) > 0)
		MyWorker->max_batch_bytes = Min(MyWorker->max_batch_bytes, ks_ship_streaming_limit(MyWorker->shipper));
	if (MyWorker->config->create_table)
	{
		/* Kusto's tables first (their mappings follow the records: layouts.c) */
		ks_prepare_kusto_tables(MyWorker->shipper, MyWorker->config);
	}
	MyWorker->stream = ks_decode_start(MyWorker->config->slot_name, MyWorker->config->plugin_options, &hooks);
	if (MyWorker->config->delivery_guarantee == KS_EXACTLY_ONCE)
	{
		/* the validator's preconditions, on the configuration it runs with */
		bool		queued = ks_check_exactly_once(ks_ingestion_method_name(MyWorker->config->ingestion_method),
												   MyWorker->config->poll_for_ingestion_status,
												   MyWorker->config->lsn_column != NULL,
												   MyWorker->config->commit_lsn_column != NULL);

		MyWorker->eo = true;
		MyWorker->keep_runs = !queued;
		if (MyWorker->keep_runs && ks_ship_streaming_limit(MyWorker->shipper) > 0)
			MyWorker->max_batch_bytes = Min(MyWorker->max_batch_bytes,
									 ks_ship_streaming_limit(MyWorker->shipper) - KS_RUN_MARGIN);
		MyWorker->progress = ks_progress_load(name, ks_decode_confirmed(MyWorker->stream));
		ereport(LOG,
				(errmsg("kusto_sink sink \"%s\": exactly once, %d recorded batches to settle",
						name, ks_progress_pending(MyWorker->progress))));
	}

	if (MyWorker->config->dropped_tables != NULL)
	{
		char		message[256];

		/* decoding still finds their changes before the drop (by OID) */
		snprintf(message, sizeof(message),
				 "source tables with OIDs %s were dropped; their changes up to the drop are delivered",
				 MyWorker->config->dropped_tables);
		ereport(WARNING,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("kusto_sink sink \"%s\": %s", name, message),
				 errhint("Drop the sink, or create it again for the tables that exist, once its lag is 0.")));
		ks_slot_set_error(slot, message);
	}

	MyWorker->dead_letters = ks_dead_letters_create(name, ks_format_name(MyWorker->config->format),
												   MyWorker->batch_cxt);
	MyWorker->snapshot = ks_snapshot_start(name, MyWorker->config->plugin_options);
	ks_snapshot_refresh(MyWorker->snapshot, ks_decode_confirmed(MyWorker->stream));
	MyWorker->next_snapshot_check = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), KS_SNAPSHOT_CHECK_MS);

	SpinLockAcquire(&slot->mutex);
	slot->state = KS_STATE_RUNNING;
	slot->confirmed_lsn = ks_decode_confirmed(MyWorker->stream);
	SpinLockRelease(&slot->mutex);
	ereport(LOG, (errmsg("kusto_sink sink \"%s\" started", name)));

	for (;;)
	{
		bool		caught_up = true;
		int64		n;
		long		wait_ms;
		long		ms;
		bool		flush;

		/* what this turn allocates and does not keep goes with it */
		MemoryContextSwitchTo(MyWorker->cxt);
		MemoryContextReset(MyWorker->loop_cxt);
		MemoryContextSwitchTo(MyWorker->loop_cxt);

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (ks_slot_requested(slot, KS_REQUEST_STOP))
		{
			/* drop_sink: settle what is in flight (briefly), then go */
			finish_for_change(false);
			settle_progress();
			stop_cleanly();
		}
		if (ks_slot_requested(slot, KS_REQUEST_RELOAD))
		{
			/*
			 * The sink or its connection changed: ship what is due and take
			 * the answers of the transfers for at most KS_CHANGE_GRACE_MS,
			 * settle what Kusto acknowledged, and exit; the launcher starts
			 * the worker again at once with the new configuration.  Nothing
			 * waits for a batch's retry (with a broken connection that was
			 * for ever): what is not confirmed is decoded again by the next
			 * worker (at-least-once may send again what was in flight,
			 * exactly once settles it as after a crash).
			 */
			if (!MyWorker->error_stop)
			{
				seal_due(true);
				record_ready();
			}
			finish_for_change(true);
			settle_dead_letters(false);
			settle_progress();
			confirm_acknowledged();
			(void) ks_slot_take_request(slot, KS_REQUEST_RELOAD);
			stop_cleanly();
		}

		if (!MyWorker->error_stop)
		{
			/* the owner's current privileges before and right after the step */
			access_turn();
			ks_access_begin_step();
			caught_up = ks_decode_step(MyWorker->stream, KS_STEP_RECORDS, &n);
			access_turn();
		}
		if (MyWorker->chunk_due != InvalidXLogRecPtr)
		{
			inject_chunk(MyWorker->chunk_due);
			MyWorker->chunk_due = InvalidXLogRecPtr;
		}

		flush = ks_slot_take_request(slot, KS_REQUEST_FLUSH);
		wait_ms = seal_due(flush);
		record_ready();
		ms = start_ready();
		if (ms >= 0)
			wait_ms = (wait_ms < 0) ? ms : Min(wait_ms, ms);
		ks_ship_poll(MyWorker->shipper, 0, ship_done, NULL);
		settle_dead_letters(false);
		settle_progress();
		confirm_acknowledged();
		publish_progress();
		if (!MyWorker->error_stop && snapshot_turn())
			caught_up = false;	/* decode on to its message */

		if (!caught_up)
			continue;
		wait_for_shipping(idle_wait_ms(wait_ms));
		end_error_pause();
	}
}
