/*-------------------------------------------------------------------------
 *
 * ack_window.c
 *	  The acknowledgement watermark of a sink's batches (see ack_window.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/memutils.h"

#include "worker/ack_window.h"

typedef struct PendingCommit
{
	XLogRecPtr	end_lsn;
	uint64		seq;			/* newest batch seq open at the commit */
	TimestampTz commit_time;
} PendingCommit;

struct KsAckWindow
{
	uint64		next_seq;		/* the next batch's (the first is 1) */
	List	   *unacked;		/* uint64 *: seqs opened and not done, ascending */
	PendingCommit *commits;		/* ring of the commits not yet confirmable */
	int			ncommits;
	int			head;
	int			size;
};

KsAckWindow *
ks_ack_create(void)
{
	KsAckWindow *w = MemoryContextAllocZero(TopMemoryContext, sizeof(KsAckWindow));

	w->next_seq = 1;
	w->size = 1024;
	w->commits = MemoryContextAlloc(TopMemoryContext, w->size * sizeof(PendingCommit));
	return w;
}

uint64
ks_ack_open(KsAckWindow *w)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	uint64	   *seq = palloc(sizeof(uint64));

	*seq = w->next_seq++;
	w->unacked = lappend(w->unacked, seq);
	MemoryContextSwitchTo(oldcxt);
	return *seq;
}

void
ks_ack_done(KsAckWindow *w, uint64 seq)
{
	ListCell   *lc;

	foreach(lc, w->unacked)
	{
		if (*(uint64 *) lfirst(lc) == seq)
		{
			pfree(lfirst(lc));
			w->unacked = foreach_delete_current(w->unacked, lc);
			return;
		}
	}
}

void
ks_ack_commit(KsAckWindow *w, XLogRecPtr end_lsn, TimestampTz commit_time)
{
	PendingCommit *c;

	if (w->ncommits == w->size)
	{
		int			newsize = w->size * 2;
		PendingCommit *grown = MemoryContextAlloc(TopMemoryContext, newsize * sizeof(PendingCommit));
		int			i;

		for (i = 0; i < w->ncommits; i++)
			grown[i] = w->commits[(w->head + i) % w->size];
		pfree(w->commits);
		w->commits = grown;
		w->head = 0;
		w->size = newsize;
	}
	c = &w->commits[(w->head + w->ncommits) % w->size];
	c->end_lsn = end_lsn;
	c->seq = w->next_seq - 1;
	c->commit_time = commit_time;
	w->ncommits++;
}

bool
ks_ack_confirmable(KsAckWindow *w, XLogRecPtr *end_lsn, TimestampTz *commit_time)
{
	/* every seq below the oldest unacknowledged one is done */
	uint64		watermark = w->unacked == NIL ? w->next_seq - 1 :
		*(uint64 *) linitial(w->unacked) - 1;
	bool		any = false;

	while (w->ncommits > 0 && w->commits[w->head].seq <= watermark)
	{
		*end_lsn = w->commits[w->head].end_lsn;
		*commit_time = w->commits[w->head].commit_time;
		w->head = (w->head + 1) % w->size;
		w->ncommits--;
		any = true;
	}
	return any;
}

int
ks_ack_pending_commits(KsAckWindow *w)
{
	return w->ncommits;
}

/* the commit time of the oldest commit not yet confirmable, or 0 */
TimestampTz
ks_ack_oldest_commit_time(KsAckWindow *w)
{
	return w->ncommits > 0 ? w->commits[w->head].commit_time : 0;
}
