/*-------------------------------------------------------------------------
 *
 * dead_letters.c
 *	  A sink's dead letters (see dead_letters.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "worker/dead_letters.h"
#include "worker/worker_sql.h"

struct KsDeadLetters
{
	char	   *sink;
	char	   *format;
	MemoryContext batch_cxt;	/* where dead letters sent again are built */
	List	   *rejected;		/* KsBatch *: to store */
	List	   *accepted;		/* dead letters Kusto took: delete */
	List	   *failed;			/* dead letters rejected again: keep */
	TimestampTz next_check;
};

KsDeadLetters *
ks_dead_letters_create(const char *sink, const char *format, MemoryContext batch_cxt)
{
	KsDeadLetters *dl = MemoryContextAllocZero(TopMemoryContext, sizeof(KsDeadLetters));

	dl->sink = MemoryContextStrdup(TopMemoryContext, sink);
	dl->format = MemoryContextStrdup(TopMemoryContext, format);
	dl->batch_cxt = batch_cxt;
	return dl;
}

/* may run inside decoding: the lists live in TopMemoryContext */
static List *
append(List *list, KsBatch *batch)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

	list = lappend(list, batch);
	MemoryContextSwitchTo(oldcxt);
	return list;
}

void
ks_dead_letters_reject(KsDeadLetters *dl, KsBatch *batch, const char *error)
{
	batch->error = MemoryContextStrdup(batch->cxt, error);
	dl->rejected = append(dl->rejected, batch);
}

/* error: NULL when Kusto took it */
void
ks_dead_letters_resent(KsDeadLetters *dl, KsBatch *batch, const char *error)
{
	if (error == NULL)
		dl->accepted = append(dl->accepted, batch);
	else
	{
		batch->error = MemoryContextStrdup(batch->cxt, error);
		dl->failed = append(dl->failed, batch);
	}
}

static void
store_rejected(KsDeadLetters *dl)
{
	ListCell   *lc;

	foreach(lc, dl->rejected)
	{
		KsBatch    *b = (KsBatch *) lfirst(lc);
		Oid			types[9] = {TEXTOID, TEXTOID, TEXTOID, INT8OID, LSNOID, LSNOID, TEXTOID, TEXTOID, TEXTOID};
		Datum		values[9];

		values[0] = CStringGetTextDatum(dl->sink);
		values[1] = CStringGetTextDatum(b->kusto_table);
		values[2] = CStringGetTextDatum(dl->format);
		values[3] = Int64GetDatum(b->nrecords);
		values[4] = LSNGetDatum(b->first_commit_lsn);
		values[5] = LSNGetDatum(b->last_commit_lsn);
		values[6] = CStringGetTextDatum(ks_batch_uncompressed(b));
		values[7] = CStringGetTextDatum(b->error);
		values[8] = CStringGetTextDatum(b->mapping ? b->mapping : "");
		ks_sql_run("INSERT INTO kusto_sink.dead_letter (sink, kusto_table, format, records, "
				   "first_commit_lsn, last_commit_lsn, payload, error, mapping) "
				   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
				   "CASE WHEN $9 OPERATOR(pg_catalog.=) '' THEN NULL ELSE $9 END)", 9, types, values);
	}
}

static void
settle_resent(KsDeadLetters *dl)
{
	ListCell   *lc;

	foreach(lc, dl->accepted)
	{
		KsBatch    *b = (KsBatch *) lfirst(lc);
		Oid			types[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(b->dead_letter_id)};

		ks_sql_run("DELETE FROM kusto_sink.dead_letter WHERE id OPERATOR(pg_catalog.=) $1", 1, types, values);
	}
	foreach(lc, dl->failed)
	{
		KsBatch    *b = (KsBatch *) lfirst(lc);
		Oid			types[2] = {INT8OID, TEXTOID};
		Datum		values[2] = {Int64GetDatum(b->dead_letter_id), CStringGetTextDatum(b->error)};

		ks_sql_run("UPDATE kusto_sink.dead_letter SET error = $2, failed_at = pg_catalog.now(), "
				   "retry_requested = false WHERE id OPERATOR(pg_catalog.=) $1", 2, types, values);
	}
}

/* the dead letters a retry asked for, as sealed batches */
static List *
take_retry_requests(KsDeadLetters *dl)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(dl->sink)};
	List	   *retry = NIL;
	uint64		i;

	ks_sql_run("UPDATE kusto_sink.dead_letter SET retry_requested = false "
			   "WHERE sink OPERATOR(pg_catalog.=) $1 AND retry_requested "
			   "RETURNING id, kusto_table, records, payload, mapping", 1, types, values);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *payload = SPI_getvalue(tup, desc, 4);
		char	   *mapping = SPI_getvalue(tup, desc, 5);
		KsBatch    *b = ks_batch_open(dl->batch_cxt, 0, SPI_getvalue(tup, desc, 2));

		b->dead_letter_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		/* sent again through the mapping of its layout */
		if (mapping != NULL)
			b->mapping = MemoryContextStrdup(b->cxt, mapping);
		ks_batch_add_raw(b, payload, strlen(payload),
						 DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull)));
		ks_batch_seal(b);
		/* the list lives on: not in SPI's context */
		retry = append(retry, b);
	}
	return retry;
}

void
ks_dead_letters_settle(KsDeadLetters *dl, bool check_requests, List **stored, List **retry)
{
	KsSqlTxn	txn;
	ListCell   *lc;
	TimestampTz now = GetCurrentTimestamp();

	*stored = NIL;
	*retry = NIL;
	if (dl->rejected == NIL && dl->accepted == NIL && dl->failed == NIL &&
		!check_requests && now < dl->next_check)
		return;

	ks_sql_begin(&txn);
	store_rejected(dl);
	settle_resent(dl);
	*retry = take_retry_requests(dl);
	ks_sql_end(&txn);

	/* stored: the caller settles them; sent again: done with */
	*stored = dl->rejected;
	foreach(lc, dl->accepted)
		ks_batch_free((KsBatch *) lfirst(lc));
	foreach(lc, dl->failed)
		ks_batch_free((KsBatch *) lfirst(lc));
	list_free(dl->accepted);
	list_free(dl->failed);
	dl->rejected = NIL;
	dl->accepted = NIL;
	dl->failed = NIL;
	dl->next_check = TimestampTzPlusMilliseconds(now, KS_DEAD_LETTER_CHECK_MS);
}
