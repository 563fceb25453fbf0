/*-------------------------------------------------------------------------
 *
 * typeinfo.c
 *	  SQL access to the output plugin's type mapping.
 *
 *	kusto_sink.kusto_type(regtype) -> text: the Kusto type that values of a
 *	PostgreSQL type are written as (docs/output-plugin.md, "Type mapping").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "decoder/typemap.h"

PG_FUNCTION_INFO_V1(kusto_sink_kusto_type);

Datum
kusto_sink_kusto_type(PG_FUNCTION_ARGS)
{
	Oid			typid = PG_GETARG_OID(0);

	if (!OidIsValid(get_typtype(typid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("type with OID %u does not exist", typid)));
	PG_RETURN_TEXT_P(cstring_to_text(ks_kusto_type_name(ks_lookup_type(typid)->ktype)));
}
