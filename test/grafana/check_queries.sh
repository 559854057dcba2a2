#!/usr/bin/env bash
# test/grafana/check_queries.sh: runs every query of dashboard.json against a
# database where metrics_rollup is installed, with Grafana's macros replaced
# by literal values
# (the time range: the last 7 days).  Needs perl (JSON::PP) and psql; connection from the usual PG*
# variables or psql arguments.  test/t/090_grafana.pl runs it on real data.
#
#   test/grafana/check_queries.sh KIND ENTITY [psql connection options...]
#
# ENTITY '*' stands for the "All" choice of the entity variable: Grafana
# puts its custom all value (NULL, unquoted) where ${entity:sqlstring} is.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ $# -ge 2 ] || { echo "usage: $0 KIND ENTITY [psql options]" >&2; exit 2; }
kind="$1"
entity="$2"
shift 2

# one query per line (newlines folded), panels first, then variables
perl -MJSON::PP -e '
	my ($file, $kind, $entity) = @ARGV;
	open(my $fh, "<", $file) or die "$file: $!";
	my $dash = JSON::PP->new->decode(do { local $/; <$fh> });
	s/\x27/\x27\x27/g for ($kind, $entity);
	my $entity_sql = $entity eq "*" ? "NULL" : "\x27$entity\x27";
	my %subst = ("\$__timeFrom()" => "(now() - interval \x277 days\x27)",
		"\$__timeTo()" => "now()",
		"\${kind:sqlstring}" => "\x27$kind\x27", "\${entity:sqlstring}" => $entity_sql);
	my @queries = map { my $p = $_; map { [ $p->{title}, $_->{rawSql} ] } @{ $p->{targets} } }
		@{ $dash->{panels} };
	push @queries, map { [ "variable $_->{name}", $_->{query} ] } @{ $dash->{templating}{list} };
	for my $q (@queries) {
		my ($title, $sql) = @$q;
		$sql =~ s/--[^\n]*//g;
		$sql =~ s/\Q$_\E/$subst{$_}/g for keys %subst;
		(my $rest = $sql) =~ s/\$__//g;
		die "unsubstituted variable in: $title\n" if $rest =~ /\$/;
		$title =~ s/\t/ /g;
		print $title, "\t", join(" ", split(" ", $sql)), "\n";
	}' "$here/dashboard.json" "$kind" "$entity" |
while IFS=$'\t' read -r title sql; do
	rows=$(psql -X -q -A -t -v ON_ERROR_STOP=1 "$@" -c "SELECT count(*) FROM ($sql) q" </dev/null) || {
		echo "FAILED: $title"; exit 1; }
	echo "ok: $title ($rows rows)"
done
