/*-------------------------------------------------------------------------
 *
 * config.h
 *	  A sink's configuration as its worker uses it: the catalog row, its
 *	  options with the kusto_sink.* defaults filled in, its connection
 *	  (secrets included), the output plugin options it implies, and the
 *	  Kusto table of every source table.
 *
 * ks_load_config() reads it in its own transaction (the worker calls it at
 * start and after SIGHUP or alter_sink); it returns NULL when the sink no
 * longer exists.  Everything is allocated in the given memory context.
 *
 * Options with a fixed set of values (ingestion_method, format, on_error,
 * delivery_guarantee, the connection's auth and jwt_algorithm) are parsed
 * into the enums below once, at load: nothing compares their text later.
 * The ks_*_name() functions give a value's name back, for the ingest core
 * (which takes names), the catalog and messages.
 *
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_CONFIG_H
#define KS_WORKER_CONFIG_H

#include "nodes/pg_list.h"

#include "decoder/options.h"	/* KsFormat: the output plugin's too */

/*
 * The sink option max_awaiting_status's default: the queued batches that may
 * wait for their status at once, enough for Kusto's default batching time
 * (5 minutes) at several batches a second.
 */
#define KS_DEFAULT_MAX_AWAITING_STATUS 2000

typedef enum KsIngestionMethod
{
	KS_METHOD_QUEUED,
	KS_METHOD_STREAMING,
	KS_METHOD_MANAGED
} KsIngestionMethod;

typedef enum KsOnError
{
	KS_ON_ERROR_STOP,
	KS_ON_ERROR_DEAD_LETTER
} KsOnError;

typedef enum KsOnSlotLost
{
	KS_ON_SLOT_LOST_ERROR,		/* state error, saying why (failover.h) */
	KS_ON_SLOT_LOST_RESYNC		/* a new slot, and every table sent again */
} KsOnSlotLost;

typedef enum KsDeliveryGuarantee
{
	KS_AT_LEAST_ONCE,
	KS_EXACTLY_ONCE
} KsDeliveryGuarantee;

typedef enum KsAuth
{
	KS_AUTH_APPLICATION,
	KS_AUTH_CERTIFICATE,
	KS_AUTH_MANAGED_IDENTITY,
	KS_AUTH_WORKLOAD_IDENTITY,
	KS_AUTH_TOKEN
} KsAuth;

typedef enum KsJwtAlgorithm
{
	KS_JWT_PS256,				/* the default */
	KS_JWT_RS256
} KsJwtAlgorithm;

typedef struct KsTableRoute
{
	char	   *source;			/* schema.table, as regclass prints it unqualified-safe */
	char	   *kusto_table;
} KsTableRoute;

typedef struct KsSinkConfig
{
	char	   *name;
	char	   *slot_name;
	Oid			owner;
	bool		enabled;

	/* Kusto side */
	char	   *database;
	char	   *kusto_table;	/* default target, may be NULL */
	List	   *routes;			/* of KsTableRoute * (option "tables") */
	bool		publication;	/* the source tables are a publication's */
	char	   *dropped_tables; /* OIDs of source tables that no longer exist */

	/* options */
	KsIngestionMethod ingestion_method;
	KsFormat	format;
	int			batch_interval_ms;
	int			batch_size;
	int			client_batch_size_limit_mb;
	int			max_awaiting_status;	/* batches sent, waiting for their status */
	bool		flush_immediately;
	bool		poll_for_ingestion_status;
	char	   *ingestion_mapping_ref;
	KsOnError	on_error;
	KsOnSlotLost on_slot_lost;	/* failover.h */
	KsDeliveryGuarantee delivery_guarantee;
	bool		create_table;	/* create and check the Kusto tables */
	List	   *plugin_options; /* DefElem list for the output plugin */
	char	   *lsn_column;		/* metadata column names, NULL when left out */
	char	   *commit_lsn_column;

	/* connection */
	char	   *cluster_url;
	KsAuth		auth;
	char	   *tenant_id;
	char	   *app_id;
	char	   *app_key;
	char	   *certificate_file;
	char	   *private_key_file;
	char	   *managed_identity_id;
	char	   *federated_token_file;
	char	   *token;
	char	   *app_key_file;	/* options: the secret read from a file */
	char	   *token_file;
	char	   *authority_host;
	char	   *ca_file;
	char	   *proxy;
	char	   *managed_identity_endpoint;
	KsJwtAlgorithm jwt_algorithm;
	char	   *ingest_url;
	int			connect_timeout_ms;
	int			request_timeout_ms;
} KsSinkConfig;

extern KsSinkConfig *ks_load_config(const char *sink_name, MemoryContext cxt);
extern const char *ks_route_table(KsSinkConfig *config, Oid relid, const char *qualified_name);
/*
 * The names of the options' values, indexed by value and ending with a
 * NULL: the one list, from which the option validators (sink_options.c,
 * connection_options.c) take the values they allow.
 */
extern const char *const ks_ingestion_method_names[];
extern const char *const ks_format_names[];
extern const char *const ks_on_error_names[];
extern const char *const ks_on_slot_lost_names[];
extern const char *const ks_delivery_guarantee_names[];
extern const char *const ks_jwt_algorithm_names[];	/* connection option jwt_algorithm */

extern const char *ks_ingestion_method_name(KsIngestionMethod method);
extern const char *ks_format_name(KsFormat format);
extern const char *ks_auth_name(KsAuth auth);
extern const char *ks_jwt_algorithm_name(KsJwtAlgorithm algorithm);

#endif							/* KS_WORKER_CONFIG_H */
