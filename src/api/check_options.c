/*-------------------------------------------------------------------------
 *
 * check_options.c
 *	  SQL access to the option validators of src/worker/connection_options.c
 *	  and src/worker/sink_options.c, so that the SQL API and the worker check
 *	  with the same code.
 *
 *	_check_connection(c connection[, require_secret boolean]) -> connection
 *								the row checked, its cluster_url normalised
 *	_connection_has_secret(c connection) -> boolean	a secret is stored (or its file named)
 *	_connection_missing_secret(c connection) -> text	the secret its method lacks, or NULL
 *	_altered_connection(old connection, given connection) -> connection
 *								what alter_connection makes of old with the
 *								arguments given (NULL: unchanged), unchecked
 *	_check_server_files(caller regrole, c connection, old connection)
 *								may the caller name server files (or use the
 *								server's identity) as c does anew
 *	_check_sink_options(options jsonb) -> jsonb	each option, normalised
 *	_check_sink_combination(options jsonb) -> jsonb	the options together
 *	_check_kusto_name(what text, name text)		Kusto's entity-name rule
 *	_check_sink_name(name text)			the rule for sink names (sink_name.h)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "access/relation.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "nodes/makefuncs.h"

#include "common/kusto_name.h"
#include "decoder/options.h"
#include "kusto/kusto.h"
#include "worker/jsonb_pairs.h"

#include "worker/connection_options.h"
#include "worker/sink_name.h"
#include "worker/sink_options.h"

PG_FUNCTION_INFO_V1(kusto_sink_check_connection);
PG_FUNCTION_INFO_V1(kusto_sink_connection_has_secret);
PG_FUNCTION_INFO_V1(kusto_sink_connection_missing_secret);
PG_FUNCTION_INFO_V1(kusto_sink_check_server_files);
PG_FUNCTION_INFO_V1(kusto_sink_altered_connection);
PG_FUNCTION_INFO_V1(kusto_sink_check_sink_options);
PG_FUNCTION_INFO_V1(kusto_sink_check_sink_combination);
PG_FUNCTION_INFO_V1(kusto_sink_check_kusto_name);
PG_FUNCTION_INFO_V1(kusto_sink_check_sink_name);
PG_FUNCTION_INFO_V1(kusto_sink_check_metadata_columns);

typedef struct ConnRow
{
	TupleDesc	desc;
	Datum	   *values;
	bool	   *nulls;
	KsConnectionArgs args;
} ConnRow;

static int
attnum_of(TupleDesc desc, const char *name)
{
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return i;
	}
	elog(ERROR, "kusto_sink.connection has no column \"%s\"", name);
	return -1;					/* keep compiler quiet */
}

static const char *
text_of(ConnRow *r, const char *name)
{
	int			i = attnum_of(r->desc, name);

	return r->nulls[i] ? NULL : TextDatumGetCString(r->values[i]);
}

static void
read_row(ConnRow *r, HeapTupleHeader rec)
{
	HeapTupleData tup;
	int			i;

	r->desc = lookup_rowtype_tupdesc_copy(HeapTupleHeaderGetTypeId(rec), HeapTupleHeaderGetTypMod(rec));
	tup.t_len = HeapTupleHeaderGetDatumLength(rec);
	ItemPointerSetInvalid(&tup.t_self);
	tup.t_tableOid = InvalidOid;
	tup.t_data = rec;
	r->values = palloc(r->desc->natts * sizeof(Datum));
	r->nulls = palloc(r->desc->natts * sizeof(bool));
	heap_deform_tuple(&tup, r->desc, r->values, r->nulls);

	r->args.name = text_of(r, "name");
	if (r->args.name == NULL)
		r->args.name = "";		/* (NULL would skip the name's check) */
	r->args.cluster_url = text_of(r, "cluster_url");
	r->args.auth = text_of(r, "auth");
	r->args.tenant_id = text_of(r, "tenant_id");
	r->args.app_id = text_of(r, "app_id");
	r->args.app_key = text_of(r, "app_key");
	r->args.certificate_file = text_of(r, "certificate_file");
	r->args.private_key_file = text_of(r, "private_key_file");
	r->args.managed_identity_id = text_of(r, "managed_identity_id");
	r->args.federated_token_file = text_of(r, "federated_token_file");
	r->args.token = text_of(r, "token");
	i = attnum_of(r->desc, "options");
	r->args.options = r->nulls[i] ? NULL : DatumGetJsonbP(r->values[i]);
}

Datum
kusto_sink_check_connection(PG_FUNCTION_ARGS)
{
	bool		require_secret = PG_NARGS() > 1 && !PG_ARGISNULL(1) ? PG_GETARG_BOOL(1) : true;
	ConnRow		r;
	HeapTuple	out;
	int			url;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	read_row(&r, PG_GETARG_HEAPTUPLEHEADER(0));
	if (r.args.options == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("connection options must be a JSON object"),
				 errhint("For example: '{\"ca_file\": \"/etc/ssl/private-ca.pem\"}'.")));
	ks_check_connection(&r.args, require_secret);
	url = attnum_of(r.desc, "cluster_url");
	r.values[url] = CStringGetTextDatum(ks_normalize_cluster_url(r.args.cluster_url));
	out = heap_form_tuple(r.desc, r.values, r.nulls);
	PG_RETURN_DATUM(HeapTupleGetDatum(out));
}

Datum
kusto_sink_connection_has_secret(PG_FUNCTION_ARGS)
{
	ConnRow		r;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	read_row(&r, PG_GETARG_HEAPTUPLEHEADER(0));
	PG_RETURN_BOOL(ks_connection_has_secret(&r.args));
}

Datum
kusto_sink_connection_missing_secret(PG_FUNCTION_ARGS)
{
	ConnRow		r;
	const char *missing;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	read_row(&r, PG_GETARG_HEAPTUPLEHEADER(0));
	missing = ks_connection_missing_secret(&r.args);
	if (missing == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(missing));
}

static void
set_text(ConnRow *r, const char *name, const char *value)
{
	int			i = attnum_of(r->desc, name);

	r->nulls[i] = value == NULL;
	r->values[i] = value ? CStringGetTextDatum(value) : (Datum) 0;
}

Datum
kusto_sink_altered_connection(PG_FUNCTION_ARGS)
{
	ConnRow		old;
	ConnRow		given;
	KsConnectionArgs c;
	const kusto_auth_arg *arg;
	int			i;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	read_row(&old, PG_GETARG_HEAPTUPLEHEADER(0));
	read_row(&given, PG_GETARG_HEAPTUPLEHEADER(1));
	c = ks_alter_connection_args(&old.args, &given.args);
	/* the row is old's (name, owner, created_at) with what changed */
	set_text(&old, "cluster_url", c.cluster_url);
	set_text(&old, "auth", c.auth);
	for (arg = kusto_auth_args; arg->name != NULL; arg++)
		set_text(&old, arg->name, ks_connection_arg(&c, arg->name));
	i = attnum_of(old.desc, "options");
	old.nulls[i] = c.options == NULL;
	old.values[i] = c.options ? JsonbPGetDatum(c.options) : (Datum) 0;
	i = attnum_of(old.desc, "updated_at");
	old.nulls[i] = false;
	old.values[i] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(old.desc, old.values, old.nulls)));
}

/*
 * Naming files on the database server, and using the server's own Azure
 * identity, is for superusers and members of pg_read_server_files only, as
 * COPY FROM a file is (old is NULL for a new connection).
 */
Datum
kusto_sink_check_server_files(PG_FUNCTION_ARGS)
{
	ConnRow		c;
	ConnRow		old;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_VOID();
	if (has_privs_of_role(PG_GETARG_OID(0), ROLE_PG_READ_SERVER_FILES))
		PG_RETURN_VOID();
	read_row(&c, PG_GETARG_HEAPTUPLEHEADER(1));
	if (!PG_ARGISNULL(2))
		read_row(&old, PG_GETARG_HEAPTUPLEHEADER(2));
	ks_check_server_files(&c.args, PG_ARGISNULL(2) ? NULL : &old.args);
	PG_RETURN_VOID();
}

Datum
kusto_sink_check_sink_options(PG_FUNCTION_ARGS)
{
	PG_RETURN_JSONB_P(ks_check_sink_options(PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0)));
}

Datum
kusto_sink_check_sink_combination(PG_FUNCTION_ARGS)
{
	Jsonb	   *options;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	options = PG_GETARG_JSONB_P(0);
	ks_check_sink_combination(options);
	PG_RETURN_JSONB_P(options);
}

Datum
kusto_sink_check_kusto_name(PG_FUNCTION_ARGS)
{
	ks_check_kusto_name(text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_VOID();
}

/* _check_sink_name(name text): not STRICT, a NULL name is an error too */
Datum
kusto_sink_check_sink_name(PG_FUNCTION_ARGS)
{
	ks_check_sink_name(PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}

/*
 * _check_metadata_columns(options jsonb, tables regclass[]): an error when a
 * column of one of the tables has the name of a metadata column the options
 * enable (the output plugin would refuse its records: relinfo.c).
 */
/* the sink option create_table, true */
static bool
create_table_on(Jsonb *options)
{
	JsonbValue	key;
	JsonbValue *v;

	key.type = jbvString;
	key.val.string.val = "create_table";
	key.val.string.len = strlen("create_table");
	v = findJsonbValueFromContainer(&options->root, JB_FOBJECT, &key);
	return v != NULL && v->type == jbvBool && v->val.boolean;
}

/*
 * With create_table the columns of a source table become Kusto columns of
 * the same names: one Kusto cannot hold (src/common/kusto_name.c) is refused
 * here, not at the worker's first .create-merge table
 */
static void
check_column_names(Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *why;

		if (att->attisdropped)
			continue;
		why = kusto_entity_name_error(NameStr(att->attname));
		if (why != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("column \"%s\" of table %s cannot be a Kusto column",
							NameStr(att->attname), RelationGetRelationName(rel)),
					 errdetail("%c%s.", pg_toupper((unsigned char) why[0]), why + 1),
					 errhint("Rename the column, or create the Kusto table yourself and leave the sink option \"create_table\" off.")));
	}
	relation_close(rel, AccessShareLock);
}

Datum
kusto_sink_check_metadata_columns(PG_FUNCTION_ARGS)
{
	Jsonb	   *options = PG_GETARG_JSONB_P(0);
	ArrayType  *tables = PG_GETARG_ARRAYTYPE_P(1);
	KsDecoderOptions dopts;
	Datum	   *rels;
	int			nrels;
	int			i;

	ks_parse_options(&dopts, ks_sink_metadata_options(options));
	deconstruct_array(tables, REGCLASSOID, sizeof(Oid), true, TYPALIGN_INT, &rels, NULL, &nrels);
	for (i = 0; i < nrels; i++)
	{
		Oid			relid = DatumGetObjectId(rels[i]);
		int			m;

		if (create_table_on(options))
			check_column_names(relid);

		for (m = 0; m < KS_META_COUNT; m++)
		{
			AttrNumber	att;

			if (!dopts.meta_enabled[m])
				continue;
			att = get_attnum(relid, dopts.meta_name[m]);
			if (att > 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("column \"%s\" of table %s has the name of a kusto_sink metadata column",
								dopts.meta_name[m], get_rel_name(relid)),
						 errhint("Rename the metadata column with option \"%s_column\", or leave it out with option \"metadata\".",
								 ks_meta_key(m))));
		}
	}
	PG_RETURN_VOID();
}
