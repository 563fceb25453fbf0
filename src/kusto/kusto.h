/*-------------------------------------------------------------------------
 *
 * kusto.h
 *	  The ingest core: a PostgreSQL-free C client for Azure Data Explorer
 *	  (Kusto) over libcurl and jansson.  The only header of src/kusto/ that
 *	  the extension includes.
 *
 * Contract:
 *	- kusto_client_create() validates a configuration and returns a client
 *	  (or NULL and an error).  A client owns a curl multi handle with
 *	  keep-alive connections, and caches its bearer token, refreshing it five
 *	  minutes before it expires (at most once per 30 s after a failure).
 *	  Tokens are never sent over plain http except to a loopback address:
 *	  every URL is checked with kusto_url_allowed(), and curl speaks http
 *	  and https only.
 *	  A secret may come from a file: app_key_file is read at each token
 *	  fetch, token_file for each request (an unreadable or empty file is an
 *	  auth error naming the file, never its content).
 *	- kusto_execute() runs a management command or a query and waits for it
 *	  (calling the interrupt callback at least every 100 ms), returning the
 *	  v1 JSON text; kusto_query() does the same with a query over v2 and
 *	  returns typed tables (kusto_result).
 *	- kusto_stream_ingest(), kusto_queued_ingest(), kusto_managed_ingest()
 *	  kusto_get_ingest_status() and kusto_count() (a query answering one
 *	  number, run with queryconsistency = strongconsistency: exactly once
 *	  looks batches up with it) start an operation without waiting;
 *	  kusto_client_run() drives every transfer for at most max_wait_ms;
 *	  kusto_client_done() hands back finished operations with their outcome.
 *	  Several operations may be in flight at once.  The data passed to an
 *	  ingestion must stay valid until its operation is handed back.
 *	- Queued ingestion (kusto-protocol.md, C): ingestion resources and the
 *	  identity token are cached for an hour (refetched sooner after a
 *	  storage failure); storage accounts are ranked by recent success and
 *	  up to three are tried; the blob goes up in one PUT, or in blocks and a
 *	  block list above block_threshold; with track_status a status-table
 *	  entity (Pending) is written after the blob, just before the message,
 *	  and kusto_get_ingest_status() reads it back from the table it was
 *	  written to (Kusto rotates its status tables: status_book.c);
 *	  kusto_get_ingest_statuses() reads up to 15 of one table in one query.
 *	  The operation is done when the queue accepted the message.
 *	- Managed ingestion streams when the data is small enough and falls
 *	  back to queued ingestion when it is too large, when streaming is off
 *	  (on the table or the cluster) or the table's configuration keeps it
 *	  from streaming, when it is throttled, or when streaming failed
 *	  transiently (the official SDKs' set: kusto_managed_fallback()).  A table
 *	  found unable to stream goes queued without a try for 15 minutes (10 s
 *	  after a throttled stream), and its results say so (streaming_off).
 *	- Errors come back as a kusto_error: HTTP status, Kusto error code,
 *	  message, Retry-After, the service's activity id, and a class
 *	  (transient, throttled, permanent, auth, cancelled).  No message ever
 *	  contains a secret.
 *	- Each request's time is bounded as by the official SDKs
 *	  (kusto_timeout_ms): queries 4.5 min, commands 1 h, streaming and
 *	  storage uploads 10 min, each plus 30 s for the way; request_timeout_ms
 *	  replaces them all.
 *	- Memory comes from the C library's allocator (jansson's too); every
 *	  object has a destroy function.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KUSTO_H
#define KUSTO_H

#include <stdbool.h>
#include <stddef.h>

#define KUSTO_STREAMING_LIMIT (4 * 1024 * 1024)	/* uncompressed bytes */

typedef enum kusto_status
{
	KUSTO_OK = 0,
	KUSTO_ERR_TRANSIENT,		/* network errors, 5xx, @permanent false */
	KUSTO_ERR_THROTTLED,		/* 429: wait Retry-After */
	KUSTO_ERR_PERMANENT,		/* 4xx, @permanent true, bad configuration */
	KUSTO_ERR_AUTH,				/* 401/403, token endpoint refusals */
	KUSTO_ERR_CANCELLED			/* the interrupt callback asked to stop */
} kusto_status;

typedef struct kusto_error
{
	kusto_status status;
	long		http_status;	/* 0 when no response */
	int			retry_after_s;	/* -1 when none */
	char		code[96];		/* Kusto or OAuth error code (texts for people
								 * and class checks: a longer one is cut, never
								 * used to address anything) */
	char		message[512];	/* ends with "(activity id ...)" when the
								 * service named the request (below) */
	char		activity_id[64];	/* Kusto's x-ms-activity-id (Azure Storage's
									 * x-ms-request-id) of a failed request, for a
									 * support case; "" when none */
} kusto_error;

/*
 * The auth methods and the connection arguments they take (auth_methods.c):
 * the one table that the client (kusto_client_create), the extension's
 * validator (src/worker/connection_options.c) and, through it, SQL consult.
 *
 * kusto_auth_args lists every argument (ending with a NULL name), with what
 * it holds: a secret, or the path of a file on the database server.  Each
 * method lists the arguments it takes (ending with a NULL name); a
 * required one it cannot work without, unless its environment variable
 * (env) stands in for it, or, for the method's secret, the option
 * secret_file names a file holding it.  A server_identity method uses the
 * database server's own Azure identity.
 */
typedef enum kusto_auth_method
{
	KUSTO_AUTH_APPLICATION,
	KUSTO_AUTH_CERTIFICATE,
	KUSTO_AUTH_MANAGED_IDENTITY,
	KUSTO_AUTH_WORKLOAD_IDENTITY,
	KUSTO_AUTH_TOKEN
} kusto_auth_method;

#define KUSTO_ARG_SECRET		0x01	/* holds a secret */
#define KUSTO_ARG_SERVER_FILE	0x02	/* names a file on the database server */

typedef struct kusto_auth_arg
{
	const char *name;
	int			flags;			/* KUSTO_ARG_* */
} kusto_auth_arg;

#define KUSTO_AUTH_MAX_ARGS 4

typedef struct kusto_auth_method_arg
{
	const char *name;			/* one of kusto_auth_args */
	bool		required;
	const char *env;			/* stands in for it when it is not given, or NULL */
} kusto_auth_method_arg;

typedef struct kusto_auth_method_info
{
	const char *name;
	kusto_auth_method method;
	kusto_auth_method_arg args[KUSTO_AUTH_MAX_ARGS + 1];
	const char *secret;			/* the argument holding its secret, or NULL */
	const char *secret_file;	/* the option that may name a file with it */
	bool		server_identity;
} kusto_auth_method_info;

extern const kusto_auth_arg kusto_auth_args[];
extern const kusto_auth_method_info kusto_auth_methods[];
extern const kusto_auth_method_info *kusto_auth_method_find(const char *name);
extern const kusto_auth_arg *kusto_auth_arg_find(const char *name);
extern const kusto_auth_method_arg *kusto_auth_method_find_arg(const kusto_auth_method_info *method,
															   const char *name);

typedef struct kusto_config
{
	const char *cluster_url;
	const char *auth;			/* the name of one of kusto_auth_methods */
	const char *tenant_id;
	const char *app_id;
	const char *app_key;
	const char *app_key_file;	/* application: a file holding the secret,
								 * read at each token fetch (instead of
								 * app_key) */
	const char *token;
	const char *token_file;		/* token: a file holding the bearer token,
								 * read for each request (instead of token) */
	const char *managed_identity_id;	/* user-assigned: client id or resource id */
	const char *managed_identity_endpoint;	/* default: IMDS (or App Service's) */
	const char *federated_token_file;	/* workload identity */
	const char *certificate_file;	/* certificate: PEM certificate */
	const char *private_key_file;	/* certificate: PEM private key (RSA) */
	const char *jwt_algorithm;	/* certificate: "PS256" (default) or "RS256" */
	const char *authority_host; /* default: the cluster's LoginEndpoint */
	const char *ca_file;
	const char *proxy;
	const char *ingest_url;		/* DM endpoint; default: "ingest-" + cluster host */
	long		connect_timeout_ms; /* 0: 10 s */
	long		request_timeout_ms; /* every request's whole time; 0: the official
									 * SDKs' defaults by kind (kusto_timeout_ms) */
	const char *app_name;		/* x-ms-app; default "kusto_sink" */
	size_t		block_threshold;	/* queued: blocks above this; 0: 64 MB */
	size_t		block_size;		/* queued: block size; 0: 8 MB */
} kusto_config;

/* What a queued (or managed) ingestion carries besides the data. */
typedef struct kusto_ingest_options
{
	const char *format;			/* csv, json, multijson, ... */
	const char *mapping;		/* ingestion mapping reference, or NULL */
	const char *source_id;		/* GUID of the ingestion; NULL: random; a
								 * longer one (>= 40 bytes) is refused */
	const char *const *tags;	/* extent tags, e.g. "ingest-by:<id>" */
	int			ntags;
	const char *ingest_if_not_exists;	/* skip if an extent has ingest-by:<this> */
	bool		flush_immediately;
	bool		track_status;	/* write and report to the status table */
	const char *creation_time;	/* the extents' creationTime (ISO 8601), or
								 * NULL: none, as the SDKs send (it changes how
								 * Kusto batches and retains the data) */
	size_t		raw_size;		/* uncompressed size of the data */
} kusto_ingest_options;

/* The state of a queued ingestion, as the status table reports it. */
typedef enum kusto_ingest_state
{
	KUSTO_INGEST_PENDING = 0,
	KUSTO_INGEST_SUCCEEDED,
	KUSTO_INGEST_ALREADY_INGESTED,	/* Skipped_IngestByTagAlreadyExists */
	KUSTO_INGEST_FAILED,
	KUSTO_INGEST_PARTIALLY_SUCCEEDED,
	KUSTO_INGEST_SKIPPED,
	KUSTO_INGEST_UNKNOWN		/* no status entity */
} kusto_ingest_state;

/*
 * A status whose ErrorCode is BlobAlreadyReceived_BlobAlreadyFoundInBatch (a
 * re-sent message that landed in its first message's batch) is reported as
 * Failed and not permanent: it tells nothing of the data (queued.c).
 */
typedef struct kusto_ingest_status
{
	kusto_ingest_state state;
	bool		permanent;		/* FailureStatus Permanent (when failed) */
	char		source_id[40];
	char		error_code[96];
	char		details[512];
	long long	updated_at;		/* last change of the status (Unix time), or 0 */
	bool		unread;			/* kusto_get_ingest_statuses: not in its answer
								 * (state Unknown); read it alone to know */
} kusto_ingest_status;

/* How an ingestion went: which path a managed ingestion took, and the id. */
typedef struct kusto_ingest_result
{
	bool		queued;			/* false: streamed */
	char		source_id[40];
	int			storage_attempts;	/* blob/queue tries */
	bool		maybe_queued;	/* failed, but a queue post got no answer: the
								 * message may be in the queue */
	char		streaming_off[96];	/* managed, sent queued because streaming is
									 * unavailable for the table for now: the
									 * Kusto error code that said so; else "" */
} kusto_ingest_result;

typedef struct kusto_client kusto_client;
typedef struct kusto_result kusto_result;
typedef struct kusto_table kusto_table;
typedef struct kusto_op kusto_op;

/*
 * When the core cannot go on (no memory, no random bytes for a GUID) it calls
 * the failure handler, which must not return: the extension raises an ERROR
 * (ks_core_failure in src/worker/ship.c, installed by _PG_init), a program of
 * its own prints and exits (the default).  The core never calls abort(): in a
 * server process a signal-killed backend makes the postmaster restart every
 * backend.  The callbacks libcurl runs never call it (they fail their
 * transfer instead), so a handler may longjmp.
 */
typedef enum kusto_failure
{
	KUSTO_FAILURE_MEMORY,		/* an allocation failed */
	KUSTO_FAILURE_SYSTEM		/* no random bytes, no libcurl handle, ... */
} kusto_failure;
typedef void (*kusto_failure_handler) (kusto_failure kind, const char *what);
extern void kusto_set_failure_handler(kusto_failure_handler handler);
extern void kusto_fail(kusto_failure kind, const char *what) __attribute__((noreturn));

extern void *kusto_malloc(size_t size);
extern void *kusto_realloc(void *ptr, size_t size);
extern void kusto_free(void *ptr);
extern char *kusto_strdup(const char *s);

extern kusto_client *kusto_client_create(const kusto_config *config, kusto_error *err);
extern void kusto_client_destroy(kusto_client *client);
extern void kusto_client_set_interrupt(kusto_client *client, int (*callback) (void *), void *arg);

extern kusto_status kusto_execute(kusto_client *client, const char *db, const char *csl,
								  char **result_json, kusto_error *err);

/* typed results: queries through v2, commands through v1 (see result.c) */
extern kusto_status kusto_query(kusto_client *client, const char *db, const char *csl,
								kusto_result **result, kusto_error *err);
extern void kusto_result_free(kusto_result *result);
extern int	kusto_result_ntables(const kusto_result *result);
extern const kusto_table *kusto_result_table(const kusto_result *result, int i);
extern const kusto_table *kusto_result_primary(const kusto_result *result);
extern const char *kusto_table_name(const kusto_table *table);
extern int	kusto_table_ncolumns(const kusto_table *table);
extern const char *kusto_table_column_name(const kusto_table *table, int col);
extern const char *kusto_table_column_type(const kusto_table *table, int col);
extern long kusto_table_nrows(const kusto_table *table);
extern bool kusto_table_is_null(const kusto_table *table, long row, int col);
extern bool kusto_table_long(const kusto_table *table, long row, int col, long long *out);
extern bool kusto_table_double(const kusto_table *table, long row, int col, double *out);
extern char *kusto_table_text(const kusto_table *table, long row, int col);

extern kusto_op *kusto_stream_ingest(kusto_client *client, const char *db, const char *table,
									 const char *format, const char *mapping,
									 const void *gz, size_t gz_len, void *user);
extern kusto_op *kusto_queued_ingest(kusto_client *client, const char *db, const char *table,
									 const kusto_ingest_options *options,
									 const void *gz, size_t gz_len, void *user);
extern kusto_op *kusto_managed_ingest(kusto_client *client, const char *db, const char *table,
									  const kusto_ingest_options *options,
									  const void *gz, size_t gz_len, void *user);
extern kusto_op *kusto_get_ingest_status(kusto_client *client, const char *source_id, void *user);

/*
 * Several statuses in one status-table request (Azure Table allows at most 15
 * comparisons in a $filter): read from the table of source_ids[0]; those of
 * the others that kusto_status_same_table() puts elsewhere, and those the
 * answer lacks (a query over several partitions may end early), come back
 * unread.  kusto_op_status_at(op, i) is source_ids[i]'s.
 */
#define KUSTO_STATUS_READ_MAX 15
extern kusto_op *kusto_get_ingest_statuses(kusto_client *client, const char *const *source_ids,
										   int n, void *user);
extern bool kusto_status_same_table(kusto_client *client, const char *a, const char *b);
extern int	kusto_op_nstatuses(const kusto_op *op);
extern const kusto_ingest_status *kusto_op_status_at(const kusto_op *op, int i);
extern kusto_op *kusto_count(kusto_client *client, const char *db, const char *csl, void *user);
extern long long kusto_op_count(const kusto_op *op);
extern const kusto_ingest_status *kusto_op_status(const kusto_op *op);
extern const kusto_ingest_result *kusto_op_result(const kusto_op *op);
extern const char *kusto_ingest_state_name(kusto_ingest_state state);
extern char *kusto_redact(const char *text);

/*
 * The rule for every URL the core talks to: https, or plain http only to a
 * loopback address (with allow_imds also to Azure's instance metadata
 * service, 169.254.169.254); schemes compare case-insensitively.  False and
 * a reason in why when the URL is not allowed.
 */
extern bool kusto_url_allowed(const char *url, bool allow_imds, char *why, size_t size);
extern int	kusto_client_run(kusto_client *client, int max_wait_ms);
extern kusto_op *kusto_client_done(kusto_client *client, void **user, kusto_error *err);
extern void kusto_op_free(kusto_op *op);

extern const char *kusto_status_name(kusto_status status);

/* Azure's instance metadata service (the default managed identity endpoint) */
#define KUSTO_IMDS_HOST "169.254.169.254"

/*
 * The one rule for every URL the core talks to (cluster_url, authority_host,
 * ingest_url, managed_identity_endpoint, proxy, the LoginEndpoint a cluster
 * announces, and the storage URLs of its ingestion resources, which carry a
 * SAS: a resource refused by the rule is left out): true for https (any host), or plain http to a loopback
 * address (127.x.x.x, localhost, [::1]); with allow_imds (the managed identity
 * endpoint) also plain http to KUSTO_IMDS_HOST.  The scheme compares
 * case-insensitively; every other scheme (file, ftp, ...), a URL without a
 * scheme or a host, or one curl cannot parse is refused.  When refused and why
 * is not NULL, why gets a reason (a phrase to follow "refused: "; it never
 * contains the URL, which may hold credentials), truncated to size.
 */
extern bool kusto_url_allowed(const char *url, bool allow_imds, char *why, size_t size);

/*
 * The shared retry policy: the wait in ms before retrying after `err` on
 * attempt `attempt` (1 = the first try failed), or -1 when it must not be
 * retried (not transient/throttled, or max_attempts reached; 0 = no limit).
 */
extern long kusto_retry_delay_ms(int attempt, int max_attempts, const kusto_error *err,
								 unsigned int *seed);

/*
 * Does a failed stream go queued under managed ingestion, and for how long
 * do the table's next batches go queued without a try (*memo_s, 0: none)?
 * The official SDKs' managed clients' rule (azure-kusto-java ingest-v2
 * ManagedStreamingIngestClient): streaming off (error codes with
 * StreamingIngestionPolicyNotEnabled or StreamingIngestionDisabledForCluster;
 * a 404 from the streaming endpoint, which a cluster without streaming
 * answers, azure-kusto-python) and the table's configuration
 * (UpdatePolicyIncompatible, QuerySchemaDoesNotMatchTableSchema): yes, 15
 * minutes; too large (413, FileTooLarge, InputStreamTooLarge): yes; throttled:
 * yes, 10 s; transient: yes; anything else: no.
 */
extern bool kusto_managed_fallback(const kusto_error *err, int *memo_s);
/* true when the error says streaming is off (table or cluster): a hint's case */
extern bool kusto_streaming_off(const kusto_error *err);
/*
 * The managed clients' memory (streaming_memo.c) for callers that stream and
 * queue themselves: kusto_streaming_unavailable() is the Kusto code that made
 * the table go queued for now (else NULL); kusto_streaming_note() remembers
 * a failed stream as kusto_managed_fallback() says.
 */
extern const char *kusto_streaming_unavailable(kusto_client *client, const char *db,
											   const char *table);
extern void kusto_streaming_note(kusto_client *client, const char *db, const char *table,
								 const kusto_error *err);
/* the same for a text that carries Kusto's error code (an error's message) */
extern bool kusto_streaming_off_text(const char *text);
/* true when it says streaming is off on the whole cluster */
extern bool kusto_cluster_streaming_off_text(const char *text);

#endif							/* KUSTO_H */
