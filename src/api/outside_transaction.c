/*-------------------------------------------------------------------------
 *
 * outside_transaction.c
 *	  Refusing to run inside a transaction block, for the functions that
 *	  create or drop a replication slot.
 *
 *	kusto_sink._outside_transaction(what text): raises an error when the
 *	calling statement runs inside a transaction block (BEGIN ... COMMIT, or
 *	several statements sent as one query string), a subtransaction
 *	(SAVEPOINT, a PL/pgSQL block with EXCEPTION) or a pipeline.  A slot is
 *	not transactional: a ROLLBACK after create_sink would leave a slot that
 *	pins WAL for ever, and one after drop_sink a sink without its slot.
 *	CREATE SUBSCRIPTION and DROP SUBSCRIPTION refuse the same way (they also
 *	refuse to run from a function, which a function cannot tell: a statement
 *	that calls create_sink for several rows and fails at a later one, or a
 *	DO block that fails after the call, still leaves the slot behind).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(kusto_sink_outside_transaction);

Datum
kusto_sink_outside_transaction(PG_FUNCTION_ARGS)
{
	char	   *what = text_to_cstring(PG_GETARG_TEXT_PP(0));

	/* (a subtransaction's block state makes IsTransactionBlock() true too) */
	if (IsSubTransaction())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("%s cannot run inside a subtransaction", what),
				 errdetail("It creates or drops a replication slot, which a rollback would not undo."),
				 errhint("Run it on its own, outside a savepoint or a PL/pgSQL block with an EXCEPTION clause.")));
	if (IsTransactionBlock())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("%s cannot run inside a transaction block", what),
				 errdetail("It creates or drops a replication slot, which a rollback would not undo."),
				 errhint("Run it on its own: outside BEGIN ... COMMIT, and not in one query string with other statements.")));
#ifdef XACT_FLAGS_PIPELINING
	if (MyXactFlags & XACT_FLAGS_PIPELINING)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("%s cannot run within a pipeline", what),
				 errdetail("It creates or drops a replication slot, which a rollback would not undo."),
				 errhint("Run it on its own, outside a pipeline.")));
#endif
	PG_RETURN_VOID();
}
