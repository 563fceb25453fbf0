# KustoEmulator: starts the local Kusto emulator (test/kusto-emulator) for a
# TAP test, and talks to it: tokens for the development principal,
# management commands, queries and the admin (fault) API.
#
#   my $kusto = KustoEmulator->new(%opts);   # starts it; opts go to the CLI
#   $kusto->url                              # its base URL
#   $kusto->mgmt($db, '.create table T (a:int)')
#   $kusto->create_sink_table($db, 'T', 'id:long, v:string')
#                                            # + kusto_sink's metadata columns,
#                                            # streaming ingestion enabled
#   $kusto->query($db, 'T | count')          # rows of the primary result
#   $kusto->count($db, 'T')                  # T | count
#   $kusto->wait_count($db, 'T', $n)         # waits (with a timeout) until T has $n rows
#   $kusto->query_until($db, $csl, $rows)    # waits (with a timeout) until the query
#                                            # gives $rows; returns the last rows seen
#   $kusto->dm_settled                       # waits until the DM has no ingestion in
#                                            # hand; returns how many it has processed
#   $kusto->admin('POST', '/admin/faults', {...})
#   $kusto->stop
#
#   my $kusto = KustoEmulator->live;          # a real cluster instead (make test-live):
#       KUSTO_LIVE_CLUSTER, KUSTO_LIVE_DATABASE, KUSTO_LIVE_TENANT,
#       KUSTO_LIVE_APP_ID, KUSTO_LIVE_APP_KEY; commands and queries go through
#       kusto-cli (KS_KUSTO_CLI, the ingest core on its own); no admin API.
#       Only test/scripts/live.sh asks for it: no other test talks to anything
#       but the emulator it starts.
package KustoEmulator;

use strict;
use warnings;
use HTTP::Tiny;
use JSON::PP;
use IPC::Run;
use Scalar::Util ();
use Time::HiRes qw(time usleep);
use PostgreSQL::Test::Utils;
use Test::More;

my $timeout = $PostgreSQL::Test::Utils::timeout_default;
my @running;					# the emulators started (weak references)

sub new
{
	my ($class, %opts) = @_;
	my $self = bless {
		state => PostgreSQL::Test::Utils::tempdir('kusto'), opts => \%opts,
		http => HTTP::Tiny->new(timeout => 30),
	}, $class;
	$self->_start(0);
	push @running, $self;
	Scalar::Util::weaken($running[-1]);
	return $self;
}

sub live
{
	my ($class) = @_;
	for my $v (qw(KUSTO_LIVE_CLUSTER KUSTO_LIVE_DATABASE KUSTO_LIVE_TENANT KUSTO_LIVE_APP_ID KUSTO_LIVE_APP_KEY KS_KUSTO_CLI))
	{
		die "$v is not set (test/scripts/live.sh sets up a live run)" unless $ENV{$v};
	}
	(my $url = $ENV{KUSTO_LIVE_CLUSTER}) =~ s{/+$}{};
	return bless { live => 1, url => $url, cli => $ENV{KS_KUSTO_CLI} }, $class;
}

sub is_live { return $_[0]->{live} ? 1 : 0; }

# a command or query on the live cluster through kusto-cli: the first table
sub _live_rest
{
	my ($self, $db, $csl) = @_;
	local $ENV{KUSTO_APP_KEY} = $ENV{KUSTO_LIVE_APP_KEY};
	my ($out, $err) = ('', '');
	IPC::Run::run([ $self->{cli}, '--cluster', $self->{url}, '--tenant', $ENV{KUSTO_LIVE_TENANT},
		'--app-id', $ENV{KUSTO_LIVE_APP_ID}, 'query', $db, $csl ], \undef, \$out, \$err,
		IPC::Run::timeout($timeout))
	  or die "$csl: $err";
	return JSON::PP->new->utf8->decode($out)->{Tables}[0];
}

# starts the emulator on $port (0: any free port) with the state directory
sub _start
{
	my ($self, $port) = @_;
	my $root = $ENV{KS_ROOT} or die "KS_ROOT is not set";
	my %opts = %{ $self->{opts} };
	my @cmd = ("$root/test/kusto-emulator/kusto-emulator", '--port', $port, '--state-dir', $self->{state});
	push @cmd, map { ("--$_", $opts{$_}) } sort keys %opts;
	my ($in, $out, $err) = ('', '', '');
	# it keeps every row in memory: the soak's millions need more than node's default heap
	local $ENV{NODE_OPTIONS} = '--max-old-space-size=' . ($ENV{KS_EMU_HEAP_MB} // 8192);
	my $h = IPC::Run::start(\@cmd, \$in, \$out, \$err,
		IPC::Run::timeout($timeout));
	my $deadline = time + $timeout;
	while ($out !~ /kusto-emulator listening on (\S+)/)
	{
		die "the Kusto emulator did not start: $err" if time > $deadline || !$h->pumpable;
		$h->pump_nb;
		usleep(20_000);
	}
	$out =~ /kusto-emulator listening on (\S+)/;
	$self->{handle} = $h;
	$self->{url} = $1;
	$self->{err} = \$err;
}

# stops the emulator (its state is saved) and starts it again on the same port
sub restart
{
	my ($self, %wait) = @_;
	my ($port) = $self->{url} =~ /:(\d+)$/;
	$self->stop;
	$wait{while_down}->() if $wait{while_down};
	$self->_start($port);
}

sub url { return $_[0]->{url}; }

# when the emulator is gone: what it wrote to stderr
sub _died
{
	my ($self) = @_;
	return '' unless $self->{handle};
	eval { $self->{handle}->pump_nb; };
	return $self->{handle}->pumpable ? '' : "\nthe emulator exited; its stderr:\n${ $self->{err} }";
}

sub stop
{
	my ($self) = @_;
	return unless $self && $self->{handle};
	$self->{handle}->signal('TERM');
	eval { $self->{handle}->finish; };
	delete $self->{handle};
}

sub DESTROY { $_[0]->stop; }

# every emulator still running when the test exits (also after a die) is
# stopped here: in global destruction IPC::Run may already be gone
END { $_ && $_->stop for @running; }

sub token
{
	my ($self) = @_;
	return $self->{token} if $self->{token} && $self->{token_until} > time + 60;
	my $res = $self->{http}->post_form("$self->{url}/emulator/oauth2/v2.0/token",
		{ grant_type => 'client_credentials', client_id => 'kusto-sink-dev',
		  client_secret => 'dev-secret', scope => "$self->{url}/.default" });
	die "token: $res->{status} $res->{content}" unless $res->{success};
	my $body = decode_json($res->{content});
	$self->{token} = $body->{access_token};
	$self->{token_until} = time + $body->{expires_in};
	return $self->{token};
}

sub _rest
{
	my ($self, $path, $db, $csl) = @_;
	return $self->_live_rest($db, $csl) if $self->{live};
	my $res = $self->{http}->post("$self->{url}$path", {
		headers => { 'Content-Type' => 'application/json; charset=utf-8',
					 Authorization => 'Bearer ' . $self->token },
		content => encode_json({ db => $db, csl => $csl }) });
	die "$path $csl: $res->{status} $res->{content}" . $self->_died unless $res->{success};
	my $body = decode_json($res->{content});
	return $body->{Tables}[0];
}

# management command: the result table's rows
sub mgmt
{
	my ($self, $db, $csl) = @_;
	return $self->_rest('/v1/rest/mgmt', $db, $csl)->{Rows};
}

# the metadata columns kusto_sink writes by default
our $METADATA_COLUMNS = '_op:string, _lsn:long, _commit_lsn:long, _commit_time:datetime, _xid:long, '
  . '_schema:string, _table:string, _unchanged_toast:dynamic';

# a table for a sink: the given columns plus the metadata ones, streaming on
sub create_sink_table
{
	my ($self, $db, $table, $columns) = @_;
	$self->mgmt($db, ".create table $table ($columns, $METADATA_COLUMNS)");
	$self->mgmt($db, ".alter table $table policy streamingingestion enable");
}

# query (v1): the primary result's rows
sub query
{
	my ($self, $db, $csl) = @_;
	return $self->_rest('/v1/rest/query', $db, $csl)->{Rows};
}

sub count
{
	my ($self, $db, $table) = @_;
	my $rows = eval { $self->query($db, "['$table'] | count") };
	return $rows ? $rows->[0][0] : 0;
}

# waits until the table holds $n rows; returns the last count seen
sub wait_count
{
	my ($self, $db, $table, $n) = @_;
	my $deadline = time + $timeout;
	my $count;
	while (1)
	{
		$count = $self->count($db, $table);
		return $count if $count >= $n || time > $deadline;
		usleep(50_000);
	}
}

# waits until the query's rows are $want (values compared as strings, as
# is_deeply does); returns the last rows seen, for the caller to compare
sub query_until
{
	my ($self, $db, $csl, $want) = @_;
	my $flat = sub { join("\x1e", map { join("\x1f", map { $_ // "\x00" } @$_) } @{ $_[0] }) };
	my $deadline = time + $timeout;
	my $rows;
	while (1)
	{
		$rows = eval { $self->query($db, $csl) } // [];
		return $rows if $flat->($rows) eq $flat->($want) || time > $deadline;
		usleep(50_000);
	}
}

# The DM makes a blob's rows visible a moment before it counts the blob as
# processed: wait for the ingestions it has in hand to end.
sub dm_settled
{
	my ($self) = @_;
	my $deadline = time + $timeout;
	my $dm;
	while (1)
	{
		$dm = $self->admin('GET', '/admin/stats')->{dm};
		return $dm->{processed} if $dm->{inFlight} == 0 || time > $deadline;
		usleep(20_000);
	}
}

sub admin
{
	my ($self, $method, $path, $body) = @_;
	die "no admin API on a live cluster" if $self->{live};
	my $res = $self->{http}->request($method, "$self->{url}$path", {
		headers => { 'Content-Type' => 'application/json' },
		($body ? (content => encode_json($body)) : ()) });
	die "$method $path: $res->{status} $res->{content}" . $self->_died unless $res->{success};
	return $res->{content} ? decode_json($res->{content}) : undef;
}

1;
