#!/usr/bin/env bash
# test/bench/cleanup_bench.sh: retention cleanup against one big DELETE.
#
# In one run on one server: N expired raw rows (default 5M; 1000 entities x
# 48 hours, 10 days old), deleted (a) by run_cleanup() in batches of
# cleanup_batch_size and (b) by a single DELETE of the same rows, each while
# 2 pgbench clients call record(), in two states:
#   - "rolled up": run_rollup() ran after the load (hourly rows exist, nothing
#     dirty), the common case of delete_raw_after_rollup;
#   - "not rolled up": no hourly rows, the DELETE trigger creates them.
# The DELETE baseline runs in the same state with the same trigger.  Prints
# duration, WAL bytes (pg_current_wal_lsn difference), table size after
# (VACUUM, not FULL), and the longest flush seen while it ran
# (stats.last_flush_duration polled every 20 ms); medians of RUNS runs.
# A benchmark, not a test: it never fails on a number.
#
#   bash test/bench/cleanup_bench.sh                    # N=5000000, RUNS=1
#   N=1000000 RUNS=3 bash test/bench/cleanup_bench.sh   # quicker, medians of 3
#   STATES="rolled" bash test/bench/cleanup_bench.sh    # one state only
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
N="${N:-5000000}"
RUNS="${RUNS:-1}"
STATES="${STATES:-rolled raw}"

mr_install_packages
mr_build_install
dir="$(mktemp -d "${TMPDIR:-/tmp}/metrics_rollup_bench.XXXXXX")"
[ -n "$MR_RUNAS" ] && chown "$MR_TEST_USER" "$dir"
port="$(mr_free_port)"
trap 'mr_as_user "$MR_BINDIR/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1' EXIT
mr_cluster_start "$dir" "$port" "metrics_rollup.flush_interval = '100ms'" \
	"metrics_rollup.rollup_enabled = off" "metrics_rollup.cleanup_enabled = off" \
	"max_wal_size = '8GB'" "checkpoint_timeout = '30min'" "shared_buffers = '1GB'"
q() { mr_psql "$dir" "$port" -At "$@"; }
q -c "CREATE EXTENSION metrics_rollup"
cat >"$dir/record.sql" <<'SQL'
SELECT metrics_rollup.record('live', 'e' || (random() * 99)::int, 0.01, true);
SQL
[ -n "$MR_RUNAS" ] && chown "$MR_TEST_USER" "$dir/record.sql"

load_rows() {
	q -c "TRUNCATE metrics_rollup.raw_metrics, metrics_rollup.hourly_metrics, metrics_rollup.rollup_dirty" \
		-c "INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
		    SELECT 'old', 'e' || (g % 1000),
		           date_trunc('hour', now(), 'UTC') - interval '10 days' + (g * 48 / $N) * interval '1 hour'
		             + (g % 3600) * interval '1 second',
		           (g % 997) / 100.0, g % 20 <> 0
		      FROM generate_series(0, $N - 1) g ORDER BY g" >/dev/null
	if [ "$1" = rolled ]; then
		q -c "SELECT metrics_rollup.run_rollup()" >/dev/null
	fi
	q -c "CHECKPOINT" -c "VACUUM ANALYZE metrics_rollup.raw_metrics" \
		-c "VACUUM ANALYZE metrics_rollup.hourly_metrics" >/dev/null
}

# run one deletion ($1 = SQL) under load; prints "seconds wal_bytes size_after longest_flush_ms"
measure() {
	local sql="$1" poll_pid pg_pid t0 t1 lsn0 lsn1 longest
	: >"$dir/flushes"
	mr_as_user "$MR_BINDIR/pgbench" -h "$dir" -p "$port" -U postgres -n -c 2 -j 2 -T 600 \
		-f "$dir/record.sql" postgres >/dev/null 2>&1 &
	pg_pid=$!
	sleep 2
	(while :; do
		q -c "SELECT coalesce(extract(epoch FROM last_flush_duration) * 1000, 0) FROM metrics_rollup.stats" >>"$dir/flushes"
		sleep 0.02
	done) &
	poll_pid=$!
	lsn0="$(q -c "SELECT pg_current_wal_lsn()")"
	t0=$(date +%s.%N)
	q -c "$sql" >/dev/null
	t1=$(date +%s.%N)
	lsn1="$(q -c "SELECT pg_current_wal_lsn()")"
	kill "$poll_pid" 2>/dev/null
	pkill -P "$pg_pid" 2>/dev/null
	kill "$pg_pid" 2>/dev/null
	wait 2>/dev/null
	q -c "SELECT metrics_rollup.flush()" -c "VACUUM metrics_rollup.raw_metrics" >/dev/null
	longest="$(sort -g "$dir/flushes" | tail -n 1)"
	echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" \
		"$(q -c "SELECT pg_wal_lsn_diff('$lsn1', '$lsn0')::bigint")" \
		"$(q -c "SELECT pg_total_relation_size('metrics_rollup.raw_metrics') / 1048576")" \
		"${longest:-0}"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# one state ($1): RUNS pairs of (run_cleanup, DELETE), medians printed
bench_state() {
	local state="$1" i
	: >"$dir/cleanup.txt"
	: >"$dir/delete.txt"
	for i in $(seq "$RUNS"); do
		load_rows "$state"
		measure "SELECT * FROM metrics_rollup.run_cleanup()" >>"$dir/cleanup.txt"
		left="$(q -c "SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = 'old'")"
		load_rows "$state"
		measure "DELETE FROM metrics_rollup.raw_metrics WHERE recorded_at < date_trunc('hour', now(), 'UTC') - interval '7 days'" >>"$dir/delete.txt"
	done
	for f in cleanup delete; do
		for c in 1 2 3 4; do
			awk -v c="$c" '{ print $c }' "$dir/$f.txt" | median
		done | paste -sd' ' >"$dir/$f.med"
	done
	read -r b_s b_wal b_size b_flush <"$dir/cleanup.med"
	read -r d_s d_wal d_size d_flush <"$dir/delete.med"
	echo
	echo "== state: $state ($N expired raw rows, medians of $RUNS run(s))"
	printf '%-34s %10s %14s %14s %18s\n' "" "seconds" "WAL bytes" "size after MB" "longest flush ms"
	printf '%-34s %10s %14.0f %14s %18.1f\n' "single DELETE (baseline)" "$d_s" "$d_wal" "$d_size" "$d_flush"
	printf '%-34s %10s %14.0f %14s %18.1f\n' "run_cleanup() (batches)" "$b_s" "$b_wal" "$b_size" "$b_flush"
	awk -v a="$b_s" -v b="$d_s" -v c="$b_wal" -v d="$d_wal" \
		'BEGIN { printf "ratios run_cleanup / DELETE: time %.2f, WAL %.2f\n", a / b, c / d }'
	echo "expired rows left after run_cleanup(): $left"
}

echo "== $N expired raw rows, 2 pgbench clients calling record() meanwhile"
for state in $STATES; do
	bench_state "$state"
done
