/*-------------------------------------------------------------------------
 *
 * pubfilter.c
 *	  Publication row filters and column lists (see pubfilter.h).
 *
 * The rules are pgoutput's (src/backend/replication/pgoutput/pgoutput.c),
 * step for step, so that a sink sends the rows and columns a subscription
 * to the same publications would receive.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/pg_publication.h"
#include "catalog/pg_publication_rel.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "compat.h"
#include "decoder/pubfilter.h"

#ifdef KS_HAVE_PUBLICATION_FILTERS

static bool
not_built_in(Oid func, void *context)
{
	return func >= FirstNormalObjectId;
}

static bool
calls_user_function(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, not_built_in, context))
		return true;
	return expression_tree_walker(node, calls_user_function, context);
}

/*
 * The row filters of the publications, per operation, ORed (pgoutput's
 * pgoutput_row_filter_init): a publication that publishes an operation
 * without a filter (FOR ALL TABLES, FOR TABLES IN SCHEMA of the table's
 * schema, or no WHERE) means every row for that operation.  The snapshot's
 * filter (index KS_FILTER_COPY) is tablesync's (fetch_remote_table_info):
 * the OR of every publication's filter whatever it publishes, none when one
 * of them has none.
 */
static void
init_row_filters(KsPubFilter *f, Relation as_rel, List *publications, bool *any)
{
	List	   *rfnodes[KS_FILTER_SLOTS] = {NIL, NIL, NIL, NIL};
	bool		no_filter[KS_FILTER_SLOTS] = {false, false, false, false};
	Oid			schemaid = RelationGetNamespace(as_rel);
	ListCell   *lc;
	int			idx;

	*any = false;
	foreach(lc, publications)
	{
		Publication *pub = (Publication *) lfirst(lc);
		HeapTuple	rftuple = NULL;
		Datum		rfdatum = 0;
		bool		pub_no_filter = true;

		if (!pub->alltables &&
			!SearchSysCacheExists2(PUBLICATIONNAMESPACEMAP,
								   ObjectIdGetDatum(schemaid),
								   ObjectIdGetDatum(pub->oid)))
		{
			rftuple = SearchSysCache2(PUBLICATIONRELMAP,
									  ObjectIdGetDatum(f->publish_as),
									  ObjectIdGetDatum(pub->oid));
			if (HeapTupleIsValid(rftuple))
				rfdatum = SysCacheGetAttr(PUBLICATIONRELMAP, rftuple,
										  Anum_pg_publication_rel_prqual,
										  &pub_no_filter);
		}
		if (pub_no_filter)
		{
			if (rftuple)
				ReleaseSysCache(rftuple);
			no_filter[KS_ROW_INSERT] |= pub->pubactions.pubinsert;
			no_filter[KS_ROW_UPDATE] |= pub->pubactions.pubupdate;
			no_filter[KS_ROW_DELETE] |= pub->pubactions.pubdelete;
			no_filter[KS_FILTER_COPY] = true;
			if (no_filter[KS_ROW_INSERT] && no_filter[KS_ROW_UPDATE] &&
				no_filter[KS_ROW_DELETE])
				return;			/* every row, whatever the others say */
			continue;
		}
		{
			char	   *qual = TextDatumGetCString(rfdatum);

			if (pub->pubactions.pubinsert && !no_filter[KS_ROW_INSERT])
				rfnodes[KS_ROW_INSERT] = lappend(rfnodes[KS_ROW_INSERT], qual);
			if (pub->pubactions.pubupdate && !no_filter[KS_ROW_UPDATE])
				rfnodes[KS_ROW_UPDATE] = lappend(rfnodes[KS_ROW_UPDATE], qual);
			if (pub->pubactions.pubdelete && !no_filter[KS_ROW_DELETE])
				rfnodes[KS_ROW_DELETE] = lappend(rfnodes[KS_ROW_DELETE], qual);
			if (!no_filter[KS_FILTER_COPY])
				rfnodes[KS_FILTER_COPY] = lappend(rfnodes[KS_FILTER_COPY], qual);
		}
		ReleaseSysCache(rftuple);
	}

	for (idx = 0; idx < KS_FILTER_SLOTS; idx++)
	{
		List	   *filters = NIL;
		ListCell   *fc;

		if (no_filter[idx] || rfnodes[idx] == NIL)
			continue;
		if (f->estate == NULL)
			f->estate = CreateExecutorState();
		foreach(fc, rfnodes[idx])
		{
			Node	   *node = KS_EXPAND_GENERATED_COLUMNS(stringToNode((char *) lfirst(fc)), as_rel);

			if (calls_user_function(node, NULL))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("row filter of table \"%s.%s\" calls a function that is not built in",
								get_namespace_name(RelationGetNamespace(as_rel)),
								RelationGetRelationName(as_rel)),
						 errdetail("kusto_sink runs no user-defined function while decoding; PostgreSQL accepts only immutable built-in functions in a publication's WHERE.")));
			filters = lappend(filters, node);
		}
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(f->estate->es_query_cxt);

			f->exprstate[idx] = ExecPrepareExpr((Expr *) make_orclause(filters), f->estate);
			MemoryContextSwitchTo(oldcxt);
		}
		*any = true;
	}
}

/* A publication's column list for the relation (check_and_fetch_column_list). */
static bool
column_list_of(Publication *pub, Oid relid, Bitmapset **cols)
{
	HeapTuple	cftuple;
	bool		found = false;

	if (pub->alltables)
		return false;
	cftuple = SearchSysCache2(PUBLICATIONRELMAP, ObjectIdGetDatum(relid),
							  ObjectIdGetDatum(pub->oid));
	if (HeapTupleIsValid(cftuple))
	{
		bool		isnull = true;
		Datum		cfdatum = SysCacheGetAttr(PUBLICATIONRELMAP, cftuple,
											  Anum_pg_publication_rel_prattrs, &isnull);

		if (!isnull)
		{
			if (cols != NULL)
				*cols = pub_collist_to_bitmapset(NULL, cfdatum, CurrentMemoryContext);
			found = true;
		}
		ReleaseSysCache(cftuple);
	}
	return found;
}

/*
 * The columns a publication without a column list publishes
 * (pub_form_cols_map): every live one, a generated one only when stored
 * and publish_generated_columns = stored.
 */
static Bitmapset *
all_columns(Relation rel, bool gencols_stored)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Bitmapset  *cols = NULL;
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		if (att->attgenerated && !(KS_ATT_GENERATED_STORED(att) && gencols_stored))
			continue;
		cols = bms_add_member(cols, att->attnum);
	}
	return cols;
}

/*
 * publish_generated_columns over the publications without a column list
 * (pgoutput's check_and_init_gencol): the same in each or an error, for a
 * table with a generated column.
 */
static bool
init_gencols(Relation as_rel, List *publications)
{
	TupleDesc	desc = RelationGetDescr(as_rel);
	bool		present = false;
	bool		first = true;
	bool		stored = false;
	ListCell   *lc;
	int			i;

	for (i = 0; i < desc->natts && !present; i++)
		present = TupleDescAttr(desc, i)->attgenerated != '\0';
	if (!present)
		return false;
	foreach(lc, publications)
	{
		Publication *pub = (Publication *) lfirst(lc);

		/* a column list takes precedence over publish_generated_columns */
		if (column_list_of(pub, RelationGetRelid(as_rel), NULL))
			continue;
		if (first)
		{
			stored = KS_PUB_GENCOLS_STORED(pub);
			first = false;
		}
		else if (stored != KS_PUB_GENCOLS_STORED(pub))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot use different values of publish_generated_columns for table \"%s.%s\" in different publications",
							get_namespace_name(RelationGetNamespace(as_rel)),
							RelationGetRelationName(as_rel))));
	}
	return stored;
}

/*
 * The column list (pgoutput's pgoutput_column_list_init): the same in every
 * publication (one without a list stands for the columns it publishes) or
 * an error; NULL when no publication has a list.
 */
static Bitmapset *
init_column_list(Relation as_rel, List *publications, bool gencols_stored)
{
	Bitmapset  *columns = NULL;
	Bitmapset  *relcols = NULL;
	bool		first = true;
	bool		found = false;
	ListCell   *lc;

	foreach(lc, publications)
	{
		Publication *pub = (Publication *) lfirst(lc);
		Bitmapset  *cols = NULL;

		found |= column_list_of(pub, RelationGetRelid(as_rel), &cols);
		if (cols == NULL)
		{
			if (relcols == NULL)
				relcols = all_columns(as_rel, gencols_stored);
			cols = relcols;
		}
		if (first)
		{
			columns = cols;
			first = false;
		}
		else if (!bms_equal(columns, cols))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot use different column lists for table \"%s.%s\" in different publications",
							get_namespace_name(RelationGetNamespace(as_rel)),
							RelationGetRelationName(as_rel))));
	}
	return found ? columns : NULL;
}

/* An ancestor's column numbers as the relation's own (by name). */
static Bitmapset *
columns_as_own(Relation rel, Relation as_rel, Bitmapset *as_columns)
{
	Bitmapset  *own = NULL;
	int			x = -1;

	while ((x = bms_next_member(as_columns, x)) >= 0)
	{
		char	   *name = NameStr(TupleDescAttr(RelationGetDescr(as_rel), x - 1)->attname);
		AttrNumber	attnum = get_attnum(RelationGetRelid(rel), name);

		if (attnum != InvalidAttrNumber)
			own = bms_add_member(own, attnum);
	}
	return own;
}
#endif							/* KS_HAVE_PUBLICATION_FILTERS */

KsPubFilter *
ks_pubfilter_build(Relation rel, List *publications, Oid publish_as)
{
#ifdef KS_HAVE_PUBLICATION_FILTERS
	KsPubFilter *f = palloc0(sizeof(KsPubFilter));
	Relation	as_rel = rel;
	bool		any_filter;
	Bitmapset  *columns;

	f->publish_as = publish_as;
	if (publish_as != RelationGetRelid(rel))
		as_rel = RelationIdGetRelation(publish_as);

	init_row_filters(f, as_rel, publications, &any_filter);
	f->gencols_stored = init_gencols(as_rel, publications);
	columns = init_column_list(as_rel, publications, f->gencols_stored);
	if (columns != NULL)
		f->columns = (as_rel == rel) ? columns : columns_as_own(rel, as_rel, columns);

	if (any_filter)
	{
		TupleDesc	own = CreateTupleDescCopy(RelationGetDescr(rel));

		f->old_slot = MakeSingleTupleTableSlot(own, &TTSOpsHeapTuple);
		f->new_slot = MakeSingleTupleTableSlot(own, &TTSOpsHeapTuple);
		if (as_rel != rel)
		{
			TupleDesc	as_desc = CreateTupleDescCopy(RelationGetDescr(as_rel));

			f->map = convert_tuples_by_name(own, as_desc);
			if (f->map != NULL)
			{
				f->old_as = MakeSingleTupleTableSlot(as_desc, &TTSOpsVirtual);
				f->new_as = MakeSingleTupleTableSlot(as_desc, &TTSOpsVirtual);
			}
		}
	}
	if (as_rel != rel)
		RelationClose(as_rel);
	if (!any_filter && f->columns == NULL && !f->gencols_stored)
	{
		if (f->estate != NULL)
			FreeExecutorState(f->estate);
		pfree(f);
		return NULL;
	}
	return f;
#else
	return NULL;
#endif
}

/* A row filter's verdict: NULL is false (pgoutput_row_filter_exec_expr). */
static bool
row_matches(KsPubFilter *f, ExprState *state, TupleTableSlot *slot)
{
	ExprContext *ecxt = GetPerTupleExprContext(f->estate);
	bool		isnull;
	Datum		ret;

	ecxt->ecxt_scantuple = slot;
	ret = ExecEvalExprSwitchContext(state, ecxt, &isnull);
	return !isnull && DatumGetBool(ret);
}

static TupleTableSlot *
store(KsPubFilter *f, HeapTuple tuple, TupleTableSlot *slot, TupleTableSlot *as)
{
	ExecStoreHeapTuple(tuple, slot, false);
	if (f->map != NULL)
		return execute_attr_map_slot(f->map->attrMap, slot, as);
	return slot;
}

bool
ks_pubfilter_copies(KsPubFilter *f, HeapTuple tuple)
{
	bool		matched;

	if (f == NULL || f->exprstate[KS_FILTER_COPY] == NULL)
		return true;
	ResetPerTupleExprContext(f->estate);
	matched = row_matches(f, f->exprstate[KS_FILTER_COPY], store(f, tuple, f->new_slot, f->new_as));
	ExecClearTuple(f->new_slot);
	if (f->map != NULL)
		ExecClearTuple(f->new_as);
	return matched;
}

/* pgoutput_row_filter, with the same four cases for an update */
KsRowAction
ks_pubfilter_apply(KsPubFilter *f, KsRowAction action, HeapTuple oldtup, HeapTuple newtup)
{
	ExprState  *state;
	TupleTableSlot *old_slot = NULL;
	TupleTableSlot *new_slot = NULL;
	TupleTableSlot *tmp_new_slot = NULL;
	TupleDesc	desc;
	bool		old_matched;
	bool		new_matched;
	KsRowAction result = action;
	int			i;

	Assert(action != KS_ROW_SKIP);
	if (f == NULL || (state = f->exprstate[action]) == NULL)
		return action;
	Assert(oldtup != NULL || newtup != NULL);

	ResetPerTupleExprContext(f->estate);
	if (oldtup != NULL)
		old_slot = store(f, oldtup, f->old_slot, f->old_as);
	if (newtup != NULL)
		new_slot = store(f, newtup, f->new_slot, f->new_as);

	if (old_slot == NULL || new_slot == NULL)
	{
		if (!row_matches(f, state, new_slot ? new_slot : old_slot))
			result = KS_ROW_SKIP;
		goto done;
	}

	/*
	 * An update with both rows: the new row's unchanged TOASTed values are
	 * only in the old row (pgoutput copies them over to judge the new row).
	 */
	Assert(action == KS_ROW_UPDATE);
	slot_getallattrs(new_slot);
	slot_getallattrs(old_slot);
	desc = new_slot->tts_tupleDescriptor;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (new_slot->tts_isnull[i] || old_slot->tts_isnull[i])
			continue;
		if (att->attlen == -1 &&
			VARATT_IS_EXTERNAL_ONDISK(new_slot->tts_values[i]) &&
			!VARATT_IS_EXTERNAL_ONDISK(old_slot->tts_values[i]))
		{
			if (tmp_new_slot == NULL)
			{
				tmp_new_slot = MakeSingleTupleTableSlot(desc, &TTSOpsVirtual);
				ExecClearTuple(tmp_new_slot);
				memcpy(tmp_new_slot->tts_values, new_slot->tts_values,
					   desc->natts * sizeof(Datum));
				memcpy(tmp_new_slot->tts_isnull, new_slot->tts_isnull,
					   desc->natts * sizeof(bool));
			}
			tmp_new_slot->tts_values[i] = old_slot->tts_values[i];
			tmp_new_slot->tts_isnull[i] = old_slot->tts_isnull[i];
		}
	}
	old_matched = row_matches(f, state, old_slot);
	if (tmp_new_slot != NULL)
		ExecStoreVirtualTuple(tmp_new_slot);
	new_matched = row_matches(f, state, tmp_new_slot ? tmp_new_slot : new_slot);

	if (!old_matched && !new_matched)
		result = KS_ROW_SKIP;
	else if (!old_matched)
		result = KS_ROW_INSERT;
	else if (!new_matched)
		result = KS_ROW_DELETE;
	else
		result = KS_ROW_UPDATE;

done:
	if (tmp_new_slot != NULL)
		ExecDropSingleTupleTableSlot(tmp_new_slot);
	ExecClearTuple(f->old_slot);
	ExecClearTuple(f->new_slot);
	if (f->map != NULL)
	{
		ExecClearTuple(f->old_as);
		ExecClearTuple(f->new_as);
	}
	return result;
}
