/*-------------------------------------------------------------------------
 *
 * colbind.h
 *	  The sink option "columns" bound to columns by attribute number, so
 *	  that a rule follows its column through a RENAME and never moves to
 *	  another column that later takes the name.
 *
 * Rules name columns (colrules.h); names change, attnums do not, and a
 * dropped attnum is never used again.  create_sink and alter_sink resolve
 * every name a rule gives against the current catalog once and keep the
 * attnum with it (kusto_sink.sink_column); the decoder matches columns by
 * attnum, so WAL written before a RENAME or a DROP, decoded again after the
 * rule was changed (a restart decodes again from the slot's restart point),
 * is treated as the rule treated the column:
 *
 *	- a column renamed keeps its rule under both names;
 *	- a bound column that the relation has dropped stops the sink with an
 *	  error naming it (the rule's name), also when a new column of the same
 *	  name exists (its attnum is new: the rule does not silently apply);
 *	- a bound column renamed while another column took its name stops the
 *	  sink with an error naming both (ks_table_binding_check()), and an
 *	  alter_sink that would give the name's rule to the other column while
 *	  the renamed one loses it is refused (ks_table_binding_moved_check(),
 *	  with the sink's bindings before and after);
 *	- when alter_sink leaves a dropped column out, its binding stays,
 *	  "dropped", with the treatment it had, for the WAL written before the
 *	  drop (no column is sent in clear that was masked or excluded then);
 *	- an attnum the relation does not have yet (WAL older than the column's
 *	  ADD) is no error.
 *
 * The bindings reach the output plugin as its option "column_attnums":
 *	{"<relid>": {"<attnum>": {"name": n, "source": s, "treatment": t, "dropped": b}}}
 * s is the rule's table (schema.table) when it was bound, t is "send",
 * "exclude", "hash", "null" or {"fixed": s}.  The decoder finds a bound
 * table's rule by s, not by the relation's name: the worker follows a
 * source table by OID through a RENAME, and so does its rule (an include
 * list keeps the other columns out under the new name too).  Without the
 * option (the plugin used directly, a 1.0 catalog) or for a table that has
 * no binding, ks_table_binding_by_name() binds the rule against the
 * relation's own (historic) descriptor by name, as before.
 *
 * ks_bind_rule() is the one resolution of names to attnums: create_sink's
 * and alter_sink's binding (sent_columns.c) and the decoder's fallback use
 * it.  Given the table's bindings so far (`prior`), a name that the
 * relation no longer has but that was bound to a column renamed since
 * stays bound to that column, so a rule naming the old name is still valid.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_COLBIND_H
#define KS_COLBIND_H

#include "decoder/colrules.h"

typedef struct KsColumnBinding
{
	AttrNumber	attnum;
	char	   *name;			/* the rule's name for it, when bound */
	bool		sent;
	KsColumnMask *mask;			/* or NULL */
	bool		dropped;		/* dropped since: kept for the WAL before */
} KsColumnBinding;

typedef struct KsTableBinding
{
	Oid			relid;
	char	   *source;			/* the rule's table name when bound, or NULL */
	List	   *columns;		/* of KsColumnBinding * */
} KsTableBinding;

extern List *ks_parse_column_attnums(const char *json);
extern KsTableBinding *ks_table_binding_for(List *bindings, Oid relid);
extern KsTableBinding *ks_bind_rule(const KsColumnRule *rule, Relation rel,
									const KsTableBinding *prior);
extern void ks_table_binding_check(const KsTableBinding *tb, const char *table, Relation rel);
extern void ks_table_binding_moved_check(const KsTableBinding *old, const KsTableBinding *now,
										 const char *table, Relation rel);
extern const KsColumnBinding *ks_column_binding(const KsTableBinding *tb, AttrNumber attnum);
extern void ks_append_treatment(StringInfo out, const KsColumnBinding *b);

#endif							/* KS_COLBIND_H */
