# What create_sink needs of the server, checked before anything is made and
# explained: kusto_sink listed in output_plugin_libraries (on servers that
# have that parameter), wal_level = logical.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('prereq');
$node->init(allows_streaming => 'logical');
$node->start;
my $has_param = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_settings WHERE name = 'output_plugin_libraries'") eq '1';
$node->safe_psql('postgres', q{
	CREATE EXTENSION kusto_sink;
	CREATE TABLE t (id int PRIMARY KEY);
	SELECT kusto_sink.create_connection('emu', 'http://127.0.0.1:9', 'token', token => 'x');
});

sub create_sink_error
{
	my ($stdout, $stderr);
	$node->psql('postgres', q{\set VERBOSITY verbose
		SELECT kusto_sink.create_sink('s', 'emu', 't', 'db', 'T')},
		stdout => \$stdout, stderr => \$stderr);
	return $stderr;
}

SKIP:
{
	skip 'this server has no output_plugin_libraries', 3 unless $has_param;
	$node->append_conf('postgresql.conf', "output_plugin_libraries = 'pgoutput, test_decoding'");
	$node->reload;
	my $err = create_sink_error();
	like($err, qr/ERROR:  55000: the server does not allow kusto_sink as an output plugin/,
		'kusto_sink missing from output_plugin_libraries: SQLSTATE 55000 and what is wrong');
	like($err, qr/HINT:  Add kusto_sink to output_plugin_libraries/, 'and what to do');
	is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0', 'no slot was made');
	$node->append_conf('postgresql.conf', "output_plugin_libraries = 'pgoutput, test_decoding, kusto_sink'");
	$node->reload;
}

$node->append_conf('postgresql.conf', "wal_level = replica");
$node->restart;
like(create_sink_error(), qr/ERROR:  55000: kusto_sink needs wal_level = logical, not replica/,
	'wal_level below logical: SQLSTATE 55000 and what is wrong');

$node->stop;
done_testing();
