/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  PostgreSQL version differences (13 to 18), in one place.
 *
 * No other file tests PG_VERSION_NUM: they use the macros defined here.
 *
 * Every piece of kusto_sink that touches an API whose signature or layout
 * changed between supported major versions goes through a macro defined
 * here, so the rest of the code reads as if there were one PostgreSQL.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KUSTO_SINK_COMPAT_H
#define KUSTO_SINK_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 130000
#error "kusto_sink needs PostgreSQL 13 or later"
#endif

/* the varlena macros (VARDATA, SET_VARSIZE) left postgres.h in 16 */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/* ReorderBufferTXN: commit timestamp moved into a union in 15 */
#if PG_VERSION_NUM >= 150000
#define KS_TXN_COMMIT_TIME(txn) ((txn)->xact_time.commit_time)
#else
#define KS_TXN_COMMIT_TIME(txn) ((txn)->commit_time)
#endif

/* ReorderBufferChange tuples: a ReorderBufferTupleBuf until 16, a HeapTuple since 17 */
#if PG_VERSION_NUM >= 170000
#define KS_CHANGE_TUPLE(t) (t)
#else
#define KS_CHANGE_TUPLE(t) ((t) ? &(t)->tuple : NULL)
#endif

/* schema-level publications (FOR TABLES IN SCHEMA) exist since 15 */
#if PG_VERSION_NUM >= 150000
#define KS_HAVE_SCHEMA_PUBLICATIONS 1
#endif

/* publication row filters and column lists (pg_publication_rel.prqual, prattrs) since 15 */
#if PG_VERSION_NUM >= 150000
#define KS_HAVE_PUBLICATION_FILTERS 1
#endif

/*
 * Generated columns in publications (pgoutput): before 18 never published;
 * since 18 a publication's publish_generated_columns = stored publishes the
 * stored ones (a column list may name them too), and virtual generated
 * columns (new in 18, never in WAL) are never published, and a row filter
 * sees them expanded to their expressions.
 */
#if PG_VERSION_NUM >= 180000
#include "rewrite/rewriteHandler.h"
#define KS_PUB_GENCOLS_STORED(pub) ((pub)->pubgencols_type == PUBLISH_GENCOLS_STORED)
#define KS_ATT_GENERATED_STORED(att) ((att)->attgenerated == ATTRIBUTE_GENERATED_STORED)
#define KS_ATT_GENERATED_VIRTUAL(att) ((att)->attgenerated == ATTRIBUTE_GENERATED_VIRTUAL)
#define KS_EXPAND_GENERATED_COLUMNS(node, rel) expand_generated_columns_in_expr(node, rel, 1)
#else
#define KS_PUB_GENCOLS_STORED(pub) false
#define KS_ATT_GENERATED_STORED(att) ((att)->attgenerated != '\0')
#define KS_ATT_GENERATED_VIRTUAL(att) false
#define KS_EXPAND_GENERATED_COLUMNS(node, rel) (node)
#endif

/* GetFlushRecPtr grew a timeline argument in 15 */
#if PG_VERSION_NUM >= 150000
#define KS_GET_FLUSH_REC_PTR() GetFlushRecPtr(NULL)
#else
#define KS_GET_FLUSH_REC_PTR() GetFlushRecPtr()
#endif

/* the shmem_request_hook (where shared memory is requested) exists since 15 */
#if PG_VERSION_NUM >= 150000
#define KS_HAVE_SHMEM_REQUEST_HOOK 1
#endif

/* LogLogicalMessage grew a flush argument in 17 */
#if PG_VERSION_NUM >= 170000
#define KS_LOG_LOGICAL_MESSAGE(prefix, msg, len, transactional) \
	LogLogicalMessage(prefix, msg, len, transactional, false)
#else
#define KS_LOG_LOGICAL_MESSAGE(prefix, msg, len, transactional) \
	LogLogicalMessage(prefix, msg, len, transactional)
#endif

/* stringToQualifiedNameList grew an escontext argument in 16 */
#if PG_VERSION_NUM >= 160000
#define KS_STRING_TO_QUALIFIED_NAME_LIST(s) stringToQualifiedNameList(s, NULL)
#else
#define KS_STRING_TO_QUALIFIED_NAME_LIST(s) stringToQualifiedNameList(s)
#endif

/* intervals can be infinite since 17 */
#if PG_VERSION_NUM >= 170000
#define KS_INTERVAL_NOT_FINITE(iv) INTERVAL_NOT_FINITE(iv)
#else
#define KS_INTERVAL_NOT_FINITE(iv) false
#endif

/* reserving a GUC prefix: MarkGUCPrefixReserved since 15 */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/* ReplicationSlotAcquire grew error_if_invalid in 18 (the caller checks itself) */
#if PG_VERSION_NUM >= 180000
#define KS_REPLICATION_SLOT_ACQUIRE(name, nowait) ReplicationSlotAcquire(name, nowait, false)
#else
#define KS_REPLICATION_SLOT_ACQUIRE(name, nowait) ReplicationSlotAcquire(name, nowait)
#endif

/*
 * RelationGetPrimaryKeyIndex grew deferrable_ok in 18; before, a deferrable
 * primary key was never returned
 */
#if PG_VERSION_NUM >= 180000
#define KS_PRIMARY_KEY_INDEX(rel) RelationGetPrimaryKeyIndex(rel, false)
#else
#define KS_PRIMARY_KEY_INDEX(rel) RelationGetPrimaryKeyIndex(rel)
#endif

/* index_beginscan grew an instrumentation argument in 18 */
#if PG_VERSION_NUM >= 180000
#define KS_INDEX_BEGINSCAN(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan(heap, index, snapshot, NULL, nkeys, norderbys)
#else
#define KS_INDEX_BEGINSCAN(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan(heap, index, snapshot, nkeys, norderbys)
#endif

/* pg_b64_encode takes its input as uint8 since 18 (char before) */
#if PG_VERSION_NUM >= 180000
#define KS_B64_ENCODE(src, len, dst, dstlen) \
	pg_b64_encode((const uint8 *) (src), len, dst, dstlen)
#else
#define KS_B64_ENCODE(src, len, dst, dstlen) \
	pg_b64_encode((const char *) (src), len, dst, dstlen)
#endif

/*
 * Failover slots (17): a logical slot created with failover = true is kept
 * in step on standbys with sync_replication_slots, and the primary's
 * synchronized_standby_slots keeps it from getting ahead of them.  Before 17
 * a slot exists on its server only.  KS_CREATE_LOGICAL_SLOT creates a sink's
 * slot (permanent, no two-phase; failover where there is such a thing)
 * through pg_create_logical_replication_slot, and returns its result record.
 */
#if PG_VERSION_NUM >= 170000
#define KS_HAVE_FAILOVER_SLOTS 1
#define KS_CREATE_LOGICAL_SLOT(name, plugin) \
	OidFunctionCall5(F_PG_CREATE_LOGICAL_REPLICATION_SLOT, (name), (plugin), \
					 BoolGetDatum(false), BoolGetDatum(false), BoolGetDatum(true))
#else
#define KS_CREATE_LOGICAL_SLOT(name, plugin) \
	OidFunctionCall4(F_PG_CREATE_LOGICAL_REPLICATION_SLOT, (name), (plugin), \
					 BoolGetDatum(false), BoolGetDatum(false))
#endif

/*
 * pg_noreturn (before the declaration) replaced the postfix
 * pg_attribute_noreturn() in 18
 */
#if PG_VERSION_NUM < 180000
#define pg_noreturn pg_attribute_noreturn()
#endif

#endif							/* KUSTO_SINK_COMPAT_H */
