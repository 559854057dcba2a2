# Observability: every postgres_exporter query (test/prometheus/queries.yaml)
# runs as a pg_monitor member and returns each metric it declares; the idle
# worker shows no stale activity in pg_stat_activity; a wrong
# metrics_rollup.database gives one WARNING naming the setting (no FATAL
# loop), shows in stats.worker_state, and the worker connects once the
# database exists.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;
use File::Basename qw(dirname);

my $node = mr_node('observe', '');
$node->safe_psql('postgres', q{
	CREATE EXTENSION metrics_rollup;
	CREATE ROLE regress_exporter LOGIN;
	GRANT pg_monitor TO regress_exporter;
	SELECT metrics_rollup.record('tool', 'e' || i, 0.01 * i, i % 4 <> 0) FROM generate_series(1, 20) i;
	SELECT metrics_rollup.flush();
});

# --- postgres_exporter queries ------------------------------------------------
my $yaml = slurp_file(dirname(__FILE__) . '/../prometheus/queries.yaml');
my (%query, %metrics, $current, $in_query);
for my $line (split /\n/, $yaml)
{
	next if $line =~ /^\s*#/;
	if ($line =~ /^(\w+):\s*$/) { $current = $1; $in_query = 0; next; }
	if ($line =~ /^  query: \|\s*$/) { $in_query = 1; next; }
	if ($line =~ /^  metrics:/) { $in_query = 0; next; }
	if ($in_query && $line =~ /^    (.*)$/) { $query{$current} .= "$1\n"; next; }
	push @{ $metrics{$current} }, $1 if $line =~ /^    - (\w+):\s*$/;
}
is(scalar(keys %query), 3, 'queries.yaml has three queries');
for my $name (sort keys %query)
{
	my $json = $node->safe_psql('postgres',
		"SET ROLE regress_exporter; SELECT row_to_json(q) FROM ($query{$name}) q LIMIT 1");
	ok($json ne '', "$name runs as a pg_monitor member and returns a row");
	my @missing = grep { $json !~ /"\Q$_\E":/ } @{ $metrics{$name} };
	is("@missing", '', "$name returns every metric it declares");
}

# --- the idle worker shows no stale job text -----------------------------------
ok($node->poll_query_until('postgres', q{
	SELECT state = 'idle' AND query = '' FROM pg_stat_activity
	 WHERE backend_type = 'metrics_rollup worker'}),
	'the idle worker shows an empty query in pg_stat_activity');
is($node->safe_psql('postgres', 'SELECT worker_state FROM metrics_rollup.stats'),
	'running', 'stats.worker_state: running');
$node->stop;

# --- a wrong metrics_rollup.database -------------------------------------------
my $bad = mr_node('wrongdb', '', database => 'nosuchdb');
$bad->safe_psql('postgres', 'CREATE EXTENSION metrics_rollup');
ok($bad->poll_query_until('postgres', q{
	SELECT worker_state = 'database "nosuchdb" does not exist' FROM metrics_rollup.stats}),
	'stats.worker_state names the missing database');
sleep(7);    # longer than bgw_restart_time (5 s): no restart loop
my $log = slurp_file($bad->logfile);
my $warnings = () = $log =~ /WARNING:  metrics_rollup\.database is "nosuchdb", which does not exist/g;
is($warnings, 1, 'one WARNING naming metrics_rollup.database');
unlike($log, qr/FATAL:  database "nosuchdb" does not exist/, 'no FATAL from the worker');
unlike($log, qr/background worker "metrics_rollup worker" \(PID \d+\) exited/,
	'the worker waits: it did not exit and restart');
$bad->safe_psql('postgres', 'CREATE DATABASE nosuchdb');
ok($bad->poll_query_until('postgres', q{
	SELECT worker_state = 'waiting for CREATE EXTENSION metrics_rollup' FROM metrics_rollup.stats}),
	'once the database exists the worker connects and waits for the extension');
like(slurp_file($bad->logfile), qr/database "nosuchdb" \(metrics_rollup\.database\) exists now/,
	'the worker says it connects');
$bad->stop;
done_testing();
