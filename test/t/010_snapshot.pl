# The initial snapshot: a sink created on populated tables sends their rows
# (operation "snapshot") in chunks while changes keep flowing, and Kusto's
# latest state equals the source afterwards.
#  - keyed, two-column-key, keyless and partitioned tables; a dropped column
#    and TOASTed values in the rows; writes during the snapshot;
#  - every row's snapshot record once, also across worker crashes in the
#    middle of the snapshot (exactly once);
#  - a writer holding the table open delays the snapshot, never other writers;
#  - resnapshot_sink sends a table again; option snapshot = false sends none.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use lib $ENV{KS_ROOT} . '/test/t';
use ExactlyOnce;
use KustoEmulator;

my $kusto = KustoEmulator->new;
my $db = 'Snap';
my ($node, $crash_file) = ExactlyOnce::start_node('snapshot', $kusto);

$node->safe_psql('postgres', q{
	CREATE TABLE big (id int PRIMARY KEY, grp int, note text, gone int, payload text);
	INSERT INTO big SELECT g, g % 7, 'n' || g, g, NULL FROM generate_series(1, 30000) g;
	UPDATE big SET payload = repeat('x', 5000) || id WHERE id % 1000 = 0;
	ALTER TABLE big DROP COLUMN gone;
	CREATE TABLE nokey (a int, b text);
	INSERT INTO nokey SELECT g, 'b' || g FROM generate_series(1, 5000) g;
	DELETE FROM nokey WHERE a % 10 = 0;
	CREATE TABLE twokey (k1 text, k2 int, v int, PRIMARY KEY (k1, k2));
	INSERT INTO twokey SELECT 'k' || (g % 10), g, g FROM generate_series(1, 3000) g;
	CREATE TABLE parted (id int PRIMARY KEY, v int) PARTITION BY RANGE (id);
	CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (1) TO (1000);
	CREATE TABLE parted_2 PARTITION OF parted FOR VALUES FROM (1000) TO (2000);
	INSERT INTO parted SELECT g, g FROM generate_series(1, 1999) g;
	ANALYZE;
});

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub snapshot_done
{
	my ($sink) = @_;
	return $node->poll_query_until('postgres',
		"SELECT snapshot_state = 'done' FROM kusto_sink.status WHERE name = '$sink'");
}

sub table_done
{
	my ($table) = @_;
	return $node->poll_query_until('postgres',
		"SELECT state = 'done' FROM kusto_sink.snapshots WHERE source_table = '$table'");
}

# the snapshot records of a Kusto table: how many, how many keys, keys sent twice
sub snapshot_records
{
	my ($table, $key) = @_;
	return $kusto->query($db,
		"$table | where _op == 'snapshot' | summarize c = count() by $key | summarize rows = sum(c), keys = count(), twice = countif(c > 1)")->[0];
}

# waits until Kusto's latest state of a source table is the table's rows
sub latest_state_is_source
{
	my ($sink, $table, $cols) = @_;
	$kusto->mgmt($db, sql(qq{SELECT kusto_sink.latest_state_kql('$sink', '$table')}));
	my $kql = sql(qq{SELECT kusto_sink.latest_state_query('$sink', '$table')});
	my $source = sql(qq{SELECT string_agg(concat_ws(':', $cols), ',' ORDER BY $cols) FROM $table});
	my $order = join(', ', map { "$_ asc" } split /,\s*/, $cols);
	my $got = '';
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (time < $deadline)
	{
		my $rows = $kusto->query($db, "$kql | order by $order | project $cols");
		$got = join(',', map { join(':', map { $_ // '' } @$_) } @$rows);
		return 1 if $got eq $source;
		usleep(100_000);
	}
	diag("latest state of $table differs: " . length($got) . ' vs ' . length($source) . ' characters');
	return 0;
}

# ---------- a populated database, with writes while the snapshot runs ----------
sql(qq{SELECT kusto_sink.create_sink('snap', 'emu', 'big, nokey, twokey, parted', '$db', 'Parted',
	'{"create_table": true, "delivery_guarantee": "exactly_once", "ingestion_method": "streaming",
	  "batch_size": 1000, "batch_interval_ms": 100,
	  "tables": {"public.big": "Big", "public.nokey": "NoKey", "public.twokey": "TwoKey"}}')});
# (the worker may have begun the first table already)
is(sql(q{SELECT string_agg(source_table || ':' || CASE WHEN state IN ('pending', 'copying') THEN 'asked' ELSE state END, ','
		   ORDER BY source_table) FROM kusto_sink.snapshots}),
	'public.big:asked,public.nokey:asked,public.parted_1:asked,public.parted_2:asked,public.twokey:asked',
	'create_sink asks for a snapshot of every source table (partitions for a partitioned one)');
ok($node->poll_query_until('postgres', q{SELECT rows_delivered > 0 FROM kusto_sink.snapshots WHERE source_table = 'public.big'}),
	'the snapshot is under way');
for my $i (1 .. 40)
{
	my $a = ($i * 733) % 30000 + 1;
	my $b = ($i * 1499) % 30000 + 1;
	sql(qq{UPDATE big SET note = 'u$i' WHERE id IN ($a, $b);
		 DELETE FROM big WHERE id = ($i * 977) % 30000 + 1;
		 INSERT INTO big VALUES (30000 + $i, 0, 'new $i');
		 UPDATE twokey SET v = -v WHERE k2 = $i * 70;});
}
ok(snapshot_done('snap'), 'the snapshot finishes');
is(sql(q{SELECT snapshot_tables_done || '/' || snapshot_tables FROM kusto_sink.status WHERE name = 'snap'}), '5/5',
	'kusto_sink.status shows every table done');
my $copied = sql(q{SELECT rows_delivered FROM kusto_sink.snapshots WHERE source_table = 'public.big'});
cmp_ok($copied, '>=', 29_960, 'kusto_sink.snapshots counts the rows delivered');
is_deeply(snapshot_records('Big', 'id'), [ $copied, $copied, 0 ], 'every row of big in Kusto once as a snapshot record');
is_deeply($kusto->query_until($db, q{Big | where id > 30000 | summarize rows = count(), snapshots = countif(_op == 'snapshot')}, [ [ 40, 0 ] ]),
	[ [ 40, 0 ] ], 'rows inserted while the snapshot ran, past its largest key, arrive once, as their inserts');
ok(latest_state_is_source('snap', 'big', 'id, grp, note'),
	"Kusto's latest state of big is the table: the writes during the snapshot are neither lost nor undone");
is_deeply($kusto->query($db, q{Big | where _op == 'snapshot' and id in (1000, 30000) | order by id asc | project id, strlen(payload)}),
	[ [ 1000, 5004 ], [ 30000, 5005 ] ], 'TOASTed values arrive whole');
is_deeply($kusto->query($db, q{Big | where _op == 'snapshot' and id == 5 | project id, grp, note}),
	[ [ 5, 5, 'n5' ] ], 'a dropped column in the rows shifts no value');
is_deeply(snapshot_records('NoKey', 'a'), [ 4500, 4500, 0 ], 'a table without a key: every row once');
is_deeply(snapshot_records('TwoKey', 'k1, k2'), [ 3000, 3000, 0 ], 'a two-column key: every row once');
ok(latest_state_is_source('snap', 'twokey', 'k1, k2, v'), "Kusto's latest state of twokey is the table");
is_deeply(snapshot_records('Parted', 'id'), [ 1999, 1999, 0 ], 'a partitioned table through its partitions');
is(sql(q{SELECT count(*) FROM kusto_sink.snapshot_chunk}), 0, 'delivered chunks are removed');
is(sql(q{SELECT bool_and(longest_chunk_ms > 0 AND longest_lock_ms >= 0 AND chunks > 0) FROM kusto_sink.snapshots WHERE sink = 'snap'}),
	't', 'kusto_sink.snapshots shows the chunks and their longest transaction and lock');

# ---------- a populated table attached as a partition: its rows arrive ----------
sql(q{CREATE TABLE parted_3 (id int PRIMARY KEY, v int); INSERT INTO parted_3 SELECT g, g FROM generate_series(2000, 2499) g;
	   ALTER TABLE parted ATTACH PARTITION parted_3 FOR VALUES FROM (2000) TO (3000)});
ok(table_done('public.parted_3'), 'a partition attached to a source table gets its snapshot');
is_deeply(snapshot_records('Parted', 'id'), [ 2499, 2499, 0 ], 'its rows arrive once, beside the other partitions\'');
sql(q{UPDATE parted SET v = -v WHERE id IN (5, 2005)});
ok(latest_state_is_source('snap', 'parted', 'id, v'), "and Kusto's latest state of the partitioned table is the table");
sql(q{TRUNCATE parted_1; INSERT INTO parted VALUES (7, 7)});
ok(latest_state_is_source('snap', 'parted', 'id, v'),
	"a TRUNCATE of one partition leaves the other partitions' rows in the latest state");

# ---------- a writer holding the table: the snapshot waits, other writers do not ----------
sql(q{CREATE TABLE held (id int PRIMARY KEY); INSERT INTO held SELECT generate_series(1, 100)});
# (a slot is created once every open transaction has ended: open the writer after)
sql(qq{SELECT kusto_sink.create_sink('held', 'emu', 'held', '$db', 'Held',
	'{"create_table": true, "snapshot": false, "ingestion_method": "streaming", "batch_interval_ms": 100}')});
ok($node->poll_query_until('postgres', q{SELECT state = 'running' FROM kusto_sink.status WHERE name = 'held'}),
	'a sink without a snapshot starts');
my $writer = $node->background_psql('postgres');
$writer->query_safe('BEGIN; INSERT INTO held VALUES (1000)');
is(sql(q{SELECT kusto_sink.resnapshot_sink('held')}), 1, 'resnapshot_sink asks for a snapshot of its table');
for my $i (1 .. 5)
{
	sql("SET statement_timeout = '5s'; INSERT INTO held VALUES (200 + $i)");
}
pass('other writers are not blocked while the snapshot waits for the table');
is(sql(q{SELECT state FROM kusto_sink.snapshots WHERE source_table = 'public.held'}), 'pending',
	'the snapshot waits for the open writer');
is($kusto->wait_count($db, 'Held', 5), 5, 'while the changes of the other writers flow');
$writer->query_safe('COMMIT');
$writer->quit;
ok(snapshot_done('held'), 'the snapshot runs once the writer committed');
is_deeply(snapshot_records('Held', 'id'), [ 106, 106, 0 ], 'with the rows of every committed writer');
is($kusto->wait_count($db, 'Held', 113), 113, 'and the writer\'s own change after it, and the record that ends the resync');
is_deeply($kusto->query($db, q{Held | where _op == 'snapshot_done' | project _lsn, _commit_lsn}),
	$kusto->query($db, q{Held | where _op == 'snapshot' | summarize min(_lsn), max(_commit_lsn)}),
	'a resync ends with one snapshot_done record: _lsn where the snapshot began, _commit_lsn where it ended');

# ---------- resnapshot_sink, and a sink without a snapshot ----------
is(sql(q{SELECT kusto_sink.resnapshot_sink('snap', ARRAY['twokey'::regclass])}), 1, 'resnapshot_sink of one table');
# the worker restarts (alter_sink) while the snapshot runs: it goes on from its chunks
sql(q{SELECT kusto_sink.alter_sink('snap', '{"batch_interval_ms": 150}')});
ok(snapshot_done('snap'), 'the new snapshot finishes');
is_deeply(snapshot_records('TwoKey', 'k1, k2'), [ 6000, 3000, 3000 ], 'it sent every row of the table again');
is_deeply(snapshot_records('Big', 'id'), [ $copied, $copied, 0 ], 'and only of that table');
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT kusto_sink.resnapshot_sink('snap', ARRAY['held'::regclass])});
like($err, qr/table public.held is not a source table of sink "snap"/, 'resnapshot_sink checks the tables');
sql(qq{SELECT kusto_sink.create_sink('nosnap', 'emu', 'held', '$db', 'NoSnap', '{"create_table": true, "snapshot": false, "ingestion_method": "streaming", "batch_interval_ms": 100}')});
sql(q{INSERT INTO held VALUES (500)});
is($kusto->wait_count($db, 'NoSnap', 1), 1, 'snapshot = false: only changes are sent');
is(sql(q{SELECT snapshot_state IS NULL FROM kusto_sink.status WHERE name = 'nosnap'}), 't', 'and the status shows no snapshot');

# ---------- cancel_snapshot: the rows read so far arrive, no more are read ----------
sql(q{CREATE TABLE slow (id int PRIMARY KEY, v text); INSERT INTO slow SELECT g, 'v' || g FROM generate_series(1, 50000) g});
sql(qq{SELECT kusto_sink.create_sink('cancel', 'emu', 'slow', '$db', 'Slow',
	'{"create_table": true, "ingestion_method": "streaming", "batch_size": 100, "batch_interval_ms": 100}')});
ok($node->poll_query_until('postgres', q{SELECT rows_delivered > 0 FROM kusto_sink.snapshots WHERE sink = 'cancel'}),
	'a snapshot in chunks of 100 rows is under way');
# (a writer holding the table keeps the next chunk waiting, so that it is cancelled half-way)
$writer = $node->background_psql('postgres');
$writer->query_safe('BEGIN; INSERT INTO slow VALUES (50001, $$after the cancel$$)');
is(sql(q{SELECT kusto_sink.cancel_snapshot('cancel')}), 1, 'cancel_snapshot stops it');
$writer->query_safe('COMMIT');
$writer->quit;
ok($node->poll_query_until('postgres', q{SELECT state = 'cancelled' FROM kusto_sink.snapshots WHERE sink = 'cancel'}),
	'kusto_sink.snapshots shows it cancelled, once the chunks read before are in Kusto');
is(sql(q{SELECT snapshot_state FROM kusto_sink.status WHERE name = 'cancel'}), 'cancelled', 'and so does kusto_sink.status');
is($kusto->query_until($db, q{Slow | where id == 50001 | count}, [ [1] ])->[0][0], 1, 'changes go on');
my $read = sql(q{SELECT rows_copied FROM kusto_sink.snapshots WHERE sink = 'cancel'});
cmp_ok($read, '<', 50000, 'it stopped before the last row');
is_deeply($kusto->query_until($db, q{Slow | where _op == 'snapshot' | summarize count(), dcount(id)}, [ [ $read, $read ] ]),
	[ [ $read, $read ] ], 'the rows read before the cancel arrive, once, and no more');
is(sql(q{SELECT rows_copied FROM kusto_sink.snapshots WHERE sink = 'cancel'}), $read, 'no chunk is read after it');
# a resnapshot_sink whose transaction stays open holds the table's snapshot
# lock: the chunks wait for it, the changes do not
$writer = $node->background_psql('postgres');
$writer->query_safe(q{BEGIN; SELECT kusto_sink.resnapshot_sink('cancel')});
sql(q{INSERT INTO slow VALUES (50002, 'while a resnapshot_sink is open')});
is($kusto->query_until($db, q{Slow | where id == 50002 | count}, [ [1] ])->[0][0], 1,
	'changes flow while a resnapshot_sink transaction is open');
# the worker looks for new snapshot requests every 2 s (its insert of the
# table's row would wait for this transaction): past two such looks, changes
# still flow
my $since = sql(q{SELECT clock_timestamp()});
ok($node->poll_query_until('postgres', qq{SELECT clock_timestamp() > '$since'::timestamptz + interval '5 s'}),
	'two of the worker\'s snapshot checks later');
sql(q{INSERT INTO slow VALUES (50003, 'still while a resnapshot_sink is open')});
is($kusto->query_until($db, q{Slow | where id == 50003 | count}, [ [1] ])->[0][0], 1,
	'and after the worker\'s snapshot checks (which never wait for that transaction)');
is(sql(q{SELECT state FROM kusto_sink.snapshots WHERE sink = 'cancel'}), 'cancelled', 'its request is not seen yet');
$writer->query_safe('COMMIT');
$writer->quit;
ok($node->poll_query_until('postgres', q{SELECT rows_delivered > 0 FROM kusto_sink.snapshots WHERE sink = 'cancel' AND state <> 'cancelled'}),
	'once it commits, the table is sent again');
# (the worker's chunk inserts take KEY SHARE on the sink row: drop_sink must not lock it FOR UPDATE)
($ret, $out, $err) = $node->psql('postgres', q{SELECT kusto_sink.drop_sink('cancel')});
is($ret, 0, 'drop_sink while a snapshot is being read') or diag($err);

# ---------- a publication: its tables, and a table added later ----------
sql(q{CREATE TABLE pub_a (id int PRIMARY KEY, v text); INSERT INTO pub_a SELECT g, 'a' || g FROM generate_series(1, 700) g;
	   CREATE TABLE pub_b (id int PRIMARY KEY, v text); INSERT INTO pub_b SELECT g, 'b' || g FROM generate_series(1, 300) g;
	   CREATE PUBLICATION snap_pub FOR TABLE pub_a});
sql(qq{SELECT kusto_sink.create_sink('pubsnap', 'emu', 'publication:snap_pub', '$db', 'PubA',
	'{"create_table": true, "ingestion_method": "streaming", "batch_interval_ms": 100, "tables": {"public.pub_b": "PubB"}}')});
ok(snapshot_done('pubsnap'), 'a sink on a publication snapshots its tables');
is_deeply(snapshot_records('PubA', 'id'), [ 700, 700, 0 ], 'every row of the published table once');
sql(q{ALTER PUBLICATION snap_pub ADD TABLE pub_b});
ok(table_done('public.pub_b'), 'a table added to the publication gets its snapshot by itself');
is_deeply(snapshot_records('PubB', 'id'), [ 300, 300, 0 ], 'its rows from before arrive once');
sql(q{ALTER PUBLICATION snap_pub DROP TABLE pub_b});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM kusto_sink.snapshots WHERE source_table = 'public.pub_b'}),
	'a table that leaves the publication leaves the snapshots');
sql(q{UPDATE pub_b SET v = 'while away' WHERE id <= 10; DELETE FROM pub_b WHERE id > 290;
	   ALTER PUBLICATION snap_pub ADD TABLE pub_b});
ok(table_done('public.pub_b'), 'when it comes back, it gets a snapshot again');
is_deeply(snapshot_records('PubB', 'id'), [ 590, 300, 290 ], 'of the rows it has then');
ok(latest_state_is_source('pubsnap', 'pub_b', 'id, v'),
	"Kusto's latest state of the table is the table, with the changes made while it was away");

# ---------- row-level security: the whole table or an error, never part of it ----------
sql(q{CREATE TABLE secret (id int PRIMARY KEY, v text); INSERT INTO secret SELECT g, 's' || g FROM generate_series(1, 50) g;
	   ALTER TABLE secret ENABLE ROW LEVEL SECURITY; CREATE POLICY odd ON secret USING (id % 2 = 1);
	   CREATE ROLE snapper LOGIN; GRANT SELECT ON secret TO snapper; GRANT USAGE ON SCHEMA kusto_sink TO snapper;
	   GRANT EXECUTE ON FUNCTION kusto_sink.create_sink(text, text, text, text, text, jsonb) TO snapper;
	   GRANT EXECUTE ON FUNCTION kusto_sink._create_sink(text, text, regclass[], text, text, text, jsonb) TO snapper;
	   GRANT EXECUTE ON FUNCTION kusto_sink.create_connection(text, text, text, text, text, text, text, text, text, text, text, jsonb) TO snapper});
# (a sink uses a connection of its owner's)
my $url = $kusto->url;
$node->safe_psql('postgres', qq{SELECT kusto_sink.create_connection('snapemu', '$url', 'application',
	tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret')}, extra_params => [ '-U', 'snapper' ]);
# (create_sink refuses it now; the worker's refusal is in 012_table_access.pl)
my ($rls_rc, $rls_out, $rls_err) = $node->psql('postgres', qq{SELECT kusto_sink.create_sink('rls', 'snapemu', 'secret', '$db', 'Secret',
	'{"create_table": true, "ingestion_method": "streaming", "batch_interval_ms": 100}')}, extra_params => [ '-U', 'snapper' ]);
like($rls_err, qr/ERROR:  row-level security of table public\.secret applies to role "snapper"/,
	'a table whose policy hides rows from the sink owner is refused with the error');
is($kusto->count($db, 'Secret'), 0, 'and no part of the table is sent');

# ---------- crashes in the middle of a snapshot: every row once ----------
my $eo = ExactlyOnce->new(node => $node, kusto => $kusto, db => $db, table => 'T', sink => 'crash', crash_file => $crash_file);
$eo->insert_rows(20000, 20000);
append_to_file($crash_file, "after_chunk\n");
sql(qq{SELECT kusto_sink.create_sink('crash', 'emu', 't', '$db', 'T',
	'{"create_table": true, "delivery_guarantee": "exactly_once", "ingestion_method": "queued", "batch_size": 200, "batch_interval_ms": 100}')});
for my $point (qw(after_chunk after_record after_ack after_progress))
{
	append_to_file($crash_file, "$point\n") unless $point eq 'after_chunk';
	my $deadline = time + 60;
	usleep(20_000) while -e $crash_file && time < $deadline;
	ok(!-e $crash_file, "the worker crashed at $point during the snapshot");
	ok($eo->running, "and runs again");
}
ok(snapshot_done('crash'), 'the snapshot finishes after four crashes');
cmp_ok(sql(q{SELECT chunks FROM kusto_sink.snapshots WHERE sink = 'crash'}), '>=', 100, 'in chunks of batch_size rows');
$eo->exactly_once('snapshot with crashes');
is($kusto->query($db, q{T | where _op == 'snapshot_done' | count})->[0][0], 0,
	'the initial snapshot of a new sink ends with no snapshot_done record');

# ---------- crashes in the middle of a resync ----------
is(sql(q{SELECT kusto_sink.resnapshot_sink('crash')}), 1, 'resnapshot_sink of the crashing sink');
for my $point (qw(after_chunk after_ack))
{
	append_to_file($crash_file, "$point\n");
	my $deadline = time + 60;
	usleep(20_000) while -e $crash_file && time < $deadline;
	ok(!-e $crash_file, "the worker crashed at $point during the resync");
	ok($eo->running, "and runs again");
}
ok(snapshot_done('crash'), 'the resync finishes');
is_deeply($kusto->query($db, q{T | where _op == 'snapshot' | summarize c = count() by id | summarize rows = sum(c), ids = dcount(id), other = countif(c != 2)}),
	[ [ 40000, 20000, 0 ] ], 'every row arrived once more');
is($kusto->query($db, q{T | where _op == 'snapshot_done' | count})->[0][0], 1, 'and one snapshot_done record');

done_testing();
