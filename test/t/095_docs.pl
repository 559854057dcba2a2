# Every SQL example of the documentation runs: each ```sql block of README.md
# and doc/*.md, in order, against a server with the extension preloaded.  A
# block followed by a ```text block must print exactly that text (the quick
# start's output).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use MetricsRollupTest;
use Test::More;
use File::Basename qw(dirname);
use IPC::Run;

my $root = dirname(__FILE__) . '/../..';
# the test runs the rollup itself (the quick start shows run_rollup()'s count)
my $node = mr_node('docs', q{
metrics_rollup.rollup_enabled = off
metrics_rollup.cleanup_enabled = off
});

# (file, sql, expected output or undef) for every example, README first
my @examples;
for my $file ('README.md', sort glob("$root/doc/*.md"))
{
	my $path = $file =~ m{/} ? $file : "$root/$file";
	my $text = slurp_file($path);
	my ($name) = $path =~ m{((?:doc/)?[^/]+)$};
	while ($text =~ /^```sql\n(.*?)^```\n(?:\n```text\n(.*?)^```\n)?/msg)
	{
		push @examples, [ $name, $1, $2 ];
	}
}
cmp_ok(scalar(@examples), '>=', 10, 'the documentation has SQL examples (' . scalar(@examples) . ')');

my $n = 0;
for my $ex (@examples)
{
	my ($file, $sql, $expected) = @$ex;
	$n++;
	# the quick start's output is psql's default format (psql() uses -A -t)
	if (defined $expected)
	{
		my ($r2, $aligned, $e2) = ('', '', '');
		IPC::Run::run([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
			'<', \$sql, '>', \$aligned, '2>', \$e2);
		s/[ \t]+$//mg for ($aligned, $expected);
		is($aligned, $expected, "$file example $n prints what the documentation shows")
		  or diag($e2);
		next;
	}
	my ($ret, $out, $err) = $node->psql('postgres', $sql,
		extra_params => [ '-v', 'ON_ERROR_STOP=1' ]);
	is($ret, 0, "$file example $n runs: " . (split /\n/, $sql)[0])
	  or diag("$sql\n$err");
}

done_testing();
