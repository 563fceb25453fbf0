-- insert / update / delete / truncate under each REPLICA IDENTITY, updates
-- that change the key, and tables without a key.
CREATE TABLE ri_default (id int PRIMARY KEY, v text, w int);
CREATE TABLE ri_full (id int PRIMARY KEY, v text, w int);
ALTER TABLE ri_full REPLICA IDENTITY FULL;
CREATE TABLE ri_index (id int PRIMARY KEY, code text NOT NULL, v text);
CREATE UNIQUE INDEX ri_index_code ON ri_index (code);
ALTER TABLE ri_index REPLICA IDENTITY USING INDEX ri_index_code;
CREATE TABLE ri_nothing (id int PRIMARY KEY, v text);
ALTER TABLE ri_nothing REPLICA IDENTITY NOTHING;
CREATE TABLE no_key (a int, b text);

SELECT 'init' FROM pg_create_logical_replication_slot('changes', 'kusto_sink');

INSERT INTO ri_default VALUES (1, 'one', 10), (2, 'two', 20);
UPDATE ri_default SET v = 'uno' WHERE id = 1;		-- key unchanged
UPDATE ri_default SET id = 3 WHERE id = 2;			-- key changed: delete + update
DELETE FROM ri_default WHERE id = 1;				-- old key only

INSERT INTO ri_full VALUES (1, 'one', 10), (2, 'two', 20);
UPDATE ri_full SET v = 'uno' WHERE id = 1;
UPDATE ri_full SET id = 3 WHERE id = 2;
DELETE FROM ri_full WHERE id = 1;					-- whole old row

INSERT INTO ri_index VALUES (1, 'a', 'x');
UPDATE ri_index SET v = 'y';
UPDATE ri_index SET code = 'b';						-- identity changed
DELETE FROM ri_index;								-- old identity (code) only

INSERT INTO ri_nothing VALUES (1, 'x');
UPDATE ri_nothing SET v = 'y';
DELETE FROM ri_nothing;								-- no old row at all

INSERT INTO no_key VALUES (1, 'x');
UPDATE no_key SET b = 'y';
DELETE FROM no_key;

BEGIN;
INSERT INTO ri_default VALUES (10, 'in-tx', 1);
TRUNCATE ri_default, ri_full;
COMMIT;

SELECT data FROM pg_logical_slot_peek_changes('changes', NULL, NULL, 'metadata', 'op,table');
SELECT data FROM pg_logical_slot_peek_changes('changes', NULL, NULL, 'metadata', 'op,table', 'format', 'csv');

-- records of one transaction share commit LSN, time and xid; change LSNs grow
SELECT count(DISTINCT data::jsonb ->> '_commit_lsn') AS commit_lsns,
	   count(DISTINCT data::jsonb ->> '_xid') AS xids,
	   count(DISTINCT data::jsonb ->> '_commit_time') AS commit_times,
	   bool_and((data::jsonb ->> '_lsn')::numeric <= (data::jsonb ->> '_commit_lsn')::numeric) AS lsn_before_commit
FROM pg_logical_slot_peek_changes('changes', NULL, NULL)
WHERE data::jsonb ->> '_op' IN ('truncate') OR data::jsonb ->> 'v' = 'in-tx';

-- the slot can be consumed and confirms its position
SELECT count(*) > 0 AS consumed FROM pg_logical_slot_get_changes('changes', NULL, NULL);
SELECT count(*) AS left_over FROM pg_logical_slot_get_changes('changes', NULL, NULL);
SELECT 'drop' FROM pg_drop_replication_slot('changes');
