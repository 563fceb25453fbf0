/*-------------------------------------------------------------------------
 *
 * in_doubt.h
 *	  Batches whose fate in Kusto is not known yet: the half of the shipper
 *	  (ship.c) that finds out, once a send is made or when one may have been.
 *
 * A queued send that the queue took waits for its status
 * (ks_doubt_await_status: AWAITING_STATUS); the status is read after 250 ms,
 * then at doubling pauses up to 2 s (longer with many batches waiting:
 * 5 ms per waiting batch, so the statuses read stay about 200 a second),
 * until it is final.  A read that is due takes along the reads of the same
 * status table due within the next second, up to 15 statuses in one
 * request (a KsStatusGroup: kusto_get_ingest_statuses).  Exactly once, a
 * batch IN_DOUBT (rebuilt after a restart, or a send that failed after Kusto
 * may have taken it) is not sent before ks_doubt_resume() found out whether
 * it is there: a stream, which carries no tag, is looked up in its table by
 * its first record (PROBING); a queued send by its status (CHECKING_STATUS).
 * The states and their moves: batch.h; why a probe can tell: in_doubt.c.
 *
 * ks_doubt_probed() and ks_doubt_status_read() take the answer of the
 * request a batch in one of those states made and say what comes next:
 *	KS_NEXT_WAIT	another request was started or a status read scheduled:
 *					the batch stays in flight;
 *	KS_NEXT_SEND	it is not in Kusto: the caller sends it;
 *	KS_NEXT_DONE	settled: *outcome says how (and message why it failed);
 *					the batch is ACKED, or in the state its next send starts
 *					from (ks_batch_retry_state).
 * On entry *outcome is the request's own outcome (did Kusto answer?).
 *
 * The batches waiting for their next status read are held here
 * (ks_doubt_waiting counts them); ks_doubt_start_due() starts the reads that
 * are due.  A request of a group answers for each of its batches: the caller
 * finds the group by ks_doubt_group(), hands each batch's status to
 * ks_doubt_status_read() (or, when the answer lacked it, to
 * ks_doubt_read_alone(): read again at once, alone) and then calls
 * ks_doubt_group_done().  ks_doubt_awaiting() counts the batches sent that wait for a
 * status (AWAITING_STATUS and CHECKING_STATUS: they hold no shipping slot,
 * and their bytes wait in the spill file, batch.c) and gives the oldest
 * one's send time.  Every other batch in flight has one request of the core running.
 * Nothing here sends a batch or raises an error for Kusto's answers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_IN_DOUBT_H
#define KS_WORKER_IN_DOUBT_H

#include "kusto/kusto.h"
#include "worker/batch.h"
#include "worker/config.h"
#include "worker/ship.h"

typedef enum KsShipNext
{
	KS_NEXT_WAIT,
	KS_NEXT_SEND,
	KS_NEXT_DONE
} KsShipNext;

typedef struct KsDoubt KsDoubt;

/* The batches whose statuses one request reads (in_doubt.c) */
typedef struct KsStatusGroup
{
	int			n;
	KsBatch    *batches[KUSTO_STATUS_READ_MAX];	/* in the request's order */
} KsStatusGroup;

extern KsDoubt *ks_doubt_create(kusto_client *client, KsSinkConfig *config);
extern void ks_doubt_resume(KsDoubt *doubt, KsBatch *batch);
extern void ks_doubt_await_status(KsDoubt *doubt, KsBatch *batch);
extern long ks_doubt_start_due(KsDoubt *doubt);
extern int	ks_doubt_waiting(KsDoubt *doubt);
extern KsStatusGroup *ks_doubt_group(KsDoubt *doubt, void *user);
extern void ks_doubt_group_done(KsDoubt *doubt, KsStatusGroup *group);
extern void ks_doubt_read_alone(KsDoubt *doubt, KsBatch *batch);
extern int	ks_doubt_awaiting(KsDoubt *doubt, TimestampTz *oldest);
extern KsShipNext ks_doubt_probed(KsDoubt *doubt, KsBatch *batch, const kusto_error *err,
								  long long count, KsShipOutcome *outcome,
								  char *message, size_t size);
extern KsShipNext ks_doubt_status_read(KsDoubt *doubt, KsBatch *batch, const kusto_error *err,
									   const kusto_ingest_status *st, KsShipOutcome *outcome,
									   char *message, size_t size);

/* ship.c: a failure of the core as a message (never with a secret) */
extern void ks_ship_describe(char *message, size_t size, const kusto_error *err);

/* An answer settled the batch: ACKED, or the state its next send starts from. */
static inline KsShipNext
ks_ship_finished(KsBatch *batch, KsShipOutcome outcome, bool in_doubt)
{
	ks_batch_set_state(batch, outcome == KS_SHIP_ACKED ? KS_BATCH_ACKED :
					   ks_batch_retry_state(batch, in_doubt));
	return KS_NEXT_DONE;
}

#endif							/* KS_WORKER_IN_DOUBT_H */
