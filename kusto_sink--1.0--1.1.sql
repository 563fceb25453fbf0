/* kusto_sink--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION kusto_sink UPDATE TO '1.1'" to load this file. \quit

-- Version 1.0 is released and frozen; every change to the catalog and the
-- SQL functions of release 1.1 is here.  A fresh CREATE EXTENSION runs
-- kusto_sink--1.0.sql and then this script.

-------------------------------------------------------------------------------
-- [api] the SQL API: callers, ownership, validation in C
-------------------------------------------------------------------------------

-- The option validators are the C code's (src/worker/connection_options.c,
-- sink_options.c), which the sink worker runs too.
CREATE OR REPLACE FUNCTION kusto_sink._check_connection(c kusto_sink.connection)
RETURNS kusto_sink.connection
AS 'MODULE_PATHNAME', 'kusto_sink_check_connection'
LANGUAGE C IMMUTABLE;

-- require_secret false: a connection whose secret was dropped (a changed
-- URL, a restore) passes
CREATE FUNCTION kusto_sink._check_connection(c kusto_sink.connection, require_secret boolean)
RETURNS kusto_sink.connection
AS 'MODULE_PATHNAME', 'kusto_sink_check_connection'
LANGUAGE C IMMUTABLE;
REVOKE ALL ON FUNCTION kusto_sink._check_connection(kusto_sink.connection, boolean) FROM PUBLIC;

CREATE FUNCTION kusto_sink._connection_has_secret(c kusto_sink.connection)
RETURNS boolean
AS 'MODULE_PATHNAME', 'kusto_sink_connection_has_secret'
LANGUAGE C IMMUTABLE;

CREATE FUNCTION kusto_sink._connection_missing_secret(c kusto_sink.connection)
RETURNS text
AS 'MODULE_PATHNAME', 'kusto_sink_connection_missing_secret'
LANGUAGE C IMMUTABLE;
REVOKE ALL ON FUNCTION kusto_sink._connection_missing_secret(kusto_sink.connection) FROM PUBLIC;

CREATE OR REPLACE FUNCTION kusto_sink._check_sink_options(options jsonb)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'kusto_sink_check_sink_options'
LANGUAGE C STABLE;

CREATE OR REPLACE FUNCTION kusto_sink._check_sink_combination(options jsonb)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'kusto_sink_check_sink_combination'
LANGUAGE C STABLE;

CREATE FUNCTION kusto_sink._check_kusto_name(what text, name text)
RETURNS void
AS 'MODULE_PATHNAME', 'kusto_sink_check_kusto_name'
LANGUAGE C STRICT IMMUTABLE;
REVOKE ALL ON FUNCTION kusto_sink._check_kusto_name(text, text) FROM PUBLIC;

CREATE FUNCTION kusto_sink._check_metadata_columns(options jsonb, tables regclass[])
RETURNS void
AS 'MODULE_PATHNAME', 'kusto_sink_check_metadata_columns'
LANGUAGE C STRICT STABLE;
REVOKE ALL ON FUNCTION kusto_sink._check_metadata_columns(jsonb, regclass[]) FROM PUBLIC;

-- KQL quoting: the C code's (src/decoder/escape.c), which escapes control
-- characters too
CREATE OR REPLACE FUNCTION kusto_sink._kql_string(text text)
RETURNS text
AS 'MODULE_PATHNAME', 'kusto_sink_kql_string'
LANGUAGE C IMMUTABLE STRICT;

CREATE OR REPLACE FUNCTION kusto_sink._kql_name(name text)
RETURNS text
AS 'MODULE_PATHNAME', 'kusto_sink_kql_name'
LANGUAGE C IMMUTABLE STRICT;

-- the latest state's filter quotes with KQL's string literals, not SQL's
-- (%L made 'o''k' two joined KQL literals, and E'...' a syntax error)
CREATE OR REPLACE FUNCTION kusto_sink._latest_state_parts(
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
		filter := format('| where %s == %s and %s == %s', kusto_sink._kql_name(schema_column),
						 kusto_sink._kql_string((SELECT nspname FROM pg_namespace WHERE oid = (SELECT relnamespace FROM pg_class WHERE oid = source_table))),
						 kusto_sink._kql_name(table_column),
						 kusto_sink._kql_string((SELECT relname FROM pg_class WHERE oid = source_table)::text));
	END IF;
END
$$;

-- What the server must offer every sink, and the metadata columns of a
-- sink's options: the C code's (src/api/prerequisites.c), no copy in SQL.
CREATE OR REPLACE FUNCTION kusto_sink._check_prerequisites()
RETURNS void
AS 'MODULE_PATHNAME', 'kusto_sink_check_prerequisites'
LANGUAGE C STABLE;

CREATE FUNCTION kusto_sink._metadata_columns(options jsonb, OUT key text, OUT name text, OUT type text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'kusto_sink_metadata_columns'
LANGUAGE C STRICT IMMUTABLE;

CREATE OR REPLACE FUNCTION kusto_sink._metadata_column(options jsonb, key text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT m.name FROM kusto_sink._metadata_columns(options) m WHERE m.key OPERATOR(pg_catalog.=) _metadata_column.key $$;

CREATE OR REPLACE FUNCTION kusto_sink._kusto_columns(sink text, kusto_table text)
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
		SELECT m.name, m.type FROM kusto_sink._metadata_columns(s.options) m;
END
$$;

-- Non-superusers act only on the connections and sinks they own, or whose
-- owner role they have the privileges of, as for tables.
CREATE FUNCTION kusto_sink._check_owner(caller regrole, kind text, name text, owner regrole)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT pg_catalog.pg_has_role(caller, owner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of % "%"', kind, name
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = format('It belongs to role %s.', owner),
				  HINT = 'Only its owner, a member of the owner role, or a superuser may use or change it.';
	END IF;
END
$$;
REVOKE ALL ON FUNCTION kusto_sink._check_owner(regrole, text, text, regrole) FROM PUBLIC;

-- Naming files on the database server, and using the server's own Azure
-- identity (managed and workload identity), is for superusers and members
-- of pg_read_server_files only, as COPY FROM a file is.  Checked for what a
-- call sets anew (old is NULL for a new connection).  Which methods and
-- which arguments and options those are is the C code's one table (the
-- ingest core's kusto_auth_methods; src/worker/connection_options.c).
CREATE FUNCTION kusto_sink._check_server_files(caller regrole, c kusto_sink.connection, old kusto_sink.connection)
RETURNS void
AS 'MODULE_PATHNAME', 'kusto_sink_check_server_files'
LANGUAGE C STABLE;
REVOKE ALL ON FUNCTION kusto_sink._check_server_files(regrole, kusto_sink.connection, kusto_sink.connection) FROM PUBLIC;

-- The public functions take their caller (src/api/caller_gate.c) and call
-- kusto_sink.impl_<name>(caller, ...) as a superuser; nobody else may run
-- the impl_ functions, so the caller they get is the real one.

-- Changes the arguments that are not NULL; a new auth method starts from its
-- own arguments.  A changed endpoint (cluster_url, authority_host,
-- ingest_url, managed_identity_endpoint, proxy) drops the stored secret and
-- credential files unless the same call passes them again: a role allowed
-- to change a connection must not send its secret to a host of its choice.
-- Which arguments and options those are is the C code's one table
-- (_altered_connection: ks_alter_connection_args in connection_options.c).
CREATE FUNCTION kusto_sink._altered_connection(old kusto_sink.connection, given kusto_sink.connection)
RETURNS kusto_sink.connection
AS 'MODULE_PATHNAME', 'kusto_sink_altered_connection'
LANGUAGE C STABLE;
REVOKE ALL ON FUNCTION kusto_sink._altered_connection(kusto_sink.connection, kusto_sink.connection) FROM PUBLIC;

CREATE FUNCTION kusto_sink.impl_drop_connection(caller regrole, name text, if_exists boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c kusto_sink.connection;
	user_sink text;
BEGIN
	SELECT * INTO c FROM kusto_sink.connection k WHERE k.name = impl_drop_connection.name FOR UPDATE;
	IF NOT FOUND THEN
		IF NOT if_exists THEN
			RAISE EXCEPTION 'connection "%" does not exist', impl_drop_connection.name
				USING ERRCODE = 'undefined_object';
		END IF;
		RETURN;
	END IF;
	PERFORM kusto_sink._check_owner(caller, 'connection', c.name, c.owner);
	SELECT s.name INTO user_sink FROM kusto_sink.sink s WHERE s.connection = c.name LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'connection "%" is used by sink "%"', c.name, user_sink
			USING ERRCODE = 'dependent_objects_still_exist',
				  HINT = 'Drop the sinks that use it first.';
	END IF;
	DELETE FROM kusto_sink.connection k WHERE k.name = c.name;
END
$$;

-- What a sink's options say about its source tables: each key of option
-- "tables" is one of them (for a publication, a schema-qualified name: the
-- table may join it later), and no column of theirs has the name of an
-- enabled metadata column.
CREATE FUNCTION kusto_sink._check_sink_tables(s kusto_sink.sink)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	key text;
	sources text[];
BEGIN
	sources := ARRAY(SELECT t.qualified FROM kusto_sink._source_tables(s) t);
	FOR key IN SELECT jsonb_object_keys(coalesce(s.options -> 'tables', '{}')) LOOP
		-- a publication's table may join it later (or be created later): a
		-- schema-qualified name
		IF s.publication IS NOT NULL AND cardinality(parse_ident(key, false)) IS DISTINCT FROM 2 THEN
			RAISE EXCEPTION 'sink option "tables" names "%", which is not a schema-qualified table name', key
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Name source tables as schema.table, as kusto_sink.sinks lists them.';
		ELSIF s.publication IS NULL AND NOT key = ANY (sources) THEN
			RAISE EXCEPTION 'sink option "tables" names "%", which is not a source table of sink "%"', key, s.name
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = CASE WHEN cardinality(sources) = 0 THEN 'The sink has no source table yet.'
							 ELSE format('Its source tables are: %s.', array_to_string(sources[1:20], ', ')) END;
		END IF;
	END LOOP;
	PERFORM kusto_sink._check_metadata_columns(s.options,
		ARRAY(SELECT t.rel FROM kusto_sink._source_tables(s) t));
END
$$;
REVOKE ALL ON FUNCTION kusto_sink._check_sink_tables(kusto_sink.sink) FROM PUBLIC;

CREATE FUNCTION kusto_sink.impl_create_sink(
	caller regrole, name text, connection text, source_tables regclass[], publication text,
	database text, kusto_table text, options jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s kusto_sink.sink;
	conn kusto_sink.connection;
	rel regclass;
	mapped jsonb;
BEGIN
	PERFORM kusto_sink._outside_transaction('kusto_sink.create_sink()');
	-- (the rule and the slot name: src/worker/sink_name.c)
	PERFORM kusto_sink._check_sink_name(name);
	PERFORM kusto_sink._check_prerequisites();
	SELECT * INTO conn FROM kusto_sink.connection c WHERE c.name = impl_create_sink.connection;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'connection "%" does not exist', connection
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create it with kusto_sink.create_connection().';
	END IF;
	-- a sink sends through a connection of its owner's
	PERFORM kusto_sink._check_owner(caller, 'connection', conn.name, conn.owner);
	IF database IS NULL OR database = '' THEN
		RAISE EXCEPTION 'the Kusto database must be given'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM kusto_sink._check_kusto_name('the Kusto database', database);
	IF kusto_table IS NOT NULL THEN
		PERFORM kusto_sink._check_kusto_name('kusto_table', kusto_table);
	END IF;
	IF EXISTS (SELECT FROM kusto_sink.sink k WHERE k.name = impl_create_sink.name) THEN
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
	s.slot_name := kusto_sink._slot_name(name);
	s.owner := caller;
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
		-- the owner must read all of every table in it now (tables that can
		-- never work are skipped by the worker, with a WARNING)
		PERFORM kusto_sink._check_source_table(c.oid, caller, true)
		  FROM pg_publication_tables t
		  JOIN pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) t.schemaname
		  JOIN pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid
		   AND c.relname OPERATOR(pg_catalog.=) t.tablename
		 WHERE t.pubname OPERATOR(pg_catalog.=) publication;
	ELSIF source_tables IS NULL OR cardinality(source_tables) = 0 THEN
		RAISE EXCEPTION 'the source must be given'
			USING ERRCODE = 'invalid_parameter_value';
	ELSE
		FOREACH rel IN ARRAY source_tables LOOP
			IF (SELECT relkind FROM pg_class WHERE oid = rel) NOT IN ('r', 'p') THEN
				RAISE EXCEPTION '"%" is not a table', rel
					USING ERRCODE = 'wrong_object_type';
			END IF;
			-- a table that can never work, or that the owner may not read all of
			PERFORM kusto_sink._check_source_table(rel, caller);
			IF s.kusto_table IS NULL AND NOT mapped ? rel::text THEN
				RAISE EXCEPTION 'no Kusto table for source table %', rel
					USING ERRCODE = 'invalid_parameter_value',
						  HINT = 'Pass kusto_table, or map the table in option "tables".';
			END IF;
		END LOOP;
	END IF;
	PERFORM kusto_sink._check_sink_tables(s);

	BEGIN
		-- a failover slot where the server has them; refused on a standby
		PERFORM kusto_sink._create_slot(s.slot_name);
	EXCEPTION
		WHEN duplicate_object THEN
			RAISE EXCEPTION 'replication slot "%" already exists', s.slot_name
				USING ERRCODE = 'duplicate_object',
					  HINT = 'A sink of that name was dropped without its slot, or the slot belongs to something else: drop the slot (pg_drop_replication_slot) if nothing uses it.';
		WHEN configuration_limit_exceeded THEN
			RAISE EXCEPTION 'no free replication slot for sink "%"', name
				USING ERRCODE = 'configuration_limit_exceeded',
					  HINT = 'Raise max_replication_slots (needs a restart) or drop unused slots.';
		-- (output_plugin_libraries: _check_prerequisites)
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

CREATE FUNCTION kusto_sink.impl_alter_sink(caller regrole, name text, options jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s kusto_sink.sink;
BEGIN
	SELECT * INTO s FROM kusto_sink.sink k WHERE k.name = impl_alter_sink.name FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'sink "%" does not exist', impl_alter_sink.name
			USING ERRCODE = 'undefined_object';
	END IF;
	PERFORM kusto_sink._check_owner(caller, 'sink', s.name, s.owner);
	-- an option set to null goes back to its default
	s.options := kusto_sink._check_sink_combination(jsonb_strip_nulls(
		s.options || kusto_sink._check_sink_options(coalesce(impl_alter_sink.options, '{}'))));
	PERFORM kusto_sink._check_sink_tables(s);
	UPDATE kusto_sink.sink k SET options = s.options, updated_at = now() WHERE k.name = s.name;
	PERFORM kusto_sink._notify_launcher();
END
$$;

-- A sink's catalog row for its owner (or a superuser), or an error.
CREATE FUNCTION kusto_sink._owned_sink(caller regrole, name text)
RETURNS kusto_sink.sink
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s kusto_sink.sink;
BEGIN
	s := kusto_sink._sink(name);
	PERFORM kusto_sink._check_owner(caller, 'sink', s.name, s.owner);
	RETURN s;
END
$$;
REVOKE ALL ON FUNCTION kusto_sink._owned_sink(regrole, text) FROM PUBLIC;

CREATE FUNCTION kusto_sink.impl_pause_sink(caller regrole, name text)
RETURNS void LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT kusto_sink._set_enabled((kusto_sink._owned_sink(caller, name)).name, false) $$;

CREATE FUNCTION kusto_sink.impl_resume_sink(caller regrole, name text)
RETURNS void LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT kusto_sink._set_enabled((kusto_sink._owned_sink(caller, name)).name, true) $$;

CREATE FUNCTION kusto_sink._flush_sink(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'kusto_sink_flush_sink'
LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION kusto_sink._flush_sink(text) FROM PUBLIC;

CREATE FUNCTION kusto_sink.impl_flush_sink(caller regrole, name text)
RETURNS void LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT kusto_sink._flush_sink((kusto_sink._owned_sink(caller, name)).name) $$;

CREATE FUNCTION kusto_sink.impl_drop_sink(caller regrole, name text, if_exists boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s kusto_sink.sink;
BEGIN
	PERFORM kusto_sink._outside_transaction('kusto_sink.drop_sink()');
	-- (not FOR UPDATE: the worker's inserts into the tables that reference the
	-- sink, which it may have to finish before it can stop, take KEY SHARE)
	SELECT * INTO s FROM kusto_sink.sink k WHERE k.name = impl_drop_sink.name FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		IF NOT if_exists THEN
			RAISE EXCEPTION 'sink "%" does not exist', impl_drop_sink.name
				USING ERRCODE = 'undefined_object';
		END IF;
		RETURN;
	END IF;
	PERFORM kusto_sink._check_owner(caller, 'sink', s.name, s.owner);
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

CREATE FUNCTION kusto_sink.impl_resnapshot_sink(caller regrole, name text, tables regclass[])
RETURNS int
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT kusto_sink._request_snapshot(kusto_sink._owned_sink(caller, name), tables) $$;

CREATE FUNCTION kusto_sink.impl_cancel_snapshot(caller regrole, name text, tables regclass[])
RETURNS int
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s kusto_sink.sink;
	targets oid[];
	n int;
BEGIN
	s := kusto_sink._owned_sink(caller, name);
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

CREATE FUNCTION kusto_sink.impl_retry_dead_letter(caller regrole, sink text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n bigint;
BEGIN
	PERFORM kusto_sink._owned_sink(caller, sink);
	UPDATE kusto_sink.dead_letter d SET retry_requested = true WHERE d.sink = impl_retry_dead_letter.sink;
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM kusto_sink._notify_launcher();
	RETURN n;
END
$$;

-- latest_state_kql and latest_state_query, for the owner.  latest_state_kql:
-- a command Kusto accepts.  Backfill needs the async form
-- of .create (dataexplorer-docs, materialized-view-create.md: "When you're
-- using this option, the create command must be async"), and .create-or-alter
-- refuses backfill for a view that exists; ifnotexists leaves an existing
-- view as it is (change one with .alter materialized-view, see the README).
-- An arg_max(lsn, *) view is disabled when its source table's schema changes
-- (create_table adds columns) unless autoUpdateSchema = true.
CREATE FUNCTION kusto_sink.impl_latest_state_kql(caller regrole, sink text, source_table regclass, view_name text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p record;
BEGIN
	PERFORM kusto_sink._owned_sink(caller, sink);
	p := kusto_sink._latest_state_parts(sink, source_table);
	RETURN format(E'.create async ifnotexists materialized-view with (backfill=true, autoUpdateSchema=true) %s on table %s\n{\n    %s\n    %s| summarize arg_max(%s, *) by %s\n}',
				  kusto_sink._kql_name(coalesce(view_name, p.kusto_table || 'Latest')),
				  kusto_sink._kql_name(p.kusto_table), kusto_sink._kql_name(p.kusto_table),
				  coalesce(p.filter || E'\n    ', ''),
				  kusto_sink._kql_name(p.lsn_column),
				  (SELECT string_agg(kusto_sink._kql_name(k), ', ') FROM unnest(p.keys) k));
END
$$;

CREATE FUNCTION kusto_sink.impl_latest_state_query(caller regrole, sink text, source_table regclass, view_name text)
RETURNS text
LANGUAGE plpgsql STABLE
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
	PERFORM kusto_sink._owned_sink(caller, sink);
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

DO $$
DECLARE
	f regprocedure;
BEGIN
	FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
			  WHERE p.pronamespace OPERATOR(pg_catalog.=) 'kusto_sink'::regnamespace
				AND p.proname OPERATOR(pg_catalog.~~) 'impl\_%' LOOP
		EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
	END LOOP;
END
$$;

-- create_sink resolves the source with the caller's search_path and
-- privileges (it runs as the caller), every operator written out
CREATE OR REPLACE FUNCTION kusto_sink.create_sink(
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
	IF source IS NULL OR pg_catalog.btrim(source) OPERATOR(pg_catalog.=) '' THEN
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

-- The public functions: the gate, SECURITY INVOKER.  CREATE OR REPLACE
-- keeps their privileges (none for PUBLIC; what a superuser granted).
CREATE OR REPLACE FUNCTION kusto_sink.create_connection(
	name text, cluster_url text, auth text DEFAULT 'application', tenant_id text DEFAULT NULL,
	app_id text DEFAULT NULL, app_key text DEFAULT NULL, certificate_file text DEFAULT NULL,
	private_key_file text DEFAULT NULL, managed_identity_id text DEFAULT NULL,
	federated_token_file text DEFAULT NULL, token text DEFAULT NULL, options jsonb DEFAULT '{}')
RETURNS void AS 'MODULE_PATHNAME', 'kusto_sink_gate' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION kusto_sink.alter_connection(
	name text, cluster_url text DEFAULT NULL, auth text DEFAULT NULL, tenant_id text DEFAULT NULL,
	app_id text DEFAULT NULL, app_key text DEFAULT NULL, certificate_file text DEFAULT NULL,
	private_key_file text DEFAULT NULL, managed_identity_id text DEFAULT NULL,
	federated_token_file text DEFAULT NULL, token text DEFAULT NULL, options jsonb DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'kusto_sink_gate' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION kusto_sink.drop_connection(name text, if_exists boolean DEFAULT false)
RETURNS void AS 'MODULE_PATHNAME', 'kusto_sink_gate' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION kusto_sink.test_connection(name text, OUT ok boolean, OUT detail text)
AS 'MODULE_PATHNAME', 'kusto_sink_gate' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION kusto_sink._create_sink(
	name text, connection text, source_tables regclass[], publication text, database text,
	kusto_table text, options jsonb)
RETURNS void AS 'MODULE_PATHNAME', 'kusto_sink_gate' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION kusto_sink.alter_sink(name text, options jsonb)
RETURNS void AS 'MODULE_PATHNAME', 'kusto_sink_gate' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION kusto_sink.pause_sink(name text)
RETURNS void AS 'MODULE_PATHNAME', 'kusto_sink_gate' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION kusto_sink.resume_sink(name text)
RETURNS void AS 'MODULE_PATHNAME', 'kusto_sink_gate' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION kusto_sink.flush_sink(name text)
RETURNS void AS 'MODULE_PATHNAME', 'kusto_sink_gate' LANGUAGE C STRICT VOLATILE;

CREATE OR REPLACE FUNCTION kusto_sink.drop_sink(name text, if_exists boolean DEFAULT false)
RETURNS void AS 'MODULE_PATHNAME', 'kusto_sink_gate' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION kusto_sink.resnapshot_sink(name text, tables regclass[] DEFAULT NULL)
RETURNS int AS 'MODULE_PATHNAME', 'kusto_sink_gate' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION kusto_sink.cancel_snapshot(name text, tables regclass[] DEFAULT NULL)
RETURNS int AS 'MODULE_PATHNAME', 'kusto_sink_gate' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION kusto_sink.retry_dead_letter(sink text)
RETURNS bigint AS 'MODULE_PATHNAME', 'kusto_sink_gate' LANGUAGE C VOLATILE;

CREATE OR REPLACE FUNCTION kusto_sink.latest_state_kql(sink text, source_table regclass, view_name text DEFAULT NULL)
RETURNS text AS 'MODULE_PATHNAME', 'kusto_sink_gate' LANGUAGE C STABLE;

CREATE OR REPLACE FUNCTION kusto_sink.latest_state_query(sink text, source_table regclass, view_name text DEFAULT NULL)
RETURNS text AS 'MODULE_PATHNAME', 'kusto_sink_gate' LANGUAGE C STABLE;

-- The views show a role the connections and sinks it owns (superusers see
-- all; the status also to members of pg_read_all_stats).
CREATE OR REPLACE VIEW kusto_sink.sinks AS
	SELECT name, connection, database, source_tables, publication, kusto_table, options,
		   enabled, slot_name, owner, created_at, updated_at
	FROM kusto_sink.sink s
	WHERE pg_catalog.pg_has_role(s.owner, 'USAGE');

-- every sink's name and last error: not for PUBLIC (and the C function
-- returns only the caller's sinks, unless it has pg_read_all_stats)
REVOKE ALL ON FUNCTION kusto_sink._status() FROM PUBLIC;

-------------------------------------------------------------------------------
-- [access] table privileges and sources that can never work
-------------------------------------------------------------------------------

-- Raises the error a sink worker stops on for a source table: one that can
-- never work (unlogged, temporary, a system catalog, the extension's own),
-- or one its owner may not read all of (SELECT, row-level security).  With
-- in_publication a table that can never work passes (the worker skips it).
CREATE FUNCTION kusto_sink._check_source_table(rel regclass, owner regrole,
	in_publication boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'kusto_sink_check_source_table'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION kusto_sink._check_source_table(regclass, regrole, boolean) FROM PUBLIC;

-- The source tables each running sink skips, and why (kusto_sink.status).
CREATE FUNCTION kusto_sink._skipped_tables(OUT name text, OUT skipped_tables text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'kusto_sink_skipped_tables'
LANGUAGE C STRICT VOLATILE;

-- (like _status, only the caller's sinks, or all with pg_read_all_stats)
REVOKE ALL ON FUNCTION kusto_sink._skipped_tables() FROM PUBLIC;

-------------------------------------------------------------------------------
-- [secrets] secrets that never appear in a statement
-------------------------------------------------------------------------------

-- test_connection (impl_test_connection) passes app_key_file and token_file
-- to the probe (the C function reads them when it gets 17 arguments, so the
-- 1.0 declaration still works with this library).
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

DROP FUNCTION kusto_sink._probe_connection(text, text, text, text, text, text, text, text, text, text, text, text, text, text, text);

-------------------------------------------------------------------------------
-- [guard] dropping the extension while sinks exist
-------------------------------------------------------------------------------

-- Nothing in SQL: the guard is a ProcessUtility_hook of the library
-- (src/api/drop_guard.c), which refuses DROP EXTENSION kusto_sink, DROP
-- SCHEMA kusto_sink and DROP DATABASE of a database with kusto_sink slots
-- while sinks exist.

-------------------------------------------------------------------------------
-- [reference] the names in the library's option tables
-------------------------------------------------------------------------------

-- Every sink option, connection option and auth method with its arguments,
-- from the C tables (src/api/option_names.c), so that docs/reference.md can
-- be checked against them (test/t/028_reference.pl).
CREATE FUNCTION kusto_sink._option_names(OUT kind text, OUT name text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'kusto_sink_option_names'
LANGUAGE C STRICT IMMUTABLE;
REVOKE ALL ON FUNCTION kusto_sink._option_names() FROM PUBLIC;

-------------------------------------------------------------------------------
-- [worker] what the worker calls
-------------------------------------------------------------------------------

-------------------------------------------------------------------------------
-- [one source] what C and SQL both know, once, in C
-------------------------------------------------------------------------------

-- The Kusto table commands: the worker's one generator
-- (src/worker/kusto_ddl.c), which reads the schema with jsonb, not a copy
-- in plpgsql (CREATE OR REPLACE keeps its privileges: none for PUBLIC).
CREATE OR REPLACE FUNCTION kusto_sink._kusto_table_commands(sink text, kusto_table text, kusto_schema jsonb)
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'kusto_sink_kusto_table_commands'
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;

-- A sink's name and its replication slot: one rule, the C code's
-- (src/worker/sink_name.c), which create_sink and _stop_worker use.
CREATE FUNCTION kusto_sink._check_sink_name(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'kusto_sink_check_sink_name'
LANGUAGE C IMMUTABLE;
REVOKE ALL ON FUNCTION kusto_sink._check_sink_name(text) FROM PUBLIC;

CREATE FUNCTION kusto_sink._slot_name(sink text)
RETURNS text
AS 'MODULE_PATHNAME', 'kusto_sink_slot_name'
LANGUAGE C STRICT IMMUTABLE;
REVOKE ALL ON FUNCTION kusto_sink._slot_name(text) FROM PUBLIC;

-------------------------------------------------------------------------------
-- [dump] dump and restore: the configuration is in a dump, secrets are not
-------------------------------------------------------------------------------

-- The secrets (app_key, token) of the connections, apart from the rest so
-- that pg_dump, which dumps the configuration tables below, never writes a
-- credential into a dump file.  Only the extension's functions read it (and
-- superusers).  A restored connection has no secret: kusto_sink.connections
-- and test_connection say so, and alter_connection() stores it again.
CREATE TABLE kusto_sink.connection_secret (
	connection text PRIMARY KEY
		REFERENCES kusto_sink.connection (name) ON DELETE CASCADE ON UPDATE CASCADE,
	app_key text,
	token text
);
REVOKE ALL ON kusto_sink.connection_secret FROM PUBLIC;

INSERT INTO kusto_sink.connection_secret (connection, app_key, token)
	SELECT c.name, c.app_key, c.token FROM kusto_sink.connection c
	 WHERE c.app_key IS NOT NULL OR c.token IS NOT NULL;
UPDATE kusto_sink.connection SET app_key = NULL, token = NULL
 WHERE app_key IS NOT NULL OR token IS NOT NULL;
-- (the columns stay for the row type the validators take, always NULL)
ALTER TABLE kusto_sink.connection ADD CONSTRAINT connection_secret_apart
	CHECK (app_key IS NULL AND token IS NULL);

-- A connection row with the given secret (as the validators want it).
CREATE FUNCTION kusto_sink._with_secret(c kusto_sink.connection, app_key text, token text)
RETURNS kusto_sink.connection
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	c.app_key := app_key;
	c.token := token;
	RETURN c;
END
$$;

-- A connection row with its stored secret.
CREATE FUNCTION kusto_sink._secret_of(c kusto_sink.connection)
RETURNS kusto_sink.connection
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT kusto_sink._with_secret(c, x.app_key, x.token)
	  FROM (SELECT) one
	  LEFT JOIN kusto_sink.connection_secret x ON x.connection OPERATOR(pg_catalog.=) c.name
$$;
REVOKE ALL ON FUNCTION kusto_sink._secret_of(kusto_sink.connection) FROM PUBLIC;

-- Stores a connection row's secret (none: deletes it).
CREATE FUNCTION kusto_sink._store_secret(c kusto_sink.connection)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF c.app_key IS NULL AND c.token IS NULL THEN
		DELETE FROM kusto_sink.connection_secret x WHERE x.connection = c.name;
	ELSE
		INSERT INTO kusto_sink.connection_secret AS x (connection, app_key, token)
			VALUES (c.name, c.app_key, c.token)
		ON CONFLICT (connection) DO UPDATE SET app_key = excluded.app_key, token = excluded.token;
	END IF;
END
$$;
REVOKE ALL ON FUNCTION kusto_sink._store_secret(kusto_sink.connection) FROM PUBLIC;

CREATE FUNCTION kusto_sink.impl_create_connection(
	caller regrole, name text, cluster_url text, auth text, tenant_id text, app_id text, app_key text,
	certificate_file text, private_key_file text, managed_identity_id text,
	federated_token_file text, token text, options jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c kusto_sink.connection;
BEGIN
	PERFORM kusto_sink._hide_statement('kusto_sink.create_connection');
	c := ROW(name, cluster_url, auth, tenant_id, app_id, app_key, certificate_file,
			 private_key_file, managed_identity_id, federated_token_file, token,
			 coalesce(options, '{}'), caller, now(), now());
	c := kusto_sink._check_connection(c, true);
	PERFORM kusto_sink._check_server_files(caller, c, NULL);
	BEGIN
		INSERT INTO kusto_sink.connection SELECT (kusto_sink._with_secret(c, NULL, NULL)).*;
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION 'connection "%" already exists', c.name
			USING ERRCODE = 'duplicate_object',
				  HINT = 'Use kusto_sink.alter_connection() to change it.';
	END;
	PERFORM kusto_sink._store_secret(c);
END
$$;

CREATE FUNCTION kusto_sink.impl_alter_connection(
	caller regrole, name text, cluster_url text, auth text, tenant_id text, app_id text, app_key text,
	certificate_file text, private_key_file text, managed_identity_id text,
	federated_token_file text, token text, options jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c kusto_sink.connection;
	old kusto_sink.connection;
BEGIN
	PERFORM kusto_sink._hide_statement('kusto_sink.alter_connection');
	SELECT * INTO c FROM kusto_sink.connection k WHERE k.name = impl_alter_connection.name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'connection "%" does not exist', impl_alter_connection.name
			USING ERRCODE = 'undefined_object';
	END IF;
	PERFORM kusto_sink._check_owner(caller, 'connection', c.name, c.owner);
	c := kusto_sink._secret_of(c);
	old := c;
	-- the arguments given (NULL: unchanged), merged by the C code
	-- (src/worker/connection_options.c), which knows the credentials
	c := kusto_sink._altered_connection(old, ROW(c.name, cluster_url, auth, tenant_id, app_id, app_key,
			certificate_file, private_key_file, managed_identity_id, federated_token_file, token,
			options, c.owner, c.created_at, now())::kusto_sink.connection);
	c := kusto_sink._check_connection(c, false);
	PERFORM kusto_sink._check_server_files(caller, c, old);
	UPDATE kusto_sink.connection k SET
		cluster_url = c.cluster_url, auth = c.auth, tenant_id = c.tenant_id, app_id = c.app_id,
		certificate_file = c.certificate_file,
		private_key_file = c.private_key_file, managed_identity_id = c.managed_identity_id,
		federated_token_file = c.federated_token_file, options = c.options,
		updated_at = c.updated_at
	WHERE k.name = c.name;
	PERFORM kusto_sink._store_secret(c);
	-- the workers of the sinks on this connection restart with it
	PERFORM kusto_sink._notify_launcher();
END
$$;

CREATE FUNCTION kusto_sink.impl_test_connection(caller regrole, name text, OUT ok boolean, OUT detail text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c kusto_sink.connection;
BEGIN
	SELECT * INTO c FROM kusto_sink.connection k WHERE k.name = impl_test_connection.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'connection "%" does not exist', impl_test_connection.name
			USING ERRCODE = 'undefined_object';
	END IF;
	PERFORM kusto_sink._check_owner(caller, 'connection', c.name, c.owner);
	c := kusto_sink._secret_of(c);
	IF kusto_sink._connection_missing_secret(c) IS NOT NULL THEN
		ok := false;
		detail := format('connection "%s" has no %s: pass it with kusto_sink.alter_connection()',
						 c.name, kusto_sink._connection_missing_secret(c));
		RETURN;
	END IF;
	SELECT p.ok, p.detail INTO ok, detail
	FROM kusto_sink._probe_connection(c.cluster_url, c.auth, c.tenant_id, c.app_id, c.app_key, c.token,
		c.options ->> 'authority_host', c.options ->> 'ca_file', c.options ->> 'proxy',
		c.managed_identity_id, c.options ->> 'managed_identity_endpoint', c.federated_token_file,
		c.certificate_file, c.private_key_file, c.options ->> 'jwt_algorithm',
		c.options ->> 'app_key_file', c.options ->> 'token_file') p;
END
$$;
REVOKE ALL ON FUNCTION kusto_sink.impl_create_connection(regrole, text, text, text, text, text, text, text, text, text, text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION kusto_sink.impl_alter_connection(regrole, text, text, text, text, text, text, text, text, text, text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION kusto_sink.impl_test_connection(regrole, text) FROM PUBLIC;

-- has_secret from the stored secret; missing_secret names what a connection
-- lacks (a restored one: its app_key or token), NULL when nothing.  (The
-- view reads connection_secret with its owner's privileges; it shows no
-- secret.)
CREATE OR REPLACE VIEW kusto_sink.connections AS
	SELECT c.name, c.cluster_url, c.auth, c.tenant_id, c.app_id,
		   kusto_sink._connection_has_secret(kusto_sink._with_secret(c, x.app_key, x.token)) AS has_secret,
		   c.certificate_file, c.private_key_file, c.managed_identity_id, c.federated_token_file,
		   c.options, c.owner, c.created_at, c.updated_at,
		   kusto_sink._connection_missing_secret(kusto_sink._with_secret(c, x.app_key, x.token)) AS missing_secret
	FROM kusto_sink.connection c
	LEFT JOIN kusto_sink.connection_secret x ON x.connection = c.name
	WHERE pg_catalog.pg_has_role(c.owner, 'USAGE');
-- (it names a secret, never shows one)
GRANT EXECUTE ON FUNCTION kusto_sink._connection_missing_secret(kusto_sink.connection) TO PUBLIC;

-- A sink restored from a dump has no replication slot (pg_dump writes none;
-- its worker stops in state error and says to run this).  resume_sink then
-- creates the slot and asks for a resync of every source table (as
-- resnapshot_sink: each ends with its snapshot_done record), since what the
-- new server's tables hold is what Kusto must end up with; the old
-- server's progress is not in the dump, and new batch ids differ from the
-- old server's (src/worker/progress.c).
CREATE OR REPLACE FUNCTION kusto_sink.impl_resume_sink(caller regrole, name text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s kusto_sink.sink;
	slot_database name;
BEGIN
	s := kusto_sink._owned_sink(caller, name);
	SELECT r.database INTO slot_database FROM pg_replication_slots r WHERE r.slot_name = s.slot_name;
	IF FOUND AND slot_database IS DISTINCT FROM current_database() THEN
		RAISE EXCEPTION 'replication slot "%" of sink "%" belongs to another database', s.slot_name, s.name
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = format('It is a slot of database %s.', coalesce(quote_ident(slot_database), '(none: a physical slot)')),
				  HINT = 'A sink of the same name streams from that database (this one was restored from a dump of it, say): drop one of the two sinks.';
	ELSIF NOT FOUND THEN
		PERFORM kusto_sink._outside_transaction('kusto_sink.resume_sink() of a sink without its replication slot');
		PERFORM kusto_sink._check_prerequisites();
		BEGIN
			PERFORM kusto_sink._create_slot(s.slot_name);
		EXCEPTION
			WHEN configuration_limit_exceeded THEN
				RAISE EXCEPTION 'no free replication slot for sink "%"', s.name
					USING ERRCODE = 'configuration_limit_exceeded',
						  HINT = 'Raise max_replication_slots (needs a restart) or drop unused slots.';
		END;
		BEGIN
			-- what belonged to a slot that is gone (none after a restore: not
			-- dumped): its snapshot chunks, in-doubt batches and positions
			DELETE FROM kusto_sink.snapshot_chunk c WHERE c.sink = s.name;
			DELETE FROM kusto_sink.batch b WHERE b.sink = s.name;
			DELETE FROM kusto_sink.progress p WHERE p.sink = s.name;
			PERFORM kusto_sink._request_snapshot(s, NULL);
			PERFORM kusto_sink._set_enabled(s.name, true);
		EXCEPTION
			WHEN OTHERS THEN
				-- a slot is not transactional: without the resync it would skip the rows
				PERFORM pg_drop_replication_slot(s.slot_name);
				RAISE;
		END;
		RAISE NOTICE 'sink "%" has a new replication slot "%"; every row of its source tables is sent again', s.name, s.slot_name
			USING DETAIL = 'Each table''s resync ends with a snapshot_done record (see kusto_sink.latest_state_query()).';
		RETURN;
	END IF;
	PERFORM kusto_sink._set_enabled(s.name, true);
END
$$;
REVOKE ALL ON FUNCTION kusto_sink.impl_resume_sink(regrole, text) FROM PUBLIC;

-- pg_dump writes the configuration (connections without their secrets,
-- sinks, dead letters); not the state that belongs to the server's slots
-- and WAL (progress, batch, snapshot, snapshot_chunk), which a restored
-- sink builds anew when resume_sink() creates its slot.
SELECT pg_catalog.pg_extension_config_dump('kusto_sink.connection', '');
SELECT pg_catalog.pg_extension_config_dump('kusto_sink.sink', '');
SELECT pg_catalog.pg_extension_config_dump('kusto_sink.dead_letter', '');
SELECT pg_catalog.pg_extension_config_dump('kusto_sink.dead_letter_id_seq', '');

-------------------------------------------------------------------------------
-- [monitoring] what a monitoring role reads (monitoring/postgres_exporter.yml)
-------------------------------------------------------------------------------

-- The snapshots' progress is status too: members of pg_read_all_stats see
-- every sink's, as in kusto_sink.status (whose snapshot columns come from
-- this view, and were empty for them).
CREATE OR REPLACE VIEW kusto_sink.snapshots AS
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
	JOIN kusto_sink.sink k ON k.name = p.sink
	LEFT JOIN pg_class c ON c.oid = p.relid
	WHERE pg_catalog.pg_has_role(k.owner, 'USAGE') OR pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE');

-------------------------------------------------------------------------------
-- [publications] row filters, column lists and the sink option "columns"
-------------------------------------------------------------------------------

-- The sink option "columns" bound to attnums (src/decoder/colbind.h): each
-- column a rule names, resolved by create_sink and alter_sink against the
-- current catalog, with the rule's treatment of it ("send", "exclude",
-- "hash", "null", {"fixed": s}); the decoder matches columns by attnum, so
-- a rule follows its column through a RENAME, never moves to a new column
-- that takes a dropped one's name, and a dropped column left out of the
-- rule later stays "dropped" with the treatment it had, for the WAL written
-- before the drop.  Derived from the sink's options, not dumped.
CREATE TABLE kusto_sink.sink_column (
	sink text NOT NULL REFERENCES kusto_sink.sink (name) ON DELETE CASCADE ON UPDATE CASCADE,
	source text NOT NULL,
	rel oid NOT NULL,
	attnum int2 NOT NULL,
	name text NOT NULL,
	treatment jsonb NOT NULL,
	dropped bool NOT NULL DEFAULT false,
	PRIMARY KEY (sink, rel, attnum)
);
REVOKE ALL ON kusto_sink.sink_column FROM PUBLIC;

-- The output plugin's option column_attnums for a sink: NULL without bindings.
CREATE FUNCTION kusto_sink._column_attnums(sink text)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.jsonb_object_agg(t.rel::pg_catalog.text, t.columns)
	  FROM (SELECT c.rel, pg_catalog.jsonb_object_agg(c.attnum::pg_catalog.text,
				pg_catalog.jsonb_build_object('name', c.name, 'source', c.source, 'treatment', c.treatment,
										 'dropped', c.dropped)) AS columns
			  FROM kusto_sink.sink_column c
			 WHERE c.sink OPERATOR(pg_catalog.=) $1
			 GROUP BY c.rel) t
$$;
REVOKE ALL ON FUNCTION kusto_sink._column_attnums(text) FROM PUBLIC;

-- The columns of a source table that the records carry, with their Kusto
-- types: the decoder's answer (src/api/sent_columns.c), so that a
-- publication's column list and the sink option "columns" (include or
-- exclude lists; a masked column is a string) shape create_table too.
CREATE FUNCTION kusto_sink._sent_columns(publication text, rel regclass, columns jsonb,
	column_attnums jsonb, OUT name text, OUT type text, OUT attnum int)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'kusto_sink_sent_columns'
LANGUAGE C STABLE;
REVOKE ALL ON FUNCTION kusto_sink._sent_columns(text, regclass, jsonb, jsonb) FROM PUBLIC;

CREATE OR REPLACE FUNCTION kusto_sink._source_columns(s kusto_sink.sink, kusto_table text)
RETURNS TABLE (name text, type text, rel regclass, pos bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.name, c.type, src.rel, src.ord OPERATOR(pg_catalog.*) 100000 OPERATOR(pg_catalog.+) c.attnum
	  FROM kusto_sink._sources_of(s, kusto_table) src
	 CROSS JOIN LATERAL kusto_sink._sent_columns(s.publication, src.rel, s.options OPERATOR(pg_catalog.->) 'columns',
												kusto_sink._column_attnums(s.name)) c
$$;

-- The sink option "columns" against the tables it names: each must exist
-- (as schema.table) and have every column its rule names; the columns
-- named, bound to attnums (kusto_sink.sink_column); `bound` is the sink's
-- bindings so far (a name bound to a column renamed since may not move to
-- another column while the renamed one loses its rule).
CREATE FUNCTION kusto_sink._bind_sink_columns(columns jsonb, bound jsonb,
	OUT source text, OUT rel oid, OUT attnum int2, OUT name text, OUT treatment jsonb)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'kusto_sink_bind_sink_columns'
LANGUAGE C STABLE;
REVOKE ALL ON FUNCTION kusto_sink._bind_sink_columns(jsonb, jsonb) FROM PUBLIC;

-- A sink's secrets: the salt of its hash masks, made in the server
-- (src/api/mask_salt.c).  Superusers only, as kusto_sink.connection, and
-- never in pg_dump's output (not a configuration table).
CREATE TABLE kusto_sink.sink_secret (
	sink text PRIMARY KEY REFERENCES kusto_sink.sink (name) ON DELETE CASCADE ON UPDATE CASCADE,
	mask_salt bytea NOT NULL
);
REVOKE ALL ON kusto_sink.sink_secret FROM PUBLIC;

CREATE FUNCTION kusto_sink._new_mask_salt()
RETURNS bytea
AS 'MODULE_PATHNAME', 'kusto_sink_new_mask_salt'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION kusto_sink._new_mask_salt() FROM PUBLIC;

-- Every sink gets its salt when it is created (or, made before 1.1, now);
-- create_sink and alter_sink check the option "columns" against its tables
-- and bind it to attnums (kusto_sink.sink_column).
CREATE FUNCTION kusto_sink._sink_columns_trigger()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	bound jsonb := kusto_sink._column_attnums(NEW.name);
BEGIN
	-- bound columns dropped since (or whose table is gone): kept, with
	-- their treatment, for the WAL written before the drop
	UPDATE kusto_sink.sink_column c SET dropped = true
	 WHERE c.sink OPERATOR(pg_catalog.=) NEW.name AND NOT c.dropped
	   AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
						WHERE a.attrelid OPERATOR(pg_catalog.=) c.rel
						  AND a.attnum OPERATOR(pg_catalog.=) c.attnum AND NOT a.attisdropped);
	DELETE FROM kusto_sink.sink_column c
	 WHERE c.sink OPERATOR(pg_catalog.=) NEW.name AND NOT c.dropped;
	INSERT INTO kusto_sink.sink_column (sink, source, rel, attnum, name, treatment)
	SELECT NEW.name, b.source, b.rel, b.attnum, b.name, b.treatment
	  FROM kusto_sink._bind_sink_columns(NEW.options OPERATOR(pg_catalog.->) 'columns', bound) b;
	INSERT INTO kusto_sink.sink_secret (sink, mask_salt) VALUES (NEW.name, kusto_sink._new_mask_salt())
	ON CONFLICT (sink) DO NOTHING;
	RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION kusto_sink._sink_columns_trigger() FROM PUBLIC;
CREATE TRIGGER sink_columns AFTER INSERT OR UPDATE OF options, name ON kusto_sink.sink
	FOR EACH ROW EXECUTE FUNCTION kusto_sink._sink_columns_trigger();
INSERT INTO kusto_sink.sink_secret (sink, mask_salt)
	SELECT k.name, kusto_sink._new_mask_salt() FROM kusto_sink.sink k;

-------------------------------------------------------------------------------
-- [failover] slots that survive the promotion of a standby
-------------------------------------------------------------------------------

-- create_sink's replication slot (src/worker/failover.c): a failover slot
-- on PostgreSQL 17 and later, so that a standby with sync_replication_slots
-- keeps it in step; refused while the server is in recovery.
CREATE FUNCTION kusto_sink._create_slot(slot_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'kusto_sink_create_slot'
LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION kusto_sink._create_slot(text) FROM PUBLIC;

-- On a standby: why a sink's slot is not kept in step for a promotion (the
-- settings slot synchronization needs, or the standby's copy of the slot;
-- before PostgreSQL 17, that there are no failover slots), NULL when it is
-- and on a primary (src/worker/slot_sync_check.c, the check the launcher
-- logs on a standby); kusto_sink.status.slot_sync_problem.  Like _status,
-- for the roles that read kusto_sink.status (a monitoring role is granted it).
CREATE FUNCTION kusto_sink._slot_sync_problem(slot_name text)
RETURNS text
AS 'MODULE_PATHNAME', 'kusto_sink_slot_sync_problem'
LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION kusto_sink._slot_sync_problem(text) FROM PUBLIC;

-------------------------------------------------------------------------------
-- [kusto] what a real cluster accepts (issue 19)
-------------------------------------------------------------------------------

-- latest_state_kql's command: impl_latest_state_kql in [api].

-------------------------------------------------------------------------------
-- [pipeline] sending and confirming apart: batches waiting for their status
-------------------------------------------------------------------------------

-- Per running sink, the queued batches sent that wait for their status, and
-- when the oldest of them was sent (kusto_sink.status).
CREATE FUNCTION kusto_sink._pipeline_status(OUT name text, OUT awaiting_status int,
	OUT oldest_awaiting_status timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'kusto_sink_pipeline_status'
LANGUAGE C STRICT VOLATILE;
-- (like _status, only the caller's sinks, or all with pg_read_all_stats)
REVOKE ALL ON FUNCTION kusto_sink._pipeline_status() FROM PUBLIC;

-- kusto_sink.status (since 1.0; skipped_tables since 1.1), with the two
-- columns at the end, and [failover]'s slot_sync_problem after them
CREATE OR REPLACE VIEW kusto_sink.status AS
	SELECT k.name,
		   CASE WHEN NOT k.enabled THEN 'paused'
				-- no worker runs until the promotion (slot_sync_problem says whether it keeps the slot)
				WHEN s.state IS NULL AND pg_is_in_recovery() THEN 'standby'
				ELSE coalesce(s.state, 'starting') END AS state,
		   s.worker_pid, k.slot_name,
		   r.confirmed_flush_lsn AS confirmed_lsn,
		   s.decoded_lsn,
		   -- (on a standby, where no sink runs, the view still reads: no lag)
		   CASE WHEN pg_is_in_recovery() THEN NULL
				ELSE pg_wal_lsn_diff(pg_current_wal_flush_lsn(), r.confirmed_flush_lsn)::bigint END AS lag_bytes,
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
		   n.rows_delivered AS snapshot_rows_delivered, n.rows_estimate AS snapshot_rows_estimate,
		   x.skipped_tables,
		   q.awaiting_status AS batches_awaiting_status,
		   extract(epoch FROM now() - q.oldest_awaiting_status)::float8 AS oldest_awaiting_status_seconds,
		   kusto_sink._slot_sync_problem(k.slot_name) AS slot_sync_problem
	FROM kusto_sink.sink k
	LEFT JOIN kusto_sink._status() s ON s.name = k.name
	LEFT JOIN pg_replication_slots r ON r.slot_name = k.slot_name
	LEFT JOIN (SELECT p.sink, count(*)::int AS tables,
					  (count(*) FILTER (WHERE p.state IN ('done', 'cancelled')))::int AS tables_done,
					  (count(*) FILTER (WHERE p.state = 'cancelled'))::int AS tables_cancelled,
					  sum(p.rows_delivered)::bigint AS rows_delivered,
					  sum(p.rows_estimate)::bigint AS rows_estimate
				 FROM kusto_sink.snapshots p GROUP BY p.sink) n ON n.sink = k.name
	LEFT JOIN kusto_sink._skipped_tables() x ON x.name = k.name
	LEFT JOIN kusto_sink._pipeline_status() q ON q.name = k.name
	WHERE pg_catalog.pg_has_role(k.owner, 'USAGE') OR pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE');

-------------------------------------------------------------------------------
-- [grants] what PUBLIC may execute (docs/security.md, TAP 032)
-------------------------------------------------------------------------------

-- Internal helpers that only the impl_* functions (run by the gate as the
-- bootstrap superuser) and the worker call: PUBLIC needs none of them.
-- PUBLIC keeps EXECUTE on kusto_type (a pure look-up of the type mapping)
-- and on the three pure helpers the view connections calls
-- (_with_secret, _connection_has_secret, _connection_missing_secret): a
-- view's functions are checked against the role that reads the view.
-- Schema kusto_sink grants PUBLIC no USAGE, so none is reachable without
-- a grant.
REVOKE ALL ON FUNCTION kusto_sink._check_prerequisites() FROM PUBLIC;
REVOKE ALL ON FUNCTION kusto_sink._kql_string(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION kusto_sink._kql_name(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION kusto_sink._metadata_columns(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION kusto_sink._metadata_column(jsonb, text) FROM PUBLIC;

-------------------------------------------------------------------------------
-- [readers] roles that read kusto_sink.status under 1.0
-------------------------------------------------------------------------------

-- Version 1.0 let PUBLIC execute kusto_sink._status(); 1.1 does not, and the
-- view calls functions that 1.0 did not have.  A view's functions are
-- checked against the role that reads the view, so a role granted SELECT on
-- kusto_sink.status under 1.0 (a monitoring role) would get "permission
-- denied" after the update.  Say so, with the GRANT that fixes it, rather
-- than grant it here: a grant made by an extension script is an initial
-- privilege, which pg_dump leaves out, so it would be lost in a dump and
-- restore.  The functions are those the view depends on (pg_depend), so the
-- list cannot drift from the view.
DO $$
DECLARE
	fns pg_catalog.oid[];
	names text;
	r record;
BEGIN
	SELECT pg_catalog.array_agg(DISTINCT f.oid),
		   pg_catalog.string_agg(DISTINCT pg_catalog.format('kusto_sink.%I(%s)', f.proname,
								 pg_catalog.pg_get_function_identity_arguments(f.oid)), ', ')
	  INTO fns, names
	  FROM pg_catalog.pg_rewrite w
	  JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
		AND d.objid OPERATOR(pg_catalog.=) w.oid
		AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
	  JOIN pg_catalog.pg_proc f ON f.oid OPERATOR(pg_catalog.=) d.refobjid
	 WHERE w.ev_class OPERATOR(pg_catalog.=) 'kusto_sink.status'::pg_catalog.regclass
	   AND f.pronamespace OPERATOR(pg_catalog.=) 'kusto_sink'::pg_catalog.regnamespace;
	FOR r IN
		SELECT DISTINCT a.grantee
		  FROM pg_catalog.pg_class c, LATERAL pg_catalog.aclexplode(c.relacl) a
		 WHERE c.oid OPERATOR(pg_catalog.=) 'kusto_sink.status'::pg_catalog.regclass
		   AND a.privilege_type OPERATOR(pg_catalog.=) 'SELECT'
		   AND a.grantee OPERATOR(pg_catalog.<>) 0
		   AND EXISTS (SELECT FROM pg_catalog.unnest(fns) g
						WHERE NOT pg_catalog.has_function_privilege(a.grantee, g, 'EXECUTE'))
		 ORDER BY 1
	LOOP
		RAISE WARNING 'role % may read kusto_sink.status but not call the functions it reads', r.grantee::pg_catalog.regrole
			USING DETAIL = 'Version 1.1 lets only the roles granted it execute the functions that the view kusto_sink.status calls.',
				  HINT = pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s;', names, r.grantee::pg_catalog.regrole);
	END LOOP;
END
$$;

-- the workers of every sink restart on the new catalog
UPDATE kusto_sink.sink SET updated_at = now();
SELECT kusto_sink._notify_launcher();
