# pg_dump -Fc / pg_restore round trip of the extension's data.
#
# The source database (the one the worker serves) holds hours that exist only
# as hourly rows (raw rows cleaned up), late raw rows in such an hour, raw rows
# already rolled up, pending dirty marks (one forced by an UPDATE, one left by
# a DELETE with no raw row behind it) and awkward text.  It is dumped once and
# restored three ways into databases the worker does not serve:
#   r_plain  pg_restore as is: the COPY into raw_metrics fires the insert
#            trigger, which marks every restored group dirty;
#   r_dt     pg_restore --schema-only, then --data-only --disable-triggers
#            (the exact copy: no trigger fires);
#   r_rev    pg_restore -L with the table data in reverse name order.
# Rows are compared with EXCEPT ALL both ways (on row text, so that sketches
# and archived summaries compare byte for byte); then run_rollup() in each
# database must write what it writes in the source and count every event once.
# The daily level is dumped too: --disable-triggers restores it as it was
# (built days usable at once); a plain restore loads it before
# hourly_metrics, whose insert trigger invalidates and queues every restored
# day; in reverse order the restored queue merges with the trigger's.  After
# run_rollup() every database has the source's daily rows.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;

my $node = mr_node('dump', q{
# the test runs rollup and cleanup itself, at known points
metrics_rollup.rollup_enabled = off
metrics_rollup.cleanup_enabled = off
});

my $src = 'postgres';
$node->safe_psql($src, 'CREATE EXTENSION metrics_rollup');

# --- the source data ---------------------------------------------------------

# Three old hours: 2 days ago, as buffered events, rolled up, then cleaned up.
$node->safe_psql($src, q{
SELECT metrics_rollup.record_batch('tool',
         array_agg('e' || (i % 3)), array_agg((i % 17) * 0.013 + 0.001), array_agg(i % 5 <> 0),
         array_agg(CASE WHEN i % 5 = 0 THEN E'bad "quote"\ttab\nline ü' END),
         array_agg(CASE WHEN i % 2 = 0 THEN 'Entity ' || (i % 3) END),
         array_agg(date_trunc('hour', now() - interval '2 days') + (i % 180) * interval '1 minute'))
  FROM generate_series(1, 600) i;
SELECT metrics_rollup.flush();
SELECT hours_processed FROM metrics_rollup.run_rollup();
SELECT count(*) FROM metrics_rollup.run_cleanup();
});
is($node->safe_psql($src, q{
SELECT count(*) FROM metrics_rollup.raw_metrics}), '0',
	'cleanup removed the raw rows of the old hours');
is($node->safe_psql($src, q{
SELECT count(*) || '/' || sum(total_count) || '/' || count(*) FILTER (WHERE archived IS NOT NULL)
  FROM metrics_rollup.hourly_metrics}), '9/600/9',
	'the old hours exist only as hourly rows (archived summaries)');

# Recent events, rolled up but not cleaned up: raw rows with no dirty mark.
$node->safe_psql($src, q{
SELECT metrics_rollup.record('resource', 'r' || (i % 4), i * 0.002, i % 7 <> 0,
                             recorded_at => now() - interval '5 minutes' + i * interval '1 ms')
  FROM generate_series(1, 200) i;
SELECT metrics_rollup.flush();
SELECT hours_processed FROM metrics_rollup.run_rollup();
});

# Pending work: late rows in a cleaned-up hour (direct INSERT), new groups,
# a forced mark (UPDATE) and a mark whose raw rows are all gone (DELETE).
$node->safe_psql($src, q{
INSERT INTO metrics_rollup.raw_metrics
SELECT 'tool', 'e' || (i % 3), NULL, date_trunc('hour', now() - interval '2 days') + i * interval '1 s',
       i * 0.5, true, NULL
  FROM generate_series(1, 30) i;
SELECT metrics_rollup.record('prompt', 'p' || (i % 2), i * 0.01, true, entity_name => 'P ' || i)
  FROM generate_series(1, 50) i;
SELECT metrics_rollup.record('server', 'gone', 0.1, false, 'it''s gone');
SELECT metrics_rollup.flush();
UPDATE metrics_rollup.raw_metrics SET response_time = response_time * 2
 WHERE kind = 'resource' AND entity_id = 'r1';
DELETE FROM metrics_rollup.raw_metrics WHERE kind = 'server';
});
is($node->safe_psql($src, q{
SELECT count(DISTINCT (kind, entity_id, hour_start)) FILTER (WHERE force) || '/' ||
       count(DISTINCT (kind, entity_id, hour_start)) FILTER (WHERE kind = 'server')
  FROM metrics_rollup.rollup_dirty}), '1/1',
	'source has a forced mark and a mark without raw rows');

my $total_events = 600 + 200 + 30 + 50 + 1;
my $extra_marks = $node->safe_psql($src, q{
SELECT count(*) FROM (
    SELECT DISTINCT kind, entity_id, date_trunc('hour', recorded_at, 'UTC')
      FROM metrics_rollup.raw_metrics
    EXCEPT
    SELECT kind, entity_id, hour_start FROM metrics_rollup.rollup_dirty) x});
cmp_ok($extra_marks, '>', 0, 'source has rolled-up raw groups without a mark');

# --- dump and restore --------------------------------------------------------

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $dump = "$tmp/metrics.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $src ], 'pg_dump -Fc');

# pg_restore must succeed quietly: no "errors ignored on restore".
sub restore
{
	my ($db, @opts) = @_;
	$node->command_checks_all([ 'pg_restore', @opts, '-d', $db, $dump ],
		0, [qr/^$/], [qr/^$/], "pg_restore @opts into $db: no error");
}

$node->safe_psql($src, 'CREATE DATABASE r_plain; CREATE DATABASE r_dt; CREATE DATABASE r_rev');
restore('r_plain');
# --disable-triggers acts only in a data-only restore: schema first, then data.
restore('r_dt', '--schema-only');
restore('r_dt', '--data-only', '--disable-triggers');

# the table data in reverse name order: rollup_dirty, raw_metrics, hourly_metrics
my $list = `pg_restore -l $dump`;
my @toc = split /\n/, $list;
my @data = grep { /TABLE DATA metrics_rollup / } @toc;
is(join(',', map { /TABLE DATA metrics_rollup (\w+)/ } @data),
	'daily_built,daily_holes,daily_metrics,daily_queue,hourly_metrics,known_entities,raw_metrics,rejected_events,rollup_dirty',
	'the dump carries the data tables, the daily level before hourly_metrics, rollup_dirty after raw_metrics');
@data = reverse @data;
open my $fh, '>', "$tmp/reversed.list" or die $!;
print $fh join("\n", (grep { !/TABLE DATA metrics_rollup / } @toc), @data), "\n";
close $fh;
restore('r_rev', '-L', "$tmp/reversed.list");

# --- comparisons -------------------------------------------------------------

# Row texts of a query in the source, loaded into the other database and
# compared there with EXCEPT ALL both ways: "missing/extra".
sub compare
{
	my ($db, $query, $srcdb) = @_;
	$srcdb //= $src;
	my $rows = $node->safe_psql($srcdb, "COPY (SELECT t::text FROM ($query) t) TO STDOUT");
	$rows .= "\n" if $rows ne '';
	return $node->safe_psql($db, qq{
CREATE TEMP TABLE s (r text);
COPY s FROM STDIN;
$rows\\.
SELECT (SELECT count(*) FROM (SELECT r FROM s EXCEPT ALL SELECT t::text FROM ($query) t) a)
    || '/' ||
       (SELECT count(*) FROM (SELECT t::text FROM ($query) t EXCEPT ALL SELECT r FROM s) b)});
}

my $raw = 'SELECT * FROM metrics_rollup.raw_metrics';
my $hourly = 'SELECT * FROM metrics_rollup.hourly_metrics';
my $hourly_text = q{SELECT *, sketch::text AS sketch_text, archived::text AS archived_text
  FROM metrics_rollup.hourly_metrics};
my $dirty = 'SELECT * FROM metrics_rollup.rollup_dirty';
# Marks are append-only (a group may have several): what they say is the
# set of groups, each forced when any of its marks is.
my $dirty_groups = q{SELECT kind, entity_id, hour_start, bool_or(force) AS force
  FROM metrics_rollup.rollup_dirty GROUP BY 1, 2, 3};

foreach my $db ('r_plain', 'r_dt', 'r_rev')
{
	is(compare($db, $raw), '0/0', "$db: raw rows identical");
	is(compare($db, $hourly_text), '0/0', "$db: hourly rows identical, sketches included");
}
is(compare('r_dt', $dirty), '0/0', 'r_dt: rollup_dirty identical');
# the daily level: an exact copy with --disable-triggers; a plain restore
# (daily tables first) leaves no day built and every day of the hourly rows
# queued; in reverse order the dumped markers come back, queued as well
my $daily = q{SELECT *, sketch::text AS sketch_text FROM metrics_rollup.daily_metrics};
my $built = q{SELECT kind, day_start, entities, hours FROM metrics_rollup.daily_built};
my $queue = q{SELECT kind, day_start FROM metrics_rollup.daily_queue};
my $src_built = $node->safe_psql($src, 'SELECT count(*) FROM metrics_rollup.daily_built');
cmp_ok($src_built, '>', 0, "source has built days ($src_built)");
is(compare('r_dt', $daily) . ' ' . compare('r_dt', $built) . ' ' . compare('r_dt', $queue), '0/0 0/0 0/0',
	'r_dt: daily rows, markers and queue identical');
is($node->safe_psql('r_plain', q{
	SELECT (SELECT count(*) FROM metrics_rollup.daily_built) || '/' ||
	       ((SELECT count(*) FROM metrics_rollup.daily_queue) =
	        (SELECT count(DISTINCT (kind, date_trunc('day', hour_start, 'UTC'))) FROM metrics_rollup.hourly_metrics))}),
	'0/true', 'r_plain: no day left built, every day of the hourly rows queued');
is(compare('r_rev', $built), '0/0', 'r_rev: the dumped markers restored after hourly_metrics');
is($node->safe_psql('r_rev', q{
	SELECT (SELECT count(*) FROM metrics_rollup.daily_queue) =
	       (SELECT count(DISTINCT (kind, date_trunc('day', hour_start, 'UTC'))) FROM metrics_rollup.hourly_metrics)}),
	't', 'r_rev: the restored queue merged into the one the insert trigger filled');
# Before any rollup, aggregate() already gives the source's answer: the
# marks the restore's COPY into raw_metrics wrote carry no partial summary
# (the restored hourly rows count those rows already), the dumped marks keep
# theirs.
foreach my $db ('r_plain', 'r_dt', 'r_rev')
{
	foreach my $kind (qw(tool resource prompt server))
	{
		is(compare($db, "SELECT * FROM metrics_rollup.aggregate('$kind')"), '0/0',
			"$db: aggregate('$kind') before any rollup gives the source's answer");
	}
}

# Loading every mark a second time (as a restore after raw_metrics does)
# appends duplicates (no key to fail on) that mark the same groups (their
# partials now count twice, as raw rows loaded twice would: not a restore).
$node->safe_psql('r_dt', 'INSERT INTO metrics_rollup.rollup_dirty SELECT * FROM metrics_rollup.rollup_dirty');
is(compare('r_dt', $dirty_groups), '0/0', 'r_dt: marks loaded twice mark the same groups');
# Without --disable-triggers the restored raw rows mark their groups: every
# dumped mark survives with its force flag, plus an unforced mark for each
# rolled-up raw group.
foreach my $db ('r_plain', 'r_rev')
{
	is(compare($db, $dirty_groups), "0/$extra_marks",
		"$db: every dumped group kept, $extra_marks extra groups from the insert trigger");
	is($node->safe_psql($db, q{
SELECT count(DISTINCT (kind, entity_id, hour_start)) FILTER (WHERE force) || '/' ||
       count(DISTINCT (kind, entity_id, hour_start)) FILTER (WHERE kind = 'server')
  FROM metrics_rollup.rollup_dirty}), '1/1', "$db: the forced mark and the raw-less mark survive");
}

# --- rollup after restore: same result, every event once ---------------------

my $written = $node->safe_psql($src,
	'SELECT rollup_rows_written FROM metrics_rollup.run_rollup()');
cmp_ok($written, '>', 0, 'source rollup writes the pending groups');
my $hourly_figures = q{SELECT kind, entity_id, entity_name, hour_start, total_count, success_count,
       failure_count, min_response_time, max_response_time, avg_response_time,
       p50_response_time, p95_response_time, p99_response_time, sketch::text AS sketch,
       sum_response_time, last_recorded_at, percentiles_exact, archived::text AS archived
  FROM metrics_rollup.hourly_metrics};
foreach my $db ('r_plain', 'r_dt', 'r_rev')
{
	is($node->safe_psql($db, 'SELECT rollup_rows_written FROM metrics_rollup.run_rollup()'),
		$written, "$db: run_rollup writes what it wrote in the source");
	is(compare($db, $hourly_figures), '0/0', "$db: hourly figures identical to the source after rollup");
	is($node->safe_psql($db, q{
SELECT sum(total_count) FROM metrics_rollup.hourly_metrics}), $total_events,
		"$db: every event counted exactly once");
	is($node->safe_psql($db, q{
SELECT hours_processed || '/' || rollup_rows_written FROM metrics_rollup.run_rollup()}), '0/0',
		"$db: a second run_rollup finds nothing to do");
	is($node->safe_psql($db, 'SELECT count(*) FROM metrics_rollup.rollup_dirty'), '0',
		"$db: no mark left");
	is(compare($db, $daily) . ' ' . compare($db, $built), '0/0 0/0',
		"$db: daily rows and built days identical to the source's after rollup");
	is(compare($db, 'SELECT * FROM metrics_rollup.aggregate(\'tool\')'), '0/0',
		"$db: aggregate() gives the source's answer");
}

# The raw rows of a restored database roll up into the same hourly figures
# from scratch: re-processing everything changes no count.
$node->safe_psql('r_plain', q{SELECT count(*) FROM metrics_rollup.run_rollup('2000-01-01')});
is(compare('r_plain', $hourly_figures =~ s/sketch::text AS sketch,|percentiles_exact,|p\d\d_response_time,//gr),
	'0/0', 'r_plain: a forced full re-rollup keeps every count, min, max, avg and sum');

# The worker serves only the source database: record() refuses elsewhere.
my ($rc, $out, $err) = $node->psql('r_plain', q{SELECT metrics_rollup.record('tool', 'x', 1, true)});
like($err, qr/works only in database "postgres"/, 'record() in a restored database it does not serve is refused');

$node->stop;
done_testing();
