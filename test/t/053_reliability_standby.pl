# A hot standby: the worker runs there but idles (no flush, no rollup) and
# record() fails with 25006 and a HINT; after promotion, without a restart,
# the same worker flushes and rolls up.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;

my $primary = mr_node('primary', q{
metrics_rollup.flush_interval = '100ms'
metrics_rollup.cleanup_enabled = off
}, init => {allows_streaming => 1});
$primary->safe_psql('postgres', q{
	BEGIN;
	CREATE EXTENSION metrics_rollup;
	INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
	SELECT 'tool', 'e' || i % 4, '2026-02-01 00:00:00+00'::timestamptz + i * interval '1 minute', i * 0.01, true
	  FROM generate_series(1, 200) i;
	COMMIT;
});
# the primary's own catch-up rollup would run at once: stop it first
$primary->safe_psql('postgres',
	"ALTER SYSTEM SET metrics_rollup.rollup_enabled = off; SELECT pg_reload_conf()");
mr_wait_worker($primary);
$primary->safe_psql('postgres', q{
	TRUNCATE metrics_rollup.hourly_metrics;
	INSERT INTO metrics_rollup.rollup_dirty (kind, entity_id, hour_start)
	SELECT DISTINCT kind, entity_id, date_trunc('hour', recorded_at, 'UTC') FROM metrics_rollup.raw_metrics
	ON CONFLICT DO NOTHING;
	ALTER SYSTEM RESET metrics_rollup.rollup_enabled;
});
$primary->backup('bk');
# the standby starts with rollup enabled (postgresql.auto.conf was reset)
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);
$primary->stop;

$standby->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'metrics_rollup worker'")
  or die 'no worker on the standby';
pass('the worker runs on the standby');
my ($ret, $out, $err) = $standby->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT metrics_rollup.record('tool', 'x', 0.1, true)");
isnt($ret, 0, 'record() fails on a standby');
like($err, qr/ERROR:  25006: record\(\) cannot run during recovery/, 'with SQLSTATE 25006');
like($err, qr/HINT:  Record events on the primary server/, 'and a HINT');
sleep 2;
is($standby->safe_psql('postgres', q{
	SELECT flush_runs || ' ' || rollup_runs || ' ' || cleanup_runs || ' ' || backfill_hours_pending
	  FROM metrics_rollup.stats}),
	'0 0 0 4', 'the worker idles in recovery: no job ran, hours stay pending');
my $pid = $standby->safe_psql('postgres', 'SELECT worker_pid FROM metrics_rollup.stats');

$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'not promoted';
$standby->safe_psql('postgres', q{SELECT metrics_rollup.record('after', 'x', 0.5, true)});
# flush() may find the event already flushed by the worker: count the rows
$standby->safe_psql('postgres', 'SELECT metrics_rollup.flush()');
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = 'after'"),
	'1', 'after promotion record() works and the worker flushes');
$standby->poll_query_until('postgres', q{
	SELECT rollup_runs >= 1 AND rollup_last_status = 'ok' FROM metrics_rollup.stats})
  or die 'no rollup after promotion';
is($standby->safe_psql('postgres', q{
	SELECT sum(total_count) FROM metrics_rollup.hourly_metrics WHERE kind = 'tool'}),
	'200', 'the catch-up rollup after promotion rolled up the replicated hours');
is($standby->safe_psql('postgres', 'SELECT worker_pid || \' \' || worker_starts FROM metrics_rollup.stats'),
	"$pid 1", 'the same worker did it, without a restart');
$standby->stop;
done_testing();
