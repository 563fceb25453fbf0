/*-------------------------------------------------------------------------
 *
 * prerequisites.c
 *	  What every sink needs of the server, checked in C with errors that say
 *	  what to change, and the metadata columns a sink's options enable.
 *
 *	_check_prerequisites()	wal_level = logical; kusto_sink preloaded; the
 *							current database is kusto_sink.database; and,
 *							where the server has the parameter
 *							output_plugin_libraries, kusto_sink listed there
 *	_metadata_columns(options jsonb) -> (key, name, type)
 *							the metadata columns the options enable, in
 *							record order, named and typed as the output
 *							plugin writes them (decoder/options.c)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "decoder/options.h"
#include "decoder/typemap.h"
#include "worker/launcher.h"
#include "worker/registry.h"
#include "worker/sink_options.h"

PG_FUNCTION_INFO_V1(kusto_sink_check_prerequisites);
PG_FUNCTION_INFO_V1(kusto_sink_metadata_columns);

/* Does the list GUC's value name the library? */
static bool
lists_library(const char *value, const char *library)
{
	char	   *raw = pstrdup(value);
	List	   *names;
	ListCell   *lc;

	if (!SplitIdentifierString(raw, ',', &names))
		return false;
	foreach(lc, names)
		if (strcmp((char *) lfirst(lc), library) == 0)
			return true;
	return false;
}

Datum
kusto_sink_check_prerequisites(PG_FUNCTION_ARGS)
{
	const char *plugins;

	if (wal_level < WAL_LEVEL_LOGICAL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("kusto_sink needs wal_level = logical, not %s",
						GetConfigOption("wal_level", false, false)),
				 errhint("Set wal_level = logical in postgresql.conf and restart the server.")));
	if (ks_registry == NULL || ks_database == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("kusto_sink is not in shared_preload_libraries"),
				 errhint("Add kusto_sink to shared_preload_libraries and restart the server: sinks run in background workers that only a preloaded library can start.")));
	if (strcmp(get_database_name(MyDatabaseId), ks_database) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sinks live in database \"%s\", not in \"%s\"", ks_database,
						get_database_name(MyDatabaseId)),
				 errhint("Create the sink in that database, or set kusto_sink.database to this one and restart the server.")));
	/* PostgreSQL 15.19 and later minor releases only; older ones lack it */
	plugins = GetConfigOption("output_plugin_libraries", true, false);
	if (plugins != NULL && !lists_library(plugins, "kusto_sink"))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the server does not allow kusto_sink as an output plugin"),
				 errhint("Add kusto_sink to output_plugin_libraries (e.g. 'pgoutput, test_decoding, kusto_sink') and reload the configuration.")));
	PG_RETURN_VOID();
}

Datum
kusto_sink_metadata_columns(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	KsDecoderOptions opts;
	int			m;

	InitMaterializedSRF(fcinfo, 0);
	ks_parse_options(&opts, ks_sink_metadata_options(PG_GETARG_JSONB_P(0)));
	for (m = 0; m < KS_META_COUNT; m++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		if (!opts.meta_enabled[m])
			continue;
		values[0] = CStringGetTextDatum(ks_meta_key(m));
		values[1] = CStringGetTextDatum(opts.meta_name[m]);
		values[2] = CStringGetTextDatum(ks_kusto_type_name(ks_meta_kusto_type(m)));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
