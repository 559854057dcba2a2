#!/usr/bin/env bash
# test/bench/sketch_bench.sh: sketch_agg against tdigest and percentile_cont.
#
# One throwaway server; 5M log-normal latencies (1000 entities x 24 hours,
# median 50 ms, clipped to 1 ms..60 s).  Times GROUP BY entity, hour with
# sketch_agg(v), tdigest(v, 100) and percentile_cont(ARRAY[0.5,0.95,0.99]),
# RUNS runs each (jit off, no parallel workers, work_mem 256MB so every
# aggregate hashes in memory), and prints medians and ratios to tdigest,
# plus the stored size of sketches.  Goal: sketch_agg <= 0.5 x tdigest.
# Also prints the floor every grouped aggregate pays (count(v): scan and hash
# grouping) and net ratios without it, and the same over one group.
# Not a pass/fail test.  Run it under the install lock:
#   flock /tmp/metrics_rollup-install.lock bash test/bench/sketch_bench.sh
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

RUNS="${RUNS:-5}"
ROWS_PER_GROUP="${ROWS_PER_GROUP:-208}"	# 1000 x 24 x 208 = 4.99M rows

mr_install_packages
mr_build_install
dir="$(mktemp -d /tmp/sketch_bench.XXXXXX)"
chown "$MR_TEST_USER" "$dir" 2>/dev/null || true
port="$(mr_free_port)"
mr_cluster_start "$dir" "$port" "jit = off" "max_parallel_workers_per_gather = 0" \
	"work_mem = '256MB'" "shared_buffers = '512MB'" "metrics_rollup.enabled = off"
trap 'mr_cluster_ctl "$dir" stop -m fast; rm -rf "$dir"' EXIT

mr_psql "$dir" "$port" <<SQL
CREATE EXTENSION metrics_rollup;
CREATE EXTENSION tdigest;
SELECT setseed(0.5);
CREATE TABLE lat AS
SELECT e AS entity, h AS hour,
       least(60, greatest(0.001, exp(ln(0.05) + sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())))) AS v
  FROM generate_series(1, 1000) e, generate_series(0, 23) h, generate_series(1, $ROWS_PER_GROUP) r;
VACUUM ANALYZE lat;
SQL

# median of the "Time: N ms" of RUNS runs of a query (one warm-up first)
time_query() {
	local sql="$1" times
	times=$( { echo '\timing on'; for _ in $(seq 0 "$RUNS"); do echo "$sql;"; done; } |
		mr_psql "$dir" "$port" -t | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n "$RUNS" | sort -g)
	echo "$times" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

rows=$(mr_psql "$dir" "$port" -At -c "SELECT count(*) FROM lat")
echo "rows: $rows, groups: 24000, runs: $RUNS (medians, ms)"
floor=$(time_query "SELECT count(*) FROM (SELECT entity, hour, count(v) FROM lat GROUP BY 1, 2) s")
td=$(time_query "SELECT count(*) FROM (SELECT entity, hour, tdigest(v, 100) FROM lat GROUP BY 1, 2) s")
sk=$(time_query "SELECT count(*) FROM (SELECT entity, hour, metrics_rollup.sketch_agg(v) FROM lat GROUP BY 1, 2) s")
pc=$(time_query "SELECT count(*) FROM (SELECT entity, hour, percentile_cont(ARRAY[0.5,0.95,0.99]) WITHIN GROUP (ORDER BY v) FROM lat GROUP BY 1, 2) s")
# "net" subtracts the scan + hash-grouping floor (count(v)) that every
# aggregate pays, leaving the cost of the aggregate itself
awk -v fl="$floor" -v td="$td" -v sk="$sk" -v pc="$pc" 'BEGIN {
	printf "floor count(v) (scan + grouping): %9.1f ms\n", fl
	printf "baseline tdigest(v, 100):         %9.1f ms  ratio 1.00  net %8.1f ms\n", td, td - fl
	printf "sketch_agg(v):                    %9.1f ms  ratio %.2f  net %8.1f ms  net ratio %.2f (goal <= 0.50)\n", sk, sk / td, sk - fl, (sk - fl) / (td - fl)
	printf "percentile_cont(3 quantiles):     %9.1f ms  ratio %.2f  net %8.1f ms  net ratio %.2f\n", pc, pc / td, pc - fl, (pc - fl) / (td - fl)
}'

# the same aggregates over all rows in one group: no hashing, so the
# aggregate's own per-row cost dominates
floor1=$(time_query "SELECT count(v) FROM lat")
td1=$(time_query "SELECT tdigest(v, 100) IS NULL FROM lat")
sk1=$(time_query "SELECT metrics_rollup.sketch_agg(v) IS NULL FROM lat")
awk -v fl="$floor1" -v td="$td1" -v sk="$sk1" 'BEGIN {
	printf "one group, floor count(v):        %9.1f ms\n", fl
	printf "one group, tdigest(v, 100):       %9.1f ms  ratio 1.00  net %8.1f ms\n", td, td - fl
	printf "one group, sketch_agg(v):         %9.1f ms  ratio %.2f  net %8.1f ms  net ratio %.2f\n", sk, sk / td, sk - fl, (sk - fl) / (td - fl)
}'

echo "stored size (pg_column_size, bytes):"
mr_psql "$dir" "$port" -At -F ' ' <<'SQL'
SELECT 'per (entity, hour) sketch, ~208 latencies: avg', round(avg(pg_column_size(s))), 'max', max(pg_column_size(s))
  FROM (SELECT metrics_rollup.sketch_agg(v) s FROM lat GROUP BY entity, hour) t;
SELECT 'per (entity, hour) tdigest(v, 100): avg', round(avg(pg_column_size(s))), 'max', max(pg_column_size(s))
  FROM (SELECT tdigest(v, 100) s FROM lat GROUP BY entity, hour) t;
SELECT 'one sketch of all 5M latencies:', pg_column_size(metrics_rollup.sketch_agg(v)) FROM lat;
SELECT 'one sketch spanning 1 ms..60 s evenly (100k values):',
       pg_column_size(metrics_rollup.sketch_agg(exp(ln(0.001) + (i / 100000.0) * ln(60000))))
  FROM generate_series(0, 100000) i;
SQL
