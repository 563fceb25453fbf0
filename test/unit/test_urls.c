/*
 * The core's URL rule (kusto_url_allowed) and what curl may speak: https,
 * plain http to loopback (and to the IMDS address for managed identity);
 * never file://, ftp:// ... (issue 14: authority_host => 'file:///etc' made
 * test_connection print /etc/passwd).
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/kusto/kusto_int.h"
#include "unit.h"

static void
check_rule(void)
{
	char		why[256];

	CHECK(kusto_url_allowed("https://c.kusto.windows.net", false, why, sizeof(why)), "https is allowed");
	CHECK(kusto_url_allowed("HTTPS://c.kusto.windows.net/", false, why, sizeof(why)), "HTTPS (upper case) is https");
	CHECK(kusto_url_allowed("http://127.0.0.1:8080", false, why, sizeof(why)), "http to 127.0.0.1");
	CHECK(kusto_url_allowed("http://127.1.2.3/x", false, why, sizeof(why)), "http to 127.x");
	CHECK(kusto_url_allowed("HTTP://localhost:1234", false, why, sizeof(why)), "HTTP to localhost");
	CHECK(kusto_url_allowed("http://[::1]:8080/", false, why, sizeof(why)), "http to [::1]");
	CHECK(!kusto_url_allowed("http://10.0.0.1", false, why, sizeof(why)), "http to 10.0.0.1 is refused");
	CHECK(strstr(why, "loopback") != NULL, "the reason names the loopback rule");
	CHECK(!kusto_url_allowed("http://127.0.0.1.evil.example", false, why, sizeof(why)),
		  "http to a name that starts with 127.0.0.1 is refused");
	CHECK(!kusto_url_allowed("http://localhost.evil.example", false, why, sizeof(why)),
		  "http to a name that starts with localhost is refused");
	CHECK(!kusto_url_allowed("file:///etc", false, why, sizeof(why)), "file:// is refused");
	CHECK(strstr(why, "\"file\"") != NULL && strstr(why, "/etc") == NULL,
		  "the reason names the scheme, not the URL");
	CHECK(!kusto_url_allowed("FILE:///etc/passwd", true, why, sizeof(why)), "FILE:// is refused");
	CHECK(!kusto_url_allowed("ftp://127.0.0.1/x", false, why, sizeof(why)), "ftp is refused, even to loopback");
	CHECK(!kusto_url_allowed("gopher://example.com", false, why, sizeof(why)), "gopher is refused");
	CHECK(!kusto_url_allowed("example.com:3128", false, why, sizeof(why)), "no scheme is refused");
	CHECK(!kusto_url_allowed("", false, why, sizeof(why)), "an empty URL is refused");
	CHECK(!kusto_url_allowed(NULL, false, NULL, 0), "NULL is refused (and why may be NULL)");
	CHECK(!kusto_url_allowed("http://169.254.169.254/metadata/identity/oauth2/token", false, why, sizeof(why)),
		  "IMDS over http is refused where it is not the identity endpoint");
	CHECK(kusto_url_allowed("http://169.254.169.254/metadata/identity/oauth2/token", true, why, sizeof(why)),
		  "IMDS over http is allowed for the identity endpoint");
	CHECK(!kusto_url_allowed("http://169.254.169.253/x", true, why, sizeof(why)),
		  "another link-local address is refused");
	CHECK(!kusto_url_allowed("file:///etc", true, why, sizeof(why)), "allow_imds allows no file://");
}

static kusto_client *
client_with(const char *what, const char *url, kusto_error *err)
{
	kusto_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.cluster_url = "https://c.kusto.windows.net";
	cfg.auth = "managed_identity";
	if (strcmp(what, "cluster_url") == 0)
		cfg.cluster_url = url;
	else if (strcmp(what, "authority_host") == 0)
		cfg.authority_host = url;
	else if (strcmp(what, "ingest_url") == 0)
		cfg.ingest_url = url;
	else if (strcmp(what, "proxy") == 0)
		cfg.proxy = url;
	else if (strcmp(what, "managed_identity_endpoint") == 0)
		cfg.managed_identity_endpoint = url;
	return kusto_client_create(&cfg, err);
}

static void
check_client(void)
{
	static const char *const settings[] = {
		"cluster_url", "authority_host", "ingest_url", "proxy", "managed_identity_endpoint"
	};
	kusto_error err;
	kusto_client *c;
	int			i;
	char		msg[200];

	for (i = 0; i < 5; i++)
	{
		c = client_with(settings[i], "file:///etc", &err);
		snprintf(msg, sizeof(msg), "kusto_client_create refuses %s file:///etc", settings[i]);
		CHECK(c == NULL && err.status == KUSTO_ERR_PERMANENT && strstr(err.message, settings[i]) != NULL, msg);
		kusto_client_destroy(c);
		c = client_with(settings[i], "http://10.0.0.1:8080", &err);
		snprintf(msg, sizeof(msg), "kusto_client_create refuses %s over http to 10.0.0.1", settings[i]);
		CHECK(c == NULL && err.status == KUSTO_ERR_PERMANENT, msg);
		kusto_client_destroy(c);
		c = client_with(settings[i], "http://127.0.0.1:8080", &err);
		snprintf(msg, sizeof(msg), "kusto_client_create takes %s over http to 127.0.0.1", settings[i]);
		CHECK(c != NULL, msg);
		kusto_client_destroy(c);
		c = client_with(settings[i], "HTTPS://example.com", &err);
		snprintf(msg, sizeof(msg), "kusto_client_create takes %s over HTTPS", settings[i]);
		CHECK(c != NULL, msg);
		kusto_client_destroy(c);
	}
	c = client_with("managed_identity_endpoint", "http://169.254.169.254/metadata/identity/oauth2/token", &err);
	CHECK(c != NULL, "the IMDS endpoint over http");
	kusto_client_destroy(c);
	c = client_with("authority_host", "http://169.254.169.254", &err);
	CHECK(c == NULL, "the IMDS address is no authority over http");
	kusto_client_destroy(c);
	c = client_with("none", NULL, &err);
	CHECK(c != NULL, "the default IMDS endpoint is allowed");
	kusto_client_destroy(c);
}

/* curl itself speaks http and https only, whatever URL reaches a request */
static void
check_curl_protocols(void)
{
	kusto_config cfg;
	kusto_error err;
	kusto_client *c;
	kusto_request *req;
	bool		ok;

	memset(&cfg, 0, sizeof(cfg));
	cfg.cluster_url = "http://127.0.0.1:9";
	cfg.auth = "token";
	cfg.token = "t";
	c = kusto_client_create(&cfg, &err);
	CHECK(c != NULL, "a client");
	if (c == NULL)
		return;
	req = kusto_request_new(c, "file:///etc/passwd", NULL, NULL, NULL, 0, NULL);
	kusto_request_submit(c, req);
	ok = kusto_request_wait(c, req, &err);
	CHECK(!ok && req->curl_rc == CURLE_UNSUPPORTED_PROTOCOL, "a file:// request fails: unsupported protocol");
	CHECK(req->response.len == 0, "nothing of the file was read");
	kusto_request_free(req);
	req = kusto_request_new(c, "ftp://127.0.0.1:9/x", NULL, NULL, NULL, 0, NULL);
	kusto_request_submit(c, req);
	ok = kusto_request_wait(c, req, &err);
	CHECK(!ok && req->curl_rc == CURLE_UNSUPPORTED_PROTOCOL, "an ftp:// request fails: unsupported protocol");
	kusto_request_free(req);
	kusto_client_destroy(c);
}

/* an ingestion id that does not fit is refused, never cut */
static void
check_long_source_id(void)
{
	kusto_config cfg;
	kusto_error err;
	kusto_client *c;
	kusto_ingest_options o;
	kusto_op   *op;
	void	   *user = NULL;
	char		id[64];

	memset(&cfg, 0, sizeof(cfg));
	cfg.cluster_url = "http://127.0.0.1:9";
	cfg.auth = "token";
	cfg.token = "t";
	c = kusto_client_create(&cfg, &err);
	memset(&o, 0, sizeof(o));
	o.format = "json";
	memset(id, 'a', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	o.source_id = id;
	kusto_queued_ingest(c, "db", "T", &o, "x", 1, NULL);
	op = kusto_client_done(c, &user, &err);
	CHECK(op != NULL && err.status == KUSTO_ERR_PERMANENT && strcmp(err.code, "BadSourceId") == 0,
		  "queued: a 63-character source_id is refused");
	kusto_op_free(op);
	kusto_managed_ingest(c, "db", "T", &o, "x", 1, NULL);
	op = kusto_client_done(c, &user, &err);
	CHECK(op != NULL && err.status == KUSTO_ERR_PERMANENT && strcmp(err.code, "BadSourceId") == 0,
		  "managed: a 63-character source_id is refused");
	kusto_op_free(op);
	kusto_client_destroy(c);
}

static void
admin_config(const char *url, const char *json)
{
	char		cmd[1024];

	snprintf(cmd, sizeof(cmd), "curl -s -o /dev/null -X POST -d '%s' %s/admin/config", json, url);
	if (system(cmd) != 0)
		fprintf(stderr, "admin call failed\n");
}

/* a cluster whose auth metadata sends the secret elsewhere in clear is refused */
static void
check_login_endpoint(const char *url)
{
	static const char *const bad[] = {"http://10.0.0.1:9", "file:///etc", "ftp://127.0.0.1/x"};
	kusto_config cfg;
	kusto_error err;
	kusto_client *c;
	char	   *json;
	char		msg[200];
	int			i;

	memset(&cfg, 0, sizeof(cfg));
	cfg.cluster_url = url;
	cfg.auth = "application";
	cfg.tenant_id = "emulator";
	cfg.app_id = "kusto-sink-dev";
	cfg.app_key = "dev-secret";
	cfg.request_timeout_ms = 5000;
	for (i = 0; i < 3; i++)
	{
		char		conf[200];

		snprintf(conf, sizeof(conf), "{\"loginEndpoint\": \"%s\"}", bad[i]);
		admin_config(url, conf);
		c = kusto_client_create(&cfg, &err);
		json = NULL;
		snprintf(msg, sizeof(msg), "LoginEndpoint %s is refused before any secret is sent", bad[i]);
		CHECK(c != NULL && kusto_execute(c, "urls", ".create table T (id:long)", &json, &err) != KUSTO_OK &&
			  err.status == KUSTO_ERR_AUTH && strcmp(err.code, "BadLoginEndpoint") == 0, msg);
		if (strcmp(err.code, "BadLoginEndpoint") != 0)
			printf("#   got %s: %s\n", err.code, err.message);
		kusto_free(json);
		kusto_client_destroy(c);
	}
	admin_config(url, "{\"loginEndpoint\": \"\"}");
	c = kusto_client_create(&cfg, &err);
	json = NULL;
	CHECK(c != NULL && kusto_execute(c, "urls", ".create table T (id:long)", &json, &err) == KUSTO_OK,
		  "the emulator's own (loopback) LoginEndpoint works");
	kusto_free(json);
	kusto_client_destroy(c);
}

int
main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	unsetenv("IDENTITY_ENDPOINT");
	unsetenv("MSAL_MANAGED_IDENTITY_ENDPOINT");
	check_rule();
	check_client();
	check_curl_protocols();
	check_long_source_id();
	if (getenv("KUSTO_EMULATOR_URL"))
		check_login_endpoint(getenv("KUSTO_EMULATOR_URL"));
	curl_global_cleanup();
	return unit_summary();
}
