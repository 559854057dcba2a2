# Every query of the Grafana dashboard (test/grafana/dashboard.json) runs
# against real data through test/grafana/check_queries.sh, Grafana's macros
# replaced by literals: the panels return rows for an entity with events,
# and the hourly panel counts what aggregate() counts.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;
use File::Basename qw(dirname);

my $check = dirname(__FILE__) . '/../grafana/check_queries.sh';
my $node = mr_node('grafana', q{
metrics_rollup.rollup_enabled = off
metrics_rollup.cleanup_enabled = off
});
$node->safe_psql('postgres', q{
	CREATE EXTENSION metrics_rollup;
	-- two days of events: the first rolled up, the second still raw
	INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, entity_name, recorded_at, response_time, success)
	SELECT 'tool', 'e' || (i % 3), 'Tool ''' || (i % 3) || '''',
	       date_trunc('hour', now(), 'UTC') - interval '2 days' + i * interval '60 seconds',
	       0.001 * (i % 997), i % 13 <> 0
	  FROM generate_series(1, 2400) i;
	SELECT count(*) FROM metrics_rollup.run_rollup();
	INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
	VALUES ('tool', 'e1', now() - interval '5 minutes', 0.2, true);
});

my ($stdout, $stderr);
my $ok = IPC::Run::run([ 'bash', $check, 'tool', 'e1', '-d', $node->connstr('postgres') ],
	'>', \$stdout, '2>', \$stderr);
ok($ok, 'every dashboard query runs') or diag("$stdout\n$stderr");
my %rows = $stdout =~ /^ok: (.*) \((\d+) rows\)$/mg;
is(scalar(keys %rows), 6, 'four panels and two variables were checked')
  or diag($stdout);
# timeseries() gives every bucket of the range, empty ones too: 7 days
like($rows{'Calls per hour: $kind / $entity'}, qr/^16[89]$/, 'the hourly panel has a point per hour of the 7 days');
is($rows{'All entities of $kind over the time range'}, '3', 'the table lists the three entities');
is($rows{'variable kind'}, '1', 'the kind variable offers the one kind');
is($rows{'variable entity'}, '3', 'the entity variable offers the three entities');

# the "All" entity choice (custom all value NULL), as a pg_monitor member
# and as a role with only the grants test/grafana/README.md lists
$node->safe_psql('postgres', q{
	CREATE ROLE regress_grafana_monitor LOGIN IN ROLE pg_monitor;
	CREATE ROLE regress_grafana_minimal LOGIN;
	GRANT EXECUTE ON FUNCTION
	    metrics_rollup.aggregate(text, text, timestamptz, timestamptz),
	    metrics_rollup.timeseries(text, text, timestamptz, timestamptz, interval)
	  TO regress_grafana_minimal;
	GRANT SELECT ON metrics_rollup.hourly_metrics, metrics_rollup.raw_metrics
	  TO regress_grafana_minimal;
});
for my $role ('regress_grafana_monitor', 'regress_grafana_minimal')
{
	for my $entity ('e1', '*')
	{
		$ok = IPC::Run::run([ 'bash', $check, 'tool', $entity, '-d', $node->connstr('postgres'),
				'-U', $role ], '>', \$stdout, '2>', \$stderr);
		ok($ok, "every dashboard query runs as $role, entity '$entity'")
		  or diag("$stdout\n$stderr");
	}
}
%rows = $stdout =~ /^ok: (.*) \((\d+) rows\)$/mg;
like($rows{'Calls per hour: $kind / $entity'}, qr/^16[89]$/, 'the All choice charts every hour too');
is($node->safe_psql('postgres', q{
	SELECT sum(total_count) FROM metrics_rollup.timeseries('tool', NULL,
	       '2000-01-01T00:00:00Z', '2100-01-01T00:00:00Z', '1 hour')}),
	$node->safe_psql('postgres', q{SELECT sum(total_count) FROM metrics_rollup.aggregate('tool')}),
	'All entities: the hourly points sum to the aggregate() totals');

# the chart's points add up to aggregate()
is($node->safe_psql('postgres', q{
	SELECT sum(total_count) FROM metrics_rollup.timeseries('tool', 'e1',
	       '2000-01-01T00:00:00Z', '2100-01-01T00:00:00Z', '1 hour')}),
	$node->safe_psql('postgres', q{SELECT total_count FROM metrics_rollup.aggregate('tool', 'e1')}),
	'the hourly points sum to the aggregate() total');
$node->stop;
done_testing();
