-- Every built-in type family through the kusto_sink output plugin, with the
-- metadata that varies between runs (LSNs, xids, times) switched off.
CREATE EXTENSION kusto_sink;
SET extra_float_digits = 0;
SET timezone = 'America/New_York';	-- output must not depend on it
SET lc_monetary = 'C';

CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TYPE pair AS (a int, b text);

CREATE TABLE alltypes (
	id int PRIMARY KEY,
	c_bool bool, c_int2 int2, c_int4 int4, c_int8 int8, c_oid oid,
	c_float4 float4, c_float8 float8, c_numeric numeric,
	c_text text, c_varchar varchar(10), c_bpchar char(4), c_name name, c_char "char",
	c_timestamptz timestamptz, c_timestamp timestamp, c_date date,
	c_time time, c_timetz timetz, c_interval interval,
	c_uuid uuid, c_json json, c_jsonb jsonb, c_bytea bytea,
	c_int_arr int[], c_text_arr text[], c_ts_arr timestamptz[], c_num_arr numeric[],
	c_enum mood, c_domain posint, c_composite pair, c_comp_arr pair[],
	c_inet inet, c_point point, c_range int4range, c_money money, c_bit bit(4), c_xml xml
);

SELECT 'init' FROM pg_create_logical_replication_slot('types', 'kusto_sink');

-- all NULL
INSERT INTO alltypes (id) VALUES (1);
-- ordinary values
INSERT INTO alltypes VALUES (2,
	true, 32767, -2147483648, 9223372036854775807, 4294967295,
	1.5, -0.1, 12345678901234567890.123456789,
	'plain', 'varchar', 'ab', 'a_name', 'x',
	'2024-02-29 23:59:59.999999+00', '2024-01-02 03:04:05', '2024-01-02',
	'13:14:15.5', '13:14:15+02', '-1 day 02:03:04.000005',
	'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
	E'{"k":\n  [1, "two", null]}', '{"nested": {"a": [1, 2.5, "x"]}, "b": true}', '\x000102ff',
	'{1,NULL,3}', '{"a","b,c","d\"e",NULL}', '{"2024-01-01 00:00:00+00"}', '{1.10,NaN}',
	'happy', 42, ROW(1, 'x"y'), ARRAY[ROW(2, NULL)::pair],
	'192.168.0.1/24', '(1,2)', '[1,10)', '12.34', B'1010', '<a>1</a>');
-- edges: special floats, numerics, infinite and out-of-range datetimes, long intervals
INSERT INTO alltypes (id, c_float4, c_float8, c_numeric, c_timestamptz, c_timestamp, c_date, c_interval, c_time)
VALUES
	(3, 'Infinity', '-Infinity', 'NaN', 'infinity', '-infinity', 'infinity', '178000000 years', '24:00:00'),
	(4, 'NaN', 'NaN', 'Infinity', '0001-01-01 00:00:00+00', '10000-01-01 00:00:00', '4713-01-01 BC', '1 mon', '00:00:00'),
	(5, '-0', '1e308', '-0.000000000000000000000000000001', '1999-12-31 23:59:59.5-05', '1970-01-01', '9999-12-31', '-3 years -2 mons', '23:59:59.999999'),
	(6, 3.4e38, 5e-324, '1e-100', '0001-01-01 00:00:00+01', '9999-12-31 23:59:59.999999', '0001-01-01', '00:00:00', NULL);

SELECT data FROM pg_logical_slot_peek_changes('types', NULL, NULL, 'metadata', 'op');
SELECT data FROM pg_logical_slot_peek_changes('types', NULL, NULL, 'metadata', 'op', 'format', 'csv');

-- every JSON line is valid JSON with one key per non-null column plus _op
SELECT count(*) AS lines, bool_and(data::jsonb ? '_op') AS all_have_op
FROM pg_logical_slot_peek_changes('types', NULL, NULL);

-- dynamic values are embedded JSON, not quoted strings
SELECT jsonb_typeof(data::jsonb -> 'c_jsonb') AS jsonb, jsonb_typeof(data::jsonb -> 'c_json') AS json,
	   jsonb_typeof(data::jsonb -> 'c_int_arr') AS arr, jsonb_typeof(data::jsonb -> 'c_composite') AS comp,
	   jsonb_typeof(data::jsonb -> 'c_numeric') AS numeric
FROM pg_logical_slot_peek_changes('types', NULL, NULL)
WHERE data::jsonb ->> 'id' = '2';

SELECT 'drop' FROM pg_drop_replication_slot('types');
