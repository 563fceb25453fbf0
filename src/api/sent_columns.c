/*-------------------------------------------------------------------------
 *
 * sent_columns.c
 *	  kusto_sink._sent_columns(publication, rel, columns): the columns of a
 *	  source table that a sink's records carry, with their Kusto types;
 *	  kusto_sink._check_sink_columns(columns): the sink option "columns"
 *	  against the tables it names.
 *
 * The answer is the decoder's own (relinfo.h, the shape of the table's
 * records without metadata), so create_table's Kusto columns are the
 * columns the records have: a publication's column list and the sink's
 * include or exclude lists leave the other columns out, and a masked
 * column is a string.  `publication` is NULL for a sink with a table list,
 * `columns` (the sink option) NULL without rules, `column_attnums` the
 * sink's bindings (kusto_sink._column_attnums(), colbind.h) or NULL.
 *
 * _bind_sink_columns(columns, bound) raises an error for a table that does
 * not exist or is not named as schema.table, for a column of a rule that
 * its table does not have, and for a name that `bound` (the sink's
 * bindings so far, NULL for a new sink) has on a column renamed since while
 * the rule now gives it to another column; it returns each column a rule names, with the table's OID,
 * the column's attnum and the rule's treatment of it (colbind.h): what
 * create_sink and alter_sink keep in kusto_sink.sink_column.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "catalog/namespace.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"

#include "compat.h"
#include "decoder/colbind.h"
#include "decoder/colrules.h"
#include "decoder/options.h"
#include "decoder/relinfo.h"

PG_FUNCTION_INFO_V1(kusto_sink_sent_columns);
PG_FUNCTION_INFO_V1(kusto_sink_bind_sink_columns);

Datum
kusto_sink_sent_columns(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid = PG_GETARG_OID(1);
	List	   *options = list_make1(makeDefElem("metadata", (Node *) makeString("none"), -1));
	KsDecoderOptions opts;
	Relation	rel;
	KsRelInfo  *info;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (!PG_ARGISNULL(2))
		options = lappend(options,
						  makeDefElem("columns", (Node *) makeString(JsonbToCString(NULL, &PG_GETARG_JSONB_P(2)->root, VARSIZE(PG_GETARG_JSONB_P(2)))), -1));
	if (!PG_ARGISNULL(3))
		options = lappend(options,
						  makeDefElem("column_attnums", (Node *) makeString(JsonbToCString(NULL, &PG_GETARG_JSONB_P(3)->root, VARSIZE(PG_GETARG_JSONB_P(3)))), -1));
	/* any salt: only the columns' types are asked for */
	options = lappend(options, makeDefElem("mask_salt", (Node *) makeString("00"), -1));
	if (!PG_ARGISNULL(0))
		options = lappend(options,
						  makeDefElem("publication",
									  (Node *) makeString((char *) quote_identifier(text_to_cstring(PG_GETARG_TEXT_PP(0)))), -1));
	ks_parse_options(&opts, options);
	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL)
		return (Datum) 0;
	info = ks_relinfo_build(rel, &opts);
	for (i = 0; i < info->ncolumns; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(info->columns[i].name);
		values[1] = CStringGetTextDatum(info->shape.types[i]);
		values[2] = Int32GetDatum(info->columns[i].attidx + 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	relation_close(rel, AccessShareLock);
	return (Datum) 0;
}

Datum
kusto_sink_bind_sink_columns(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *columns;
	ListCell   *lc;

	List	   *bound = NIL;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	columns = PG_GETARG_JSONB_P(0);
	if (!PG_ARGISNULL(1))
		bound = ks_parse_column_attnums(JsonbToCString(NULL, &PG_GETARG_JSONB_P(1)->root,
													   VARSIZE(PG_GETARG_JSONB_P(1))));
	foreach(lc, ks_parse_column_rules(JsonbToCString(NULL, &columns->root, VARSIZE(columns))))
	{
		KsColumnRule *rule = (KsColumnRule *) lfirst(lc);
		Oid			relid = InvalidOid;
		List	   *names = KS_STRING_TO_QUALIFIED_NAME_LIST(rule->table);
		Relation	rel;
		KsTableBinding *prior;
		KsTableBinding *binding;
		ListCell   *bc;

		if (list_length(names) == 2)
			relid = RangeVarGetRelid(makeRangeVarFromNameList(names), AccessShareLock, true);
		if (!OidIsValid(relid) ||
			strcmp(quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
											  get_rel_name(relid)), rule->table) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("table %s named in sink option \"columns\" does not exist", rule->table),
					 errhint("Name source tables as schema.table, as kusto_sink.sinks lists them.")));
		rel = relation_open(relid, AccessShareLock);
		prior = ks_table_binding_for(bound, relid);
		binding = ks_bind_rule(rule, rel, prior);
		if (prior != NULL)
			ks_table_binding_moved_check(prior, binding, rule->table, rel);
		foreach(bc, binding->columns)
		{
			KsColumnBinding *b = (KsColumnBinding *) lfirst(bc);
			StringInfoData treatment;
			Datum		values[5];
			bool		nulls[5] = {false, false, false, false, false};

			initStringInfo(&treatment);
			ks_append_treatment(&treatment, b);
			values[0] = CStringGetTextDatum(rule->table);
			values[1] = ObjectIdGetDatum(relid);
			values[2] = Int16GetDatum(b->attnum);
			values[3] = CStringGetTextDatum(b->name);
			values[4] = DirectFunctionCall1(jsonb_in, CStringGetDatum(treatment.data));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		relation_close(rel, AccessShareLock);
	}
	return (Datum) 0;
}
