/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  The shared-memory registry of sinks (see registry.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/timestamp.h"

#include "worker/registry.h"

/* GUC: kusto_sink.max_sinks, fixed at server start */
extern int	ks_max_sinks;

KsRegistry *ks_registry = NULL;

Size
ks_registry_size(void)
{
	return add_size(offsetof(KsRegistry, slots),
					mul_size(ks_max_sinks, sizeof(KsSinkSlot)));
}

/* called from the shmem_request hook (15+) or _PG_init (13, 14) */
void
ks_registry_request(void)
{
	RequestAddinShmemSpace(ks_registry_size());
	RequestNamedLWLockTranche("kusto_sink", 1);
}

/* called from the shmem_startup hook */
void
ks_registry_attach(void)
{
	bool		found;
	int			i;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	ks_registry = ShmemInitStruct("kusto_sink registry", ks_registry_size(), &found);
	if (!found)
	{
		memset(ks_registry, 0, ks_registry_size());
		ks_registry->lock = &(GetNamedLWLockTranche("kusto_sink"))->lock;
		ks_registry->nslots = ks_max_sinks;
		for (i = 0; i < ks_max_sinks; i++)
		{
			SpinLockInit(&ks_registry->slots[i].mutex);
			pg_atomic_init_u32(&ks_registry->slots[i].requests, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * The slot of a sink, or NULL.  With create, a free slot is taken for it
 * (NULL when none is left).  Callers hold ks_registry->lock, exclusively
 * when they may create.
 */
KsSinkSlot *
ks_registry_find(const char *name, Oid dboid, bool create)
{
	KsSinkSlot *free_slot = NULL;
	int			i;

	for (i = 0; i < ks_registry->nslots; i++)
	{
		KsSinkSlot *slot = &ks_registry->slots[i];

		if (!slot->in_use)
		{
			if (free_slot == NULL)
				free_slot = slot;
			continue;
		}
		if (slot->dboid == dboid && strcmp(slot->name, name) == 0)
			return slot;
	}
	if (!create || free_slot == NULL)
		return NULL;

	/* a fresh slot: zero everything but the spinlock */
	SpinLockAcquire(&free_slot->mutex);
	memset(((char *) free_slot), 0, offsetof(KsSinkSlot, mutex));
	memset(((char *) free_slot) + offsetof(KsSinkSlot, state), 0,
		   sizeof(KsSinkSlot) - offsetof(KsSinkSlot, state));
	SpinLockRelease(&free_slot->mutex);
	pg_atomic_init_u32(&free_slot->requests, 0);
	free_slot->in_use = true;
	strlcpy(free_slot->name, name, KS_NAME_LEN);
	free_slot->dboid = dboid;
	return free_slot;
}

void
ks_slot_set_error(KsSinkSlot *slot, const char *message)
{
	TimestampTz now = GetCurrentTimestamp();	/* (a system call: not under the spinlock) */

	SpinLockAcquire(&slot->mutex);
	strlcpy(slot->last_error, message, KS_ERROR_LEN);
	slot->last_error_time = now;
	SpinLockRelease(&slot->mutex);
}

void
ks_slot_add_latency(KsSinkSlot *slot, double ms)
{
	SpinLockAcquire(&slot->mutex);
	slot->latency_ms[slot->latency_next] = (float4) ms;
	slot->latency_next = (slot->latency_next + 1) % KS_LATENCY_WINDOW;
	if (slot->latency_count < KS_LATENCY_WINDOW)
		slot->latency_count++;
	SpinLockRelease(&slot->mutex);
}

/* Asks the launcher to look at the catalog again (after a configuration change). */
void
ks_wake_launcher(void)
{
	int			pid = ks_registry ? ks_registry->launcher_pid : 0;

	if (pid != 0)
		kill(pid, SIGUSR2);
}

/*
 * May a role see a sink's state (kusto_sink._status, _pipeline_status,
 * _skipped_tables)?  A slot in use by a sink of this database, with its
 * owner's privileges or pg_read_all_stats's, as for pg_stat_activity.
 */
bool
ks_slot_visible_to(const KsSinkSlot *slot, Oid roleid)
{
	return slot->in_use && slot->dboid == MyDatabaseId &&
		(has_privs_of_role(roleid, slot->owner_oid) ||
		 has_privs_of_role(roleid, ROLE_PG_READ_ALL_STATS));
}
