/*-------------------------------------------------------------------------
 *
 * record.h
 *	  One change -> one record in the sink's format.
 *
 * ks_append_record() appends one JSON object (format json) or one CSV
 * record (format csv), without a line terminator, for a row image of a
 * relation plus the enabled metadata columns:
 *	- tuple NULL: no user columns (truncate; delete without an old key);
 *	- key_only: only the replica identity key columns (delete under
 *	  REPLICA IDENTITY DEFAULT or INDEX);
 *	- an unchanged TOASTed value (an update that did not touch it) is taken
 *	  from `fallback` (the old row under REPLICA IDENTITY FULL) when there is
 *	  one, else it is left out (JSON), written as an empty field (CSV), and
 *	  its column name is listed in the unchanged_toast metadata column.
 * CSV records always have every column of the table, in table order, then
 * the enabled metadata columns in their fixed order.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_RECORD_H
#define KS_RECORD_H

#include "access/htup.h"
#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"

#include "decoder/options.h"
#include "decoder/relinfo.h"

typedef struct KsChangeMeta
{
	const char *op;				/* insert, update, delete, truncate */
	XLogRecPtr	lsn;			/* the change's own LSN */
	XLogRecPtr	commit_lsn;
	TimestampTz commit_time;
	TransactionId xid;
} KsChangeMeta;

extern void ks_append_record(StringInfo out, const KsDecoderOptions *opts,
							 KsRelInfo *rel, TupleDesc desc,
							 HeapTuple tuple, HeapTuple fallback, bool key_only,
							 const KsChangeMeta *meta);

#endif							/* KS_RECORD_H */
