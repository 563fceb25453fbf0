/*
 * The ingest core against the local Kusto emulator (KUSTO_EMULATOR_URL):
 * tokens for the development principal, management commands and queries,
 * streaming ingestion (rows verified by a query), a wrong secret (a clear
 * auth error and no retry storm), injected faults (throttling, 503,
 * dropped connections, permanent 400).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../../src/kusto/kusto_int.h"
#include "unit.h"
#include "emulator.h"

#define client_with(secret) emu_client((secret), 0)
#define count_rows(c, table) emu_count((c), "db1", (table))

/* streams gz and waits: the outcome */
static kusto_status
stream(kusto_client *c, const char *table, const unsigned char *gz, size_t len, kusto_error *err)
{
	kusto_op   *op;
	void	   *user;
	int			tag = 1;

	kusto_stream_ingest(c, "db1", table, "json", NULL, gz, len, &tag);
	while ((op = kusto_client_done(c, &user, err)) == NULL)
		kusto_client_run(c, 100);
	kusto_op_free(op);
	return err->status;
}

int
main(void)
{
	kusto_client *c;
	kusto_error err;
	char	   *json = NULL;
	unsigned char gz[4096];
	size_t		len;

	url = getenv("KUSTO_EMULATOR_URL");
	if (url == NULL)
	{
		printf("# KUSTO_EMULATOR_URL is not set\n");
		CHECK(0, "the emulator is running");
		return unit_summary();
	}

	c = client_with("dev-secret");
	CHECK(c != NULL, "a client for the emulator");
	CHECK(kusto_execute(c, "db1", ".create table U (id:long, v:string)", &json, &err) == KUSTO_OK,
		  "a management command");
	CHECK(json != NULL && strstr(json, "\"Tables\""), "its v1 result");
	kusto_free(json);
	kusto_execute(c, "db1", ".alter table U policy streamingingestion enable", &json, &err);
	kusto_free(json);

	len = gzip_text("{\"id\":1,\"v\":\"a\"}\n{\"id\":2,\"v\":\"b\"}\n", gz, sizeof(gz));
	CHECK(stream(c, "U", gz, len, &err) == KUSTO_OK, "streaming ingestion of a gzip body");
	CHECK(count_rows(c, "U") == 2, "the rows are there");

	/* several operations in flight at once */
	{
		int			i;
		int			done = 0;
		kusto_op   *op;
		void	   *user;

		for (i = 0; i < 4; i++)
			kusto_stream_ingest(c, "db1", "U", "json", NULL, gz, len, NULL);
		while (done < 4)
		{
			kusto_client_run(c, 100);
			while ((op = kusto_client_done(c, &user, &err)) != NULL)
			{
				done += (err.status == KUSTO_OK);
				kusto_op_free(op);
			}
		}
		CHECK(count_rows(c, "U") == 10, "four batches in flight at once all land");
	}

	admin("/admin/faults", "{\"kind\":\"streaming\",\"count\":1,\"action\":{\"status\":429,\"retryAfter\":2}}");
	CHECK(stream(c, "U", gz, len, &err) == KUSTO_ERR_THROTTLED && err.retry_after_s == 2,
		  "429 is throttled with its Retry-After");
	admin("/admin/faults", "{\"kind\":\"streaming\",\"count\":1,\"action\":{\"status\":503}}");
	CHECK(stream(c, "U", gz, len, &err) == KUSTO_ERR_TRANSIENT, "503 is transient");
	admin("/admin/faults", "{\"kind\":\"streaming\",\"count\":1,\"action\":{\"drop\":true}}");
	CHECK(stream(c, "U", gz, len, &err) == KUSTO_ERR_TRANSIENT, "a dropped connection is transient");
	admin("/admin/faults", "{\"kind\":\"streaming\",\"count\":1,\"action\":{\"status\":400,\"code\":\"BadRequest_Bad\",\"permanent\":true}}");
	CHECK(stream(c, "U", gz, len, &err) == KUSTO_ERR_PERMANENT && strcmp(err.code, "BadRequest_Bad") == 0,
		  "a permanent 400 keeps its code");
	CHECK(stream(c, "NoSuchTable", gz, len, &err) == KUSTO_ERR_PERMANENT, "a missing table is permanent");
	CHECK(count_rows(c, "U") == 10, "failed requests add no rows");
	kusto_client_destroy(c);

	c = client_with("wrong-secret");
	CHECK(stream(c, "U", gz, len, &err) == KUSTO_ERR_AUTH, "a wrong secret is an auth error");
	CHECK(strstr(err.message, "AADSTS7000215") != NULL && strstr(err.message, "wrong-secret") == NULL,
		  "the error explains, without the secret");
	admin("/admin/reset", "{}");
	stream(c, "U", gz, len, &err);
	stream(c, "U", gz, len, &err);
	{
		char		cmd[512];
		FILE	   *f;
		char		out[512] = "";

		snprintf(cmd, sizeof(cmd), "curl -s %s/admin/stats", url);
		f = popen(cmd, "r");
		if (f && fgets(out, sizeof(out), f) == NULL)
			out[0] = '\0';
		if (f)
			pclose(f);
		CHECK(strstr(out, "\"token\"") == NULL, "no token request within 30 s of a failure (no retry storm)");
	}
	kusto_client_destroy(c);

	/* managed identity through the emulator's IMDS endpoint */
	{
		kusto_config cfg;
		char		endpoint[512];

		memset(&cfg, 0, sizeof(cfg));
		snprintf(endpoint, sizeof(endpoint), "%s/metadata/identity/oauth2/token", url);
		cfg.cluster_url = url;
		cfg.auth = "managed_identity";
		cfg.managed_identity_endpoint = endpoint;
		cfg.managed_identity_id = "00000000-0000-0000-0000-000000000001";
		c = kusto_client_create(&cfg, &err);
		CHECK(c != NULL && kusto_execute(c, "db1", "U | count", &json, &err) == KUSTO_OK,
			  "a user-assigned managed identity gets a token from IMDS");
		kusto_free(json);
		json = NULL;
		kusto_client_destroy(c);
	}

	/* workload identity: the federated token file as assertion */
	{
		kusto_config cfg;
		char		path[] = "/tmp/kusto-unit-federated-XXXXXX";
		int			fd = mkstemp(path);
		FILE	   *f = fdopen(fd, "w");

		fputs("dev-federated-token\n", f);
		fclose(f);
		memset(&cfg, 0, sizeof(cfg));
		cfg.cluster_url = url;
		cfg.auth = "workload_identity";
		cfg.tenant_id = "emulator";
		cfg.app_id = "kusto-sink-dev";
		cfg.federated_token_file = path;
		c = kusto_client_create(&cfg, &err);
		CHECK(c != NULL && kusto_execute(c, "db1", "U | count", &json, &err) == KUSTO_OK,
			  "workload identity gets a token with the federated token");
		kusto_free(json);
		json = NULL;
		kusto_client_destroy(c);

		f = fopen(path, "w");
		fputs("forged\n", f);
		fclose(f);
		c = kusto_client_create(&cfg, &err);
		CHECK(c != NULL && kusto_execute(c, "db1", "U | count", &json, &err) == KUSTO_ERR_AUTH &&
			  strstr(err.message, "AADSTS700213") != NULL,
			  "a federated token the authority does not trust is an auth error");
		kusto_client_destroy(c);
		cfg.federated_token_file = "/nonexistent/token";
		c = kusto_client_create(&cfg, &err);
		CHECK(c != NULL && kusto_execute(c, "db1", "U | count", &json, &err) == KUSTO_ERR_AUTH &&
			  strstr(err.message, "could not read the federated token file") != NULL,
			  "a missing federated token file is a clear auth error");
		kusto_client_destroy(c);
		unlink(path);
	}
	/* app_key_file and token_file: the secret read from a file */
	{
		kusto_config cfg;
		char		path[] = "/tmp/kusto-unit-secret-XXXXXX";
		int			fd = mkstemp(path);
		FILE	   *f = fdopen(fd, "w");
		kusto_client *app;
		const char *token;
		char	   *saved = NULL;

		fputs("dev-secret\n", f);
		fclose(f);
		memset(&cfg, 0, sizeof(cfg));
		cfg.cluster_url = url;
		cfg.auth = "application";
		cfg.tenant_id = "emulator";
		cfg.app_id = "kusto-sink-dev";
		cfg.app_key_file = path;
		app = kusto_client_create(&cfg, &err);
		CHECK(app != NULL && kusto_execute(app, "db1", "U | count", &json, &err) == KUSTO_OK,
			  "app_key_file: a token with the secret read from the file (newline stripped)");
		kusto_free(json);
		json = NULL;
		token = kusto_token(app, &err);
		saved = token ? strdup(token) : NULL;
		kusto_client_destroy(app);

		f = fopen(path, "w");
		fputs("rotated-wrong", f);
		fclose(f);
		c = kusto_client_create(&cfg, &err);
		CHECK(c != NULL && kusto_execute(c, "db1", "U | count", &json, &err) == KUSTO_ERR_AUTH &&
			  strstr(err.message, "AADSTS7000215") != NULL && strstr(err.message, "rotated-wrong") == NULL,
			  "app_key_file: the file's new content is used at the next token fetch, not quoted");
		kusto_client_destroy(c);
		f = fopen(path, "w");
		fclose(f);
		c = kusto_client_create(&cfg, &err);
		CHECK(c != NULL && kusto_execute(c, "db1", "U | count", &json, &err) == KUSTO_ERR_AUTH &&
			  strstr(err.message, "is empty") != NULL && strstr(err.message, path) != NULL,
			  "app_key_file: an empty file is an auth error naming it");
		kusto_client_destroy(c);
		cfg.app_key_file = "/nonexistent/app_key";
		c = kusto_client_create(&cfg, &err);
		CHECK(c != NULL && kusto_execute(c, "db1", "U | count", &json, &err) == KUSTO_ERR_AUTH &&
			  strstr(err.message, "could not read the app_key_file \"/nonexistent/app_key\"") != NULL,
			  "app_key_file: a missing file is an auth error naming it");
		kusto_client_destroy(c);

		/* token_file: read for each request */
		f = fopen(path, "w");
		fprintf(f, "%s\n", saved ? saved : "");
		fclose(f);
		memset(&cfg, 0, sizeof(cfg));
		cfg.cluster_url = url;
		cfg.auth = "token";
		cfg.token_file = path;
		c = kusto_client_create(&cfg, &err);
		CHECK(c != NULL && kusto_execute(c, "db1", "U | count", &json, &err) == KUSTO_OK,
			  "token_file: the bearer token read from the file");
		kusto_free(json);
		json = NULL;
		f = fopen(path, "w");
		fputs("forged.token.value\n", f);
		fclose(f);
		CHECK(kusto_execute(c, "db1", "U | count", &json, &err) == KUSTO_ERR_AUTH &&
			  strstr(err.message, "forged") == NULL,
			  "token_file: the same client uses the file's new content at the next request");
		f = fopen(path, "w");
		fputs(saved ? saved : "", f);
		fclose(f);
		CHECK(kusto_execute(c, "db1", "U | count", &json, &err) == KUSTO_OK,
			  "token_file: and the good token again");
		kusto_free(json);
		json = NULL;
		kusto_client_destroy(c);
		free(saved);
		unlink(path);
	}
	/* certificate: a JWT signed with the registered certificate's key */
	{
		kusto_config cfg;
		const char *dir = getenv("KUSTO_CERT_DIR");
		char		cert[512],
					key[512],
					other_key[512];

		snprintf(cert, sizeof(cert), "%s/client.pem", dir);
		snprintf(key, sizeof(key), "%s/client-key.pem", dir);
		snprintf(other_key, sizeof(other_key), "%s/other/client-key.pem", dir);
		memset(&cfg, 0, sizeof(cfg));
		cfg.cluster_url = url;
		cfg.auth = "certificate";
		cfg.tenant_id = "emulator";
		cfg.app_id = "kusto-sink-dev";
		cfg.certificate_file = cert;
		cfg.private_key_file = key;
		c = kusto_client_create(&cfg, &err);
		CHECK(c != NULL && kusto_execute(c, "db1", "U | count", &json, &err) == KUSTO_OK,
			  "certificate credential, PS256 with x5t#S256");
		kusto_free(json);
		json = NULL;
		kusto_client_destroy(c);

		cfg.jwt_algorithm = "RS256";
		c = kusto_client_create(&cfg, &err);
		CHECK(c != NULL && kusto_execute(c, "db1", "U | count", &json, &err) == KUSTO_OK,
			  "certificate credential, RS256 with x5t");
		kusto_free(json);
		json = NULL;
		kusto_client_destroy(c);

		cfg.private_key_file = other_key;
		c = kusto_client_create(&cfg, &err);
		CHECK(c != NULL && kusto_execute(c, "db1", "U | count", &json, &err) == KUSTO_ERR_AUTH &&
			  strstr(err.message, "does not belong to the certificate") != NULL,
			  "a key that does not match the certificate is a clear auth error");
		kusto_client_destroy(c);

		cfg.certificate_file = "/nonexistent/cert.pem";
		c = kusto_client_create(&cfg, &err);
		CHECK(c != NULL && kusto_execute(c, "db1", "U | count", &json, &err) == KUSTO_ERR_AUTH &&
			  strstr(err.message, "could not read a PEM certificate") != NULL,
			  "a missing certificate file is a clear auth error");
		kusto_client_destroy(c);
	}
	return unit_summary();
}
