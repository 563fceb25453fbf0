/*-------------------------------------------------------------------------
 *
 * storage.c
 *	  What queued ingestion needs of Azure Storage besides HTTP: URLs built
 *	  from a resource's SAS URL (host-style accounts and Azurite's
 *	  path-style ones alike: the name goes at the end of the path, the SAS
 *	  query stays), the account a URL belongs to (for ranking), base64,
 *	  Storage's XML errors, and redaction of SAS signatures.
 *
 *-------------------------------------------------------------------------
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE				/* memmem */
#endif
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kusto_int.h"

/*
 * root + suffix, with `query` (may be NULL) before root's own query:
 * ("https://a.blob.core.windows.net/c?sv=..", "/b.csv.gz", "comp=block")
 * -> "https://a.blob.core.windows.net/c/b.csv.gz?comp=block&sv=..".
 */
char *
kusto_storage_url(const char *root, const char *suffix, const char *query)
{
	const char *q = strchr(root, '?');
	size_t		pathlen = q ? (size_t) (q - root) : strlen(root);
	const char *sas = q ? q + 1 : "";
	size_t		n;
	char	   *out;

	while (pathlen > 0 && root[pathlen - 1] == '/')
		pathlen--;
	n = pathlen + strlen(suffix) + (query ? strlen(query) : 0) + strlen(sas) + 4;
	out = kusto_malloc(n);
	snprintf(out, n, "%.*s%s%s%s%s%s", (int) pathlen, root, suffix,
			 (query || *sas) ? "?" : "", query ? query : "",
			 (query && *sas) ? "&" : "", sas);
	return out;
}

/*
 * The storage account of a URL: the first label of the host, or for a
 * loopback/IP host (Azurite, path-style) host:port plus the first path
 * segment.
 */
char *
kusto_storage_account(const char *root)
{
	CURLU	   *u = curl_url();
	char	   *host = NULL;
	char	   *port = NULL;
	char	   *path = NULL;
	char	   *out;

	if (curl_url_set(u, CURLUPART_URL, root, 0) != CURLUE_OK ||
		curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		out = kusto_strdup(root);
	else if (strspn(host, "0123456789.") == strlen(host) || host[0] == '[' ||
			 strcmp(host, "localhost") == 0)
	{
		size_t		n;
		size_t		seg;

		curl_url_get(u, CURLUPART_PORT, &port, 0);
		curl_url_get(u, CURLUPART_PATH, &path, 0);
		seg = path ? strcspn(path + 1, "/") : 0;
		n = strlen(host) + (port ? strlen(port) : 0) + seg + 4;
		out = kusto_malloc(n);
		snprintf(out, n, "%s:%s/%.*s", host, port ? port : "", (int) seg, path ? path + 1 : "");
	}
	else
	{
		out = kusto_strdup(host);
		out[strcspn(out, ".")] = '\0';
	}
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return out;
}

char *
kusto_url_without_query(const char *url)
{
	char	   *out = kusto_strdup(url);

	out[strcspn(out, "?")] = '\0';
	return out;
}

char *
kusto_base64(const void *data, size_t len)
{
	char	   *out = kusto_malloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *) out, data, (int) len);
	return out;
}

/* Copies the text between <tag> and </tag> in xml into out. */
static bool
xml_field(const char *xml, size_t len, const char *tag, char *out, size_t outsize)
{
	char		open[64];
	char		close[64];
	const char *a;
	const char *b;
	size_t		n;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	a = memmem(xml, len, open, strlen(open));
	if (a == NULL)
		return false;
	a += strlen(open);
	b = memmem(a, len - (a - xml), close, strlen(close));
	if (b == NULL)
		return false;
	n = (size_t) (b - a) < outsize - 1 ? (size_t) (b - a) : outsize - 1;
	memcpy(out, a, n);
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	return true;
}

/*
 * A failed storage request as an error: transport errors and 408/5xx are
 * transient, 429 and 503 ServerBusy throttled, 401/403 (SAS expired or
 * wrong) auth, other 4xx permanent.  The code and message come from the
 * XML body (<Error><Code>..</Code><Message>..</Message></Error>).
 */
void
kusto_error_from_storage(kusto_error *err, const kusto_request *req)
{
	char		code[96] = "";
	char		message[sizeof(err->message)] = "";
	long		st = req->http_status;

	if (req->curl_rc != CURLE_OK)
	{
		kusto_error_from_curl(err, req->curl_rc, req->curl_error);
		return;
	}
	if (req->response.data)
	{
		xml_field(req->response.data, req->response.len, "Code", code, sizeof(code));
		xml_field(req->response.data, req->response.len, "Message", message, sizeof(message));
		if (*code == '\0' && req->response.len > 0 && req->response.data[0] == '{')
		{
			/* the table service answers in JSON: {"odata.error":{"code":..}} */
			kusto_error_from_response(err, st, req->response.data, req->response.len,
									  req->retry_after_s);
			snprintf(code, sizeof(code), "%s", err->code);
			snprintf(message, sizeof(message), "%s", err->message);
		}
	}
	kusto_error_set(err,
					st == 429 || (st == 503 && strcmp(code, "ServerBusy") == 0) ? KUSTO_ERR_THROTTLED :
					st == 408 || st >= 500 ? KUSTO_ERR_TRANSIENT :
					st == 401 || st == 403 ? KUSTO_ERR_AUTH : KUSTO_ERR_PERMANENT,
					st, *code ? code : "StorageError", "storage answered %ld%s%s", st,
					*message ? ": " : "", message);
	err->retry_after_s = req->retry_after_s;
	kusto_error_note_activity(err, req);
}

/* Replaces the value of every sig= (a SAS signature) with REDACTED. */
void
kusto_redact_inplace(char *text)
{
	char	   *p = text;

	while ((p = strstr(p, "sig=")) != NULL)
	{
		char	   *v = p + 4;
		size_t		n = strcspn(v, "&\"' \t\r\n<>");

		if (n >= 8)
		{
			memcpy(v, "REDACTED", 8);
			memmove(v + 8, v + n, strlen(v + n) + 1);
		}
		p = v;
	}
}

char *
kusto_redact(const char *text)
{
	char	   *out = kusto_strdup(text);

	kusto_redact_inplace(out);
	return out;
}
