# A sink sends a table's changes only while its owner may read all of it
# (issue 14, items 3 and 8):
#  - a FOR ALL TABLES sink of a role without SELECT on a new table stops in
#    state error naming it; nothing of it is sent, nothing is lost: after a
#    GRANT its rows (written while the owner could not read it) arrive once;
#  - a REVOKE while the sink runs stops it; rows written after the REVOKE
#    wait in the slot until a GRANT;
#  - row-level security that applies to the owner stops the sink (no
#    filtered rows); as the table's owner (no FORCE) every row arrives;
#  - the decision follows the current privileges, not those at the change:
#    rows written while the owner could not read the table arrive when it
#    can by the time the sink gets to them;
#  - a snapshot of a table its owner may no longer read sends nothing of
#    it; after a GRANT, every row once;
#  - an unlogged table of the publication is skipped with a WARNING and
#    shown in kusto_sink.status.skipped_tables.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;
use Sinks;

my $kusto = KustoEmulator->new;
my $db = 'Access';
$kusto->create_sink_table($db, $_, 'id:long, v:string') for qw(Open Hidden Rls Late Late2 Late3 Snap);

my $node = PostgreSQL::Test::Cluster->new('access');
$node->init(allows_streaming => 'logical');
$node->start;
my $url = $kusto->url;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION kusto_sink;
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob;
	GRANT USAGE ON SCHEMA kusto_sink TO alice;
	GRANT EXECUTE ON FUNCTION kusto_sink.create_sink(text, text, text, text, text, jsonb),
		kusto_sink._create_sink(text, text, regclass[], text, text, text, jsonb),
		kusto_sink.create_connection(text, text, text, text, text, text, text, text, text, text, text, jsonb) TO alice;
	CREATE TABLE t_open (id int PRIMARY KEY, v text);
	GRANT SELECT ON t_open TO alice;
	CREATE UNLOGGED TABLE t_unlog (id int PRIMARY KEY, v text);
	CREATE PUBLICATION allpub FOR ALL TABLES;
});
# (a sink uses a connection of its owner's: alice's)
$node->safe_psql('postgres', qq{
	SELECT kusto_sink.create_connection('emu', '$url', 'application',
		tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret');
	SELECT kusto_sink.create_sink('allsink', 'emu', 'publication:allpub', '$db', 'Open',
		'{"tables": {"public.t_hidden": "Hidden", "public.t_rls": "Rls",
		             "public.t_late": "Late", "public.t_late2": "Late2",
		             "public.t_late3": "Late3"},
		  "ingestion_method": "streaming", "batch_interval_ms": 100, "snapshot": false}');
}, extra_params => [ '-U', 'alice' ]);

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub wait_error
{
	my ($pattern) = @_;
	return $node->poll_query_until('postgres', qq{
		SELECT state = 'error' AND last_error ~ '$pattern' FROM kusto_sink.status WHERE name = 'allsink'});
}

# everything written so far is confirmed (a restart sends none of it again)
sub wait_confirmed
{
	my $lsn = sql('SELECT pg_current_wal_lsn()');
	return $node->poll_query_until('postgres',
		"SELECT confirmed_lsn >= '$lsn' FROM kusto_sink.status WHERE name = 'allsink'");
}

ok($node->poll_query_until('postgres',
	"SELECT state = 'running' FROM kusto_sink.status WHERE name = 'allsink'"), 'the sink of alice runs');
is(sql("SELECT owner::text FROM kusto_sink.sink WHERE name = 'allsink'"), 'alice', 'alice owns it');

# ---- an unlogged table of the publication: skipped, with a WARNING ----
ok($node->poll_query_until('postgres',
	"SELECT skipped_tables ~ 'public\\.t_unlog \\(unlogged' FROM kusto_sink.status WHERE name = 'allsink'"),
	'status.skipped_tables lists the unlogged table and why');
ok($node->log_contains(qr/WARNING:  kusto_sink sink "allsink" skips table public\.t_unlog: unlogged/),
	'a WARNING in the log names it');
unlike(sql("SELECT skipped_tables FROM kusto_sink.status WHERE name = 'allsink'"), qr/kusto_sink\./,
	'the extension\'s own tables are not listed');

sql("INSERT INTO t_open SELECT g, 'o' || g FROM generate_series(1, 3) g");
is($kusto->wait_count($db, 'Open', 3), 3, 'rows of the readable table arrive');
ok(wait_confirmed(), 'and are confirmed');

# ---- a table alice may not read: error, nothing sent, nothing lost ----
sql(q{
	CREATE TABLE t_hidden (id int PRIMARY KEY, v text);
	INSERT INTO t_hidden SELECT g, 'secret' || g FROM generate_series(1, 5) g;
});
sql("INSERT INTO t_open SELECT g, 'o' || g FROM generate_series(4, 5) g");
ok(wait_error('role "alice" lacks the SELECT privilege on table public\.t_hidden'),
	'the sink stops in state error naming the table and the privilege');
ok($node->log_contains(qr/ERROR:  kusto_sink sink "allsink": role "alice" lacks the SELECT privilege on table public\.t_hidden/),
	'the log says so too');
is($kusto->count($db, 'Hidden'), 0, 'nothing of the unreadable table is in Kusto');
is($kusto->count($db, 'Open'), 3, 'nor what came after it');

sql('GRANT SELECT ON t_hidden TO alice');
sql("SELECT kusto_sink.resume_sink('allsink')");
is($kusto->wait_count($db, 'Hidden', 5), 5, 'after a GRANT its waiting rows arrive');
is($kusto->wait_count($db, 'Open', 5), 5, 'and those after them');
ok($node->poll_query_until('postgres',
	"SELECT state = 'running' FROM kusto_sink.status WHERE name = 'allsink'"), 'the sink runs again');
ok(wait_confirmed(), 'everything is confirmed');
is($kusto->count($db, 'Hidden'), 5, 'each row once');
is($kusto->count($db, 'Open'), 5, 'each row of the other table once');
# a clean restart: the launcher's backoff starts over
ok(Sinks::alter_and_wait($node, 'allsink', '{"batch_interval_ms": 101}'), 'restarted cleanly');

# ---- REVOKE while running ----
sql('REVOKE SELECT ON t_open FROM alice');
ok(wait_error('role "alice" lacks the SELECT privilege on table public\.t_open'),
	'a REVOKE stops the sink, naming the table');
my $offset = -s $node->logfile;
sql("INSERT INTO t_open SELECT g, 'late' || g FROM generate_series(6, 9) g");
ok($node->wait_for_log(qr/ERROR:  kusto_sink sink "allsink": role "alice" lacks the SELECT privilege on table public\.t_open/, $offset),
	'the restarted worker meets the new rows and stops again');
is($kusto->count($db, 'Open'), 5, 'rows inserted after the REVOKE are not in Kusto');
sql('GRANT SELECT ON t_open TO alice');
is($kusto->wait_count($db, 'Open', 9), 9, 'after a GRANT they arrive');
ok(wait_confirmed(), 'and are confirmed');
is($kusto->count($db, 'Open'), 9, 'once');
ok(Sinks::alter_and_wait($node, 'allsink', '{"batch_interval_ms": 100}'), 'restarted cleanly');

# ---- row-level security ----
sql(q{
	CREATE TABLE t_rls (id int PRIMARY KEY, v text);
	ALTER TABLE t_rls OWNER TO bob;
	GRANT SELECT ON t_rls TO alice;
	ALTER TABLE t_rls ENABLE ROW LEVEL SECURITY;
	CREATE POLICY evens ON t_rls USING (id % 2 = 0);
	INSERT INTO t_rls SELECT g, 'r' || g FROM generate_series(1, 4) g;
});
ok(wait_error('row-level security of table public\.t_rls applies to role "alice"'),
	'row-level security that applies to the owner stops the sink');
is($kusto->count($db, 'Rls'), 0, 'no filtered rows are sent');
sql('ALTER TABLE t_rls OWNER TO alice');
is($kusto->wait_count($db, 'Rls', 4), 4, 'as the table\'s owner (without FORCE) every row arrives');
ok($node->poll_query_until('postgres',
	"SELECT state = 'running' FROM kusto_sink.status WHERE name = 'allsink'"), 'the sink runs again');
is_deeply($kusto->query($db, 'Rls | summarize n = count() by id | order by id asc'),
	[ [ 1, 1 ], [ 2, 1 ], [ 3, 1 ], [ 4, 1 ] ], 'each row once, the hidden ones too');

ok(Sinks::alter_and_wait($node, 'allsink', '{"batch_interval_ms": 101}'), 'restarted cleanly');

# ---- the current privileges decide, not those when the rows were written ----
sql("SELECT kusto_sink.pause_sink('allsink')");
ok($node->poll_query_until('postgres',
	"SELECT worker_pid IS NULL AND state = 'paused' FROM kusto_sink.status WHERE name = 'allsink'"), 'paused');
sql(q{
	CREATE TABLE t_late (id int PRIMARY KEY, v text);
	INSERT INTO t_late SELECT g, 'l' || g FROM generate_series(1, 3) g;
	GRANT SELECT ON t_late TO alice;
});
sql("SELECT kusto_sink.resume_sink('allsink')");
is($kusto->wait_count($db, 'Late', 3), 3,
	'rows written before the GRANT arrive: the sink judges with the privileges of now');
# the same while the sink runs: decoding may meet the rows before the GRANT
# (held back, judged again after the step) or after it
sql(q{
	CREATE TABLE t_late2 (id int PRIMARY KEY, v text);
	INSERT INTO t_late2 SELECT g, 'l' || g FROM generate_series(1, 3) g;
});
sql('GRANT SELECT ON t_late2 TO alice');
is($kusto->wait_count($db, 'Late2', 3), 3, 'and while it runs');
# decoding meets the rows with the catalog of their transaction, before its
# GRANT: held back, then decoded again once the current catalog allows them
$offset = -s $node->logfile;
sql(q{
	BEGIN;
	CREATE TABLE t_late3 (id int PRIMARY KEY, v text);
	INSERT INTO t_late3 SELECT g, 'l' || g FROM generate_series(1, 3) g;
	GRANT SELECT ON t_late3 TO alice;
	COMMIT;
});
is($kusto->wait_count($db, 'Late3', 3), 3, 'rows held back on a provisional denial arrive');
ok($node->log_contains(qr/kusto_sink sink "allsink": its owner may read a table now, decoding again/, $offset),
	'decoded again, without an error');
ok($node->poll_query_until('postgres',
	"SELECT state = 'running' FROM kusto_sink.status WHERE name = 'allsink'"), 'the sink runs');
ok(wait_confirmed(), 'everything is confirmed');
is($kusto->count($db, 'Late3'), 3, 'each held row once');
is($kusto->count($db, 'Late'), 3, 'each row once');
is($kusto->count($db, 'Late2'), 3, 'each row once (while running)');
is($kusto->count($db, 'Open'), 9, 'the other tables unchanged');

# ---- the initial snapshot ----
sql(q{
	CREATE TABLE t_snap (id int PRIMARY KEY, v text);
	INSERT INTO t_snap SELECT g, 's' || g FROM generate_series(1, 20) g;
	GRANT SELECT ON t_snap TO alice;
});
$node->safe_psql('postgres', qq{
	SELECT kusto_sink.create_sink('snapsink', 'emu', 't_snap', '$db', 'Snap',
		'{"ingestion_method": "streaming", "batch_interval_ms": 100, "snapshot": false}');
}, extra_params => [ '-U', 'alice' ]);
ok($node->poll_query_until('postgres',
	"SELECT state = 'running' FROM kusto_sink.status WHERE name = 'snapsink'"), 'a sink on a table list runs');
# a writer holding the table keeps the snapshot waiting
my $writer = $node->background_psql('postgres');
$writer->query_safe('BEGIN; INSERT INTO t_snap VALUES (21, $$held$$)');
is(sql("SELECT kusto_sink.resnapshot_sink('snapsink')"), 1, 'a snapshot of the table is asked for');
sql('REVOKE SELECT ON t_snap FROM alice');
ok($node->poll_query_until('postgres', q{
	SELECT state = 'error' AND last_error ~ 'role "alice" lacks the SELECT privilege on table public\.t_snap'
	  FROM kusto_sink.status WHERE name = 'snapsink'}), 'a REVOKE stops the sink before its snapshot');
$offset = -s $node->logfile;
ok($node->wait_for_log(qr/ERROR:  kusto_sink sink "snapsink": role "alice" lacks the SELECT privilege on table public\.t_snap/, $offset),
	'and its restart, which reads the snapshot, stops on it again');
is($kusto->count($db, 'Snap'), 0, 'nothing of the table is sent');
sql('GRANT SELECT ON t_snap TO alice');
$writer->query_safe('COMMIT');
$writer->quit;
is_deeply($kusto->query_until($db,
	"Snap | where _op == 'snapshot' | summarize c = count() by id | summarize rows = sum(c), keys = count(), twice = countif(c > 1)",
	[ [ 21, 21, 0 ] ]), [ [ 21, 21, 0 ] ], 'after a GRANT the snapshot sends every row once');

$node->stop;
done_testing();
