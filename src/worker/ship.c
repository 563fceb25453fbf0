/*-------------------------------------------------------------------------
 *
 * ship.c
 *	  The bridge from the sink worker to the ingest core (see ship.h): the
 *	  only file of the worker that drives src/kusto/.  (Elsewhere the core
 *	  is called only by src/api/test_connection.c, which probes a
 *	  connection from a backend, and by connection_options.c, which checks
 *	  URLs with the core's own rule, kusto_url_allowed; layouts.c reads a
 *	  Kusto schema with jansson, the core's JSON library.)
 *
 * The core's transfers never raise PostgreSQL errors: an interrupt (SIGTERM,
 * postmaster death, or the worker's stop check: a configuration change)
 * makes the core cancel what it waits for within 100 ms, and the worker then
 * reacts at its next CHECK_FOR_INTERRUPTS() or configuration check.
 *
 * Exactly once (a batch with a batch_id) has two ways of making a second
 * send harmless.  Queued ingestion carries the ingest-by tag, and the
 * status table tells what became of a send.  A stream carries no tag, so
 * before a stream whose fate is unknown (a crash, a failure that may have
 * come after Kusto stored it) is sent again, Kusto is asked whether the
 * batch's first record is in the table, by its commit and change LSN: a
 * stream is stored whole or not at all, and the worker never splits the
 * records of one WAL record over two batches (keep_runs), so that record
 * belongs to this batch only.  Managed ingestion streams a batch and, once
 * a send of it went queued, keeps it queued (tagged).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/pmsignal.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "decoder/escape.h"
#include "kusto/kusto.h"
#include "worker/crashpoint.h"
#include "worker/ship.h"

/* status polls: the first after this, then doubling up to the maximum */
#define KS_POLL_FIRST_MS 250
#define KS_POLL_MAX_MS 10000
/* consecutive failed status reads before a batch counts as failed */
#define KS_POLL_MAX_FAILURES 30

/* kusto_sink.pending_resend_after: a rebuilt batch Pending this long is sent again */
int			ks_pending_resend_after_ms = 600000;

struct KsShipper
{
	kusto_client *client;
	KsSinkConfig *config;
	int			inflight;		/* batches handed to ks_ship_start, not yet done */
	int			running;		/* operations of the core in flight */
	List	   *polling;		/* KsBatch * queued, waiting for their status */
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
	return shipper;
}

/* the mapping a batch's records go through: its layout's, else the sink's */
static const char *
batch_mapping(KsSinkConfig *cfg, KsBatch *batch)
{
	return batch->mapping != NULL ? batch->mapping : cfg->ingestion_mapping_ref;
}

/* Starts the ingestion of a batch with the sink's method (see ks_ship_start). */
static void
send_batch(KsShipper *shipper, KsBatch *batch)
{
	KsSinkConfig *cfg = shipper->config;
	kusto_ingest_options o;
	char		tag[64];
	const char *tags[1];
	bool		eo = batch->batch_id[0] != '\0';

	batch->polling = false;
	batch->polls = 0;
	batch->poll_failures = 0;
	memset(&o, 0, sizeof(o));
	o.format = ks_format_name(cfg->format);
	o.mapping = batch_mapping(cfg, batch);
	o.flush_immediately = cfg->flush_immediately;
	o.track_status = cfg->poll_for_ingestion_status;
	o.raw_size = (size_t) batch->raw_bytes;
	if (batch->batch_id[0] != '\0')
	{
		/* exactly once: the batch's own id, and Kusto skips it if it is there already */
		snprintf(tag, sizeof(tag), "ingest-by:%s", batch->batch_id);
		tags[0] = tag;
		o.source_id = batch->batch_id;
		o.tags = tags;
		o.ntags = 1;
		o.ingest_if_not_exists = batch->batch_id;
	}
	if (eo && cfg->ingestion_method == KS_METHOD_MANAGED &&
		!batch->go_queued && batch->raw_bytes <= KUSTO_STREAMING_LIMIT)
	{
		/* exactly once, managed: the stream (checked in Kusto if in doubt) */
		kusto_stream_ingest(shipper->client, cfg->database, batch->kusto_table,
							ks_format_name(cfg->format), batch_mapping(cfg, batch),
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
							ks_format_name(cfg->format), batch_mapping(cfg, batch),
							batch->gz.data, batch->gz.len, batch);
	shipper->running++;
}

/*
 * Asks Kusto whether a batch sent without a tag is in its table: whether
 * the table holds its first record (see the top of this file).
 */
static void
start_probe(KsShipper *shipper, KsBatch *batch)
{
	KsSinkConfig *cfg = shipper->config;
	StringInfoData q;

	initStringInfo(&q);
	ks_append_kql_name(&q, batch->kusto_table);
	appendStringInfoString(&q, " | where ");
	ks_append_kql_name(&q, cfg->commit_lsn_column);
	appendStringInfo(&q, " == %llu and ", (unsigned long long) batch->first_commit_lsn);
	ks_append_kql_name(&q, cfg->lsn_column);
	appendStringInfo(&q, " == %llu | take 1 | count", (unsigned long long) batch->first_change_lsn);
	batch->polling = false;
	batch->probing = true;
	kusto_count(shipper->client, cfg->database, q.data, batch);
	pfree(q.data);
	shipper->running++;
}

void
ks_ship_start(KsShipper *shipper, KsBatch *batch)
{
	batch->retry_after_ms = 0;
	shipper->inflight++;
	if ((batch->resume || batch->resuming) && !batch->go_queued &&
		shipper->config->ingestion_method == KS_METHOD_STREAMING)
	{
		/* a stream in doubt: is it there? */
		batch->resume = false;
		batch->resuming = true;
		start_probe(shipper, batch);
		return;
	}
	if (batch->resume || batch->resuming)
	{
		/*
		 * Rebuilt after a restart: it may be in Kusto already, or on its
		 * way.  Its status decides: sent again only if it never arrived.
		 */
		batch->resume = false;
		batch->resuming = true;
		batch->polling = true;
		batch->polls = 0;
		strlcpy(batch->source_id, batch->batch_id, sizeof(batch->source_id));
		kusto_get_ingest_status(shipper->client, batch->source_id, batch);
		shipper->running++;
		return;
	}
	batch->resuming = false;
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

static void
describe(char *message, size_t size, const kusto_error *err)
{
	if (err->http_status > 0)
		snprintf(message, size, "%s%s%s (HTTP %ld, %s)",
				 err->code, err->code[0] ? ": " : "", err->message, err->http_status,
				 kusto_status_name(err->status));
	else
		snprintf(message, size, "%s (%s)", err->message, kusto_status_name(err->status));
}

/*
 * What a status read means for the batch: done (acked or failed, with
 * outcome and message) or still pending (false).
 */
static bool
status_outcome(KsBatch *batch, const kusto_ingest_status *st, KsShipOutcome *outcome,
			   char *message, size_t size)
{
	switch (st->state)
	{
		case KUSTO_INGEST_SUCCEEDED:
			*outcome = KS_SHIP_ACKED;
			return true;
		case KUSTO_INGEST_ALREADY_INGESTED:
			if (batch->partial)
			{
				/* the extent with its tag holds only part of it */
				*outcome = KS_SHIP_PERMANENT;
				snprintf(message, size,
						 "batch %s was only partially ingested before; drop the extent tagged ingest-by:%s and retry it",
						 batch->batch_id, batch->batch_id);
				return true;
			}
			*outcome = KS_SHIP_ACKED;
			return true;
		case KUSTO_INGEST_PENDING:
			return false;
		case KUSTO_INGEST_UNKNOWN:
			/* written before the message was queued: give storage a few tries */
			if (batch->polls < 5)
				return false;
			*outcome = KS_SHIP_TRANSIENT;
			snprintf(message, size, "the status of ingestion %s is missing from the status table",
					 batch->source_id);
			return true;
		case KUSTO_INGEST_FAILED:
			*outcome = st->permanent ? KS_SHIP_PERMANENT : KS_SHIP_TRANSIENT;
			break;
		case KUSTO_INGEST_PARTIALLY_SUCCEEDED:
			batch->partial = true;
			*outcome = KS_SHIP_PERMANENT;
			break;
		case KUSTO_INGEST_SKIPPED:
			*outcome = KS_SHIP_PERMANENT;
			break;
	}
	snprintf(message, size, "queued ingestion %s %s: %s%s%s", batch->source_id,
			 kusto_ingest_state_name(st->state), st->error_code,
			 st->error_code[0] && st->details[0] ? ": " : "", st->details);
	return true;
}

/* Starts the status reads that are due; the ms until the next one, or -1. */
static long
start_due_polls(KsShipper *shipper)
{
	TimestampTz now = GetCurrentTimestamp();
	long		next = -1;
	ListCell   *lc;

	foreach(lc, shipper->polling)
	{
		KsBatch    *batch = (KsBatch *) lfirst(lc);

		if (batch->next_poll_at <= now)
		{
			shipper->polling = foreach_delete_current(shipper->polling, lc);
			kusto_get_ingest_status(shipper->client, batch->source_id, batch);
			shipper->running++;
		}
		else
		{
			long		ms = (long) ((batch->next_poll_at - now) / 1000) + 1;

			next = next < 0 ? ms : Min(next, ms);
		}
	}
	return next;
}

static void
poll_later(KsShipper *shipper, KsBatch *batch)
{
	long		ms = KS_POLL_FIRST_MS;
	int			i;

	for (i = 0; i < batch->polls && ms < KS_POLL_MAX_MS; i++)
		ms *= 2;
	batch->polls++;
	batch->polling = true;
	batch->next_poll_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), Min(ms, KS_POLL_MAX_MS));
	shipper->polling = lappend(shipper->polling, batch);
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
	next_poll = start_due_polls(shipper);
	if (shipper->running > 0)
		kusto_client_run(shipper->client, timeout_ms);
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
		KsBatch    *batch = (KsBatch *) user;
		KsShipOutcome outcome = outcome_of(&err);
		char		message[768] = "";
		bool		was_poll = batch->polling;
		bool		was_probe = batch->probing;
		bool		tagless = batch->batch_id[0] != '\0' && !batch->go_queued &&
			shipper->config->ingestion_method != KS_METHOD_QUEUED;
		kusto_ingest_result res = *kusto_op_result(op);
		kusto_ingest_status st = *kusto_op_status(op);
		long long	count = kusto_op_count(op);

		kusto_op_free(op);
		shipper->running--;
		if (err.retry_after_s > 0)
			batch->retry_after_ms = err.retry_after_s * 1000;
		if (outcome != KS_SHIP_ACKED && was_poll && ++batch->poll_failures < KS_POLL_MAX_FAILURES)
		{
			/* the status could not be read: the batch is still on its way */
			poll_later(shipper, batch);
			continue;
		}
		if (was_poll && outcome == KS_SHIP_ACKED)
			batch->poll_failures = 0;
		if (was_probe)
		{
			batch->probing = false;
			if (outcome != KS_SHIP_ACKED)
			{
				/* asked again before the next send */
				char		why[600];

				describe(why, sizeof(why), &err);
				snprintf(message, sizeof(message),
						 "cannot tell whether batch %s is in Kusto table \"%s\": %s",
						 batch->batch_id, batch->kusto_table, why);
				outcome = KS_SHIP_TRANSIENT;
				batch->resume = true;
			}
			else if (count == 0)
			{
				/* not there: send it */
				batch->resuming = false;
				send_batch(shipper, batch);
				continue;
			}
			else
				ereport(LOG,
						(errmsg("kusto_sink sink \"%s\": batch %s is in Kusto already; not sent again",
								shipper->config->name, batch->batch_id)));
		}
		else if (outcome != KS_SHIP_ACKED && tagless && !was_poll &&
				 shipper->config->ingestion_method == KS_METHOD_MANAGED &&
				 (err.http_status == 413 ||
				  strcmp(err.code, "BadRequest_StreamingIngestionPolicyNotEnabled") == 0 ||
				  strcmp(err.code, "Stream_InputStreamTooLarge") == 0))
		{
			/* managed: Kusto refused the stream before storing anything */
			batch->go_queued = true;
			send_batch(shipper, batch);
			continue;
		}
		else if (outcome != KS_SHIP_ACKED)
		{
			describe(message, sizeof(message), &err);
			/* a status that stays unreadable: settled by its status after the pause */
			if (was_poll && batch->batch_id[0] != '\0')
				batch->resume = true;
			/* exactly once: an unanswered queue post is settled by its status */
			if (!was_poll && batch->batch_id[0] != '\0' && res.maybe_queued)
				batch->resume = true;
			/* exactly once, a stream that failed: it may be there, ask first */
			if (!was_poll && tagless && outcome == KS_SHIP_TRANSIENT)
				batch->resume = true;
		}
		else if (was_poll && batch->resuming)
		{
			/* a rebuilt batch: already there, on its way, or to be sent again */
			long long	age = st.updated_at > 0 ? (long long) time(NULL) - st.updated_at : 0;

			/*
			 * Pending: the message was (most likely) queued, so wait for it,
			 * unless nothing moved for longer than the DM ever takes: then
			 * the crash came between the status write and the queue post.
			 */
			if (st.state == KUSTO_INGEST_PENDING && age * 1000 < ks_pending_resend_after_ms)
			{
				poll_later(shipper, batch);
				continue;
			}
			if (st.state == KUSTO_INGEST_PENDING)
				ereport(LOG,
						(errmsg("kusto_sink sink \"%s\": batch %s has been Pending for %lld s; sending it again (Kusto skips it if the first send lands meanwhile)",
								shipper->config->name, batch->batch_id, age)));
			if (st.state == KUSTO_INGEST_PENDING)
				batch->go_queued = true;	/* the second send must carry the tag */
			if ((st.state == KUSTO_INGEST_UNKNOWN || st.state == KUSTO_INGEST_FAILED) &&
				batch->batch_id[0] != '\0' && !batch->go_queued &&
				shipper->config->ingestion_method == KS_METHOD_MANAGED)
			{
				/* managed: never queued, or failed there; was it streamed? */
				start_probe(shipper, batch);
				continue;
			}
			batch->resuming = false;
			if (st.state == KUSTO_INGEST_UNKNOWN || st.state == KUSTO_INGEST_FAILED ||
				st.state == KUSTO_INGEST_PENDING)
			{
				send_batch(shipper, batch);
				continue;
			}
			if (!status_outcome(batch, &st, &outcome, message, sizeof(message)))
			{
				poll_later(shipper, batch);
				continue;
			}
		}
		else if (!was_poll && res.queued)
		{
			/* the queue took it */
			ks_crash_point("after_queue");
			snprintf(batch->source_id, sizeof(batch->source_id), "%s", res.source_id);
			if (shipper->config->poll_for_ingestion_status)
			{
				poll_later(shipper, batch);
				continue;
			}
		}
		else if (was_poll && !status_outcome(batch, &st, &outcome, message, sizeof(message)))
		{
			poll_later(shipper, batch);
			continue;
		}
		batch->polling = false;
		shipper->inflight--;
		finished++;
		done(arg, batch, outcome, outcome == KS_SHIP_ACKED ? NULL : message);
	}
	return finished;
}

int
ks_ship_inflight(KsShipper *shipper)
{
	return shipper->inflight;
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
	describe(message, size, &err);
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
		describe(message, size, &err);
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
