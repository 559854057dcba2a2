# The rollup invariant: every event is counted in its hour exactly once,
# whatever the order of inserts (some for old hours), rollups, deletions of
# raw rows, restarts and pauses.  A shadow table keeps every event sent.
# Also: one runner at a time, and a rollup racing an uncommitted insert.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;
use Time::HiRes qw(usleep);

# the test decides when rollup and cleanup run, not the worker's schedule
my $node = mr_node('rollup', q{
metrics_rollup.rollup_enabled = off
metrics_rollup.cleanup_enabled = off
});
$node->safe_psql('postgres', q{
	CREATE EXTENSION metrics_rollup;
	CREATE TABLE shadow (LIKE metrics_rollup.raw_metrics);
});

# --- a fixed-seed random interleaving ---------------------------------------
srand(20260101);
my $base = '2026-01-01 00:00:00+00';
my %done = (insert => 0, rollup => 0, delete => 0, restart => 0, crash => 0);

# One batch: events spread over 12 hours (old ones included) and 6 entities;
# raw rows and shadow rows are written by the same statement.
sub insert_batch
{
	my $n = 20 + int(rand(200));
	my $hours = 1 + int(rand(12));
	my @rows;
	for (1 .. $n)
	{
		my $sec = int(rand($hours * 3600));
		my $rt = sprintf('%.6f', rand() < 0.05 ? rand(30) : rand(1)**2);
		my $ok = rand() < 0.85 ? 'true' : 'false';
		my $e = 'e' . int(rand(6));
		my $name = rand() < 0.3 ? 'NULL' : "'name " . int(rand(5)) . "'";
		push @rows, "('tool', '$e', $name, '$base'::timestamptz + interval '$sec seconds', $rt, $ok)";
	}
	$node->safe_psql('postgres',
		"WITH ins AS (INSERT INTO metrics_rollup.raw_metrics"
		  . " (kind, entity_id, entity_name, recorded_at, response_time, success) VALUES "
		  . join(',', @rows)
		  . " RETURNING *) INSERT INTO shadow SELECT * FROM ins");
	$done{insert}++;
}

# Cleanup's way: delete raw rows of hours already rolled up, all of them or
# a random part (a batch limit can cut an hour in two).
sub delete_raw
{
	my $part = rand() < 0.5 ? '' : 'AND random() < 0.5';
	$node->safe_psql('postgres', qq{
		DELETE FROM metrics_rollup.raw_metrics r
		 WHERE EXISTS (SELECT 1 FROM metrics_rollup.hourly_metrics h
		                WHERE h.kind = r.kind AND h.entity_id = r.entity_id
		                  AND h.hour_start = date_trunc('hour', r.recorded_at, 'UTC'))
		   AND date_trunc('hour', r.recorded_at, 'UTC') < '$base'::timestamptz + interval '@{[int(rand(12))]} hours'
		   $part});
	$done{delete}++;
}

for my $step (1 .. 70)
{
	my $r = rand();
	if ($r < 0.40) { insert_batch(); }
	elsif ($r < 0.65) { $node->safe_psql('postgres', 'SELECT metrics_rollup.run_rollup()'); $done{rollup}++; }
	elsif ($r < 0.85) { delete_raw(); }
	elsif ($r < 0.89) { $node->restart; $done{restart}++; }
	elsif ($r < 0.92) { $node->stop('immediate'); $node->start; $done{crash}++; }
	else { usleep(int(rand(300_000))); }
}
$node->safe_psql('postgres', 'SELECT metrics_rollup.run_rollup()');
note(join(', ', map { "$_: $done{$_}" } sort keys %done));
ok($done{insert} > 10 && $done{rollup} > 5 && $done{delete} > 5 && $done{restart} + $done{crash} > 0,
	'the interleaving exercised inserts, rollups, deletions and restarts');

# --- every hour equals the shadow table --------------------------------------
is(mr_hourly_mismatches($node, 'shadow'),
	'0', 'counts, successes, failures, sums, min and max equal the shadow table, every hour');

is($node->safe_psql('postgres', 'SELECT count(*) FROM metrics_rollup.rollup_dirty'),
	'0', 'nothing is left dirty');
my ($exact, $merged) = split /\|/, $node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE percentiles_exact), count(*) FILTER (WHERE NOT percentiles_exact)
	  FROM metrics_rollup.hourly_metrics});
note("hours with exact percentiles: $exact, merged: $merged");
ok($exact > 0 && $merged > 0, 'both complete and merged hours exist');

# percentile_cont over the shadow rows of each hour
my $pct = q{
	WITH s AS (
	  SELECT kind, entity_id, date_trunc('hour', recorded_at, 'UTC') AS hour_start,
	         percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time) AS c,
	         percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time) AS d
	    FROM shadow GROUP BY 1, 2, 3)
	SELECT count(*) FROM s JOIN metrics_rollup.hourly_metrics h USING (kind, entity_id, hour_start)
};
is($node->safe_psql('postgres', $pct . q{
	 WHERE h.percentiles_exact
	   AND (abs(h.p50_response_time - c[1]) > 1e-9 * c[1] OR abs(h.p95_response_time - c[2]) > 1e-9 * c[2]
	        OR abs(h.p99_response_time - c[3]) > 1e-9 * c[3])}),
	'0', 'complete hours: percentiles equal percentile_cont of the shadow rows');
# merged hours: from the sketch, within its relative accuracy (1%) of the
# value at rank ceil(q * n), which is percentile_disc
is($node->safe_psql('postgres', $pct . q{
	 WHERE NOT h.percentiles_exact
	   AND (h.p50_response_time IS NULL
	        OR abs(h.p50_response_time - d[1]) > 0.01 * d[1]
	        OR abs(h.p95_response_time - d[2]) > 0.01 * d[2]
	        OR abs(h.p99_response_time - d[3]) > 0.01 * d[3])}),
	'0', 'merged hours: percentiles within 1% of percentile_disc of the shadow rows');

# --- one runner at a time: a second caller waits ----------------------------
$node->safe_psql('postgres', q{
	INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
	VALUES ('lock', 'a', '2026-02-01 00:10:00+00', 1, true)});
my $first = $node->background_psql('postgres');
$first->query_safe('BEGIN');
$first->query_safe('SELECT metrics_rollup.run_rollup()');
my $second = $node->background_psql('postgres');
$second->query_until(qr/started/, q{
	\echo started
	SELECT hours_processed FROM metrics_rollup.run_rollup();
});
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted}),
	'a second run_rollup waits for the advisory lock of the first');
$first->query_safe('COMMIT');
$first->quit;
$second->quit;
is($node->safe_psql('postgres', "SELECT total_count FROM metrics_rollup.hourly_metrics WHERE kind = 'lock'"),
	'1', 'the first run wrote the hour, the second found nothing left');

# --- a rollup racing an uncommitted insert into a dirty group ----------------
# Dirty marks are append-only: the rollup does not wait for the writer.  It
# rolls up what is committed and deletes only the marks it saw; the
# writer's own mark commits with its row, so the next rollup adds it.
$node->safe_psql('postgres', q{
	INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
	VALUES ('race', 'a', '2026-02-01 00:10:00+00', 1, true)});
my $writer = $node->background_psql('postgres');
$writer->query_safe('BEGIN');
$writer->query_safe(q{
	INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
	VALUES ('race', 'a', '2026-02-01 00:20:00+00', 2, true)});
is($node->safe_psql('postgres', 'SELECT hours_processed FROM metrics_rollup.run_rollup()', timeout => 30),
	'1', 'the rollup does not wait for the writer of an uncommitted row of a dirty group');
$writer->query_safe('COMMIT');
$writer->quit;
is($node->safe_psql('postgres', q{
	SELECT total_count || ' counted, ' || (SELECT count(*) FROM metrics_rollup.rollup_dirty WHERE kind = 'race') || ' dirty'
	  FROM metrics_rollup.hourly_metrics WHERE kind = 'race'}),
	'1 counted, 1 dirty', 'it counted the committed row; the writer\'s mark outlived it');
$node->safe_psql('postgres', 'SELECT metrics_rollup.run_rollup()');
is($node->safe_psql('postgres', q{
	SELECT total_count || ' counted, ' || (SELECT count(*) FROM metrics_rollup.rollup_dirty WHERE kind = 'race') || ' dirty'
	  FROM metrics_rollup.hourly_metrics WHERE kind = 'race'}),
	'2 counted, 0 dirty', 'the next rollup adds the row committed meanwhile');

$node->stop;
done_testing();
