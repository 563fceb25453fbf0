/*-------------------------------------------------------------------------
 *
 * decode.h
 *	  Decoding a sink's replication slot inside the sink worker.
 *
 * A KsDecodeStream owns the slot for the life of the worker (as a walsender
 * does) and one logical decoding context with the kusto_sink plugin, whose
 * records go to the caller's KsDecoderHooks.  ks_decode_step() processes WAL
 * records up to the current flush position (a failover slot: up to what the
 * standbys of synchronized_standby_slots confirmed, failover.h), at most
 * `max_records` decoded records' worth, and never waits for WAL or for the
 * standbys; it returns true when it stopped because it caught up (or waits
 * for them).  A hook that calls ks_decode_pause() ends the step
 * right after the WAL record it is decoding, so that the caller can act at
 * that point of the stream (the snapshot chunks, sink_worker.c).
 * ks_decode_confirm() moves the slot's confirmed position (and so what WAL
 * the slot retains) and writes the slot to disk.
 * Errors are raised as PostgreSQL errors; the worker exits on them and the
 * slot is released by process exit.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_DECODE_H
#define KS_WORKER_DECODE_H

#include "access/xlogdefs.h"
#include "nodes/pg_list.h"

#include "decoder/hooks.h"

typedef struct KsDecodeStream KsDecodeStream;

extern KsDecodeStream *ks_decode_start(const char *slot_name, List *plugin_options,
									   KsDecoderHooks *hooks);
extern bool ks_decode_step(KsDecodeStream *stream, int64 max_records, int64 *nrecords);
extern void ks_decode_pause(KsDecodeStream *stream);
extern void ks_decode_confirm(KsDecodeStream *stream, XLogRecPtr lsn);
extern XLogRecPtr ks_decode_position(KsDecodeStream *stream);
extern XLogRecPtr ks_decode_confirmed(KsDecodeStream *stream);
extern void ks_decode_stop(KsDecodeStream *stream);

#endif							/* KS_WORKER_DECODE_H */
