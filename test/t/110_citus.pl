# metrics_rollup on Citus: a 3-node loopback cluster (coordinator + 2
# workers, shared_preload_libraries = 'citus,metrics_rollup') against a
# single node that gets the same events.  Skips when citus.so is not
# installed in the server's pkglibdir (Citus is not a Debian package; see
# README "Scaling out with Citus").
#
# Shows: distribute()'s errors (0A000 without Citus, 55000 on a worker) and
# idempotence; events recorded on the coordinator AND on a worker node, and
# an application's direct INSERT, all land in the distributed raw_metrics
# (no write into the coordinator's shell table); every hourly row equal to
# the single node's (counts, min/max/avg, exact p50/p95/p99 against
# percentile_cont, sketch bytes); the rollup's aggregation runs on the
# workers' shards; the worker nodes' maintenance workers skip rollup and
# cleanup visibly with their circuits closed; the daily level (three past
# days): built on the shards, every daily row and daily_built equal to the
# single node's, read by aggregate()/timeseries() over whole days (equal
# answers; an UPDATE of a built day's hourly rows behind Citus's back does
# not change them), re-queued by a late event's rollup and by the hourly
# retention but not by unchanged re-reads; undistribute() brings every
# row back into the coordinator's own tables with the triggers, and
# distribute() again keeps them; DROP EXTENSION on the coordinator leaves
# no shard on the workers.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;

my $probe = PostgreSQL::Test::Cluster->new('probe');
my $pkglibdir = $probe->config_data('--pkglibdir');
if (!-f "$pkglibdir/citus.so")
{
	plan skip_all => "citus.so is not installed in $pkglibdir (build Citus 12.1 to run this test)";
}

# the test decides when the coordinator rolls up; workers keep their
# defaults (rollup and cleanup on: they must skip them)
my $citus_conf = q{
shared_preload_libraries = 'citus,metrics_rollup'
listen_addresses = '127.0.0.1'
max_prepared_transactions = 100
metrics_rollup.rollup_retention_days = 3650
};
my $coord = mr_node('coord', $citus_conf . q{
metrics_rollup.rollup_enabled = off
metrics_rollup.cleanup_enabled = off
});
my $w1 = mr_node('w1', $citus_conf . "log_min_duration_statement = 0\n");
my $w2 = mr_node('w2', $citus_conf . "log_min_duration_statement = 0\n");
my $single = mr_node('single', q{
metrics_rollup.rollup_retention_days = 3650
metrics_rollup.rollup_enabled = off
metrics_rollup.cleanup_enabled = off
});

$_->safe_psql('postgres', 'CREATE EXTENSION citus') for ($coord, $w1, $w2);
$coord->safe_psql('postgres', sprintf(q{
	SELECT citus_set_coordinator_host('127.0.0.1', %d);
	SELECT citus_add_node('127.0.0.1', %d);
	SELECT citus_add_node('127.0.0.1', %d);
	CREATE EXTENSION metrics_rollup;
}, $coord->port, $w1->port, $w2->port));
$single->safe_psql('postgres', 'CREATE EXTENSION metrics_rollup');
is($w1->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'metrics_rollup'}),
	'1.2', 'CREATE EXTENSION on the coordinator reached the workers');

# --- distribute(): errors, then idempotent ----------------------------------
sub sqlstate_of
{
	my ($node, $sql) = @_;
	my ($stdout, $stderr);
	$node->psql('postgres', "DO \$\$ BEGIN $sql; EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'sqlstate=%', SQLSTATE; END \$\$",
		stdout => \$stdout, stderr => \$stderr);
	return $stderr =~ /sqlstate=(\w{5})/ ? $1 : 'none';
}
is(sqlstate_of($single, 'PERFORM metrics_rollup.distribute()'), '0A000',
	'distribute() without Citus: 0A000');
is(sqlstate_of($w1, 'PERFORM metrics_rollup.distribute()'), '55000',
	'distribute() on a worker node: 55000');
is(sqlstate_of($w1, 'PERFORM * FROM metrics_rollup.run_rollup()'), '55000',
	'run_rollup() on a worker node: 55000 (one runner, on the coordinator)');
is(sqlstate_of($w1, 'PERFORM * FROM metrics_rollup.run_cleanup()'), '55000',
	'run_cleanup() on a worker node: 55000');
$coord->safe_psql('postgres', 'SELECT metrics_rollup.distribute(8)');
$coord->safe_psql('postgres', 'SELECT metrics_rollup.distribute(8)');
is($coord->safe_psql('postgres', q{
	SELECT string_agg(logicalrelid::text, ',' ORDER BY logicalrelid::text) || ' ' || count(DISTINCT colocationid)
	  FROM pg_dist_partition WHERE logicalrelid::text LIKE 'metrics_rollup.%'}),
	'metrics_rollup.daily_metrics,metrics_rollup.hourly_metrics,metrics_rollup.raw_metrics,metrics_rollup.rollup_dirty 1',
	'distribute() twice: four tables by entity_id, co-located');
is($coord->safe_psql('postgres', q{
	SELECT count(*) FROM pg_trigger
	 WHERE tgrelid IN ('metrics_rollup.raw_metrics'::regclass, 'metrics_rollup.hourly_metrics'::regclass)
	   AND tgname LIKE ANY (ARRAY['rollup_%', 'daily_%'])}),
	'0', 'the single-node marking triggers, which cannot run on shards, are gone');
is($coord->safe_psql('postgres', q{
	SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger
	 WHERE tgrelid = 'metrics_rollup.raw_metrics'::regclass AND tgname LIKE 'citus_raw_%'}),
	'citus_raw_deleted,citus_raw_inserted,citus_raw_updated', 'raw_metrics has the shard triggers instead');
is($w1->safe_psql('postgres', q{
	SELECT count(*) FROM pg_trigger t JOIN pg_dist_shard s
	    ON t.tgrelid::regclass::text = 'metrics_rollup.raw_metrics_' || s.shardid
	 WHERE s.logicalrelid = 'metrics_rollup.raw_metrics'::regclass AND t.tgname LIKE 'citus_raw_%'}),
	'12', 'Citus created them on the shards of w1 (4 of the 8 shards, 3 triggers each)');

# --- the same events on the cluster and on the single node -----------------
# Three fixed hours, 40 entities, values with ties; part recorded on the
# coordinator, part on worker node w1, part INSERTed directly (recent hour).
my $events = q{
	SELECT 'tool'::text AS k, 'e' || (i % 40) AS e, 'name ' || (i % 40) AS nm,
	       '2026-03-01 10:00:00+00'::timestamptz + (i % 10800) * interval '1 second' AS t,
	       ((i * 7919) % 1000) / 250.0 AS r, i % 9 <> 0 AS ok
	  FROM generate_series(%d, %d) i};
sub record_sql
{
	my ($from, $to) = @_;
	my $q = sprintf($events, $from, $to);
	return qq{SELECT metrics_rollup.record_batch('tool', array_agg(e), array_agg(r), array_agg(ok),
	           NULL, array_agg(nm), array_agg(t)) FROM ($q) x};
}
my $recent = $coord->safe_psql('postgres',
	q{SELECT date_trunc('hour', now(), 'UTC') + interval '1 second'});
my $direct = qq{INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
	SELECT 'tool', 'd' || (i % 7), '$recent'::timestamptz + i * interval '10 ms', i / 100.0, i % 4 <> 0
	  FROM generate_series(1, 300) i};

is($coord->safe_psql('postgres', record_sql(1, 12000)), '12000', 'coordinator: record_batch');
is($w1->safe_psql('postgres', record_sql(12001, 20000)), '8000', 'worker node w1: record_batch');
$coord->safe_psql('postgres', 'SELECT metrics_rollup.flush()');
$w1->safe_psql('postgres', 'SELECT metrics_rollup.flush()');
$coord->safe_psql('postgres', $direct);
$single->safe_psql('postgres', record_sql(1, 20000));
$single->safe_psql('postgres', 'SELECT metrics_rollup.flush()');
$single->safe_psql('postgres', $direct);

is($coord->safe_psql('postgres', 'SELECT count(*) FROM metrics_rollup.raw_metrics'),
	'20300', 'every event is in the distributed raw_metrics (coordinator, worker node, direct INSERT)');
is($w1->safe_psql('postgres', 'SELECT count(*) FROM metrics_rollup.raw_metrics'),
	'20300', 'a worker node sees the same rows');


# --- aggregate() and timeseries() on the cluster = on the single node -------
# Each query's whole text on the coordinator (nothing pulled up to it:
# coordinator_aggregation_strategy 'disabled' makes Citus refuse instead)
# against the single node's (queries with marks, hourly rows, archived
# parts and raw rows; fixed hours, all time, one entity, cut ranges).
my @queries = (
	q{SELECT * FROM metrics_rollup.aggregate('tool', NULL, '2026-03-01 10:00+00', '2026-03-01 13:00+00')},
	q{SELECT * FROM metrics_rollup.aggregate('tool')},
	q{SELECT * FROM metrics_rollup.aggregate('tool', 'e3')},
	q{SELECT * FROM metrics_rollup.aggregate('tool', 'nobody')},
	q{SELECT * FROM metrics_rollup.aggregate('tool', NULL, '2026-03-01 10:20+00', '2026-03-01 12:40+00')},
	q{SELECT * FROM metrics_rollup.aggregate('tool', 'e7', '2026-03-01 10:20+00', '2026-03-01 12:40+00')},
	q{SELECT * FROM metrics_rollup.timeseries('tool', NULL, '2026-03-01 09:00+00', '2026-03-01 14:00+00')},
	q{SELECT * FROM metrics_rollup.timeseries('tool', 'e5', '2026-03-01 10:00+00', '2026-03-01 13:00+00')},
	q{SELECT * FROM metrics_rollup.timeseries('tool', NULL, '2026-03-01 10:20+00', '2026-03-01 12:40+00', '2 hours')},
	q{SELECT * FROM metrics_rollup.timeseries('tool', 'd3', date_trunc('hour', now(), 'UTC'), date_trunc('hour', now(), 'UTC') + interval '1 hour')});
# every query of the list (@queries when none is given) on the cluster
# equals the single node's
sub check_queries
{
	my ($when, @list) = @_;
	@list = @queries unless @list;
	for my $q (@list)
	{
		my ($out, $err);
		$coord->psql('postgres', "SET citus.coordinator_aggregation_strategy = 'disabled'; $q",
			stdout => \$out, stderr => \$err);
		my $expected = $single->safe_psql('postgres', $q);
		ok($err eq '' && $out eq $expected && $expected ne '', "$when: $q equals the single node's")
		  or diag("cluster:\n$out\n$err\nsingle node:\n$expected");
	}
}
is($coord->safe_psql('postgres', 'SELECT metrics_rollup.citus_is_distributed()')
	. $single->safe_psql('postgres', 'SELECT metrics_rollup.citus_is_distributed()'),
	'tf', 'citus_is_distributed(): true on the cluster (its query path), false on the single node');
check_queries('dirty marks, no hourly row');

# --- rollup on the coordinator, pushed to the shards -----------------------
$coord->safe_psql('postgres', q{
	SET citus.coordinator_aggregation_strategy = 'disabled';
	SELECT * FROM metrics_rollup.run_rollup()});
$single->safe_psql('postgres', 'SELECT * FROM metrics_rollup.run_rollup()');

my $hourly = q{
	SELECT string_agg(concat_ws('|', kind, entity_id, entity_name, hour_start, total_count, success_count,
	                  failure_count, min_response_time, max_response_time, avg_response_time,
	                  p50_response_time, p95_response_time, p99_response_time,
	                  encode(metrics_rollup.sketch_to_bytea(sketch), 'hex'), percentiles_exact),
	                  E'\n' ORDER BY kind, entity_id, hour_start)
	  FROM metrics_rollup.hourly_metrics};
# hourly rows equal on both; on a difference, the differing rows
sub hourly_equal
{
	my ($what) = @_;
	my %c = map { $_ => 1 } split /\n/, $coord->safe_psql('postgres', $hourly);
	my %s = map { $_ => 1 } split /\n/, $single->safe_psql('postgres', $hourly);
	my @only_c = grep { !$s{$_} } sort keys %c;
	my @only_s = grep { !$c{$_} } sort keys %s;
	ok(!@only_c && !@only_s, $what)
	  or diag("cluster only:\n" . join("\n", @only_c) . "\nsingle node only:\n" . join("\n", @only_s));
}
my $single_rows = $single->safe_psql('postgres', $hourly);
my $coord_rows = $coord->safe_psql('postgres', $hourly);
is(scalar(split /\n/, $coord_rows), 127, 'the cluster has 3 hours x 40 entities + 7 direct groups');
ok($coord_rows eq $single_rows, 'every hourly row (counts, min/max/avg, p50/p95/p99, sketch bytes) equals the single node\'s');
is(mr_hourly_mismatches($single, 'metrics_rollup.raw_metrics'), '0',
	'the single node\'s hourly rows match its raw rows (the oracle)');
is($single->safe_psql('postgres', q{
	SELECT count(*) FROM (
	  SELECT kind, entity_id, date_trunc('hour', recorded_at, 'UTC') AS hour_start,
	         percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time) AS q
	    FROM metrics_rollup.raw_metrics GROUP BY 1, 2, 3) o
	  JOIN metrics_rollup.hourly_metrics h USING (kind, entity_id, hour_start)
	 WHERE ARRAY[h.p50_response_time, h.p95_response_time, h.p99_response_time] <> o.q}),
	'0', 'p50/p95/p99 are percentile_cont of the raw rows');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM metrics_rollup.rollup_dirty'), '0',
	'the rollup took every dirty mark');

# the aggregation ran on the worker nodes' shards (grouped by entity_id)
ok($w1->log_contains(qr/INSERT INTO metrics_rollup\.hourly_metrics_\d+.*metrics_rollup\.rollup_agg\(.*FROM metrics_rollup\.raw_metrics_\d+/)
	  && $w2->log_contains(qr/INSERT INTO metrics_rollup\.hourly_metrics_\d+.*metrics_rollup\.rollup_agg\(.*FROM metrics_rollup\.raw_metrics_\d+/),
	'each worker node aggregated its own shards (INSERT ... SELECT pushed down)');

# reading the rollups: sketch_merge is pushed down (partial states on the workers)
my $merge = q{SELECT metrics_rollup.sketch_percentile_cont(metrics_rollup.sketch_merge(sketch), 0.95)
	  FROM metrics_rollup.hourly_metrics WHERE kind = 'tool'};
like($coord->safe_psql('postgres', "EXPLAIN (VERBOSE, COSTS OFF) $merge"),
	qr/worker_partial_agg.*sketch_merge/s, 'EXPLAIN VERBOSE: sketch_merge runs as partial aggregates on the workers');
is($coord->safe_psql('postgres', "SET citus.coordinator_aggregation_strategy = 'disabled'; $merge"),
	$single->safe_psql('postgres', $merge), 'the merged p95 over the cluster equals the single node\'s');

check_queries('after the rollup');

# a second run rewrites nothing that changed: same rows
$coord->safe_psql('postgres', 'SELECT * FROM metrics_rollup.run_rollup()');
ok($coord->safe_psql('postgres', $hourly) eq $single_rows, 'a second run leaves the rows equal');

# late events through both paths, then run_rollup(since) for the old hours
$coord->safe_psql('postgres', record_sql(20001, 20500));
$coord->safe_psql('postgres', 'SELECT metrics_rollup.flush()');
$single->safe_psql('postgres', record_sql(20001, 20500));
$single->safe_psql('postgres', 'SELECT metrics_rollup.flush()');
$coord->safe_psql('postgres', 'SELECT * FROM metrics_rollup.run_rollup()');
$single->safe_psql('postgres', 'SELECT * FROM metrics_rollup.run_rollup()');
ok($coord->safe_psql('postgres', $hourly) eq $single->safe_psql('postgres', $hourly),
	'late events flushed on the cluster are rolled up as on one node');

# --- applications' own writes, any age, on the shards ----------------------
# An INSERT into an old, rolled-up hour, an UPDATE and a DELETE straight into
# the distributed raw_metrics: the shard triggers mark them (and archive the
# deleted events) as the single node's triggers do.
my $app_writes = q{
	INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
	VALUES ('tool', 'e5', '2026-03-01 10:40:00+00', 7.5, false);
	UPDATE metrics_rollup.raw_metrics SET response_time = response_time + 1
	 WHERE entity_id = 'e6' AND recorded_at < '2026-03-01 10:10:00+00';
	DELETE FROM metrics_rollup.raw_metrics
	 WHERE entity_id = 'e8' AND recorded_at >= '2026-03-01 11:00:00+00' AND recorded_at < '2026-03-01 11:30:00+00'};
$_->safe_psql('postgres', $app_writes) for ($coord, $single);
is($coord->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT entity_id || '@' || to_char(hour_start AT TIME ZONE 'UTC', 'HH24'), ',')
	  FROM metrics_rollup.rollup_dirty}),
	'e5@10,e6@10,e8@11', 'the shard triggers marked the INSERT, the UPDATE and the DELETE');
check_queries('applications\' INSERT, UPDATE and DELETE, not rolled up yet');
$_->safe_psql('postgres', 'SELECT * FROM metrics_rollup.run_rollup()') for ($coord, $single);
hourly_equal(
	'an application\'s INSERT into an old hour, UPDATE and DELETE (its events archived) are rolled up as on one node');

# --- cleanup on the shards: raw rows go, history stays ---------------------
# The coordinator's maintenance worker cleans up (its first run is due at
# start), in batches of about cleanup_batch_size raw rows, each its own
# transaction: ~170 rows per entity and hour make one batch per entity.
my $batch_re = qr/(?:statement|execute [^:]*): DELETE FROM metrics_rollup\.raw_metrics_\d+ .*ANY/;
my $deletes = sub {
	my $n = 0;
	$n += () = slurp_file($_->logfile) =~ /$batch_re/g for ($w1, $w2);
	return $n;
};
my $deletes_before = $deletes->();
$coord->append_conf('postgresql.conf', qq{
metrics_rollup.cleanup_enabled = on
metrics_rollup.cleanup_batch_size = 100
});
$coord->restart;
$coord->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM metrics_rollup.job_history WHERE job = 'cleanup' AND status = 'ok'})
  or diag('the coordinator ran no cleanup');
my $batches = $deletes->() - $deletes_before;
# (unbatched: one DELETE per shard and hour, 8 x 3 = 24)
ok($batches >= 100, "the worker's cleanup deleted in batches: $batches DELETE statements on the shards for 3 hours x 40 entities (one transaction each)");
$single->safe_psql('postgres', 'SELECT * FROM metrics_rollup.run_cleanup()');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM metrics_rollup.raw_metrics'),
	'300', 'cleanup deleted the rolled-up raw rows on the shards (the recent hour stays)');
hourly_equal('after cleanup every hourly row still equals the single node\'s');
is($coord->safe_psql('postgres', q{
	SELECT count(*) FROM metrics_rollup.hourly_metrics
	 WHERE hour_start < '2026-04-01' AND (archived).total_count IS DISTINCT FROM total_count}),
	'0', 'each cleaned hour keeps its events in its archived summary');
# a late event for a cleaned hour: archived (+) the new raw row, as on one node
for my $n ($coord, $single)
{
	$n->safe_psql('postgres', q{
		SELECT metrics_rollup.record('tool', 'e1', 0.5, false, NULL, NULL, '2026-03-01 10:30:00+00');
		SELECT metrics_rollup.flush();});
}
check_queries('a late event in a cleaned hour, not rolled up yet');
$_->safe_psql('postgres', 'SELECT * FROM metrics_rollup.run_rollup()') for ($coord, $single);
ok($coord->safe_psql('postgres', $hourly) eq $single->safe_psql('postgres', $hourly),
	'a late event in a cleaned hour is added to its archived part, as on one node');
is($coord->safe_psql('postgres', 'SELECT sum(total_count) FROM metrics_rollup.hourly_metrics'),
	'20802', 'every event counted once after cleanup and a late event (and the application\'s INSERT)');
check_queries('after cleanup and a late event');
is($w1->safe_psql('postgres', $queries[1] . ' ORDER BY 2'), $single->safe_psql('postgres', $queries[1] . ' ORDER BY 2'),
	'aggregate() run on a worker node equals the single node\'s too');

# --- worker nodes: flush only; rollup and cleanup skipped, circuit closed --
for my $w ($w1, $w2)
{
	$w->poll_query_until('postgres', q{
		SELECT count(*) > 0 FROM metrics_rollup.job_history
		 WHERE job = 'rollup' AND status = 'skipped' AND error_message LIKE '%not the Citus coordinator%'})
	  or diag('no skipped rollup on ' . $w->name);
	is($w->safe_psql('postgres', q{
		SELECT count(*) FROM metrics_rollup.job_history
		 WHERE job IN ('rollup', 'cleanup') AND status <> 'skipped'}),
		'0', $w->name . ': rollup and cleanup never run on a worker node');
	is($w->safe_psql('postgres', q{
		SELECT concat_ws(',', flush_circuit, rollup_circuit, cleanup_circuit, rollup_last_status)
		  FROM metrics_rollup.job_stats()}),
		'closed,closed,closed,skipped', $w->name . ': every circuit closed, rollup shown as skipped');
}

# --- the daily level on Citus: built on the shards, invalidated without ---
# triggers, read by aggregate() and timeseries() ---------------------------
# Three past UTC days of kind 'svc' (30 entities whose names change
# mid-way), recorded on the coordinator and on w1; the single node gets the
# same.  The day of 2026-03-01 ('tool') is built too by now.
my $svc = q{
	SELECT 'svc'::text AS k, 's' || (i % 30) AS e,
	       'n' || (i % 30) || CASE WHEN t < '2026-02-11 12:00+00' THEN 'a' ELSE 'b' END AS nm,
	       t, ((i * 7919) % 1000) / 250.0 AS r, i % 11 <> 0 AS ok
	  FROM (SELECT i, '2026-02-10 00:00:00+00'::timestamptz
	                  + ((i * 37) % 259200) * interval '1 second' AS t
	          FROM generate_series(%d, %d) i) g};
sub svc_sql
{
	my ($from, $to) = @_;
	my $q = sprintf($svc, $from, $to);
	return qq{SELECT metrics_rollup.record_batch('svc', array_agg(e), array_agg(r), array_agg(ok),
	           NULL, array_agg(nm), array_agg(t)) FROM ($q) x};
}
$coord->safe_psql('postgres', svc_sql(1, 5000));
$w1->safe_psql('postgres', svc_sql(5001, 9000));
$single->safe_psql('postgres', svc_sql(1, 9000));
$_->safe_psql('postgres', 'SELECT metrics_rollup.flush()') for ($coord, $w1, $single);

my $daily = q{
	SELECT string_agg(concat_ws('|', kind, entity_id, day_start, entity_name, name_at, total_count,
	                  success_count, min_response_time, max_response_time, sum_response_time,
	                  encode(metrics_rollup.sketch_to_bytea(sketch), 'hex'), last_recorded_at, hours_merged),
	                  E'\n' ORDER BY kind, entity_id, day_start)
	  FROM metrics_rollup.daily_metrics};
my $built = q{
	SELECT string_agg(concat_ws('|', kind, day_start, entities, hours), E'\n' ORDER BY kind, day_start)
	  FROM metrics_rollup.daily_built};
my $pending = q{
	SELECT (SELECT count(*) FROM metrics_rollup.daily_queue WHERE day_start + interval '24 hours' <= now())
	       || ',' || (SELECT count(*) FROM metrics_rollup.daily_holes)};
sub check_daily
{
	my ($when) = @_;
	my $d = $single->safe_psql('postgres', $daily);
	ok($coord->safe_psql('postgres', $daily) eq $d && $d ne '',
		"$when: every daily row (counts, min/max/sum, name, sketch bytes) equals the single node's");
	is($coord->safe_psql('postgres', $built), $single->safe_psql('postgres', $built),
		"$when: daily_built equals the single node's");
	is($coord->safe_psql('postgres', $pending) . ' ' . $single->safe_psql('postgres', $pending),
		'0,0 0,0', "$when: no ended day left queued, no hole, on either");
}
my $rollup_off = q{SET citus.coordinator_aggregation_strategy = 'disabled';
	SELECT * FROM metrics_rollup.run_rollup()};
$coord->safe_psql('postgres', $rollup_off);
$single->safe_psql('postgres', 'SELECT * FROM metrics_rollup.run_rollup()');
ok($coord->safe_psql('postgres', $hourly) eq $single->safe_psql('postgres', $hourly),
	'daily level: the three days\' hourly rows equal the single node\'s');
is($coord->safe_psql('postgres', q{
	SELECT count(*) || ' ' || sum(entities) FROM metrics_rollup.daily_built WHERE kind = 'svc'}),
	'3 90', 'run_rollup() on Citus built the three days (30 entities each)');
check_daily('after run_rollup()');
ok($w1->log_contains(qr/INSERT INTO metrics_rollup\.daily_metrics_\d+.*query_sketch_merge\(.*FROM metrics_rollup\.hourly_metrics_\d+/)
	  && $w2->log_contains(qr/INSERT INTO metrics_rollup\.daily_metrics_\d+.*query_sketch_merge\(.*FROM metrics_rollup\.hourly_metrics_\d+/),
	'each worker node built the daily rows of its own shards (INSERT ... SELECT pushed down)');

my @daily_queries = (
	q{SELECT * FROM metrics_rollup.aggregate('svc', NULL, '2026-02-10 00:00+00', '2026-02-13 00:00+00')},
	q{SELECT * FROM metrics_rollup.aggregate('svc', NULL, '2026-02-10 05:30+00', '2026-02-12 19:10+00')},
	q{SELECT * FROM metrics_rollup.aggregate('svc', 's7', '2026-02-09 00:00+00', '2026-02-12 07:00+00')},
	q{SELECT * FROM metrics_rollup.aggregate('svc')},
	q{SELECT * FROM metrics_rollup.aggregate('tool', 'e4')},
	q{SELECT * FROM metrics_rollup.timeseries('svc', NULL, '2026-02-09 00:00+00', '2026-02-14 00:00+00', '1 day')},
	q{SELECT * FROM metrics_rollup.timeseries('svc', 's3', '2026-02-10 00:00+00', '2026-02-13 00:00+00', '2 days')},
	q{SELECT * FROM metrics_rollup.timeseries('svc', NULL, '2026-02-10 06:00+00', '2026-02-12 18:00+00', '6 hours')});
my $whole_days = $daily_queries[0];
check_queries('built days', @daily_queries);

# Read from the daily rows: a direct UPDATE of a built day's hourly rows on
# Citus (not tracked there: no trigger) changes what the hours say, not what
# the whole days say; undone after.
my $one_hour = q{SELECT sum(total_count) FROM metrics_rollup.aggregate('svc', NULL, '2026-02-11 05:00+00', '2026-02-11 06:00+00')};
my $days_total = qq{SELECT sum(total_count) FROM ($whole_days) a};
my $before = $coord->safe_psql('postgres', "$one_hour; $days_total");
$coord->safe_psql('postgres', q{UPDATE metrics_rollup.hourly_metrics SET total_count = total_count + 1000, success_count = success_count + 1000
	WHERE kind = 'svc' AND hour_start = '2026-02-11 05:00+00'});
my ($hour_after, $days_after) = split /\n/, $coord->safe_psql('postgres', "$one_hour; $days_total");
my ($hour_before, $days_before) = split /\n/, $before;
ok($hour_after > $hour_before && $days_after == $days_before,
	"whole days are read from daily_metrics: an hour's rows changed behind its back ($hour_before -> $hour_after), the days' total stays $days_before");
$coord->safe_psql('postgres', q{UPDATE metrics_rollup.hourly_metrics SET total_count = total_count - 1000, success_count = success_count - 1000
	WHERE kind = 'svc' AND hour_start = '2026-02-11 05:00+00'});

# The late-data window's re-reads and run_rollup(since) rewrite nothing that
# did not change: no day re-queued, no build.
my $built_at = q{SELECT string_agg(kind || day_start || built_at, ',' ORDER BY kind, day_start)
	  FROM metrics_rollup.daily_built};
my $queued = q{SELECT string_agg(kind || day_start, ',' ORDER BY kind, day_start) FROM metrics_rollup.daily_queue};
my $built_at_before = $coord->safe_psql('postgres', $built_at);
my $queued_before = $coord->safe_psql('postgres', $queued);
is($coord->safe_psql('postgres', q{SELECT rollup_rows_written FROM metrics_rollup.run_rollup('2026-02-10 00:00+00')}),
	'0', 'run_rollup(since) on Citus: no hourly row changed, none written');
is($coord->safe_psql('postgres', $built_at) . ' ' . $coord->safe_psql('postgres', $queued),
	"$built_at_before $queued_before", 'unchanged hours re-queue no day (no rebuild)');

# A late event into a built day (recorded), and an application's own
# INSERT into another (marked by the shard trigger): their marks keep the
# days out of the covered days; the rollup that changes their hours unmarks
# and re-queues the days, and the rebuilt days equal the single node's.
for my $n ($coord, $single)
{
	$n->safe_psql('postgres', q{
		SELECT metrics_rollup.record('svc', 's5', 9.75, false, NULL, 'n5late', '2026-02-11 07:15:00+00');
		SELECT metrics_rollup.flush();
		INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
		VALUES ('svc', 's21', '2026-02-12 22:05:00+00', 0.125, true);});
}
check_queries('a late event in a built day, not rolled up yet', @daily_queries);
$coord->safe_psql('postgres', $rollup_off);
$single->safe_psql('postgres', 'SELECT * FROM metrics_rollup.run_rollup()');
is($coord->safe_psql('postgres', q{
	SELECT string_agg(to_char(day_start AT TIME ZONE 'UTC', 'MM-DD'), ',' ORDER BY day_start)
	  FROM metrics_rollup.daily_built
	 WHERE kind || day_start || built_at <> ALL (string_to_array($$} . $built_at_before . q{$$, ','))}),
	'02-11,02-12', 'the late event\'s and the direct INSERT\'s days were rebuilt, and only they');
check_daily('a late event rolled up');
check_queries('a late event rolled up', @daily_queries);

# Hourly retention: the expiring hours' days are unmarked and queued, then
# rebuilt from the hours left (the raw rows went first: no hole).
my $days_back = $coord->safe_psql('postgres', q{SELECT extract(day FROM now() - '2026-02-10 12:00+00')::int});
for my $n ($coord, $single)
{
	$n->append_conf('postgresql.conf', "metrics_rollup.rollup_retention_days = $days_back\n");
	$n->reload;
}
$_->safe_psql('postgres', 'SELECT * FROM metrics_rollup.run_cleanup()') for ($coord, $single);
is($coord->safe_psql('postgres', q{
	SELECT count(*) > 0 FROM metrics_rollup.daily_queue WHERE kind = 'svc' AND day_start = '2026-02-10 00:00+00'})
	. $coord->safe_psql('postgres', q{
	SELECT count(*) FROM metrics_rollup.daily_built WHERE kind = 'svc' AND day_start = '2026-02-10 00:00+00'}),
	't0', 'hourly retention on Citus: the expired hours\' day lost its marker and is queued');
# this time as the coordinator's worker builds days (run_rollup_background():
# DAILY_DAYS_PER_XACT days per transaction)
$coord->append_conf('postgresql.conf', "metrics_rollup.rollup_enabled = on\n");
$coord->reload;
my $bg = $coord->safe_psql('postgres', 'SELECT metrics_rollup.run_rollup_background()');
$coord->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $bg")
  or die 'the rollup worker did not finish';
$coord->append_conf('postgresql.conf', "metrics_rollup.rollup_enabled = off\n");
$coord->reload;
$single->safe_psql('postgres', 'SELECT * FROM metrics_rollup.run_rollup()');
ok($coord->safe_psql('postgres', $hourly) eq $single->safe_psql('postgres', $hourly),
	'after hourly retention the hourly rows equal the single node\'s');
check_daily('after hourly retention');
check_queries('after hourly retention', @daily_queries);
for my $n ($coord, $single)
{
	$n->append_conf('postgresql.conf', "metrics_rollup.rollup_retention_days = 3650\n");
	$n->reload;
}

# --- undistribute(): every row back in the coordinator's own tables --------
# A direct INSERT into an old, cleaned hour, marked on its shard, not rolled
# up before undistribute(): the mark comes back with the rows (and
# undistribute() marks every hour with raw rows anyway).
my $late_direct = q{INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
	VALUES ('tool', 'e2', '2026-03-01 11:15:00+00', 9.5, true)};
$_->safe_psql('postgres', $late_direct) for ($coord, $single);
my $raw_digest = q{
	SELECT count(*) || ' ' || md5(string_agg(concat_ws('|', kind, entity_id, entity_name, recorded_at,
	                                                   response_time, success, error_message),
	                                         E'\n' ORDER BY kind, entity_id, recorded_at, response_time))
	  FROM metrics_rollup.raw_metrics};
my $table_digest = q{
	SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, E'\n' ORDER BY t::text), ''))
	  FROM metrics_rollup.%s t};
my %before = map { $_ => $coord->safe_psql('postgres', sprintf($table_digest, $_)) }
	qw(hourly_metrics daily_metrics);
my $before_raw = $coord->safe_psql('postgres', $raw_digest);
# (parentheses aside: a WHEN clause written as a row comparison comes back
# from pg_get_triggerdef() as the same conditions, nested differently)
my $triggers = q{
	SELECT string_agg(translate(pg_get_triggerdef(oid), '()', '') || ' -- ' || coalesce(obj_description(oid, 'pg_trigger'), ''),
	                  E'\n' ORDER BY tgrelid::regclass::text, tgname)
	  FROM pg_trigger
	 WHERE tgrelid IN ('metrics_rollup.raw_metrics'::regclass, 'metrics_rollup.hourly_metrics'::regclass,
	                   'metrics_rollup.daily_metrics'::regclass, 'metrics_rollup.rollup_dirty'::regclass)};

$coord->safe_psql('postgres', 'SELECT metrics_rollup.undistribute()');
is($coord->safe_psql('postgres', q{
	SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'metrics_rollup.%'}),
	'0', 'undistribute(): no table of ours left in the Citus metadata');
for my $w ($w1, $w2)
{
	is($w->safe_psql('postgres', q{
		SET citus.show_shards_for_app_name_prefixes = '*';
		SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		         WHERE n.nspname = 'metrics_rollup' AND c.relname ~ '_[0-9]+$')
		       || ' ' || (SELECT count(*) FROM pg_dist_partition)}),
		'0 0', $w->name . ': undistribute() removed every shard and the metadata');
}
is($coord->safe_psql('postgres', $raw_digest), $before_raw,
	'undistribute(): every raw row came back from the shards into the coordinator\'s raw_metrics');
is($coord->safe_psql('postgres', sprintf($table_digest, $_)), $before{$_},
	"undistribute(): every row of $_ came back, unchanged") for sort keys %before;
is($coord->safe_psql('postgres', $triggers), $single->safe_psql('postgres', $triggers),
	'undistribute(): the triggers distribute() dropped are back as on a single node (and Citus\'s are gone)');
is($coord->safe_psql('postgres', q{
	SELECT metrics_rollup.citus_is_distributed() || ' '
	       || (SELECT count(*) FROM metrics_rollup.citus_saved_triggers) || ' '
	       || (SELECT count(*) FROM pg_event_trigger WHERE evtname = 'metrics_rollup_citus_drop')}),
	'false 0 0', 'undistribute(): the query path is the single node\'s, no saved trigger, no event trigger');
$coord->safe_psql('postgres', 'SELECT metrics_rollup.undistribute()');
pass('undistribute() a second time does nothing');

$_->safe_psql('postgres', 'SELECT * FROM metrics_rollup.run_rollup()') for ($coord, $single);
ok($coord->safe_psql('postgres', $hourly) eq $single->safe_psql('postgres', $hourly),
	'after undistribute() and a rollup every hourly row equals the single node\'s (the direct INSERT into a cleaned hour counted)');
check_queries('after undistribute()');
# the coordinator's own flush writes into its own table again
for my $n ($coord, $single)
{
	$n->safe_psql('postgres', q{
		SELECT metrics_rollup.record('tool', 'e4', 0.25, true, NULL, NULL, '2026-03-01 12:10:00+00');
		SELECT metrics_rollup.flush();
		SELECT * FROM metrics_rollup.run_rollup();});
}
is($coord->safe_psql('postgres', $raw_digest), $single->safe_psql('postgres', $raw_digest),
	'after undistribute() record() lands in the coordinator\'s raw_metrics: raw rows equal the single node\'s');
ok($coord->safe_psql('postgres', $hourly) eq $single->safe_psql('postgres', $hourly),
	'... and is rolled up as on one node');

# and back: distribute() again keeps every row
$before_raw = $coord->safe_psql('postgres', $raw_digest);
$coord->safe_psql('postgres', 'SELECT metrics_rollup.distribute(4)');
is($coord->safe_psql('postgres', $raw_digest), $before_raw, 'distribute() after undistribute() keeps every raw row');
ok($coord->safe_psql('postgres', $hourly) eq $single->safe_psql('postgres', $hourly),
	'... and every hourly row');

# --- DROP EXTENSION leaves no shard ----------------------------------------
$coord->safe_psql('postgres', 'DROP EXTENSION metrics_rollup');
is($coord->safe_psql('postgres', q{
	SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'metrics_rollup.%'}),
	'0', 'DROP EXTENSION: no distributed table left in the metadata');
for my $w ($w1, $w2)
{
	is($w->safe_psql('postgres', q{
		SET citus.show_shards_for_app_name_prefixes = '*';
		SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		         WHERE n.nspname = 'metrics_rollup')
		     + (SELECT count(*) FROM pg_extension WHERE extname = 'metrics_rollup')}),
		'0', $w->name . ': DROP EXTENSION left no shard and no table');
}

done_testing();
