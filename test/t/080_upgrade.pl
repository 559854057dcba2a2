# ALTER EXTENSION metrics_rollup UPDATE from 1.0 gives the same objects as a
# fresh install of the default version, and keeps the data.
#
# Two databases of one server: "fresh" runs CREATE EXTENSION (default
# version), "upgraded" runs CREATE EXTENSION ... VERSION '1.0', gets data,
# then ALTER EXTENSION ... UPDATE.  Each is described object by object
# (test/upgrade_catalog.sql: definitions, columns in order, constraints,
# indexes, triggers, comments, privileges, dump configuration) and the two
# descriptions must be equal line for line.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;
use File::Basename qw(dirname);

my $catalog_sql = slurp_file(dirname(__FILE__) . '/../upgrade_catalog.sql');

my $node = mr_node('upgrade', q{
metrics_rollup.rollup_enabled = off
metrics_rollup.cleanup_enabled = off
}, database => 'upgraded');
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('postgres', 'CREATE DATABASE upgraded');

my $default = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'metrics_rollup'});
$node->safe_psql('fresh', 'CREATE EXTENSION metrics_rollup');
is($node->safe_psql('fresh',
	q{SELECT extversion FROM pg_extension WHERE extname = 'metrics_rollup'}),
	$default, "a fresh install is the default version ($default)");
isnt($default, '1.0', 'the default version is past 1.0');

# --- 1.0 with data in every table ---------------------------------------------
$node->safe_psql('upgraded', q{CREATE EXTENSION metrics_rollup VERSION '1.0'});
is($node->safe_psql('upgraded',
	q{SELECT extversion FROM pg_extension WHERE extname = 'metrics_rollup'}),
	'1.0', 'version 1.0 installs');
$node->safe_psql('upgraded', q{
	INSERT INTO metrics_rollup.raw_metrics
	       (kind, entity_id, entity_name, recorded_at, response_time, success, error_message)
	SELECT 'tool', 'e' || (i % 7), 'Tool ' || (i % 7),
	       date_trunc('hour', now(), 'UTC') - interval '3 days' + i * interval '50 seconds',
	       0.001 * ((i * 7919) % 5003), i % 11 <> 0,
	       CASE WHEN i % 11 = 0 THEN 'timeout ' || i END
	  FROM generate_series(1, 4000) i;
	SELECT count(*) FROM metrics_rollup.run_rollup();
	-- raw rows of the oldest hours go: their events stay in hourly rows
	DELETE FROM metrics_rollup.raw_metrics
	 WHERE recorded_at < date_trunc('hour', now(), 'UTC') - interval '2 days 12 hours';
	-- a late row leaves a dirty mark behind
	INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
	VALUES ('tool', 'e1', date_trunc('hour', now(), 'UTC') - interval '2 days', 0.5, true);
});
# Everything but the percentiles: 1.2 changed their rule (percentile_disc's
# rank to percentile_cont's interpolation, both from the merged sketches);
# sql/percentiles.sql checks the new rule against percentile_cont.
my $answer_sql = q{
	SELECT a.kind, a.entity_id, a.entity_name, a.total_count, a.success_count,
	       a.failure_count, a.failure_rate, a.min_response_time, a.max_response_time,
	       a.avg_response_time, a.p50_response_time IS NOT NULL, a.last_recorded_at
	  FROM metrics_rollup.aggregate('tool') a
	 ORDER BY entity_id};

# The new library serves a 1.0 installation: its cleanup must not take the
# fast archive (the 1.0 trigger would archive the deleted rows a second time).
my $before_cleanup = $node->safe_psql('upgraded', $answer_sql);
cmp_ok($node->safe_psql('upgraded', q{
	SELECT rows_deleted FROM metrics_rollup.run_cleanup() WHERE relation LIKE '%raw_metrics'}),
	'>', 0, 'run_cleanup() on 1.0 deletes rolled-up raw rows');
is($node->safe_psql('upgraded', $answer_sql), $before_cleanup,
	'and aggregate() gives the same answer after it (each event counted once)');
my $before = $node->safe_psql('upgraded', $answer_sql);
my $counts_sql = q{
	SELECT (SELECT count(*) FROM metrics_rollup.raw_metrics) || ' ' ||
	       (SELECT count(*) FROM metrics_rollup.hourly_metrics) || ' ' ||
	       (SELECT sum(total_count) FROM metrics_rollup.hourly_metrics) || ' ' ||
	       (SELECT count(*) FROM metrics_rollup.rollup_dirty)};
my $counts_before = $node->safe_psql('upgraded', $counts_sql);
like($before, qr/^tool\|e0\|Tool 0\|/, 'aggregate() answers on 1.0');

# 1.2 re-creates sketch_agg (its state type changed): a user's view on it
# stops the update with a clear error and changes nothing
my $sketch_sql = q{
	SELECT entity_id, metrics_rollup.sketch_agg(response_time)::text,
	       metrics_rollup.sketch_agg(response_time, 0.001)::text
	  FROM metrics_rollup.raw_metrics GROUP BY entity_id ORDER BY entity_id};
my $sketches_before = $node->safe_psql('upgraded', $sketch_sql);
$node->safe_psql('upgraded', q{
	CREATE VIEW public.user_sketches AS
	SELECT entity_id, metrics_rollup.sketch_agg(response_time) s
	  FROM metrics_rollup.raw_metrics GROUP BY entity_id});
my ($rc, $out, $err) = $node->psql('upgraded', 'ALTER EXTENSION metrics_rollup UPDATE');
isnt($rc, 0, 'the update stops while a user view uses sketch_agg');
like($err, qr/cannot update sketch_agg: other objects depend on it.*view (public\.)?user_sketches/s,
	'and says which object to drop');
is($node->safe_psql('upgraded',
	q{SELECT extversion FROM pg_extension WHERE extname = 'metrics_rollup'}),
	'1.0', 'and leaves the installation at 1.0');
$node->safe_psql('upgraded', 'DROP VIEW public.user_sketches');

# --- the update ----------------------------------------------------------------
$node->safe_psql('upgraded', 'ALTER EXTENSION metrics_rollup UPDATE');
is($node->safe_psql('upgraded', $sketch_sql), $sketches_before,
	'sketch_agg (new state type) gives the bytes of 1.0\'s aggregate on the same rows');
is($node->safe_psql('upgraded',
	q{SELECT extversion FROM pg_extension WHERE extname = 'metrics_rollup'}),
	$default, "ALTER EXTENSION UPDATE reaches $default");

my @fresh = split /\n/, $node->safe_psql('fresh', $catalog_sql);
my @upgraded = split /\n/, $node->safe_psql('upgraded', $catalog_sql);
cmp_ok(scalar(@fresh), '>', 100, 'the catalog description is not empty (' . scalar(@fresh) . ' lines)');
my %in_fresh = map { $_ => 1 } @fresh;
my %in_upgraded = map { $_ => 1 } @upgraded;
my @only_fresh = grep { !$in_upgraded{$_} } @fresh;
my @only_upgraded = grep { !$in_fresh{$_} } @upgraded;
is(scalar(@only_fresh) + scalar(@only_upgraded), 0,
	'ALTER EXTENSION UPDATE from 1.0 gives the same objects as a fresh install')
  or diag(join("\n", (map { "only in fresh:    $_" } @only_fresh),
			(map { "only in upgraded: $_" } @only_upgraded)));
is_deeply(\@upgraded, \@fresh, 'and in the same order (columns, arguments)');

# --- the data survived and still answers the same ------------------------------
is($node->safe_psql('upgraded', $counts_sql), $counts_before, 'every row kept');
is($node->safe_psql('upgraded', $answer_sql), $before, 'aggregate() gives the same answer');
# the update queued every (kind, UTC day) of the hourly rows, built none yet
is($node->safe_psql('upgraded', q{
	SELECT (SELECT count(*) FROM metrics_rollup.daily_queue) || '/' ||
	       (SELECT count(DISTINCT date_trunc('day', hour_start, 'UTC')) FROM metrics_rollup.hourly_metrics) || '/' ||
	       (SELECT count(*) FROM metrics_rollup.daily_built)}) =~ s/^(\d+)\/\1\/0$/ok/r, 'ok',
	'the update queued every day of the hourly rows and built none');
$node->safe_psql('upgraded', 'SELECT count(*) FROM metrics_rollup.run_rollup()');
is($node->safe_psql('upgraded', $answer_sql), $before,
	'and again after the pending hour is rolled up by the new version');
is($node->safe_psql('upgraded', q{
	SELECT count(*) FROM metrics_rollup.rollup_dirty}), '0', 'nothing left dirty');
# the first rollup built every ended day; only a day not over yet stays queued
my $days = $node->safe_psql('upgraded', q{
	SELECT (SELECT count(*) FROM metrics_rollup.daily_built) || '/' ||
	       (SELECT count(*) FROM metrics_rollup.daily_queue WHERE day_start + interval '24 hours' <= now()) || '/' ||
	       (SELECT count(DISTINCT date_trunc('day', hour_start, 'UTC')) FROM metrics_rollup.hourly_metrics
	         WHERE hour_start < date_trunc('day', now(), 'UTC'))});
like($days, qr/^([1-9]\d*)\/0\/\1$/, "the first rollup after the update built every ended day ($days)");
# over the built days aggregate() reads daily rows: same answer as the
# hourly rows give (sums, sketches merged)
my $days_sql = q{
	SELECT a.entity_id, a.total_count, a.success_count, a.min_response_time, a.max_response_time,
	       a.avg_response_time, a.p99_response_time
	  FROM (SELECT min(day_start) AS lo, max(day_start) + interval '24 hours' AS hi
	          FROM metrics_rollup.daily_built) b,
	       metrics_rollup.aggregate('tool', NULL, b.lo, b.hi) a
	 ORDER BY 1};
my $by_hours_sql = q{
	SELECT h.entity_id, sum(h.total_count), sum(h.success_count), min(h.min_response_time),
	       max(h.max_response_time), (sum(h.sum_response_time) / sum(h.total_count))::float8,
	       metrics_rollup.sketch_percentile_cont(metrics_rollup.sketch_merge(h.sketch), 0.99)
	  FROM (SELECT min(day_start) AS lo, max(day_start) + interval '24 hours' AS hi
	          FROM metrics_rollup.daily_built) b
	  JOIN metrics_rollup.hourly_metrics h ON h.hour_start >= b.lo AND h.hour_start < b.hi
	 WHERE h.kind = 'tool'
	 GROUP BY 1 ORDER BY 1};
my $by_days = $node->safe_psql('upgraded', $days_sql);
like($by_days, qr/^e0\|/, 'aggregate() over the built days answers');
is($by_days, $node->safe_psql('upgraded', $by_hours_sql),
	'aggregate() over the built days equals the merge of their hourly rows');

$node->stop;
done_testing();
