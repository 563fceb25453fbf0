/*-------------------------------------------------------------------------
 *
 * catalog_version.c
 *	  The installed catalog version (see catalog_version.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "worker/catalog_version.h"

#define KS_CATALOG_NOTE "the kusto_sink catalog is version"

bool
ks_catalog_at_least(int major, int minor)
{
	int			have_major = 0;
	int			have_minor = 0;

	if (SPI_execute("SELECT e.extversion FROM pg_catalog.pg_extension e "
					"WHERE e.extname OPERATOR(pg_catalog.=) 'kusto_sink'", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the version of the kusto_sink catalog");
	if (SPI_processed == 1 &&
		sscanf(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "%d.%d",
			   &have_major, &have_minor) == 2)
		return have_major > major || (have_major == major && have_minor >= minor);
	return false;
}

void
ks_check_catalog_version(KsSinkSlot *slot, const char *sink)
{
	char	   *version = NULL;

	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_execute("SELECT e.extversion FROM pg_catalog.pg_extension e "
					"WHERE e.extname OPERATOR(pg_catalog.=) 'kusto_sink'", true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
		version = MemoryContextStrdup(TopMemoryContext,
									  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();

	if (version == NULL || strcmp(version, KS_CATALOG_VERSION) == 0)
	{
		/* updated since: the note goes */
		SpinLockAcquire(&slot->mutex);
		if (strncmp(slot->last_error, KS_CATALOG_NOTE, strlen(KS_CATALOG_NOTE)) == 0)
			slot->last_error[0] = '\0';
		SpinLockRelease(&slot->mutex);
		return;
	}
	if (strcmp(version, "1.0") == 0)
	{
		char		message[256];

		snprintf(message, sizeof(message),
				 KS_CATALOG_NOTE " %s, the library %s: run ALTER EXTENSION kusto_sink UPDATE",
				 version, KS_CATALOG_VERSION);
		ereport(WARNING,
				(errmsg("kusto_sink sink \"%s\": %s", sink, message),
				 errdetail("The sink runs, but the SQL functions of version %s lack the fixes of version %s.",
						   version, KS_CATALOG_VERSION)));
		ks_slot_set_error(slot, message);
		return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("kusto_sink sink \"%s\": the kusto_sink catalog is version %s, newer than this library (%s)",
					sink, version, KS_CATALOG_VERSION),
			 errhint("Install the kusto_sink library of version %s and restart the server.", version)));
}
