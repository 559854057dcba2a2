#!/usr/bin/env bash
# test/bench/citus_daily_bench.sh: aggregate() and timeseries() over a month
# on a 3-node Citus cluster, reading the daily level against the same
# cluster without it (baseline: daily_built emptied, so every day is read
# from its hourly and raw rows, as before the daily level was built there).
#
# DAYS days x ENTITIES entities x PER_HOUR events an hour, loaded into the
# distributed raw_metrics, rolled up (run_rollup() builds the hourly and the
# daily rows on the shards); raw rows are kept (no cleanup), as within
# retention_days.  Prints the medians of RUNS runs of each query, the
# baseline's and their ratio (daily / baseline), and whether the answers are
# equal.  The nodes share this machine's cores.  Skips when citus.so is not
# installed.  Not a pass/fail test; not run by run_tests.sh.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

DAYS=${DAYS:-30}
ENTITIES=${ENTITIES:-100}
PER_HOUR=${PER_HOUR:-10}
RUNS=${RUNS:-5}
SHARDS=${SHARDS:-4}
mr_install_packages
if [ ! -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ]; then
	echo "citus_daily_bench: skipped, citus.so is not installed in $("$PG_CONFIG" --pkglibdir)"
	exit 0
fi
mr_build_install

base="$(mktemp -d /tmp/citus_daily_bench.XXXXXX)"
chown "$MR_TEST_USER" "$base" 2>/dev/null || true
names=(coord w1 w2)
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
	mr_cluster_start "$base/$n" "${port[$n]}" "shared_preload_libraries = 'citus,metrics_rollup'" \
		"listen_addresses = '127.0.0.1'" "max_prepared_transactions = 100" \
		"shared_buffers = 256MB" "max_wal_size = 4GB" \
		"metrics_rollup.rollup_enabled = off" "metrics_rollup.cleanup_enabled = off" \
		"metrics_rollup.rollup_retention_days = 3650"
	started+=("$n")
done
q() { local n="$1"; shift; mr_psql "$base/$n" "${port[$n]}" -At "$@"; }

# seconds taken by the SQL on stdin (server clock)
timed() {
	{ echo "SELECT clock_timestamp() AS t0 \\gset"; cat; echo ";"
	  echo "SELECT round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 4);"; } |
		q coord -f - | tail -n 1
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

rows=$((DAYS * 24 * ENTITIES * PER_HOUR))
q coord >/dev/null <<SQL
INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, entity_name, recorded_at, response_time, success)
SELECT 'tool', 'entity-' || (g % $ENTITIES), 'Entity ' || (g % $ENTITIES),
       '2026-01-01 00:00:00+00'::timestamptz + (g::float8 / $rows) * interval '$DAYS days',
       ((g::bigint * 7919) % 100000) / 50000.0, g % 20 <> 0
  FROM generate_series(0, $rows - 1) g;
INSERT INTO metrics_rollup.rollup_dirty (kind, entity_id, hour_start)
SELECT DISTINCT kind, entity_id, date_trunc('hour', recorded_at, 'UTC') FROM metrics_rollup.raw_metrics;
VACUUM ANALYZE metrics_rollup.raw_metrics;
SQL
rollup=$(echo 'SELECT * FROM metrics_rollup.run_rollup()' | timed)
q coord -c "VACUUM ANALYZE metrics_rollup.hourly_metrics" >/dev/null
q coord -c "VACUUM ANALYZE metrics_rollup.daily_metrics" >/dev/null
echo "rows: $rows raw, $(q coord -c 'SELECT count(*) FROM metrics_rollup.hourly_metrics') hourly, $(q coord -c 'SELECT count(*) FROM metrics_rollup.daily_metrics') daily ($(q coord -c 'SELECT count(*) FROM metrics_rollup.daily_built') days built; run_rollup() ${rollup} s; $SHARDS shards on 2 workers)"

until_ts="'2026-01-01 00:00:00+00'::timestamptz + interval '$DAYS days'"
queries=(
	"SELECT * FROM metrics_rollup.aggregate('tool', NULL, '2026-01-01 00:00:00+00', $until_ts)"
	"SELECT * FROM metrics_rollup.aggregate('tool', 'entity-7', '2026-01-01 00:00:00+00', $until_ts)"
	"SELECT * FROM metrics_rollup.timeseries('tool', NULL, '2026-01-01 00:00:00+00', $until_ts, '1 day')"
)
measure() {
	local sql="$1" t=() i
	for i in $(seq "$RUNS"); do t+=("$(echo "$sql" | timed)"); done
	printf '%s\n' "${t[@]}" | median
}
q coord -c "CREATE TABLE bench_built AS SELECT * FROM metrics_rollup.daily_built" >/dev/null
for sql in "${queries[@]}"; do
	with=$(measure "$sql")
	answer_with=$(q coord -c "$sql" | md5sum)
	q coord -c "DELETE FROM metrics_rollup.daily_built" >/dev/null
	without=$(measure "$sql")
	answer_without=$(q coord -c "$sql" | md5sum)
	q coord -c "INSERT INTO metrics_rollup.daily_built SELECT * FROM bench_built" >/dev/null
	same=no; [ "$answer_with" = "$answer_without" ] && same=yes
	echo "query: $sql"
	echo "  baseline (no daily level): ${without} s; figure (daily level): ${with} s;" \
		"ratio $(awk -v a="$with" -v b="$without" 'BEGIN {printf "%.3f", a / b}'); same answer: $same"
done
echo "medians of $RUNS runs; nproc $(nproc), all nodes on this machine"
