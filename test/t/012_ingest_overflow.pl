# A tiny buffer (buffer_size = 1MB) that overflows, under each
# overflow_policy: wait (no loss), direct (no loss, counted), drop
# (rows + dropped = sent), error (an ERROR per refused batch, rows = sent -
# refused).  The worker is switched off while the buffer fills, so that the
# overflow is certain.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;
use IPC::Run;

my $node = mr_node('overflow', q{
metrics_rollup.buffer_size = '1MB'
metrics_rollup.flush_interval = '100ms'
});
$node->safe_psql('postgres', 'CREATE EXTENSION metrics_rollup');
mr_wait_worker($node);
is($node->safe_psql('postgres', 'SELECT buffer_capacity_bytes FROM metrics_rollup.stats'),
	1024 * 1024, 'capacity is buffer_size');

my $batches = 25;
my $size = 1000;    # about 48 kB per batch: 25 batches overflow 1 MB

sub worker_enabled
{
	my ($on) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET metrics_rollup.enabled = $on");
	$node->reload;
	sleep 1;    # the worker reads the setting at its next wakeup (100ms)
}

sub stat_of
{
	my ($col) = @_;
	return $node->safe_psql('postgres', "SELECT $col FROM metrics_rollup.stats");
}

# Send $batches batches under $policy; returns the number of ERRORs.
sub send_batches
{
	my ($policy, $kind, %set) = @_;
	my $sql = "SET metrics_rollup.overflow_policy = '$policy';\n";
	$sql .= "SET $_ = '$set{$_}';\n" foreach keys %set;
	$sql .= qq{SELECT metrics_rollup.record_batch('$kind', array_agg('e' || i % 7),
	             array_agg(i * 0.001), array_agg(true)) FROM generate_series(1, $size) i;\n}
	  x $batches;
	my ($ret, $out, $err) = $node->psql('postgres', $sql, on_error_stop => 0);
	my @errors = $err =~ /ERROR:  metrics_rollup ingest buffer is full/g;
	return scalar @errors;
}

sub rows
{
	my ($kind) = @_;
	$node->safe_psql('postgres', 'SELECT metrics_rollup.flush()');
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = '$kind'");
}

my $sent = $batches * $size;

# direct
worker_enabled('off');
my $direct0 = stat_of('events_direct');
is(send_batches('direct', 'ov_direct'), 0, 'direct: no errors');
my $direct = stat_of('events_direct') - $direct0;
ok($direct > 0, "direct: $direct events written directly");
worker_enabled('on');
is(rows('ov_direct'), $sent, 'direct: no event lost');

# drop
worker_enabled('off');
my $dropped0 = stat_of('events_dropped');
is(send_batches('drop', 'ov_drop'), 0, 'drop: no errors');
my $dropped = stat_of('events_dropped') - $dropped0;
ok($dropped > 0, "drop: $dropped events dropped");
worker_enabled('on');
is(rows('ov_drop') + $dropped, $sent, 'drop: rows + dropped = sent');

# error
worker_enabled('off');
my $rejected0 = stat_of('events_rejected');
my $failed = send_batches('error', 'ov_error');
ok($failed > 0, "error: $failed batches refused with an ERROR");
is(stat_of('events_rejected') - $rejected0, $failed * $size, 'error: refused events counted');
worker_enabled('on');
is(rows('ov_error'), $sent - $failed * $size, 'error: rows = sent - refused');

# wait, the worker off: each overflowing batch waits overflow_wait, then
# is written directly
worker_enabled('off');
my ($over0, $dir0) = (stat_of('events_overflowed'), stat_of('events_direct'));
is(send_batches('wait', 'ov_wait', 'metrics_rollup.overflow_wait' => '200ms'), 0,
	'wait: no errors');
ok(stat_of('events_overflowed') > $over0, 'wait: overflowing events counted');
ok(stat_of('events_direct') > $dir0, 'wait: after overflow_wait, written directly');
worker_enabled('on');
is(rows('ov_wait'), $sent, 'wait: no event lost');

# wait, the worker back within overflow_wait: the event gets into the
# buffer.  The fill leaves about 32 kB free per ring; the event takes 40 kB.
worker_enabled('off');
send_batches('drop', 'ov_fill');
($over0, $dir0) = (stat_of('events_overflowed'), stat_of('events_direct'));
my ($out, $err) = ('', '');
my $waiter = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $node->connstr('postgres'), '-c',
	  "SET metrics_rollup.overflow_policy = 'wait'; SET metrics_rollup.overflow_wait = '60s'; "
	  . "SET metrics_rollup.max_error_length = 65535; "
	  . "SELECT metrics_rollup.record('ov_waited', 'e1', 0.1, false, repeat('x', 40000))" ],
	'>', \$out, '2>', \$err);
$node->poll_query_until('postgres', "SELECT events_overflowed > $over0 FROM metrics_rollup.stats")
  or die 'record() did not wait';
worker_enabled('on');
$waiter->finish;
is($err, '', 'wait: the waiting record() succeeded');
is(stat_of('events_direct') - $dir0, 0, 'wait: it went into the buffer, not directly');
is(rows('ov_waited'), 1, 'wait: the event landed');

$node->stop;
done_testing();
