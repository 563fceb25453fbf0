# Queued and managed ingestion end to end: a queued sink delivers through
# blob + queue + the DM, acknowledged when the status table says Succeeded
# (or, with poll_for_ingestion_status off, when the queue took it); a
# managed sink whose Kusto table has no streaming policy falls back to
# queued ingestion; a permanent DM failure stops the sink with the status's
# error and loses nothing.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;
use Sinks;

my $kusto = KustoEmulator->new('ingestion-delay-ms' => 100);
my $db = 'Q';
$kusto->mgmt($db, ".create table Orders (id:long, note:string, $KustoEmulator::METADATA_COLUMNS)");
$kusto->mgmt($db, ".create table Managed (id:long, note:string, $KustoEmulator::METADATA_COLUMNS)");

my $node = Sinks::start_node('queued', $kusto);
$node->safe_psql('postgres', qq{
	CREATE TABLE orders (id int PRIMARY KEY, note text);
	CREATE TABLE managed (id int PRIMARY KEY, note text);
	SELECT kusto_sink.create_sink('q', 'emu', 'orders', '$db', 'Orders',
		'{"ingestion_method": "queued", "batch_interval_ms": 100, "flush_immediately": true}');
	SELECT kusto_sink.create_sink('m', 'emu', 'managed', '$db', 'Managed',
		'{"ingestion_method": "managed", "batch_interval_ms": 100}');
});
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 2 FROM kusto_sink.status WHERE state = 'running'"), 'both workers run');

sub status { return Sinks::status($node, @_); }

# ---- queued: every change through the DM, acknowledged by the status table ----
my $dm_before = $kusto->admin('GET', '/admin/stats')->{dm}{processed};
$node->safe_psql('postgres', q{
	INSERT INTO orders SELECT g, 'n' || g FROM generate_series(1, 500) g;
	UPDATE orders SET note = 'changed' WHERE id = 10;
	DELETE FROM orders WHERE id = 11;
});
is($kusto->wait_count($db, 'Orders', 502), 502, 'queued: 500 inserts, the update and the delete arrive');
is_deeply($kusto->query($db, 'Orders | summarize n = count(), s = sum(id) by _op | order by _op asc'),
	[ [ 'delete', 1, 11 ], [ 'insert', 500, 125250 ], [ 'update', 1, 10 ] ],
	'queued: operations and keys as in the source');
is_deeply($kusto->query($db, "Orders | where id == 10 and _op == 'update' | project note"), [ ['changed'] ],
	'queued: the update carries the new value');
cmp_ok($kusto->dm_settled, '>', $dm_before, 'queued: the DM ingested the blobs');
ok($node->poll_query_until('postgres',
	"SELECT rows_sent = 502 AND lag_bytes < 1000000 FROM kusto_sink.status WHERE name = 'q'"),
	'queued: status counts the rows once Kusto reported success, and the slot follows');

# ---- managed: streaming is off on the table, so batches go queued ----
$node->safe_psql('postgres', q{INSERT INTO managed SELECT g, 'm' FROM generate_series(1, 300) g});
is($kusto->wait_count($db, 'Managed', 300), 300, 'managed: the rows arrive through the queued fallback');
is($kusto->query($db, 'Managed | summarize dcount(id)')->[0][0], 300, 'managed: each row once');
# and with streaming on, the same sink streams: a worker remembers for 15
# minutes that the table could not stream (as the SDKs' managed clients do),
# a new one tries at once
$kusto->mgmt($db, '.alter table Managed policy streamingingestion enable');
ok(Sinks::alter_and_wait($node, 'm', '{"ingestion_method": "managed", "batch_interval_ms": 101}'),
	'managed: a new worker after alter_sink');
my $dm_mid = $kusto->dm_settled;
$node->safe_psql('postgres', q{INSERT INTO managed SELECT g, 'm' FROM generate_series(301, 320) g});
is($kusto->wait_count($db, 'Managed', 320), 320, 'managed: streams once the policy is on');
is($kusto->dm_settled, $dm_mid, 'managed: no blob went through the DM');

# ---- status reads failing for a while: the batch is still on its way, not sent twice ----
my $before = $kusto->count($db, 'Orders');
$kusto->admin('POST', '/admin/faults', { kind => 'table', path => 'PartitionKey', count => 3, action => { status => 503 } });
$node->safe_psql('postgres', q{INSERT INTO orders SELECT g, 'st' FROM generate_series(3001, 3050) g});
is($kusto->wait_count($db, 'Orders', $before + 50), $before + 50, 'rows arrive while status reads fail');
ok($node->poll_query_until('postgres', "SELECT rows_sent = 552 FROM kusto_sink.status WHERE name = 'q'"),
	'the batch is acknowledged once its status can be read');
is($kusto->count($db, 'Orders'), $before + 50, 'and it was not sent twice');
$kusto->admin('POST', '/admin/reset', {});

# ---- a permanent DM failure: state error with the status's message, then recovery ----
$kusto->admin('POST', '/admin/ingestion-faults', { kind => 'permanent', count => 1 });
$node->safe_psql('postgres', q{INSERT INTO orders SELECT g, 'late' FROM generate_series(1001, 1010) g});
ok($node->poll_query_until('postgres',
	"SELECT state = 'error' FROM kusto_sink.status WHERE name = 'q'"), 'a permanent ingestion failure stops the sink');
like(status('q', 'last_error'),
	qr/queued ingestion [0-9a-f-]{36} Failed: BadRequest_InvalidBlob: Injected permanent ingestion failure/,
	'last_error carries the status table\'s code and details');
is($kusto->wait_count($db, 'Orders', 562), 562, 'once the cause is gone the batch is sent again and arrives');
ok($node->poll_query_until('postgres', "SELECT state = 'running' FROM kusto_sink.status WHERE name = 'q'"),
	'and the sink runs again');
is($kusto->query($db, 'Orders | where id > 1000 and id < 2000 | summarize dcount(id), count()')->[0][0], 10,
	'the late rows, each once');

# ---- poll_for_ingestion_status off: acknowledged as soon as the queue took the message
# (and flush_immediately off, so that the DM's 5 s batching delay applies) ----
ok(Sinks::alter_and_wait($node, 'q', '{"poll_for_ingestion_status": false, "flush_immediately": false}'),
	'running with poll_for_ingestion_status off');
$kusto->admin('POST', '/admin/config', { ingestionDelayMs => 5000 });
my $sent = status('q', 'rows_sent');
$node->safe_psql('postgres', q{INSERT INTO orders SELECT g, 'fast' FROM generate_series(2001, 2005) g});
ok($node->poll_query_until('postgres', "SELECT rows_sent = $sent + 5 FROM kusto_sink.status WHERE name = 'q'"),
	'the batch counts as sent once queued');
cmp_ok($kusto->count($db, 'Orders'), '<', 567, 'while the DM has not ingested it yet');
is($kusto->wait_count($db, 'Orders', 567), 567, 'and it arrives later');

Sinks::batch_moves_ok($node);
$node->stop;
done_testing();
