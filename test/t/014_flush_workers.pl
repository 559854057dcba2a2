# Flush workers (metrics_rollup.flush_workers = 3): each owns a disjoint set
# of rings and all of them together drain everything; flush() waits for all
# of them; a terminated flush worker loses nothing (final flush, restart);
# and flushes go on while the maintenance worker runs a long rollup.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = mr_node('flush_workers', q{
metrics_rollup.flush_workers = 3
metrics_rollup.flush_interval = '1h'
metrics_rollup.rollup_enabled = off
metrics_rollup.cleanup_enabled = off
max_worker_processes = 16
max_connections = 40
});
$node->safe_psql('postgres', 'CREATE EXTENSION metrics_rollup');
$node->poll_query_until('postgres',
	'SELECT count(pid) = 3 FROM metrics_rollup.flush_workers')
  or die 'flush workers did not start';

# 1. Three processes, rings 0..8 split three ways, nothing shared.
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'metrics_rollup flush worker'}),
	'3', 'three flush worker processes');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'metrics_rollup worker'}),
	'1', 'and one maintenance worker');
is($node->safe_psql('postgres', q{
	SELECT string_agg(array_to_string(rings, ','), ' ' ORDER BY flush_worker)
	  FROM metrics_rollup.flush_workers}),
	'0,3,6 1,4,7 2,5,8', 'rings: nine (a multiple of 3, at least 8), ring i to worker i % 3');
is($node->safe_psql('postgres', q{
	SELECT count(DISTINCT r) = 9 AND count(*) = 9
	       AND (SELECT sum(capacity_bytes) FROM metrics_rollup.flush_workers)
	           = (SELECT buffer_capacity_bytes FROM metrics_rollup.stats)
	  FROM metrics_rollup.flush_workers f, unnest(f.rings) r}),
	't', 'disjoint rings covering the whole buffer');

# 2. flush() waits for every drainer.  flush_interval is 1h: only flush()
# wakes them.  Six concurrent sessions (distinct backend ids) spread their
# events over the rings of all three workers.
my @sessions;
for my $s (1 .. 6)
{
	my $bp = $node->background_psql('postgres');
	$bp->query_safe(qq{
		SELECT metrics_rollup.record_batch('spread', array_agg('s$s-' || i % 7),
		       array_agg(i * 0.001), array_agg(true))
		  FROM generate_series(1, 1000) i});
	push @sessions, $bp;
}
my $busy = $node->safe_psql('postgres',
	'SELECT count(*) FROM metrics_rollup.flush_workers WHERE backlog_events > 0');
cmp_ok($busy, '>=', 2, "events wait in the rings of $busy flush workers");
is($node->safe_psql('postgres', 'SELECT metrics_rollup.flush()'), '6000',
	'flush() covered the 6000 events of all rings');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = 'spread'}),
	'6000', 'after flush() every event of every ring is committed');
is($node->safe_psql('postgres', q{
	SELECT sum(backlog_events) = 0 AND sum(events_flushed) = (SELECT events_flushed FROM metrics_rollup.stats)
	       AND count(*) FILTER (WHERE events_flushed > 0) >= 2
	  FROM metrics_rollup.flush_workers}),
	't', 'no backlog; per-worker counts add up to the total');
$_->quit for @sessions;

# 3. A flush worker terminated under load: its final flush writes its rings,
# it comes back, and nothing is lost.
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET metrics_rollup.flush_interval = '50ms'; SELECT pg_reload_conf()});
my $script = $node->basedir . '/load.sql';
append_to_file($script,
	"SELECT metrics_rollup.record('load', 'c' || :client_id, 0.01, true);\n");
my ($out, $err) = ('', '');
my $load = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '4', '-j', '4', '-t', '2500', '-f', $script,
	  $node->connstr('postgres') ],
	'>', \$out, '2>', \$err);
usleep(500_000);
my $victim = $node->safe_psql('postgres',
	'SELECT pid FROM metrics_rollup.flush_workers WHERE flush_worker = 1');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($victim)");
$load->finish;
like($out, qr/processed: 10000\/10000/, 'the load ran to its end');
$node->poll_query_until('postgres', qq{
	SELECT pid IS NOT NULL AND pid <> $victim AND starts = 2
	  FROM metrics_rollup.flush_workers WHERE flush_worker = 1})
  or die 'flush worker 1 did not come back';
$node->safe_psql('postgres', 'SELECT metrics_rollup.flush()');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = 'load'}),
	'10000', 'terminating a flush worker under load lost nothing');

# 4. Flushes go on while the maintenance worker rolls up 600k rows: the
# flush count advances during the rollup as flush_interval (50 ms) says.
$node->safe_psql('postgres', q{
	INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
	SELECT 'bulk', 'e' || i % 200, date_trunc('hour', now()) - interval '1 hour' * (i % 30) - interval '1 s' * (i % 3000),
	       (i % 997) * 0.001, i % 11 <> 0
	  FROM generate_series(1, 600000) i});
$script = $node->basedir . '/trickle.sql';
append_to_file($script,
	"SELECT metrics_rollup.record('trickle', 'c' || :client_id, 0.01, true);\n");
($out, $err) = ('', '');
$load = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '1', '-R', '400', '-T', '600', '-f', $script,
	  $node->connstr('postgres') ],
	'>', \$out, '2>', \$err);
usleep(300_000);
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET metrics_rollup.rollup_enabled = on; SELECT pg_reload_conf()});

# sample (time, flush_count, maintenance worker active?) until the rollup ran
my @samples;
my $deadline = time + 300;
while (time < $deadline)
{
	my ($fc, $active, $runs) = split /\|/, $node->safe_psql('postgres', q{
		SELECT s.flush_count,
		       coalesce((SELECT a.state = 'active' FROM pg_stat_activity a
		                  WHERE a.backend_type = 'metrics_rollup worker'), false),
		       s.rollup_runs
		  FROM metrics_rollup.stats s});
	push @samples, [ time, $fc, $active eq 't' ];
	last if $runs > 0;
	usleep(100_000);
}
$load->kill_kill;
$load->finish;
my @active = grep { $_->[2] } @samples;
my $seconds = @active ? $active[-1][0] - $active[0][0] : 0;
my $flushes = @active ? $active[-1][1] - $active[0][1] : 0;
note sprintf('rollup ran for %.1f s (as sampled); %d flushes committed meanwhile', $seconds, $flushes);
is($node->safe_psql('postgres', q{
	SELECT rollup_last_status || ' ' || (SELECT sum(total_count) FROM metrics_rollup.hourly_metrics WHERE kind = 'bulk')
	  FROM metrics_rollup.stats}),
	'ok 600000', 'the maintenance worker rolled up the 600000 rows');
cmp_ok($seconds, '>', 0.5, 'the rollup ran long enough to measure');
# 50 ms flushes with events trickling in: expect ~20 a second, ask for 4
cmp_ok($flushes, '>=', 4 * $seconds, 'flushes went on during the rollup');
$node->safe_psql('postgres', 'SELECT metrics_rollup.flush()');
# pgbench killed: count what landed against what the buffer took
is($node->safe_psql('postgres', q{
	SELECT events_buffered = events_flushed AND events_pending = 0 AND events_direct = 0
	  FROM metrics_rollup.stats}),
	't', 'every buffered event was flushed');

$node->stop;
done_testing();
