# Dump and restore: pg_dump of a server with connections, sinks (one exactly
# once) and a dead letter, restored into a new cluster.
#  - the dump holds the configuration and no secret;
#  - the restored connections say that their secret is missing (connections,
#    test_connection); the restored sinks stop in state error saying that
#    their slot is missing and what to run;
#  - after the secret is entered again, resume_sink creates the slot and
#    resyncs the tables: the exactly-once sink into the Kusto table the old
#    server filled (its batches are not taken for the old server's: every
#    record of the new server arrives once), the other into a new Kusto
#    table whose latest state equals the restored table.
#  - the new server's LSNs start again: its first exactly-once batch is
#    paused before it is sent, and Kusto is given an extent tagged with the
#    id that batch would have had without the server in it (as the old
#    server would have tagged a batch at that position): the batch still
#    arrives.
#  - resume_sink does not take a slot of the sink's name in another database
#    (a physical one here), and resyncs a sink whose slot was dropped.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Digest::SHA qw(sha256);
use Time::HiRes qw(usleep);
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;
use Sinks;

my $kusto = KustoEmulator->new;
my $db = 'Dr';
$kusto->create_sink_table($db, 'Plain', 'id:long, note:string');
$kusto->create_sink_table($db, 'PlainB', 'id:long, note:string');
$kusto->create_sink_table($db, 'Once', 'id:long, note:string');

# ---------- the old server ----------
my $a = Sinks::start_node('old', $kusto);
$a->safe_psql('postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, note text);
	SELECT kusto_sink.create_connection('tok', 'https://c.kusto.windows.net', 'token',
		token => 'token-secret-4711');
});
$a->safe_psql('postgres', qq{
	SELECT kusto_sink.create_sink('plain', 'emu', 't', '$db', 'Plain',
		'{"ingestion_method": "streaming", "batch_interval_ms": 100,
		  "columns": {"public.t": {"include": ["id", "note"]}}}');
	SELECT kusto_sink.create_sink('once', 'emu', 't', '$db', 'Once',
		'{"delivery_guarantee": "exactly_once", "ingestion_method": "queued",
		  "batch_interval_ms": 100, "batch_size": 10}');
});
$a->safe_psql('postgres', q{INSERT INTO t SELECT g, 'a' FROM generate_series(1, 100) g});
is($kusto->wait_count($db, 'Plain', 100), 100, 'the old server streams its rows');
is($kusto->wait_count($db, 'Once', 100), 100, 'and delivers them exactly once');
# a dead letter (as a sink with on_error = dead_letter leaves one)
$a->safe_psql('postgres', q{
	INSERT INTO kusto_sink.dead_letter (sink, kusto_table, format, records, first_commit_lsn, last_commit_lsn, payload, error)
	VALUES ('plain', 'Plain', 'json', 1, '0/1', '0/1', '{"id": 0}', 'rejected for the test')});

my $config = q{SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s', name, connection, database, source_tables, kusto_table, options, enabled, owner), ',' ORDER BY name) FROM kusto_sink.sink};
my $conns = q{SELECT string_agg(format('%s|%s|%s|%s|%s|%s', name, cluster_url, auth, tenant_id, app_id, options), ',' ORDER BY name) FROM kusto_sink.connection};
# the sink's column rules are bound to the columns of the server it is on
my $bound = q{SELECT string_agg(format('%s|%s|%s|%s', sink, source, attnum, name), ',' ORDER BY sink, attnum)
	FROM kusto_sink.sink_column WHERE rel OPERATOR(pg_catalog.=) 'public.t'::regclass AND NOT dropped};
my ($config_a, $conns_a) = ($a->safe_psql('postgres', $config), $a->safe_psql('postgres', $conns));
is($a->safe_psql('postgres', $bound), 'plain|public.t|1|id,plain|public.t|2|note', 'the old server binds the column rule');

is($a->safe_psql('postgres', q{SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text)
	FROM pg_extension e, unnest(e.extconfig) c WHERE e.extname = 'kusto_sink'}),
	'kusto_sink.connection,kusto_sink.dead_letter,kusto_sink.dead_letter_id_seq,kusto_sink.sink',
	'the configuration tables pg_dump dumps');
my $dump = PostgreSQL::Test::Utils::tempdir() . '/old.sql';
$a->command_ok(['pg_dump', '-d', $a->connstr('postgres'), '-f', $dump], 'pg_dump');
my $text = slurp_file($dump);
unlike($text, qr/dev-secret/, 'the dump holds no app_key');
unlike($text, qr/token-secret-4711/, 'nor a token');
like($text, qr/^COPY kusto_sink\.sink /m, 'it holds the sinks');
like($text, qr/^COPY kusto_sink\.dead_letter /m, 'and the dead letters');
unlike($text, qr/^COPY kusto_sink\.(progress|batch|snapshot|connection_secret) /m,
	'not the progress, batches, snapshots and secrets');
$a->stop;

# ---------- the new server ----------
my $crash_file = PostgreSQL::Test::Utils::tempdir() . '/kusto_sink_crash';
my $b = PostgreSQL::Test::Cluster->new('new');
$b->init(allows_streaming => 'logical');
$b->append_conf('postgresql.conf', "kusto_sink.test_crash_file = '$crash_file'");
$b->start;
$b->command_ok(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $b->connstr('postgres'), '-f', $dump],
	'the dump restores into a new cluster');
is($b->safe_psql('postgres', $config), $config_a, 'every sink is restored with its configuration');
is($b->safe_psql('postgres', $conns), $conns_a, 'every connection is restored with its settings');
is($b->safe_psql('postgres', $bound), 'plain|public.t|1|id,plain|public.t|2|note',
	'the restored sink\'s column rule is bound to the new server\'s table');
is($b->safe_psql('postgres', 'SELECT count(*) FROM kusto_sink.dead_letter'), '1', 'the dead letter too');
is($b->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0', 'no slot was restored');

is($b->safe_psql('postgres',
	q{SELECT string_agg(format('%s|%s|%s', name, has_secret, missing_secret), ',' ORDER BY name) FROM kusto_sink.connections}),
	'emu|f|app_key,tok|f|token', 'connections says which secret each restored connection lacks');
is($b->safe_psql('postgres', q{SELECT format('%s|%s', ok, detail) FROM kusto_sink.test_connection('emu')}),
	'f|connection "emu" has no app_key: pass it with kusto_sink.alter_connection()',
	'test_connection says so');

for my $sink ('plain', 'once')
{
	ok($b->poll_query_until('postgres',
		"SELECT state = 'error' AND last_error = 'connection \"emu\" has no app_key: pass it with kusto_sink.alter_connection()' FROM kusto_sink.status WHERE name = '$sink'"),
		"sink $sink: state error, last_error says that its connection lacks the secret");
}

# the secret again: the sinks then say that their slot is missing
$b->safe_psql('postgres', q{SELECT kusto_sink.alter_connection('emu', app_key => 'dev-secret')});
is($b->safe_psql('postgres', q{SELECT ok FROM kusto_sink.test_connection('emu')}), 't', 'the connection works again');
for my $sink ('plain', 'once')
{
	ok($b->poll_query_until('postgres',
		"SELECT state = 'error' AND last_error = 'replication slot \"kusto_sink_$sink\" does not exist: run kusto_sink.resume_sink(''$sink'') to create it and resync the sink''s tables' FROM kusto_sink.status WHERE name = '$sink'"),
		"sink $sink: state error, last_error says the slot is missing and what to run");
}
ok($b->log_contains('HINT:  kusto_sink.resume_sink\(\) creates the slot and sends every row'), 'the log has the hint');

# the new server's changes before the sinks resume: they come with the resync
$b->safe_psql('postgres', q{
	INSERT INTO t SELECT g, 'b-before' FROM generate_series(101, 120) g;
	UPDATE t SET note = 'b-upd' WHERE id <= 10;
});
# the plain sink goes to a new Kusto table: Kusto orders a key's records by
# LSN, and the new server's LSNs are unrelated to the old one's
$b->safe_psql('postgres', q{SELECT kusto_sink.alter_sink('plain', '{"tables": {"public.t": "PlainB"}}')});

# the id of a batch without the server in it (the old formula): what the
# old server gave a batch at the same position
sub serverless_id
{
	my ($sink, $table, $lsn, $index) = @_;
	my @d = unpack('C16', sha256("kusto_sink|$sink|$table|$lsn|$index"));
	$d[6] = ($d[6] & 0x0f) | 0x50;
	$d[8] = ($d[8] & 0x3f) | 0x80;
	return sprintf('%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x', @d);
}

# kusto-cli, the ingest core alone, to ingest with a tag of our choosing
my $cli = PostgreSQL::Test::Utils::tempdir() . '/kusto-cli';
system("gcc -std=gnu99 -O1 -o $cli $ENV{KS_ROOT}/src/kusto/cli/kusto_cli.c $ENV{KS_ROOT}/src/kusto/*.c "
	  . '-lcurl -ljansson -lssl -lcrypto -lz') == 0
  or die 'kusto-cli does not build';

my ($ret, $out, $err) = $b->psql('postgres', q{BEGIN; SELECT kusto_sink.resume_sink('once'); COMMIT;});
like($err, qr/kusto_sink\.resume_sink\(\) of a sink without its replication slot cannot run inside a transaction block/,
	'resume_sink creates a slot outside a transaction block only');
# the exactly-once sink's first batch waits once recorded, before it is sent
append_to_file($crash_file, 'pause:after_record');
($ret, $out, $err) = $b->psql('postgres', q{SELECT kusto_sink.resume_sink('once'); SELECT kusto_sink.resume_sink('plain')});
is($ret, 0, 'resume_sink of the restored sinks');
ok($b->poll_query_until('postgres', q{SELECT count(*) > 0 FROM kusto_sink.batch WHERE sink = 'once'}),
	'the first batch of the new server is recorded');
my ($id, $lsn, $index) = split /\|/, $b->safe_psql('postgres',
	q{SELECT id || '|' || first_lsn || '|' || first_index FROM kusto_sink.batch WHERE sink = 'once' ORDER BY first_lsn, first_index LIMIT 1});
my $old_id = serverless_id('once', 'Once', $lsn, $index);
isnt($id, $old_id, 'its id is not the one the old server would have given a batch at its position');
my $csv = PostgreSQL::Test::Utils::tempdir() . '/old.csv';
append_to_file($csv, "-1,old server,old\n");
my $cli_out = `KUSTO_APP_KEY=dev-secret $cli --cluster ${\ $kusto->url} --tenant emulator --app-id kusto-sink-dev ingest $db Once $csv --method queued --tag ingest-by:$old_id --wait`;
like($cli_out, qr/Succeeded/, 'Kusto holds an extent tagged ingest-by:<that id>');
unlink($crash_file);
like($err, qr/NOTICE:  sink "once" has a new replication slot "kusto_sink_once"; every row of its source tables is sent again/,
	'it says that the tables are sent again');
is($b->safe_psql('postgres', 'SELECT string_agg(slot_name, \',\' ORDER BY slot_name) FROM pg_replication_slots'),
	'kusto_sink_once,kusto_sink_plain', 'it created the slots');
for my $sink ('plain', 'once')
{
	ok($b->poll_query_until('postgres',
		"SELECT snapshot_state = 'done' AND state = 'running' AND snapshot_tables = 1 FROM kusto_sink.status WHERE name = '$sink'"),
		"sink $sink: its table is resynced");
}
is($b->safe_psql('postgres', q{SELECT kusto_sink.resume_sink('once')}), '', 'resume_sink of a running sink changes nothing');
$b->safe_psql('postgres', q{
	INSERT INTO t SELECT g, 'b-after' FROM generate_series(121, 170) g;
	DELETE FROM t WHERE id IN (50, 150);
});

# exactly once, into the table the old server filled: the old server's
# inserts, the resync of the 120 rows, the new inserts and the deletes,
# each once (a batch of the new server taken for an old one would be
# missing), and the row tagged like an old batch
my $once = q{Once | summarize c = count() by _op, id | summarize records = sum(c), ids = dcount(id), twice = countif(c > 1), lo = min(id), hi = max(id) by _op | order by _op asc};
my $want = [ [ 'delete', 2, 2, 0, 50, 150 ], [ 'insert', 150, 150, 0, 1, 170 ], [ 'old', 1, 1, 0, -1, -1 ],
	[ 'snapshot', 120, 120, 0, 1, 120 ], [ 'snapshot_done', 1, 0, 0, undef, undef ] ];
is_deeply($kusto->query_until($db, $once, $want), $want,
	'exactly once into the old Kusto table: every record of both servers once');
is($kusto->query($db, q{Once | where _op == 'snapshot' and note == 'b-upd' | count})->[0][0], 10,
	'the resync carries the new server\'s rows');

# the new Kusto table: its latest state is the restored table
$kusto->mgmt($db, $b->safe_psql('postgres', q{SELECT kusto_sink.latest_state_kql('plain', 't')}));
my $kql = $b->safe_psql('postgres', q{SELECT kusto_sink.latest_state_query('plain', 't')});
my $source = $b->safe_psql('postgres', q{SELECT string_agg(id || ':' || note, ',' ORDER BY id) FROM t});
my $got = '';
my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
while (time < $deadline)
{
	$got = join(',', map { "$_->[0]:$_->[1]" } @{ $kusto->query($db, "$kql | order by id asc | project id, note") });
	last if $got eq $source;
	usleep(100_000);
}
is($got, $source, 'the latest state in the new Kusto table equals the restored table');

# the secret entered again is not in a dump of the new server either
my $dump_b = PostgreSQL::Test::Utils::tempdir() . '/new.sql';
$b->command_ok(['pg_dump', '-d', $b->connstr('postgres'), '-f', $dump_b], 'pg_dump of the new server');
unlike(slurp_file($dump_b), qr/dev-secret/, 'its dump holds no app_key');
is($b->safe_psql('postgres', q{SELECT app_key FROM kusto_sink.connection_secret WHERE connection = 'emu'}), 'dev-secret',
	'the secret is kept apart, in kusto_sink.connection_secret');

# a slot of the sink's name that is not the sink's (here a physical one)
$b->safe_psql('postgres', q{SELECT kusto_sink.pause_sink('once')});
ok($b->poll_query_until('postgres', q{SELECT NOT active FROM pg_replication_slots WHERE slot_name = 'kusto_sink_once'}),
	'paused: its slot is free');
$b->safe_psql('postgres', q{SELECT pg_drop_replication_slot('kusto_sink_once'); SELECT pg_create_physical_replication_slot('kusto_sink_once')});
($ret, $out, $err) = $b->psql('postgres', q{\set VERBOSITY verbose
SELECT kusto_sink.resume_sink('once')});
like($err, qr/ERROR:  55000: replication slot "kusto_sink_once" of sink "once" belongs to another database\nDETAIL:  It is a slot of database \(none: a physical slot\)\./,
	'resume_sink does not take a slot of another database');

# without it, resume_sink makes the sink's slot again and resyncs once more
# (what belonged to the old slot does not hold it up)
$b->safe_psql('postgres', q{SELECT pg_drop_replication_slot('kusto_sink_once'); SELECT kusto_sink.resume_sink('once')});
ok($b->poll_query_until('postgres',
	q{SELECT snapshot_state = 'done' AND state = 'running' FROM kusto_sink.status WHERE name = 'once'}),
	'a sink whose slot was dropped is resynced by resume_sink');
my $rows = $b->safe_psql('postgres', 'SELECT count(*) FROM t');
is_deeply($kusto->query_until($db, q{Once | where _op in ('snapshot', 'snapshot_done') | summarize count() by _op | order by _op asc},
		[ [ 'snapshot', 120 + $rows ], [ 'snapshot_done', 2 ] ]),
	[ [ 'snapshot', 120 + $rows ], [ 'snapshot_done', 2 ] ], 'every row of the table once more, and a second snapshot_done');

$b->stop;
$kusto->stop;
done_testing();
