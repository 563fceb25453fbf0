-- The type mapping as SQL sees it: kusto_sink.kusto_type(regtype).
SELECT t AS pg_type, kusto_sink.kusto_type(t::regtype) AS kusto_type
FROM unnest(ARRAY['bool', 'int2', 'int4', 'int8', 'oid', 'float4', 'float8', 'numeric',
	'text', 'varchar', 'char', 'name', '"char"', 'timestamptz', 'timestamp', 'date',
	'time', 'timetz', 'interval', 'uuid', 'json', 'jsonb', 'bytea', 'int4[]', 'text[][]',
	'inet', 'point', 'int4range', 'money', 'xml', 'tsvector', 'pair', 'mood', 'posint']) AS t;
SELECT kusto_sink.kusto_type(0);
