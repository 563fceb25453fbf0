/*-------------------------------------------------------------------------
 *
 * sink_control.c
 *	  SQL-callable functions that talk to the launcher and the sink workers
 *	  through the shared-memory registry.
 *
 *	_notify_launcher()			wake the launcher when the transaction commits
 *	_stop_worker(sink, ms)		ask a sink's worker to settle and exit; wait
 *	flush_sink(sink)			ask a sink's worker to close its batches now
 *	_status()					the registry's state and counters, per sink
 *	_slot_name(sink)			the replication slot of a sink (sink_name.h)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "replication/slot.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "worker/registry.h"
#include "worker/sink_name.h"

PG_FUNCTION_INFO_V1(kusto_sink_notify_launcher);
PG_FUNCTION_INFO_V1(kusto_sink_stop_worker);
PG_FUNCTION_INFO_V1(kusto_sink_flush_sink);
PG_FUNCTION_INFO_V1(kusto_sink_status);
PG_FUNCTION_INFO_V1(kusto_sink_pipeline_status);
PG_FUNCTION_INFO_V1(kusto_sink_slot_name);

static bool wake_at_commit = false;
static bool xact_callback_registered = false;
static List *stopping = NIL;	/* sinks whose worker this transaction stopped */

static void
registry_required(void)
{
	if (ks_registry == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("kusto_sink is not in shared_preload_libraries"),
				 errhint("Add kusto_sink to shared_preload_libraries and restart the server.")));
}

static void
xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_at_commit)
				ks_wake_launcher();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* a drop that did not happen: let the launcher restart the worker */
			if (stopping != NIL && ks_registry != NULL)
			{
				LWLockAcquire(ks_registry->lock, LW_EXCLUSIVE);
				foreach(lc, stopping)
				{
					KsSinkSlot *slot = ks_registry_find((char *) lfirst(lc), MyDatabaseId, false);

					if (slot != NULL)
					{
						slot->dropping = false;
						(void) ks_slot_take_request(slot, KS_REQUEST_STOP);
					}
				}
				LWLockRelease(ks_registry->lock);
				ks_wake_launcher();
			}
			break;
		default:
			return;
	}
	wake_at_commit = false;
	stopping = NIL;				/* its memory went with the transaction */
}

static void
register_xact_callback(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(xact_callback, NULL);
		xact_callback_registered = true;
	}
}

Datum
kusto_sink_notify_launcher(PG_FUNCTION_ARGS)
{
	register_xact_callback();
	wake_at_commit = true;
	PG_RETURN_VOID();
}

static void
set_worker_latch(int pid)
{
	PGPROC	   *proc = pid != 0 ? BackendPidGetProc(pid) : NULL;

	if (proc != NULL)
		SetLatch(&proc->procLatch);
}

Datum
kusto_sink_flush_sink(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	KsSinkSlot *slot;
	int			pid = 0;

	registry_required();
	LWLockAcquire(ks_registry->lock, LW_SHARED);
	slot = ks_registry_find(name, MyDatabaseId, false);
	if (slot != NULL)
	{
		ks_slot_request(slot, KS_REQUEST_FLUSH);
		pid = slot->pid;
	}
	LWLockRelease(ks_registry->lock);
	if (slot == NULL || pid == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sink \"%s\" has no running worker", name),
				 errhint("See kusto_sink.status for the sink's state.")));
	set_worker_latch(pid);
	PG_RETURN_VOID();
}

Datum
kusto_sink_stop_worker(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		timeout_ms = PG_GETARG_INT32(1);
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	KsSinkSlot *slot;
	MemoryContext oldcxt;

	registry_required();
	register_xact_callback();
	LWLockAcquire(ks_registry->lock, LW_EXCLUSIVE);
	slot = ks_registry_find(name, MyDatabaseId, false);
	if (slot != NULL)
	{
		slot->dropping = true;
		ks_slot_request(slot, KS_REQUEST_STOP);
		set_worker_latch(slot->pid);
	}
	LWLockRelease(ks_registry->lock);
	if (slot == NULL)
		PG_RETURN_BOOL(true);

	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	stopping = lappend(stopping, pstrdup(name));
	MemoryContextSwitchTo(oldcxt);

	/* wait for the worker to exit and for its slot to be released */
	for (;;)
	{
		/* never cut: a longer name than a slot's cannot be one */
		char	   *slot_name = ks_sink_slot_name(name);
		ReplicationSlot *rs;
		bool		active = false;

		LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
		rs = slot_name != NULL ? SearchNamedReplicationSlot(slot_name, false) : NULL;
		if (slot_name != NULL)
			pfree(slot_name);
		if (rs != NULL)
		{
			SpinLockAcquire(&rs->mutex);
			active = (rs->active_pid != 0);
			SpinLockRelease(&rs->mutex);
		}
		LWLockRelease(ReplicationSlotControlLock);

		if (slot->pid == 0 && !active)
			PG_RETURN_BOOL(true);
		if (GetCurrentTimestamp() >= deadline)
			PG_RETURN_BOOL(false);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 20, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

static int
compare_float4(const void *a, const void *b)
{
	float4		x = *(const float4 *) a;
	float4		y = *(const float4 *) b;

	return (x > y) - (x < y);
}

static const char *
state_name(KsSinkState state)
{
	switch (state)
	{
		case KS_STATE_STOPPED:
			return "stopped";
		case KS_STATE_STARTING:
			return "starting";
		case KS_STATE_RUNNING:
			return "running";
		case KS_STATE_PAUSED:
			return "paused";
		case KS_STATE_ERROR:
			return "error";
	}
	return "unknown";
}

Datum
kusto_sink_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			me = GetUserId();
	int			i;

	registry_required();
	InitMaterializedSRF(fcinfo, 0);

	for (i = 0; i < ks_registry->nslots; i++)
	{
		KsSinkSlot *slot = &ks_registry->slots[i];
		KsSinkSlot	copy;
		Datum		values[18];
		bool		nulls[18];
		int			n = 0;

		/* a role sees the sinks it owns (pg_read_all_stats: every sink) */
		if (!ks_slot_visible_to(slot, me))
			continue;
		SpinLockAcquire(&slot->mutex);
		memcpy(&copy, slot, sizeof(KsSinkSlot));
		SpinLockRelease(&slot->mutex);

		memset(nulls, 0, sizeof(nulls));
		values[n++] = CStringGetTextDatum(copy.name);
		values[n++] = CStringGetTextDatum(state_name(copy.state));
		nulls[n] = (copy.pid == 0);
		values[n++] = Int32GetDatum(copy.pid);
		nulls[n] = (copy.confirmed_lsn == InvalidXLogRecPtr);
		values[n++] = LSNGetDatum(copy.confirmed_lsn);
		nulls[n] = (copy.decoded_lsn == InvalidXLogRecPtr);
		values[n++] = LSNGetDatum(copy.decoded_lsn);
		values[n++] = Int64GetDatum(copy.rows_sent);
		values[n++] = Int64GetDatum(copy.batches_sent);
		values[n++] = Int64GetDatum(copy.raw_bytes);
		values[n++] = Int64GetDatum(copy.compressed_bytes);
		values[n++] = Int64GetDatum(copy.ingestion_failures);
		values[n++] = Int64GetDatum(copy.retries);
		nulls[n] = (copy.last_error[0] == '\0');
		values[n++] = CStringGetTextDatum(copy.last_error);
		nulls[n] = (copy.last_error_time == 0);
		values[n++] = TimestampTzGetDatum(copy.last_error_time);
		nulls[n] = (copy.last_success == 0);
		values[n++] = TimestampTzGetDatum(copy.last_success);
		nulls[n] = (copy.last_commit_time == 0);
		values[n++] = TimestampTzGetDatum(copy.last_commit_time);
		nulls[n] = (copy.oldest_pending == 0);
		values[n++] = TimestampTzGetDatum(copy.oldest_pending);
		if (copy.latency_count > 0)
		{
			qsort(copy.latency_ms, copy.latency_count, sizeof(float4), compare_float4);
			values[n++] = Float8GetDatum(copy.latency_ms[(copy.latency_count - 1) / 2]);
			values[n++] = Float8GetDatum(copy.latency_ms[(int) ((copy.latency_count - 1) * 0.99)]);
		}
		else
		{
			nulls[n++] = true;
			nulls[n++] = true;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * _pipeline_status() -> (name, awaiting_status, oldest_awaiting_status): per
 * sink, the queued batches sent that wait for their status, and when the
 * oldest of them was sent (kusto_sink.status; the same sinks as _status).
 */
Datum
kusto_sink_pipeline_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			me = GetUserId();
	int			i;

	registry_required();
	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < ks_registry->nslots; i++)
	{
		KsSinkSlot *slot = &ks_registry->slots[i];
		char		name[KS_NAME_LEN];
		int			awaiting;
		TimestampTz oldest;
		int			pid;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		if (!ks_slot_visible_to(slot, me))
			continue;
		SpinLockAcquire(&slot->mutex);
		strlcpy(name, slot->name, sizeof(name));
		awaiting = slot->awaiting_status;
		oldest = slot->oldest_awaiting_status;
		pid = slot->pid;
		SpinLockRelease(&slot->mutex);
		values[0] = CStringGetTextDatum(name);
		/* (a worker that exited waits for nothing) */
		values[1] = Int32GetDatum(pid != 0 ? awaiting : 0);
		nulls[2] = (pid == 0 || awaiting == 0 || oldest == 0);
		values[2] = TimestampTzGetDatum(oldest);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* _slot_name(sink text) -> text: NULL for a name no slot can have */
Datum
kusto_sink_slot_name(PG_FUNCTION_ARGS)
{
	char	   *slot_name = ks_sink_slot_name(text_to_cstring(PG_GETARG_TEXT_PP(0)));

	if (slot_name == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(slot_name));
}
