/*-------------------------------------------------------------------------
 *
 * registry.h
 *	  The shared-memory registry of sinks: one slot per sink, holding its
 *	  worker's state and the counters kusto_sink.status shows.
 *
 * Slots are found by sink name under the registry's LWLock.  A slot outlives
 * its worker, so counters survive worker restarts (not server restarts);
 * `generation` tells a relaunched worker from a stale one.  Counters are
 * written only by the sink's own worker (under the slot's spinlock) and read
 * by anyone.  Requests to the worker (flush, stop, reload) are bits of an
 * atomic word that backends and the launcher set and the worker takes, so no
 * one reads or writes them unlocked; `dropping` is read and written under
 * the registry's lock.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_REGISTRY_H
#define KS_WORKER_REGISTRY_H

#include "access/xlogdefs.h"
#include "pg_config_manual.h"
#include "port/atomics.h"
#include "datatype/timestamp.h"
#include "storage/lwlock.h"
#include "storage/spin.h"

#define KS_NAME_LEN 64			/* sink names: create_sink allows 52 bytes, the
								 * launcher skips a longer one (never cut) */
#define KS_ERROR_LEN 512
#define KS_LATENCY_WINDOW 256	/* recent batches kept for p50/p99 */

typedef enum KsSinkState
{
	KS_STATE_STOPPED = 0,
	KS_STATE_STARTING,
	KS_STATE_RUNNING,
	KS_STATE_PAUSED,
	KS_STATE_ERROR
} KsSinkState;

/* requests to a sink's worker: bits of KsSinkSlot.requests */
#define KS_REQUEST_FLUSH	0x1		/* flush_sink(): seal and send what is open */
#define KS_REQUEST_STOP		0x2		/* drop_sink(): settle in-flight batches, exit */
#define KS_REQUEST_RELOAD	0x4		/* configuration changed: settle and restart */

typedef struct KsSinkSlot
{
	bool		in_use;
	char		name[KS_NAME_LEN];
	Oid			dboid;
	char		owner[NAMEDATALEN];
	Oid			owner_oid;		/* the sink's owner */
	bool		enabled;		/* as the catalog says (not paused) */
	bool		seen;			/* still in the catalog at the last look */
	uint64		generation;		/* bumped at every launch */
	int			pid;			/* the worker's, 0 when none */
	pg_atomic_uint32 requests;	/* KS_REQUEST_* bits (ks_slot_request) */
	bool		dropping;		/* being dropped: a new launch exits at once
								 * (under the registry's lock) */
	TimestampTz config_stamp;	/* catalog change time the worker runs with */
	TimestampTz last_exit;		/* for the restart backoff */
	int			failures;		/* consecutive abnormal exits */

	slock_t		mutex;			/* protects everything below */
	KsSinkState state;
	XLogRecPtr	confirmed_lsn;	/* the slot's confirmed position */
	XLogRecPtr	decoded_lsn;	/* how far the worker has read */
	TimestampTz last_commit_time;	/* of the newest acknowledged change */
	TimestampTz oldest_pending;	/* commit time of the oldest unacknowledged change, or 0 */
	int			awaiting_status;	/* queued batches sent, waiting for their status */
	TimestampTz oldest_awaiting_status; /* when the oldest of them was sent, or 0 */
	uint64		rows_sent;
	uint64		batches_sent;
	uint64		raw_bytes;
	uint64		compressed_bytes;
	uint64		ingestion_failures;
	uint64		retries;
	TimestampTz last_success;
	TimestampTz last_error_time;
	char		last_error[KS_ERROR_LEN];
	char		skipped_tables[KS_ERROR_LEN];	/* source tables that can never work, and why */
	int			latency_next;
	int			latency_count;
	float4		latency_ms[KS_LATENCY_WINDOW];	/* commit -> acknowledged */
} KsSinkSlot;

typedef struct KsRegistry
{
	LWLock	   *lock;
	int			launcher_pid;
	int			nslots;
	KsSinkSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} KsRegistry;

extern KsRegistry *ks_registry;

extern Size ks_registry_size(void);
extern void ks_registry_request(void);
extern void ks_registry_attach(void);
extern KsSinkSlot *ks_registry_find(const char *name, Oid dboid, bool create);
extern void ks_slot_set_error(KsSinkSlot *slot, const char *message);
extern void ks_slot_add_latency(KsSinkSlot *slot, double ms);
extern void ks_wake_launcher(void);
extern bool ks_slot_visible_to(const KsSinkSlot *slot, Oid roleid);

/* ask the worker for something (the caller then sets its latch) */
static inline void
ks_slot_request(KsSinkSlot *slot, uint32 bits)
{
	pg_atomic_fetch_or_u32(&slot->requests, bits);
}

/* whether any of these requests is pending */
static inline bool
ks_slot_requested(KsSinkSlot *slot, uint32 bits)
{
	return (pg_atomic_read_u32(&slot->requests) & bits) != 0;
}

/* clear these requests; whether any of them was pending */
static inline bool
ks_slot_take_request(KsSinkSlot *slot, uint32 bits)
{
	return (pg_atomic_fetch_and_u32(&slot->requests, ~bits) & bits) != 0;
}

#endif							/* KS_WORKER_REGISTRY_H */
