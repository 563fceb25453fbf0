/*-------------------------------------------------------------------------
 *
 * crashpoint.c
 *	  The crash test hook (see crashpoint.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <unistd.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"

#include "worker/crashpoint.h"

char	   *ks_test_crash_file = NULL;

void
ks_crash_point(const char *name)
{
	FILE	   *f;
	char		buf[64];

	if (ks_test_crash_file == NULL || ks_test_crash_file[0] == '\0')
		return;
	f = fopen(ks_test_crash_file, "r");
	if (f == NULL)
		return;
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	if (strncmp(buf, "pause:", 6) == 0 && strcmp(buf + 6, name) == 0)
	{
		/* wait (interruptibly) until the test removes the file */
		ereport(LOG,
				(errmsg("kusto_sink: pause point \"%s\" reached: waiting until the file is removed (test hook kusto_sink.test_crash_file)",
						name)));
		while (access(ks_test_crash_file, F_OK) == 0)
		{
			CHECK_FOR_INTERRUPTS();
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 20, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
		ereport(LOG, (errmsg("kusto_sink: pause point \"%s\" released", name)));
		return;
	}
	if (strcmp(buf, name) != 0)
		return;
	unlink(ks_test_crash_file);
	ereport(LOG,
			(errmsg("kusto_sink: crash point \"%s\" reached: killing this worker (test hook kusto_sink.test_crash_file)",
					name)));
	kill(MyProcPid, SIGKILL);
	pause();
}
