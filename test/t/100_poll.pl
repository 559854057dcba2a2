# Poll scheduling in a real server: least-recently-used eviction at
# max_poll_entities, should_poll()/mark_polled() from many sessions at once
# (with reclassification on every call), poll state across a restart (lost:
# everything is polled once; known_entities stays), and the per-kind
# slow-call thresholds of record().
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;

my $node = mr_node('poll', q{
metrics_rollup.max_poll_entities = 100
metrics_rollup.hot_poll_interval = '1h'
metrics_rollup.cold_poll_interval = '2h'
metrics_rollup.slow_threshold = '100ms'
metrics_rollup.slow_thresholds = 'prompt=1s, resource=0'
});
$node->safe_psql('postgres', 'CREATE EXTENSION metrics_rollup');

sub q1 { return $node->safe_psql('postgres', shift); }

# ------------------------------------------------------------------ LRU eviction
# fill the table (100 entities), use k001 again, add one more: the least
# recently used one (k002) goes, k001 stays
q1("SELECT metrics_rollup.mark_polled('lru', 'k' || lpad(i::text, 3, '0'), 'health')
	FROM generate_series(1, 100) i");
is(q1('SELECT entities, evictions FROM metrics_rollup.poll_info()'), '100|0', 'table full, nothing evicted');
q1("SELECT pg_sleep(0.01)");
q1("SELECT metrics_rollup.should_poll('lru', 'k001', 'health')");
q1("SELECT metrics_rollup.mark_polled('lru', 'k101', 'health')");
is(q1('SELECT entities, evictions FROM metrics_rollup.poll_info()'), '100|1', 'one eviction, still bounded');
is(q1("SELECT string_agg(entity_id, ',' ORDER BY entity_id) FROM metrics_rollup.poll_state()
	WHERE entity_id IN ('k001', 'k002', 'k003', 'k101')"),
	'k001,k003,k101', 'the least recently used entity was evicted');
is(q1("SELECT metrics_rollup.should_poll('lru', 'k002', 'health')"), 't', 'an evicted entity is polled (never polled)');

# ------------------------------------------------------------------ concurrency
# 8 sessions, 300 entities for 100 places, a reclassification on every call
# (class_refresh_interval = 0) while events arrive: no error, no crash,
# the table stays bounded with unique keys.
q1("INSERT INTO metrics_rollup.known_entities (kind, entity_id)
	SELECT 'conc', 'e' || i FROM generate_series(1, 300) i");
q1("ALTER SYSTEM SET metrics_rollup.class_refresh_interval = 0");
q1("SELECT pg_reload_conf()");
$node->pgbench(
	'--no-vacuum --client=8 --jobs=8 --transactions=300',
	0,
	[qr/processed: 2400\/2400/],
	[qr/^$/],
	'should_poll/mark_polled/record from 8 sessions',
	{
		'100_poll_conc' => q{
\set e random(1, 300)
SELECT metrics_rollup.record('conc', 'e' || :e, 0.01, true);
SELECT metrics_rollup.should_poll('conc', 'e' || :e, 'health');
SELECT metrics_rollup.mark_polled('conc', 'e' || :e, 'health');
SELECT metrics_rollup.should_poll('conc', 'e' || (:e + 1), 'tools');
SELECT metrics_rollup.mark_polled('conc', 'e' || (:e + 1), 'tools');
}
	});
my ($entities, $max, $evictions, $passes, $failures) =
  split /\|/, q1('SELECT entities, max_entities, evictions, classify_passes, classify_failures FROM metrics_rollup.poll_info()');
ok($entities <= $max && $entities > 0, "bounded: $entities of $max entities");
ok($evictions > 1, "entities were evicted under pressure ($evictions)");
ok($passes > 0, "classification passes ran ($passes)");
is($failures, '0', 'no classification failed');
is(q1("SELECT count(*) = count(DISTINCT (kind, entity_id, poll_type)) FROM metrics_rollup.poll_state()"),
	't', 'every (kind, entity, poll type) appears once');
# after the storm, a poll just marked is not due; its class is the one classify() gives
q1("SELECT metrics_rollup.mark_polled('conc', 'e1', 'health')");
is(q1("SELECT metrics_rollup.should_poll('conc', 'e1', 'health')"), 'f', 'a poll just marked is not due');
is(q1("SELECT p.class = c.class FROM metrics_rollup.poll_state() p
	JOIN metrics_rollup.classify('conc') c USING (kind, entity_id)
	WHERE p.entity_id = 'e1' AND p.poll_type = 'health'"),
	't', 'its class is the one classify() gives');

# ------------------------------------------------------------------ restart
# Poll state lives in shared memory only: lost at restart (every entity is
# polled once); known_entities is a table and stays.
q1("INSERT INTO metrics_rollup.known_entities (kind, entity_id) VALUES ('keep', 'x')");
q1("SELECT metrics_rollup.mark_polled('keep', 'x', 'health')");
is(q1("SELECT metrics_rollup.should_poll('keep', 'x', 'health')"), 'f', 'polled before the restart');
$node->restart;
is(q1('SELECT entities, evictions FROM metrics_rollup.poll_info()'), '0|0', 'the poll table starts empty');
is(q1("SELECT metrics_rollup.should_poll('keep', 'x', 'health')"), 't', 'after a restart: polled again');
is(q1("SELECT count(*) FROM metrics_rollup.known_entities WHERE kind = 'conc'"), '300', 'known_entities kept');
q1("SELECT metrics_rollup.mark_polled('keep', 'x', 'health')");
is(q1("SELECT metrics_rollup.should_poll('keep', 'x', 'health')"), 'f', 'the first mark_polled() starts it again');

# ------------------------------------------------------------------ slow thresholds
# slow_threshold 100ms by default, prompt 1s, resource off
my $offset = -s $node->logfile;
q1("SELECT metrics_rollup.record('tool', 't_slow', 0.2, true)");
q1("SELECT metrics_rollup.record('prompt', 'p_fast', 0.5, true)");
q1("SELECT metrics_rollup.record('resource', 'r_any', 5, true)");
q1("SELECT metrics_rollup.record('prompt', 'p_slow', 1.5, true)");
$node->wait_for_log(qr/slow call: prompt "p_slow" took 1\.500 s/, $offset);
my $log = slurp_file($node->logfile, $offset);
like($log, qr/slow call: tool "t_slow" took 0\.200 s/, 'a kind without its own threshold uses slow_threshold');
unlike($log, qr/"p_fast"/, 'under its kind threshold (prompt=1s): no line');
unlike($log, qr/"r_any"/, 'a kind threshold of 0 turns the log off for that kind');
pass('over its kind threshold: a line');

$node->stop;
done_testing();
