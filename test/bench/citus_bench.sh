#!/usr/bin/env bash
# test/bench/citus_bench.sh: run_rollup() on a 3-node Citus cluster against
# a single node, same machine, same events.
#
# 2M raw rows (1000 entities x 24 hours) on each: a single node (baseline)
# and a loopback Citus cluster (coordinator + 2 workers, distribute()).
# Every group dirty and hourly_metrics empty before each run, as after a day
# of ingest.  Prints the medians of RUNS runs and their ratio (cluster /
# single).  The cluster's nodes share this machine's cores: the ratio says
# what the distribution costs here, not what separate machines would give.
# Also times the load of those rows (one INSERT ... SELECT each), which the
# triggers mark: the single node's, and the shard triggers on the cluster.
# Skips when citus.so is not installed.  Not a pass/fail test; not run by
# run_tests.sh.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

ROWS=${ROWS:-2000000}
RUNS=${RUNS:-3}
SHARDS=${SHARDS:-NULL}   # distribute()'s shard_count (NULL: citus.shard_count, 32)
mr_install_packages
if [ ! -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ]; then
	echo "citus_bench: skipped, citus.so is not installed in $("$PG_CONFIG" --pkglibdir)"
	exit 0
fi
mr_build_install

base="$(mktemp -d /tmp/citus_bench.XXXXXX)"
chown "$MR_TEST_USER" "$base" 2>/dev/null || true
names=(single coord w1 w2)
declare -A port
started=()
cleanup() {
	local n
	for n in "${started[@]}"; do mr_cluster_ctl "$base/$n" stop -m fast || true; done
	rm -rf "$base"
}
trap cleanup EXIT
for n in "${names[@]}"; do
	mkdir -p "$base/$n"
	chown "$MR_TEST_USER" "$base/$n" 2>/dev/null || true
	port[$n]="$(mr_free_port)"
	pre="citus,metrics_rollup"
	[ "$n" = single ] && pre="metrics_rollup"
	mr_cluster_start "$base/$n" "${port[$n]}" "shared_preload_libraries = '$pre'" \
		"listen_addresses = '127.0.0.1'" "max_prepared_transactions = 100" \
		"shared_buffers = 256MB" "max_wal_size = 4GB" "autovacuum = off" \
		"metrics_rollup.rollup_enabled = off" "metrics_rollup.cleanup_enabled = off" \
		"metrics_rollup.rollup_retention_days = 3650"
	started+=("$n")
done
q() { local n="$1"; shift; mr_psql "$base/$n" "${port[$n]}" -At "$@"; }

# seconds taken by the SQL on stdin (server clock)
timed() {
	local n="$1"
	{ echo "SELECT clock_timestamp() AS t0 \\gset"; cat; echo ";"
	  echo "SELECT round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 4);"; } |
		q "$n" -f - | tail -n 1
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

for n in coord w1 w2; do q "$n" -c "CREATE EXTENSION citus" >/dev/null; done
q coord >/dev/null <<SQL
SELECT citus_set_coordinator_host('127.0.0.1', ${port[coord]});
SELECT citus_add_node('127.0.0.1', ${port[w1]});
SELECT citus_add_node('127.0.0.1', ${port[w2]});
CREATE EXTENSION metrics_rollup;
SELECT metrics_rollup.distribute($SHARDS);
SQL
q single -c "CREATE EXTENSION metrics_rollup" >/dev/null

load="INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, entity_name, recorded_at, response_time, success)
SELECT 'tool', 'entity-' || (g % 1000), 'Entity ' || (g % 1000),
       '2026-01-01 00:00:00+00'::timestamptz + (g::float8 / $ROWS) * interval '24 hours',
       ((g::bigint * 7919) % 100000) / 50000.0, g % 20 <> 0
  FROM generate_series(0, $ROWS - 1) g"
# the load itself: on the cluster the shard triggers mark it (citus_raw_changed())
load_single=$(echo "$load" | timed single)
load_cluster=$(echo "$load" | timed coord)
for n in single coord; do q "$n" -c "VACUUM ANALYZE metrics_rollup.raw_metrics" >/dev/null; done
echo "rows: single $(q single -c 'SELECT count(*) FROM metrics_rollup.raw_metrics'), cluster $(q coord -c 'SELECT count(*) FROM metrics_rollup.raw_metrics') ($(q coord -c 'SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = '"'"'metrics_rollup.raw_metrics'"'"'::regclass') shards on 2 workers)"

remark="TRUNCATE metrics_rollup.hourly_metrics;
TRUNCATE metrics_rollup.rollup_dirty;
INSERT INTO metrics_rollup.rollup_dirty (kind, entity_id, hour_start)
SELECT DISTINCT kind, entity_id, date_trunc('hour', recorded_at, 'UTC') FROM metrics_rollup.raw_metrics"
single_t=(); cluster_t=()
for i in $(seq "$RUNS"); do
	q single -c "$remark" >/dev/null
	single_t+=("$(echo 'SELECT * FROM metrics_rollup.run_rollup()' | timed single)")
	q coord -c "$remark" >/dev/null
	cluster_t+=("$(echo 'SELECT * FROM metrics_rollup.run_rollup()' | timed coord)")
done
equal=$(q coord -c "SELECT sum(total_count) FROM metrics_rollup.hourly_metrics")
s=$(printf '%s\n' "${single_t[@]}" | median)
c=$(printf '%s\n' "${cluster_t[@]}" | median)
echo "baseline: single-node run_rollup() of $ROWS events: ${s} s (runs: ${single_t[*]})"
echo "figure:   3-node cluster run_rollup() of $ROWS events: ${c} s (runs: ${cluster_t[*]}); events counted: $equal"
echo "ratio cluster / single: $(awk -v a="$c" -v b="$s" 'BEGIN {printf "%.2f", a / b}') (nproc $(nproc), all nodes on this machine)"
echo "load (one INSERT ... SELECT of $ROWS rows, marked by the triggers): single ${load_single} s, cluster ${load_cluster} s, ratio $(awk -v a="$load_cluster" -v b="$load_single" 'BEGIN {printf "%.2f", a / b}') (one run each)"
