/*-------------------------------------------------------------------------
 *
 * ack_window.h
 *	  Which decoded commits a sink may confirm: the acknowledgement
 *	  watermark over its batches (see sink_worker.c).
 *
 * Batches get a sequence number when they open (ks_ack_open: 1, 2, ...) and
 * are forgotten when Kusto acknowledged them or they were settled otherwise
 * (ks_ack_done).  At each commit the worker notes the commit's end position
 * with the newest sequence number open then (ks_ack_commit).  A commit is
 * confirmable once every batch up to that number is done: ks_ack_confirmable
 * pops those commits, oldest first, and returns the newest one popped.
 * Batches may be done in any order; commits come out in order.  Everything
 * lives in TopMemoryContext, so the calls may come from inside decoding.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_ACK_WINDOW_H
#define KS_WORKER_ACK_WINDOW_H

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"

typedef struct KsAckWindow KsAckWindow;

extern KsAckWindow *ks_ack_create(void);
extern uint64 ks_ack_open(KsAckWindow *w);
extern void ks_ack_done(KsAckWindow *w, uint64 seq);
extern void ks_ack_commit(KsAckWindow *w, XLogRecPtr end_lsn, TimestampTz commit_time);
extern bool ks_ack_confirmable(KsAckWindow *w, XLogRecPtr *end_lsn, TimestampTz *commit_time);
extern int	ks_ack_pending_commits(KsAckWindow *w);
extern TimestampTz ks_ack_oldest_commit_time(KsAckWindow *w);

#endif							/* KS_WORKER_ACK_WINDOW_H */
