/*-------------------------------------------------------------------------
 *
 * queued.c
 *	  Queued and managed ingestion as operations that advance one request
 *	  at a time inside kusto_client_run(): blob (one PUT, or blocks and a
 *	  block list), status entity (when tracked), queue message; and the
 *	  status lookup of an ingestion by its source id, or of several in one
 *	  status-table query.
 *
 * A storage failure is reported against its account (for ranking) and the
 * step moves on to the next picked resource (at most three); a 401/403/404
 * also invalidates the cached resources.  Managed ingestion streams first
 * and turns queued when the data is over the streaming limit, when the
 * table's streaming policy is off, or when the stream failed transiently
 * (the caller's retry policy handles the rest).
 *
 *-------------------------------------------------------------------------
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kusto_int.h"

#define MAX_TRIES 3

typedef enum qstep
{
	Q_STREAM,					/* managed: the streaming attempt */
	Q_ENTITY,
	Q_BLOB,
	Q_BLOCK,
	Q_BLOCKLIST,
	Q_QUEUE,
	Q_STATUS,
	Q_STATUSES					/* several statuses, one query */
} qstep;

struct kusto_queued
{
	qstep		step;
	char	   *db;
	char	   *table;
	char	   *format;
	char	   *mapping;
	char	   *tags_json;		/* JSON array text, or NULL */
	char	   *iine_json;
	char	   *creation_time;	/* or NULL */
	bool		flush_immediately;
	bool		track_status;
	size_t		raw_size;
	const char *data;
	size_t		len;
	char		source_id[40];
	char	   *blob_name;
	char	   *blob_url;		/* with SAS, once uploaded */
	char	   *urls[KUSTO_RES_NKINDS][MAX_TRIES];	/* picked resources */
	char	   *accounts[KUSTO_RES_NKINDS][MAX_TRIES];
	int			npicked[KUSTO_RES_NKINDS];
	int			tried;			/* index into the current kind's picks */
	int			block;			/* next block */
	int			nblocks;
};

void
kusto_queued_free(kusto_queued *q)
{
	int			k,
				i;

	if (q == NULL)
		return;
	kusto_free(q->db);
	kusto_free(q->table);
	kusto_free(q->format);
	kusto_free(q->mapping);
	kusto_free(q->tags_json);
	kusto_free(q->iine_json);
	kusto_free(q->creation_time);
	kusto_free(q->blob_name);
	kusto_free(q->blob_url);
	for (k = 0; k < KUSTO_RES_NKINDS; k++)
		for (i = 0; i < q->npicked[k]; i++)
		{
			kusto_free(q->urls[k][i]);
			kusto_free(q->accounts[k][i]);
		}
	kusto_free(q);
}

const char *
kusto_ingest_state_name(kusto_ingest_state s)
{
	switch (s)
	{
		case KUSTO_INGEST_PENDING:
			return "Pending";
		case KUSTO_INGEST_SUCCEEDED:
			return "Succeeded";
		case KUSTO_INGEST_ALREADY_INGESTED:
			return "AlreadyIngested";
		case KUSTO_INGEST_FAILED:
			return "Failed";
		case KUSTO_INGEST_PARTIALLY_SUCCEEDED:
			return "PartiallySucceeded";
		case KUSTO_INGEST_SKIPPED:
			return "Skipped";
		case KUSTO_INGEST_UNKNOWN:
			break;
	}
	return "Unknown";
}

static void
iso_now(char *buf, size_t size)
{
	struct timespec ts;
	struct tm	tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%07ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 100);
}

static bool
pick(kusto_client *c, kusto_queued *q, kusto_resource_kind kind)
{
	const kusto_resource *r[MAX_TRIES];
	int			n = kusto_resources_pick(c, kind, r, MAX_TRIES);
	int			i;

	for (i = 0; i < n; i++)
	{
		q->urls[kind][i] = kusto_strdup(r[i]->url);
		q->accounts[kind][i] = kusto_strdup(r[i]->account);
	}
	q->npicked[kind] = n;
	return n > 0;
}

static const char *
mapping_kind(const char *format)
{
	if (strcasecmp(format, "csv") == 0 || strcasecmp(format, "tsv") == 0 ||
		strcasecmp(format, "psv") == 0 || strcasecmp(format, "scsv") == 0 ||
		strcasecmp(format, "sohsv") == 0 || strcasecmp(format, "tsve") == 0 ||
		strcasecmp(format, "txt") == 0 || strcasecmp(format, "raw") == 0)
		return "Csv";
	if (strcasecmp(format, "avro") == 0)
		return "Avro";
	if (strcasecmp(format, "parquet") == 0)
		return "Parquet";
	if (strcasecmp(format, "orc") == 0)
		return "Orc";
	if (strcasecmp(format, "w3clogfile") == 0)
		return "W3CLogFile";
	return "Json";
}

/* ---------- the requests of each step ---------- */

static kusto_request *
entity_request(kusto_client *c, kusto_queued *q)
{
	char	   *suffix;
	char	   *url;
	char	   *text;
	char		now[64];
	char	   *path_noq = kusto_url_without_query(q->blob_url);
	json_t	   *e;
	kusto_request *req;

	/* InsertOrReplace: a re-sent ingestion with the same id starts Pending again */
	suffix = kusto_asprintf("(PartitionKey='%s',RowKey='%s')", q->source_id, q->source_id);
	url = kusto_storage_url(q->urls[KUSTO_RES_STATUS_TABLE][0], suffix, NULL);
	kusto_free(suffix);
	iso_now(now, sizeof(now));
	e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
				  "PartitionKey", q->source_id, "RowKey", q->source_id, "Status", "Pending",
				  "IngestionSourceId", q->source_id, "IngestionSourcePath", path_noq,
				  "Database", q->db, "Table", q->table, "UpdatedOn", now, "Details", "");
	text = json_dumps(e, JSON_COMPACT);
	json_decref(e);
	req = kusto_request_new(c, url, "application/json", NULL, text, strlen(text), NULL);
	kusto_request_set_timeout(req, c, KUSTO_TIMEOUT_STORAGE);
	kusto_request_set_method(req, "PUT");
	kusto_request_set_header(req, "Accept: application/json;odata=nometadata");
	kusto_request_set_header(req, "x-ms-version: 2019-02-02");
	/* the body must outlive the request: curl does not copy it */
	curl_easy_setopt(req->easy, CURLOPT_COPYPOSTFIELDS, text);
	kusto_free(text);
	kusto_free(url);
	kusto_free(path_noq);
	return req;
}

static char *
block_id(int i)
{
	char		raw[32];

	snprintf(raw, sizeof(raw), "kusto_sink-block-%06d", i);
	return kusto_base64(raw, strlen(raw));
}

static kusto_request *
blob_request(kusto_client *c, kusto_queued *q)
{
	const char *root = q->urls[KUSTO_RES_CONTAINER][q->tried];
	char	   *suffix = kusto_asprintf("/%s", q->blob_name);
	char	   *url;
	kusto_request *req;

	if (q->step == Q_BLOB)
	{
		url = kusto_storage_url(root, suffix, NULL);
		req = kusto_request_new(c, url, "application/octet-stream", NULL, q->data, q->len, NULL);
		kusto_request_set_header(req, "x-ms-blob-type: BlockBlob");
	}
	else if (q->step == Q_BLOCK)
	{
		char	   *id = block_id(q->block);
		char	   *eid = curl_easy_escape(NULL, id, 0);
		char	   *query = kusto_asprintf("comp=block&blockid=%s", eid);
		size_t		off = (size_t) q->block * c->block_size;
		size_t		n = q->len - off < c->block_size ? q->len - off : c->block_size;

		url = kusto_storage_url(root, suffix, query);
		kusto_free(query);
		req = kusto_request_new(c, url, "application/octet-stream", NULL, q->data + off, n, NULL);
		curl_free(eid);
		kusto_free(id);
	}
	else
	{
		kusto_buf	xml = {0};
		int			i;
		static const char head[] = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>";

		kusto_buf_append(&xml, head, strlen(head));
		for (i = 0; i < q->nblocks; i++)
		{
			char	   *id = block_id(i);

			kusto_buf_append(&xml, "<Latest>", strlen("<Latest>"));
			kusto_buf_append(&xml, id, strlen(id));
			kusto_buf_append(&xml, "</Latest>", strlen("</Latest>"));
			kusto_free(id);
		}
		/* the XML text alone: a NUL after it is not well-formed XML to Azure */
		kusto_buf_append(&xml, "</BlockList>", strlen("</BlockList>"));
		url = kusto_storage_url(root, suffix, "comp=blocklist");
		req = kusto_request_new(c, url, "application/xml", NULL, xml.data, xml.len, NULL);
		curl_easy_setopt(req->easy, CURLOPT_COPYPOSTFIELDS, xml.data);
		kusto_buf_free(&xml);
	}
	kusto_request_set_method(req, "PUT");
	kusto_request_set_timeout(req, c, KUSTO_TIMEOUT_STORAGE);
	kusto_request_set_header(req, "x-ms-version: 2021-08-06");
	kusto_free(url);
	kusto_free(suffix);
	return req;
}

static kusto_request *
queue_request(kusto_client *c, kusto_queued *q)
{
	json_t	   *m;
	json_t	   *props;
	char		now[64];
	char	   *text;
	char	   *b64;
	char	   *body;
	size_t		n;
	char	   *url;
	kusto_request *req;

	iso_now(now, sizeof(now));
	props = json_pack("{s:s, s:s}", "authorizationContext", kusto_resources_auth_context(c),
					  "format", q->format);
	/* only when asked: the SDKs never set it, and it changes how Kusto batches */
	if (q->creation_time)
		json_object_set_new(props, "creationTime", json_string(q->creation_time));
	if (q->mapping)
	{
		json_object_set_new(props, "ingestionMappingReference", json_string(q->mapping));
		json_object_set_new(props, "ingestionMappingType", json_string(mapping_kind(q->format)));
	}
	if (q->tags_json)
		json_object_set_new(props, "tags", json_string(q->tags_json));
	if (q->iine_json)
		json_object_set_new(props, "ingestIfNotExists", json_string(q->iine_json));
	m = json_pack("{s:s, s:s, s:I, s:s, s:s, s:b, s:b, s:b, s:i, s:i, s:s, s:s, s:s, s:o}",
				  "Id", q->source_id, "BlobPath", q->blob_url, "RawDataSize", (json_int_t) q->raw_size,
				  "DatabaseName", q->db, "TableName", q->table, "RetainBlobOnSuccess", 1,
				  "FlushImmediately", q->flush_immediately, "IgnoreSizeLimit", 0,
				  "ReportLevel", q->track_status ? 2 : 0, "ReportMethod", q->track_status ? 1 : 0,
				  "SourceMessageCreationTime", now, "ApplicationForTracing", c->app_name,
				  "ClientVersionForTracing", "Kusto.kusto_sink:{1.0.0}", "AdditionalProperties", props);
	if (q->track_status)
		json_object_set_new(m, "IngestionStatusInTable",
							json_pack("{s:s, s:s, s:s}", "TableConnectionString",
									  q->urls[KUSTO_RES_STATUS_TABLE][0],
									  "PartitionKey", q->source_id, "RowKey", q->source_id));
	text = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	b64 = kusto_base64(text, strlen(text));
	n = strlen(b64) + 64;
	body = kusto_malloc(n);
	snprintf(body, n, "<QueueMessage><MessageText>%s</MessageText></QueueMessage>", b64);
	url = kusto_storage_url(q->urls[KUSTO_RES_QUEUE][q->tried], "/messages", NULL);
	req = kusto_request_new(c, url, "application/xml", NULL, body, strlen(body), NULL);
	kusto_request_set_timeout(req, c, KUSTO_TIMEOUT_STORAGE);
	kusto_request_no_resend(req, body, strlen(body), true);
	kusto_request_set_header(req, "x-ms-version: 2021-08-06");
	kusto_free(url);
	kusto_free(body);
	kusto_free(b64);
	kusto_free(text);
	return req;
}

/* The first request of the blob upload on the current container. */
static kusto_request *
start_blob(kusto_client *c, kusto_queued *q)
{
	if (q->len > c->block_threshold)
	{
		q->step = Q_BLOCK;
		q->block = 0;
		q->nblocks = (int) ((q->len + c->block_size - 1) / c->block_size);
	}
	else
		q->step = Q_BLOB;
	return blob_request(c, q);
}

/*
 * Turns an operation queued: fresh resources, picks, the first request.
 * False (and op->err) when it cannot start.
 */
static bool
start_queued(kusto_client *c, kusto_op *op)
{
	kusto_queued *q = op->q;
	char	   *name;

	op->result.queued = true;
	if (!kusto_resources_refresh(c, &op->err))
		return false;
	if (!pick(c, q, KUSTO_RES_CONTAINER) || !pick(c, q, KUSTO_RES_QUEUE) ||
		(q->track_status && !pick(c, q, KUSTO_RES_STATUS_TABLE)))
	{
		kusto_error_set(&op->err, KUSTO_ERR_TRANSIENT, 0, "NoIngestionResources",
						"the cluster offers no %s for queued ingestion",
						q->npicked[KUSTO_RES_CONTAINER] == 0 ? "blob container" :
						q->npicked[KUSTO_RES_QUEUE] == 0 ? "queue" : "status table");
		kusto_resources_invalidate(c);
		return false;
	}
	name = kusto_asprintf("%s__%s__%s.%s.gz", q->db, q->table, q->source_id, q->format);
	q->blob_name = curl_easy_escape(NULL, name, 0);
	kusto_free(name);
	{
		/* curl's allocation: keep ours for kusto_free */
		char	   *mine = kusto_strdup(q->blob_name);

		curl_free(q->blob_name);
		q->blob_name = mine;
	}
	q->tried = 0;
	op->req = start_blob(c, q);
	return true;
}

static char *
json_list(const char *const *items, int n)
{
	json_t	   *a = json_array();
	char	   *out;
	int			i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(items[i]));
	out = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return out;
}

static kusto_op *
new_op(kusto_op_kind kind, const char *db, const char *table, const kusto_ingest_options *o,
	   const void *gz, size_t gz_len, void *user)
{
	kusto_op   *op = kusto_malloc(sizeof(kusto_op));
	kusto_queued *q = kusto_malloc(sizeof(kusto_queued));

	memset(op, 0, sizeof(*op));
	memset(q, 0, sizeof(*q));
	kusto_error_clear(&op->err);
	op->kind = kind;
	op->user = user;
	op->q = q;
	q->db = kusto_strdup(db);
	q->table = kusto_strdup(table);
	q->format = kusto_strdup(o->format ? o->format : "csv");
	q->mapping = kusto_strdup(o->mapping);
	if (o->ntags > 0)
		q->tags_json = json_list(o->tags, o->ntags);
	if (o->ingest_if_not_exists)
		q->iine_json = json_list(&o->ingest_if_not_exists, 1);
	q->creation_time = kusto_strdup(o->creation_time);
	q->flush_immediately = o->flush_immediately;
	q->track_status = o->track_status;
	q->raw_size = o->raw_size;
	q->data = gz;
	q->len = gz_len;
	if (o->source_id && strlen(o->source_id) >= sizeof(q->source_id))
		kusto_error_set(&op->err, KUSTO_ERR_PERMANENT, 0, "BadSourceId",
						"a source_id is a GUID of 36 characters, not %zu", strlen(o->source_id));
	else if (o->source_id)
		snprintf(q->source_id, sizeof(q->source_id), "%s", o->source_id);
	else
	{
		char	   *g = kusto_guid();

		snprintf(q->source_id, sizeof(q->source_id), "%s", g);
		kusto_free(g);
	}
	snprintf(op->result.source_id, sizeof(op->result.source_id), "%s", q->source_id);
	return op;
}

kusto_op *
kusto_queued_ingest(kusto_client *c, const char *db, const char *table,
					const kusto_ingest_options *o, const void *gz, size_t gz_len, void *user)
{
	kusto_op   *op = new_op(KUSTO_OP_QUEUED, db, table, o, gz, gz_len, user);

	if (op->err.status != KUSTO_OK || !kusto_token(c, &op->err))
		return kusto_op_start(c, op);
	start_queued(c, op);
	return kusto_op_start(c, op);
}

static bool
code_has(const kusto_error *err, const char *what)
{
	return strstr(err->code, what) != NULL;
}

bool
kusto_cluster_streaming_off_text(const char *text)
{
	return text != NULL && (strstr(text, "StreamingIngestionDisabledForCluster") != NULL ||
							strstr(text, "StreamingIngestionFunctionalityDisabled") != NULL);
}

bool
kusto_streaming_off_text(const char *text)
{
	return text != NULL && (strstr(text, "StreamingIngestionPolicyNotEnabled") != NULL ||
							kusto_cluster_streaming_off_text(text));
}

bool
kusto_streaming_off(const kusto_error *err)
{
	return kusto_streaming_off_text(err->code) ||
		(err->http_status == 404 && err->status == KUSTO_ERR_PERMANENT &&
		 !code_has(err, "EntityNotFound"));	/* no streaming endpoint at all */
}

bool
kusto_managed_fallback(const kusto_error *err, int *memo_s)
{
	*memo_s = 0;
	if (kusto_streaming_off(err) || code_has(err, "UpdatePolicyIncompatible") ||
		code_has(err, "QuerySchemaDoesNotMatchTableSchema"))
	{
		*memo_s = KUSTO_STREAMING_OFF_S;
		return true;
	}
	if (err->http_status == 413 || code_has(err, "FileTooLarge") || code_has(err, "InputStreamTooLarge"))
		return true;
	if (err->status == KUSTO_ERR_THROTTLED)
	{
		*memo_s = KUSTO_STREAMING_THROTTLED_S;
		return true;
	}
	return err->status == KUSTO_ERR_TRANSIENT;
}

const char *
kusto_streaming_unavailable(kusto_client *c, const char *db, const char *table)
{
	return kusto_streaming_memo_find(c, db, table);
}

void
kusto_streaming_note(kusto_client *c, const char *db, const char *table, const kusto_error *err)
{
	int			memo_s;

	if (kusto_managed_fallback(err, &memo_s) && memo_s > 0)
		kusto_streaming_memo_note(c, db, table, memo_s, err->code[0] ? err->code : "NotFound");
}

kusto_op *
kusto_managed_ingest(kusto_client *c, const char *db, const char *table,
					 const kusto_ingest_options *o, const void *gz, size_t gz_len, void *user)
{
	kusto_op   *op = new_op(KUSTO_OP_MANAGED, db, table, o, gz, gz_len, user);
	const char *off;

	if (op->err.status != KUSTO_OK)
		return kusto_op_start(c, op);	/* refused (never cut) */
	if ((off = kusto_streaming_memo_find(c, db, table)) != NULL)
	{
		/* the table cannot stream for now (streaming_memo.c) */
		snprintf(op->result.streaming_off, sizeof(op->result.streaming_off), "%s", off);
		start_queued(c, op);
	}
	else if (o->raw_size > KUSTO_STREAMING_LIMIT || o->ntags > 0 || o->ingest_if_not_exists)
		start_queued(c, op);	/* too large, or needs what only queued ingestion carries */
	else
	{
		op->q->step = Q_STREAM;
		op->req = kusto_stream_request(c, db, table, op->q->format, op->q->mapping, gz, gz_len, &op->err);
	}
	return kusto_op_start(c, op);
}

/*
 * The status table to read source_id's status from: where it was written
 * (status_book.c), else the current one.  False with op->err set when there
 * is none.
 */
static bool
status_table(kusto_client *c, kusto_op *op, const char *source_id)
{
	kusto_queued *q = op->q;
	const char *written = kusto_status_book_find(c, source_id);

	if (written != NULL)
	{
		q->urls[KUSTO_RES_STATUS_TABLE][0] = kusto_strdup(written);
		q->accounts[KUSTO_RES_STATUS_TABLE][0] = kusto_storage_account(written);
		q->npicked[KUSTO_RES_STATUS_TABLE] = 1;
		return true;
	}
	if (!kusto_resources_refresh(c, &op->err))
		return false;
	if (!pick(c, q, KUSTO_RES_STATUS_TABLE))
	{
		kusto_error_set(&op->err, KUSTO_ERR_PERMANENT, 0, "NoStatusTable",
						"the cluster offers no ingestion status table");
		return false;
	}
	return true;
}

static kusto_op *
new_status_op(kusto_op_kind kind, qstep step, void *user)
{
	kusto_op   *op = kusto_malloc(sizeof(kusto_op));
	kusto_queued *q = kusto_malloc(sizeof(kusto_queued));

	memset(op, 0, sizeof(*op));
	memset(q, 0, sizeof(*q));
	op->kind = kind;
	op->user = user;
	op->q = q;
	q->step = step;
	return op;
}

static void
status_request(kusto_client *c, kusto_op *op, const char *suffix, const char *query)
{
	char	   *url = kusto_storage_url(op->q->urls[KUSTO_RES_STATUS_TABLE][0], suffix, query);

	op->req = kusto_request_new(c, url, NULL, NULL, NULL, 0, NULL);
	kusto_request_set_timeout(op->req, c, KUSTO_TIMEOUT_STORAGE);
	kusto_request_set_header(op->req, "Accept: application/json;odata=nometadata");
	kusto_request_set_header(op->req, "x-ms-version: 2019-02-02");
	kusto_free(url);
}

kusto_op *
kusto_get_ingest_status(kusto_client *c, const char *source_id, void *user)
{
	kusto_op   *op = new_status_op(KUSTO_OP_STATUS, Q_STATUS, user);
	char	   *suffix;

	/* the status's copy is for show; the request uses source_id whole */
	snprintf(op->status.source_id, sizeof(op->status.source_id), "%s", source_id);
	if (!status_table(c, op, source_id))
		return kusto_op_start(c, op);
	suffix = kusto_asprintf("(PartitionKey='%s',RowKey='%s')", source_id, source_id);
	status_request(c, op, suffix, NULL);
	kusto_free(suffix);
	return kusto_op_start(c, op);
}

/* Whether the statuses of a and b are read from the same status table. */
bool
kusto_status_same_table(kusto_client *c, const char *a, const char *b)
{
	const char *ta = kusto_status_book_find(c, a);
	const char *tb = kusto_status_book_find(c, b);

	return ta == tb || (ta != NULL && tb != NULL && strcmp(ta, tb) == 0);
}

/* Appends text to buf percent-encoded (RFC 3986: all but the unreserved). */
static void
append_encoded(kusto_buf *buf, const char *text)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	for (p = (const unsigned char *) text; *p; p++)
	{
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
			*p == '-' || *p == '_' || *p == '.' || *p == '~')
			kusto_buf_append(buf, (const char *) p, 1);
		else
		{
			char		e[3] = {'%', hex[*p >> 4], hex[*p & 15]};

			kusto_buf_append(buf, e, 3);
		}
	}
}

/*
 * Reads the statuses of n ingestions (at most KUSTO_STATUS_READ_MAX) in one
 * status-table query: $filter=PartitionKey eq 'a' or PartitionKey eq 'b' ...
 * (the status entity's PartitionKey and RowKey are both its source id; Azure
 * Table allows at most 15 comparisons in a filter).  Read from the table of
 * source_ids[0]; an id whose status lives in another table is not read.
 */
kusto_op *
kusto_get_ingest_statuses(kusto_client *c, const char *const *source_ids, int n, void *user)
{
	kusto_op   *op = new_status_op(KUSTO_OP_STATUS, Q_STATUSES, user);
	kusto_buf	filter;
	int			i;
	bool		first = true;

	if (n > KUSTO_STATUS_READ_MAX)
		n = KUSTO_STATUS_READ_MAX;	/* (the caller's mistake: the rest is not asked) */
	op->statuses = kusto_malloc(sizeof(kusto_ingest_status) * n);
	memset(op->statuses, 0, sizeof(kusto_ingest_status) * n);
	op->nstatuses = n;
	memset(&filter, 0, sizeof(filter));
	kusto_buf_append(&filter, "$filter=", 8);
	for (i = 0; i < n; i++)
	{
		kusto_ingest_status *s = &op->statuses[i];
		char	   *cmp;
		const char *p;
		kusto_buf	lit;

		snprintf(s->source_id, sizeof(s->source_id), "%s", source_ids[i]);
		s->state = KUSTO_INGEST_UNKNOWN;
		s->unread = true;
		if (i > 0 && !kusto_status_same_table(c, source_ids[0], source_ids[i]))
			continue;			/* another table's: not read here */
		/* an OData string literal: a quote doubled */
		memset(&lit, 0, sizeof(lit));
		for (p = source_ids[i]; *p; p++)
		{
			if (*p == '\'')
				kusto_buf_append(&lit, "'", 1);
			kusto_buf_append(&lit, p, 1);
		}
		kusto_buf_append(&lit, "", 1);
		cmp = kusto_asprintf("%sPartitionKey eq '%s'", first ? "" : " or ", lit.data);
		kusto_free(lit.data);
		append_encoded(&filter, cmp);
		kusto_free(cmp);
		first = false;
	}
	kusto_buf_append(&filter, "", 1);
	if (status_table(c, op, source_ids[0]))
		status_request(c, op, "()", filter.data);
	kusto_free(filter.data);
	return kusto_op_start(c, op);
}

/* Fills s from a status entity (a JSON object, or NULL: none). */
static void
parse_entity(const json_t *e, kusto_ingest_status *s)
{
	const char *st = json_string_value(json_object_get(e, "Status"));
	const char *code = json_string_value(json_object_get(e, "ErrorCode"));
	const char *fs = json_string_value(json_object_get(e, "FailureStatus"));
	const char *details = json_string_value(json_object_get(e, "Details"));

	s->state = KUSTO_INGEST_UNKNOWN;
	s->unread = false;
	if (code && strcmp(code, "Skipped_IngestByTagAlreadyExists") == 0)
		s->state = KUSTO_INGEST_ALREADY_INGESTED;	/* the ErrorCode is authoritative */
	else if (st == NULL)
		s->state = KUSTO_INGEST_UNKNOWN;
	else if (strcmp(st, "Pending") == 0)
		s->state = KUSTO_INGEST_PENDING;
	else if (strcmp(st, "Succeeded") == 0)
		s->state = KUSTO_INGEST_SUCCEEDED;
	else if (strcmp(st, "Failed") == 0)
		s->state = KUSTO_INGEST_FAILED;
	else if (strcmp(st, "PartiallySucceeded") == 0)
		s->state = KUSTO_INGEST_PARTIALLY_SUCCEEDED;
	else if (strcmp(st, "Skipped") == 0)
		s->state = KUSTO_INGEST_SKIPPED;
	s->permanent = fs != NULL && strcmp(fs, "Transient") != 0;
	if (code && strcmp(code, "BlobAlreadyReceived_BlobAlreadyFoundInBatch") == 0)
	{
		/*
		 * A re-sent message whose blob was still in its first message's
		 * ingestion batch (the same blob name, the same status entity): Kusto
		 * calls it permanent, but it says nothing of the blob, which the
		 * other message ingests (or not), and its report may land on the
		 * shared entity after that one's.  Transient: the caller looks again
		 * or sends again, which under an ingest-by tag adds nothing.
		 */
		s->state = KUSTO_INGEST_FAILED;
		s->permanent = false;
	}
	s->updated_at = 0;
	{
		/* the table service's own Timestamp of the entity's last change */
		const char *ts = json_string_value(json_object_get(e, "Timestamp"));
		struct tm	tm;

		memset(&tm, 0, sizeof(tm));
		if (ts && sscanf(ts, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
						 &tm.tm_hour, &tm.tm_min, &tm.tm_sec) == 6)
		{
			tm.tm_year -= 1900;
			tm.tm_mon -= 1;
			s->updated_at = (long long) timegm(&tm);
		}
	}
	snprintf(s->error_code, sizeof(s->error_code), "%s", code ? code : "");
	snprintf(s->details, sizeof(s->details), "%s", details ? details : "");
	kusto_redact_inplace(s->details);
}

static void
parse_status(kusto_op *op, const kusto_request *req)
{
	json_error_t jerr;
	json_t	   *e = json_loadb(req->response.data, req->response.len, 0, &jerr);

	parse_entity(e, &op->status);
	if (e)
		json_decref(e);
}

/*
 * The answer of kusto_get_ingest_statuses: {"value": [entity, ...]}.  An id
 * the answer lacks stays unread (Unknown): a query over several partitions
 * may end early with a continuation, so only a read of that entity alone
 * (404) tells that it has none.
 */
static void
parse_statuses(kusto_op *op, const kusto_request *req)
{
	json_error_t jerr;
	json_t	   *doc = json_loadb(req->response.data, req->response.len, 0, &jerr);
	json_t	   *value = json_object_get(doc, "value");
	size_t		k;
	json_t	   *e;

	json_array_foreach(value, k, e)
	{
		const char *pk = json_string_value(json_object_get(e, "PartitionKey"));
		int			i;

		for (i = 0; pk != NULL && i < op->nstatuses; i++)
			if (strcmp(op->statuses[i].source_id, pk) == 0)
				parse_entity(e, &op->statuses[i]);
	}
	if (doc)
		json_decref(doc);
}

/*
 * Called by kusto_client_run() when the operation's request is done: moves
 * to the next step (true: a new request is in flight) or finishes (false,
 * with op->err set on failure).
 */
bool
kusto_queued_advance(kusto_client *c, kusto_op *op)
{
	kusto_queued *q = op->q;
	kusto_request *req = op->req;
	bool		failed = kusto_request_failed(req);
	kusto_resource_kind kind = q->step == Q_QUEUE ? KUSTO_RES_QUEUE :
		q->step == Q_ENTITY || q->step == Q_STATUS ? KUSTO_RES_STATUS_TABLE : KUSTO_RES_CONTAINER;

	op->req = NULL;
	switch (q->step)
	{
		case Q_STREAM:
			if (!failed)
			{
				kusto_request_free(req);
				return false;
			}
			kusto_request_outcome(req, &op->err);
			kusto_request_free(req);
			{
				int			memo_s;

				if (!kusto_managed_fallback(&op->err, &memo_s))
					return false;
				if (memo_s > 0)
				{
					kusto_streaming_memo_note(c, q->db, q->table, memo_s,
											  op->err.code[0] ? op->err.code : "NotFound");
					if (memo_s == KUSTO_STREAMING_OFF_S)
						snprintf(op->result.streaming_off, sizeof(op->result.streaming_off), "%s",
								 op->err.code[0] ? op->err.code : "NotFound");
				}
				kusto_error_clear(&op->err);
				if (!start_queued(c, op))
					return false;
				op->req->owner = op;
				kusto_request_submit(c, op->req);
				return true;
			}

		case Q_STATUSES:
			if (!failed)
				parse_statuses(op, req);
			else
			{
				kusto_error_from_storage(&op->err, req);
				if (op->err.status == KUSTO_ERR_AUTH)
					kusto_resources_invalidate(c);
			}
			kusto_request_free(req);
			return false;

		case Q_STATUS:
			if (!failed)
				parse_status(op, req);
			else if (req->curl_rc == CURLE_OK && req->http_status == 404)
				op->status.state = KUSTO_INGEST_UNKNOWN;
			else
			{
				kusto_error_from_storage(&op->err, req);
				if (op->err.status == KUSTO_ERR_AUTH)
					kusto_resources_invalidate(c);
			}
			kusto_request_free(req);
			return false;

		default:
			break;
	}

	kusto_resources_report(c, q->accounts[kind][kind == KUSTO_RES_STATUS_TABLE ? 0 : q->tried], !failed);
	if (failed)
	{
		if (q->step == Q_QUEUE && req->curl_rc != CURLE_OK)
			op->result.maybe_queued = true;
		kusto_error_from_storage(&op->err, req);
		kusto_request_free(req);
		if (op->err.status == KUSTO_ERR_AUTH || op->err.http_status == 404)
			kusto_resources_invalidate(c);
		op->result.storage_attempts++;
		if (op->err.status == KUSTO_ERR_CANCELLED || q->step == Q_ENTITY ||
			q->tried + 1 >= q->npicked[kind])
			return false;
		/* the next resource of the same kind */
		q->tried++;
		kusto_error_clear(&op->err);
		op->req = q->step == Q_QUEUE ? queue_request(c, q) : start_blob(c, q);
	}
	else
	{
		kusto_request_free(req);
		switch (q->step)
		{
			case Q_ENTITY:
				/* the message will name this table: its status is read there */
				kusto_status_book_note(c, q->source_id, q->urls[KUSTO_RES_STATUS_TABLE][0]);
				q->step = Q_QUEUE;
				q->tried = 0;
				op->req = queue_request(c, q);
				break;
			case Q_BLOCK:
				if (++q->block < q->nblocks)
				{
					op->req = blob_request(c, q);
					break;
				}
				q->step = Q_BLOCKLIST;
				op->req = blob_request(c, q);
				break;
			case Q_BLOB:
			case Q_BLOCKLIST:
				{
					char	   *suffix = kusto_asprintf("/%s", q->blob_name);

					op->result.storage_attempts++;
					q->blob_url = kusto_storage_url(q->urls[KUSTO_RES_CONTAINER][q->tried], suffix, NULL);
					kusto_free(suffix);
					q->tried = 0;
					if (q->track_status)
					{
						/* Pending only once the blob is there: a status says the message is due */
						q->step = Q_ENTITY;
						op->req = entity_request(c, q);
					}
					else
					{
						q->step = Q_QUEUE;
						op->req = queue_request(c, q);
					}
				}
				break;
			case Q_QUEUE:
				op->result.storage_attempts++;
				return false;	/* accepted: done */
			default:
				return false;
		}
	}
	op->req->owner = op;
	kusto_request_submit(c, op->req);
	return true;
}
