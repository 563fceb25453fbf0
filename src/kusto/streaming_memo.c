/*-------------------------------------------------------------------------
 *
 * streaming_memo.c
 *	  Managed ingestion's memory of tables it sends queued for a while:
 *	  after streaming was found off (on the table or the whole cluster) or
 *	  the table's configuration keeps it from streaming, the next batches go
 *	  queued for 15 minutes before a stream is tried again, and for 10
 *	  seconds after a throttled stream, as the official SDKs' managed
 *	  clients do (azure-kusto-java, ingest-v2 DefaultManagedStreamingPolicy:
 *	  timeUntilResumingStreamingIngest 15 min, throttleBackoffPeriod 10 s,
 *	  per "database-table").
 *
 * An entry is (database, table, until, the Kusto error code that made it);
 * an expired entry is dropped when looked at.  The list is short (one entry
 * per table that could not stream).
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>
#include <time.h>

#include "kusto_int.h"

struct kusto_streaming_memo
{
	char	   *db;
	char	   *table;
	time_t		until;
	char		code[96];
	kusto_streaming_memo *next;
};

static void
memo_free(kusto_streaming_memo *m)
{
	kusto_free(m->db);
	kusto_free(m->table);
	kusto_free(m);
}

void
kusto_streaming_memo_note(kusto_client *c, const char *db, const char *table, int seconds,
						  const char *code)
{
	kusto_streaming_memo *m;

	for (m = c->streaming_memo; m; m = m->next)
		if (strcmp(m->db, db) == 0 && strcmp(m->table, table) == 0)
			break;
	if (m == NULL)
	{
		m = kusto_malloc(sizeof(kusto_streaming_memo));
		memset(m, 0, sizeof(*m));
		m->db = kusto_strdup(db);
		m->table = kusto_strdup(table);
		m->next = c->streaming_memo;
		c->streaming_memo = m;
	}
	m->until = time(NULL) + seconds;
	strncpy(m->code, code ? code : "", sizeof(m->code) - 1);
	m->code[sizeof(m->code) - 1] = '\0';
}

const char *
kusto_streaming_memo_find(kusto_client *c, const char *db, const char *table)
{
	kusto_streaming_memo **p = &c->streaming_memo;
	time_t		now = time(NULL);

	while (*p)
	{
		kusto_streaming_memo *m = *p;

		if (m->until <= now)
		{
			*p = m->next;		/* expired: streaming is tried again */
			memo_free(m);
			continue;
		}
		if (strcmp(m->db, db) == 0 && strcmp(m->table, table) == 0)
			return m->code;
		p = &m->next;
	}
	return NULL;
}

void
kusto_streaming_memo_free(kusto_client *c)
{
	while (c->streaming_memo)
	{
		kusto_streaming_memo *m = c->streaming_memo;

		c->streaming_memo = m->next;
		memo_free(m);
	}
}
