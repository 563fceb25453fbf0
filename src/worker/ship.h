/*-------------------------------------------------------------------------
 *
 * ship.h
 *	  Sending batches to Kusto through the ingest core, without blocking the
 *	  worker: the bridge between the worker (PostgreSQL) and src/kusto/.
 *
 * ks_ship_start() begins sending a batch that waits to be sent (SEALED,
 * RECORDED or IN_DOUBT: batch.h) with the sink's ingestion method, after
 * finding out whether Kusto has it already when it is in doubt
 * (in_doubt.h); ks_ship_poll() drives the transfers for at most timeout_ms
 * and reports each finished batch to done() with its outcome: acknowledged
 * (queued: the queue accepted it, or its status became Succeeded when
 * poll_for_ingestion_status is on; streaming: 200), a transient failure (the
 * core's retries ran out: send it again later), a permanent one, or one that
 * no batch of the sink can get past (KS_SHIP_STOP: a streaming sink on a
 * cluster or table without streaming; its message says what to do).  The
 * message is NULL for an acknowledged batch, unless there is something to
 * report (a managed sink that goes queued because streaming is unavailable):
 * a notice for kusto_sink.status.  The batch is then ACKED, or in the state
 * its next send starts from.
 * A queued
 * batch the queue took waits for its status in a set of its own
 * (ks_ship_awaiting counts it): sending and confirming are separate stages,
 * and only the sending holds one of the worker's shipping slots.
 * ks_ship_command() and ks_ship_table_schema() run management commands and
 * wait (kusto_tables.c prepares the sink's Kusto tables with them).
 * Messages never contain secrets.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_SHIP_H
#define KS_WORKER_SHIP_H

#include "worker/batch.h"
#include "worker/config.h"

typedef enum KsShipOutcome
{
	KS_SHIP_ACKED,
	KS_SHIP_TRANSIENT,
	KS_SHIP_PERMANENT,
	KS_SHIP_STOP				/* permanent for every batch of the sink (a
								 * streaming sink on a cluster without
								 * streaming): it stops in state error, never
								 * a dead letter */
} KsShipOutcome;

typedef void (*KsShipDone) (void *arg, KsBatch *batch, KsShipOutcome outcome,
							const char *message);

typedef struct KsShipper KsShipper;

/* kusto_sink.pending_resend_after (in_doubt.c) */
extern int	ks_pending_resend_after_ms;

/*
 * check() (called often, also from inside the core's transfers: it must be
 * cheap and raise no error) returning true makes every transfer and wait
 * of the core end at once, as cancelled (a transient failure).
 */
extern void ks_ship_set_stop_check(bool (*check) (void));
extern KsShipper *ks_shipper_create(KsSinkConfig *config);
extern void ks_ship_start(KsShipper *shipper, KsBatch *batch);
extern int	ks_ship_poll(KsShipper *shipper, int timeout_ms, KsShipDone done, void *arg);
extern int	ks_ship_inflight(KsShipper *shipper);
extern int	ks_ship_awaiting(KsShipper *shipper, TimestampTz *oldest);
extern size_t ks_ship_streaming_limit(KsShipper *shipper);
extern long ks_ship_retry_delay_ms(KsBatch *batch, KsShipOutcome outcome);
extern KsShipOutcome ks_ship_command(KsShipper *shipper, const char *csl, char *message, size_t size);
extern KsShipOutcome ks_ship_read_schema(KsShipper *shipper, const char *table, char **schema,
										 char *message, size_t size);
extern char *ks_ship_table_schema(KsShipper *shipper, const char *table);

#endif							/* KS_WORKER_SHIP_H */
