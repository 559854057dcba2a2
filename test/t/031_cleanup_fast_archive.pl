# Cleanup's fast archive (src/cleanup_archive.c) against concurrent writers:
# a raw row updated while the fast statement deletes it (EvalPlanQual hands
# the statement the new version, which the hourly row does not describe) must
# make the batch back out and go the ordinary way; a row inserted meanwhile
# stays raw and is added by the next rollup.  Oracle: a shadow table of every
# event as it finally is; after cleanup and rollup every hour must match it
# exactly (count, successes, min, max, sum).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;
use Time::HiRes qw(usleep);

my $node = mr_node('fast_archive', q{
metrics_rollup.rollup_enabled = off
metrics_rollup.cleanup_enabled = off
});
$node->safe_psql('postgres', 'CREATE EXTENSION metrics_rollup');

# 'race': past retention (all its rows go); 'held' and 'late': rolled up, past
# the late window (delete_raw_after_rollup).  Every event also goes to shadow.
$node->safe_psql('postgres', q{
	CREATE TABLE shadow (id int, entity_id text, recorded_at timestamptz, response_time float8, success bool);
	INSERT INTO shadow
	SELECT g, e, date_trunc('hour', now(), 'UTC') - h + g * interval '1 second', (g % 50) / 10.0, g % 4 <> 0
	  FROM (VALUES ('race', interval '10 days'), ('held', interval '3 hours'),
	               ('late', interval '4 hours')) v(e, h),
	       generate_series(1, 200) g;
	INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
	SELECT 'tool', entity_id, recorded_at, response_time, success FROM shadow;
	SELECT metrics_rollup.run_rollup();});

# session A updates one raw row of 'race' and one of 'held'; session C
# inserts a late row into 'late'; neither commits yet
my $a = $node->background_psql('postgres');
$a->query_safe(q{BEGIN});
$a->query_safe(q{
	UPDATE metrics_rollup.raw_metrics SET response_time = response_time + 100
	 WHERE entity_id IN ('race', 'held')
	   AND recorded_at = date_trunc('hour', recorded_at, 'UTC') + interval '7 seconds'});
my $c = $node->background_psql('postgres');
$c->query_safe(q{BEGIN});
$c->query_safe(q{
	INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
	VALUES ('tool', 'late', date_trunc('hour', now(), 'UTC') - interval '4 hours' + interval '30 minutes', 42, true)});
$node->safe_psql('postgres', q{
	UPDATE shadow SET response_time = response_time + 100 WHERE entity_id IN ('race', 'held') AND id = 7;
	INSERT INTO shadow VALUES (0, 'late', date_trunc('hour', now(), 'UTC') - interval '4 hours' + interval '30 minutes', 42, true)});

# session B cleans up: its fast statement waits for A's updated 'race' row
my $b = $node->background_psql('postgres');
$b->query_until(qr/started/, "\\echo started\nSELECT relation, rows_deleted FROM metrics_rollup.run_cleanup();\n\\echo done\n");
my $waited = 0;
for (1 .. 600)
{
	$waited = $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_activity
		 WHERE wait_event_type = 'Lock' AND query LIKE '%run_cleanup()%'});
	last if $waited > 0;
	usleep(50_000);
}
is($waited, '1', 'the cleanup waits for the concurrent UPDATE');
$a->query_safe(q{COMMIT});
$a->quit;
for (1 .. 3000)
{
	$b->{run}->pump_nb;
	last if $b->{stdout} =~ /done/;
	usleep(20_000);
}
$b->quit;
$c->query_safe(q{COMMIT});
$c->quit;
like($b->{stdout}, qr/raw_metrics\|400/,
	'cleanup deleted race and late (200 + 200 rows), not held (dirty after the UPDATE)');
is($node->safe_psql('postgres', q{
	SELECT string_agg(entity_id || ':' || n, ',' ORDER BY entity_id)
	  FROM (SELECT entity_id, count(*) AS n FROM metrics_rollup.raw_metrics GROUP BY 1) r}),
	'held:200,late:1', 'the updated hour kept its raw rows, the row inserted meanwhile stays raw');

$node->safe_psql('postgres', 'SELECT metrics_rollup.run_rollup()');
my $shadow = q{(SELECT text 'tool' AS kind, * FROM shadow)};
is(mr_hourly_mismatches($node, $shadow),
	'0', 'every hour equals its events as they finally are (the updated value counted, once)')
  or diag($node->safe_psql('postgres', q{SELECT * FROM metrics_rollup.hourly_metrics}));
is($node->safe_psql('postgres', q{
	SELECT (archived).total_count FROM metrics_rollup.hourly_metrics WHERE entity_id = 'race'}),
	'200', 'race: archived holds its 200 events');
is($node->safe_psql('postgres', 'SELECT count(*) FROM metrics_rollup.rollup_dirty'), '0',
	'nothing left dirty');

$node->stop;
done_testing();
