# Long Kusto table names are never cut (issue 14): a sink whose Kusto table
# name has 200 characters delivers its rows to exactly that table, by
# streaming and by queued ingestion.  A second table shares the first 150
# characters: a name cut anywhere before would send rows to the wrong one
# (or to none).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;
use Sinks;

my $kusto = KustoEmulator->new('ingestion-delay-ms' => 100);
my $db = 'Db';
my $prefix = 'Long_' . ('abcdefghij' x 14) . 'abcde';	# 150 characters
my $stream_table = $prefix . ('S' x 50);
my $queued_table = $prefix . ('Q' x 50);
my $other_table = $prefix;
is(length($stream_table), 200, 'a 200-character Kusto table name');
$kusto->create_sink_table($db, $_, 'id:long') for ($stream_table, $queued_table, $other_table);

my $node = Sinks::start_node('names', $kusto);
$node->safe_psql('postgres', qq{
	CREATE TABLE s (id int PRIMARY KEY);
	CREATE TABLE q (id int PRIMARY KEY);
	SELECT kusto_sink.create_sink('long_s', 'emu', 's', '$db', '$stream_table',
		'{"ingestion_method": "streaming", "batch_interval_ms": 100}');
	SELECT kusto_sink.create_sink('long_q', 'emu', 'q', '$db', '$queued_table',
		'{"ingestion_method": "queued", "batch_interval_ms": 100}');
});
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 2 FROM kusto_sink.status WHERE state = 'running'"), 'both workers run');

$node->safe_psql('postgres', q{
	INSERT INTO s SELECT generate_series(1, 300);
	INSERT INTO q SELECT generate_series(1, 200);
});
is($kusto->wait_count($db, $stream_table, 300), 300, 'streaming: every row in the 200-character table');
is($kusto->wait_count($db, $queued_table, 200), 200, 'queued: every row in the 200-character table');
ok($node->poll_query_until('postgres',
	"SELECT bool_and(rows_sent = CASE name WHEN 'long_s' THEN 300 ELSE 200 END) FROM kusto_sink.status"),
	'the workers count the rows as sent');
is($kusto->count($db, $other_table), 0, 'nothing went to the table with the shorter (cut) name');
is($kusto->count($db, $stream_table), 300, 'streaming: no row twice');
is($kusto->count($db, $queued_table), 200, 'queued: no row twice');

$node->stop;
$kusto->stop;
done_testing();
