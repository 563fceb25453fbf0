# make soak: exactly once under a long mixed workload with random crashes and
# faults.  Three tables (inserts, updates, deletes in transactions of 1 to
# 400 changes) stream through one exactly-once sink while, every few dozen
# transactions, something goes wrong: the worker dies at a step of the batch
# protocol or by kill -9, the postmaster stops with "immediate", or the
# emulator answers 503/429, drops connections, or fails queued ingestions
# transiently.  Then one big transaction (SOAK_BIG_ROWS rows, default
# 5,000,000; 0 for none) goes through four crashes, one each time another
# fifth of it is in Kusto.  Now and then a table is sent again
# (resnapshot_sink), sometimes with a crash after one of its chunks.  A trigger
# keeps the source's change history; at the end each change must be in Kusto
# once, each chunk's snapshot records once, and each table's latest state
# (latest_state_query) must be the table.  Prints
#   changes committed / in Kusto / lost / duplicated
# Sizes: SOAK_CHANGES (default 250000), SOAK_SEED; SOAK_METHOD the ingestion
# method (queued, the default; streaming; managed).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;

my $target = $ENV{SOAK_CHANGES} || 250_000;
my $seed = $ENV{SOAK_SEED} || int(time);
my $method = $ENV{SOAK_METHOD} || 'queued';
my $big_rows = length($ENV{SOAK_BIG_ROWS} // '') ? $ENV{SOAK_BIG_ROWS} : 5_000_000;
srand($seed);
diag("soak: $target changes, seed $seed, $method ingestion, then a $big_rows-row transaction");

my $kusto = KustoEmulator->new('ingestion-delay-ms' => 100);
my $db = 'Soak';
my @tables = ('a', 'b', 'c');
$kusto->mgmt($db, ".create table \U$_\E (id:long, v:long, note:string, $KustoEmulator::METADATA_COLUMNS)") for @tables;
$kusto->mgmt($db, ".alter table \U$_\E policy streamingingestion enable") for @tables;

my $node = PostgreSQL::Test::Cluster->new('soak');
$node->init(allows_streaming => 'logical');
my $crash_file = $node->data_dir . '/kusto_sink_crash';
$node->append_conf('postgresql.conf',
	"kusto_sink.test_crash_file = '$crash_file'\nrestart_after_crash = on\nmax_wal_size = '2GB'\nkusto_sink.pending_resend_after = '5s'\n");
$node->start;
my $url = $kusto->url;
my $setup = "CREATE EXTENSION kusto_sink;\nCREATE SEQUENCE vseq;\n"
  . "CREATE TABLE history (tbl text, op text, v bigint);\n"
  . "CREATE FUNCTION log_change() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN\n"
  . "  IF TG_OP = 'DELETE' THEN INSERT INTO history VALUES (TG_TABLE_NAME, 'delete', OLD.v);\n"
  . "  ELSE INSERT INTO history VALUES (TG_TABLE_NAME, lower(TG_OP), NEW.v); END IF; RETURN NULL; END \$\$;\n";
for my $t (@tables)
{
	$setup .= "CREATE TABLE $t (id int PRIMARY KEY, v bigint NOT NULL, note text);\n"
	  . "ALTER TABLE $t REPLICA IDENTITY FULL;\n"
	  . "CREATE TRIGGER log AFTER INSERT OR UPDATE OR DELETE ON $t FOR EACH ROW EXECUTE FUNCTION log_change();\n";
}
$setup .= "SELECT kusto_sink.create_connection('emu', '$url', 'application',
	tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret');\n";
$node->safe_psql('postgres', $setup);
my $sink_options = qq({"delivery_guarantee": "exactly_once", "ingestion_method": "$method", "flush_immediately": true,
	  "tables": {"public.b": "B", "public.c": "C"}, "batch_interval_ms": 100, "batch_size": 300});
$node->safe_psql('postgres', "SELECT kusto_sink.create_sink('soak', 'emu', 'a, b, c', 'Soak', 'A', '$sink_options')");

sub running
{
	return $node->poll_query_until('postgres',
		"SELECT state IN ('running', 'error') AND worker_pid IS NOT NULL FROM kusto_sink.status WHERE name = 'soak'");
}
ok(running(), 'the sink runs');

my %next_id = map { $_ => 1 } @tables;
my %events;
my $resyncs_expected = 0;		# resnapshot_sink requests that end with a snapshot_done
my $resyncs_superseded = 0;		# resyncs that a request started over before they ended

# one random transaction; returns how many changes it tried
sub transaction
{
	my $t = $tables[ int(rand(@tables)) ];
	my $n = 1 + int(rand(rand() < 0.1 ? 400 : 40));
	my $kind = rand();
	my $sql;
	if ($kind < 0.6 || $next_id{$t} < 50)
	{
		my $from = $next_id{$t};
		$next_id{$t} += $n;
		$sql = "INSERT INTO $t SELECT g, nextval('vseq'), 'note ' || g FROM generate_series($from, " . ($from + $n - 1) . ") g";
	}
	elsif ($kind < 0.85)
	{
		$sql = "UPDATE $t SET v = nextval('vseq'), note = 'u' WHERE id IN (SELECT id FROM $t ORDER BY random() LIMIT $n)";
	}
	else
	{
		$sql = "DELETE FROM $t WHERE id IN (SELECT id FROM $t ORDER BY random() LIMIT $n)";
	}
	# the server may be restarting: an error here is fine (the trigger's history tells what committed)
	eval { $node->psql('postgres', $sql); };
	return $n;
}

# the steps and services each method goes through (a crash point the method
# never reaches would stay armed and block the others)
my $queued = $method eq 'queued';
my @crash_points = ('after_record', ($queued ? ('after_queue') : ()), 'after_ack', 'after_progress');
my @fault_kinds = $queued ? qw(blob queue table mgmt token) : qw(streaming query mgmt token);
my @lost_kinds = $queued ? qw(blob queue mgmt) : qw(streaming mgmt);

sub event
{
	my $r = int(rand(10));
	if ($r < 4)
	{
		my $p = $crash_points[ int(rand(@crash_points)) ];
		PostgreSQL::Test::Utils::append_to_file($crash_file, "$p\n") unless -e $crash_file;
		$events{"crash $p"}++;
	}
	elsif ($r == 4)
	{
		my $pid = eval { $node->safe_psql('postgres', "SELECT worker_pid FROM kusto_sink.status WHERE name = 'soak'") } // '';
		kill 'KILL', $pid if $pid =~ /^\d+$/;
		$events{'kill -9 worker'}++;
	}
	elsif ($r == 9)
	{
		# a resync of one table while the workload goes on, sometimes with a crash in it
		# (under the table's snapshot lock, which chunks take: was a resync of the
		# table still reading? it never ends then)
		my $t = $tables[ int(rand(@tables)) ];
		my $out = eval {
			$node->safe_psql('postgres', "BEGIN;
				SELECT kusto_sink._lock_snapshots(ARRAY['$t'::regclass::oid]);
				SELECT resync AND NOT copied FROM kusto_sink.snapshot WHERE sink = 'soak' AND relid = '$t'::regclass;
				SELECT kusto_sink.resnapshot_sink('soak', ARRAY['$t'::regclass]);
				COMMIT;");
		};
		if (defined $out)
		{
			$resyncs_expected++;
			$resyncs_superseded++, $resyncs_expected-- if $out =~ /^t$/m;
		}
		$events{'resnapshot_sink'}++;
		if (rand() < 0.5 && !-e $crash_file)
		{
			PostgreSQL::Test::Utils::append_to_file($crash_file, "after_chunk\n");
			$events{'crash after_chunk'}++;
		}
	}
	elsif ($r == 5)
	{
		$node->stop('immediate');
		$node->start;
		$events{'immediate restart'}++;
	}
	elsif ($r == 6)
	{
		my $kind = $fault_kinds[ int(rand(@fault_kinds)) ];
		$kusto->admin('POST', '/admin/faults', { kind => $kind, count => 1 + int(rand(3)), action => { status => 503 } });
		$events{"$kind 503"}++;
	}
	elsif ($r == 7)
	{
		my $kind = $lost_kinds[ int(rand(@lost_kinds)) ];
		my $how = rand() < 0.5 ? 'drop' : 'lost';
		$kusto->admin('POST', '/admin/faults', { kind => $kind, count => 1, action => { $how => JSON::PP::true } });
		$events{"$kind $how"}++;
	}
	elsif (!$queued)
	{
		# a stream that Kusto refuses for a while (throttled)
		$kusto->admin('POST', '/admin/faults', { kind => 'streaming', count => 1 + int(rand(3)), action => { status => 429, retryAfter => 1 } });
		$events{'streaming 429'}++;
	}
	else
	{
		$kusto->admin('POST', '/admin/ingestion-faults', { kind => 'transient', count => 1 + int(rand(2)) });
		$events{'ingestion transient failure'}++;
	}
}

my $tried = 0;
my $txns = 0;
my $t0 = time;
while ($tried < $target)
{
	$tried += transaction();
	$txns++;
	event() if $txns % 40 == 0;
}
unlink $crash_file;
$kusto->admin('POST', '/admin/reset', {});
ok(running(), 'the sink runs after the workload');

# one big transaction (SOAK_BIG_ROWS, 0 for none), split over many batches,
# with a crash each time another fifth of it has reached Kusto
if ($big_rows > 0)
{
	# batches of 50,000 records from here on (300 would make 16,667 queued ingestions)
	$node->safe_psql('postgres', q{SELECT kusto_sink.alter_sink('soak', '{"batch_size": 50000}')});
	ok(running(), 'the sink runs with bigger batches');
	my $first = $next_id{a};
	$next_id{a} += $big_rows;
	$node->safe_psql('postgres', "INSERT INTO a SELECT g, nextval('vseq'), 'big' FROM generate_series($first, $first + $big_rows - 1) g");
	my @crashes = ('kill -9 worker', 'crash after_record', 'immediate restart', 'crash after_ack');
	for my $i (1 .. 4)
	{
		my $want = int($big_rows * $i / 5);
		my $deadline = time + 900;
		while (time < $deadline)
		{
			my $rows = eval { $kusto->query($db, "A | where note == 'big' | count") };
			last if $rows && $rows->[0][0] >= $want;
			usleep(500_000);
		}
		my $how = $crashes[ $i - 1 ];
		if ($how eq 'kill -9 worker')
		{
			my $pid = $node->safe_psql('postgres', "SELECT worker_pid FROM kusto_sink.status WHERE name = 'soak'");
			kill 'KILL', $pid if $pid =~ /^\d+$/;
		}
		elsif ($how eq 'immediate restart')
		{
			$node->stop('immediate');
			$node->start;
		}
		else
		{
			(my $point = $how) =~ s/^crash //;
			PostgreSQL::Test::Utils::append_to_file($crash_file, "$point\n");
		}
		$events{"big transaction: $how"}++;
	}
	ok(running(), "the sink runs after a $big_rows-row transaction and its crashes");
	unlink $crash_file;
}
my $nevents = 0;
$nevents += $_ for values %events;
diag(sprintf('%-32s %d', $_, $events{$_})) for sort keys %events;
cmp_ok($nevents, '>=', 30, "at least 30 crashes and faults ($nevents)");

# expected: the history; in Kusto: per table and operation, count and distinct v
my %expected;
for my $line (split /\n/, $node->safe_psql('postgres',
	'SELECT tbl, op, count(*), sum(v) FROM history GROUP BY 1, 2'))
{
	my ($t, $op, $n, $sum) = split /\|/, $line;
	$expected{"\U$t\E $op"} = [ $n, $sum ];
}
my $committed = 0;
$committed += $_->[0] for values %expected;
my $deadline = time + 600;
my ($in_kusto, $lost, $dups, $mismatch);
while (1)
{
	($in_kusto, $lost, $dups, $mismatch) = (0, 0, 0, 0);
	for my $t (@tables)
	{
		my $rows = $kusto->query($db, "\U$t\E | summarize n = count(), d = dcount(v), s = sum(v) by _op");
		my %seen = map { ("\U$t\E $_->[0]" => $_) } @$rows;
		for my $op ('insert', 'update', 'delete')
		{
			my $key = "\U$t\E $op";
			my ($n, $d, $s) = $seen{$key} ? @{ $seen{$key} }[ 1, 2, 3 ] : (0, 0, 0);
			my ($en, $es) = $expected{$key} ? @{ $expected{$key} } : (0, 0);
			$in_kusto += $n;
			$dups += $n - $d;
			$lost += $en - $d if $en > $d;
			$mismatch++ if $d == $en && $n == $en && $s != $es;
		}
	}
	last if ($lost == 0 && $in_kusto >= $committed) || time > $deadline;
	usleep(500_000);
}

# the resyncs: every chunk's records once, each table's latest state is the table
ok($node->poll_query_until('postgres', "SELECT snapshot_state = 'done' FROM kusto_sink.status WHERE name = 'soak'"),
	'the resyncs finished');
my ($snapshot_dups, $states_differ, $resyncs) = (0, 0, 0);
for my $t (@tables)
{
	my $k = "\U$t\E";
	$snapshot_dups += $kusto->query($db,
		"$k | where _op == 'snapshot' | summarize c = count() by id, _commit_lsn | where c > 1 | count")->[0][0];
	$snapshot_dups += $kusto->query($db,
		"$k | where _op == 'snapshot_done' | summarize c = count() by _lsn | where c > 1 | count")->[0][0];
	$resyncs += $kusto->query($db, "$k | where _op == 'snapshot_done' | count")->[0][0];
	$kusto->mgmt($db, $node->safe_psql('postgres', "SELECT kusto_sink.latest_state_kql('soak', '$t')"));
	my $kql = $node->safe_psql('postgres', "SELECT kusto_sink.latest_state_query('soak', '$t')");
	my @source = split /\|/, $node->safe_psql('postgres', "SELECT count(*), coalesce(sum(id), 0), coalesce(sum(v), 0) FROM $t");
	my $got = $kusto->query_until($db, "$kql | summarize count(), sum(id), sum(v)", [ \@source ]);
	my $same = join('|', map { $_ // 0 } @{ $got->[0] }) eq join('|', @source);
	diag("latest state of $t: " . join('|', map { $_ // 0 } @{ $got->[0] }) . ' in Kusto, ' . join('|', @source) . ' in the table')
	  unless $same;
	$states_differ++ unless $same;
}
my $status = $node->safe_psql('postgres', "SELECT state || ' ' || coalesce(last_error, '') FROM kusto_sink.status");
diag("sink status at the end: $status");
# the harness shows diagnostics, not the test's stdout
diag(sprintf("%-24s %12s", 'soak', 'changes'));
diag(sprintf("%-24s %12d", 'changes committed', $committed));
diag(sprintf("%-24s %12d", 'in Kusto', $in_kusto));
diag(sprintf("%-24s %12d", 'lost', $lost));
diag(sprintf("%-24s %12d", 'duplicated', $dups));
diag(sprintf("%-24s %12d", 'crashes and faults', $nevents));
diag(sprintf("%-24s %12d", 'resyncs finished', $resyncs));
diag(sprintf("%-24s %12d", 'resyncs started over', $resyncs_superseded));
diag(sprintf("%-24s %12d", 'snapshot records twice', $snapshot_dups));
diag(sprintf("%-24s %12d", 'latest states differing', $states_differ));
diag(sprintf("%-24s %12.0f s", 'workload and catch-up', time - $t0));
is($lost, 0, 'no change lost');
is($dups, 0, 'no change duplicated');
is($mismatch, 0, 'values as in the source');
is($snapshot_dups, 0, 'no snapshot record duplicated');
is($resyncs, $resyncs_expected, 'one snapshot_done record for each resync that was not started over');
is($states_differ, 0, "each table's latest state in Kusto is the table");
$node->stop;
$kusto->stop;
done_testing();
