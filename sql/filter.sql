-- Table filters: a list of tables, schema.*, publications (with their
-- published operations), partitions through their parents, and the
-- extension's own schema, which is never decoded.
CREATE SCHEMA sales;
CREATE TABLE sales.orders (id int PRIMARY KEY);
CREATE TABLE sales.refunds (id int PRIMARY KEY);
CREATE TABLE public.keep (id int PRIMARY KEY);
CREATE TABLE public.skip (id int PRIMARY KEY);
CREATE TABLE public.measures (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE public.measures_2024 PARTITION OF public.measures FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE kusto_sink.internal (id int);
CREATE PUBLICATION pub_inserts FOR TABLE public.skip WITH (publish = 'insert');

SELECT 'init' FROM pg_create_logical_replication_slot('filter', 'kusto_sink');
INSERT INTO sales.orders VALUES (1);
INSERT INTO sales.refunds VALUES (1);
INSERT INTO public.keep VALUES (1);
INSERT INTO public.skip VALUES (1);
DELETE FROM public.skip;
INSERT INTO public.measures VALUES (1, '2024-06-01');
INSERT INTO kusto_sink.internal VALUES (1);

-- no filter: everything but the extension's own schema
SELECT data FROM pg_logical_slot_peek_changes('filter', NULL, NULL, 'metadata', 'op,schema,table');
-- a list: unqualified names are in schema public; partitions pass through their parent
SELECT data FROM pg_logical_slot_peek_changes('filter', NULL, NULL, 'metadata', 'op,schema,table',
	'tables', 'keep, sales.orders, measures');
-- schema.* and quoted names
SELECT data FROM pg_logical_slot_peek_changes('filter', NULL, NULL, 'metadata', 'op,schema,table',
	'tables', '"sales".*');
-- a publication that publishes inserts only, plus a table
SELECT data FROM pg_logical_slot_peek_changes('filter', NULL, NULL, 'metadata', 'op,schema,table',
	'publication', 'pub_inserts', 'tables', 'public.keep');
SELECT 'drop' FROM pg_drop_replication_slot('filter');
DROP TABLE kusto_sink.internal;
