/*
 * The ingest core over HTTPS (KUSTO_EMULATOR_TLS_URL, a server certificate
 * from a throw-away CA in KUSTO_CERT_DIR): verified with the CA file,
 * refused without it (a permanent error, the token never sent).
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/kusto/kusto_int.h"
#include "unit.h"

int
main(void)
{
	const char *url = getenv("KUSTO_EMULATOR_TLS_URL");
	const char *dir = getenv("KUSTO_CERT_DIR");
	char		ca[512];
	kusto_config cfg;
	kusto_error err;
	kusto_client *c;
	char	   *json = NULL;

	if (url == NULL || dir == NULL)
	{
		CHECK(0, "the HTTPS emulator is running");
		return unit_summary();
	}
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	memset(&cfg, 0, sizeof(cfg));
	cfg.cluster_url = url;
	cfg.auth = "application";
	cfg.tenant_id = "emulator";
	cfg.app_id = "kusto-sink-dev";
	cfg.app_key = "dev-secret";
	cfg.ca_file = ca;
	c = kusto_client_create(&cfg, &err);
	CHECK(c != NULL && kusto_execute(c, "db1", ".show version", &json, &err) == KUSTO_OK,
		  "HTTPS with the CA file: token and command");
	kusto_free(json);
	json = NULL;
	kusto_client_destroy(c);

	cfg.ca_file = NULL;
	c = kusto_client_create(&cfg, &err);
	CHECK(c != NULL && kusto_execute(c, "db1", ".show version", &json, &err) == KUSTO_ERR_PERMANENT,
		  "an unverifiable server certificate is a permanent error");
	CHECK(strstr(err.message, "certificate") != NULL || strstr(err.message, "SSL") != NULL,
		  "which says it is about the certificate");
	kusto_client_destroy(c);
	return unit_summary();
}
