#!/usr/bin/env bash
# test/bench/sketch_agg_citus_bench.sh: sketch_agg on Citus, pushed down
# (1.2: its state is the sketch type with a combine function) against the
# 1.1 aggregate (internal state: Citus pulls every value to the coordinator)
# and against tdigest (pushed down: Citus knows it by name).
#
# Two throwaway servers on this machine: a coordinator and one worker that
# holds the 8 shards of a 1M-row table of log-normal latencies.  Times
# p95 of the whole table, RUNS runs each (medians, ms):
#   sketch_quantile(sketch_agg(v), 0.95)        this tree's aggregate
#   the same with 1.1's aggregate               declared from the library's
#                                               1.1 functions (internal state)
#   tdigest_percentile(v, 100, 0.95)            the baseline
# and prints the ratios to tdigest.  Needs citus.so (Citus 12.1, built from
# source; not a Debian package) and tdigest; says so and stops otherwise.
# Not a pass/fail test.  Run it under the install lock:
#   flock /tmp/metrics_rollup-install.lock bash test/bench/sketch_agg_citus_bench.sh
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

RUNS="${RUNS:-7}"
ROWS="${ROWS:-1000000}"

mr_install_packages
mr_build_install
if [ ! -f "$("$MR_BINDIR/pg_config" --pkglibdir 2>/dev/null || echo /nonexistent)/citus.so" ] &&
	[ ! -f "$MR_INST/usr/lib/postgresql/15/lib/citus.so" ]; then
	mr_remove_install
	echo "citus.so is not installed: build Citus 12.1 to run this benchmark"
	exit 0
fi
settings=("shared_preload_libraries = 'citus,metrics_rollup'" "jit = off"
	"max_parallel_workers_per_gather = 0" "work_mem = '256MB'" "shared_buffers = '512MB'"
	"metrics_rollup.rollup_enabled = off" "metrics_rollup.cleanup_enabled = off")
cdir="$(mktemp -d /tmp/sketch_citus_c.XXXXXX)"
wdir="$(mktemp -d /tmp/sketch_citus_w.XXXXXX)"
chown "$MR_TEST_USER" "$cdir" "$wdir" 2>/dev/null || true
cport="$(mr_free_port)"
wport=$((cport + 1))	# sockets in their own directories: ports only differ
cleanup() {
	[ ! -f "$cdir/data/postmaster.pid" ] || mr_cluster_ctl "$cdir" stop -m fast || true
	[ ! -f "$wdir/data/postmaster.pid" ] || mr_cluster_ctl "$wdir" stop -m fast || true
	rm -rf "$cdir" "$wdir"
	mr_remove_install
}
trap cleanup EXIT
mr_cluster_start "$cdir" "$cport" "${settings[@]}"
mr_cluster_start "$wdir" "$wport" "${settings[@]}"

for n in "$cdir $cport" "$wdir $wport"; do
	# shellcheck disable=SC2086
	mr_psql $n -c 'CREATE EXTENSION citus' -c 'CREATE EXTENSION metrics_rollup' \
		-c 'CREATE EXTENSION tdigest' >/dev/null
done
mr_psql "$cdir" "$cport" >/dev/null <<SQL
SELECT citus_set_coordinator_host('$cdir', $cport);
SELECT citus_add_node('$wdir', $wport);
-- 1.1's sketch_agg, from the same library (internal state, no combine)
CREATE SCHEMA sketch_old;
CREATE FUNCTION sketch_old.trans(internal, double precision) RETURNS internal
    AS '\$libdir/metrics_rollup', 'sketch_agg_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION sketch_old.final(internal) RETURNS metrics_rollup.sketch
    AS '\$libdir/metrics_rollup', 'sketch_agg_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE sketch_old.sketch_agg(double precision) (
    SFUNC = sketch_old.trans, STYPE = internal, FINALFUNC = sketch_old.final);
SELECT setseed(0.5);
CREATE TABLE lat (id bigint, v double precision);
SELECT create_distributed_table('lat', 'id', shard_count => 8);
INSERT INTO lat
SELECT i, least(60, greatest(0.001, exp(ln(0.05) + sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))))
  FROM generate_series(1, $ROWS) i;
VACUUM ANALYZE lat;
SQL

# "Time: N ms" of N runs of a query on the coordinator, one warm-up first
query_times() {
	local sql="$1" n="$2"
	{ echo '\timing on'; for _ in $(seq 0 "$n"); do echo "$sql;"; done; } |
		mr_psql "$cdir" "$cport" -t | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n "$n"
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_query() { query_times "$1" "$RUNS" | median; }

q_new="SELECT metrics_rollup.sketch_quantile(metrics_rollup.sketch_agg(v), 0.95) FROM lat"
q_old="SELECT metrics_rollup.sketch_quantile(sketch_old.sketch_agg(v), 0.95) FROM lat"
q_td="SELECT tdigest_percentile(v, 100, 0.95) FROM lat"
pushed=$(mr_psql "$cdir" "$cport" -At -c "EXPLAIN (VERBOSE, COSTS OFF) $q_new" | grep -c worker_partial_agg || true)
same=$(mr_psql "$cdir" "$cport" -At -c \
	"SELECT metrics_rollup.sketch_agg(v)::text = sketch_old.sketch_agg(v)::text FROM lat")
rows=$(mr_psql "$cdir" "$cport" -At -c "SELECT count(*) FROM lat")
td=$(time_query "$q_td")
new=$(time_query "$q_new")
old=$(time_query "$q_old")
echo "rows: $rows on 1 worker (8 shards), runs: $RUNS (medians, ms); sketch_agg pushed down: $([ "$pushed" -gt 0 ] && echo yes || echo NO); same bytes as 1.1's aggregate: $same"
awk -v td="$td" -v new="$new" -v old="$old" 'BEGIN {
	printf "baseline tdigest_percentile(v, 100, 0.95), pushed down: %9.1f ms  ratio 1.00\n", td
	printf "sketch_quantile(sketch_agg(v), 0.95), 1.2 (pushed down): %8.1f ms  ratio %.2f\n", new, new / td
	printf "the same with 1.1 sketch_agg (rows pulled up):          %9.1f ms  ratio %.2f\n", old, old / td
	printf "1.2 vs 1.1 on Citus: %.2f\n", new / old
}'
