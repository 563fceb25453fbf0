# Schema evolution while a sink runs: ALTER TABLE ADD COLUMN and DROP COLUMN
# reach Kusto where they took effect in the WAL, without a restart.
#  - create_table, JSON and CSV: the Kusto table gets the column
#    (.alter-merge) and each record layout its own mapping, so rows before
#    and after the change (even in one transaction) land in their columns.
#  - CSV without create_table: a field that would land in the wrong column
#    stops the sink before anything is sent; turning create_table on later
#    delivers the held rows, once.
#  - JSON without create_table: the rows flow, and the status names the
#    column Kusto does not have.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;
use Sinks;

my $kusto = KustoEmulator->new;
my $db = 'Evo';

my $node = Sinks::start_node('evolution', $kusto);
$node->safe_psql('postgres', qq{
	CREATE TABLE evj (id int PRIMARY KEY, label text);
	CREATE TABLE evc (id int PRIMARY KEY, note text);
	CREATE TABLE evn (id int PRIMARY KEY, note text);
	CREATE TABLE evw (id int PRIMARY KEY, note text);
});

sub status { return Sinks::status($node, @_); }
sub wait_state { return Sinks::wait_state($node, @_); }

sub kusto_types
{
	my ($table) = @_;
	my $schema = $kusto->mgmt($db, ".show table $table schema as json")->[0][1];
	return { map { $_->{Name} => $_->{CslType} } @{ JSON::PP::decode_json($schema)->{OrderedColumns} } };
}

my $options = '"delivery_guarantee": "exactly_once", "ingestion_method": "streaming", "batch_interval_ms": 100';

# ---------- create_table, JSON: ADD COLUMN in the middle of a transaction, then DROP COLUMN ----------
$node->safe_psql('postgres', qq{SELECT kusto_sink.create_sink('evj', 'emu', 'evj', '$db', 'Evj', '{"create_table": true, $options}')});
ok(wait_state('evj', 'running'), 'a JSON sink with create_table runs');
my $pid = status('evj', 'worker_pid');
$node->safe_psql('postgres', q{INSERT INTO evj VALUES (1, 'one'), (2, 'two')});
$kusto->wait_count($db, 'Evj', 2);
$node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO evj VALUES (3, 'three');
	ALTER TABLE evj ADD COLUMN price numeric;
	INSERT INTO evj VALUES (4, 'four', 4.5);
	COMMIT;
	INSERT INTO evj VALUES (5, 'five', 5.25);
});
is($kusto->wait_count($db, 'Evj', 5), 5, 'the rows before and after ADD COLUMN arrive');
is(kusto_types('Evj')->{price}, 'decimal', 'the Kusto table got the new column');
is_deeply($kusto->query($db, 'Evj | order by id asc | project id, label, price'),
	[ [ 1, 'one', undef ], [ 2, 'two', undef ], [ 3, 'three', undef ], [ 4, 'four', '4.5' ], [ 5, 'five', '5.25' ] ],
	'each row has its values, the new column from where it was added');
$node->safe_psql('postgres', q{ALTER TABLE evj DROP COLUMN label; INSERT INTO evj VALUES (6, 6.5)});
is($kusto->wait_count($db, 'Evj', 6), 6, 'a row after DROP COLUMN arrives');
is_deeply($kusto->query($db, 'Evj | where id == 6 | project id, label, price'), [ [ 6, '', '6.5' ] ],
	'the dropped column stays in Kusto, empty for new rows');
is(status('evj', 'worker_pid'), $pid, 'without a restart of the worker');
is(status('evj', 'state'), 'running', 'and the sink still runs');
cmp_ok(scalar @{ $kusto->mgmt($db, '.show table Evj ingestion json mappings') }, '>=', 3,
	'one mapping per record layout');

# a column that changes its Kusto type: held until the Kusto column is changed too
$node->safe_psql('postgres', q{ALTER TABLE evj ALTER COLUMN price TYPE text; INSERT INTO evj VALUES (7, 'seven')});
ok(wait_state('evj', 'error'), 'a column whose Kusto type changed stops the sink');
like(status('evj', 'last_error'), qr/column 'price' is of type 'decimal', it cannot become 'string'/,
	'the error names the column and both types');
is($kusto->count($db, 'Evj'), 6, 'the row is held');
$kusto->mgmt($db, '.alter column Evj.price type=string');
is($kusto->wait_count($db, 'Evj', 7), 7, 'after .alter column in Kusto, the held row arrives');
is_deeply($kusto->query($db, 'Evj | where id == 7 | project price'), [ [ 'seven' ] ], 'with its new type');
ok(wait_state('evj', 'running'), 'and the sink runs again');

# ---------- create_table, CSV: the ordinals follow the layout ----------
$node->safe_psql('postgres', qq{SELECT kusto_sink.create_sink('evc', 'emu', 'evc', '$db', 'Evc', '{"create_table": true, "format": "csv", $options}')});
ok(wait_state('evc', 'running'), 'a CSV sink with create_table runs');
$node->safe_psql('postgres', q{INSERT INTO evc VALUES (1, 'a, b')});
$kusto->wait_count($db, 'Evc', 1);
$node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO evc VALUES (2, 'before');
	ALTER TABLE evc ADD COLUMN qty int;
	INSERT INTO evc VALUES (3, 'after', 30);
	COMMIT;
});
is($kusto->wait_count($db, 'Evc', 3), 3, 'CSV rows around ADD COLUMN arrive');
is_deeply($kusto->query($db, 'Evc | order by id asc | project id, note, qty, _op'),
	[ [ 1, 'a, b', undef, 'insert' ], [ 2, 'before', undef, 'insert' ], [ 3, 'after', 30, 'insert' ] ],
	'every CSV field lands in its column (the metadata columns did not shift)');

# a dead letter of a later layout is sent again through that layout's mapping
$node->safe_psql('postgres', q{CREATE TABLE evd (id int PRIMARY KEY, note text)});
$node->safe_psql('postgres', qq{SELECT kusto_sink.create_sink('evd', 'emu', 'evd', '$db', 'Evd',
	'{"create_table": true, "format": "csv", "on_error": "dead_letter", "ingestion_method": "streaming", "batch_interval_ms": 100}')});
ok(wait_state('evd', 'running'), 'a CSV sink with dead letters runs');
$node->safe_psql('postgres', q{INSERT INTO evd VALUES (1, 'one')});
$kusto->wait_count($db, 'Evd', 1);
$node->safe_psql('postgres', q{ALTER TABLE evd ADD COLUMN qty int});
$kusto->admin('POST', '/admin/faults', { kind => 'streaming', count => 1,
	action => { status => 400, code => 'BadRequest_SyntaxError', permanent => JSON::PP::true, message => 'Rejected for the test.' } });
$node->safe_psql('postgres', q{INSERT INTO evd VALUES (2, 'two', 20)});
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM kusto_sink.dead_letter WHERE sink = 'evd' AND mapping LIKE 'kusto_sink_evd_%'"),
	'a rejected batch becomes a dead letter that names its mapping');
$node->safe_psql('postgres', q{SELECT kusto_sink.retry_dead_letter('evd')});
is($kusto->wait_count($db, 'Evd', 2), 2, 'sent again, it arrives');
is_deeply($kusto->query($db, 'Evd | order by id asc | project id, note, qty, _op'),
	[ [ 1, 'one', undef, 'insert' ], [ 2, 'two', 20, 'insert' ] ], 'in its columns');

# ---------- CSV without create_table: stop rather than misplace ----------
$kusto->create_sink_table($db, 'Evn', 'id:int, note:string');
$node->safe_psql('postgres', qq{SELECT kusto_sink.create_sink('evn', 'emu', 'evn', '$db', 'Evn', '{"format": "csv", $options}')});
ok(wait_state('evn', 'running'), 'a CSV sink on a table of its own runs');
$node->safe_psql('postgres', q{INSERT INTO evn VALUES (1, 'one')});
$kusto->wait_count($db, 'Evn', 1);
$node->safe_psql('postgres', q{ALTER TABLE evn ADD COLUMN qty int; INSERT INTO evn VALUES (2, 'two', 20)});
ok(wait_state('evn', 'error'), 'a CSV field that would land in another column stops the sink');
like(status('evn', 'last_error'),
	qr/CSV records for Kusto table "Evn" do not line up with its columns: field 3 is "qty", but column 3 of the table is "_op"/,
	'the error names the field and the column');
is($kusto->count($db, 'Evn'), 1, 'nothing was sent');
$node->safe_psql('postgres', q{SELECT kusto_sink.alter_sink('evn', '{"create_table": true}')});
is($kusto->wait_count($db, 'Evn', 2), 2, 'with create_table turned on, the held row arrives');
is_deeply($kusto->query($db, 'Evn | order by id asc | project id, note, qty, _op'),
	[ [ 1, 'one', undef, 'insert' ], [ 2, 'two', 20, 'insert' ] ], 'in its columns, once');
ok(wait_state('evn', 'running'), 'and the sink runs again');

# ---------- a table added to the publication is picked up, its columns too ----------
$node->safe_psql('postgres', q{CREATE TABLE pub1 (id int PRIMARY KEY, a text); CREATE TABLE pub2 (id int PRIMARY KEY, b int);
	CREATE PUBLICATION evp FOR TABLE pub1});
$node->safe_psql('postgres', qq{SELECT kusto_sink.create_sink('evp', 'emu', 'publication:evp', '$db', 'Evp',
	'{"create_table": true, "snapshot": false, "metadata": "op, lsn, commit_lsn, table", $options}')});
ok(wait_state('evp', 'running'), 'a sink on a publication runs');
$node->safe_psql('postgres', q{INSERT INTO pub1 VALUES (1, 'one'); INSERT INTO pub2 VALUES (1, 10)});
$kusto->wait_count($db, 'Evp', 1);
$node->safe_psql('postgres', q{ALTER PUBLICATION evp ADD TABLE pub2; INSERT INTO pub2 VALUES (2, 20); INSERT INTO pub1 VALUES (2, 'two')});
is($kusto->wait_count($db, 'Evp', 3), 3, 'the changes of a table added to the publication arrive from there on');
is_deeply($kusto->query($db, 'Evp | order by _lsn asc | project _table, id, a, b'),
	[ [ 'pub1', 1, 'one', undef ], [ 'pub2', 2, '', 20 ], [ 'pub1', 2, 'two', undef ] ],
	'with its own columns added to the Kusto table');

# ---------- JSON without create_table: rows flow, the status says what Kusto drops ----------
$kusto->create_sink_table($db, 'Evw', 'id:int, note:string');
$node->safe_psql('postgres', qq{SELECT kusto_sink.create_sink('evw', 'emu', 'evw', '$db', 'Evw', '{$options}')});
ok(wait_state('evw', 'running'), 'a JSON sink without create_table runs');
$node->safe_psql('postgres', q{INSERT INTO evw VALUES (1, 'one'); ALTER TABLE evw ADD COLUMN extra text;
	INSERT INTO evw VALUES (2, 'two', 'x')});
is($kusto->wait_count($db, 'Evw', 2), 2, 'rows after ADD COLUMN still arrive');
like(status('evw', 'last_error'), qr/Kusto table "Evw" has no column "extra"/,
	'the status names the column Kusto does not have');
is(status('evw', 'state'), 'running', 'the sink keeps running');

$node->stop;
$kusto->stop;
done_testing();
