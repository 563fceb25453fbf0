# A standby whose settings do not let it keep the sinks' slots in step is
# explained, not a silent stall (src/worker/slot_sync_check.c): on
# PostgreSQL 17 and later a standby with sync_replication_slots = on but
# hot_standby_feedback off, then with a primary_conninfo that names no
# dbname, gets one WARNING per configuration from the launcher (the missing
# setting in the detail, the fix in the hint) and says the same in
# kusto_sink.status.slot_sync_problem; fixed by ALTER SYSTEM and a reload,
# the status clears, the launcher says so and the slot is synchronized.  On
# 15 and 16 the status and the log say that failover slots are unavailable.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;
use Sinks;

my ($major) = `pg_config --version` =~ /PostgreSQL (\d+)/;

my $kusto = KustoEmulator->new;
my $db = 'StandbyConfig';
$kusto->create_sink_table($db, 'A', 'id:long');

my $primary = Sinks::start_node('primary', $kusto);
$primary->safe_psql('postgres', q{
	CREATE TABLE t (id int PRIMARY KEY);
	SELECT pg_create_physical_replication_slot('standby1');
	SELECT kusto_sink.create_sink('a', 'emu', 't', 'StandbyConfig', 'A', '{"batch_interval_ms": 100}');
});
ok(Sinks::wait_state($primary, 'a', 'running'), 'the sink runs on the primary');
$primary->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(1, 10)');
is_deeply($kusto->query_until($db, 'A | count', [ [10] ]), [ [10] ], 'its rows are in Kusto');
is(Sinks::status($primary, 'a', 'slot_sync_problem'), '', 'on the primary slot_sync_problem is NULL');
$primary->backup('b');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
my $warning = qr/WARNING:  kusto_sink: this standby does not synchronize the sinks' replication slots: a promotion would lose them\n/;

# slot_sync_problem of a sink on the standby, once it matches $re (SQL-quoted)
sub standby_status_like
{
	my ($sink, $re, $what) = @_;
	Sinks::poll_until($standby,
		"SELECT coalesce(slot_sync_problem, '') ~ '$re' FROM kusto_sink.status WHERE name = '$sink'");
	(my $perl_re = $re) =~ s/''/'/g;
	like(Sinks::status($standby, $sink, 'slot_sync_problem'), qr/$perl_re/, $what);
}

if ($major < 17)
{
	$standby->start;
	standby_status_like('a', "^failover slots are unavailable on PostgreSQL $major: a promotion of this standby loses the sink''s slot\$",
		"PostgreSQL $major: the status says failover slots are unavailable");
	ok($standby->wait_for_log(qr/LOG:  kusto_sink: failover slots are unavailable on PostgreSQL $major: a promotion of this standby loses the sink's slot\n[^\n]*DETAIL:  Only PostgreSQL 17 and later keep a logical replication slot in step on a standby/),
		'and so does the launcher, in the log');
	unlike(slurp_file($standby->logfile), $warning, 'no WARNING: nothing can be configured');
	is(Sinks::status($standby, 'a', 'state'), 'standby', 'no worker runs on the standby: its state says so');
	$standby->stop;
	$primary->stop;
	done_testing();
	exit;
}

# ---------- sync_replication_slots on, hot_standby_feedback off ----------
my $conninfo = $primary->connstr('postgres');
(my $nodb = $conninfo) =~ s/\s*dbname='?postgres'?//;
die "no dbname in $conninfo" if $nodb eq $conninfo;
$_ =~ s/'/''/g for ($conninfo, $nodb);
$standby->append_conf('postgresql.conf', qq{
primary_conninfo = '$conninfo'
primary_slot_name = 'standby1'
hot_standby_feedback = off
sync_replication_slots = on
});
$standby->start;

ok($standby->wait_for_log(qr/${warning}[^\n]*DETAIL:  Replication slot synchronization needs hot_standby_feedback = on[^\n]*\n[^\n]*HINT:  ALTER SYSTEM SET hot_standby_feedback = on; SELECT pg_reload_conf\(\);\n/),
	'hot_standby_feedback off: the launcher WARNs, naming the setting and the fix');
standby_status_like('a', q{^sync_replication_slots is on, but hot_standby_feedback is off: the sink''s slot is not synchronized$},
	'and kusto_sink.status says why the slot is not kept in step');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'kusto_sink_a'}), '0',
	'the slot is indeed not synchronized');
is(Sinks::status($standby, 'a', 'state'), 'standby', 'no worker runs on the standby: its state says so');

# ---------- fixed, but primary_conninfo names no database ----------
$standby->safe_psql('postgres', qq{
	ALTER SYSTEM SET hot_standby_feedback = on;
	ALTER SYSTEM SET primary_conninfo = '$nodb';
	SELECT pg_reload_conf();
});
ok($standby->wait_for_log(qr/${warning}[^\n]*DETAIL:  Replication slot synchronization connects to a database of the primary: primary_conninfo must name one \(dbname\)\.\n[^\n]*HINT:  Add dbname=/),
	'a reload to another missing setting: a new WARNING, naming it');
standby_status_like('a', '^sync_replication_slots is on, but primary_conninfo names no dbname: ', 'and the status follows');

# ---------- fixed: the status clears and the slot is synchronized ----------
$standby->safe_psql('postgres', qq{
	ALTER SYSTEM SET primary_conninfo = '$conninfo';
	SELECT pg_reload_conf();
});
ok($standby->wait_for_log(qr/LOG:  kusto_sink: this standby's settings now let it synchronize the sinks' replication slots\n/),
	'fixed: the launcher says so');
ok($standby->poll_query_until('postgres',
		q{SELECT synced AND NOT temporary FROM pg_replication_slots WHERE slot_name = 'kusto_sink_a'}),
	'the slot is synchronized');
ok($standby->poll_query_until('postgres',
		q{SELECT slot_sync_problem IS NULL FROM kusto_sink.status WHERE name = 'a'}),
	'and slot_sync_problem is NULL');

# once per configuration, though the launcher looked every second meanwhile
my $log = slurp_file($standby->logfile);
my @hsf = $log =~ /${warning}[^\n]*DETAIL:  Replication slot synchronization needs hot_standby_feedback/g;
my @nodb = $log =~ /${warning}[^\n]*DETAIL:  Replication slot synchronization connects to a database/g;
is(scalar(@hsf) . ' ' . scalar(@nodb), '1 1', 'each WARNING was logged once');

# ---------- a slot that is no failover slot is never synchronized ----------
# (as a sink's slot made before PostgreSQL 17 would be): sink b's slot made
# again on the primary without failover
$primary->safe_psql('postgres', q{
	SELECT kusto_sink.create_sink('b', 'emu', 't', 'StandbyConfig', 'A', '{"batch_interval_ms": 100}');
	SELECT kusto_sink.pause_sink('b');
});
ok(Sinks::wait_state($primary, 'b', 'paused') && $primary->poll_query_until('postgres',
		q{SELECT NOT active FROM pg_replication_slots WHERE slot_name = 'kusto_sink_b'}),
	'sink b is paused, its slot inactive');
$primary->safe_psql('postgres', q{
	SELECT pg_drop_replication_slot('kusto_sink_b');
	SELECT pg_create_logical_replication_slot('kusto_sink_b', 'kusto_sink', false, false, false);
});
$primary->wait_for_replay_catchup($standby);
standby_status_like('b', q{^not synchronized yet: the standby has no copy of the sink''s slot },
	"sink b's slot (no failover slot): not synchronized yet, says the status");
is(Sinks::status($standby, 'a', 'slot_sync_problem'), '', "sink a's still NULL");
is($primary->safe_psql('postgres', q{SELECT failover FROM pg_replication_slots WHERE slot_name = 'kusto_sink_b'}), 'f',
	"(b's slot on the primary is no failover slot)");

$standby->stop;
$primary->stop;
done_testing();
