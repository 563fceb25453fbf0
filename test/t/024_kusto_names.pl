# Kusto's name rule with create_table (issue 19, item 7): a source column whose
# name Kusto cannot hold (letters, digits, '_', space, '.', '-', at most 1,024
# characters) is refused by create_sink and alter_sink, not at the worker's
# first .create table; one added later stops the sink before anything of it
# is sent, naming it; the emulator refuses such names as Kusto does.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;
use Sinks;

my $kusto = KustoEmulator->new;
my $db = 'Names';
my $node = Sinks::start_node('names', $kusto);
sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{CREATE TABLE bad (id int PRIMARY KEY, "price; drop" int);
	  CREATE TABLE good (id int PRIMARY KEY, "unit price" int, "naïve-col.x" text)});

# refused at create_sink, with Kusto's rule in the detail
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT kusto_sink.create_sink('b', 'emu', 'bad', 'Names', 'Bad',
	'{"create_table": true, "ingestion_method": "streaming"}')}, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  42602: column "price; drop" of table bad cannot be a Kusto column/,
	'create_sink with create_table refuses a column Kusto cannot hold (SQLSTATE 42602)');
like($err, qr/DETAIL:  A Kusto name may contain only letters, digits, underscores, spaces, dots and dashes\./,
	'and says the rule');
is(sql(q{SELECT count(*) FROM kusto_sink.sink WHERE name = 'b'}), '0', 'no sink was made');

# without create_table the user's Kusto table decides: accepted
sql(q{SELECT kusto_sink.create_sink('b', 'emu', 'bad', 'Names', 'Bad', '{"ingestion_method": "streaming"}')});
($rc, $out, $err) = $node->psql('postgres', q{SELECT kusto_sink.alter_sink('b', '{"create_table": true}')});
like($err, qr/column "price; drop" of table bad cannot be a Kusto column/,
	'alter_sink turning create_table on refuses it too');
sql(q{SELECT kusto_sink.drop_sink('b')});

# names Kusto holds: spaces, dots, dashes, letters of any script
sql(q{SELECT kusto_sink.create_sink('g', 'emu', 'good', 'Names', 'Good',
	'{"create_table": true, "ingestion_method": "streaming", "batch_interval_ms": 100}')});
sql(q{INSERT INTO good SELECT g, g, 'x' FROM generate_series(1, 10) g});
is($kusto->wait_count($db, 'Good', 10), 10, 'a table with spaces, dots, dashes and non-ASCII letters in its column names arrives');
my $schema = JSON::PP->new->decode($kusto->mgmt($db, '.show table Good schema as json')->[0][1]);
is_deeply([ map { $_->{Name} } @{ $schema->{OrderedColumns} }[0 .. 2] ], [ 'id', 'unit price', "na\x{ef}ve-col.x" ],
	'the Kusto table has columns of those names');
is($kusto->query($db, q{Good | where ['unit price'] == 7 | count})->[0][0], 1, 'holding the values');

# a column added later that Kusto cannot hold: the sink stops before sending, naming it
sql(q{ALTER TABLE good ADD COLUMN "q$" int; INSERT INTO good VALUES (11, 11, 'y', 1)});
ok(Sinks::wait_state($node, 'g', 'error'), 'the sink stops when a column Kusto cannot hold is added');
like(Sinks::status($node, 'g', 'last_error'),
	qr/^column "q\$" cannot be a column of Kusto table "Good": a Kusto name may contain only letters, digits, underscores, spaces, dots and dashes; the sink stops before sending records that carry it/,
	'last_error names the column and the rule');
is($kusto->count($db, 'Good'), 10, 'nothing of the new layout was sent');

# the emulator refuses such names as Kusto does
eval { $kusto->mgmt($db, q{.create-merge table Good (['q$']:int)}) };
like($@, qr/^\/v1\/rest\/mgmt .*: 400 .*"code":"BadRequest_EntityNameIsNotValid"/,
	"the emulator refuses the name with Kusto's code");

done_testing();
