/*-------------------------------------------------------------------------
 *
 * colbind.c
 *	  The sink option "columns" bound to attnums (see colbind.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "decoder/colbind.h"
#include "decoder/escape.h"
#include "worker/jsonb_pairs.h"

static void
bad(const char *value)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for kusto_sink option \"column_attnums\""),
			 errdetail("The value must map table OIDs to attnums to {\"name\": ..., \"source\": ..., \"treatment\": ..., \"dropped\": ...}, not %s.",
					   value)));
}

static KsColumnBinding *
parse_binding(const char *json, const KsJsonPair *a, char **source)
{
	KsColumnBinding *b = palloc0(sizeof(KsColumnBinding));
	char	   *end;
	long		attnum = strtol(a->key, &end, 10);
	ListCell   *lc;

	if (*end != '\0' || attnum <= 0 || attnum > MaxAttrNumber ||
		a->value.type != jbvBinary || JsonContainerIsArray(a->value.val.binary.data))
		bad(json);
	b->attnum = (AttrNumber) attnum;
	b->sent = true;
	foreach(lc, ks_jsonb_pairs(ks_jsonb_pair_jsonb(a)))
	{
		KsJsonPair *p = (KsJsonPair *) lfirst(lc);

		if (strcmp(p->key, "name") == 0 && p->value.type == jbvString)
			b->name = ks_jsonb_pair_text(p);
		else if (strcmp(p->key, "source") == 0 && p->value.type == jbvString)
		{
			char	   *s = ks_jsonb_pair_text(p);

			/* one table, one rule: every column names the same one */
			if (*source != NULL && strcmp(*source, s) != 0)
				bad(json);
			*source = s;
		}
		else if (strcmp(p->key, "dropped") == 0 && p->value.type == jbvBool)
			b->dropped = p->value.val.boolean;
		else if (strcmp(p->key, "treatment") == 0)
		{
			char	   *t = p->value.type == jbvString ? ks_jsonb_pair_text(p) : NULL;

			if (t != NULL && strcmp(t, "send") == 0)
				b->sent = true;
			else if (t != NULL && strcmp(t, "exclude") == 0)
				b->sent = false;
			else
			{
				KsJsonPair	m = *p;

				m.key = b->name != NULL ? b->name : a->key;
				b->mask = ks_parse_column_mask(NULL, &m);
			}
		}
		else
			bad(json);
	}
	if (b->name == NULL)
		bad(json);
	if (b->mask != NULL)
		b->mask->column = b->name;
	return b;
}

List *
ks_parse_column_attnums(const char *json)
{
	Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
	List	   *bindings = NIL;
	ListCell   *lc;

	if (!ks_jsonb_is_object(jb))
		bad(json);
	foreach(lc, ks_jsonb_pairs(jb))
	{
		KsJsonPair *t = (KsJsonPair *) lfirst(lc);
		KsTableBinding *tb = palloc0(sizeof(KsTableBinding));
		char	   *end;
		unsigned long relid = strtoul(t->key, &end, 10);
		ListCell   *ac;

		if (*end != '\0' || relid == 0 || relid > PG_UINT32_MAX ||
			t->value.type != jbvBinary || JsonContainerIsArray(t->value.val.binary.data))
			bad(json);
		tb->relid = (Oid) relid;
		foreach(ac, ks_jsonb_pairs(ks_jsonb_pair_jsonb(t)))
			tb->columns = lappend(tb->columns, parse_binding(json, (KsJsonPair *) lfirst(ac), &tb->source));
		bindings = lappend(bindings, tb);
	}
	return bindings;
}

KsTableBinding *
ks_table_binding_for(List *bindings, Oid relid)
{
	ListCell   *lc;

	foreach(lc, bindings)
	{
		KsTableBinding *tb = (KsTableBinding *) lfirst(lc);

		if (tb->relid == relid)
			return tb;
	}
	return NULL;
}

static AttrNumber attnum_of(TupleDesc desc, const char *name);

static void
bind_name(KsTableBinding *tb, const KsColumnRule *rule, Relation rel,
		  const KsTableBinding *prior, const char *name)
{
	TupleDesc	desc = RelationGetDescr(rel);
	AttrNumber	attnum = attnum_of(desc, name);
	KsColumnBinding *b;
	ListCell   *lc;

	/* a name the rule had bound to a column renamed since: that column */
	if (attnum == InvalidAttrNumber && prior != NULL)
	{
		foreach(lc, prior->columns)
		{
			b = (KsColumnBinding *) lfirst(lc);
			if (!b->dropped && strcmp(b->name, name) == 0 && b->attnum <= desc->natts &&
				!TupleDescAttr(desc, b->attnum - 1)->attisdropped)
				attnum = b->attnum;
		}
	}
	if (attnum == InvalidAttrNumber)
		attnum = ks_column_rule_attnum(rule, rel, name);

	if (ks_column_binding(tb, attnum) != NULL)
		return;
	b = palloc0(sizeof(KsColumnBinding));
	b->attnum = attnum;
	b->name = pstrdup(name);
	b->sent = ks_column_rule_sends(rule, name);
	b->mask = ks_column_rule_mask(rule, name);
	tb->columns = lappend(tb->columns, b);
}

KsTableBinding *
ks_bind_rule(const KsColumnRule *rule, Relation rel, const KsTableBinding *prior)
{
	KsTableBinding *tb = palloc0(sizeof(KsTableBinding));
	ListCell   *lc;

	tb->relid = RelationGetRelid(rel);
	tb->source = pstrdup(rule->table);
	foreach(lc, rule->names)
		bind_name(tb, rule, rel, prior, (char *) lfirst(lc));
	foreach(lc, rule->masks)
		bind_name(tb, rule, rel, prior, ((KsColumnMask *) lfirst(lc))->column);
	return tb;
}

static void
renamed(const char *table, const char *name, const char *now)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("column \"%s\" of table %s named in option \"columns\" was renamed to \"%s\"",
					name, table, now),
			 errdetail("The rule for \"%s\" is bound to the column now named \"%s\"; the column now named \"%s\" is another one.",
					   name, now, name),
			 errhint("Name \"%s\" in the rule to keep its rule, and give the new column \"%s\" a rule of its own with kusto_sink.alter_sink().",
					 now, name)));
}

/* the live attnum of a name in the descriptor, or InvalidAttrNumber */
static AttrNumber
attnum_of(TupleDesc desc, const char *name)
{
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	return InvalidAttrNumber;
}

void
ks_table_binding_check(const KsTableBinding *tb, const char *table, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	ListCell   *lc;

	foreach(lc, tb->columns)
	{
		KsColumnBinding *b = (KsColumnBinding *) lfirst(lc);
		Form_pg_attribute att;
		AttrNumber	other;

		/* an attnum past the descriptor's end: WAL from before its ADD */
		if (b->dropped || b->attnum > desc->natts)
			continue;
		att = TupleDescAttr(desc, b->attnum - 1);
		if (att->attisdropped)
			ks_column_missing(table, b->name);
		/* renamed, and another column has the name: the rule does not say which */
		if (strcmp(NameStr(att->attname), b->name) != 0 &&
			(other = attnum_of(desc, b->name)) != InvalidAttrNumber &&
			ks_column_binding(tb, other) == NULL)
			renamed(table, b->name, NameStr(att->attname));
	}
}

void
ks_table_binding_moved_check(const KsTableBinding *old, const KsTableBinding *now,
							 const char *table, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	ListCell   *lc;

	foreach(lc, old->columns)
	{
		KsColumnBinding *b = (KsColumnBinding *) lfirst(lc);
		ListCell   *nc;

		if (b->dropped || b->attnum > desc->natts ||
			TupleDescAttr(desc, b->attnum - 1)->attisdropped ||
			ks_column_binding(now, b->attnum) != NULL)
			continue;
		foreach(nc, now->columns)
		{
			KsColumnBinding *n = (KsColumnBinding *) lfirst(nc);

			if (strcmp(n->name, b->name) == 0)
				renamed(table, b->name, NameStr(TupleDescAttr(desc, b->attnum - 1)->attname));
		}
	}
}

const KsColumnBinding *
ks_column_binding(const KsTableBinding *tb, AttrNumber attnum)
{
	ListCell   *lc;

	if (tb == NULL)
		return NULL;
	foreach(lc, tb->columns)
	{
		KsColumnBinding *b = (KsColumnBinding *) lfirst(lc);

		if (b->attnum == attnum)
			return b;
	}
	return NULL;
}

void
ks_append_treatment(StringInfo out, const KsColumnBinding *b)
{
	if (b->mask == NULL)
		appendStringInfoString(out, b->sent ? "\"send\"" : "\"exclude\"");
	else if (b->mask->kind == KS_MASK_HASH)
		appendStringInfoString(out, "\"hash\"");
	else if (b->mask->kind == KS_MASK_NULL)
		appendStringInfoString(out, "\"null\"");
	else
	{
		appendStringInfoString(out, "{\"fixed\": ");
		ks_append_json_string(out, b->mask->fixed, strlen(b->mask->fixed));
		appendStringInfoChar(out, '}');
	}
}
