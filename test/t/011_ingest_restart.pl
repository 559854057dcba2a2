# Restarts: buffered events survive a fast shutdown (the worker's final
# flush) and a terminated worker; a load interrupted by "pg_ctl -m fast"
# loses nothing it was told succeeded.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;
use IPC::Run;

# a long flush_interval: events stay in the buffer until a flush is forced
my $node = mr_node('restart', q{metrics_rollup.flush_interval = '1h'});
$node->safe_psql('postgres', 'CREATE EXTENSION metrics_rollup');
mr_wait_worker($node);
# a forced flush: afterwards the worker sleeps for flush_interval (1h)
$node->safe_psql('postgres', q{SELECT metrics_rollup.record('warmup', 'e', 0, true)});
# (flush() may return 0: the worker's first run after it sees the extension
# can take the event before flush() asks)
$node->safe_psql('postgres', 'SELECT metrics_rollup.flush()');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = 'warmup'}), '1',
	'flush() forces a flush');

# 1. The worker is terminated with events buffered: its final flush writes
# them, and it comes back.
my $pid = $node->safe_psql('postgres', 'SELECT worker_pid FROM metrics_rollup.stats');
$node->safe_psql('postgres', q{
	SELECT metrics_rollup.record_batch('term', array_agg('e' || i % 10), array_agg(i * 0.001),
	                                   array_agg(i % 3 <> 0))
	  FROM generate_series(1, 3000) i});
is($node->safe_psql('postgres', 'SELECT events_pending FROM metrics_rollup.stats'),
	'3000', 'events wait in the buffer');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
$node->poll_query_until('postgres', qq{
	SELECT worker_pid IS NOT NULL AND worker_pid <> $pid FROM metrics_rollup.stats})
  or die 'worker did not come back';
is($node->safe_psql('postgres',
		"SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = 'term'"),
	'3000', 'terminated worker flushed every buffered event before exiting');

# 2. Fast shutdown with a buffer full of events.
$node->safe_psql('postgres', q{
	SELECT metrics_rollup.record_batch('fast', array_agg('e' || i % 10), array_agg(i * 0.001),
	                                   array_agg(true))
	  FROM generate_series(1, 20000) i});
is($node->safe_psql('postgres', 'SELECT events_pending FROM metrics_rollup.stats'),
	'20000', '20000 events buffered before the shutdown');

# 3. ... while 4 sessions keep recording.
my $script = $node->basedir . '/load.sql';
PostgreSQL::Test::Utils::append_to_file($script,
	"SELECT metrics_rollup.record('load', 'client' || :client_id, 0.01, true);\n");
my ($out, $err) = ('', '');
my $load = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '4', '-j', '4', '-T', '60', '-f', $script,
	  $node->connstr('postgres') ],
	'>', \$out, '2>', \$err);
sleep 3;
$node->stop('fast');
$load->finish;
my ($sent) = $out =~ /number of transactions actually processed: (\d+)/;
$sent //= 0;
note "pgbench: $sent transactions acknowledged";
ok($sent > 0, 'the load ran');

$node->start;
is($node->safe_psql('postgres',
		"SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = 'fast'"),
	'20000', 'fast shutdown: every buffered event is in raw_metrics');
my $rows = $node->safe_psql('postgres',
	"SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = 'load'");
note "load rows: $rows";
# an event whose acknowledgement was cut by the shutdown may be there too
ok($rows >= $sent && $rows <= $sent + 4,
	"interrupted load: acknowledged events ($sent) all kept ($rows rows)");
ok(!$node->log_contains('events not flushed'), 'final flush emptied the buffer');

$node->stop;
done_testing();
