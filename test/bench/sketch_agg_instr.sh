#!/usr/bin/env bash
# test/bench/sketch_agg_instr.sh: sketch_agg's cost in instructions, this
# tree vs BEFORE=<git ref>, immune to the noise of a shared machine.
#
# Builds both trees into private installs, loads the same 1M log-normal
# latencies (1000 entities x 24 hours x 42) into a server of each, stops
# them, and runs each query once in a single-user backend under valgrind
# (callgrind): its total instruction count (Ir), minus that of SELECT 1
# (start-up), for sketch_agg over 24k groups and over one group.  Prints
# before, after and the ratio (issue 17's limit for the state change: 1.10).
# Needs valgrind.  Not a pass/fail test.  Run it under the install lock:
#   BEFORE=393fad6 flock /tmp/metrics_rollup-install.lock bash test/bench/sketch_agg_instr.sh
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
BEFORE="${BEFORE:?set BEFORE to the git ref to compare with}"
command -v valgrind >/dev/null || { echo "valgrind is not installed"; exit 0; }
settings=("jit = off" "max_parallel_workers_per_gather = 0" "work_mem = '256MB'" "shared_buffers = '512MB'" "metrics_rollup.enabled = off")
mr_install_packages
mr_build_install
a_bin="$MR_BINDIR"
a_inst="$MR_INST"
bdir="$(mktemp -d /tmp/sa_instr_b.XXXXXX)"
adir="$(mktemp -d /tmp/sa_instr_a.XXXXXX)"
mkdir "$bdir/tree"
git -C "$MR_REPO" archive "$BEFORE" | tar -x -C "$bdir/tree"
chown -R "$MR_TEST_USER" "$bdir" "$adir" 2>/dev/null || true
MR_REPO="$bdir/tree" mr_build_install
b_bin="$MR_BINDIR"
b_inst="$MR_INST"
port="$(mr_free_port)"
cleanup() {
	[ ! -f "$adir/data/postmaster.pid" ] || MR_BINDIR="$a_bin" mr_cluster_ctl "$adir" stop -m fast || true
	[ ! -f "$bdir/data/postmaster.pid" ] || MR_BINDIR="$b_bin" mr_cluster_ctl "$bdir" stop -m fast || true
	rm -rf "$adir" "$bdir"
	MR_INST="$a_inst" mr_remove_install
	MR_INST="$b_inst" mr_remove_install
}
trap cleanup EXIT
MR_BINDIR="$a_bin" mr_cluster_start "$adir" "$port" "${settings[@]}"
MR_BINDIR="$b_bin" mr_cluster_start "$bdir" $((port+1)) "${settings[@]}"
for x in "$a_bin $adir $port" "$b_bin $bdir $((port+1))"; do
	# shellcheck disable=SC2086
	set -- $x
	MR_BINDIR="$1" mr_psql "$2" "$3" >/dev/null <<SQL
CREATE EXTENSION metrics_rollup;
SELECT setseed(0.5);
CREATE TABLE lat AS
SELECT e AS entity, h AS hour,
			 least(60, greatest(0.001, exp(ln(0.05) + sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())))) AS v
	FROM generate_series(1, 1000) e, generate_series(0, 23) h, generate_series(1, 42) r;
VACUUM ANALYZE lat;
SELECT count(*) FROM lat;
SQL
done
MR_BINDIR="$a_bin" mr_cluster_ctl "$adir" stop -m fast
MR_BINDIR="$b_bin" mr_cluster_ctl "$bdir" stop -m fast
# total instructions (callgrind Ir) of a single-user backend running SQL once
ir() { # bin dir sql
	local out="$2/cg.$RANDOM"
	printf '%s;\n' "$3" | mr_as_user valgrind --tool=callgrind --callgrind-out-file="$out" \
		"$1/postgres" --single -D "$2/data" -c shared_preload_libraries= postgres >/dev/null 2>&1
	awk '/^summary:/ {print $2}' "$out"; rm -f "$out"
}
q0="SELECT 1"
a0=$(ir "$a_bin" "$adir" "$q0")
b0=$(ir "$b_bin" "$bdir" "$q0")
echo "instructions (callgrind Ir, net of a backend's start-up: after $a0, before $b0), this tree vs BEFORE=$BEFORE:"
# compare LABEL SQL
compare() {
	local a b
	a=$(ir "$a_bin" "$adir" "$2")
	b=$(ir "$b_bin" "$bdir" "$2")
	awk -v n="$1" -v a="$((a - a0))" -v b="$((b - b0))" \
		'BEGIN { printf "  %s: baseline before %14.0f  after %14.0f  ratio %.3f (limit 1.10)\n", n, b, a, a / b }'
}
compare "24k groups" "SELECT count(a) FROM (SELECT entity, hour, metrics_rollup.sketch_agg(v) a FROM lat GROUP BY 1, 2) s"
compare "one group " "SELECT metrics_rollup.sketch_agg(v) IS NULL FROM lat"
