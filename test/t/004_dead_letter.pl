# on_error = dead_letter: a batch Kusto rejects permanently goes, with its
# records and the error, to kusto_sink.dead_letter while the sink goes on;
# retry_dead_letter() sends it again and removes it once Kusto accepts it.
# With the default on_error = stop, the sink stops in state error instead.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;
use Sinks;

my $kusto = KustoEmulator->new;
$kusto->create_sink_table('Db', 'T', 'id:long');

my $node = Sinks::start_node('deadletter', $kusto);
$node->safe_psql('postgres', qq{
	CREATE TABLE t (id int PRIMARY KEY);
	SELECT kusto_sink.create_sink('s', 'emu', 't', 'Db', 'T',
		'{"ingestion_method": "streaming", "batch_interval_ms": 100, "on_error": "dead_letter"}');
});
ok($node->poll_query_until('postgres', "SELECT state = 'running' FROM kusto_sink.status"), 'running');

$kusto->admin('POST', '/admin/faults', { kind => 'streaming', count => 1,
	action => { status => 400, code => 'BadRequest_SyntaxError', permanent => JSON::PP::true,
				message => 'Rejected for the test.' } });
$node->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(1, 50)');
ok($node->poll_query_until('postgres', 'SELECT count(*) = 1 FROM kusto_sink.dead_letter'),
	'the rejected batch is a dead letter');
is($node->safe_psql('postgres', 'SELECT records, kusto_table, format FROM kusto_sink.dead_letter'),
	'50|T|json', 'with its records, table and format');
like($node->safe_psql('postgres', 'SELECT error FROM kusto_sink.dead_letter'),
	qr/BadRequest_SyntaxError: Rejected for the test\. \(activity id [0-9a-f-]{36}\) \(HTTP 400, permanent\)/,
	'and the error, with the activity id of the request Kusto refused');
is($node->safe_psql('postgres', q{SELECT count(*) FROM kusto_sink.dead_letter, regexp_split_to_table(rtrim(payload, E'\n'), E'\n') l WHERE l::jsonb ? 'id'}),
	'50', 'the payload holds the 50 records');

$node->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(51, 60)');
is($kusto->wait_count('Db', 'T', 10), 10, 'the sink goes on');
ok($node->poll_query_until('postgres',
	"SELECT lag_bytes < 100000 AND state = 'running' FROM kusto_sink.status"), 'and its slot moves on');

is($node->safe_psql('postgres', "SELECT kusto_sink.retry_dead_letter('s')"), '1', 'one dead letter to retry');
is($kusto->wait_count('Db', 'T', 60), 60, 'the retried records arrive');
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM kusto_sink.dead_letter'),
	'and the dead letter is gone');

# on_error = stop (the default): nothing skipped, state error, then it goes on
ok(Sinks::alter_and_wait($node, 's', '{"on_error": null}'), 'running again');
$kusto->admin('POST', '/admin/faults', { kind => 'streaming', count => 2,
	action => { status => 400, code => 'BadRequest_SyntaxError', permanent => JSON::PP::true } });
$node->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(61, 70)');
ok($node->poll_query_until('postgres', "SELECT state = 'error' FROM kusto_sink.status"),
	'a permanent rejection stops the sink in state error');
is($kusto->wait_count('Db', 'T', 70), 70, 'and, the cause gone, the same batch arrives');
is($node->safe_psql('postgres', 'SELECT count(*) FROM kusto_sink.dead_letter'), '0', 'nothing was skipped');

# a rejection in the middle of a large transaction (decoding waits for room
# for its batches): the pause ends, and so does a drop_sink
sub status { return $node->safe_psql('postgres', "SELECT $_[0] FROM kusto_sink.status"); }
ok(Sinks::alter_and_wait($node, 's', '{"batch_size": 10}'), 'running with batches of 10 records');
my $failures = status('ingestion_failures');
$kusto->admin('POST', '/admin/faults', { kind => 'streaming', count => 1,
	action => { status => 400, code => 'BadRequest_SyntaxError', permanent => JSON::PP::true } });
$node->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(101, 200)');
ok($node->poll_query_until('postgres', "SELECT state = 'error' AND ingestion_failures > $failures FROM kusto_sink.status"),
	'a batch of a 100-row transaction is rejected: state error');
is($kusto->wait_count('Db', 'T', 170), 170, 'after the pause, the cause gone, the whole transaction arrives');
is_deeply($kusto->query('Db', 'T | where id > 100 | summarize count(), dcount(id)'), [ [ 100, 100 ] ], 'each row once');

$kusto->admin('POST', '/admin/faults', { kind => 'streaming', count => 1000,
	action => { status => 400, code => 'BadRequest_SyntaxError', permanent => JSON::PP::true } });
$failures = status('ingestion_failures');
$node->safe_psql('postgres', 'INSERT INTO t SELECT generate_series(201, 300)');
ok($node->poll_query_until('postgres', "SELECT state = 'error' AND ingestion_failures > $failures FROM kusto_sink.status"),
	'rejected again, for good');
my ($ret, $out, $err) = $node->psql('postgres', "SELECT kusto_sink.drop_sink('s')", timeout => 60);
is($ret, 0, 'drop_sink ends the pause in the middle of the transaction') or diag($err);
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'kusto_sink_s'}), '0',
	'and drops the slot');
$kusto->admin('POST', '/admin/reset', {});

# exactly once: a dead letter is sent again too (its batch left the protocol
# when Kusto rejected it: the retry is delivered at least once)
$kusto->create_sink_table('Db', 'O', 'id:long');
$node->safe_psql('postgres', q{
	CREATE TABLE o (id int PRIMARY KEY);
	SELECT kusto_sink.create_sink('once', 'emu', 'o', 'Db', 'O',
		'{"ingestion_method": "streaming", "delivery_guarantee": "exactly_once", "batch_interval_ms": 100,
		  "on_error": "dead_letter"}');
});
ok(Sinks::wait_state($node, 'once', 'running'), 'an exactly-once sink with dead letters runs');
$kusto->admin('POST', '/admin/faults', { kind => 'streaming', count => 1,
	action => { status => 400, code => 'BadRequest_SyntaxError', permanent => JSON::PP::true } });
$node->safe_psql('postgres', 'INSERT INTO o SELECT generate_series(1, 50)');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM kusto_sink.dead_letter WHERE sink = 'once'}),
	'exactly once: the rejected batch is a dead letter');
$node->safe_psql('postgres', 'INSERT INTO o SELECT generate_series(51, 60)');
is($kusto->wait_count('Db', 'O', 10), 10, 'exactly once: the sink goes on');
is($node->safe_psql('postgres', "SELECT kusto_sink.retry_dead_letter('once')"), '1', 'exactly once: one dead letter to retry');
is_deeply($kusto->query_until('Db', 'O | summarize count(), dcount(id)', [ [ 60, 60 ] ]), [ [ 60, 60 ] ],
	'exactly once: the retried records arrive, each once');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM kusto_sink.dead_letter WHERE sink = 'once'}),
	'exactly once: and the dead letter is gone');

Sinks::batch_moves_ok($node);
$node->stop;
$kusto->stop;
done_testing();
