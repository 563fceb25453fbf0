/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  Batches of records, gzip-compressed as they arrive (see batch.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/buffile.h"

#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "worker/batch.h"

#define GZIP_WINDOW_BITS (15 + 16)	/* zlib: a gzip member, not a raw zlib stream */

#define TO(s) (1u << (s))

/* the moves each state allows (batch.h documents them) */
static const uint32 next_states[KS_BATCH_NSTATES] = {
	[KS_BATCH_OPEN] = TO(KS_BATCH_SEALED),
	[KS_BATCH_SEALED] = TO(KS_BATCH_RECORDED) | TO(KS_BATCH_IN_DOUBT) |
	TO(KS_BATCH_SENDING) | TO(KS_BATCH_REJECTED),
	[KS_BATCH_RECORDED] = TO(KS_BATCH_SENDING) | TO(KS_BATCH_REJECTED),
	[KS_BATCH_IN_DOUBT] = TO(KS_BATCH_PROBING) | TO(KS_BATCH_CHECKING_STATUS) |
	TO(KS_BATCH_REJECTED),
	[KS_BATCH_SENDING] = TO(KS_BATCH_SENDING) | TO(KS_BATCH_AWAITING_STATUS) |
	TO(KS_BATCH_ACKED) | TO(KS_BATCH_SEALED) | TO(KS_BATCH_RECORDED) | TO(KS_BATCH_IN_DOUBT),
	[KS_BATCH_AWAITING_STATUS] = TO(KS_BATCH_ACKED) | TO(KS_BATCH_SEALED) |
	TO(KS_BATCH_RECORDED) | TO(KS_BATCH_IN_DOUBT),
	[KS_BATCH_PROBING] = TO(KS_BATCH_SENDING) | TO(KS_BATCH_ACKED) | TO(KS_BATCH_IN_DOUBT),
	[KS_BATCH_CHECKING_STATUS] = TO(KS_BATCH_PROBING) | TO(KS_BATCH_SENDING) |
	TO(KS_BATCH_AWAITING_STATUS) | TO(KS_BATCH_ACKED) | TO(KS_BATCH_RECORDED) |
	TO(KS_BATCH_IN_DOUBT),
	[KS_BATCH_ACKED] = 0,
	[KS_BATCH_REJECTED] = 0,
};

static const char *const state_names[KS_BATCH_NSTATES] = {
	[KS_BATCH_OPEN] = "open",
	[KS_BATCH_SEALED] = "sealed",
	[KS_BATCH_RECORDED] = "recorded",
	[KS_BATCH_IN_DOUBT] = "in doubt",
	[KS_BATCH_SENDING] = "sending",
	[KS_BATCH_AWAITING_STATUS] = "awaiting its status",
	[KS_BATCH_PROBING] = "probing",
	[KS_BATCH_CHECKING_STATUS] = "checking its status",
	[KS_BATCH_ACKED] = "acknowledged",
	[KS_BATCH_REJECTED] = "rejected",
};

/*
 * Moves a batch to its next state (batch.h).  A move the table does not
 * allow is a bug: it is logged, so that logs and tests show it (PostgreSQL
 * builds without assertions), and made all the same.
 */
void
ks_batch_set_state(KsBatch *batch, KsBatchState state)
{
	if ((next_states[batch->state] & TO(state)) == 0)
		elog(WARNING, "kusto_sink: batch %llu of Kusto table \"%s\" moved from state \"%s\" to \"%s\", which is not a move of its protocol",
			 (unsigned long long) batch->seq, batch->kusto_table,
			 state_names[batch->state], state_names[state]);
	batch->state = state;
}

/*
 * The state a batch whose send failed waits in for the next one: in doubt
 * when Kusto may have it, else ready to be sent as it is.
 */
KsBatchState
ks_batch_retry_state(KsBatch *batch, bool in_doubt)
{
	Assert(!in_doubt || batch->batch_id[0] != '\0');
	if (in_doubt)
		return KS_BATCH_IN_DOUBT;
	return batch->batch_id[0] != '\0' ? KS_BATCH_RECORDED : KS_BATCH_SEALED;
}

const char *
ks_batch_state_name(KsBatchState state)
{
	return state_names[state];
}

static voidpf
batch_zalloc(voidpf opaque, uInt items, uInt size)
{
	return MemoryContextAlloc((MemoryContext) opaque, (Size) items * size);
}

static void
batch_zfree(voidpf opaque, voidpf address)
{
	pfree(address);
}

KsBatch *
ks_batch_open(MemoryContext parent, uint64 seq, const char *kusto_table)
{
	/*
	 * Small blocks: the big buffers (the deflate state, the compressed
	 * bytes) get blocks of their own anyway, and a sealed batch spilled to
	 * disk should keep almost nothing in memory (a huge transaction can
	 * leave thousands of them waiting).
	 */
	MemoryContext cxt = AllocSetContextCreate(parent, "kusto_sink batch", ALLOCSET_SMALL_SIZES);
	KsBatch    *batch = MemoryContextAllocZero(cxt, sizeof(KsBatch));

	batch->cxt = cxt;
	batch->state = KS_BATCH_OPEN;
	batch->seq = seq;
	batch->kusto_table = MemoryContextStrdup(cxt, kusto_table);
	batch->opened_at = GetCurrentTimestamp();
	batch->zs.zalloc = batch_zalloc;
	batch->zs.zfree = batch_zfree;
	batch->zs.opaque = (voidpf) cxt;
	/*
	 * Level 1: a third of the CPU of the default level for about 20% more
	 * bytes on the wire; the worker runs on the primary.
	 */
	if (deflateInit2(&batch->zs, Z_BEST_SPEED, Z_DEFLATED, GZIP_WINDOW_BITS,
					 8, Z_DEFAULT_STRATEGY) != Z_OK)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not start a gzip stream: %s", batch->zs.msg ? batch->zs.msg : "unknown error")));
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(cxt);

		initStringInfo(&batch->gz);
		MemoryContextSwitchTo(oldcxt);
	}
	return batch;
}

static void
deflate_into(KsBatch *batch, const char *data, int len, int flush)
{
	batch->zs.next_in = (Bytef *) data;
	batch->zs.avail_in = len;
	do
	{
		int			rc;
		int			room;

		enlargeStringInfo(&batch->gz, 16384);
		room = batch->gz.maxlen - batch->gz.len - 1;
		batch->zs.next_out = (Bytef *) batch->gz.data + batch->gz.len;
		batch->zs.avail_out = room;
		rc = deflate(&batch->zs, flush);
		if (rc == Z_STREAM_ERROR)
			elog(ERROR, "gzip compression failed");
		batch->gz.len += room - batch->zs.avail_out;
		if (flush == Z_FINISH && rc == Z_STREAM_END)
			break;
	} while (batch->zs.avail_out == 0 || (flush == Z_FINISH));
}

void
ks_batch_add(KsBatch *batch, const char *data, int len, XLogRecPtr lsn,
			 XLogRecPtr commit_lsn, int64 index)
{
	Assert(batch->state == KS_BATCH_OPEN);
	deflate_into(batch, data, len, Z_NO_FLUSH);
	deflate_into(batch, "\n", 1, Z_NO_FLUSH);
	if (batch->nrecords == 0)
	{
		batch->first_commit_lsn = commit_lsn;
		batch->first_index = index;
		batch->first_change_lsn = lsn;
	}
	batch->last_commit_lsn = commit_lsn;
	batch->last_index = index;
	batch->last_change_lsn = lsn;
	batch->nrecords++;
	batch->raw_bytes += len + 1;
}

/* Appends records that are already newline-terminated (a dead letter's payload). */
void
ks_batch_add_raw(KsBatch *batch, const char *data, int len, int64 nrecords)
{
	Assert(batch->state == KS_BATCH_OPEN);
	deflate_into(batch, data, len, Z_NO_FLUSH);
	batch->nrecords += nrecords;
	batch->raw_bytes += len;
}

void
ks_batch_seal(KsBatch *batch)
{
	if (batch->state != KS_BATCH_OPEN)
		return;
	deflate_into(batch, NULL, 0, Z_FINISH);
	deflateEnd(&batch->zs);
	batch->gz.data[batch->gz.len] = '\0';
	ks_batch_set_state(batch, KS_BATCH_SEALED);
}

/*
 * Spilled batches share temporary files, each appended to until it holds
 * KS_SPILL_FILE_BYTES; then the next one is started.  A file is closed (and
 * its space given back) when the last batch spilled into it has been loaded
 * or freed, so that a steady stream of batches waiting for their status,
 * each spilled and soon freed, never grows the disk without end.
 */
#define KS_SPILL_FILE_BYTES ((off_t) 64 * 1024 * 1024)

typedef struct KsSpillFile
{
	BufFile    *file;
	int			end_fileno;
	off_t		end_offset;
	off_t		bytes;			/* written to it so far */
	int			batches;		/* spilled into it and not yet loaded or freed */
} KsSpillFile;

static KsSpillFile *spill_current = NULL;	/* the one appended to */

static void
spill_release(KsBatch *batch)
{
	KsSpillFile *f = batch->spill;

	batch->spilled = false;
	batch->spill = NULL;
	if (--f->batches > 0)
		return;
	BufFileClose(f->file);
	if (f == spill_current)
		spill_current = NULL;
	pfree(f);
}

void
ks_batch_free(KsBatch *batch)
{
	if (batch->state == KS_BATCH_OPEN)
		deflateEnd(&batch->zs);
	if (batch->spilled)
		spill_release(batch);
	MemoryContextDelete(batch->cxt);
}

/*
 * Moves a sealed batch's compressed bytes to a spill file (they come back
 * with ks_batch_load), so that batches waiting to be sent, or waiting for
 * their status, do not hold memory.  The files live across transactions.
 */
void
ks_batch_spill(KsBatch *batch)
{
	KsSpillFile *f;

	if (batch->state == KS_BATCH_OPEN || batch->spilled || batch->gz.data == NULL)
		return;
	if (spill_current == NULL || spill_current->bytes >= KS_SPILL_FILE_BYTES)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

		/* (a full file stays open until its last batch is gone) */
		spill_current = palloc0(sizeof(KsSpillFile));
		spill_current->file = BufFileCreateTemp(true);
		MemoryContextSwitchTo(oldcxt);
	}
	f = spill_current;
	if (BufFileSeek(f->file, f->end_fileno, f->end_offset, SEEK_SET) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("kusto_sink: could not seek in the file of spilled batches")));
	batch->spill = f;
	batch->spill_fileno = f->end_fileno;
	batch->spill_offset = f->end_offset;
	BufFileWrite(f->file, batch->gz.data, batch->gz.len);
	BufFileTell(f->file, &f->end_fileno, &f->end_offset);
	f->bytes += batch->gz.len;
	f->batches++;
	batch->spill_len = batch->gz.len;
	batch->spilled = true;
	pfree(batch->gz.data);
	batch->gz.data = NULL;
	batch->gz.len = 0;
	batch->gz.maxlen = 0;
}

void
ks_batch_load(KsBatch *batch)
{
	MemoryContext oldcxt;
	KsSpillFile *f = batch->spill;

	if (!batch->spilled)
		return;
	oldcxt = MemoryContextSwitchTo(batch->cxt);
	initStringInfo(&batch->gz);
	enlargeStringInfo(&batch->gz, (int) batch->spill_len + 1);
	MemoryContextSwitchTo(oldcxt);
	if (BufFileSeek(f->file, batch->spill_fileno, batch->spill_offset, SEEK_SET) != 0 ||
		BufFileRead(f->file, batch->gz.data, batch->spill_len) != batch->spill_len)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("kusto_sink: could not read back a spilled batch")));
	batch->gz.len = (int) batch->spill_len;
	batch->gz.data[batch->gz.len] = '\0';
	spill_release(batch);
}

/* The compressed size of a sealed batch, in memory or spilled. */
size_t
ks_batch_compressed_size(KsBatch *batch)
{
	return batch->spilled ? batch->spill_len : (size_t) batch->gz.len;
}

/* The sealed batch's records as text (for the dead-letter table), palloc'd. */
char *
ks_batch_uncompressed(KsBatch *batch)
{
	z_stream	zs;
	char	   *out = palloc(batch->raw_bytes + 1);
	int			rc;

	Assert(batch->state != KS_BATCH_OPEN);
	ks_batch_load(batch);
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, GZIP_WINDOW_BITS) != Z_OK)
		elog(ERROR, "could not start a gzip decompression");
	zs.next_in = (Bytef *) batch->gz.data;
	zs.avail_in = batch->gz.len;
	zs.next_out = (Bytef *) out;
	zs.avail_out = batch->raw_bytes;
	rc = inflate(&zs, Z_FINISH);
	inflateEnd(&zs);
	if (rc != Z_STREAM_END || zs.total_out != (uLong) batch->raw_bytes)
		elog(ERROR, "could not decompress a batch for the dead-letter table");
	out[batch->raw_bytes] = '\0';
	return out;
}
