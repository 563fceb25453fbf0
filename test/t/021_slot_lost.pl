# A standby that does not synchronize the sinks' slots (PostgreSQL 15 and
# 16 have no failover slots; on 17 and later it is one without
# sync_replication_slots) is promoted after the primary was killed: the new
# primary has no slot for the sink.  The worker puts the sink in state error
# at once, with a message that says the slot is missing and why that
# happens; with on_slot_lost = resync it creates a new slot and sends every
# table again, after which Kusto's latest state is the table, changes made
# while the sink was in error included.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;
use Sinks;

my $kusto = KustoEmulator->new;
my $db = 'SlotLost';
$kusto->create_sink_table($db, 'L', 'id:long, v:long');

my $primary = Sinks::start_node('primary', $kusto);
$primary->safe_psql('postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL);
	INSERT INTO t SELECT g, 0 FROM generate_series(1, 100) g;
});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

$primary->safe_psql('postgres', q{
	SELECT kusto_sink.create_sink('lost', 'emu', 't', 'SlotLost', 'L',
		'{"delivery_guarantee": "exactly_once", "ingestion_method": "streaming", "batch_interval_ms": 100}');
});
ok(Sinks::wait_state($primary, 'lost', 'running'), 'the sink runs on the primary');
$primary->safe_psql('postgres', q{
	UPDATE t SET v = 1 WHERE id <= 50;
	DELETE FROM t WHERE id > 90;
	INSERT INTO t SELECT g, 0 FROM generate_series(101, 150) g;
});
ok(Sinks::latest_state_is($primary, $kusto, $db, 'lost', 't', 'id, v'), "Kusto's latest state is the table");
$primary->wait_for_catchup($standby);

# ---------- the primary dies, the standby is promoted ----------
Sinks::kill_postmaster($primary);
$standby->promote;

ok(Sinks::wait_state($standby, 'lost', 'error'), 'on the new primary the sink is in state error');
like(Sinks::status($standby, 'lost', 'last_error'),
	qr/^replication slot "kusto_sink_lost" does not exist: run kusto_sink\.resume_sink\('lost'\) to create it and resync the sink's tables$/,
	'its last error says the slot is missing');
like(slurp_file($standby->logfile), qr/DETAIL:  A replication slot exists only on its own server: a sink restored from a dump has none \(pg_dump writes none\), and after a failover the promoted standby has it only if it is a failover slot it synchronized/,
	'and the log says why that happens');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'kusto_sink_lost'}), '0',
	'no slot is made without on_slot_lost = resync');

# changes while the sink has no slot: only a resync can bring them
$standby->safe_psql('postgres', q{
	UPDATE t SET v = 2 WHERE id % 10 = 0;
	DELETE FROM t WHERE id BETWEEN 20 AND 29;
	INSERT INTO t SELECT g, 3 FROM generate_series(151, 170) g;
});

# ---------- on_slot_lost = resync ----------
ok(Sinks::alter_and_wait($standby, 'lost', '{"on_slot_lost": "resync"}'), 'with on_slot_lost = resync the sink runs again');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'kusto_sink_lost'}), '1',
	'on a new slot');
ok($standby->poll_query_until('postgres', q{SELECT snapshot_state = 'done' FROM kusto_sink.status WHERE name = 'lost'}),
	'the resync of every table finishes');
is($kusto->query($db, q{L | where _op == 'snapshot_done' | count})->[0][0], 1, 'with a snapshot_done record');
ok(Sinks::latest_state_is($standby, $kusto, $db, 'lost', 't', 'id, v'),
	"Kusto's latest state is the new primary's table, changes made without a slot included");

# and the changes after it stream as usual
$standby->safe_psql('postgres', q{DELETE FROM t WHERE id = 1; INSERT INTO t VALUES (171, 4)});
ok(Sinks::latest_state_is($standby, $kusto, $db, 'lost', 't', 'id, v'), 'later changes stream on the new slot');

$standby->stop;
done_testing();
