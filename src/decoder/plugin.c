/*-------------------------------------------------------------------------
 *
 * plugin.c
 *	  The logical decoding output plugin "kusto_sink".
 *
 * Every decoded row change becomes one record in the sink's format (JSON
 * line or CSV record, see record.h); transactions produce no records of
 * their own, since every record carries its commit LSN, time and xid.
 * Usable from pg_create_logical_replication_slot(..., 'kusto_sink'),
 * pg_logical_slot_get_changes() and pg_recvlogical, and in-process by the
 * sink worker.
 *
 *	insert		new row
 *	update		new row; when the primary (or replica identity) key changed,
 *				first a delete record for the old key
 *	delete		old key (REPLICA IDENTITY DEFAULT / INDEX) or old row (FULL);
 *				no user columns when the table has no replica identity
 *	truncate	one record per truncated table, no user columns
 *
 * Through a publication, its row filters decide which changes pass (an
 * update may become an insert or a delete) and its column list which
 * columns the records have, as for pgoutput (pubfilter.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "mb/pg_wchar.h"
#include "replication/logical.h"
#include "replication/output_plugin.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "compat.h"
#include "decoder/hooks.h"
#include "decoder/options.h"
#include "decoder/pubfilter.h"
#include "decoder/record.h"
#include "decoder/relinfo.h"

typedef struct KsPluginState
{
	KsDecoderOptions opts;
	MemoryContext change_cxt;	/* reset after every change */
	bool		to_utf8;		/* server encoding needs converting */
	KsDecoderHooks *hooks;		/* in-process consumer, or NULL */
	StringInfoData record;		/* the record being built, with hooks */
	int64		index;			/* records so far in this transaction */
} KsPluginState;

KsDecoderHooks *ks_decoder_hooks = NULL;

extern void _PG_output_plugin_init(OutputPluginCallbacks *cb);

static void
ks_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt, bool is_init)
{
	KsPluginState *state;
	MemoryContext oldcxt;
	int			encoding = GetDatabaseEncoding();

	oldcxt = MemoryContextSwitchTo(ctx->context);
	state = palloc0(sizeof(KsPluginState));
	ks_parse_options(&state->opts, ctx->output_plugin_options);
	state->change_cxt = AllocSetContextCreate(ctx->context,
											  "kusto_sink change",
											  ALLOCSET_DEFAULT_SIZES);
	state->to_utf8 = (encoding != PG_UTF8 && encoding != PG_SQL_ASCII);
	state->hooks = ks_decoder_hooks;
	initStringInfo(&state->record);
	ks_relinfo_startup(ctx->context);
	MemoryContextSwitchTo(oldcxt);

	ctx->output_plugin_private = state;
	opt->output_type = OUTPUT_PLUGIN_TEXTUAL_OUTPUT;
	opt->receive_rewrites = false;
}

static void
ks_shutdown(LogicalDecodingContext *ctx)
{
	ks_relinfo_shutdown();
}

static void
ks_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	KsPluginState *state = (KsPluginState *) ctx->output_plugin_private;

	/* records carry their transaction's metadata: nothing to write */
	state->index = 0;
}

static void
ks_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr commit_lsn)
{
	KsPluginState *state = (KsPluginState *) ctx->output_plugin_private;

	if (state->hooks != NULL && state->hooks->commit != NULL)
		state->hooks->commit(state->hooks->arg, txn->final_lsn, txn->end_lsn,
							 KS_TXN_COMMIT_TIME(txn), state->index);
}

static void
fill_meta(KsChangeMeta *meta, const char *op, ReorderBufferTXN *txn, XLogRecPtr lsn)
{
	meta->op = op;
	meta->lsn = lsn;
	meta->commit_lsn = txn->final_lsn;
	meta->commit_time = KS_TXN_COMMIT_TIME(txn);
	meta->xid = txn->xid;
}

/*
 * Writes one record: as one message of the decoding output, or to the
 * in-process consumer's hook.
 */
static void
write_record(LogicalDecodingContext *ctx, Oid relid, KsRelInfo *info, TupleDesc desc,
			 HeapTuple tuple, HeapTuple fallback, bool key_only,
			 const KsChangeMeta *meta)
{
	KsPluginState *state = (KsPluginState *) ctx->output_plugin_private;
	StringInfo	out;

	if (state->hooks != NULL)
	{
		out = &state->record;
		resetStringInfo(out);
	}
	else
	{
		OutputPluginPrepareWrite(ctx, true);
		out = ctx->out;
	}
	ks_append_record(out, &state->opts, info, desc, tuple, fallback, key_only, meta);
	if (state->to_utf8)
	{
		char	   *utf8 = pg_server_to_any(out->data, out->len, PG_UTF8);

		if (utf8 != out->data)
		{
			resetStringInfo(out);
			appendStringInfoString(out, utf8);
		}
	}
	if (state->hooks != NULL)
		state->hooks->record(state->hooks->arg, relid, &info->shape, out->data, out->len,
							 meta->lsn, meta->commit_lsn, state->index);
	else
		OutputPluginWrite(ctx, true);
	state->index++;
}

/* Did an update change the row's key?  Only asked when the old row was logged. */
static bool
key_changed(KsRelInfo *info, TupleDesc desc, HeapTuple oldtup, HeapTuple newtup)
{
	int			x = -1;

	while ((x = bms_next_member(info->key_attrs, x)) >= 0)
	{
		AttrNumber	attnum = x + FirstLowInvalidHeapAttributeNumber;
		Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
		bool		oldnull,
					newnull;
		Datum		oldval = heap_getattr(oldtup, attnum, desc, &oldnull);
		Datum		newval = heap_getattr(newtup, attnum, desc, &newnull);

		if (oldnull != newnull)
			return true;
		if (!oldnull && !datum_image_eq(oldval, newval, att->attbyval, att->attlen))
			return true;
	}
	return false;
}

static void
ks_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
		  Relation relation, ReorderBufferChange *change)
{
	KsPluginState *state = (KsPluginState *) ctx->output_plugin_private;
	KsRelInfo  *info = ks_relinfo_get(relation, &state->opts);
	TupleDesc	desc = RelationGetDescr(relation);
	bool		full = (info->replident == REPLICA_IDENTITY_FULL);
	HeapTuple	oldtup = KS_CHANGE_TUPLE(change->data.tp.oldtuple);
	HeapTuple	newtup = KS_CHANGE_TUPLE(change->data.tp.newtuple);
	KsChangeMeta meta;
	MemoryContext oldcxt;

	oldcxt = MemoryContextSwitchTo(state->change_cxt);
	switch (change->action)
	{
		case REORDER_BUFFER_CHANGE_INSERT:
			if (info->publish_insert && newtup != NULL &&
				ks_pubfilter_apply(info->pubfilter, KS_ROW_INSERT, NULL, newtup) != KS_ROW_SKIP)
			{
				fill_meta(&meta, "insert", txn, change->lsn);
				write_record(ctx, RelationGetRelid(relation), info, desc, newtup, NULL, false, &meta);
			}
			break;
		case REORDER_BUFFER_CHANGE_UPDATE:
			if (!info->publish_update || newtup == NULL)
				break;
			/* the row filters may make it an insert or a delete (pubfilter.h) */
			switch (ks_pubfilter_apply(info->pubfilter, KS_ROW_UPDATE, oldtup, newtup))
			{
				case KS_ROW_INSERT:
					/* unchanged TOASTed values from the old row, where it has them */
					fill_meta(&meta, "insert", txn, change->lsn);
					write_record(ctx, RelationGetRelid(relation), info, desc, newtup, oldtup, false, &meta);
					break;
				case KS_ROW_DELETE:
					fill_meta(&meta, "delete", txn, change->lsn);
					write_record(ctx, RelationGetRelid(relation), info, desc, oldtup, NULL, !full, &meta);
					break;
				case KS_ROW_UPDATE:
					if (oldtup != NULL && !bms_is_empty(info->key_attrs) &&
						key_changed(info, desc, oldtup, newtup))
					{
						fill_meta(&meta, "delete", txn, change->lsn);
						write_record(ctx, RelationGetRelid(relation), info, desc, oldtup, NULL, !full, &meta);
					}
					fill_meta(&meta, "update", txn, change->lsn);
					write_record(ctx, RelationGetRelid(relation), info, desc, newtup, full ? oldtup : NULL, false, &meta);
					break;
				case KS_ROW_SKIP:
					break;
			}
			break;
		case REORDER_BUFFER_CHANGE_DELETE:
			if (!info->publish_delete)
				break;
			/* a row filter judges the old row; without one logged, nothing to judge */
			if (info->pubfilter != NULL && info->pubfilter->exprstate[KS_ROW_DELETE] != NULL &&
				(oldtup == NULL ||
				 ks_pubfilter_apply(info->pubfilter, KS_ROW_DELETE, oldtup, NULL) == KS_ROW_SKIP))
				break;
			fill_meta(&meta, "delete", txn, change->lsn);
			write_record(ctx, RelationGetRelid(relation), info, desc, oldtup, NULL, !full, &meta);
			break;
		default:
			/* other actions never reach an output plugin's change callback */
			break;
	}
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(state->change_cxt);
}

static void
ks_truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
			int nrelations, Relation relations[], ReorderBufferChange *change)
{
	KsPluginState *state = (KsPluginState *) ctx->output_plugin_private;
	MemoryContext oldcxt;
	KsChangeMeta meta;
	int			i;

	oldcxt = MemoryContextSwitchTo(state->change_cxt);
	fill_meta(&meta, "truncate", txn, change->lsn);
	for (i = 0; i < nrelations; i++)
	{
		KsRelInfo  *info = ks_relinfo_get(relations[i], &state->opts);

		/*
		 * as pgoutput_truncate: a partition published via its root is
		 * truncated as the root (which the record names), not itself
		 */
		if (info->publish_truncate &&
			!(relations[i]->rd_rel->relispartition && info->publish_as != RelationGetRelid(relations[i])))
			write_record(ctx, RelationGetRelid(relations[i]), info, RelationGetDescr(relations[i]), NULL, NULL, false, &meta);
	}
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(state->change_cxt);
}

/* The sink worker's snapshot chunk markers (hooks.h); nothing else is written. */
static void
ks_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr lsn,
		   bool transactional, const char *prefix, Size size, const char *content)
{
	KsPluginState *state = (KsPluginState *) ctx->output_plugin_private;

	if (state->hooks == NULL || state->hooks->message == NULL || transactional ||
		strcmp(prefix, KS_SNAPSHOT_MESSAGE_PREFIX) != 0)
		return;
	state->hooks->message(state->hooks->arg, lsn, content, size);
}

void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	cb->startup_cb = ks_startup;
	cb->begin_cb = ks_begin;
	cb->change_cb = ks_change;
	cb->truncate_cb = ks_truncate;
	cb->commit_cb = ks_commit;
	cb->message_cb = ks_message;
	cb->shutdown_cb = ks_shutdown;
}
