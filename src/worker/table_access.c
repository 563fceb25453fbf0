/*-------------------------------------------------------------------------
 *
 * table_access.c
 *	  May a sink send a source table's rows (see table_access.h)?
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "compat.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "commands/defrem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "worker/table_access.h"

#define KS_EXTENSION_SCHEMA "kusto_sink"
#define KS_OWN_TABLE_REASON "the extension's own table"

/* ---------- the check ---------- */

static void
set_verdict(KsAccessVerdict *v, KsTableAccess access, int sqlstate, const char *reason)
{
	v->access = access;
	v->sqlstate = sqlstate;
	strlcpy(v->reason, reason, sizeof(v->reason));
}

/* Whether the owner may read every row of the table through `relid` itself. */
static bool
readable_through(Oid relid, Oid owner, bool *rls)
{
	*rls = false;
	if (pg_class_aclcheck(relid, owner, ACL_SELECT) != ACLCHECK_OK &&
		pg_attribute_aclcheck_all(relid, owner, ACL_SELECT, ACLMASK_ALL) != ACLCHECK_OK)
		return false;
	if (check_enable_rls(relid, owner, true) == RLS_ENABLED)
	{
		*rls = true;
		return false;
	}
	return true;
}

KsTableAccess
ks_table_access(Oid relid, Oid owner, KsAccessVerdict *v)
{
	HeapTuple	tup;
	Form_pg_class form;
	char		relkind;
	char		persistence;
	Oid			nsp;
	char	   *nspname;
	char	   *rolename = GetUserNameFromId(owner, true);
	bool		rls;

	memset(v, 0, sizeof(*v));
	if (rolename == NULL)
		rolename = psprintf("%u", owner);
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
	{
		snprintf(v->table, sizeof(v->table), "with OID %u", relid);
		snprintf(v->message, sizeof(v->message), "table with OID %u does not exist", relid);
		set_verdict(v, KS_ACCESS_GONE, ERRCODE_UNDEFINED_TABLE, "it does not exist");
		return v->access;
	}
	form = (Form_pg_class) GETSTRUCT(tup);
	relkind = form->relkind;
	persistence = form->relpersistence;
	nsp = form->relnamespace;
	nspname = get_namespace_name(nsp);
	/* (a temporary schema's name depends on the session: pg_temp) */
	strlcpy(v->table, quote_qualified_identifier(persistence == RELPERSISTENCE_TEMP ? "pg_temp" :
												 nspname ? nspname : "?",
												 NameStr(form->relname)),
			sizeof(v->table));
	ReleaseSysCache(tup);

	if (IsCatalogRelationOid(relid) || IsCatalogNamespace(nsp) || IsToastNamespace(nsp) ||
		(nspname != NULL && strcmp(nspname, "information_schema") == 0))
	{
		snprintf(v->message, sizeof(v->message), "table %s is a system catalog", v->table);
		strlcpy(v->detail, "Logical decoding does not send the changes of system catalogs.",
				sizeof(v->detail));
		strlcpy(v->hint, "Name a user table as the source.", sizeof(v->hint));
		set_verdict(v, KS_ACCESS_UNSUPPORTED, ERRCODE_WRONG_OBJECT_TYPE, "a system catalog");
	}
	else if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
	{
		snprintf(v->message, sizeof(v->message), "\"%s\" is not a table", v->table);
		strlcpy(v->detail, "Only tables and partitioned tables can be a sink's source.",
				sizeof(v->detail));
		set_verdict(v, KS_ACCESS_UNSUPPORTED, ERRCODE_WRONG_OBJECT_TYPE, "not a table");
	}
	else if (persistence == RELPERSISTENCE_TEMP)
	{
		snprintf(v->message, sizeof(v->message), "table %s is a temporary table", v->table);
		strlcpy(v->detail, "The changes of a temporary table are not written to WAL, so logical decoding never sees them.",
				sizeof(v->detail));
		strlcpy(v->hint, "Name a permanent table as the source.", sizeof(v->hint));
		set_verdict(v, KS_ACCESS_UNSUPPORTED, ERRCODE_FEATURE_NOT_SUPPORTED, "temporary");
	}
	else if (nspname != NULL && strcmp(nspname, KS_EXTENSION_SCHEMA) == 0)
	{
		snprintf(v->message, sizeof(v->message), "table %s belongs to the kusto_sink extension", v->table);
		strlcpy(v->detail, "The extension's own tables cannot be a sink's source.", sizeof(v->detail));
		strlcpy(v->hint, "Name a user table as the source.", sizeof(v->hint));
		set_verdict(v, KS_ACCESS_UNSUPPORTED, ERRCODE_WRONG_OBJECT_TYPE, KS_OWN_TABLE_REASON);
	}
	else if (persistence == RELPERSISTENCE_UNLOGGED)
	{
		snprintf(v->message, sizeof(v->message), "table %s is unlogged", v->table);
		strlcpy(v->detail, "The changes of an unlogged table are not written to WAL, so logical decoding never sees them.",
				sizeof(v->detail));
		strlcpy(v->hint, "Make it a logged table (ALTER TABLE ... SET LOGGED), or leave it out of the source.",
				sizeof(v->hint));
		set_verdict(v, KS_ACCESS_UNSUPPORTED, ERRCODE_FEATURE_NOT_SUPPORTED,
					"unlogged: its changes are not in WAL");
	}
	else if (readable_through(relid, owner, &rls))
		set_verdict(v, KS_ACCESS_OK, 0, "");
	else
	{
		bool		first_rls = rls;
		List	   *ancestors = NIL;
		ListCell   *lc;

		/* a partition's rows can be read through an ancestor too */
		if (get_rel_relispartition(relid))
			ancestors = get_partition_ancestors(relid);
		foreach(lc, ancestors)
		{
			if (readable_through(lfirst_oid(lc), owner, &rls))
			{
				set_verdict(v, KS_ACCESS_OK, 0, "");
				return v->access;
			}
		}
		if (first_rls)
		{
			snprintf(v->message, sizeof(v->message),
					 "row-level security of table %s applies to role \"%s\"", v->table, rolename);
			strlcpy(v->detail, "A sink sends a table only when its owner reads every row: it never sends rows filtered by a policy.",
					sizeof(v->detail));
			snprintf(v->hint, sizeof(v->hint),
					 "Give role \"%s\" BYPASSRLS, or leave the table out of the source.", rolename);
			set_verdict(v, KS_ACCESS_DENIED, ERRCODE_INSUFFICIENT_PRIVILEGE, "row-level security");
		}
		else
		{
			snprintf(v->message, sizeof(v->message),
					 "role \"%s\" lacks the SELECT privilege on table %s", rolename, v->table);
			strlcpy(v->detail, "A sink sends a table's changes only while its owner may SELECT the table (or every column of it; for a partition, it or an ancestor).",
					sizeof(v->detail));
			snprintf(v->hint, sizeof(v->hint),
					 "GRANT SELECT ON %s TO %s, or leave the table out of the source.",
					 v->table, quote_identifier(rolename));
			set_verdict(v, KS_ACCESS_DENIED, ERRCODE_INSUFFICIENT_PRIVILEGE, "no SELECT privilege");
		}
	}
	return v->access;
}

void
ks_table_access_raise(const char *sink, const KsAccessVerdict *v, int elevel)
{
	char		prefix[KS_NAME_LEN + 32] = "";

	if (sink != NULL)
		snprintf(prefix, sizeof(prefix), "kusto_sink sink \"%s\": ", sink);
	ereport(elevel,
			(errcode(v->sqlstate),
			 errmsg("%s%s", prefix, v->message),
			 v->detail[0] ? errdetail("%s", v->detail) : 0,
			 v->hint[0] ? errhint("%s", v->hint) : 0));
}

/* ---------- the worker's map ---------- */

typedef struct AccessEntry
{
	Oid			relid;			/* the key */
	KsTableAccess access;
	bool		provisional;	/* judged with the historic catalog only */
	bool		stale;			/* an invalidation may have changed it */
	bool		held;			/* records held back on a provisional denial */
	bool		skipped;		/* listed among the skipped tables */
	bool		met;			/* decoding (or a snapshot chunk) brought its records */
	bool		source;			/* one of the sink's source tables at the start */
	bool		partition;		/* a partition: its ancestors' privileges count */
	KsAccessVerdict *denied;	/* why, for a denial */
} AccessEntry;

static HTAB *access_map = NULL;
static Oid	access_owner = InvalidOid;
static char *access_sink = NULL;
static KsSinkSlot *access_slot = NULL;
static bool access_in_step = false;
static bool access_recheck = false;	/* some entry is stale or provisional */
static StringInfo access_skipped = NULL;
static int	access_partitions = 0;	/* entries that are partitions */

static void
mark_all_stale(void)
{
	HASH_SEQ_STATUS seq;
	AccessEntry *e;

	if (access_map == NULL)
		return;
	hash_seq_init(&seq, access_map);
	while ((e = (AccessEntry *) hash_seq_search(&seq)) != NULL)
		e->stale = true;
	access_recheck = true;
}

/*
 * A table's ACL, owner, persistence, RLS or partition tree changed: its
 * entry goes stale, and every partition's (an ancestor's privileges count
 * for them).  The worker's own decoding steps flush every cache at their
 * start and end (InvalidOid): those say nothing, and are ignored during a
 * step.
 */
static void
relcache_changed(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS seq;
	AccessEntry *e;

	if (relid == InvalidOid)
	{
		if (!access_in_step)
			mark_all_stale();
		return;
	}
	if (access_map == NULL)
		return;
	e = hash_search(access_map, &relid, HASH_FIND, NULL);
	if (e != NULL)
		e->stale = true;
	if (access_partitions > 0)
	{
		hash_seq_init(&seq, access_map);
		while ((e = (AccessEntry *) hash_seq_search(&seq)) != NULL)
		{
			if (e->partition)
				e->stale = true;
		}
	}
	access_recheck = true;
}

/* role membership (AUTHMEMROLEMEM) or attributes (AUTHOID) changed */
static void
roles_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	if (hashvalue == 0 && access_in_step)
		return;
	mark_all_stale();
}

static void
note_skipped(AccessEntry *e, const KsAccessVerdict *v)
{
	MemoryContext oldcxt;

	if (e->skipped)
		return;
	e->skipped = true;
	ereport(WARNING,
			(errcode(v->sqlstate),
			 errmsg("kusto_sink sink \"%s\" skips table %s: %s", access_sink, v->table, v->reason),
			 v->detail[0] ? errdetail("%s", v->detail) : 0,
			 v->hint[0] ? errhint("%s", v->hint) : 0));
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	if (access_skipped == NULL)
		access_skipped = makeStringInfo();
	if (access_skipped->len > 0)
		appendStringInfoString(access_skipped, ", ");
	appendStringInfo(access_skipped, "%s (%s)", v->table, v->reason);
	MemoryContextSwitchTo(oldcxt);
	SpinLockAcquire(&access_slot->mutex);
	strlcpy(access_slot->skipped_tables, access_skipped->data, KS_ERROR_LEN);
	SpinLockRelease(&access_slot->mutex);
}

/* Records a judgement in the map (a denial keeps its verdict, for the error). */
static AccessEntry *
store(Oid relid, KsTableAccess access, bool provisional, const KsAccessVerdict *v)
{
	bool		found;
	AccessEntry *e = hash_search(access_map, &relid, HASH_ENTER, &found);

	if (!found)
	{
		memset(((char *) e) + sizeof(Oid), 0, sizeof(AccessEntry) - sizeof(Oid));
		if (access != KS_ACCESS_GONE && get_rel_relispartition(relid))
		{
			e->partition = true;
			access_partitions++;
		}
	}
	e->access = access;
	e->provisional = provisional;
	e->stale = false;
	if (access == KS_ACCESS_DENIED)
	{
		if (e->denied == NULL)
			e->denied = MemoryContextAlloc(TopMemoryContext, sizeof(KsAccessVerdict));
		memcpy(e->denied, v, sizeof(*v));
	}
	if (provisional)
		access_recheck = true;
	return e;
}

/*
 * Judges a table again with the catalog visible now.  One that no longer
 * exists keeps its last judgement (its changes in WAL are judged by it).
 */
static AccessEntry *
judge(Oid relid, bool provisional, KsAccessVerdict *v)
{
	KsTableAccess access = ks_table_access(relid, access_owner, v);
	AccessEntry *e;

	if (access != KS_ACCESS_GONE)
		return store(relid, access, provisional, v);
	e = hash_search(access_map, &relid, HASH_FIND, NULL);
	if (e == NULL)
		return store(relid, KS_ACCESS_GONE, false, v);
	e->provisional = false;
	e->stale = false;
	if (e->access == KS_ACCESS_DENIED)
		memcpy(v, e->denied, sizeof(*v));
	return e;
}

/*
 * The relids of the sink's source as the catalog has them now, with their
 * partitions (pg_partition_tree lists none of a table that is not
 * partitioned): a publication's tables, and its unlogged ones that
 * pg_publication_tables leaves out; or the table list (relids).
 */
static const char *source_sql =
"SELECT t.relid FROM pg_catalog.pg_publication_tables pt"
"  JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) pt.schemaname"
"  JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid"
"   AND c.relname OPERATOR(pg_catalog.=) pt.tablename"
"  CROSS JOIN LATERAL (SELECT c.oid UNION"
"                      SELECT p.relid FROM pg_catalog.pg_partition_tree(c.oid) p) t(relid)"
" WHERE pg_catalog.quote_ident(pt.pubname) OPERATOR(pg_catalog.=) $1"
" UNION "
"SELECT c.oid FROM pg_catalog.pg_publication p JOIN pg_catalog.pg_class c"
"    ON c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::pg_catalog.\"char\"[])"
"   AND c.relpersistence OPERATOR(pg_catalog.=) 'u'::pg_catalog.\"char\""
" WHERE pg_catalog.quote_ident(p.pubname) OPERATOR(pg_catalog.=) $1"
"   AND (p.puballtables"
#ifdef KS_HAVE_SCHEMA_PUBLICATIONS
"        OR c.relnamespace OPERATOR(pg_catalog.=) ANY (SELECT pn.pnnspid"
"             FROM pg_catalog.pg_publication_namespace pn WHERE pn.pnpubid OPERATOR(pg_catalog.=) p.oid)"
#endif
"       )"
" UNION "
"SELECT t.relid FROM pg_catalog.unnest(pg_catalog.string_to_array($2, ',')::pg_catalog.oid[]) r(oid)"
"  CROSS JOIN LATERAL (SELECT r.oid UNION"
"                      SELECT p.relid FROM pg_catalog.pg_partition_tree(r.oid) p) t(relid)";

/* every user table: their decisions before decoding meets them */
static const char *tables_sql =
"SELECT c.oid FROM pg_catalog.pg_class c"
" WHERE c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::pg_catalog.\"char\"[])"
"   AND c.oid OPERATOR(pg_catalog.>=) 16384::pg_catalog.oid"
"   AND c.relpersistence OPERATOR(pg_catalog.<>) 't'::pg_catalog.\"char\"";

void
ks_access_start(KsSinkConfig *config, KsSinkSlot *slot)
{
	static bool registered = false;
	HASHCTL		ctl;
	const char *publication = "";
	const char *relids = "";
	ListCell   *lc;
	List	   *sources = NIL;
	List	   *all = NIL;
	uint64		i;

	access_owner = config->owner;
	access_sink = MemoryContextStrdup(TopMemoryContext, config->name);
	access_slot = slot;
	SpinLockAcquire(&slot->mutex);
	slot->skipped_tables[0] = '\0';
	SpinLockRelease(&slot->mutex);
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(AccessEntry);
	access_map = hash_create("kusto_sink table access", 256, &ctl, HASH_ELEM | HASH_BLOBS);
	access_partitions = 0;
	if (!registered)
	{
		CacheRegisterRelcacheCallback(relcache_changed, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, roles_changed, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, roles_changed, (Datum) 0);
		registered = true;
	}

	foreach(lc, config->plugin_options)
	{
		DefElem    *d = (DefElem *) lfirst(lc);

		if (strcmp(d->defname, "publication") == 0)
			publication = strVal(d->arg);
		else if (strcmp(d->defname, "relids") == 0)
			relids = strVal(d->arg);
	}

	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	{
		Oid			types[2] = {TEXTOID, TEXTOID};
		Datum		values[2] = {CStringGetTextDatum(publication), CStringGetTextDatum(relids)};
		MemoryContext oldcxt;
		bool		isnull;

		if (SPI_execute_with_args(source_sql, 2, types, values, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the source tables of kusto_sink sink \"%s\"", config->name);
		oldcxt = MemoryContextSwitchTo(TopTransactionContext);
		for (i = 0; i < SPI_processed; i++)
			sources = lappend_oid(sources, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																		  SPI_tuptable->tupdesc, 1, &isnull)));
		MemoryContextSwitchTo(oldcxt);
		if (SPI_execute(tables_sql, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the tables of kusto_sink sink \"%s\"", config->name);
		oldcxt = MemoryContextSwitchTo(TopTransactionContext);
		for (i = 0; i < SPI_processed; i++)
			all = lappend_oid(all, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																  SPI_tuptable->tupdesc, 1, &isnull)));
		MemoryContextSwitchTo(oldcxt);
	}
	SPI_finish();
	PopActiveSnapshot();

	/* the sources first: the unsupported ones are skipped with a WARNING */
	foreach(lc, sources)
	{
		KsAccessVerdict v;
		KsTableAccess access = ks_table_access(lfirst_oid(lc), access_owner, &v);
		AccessEntry *e;

		if (access == KS_ACCESS_GONE)
			continue;
		e = store(lfirst_oid(lc), access, false, &v);
		e->source = true;
		/* (the extension's tables of FOR ALL TABLES: the decoder leaves them out) */
		if (access == KS_ACCESS_UNSUPPORTED && strcmp(v.reason, KS_OWN_TABLE_REASON) != 0)
			note_skipped(e, &v);
	}
	/* and every other table, judged now without raising (met only if published) */
	foreach(lc, all)
	{
		KsAccessVerdict v;
		KsTableAccess access;

		if (hash_search(access_map, &lc->oid_value, HASH_FIND, NULL) != NULL)
			continue;
		access = ks_table_access(lfirst_oid(lc), access_owner, &v);
		if (access != KS_ACCESS_GONE)
			(void) store(lfirst_oid(lc), access, false, &v);
	}
	CommitTransactionCommand();
	access_recheck = false;
}

void
ks_access_begin_step(void)
{
	access_in_step = true;
}

bool
ks_access_record(Oid relid, bool *hold)
{
	AccessEntry *e = hash_search(access_map, &relid, HASH_FIND, NULL);
	KsAccessVerdict v;

	*hold = false;
	if (e == NULL || (e->stale && !access_in_step))
	{
		/*
		 * Inside decoding this sees the catalog as of the change: the answer
		 * is provisional, judged again with the current one after the step.
		 */
		e = judge(relid, access_in_step, &v);
	}
	if (e->stale)
		access_recheck = true;	/* judged again right after the step */
	if (!e->met)
	{
		e->met = true;
		if (e->access == KS_ACCESS_UNSUPPORTED)
		{
			(void) ks_table_access(relid, access_owner, &v);
			note_skipped(e, &v);
		}
	}
	switch (e->access)
	{
		case KS_ACCESS_OK:
		case KS_ACCESS_GONE:
			return true;
		case KS_ACCESS_UNSUPPORTED:
			return false;
		case KS_ACCESS_DENIED:
			if (!e->provisional && !e->stale)
			{
				/* nothing of it is sent: the worker stops here */
				ks_table_access_raise(access_sink, e->denied, ERROR);
			}
			/*
			 * Provisional, or privileges changed since (a GRANT?): held back
			 * (never sent, nothing past it confirmed) until judged again.
			 */
			e->held = true;
			*hold = true;
			return false;
	}
	return true;
}

bool
ks_access_refresh(void)
{
	HASH_SEQ_STATUS seq;
	AccessEntry *e;
	List	   *todo = NIL;
	ListCell   *lc;
	bool		redo = false;

	access_in_step = false;
	/* (the transaction's start takes the invalidations that came meanwhile) */
	StartTransactionCommand();
	if (access_recheck)
	{
		access_recheck = false;
		hash_seq_init(&seq, access_map);
		while ((e = (AccessEntry *) hash_seq_search(&seq)) != NULL)
		{
			/* (the others are judged when decoding meets them) */
			if ((e->stale || e->provisional) && (e->met || e->source || e->held))
				todo = lappend_oid(todo, e->relid);
		}
		foreach(lc, todo)
		{
			KsAccessVerdict v;
			bool		held;
			KsTableAccess before;

			e = hash_search(access_map, &lc->oid_value, HASH_FIND, NULL);
			held = e->held;
			before = e->access;
			e->held = false;
			e = judge(lfirst_oid(lc), false, &v);

			/*
			 * A denial stops the sink for a table it has met, and for a
			 * source table whose privileges were just taken away (REVOKE);
			 * one denied from the start stops it when decoding meets it.
			 */
			if (e->access == KS_ACCESS_DENIED &&
				(e->met || (e->source && before == KS_ACCESS_OK)))
				ks_table_access_raise(access_sink, &v, ERROR);
			/* e.g. a source table made UNLOGGED */
			if (e->access == KS_ACCESS_UNSUPPORTED && (e->met || e->source))
				note_skipped(e, &v);
			if (held && e->access == KS_ACCESS_OK)
				redo = true;
		}
		list_free(todo);
	}
	CommitTransactionCommand();
	return redo;
}
