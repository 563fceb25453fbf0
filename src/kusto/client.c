/*-------------------------------------------------------------------------
 *
 * client.c
 *	  The client: configuration, management commands and queries, and
 *	  streaming ingestion as operations that run in the background.
 *
 *-------------------------------------------------------------------------
 */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "kusto_int.h"


bool
kusto_interrupted(kusto_client *client)
{
	return client->interrupt != NULL && client->interrupt(client->interrupt_arg) != 0;
}

/* kusto_url_allowed(), or false with a BadConfiguration error naming the setting */
static bool
url_ok(const char *what, const char *url, bool allow_imds, kusto_error *err)
{
	char		why[256];

	if (url == NULL || kusto_url_allowed(url, allow_imds, why, sizeof(why)))
		return true;
	kusto_error_set(err, KUSTO_ERR_PERMANENT, 0, "BadConfiguration",
					"refusing to send a token to the %s: %s", what, why);
	return false;
}

/* A connection argument of the configuration, by its name (kusto_auth_args). */
static const char *
config_arg(const kusto_config *cfg, const char *name)
{
	static const struct
	{
		const char *name;
		size_t		offset;
	}			fields[] = {
		{"tenant_id", offsetof(kusto_config, tenant_id)},
		{"app_id", offsetof(kusto_config, app_id)},
		{"app_key", offsetof(kusto_config, app_key)},
		{"app_key_file", offsetof(kusto_config, app_key_file)},
		{"certificate_file", offsetof(kusto_config, certificate_file)},
		{"private_key_file", offsetof(kusto_config, private_key_file)},
		{"managed_identity_id", offsetof(kusto_config, managed_identity_id)},
		{"federated_token_file", offsetof(kusto_config, federated_token_file)},
		{"token", offsetof(kusto_config, token)},
		{"token_file", offsetof(kusto_config, token_file)},
	};
	size_t		i;

	for (i = 0; name != NULL && i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcmp(fields[i].name, name) == 0)
			return *(const char *const *) ((const char *) cfg + fields[i].offset);
	return NULL;
}

/* The argument's value, or its environment variable's (kusto_auth_methods). */
static const char *
arg_or_env(const kusto_auth_method_info *m, const kusto_config *cfg, const char *name)
{
	const kusto_auth_method_arg *a = kusto_auth_method_find_arg(m, name);
	const char *v = config_arg(cfg, name);

	if (v == NULL && a != NULL && a->env != NULL)
		v = getenv(a->env);
	return v;
}

/*
 * The first required argument of the method the configuration lacks, or
 * NULL; its secret may come from a file (secret_file).
 */
static const char *
missing_arg(const kusto_auth_method_info *m, const kusto_config *cfg)
{
	int			i;

	for (i = 0; i < KUSTO_AUTH_MAX_ARGS && m->args[i].name != NULL; i++)
	{
		const char *name = m->args[i].name;

		if (!m->args[i].required || arg_or_env(m, cfg, name) != NULL)
			continue;
		if (m->secret != NULL && strcmp(name, m->secret) == 0 &&
			config_arg(cfg, m->secret_file) != NULL)
			continue;
		return name;
	}
	return NULL;
}

/*
 * What the method needs, for an error: "tenant_id, app_id and app_key (or
 * app_key_file)", "a token (or token_file)", and the environment variables
 * that may stand in.
 */
static void
describe_needs(const kusto_auth_method_info *m, char *out, size_t size)
{
	const char *names[KUSTO_AUTH_MAX_ARGS];
	const char *envs[KUSTO_AUTH_MAX_ARGS];
	int			n = 0;
	int			nenv = 0;
	size_t		len;
	int			i;

	for (i = 0; i < KUSTO_AUTH_MAX_ARGS && m->args[i].name != NULL; i++)
	{
		if (!m->args[i].required)
			continue;
		names[n++] = m->args[i].name;
		if (m->args[i].env != NULL)
			envs[nenv++] = m->args[i].env;
	}
	len = (size_t) snprintf(out, size, "auth method %s needs %s", m->name, n == 1 ? "a " : "");
	for (i = 0; i < n && len < size; i++)
	{
		len += (size_t) snprintf(out + len, size - len, "%s%s", i == 0 ? "" : (i == n - 1 ? " and " : ", "),
								 names[i]);
		if (m->secret != NULL && strcmp(names[i], m->secret) == 0 && len < size)
			len += (size_t) snprintf(out + len, size - len, " (or %s)", m->secret_file);
	}
	for (i = 0; i < nenv && len < size; i++)
		len += (size_t) snprintf(out + len, size - len, "%s%s", i == 0 ? ", or the " : (i == nenv - 1 ? " and " : ", "),
								 envs[i]);
	if (nenv > 0 && len < size)
		snprintf(out + len, size - len, " environment variables");
}

kusto_client *
kusto_client_create(const kusto_config *cfg, kusto_error *err)
{
	kusto_client *c;
	const kusto_auth_method_info *m;
	size_t		len;

	kusto_error_clear(err);
	if (cfg->cluster_url == NULL || cfg->auth == NULL)
	{
		kusto_error_set(err, KUSTO_ERR_PERMANENT, 0, "BadConfiguration",
						"a cluster URL and an auth method are required");
		return NULL;
	}
	if (!url_ok("cluster_url", cfg->cluster_url, false, err))
		return NULL;
	m = kusto_auth_method_find(cfg->auth);
	if (m == NULL)
	{
		kusto_error_set(err, KUSTO_ERR_PERMANENT, 0, "NotSupported",
						"auth method %s is not supported by this build of the ingest core yet",
						cfg->auth);
		return NULL;
	}
	if (missing_arg(m, cfg) != NULL)
	{
		char		needs[512];

		describe_needs(m, needs, sizeof(needs));
		kusto_error_set(err, KUSTO_ERR_PERMANENT, 0, "BadConfiguration", "%s", needs);
		return NULL;
	}

	c = kusto_malloc(sizeof(kusto_client));
	memset(c, 0, sizeof(*c));
	c->cluster_url = kusto_strdup(cfg->cluster_url);
	len = strlen(c->cluster_url);
	while (len > 0 && c->cluster_url[len - 1] == '/')
		c->cluster_url[--len] = '\0';
	c->auth = kusto_strdup(cfg->auth);
	/* (workload identity: the AZURE_* variables stand in for what is not given) */
	c->tenant_id = kusto_strdup(arg_or_env(m, cfg, "tenant_id"));
	c->app_id = kusto_strdup(arg_or_env(m, cfg, "app_id"));
	c->app_key = kusto_strdup(cfg->app_key);
	c->static_token = kusto_strdup(cfg->token);
	c->app_key_file = kusto_strdup(cfg->app_key_file);
	c->token_file = kusto_strdup(cfg->token_file);
	c->managed_identity_id = kusto_strdup(cfg->managed_identity_id);
	c->federated_token_file = kusto_strdup(arg_or_env(m, cfg, "federated_token_file"));
	c->certificate_file = kusto_strdup(cfg->certificate_file);
	c->private_key_file = kusto_strdup(cfg->private_key_file);
	c->jwt_rs256 = (cfg->jwt_algorithm != NULL && strcmp(cfg->jwt_algorithm, "RS256") == 0);
	if (cfg->managed_identity_endpoint)
		c->managed_identity_endpoint = kusto_strdup(cfg->managed_identity_endpoint);
	else if (getenv("IDENTITY_ENDPOINT") && getenv("IDENTITY_HEADER"))
	{
		/* App Service / Functions */
		c->managed_identity_endpoint = kusto_strdup(getenv("IDENTITY_ENDPOINT"));
		c->identity_header = kusto_strdup(getenv("IDENTITY_HEADER"));
	}
	else if (getenv("MSAL_MANAGED_IDENTITY_ENDPOINT"))
		c->managed_identity_endpoint = kusto_strdup(getenv("MSAL_MANAGED_IDENTITY_ENDPOINT"));
	else
		c->managed_identity_endpoint = kusto_strdup("http://169.254.169.254/metadata/identity/oauth2/token");
	c->authority_host = kusto_strdup(cfg->authority_host);
	if (c->authority_host == NULL && m->method == KUSTO_AUTH_WORKLOAD_IDENTITY &&
		getenv("AZURE_AUTHORITY_HOST"))
		c->authority_host = kusto_strdup(getenv("AZURE_AUTHORITY_HOST"));
	if (c->authority_host)
	{
		len = strlen(c->authority_host);
		while (len > 0 && c->authority_host[len - 1] == '/')
			c->authority_host[--len] = '\0';
	}
	c->ca_file = kusto_strdup(cfg->ca_file);
	c->proxy = kusto_strdup(cfg->proxy);
	c->ingest_url = kusto_strdup(cfg->ingest_url);
	c->app_name = kusto_strdup(cfg->app_name ? cfg->app_name : "kusto_sink");
	c->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 10000;
	c->request_timeout_ms = cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : 0;
	c->block_threshold = cfg->block_threshold > 0 ? cfg->block_threshold : 64 * 1024 * 1024;
	c->block_size = cfg->block_size > 0 ? cfg->block_size : 8 * 1024 * 1024;
	c->seed = (unsigned int) time(NULL) ^ (unsigned int) (size_t) c;
	/* every endpoint, the ones from the environment too (kusto.h) */
	if (!url_ok("authority_host", c->authority_host, false, err) ||
		!url_ok("managed_identity_endpoint", c->managed_identity_endpoint, true, err) ||
		!url_ok("ingest_url", c->ingest_url, false, err) ||
		!url_ok("proxy", (c->proxy && c->proxy[0]) ? c->proxy : NULL, false, err))
	{
		kusto_client_destroy(c);
		return NULL;
	}
	c->multi = curl_multi_init();
	curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, 8L);
	return c;
}

static void
free_secret(char *s)
{
	if (s)
	{
		memset(s, 0, strlen(s));
		kusto_free(s);
	}
}

void
kusto_client_destroy(kusto_client *c)
{
	kusto_op   *op;
	kusto_op   *next;

	if (c == NULL)
		return;
	for (op = c->ops; op; op = next)
	{
		next = op->next;
		if (op->req)
			curl_multi_remove_handle(c->multi, op->req->easy);
		kusto_op_free(op);
	}
	for (op = c->done_head; op; op = next)
	{
		next = op->next;
		kusto_op_free(op);
	}
	curl_multi_cleanup(c->multi);
	kusto_resources_free(c->res);
	kusto_status_book_free(c->status_book);
	kusto_streaming_memo_free(c);
	kusto_free(c->cluster_url);
	kusto_free(c->auth);
	kusto_free(c->tenant_id);
	kusto_free(c->app_id);
	free_secret(c->app_key);
	free_secret(c->static_token);
	kusto_free(c->app_key_file);
	kusto_free(c->token_file);
	free_secret(c->token);
	free_secret(c->identity_header);
	kusto_free(c->managed_identity_id);
	kusto_free(c->managed_identity_endpoint);
	kusto_free(c->federated_token_file);
	kusto_free(c->certificate_file);
	kusto_free(c->private_key_file);
	kusto_free(c->authority_host);
	kusto_free(c->ca_file);
	kusto_free(c->proxy);
	kusto_free(c->ingest_url);
	kusto_free(c->app_name);
	kusto_free(c->resource);
	kusto_free(c);
}

void
kusto_client_set_interrupt(kusto_client *c, int (*callback) (void *), void *arg)
{
	c->interrupt = callback;
	c->interrupt_arg = arg;
}

kusto_status
kusto_execute(kusto_client *c, const char *db, const char *csl, char **result_json,
			  kusto_error *err)
{
	return kusto_execute_at(c, c->cluster_url, db, csl, result_json, err);
}

/*
 * POSTs {"db", "csl", "properties"} to url with the bearer token and waits:
 * the answer's body (kusto_free it) or an error.
 */
/*
 * The request that POSTs {"db", "csl", "properties"} to url with the bearer
 * token (NULL and err when there is no token).
 */
kusto_request *
kusto_csl_request(kusto_client *c, const char *url, const char *db, const char *csl,
				  bool strong_consistency, kusto_error *err)
{
	const char *token = kusto_token(c, err);
	bool		command = csl[strspn(csl, " \t\r\n")] == '.';
	json_t	   *body;
	char	   *text;
	kusto_request *req;

	if (token == NULL)
		return NULL;
	body = json_pack("{s:s, s:s, s:{s:{}}}", "db", db, "csl", csl, "properties", "Options");
	/*
	 * A query that decides whether a batch is in Kusto reads what every
	 * node has committed, whatever the database's default (Kusto's
	 * client request property queryconsistency, docs: query consistency)
	 */
	if (strong_consistency)
		json_object_set_new(json_object_get(json_object_get(body, "properties"), "Options"),
							"queryconsistency", json_string("strongconsistency"));
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	req = kusto_request_new(c, url, "application/json; charset=utf-8", NULL, text, strlen(text), token);
	kusto_request_set_timeout(req, c, command ? KUSTO_TIMEOUT_MGMT : KUSTO_TIMEOUT_QUERY);
	/* the request keeps its own copy of the body (the size is set already) */
	curl_easy_setopt(req->easy, CURLOPT_COPYPOSTFIELDS, text);
	kusto_free(text);
	return req;
}

/* Sends kusto_csl_request() and waits: the answer's body (kusto_free it) or an error. */
kusto_status
kusto_post_csl(kusto_client *c, const char *url, const char *db, const char *csl,
			   char **answer, size_t *answer_len, kusto_error *err)
{
	kusto_request *req = kusto_csl_request(c, url, db, csl, false, err);
	bool		ok;

	*answer = NULL;
	if (req == NULL)
		return err->status;
	kusto_request_submit(c, req);
	ok = kusto_request_wait(c, req, err);
	if (ok)
	{
		*answer = req->response.data;	/* handed over */
		if (answer_len)
			*answer_len = req->response.len;
		req->response.data = NULL;
	}
	kusto_request_free(req);
	return ok ? KUSTO_OK : err->status;
}

/* kusto_execute() against another endpoint of the cluster (the DM's) */
kusto_status
kusto_execute_at(kusto_client *c, const char *base_url, const char *db, const char *csl,
				 char **result_json, kusto_error *err)
{
	char	   *url = kusto_asprintf("%s/v1/rest/%s", base_url,
									 csl[strspn(csl, " \t\r\n")] == '.' ? "mgmt" : "query");
	kusto_status status = kusto_post_csl(c, url, db, csl, result_json, NULL, err);

	kusto_free(url);
	return status;
}

/* ---------- operations ---------- */

static kusto_op *
op_finish(kusto_client *c, kusto_op *op)
{
	op->next = NULL;
	if (c->done_tail)
		c->done_tail->next = op;
	else
		c->done_head = op;
	c->done_tail = op;
	return op;
}

/* The streaming ingestion request for gz (NULL and err when there is no token). */
kusto_request *
kusto_stream_request(kusto_client *c, const char *db, const char *table, const char *format,
					 const char *mapping, const void *gz, size_t gz_len, kusto_error *err)
{
	const char *token = kusto_token(c, err);
	char	   *edb,
			   *etable,
			   *eformat,
			   *emapping;
	char	   *url;
	kusto_request *req;

	if (token == NULL)
		return NULL;
	edb = curl_easy_escape(NULL, db, 0);
	etable = curl_easy_escape(NULL, table, 0);
	eformat = curl_easy_escape(NULL, format, 0);
	emapping = mapping ? curl_easy_escape(NULL, mapping, 0) : NULL;
	url = kusto_asprintf("%s/v1/rest/ingest/%s/%s?streamFormat=%s%s%s",
						 c->cluster_url, edb, etable, eformat,
						 emapping ? "&mappingName=" : "", emapping ? emapping : "");
	curl_free(edb);
	curl_free(etable);
	curl_free(eformat);
	curl_free(emapping);
	req = kusto_request_new(c, url, "application/octet-stream", "gzip", gz, gz_len, token);
	kusto_request_set_timeout(req, c, KUSTO_TIMEOUT_STREAMING);
	kusto_free(url);
	kusto_request_no_resend(req, gz, gz_len, false);
	return req;
}

kusto_op *
kusto_stream_ingest(kusto_client *c, const char *db, const char *table, const char *format,
					const char *mapping, const void *gz, size_t gz_len, void *user)
{
	kusto_op   *op = kusto_malloc(sizeof(kusto_op));

	memset(op, 0, sizeof(*op));
	kusto_error_clear(&op->err);
	op->kind = KUSTO_OP_STREAM;
	op->user = user;
	op->req = kusto_stream_request(c, db, table, format, mapping, gz, gz_len, &op->err);
	return kusto_op_start(c, op);
}

int
kusto_client_run(kusto_client *c, int max_wait_ms)
{
	kusto_op  **p;
	int			inflight = 0;

	if (c->ops == NULL)
		return 0;
	kusto_http_run(c, max_wait_ms);
	p = &c->ops;
	while (*p)
	{
		kusto_op   *op = *p;

		if (!op->req->done)
		{
			inflight++;
			p = &op->next;
			continue;
		}
		if (op->kind == KUSTO_OP_COUNT)
		{
			*p = op->next;
			kusto_count_finish(op);
			op_finish(c, op);
			continue;
		}
		if (op->kind != KUSTO_OP_STREAM)
		{
			/* a step of a queued, managed or status operation */
			if (kusto_queued_advance(c, op))
			{
				inflight++;
				p = &op->next;
				continue;
			}
			*p = op->next;
			op_finish(c, op);
			continue;
		}
		*p = op->next;
		kusto_request_outcome(op->req, &op->err);
		op_finish(c, op);
	}
	return inflight;
}

kusto_op *
kusto_client_done(kusto_client *c, void **user, kusto_error *err)
{
	kusto_op   *op = c->done_head;

	if (op == NULL)
		return NULL;
	c->done_head = op->next;
	if (c->done_head == NULL)
		c->done_tail = NULL;
	op->next = NULL;
	*user = op->user;
	*err = op->err;
	return op;
}

void
kusto_op_free(kusto_op *op)
{
	if (op == NULL)
		return;
	kusto_request_free(op->req);
	kusto_queued_free(op->q);
	kusto_free(op->statuses);
	kusto_free(op);
}

const kusto_ingest_status *
kusto_op_status(const kusto_op *op)
{
	return &op->status;
}

int
kusto_op_nstatuses(const kusto_op *op)
{
	return op->nstatuses;
}

const kusto_ingest_status *
kusto_op_status_at(const kusto_op *op, int i)
{
	return i >= 0 && i < op->nstatuses ? &op->statuses[i] : NULL;
}

const kusto_ingest_result *
kusto_op_result(const kusto_op *op)
{
	return &op->result;
}

/* Starts an operation's first request (or finishes it at once on error). */
kusto_op *
kusto_op_start(kusto_client *c, kusto_op *op)
{
	if (op->req == NULL)
		return op_finish(c, op);
	op->req->owner = op;
	kusto_request_submit(c, op->req);
	op->next = c->ops;
	c->ops = op;
	return op;
}
