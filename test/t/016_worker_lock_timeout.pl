# The worker never waits without bound on a lock a user holds (issue 14):
#  1. an open transaction that inserted into raw_metrics does not stall the
#     drain (append-only dirty marks: no row lock to wait for), and flush()
#     in that very transaction returns;
#  2. a user holding a lock the flush needs (SHARE on rollup_dirty) makes
#     the flush fail after metrics_rollup.lock_timeout: counted, retried
#     with backoff, visible in job_history and stats; nothing lost;
#  3. a user's run_rollup() in an open transaction (the runner lock) makes
#     the worker's rollup fail on the lock timeout instead of waiting;
#  4. flush() in the transaction that holds such a lock fails at once with
#     a HINT, instead of hanging.
# Each part hangs or waits without a count on the code before 1.2.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;
use Time::HiRes qw(time);

my $node = mr_node('locktimeout', q{
metrics_rollup.flush_interval = '100ms'
metrics_rollup.lock_timeout = '1s'
metrics_rollup.retry_interval = '100ms'
metrics_rollup.rollup_interval = '1min'
metrics_rollup.cleanup_enabled = off
metrics_rollup.circuit_reset = '1s'
});
$node->safe_psql('postgres', 'CREATE EXTENSION metrics_rollup');

# 1. an open writer does not stall the drain
my $w = $node->background_psql('postgres');
$w->query_safe(q{BEGIN; INSERT INTO metrics_rollup.raw_metrics VALUES ('tool', 'dl2', NULL, now(), 1, true, NULL)});
my $t0 = time;
my ($ret, $out, $err) = $node->psql('postgres', q{
	SELECT metrics_rollup.record('tool', 'dl2', 1, true); SELECT metrics_rollup.flush()},
	timeout => 30);
is($ret, 0, 'flush() beside an open transaction that inserted into raw_metrics returns');
cmp_ok(time - $t0, '<', 5, 'and does not wait for that transaction');
is($w->query_safe(q{SELECT metrics_rollup.record('tool', 'dl2', 1, true); SELECT metrics_rollup.flush()}),
	"\n1", 'flush() inside that transaction returns as well');
$w->query_safe('COMMIT');
is($node->safe_psql('postgres', q{SELECT count(*) FROM metrics_rollup.raw_metrics WHERE entity_id = 'dl2'}),
	'3', 'every event of part 1 landed');

# 2. a lock the flush needs: the flush times out, is counted and retried
# (its own session: an error's stderr stays in the session's buffer)
my $l = $node->background_psql('postgres', on_error_stop => 0);
$l->query_safe('BEGIN; LOCK TABLE metrics_rollup.rollup_dirty IN SHARE MODE');
$node->safe_psql('postgres', q{SELECT metrics_rollup.record('tool', 'held', 1, true)});
$node->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM metrics_rollup.job_history
	 WHERE job = 'flush' AND status = 'failed' AND error_sqlstate = '55P03'})
  or die 'no lock timeout of the flush';
pass('the flush failed on the lock timeout (55P03) and job_history shows it');
$node->poll_query_until('postgres', q{
	SELECT consecutive_failures > 1 AND last_flush_error LIKE '%lock timeout%' FROM metrics_rollup.stats})
  or die 'no retry counted';
pass('retried: consecutive failures counted in stats, last_flush_error says why');
# 4. flush() in the transaction holding the lock fails at once, with a HINT
$t0 = time;
$l->query('SELECT metrics_rollup.flush()');
like($l->{stderr}, qr/flush\(\) would wait for a lock this transaction holds on metrics_rollup\.rollup_dirty/,
	'flush() in the blocking transaction fails');
cmp_ok(time - $t0, '<', 5, 'at once');
$l->query('ROLLBACK');
$l->quit;
is($node->safe_psql('postgres', 'SELECT metrics_rollup.flush() >= 0'), 't',
	'after the lock is gone the retry flushes');
is($node->safe_psql('postgres', q{SELECT count(*) FROM metrics_rollup.raw_metrics WHERE entity_id = 'held'}),
	'1', 'nothing lost');

# 3. the runner lock held by a user's run_rollup(): the worker's rollup
#    fails on the lock timeout, counted, instead of waiting
$w->query_safe('BEGIN; SELECT * FROM metrics_rollup.run_rollup()');
$node->safe_psql('postgres', q{SELECT metrics_rollup.record('tool', 'r', 1, true); SELECT metrics_rollup.flush()});
$node->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM metrics_rollup.job_history
	 WHERE job = 'rollup' AND status = 'failed' AND error_sqlstate = '55P03'}, 't')
  or die 'no lock timeout of the rollup';
pass('the worker rollup failed on the lock timeout and job_history shows it');
my $failed_at = $node->safe_psql('postgres', q{
	SELECT max(started_at) FROM metrics_rollup.job_history
	 WHERE job = 'rollup' AND status = 'failed' AND error_sqlstate = '55P03'});
$w->query_safe('COMMIT');
# an earlier scheduled rollup may have succeeded too: wait for one after the failure
$node->poll_query_until('postgres', qq{
	SELECT count(*) > 0 FROM metrics_rollup.job_history
	 WHERE job = 'rollup' AND status = 'ok' AND started_at > '$failed_at'})
  or die 'the rollup never succeeded';
pass('the retried rollup succeeds once the lock is gone');
is($node->safe_psql('postgres', q{SELECT count(*) FROM metrics_rollup.rollup_dirty}), '0',
	'nothing left dirty');

$w->quit;
$node->stop;
done_testing();
