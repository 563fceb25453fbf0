/*-------------------------------------------------------------------------
 *
 * in_doubt.c
 *	  Finding out what became of a batch in Kusto: status reads of queued
 *	  sends, and the settling of an exactly-once batch in doubt (see
 *	  in_doubt.h; the states are in batch.h).
 *
 * Exactly once (a batch with a batch_id) has two ways of making a second
 * send harmless.  Queued ingestion carries the ingest-by tag, and the
 * status table tells what became of a send.  A stream carries no tag, so
 * before a stream whose fate is unknown (a crash, a failure that may have
 * come after Kusto stored it) is sent again, Kusto is asked whether the
 * batch's first record is in the table, by its commit and change LSN: a
 * stream is stored whole or not at all, and the worker never splits the
 * records of one WAL record over two batches (keep_runs), so that record
 * belongs to this batch only.  Managed ingestion streams a batch and, once
 * a send of it went queued, keeps it queued (tagged): a managed batch in
 * doubt reads its status first, and is probed when it was never queued.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "decoder/escape.h"
#include "worker/in_doubt.h"

/*
 * Status reads: the first after this, then doubling up to the maximum.  A
 * batch's status turns Succeeded when Kusto's batching time is over, and is
 * seen at the next read: the maximum pause is what a confirmation may come
 * late (it was 10 s: most of the lag beyond the batching time).
 */
#define KS_POLL_FIRST_MS 250
#define KS_POLL_MAX_MS 2000
/*
 * With many batches waiting for their status, the pause between two reads of
 * one grows to this much per waiting batch, so that the status table sees at
 * most about 1000 / KS_POLL_SPREAD_MS statuses read a second, in requests of
 * up to KUSTO_STATUS_READ_MAX (2,000 batches waiting for a 5-minute batching
 * time: each read every 10 s, 200 statuses a second in about 14 requests).
 */
#define KS_POLL_SPREAD_MS 5
/*
 * A read that is due takes along, in the same request, the batches of the
 * same status table whose read is due within this long.
 */
#define KS_POLL_JOIN_MS 1000
/* consecutive failed status reads before a batch counts as failed */
#define KS_POLL_MAX_FAILURES 30
/* an Unknown status (written before the queue post?) is read this often first */
#define KS_POLL_UNKNOWN_TRIES 5

/* kusto_sink.pending_resend_after: a rebuilt batch Pending this long is sent again */
int			ks_pending_resend_after_ms = 600000;

struct KsDoubt
{
	kusto_client *client;
	KsSinkConfig *config;
	List	   *waiting;		/* KsBatch *, waiting for their next status read */
	List	   *awaiting;		/* KsBatch *, sent and waiting for a status (in_set) */
	List	   *groups;			/* KsStatusGroup *, their read running */
};

KsDoubt *
ks_doubt_create(kusto_client *client, KsSinkConfig *config)
{
	KsDoubt    *doubt = MemoryContextAllocZero(TopMemoryContext, sizeof(KsDoubt));

	doubt->client = client;
	doubt->config = config;
	return doubt;
}

/* Schedules the batch's next status read: 250 ms after the first, doubling. */
static void
poll_later(KsDoubt *doubt, KsBatch *batch)
{
	long		ms = KS_POLL_FIRST_MS;
	long		max_ms = Max(KS_POLL_MAX_MS, (long) list_length(doubt->awaiting) * KS_POLL_SPREAD_MS);
	int			i;
	MemoryContext oldcxt;

	for (i = 0; i < batch->polls && ms < max_ms; i++)
		ms *= 2;
	batch->polls++;
	batch->next_poll_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), Min(ms, max_ms));
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	doubt->waiting = lappend(doubt->waiting, batch);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * The set of batches sent that wait for a status (AWAITING_STATUS, or
 * CHECKING_STATUS: in doubt, queued): they hold no shipping slot.
 */
static bool
in_set(KsBatchState state)
{
	return state == KS_BATCH_AWAITING_STATUS || state == KS_BATCH_CHECKING_STATUS;
}

/* Keeps the set true after a move of the batch out of state `was`. */
static void
track(KsDoubt *doubt, KsBatch *batch, KsBatchState was)
{
	if (in_set(was) && !in_set(batch->state))
		doubt->awaiting = list_delete_ptr(doubt->awaiting, batch);
	else if (!in_set(was) && in_set(batch->state) &&
			 !list_member_ptr(doubt->awaiting, batch))
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

		batch->sent_at = GetCurrentTimestamp();
		doubt->awaiting = lappend(doubt->awaiting, batch);
		MemoryContextSwitchTo(oldcxt);
		/* its bytes wait on disk, loaded back if it is sent again */
		ks_batch_spill(batch);
	}
}

/*
 * Asks Kusto whether a batch sent without a tag is in its table: whether
 * the table holds its first record (see the top of this file).
 */
static void
start_probe(KsDoubt *doubt, KsBatch *batch)
{
	KsSinkConfig *cfg = doubt->config;
	StringInfoData q;

	initStringInfo(&q);
	ks_append_kql_name(&q, batch->kusto_table);
	appendStringInfoString(&q, " | where ");
	ks_append_kql_name(&q, cfg->commit_lsn_column);
	appendStringInfo(&q, " == %llu and ", (unsigned long long) batch->first_commit_lsn);
	ks_append_kql_name(&q, cfg->lsn_column);
	appendStringInfo(&q, " == %llu | take 1 | count", (unsigned long long) batch->first_change_lsn);
	ks_batch_set_state(batch, KS_BATCH_PROBING);
	kusto_count(doubt->client, cfg->database, q.data, batch);
	pfree(q.data);
}

/*
 * IN_DOUBT -> PROBING (a stream) or CHECKING_STATUS (a queued send, or a
 * managed one): starts finding out whether Kusto has the batch.
 */
void
ks_doubt_resume(KsDoubt *doubt, KsBatch *batch)
{
	Assert(batch->state == KS_BATCH_IN_DOUBT);
	if (!batch->go_queued && doubt->config->ingestion_method == KS_METHOD_STREAMING)
	{
		/* a stream in doubt: is it there? */
		start_probe(doubt, batch);
		return;
	}

	/*
	 * It may be in Kusto already, or on its way.  Its status decides: sent
	 * again only if it never arrived.
	 */
	ks_batch_set_state(batch, KS_BATCH_CHECKING_STATUS);
	track(doubt, batch, KS_BATCH_IN_DOUBT);
	batch->polls = 0;
	strlcpy(batch->source_id, batch->batch_id, sizeof(batch->source_id));
	kusto_get_ingest_status(doubt->client, batch->source_id, batch);
}

/*
 * SENDING -> AWAITING_STATUS: the queue took the batch; its status decides.
 * Its compressed bytes go to the spill file (batch.c), so that the batches
 * waiting for their status hold no memory but their bookkeeping; a send
 * again (a failed status) loads them back.
 */
void
ks_doubt_await_status(KsDoubt *doubt, KsBatch *batch)
{
	KsBatchState was = batch->state;

	ks_batch_set_state(batch, KS_BATCH_AWAITING_STATUS);
	track(doubt, batch, was);
	poll_later(doubt, batch);
}

/* How many batches wait for their status, and since when the oldest (or 0). */
int
ks_doubt_awaiting(KsDoubt *doubt, TimestampTz *oldest)
{
	ListCell   *lc;

	if (oldest != NULL)
	{
		*oldest = 0;
		foreach(lc, doubt->awaiting)
		{
			KsBatch    *b = (KsBatch *) lfirst(lc);

			if (*oldest == 0 || b->sent_at < *oldest)
				*oldest = b->sent_at;
		}
	}
	return list_length(doubt->awaiting);
}

/*
 * Starts the reads of a due batch and of the batches that join it (up to
 * KUSTO_STATUS_READ_MAX of the same status table, from due, then from the
 * waiting ones due within KS_POLL_JOIN_MS): one request.
 */
static void
start_group(KsDoubt *doubt, KsBatch *leader, List **due, TimestampTz soon)
{
	KsStatusGroup *group;
	const char *ids[KUSTO_STATUS_READ_MAX];
	List	  **from[2] = {due, &doubt->waiting};
	int			f;
	ListCell   *lc;

	if (leader->read_alone)
	{
		/* an answer of a group lacked it: only a read of its own tells */
		leader->read_alone = false;
		kusto_get_ingest_status(doubt->client, leader->source_id, leader);
		return;
	}
	group = MemoryContextAllocZero(TopMemoryContext, sizeof(KsStatusGroup));
	group->batches[group->n++] = leader;
	for (f = 0; f < 2; f++)
	{
		foreach(lc, *from[f])
		{
			KsBatch    *b = (KsBatch *) lfirst(lc);

			if (group->n == KUSTO_STATUS_READ_MAX)
				break;
			if (b->read_alone || (f == 1 && b->next_poll_at > soon) ||
				!kusto_status_same_table(doubt->client, leader->source_id, b->source_id))
				continue;
			group->batches[group->n++] = b;
			*from[f] = foreach_delete_current(*from[f], lc);
		}
	}
	if (group->n == 1)
	{
		pfree(group);
		kusto_get_ingest_status(doubt->client, leader->source_id, leader);
		return;
	}
	for (f = 0; f < group->n; f++)
		ids[f] = group->batches[f]->source_id;
	doubt->groups = lappend(doubt->groups, group);
	kusto_get_ingest_statuses(doubt->client, ids, group->n, group);
}

/* Starts the status reads that are due; the ms until the next one, or -1. */
long
ks_doubt_start_due(KsDoubt *doubt)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz soon = TimestampTzPlusMilliseconds(now, KS_POLL_JOIN_MS);
	long		next = -1;
	List	   *due = NIL;
	ListCell   *lc;
	MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

	foreach(lc, doubt->waiting)
	{
		KsBatch    *batch = (KsBatch *) lfirst(lc);

		if (batch->next_poll_at <= now)
		{
			due = lappend(due, batch);
			doubt->waiting = foreach_delete_current(doubt->waiting, lc);
		}
	}
	while (due != NIL)
	{
		KsBatch    *leader = (KsBatch *) linitial(due);

		due = list_delete_first(due);
		start_group(doubt, leader, &due, soon);
	}
	MemoryContextSwitchTo(oldcxt);
	foreach(lc, doubt->waiting)
	{
		KsBatch    *batch = (KsBatch *) lfirst(lc);
		long		ms = (long) ((batch->next_poll_at - now) / 1000) + 1;

		next = next < 0 ? Max(ms, 0) : Min(next, Max(ms, 0));
	}
	return next;
}

/* The group of status reads whose request answered, or NULL: user is a batch. */
KsStatusGroup *
ks_doubt_group(KsDoubt *doubt, void *user)
{
	return list_member_ptr(doubt->groups, user) ? (KsStatusGroup *) user : NULL;
}

/* A group's answer was taken: its batches have moved on. */
void
ks_doubt_group_done(KsDoubt *doubt, KsStatusGroup *group)
{
	doubt->groups = list_delete_ptr(doubt->groups, group);
	pfree(group);
}

/*
 * A group's answer lacked the batch's status (unread): it is read again at
 * once, alone, where a missing status is told apart from a query that ended
 * early.
 */
void
ks_doubt_read_alone(KsDoubt *doubt, KsBatch *batch)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

	batch->read_alone = true;
	batch->next_poll_at = GetCurrentTimestamp();
	doubt->waiting = lappend(doubt->waiting, batch);
	MemoryContextSwitchTo(oldcxt);
}

int
ks_doubt_waiting(KsDoubt *doubt)
{
	return list_length(doubt->waiting);
}

/* PROBING: the count of the batch's first record in its table. */
KsShipNext
ks_doubt_probed(KsDoubt *doubt, KsBatch *batch, const kusto_error *err, long long count,
				KsShipOutcome *outcome, char *message, size_t size)
{
	Assert(batch->state == KS_BATCH_PROBING);
	if (*outcome != KS_SHIP_ACKED)
	{
		/* asked again before the next send */
		char		why[600];

		ks_ship_describe(why, sizeof(why), err);
		snprintf(message, size, "cannot tell whether batch %s is in Kusto table \"%s\": %s",
				 batch->batch_id, batch->kusto_table, why);
		*outcome = KS_SHIP_TRANSIENT;
		return ks_ship_finished(batch, *outcome, true);
	}
	if (count == 0)
		return KS_NEXT_SEND;	/* not there: send it */
	ereport(LOG,
			(errmsg("kusto_sink sink \"%s\": batch %s is in Kusto already; not sent again",
					doubt->config->name, batch->batch_id)));
	return ks_ship_finished(batch, KS_SHIP_ACKED, false);
}

/*
 * What a final status means for the batch: done (acked or failed, with
 * outcome and message) or still pending (false).
 */
static bool
status_outcome(KsBatch *batch, const kusto_ingest_status *st, KsShipOutcome *outcome,
			   char *message, size_t size)
{
	switch (st->state)
	{
		case KUSTO_INGEST_SUCCEEDED:
			*outcome = KS_SHIP_ACKED;
			return true;
		case KUSTO_INGEST_ALREADY_INGESTED:
			if (batch->partial)
			{
				/* the extent with its tag holds only part of it */
				*outcome = KS_SHIP_PERMANENT;
				snprintf(message, size,
						 "batch %s was only partially ingested before; drop the extent tagged ingest-by:%s and retry it",
						 batch->batch_id, batch->batch_id);
				return true;
			}
			*outcome = KS_SHIP_ACKED;
			return true;
		case KUSTO_INGEST_PENDING:
			return false;
		case KUSTO_INGEST_UNKNOWN:
			/* written before the message was queued: give storage a few tries */
			if (batch->polls < KS_POLL_UNKNOWN_TRIES)
				return false;
			*outcome = KS_SHIP_TRANSIENT;
			snprintf(message, size, "the status of ingestion %s is missing from the status table",
					 batch->source_id);
			return true;
		case KUSTO_INGEST_FAILED:
			*outcome = st->permanent ? KS_SHIP_PERMANENT : KS_SHIP_TRANSIENT;
			break;
		case KUSTO_INGEST_PARTIALLY_SUCCEEDED:
			batch->partial = true;
			*outcome = KS_SHIP_PERMANENT;
			break;
		case KUSTO_INGEST_SKIPPED:
			*outcome = KS_SHIP_PERMANENT;
			break;
	}
	snprintf(message, size, "queued ingestion %s %s: %s%s%s", batch->source_id,
			 kusto_ingest_state_name(st->state), st->error_code,
			 st->error_code[0] && st->details[0] ? ": " : "", st->details);
	return true;
}

/*
 * CHECKING_STATUS, the status read: is the earlier send there already, on
 * its way, or to be sent again?
 */
static KsShipNext
checked(KsDoubt *doubt, KsBatch *batch, const kusto_ingest_status *st,
		KsShipOutcome *outcome, char *message, size_t size)
{
	long long	age = st->updated_at > 0 ? (long long) time(NULL) - st->updated_at : 0;
	bool		never_there = st->state == KUSTO_INGEST_UNKNOWN || st->state == KUSTO_INGEST_FAILED;

	Assert(batch->batch_id[0] != '\0');

	/*
	 * Pending: the message was (most likely) queued, so wait for it, unless
	 * nothing moved for longer than the DM ever takes: then the crash came
	 * between the status write and the queue post.
	 */
	if (st->state == KUSTO_INGEST_PENDING && age * 1000 < ks_pending_resend_after_ms)
	{
		poll_later(doubt, batch);
		return KS_NEXT_WAIT;
	}
	if (st->state == KUSTO_INGEST_PENDING)
	{
		ereport(LOG,
				(errmsg("kusto_sink sink \"%s\": batch %s has been Pending for %lld s; sending it again (Kusto skips it if the first send lands meanwhile)",
						doubt->config->name, batch->batch_id, age)));
		batch->go_queued = true;	/* the second send must carry the tag */
		return KS_NEXT_SEND;
	}
	if (never_there && !batch->go_queued && doubt->config->ingestion_method == KS_METHOD_MANAGED)
	{
		/* managed: never queued, or failed there; was it streamed? */
		start_probe(doubt, batch);
		return KS_NEXT_WAIT;
	}
	if (never_there)
		return KS_NEXT_SEND;
	if (!status_outcome(batch, st, outcome, message, size))
	{
		/* (not reached: Pending and Unknown are taken care of above) */
		ks_batch_set_state(batch, KS_BATCH_AWAITING_STATUS);
		poll_later(doubt, batch);
		return KS_NEXT_WAIT;
	}
	return ks_ship_finished(batch, *outcome, false);
}

static KsShipNext status_read(KsDoubt *doubt, KsBatch *batch, const kusto_error *err,
							  const kusto_ingest_status *st, KsShipOutcome *outcome,
							  char *message, size_t size);

/* AWAITING_STATUS or CHECKING_STATUS: a status read answered (or failed). */
KsShipNext
ks_doubt_status_read(KsDoubt *doubt, KsBatch *batch, const kusto_error *err,
					 const kusto_ingest_status *st, KsShipOutcome *outcome,
					 char *message, size_t size)
{
	KsBatchState was = batch->state;
	KsShipNext	next = status_read(doubt, batch, err, st, outcome, message, size);

	if (next == KS_NEXT_SEND)
	{
		/* the caller sends it (-> SENDING): it leaves the set now */
		doubt->awaiting = list_delete_ptr(doubt->awaiting, batch);
		return next;
	}
	track(doubt, batch, was);
	return next;
}

static KsShipNext
status_read(KsDoubt *doubt, KsBatch *batch, const kusto_error *err,
			const kusto_ingest_status *st, KsShipOutcome *outcome,
			char *message, size_t size)
{
	Assert(batch->state == KS_BATCH_AWAITING_STATUS ||
		   batch->state == KS_BATCH_CHECKING_STATUS);
	if (*outcome != KS_SHIP_ACKED)
	{
		if (++batch->poll_failures < KS_POLL_MAX_FAILURES)
		{
			/* the status could not be read: the batch is still on its way */
			poll_later(doubt, batch);
			return KS_NEXT_WAIT;
		}
		/* a status that stays unreadable: exactly once, settled by its status after the pause */
		ks_ship_describe(message, size, err);
		return ks_ship_finished(batch, *outcome, batch->batch_id[0] != '\0');
	}
	batch->poll_failures = 0;
	if (batch->state == KS_BATCH_CHECKING_STATUS)
		return checked(doubt, batch, st, outcome, message, size);
	if (!status_outcome(batch, st, outcome, message, size))
	{
		poll_later(doubt, batch);
		return KS_NEXT_WAIT;
	}
	return ks_ship_finished(batch, *outcome, false);
}
