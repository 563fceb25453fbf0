/*-------------------------------------------------------------------------
 *
 * error.c
 *	  Kusto's error shapes -> kusto_error, and their classification.
 *
 * Shapes (kusto-protocol.md, A and E): Kusto's JSON
 * {"error":{"code","message","@message","@permanent",...}}, OAuth's
 * {"error","error_description","error_codes"}, plain text
 * ("General_BadRequest: ..."), or an empty body.  Classes follow section G:
 * 429 throttled; 401/403 and OAuth refusals auth; 5xx, network errors and
 * "@permanent": false transient; other 4xx and "@permanent": true permanent.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kusto_int.h"

void
kusto_error_clear(kusto_error *err)
{
	memset(err, 0, sizeof(*err));
	err->retry_after_s = -1;
}

void
kusto_error_set(kusto_error *err, kusto_status status, long http_status,
				const char *code, const char *fmt,...)
{
	va_list		ap;

	kusto_error_clear(err);
	err->status = status;
	err->http_status = http_status;
	if (code)
		snprintf(err->code, sizeof(err->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	kusto_redact_inplace(err->message);
}

static kusto_status
classify(long http_status, int permanent_flag)
{
	if (http_status == 429)
		return KUSTO_ERR_THROTTLED;
	if (http_status == 401 || http_status == 403)
		return KUSTO_ERR_AUTH;
	if (permanent_flag == 0)
		return KUSTO_ERR_TRANSIENT;
	if (permanent_flag == 1)
		return KUSTO_ERR_PERMANENT;
	if (http_status >= 500 || http_status == 408 || http_status == 0)
		return KUSTO_ERR_TRANSIENT;
	return KUSTO_ERR_PERMANENT;
}

/* Copies s into dst, stopping at a newline, without control characters. */
static void
copy_line(char *dst, size_t size, const char *s, size_t len)
{
	size_t		i,
				j = 0;

	for (i = 0; i < len && j + 1 < size; i++)
	{
		if (s[i] == '\n' || s[i] == '\r')
			break;
		dst[j++] = iscntrl((unsigned char) s[i]) ? ' ' : s[i];
	}
	dst[j] = '\0';
	kusto_redact_inplace(dst);
}

void
kusto_error_from_response(kusto_error *err, long http_status, const char *body,
						  size_t len, int retry_after_s)
{
	json_t	   *root = NULL;
	json_error_t jerr;
	int			permanent = -1;

	kusto_error_clear(err);
	err->http_status = http_status;
	err->retry_after_s = retry_after_s;

	if (body && len > 0 && body[0] == '{')
		root = json_loadb(body, len, 0, &jerr);
	if (root && json_is_object(json_object_get(root, "error")))
	{
		json_t	   *e = json_object_get(root, "error");
		const char *code = json_string_value(json_object_get(e, "code"));
		const char *msg = json_string_value(json_object_get(e, "@message"));
		json_t	   *perm = json_object_get(e, "@permanent");

		if (msg == NULL)
			msg = json_string_value(json_object_get(e, "message"));
		if (code)
			snprintf(err->code, sizeof(err->code), "%s", code);
		if (msg)
			copy_line(err->message, sizeof(err->message), msg, strlen(msg));
		if (json_is_boolean(perm))
			permanent = json_is_true(perm) ? 1 : 0;
	}
	else if (root && json_is_string(json_object_get(root, "error")))
	{
		/* OAuth: {"error": "invalid_client", "error_description": "AADSTS..."} */
		const char *code = json_string_value(json_object_get(root, "error"));
		const char *desc = json_string_value(json_object_get(root, "error_description"));

		snprintf(err->code, sizeof(err->code), "%s", code);
		if (desc)
			copy_line(err->message, sizeof(err->message), desc, strlen(desc));
		json_decref(root);
		err->status = (http_status >= 500) ? KUSTO_ERR_TRANSIENT : KUSTO_ERR_AUTH;
		return;
	}
	else if (body && len > 0)
	{
		/* plain text, e.g. "General_BadRequest: ..." */
		const char *colon = memchr(body, ':', len);

		copy_line(err->message, sizeof(err->message), body, len);
		if (colon && colon - body < (long) sizeof(err->code))
		{
			size_t		n = colon - body;
			size_t		i;
			bool		word = n > 0;

			for (i = 0; i < n; i++)
				word &= (isalnum((unsigned char) body[i]) || body[i] == '_');
			if (word)
			{
				memcpy(err->code, body, n);
				err->code[n] = '\0';
			}
		}
	}
	if (root)
		json_decref(root);
	if (err->message[0] == '\0')
		snprintf(err->message, sizeof(err->message), "HTTP status %ld", http_status);
	err->status = classify(http_status, permanent);
}

void
kusto_error_from_curl(kusto_error *err, CURLcode rc, const char *detail)
{
	kusto_status status = KUSTO_ERR_TRANSIENT;

	/* a bad URL, CA file or server certificate does not get better by retrying */
	if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL ||
		rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM ||
		rc == CURLE_PEER_FAILED_VERIFICATION)
		status = KUSTO_ERR_PERMANENT;
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		status = KUSTO_ERR_CANCELLED;
	kusto_error_set(err, status, 0, "NetworkError", "%s%s%s", curl_easy_strerror(rc),
					detail && detail[0] ? ": " : "", detail ? detail : "");
}

/* Retry-After: seconds, or an HTTP date; -1 when absent or unreadable */
int
kusto_parse_retry_after(const char *value)
{
	char	   *end;
	long		s;
	time_t		when;

	while (value && isspace((unsigned char) *value))
		value++;
	if (value == NULL || *value == '\0')
		return -1;
	s = strtol(value, &end, 10);
	if (end != value && (*end == '\0' || isspace((unsigned char) *end)))
		return s < 0 ? 0 : (int) (s > 3600 ? 3600 : s);
	when = curl_getdate(value, NULL);
	if (when < 0)
		return -1;
	s = (long) (when - time(NULL));
	return s < 0 ? 0 : (int) (s > 3600 ? 3600 : s);
}

const char *
kusto_status_name(kusto_status status)
{
	switch (status)
	{
		case KUSTO_OK:
			return "ok";
		case KUSTO_ERR_TRANSIENT:
			return "transient";
		case KUSTO_ERR_THROTTLED:
			return "throttled";
		case KUSTO_ERR_PERMANENT:
			return "permanent";
		case KUSTO_ERR_AUTH:
			return "auth";
		case KUSTO_ERR_CANCELLED:
			return "cancelled";
	}
	return "unknown";
}
