# The postgres_exporter queries file (monitoring/postgres_exporter.yml): as
# the monitoring role with exactly the grants its header lists, every query
# runs against live sinks (one running after its initial snapshot, one
# paused with a dead letter) and gives one row per sink whose columns are
# the metrics it declares, labels filled in and every metric a number; and
# the values are the sinks' (state, rows, snapshot, dead letters).
use strict;
use warnings;
use CPAN::Meta::YAML;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;
use Sinks;

my $file = "$ENV{KS_ROOT}/monitoring/postgres_exporter.yml";
my $text = slurp_file($file);
my $yaml = CPAN::Meta::YAML->read_string($text) or die CPAN::Meta::YAML->errstr;
my $queries = $yaml->[0];
my @grants = map { s/^#\s+//r } grep { /^#\s+GRANT / } split /\n/, $text;
ok(@grants >= 4, 'the file lists the grants the monitoring role needs');

my $kusto = KustoEmulator->new;
my $db = 'Mon';
$kusto->create_sink_table($db, 'T', 'id:long, note:string');
my $node = Sinks::start_node('monitoring', $kusto);
$node->safe_psql('postgres', qq{
	CREATE TABLE t (id int PRIMARY KEY, note text);
	INSERT INTO t SELECT g, 'before' FROM generate_series(1, 200) g;
	ANALYZE t;
	SELECT kusto_sink.create_sink('live', 'emu', 't', '$db', 'T', '{"ingestion_method": "streaming", "batch_interval_ms": 100}');
	SELECT kusto_sink.create_sink('idle', 'emu', 't', '$db', 'T', '{"ingestion_method": "streaming", "snapshot": false}');
	SELECT kusto_sink.pause_sink('idle');
	INSERT INTO kusto_sink.dead_letter (sink, kusto_table, format, records, first_commit_lsn, last_commit_lsn, payload, error)
	VALUES ('idle', 'T', 'json', 1, '0/1', '0/1', '{"id": 0}', 'rejected for the test');
});
ok($node->poll_query_until('postgres', q{SELECT snapshot_state = 'done' FROM kusto_sink.status WHERE name = 'live'}),
	'the initial snapshot is done');
$node->safe_psql('postgres', q{INSERT INTO t SELECT g, 'after' FROM generate_series(201, 250) g});
is($kusto->wait_count($db, 'T', 250), 250, 'the live sink delivered every row');
ok($node->poll_query_until('postgres', q{SELECT rows_sent = 250 FROM kusto_sink.status WHERE name = 'live'}),
	'and counted them');
ok(Sinks::wait_state($node, 'idle', 'paused'), 'the other sink is paused');

$node->safe_psql('postgres', join("\n", 'CREATE ROLE postgres_exporter LOGIN;', @grants));

# a query's rows as the monitoring role: (header, rows), both array refs
sub run_query
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ 'psql', '-X', '--csv', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('postgres') . ' user=postgres_exporter', '-c', $sql ], '>', \$out, '2>', \$err);
	diag($err) if !$ok;
	my @lines = split /\n/, $out;
	my $header = [ split /,/, shift(@lines) // '' ];
	return ($ok, $header, [ map { [ split /,/, $_, -1 ] } @lines ]);
}

my %usages = map { $_ => 1 } qw(LABEL COUNTER GAUGE);
my %got;
for my $name (sort keys %$queries)
{
	my $q = $queries->{$name};
	my @metrics = map { my ($k) = keys %$_; [ $k, $_->{$k} ] } @{ $q->{metrics} };
	ok(!grep({ !$usages{ $_->[1]{usage} } || !$_->[1]{description} } @metrics),
		"$name: every metric has a usage and a description");
	my ($ok, $header, $rows) = run_query($q->{query});
	ok($ok, "$name: the query runs as the monitoring role");
	is_deeply($header, [ map { $_->[0] } @metrics ], "$name: its columns are the declared metrics");
	is(scalar(@$rows), 2, "$name: one row per sink");
	my @bad;
	for my $row (@$rows)
	{
		for my $i (0 .. $#metrics)
		{
			my $v = $row->[$i] // '';
			push @bad, "$metrics[$i][0]=$v"
			  if ($metrics[$i][1]{usage} eq 'LABEL' ? $v eq '' : $v !~ /^-?\d+(\.\d+)?(e[-+]?\d+)?$/i);
		}
		my %byname = map { ($header->[$_] => $row->[$_]) } 0 .. $#$header;
		$got{$name}{ $byname{sink} } = \%byname;
	}
	is(join(' ', @bad), '', "$name: labels are set and every metric is a number");
}

is($got{kusto_sink}{live}{running}, 1, 'kusto_sink_running: 1 for the running sink');
is($got{kusto_sink}{idle}{running}, 0, 'and 0 for the paused one');
is($got{kusto_sink}{live}{rows_sent}, 250, 'kusto_sink_rows_sent: the rows in Kusto');
cmp_ok($got{kusto_sink}{live}{batches_sent}, '>', 0, 'kusto_sink_batches_sent counts batches');
is($got{kusto_sink}{live}{wal_reserved}, 1, 'kusto_sink_wal_reserved: 1');
cmp_ok($got{kusto_sink}{live}{seconds_since_success}, '>=', 0, 'kusto_sink_seconds_since_success: a success seen');
is($got{kusto_sink_state}{live}{state}, 'running', 'kusto_sink_state: running');
is($got{kusto_sink_state}{idle}{state}, 'paused', 'kusto_sink_state: paused');
is(join('/', map { $got{kusto_sink_snapshot}{live}{$_} } qw(tables tables_done rows_delivered rows_estimate running)),
	'1/1/200/200/0', 'kusto_sink_snapshot: the initial snapshot, done');
is($got{kusto_sink_dead_letters}{idle}{count}, 1, 'kusto_sink_dead_letters_count: the paused sink has one');
is($got{kusto_sink_dead_letters}{live}{count}, 0, 'the running one none');

$node->stop;
$kusto->stop;
done_testing();
