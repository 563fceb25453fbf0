# Kusto table management (sink option create_table) and the latest-state
# helpers: a Kusto table created from the PostgreSQL definition for every
# type family, with its JSON or CSV mapping and streaming policy; an existing
# table checked (missing columns added, a column of another type an error
# that names every difference); and latest_state_kql / latest_state_query
# turning the change log into the source table's current rows.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;
use Sinks;

my $kusto = KustoEmulator->new;
my $db = 'Tbl';

my $node = Sinks::start_node('tables', $kusto);
$node->safe_psql('postgres', qq{
	CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
	CREATE TABLE everything (id int PRIMARY KEY, s smallint, big bigint, f4 real, f8 float8,
		amount numeric(12,2), ok bool, name text, code char(3), m mood, at timestamptz, ts timestamp,
		d date, t time, dur interval, u uuid, doc jsonb, tags text[], raw bytea, addr inet);
	CREATE TABLE items (id int PRIMARY KEY, label text, qty int);
	CREATE TABLE fits (id int PRIMARY KEY, amount numeric, note text);
});

sub wait_running { return Sinks::wait_state($node, $_[0], 'running'); }

# ---------- a table for every type family, JSON, streaming ----------
$node->safe_psql('postgres', q{SELECT kusto_sink.create_sink('every', 'emu', 'everything', 'Tbl', 'Everything',
	'{"create_table": true, "ingestion_method": "streaming", "batch_interval_ms": 100}')});
ok(wait_running('every'), 'a sink with create_table runs');
my $schema = $kusto->mgmt($db, '.show table Everything schema as json')->[0][1];
my %kusto_type = map { $_->{Name} => $_->{CslType} } @{ JSON::PP::decode_json($schema)->{OrderedColumns} };
my @expected = split /\n/, $node->safe_psql('postgres',
	q{SELECT attname || '=' || kusto_sink.kusto_type(atttypid::regtype) FROM pg_attribute
	  WHERE attrelid = 'everything'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum});
is_deeply([ map { my ($n) = split /=/; "$n=" . ($kusto_type{$n} // 'missing') } @expected ], \@expected,
	'the Kusto table has every column with the type of kusto_type()');
is_deeply([ @kusto_type{qw(_op _lsn _commit_lsn _commit_time _xid _schema _table _unchanged_toast)} ],
	[qw(string long long datetime long string string dynamic)], 'and the metadata columns');
$node->safe_psql('postgres', q{INSERT INTO everything VALUES (1, 2, 3, 1.5, 2.5, 12.34, true, 'n', 'abc', 'happy',
	'2026-01-02 03:04:05+00', '2026-01-02 03:04:05', '2026-01-02', '01:02:03', '1 day 2 hours', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
	'{"a": 1}', '{x,y}', '\x0102', '10.0.0.1')});
$kusto->wait_count($db, 'Everything', 1);
is_deeply($kusto->query($db, 'Everything | project id, s, big, amount, ok, name, m, d, u, addr'),
	[ [ 1, 2, 3, '12.34', JSON::PP::true, 'n', 'happy', '2026-01-02T00:00:00Z', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '10.0.0.1' ] ],
	'a row arrives through the mapping with its values');
my $maps = $kusto->mgmt($db, '.show table Everything ingestion json mappings');
like($maps->[0][0], qr/^kusto_sink_every_[0-9a-f]{16}$/, 'a JSON mapping kusto_sink_<sink>_<layout> is created');

# ---------- CSV: an ordinal mapping ----------
$node->safe_psql('postgres', q{SELECT kusto_sink.create_sink('csv', 'emu', 'items', 'Tbl', 'Items',
	'{"create_table": true, "format": "csv", "ingestion_method": "queued", "flush_immediately": true, "batch_interval_ms": 100}')});
ok(wait_running('csv'), 'a CSV sink with create_table runs');
$node->safe_psql('postgres', q{INSERT INTO items VALUES (1, 'one, with a comma', 5), (2, NULL, 7)});
$kusto->wait_count($db, 'Items', 2);
is_deeply($kusto->query($db, 'Items | order by id asc | project id, label, qty, _op'),
	[ [ 1, 'one, with a comma', 5, 'insert' ], [ 2, '', 7, 'insert' ] ], 'CSV rows land in their columns');
like($kusto->mgmt($db, '.show table Items ingestion csv mappings')->[0][0], qr/^kusto_sink_csv_[0-9a-f]{16}$/,
	'through a CSV mapping of their layout');

# two source tables with different columns into one Kusto table: each layout its ordinals
$node->safe_psql('postgres', q{
	CREATE TABLE crates (id int PRIMARY KEY, label text, qty int);
	CREATE TABLE parcels (id int PRIMARY KEY, weight int, label text);
	SELECT kusto_sink.create_sink('csv2', 'emu', 'crates, parcels', 'Tbl', 'Goods',
		'{"create_table": true, "format": "csv", "ingestion_method": "streaming", "batch_interval_ms": 100}');
});
ok(wait_running('csv2'), 'a CSV sink of two tables into one Kusto table runs');
$node->safe_psql('postgres', q{INSERT INTO crates VALUES (3, 'three', 30); INSERT INTO parcels VALUES (4, 400, 'four')});
$kusto->wait_count($db, 'Goods', 2);
is_deeply($kusto->query($db, 'Goods | order by id asc | project id, label, qty, weight, _table'),
	[ [ 3, 'three', 30, undef, 'crates' ], [ 4, 'four', undef, 400, 'parcels' ] ],
	'each table\'s CSV fields land in their own columns');
is(scalar @{ $kusto->mgmt($db, '.show table Goods ingestion csv mappings') }, 2, 'through a CSV mapping per table');

# ---------- an existing table: missing columns are added, other types are errors ----------
$kusto->mgmt($db, '.create table Fits (id:int, note:string)');
$node->safe_psql('postgres', q{SELECT kusto_sink.create_sink('fits', 'emu', 'fits', 'Tbl', 'Fits',
	'{"create_table": true, "ingestion_method": "streaming", "batch_interval_ms": 100}')});
ok(wait_running('fits'), 'a sink on an existing compatible table runs');
my %fits = map { $_->{Name} => $_->{CslType} }
  @{ JSON::PP::decode_json($kusto->mgmt($db, '.show table Fits schema as json')->[0][1])->{OrderedColumns} };
is_deeply([ @fits{qw(id note amount _lsn)} ], [qw(int string decimal long)], 'its missing columns are added');

$kusto->mgmt($db, '.create table Bad (id:string, amount:real, note:string)');
$node->safe_psql('postgres', q{SELECT kusto_sink.create_sink('bad', 'emu', 'fits', 'Tbl', 'Bad',
	'{"create_table": true, "ingestion_method": "streaming"}')});
ok($node->poll_query_until('postgres', "SELECT state = 'error' FROM kusto_sink.status WHERE name = 'bad'"),
	'an incompatible existing table stops the sink');
is($node->safe_psql('postgres', "SELECT last_error FROM kusto_sink.status WHERE name = 'bad'"),
	'Kusto table "Bad" does not fit sink "bad": column "id" is string in Kusto, but the records carry int; column "amount" is real in Kusto, but the records carry decimal',
	'the error names every difference');
$node->safe_psql('postgres', "SELECT kusto_sink.drop_sink('bad')");

# ---------- latest state ----------
$node->safe_psql('postgres', q{
	INSERT INTO items SELECT g, 'item ' || g, g FROM generate_series(3, 20) g;
	UPDATE items SET qty = qty * 10 WHERE id % 3 = 0;
	DELETE FROM items WHERE id % 5 = 0;
	UPDATE items SET id = 100 WHERE id = 7;
	INSERT INTO items VALUES (5, 'back again', 55);
});
$kusto->mgmt($db, $node->safe_psql('postgres', q{SELECT kusto_sink.latest_state_kql('csv', 'items')}));
my $query = $node->safe_psql('postgres', q{SELECT kusto_sink.latest_state_query('csv', 'items')});
# the source's rows as Kusto holds them (a string column has no null: '')
sub source_rows
{
	return [ map { [ split /\|/, $_, -1 ] } split /\n/, $node->safe_psql('postgres',
		q{SELECT id, coalesce(label, ''), qty FROM items ORDER BY id}) ];
}
my $latest = "$query | order by id asc | project id, label, qty";
my $source = source_rows();
is_deeply($kusto->query_until($db, $latest, $source), $source,
	'the latest-state view and query give the source table\'s rows (updates, deletes, a changed key)');
$node->safe_psql('postgres', q{TRUNCATE items; INSERT INTO items VALUES (42, 'after truncate', 1)});
is_deeply($kusto->query_until($db, $latest, [ [ 42, 'after truncate', 1 ] ]), [ [ 42, 'after truncate', 1 ] ],
	'rows before a TRUNCATE are gone from the latest state');

my ($ret, $out, $err) = $node->psql('postgres', q{SELECT kusto_sink.latest_state_kql('csv', 'fits')});
like($err, qr/table public.fits is not a source of sink "csv"/, 'latest_state_kql checks the table is a source');
$node->safe_psql('postgres', 'CREATE TABLE nokey (a int)');
$node->safe_psql('postgres', q{SELECT kusto_sink.create_sink('nk', 'emu', 'nokey', 'Tbl', 'NoKey', '{"create_table": true}')});
($ret, $out, $err) = $node->psql('postgres', q{SELECT kusto_sink.latest_state_kql('nk', 'nokey')});
like($err, qr/table public.nokey has no primary key/, 'a table without a primary key has no latest state');

$node->stop;
$kusto->stop;
done_testing();
