# The raw table locked (ACCESS EXCLUSIVE for a few seconds): flushing fails
# visibly (last_flush_error), loses nothing and resumes.  The worker waits
# for CREATE EXTENSION without crash-looping.  Without preloading, record()
# raises an ERROR with a HINT.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;
use IPC::Run;

my $node = mr_node('locked', q{
metrics_rollup.flush_interval = '200ms'
});

# no extension yet: the worker waits, it does not exit and restart
my $pid = mr_wait_worker($node);
sleep 3;
is(mr_wait_worker($node), $pid, 'worker waits for CREATE EXTENSION without restarting');
$node->safe_psql('postgres', 'CREATE EXTENSION metrics_rollup');
$node->safe_psql('postgres', "SELECT metrics_rollup.record('first', 'e', 1, true)");
# flush() may return 0 if the worker (200 ms interval) was faster
$node->safe_psql('postgres', 'SELECT metrics_rollup.flush()');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = 'first'}), '1',
	'after CREATE EXTENSION the worker flushes');

# lock raw_metrics for 8 seconds
my $locker = mr_hold_lock($node, 'metrics_rollup.raw_metrics', 8);

$node->safe_psql('postgres', q{
	SELECT metrics_rollup.record_batch('locked', array_agg('e' || i % 5), array_agg(i * 0.01),
	                                   array_agg(true))
	  FROM generate_series(1, 1000) i});
$node->safe_psql('postgres', q{SELECT metrics_rollup.record('locked', 'single', 0.5, false, 'x')});
$node->poll_query_until('postgres',
	'SELECT last_flush_error IS NOT NULL FROM metrics_rollup.stats')
  or die 'no flush error seen';
like($node->safe_psql('postgres', 'SELECT last_flush_error FROM metrics_rollup.stats'),
	qr/could not lock metrics_rollup.raw_metrics/, 'last_flush_error shows the lock failure');
is($node->safe_psql('postgres', 'SELECT events_pending FROM metrics_rollup.stats'),
	'1001', 'the events stay buffered while the table is locked');

# flush() waits until the lock is gone and the retry succeeded
is($node->safe_psql('postgres', 'SELECT metrics_rollup.flush()'), '1001',
	'flush() returns once the events are committed');
$locker->finish;
is($node->safe_psql('postgres', q{
	SELECT count(*), sum(response_time)::numeric(10,2) FROM metrics_rollup.raw_metrics
	 WHERE kind = 'locked'}),
	'1001|5005.50', 'nothing lost, nothing duplicated');
is($node->safe_psql('postgres', q{
	SELECT last_flush_error IS NULL AND flush_failures > 0 FROM metrics_rollup.stats}),
	't', 'flushing resumed: error cleared, failures counted');
$node->stop;

# not preloaded: the extension installs, record() explains what is missing
my $plain = PostgreSQL::Test::Cluster->new('not_preloaded');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', 'CREATE EXTENSION metrics_rollup');
my ($ret, $o, $e) = $plain->psql('postgres',
	"SELECT metrics_rollup.record('tool', 'e1', 0.1, true)");
isnt($ret, 0, 'record() fails without preloading');
like($e, qr/ERROR:  record\(\) requires metrics_rollup to be loaded via shared_preload_libraries/,
	'the error says why');
like($e, qr/HINT:  Add metrics_rollup to shared_preload_libraries/, 'with a HINT');
($ret, $o, $e) = $plain->psql('postgres', 'SELECT metrics_rollup.flush()');
like($e, qr/ERROR:  flush\(\) requires metrics_rollup/, 'flush() too');
$plain->stop;
done_testing();
