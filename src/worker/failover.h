/*-------------------------------------------------------------------------
 *
 * failover.h
 *	  A sink's replication slot across the promotion of a standby.
 *
 * PostgreSQL 17 and later: a sink's slot is a failover slot
 * (ks_create_sink_slot), which a standby with sync_replication_slots keeps
 * in step.  The primary must not let Kusto get ahead of those standbys, or
 * after a promotion Kusto would hold rows that the new primary lacks: the
 * worker decodes only WAL that the standbys named in
 * synchronized_standby_slots have confirmed (ks_standbys_confirmed, as
 * pg_logical_slot_get_changes does for a failover slot), and sends an
 * exactly-once batch only once they also have its row of the protocol
 * (ks_wait_for_standbys), so the new primary knows to look for it.  Both
 * answer at once when the slot is no failover slot or nothing is configured.
 *
 * PostgreSQL 15 and 16, or a standby that did not synchronize slots: after
 * the promotion the slot does not exist.  ks_check_slot finds out before the
 * worker decodes anything, and by the sink's option on_slot_lost either
 * fails the worker with an error that says what happened ("error", the
 * default) or creates a new slot and resynchronizes every table ("resync":
 * the snapshot that resnapshot_sink asks for, ending in snapshot_done
 * records).  Nothing here runs in recovery: the workers start only once the
 * server is promoted (BgWorkerStart_RecoveryFinished; the launcher waits
 * on a standby, see slot_sync_check.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_FAILOVER_H
#define KS_WORKER_FAILOVER_H

#include "access/xlogdefs.h"

#include "worker/config.h"
#include "worker/registry.h"

/* creates the sink's slot (failover where the server has them); refuses on a standby */
extern void ks_create_sink_slot(const char *slot_name);

/*
 * Before decoding: the slot is there, or on_slot_lost says what to do (runs
 * as superuser).  Waits for the standbys are reported in `slot`'s status.
 */
extern void ks_check_slot(KsSinkConfig *config, KsSinkSlot *slot);

/*
 * Have the standbys of synchronized_standby_slots confirmed WAL up to lsn?
 * For the acquired slot (MyReplicationSlot); says why in the log and the
 * sink's status once it has waited a while.
 */
extern bool ks_standbys_confirmed(XLogRecPtr lsn);

/* waits (interruptibly) until ks_standbys_confirmed(lsn) */
extern void ks_wait_for_standbys(XLogRecPtr lsn);

#endif							/* KS_WORKER_FAILOVER_H */
