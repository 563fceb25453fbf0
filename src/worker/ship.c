/*-------------------------------------------------------------------------
 *
 * ship.c
 *	  The bridge from the sink worker to the ingest core (see ship.h): sends
 *	  batches, takes the core's answers and hands each to the part of the
 *	  batch's protocol it belongs to.  With in_doubt.c (what became of a
 *	  send: status reads, and a batch in doubt) the only files of the worker
 *	  that drive src/kusto/.  (Elsewhere the core is called only by
 *	  src/api/test_connection.c, which probes a connection from a backend,
 *	  and by connection_options.c, which checks URLs with the core's own
 *	  rule, kusto_url_allowed; layouts.c reads a Kusto schema with jansson,
 *	  the core's JSON library.)
 *
 * The core's transfers never raise PostgreSQL errors: an interrupt (SIGTERM,
 * postmaster death, or the worker's stop check: a configuration change)
 * makes the core cancel what it waits for within 100 ms, and the worker then
 * reacts at its next CHECK_FOR_INTERRUPTS() or configuration check.
 *
 * A batch in flight is SENDING, AWAITING_STATUS, PROBING or CHECKING_STATUS
 * (batch.h): ks_ship_poll() takes each answer of the core and, by the
 * batch's state, learns from sent() (here) or in_doubt.c what comes next:
 * wait, send (again), or done.  How exactly once survives a second send:
 * the top of in_doubt.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/pmsignal.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "decoder/escape.h"
#include "kusto/kusto.h"
#include "worker/crashpoint.h"
#include "worker/in_doubt.h"
#include "worker/ship.h"

struct KsShipper
{
	kusto_client *client;
	KsSinkConfig *config;
	int			inflight;		/* batches handed to ks_ship_start, not yet done */
	KsDoubt    *doubt;			/* status reads and batches in doubt (in_doubt.h) */
	char		notice[512];	/* for the next acknowledged batch's done() */
};

/* ks_ship_set_stop_check()'s function, or NULL */
static bool (*stop_check) (void) = NULL;

void
ks_ship_set_stop_check(bool (*check) (void))
{
	stop_check = check;
}

/*
 * The core's transfers and waits (tokens, commands) stop for SIGTERM, when
 * the postmaster died, and when the worker's stop check says so (a
 * configuration change: the worker must restart at once).
 */
static int
interrupted(void *arg)
{
	return (ProcDiePending || !PostmasterIsAlive() || (stop_check != NULL && stop_check())) ? 1 : 0;
}

KsShipper *
ks_shipper_create(KsSinkConfig *config)
{
	KsShipper  *shipper = MemoryContextAllocZero(TopMemoryContext, sizeof(KsShipper));
	kusto_config kc;
	kusto_error err;

	memset(&kc, 0, sizeof(kc));
	kc.cluster_url = config->cluster_url;
	kc.auth = ks_auth_name(config->auth);
	kc.tenant_id = config->tenant_id;
	kc.app_id = config->app_id;
	kc.app_key = config->app_key;
	kc.token = config->token;
	kc.app_key_file = config->app_key_file;
	kc.token_file = config->token_file;
	kc.managed_identity_id = config->managed_identity_id;
	kc.managed_identity_endpoint = config->managed_identity_endpoint;
	kc.federated_token_file = config->federated_token_file;
	kc.certificate_file = config->certificate_file;
	kc.private_key_file = config->private_key_file;
	kc.jwt_algorithm = ks_jwt_algorithm_name(config->jwt_algorithm);
	kc.authority_host = config->authority_host;
	kc.ca_file = config->ca_file;
	kc.proxy = config->proxy;
	kc.ingest_url = config->ingest_url;
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
	shipper->doubt = ks_doubt_create(shipper->client, config);
	return shipper;
}

/* the mapping a batch's records go through: its layout's, else the sink's */
static const char *
batch_mapping(KsSinkConfig *cfg, KsBatch *batch)
{
	return batch->mapping != NULL ? batch->mapping : cfg->ingestion_mapping_ref;
}

/* -> SENDING: starts the ingestion of a batch with the sink's method. */
static void
send_batch(KsShipper *shipper, KsBatch *batch)
{
	KsSinkConfig *cfg = shipper->config;
	kusto_ingest_options o;
	char		tag[64];
	const char *tags[1];
	bool		eo = batch->batch_id[0] != '\0';
	const char *format = ks_format_name(cfg->format);

	ks_batch_set_state(batch, KS_BATCH_SENDING);
	ks_batch_load(batch);		/* (sent again after waiting for its status) */
	batch->polls = 0;
	batch->poll_failures = 0;
	memset(&o, 0, sizeof(o));
	o.format = format;
	o.mapping = batch_mapping(cfg, batch);
	o.flush_immediately = cfg->flush_immediately;
	o.track_status = cfg->poll_for_ingestion_status;
	o.raw_size = (size_t) batch->raw_bytes;
	if (eo)
	{
		/* exactly once: the batch's own id, and Kusto skips it if it is there already */
		snprintf(tag, sizeof(tag), "ingest-by:%s", batch->batch_id);
		tags[0] = tag;
		o.source_id = batch->batch_id;
		o.tags = tags;
		o.ntags = 1;
		o.ingest_if_not_exists = batch->batch_id;
	}
	if (eo && cfg->ingestion_method == KS_METHOD_MANAGED && !batch->go_queued &&
		kusto_streaming_unavailable(shipper->client, cfg->database, batch->kusto_table) != NULL)
		batch->go_queued = true;	/* the table cannot stream for now (the managed clients' memory) */
	if (eo && cfg->ingestion_method == KS_METHOD_MANAGED &&
		!batch->go_queued && batch->raw_bytes <= KUSTO_STREAMING_LIMIT)
	{
		/* exactly once, managed: the stream (checked in Kusto if in doubt) */
		kusto_stream_ingest(shipper->client, cfg->database, batch->kusto_table,
							format, batch_mapping(cfg, batch),
							batch->gz.data, batch->gz.len, batch);
	}
	else if (cfg->ingestion_method == KS_METHOD_QUEUED ||
			 (eo && cfg->ingestion_method == KS_METHOD_MANAGED))
	{
		batch->go_queued = true;
		kusto_queued_ingest(shipper->client, cfg->database, batch->kusto_table, &o,
							batch->gz.data, batch->gz.len, batch);
	}
	else if (cfg->ingestion_method == KS_METHOD_MANAGED)
		kusto_managed_ingest(shipper->client, cfg->database, batch->kusto_table, &o,
							 batch->gz.data, batch->gz.len, batch);
	else
		kusto_stream_ingest(shipper->client, cfg->database, batch->kusto_table,
							format, batch_mapping(cfg, batch),
							batch->gz.data, batch->gz.len, batch);
}

/*
 * Starts a batch that waits to be sent (SEALED, RECORDED or IN_DOUBT): a
 * batch in doubt is first looked for in Kusto (in_doubt.c), any other is
 * sent.
 */
void
ks_ship_start(KsShipper *shipper, KsBatch *batch)
{
	batch->retry_after_ms = 0;
	shipper->inflight++;
	if (batch->state == KS_BATCH_IN_DOUBT)
		ks_doubt_resume(shipper->doubt, batch);
	else
		send_batch(shipper, batch);
}

static KsShipOutcome
outcome_of(const kusto_error *err)
{
	switch (err->status)
	{
		case KUSTO_OK:
			return KS_SHIP_ACKED;
		case KUSTO_ERR_PERMANENT:
		case KUSTO_ERR_AUTH:
			return KS_SHIP_PERMANENT;
		default:
			return KS_SHIP_TRANSIENT;
	}
}

void
ks_ship_describe(char *message, size_t size, const kusto_error *err)
{
	if (err->http_status > 0)
		snprintf(message, size, "%s%s%s (HTTP %ld, %s)",
				 err->code, err->code[0] ? ": " : "", err->message, err->http_status,
				 kusto_status_name(err->status));
	else
		snprintf(message, size, "%s (%s)", err->message, kusto_status_name(err->status));
}

/*
 * SENDING: the answer to a send.  Streamed, or queued without status reads:
 * done.  Queued with them: its status decides (in_doubt.c).  Failed: done,
 * in doubt when Kusto may have taken it, except that a managed stream Kusto
 * refused before storing anything goes queued at once.
 */
static KsShipNext
sent(KsShipper *shipper, KsBatch *batch, const kusto_error *err,
	 const kusto_ingest_result *res, KsShipOutcome *outcome, char *message, size_t size)
{
	KsSinkConfig *cfg = shipper->config;
	bool		eo = batch->batch_id[0] != '\0';
	bool		tagless = eo && !batch->go_queued && cfg->ingestion_method != KS_METHOD_QUEUED;

	if (*outcome != KS_SHIP_ACKED)
	{
		int			memo_s;

		if (tagless && cfg->ingestion_method == KS_METHOD_MANAGED &&
			*outcome == KS_SHIP_PERMANENT && kusto_managed_fallback(err, &memo_s))
		{
			/* managed: Kusto refused the stream before storing anything */
			kusto_streaming_note(shipper->client, cfg->database, batch->kusto_table, err);
			batch->go_queued = true;
			return KS_NEXT_SEND;
		}
		ks_ship_describe(message, size, err);
		if (cfg->ingestion_method == KS_METHOD_STREAMING && *outcome == KS_SHIP_PERMANENT &&
			kusto_streaming_off(err))
		{
			/* no batch of this sink can stream: stop, whatever on_error says */
			size_t		len = strlen(message);

			snprintf(message + len, size - len, "; %s",
					 kusto_cluster_streaming_off_text(err->code) || err->http_status == 404 ?
					 "enable streaming ingestion on the cluster, or use the sink option ingestion_method managed or queued" :
					 "enable the streaming ingestion policy of the table (or create_table), or use the sink option ingestion_method managed or queued");
			*outcome = KS_SHIP_STOP;
		}

		/*
		 * Exactly once, Kusto may have it: an unanswered queue post is
		 * settled by its status, a stream that failed is looked for first.
		 */
		return ks_ship_finished(batch, *outcome,
								(eo && res->maybe_queued) ||
								(tagless && *outcome == KS_SHIP_TRANSIENT));
	}
	if (res->streaming_off[0] != '\0')
	{
		/* said in kusto_sink.status (last_error) when the batch is done */
		snprintf(shipper->notice, sizeof(shipper->notice),
				 "managed ingestion sends Kusto table \"%s\" queued for now: streaming is unavailable (%s); a stream is tried again after 15 minutes",
				 batch->kusto_table, res->streaming_off);
	}
	if (res->queued)
	{
		/* the queue took it */
		ks_crash_point("after_queue");
		snprintf(batch->source_id, sizeof(batch->source_id), "%s", res->source_id);
		if (cfg->poll_for_ingestion_status)
		{
			ks_doubt_await_status(shipper->doubt, batch);
			return KS_NEXT_WAIT;
		}
	}
	return ks_ship_finished(batch, KS_SHIP_ACKED, false);
}

/*
 * What comes after an answer for the batch: nothing yet, its next send, or
 * done (handed to the caller's callback); 1 when it is done.
 */
static int
settle(KsShipper *shipper, KsBatch *batch, KsShipNext next, KsShipOutcome outcome,
	   char *message, size_t size, KsShipDone done, void *arg)
{
	switch (next)
	{
		case KS_NEXT_WAIT:
			return 0;
		case KS_NEXT_SEND:
			send_batch(shipper, batch);
			return 0;
		case KS_NEXT_DONE:
			break;
	}
	shipper->inflight--;
	if (outcome == KS_SHIP_ACKED && shipper->notice[0] != '\0')
	{
		/* an acknowledged batch with something to say */
		snprintf(message, size, "%s", shipper->notice);
		shipper->notice[0] = '\0';
		done(arg, batch, outcome, message);
	}
	else
		done(arg, batch, outcome, outcome == KS_SHIP_ACKED ? NULL : message);
	return 1;
}

int
ks_ship_poll(KsShipper *shipper, int timeout_ms, KsShipDone done, void *arg)
{
	kusto_op   *op;
	void	   *user;
	kusto_error err;
	int			finished = 0;
	long		next_poll;

	if (shipper->inflight == 0)
		return 0;
	next_poll = ks_doubt_start_due(shipper->doubt);
	if (shipper->inflight > ks_doubt_waiting(shipper->doubt))
	{
		/* (every batch in flight that waits for no status read has a request running) */
		kusto_client_run(shipper->client, timeout_ms);
	}
	else if (timeout_ms > 0)
	{
		/* only status reads ahead: sleep until the next is due */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 next_poll >= 0 ? Min(timeout_ms, next_poll) : timeout_ms,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	while ((op = kusto_client_done(shipper->client, &user, &err)) != NULL)
	{
		KsStatusGroup *group = ks_doubt_group(shipper->doubt, user);
		KsBatch    *batch = (KsBatch *) user;
		KsShipOutcome outcome = outcome_of(&err);
		char		message[768] = "";
		kusto_ingest_result res = *kusto_op_result(op);
		kusto_ingest_status st = *kusto_op_status(op);
		long long	count = kusto_op_count(op);
		KsShipNext	next;

		if (group != NULL)
		{
			/* several statuses read in one request: each batch moves on */
			int			i;

			for (i = 0; i < group->n; i++)
			{
				batch = group->batches[i];
				outcome = outcome_of(&err);
				message[0] = '\0';
				st = *kusto_op_status_at(op, i);
				if (outcome == KS_SHIP_ACKED && st.unread)
				{
					ks_doubt_read_alone(shipper->doubt, batch);
					continue;
				}
				/* a request that failed: each is read alone next (a store that refuses the query) */
				if (outcome != KS_SHIP_ACKED)
					batch->read_alone = true;
				next = ks_doubt_status_read(shipper->doubt, batch, &err, &st, &outcome,
											message, sizeof(message));
				finished += settle(shipper, batch, next, outcome, message, sizeof(message), done, arg);
			}
			kusto_op_free(op);
			ks_doubt_group_done(shipper->doubt, group);
			continue;
		}
		kusto_op_free(op);
		if (err.retry_after_s > 0)
			batch->retry_after_ms = err.retry_after_s * 1000;
		switch (batch->state)
		{
			case KS_BATCH_SENDING:
				next = sent(shipper, batch, &err, &res, &outcome, message, sizeof(message));
				break;
			case KS_BATCH_PROBING:
				next = ks_doubt_probed(shipper->doubt, batch, &err, count, &outcome,
									   message, sizeof(message));
				break;
			case KS_BATCH_AWAITING_STATUS:
			case KS_BATCH_CHECKING_STATUS:
				next = ks_doubt_status_read(shipper->doubt, batch, &err, &st, &outcome,
											message, sizeof(message));
				break;
			default:
				elog(ERROR, "kusto_sink: an answer from Kusto for a batch that is %s",
					 ks_batch_state_name(batch->state));
				next = KS_NEXT_WAIT;	/* keep the compiler quiet */
		}
		finished += settle(shipper, batch, next, outcome, message, sizeof(message), done, arg);
	}
	return finished;
}

int
ks_ship_inflight(KsShipper *shipper)
{
	return shipper->inflight;
}

/*
 * Of the batches in flight, those sent that wait for a status (they hold no
 * shipping slot; in_doubt.h), and the oldest one's send time.
 */
int
ks_ship_awaiting(KsShipper *shipper, TimestampTz *oldest)
{
	return ks_doubt_awaiting(shipper->doubt, oldest);
}

/* The largest batch the ingestion method takes (0: no limit of its own). */
size_t
ks_ship_streaming_limit(KsShipper *shipper)
{
	return shipper->config->ingestion_method == KS_METHOD_STREAMING ? KUSTO_STREAMING_LIMIT : 0;
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

/* ---------- Kusto table management (kusto_tables.c) ---------- */

/* Runs a management command and waits; false and a message when it failed. */
KsShipOutcome
ks_ship_command(KsShipper *shipper, const char *csl, char *message, size_t size)
{
	char	   *json = NULL;
	kusto_error err;

	if (kusto_execute(shipper->client, shipper->config->database, csl, &json, &err) == KUSTO_OK)
	{
		kusto_free(json);
		return KS_SHIP_ACKED;
	}
	ks_ship_describe(message, size, &err);
	return outcome_of(&err);
}

/*
 * Reads the schema of a Kusto table as .show table T schema as json gives it:
 * KS_SHIP_ACKED with *schema a palloc'd JSON text, or NULL when the table
 * does not exist; otherwise the failure's outcome and message.
 */
KsShipOutcome
ks_ship_read_schema(KsShipper *shipper, const char *table, char **schema,
					char *message, size_t size)
{
	StringInfoData csl;
	kusto_result *r = NULL;
	kusto_error err;
	const kusto_table *t;
	int			i;

	*schema = NULL;
	initStringInfo(&csl);
	appendStringInfoString(&csl, ".show table ");
	ks_append_kql_name(&csl, table);
	appendStringInfoString(&csl, " schema as json");
	if (kusto_query(shipper->client, shipper->config->database, csl.data, &r, &err) != KUSTO_OK)
	{
		if (strcmp(err.code, "BadRequest_EntityNotFound") == 0)
			return KS_SHIP_ACKED;
		ks_ship_describe(message, size, &err);
		return outcome_of(&err);
	}
	t = kusto_result_primary(r);
	for (i = 0; t != NULL && i < kusto_table_ncolumns(t); i++)
	{
		if (strcmp(kusto_table_column_name(t, i), "Schema") == 0 && kusto_table_nrows(t) > 0)
		{
			char	   *text = kusto_table_text(t, 0, i);

			*schema = pstrdup(text);
			kusto_free(text);
		}
	}
	kusto_result_free(r);
	if (*schema == NULL)
	{
		snprintf(message, size, "Kusto answered .show table schema for \"%s\" without a schema", table);
		return KS_SHIP_TRANSIENT;
	}
	return KS_SHIP_ACKED;
}

/*
 * The schema of a Kusto table (see ks_ship_read_schema), or NULL when the
 * table does not exist; an error when Kusto cannot be asked.
 */
char *
ks_ship_table_schema(KsShipper *shipper, const char *table)
{
	char	   *schema;
	char		message[768];

	if (ks_ship_read_schema(shipper, table, &schema, message, sizeof(message)) != KS_SHIP_ACKED)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("kusto_sink sink \"%s\": could not read the schema of Kusto table \"%s\": %s",
						shipper->config->name, table, message)));
	return schema;
}
