/*-------------------------------------------------------------------------
 *
 * colrules.h
 *	  Per-table column control: the sink option "columns" (the output
 *	  plugin's option of the same name), and the masks applied inside the
 *	  server before a record is rendered.
 *
 * The option is a JSON object keyed by source table (schema.table, quoted
 * where SQL needs it, as the sink option "tables"):
 *	{"public.people": {"exclude": ["ssn"],
 *	                   "mask": {"email": "hash", "phone": "null",
 *	                            "note": {"fixed": "n/a"}}}}
 * "include" (only these columns) or "exclude" (all but these), not both;
 * "mask" per column:
 *	hash			hex HMAC-SHA-256 of the value's text, keyed with the
 *					sink's secret salt (option mask_salt): equal values give
 *					equal strings, the values stay unknown; NULL stays NULL
 *	null			the column stays, always empty
 *	{"fixed": s}	the string s, for every row (also where the value is NULL)
 * A masked column is a Kusto string.  It must be one the table sends (not
 * excluded, listed when "include" is given).
 *
 * ks_parse_column_rules() checks the form and raises an error naming the
 * mistake (the validator of sink option "columns" calls it too).
 * ks_parse_column_mask() parses one mask (the value of "mask"'s member m).
 * ks_column_rule_attnum() resolves a name of a rule against the relation's
 * descriptor and raises ks_column_missing()'s error for a column the
 * relation does not have (a dropped column stops a sink, naming it, rather
 * than send nothing or everything); rules are matched to columns by attnum
 * (colbind.h).  ks_append_mask_hash() writes the hash.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_COLRULES_H
#define KS_COLRULES_H

#include "compat.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/rel.h"

typedef enum KsMaskKind
{
	KS_MASK_HASH,
	KS_MASK_NULL,
	KS_MASK_FIXED
} KsMaskKind;

typedef struct KsColumnMask
{
	char	   *column;
	KsMaskKind	kind;
	char	   *fixed;			/* KS_MASK_FIXED */
} KsColumnMask;

typedef struct KsColumnRule
{
	char	   *table;			/* schema.table, as the option's key */
	bool		include;		/* names: the columns sent, else those not */
	List	   *names;			/* of char * */
	List	   *masks;			/* of KsColumnMask * */
} KsColumnRule;

extern List *ks_parse_column_rules(const char *json);
extern KsColumnRule *ks_column_rule_for(List *rules, const char *schema, const char *table);
extern KsColumnRule *ks_column_rule_named(List *rules, const char *qualified);
extern bool ks_column_rule_sends(const KsColumnRule *rule, const char *column);
extern KsColumnMask *ks_column_rule_mask(const KsColumnRule *rule, const char *column);
struct KsJsonPair;
extern KsColumnMask *ks_parse_column_mask(const char *table, const struct KsJsonPair *m);
extern AttrNumber ks_column_rule_attnum(const KsColumnRule *rule, Relation rel, const char *column);
extern pg_noreturn void ks_column_missing(const char *table, const char *column);
extern void ks_append_mask_hash(StringInfo out, const char *salt, int salt_len,
								const char *value);

#endif							/* KS_COLRULES_H */
