/*
 * What a real cluster asks of the ingest core beyond the happy path (issue
 * 19), against the emulator (KUSTO_EMULATOR_URL): the official SDKs' request
 * time bounds (and request_timeout_ms replacing them), the activity id of a
 * failed request in the error, exactly once's counts sent with
 * queryconsistency = strongconsistency, a queued message's creationTime
 * only when asked for, and managed ingestion on a cluster whose streaming is
 * off (queued, remembered for the table, said in the result) with the
 * official SDKs' fallback rule.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "../../src/kusto/kusto_int.h"
#include "unit.h"
#include "emulator.h"

/* GET url + path: the body (static, cut at 64 kB) */
static const char *
admin_get(const char *path)
{
	static char buf[65536];
	char		cmd[1024];
	FILE	   *f;
	size_t		n;

	snprintf(cmd, sizeof(cmd), "curl -s %s%s", url, path);
	buf[0] = '\0';
	if ((f = popen(cmd, "r")) == NULL)
		return buf;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	pclose(f);
	return buf;
}

static kusto_status
finish(kusto_client *c, kusto_error *err, kusto_ingest_result *result, long long *count)
{
	kusto_op   *op;
	void	   *user;

	while ((op = kusto_client_done(c, &user, err)) == NULL)
		kusto_client_run(c, 100);
	if (result)
		*result = *kusto_op_result(op);
	if (count)
		*count = kusto_op_count(op);
	kusto_op_free(op);
	return err->status;
}

static void
timeouts(void)
{
	kusto_config cfg;
	kusto_error err;
	kusto_client *c;

	memset(&cfg, 0, sizeof(cfg));
	cfg.cluster_url = "https://example.kusto.windows.net";
	cfg.auth = "token";
	cfg.token = "t";
	c = kusto_client_create(&cfg, &err);
	CHECK(c != NULL, "a client without request_timeout_ms");
	if (c == NULL)
		return;
	CHECK(kusto_timeout_ms(c, KUSTO_TIMEOUT_STREAMING) == 630000,
		  "streaming: the SDKs' 10 min + 30 s, not 60 s");
	CHECK(kusto_timeout_ms(c, KUSTO_TIMEOUT_QUERY) == 300000, "queries: 4 min 30 s + 30 s");
	CHECK(kusto_timeout_ms(c, KUSTO_TIMEOUT_MGMT) == 3660000, "commands: 1 h 30 s + 30 s");
	CHECK(kusto_timeout_ms(c, KUSTO_TIMEOUT_STORAGE) == 630000, "storage uploads: as streaming");
	CHECK(kusto_timeout_ms(c, KUSTO_TIMEOUT_OTHER) == 60000, "tokens and metadata: 60 s");
	kusto_client_destroy(c);
	cfg.request_timeout_ms = 5000;
	c = kusto_client_create(&cfg, &err);
	CHECK(c != NULL && kusto_timeout_ms(c, KUSTO_TIMEOUT_STREAMING) == 5000 &&
		  kusto_timeout_ms(c, KUSTO_TIMEOUT_MGMT) == 5000 && kusto_timeout_ms(c, KUSTO_TIMEOUT_QUERY) == 5000,
		  "request_timeout_ms replaces every default");
	kusto_client_destroy(c);
}

int
main(void)
{
	kusto_client *c;
	kusto_error err;
	kusto_ingest_result res;
	kusto_ingest_options o;
	kusto_result *r = NULL;
	static unsigned char gz[4096];
	size_t		len;
	long long	n = -1;
	const char *stats;
	const char *p;

	timeouts();
	url = getenv("KUSTO_EMULATOR_URL");
	if (url == NULL)
	{
		printf("not ok - KUSTO_EMULATOR_URL is not set\n");
		return 1;
	}
	c = emu_client("dev-secret", 0);
	emu_mgmt(c, "sdb", ".create table T (id:long, name:string)");
	emu_mgmt(c, "sdb", ".alter table T policy streamingingestion enable");
	len = gzip_text("1,a\n2,b\n", gz, sizeof(gz));

	/* the activity id of a failed request goes into the error */
	admin("/admin/faults", "{\"kind\":\"streaming\",\"count\":1,\"action\":{\"status\":400,\"code\":\"BadRequest_Bad\",\"permanent\":true}}");
	kusto_stream_ingest(c, "sdb", "T", "csv", NULL, gz, len, NULL);
	CHECK(finish(c, &err, NULL, NULL) == KUSTO_ERR_PERMANENT, "an injected 400");
	CHECK(strlen(err.activity_id) == 36, "the error carries Kusto's x-ms-activity-id");
	CHECK(strstr(err.message, "(activity id ") != NULL && strstr(err.message, err.activity_id) != NULL,
		  "and its message names it (so last_error and the log do)");
	admin("/admin/faults", "{\"kind\":\"blob\",\"count\":3,\"action\":{\"status\":500}}");
	memset(&o, 0, sizeof(o));
	o.format = "csv";
	o.raw_size = 8;
	kusto_queued_ingest(c, "sdb", "T", &o, gz, len, NULL);
	CHECK(finish(c, &err, NULL, NULL) == KUSTO_ERR_TRANSIENT && err.activity_id[0] != '\0' &&
		  strstr(err.message, err.activity_id) != NULL,
		  "a storage failure carries Azure Storage's x-ms-request-id");
	admin("/admin/reset", "{}");

	/* exactly once's look-ups read with strong consistency */
	kusto_count(c, "sdb", "T | count", NULL);
	CHECK(finish(c, &err, NULL, &n) == KUSTO_OK && n == 0, "kusto_count answers");
	stats = admin_get("/admin/stats");
	CHECK(strstr(stats, "\"queryconsistency\":{\"strongconsistency\":1}") != NULL,
		  "kusto_count sends queryconsistency = strongconsistency");
	if (strstr(stats, "\"queryconsistency\":{\"strongconsistency\":1}") == NULL)
		printf("# stats: %s\n", stats);

	/* creationTime only when asked for */
	emu_mgmt(c, "sdb", ".create table C (id:long, name:string)");
	memset(&o, 0, sizeof(o));
	o.format = "csv";
	o.raw_size = 8;
	o.flush_immediately = true;
	kusto_queued_ingest(c, "sdb", "C", &o, gz, len, NULL);
	CHECK(finish(c, &err, &res, NULL) == KUSTO_OK, "queued without creation_time");
	o.creation_time = "2020-02-03T04:05:06Z";
	kusto_queued_ingest(c, "sdb", "C", &o, gz, len, NULL);
	CHECK(finish(c, &err, &res, NULL) == KUSTO_OK, "queued with creation_time");
	{
		int			i;
		int			old = 0,
					fresh = 0;
		char		year[16];

		{
			time_t		now = time(NULL);
			struct tm	tm;

			gmtime_r(&now, &tm);
			snprintf(year, sizeof(year), "%d", 1900 + tm.tm_year);
		}
		for (i = 0; i < 200 && (old + fresh) < 2; i++)
		{
			long		row;

			usleep(50 * 1000);
			old = fresh = 0;
			kusto_result_free(r);
			r = NULL;
			if (kusto_query(c, "sdb", ".show table C extents", &r, &err) != KUSTO_OK)
				continue;
			for (row = 0; row < kusto_table_nrows(kusto_result_primary(r)); row++)
			{
				char	   *on = kusto_table_text(kusto_result_primary(r), row, 5);

				old += on && strncmp(on, "2020-02-03T04:05:06", 19) == 0;
				fresh += on && strncmp(on, year, 4) == 0;
				kusto_free(on);
			}
		}
		CHECK(old == 1, "an extent dated by the creationTime asked for");
		CHECK(fresh == 1, "the other dated by its ingestion");
		stats = admin_get("/admin/stats");
		CHECK(strstr(stats, "\"withCreationTime\":1}") != NULL,
			  "only the message that asked for it carried creationTime (the SDKs send none)");
		kusto_result_free(r);
	}

	/* streaming off on the cluster: managed goes queued and remembers it */
	{
		const char *req_before;
		long		streams_before,
					streams_after;

		emu_mgmt(c, "sdb", ".create table M (id:long, name:string)");
		emu_mgmt(c, "sdb", ".alter table M policy streamingingestion enable");
		admin("/admin/config", "{\"clusterStreaming\": false}");
		kusto_stream_ingest(c, "sdb", "M", "csv", NULL, gz, len, NULL);
		CHECK(finish(c, &err, NULL, NULL) == KUSTO_ERR_PERMANENT && err.http_status == 404 &&
			  kusto_streaming_off(&err),
			  "streaming on a cluster without it: 404, read as streaming off");
		memset(&o, 0, sizeof(o));
		o.format = "csv";
		o.raw_size = 8;
		o.track_status = true;
		o.flush_immediately = true;
		kusto_managed_ingest(c, "sdb", "M", &o, gz, len, NULL);
		CHECK(finish(c, &err, &res, NULL) == KUSTO_OK && res.queued &&
			  strcmp(res.streaming_off, "NotFound_StreamingIngestionDisabledForCluster") == 0,
			  "managed: queued, and the result says streaming is off, with Kusto's code");
		req_before = admin_get("/admin/stats");
		streams_before = (p = strstr(req_before, "\"streaming\":")) ? strtol(p + 12, NULL, 10) : -1;
		kusto_managed_ingest(c, "sdb", "M", &o, gz, len, NULL);
		CHECK(finish(c, &err, &res, NULL) == KUSTO_OK && res.queued && res.streaming_off[0] != '\0',
			  "the next batch goes queued too");
		stats = admin_get("/admin/stats");
		streams_after = (p = strstr(stats, "\"streaming\":")) ? strtol(p + 12, NULL, 10) : -1;
		CHECK(streams_before > 0 && streams_after == streams_before,
			  "without a streaming request: the table is remembered as unable to stream");
		{
			int			i;
			long		n_rows = -1;

			for (i = 0; i < 200 && n_rows != 4; i++)
			{
				usleep(50 * 1000);
				n_rows = emu_count(c, "sdb", "M");
			}
			CHECK(n_rows == 4, "both batches arrived through queued ingestion");
		}
		admin("/admin/config", "{\"clusterStreaming\": true}");
	}

	/* the SDKs' rule for what goes queued under managed ingestion */
	{
		struct
		{
			kusto_status status;
			long		http;
			const char *code;
			bool		fallback;
			int			memo_s;
		}			cases[] = {
			{KUSTO_ERR_PERMANENT, 400, "BadRequest_StreamingIngestionPolicyNotEnabled", true, 900},
			{KUSTO_ERR_PERMANENT, 404, "NotFound_StreamingIngestionDisabledForCluster", true, 900},
			{KUSTO_ERR_PERMANENT, 404, "", true, 900},
			{KUSTO_ERR_PERMANENT, 400, "BadRequest_UpdatePolicyIncompatible", true, 900},
			{KUSTO_ERR_PERMANENT, 400, "BadRequest_QuerySchemaDoesNotMatchTableSchema", true, 900},
			{KUSTO_ERR_PERMANENT, 413, "", true, 0},
			{KUSTO_ERR_PERMANENT, 400, "Stream_InputStreamTooLarge", true, 0},
			{KUSTO_ERR_THROTTLED, 429, "TooManyRequests", true, 10},
			{KUSTO_ERR_TRANSIENT, 503, "ServiceUnavailable", true, 0},
			{KUSTO_ERR_PERMANENT, 400, "BadRequest_EntityNotFound", false, 0},
			{KUSTO_ERR_PERMANENT, 404, "BadRequest_EntityNotFound", false, 0},
			{KUSTO_ERR_PERMANENT, 400, "BadRequest_MappingReferenceWasNotFound", false, 0},
			{KUSTO_ERR_AUTH, 403, "Forbidden", false, 0},
		};
		int			i;
		bool		all = true;

		for (i = 0; i < (int) (sizeof(cases) / sizeof(cases[0])); i++)
		{
			kusto_error e;
			int			memo_s;
			bool		fb;

			kusto_error_set(&e, cases[i].status, cases[i].http, cases[i].code, "x");
			fb = kusto_managed_fallback(&e, &memo_s);
			if (fb != cases[i].fallback || memo_s != cases[i].memo_s)
			{
				printf("# %ld %s: fallback %d memo %d\n", cases[i].http, cases[i].code, fb, memo_s);
				all = false;
			}
		}
		CHECK(all, "kusto_managed_fallback: the managed clients' codes, 413, throttling, transient; not a missing table or mapping");
	}
	kusto_client_destroy(c);
	return unit_summary();
}
