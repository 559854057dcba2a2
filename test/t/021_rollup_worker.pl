# The worker's rollup job, rollup_worker_run(), run through
# run_rollup_background(): one transaction per hour, oldest first, so a
# failure at one hour keeps every hour before it; then it builds the daily
# level of the ended days; rollup_enabled = off stops it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;

# the metrics_rollup worker's own scheduled rollup stays out of the way
my $node = mr_node('rollup_worker', q{metrics_rollup.enabled = off});
$node->safe_psql('postgres', q{
	CREATE EXTENSION metrics_rollup;
	-- 30 hours x 3 entities x 10 events
	INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
	SELECT 'tool', 'e' || e, '2026-01-01 00:00:00+00'::timestamptz + h * interval '1 hour' + i * interval '1 minute',
	       i * 0.1, i % 3 <> 0
	  FROM generate_series(0, 29) h, generate_series(1, 3) e, generate_series(1, 10) i;
	-- the rollup of hour 15 fails (not with a data error: that would only
	-- set the group aside, see sql/hardening.sql)
	CREATE FUNCTION fail_hour_15() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
	    IF NEW.hour_start = '2026-01-01 15:00:00+00' THEN
	        RAISE EXCEPTION 'injected failure at hour 15' USING ERRCODE = 'disk_full';
	    END IF;
	    RETURN NEW;
	END $$;
	CREATE TRIGGER fail_hour_15 BEFORE INSERT ON metrics_rollup.hourly_metrics
	    FOR EACH ROW EXECUTE FUNCTION fail_hour_15();
});

# Start the job and wait for its worker to exit.
sub run_job
{
	my $log_offset = -s $node->logfile;
	my $pid = $node->safe_psql('postgres', 'SELECT metrics_rollup.run_rollup_background()');
	ok($pid > 0, 'the rollup worker started');
	$node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid")
	  or die 'the rollup worker did not finish';
	return $log_offset;
}

my $offset = run_job();
ok($node->log_contains('injected failure at hour 15', $offset), 'the failure reached the log');
is($node->safe_psql('postgres', q{
	SELECT count(DISTINCT hour_start) || ' hours, ' || min(hour_start) || ' to ' || max(hour_start)
	  FROM metrics_rollup.hourly_metrics}),
	'15 hours, 2026-01-01 00:00:00+00 to 2026-01-01 14:00:00+00',
	'hours 0 to 14 were committed before hour 15 failed');
is($node->safe_psql('postgres',
		'SELECT count(DISTINCT hour_start) FROM metrics_rollup.rollup_dirty'),
	'15', 'hours 15 to 29 are still dirty');

$node->safe_psql('postgres', 'DROP TRIGGER fail_hour_15 ON metrics_rollup.hourly_metrics');
$offset = run_job();
is($node->safe_psql('postgres', q{
	SELECT count(DISTINCT hour_start) || ' hours, ' || sum(total_count) || ' events, '
	       || (SELECT count(*) FROM metrics_rollup.rollup_dirty) || ' dirty'
	  FROM metrics_rollup.hourly_metrics}),
	'30 hours, 900 events, 0 dirty', 'the next run finished the job');
ok($node->log_contains('rolled up 15 hours: 450 raw rows read, 45 hourly rows written', $offset),
	'the worker reports what it did');
# then it builds the daily level of the two (ended) days, 3 entities each
ok($node->log_contains('45 hourly rows written, 2 days built \(6 daily rows\)', $offset),
	'the worker built the daily rows of both days after the hours');
is($node->safe_psql('postgres', q{
	SELECT string_agg(day_start || ':' || entities || ':' || hours, ',' ORDER BY day_start)
	  FROM metrics_rollup.daily_built}),
	'2026-01-01 00:00:00+00:3:72,2026-01-02 00:00:00+00:3:18', 'two days built: 24 and 6 hours');
is($node->safe_psql('postgres', 'SELECT count(*) FROM metrics_rollup.daily_queue'), '0', 'nothing left queued');

# rollup_enabled = off: the job does nothing
$node->append_conf('postgresql.conf', "metrics_rollup.rollup_enabled = off\n");
$node->reload;
$node->safe_psql('postgres', q{
	INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
	VALUES ('tool', 'e1', '2026-01-02 00:10:00+00', 1, true)});
run_job();
is($node->safe_psql('postgres', 'SELECT count(*) FROM metrics_rollup.rollup_dirty'),
	'1', 'with rollup_enabled off the worker job leaves the mark');

$node->stop;
done_testing();
