# sketch_agg is pushed down by Citus (1.2: its state is the sketch type with
# a combine function): on a coordinator + one worker, EXPLAIN VERBOSE shows
# worker_partial_agg(sketch_agg ...) on the shards and coord_combine_agg on
# the coordinator, nothing is pulled up (coordinator_aggregation_strategy
# 'disabled' turns a pull-up into an ERROR), and every result has the bytes
# of sketch_agg over the same rows in an ordinary table.
#
# Runs when citus.so is installed (Citus 12.1 for PostgreSQL 15; not a
# Debian package: built from source), otherwise skips, saying so.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;

my $pkglibdir = `pg_config --pkglibdir`;
chomp $pkglibdir;
plan skip_all => "citus.so is not installed in $pkglibdir (build Citus 12.1 to run this test)"
  unless -f "$pkglibdir/citus.so";

my $conf = q{
shared_preload_libraries = 'citus,metrics_rollup'
metrics_rollup.rollup_enabled = off
metrics_rollup.cleanup_enabled = off
max_worker_processes = 32
};
my $coord = mr_node('sa_coord', $conf);
my $worker = mr_node('sa_worker', $conf);
for my $n ($coord, $worker)
{
	$n->safe_psql('postgres', 'CREATE EXTENSION citus');
	$n->safe_psql('postgres', 'CREATE EXTENSION metrics_rollup');
}
$coord->safe_psql('postgres', sprintf(q{SELECT citus_set_coordinator_host('%s', %d)},
	$coord->host, $coord->port));
$coord->safe_psql('postgres', sprintf(q{SELECT citus_add_node('%s', %d)},
	$worker->host, $worker->port));
is($coord->safe_psql('postgres', 'SELECT count(*) FROM citus_get_active_worker_nodes()'),
	'1', 'one worker node');

# the same rows in a distributed table (shards on the worker only) and in
# an ordinary table on the coordinator (the oracle)
$coord->safe_psql('postgres', q{
	CREATE TABLE plain_v AS
	SELECT i % 50 AS g,
	       CASE WHEN i % 97 = 0 THEN NULL
	            ELSE exp(-3 + 1.5 * sin(i * 0.7) + 0.5 * cos(i * 1.3)) END AS v
	  FROM generate_series(1, 200000) i;
	CREATE TABLE dist_v (g int, v double precision);
	SELECT create_distributed_table('dist_v', 'g', shard_count => 8);
	INSERT INTO dist_v SELECT * FROM plain_v;
});
is($coord->safe_psql('postgres', q{
	SELECT count(DISTINCT n.nodeport) FROM pg_dist_shard s
	  JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
	 WHERE s.logicalrelid = 'dist_v'::regclass}), '1', 'the shards sit on one node');
is($coord->safe_psql('postgres', q{
	SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid) LIMIT 1}),
	$worker->port, 'and that node is the worker');

my $plan = $coord->safe_psql('postgres', q{
	EXPLAIN (VERBOSE, COSTS OFF) SELECT metrics_rollup.sketch_agg(v) FROM dist_v});
like($plan, qr/worker_partial_agg\('metrics_rollup\.sketch_agg\(double precision\)'/,
	'EXPLAIN VERBOSE: sketch_agg runs as worker_partial_agg on the shards');
my $oid = $coord->safe_psql('postgres',
	q{SELECT 'metrics_rollup.sketch_agg(double precision)'::regprocedure::oid});
like($plan, qr/coord_combine_agg\('$oid'::oid, remote_scan\.sketch_agg, NULL::metrics_rollup\.sketch\)/,
	'and is combined by coord_combine_agg on the coordinator');
$plan = $coord->safe_psql('postgres', q{
	EXPLAIN (VERBOSE, COSTS OFF)
	SELECT v > 1, metrics_rollup.sketch_agg(v, 0.001) FROM dist_v GROUP BY 1});
like($plan,
	qr/worker_partial_agg\('metrics_rollup\.sketch_agg\(double precision,double precision\)'/,
	'the alpha form too, grouped by a non-distribution column');

# nothing pulled up: a pull-up would be an ERROR under this setting
my $strict = q{SET citus.coordinator_aggregation_strategy = 'disabled';};
for my $case (
	[ 'one group', q{SELECT metrics_rollup.sketch_agg(v)::text FROM %s} ],
	[ 'alpha form',
		q{SELECT metrics_rollup.sketch_agg(v, 0.002)::text FROM %s} ],
	[ 'grouped by a non-distribution column',
		q{SELECT v > 1, metrics_rollup.sketch_agg(v)::text FROM %s GROUP BY 1 ORDER BY 1} ],
	[ 'grouped by the distribution column',
		q{SELECT g, metrics_rollup.sketch_agg(v)::text FROM %s GROUP BY 1 ORDER BY 1} ],
	[ 'sketch_quantile of it',
		q{SELECT metrics_rollup.sketch_quantile(metrics_rollup.sketch_agg(v), 0.95) FROM %s} ],
	[ 'no rows', q{SELECT metrics_rollup.sketch_agg(v) IS NULL FROM %s WHERE v < 0} ],
	[ 'only NULLs', q{SELECT metrics_rollup.sketch_agg(v) IS NULL FROM %s WHERE v IS NULL} ])
{
	my ($name, $sql) = @$case;
	my $expected = $coord->safe_psql('postgres', sprintf($sql, 'plain_v'));
	my ($rc, $out, $err) = $coord->psql('postgres', $strict . sprintf($sql, 'dist_v'));
	is($rc, 0, "$name: pushed down (no pull-up error)") or diag $err;
	is($out, $expected, "$name: the bytes of sketch_agg over an ordinary table");
}
isnt($coord->safe_psql('postgres', q{SELECT metrics_rollup.sketch_agg(v) IS NULL FROM plain_v}),
	't', 'the oracle is not empty');

$coord->stop;
$worker->stop;
done_testing();
