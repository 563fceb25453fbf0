/* kusto_sink--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION kusto_sink" to load this file. \quit

COMMENT ON SCHEMA kusto_sink IS 'kusto_sink: stream committed table changes into Azure Data Explorer (Kusto)';

-- The Kusto type that the output plugin writes values of a PostgreSQL type as.
CREATE FUNCTION kusto_sink.kusto_type(pg_type regtype)
RETURNS text
AS 'MODULE_PATHNAME', 'kusto_sink_kusto_type'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

COMMENT ON FUNCTION kusto_sink.kusto_type(regtype) IS
'the Kusto type that kusto_sink writes values of a PostgreSQL type as';

-------------------------------------------------------------------------------
-- Connections: how to reach and authenticate to a Kusto cluster.
--
-- The table holds secrets (app_key, token): only superusers can read it.  The
-- functions that change it are SECURITY DEFINER and not executable by PUBLIC;
-- a superuser can GRANT EXECUTE on them to a role that administers sinks.
-------------------------------------------------------------------------------

CREATE TABLE kusto_sink.connection (
	name text PRIMARY KEY,
	cluster_url text NOT NULL,
	auth text NOT NULL,
	tenant_id text,
	app_id text,
	app_key text,
	certificate_file text,
	private_key_file text,
	managed_identity_id text,
	federated_token_file text,
	token text,
	options jsonb NOT NULL DEFAULT '{}',
	owner regrole NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	CHECK (auth IN ('application', 'certificate', 'managed_identity', 'workload_identity', 'token'))
);
REVOKE ALL ON kusto_sink.connection FROM PUBLIC;

-- Replaces the text of the running statement in pg_stat_activity (and in
-- the STATEMENT line of an error it raises) so that secrets passed as
-- arguments do not stay visible there.
CREATE FUNCTION kusto_sink._hide_statement(what text)
RETURNS void
AS 'MODULE_PATHNAME', 'kusto_sink_hide_statement'
LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION kusto_sink._hide_statement(text) FROM PUBLIC;

-- Raises an error inside a transaction block, a subtransaction or a pipeline:
-- create_sink and drop_sink make and drop a replication slot, which a
-- rollback would not undo (as CREATE and DROP SUBSCRIPTION refuse).
CREATE FUNCTION kusto_sink._outside_transaction(what text)
RETURNS void
AS 'MODULE_PATHNAME', 'kusto_sink_outside_transaction'
LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION kusto_sink._outside_transaction(text) FROM PUBLIC;

-- Whether a table has no row, seen under a SHARE lock taken at once and
-- released before it returns (false when the lock is not free).
CREATE FUNCTION kusto_sink._table_empty(rel regclass)
RETURNS boolean
AS 'MODULE_PATHNAME', 'kusto_sink_table_empty'
LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION kusto_sink._table_empty(regclass) FROM PUBLIC;

-- Validates a connection's settings; raises an error naming what is wrong.
CREATE FUNCTION kusto_sink._check_connection(c kusto_sink.connection)
RETURNS kusto_sink.connection
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	required text[];
	allowed text[];
	given text[] := ARRAY[]::text[];
	arg text;
	key text;
	url text;
	opt_keys CONSTANT text[] := ARRAY['authority_host', 'ca_file', 'proxy', 'connect_timeout_ms',
		'request_timeout_ms', 'managed_identity_endpoint', 'jwt_algorithm', 'ingest_url'];
BEGIN
	IF c.name IS NULL OR c.name !~ '^[A-Za-z_][A-Za-z0-9_]{0,62}$' THEN
		RAISE EXCEPTION 'invalid connection name "%"', c.name
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'A connection name starts with a letter or underscore and has at most 63 letters, digits or underscores.';
	END IF;

	-- the cluster URL: https, or http to a loopback address (tokens never cross a network in clear)
	url := rtrim(c.cluster_url, '/');
	IF url IS NULL OR url !~* '^(https://[^/?#\s]+|http://(127\.[0-9.]+|localhost|\[::1\])(:[0-9]+)?)$' THEN
		RAISE EXCEPTION 'invalid cluster_url "%"', c.cluster_url
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use the cluster''s https URL, e.g. https://mycluster.westeurope.kusto.windows.net; plain http is accepted only for a loopback address.';
	END IF;
	c.cluster_url := url;

	CASE c.auth
		WHEN 'application' THEN required := ARRAY['tenant_id', 'app_id', 'app_key'];
			allowed := required;
		WHEN 'certificate' THEN required := ARRAY['tenant_id', 'app_id', 'certificate_file', 'private_key_file'];
			allowed := required;
		WHEN 'managed_identity' THEN required := ARRAY[]::text[];
			allowed := ARRAY['managed_identity_id'];
		WHEN 'workload_identity' THEN required := ARRAY[]::text[];
			allowed := ARRAY['tenant_id', 'app_id', 'federated_token_file'];
		WHEN 'token' THEN required := ARRAY['token'];
			allowed := required;
		ELSE
			RAISE EXCEPTION 'invalid auth method "%"', c.auth
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Valid methods are application, certificate, managed_identity, workload_identity and token.';
	END CASE;

	IF c.tenant_id IS NOT NULL THEN given := array_append(given, 'tenant_id'); END IF;
	IF c.app_id IS NOT NULL THEN given := array_append(given, 'app_id'); END IF;
	IF c.app_key IS NOT NULL THEN given := array_append(given, 'app_key'); END IF;
	IF c.certificate_file IS NOT NULL THEN given := array_append(given, 'certificate_file'); END IF;
	IF c.private_key_file IS NOT NULL THEN given := array_append(given, 'private_key_file'); END IF;
	IF c.managed_identity_id IS NOT NULL THEN given := array_append(given, 'managed_identity_id'); END IF;
	IF c.federated_token_file IS NOT NULL THEN given := array_append(given, 'federated_token_file'); END IF;
	IF c.token IS NOT NULL THEN given := array_append(given, 'token'); END IF;

	FOREACH arg IN ARRAY required LOOP
		IF NOT arg = ANY (given) THEN
			RAISE EXCEPTION 'auth method "%" needs argument "%"', c.auth, arg
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = format('Pass %s.', array_to_string(required, ', '));
		END IF;
	END LOOP;
	FOREACH arg IN ARRAY given LOOP
		IF NOT arg = ANY (allowed) THEN
			RAISE EXCEPTION 'argument "%" does not apply to auth method "%"', arg, c.auth
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = CASE WHEN cardinality(allowed) = 0
							 THEN format('Auth method %s takes no further arguments.', c.auth)
							 ELSE format('Auth method %s takes %s.', c.auth, array_to_string(allowed, ', ')) END;
		END IF;
	END LOOP;
	IF c.tenant_id = '' OR c.app_id = '' OR c.app_key = '' OR c.token = '' OR c.managed_identity_id = '' THEN
		RAISE EXCEPTION 'connection arguments must not be empty strings'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass NULL (or leave the argument out) for what does not apply.';
	END IF;
	FOREACH arg IN ARRAY ARRAY[c.certificate_file, c.private_key_file, c.federated_token_file] LOOP
		IF arg IS NOT NULL AND left(arg, 1) <> '/' THEN
			RAISE EXCEPTION 'file "%" is not an absolute path', arg
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Files are read by the server''s sink workers: give their absolute path on the database server.';
		END IF;
	END LOOP;

	IF c.options IS NULL OR jsonb_typeof(c.options) <> 'object' THEN
		RAISE EXCEPTION 'connection options must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'For example: ''{"ca_file": "/etc/ssl/private-ca.pem"}''.';
	END IF;
	FOR key IN SELECT jsonb_object_keys(c.options) LOOP
		IF NOT key = ANY (opt_keys) THEN
			RAISE EXCEPTION 'unrecognized connection option "%"', key
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = format('Valid options are: %s.', array_to_string(opt_keys, ', '));
		END IF;
		IF key IN ('connect_timeout_ms', 'request_timeout_ms') THEN
			IF jsonb_typeof(c.options -> key) <> 'number' OR (c.options ->> key)::numeric <= 0
			   OR (c.options ->> key)::numeric <> trunc((c.options ->> key)::numeric) THEN
				RAISE EXCEPTION 'connection option "%" must be a positive integer', key
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
		ELSIF jsonb_typeof(c.options -> key) <> 'string' THEN
			RAISE EXCEPTION 'connection option "%" must be a string', key
				USING ERRCODE = 'invalid_parameter_value';
		ELSIF key IN ('authority_host', 'proxy', 'managed_identity_endpoint', 'ingest_url')
			  AND c.options ->> key !~* '^[a-z][a-z0-9+.-]*://[^\s]+$' THEN
			RAISE EXCEPTION 'connection option "%" is not a URL: "%"', key, c.options ->> key
				USING ERRCODE = 'invalid_parameter_value';
		ELSIF key = 'ca_file' AND left(c.options ->> key, 1) <> '/' THEN
			RAISE EXCEPTION 'file "%" is not an absolute path', c.options ->> key
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Files are read by the server''s sink workers: give their absolute path on the database server.';
		ELSIF key = 'jwt_algorithm' AND c.options ->> key NOT IN ('PS256', 'RS256') THEN
			RAISE EXCEPTION 'invalid value "%" for connection option "jwt_algorithm"', c.options ->> key
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Valid values are PS256 (the default) and RS256.';
		END IF;
	END LOOP;
	RETURN c;
END
$$;
REVOKE ALL ON FUNCTION kusto_sink._check_connection(kusto_sink.connection) FROM PUBLIC;

CREATE FUNCTION kusto_sink.create_connection(
	name text,
	cluster_url text,
	auth text DEFAULT 'application',
	tenant_id text DEFAULT NULL,
	app_id text DEFAULT NULL,
	app_key text DEFAULT NULL,
	certificate_file text DEFAULT NULL,
	private_key_file text DEFAULT NULL,
	managed_identity_id text DEFAULT NULL,
	federated_token_file text DEFAULT NULL,
	token text DEFAULT NULL,
	options jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c kusto_sink.connection;
BEGIN
	PERFORM kusto_sink._hide_statement('kusto_sink.create_connection');
	c := ROW(name, cluster_url, auth, tenant_id, app_id, app_key, certificate_file,
			 private_key_file, managed_identity_id, federated_token_file, token,
			 coalesce(options, '{}'), session_user::regrole, now(), now());
	c := kusto_sink._check_connection(c);
	BEGIN
		INSERT INTO kusto_sink.connection SELECT c.*;
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION 'connection "%" already exists', c.name
			USING ERRCODE = 'duplicate_object',
				  HINT = 'Use kusto_sink.alter_connection() to change it.';
	END;
END
$$;

-- Changes the arguments that are not NULL; auth changes reset what no longer applies.
CREATE FUNCTION kusto_sink.alter_connection(
	name text,
	cluster_url text DEFAULT NULL,
	auth text DEFAULT NULL,
	tenant_id text DEFAULT NULL,
	app_id text DEFAULT NULL,
	app_key text DEFAULT NULL,
	certificate_file text DEFAULT NULL,
	private_key_file text DEFAULT NULL,
	managed_identity_id text DEFAULT NULL,
	federated_token_file text DEFAULT NULL,
	token text DEFAULT NULL,
	options jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c kusto_sink.connection;
BEGIN
	PERFORM kusto_sink._hide_statement('kusto_sink.alter_connection');
	SELECT * INTO c FROM kusto_sink.connection k WHERE k.name = alter_connection.name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'connection "%" does not exist', alter_connection.name
			USING ERRCODE = 'undefined_object';
	END IF;
	IF auth IS NOT NULL AND auth IS DISTINCT FROM c.auth THEN
		-- a new method starts from its own arguments only
		c.auth := auth;
		c.tenant_id := NULL; c.app_id := NULL; c.app_key := NULL; c.certificate_file := NULL;
		c.private_key_file := NULL; c.managed_identity_id := NULL; c.federated_token_file := NULL;
		c.token := NULL;
	END IF;
	c.cluster_url := coalesce(cluster_url, c.cluster_url);
	c.tenant_id := coalesce(tenant_id, c.tenant_id);
	c.app_id := coalesce(app_id, c.app_id);
	c.app_key := coalesce(app_key, c.app_key);
	c.certificate_file := coalesce(certificate_file, c.certificate_file);
	c.private_key_file := coalesce(private_key_file, c.private_key_file);
	c.managed_identity_id := coalesce(managed_identity_id, c.managed_identity_id);
	c.federated_token_file := coalesce(federated_token_file, c.federated_token_file);
	c.token := coalesce(token, c.token);
	c.options := coalesce(options, c.options);
	c.updated_at := now();
	c := kusto_sink._check_connection(c);
	UPDATE kusto_sink.connection k SET
		cluster_url = c.cluster_url, auth = c.auth, tenant_id = c.tenant_id, app_id = c.app_id,
		app_key = c.app_key, certificate_file = c.certificate_file,
		private_key_file = c.private_key_file, managed_identity_id = c.managed_identity_id,
		federated_token_file = c.federated_token_file, token = c.token, options = c.options,
		updated_at = c.updated_at
	WHERE k.name = c.name;
	-- the workers of the sinks on this connection restart with it
	PERFORM kusto_sink._notify_launcher();
END
$$;

CREATE FUNCTION kusto_sink.drop_connection(name text, if_exists boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	user_sink text;
BEGIN
	SELECT s.name INTO user_sink FROM kusto_sink.sink s WHERE s.connection = drop_connection.name LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'connection "%" is used by sink "%"', drop_connection.name, user_sink
			USING ERRCODE = 'dependent_objects_still_exist',
				  HINT = 'Drop the sinks that use it first.';
	END IF;
	DELETE FROM kusto_sink.connection k WHERE k.name = drop_connection.name;
	IF NOT FOUND AND NOT if_exists THEN
		RAISE EXCEPTION 'connection "%" does not exist', drop_connection.name
			USING ERRCODE = 'undefined_object';
	END IF;
END
$$;

REVOKE ALL ON FUNCTION kusto_sink.create_connection(text, text, text, text, text, text, text, text, text, text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION kusto_sink.alter_connection(text, text, text, text, text, text, text, text, text, text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION kusto_sink.drop_connection(text, boolean) FROM PUBLIC;

-- Connections without their secrets.
CREATE VIEW kusto_sink.connections AS
	SELECT name, cluster_url, auth, tenant_id, app_id,
		   (app_key IS NOT NULL OR token IS NOT NULL) AS has_secret,
		   certificate_file, private_key_file, managed_identity_id, federated_token_file,
		   options, owner, created_at, updated_at
	FROM kusto_sink.connection;

-------------------------------------------------------------------------------
-- Sinks: a source (tables or a publication) streamed into Kusto tables
-- through a connection, by one background worker decoding one slot.
-------------------------------------------------------------------------------

CREATE TABLE kusto_sink.sink (
	name text PRIMARY KEY,
	connection text NOT NULL REFERENCES kusto_sink.connection (name),
	database text NOT NULL,
	source_tables regclass[],		-- NULL for a publication source
	publication text,				-- NULL for a table source
	kusto_table text,				-- the default target table
	options jsonb NOT NULL DEFAULT '{}',
	enabled boolean NOT NULL DEFAULT true,
	slot_name name NOT NULL UNIQUE,
	owner regrole NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	CHECK ((source_tables IS NULL) <> (publication IS NULL))
);
REVOKE ALL ON kusto_sink.sink FROM PUBLIC;

-- Validates sink options; returns them normalised (enum values lower-case).
-- Options left out follow the kusto_sink.* defaults (GUCs) at worker start.
CREATE FUNCTION kusto_sink._check_sink_options(options jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	key text;
	val jsonb;
	result jsonb;
	known CONSTANT text[] := ARRAY['ingestion_method', 'format', 'batch_interval_ms', 'batch_size',
		'client_batch_size_limit', 'flush_immediately', 'poll_for_ingestion_status',
		'delivery_guarantee', 'ingestion_mapping_ref', 'on_error', 'tables', 'metadata',
		'op_column', 'lsn_column', 'commit_lsn_column', 'commit_time_column', 'xid_column',
		'schema_column', 'table_column', 'unchanged_toast_column', 'create_table', 'snapshot'];
	enums CONSTANT jsonb := '{"ingestion_method": ["queued", "streaming", "managed"],
		"format": ["json", "csv"], "delivery_guarantee": ["at_least_once", "exactly_once"],
		"on_error": ["stop", "dead_letter"]}';
BEGIN
	IF options IS NULL OR jsonb_typeof(options) <> 'object' THEN
		RAISE EXCEPTION 'sink options must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'For example: ''{"batch_interval_ms": 500, "format": "csv"}''.';
	END IF;
	result := '{}';
	FOR key, val IN SELECT * FROM jsonb_each(options) LOOP
		IF NOT key = ANY (known) THEN
			RAISE EXCEPTION 'unrecognized sink option "%"', key
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = format('Valid options are: %s.', array_to_string(known, ', '));
		END IF;
		IF jsonb_typeof(val) = 'null' THEN
			-- alter_sink: back to the default
			result := result || jsonb_build_object(key, val);
			CONTINUE;
		END IF;
		IF enums ? key THEN
			IF jsonb_typeof(val) <> 'string' OR NOT (enums -> key) ? lower(val #>> '{}') THEN
				RAISE EXCEPTION 'invalid value % for sink option "%"', val, key
					USING ERRCODE = 'invalid_parameter_value',
						  HINT = format('Valid values are: %s.',
										(SELECT string_agg(v, ', ') FROM jsonb_array_elements_text(enums -> key) v));
			END IF;
			val := to_jsonb(lower(val #>> '{}'));
		ELSIF key IN ('batch_interval_ms', 'batch_size', 'client_batch_size_limit') THEN
			IF jsonb_typeof(val) <> 'number' OR val::numeric <= 0 OR val::numeric <> trunc(val::numeric)
			   OR val::numeric > 2147483647 THEN
				RAISE EXCEPTION 'sink option "%" must be a positive integer, not %', key, val
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
		ELSIF key IN ('flush_immediately', 'poll_for_ingestion_status', 'create_table', 'snapshot') THEN
			IF jsonb_typeof(val) <> 'boolean' THEN
				RAISE EXCEPTION 'sink option "%" must be true or false, not %', key, val
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
		ELSIF key = 'tables' THEN
			IF jsonb_typeof(val) <> 'object' OR EXISTS (SELECT FROM jsonb_each(val) e WHERE jsonb_typeof(e.value) <> 'string') THEN
				RAISE EXCEPTION 'sink option "tables" must map source tables to Kusto table names'
					USING ERRCODE = 'invalid_parameter_value',
						  HINT = 'For example: ''{"tables": {"public.orders": "Orders", "public.refunds": "Refunds"}}''.';
			END IF;
		ELSIF jsonb_typeof(val) <> 'string' OR val #>> '{}' = '' THEN
			RAISE EXCEPTION 'sink option "%" must be a non-empty string, not %', key, val
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		result := result || jsonb_build_object(key, val);
	END LOOP;
	RETURN result;
END
$$;
REVOKE ALL ON FUNCTION kusto_sink._check_sink_options(jsonb) FROM PUBLIC;

-- Checks what a sink's options say together (the final options of a sink).
CREATE FUNCTION kusto_sink._check_sink_combination(options jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	method text := coalesce(options ->> 'ingestion_method', current_setting('kusto_sink.ingestion_method'));
	meta text[] := string_to_array(replace(lower(coalesce(options ->> 'metadata', 'all')), ' ', ''), ',');
BEGIN
	IF options ->> 'delivery_guarantee' = 'exactly_once' THEN
		IF method <> 'streaming' AND (options -> 'poll_for_ingestion_status') = 'false'::jsonb THEN
			RAISE EXCEPTION 'delivery_guarantee "exactly_once" needs poll_for_ingestion_status'
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'A queued batch can only count as delivered once Kusto reported it ingested.';
		END IF;
		IF method <> 'queued' AND NOT meta @> ARRAY['all'] AND NOT meta @> ARRAY['lsn', 'commit_lsn'] THEN
			RAISE EXCEPTION 'delivery_guarantee "exactly_once" with ingestion_method "%" needs the metadata columns lsn and commit_lsn', method
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'A stream carries no tag: a batch sent again after a crash is first looked up in Kusto by the commit and change LSN of its first record. Add lsn and commit_lsn to option "metadata", or use ingestion_method "queued".';
		END IF;
	END IF;
	RETURN options;
END
$$;
REVOKE ALL ON FUNCTION kusto_sink._check_sink_combination(jsonb) FROM PUBLIC;

-- Tells the launcher, when the transaction commits, to look at the sinks again.
CREATE FUNCTION kusto_sink._notify_launcher()
RETURNS void
AS 'MODULE_PATHNAME', 'kusto_sink_notify_launcher'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION kusto_sink._notify_launcher() FROM PUBLIC;

-- Stops a sink's worker and waits (up to timeout_ms) until it has exited and
-- released the slot; false when it is still running at the timeout.
CREATE FUNCTION kusto_sink._stop_worker(sink text, timeout_ms int)
RETURNS boolean
AS 'MODULE_PATHNAME', 'kusto_sink_stop_worker'
LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION kusto_sink._stop_worker(text, int) FROM PUBLIC;

-- The prerequisites every sink needs, checked with errors that say what to change.
CREATE FUNCTION kusto_sink._check_prerequisites()
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF current_setting('wal_level') <> 'logical' THEN
		RAISE EXCEPTION 'kusto_sink needs wal_level = logical, not %', current_setting('wal_level')
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Set wal_level = logical in postgresql.conf and restart the server.';
	END IF;
	IF NOT 'kusto_sink' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ',')) THEN
		RAISE EXCEPTION 'kusto_sink is not in shared_preload_libraries'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Add kusto_sink to shared_preload_libraries and restart the server: sinks run in background workers that only a preloaded library can start.';
	END IF;
	IF current_database() <> current_setting('kusto_sink.database') THEN
		RAISE EXCEPTION 'sinks live in database "%", not in "%"', current_setting('kusto_sink.database'), current_database()
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Create the sink in that database, or set kusto_sink.database to this one and restart the server.';
	END IF;
END
$$;

-- A sink's catalog row, or an error when there is no such sink.
CREATE FUNCTION kusto_sink._sink(name text)
RETURNS kusto_sink.sink
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s kusto_sink.sink;
BEGIN
	SELECT * INTO s FROM kusto_sink.sink k WHERE k.name = _sink.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'sink "%" does not exist', _sink.name
			USING ERRCODE = 'undefined_object';
	END IF;
	RETURN s;
END
$$;
REVOKE ALL ON FUNCTION kusto_sink._sink(text) FROM PUBLIC;

-- create_sink() resolves the source with the caller's search_path, then
-- _create_sink() (SECURITY DEFINER) checks and does the rest.
CREATE FUNCTION kusto_sink.create_sink(
	name text,
	connection text,
	source text,
	database text,
	kusto_table text DEFAULT NULL,
	options jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
	rels pg_catalog.regclass[];
	rel pg_catalog.regclass;
	item text;
	pub text;
BEGIN
	IF source IS NULL OR pg_catalog.btrim(source) = '' THEN
		RAISE EXCEPTION 'the source must be given'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Name a table, a comma-separated list of tables, or a publication as ''publication:<name>''.';
	ELSIF source OPERATOR(pg_catalog.~~*) 'publication:%' THEN
		pub := pg_catalog.btrim(pg_catalog.substr(source, 13));
	ELSE
		rels := ARRAY[]::pg_catalog.regclass[];
		FOREACH item IN ARRAY pg_catalog.string_to_array(source, ',') LOOP
			rel := pg_catalog.btrim(item)::pg_catalog.regclass;
			rels := rels OPERATOR(pg_catalog.||) rel;
		END LOOP;
	END IF;
	PERFORM kusto_sink._create_sink(name, connection, rels, pub, database, kusto_table, options);
END
$$;

CREATE FUNCTION kusto_sink._create_sink(
	name text,
	connection text,
	source_tables regclass[],
	publication text,
	database text,
	kusto_table text,
	options jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s kusto_sink.sink;
	rel regclass;
	mapped jsonb;
BEGIN
	PERFORM kusto_sink._outside_transaction('kusto_sink.create_sink()');
	IF name IS NULL OR name !~ '^[a-z_][a-z0-9_]{0,51}$' THEN
		RAISE EXCEPTION 'invalid sink name "%"', name
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'A sink name starts with a lower-case letter or underscore and has at most 52 lower-case letters, digits or underscores (it names the replication slot kusto_sink_<name>).';
	END IF;
	PERFORM kusto_sink._check_prerequisites();
	IF NOT EXISTS (SELECT FROM kusto_sink.connection c WHERE c.name = _create_sink.connection) THEN
		RAISE EXCEPTION 'connection "%" does not exist', connection
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create it with kusto_sink.create_connection().';
	END IF;
	IF database IS NULL OR database = '' THEN
		RAISE EXCEPTION 'the Kusto database must be given'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF EXISTS (SELECT FROM kusto_sink.sink k WHERE k.name = _create_sink.name) THEN
		RAISE EXCEPTION 'sink "%" already exists', name
			USING ERRCODE = 'duplicate_object',
				  HINT = 'Use kusto_sink.alter_sink() to change it, or drop it first.';
	END IF;

	s.name := name;
	s.connection := connection;
	s.database := database;
	s.kusto_table := kusto_table;
	s.options := kusto_sink._check_sink_combination(
		jsonb_strip_nulls(kusto_sink._check_sink_options(coalesce(options, '{}'))));
	mapped := coalesce(s.options -> 'tables', '{}');
	s.enabled := true;
	s.slot_name := 'kusto_sink_' || name;
	s.owner := session_user::regrole;
	s.created_at := now();
	s.updated_at := now();
	s.source_tables := source_tables;
	s.publication := publication;

	IF publication IS NOT NULL THEN
		IF NOT EXISTS (SELECT FROM pg_publication p WHERE p.pubname = publication) THEN
			RAISE EXCEPTION 'publication "%" does not exist', publication
				USING ERRCODE = 'undefined_object';
		END IF;
		IF s.kusto_table IS NULL THEN
			RAISE EXCEPTION 'a sink on a publication needs kusto_table'
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Name the Kusto table that tables without an entry in option "tables" go to.';
		END IF;
	ELSIF source_tables IS NULL OR cardinality(source_tables) = 0 THEN
		RAISE EXCEPTION 'the source must be given'
			USING ERRCODE = 'invalid_parameter_value';
	ELSE
		FOREACH rel IN ARRAY source_tables LOOP
			IF (SELECT relkind FROM pg_class WHERE oid = rel) NOT IN ('r', 'p') THEN
				RAISE EXCEPTION '"%" is not a table', rel
					USING ERRCODE = 'wrong_object_type';
			END IF;
			IF NOT has_table_privilege(session_user, rel, 'SELECT') THEN
				RAISE EXCEPTION 'permission denied for table %', rel
					USING ERRCODE = 'insufficient_privilege',
						  HINT = 'The owner of a sink must be able to read every source table.';
			END IF;
			IF s.kusto_table IS NULL AND NOT mapped ? rel::text THEN
				RAISE EXCEPTION 'no Kusto table for source table %', rel
					USING ERRCODE = 'invalid_parameter_value',
						  HINT = 'Pass kusto_table, or map the table in option "tables".';
			END IF;
		END LOOP;
	END IF;
	BEGIN
		PERFORM pg_create_logical_replication_slot(s.slot_name, 'kusto_sink');
	EXCEPTION
		WHEN duplicate_object THEN
			RAISE EXCEPTION 'replication slot "%" already exists', s.slot_name
				USING ERRCODE = 'duplicate_object',
					  HINT = 'A sink of that name was dropped without its slot, or the slot belongs to something else: drop the slot (pg_drop_replication_slot) if nothing uses it.';
		WHEN configuration_limit_exceeded THEN
			RAISE EXCEPTION 'no free replication slot for sink "%"', name
				USING ERRCODE = 'configuration_limit_exceeded',
					  HINT = 'Raise max_replication_slots (needs a restart) or drop unused slots.';
		WHEN OTHERS THEN
			IF SQLERRM LIKE '%may not be used as an output plugin%' THEN
				RAISE EXCEPTION 'the server does not allow kusto_sink as an output plugin'
					USING ERRCODE = 'object_not_in_prerequisite_state',
						  HINT = 'Add kusto_sink to output_plugin_libraries (e.g. ''pgoutput, test_decoding, kusto_sink'') and reload the configuration.';
			END IF;
			RAISE;
	END;

	BEGIN
		INSERT INTO kusto_sink.sink SELECT s.*;
		-- the rows already there (option snapshot), read by the worker in chunks
		PERFORM kusto_sink._snapshot_follow(s.name, false);
	EXCEPTION
		WHEN OTHERS THEN
			-- a slot is not transactional: it would outlive the failed sink
			PERFORM pg_drop_replication_slot(s.slot_name);
			RAISE;
	END;
	PERFORM kusto_sink._notify_launcher();
END
$$;

CREATE FUNCTION kusto_sink.alter_sink(name text, options jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	merged jsonb;
BEGIN
	SELECT k.options || kusto_sink._check_sink_options(coalesce(alter_sink.options, '{}'))
	  INTO merged FROM kusto_sink.sink k WHERE k.name = alter_sink.name FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'sink "%" does not exist', alter_sink.name
			USING ERRCODE = 'undefined_object';
	END IF;
	-- an option set to null goes back to its default
	merged := kusto_sink._check_sink_combination(jsonb_strip_nulls(merged));
	UPDATE kusto_sink.sink k SET options = merged, updated_at = now() WHERE k.name = alter_sink.name;
	PERFORM kusto_sink._notify_launcher();
END
$$;

CREATE FUNCTION kusto_sink._set_enabled(name text, enabled boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE kusto_sink.sink k SET enabled = _set_enabled.enabled, updated_at = now()
	WHERE k.name = _set_enabled.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'sink "%" does not exist', _set_enabled.name
			USING ERRCODE = 'undefined_object';
	END IF;
	PERFORM kusto_sink._notify_launcher();
END
$$;
REVOKE ALL ON FUNCTION kusto_sink._set_enabled(text, boolean) FROM PUBLIC;

CREATE FUNCTION kusto_sink.pause_sink(name text)
RETURNS void LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT kusto_sink._set_enabled(name, false) $$;

CREATE FUNCTION kusto_sink.resume_sink(name text)
RETURNS void LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT kusto_sink._set_enabled(name, true) $$;

-- Closes the sink's open batches now instead of at their size or interval.
CREATE FUNCTION kusto_sink.flush_sink(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'kusto_sink_flush_sink'
LANGUAGE C STRICT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

-- Stops the worker (which finishes the batches it has in flight), drops the
-- slot and the sink.
CREATE FUNCTION kusto_sink.drop_sink(name text, if_exists boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s kusto_sink.sink;
BEGIN
	PERFORM kusto_sink._outside_transaction('kusto_sink.drop_sink()');
	-- (not FOR UPDATE: the worker's inserts into the tables that reference the
	-- sink, which it may have to finish before it can stop, take KEY SHARE)
	SELECT * INTO s FROM kusto_sink.sink k WHERE k.name = drop_sink.name FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		IF NOT if_exists THEN
			RAISE EXCEPTION 'sink "%" does not exist', drop_sink.name
				USING ERRCODE = 'undefined_object';
		END IF;
		RETURN;
	END IF;
	IF NOT kusto_sink._stop_worker(s.name, 30000) THEN
		RAISE EXCEPTION 'the worker of sink "%" is still delivering a batch', s.name
			USING ERRCODE = 'object_in_use',
				  HINT = 'Try again in a moment; pause the sink first to let it settle.';
	END IF;
	IF EXISTS (SELECT FROM pg_replication_slots r WHERE r.slot_name = s.slot_name) THEN
		PERFORM pg_drop_replication_slot(s.slot_name);
	END IF;
	DELETE FROM kusto_sink.sink k WHERE k.name = s.name;
	PERFORM kusto_sink._notify_launcher();
END
$$;

REVOKE ALL ON FUNCTION kusto_sink.create_sink(text, text, text, text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION kusto_sink._create_sink(text, text, regclass[], text, text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION kusto_sink.alter_sink(text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION kusto_sink.pause_sink(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION kusto_sink.resume_sink(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION kusto_sink.flush_sink(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION kusto_sink.drop_sink(text, boolean) FROM PUBLIC;

-- A connection in use by a sink cannot be dropped (the foreign key says so).

CREATE VIEW kusto_sink.sinks AS
	SELECT name, connection, database, source_tables, publication, kusto_table, options,
		   enabled, slot_name, owner, created_at, updated_at
	FROM kusto_sink.sink;

-- The source tables of a sink, in its order (a publication's by name), with
-- their qualified names.  Never the extension's own tables, which are not
-- decoded either (src/decoder/relinfo.c), though a publication FOR ALL
-- TABLES lists them.
CREATE FUNCTION kusto_sink._source_tables(s kusto_sink.sink)
RETURNS TABLE (rel regclass, qualified text, ord bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.oid::regclass, format('%I.%I', n.nspname, c.relname), src.ord
	  FROM (SELECT u.t::oid, u.ord FROM unnest(s.source_tables) WITH ORDINALITY u(t, ord)
			UNION ALL
			SELECT format('%I.%I', p.schemaname, p.tablename)::regclass::oid,
				   row_number() OVER (ORDER BY p.schemaname, p.tablename)
			  FROM pg_publication_tables p WHERE p.pubname = s.publication) src(relid, ord)
	  JOIN pg_class c ON c.oid = src.relid JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname <> 'kusto_sink'
$$;
REVOKE ALL ON FUNCTION kusto_sink._source_tables(kusto_sink.sink) FROM PUBLIC;

-------------------------------------------------------------------------------
-- Initial snapshot (README, "Initial snapshot"): the rows of the source tables
-- that were there before the sink, read by its worker in chunks, each in a
-- short transaction that marks its place in the slot's stream with a logical
-- decoding message (src/worker/snapshot.h).
-------------------------------------------------------------------------------

-- One row per sink and source table (a leaf partition for a partitioned one).
CREATE TABLE kusto_sink.snapshot (
	sink text NOT NULL REFERENCES kusto_sink.sink (name) ON DELETE CASCADE,
	relid oid NOT NULL,
	source_table text NOT NULL,		-- its name when the snapshot was asked for
	requested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	last_key text[],				-- key of the last row read (ctid and end page without a key)
	end_key text[],					-- the largest key at the first chunk: rows past it come as changes
	resync boolean NOT NULL DEFAULT true,	-- it ends with a snapshot_done record
	start_lsn pg_lsn,				-- the position of its first chunk's records
	copied boolean NOT NULL DEFAULT false,	-- every row has been read into chunks
	rows_copied bigint NOT NULL DEFAULT 0,
	rows_delivered bigint NOT NULL DEFAULT 0,	-- rows of chunks that are in Kusto
	chunks bigint NOT NULL DEFAULT 0,
	longest_chunk_ms float8,		-- the longest chunk transaction
	longest_lock_ms float8,			-- the longest the table was locked (SHARE)
	started_at timestamptz,
	finished_at timestamptz,		-- the last chunk is in Kusto
	cancelled_at timestamptz,		-- cancel_snapshot stopped it before every row was read
	PRIMARY KEY (sink, relid)
);
REVOKE ALL ON kusto_sink.snapshot FROM PUBLIC;

-- Chunks read and not yet in Kusto: their records as the output plugin
-- rendered them, injected again if decoding meets their message again.
CREATE TABLE kusto_sink.snapshot_chunk (
	sink text NOT NULL REFERENCES kusto_sink.sink (name) ON DELETE CASCADE,
	lsn pg_lsn NOT NULL,			-- the end of its message in the WAL
	relid oid NOT NULL,
	source_table text NOT NULL,
	shape_names text[] NOT NULL,	-- the records' fields and their Kusto types
	shape_types text[] NOT NULL,
	records text[] NOT NULL,
	done_record text,				-- the table's last chunk of a resync: its snapshot_done record
	done_lsn pg_lsn,				-- and that record's lsn (the snapshot's start_lsn)
	read_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (sink, lsn)
);
REVOKE ALL ON kusto_sink.snapshot_chunk FROM PUBLIC;

-- The tables a sink's snapshot reads: its source tables, a partitioned one
-- by its partitions (changes are decoded per partition too).
CREATE FUNCTION kusto_sink._snapshot_tables(s kusto_sink.sink)
RETURNS TABLE (relid oid, source_table text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH src(t) AS (
		SELECT rel FROM kusto_sink._source_tables(s)
	), leaves(t) AS (
		SELECT src.t FROM src
		UNION
		SELECT l.relid FROM src CROSS JOIN LATERAL pg_partition_tree(src.t) l WHERE l.isleaf
	)
	SELECT c.oid, format('%I.%I', n.nspname, c.relname)
	  FROM leaves JOIN pg_class c ON c.oid = leaves.t JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.relkind = 'r'
$$;
REVOKE ALL ON FUNCTION kusto_sink._snapshot_tables(kusto_sink.sink) FROM PUBLIC;

-- The tables of a sink (NULL: all) that a snapshot request or cancel names:
-- each must be one of its tables; a partitioned table means its partitions.
CREATE FUNCTION kusto_sink._snapshot_targets(s kusto_sink.sink, tables regclass[])
RETURNS TABLE (relid oid, source_table text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rel regclass;
BEGIN
	FOREACH rel IN ARRAY coalesce(tables, '{}') LOOP
		IF NOT EXISTS (SELECT FROM kusto_sink._snapshot_tables(s) t
						WHERE t.relid = rel::oid
						   OR t.relid IN (SELECT l.relid FROM pg_partition_tree(rel) l)) THEN
			RAISE EXCEPTION 'table % is not a source table of sink "%"', rel, s.name
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'kusto_sink.sinks lists its source tables or publication.';
		END IF;
	END LOOP;
	RETURN QUERY
		SELECT t.relid, t.source_table FROM kusto_sink._snapshot_tables(s) t
		 WHERE tables IS NULL
			OR t.relid = ANY (tables::oid[])
			OR t.relid IN (SELECT l.relid FROM unnest(tables) u(r) CROSS JOIN LATERAL pg_partition_tree(u.r) l);
END
$$;
REVOKE ALL ON FUNCTION kusto_sink._snapshot_targets(kusto_sink.sink, regclass[]) FROM PUBLIC;

-- Takes the snapshot locks of tables (src/worker/snapshot.h), in relid order,
-- until the transaction ends: a chunk being read of one of them ends first,
-- and the next sees what the caller changed.
CREATE FUNCTION kusto_sink._lock_snapshots(relids oid[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- (19283 is KS_SNAPSHOT_LOCK_CLASS)
	PERFORM pg_advisory_xact_lock((19283::int8 << 32) | x.r::int8)
	   FROM (SELECT DISTINCT r FROM unnest(relids) r ORDER BY r) x;
END
$$;
REVOKE ALL ON FUNCTION kusto_sink._lock_snapshots(oid[]) FROM PUBLIC;

-- Asks for a snapshot of some (NULL: all) of a sink's tables; a table's
-- earlier snapshot, finished or not, starts over.  Returns how many tables.
CREATE FUNCTION kusto_sink._request_snapshot(s kusto_sink.sink, tables regclass[])
RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	relids oid[];
	names text[];
	n int;
BEGIN
	SELECT array_agg(t.relid), array_agg(t.source_table) INTO relids, names
	  FROM kusto_sink._snapshot_targets(s, tables) t;
	PERFORM kusto_sink._lock_snapshots(relids);
	INSERT INTO kusto_sink.snapshot AS o (sink, relid, source_table)
		SELECT s.name, t.relid, t.source_table FROM unnest(relids, names) t(relid, source_table)
	ON CONFLICT (sink, relid) DO UPDATE
		SET source_table = excluded.source_table, requested_at = clock_timestamp(), last_key = NULL,
			end_key = NULL, resync = true, start_lsn = NULL, copied = false, rows_copied = 0, rows_delivered = 0, chunks = 0,
			longest_chunk_ms = NULL, longest_lock_ms = NULL, started_at = NULL, finished_at = NULL,
			cancelled_at = NULL;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION kusto_sink._request_snapshot(kusto_sink.sink, regclass[]) FROM PUBLIC;

-- With option snapshot on, every source table's rows are sent once:
-- create_sink asks for the snapshot of every table (resync false: nothing of
-- the sink is older), the worker (src/worker/snapshot.c) for a table that
-- joined the sink since (added to its publication, a new partition), and
-- forgets a table that left it, so that one that comes back is sent again.
-- Returns how many tables it asked for.
CREATE FUNCTION kusto_sink._snapshot_follow(sink text, resync boolean)
RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s kusto_sink.sink;
	n int;
BEGIN
	SELECT * INTO s FROM kusto_sink.sink k WHERE k.name = _snapshot_follow.sink;
	IF NOT FOUND OR NOT coalesce((s.options ->> 'snapshot')::boolean, true) THEN
		RETURN 0;
	END IF;
	WITH now_in AS MATERIALIZED (SELECT t.relid, t.source_table FROM kusto_sink._snapshot_tables(s) t),
	left_it AS (DELETE FROM kusto_sink.snapshot p
				 WHERE p.sink = s.name AND p.relid NOT IN (SELECT relid FROM now_in))
	INSERT INTO kusto_sink.snapshot (sink, relid, source_table, resync)
		SELECT s.name, now_in.relid, now_in.source_table, _snapshot_follow.resync FROM now_in
	ON CONFLICT ON CONSTRAINT snapshot_pkey DO NOTHING;
	GET DIAGNOSTICS n = ROW_COUNT;
	-- create_sink, right after the slot is made: a table that is empty now
	-- (src/api/table_empty.c) has nothing for a snapshot to send; its rows all
	-- come as changes
	IF NOT resync THEN
		UPDATE kusto_sink.snapshot p SET copied = true, started_at = now(), finished_at = now()
		 WHERE p.sink = s.name AND NOT p.copied AND p.started_at IS NULL
		   AND kusto_sink._table_empty(p.relid::regclass);
	END IF;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION kusto_sink._snapshot_follow(text, boolean) FROM PUBLIC;

-- Sends the current rows of a sink's tables (NULL: all of them) again, as
-- operation "snapshot", while changes keep flowing; returns how many tables.
CREATE FUNCTION kusto_sink.resnapshot_sink(name text, tables regclass[] DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN kusto_sink._request_snapshot(kusto_sink._sink(name), tables);
END
$$;
REVOKE ALL ON FUNCTION kusto_sink.resnapshot_sink(text, regclass[]) FROM PUBLIC;

-- Stops the snapshots of a sink's tables (NULL: all of them) that are still
-- reading rows; the chunks already read are delivered.  A new request
-- (resnapshot_sink) starts over.  Returns how many tables it stopped.
CREATE FUNCTION kusto_sink.cancel_snapshot(name text, tables regclass[] DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s kusto_sink.sink;
	targets oid[];
	n int;
BEGIN
	s := kusto_sink._sink(name);
	targets := ARRAY(SELECT t.relid FROM kusto_sink._snapshot_targets(s, tables) t);
	PERFORM kusto_sink._lock_snapshots(targets);
	-- a new requested_at: a chunk read after this is not stored (snapshot.c)
	UPDATE kusto_sink.snapshot p
	   SET copied = true, cancelled_at = clock_timestamp(), requested_at = clock_timestamp(),
		   finished_at = CASE WHEN EXISTS (SELECT FROM kusto_sink.snapshot_chunk c
											WHERE c.sink = p.sink AND c.relid = p.relid)
							  THEN NULL ELSE clock_timestamp() END
	 WHERE p.sink = s.name AND NOT p.copied AND p.relid = ANY (targets);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION kusto_sink.cancel_snapshot(text, regclass[]) FROM PUBLIC;

-- Snapshot progress per sink and table.
CREATE VIEW kusto_sink.snapshots AS
	SELECT p.sink, p.source_table,
		   CASE WHEN p.cancelled_at IS NOT NULL AND p.finished_at IS NOT NULL THEN 'cancelled'
				WHEN p.finished_at IS NOT NULL THEN 'done'
				WHEN p.copied THEN 'delivering'
				WHEN p.started_at IS NOT NULL THEN 'copying'
				ELSE 'pending' END AS state,
		   p.rows_copied, p.rows_delivered,
		   greatest(c.reltuples, 0)::bigint AS rows_estimate,
		   p.chunks, p.longest_chunk_ms, p.longest_lock_ms,
		   p.requested_at, p.started_at, p.finished_at, p.cancelled_at
	FROM kusto_sink.snapshot p
	LEFT JOIN pg_class c ON c.oid = p.relid;

-- The sink workers' shared-memory state and counters.
CREATE FUNCTION kusto_sink._status(
	OUT name text, OUT state text, OUT worker_pid int,
	OUT confirmed_lsn pg_lsn, OUT decoded_lsn pg_lsn,
	OUT rows_sent bigint, OUT batches_sent bigint, OUT raw_bytes bigint, OUT compressed_bytes bigint,
	OUT ingestion_failures bigint, OUT retries bigint,
	OUT last_error text, OUT last_error_time timestamptz, OUT last_success timestamptz,
	OUT last_commit_time timestamptz, OUT oldest_pending timestamptz,
	OUT latency_p50_ms float8, OUT latency_p99_ms float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'kusto_sink_status'
LANGUAGE C STRICT VOLATILE;

CREATE VIEW kusto_sink.status AS
	SELECT k.name,
		   CASE WHEN NOT k.enabled THEN 'paused' ELSE coalesce(s.state, 'starting') END AS state,
		   s.worker_pid, k.slot_name,
		   r.confirmed_flush_lsn AS confirmed_lsn,
		   s.decoded_lsn,
		   pg_wal_lsn_diff(pg_current_wal_flush_lsn(), r.confirmed_flush_lsn)::bigint AS lag_bytes,
		   CASE WHEN s.name IS NULL THEN NULL
				WHEN s.oldest_pending IS NULL THEN 0
				ELSE extract(epoch FROM now() - s.oldest_pending)::float8 END AS lag_seconds,
		   s.rows_sent, s.batches_sent, s.raw_bytes, s.compressed_bytes,
		   s.ingestion_failures, s.retries, s.last_error, s.last_error_time, s.last_success,
		   s.latency_p50_ms, s.latency_p99_ms,
		   r.wal_status,
		   CASE WHEN n.tables IS NULL THEN NULL
				WHEN n.tables_done < n.tables THEN 'running'
				WHEN n.tables_cancelled > 0 THEN 'cancelled'
				ELSE 'done' END AS snapshot_state,
		   n.tables_done AS snapshot_tables_done, n.tables AS snapshot_tables,
		   n.rows_delivered AS snapshot_rows_delivered, n.rows_estimate AS snapshot_rows_estimate
	FROM kusto_sink.sink k
	LEFT JOIN kusto_sink._status() s ON s.name = k.name
	LEFT JOIN pg_replication_slots r ON r.slot_name = k.slot_name
	LEFT JOIN (SELECT p.sink, count(*)::int AS tables,
					  (count(*) FILTER (WHERE p.state IN ('done', 'cancelled')))::int AS tables_done,
					  (count(*) FILTER (WHERE p.state = 'cancelled'))::int AS tables_cancelled,
					  sum(p.rows_delivered)::bigint AS rows_delivered,
					  sum(p.rows_estimate)::bigint AS rows_estimate
				 FROM kusto_sink.snapshots p GROUP BY p.sink) n ON n.sink = k.name;

-- Exactly-once progress (delivery_guarantee = exactly_once), written by the
-- sink's worker: per Kusto table the position (commit LSN, index of the record
-- in its transaction) up to which every record is in Kusto, and the batches
-- sent (or about to be) past it, with their deterministic ids.  See README,
-- "Exactly once".
CREATE TABLE kusto_sink.progress (
	sink text NOT NULL REFERENCES kusto_sink.sink (name) ON DELETE CASCADE,
	kusto_table text NOT NULL,
	committed_lsn pg_lsn NOT NULL,
	committed_index bigint NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (sink, kusto_table)
);
REVOKE ALL ON kusto_sink.progress FROM PUBLIC;

CREATE TABLE kusto_sink.batch (
	sink text NOT NULL REFERENCES kusto_sink.sink (name) ON DELETE CASCADE,
	id uuid NOT NULL,
	kusto_table text NOT NULL,
	first_lsn pg_lsn NOT NULL,
	first_index bigint NOT NULL,
	last_lsn pg_lsn NOT NULL,
	last_index bigint NOT NULL,
	records bigint NOT NULL,
	method text NOT NULL,
	acked boolean NOT NULL DEFAULT false,
	first_sent_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (sink, id)
);
REVOKE ALL ON kusto_sink.batch FROM PUBLIC;

-- Batches that Kusto rejected permanently, for sinks with on_error = dead_letter.
-- kusto_sink.retry_dead_letter(sink) sends them again.
CREATE TABLE kusto_sink.dead_letter (
	id bigserial PRIMARY KEY,
	sink text NOT NULL,
	kusto_table text NOT NULL,
	format text NOT NULL,
	records bigint NOT NULL,
	first_commit_lsn pg_lsn NOT NULL,
	last_commit_lsn pg_lsn NOT NULL,
	payload text NOT NULL,
	mapping text,				-- the ingestion mapping it was sent with, NULL: the sink's
	error text NOT NULL,
	failed_at timestamptz NOT NULL DEFAULT now(),
	retry_requested boolean NOT NULL DEFAULT false
);
REVOKE ALL ON kusto_sink.dead_letter FROM PUBLIC;
CREATE INDEX ON kusto_sink.dead_letter (sink) WHERE retry_requested;

-- Asks the sink's worker to send its dead letters again; each one that Kusto
-- accepts is deleted, each one it rejects again stays with the new error.
-- Returns how many were queued for the retry.
CREATE FUNCTION kusto_sink.retry_dead_letter(sink text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n bigint;
BEGIN
	PERFORM kusto_sink._sink(sink);
	UPDATE kusto_sink.dead_letter d SET retry_requested = true WHERE d.sink = retry_dead_letter.sink;
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM kusto_sink._notify_launcher();
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION kusto_sink.retry_dead_letter(text) FROM PUBLIC;

-- Gets a token for a connection and runs a harmless command (.show version)
-- on its cluster; says what it reached, or why not.
CREATE FUNCTION kusto_sink._probe_connection(
	cluster_url text, auth text, tenant_id text, app_id text, app_key text, token text,
	authority_host text, ca_file text, proxy text,
	managed_identity_id text, managed_identity_endpoint text, federated_token_file text,
	certificate_file text, private_key_file text, jwt_algorithm text,
	OUT ok boolean, OUT detail text)
AS 'MODULE_PATHNAME', 'kusto_sink_probe_connection'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION kusto_sink._probe_connection(text, text, text, text, text, text, text, text, text, text, text, text, text, text, text) FROM PUBLIC;

CREATE FUNCTION kusto_sink.test_connection(name text, OUT ok boolean, OUT detail text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c kusto_sink.connection;
BEGIN
	SELECT * INTO c FROM kusto_sink.connection k WHERE k.name = test_connection.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'connection "%" does not exist', test_connection.name
			USING ERRCODE = 'undefined_object';
	END IF;
	SELECT p.ok, p.detail INTO ok, detail
	FROM kusto_sink._probe_connection(c.cluster_url, c.auth, c.tenant_id, c.app_id, c.app_key, c.token,
		c.options ->> 'authority_host', c.options ->> 'ca_file', c.options ->> 'proxy',
		c.managed_identity_id, c.options ->> 'managed_identity_endpoint', c.federated_token_file,
		c.certificate_file, c.private_key_file, c.options ->> 'jwt_algorithm') p;
END
$$;
REVOKE ALL ON FUNCTION kusto_sink.test_connection(text) FROM PUBLIC;

-------------------------------------------------------------------------------
-- Latest state: KQL that turns a sink's change log in Kusto into the source
-- table's current rows (README, "Latest state").
-------------------------------------------------------------------------------

-- The name of a sink's metadata column (options metadata, <key>_column), or
-- NULL when the sink leaves it out.
CREATE FUNCTION kusto_sink._metadata_column(options jsonb, key text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE
		WHEN lower(coalesce(options ->> 'metadata', 'all')) = 'all'
			 OR key = ANY (string_to_array(replace(lower(options ->> 'metadata'), ' ', ''), ','))
		THEN coalesce(options ->> (key || '_column'), '_' || key)
	END
$$;

-- A KQL string literal: 'text'
CREATE FUNCTION kusto_sink._kql_string(text text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT '''' || replace(replace(text, '\', '\\'), '''', '\''') || '''' $$;

-- A KQL name: ['name']
CREATE FUNCTION kusto_sink._kql_name(name text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT '[''' || replace(replace(name, '\', '\\'), '''', '\''') || ''']' $$;

-- What the latest-state KQL of a source table of a sink needs: the Kusto
-- table, the key columns, the metadata column names, whether the Kusto
-- table is shared with other source tables.
CREATE FUNCTION kusto_sink._latest_state_parts(
	sink text, source_table regclass,
	OUT kusto_table text, OUT keys text[], OUT op_column text, OUT lsn_column text,
	OUT schema_column text, OUT table_column text, OUT filter text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s kusto_sink.sink;
	qualified text;
	shared boolean;
	partitioned boolean;
BEGIN
	s := kusto_sink._sink(sink);
	SELECT t.qualified INTO qualified FROM kusto_sink._source_tables(s) t WHERE t.rel = source_table;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'table % is not a source of sink "%"', source_table, sink
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	kusto_table := coalesce(s.options -> 'tables' ->> qualified, s.kusto_table);
	SELECT array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum)) INTO keys
	  FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[])
	 WHERE i.indrelid = source_table AND i.indisprimary;
	IF keys IS NULL THEN
		RAISE EXCEPTION 'table % has no primary key', source_table
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'The latest state of a row is found by its key: add a primary key to the table.';
	END IF;
	op_column := kusto_sink._metadata_column(s.options, 'op');
	lsn_column := kusto_sink._metadata_column(s.options, 'lsn');
	IF op_column IS NULL OR lsn_column IS NULL THEN
		RAISE EXCEPTION 'the latest state needs the metadata columns op and lsn, which sink "%" leaves out', sink
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Add them to the sink option "metadata" with kusto_sink.alter_sink().';
	END IF;
	schema_column := kusto_sink._metadata_column(s.options, 'schema');
	table_column := kusto_sink._metadata_column(s.options, 'table');
	-- another source table goes to the same Kusto table: tell them apart
	shared := s.publication IS NOT NULL OR EXISTS (
		SELECT FROM kusto_sink._sources_of(s, kusto_table) o WHERE o.rel <> source_table);
	-- its records carry their partition's name, and a TRUNCATE or resync of
	-- one partition is about that partition's rows alone
	partitioned := (SELECT c.relkind = 'p' FROM pg_class c WHERE c.oid = source_table);
	IF (shared OR partitioned) AND (schema_column IS NULL OR table_column IS NULL) THEN
		IF shared THEN
			RAISE EXCEPTION 'Kusto table "%" holds more than one source table, and sink "%" leaves out the metadata columns schema and table', kusto_table, sink
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Add them to the sink option "metadata", or give the table its own Kusto table in option "tables".';
		END IF;
		RAISE EXCEPTION 'table % is partitioned, and sink "%" leaves out the metadata columns schema and table', source_table, sink
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Add them to the sink option "metadata": they tell a TRUNCATE or resync of one partition from one of the others.';
	END IF;
	IF shared AND partitioned THEN
		RAISE EXCEPTION 'partitioned table % shares Kusto table "%" with other source tables', source_table, kusto_table
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'Its records carry the names of its partitions, which can change.',
				  HINT = 'Give it its own Kusto table in option "tables".';
	END IF;
	IF shared THEN
		filter := format('| where %s == %L and %s == %L', kusto_sink._kql_name(schema_column),
						 (SELECT nspname FROM pg_namespace WHERE oid = (SELECT relnamespace FROM pg_class WHERE oid = source_table)),
						 kusto_sink._kql_name(table_column), (SELECT relname FROM pg_class WHERE oid = source_table));
	END IF;
END
$$;
REVOKE ALL ON FUNCTION kusto_sink._latest_state_parts(text, regclass) FROM PUBLIC;

-- The Kusto command that creates a materialized view with, per primary key,
-- the newest change (arg_max over the change LSN, the row's version).
CREATE FUNCTION kusto_sink.latest_state_kql(sink text, source_table regclass, view_name text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p record;
BEGIN
	p := kusto_sink._latest_state_parts(sink, source_table);
	RETURN format(E'.create-or-alter materialized-view with (backfill=true) %s on table %s\n{\n    %s\n    %s| summarize arg_max(%s, *) by %s\n}',
				  kusto_sink._kql_name(coalesce(view_name, p.kusto_table || 'Latest')),
				  kusto_sink._kql_name(p.kusto_table), kusto_sink._kql_name(p.kusto_table),
				  coalesce(p.filter || E'\n    ', ''),
				  kusto_sink._kql_name(p.lsn_column),
				  (SELECT string_agg(kusto_sink._kql_name(k), ', ') FROM unnest(p.keys) k));
END
$$;

-- The query over that view that gives the current rows: deleted keys left
-- out, and rows older than their table's (their partition's) cutoff: its
-- last TRUNCATE, or the start of its last resync (a snapshot_done record:
-- every row there was then was sent again), whichever came last.  Without
-- the metadata columns schema and table, one cutoff for the Kusto table.
CREATE FUNCTION kusto_sink.latest_state_query(sink text, source_table regclass, view_name text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p record;
	op text;
	lsn text;
	cutoff text;
	cutoffs text;
	rows text;
	view text;
	keys text;
BEGIN
	p := kusto_sink._latest_state_parts(sink, source_table);
	op := kusto_sink._kql_name(p.op_column);
	lsn := kusto_sink._kql_name(p.lsn_column);
	cutoff := format('max(iff(%1$s == ''truncate'', %2$s + 1, %2$s))', op, lsn);
	cutoffs := format('%s | where %s == ''truncate'' or %s == ''snapshot_done''',
					  kusto_sink._kql_name(p.kusto_table), op, op);
	rows := format('%s != ''delete'' and %s != ''truncate'' and %s != ''snapshot_done''', op, op, op);
	view := kusto_sink._kql_name(coalesce(view_name, p.kusto_table || 'Latest'));
	IF p.schema_column IS NULL OR p.table_column IS NULL THEN
		RETURN format(E'let cutoff = toscalar(%s | summarize %s);\n%s\n| where %s and (isnull(cutoff) or %s >= cutoff)',
					  cutoffs, cutoff, view, rows, lsn);
	END IF;
	keys := kusto_sink._kql_name(p.schema_column) || ', ' || kusto_sink._kql_name(p.table_column);
	RETURN format(E'let cutoffs = %s | summarize kusto_sink_cutoff_ = %s by %s;\n%s\n| lookup cutoffs on %s\n' ||
				  E'| where %s and (isnull(kusto_sink_cutoff_) or %s >= kusto_sink_cutoff_)\n| project-away kusto_sink_cutoff_',
				  cutoffs, cutoff, keys, view, keys, rows, lsn);
END
$$;
REVOKE ALL ON FUNCTION kusto_sink.latest_state_kql(text, regclass, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION kusto_sink.latest_state_query(text, regclass, text) FROM PUBLIC;

-------------------------------------------------------------------------------
-- Kusto table management (sink option create_table): what the worker runs
-- in Kusto before it decodes (README, "Kusto tables").
-------------------------------------------------------------------------------

-- The source tables of a sink that go to a Kusto table, in the sink's order.
CREATE FUNCTION kusto_sink._sources_of(s kusto_sink.sink, kusto_table text)
RETURNS TABLE (rel regclass, ord bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT t.rel, t.ord FROM kusto_sink._source_tables(s) t
	 WHERE coalesce(s.options -> 'tables' ->> t.qualified, s.kusto_table) = kusto_table
$$;
REVOKE ALL ON FUNCTION kusto_sink._sources_of(kusto_sink.sink, text) FROM PUBLIC;

-- The user columns of the source tables that go to a Kusto table, typed by
-- kusto_type(), with their table and position (table order, then column order).
CREATE FUNCTION kusto_sink._source_columns(s kusto_sink.sink, kusto_table text)
RETURNS TABLE (name text, type text, rel regclass, pos bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT a.attname::text, kusto_sink.kusto_type(a.atttypid::regtype), src.rel, src.ord * 100000 + a.attnum
	  FROM kusto_sink._sources_of(s, kusto_table) src
	  JOIN pg_attribute a ON a.attrelid = src.rel AND a.attnum > 0 AND NOT a.attisdropped
$$;
REVOKE ALL ON FUNCTION kusto_sink._source_columns(kusto_sink.sink, text) FROM PUBLIC;

-- The columns a Kusto table of a sink needs: the source tables' columns
-- (kusto_type), then the sink's metadata columns, as the records carry them.
CREATE FUNCTION kusto_sink._kusto_columns(sink text, kusto_table text)
RETURNS TABLE (name text, type text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s kusto_sink.sink;
	clash record;
BEGIN
	s := kusto_sink._sink(sink);
	SELECT c1.name, c1.type AS t1, c1.rel AS r1, c2.type AS t2, c2.rel AS r2 INTO clash
	  FROM kusto_sink._source_columns(s, kusto_table) c1
	  JOIN kusto_sink._source_columns(s, kusto_table) c2 ON c1.name = c2.name AND c1.type <> c2.type AND c1.pos < c2.pos
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'column "%" is % in % and % in %, which both go to Kusto table "%"',
			clash.name, clash.t1, clash.r1, clash.t2, clash.r2, kusto_table
			USING ERRCODE = 'datatype_mismatch',
				  HINT = 'Give one of the tables its own Kusto table in the sink option "tables".';
	END IF;
	RETURN QUERY
		SELECT c.name, c.type
		  FROM (SELECT DISTINCT ON (k.name) k.name, k.type, k.pos
				  FROM kusto_sink._source_columns(s, kusto_table) k ORDER BY k.name, k.pos) c
		 ORDER BY c.pos;
	RETURN QUERY
		SELECT m.col, m.type FROM (VALUES (1, 'op', 'string'), (2, 'lsn', 'long'), (3, 'commit_lsn', 'long'),
			(4, 'commit_time', 'datetime'), (5, 'xid', 'long'), (6, 'schema', 'string'), (7, 'table', 'string'),
			(8, 'unchanged_toast', 'dynamic')) v(i, key, type)
		CROSS JOIN LATERAL (SELECT kusto_sink._metadata_column(s.options, v.key) AS col, v.type) m
		 WHERE m.col IS NOT NULL ORDER BY v.i;
END
$$;
REVOKE ALL ON FUNCTION kusto_sink._kusto_columns(text, text) FROM PUBLIC;

-- The Kusto tables a sink writes to.
CREATE FUNCTION kusto_sink._kusto_tables(sink text)
RETURNS SETOF text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT DISTINCT coalesce(s.options -> 'tables' ->> t.qualified, s.kusto_table)
	  FROM kusto_sink.sink s CROSS JOIN LATERAL kusto_sink._source_tables(s) t
	 WHERE s.name = sink
$$;
REVOKE ALL ON FUNCTION kusto_sink._kusto_tables(text) FROM PUBLIC;

-- The Kusto commands that make a Kusto table ready for a sink, given the
-- table's current schema (.show table T schema as json: {"OrderedColumns":
-- [{"Name", "CslType"}]}, or NULL when it does not exist): create it, or add
-- the missing columns; the streaming ingestion policy when the sink streams.
-- A column of another type is an error that lists every difference.  The
-- ingestion mappings are the worker's: one per record layout (layouts.c).
CREATE FUNCTION kusto_sink._kusto_table_commands(sink text, kusto_table text, kusto_schema jsonb)
RETURNS SETOF text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s kusto_sink.sink;
	want record;
	have jsonb;
	diffs text[] := '{}';
	missing text[] := '{}';
	cols text[] := '{}';
	method text;
	t text := kusto_sink._kql_name(kusto_table);
BEGIN
	SELECT * INTO s FROM kusto_sink.sink k WHERE k.name = _kusto_table_commands.sink;
	method := coalesce(s.options ->> 'ingestion_method', current_setting('kusto_sink.ingestion_method'));
	IF NOT EXISTS (SELECT FROM kusto_sink._sources_of(s, kusto_table)) THEN
		RAISE EXCEPTION 'sink "%" has no source table for Kusto table "%"', sink, kusto_table
			USING ERRCODE = 'undefined_table',
				  HINT = 'Only the Kusto tables the sink writes to are created or checked.';
	END IF;
	-- each layout has its own ordinal mapping, unless the sink names one for all
	IF lower(coalesce(s.options ->> 'format', 'json')) = 'csv' AND s.options ? 'ingestion_mapping_ref'
	   AND (SELECT count(*) FROM kusto_sink._sources_of(s, kusto_table)) > 1 THEN
		RAISE EXCEPTION 'Kusto table "%" gets CSV records of more than one source table through one mapping', kusto_table
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'CSV maps fields by position, which differs between tables: leave out ingestion_mapping_ref (create_table makes a mapping per table), use format json, or give each table its own Kusto table.';
	END IF;
	FOR want IN SELECT * FROM kusto_sink._kusto_columns(sink, kusto_table) LOOP
		cols := cols || format('%s:%s', kusto_sink._kql_name(want.name), want.type);
		IF kusto_schema IS NOT NULL THEN
			have := NULL;
			SELECT c INTO have FROM jsonb_array_elements(kusto_schema -> 'OrderedColumns') c
			 WHERE c ->> 'Name' = want.name;
			IF have IS NULL THEN
				missing := missing || format('%s:%s', kusto_sink._kql_name(want.name), want.type);
			ELSIF have ->> 'CslType' <> want.type THEN
				diffs := diffs || format('column "%s" is %s in Kusto, but the records carry %s', want.name, have ->> 'CslType', want.type);
			END IF;
		END IF;
	END LOOP;
	IF cardinality(diffs) > 0 THEN
		RAISE EXCEPTION 'Kusto table "%" does not fit sink "%": %', kusto_table, sink, array_to_string(diffs, '; ')
			USING ERRCODE = 'datatype_mismatch',
				  HINT = 'Change those columns in Kusto (.alter column), or map the source table to another Kusto table.';
	END IF;
	IF kusto_schema IS NULL THEN
		RETURN NEXT format('.create table %s (%s)', t, array_to_string(cols, ', '));
	ELSIF cardinality(missing) > 0 THEN
		RETURN NEXT format('.alter-merge table %s (%s)', t, array_to_string(missing, ', '));
	END IF;
	IF method IN ('streaming', 'managed') THEN
		RETURN NEXT format('.alter table %s policy streamingingestion enable', t);
	END IF;
END
$$;
REVOKE ALL ON FUNCTION kusto_sink._kusto_table_commands(text, text, jsonb) FROM PUBLIC;
