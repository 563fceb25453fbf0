-- Security (issue 14): owners, endpoints and secrets, server files, one
-- validator with clear errors.
\set SHOW_CONTEXT never
CREATE TABLE sec_t (id int PRIMARY KEY, v text, "_op_clash" text);
CREATE TABLE sec_other (id int PRIMARY KEY);
CREATE ROLE sec_alice;
CREATE ROLE sec_bob;
CREATE ROLE sec_ops;
GRANT sec_alice TO sec_ops;
GRANT USAGE ON SCHEMA kusto_sink TO sec_alice, sec_bob, sec_ops;
GRANT SELECT ON sec_t, sec_other TO sec_alice, sec_bob;
GRANT SELECT ON kusto_sink.connections, kusto_sink.sinks, kusto_sink.status TO sec_alice, sec_bob, sec_ops;
DO $$
DECLARE
	f text;
BEGIN
	FOREACH f IN ARRAY ARRAY['create_connection', 'alter_connection', 'drop_connection', 'test_connection',
		'create_sink', '_create_sink', 'alter_sink', 'pause_sink', 'resume_sink', 'flush_sink',
		'drop_sink', 'resnapshot_sink', 'cancel_snapshot', 'retry_dead_letter', 'latest_state_kql',
		'_status', '_skipped_tables', '_pipeline_status', '_slot_sync_problem'] LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION kusto_sink.%I TO sec_alice, sec_bob, sec_ops', f);
	END LOOP;
END
$$;

-- ---- endpoints: https, or http only to loopback; checked case-insensitively ----
SET ROLE sec_alice;
SELECT kusto_sink.create_connection('a_conn', 'http://127.0.0.1:9', 'application',
	tenant_id => 't', app_id => 'a', app_key => 'alice-secret');
SELECT kusto_sink.create_connection('x1', 'HTTPS://c.kusto.windows.net/', 'token', token => 'x');
SELECT kusto_sink.create_connection('x2', 'http://10.0.0.1', 'token', token => 'x');
SELECT kusto_sink.create_connection('x3', 'https://c.kusto.windows.net', 'token', token => 'x',
	options => '{"authority_host": "http://10.0.0.1"}');
SELECT kusto_sink.create_connection('x4', 'https://c.kusto.windows.net', 'token', token => 'x',
	options => '{"authority_host": "file:///etc"}');
SELECT kusto_sink.create_connection('x5', 'https://c.kusto.windows.net', 'token', token => 'x',
	options => '{"ingest_url": "ftp://ingest-c.kusto.windows.net"}');
SELECT kusto_sink.create_connection('x6', 'https://c.kusto.windows.net', 'token', token => 'x',
	options => '{"proxy": "http://proxy.example.com:3128"}');
SELECT kusto_sink.create_connection('x7', 'https://c.kusto.windows.net', 'token', token => 'x',
	options => '{"connect_timeout_ms": 1000000000000}');
SELECT kusto_sink.create_connection('x8', 'https://c.kusto.windows.net', 'token', token => repeat('t', 70000));
SELECT name, cluster_url FROM kusto_sink.connections ORDER BY name;

-- a changed endpoint drops the stored secret unless the call gives it again
SELECT kusto_sink.alter_connection('a_conn', options => '{"authority_host": "https://login.example.com"}');
SELECT name, has_secret, options FROM kusto_sink.connections WHERE name = 'a_conn';
SELECT * FROM kusto_sink.test_connection('a_conn');
SELECT kusto_sink.alter_connection('a_conn', cluster_url => 'http://127.0.0.1:10', app_key => 'alice-secret-2');
SELECT name, cluster_url, has_secret FROM kusto_sink.connections WHERE name = 'a_conn';
SELECT kusto_sink.alter_connection('a_conn', tenant_id => 't2');
SELECT name, tenant_id, has_secret FROM kusto_sink.connections WHERE name = 'a_conn';

-- ---- server files and the server's own identity: superusers and pg_read_server_files ----
SELECT kusto_sink.create_connection('f1', 'https://c.kusto.windows.net', 'certificate', tenant_id => 't',
	app_id => 'a', certificate_file => '/etc/ssl/cert.pem', private_key_file => '/etc/ssl/key.pem');
SELECT kusto_sink.create_connection('f2', 'https://c.kusto.windows.net', 'token', token => 'x',
	options => '{"ca_file": "/etc/passwd"}');
SELECT kusto_sink.create_connection('f3', 'https://c.kusto.windows.net', 'token',
	options => '{"token_file": "/etc/hostname"}');
SELECT kusto_sink.create_connection('f4', 'https://c.kusto.windows.net', 'managed_identity');
SELECT kusto_sink.create_connection('f5', 'https://c.kusto.windows.net', 'workload_identity');
SELECT kusto_sink.alter_connection('a_conn', options => '{"app_key_file": "/etc/hostname"}');
RESET ROLE;
GRANT pg_read_server_files TO sec_alice;
SET ROLE sec_alice;
SELECT kusto_sink.create_connection('f3', 'https://c.kusto.windows.net', 'token',
	options => '{"token_file": "/etc/hostname"}');
SELECT name, has_secret, options FROM kusto_sink.connections WHERE name = 'f3';
SELECT kusto_sink.drop_connection('f3');
RESET ROLE;
REVOKE pg_read_server_files FROM sec_alice;

-- ---- owners: a role acts only on its own connections and sinks ----
SET ROLE sec_alice;
SELECT kusto_sink.alter_connection('a_conn', app_key => 'alice-secret-3');
SELECT kusto_sink.create_sink('a_sink', 'a_conn', 'sec_other', 'db', 'T');
SET ROLE sec_bob;
SELECT kusto_sink.create_connection('b_conn', 'http://127.0.0.1:9', 'token', token => 'bob');
SELECT name FROM kusto_sink.connections ORDER BY name;
SELECT name FROM kusto_sink.sinks ORDER BY name;
SELECT name FROM kusto_sink.status ORDER BY name;
SELECT name FROM kusto_sink._status() ORDER BY name;
SELECT kusto_sink.alter_connection('a_conn', cluster_url => 'https://evil.example.com');
SELECT kusto_sink.drop_connection('a_conn');
SELECT * FROM kusto_sink.test_connection('a_conn');
SELECT kusto_sink.create_sink('b_sink', 'a_conn', 'sec_other', 'db', 'T');
SELECT kusto_sink.alter_sink('a_sink', '{"batch_size": 1}');
SELECT kusto_sink.pause_sink('a_sink');
SELECT kusto_sink.resume_sink('a_sink');
SELECT kusto_sink.flush_sink('a_sink');
SELECT kusto_sink.resnapshot_sink('a_sink');
SELECT kusto_sink.cancel_snapshot('a_sink');
SELECT kusto_sink.retry_dead_letter('a_sink');
SELECT kusto_sink.latest_state_kql('a_sink', 'sec_other');
SELECT kusto_sink.drop_sink('a_sink');
-- calling the internal functions directly is not possible
SELECT kusto_sink.impl_drop_sink('sec_bob', 'a_sink', false);
-- a member of the owner role acts on its sinks
SET ROLE sec_ops;
SELECT name FROM kusto_sink.sinks ORDER BY name;
SELECT kusto_sink.pause_sink('a_sink');
SELECT name, enabled, owner FROM kusto_sink.sinks WHERE name = 'a_sink';
SELECT kusto_sink.resume_sink('a_sink');
RESET ROLE;
SELECT name, owner FROM kusto_sink.sinks ORDER BY name;
SELECT name, owner FROM kusto_sink.connections ORDER BY name;
SELECT has_function_privilege('public', 'kusto_sink._status()', 'EXECUTE') AS public_status;

-- ---- one validator: every bad value at the call that supplies it ----
SET ROLE sec_alice;
SELECT kusto_sink.alter_sink('a_sink', '{"metadata": "bogus"}');
SELECT kusto_sink.alter_sink('a_sink', '{"op_column": "id"}');
SELECT kusto_sink.alter_sink('a_sink', '{"op_column": ""}');
SELECT kusto_sink.alter_sink('a_sink', '{"op_column": "a;b"}');
SELECT kusto_sink.alter_sink('a_sink', '{"tables": {"": "X"}}');
SELECT kusto_sink.alter_sink('a_sink', '{"tables": {"public.sec_t": "X"}}');
SELECT kusto_sink.alter_sink('a_sink', '{"tables": {"public.sec_other": ""}}');
SELECT kusto_sink.alter_sink('a_sink', jsonb_build_object('tables', jsonb_build_object('public.sec_other', repeat('x', 1025))));
SELECT kusto_sink.alter_sink('a_sink', '{"client_batch_size_limit": 100000}');
SELECT kusto_sink.create_sink('c_sink', 'a_conn', 'sec_t', 'db', '');
SELECT kusto_sink.create_sink('c_sink', 'a_conn', 'sec_t', 'db', repeat('x', 10000000));
SELECT kusto_sink.create_sink('c_sink', 'a_conn', 'sec_t', 'my db!', 'T');
SELECT kusto_sink.create_sink('c_sink', 'a_conn', 'sec_t', 'db', 'T', '{"op_column": "_op_clash"}');
SELECT kusto_sink.create_sink('c_sink', 'a_conn', 'sec_t', 'db', 'T', '{"tables": {"public.sec_other": "X"}}');
-- a publication's table may join it later, but is named schema.table
RESET ROLE;
CREATE PUBLICATION sec_pub FOR TABLE sec_other;
SET ROLE sec_alice;
SELECT kusto_sink.create_sink('p_sink', 'a_conn', 'publication:sec_pub', 'db', 'T', '{"tables": {"nosuch": "X"}}');
SELECT kusto_sink.drop_sink('a_sink');
SELECT kusto_sink.drop_connection('a_conn');
SELECT kusto_sink.drop_connection('x1');
SET ROLE sec_bob;
SELECT kusto_sink.drop_connection('b_conn');
RESET ROLE;
SELECT count(*) FROM kusto_sink.connection;
SELECT count(*) FROM kusto_sink.sink;
REVOKE ALL ON SCHEMA kusto_sink FROM sec_alice, sec_bob, sec_ops;
REVOKE ALL ON ALL TABLES IN SCHEMA kusto_sink FROM sec_alice, sec_bob, sec_ops;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA kusto_sink FROM sec_alice, sec_bob, sec_ops;
DROP PUBLICATION sec_pub;
DROP TABLE sec_t, sec_other;
DROP ROLE sec_ops, sec_alice, sec_bob;
