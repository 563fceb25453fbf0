# The proof that publications mean for a sink what they mean for a
# subscription: for the same WAL, a kusto_sink slot and a pgoutput slot on
# the same publications give the same changes, with the same rows and the
# same columns.  The workload crosses row filters under REPLICA IDENTITY
# DEFAULT and FULL (every UPDATE transition), column lists, several
# publications on one table (filters ORed, one without a filter), partitions
# with and without publish_via_partition_root, TOASTed values, TRUNCATE (of
# partitioned tables too, with and without publish_via_partition_root),
# generated columns (and on 18 publish_generated_columns and virtual ones),
# and publications altered in the middle of the stream and of a transaction.
#
# pgoutput's binary messages (protocol 1) are parsed here and brought to
# kusto_sink's record model, which the README documents: an UPDATE whose old
# row is in the WAL and whose key changed is a delete of the old key and an
# update; an old row under REPLICA IDENTITY DEFAULT carries its key columns
# only; an unchanged TOASTed value ('u') is taken from the old row when it is
# there, else left out; a TRUNCATE is one record per table; a partition
# published via its root is named as the partition (the test maps it).
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('pgoutput');
$node->init(allows_streaming => 'logical');
$node->start;
sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{
	CREATE TABLE k_def (id int PRIMARY KEY, v text, big text);
	CREATE TABLE k_full (id int PRIMARY KEY, region text, v text, big text);
	ALTER TABLE k_full REPLICA IDENTITY FULL;
	CREATE TABLE people (id int PRIMARY KEY, name text, ssn text, note text);
	CREATE TABLE multi (id int PRIMARY KEY, v int);
	ALTER TABLE multi REPLICA IDENTITY FULL;
	CREATE TABLE parted (id int PRIMARY KEY, a text, b text) PARTITION BY RANGE (id);
	CREATE TABLE part1 PARTITION OF parted FOR VALUES FROM (0) TO (100);
	CREATE TABLE part2 (b text, a text, id int NOT NULL);
	ALTER TABLE parted ATTACH PARTITION part2 FOR VALUES FROM (100) TO (200);
	CREATE TABLE leafy (id int PRIMARY KEY, v text) PARTITION BY LIST (id);
	CREATE TABLE leafy1 PARTITION OF leafy FOR VALUES IN (1, 2, 3, 4);
	CREATE TABLE leafy2 PARTITION OF leafy FOR VALUES IN (5, 6, 7, 8);

	CREATE PUBLICATION p1 FOR TABLE k_def WHERE (id > 10), k_full WHERE (region = 'eu'),
		people (id, name), multi WHERE (v < 10), leafy1 WHERE (id % 2 = 0), leafy2;
	CREATE PUBLICATION p2 FOR TABLE multi WHERE (v > 100), people (id, name) WITH (publish = 'insert, update');
	CREATE PUBLICATION p3 FOR TABLE parted (id, a) WHERE (id % 3 <> 0) WITH (publish_via_partition_root);

	CREATE TABLE gen (id int PRIMARY KEY, v int, g int GENERATED ALWAYS AS (v * 2) STORED);
	CREATE TABLE gen2 (id int PRIMARY KEY, v int, g int GENERATED ALWAYS AS (v * 3) STORED);
	CREATE TABLE troot (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
	CREATE TABLE troot1 PARTITION OF troot FOR VALUES FROM (0) TO (10);
	CREATE TABLE troot2 PARTITION OF troot FOR VALUES FROM (10) TO (20);
	CREATE PUBLICATION p4 FOR TABLE gen, troot;
});
# on 18: a stored generated column published with publish_generated_columns,
# and a virtual one (never published)
my $v18 = sql('SHOW server_version_num') >= 180000;
sql($v18 ? q{ALTER TABLE gen2 ADD COLUMN vg int GENERATED ALWAYS AS (v + 1) VIRTUAL;
	CREATE PUBLICATION p5 FOR TABLE gen2 WITH (publish_generated_columns = stored)}
	: q{CREATE PUBLICATION p5 FOR TABLE gen2});
sql(q{
	SELECT 'po' FROM pg_create_logical_replication_slot('po', 'pgoutput');
	SELECT 'ks' FROM pg_create_logical_replication_slot('ks', 'kusto_sink');
});

# the workload
sql(q{
	INSERT INTO k_def VALUES (5, 'a', NULL), (15, 'b', NULL), (16, 'c', NULL);
	UPDATE k_def SET v = 'a2' WHERE id = 5;
	UPDATE k_def SET v = 'b2' WHERE id = 15;
	UPDATE k_def SET id = 25 WHERE id = 5;
	UPDATE k_def SET id = 7 WHERE id = 15;
	UPDATE k_def SET id = 30 WHERE id = 25;
	UPDATE k_def SET big = (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 400) g) WHERE id = 16;
	UPDATE k_def SET v = 'c2' WHERE id = 16;
	UPDATE k_def SET id = 17 WHERE id = 16;
	DELETE FROM k_def WHERE id IN (7, 30);

	INSERT INTO k_full VALUES (1, 'eu', 'a', NULL), (2, 'us', 'b', NULL), (3, 'eu', 'c', NULL);
	UPDATE k_full SET big = (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 400) g) WHERE id IN (2, 3);
	UPDATE k_full SET v = 'a2' WHERE id = 1;
	UPDATE k_full SET v = 'b2' WHERE id = 2;
	UPDATE k_full SET region = 'eu' WHERE id = 2;
	UPDATE k_full SET region = 'us' WHERE id = 1;
	UPDATE k_full SET v = 'c2' WHERE id = 3;
	UPDATE k_full SET id = 4 WHERE id = 2;
	DELETE FROM k_full WHERE id IN (1, 4);

	INSERT INTO people VALUES (1, 'ann', '111', 'x'), (2, 'bob', '222', 'y');
	UPDATE people SET ssn = '333', name = 'anne' WHERE id = 1;
	UPDATE people SET id = 3 WHERE id = 2;
	DELETE FROM people WHERE id = 1;

	INSERT INTO multi SELECT g, g FROM generate_series(1, 5) g;
	INSERT INTO multi VALUES (50, 50), (150, 150), (250, 250);
	UPDATE multi SET v = 200 WHERE id = 1;
	UPDATE multi SET v = 60 WHERE id = 150;
	DELETE FROM multi WHERE id IN (2, 250);

	INSERT INTO parted (id, a, b) SELECT g, 'a' || g, 'b' || g FROM generate_series(1, 8) g;
	INSERT INTO parted (id, a, b) SELECT g, 'a' || g, 'b' || g FROM generate_series(101, 106) g;
	UPDATE parted SET a = 'a-' || id WHERE id IN (1, 3, 102);
	DELETE FROM parted WHERE id IN (2, 104);

	INSERT INTO leafy SELECT g, 'v' || g FROM generate_series(1, 8) g;
	UPDATE leafy SET v = v || '!';
	TRUNCATE k_def, multi;
});
# publications altered mid-stream, and in the middle of a transaction
sql(q{
	BEGIN;
	ALTER PUBLICATION p1 SET TABLE k_def WHERE (id < 100), k_full WHERE (region = 'us'),
		people (id, name, note), multi, leafy1, leafy2 WHERE (id > 6);
	ALTER PUBLICATION p2 SET TABLE multi WHERE (v > 100), people (id, name, note);
	COMMIT;
	INSERT INTO k_def VALUES (1, 'x', NULL), (101, 'y', NULL);
	INSERT INTO people VALUES (10, 'cat', '444', 'z');
	INSERT INTO leafy SELECT g, 'w' || g FROM generate_series(1, 8) g ON CONFLICT (id) DO UPDATE SET v = excluded.v;
	BEGIN;
	INSERT INTO k_full VALUES (10, 'us', 'before', NULL), (11, 'eu', 'before', NULL);
	UPDATE k_full SET region = 'eu' WHERE id = 3;
	ALTER PUBLICATION p1 SET TABLE k_def, k_full WHERE (region <> 'us'), people (id, name), multi WHERE (v % 2 = 0);
	ALTER PUBLICATION p2 SET TABLE multi WHERE (v > 100), people (id, name);
	INSERT INTO k_full VALUES (12, 'us', 'after', NULL), (13, 'eu', 'after', NULL);
	UPDATE k_full SET region = 'us' WHERE id = 13;
	INSERT INTO multi SELECT g, g FROM generate_series(300, 305) g;
	INSERT INTO people VALUES (11, 'dee', '555', 'w');
	COMMIT;
	ALTER PUBLICATION p3 SET TABLE parted WHERE (id > 4);
	UPDATE parted SET a = 'z' || id WHERE id IN (4, 5, 105);
	DELETE FROM parted WHERE id IN (3, 6);

	INSERT INTO gen (id, v) SELECT g, g FROM generate_series(1, 4) g;
	UPDATE gen SET v = 10 WHERE id = 1;
	UPDATE gen SET id = 5 WHERE id = 2;
	DELETE FROM gen WHERE id = 3;
	INSERT INTO gen2 (id, v) SELECT g, g FROM generate_series(1, 3) g;
	UPDATE gen2 SET v = 7 WHERE id = 1;
	DELETE FROM gen2 WHERE id = 2;
	INSERT INTO troot SELECT g, 'v' || g FROM generate_series(1, 15) g;
	TRUNCATE troot;
	TRUNCATE parted;
});

my $pubs = 'p1,p2,p3,p4,p5';

# the primary key of every table, by name (the key the records compare)
my %keys;
for (split /\n/, sql(q{SELECT c.relname, a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
	JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey) WHERE i.indisprimary}))
{
	my ($t, $c) = split /\|/;
	push @{ $keys{$t} }, $c;
}
$keys{part2} = [ 'id' ];	# its key is its root's

# ---------- pgoutput ----------
my (%rels, @po);
my $nchanges = 0;
for my $hex (split /\n/, sql(qq{SELECT encode(data, 'hex') FROM pg_logical_slot_peek_binary_changes('po', NULL, NULL,
	'proto_version', '1', 'publication_names', '$pubs')}))
{
	my $m = pack('H*', $hex);
	my $pos = 0;
	my $take = sub { my ($n) = @_; my $s = substr($m, $pos, $n); $pos += $n; return $s; };
	my $int = sub { my ($n) = @_; my $s = $take->($n); return $n == 1 ? unpack('C', $s) : $n == 2 ? unpack('n', $s) : unpack('N', $s); };
	my $str = sub { my $end = index($m, "\0", $pos); my $s = substr($m, $pos, $end - $pos); $pos = $end + 1; return $s; };
	my $tuple = sub {
		my ($rel) = @_;
		my $n = $int->(2);
		my %row;
		for my $i (0 .. $n - 1)
		{
			my $kind = $take->(1);
			my $name = $rels{$rel}{cols}[$i];
			if ($kind eq 'n') { $row{$name} = undef; }
			elsif ($kind eq 'u') { $row{$name} = \'unchanged'; }
			elsif ($kind eq 't') { my $len = $int->(4); $row{$name} = $take->($len); }
			else { die "tuple kind $kind"; }
		}
		return \%row;
	};
	my $type = $take->(1);
	if ($type eq 'R')
	{
		my $relid = $int->(4);
		my $nsp = $str->();
		my $name = $str->();
		$int->(1);
		my $natts = $int->(2);
		my @cols;
		for (1 .. $natts) { $int->(1); push @cols, $str->(); $int->(4); $int->(4); }
		$rels{$relid} = { name => $name, cols => \@cols };
	}
	elsif ($type eq 'I')
	{
		my $rel = $int->(4);
		$take->(1);
		push @po, [ $rels{$rel}{name}, 'insert', undef, $tuple->($rel) ];
	}
	elsif ($type eq 'U')
	{
		my $rel = $int->(4);
		my $kind = $take->(1);
		my $old;
		if ($kind eq 'K' || $kind eq 'O')
		{
			$old = [ $kind, $tuple->($rel) ];
			$take->(1);
		}
		push @po, [ $rels{$rel}{name}, 'update', $old, $tuple->($rel) ];
	}
	elsif ($type eq 'D')
	{
		my $rel = $int->(4);
		my $kind = $take->(1);
		push @po, [ $rels{$rel}{name}, 'delete', [ $kind, $tuple->($rel) ], undef ];
	}
	elsif ($type eq 'T')
	{
		my $n = $int->(4);
		$int->(1);
		push @po, [ $rels{ $int->(4) }{name}, 'truncate', undef, undef ] for 1 .. $n;
	}
}

# a row as text: its columns sorted, unchanged TOASTed values left out
sub row_text
{
	my ($row) = @_;
	return join(',', map { "$_=" . ($row->{$_} // 'NULL') } grep { !ref $row->{$_} } sort keys %$row);
}

# pgoutput's changes in kusto_sink's record model
my @want;
for (@po)
{
	my ($table, $op, $old, $new) = @$_;
	my ($oldkind, $oldrow) = $old ? @$old : (undef, undef);
	# an old key (K) has its key columns only; the rest are nulls
	if (defined $oldkind && $oldkind eq 'K')
	{
		my %key = map { $_ => 1 } @{ $keys{$table} };
		$oldrow = { map { $_ => $oldrow->{$_} } grep { $key{$_} } keys %$oldrow };
	}
	if ($new && $oldrow)
	{
		# unchanged TOASTed values from the old row, where it has them
		for (keys %$new) { $new->{$_} = $oldrow->{$_} if ref $new->{$_} && exists $oldrow->{$_} && !ref $oldrow->{$_}; }
	}
	if ($op eq 'update' && $oldrow)
	{
		my $changed = grep { ($oldrow->{$_} // '') ne ($new->{$_} // '') } @{ $keys{$table} };
		push @want, "$table delete " . row_text($oldrow) if $changed;
	}
	push @want, "$table $op " . row_text($op eq 'delete' ? $oldrow : $new // {});
}

# ---------- kusto_sink ----------
my %via_root = (part1 => 'parted', part2 => 'parted');
my @got;
for my $line (split /\n/, sql(qq{SELECT data FROM pg_logical_slot_peek_changes('ks', NULL, NULL,
	'publication', '$pubs', 'metadata', 'op,table')}))
{
	my $r = decode_json($line);
	my $table = delete $r->{_table};
	my $op = delete $r->{_op};
	$table = $via_root{$table} // $table;
	push @got, "$table $op " . row_text($op eq 'truncate' ? {} : $r);
}

note(join("\n", 'pgoutput, in the record model:', @want));
cmp_ok(scalar @want, '>', 60, 'pgoutput sends a workload of ' . scalar(@want) . ' changes');
is_deeply(\@got, \@want, 'kusto_sink sends exactly the changes, rows and columns that pgoutput sends for the same WAL');
# what the comparison holds: rows a filter keeps out, columns a list leaves out
ok(!grep({ /\bssn=/ } @got), 'no change carries a column outside the column list');
ok(!grep({ /^gen .*\bg=/ } @got) && grep({ /^gen insert id=4,v=4$/ } @got),
	'a generated column is not sent (the other columns are)');
ok(!grep({ /\bvg=/ } @got) && ($v18 ? grep({ /^gen2 insert g=3,id=1,v=1$/ } @got) : grep({ /^gen2 insert id=1,v=1$/ } @got)),
	$v18 ? 'publish_generated_columns = stored sends a stored generated column, never a virtual one' : 'nor the other');
is(join(' ', map { /^(\S+) truncate/ ? $1 : () } @got), 'k_def multi troot1 troot2 parted',
	'TRUNCATE of a partitioned table: its partitions without publish_via_partition_root, the root alone with it');
my ($altered) = grep { $got[$_] =~ /^k_def insert .*\bid=1,/ } 0 .. $#got;
ok($altered && !grep({ /^k_full (insert|update) .*region=us/ } @got[0 .. $altered]),
	'no change of a row outside the row filter before the ALTER');

$node->stop;
done_testing();
