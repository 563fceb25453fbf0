/*-------------------------------------------------------------------------
 *
 * config.c
 *	  Loading a sink's configuration from the catalog (see config.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/partition.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "decoder/options.h"
#include "worker/catalog_version.h"
#include "worker/config.h"
#include "worker/sink_secret.h"
#include "worker/connection_options.h"
#include "worker/sink_options.h"

extern int	ks_default_batch_interval_ms;
extern int	ks_default_batch_size;
extern int	ks_default_client_batch_size_limit_mb;
extern char *ks_default_ingestion_method;

static const char *sink_query =
"SELECT s.slot_name, s.owner::pg_catalog.oid, s.enabled, s.database, s.kusto_table, s.publication,"
"       pg_catalog.array_to_string(s.source_tables::pg_catalog.oid[], ','),"
"       c.cluster_url, c.auth, c.tenant_id, c.app_id, x.app_key, c.certificate_file,"
"       c.private_key_file, c.managed_identity_id, c.federated_token_file, x.token,"
"       s.options::pg_catalog.text, c.options::pg_catalog.text,"
"       (SELECT pg_catalog.string_agg(t::pg_catalog.oid::pg_catalog.text, ', ')"
"          FROM pg_catalog.unnest(s.source_tables) t"
"         WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class r WHERE r.oid OPERATOR(pg_catalog.=) t)),"
"       c.name"
"  FROM kusto_sink.sink s JOIN kusto_sink.connection c ON c.name OPERATOR(pg_catalog.=) s.connection %s"
" WHERE s.name OPERATOR(pg_catalog.=) $1";

/* the secrets: in kusto_sink.connection_secret since 1.1 (out of a dump) */
static const char *secret_join_1_0 = "CROSS JOIN LATERAL (SELECT c.app_key, c.token) x";
static const char *secret_join = "LEFT JOIN kusto_sink.connection_secret x"
" ON x.connection OPERATOR(pg_catalog.=) c.name";

static char *
value_or_null(HeapTuple tup, TupleDesc desc, int col, MemoryContext cxt)
{
	char	   *v = SPI_getvalue(tup, desc, col);

	return v ? MemoryContextStrdup(cxt, v) : NULL;
}

/* the key/value pairs of a JSON object (text values), as a list of DefElem */
static List *
json_pairs(const char *json, const char *path, MemoryContext cxt)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	List	   *pairs = NIL;
	char	   *query;
	uint64		i;

	query = psprintf("SELECT key, value OPERATOR(pg_catalog.#>>) '{}' "
					 "FROM pg_catalog.jsonb_each(($1::pg_catalog.jsonb)%s) "
					 "WHERE pg_catalog.jsonb_typeof(value) OPERATOR(pg_catalog.<>) 'null'", path);
	args[0] = CStringGetTextDatum(json);
	if (SPI_execute_with_args(query, 1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read kusto_sink options");
	for (i = 0; i < SPI_processed; i++)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
		char	   *key = pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		char	   *val = pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));

		pairs = lappend(pairs, makeDefElem(key, (Node *) makeString(val), -1));
		MemoryContextSwitchTo(oldcxt);
	}
	return pairs;
}

/*
 * The names of the enums' values (config.h), indexed by value: what the
 * catalog holds, and what the ingest core takes.  Those of sink options are
 * also the values the option validator allows (sink_options.c).
 */
const char *const ks_ingestion_method_names[] = {
	[KS_METHOD_QUEUED] = "queued",
	[KS_METHOD_STREAMING] = "streaming",
	[KS_METHOD_MANAGED] = "managed",
	[KS_METHOD_MANAGED + 1] = NULL,
};
const char *const ks_format_names[] = {
	[KS_FORMAT_JSON] = "json",
	[KS_FORMAT_CSV] = "csv",
	[KS_FORMAT_CSV + 1] = NULL,
};
const char *const ks_on_error_names[] = {
	[KS_ON_ERROR_STOP] = "stop",
	[KS_ON_ERROR_DEAD_LETTER] = "dead_letter",
	[KS_ON_ERROR_DEAD_LETTER + 1] = NULL,
};
const char *const ks_on_slot_lost_names[] = {
	[KS_ON_SLOT_LOST_ERROR] = "error",
	[KS_ON_SLOT_LOST_RESYNC] = "resync",
	[KS_ON_SLOT_LOST_RESYNC + 1] = NULL,
};
const char *const ks_delivery_guarantee_names[] = {
	[KS_AT_LEAST_ONCE] = "at_least_once",
	[KS_EXACTLY_ONCE] = "exactly_once",
	[KS_EXACTLY_ONCE + 1] = NULL,
};
static const char *const auth_names[] = {
	[KS_AUTH_APPLICATION] = "application",
	[KS_AUTH_CERTIFICATE] = "certificate",
	[KS_AUTH_MANAGED_IDENTITY] = "managed_identity",
	[KS_AUTH_WORKLOAD_IDENTITY] = "workload_identity",
	[KS_AUTH_TOKEN] = "token",
};
const char *const ks_jwt_algorithm_names[] = {
	[KS_JWT_PS256] = "PS256",
	[KS_JWT_RS256] = "RS256",
	[KS_JWT_RS256 + 1] = NULL,
};

/*
 * The value of an enum option whose name is `value`.  The validators of the
 * SQL API (sink_options.c, connection_options.c), which ks_load_config()
 * runs again on the row first, let no other value into the catalog: an
 * unknown one means this table and theirs disagree.
 */
static int
enum_value(const char *sink, const char *option, const char *value,
		   const char *const *names, int nnames)
{
	StringInfoData valid;
	int			i;

	for (i = 0; value != NULL && i < nnames; i++)
		if (strcmp(names[i], value) == 0)
			return i;
	initStringInfo(&valid);
	for (i = 0; i < nnames; i++)
		appendStringInfo(&valid, "%s\"%s\"", i == 0 ? "" : i == nnames - 1 ? " and " : ", ", names[i]);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("kusto_sink sink \"%s\": invalid value \"%s\" for \"%s\"",
					sink, value ? value : "", option),
			 errdetail("Valid values are %s.", valid.data)));
	return 0;					/* not reached */
}

/* (the sink options' name lists end with a NULL, the others do not) */
#define ENUM_VALUE(sink, option, value, names) \
	enum_value((sink), (option), (value), (names), \
			   lengthof(names) - ((names)[lengthof(names) - 1] == NULL ? 1 : 0))

static bool
bool_value(const char *sink, const char *option, const char *v)
{
	bool		result;

	if (!parse_bool(v, &result))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kusto_sink sink \"%s\": invalid value \"%s\" for \"%s\"", sink, v, option),
				 errdetail("Valid values are true and false.")));
	return result;
}

static void
apply_sink_options(KsSinkConfig *c, List *options, MemoryContext cxt)
{
	ListCell   *lc;
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);

	c->ingestion_method = ENUM_VALUE(c->name, "kusto_sink.ingestion_method",
									 ks_default_ingestion_method ? ks_default_ingestion_method : "managed",
									 ks_ingestion_method_names);
	c->format = KS_FORMAT_JSON;
	c->batch_interval_ms = ks_default_batch_interval_ms;
	c->batch_size = ks_default_batch_size;
	c->client_batch_size_limit_mb = ks_default_client_batch_size_limit_mb;
	c->max_awaiting_status = KS_DEFAULT_MAX_AWAITING_STATUS;
	c->flush_immediately = false;
	c->poll_for_ingestion_status = true;
	c->on_error = KS_ON_ERROR_STOP;
	c->delivery_guarantee = KS_AT_LEAST_ONCE;
	c->on_slot_lost = KS_ON_SLOT_LOST_ERROR;

	foreach(lc, options)
	{
		DefElem    *d = (DefElem *) lfirst(lc);
		char	   *v = strVal(d->arg);

		if (strcmp(d->defname, "ingestion_method") == 0)
			c->ingestion_method = ENUM_VALUE(c->name, d->defname, v, ks_ingestion_method_names);
		else if (strcmp(d->defname, "format") == 0)
			c->format = ENUM_VALUE(c->name, d->defname, v, ks_format_names);
		else if (strcmp(d->defname, "batch_interval_ms") == 0)
			c->batch_interval_ms = pg_strtoint32(v);
		else if (strcmp(d->defname, "batch_size") == 0)
			c->batch_size = pg_strtoint32(v);
		else if (strcmp(d->defname, "client_batch_size_limit") == 0)
			c->client_batch_size_limit_mb = pg_strtoint32(v);
		else if (strcmp(d->defname, "max_awaiting_status") == 0)
			c->max_awaiting_status = pg_strtoint32(v);
		else if (strcmp(d->defname, "flush_immediately") == 0)
			c->flush_immediately = bool_value(c->name, d->defname, v);
		else if (strcmp(d->defname, "poll_for_ingestion_status") == 0)
			c->poll_for_ingestion_status = bool_value(c->name, d->defname, v);
		else if (strcmp(d->defname, "ingestion_mapping_ref") == 0)
			c->ingestion_mapping_ref = v;
		else if (strcmp(d->defname, "on_error") == 0)
			c->on_error = ENUM_VALUE(c->name, d->defname, v, ks_on_error_names);
		else if (strcmp(d->defname, "on_slot_lost") == 0)
			c->on_slot_lost = ENUM_VALUE(c->name, d->defname, v, ks_on_slot_lost_names);
		else if (strcmp(d->defname, "create_table") == 0)
			c->create_table = bool_value(c->name, d->defname, v);
		else if (strcmp(d->defname, "delivery_guarantee") == 0)
			c->delivery_guarantee = ENUM_VALUE(c->name, d->defname, v, ks_delivery_guarantee_names);
		else if (ks_is_metadata_option(d->defname))
			c->plugin_options = lappend(c->plugin_options, d);	/* for the plugin */
		/* "tables" is read elsewhere */
	}
	c->plugin_options = lappend(c->plugin_options,
								makeDefElem("format", (Node *) makeString(pstrdup(ks_format_name(c->format))), -1));
	MemoryContextSwitchTo(oldcxt);
}

static void
apply_connection_options(KsSinkConfig *c, List *options)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *d = (DefElem *) lfirst(lc);
		char	   *v = strVal(d->arg);

		if (strcmp(d->defname, "authority_host") == 0)
			c->authority_host = v;
		else if (strcmp(d->defname, "ca_file") == 0)
			c->ca_file = v;
		else if (strcmp(d->defname, "app_key_file") == 0)
			c->app_key_file = v;
		else if (strcmp(d->defname, "token_file") == 0)
			c->token_file = v;
		else if (strcmp(d->defname, "proxy") == 0)
			c->proxy = v;
		else if (strcmp(d->defname, "managed_identity_endpoint") == 0)
			c->managed_identity_endpoint = v;
		else if (strcmp(d->defname, "jwt_algorithm") == 0)
			c->jwt_algorithm = ENUM_VALUE(c->name, d->defname, v, ks_jwt_algorithm_names);
		else if (strcmp(d->defname, "ingest_url") == 0)
			c->ingest_url = v;
		else if (strcmp(d->defname, "connect_timeout_ms") == 0)
			c->connect_timeout_ms = pg_strtoint32(v);
		else if (strcmp(d->defname, "request_timeout_ms") == 0)
			c->request_timeout_ms = pg_strtoint32(v);
	}
}

KsSinkConfig *
ks_load_config(const char *sink_name, MemoryContext cxt)
{
	KsSinkConfig *c = NULL;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());

	args[0] = CStringGetTextDatum(sink_name);
	if (SPI_execute_with_args(psprintf(sink_query, ks_catalog_at_least(1, 1) ? secret_join : secret_join_1_0),
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the configuration of kusto_sink sink \"%s\"", sink_name);

	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_copytuple(SPI_tuptable->vals[0]);
		TupleDesc	desc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
		char	   *tables;
		char	   *publication;
		char	   *sink_options;
		char	   *connection_options;
		char	   *auth;
		bool		isnull;
		ListCell   *lc;

		c = MemoryContextAllocZero(cxt, sizeof(KsSinkConfig));
		c->name = MemoryContextStrdup(cxt, sink_name);
		c->slot_name = value_or_null(tup, desc, 1, cxt);
		c->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		c->enabled = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
		c->database = value_or_null(tup, desc, 4, cxt);
		c->kusto_table = value_or_null(tup, desc, 5, cxt);
		publication = value_or_null(tup, desc, 6, cxt);
		c->publication = publication != NULL;
		tables = value_or_null(tup, desc, 7, cxt);
		c->cluster_url = value_or_null(tup, desc, 8, cxt);
		auth = value_or_null(tup, desc, 9, cxt);
		c->tenant_id = value_or_null(tup, desc, 10, cxt);
		c->app_id = value_or_null(tup, desc, 11, cxt);
		c->app_key = value_or_null(tup, desc, 12, cxt);
		c->certificate_file = value_or_null(tup, desc, 13, cxt);
		c->private_key_file = value_or_null(tup, desc, 14, cxt);
		c->managed_identity_id = value_or_null(tup, desc, 15, cxt);
		c->federated_token_file = value_or_null(tup, desc, 16, cxt);
		c->token = value_or_null(tup, desc, 17, cxt);
		sink_options = value_or_null(tup, desc, 18, cxt);
		connection_options = value_or_null(tup, desc, 19, cxt);
		c->dropped_tables = value_or_null(tup, desc, 20, cxt);

		/* the validators of the SQL API (a catalog written by an older version, say) */
		{
			KsConnectionArgs args;
			Jsonb	   *sj = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(sink_options)));

			ks_check_sink_combination(ks_check_sink_options(sj));
			memset(&args, 0, sizeof(args));
			args.cluster_url = c->cluster_url;
			args.auth = auth;
			args.tenant_id = c->tenant_id;
			args.app_id = c->app_id;
			args.app_key = c->app_key;
			args.certificate_file = c->certificate_file;
			args.private_key_file = c->private_key_file;
			args.managed_identity_id = c->managed_identity_id;
			args.federated_token_file = c->federated_token_file;
			args.token = c->token;
			args.options = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(connection_options)));
			/* a restored connection: no secret (a dump holds none) */
			if (ks_connection_missing_secret(&args) != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("connection \"%s\" has no %s: pass it with kusto_sink.alter_connection()",
								SPI_getvalue(tup, desc, 21), ks_connection_missing_secret(&args)),
						 errdetail("A connection restored from a dump has no secret: pg_dump writes none.")));
			ks_check_connection(&args, true);
		}
		c->auth = ENUM_VALUE(c->name, "auth", auth, auth_names);

		apply_sink_options(c, json_pairs(sink_options, "", cxt), cxt);
		apply_connection_options(c, json_pairs(connection_options, "", cxt));
		foreach(lc, json_pairs(sink_options, " OPERATOR(pg_catalog.->) 'tables'", cxt))
		{
			DefElem    *d = (DefElem *) lfirst(lc);
			KsTableRoute *r = MemoryContextAlloc(cxt, sizeof(KsTableRoute));
			MemoryContext oldcxt;

			r->source = d->defname;
			r->kusto_table = strVal(d->arg);
			/* the list too: CurrentMemoryContext is SPI's, gone at SPI_finish */
			oldcxt = MemoryContextSwitchTo(cxt);
			c->routes = lappend(c->routes, r);
			MemoryContextSwitchTo(oldcxt);
		}

		{
			MemoryContext oldcxt = MemoryContextSwitchTo(cxt);

			if (publication != NULL)
				c->plugin_options = lappend(c->plugin_options,
											makeDefElem("publication", (Node *) makeString(pstrdup(quote_identifier(publication))), -1));
			else if (tables != NULL)
				c->plugin_options = lappend(c->plugin_options,
											makeDefElem("relids", (Node *) makeString(tables), -1));
			/* the sink option columns and the salt of its hash masks */
			c->plugin_options = list_concat(c->plugin_options,
											ks_sink_column_options(c->name, sink_options));
			MemoryContextSwitchTo(oldcxt);
		}
	}

	if (c != NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
		KsDecoderOptions dopts;

		/* the metadata columns that identify a record (exactly once probes) */
		ks_parse_options(&dopts, c->plugin_options);
		c->lsn_column = dopts.meta_enabled[KS_META_LSN] ? dopts.meta_name[KS_META_LSN] : NULL;
		c->commit_lsn_column = dopts.meta_enabled[KS_META_COMMIT_LSN] ?
			dopts.meta_name[KS_META_COMMIT_LSN] : NULL;
		MemoryContextSwitchTo(oldcxt);
	}

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return c;
}

/* The route that the sink option "tables" gives a "schema.table", or NULL. */
static const char *
route_of(KsSinkConfig *config, const char *qualified_name)
{
	ListCell   *lc;

	foreach(lc, config->routes)
	{
		KsTableRoute *r = (KsTableRoute *) lfirst(lc);

		if (strcmp(r->source, qualified_name) == 0)
			return r->kusto_table;
	}
	return NULL;
}

/*
 * The Kusto table of the records of relation relid: the route that the sink
 * option "tables" gives the relation, else the sink's Kusto table (NULL
 * when it has none).  A sink on a list of tables names partitioned tables,
 * whose changes come as their partitions': a partition takes the route of
 * its nearest ancestor with one, as the SQL side (kusto_sink._sources_of)
 * routes that table.  A publication's tables are the ones
 * pg_publication_tables lists (its partitions, or their roots with
 * publish_via_partition_root), routed by their own names on both sides.
 * A relation that no longer exists (relid invalid) is known by its
 * qualified name alone.  Needs a transaction (pg_inherits is read).
 */
const char *
ks_route_table(KsSinkConfig *config, Oid relid, const char *qualified_name)
{
	const char *table = NULL;

	if (!OidIsValid(relid))
		table = qualified_name != NULL ? route_of(config, qualified_name) : NULL;
	else
	{
		List	   *chain = list_make1_oid(relid);
		ListCell   *lc;

		if (!config->publication && get_rel_relispartition(relid))
			chain = list_concat(chain, get_partition_ancestors(relid));
		foreach(lc, chain)
		{
			Oid			rel = lfirst_oid(lc);
			char	   *rel_name = get_rel_name(rel);
			char	   *nsp_name = rel_name ? get_namespace_name(get_rel_namespace(rel)) : NULL;
			char	   *name;

			/* dropped while we look (the lookups take no lock) */
			if (rel_name == NULL || nsp_name == NULL)
				continue;
			name = quote_qualified_identifier(nsp_name, rel_name);
			table = route_of(config, name);
			pfree(name);
			pfree(nsp_name);
			pfree(rel_name);
			if (table != NULL)
				break;
		}
		list_free(chain);
	}
	return table != NULL ? table : config->kusto_table;
}

const char *
ks_ingestion_method_name(KsIngestionMethod method)
{
	return ks_ingestion_method_names[method];
}

const char *
ks_format_name(KsFormat format)
{
	return ks_format_names[format];
}

const char *
ks_auth_name(KsAuth auth)
{
	return auth_names[auth];
}

const char *
ks_jwt_algorithm_name(KsJwtAlgorithm algorithm)
{
	return ks_jwt_algorithm_names[algorithm];
}
