# kill -9 of a backend during a load: the server crash-restarts (shared
# memory, and the events buffered in it, are lost), the worker comes back
# and resumes.  The loss is at most what was buffered: measured and printed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;
use IPC::Run;

my $node = mr_node('crash', q{
metrics_rollup.flush_interval = '200ms'
metrics_rollup.rollup_enabled = off
metrics_rollup.cleanup_enabled = off
restart_after_crash = on
});
$node->safe_psql('postgres', 'CREATE EXTENSION metrics_rollup');
mr_wait_worker($node);

my $script = $node->basedir . '/load.sql';
PostgreSQL::Test::Utils::append_to_file($script,
	"SELECT metrics_rollup.record('load', 'client' || :client_id, 0.01, true);\n");
my ($out, $err) = ('', '');
my $load = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '4', '-j', '4', '-T', '8', '-f', $script,
	  $node->connstr('postgres') ],
	'>', \$out, '2>', \$err);
sleep 3;
my $pending = $node->safe_psql('postgres', 'SELECT events_pending FROM metrics_rollup.stats');
my $victim = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend'
	   AND pid <> pg_backend_pid() AND query LIKE '%metrics_rollup.record%' LIMIT 1});
die 'no pgbench backend' unless $victim =~ /^\d+$/;
note "killing backend $victim with $pending events buffered";
kill 'KILL', $victim;
$load->finish;
my ($sent) = $out =~ /number of transactions actually processed: (\d+)/;
$sent //= 0;
my ($tps) = $out =~ /tps = ([\d.]+)/;
$tps //= 0;
note "pgbench: $sent acknowledged events, $tps tps";
ok($sent > 0, 'the load ran');

mr_wait_worker($node);
ok($node->log_contains('all server processes terminated; reinitializing'),
	'the server went through a crash restart');
my $stored = $node->safe_psql('postgres',
	"SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = 'load'");
my $loss = $sent - $stored;
note "sent $sent, stored $stored, lost $loss (buffered when killed: about $pending)";
ok($stored <= $sent + 4, 'nothing stored twice');
# lost = what sat in shared memory: the buffer at the kill, plus what the
# load added during at most one flush interval (200 ms) before it
my $bound = $pending + int($tps * 0.5) + 50;
ok($loss <= $bound, "loss $loss is at most what was buffered (bound $bound)");

$node->safe_psql('postgres', q{SELECT metrics_rollup.record('after', 'x', 0.1, true)});
# flush() may return 0: the worker (200 ms interval) can beat it to the event
$node->safe_psql('postgres', 'SELECT metrics_rollup.flush()');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = 'after'}), '1',
	'the worker resumed flushing after the crash restart');
is($node->safe_psql('postgres', q{
	SELECT worker_starts || ' ' || flush_circuit FROM metrics_rollup.stats}),
	'1 closed', 'fresh shared memory: one worker start since the restart, circuit closed');
$node->stop;
done_testing();
