# docs/operations.md's Troubleshooting section is true to the code: every
# message a user can see is a row there, and every message a row names is
# still in the code.  The messages are
#   - the formats of errmsg() and errmsg_plural() in src/**/*.c (not the
#     internal elog()s, nor src/kusto/cli, a development tool);
#   - the ingest core's error texts: the formats of kusto_error_set(), which
#     reach kusto_sink.status.last_error, test_connection's detail and the
#     dead letters;
#   - the worker's texts for last_error and the messages it wraps: formats
#     written by snprintf() into a buffer named *message* or *notice*, by
#     psprintf() into a variable of such a name, and the literals given to
#     ks_slot_set_error();
#   - the RAISE (EXCEPTION, WARNING, NOTICE, INFO, LOG) formats of the
#     installed catalog's PL/pgSQL functions: those of kusto_sink--1.0--1.1.sql
#     and those of kusto_sink--1.0.sql it did not replace.
# A format without a letter outside its placeholders ("%s", "%s%s") is no
# message.  Placeholders (%s, %d, %X/%X, ... in C, % in RAISE; <name> or «…»
# in the document) are one placeholder each, a run of them one; C's \" and
# RAISE's '' are the characters.  In the document a message is a `code` span
# of a row's first cell; a span followed by "(PostgreSQL's)", "(Kusto's)" or
# "(libcurl's)" quotes them and is not checked against the code.  A code
# format matches a span whose text it produces (its placeholders standing
# for any text but a double quote), whole or after the prefix 'kusto_sink sink "<name>": ' or
# 'kusto_sink: ' the worker puts before its messages; the two frames
# themselves must be documented as written.  Where the code fixes a
# message's SQLSTATE (an errmsg's ereport: its errcode(ERRCODE_...), else its
# level's default; a RAISE: its ERRCODE, else P0001, or 01000 or 00000 for
# a WARNING or NOTICE) a row naming it in a table with a SQLSTATE column
# gives that SQLSTATE.  The checker is also run on
# copies of the document with a row taken out or a message added, and on a
# copy of the code's messages with one added, so that it is known to fail.
#
# And docs/security.md's word on PUBLIC: the functions of schema kusto_sink
# that PUBLIC may execute are exactly the four it names.
use strict;
use warnings;
use utf8;
use Encode qw(decode);
use File::Find;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = $ENV{KS_ROOT};
my $doc_file = "$root/docs/operations.md";
my $doc = decode('UTF-8', slurp_file($doc_file));

my $PH = '<...>';    # a placeholder, as the differences show it

# ---------- the code's messages ----------

# C: a string literal's text
sub c_unescape
{
	my ($s) = @_;
	$s =~ s/\\(["'\\?])/$1/g;
	$s =~ s/\\[ntr]/ /g;
	return $s;
}

# the literal strings of a C expression joined (a macro of the file that
# defines a literal is its text, another one a placeholder, \x02), or undef
# when it is not made of literals
my %macros;
sub c_literal
{
	my ($expr) = @_;
	return undef unless $expr =~ /^\s*(?:[A-Z_][A-Z0-9_]*\s*)?"/;
	my $out = '';
	while ($expr =~ /\G\s*(?:"((?:[^"\\]|\\.)*)"|([A-Z_][A-Z0-9_]*))/gc)
	{
		$out .= defined $1 ? c_unescape($1) : $macros{$2} // "\x02";
	}
	my $end = pos($expr) // 0;
	return undef if substr($expr, $end) =~ /\S/;
	return $out;
}

# splits an expression at the first (or every) occurrence of a character
# outside strings and brackets
sub split_top
{
	my ($s, $sep, $first) = @_;
	my @out = ('');
	my $depth = 0;
	while ($s =~ /\G("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[(\[{]|[)\]}]|[^"'(\[{)\]}])/gcs)
	{
		my $t = $1;
		if ($t =~ /^[(\[{]$/) { $depth++; }
		elsif ($t =~ /^[)\]}]$/) { $depth--; }
		if ($depth == 0 && $t eq $sep && !($first && @out > 1))
		{
			push @out, '';
			next;
		}
		$out[-1] .= $t;
	}
	return @out;
}

# the texts an expression can have: a literal, or each branch of (nested)
# "c ? a : b", a branch that is no literal a placeholder (\x02)
sub c_alternatives
{
	my ($expr) = @_;
	my $lit = c_literal($expr);
	return ($lit) if defined $lit;
	my @q = split_top($expr, '?', 1);
	my @b = @q == 2 ? split_top($q[1], ':', 1) : ();
	return ("\x02") unless @b == 2;
	return (c_alternatives($b[0]), c_alternatives($b[1]));
}

# The variants of a format with its arguments: each %s whose argument is
# literal (or a ternary of literals) is that text, every other conversion a
# placeholder (\x02); %% is %.
sub c_variants
{
	my ($format, @args) = @_;
	my @variants = ('');
	my $arg = 0;
	for my $piece (split /(%%|%[-+ #0]*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|z|j|t|L)?[diouxXeEfgGcsp])/, $format)
	{
		my @alts;
		if ($piece eq '%%') { @alts = ('%'); }
		elsif ($piece =~ /^%/)
		{
			$arg++ for ($piece =~ /\*/g);
			@alts = $piece =~ /s$/ ? c_alternatives($args[ $arg ] // '') : ("\x02");
			$arg++;
		}
		else { @alts = ($piece); }
		@variants = map { my $v = $_; map { $v . $_ } @alts } @variants;
		@variants = @variants[ 0 .. 63 ] if @variants > 64;
	}
	return @variants;
}

# the arguments of the call whose "(" is at $pos in $text (in list context
# with call_end, the position after its ")")
my $call_end;
sub call_args
{
	my ($text, $pos) = @_;
	my $depth = 0;
	my $start = $pos + 1;
	pos($text) = $pos;
	while ($text =~ /\G("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[(\[{]|[)\]}]|[^"'(\[{)\]}]+)/gcs)
	{
		my $t = $1;
		if ($t =~ /^[(\[{]$/) { $depth++; }
		elsif ($t =~ /^[)\]}]$/)
		{
			$depth--;
			next unless $depth == 0;
			$call_end = pos($text);
			return split_top(substr($text, $start, pos($text) - 1 - $start), ',');
		}
	}
	return ();
}

# A message: where (file:line, or the function) and format (placeholders
# \x02) -> { where, format, variants, sqlstate (when the code fixes one) }
sub add_message
{
	my ($out, $where, $format, $sqlstate, @variants) = @_;
	my $m = $out->{"$where\t$format"} //= { where => $where, format => $format, variants => {} };
	$m->{sqlstate} = $sqlstate if defined $sqlstate;
	$m->{variants}{$_} = 1 for @variants;
}

# SQLSTATEs by errcodes.h's name (ERRCODE_INVALID_PARAMETER_VALUE) and by
# PL/pgSQL's condition name (invalid_parameter_value)
my %sqlstate;
sub read_sqlstates
{
	my ($pg_config) = @_;
	my $dir = `$pg_config --includedir-server`;
	chomp $dir;
	for my $line (split /\n/, slurp_file("$dir/utils/errcodes.h"))
	{
		next unless $line =~ /^#define (ERRCODE_(\w+))\s+MAKE_SQLSTATE\((.*)\)/;
		my ($macro, $name, $chars) = ($1, lc $2, $3);
		my $code = join('', $chars =~ /'(.)'/g);
		$sqlstate{$macro} = $code;
		$sqlstate{$name} //= $code;
	}
}

# The SQLSTATE of the ereport that spans [$start, $end) of a C text: its
# errcode(ERRCODE_...), else its level's default; undef when the code picks
# it at run time
sub ereport_sqlstate
{
	my ($level, $body) = @_;
	my @codes = $body =~ /\berrcode(?:_for_\w+)?\s*\(([^()]*)\)/g;
	return undef if @codes > 1 || $body =~ /\berrcode_for_/;
	if (@codes == 1)
	{
		return $codes[0] =~ /^\s*(ERRCODE_\w+)\s*$/ ? $sqlstate{$1} : undef;
	}
	return { ERROR => 'XX000', FATAL => 'XX000', WARNING => '01000', NOTICE => '00000', LOG => '00000',
		INFO => '00000', DEBUG1 => '00000' }->{$level};
}

sub c_messages
{
	my %out;
	my @files;
	find(sub { push @files, $File::Find::name if /\.c$/ }, "$root/src");
	for my $file (sort grep { !m{/src/kusto/cli/} } @files)
	{
		my $text = slurp_file($file);
		# comments out, keeping the lines
		$text =~ s{/\*.*?\*/}{my $c = $&; $c =~ tr/\n//cd; $c}gse;
		$text =~ s{//[^\n]*}{}g;
		(my $short = $file) =~ s{^\Q$root\E/}{};
		%macros = ();
		$macros{$1} = c_unescape($2) while $text =~ /^#define\s+(\w+)\s+"((?:[^"\\]|\\.)*)"\s*$/mg;
		my @spans;    # [start, end, sqlstate] of each ereport
		while ($text =~ /\bereport\s*\(/g)
		{
			my $open = pos($text) - 1;
			my @a = call_args($text, $open);
			push @spans, [ $open, $call_end, ereport_sqlstate(($a[0] // '') =~ s/\s//gr, join(',', @a)) ];
			pos($text) = $open + 1;
		}
		my @found;    # [position, format expression, its arguments, prefix]
		while ($text =~ /\b(errmsg_plural|errmsg|kusto_error_set|snprintf|ks_slot_set_error)\s*\(/g)
		{
			my ($fn, $open) = ($1, pos($text) - 1);
			my @a = call_args($text, $open);
			if ($fn eq 'errmsg') { push @found, [ $open, $a[0], [ @a[ 1 .. $#a ] ], '' ]; }
			elsif ($fn eq 'errmsg_plural')
			{
				# one message: the singular, with the plural as a variant
				push @found, [ $open, $a[0], [ @a[ 4 .. $#a ] ], '', $a[1] ];
			}
			elsif ($fn eq 'kusto_error_set') { push @found, [ $open, $a[4], [ @a[ 5 .. $#a ] ], '' ]; }
			elsif ($fn eq 'ks_slot_set_error') { push @found, [ $open, $a[1], [], '' ]; }
			elsif (($a[0] // '') =~ /^\s*[\w>.-]*(?:message|notice)\w*\s*$/)
			{
				push @found, [ $open, $a[2], [ @a[ 3 .. $#a ] ], '' ];
			}
			elsif (($a[0] // '') =~ /^\s*[\w>.-]*(?:message|notice)\w*\s*\+/)
			{
				# appended to a message: "<message>" and the text
				push @found, [ $open, $a[2], [ @a[ 3 .. $#a ] ], "\x02" ];
			}
		}
		while ($text =~ /\b\w*(?:message|notice|report)\w*\s*=\s*psprintf\s*\(/g)
		{
			my $open = pos($text) - 1;
			my @a = call_args($text, $open);
			push @found, [ $open, $a[0], [ @a[ 1 .. $#a ] ], '' ];
		}
		for my $f (@found)
		{
			my ($open, $expr, $args, $prefix, $plural) = @$f;
			my $line = 1 + (substr($text, 0, $open) =~ tr/\n//);
			# errmsg's SQLSTATE: its ereport's (the other texts have none)
			my ($span) = grep { $_->[0] < $open && $open < $_->[1] } @spans;
			my $state = $span && substr($text, $open - 20, 20) =~ /errmsg(?:_plural)?\s*$/ ? $span->[2] : undef;
			for my $format (c_alternatives($expr // ''))
			{
				my @variants = map { $prefix . $_ }
				  map { c_variants($_, @$args) } $format, defined $plural ? c_alternatives($plural) : ();
				my ($placeholders) = c_variants($format);
				add_message(\%out, "$short:$line", $prefix . $placeholders, $state, @variants);
			}
		}
	}
	return %out;
}

sub sql_messages
{
	my ($node) = @_;
	my %out;
	my $rows = $node->safe_psql('postgres', q{
		SELECT p.oid::regprocedure,
		  pg_catalog.translate(pg_catalog.encode(pg_catalog.convert_to(p.prosrc, 'UTF8'), 'base64'), E'\n', '')
		FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_language l ON l.oid = p.prolang
		WHERE p.pronamespace = 'kusto_sink'::regnamespace AND l.lanname = 'plpgsql'});
	require MIME::Base64;
	for my $row (split /\n/, $rows)
	{
		my ($proc, $b64) = split /\|/, $row, 2;
		my $src = MIME::Base64::decode_base64($b64);
		while ($src =~ /\bRAISE\s+(EXCEPTION|WARNING|NOTICE|INFO|LOG)?\s*'((?:[^']|'')*)'([^;]*)/gi)
		{
			my ($level, $using) = (uc($1 // 'EXCEPTION'), $3);
			(my $f = $2) =~ s/''/'/g;
			my $state = $using =~ /\bERRCODE\s*=\s*'(\w+)'/i ? $sqlstate{ lc $1 } // "unknown condition $1"
			  : { EXCEPTION => 'P0001', WARNING => '01000' }->{$level} // '00000';
			$f =~ s/%%/\x01/g;
			$f =~ s/%/\x02/g;
			$f =~ s/\x01/%/g;
			add_message(\%out, "RAISE in $proc", $f, $state, $f);
		}
	}
	return %out;
}

# ---------- comparing ----------

# one form for both sides: placeholders <...>, one for a run of them
sub normal
{
	my ($s) = @_;
	$s =~ s/\x02\/\x02/\x02/g;    # %X/%X: an LSN
	$s =~ s/\x02+/$PH/g;
	return $s;
}

sub doc_normal
{
	my ($s) = @_;
	$s =~ s/\\\|/|/g;
	$s =~ s/<[^<>`]+>/\x02/g;
	$s =~ s/\x{ab}[^\x{bb}]*\x{bb}/\x02/g;
	$s =~ s/\x02+/$PH/g;
	return $s;
}

my @frame_prefixes = ("kusto_sink sink \"$PH\": ", 'kusto_sink: ');
my %frames = map { ("$_$PH" => 1) } @frame_prefixes;

# the messages of the document's Troubleshooting section: [text, line]
sub doc_messages
{
	my ($text) = @_;
	my @out;
	my ($in, $header, $n, $state_column) = (0, 1, 0, undef);
	for my $line (split /\n/, $text)
	{
		$n++;
		if ($line =~ /^## (.*)/) { $in = ($1 eq 'Troubleshooting'); next; }
		next unless $in;
		if ($line !~ /^\|/) { $header = 1; next; }
		next if $line =~ /^\|[-|\s]*$/;
		(my $row = $line) =~ s/\\\|/\x03/g;
		my (undef, @cells) = split /\s*\|\s*/, $row;
		if ($header)
		{
			# the column of the SQLSTATEs, if the table has one
			($state_column) = grep { $cells[$_] eq 'SQLSTATE' } 0 .. $#cells;
			$header = 0;
			next;
		}
		(my $first = $cells[0]) =~ s/\x03/\\|/g;
		my $state = defined $state_column ? $cells[$state_column] : undef;
		while ($first =~ /`([^`]+)`(\s*\((?:PostgreSQL|Kusto|libcurl)'s\))?/g)
		{
			push @out, [ doc_normal($1), $n, $state ] unless defined $2;
		}
	}
	return @out;
}

sub as_regex
{
	my ($m) = @_;
	# a placeholder: placeholders and text of the document, within quotes
	my $re = join('(?:<\.\.\.>|[^"<>])+?', map { quotemeta } split /\Q$PH\E/, $m, -1);
	return qr/^$re$/s;
}

# the differences between the code's messages and a document, as lines
sub differences
{
	my ($code, $text) = @_;
	my %messages;    # what the differences name -> { where, regexes of its variants }
	for my $m (values %$code)
	{
		my @variants = sort grep {
			(my $letters = $_) =~ s/\Q$PH\E//g;
			$letters =~ /[A-Za-z]/
		} map { normal($_) } keys %{ $m->{variants} };
		next unless @variants;
		my $name = normal($m->{format});
		$name = $variants[0] unless grep { $_ eq $name } @variants;
		my $entry = $messages{"$name ($m->{where})"} //= { name => $name, regexes => {}, sqlstate => $m->{sqlstate} };
		$entry->{regexes}{$_} //= as_regex($_) for grep { !$frames{$_} } @variants;
	}
	my (%documented, @extra, @states);
	for my $d (doc_messages($text))
	{
		my ($m, $line, $state) = @$d;
		my @forms = ($m);
		for my $p (@frame_prefixes)
		{
			push @forms, substr($m, length $p) if index($m, $p) == 0 && length $m > length $p;
		}
		my $known = 0;
		for my $c (grep { $frames{$m} && $messages{$_}{name} eq $m } keys %messages)
		{
			$documented{$c} = 1;
			$known = 1;
		}
		for my $c (keys %messages)
		{
			for my $re (values %{ $messages{$c}{regexes} })
			{
				next unless grep { $_ =~ $re } @forms;
				$documented{$c} = 1;
				$known = 1;
				my $code = $messages{$c}{sqlstate};
				push @states, "docs/operations.md:$line gives $m another SQLSTATE than $code: $c"
				  if defined $code && defined $state && $state !~ /\b\Q$code\E\b/;
			}
		}
		push @extra, "docs/operations.md:$line names a message the code no longer has: $m" unless $known;
	}
	my @missing = map { "not in docs/operations.md: $_" }
	  sort grep { !$documented{$_} } keys %messages;
	return (@missing, @extra, sort(@states));
}

# ---------- the test ----------

my $node = PostgreSQL::Test::Cluster->new('messages');
$node->init(allows_streaming => 'logical');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION kusto_sink');

read_sqlstates($ENV{PG_CONFIG} // 'pg_config');
my %c = c_messages();
my %sql = sql_messages($node);
my %code = (%c, %sql);
# the sanity of the extraction: each kind is there
my @formats = map { $_->{format} } values %c;
my @sql_formats = map { $_->{format} } values %sql;
ok((grep { /^kusto_sink sink "\x02": Kusto rejected a batch/ } @formats), 'errmsg formats are found');
ok((grep { $_->{format} =~ /^kusto_sink sink "\x02": snapshot of \x02 new source table$/
		  && $_->{variants}{"kusto_sink sink \"\x02\": snapshot of \x02 new source tables"} } values %c),
	'errmsg_plural formats are found, the plural a variant of the singular');
ok((grep { /^could not read a PEM certificate from "\x02"$/ } @formats), 'the ingest core\'s kusto_error_set formats are found');
ok((grep { /^queued ingestion \x02 \x02: / } @formats), 'the worker\'s message buffers are found');
ok((grep { /^the replication slot was missing/ } @formats), 'the literals of ks_slot_set_error are found');
ok((grep { $_ eq "kusto_sink sink \"\x02\": Kusto table \"\x02\" checked" } map { keys %{ $_->{variants} } } values %c),
	'a literal argument of %s is a variant of its message');
ok((grep { /^\x02; enable streaming ingestion on the cluster/ } map { keys %{ $_->{variants} } } values %c),
	'a text appended to a message is found');
ok((grep { /^sink "\x02" has a new replication slot/ } @sql_formats), 'RAISE NOTICE formats are found');
ok((grep { /^table \x02 is not a source table of sink "\x02"$/ } @sql_formats),
	'RAISE formats of the 1.0 functions the 1.1 script kept are found');
ok(!(grep { /^permission denied for table/ } @sql_formats), 'RAISE formats of replaced 1.0 functions are not');
ok(scalar(doc_messages($doc)) > 100, 'the document\'s rows are read');
ok((grep { $_->{format} eq "kusto_sink needs wal_level = logical, not \x02" && ($_->{sqlstate} // '') eq '55000' } values %c),
	'an errmsg has its ereport\'s SQLSTATE');
ok((grep { $_->{format} =~ /^connection "\x02" is used by sink/ && ($_->{sqlstate} // '') eq '2BP01' } values %sql),
	'a RAISE has its ERRCODE\'s SQLSTATE');

my @diff = differences(\%code, $doc);
is(join("\n", @diff), '', 'docs/operations.md lists exactly the messages of the code')
  or diag(scalar(keys %code) . " formats in the code");

# The checker fails on a wrong document and on new code.
my @mutations = (
	[
		'a row taken out',
		sub { $_[0] =~ s/^\| `replication slot "<slot>" belongs to another database` \|.*\n//m },
		\%code,
		qr/^not in docs\/operations\.md: replication slot "<\.\.\.>" belongs to another database \(src\/worker\/decode\.c:\d+\)$/
	],
	[
		'a message the code lacks',
		sub { $_[0] =~ s/^(\| `sink "<name>" has no running worker` \|)/| `sink "<name>" has no sleeping worker` | 55000 | | |\n$1/m },
		\%code,
		qr/^docs\/operations\.md:\d+ names a message the code no longer has: sink "<\.\.\.>" has no sleeping worker$/
	],
	[
		'a wrong SQLSTATE',
		sub { $_[0] =~ s/^(\| `sink "<name>" has no running worker` \|) 55000 /$1 55006 /m },
		\%code,
		qr/^docs\/operations\.md:\d+ gives sink "<\.\.\.>" has no running worker another SQLSTATE than 55000: /
	],
	[
		'a frame left undocumented',
		sub { $_[0] =~ s/^\| `kusto_sink sink "<name>": <message>` \|.*\n//m },
		\%code,
		qr/^not in docs\/operations\.md: kusto_sink sink "<\.\.\.>": <\.\.\.> /
	],
	[
		'a new message in the code',
		sub { 1 },
		{
			%code,
			new => {
				where => 'src/new.c:1',
				format => "kusto_sink sink \"\x02\" met a \x02 it cannot send",
				variants => { "kusto_sink sink \"\x02\" met a \x02 it cannot send" => 1 }
			}
		},
		qr/^not in docs\/operations\.md: kusto_sink sink "<\.\.\.>" met a <\.\.\.> it cannot send \(src\/new\.c:1\)$/
	],
);
for my $m (@mutations)
{
	my ($what, $mutate, $code, $expected) = @$m;
	my $text = $doc;
	ok($mutate->($text), "the mutation \"$what\" applies");
	my @found = differences($code, $text);
	ok((grep { $_ =~ $expected } @found), "the checker finds $what")
	  or diag(join("\n", @found));
}

# docs/security.md: what PUBLIC may execute
my $security = slurp_file("$root/docs/security.md");
my @public = split /\n/, $node->safe_psql('postgres', q{
	SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
	WHERE p.pronamespace = 'kusto_sink'::regnamespace
	  AND pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE') ORDER BY 1});
is(join(', ', @public),
	'kusto_sink.kusto_type(regtype), kusto_sink._connection_has_secret(kusto_sink.connection), '
	  . 'kusto_sink._connection_missing_secret(kusto_sink.connection), '
	  . 'kusto_sink._with_secret(kusto_sink.connection,text,text)',
	'PUBLIC may execute only the four pure functions docs/security.md names');
for my $f (@public)
{
	(my $name = $f) =~ s/^kusto_sink\.(\w+)\(.*/$1/;
	like($security, qr/`\Q$name\E\(/, "docs/security.md names $name as executable by PUBLIC");
}
is($node->safe_psql('postgres', q{
	SELECT pg_catalog.has_schema_privilege('public', 'kusto_sink', 'USAGE')}), 'f',
	'PUBLIC has no USAGE on schema kusto_sink');

$node->stop;
done_testing();
