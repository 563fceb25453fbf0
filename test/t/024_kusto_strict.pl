# Real Kusto's strict behaviours (issue 19), against an emulator as strict:
#  - names (item 7): a source column whose name Kusto cannot hold (letters,
#    digits, '_', space, '.', '-', at most 1,024 characters) is refused by
#    create_sink and alter_sink with create_table; one added later stops the
#    sink before anything of it is sent, naming it;
#  - a cluster without streaming (item 1, --cluster-streaming off): managed
#    with create_table warns and delivers everything queued, saying so in
#    last_error; streaming stops in state error naming Kusto's code;
#  - the streaming nodes' stale schema (item 2, --streaming-schema-delay-ms):
#    after the worker's own changes (a new table, ADD COLUMN) every row
#    arrives with its values, nothing is dead-lettered, the sink runs;
#  - a re-sent queued batch in its first message's ingestion batch (item 9,
#    BlobAlreadyReceived_BlobAlreadyFoundInBatch): exactly once, running.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;
use Sinks;
use ExactlyOnce;

my $kusto = KustoEmulator->new('streaming-schema-delay-ms' => 600000);
my $db = 'Names';
my $node = Sinks::start_node('names', $kusto);
sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{CREATE TABLE bad (id int PRIMARY KEY, "price; drop" int);
	  CREATE TABLE good (id int PRIMARY KEY, "unit price" int, "naïve-col.x" text)});

# refused at create_sink, with Kusto's rule in the detail
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT kusto_sink.create_sink('b', 'emu', 'bad', 'Names', 'Bad',
	'{"create_table": true, "ingestion_method": "streaming"}')}, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  42602: column "price; drop" of table bad cannot be a Kusto column/,
	'create_sink with create_table refuses a column Kusto cannot hold (SQLSTATE 42602)');
like($err, qr/DETAIL:  A Kusto name may contain only letters, digits, underscores, spaces, dots and dashes\./,
	'and says the rule');
is(sql(q{SELECT count(*) FROM kusto_sink.sink WHERE name = 'b'}), '0', 'no sink was made');

# without create_table the user's Kusto table decides: accepted
sql(q{SELECT kusto_sink.create_sink('b', 'emu', 'bad', 'Names', 'Bad', '{"ingestion_method": "streaming"}')});
($rc, $out, $err) = $node->psql('postgres', q{SELECT kusto_sink.alter_sink('b', '{"create_table": true}')});
like($err, qr/column "price; drop" of table bad cannot be a Kusto column/,
	'alter_sink turning create_table on refuses it too');
sql(q{SELECT kusto_sink.drop_sink('b')});

# names Kusto holds: spaces, dots, dashes, letters of any script
sql(q{SELECT kusto_sink.create_sink('g', 'emu', 'good', 'Names', 'Good',
	'{"create_table": true, "ingestion_method": "streaming", "batch_interval_ms": 100}')});
sql(q{INSERT INTO good SELECT g, g, 'x' FROM generate_series(1, 10) g});
is($kusto->wait_count($db, 'Good', 10), 10, 'a table with spaces, dots, dashes and non-ASCII letters in its column names arrives');
my $schema = JSON::PP->new->decode($kusto->mgmt($db, '.show table Good schema as json')->[0][1]);
is_deeply([ map { $_->{Name} } @{ $schema->{OrderedColumns} }[0 .. 2] ], [ 'id', 'unit price', "na\x{ef}ve-col.x" ],
	'the Kusto table has columns of those names');
is($kusto->query($db, q{Good | where ['unit price'] == 7 | count})->[0][0], 1, 'holding the values');

# a column added later that Kusto cannot hold: the sink stops before sending, naming it
sql(q{ALTER TABLE good ADD COLUMN "q$" int; INSERT INTO good VALUES (11, 11, 'y', 1)});
ok(Sinks::wait_state($node, 'g', 'error'), 'the sink stops when a column Kusto cannot hold is added');
like(Sinks::status($node, 'g', 'last_error'),
	qr/^column "q\$" cannot be a column of Kusto table "Good": a Kusto name may contain only letters, digits, underscores, spaces, dots and dashes; the sink stops before sending records that carry it/,
	'last_error names the column and the rule');
is($kusto->count($db, 'Good'), 10, 'nothing of the new layout was sent');

# the emulator refuses such names as Kusto does
eval { $kusto->mgmt($db, q{.create-merge table Good (['q$']:int)}) };
like($@, qr/^\/v1\/rest\/mgmt .*: 400 .*"code":"BadRequest_EntityNameIsNotValid"/,
	"the emulator refuses the name with Kusto's code");

# ---------- a cluster without streaming ----------
$kusto->admin('POST', '/admin/config', { clusterStreaming => JSON::PP::false });
sql(q{CREATE TABLE cm (id int PRIMARY KEY, v text); CREATE TABLE cs (id int PRIMARY KEY, v text)});
sql(q{SELECT kusto_sink.create_sink('cm', 'emu', 'cm', 'Names', 'Cm',
	'{"create_table": true, "ingestion_method": "managed", "batch_interval_ms": 100}')});
sql(q{INSERT INTO cm SELECT g, 'm' FROM generate_series(1, 200) g});
is($kusto->wait_count($db, 'Cm', 200), 200, 'managed with create_table on a cluster without streaming: every row, queued');
is(Sinks::status($node, 'cm', 'state'), 'running', 'and the sink runs');
like(Sinks::status($node, 'cm', 'last_error'),
	qr/^managed ingestion sends Kusto table "Cm" queued: .*StreamingIngestionDisabledForCluster/,
	'last_error says it goes queued, and why');
my $log = slurp_file($node->logfile);
like($log, qr/WARNING:  kusto_sink sink "cm": streaming ingestion cannot be enabled on Kusto table "Cm"/,
	'a WARNING at start');
sql(q{SELECT kusto_sink.create_sink('cs', 'emu', 'cs', 'Names', 'Cs',
	'{"create_table": true, "ingestion_method": "streaming", "batch_interval_ms": 100}')});
ok($node->poll_query_until('postgres',
	q{SELECT last_error ~ 'StreamingIngestionDisabledForCluster' FROM kusto_sink.status WHERE name = 'cs'}),
	"streaming on such a cluster: the sink's last_error names Kusto's code");
like(slurp_file($node->logfile), qr/HINT:  Enable streaming ingestion on the cluster, or use the sink option ingestion_method "managed" or "queued"\./,
	'with the hint');
sql(q{SELECT kusto_sink.drop_sink('cs'); SELECT kusto_sink.drop_sink('cm')});

# without create_table: the Kusto tables are the user's
$kusto->mgmt($db, ".create table Nm (id:int, v:string, $KustoEmulator::METADATA_COLUMNS)");
$kusto->mgmt($db, ".create table Ns (id:int, v:string, $KustoEmulator::METADATA_COLUMNS)");
sql(q{CREATE TABLE nm (id int PRIMARY KEY, v text); CREATE TABLE ns (id int PRIMARY KEY, v text)});
sql(q{SELECT kusto_sink.create_sink('nm', 'emu', 'nm', 'Names', 'Nm',
	'{"ingestion_method": "managed", "batch_interval_ms": 50, "batch_size": 20}')});
sql(q{INSERT INTO nm SELECT g, 'm' FROM generate_series(1, 100) g});
is($kusto->wait_count($db, 'Nm', 100), 100, 'managed without create_table on a cluster without streaming: every row, queued');
# (the batches in flight when the first stream was refused tried too)
my $streams = $kusto->admin('GET', '/admin/stats')->{requests}{streaming} // 0;
sql(q{INSERT INTO nm SELECT g, 'm' FROM generate_series(101, 200) g});
is($kusto->wait_count($db, 'Nm', 200), 200, 'and the next batches');
is(($kusto->admin('GET', '/admin/stats')->{requests}{streaming} // 0) - $streams, 0,
	'without a stream tried: the table is remembered as unable to stream');
like(Sinks::status($node, 'nm', 'last_error'),
	qr/^managed ingestion sends Kusto table "Nm" queued for now: streaming is unavailable \(NotFound_StreamingIngestionDisabledForCluster\)/,
	'kusto_sink.status says it goes queued, and why');
is(Sinks::status($node, 'nm', 'state'), 'running', 'the managed sink runs');
sql(q{SELECT kusto_sink.create_sink('ns', 'emu', 'ns', 'Names', 'Ns',
	'{"ingestion_method": "streaming", "batch_interval_ms": 50, "on_error": "dead_letter"}')});
sql(q{INSERT INTO ns SELECT g, 's' FROM generate_series(1, 10) g});
ok(Sinks::wait_state($node, 'ns', 'error'), 'a streaming sink on a cluster without streaming stops in state error');
like(Sinks::status($node, 'ns', 'last_error'),
	qr/NotFound_StreamingIngestionDisabledForCluster.*; enable streaming ingestion on the cluster, or use the sink option ingestion_method managed or queued$/,
	'last_error names Kusto\'s code and says what to do');
is(sql(q{SELECT count(*) FROM kusto_sink.dead_letter WHERE sink = 'ns'}), '0',
	'no batch is dead-lettered (no batch of the sink could get past it)');
sql(q{SELECT kusto_sink.drop_sink('ns'); SELECT kusto_sink.drop_sink('nm')});
$kusto->admin('POST', '/admin/config', { clusterStreaming => JSON::PP::true });

# ---------- the streaming nodes' stale schema after the worker's own changes ----------
sql(q{CREATE TABLE sd (id int PRIMARY KEY, v text)});
sql(q{SELECT kusto_sink.create_sink('sd', 'emu', 'sd', 'Names', 'Sd',
	'{"create_table": true, "ingestion_method": "streaming", "batch_interval_ms": 100, "on_error": "dead_letter"}')});
sql(q{INSERT INTO sd SELECT g, 'a' FROM generate_series(1, 50) g});
is($kusto->wait_count($db, 'Sd', 50), 50, 'a new table streams at once (the worker cleared the streaming schema cache)');
sql(q{ALTER TABLE sd ADD COLUMN w int; INSERT INTO sd SELECT g, 'b', g FROM generate_series(51, 100) g});
is_deeply($kusto->query_until($db, 'Sd | where id > 50 | summarize n = count(), with_w = countif(isnotnull(w))', [ [ 50, 50 ] ]),
	[ [ 50, 50 ] ], 'after ADD COLUMN every new row arrives with its value');
is(sql(q{SELECT count(*) FROM kusto_sink.dead_letter WHERE sink = 'sd'}), '0', 'nothing dead-lettered');
is(Sinks::status($node, 'sd', 'state'), 'running', 'the sink runs');
sql(q{SELECT kusto_sink.drop_sink('sd')});

# ---------- a re-send in its first message's ingestion batch ----------
# A worker that dies right after the queue took the message finds the batch
# Pending when it starts again, and sends it again after pending_resend_after
# (8 s here): with a batching delay of 40 s the second message lands in the
# first one's batch, and Kusto answers it BlobAlreadyFoundInBatch on the
# shared status entity after the first one's Succeeded.
my ($eonode, $crash_file) = ExactlyOnce::start_node('rb', $kusto);
$eonode->safe_psql('postgres', qq{SELECT kusto_sink.create_sink('rb', 'emu', 't', '$db', 'Rb',
	'{"create_table": true, "ingestion_method": "queued", "delivery_guarantee": "exactly_once", "batch_interval_ms": 100, "on_error": "stop"}')});
my $eo = ExactlyOnce->new(node => $eonode, kusto => $kusto, db => $db, table => 'Rb', sink => 'rb',
	crash_file => $crash_file);
ok($eo->running, 'an exactly-once queued sink runs');
$kusto->admin('POST', '/admin/config', { ingestionDelayMs => 40000 });
$eo->crash_at('after_queue', sub { $eo->insert_rows(40, 40) });
ok($eonode->poll_query_until('postgres', q{SELECT rows_sent = 40 AND state = 'running' FROM kusto_sink.status WHERE name = 'rb'}),
	'the batch is acknowledged and the sink runs');
like(slurp_file($eonode->logfile), qr/batch \S+ has been Pending for \d+ s; sending it again/,
	'the batch was sent again while its first message was being batched');
unlike(slurp_file($eonode->logfile), qr/sink "rb": Kusto rejected a batch/,
	'BlobAlreadyFoundInBatch was not taken as a rejection of the batch');
is($eonode->safe_psql('postgres', q{SELECT count(*) FROM kusto_sink.dead_letter}), '0', 'nothing dead-lettered');
$kusto->admin('POST', '/admin/config', { ingestionDelayMs => 200 });

done_testing();
