# Cleanup against a real server: concurrent ingest during a large cleanup,
# and a fixed-seed interleaving of ingest, rollup and cleanup that must keep
# every event counted exactly once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = mr_node('cleanup', q{
metrics_rollup.flush_interval = '50ms'
metrics_rollup.rollup_enabled = off
metrics_rollup.cleanup_enabled = off
metrics_rollup.cleanup_batch_size = 5000
});
$node->safe_psql('postgres', 'CREATE EXTENSION metrics_rollup');

# --- 1. A large expired set cleaned while sessions record --------------------
$node->safe_psql('postgres', q{
	INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
	SELECT 'old', 'e' || (g % 100), now() - interval '10 days' - (g % 48) * interval '1 hour', g % 7, true
	  FROM generate_series(1, 300000) g});
$node->safe_psql('postgres', 'SELECT metrics_rollup.run_rollup()');

# the load: 2 clients recording for a fixed number of transactions each
my $script = $node->basedir . '/record.sql';
PostgreSQL::Test::Utils::append_to_file($script,
	"SELECT metrics_rollup.record('live', 'e' || (random() * 9)::int, 0.01, true);\n");
my ($out, $err) = ('', '');
my $pgbench = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '2', '-j', '2', '-t', '20000', '-f', $script,
	  '-h', $node->host, '-p', $node->port, 'postgres' ],
	'>', \$out, '2>', \$err);

# the cleanup, in its own session, while a third one watches the flushes
my $cleanup = $node->background_psql('postgres');
$cleanup->query_until(qr/started/, "\\echo started\nSELECT * FROM metrics_rollup.run_cleanup();\n\\echo done\n");
my $longest_ms = 0;
my $seen_flushes = 0;
my $deadline = time + 120;
while (time < $deadline)
{
	my ($ms, $count) = split /\|/, $node->safe_psql('postgres',
		"SELECT coalesce(extract(epoch FROM last_flush_duration) * 1000, 0), flush_count FROM metrics_rollup.stats");
	$longest_ms = $ms if $ms > $longest_ms;
	$seen_flushes = $count;
	$cleanup->{run}->pump_nb;
	last if $cleanup->{stdout} =~ /done/;
	usleep(20_000);
}
like($cleanup->{stdout}, qr/raw_metrics\|300000/, 'cleanup deleted every expired raw row');
$cleanup->quit;
$pgbench->finish;
is($?, 0, 'pgbench finished') or diag($err);
$node->safe_psql('postgres', 'SELECT metrics_rollup.flush()');
is($node->safe_psql('postgres', "SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = 'live'"),
	'40000', 'every event recorded during the cleanup landed');
is($node->safe_psql('postgres', "SELECT sum(total_count) FROM metrics_rollup.hourly_metrics WHERE kind = 'old'"),
	'300000', 'the cleaned events are still counted in their hours');
note(sprintf('longest flush seen during cleanup: %.1f ms (%d flushes)', $longest_ms, $seen_flushes));
cmp_ok($seen_flushes, '>', 0, 'the worker kept flushing during cleanup');

# --- 2. Random interleaving of ingest, rollup and cleanup --------------------
# A shadow table keeps every event sent; hours span 10 days back, so the
# retention cutoff (7 days) and delete-after-rollup both delete rows.
$node->safe_psql('postgres', q{
	TRUNCATE metrics_rollup.raw_metrics, metrics_rollup.hourly_metrics, metrics_rollup.rollup_dirty;
	CREATE TABLE shadow (kind text, entity_id text, recorded_at timestamptz, response_time float8, success bool)});
srand(20261123);
my $sent = 0;
for my $step (1 .. 60)
{
	my $r = rand();
	if ($r < 0.6)
	{
		my $n = 50 + int(rand(400));
		my $hours_back = int(rand(240));
		my $seed = $step / 100.0;
		$node->safe_psql('postgres', qq{
			SELECT setseed($seed);
			CREATE TEMP TABLE b AS
			SELECT 'tool' AS kind, 'e' || (random() * 5)::int AS entity_id,
			       date_trunc('hour', now(), 'UTC') - interval '$hours_back hours'
			         + random() * interval '59 minutes' AS recorded_at,
			       round((random() * 2)::numeric, 4)::float8 AS response_time, random() > 0.1 AS success
			  FROM generate_series(1, $n);
			INSERT INTO shadow SELECT * FROM b;
			SELECT metrics_rollup.record_batch('tool', array_agg(entity_id), array_agg(response_time),
			         array_agg(success), NULL, NULL, array_agg(recorded_at)) FROM b;
			SELECT metrics_rollup.flush();});
		$sent += $n;
	}
	elsif ($r < 0.8)
	{
		$node->safe_psql('postgres', 'SELECT metrics_rollup.run_rollup()');
	}
	else
	{
		$node->safe_psql('postgres', 'SELECT metrics_rollup.run_cleanup()');
	}
}
$node->safe_psql('postgres', 'SELECT metrics_rollup.run_cleanup()');
$node->safe_psql('postgres', 'SELECT metrics_rollup.run_rollup()');
cmp_ok($node->safe_psql('postgres',
		"SELECT count(*) FROM metrics_rollup.hourly_metrics WHERE NOT raw_complete"), '>', 0,
	'some hours were partly cleaned (the merge path ran)');
is(mr_hourly_mismatches($node, 'shadow'),
	'0', "all $sent events counted exactly once in their hours (counts, min, max, sum)");
is($node->safe_psql('postgres', q{
	SELECT count(*)
	  FROM (SELECT entity_id, date_trunc('hour', recorded_at, 'UTC') AS hour_start,
	               percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time) AS d
	          FROM shadow GROUP BY 1, 2) s
	  JOIN metrics_rollup.hourly_metrics h USING (entity_id, hour_start)
	 WHERE NOT h.percentiles_exact
	   AND (abs(h.p50_response_time - s.d[1]) > 0.01 * s.d[1] + 1e-12
	     OR abs(h.p95_response_time - s.d[2]) > 0.01 * s.d[2] + 1e-12
	     OR abs(h.p99_response_time - s.d[3]) > 0.01 * s.d[3] + 1e-12)}),
	'0', 'merged hours: percentiles within 1% of percentile_disc');

$node->stop;
done_testing();
