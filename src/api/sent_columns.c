/*-------------------------------------------------------------------------
 *
 * sent_columns.c
 *	  kusto_sink._sent_columns(publication, rel): the columns of a source
 *	  table that a sink's records carry, with their Kusto types.
 *
 * The answer is the decoder's own (relinfo.h, the shape of the table's
 * records without metadata), so create_table's Kusto columns are the
 * columns the records have: a publication's column list leaves the other
 * columns out.  `publication` is NULL for a sink with a table list.
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

#include "decoder/options.h"
#include "decoder/relinfo.h"

PG_FUNCTION_INFO_V1(kusto_sink_sent_columns);

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
