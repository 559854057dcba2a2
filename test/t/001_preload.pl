# The extension preloaded in a real server: settings, reload and restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;

my $node = mr_node('preload', '');

$node->safe_psql('postgres', 'CREATE EXTENSION metrics_rollup');
is($node->safe_psql('postgres',
		"SELECT value FROM metrics_rollup.config WHERE name = 'metrics_rollup.buffer_size'"),
	'65536', 'buffer_size default is 64MB (in kB)');

$node->append_conf('postgresql.conf', "metrics_rollup.flush_interval = '250ms'\n");
$node->reload;
$node->poll_query_until('postgres',
	"SELECT value = '250' FROM metrics_rollup.config WHERE name = 'metrics_rollup.flush_interval'")
  or die 'reload not seen';
pass('flush_interval changes on reload');

$node->restart;
is($node->safe_psql('postgres', 'SELECT count(*) > 20 FROM metrics_rollup.config'),
	't', 'settings survive a restart');

$node->stop;
done_testing();
