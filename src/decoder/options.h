/*-------------------------------------------------------------------------
 *
 * options.h
 *	  The output plugin's options: parsed once per decoding session.
 *
 * Options (docs/output-plugin.md, "Options"):
 *	format				json (default) | csv
 *	metadata			all (default) | none | comma-separated subset of
 *						op, lsn, commit_lsn, commit_time, xid, schema, table,
 *						unchanged_toast
 *	<key>_column		the column name of metadata <key> (e.g. op_column)
 *	tables				comma-separated [schema.]table or schema.* (default:
 *						every table; an unqualified name means schema public)
 *	relids				comma-separated table OIDs (the sink worker's filter:
 *						an OID survives renames, and a dropped table's
 *						changes before the drop still match it)
 *	publication			comma-separated publication names; a table passes
 *						when it is in "tables", "relids" or one of the
 *						publications
 *	columns				per-table include/exclude lists and masks (JSON,
 *						colrules.h)
 *	mask_salt			the key of the hash masks, in hex
 * ks_parse_options() raises an error that names the bad option and lists
 * the allowed values.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_OPTIONS_H
#define KS_OPTIONS_H

#include "nodes/pg_list.h"

#include "decoder/typemap.h"

typedef enum KsFormat
{
	KS_FORMAT_JSON,
	KS_FORMAT_CSV
} KsFormat;

typedef enum KsMeta
{
	KS_META_OP,
	KS_META_LSN,
	KS_META_COMMIT_LSN,
	KS_META_COMMIT_TIME,
	KS_META_XID,
	KS_META_SCHEMA,
	KS_META_TABLE,
	KS_META_UNCHANGED_TOAST,
	KS_META_COUNT
} KsMeta;

typedef struct KsTableFilter
{
	char	   *schema;
	char	   *table;			/* NULL: every table of the schema */
} KsTableFilter;

typedef struct KsDecoderOptions
{
	KsFormat	format;
	bool		meta_enabled[KS_META_COUNT];
	char	   *meta_name[KS_META_COUNT];
	List	   *tables;			/* of KsTableFilter *; NIL with no filter */
	List	   *relids;			/* table OIDs (option relids) */
	bool		relids_given;	/* relids was given (even empty: no table) */
	List	   *publications;	/* of char * */
	List	   *column_rules;	/* of KsColumnRule * (option columns) */
	List	   *column_bindings;	/* of KsTableBinding * (option
									 * column_attnums, colbind.h) */
	char	   *mask_salt;		/* option mask_salt, decoded; NULL without */
	int			mask_salt_len;
} KsDecoderOptions;

extern void ks_parse_options(KsDecoderOptions *opts, List *options);
extern const char *ks_meta_key(KsMeta meta);
extern KustoType ks_meta_kusto_type(KsMeta meta);
extern bool ks_has_table_filter(const KsDecoderOptions *opts);
extern void ks_check_metadata_option(const char *value);

#endif							/* KS_OPTIONS_H */
