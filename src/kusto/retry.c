/*-------------------------------------------------------------------------
 *
 * retry.c
 *	  The retry policy every caller of the ingest core shares.
 *
 * kusto_retry_delay_ms(): how long to wait before attempt number
 * `attempt` + 1 after an error, or -1 when the error must not be retried
 * (permanent, auth, cancelled) or the attempts are used up.  Exponential
 * backoff from 1 s, doubling, capped at 60 s, with "equal jitter" (half
 * fixed, half random) so that many sinks do not retry in step; never less
 * than the server's Retry-After.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>

#include "kusto_int.h"

#define RETRY_BASE_MS 1000L
#define RETRY_CAP_MS 60000L

long
kusto_retry_delay_ms(int attempt, int max_attempts, const kusto_error *err, unsigned int *seed)
{
	long		backoff = RETRY_BASE_MS;
	long		delay;
	int			i;

	if (err->status != KUSTO_ERR_TRANSIENT && err->status != KUSTO_ERR_THROTTLED)
		return -1;
	if (max_attempts > 0 && attempt >= max_attempts)
		return -1;
	for (i = 1; i < attempt && backoff < RETRY_CAP_MS; i++)
		backoff *= 2;
	if (backoff > RETRY_CAP_MS)
		backoff = RETRY_CAP_MS;
	delay = backoff / 2 + (long) (rand_r(seed) % (unsigned int) (backoff / 2 + 1));
	if (err->retry_after_s >= 0 && (long) err->retry_after_s * 1000 > delay)
		delay = (long) err->retry_after_s * 1000;
	return delay;
}
