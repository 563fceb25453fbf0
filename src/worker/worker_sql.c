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

void
ks_sql_pin_search_path(void)
{
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_SESSION);
}
