/*-------------------------------------------------------------------------
 *
 * launcher.h
 *	  The launcher: one background worker, started at server start, that
 *	  keeps one sink worker running per enabled sink.
 *
 * The launcher connects to the database named by kusto_sink.database, where
 * the sinks are configured.  It reads kusto_sink.sink every
 * kusto_sink.launcher_naptime (and at once when the SQL API signals a
 * change), starts a dynamic background worker for each enabled sink that
 * has none, restarts a worker that exited abnormally after an exponential
 * backoff (1 s doubling to 5 min), and stops the workers of sinks that were
 * paused or dropped.
 *
 * On a hot standby it starts no worker while the server is in recovery: it
 * logs once per configuration (again after a reload changes it) whether the
 * standby keeps the sinks' slots in step for a promotion (slot_sync_check.h),
 * and goes on as above once the server is promoted.
 *
 * A server that pg_upgrade runs (binary-upgrade mode) has no launcher, and so
 * runs no sink.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_LAUNCHER_H
#define KS_WORKER_LAUNCHER_H

#include "fmgr.h"

extern char *ks_database;

extern void ks_register_launcher(void);
extern PGDLLEXPORT void ks_launcher_main(Datum main_arg);

#endif							/* KS_WORKER_LAUNCHER_H */
