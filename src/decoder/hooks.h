/*-------------------------------------------------------------------------
 *
 * hooks.h
 *	  In-process consumers of the output plugin (the sink worker).
 *
 * When ks_decoder_hooks is set before a decoding context is created, the
 * plugin hands every record to record() instead of writing it to the
 * decoding output, and reports each transaction's commit to commit().  The
 * record text is valid only during the call.  `index` numbers the records
 * of one transaction from 0, so (commit_lsn, index) orders every record the
 * slot ever produces.  `lsn` is the change's own WAL position (records of
 * one WAL record share it: a multi-insert's rows, a key-changing update's
 * delete and insert; such records are always adjacent).  `shape` lists the
 * record's fields (a shape change is where ALTER TABLE took effect).  A
 * consumer that does not set the hooks (SQL
 * functions, pg_recvlogical) gets the plugin's ordinary output.
 *
 * message() reports a non-transactional logical decoding message with the
 * prefix KS_SNAPSHOT_MESSAGE_PREFIX (the sink worker's snapshot chunks,
 * worker/snapshot.h) at its place in the stream: after every transaction
 * that committed before it, before every one that committed after it.
 * `lsn` is the end of the message's WAL record, as
 * pg_logical_emit_message() returned it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_DECODER_HOOKS_H
#define KS_DECODER_HOOKS_H

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"

/*
 * The fields of a relation's records, in record order (the order is what
 * CSV's ordinals follow): name and Kusto type of each column, then of each
 * enabled metadata column.  `hash` identifies the list; it changes when a
 * column is added, dropped, renamed or changes its Kusto type.  Owned by the
 * plugin and valid only during the call.
 */
typedef struct KsShape
{
	int			ncolumns;
	const char **names;
	const char **types;
	uint64		hash;
} KsShape;

#define KS_SNAPSHOT_MESSAGE_PREFIX "kusto_sink_snapshot"

typedef struct KsDecoderHooks
{
	void		(*record) (void *arg, Oid relid, const KsShape *shape,
						   const char *data, int len,
						   XLogRecPtr lsn, XLogRecPtr commit_lsn, int64 index);
	void		(*commit) (void *arg, XLogRecPtr commit_lsn, XLogRecPtr end_lsn,
						   TimestampTz commit_time, int64 nrecords);
	void		(*message) (void *arg, XLogRecPtr lsn, const char *content, Size size);
	void	   *arg;
} KsDecoderHooks;

extern PGDLLIMPORT KsDecoderHooks *ks_decoder_hooks;

#endif							/* KS_DECODER_HOOKS_H */
