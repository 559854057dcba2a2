# aggregate() and timeseries() against an oracle: a shadow copy of every
# event, filled by the same statements that fill raw_metrics.  Random events
# over three weeks for 12 entities; checked with raw rows only, after the
# rollup, after run_cleanup() deleted the raw rows older than the 7-day
# retention (those hours are then known from their rollups only), with late
# rows in those hours (dirty hours holding an archived part and raw rows),
# and after the next rollup.  Counts, successes, min, max, avg and the last
# event are exact; percentiles within alpha (0.01) of percentile_disc.
# run_rollup() also builds the daily level (daily_metrics) of every ended
# day, so whole days of the ranges come from daily rows: checked with days
# built, with days uncovered by late rows (dirty hours inside a built day),
# invalidated by a user's UPDATE of hourly rows, and kept through a cleanup
# that deletes raw rows of built days (which must not invalidate them).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;

my $node = mr_node('query', q{
metrics_rollup.rollup_enabled = off
metrics_rollup.cleanup_enabled = off
metrics_rollup.retention_days = 30
metrics_rollup.delete_raw_after_rollup_hours = 168
});

# t0: 21 days ago, at midnight UTC.  Cleanup deletes the raw rows of hours
# rolled up more than 7 days ago (delete_raw_after_rollup_hours = 168).
$node->safe_psql('postgres', q{
	CREATE EXTENSION metrics_rollup;
	CREATE TABLE shadow (LIKE metrics_rollup.raw_metrics);
	CREATE TABLE t0 AS SELECT date_trunc('day', now(), 'UTC') - interval '21 days' AS t0;
	-- n random events from day "from" over "days" days, in raw_metrics and shadow
	CREATE FUNCTION send(n int, from_day float8, days float8, seed float8) RETURNS void LANGUAGE sql AS $$
	  SELECT setseed(seed);
	  WITH batch AS (
	  SELECT 'tool'::text AS kind, 'e' || (random() * 11)::int AS entity_id,
	         CASE WHEN random() < 0.3 THEN NULL ELSE 'name ' || (random() * 4)::int END AS entity_name,
	         t0 + (from_day + random() * days) * interval '1 day' AS recorded_at,
	         round((CASE WHEN random() < 0.05 THEN random() * 30 ELSE random() ^ 3 END)::numeric, 6)::float8 AS response_time,
	         random() < 0.9 AS success
	    FROM t0, generate_series(1, n)),
	  ins AS (INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, entity_name, recorded_at, response_time, success)
	          SELECT * FROM batch)
	  INSERT INTO shadow (kind, entity_id, entity_name, recorded_at, response_time, success)
	  SELECT * FROM batch;
	$$;
	-- rows of aggregate('tool', NULL, lo, hi) that differ from the oracle
	CREATE FUNCTION check_range(lo timestamptz, hi timestamptz, OUT compared bigint, OUT wrong bigint)
	LANGUAGE sql AS $$
	  WITH o AS (
	    SELECT entity_id, count(*) AS n, count(*) FILTER (WHERE success) AS ok,
	           min(response_time) AS mn, max(response_time) AS mx,
	           (sum(round(response_time::numeric, 9)) / count(*))::float8 AS avg,
	           percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time) AS p,
	           max(recorded_at) AS last_at
	      FROM shadow
	     WHERE recorded_at >= coalesce(lo, '-infinity') AND recorded_at < coalesce(hi, 'infinity')
	     GROUP BY entity_id)
	  SELECT count(*), count(*) FILTER (WHERE a.entity_id IS NULL OR o.entity_id IS NULL
	      OR (a.total_count, a.success_count, a.failure_count, a.min_response_time,
	          a.max_response_time, a.avg_response_time, a.last_recorded_at)
	         IS DISTINCT FROM (o.n, o.ok, o.n - o.ok, o.mn, o.mx, o.avg, o.last_at)
	      OR NOT (abs(a.p50_response_time - o.p[1]) <= 0.01 * o.p[1] * (1 + 1e-9)
	          AND abs(a.p95_response_time - o.p[2]) <= 0.01 * o.p[2] * (1 + 1e-9)
	          AND abs(a.p99_response_time - o.p[3]) <= 0.01 * o.p[3] * (1 + 1e-9)))
	    FROM metrics_rollup.aggregate('tool', NULL, lo, hi) a
	    FULL JOIN o USING (entity_id)
	$$;
	-- the same, one entity at a time (the other code path)
	CREATE FUNCTION check_entities(lo timestamptz, hi timestamptz, OUT compared bigint, OUT wrong bigint)
	LANGUAGE sql AS $$
	  SELECT count(*), count(*) FILTER (WHERE (a.total_count, a.success_count, a.min_response_time,
	                                           a.max_response_time, a.avg_response_time, a.p99_response_time)
	                                          IS DISTINCT FROM
	                                          (b.total_count, b.success_count, b.min_response_time,
	                                           b.max_response_time, b.avg_response_time, b.p99_response_time))
	    FROM metrics_rollup.aggregate('tool', NULL, lo, hi) a,
	         metrics_rollup.aggregate('tool', a.entity_id, lo, hi) b
	$$;
	-- daily and hourly buckets against the oracle per day, and against aggregate()
	CREATE FUNCTION check_buckets(OUT compared bigint, OUT wrong bigint)
	LANGUAGE sql AS $$
	  WITH o AS (
	    SELECT date_trunc('day', recorded_at, 'UTC') AS d, count(*) AS n,
	           count(*) FILTER (WHERE NOT success) AS failures,
	           (sum(round(response_time::numeric, 9)) / count(*))::float8 AS avg,
	           percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time) AS p
	      FROM shadow, t0 WHERE recorded_at >= t0 AND recorded_at < t0 + interval '22 days' GROUP BY 1),
	  t AS (SELECT ts.* FROM t0, metrics_rollup.timeseries('tool', NULL, t0, t0 + interval '22 days', '1 day') ts),
	  h AS (SELECT date_trunc('day', ts.bucket_start, 'UTC') AS d, sum(ts.total_count) AS n,
	               sum(ts.failure_count) AS failures
	          FROM t0, metrics_rollup.timeseries('tool', NULL, t0, t0 + interval '22 days') ts GROUP BY 1)
	  SELECT count(*), count(*) FILTER (WHERE o.d IS NULL OR t.bucket_start IS NULL
	      OR (t.total_count, t.failure_count, t.avg_response_time) IS DISTINCT FROM (o.n, o.failures, o.avg)
	      OR (h.n, h.failures) IS DISTINCT FROM (o.n, o.failures)
	      OR NOT (abs(t.p50_response_time - o.p[1]) <= 0.01 * o.p[1] * (1 + 1e-9)
	          AND abs(t.p95_response_time - o.p[2]) <= 0.01 * o.p[2] * (1 + 1e-9)
	          AND abs(t.p99_response_time - o.p[3]) <= 0.01 * o.p[3] * (1 + 1e-9)))
	    FROM t FULL JOIN o ON o.d = t.bucket_start LEFT JOIN h ON h.d = t.bucket_start
	   WHERE t.total_count IS DISTINCT FROM 0
	$$;
});

# Ranges: unbounded, whole hours across days, and ranges that cut hours.
# The cutting ones are checked only while the cut hours keep all their raw
# rows (an hour known from its rollup only counts whole, by hour_start).
my @whole = (
	[ 'NULL', 'NULL' ],
	[ "t0 + interval '1 day'", "t0 + interval '8 days 5 hours'" ],
	[ "t0 + interval '3 days 7 hours'", "t0 + interval '19 days'" ],
	[ "t0 + interval '15 days'", 'NULL' ],
	[ 'NULL', "t0 + interval '2 days 3 hours'" ],
	[ "t0 + interval '10 days 4 hours'", "t0 + interval '10 days 5 hours'" ]);
my @cut = (
	[ "t0 + interval '15 days 3 hours 17 minutes'", "t0 + interval '18 days 22 hours 41 minutes'" ],
	[ "t0 + interval '16 days 5 hours 10 minutes'", "t0 + interval '16 days 5 hours 50 minutes'" ],
	[ "t0 + interval '15 days 59 minutes 59.5 seconds'", 'NULL' ]);

sub check_all
{
	my ($label, @ranges) = @_;
	for my $r (@ranges)
	{
		my ($lo, $hi) = @$r;
		my $res = $node->safe_psql('postgres',
			"SELECT c.compared, c.wrong FROM t0, check_range($lo, $hi) c");
		my ($compared, $wrong) = split /\|/, $res;
		ok($compared > 0 && $wrong == 0, "$label: aggregate() over [$lo, $hi) matches the oracle")
		  or diag("compared $compared, wrong $wrong");
	}
	my $res = $node->safe_psql('postgres',
		"SELECT sum(c.compared), sum(c.wrong) FROM t0, LATERAL (VALUES "
		  . join(', ', map { "($_->[0], $_->[1])" } @ranges)
		  . ") r(lo, hi), check_entities(r.lo, r.hi) c");
	my ($compared, $wrong) = split /\|/, $res;
	ok($compared > 0 && $wrong == 0, "$label: one entity at a time gives the same rows")
	  or diag("compared $compared, wrong $wrong");
	$res = $node->safe_psql('postgres', "SELECT compared, wrong FROM check_buckets()");
	($compared, $wrong) = split /\|/, $res;
	ok($compared > 0 && $wrong == 0, "$label: timeseries() by day and by hour matches the oracle per day")
	  or diag("compared $compared, wrong $wrong");
}

# three weeks of events, plus a dense last day
$node->safe_psql('postgres', "SELECT send(30000, 0, 21, 0.11), send(5000, 20, 1, 0.12)");

check_all('raw only', @whole, @cut);

my $rolled = $node->safe_psql('postgres', "SELECT hours_processed FROM metrics_rollup.run_rollup()");
ok($rolled > 400, "the rollup processed every hour ($rolled)");
# every ended day of the three weeks is built (today's, if any, is not over)
my $built_sql = "SELECT count(*) FROM metrics_rollup.daily_built, t0 WHERE day_start < t0 + interval '21 days'";
# which days are built, and by which build (built_at)
my $built_days_sql = "SELECT string_agg(day_start::text || ':' || built_at::text, ',' ORDER BY day_start) FROM metrics_rollup.daily_built";
is($node->safe_psql('postgres', $built_sql), '21', 'the rollup built the daily rows of every ended day');
check_all('rolled up, raw rows kept, days built', @whole, @cut);

# a user's UPDATE of hourly rows' figures invalidates their day: counted
# through the hourly rows until the next rollup rebuilds it
$node->safe_psql('postgres', q{
	UPDATE metrics_rollup.hourly_metrics SET entity_name = 'edited'
	  FROM t0 WHERE hour_start = t0 + interval '9 days 23 hours'});
is($node->safe_psql('postgres', $built_sql), '20', 'an UPDATE of hourly rows invalidates their day');
check_all('a day invalidated by an UPDATE', @whole);
$node->safe_psql('postgres', "SELECT metrics_rollup.run_rollup()");
is($node->safe_psql('postgres', $built_sql), '21', 'the next rollup rebuilds it');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM metrics_rollup.daily_metrics, t0
	 WHERE day_start = t0 + interval '9 days' AND entity_name = 'edited'}) > 0 ? 'yes' : 'no', 'yes',
	'from the edited hourly rows');
my $built_before_cleanup = $node->safe_psql('postgres', $built_days_sql);

# cleanup: raw rows of hours rolled up more than 7 days ago go (into their
# hourly rows)
my $deleted = 0;
for (1 .. 10)
{
	my $d = $node->safe_psql('postgres',
		"SELECT rows_deleted FROM metrics_rollup.run_cleanup() WHERE relation = 'metrics_rollup.raw_metrics'");
	$deleted += $d;
	last if $d == 0;
	# a batch's deletions mark their hours dirty, which keeps the rest of
	# those hours' raw rows from the next batches until the next rollup
	$node->safe_psql('postgres', "SELECT metrics_rollup.run_rollup()");
}
my $kept = $node->safe_psql('postgres',
	"SELECT count(*) FROM metrics_rollup.raw_metrics, t0 WHERE recorded_at < t0 + interval '7 days'");
ok($deleted > 10000 && $kept == 0, "cleanup deleted the raw rows of the first week at least ($deleted)")
  or diag("raw rows left in the first week: $kept");
is($node->safe_psql('postgres', $built_days_sql), $built_before_cleanup,
	'cleanup deleting raw rows of built days (and the rollups between its runs) leaves every day built, none rebuilt');
check_all('after cleanup', @whole, @cut);

# late rows in hours known from their rollups only, and in kept hours
$node->safe_psql('postgres', "SELECT send(400, 2, 10, 0.13), send(200, 16, 3, 0.14)");
my $dirty = $node->safe_psql('postgres',
	"SELECT count(*) FROM metrics_rollup.rollup_dirty d JOIN metrics_rollup.hourly_metrics h USING (kind, entity_id, hour_start) WHERE NOT h.raw_complete");
ok($dirty > 0, "some dirty hours hold an archived part and raw rows ($dirty)");
is($node->safe_psql('postgres', $built_days_sql), $built_before_cleanup,
	'late raw rows leave the days built (their dirty hours uncover them at query time)');
check_all('late rows, not rolled up', @whole, @cut);

$node->safe_psql('postgres', "SELECT metrics_rollup.run_rollup()");
is($node->safe_psql('postgres', $built_sql), '21', 'the rollup of the late rows rebuilt their days');
isnt($node->safe_psql('postgres', $built_days_sql), $built_before_cleanup, 'a new build');
check_all('late rows rolled up', @whole, @cut);

# an entity renamed between hours appears once, under its latest name
$node->safe_psql('postgres', q{
	INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, entity_name, recorded_at, response_time, success)
	SELECT 'tool', 'e3', 'renamed', t0 + interval '21 days', 0.5, true FROM t0;
});
is($node->safe_psql('postgres',
		"SELECT count(*) || ' ' || max(entity_name) FROM metrics_rollup.aggregate('tool') WHERE entity_id = 'e3'"),
	'1 renamed', 'a renamed entity appears once under its latest name');

$node->stop;
done_testing();
