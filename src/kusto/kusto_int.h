/*-------------------------------------------------------------------------
 *
 * kusto_int.h
 *	  Internals of the ingest core shared by its modules: the growable
 *	  buffer, error helpers, the HTTP layer over curl's multi interface and
 *	  the token provider.  Not for the extension (it includes kusto.h only).
 *
 *-------------------------------------------------------------------------
 */
#ifndef KUSTO_INT_H
#define KUSTO_INT_H

#include <curl/curl.h>
#include <stdarg.h>
#include <time.h>

#include "kusto.h"

/* ---------- buffer ---------- */
typedef struct kusto_buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} kusto_buf;

extern void kusto_buf_append(kusto_buf *buf, const void *data, size_t len);
/* false when there is no memory (buf unchanged): for libcurl's callbacks */
extern bool kusto_buf_try_append(kusto_buf *buf, const void *data, size_t len);
extern void kusto_buf_free(kusto_buf *buf);

/*
 * A formatted string of any length, kusto_free it.  URLs and other texts
 * built from names are made with it (never in a fixed buffer, where a long
 * name would be cut and the request go elsewhere).
 */
extern char *kusto_asprintf(const char *fmt,...)
			__attribute__((format(printf, 1, 2)));

/* ---------- errors (error.c) ---------- */
extern void kusto_error_clear(kusto_error *err);
extern void kusto_error_set(kusto_error *err, kusto_status status, long http_status,
							const char *code, const char *fmt,...)
			__attribute__((format(printf, 5, 6)));
extern void kusto_error_from_response(kusto_error *err, long http_status,
									  const char *body, size_t len, int retry_after_s);
extern void kusto_error_from_curl(kusto_error *err, CURLcode rc, const char *detail);
extern int	kusto_parse_retry_after(const char *value);

/* ---------- HTTP (http.c) ---------- */
typedef struct kusto_request
{
	CURL	   *easy;
	struct curl_slist *headers;
	kusto_buf	response;
	int			retry_after_s;
	CURLcode	curl_rc;
	long		http_status;
	char		curl_error[CURL_ERROR_SIZE];
	char		activity_id[64];	/* x-ms-activity-id, or x-ms-request-id */
	bool		done;
	struct kusto_request *next;	/* in the client's in-flight list */
	void	   *owner;			/* the kusto_op, or NULL */
	const char *body;			/* kusto_request_no_resend(): the body, read */
	size_t		body_len;		/* by a callback that cannot rewind */
	size_t		body_pos;
	char	   *body_owned;		/* its copy, when asked for */
} kusto_request;

/*
 * How long a request of each kind may take in all (CURLOPT_TIMEOUT_MS),
 * as the official SDKs bound theirs (azure-kusto-python's client_base.py:
 * _query_default_timeout 4 min 30 s, _mgmt_default_timeout 1 h 30 s,
 * _streaming_ingest_default_timeout 10 min, plus _client_server_delta 30 s
 * on the client's side).  A stream cut off by the client can still commit
 * on the server, so a short bound only makes in-doubt batches.
 */
typedef enum kusto_timeout_kind
{
	KUSTO_TIMEOUT_OTHER,		/* tokens, auth metadata: 60 s */
	KUSTO_TIMEOUT_QUERY,		/* 4 min 30 s + 30 s */
	KUSTO_TIMEOUT_MGMT,			/* 1 h 30 s + 30 s */
	KUSTO_TIMEOUT_STREAMING,	/* 10 min + 30 s */
	KUSTO_TIMEOUT_STORAGE		/* blobs, queue messages, status entities: as
								 * streaming (they carry the same batches) */
} kusto_timeout_kind;

/* the bound for a kind: the client's request_timeout_ms when set */
extern long kusto_timeout_ms(const kusto_client *client, kusto_timeout_kind kind);
extern void kusto_request_set_timeout(kusto_request *req, const kusto_client *client,
									  kusto_timeout_kind kind);
/* appends the request's activity id to err (message and activity_id) */
extern void kusto_error_note_activity(kusto_error *err, const kusto_request *req);

extern kusto_request *kusto_request_new(kusto_client *client, const char *url,
										const char *content_type, const char *content_encoding,
										const void *body, size_t body_len, const char *bearer);
extern void kusto_request_free(kusto_request *req);
extern void kusto_request_no_resend(kusto_request *req, const void *body, size_t len, bool copy);
extern void kusto_request_submit(kusto_client *client, kusto_request *req);
extern bool kusto_request_wait(kusto_client *client, kusto_request *req, kusto_error *err);
extern bool kusto_request_failed(const kusto_request *req);
extern bool kusto_request_outcome(const kusto_request *req, kusto_error *err);
extern kusto_request *kusto_stream_request(kusto_client *client, const char *db, const char *table,
										   const char *format, const char *mapping,
										   const void *gz, size_t gz_len, kusto_error *err);
extern int	kusto_http_run(kusto_client *client, int max_wait_ms);
extern bool kusto_url_is_loopback(const char *url);

extern void kusto_request_set_method(kusto_request *req, const char *method);
extern void kusto_request_set_header(kusto_request *req, const char *header);
extern char *kusto_guid(void);

/* ---------- Azure Storage (storage.c) ---------- */
extern char *kusto_storage_url(const char *root, const char *suffix, const char *query);
extern char *kusto_storage_account(const char *root);
extern char *kusto_url_without_query(const char *url);
extern char *kusto_base64(const void *data, size_t len);
extern void kusto_error_from_storage(kusto_error *err, const kusto_request *req);
extern void kusto_redact_inplace(char *text);

/* ---------- ingestion resources (resources.c) ---------- */
typedef enum kusto_resource_kind
{
	KUSTO_RES_CONTAINER,
	KUSTO_RES_QUEUE,
	KUSTO_RES_STATUS_TABLE,
	KUSTO_RES_NKINDS
} kusto_resource_kind;

typedef struct kusto_resource
{
	char	   *url;			/* with its SAS */
	char	   *account;
} kusto_resource;

typedef struct kusto_resources kusto_resources;

extern bool kusto_resources_refresh(kusto_client *client, kusto_error *err);
extern int	kusto_resources_pick(kusto_client *client, kusto_resource_kind kind,
								 const kusto_resource **out, int max);
extern const char *kusto_resources_auth_context(kusto_client *client);
extern void kusto_resources_report(kusto_client *client, const char *account, bool success);
extern void kusto_resources_invalidate(kusto_client *client);
extern void kusto_resources_free(kusto_resources *res);
extern char *kusto_dm_url(const char *cluster_url);
extern kusto_request *kusto_csl_request(kusto_client *client, const char *url, const char *db,
										const char *csl, bool strong_consistency,
										kusto_error *err);
extern kusto_status kusto_post_csl(kusto_client *client, const char *url, const char *db,
								   const char *csl, char **answer, size_t *answer_len,
								   kusto_error *err);
extern kusto_status kusto_execute_at(kusto_client *client, const char *base_url, const char *db,
									 const char *csl, char **result_json, kusto_error *err);

/* ---------- where tracked statuses were written (status_book.c) ---------- */
typedef struct kusto_status_book kusto_status_book;

extern void kusto_status_book_note(kusto_client *client, const char *source_id,
								   const char *table_url);
extern const char *kusto_status_book_find(kusto_client *client, const char *source_id);
extern void kusto_status_book_free(kusto_status_book *book);

/* ---------- tables managed ingestion sends queued for now (streaming_memo.c) ---------- */
typedef struct kusto_streaming_memo kusto_streaming_memo;

#define KUSTO_STREAMING_OFF_S (15 * 60)	/* streaming off, or the table's configuration */
#define KUSTO_STREAMING_THROTTLED_S 10

extern void kusto_streaming_memo_note(kusto_client *client, const char *db, const char *table,
									  int seconds, const char *code);
/* the code that made the table go queued, while it does; else NULL */
extern const char *kusto_streaming_memo_find(kusto_client *client, const char *db,
											 const char *table);
extern void kusto_streaming_memo_free(kusto_client *client);

/* ---------- operations (client.c, queued.c) ---------- */
typedef enum kusto_op_kind
{
	KUSTO_OP_STREAM,
	KUSTO_OP_QUEUED,
	KUSTO_OP_MANAGED,
	KUSTO_OP_STATUS,
	KUSTO_OP_COUNT
} kusto_op_kind;

typedef struct kusto_queued kusto_queued;

struct kusto_op
{
	kusto_op_kind kind;
	kusto_request *req;			/* the request in flight, or NULL */
	void	   *user;
	kusto_error err;
	kusto_op   *next;
	kusto_queued *q;			/* queued/managed state */
	kusto_ingest_status status; /* KUSTO_OP_STATUS */
	kusto_ingest_status *statuses;	/* kusto_get_ingest_statuses, in the order asked */
	int			nstatuses;
	kusto_ingest_result result;
	long long	count;			/* KUSTO_OP_COUNT */
};

extern bool kusto_queued_advance(kusto_client *client, kusto_op *op);
extern kusto_op *kusto_op_start(kusto_client *client, kusto_op *op);
extern void kusto_queued_free(kusto_queued *q);
extern void kusto_count_finish(kusto_op *op);

/* ---------- JWT client assertions (jwt.c) ---------- */
extern char *kusto_base64url(const unsigned char *data, size_t len);
extern char *kusto_jwt_client_assertion(const char *cert_file, const char *key_file, bool rs256,
										const char *client_id, const char *audience,
										kusto_error *err);

/* ---------- tokens (auth.c) ---------- */
extern const char *kusto_token(kusto_client *client, kusto_error *err);

/* ---------- the client (client.c) ---------- */
struct kusto_client
{
	char	   *cluster_url;	/* without trailing slash */
	char	   *auth;
	char	   *tenant_id;
	char	   *app_id;
	char	   *app_key;
	char	   *app_key_file;	/* read at each token fetch */
	char	   *static_token;	/* token, or the last one read from token_file */
	char	   *token_file;		/* read for each request */
	char	   *managed_identity_id;
	char	   *managed_identity_endpoint;
	char	   *identity_header;	/* App Service: X-IDENTITY-HEADER */
	char	   *federated_token_file;
	char	   *certificate_file;
	char	   *private_key_file;
	bool		jwt_rs256;		/* legacy RS256 + x5t instead of PS256 + x5t#S256 */
	char	   *authority_host;
	char	   *ca_file;
	char	   *proxy;
	char	   *ingest_url;
	char	   *app_name;
	long		connect_timeout_ms;
	long		request_timeout_ms; /* 0: kusto_timeout_ms's defaults */

	CURLM	   *multi;
	kusto_request *inflight;
	kusto_op   *ops;			/* operations in flight */
	kusto_op   *done_head;		/* finished, not yet taken */
	kusto_op   *done_tail;
	int			(*interrupt) (void *);
	void	   *interrupt_arg;

	size_t		block_threshold;
	size_t		block_size;
	kusto_resources *res;		/* queued ingestion's resources, or NULL */
	kusto_status_book *status_book; /* where statuses were written, or NULL */
	kusto_streaming_memo *streaming_memo;	/* tables sent queued for now */
	unsigned int seed;

	/* token cache */
	char	   *token;
	time_t		token_expires;
	time_t		token_failed_at;
	kusto_error token_error;
	char	   *resource;		/* scope = resource + "/.default" */
};

extern bool kusto_interrupted(kusto_client *client);

#endif							/* KUSTO_INT_H */
