# Steps on a sink shared by the TAP tests.
#
#   Sinks::alter_and_wait($node, 'sink', '{"batch_size": 10}')
#       alter_sink, then waits until the new worker runs: the old one still
#       says running until it has settled and exited, so a poll for the state
#       alone would pass at once
package Sinks;

use strict;
use warnings;

sub alter_and_wait
{
	my ($node, $sink, $options) = @_;
	my $pid = $node->safe_psql('postgres', "SELECT coalesce(worker_pid, 0) FROM kusto_sink.status WHERE name = '$sink'");
	$node->safe_psql('postgres', "SELECT kusto_sink.alter_sink('$sink', '$options')");
	return $node->poll_query_until('postgres',
		"SELECT state = 'running' AND worker_pid <> $pid FROM kusto_sink.status WHERE name = '$sink'");
}

1;
