/*-------------------------------------------------------------------------
 *
 * typemap.c
 *	  PostgreSQL type -> Kusto type, and the rendering path of each type.
 *
 * The mapping (docs/output-plugin.md, "Type mapping"):
 *	bool -> bool; int2, int4 -> int; int8, oid -> long; float4, float8 -> real;
 *	numeric -> decimal; text, varchar, bpchar, name, "char", enums and every
 *	type without a better mapping -> string (its output function);
 *	timestamptz, timestamp, date -> datetime; time, timetz, interval ->
 *	timespan; uuid -> guid; json, jsonb, arrays, composites and extension
 *	types that can be cast to json or jsonb by a C or internal function that
 *	a superuser (or a superuser's extension) owns (hstore, ...) -> dynamic;
 *	bytea -> string (base64).  Domains map as their base type.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/pg_cast.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "decoder/typemap.h"

static HTAB *type_cache = NULL;

static void
type_cache_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	HASH_SEQ_STATUS status;
	KsTypeInfo *entry;

	if (type_cache == NULL)
		return;
	hash_seq_init(&status, type_cache);
	while ((entry = (KsTypeInfo *) hash_seq_search(&status)) != NULL)
		entry->valid = false;
}

/* Is the extension owned by a superuser? */
static bool
extension_owned_by_superuser(Oid extid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		result = false;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		result = superuser_arg(((Form_pg_extension) GETSTRUCT(tup))->extowner);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * May the worker run this cast function?  Decoding and the snapshot run as
 * the sink's owner, often a superuser, and any role that owns a type may
 * create a cast for it: only code that a superuser put there runs, that is
 * a function in LANGUAGE internal or C that a superuser owns or that belongs
 * to an extension a superuser owns (hstore's cast to json).
 */
static bool
trusted_cast_function(Oid funcid)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	bool		trusted;
	Oid			extid;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tup))
		return false;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	trusted = (proc->prolang == INTERNALlanguageId || proc->prolang == ClanguageId);
	if (trusted && !superuser_arg(proc->proowner))
	{
		extid = getExtensionOfObject(ProcedureRelationId, funcid);
		trusted = OidIsValid(extid) && extension_owned_by_superuser(extid);
	}
	ReleaseSysCache(tup);
	return trusted;
}

/*
 * Can values of this (non-built-in) type be cast to jsonb or json by a
 * function that the worker may run (trusted_cast_function)?  A type whose
 * cast is not trusted goes out as its output function's string.
 */
static bool
find_json_cast(Oid typid, KsTypeInfo *info)
{
	Oid			funcid;

	if (typid < FirstNormalObjectId)
		return false;
	if (find_coercion_pathway(JSONBOID, typid, COERCION_EXPLICIT, &funcid) == COERCION_PATH_FUNC &&
		OidIsValid(funcid))
		info->cast_to_jsonb = true;
	else if (find_coercion_pathway(JSONOID, typid, COERCION_EXPLICIT, &funcid) == COERCION_PATH_FUNC &&
			 OidIsValid(funcid))
		info->cast_to_jsonb = false;
	else
		return false;
	if (!trusted_cast_function(funcid))
		return false;
	fmgr_info_cxt(funcid, &info->castfunc, CacheMemoryContext);
	return true;
}

static void
fill_type_info(KsTypeInfo *info)
{
	Oid			base = getBaseType(info->typid);
	Oid			outfunc;
	bool		isvarlena;
	char		typtype;

	info->basetype = base;
	info->elem = NULL;
	get_typlenbyvalalign(base, &info->typlen, &info->typbyval, &info->typalign);
	typtype = get_typtype(base);

	switch (base)
	{
		case BOOLOID:
			info->ktype = KT_BOOL;
			info->kind = KV_BOOL;
			break;
		case INT2OID:
			info->ktype = KT_INT;
			info->kind = KV_INT2;
			break;
		case INT4OID:
			info->ktype = KT_INT;
			info->kind = KV_INT4;
			break;
		case INT8OID:
			info->ktype = KT_LONG;
			info->kind = KV_INT8;
			break;
		case OIDOID:
			info->ktype = KT_LONG;
			info->kind = KV_OID;
			break;
		case FLOAT4OID:
			info->ktype = KT_REAL;
			info->kind = KV_FLOAT4;
			break;
		case FLOAT8OID:
			info->ktype = KT_REAL;
			info->kind = KV_FLOAT8;
			break;
		case NUMERICOID:
			info->ktype = KT_DECIMAL;
			info->kind = KV_NUMERIC;
			break;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			info->ktype = KT_STRING;
			info->kind = KV_TEXT;
			break;
		case NAMEOID:
			info->ktype = KT_STRING;
			info->kind = KV_NAME;
			break;
		case CHAROID:
			info->ktype = KT_STRING;
			info->kind = KV_CHAR;
			break;
		case TIMESTAMPTZOID:
			info->ktype = KT_DATETIME;
			info->kind = KV_TIMESTAMPTZ;
			break;
		case TIMESTAMPOID:
			info->ktype = KT_DATETIME;
			info->kind = KV_TIMESTAMP;
			break;
		case DATEOID:
			info->ktype = KT_DATETIME;
			info->kind = KV_DATE;
			break;
		case TIMEOID:
			info->ktype = KT_TIMESPAN;
			info->kind = KV_TIME;
			break;
		case TIMETZOID:
			info->ktype = KT_TIMESPAN;
			info->kind = KV_TIMETZ;
			break;
		case INTERVALOID:
			info->ktype = KT_TIMESPAN;
			info->kind = KV_INTERVAL;
			break;
		case UUIDOID:
			info->ktype = KT_GUID;
			info->kind = KV_UUID;
			break;
		case JSONOID:
			info->ktype = KT_DYNAMIC;
			info->kind = KV_JSON;
			break;
		case JSONBOID:
			info->ktype = KT_DYNAMIC;
			info->kind = KV_JSONB;
			break;
		case BYTEAOID:
			info->ktype = KT_STRING;
			info->kind = KV_BYTEA;
			break;
		default:
			if (OidIsValid(get_element_type(base)) && info->typlen == -1)
			{
				info->ktype = KT_DYNAMIC;
				info->kind = KV_ARRAY;
				info->elem = ks_lookup_type(get_element_type(base));
			}
			else if (typtype == TYPTYPE_COMPOSITE)
			{
				info->ktype = KT_DYNAMIC;
				info->kind = KV_COMPOSITE;
			}
			else if (find_json_cast(base, info))
			{
				info->ktype = KT_DYNAMIC;
				info->kind = KV_CAST_JSON;
			}
			else
			{
				info->ktype = KT_STRING;
				info->kind = KV_OUTPUT;
			}
			break;
	}

	if (info->kind == KV_OUTPUT || info->kind == KV_NUMERIC)
	{
		getTypeOutputInfo(base, &outfunc, &isvarlena);
		fmgr_info_cxt(outfunc, &info->outfunc, CacheMemoryContext);
	}
	info->valid = true;
}

KsTypeInfo *
ks_lookup_type(Oid typid)
{
	KsTypeInfo *info;
	bool		found;

	if (type_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(KsTypeInfo);
		ctl.hcxt = CacheMemoryContext;
		type_cache = hash_create("kusto_sink type cache", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterSyscacheCallback(TYPEOID, type_cache_invalidate, (Datum) 0);
	}

	info = (KsTypeInfo *) hash_search(type_cache, &typid, HASH_ENTER, &found);
	if (!found)
		info->valid = false;
	if (!info->valid)
		fill_type_info(info);
	return info;
}

const char *
ks_kusto_type_name(KustoType ktype)
{
	switch (ktype)
	{
		case KT_BOOL:
			return "bool";
		case KT_INT:
			return "int";
		case KT_LONG:
			return "long";
		case KT_REAL:
			return "real";
		case KT_DECIMAL:
			return "decimal";
		case KT_STRING:
			return "string";
		case KT_DATETIME:
			return "datetime";
		case KT_TIMESPAN:
			return "timespan";
		case KT_GUID:
			return "guid";
		case KT_DYNAMIC:
			return "dynamic";
	}
	return "string";			/* keep compiler quiet */
}
