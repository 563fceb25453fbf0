# Exactly once (delivery_guarantee = exactly_once, queued ingestion): the
# worker is killed (kill -9, so the postmaster restarts every process) at
# each step of the batch protocol, the postmaster is stopped with
# "immediate", a worker dies while a blob upload hangs, and a rebuilt batch
# finds its first send still Pending; after each, every committed row is in
# Kusto exactly once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;
use ExactlyOnce;
use Sinks;

my $kusto = KustoEmulator->new('ingestion-delay-ms' => 200);
my $db = 'Eo';
$kusto->mgmt($db, ".create table T (id:long, note:string, $KustoEmulator::METADATA_COLUMNS)");

my ($node, $crash_file) = ExactlyOnce::start_node('eo', $kusto);

# the options that exactly once needs
my ($ret, $out, $err) = $node->psql('postgres',
	q{SELECT kusto_sink.create_sink('x', 'emu', 't', 'Eo', 'T', '{"delivery_guarantee": "exactly_once", "ingestion_method": "streaming", "metadata": "op"}')});
like($err, qr/delivery_guarantee "exactly_once" with ingestion_method "streaming" needs the metadata columns lsn and commit_lsn/, 'exactly once over streaming needs the LSN columns');
($ret, $out, $err) = $node->psql('postgres',
	q{SELECT kusto_sink.create_sink('x', 'emu', 't', 'Eo', 'T', '{"delivery_guarantee": "exactly_once", "ingestion_method": "queued", "poll_for_ingestion_status": false}')});
like($err, qr/needs poll_for_ingestion_status/, 'exactly once needs the status table');

$node->safe_psql('postgres', q{
	SELECT kusto_sink.create_sink('eo', 'emu', 't', 'Eo', 'T',
		'{"delivery_guarantee": "exactly_once", "ingestion_method": "queued",
		  "batch_interval_ms": 100, "batch_size": 40}');
});

my $eo = ExactlyOnce->new(node => $node, kusto => $kusto, db => $db, table => 'T',
	sink => 'eo', crash_file => $crash_file);
sub running { return $eo->running }
sub insert_rows { return $eo->insert_rows(@_) }
sub exactly_once { $eo->exactly_once(@_) }
sub crash_at
{
	my ($point, $n, $per) = @_;
	$eo->crash_at($point, sub { insert_rows($n, $per) });
}

ok(running(), 'the exactly-once sink runs');

insert_rows(200, 100);
exactly_once('no crash');

crash_at('after_record', 150, 150);		# rows committed, batch rows recorded, nothing sent
crash_at('after_queue', 150, 50);		# the queue took a message, status not read
crash_at('after_ack', 150, 150);		# Kusto said Succeeded, progress not committed
crash_at('after_progress', 150, 30);	# progress committed, the slot not advanced

# a rebuilt batch whose first send is still Pending: waited for, not sent again
$kusto->admin('POST', '/admin/config', { ingestionDelayMs => 3000 });
ok($eo->alter('{"flush_immediately": false}'), 'running with the DM batching for 3 s');
my $dm_before = $kusto->admin('GET', '/admin/stats')->{dm}{processed};
crash_at('after_queue', 40, 40);
$kusto->admin('POST', '/admin/config', { ingestionDelayMs => 200 });
is($kusto->query($db, 'T | where id > ' . ($eo->next_id - 41) . ' | summarize dcount(id)')->[0][0], 40,
	'the batch that was Pending during the crash arrived once');

# a blob upload hangs and the worker dies meanwhile
$kusto->admin('POST', '/admin/faults', { kind => 'blob', count => 100, action => { hang => JSON::PP::true } });
my $pid = $node->safe_psql('postgres', "SELECT worker_pid FROM kusto_sink.status WHERE name = 'eo'");
insert_rows(60, 60);
ok($node->poll_query_until('postgres', 'SELECT count(*) > 0 FROM kusto_sink.batch'),
	'a batch is recorded while its upload hangs');
kill 'KILL', $pid;
$kusto->admin('POST', '/admin/reset', {});
ok(running(), 'the worker runs again after kill -9 during the upload');
exactly_once('kill -9 during a blob upload');

# the postmaster stops with "immediate" while batches are in flight
insert_rows(300, 25);
$node->poll_query_until('postgres', 'SELECT count(*) > 0 FROM kusto_sink.batch');
$node->stop('immediate');
$node->start;
ok(running(), 'the worker runs after an immediate shutdown and restart');
exactly_once('immediate shutdown');

# Kusto faults: the queue throttles (429 + Retry-After), an ingestion fails transiently
$kusto->admin('POST', '/admin/faults', { kind => 'queue', count => 2, action => { status => 429, retryAfter => 1 } });
$kusto->admin('POST', '/admin/ingestion-faults', { kind => 'transient', count => 1 });
insert_rows(80, 20);
exactly_once('a throttled queue and a transient ingestion failure');
ok($node->safe_psql('postgres', "SELECT retries FROM kusto_sink.status WHERE name = 'eo'") > 0,
	'the retries are counted');

# tokens that expire every few seconds: refreshed mid-stream, nothing lost or doubled
$kusto->admin('POST', '/admin/config', { tokenLifetimeSeconds => 2 });
insert_rows(100, 10);
exactly_once('short-lived tokens');
$kusto->admin('POST', '/admin/config', { tokenLifetimeSeconds => 3600 });

# a column added mid-stream (the Kusto table has no such column: Kusto ignores it)
$node->safe_psql('postgres', 'ALTER TABLE t ADD COLUMN extra int DEFAULT 7');
insert_rows(40, 40);
exactly_once('a column added mid-stream');

# what is left behind is consistent: nothing in flight, progress at the end
insert_rows(10, 10);
exactly_once('after all the crashes');
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM kusto_sink.batch'),
	'no batch is left in flight');
is($node->safe_psql('postgres', 'SELECT count(*) FROM kusto_sink.progress'), '1', 'one progress row: the one Kusto table');
is($kusto->query($db, 'T | summarize dcount(_commit_lsn)')->[0][0] > 0 ? 1 : 0, 1, 'rows carry their commit LSNs');

# Kusto ingests only part of a batch: an error, and its re-send (skipped by the
# tag) is never taken for a delivery
$kusto->admin('POST', '/admin/ingestion-faults', { kind => 'partial', count => 1 });
insert_rows(20, 20);
# (one query: the retry a second later puts its own error there)
ok($node->poll_query_until('postgres', "SELECT state = 'error' AND last_error ~ 'PartiallySucceeded' FROM kusto_sink.status WHERE name = 'eo'"),
	'a partially ingested batch stops the sink, and the error says so');
ok($node->poll_query_until('postgres',
	"SELECT last_error ~ 'only partially ingested before; drop the extent tagged ingest-by:' FROM kusto_sink.status WHERE name = 'eo'"),
	'the retry, skipped by the tag, is an error too, which says what to do');
is($node->safe_psql('postgres', 'SELECT count(*) FROM kusto_sink.batch WHERE NOT acked'), '1',
	'the batch stays in flight, not settled');

$node->safe_psql('postgres', "SELECT kusto_sink.drop_sink('eo')");
is($node->safe_psql('postgres', 'SELECT count(*) FROM kusto_sink.progress'), '0', 'drop_sink removes the progress');
Sinks::batch_moves_ok($node);
$node->stop;
$kusto->stop;
done_testing();
