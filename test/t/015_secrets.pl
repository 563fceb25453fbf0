# Secrets stay out of the server log: with log_statement = 'all',
# log_min_duration_statement = 0, log_min_error_statement = error and
# auto_explain logging nested statements, create_connection and
# alter_connection with a literal secret, a misspelt argument name, bad JSON
# options, a syntax error quoting the secret, a multi-statement string whose
# first statement fails, a prepared statement, a bind parameter (extended
# protocol, also failing) and pgaudit-like messages quoting a call never
# write the secret to the log; pg_stat_activity shows a pg_read_all_stats
# role the hidden text.  The connection options app_key_file and token_file
# pass a secret without any statement holding it: test_connection and a sink
# work end to end, and a changed file is used at the next token fetch (or
# request).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;

my $kusto = KustoEmulator->new;
my $db = 'Secrets';
$kusto->create_sink_table($db, 'Items', 'id:long');
my $url = $kusto->url;

my $node = PostgreSQL::Test::Cluster->new('secrets');
$node->init(allows_streaming => 'logical');
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'kusto_sink, auto_explain'
log_statement = 'all'
log_min_duration_statement = 0
log_min_error_statement = error
auto_explain.log_min_duration = 0
auto_explain.log_nested_statements = on
auto_explain.log_analyze = off
log_parameter_max_length_on_error = -1
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION kusto_sink; CREATE TABLE items (id int PRIMARY KEY)');

my $secret = 'Xyzzy-h4-s3cr3t';
my $log_start = -s $node->logfile;

# ---- literal secrets in statements ----
$node->safe_psql('postgres', "SELECT kusto_sink.create_connection('lit', '$url', 'application',
	tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => '${secret}-1')");
$node->safe_psql('postgres', "SELECT kusto_sink.alter_connection('lit', app_key => '${secret}-2')");

sub fails_with
{
	my ($sql, $re, $what) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	isnt($rc, 0, "$what: fails");
	like($err, $re, "$what: the client gets the error");
}

fails_with("SELECT kusto_sink.create_connection('typo', '$url', 'application',
	tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_kye => '${secret}-3')",
	qr/42883: function kusto_sink\.create_connection\(.*\) does not exist/s, 'a misspelt argument name');
fails_with("SELECT kusto_sink.create_connection('badjson', '$url', 'application',
	tenant_id => 'emulator', app_id => 'kusto-sink-dev', app_key => '${secret}-4', options => '{bad')",
	qr/22P02: invalid input syntax for type json/, 'bad JSON options');
fails_with("SELECT kusto_sink.alter_connection('lit', app_key => '${secret}-12)",
	qr/42601: syntax error in a statement hidden by kusto_sink: it may contain a secret/,
	'a syntax error that would quote the secret');
fails_with("SELECT kusto_sink.alter_connection('nosuch', app_key => '${secret}-5')",
	qr/42704: connection "nosuch" does not exist/, 'an error in the function body');

# one query string with two statements, the first failing
my ($out, $err) = ('', '');
IPC::Run::run([ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
	"SELECT 1/0; SELECT kusto_sink.alter_connection('lit', app_key => '${secret}-6')" ],
	'<', \undef, '>', \$out, '2>', \$err);
like($err, qr/division by zero/, 'a multi-statement string whose first statement fails');

# a prepared statement: the secret is in EXECUTE, the function name in the prepare detail
$node->safe_psql('postgres', "PREPARE p(text) AS SELECT kusto_sink.alter_connection('lit', app_key => \$1);
	EXECUTE p('${secret}-7')");

# the extended protocol: the secret is a bind parameter ("parameters: $1 = ..."
# detail; on error, the "unnamed portal with parameters" context)
my $script = PostgreSQL::Test::Utils::tempdir() . '/bind.sql';
for my $case ([ 'lit', 0, 'a bind parameter' ], [ 'nosuch', 1, 'a bind parameter, failing' ])
{
	my ($conn, $should_fail, $what) = @$case;
	open(my $fh, '>', $script) or die;
	print $fh "SELECT kusto_sink.alter_connection('$conn', app_key => :secret);\n";
	close $fh;
	my ($bout, $berr) = ('', '');
	my $ok = IPC::Run::run([ 'pgbench', '-n', '-t', '1', '-M', 'extended', '-f', $script,
		'-D', "secret=${secret}-8", $node->connstr('postgres') ],
		'<', \undef, '>', \$bout, '2>', \$berr);
	is($ok ? 0 : 1, $should_fail, "$what: pgbench " . ($should_fail ? 'fails' : 'succeeds'));
}

# a message that quotes a call by itself, as pgaudit's do (at LOG and at a
# higher pgaudit.log_level): the statement that raises it does not name the
# functions, and no statement holds the secret whole
$node->safe_psql('postgres', q{CREATE FUNCTION audit_like(lvl text) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
	IF lvl = 'log' THEN
		RAISE LOG 'AUDIT: SESSION,1,1,FUNCTION,EXECUTE,,,kusto_sink.create_connection,"SELECT kusto_sink.create_connection(app_key => ''%'')"', 'Xyzzy-h4-' || 's3cr3t-10';
	ELSE
		RAISE WARNING 'AUDIT: SESSION,1,1,FUNCTION,EXECUTE,,,kusto_sink.alter_connection,"SELECT kusto_sink.alter_connection(app_key => ''%'')"', 'Xyzzy-h4-' || 's3cr3t-11';
	END IF;
END $f$});
$node->safe_psql('postgres', "SELECT audit_like('log')");
$node->psql('postgres', "SELECT audit_like('warning')");

# pg_stat_activity, as a pg_read_all_stats role sees it, after the call
$node->safe_psql('postgres', 'CREATE ROLE stats_reader LOGIN IN ROLE pg_read_all_stats');
my $session = $node->background_psql('postgres');
my $pid = $session->query_safe('SELECT pg_backend_pid()');
$session->query_safe("SELECT kusto_sink.alter_connection('lit', app_key => '${secret}-9')");
my $seen = $node->safe_psql('postgres', "SELECT query FROM pg_stat_activity WHERE pid = $pid",
	extra_params => [ '-U', 'stats_reader' ]);
is($seen, 'SELECT kusto_sink.alter_connection(...) -- arguments hidden by kusto_sink',
	'pg_stat_activity shows the hidden text to a pg_read_all_stats role');
$session->quit;

my $log = slurp_file($node->logfile, $log_start);
unlike($log, qr/\Q$secret\E/, 'the server log never holds a secret passed in a statement');
like($log, qr/statement hidden by kusto_sink: it may contain a secret/,
	'log_statement, durations and auto_explain logged the hidden text instead');
like($log, qr/ERROR:  function kusto_sink\.create_connection\(.*\) does not exist/,
	'the error itself is still logged');
unlike($log, qr/STATEMENT:.*connection/, 'no STATEMENT line for these statements');
like($log, qr/^\tportal parameters hidden by kusto_sink: they may contain a secret$/m,
	'the parameters of a failing bind are hidden');

# ---- app_key_file: the secret read from a server file at each token fetch ----
my $dir = PostgreSQL::Test::Utils::tempdir();
my $key_file = "$dir/app_key";
sub write_file
{
	my ($path, $content) = @_;
	open(my $fh, '>', $path) or die "could not write $path: $!";
	print $fh $content;
	close $fh;
	chmod 0600, $path;
}
write_file($key_file, "dev-secret\n");
$log_start = -s $node->logfile;
$node->safe_psql('postgres', "SELECT kusto_sink.create_connection('filed', '$url', 'application',
	tenant_id => 'emulator', app_id => 'kusto-sink-dev', options => '{\"app_key_file\": \"$key_file\"}')");
is($node->safe_psql('postgres', "SELECT ok FROM kusto_sink.test_connection('filed')"), 't',
	'app_key_file: test_connection reaches the cluster');

write_file($key_file, "not-the-secret\n");
my $detail = $node->safe_psql('postgres', "SELECT ok || ' ' || detail FROM kusto_sink.test_connection('filed')");
like($detail, qr/^false .*invalid_client/, 'a changed file is used at the next token fetch (a wrong secret fails)');
unlike($detail, qr/not-the-secret/, 'the error does not quote the file');

write_file($key_file, "dev-secret");
is($node->safe_psql('postgres', "SELECT ok FROM kusto_sink.test_connection('filed')"), 't',
	'the right secret again (no trailing newline) works again');

unlink $key_file;
$detail = $node->safe_psql('postgres', "SELECT ok || ' ' || detail FROM kusto_sink.test_connection('filed')");
like($detail, qr/^false .*could not read the app_key_file "\Q$key_file\E"/, 'a missing file: an error naming it');
write_file($key_file, "\n");
$detail = $node->safe_psql('postgres', "SELECT ok || ' ' || detail FROM kusto_sink.test_connection('filed')");
like($detail, qr/^false .*the app_key_file "\Q$key_file\E" is empty/, 'an empty file: an error naming it');
write_file($key_file, "dev-secret\n");

$node->safe_psql('postgres', "SELECT kusto_sink.create_sink('filed', 'filed', 'items', '$db', 'Items',
	'{\"ingestion_method\": \"streaming\", \"batch_interval_ms\": 100}')");
ok($node->poll_query_until('postgres',
	"SELECT state = 'running' FROM kusto_sink.status WHERE name = 'filed'"), 'a sink on the connection runs');
$node->safe_psql('postgres', 'INSERT INTO items SELECT generate_series(1, 10)');
is($kusto->wait_count($db, 'Items', 10), 10, 'app_key_file: the sink delivers its rows');

# the relaxed rules: app_key_file replaces app_key, not both
fails_with("SELECT kusto_sink.create_connection('both', '$url', 'application', tenant_id => 'emulator',
	app_id => 'kusto-sink-dev', app_key => 'x', options => '{\"app_key_file\": \"$key_file\"}')",
	qr/22023: pass either app_key or the option app_key_file, not both/, 'app_key and app_key_file');
fails_with("SELECT kusto_sink.create_connection('rel', '$url', 'application', tenant_id => 'emulator',
	app_id => 'kusto-sink-dev', options => '{\"app_key_file\": \"relative/key\"}')",
	qr/22023: file "relative\/key" is not an absolute path/, 'a relative app_key_file');

# ---- token_file: the bearer token read from a server file for each request ----
my $token_file = "$dir/token";
write_file($token_file, $kusto->token . "\n");
$node->safe_psql('postgres', "SELECT kusto_sink.create_connection('tok', '$url', 'token',
	options => '{\"token_file\": \"$token_file\"}')");
is($node->safe_psql('postgres', "SELECT ok FROM kusto_sink.test_connection('tok')"), 't',
	'token_file: test_connection reaches the cluster');
write_file($token_file, "not.a.token\n");
$detail = $node->safe_psql('postgres', "SELECT ok || ' ' || detail FROM kusto_sink.test_connection('tok')");
like($detail, qr/^false .*401/, 'token_file: a changed token is used (a bad one is refused)');
unlike($detail, qr/not\.a\.token/, 'the error does not quote the token');
write_file($token_file, $kusto->token . "\n");
$kusto->create_sink_table($db, 'Tokened', 'id:long');
$node->safe_psql('postgres', 'CREATE TABLE tokened (id int PRIMARY KEY)');
$node->safe_psql('postgres', "SELECT kusto_sink.create_sink('tok', 'tok', 'tokened', '$db', 'Tokened',
	'{\"ingestion_method\": \"streaming\", \"batch_interval_ms\": 100}')");
$node->safe_psql('postgres', 'INSERT INTO tokened SELECT generate_series(1, 5)');
is($kusto->wait_count($db, 'Tokened', 5), 5, 'token_file: a sink delivers its rows');

$log = slurp_file($node->logfile, $log_start);
unlike($log, qr/dev-secret|not-the-secret|not\.a\.token/, 'file contents never reach the log');

$node->safe_psql('postgres', "SELECT kusto_sink.drop_sink('$_')") for ('filed', 'tok');
$node->stop;
done_testing();
