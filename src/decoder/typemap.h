/*-------------------------------------------------------------------------
 *
 * typemap.h
 *	  The mapping of PostgreSQL types to Kusto types, and how each value of a
 *	  type is rendered.
 *
 * ks_lookup_type() returns, for any type OID, a KsTypeInfo that says which
 * Kusto type its values land in and which rendering path (KsValueKind) the
 * value writer takes.  Domains resolve to their base type.  Entries live for
 * the life of the backend in a hash table that a pg_type invalidation
 * refreshes in place, so callers may keep the pointers they get.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_TYPEMAP_H
#define KS_TYPEMAP_H

#include "fmgr.h"

/* Kusto's scalar types (kusto-protocol.md, section F) */
typedef enum KustoType
{
	KT_BOOL,
	KT_INT,
	KT_LONG,
	KT_REAL,
	KT_DECIMAL,
	KT_STRING,
	KT_DATETIME,
	KT_TIMESPAN,
	KT_GUID,
	KT_DYNAMIC
} KustoType;

/* how a value is rendered */
typedef enum KsValueKind
{
	KV_BOOL,
	KV_INT2,
	KV_INT4,
	KV_INT8,
	KV_OID,
	KV_FLOAT4,
	KV_FLOAT8,
	KV_NUMERIC,
	KV_TEXT,					/* varlena whose output function is the identity */
	KV_NAME,
	KV_CHAR,					/* the one-byte "char" type */
	KV_TIMESTAMPTZ,
	KV_TIMESTAMP,
	KV_DATE,
	KV_TIME,
	KV_TIMETZ,
	KV_INTERVAL,
	KV_UUID,
	KV_JSON,
	KV_JSONB,
	KV_BYTEA,
	KV_ARRAY,
	KV_COMPOSITE,
	KV_CAST_JSON,				/* a trusted cast to json/jsonb (typemap.c) */
	KV_OUTPUT					/* anything else: its output function, a string */
} KsValueKind;

typedef struct KsTypeInfo
{
	Oid			typid;			/* hash key: the type as asked for */
	bool		valid;
	Oid			basetype;		/* after resolving domains */
	KustoType	ktype;
	KsValueKind kind;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	FmgrInfo	outfunc;		/* KV_OUTPUT, KV_NUMERIC */
	FmgrInfo	castfunc;		/* KV_CAST_JSON */
	bool		cast_to_jsonb;	/* KV_CAST_JSON: result is jsonb, else json */
	struct KsTypeInfo *elem;	/* KV_ARRAY: the element type */
} KsTypeInfo;

extern KsTypeInfo *ks_lookup_type(Oid typid);
extern const char *ks_kusto_type_name(KustoType ktype);

#endif							/* KS_TYPEMAP_H */
