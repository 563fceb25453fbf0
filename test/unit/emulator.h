/*
 * emulator.h: what the core's tests share against the Kusto emulator: a
 * client for the development principal, the admin API (faults, reset),
 * counting rows, running a command, and gzip of a text.
 */
#ifndef KUSTO_UNIT_EMULATOR_H
#define KUSTO_UNIT_EMULATOR_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../../src/kusto/kusto.h"

/* the emulator's base URL (KUSTO_EMULATOR_URL), set by the test's main() */
static const char *url;

static inline kusto_client *
emu_client(const char *secret, size_t block_threshold)
{
	kusto_config cfg;
	kusto_error err;

	memset(&cfg, 0, sizeof(cfg));
	cfg.cluster_url = url;
	cfg.auth = "application";
	cfg.tenant_id = "emulator";
	cfg.app_id = "kusto-sink-dev";
	cfg.app_key = secret;
	cfg.request_timeout_ms = 5000;
	cfg.block_threshold = block_threshold;
	cfg.block_size = 1000;
	return kusto_client_create(&cfg, &err);
}

static inline void
admin(const char *path, const char *json)
{
	char		cmd[1024];

	snprintf(cmd, sizeof(cmd), "curl -s -o /dev/null -X POST -d '%s' %s%s", json, url, path);
	if (system(cmd) != 0)
		fprintf(stderr, "admin call failed\n");
}

/* `table | count` in db, or -1 */
static inline long
emu_count(kusto_client *c, const char *db, const char *table)
{
	char	   *json = NULL;
	char		csl[256];
	kusto_error err;
	long		n = -1;
	const char *p;

	snprintf(csl, sizeof(csl), "%s | count", table);
	if (kusto_execute(c, db, csl, &json, &err) == KUSTO_OK && (p = strstr(json, "\"Rows\":[[")) != NULL)
		n = strtol(p + 9, NULL, 10);
	kusto_free(json);
	return n;
}

static inline void
emu_mgmt(kusto_client *c, const char *db, const char *csl)
{
	char	   *json = NULL;
	kusto_error err;

	if (kusto_execute(c, db, csl, &json, &err) != KUSTO_OK)
		printf("# %s: %s\n", csl, err.message);
	kusto_free(json);
}

static inline size_t
gzip_text(const char *text, unsigned char *out, size_t cap)
{
	z_stream	zs;

	memset(&zs, 0, sizeof(zs));
	deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
	zs.next_in = (Bytef *) text;
	zs.avail_in = strlen(text);
	zs.next_out = out;
	zs.avail_out = cap;
	deflate(&zs, Z_FINISH);
	deflateEnd(&zs);
	return zs.total_out;
}

#endif
