/*-------------------------------------------------------------------------
 *
 * sink_options.c
 *	  The options of a sink and their validator (see sink_options.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/defrem.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"

#include "common/kusto_name.h"
#include "decoder/colrules.h"
#include "decoder/options.h"
#include "worker/config.h"
#include "worker/jsonb_pairs.h"
#include "worker/config.h"
#include "worker/sink_options.h"

typedef enum KsSinkOptionKind
{
	KS_SINK_ENUM,
	KS_SINK_INT,
	KS_SINK_BOOL,
	KS_SINK_KUSTO_NAME,			/* a Kusto entity name */
	KS_SINK_METADATA,			/* the output plugin's metadata list */
	KS_SINK_TABLES,				/* {"schema.table": "KustoTable", ...} */
	KS_SINK_COLUMNS,			/* the output plugin's column rules (colrules.h) */
	KS_SINK_BATCHING			/* Kusto's IngestionBatching policy, for create_table */
} KsSinkOptionKind;

typedef struct KsSinkOption
{
	const char *name;
	KsSinkOptionKind kind;
	int			min;
	int			max;
	const char *const *values;	/* KS_SINK_ENUM: config.h's names, NULL-terminated */
	const char *default_value;	/* when left out, or NULL (none, or the setting's) */
	const char *setting;		/* the kusto_sink.* setting it defaults to, or NULL */
} KsSinkOption;

/* every sink option; the ranges are those of the kusto_sink.* defaults (GUCs) */
static const KsSinkOption sink_options[] = {
	{"ingestion_method", KS_SINK_ENUM, 0, 0, ks_ingestion_method_names, NULL, "kusto_sink.ingestion_method"},
	{"format", KS_SINK_ENUM, 0, 0, ks_format_names, "json"},
	{"batch_interval_ms", KS_SINK_INT, 1, 3600000, NULL, NULL, "kusto_sink.batch_interval_ms"},
	{"batch_size", KS_SINK_INT, 1, PG_INT32_MAX, NULL, NULL, "kusto_sink.batch_size"},
	{"client_batch_size_limit", KS_SINK_INT, 1, 4096, NULL, NULL, "kusto_sink.client_batch_size_limit"},
	{"flush_immediately", KS_SINK_BOOL, 0, 0, NULL, "false"},
	{"poll_for_ingestion_status", KS_SINK_BOOL, 0, 0, NULL, "true"},
	{"ingestion_batching", KS_SINK_BATCHING},
	{"max_awaiting_status", KS_SINK_INT, 1, 100000, NULL, CppAsString2(KS_DEFAULT_MAX_AWAITING_STATUS)},
	{"delivery_guarantee", KS_SINK_ENUM, 0, 0, ks_delivery_guarantee_names, "at_least_once"},
	{"ingestion_mapping_ref", KS_SINK_KUSTO_NAME},
	{"on_error", KS_SINK_ENUM, 0, 0, ks_on_error_names, "stop"},
	{"on_slot_lost", KS_SINK_ENUM, 0, 0, ks_on_slot_lost_names, "error"},
	{"tables", KS_SINK_TABLES},
	{"metadata", KS_SINK_METADATA},
	{"op_column", KS_SINK_KUSTO_NAME},
	{"lsn_column", KS_SINK_KUSTO_NAME},
	{"commit_lsn_column", KS_SINK_KUSTO_NAME},
	{"commit_time_column", KS_SINK_KUSTO_NAME},
	{"xid_column", KS_SINK_KUSTO_NAME},
	{"schema_column", KS_SINK_KUSTO_NAME},
	{"table_column", KS_SINK_KUSTO_NAME},
	{"unchanged_toast_column", KS_SINK_KUSTO_NAME},
	{"create_table", KS_SINK_BOOL, 0, 0, NULL, "false"},
	{"snapshot", KS_SINK_BOOL, 0, 0, NULL, "true"},
	{"columns", KS_SINK_COLUMNS},
};

#define NUM_SINK_OPTIONS (sizeof(sink_options) / sizeof(sink_options[0]))

/* Kusto's rule for entity names (src/common/kusto_name.c) */
void
ks_check_kusto_name(const char *what, const char *name)
{
	const char *why = kusto_entity_name_error(name);

	if (why != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("%s \"%s\" is not a valid Kusto name", what,
						strlen(name) > 64 ? psprintf("%.64s...", name) : name),
				 errdetail("%c%s.", pg_toupper((unsigned char) why[0]), why + 1)));
}

static const char *
option_list(void)
{
	StringInfoData s;
	int			i;

	initStringInfo(&s);
	for (i = 0; i < NUM_SINK_OPTIONS; i++)
		appendStringInfo(&s, "%s%s", i > 0 ? ", " : "", sink_options[i].name);
	return s.data;
}

static const char *
enum_list(const KsSinkOption *o)
{
	StringInfoData s;
	int			i;

	initStringInfo(&s);
	for (i = 0; o->values != NULL && o->values[i] != NULL; i++)
		appendStringInfo(&s, "%s%s", i > 0 ? ", " : "", o->values[i]);
	return s.data;
}

/* the value as JSON text, for messages */
static char *
json_text(const KsJsonPair *p)
{
	if (p->value.type == jbvString)
	{
		StringInfoData s;

		initStringInfo(&s);
		escape_json(&s, ks_jsonb_pair_text(p));
		return s.data;
	}
	return ks_jsonb_pair_text(p);
}

static void
check_tables(const KsJsonPair *p)
{
	ListCell   *lc;

	if (p->value.type != jbvBinary || JsonContainerIsArray(p->value.val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sink option \"tables\" must map source tables to Kusto table names"),
				 errhint("For example: '{\"tables\": {\"public.orders\": \"Orders\", \"public.refunds\": \"Refunds\"}}'.")));
	foreach(lc, ks_jsonb_pairs(ks_jsonb_pair_jsonb(p)))
	{
		KsJsonPair *t = (KsJsonPair *) lfirst(lc);

		if (t->value.type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("sink option \"tables\" must map source tables to Kusto table names"),
					 errhint("For example: '{\"tables\": {\"public.orders\": \"Orders\", \"public.refunds\": \"Refunds\"}}'.")));
		if (t->key[0] == '\0' || strlen(t->key) > 2 * NAMEDATALEN + 8)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("sink option \"tables\" names a source table \"%s\" that cannot exist", t->key),
					 errhint("Name source tables as schema.table, as kusto_sink.sinks lists them.")));
		ks_check_kusto_name(psprintf("the Kusto table of \"%s\" in sink option \"tables\"", t->key),
							ks_jsonb_pair_text(t));
	}
}

/*
 * The sink option ingestion_batching ({"max_time": "00:00:30", "max_items":
 * 500, "max_raw_mb": 1024}, each optional) as the JSON of Kusto's
 * IngestionBatching policy, checked; the one translation of the option.
 */
static const char *const batching_example =
"For example: '{\"ingestion_batching\": {\"max_time\": \"00:00:30\", \"max_items\": 500, \"max_raw_mb\": 1024}}' (max_time as hh:mm:ss, at least 00:00:10).";

static char *
batching_policy(const KsJsonPair *p)
{
	StringInfoData s;
	ListCell   *lc;

	if (p->value.type != jbvBinary || !ks_jsonb_is_object(ks_jsonb_pair_jsonb(p)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sink option \"ingestion_batching\" must be a JSON object"),
				 errhint("%s", batching_example)));
	initStringInfo(&s);
	appendStringInfoChar(&s, '{');
	foreach(lc, ks_jsonb_pairs(ks_jsonb_pair_jsonb(p)))
	{
		KsJsonPair *m = (KsJsonPair *) lfirst(lc);
		char	   *text = ks_jsonb_pair_text(m);
		bool		ok = false;

		if (s.len > 1)
			appendStringInfoString(&s, ", ");
		if (strcmp(m->key, "max_time") == 0 && m->value.type == jbvString)
		{
			int			h,
						mi,
						se,
						n = 0;

			/* hh:mm:ss, as Kusto's timespans, 10 s at least (Kusto's minimum) */
			if (sscanf(text, "%2d:%2d:%2d%n", &h, &mi, &se, &n) == 3 && text[n] == '\0' &&
				mi < 60 && se < 60 && h >= 0 && mi >= 0 && se >= 0 && h * 3600 + mi * 60 + se >= 10)
			{
				appendStringInfo(&s, "\"MaximumBatchingTimeSpan\": \"%02d:%02d:%02d\"", h, mi, se);
				ok = true;
			}
		}
		else if ((strcmp(m->key, "max_items") == 0 || strcmp(m->key, "max_raw_mb") == 0) &&
				 m->value.type == jbvNumeric)
		{
			char	   *end;
			long		v;

			errno = 0;
			v = strtol(text, &end, 10);
			if (*end == '\0' && errno == 0 && v >= 1 && v <= 1000000)
			{
				appendStringInfo(&s, "\"%s\": %ld", strcmp(m->key, "max_items") == 0 ?
								 "MaximumNumberOfItems" : "MaximumRawDataSizeMB", v);
				ok = true;
			}
		}
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid member \"%s\" of sink option \"ingestion_batching\": %s",
							m->key, json_text(m)),
					 errdetail("Its members are max_time, max_items and max_raw_mb."),
					 errhint("%s", batching_example)));
	}
	appendStringInfoChar(&s, '}');
	return s.data;
}

/* The Kusto IngestionBatching policy (JSON) the sink's options ask for, or NULL. */
char *
ks_sink_batching_policy(Jsonb *options)
{
	ListCell   *lc;

	if (options == NULL)
		return NULL;
	foreach(lc, ks_jsonb_pairs(options))
	{
		KsJsonPair *p = (KsJsonPair *) lfirst(lc);

		if (strcmp(p->key, "ingestion_batching") == 0 && p->value.type != jbvNull)
			return batching_policy(p);
	}
	return NULL;
}

/* checks one option; appends its normalised value (JSON) to out */
static void
check_option(const KsSinkOption *o, const KsJsonPair *p, StringInfo out)
{
	char	   *text;
	int			i;

	switch (o->kind)
	{
		case KS_SINK_ENUM:
			if (p->value.type == jbvString)
			{
				text = ks_jsonb_pair_text(p);
				for (i = 0; o->values != NULL && o->values[i] != NULL; i++)
				{
					if (pg_strcasecmp(o->values[i], text) == 0)
					{
						escape_json(out, o->values[i]);
						return;
					}
				}
			}
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value %s for sink option \"%s\"", json_text(p), o->name),
					 errhint("Valid values are: %s.", enum_list(o))));
			break;
		case KS_SINK_INT:
			{
				char	   *end;
				long		v = 0;

				text = ks_jsonb_pair_text(p);
				errno = 0;
				if (p->value.type == jbvNumeric)
					v = strtol(text, &end, 10);
				if (p->value.type != jbvNumeric || *end != '\0' || errno != 0 ||
					v < o->min || v > o->max)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("sink option \"%s\" must be an integer between %d and %d, not %s",
									o->name, o->min, o->max, json_text(p))));
				appendStringInfoString(out, text);
				return;
			}
		case KS_SINK_BOOL:
			if (p->value.type != jbvBool)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("sink option \"%s\" must be true or false, not %s", o->name, json_text(p))));
			appendStringInfoString(out, p->value.val.boolean ? "true" : "false");
			return;
		case KS_SINK_TABLES:
			check_tables(p);
			appendStringInfoString(out, ks_jsonb_pair_text(p));
			return;
		case KS_SINK_BATCHING:
			(void) batching_policy(p);
			appendStringInfoString(out, ks_jsonb_pair_text(p));
			return;
		case KS_SINK_COLUMNS:
			text = json_text(p);
			(void) ks_parse_column_rules(text);
			appendStringInfoString(out, text);
			return;
		case KS_SINK_KUSTO_NAME:
		case KS_SINK_METADATA:
			if (p->value.type != jbvString || p->value.val.string.len == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("sink option \"%s\" must be a non-empty string, not %s", o->name, json_text(p))));
			text = ks_jsonb_pair_text(p);
			if (o->kind == KS_SINK_METADATA)
				ks_check_metadata_option(text);
			else
				ks_check_kusto_name(psprintf("sink option \"%s\"", o->name), text);
			escape_json(out, text);
			return;
	}
}

Jsonb *
ks_check_sink_options(Jsonb *options)
{
	StringInfoData out;
	ListCell   *lc;
	bool		first = true;

	if (!ks_jsonb_is_object(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sink options must be a JSON object"),
				 errhint("For example: '{\"batch_interval_ms\": 500, \"format\": \"csv\"}'.")));
	initStringInfo(&out);
	appendStringInfoChar(&out, '{');
	foreach(lc, ks_jsonb_pairs(options))
	{
		KsJsonPair *p = (KsJsonPair *) lfirst(lc);
		int			i;

		for (i = 0; i < NUM_SINK_OPTIONS; i++)
			if (strcmp(sink_options[i].name, p->key) == 0)
				break;
		if (i == NUM_SINK_OPTIONS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized sink option \"%s\"", p->key),
					 errhint("Valid options are: %s.", option_list())));
		if (!first)
			appendStringInfoString(&out, ", ");
		first = false;
		escape_json(&out, p->key);
		appendStringInfoString(&out, ": ");
		if (p->value.type == jbvNull)
			appendStringInfoString(&out, "null");	/* alter_sink: back to the default */
		else
			check_option(&sink_options[i], p, &out);
	}
	appendStringInfoChar(&out, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}

/* the option's string value, or NULL */
static char *
string_value(Jsonb *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, ks_jsonb_pairs(options))
	{
		KsJsonPair *p = (KsJsonPair *) lfirst(lc);

		if (strcmp(p->key, name) == 0 && p->value.type != jbvNull)
			return ks_jsonb_pair_text(p);
	}
	return NULL;
}

/* Is a sink option one of the output plugin's metadata options? */
bool
ks_is_metadata_option(const char *key)
{
	size_t		len = strlen(key);

	return strcmp(key, "metadata") == 0 ||
		(len > 7 && strcmp(key + len - 7, "_column") == 0);
}

List *
ks_sink_metadata_options(Jsonb *options)
{
	List	   *plugin = NIL;
	ListCell   *lc;

	foreach(lc, ks_jsonb_pairs(options))
	{
		KsJsonPair *p = (KsJsonPair *) lfirst(lc);

		if (p->value.type != jbvString)
			continue;
		if (ks_is_metadata_option(p->key))
			plugin = lappend(plugin, makeDefElem(p->key, (Node *) makeString(ks_jsonb_pair_text(p)), -1));
	}
	return plugin;
}

bool
ks_check_exactly_once(const char *method, bool poll_for_ingestion_status, bool has_lsn,
					  bool has_commit_lsn)
{
	bool		queued = strcmp(method, "queued") == 0;

	if (strcmp(method, "streaming") != 0 && !poll_for_ingestion_status)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("delivery_guarantee \"exactly_once\" needs poll_for_ingestion_status"),
				 errhint("A queued batch can only count as delivered once Kusto reported it ingested.")));
	if (!queued && !(has_lsn && has_commit_lsn))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("delivery_guarantee \"exactly_once\" with ingestion_method \"%s\" needs the metadata columns lsn and commit_lsn", method),
				 errhint("A stream carries no tag: a batch sent again after a crash is first looked up in Kusto by the commit and change LSN of its first record. Add lsn and commit_lsn to option \"metadata\", or use ingestion_method \"queued\".")));
	return queued;
}

const char *
ks_sink_option_text(Jsonb *options, const char *name)
{
	const char *v = options ? string_value(options, name) : NULL;
	int			i;

	if (v != NULL)
		return v;
	for (i = 0; i < NUM_SINK_OPTIONS; i++)
	{
		const KsSinkOption *o = &sink_options[i];

		if (strcmp(o->name, name) != 0)
			continue;
		if (o->setting != NULL)
			return GetConfigOption(o->setting, true, false);
		return o->default_value;
	}
	return NULL;
}

void
ks_check_sink_combination(Jsonb *options)
{
	const char *method = ks_sink_option_text(options, "ingestion_method");
	KsDecoderOptions dopts;

	/* the metadata columns as the output plugin will see them */
	ks_parse_options(&dopts, ks_sink_metadata_options(options));

	if (strcmp(ks_sink_option_text(options, "delivery_guarantee"), "exactly_once") != 0)
		return;
	(void) ks_check_exactly_once(method ? method : "managed",
								 strcmp(ks_sink_option_text(options, "poll_for_ingestion_status"), "false") != 0,
								 dopts.meta_enabled[KS_META_LSN], dopts.meta_enabled[KS_META_COMMIT_LSN]);
}

/* The option table by index, for kusto_sink._option_names() (NULL past its end) */
const char *
ks_sink_option_name(int i)
{
	return i >= 0 && i < NUM_SINK_OPTIONS ? sink_options[i].name : NULL;
}
