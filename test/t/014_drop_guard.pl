# DROP EXTENSION kusto_sink (also CASCADE) and DROP SCHEMA kusto_sink (also
# CASCADE) are refused while sinks exist (dependent_objects_still_exist,
# naming them), and so is DROP DATABASE of the sinks' database (also WITH
# (FORCE), also while the sink is paused and its slot inactive) and DROP
# OWNED BY the extension's owner; after each refusal the sink still delivers.  After drop_sink(), DROP EXTENSION succeeds and leaves
# no slot behind.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;
use Sinks;

my $kusto = KustoEmulator->new;
my $db = 'Guard';
$kusto->create_sink_table($db, 'Items', 'id:long');

my $node = Sinks::start_node('guard', $kusto);
my $url = $kusto->url;
$node->safe_psql('postgres', qq{
	CREATE TABLE items (id int PRIMARY KEY);
	CREATE TABLE others (id int PRIMARY KEY);
	CREATE DATABASE elsewhere;
});
$node->safe_psql('postgres', "SELECT kusto_sink.create_sink('items', 'emu', 'items', '$db', 'Items',
	'{\"ingestion_method\": \"streaming\", \"batch_interval_ms\": 100}')");
ok($node->poll_query_until('postgres',
	"SELECT state = 'running' FROM kusto_sink.status WHERE name = 'items'"), 'the sink runs');

my $next_id = 1;

# the sink still runs and a row inserted now arrives
sub still_delivers
{
	my ($what) = @_;
	ok($node->poll_query_until('postgres',
		"SELECT state = 'running' AND worker_pid IS NOT NULL FROM kusto_sink.status WHERE name = 'items'"),
		"$what: the sink still runs");
	$node->safe_psql('postgres', "INSERT INTO items VALUES ($next_id)");
	is($kusto->wait_count($db, 'Items', $next_id), $next_id, "$what: a new row arrives");
	$next_id++;
}

# runs $sql in $dbname and returns its stderr (verbose: with the SQLSTATE)
sub fails
{
	my ($dbname, $sql) = @_;
	my ($rc, $out, $err) = $node->psql($dbname, "\\set VERBOSITY verbose\n$sql");
	isnt($rc, 0, "$sql fails");
	return $err;
}

still_delivers('at first');

for my $sql ('DROP EXTENSION kusto_sink', 'DROP EXTENSION kusto_sink CASCADE',
	'DROP EXTENSION IF EXISTS kusto_sink, plpgsql CASCADE',
	'DROP SCHEMA kusto_sink', 'DROP SCHEMA kusto_sink CASCADE', 'DROP SCHEMA public, kusto_sink CASCADE')
{
	my $err = fails('postgres', $sql);
	like($err, qr/ERROR:  2BP01: cannot drop extension kusto_sink while sinks exist/,
		"$sql: refused with dependent_objects_still_exist");
	like($err, qr/DETAIL:  Sink items exists\./, "$sql: the detail names the sink");
	like($err, qr/HINT:  Drop them with kusto_sink\.drop_sink\(\) first\./, "$sql: the hint");
	still_delivers($sql);
}
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_extension WHERE extname = 'kusto_sink'"),
	'1', 'the extension is still there');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_tables WHERE tablename = 'others'"),
	'1', 'DROP SCHEMA public CASCADE was refused as a whole');

# DROP DATABASE of the sinks' database, from another database: refused while it
# has kusto_sink slots (PostgreSQL alone refuses only while a slot is active)
sub refuses_dropdb
{
	my ($sql, $what) = @_;
	my $err = fails('elsewhere', $sql);
	like($err, qr/ERROR:  2BP01: cannot drop database "postgres" while it has kusto_sink sinks/,
		"$what: refused with dependent_objects_still_exist");
	like($err, qr/DETAIL:  Replication slot kusto_sink_items exists\./, "$what: the detail names the slot");
	like($err, qr/HINT:  Drop the sinks with kusto_sink\.drop_sink\(\) in database "postgres" first, and other slots of the kusto_sink plugin with pg_drop_replication_slot\(\)\./,
		"$what: the hint");
}
for my $sql ('DROP DATABASE postgres', 'DROP DATABASE postgres WITH (FORCE)')
{
	refuses_dropdb($sql, $sql);
	still_delivers($sql);
}
# a paused sink: its slot is inactive, so PostgreSQL alone would let FORCE drop it all
$node->safe_psql('postgres', "SELECT kusto_sink.pause_sink('items')");
ok($node->poll_query_until('postgres',
	"SELECT NOT active FROM pg_replication_slots WHERE slot_name = 'kusto_sink_items'"),
	'paused: the slot is inactive');
refuses_dropdb('DROP DATABASE postgres WITH (FORCE)', 'a paused sink, WITH (FORCE)');
$node->safe_psql('postgres', "SELECT kusto_sink.resume_sink('items')");
still_delivers('resumed after DROP DATABASE WITH (FORCE)');
# a database without sinks drops as usual
$node->safe_psql('postgres', 'CREATE DATABASE spare');
$node->safe_psql('elsewhere', 'DROP DATABASE spare WITH (FORCE)');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_database WHERE datname = 'spare'"), '0',
	'a database without sinks drops');

# several sinks: a few named, then "and N more"
for my $i (1 .. 4)
{
	$node->safe_psql('postgres', "SELECT kusto_sink.create_sink('more_$i', 'emu', 'others', '$db', 'Items',
		'{\"ingestion_method\": \"streaming\"}')");
}
like(fails('postgres', 'DROP EXTENSION kusto_sink'),
	qr/DETAIL:  Sinks items, more_1, more_2 and 2 more exist\./, 'five sinks: three named and 2 more');
$node->safe_psql('postgres', "SELECT kusto_sink.drop_sink('more_$_')") for (1 .. 4);

# without sinks the extension drops, and no slot of a sink remains
$node->safe_psql('postgres', "SELECT kusto_sink.drop_sink('items')");
$node->safe_psql('postgres', 'DROP EXTENSION kusto_sink');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_extension WHERE extname = 'kusto_sink'"),
	'0', 'after drop_sink the extension drops');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE plugin = 'kusto_sink'"),
	'0', 'no kusto_sink slot remains');

# the schema the extension leaves behind, without its table, drops as usual
$node->safe_psql('postgres', 'DROP SCHEMA kusto_sink');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_namespace WHERE nspname = 'kusto_sink'"),
	'0', 'DROP SCHEMA kusto_sink without the extension');

# DROP OWNED BY the extension's owner (a superuser other than the bootstrap one)
$node->safe_psql('postgres', 'CREATE ROLE ext_owner SUPERUSER LOGIN');
$node->safe_psql('postgres', "CREATE EXTENSION kusto_sink;
	SELECT kusto_sink.create_connection('emu', '$url', 'application',
		tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret')",
	extra_params => [ '-U', 'ext_owner' ]);
$node->safe_psql('postgres', "SELECT kusto_sink.create_sink('items', 'emu', 'items', '$db', 'Items',
	'{\"ingestion_method\": \"streaming\", \"batch_interval_ms\": 100, \"snapshot\": false}')",
	extra_params => [ '-U', 'ext_owner' ]);
ok($node->poll_query_until('postgres',
	"SELECT state = 'running' FROM kusto_sink.status WHERE name = 'items'"), 'the sink of ext_owner runs');
for my $sql ('DROP OWNED BY ext_owner', 'DROP OWNED BY ext_owner CASCADE')
{
	my $err = fails('postgres', $sql);
	like($err, qr/ERROR:  2BP01: cannot drop extension kusto_sink while sinks exist/,
		"$sql (the extension's owner): refused");
	like($err, qr/DETAIL:  Sink items exists\./, "$sql: the detail names the sink");
	still_delivers($sql);
}
$node->safe_psql('postgres', "SELECT kusto_sink.drop_sink('items')");
$node->safe_psql('postgres', 'DROP OWNED BY ext_owner');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_extension WHERE extname = 'kusto_sink'"),
	'0', 'without sinks, DROP OWNED BY the owner drops the extension (as PostgreSQL does)');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE plugin = 'kusto_sink'"),
	'0', 'and no kusto_sink slot remains');

$node->stop;
done_testing();
