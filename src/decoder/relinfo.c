/*-------------------------------------------------------------------------
 *
 * relinfo.c
 *	  The output plugin's per-relation cache.
 *
 * The cache belongs to one decoding session (its hash table lives in the
 * plugin's memory context), but invalidation callbacks cannot be
 * unregistered, so they are registered once per backend and find the
 * current session's table through a static pointer, as pgoutput does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/sysattr.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_publication.h"
#include "common/hashfn.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

#include "compat.h"
#include "decoder/colbind.h"
#include "decoder/colrules.h"
#include "decoder/escape.h"
#include "decoder/pubfilter.h"
#include "decoder/relinfo.h"

/* the schema of the extension's own catalog: never decoded */
#define KS_CATALOG_SCHEMA "kusto_sink"

static HTAB *relinfo_hash = NULL;
static MemoryContext relinfo_cxt = NULL;
static bool callbacks_registered = false;

static void
invalidate_all(void)
{
	HASH_SEQ_STATUS status;
	KsRelInfo  *entry;

	if (relinfo_hash == NULL)
		return;
	hash_seq_init(&status, relinfo_hash);
	while ((entry = (KsRelInfo *) hash_seq_search(&status)) != NULL)
		entry->valid = false;
}

static void
relcache_callback(Datum arg, Oid relid)
{
	KsRelInfo  *entry;

	if (relinfo_hash == NULL)
		return;
	if (!OidIsValid(relid))
	{
		invalidate_all();
		return;
	}
	entry = (KsRelInfo *) hash_search(relinfo_hash, &relid, HASH_FIND, NULL);
	if (entry != NULL)
		entry->valid = false;
}

static void
syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	invalidate_all();
}

void
ks_relinfo_startup(MemoryContext cxt)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(KsRelInfo);
	ctl.hcxt = cxt;
	relinfo_cxt = cxt;
	relinfo_hash = hash_create("kusto_sink relation cache", 128, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	if (!callbacks_registered)
	{
		CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(PUBLICATIONOID, syscache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(PUBLICATIONRELMAP, syscache_callback, (Datum) 0);
#ifdef KS_HAVE_SCHEMA_PUBLICATIONS
		CacheRegisterSyscacheCallback(PUBLICATIONNAMESPACEMAP, syscache_callback, (Datum) 0);
#endif
		CacheRegisterSyscacheCallback(TYPEOID, syscache_callback, (Datum) 0);
		callbacks_registered = true;
	}
}

void
ks_relinfo_shutdown(void)
{
	/* the hash table goes with the plugin's memory context */
	relinfo_hash = NULL;
	relinfo_cxt = NULL;
}

static bool
filter_matches(const KsDecoderOptions *opts, const char *schema, const char *table)
{
	ListCell   *lc;

	foreach(lc, opts->tables)
	{
		KsTableFilter *f = (KsTableFilter *) lfirst(lc);

		if (strcmp(f->schema, schema) == 0 &&
			(f->table == NULL || strcmp(f->table, table) == 0))
			return true;
	}
	return false;
}

static void
publish_all(KsRelInfo *info, bool publish)
{
	info->publish_insert = publish;
	info->publish_update = publish;
	info->publish_delete = publish;
	info->publish_truncate = publish;
}

/* Is the relation in the publication: listed, or its schema's? */
static bool
in_publication(Oid relid, Publication *pub)
{
	List	   *relpubs = GetRelationPublications(relid);
#ifdef KS_HAVE_SCHEMA_PUBLICATIONS
	List	   *nsppubs = GetSchemaPublications(get_rel_namespace(relid));
#else
	List	   *nsppubs = NIL;
#endif

	return list_member_oid(relpubs, pub->oid) || list_member_oid(nsppubs, pub->oid);
}

/*
 * Does the relation pass the table filter, for which operations, and with
 * which row filters and column list?  A table named in "tables" or
 * "relids" (or, for a partition, an ancestor) passes whole.  Through the
 * publications, as pgoutput's get_rel_sync_entry: a partition is published
 * through the topmost ancestor that a publication with
 * publish_via_partition_root publishes (that ancestor's row filters and
 * column list apply), else through itself (its own apply).
 */
static void
compute_publish(KsRelInfo *info, Relation rel, const KsDecoderOptions *opts)
{
	Oid			relid = RelationGetRelid(rel);
	List	   *ancestors = NIL;
	List	   *rel_publications = NIL;
	Oid			publish_as = relid;
	int			publish_level = 0;
	ListCell   *lc;

	publish_all(info, false);
	info->pubfilter = NULL;
	info->via_publications = false;
	info->publish_as = relid;
	if (strcmp(get_namespace_name(RelationGetNamespace(rel)), KS_CATALOG_SCHEMA) == 0)
		return;
	if (!ks_has_table_filter(opts))
	{
		publish_all(info, true);
		return;
	}
	if (rel->rd_rel->relispartition)
		ancestors = get_partition_ancestors(relid);

	foreach(lc, list_concat(list_make1_oid(relid), ancestors))
	{
		Oid			r = lfirst_oid(lc);

		if (list_member_oid(opts->relids, r) ||
			filter_matches(opts, get_namespace_name(get_rel_namespace(r)), get_rel_name(r)))
		{
			publish_all(info, true);
			return;
		}
	}

	foreach(lc, opts->publications)
	{
		Publication *pub = GetPublicationByName((char *) lfirst(lc), false);
		bool		publish = false;
		Oid			pub_relid = relid;
		int			level = 0;

		if (pub->alltables)
		{
			publish = true;
			if (pub->pubviaroot && ancestors != NIL)
			{
				pub_relid = llast_oid(ancestors);
				level = list_length(ancestors);
			}
		}
		else
		{
			ListCell   *ac;
			int			l = 0;

			/* the topmost ancestor in the publication (GetTopMostAncestorInPublication) */
			foreach(ac, ancestors)
			{
				l++;
				if (in_publication(lfirst_oid(ac), pub))
				{
					publish = true;
					if (pub->pubviaroot)
					{
						pub_relid = lfirst_oid(ac);
						level = l;
					}
				}
			}
			if (in_publication(relid, pub))
				publish = true;
		}
		/*
		 * A partitioned table's changes are its partitions' (they have the
		 * rows), unless the publication publishes via the root
		 */
		if (!publish || (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE && !pub->pubviaroot))
			continue;

		info->publish_insert |= pub->pubactions.pubinsert;
		info->publish_update |= pub->pubactions.pubupdate;
		info->publish_delete |= pub->pubactions.pubdelete;
		info->publish_truncate |= pub->pubactions.pubtruncate;

		/* published as the topmost ancestor over all publications */
		if (publish_level > level)
			continue;
		if (publish_level < level)
		{
			publish_as = pub_relid;
			publish_level = level;
			rel_publications = NIL;
		}
		rel_publications = lappend(rel_publications, pub);
	}

	if (rel_publications != NIL)
	{
		info->via_publications = true;
		info->publish_as = publish_as;
		info->pubfilter = ks_pubfilter_build(rel, rel_publications, publish_as);
	}
}

static void
render_names(KsRelInfo *info, const char *schema, const char *table)
{
	StringInfoData buf;

	initStringInfo(&buf);
	ks_append_json_string(&buf, schema, strlen(schema));
	info->schema_json = pstrdup(buf.data);
	info->schema_json_len = buf.len;

	resetStringInfo(&buf);
	ks_append_json_string(&buf, table, strlen(table));
	info->table_json = pstrdup(buf.data);
	info->table_json_len = buf.len;

	resetStringInfo(&buf);
	ks_append_csv_field(&buf, schema, strlen(schema));
	info->schema_csv = pstrdup(buf.data);
	info->schema_csv_len = buf.len;

	resetStringInfo(&buf);
	ks_append_csv_field(&buf, table, strlen(table));
	info->table_csv = pstrdup(buf.data);
	info->table_csv_len = buf.len;
}

/*
 * pgoutput's logicalrep_should_publish_column: a column list's columns, else
 * every column but generated ones (stored ones with
 * publish_generated_columns = stored)
 */
static bool
pub_sends(const KsPubFilter *f, Form_pg_attribute att)
{
	if (f != NULL && f->columns != NULL)
		return bms_is_member(att->attnum, f->columns);
	if (!att->attgenerated)
		return true;
	return KS_ATT_GENERATED_STORED(att) && f != NULL && f->gencols_stored;
}

static void
build_columns(KsRelInfo *info, Relation rel, const KsDecoderOptions *opts)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Bitmapset  *identity = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_IDENTITY_KEY);
	Bitmapset  *pkey = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	StringInfoData key;
	KsTableBinding *binding = ks_table_binding_for(opts->column_bindings, RelationGetRelid(rel));
	KsColumnRule *rule;
	bool		default_sent;
	int			i;

	/*
	 * A bound table's rule is the one it was bound under (colbind.h): the
	 * table may have been renamed since, as the worker follows it by OID.
	 * Else the rule that names the relation as it is named here.
	 */
	if (binding != NULL && binding->source != NULL)
		rule = ks_column_rule_named(opts->column_rules, binding->source);
	else
		rule = ks_column_rule_for(opts->column_rules,
								  get_namespace_name(RelationGetNamespace(rel)),
								  RelationGetRelationName(rel));
	default_sent = (rule == NULL || !rule->include);

	/*
	 * The rule's columns by attnum (colbind.h): as bound by create_sink or
	 * alter_sink, else by name in this descriptor.  A rule naming a column
	 * the table does not have (any more) stops the sink.
	 */
	if (binding == NULL && rule != NULL)
		binding = ks_bind_rule(rule, rel, NULL);
	if (binding != NULL)
		ks_table_binding_check(binding, rule != NULL ? rule->table :
							   quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
														  RelationGetRelationName(rel)),
							   rel);

	/*
	 * An update logs the old row only when its identity key changed (or
	 * always, under REPLICA IDENTITY FULL): compare the key that the old row
	 * holds, the identity key, or the primary key for FULL.
	 */
	info->key_attrs = (rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL) ? pkey : identity;
	info->columns = palloc(desc->natts * sizeof(KsColumn));
	info->ncolumns = 0;
	initStringInfo(&key);

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const KsColumnBinding *bound = ks_column_binding(binding, att->attnum);
		KsColumn   *col;
		int			m;

		/* a virtual generated column (18) has no value in WAL */
		if (att->attisdropped || KS_ATT_GENERATED_VIRTUAL(att))
			continue;
		/* through publications: pgoutput's columns (pubfilter.h) */
		if (info->via_publications && !pub_sends(info->pubfilter, att))
			continue;
		/* the sink's own include or exclude list */
		if (!(bound != NULL ? bound->sent : default_sent))
			continue;
		for (m = 0; m < KS_META_COUNT; m++)
		{
			if (opts->meta_enabled[m] && strcmp(opts->meta_name[m], NameStr(att->attname)) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("column \"%s\" of table \"%s\" has the name of a kusto_sink metadata column",
								NameStr(att->attname), RelationGetRelationName(rel)),
						 errhint("Rename the metadata column with option \"%s_column\", or leave it out with option \"metadata\".",
								 ks_meta_key(m))));
		}

		col = &info->columns[info->ncolumns++];
		col->attidx = i;
		col->name = pstrdup(NameStr(att->attname));
		col->type = ks_lookup_type(att->atttypid);
		col->is_identity = bms_is_member(att->attnum - FirstLowInvalidHeapAttributeNumber, identity);
		col->mask = bound != NULL ? bound->mask : NULL;
		col->mask_out = NULL;
		if (col->mask != NULL && col->mask->kind == KS_MASK_HASH)
		{
			Oid			outfunc;
			bool		isvarlena;

			if (opts->mask_salt == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" of table \"%s\" has a hash mask but there is no salt",
								col->name, RelationGetRelationName(rel)),
						 errhint("Give the key of the hash masks in option \"mask_salt\".")));
			getTypeOutputInfo(att->atttypid, &outfunc, &isvarlena);
			col->mask_out = palloc(sizeof(FmgrInfo));
			fmgr_info(outfunc, col->mask_out);
		}

		resetStringInfo(&key);
		ks_append_json_string(&key, col->name, strlen(col->name));
		appendStringInfoChar(&key, ':');
		col->json_key = pstrdup(key.data);
		col->json_key_len = key.len;
	}
}

/* the records' fields: the columns, then the enabled metadata columns */
static void
build_shape(KsRelInfo *info, const KsDecoderOptions *opts)
{
	KsShape    *shape = &info->shape;
	int			i;
	int			m;

	shape->names = palloc((info->ncolumns + KS_META_COUNT) * sizeof(char *));
	shape->types = palloc((info->ncolumns + KS_META_COUNT) * sizeof(char *));
	shape->ncolumns = 0;
	for (i = 0; i < info->ncolumns; i++)
	{
		shape->names[shape->ncolumns] = info->columns[i].name;
		/* a masked column is a string */
		shape->types[shape->ncolumns++] = info->columns[i].mask != NULL ? ks_kusto_type_name(KT_STRING) :
			ks_kusto_type_name(info->columns[i].type->ktype);
	}
	for (m = 0; m < KS_META_COUNT; m++)
	{
		if (!opts->meta_enabled[m])
			continue;
		shape->names[shape->ncolumns] = opts->meta_name[m];
		shape->types[shape->ncolumns++] = ks_kusto_type_name(ks_meta_kusto_type(m));
	}

	shape->hash = ks_shape_hash(shape);
}

/* The hash of a list of fields (names and types, in order). */
uint64
ks_shape_hash(const KsShape *shape)
{
	StringInfoData all;
	uint64		hash;
	int			i;

	initStringInfo(&all);
	for (i = 0; i < shape->ncolumns; i++)
	{
		appendBinaryStringInfo(&all, shape->names[i], strlen(shape->names[i]) + 1);
		appendBinaryStringInfo(&all, shape->types[i], strlen(shape->types[i]) + 1);
	}
	hash = hash_bytes_extended((const unsigned char *) all.data, all.len, 0);
	pfree(all.data);
	return hash;
}

static void
fill_relinfo(KsRelInfo *info, Relation rel, const KsDecoderOptions *opts)
{
	info->relid = RelationGetRelid(rel);
	info->replident = rel->rd_rel->relreplident;
	compute_publish(info, rel, opts);
	build_columns(info, rel, opts);
	build_shape(info, opts);
	render_names(info, get_namespace_name(RelationGetNamespace(rel)),
				 RelationGetRelationName(rel));
}

/*
 * An entry outside the cache, in CurrentMemoryContext, for a relation read
 * with the current catalog (the sink worker's snapshot, outside decoding).
 */
KsRelInfo *
ks_relinfo_build(Relation rel, const KsDecoderOptions *opts)
{
	KsRelInfo  *info = palloc0(sizeof(KsRelInfo));

	info->cxt = CurrentMemoryContext;
	fill_relinfo(info, rel, opts);
	info->valid = true;
	return info;
}

KsRelInfo *
ks_relinfo_get(Relation rel, const KsDecoderOptions *opts)
{
	Oid			relid = RelationGetRelid(rel);
	KsRelInfo  *info;
	bool		found;
	MemoryContext oldcxt;

	Assert(relinfo_hash != NULL);
	info = (KsRelInfo *) hash_search(relinfo_hash, &relid, HASH_ENTER, &found);
	if (found && info->valid)
		return info;

	if (found && info->cxt != NULL)
		MemoryContextReset(info->cxt);
	else
		info->cxt = AllocSetContextCreate(relinfo_cxt,
										  "kusto_sink relation",
										  ALLOCSET_SMALL_SIZES);
	info->valid = false;
	oldcxt = MemoryContextSwitchTo(info->cxt);

	fill_relinfo(info, rel, opts);

	MemoryContextSwitchTo(oldcxt);
	info->valid = true;
	return info;
}
