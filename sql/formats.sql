-- JSON escaping (RFC 8259) and CSV quoting (RFC 4180) of awkward text, and a
-- check that PostgreSQL's own CSV parser reads every record with the right
-- number of fields.
SET client_encoding = 'UTF8';
CREATE TABLE texts (id int PRIMARY KEY, t text, n int);
SELECT 'init' FROM pg_create_logical_replication_slot('formats', 'kusto_sink');

INSERT INTO texts VALUES
	(1, 'comma, and "quotes"', 1),
	(2, E'line\nbreak\r\nand tab\t end', 2),
	(3, E'controls \x01\x02\x1f and backslash \\ and slash /', 3),
	(4, 'unicode: é 漢字 😀 ‮', 4),
	(5, '', 5),
	(6, NULL, NULL),
	(7, '"', 7),
	(8, ',', 8),
	(9, ' leading and trailing spaces ', 9);

SELECT data FROM pg_logical_slot_peek_changes('formats', NULL, NULL, 'metadata', 'none');
SELECT data FROM pg_logical_slot_peek_changes('formats', NULL, NULL, 'metadata', 'none', 'format', 'csv');

-- JSON: each line parses and round-trips the text exactly
SELECT (data::jsonb ->> 'id')::int AS id,
	   (data::jsonb ->> 't') IS NOT DISTINCT FROM t.t AS same_text
FROM pg_logical_slot_peek_changes('formats', NULL, NULL, 'metadata', 'none') c
JOIN texts t ON t.id = (c.data::jsonb ->> 'id')::int
ORDER BY 1;

-- CSV: written to a file and read back with COPY ... (FORMAT csv), which
-- fails on a record with too many or too few fields; the values round-trip.
\getenv builddir PG_ABS_BUILDDIR
\set csvfile :builddir '/results/formats.csv'
\pset format unaligned
\pset tuples_only on
\o :csvfile
SELECT data FROM pg_logical_slot_peek_changes('formats', NULL, NULL, 'format', 'csv');
\o
\pset format aligned
\pset tuples_only off
CREATE TABLE csv_back (id int, t text, n int, _op text, _lsn bigint, _commit_lsn bigint,
	_commit_time timestamptz, _xid bigint, _schema text, _table text, _unchanged_toast text);
COPY csv_back FROM :'csvfile' (FORMAT csv);
SELECT b.id, coalesce(b.t, '') = coalesce(t.t, '') AS same_text,
	   b._op, b._schema, b._table, b._lsn > 0 AS has_lsn, b._commit_lsn >= b._lsn AS commit_after,
	   b._commit_time <= now() AS committed, b._xid > 0 AS has_xid
FROM csv_back b JOIN texts t USING (id) ORDER BY b.id;

SELECT 'drop' FROM pg_drop_replication_slot('formats');
