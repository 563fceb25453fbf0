/*-------------------------------------------------------------------------
 *
 * auth.c
 *	  Bearer tokens: a static token, or an Entra ID application with a
 *	  client secret (client credentials, v2 token endpoint).
 *
 * A secret may come from a file instead of the configuration: app_key_file
 * is read at each token fetch, token_file for each request (a changed
 * content is used at once); trailing newlines are stripped, and an
 * unreadable or empty file is an auth error naming the file, never its
 * content.
 *
 * The resource comes from the cluster's /v1/rest/auth/metadata
 * (KustoServiceResourceId, and LoginEndpoint as the authority unless one is
 * configured); without metadata, https://kusto.kusto.windows.net and
 * https://login.microsoftonline.com.  A token is cached and refreshed five
 * minutes before it expires; after a failure the next attempt waits 30 s
 * (the error is returned meanwhile), so a wrong secret causes no storm.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kusto_int.h"

#define REFRESH_MARGIN_S 300
#define FAILURE_PAUSE_S 30

/*
 * The resource (and authority) from /v1/rest/auth/metadata.  A 404 or an
 * answer without them means the documented defaults; a transport or TLS
 * error, or any other status, is an error (the next attempt asks again).
 */
static bool
discover_resource(kusto_client *c, kusto_error *err)
{
	char	   *url;
	kusto_request *req;
	bool		ok;

	url = kusto_asprintf("%s/v1/rest/auth/metadata", c->cluster_url);
	req = kusto_request_new(c, url, NULL, NULL, NULL, 0, NULL);
	kusto_free(url);
	kusto_request_submit(c, req);
	ok = kusto_request_wait(c, req, err);
	if (ok)
	{
		json_error_t jerr;
		json_t	   *root = json_loadb(req->response.data, req->response.len, 0, &jerr);
		json_t	   *aad = root ? json_object_get(root, "AzureAD") : NULL;
		const char *resource = json_string_value(json_object_get(aad, "KustoServiceResourceId"));
		const char *login = json_string_value(json_object_get(aad, "LoginEndpoint"));
		char		why[256];

		if (login && c->authority_host == NULL &&
			!kusto_url_allowed(login, false, why, sizeof(why)))
		{
			/* the cluster must not make us send the secret elsewhere in clear */
			kusto_error_set(err, KUSTO_ERR_AUTH, 0, "BadLoginEndpoint",
							"refusing the LoginEndpoint of the cluster's auth metadata: %s", why);
			ok = false;
		}
		else
		{
			if (resource)
				c->resource = kusto_strdup(resource);
			if (login && c->authority_host == NULL)
				c->authority_host = kusto_strdup(login);
		}
		if (root)
			json_decref(root);
	}
	else if (req->done && req->curl_rc == CURLE_OK && req->http_status == 404)
		ok = true;				/* no metadata: the defaults */
	kusto_request_free(req);
	if (!ok)
		return false;
	if (c->resource == NULL)
		c->resource = kusto_strdup("https://kusto.kusto.windows.net");
	if (c->authority_host == NULL)
		c->authority_host = kusto_strdup("https://login.microsoftonline.com");
	return true;
}

/*
 * Reads a secret file (the federated token, app_key_file, token_file): its
 * content without trailing newlines, in memory the caller frees (and
 * wipes); NULL and err naming the file, never its content, when it cannot
 * be read or is empty.  what names the file in the message.
 */
static char *
read_secret_file(const char *path, const char *what, const char *code,
				 kusto_error *err)
{
	FILE	   *f = fopen(path, "r");
	kusto_buf	buf = {0};
	char		chunk[4096];
	size_t		n;
	bool		failed;

	if (f == NULL)
	{
		kusto_error_set(err, KUSTO_ERR_AUTH, 0, code,
						"could not read the %s \"%s\": %s", what, path, strerror(errno));
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		kusto_buf_append(&buf, chunk, n);
	failed = ferror(f) != 0;
	fclose(f);
	memset(chunk, 0, sizeof(chunk));
	if (failed)
	{
		if (buf.data)
			memset(buf.data, 0, buf.len);
		kusto_buf_free(&buf);
		kusto_error_set(err, KUSTO_ERR_AUTH, 0, code,
						"could not read the %s \"%s\"", what, path);
		return NULL;
	}
	while (buf.len > 0 && (buf.data[buf.len - 1] == '\n' || buf.data[buf.len - 1] == '\r'))
		buf.data[--buf.len] = '\0';
	if (buf.len == 0)
	{
		kusto_buf_free(&buf);
		kusto_error_set(err, KUSTO_ERR_AUTH, 0, code,
						"the %s \"%s\" is empty", what, path);
		return NULL;
	}
	return buf.data;
}

static void
wipe_free(char *s)
{
	if (s)
	{
		memset(s, 0, strlen(s));
		kusto_free(s);
	}
}

/* Keeps the access token of a token endpoint's (or IMDS's) JSON answer. */
static bool
take_token(kusto_client *c, kusto_request *req, kusto_error *err)
{
	json_error_t jerr;
	json_t	   *root = json_loadb(req->response.data, req->response.len, 0, &jerr);
	const char *token = root ? json_string_value(json_object_get(root, "access_token")) : NULL;
	json_t	   *exp = root ? json_object_get(root, "expires_in") : NULL;
	long		expires_in = json_is_integer(exp) ? (long) json_integer_value(exp)
		: (json_is_string(exp) ? strtol(json_string_value(exp), NULL, 10) : 3600);
	bool		ok = false;

	if (token)
	{
		kusto_free(c->token);
		c->token = kusto_strdup(token);
		c->token_expires = time(NULL) + expires_in;
		ok = true;
	}
	else
		kusto_error_set(err, KUSTO_ERR_AUTH, req->http_status, "invalid_response",
						"the token endpoint answered without an access token");
	if (root)
		json_decref(root);
	return ok;
}

static bool
fetch_managed_identity_token(kusto_client *c, kusto_error *err)
{
	CURL	   *esc = curl_easy_init();
	char	   *resource = curl_easy_escape(esc, c->resource, 0);
	char	   *id = c->managed_identity_id ? curl_easy_escape(esc, c->managed_identity_id, 0) : NULL;
	bool		app_service = (c->identity_header != NULL);
	char	   *url;
	kusto_request *req;
	bool		ok = false;

	url = kusto_asprintf("%s%sapi-version=%s&resource=%s%s%s",
						 c->managed_identity_endpoint, strchr(c->managed_identity_endpoint, '?') ? "&" : "?",
						 app_service ? "2019-08-01" : "2018-02-01", resource,
						 id ? (c->managed_identity_id[0] == '/' ? (app_service ? "&mi_res_id=" : "&msi_res_id=") : "&client_id=") : "",
						 id ? id : "");
	req = kusto_request_new(c, url, NULL, NULL, NULL, 0, NULL);
	kusto_free(url);
	if (app_service)
	{
		size_t		n = strlen(c->identity_header) + 32;
		char	   *h = kusto_malloc(n);

		snprintf(h, n, "X-IDENTITY-HEADER: %s", c->identity_header);
		req->headers = curl_slist_append(req->headers, h);
		kusto_free(h);
	}
	else
		req->headers = curl_slist_append(req->headers, "Metadata: true");
	curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->headers);
	kusto_request_submit(c, req);
	if (kusto_request_wait(c, req, err))
		ok = take_token(c, req, err);
	else if (err->status == KUSTO_ERR_PERMANENT)
		err->status = KUSTO_ERR_AUTH;
	kusto_request_free(req);
	curl_free(resource);
	curl_free(id);
	curl_easy_cleanup(esc);
	return ok;
}

static bool
fetch_application_token(kusto_client *c, kusto_error *err)
{
	CURL	   *esc = curl_easy_init();
	char	   *id = curl_easy_escape(esc, c->app_id, 0);
	char	   *assertion = NULL;
	char	   *key_from_file = NULL;
	char	   *secret;
	char	   *scope_raw;
	char	   *scope;
	char	   *form;
	char	   *url;
	size_t		n;
	kusto_request *req;
	bool		ok = false;

	url = kusto_asprintf("%s/%s/oauth2/v2.0/token", c->authority_host, c->tenant_id);
	/* the credential: a signed JWT, the federated token, or the secret */
	if (strcmp(c->auth, "certificate") == 0 || strcmp(c->auth, "workload_identity") == 0)
	{
		assertion = strcmp(c->auth, "certificate") == 0
			? kusto_jwt_client_assertion(c->certificate_file, c->private_key_file,
										 c->jwt_rs256, c->app_id, url, err)
			: read_secret_file(c->federated_token_file, "federated token file",
							   "FederatedTokenFile", err);
		if (assertion == NULL)
		{
			kusto_free(url);
			curl_free(id);
			curl_easy_cleanup(esc);
			return false;
		}
		secret = curl_easy_escape(esc, assertion, 0);
	}
	else
	{
		/* app_key_file: read at each token fetch, so a rotation needs no restart */
		if (c->app_key_file)
		{
			key_from_file = read_secret_file(c->app_key_file, "app_key_file",
											 "AppKeyFile", err);
			if (key_from_file == NULL)
			{
				kusto_free(url);
				curl_free(id);
				curl_easy_cleanup(esc);
				return false;
			}
		}
		secret = curl_easy_escape(esc, key_from_file ? key_from_file : c->app_key, 0);
		wipe_free(key_from_file);
	}
	n = strlen(c->resource) + 16;
	scope_raw = kusto_malloc(n);
	snprintf(scope_raw, n, "%s/.default", c->resource);
	scope = curl_easy_escape(esc, scope_raw, 0);
	n = strlen(id) + strlen(secret) + strlen(scope) + 256;
	form = kusto_malloc(n);
	if (assertion)
		snprintf(form, n, "grant_type=client_credentials&client_id=%s&scope=%s"
				 "&client_assertion_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Aclient-assertion-type%%3Ajwt-bearer"
				 "&client_assertion=%s", id, scope, secret);
	else
		snprintf(form, n, "grant_type=client_credentials&client_id=%s&client_secret=%s&scope=%s",
				 id, secret, scope);
	req = kusto_request_new(c, url, "application/x-www-form-urlencoded", NULL, form, strlen(form), NULL);
	kusto_free(url);
	kusto_request_submit(c, req);
	if (kusto_request_wait(c, req, err))
		ok = take_token(c, req, err);
	else if (err->status == KUSTO_ERR_PERMANENT)
		err->status = KUSTO_ERR_AUTH;
	kusto_request_free(req);
	/* the form held the secret: wipe it */
	memset(form, 0, strlen(form));
	kusto_free(form);
	kusto_free(scope_raw);
	curl_free(id);
	memset(secret, 0, strlen(secret));
	curl_free(secret);
	curl_free(scope);
	curl_easy_cleanup(esc);
	if (assertion)
	{
		memset(assertion, 0, strlen(assertion));
		kusto_free(assertion);
	}
	return ok;
}

const char *
kusto_token(kusto_client *c, kusto_error *err)
{
	time_t		now = time(NULL);

	if (strcmp(c->auth, "token") == 0)
	{
		/* token_file: read for each request, so a renewed token is used at once */
		if (c->token_file)
		{
			char	   *t = read_secret_file(c->token_file, "token_file", "TokenFile", err);

			if (t == NULL)
				return NULL;
			if (c->static_token == NULL || strcmp(c->static_token, t) != 0)
			{
				wipe_free(c->static_token);
				c->static_token = t;
			}
			else
				wipe_free(t);
		}
		return c->static_token;
	}
	if (c->token && now < c->token_expires - REFRESH_MARGIN_S)
		return c->token;
	if (c->token_failed_at && now - c->token_failed_at < FAILURE_PAUSE_S)
	{
		/* keep using a token that has not expired yet; else the last error */
		if (c->token && now < c->token_expires)
			return c->token;
		*err = c->token_error;
		return NULL;
	}
	if ((c->resource != NULL || discover_resource(c, err)) &&
		(strcmp(c->auth, "managed_identity") == 0 ? fetch_managed_identity_token(c, err)
		 : fetch_application_token(c, err)))
	{
		c->token_failed_at = 0;
		return c->token;
	}
	c->token_failed_at = now;
	c->token_error = *err;
	if (c->token && now < c->token_expires)
		return c->token;
	return NULL;
}
