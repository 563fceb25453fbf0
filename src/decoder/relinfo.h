/*-------------------------------------------------------------------------
 *
 * relinfo.h
 *	  Per-relation information the output plugin needs for every row,
 *	  computed once per relation and kept until a relcache, publication or
 *	  type invalidation says it changed.
 *
 * ks_relinfo_get() returns the entry for a relation seen in a change:
 * whether (and for which operations) the table passes the options' table
 * filter, its columns with their type renderers and pre-escaped JSON keys,
 * its replica identity key columns, and its schema and table names already
 * rendered as JSON strings and CSV fields, and the shape of its records
 * (their fields' names and Kusto types, metadata included).  The columns
 * are those the publications' column list and the option "columns"
 * (colrules.h) let through, with their masks (a masked column is a Kusto
 * string); through publications, generated columns as pgoutput sends them
 * (pubfilter.h), and never a virtual generated column (no value in WAL).
 * A partitioned table published through a publication without
 * publish_via_partition_root publishes nothing itself (its partitions do),
 * as in pgoutput.  ks_relinfo_build() makes an entry outside the cache (for reading
 * a table outside decoding).  It raises an error when a column's name is
 * the name of an enabled metadata column, and when the option "columns"
 * names a column the table does not have.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_RELINFO_H
#define KS_RELINFO_H

#include "nodes/bitmapset.h"
#include "utils/rel.h"

#include "decoder/hooks.h"
#include "decoder/options.h"
#include "decoder/typemap.h"

typedef struct KsColumn
{
	int			attidx;			/* index in the relation's tuple descriptor */
	const char *name;
	KsTypeInfo *type;
	const char *json_key;		/* "name": */
	int			json_key_len;
	bool		is_identity;	/* part of the replica identity key */
	struct KsColumnMask *mask;	/* its mask (colrules.h), or NULL */
	FmgrInfo   *mask_out;		/* a hash mask: the type's output function */
} KsColumn;

typedef struct KsRelInfo
{
	Oid			relid;			/* hash key */
	bool		valid;
	MemoryContext cxt;			/* everything below lives here */

	bool		publish_insert;
	bool		publish_update;
	bool		publish_delete;
	bool		publish_truncate;
	struct KsPubFilter *pubfilter;	/* the publications' row filters and
									 * column list (pubfilter.h), or NULL:
									 * every row and column */
	bool		via_publications;	/* published through publications (not
									 * named in tables or relids): their
									 * columns, pgoutput's */
	Oid			publish_as;		/* the relation it is published as: itself
								 * or, via the root, an ancestor */

	char		replident;		/* pg_class.relreplident */
	int			ncolumns;
	KsColumn   *columns;
	Bitmapset  *key_attrs;		/* identity key (primary key under FULL);
								 * offset by FirstLowInvalidHeapAttributeNumber */

	const char *schema_json;	/* as a JSON string, quotes included */
	int			schema_json_len;
	const char *table_json;
	int			table_json_len;
	const char *schema_csv;		/* as a CSV field */
	int			schema_csv_len;
	const char *table_csv;
	int			table_csv_len;

	KsShape		shape;			/* the records' fields (hooks.h) */
} KsRelInfo;

extern void ks_relinfo_startup(MemoryContext cxt);
extern void ks_relinfo_shutdown(void);
extern KsRelInfo *ks_relinfo_get(Relation rel, const KsDecoderOptions *opts);
extern KsRelInfo *ks_relinfo_build(Relation rel, const KsDecoderOptions *opts);
extern uint64 ks_shape_hash(const KsShape *shape);

#endif							/* KS_RELINFO_H */
