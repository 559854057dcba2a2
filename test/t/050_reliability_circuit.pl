# raw_metrics locked (ACCESS EXCLUSIVE) for several backoff steps during a
# load: the flush job retries after 100 ms, 200 ms (backoff doubling, as
# job_history's start times show), its circuit opens after 3 failures (stats
# shows it), half-open tries every 2 s fail, and once the lock is gone the
# circuit closes and every event sent is stored, none dead-lettered.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

# one flush worker: the backoff and circuit below are one state machine's
# (each flush worker has its own, and their tries would interleave)
my $node = mr_node('circuit', q{
metrics_rollup.flush_workers = 1
metrics_rollup.flush_interval = '100ms'
metrics_rollup.retry_interval = '100ms'
metrics_rollup.max_backoff = '1s'
metrics_rollup.circuit_failure_threshold = 3
metrics_rollup.circuit_reset = '2s'
metrics_rollup.rollup_enabled = off
metrics_rollup.cleanup_enabled = off
});
$node->safe_psql('postgres', 'CREATE EXTENSION metrics_rollup');
mr_wait_worker($node);
$node->safe_psql('postgres', q{SELECT metrics_rollup.record('warmup', 'e', 0, true)});
# flush() may return 0 if the worker (100 ms interval) was faster
$node->safe_psql('postgres', 'SELECT metrics_rollup.flush()');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = 'warmup'}), '1',
	'flushing works');

# lock raw_metrics for 7 seconds
my $locker = mr_hold_lock($node, 'metrics_rollup.raw_metrics', 7);

# load while locked: 20 batches of 100 events over about 4 seconds
my $sent = 0;
my $saw_open = 0;
for my $b (1 .. 20)
{
	$sent += $node->safe_psql('postgres', qq{
		SELECT metrics_rollup.record_batch('load', array_agg('e' || i % 7),
		                                   array_agg(i * 0.001), array_agg(i % 5 <> 0))
		  FROM generate_series($b * 1000, $b * 1000 + 99) i});
	$saw_open ||= $node->safe_psql('postgres',
		'SELECT flush_circuit FROM metrics_rollup.stats') eq 'open';
	usleep(200_000);
}
ok($saw_open, 'the flush circuit opened while the table was locked');
my $row = $node->safe_psql('postgres', q{
	SELECT events_pending > 0, flush_consecutive_failures >= 3, flush_next_retry_at IS NOT NULL,
	       circuit_state, last_flush_error
	  FROM metrics_rollup.stats});
like($row, qr/^t\|t\|t\|(open|half_open)\|could not lock metrics_rollup.raw_metrics$/,
	'stats: events stay buffered, failures counted, next retry known, lock error shown');

$locker->finish;
# (the worker's own retry may drain the buffer before flush() is called)
$node->safe_psql('postgres', 'SELECT metrics_rollup.flush()');
is($node->safe_psql('postgres', 'SELECT events_pending FROM metrics_rollup.stats'), '0',
	'flush() returns once the table is free and everything is stored');
$node->poll_query_until('postgres', q{
	SELECT flush_circuit = 'closed' AND flush_consecutive_failures = 0 AND flush_next_retry_at IS NULL
	  FROM metrics_rollup.stats})
  or die 'circuit did not close';
pass('the circuit closed after the lock was released');
is($node->safe_psql('postgres', q{
	SELECT count(*) || ' ' || sum(response_time)::numeric(12,3) FROM metrics_rollup.raw_metrics
	 WHERE kind = 'load'}),
	"$sent " . $node->safe_psql('postgres', q{
	SELECT sum(i * 0.001)::numeric(12,3) FROM generate_series(1, 20) b,
	       generate_series(b * 1000, b * 1000 + 99) i}),
	"sent == stored ($sent events, same sum)");
is($node->safe_psql('postgres',
		'SELECT events_dead_lettered FROM metrics_rollup.stats'),
	'0', 'a lock failure is retried, never dead-lettered');

# the history of the failed tries: attempts 1, 2, 3, ... with growing gaps
$node->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM metrics_rollup.job_history WHERE job = 'flush' AND status = 'ok'
	   AND started_at > (SELECT max(started_at) FROM metrics_rollup.job_history
	                      WHERE job = 'flush' AND status = 'failed')})
  or die 'no successful flush after the failures in job_history';
my @rows = split /\n/, $node->safe_psql('postgres', q{
	SELECT attempt, error_sqlstate,
	       round(extract(epoch FROM started_at - lag(started_at) OVER (ORDER BY started_at)) * 1000)
	  FROM metrics_rollup.job_history WHERE job = 'flush' AND status = 'failed'
	 ORDER BY started_at});
note "failed flush tries (attempt|sqlstate|ms since previous): @rows";
ok(@rows >= 5, 'several failed tries recorded (' . scalar(@rows) . ')');
my @f = map { [ split /\|/ ] } @rows;
is(join(',', map { $_->[0] } @f[0 .. 2]), '1,2,3', 'attempts are numbered');
is($f[0][1], '55P03', 'the SQLSTATE is lock_not_available');
my ($g1, $g2, $g3) = ($f[1][2], $f[2][2], $f[3][2]);
ok($g1 >= 70 && $g1 <= 600, "first backoff about retry_interval (100 ms +-25%): $g1 ms");
ok($g2 >= 145 && $g2 <= 900 && $g2 > $g1, "second backoff doubles (200 ms +-25%): $g2 ms");
ok($g3 >= 1950, "then the open circuit waits circuit_reset (2 s): $g3 ms");
# the flush job never gives up: the success is the same run's next try
is($node->safe_psql('postgres', q{
	SELECT status || ' ' || (attempt = (SELECT count(*) + 1 FROM metrics_rollup.job_history
	                                     WHERE job = 'flush' AND status = 'failed'))
	  FROM metrics_rollup.job_history WHERE job = 'flush' AND status <> 'failed'
	 ORDER BY started_at DESC LIMIT 1}),
	'ok true', 'the run succeeded at the try after its last failure, never given up');
$node->stop;
done_testing();
