# A configuration change reaches the worker whatever it is doing (issue 14):
# a worker that retries a broken connection (refused: nothing in flight)
# restarts with the fixed connection within seconds, not after its retries
# (formerly never: the reload waited for every batch to be shipped), and
# every row then arrives exactly once.  A worker in restart backoff starts
# at once when its configuration changes, and one that waits for an answer
# of the core that does not come (a synchronous wait) stops waiting.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use JSON::PP ();
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;

my $kusto = KustoEmulator->new;
my $db = 'Db';
$kusto->create_sink_table($db, 'R1', 'id:long');
my $url = $kusto->url;
my $closed = PostgreSQL::Test::Cluster::get_free_port();	# nobody listens there

my $node = PostgreSQL::Test::Cluster->new('reload');
$node->init(allows_streaming => 'logical');
$node->start;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION kusto_sink;
	CREATE TABLE t1 (id int PRIMARY KEY);
	CREATE TABLE t2 (id int PRIMARY KEY);
	SELECT kusto_sink.create_connection('dead1', 'http://127.0.0.1:$closed', 'application',
		tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret');
	SELECT kusto_sink.create_connection('dead2', 'http://127.0.0.1:$closed', 'application',
		tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret');
});

sub status
{
	my ($sink, $col) = @_;
	return $node->safe_psql('postgres', "SELECT $col FROM kusto_sink.status WHERE name = '$sink'");
}

# ---- a worker retrying a refused connection ----
$node->safe_psql('postgres', q{
	SELECT kusto_sink.create_sink('r1', 'dead1', 't1', 'Db', 'R1',
		'{"ingestion_method": "streaming", "batch_interval_ms": 100}');
	INSERT INTO t1 SELECT generate_series(1, 100);
});
ok($node->poll_query_until('postgres',
	"SELECT retries >= 2 AND worker_pid IS NOT NULL FROM kusto_sink.status WHERE name = 'r1'"),
	'the worker retries the refused connection');
my $pid = status('r1', 'worker_pid');
my $t0 = time;
$node->safe_psql('postgres', "SELECT kusto_sink.alter_connection('dead1', cluster_url => '$url', app_key => 'dev-secret')");
ok($node->poll_query_until('postgres',
	"SELECT state = 'running' AND worker_pid <> $pid FROM kusto_sink.status WHERE name = 'r1'"),
	'a new worker runs');
my $elapsed = time - $t0;
note(sprintf('the retrying worker restarted %.1f s after alter_connection', $elapsed));
cmp_ok($elapsed, '<', 20, 'the change reached the retrying worker within seconds');
is($kusto->wait_count($db, 'R1', 100), 100, 'the rows arrive through the fixed connection');
ok($node->poll_query_until('postgres',
	"SELECT rows_sent = 100 AND lag_bytes < 100000 FROM kusto_sink.status WHERE name = 'r1'"),
	'the new worker sent them and the slot follows');
is($kusto->count($db, 'R1'), 100, 'every row exactly once');

# ---- a worker in restart backoff ----
my $offset = -s $node->logfile;
$node->safe_psql('postgres', q{
	SELECT kusto_sink.create_sink('r2', 'dead2', 't2', 'Db', 'R2',
		'{"ingestion_method": "streaming", "batch_interval_ms": 100, "create_table": true}');
	INSERT INTO t2 SELECT generate_series(1, 50);
});
# fails at start (it cannot read Kusto's tables): 1, 2, 4, 8 s apart, then 16 s
my $failures = 0;
my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
while (time < $deadline)
{
	my @m = (slurp_file($node->logfile, $offset) =~ /kusto_sink sink "r2": could not read the schema/g);
	$failures = scalar @m;
	last if $failures >= 5;
	Time::HiRes::usleep(100_000);
}
cmp_ok($failures, '>=', 5, 'the worker failed five times: the next start waits 16 s');
$node->poll_query_until('postgres', "SELECT worker_pid IS NULL FROM kusto_sink.status WHERE name = 'r2'");
$t0 = time;
$node->safe_psql('postgres', "SELECT kusto_sink.alter_connection('dead2', cluster_url => '$url', app_key => 'dev-secret')");
ok($node->poll_query_until('postgres',
	"SELECT state = 'running' FROM kusto_sink.status WHERE name = 'r2'"), 'the worker runs');
$elapsed = time - $t0;
note(sprintf('the worker in backoff started %.1f s after alter_connection', $elapsed));
cmp_ok($elapsed, '<', 10, 'the change ended the backoff (the next start was 16 s away)');
is($kusto->wait_count($db, 'R2', 50), 50, 'its rows arrive');

# ---- a worker stuck in a synchronous wait of the core ----
# (its first request, for the cluster's auth metadata, never gets an answer;
# the request timeout is two minutes)
$node->safe_psql('postgres', q{
	SELECT kusto_sink.drop_sink('r1');
	SELECT kusto_sink.drop_sink('r2');
});
my $metadata = sub { $kusto->admin('GET', '/admin/stats')->{requests}{metadata} // 0 };
my $before = $metadata->();
$kusto->admin('POST', '/admin/faults', { kind => 'metadata', count => 1, action => { hang => JSON::PP::true } });
$node->safe_psql('postgres', qq{
	CREATE TABLE t3 (id int PRIMARY KEY);
	SELECT kusto_sink.create_connection('slow', '$url', 'application',
		tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret',
		options => '{"request_timeout_ms": 120000}');
	SELECT kusto_sink.create_sink('r3', 'slow', 't3', 'Db', 'R3',
		'{"ingestion_method": "streaming", "batch_interval_ms": 100, "create_table": true}');
	INSERT INTO t3 SELECT generate_series(1, 30);
});
my $deadline3 = time + $PostgreSQL::Test::Utils::timeout_default;
Time::HiRes::usleep(50_000) while $metadata->() <= $before && time < $deadline3;
cmp_ok($metadata->(), '>', $before, 'the worker waits for the metadata that never comes');
ok($node->poll_query_until('postgres', "SELECT worker_pid IS NOT NULL FROM kusto_sink.status WHERE name = 'r3'"),
	'its worker is there');
$pid = status('r3', 'worker_pid');
$t0 = time;
$node->safe_psql('postgres', q{SELECT kusto_sink.alter_connection('slow', options => '{"request_timeout_ms": 60000}')});
ok($node->poll_query_until('postgres',
	"SELECT state = 'running' AND worker_pid <> $pid FROM kusto_sink.status WHERE name = 'r3'"),
	'a new worker runs');
$elapsed = time - $t0;
note(sprintf('the waiting worker restarted %.1f s after alter_connection', $elapsed));
cmp_ok($elapsed, '<', 20, 'the change ended the wait (the request would have waited two minutes)');
is($kusto->wait_count($db, 'R3', 30), 30, 'its rows arrive');

# ---- the reload log says nothing of a failure ----
unlike(slurp_file($node->logfile), qr/terminated by signal/, 'no worker crashed');

$node->stop;
$kusto->stop;
done_testing();
