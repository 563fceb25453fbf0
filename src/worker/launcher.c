/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher background worker (see launcher.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "worker/launcher.h"
#include "worker/registry.h"
#include "worker/slot_sync_check.h"
#include "worker/worker_sql.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 300000
/* in recovery: how often the launcher looks for the promotion */
#define STANDBY_POLL_MS 1000

char	   *ks_database = NULL;
extern int	ks_launcher_naptime_ms;
extern int	ks_max_sinks;

typedef struct CatalogSink
{
	char		name[KS_NAME_LEN];
	char		owner[NAMEDATALEN];
	Oid			owner_oid;
	bool		enabled;
	TimestampTz stamp;			/* last change of the sink or its connection */
} CatalogSink;

/* launcher-local: the handle of each registry slot's worker */
static BackgroundWorkerHandle **handles = NULL;

static void
launcher_sigusr2(SIGNAL_ARGS)
{
	int			save_errno = errno;

	SetLatch(MyLatch);
	errno = save_errno;
}

void
ks_register_launcher(void)
{
	BackgroundWorker bgw;

	/*
	 * Not while pg_upgrade runs the server (binary-upgrade mode, either
	 * cluster): a sink would send changes of the old server, or run on a new
	 * one whose files are still being put in place. PostgreSQL's own logical
	 * replication launcher does not start there either (17+).
	 */
	if (IsBinaryUpgrade)
		return;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/*
	 * on a hot standby too, to say whether the sinks' slots are kept in step
	 * (standby_wait); its workers start only once it is promoted (failover.h)
	 */
	bgw.bgw_start_time = BgWorkerStart_ConsistentState;
	bgw.bgw_restart_time = 10;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "kusto_sink");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "ks_launcher_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "kusto_sink launcher");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "kusto_sink launcher");
	RegisterBackgroundWorker(&bgw);
}

/* The sinks of the catalog, or NIL when the extension is not installed. */
static List *
read_catalog(MemoryContext cxt)
{
	List	   *sinks = NIL;
	uint64		i;
	MemoryContext spicxt;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	spicxt = CurrentMemoryContext;
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "reading the kusto_sink catalog");

	if (SPI_execute("SELECT pg_catalog.to_regclass('kusto_sink.sink') IS NOT NULL", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for the kusto_sink catalog");
	if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "t") == 0)
	{
		if (SPI_execute("SELECT s.name, s.owner::pg_catalog.text, s.enabled, greatest(s.updated_at, c.updated_at),"
						"       s.owner::pg_catalog.oid"
						"  FROM kusto_sink.sink s JOIN kusto_sink.connection c ON c.name OPERATOR(pg_catalog.=) s.connection"
						" ORDER BY s.name",
						true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read kusto_sink.sink");
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			CatalogSink *s;
			bool		isnull;
			char	   *name = SPI_getvalue(tup, desc, 1);

			if (strlen(name) >= KS_NAME_LEN)
			{
				/* create_sink allows 52 characters: a longer name was put in by hand */
				ereport(WARNING,
						(errcode(ERRCODE_NAME_TOO_LONG),
						 errmsg("kusto_sink sink \"%s\" cannot run: its name is longer than %d bytes",
								name, KS_NAME_LEN - 1)));
				continue;
			}
			s = MemoryContextAllocZero(cxt, sizeof(CatalogSink));
			strlcpy(s->name, name, KS_NAME_LEN);
			strlcpy(s->owner, SPI_getvalue(tup, desc, 2), NAMEDATALEN);
			s->enabled = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
			s->stamp = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));
			s->owner_oid = DatumGetObjectId(SPI_getbinval(tup, desc, 5, &isnull));
			/* the list in cxt too: SPI's context ends at SPI_finish */
			MemoryContextSwitchTo(cxt);
			sinks = lappend(sinks, s);
			MemoryContextSwitchTo(spicxt);
		}
	}

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return sinks;
}

static bool
start_worker(KsSinkSlot *slot, int index)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "kusto_sink");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "ks_sink_worker_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "kusto_sink worker for sink %s", slot->name);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "kusto_sink worker");
	bgw.bgw_main_arg = Int32GetDatum(index);
	slot->generation++;
	memcpy(bgw.bgw_extra, &slot->generation, sizeof(uint64));
	bgw.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&bgw, &handles[index]))
	{
		handles[index] = NULL;
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start the worker of kusto_sink sink \"%s\": no free background worker slot",
						slot->name),
				 errhint("Raise max_worker_processes: every sink needs one worker, plus one for the launcher.")));
		ks_slot_set_error(slot, "no free background worker slot: raise max_worker_processes");
		return false;
	}
	SpinLockAcquire(&slot->mutex);
	slot->state = KS_STATE_STARTING;
	SpinLockRelease(&slot->mutex);
	return true;
}

static long
backoff_ms(KsSinkSlot *slot)
{
	long		ms = BACKOFF_MIN_MS;
	int			i;

	for (i = 1; i < slot->failures && ms < BACKOFF_MAX_MS; i++)
		ms *= 2;
	return Min(ms, BACKOFF_MAX_MS);
}

/*
 * Brings the workers in line with the catalog; returns how long the launcher
 * may sleep before it must look again.
 */
static long
reconcile(MemoryContext cxt)
{
	List	   *sinks = read_catalog(cxt);
	ListCell   *lc;
	TimestampTz now = GetCurrentTimestamp();
	long		sleep_ms = ks_launcher_naptime_ms;
	int			i;

	LWLockAcquire(ks_registry->lock, LW_EXCLUSIVE);
	for (i = 0; i < ks_registry->nslots; i++)
	{
		if (ks_registry->slots[i].dboid == MyDatabaseId)
			ks_registry->slots[i].seen = false;
	}
	foreach(lc, sinks)
	{
		CatalogSink *s = (CatalogSink *) lfirst(lc);
		KsSinkSlot *slot = ks_registry_find(s->name, MyDatabaseId, true);

		if (slot == NULL)
		{
			ereport(WARNING,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("kusto_sink sink \"%s\" cannot run: kusto_sink.max_sinks is reached", s->name),
					 errhint("Raise kusto_sink.max_sinks (needs a server restart).")));
			continue;
		}
		slot->seen = true;
		slot->enabled = s->enabled;
		strlcpy(slot->owner, s->owner, NAMEDATALEN);
		slot->owner_oid = s->owner_oid;
		if (slot->config_stamp != s->stamp)
		{
			/* a running worker settles and exits, and is started again at once */
			if (slot->pid != 0 && slot->config_stamp != 0)
			{
				PGPROC	   *proc = BackendPidGetProc(slot->pid);

				ks_slot_request(slot, KS_REQUEST_RELOAD);
				if (proc != NULL)
					SetLatch(&proc->procLatch);
			}
			/* a worker in restart backoff starts at once with the change */
			if (slot->config_stamp != 0)
				slot->failures = 0;
			slot->config_stamp = s->stamp;
		}
	}

	for (i = 0; i < ks_registry->nslots; i++)
	{
		KsSinkSlot *slot = &ks_registry->slots[i];
		pid_t		pid = 0;
		BgwHandleStatus status = BGWH_STOPPED;

		if (!slot->in_use || slot->dboid != MyDatabaseId)
			continue;

		if (handles[i] != NULL)
		{
			status = GetBackgroundWorkerPid(handles[i], &pid);
			if (status == BGWH_STOPPED)
			{
				bool		clean;

				pfree(handles[i]);
				handles[i] = NULL;
				SpinLockAcquire(&slot->mutex);
				clean = (slot->state == KS_STATE_STOPPED || slot->state == KS_STATE_PAUSED);
				if (!clean)
					slot->state = KS_STATE_ERROR;
				SpinLockRelease(&slot->mutex);
				slot->pid = 0;
				slot->last_exit = now;
				slot->failures = clean ? 0 : slot->failures + 1;
			}
		}

		if (!slot->seen)
		{
			/* dropped: stop its worker, then forget it */
			if (handles[i] != NULL)
				TerminateBackgroundWorker(handles[i]);
			else
				slot->in_use = false;
			continue;
		}
		if (!slot->enabled)
		{
			if (handles[i] != NULL)
				TerminateBackgroundWorker(handles[i]);
			SpinLockAcquire(&slot->mutex);
			slot->state = KS_STATE_PAUSED;
			SpinLockRelease(&slot->mutex);
			continue;
		}
		if (handles[i] == NULL)
		{
			long		wait = 0;

			if (slot->failures > 0)
			{
				TimestampTz due = TimestampTzPlusMilliseconds(slot->last_exit, backoff_ms(slot));

				if (due > now)
					wait = TimestampDifferenceMilliseconds(now, due);
			}
			if (wait > 0)
				sleep_ms = Min(sleep_ms, wait);
			else
				start_worker(slot, i);
		}
	}
	LWLockRelease(ks_registry->lock);
	return Max(sleep_ms, 10);
}

/*
 * On a standby, while it is in recovery: no worker runs, and the launcher
 * says in the log, once per configuration (again when a reload changes it),
 * whether the sinks' slots are kept in step for a promotion, by the check
 * kusto_sink.status shows too (slot_sync_check.h).  Only when there are
 * sinks.  Returns once the server is promoted.
 */
static void
standby_wait(MemoryContext cxt)
{
	KsSlotSyncSettings said = KS_SLOT_SYNC_NOT_STANDBY;

	pgstat_report_activity(STATE_IDLE, NULL);
	while (RecoveryInProgress())
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (read_catalog(cxt) != NIL)
		{
			KsSlotSyncCheck check;
			MemoryContext old = MemoryContextSwitchTo(cxt);

			ks_slot_sync_settings(&check);
			MemoryContextSwitchTo(old);
			if (check.settings != said && check.settings != KS_SLOT_SYNC_NOT_STANDBY)
			{
				if (check.settings == KS_SLOT_SYNC_OK)
				{
					if (said != KS_SLOT_SYNC_NOT_STANDBY)
						ereport(LOG,
								(errmsg("kusto_sink: this standby's settings now let it synchronize the sinks' replication slots")));
				}
				else if (check.elevel == WARNING)
					ereport(WARNING,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("kusto_sink: this standby does not synchronize the sinks' replication slots: a promotion would lose them"),
							 errdetail("%s", check.detail),
							 errhint("%s", check.hint)));
				else
					ereport(LOG,
							(errmsg("kusto_sink: %s", check.status),
							 errdetail("%s", check.detail),
							 errhint("%s", check.hint)));
				said = check.settings;
			}
		}
		MemoryContextReset(cxt);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 STANDBY_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

void
ks_launcher_main(Datum main_arg)
{
	MemoryContext cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	pqsignal(SIGUSR2, launcher_sigusr2);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(ks_database, NULL, 0);
	ks_sql_pin_search_path();
	pgstat_report_appname("kusto_sink launcher");

	LWLockAcquire(ks_registry->lock, LW_EXCLUSIVE);
	ks_registry->launcher_pid = MyProcPid;
	LWLockRelease(ks_registry->lock);

	handles = MemoryContextAllocZero(TopMemoryContext,
									 ks_registry->nslots * sizeof(BackgroundWorkerHandle *));
	cxt = AllocSetContextCreate(TopMemoryContext, "kusto_sink launcher", ALLOCSET_DEFAULT_SIZES);

	standby_wait(cxt);
	for (;;)
	{
		long		sleep_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		sleep_ms = reconcile(cxt);
		MemoryContextReset(cxt);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
