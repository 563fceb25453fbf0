/*-------------------------------------------------------------------------
 *
 * ship.c
 *	  The bridge from the sink worker to the ingest core (see ship.h): the
 *	  only file where PostgreSQL and src/kusto/ meet.
 *
 * The core's transfers never raise PostgreSQL errors: an interrupt (SIGTERM,
 * postmaster death) makes the core cancel what it waits for, and the worker
 * then reacts at its next CHECK_FOR_INTERRUPTS().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "kusto/kusto.h"
#include "worker/ship.h"

struct KsShipper
{
	kusto_client *client;
	KsSinkConfig *config;
	int			inflight;
};

static int
interrupted(void *arg)
{
	return ProcDiePending ? 1 : 0;
}

KsShipper *
ks_shipper_create(KsSinkConfig *config)
{
	KsShipper  *shipper = MemoryContextAllocZero(TopMemoryContext, sizeof(KsShipper));
	kusto_config kc;
	kusto_error err;

	if (strcmp(config->ingestion_method, "queued") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("kusto_sink sink \"%s\": queued ingestion is not available yet", config->name),
				 errhint("Use ingestion_method \"streaming\" or \"managed\" (which streams) with kusto_sink.alter_sink().")));

	memset(&kc, 0, sizeof(kc));
	kc.cluster_url = config->cluster_url;
	kc.auth = config->auth;
	kc.tenant_id = config->tenant_id;
	kc.app_id = config->app_id;
	kc.app_key = config->app_key;
	kc.token = config->token;
	kc.managed_identity_id = config->managed_identity_id;
	kc.managed_identity_endpoint = config->managed_identity_endpoint;
	kc.federated_token_file = config->federated_token_file;
	kc.certificate_file = config->certificate_file;
	kc.private_key_file = config->private_key_file;
	kc.jwt_algorithm = config->jwt_algorithm;
	kc.authority_host = config->authority_host;
	kc.ca_file = config->ca_file;
	kc.proxy = config->proxy;
	kc.connect_timeout_ms = config->connect_timeout_ms;
	kc.request_timeout_ms = config->request_timeout_ms;
	kc.app_name = "kusto_sink";

	shipper->client = kusto_client_create(&kc, &err);
	if (shipper->client == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kusto_sink sink \"%s\": %s", config->name, err.message),
				 errhint("Fix the connection with kusto_sink.alter_connection().")));
	kusto_client_set_interrupt(shipper->client, interrupted, NULL);
	shipper->config = config;
	return shipper;
}

void
ks_shipper_destroy(KsShipper *shipper)
{
	kusto_client_destroy(shipper->client);
	pfree(shipper);
}

void
ks_ship_start(KsShipper *shipper, KsBatch *batch)
{
	batch->retry_after_ms = 0;
	kusto_stream_ingest(shipper->client, shipper->config->database, batch->kusto_table,
						shipper->config->format, shipper->config->ingestion_mapping_ref,
						batch->gz.data, batch->gz.len, batch);
	shipper->inflight++;
}

int
ks_ship_poll(KsShipper *shipper, int timeout_ms, KsShipDone done, void *arg)
{
	kusto_op   *op;
	void	   *user;
	kusto_error err;
	int			finished = 0;

	if (shipper->inflight == 0)
		return 0;
	kusto_client_run(shipper->client, timeout_ms);
	while ((op = kusto_client_done(shipper->client, &user, &err)) != NULL)
	{
		KsBatch    *batch = (KsBatch *) user;
		KsShipOutcome outcome;
		char		message[768];

		kusto_op_free(op);
		shipper->inflight--;
		finished++;
		switch (err.status)
		{
			case KUSTO_OK:
				outcome = KS_SHIP_ACKED;
				break;
			case KUSTO_ERR_PERMANENT:
			case KUSTO_ERR_AUTH:
				outcome = KS_SHIP_PERMANENT;
				break;
			default:
				outcome = KS_SHIP_TRANSIENT;
				break;
		}
		if (err.retry_after_s > 0)
			batch->retry_after_ms = err.retry_after_s * 1000;
		if (err.http_status > 0)
			snprintf(message, sizeof(message), "%s%s%s (HTTP %ld, %s)",
					 err.code, err.code[0] ? ": " : "", err.message, err.http_status,
					 kusto_status_name(err.status));
		else
			snprintf(message, sizeof(message), "%s (%s)", err.message,
					 kusto_status_name(err.status));
		done(arg, batch, outcome, outcome == KS_SHIP_ACKED ? NULL : message);
	}
	return finished;
}

int
ks_ship_inflight(KsShipper *shipper)
{
	return shipper->inflight;
}

size_t
ks_ship_streaming_limit(KsShipper *shipper)
{
	return KUSTO_STREAMING_LIMIT;
}

/* The pause before sending a failed batch again (see sink_worker.c). */
long
ks_ship_retry_delay_ms(KsBatch *batch, KsShipOutcome outcome)
{
	static unsigned int seed = 0;
	kusto_error err;
	long		delay;

	if (seed == 0)
		seed = (unsigned int) MyProcPid;
	memset(&err, 0, sizeof(err));
	err.status = KUSTO_ERR_TRANSIENT;
	err.retry_after_s = batch->retry_after_ms > 0 ? batch->retry_after_ms / 1000 : -1;
	/* a permanent rejection (on_error = stop) gets the same growing pauses */
	delay = kusto_retry_delay_ms(batch->attempts, 0, &err, &seed);
	return delay;
}
