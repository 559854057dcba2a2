# Poison events: a CHECK constraint that rejects 1 event in 10,000 does not
# block or lose the others; the one is in rejected_events and the counters
# agree.  And job_history stays bounded (1000 rows per job) after 1100 runs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;

my $node = mr_node('poison', q{
metrics_rollup.flush_interval = '1h'
metrics_rollup.rollup_enabled = off
metrics_rollup.cleanup_enabled = off
});
$node->safe_psql('postgres', q{
	CREATE EXTENSION metrics_rollup;
	ALTER TABLE metrics_rollup.raw_metrics
	    ADD CONSTRAINT sane_response_time CHECK (response_time < 1000);
});
mr_wait_worker($node);

# 10,000 events, event 7777 is poison
$node->safe_psql('postgres', q{
	SELECT metrics_rollup.record_batch('poison', array_agg('e' || i),
	       array_agg(CASE WHEN i = 7777 THEN 5000 ELSE i * 0.001 END),
	       array_agg(i % 3 <> 0), array_agg(CASE WHEN i % 3 = 0 THEN 'err ' || i END))
	  FROM generate_series(1, 10000) i});
# flush() returns 10000 unless the worker's first run (at the moment it sees
# the extension) took the batch first: either way nothing may stay pending
$node->safe_psql('postgres', 'SELECT metrics_rollup.flush()');
is($node->safe_psql('postgres', 'SELECT events_pending FROM metrics_rollup.stats'), '0',
	'after flush() nothing is pending');
is($node->safe_psql('postgres', q{
	SELECT count(*) || ' ' || sum(response_time)::numeric(14,3) || ' ' || count(error_message)
	  FROM metrics_rollup.raw_metrics WHERE kind = 'poison'}),
	$node->safe_psql('postgres', q{
	SELECT count(*) || ' ' || sum(i * 0.001)::numeric(14,3) || ' ' || count(*) FILTER (WHERE i % 3 = 0)
	  FROM generate_series(1, 10000) i WHERE i <> 7777}),
	'the 9,999 good events landed (count, sum and error messages agree with the oracle)');
is($node->safe_psql('postgres', q{
	SELECT kind, entity_id, response_time, success, reject_sqlstate, reject_message LIKE '%sane_response_time%'
	  FROM metrics_rollup.rejected_events}),
	'poison|e7777|5000|t|23514|t', 'the poison event is in rejected_events with its SQLSTATE');
is($node->safe_psql('postgres', q{
	SELECT events_buffered || ' ' || events_flushed || ' ' || events_dead_lettered || ' ' || events_pending
	  FROM metrics_rollup.stats}),
	'10000 9999 1 0', 'counters agree: buffered = flushed + dead-lettered, nothing pending');
ok($node->log_contains('moved 1 rejected events to metrics_rollup.rejected_events'),
	'the dead letter is logged');

# A bounded history: more than 1100 flush runs leave the newest 1000 rows.
# A flush run drains until the buffer is empty, so a short pause after each
# flush() lets the run end before the next event.
$node->safe_psql('postgres', q{
	DO $$
	DECLARE
	    n integer := 0;
	BEGIN
	    WHILE n < 5000 AND (SELECT coalesce(max(id), 0) FROM metrics_rollup.job_runs) <= 1100 LOOP
	        PERFORM metrics_rollup.record('hist', 'e', 0.001, true);
	        PERFORM metrics_rollup.flush();
	        PERFORM pg_sleep(0.005);
	        n := n + 1;
	    END LOOP;
	END $$});
sleep 1;
is($node->safe_psql('postgres', q{
	SELECT count(*) || ' ' || (max(id) > 1100) || ' ' || (min(id) = max(id) - 999) || ' ' || bool_and(rows < 9999)
	  FROM metrics_rollup.job_runs WHERE job = 'flush'}),
	'1000 true true true',
	'job_history keeps the newest 1000 of more than 1100 flush runs (the 9,999-row run is gone)');
$node->stop;
done_testing();
