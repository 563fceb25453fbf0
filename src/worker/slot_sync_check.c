/*-------------------------------------------------------------------------
 *
 * slot_sync_check.c
 *	  On a standby: is a sink's replication slot kept in step (see
 *	  slot_sync_check.h)?
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "fmgr.h"
#include "replication/slot.h"
#include "storage/lwlock.h"
#include "utils/memutils.h"

#include "compat.h"
#include "worker/slot_sync_check.h"

#ifdef KS_HAVE_FAILOVER_SLOTS
#include "replication/slotsync.h"
#include "replication/walreceiver.h"
#endif

#ifdef KS_HAVE_FAILOVER_SLOTS
static const char *const enable_hint =
"Set sync_replication_slots = on, hot_standby_feedback = on, primary_slot_name to this standby's physical slot on the primary and a dbname in primary_conninfo; or let a sink resynchronize after a promotion (its option on_slot_lost = resync).";

/*
 * Does primary_conninfo name a database?  As the slot sync worker asks
 * (CheckAndGetDbnameFromConninfo), through libpqwalreceiver's parser; a
 * string it cannot parse names none.
 */
static bool
conninfo_has_dbname(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *dbname = NULL;

	load_file("libpqwalreceiver", false);
	PG_TRY();
	{
		dbname = walrcv_get_dbname_from_conninfo(PrimaryConnInfo);
	}
	PG_CATCH();
	{
		/* a parse error, nothing held: forget it and say "no dbname" */
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		dbname = NULL;
	}
	PG_END_TRY();
	return dbname != NULL;
}
#endif

void
ks_slot_sync_settings(KsSlotSyncCheck *check)
{
	check->settings = KS_SLOT_SYNC_OK;
	check->elevel = WARNING;
	check->status = NULL;
	check->detail = NULL;
	check->hint = NULL;

	if (!RecoveryInProgress())
	{
		check->settings = KS_SLOT_SYNC_NOT_STANDBY;
		return;
	}
#ifndef KS_HAVE_FAILOVER_SLOTS
	check->settings = KS_SLOT_SYNC_UNAVAILABLE;
	check->elevel = LOG;
	check->status = "failover slots are unavailable on PostgreSQL " PG_MAJORVERSION ": a promotion of this standby loses the sink's slot";
	check->detail = "Only PostgreSQL 17 and later keep a logical replication slot in step on a standby (failover slots); here the sinks' slots exist on the primary only.";
	check->hint = "After a promotion a sink stops in state error, or resynchronizes every table with its option on_slot_lost = resync (see the Failover section of docs/operations.md).";
#else
	if (!sync_replication_slots)
	{
		check->settings = KS_SLOT_SYNC_OFF;
		check->elevel = LOG;
		check->status = "sync_replication_slots is off: this standby does not keep the sink's slot, a promotion loses it";
		check->detail = "The sinks' slots are failover slots, but this standby does not synchronize them (sync_replication_slots = off).";
		check->hint = enable_hint;
	}
	else if (wal_level < WAL_LEVEL_LOGICAL)
	{
		check->settings = KS_SLOT_SYNC_WAL_LEVEL;
		check->status = "sync_replication_slots is on, but wal_level is not logical: the sink's slot is not synchronized";
		check->detail = "Replication slot synchronization needs wal_level = logical on the standby too.";
		check->hint = "Set wal_level = logical on this standby (ALTER SYSTEM SET wal_level = logical) and restart it.";
	}
	else if (PrimarySlotName == NULL || PrimarySlotName[0] == '\0')
	{
		check->settings = KS_SLOT_SYNC_NO_PRIMARY_SLOT;
		check->status = "sync_replication_slots is on, but primary_slot_name is empty: the sink's slot is not synchronized";
		check->detail = "Replication slot synchronization needs primary_slot_name: the standby's physical slot on the primary keeps the rows that the synchronized slots need.";
		check->hint = "Create a physical slot on the primary (SELECT pg_create_physical_replication_slot('standby1')), set primary_slot_name to it here (ALTER SYSTEM SET primary_slot_name = 'standby1') and reload (SELECT pg_reload_conf()).";
	}
	else if (!hot_standby_feedback)
	{
		check->settings = KS_SLOT_SYNC_NO_FEEDBACK;
		check->status = "sync_replication_slots is on, but hot_standby_feedback is off: the sink's slot is not synchronized";
		check->detail = "Replication slot synchronization needs hot_standby_feedback = on, so that the primary keeps the catalog rows the synchronized slots need.";
		check->hint = "ALTER SYSTEM SET hot_standby_feedback = on; SELECT pg_reload_conf();";
	}
	else if (PrimaryConnInfo == NULL || PrimaryConnInfo[0] == '\0')
	{
		check->settings = KS_SLOT_SYNC_NO_CONNINFO;
		check->status = "sync_replication_slots is on, but primary_conninfo is empty: the sink's slot is not synchronized";
		check->detail = "Replication slot synchronization reads the primary's slots through primary_conninfo.";
		check->hint = "Set primary_conninfo to the primary, with a dbname (ALTER SYSTEM SET primary_conninfo = '... dbname=postgres'), and reload (SELECT pg_reload_conf()).";
	}
	else if (!conninfo_has_dbname())
	{
		check->settings = KS_SLOT_SYNC_NO_DBNAME;
		check->status = "sync_replication_slots is on, but primary_conninfo names no dbname: the sink's slot is not synchronized";
		check->detail = "Replication slot synchronization connects to a database of the primary: primary_conninfo must name one (dbname).";
		check->hint = "Add dbname=<a database of the primary> to primary_conninfo (ALTER SYSTEM SET primary_conninfo = '... dbname=postgres') and reload (SELECT pg_reload_conf()).";
	}
#endif
}

char *
ks_slot_sync_problem(const char *slot_name)
{
	KsSlotSyncCheck check;
	char	   *problem = NULL;

	ks_slot_sync_settings(&check);
	if (check.settings == KS_SLOT_SYNC_NOT_STANDBY)
		return NULL;
	if (check.status != NULL)
		return pstrdup(check.status);
#ifdef KS_HAVE_FAILOVER_SLOTS
	{
		ReplicationSlot *found;

		LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
		found = SearchNamedReplicationSlot(slot_name, false);
		if (found == NULL)
			problem = "not synchronized yet: the standby has no copy of the sink's slot (the slot sync worker copies a failover slot within about 30 s; a slot made before PostgreSQL 17 or without failover is never copied)";
		else if (!found->data.synced)
			problem = "the standby's slot of this name is its own, not synchronized from the primary: a promotion does not carry the sink's position";
		else if (found->data.invalidated != RS_INVAL_NONE)
			problem = "the synchronized copy of the sink's slot is invalidated (pg_replication_slots.invalidation_reason): a promotion loses the sink's position";
		LWLockRelease(ReplicationSlotControlLock);
	}
#else
	(void) slot_name;
#endif
	return problem ? pstrdup(problem) : NULL;
}
