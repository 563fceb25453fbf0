-- Unchanged TOASTed values: never a wrong value.  Without the old row they
-- are left out and named in _unchanged_toast; under REPLICA IDENTITY FULL
-- they are taken from the old row.
CREATE TABLE toasty (id int PRIMARY KEY, big text, small int);
CREATE TABLE toasty_full (id int PRIMARY KEY, big text, small int);
ALTER TABLE toasty_full REPLICA IDENTITY FULL;
-- incompressible, so it goes out of line
CREATE FUNCTION big_text(seed int) RETURNS text LANGUAGE sql AS
$$ SELECT string_agg(md5((seed * 1000 + g)::text), '') FROM generate_series(1, 400) g $$;

SELECT 'init' FROM pg_create_logical_replication_slot('toast', 'kusto_sink');
INSERT INTO toasty VALUES (1, big_text(1), 1);
INSERT INTO toasty_full VALUES (1, big_text(1), 1);
UPDATE toasty SET small = 2;
UPDATE toasty_full SET small = 2;
UPDATE toasty SET big = big_text(2), small = 3;

SELECT data::jsonb ->> '_table' AS tab, data::jsonb ->> '_op' AS op, data::jsonb ->> 'small' AS small,
	   data::jsonb ? 'big' AS has_big, length(data::jsonb ->> 'big') AS big_len,
	   md5(data::jsonb ->> 'big') = md5(big_text(CASE WHEN data::jsonb ->> 'small' = '3' THEN 2 ELSE 1 END)) AS big_right,
	   data::jsonb -> '_unchanged_toast' AS unchanged
FROM pg_logical_slot_peek_changes('toast', NULL, NULL, 'metadata', 'op,table,unchanged_toast');

-- CSV: the column stays in place as an empty field
SELECT regexp_replace(data, '^(\d+),([^,]{0,20})[^,]*,', '\1,\2...,') AS csv
FROM pg_logical_slot_peek_changes('toast', NULL, NULL, 'metadata', 'op,unchanged_toast', 'format', 'csv');
SELECT 'drop' FROM pg_drop_replication_slot('toast');
