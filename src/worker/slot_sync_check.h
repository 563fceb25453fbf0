/*-------------------------------------------------------------------------
 *
 * slot_sync_check.h
 *	  On a standby: is a sink's replication slot kept in step, so that a
 *	  promotion finds it?  One check for the launcher's log and for
 *	  kusto_sink.status (column slot_sync_problem).
 *
 * PostgreSQL 17 and later synchronize a failover slot to a standby whose
 * settings let them (sync_replication_slots, and what slotsync.c's
 * ValidateSlotSyncParams and the slot sync worker need: wal_level logical,
 * primary_slot_name, hot_standby_feedback, a dbname in primary_conninfo).
 * With sync_replication_slots on and one of the others missing, PostgreSQL
 * says so only in its slot sync worker's log lines; the sinks' slots are
 * then silently missing at the promotion.  ks_slot_sync_settings finds the
 * first setting that stops slot synchronization on this server (in
 * PostgreSQL's order) and says what to do, in words for the log (message,
 * detail, hint) and for the status; ks_slot_sync_problem adds what the
 * standby's own copy of one slot says (not synchronized yet, not a
 * synchronized slot, invalidated).  Before 17 there are no failover slots:
 * the check says so.  Both answer "no problem" when the server is not in
 * recovery.  GUCs are read from PostgreSQL's own variables only.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_SLOT_SYNC_CHECK_H
#define KS_WORKER_SLOT_SYNC_CHECK_H

typedef enum KsSlotSyncSettings
{
	KS_SLOT_SYNC_NOT_STANDBY,	/* not in recovery: nothing to keep in step */
	KS_SLOT_SYNC_OK,			/* the settings let the slots be synchronized */
	KS_SLOT_SYNC_UNAVAILABLE,	/* PostgreSQL before 17: no failover slots */
	KS_SLOT_SYNC_OFF,			/* sync_replication_slots is off */
	KS_SLOT_SYNC_WAL_LEVEL,		/* ... on, but wal_level is below logical */
	KS_SLOT_SYNC_NO_PRIMARY_SLOT,	/* ... primary_slot_name is empty */
	KS_SLOT_SYNC_NO_FEEDBACK,	/* ... hot_standby_feedback is off */
	KS_SLOT_SYNC_NO_CONNINFO,	/* ... primary_conninfo is empty */
	KS_SLOT_SYNC_NO_DBNAME		/* ... primary_conninfo names no dbname */
} KsSlotSyncSettings;

typedef struct KsSlotSyncCheck
{
	KsSlotSyncSettings settings;
	int			elevel;			/* WARNING for a misconfiguration, LOG for a
								 * choice (off, or no failover slots) */
	const char *status;			/* for kusto_sink.status; NULL when fine */
	const char *detail;			/* for the log: which setting, and why */
	const char *hint;			/* for the log: the fix */
} KsSlotSyncCheck;

/* this server's settings (palloc'd words) */
extern void ks_slot_sync_settings(KsSlotSyncCheck *check);

/*
 * Why the sink slot slot_name is not kept in step on this standby: the
 * settings' status text, else what its copy here says; NULL when it is (or
 * the server is not in recovery).  palloc'd.
 */
extern char *ks_slot_sync_problem(const char *slot_name);

#endif							/* KS_WORKER_SLOT_SYNC_CHECK_H */
