# The exactly-once TAP tests' shared steps (006, 007): a source table t
# (id, note) streamed by one sink into one Kusto table; rows are inserted
# with consecutive ids, and exactly_once() compares every id with Kusto.
package ExactlyOnce;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use Sinks;

# a started cluster for the tests: crash points armed by $crash_file, the
# extension, the source table t and the connection 'emu' to $kusto_url;
# returns ($node, $crash_file)
sub start_node
{
	my ($name, $kusto) = @_;
	my $crash_file = PostgreSQL::Test::Utils::tempdir() . '/kusto_sink_crash';
	my $node = Sinks::start_node($name, $kusto,
		conf => "kusto_sink.test_crash_file = '$crash_file'\nrestart_after_crash = on\nkusto_sink.pending_resend_after = '8s'\n");
	$node->safe_psql('postgres', 'CREATE TABLE t (id int PRIMARY KEY, note text)');
	return ($node, $crash_file);
}

# node, kusto (KustoEmulator), db, table (Kusto), sink, crash_file
sub new
{
	my ($class, %args) = @_;
	return bless { %args, next => 1 }, $class;
}

# the next id to insert; total() is the number of rows so far
sub next_id { return $_[0]->{next}; }
sub total { return $_[0]->{next} - 1; }

# ids handed out by the caller (e.g. a COPY): the next $n are taken
sub take
{
	my ($self, $n) = @_;
	my $from = $self->{next};
	$self->{next} += $n;
	return $from;
}

sub running
{
	my ($self) = @_;
	# (right after a crash point: the server may be restarting)
	return Sinks::poll_until($self->{node},
		"SELECT state = 'running' AND worker_pid IS NOT NULL FROM kusto_sink.status WHERE name = '$self->{sink}'");
}

# alter_sink, then waits until the new worker runs (Sinks.pm)
sub alter
{
	my ($self, $options) = @_;
	return Sinks::alter_and_wait($self->{node}, $self->{sink}, $options);
}

# inserts $n rows into t (in transactions of $per rows); returns the new total
sub insert_rows
{
	my ($self, $n, $per) = @_;
	my $next = $self->{next};
	my $sql = '';
	for (my $i = 0; $i < $n; $i += $per)
	{
		my $from = $next + $i;
		my $to = $next + ($i + $per > $n ? $n : $i + $per) - 1;
		$sql .= "INSERT INTO t SELECT g, 'n' || g FROM generate_series($from, $to) g;\n";
	}
	$self->{next} += $n;
	$self->{node}->safe_psql('postgres', $sql);
	return $self->total;
}

# every source row in Kusto once: rows, distinct ids, duplicates, id range
sub exactly_once
{
	my ($self, $what) = @_;
	my ($kusto, $db, $table) = @{$self}{qw(kusto db table)};
	my $total = $self->total;
	$kusto->wait_count($db, $table, $total);
	my $r = $kusto->query($db,
		"$table | summarize c = count() by id | summarize rows = sum(c), ids = dcount(id), dups = countif(c > 1), lo = min(id), hi = max(id)");
	is_deeply($r, [ [ $total, $total, 0, 1, $total ] ], "$what: $total rows, each exactly once");
}

# the worker kills itself at crash point $point while $work runs; then it
# runs again and every row is in Kusto once
sub crash_at
{
	my ($self, $point, $work) = @_;
	PostgreSQL::Test::Utils::append_to_file($self->{crash_file}, "$point\n");
	$work->();
	my $deadline = time + 60;
	usleep(20_000) while -e $self->{crash_file} && time < $deadline;
	ok(!-e $self->{crash_file}, "the worker reached crash point $point");
	ok($self->running, "after the crash at $point the worker runs again");
	$self->exactly_once("crash at $point");
}

1;
