# The sink option "columns" is bound to columns, not to their names: WAL
# written before a column was renamed or dropped, decoded again after the
# user changed the rule (the worker restarts from the slot's restart point
# after an error), keeps the column excluded or masked; a rule on a renamed
# column keeps masking it under its new name; a dropped column stops the
# sink, naming it, also when a new column of the same name was added (the
# rule does not silently move to the new column).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use lib $ENV{KS_ROOT} . '/test/t';
use KustoEmulator;
use Sinks;

my $kusto = KustoEmulator->new;
my $db = 'Rules';
my $node = Sinks::start_node('column_rules', $kusto);

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub make_sink
{
	my ($sink, $table, $columns) = @_;
	sql(qq{SELECT kusto_sink.create_sink('$sink', 'emu', '$table', '$db', '$table',
		'{"create_table": true, "ingestion_method": "streaming", "batch_interval_ms": 100,
		  "columns": $columns}')});
	ok(Sinks::wait_state($node, $sink, 'running'), "sink $sink runs");
	ok($node->poll_query_until('postgres', "SELECT snapshot_state = 'done' FROM kusto_sink.status WHERE name = '$sink'"),
		"the snapshot of $sink is done");
}

sub salt { return pack('H*', sql("SELECT encode(mask_salt, 'hex') FROM kusto_sink.sink_secret WHERE sink = '$_[0]'")); }

sub error_like
{
	my ($sink, $re, $name) = @_;
	ok($node->poll_query_until('postgres',
		"SELECT state = 'error' AND last_error ~ '$re' FROM kusto_sink.status WHERE name = '$sink'"), $name)
	  or diag(Sinks::status($node, $sink, 'state || coalesce(last_error, \'\')'));
}

# The rows of a Kusto table by id, each a hash of its columns by name
# (columns that only some rows have: a column added in Kusto later).
# A change decoded again after an error can arrive twice (at-least-once):
# by_id() keeps the first of each id, all_values() sees every one.
sub rows_by_name
{
	my ($table) = @_;
	my $t = $kusto->_rest('/v1/rest/query', $db, "$table | order by id asc");
	my @names = map { $_->{ColumnName} } @{ $t->{Columns} };
	return [ map { my $r = $_; +{ map { ($names[$_] => $r->[$_] // '') } 0 .. $#names } } @{ $t->{Rows} } ];
}

sub by_id
{
	my %rows;
	$rows{ $_->{id} } //= $_ for @{ rows_by_name($_[0]) };
	return \%rows;
}

sub wait_id
{
	my ($table, $id) = @_;
	$kusto->query_until($db, "$table | where id == $id | summarize n = count() | project n > 0", [ [ JSON::PP::true ] ]);
}

# Every value of every column of a Kusto table, as text (the masks' inputs
# must not appear in any of them).
sub all_values
{
	my ($table) = @_;
	my $rows = $kusto->query($db, $table);
	return join("\n", map { join("|", map { $_ // '' } @$_) } @$rows);
}

# ---------- dropped: the rule leaves, the WAL before the drop keeps it out ----------
sql(q{CREATE TABLE a (id int PRIMARY KEY, name text, ssn text);
	INSERT INTO a SELECT g, 'name-' || g, 'secret-' || g FROM generate_series(1, 5) g});
make_sink('drop_excl', 'a', '{"public.a": {"exclude": ["ssn"]}}');
$kusto->wait_count($db, 'a', 5);
# one transaction: nothing of it is sent before the error, all of it is
# decoded again after alter_sink (with the historic catalog: ssn exists)
sql(q{BEGIN; INSERT INTO a VALUES (6, 'name-6', 'secret-6');
	ALTER TABLE a DROP COLUMN ssn; INSERT INTO a VALUES (7, 'name-7'); COMMIT});
error_like('drop_excl', 'column "ssn" of table public.a named in option "columns" does not exist',
	'a dropped excluded column stops the sink, naming it');
sql(q{SELECT kusto_sink.alter_sink('drop_excl', '{"columns": null}')});
wait_id('a', 7);
unlike(all_values('a'), qr/secret-/, 'after the rule is removed, the WAL before the drop still leaves the column out');
is_deeply([ map { [ $_->{id}, $_->{name} ] } sort { $a->{id} <=> $b->{id} } values %{ by_id('a') } ],
	[ map { [ $_, "name-$_" ] } 1 .. 7 ], 'every row arrives');

# ---------- renamed: masked under both names, before and after ----------
sql(q{CREATE TABLE b (id int PRIMARY KEY, email text, phone text);
	INSERT INTO b SELECT g, 'mail-' || g, 'phone-' || g FROM generate_series(1, 5) g});
make_sink('rename_mask', 'b', '{"public.b": {"mask": {"email": "hash", "phone": "null"}}}');
$kusto->wait_count($db, 'b', 5);
# the rename alone does not stop the sink; the drop does, so that the
# transaction is decoded again after the rule names the new name
sql(q{BEGIN; INSERT INTO b VALUES (6, 'mail-6', 'phone-6');
	ALTER TABLE b RENAME email TO mail; INSERT INTO b VALUES (7, 'mail-7', 'phone-7');
	ALTER TABLE b DROP COLUMN phone; INSERT INTO b VALUES (8, 'mail-8'); COMMIT});
error_like('rename_mask', 'column "phone" of table public.b named in option "columns" does not exist',
	'a dropped masked column stops the sink, naming it');
sql(q{SELECT kusto_sink.alter_sink('rename_mask', '{"columns": {"public.b": {"mask": {"mail": "hash"}}}}')});
wait_id('b', 8);
my $salt = salt('rename_mask');
my %want = map { ($_ => hmac_sha256_hex("mail-$_", $salt)) } 1 .. 8;
my %got = map { ($_->{id} => ($_->{email} // '') . ($_->{mail} // '')) } @{ rows_by_name('b') };
is_deeply(\%got, \%want,
	'the renamed column arrives hashed, under its old name before the rename and its new one after');
unlike(all_values('b'), qr/mail-|phone-/, 'no clear value of a masked column arrives');

# the rename of a masked column while the sink runs: still masked
sql(q{ALTER TABLE b RENAME mail TO address; INSERT INTO b VALUES (9, 'mail-9')});
wait_id('b', 9);
is(by_id('b')->{9}{address},
	hmac_sha256_hex('mail-9', $salt), 'a masked column renamed while the sink runs stays masked under its new name');
is(Sinks::status($node, 'rename_mask', 'state'), 'running', 'the rename does not stop the sink');
ok(Sinks::alter_and_wait($node, 'rename_mask', '{"batch_interval_ms": 150}'),
	'alter_sink goes on with a rule that names the column by its old name');
is(sql(q{SELECT string_agg(name || ':' || attnum, ',') FROM kusto_sink.sink_column WHERE sink = 'rename_mask' AND NOT dropped}),
	'mail:' . sql(q{SELECT attnum FROM pg_attribute WHERE attrelid = 'b'::regclass AND attname = 'address'}),
	'the old name stays bound to the renamed column');
sql(q{INSERT INTO b VALUES (10, 'mail-10')});
wait_id('b', 10);
is(by_id('b')->{10}{address}, hmac_sha256_hex('mail-10', $salt), 'and the column stays masked');

# ---------- dropped and added again with the same name ----------
sql(q{CREATE TABLE c (id int PRIMARY KEY, ssn text);
	INSERT INTO c SELECT g, 'old-' || g FROM generate_series(1, 5) g});
make_sink('same_name', 'c', '{"public.c": {"exclude": ["ssn"]}}');
$kusto->wait_count($db, 'c', 5);
sql(q{BEGIN; INSERT INTO c VALUES (6, 'old-6'); ALTER TABLE c DROP COLUMN ssn;
	ALTER TABLE c ADD COLUMN ssn text; INSERT INTO c VALUES (7, 'new-7'); COMMIT});
error_like('same_name', 'column "ssn" of table public.c named in option "columns" does not exist',
	'a column dropped and added again with the same name stops the sink: the rule is not moved silently');
# the user now sends the new column: the old one stays out of the WAL before the drop
sql(q{SELECT kusto_sink.alter_sink('same_name', '{"columns": null}')});
wait_id('c', 7);
unlike(all_values('c'), qr/old-/, 'the dropped column stays out of the WAL written before its drop');
is(by_id('c')->{7}{ssn}, 'new-7',
	'the new column of the same name arrives, as the changed rule says');

is(sql(q{SELECT string_agg(name || ':' || treatment::text || ':' || dropped, ',' ORDER BY attnum)
	FROM kusto_sink.sink_column WHERE sink = 'same_name'}), 'ssn:"exclude":true',
	'the dropped column stays bound, excluded, after the rule left it out');

# ---------- renamed, and a new column takes the old name: which one the rule
# means is the user's to say ----------
sql(q{CREATE TABLE d (id int PRIMARY KEY, ssn text); INSERT INTO d VALUES (1, 'first-1')});
make_sink('moved', 'd', '{"public.d": {"mask": {"ssn": "hash"}}}');
wait_id('d', 1);
sql(q{ALTER TABLE d RENAME ssn TO tax_id; ALTER TABLE d ADD COLUMN ssn text;
	INSERT INTO d VALUES (2, 'first-2', 'second-2')});
error_like('moved', 'column "ssn" of table public.d named in option "columns" was renamed to "tax_id"',
	'a masked column renamed while a new column takes its name stops the sink, naming both');
is($kusto->count($db, 'd'), 1, 'nothing of the change is sent meanwhile');
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT kusto_sink.alter_sink('moved', '{"batch_interval_ms": 200}')},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/22023: column "ssn" of table public.d named in option "columns" was renamed to "tax_id"/,
	'alter_sink refuses a rule whose name now means a new column while the renamed one would lose its mask');
sql(q{SELECT kusto_sink.alter_sink('moved', '{"columns": {"public.d": {"mask": {"tax_id": "hash", "ssn": "null"}}}}')});
sql(q{INSERT INTO d VALUES (3, 'first-3', 'second-3')});
wait_id('d', 3);
$salt = salt('moved');
my $d = by_id('d');
is_deeply([ map { [ $_, $d->{$_}{ssn}, $d->{$_}{tax_id} // '' ] } 1 .. 3 ],
	[ [ 1, hmac_sha256_hex('first-1', $salt), '' ], [ 2, '', hmac_sha256_hex('first-2', $salt) ],
	  [ 3, '', hmac_sha256_hex('first-3', $salt) ] ],
	'the renamed column stays hashed; the new column of the old name gets its own rule');
unlike(all_values('d'), qr/first-|second-/, 'no clear value arrives');

# ---------- a publication's snapshot takes the rows tablesync copies, and
# no generated column (pgoutput never sends one before 18, nor on 18
# without publish_generated_columns) ----------
sql(q{CREATE TABLE s (id int PRIMARY KEY, v int, g int GENERATED ALWAYS AS (v * 2) STORED);
	INSERT INTO s (id, v) SELECT g, g FROM generate_series(1, 10) g;
	CREATE PUBLICATION ps FOR TABLE s WHERE (id % 2 = 0) WITH (publish = 'update, delete');
	SELECT kusto_sink.create_sink('snap', 'emu', 'publication:ps', 'Rules', 's',
		'{"create_table": true, "ingestion_method": "streaming", "batch_interval_ms": 100}')});
ok($node->poll_query_until('postgres', "SELECT snapshot_state = 'done' FROM kusto_sink.status WHERE name = 'snap'"),
	'the snapshot of a publication that publishes no inserts is done');
is_deeply($kusto->query_until($db, 's | order by id asc | project id, v, _op',
		[ map { [ $_, $_, 'snapshot' ] } 2, 4, 6, 8, 10 ]),
	[ map { [ $_, $_, 'snapshot' ] } 2, 4, 6, 8, 10 ],
	'its snapshot sends the rows its row filter passes, as a subscription\'s initial copy, whatever it publishes');
sql(q{UPDATE s SET v = 20 WHERE id = 2; UPDATE s SET v = 30 WHERE id = 3});
$kusto->query_until($db, "s | where _op == 'update' | count", [ [ 1 ] ]);
is_deeply([ sort grep { !/^_/ } keys %{ rows_by_name('s')->[0] } ], [ 'id', 'v' ],
	'create_table and the records leave the generated column out');
is_deeply($kusto->query($db, "s | where _op == 'update' | project id, v"), [ [ 2, 20 ] ],
	'an update arrives only for a row the filter passes');

# ---------- the table renamed: its rule follows it (bound to its OID) ----------
# The worker follows a source table by OID through a RENAME; the rule is
# keyed by the table's name when it was bound, so it must follow too: an
# include list keeps the other columns out, a mask keeps masking.
sql(q{CREATE TABLE e (id int PRIMARY KEY, name text, ssn text, pin text);
	INSERT INTO e SELECT g, 'name-' || g, 'ssn-' || g, 'pin-' || g FROM generate_series(1, 3) g});
make_sink('table_renamed', 'e', '{"public.e": {"include": ["id", "name", "pin"], "mask": {"pin": "hash"}}}');
$kusto->wait_count($db, 'e', 3);
sql(q{ALTER TABLE e RENAME TO e_renamed; INSERT INTO e_renamed VALUES (4, 'name-4', 'ssn-4', 'pin-4')});
wait_id('e', 4);
my $esalt = salt('table_renamed');
is_deeply({ map { ($_->{id} => [ $_->{name}, $_->{pin}, exists $_->{ssn} ? 'ssn' : '' ]) } @{ rows_by_name('e') } },
	{ map { ($_ => [ "name-$_", hmac_sha256_hex("pin-$_", $esalt), '' ]) } 1 .. 4 },
	'after the table is renamed its rule still holds: the included columns, the mask, no other column');
unlike(all_values('e'), qr/ssn-|pin-/, 'no clear value of a left-out or masked column arrives after the rename');
is(Sinks::status($node, 'table_renamed', 'state'), 'running', 'the table rename does not stop the sink');
($rc, $out, $err) = $node->psql('postgres', q{SELECT kusto_sink.alter_sink('table_renamed', '{"batch_interval_ms": 150}')});
like($err, qr/table public\.e named in sink option "columns" does not exist/,
	'alter_sink asks for the table\'s new name in the rule');
ok(Sinks::alter_and_wait($node, 'table_renamed',
	'{"columns": {"public.e_renamed": {"include": ["id", "name", "pin"], "mask": {"pin": "hash"}}}}'),
	'the rule under the new name is taken');
sql(q{INSERT INTO e_renamed VALUES (5, 'name-5', 'ssn-5', 'pin-5')});
wait_id('e', 5);
is(by_id('e')->{5}{pin}, hmac_sha256_hex('pin-5', $esalt), 'and holds as before');
unlike(all_values('e'), qr/ssn-|pin-/, 'still no clear value');

$node->stop;
done_testing();
