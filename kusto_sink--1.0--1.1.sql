/* kusto_sink--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION kusto_sink UPDATE TO '1.1'" to load this file. \quit

-- Version 1.0 is released and frozen; every change to the catalog and the
-- SQL functions of release 1.1 is here.  A fresh CREATE EXTENSION runs
-- kusto_sink--1.0.sql and then this script.

-------------------------------------------------------------------------------
-- [api] the SQL API: callers, ownership, validation in C
-------------------------------------------------------------------------------

-------------------------------------------------------------------------------
-- [access] table privileges and sources that can never work
-------------------------------------------------------------------------------

-------------------------------------------------------------------------------
-- [secrets] secrets that never appear in a statement
-------------------------------------------------------------------------------

-- TEMP (h4): lead merges.  The 1.0 validator plus the connection options
-- app_key_file and token_file (the secret read from a server file, so that it
-- never appears in a statement): with app_key_file, auth application needs
-- no app_key; with token_file, auth token needs no token.  The lead's C
-- validator and file-path privilege checks replace this.
CREATE OR REPLACE FUNCTION kusto_sink._check_connection(c kusto_sink.connection)
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
		'request_timeout_ms', 'managed_identity_endpoint', 'jwt_algorithm', 'ingest_url',
		'app_key_file', 'token_file'];
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
			-- the secret may come from a server file instead
			IF c.options ? 'app_key_file' THEN
				required := ARRAY['tenant_id', 'app_id'];
			END IF;
		WHEN 'certificate' THEN required := ARRAY['tenant_id', 'app_id', 'certificate_file', 'private_key_file'];
			allowed := required;
		WHEN 'managed_identity' THEN required := ARRAY[]::text[];
			allowed := ARRAY['managed_identity_id'];
		WHEN 'workload_identity' THEN required := ARRAY[]::text[];
			allowed := ARRAY['tenant_id', 'app_id', 'federated_token_file'];
		WHEN 'token' THEN required := ARRAY['token'];
			allowed := required;
			IF c.options ? 'token_file' THEN
				required := ARRAY[]::text[];
			END IF;
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
					  HINT = CASE c.auth
							 WHEN 'application' THEN format('Pass %s, or the connection option app_key_file instead of app_key.', array_to_string(required, ', '))
							 WHEN 'token' THEN 'Pass token, or the connection option token_file.'
							 ELSE format('Pass %s.', array_to_string(required, ', ')) END;
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
	IF c.options ? 'app_key_file' AND c.auth <> 'application' THEN
		RAISE EXCEPTION 'connection option "app_key_file" does not apply to auth method "%"', c.auth
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF c.options ? 'token_file' AND c.auth <> 'token' THEN
		RAISE EXCEPTION 'connection option "token_file" does not apply to auth method "%"', c.auth
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF (c.options ? 'app_key_file' AND c.app_key IS NOT NULL) OR (c.options ? 'token_file' AND c.token IS NOT NULL) THEN
		RAISE EXCEPTION 'a secret and a file holding it cannot both be given'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass app_key or the option app_key_file (token or token_file), not both.';
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
		ELSIF key IN ('ca_file', 'app_key_file', 'token_file') AND left(c.options ->> key, 1) <> '/' THEN
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

-- test_connection passes app_key_file and token_file to the probe (the C
-- function reads them when it gets 17 arguments).
CREATE FUNCTION kusto_sink._probe_connection(
	cluster_url text, auth text, tenant_id text, app_id text, app_key text, token text,
	authority_host text, ca_file text, proxy text,
	managed_identity_id text, managed_identity_endpoint text, federated_token_file text,
	certificate_file text, private_key_file text, jwt_algorithm text,
	app_key_file text, token_file text,
	OUT ok boolean, OUT detail text)
AS 'MODULE_PATHNAME', 'kusto_sink_probe_connection'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION kusto_sink._probe_connection(text, text, text, text, text, text, text, text, text, text, text, text, text, text, text, text, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION kusto_sink.test_connection(name text, OUT ok boolean, OUT detail text)
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
		c.certificate_file, c.private_key_file, c.options ->> 'jwt_algorithm',
		c.options ->> 'app_key_file', c.options ->> 'token_file') p;
END
$$;
REVOKE ALL ON FUNCTION kusto_sink.test_connection(text) FROM PUBLIC;

DROP FUNCTION kusto_sink._probe_connection(text, text, text, text, text, text, text, text, text, text, text, text, text, text, text);

-------------------------------------------------------------------------------
-- [guard] dropping the extension while sinks exist
-------------------------------------------------------------------------------

-- Nothing in SQL: the guard is a ProcessUtility_hook of the library
-- (src/api/drop_guard.c), which refuses DROP EXTENSION kusto_sink, DROP
-- SCHEMA kusto_sink and DROP DATABASE of a database with kusto_sink slots
-- while sinks exist.

-------------------------------------------------------------------------------
-- [worker] what the worker calls
-------------------------------------------------------------------------------

-- the workers of every sink restart on the new catalog
SELECT kusto_sink._notify_launcher();
