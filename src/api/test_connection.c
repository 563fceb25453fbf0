/*-------------------------------------------------------------------------
 *
 * test_connection.c
 *	  kusto_sink._probe_connection(): reaches a cluster through the ingest
 *	  core from a backend (kusto_sink.test_connection() passes it a
 *	  connection's settings, with app_key_file and token_file since 1.1):
 *	  gets a token and runs ".show version".
 *
 * The call blocks; a query cancel or termination interrupts it (the core
 * checks at least every 100 ms) and is then raised as usual.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "kusto/kusto.h"

PG_FUNCTION_INFO_V1(kusto_sink_probe_connection);

static int
interrupted(void *arg)
{
	return InterruptPending ? 1 : 0;
}

static char *
arg_text(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

Datum
kusto_sink_probe_connection(PG_FUNCTION_ARGS)
{
	kusto_config cfg;
	kusto_error err;
	kusto_client *client;
	char	   *result = NULL;
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	StringInfoData detail;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	memset(&cfg, 0, sizeof(cfg));
	cfg.cluster_url = arg_text(fcinfo, 0);
	cfg.auth = arg_text(fcinfo, 1);
	cfg.tenant_id = arg_text(fcinfo, 2);
	cfg.app_id = arg_text(fcinfo, 3);
	cfg.app_key = arg_text(fcinfo, 4);
	cfg.token = arg_text(fcinfo, 5);
	cfg.authority_host = arg_text(fcinfo, 6);
	cfg.ca_file = arg_text(fcinfo, 7);
	cfg.proxy = arg_text(fcinfo, 8);
	cfg.managed_identity_id = arg_text(fcinfo, 9);
	cfg.managed_identity_endpoint = arg_text(fcinfo, 10);
	cfg.federated_token_file = arg_text(fcinfo, 11);
	cfg.certificate_file = arg_text(fcinfo, 12);
	cfg.private_key_file = arg_text(fcinfo, 13);
	cfg.jwt_algorithm = arg_text(fcinfo, 14);
	/* 1.1: app_key_file and token_file (the 1.0 signature has 15 arguments) */
	if (PG_NARGS() > 16)
	{
		cfg.app_key_file = arg_text(fcinfo, 15);
		cfg.token_file = arg_text(fcinfo, 16);
	}
	cfg.request_timeout_ms = 30000;

	initStringInfo(&detail);
	client = kusto_client_create(&cfg, &err);
	if (client != NULL)
	{
		kusto_client_set_interrupt(client, interrupted, NULL);
		if (kusto_execute(client, "NetDefaultDB", ".show version", &result, &err) == KUSTO_OK)
		{
			appendStringInfo(&detail, "reached %s: got a token and ran .show version", cfg.cluster_url);
			kusto_free(result);
		}
		kusto_client_destroy(client);
	}
	CHECK_FOR_INTERRUPTS();
	if (err.status != KUSTO_OK)
	{
		appendStringInfo(&detail, "%s%s%s", err.code, err.code[0] ? ": " : "", err.message);
		if (err.http_status > 0)
			appendStringInfo(&detail, " (HTTP %ld)", err.http_status);
	}
	values[0] = BoolGetDatum(err.status == KUSTO_OK);
	values[1] = CStringGetTextDatum(detail.data);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
