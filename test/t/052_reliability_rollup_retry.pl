# The scheduled rollup job: a rollup that fails (a trigger raising disk_full on
# hourly_metrics) is retried with backoff and the hours are rolled up later;
# one that keeps failing gives up after max_retries (gave_up in job_history,
# LOG) and keeps its schedule.  A worker restart is visible in stats
# (worker_starts, worker_last_exit) and makes a catch-up run.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;

my $node = mr_node('rollup_retry', q{
metrics_rollup.rollup_interval = '24h'
metrics_rollup.retry_interval = '200ms'
metrics_rollup.max_backoff = '1s'
metrics_rollup.max_retries = 5
metrics_rollup.circuit_failure_threshold = 100
metrics_rollup.cleanup_enabled = off
test.fail_tries = 2
});

# Created in one transaction with the extension: the worker's catch-up run
# sees the rows and the trigger, which fails the first two tries.
$node->safe_psql('postgres', q{
	BEGIN;
	CREATE EXTENSION metrics_rollup;
	CREATE SEQUENCE rollup_tries;
	CREATE FUNCTION fail_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
	    IF nextval('public.rollup_tries') <= current_setting('test.fail_tries')::int THEN
	        -- not a data error (those set the group aside): the run fails
	        RAISE EXCEPTION 'injected rollup failure' USING ERRCODE = 'disk_full';
	    END IF;
	    RETURN NEW;
	END $$;
	CREATE TRIGGER fail_rollup BEFORE INSERT ON metrics_rollup.hourly_metrics
	    FOR EACH ROW EXECUTE FUNCTION fail_rollup();
	INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
	SELECT 'tool', 'e' || i % 3, '2026-01-01 00:00:00+00'::timestamptz + i * interval '10 minutes',
	       i * 0.01, i % 4 <> 0
	  FROM generate_series(0, 35) i;
	COMMIT;
});

$node->poll_query_until('postgres', q{
	SELECT count(*) = 0 FROM metrics_rollup.rollup_dirty})
  or die 'the rollup never succeeded';
is($node->safe_psql('postgres', q{
	SELECT count(DISTINCT hour_start) || ' ' || sum(total_count) FROM metrics_rollup.hourly_metrics}),
	'6 36', 'after two failed tries the retry rolled up every hour');
$node->poll_query_until('postgres', q{
	SELECT count(*) >= 3 FROM metrics_rollup.job_history WHERE job = 'rollup'})
  or die 'no rollup history';
is($node->safe_psql('postgres', q{
	SELECT string_agg(status || ':' || attempt || ':' || coalesce(error_sqlstate, '-'), ' ' ORDER BY started_at)
	  FROM metrics_rollup.job_history WHERE job = 'rollup'}),
	'failed:1:53100 failed:2:53100 ok:3:-', 'job_history: failed, failed, then the third try succeeded');
is($node->safe_psql('postgres', q{
	SELECT rollup_last_status || ' ' || rollup_circuit || ' ' || rollup_consecutive_failures || ' '
	       || (rollup_last_rows > 0) || ' ' || backfill_hours_pending || ' '
	       || (rollup_next_run_at > now())
	  FROM metrics_rollup.stats}),
	'ok closed 0 true 0 true', 'stats: last rollup ok, rows written, nothing pending, next run on schedule');

# Always failing: the run gives up after 1 + max_retries tries.  A restarted
# worker makes a catch-up run at once.
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET test.fail_tries = 1000000;
	ALTER SYSTEM SET metrics_rollup.max_retries = 2;
	SELECT pg_reload_conf();
	INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
	VALUES ('tool', 'late', '2026-01-01 02:30:00+00', 7, true);
});
my $pid = $node->safe_psql('postgres', 'SELECT worker_pid FROM metrics_rollup.stats');
my $offset = -s $node->logfile;
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
$node->poll_query_until('postgres', q{
	SELECT rollup_last_status = 'gave_up' FROM metrics_rollup.stats})
  or die 'the rollup did not give up';
ok($node->log_contains('metrics_rollup rollup job gave up after 3 failed tries', $offset),
	'giving up is logged');
is($node->safe_psql('postgres', q{
	SELECT worker_starts || ' ' || worker_last_exit || ' ' || backfill_hours_pending || ' '
	       || rollup_last_error || ' ' || (rollup_next_retry_at IS NULL)
	  FROM metrics_rollup.stats}),
	'2 shutdown requested (exit code 1) 1 injected rollup failure true',
	'stats: restart visible, the hour still pending, the error shown, no retry pending');
$node->poll_query_until('postgres', q{
	SELECT count(*) = 3 FROM metrics_rollup.job_history WHERE job = 'rollup' AND started_at >
	       (SELECT max(started_at) FROM metrics_rollup.job_history WHERE status = 'ok' AND job = 'rollup')})
  or die 'history of the given-up run missing';
is($node->safe_psql('postgres', q{
	SELECT string_agg(status || ':' || attempt, ' ' ORDER BY started_at)
	  FROM metrics_rollup.job_history WHERE job = 'rollup' AND started_at >
	       (SELECT max(started_at) FROM metrics_rollup.job_history WHERE status = 'ok' AND job = 'rollup')}),
	'failed:1 failed:2 gave_up:3', 'job_history: two failures, then gave_up');
sleep 2;
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM metrics_rollup.job_history WHERE job = 'rollup' AND status = 'gave_up'}),
	'1', 'after giving up no more tries until the next scheduled run');

# Fixed: the next run (a restart's catch-up here) rolls the hour up.
$node->safe_psql('postgres', 'DROP TRIGGER fail_rollup ON metrics_rollup.hourly_metrics');
$pid = $node->safe_psql('postgres', 'SELECT worker_pid FROM metrics_rollup.stats');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
$node->poll_query_until('postgres', q{
	SELECT backfill_hours_pending = 0 AND rollup_last_status = 'ok' FROM metrics_rollup.stats})
  or die 'not rolled up after the fix';
is($node->safe_psql('postgres', q{
	SELECT sum(total_count) FROM metrics_rollup.hourly_metrics}), '37',
	'the pending hour was rolled up by the next run');
$node->stop;
done_testing();
