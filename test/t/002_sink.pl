# Sinks end to end against the local Kusto emulator: every change arrives
# with its values and metadata, several tables route to their Kusto tables,
# pause/resume/flush/alter/drop, a restart of PostgreSQL and an unreachable
# Kusto lose nothing, wrong credentials give a clear error state that
# alter_connection() fixes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;
use Sinks;

my $certs = PostgreSQL::Test::Utils::tempdir();
system('bash', "$ENV{KS_ROOT}/test/kusto-emulator/scripts/make-certs.sh", $certs) == 0
  or die "could not make a test certificate";
my $kusto = KustoEmulator->new('client-certificate' => "$certs/client.pem");
my $db = 'Sales';
$kusto->create_sink_table($db, 'Orders',
	'id:long, customer:string, amount:decimal, created_at:datetime, payload:dynamic');
$kusto->create_sink_table($db, 'Refunds', 'id:long, order_id:long');

my $node = Sinks::start_node('sink', $kusto);
my $url = $kusto->url;
$node->safe_psql('postgres', qq{
	CREATE TABLE orders (id int PRIMARY KEY, customer text, amount numeric(12,2),
		created_at timestamptz, payload jsonb);
	CREATE TABLE refunds (id int PRIMARY KEY, order_id int);
	SELECT kusto_sink.create_sink('sales', 'emu', 'orders, refunds', '$db', 'Orders',
		'{"tables": {"public.refunds": "Refunds"}, "ingestion_method": "streaming",
		  "batch_interval_ms": 100}');
});

sub status { return Sinks::status($node, 'sales', $_[0]); }

ok($node->poll_query_until('postgres',
	"SELECT state = 'running' FROM kusto_sink.status WHERE name = 'sales'"), 'the worker runs');

# ---- every kind of change, with values and metadata ----
$node->safe_psql('postgres', q{
	INSERT INTO orders SELECT g, 'c' || g, g * 1.5, '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 hour',
		jsonb_build_object('n', g) FROM generate_series(1, 1000) g;
	INSERT INTO refunds VALUES (1, 1), (2, 2);
	UPDATE orders SET customer = 'renamed' WHERE id = 1;
	DELETE FROM orders WHERE id = 2;
});
is($kusto->wait_count($db, 'Orders', 1002), 1002, 'inserts, the update and the delete arrive');
is($kusto->wait_count($db, 'Refunds', 2), 2, 'the second table goes to its own Kusto table');
my $ops = $kusto->query($db, 'Orders | summarize n = count() by _op | order by _op asc');
is_deeply($ops, [ [ 'delete', 1 ], [ 'insert', 1000 ], [ 'update', 1 ] ], 'operations');
my $row = $kusto->query($db, 'Orders | where id == 7 | project id, customer, amount, created_at, payload, _schema, _table');
is_deeply($row, [ [ 7, 'c7', '10.50', '2024-01-01T07:00:00Z', '{"n":7}', 'public', 'orders' ] ],
	'values: text, exact decimal, datetime in UTC, dynamic, source schema and table');
my $upd = $kusto->query($db, "Orders | where _op == 'update' | project id, customer");
is_deeply($upd, [ [ 1, 'renamed' ] ], 'the update carries the new row');
my $del = $kusto->query($db, "Orders | where _op == 'delete' | project id, customer");
is_deeply($del, [ [ 2, '' ] ], 'the delete carries the old key');
is(scalar @{ $kusto->query($db, 'Orders | where isnull(_lsn) or isnull(_commit_time) or isnull(_xid) | take 1') },
	0, 'every row has its change LSN, commit time and xid');

$node->safe_psql('postgres', 'TRUNCATE refunds');
is($kusto->wait_count($db, 'Refunds', 3), 3, 'a truncate is one record');
ok($node->poll_query_until('postgres',
	"SELECT lag_bytes < 1000000 AND rows_sent = 1005 FROM kusto_sink.status WHERE name = 'sales'"),
	'status counts the rows and the slot follows');

# ---- pause, resume, flush, alter ----
$node->safe_psql('postgres', "SELECT kusto_sink.pause_sink('sales')");
ok($node->poll_query_until('postgres',
	"SELECT worker_pid IS NULL AND state = 'paused' FROM kusto_sink.status"), 'paused: no worker');
$node->safe_psql('postgres', 'INSERT INTO orders SELECT g FROM generate_series(2001, 2100) g');
$node->safe_psql('postgres', "SELECT kusto_sink.resume_sink('sales')");
is($kusto->wait_count($db, 'Orders', 1102), 1102, 'changes made while paused arrive after resume');

ok(Sinks::alter_and_wait($node, 'sales', '{"batch_interval_ms": 60000}'), 'restarted after alter');
$node->safe_psql('postgres', 'INSERT INTO orders SELECT g FROM generate_series(3001, 3010) g');
ok($node->poll_query_until('postgres',
	"SELECT decoded_lsn >= pg_current_wal_lsn() FROM kusto_sink.status"), 'decoded');
is($kusto->count($db, 'Orders'), 1102, 'a 60 s batch interval holds the batch');
$node->safe_psql('postgres', "SELECT kusto_sink.flush_sink('sales')");
is($kusto->wait_count($db, 'Orders', 1112), 1112, 'flush_sink sends it now');
$node->safe_psql('postgres', qq{SELECT kusto_sink.alter_sink('sales', '{"batch_interval_ms": 100}')});

# ---- a restart of PostgreSQL in the middle of a stream ----
$node->safe_psql('postgres', 'INSERT INTO orders SELECT g FROM generate_series(4001, 9000) g');
$node->restart;
$node->safe_psql('postgres', 'INSERT INTO orders SELECT g FROM generate_series(9001, 9100) g');
my $n = $kusto->wait_count($db, 'Orders', 1112 + 5100);
cmp_ok($n, '>=', 1112 + 5100, 'nothing is lost across a restart (at least once)');
# (at least once: duplicates may have made up the count before the last ids came)
is($kusto->query_until($db, 'Orders | where id >= 4001 and id <= 9100 | summarize dcount(id)', [ [5100] ])->[0][0], 5100,
	'every id of the restart window is there');

# ---- Kusto unreachable for a while ----
$kusto->admin('POST', '/admin/faults', { kind => 'streaming', count => 3, action => { status => 503 } });
$node->safe_psql('postgres', 'INSERT INTO orders SELECT g FROM generate_series(10001, 10100) g');
is($kusto->query_until($db, 'Orders | where id between (10001 .. 10100) | summarize dcount(id)', [ [100] ])->[0][0], 100,
	'the batch arrives after 503s');
cmp_ok(status('retries'), '>=', 1, 'the retries are counted');
like(status('last_error'), qr/HTTP 503/, 'the last error says what happened');

# ---- test_connection ----
like($node->safe_psql('postgres', "SELECT ok || ' ' || detail FROM kusto_sink.test_connection('emu')"),
	qr/^true reached \Q$url\E: got a token and ran \.show version$/, 'test_connection reaches the cluster');
$node->safe_psql('postgres', qq{SELECT kusto_sink.create_connection('bad', '$url', 'application',
	tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'not-the-secret')});
like($node->safe_psql('postgres', "SELECT ok || ' ' || detail FROM kusto_sink.test_connection('bad')"),
	qr/^false invalid_client: AADSTS7000215: Invalid client secret provided\..* \(HTTP 401\)$/,
	'test_connection explains a wrong secret');
unlike($node->safe_psql('postgres', "SELECT detail FROM kusto_sink.test_connection('bad')"),
	qr/not-the-secret/, 'without showing it');
$node->safe_psql('postgres', qq{SELECT kusto_sink.create_connection('mi', '$url', 'managed_identity',
	managed_identity_id => 'my-client-id',
	options => '{"managed_identity_endpoint": "$url/metadata/identity/oauth2/token"}')});
like($node->safe_psql('postgres', "SELECT ok || ' ' || detail FROM kusto_sink.test_connection('mi')"),
	qr/^true reached/, 'managed identity reaches the cluster');
my $federated = PostgreSQL::Test::Utils::tempdir() . '/token';
PostgreSQL::Test::Utils::append_to_file($federated, "dev-federated-token\n");
$node->safe_psql('postgres', qq{SELECT kusto_sink.create_connection('wi', '$url', 'workload_identity',
	tenant_id => 'emulator', app_id => 'kusto-sink-dev', federated_token_file => '$federated')});
like($node->safe_psql('postgres', "SELECT ok || ' ' || detail FROM kusto_sink.test_connection('wi')"),
	qr/^true reached/, 'workload identity reaches the cluster');
$node->safe_psql('postgres', qq{SELECT kusto_sink.create_connection('cert', '$url', 'certificate',
	tenant_id => 'emulator', app_id => 'kusto-sink-dev',
	certificate_file => '$certs/client.pem', private_key_file => '$certs/client-key.pem')});
like($node->safe_psql('postgres', "SELECT ok || ' ' || detail FROM kusto_sink.test_connection('cert')"),
	qr/^true reached/, 'a certificate credential reaches the cluster');

# ---- a sink per auth method delivers rows ----
for my $c ('mi', 'wi', 'cert')
{
	$kusto->create_sink_table($db, "Auth_$c", 'id:long');
}
$node->safe_psql('postgres', 'CREATE TABLE authsrc (id int PRIMARY KEY)');
for my $c ('mi', 'wi', 'cert')
{
	$node->safe_psql('postgres', qq{SELECT kusto_sink.create_sink('auth_$c', '$c', 'authsrc', 'Sales', 'Auth_$c',
		'{"ingestion_method": "streaming", "batch_interval_ms": 100}')});
}
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 3 FROM kusto_sink.status WHERE name LIKE 'auth_%' AND state = 'running'"),
	'sinks with managed identity, workload identity and certificate connections run');
$node->safe_psql('postgres', 'INSERT INTO authsrc SELECT generate_series(1, 5)');
for my $c ('mi', 'wi', 'cert')
{
	is($kusto->wait_count($db, "Auth_$c", 5), 5, "the rows arrive through the $c connection");
}
$node->safe_psql('postgres', "SELECT kusto_sink.drop_sink('auth_$_')") for ('mi', 'wi', 'cert');

# ---- wrong credentials, then fixed ----
my $pid = status('worker_pid');
$node->safe_psql('postgres', "SELECT kusto_sink.alter_connection('emu', app_key => 'wrong')");
ok($node->poll_query_until('postgres',
	"SELECT worker_pid IS NOT NULL AND worker_pid <> $pid FROM kusto_sink.status"),
	'the worker restarts with the changed connection');
$node->safe_psql('postgres', 'INSERT INTO orders SELECT g FROM generate_series(20001, 20010) g');
ok($node->poll_query_until('postgres', "SELECT state = 'error' FROM kusto_sink.status"),
	'wrong credentials: state error');
like(status('last_error'), qr/invalid_client: AADSTS7000215: Invalid client secret/,
	'the error names the cause, without the secret');
unlike(status('last_error'), qr/wrong/, 'the secret is not in the error');
$node->safe_psql('postgres', "SELECT kusto_sink.alter_connection('emu', app_key => 'dev-secret')");
is($kusto->query_until($db, 'Orders | where id between (20001 .. 20010) | summarize dcount(id)', [ [10] ])->[0][0], 10,
	'fixed: the rows arrive');

# ---- a partitioned table with its own Kusto table in option "tables" ----
# its partitions' rows (snapshot and changes, also two levels down) go where
# the table goes, not to the sink's Kusto table (they went there before)
$kusto->create_sink_table($db, 'Plain', 'id:long, v:long');
$kusto->create_sink_table($db, 'Parted', 'id:long, v:long');
$node->safe_psql('postgres', qq{
	CREATE TABLE plain (id int PRIMARY KEY, v int);
	CREATE TABLE parted (id int PRIMARY KEY, v int) PARTITION BY RANGE (id);
	CREATE TABLE parted_a PARTITION OF parted FOR VALUES FROM (1) TO (100) PARTITION BY RANGE (id);
	CREATE TABLE parted_a1 PARTITION OF parted_a FOR VALUES FROM (1) TO (100);
	CREATE TABLE parted_b PARTITION OF parted FOR VALUES FROM (100) TO (200);
	INSERT INTO parted SELECT g, g FROM generate_series(1, 10) g;
	INSERT INTO parted SELECT g, g FROM generate_series(101, 110) g;
	SELECT kusto_sink.create_sink('parts', 'emu', 'plain, parted', '$db', 'Plain',
		'{"tables": {"public.parted": "Parted"}, "ingestion_method": "streaming", "batch_interval_ms": 100}');
});
Sinks::wait_state($node, 'parts', 'running');
$node->safe_psql('postgres', q{
	INSERT INTO parted SELECT g, g FROM generate_series(11, 20) g;
	INSERT INTO parted SELECT g, g FROM generate_series(111, 120) g;
	INSERT INTO plain SELECT g, g FROM generate_series(1, 5) g;
});
is_deeply($kusto->query_until($db, 'Parted | summarize count(), dcount(id), countif(id > 100)', [ [40, 40, 20] ]), [ [40, 40, 20] ],
	"a partitioned table's rows, snapshot and changes of both levels of partitions, are in its Kusto table");
is_deeply($kusto->query_until($db, 'Plain | summarize count(), dcount(id)', [ [5, 5] ]), [ [5, 5] ],
	"the sink's Kusto table holds the other table's rows alone");
$node->safe_psql('postgres', "SELECT kusto_sink.drop_sink('parts')");

# ---- drop ----
$node->safe_psql('postgres', "SELECT kusto_sink.drop_sink('sales')");
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0', 'drop_sink drops the slot');

$node->stop;
$kusto->stop;
done_testing();
