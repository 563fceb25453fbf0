/*-------------------------------------------------------------------------
 *
 * source_access.c
 *	  SQL-callable checks of a sink's source tables (table_access.h):
 *
 *	kusto_sink._check_source_table(rel regclass, owner regrole,
 *	                               in_publication boolean DEFAULT false)
 *		raises the error that the sink worker would stop on: the table can
 *		never be a source (unlogged, temporary, system catalog, the
 *		extension's own), or the owner may not read all of it.  For a table
 *		of a publication (in_publication) a table that can never work is
 *		accepted: the worker skips it with a WARNING.
 *
 *	kusto_sink._skipped_tables() RETURNS TABLE (name text, skipped_tables text)
 *		the tables each running sink skips, and why (kusto_sink.status).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "worker/registry.h"
#include "worker/table_access.h"

PG_FUNCTION_INFO_V1(kusto_sink_check_source_table);
PG_FUNCTION_INFO_V1(kusto_sink_skipped_tables);

Datum
kusto_sink_check_source_table(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Oid			owner = PG_GETARG_OID(1);
	bool		in_publication = PG_NARGS() > 2 && !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	KsAccessVerdict v;
	KsTableAccess access = ks_table_access(relid, owner, &v);

	if (access == KS_ACCESS_OK || (access == KS_ACCESS_UNSUPPORTED && in_publication))
		PG_RETURN_VOID();
	ks_table_access_raise(NULL, &v, ERROR);
	PG_RETURN_VOID();
}

Datum
kusto_sink_skipped_tables(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (ks_registry == NULL)
		return (Datum) 0;
	for (i = 0; i < ks_registry->nslots; i++)
	{
		KsSinkSlot *slot = &ks_registry->slots[i];
		char		name[KS_NAME_LEN];
		char		skipped[KS_ERROR_LEN];
		Datum		values[2];
		bool		nulls[2] = {false, false};

		if (!ks_slot_visible_to(slot, GetUserId()))
			continue;
		SpinLockAcquire(&slot->mutex);
		strlcpy(name, slot->name, sizeof(name));
		strlcpy(skipped, slot->skipped_tables, sizeof(skipped));
		SpinLockRelease(&slot->mutex);
		values[0] = CStringGetTextDatum(name);
		nulls[1] = (skipped[0] == '\0');
		values[1] = CStringGetTextDatum(skipped);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
