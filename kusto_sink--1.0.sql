/* kusto_sink--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION kusto_sink" to load this file. \quit

COMMENT ON SCHEMA kusto_sink IS 'kusto_sink: stream committed table changes into Azure Data Explorer (Kusto)';

-- The Kusto type that the output plugin writes values of a PostgreSQL type as.
CREATE FUNCTION kusto_sink.kusto_type(pg_type regtype)
RETURNS text
AS 'MODULE_PATHNAME', 'kusto_sink_kusto_type'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

COMMENT ON FUNCTION kusto_sink.kusto_type(regtype) IS
'the Kusto type that kusto_sink writes values of a PostgreSQL type as';
