# Exactly once over streaming and managed ingestion, which carry no extent
# tag: a batch whose fate is unknown (a crash, an answer lost after Kusto
# stored it) is looked up in Kusto by its first record before it is sent
# again.  Crashes at each step, lost answers, 503s, COPY (many records of one
# WAL record, which a batch never splits), the emulator restarting, managed
# ingestion on both of its paths, and a source table dropped; after each,
# every committed row is in Kusto exactly once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;
use ExactlyOnce;
use Sinks;

my $kusto = KustoEmulator->new('ingestion-delay-ms' => 200);
my $db = 'Eos';
$kusto->mgmt($db, ".create table S (id:long, note:string, $KustoEmulator::METADATA_COLUMNS)");
$kusto->mgmt($db, '.alter table S policy streamingingestion enable');

my ($node, $crash_file) = ExactlyOnce::start_node('eos', $kusto);

# a stream is found in Kusto by its commit and change LSN: both must be there
my ($ret, $out, $err) = $node->psql('postgres',
	q{SELECT kusto_sink.create_sink('x', 'emu', 't', 'Eos', 'S', '{"delivery_guarantee": "exactly_once", "ingestion_method": "streaming", "metadata": "op, lsn"}')});
like($err, qr/delivery_guarantee "exactly_once" with ingestion_method "streaming" needs the metadata columns lsn and commit_lsn/,
	'exactly once over streaming needs the LSN columns');

$node->safe_psql('postgres', q{
	SELECT kusto_sink.create_sink('eos', 'emu', 't', 'Eos', 'S',
		'{"delivery_guarantee": "exactly_once", "ingestion_method": "streaming",
		  "batch_interval_ms": 100, "batch_size": 40}');
});

my $eo = ExactlyOnce->new(node => $node, kusto => $kusto, db => $db, table => 'S',
	sink => 'eos', crash_file => $crash_file);
sub running { return $eo->running }
sub insert_rows { return $eo->insert_rows(@_) }
sub exactly_once { $eo->exactly_once(@_) }
sub crash_at { $eo->crash_at(@_) }

# COPY: one multi-insert WAL record per page, so many records share a change LSN
sub copy_rows
{
	my ($n) = @_;
	my $from = $eo->take($n);
	my $file = $node->basedir . "/copy_$from.csv";
	open(my $fh, '>', $file) or die $!;
	print $fh join('', map { "$_,c$_\n" } $from .. $from + $n - 1);
	close $fh;
	$node->safe_psql('postgres', "COPY t FROM '$file' (FORMAT csv)");
}

ok(running(), 'the exactly-once streaming sink runs');

insert_rows(200, 100);
exactly_once('no crash');

crash_at('after_record', sub { insert_rows(150, 150) });	# recorded, nothing sent
my $log_at = -s $node->logfile;
crash_at('after_ack', sub { insert_rows(150, 50) });		# streamed, progress not committed
ok($node->wait_for_log(qr/batch [0-9a-f-]+ is in Kusto already; not sent again/, $log_at),
	'a streamed batch rebuilt after the crash is found in Kusto, not sent again');
crash_at('after_progress', sub { insert_rows(150, 30) });	# progress committed, slot not moved

# the answer is lost after Kusto stored the rows: found, not sent again
$log_at = -s $node->logfile;
$kusto->admin('POST', '/admin/faults', { kind => 'streaming', count => 1, action => { lost => JSON::PP::true } });
insert_rows(30, 30);
exactly_once('a lost answer to a stored stream');
ok($node->wait_for_log(qr/is in Kusto already; not sent again/, $log_at), 'the lost stream was looked up');

# 503 before anything is stored: looked up, not found, sent again
$kusto->admin('POST', '/admin/faults', { kind => 'streaming', count => 2, action => { status => 503 } });
insert_rows(60, 20);
exactly_once('streams refused with 503');

# COPY: a batch never ends inside one WAL record's records (found by the first)
copy_rows(500);
exactly_once('COPY');
ok($kusto->query($db, 'S | summarize n = count() by _commit_lsn, _lsn | summarize max(n)')->[0][0] > 40,
	'COPY gave runs of records with one change LSN, longer than batch_size');
crash_at('after_record', sub { copy_rows(400) });
crash_at('after_ack', sub { copy_rows(400) });

# the emulator restarts (its state kept) while changes arrive
$kusto->restart(while_down => sub { insert_rows(50, 10) });
insert_rows(50, 10);
exactly_once('the emulator restarted');

# the postmaster is killed (kill -9) while a stream hangs: the worker notices
# the postmaster's death inside the transfer and exits; after a new start the
# batch in doubt is looked up and sent once
$kusto->admin('POST', '/admin/faults', { kind => 'streaming', count => 1, action => { hang => JSON::PP::true } });
my $worker = $node->safe_psql('postgres', "SELECT worker_pid FROM kusto_sink.status WHERE name = 'eos'");
insert_rows(40, 40);
ok($node->poll_query_until('postgres', 'SELECT count(*) > 0 FROM kusto_sink.batch'),
	'a batch is recorded while its stream hangs');
my $postmaster = PostgreSQL::Test::Utils::slurp_file($node->data_dir . '/postmaster.pid') =~ /^(\d+)/ && $1;
kill 'KILL', $postmaster;
my $deadline = time + 60;
usleep(50_000) while kill(0, $worker) && time < $deadline;
ok(!kill(0, $worker), 'the worker exits when the postmaster dies, even inside a transfer');
$kusto->admin('POST', '/admin/reset', {});
$node->_update_pid(-1);
$node->start;
ok(running(), 'the worker runs after the postmaster was killed and started again');
exactly_once('kill -9 of the postmaster');

# managed ingestion: streams (looked up when in doubt) ...
ok($eo->alter('{"ingestion_method": "managed"}'), 'the sink runs with managed ingestion');
insert_rows(50, 25);
exactly_once('managed, streamed');
crash_at('after_ack', sub { insert_rows(80, 40) });
$kusto->admin('POST', '/admin/faults', { kind => 'streaming', count => 1, action => { lost => JSON::PP::true } });
insert_rows(30, 30);
exactly_once('managed, a lost answer to a stored stream');

# ... and queues, tagged, when the table does not take streams
$kusto->mgmt($db, '.alter table S policy streamingingestion disable');
my $queued_before = $kusto->dm_settled;
insert_rows(60, 30);
exactly_once('managed, queued (streaming policy off)');
cmp_ok($kusto->dm_settled, '>', $queued_before, 'those batches went through the queue');
crash_at('after_queue', sub { insert_rows(40, 40) });
crash_at('after_record', sub { insert_rows(40, 40) });
$kusto->mgmt($db, '.alter table S policy streamingingestion enable');

# a source table dropped: its changes up to the drop arrive once, then the
# sink says so; it does not start decoding other tables
$node->safe_psql('postgres', 'CREATE TABLE other (id int PRIMARY KEY)');
insert_rows(30, 30);
$node->safe_psql('postgres', 'DROP TABLE t');
exactly_once('rows committed before the source table was dropped');
$node->safe_psql('postgres', q{SELECT kusto_sink.alter_sink('eos', '{"batch_size": 50}')});
ok($node->poll_query_until('postgres',
	"SELECT last_error ~ 'source tables with OIDs [0-9]+ were dropped' FROM kusto_sink.status WHERE name = 'eos'"),
	'the sink reports the dropped source table');
$node->safe_psql('postgres', 'INSERT INTO other SELECT generate_series(1, 10)');
my $after = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok($node->poll_query_until('postgres',
	"SELECT confirmed_lsn >= '$after' FROM kusto_sink.status WHERE name = 'eos'"),
	'the sink reads past the insert into a table that is not a source');
exactly_once('a table that is not a source is not decoded');

$node->safe_psql('postgres', "SELECT kusto_sink.drop_sink('eos')");
is($node->safe_psql('postgres', 'SELECT count(*) FROM kusto_sink.batch'), '0', 'nothing left in flight');
Sinks::batch_moves_ok($node);
$node->stop;
$kusto->stop;
done_testing();
