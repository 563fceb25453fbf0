/*-------------------------------------------------------------------------
 *
 * option_names.c
 *	  The names in the library's option tables, for SQL: what exists is
 *	  said once, in C (src/worker/sink_options.c and connection_options.c),
 *	  and docs/reference.md is checked against it (test/t/028_reference.pl).
 *
 *	_option_names() -> (kind, name), one row per
 *		sink_option			a sink option (kusto_sink.sink.options)
 *		connection_option	a connection option (kusto_sink.connection.options)
 *		auth_method			an auth method
 *		auth_required		<method>.<argument>: an argument the method needs
 *		auth_optional		<method>.<argument>: one it takes if given
 *		auth_secret_file	<method>.<option>: the option that may name a
 *							file holding the method's secret instead
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "worker/connection_options.h"
#include "worker/sink_options.h"

PG_FUNCTION_INFO_V1(kusto_sink_option_names);

static void
put_name(ReturnSetInfo *rsinfo, const char *kind, const char *name)
{
	Datum		values[2];
	bool		nulls[2] = {false, false};

	values[0] = CStringGetTextDatum(kind);
	values[1] = CStringGetTextDatum(name);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

Datum
kusto_sink_option_names(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *name;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; (name = ks_sink_option_name(i)) != NULL; i++)
		put_name(rsinfo, "sink_option", name);
	for (i = 0; (name = ks_connection_option_name(i)) != NULL; i++)
		put_name(rsinfo, "connection_option", name);
	for (i = 0; (name = ks_auth_method_name(i)) != NULL; i++)
	{
		const char *arg;
		const char *file;
		bool		required;
		int			j;

		put_name(rsinfo, "auth_method", name);
		for (j = 0; (arg = ks_auth_method_argument(i, j, &required)) != NULL; j++)
			put_name(rsinfo, required ? "auth_required" : "auth_optional",
					 psprintf("%s.%s", name, arg));
		file = ks_auth_method_secret_file(i);
		if (file != NULL)
			put_name(rsinfo, "auth_secret_file", psprintf("%s.%s", name, file));
	}
	return (Datum) 0;
}
