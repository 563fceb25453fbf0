# Failover slots (PostgreSQL 17 and later): a primary and a streaming
# standby that synchronizes the sinks' slots (sync_replication_slots), the
# primary holding them back to what the standby confirmed
# (synchronized_standby_slots).  Two exactly-once sinks (queued, streaming)
# under a steady insert/update/delete load; the primary's postmaster is
# killed (kill -9) mid-stream, the standby is promoted and the load goes on
# there.  Kusto then holds exactly the changes that the new primary has, each
# once (none that only the lost primary had), and the sinks run on the new
# primary from the synchronized slots, without a resync.  Also: create_sink
# on a standby is refused.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;
use Sinks;

my ($major) = `pg_config --version` =~ /PostgreSQL (\d+)/;
plan skip_all => 'failover slots need PostgreSQL 17 or later (021 covers a lost slot)' if $major < 17;

my $kusto = KustoEmulator->new('ingestion-delay-ms' => 100);
my $db = 'Failover';
$kusto->create_sink_table($db, 'Q', 'id:long, v:long');
$kusto->create_sink_table($db, 'S', 'id:long, v:long');

my $primary = Sinks::start_node('primary', $kusto, conf => "synchronized_standby_slots = 'standby1'\n");
$primary->safe_psql('postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL);
	CREATE TABLE txlog (i int PRIMARY KEY);
	SELECT pg_create_physical_replication_slot('standby1');
});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
my $conninfo = $primary->connstr('postgres');
$conninfo =~ s/'/''/g;
# what slot synchronization needs on the standby; once promoted, no standby
# of its own holds it back
$standby->append_conf('postgresql.conf', qq{
primary_conninfo = '$conninfo'
primary_slot_name = 'standby1'
hot_standby_feedback = on
sync_replication_slots = on
synchronized_standby_slots = ''
});
$standby->start;

# transaction $i of the load: inserts row $i, updates row $i - 5, deletes row
# $i - 10 when $i is a multiple of 3, and logs itself in txlog
sub txn
{
	my ($i) = @_;
	my $sql = "BEGIN; INSERT INTO t VALUES ($i, 0); UPDATE t SET v = v + 1 WHERE id = " . ($i - 5) . ';';
	$sql .= ' DELETE FROM t WHERE id = ' . ($i - 10) . ';' if $i % 3 == 0;
	return "$sql INSERT INTO txlog VALUES ($i); COMMIT;\n";
}

# Kusto's table holds the changes of transactions 1 .. $n, each once: the
# inserts of rows 1 .. $n, the updates of rows 1 .. $n - 5, the deletes of
# rows $i - 10 for the multiples $i of 3 from 12 on
sub changes_are
{
	my ($table, $n, $what) = @_;
	my $per_id = ' | summarize c = count() by id | summarize rows = sum(c), ids = dcount(id), twice = countif(c > 1), lo = min(id), hi = max(id)';
	my $deletes = grep { $_ % 3 == 0 } 11 .. $n;
	my @want = (
		[ 'insert', [ [ $n, $n, 0, 1, $n ] ] ],
		[ 'update', [ [ $n - 5, $n - 5, 0, 1, $n - 5 ] ] ],
		[ 'delete', [ [ $deletes, $deletes, 0, 2, $n - $n % 3 - 10 ] ] ]);
	for my $w (@want)
	{
		my ($op, $rows) = @$w;
		is_deeply($kusto->query_until($db, "$table | where _op == '$op'$per_id", $rows), $rows,
			"$table: $what: the ${op}s, each once");
	}
}

# ---------- create_sink on a standby ----------
my ($ret, $out, $err) = $standby->psql('postgres',
	q{SELECT kusto_sink.create_sink('nope', 'emu', 't', 'Failover', 'Q', '{}')},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/25006: cannot create a kusto_sink sink on a standby/, 'create_sink on a standby is refused (SQLSTATE 25006)');

# ---------- two exactly-once sinks, their slots synchronized ----------
$primary->safe_psql('postgres', q{
	SELECT kusto_sink.create_sink('q', 'emu', 't', 'Failover', 'Q',
		'{"delivery_guarantee": "exactly_once", "ingestion_method": "queued", "batch_interval_ms": 100, "batch_size": 50}');
	SELECT kusto_sink.create_sink('s', 'emu', 't', 'Failover', 'S',
		'{"delivery_guarantee": "exactly_once", "ingestion_method": "streaming", "batch_interval_ms": 100, "batch_size": 50}');
});
is($primary->safe_psql('postgres',
		q{SELECT string_agg(slot_name || ':' || failover, ',' ORDER BY slot_name) FROM pg_replication_slots WHERE slot_type = 'logical'}),
	'kusto_sink_q:true,kusto_sink_s:true', 'a sink slot is a failover slot');
ok(Sinks::wait_state($primary, 'q', 'running') && Sinks::wait_state($primary, 's', 'running'), 'both sinks run');

my $n = 60;
$primary->safe_psql('postgres', join('', map { txn($_) } 1 .. $n));
changes_are($_, $n, "the first $n transactions") for ('Q', 'S');
ok($standby->poll_query_until('postgres',
		q{SELECT count(*) = 2 FROM pg_replication_slots WHERE synced AND NOT temporary AND slot_name IN ('kusto_sink_q', 'kusto_sink_s')}),
	'the standby synchronizes both slots');

# ---------- kill -9 of the primary under load, promotion ----------
my $load = $primary->basedir . '/load.sql';
append_to_file($load, join('', map { txn($_) . "SELECT pg_sleep(0.003);\n" } $n + 1 .. $n + 5000));
my ($lout, $lerr) = ('', '');
my $loader = IPC::Run::start([ 'psql', '-X', '-q', '-f', $load, '-d', $primary->connstr('postgres') ],
	'>', \$lout, '2>', \$lerr);
ok($primary->poll_query_until('postgres', 'SELECT count(*) > ' . ($n + 300) . ' FROM txlog'), 'the load runs');
ok($primary->poll_query_until('postgres',
		q{SELECT bool_and(rows_sent > } . ($n + 200) . q{) FROM kusto_sink.status WHERE name IN ('q', 's')}),
	'both sinks are streaming the load');
my $postmaster = slurp_file($primary->data_dir . '/postmaster.pid') =~ /^(\d+)/ && $1;
kill 'KILL', $postmaster;
$loader->finish;
$primary->_update_pid(-1);
$standby->promote;

my $had = $standby->safe_psql('postgres', 'SELECT count(*) FROM txlog');
is($standby->safe_psql('postgres', 'SELECT max(i) FROM txlog'), $had, "the new primary has transactions 1 .. $had");
ok($had > $n + 300, 'the primary died in the middle of the load');
ok(Sinks::wait_state($standby, 'q', 'running') && Sinks::wait_state($standby, 's', 'running'),
	'both sinks run on the new primary');
my $total = $had + 300;
$standby->safe_psql('postgres', join('', map { txn($_) } $had + 1 .. $total));
# (none that only the lost primary had: the highest ids would be higher)
changes_are($_, $total, "the new primary's $total transactions") for ('Q', 'S');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM kusto_sink.snapshot WHERE resync'), '0',
	'no resync after the promotion');
is($standby->safe_psql('postgres',
		q{SELECT string_agg(name || ':' || coalesce(last_error, ''), ',' ORDER BY name) FROM kusto_sink.status}),
	'q:,s:', 'and no error');

$standby->stop;
done_testing();
