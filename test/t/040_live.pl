# Live statistics in a real server: expiry as the window slides, eviction
# at max_live_entities, concurrent counting, the rate-limited slow-call log,
# and dropped events staying out of the live table.
use strict;
use warnings;
use Time::HiRes qw(time usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;

# enabled = off: no worker drains the 1MB buffer, so the last part can fill
# it and see events dropped (overflow_policy = drop).
my $node = mr_node('live', q{
metrics_rollup.max_live_entities = 100
metrics_rollup.live_window = '1min'
metrics_rollup.slow_threshold = '100ms'
metrics_rollup.enabled = off
metrics_rollup.buffer_size = '1MB'
metrics_rollup.overflow_policy = drop
});
$node->safe_psql('postgres', 'CREATE EXTENSION metrics_rollup');

sub q1 { return $node->safe_psql('postgres', shift); }

# ------------------------------------------------------------------ expiry
# 10 s slices of a 1 min window: an event is shown for 50 to 60 s.
my $t0 = time;
q1("SELECT metrics_rollup.record('expire', 'x1', 0.02, false)");
is(q1("SELECT count, failures, min_response_time FROM metrics_rollup.live_stats WHERE kind = 'expire'"),
	'1|1|0.02', 'a fresh event is live');

# ------------------------------------------------------------------ slow log
# (runs while the expiry event ages)
q1("SELECT metrics_rollup.record('slow', 's1', 0.5, true)");
$node->wait_for_log(qr/LOG:  slow call: slow "s1" took 0\.500 s\n/);
pass('a slow event writes a LOG line with kind, entity and seconds');

# a storm of 1000 slow events: at most 10 lines a second; the next line
# reports how many were suppressed
sleep 1;
my $offset = -s $node->logfile;
q1("SELECT metrics_rollup.record_batch('slow', array_fill('storm'::text, ARRAY[1000]),
	array_fill(0.2::float8, ARRAY[1000]), array_fill(true, ARRAY[1000]))");
q1("SELECT metrics_rollup.record('slow', 's2', 0.05, true)");
sleep 1.2;
q1("SELECT metrics_rollup.record('slow', 'after', 0.3, true)");
$node->wait_for_log(qr/slow call: slow "after" took 0\.300 s \(\d+ more slow calls suppressed\)/, $offset);
my $log = slurp_file($node->logfile, $offset);
my $storm_lines = () = $log =~ /slow call: slow "storm" took 0\.200 s/g;
my $suppressed = 0;
$suppressed += $1 while $log =~ /\((\d+) more slow calls suppressed\)/g;
ok($storm_lines >= 1 && $storm_lines <= 20, "storm rate-limited ($storm_lines lines)");
is($storm_lines + $suppressed, 1000, 'every storm event was logged or counted as suppressed');
unlike($log, qr/"s2"/, 'an event under slow_threshold writes no line');
is(q1('SELECT slow_calls_logged + slow_calls_suppressed FROM metrics_rollup.live_info()'),
	'1002', 'live_info counts logged and suppressed slow calls');

# ------------------------------------------------------------------ expiry, cont.
$node->poll_query_until('postgres',
	"SELECT count = 0 FROM metrics_rollup.live_stats WHERE kind = 'expire'")
  or die 'the event never expired';
my $elapsed = time - $t0;
ok($elapsed >= 49 && $elapsed <= 75, sprintf('the event expired after %.0f s (window 60 s, slices 10 s)', $elapsed));
is(q1("SELECT count, failures, min_response_time IS NULL, p99_response_time IS NULL, last_seen IS NOT NULL, use_count
	FROM metrics_rollup.live_stats WHERE kind = 'expire'"),
	'0|0|t|t|t|1', 'an expired entity stays with count 0, NULL statistics, its last_seen and use_count');
is(q1("SELECT count(*) FROM metrics_rollup.classify('expire')"), '1', 'classify still sees it');

# ------------------------------------------------------------------ eviction
my $evicted_before = q1('SELECT evictions FROM metrics_rollup.live_info()');
my $tracked_before = q1('SELECT entities FROM metrics_rollup.live_info()');
q1("SELECT metrics_rollup.record('evict', 'e' || lpad(i::text, 3, '0'), 0.01, true)
	FROM generate_series(1, 150) i");
is(q1('SELECT entities, max_entities FROM metrics_rollup.live_info()'), '100|100',
	'the live table holds max_live_entities entities');
is(q1('SELECT evictions FROM metrics_rollup.live_info()') - $evicted_before,
	$tracked_before + 50, 'every entity beyond capacity evicted one, counted');
is(q1("SELECT count(*), min(entity_id), max(entity_id) FROM metrics_rollup.live_stats"),
	'100|e051|e150', 'the least recently seen went first');

# ------------------------------------------------------------------ concurrency
# 4 clients x 500 calls over 20 entities: every event counted exactly once
$node->pgbench('-n -c 4 -j 2 -t 500', 0, [qr/processed: 2000\/2000/], [qr/^$/],
	'concurrent record() calls',
	{ '040_live_conc' => "SELECT metrics_rollup.record('conc', 'c' || (random() * 19)::int, 0.01, random() < 0.5);\n" });
is(q1("SELECT sum(count), sum(use_count) FROM metrics_rollup.live_stats WHERE kind = 'conc'"),
	'2000|2000', 'concurrent events all counted');

# ------------------------------------------------------------------ dropped
my $buffered_before = q1('SELECT events_buffered FROM metrics_rollup.stats');
for (1 .. 40)
{
	q1("SELECT metrics_rollup.record_batch('drop', array_fill('d1'::text, ARRAY[1000]),
		array_fill(0.01::float8, ARRAY[1000]), array_fill(true, ARRAY[1000]))");
}
my ($buffered, $dropped) = split /\|/, q1('SELECT events_buffered, events_dropped FROM metrics_rollup.stats');
ok($dropped > 0, "the full buffer dropped events ($dropped)");
is(q1("SELECT count FROM metrics_rollup.live_stats WHERE kind = 'drop'"),
	$buffered - $buffered_before, 'only recorded events are live, dropped ones are not');

$node->stop;
done_testing();
