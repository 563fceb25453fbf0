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
 * `columns` (the sink option) NULL without rules.
 *
 * _check_sink_columns() raises an error for a table that does not exist or
 * is not named as schema.table, and for a column of a rule that its table
 * does not have (create_sink and alter_sink run it).
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
#include "decoder/colrules.h"
#include "decoder/options.h"
#include "decoder/relinfo.h"

PG_FUNCTION_INFO_V1(kusto_sink_sent_columns);
PG_FUNCTION_INFO_V1(kusto_sink_check_sink_columns);

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
kusto_sink_check_sink_columns(PG_FUNCTION_ARGS)
{
	Jsonb	   *columns;
	ListCell   *lc;

	if (PG_ARGISNULL(0))
		PG_RETURN_VOID();
	columns = PG_GETARG_JSONB_P(0);
	foreach(lc, ks_parse_column_rules(JsonbToCString(NULL, &columns->root, VARSIZE(columns))))
	{
		KsColumnRule *rule = (KsColumnRule *) lfirst(lc);
		Oid			relid = InvalidOid;
		List	   *names = KS_STRING_TO_QUALIFIED_NAME_LIST(rule->table);
		Relation	rel;

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
		ks_column_rules_check(rule, rel);
		relation_close(rel, AccessShareLock);
	}
	PG_RETURN_VOID();
}
