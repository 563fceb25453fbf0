/*-------------------------------------------------------------------------
 *
 * options.c
 *	  Parsing and validating the output plugin's options.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/defrem.h"
#include "lib/stringinfo.h"
#include "utils/regproc.h"
#include "utils/builtins.h"
#include "utils/varlena.h"

#include "compat.h"
#include "decoder/colbind.h"
#include "decoder/colrules.h"
#include "decoder/options.h"

static const struct
{
	const char *key;			/* in the metadata option */
	const char *column_option;	/* the option that renames it */
	const char *default_name;
	KustoType	ktype;
}			meta_defs[KS_META_COUNT] =
{
	[KS_META_OP] = {"op", "op_column", "_op", KT_STRING},
	[KS_META_LSN] = {"lsn", "lsn_column", "_lsn", KT_LONG},
	[KS_META_COMMIT_LSN] = {"commit_lsn", "commit_lsn_column", "_commit_lsn", KT_LONG},
	[KS_META_COMMIT_TIME] = {"commit_time", "commit_time_column", "_commit_time", KT_DATETIME},
	[KS_META_XID] = {"xid", "xid_column", "_xid", KT_LONG},
	[KS_META_SCHEMA] = {"schema", "schema_column", "_schema", KT_STRING},
	[KS_META_TABLE] = {"table", "table_column", "_table", KT_STRING},
	[KS_META_UNCHANGED_TOAST] = {"unchanged_toast", "unchanged_toast_column", "_unchanged_toast", KT_DYNAMIC},
};

#define OPTION_LIST "format, metadata, tables, relids, publication, columns, column_attnums, mask_salt, op_column, lsn_column, " \
	"commit_lsn_column, commit_time_column, xid_column, schema_column, table_column, " \
	"unchanged_toast_column"
#define METADATA_LIST "op, lsn, commit_lsn, commit_time, xid, schema, table, unchanged_toast"

const char *
ks_meta_key(KsMeta meta)
{
	return meta_defs[meta].key;
}

KustoType
ks_meta_kusto_type(KsMeta meta)
{
	return meta_defs[meta].ktype;
}

bool
ks_has_table_filter(const KsDecoderOptions *opts)
{
	return opts->tables != NIL || opts->relids != NIL || opts->publications != NIL ||
		opts->relids_given;
}

static char *
option_value(DefElem *elem)
{
	if (elem->arg == NULL || strVal(elem->arg) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kusto_sink option \"%s\" needs a value", elem->defname)));
	return strVal(elem->arg);
}

static void
parse_metadata(KsDecoderOptions *opts, const char *value)
{
	char	   *raw = pstrdup(value);
	List	   *keys;
	ListCell   *lc;
	int			m;

	if (pg_strcasecmp(value, "all") == 0 || pg_strcasecmp(value, "none") == 0)
	{
		for (m = 0; m < KS_META_COUNT; m++)
			opts->meta_enabled[m] = (pg_strcasecmp(value, "all") == 0);
		return;
	}
	if (!SplitIdentifierString(raw, ',', &keys))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value \"%s\" for kusto_sink option \"metadata\"", value),
				 errhint("Use \"all\", \"none\" or a comma-separated list of: %s.", METADATA_LIST)));
	for (m = 0; m < KS_META_COUNT; m++)
		opts->meta_enabled[m] = false;
	foreach(lc, keys)
	{
		char	   *key = (char *) lfirst(lc);

		for (m = 0; m < KS_META_COUNT; m++)
		{
			if (strcmp(key, meta_defs[m].key) == 0)
				break;
		}
		if (m == KS_META_COUNT)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized metadata column \"%s\" in kusto_sink option \"metadata\"", key),
					 errhint("Use \"all\", \"none\" or a comma-separated list of: %s.", METADATA_LIST)));
		opts->meta_enabled[m] = true;
	}
}

/* Raises the error ks_parse_options() would for this value of option metadata. */
void
ks_check_metadata_option(const char *value)
{
	KsDecoderOptions opts;

	parse_metadata(&opts, value);
}

/* Splits on commas that are not inside double quotes. */
static List *
split_outside_quotes(const char *value)
{
	List	   *items = NIL;
	StringInfoData item;
	bool		quoted = false;
	const char *p;

	initStringInfo(&item);
	for (p = value;; p++)
	{
		if (*p == '\0' || (*p == ',' && !quoted))
		{
			items = lappend(items, pstrdup(item.data));
			resetStringInfo(&item);
			if (*p == '\0')
				break;
			continue;
		}
		if (*p == '"')
			quoted = !quoted;
		appendStringInfoChar(&item, *p);
	}
	return items;
}

static void
parse_tables(KsDecoderOptions *opts, const char *value)
{
	ListCell   *lc;

	foreach(lc, split_outside_quotes(value))
	{
		char	   *item = (char *) lfirst(lc);
		List	   *names;
		KsTableFilter *filter;

		names = KS_STRING_TO_QUALIFIED_NAME_LIST(item);
		if (names == NIL || list_length(names) > 2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid table name \"%s\" in kusto_sink option \"tables\"", item),
					 errhint("Use a comma-separated list of table, schema.table or schema.*.")));
		filter = palloc(sizeof(KsTableFilter));
		if (list_length(names) == 2)
		{
			filter->schema = strVal(linitial(names));
			filter->table = strVal(lsecond(names));
		}
		else
		{
			filter->schema = "public";
			filter->table = strVal(linitial(names));
		}
		if (strcmp(filter->table, "*") == 0)
			filter->table = NULL;
		opts->tables = lappend(opts->tables, filter);
	}
}

void
ks_parse_options(KsDecoderOptions *opts, List *options)
{
	ListCell   *lc;
	int			m;
	int			other;

	memset(opts, 0, sizeof(*opts));
	opts->format = KS_FORMAT_JSON;
	for (m = 0; m < KS_META_COUNT; m++)
	{
		opts->meta_enabled[m] = true;
		opts->meta_name[m] = (char *) meta_defs[m].default_name;
	}

	foreach(lc, options)
	{
		DefElem    *elem = (DefElem *) lfirst(lc);
		const char *name = elem->defname;
		char	   *value = option_value(elem);

		if (strcmp(name, "format") == 0)
		{
			if (pg_strcasecmp(value, "json") == 0)
				opts->format = KS_FORMAT_JSON;
			else if (pg_strcasecmp(value, "csv") == 0)
				opts->format = KS_FORMAT_CSV;
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid value \"%s\" for kusto_sink option \"format\"", value),
						 errhint("Valid values are \"json\" and \"csv\".")));
			continue;
		}
		if (strcmp(name, "metadata") == 0)
		{
			parse_metadata(opts, value);
			continue;
		}
		if (strcmp(name, "tables") == 0)
		{
			parse_tables(opts, value);
			continue;
		}
		if (strcmp(name, "relids") == 0)
		{
			char	   *raw = pstrdup(value);
			char	   *tok;
			char	   *save = NULL;

			opts->relids_given = true;
			for (tok = strtok_r(raw, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
			{
				char	   *end;
				unsigned long v = strtoul(tok, &end, 10);

				if (*end != '\0' || v == 0 || v > PG_UINT32_MAX)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("invalid value \"%s\" for kusto_sink option \"relids\"", value),
							 errhint("Use a comma-separated list of table OIDs.")));
				opts->relids = lappend_oid(opts->relids, (Oid) v);
			}
			continue;
		}
		if (strcmp(name, "publication") == 0)
		{
			char	   *raw = pstrdup(value);
			List	   *names;

			if (!SplitIdentifierString(raw, ',', &names))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid value \"%s\" for kusto_sink option \"publication\"", value),
						 errhint("Use a comma-separated list of publication names.")));
			opts->publications = list_concat(opts->publications, names);
			continue;
		}
		if (strcmp(name, "columns") == 0)
		{
			opts->column_rules = ks_parse_column_rules(value);
			continue;
		}
		if (strcmp(name, "column_attnums") == 0)
		{
			opts->column_bindings = ks_parse_column_attnums(value);
			continue;
		}
		if (strcmp(name, "mask_salt") == 0)
		{
			int			len = strlen(value);

			opts->mask_salt = palloc(len / 2 + 1);
			if (len == 0 || len % 2 != 0 ||
				hex_decode(value, len, opts->mask_salt) != len / 2)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("kusto_sink option \"mask_salt\" must be a non-empty hex string")));
			opts->mask_salt_len = len / 2;
			continue;
		}
		for (m = 0; m < KS_META_COUNT; m++)
		{
			if (strcmp(name, meta_defs[m].column_option) == 0)
				break;
		}
		if (m < KS_META_COUNT)
		{
			if (value[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("kusto_sink option \"%s\" must not be empty", name),
						 errhint("To leave the column out, list the metadata columns you want in option \"metadata\".")));
			opts->meta_name[m] = pstrdup(value);
			continue;
		}
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized kusto_sink option \"%s\"", name),
				 errhint("Valid options are: %s.", OPTION_LIST)));
	}

	/* two enabled metadata columns may not share a name */
	for (m = 0; m < KS_META_COUNT; m++)
	{
		if (!opts->meta_enabled[m])
			continue;
		for (other = m + 1; other < KS_META_COUNT; other++)
		{
			if (opts->meta_enabled[other] &&
				strcmp(opts->meta_name[m], opts->meta_name[other]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("metadata columns \"%s\" and \"%s\" have the same name \"%s\"",
								meta_defs[m].key, meta_defs[other].key, opts->meta_name[m]),
						 errhint("Rename one of them with option \"%s\".", meta_defs[other].column_option)));
		}
	}
}
