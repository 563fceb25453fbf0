/*-------------------------------------------------------------------------
 *
 * slot_sync_status.c
 *	  kusto_sink._slot_sync_problem(slot_name text) RETURNS text: on a
 *	  standby, why a sink's slot is not kept in step for a promotion
 *	  (kusto_sink.status.slot_sync_problem), NULL when it is and on a
 *	  primary.  The check is ks_slot_sync_problem (src/worker/slot_sync_check.h),
 *	  the one the launcher logs on a standby.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "worker/slot_sync_check.h"

PG_FUNCTION_INFO_V1(kusto_sink_slot_sync_problem);

Datum
kusto_sink_slot_sync_problem(PG_FUNCTION_ARGS)
{
	char	   *problem = ks_slot_sync_problem(text_to_cstring(PG_GETARG_TEXT_PP(0)));

	if (problem == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(problem));
}
