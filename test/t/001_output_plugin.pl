# The kusto_sink output plugin through pg_recvlogical (the streaming
# replication protocol): JSON lines parse, CSV records have the table's
# columns plus the metadata columns, a transaction larger than
# logical_decoding_work_mem decodes completely, and a consumed position is
# not decoded again.
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('plugin');
$node->init(allows_streaming => 'logical');
$node->append_conf('postgresql.conf', "logical_decoding_work_mem = '64kB'\n");
$node->start;

$node->safe_psql('postgres', q{
	CREATE TABLE orders (id bigserial PRIMARY KEY, customer text, amount numeric(12,2),
		created_at timestamptz, payload jsonb, flag bool);
});
$node->command_ok(
	[ 'pg_recvlogical', '-d', $node->connstr('postgres'), '--slot', 'recv',
	  '--create-slot', '--plugin', 'kusto_sink' ],
	'pg_recvlogical creates a kusto_sink slot');
$node->safe_psql('postgres',
	"SELECT pg_create_logical_replication_slot('recv_csv', 'kusto_sink')");

# a transaction far larger than logical_decoding_work_mem (spills to disk)
my $rows = 20000;
$node->safe_psql('postgres', qq{
	INSERT INTO orders (customer, amount, created_at, payload, flag)
	SELECT 'customer "' || g || E'",\n', g * 1.25, '2024-01-01'::timestamptz + g * interval '1 second',
		   jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g)), g % 2 = 0
	FROM generate_series(1, $rows) g;
	UPDATE orders SET flag = NOT flag WHERE id <= 10;
	DELETE FROM orders WHERE id <= 5;
});
my $endpos = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');

# JSON: every line parses, with the right operation and values
my $json = $node->pg_recvlogical_upto('postgres', 'recv', $endpos, $PostgreSQL::Test::Utils::timeout_default,
	'format' => 'json');
my @lines = grep { length } split /\n/, $json;
is(scalar(@lines), $rows + 10 + 5, 'one JSON line per changed row');
my %ops;
my $bad = 0;
for my $line (@lines)
{
	my $rec = eval { decode_json($line) };
	if (!$rec) { $bad++; next; }
	$ops{ $rec->{_op} }++;
}
is($bad, 0, 'every JSON line parses');
is_deeply(\%ops, { insert => $rows, update => 10, delete => 5 }, 'operations counted');
my $first = decode_json($lines[0]);
is($first->{customer}, qq{customer "1",\n}, 'text with quotes, comma and newline round-trips');
is($first->{amount}, '1.25', 'numeric is exact');
is($first->{created_at}, '2024-01-01T00:00:01Z', 'timestamptz in ISO 8601 UTC');
is_deeply($first->{payload}, { g => 1, tags => [ 'a', 1 ] }, 'jsonb embedded as JSON');
ok($first->{_lsn} > 0 && $first->{_commit_lsn} >= $first->{_lsn}, 'change and commit LSNs');

# CSV of the same WAL, from a second slot
my $csv = $node->pg_recvlogical_upto('postgres', 'recv_csv', $endpos, $PostgreSQL::Test::Utils::timeout_default,
	'format' => 'csv');

# RFC 4180 split: returns the records as array refs of fields
sub parse_csv
{
	my ($text) = @_;
	my (@records, @fields);
	my $field = '';
	my $i = 0;
	my $n = length $text;
	while ($i <= $n)
	{
		my $c = $i < $n ? substr($text, $i, 1) : "\n";
		if ($c eq '"' && $field eq '')
		{
			my $j = $i + 1;
			my $val = '';
			while ($j < $n)
			{
				my $d = substr($text, $j, 1);
				if ($d eq '"')
				{
					if ($j + 1 < $n && substr($text, $j + 1, 1) eq '"') { $val .= '"'; $j += 2; next; }
					last;
				}
				$val .= $d;
				$j++;
			}
			$field = "\0Q" . $val;
			$i = $j + 1;
			next;
		}
		if ($c eq ',' || $c eq "\n")
		{
			$field =~ s/^\0Q//;
			push @fields, $field;
			$field = '';
			if ($c eq "\n") { push @records, [@fields]; @fields = (); }
			$i++;
			next;
		}
		$field .= $c;
		$i++;
	}
	return @records;
}

$csv =~ s/\n+\z//;
my @records = parse_csv($csv);
is(scalar(@records), $rows + 15, 'one CSV record per changed row');
my $ncols = 6 + 8;    # table columns + metadata columns
is(scalar(grep { scalar(@$_) != $ncols } @records), 0, "every CSV record has $ncols fields");
is($records[0][1], qq{customer "1",\n}, 'CSV field with quotes, comma and newline round-trips');
is($records[0][6], 'insert', 'operation follows the table columns');

# what was consumed is not decoded again
$node->safe_psql('postgres', "SELECT count(*) FROM pg_logical_slot_get_changes('recv', NULL, NULL)");
$node->safe_psql('postgres', "INSERT INTO orders (customer) VALUES ('late')");
my $late = $node->safe_psql('postgres',
	"SELECT string_agg(data, E'\\n') FROM pg_logical_slot_get_changes('recv', NULL, NULL, 'metadata', 'op')");
like($late, qr/^\{"id":\d+,"customer":"late",.*"_op":"insert"\}$/, 'only the new change is decoded');

$node->stop;
done_testing();
