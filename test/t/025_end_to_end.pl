# End to end, against the emulator or (make test-live, test/scripts/live.sh)
# a real cluster: streaming, queued and managed sinks with create_table,
# exactly once across an immediate restart of PostgreSQL, a schema change,
# and the latest state (latest_state_kql's view and latest_state_query),
# every count compared with the source. Tables get a unique prefix and are
# dropped at the end; nothing here needs the emulator's admin API.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;
use Sinks;

my $live = $ENV{KS_TEST_LIVE} ? 1 : 0;
my $kusto = $live ? KustoEmulator->live : KustoEmulator->new('ingestion-delay-ms' => 200);
my $db = $live ? $ENV{KUSTO_LIVE_DATABASE} : 'E2E';
my $p = sprintf('kssink%08x', int(rand(2**32)));
note($live ? "live cluster $ENV{KUSTO_LIVE_CLUSTER}, database $db, prefix $p" : "emulator, prefix $p");

my $node = Sinks::start_node('e2e', $kusto);
sub sql { return $node->safe_psql('postgres', $_[0]); }
my %kt = (s => "${p}_Stream", q => "${p}_Queued", m => "${p}_Managed");

sql(q{CREATE TABLE src_s (id int PRIMARY KEY, v text);
	  CREATE TABLE src_q (id int PRIMARY KEY, v text);
	  CREATE TABLE src_m (id int PRIMARY KEY, v text)});
sql(qq{SELECT kusto_sink.create_sink('s', 'emu', 'src_s', '$db', '$kt{s}',
	'{"create_table": true, "ingestion_method": "streaming", "delivery_guarantee": "exactly_once", "batch_interval_ms": 200}')});
sql(qq{SELECT kusto_sink.create_sink('q', 'emu', 'src_q', '$db', '$kt{q}',
	'{"create_table": true, "ingestion_method": "queued", "delivery_guarantee": "exactly_once", "batch_interval_ms": 200}')});
sql(qq{SELECT kusto_sink.create_sink('m', 'emu', 'src_m', '$db', '$kt{m}',
	'{"create_table": true, "ingestion_method": "managed", "batch_interval_ms": 200}')});
for my $s (qw(s q m))
{
	ok(Sinks::wait_state($node, $s, 'running'), "sink $s runs");
}

# rows, then an immediate restart of PostgreSQL in the middle, then more rows
sql("INSERT INTO src_$_ SELECT g, 'v' || g FROM generate_series(1, 500) g") for qw(s q m);
$node->stop('immediate');
$node->start;
sql("INSERT INTO src_$_ SELECT g, 'v' || g FROM generate_series(501, 1000) g") for qw(s q m);

sub inserts
{
	my ($table) = @_;
	return "['$table'] | where _op == 'insert' | summarize rows = count(), ids = dcount(id)";
}
is_deeply($kusto->query_until($db, inserts($kt{s}), [ [ 1000, 1000 ] ]), [ [ 1000, 1000 ] ],
	'streaming, exactly once: the 1,000 rows once each, across the restart');
is_deeply($kusto->query_until($db, inserts($kt{q}), [ [ 1000, 1000 ] ]), [ [ 1000, 1000 ] ],
	'queued, exactly once: the 1,000 rows once each, across the restart');
my $m = $kusto->query_until($db, "['$kt{m}'] | where _op == 'insert' | summarize ids = dcount(id)", [ [ 1000 ] ]);
is_deeply($m, [ [ 1000 ] ], 'managed (at least once): every one of the 1,000 rows');

# a schema change: the column reaches Kusto and carries the new rows' values
sql(q{ALTER TABLE src_s ADD COLUMN extra int; INSERT INTO src_s SELECT g, 'w', 7 FROM generate_series(1001, 1010) g});
is_deeply($kusto->query_until($db, "['$kt{s}'] | where extra == 7 | count", [ [ 10 ] ]), [ [ 10 ] ],
	'a column added in PostgreSQL arrives with its values (create_table)');

# the latest state: updates and deletes, then the view and the query
sql(q{UPDATE src_q SET v = 'updated' WHERE id <= 100; DELETE FROM src_q WHERE id > 900});
$kusto->mgmt($db, sql(q{SELECT kusto_sink.latest_state_kql('q', 'src_q')}));
my $latest = sql(q{SELECT kusto_sink.latest_state_query('q', 'src_q')});
my $want = [ [ map { 0 + $_ } split /\|/, sql(q{SELECT count(*), count(*) FILTER (WHERE v = 'updated'), sum(id) FROM src_q}) ] ];
is_deeply($kusto->query_until($db, "$latest | summarize rows = count(), updated = countif(v == 'updated'), ids = sum(id)", $want),
	$want, "Kusto's latest state is the source table (900 rows, 100 updated)");

# clean up what this run made in Kusto
sql("SELECT kusto_sink.drop_sink('$_')") for qw(s q m);
$kusto->mgmt($db, ".drop materialized-view ['${p}_QueuedLatest'] ifexists");
$kusto->mgmt($db, ".drop table ['$_'] ifexists") for values %kt;
is(scalar(grep { $_->[0] =~ /^\Q$p\E/ } @{ $kusto->mgmt($db, '.show tables') }), 0,
	'the tables of this run are dropped');

done_testing();
