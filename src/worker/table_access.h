/*-------------------------------------------------------------------------
 *
 * table_access.h
 *	  May a sink send a source table's rows?  The one check that
 *	  create_sink, the snapshot and the decoding path share, and the sink
 *	  worker's map of its decisions.
 *
 * ks_table_access() judges a table for a sink owner with the catalog that
 * is visible now (current in an ordinary transaction, historic inside
 * logical decoding):
 *	- KS_ACCESS_UNSUPPORTED: a source that can never work (unlogged or
 *	  temporary table, system catalog, the extension's own tables, not a
 *	  table);
 *	- KS_ACCESS_DENIED: the owner may not read all of it: no SELECT on the
 *	  table (nor on every column), and for a partition none on an ancestor
 *	  either; or row-level security applies to the owner (the owner is not a
 *	  superuser, has no BYPASSRLS and is not the table's owner without FORCE);
 *	- KS_ACCESS_GONE: the table does not exist (any more);
 *	- KS_ACCESS_OK.
 * The verdict's message, detail, hint and SQLSTATE say why, for an ereport;
 * ks_table_access_raise() raises it.  Neither runs user-defined SQL.
 *
 * The worker's map (relid -> decision) follows the CURRENT privileges, not
 * those of the change's WAL position (which decoding's historic catalog
 * would give: a change made while the owner lacked SELECT would then be
 * refused for ever):
 *	- ks_access_start() registers invalidation callbacks (a table's relcache
 *	  entry: ACL, owner, persistence, RLS; role membership AUTHMEMROLEMEM and
 *	  attributes AUTHOID) and judges, in an ordinary transaction, the sink's
 *	  source tables (tables that can never work are skipped: one WARNING per
 *	  worker start, and the registry slot's skipped_tables says which and
 *	  why) and every other user table (decisions only: decoding may meet
 *	  them later through FOR ALL TABLES).
 *	- ks_access_record(), inside decoding (or for a snapshot chunk), says
 *	  whether to send a record.  A table first met there is judged with the
 *	  catalog visible there, provisionally.  A provisional denial, or a
 *	  denial that an invalidation made stale, holds the table's records back:
 *	  false with *hold set; the caller sends nothing of them, pauses decoding
 *	  (ks_decode_pause) and confirms nothing before ks_access_refresh().  A
 *	  current denial raises the ERROR there.
 *	- ks_access_refresh(), before and right after each decoding step (call
 *	  ks_access_begin_step() just before the step), takes the invalidations
 *	  that came and judges again, with the current catalog, every stale or
 *	  provisional decision of a table met or of a source table.  A denial
 *	  raises an ERROR naming the table and the privilege for a table met, or
 *	  for a source table whose privileges were just taken away (REVOKE); the
 *	  worker then exits in state error, and its restart decodes again from
 *	  the confirmed position with the privileges of then.  It returns true
 *	  when records were held back for a table that turns out readable: the
 *	  caller must decode them again (exit cleanly and be restarted, confirming
 *	  nothing more).
 * A table that no longer exists keeps its last decision.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_TABLE_ACCESS_H
#define KS_WORKER_TABLE_ACCESS_H

#include "worker/config.h"
#include "worker/registry.h"

typedef enum KsTableAccess
{
	KS_ACCESS_OK = 0,
	KS_ACCESS_DENIED,
	KS_ACCESS_UNSUPPORTED,
	KS_ACCESS_GONE
} KsTableAccess;

typedef struct KsAccessVerdict
{
	KsTableAccess access;
	int			sqlstate;
	char		table[2 * NAMEDATALEN + 8];	/* schema.table, quoted as needed */
	char		message[384];	/* without the sink's name */
	char		detail[256];
	char		hint[256];
	char		reason[96];		/* short: why a table is skipped */
} KsAccessVerdict;

extern KsTableAccess ks_table_access(Oid relid, Oid owner, KsAccessVerdict *verdict);
extern void ks_table_access_raise(const char *sink, const KsAccessVerdict *verdict,
								  int elevel);

/* the sink worker's map */
extern void ks_access_start(KsSinkConfig *config, KsSinkSlot *slot);
extern void ks_access_begin_step(void);
extern bool ks_access_record(Oid relid, bool *hold);
extern bool ks_access_refresh(void);

#endif							/* KS_WORKER_TABLE_ACCESS_H */
