-- Publications mean what they say: a publication's row filters decide
-- which changes pass (an update may become an insert or a delete) and its
-- column list which columns leave the server, as for pgoutput.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kusto_sink;

-- REPLICA IDENTITY DEFAULT: a filter of an updating publication may only
-- use key columns; every UPDATE transition
CREATE TABLE rf_key (id int PRIMARY KEY, v text);
CREATE PUBLICATION p_key FOR TABLE rf_key WHERE (id > 10);
-- REPLICA IDENTITY FULL: any column; the old row is logged whole
CREATE TABLE rf_full (id int PRIMARY KEY, region text, v text);
ALTER TABLE rf_full REPLICA IDENTITY FULL;
CREATE PUBLICATION p_full FOR TABLE rf_full WHERE (region = 'eu');
-- inserts only: the filter may use any column
CREATE TABLE rf_ins (id int PRIMARY KEY, region text);
CREATE PUBLICATION p_ins FOR TABLE rf_ins WHERE (region = 'eu') WITH (publish = 'insert');
-- several publications: filters ORed; one without a filter means every row
CREATE TABLE rf_multi (id int PRIMARY KEY);
CREATE PUBLICATION p_low FOR TABLE rf_multi WHERE (id < 10);
CREATE PUBLICATION p_high FOR TABLE rf_multi WHERE (id > 100);
CREATE PUBLICATION p_all FOR TABLE rf_multi;
-- a filter that is NULL for a row is false
CREATE TABLE rf_null (id int PRIMARY KEY, n int);
CREATE PUBLICATION p_null FOR TABLE rf_null WHERE (n > 0) WITH (publish = 'insert');

SELECT 'init' FROM pg_create_logical_replication_slot('pubs', 'kusto_sink');

INSERT INTO rf_key VALUES (5, 'a'), (15, 'b');
UPDATE rf_key SET v = 'a2' WHERE id = 5;		-- neither row matches: nothing
UPDATE rf_key SET v = 'b2' WHERE id = 15;		-- key kept, new row matches: update
UPDATE rf_key SET id = 25 WHERE id = 5;			-- old out, new in: insert
UPDATE rf_key SET id = 7 WHERE id = 15;			-- old in, new out: delete
UPDATE rf_key SET id = 30 WHERE id = 25;		-- both in: delete of the old key, update
DELETE FROM rf_key WHERE id = 7;				-- out: nothing
DELETE FROM rf_key WHERE id = 30;				-- in: delete
TRUNCATE rf_key;								-- truncate follows publish, no filter

INSERT INTO rf_full VALUES (1, 'eu', 'a'), (2, 'us', 'b');
UPDATE rf_full SET v = 'a2' WHERE id = 1;		-- eu -> eu: update
UPDATE rf_full SET v = 'b2' WHERE id = 2;		-- us -> us: nothing
UPDATE rf_full SET region = 'eu' WHERE id = 2;	-- us -> eu: insert
UPDATE rf_full SET region = 'us' WHERE id = 1;	-- eu -> us: delete
UPDATE rf_full SET id = 3 WHERE id = 2;			-- eu -> eu, key changed: delete, update
DELETE FROM rf_full WHERE id = 1;				-- us: nothing
DELETE FROM rf_full WHERE id = 3;				-- eu: delete (the whole old row)

INSERT INTO rf_ins VALUES (1, 'eu'), (2, 'us');
UPDATE rf_ins SET region = 'eu';				-- updates not published
INSERT INTO rf_multi VALUES (1), (50), (200);
INSERT INTO rf_null VALUES (1, NULL), (2, 1), (3, -1);

SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op,table',
	'publication', 'p_key');
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op,table',
	'publication', 'p_full');
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op,table',
	'publication', 'p_ins');
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op,table',
	'publication', 'p_low,p_high');
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op,table',
	'publication', 'p_low,p_high,p_all');
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op,table',
	'publication', 'p_null');
-- a table named in "tables" passes whole, whatever its publications say
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op,table',
	'publication', 'p_low', 'tables', 'rf_multi');
SELECT 'drop' FROM pg_drop_replication_slot('pubs');

-- a filter changed mid-stream takes effect where it took effect in the WAL
CREATE TABLE rf_alter (id int PRIMARY KEY);
CREATE PUBLICATION p_alter FOR TABLE rf_alter WHERE (id < 10);
SELECT 'init' FROM pg_create_logical_replication_slot('pubs', 'kusto_sink');
INSERT INTO rf_alter VALUES (1), (20);
ALTER PUBLICATION p_alter SET TABLE rf_alter WHERE (id >= 10);
INSERT INTO rf_alter VALUES (2), (30);
BEGIN;
INSERT INTO rf_alter VALUES (3), (40);
ALTER PUBLICATION p_alter SET TABLE rf_alter;
INSERT INTO rf_alter VALUES (4), (50);
COMMIT;
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op,table',
	'publication', 'p_alter');
SELECT 'drop' FROM pg_drop_replication_slot('pubs');

-- partitions: without publish_via_partition_root a partition's own filter
-- applies (a partitioned table may not have one); with it, the root's
CREATE TABLE rf_parted (id int PRIMARY KEY, at int) PARTITION BY RANGE (id);
CREATE TABLE rf_part1 PARTITION OF rf_parted FOR VALUES FROM (0) TO (100);
CREATE TABLE rf_part2 PARTITION OF rf_parted FOR VALUES FROM (100) TO (200);
CREATE PUBLICATION p_leaf FOR TABLE rf_part1 WHERE (id % 2 = 0), rf_part2;
CREATE PUBLICATION p_root FOR TABLE rf_parted WHERE (id < 150) WITH (publish_via_partition_root);
SELECT 'init' FROM pg_create_logical_replication_slot('pubs', 'kusto_sink');
INSERT INTO rf_parted VALUES (1, 0), (2, 0), (101, 0), (160, 0);
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op,table',
	'publication', 'p_leaf');
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op,table',
	'publication', 'p_root');
-- via the root's publication at a higher level: the root's filter wins
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op,table',
	'publication', 'p_leaf,p_root');
SELECT 'drop' FROM pg_drop_replication_slot('pubs');

-- a schema's publication means every row
CREATE SCHEMA rf_schema;
CREATE TABLE rf_schema.t (id int PRIMARY KEY);
CREATE PUBLICATION p_schema FOR TABLES IN SCHEMA rf_schema;
CREATE PUBLICATION p_schema_filtered FOR TABLE rf_schema.t WHERE (id = 1);
SELECT 'init' FROM pg_create_logical_replication_slot('pubs', 'kusto_sink');
INSERT INTO rf_schema.t VALUES (1), (2);
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op,table',
	'publication', 'p_schema_filtered');
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op,table',
	'publication', 'p_schema_filtered,p_schema');
SELECT 'drop' FROM pg_drop_replication_slot('pubs');

-- an update that becomes an insert takes its unchanged TOASTed values from
-- the old row (REPLICA IDENTITY FULL logs it whole)
CREATE TABLE rf_toast (id int PRIMARY KEY, region text, big text);
ALTER TABLE rf_toast REPLICA IDENTITY FULL;
CREATE PUBLICATION p_toast FOR TABLE rf_toast WHERE (region = 'eu');
INSERT INTO rf_toast SELECT 1, 'us', string_agg(md5(i::text), '') FROM generate_series(1, 400) i;
SELECT 'init' FROM pg_create_logical_replication_slot('pubs', 'kusto_sink');
UPDATE rf_toast SET region = 'eu';
UPDATE rf_toast SET region = 'us';
SELECT data::json->>'_op' AS op, length(data::json->>'big') AS big_length,
	data::json->>'_unchanged_toast' AS unchanged
FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op,table,unchanged_toast',
	'publication', 'p_toast');
SELECT 'drop' FROM pg_drop_replication_slot('pubs');

-- column lists: only the listed columns leave the server
CREATE TABLE people (id int PRIMARY KEY, name text, ssn text);
CREATE PUBLICATION p_people FOR TABLE people (id, name);
CREATE PUBLICATION p_people_same FOR TABLE people (name, id);
CREATE PUBLICATION p_people_ssn FOR TABLE people (id, ssn) WITH (publish = 'insert');
CREATE PUBLICATION p_people_all FOR TABLE people WITH (publish = 'insert');
-- partitions published via the root: the root's list, by column name
CREATE TABLE cl_parted (id int, a text, b text) PARTITION BY LIST (id);
CREATE TABLE cl_part (b text, a text, id int);
ALTER TABLE cl_parted ATTACH PARTITION cl_part FOR VALUES IN (1, 2);
CREATE PUBLICATION p_cl_root FOR TABLE cl_parted (id, a) WITH (publish_via_partition_root, publish = 'insert');
SELECT 'init' FROM pg_create_logical_replication_slot('pubs', 'kusto_sink');
INSERT INTO people VALUES (1, 'ann', '123-45-6789');
UPDATE people SET name = 'anne';
UPDATE people SET id = 2;
DELETE FROM people;
ALTER PUBLICATION p_people SET TABLE people (id, name, ssn);	-- every column: no list
INSERT INTO people VALUES (3, 'bob', '987-65-4321');
ALTER PUBLICATION p_people SET TABLE people (id);
INSERT INTO people VALUES (4, 'cid', '000-00-0000');
INSERT INTO cl_parted VALUES (1, 'a1', 'b1');
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op,table',
	'publication', 'p_people');
-- CSV records have the listed columns only
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op',
	'format', 'csv', 'publication', 'p_people');
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op,table',
	'publication', 'p_cl_root');
SELECT 'drop' FROM pg_drop_replication_slot('pubs');
-- the same list in two publications is one list; different lists are pgoutput's error
ALTER PUBLICATION p_people SET TABLE people (id, name);
SELECT 'init' FROM pg_create_logical_replication_slot('pubs', 'kusto_sink');
INSERT INTO people VALUES (5, 'dee', '111-11-1111');
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op',
	'publication', 'p_people,p_people_same');
\set VERBOSITY terse
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op',
	'publication', 'p_people,p_people_ssn');
-- a publication without a list (all columns) and one with a list differ too
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op',
	'publication', 'p_people,p_people_all');
\set VERBOSITY default
SELECT 'drop' FROM pg_drop_replication_slot('pubs');

-- create_table: a publication's column list is the Kusto table's columns
SELECT kusto_sink.create_connection('pubs', 'http://127.0.0.1:9', 'application',
	tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret');
SELECT kusto_sink.create_sink('pubs', 'pubs', 'publication:p_people', 'db', 'People',
	'{"metadata": "op", "create_table": true}');
SELECT kusto_sink.pause_sink('pubs');
SELECT * FROM kusto_sink._kusto_columns('pubs', 'People');
SELECT kusto_sink._kusto_table_commands('pubs', 'People', NULL);
-- an existing Kusto table with the column left out: nothing to add
SELECT kusto_sink._kusto_table_commands('pubs', 'People',
	'{"OrderedColumns": [{"Name": "id", "CslType": "int"}, {"Name": "name", "CslType": "string"}, {"Name": "_op", "CslType": "string"}]}');
ALTER PUBLICATION p_people SET TABLE people;
SELECT * FROM kusto_sink._kusto_columns('pubs', 'People');
ALTER PUBLICATION p_people SET TABLE people (id, name);

-- the option "columns": include or exclude lists and masks, inside the server
-- (the hashes are HMAC-SHA-256 keyed with mask_salt: equal values, equal hashes)
CREATE TABLE masked (id int PRIMARY KEY, email text, phone text, note text, secret text, n int);
SELECT 'init' FROM pg_create_logical_replication_slot('pubs', 'kusto_sink');
INSERT INTO masked VALUES (1, 'ann@example.com', '555-1', 'hello', 's1', 7), (2, 'ann@example.com', NULL, NULL, 's2', NULL);
UPDATE masked SET phone = '555-2' WHERE id = 1;
DELETE FROM masked WHERE id = 2;
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op', 'mask_salt', '00112233',
	'columns', '{"public.masked": {"exclude": ["secret"], "mask": {"email": "hash", "phone": "null", "note": {"fixed": "n/a"}, "n": "hash"}}}');
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op', 'mask_salt', '00112233', 'format', 'csv',
	'columns', '{"public.masked": {"include": ["id", "email", "note"], "mask": {"email": "hash", "note": {"fixed": "a, \"b\""}}}}');
-- a masked key column: its hash in the key-only delete too
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'metadata', 'op', 'mask_salt', 'ff',
	'columns', '{"public.masked": {"include": ["id"], "mask": {"id": "hash"}}}');
-- bad input
\set VERBOSITY terse
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'columns', '{"public.masked": {"include": ["id"], "exclude": ["n"]}}');
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'columns', '{"public.masked": {"mask": {"email": "rot13"}}}');
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'columns', '{"public.masked": {"exclude": ["email"], "mask": {"email": "null"}}}');
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'columns', '{"public.masked": {"include": "id"}}');
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'columns', '{"public.masked": {"only": ["id"]}}');
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'columns', '["public.masked"]');
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'columns', '{"public.masked": {"exclude": ["nope"]}}');
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'columns', '{"public.masked": {"mask": {"email": "hash"}}}');
SELECT data FROM pg_logical_slot_peek_changes('pubs', NULL, NULL, 'mask_salt', 'xyz');
\set VERBOSITY default
SELECT 'drop' FROM pg_drop_replication_slot('pubs');

-- the sink option "columns": create_table's columns, the salt, bad input
SELECT kusto_sink.create_sink('cols', 'pubs', 'masked', 'db', 'Masked',
	'{"metadata": "op", "create_table": true,
	  "columns": {"public.masked": {"exclude": ["secret"], "mask": {"email": "hash", "n": "hash", "note": {"fixed": "n/a"}}}}}');
SELECT kusto_sink.pause_sink('cols');
SELECT * FROM kusto_sink._kusto_columns('cols', 'Masked');
SELECT length(mask_salt) FROM kusto_sink.sink_secret WHERE sink = 'cols';
-- an existing Kusto table: the masked column must be a string there
\set VERBOSITY terse
SELECT kusto_sink._kusto_table_commands('cols', 'Masked',
	'{"OrderedColumns": [{"Name": "id", "CslType": "int"}, {"Name": "email", "CslType": "string"}, {"Name": "n", "CslType": "int"}]}');
\set VERBOSITY default
SELECT kusto_sink._kusto_table_commands('cols', 'Masked',
	'{"OrderedColumns": [{"Name": "id", "CslType": "int"}, {"Name": "email", "CslType": "string"}, {"Name": "n", "CslType": "string"}]}');
-- a publication's column list and the sink's rules together
SELECT kusto_sink.alter_sink('pubs', '{"columns": {"public.people": {"mask": {"name": "hash"}}}}');
SELECT * FROM kusto_sink._kusto_columns('pubs', 'People');
\set VERBOSITY terse
SELECT kusto_sink.alter_sink('cols', '{"columns": {"public.masked": {"include": ["id", "gone"]}}}');
SELECT kusto_sink.alter_sink('cols', '{"columns": {"public.nosuch": {"include": ["id"]}}}');
SELECT kusto_sink.alter_sink('cols', '{"columns": {"masked": {"include": ["id"]}}}');
SELECT kusto_sink.alter_sink('cols', '{"columns": {"public.masked": {"mask": {"id": "sha1"}}}}');
SELECT kusto_sink.alter_sink('cols', '{"columns": {"public.masked": {"include": []}}}');
SELECT kusto_sink.alter_sink('cols', '{"columns": "public.masked"}');
SELECT kusto_sink.create_sink('cols2', 'pubs', 'masked', 'db', 'Masked',
	'{"columns": {"public.masked": {"exclude": ["phone"], "mask": {"phone": "null"}}}}');
\set VERBOSITY default
SELECT * FROM kusto_sink._kusto_columns('cols', 'Masked');
-- the salt is a secret: only superusers read it, as the connection secrets
CREATE ROLE pubs_reader;
SELECT has_table_privilege('pubs_reader', 'kusto_sink.sink_secret', 'SELECT') AS can_read,
	(SELECT relacl FROM pg_class WHERE oid = 'kusto_sink.sink_secret'::regclass) IS NOT DISTINCT FROM
	(SELECT relacl FROM pg_class WHERE oid = 'kusto_sink.connection'::regclass) AS as_connection;
DROP ROLE pubs_reader;
-- and not in pg_dump's output, unlike the configuration tables
SELECT coalesce('kusto_sink.sink_secret'::regclass = ANY (extconfig), false) AS dumped FROM pg_extension WHERE extname = 'kusto_sink';
SELECT kusto_sink.drop_sink('cols');
SELECT count(*) FROM kusto_sink.sink_secret WHERE sink = 'cols';
SELECT kusto_sink.drop_sink('pubs');
SELECT kusto_sink.drop_connection('pubs');
