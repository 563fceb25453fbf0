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

CREATE OR REPLACE VIEW kusto_sink.status AS
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
		   n.rows_delivered AS snapshot_rows_delivered, n.rows_estimate AS snapshot_rows_estimate,
		   x.skipped_tables
	FROM kusto_sink.sink k
	LEFT JOIN kusto_sink._status() s ON s.name = k.name
	LEFT JOIN pg_replication_slots r ON r.slot_name = k.slot_name
	LEFT JOIN (SELECT p.sink, count(*)::int AS tables,
					  (count(*) FILTER (WHERE p.state IN ('done', 'cancelled')))::int AS tables_done,
					  (count(*) FILTER (WHERE p.state = 'cancelled'))::int AS tables_cancelled,
					  sum(p.rows_delivered)::bigint AS rows_delivered,
					  sum(p.rows_estimate)::bigint AS rows_estimate
				 FROM kusto_sink.snapshots p GROUP BY p.sink) n ON n.sink = k.name
	LEFT JOIN kusto_sink._skipped_tables() x ON x.name = k.name;

-- TEMP (h2): lead merges -- create_sink checks every source table with
-- kusto_sink._check_source_table() (the lead rewrites _create_sink).
CREATE OR REPLACE FUNCTION kusto_sink._create_sink(
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
		-- the owner must read all of every table in it now (tables that can
		-- never work are skipped by the worker, with a WARNING)
		PERFORM kusto_sink._check_source_table(c.oid, session_user::regrole, true)
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
			PERFORM kusto_sink._check_source_table(rel, session_user::regrole);
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


-------------------------------------------------------------------------------
-- [secrets] secrets that never appear in a statement
-------------------------------------------------------------------------------

-------------------------------------------------------------------------------
-- [guard] dropping the extension while sinks exist
-------------------------------------------------------------------------------

-------------------------------------------------------------------------------
-- [worker] what the worker calls
-------------------------------------------------------------------------------

-- the workers of every sink restart on the new catalog
SELECT kusto_sink._notify_launcher();
