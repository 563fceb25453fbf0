/*-------------------------------------------------------------------------
 *
 * snapshot.c
 *	  The initial snapshot in chunks (see snapshot.h).
 *
 * Progress lives in kusto_sink.snapshot (one row per sink and table: the key
 * of the last row read, whether every row has been read, counters) and the
 * chunks waiting for delivery in kusto_sink.snapshot_chunk; both change in
 * the chunk's own transaction, so a crash leaves either the whole chunk or
 * none of it.  A chunk whose transaction failed after its message leaves a
 * message without a chunk: decoding meets it and finds nothing to inject.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heaptoast.h"
#include "access/nbtree.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "replication/message.h"
#include "storage/bufmgr.h"
#include "storage/itemptr.h"
#include "storage/lock.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "decoder/options.h"
#include "decoder/pubfilter.h"
#include "decoder/record.h"
#include "decoder/relinfo.h"
#include "worker/snapshot.h"
#include "worker/table_access.h"
#include "worker/worker_sql.h"

#define KS_SNAPSHOT_LOCK_RETRY_MS 200	/* pause after a chunk found its table busy */
#define KS_SNAPSHOT_FILTERED_FACTOR 16	/* a chunk reads at most this many times
										 * its rows (a row filter leaves rows out) */

/* A table whose rows are still being read. */
typedef struct SnapTable
{
	Oid			relid;
	char	   *source_table;
	TimestampTz requested_at;	/* tells this request from a later one */
	bool		resync;			/* ends with a snapshot_done record */
	XLogRecPtr	start_lsn;		/* its first chunk's position, or invalid */
	int			nkeys;			/* last_key: the last row read, or nkeys = 0 */
	char	  **last_key;
	char	  **end_key;		/* keyed: the largest key at the first chunk, or NULL */
} SnapTable;

struct KsSnapshot
{
	char	   *sink;
	MemoryContext cxt;			/* the options, the waiting chunks */
	MemoryContext tables_cxt;	/* the tables, read again by refresh */
	KsDecoderOptions opts;
	bool		to_utf8;
	List	   *tables;			/* SnapTable *, in relid order */
	List	   *waiting;		/* XLogRecPtr *: chunks not yet delivered */
	TimestampTz next_attempt;	/* after a busy table */
};

static const char *finish_sql =
"UPDATE kusto_sink.snapshot s SET finished_at = pg_catalog.now() "
"WHERE s.sink OPERATOR(pg_catalog.=) $1 AND s.copied AND s.finished_at IS NULL "
"AND NOT EXISTS (SELECT FROM kusto_sink.snapshot_chunk c "
"WHERE c.sink OPERATOR(pg_catalog.=) s.sink AND c.relid OPERATOR(pg_catalog.=) s.relid)";

KsSnapshot *
ks_snapshot_start(const char *sink, List *plugin_options)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "kusto_sink snapshot",
											  ALLOCSET_SMALL_SIZES);
	KsSnapshot *s = MemoryContextAllocZero(cxt, sizeof(KsSnapshot));
	MemoryContext oldcxt;
	int			encoding = GetDatabaseEncoding();

	s->cxt = cxt;
	s->tables_cxt = AllocSetContextCreate(cxt, "kusto_sink snapshot tables", ALLOCSET_SMALL_SIZES);
	s->sink = MemoryContextStrdup(cxt, sink);
	s->to_utf8 = (encoding != PG_UTF8 && encoding != PG_SQL_ASCII);
	StartTransactionCommand();
	oldcxt = MemoryContextSwitchTo(cxt);
	ks_parse_options(&s->opts, plugin_options);
	MemoryContextSwitchTo(oldcxt);
	CommitTransactionCommand();
	return s;
}

/* A text[] as C strings, in the current memory context. */
static char **
cstrings(Datum array, int *n)
{
	Datum	   *elems;
	char	  **out;
	int			i;

	deconstruct_array(DatumGetArrayTypeP(array), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, NULL, n);
	out = palloc(Max(*n, 1) * sizeof(char *));
	for (i = 0; i < *n; i++)
		out[i] = TextDatumGetCString(elems[i]);
	return out;
}

/* A copy of a key (n values) in cxt. */
static char **
copy_key(char **key, int n, MemoryContext cxt)
{
	char	  **out = MemoryContextAlloc(cxt, Max(n, 1) * sizeof(char *));
	int			i;

	for (i = 0; i < n; i++)
		out[i] = MemoryContextStrdup(cxt, key[i]);
	return out;
}

static XLogRecPtr
waiting_lsn(ListCell *lc)
{
	return *(XLogRecPtr *) lfirst(lc);
}

static void
add_waiting(KsSnapshot *s, XLogRecPtr lsn)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(s->cxt);
	XLogRecPtr *p = palloc(sizeof(XLogRecPtr));

	*p = lsn;
	s->waiting = lappend(s->waiting, p);
	MemoryContextSwitchTo(oldcxt);
}

/* Reads the tables still to read and the chunks still to deliver. */
void
ks_snapshot_refresh(KsSnapshot *s, XLogRecPtr confirmed)
{
	KsSqlTxn	txn;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	uint64		i;
	MemoryContext oldcxt;

	list_free_deep(s->waiting);
	s->waiting = NIL;
	s->tables = NIL;
	MemoryContextReset(s->tables_cxt);
	ks_sql_begin(&txn);
	values[0] = CStringGetTextDatum(s->sink);

	/*
	 * Tables that joined the sink since, or left it (option snapshot).  A
	 * resnapshot_sink or cancel_snapshot whose transaction is still open has
	 * written the table's row: the insert would wait for that transaction,
	 * and decoding with it, so this look waits for the next check instead.
	 */
	if (ks_sql_try_run("SELECT kusto_sink._snapshot_follow($1, true)", 1, types, values,
					   KS_SNAPSHOT_LOCK_WAIT_MS) &&
		SPI_processed == 1)
	{
		bool		isnull;
		int32		joined = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

		if (joined > 0)
			ereport(LOG,
					(errmsg_plural("kusto_sink sink \"%s\": snapshot of %d new source table",
								   "kusto_sink sink \"%s\": snapshot of %d new source tables",
								   joined, s->sink, joined)));
	}
	/* a table whose last rows a call below could not count ends here */
	(void) ks_sql_try_run(finish_sql, 1, types, values, KS_SNAPSHOT_LOCK_WAIT_MS);
	ks_sql_run("SELECT relid, source_table, last_key, requested_at, resync, start_lsn, end_key "
			   "FROM kusto_sink.snapshot WHERE sink OPERATOR(pg_catalog.=) $1 AND NOT copied ORDER BY relid", 1, types, values);
	oldcxt = MemoryContextSwitchTo(s->tables_cxt);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		SnapTable  *t = palloc0(sizeof(SnapTable));
		bool		isnull;
		Datum		key;

		t->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		t->source_table = SPI_getvalue(tup, desc, 2);
		key = SPI_getbinval(tup, desc, 3, &isnull);
		if (!isnull)
			t->last_key = cstrings(key, &t->nkeys);
		t->requested_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));
		t->resync = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		key = SPI_getbinval(tup, desc, 6, &isnull);
		t->start_lsn = isnull ? InvalidXLogRecPtr : DatumGetLSN(key);
		key = SPI_getbinval(tup, desc, 7, &isnull);
		if (!isnull)
		{
			int			n;

			t->end_key = cstrings(key, &n);
		}
		s->tables = lappend(s->tables, t);
	}
	MemoryContextSwitchTo(oldcxt);
	ks_sql_run("SELECT lsn FROM kusto_sink.snapshot_chunk WHERE sink OPERATOR(pg_catalog.=) $1 ORDER BY lsn",
			   1, types, values);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		add_waiting(s, DatumGetLSN(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)));
	}
	ks_sql_end(&txn);
	ks_snapshot_delivered(s, confirmed);
}

/* Is there a chunk to read now (at most `ahead` wait for delivery)? */
bool
ks_snapshot_wanted(KsSnapshot *s, int ahead)
{
	return s->tables != NIL && list_length(s->waiting) < ahead &&
		GetCurrentTimestamp() >= s->next_attempt;
}

/*
 * SHARE lock on the table, waiting at most KS_SNAPSHOT_LOCK_WAIT_MS so that
 * writers never queue long behind the request; false when it was not had.
 */
static void
lock_share(void *arg)
{
	LockRelationOid(*(Oid *) arg, ShareLock);
}

static bool
lock_briefly(Oid relid)
{
	if (ConditionalLockRelationOid(relid, ShareLock))
		return true;
	return ks_without_waiting(lock_share, &relid, KS_SNAPSHOT_LOCK_WAIT_MS);
}

/* The primary key index, else the replica identity index; InvalidOid without. */
static Oid
key_index(Relation rel)
{
	Oid			indexoid = KS_PRIMARY_KEY_INDEX(rel);

	if (!OidIsValid(indexoid))
		indexoid = RelationGetReplicaIndex(rel);
	return indexoid;
}

/* What one chunk read: records, the key after which the next one starts. */
typedef struct ChunkRead
{
	KsSnapshot *s;
	Relation	rel;
	KsRelInfo  *info;
	KsChangeMeta meta;
	int			max_rows;
	size_t		max_bytes;
	ArrayBuildState *records;
	int			nrecords;
	int64		examined;		/* rows read, also those a row filter left out */
	size_t		bytes;
	MemoryContext row_cxt;
	StringInfoData buf;
	int			nkeys;
	char	  **key;			/* of the last row read */
	char	  **end_key;		/* keyed: found by the first chunk, or NULL */
	text	   *done_record;	/* a resync's snapshot_done record (lsn start_lsn), or NULL */
	bool		full;
	double		lock_ms;		/* how long the SHARE lock was held */
	TimestampTz started;		/* the transaction's start */
} ChunkRead;

/*
 * One record of the chunk's table, in the caller's memory context: a row
 * (operation "snapshot"), or no row (the snapshot_done record).
 */
static text *
render(ChunkRead *c, HeapTuple row, const KsChangeMeta *meta)
{
	MemoryContext cxt = MemoryContextSwitchTo(c->row_cxt);
	const char *data;
	int			len;
	text	   *record;

	resetStringInfo(&c->buf);
	ks_append_record(&c->buf, &c->s->opts, c->info, RelationGetDescr(c->rel),
					 row, NULL, false, meta);
	data = c->buf.data;
	len = c->buf.len;
	if (c->s->to_utf8)
	{
		data = pg_server_to_any(c->buf.data, c->buf.len, PG_UTF8);
		len = strlen(data);
	}
	MemoryContextSwitchTo(cxt);
	record = cstring_to_text_with_len(data, len);
	MemoryContextReset(c->row_cxt);
	return record;
}

/*
 * The snapshot reads its rows without SQL: a role that can create objects
 * in a schema on the search_path, or a cast for its own type, must not get
 * its code run as the sink's owner.  A keyed table is read with an index
 * scan of its key index, compared by the index's own btree support
 * functions (which only a superuser can create); a table without a key with
 * a TID range scan.  Keys are stored as text, their types' output
 * functions, and read back with the input functions.
 */

/* A keyed table's key index: its columns in index order, and how to compare them. */
typedef struct KeyIndex
{
	Relation	index;
	int			nkeys;
	AttrNumber *attnums;		/* the table's columns */
	FmgrInfo   *cmp;			/* BTORDER_PROC of each column's opfamily */
	Oid		   *collations;
	bool	   *desc;
	bool		any_desc;
	Oid		   *input;			/* the base type's input function */
	Oid		   *ioparam;
	FmgrInfo   *output;
} KeyIndex;

static void
key_index_open(KeyIndex *k, Relation rel, Oid indexoid)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	k->index = index_open(indexoid, AccessShareLock);
	if (k->index->rd_rel->relam != BTREE_AM_OID)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("kusto_sink cannot read table \"%s\" in the order of its key index \"%s\"",
						RelationGetRelationName(rel), RelationGetRelationName(k->index)),
				 errdetail("Only a btree key index can be read.")));
	k->nkeys = k->index->rd_index->indnkeyatts;
	k->attnums = palloc(k->nkeys * sizeof(AttrNumber));
	k->cmp = palloc(k->nkeys * sizeof(FmgrInfo));
	k->collations = palloc(k->nkeys * sizeof(Oid));
	k->desc = palloc(k->nkeys * sizeof(bool));
	k->input = palloc(k->nkeys * sizeof(Oid));
	k->ioparam = palloc(k->nkeys * sizeof(Oid));
	k->output = palloc(k->nkeys * sizeof(FmgrInfo));
	k->any_desc = false;
	for (i = 0; i < k->nkeys; i++)
	{
		Form_pg_attribute att;
		Oid			base;
		Oid			proc;
		Oid			outfunc;
		bool		isvarlena;

		k->attnums[i] = k->index->rd_index->indkey.values[i];
		if (k->attnums[i] <= 0)
			elog(ERROR, "kusto_sink: key index \"%s\" has an expression",
				 RelationGetRelationName(k->index));
		att = TupleDescAttr(desc, k->attnums[i] - 1);
		proc = get_opfamily_proc(k->index->rd_opfamily[i], k->index->rd_opcintype[i],
								 k->index->rd_opcintype[i], BTORDER_PROC);
		if (!OidIsValid(proc))
			elog(ERROR, "kusto_sink: no btree comparison function for column %d of index \"%s\"",
				 i + 1, RelationGetRelationName(k->index));
		fmgr_info(proc, &k->cmp[i]);
		k->collations[i] = k->index->rd_indcollation[i];
		k->desc[i] = (k->index->rd_indoption[i] & INDOPTION_DESC) != 0;
		k->any_desc |= k->desc[i];
		/* a domain's input function would run its constraints: the base type's */
		base = getBaseType(att->atttypid);
		getTypeInputInfo(base, &k->input[i], &k->ioparam[i]);
		getTypeOutputInfo(base, &outfunc, &isvarlena);
		fmgr_info(outfunc, &k->output[i]);
	}
}

/* A key read back from its text (the output functions' strings). */
static Datum *
key_from_strings(KeyIndex *k, char **strings)
{
	Datum	   *values = palloc(k->nkeys * sizeof(Datum));
	int			i;

	for (i = 0; i < k->nkeys; i++)
		values[i] = OidInputFunctionCall(k->input[i], strings[i], k->ioparam[i], -1);
	return values;
}

/* The key of the row in the slot (pointing into it). */
static void
key_from_slot(KeyIndex *k, TupleTableSlot *slot, Datum *values)
{
	int			i;

	for (i = 0; i < k->nkeys; i++)
	{
		bool		isnull;

		values[i] = slot_getattr(slot, k->attnums[i], &isnull);
		if (isnull)
			elog(ERROR, "kusto_sink: null in key index \"%s\"", RelationGetRelationName(k->index));
	}
}

/* Replaces the strings of key with the text of values. */
static void
key_to_strings(KeyIndex *k, Datum *values, char **key)
{
	int			i;

	for (i = 0; i < k->nkeys; i++)
	{
		if (key[i] != NULL)
			pfree(key[i]);
		key[i] = OutputFunctionCall(&k->output[i], values[i]);
	}
}

/* a < b, a = b, a > b in the index's order: < 0, 0, > 0 */
static int
key_compare(KeyIndex *k, Datum *a, Datum *b)
{
	int			i;

	for (i = 0; i < k->nkeys; i++)
	{
		int32		r = DatumGetInt32(FunctionCall2Coll(&k->cmp[i], k->collations[i], a[i], b[i]));

		if (r != 0)
			return k->desc[i] ? (r > 0 ? -1 : 1) : r;
	}
	return 0;
}

/*
 * Scan keys that start the index scan at the rows after the key: a row
 * comparison (a single comparison for a one-column key) in index order.  With
 * a descending column the scan starts at the first column's value (a row
 * comparison compares values, not index positions), and the rows up to the
 * key are skipped by the caller.  Returns the number of scan keys.
 */
static int
key_scan_keys(KeyIndex *k, Datum *after, ScanKey keys)
{
	int			i;

	if (k->any_desc || k->nkeys == 1)
	{
		Oid			opfamily = k->index->rd_opfamily[0];
		Oid			type = k->index->rd_opcintype[0];
		int			strategy = k->desc[0] ? BTLessEqualStrategyNumber : BTGreaterEqualStrategyNumber;
		Oid			op;

		if (k->nkeys == 1 && !k->any_desc)
			strategy = BTGreaterStrategyNumber;
		op = get_opfamily_member(opfamily, type, type, strategy);
		if (!OidIsValid(op))
			elog(ERROR, "kusto_sink: no btree operator %d for index \"%s\"",
				 strategy, RelationGetRelationName(k->index));
		ScanKeyEntryInitialize(&keys[0], 0, 1, strategy, type, k->collations[0],
							   get_opcode(op), after[0]);
		return 1;
	}
	for (i = 0; i < k->nkeys; i++)
	{
		int			flags = SK_ROW_MEMBER | (i == k->nkeys - 1 ? SK_ROW_END : 0);

		ScanKeyEntryInitialize(&keys[i + 1], flags, i + 1, BTGreaterStrategyNumber,
							   k->index->rd_opcintype[i], k->collations[i],
							   k->cmp[i].fn_oid, after[i]);
	}
	ScanKeyEntryInitialize(&keys[0], SK_ROW_HEADER, 1, BTGreaterStrategyNumber,
						   InvalidOid, InvalidOid, InvalidOid, PointerGetDatum(&keys[1]));
	return 1;
}

/*
 * Renders the row in the slot into the chunk, when the publications' row
 * filter for the initial copy passes it (tablesync's: pubfilter.h) (the columns are the column list's, as for
 * decoding: relinfo.h).  The table's tuple may point to TOAST values, which
 * a record would take for unchanged ones: they are fetched first.
 */
static void
add_row(ChunkRead *c, TupleTableSlot *slot)
{
	bool		should_free;
	HeapTuple	tup = ExecFetchSlotHeapTuple(slot, false, &should_free);
	HeapTuple	row = tup;
	text	   *record;

	/* a publication's row filter: the rows a subscription's initial copy takes */
	if (++c->examined >= (int64) c->max_rows * KS_SNAPSHOT_FILTERED_FACTOR)
		c->full = true;
	if (!ks_pubfilter_copies(c->info->pubfilter, tup))
	{
		if (should_free)
			heap_freetuple(tup);
		return;
	}
	if (HeapTupleHasExternal(tup))
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(c->row_cxt);

		row = toast_flatten_tuple(tup, RelationGetDescr(c->rel));
		MemoryContextSwitchTo(oldcxt);
	}
	record = render(c, row, &c->meta);	/* resets row_cxt */
	if (should_free)
		heap_freetuple(tup);
	c->records = accumArrayResult(c->records, PointerGetDatum(record),
								  false, TEXTOID, CurrentMemoryContext);
	c->nrecords++;
	c->bytes += VARSIZE_ANY_EXHDR(record) + 1;
	if (c->nrecords >= c->max_rows || c->bytes >= c->max_bytes)
		c->full = true;
}

/*
 * The key of the key index's last row now (its first chunk's snapshot), into
 * c->end_key; false when the table is empty.
 */
static bool
find_end_key(ChunkRead *c, KeyIndex *k)
{
	IndexScanDesc scan = KS_INDEX_BEGINSCAN(c->rel, k->index, GetActiveSnapshot(), 0, 0);
	TupleTableSlot *slot = table_slot_create(c->rel, NULL);
	bool		found;

	index_rescan(scan, NULL, 0, NULL, 0);
	found = index_getnext_slot(scan, BackwardScanDirection, slot);
	if (found)
	{
		Datum	   *values = palloc(k->nkeys * sizeof(Datum));

		key_from_slot(k, slot, values);
		c->end_key = palloc0(k->nkeys * sizeof(char *));
		key_to_strings(k, values, c->end_key);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return found;
}

/*
 * Reads a keyed table's next rows in key order, up to the largest key it had
 * at its first chunk (rows added later come with their changes); true when
 * none are left.
 */
static bool
read_keyed(ChunkRead *c, SnapTable *t, Oid indexoid)
{
	KeyIndex	k;
	char	  **end_key = t->end_key;
	Datum	   *end;
	Datum	   *after = NULL;
	Datum	   *values;
	ScanKey		keys;
	int			nscankeys = 0;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	bool		exhausted = false;

	key_index_open(&k, c->rel, indexoid);
	if (t->nkeys > 0 && t->nkeys != k.nkeys)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("kusto_sink sink \"%s\": the key of table %s changed during its snapshot",
						c->s->sink, t->source_table),
				 errhint("Take its snapshot again with kusto_sink.resnapshot_sink().")));
	c->nkeys = k.nkeys;
	c->key = palloc0(k.nkeys * sizeof(char *));
	if (end_key == NULL)
	{
		if (!find_end_key(c, &k))
		{
			index_close(k.index, AccessShareLock);
			return true;		/* empty */
		}
		end_key = c->end_key;
	}
	end = key_from_strings(&k, end_key);
	keys = palloc0((k.nkeys + 1) * sizeof(ScanKeyData));
	if (t->nkeys > 0)
	{
		after = key_from_strings(&k, t->last_key);
		nscankeys = key_scan_keys(&k, after, keys);
	}
	values = palloc(k.nkeys * sizeof(Datum));
	scan = KS_INDEX_BEGINSCAN(c->rel, k.index, GetActiveSnapshot(), nscankeys, 0);
	index_rescan(scan, keys, nscankeys, NULL, 0);
	slot = table_slot_create(c->rel, NULL);
	while (!c->full)
	{
		CHECK_FOR_INTERRUPTS();
		if (!index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			exhausted = true;
			break;
		}
		key_from_slot(&k, slot, values);
		if (after != NULL && key_compare(&k, values, after) <= 0)
			continue;			/* up to the last key read (a descending column) */
		if (key_compare(&k, values, end) > 0)
		{
			exhausted = true;
			break;
		}
		add_row(c, slot);
		key_to_strings(&k, values, c->key);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(k.index, AccessShareLock);
	return exhausted;
}

/*
 * Reads the rows after the TID after and before page hi, in TID order, until
 * the chunk is full; true when the range ran out of rows.
 */
static bool
read_tid_range(ChunkRead *c, const char *after, BlockNumber hi)
{
	ItemPointer from = (ItemPointer) DatumGetPointer(DirectFunctionCall1(tidin, CStringGetDatum(after)));
	ItemPointerData min;
	ItemPointerData max;
	TableScanDesc scan;
	TupleTableSlot *slot;
	bool		exhausted = false;
	BlockNumber blk = ItemPointerGetBlockNumberNoCheck(from);
	OffsetNumber off = ItemPointerGetOffsetNumberNoCheck(from);

	/* after "after": its next offset, or the next page's first */
	if (off < MaxOffsetNumber)
		ItemPointerSet(&min, blk, off + 1);
	else
		ItemPointerSet(&min, blk + 1, FirstOffsetNumber);
	ItemPointerSet(&max, hi - 1, MaxOffsetNumber);
	scan = table_beginscan_tidrange(c->rel, GetActiveSnapshot(), &min, &max);
	slot = table_slot_create(c->rel, NULL);
	while (!c->full)
	{
		CHECK_FOR_INTERRUPTS();
		if (!table_scan_getnextslot_tidrange(scan, ForwardScanDirection, slot))
		{
			exhausted = true;
			break;
		}
		add_row(c, slot);
		if (c->key[0] != NULL)
			pfree(c->key[0]);
		c->key[0] = DatumGetCString(DirectFunctionCall1(tidout, PointerGetDatum(&slot->tts_tid)));
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return exhausted;
}

/*
 * Reads a table without a key in ctid order, a range of pages at a time,
 * up to the pages it had when its snapshot started (rows added later come
 * with their changes); the key is {last ctid, end page}.
 */
static bool
read_by_ctid(ChunkRead *c, SnapTable *t)
{
	BlockNumber end_page;
	BlockNumber lo;
	BlockNumber step;
	double		per_page = 100;
	char	   *after;

	if (t->nkeys == 2)
	{
		ItemPointer tid = (ItemPointer) DatumGetPointer(DirectFunctionCall1(tidin, CStringGetDatum(t->last_key[0])));

		after = t->last_key[0];
		lo = ItemPointerGetBlockNumber(tid);
		end_page = (BlockNumber) strtoul(t->last_key[1], NULL, 10);
	}
	else
	{
		after = "(0,0)";
		lo = 0;
		end_page = RelationGetNumberOfBlocks(c->rel);
	}
	if (c->rel->rd_rel->relpages > 0 && c->rel->rd_rel->reltuples > 0)
		per_page = Max(1, c->rel->rd_rel->reltuples / c->rel->rd_rel->relpages);
	step = Max(1, (BlockNumber) (c->max_rows / per_page));

	c->nkeys = 1;
	c->key = palloc0(sizeof(char *));
	while (!c->full && lo < end_page)
	{
		BlockNumber hi = Min(end_page, lo + step);

		if (read_tid_range(c, after, hi) && !c->full)
		{
			/* the range is done: the next starts at page hi */
			lo = hi;
			after = psprintf("(%u,0)", hi);
		}
		else
			after = c->key[0];
	}
	/* the key: where the next chunk starts, and the end */
	c->nkeys = 2;
	c->key = palloc(2 * sizeof(char *));
	c->key[0] = pstrdup(after);
	c->key[1] = psprintf("%u", end_page);
	return lo >= end_page;
}

static Datum
text_array(const char **items, int n)
{
	Datum	   *d = palloc(Max(n, 1) * sizeof(Datum));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(items[i]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * Stores the chunk (when it has records) and the table's progress; false
 * when the snapshot was asked for again (or cancelled) meanwhile: then
 * nothing is stored.
 */
static bool
store_chunk(ChunkRead *c, SnapTable *t, XLogRecPtr lsn, XLogRecPtr start_lsn, bool copied)
{
	Oid			save_userid;
	int			save_sec;
	bool		ok;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (c->nrecords > 0 || c->done_record != NULL)
	{
		Oid			types[9] = {TEXTOID, LSNOID, OIDOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
		TEXTOID, LSNOID};
		Datum		values[9];
		char		nulls[9] = "         ";

		values[0] = CStringGetTextDatum(c->s->sink);
		values[1] = LSNGetDatum(lsn);
		values[2] = ObjectIdGetDatum(t->relid);
		values[3] = CStringGetTextDatum(t->source_table);
		values[4] = text_array(c->info->shape.names, c->info->shape.ncolumns);
		values[5] = text_array(c->info->shape.types, c->info->shape.ncolumns);
		values[6] = c->nrecords > 0 ? makeArrayResult(c->records, CurrentMemoryContext) :
			text_array(NULL, 0);
		values[7] = PointerGetDatum(c->done_record);
		values[8] = LSNGetDatum(start_lsn);
		if (c->done_record == NULL)
			nulls[7] = nulls[8] = 'n';
		if (SPI_execute_with_args("INSERT INTO kusto_sink.snapshot_chunk "
								  "(sink, lsn, relid, source_table, shape_names, shape_types, records, "
								  "done_record, done_lsn) "
								  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
								  9, types, values, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "kusto_sink: could not store a snapshot chunk");
	}
	{
		Oid			types[10] = {TEXTOID, OIDOID, TEXTARRAYOID, BOOLOID, INT8OID, TIMESTAMPTZOID,
		FLOAT8OID, FLOAT8OID, LSNOID, TEXTARRAYOID};
		Datum		values[10];

		values[0] = CStringGetTextDatum(c->s->sink);
		values[1] = ObjectIdGetDatum(t->relid);
		/* no row read: the key stays */
		values[2] = text_array((const char **) c->key,
							   (c->nkeys > 0 && c->key[0] != NULL) ? c->nkeys : 0);
		values[3] = BoolGetDatum(copied);
		values[4] = Int64GetDatum(c->nrecords);
		values[5] = TimestampTzGetDatum(t->requested_at);
		values[6] = Float8GetDatum((GetCurrentTimestamp() - c->started) / 1000.0);
		values[7] = Float8GetDatum(c->lock_ms);
		values[8] = LSNGetDatum(start_lsn);
		values[9] = text_array((const char **) c->end_key, c->end_key != NULL ? c->nkeys : 0);
		ks_sql_run("UPDATE kusto_sink.snapshot SET "
				   "last_key = CASE WHEN pg_catalog.cardinality($3) OPERATOR(pg_catalog.>) 0 "
				   "THEN $3 ELSE last_key END, "
				   "copied = $4, rows_copied = rows_copied OPERATOR(pg_catalog.+) $5, "
				   "chunks = chunks OPERATOR(pg_catalog.+) "
				   "CASE WHEN $5 OPERATOR(pg_catalog.>) 0 THEN 1 ELSE 0 END, "
				   "started_at = coalesce(started_at, pg_catalog.now()), start_lsn = $9, "
				   "end_key = CASE WHEN pg_catalog.cardinality($10) OPERATOR(pg_catalog.>) 0 "
				   "THEN $10 ELSE end_key END, "
				   "longest_chunk_ms = greatest(longest_chunk_ms, $7), "
				   "longest_lock_ms = greatest(longest_lock_ms, $8) "
				   "WHERE sink OPERATOR(pg_catalog.=) $1 AND relid OPERATOR(pg_catalog.=) $2 "
				   "AND requested_at OPERATOR(pg_catalog.=) $6",
				   10, types, values);
		ok = (SPI_processed == 1);
		if (ok && copied)
			ks_sql_run(finish_sql, 1, types, values);
	}
	SetUserIdAndSecContext(save_userid, save_sec);
	return ok;
}

/* A table that cannot be read (dropped, or not published for inserts): done. */
static void
skip_table(KsSnapshot *s, SnapTable *t, const char *why)
{
	Oid			types[3] = {TEXTOID, OIDOID, TIMESTAMPTZOID};
	Datum		values[3];
	Oid			save_userid;
	int			save_sec;

	ereport(LOG,
			(errmsg("kusto_sink sink \"%s\": no snapshot of table %s: %s", s->sink, t->source_table, why)));
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	values[0] = CStringGetTextDatum(s->sink);
	values[1] = ObjectIdGetDatum(t->relid);
	values[2] = TimestampTzGetDatum(t->requested_at);
	ks_sql_run("UPDATE kusto_sink.snapshot SET copied = true, "
			   "started_at = coalesce(started_at, pg_catalog.now()) "
			   "WHERE sink OPERATOR(pg_catalog.=) $1 AND relid OPERATOR(pg_catalog.=) $2 "
			   "AND requested_at OPERATOR(pg_catalog.=) $3", 3, types, values);
	ks_sql_run(finish_sql, 1, types, values);
	SetUserIdAndSecContext(save_userid, save_sec);
}

/*
 * The table's snapshot lock (snapshot.h), before the transaction's snapshot
 * is taken: a resnapshot_sink or cancel_snapshot that changed the progress
 * row meanwhile has committed, and this chunk sees it, instead of failing to
 * serialize its update of the row.  False when one holds it now (its
 * transaction may stay open for long; decoding must not wait for it).
 */
static bool
lock_progress_row(Oid relid)
{
	LOCKTAG		tag;
	uint64		key = ((uint64) KS_SNAPSHOT_LOCK_CLASS << 32) | relid;

	/* as pg_advisory_xact_lock(bigint) */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (key >> 32), (uint32) key, 1);
	return LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}

/* A chunk that has to wait: nothing of it stays, decoding goes on meanwhile. */
static void
try_again_later(KsSnapshot *s, MemoryContext oldcxt, MemoryContext chunk_cxt)
{
	AbortCurrentTransaction();
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(chunk_cxt);
	s->next_attempt = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), KS_SNAPSHOT_LOCK_RETRY_MS);
}

/* Reads the next chunk of the first table still to read (see snapshot.h). */
void
ks_snapshot_take(KsSnapshot *s, int max_rows, size_t max_bytes)
{
	SnapTable  *t = (SnapTable *) linitial(s->tables);
	MemoryContext oldcxt = CurrentMemoryContext;
	MemoryContext chunk_cxt = AllocSetContextCreate(oldcxt, "kusto_sink snapshot chunk",
													ALLOCSET_DEFAULT_SIZES);
	Relation	rel;
	ChunkRead	c;
	XLogRecPtr	lsn = InvalidXLogRecPtr;
	XLogRecPtr	start_lsn;
	bool		copied = false;
	bool		stored = false;
	const char *skip = NULL;
	TimestampTz started = GetCurrentTimestamp();
	TimestampTz locked;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	/* one snapshot for the transaction, taken while the table is locked */
	XactIsoLevel = XACT_REPEATABLE_READ;
	if (!lock_progress_row(t->relid))
	{
		/* its snapshot is being asked for again or cancelled */
		try_again_later(s, oldcxt, chunk_cxt);
		return;
	}
	/* every row or an error, never rows that a policy hides (as pg_dump) */
	(void) set_config_option("row_security", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	MemoryContextSwitchTo(chunk_cxt);
	memset(&c, 0, sizeof(c));
	c.s = s;
	c.started = started;
	c.max_rows = Max(max_rows, 1);
	c.max_bytes = Max(max_bytes, 1);

	rel = try_relation_open(t->relid, AccessShareLock);
	if (rel == NULL)
		skip = "it was dropped";
	else if (rel->rd_rel->relkind != RELKIND_RELATION)
		skip = "it is not a table";
	else
	{
		c.rel = rel;
		c.info = ks_relinfo_build(rel, &s->opts);
		/* as tablesync: a table its publications hold, whatever they publish */
		if (!c.info->publish_insert && !c.info->via_publications)
			skip = "its inserts are not published";
		else
		{
			KsAccessVerdict v;

			/* as decoding: never rows that the owner may not read (table_access.h) */
			if (ks_table_access(t->relid, GetUserId(), &v) == KS_ACCESS_UNSUPPORTED)
				skip = pstrdup(v.reason);
			else if (v.access != KS_ACCESS_OK)
				ks_table_access_raise(s->sink, &v, ERROR);
		}
	}
	if (skip != NULL)
	{
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		skip_table(s, t, skip);
		SPI_finish();
		PopActiveSnapshot();
		if (rel != NULL)
			relation_close(rel, AccessShareLock);
		CommitTransactionCommand();
		MemoryContextSwitchTo(oldcxt);
		MemoryContextDelete(chunk_cxt);
		s->tables = list_delete_first(s->tables);
		return;
	}

	if (!lock_briefly(t->relid))
	{
		/* writers hold it */
		try_again_later(s, oldcxt, chunk_cxt);
		return;
	}
	locked = GetCurrentTimestamp();
	lsn = KS_LOG_LOGICAL_MESSAGE(KS_SNAPSHOT_MESSAGE_PREFIX, s->sink, strlen(s->sink), false);
	PushActiveSnapshot(GetTransactionSnapshot());
	/* the snapshot is taken: writers may go on, their changes come after M */
	UnlockRelationOid(t->relid, ShareLock);
	c.lock_ms = (GetCurrentTimestamp() - locked) / 1000.0;

	c.meta.op = "snapshot";
	c.meta.lsn = lsn - 1;
	c.meta.commit_lsn = lsn - 1;
	c.meta.commit_time = GetCurrentTimestamp();
	c.meta.xid = GetTopTransactionId();
	c.row_cxt = AllocSetContextCreate(chunk_cxt, "kusto_sink snapshot row", ALLOCSET_SMALL_SIZES);
	initStringInfo(&c.buf);

	SPI_connect();
	{
		Oid			indexoid = key_index(rel);

		if (OidIsValid(indexoid))
			copied = read_keyed(&c, t, indexoid);
		else
			copied = read_by_ctid(&c, t);
	}
	/* the records of the table's first chunk are the snapshot's start */
	start_lsn = XLogRecPtrIsInvalid(t->start_lsn) ? lsn - 1 : t->start_lsn;
	if (copied && t->resync)
	{
		/* every row there was at start_lsn has now been read */
		KsChangeMeta done = c.meta;

		done.op = "snapshot_done";
		done.lsn = start_lsn;
		c.done_record = render(&c, NULL, &done);
	}
	stored = store_chunk(&c, t, lsn, start_lsn, copied);
	if (stored)
		t->start_lsn = start_lsn;
	if (stored && !copied)
	{
		/* where the next chunk starts, and ends (the keys live in SPI's memory) */
		t->nkeys = c.nkeys;
		t->last_key = copy_key(c.key, c.nkeys, s->tables_cxt);
		if (c.end_key != NULL)
			t->end_key = copy_key(c.end_key, c.nkeys, s->tables_cxt);
	}
	SPI_finish();
	PopActiveSnapshot();
	relation_close(rel, AccessShareLock);
	if (stored)
		CommitTransactionCommand();
	else
		AbortCurrentTransaction();
	MemoryContextSwitchTo(oldcxt);

	if (!stored)
	{
		/* asked for again meanwhile: start over from the catalog */
		MemoryContextDelete(chunk_cxt);
		s->tables = NIL;
		s->next_attempt = 0;
		ks_snapshot_refresh(s, InvalidXLogRecPtr);
		return;
	}
	if (c.nrecords > 0 || c.done_record != NULL)
		add_waiting(s, lsn);
	if (copied)
		s->tables = list_delete_first(s->tables);
	ereport(DEBUG1,
			(errmsg("kusto_sink sink \"%s\": snapshot chunk of %d rows of %s at %X/%X%s",
					s->sink, c.nrecords, t->source_table, LSN_FORMAT_ARGS(lsn),
					copied ? ", the last" : "")));
	MemoryContextDelete(chunk_cxt);
}

/* Whether a snapshot message is this sink's. */
bool
ks_snapshot_is_ours(KsSnapshot *s, const char *content, Size size)
{
	return size == strlen(s->sink) && memcmp(content, s->sink, size) == 0;
}

/* The stored chunk marked by the message at lsn, or NULL when there is none. */
KsChunk *
ks_snapshot_read(KsSnapshot *s, XLogRecPtr lsn)
{
	KsSqlTxn	txn;
	Oid			types[2] = {TEXTOID, LSNOID};
	Datum		values[2];
	KsChunk    *chunk = NULL;

	ks_sql_begin(&txn);
	values[0] = CStringGetTextDatum(s->sink);
	values[1] = LSNGetDatum(lsn);
	ks_sql_run("SELECT relid, source_table, shape_names, shape_types, records, read_at, done_record, done_lsn "
			   "FROM kusto_sink.snapshot_chunk WHERE sink OPERATOR(pg_catalog.=) $1 AND lsn OPERATOR(pg_catalog.=) $2", 2, types, values);
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "kusto_sink snapshot chunk",
												  ALLOCSET_DEFAULT_SIZES);
		MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
		bool		isnull;
		Datum	   *records;
		int			n;
		int			i;

		chunk = palloc0(sizeof(KsChunk));
		chunk->cxt = cxt;
		chunk->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		chunk->source_table = SPI_getvalue(tup, desc, 2);
		chunk->shape.names = (const char **) cstrings(SPI_getbinval(tup, desc, 3, &isnull), &n);
		chunk->shape.types = (const char **) cstrings(SPI_getbinval(tup, desc, 4, &isnull),
													  &chunk->shape.ncolumns);
		chunk->shape.hash = ks_shape_hash(&chunk->shape);
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 5, &isnull)),
						  TEXTOID, -1, false, TYPALIGN_INT, &records, NULL, &n);
		chunk->nrecords = n;
		chunk->records = palloc(Max(n, 1) * sizeof(char *));
		chunk->lens = palloc(Max(n, 1) * sizeof(int));
		for (i = 0; i < n; i++)
		{
			text	   *t = DatumGetTextPP(records[i]);

			chunk->lens[i] = VARSIZE_ANY_EXHDR(t);
			chunk->records[i] = text_to_cstring(t);
		}
		chunk->read_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 6, &isnull));
		chunk->done_record = SPI_getvalue(tup, desc, 7);
		if (chunk->done_record != NULL)
		{
			chunk->done_len = strlen(chunk->done_record);
			chunk->done_lsn = DatumGetLSN(SPI_getbinval(tup, desc, 8, &isnull));
		}
		MemoryContextSwitchTo(oldcxt);
	}
	ks_sql_end(&txn);
	return chunk;
}

/* Chunks before the confirmed position are in Kusto: forget them, count their rows. */
void
ks_snapshot_delivered(KsSnapshot *s, XLogRecPtr confirmed)
{
	KsSqlTxn	txn;
	Oid			types[2] = {TEXTOID, LSNOID};
	Datum		values[2];
	ListCell   *lc;
	bool		any = false;

	foreach(lc, s->waiting)
	{
		if (waiting_lsn(lc) <= confirmed)
			any = true;
	}
	if (!any)
		return;

	/*
	 * Like _snapshot_follow above: the rows of a table whose resnapshot_sink
	 * or cancel_snapshot has not committed yet are counted at a later call,
	 * never waited for.
	 */
	ks_sql_begin(&txn);
	values[0] = CStringGetTextDatum(s->sink);
	values[1] = LSNGetDatum(confirmed);
	if (ks_sql_try_run("WITH d AS (DELETE FROM kusto_sink.snapshot_chunk c "
					   "WHERE c.sink OPERATOR(pg_catalog.=) $1 AND c.lsn OPERATOR(pg_catalog.<=) $2 "
					   "RETURNING c.relid, pg_catalog.cardinality(c.records) AS n) "
					   "UPDATE kusto_sink.snapshot s SET rows_delivered = s.rows_delivered OPERATOR(pg_catalog.+) x.n "
					   "FROM (SELECT relid, pg_catalog.sum(n) AS n FROM d GROUP BY relid) x "
					   "WHERE s.sink OPERATOR(pg_catalog.=) $1 AND s.relid OPERATOR(pg_catalog.=) x.relid",
					   2, types, values, KS_SNAPSHOT_LOCK_WAIT_MS))
	{
		foreach(lc, s->waiting)
		{
			if (waiting_lsn(lc) <= confirmed)
			{
				pfree(lfirst(lc));
				s->waiting = foreach_delete_current(s->waiting, lc);
			}
		}
		(void) ks_sql_try_run(finish_sql, 1, types, values, KS_SNAPSHOT_LOCK_WAIT_MS);
	}
	ks_sql_end(&txn);
}
