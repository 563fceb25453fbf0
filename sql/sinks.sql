-- Sinks: validation of every argument and option, the slot that
-- create_sink() makes, pause/resume/alter/drop, privileges.
\set SHOW_CONTEXT never
CREATE TABLE src_orders (id int PRIMARY KEY, v text);
CREATE TABLE src_refunds (id int PRIMARY KEY, amount numeric);
INSERT INTO src_refunds VALUES (1, 9.50);
CREATE VIEW src_view AS SELECT 1 AS x;
CREATE PUBLICATION src_pub FOR TABLE src_orders, src_refunds;
SELECT kusto_sink.create_connection('emu', 'http://127.0.0.1:9', 'application',
	tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret');

-- errors
SELECT kusto_sink.create_sink('Bad-Name', 'emu', 'src_orders', 'db', 'Orders');
-- the rule and the slot name are one (src/worker/sink_name.c): 52 bytes and no more
SELECT kusto_sink.create_sink(repeat('n', 53), 'emu', 'src_orders', 'db', 'Orders');
SELECT kusto_sink.create_sink(NULL, 'emu', 'src_orders', 'db', 'Orders');
SELECT kusto_sink._check_sink_name(repeat('n', 52)), kusto_sink._slot_name(repeat('n', 52)),
	kusto_sink._slot_name(repeat('n', 53)) IS NULL AS no_slot;
SELECT kusto_sink.create_sink('s', 'nosuch', 'src_orders', 'db', 'Orders');
SELECT kusto_sink.create_sink('s', 'emu', 'no_such_table', 'db', 'Orders');
SELECT kusto_sink.create_sink('s', 'emu', 'src_view', 'db', 'Orders');
SELECT kusto_sink.create_sink('s', 'emu', '', 'db', 'Orders');
SELECT kusto_sink.create_sink('s', 'emu', 'src_orders', '', 'Orders');
SELECT kusto_sink.create_sink('s', 'emu', 'src_orders', 'db');
SELECT kusto_sink.create_sink('s', 'emu', 'publication:nosuch', 'db', 'Orders');
SELECT kusto_sink.create_sink('s', 'emu', 'publication:src_pub', 'db');
SELECT kusto_sink.create_sink('s', 'emu', 'src_orders', 'db', 'Orders', '{"batch_sise": 10}');
SELECT kusto_sink.create_sink('s', 'emu', 'src_orders', 'db', 'Orders', '{"ingestion_method": "carrier pigeon"}');
SELECT kusto_sink.create_sink('s', 'emu', 'src_orders', 'db', 'Orders', '{"ingestion_method": "Queued", "poll_for_ingestion_status": 1}');
SELECT kusto_sink.create_sink('s', 'emu', 'src_orders', 'db', 'Orders', '{"batch_size": 0}');
SELECT kusto_sink.create_sink('s', 'emu', 'src_orders', 'db', 'Orders', '{"batch_interval_ms": "fast"}');
SELECT kusto_sink.create_sink('s', 'emu', 'src_orders', 'db', 'Orders', '{"flush_immediately": "yes"}');
SELECT kusto_sink.create_sink('s', 'emu', 'src_orders', 'db', 'Orders', '{"delivery_guarantee": "exactly_once", "metadata": "op, lsn"}');
SELECT kusto_sink.create_sink('s', 'emu', 'src_orders', 'db', 'Orders', '{"tables": ["a"]}');
SELECT kusto_sink.create_sink('s', 'emu', 'src_orders', 'db', 'Orders', '[]');

-- a sink on two tables, one of them routed to its own Kusto table
SELECT kusto_sink.create_sink('two', 'emu', 'src_orders, src_refunds', 'db', 'Orders',
	'{"tables": {"public.src_refunds": "Refunds"}, "format": "CSV", "batch_interval_ms": 250}');
SELECT name, connection, database, source_tables, publication, kusto_table, options, enabled, slot_name
FROM kusto_sink.sinks;
SELECT slot_name, plugin, slot_type, database = current_database() AS here FROM pg_replication_slots;
SELECT slot_name = kusto_sink._slot_name(name) AS same FROM kusto_sink.sinks;
SELECT kusto_sink.create_sink('two', 'emu', 'src_orders', 'db', 'Orders');
-- the connection is in use
SELECT kusto_sink.drop_connection('emu');

-- a sink on a publication
SELECT kusto_sink.create_sink('pub', 'emu', 'publication:src_pub', 'db', 'Everything');
SELECT name, source_tables, publication FROM kusto_sink.sinks ORDER BY name;

-- the initial snapshot: every source table, waiting for the worker
-- (a table empty at create_sink is done at once: its rows all come as changes)
SELECT sink, source_table, state, rows_copied FROM kusto_sink.snapshots ORDER BY sink, source_table;
SELECT kusto_sink.resnapshot_sink('two', ARRAY['src_refunds'::regclass]);
SELECT kusto_sink.resnapshot_sink('two', ARRAY['src_view'::regclass]);
SELECT kusto_sink.resnapshot_sink('nosuch');
-- (also under repeatable read: the emptiness is seen with a fresh snapshot)
SET default_transaction_isolation = 'repeatable read';
SELECT kusto_sink.create_sink('rr', 'emu', 'src_orders', 'db', 'Orders');
RESET default_transaction_isolation;
SELECT source_table, state FROM kusto_sink.snapshots WHERE sink = 'rr';
SELECT kusto_sink.drop_sink('rr');
-- _table_empty: an empty table, one with a row, not a table
SELECT kusto_sink._table_empty('src_orders'), kusto_sink._table_empty('src_refunds'), kusto_sink._table_empty('src_view');
-- cancel_snapshot: the tables still reading rows stop; a new request starts over
SELECT kusto_sink.cancel_snapshot('two', ARRAY['src_refunds'::regclass]);
SELECT kusto_sink.cancel_snapshot('two', ARRAY['src_refunds'::regclass]);
SELECT kusto_sink.cancel_snapshot('two', ARRAY['src_view'::regclass]);
SELECT kusto_sink.cancel_snapshot('nosuch');
SELECT sink, source_table, state, cancelled_at IS NOT NULL AS cancelled FROM kusto_sink.snapshots WHERE sink = 'two' ORDER BY source_table;
SELECT kusto_sink._snapshot_follow('two', true);
SELECT snapshot_state, snapshot_tables_done, snapshot_tables FROM kusto_sink.status WHERE name = 'two';
SELECT kusto_sink.resnapshot_sink('two', ARRAY['src_refunds'::regclass]);
SELECT source_table, state FROM kusto_sink.snapshots WHERE sink = 'two' ORDER BY source_table;
SELECT kusto_sink.create_sink('s', 'emu', 'src_orders', 'db', 'Orders', '{"snapshot": "later"}');

-- an error after the slot was made takes the slot with it
CREATE FUNCTION pg_temp.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
CREATE TRIGGER refuse BEFORE INSERT ON kusto_sink.snapshot FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse();
SELECT kusto_sink.create_sink('s', 'emu', 'src_orders', 'db', 'Orders');
SELECT slot_name FROM pg_replication_slots WHERE slot_name = 'kusto_sink_s';
DROP TRIGGER refuse ON kusto_sink.snapshot;

-- a slot is not transactional: no create_sink or drop_sink that a rollback could undo
BEGIN;
SELECT kusto_sink.create_sink('s', 'emu', 'src_orders', 'db', 'Orders');
ROLLBACK;
DO $$ BEGIN PERFORM kusto_sink.drop_sink('two'); EXCEPTION WHEN division_by_zero THEN NULL; END $$;
SELECT kusto_sink.create_sink('s', 'emu', 'src_orders', 'db', 'Orders') \; SELECT 1;
SELECT slot_name FROM pg_replication_slots WHERE slot_name IN ('kusto_sink_s', 'kusto_sink_two');

-- a publication FOR ALL TABLES: the extension's own tables are no source
CREATE PUBLICATION all_pub FOR ALL TABLES;
-- (the tables csv_back and opt_clash of other tests have columns named like
-- the metadata columns)
SELECT kusto_sink.create_sink('everything', 'emu', 'publication:all_pub', 'db', 'Everything', '{"create_table": true}');
DROP TABLE csv_back, opt_clash;
SELECT kusto_sink.create_sink('everything', 'emu', 'publication:all_pub', 'db', 'Everything', '{"create_table": true}');
SELECT count(*) FILTER (WHERE source_table LIKE 'kusto_sink.%') AS own_tables,
	   count(*) FILTER (WHERE source_table = 'public.src_orders') AS src_orders
  FROM kusto_sink.snapshots WHERE sink = 'everything';
SELECT kusto_sink._kusto_tables('everything');
SELECT count(*) FILTER (WHERE name IN ('records', 'committed_lsn')) AS own_columns, count(*) > 0 AS columns
  FROM kusto_sink._kusto_columns('everything', 'Everything');
SELECT kusto_sink.drop_sink('everything');
DROP PUBLICATION all_pub;

-- alter, pause, resume
SELECT kusto_sink.alter_sink('two', '{"batch_size": 500, "format": null}');
SELECT options FROM kusto_sink.sinks WHERE name = 'two';
SELECT kusto_sink.alter_sink('two', '{"batch_size": -1}');
SELECT kusto_sink.alter_sink('two', '{"delivery_guarantee": "exactly_once", "ingestion_method": "streaming", "metadata": "none"}');
SELECT kusto_sink.alter_sink('two', '{"delivery_guarantee": "exactly_once", "ingestion_method": "queued", "poll_for_ingestion_status": false}');
SELECT kusto_sink.alter_sink('nosuch', '{}');
SELECT kusto_sink.pause_sink('two');
SELECT name, enabled FROM kusto_sink.sinks ORDER BY name;
SELECT kusto_sink.resume_sink('two');
SELECT kusto_sink.pause_sink('nosuch');

-- drop: the slot goes too
SELECT kusto_sink.drop_sink('two');
SELECT kusto_sink.drop_sink('pub');
SELECT kusto_sink.drop_sink('two');
SELECT kusto_sink.drop_sink('two', if_exists => true);
SELECT count(*) AS slots_left FROM pg_replication_slots;
SELECT count(*) AS snapshots_left FROM kusto_sink.snapshot;

-- PUBLIC may not create sinks
CREATE ROLE kusto_nobody;
GRANT USAGE ON SCHEMA kusto_sink TO kusto_nobody;
SET ROLE kusto_nobody;
SELECT kusto_sink.create_sink('s', 'emu', 'src_orders', 'db', 'Orders');
RESET ROLE;
REVOKE USAGE ON SCHEMA kusto_sink FROM kusto_nobody;
DROP ROLE kusto_nobody;

SELECT kusto_sink.drop_connection('emu');
DROP PUBLICATION src_pub;
