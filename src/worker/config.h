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
 *-------------------------------------------------------------------------
 */
#ifndef KS_WORKER_CONFIG_H
#define KS_WORKER_CONFIG_H

#include "nodes/pg_list.h"

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
	char	   *dropped_tables; /* OIDs of source tables that no longer exist */

	/* options */
	char	   *ingestion_method;	/* queued | streaming | managed */
	char	   *format;			/* json | csv */
	int			batch_interval_ms;
	int			batch_size;
	int			client_batch_size_limit_mb;
	bool		flush_immediately;
	bool		poll_for_ingestion_status;
	char	   *ingestion_mapping_ref;
	char	   *on_error;		/* stop | dead_letter */
	char	   *on_slot_lost;	/* error | resync (failover.h) */
	bool		exactly_once;	/* delivery_guarantee = exactly_once */
	bool		create_table;	/* create and check the Kusto tables */
	List	   *plugin_options; /* DefElem list for the output plugin */
	char	   *lsn_column;		/* metadata column names, NULL when left out */
	char	   *commit_lsn_column;

	/* connection */
	char	   *cluster_url;
	char	   *auth;
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
	char	   *jwt_algorithm;
	char	   *ingest_url;
	int			connect_timeout_ms;
	int			request_timeout_ms;
} KsSinkConfig;

extern KsSinkConfig *ks_load_config(const char *sink_name, MemoryContext cxt);
extern const char *ks_route_table(KsSinkConfig *config, const char *qualified_name);

#endif							/* KS_WORKER_CONFIG_H */
