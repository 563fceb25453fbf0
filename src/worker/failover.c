/*-------------------------------------------------------------------------
 *
 * failover.c
 *	  A sink's replication slot across the promotion of a standby (see
 *	  failover.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "replication/slot.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "worker/failover.h"
#include "worker/worker_sql.h"

/* waiting for the standbys this long is said in the log and the status */
#define KS_STANDBY_WAIT_REPORT_MS 10000
/* and said again this often while it lasts */
#define KS_STANDBY_WAIT_REPEAT_MS 60000

/* the worker's sink (ks_check_slot), whose status tells of the waits */
static KsSinkSlot *status_slot = NULL;

void
ks_create_sink_slot(const char *slot_name)
{
	NameData	name;
	NameData	plugin;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot create a kusto_sink sink on a standby"),
				 errdetail("The server is in recovery: a sink, its catalog rows and its replication slot are made on the primary."),
				 errhint("Create the sink on the primary. A standby gets the sink by replication, and its slot too where the standby synchronizes failover slots (PostgreSQL 17 and later, sync_replication_slots).")));
	namestrcpy(&name, slot_name);
	namestrcpy(&plugin, "kusto_sink");
	(void) KS_CREATE_LOGICAL_SLOT(NameGetDatum(&name), NameGetDatum(&plugin));
}

void
ks_check_slot(KsSinkConfig *config, KsSinkSlot *slot)
{
	ReplicationSlot *found;
	KsSqlTxn	txn;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];

	status_slot = slot;
	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	found = SearchNamedReplicationSlot(config->slot_name, false);
	LWLockRelease(ReplicationSlotControlLock);
	if (found != NULL)
		return;

	if (config->on_slot_lost != KS_ON_SLOT_LOST_RESYNC)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("replication slot \"%s\" does not exist: run kusto_sink.resume_sink('%s') to create it and resync the sink's tables",
						config->slot_name, config->name),
				 errdetail("A replication slot exists only on its own server: a sink restored from a dump has none (pg_dump writes none), and after a failover the promoted standby has it only if it is a failover slot it synchronized (PostgreSQL 17 and later, sync_replication_slots), so the changes since Kusto's last confirmed position cannot be decoded here."),
				 errhint("kusto_sink.resume_sink() creates the slot and sends every row of the sink's tables again, each table ending with a snapshot_done record; with the sink's option on_slot_lost set to \"resync\" the worker does so by itself.")));

	ereport(LOG,
			(errmsg("kusto_sink sink \"%s\": replication slot \"%s\" does not exist (a failover?): creating it and resynchronizing every table",
					config->name, config->slot_name),
			 errdetail("The sink's option on_slot_lost is \"resync\".")));

	/*
	 * The snapshot first: should the worker stop between the two
	 * transactions, the next one finds the slot missing again and asks for
	 * the snapshot again, instead of finding a slot and no snapshot.
	 */
	ks_sql_begin(&txn);
	values[0] = CStringGetTextDatum(config->name);
	ks_sql_run("SELECT kusto_sink._request_snapshot(s, NULL::pg_catalog.regclass[])"
			   "  FROM kusto_sink.sink s WHERE s.name OPERATOR(pg_catalog.=) $1",
			   1, types, values);
	ks_sql_end(&txn);

	ks_sql_begin(&txn);
	ks_create_sink_slot(config->slot_name);
	ks_sql_end(&txn);
	ks_slot_set_error(slot, "the replication slot was missing (a failover?): a new slot was created and every table is sent again (on_slot_lost = resync)");
}

#ifdef KS_HAVE_FAILOVER_SLOTS

/* when the current wait for the standbys began, and when it was last said */
static TimestampTz wait_started = 0;
static TimestampTz wait_reported = 0;

bool
ks_standbys_confirmed(XLogRecPtr lsn)
{
	TimestampTz now;
	bool		report;

	if (MyReplicationSlot == NULL || !MyReplicationSlot->data.failover)
		return true;
	if (StandbySlotsHaveCaughtup(lsn, DEBUG1))
	{
		wait_started = 0;
		return true;
	}

	now = GetCurrentTimestamp();
	if (wait_started == 0)
	{
		wait_started = now;
		wait_reported = 0;
	}
	report = TimestampDifferenceExceeds(wait_started, now, KS_STANDBY_WAIT_REPORT_MS) &&
		(wait_reported == 0 || TimestampDifferenceExceeds(wait_reported, now, KS_STANDBY_WAIT_REPEAT_MS));
	if (report)
	{
		char		message[256];

		wait_reported = now;
		/* the server's own words on the slot that holds it up, if any */
		(void) StandbySlotsHaveCaughtup(lsn, WARNING);
		snprintf(message, sizeof(message),
				 "waiting for the standbys of synchronized_standby_slots to confirm WAL up to %X/%X: a failover slot gets no further than they are",
				 LSN_FORMAT_ARGS(lsn));
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("kusto_sink: %s", message),
				 errhint("Start the standbys named in synchronized_standby_slots, or remove the ones that are gone from it.")));
		if (status_slot != NULL)
			ks_slot_set_error(status_slot, message);
	}
	return false;
}

void
ks_wait_for_standbys(XLogRecPtr lsn)
{
	while (!ks_standbys_confirmed(lsn))
	{
		CHECK_FOR_INTERRUPTS();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

#else							/* no failover slots: nothing to wait for */

bool
ks_standbys_confirmed(XLogRecPtr lsn)
{
	return true;
}

void
ks_wait_for_standbys(XLogRecPtr lsn)
{
}

#endif
