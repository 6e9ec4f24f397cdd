# The examples in examples/prometheus/ against the real programs:
# postgres_exporter with foundation-queries.yaml in front of a test
# instance, scraped every second by a Prometheus server running the shipped
# prometheus.yml and foundation-alerts.yml (only the target, the intervals
# and the rule file's path changed).  After a few scrapes Prometheus's HTTP
# API returns a counter, histogram quantiles and a breaker's state with the
# values set here, a later increment, and the breaker alert pending.
#
# Both programs listen on 127.0.0.1 on free ports, keep their data in the
# test's directory and are stopped at the end; a Prometheus the package may
# have started on :9090 is neither used nor touched.
use strict;
use warnings;
use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# CI installs these Debian packages: a missing program is a failure.
sub find_program
{
	my ($name) = @_;
	foreach my $dir (split(/:/, $ENV{PATH}), qw(/usr/sbin /usr/bin /sbin /bin))
	{
		return "$dir/$name" if -x "$dir/$name";
	}
	return undef;
}
my %prog = (
	prometheus => [ 'prometheus', 'prometheus' ],
	promtool => [ 'promtool', 'prometheus' ],
	exporter => [ 'prometheus-postgres-exporter', 'prometheus-postgres-exporter' ]);
my $missing = 0;
foreach my $k (sort keys %prog)
{
	my ($name, $package) = @{ $prog{$k} };
	$prog{$k} = find_program($name);
	next if defined $prog{$k};
	fail("$name not found in PATH or /usr/sbin: install the Debian package \"$package\"");
	$missing = 1;
}
if ($missing)
{
	done_testing();
	exit 1;
}

my $examples = ($ENV{FND_SRC} // '../..') . '/examples/prometheus';
-d $examples or BAIL_OUT("no $examples directory");

# ---- the shipped files pass promtool ----
foreach my $check ([ 'config', "$examples/prometheus.yml" ],
	[ 'rules', "$examples/foundation-alerts.yml" ])
{
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ $prog{promtool}, 'check', @$check ], '>', \$out, '2>', \$err);
	ok($ok, "promtool check $check->[0] $check->[1]") or diag("$out$err");
}

# ---- a test instance with known values ----
my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION foundation;
CREATE ROLE metrics LOGIN;  -- no privilege beyond PUBLIC's
SELECT fnd_metric_increment('orders.placed', 7, '{"shop": "eu"}');
SELECT fnd_metric_observe('http.latency_ms', g) FROM generate_series(1, 100) g;
SELECT fnd_cb_install('payments', tolerance => 1);
SELECT fnd_cb_melt('payments') FROM generate_series(1, 2);
SELECT fnd_lock_acquire('nightly', lease => '10 min');
SELECT fnd_register('billing', 'worker-' || g, lease => '10 min') FROM generate_series(1, 3) g;
SELECT fnd_elect_leader('cron', 'node-a', '10 min');
});
my ($p50, $p99) = split(/\|/, $node->safe_psql('postgres',
	q{SELECT p50, p99 FROM fnd_metrics WHERE name = 'http.latency_ms'}));
is($node->safe_psql('postgres', q{SELECT state FROM fnd_cb_status('payments')}),
	'open', 'the breaker is open');

# ---- postgres_exporter and Prometheus, on free ports ----
my $dir = PostgreSQL::Test::Utils::tempdir;
my $exporter_port = PostgreSQL::Test::Cluster::get_free_port();
my $prom_port = PostgreSQL::Test::Cluster::get_free_port();
my $limit = IPC::Run::timeout(120);    # bounds every wait on the two programs
my ($exp_log, $prom_log) = ("$dir/exporter.log", "$dir/prometheus.log");
my @daemons;
END { eval { $_->kill_kill(grace => 5) } foreach @daemons; }

{
	# the exporter reads its DSN from the environment (0.11; later versions
	# also take it from --config.file)
	local $ENV{DATA_SOURCE_NAME} = sprintf(
		'host=%s port=%d dbname=postgres user=metrics sslmode=disable',
		$node->host, $node->port);
	push @daemons, IPC::Run::start(
		[ $prog{exporter}, "--web.listen-address=127.0.0.1:$exporter_port",
		  "--extend.query-path=$examples/foundation-queries.yaml",
		  '--disable-default-metrics', '--disable-settings-metrics' ],
		'<', \undef, '>&', $exp_log, $limit);
}

# The shipped prometheus.yml with this test's target, intervals and paths.
my $config = slurp_file("$examples/prometheus.yml");
my $n = 0;
$n += ($config =~ s/localhost:9187/127.0.0.1:$exporter_port/g);
$n += ($config =~ s/(scrape_interval|evaluation_interval): 15s/$1: 1s/g);
$n += ($config =~ s{- foundation-alerts.yml}{- $examples/foundation-alerts.yml}g);
is($n, 4, 'the example config has the target, intervals and rule file to adapt');
append_to_file("$dir/prometheus.yml", $config);
push @daemons, IPC::Run::start(
	[ $prog{prometheus}, "--config.file=$dir/prometheus.yml",
	  "--storage.tsdb.path=$dir/data", "--web.listen-address=127.0.0.1:$prom_port" ],
	'<', \undef, '>&', $prom_log, $limit);

# ---- Prometheus's HTTP API ----
my $http = HTTP::Tiny->new(timeout => 5, http_proxy => undef, proxy => undef,
	no_proxy => ['127.0.0.1']);
my $api = "http://127.0.0.1:$prom_port/api/v1";

sub api_get
{
	my ($path, %form) = @_;
	my $url = "$api/$path" . (%form ? '?' . $http->www_form_urlencode(\%form) : '');
	my $r = $http->get($url);
	return undef unless $r->{success};
	my $j = eval { decode_json($r->{content}) };
	return ($j && $j->{status} eq 'success') ? $j->{data} : undef;
}

# Instant query: the samples as [labels, value], or () while there are none.
sub query
{
	my ($q) = @_;
	my $d = api_get('query', query => $q);
	return () unless $d;
	return map { [ $_->{metric}, $_->{value}[1] ] } @{ $d->{result} };
}

# Poll until $cond returns true, for at most 60 s; returns its last value.
sub wait_for
{
	my ($cond) = @_;
	my $deadline = time + 60;
	my $v;
	while (time < $deadline)
	{
		$v = $cond->();
		return $v if $v;
		usleep(200_000);
	}
	return $v;
}

sub close_to { my ($x, $y) = @_; return abs($x - $y) <= 1e-9 * abs($y); }

ok(wait_for(sub { my @s = query('count_over_time(up{job="foundation"}[1m])');
			@s && $s[0][1] >= 3 }), 'Prometheus scraped the exporter at least 3 times')
  or diag('exporter:', slurp_file($exp_log), 'prometheus:', slurp_file($prom_log));
my @up = query('up{job="foundation"}');
is(scalar(@up) && $up[0][1], 1, 'the target is up');
my @pg_up = query('pg_up');
is(scalar(@pg_up) && $pg_up[0][1], 1, 'the exporter reaches the database');

my ($counter) = query('foundation_counter_total{metric="orders.placed"}');
ok($counter && $counter->[1] == 7, 'the counter the test incremented is 7');
is($counter && $counter->[0]{tags}, '{"shop": "eu"}', 'its tags are a label');
is($counter && $counter->[0]{database}, 'postgres', 'its database is a label');

my %q = map { $_->[0]{quantile} => $_->[1] }
  query('foundation_histogram_quantile_value{metric="http.latency_ms"}');
ok(defined $q{0.5} && close_to($q{0.5}, $p50), "the histogram's p50 is fnd_metrics' ($p50)")
  or diag(explain \%q);
ok(defined $q{0.99} && close_to($q{0.99}, $p99), "the histogram's p99 is fnd_metrics' ($p99)");
cmp_ok($q{0.5} // 0, '>=', 49.5, 'p50 of 1..100 within 1% of 50');
my ($hcount) = query('foundation_histogram_count{metric="http.latency_ms"}');
ok($hcount && $hcount->[1] == 100, 'the histogram counted 100 observations');

my ($state) = query('foundation_breaker_state{breaker="payments"}');
ok($state && $state->[1] == 2, 'the breaker\'s state is 2 (open)');

my ($waiters) = query('foundation_lock_waiters{lock="nightly",ownership="lease"}');
ok($waiters && $waiters->[1] == 0, 'the leased lock is a series with its waiters');
my ($entries) = query('foundation_registry_entries{namespace="billing",ownership="lease"}');
ok($entries && $entries->[1] == 3, 'the registry namespace has 3 leased entries');
my ($term) = query('foundation_leader_term{group="cron",leader="node-a"}');
ok($term && $term->[1] >= 1, 'the leader and its term are a series');

# Live, not a snapshot: a later increment shows up in a later scrape.
$node->safe_psql('postgres', q{SELECT fnd_metric_increment('orders.placed', 5, '{"shop": "eu"}')});
ok(wait_for(sub { my ($c) = query('foundation_counter_total{metric="orders.placed"}');
			$c && $c->[1] == 12 }), 'after 5 more the counter reads 12');

# The shipped rules evaluate, and the open breaker's alert is on its way.
my $rules = wait_for(sub {
	my $d = api_get('rules');
	my @r = $d ? map { @{ $_->{rules} } } @{ $d->{groups} } : ();
	(@r && !grep { ($_->{health} // '') ne 'ok' } @r) ? \@r : undef; });
ok($rules && @$rules == 8, 'the 8 shipped rules are loaded and evaluate without error');
ok(wait_for(sub {
	my $d = api_get('alerts');
	$d && grep { $_->{labels}{alertname} eq 'FoundationBreakerOpen'
		  && $_->{labels}{breaker} eq 'payments' } @{ $d->{alerts} } }),
	'FoundationBreakerOpen is pending or firing for the open breaker');

# ---- stop ----
my $stopped = 1;
foreach my $d (@daemons)
{
	$d->signal('TERM');
	$stopped &&= eval { $d->finish; 1 } // 0;
}
ok($stopped, 'postgres_exporter and Prometheus stopped');
unlike(slurp_file($exp_log), qr/level=error/,
	'the exporter ran every query without error (as a role with PUBLIC\'s privileges only)');
diag('exporter:', slurp_file($exp_log), 'prometheus:', slurp_file($prom_log))
  if !Test::More->builder->is_passing;
$node->stop;
done_testing();
