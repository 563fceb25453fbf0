/*-------------------------------------------------------------------------
 *
 * drop_guard.h
 *	  Refusing to drop the extension (or its schema) while sinks exist.
 *
 * ks_drop_guard_install() chains a ProcessUtility_hook that raises
 * dependent_objects_still_exist for DROP EXTENSION kusto_sink and DROP
 * SCHEMA kusto_sink (any behaviour, CASCADE included) and DROP OWNED BY
 * the owner of either while
 * kusto_sink.sink has rows: their workers and replication slots would be
 * left behind; and DROP DATABASE of a database that has kusto_sink
 * replication slots (also WITH (FORCE), also when the sinks are paused).
 * Called from _PG_init, whenever the library is loaded.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_DROP_GUARD_H
#define KS_DROP_GUARD_H

extern void ks_drop_guard_install(void);

#endif
