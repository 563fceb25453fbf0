/*-------------------------------------------------------------------------
 *
 * dead_letters.h
 *	  A sink's dead letters (on_error = dead_letter) in kusto_sink.dead_letter:
 *	  the batches Kusto rejected for good, stored with their records and the
 *	  error, and sent again when retry_dead_letter() asks.
 *
 * The worker hands over a rejected batch (ks_dead_letters_reject) and the
 * outcome of a dead letter it sent again (ks_dead_letters_resent); the
 * SQL happens in ks_dead_letters_settle(), outside decoding, in one
 * transaction of its own: it stores the rejected batches, deletes the dead
 * letters Kusto accepted, keeps the ones it rejected again with their new
 * error, and returns the rejected batches it stored (to be settled by the
 * caller) and the dead letters a retry asked for, as sealed batches (seq 0,
 * dead_letter_id set) in batch_cxt.  Between settles it looks for retry
 * requests every KS_DEAD_LETTER_CHECK_MS.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_DEAD_LETTERS_H
#define KS_WORKER_DEAD_LETTERS_H

#include "nodes/pg_list.h"

#include "worker/batch.h"

#define KS_DEAD_LETTER_CHECK_MS 10000

typedef struct KsDeadLetters KsDeadLetters;

extern KsDeadLetters *ks_dead_letters_create(const char *sink, const char *format,
											 MemoryContext batch_cxt);
extern void ks_dead_letters_reject(KsDeadLetters *dl, KsBatch *batch, const char *error);
extern void ks_dead_letters_resent(KsDeadLetters *dl, KsBatch *batch, const char *error);
extern void ks_dead_letters_settle(KsDeadLetters *dl, bool check_requests,
								   List **stored, List **retry);

#endif							/* KS_WORKER_DEAD_LETTERS_H */
