-- Connections: validation of every argument, secrets kept out of the views
-- and out of pg_stat_activity, privileges.
\set SHOW_CONTEXT never
SELECT kusto_sink.create_connection('dev', 'http://127.0.0.1:8080/', 'application',
	tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret');
SELECT kusto_sink.create_connection(name => 'prod', cluster_url => 'https://mycluster.westeurope.kusto.windows.net',
	auth => 'certificate', tenant_id => 't', app_id => 'a',
	certificate_file => '/etc/kusto/cert.pem', private_key_file => '/etc/kusto/key.pem',
	options => '{"jwt_algorithm": "RS256", "connect_timeout_ms": 5000}');
SELECT kusto_sink.create_connection('mi', 'https://c.kusto.windows.net', 'managed_identity');
SELECT kusto_sink.create_connection('wi', 'https://c.kusto.windows.net', 'workload_identity',
	federated_token_file => '/var/run/secrets/azure/tokens/azure-identity-token');
SELECT kusto_sink.create_connection('tok', 'https://c.kusto.windows.net', 'token', token => 'eyJ0eXAi');
SELECT name, cluster_url, auth, tenant_id, app_id, has_secret, certificate_file, private_key_file,
	managed_identity_id, federated_token_file, options, owner = session_user::regrole AS owned
FROM kusto_sink.connections ORDER BY name;

-- the secret is not in pg_stat_activity after the call
DO $$
BEGIN
	PERFORM kusto_sink.alter_connection('tok', token => 'another-secret');
	RAISE NOTICE 'activity: %', (SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid());
END
$$;

-- errors
SELECT kusto_sink.create_connection('dev', 'http://127.0.0.1:8080', 'token', token => 'x');
SELECT kusto_sink.create_connection('bad name', 'https://c.kusto.windows.net', 'managed_identity');
SELECT kusto_sink.create_connection('c1', 'http://c.kusto.windows.net', 'managed_identity');
SELECT kusto_sink.create_connection('c1', 'mycluster', 'managed_identity');
SELECT kusto_sink.create_connection('c1', 'https://c.kusto.windows.net/?x=1', 'managed_identity');
SELECT kusto_sink.create_connection('c1', 'https://c.kusto.windows.net', 'password');
SELECT kusto_sink.create_connection('c1', 'https://c.kusto.windows.net', 'application', tenant_id => 't', app_id => 'a');
SELECT kusto_sink.create_connection('c1', 'https://c.kusto.windows.net', 'managed_identity', app_key => 'x');
SELECT kusto_sink.create_connection('c1', 'https://c.kusto.windows.net', 'token', token => '');
SELECT kusto_sink.create_connection('c1', 'https://c.kusto.windows.net', 'certificate', tenant_id => 't', app_id => 'a',
	certificate_file => 'cert.pem', private_key_file => '/k.pem');
SELECT kusto_sink.create_connection('c1', 'https://c.kusto.windows.net', 'managed_identity', options => '{"proxi": "x"}');
SELECT kusto_sink.create_connection('c1', 'https://c.kusto.windows.net', 'managed_identity', options => '{"proxy": "not a url"}');
SELECT kusto_sink.create_connection('c1', 'https://c.kusto.windows.net', 'managed_identity', options => '{"connect_timeout_ms": -1}');
SELECT kusto_sink.create_connection('c1', 'https://c.kusto.windows.net', 'managed_identity', options => '{"jwt_algorithm": "HS256"}');
SELECT kusto_sink.create_connection('c1', 'https://c.kusto.windows.net', 'managed_identity', options => '[1]');
SELECT kusto_sink.alter_connection('nosuch', token => 'x');
SELECT kusto_sink.drop_connection('nosuch');
SELECT kusto_sink.drop_connection('nosuch', if_exists => true);

-- changing the auth method starts from that method's own arguments
SELECT kusto_sink.alter_connection('dev', auth => 'token', token => 't');
SELECT kusto_sink.alter_connection('dev', auth => 'managed_identity', managed_identity_id => 'client-id',
	options => '{"managed_identity_endpoint": "http://127.0.0.1:8080/metadata/identity/oauth2/token"}');
SELECT name, auth, tenant_id, app_id, has_secret, managed_identity_id, options FROM kusto_sink.connections WHERE name = 'dev';
-- a changed endpoint drops the credentials (secrets, server files, a secret's file), not
-- the CA file; which they are is the C code's table (ks_alter_connection_args)
SELECT kusto_sink.create_connection('mv', 'https://c.kusto.windows.net', 'token',
	options => '{"token_file": "/run/token", "ca_file": "/etc/ssl/ca.pem"}');
SELECT kusto_sink.alter_connection('mv', cluster_url => 'https://d.kusto.windows.net/',
	options => '{"token_file": "/run/token", "ca_file": "/etc/ssl/ca.pem", "authority_host": "https://login.example.com"}');
SELECT cluster_url, has_secret, options FROM kusto_sink.connections WHERE name = 'mv';
SELECT kusto_sink.alter_connection('mv', cluster_url => 'https://e.kusto.windows.net');
SELECT cluster_url, has_secret, options FROM kusto_sink.connections WHERE name = 'mv';
SELECT kusto_sink.alter_connection('mv', auth => 'certificate', tenant_id => 't', app_id => 'a',
	certificate_file => '/etc/ssl/c.pem', private_key_file => '/etc/ssl/k.pem');
SELECT kusto_sink.alter_connection('mv', cluster_url => 'https://f.kusto.windows.net');
SELECT kusto_sink.alter_connection('mv', cluster_url => 'https://f.kusto.windows.net',
	certificate_file => '/etc/ssl/c2.pem', private_key_file => '/etc/ssl/k2.pem');
SELECT cluster_url, auth, tenant_id, certificate_file, private_key_file, options FROM kusto_sink.connections WHERE name = 'mv';
SELECT kusto_sink.drop_connection('mv');

-- only superusers read the table with the secrets; PUBLIC may not call the functions
CREATE ROLE kusto_nobody;
SET ROLE kusto_nobody;
SELECT app_key FROM kusto_sink.connection;
SELECT name FROM kusto_sink.connections;
SELECT kusto_sink.drop_connection('dev');
RESET ROLE;
-- a role granted the functions manages its own connections without reading
-- secrets, and not those of others (mi is the superuser's)
GRANT USAGE ON SCHEMA kusto_sink TO kusto_nobody;
GRANT EXECUTE ON FUNCTION kusto_sink.drop_connection(text, boolean) TO kusto_nobody;
SET ROLE kusto_nobody;
SELECT kusto_sink.drop_connection('mi');
SELECT app_key FROM kusto_sink.connection;
RESET ROLE;
REVOKE ALL ON SCHEMA kusto_sink FROM kusto_nobody;
REVOKE ALL ON FUNCTION kusto_sink.drop_connection(text, boolean) FROM kusto_nobody;
DROP ROLE kusto_nobody;

SELECT kusto_sink.drop_connection(name) FROM kusto_sink.connections ORDER BY name;
SELECT count(*) FROM kusto_sink.connection;
