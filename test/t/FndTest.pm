# FndTest: helpers shared by foundation's Perl TAP tests.
#
#   use FindBin;
#   use lib $FindBin::RealBin;
#   use FndTest;
#
#   FndTest::server_log_ok($node, kills => 2);
#
# server_log_ok reads the node's whole server log (every start of the node
# appends to it) and checks that it shows exactly as many processes
# "terminated by signal 9" as the test killed on purpose, no process ended
# by any other signal (an assertion failure is signal 6, a segfault 11),
# and no PANIC or failed assertion ("TRAP:").  Call it after the node has
# stopped, or at least after the last kill has been logged.
#
#   my $heard = '';
#   ok(FndTest::hear($listener, \$heard, qr/"state": "firing"/), '...');
#
# hear collects what a background_psql session that LISTENs receives into
# $heard, polling every 0.1 s until $heard matches the pattern (true) or
# 60 s pass (false).
package FndTest;

use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

sub hear
{
	my ($session, $heard, $want) = @_;

	for (my $i = 0; $i < 600; $i++)
	{
		$$heard .= $session->query_safe('SELECT 1');
		return 1 if $$heard =~ $want;
		usleep(100_000);
	}
	return 0;
}

sub server_log_ok
{
	my ($node, %opt) = @_;
	my $kills = $opt{kills} // 0;
	my $name = $node->name;
	my $log = slurp_file($node->logfile);
	my @signals = $log =~ /terminated by signal (\d+)/g;
	my $nine = grep { $_ == 9 } @signals;
	my @other = grep { $_ != 9 } @signals;

	is($nine, $kills,
		"$name: the server log shows $kills process(es) terminated by signal 9, the deliberate kills");
	is(join(', ', @other), '', "$name: no process was terminated by another signal");
	unlike($log, qr/PANIC|TRAP:/, "$name: no PANIC or failed assertion in the server log");
	return;
}

1;
