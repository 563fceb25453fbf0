# A deep queued pipeline (issue 20): against a slow data management service
# (every queued blob completes 10 s after its queue message), a queued sink
# under steady load keeps sending while dozens of batches wait for their
# status (they hold no shipping slot: before, at most 4 batches were in
# flight), kusto_sink.status counts them and the oldest one's age, and a
# worker crash while they wait loses nothing and delivers nothing twice
# (exactly once); an at-least-once sink alongside confirms every row.  Then
# the sink option ingestion_batching sets the Kusto table's IngestionBatching
# policy (create_table), which the emulator's DM follows; batches grow while
# every slot is busy; a queued snapshot keeps many chunks on their way.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;
use ExactlyOnce;
use Sinks;

my $delay_ms = 10000;
my $kusto = KustoEmulator->new('ingestion-delay-ms' => $delay_ms);
my $db = 'Pipe';
$kusto->mgmt($db, ".create table T (id:long, note:string, $KustoEmulator::METADATA_COLUMNS)");
$kusto->mgmt($db, ".create table A (id:long, note:string, $KustoEmulator::METADATA_COLUMNS)");

my ($node, $crash_file) = ExactlyOnce::start_node('pipe', $kusto);
$node->safe_psql('postgres', q{
	CREATE TABLE a (id int PRIMARY KEY, note text);
	SELECT kusto_sink.create_sink('eo', 'emu', 't', 'Pipe', 'T',
		'{"delivery_guarantee": "exactly_once", "ingestion_method": "queued",
		  "batch_interval_ms": 100, "batch_size": 30}');
	SELECT kusto_sink.create_sink('al', 'emu', 'a', 'Pipe', 'A',
		'{"ingestion_method": "queued", "batch_interval_ms": 100, "batch_size": 30,
		  "max_awaiting_status": 500}');
});
my $eo = ExactlyOnce->new(node => $node, kusto => $kusto, db => $db, table => 'T',
	sink => 'eo', crash_file => $crash_file);
ok($eo->running, 'the exactly-once sink runs');
ok($node->poll_query_until('postgres',
	"SELECT state = 'running' FROM kusto_sink.status WHERE name = 'al'"), 'the at-least-once sink runs');

my $a_next = 1;

# steady load for $seconds: a transaction of 30 rows into each table every 100 ms
sub steady_load
{
	my ($seconds) = @_;
	my $until = time + $seconds;
	while (time < $until)
	{
		my $from = $eo->take(30);
		my $to = $from + 29;
		my $a_to = $a_next + 29;
		my $sql = "BEGIN; INSERT INTO t SELECT g, 'n' || g FROM generate_series($from, $to) g ON CONFLICT DO NOTHING;"
		  . "INSERT INTO a SELECT g, 'n' || g FROM generate_series($a_next, $a_to) g ON CONFLICT DO NOTHING; COMMIT;";
		# (while the postmaster restarts after a crash: again, until it commits)
		my $deadline = time + 60;
		until ($node->psql('postgres', $sql, on_error_stop => 1) == 0)
		{
			die 'the server did not come back after the crash' if time > $deadline;
			usleep(100_000);
		}
		$a_next = $a_to + 1;
		usleep(100_000);
	}
}

sub awaiting
{
	my ($sink) = @_;
	return $node->safe_psql('postgres',
		"SELECT batches_awaiting_status || ' ' || coalesce(oldest_awaiting_status_seconds, -1) FROM kusto_sink.status WHERE name = '$sink'");
}

# 6 s of load against a 10 s batching time: every batch sent still waits
steady_load(6);
my ($eo_waiting, $eo_age) = split / /, awaiting('eo');
my ($al_waiting, $al_age) = split / /, awaiting('al');
cmp_ok($eo_waiting, '>=', 10, "exactly once: many batches wait for their status ($eo_waiting), not 4");
cmp_ok($al_waiting, '>=', 10, "at least once: many batches wait for their status ($al_waiting), not 4");
cmp_ok($eo_age, '>', 2, "the oldest batch waiting for its status has waited for seconds ($eo_age s)");
cmp_ok($eo_age, '<', $delay_ms / 1000 + 10, 'and not longer than the batching time allows');
is($kusto->count($db, 'T'), 0, 'no batch is in Kusto yet (the DM takes 10 s)');

# the worker crashes at its next queue post, while dozens of batches wait
$eo->crash_at('after_queue', sub { steady_load(2) });

# more load after the restart, then everything is confirmed
steady_load(3);
$eo->exactly_once('after a crash while dozens of batches waited for their status');
my $a_total = $a_next - 1;
$kusto->wait_count($db, 'A', $a_total);
is_deeply($kusto->query($db, 'A | summarize ids = dcount(id), lo = min(id), hi = max(id)'),
	[ [ $a_total, 1, $a_total ] ], "at least once: all $a_total rows in Kusto");

# the slots are confirmed once the statuses arrive: past the last commit,
# with nothing waiting for its status
my $last = $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
my $done = q{SELECT name, batches_awaiting_status, oldest_awaiting_status_seconds, lag_seconds, confirmed_lsn
	FROM kusto_sink.status ORDER BY name};
ok($node->poll_query_until('postgres', qq{
	SELECT bool_and(batches_awaiting_status = 0 AND oldest_awaiting_status_seconds IS NULL
					AND confirmed_lsn >= '$last')
	FROM kusto_sink.status}), 'both sinks confirmed everything: no batch waits for its status')
  or diag($node->safe_psql('postgres', $done));

# batches grow with the backlog: with room for only 2 batches waiting for
# their status (a 10 s DM), a batch due by batch_interval_ms (100 ms) stays
# open while the slots are busy and fills on, so 40 transactions over 4 s go
# out in a handful of batches, not 40
$kusto->mgmt($db, ".create table G (id:long, note:string, $KustoEmulator::METADATA_COLUMNS)");
$node->safe_psql('postgres', q{
	CREATE TABLE g (id int PRIMARY KEY, note text);
	SELECT kusto_sink.create_sink('grow', 'emu', 'g', 'Pipe', 'G',
		'{"ingestion_method": "queued", "batch_interval_ms": 100, "max_awaiting_status": 2, "snapshot": false}');
});
ok($node->poll_query_until('postgres', "SELECT state = 'running' FROM kusto_sink.status WHERE name = 'grow'"),
	'the sink with room for 2 waiting batches runs');
for my $i (0 .. 39)
{
	my $from = $i * 30 + 1;
	my $to = $from + 29;
	$node->safe_psql('postgres', "INSERT INTO g SELECT x, 'n' FROM generate_series($from, $to) x");
	usleep(100_000);
}
$kusto->wait_count($db, 'G', 1200);
ok($node->poll_query_until('postgres',
	"SELECT rows_sent = 1200 AND batches_awaiting_status = 0 FROM kusto_sink.status WHERE name = 'grow'"),
	'every row of the 40 transactions is confirmed');
my $batches = Sinks::status($node, 'grow', 'batches_sent');
cmp_ok($batches, '<=', 8, "40 transactions went out in $batches batches: the open batch grew while the slots were busy");

# the initial snapshot of a 60-chunk table against the same 10 s DM: its
# chunks' batches wait for their status together (not 8 chunks at a time,
# which took a batching time per 8 chunks: 80 s here)
$kusto->mgmt($db, ".create table S (id:long, note:string, $KustoEmulator::METADATA_COLUMNS)");
$node->safe_psql('postgres', q{
	CREATE TABLE s (id int PRIMARY KEY, note text);
	INSERT INTO s SELECT g, 'n' || g FROM generate_series(1, 60000) g;
});
my $s0 = time;
$node->safe_psql('postgres', q{
	SELECT kusto_sink.create_sink('snap', 'emu', 's', 'Pipe', 'S',
		'{"ingestion_method": "queued", "batch_size": 1000}');
});
ok($node->poll_query_until('postgres',
	"SELECT snapshot_state = 'done' FROM kusto_sink.status WHERE name = 'snap'"), 'the queued snapshot finishes');
my $snap_s = time - $s0;
is_deeply($kusto->query($db, q{S | where _op == 'snapshot' | summarize n = count(), ids = dcount(id)}),
	[ [ 60000, 60000 ] ], 'every row of the table is in Kusto once');
cmp_ok($snap_s, '<', 45, "60 chunks of a queued snapshot against a 10 s DM took $snap_s s, not 8 chunks per 10 s");

# ingestion_batching with create_table: the Kusto table gets the
# IngestionBatching policy, and the DM (an emulator without a delay override:
# the policies decide, 1 s for a table without one) holds the sink's blobs for
# its 10 s
my $policed = KustoEmulator->new();
$node->safe_psql('postgres', qq{
	CREATE TABLE b (id int PRIMARY KEY, note text);
	SELECT kusto_sink.create_connection('emu2', '@{[ $policed->url ]}', 'application',
		tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret');
	SELECT kusto_sink.create_sink('bt', 'emu2', 'b', 'Pipe', 'B',
		'{"ingestion_method": "queued", "create_table": true, "batch_interval_ms": 100,
		  "ingestion_batching": {"max_time": "00:00:10"}}');
});
ok($node->poll_query_until('postgres', "SELECT state = 'running' FROM kusto_sink.status WHERE name = 'bt'"),
	'the sink with ingestion_batching runs');
my $t0 = time;
$node->safe_psql('postgres', "INSERT INTO b SELECT g, 'n' FROM generate_series(1, 50) g");
ok($node->poll_query_until('postgres', "SELECT batches_awaiting_status > 0 FROM kusto_sink.status WHERE name = 'bt'"),
	'its batch was sent and waits for its status');
usleep(3_000_000);
is($policed->count('Pipe', 'B'), 0, 'after 3 s the DM still batches (the policy says 10 s)');
$policed->wait_count('Pipe', 'B', 50);
my $took = time - $t0;
cmp_ok($took, '>=', 9, "the rows arrived after the policy's 10 s ($took s)");
Sinks::batch_moves_ok($node);

done_testing();
