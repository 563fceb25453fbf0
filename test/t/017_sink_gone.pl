# A sink whose row is gone by the time its worker loads the configuration:
# the worker says so in the log and exits cleanly; it does not crash (a
# crashing background worker makes the postmaster restart every backend).
# The worker waits at the test hook's pause point "before_config" while the
# sink row is deleted behind the launcher's back (its naptime is an hour, so
# it does not stop the worker first).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;

my $kusto = KustoEmulator->new;
$kusto->create_sink_table('Db', 'Gone', 'id:long');

my $node = PostgreSQL::Test::Cluster->new('gone');
$node->init(allows_streaming => 'logical');
my $pause_file = $node->data_dir . '/kusto_sink_pause';
$node->append_conf('postgresql.conf',
	"kusto_sink.test_crash_file = '$pause_file'\nkusto_sink.launcher_naptime = '1h'\nrestart_after_crash = on\n");
$node->start;
my $url = $kusto->url;
my $postmaster_pid = slurp_file($node->data_dir . '/postmaster.pid') =~ s/\n.*//sr;

$node->safe_psql('postgres', qq{
	CREATE EXTENSION kusto_sink;
	CREATE TABLE gone (id int PRIMARY KEY);
	SELECT kusto_sink.create_connection('emu', '$url', 'application',
		tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => 'dev-secret');
});
my $log_offset = -s $node->logfile;
append_to_file($pause_file, "pause:before_config\n");
$node->safe_psql('postgres', q{
	SELECT kusto_sink.create_sink('gone', 'emu', 'gone', 'Db', 'Gone', '{"ingestion_method": "streaming"}');
});
ok($node->wait_for_log(qr/pause point "before_config" reached/, $log_offset),
	'the worker waits before loading its configuration');
my $worker_pid = $node->safe_psql('postgres', q{SELECT worker_pid FROM kusto_sink.status WHERE name = 'gone'});
like($worker_pid, qr/^\d+$/, 'the registry knows the waiting worker');

# the row goes away under the worker (not through drop_sink, which would wait for it)
$node->safe_psql('postgres', q{DELETE FROM kusto_sink.sink WHERE name = 'gone'});
unlink $pause_file or die "could not remove $pause_file: $!";

ok($node->wait_for_log(qr/kusto_sink sink "gone" no longer exists/, $log_offset),
	'the worker says the sink no longer exists');
ok($node->poll_query_until('postgres',
	"SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $worker_pid)"),
	'the worker has exited');
my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/terminated by signal|terminating any other active server processes|all server processes terminated/,
	'no crash: the postmaster did not reinitialize');
is(slurp_file($node->data_dir . '/postmaster.pid') =~ s/\n.*//sr, $postmaster_pid,
	'the postmaster is the same');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server still answers');

$node->stop;
$kusto->stop;
done_testing();
