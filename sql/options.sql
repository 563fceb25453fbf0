-- Option validation: every bad option names itself and the allowed values.
-- (No CONTEXT lines: they carry LSNs, which vary.)
\set SHOW_CONTEXT never
CREATE TABLE opt (id int PRIMARY KEY, v text);
CREATE TABLE opt_clash (id int PRIMARY KEY, _op text);
SELECT 'init' FROM pg_create_logical_replication_slot('options', 'kusto_sink');
INSERT INTO opt VALUES (1, 'x');

SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'format', 'xml');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'formats', 'json');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'metadata', 'op,colour');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'op_column', '');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'op_column', '_table');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'tables', 'a.b.c');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'publication', 'nosuchpub');

-- renamed metadata columns; format and metadata names are case-insensitive where documented
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL,
	'format', 'JSON', 'metadata', 'op,schema,table', 'op_column', 'Operation', 'table_column', 'source table');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'metadata', 'ALL', 'format', 'CSV', 'lsn_column', 'version') LIMIT 0;
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'metadata', 'none');

-- a user column named like a metadata column is an error, until renamed
INSERT INTO opt_clash VALUES (1, 'mine');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'metadata', 'op');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'metadata', 'op', 'op_column', '_kind');
SELECT 'drop' FROM pg_drop_replication_slot('options');
