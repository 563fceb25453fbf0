/*-------------------------------------------------------------------------
 *
 * crashpoint.h
 *	  A test hook for the exactly-once fault suite: ks_crash_point(name)
 *	  kills the calling worker with SIGKILL when the superuser-only GUC
 *	  kusto_sink.test_crash_file names a file that holds `name`.  The file is
 *	  removed first, so a crash happens once and the restarted worker goes
 *	  on.  A file that holds `pause:name` makes the worker wait at that
 *	  point (interruptibly, latch waits) until the test removes the file.
 *	  With the GUC empty (the default) it costs one string test.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_CRASHPOINT_H
#define KS_WORKER_CRASHPOINT_H

extern char *ks_test_crash_file;

extern void ks_crash_point(const char *name);

#endif							/* KS_WORKER_CRASHPOINT_H */
