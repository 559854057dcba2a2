# The sketch type works in a server WITHOUT shared_preload_libraries: it
# needs no shared memory, so CREATE EXTENSION and every sketch function work.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;

my $node = mr_node('no_preload', '', preload => 0);

is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	'', 'the library is not preloaded');
$node->safe_psql('postgres', 'CREATE EXTENSION metrics_rollup');

$node->safe_psql('postgres',
	'CREATE TABLE t AS SELECT i, (i % 1000) / 100.0 AS v FROM generate_series(1, 10000) i');
is( $node->safe_psql(
		'postgres', q{
SELECT metrics_rollup.sketch_count(s) = 10000,
       metrics_rollup.sketch_min(s) = 0 AND metrics_rollup.sketch_max(s) = 9.99,
       abs(metrics_rollup.sketch_quantile(s, 0.5) - e) <= 0.01 * e
  FROM (SELECT metrics_rollup.sketch_agg(v) s,
               percentile_disc(0.5) WITHIN GROUP (ORDER BY v) e FROM t) a}),
	't|t|t',
	'sketch_agg, count, min, max and quantile work without preload');

is( $node->safe_psql(
		'postgres', q{
SELECT (SELECT metrics_rollup.sketch_merge(s)::text
          FROM (SELECT metrics_rollup.sketch_agg(v) s FROM t GROUP BY i % 4) p)
     = (SELECT metrics_rollup.sketch_agg(v)::text FROM t)}),
	't', 'sketch_merge equals one pass without preload');

is( $node->safe_psql(
		'postgres', q{
SET metrics_rollup.sketch_relative_accuracy = 0.02;
SELECT metrics_rollup.sketch_relative_accuracy(metrics_rollup.sketch_agg(v)) FROM t}),
	'0.02', 'the relative accuracy setting works without preload');

my ($ret, $out, $err) = $node->psql('postgres',
	q{SELECT 'nonsense'::metrics_rollup.sketch});
like($err, qr/invalid input syntax for type sketch/, 'bad input is an error, not a crash');
# restart-only settings say so although, loaded late, they are reloadable
is($node->safe_psql('postgres', q{
	SELECT string_agg(name, ',' ORDER BY name) FROM metrics_rollup.config WHERE requires_restart}),
	'metrics_rollup.buffer_size,metrics_rollup.database,metrics_rollup.max_live_entities,metrics_rollup.max_poll_entities',
	'config: restart-only settings require a restart without preloading');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'server still up');

$node->stop;
done_testing();
