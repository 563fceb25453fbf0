# pg_upgrade of a server with sinks, as a DBA runs it (old and new cluster of
# the PostgreSQL under test; pg_upgrade from Debian 12's 15.20 to 18.6 fails
# on every table, with or without kusto_sink: 15.20 gives each column an
# option pg_attver that 18.6 refuses):
#  - no sink runs while pg_upgrade has a server up in binary-upgrade mode:
#    the launcher held a connection to the sinks' database there, so that
#    pg_upgrade could not recreate it and failed, and the old server's sinks
#    sent changes during the upgrade (rows Kusto had refused before);
#  - pg_upgrade keeps the connections with their secrets and the sinks with
#    their options (it copies the tables' files, unlike pg_dump);
#  - before 17 it carries no logical slot: the sinks stop in state error
#    saying the slot is missing and what to run; resume_sink creates it and
#    resyncs the tables; the new server's WAL starts after the old one's, so
#    the sinks go on in the Kusto tables they filled: the latest state is
#    the table's and the exactly-once sink has every record once;
#  - from 17 it carries them, once every sink has confirmed all its changes
#    (pg_upgrade refuses before, naming the slots): the sinks go on where they
#    were, without a resync, exactly once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Find;
use File::Path qw(rmtree);
use IPC::Run;
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;
use Sinks;

my ($major) = `pg_config --version` =~ /PostgreSQL (\d+)/;
my $carries_slots = $major >= 17;

my $kusto = KustoEmulator->new;
my $db = 'Up';
$kusto->create_sink_table($db, 'Plain', 'id:long, note:string');
$kusto->create_sink_table($db, 'Once', 'id:long, note:string');

# ---------- the old server ----------
my $old = Sinks::start_node('old', $kusto);
$old->safe_psql('postgres', qq{
	CREATE TABLE t (id int PRIMARY KEY, note text);
	SELECT kusto_sink.create_sink('plain', 'emu', 't', '$db', 'Plain',
		'{"ingestion_method": "streaming", "batch_interval_ms": 100}');
	SELECT kusto_sink.create_sink('once', 'emu', 't', '$db', 'Once',
		'{"delivery_guarantee": "exactly_once", "ingestion_method": "streaming", "batch_interval_ms": 100}');
});
$old->safe_psql('postgres', q{INSERT INTO t SELECT g, 'a' FROM generate_series(1, 100) g});
is($kusto->wait_count($db, 'Plain', 100), 100, 'the old server streams its rows');
is($kusto->wait_count($db, 'Once', 100), 100, 'and delivers them exactly once');

# Kusto refuses every stream from now on: the next rows wait in the old
# server's slots
$kusto->admin('POST', '/admin/faults', { kind => 'streaming', count => 1_000_000, action => { status => 503 } });
$old->safe_psql('postgres', q{INSERT INTO t SELECT g, 'a-late' FROM generate_series(101, 150) g});
for my $sink ('plain', 'once')
{
	ok(Sinks::poll_until($old, "SELECT retries > 0 FROM kusto_sink.status WHERE name = '$sink'"),
		"sink $sink: Kusto refuses its next batch");
}
my $config = q{SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s', name, connection, database, source_tables, kusto_table, options, enabled, owner), ',' ORDER BY name) FROM kusto_sink.sink};
my $config_old = $old->safe_psql('postgres', $config);
$old->stop;
# and accepts them again: a sink that ran during the upgrade would send them
$kusto->admin('POST', '/admin/reset');

my $new = PostgreSQL::Test::Cluster->new('new');
$new->init(allows_streaming => 'logical');
my $work = PostgreSQL::Test::Utils::tempdir();
chdir $work or die "chdir $work: $!";
my @upgrade = ('pg_upgrade', '--no-sync', '--retain',
	'-d', $old->data_dir, '-D', $new->data_dir,
	'-b', $old->config_data('--bindir'), '-B', $new->config_data('--bindir'),
	'-s', $new->host, '-p', $old->port, '-P', $new->port);
# what the servers logged while pg_upgrade ran them (kept by --retain)
sub upgrade_log
{
	my $log = '';
	find(sub { $log .= slurp_file($_) if $_ eq 'pg_upgrade_server.log' },
		$new->data_dir . '/pg_upgrade_output.d');
	return $log;
}

if ($carries_slots)
{
	# the slots have not confirmed the rows Kusto refused: pg_upgrade says so
	my ($stdout, $stderr);
	IPC::Run::run([ @upgrade, '--check' ], '>', \$stdout, '2>', \$stderr);
	like($stdout . $stderr, qr/logical replication slots that cannot be upgraded/,
		'pg_upgrade --check refuses slots that have not confirmed every change');
	unlike(upgrade_log(), qr/kusto_sink sink "\w+" started/, 'no sink worker ran during the check');
	is($kusto->count($db, 'Plain'), 100, 'the rows Kusto had refused were not sent then');
	# so the DBA lets every sink catch up, then stops the old server
	$old->start;
	is($kusto->wait_count($db, 'Plain', 150), 150, 'the old server sends them');
	is($kusto->wait_count($db, 'Once', 150), 150, 'exactly once too');
	for my $sink ('plain', 'once')
	{
		ok(Sinks::poll_until($old, "SELECT lag_bytes = 0 FROM kusto_sink.status WHERE name = '$sink'"),
			"sink $sink: every change confirmed");
	}
	$old->stop;
	rmtree($new->data_dir . '/pg_upgrade_output.d');
}

command_ok(\@upgrade, 'pg_upgrade');
my $log = upgrade_log();
like($log, qr/\S/, 'pg_upgrade logged its servers');
unlike($log, qr/kusto_sink sink "\w+" started/, 'no sink worker ran during the upgrade');
is($kusto->count($db, 'Plain'), $carries_slots ? 150 : 100, 'no row was sent during the upgrade');

$new->start;
is($new->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'kusto_sink'}),
	'1.1', 'the extension came along');
is($new->safe_psql('postgres', $config), $config_old, 'every sink with its configuration');
is($new->safe_psql('postgres',
	q{SELECT string_agg(format('%s|%s|%s', name, has_secret, missing_secret), ',' ORDER BY name) FROM kusto_sink.connections}),
	'emu|t|', 'the connection with its secret');
is($new->safe_psql('postgres', q{SELECT ok FROM kusto_sink.test_connection('emu')}), 't', 'which works');

my $once = q{Once | summarize c = count() by _op, id | summarize records = sum(c), ids = dcount(id), twice = countif(c > 1), lo = min(id), hi = max(id) by _op | order by _op asc};
my $want;
if ($carries_slots)
{
	is($new->safe_psql('postgres', q{SELECT string_agg(slot_name, ',' ORDER BY slot_name) FROM pg_replication_slots}),
		'kusto_sink_once,kusto_sink_plain', 'the slots came along');
	for my $sink ('plain', 'once')
	{
		ok(Sinks::wait_state($new, $sink, 'running'), "sink $sink runs on without a resync");
	}
	$new->safe_psql('postgres', q{
		INSERT INTO t SELECT g, 'b' FROM generate_series(151, 200) g;
		UPDATE t SET note = 'b-upd' WHERE id <= 10;
		DELETE FROM t WHERE id IN (5, 105);
	});
	# the old server's 150 inserts and the new server's changes, each once
	$want = [ [ 'delete', 2, 2, 0, 5, 105 ], [ 'insert', 200, 200, 0, 1, 200 ],
		[ 'update', 10, 10, 0, 1, 10 ] ];
}
else
{
	is($new->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0', 'no slot came along');
	for my $sink ('plain', 'once')
	{
		ok(Sinks::poll_until($new,
			"SELECT state = 'error' AND last_error = 'replication slot \"kusto_sink_$sink\" does not exist: run kusto_sink.resume_sink(''$sink'') to create it and resync the sink''s tables' FROM kusto_sink.status WHERE name = '$sink'"),
			"sink $sink: state error, last_error says the slot is missing and what to run");
	}
	# the new server's changes before the sinks resume come with the resync
	$new->safe_psql('postgres', q{UPDATE t SET note = 'b-upd' WHERE id <= 10});
	my ($ret, $out, $err) = $new->psql('postgres', q{SELECT kusto_sink.resume_sink('plain'); SELECT kusto_sink.resume_sink('once')});
	is($ret, 0, 'resume_sink of both sinks');
	for my $sink ('plain', 'once')
	{
		like($err, qr/NOTICE:  sink "$sink" has a new replication slot "kusto_sink_$sink"; every row of its source tables is sent again/,
			"resume_sink says that sink $sink sends its tables again");
		ok(Sinks::poll_until($new,
			"SELECT snapshot_state = 'done' AND snapshot_tables_done = 1 AND state = 'running' FROM kusto_sink.status WHERE name = '$sink'"),
			"sink $sink: its table is resynced and it runs");
	}
	$new->safe_psql('postgres', q{
		INSERT INTO t SELECT g, 'b' FROM generate_series(151, 200) g;
		DELETE FROM t WHERE id IN (5, 105);
	});
	# the old server's 100 inserts, the resync of the 150 rows (the 50 that
	# Kusto had refused among them), the new server's inserts and deletes
	$want = [ [ 'delete', 2, 2, 0, 5, 105 ], [ 'insert', 150, 150, 0, 1, 200 ],
		[ 'snapshot', 150, 150, 0, 1, 150 ], [ 'snapshot_done', 1, 0, 0, undef, undef ] ];
}
is_deeply($kusto->query_until($db, $once, $want), $want, 'exactly once: every record of both servers once');
# the same Kusto tables as before the upgrade: the new server's LSNs follow
# the old one's, so the latest state there is the table's
for my $sink ('plain', 'once')
{
	ok(Sinks::latest_state_is($new, $kusto, $db, $sink, 't', 'id, note'),
		"sink $sink: Kusto's latest state is the upgraded table");
}

$new->stop;
done_testing();
