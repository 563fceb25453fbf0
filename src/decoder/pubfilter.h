/*-------------------------------------------------------------------------
 *
 * pubfilter.h
 *	  A relation's publication row filters and column list, computed and
 *	  applied exactly as pgoutput does (pgoutput.c: get_rel_sync_entry,
 *	  pgoutput_row_filter_init, pgoutput_column_list_init,
 *	  pgoutput_row_filter).
 *
 * ks_pubfilter_build() is given the publications through which the table
 * is published (those of its topmost published ancestor, for a partition
 * published via its root) and the relation whose pg_publication_rel rows
 * hold the filters and lists (`publish_as`: the table itself, or that
 * ancestor).  It returns NULL when no filter and no column list apply (a
 * FOR ALL TABLES or FOR TABLES IN SCHEMA publication, or a table without
 * WHERE and column list, means every row and every column, as in
 * pgoutput).  Filters are ORed per operation (insert, update, delete) over
 * the publications that publish the operation; a publication that
 * publishes it without a filter means every row.  Different column lists
 * in two publications raise pgoutput's error.  `columns` is NULL when no
 * publication has a column list: then the columns sent are pgoutput's
 * (logicalrep_should_publish_column): every live column but generated
 * ones, and stored generated ones too when `gencols_stored` (PostgreSQL
 * 18's publish_generated_columns = stored; different values in two
 * publications without a list raise pgoutput's error).  A row filter sees
 * virtual generated columns (18) expanded, as pgoutput's.  Everything lives in
 * CurrentMemoryContext; no SQL runs.
 *
 * ks_pubfilter_copies() says whether the snapshot sends a row: the filter
 * tablesync uses for a subscription's initial copy (fetch_remote_table_info),
 * the OR of the filters of all the publications, whatever they publish; a
 * publication without one means every row.
 *
 * ks_pubfilter_apply() says what becomes of a change: an insert or delete
 * passes when its row matches; an update is judged on both rows when the
 * old one was logged (old and new match: update; only the new: insert;
 * only the old: delete; neither: skipped), else on the new row.
 *
 * Security: a row filter is an expression a publication's owner wrote, and
 * it runs in the decoding process as pgoutput runs it.  PostgreSQL accepts
 * only columns, constants, built-in operators, built-in types, built-in
 * collations and immutable built-in functions in one
 * (publicationcmds.c: check_simple_rowfilter_expr), so no user-defined
 * SQL function can run.  ks_pubfilter_build() checks that again on the
 * stored expression (a catalog written otherwise) and raises an error
 * rather than run a function that is not built in.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_PUBFILTER_H
#define KS_PUBFILTER_H

#include "access/htup.h"
#include "access/tupconvert.h"
#include "executor/tuptable.h"
#include "nodes/bitmapset.h"
#include "nodes/execnodes.h"
#include "nodes/pg_list.h"
#include "utils/rel.h"

typedef enum KsRowAction
{
	KS_ROW_INSERT,
	KS_ROW_UPDATE,
	KS_ROW_DELETE,
	KS_ROW_SKIP
} KsRowAction;

#define KS_FILTER_ACTIONS 3		/* insert, update, delete */
#define KS_FILTER_COPY 3		/* the snapshot's (tablesync's) */
#define KS_FILTER_SLOTS 4

typedef struct KsPubFilter
{
	Oid			publish_as;		/* the relation the lists belong to */
	ExprState  *exprstate[KS_FILTER_SLOTS]; /* per action, and the
											 * snapshot's; NULL: every row */
	EState	   *estate;
	TupleTableSlot *old_slot;	/* in the relation's own row type */
	TupleTableSlot *new_slot;
	TupleConversionMap *map;	/* to publish_as's row type, or NULL */
	TupleTableSlot *old_as;		/* in publish_as's row type (with map) */
	TupleTableSlot *new_as;
	Bitmapset  *columns;		/* the relation's attnums (not offset);
								 * NULL: no column list */
	bool		gencols_stored; /* publish_generated_columns = stored */
} KsPubFilter;

extern KsPubFilter *ks_pubfilter_build(Relation rel, List *publications, Oid publish_as);
extern KsRowAction ks_pubfilter_apply(KsPubFilter *f, KsRowAction action,
									  HeapTuple oldtup, HeapTuple newtup);
extern bool ks_pubfilter_copies(KsPubFilter *f, HeapTuple tuple);

#endif							/* KS_PUBFILTER_H */
