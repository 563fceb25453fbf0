/*-------------------------------------------------------------------------
 *
 * worker_sql.h
 *	  The sink worker's SQL: short transactions of their own on the
 *	  extension's catalog (progress, in-flight batches, dead letters, Kusto
 *	  table plans).
 *
 * ks_sql_begin() starts a transaction with SPI and a snapshot and runs as
 * the bootstrap superuser (the catalog is not the sink owner's: its tables
 * and internal functions are revoked from PUBLIC); ks_sql_end() commits and
 * goes back to the owner.  ks_sql_run() runs one statement with arguments
 * and raises an error when it fails.  Never inside logical decoding.
 *
 * ks_sql_pin_search_path() sets search_path to pg_catalog, pg_temp for the
 * session: the launcher and the sink worker call it right after they
 * connect, so that no object another role created in a schema on the
 * database's or the role's search_path resolves in their SQL (which also
 * names its objects and operators with their schemas).
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_SQL_H
#define KS_WORKER_SQL_H

typedef struct KsSqlTxn
{
	Oid			save_userid;
	int			save_sec;
} KsSqlTxn;

extern void ks_sql_begin(KsSqlTxn *txn);
extern void ks_sql_end(KsSqlTxn *txn);
extern int	ks_sql_run(const char *sql, int nargs, Oid *types, Datum *values);
extern bool ks_sql_try_run(const char *sql, int nargs, Oid *types, Datum *values, int wait_ms);
extern bool ks_without_waiting(void (*fn) (void *), void *arg, int wait_ms);
extern void ks_sql_pin_search_path(void);

#endif							/* KS_WORKER_SQL_H */
