/*-------------------------------------------------------------------------
 *
 * create_slot.c
 *	  kusto_sink._create_slot(slot_name text): create_sink's replication
 *	  slot, made by ks_create_sink_slot (src/worker/failover.h): a failover
 *	  slot on PostgreSQL 17 and later, refused on a standby.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "worker/failover.h"

PG_FUNCTION_INFO_V1(kusto_sink_create_slot);

Datum
kusto_sink_create_slot(PG_FUNCTION_ARGS)
{
	ks_create_sink_slot(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}
