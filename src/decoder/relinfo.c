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
#include "decoder/escape.h"
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

/* Does the relation (or, for a partition, an ancestor) pass the filter? */
static void
compute_publish(KsRelInfo *info, Relation rel, const KsDecoderOptions *opts)
{
	List	   *rels = list_make1_oid(RelationGetRelid(rel));
	ListCell   *lc;

	publish_all(info, false);
	if (strcmp(get_namespace_name(RelationGetNamespace(rel)), KS_CATALOG_SCHEMA) == 0)
		return;
	if (!ks_has_table_filter(opts))
	{
		publish_all(info, true);
		return;
	}
	if (rel->rd_rel->relispartition)
		rels = list_concat(rels, get_partition_ancestors(RelationGetRelid(rel)));

	foreach(lc, rels)
	{
		Oid			relid = lfirst_oid(lc);
		Oid			nsp = get_rel_namespace(relid);
		List	   *relpubs = GetRelationPublications(relid);
#ifdef KS_HAVE_SCHEMA_PUBLICATIONS
		List	   *nsppubs = GetSchemaPublications(nsp);
#else
		List	   *nsppubs = NIL;
#endif
		ListCell   *pc;

		if (list_member_oid(opts->relids, relid) ||
			filter_matches(opts, get_namespace_name(nsp), get_rel_name(relid)))
		{
			publish_all(info, true);
			return;
		}
		foreach(pc, opts->publications)
		{
			Publication *pub = GetPublicationByName((char *) lfirst(pc), false);

			if (pub->alltables || list_member_oid(relpubs, pub->oid) ||
				list_member_oid(nsppubs, pub->oid))
			{
				info->publish_insert |= pub->pubactions.pubinsert;
				info->publish_update |= pub->pubactions.pubupdate;
				info->publish_delete |= pub->pubactions.pubdelete;
				info->publish_truncate |= pub->pubactions.pubtruncate;
			}
		}
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

static void
build_columns(KsRelInfo *info, Relation rel, const KsDecoderOptions *opts)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Bitmapset  *identity = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_IDENTITY_KEY);
	Bitmapset  *pkey = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	StringInfoData key;
	int			i;

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
		KsColumn   *col;
		int			m;

		if (att->attisdropped)
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
		shape->types[shape->ncolumns++] = ks_kusto_type_name(info->columns[i].type->ktype);
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
