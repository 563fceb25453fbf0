/*-------------------------------------------------------------------------
 *
 * colrules.c
 *	  The sink option "columns" and its masks (see colrules.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "decoder/colrules.h"
#include "worker/jsonb_pairs.h"

#define COLUMNS_EXAMPLE "For example: '{\"columns\": {\"public.people\": {\"exclude\": [\"ssn\"], \"mask\": {\"email\": \"hash\"}}}}'."

static void
bad(const char *table, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 table ? errmsg("invalid column rule for table \"%s\" in option \"columns\": %s", table, why)
			 : errmsg("invalid option \"columns\": %s", why),
			 errhint(COLUMNS_EXAMPLE)));
}

static List *
name_list(const char *table, const KsJsonPair *p)
{
	List	   *names = NIL;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	Jsonb	   *arr;

	if (p->value.type != jbvBinary || !JsonContainerIsArray(p->value.val.binary.data))
		bad(table, psprintf("\"%s\" must be an array of column names", p->key));
	arr = ks_jsonb_pair_jsonb(p);
	it = JsonbIteratorInit(&arr->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (v.type != jbvString || v.val.string.len == 0)
			bad(table, psprintf("\"%s\" must be an array of column names", p->key));
		names = lappend(names, pnstrdup(v.val.string.val, v.val.string.len));
	}

	/*
	 * An include list names what the rule is bound by (colbind.h): without
	 * a name, nothing would follow the table through a RENAME.
	 */
	if (names == NIL && strcmp(p->key, "include") == 0)
		bad(table, "\"include\" must name at least one column");
	return names;
}

KsColumnMask *
ks_parse_column_mask(const char *table, const KsJsonPair *m)
{
	KsColumnMask *mask = palloc0(sizeof(KsColumnMask));

	mask->column = pstrdup(m->key);
	if (m->value.type == jbvString)
	{
		char	   *kind = ks_jsonb_pair_text(m);

		if (strcmp(kind, "hash") == 0)
			mask->kind = KS_MASK_HASH;
		else if (strcmp(kind, "null") == 0)
			mask->kind = KS_MASK_NULL;
		else
			bad(table, psprintf("mask \"%s\" of column \"%s\" is not \"hash\", \"null\" or {\"fixed\": \"...\"}",
								kind, m->key));
		return mask;
	}
	if (m->value.type == jbvBinary && !JsonContainerIsArray(m->value.val.binary.data))
	{
		List	   *pairs = ks_jsonb_pairs(ks_jsonb_pair_jsonb(m));
		KsJsonPair *f = pairs != NIL ? (KsJsonPair *) linitial(pairs) : NULL;

		if (list_length(pairs) == 1 && strcmp(f->key, "fixed") == 0 && f->value.type == jbvString)
		{
			mask->kind = KS_MASK_FIXED;
			mask->fixed = ks_jsonb_pair_text(f);
			return mask;
		}
	}
	bad(table, psprintf("the mask of column \"%s\" must be \"hash\", \"null\" or {\"fixed\": \"...\"}", m->key));
	return NULL;				/* not reached */
}

List *
ks_parse_column_rules(const char *json)
{
	Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
	List	   *rules = NIL;
	ListCell   *lc;

	if (!ks_jsonb_is_object(jb))
		bad(NULL, "it must map source tables to their column rules");
	foreach(lc, ks_jsonb_pairs(jb))
	{
		KsJsonPair *t = (KsJsonPair *) lfirst(lc);
		KsColumnRule *rule = palloc0(sizeof(KsColumnRule));
		bool		have_list = false;
		ListCell   *pc;

		rule->table = pstrdup(t->key);
		if (t->value.type != jbvBinary || JsonContainerIsArray(t->value.val.binary.data))
			bad(t->key, "it must be an object with \"include\" or \"exclude\" and \"mask\"");
		foreach(pc, ks_jsonb_pairs(ks_jsonb_pair_jsonb(t)))
		{
			KsJsonPair *p = (KsJsonPair *) lfirst(pc);

			if (strcmp(p->key, "include") == 0 || strcmp(p->key, "exclude") == 0)
			{
				if (have_list)
					bad(t->key, "give \"include\" or \"exclude\", not both");
				have_list = true;
				rule->include = (strcmp(p->key, "include") == 0);
				rule->names = name_list(t->key, p);
			}
			else if (strcmp(p->key, "mask") == 0)
			{
				ListCell   *mc;

				if (p->value.type != jbvBinary || JsonContainerIsArray(p->value.val.binary.data))
					bad(t->key, "\"mask\" must map columns to masks");
				foreach(mc, ks_jsonb_pairs(ks_jsonb_pair_jsonb(p)))
					rule->masks = lappend(rule->masks, ks_parse_column_mask(t->key, (KsJsonPair *) lfirst(mc)));
			}
			else
				bad(t->key, psprintf("unrecognized key \"%s\" (valid keys are include, exclude and mask)", p->key));
		}
		/* a masked column must be one the table sends */
		foreach(pc, rule->masks)
		{
			KsColumnMask *m = (KsColumnMask *) lfirst(pc);

			if (!ks_column_rule_sends(rule, m->column))
				bad(t->key, psprintf("column \"%s\" is masked but not sent", m->column));
		}
		rules = lappend(rules, rule);
	}
	return rules;
}

KsColumnRule *
ks_column_rule_for(List *rules, const char *schema, const char *table)
{
	return ks_column_rule_named(rules, quote_qualified_identifier(schema, table));
}

/* The rule of a table named as the option names it ("schema.table"), or NULL. */
KsColumnRule *
ks_column_rule_named(List *rules, const char *qualified)
{
	ListCell   *lc;

	foreach(lc, rules)
	{
		KsColumnRule *rule = (KsColumnRule *) lfirst(lc);

		if (strcmp(rule->table, qualified) == 0)
			return rule;
	}
	return NULL;
}

static bool
names_have(List *names, const char *column)
{
	ListCell   *lc;

	foreach(lc, names)
	{
		if (strcmp((char *) lfirst(lc), column) == 0)
			return true;
	}
	return false;
}

bool
ks_column_rule_sends(const KsColumnRule *rule, const char *column)
{
	if (rule == NULL || (rule->names == NIL && !rule->include))
		return true;
	return names_have(rule->names, column) == rule->include;
}

KsColumnMask *
ks_column_rule_mask(const KsColumnRule *rule, const char *column)
{
	ListCell   *lc;

	if (rule == NULL)
		return NULL;
	foreach(lc, rule->masks)
	{
		KsColumnMask *m = (KsColumnMask *) lfirst(lc);

		if (strcmp(m->column, column) == 0)
			return m;
	}
	return NULL;
}

void
ks_column_missing(const char *table, const char *column)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("column \"%s\" of table %s named in option \"columns\" does not exist",
					column, table),
			 errhint("Change the table's rule in sink option \"columns\" with kusto_sink.alter_sink().")));
}

AttrNumber
ks_column_rule_attnum(const KsColumnRule *rule, Relation rel, const char *column)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), column);

	if (attnum == InvalidAttrNumber || attnum < 0)
		ks_column_missing(rule->table, column);
	return attnum;
}

void
ks_append_mask_hash(StringInfo out, const char *salt, int salt_len, const char *value)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	static const char hex[] = "0123456789abcdef";
	unsigned int i;

	if (HMAC(EVP_sha256(), salt, salt_len, (const unsigned char *) value, strlen(value),
			 md, &md_len) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("kusto_sink could not compute a hash mask")));
	for (i = 0; i < md_len; i++)
	{
		appendStringInfoChar(out, hex[md[i] >> 4]);
		appendStringInfoChar(out, hex[md[i] & 0xf]);
	}
}
