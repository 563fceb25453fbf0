/*-------------------------------------------------------------------------
 *
 * connection_options.h
 *	  The arguments and options of a connection (kusto_sink.connection):
 *	  one table of the options, and one validator, used by the SQL
 *	  functions (kusto_sink._check_connection, _check_server_files) and by
 *	  the sink worker when it loads a connection (config.c).  The auth
 *	  methods, the arguments each takes, and which are secrets or server
 *	  files, are the ingest core's one table (kusto.h, kusto_auth_methods),
 *	  which its client checks a configuration against too.
 *
 * Every error names the argument or option and says what is allowed.
 * URLs obey the ingest core's rule (kusto_url_allowed: https, or http only
 * to a loopback address); file paths must be absolute.  Whether the caller
 * may name server files at all is the SQL API's check (the caller is known
 * there: it calls ks_check_server_files() for one who may not).
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_CONNECTION_OPTIONS_H
#define KS_WORKER_CONNECTION_OPTIONS_H

#include "utils/jsonb.h"

/* the connection's arguments, as the catalog row has them (NULL: not set) */
typedef struct KsConnectionArgs
{
	const char *name;
	const char *cluster_url;
	const char *auth;
	const char *tenant_id;
	const char *app_id;
	const char *app_key;
	const char *certificate_file;
	const char *private_key_file;
	const char *managed_identity_id;
	const char *federated_token_file;
	const char *token;
	Jsonb	   *options;
} KsConnectionArgs;

/* The value of an argument (one of kusto_auth_args) in args, or NULL. */
extern const char *ks_connection_arg(const KsConnectionArgs *args, const char *name);

/*
 * Checks a connection; raises an error on the first problem.  With
 * require_secret, an application or token connection must carry its secret
 * (app_key or option app_key_file; token or option token_file); without, a
 * connection whose secret was dropped (a changed URL, a restore) passes.
 * A NULL name is not checked (the worker checks a stored connection).
 */
extern void ks_check_connection(const KsConnectionArgs *args, bool require_secret);

/* Checks the options object alone (as ks_check_connection does). */
extern void ks_check_connection_options(Jsonb *options);

/* The cluster URL without trailing slashes, in CurrentMemoryContext. */
extern char *ks_normalize_cluster_url(const char *url);

/* Does the connection carry a secret (app_key, token, or a file of one)? */
extern bool ks_connection_has_secret(const KsConnectionArgs *args);

/* The secret its method needs and it lacks ("app_key", "token"), or NULL. */
extern const char *ks_connection_missing_secret(const KsConnectionArgs *args);

/*
 * For a caller who may not name files on the database server nor use its
 * Azure identity (not a member of pg_read_server_files: the SQL API's
 * check): raises insufficient_privilege when the connection's method uses
 * the server's identity, or when it names a server file (an argument or an
 * option) that old (NULL for a new connection) does not name the same.
 */
extern void ks_check_server_files(const KsConnectionArgs *args, const KsConnectionArgs *old);

/*
 * The connection alter_connection makes of old and the arguments given
 * (NULL: unchanged; cluster_url without trailing slashes).  A new auth
 * method starts from its own arguments.  A changed endpoint (cluster_url,
 * an URL option) drops the credentials (the arguments that are secrets or
 * server files, the options naming a secret's file) unless given again,
 * with a WARNING when that leaves the connection without its secret.  Not
 * checked: the caller checks the result.
 */
extern KsConnectionArgs ks_alter_connection_args(const KsConnectionArgs *old,
												 const KsConnectionArgs *given);

/*
 * The tables by index (0, 1, ...; NULL past their end), for
 * kusto_sink._option_names(): the i-th connection option; the i-th auth
 * method; the j-th argument method i takes (*required says whether it must
 * be given); the option naming a file with method i's secret, or NULL.
 */
extern const char *ks_connection_option_name(int i);
extern const char *ks_auth_method_name(int i);
extern const char *ks_auth_method_argument(int i, int j, bool *required);
extern const char *ks_auth_method_secret_file(int i);

#endif							/* KS_WORKER_CONNECTION_OPTIONS_H */
