/*-------------------------------------------------------------------------
 *
 * sink_name.h
 *	  What a sink's name may be, and the replication slot it names: the one
 *	  rule, used by the SQL API (create_sink through kusto_sink._slot_name
 *	  and kusto_sink._check_sink_name, _stop_worker) and by the launcher.
 *
 * A sink name starts with a lower-case letter or underscore and has at
 * most KS_SINK_NAME_MAX lower-case letters, digits or underscores, so that
 * its slot, KS_SLOT_PREFIX followed by the name, fits a replication slot
 * name (NAMEDATALEN - 1 bytes) uncut.
 *
 * Contract:
 *	- ks_check_sink_name() raises invalid_parameter_value for a name that
 *	  breaks the rule (NULL included).
 *	- ks_sink_slot_name() returns the slot name of a sink, palloc'd, or
 *	  NULL when it would be longer than a slot name may be (no sink that
 *	  follows the rule has such a name; one is never cut).
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_SINK_NAME_H
#define KS_WORKER_SINK_NAME_H

#define KS_SLOT_PREFIX "kusto_sink_"
#define KS_SINK_NAME_MAX (NAMEDATALEN - 1 - (int) (sizeof(KS_SLOT_PREFIX) - 1))

extern void ks_check_sink_name(const char *name);
extern char *ks_sink_slot_name(const char *name);

#endif							/* KS_WORKER_SINK_NAME_H */
