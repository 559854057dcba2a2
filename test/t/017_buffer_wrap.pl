# buffer_batch_can_ever_fit counts wrap padding (issue 14, suspected item):
# a batch exactly one ring large fits an empty ring only when the ring's
# head sits at its start.  Elsewhere a record would straddle the end, the
# wrap marker pads it, and the batch can never fit: waiting for room
# (overflow_policy = wait) is futile and it must go direct at once, not
# after overflow_wait.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;
use Time::HiRes qw(time);

my $node = mr_node('wrap', q{
metrics_rollup.buffer_size = '1MB'
metrics_rollup.overflow_policy = 'wait'
metrics_rollup.overflow_wait = '4s'
});
$node->safe_psql('postgres', 'CREATE EXTENSION metrics_rollup');

# Every ring's head off its start: 16 sessions at once (consecutive backend
# ids cover the 8 rings) record a 40-byte event each.  Then 128 records of
# exactly 1024 bytes (32-byte header, kind and id of 1 byte, a 990-byte
# error) = 131072 bytes = one ring (1 MB / 8): in no ring can they fit.
my @sessions;
foreach (1 .. 16)
{
	my $s = $node->background_psql('postgres');
	$s->query_safe(q{SELECT metrics_rollup.record('w', 'e', 0, true)});
	push @sessions, $s;
}
$node->safe_psql('postgres', 'SELECT metrics_rollup.flush()');
$_->quit foreach @sessions;
my $out = $node->safe_psql('postgres', q{
SELECT extract(epoch FROM clock_timestamp());
SELECT metrics_rollup.record_batch('w', array_fill('e'::text, ARRAY[128]), array_fill(0.5::float8, ARRAY[128]),
       array_fill(false, ARRAY[128]), array_fill(repeat('x', 990), ARRAY[128]));
SELECT extract(epoch FROM clock_timestamp());
});
my @lines = split /\n/, $out;
my $elapsed = $lines[-1] - $lines[-3];
cmp_ok($elapsed, '<', 2, sprintf('a batch that can never fit went direct at once (%.2f s, overflow_wait 4 s)', $elapsed));
is($node->safe_psql('postgres', q{SELECT events_direct FROM metrics_rollup.stats}), '128',
	'written directly, counted');
is($node->safe_psql('postgres', q{SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = 'w'}), '144',
	'nothing lost');

# a batch one record smaller still fits and is buffered
$out = $node->safe_psql('postgres', q{
SELECT metrics_rollup.record_batch('w', array_fill('e'::text, ARRAY[120]), array_fill(0.5::float8, ARRAY[120]),
       array_fill(false, ARRAY[120]), array_fill(repeat('x', 990), ARRAY[120]));
SELECT metrics_rollup.flush();
SELECT events_direct FROM metrics_rollup.stats;
});
is((split /\n/, $out)[-1], '128', 'a batch with room for its wrap padding is buffered');

$node->stop;
done_testing();
