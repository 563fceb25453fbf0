/*-------------------------------------------------------------------------
 *
 * jsonb_pairs.c
 *	  The members of a jsonb object (see jsonb_pairs.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "worker/jsonb_pairs.h"

bool
ks_jsonb_is_object(Jsonb *jb)
{
	return jb != NULL && JB_ROOT_IS_OBJECT(jb);
}

List *
ks_jsonb_pairs(Jsonb *jb)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	List	   *pairs = NIL;
	KsJsonPair *pair = NULL;

	if (!ks_jsonb_is_object(jb))
		return NIL;
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			pair = palloc0(sizeof(KsJsonPair));
			pair->key = pnstrdup(v.val.string.val, v.val.string.len);
		}
		else if (tok == WJB_VALUE && pair != NULL)
		{
			pair->value = v;
			pairs = lappend(pairs, pair);
			pair = NULL;
		}
	}
	return pairs;
}

Jsonb *
ks_jsonb_pair_jsonb(const KsJsonPair *pair)
{
	return JsonbValueToJsonb((JsonbValue *) &pair->value);
}

char *
ks_jsonb_pair_text(const KsJsonPair *pair)
{
	const JsonbValue *v = &pair->value;

	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		case jbvNull:
			return pstrdup("null");
		default:
			return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
	}
}

/* as jsonb_typeof() names them */
const char *
ks_jsonb_type_name(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return "string";
		case jbvNumeric:
			return "number";
		case jbvBool:
			return "boolean";
		case jbvNull:
			return "null";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "array" : "object";
		default:
			return "value";
	}
}
