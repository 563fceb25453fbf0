# Upgrades: a catalog installed as version 1.0 keeps working with this
# library (which warns and says what to run), and ALTER EXTENSION kusto_sink
# UPDATE brings it to 1.1 with every connection and sink kept; every
# committed change arrives (exactly once for the exactly-once sink).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;

my $kusto = KustoEmulator->new;
my $db = 'Up';
$kusto->create_sink_table($db, 'Plain', 'id:long, note:string');
$kusto->create_sink_table($db, 'Once', 'id:long, note:string');

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init(allows_streaming => 'logical');
$node->start;
my $url = $kusto->url;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION kusto_sink VERSION '1.0';
	CREATE TABLE t (id int PRIMARY KEY, note text);
	SELECT kusto_sink.create_connection('emu', '$url', 'application',
		tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret');
});
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'kusto_sink'"),
	'1.0', 'installed as version 1.0');
# a monitoring role as 1.0 let one be made: USAGE and SELECT on the view
$node->safe_psql('postgres', q{
	CREATE ROLE watcher LOGIN;
	GRANT USAGE ON SCHEMA kusto_sink TO watcher;
	GRANT SELECT ON kusto_sink.status TO watcher;
});
is($node->safe_psql('postgres', 'SELECT count(*) >= 0 FROM kusto_sink.status', extra_params => [ '-U', 'watcher' ]),
	't', 'under 1.0 the monitoring role reads kusto_sink.status');
$node->safe_psql('postgres', q{SELECT kusto_sink.create_sink('plain', 'emu', 't', 'Up', 'Plain',
	'{"ingestion_method": "streaming", "batch_interval_ms": 100}')});
$node->safe_psql('postgres', q{SELECT kusto_sink.create_sink('once', 'emu', 't', 'Up', 'Once',
	'{"ingestion_method": "queued", "delivery_guarantee": "exactly_once", "batch_interval_ms": 100}')});

my $next = 1;
sub insert_rows
{
	my ($n) = @_;
	my $to = $next + $n - 1;
	$node->safe_psql('postgres', "INSERT INTO t SELECT g, 'n' || g FROM generate_series($next, $to) g");
	$next = $to + 1;
	return $to;
}

# every id once in Once; every id (at least once) in Plain
sub delivered
{
	my ($total, $what) = @_;
	$kusto->wait_count($db, 'Once', $total);
	is_deeply($kusto->query($db,
		"Once | summarize c = count() by id | summarize rows = sum(c), ids = dcount(id), lo = min(id), hi = max(id)"),
		[ [ $total, $total, 1, $total ] ], "$what: every row in Once exactly once");
	is_deeply($kusto->query_until($db, 'Plain | summarize ids = dcount(id), lo = min(id), hi = max(id)',
		[ [ $total, 1, $total ] ]), [ [ $total, 1, $total ] ], "$what: every row in Plain");
}

delivered(insert_rows(100), 'on the 1.0 catalog');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 2 FROM kusto_sink.status
	   WHERE last_error LIKE 'the kusto_sink catalog is version 1.0%run ALTER EXTENSION kusto_sink UPDATE'}),
	'the status says what to run');
ok($node->log_contains('catalog is version 1.0, the library 1.1: run ALTER EXTENSION kusto_sink UPDATE'),
	'and so does the log');

my $config = q{SELECT string_agg(format('%s|%s|%s|%s|%s|%s', name, connection, source_tables, kusto_table, options, owner), ',' ORDER BY name) FROM kusto_sink.sink};
# the secret itself (1.1 keeps it in kusto_sink.connection_secret, out of a dump)
my $conns = q{SELECT string_agg(format('%s|%s|%s|%s|%s', name, cluster_url, app_key, token, owner), ',' ORDER BY name) FROM kusto_sink.connection};
my $conns_1_1 = q{SELECT string_agg(format('%s|%s|%s|%s|%s', c.name, c.cluster_url, x.app_key, x.token, c.owner), ',' ORDER BY c.name)
	FROM kusto_sink.connection c LEFT JOIN kusto_sink.connection_secret x ON x.connection = c.name};
my ($config_before, $conns_before) = ($node->safe_psql('postgres', $config), $node->safe_psql('postgres', $conns));
like($conns_before, qr/\|dev-secret\|/, 'the 1.0 catalog holds the secret in kusto_sink.connection');

# a restart of the server with this library on the old catalog
$node->restart;
delivered(insert_rows(100), 'after a restart on the 1.0 catalog');

my ($upd_rc, $upd_out, $upd_err) = $node->psql('postgres', 'ALTER EXTENSION kusto_sink UPDATE');
is($upd_rc, 0, 'ALTER EXTENSION kusto_sink UPDATE');
like($upd_err, qr/WARNING:  role watcher may read kusto_sink\.status but not call the functions it reads/,
	'the update names the role that can no longer read the status');
my ($hint) = $upd_err =~ /HINT:  (GRANT EXECUTE ON FUNCTION .* TO watcher;)/;
ok(defined $hint, 'and gives the GRANT that fixes it') or diag($upd_err);
my ($w_rc, $w_out, $w_err) = $node->psql('postgres', 'SELECT count(*) FROM kusto_sink.status', extra_params => [ '-U', 'watcher' ]);
like($w_err, qr/permission denied for function/, 'without it the role cannot read the status');
$node->safe_psql('postgres', $hint);
is($node->safe_psql('postgres', 'SELECT count(*) FROM kusto_sink.status', extra_params => [ '-U', 'watcher' ]),
	'0', 'with it the role reads the status again (it owns no sink: no rows)');
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'kusto_sink'"),
	'1.1', 'updated to 1.1');
is($node->safe_psql('postgres', $config), $config_before, 'every sink kept its configuration');
is($node->safe_psql('postgres', $conns_1_1), $conns_before, 'every connection kept its settings and secret');
is($node->safe_psql('postgres', 'SELECT count(*) FROM kusto_sink.connection WHERE app_key IS NOT NULL OR token IS NOT NULL'),
	'0', 'no secret is left in kusto_sink.connection, which pg_dump dumps');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 2 FROM kusto_sink.status WHERE state = 'running' AND last_error IS NULL}),
	'the workers run on the new catalog, without the warning');
delivered(insert_rows(100), 'after ALTER EXTENSION UPDATE');
# the 1.1 API
is($node->psql('postgres', "SELECT kusto_sink.alter_sink('plain', '{\"batch_size\": 0}')", stderr => \my $err), 3,
	'the 1.1 validator refuses a bad option');
like($err, qr/sink option "batch_size" must be an integer between 1 and 2147483647, not 0/, 'with its message');

$node->stop;
done_testing();
