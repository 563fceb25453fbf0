/*-------------------------------------------------------------------------
 *
 * worker_sql.c
 *	  The sink worker's transactions on the extension's catalog (see
 *	  worker_sql.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "worker/worker_sql.h"

void
ks_sql_begin(KsSqlTxn *txn)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	GetUserIdAndSecContext(&txn->save_userid, &txn->save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, txn->save_sec | SECURITY_LOCAL_USERID_CHANGE);
}

void
ks_sql_end(KsSqlTxn *txn)
{
	SetUserIdAndSecContext(txn->save_userid, txn->save_sec);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/* Runs one statement; its SPI result code (SPI_tuptable holds any rows). */
int
ks_sql_run(const char *sql, int nargs, Oid *types, Datum *values)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);

	if (rc < 0)
		elog(ERROR, "kusto_sink: could not run \"%s\": %s", sql, SPI_result_code_string(rc));
	return rc;
}

/*
 * Runs fn(arg) in a subtransaction that waits at most wait_ms for a lock
 * (lock_timeout); false, with nothing of it left, when a lock was not had in
 * that time.  Other errors are raised.  What fn locked stays locked.
 */
bool
ks_without_waiting(void (*fn) (void *), void *arg, int wait_ms)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char		timeout[16];
	volatile bool done = false;

	snprintf(timeout, sizeof(timeout), "%d", Max(wait_ms, 1));
	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		int			nestlevel = NewGUCNestLevel();

		(void) set_config_option("lock_timeout", timeout, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		fn(arg);
		AtEOXact_GUC(false, nestlevel);
		ReleaseCurrentSubTransaction();
		done = true;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			PG_RE_THROW();
		FlushErrorState();
		FreeErrorData(edata);
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return done;
}

typedef struct TryRun
{
	const char *sql;
	int			nargs;
	Oid		   *types;
	Datum	   *values;
} TryRun;

static void
try_run(void *arg)
{
	TryRun	   *r = (TryRun *) arg;

	(void) ks_sql_run(r->sql, r->nargs, r->types, r->values);
}

/* One statement that must not wait long for a lock (ks_without_waiting). */
bool
ks_sql_try_run(const char *sql, int nargs, Oid *types, Datum *values, int wait_ms)
{
	TryRun		r = {sql, nargs, types, values};

	return ks_without_waiting(try_run, &r, wait_ms);
}

void
ks_sql_pin_search_path(void)
{
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_SESSION);
}
