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
END
$$;

CREATE FUNCTION kusto_sink.drop_connection(name text, if_exists boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
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
