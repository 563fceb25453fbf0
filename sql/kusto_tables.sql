-- Kusto table management and the latest-state KQL: what the worker would
-- run in Kusto for a sink (create, add columns, type differences, mappings,
-- streaming policy), and the KQL of the latest state; no Kusto needed.
\set SHOW_CONTEXT never
CREATE TABLE kt_orders (id int PRIMARY KEY, customer text, amount numeric, at timestamptz, doc jsonb);
CREATE TABLE kt_refunds (id int, line int, amount numeric, PRIMARY KEY (id, line));
CREATE TABLE kt_clash (id text PRIMARY KEY);
CREATE TABLE "odd 'name" ("a b.c-d" int PRIMARY KEY);
SELECT kusto_sink.create_connection('kt', 'http://127.0.0.1:9', 'application',
	tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret');
SELECT kusto_sink.create_sink('kt', 'kt', 'kt_orders, kt_refunds, "odd ''name"', 'db', 'Orders',
	'{"tables": {"public.kt_refunds": "Refunds", "public.\"odd ''name\"": "Odd"}, "metadata": "op, lsn, commit_lsn, table",
	  "ingestion_method": "streaming", "create_table": true}');
SELECT kusto_sink.pause_sink('kt');

SELECT kusto_sink._kusto_tables('kt') ORDER BY 1;
SELECT * FROM kusto_sink._kusto_columns('kt', 'Orders');
-- a new table: created, with its JSON mapping and the streaming policy
SELECT kusto_sink._kusto_table_commands('kt', 'Orders', NULL);
-- an existing table missing columns: they are added
SELECT kusto_sink._kusto_table_commands('kt', 'Refunds',
	'{"OrderedColumns": [{"Name": "id", "CslType": "int"}, {"Name": "line", "CslType": "int"}]}');
-- columns of other types: every difference in one error
SELECT kusto_sink._kusto_table_commands('kt', 'Refunds',
	'{"OrderedColumns": [{"Name": "id", "CslType": "string"}, {"Name": "amount", "CslType": "real"}]}');
SELECT kusto_sink._kusto_table_commands('kt', 'Odd', NULL);
-- a table with every column (and one of its own): only the streaming policy;
-- a schema without OrderedColumns has no columns
SELECT kusto_sink._kusto_table_commands('kt', 'Refunds',
	'{"OrderedColumns": [{"Name": "extra", "CslType": "string"}, {"Name": "_table", "CslType": "string"},
	  {"Name": "id", "CslType": "int"}, {"Name": "line", "CslType": "int"}, {"Name": "amount", "CslType": "decimal"},
	  {"Name": "_op", "CslType": "string"}, {"Name": "_lsn", "CslType": "long"}, {"Name": "_commit_lsn", "CslType": "long"}]}');
SELECT kusto_sink._kusto_table_commands('kt', 'Refunds', '{}');

-- CSV: two source tables into one Kusto table (each layout gets its own ordinal mapping)
SELECT kusto_sink.alter_sink('kt', '{"format": "csv", "ingestion_method": "queued", "tables": {"public.kt_refunds": "Orders"}}');
-- a Kusto table no source table goes to any more: refused
SELECT kusto_sink._kusto_table_commands('kt', 'Odd', NULL);
SELECT kusto_sink._kusto_table_commands('kt', 'Orders', NULL);
-- ... but not through one mapping of the sink's own
SELECT kusto_sink.alter_sink('kt', '{"ingestion_mapping_ref": "mine"}');
SELECT kusto_sink._kusto_table_commands('kt', 'Orders', NULL);
SELECT kusto_sink.alter_sink('kt', '{"ingestion_mapping_ref": null}');
-- two tables into one Kusto table must agree on the types
SELECT kusto_sink.alter_sink('kt', '{"format": "json", "tables": null}');
SELECT kusto_sink.drop_sink('kt');
SELECT kusto_sink.create_sink('kt', 'kt', 'kt_orders, kt_clash', 'db', 'Orders', '{"create_table": true}');
SELECT kusto_sink.pause_sink('kt');
SELECT kusto_sink._kusto_table_commands('kt', 'Orders', NULL);
SELECT kusto_sink.drop_sink('kt');

-- the latest state
SELECT kusto_sink.create_sink('kt', 'kt', 'kt_orders, kt_refunds', 'db', 'Orders');
SELECT kusto_sink.pause_sink('kt');
SELECT kusto_sink.latest_state_kql('kt', 'kt_orders');
SELECT kusto_sink.latest_state_query('kt', 'kt_orders');
-- two tables in one Kusto table: told apart by schema and table
SELECT kusto_sink.latest_state_kql('kt', 'kt_refunds', 'RefundsNow');
SELECT kusto_sink.latest_state_query('kt', 'kt_refunds', 'RefundsNow');
SELECT kusto_sink.latest_state_kql('kt', 'kt_clash');
SELECT kusto_sink.latest_state_kql('nosuch', 'kt_orders');
SELECT kusto_sink.alter_sink('kt', '{"metadata": "op, commit_lsn"}');
SELECT kusto_sink.latest_state_kql('kt', 'kt_orders');
SELECT kusto_sink.drop_sink('kt');
-- without the metadata columns schema and table: one cutoff for the Kusto table
SELECT kusto_sink.create_sink('kt', 'kt', 'kt_orders', 'db', 'Orders', '{"metadata": "op, lsn"}');
SELECT kusto_sink.pause_sink('kt');
SELECT kusto_sink.latest_state_query('kt', 'kt_orders');
SELECT kusto_sink.drop_sink('kt');
-- a partitioned table: cutoffs per partition, and its own Kusto table
CREATE TABLE kt_parted (id int PRIMARY KEY, v int) PARTITION BY RANGE (id);
CREATE TABLE kt_parted_1 PARTITION OF kt_parted FOR VALUES FROM (0) TO (100);
SELECT kusto_sink.create_sink('kt', 'kt', 'kt_parted, kt_orders', 'db', 'Parted',
	'{"metadata": "op, lsn", "tables": {"public.kt_orders": "Orders"}}');
SELECT kusto_sink.pause_sink('kt');
SELECT kusto_sink.latest_state_kql('kt', 'kt_parted');
SELECT kusto_sink.alter_sink('kt', '{"metadata": null}');
SELECT kusto_sink.latest_state_query('kt', 'kt_parted');
SELECT kusto_sink.alter_sink('kt', '{"tables": null}');
SELECT kusto_sink.latest_state_kql('kt', 'kt_parted');
SELECT kusto_sink.drop_sink('kt');
DROP TABLE kt_parted;
-- names KQL must quote: a quote, a backslash, a control character
CREATE SCHEMA "o'k";
CREATE TABLE "o'k"."t\x	y" (id int PRIMARY KEY);
SELECT kusto_sink.create_sink('kt', 'kt', 'kt_orders, "o''k"."t\x	y"', 'db', 'Orders');
SELECT kusto_sink.pause_sink('kt');
SELECT kusto_sink.latest_state_kql('kt', '"o''k"."t\x	y"');
SELECT kusto_sink.latest_state_query('kt', '"o''k"."t\x	y"');
SELECT kusto_sink._kql_string(E'a\nb''c\\d'), kusto_sink._kql_name(E'x]''\ty');
SELECT kusto_sink.drop_sink('kt');
DROP SCHEMA "o'k" CASCADE;
-- ingestion_batching: Kusto's IngestionBatching policy on the tables the sink manages
SELECT kusto_sink.create_sink('kt', 'kt', 'kt_orders', 'db', 'Orders',
	'{"ingestion_method": "queued", "create_table": true, "ingestion_batching": {"max_time": "00:00:30", "max_items": 100}}');
SELECT kusto_sink.pause_sink('kt');
SELECT c FROM kusto_sink._kusto_table_commands('kt', 'Orders', NULL) c WHERE c LIKE '%policy%';
SELECT kusto_sink.alter_sink('kt', '{"ingestion_batching": {"max_time": "00:00:05"}}');
SELECT kusto_sink.alter_sink('kt', '{"ingestion_batching": {"max_size": 5}}');
SELECT kusto_sink.alter_sink('kt', '{"ingestion_batching": "00:00:30"}');
SELECT kusto_sink.drop_sink('kt');
SELECT kusto_sink.drop_connection('kt');
