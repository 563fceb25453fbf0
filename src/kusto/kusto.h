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
 *	  Tokens are never sent over plain http except to a loopback address.
 *	- kusto_execute() runs a management command or a query and waits for it
 *	  (calling the interrupt callback at least every 100 ms).
 *	- kusto_stream_ingest() starts a streaming ingestion of gzip-compressed
 *	  data without waiting; kusto_client_run() drives every transfer for at
 *	  most max_wait_ms; kusto_client_done() hands back finished operations
 *	  with their outcome.  Several operations may be in flight at once.
 *	- Errors come back as a kusto_error: HTTP status, Kusto error code,
 *	  message, Retry-After, and a class (transient, throttled, permanent,
 *	  auth, cancelled).  No message ever contains a secret.
 *	- Memory goes through kusto_set_allocator()'s functions (default: the C
 *	  library's), jansson's included.  Every object has a destroy function.
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
	char		code[96];		/* Kusto or OAuth error code */
	char		message[512];
} kusto_error;

typedef struct kusto_config
{
	const char *cluster_url;
	const char *auth;			/* "application", "certificate",
								 * "managed_identity", "workload_identity"
								 * or "token" */
	const char *tenant_id;
	const char *app_id;
	const char *app_key;
	const char *token;
	const char *managed_identity_id;	/* user-assigned: client id or resource id */
	const char *managed_identity_endpoint;	/* default: IMDS (or App Service's) */
	const char *federated_token_file;	/* workload identity */
	const char *certificate_file;	/* certificate: PEM certificate */
	const char *private_key_file;	/* certificate: PEM private key (RSA) */
	const char *jwt_algorithm;	/* certificate: "PS256" (default) or "RS256" */
	const char *authority_host; /* default: the cluster's LoginEndpoint */
	const char *ca_file;
	const char *proxy;
	long		connect_timeout_ms; /* 0: 10 s */
	long		request_timeout_ms; /* 0: 60 s */
	const char *app_name;		/* x-ms-app; default "kusto_sink" */
} kusto_config;

typedef struct kusto_client kusto_client;
typedef struct kusto_op kusto_op;

extern void kusto_set_allocator(void *(*malloc_fn) (size_t),
								void *(*realloc_fn) (void *, size_t),
								void (*free_fn) (void *));
extern void *kusto_malloc(size_t size);
extern void *kusto_realloc(void *ptr, size_t size);
extern void kusto_free(void *ptr);
extern char *kusto_strdup(const char *s);

extern kusto_client *kusto_client_create(const kusto_config *config, kusto_error *err);
extern void kusto_client_destroy(kusto_client *client);
extern void kusto_client_set_interrupt(kusto_client *client, int (*callback) (void *), void *arg);

extern kusto_status kusto_execute(kusto_client *client, const char *db, const char *csl,
								  char **result_json, kusto_error *err);

extern kusto_op *kusto_stream_ingest(kusto_client *client, const char *db, const char *table,
									 const char *format, const char *mapping,
									 const void *gz, size_t gz_len, void *user);
extern int	kusto_client_run(kusto_client *client, int max_wait_ms);
extern kusto_op *kusto_client_done(kusto_client *client, void **user, kusto_error *err);
extern void kusto_op_free(kusto_op *op);

extern const char *kusto_status_name(kusto_status status);

/*
 * The shared retry policy: the wait in ms before retrying after `err` on
 * attempt `attempt` (1 = the first try failed), or -1 when it must not be
 * retried (not transient/throttled, or max_attempts reached; 0 = no limit).
 */
extern long kusto_retry_delay_ms(int attempt, int max_attempts, const kusto_error *err,
								 unsigned int *seed);

#endif							/* KUSTO_H */
