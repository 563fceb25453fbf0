/*-------------------------------------------------------------------------
 *
 * kusto_cli.c
 *	  kusto-cli: the ingest core from the command line, for trying a
 *	  cluster (or the emulator) without PostgreSQL.
 *
 *	  kusto-cli [connection options] query DB 'CSL'
 *	  kusto-cli [connection options] ingest DB TABLE FILE [--format F]
 *	            [--method streaming|queued|managed] [--mapping M]
 *	            [--tag T]... [--ingest-if-not-exists V] [--wait]
 *	  kusto-cli [connection options] status SOURCE_ID
 *
 *	  Connection options: --cluster URL, --auth METHOD, --tenant, --app-id,
 *	  --certificate-file, --private-key-file, --managed-identity-id,
 *	  --federated-token-file, --ca-file, --proxy.  Secrets come from the
 *	  environment only (KUSTO_APP_KEY, KUSTO_TOKEN), never from argv.
 *	  FILE is gzip-compressed here unless it already is.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../kusto.h"

static void
usage(void)
{
	fprintf(stderr,
			"usage: kusto-cli --cluster URL [--auth application|certificate|managed_identity|workload_identity|token]\n"
			"                 [--tenant T] [--app-id A] [--certificate-file F] [--private-key-file F]\n"
			"                 [--managed-identity-id I] [--federated-token-file F] [--ca-file F] [--proxy P]\n"
			"                 query DB CSL\n"
			"               | ingest DB TABLE FILE [--format F] [--method streaming|queued|managed]\n"
			"                        [--mapping M] [--tag T]... [--ingest-if-not-exists V] [--wait]\n"
			"               | status SOURCE_ID\n"
			"secrets: KUSTO_APP_KEY (application), KUSTO_TOKEN (token)\n");
	exit(2);
}

/* the file's content, gzip-compressed; raw_size gets its uncompressed size */
static unsigned char *
read_gzipped(const char *path, size_t *len, size_t *raw_size)
{
	FILE	   *f = fopen(path, "rb");
	unsigned char *raw = NULL;
	size_t		n = 0,
				cap = 0,
				r;
	z_stream	zs;
	unsigned char *out;

	if (f == NULL)
	{
		perror(path);
		exit(1);
	}
	do
	{
		if (n + 65536 > cap)
			raw = realloc(raw, cap = (cap + 65536) * 2);
		r = fread(raw + n, 1, 65536, f);
		n += r;
	} while (r > 0);
	fclose(f);
	if (n >= 2 && raw[0] == 0x1f && raw[1] == 0x8b)
	{
		*len = n;
		*raw_size = n * 8;		/* unknown: a guess, as the SDKs make */
		return raw;
	}
	*raw_size = n;
	memset(&zs, 0, sizeof(zs));
	deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
	out = malloc(deflateBound(&zs, n) + 32);
	zs.next_in = raw;
	zs.avail_in = n;
	zs.next_out = out;
	zs.avail_out = deflateBound(&zs, n) + 32;
	deflate(&zs, Z_FINISH);
	*len = zs.total_out;
	deflateEnd(&zs);
	free(raw);
	return out;
}

static kusto_op *
wait_op(kusto_client *c, kusto_error *err)
{
	kusto_op   *op;
	void	   *user;

	while ((op = kusto_client_done(c, &user, err)) == NULL)
		kusto_client_run(c, 200);
	return op;
}

static int
fail(const kusto_error *err)
{
	fprintf(stderr, "kusto-cli: %s (%s%s%s)\n", err->message, kusto_status_name(err->status),
			err->code[0] ? ", " : "", err->code);
	return 1;
}

static int
show_status(kusto_client *c, const char *id, bool wait)
{
	kusto_error err;
	kusto_op   *op;
	kusto_ingest_status st;

	for (;;)
	{
		kusto_get_ingest_status(c, id, NULL);
		op = wait_op(c, &err);
		st = *kusto_op_status(op);
		kusto_op_free(op);
		if (err.status != KUSTO_OK)
			return fail(&err);
		if (!wait || st.state != KUSTO_INGEST_PENDING)
			break;
		usleep(500 * 1000);
	}
	printf("%s\t%s\t%s\t%s\n", id, kusto_ingest_state_name(st.state), st.error_code, st.details);
	return st.state == KUSTO_INGEST_SUCCEEDED || st.state == KUSTO_INGEST_ALREADY_INGESTED ||
		st.state == KUSTO_INGEST_PENDING ? 0 : 1;
}

int
main(int argc, char **argv)
{
	kusto_config cfg;
	kusto_ingest_options o;
	kusto_error err;
	kusto_client *c;
	const char *method = "queued";
	const char *tags[32];
	bool		wait = false;
	int			i;
	const char *cmd = NULL;
	const char *args[3] = {NULL, NULL, NULL};
	int			nargs = 0;
	int			rc;

	memset(&cfg, 0, sizeof(cfg));
	memset(&o, 0, sizeof(o));
	cfg.auth = "application";
	o.format = "csv";
	o.tags = tags;
	for (i = 1; i < argc; i++)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

#define OPT(name, field) if (strcmp(a, name) == 0) { if (!v) usage(); field = v; i++; continue; }
		OPT("--cluster", cfg.cluster_url);
		OPT("--auth", cfg.auth);
		OPT("--tenant", cfg.tenant_id);
		OPT("--app-id", cfg.app_id);
		OPT("--certificate-file", cfg.certificate_file);
		OPT("--private-key-file", cfg.private_key_file);
		OPT("--managed-identity-id", cfg.managed_identity_id);
		OPT("--federated-token-file", cfg.federated_token_file);
		OPT("--ca-file", cfg.ca_file);
		OPT("--proxy", cfg.proxy);
		OPT("--format", o.format);
		OPT("--method", method);
		OPT("--mapping", o.mapping);
		OPT("--ingest-if-not-exists", o.ingest_if_not_exists);
#undef OPT
		if (strcmp(a, "--tag") == 0 && v && o.ntags < 32)
		{
			tags[o.ntags++] = v;
			i++;
		}
		else if (strcmp(a, "--wait") == 0)
			wait = true;
		else if (a[0] == '-')
			usage();
		else if (cmd == NULL)
			cmd = a;
		else if (nargs < 3)
			args[nargs++] = a;
		else
			usage();
	}
	if (cmd == NULL || cfg.cluster_url == NULL)
		usage();
	cfg.app_key = getenv("KUSTO_APP_KEY");
	cfg.token = getenv("KUSTO_TOKEN");
	cfg.app_name = "kusto-cli";
	c = kusto_client_create(&cfg, &err);
	if (c == NULL)
		return fail(&err);

	if (strcmp(cmd, "query") == 0 && nargs == 2)
	{
		char	   *json = NULL;

		rc = kusto_execute(c, args[0], args[1], &json, &err) == KUSTO_OK ? (puts(json), 0) : fail(&err);
		kusto_free(json);
	}
	else if (strcmp(cmd, "status") == 0 && nargs == 1)
		rc = show_status(c, args[0], wait);
	else if (strcmp(cmd, "ingest") == 0 && nargs == 3)
	{
		size_t		len;
		unsigned char *gz = read_gzipped(args[2], &len, &o.raw_size);
		kusto_op   *op;
		kusto_ingest_result res;

		o.track_status = strcmp(method, "streaming") != 0;
		if (strcmp(method, "streaming") == 0)
			kusto_stream_ingest(c, args[0], args[1], o.format, o.mapping, gz, len, NULL);
		else if (strcmp(method, "managed") == 0)
			kusto_managed_ingest(c, args[0], args[1], &o, gz, len, NULL);
		else if (strcmp(method, "queued") == 0)
			kusto_queued_ingest(c, args[0], args[1], &o, gz, len, NULL);
		else
			usage();
		op = wait_op(c, &err);
		res = *kusto_op_result(op);
		kusto_op_free(op);
		if (err.status != KUSTO_OK)
			rc = fail(&err);
		else if (strcmp(method, "streaming") == 0 || !res.queued)
			rc = (printf("streamed\n"), 0);
		else
			rc = wait ? show_status(c, res.source_id, true) : (printf("%s\tqueued\n", res.source_id), 0);
		free(gz);
	}
	else
		usage();
	kusto_client_destroy(c);
	return rc;
}
