#!/usr/bin/env bash
# test/grafana/check_queries.sh: runs every query of dashboard.json against a
# database where metrics_rollup is installed, with Grafana's macros replaced
# by literal values.  Needs python3 and psql; connection from the usual PG*
# variables or psql arguments.  Not part of run_tests.sh (yet): aggregate()
# and timeseries() come from another branch.
#
#   test/grafana/check_queries.sh KIND ENTITY [psql connection options...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ $# -ge 2 ] || { echo "usage: $0 KIND ENTITY [psql options]" >&2; exit 2; }
kind="$1"
entity="$2"
shift 2

# one query per line (newlines folded), panels first, then variables
python3 - "$here/dashboard.json" "$kind" "$entity" <<'PY' |
import json, sys
dash = json.load(open(sys.argv[1]))
kind, entity = (v.replace("'", "''") for v in sys.argv[2:4])
subst = {"$__timeFrom()": "'2000-01-01T00:00:00Z'", "$__timeTo()": "'2100-01-01T00:00:00Z'",
         "${kind:sqlstring}": "'" + kind + "'", "${entity:sqlstring}": "'" + entity + "'"}
queries = [(p["title"], t["rawSql"]) for p in dash["panels"] for t in p["targets"]]
queries += [("variable " + v["name"], v["query"]) for v in dash["templating"]["list"]]
for title, sql in queries:
    for k, v in subst.items():
        sql = sql.replace(k, v)
    if "$" in sql.replace("$__", ""):
        sys.exit("unsubstituted variable in: " + title)
    print(title.replace("\t", " ") + "\t" + " ".join(sql.split()))
PY
while IFS=$'\t' read -r title sql; do
	rows=$(psql -X -q -A -t -v ON_ERROR_STOP=1 "$@" -c "SELECT count(*) FROM ($sql) q" </dev/null) || {
		echo "FAILED: $title"; exit 1; }
	echo "ok: $title ($rows rows)"
done
