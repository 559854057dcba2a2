#!/usr/bin/env bash
# test/bench/live_bench.sh: record() throughput against a trivial SELECT.
#
# Builds and installs the extension of this tree (hold the install lock:
#   flock /tmp/metrics_rollup-install.lock bash test/bench/live_bench.sh),
# starts a throwaway server and runs pgbench, alternating a baseline SELECT
# of the same arguments and record() over 1000 entities (so live stats,
# when built in, see a realistic table).  Prints the median tps of RUNS runs
# of SECS seconds each and the ratio record / baseline (goal: >= 0.7).
# Not a pass/fail test; not run by run_tests.sh.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"

RUNS="${RUNS:-5}"
SECS="${SECS:-4}"
CLIENTS="${CLIENTS:-2}"

mr_install_packages
mr_build_install
dir="$(mktemp -d "${TMPDIR:-/tmp}/mr_bench.XXXXXX")"
[ -n "$MR_RUNAS" ] && chown "$MR_TEST_USER" "$dir"
port="$(mr_free_port)"
mr_cluster_start "$dir" "$port"
trap 'mr_cluster_ctl "$dir" stop; rm -rf "$dir"' EXIT
mr_psql "$dir" "$port" -c 'CREATE EXTENSION metrics_rollup'

cat >"$dir/baseline.sql" <<'EOS'
\set id random(1, 1000)
SELECT 'tool', 'entity_' || :id, 0.05::float8, true;
EOS
cat >"$dir/record.sql" <<'EOS'
\set id random(1, 1000)
SELECT metrics_rollup.record('tool', 'entity_' || :id, 0.05, true);
EOS
chmod 644 "$dir"/*.sql

tps() {
	mr_as_user "$MR_BINDIR/pgbench" -n -h "$dir" -p "$port" -U postgres -c "$CLIENTS" -j "$CLIENTS" \
		-T "$SECS" -f "$dir/$1.sql" postgres 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

base=()
rec=()
for _ in $(seq "$RUNS"); do
	base+=("$(tps baseline)")
	rec+=("$(tps record)")
done
b=$(printf '%s\n' "${base[@]}" | median)
r=$(printf '%s\n' "${rec[@]}" | median)
echo "baseline SELECT tps runs: ${base[*]}"
echo "record() tps runs:        ${rec[*]}"
echo "baseline SELECT tps (median): $b"
echo "record() tps (median):        $r"
awk -v b="$b" -v r="$r" 'BEGIN { printf "ratio record/baseline: %.2f\n", r / b }'

# One session, one statement of N record() calls: the per-call cost
# without client round trips (the buffer holds them all; no overflow).
N="${N:-200000}"
loop_ms() {
	mr_psql "$dir" "$port" -At -c "\\timing on" -c "SELECT count($1) FROM generate_series(1, $N) i" |
		sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}
lb=()
lr=()
for _ in $(seq "$RUNS"); do
	lb+=("$(loop_ms "abs(0.05::float8 + (i % 1000))")")
	lr+=("$(loop_ms "metrics_rollup.record('tool', 'entity_' || (i % 1000), 0.05, true)")")
	mr_psql "$dir" "$port" -At -c 'SELECT metrics_rollup.flush()' >/dev/null
done
b=$(printf '%s\n' "${lb[@]}" | median)
r=$(printf '%s\n' "${lr[@]}" | median)
echo "loop of $N: baseline ms (median) $b, record() ms (median) $r"
awk -v b="$b" -v r="$r" -v n="$N" 'BEGIN { printf "record() cost per call: %.2f us\n", (r - b) * 1000 / n }'
