/*-------------------------------------------------------------------------
 *
 * progress.c
 *	  Exactly-once bookkeeping in kusto_sink.progress and kusto_sink.batch
 *	  (see progress.h for the contract and docs/exactly-once.md for the
 *	  protocol).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "worker/batch.h"
#include "worker/progress.h"
#include "worker/worker_sql.h"

typedef struct TableProgress
{
	char	   *kusto_table;
	XLogRecPtr	committed_lsn;	/* every record at or before this is in Kusto */
	int64		committed_index;
	bool		dirty;
	List	   *ranges;			/* KsRange *, recorded and not settled, in order */
} TableProgress;

struct KsProgress
{
	char	   *sink;
	List	   *tables;			/* TableProgress * */
	List	   *deleted;		/* ids to delete at the next settle */
};

static int
pos_cmp(XLogRecPtr a_lsn, int64 a_index, XLogRecPtr b_lsn, int64 b_index)
{
	if (a_lsn != b_lsn)
		return a_lsn < b_lsn ? -1 : 1;
	if (a_index != b_index)
		return a_index < b_index ? -1 : 1;
	return 0;
}

/*
 * The batch id: a UUID (version 5 layout) from SHA-256 of the server (its
 * system identifier and the database's OID), the sink, the Kusto table and
 * the position of the batch's first record, so that a batch rebuilt after a
 * crash has the id it was sent with, and a server restored from a dump,
 * whose LSNs start again, does not give its batches the ids (ingest-by
 * tags) of the old server's.  (A standby promoted after a failover has the
 * primary's system identifier, and a recorded batch is sent again with the
 * id stored in kusto_sink.batch, whatever made it.)  Inside a transaction
 * (the hash context belongs to its resource owner).
 */
void
ks_batch_id(const char *sink, const char *kusto_table, XLogRecPtr lsn, int64 index, char *out)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *key = psprintf("kusto_sink|" UINT64_FORMAT "|%u|%s|%s|%X/%X|" INT64_FORMAT,
							   GetSystemIdentifier(), MyDatabaseId, sink, kusto_table,
							   LSN_FORMAT_ARGS(lsn), index);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (uint8 *) key, strlen(key)) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "kusto_sink: could not compute a batch id");
	pg_cryptohash_free(ctx);
	pfree(key);
	digest[6] = (digest[6] & 0x0f) | 0x50;
	digest[8] = (digest[8] & 0x3f) | 0x80;
	snprintf(out, 37,
			 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			 digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
			 digest[8], digest[9], digest[10], digest[11], digest[12], digest[13], digest[14], digest[15]);
}

static TableProgress *
table_of(KsProgress *p, const char *kusto_table)
{
	ListCell   *lc;
	TableProgress *t;
	MemoryContext oldcxt;

	foreach(lc, p->tables)
	{
		t = (TableProgress *) lfirst(lc);
		if (strcmp(t->kusto_table, kusto_table) == 0)
			return t;
	}
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	t = palloc0(sizeof(TableProgress));
	t->kusto_table = pstrdup(kusto_table);
	p->tables = lappend(p->tables, t);
	MemoryContextSwitchTo(oldcxt);
	return t;
}

static void
set_committed(TableProgress *t, XLogRecPtr lsn, int64 index)
{
	if (pos_cmp(lsn, index, t->committed_lsn, t->committed_index) > 0)
	{
		t->committed_lsn = lsn;
		t->committed_index = index;
		t->dirty = true;
	}
}

/* writes the dirty committed positions and deletes settled rows (inside ks_sql_begin) */
static void
flush_changes(KsProgress *p)
{
	ListCell   *lc;

	foreach(lc, p->tables)
	{
		TableProgress *t = (TableProgress *) lfirst(lc);
		Oid			types[4] = {TEXTOID, TEXTOID, LSNOID, INT8OID};
		Datum		values[4];

		if (!t->dirty)
			continue;
		values[0] = CStringGetTextDatum(p->sink);
		values[1] = CStringGetTextDatum(t->kusto_table);
		values[2] = LSNGetDatum(t->committed_lsn);
		values[3] = Int64GetDatum(t->committed_index);
		ks_sql_run("INSERT INTO kusto_sink.progress (sink, kusto_table, committed_lsn, committed_index) "
			"VALUES ($1, $2, $3, $4) ON CONFLICT (sink, kusto_table) DO UPDATE "
			"SET committed_lsn = $3, committed_index = $4, updated_at = pg_catalog.now()", 4, types, values);
		t->dirty = false;
	}
	foreach(lc, p->deleted)
	{
		Oid			types[2] = {TEXTOID, UUIDOID};
		Datum		values[2];

		values[0] = CStringGetTextDatum(p->sink);
		values[1] = DirectFunctionCall1(uuid_in, CStringGetDatum((char *) lfirst(lc)));
		ks_sql_run("DELETE FROM kusto_sink.batch WHERE sink OPERATOR(pg_catalog.=) $1 AND id OPERATOR(pg_catalog.=) $2", 2, types, values);
	}
	list_free_deep(p->deleted);
	p->deleted = NIL;
}

/* Pops the acknowledged ranges at the head of each table into its committed position. */
static void
advance(KsProgress *p)
{
	ListCell   *lc;
	MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

	foreach(lc, p->tables)
	{
		TableProgress *t = (TableProgress *) lfirst(lc);

		while (t->ranges != NIL && ((KsRange *) linitial(t->ranges))->acked)
		{
			KsRange    *r = (KsRange *) linitial(t->ranges);

			set_committed(t, r->last_lsn, r->last_index);
			p->deleted = lappend(p->deleted, pstrdup(r->id));
			t->ranges = list_delete_first(t->ranges);
			pfree(r->kusto_table);
			pfree(r);
		}
	}
	MemoryContextSwitchTo(oldcxt);
}

KsProgress *
ks_progress_load(const char *sink, XLogRecPtr confirmed)
{
	KsProgress *p = MemoryContextAllocZero(TopMemoryContext, sizeof(KsProgress));
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	KsSqlTxn	txn;
	uint64		i;

	p->sink = MemoryContextStrdup(TopMemoryContext, sink);
	ks_sql_begin(&txn);
	values[0] = CStringGetTextDatum(sink);
	ks_sql_run("SELECT kusto_table, committed_lsn, committed_index FROM kusto_sink.progress "
		"WHERE sink OPERATOR(pg_catalog.=) $1",
		1, types, values);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		TableProgress *t = table_of(p, SPI_getvalue(tup, desc, 1));

		t->committed_lsn = DatumGetLSN(SPI_getbinval(tup, desc, 2, &isnull));
		t->committed_index = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	}
	ks_sql_run("SELECT id::pg_catalog.text, kusto_table, first_lsn, first_index, last_lsn, last_index, records, acked "
		"FROM kusto_sink.batch WHERE sink OPERATOR(pg_catalog.=) $1 ORDER BY kusto_table, first_lsn, first_index",
		1, types, values);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);
		KsRange    *r = palloc0(sizeof(KsRange));
		TableProgress *t;

		strlcpy(r->id, SPI_getvalue(tup, desc, 1), sizeof(r->id));
		r->kusto_table = pstrdup(SPI_getvalue(tup, desc, 2));
		r->first_lsn = DatumGetLSN(SPI_getbinval(tup, desc, 3, &isnull));
		r->first_index = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
		r->last_lsn = DatumGetLSN(SPI_getbinval(tup, desc, 5, &isnull));
		r->last_index = DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull));
		r->records = DatumGetInt64(SPI_getbinval(tup, desc, 7, &isnull));
		r->acked = DatumGetBool(SPI_getbinval(tup, desc, 8, &isnull));
		/* wholly before the slot's confirmed position: delivered */
		if (r->last_lsn < confirmed)
			r->acked = true;
		t = table_of(p, r->kusto_table);
		t->ranges = lappend(t->ranges, r);
		MemoryContextSwitchTo(oldcxt);
	}
	advance(p);
	flush_changes(p);
	ks_sql_end(&txn);
	return p;
}

bool
ks_progress_delivered(KsProgress *p, const char *kusto_table, XLogRecPtr lsn, int64 index)
{
	TableProgress *t = table_of(p, kusto_table);
	ListCell   *lc;

	if (pos_cmp(lsn, index, t->committed_lsn, t->committed_index) <= 0)
		return true;
	foreach(lc, t->ranges)
	{
		KsRange    *r = (KsRange *) lfirst(lc);

		if (r->acked && pos_cmp(lsn, index, r->first_lsn, r->first_index) >= 0 &&
			pos_cmp(lsn, index, r->last_lsn, r->last_index) <= 0)
			return true;
	}
	return false;
}

KsRange *
ks_progress_range(KsProgress *p, const char *kusto_table, XLogRecPtr lsn, int64 index)
{
	TableProgress *t = table_of(p, kusto_table);
	ListCell   *lc;

	foreach(lc, t->ranges)
	{
		KsRange    *r = (KsRange *) lfirst(lc);

		if (pos_cmp(lsn, index, r->first_lsn, r->first_index) >= 0 &&
			pos_cmp(lsn, index, r->last_lsn, r->last_index) <= 0)
			return r;
	}
	return NULL;
}

/* how many recorded batches are not settled yet */
int
ks_progress_pending(KsProgress *p)
{
	ListCell   *lc;
	int			n = 0;

	foreach(lc, p->tables)
		n += list_length(((TableProgress *) lfirst(lc))->ranges);
	return n;
}

/* Commits a row for each batch (sealed, not yet recorded): after this it may be sent. */
void
ks_progress_record(KsProgress *p, List *batches, const char *method)
{
	ListCell   *lc;
	KsSqlTxn	txn;

	if (batches == NIL)
		return;
	ks_sql_begin(&txn);
	foreach(lc, batches)
	{
		KsBatch    *b = (KsBatch *) lfirst(lc);
		Oid			types[9] = {TEXTOID, UUIDOID, TEXTOID, LSNOID, INT8OID, LSNOID, INT8OID, INT8OID, TEXTOID};
		Datum		values[9];
		MemoryContext oldcxt;
		KsRange    *r;

		ks_batch_id(p->sink, b->kusto_table, b->first_commit_lsn, b->first_index, b->batch_id);
		values[0] = CStringGetTextDatum(p->sink);
		values[1] = DirectFunctionCall1(uuid_in, CStringGetDatum(b->batch_id));
		values[2] = CStringGetTextDatum(b->kusto_table);
		values[3] = LSNGetDatum(b->first_commit_lsn);
		values[4] = Int64GetDatum(b->first_index);
		values[5] = LSNGetDatum(b->last_commit_lsn);
		values[6] = Int64GetDatum(b->last_index);
		values[7] = Int64GetDatum(b->nrecords);
		values[8] = CStringGetTextDatum(method);
		ks_sql_run("INSERT INTO kusto_sink.batch (sink, id, kusto_table, first_lsn, first_index, "
			"last_lsn, last_index, records, method) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
			"ON CONFLICT (sink, id) DO NOTHING", 9, types, values);
		oldcxt = MemoryContextSwitchTo(TopMemoryContext);
		r = palloc0(sizeof(KsRange));
		strlcpy(r->id, b->batch_id, sizeof(r->id));
		r->kusto_table = pstrdup(b->kusto_table);
		r->first_lsn = b->first_commit_lsn;
		r->first_index = b->first_index;
		r->last_lsn = b->last_commit_lsn;
		r->last_index = b->last_index;
		r->records = b->nrecords;
		{
			TableProgress *t = table_of(p, b->kusto_table);

			t->ranges = lappend(t->ranges, r);
		}
		MemoryContextSwitchTo(oldcxt);
		ks_batch_set_state(b, KS_BATCH_RECORDED);
	}
	ks_sql_end(&txn);
}

/* Marks the batches delivered and commits the progress they allow. */
void
ks_progress_settle(KsProgress *p, List *batches)
{
	ListCell   *lc;
	KsSqlTxn	txn;
	List	   *acked_ids = NIL;

	if (batches == NIL)
		return;
	foreach(lc, batches)
	{
		KsBatch    *b = (KsBatch *) lfirst(lc);
		TableProgress *t = table_of(p, b->kusto_table);
		ListCell   *rc;

		foreach(rc, t->ranges)
		{
			KsRange    *r = (KsRange *) lfirst(rc);

			if (strcmp(r->id, b->batch_id) == 0)
			{
				r->acked = true;
				acked_ids = lappend(acked_ids, r->id);
				break;
			}
		}
	}
	ks_sql_begin(&txn);
	/* acknowledged out of order: remembered until the ones before settle */
	foreach(lc, acked_ids)
	{
		Oid			types[2] = {TEXTOID, UUIDOID};
		Datum		values[2];

		values[0] = CStringGetTextDatum(p->sink);
		values[1] = DirectFunctionCall1(uuid_in, CStringGetDatum((char *) lfirst(lc)));
		ks_sql_run("UPDATE kusto_sink.batch SET acked = true "
			"WHERE sink OPERATOR(pg_catalog.=) $1 AND id OPERATOR(pg_catalog.=) $2", 2, types, values);
	}
	list_free(acked_ids);
	advance(p);
	flush_changes(p);
	ks_sql_end(&txn);
}
