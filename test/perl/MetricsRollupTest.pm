# MetricsRollupTest: what every TAP test of metrics_rollup needs, in one place.
#
# Owns: a node with the extension preloaded (mr_node), waiting for the
# background worker (mr_wait_worker), a session that holds a lock on a table
# for a while (mr_hold_lock), and the shadow-table oracle of hourly rows
# (mr_hourly_mismatches).  Tests keep their own assertions; this module
# never decides whether a test passes.
package MetricsRollupTest;

use strict;
use warnings;
use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;

our @EXPORT = qw(mr_node mr_wait_worker mr_hold_lock mr_hourly_mismatches);

# mr_node(NAME, CONF, OPTIONS): a started node whose postgresql.conf preloads
# metrics_rollup and points metrics_rollup.database at "postgres", then
# carries CONF (postgresql.conf lines, may be empty).  OPTIONS:
#   preload => 0     no shared_preload_libraries and no database setting
#   database => NAME another database for the worker
#   init => {...}    arguments of PostgreSQL::Test::Cluster::init
#   start => 0       leave it stopped
sub mr_node
{
	my ($name, $conf, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $opt{init} // {} });
	my $preload = $opt{preload} // 1;
	my $head = '';
	if ($preload)
	{
		$head = "shared_preload_libraries = 'metrics_rollup'\n"
		  . "metrics_rollup.database = '" . ($opt{database} // 'postgres') . "'\n";
	}
	$node->append_conf('postgresql.conf', $head . ($conf // '') . "\n");
	$node->start unless defined $opt{start} && !$opt{start};
	return $node;
}

# The pid of the running metrics_rollup worker (waits until there is one).
sub mr_wait_worker
{
	my ($node, $dbname) = @_;
	my $q = "SELECT pid FROM pg_stat_activity WHERE backend_type = 'metrics_rollup worker'";
	$node->poll_query_until($dbname // 'postgres', "SELECT count(*) = 1 FROM ($q) w")
	  or die 'the metrics_rollup worker did not start';
	return $node->safe_psql($dbname // 'postgres', $q);
}

# mr_hold_lock(NODE, TABLE, SECONDS, MODE): a psql session takes MODE (default
# ACCESS EXCLUSIVE) on TABLE and keeps it for SECONDS; returns once the lock
# is granted.  The caller ends it with ->finish on the returned handle.
sub mr_hold_lock
{
	my ($node, $table, $seconds, $mode) = @_;
	$mode //= 'ACCESS EXCLUSIVE';
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-d', $node->connstr('postgres'), '-c',
		  "BEGIN; LOCK TABLE $table IN $mode MODE; SELECT pg_sleep($seconds); COMMIT;" ],
		'>', \$out, '2>', \$err);
	my ($rel) = $table =~ /([^.]+)$/;
	my $lockmode = join('', map { ucfirst lc } split / /, $mode) . 'Lock';
	$node->poll_query_until('postgres', qq{
		SELECT count(*) > 0 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
		 WHERE c.relname = '$rel' AND l.mode = '$lockmode' AND l.granted})
	  or die "lock on $table not taken: $err";
	return $h;
}

# How many (kind, entity_id, hour) groups of SHADOW (a table, or a
# parenthesised subquery, with kind, entity_id, recorded_at, response_time,
# success) differ from hourly_metrics in count, successes, failures, exact
# sum (of values rounded to nanoseconds, as the rollup sums them), min or
# max, either way.  0 means every event is counted in its hour exactly once.
sub mr_hourly_mismatches
{
	my ($node, $shadow) = @_;
	return $node->safe_psql('postgres', qq{
	WITH s AS (
	  SELECT kind, entity_id, date_trunc('hour', recorded_at, 'UTC') AS hour_start,
	         count(*) AS n, count(*) FILTER (WHERE success) AS ok, count(*) FILTER (WHERE NOT success) AS bad,
	         sum(round(response_time::numeric, 9)) AS total, min(response_time) AS lo, max(response_time) AS hi
	    FROM $shadow AS shadow GROUP BY 1, 2, 3)
	SELECT count(*) FROM s FULL JOIN metrics_rollup.hourly_metrics h USING (kind, entity_id, hour_start)
	 WHERE (s.n, s.ok, s.bad, s.total, s.lo, s.hi) IS DISTINCT FROM
	       (h.total_count, h.success_count, h.failure_count, h.sum_response_time,
	        h.min_response_time, h.max_response_time)});
}

1;
