/*
 * Pure unit tests of the ingest core: error shapes and their classes,
 * Retry-After, loopback detection, configuration checks.
 */
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/kusto/kusto_int.h"
#include "unit.h"

static void
parse(kusto_error *err, long status, const char *body, int retry_after)
{
	kusto_error_from_response(err, status, body, body ? strlen(body) : 0, retry_after);
}

/* base64url: RFC 4648 section 10 vectors, without padding */
static void
check_base64url(void)
{
	char	   *s;

	s = kusto_base64url((const unsigned char *) "foob", 4);
	CHECK_STR(s, "Zm9vYg", "base64url of foob");
	kusto_free(s);
	s = kusto_base64url((const unsigned char *) "\xfb\xff", 2);
	CHECK_STR(s, "-_8", "base64url uses - and _");
	kusto_free(s);
	s = kusto_base64url((const unsigned char *) "", 0);
	CHECK_STR(s, "", "base64url of nothing");
	kusto_free(s);
}

/*
 * Where the core cannot go on it calls the embedder's failure handler (the
 * extension raises an ERROR), never abort(); a buffer that libcurl's
 * callbacks fill reports "no memory" instead of calling the handler.
 */
static jmp_buf failure_jump;
static kusto_failure failure_kind;
static char failure_what[64];

static void
catch_failure(kusto_failure kind, const char *what)
{
	failure_kind = kind;
	snprintf(failure_what, sizeof(failure_what), "%s", what);
	longjmp(failure_jump, 1);
}

static void
check_failure_handler(void)
{
	kusto_buf	buf = {0};
	volatile int reached = 0;

	kusto_set_failure_handler(catch_failure);
	if (setjmp(failure_jump) == 0)
	{
		kusto_fail(KUSTO_FAILURE_MEMORY, "out of memory");
		reached = 1;
	}
	CHECK(reached == 0 && failure_kind == KUSTO_FAILURE_MEMORY &&
		  strcmp(failure_what, "out of memory") == 0,
		  "kusto_fail calls the embedder's handler (which may longjmp)");

	kusto_buf_append(&buf, "abc", 3);
	CHECK(!kusto_buf_try_append(&buf, "x", SIZE_MAX - 1) && buf.len == 3 &&
		  strcmp(buf.data, "abc") == 0,
		  "a buffer that cannot grow says so and stays as it was");
	failure_what[0] = '\0';
	if (setjmp(failure_jump) == 0)
		kusto_buf_append(&buf, "x", SIZE_MAX - 1);
	CHECK(strcmp(failure_what, "out of memory") == 0,
		  "kusto_buf_append out of memory goes to the handler");
	kusto_buf_free(&buf);
	kusto_set_failure_handler(NULL);
}

/* the shared retry policy, table-driven */
static void
check_retry(void)
{
	kusto_error err;
	unsigned int seed = 42;
	long		d;
	int			i;
	bool		ok = true;

	kusto_error_set(&err, KUSTO_ERR_PERMANENT, 400, "X", "x");
	CHECK(kusto_retry_delay_ms(1, 0, &err, &seed) == -1, "a permanent error is never retried");
	kusto_error_set(&err, KUSTO_ERR_AUTH, 401, "X", "x");
	CHECK(kusto_retry_delay_ms(1, 0, &err, &seed) == -1, "an auth error is not retried");
	kusto_error_set(&err, KUSTO_ERR_CANCELLED, 0, "X", "x");
	CHECK(kusto_retry_delay_ms(1, 0, &err, &seed) == -1, "a cancelled request is not retried");
	kusto_error_set(&err, KUSTO_ERR_TRANSIENT, 503, "X", "x");
	CHECK(kusto_retry_delay_ms(3, 3, &err, &seed) == -1, "bounded attempts");
	for (i = 0; i < 200; i++)
	{
		d = kusto_retry_delay_ms(1, 0, &err, &seed);
		ok &= (d >= 500 && d <= 1000);
	}
	CHECK(ok, "first retry: 0.5 to 1 s (backoff 1 s with jitter)");
	ok = true;
	for (i = 0; i < 200; i++)
	{
		d = kusto_retry_delay_ms(4, 0, &err, &seed);
		ok &= (d >= 4000 && d <= 8000);
	}
	CHECK(ok, "fourth retry: 4 to 8 s (doubling)");
	d = kusto_retry_delay_ms(30, 0, &err, &seed);
	CHECK(d >= 30000 && d <= 60000, "capped at 60 s");
	kusto_error_set(&err, KUSTO_ERR_THROTTLED, 429, "X", "x");
	err.retry_after_s = 20;
	CHECK(kusto_retry_delay_ms(1, 0, &err, &seed) == 20000, "Retry-After is honoured");
	err.retry_after_s = -1;
	d = kusto_retry_delay_ms(1, 0, &err, &seed);
	CHECK(d >= 500 && d <= 1000, "throttled without Retry-After: backoff");
}

int
main(void)
{
	kusto_error err;
	kusto_config cfg;
	kusto_client *c;

	check_base64url();
	check_retry();
	check_failure_handler();

	parse(&err, 400, "{\"error\":{\"code\":\"BadRequest_EntityNotFound\",\"message\":\"BadRequest_EntityNotFound: x\",\"@message\":\"Entity ID 'T' of kind 'Table' was not found.\",\"@permanent\":true}}", -1);
	CHECK(err.status == KUSTO_ERR_PERMANENT, "Kusto JSON error, @permanent true: permanent");
	CHECK_STR(err.code, "BadRequest_EntityNotFound", "Kusto error code");
	CHECK_STR(err.message, "Entity ID 'T' of kind 'Table' was not found.", "@message preferred");

	parse(&err, 400, "{\"error\":{\"code\":\"Some_Error\",\"message\":\"m\",\"@permanent\":false}}", -1);
	CHECK(err.status == KUSTO_ERR_TRANSIENT, "@permanent false on a 400: transient");

	parse(&err, 429, "{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"slow down\"}}", 7);
	CHECK(err.status == KUSTO_ERR_THROTTLED && err.retry_after_s == 7, "429: throttled, Retry-After kept");

	parse(&err, 503, NULL, -1);
	CHECK(err.status == KUSTO_ERR_TRANSIENT, "503 with an empty body: transient");
	CHECK_STR(err.message, "HTTP status 503", "an empty body still gets a message");

	parse(&err, 401, "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client secret provided.\\r\\nTrace ID: x\",\"error_codes\":[7000215]}", -1);
	CHECK(err.status == KUSTO_ERR_AUTH, "OAuth error: auth");
	CHECK_STR(err.code, "invalid_client", "OAuth error code");
	CHECK_STR(err.message, "AADSTS7000215: Invalid client secret provided.", "OAuth description, first line only");

	parse(&err, 400, "General_BadRequest: Request is invalid and cannot be executed.", -1);
	CHECK(err.status == KUSTO_ERR_PERMANENT, "plain-text 400: permanent");
	CHECK_STR(err.code, "General_BadRequest", "plain-text code before the colon");

	parse(&err, 403, "{\"error\":{\"code\":\"Forbidden\",\"message\":\"no\"}}", -1);
	CHECK(err.status == KUSTO_ERR_AUTH, "403: auth");

	CHECK(kusto_parse_retry_after("12") == 12, "Retry-After in seconds");
	CHECK(kusto_parse_retry_after(" 0") == 0, "Retry-After 0");
	CHECK(kusto_parse_retry_after("soon") == -1, "unreadable Retry-After");
	CHECK(kusto_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0, "Retry-After as a past HTTP date");

	CHECK(kusto_url_is_loopback("http://127.0.0.1:8080"), "127.0.0.1 is loopback");
	CHECK(kusto_url_is_loopback("http://localhost/x"), "localhost is loopback");
	CHECK(!kusto_url_is_loopback("http://example.com"), "a name is not loopback");
	CHECK(!kusto_url_is_loopback("http://127.example.com"), "a name starting with 127 is not loopback");

	memset(&cfg, 0, sizeof(cfg));
	cfg.cluster_url = "http://mycluster.kusto.windows.net";
	cfg.auth = "token";
	cfg.token = "t";
	c = kusto_client_create(&cfg, &err);
	CHECK(c == NULL && err.status == KUSTO_ERR_PERMANENT && strstr(err.message, "refusing to send a token"),
		  "plain http to a remote host is refused");
	cfg.cluster_url = "https://c.kusto.windows.net";
	cfg.auth = "application";
	c = kusto_client_create(&cfg, &err);
	CHECK(c == NULL && strstr(err.message, "needs tenant_id, app_id and app_key"), "application needs its arguments");
	cfg.auth = "workload_identity";
	c = kusto_client_create(&cfg, &err);
	CHECK(c == NULL && strstr(err.message, "AZURE_FEDERATED_TOKEN_FILE"), "workload identity says what it needs");
	cfg.auth = "certificate";
	c = kusto_client_create(&cfg, &err);
	CHECK(c == NULL && strstr(err.message, "certificate_file and private_key_file"), "certificate says what it needs");
	cfg.auth = "kerberos";
	c = kusto_client_create(&cfg, &err);
	CHECK(c == NULL && strstr(err.message, "not supported"), "an unknown method is refused clearly");
	cfg.auth = "token";
	c = kusto_client_create(&cfg, &err);
	CHECK(c != NULL, "a static token over https is accepted");
	kusto_client_destroy(c);
	cfg.token = NULL;
	c = kusto_client_create(&cfg, &err);
	CHECK(c == NULL && strstr(err.message, "needs a token (or token_file)"), "token needs a token or its file");
	cfg.token_file = "/run/token";
	c = kusto_client_create(&cfg, &err);
	CHECK(c != NULL, "token_file replaces token");
	kusto_client_destroy(c);
	cfg.auth = "application";
	cfg.tenant_id = "t";
	cfg.app_id = "a";
	c = kusto_client_create(&cfg, &err);
	CHECK(c == NULL && strstr(err.message, "app_key (or app_key_file)"), "application needs app_key or its file");
	cfg.app_key_file = "/etc/kusto/app_key";
	c = kusto_client_create(&cfg, &err);
	CHECK(c != NULL, "app_key_file replaces app_key");
	kusto_client_destroy(c);

	/* the one table of auth methods (auth_methods.c), the extension's validator's too */
	{
		const kusto_auth_method_info *m;
		bool		known = true;
		int			i;

		for (m = kusto_auth_methods; m->name != NULL; m++)
			for (i = 0; i < KUSTO_AUTH_MAX_ARGS && m->args[i].name != NULL; i++)
				if (kusto_auth_arg_find(m->args[i].name) == NULL)
					known = false;
		CHECK(known, "every argument of an auth method is a connection argument");
		CHECK(kusto_auth_method_find("token") != NULL && kusto_auth_method_find("token")->method == KUSTO_AUTH_TOKEN &&
			  kusto_auth_method_find("Token") == NULL, "an auth method is found by its exact name");
		CHECK((kusto_auth_arg_find("federated_token_file")->flags & KUSTO_ARG_SERVER_FILE) &&
			  (kusto_auth_arg_find("app_key")->flags & KUSTO_ARG_SECRET) &&
			  kusto_auth_arg_find("tenant_id")->flags == 0, "the table says which arguments are secrets and server files");
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.cluster_url = "https://c.kusto.windows.net";
	cfg.auth = "workload_identity";
	unsetenv("AZURE_TENANT_ID");
	unsetenv("AZURE_CLIENT_ID");
	unsetenv("AZURE_FEDERATED_TOKEN_FILE");
	c = kusto_client_create(&cfg, &err);
	CHECK(c == NULL && strcmp(err.message, "auth method workload_identity needs tenant_id, app_id and federated_token_file, "
							  "or the AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE environment variables") == 0,
		  "workload identity's message, from the table");
	setenv("AZURE_TENANT_ID", "t", 1);
	setenv("AZURE_CLIENT_ID", "a", 1);
	setenv("AZURE_FEDERATED_TOKEN_FILE", "/run/azure/token", 1);
	c = kusto_client_create(&cfg, &err);
	CHECK(c != NULL, "workload identity: the environment variables stand in for its arguments");
	kusto_client_destroy(c);
	unsetenv("AZURE_TENANT_ID");
	unsetenv("AZURE_CLIENT_ID");
	unsetenv("AZURE_FEDERATED_TOKEN_FILE");
	cfg.auth = "application";
	c = kusto_client_create(&cfg, &err);
	CHECK(c == NULL && strcmp(err.message, "auth method application needs tenant_id, app_id and app_key (or app_key_file)") == 0,
		  "application's message, from the table");

	return unit_summary();
}
