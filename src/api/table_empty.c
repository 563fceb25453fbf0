/*-------------------------------------------------------------------------
 *
 * table_empty.c
 *	  Whether a table has no row at all, for create_sink's initial snapshot.
 *
 *	kusto_sink._table_empty(rel regclass): true when the table has no row
 *	visible to a fresh snapshot taken under a SHARE lock, which waits for
 *	every writer to have ended (a writer whose commit record is in the WAL
 *	may still be running, waiting for a synchronous standby, say; a plain
 *	snapshot would not see its rows).  False when it has a row, when the
 *	lock is not free at once (a writer is at it), or when it is not a table.
 *	The lock is released before returning, so that a sink over thousands of
 *	tables does not hold thousands of locks.  Rows are looked at as they
 *	are stored, whatever the policies of row-level security say.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/tableam.h"
#include "catalog/pg_class.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "storage/lmgr.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(kusto_sink_table_empty);

Datum
kusto_sink_table_empty(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel;
	Snapshot	snapshot;
	TableScanDesc scan;
	TupleTableSlot *slot;
	bool		empty;

	if (!ConditionalLockRelationOid(relid, ShareLock))
		PG_RETURN_BOOL(false);
	rel = try_relation_open(relid, NoLock);
	if (rel == NULL || rel->rd_rel->relkind != RELKIND_RELATION)
	{
		if (rel != NULL)
			relation_close(rel, NoLock);
		UnlockRelationOid(relid, ShareLock);
		PG_RETURN_BOOL(false);
	}
	/* taken now, under the lock: every writer has ended */
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, snapshot, 0, NULL);
	empty = !table_scan_getnextslot(scan, ForwardScanDirection, slot);
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	relation_close(rel, ShareLock);
	PG_RETURN_BOOL(empty);
}
