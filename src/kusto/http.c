/*-------------------------------------------------------------------------
 *
 * http.c
 *	  The HTTP layer of the ingest core: requests on curl easy handles
 *	  driven by the client's multi handle (connections are kept alive and
 *	  reused), with the headers every Kusto client sends, http and https
 *	  only (curl refuses every other protocol), no redirects,
 *	  gzip responses, timeouts, TLS verification (and an optional CA file),
 *	  an optional proxy (curl also honours the usual environment variables),
 *	  and an interrupt check at least every 100 ms.
 *
 *-------------------------------------------------------------------------
 */
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kusto_int.h"

#define KUSTO_CLIENT_VERSION "Kusto.kusto_sink:{1.0.0}|Runtime.C:{libcurl}"

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	kusto_request *req = (kusto_request *) userdata;

	/* no memory: 0 fails the transfer (CURLE_WRITE_ERROR), nothing longjmps */
	if (!kusto_buf_try_append(&req->response, ptr, size * nmemb))
		return 0;
	return size * nmemb;
}

static size_t
header_cb(char *buffer, size_t size, size_t nitems, void *userdata)
{
	kusto_request *req = (kusto_request *) userdata;
	size_t		len = size * nitems;

	if (len > 17 && (strncasecmp(buffer, "x-ms-activity-id:", 17) == 0 ||
					 strncasecmp(buffer, "x-ms-request-id:", 16) == 0))
	{
		/* Kusto's activity id, or Azure Storage's request id */
		const char *v = buffer + strcspn(buffer, ":") + 1;
		size_t		n;

		v += strspn(v, " \t");
		n = strcspn(v, "\r\n");
		if (n >= sizeof(req->activity_id))
			n = sizeof(req->activity_id) - 1;
		memcpy(req->activity_id, v, n);
		req->activity_id[n] = '\0';
	}
	else if (len > 12 && strncasecmp(buffer, "Retry-After:", 12) == 0)
	{
		char		value[64];
		size_t		n = len - 12 < sizeof(value) - 1 ? len - 12 : sizeof(value) - 1;

		memcpy(value, buffer + 12, n);
		value[n] = '\0';
		value[strcspn(value, "\r\n")] = '\0';
		req->retry_after_s = kusto_parse_retry_after(value);
	}
	return len;
}

static int
progress_cb(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	return kusto_interrupted((kusto_client *) clientp) ? 1 : 0;
}

/* A random (version 4) GUID, lower case. */
char *
kusto_guid(void)
{
	unsigned char b[16];
	char	   *out = kusto_malloc(37);

	if (RAND_bytes(b, sizeof(b)) != 1)
	{
		kusto_free(out);
		kusto_fail(KUSTO_FAILURE_SYSTEM, "could not generate random bytes for a GUID");
	}
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37,
			 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return out;
}

static void
request_id(char *buf, size_t size)
{
	char	   *guid = kusto_guid();

	snprintf(buf, size, "x-ms-client-request-id: KSINK;%s", guid);
	kusto_free(guid);
}

/* a host part of a URL that is a loopback address: 127.x.x.x, localhost, [::1] */
static bool
host_is_loopback(const char *host)
{
	return (strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") == strlen(host)) ||
		strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0;
}

bool
kusto_url_is_loopback(const char *url)
{
	CURLU	   *u = curl_url();
	char	   *host = NULL;
	bool		loopback = false;

	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		loopback = host_is_loopback(host);
	curl_free(host);
	curl_url_cleanup(u);
	return loopback;
}

bool
kusto_url_allowed(const char *url, bool allow_imds, char *why, size_t size)
{
	CURLU	   *u;
	char	   *scheme = NULL;
	char	   *host = NULL;
	bool		ok = false;

	if (why != NULL && size > 0)
		why[0] = '\0';
	if (url == NULL || url[0] == '\0')
	{
		if (why != NULL)
			snprintf(why, size, "the URL is empty");
		return false;
	}
	u = curl_url();
	if (u == NULL)
		kusto_fail(KUSTO_FAILURE_MEMORY, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
	{
		if (why != NULL)
			snprintf(why, size, "it is not an absolute URL with a scheme and a host: use https://host");
	}
	else if (strcasecmp(scheme, "https") != 0 && strcasecmp(scheme, "http") != 0)
	{
		if (why != NULL)
			snprintf(why, size, "the scheme \"%.32s\" is not allowed: use https", scheme);
	}
	else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0')
	{
		if (why != NULL)
			snprintf(why, size, "it is not an absolute URL with a scheme and a host: use https://host");
	}
	else if (strcasecmp(scheme, "https") == 0)
		ok = true;
	else if (strcasecmp(scheme, "http") == 0)
	{
		ok = host_is_loopback(host) || (allow_imds && strcmp(host, KUSTO_IMDS_HOST) == 0);
		if (!ok && why != NULL)
			snprintf(why, size, "plain http is accepted only for a loopback address (127.x.x.x, localhost, [::1])%s: use https",
					 allow_imds ? " or the Azure instance metadata service " KUSTO_IMDS_HOST : "");
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

kusto_request *
kusto_request_new(kusto_client *client, const char *url, const char *content_type,
				  const char *content_encoding, const void *body, size_t body_len,
				  const char *bearer)
{
	kusto_request *req = kusto_malloc(sizeof(kusto_request));
	char		header[256];	/* constant content types, a GUID: bounded */
	CURL	   *e;

	memset(req, 0, sizeof(*req));
	req->retry_after_s = -1;
	req->easy = e = curl_easy_init();
	if (e == NULL)
	{
		kusto_free(req);
		kusto_fail(KUSTO_FAILURE_SYSTEM, "could not create a libcurl handle");
	}

	if (content_type)
	{
		snprintf(header, sizeof(header), "Content-Type: %s", content_type);
		req->headers = curl_slist_append(req->headers, header);
	}
	if (content_encoding)
	{
		snprintf(header, sizeof(header), "Content-Encoding: %s", content_encoding);
		req->headers = curl_slist_append(req->headers, header);
	}
	req->headers = curl_slist_append(req->headers, "Accept: application/json");
	req->headers = curl_slist_append(req->headers, "x-ms-version: 2024-12-12");
	req->headers = curl_slist_append(req->headers, "x-ms-client-version: " KUSTO_CLIENT_VERSION);
	{
		char	   *app = kusto_asprintf("x-ms-app: %s", client->app_name);

		req->headers = curl_slist_append(req->headers, app);
		kusto_free(app);
	}
	request_id(header, sizeof(header));
	req->headers = curl_slist_append(req->headers, header);
	req->headers = curl_slist_append(req->headers, "Expect:");
	if (bearer)
	{
		size_t		n = strlen(bearer) + 32;
		char	   *auth = kusto_malloc(n);

		snprintf(auth, n, "Authorization: Bearer %s", bearer);
		req->headers = curl_slist_append(req->headers, auth);
		kusto_free(auth);
	}

	curl_easy_setopt(e, CURLOPT_URL, url);
	/* only http(s), also after a redirect (none is followed): never file://, ftp:// ... */
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->curl_error);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, client->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, kusto_timeout_ms(client, KUSTO_TIMEOUT_OTHER));
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, client);
	curl_easy_setopt(e, CURLOPT_PRIVATE, req);
	if (client->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, client->ca_file);
	if (client->proxy)
		curl_easy_setopt(e, CURLOPT_PROXY, client->proxy);
	if (body)
	{
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body_len);
	}
	return req;
}

long
kusto_timeout_ms(const kusto_client *client, kusto_timeout_kind kind)
{
	const long	delta = 30 * 1000L; /* the SDKs' client-server delta */

	if (client->request_timeout_ms > 0)
		return client->request_timeout_ms;
	switch (kind)
	{
		case KUSTO_TIMEOUT_QUERY:
			return (4 * 60 + 30) * 1000L + delta;
		case KUSTO_TIMEOUT_MGMT:
			return (3600 + 30) * 1000L + delta;
		case KUSTO_TIMEOUT_STREAMING:
		case KUSTO_TIMEOUT_STORAGE:
			return 10 * 60 * 1000L + delta;
		case KUSTO_TIMEOUT_OTHER:
			break;
	}
	return 60 * 1000L;
}

void
kusto_request_set_timeout(kusto_request *req, const kusto_client *client, kusto_timeout_kind kind)
{
	curl_easy_setopt(req->easy, CURLOPT_TIMEOUT_MS, kusto_timeout_ms(client, kind));
}

void
kusto_error_note_activity(kusto_error *err, const kusto_request *req)
{
	size_t		len;

	if (req->activity_id[0] == '\0')
		return;
	snprintf(err->activity_id, sizeof(err->activity_id), "%s", req->activity_id);
	len = strlen(err->message);
	if (len + 1 < sizeof(err->message))
		snprintf(err->message + len, sizeof(err->message) - len, " (activity id %s)", req->activity_id);
}

static size_t
read_body(char *buf, size_t size, size_t nitems, void *arg)
{
	kusto_request *req = (kusto_request *) arg;
	size_t		n = req->body_len - req->body_pos;

	if (n > size * nitems)
		n = size * nitems;
	memcpy(buf, req->body + req->body_pos, n);
	req->body_pos += n;
	return n;
}

/*
 * A request that must never be sent twice by curl itself (an ingestion):
 * when a reused connection dies before any answer, curl sends the request
 * again on a new one, and Kusto may have stored the first.  With the body
 * read through a callback that cannot rewind, that becomes an error
 * (CURLE_SEND_FAIL_REWIND, transient) that the caller handles knowingly.
 * copy: the request keeps its own copy of the body.
 */
void
kusto_request_no_resend(kusto_request *req, const void *body, size_t len, bool copy)
{
	if (copy)
	{
		req->body_owned = kusto_malloc(len > 0 ? len : 1);
		memcpy(req->body_owned, body, len);
		body = req->body_owned;
	}
	req->body = body;
	req->body_len = len;
	req->body_pos = 0;
	curl_easy_setopt(req->easy, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(req->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(req->easy, CURLOPT_READFUNCTION, read_body);
	curl_easy_setopt(req->easy, CURLOPT_READDATA, req);
	curl_easy_setopt(req->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
}

/* PUT, GET, MERGE...: the body (if any) stays as given to kusto_request_new */
void
kusto_request_set_method(kusto_request *req, const char *method)
{
	if (strcmp(method, "GET") == 0)
		curl_easy_setopt(req->easy, CURLOPT_HTTPGET, 1L);
	else
		curl_easy_setopt(req->easy, CURLOPT_CUSTOMREQUEST, method);
}

/* Sets a header ("Name: value"), replacing one of the same name. */
void
kusto_request_set_header(kusto_request *req, const char *header)
{
	size_t		namelen = strcspn(header, ":") + 1;
	struct curl_slist *out = NULL;
	struct curl_slist *h;

	for (h = req->headers; h; h = h->next)
		if (strncasecmp(h->data, header, namelen) != 0)
			out = curl_slist_append(out, h->data);
	out = curl_slist_append(out, header);
	curl_slist_free_all(req->headers);
	req->headers = out;
	curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->headers);
}

void
kusto_request_free(kusto_request *req)
{
	if (req == NULL)
		return;
	curl_easy_cleanup(req->easy);
	curl_slist_free_all(req->headers);
	kusto_buf_free(&req->response);
	kusto_free(req->body_owned);
	kusto_free(req);
}

void
kusto_request_submit(kusto_client *client, kusto_request *req)
{
	req->body_pos = 0;
	req->next = client->inflight;
	client->inflight = req;
	curl_multi_add_handle(client->multi, req->easy);
}

static void
unlink_request(kusto_client *client, kusto_request *req)
{
	kusto_request **p;

	for (p = &client->inflight; *p; p = &(*p)->next)
	{
		if (*p == req)
		{
			*p = req->next;
			break;
		}
	}
	curl_multi_remove_handle(client->multi, req->easy);
}

/*
 * Drives every transfer for at most max_wait_ms; marks the finished ones
 * done.  Returns how many are still running.
 */
int
kusto_http_run(kusto_client *client, int max_wait_ms)
{
	int			running = 0;
	int			left;
	CURLMsg    *msg;

	curl_multi_perform(client->multi, &running);
	if (running > 0 && max_wait_ms > 0)
	{
		curl_multi_poll(client->multi, NULL, 0, max_wait_ms, NULL);
		curl_multi_perform(client->multi, &running);
	}
	while ((msg = curl_multi_info_read(client->multi, &left)) != NULL)
	{
		kusto_request *req;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
		req->curl_rc = msg->data.result;
		curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &req->http_status);
		req->done = true;
		unlink_request(client, req);
	}
	return running;
}

/* Waits for one request; false (and err) on a transport or HTTP error. */
bool
kusto_request_wait(kusto_client *client, kusto_request *req, kusto_error *err)
{
	while (!req->done)
	{
		if (kusto_interrupted(client))
		{
			unlink_request(client, req);
			kusto_error_set(err, KUSTO_ERR_CANCELLED, 0, "Cancelled", "the request was cancelled");
			return false;
		}
		kusto_http_run(client, 100);
	}
	return kusto_request_outcome(req, err);
}

/* Did a finished request fail (no answer, or not 2xx)? */
bool
kusto_request_failed(const kusto_request *req)
{
	return req->curl_rc != CURLE_OK || req->http_status < 200 || req->http_status >= 300;
}

/* A finished request's outcome: true, or false with Kusto's (or curl's) error in err. */
bool
kusto_request_outcome(const kusto_request *req, kusto_error *err)
{
	kusto_error_clear(err);
	if (req->curl_rc != CURLE_OK)
		kusto_error_from_curl(err, req->curl_rc, req->curl_error);
	else if (kusto_request_failed(req))
	{
		kusto_error_from_response(err, req->http_status, req->response.data,
								  req->response.len, req->retry_after_s);
		kusto_error_note_activity(err, req);
	}
	return err->status == KUSTO_OK;
}
