# Steps on sinks shared by the TAP tests.
#
#   my $node = Sinks::start_node('name', $kusto, conf => "...")
#       a started cluster for logical decoding with the extension created and
#       the connection 'emu' to the emulator $kusto (its development
#       principal); conf lines go to postgresql.conf before the start
#   Sinks::status($node, 'sink', 'rows_sent')
#       one column of the sink's row in kusto_sink.status
#   Sinks::wait_state($node, 'sink', 'running')
#       waits (with the test timeout) until the sink is in that state
#   Sinks::alter_and_wait($node, 'sink', '{"batch_size": 10}')
#       alter_sink, then waits until the new worker runs: the old one still
#       says running until it has settled and exited, so a poll for the state
#       alone would pass at once
#   Sinks::poll_until($node, "SELECT ...")
#       as the node's poll_query_until (true once the query returns t, within
#       the test timeout), but with the query as psql's -c argument: while a
#       crash restarts the server, psql exits before it read its standard
#       input, and poll_query_until's write of the query died with a broken
#       pipe (SIGPIPE) that ended the whole test script
#   Sinks::batch_moves_ok($node)
#       a test that no batch made a move of state its protocol does not allow
#       (src/worker/batch.h; batch.c logs such a move as a WARNING)
#   Sinks::kill_postmaster($node)
#       kill -9 of the node's postmaster (its children exit by themselves);
#       the node then counts as stopped
#   Sinks::latest_state_is($node, $kusto, 'Db', 'sink', 'table', 'id, v')
#       waits (with the test timeout) until Kusto's latest state of the source
#       table is the table's rows
package Sinks;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

sub poll_until
{
	my ($node, $query) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	my @cmd = ('psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', $query);
	while (time < $deadline)
	{
		my ($out, $err) = ('', '');
		IPC::Run::run(\@cmd, '<', '/dev/null', '>', \$out, '2>', \$err);
		chomp $out;
		return 1 if $out eq 't';
		usleep(100_000);
	}
	diag("poll_until timed out: $query");
	return 0;
}

sub start_node
{
	my ($name, $kusto, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => 'logical');
	$node->append_conf('postgresql.conf', $opts{conf}) if $opts{conf};
	$node->start;
	my $url = $kusto->url;
	# a live cluster (KustoEmulator->live): its principal, from the environment
	my ($tenant, $app, $key) = $kusto->{live}
	  ? map { my $v = $_; $v =~ s/'/''/g; $v } @ENV{qw(KUSTO_LIVE_TENANT KUSTO_LIVE_APP_ID KUSTO_LIVE_APP_KEY)}
	  : ('emulator', 'kusto-sink-dev', 'dev-secret');
	$node->safe_psql('postgres', qq{
		CREATE EXTENSION kusto_sink;
		SELECT kusto_sink.create_connection('emu', '$url', 'application',
			tenant_id => '$tenant', app_id => '$app', app_key => '$key');
	});
	return $node;
}

sub status
{
	my ($node, $sink, $column) = @_;
	return $node->safe_psql('postgres', "SELECT $column FROM kusto_sink.status WHERE name = '$sink'");
}

sub wait_state
{
	my ($node, $sink, $state) = @_;
	return $node->poll_query_until('postgres',
		"SELECT state = '$state' FROM kusto_sink.status WHERE name = '$sink'");
}

sub alter_and_wait
{
	my ($node, $sink, $options) = @_;
	my $pid = $node->safe_psql('postgres', "SELECT coalesce(worker_pid, 0) FROM kusto_sink.status WHERE name = '$sink'");
	$node->safe_psql('postgres', "SELECT kusto_sink.alter_sink('$sink', '$options')");
	return $node->poll_query_until('postgres',
		"SELECT state = 'running' AND worker_pid <> $pid FROM kusto_sink.status WHERE name = '$sink'");
}

sub batch_moves_ok
{
	my ($node) = @_;
	my $log = PostgreSQL::Test::Utils::slurp_file($node->logfile);
	return Test::More::unlike($log, qr/moved from state "[^"]*" to "[^"]*", which is not a move of its protocol/,
		'every batch moved through its states as src/worker/batch.h has them');
}

# A process's state letter and parent from /proc/PID/stat (pid (comm) state
# ppid ...: comm may hold spaces and parentheses), or () when it is gone.
sub proc_stat
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return ();
	my $line = <$fh> // '';
	close $fh;
	return $line =~ /^\d+ \(.*\) ([A-Za-z]) (\d+) / ? ($1, $2) : ();
}

# The children of a process.
sub children_of
{
	my ($ppid) = @_;
	return grep { my ($state, $parent) = proc_stat($_); defined $parent && $parent == $ppid }
	  map { m{^/proc/(\d+)/stat$} ? $1 : () } glob '/proc/[0-9]*/stat';
}

# Whether a process runs (a zombie, exited but not reaped, does not).
sub alive
{
	my ($state) = proc_stat($_[0]);
	return defined $state && $state ne 'Z';
}

# kill -9 of a node's postmaster, as a crash of the server would be; then
# every process of the server must exit by itself (a backend or worker left
# behind holds the shared memory that keeps a new postmaster from starting):
# a test, and the ones left are killed so that the test run goes on.
sub kill_postmaster
{
	my ($node) = @_;
	my $pidfile = $node->data_dir . '/postmaster.pid';
	my ($pid) = PostgreSQL::Test::Utils::slurp_file($pidfile) =~ /^(\d+)/;
	my @kids = children_of($pid);
	# a running server always has some (checkpointer, WAL writer, ...)
	die "no child process of postmaster $pid found in /proc" unless @kids;
	kill 'KILL', $pid;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	Time::HiRes::usleep(10_000) while kill(0, $pid) && time < $deadline;
	$deadline = time + 60;
	my @left = @kids;
	while (@left && time < $deadline)
	{
		Time::HiRes::usleep(50_000);
		@left = grep { alive($_) } @left;
	}
	my @titles = map { my $c = eval { PostgreSQL::Test::Utils::slurp_file("/proc/$_/cmdline") } // ''; $c =~ tr/\0/ /; "$_: $c" } @left;
	Test::More::ok(!@left, 'after kill -9 of the postmaster of ' . $node->name . ' every server process exits')
	  or Test::More::diag(join("\n", @titles));
	kill 'KILL', @left if @left;
	unlink $pidfile;
	$node->_update_pid(0);
	return;
}

# waits (with the test timeout) until Kusto's latest state of a source table
# (latest_state_kql, latest_state_query) is the table's rows, compared on the
# columns $cols ("id, v"); diag()s the sizes when it is not
sub latest_state_is
{
	my ($node, $kusto, $db, $sink, $table, $cols) = @_;
	my $sql = sub { return $node->safe_psql('postgres', $_[0]) };
	$kusto->mgmt($db, $sql->(qq{SELECT kusto_sink.latest_state_kql('$sink', '$table')}));
	my $kql = $sql->(qq{SELECT kusto_sink.latest_state_query('$sink', '$table')});
	my $source = $sql->(qq{SELECT string_agg(concat_ws(':', $cols), ',' ORDER BY $cols) FROM $table});
	my $order = join(', ', map { "$_ asc" } split /,\s*/, $cols);
	my $got = '';
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (time < $deadline)
	{
		my $rows = $kusto->query($db, "$kql | order by $order | project $cols");
		$got = join(',', map { join(':', map { $_ // '' } @$_) } @$rows);
		return 1 if $got eq $source;
		Time::HiRes::usleep(100_000);
	}
	Test::More::diag("latest state of $table differs: " . length($got) . ' vs ' . length($source) . ' characters');
	return 0;
}

1;
