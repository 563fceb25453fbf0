# docs/reference.md is true to the installed catalog and to the library's
# option tables: every API function (with its arguments in order), every
# column of every view and catalog table of schema kusto_sink, every
# kusto_sink.* GUC, every sink option, connection argument, connection option
# and auth method (with what it needs, takes and its secret file option) is
# documented there, and nothing documented there is missing from them.  The
# checker is also run on copies of the file with one row taken out or one
# name added, so that it is known to fail when the file is wrong.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $reference_file = "$ENV{KS_ROOT}/docs/reference.md";
my $reference = slurp_file($reference_file);

my $node = PostgreSQL::Test::Cluster->new('reference');
$node->init(allows_streaming => 'logical');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION kusto_sink');
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'kusto_sink'"),
	'1.1', 'the catalog is the newest version');

sub rows
{
	my ($sql) = @_;
	return map { [ split /\|/, $_, -1 ] } grep { $_ ne '' } split /\n/,
	  $node->safe_psql('postgres', $sql);
}

# The argument names of a function's argument list, in order ("OUT ok
# boolean" is "ok"; defaults, written "DEFAULT x" or "= x", are ignored).
sub argument_names
{
	my ($list) = @_;
	$list =~ s/`//g;
	return join(', ',
		map { s/^\s*(?:IN|OUT|INOUT|VARIADIC)\s+//; /^\s*(\w+)/ ? $1 : () }
		  split /,\s*/, $list);
}

# What the catalog and the library have, as a set of "kind: item" strings.
my %catalog;
# API functions: not internal (_...) nor the gate's implementations (impl_...)
for my $r (rows(q{
	SELECT p.proname, pg_get_function_arguments(p.oid)
	FROM pg_proc p
	WHERE p.pronamespace = 'kusto_sink'::regnamespace
	  AND p.proname !~ '^(_|impl_)'}))
{
	$catalog{"function: $r->[0]"} = 1;
	$catalog{"arguments of $r->[0]: " . argument_names($r->[1])} = 1;
}
for my $r (rows(q{
	SELECT CASE c.relkind WHEN 'v' THEN 'view' ELSE 'table' END, c.relname, a.attname
	FROM pg_class c
	JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	WHERE c.relnamespace = 'kusto_sink'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')}))
{
	$catalog{"$r->[0] kusto_sink.$r->[1]"} = 1;
	$catalog{"column of kusto_sink.$r->[1]: $r->[2]"} = 1;
}
$catalog{"parameter: $_->[0]"} = 1
  for rows(q{SELECT name FROM pg_settings WHERE name LIKE 'kusto_sink.%'});
for my $r (rows(q{SELECT kind, name FROM kusto_sink._option_names()}))
{
	$catalog{"$r->[0]: $r->[1]"} = 1;
}
# the connection arguments are those of create_connection
my ($create_connection) = rows(q{
	SELECT pg_get_function_arguments('kusto_sink.create_connection'::regproc)});
$catalog{"connection_argument: $_"} = 1
  for split /, /, argument_names($create_connection->[0]);

# The sanity of the catalog side: each kind is there.
for my $kind ('function', 'view', 'table', 'parameter', 'sink_option', 'connection_option',
	'auth_method', 'auth_required', 'auth_optional', 'auth_secret_file', 'connection_argument')
{
	ok((grep { /^\Q$kind\E[: ]/ } keys %catalog), "the catalog lists some of kind $kind");
}

# What docs/reference.md documents, as the same strings.
sub documented
{
	my ($text) = @_;
	my %doc;
	my ($section, $subsection) = ('', '');
	my $header = 1;
	for my $line (split /\n/, $text)
	{
		if ($line =~ /^## (.*)/)
		{
			($section, $subsection) = ($1, '');
			next;
		}
		if ($line =~ /^### (.*)/)
		{
			$subsection = $1;
			next;
		}
		if ($line !~ /^\|/)
		{
			$header = 1;    # the next table starts with its header row
			next;
		}
		next if $line =~ /^\|[-|\s]*$/;
		if ($header)
		{
			$header = 0;
			next;
		}
		my (undef, @cells) = split /\s*\|\s*/, $line;
		my @names = $cells[0] =~ /`([^`]+)`/g;
		my @in = map { [ $_ =~ /`([^`]+)`/g ] } @cells;
		if ($section eq 'Functions')
		{
			$doc{"function: $_"} = 1 for @names;
			$doc{"arguments of $names[0]: " . argument_names($cells[1])} = 1;
		}
		elsif (($section eq 'Views' || $section eq 'Catalog tables')
			&& $subsection =~ /^`(kusto_sink\.\w+)`$/)
		{
			my $rel = $1;
			$doc{($section eq 'Views' ? 'view' : 'table') . " $rel"} = 1;
			$doc{"column of $rel: $_"} = 1 for @names;
		}
		elsif ($section eq 'Sink options')
		{
			$doc{"sink_option: $_"} = 1 for @names;
		}
		elsif ($section eq 'Connection options')
		{
			$doc{"connection_option: $_"} = 1 for @names;
		}
		elsif ($section eq 'Connection arguments')
		{
			$doc{"connection_argument: $_"} = 1 for @names;
		}
		elsif ($section eq 'Configuration parameters')
		{
			$doc{"parameter: $_"} = 1 for @names;
		}
		elsif ($section eq 'Auth methods')
		{
			my $method = $names[0];
			$doc{"auth_method: $method"} = 1;
			$doc{"auth_required: $method.$_"} = 1 for @{ $in[1] };
			$doc{"auth_optional: $method.$_"} = 1 for @{ $in[2] };
			# the first name of the cell: "`app_key_file` (instead of `app_key`)"
			$doc{"auth_secret_file: $method.$in[3][0]"} = 1 if @{ $in[3] };
		}
	}
	return %doc;
}

# The differences between the catalog and a text, as lines.
sub differences
{
	my ($text) = @_;
	my %doc = documented($text);
	my @missing = sort grep { !$doc{$_} } keys %catalog;
	my @extra = sort grep { !$catalog{$_} } keys %doc;
	return ((map { "not in docs/reference.md: $_" } @missing),
		(map { "documented, not in the catalog: $_" } @extra));
}

my @diff = differences($reference);
is(join("\n", @diff), '', 'docs/reference.md documents exactly what the catalog and the library have')
  or diag("catalog: " . scalar(keys %catalog) . " items");

# The checker fails on a wrong file: a row taken out of each kind of table,
# and a row the catalog lacks.
sub drop_row
{
	my ($first_cells) = @_;
	return sub { $_[0] =~ s/^\| \Q$first_cells\E \|.*\n//m };
}
my @mutations = (
	[ drop_row('`kusto_sink.batch_size`'), 'not in docs/reference.md: parameter: kusto_sink.batch_size' ],
	[ drop_row('`flush_sink`'), 'not in docs/reference.md: function: flush_sink' ],
	[ drop_row('`wal_status`'), 'not in docs/reference.md: column of kusto_sink.status: wal_status' ],
	[ drop_row('`retry_requested`'),
		'not in docs/reference.md: column of kusto_sink.dead_letter: retry_requested' ],
	[ drop_row('`on_error`'), 'not in docs/reference.md: sink_option: on_error' ],
	[ drop_row('`ingest_url`'), 'not in docs/reference.md: connection_option: ingest_url' ],
	[ drop_row('`managed_identity_id` | managed_identity'),
		'not in docs/reference.md: connection_argument: managed_identity_id' ],
	[ drop_row('`token` | `token`'), 'not in docs/reference.md: auth_method: token' ],
	[ sub { $_[0] =~ s/^(\| `kusto_sink\.database` \|)/| `kusto_sink.no_such_parameter` | 1 | reload | none |\n$1/m },
		'documented, not in the catalog: parameter: kusto_sink.no_such_parameter' ],
	[ sub { $_[0] =~ s/`name text, if_exists boolean = false` \| void \| drops the connection/`name text` | void | drops the connection/ },
		'documented, not in the catalog: arguments of drop_connection: name' ],
);
for my $m (@mutations)
{
	my ($mutate, $expected) = @$m;
	my $text = $reference;
	ok($mutate->($text), "the mutation for \"$expected\" applies");
	my @found = differences($text);
	ok((grep { $_ eq $expected } @found), "a wrong file is found out: $expected")
	  or diag(join("\n", @found));
}

$node->stop;
done_testing();
