/*-------------------------------------------------------------------------
 *
 * kusto_sink.c
 *	  Module entry point of the kusto_sink extension.
 *
 * The shared library is both the extension (SQL-callable functions, and
 * later the launcher and sink workers registered here at
 * shared_preload_libraries time) and the logical decoding output plugin
 * "kusto_sink" (src/decoder/plugin.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	/* Nothing to register yet: the launcher and its GUCs come with the sinks. */
}
