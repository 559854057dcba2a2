# Four kinds of writers at once for 60 s, with rollup and cleanup running
# beside them (issue 14): buffered record(), single-row INSERTs, multi-row
# INSERTs in long transactions, and record_batch() taking the overflow
# policy's direct path (a batch larger than a ring).  Every writer keeps a
# shadow count in the same transaction.  Afterwards: no deadlock, no
# transaction slower than the lock timeout plus its own sleep, no job
# failure other than a counted lock timeout, and every (kind, entity, hour)
# counted exactly as the shadow says, after cleanup deleted raw rows.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;

my $secs = $ENV{MR_WRITERS_SECS} // 60;

my $lock_timeout_ms = 2000;

my $node = mr_node('writers', qq{
metrics_rollup.buffer_size = '1MB'
metrics_rollup.flush_interval = '100ms'
metrics_rollup.rollup_interval = '1min'
metrics_rollup.lock_timeout = '${lock_timeout_ms}ms'
max_connections = 40
log_lock_waits = on
deadlock_timeout = '100ms'
});
$node->safe_psql('postgres', q{
CREATE EXTENSION metrics_rollup;
CREATE TABLE shadow (kind text, entity_id text, recorded_at timestamptz);
});

# Events land in the last 6 hours, so that cleanup has rolled-up hours to
# delete (older than late_data_hours + delete_raw_after_rollup_hours).
my $at = q{now() - random() * interval '6 hours'};
my %scripts = (
	# 1. buffered record(); its shadow row in the same statement
	'w_record' => qq{
\\set e random(1, 40)
WITH x AS (SELECT 'e' || :e AS e, $at AS t),
     r AS (SELECT metrics_rollup.record('wrec', x.e, random(), true, recorded_at => x.t) FROM x)
INSERT INTO shadow SELECT 'wrec', x.e, x.t FROM x, r;
},
	# 2. single-row INSERT into raw_metrics
	'w_insert' => qq{
\\set e random(1, 40)
WITH r AS (INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
           VALUES ('wins', 'e' || :e, $at, random(), true) RETURNING kind, entity_id, recorded_at)
INSERT INTO shadow SELECT * FROM r;
},
	# 3. multi-row INSERTs over many groups in a long transaction
	'w_long' => qq{
BEGIN;
WITH r AS (INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
           SELECT 'wlong', 'e' || (random() * 200)::int, $at, random(), g % 5 <> 0
             FROM generate_series(1, 50) g RETURNING kind, entity_id, recorded_at)
INSERT INTO shadow SELECT * FROM r;
SELECT pg_sleep(0.5);
WITH r AS (INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
           SELECT 'wlong', 'e' || (random() * 200)::int, $at, random(), true
             FROM generate_series(1, 50) g RETURNING kind, entity_id, recorded_at)
INSERT INTO shadow SELECT * FROM r;
COMMIT;
},
	# 4. overflow direct: 150 events of ~1 kB exceed a 128 kB ring
	'w_direct' => qq{
SET metrics_rollup.overflow_policy = direct;
WITH x AS (SELECT array_agg('e' || (random() * 20)::int) AS ids, array_agg($at) AS ats
             FROM generate_series(1, 150)),
     r AS (SELECT metrics_rollup.record_batch('wdir', x.ids, array_fill(0.5::float8, ARRAY[150]),
                  array_fill(false, ARRAY[150]), array_fill(repeat('x', 1024), ARRAY[150]), NULL, x.ats) AS n
             FROM x)
INSERT INTO shadow SELECT 'wdir', u.i, u.a FROM x, r, unnest(x.ids, x.ats) u(i, a);
},
	# rollup and cleanup as users run them, beside the worker's own
	'w_jobs' => q{
SELECT * FROM metrics_rollup.run_rollup();
SELECT * FROM metrics_rollup.run_cleanup();
\sleep 2 s
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
	my $clients = $name eq 'w_jobs' ? 1 : 2;
	my $h = IPC::Run::start(
		[
			'pgbench', '-n', '-c', $clients, '-j', $clients, '-T', $secs,
			'-f', $file, '--log', "--log-prefix=$dir/$name",
			'-h', $node->host, '-p', $node->port, 'postgres'
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

# the longest transaction of each writer, from pgbench's per-transaction logs
my %longest;
foreach my $log (glob("$dir/w_*.*"))
{
	next if $log =~ /\.sql$/;
	my ($name) = $log =~ m{/(w_\w+?)\.\d+};
	open my $fh, '<', $log or die $!;
	while (<$fh>)
	{
		my @f = split;
		$longest{$name} = $f[2] if !defined $longest{$name} || $f[2] > $longest{$name};
	}
	close $fh;
}
foreach my $name (qw(w_record w_insert w_long w_direct))
{
	# w_long sleeps 0.5 s on purpose
	my $allowed_us = ($lock_timeout_ms + ($name eq 'w_long' ? 500 : 0)) * 1000;
	cmp_ok($longest{$name} // 0, '>', 0, "$name: transactions ran");
	cmp_ok($longest{$name} // 0, '<', $allowed_us,
		"$name: longest transaction $longest{$name} us, within the lock timeout");
}

my $log = slurp_file($node->logfile);
is(() = $log =~ /deadlock detected/g, 0, 'no deadlock in the server log');

$node->safe_psql('postgres', 'SELECT metrics_rollup.flush()');
$node->safe_psql('postgres', 'SELECT * FROM metrics_rollup.run_rollup()');
is($node->safe_psql('postgres', q{
	SELECT events_dropped || '/' || (events_direct > 0) FROM metrics_rollup.stats}),
	'0/true', 'nothing dropped; the direct path was taken');
cmp_ok($node->safe_psql('postgres', q{
	SELECT count(*) FROM metrics_rollup.hourly_metrics WHERE NOT raw_complete}),
	'>', 0, 'cleanup deleted raw rows meanwhile (archived parts exist)');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM metrics_rollup.job_history
	 WHERE status <> 'ok' AND coalesce(error_sqlstate, '') <> '55P03'}),
	'0', 'no job failed, except on a lock timeout');

# exact counts per (kind, entity, hour): hourly rows against the shadow
my $shadow_total = $node->safe_psql('postgres', 'SELECT count(*) FROM shadow');
cmp_ok($shadow_total, '>', 1000, "writers wrote $shadow_total events");
is($node->safe_psql('postgres', q{
	WITH s AS (SELECT kind, entity_id, date_trunc('hour', recorded_at, 'UTC') AS hour_start, count(*) AS n
	             FROM shadow GROUP BY 1, 2, 3),
	     r AS (SELECT kind, entity_id, hour_start, total_count AS n FROM metrics_rollup.hourly_metrics)
	SELECT count(*) FROM s FULL JOIN r USING (kind, entity_id, hour_start)
	 WHERE s.n IS DISTINCT FROM r.n}),
	'0', 'every (kind, entity, hour) counted exactly as the shadow says')
  or diag($node->safe_psql('postgres', q{
	WITH s AS (SELECT kind, entity_id, date_trunc('hour', recorded_at, 'UTC') AS hour_start, count(*) AS n
	             FROM shadow GROUP BY 1, 2, 3)
	SELECT s.kind, s.entity_id, s.hour_start, s.n, h.total_count, (h.archived).total_count,
	       (SELECT count(*) FROM metrics_rollup.raw_metrics r WHERE r.kind = s.kind AND r.entity_id = s.entity_id
	           AND date_trunc('hour', r.recorded_at, 'UTC') = s.hour_start) AS raw,
	       (SELECT count(*) FROM metrics_rollup.rollup_dirty d WHERE d.kind = s.kind AND d.entity_id = s.entity_id
	           AND d.hour_start = s.hour_start) AS marks, h.updated_at, now()
	  FROM s FULL JOIN metrics_rollup.hourly_metrics h USING (kind, entity_id, hour_start)
	 WHERE s.n IS DISTINCT FROM h.total_count}));
is($node->safe_psql('postgres', q{
	SELECT (SELECT sum(total_count) FROM metrics_rollup.aggregate('wrec'))
	     + (SELECT sum(total_count) FROM metrics_rollup.aggregate('wins'))
	     + (SELECT sum(total_count) FROM metrics_rollup.aggregate('wlong'))
	     + (SELECT sum(total_count) FROM metrics_rollup.aggregate('wdir'))}),
	$shadow_total, 'aggregate() counts every event once');

$node->stop;
done_testing();
