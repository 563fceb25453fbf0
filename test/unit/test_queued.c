/*
 * Queued and managed ingestion in the ingest core: storage URLs for
 * host-style and path-style (Azurite) accounts, the DM endpoint, SAS
 * redaction, base64 (pure); then against the emulator (KUSTO_EMULATOR_URL):
 * queued ingestion with the status table (rows verified by a query), dedup
 * by ingest-by tag, block upload, storage faults moving on to the next
 * container, DM failures (transient, permanent, partial), status of an
 * unknown id, several statuses in one request, and managed ingestion on
 * both of its paths.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "../../src/kusto/kusto_int.h"
#include "unit.h"
#include "emulator.h"

#define client(block_threshold) emu_client("dev-secret", (block_threshold))
#define count_rows(c, table) emu_count((c), "qdb", (table))
#define mgmt(c, csl) emu_mgmt((c), "qdb", (csl))

/* runs op to its end: its error status; the result is copied out */
static kusto_status
finish(kusto_client *c, kusto_error *err, kusto_ingest_result *result, kusto_ingest_status *status)
{
	kusto_op   *op;
	void	   *user;

	while ((op = kusto_client_done(c, &user, err)) == NULL)
		kusto_client_run(c, 100);
	if (result)
		*result = *kusto_op_result(op);
	if (status)
		*status = *kusto_op_status(op);
	kusto_op_free(op);
	return err->status;
}

/* polls the status table until the ingestion is no longer pending (10 s at most) */
static kusto_ingest_state
wait_status(kusto_client *c, const char *id, kusto_ingest_status *st)
{
	kusto_error err;
	int			i;

	for (i = 0; i < 200; i++)
	{
		kusto_get_ingest_status(c, id, NULL);
		if (finish(c, &err, NULL, st) != KUSTO_OK)
		{
			printf("# status: %s\n", err.message);
			return KUSTO_INGEST_UNKNOWN;
		}
		if (st->state != KUSTO_INGEST_PENDING)
			return st->state;
		usleep(50 * 1000);
	}
	return KUSTO_INGEST_PENDING;
}

/* reads n statuses in one request (kusto_get_ingest_statuses) into out */
static kusto_status
statuses(kusto_client *c, const char *const *ids, int n, kusto_error *err, kusto_ingest_status *out)
{
	kusto_op   *op;
	void	   *user;
	int			i;

	kusto_get_ingest_statuses(c, ids, n, NULL);
	while ((op = kusto_client_done(c, &user, err)) == NULL)
		kusto_client_run(c, 100);
	for (i = 0; i < n && i < kusto_op_nstatuses(op); i++)
		out[i] = *kusto_op_status_at(op, i);
	if (kusto_op_nstatuses(op) != n)
		err->status = KUSTO_ERR_PERMANENT;
	kusto_op_free(op);
	return err->status;
}

static kusto_status
queued(kusto_client *c, const char *table, const char *text, kusto_ingest_options *o,
	   kusto_error *err, kusto_ingest_result *res)
{
	static unsigned char gz[1 << 20];
	size_t		len = gzip_text(text, gz, sizeof(gz));

	o->raw_size = strlen(text);
	kusto_queued_ingest(c, "qdb", table, o, gz, len, NULL);
	return finish(c, err, res, NULL);
}

static void
pure_tests(void)
{
	char	   *s;

	s = kusto_storage_url("https://acct.blob.core.windows.net/c1?sv=1&sig=abc", "/b.csv.gz", NULL);
	CHECK_STR(s, "https://acct.blob.core.windows.net/c1/b.csv.gz?sv=1&sig=abc", "blob URL, host-style account");
	kusto_free(s);
	s = kusto_storage_url("http://127.0.0.1:10000/devstoreaccount1/c1?sv=1", "/b.gz", "comp=block&blockid=QQ%3D%3D");
	CHECK_STR(s, "http://127.0.0.1:10000/devstoreaccount1/c1/b.gz?comp=block&blockid=QQ%3D%3D&sv=1",
			  "block URL, path-style (Azurite) account, extra query before the SAS");
	kusto_free(s);
	s = kusto_storage_url("https://a.table.core.windows.net/status?sig=x", "(PartitionKey='1',RowKey='1')", NULL);
	CHECK_STR(s, "https://a.table.core.windows.net/status(PartitionKey='1',RowKey='1')?sig=x", "table entity URL");
	kusto_free(s);
	s = kusto_storage_account("https://acct2.queue.core.windows.net/q?sig=x");
	CHECK_STR(s, "acct2", "account of a host-style URL");
	kusto_free(s);
	s = kusto_storage_account("http://127.0.0.1:10001/devstoreaccount1/q?sig=x");
	CHECK_STR(s, "127.0.0.1:10001/devstoreaccount1", "account of a path-style URL");
	kusto_free(s);
	s = kusto_dm_url("https://mycluster.westeurope.kusto.windows.net");
	CHECK_STR(s, "https://ingest-mycluster.westeurope.kusto.windows.net", "DM endpoint: ingest- prefix");
	kusto_free(s);
	s = kusto_dm_url("http://127.0.0.1:8080");
	CHECK_STR(s, "http://127.0.0.1:8080", "DM endpoint: loopback unchanged");
	kusto_free(s);
	s = kusto_redact("PUT https://a/c/b?sv=2019&sig=Zm9vYmFyYmF6cXV4%3D&se=1 failed; sig=abcdefghij\"");
	CHECK_STR(s, "PUT https://a/c/b?sv=2019&sig=REDACTED&se=1 failed; sig=REDACTED\"", "SAS signatures redacted");
	kusto_free(s);
	s = kusto_base64("kusto", 5);
	CHECK_STR(s, "a3VzdG8=", "base64");
	kusto_free(s);
}

int
main(void)
{
	kusto_client *c;
	kusto_client *blocks;
	kusto_error err;
	kusto_ingest_result res;
	kusto_ingest_status st;
	kusto_ingest_options o;
	const char *tag_items[] = {"ingest-by:batch-7", "drop-by:2026"};
	char		id[40];
	char		big[20000];
	int			i;

	pure_tests();
	url = getenv("KUSTO_EMULATOR_URL");
	if (url == NULL)
	{
		printf("not ok - KUSTO_EMULATOR_URL is not set\n");
		return 1;
	}
	c = client(0);
	mgmt(c, ".create table Q (id:long, name:string)");
	mgmt(c, ".create table Q ingestion json mapping \"qm\" '[{\"column\":\"id\",\"path\":\"$.k\"},{\"column\":\"name\",\"path\":\"$.n\"}]'");

	/* queued with the status table, a mapping, tags and ingestIfNotExists */
	memset(&o, 0, sizeof(o));
	o.format = "json";
	o.mapping = "qm";
	o.track_status = true;
	o.tags = tag_items;
	o.ntags = 2;
	o.ingest_if_not_exists = "batch-7";
	CHECK(queued(c, "Q", "{\"k\":1,\"n\":\"a\"}\n{\"k\":2,\"n\":\"b\"}\n", &o, &err, &res) == KUSTO_OK,
		  "queued ingestion: the queue accepted the message");
	if (err.status != KUSTO_OK)
		printf("# %s\n", err.message);
	CHECK(res.queued && strlen(res.source_id) == 36, "queued: the result names a GUID source id");
	snprintf(id, sizeof(id), "%s", res.source_id);
	CHECK(wait_status(c, id, &st) == KUSTO_INGEST_SUCCEEDED, "queued: the status table says Succeeded");
	CHECK(st.updated_at > 0 && llabs((long long) time(NULL) - st.updated_at) < 120,
		  "the status carries the time of its last change");
	CHECK(count_rows(c, "Q") == 2, "queued: both rows are in the table");

	/* the same batch again under the same id: already ingested, nothing added */
	o.source_id = id;
	CHECK(queued(c, "Q", "{\"k\":1,\"n\":\"a\"}\n{\"k\":2,\"n\":\"b\"}\n", &o, &err, &res) == KUSTO_OK,
		  "re-send under the same source id accepted");
	CHECK(wait_status(c, id, &st) == KUSTO_INGEST_ALREADY_INGESTED,
		  "re-send: Skipped_IngestByTagAlreadyExists is recognised as already ingested");
	CHECK_STR(st.error_code, "Skipped_IngestByTagAlreadyExists", "re-send: the error code is kept");
	CHECK(count_rows(c, "Q") == 2, "re-send: no duplicate");

	/*
	 * Kusto rotates its status tables: a status is read from the table it was
	 * written to, also once the cached resources name a newer one.
	 */
	{
		char		before[40];

		memset(&o, 0, sizeof(o));
		o.format = "json";
		o.mapping = "qm";
		o.track_status = true;
		CHECK(queued(c, "Q", "{\"k\":3,\"n\":\"c\"}\n", &o, &err, &res) == KUSTO_OK,
			  "rotation: an ingestion tracked in the status table of the time");
		snprintf(before, sizeof(before), "%s", res.source_id);
		admin("/admin/rotate-status-table", "{}");
		/* a 403 from storage makes the client fetch the resources again */
		admin("/admin/faults", "{\"kind\":\"blob\",\"count\":1,\"action\":{\"status\":403,\"code\":\"AuthenticationFailed\"}}");
		CHECK(queued(c, "Q", "{\"k\":4,\"n\":\"d\"}\n", &o, &err, &res) == KUSTO_OK,
			  "rotation: an ingestion whose blob PUT got a 403 (the resources are stale)");
		CHECK(queued(c, "Q", "{\"k\":5,\"n\":\"e\"}\n", &o, &err, &res) == KUSTO_OK,
			  "rotation: an ingestion on freshly fetched resources (the new status table)");
		CHECK(wait_status(c, before, &st) == KUSTO_INGEST_SUCCEEDED,
			  "rotation: the earliest ingestion's status is read from its own table, not the new one");
		CHECK(wait_status(c, res.source_id, &st) == KUSTO_INGEST_SUCCEEDED,
			  "rotation: the latest one's from the new table");
		CHECK(count_rows(c, "Q") == 5, "rotation: the three rows arrived");
	}

	/*
	 * The same message twice in one ingestion batch (a re-send under the same
	 * source id while the first is still being batched): Kusto answers the
	 * second with BlobAlreadyReceived_BlobAlreadyFoundInBatch on the shared
	 * status entity, after the first's Succeeded; the rows are there once,
	 * and the status is transient, not a permanent failure.
	 */
	{
		char		twice[40];

		mgmt(c, ".create table D (id:long, name:string)");
		admin("/admin/config", "{\"ingestionDelayMs\": 1500}");
		memset(&o, 0, sizeof(o));
		o.format = "csv";
		o.track_status = true;
		o.source_id = "5a1e5a1e-0000-4000-8000-00000000d0d0";
		CHECK(queued(c, "D", "1,a\n2,b\n", &o, &err, &res) == KUSTO_OK, "in one batch: the first message");
		CHECK(queued(c, "D", "1,a\n2,b\n", &o, &err, &res) == KUSTO_OK, "in one batch: the same message again");
		snprintf(twice, sizeof(twice), "%s", res.source_id);
		admin("/admin/config", "{\"ingestionDelayMs\": 100}");
		for (i = 0; i < 100; i++)
		{
			/* Succeeded first, then the duplicate's report on the same entity */
			if (wait_status(c, twice, &st) == KUSTO_INGEST_FAILED)
				break;
			usleep(100 * 1000);
		}
		if (st.state != KUSTO_INGEST_FAILED)
			printf("# state %s %s\n", kusto_ingest_state_name(st.state), st.error_code);
		CHECK(st.state == KUSTO_INGEST_FAILED && !st.permanent &&
			  strcmp(st.error_code, "BlobAlreadyReceived_BlobAlreadyFoundInBatch") == 0,
			  "BlobAlreadyFoundInBatch is a transient failure, with Kusto's code kept");
		i = count_rows(c, "D");
		CHECK(i == 2, "the rows arrived once, through the first message");
		if (i != 2)
			printf("# %d rows\n", i);
	}

	/* status of an id nobody ingested */
	kusto_get_ingest_status(c, "00000000-0000-4000-8000-000000000000", NULL);
	CHECK(finish(c, &err, NULL, &st) == KUSTO_OK && st.state == KUSTO_INGEST_UNKNOWN,
		  "status of an unknown ingestion is Unknown");

	/*
	 * Several statuses in one request: 14 ingestions and one id nobody
	 * ingested, 15 comparisons in the filter (Azure's limit), read by a
	 * client that did not write them (its book knows none: all from the
	 * current table); an id of a table other than the first's is not read.
	 */
	{
		char		ids[KUSTO_STATUS_READ_MAX][40];
		const char *idp[KUSTO_STATUS_READ_MAX + 1];
		kusto_ingest_status sts[KUSTO_STATUS_READ_MAX];
		kusto_client *reader = client(0);
		bool		all = true;

		memset(&o, 0, sizeof(o));
		o.format = "csv";
		o.track_status = true;
		mgmt(c, ".create table R (id:long, name:string)");
		for (i = 0; i < KUSTO_STATUS_READ_MAX - 1; i++)
		{
			char		row[32];

			snprintf(row, sizeof(row), "%d,s%d\n", i, i);
			all &= queued(c, "R", row, &o, &err, &res) == KUSTO_OK;
			snprintf(ids[i], sizeof(ids[i]), "%s", res.source_id);
			idp[i] = ids[i];
		}
		CHECK(all, "statuses: 14 queued ingestions accepted");
		for (i = 0; i < KUSTO_STATUS_READ_MAX - 1; i++)
			all &= wait_status(c, ids[i], &st) == KUSTO_INGEST_SUCCEEDED;
		CHECK(all, "statuses: all 14 Succeeded, read one by one");
		idp[KUSTO_STATUS_READ_MAX - 1] = "00000000-0000-4000-8000-000000000000";
		CHECK(statuses(reader, idp, KUSTO_STATUS_READ_MAX, &err, sts) == KUSTO_OK,
			  "statuses: 15 read in one request");
		if (err.status != KUSTO_OK)
			printf("# %s\n", err.message);
		for (i = 0; i < KUSTO_STATUS_READ_MAX - 1; i++)
			all &= sts[i].state == KUSTO_INGEST_SUCCEEDED && !sts[i].unread &&
				strcmp(sts[i].source_id, ids[i]) == 0 && sts[i].updated_at > 0;
		CHECK(all, "statuses: each of the 14 is Succeeded, in the order asked");
		CHECK(sts[KUSTO_STATUS_READ_MAX - 1].state == KUSTO_INGEST_UNKNOWN &&
			  sts[KUSTO_STATUS_READ_MAX - 1].unread,
			  "statuses: the id nobody ingested is unread (only a read of its own tells)");

		/* a quote in an id stays inside its literal (else: a filter that does not parse) */
		idp[0] = ids[0];
		idp[1] = "x'y";
		CHECK(statuses(reader, idp, 2, &err, sts) == KUSTO_OK &&
			  sts[0].state == KUSTO_INGEST_SUCCEEDED && sts[1].unread,
			  "statuses: a quote in an id is escaped");
		if (err.status != KUSTO_OK)
			printf("# %s\n", err.message);

		/* the writer's book puts ids[0] in its table, the unknown id elsewhere */
		idp[1] = "00000000-0000-4000-8000-000000000000";
		CHECK(!kusto_status_same_table(c, idp[0], idp[1]) &&
			  kusto_status_same_table(c, ids[0], ids[1]) &&
			  kusto_status_same_table(reader, idp[0], idp[1]),
			  "statuses: same table by where each status was written");
		CHECK(statuses(c, idp, 2, &err, sts) == KUSTO_OK &&
			  sts[0].state == KUSTO_INGEST_SUCCEEDED && sts[1].unread,
			  "statuses: an id of another table is not read in the first one's request");
		kusto_client_destroy(reader);
	}

	/* block upload above the threshold */
	mgmt(c, ".create table B (id:long, name:string)");
	blocks = client(500);
	memset(&o, 0, sizeof(o));
	o.format = "csv";
	o.track_status = true;
	big[0] = '\0';
	for (i = 0; i < 800; i++)
		snprintf(big + strlen(big), sizeof(big) - strlen(big), "%d,%08x\n", i, (unsigned) (i * 2654435761u));
	CHECK(queued(blocks, "B", big, &o, &err, &res) == KUSTO_OK, "block upload: accepted");
	CHECK(wait_status(blocks, res.source_id, &st) == KUSTO_INGEST_SUCCEEDED, "block upload: Succeeded");
	CHECK(count_rows(c, "B") == 800, "block upload: all 800 rows arrived");
	kusto_client_destroy(blocks);

	/* a blob PUT refused with 503: the next container takes it */
	memset(&o, 0, sizeof(o));
	o.format = "csv";
	o.track_status = true;
	admin("/admin/faults", "{\"kind\":\"blob\",\"count\":1,\"action\":{\"status\":503}}");
	CHECK(queued(c, "B", "1000,x\n", &o, &err, &res) == KUSTO_OK && res.storage_attempts == 3,
		  "storage 503: retried on the next container (3 storage requests: failed PUT, PUT, queue)");
	CHECK(wait_status(c, res.source_id, &st) == KUSTO_INGEST_SUCCEEDED && count_rows(c, "B") == 801,
		  "storage 503: the row arrived once");

	/* every container fails: a throttled error, no data, no message */
	admin("/admin/faults", "{\"kind\":\"blob\",\"count\":3,\"action\":{\"status\":503}}");
	CHECK(queued(c, "B", "1001,x\n", &o, &err, &res) == KUSTO_ERR_THROTTLED,
		  "storage 503 on every container: a throttled error");
	CHECK(strstr(err.message, "ServerBusy") != NULL || strcmp(err.code, "ServerBusy") == 0,
		  "the error carries Storage's code");
	admin("/admin/reset", "{}");

	/* the DM fails: transient, permanent, partial */
	admin("/admin/ingestion-faults", "{\"kind\":\"permanent\",\"count\":1}");
	queued(c, "B", "2000,x\n", &o, &err, &res);
	CHECK(wait_status(c, res.source_id, &st) == KUSTO_INGEST_FAILED && st.permanent,
		  "DM permanent failure: Failed, permanent");
	admin("/admin/ingestion-faults", "{\"kind\":\"transient\",\"count\":1}");
	queued(c, "B", "2001,x\n", &o, &err, &res);
	CHECK(wait_status(c, res.source_id, &st) == KUSTO_INGEST_FAILED && !st.permanent,
		  "DM transient failure: Failed, transient");
	admin("/admin/ingestion-faults", "{\"kind\":\"partial\",\"count\":1}");
	queued(c, "B", "2002,x\n2003,y\n", &o, &err, &res);
	CHECK(wait_status(c, res.source_id, &st) == KUSTO_INGEST_PARTIALLY_SUCCEEDED,
		  "DM partial ingestion: PartiallySucceeded");
	CHECK(count_rows(c, "B") == 802, "DM failures: only the partial ingestion's half arrived");

	/* managed: streams when it can */
	mgmt(c, ".create table S (id:long, name:string)");
	mgmt(c, ".alter table S policy streamingingestion enable");
	memset(&o, 0, sizeof(o));
	o.format = "csv";
	{
		static unsigned char gz[4096];
		size_t		len = gzip_text("1,a\n2,b\n", gz, sizeof(gz));

		o.raw_size = 8;
		kusto_managed_ingest(c, "qdb", "S", &o, gz, len, NULL);
		CHECK(finish(c, &err, &res, NULL) == KUSTO_OK && !res.queued && count_rows(c, "S") == 2,
			  "managed: streamed, rows queryable at once");

		/* streaming refused transiently: queued instead */
		admin("/admin/faults", "{\"kind\":\"streaming\",\"count\":1,\"action\":{\"status\":503}}");
		kusto_managed_ingest(c, "qdb", "S", &o, gz, len, NULL);
		CHECK(finish(c, &err, &res, NULL) == KUSTO_OK && res.queued, "managed: a 503 on streaming falls back to queued");

		/* streaming not enabled on the table: queued */
		mgmt(c, ".create table N (id:long, name:string)");
		o.track_status = true;
		kusto_managed_ingest(c, "qdb", "N", &o, gz, len, NULL);
		CHECK(finish(c, &err, &res, NULL) == KUSTO_OK && res.queued,
			  "managed: streaming policy off falls back to queued");
		CHECK(wait_status(c, res.source_id, &st) == KUSTO_INGEST_SUCCEEDED && count_rows(c, "N") == 2,
			  "managed fallback: rows arrived through the DM");

		/* too large to stream: straight to queued */
		o.raw_size = KUSTO_STREAMING_LIMIT + 1;
		kusto_managed_ingest(c, "qdb", "S", &o, gz, len, NULL);
		CHECK(finish(c, &err, &res, NULL) == KUSTO_OK && res.queued, "managed: over 4 MB goes queued");
		CHECK(wait_status(c, res.source_id, &st) == KUSTO_INGEST_SUCCEEDED, "managed large: Succeeded");
	}
	CHECK(count_rows(c, "S") == 6, "managed: 2 streamed + 2 fallback + 2 large = 6 rows");

	kusto_client_destroy(c);
	return unit_summary();
}
