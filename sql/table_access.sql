-- Source tables: the ones that can never work and the ones the sink's owner
-- may not read all of are refused by create_sink (issue 14, items 3 and 8),
-- with the check that the sink worker stops on (_check_source_table).
\set SHOW_CONTEXT never
\set VERBOSITY default
CREATE ROLE ks_reader;
CREATE ROLE ks_other;
CREATE TABLE ta_open (id int PRIMARY KEY, v text);
CREATE TABLE ta_closed (id int PRIMARY KEY, v text);
CREATE TABLE ta_columns (id int PRIMARY KEY, v text);
CREATE UNLOGGED TABLE ta_unlogged (id int PRIMARY KEY);
CREATE TEMPORARY TABLE ta_temp (id int PRIMARY KEY);
CREATE TABLE ta_parted (id int, v text) PARTITION BY RANGE (id);
CREATE TABLE ta_part1 PARTITION OF ta_parted FOR VALUES FROM (0) TO (100);
CREATE TABLE ta_rls (id int PRIMARY KEY, secret bool);
ALTER TABLE ta_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY ta_rls_public ON ta_rls USING (NOT secret);
GRANT SELECT ON ta_open, ta_rls TO ks_reader;
GRANT SELECT (id) ON ta_columns TO ks_reader;
GRANT SELECT ON ta_parted TO ks_reader;
GRANT ks_reader TO ks_other;

-- tables that can never be a source, whoever the owner
SELECT kusto_sink._check_source_table('ta_unlogged', 'ks_reader');
SELECT kusto_sink._check_source_table('ta_temp', current_user::regrole);
SELECT kusto_sink._check_source_table('pg_class', current_user::regrole);
SELECT kusto_sink._check_source_table('kusto_sink.sink', current_user::regrole);
SELECT kusto_sink._check_source_table('information_schema.sql_features', current_user::regrole);
-- in a publication they are left to the worker, which skips them
SELECT kusto_sink._check_source_table('ta_unlogged', 'ks_reader', in_publication => true);

-- privileges: the whole table, every column, a partition through its parent,
-- a role's membership
SELECT kusto_sink._check_source_table('ta_open', 'ks_reader');
SELECT kusto_sink._check_source_table('ta_closed', 'ks_reader');
SELECT kusto_sink._check_source_table('ta_closed', 'ks_reader', in_publication => true);
SELECT kusto_sink._check_source_table('ta_columns', 'ks_reader');
GRANT SELECT (v) ON ta_columns TO ks_reader;
SELECT kusto_sink._check_source_table('ta_columns', 'ks_reader');
SELECT kusto_sink._check_source_table('ta_part1', 'ks_reader');
SELECT kusto_sink._check_source_table('ta_part1', 'ks_other');
REVOKE SELECT ON ta_parted FROM ks_reader;
SELECT kusto_sink._check_source_table('ta_part1', 'ks_other');

-- row-level security: refused unless the owner bypasses it
SELECT kusto_sink._check_source_table('ta_rls', 'ks_reader');
ALTER TABLE ta_rls OWNER TO ks_reader;
SELECT kusto_sink._check_source_table('ta_rls', 'ks_reader');
ALTER TABLE ta_rls FORCE ROW LEVEL SECURITY;
SELECT kusto_sink._check_source_table('ta_rls', 'ks_reader');
ALTER ROLE ks_reader BYPASSRLS;
SELECT kusto_sink._check_source_table('ta_rls', 'ks_reader');
ALTER ROLE ks_reader NOBYPASSRLS;
SELECT kusto_sink._check_source_table('ta_rls', current_user::regrole);

-- the SQLSTATEs (create_sink raises the same errors; it cannot run in a
-- subtransaction that would catch them)
CREATE FUNCTION ta_sqlstate(rel regclass, owner regrole) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM kusto_sink._check_source_table(rel, owner);
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;
SELECT r AS rel, ta_sqlstate(r, 'ks_reader') AS sqlstate
  FROM unnest(ARRAY['ta_open', 'ta_closed', 'ta_rls', 'ta_unlogged', 'ta_temp', 'pg_class',
					'kusto_sink.sink']::regclass[]) r;
DROP FUNCTION ta_sqlstate(regclass, regrole);

-- create_sink refuses them by name
SELECT kusto_sink.create_connection('emu', 'http://127.0.0.1:9', 'application',
	tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret');
SELECT kusto_sink.create_sink('s', 'emu', 'ta_unlogged', 'db', 'T');
SELECT kusto_sink.create_sink('s', 'emu', 'ta_temp', 'db', 'T');
SELECT kusto_sink.create_sink('s', 'emu', 'pg_class', 'db', 'T');
SELECT kusto_sink.create_sink('s', 'emu', 'kusto_sink.sink', 'db', 'T');
SELECT kusto_sink.create_sink('s', 'emu', 'ta_open, ta_unlogged', 'db', 'T');

-- and, for a role that may create sinks, the tables it may not read
GRANT USAGE ON SCHEMA kusto_sink TO ks_reader;
GRANT EXECUTE ON FUNCTION kusto_sink.create_sink(text, text, text, text, text, jsonb),
	kusto_sink._create_sink(text, text, regclass[], text, text, text, jsonb),
	kusto_sink.drop_sink(text, boolean),
	kusto_sink.create_connection(text, text, text, text, text, text, text, text, text, text, text, jsonb),
	kusto_sink.drop_connection(text, boolean) TO ks_reader;
CREATE PUBLICATION ta_pub FOR TABLE ta_open, ta_closed;
SET SESSION AUTHORIZATION ks_reader;
-- (a sink uses a connection of its owner's)
SELECT kusto_sink.create_connection('reader_emu', 'http://127.0.0.1:9', 'token', token => 'x');
SELECT kusto_sink.create_sink('s', 'reader_emu', 'ta_closed', 'db', 'T');
SELECT kusto_sink.create_sink('s', 'reader_emu', 'ta_open, ta_closed', 'db', 'T');
SELECT kusto_sink.create_sink('s', 'reader_emu', 'publication:ta_pub', 'db', 'T');
RESET SESSION AUTHORIZATION;
SELECT count(*) AS slots FROM pg_replication_slots;
GRANT SELECT ON ta_closed TO ks_reader;
SET SESSION AUTHORIZATION ks_reader;
SELECT kusto_sink.create_sink('s', 'reader_emu', 'publication:ta_pub', 'db', 'T');
SELECT kusto_sink.drop_sink('s');
SELECT kusto_sink.drop_connection('reader_emu');
RESET SESSION AUTHORIZATION;

-- kusto_sink.status has the column the worker fills
SELECT attname FROM pg_attribute
 WHERE attrelid = 'kusto_sink.status'::regclass AND attnum > 0 AND attname = 'skipped_tables';

SELECT kusto_sink.drop_connection('emu');
DROP PUBLICATION ta_pub;
REVOKE ALL ON FUNCTION kusto_sink.create_sink(text, text, text, text, text, jsonb),
	kusto_sink._create_sink(text, text, regclass[], text, text, text, jsonb),
	kusto_sink.drop_sink(text, boolean),
	kusto_sink.create_connection(text, text, text, text, text, text, text, text, text, text, text, jsonb),
	kusto_sink.drop_connection(text, boolean) FROM ks_reader;
REVOKE USAGE ON SCHEMA kusto_sink FROM ks_reader;
DROP TABLE ta_open, ta_closed, ta_columns, ta_unlogged, ta_temp, ta_parted, ta_rls;
DROP ROLE ks_other;
DROP ROLE ks_reader;
