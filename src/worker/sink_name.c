/*-------------------------------------------------------------------------
 *
 * sink_name.c
 *	  A sink's name and its replication slot (see sink_name.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "worker/sink_name.h"

void
ks_check_sink_name(const char *name)
{
	size_t		len = name ? strlen(name) : 0;

	if (name == NULL || len == 0 || len > KS_SINK_NAME_MAX ||
		!((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_') ||
		strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid sink name \"%s\"", name ? name : "<NULL>"),
				 errhint("A sink name starts with a lower-case letter or underscore and has at most %d lower-case letters, digits or underscores (it names the replication slot %s<name>).",
						 KS_SINK_NAME_MAX, KS_SLOT_PREFIX)));
}

char *
ks_sink_slot_name(const char *name)
{
	if (strlen(KS_SLOT_PREFIX) + strlen(name) >= NAMEDATALEN)
		return NULL;
	return psprintf("%s%s", KS_SLOT_PREFIX, name);
}
