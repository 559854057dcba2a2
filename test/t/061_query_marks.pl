# Dirty marks with partial summaries under concurrency (issue 16 part 3):
# writers INSERT into raw_metrics (shadow rows in the same transaction),
# others DELETE raw rows (archived: still counted) and record() events
# through the buffer, while run_rollup(), run_cleanup() and compact_marks()
# run in a loop and the worker folds marks every 10 flush intervals.  A
# checker compares aggregate() and timeseries() with the shadow in ONE
# snapshot per statement, all along: a fold or a rollup that counted an
# event twice (or lost one) shows as a mismatch.  Afterwards every
# (kind, entity, hour) is rolled up exactly as the shadow says.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;

my $secs = $ENV{MR_MARKS_SECS} // 30;

my $node = mr_node('marks', q{
metrics_rollup.flush_interval = '100ms'
metrics_rollup.rollup_interval = '1min'
max_connections = 40
});
$node->safe_psql('postgres', q{
CREATE EXTENSION metrics_rollup;
CREATE TABLE shadow (kind text, entity_id text, recorded_at timestamptz,
                     response_time float8, success bool);
CREATE TABLE mismatches (at timestamptz, what text, answer bigint, shadow bigint);
CREATE TABLE checks (at timestamptz);
CREATE TABLE folds (removed bigint);
});

# events in the last 4 hours: rolled-up hours, hours cleanup empties, the
# current hour
my $at = q{now() - random() * interval '4 hours'};
my %scripts = (
	# multi-row INSERTs, several groups per statement, shadow in the same
	# transaction
	'w_insert' => qq{
WITH r AS (INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
           SELECT 'mins', 'e' || (random() * 8)::int, $at, round(random()::numeric, 3), g % 7 <> 0
             FROM generate_series(1, 20) g
           RETURNING kind, entity_id, recorded_at, response_time, success)
INSERT INTO shadow SELECT * FROM r;
},
	# deleted raw rows move to their hourly row's archived part (a mark
	# without partial): still counted, so the shadow keeps them.  One
	# group-hour per statement: a DELETE whose archive trigger upserts
	# several hourly rows can deadlock with run_rollup() (they take those
	# rows in different orders; the DELETE then fails whole, nothing is
	# miscounted).
	'w_delete' => q{
\set e random(0, 8)
\set h random(0, 4)
DELETE FROM metrics_rollup.raw_metrics
 WHERE ctid = ANY (ARRAY(SELECT ctid FROM metrics_rollup.raw_metrics
                          WHERE kind = 'mins' AND entity_id = 'e' || :e
                            AND recorded_at >= date_trunc('hour', now()) - :h * interval '1 hour'
                            AND recorded_at < date_trunc('hour', now()) - (:h - 1) * interval '1 hour'
                          LIMIT 3));
\sleep 200 ms
},
	# buffered events, flushed by COPY (marks with partials too)
	'w_record' => qq{
\\set e random(1, 8)
WITH x AS (SELECT 'e' || :e AS e, $at AS t, round(random()::numeric, 3)::float8 AS v),
     r AS (SELECT metrics_rollup.record('mrec', x.e, x.v, true, recorded_at => x.t) FROM x)
INSERT INTO shadow SELECT 'mrec', x.e, x.t, x.v, true FROM x, r;
},
	'w_jobs' => q{
SELECT * FROM metrics_rollup.run_rollup();
INSERT INTO folds SELECT metrics_rollup.compact_marks();
\sleep 300 ms
INSERT INTO folds SELECT metrics_rollup.compact_marks();
SELECT * FROM metrics_rollup.run_cleanup();
\sleep 300 ms
},
	# every answer in one snapshot with the shadow it must equal
	'w_check' => q{
INSERT INTO checks VALUES (clock_timestamp());
INSERT INTO mismatches
SELECT clock_timestamp(), 'aggregate', a.n, s.n
  FROM (SELECT coalesce(sum(total_count), 0) AS n FROM metrics_rollup.aggregate('mins')) a,
       (SELECT count(*) AS n FROM shadow WHERE kind = 'mins') s
 WHERE a.n <> s.n;
INSERT INTO mismatches
SELECT clock_timestamp(), 'hour ' || t.bucket_start, t.total_count, coalesce(s.n, 0)
  FROM metrics_rollup.timeseries('mins', NULL, date_trunc('hour', now()) - interval '5 hours',
                                 date_trunc('hour', now()) + interval '1 hour') t
  LEFT JOIN (SELECT date_trunc('hour', recorded_at, 'UTC') AS b, count(*) AS n
               FROM shadow WHERE kind = 'mins' GROUP BY 1) s ON s.b = t.bucket_start
 WHERE t.total_count <> coalesce(s.n, 0);
INSERT INTO mismatches
SELECT clock_timestamp(), 'entity ' || a.entity_id, a.total_count, s.n
  FROM metrics_rollup.aggregate('mins', NULL, date_trunc('hour', now()) - interval '2 hours', NULL) a
  FULL JOIN (SELECT entity_id, count(*) AS n FROM shadow
              WHERE kind = 'mins' AND recorded_at >= date_trunc('hour', now()) - interval '2 hours'
              GROUP BY 1) s USING (entity_id)
 WHERE a.total_count IS DISTINCT FROM s.n;
},);

my $dir = PostgreSQL::Test::Utils::tempdir;
my @runs;
foreach my $name (sort keys %scripts)
{
	my $file = "$dir/$name.sql";
	open my $fh, '>', $file or die $!;
	print $fh $scripts{$name};
	close $fh;
	my ($out, $err) = ('', '');
	my $clients = $name eq 'w_insert' ? 3 : 1;
	my $h = IPC::Run::start(
		[
			'pgbench', '-n', '-c', $clients, '-j', $clients, '-T', $secs,
			'-f', $file, '-h', $node->host, '-p', $node->port, 'postgres'
		],
		'>', \$out, '2>', \$err);
	push @runs, [ $name, $h, \$out, \$err ];
}
foreach my $r (@runs)
{
	my ($name, $h, $out, $err) = @$r;
	$h->finish;
	is($h->result(0), 0, "$name: pgbench ended without a failed client")
	  or diag($$err);
	like($$out, qr/number of failed transactions: 0 /, "$name: no failed transaction");
}

cmp_ok($node->safe_psql('postgres', 'SELECT count(*) FROM checks'), '>', 10,
	'the checker ran all along');
is($node->safe_psql('postgres', 'SELECT count(*) FROM mismatches'), '0',
	'aggregate() and timeseries() equal the shadow in every snapshot')
  or diag($node->safe_psql('postgres', 'SELECT * FROM mismatches ORDER BY at LIMIT 20'));
cmp_ok($node->safe_psql('postgres', 'SELECT sum(removed) FROM folds'), '>', 0,
	'compact_marks() folded marks');
like(slurp_file($node->logfile), qr/^((?!could not fold dirty marks).)*$/s,
	'the worker never failed to fold marks');
cmp_ok($node->safe_psql('postgres', q{
	SELECT count(*) FROM metrics_rollup.hourly_metrics WHERE NOT raw_complete}),
	'>', 0, 'raw rows were deleted meanwhile (archived parts exist)');

# quiet: the worker's folds alone leave few marks per group-hour
$node->safe_psql('postgres', 'SELECT metrics_rollup.flush()');
ok($node->poll_query_until('postgres', q{
	SELECT coalesce(max(n), 0) < 8 FROM (SELECT count(*) AS n FROM metrics_rollup.rollup_dirty
	                                      GROUP BY kind, entity_id, hour_start) m}),
	'the worker folds every group-hour down to fewer than 8 marks');
foreach my $kind (qw(mins mrec))
{
	is($node->safe_psql('postgres', qq{SELECT sum(total_count) FROM metrics_rollup.aggregate('$kind')}),
		$node->safe_psql('postgres', qq{SELECT count(*) FROM shadow WHERE kind = '$kind'}),
		"$kind: aggregate() counts every event once, marks not rolled up");
}
$node->safe_psql('postgres', 'SELECT * FROM metrics_rollup.run_rollup()');
is(mr_hourly_mismatches($node, 'shadow'), '0',
	'every (kind, entity, hour) rolled up exactly as the shadow says');
foreach my $kind (qw(mins mrec))
{
	is($node->safe_psql('postgres', qq{SELECT sum(total_count) FROM metrics_rollup.aggregate('$kind')}),
		$node->safe_psql('postgres', qq{SELECT count(*) FROM shadow WHERE kind = '$kind'}),
		"$kind: aggregate() counts every event once after the rollup");
}

$node->stop;
done_testing();
