#!/usr/bin/env bash
# test/bench/poll_bench.sh: should_poll() against SELECT 1.
#
# Builds and installs the extension of this tree privately (hold the
# install lock: flock /tmp/metrics_rollup-install.lock bash test/bench/poll_bench.sh),
# starts a throwaway server, declares 1000 known entities of kind 'srv'
# (100 of them used), marks a poll of each, then runs pgbench alternating
# the baseline (SELECT 1 with the same \set) and should_poll() over the
# 1000 entities (each a table lookup in shared memory; the kind is
# reclassified every class_refresh_interval, 10 s by default, by one
# session).  Prints the median tps of RUNS runs of SECS seconds each and the
# ratio should_poll / SELECT 1; then the per-call cost from a loop inside
# one statement.  Not a pass/fail test; not run by run_tests.sh.
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
trap 'mr_cluster_ctl "$dir" stop; rm -rf "$dir"; mr_remove_install' EXIT
mr_psql "$dir" "$port" -c 'CREATE EXTENSION metrics_rollup' >/dev/null
mr_psql "$dir" "$port" -At <<'EOS' >/dev/null
INSERT INTO metrics_rollup.known_entities (kind, entity_id)
SELECT 'srv', 'entity_' || i FROM generate_series(1, 1000) i;
SELECT metrics_rollup.record('srv', 'entity_' || i, 0.05, true) FROM generate_series(1, 100) i;
SELECT metrics_rollup.mark_polled('srv', 'entity_' || i, 'health') FROM generate_series(1, 1000) i;
EOS

cat >"$dir/baseline.sql" <<'EOS'
\set id random(1, 1000)
SELECT 1;
EOS
cat >"$dir/should_poll.sql" <<'EOS'
\set id random(1, 1000)
SELECT metrics_rollup.should_poll('srv', 'entity_' || :id, 'health');
EOS
chmod 644 "$dir"/*.sql

tps() {
	mr_as_user "$MR_BINDIR/pgbench" -n -h "$dir" -p "$port" -U postgres -c "$CLIENTS" -j "$CLIENTS" \
		-T "$SECS" -f "$dir/$1.sql" postgres 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

base=()
sp=()
for _ in $(seq "$RUNS"); do
	base+=("$(tps baseline)")
	sp+=("$(tps should_poll)")
done
b=$(printf '%s\n' "${base[@]}" | median)
s=$(printf '%s\n' "${sp[@]}" | median)
echo "baseline SELECT 1 tps runs: ${base[*]}"
echo "should_poll() tps runs:     ${sp[*]}"
echo "baseline SELECT 1 tps (median): $b"
echo "should_poll() tps (median):     $s"
awk -v b="$b" -v s="$s" 'BEGIN { printf "ratio should_poll/SELECT 1: %.2f\n", s / b }'

# One statement of N calls: the per-call cost without client round trips.
N="${N:-200000}"
loop_ms() {
	mr_psql "$dir" "$port" -At -c "\\timing on" -c "SELECT count($1) FROM generate_series(1, $N) i" |
		sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}
lb=()
ls=()
for _ in $(seq "$RUNS"); do
	lb+=("$(loop_ms "nullif('entity_' || (i % 1000), 'x')")")
	ls+=("$(loop_ms "nullif(metrics_rollup.should_poll('srv', 'entity_' || (i % 1000), 'health'), true)")")
done
b=$(printf '%s\n' "${lb[@]}" | median)
s=$(printf '%s\n' "${ls[@]}" | median)
echo "loop of $N: baseline ms (median) $b, should_poll() ms (median) $s"
awk -v b="$b" -v s="$s" -v n="$N" 'BEGIN { printf "should_poll() cost per call: %.2f us\n", (s - b) * 1000 / n }'
