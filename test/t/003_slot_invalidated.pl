# A sink whose slot max_slot_wal_keep_size invalidated: a clear error state
# (state error, the reason in last_error, wal_status lost), not a silent stop;
# for an at-least-once and an exactly-once sink.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;

my $kusto = KustoEmulator->new;
$kusto->create_sink_table('Db', 'T', 'id:long');
$kusto->create_sink_table('Db', 'E', 'id:long');

my $node = PostgreSQL::Test::Cluster->new('invalidated');
$node->init(allows_streaming => 'logical');
$node->append_conf('postgresql.conf', qq{
max_slot_wal_keep_size = 1MB
wal_keep_size = 0
min_wal_size = 32MB
max_wal_size = 64MB
});
$node->start;
my $url = $kusto->url;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION kusto_sink;
	CREATE TABLE t (id int PRIMARY KEY, filler text);
	SELECT kusto_sink.create_connection('emu', '$url', 'application',
		tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret');
	SELECT kusto_sink.create_sink('s', 'emu', 't', 'Db', 'T', '{"ingestion_method": "streaming", "batch_interval_ms": 100, "snapshot": false}');
	SELECT kusto_sink.create_sink('e', 'emu', 't', 'Db', 'E', '{"ingestion_method": "streaming", "batch_interval_ms": 100, "delivery_guarantee": "exactly_once", "snapshot": false}');
	INSERT INTO t VALUES (1, 'before');
});
is($kusto->wait_count('Db', 'T', 1), 1, 'the sink works');
is($kusto->wait_count('Db', 'E', 1), 1, 'the exactly-once sink works');

$node->safe_psql('postgres', "SELECT kusto_sink.pause_sink('s'); SELECT kusto_sink.pause_sink('e');");
ok($node->poll_query_until('postgres', "SELECT bool_and(worker_pid IS NULL) FROM kusto_sink.status"), 'paused');
# far more WAL than max_slot_wal_keep_size, then checkpoints remove it
for my $i (1 .. 4)
{
	$node->safe_psql('postgres', "INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series($i * 100000, $i * 100000 + 20000) g");
	$node->safe_psql('postgres', 'SELECT pg_switch_wal(); CHECKPOINT;');
}
ok($node->poll_query_until('postgres',
	"SELECT bool_and(wal_status = 'lost') FROM kusto_sink.status"), 'the slots are invalidated');

for my $sink ('s', 'e')
{
	$node->safe_psql('postgres', "SELECT kusto_sink.resume_sink('$sink')");
	ok($node->poll_query_until('postgres',
		"SELECT state = 'error' AND last_error IS NOT NULL FROM kusto_sink.status WHERE name = '$sink'"),
		"sink $sink resumed on an invalidated slot: state error");
	like($node->safe_psql('postgres', "SELECT last_error FROM kusto_sink.status WHERE name = '$sink'"),
		qr/replication slot "kusto_sink_$sink" was invalidated: the WAL it needs has been removed/,
		"sink $sink: last_error says the slot is gone");
}
is($kusto->count('Db', 'E'), 1, 'the exactly-once sink sent nothing more');

$node->safe_psql('postgres', "SELECT kusto_sink.drop_sink('s'); SELECT kusto_sink.drop_sink('e');");
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0', 'it can still be dropped');
$node->stop;
$kusto->stop;
done_testing();
