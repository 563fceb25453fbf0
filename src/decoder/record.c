/*-------------------------------------------------------------------------
 *
 * record.c
 *	  Writing one change as a JSON line or a CSV record.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"

#include "decoder/colrules.h"
#include "decoder/escape.h"
#include "decoder/record.h"
#include "decoder/values.h"

/* the user columns' values, deformed once per record */
typedef struct RowValues
{
	Datum	   *values;
	bool	   *nulls;
	bool	   *unchanged;		/* unchanged TOAST value that we do not have */
	List	   *unchanged_names;
} RowValues;

static inline bool
is_unchanged_toast(Form_pg_attribute att, Datum value, bool isnull)
{
	return !isnull && att->attlen == -1 &&
		VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(value));
}

static void
deform_row(RowValues *row, KsRelInfo *rel, TupleDesc desc,
		   HeapTuple tuple, HeapTuple fallback)
{
	Datum	   *old_values = NULL;
	bool	   *old_nulls = NULL;
	int			i;

	row->values = palloc(desc->natts * sizeof(Datum));
	row->nulls = palloc(desc->natts * sizeof(bool));
	row->unchanged = palloc0(desc->natts * sizeof(bool));
	row->unchanged_names = NIL;
	heap_deform_tuple(tuple, desc, row->values, row->nulls);

	for (i = 0; i < rel->ncolumns; i++)
	{
		KsColumn   *col = &rel->columns[i];
		int			a = col->attidx;
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (!is_unchanged_toast(att, row->values[a], row->nulls[a]))
			continue;
		if (fallback != NULL)
		{
			if (old_values == NULL)
			{
				old_values = palloc(desc->natts * sizeof(Datum));
				old_nulls = palloc(desc->natts * sizeof(bool));
				heap_deform_tuple(fallback, desc, old_values, old_nulls);
			}
			/* a key-only old row has nulls for the columns it does not hold */
			if (!old_nulls[a] && !is_unchanged_toast(att, old_values[a], old_nulls[a]))
			{
				row->values[a] = old_values[a];
				row->nulls[a] = old_nulls[a];
				continue;
			}
		}
		row->unchanged[a] = true;
		row->unchanged_names = lappend(row->unchanged_names, (char *) col->name);
	}
}

static void
append_unchanged_json(StringInfo out, List *names)
{
	ListCell   *lc;

	appendStringInfoCharMacro(out, '[');
	foreach(lc, names)
	{
		const char *name = (const char *) lfirst(lc);

		if (lc != list_head(names))
			appendStringInfoCharMacro(out, ',');
		ks_append_json_string(out, name, strlen(name));
	}
	appendStringInfoCharMacro(out, ']');
}

static int
format_lsn(XLogRecPtr lsn, char *buf)
{
	return pg_ulltoa_n((uint64) lsn, buf);
}

/*
 * A masked value (colrules.h), in the record's format: NULL (a null mask,
 * or a NULL value under a hash mask) as JSON null or an empty CSV field; a
 * fixed mask is its string, NULL or not.
 */
static void
append_masked(StringInfo out, const KsDecoderOptions *opts, KsColumn *col,
			  Datum value, bool isnull, bool csv)
{
	StringInfoData text;

	if (col->mask->kind == KS_MASK_NULL || (isnull && col->mask->kind == KS_MASK_HASH))
	{
		if (!csv)
			appendBinaryStringInfo(out, "null", 4);
		return;
	}
	initStringInfo(&text);
	if (col->mask->kind == KS_MASK_FIXED)
		appendStringInfoString(&text, col->mask->fixed);
	else
		ks_append_mask_hash(&text, opts->mask_salt, opts->mask_salt_len,
							OutputFunctionCall(col->mask_out, value));
	if (csv)
		ks_append_csv_field(out, text.data, text.len);
	else
		ks_append_json_string(out, text.data, text.len);
	pfree(text.data);
}

/* ---------- JSON ---------- */

static void
append_json_key(StringInfo out, const char *name, bool *first)
{
	if (!*first)
		appendStringInfoCharMacro(out, ',');
	*first = false;
	ks_append_json_string(out, name, strlen(name));
	appendStringInfoCharMacro(out, ':');
}

static void
append_json_record(StringInfo out, const KsDecoderOptions *opts, KsRelInfo *rel,
				   TupleDesc desc, RowValues *row, bool key_only,
				   const KsChangeMeta *meta)
{
	bool		first = true;
	char		buf[KS_DATETIME_BUFLEN];
	int			len;
	int			i;

	appendStringInfoCharMacro(out, '{');
	for (i = 0; row != NULL && i < rel->ncolumns; i++)
	{
		KsColumn   *col = &rel->columns[i];
		int			a = col->attidx;

		if ((key_only && !col->is_identity) || row->unchanged[a])
			continue;
		if (!first)
			appendStringInfoCharMacro(out, ',');
		first = false;
		appendBinaryStringInfo(out, col->json_key, col->json_key_len);
		if (col->mask != NULL)
			append_masked(out, opts, col, row->values[a], row->nulls[a], false);
		else if (row->nulls[a])
			appendBinaryStringInfo(out, "null", 4);
		else
			ks_append_json_value(out, row->values[a], col->type, false);
	}

	if (opts->meta_enabled[KS_META_OP])
	{
		append_json_key(out, opts->meta_name[KS_META_OP], &first);
		ks_append_json_string(out, meta->op, strlen(meta->op));
	}
	if (opts->meta_enabled[KS_META_LSN])
	{
		append_json_key(out, opts->meta_name[KS_META_LSN], &first);
		appendBinaryStringInfo(out, buf, format_lsn(meta->lsn, buf));
	}
	if (opts->meta_enabled[KS_META_COMMIT_LSN])
	{
		append_json_key(out, opts->meta_name[KS_META_COMMIT_LSN], &first);
		appendBinaryStringInfo(out, buf, format_lsn(meta->commit_lsn, buf));
	}
	if (opts->meta_enabled[KS_META_COMMIT_TIME])
	{
		append_json_key(out, opts->meta_name[KS_META_COMMIT_TIME], &first);
		len = ks_format_timestamp(meta->commit_time, buf);
		if (len < 0)
			appendBinaryStringInfo(out, "null", 4);
		else
		{
			appendStringInfoCharMacro(out, '"');
			appendBinaryStringInfo(out, buf, len);
			appendStringInfoCharMacro(out, '"');
		}
	}
	if (opts->meta_enabled[KS_META_XID])
	{
		append_json_key(out, opts->meta_name[KS_META_XID], &first);
		appendBinaryStringInfo(out, buf, pg_ulltoa_n(meta->xid, buf));
	}
	if (opts->meta_enabled[KS_META_SCHEMA])
	{
		append_json_key(out, opts->meta_name[KS_META_SCHEMA], &first);
		appendBinaryStringInfo(out, rel->schema_json, rel->schema_json_len);
	}
	if (opts->meta_enabled[KS_META_TABLE])
	{
		append_json_key(out, opts->meta_name[KS_META_TABLE], &first);
		appendBinaryStringInfo(out, rel->table_json, rel->table_json_len);
	}
	if (opts->meta_enabled[KS_META_UNCHANGED_TOAST] &&
		row != NULL && row->unchanged_names != NIL)
	{
		append_json_key(out, opts->meta_name[KS_META_UNCHANGED_TOAST], &first);
		append_unchanged_json(out, row->unchanged_names);
	}
	appendStringInfoCharMacro(out, '}');
}

/* ---------- CSV ---------- */

static void
append_csv_record(StringInfo out, const KsDecoderOptions *opts, KsRelInfo *rel,
				  TupleDesc desc, RowValues *row, bool key_only,
				  const KsChangeMeta *meta)
{
	char		buf[KS_DATETIME_BUFLEN];
	bool		first = true;
	int			len;
	int			i;

#define CSV_SEPARATOR() \
	do { \
		if (!first) \
			appendStringInfoCharMacro(out, ','); \
		first = false; \
	} while (0)

	for (i = 0; i < rel->ncolumns; i++)
	{
		KsColumn   *col = &rel->columns[i];
		int			a = col->attidx;

		CSV_SEPARATOR();
		if (row == NULL || (key_only && !col->is_identity) || row->unchanged[a])
			continue;
		if (col->mask != NULL)
			append_masked(out, opts, col, row->values[a], row->nulls[a], true);
		else if (!row->nulls[a])
			ks_append_csv_value(out, row->values[a], col->type);
	}

	if (opts->meta_enabled[KS_META_OP])
	{
		CSV_SEPARATOR();
		appendStringInfoString(out, meta->op);
	}
	if (opts->meta_enabled[KS_META_LSN])
	{
		CSV_SEPARATOR();
		appendBinaryStringInfo(out, buf, format_lsn(meta->lsn, buf));
	}
	if (opts->meta_enabled[KS_META_COMMIT_LSN])
	{
		CSV_SEPARATOR();
		appendBinaryStringInfo(out, buf, format_lsn(meta->commit_lsn, buf));
	}
	if (opts->meta_enabled[KS_META_COMMIT_TIME])
	{
		CSV_SEPARATOR();
		len = ks_format_timestamp(meta->commit_time, buf);
		if (len > 0)
			appendBinaryStringInfo(out, buf, len);
	}
	if (opts->meta_enabled[KS_META_XID])
	{
		CSV_SEPARATOR();
		appendBinaryStringInfo(out, buf, pg_ulltoa_n(meta->xid, buf));
	}
	if (opts->meta_enabled[KS_META_SCHEMA])
	{
		CSV_SEPARATOR();
		appendBinaryStringInfo(out, rel->schema_csv, rel->schema_csv_len);
	}
	if (opts->meta_enabled[KS_META_TABLE])
	{
		CSV_SEPARATOR();
		appendBinaryStringInfo(out, rel->table_csv, rel->table_csv_len);
	}
	if (opts->meta_enabled[KS_META_UNCHANGED_TOAST])
	{
		CSV_SEPARATOR();
		if (row != NULL && row->unchanged_names != NIL)
		{
			StringInfoData json;

			initStringInfo(&json);
			append_unchanged_json(&json, row->unchanged_names);
			ks_append_csv_field(out, json.data, json.len);
		}
	}
#undef CSV_SEPARATOR
}

void
ks_append_record(StringInfo out, const KsDecoderOptions *opts,
				 KsRelInfo *rel, TupleDesc desc,
				 HeapTuple tuple, HeapTuple fallback, bool key_only,
				 const KsChangeMeta *meta)
{
	RowValues	row;
	RowValues  *rowp = NULL;

	if (tuple != NULL)
	{
		deform_row(&row, rel, desc, tuple, fallback);
		rowp = &row;
	}
	if (opts->format == KS_FORMAT_CSV)
		append_csv_record(out, opts, rel, desc, rowp, key_only, meta);
	else
		append_json_record(out, opts, rel, desc, rowp, key_only, meta);
}
