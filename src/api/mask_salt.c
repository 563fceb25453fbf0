/*-------------------------------------------------------------------------
 *
 * mask_salt.c
 *	  kusto_sink._new_mask_salt(): a sink's secret salt, the key of its hash
 *	  masks (sink option "columns"), 32 bytes from pg_strong_random().
 *
 * The salt is made inside the server and stored in kusto_sink.sink_secret
 * (superusers only, as the connection secrets; not in pg_dump's output), so
 * it is never in a statement, a log line or a view.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#define KS_MASK_SALT_BYTES 32

PG_FUNCTION_INFO_V1(kusto_sink_new_mask_salt);

Datum
kusto_sink_new_mask_salt(PG_FUNCTION_ARGS)
{
	bytea	   *salt = palloc(VARHDRSZ + KS_MASK_SALT_BYTES);

	SET_VARSIZE(salt, VARHDRSZ + KS_MASK_SALT_BYTES);
	if (!pg_strong_random(VARDATA(salt), KS_MASK_SALT_BYTES))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random salt for kusto_sink's hash masks")));
	PG_RETURN_BYTEA_P(salt);
}
