/*-------------------------------------------------------------------------
 *
 * kusto_sink.c
 *	  Module entry point of the kusto_sink extension.
 *
 * The shared library is the extension (SQL-callable functions), the
 * logical decoding output plugin "kusto_sink" (src/decoder/plugin.c), and,
 * when loaded through shared_preload_libraries, the launcher and the sink
 * workers (src/worker/).  _PG_init defines the GUCs, reserves the shared
 * memory registry and registers the launcher.  Whenever the library is
 * loaded (preloaded or not) it also installs the drop guard
 * (src/api/drop_guard.c), the log redaction hook (src/api/log_redact.c) and
 * the ingest core's failure handler (an ERROR where the core cannot go on).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"

#include "api/drop_guard.h"
#include "api/log_redact.h"
#include "compat.h"
#include "kusto/kusto.h"
#include "worker/crashpoint.h"
#include "worker/launcher.h"
#include "worker/registry.h"
#include "worker/ship.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* GUCs (docs/reference.md, "Configuration parameters") */
int			ks_max_sinks = 16;
int			ks_launcher_naptime_ms = 10000;
int			ks_default_batch_interval_ms = 1000;
int			ks_default_batch_size = 100000;
int			ks_default_client_batch_size_limit_mb = 100;
char	   *ks_default_ingestion_method = NULL;

static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

#ifdef KS_HAVE_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;

static void
ks_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	ks_registry_request();
}
#endif

static void
ks_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	ks_registry_attach();
}

static bool
check_ingestion_method(char **newval, void **extra, GucSource source)
{
	if (strcmp(*newval, "queued") == 0 || strcmp(*newval, "streaming") == 0 ||
		strcmp(*newval, "managed") == 0)
		return true;
	GUC_check_errdetail("Valid values are \"queued\", \"streaming\" and \"managed\".");
	return false;
}

/*
 * The ingest core cannot go on (kusto.h): an ERROR the caller sees, never the
 * core's abort that would restart the whole server.  The core calls this
 * only outside libcurl's callbacks, so the longjmp is safe; what the core had
 * allocated for the failed call is not freed (it is malloc'd, not palloc'd).
 */
static void
ks_core_failure(kusto_failure kind, const char *what)
{
	if (kind == KUSTO_FAILURE_MEMORY)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("The Kusto client of kusto_sink could not allocate memory.")));
	ereport(ERROR,
			(errcode(ERRCODE_SYSTEM_ERROR),
			 errmsg("the Kusto client of kusto_sink failed: %s", what)));
}

void
_PG_init(void)
{
	/* in every backend that loads the library */
	kusto_set_failure_handler(ks_core_failure);
	ks_drop_guard_install();
	ks_log_redact_install();

	/*
	 * Loaded as an output plugin or for a SQL function only: the workers
	 * need shared memory and a launcher, which exist only when preloaded.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;

	DefineCustomIntVariable("kusto_sink.max_sinks",
							"Maximum number of sinks (and so of sink workers).",
							NULL, &ks_max_sinks, 16, 1, 1024,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("kusto_sink.launcher_naptime",
							"Time between the launcher's checks of the sink catalog.",
							"The launcher also wakes up at once when the SQL API changes a sink.",
							&ks_launcher_naptime_ms, 10000, 100, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("kusto_sink.batch_interval_ms",
							"Default for the sink option batch_interval_ms.",
							NULL, &ks_default_batch_interval_ms, 1000, 1, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("kusto_sink.batch_size",
							"Default for the sink option batch_size (records).",
							NULL, &ks_default_batch_size, 100000, 1, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("kusto_sink.client_batch_size_limit",
							"Default for the sink option client_batch_size_limit (MB of uncompressed data).",
							NULL, &ks_default_client_batch_size_limit_mb, 100, 1, 4096,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("kusto_sink.ingestion_method",
							   "Default for the sink option ingestion_method.",
							   NULL, &ks_default_ingestion_method, "managed",
							   PGC_SIGHUP, 0, check_ingestion_method, NULL, NULL);
	DefineCustomStringVariable("kusto_sink.database",
							   "The database where sinks are configured and run.",
							   NULL, &ks_database, "postgres",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("kusto_sink.pending_resend_after",
							"How long a batch rebuilt after a crash may stay Pending before it is sent again.",
							"Exactly once: a Pending status normally means the first send is queued; it stays Pending for good only when the crash came between the status write and the queue post.",
							&ks_pending_resend_after_ms, 600000, 1000, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomStringVariable("kusto_sink.test_crash_file",
							   "For tests only: a file naming a crash point where sink workers kill themselves.",
							   "The fault suite uses it to stop a worker at each step of the exactly-once protocol.",
							   &ks_test_crash_file, "",
							   PGC_SUSET, GUC_NOT_IN_SAMPLE, NULL, NULL, NULL);
	MarkGUCPrefixReserved("kusto_sink");

#ifdef KS_HAVE_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ks_shmem_request;
#else
	ks_registry_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ks_shmem_startup;

	ks_register_launcher();
}
