# Backpressure: a tiny buffer (1MB) and producers faster than the one flush
# worker.  Under overflow_policy = wait, record_batch() slows down as its
# ring fills (backpressure_threshold), so no call stalls for long, no event
# is lost and none is written directly.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;

my $node = mr_node('backpressure', q{
metrics_rollup.buffer_size = '1MB'
metrics_rollup.flush_workers = 1
metrics_rollup.flush_interval = '200ms'
metrics_rollup.rollup_enabled = off
metrics_rollup.cleanup_enabled = off
});
$node->safe_psql('postgres', 'CREATE EXTENSION metrics_rollup');
$node->poll_query_until('postgres',
	'SELECT count(pid) = 1 FROM metrics_rollup.flush_workers')
  or die 'flush worker did not start';

# 4 producers, 100 events a call, for 8 s; every call's latency logged
my $prefix = $node->basedir . '/bp';
my $script = $node->basedir . '/bp.sql';
append_to_file($script, q{
SELECT metrics_rollup.record_batch('bp', array_agg('c' || :client_id || '-' || i % 5),
       array_agg(i * 0.001), array_agg(true)) FROM generate_series(1, 100) i;
});
my ($stdout, $stderr) = run_command(
	[ 'pgbench', '-n', '-c', '4', '-j', '4', '-T', '8', '-l', "--log-prefix=$prefix",
	  '-f', $script, $node->connstr('postgres') ]);
my ($calls) = $stdout =~ /number of transactions actually processed: (\d+)/;
ok($calls && $calls > 0, "pgbench made $calls calls");

my @lat;
for my $f (glob("$prefix.*"))
{
	open my $fh, '<', $f or die "open $f: $!";
	while (<$fh>)
	{
		my @c = split ' ';
		push @lat, $c[2];    # microseconds
	}
	close $fh;
}
@lat = sort { $a <=> $b } @lat;
# (the log also holds the calls still running when -T ended)
cmp_ok(scalar @lat, '>=', $calls, 'a latency for every call');
my $max_ms = $lat[-1] / 1000;
my $p50_ms = $lat[ int(@lat / 2) ] / 1000;
my $slowed = grep { $_ >= 1000 } @lat;
note sprintf('calls %d, latency p50 %.2f ms, p99 %.2f ms, max %.2f ms; %d calls of 1 ms or more',
	scalar @lat, $p50_ms, $lat[ int(@lat * 0.99) ] / 1000, $max_ms, $slowed);

note 'events that met a full ring and waited for room: '
  . $node->safe_psql('postgres', 'SELECT events_overflowed FROM metrics_rollup.stats');
$node->safe_psql('postgres', 'SELECT metrics_rollup.flush()');
is($node->safe_psql('postgres', q{SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = 'bp'}),
	$calls * 100, 'no event lost');
is($node->safe_psql('postgres', 'SELECT events_direct || \' \' || events_dropped FROM metrics_rollup.stats'),
	'0 0', 'none written directly, none dropped');
# overflow_wait is 5 s: a call that met a full buffer for good would take that
cmp_ok($max_ms, '<', 1000, 'no call stalled for a second or more');
cmp_ok($slowed, '>', 0, 'some calls were slowed down (the buffer filled faster than it drained)');

$node->stop;
done_testing();
