# Concurrent producers: N sessions (2, 4, 8) record with record() and
# record_batch() at once; after flush() raw_metrics holds exactly every
# event, and per-entity counts and sums match what each session sent.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;

my $node = mr_node('concurrency', q{
metrics_rollup.flush_interval = '100ms'
max_connections = 40
});
$node->safe_psql('postgres', 'CREATE EXTENSION metrics_rollup');

# Each transaction of a client: 1 record() + a batch of 2 = 3 events,
# response times 0.25 + 0.5 + 1.5 = 2.25 s, one failure.
my $m = 300;    # transactions per client
foreach my $n (2, 4, 8)
{
	my $kind = "conc$n";
	$node->pgbench(
		"-n -c $n -j $n -t $m",
		0, [qr{processed: @{[$n * $m]}/@{[$n * $m]}}], [qr{^$}],
		"pgbench with $n clients",
		{
			"010_ingest_$n" => qq{
SELECT metrics_rollup.record('$kind', 'client' || :client_id, 0.25, true);
SELECT metrics_rollup.record_batch('$kind', ARRAY['client' || :client_id, 'client' || :client_id],
       ARRAY[0.5, 1.5], ARRAY[true, false], ARRAY[NULL, 'failed'], ARRAY['Client', 'Client']);
}
		});
	$node->safe_psql('postgres', 'SELECT metrics_rollup.flush()');
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = '$kind'"),
		$n * $m * 3, "$n sessions: every event landed exactly once");
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM (
		  SELECT entity_id, count(*) AS c, sum(response_time) AS s,
		         count(*) FILTER (WHERE NOT success) AS f,
		         count(error_message) AS e
		    FROM metrics_rollup.raw_metrics WHERE kind = '$kind'
		   GROUP BY entity_id) x
		 WHERE c = $m * 3 AND s = $m * 2.25 AND f = $m AND e = $m}),
		$n, "$n sessions: per-entity counts and sums match");
}

is($node->safe_psql('postgres', qq{
	SELECT events_buffered = events_flushed AND events_pending = 0
	       AND events_dropped = 0 AND events_direct = 0 AND buffer_used_bytes = 0
	  FROM metrics_rollup.stats}),
	't', 'counters: every buffered event flushed, nothing lost');
is($node->safe_psql('postgres', 'SELECT events_flushed FROM metrics_rollup.stats'),
	(2 + 4 + 8) * $m * 3, 'events_flushed counts committed events');

$node->stop;
done_testing();
