/*-------------------------------------------------------------------------
 *
 * status_book.c
 *	  Where the status entity of each tracked queued ingestion was written:
 *	  its status is read from that table, not from whichever one the cached
 *	  ingestion resources name now.  Kusto rotates its status tables, and an
 *	  entity stays in the table it was written to, so a read from the newer
 *	  table would find nothing and the ingestion would look lost (and be sent
 *	  again).  The official SDKs keep the table with the ingestion's result
 *	  for the same reason (azure-kusto-python's IngestionResult holds its
 *	  status table client).
 *
 * The book holds the last KUSTO_STATUS_BOOK_SIZE source ids (a ring: the
 * oldest is forgotten first) with an index into the distinct table URLs
 * seen (at most KUSTO_STATUS_BOOK_TABLES, each with its SAS; a table URL is
 * kept as long as the client).  An ingestion the book does not know (one
 * written by an earlier client, before a restart) is read from the current
 * table.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "kusto_int.h"

/* 50 batches a second over Kusto's default 5-minute batching time */
#define KUSTO_STATUS_BOOK_SIZE 16384
#define KUSTO_STATUS_BOOK_TABLES 64

typedef struct book_entry
{
	char		source_id[40];
	int			table;			/* index into tables */
} book_entry;

struct kusto_status_book
{
	book_entry *entries;		/* ring of KUSTO_STATUS_BOOK_SIZE */
	int			next;			/* where the next entry goes */
	int			used;
	char	   *tables[KUSTO_STATUS_BOOK_TABLES];
	int			ntables;
};

static int
table_index(kusto_status_book *b, const char *url)
{
	int			i;

	for (i = 0; i < b->ntables; i++)
		if (strcmp(b->tables[i], url) == 0)
			return i;
	if (b->ntables == KUSTO_STATUS_BOOK_TABLES)
	{
		/* a table this old has no ingestion in flight: reuse the oldest slot */
		kusto_free(b->tables[0]);
		memmove(&b->tables[0], &b->tables[1], sizeof(char *) * (KUSTO_STATUS_BOOK_TABLES - 1));
		b->ntables--;
		for (i = 0; i < b->used; i++)
			b->entries[i].table = b->entries[i].table > 0 ? b->entries[i].table - 1 : -1;
	}
	b->tables[b->ntables] = kusto_strdup(url);
	return b->ntables++;
}

static book_entry *
find(kusto_status_book *b, const char *source_id)
{
	int			i;

	if (b == NULL)
		return NULL;
	for (i = 0; i < b->used; i++)
		if (b->entries[i].table >= 0 && strcmp(b->entries[i].source_id, source_id) == 0)
			return &b->entries[i];
	return NULL;
}

void
kusto_status_book_note(kusto_client *c, const char *source_id, const char *table_url)
{
	kusto_status_book *b = c->status_book;
	book_entry *e;

	if (b == NULL)
	{
		b = c->status_book = kusto_malloc(sizeof(kusto_status_book));
		memset(b, 0, sizeof(*b));
		b->entries = kusto_malloc(sizeof(book_entry) * KUSTO_STATUS_BOOK_SIZE);
	}
	e = find(b, source_id);
	if (e == NULL)
	{
		e = &b->entries[b->next];
		b->next = (b->next + 1) % KUSTO_STATUS_BOOK_SIZE;
		if (b->used < KUSTO_STATUS_BOOK_SIZE)
			b->used++;
		strncpy(e->source_id, source_id, sizeof(e->source_id) - 1);
		e->source_id[sizeof(e->source_id) - 1] = '\0';
	}
	e->table = table_index(b, table_url);
}

const char *
kusto_status_book_find(kusto_client *c, const char *source_id)
{
	book_entry *e = find(c->status_book, source_id);

	return e ? c->status_book->tables[e->table] : NULL;
}

void
kusto_status_book_free(kusto_status_book *b)
{
	int			i;

	if (b == NULL)
		return;
	for (i = 0; i < b->ntables; i++)
		kusto_free(b->tables[i]);
	kusto_free(b->entries);
	kusto_free(b);
}
