# Publications mean what they say, end to end: a sink on a publication with
# a row filter and a column list sends, in its snapshot and its changes,
# only the rows the filter passes and only the listed columns; create_table
# makes only those columns; an update that moves a row out of the filter is
# a delete in Kusto, so the latest state equals the filtered source; a
# changed filter or column list takes effect where it did in the WAL.
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
my $db = 'Pubs';
my $node = Sinks::start_node('publications', $kusto);

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{
	CREATE TABLE users (id int PRIMARY KEY, region text, name text);
	ALTER TABLE users REPLICA IDENTITY FULL;
	INSERT INTO users SELECT g, CASE WHEN g % 3 = 0 THEN 'us' ELSE 'eu' END, 'user ' || g
	  FROM generate_series(1, 300) g;
	CREATE TABLE people (id int PRIMARY KEY, name text, ssn text);
	INSERT INTO people SELECT g, 'person ' || g, 'ssn-' || g FROM generate_series(1, 50) g;
	CREATE PUBLICATION p FOR TABLE users WHERE (region = 'eu'), people (id, name);
	SELECT kusto_sink.create_sink('pub', 'emu', 'publication:p', 'Pubs', 'Users',
		'{"tables": {"public.people": "People"}, "create_table": true,
		  "ingestion_method": "streaming", "batch_interval_ms": 100, "batch_size": 70}');
});
ok(Sinks::wait_state($node, 'pub', 'running'), 'a sink on a publication with a row filter and a column list runs');

# ---------- the snapshot ----------
ok($node->poll_query_until('postgres', "SELECT snapshot_state = 'done' FROM kusto_sink.status WHERE name = 'pub'"),
	'its snapshot is done');
my $eu = sql(q{SELECT count(*) FROM users WHERE region = 'eu'});
$kusto->wait_count($db, 'Users', $eu);
is_deeply($kusto->query($db, "Users | summarize n = count(), us = countif(region != 'eu'), keys = dcount(id) by _op"),
	[ [ 'snapshot', $eu, 0, $eu ] ], "the snapshot sends the $eu rows the filter passes, each once, no other");
$kusto->wait_count($db, 'People', 50);
my $schema = JSON::PP::decode_json($kusto->mgmt($db, '.show table People schema as json')->[0][1]);
my @people_columns = grep { !/^_/ } map { $_->{Name} } @{ $schema->{OrderedColumns} };
is_deeply(\@people_columns, [qw(id name)], 'create_table makes only the listed columns');
is_deeply($kusto->query($db, "People | summarize n = count(), named = countif(name startswith 'person ') by _op"),
	[ [ 'snapshot', 50, 50 ] ], 'the listed columns of every row arrive');

# ---------- changes: every UPDATE transition under REPLICA IDENTITY FULL ----------
sql(q{
	INSERT INTO users VALUES (1001, 'us', 'new us'), (1002, 'eu', 'new eu');
	UPDATE users SET region = 'us' WHERE id = 1;			-- leaves the filter: delete
	UPDATE users SET region = 'eu' WHERE id = 3;			-- enters it: insert
	UPDATE users SET name = 'renamed' WHERE id = 2;			-- stays: update
	UPDATE users SET name = 'unseen' WHERE id = 6;			-- stays out: nothing
	UPDATE users SET id = 2002 WHERE id = 4;				-- key change inside: delete, update
	DELETE FROM users WHERE id IN (5, 9);					-- one in (5), one out (9)
	INSERT INTO people VALUES (51, 'person 51', 'ssn-51');
});
$kusto->mgmt($db, sql(q{SELECT kusto_sink.latest_state_kql('pub', 'users')}));
my $latest = sql(q{SELECT kusto_sink.latest_state_query('pub', 'users')}) . ' | order by id asc | project id, region, name';
my $source = [ map { [ split /\|/, $_, -1 ] } split /\n/,
	sql(q{SELECT id, region, name FROM users WHERE region = 'eu' ORDER BY id}) ];
is_deeply($kusto->query_until($db, $latest, $source), $source,
	"Kusto's latest state is the filtered source: a row that left the filter arrived as a delete");
is_deeply($kusto->query($db, "Users | where _op != 'snapshot' | order by _lsn asc, _op asc | project id, _op"),
	[ [ 1002, 'insert' ], [ 1, 'delete' ], [ 3, 'insert' ], [ 2, 'update' ], [ 4, 'delete' ], [ 2002, 'update' ],
	  [ 5, 'delete' ] ], 'the changes: each transition as pgoutput sends it, nothing for rows outside');

# ---------- a changed filter and column list take effect where they did in the WAL ----------
sql(q{
	BEGIN;
	INSERT INTO users VALUES (1101, 'us', 'before'), (1102, 'eu', 'before');
	INSERT INTO people VALUES (52, 'before', 'ssn-52');
	ALTER PUBLICATION p SET TABLE users WHERE (region = 'us'), people (id, name, ssn);
	INSERT INTO users VALUES (1103, 'us', 'after'), (1104, 'eu', 'after');
	INSERT INTO people VALUES (53, 'after', 'ssn-53');
	COMMIT;
});
is_deeply($kusto->query_until($db, "Users | where id between (1100 .. 1200) | order by id asc | project id, name, _op",
		[ [ 1102, 'before', 'insert' ], [ 1103, 'after', 'insert' ] ]),
	[ [ 1102, 'before', 'insert' ], [ 1103, 'after', 'insert' ] ], 'the old filter before the ALTER, the new one after, in one transaction');
is_deeply($kusto->query_until($db, "People | where id > 51 | order by id asc | project id, ssn = iff(isempty(ssn), '-', ssn)",
		[ [ 52, '-' ], [ 53, 'ssn-53' ] ]),
	[ [ 52, '-' ], [ 53, 'ssn-53' ] ], 'a column added to the list arrives from its ALTER on (a new layout adds it in Kusto)');

# ---------- the sink option "columns" ----------
sql(q{
	CREATE TABLE contacts (id int PRIMARY KEY, email text, phone text, ssn text);
	INSERT INTO contacts SELECT g, 'user' || (g % 4) || '@example.com', '555-' || g, 'ssn-' || g
	  FROM generate_series(1, 20) g;
	SELECT kusto_sink.create_sink('masks', 'emu', 'contacts', 'Pubs', 'Contacts',
		'{"create_table": true, "ingestion_method": "streaming", "batch_interval_ms": 100,
		  "columns": {"public.contacts": {"exclude": ["ssn"], "mask": {"email": "hash", "phone": "null"}}}}');
});
ok(Sinks::wait_state($node, 'masks', 'running'), 'a sink with include/exclude lists and masks runs');
$kusto->wait_count($db, 'Contacts', 20);
$schema = JSON::PP::decode_json($kusto->mgmt($db, '.show table Contacts schema as json')->[0][1]);
is_deeply([ map { "$_->{Name}:$_->{CslType}" } grep { $_->{Name} !~ /^_/ } @{ $schema->{OrderedColumns} } ],
	[ 'id:int', 'email:string', 'phone:string' ], 'create_table: the excluded column is left out, masked columns are strings');
my $salt = sql(q{SELECT encode(mask_salt, 'hex') FROM kusto_sink.sink_secret WHERE sink = 'masks'});
is(length($salt), 64, 'the sink has a 32-byte secret salt');
sql(q{INSERT INTO contacts VALUES (21, 'user1@example.com', '555-21', 'ssn-21'), (22, NULL, NULL, NULL)});
$kusto->wait_count($db, 'Contacts', 22);
my $rows = $kusto->query($db, 'Contacts | order by id asc | project id, email, phone, _op');
# (Kusto strings have no null: an empty value is '')
for my $r (@$rows) { $_ //= '' for @$r; }
my @want = map {
	my ($id, $null, $email) = split /\|/, $_, -1;
	[ $id, $null eq 't' ? '' : hmac_sha256_hex($email, pack('H*', $salt)), '', $id <= 20 ? 'snapshot' : 'insert' ]
} split /\n/, sql(q{SELECT id, email IS NULL, email FROM contacts ORDER BY id});
is_deeply($rows, \@want, 'emails arrive as the HMAC-SHA-256 keyed with the salt, phones empty, in the snapshot and after');
is($kusto->query($db, 'Contacts | summarize dcount(email)')->[0][0],
	sql(q{SELECT count(DISTINCT coalesce(email, '')) FROM contacts}), 'equal values still give equal hashes');

# a column named in the option is dropped: the sink stops, naming it
sql(q{ALTER TABLE contacts DROP COLUMN phone; INSERT INTO contacts VALUES (23, 'user2@example.com', 'ssn-23')});
ok($node->poll_query_until('postgres', q{SELECT state = 'error' AND last_error ~ 'column "phone" of table public.contacts named in option "columns" does not exist'
	FROM kusto_sink.status WHERE name = 'masks'}), 'a dropped column named in "columns" stops the sink with an error naming it');
is($kusto->count($db, 'Contacts'), 22, 'nothing of the change after the drop is sent meanwhile');
sql(q{SELECT kusto_sink.alter_sink('masks', '{"columns": {"public.contacts": {"exclude": ["ssn"], "mask": {"email": "hash"}}}}')});
$kusto->wait_count($db, 'Contacts', 23);
is_deeply($kusto->query($db, 'Contacts | where id == 23 | project email'), [ [ hmac_sha256_hex('user2@example.com', pack('H*', $salt)) ] ],
	'after alter_sink the row arrives, masked');

# an existing Kusto table (no create_table) with every column: the excluded one stays empty
$kusto->create_sink_table($db, 'Existing', 'id:int, email:string, ssn:string');
sql(q{SELECT kusto_sink.create_sink('existing', 'emu', 'contacts', 'Pubs', 'Existing',
	'{"ingestion_method": "streaming", "batch_interval_ms": 100,
	  "columns": {"public.contacts": {"include": ["id", "email"], "mask": {"email": {"fixed": "hidden"}}}}}')});
$kusto->wait_count($db, 'Existing', 23);
is_deeply($kusto->query($db, "Existing | summarize n = count(), hidden = countif(email == 'hidden'), ssn = countif(isnotempty(ssn))"),
	[ [ 23, 23, 0 ] ], 'into an existing Kusto table: only the included columns arrive, masked');
$node->safe_psql('postgres', q{SELECT kusto_sink.drop_sink('existing')});

$node->safe_psql('postgres', q{SELECT kusto_sink.drop_sink('masks')});
$node->safe_psql('postgres', q{SELECT kusto_sink.drop_sink('pub')});
$node->stop;
done_testing();
