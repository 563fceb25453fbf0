/*-------------------------------------------------------------------------
 *
 * drop_guard.c
 *	  A ProcessUtility_hook that refuses DROP EXTENSION kusto_sink, DROP
 *	  SCHEMA kusto_sink and DROP OWNED BY their owner while sinks exist, and
 *	  DROP DATABASE of the sinks' database.
 *
 * Dropping the extension under running sinks would leave their workers
 * (which then fail on the missing functions) and their logical replication
 * slots (which pin WAL for good) behind; kusto_sink.drop_sink() is the way
 * to remove a sink.  The guard reads kusto_sink.sink directly (a heap scan,
 * no SQL, so neither search_path nor privileges matter) under a SHARE lock,
 * which waits for a create_sink in progress and keeps new sinks out until
 * the drop commits.  When the table does not exist the drop goes on.
 *
 * DROP OWNED BY the owner of the extension (or of its schema), which
 * drops the extension with everything else the role owns, is refused the
 * same way.  The guard sees only the backends that loaded the library
 * (docs/operations.md, "Dropping the extension").
 *
 * DROP DATABASE of a database that has replication slots of the kusto_sink
 * plugin (the sinks' slots) is refused too, also WITH (FORCE): PostgreSQL
 * refuses it by itself only while a slot is active, not for a paused sink.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/xlog.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "commands/dbcommands.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "replication/slot.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "api/drop_guard.h"

#define KS_NAME "kusto_sink"
#define KS_NAMES_SHOWN 3

static ProcessUtility_hook_type prev_process_utility = NULL;

static int
name_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp((const char *) lfirst(a), (const char *) lfirst(b));
}

/* Whether a DROP EXTENSION or DROP SCHEMA names kusto_sink. */
static bool
drops_kusto_sink(DropStmt *stmt)
{
	ListCell   *lc;

	if (stmt->removeType != OBJECT_EXTENSION && stmt->removeType != OBJECT_SCHEMA)
		return false;
	foreach(lc, stmt->objects)
	{
		Node	   *obj = (Node *) lfirst(lc);

		if (IsA(obj, String) && strcmp(strVal(obj), KS_NAME) == 0)
			return true;
	}
	return false;
}

/*
 * Whether DROP OWNED BY names the owner of the extension kusto_sink or of
 * its schema: it would drop them, and so the catalog.
 */
static bool
drops_owner_of_kusto_sink(DropOwnedStmt *stmt)
{
	Oid			ext_owner = InvalidOid;
	Oid			nsp_owner = InvalidOid;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	ListCell   *lc;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum(KS_NAME));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		ext_owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	tup = SearchSysCache1(NAMESPACENAME, CStringGetDatum(KS_NAME));
	if (HeapTupleIsValid(tup))
	{
		nsp_owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
		ReleaseSysCache(tup);
	}
	if (!OidIsValid(ext_owner) && !OidIsValid(nsp_owner))
		return false;

	foreach(lc, stmt->roles)
	{
		Oid			role = get_rolespec_oid((RoleSpec *) lfirst(lc), true);

		if (OidIsValid(role) && (role == ext_owner || role == nsp_owner))
			return true;
	}
	return false;
}

/*
 * "Sinks a, b, c and 2 more exist.": the names sorted, a few of them shown.
 */
static char *
name_list(List *names, const char *one, const char *many)
{
	int			n = list_length(names);
	StringInfoData detail;
	ListCell   *lc;

	list_sort(names, name_cmp);
	initStringInfo(&detail);
	appendStringInfo(&detail, "%s ", n == 1 ? one : many);
	foreach(lc, names)
	{
		int			i = foreach_current_index(lc);

		if (i == KS_NAMES_SHOWN)
			break;
		if (i > 0)
			appendStringInfoString(&detail, (i == n - 1) ? " and " : ", ");
		appendStringInfoString(&detail, quote_identifier((char *) lfirst(lc)));
	}
	if (n > KS_NAMES_SHOWN)
		appendStringInfo(&detail, " and %d more", n - KS_NAMES_SHOWN);
	appendStringInfoString(&detail, n == 1 ? " exists." : " exist.");
	return detail.data;
}

/* Raises the error when kusto_sink.sink exists and has rows. */
static void
refuse_while_sinks_exist(void)
{
	Oid			nsp = get_namespace_oid(KS_NAME, true);
	Oid			relid;
	AttrNumber	attnum;
	Relation	rel;
	Snapshot	snap;
	TableScanDesc scan;
	TupleTableSlot *slot;
	List	   *names = NIL;

	if (!OidIsValid(nsp))
		return;
	relid = get_relname_relid("sink", nsp);
	if (!OidIsValid(relid))
		return;
	attnum = get_attnum(relid, "name");
	if (attnum == InvalidAttrNumber)
		return;

	/*
	 * Waits for a create_sink in progress, and keeps new sinks out; on a
	 * standby, where the drop fails anyway, a lock it may take.
	 */
	rel = table_open(relid, RecoveryInProgress() ? AccessShareLock : ShareLock);
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snap, 0, NULL);
	slot = table_slot_create(rel, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, attnum, &isnull);

		CHECK_FOR_INTERRUPTS();
		names = lappend(names, isnull ? pstrdup("?") : TextDatumGetCString(d));
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, NoLock);	/* the lock stays until the end of the drop */

	if (names != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop extension kusto_sink while sinks exist"),
				 errdetail_internal("%s", name_list(names, "Sink", "Sinks")),
				 errhint("Drop them with kusto_sink.drop_sink() first.")));
}

/*
 * DROP DATABASE of a database with kusto_sink slots: PostgreSQL refuses it
 * only while a slot is active, so a paused sink (or one whose worker is
 * restarting) would lose its slot and catalog with the database, leaving
 * the launcher to a database that no longer exists.  The slots are in
 * shared memory, visible from the database the command runs in.
 */
static void
refuse_database_with_sinks(DropdbStmt *stmt)
{
	Oid			dboid = get_database_oid(stmt->dbname, true);
	List	   *names = NIL;
	int			i;

	if (!OidIsValid(dboid) || max_replication_slots == 0 || ReplicationSlotCtl == NULL)
		return;
	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	for (i = 0; i < max_replication_slots; i++)
	{
		ReplicationSlot *slot = &ReplicationSlotCtl->replication_slots[i];
		bool		ours;
		NameData	name;

		if (!slot->in_use)
			continue;
		SpinLockAcquire(&slot->mutex);
		ours = slot->data.database == dboid &&
			strcmp(NameStr(slot->data.plugin), KS_NAME) == 0;
		name = slot->data.name;
		SpinLockRelease(&slot->mutex);
		if (ours)
			names = lappend(names, pstrdup(NameStr(name)));
	}
	LWLockRelease(ReplicationSlotControlLock);

	if (names != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop database \"%s\" while it has kusto_sink sinks", stmt->dbname),
				 errdetail_internal("%s", name_list(names, "Replication slot", "Replication slots")),
				 errhint("Drop the sinks with kusto_sink.drop_sink() in database \"%s\" first, and other slots of the kusto_sink plugin with pg_drop_replication_slot().",
						 stmt->dbname)));
}

static void
ks_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				   ProcessUtilityContext context, ParamListInfo params,
				   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (IsA(parsetree, DropStmt) && drops_kusto_sink((DropStmt *) parsetree))
		refuse_while_sinks_exist();
	else if (IsA(parsetree, DropOwnedStmt) &&
			 drops_owner_of_kusto_sink((DropOwnedStmt *) parsetree))
		refuse_while_sinks_exist();
	else if (IsA(parsetree, DropdbStmt))
		refuse_database_with_sinks((DropdbStmt *) parsetree);

	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
							 queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

void
ks_drop_guard_install(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = ks_process_utility;
}
