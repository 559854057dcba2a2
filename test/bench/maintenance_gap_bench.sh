#!/usr/bin/env bash
# test/bench/maintenance_gap_bench.sh: do flushes go on while the
# maintenance worker rolls up or cleans a large raw table?
#
# One throwaway server (default flush_interval 1s, flush_workers $FW,
# default 0 = auto), N raw rows (default 3M: 1000 entities x 48 hours, 10
# days old, so that cleanup deletes them all), 2 pgbench clients calling
# record() throughout.  Then:
#   baseline  30 s of recording with no maintenance running;
#   rollup    the worker's own rollup of the N rows (rollup_enabled on);
#   cleanup   the worker's own cleanup of the N rows (cleanup_enabled on).
# For each window the flush runs committed meanwhile and the longest gap
# between two of them are read back from job_history (the flush workers
# record every run that flushed something).  Printed: the window's length,
# flushes, longest gap, and the longest gap / the baseline's longest gap.
# Before flush workers existed the one worker flushed nothing while it
# rolled up or cleaned (issue 16: no flush in a 9 s cleanup).
# A benchmark, not a test: it never fails on a number.
#
#   bash test/bench/maintenance_gap_bench.sh
#   N=1000000 bash test/bench/maintenance_gap_bench.sh
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

N=${N:-3000000}
FW=${FW:-0}

mr_install_packages
mr_build_install
dir="$(mktemp -d "${TMPDIR:-/tmp}/mr_gap_bench.XXXXXX")"
chmod 777 "$dir"
[ -n "$MR_RUNAS" ] && chown "$MR_TEST_USER" "$dir"
port="$(mr_free_port)"
mr_cluster_start "$dir" "$port" "metrics_rollup.flush_workers = $FW" \
	"metrics_rollup.rollup_enabled = off" "metrics_rollup.cleanup_enabled = off" \
	"max_wal_size = '8GB'" "checkpoint_timeout = '30min'" "shared_buffers = '1GB'"
pgb=""
trap '[ -n "$pgb" ] && kill "$pgb" 2>/dev/null; mr_cluster_ctl "$dir" stop -m fast || true; mr_remove_install' EXIT
q() { mr_psql "$dir" "$port" -At "$@"; }
q -c "CREATE EXTENSION metrics_rollup" >/dev/null
fw="$(q -c "SELECT count(*) FROM metrics_rollup.flush_workers")"

mr_log "loading $N raw rows"
q -c "INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
      SELECT 'old', 'e' || (g % 1000),
             date_trunc('hour', now(), 'UTC') - interval '10 days' + (g * 48 / $N) * interval '1 hour'
               + (g % 3600) * interval '1 second',
             (g % 997) / 100.0, g % 20 <> 0
        FROM generate_series(0, $N - 1) g" >/dev/null
q -c "CHECKPOINT" -c "VACUUM ANALYZE metrics_rollup.raw_metrics" >/dev/null

cat >"$dir/record.sql" <<'SQL'
SELECT metrics_rollup.record('live', 'e' || (random() * 99)::int, 0.01, true);
SQL
chmod 644 "$dir/record.sql"
mr_as_user "$MR_BINDIR/pgbench" -h "$dir" -p "$port" -U postgres -n -c 2 -j 2 -T 3600 \
	-f "$dir/record.sql" postgres >/dev/null 2>&1 &
pgb=$!

# flush runs that ended in [t0, t1]: "count longest_gap_ms"
flushes_between() {
	q -c "SELECT count(*), coalesce(round(max(gap) * 1000), 0) FROM (
	        SELECT extract(epoch FROM finished_at - lag(finished_at) OVER (ORDER BY finished_at)) AS gap
	          FROM metrics_rollup.job_history
	         WHERE job = 'flush' AND finished_at BETWEEN '$1' AND '$2') x" | tr '|' ' '
}
# run the maintenance job $1 by switching it on; prints "t0 t1" of its run
run_job() {
	local job="$1" runs
	runs="$(q -c "SELECT ${job}_runs FROM metrics_rollup.stats")"
	q -c "ALTER SYSTEM SET metrics_rollup.${job}_enabled = on" -c "SELECT pg_reload_conf()" >/dev/null
	until [ "$(q -c "SELECT ${job}_runs > $runs FROM metrics_rollup.stats")" = t ]; do sleep 0.5; done
	q -c "ALTER SYSTEM SET metrics_rollup.${job}_enabled = off" -c "SELECT pg_reload_conf()" >/dev/null
	q -c "SELECT started_at, finished_at FROM metrics_rollup.job_history
	       WHERE job = '$job' ORDER BY finished_at DESC LIMIT 1" | tr '|' ' '
}

sleep 5
t0="$(q -c "SELECT clock_timestamp()")"
sleep 30
t1="$(q -c "SELECT clock_timestamp()")"
read -r b_n b_gap <<<"$(flushes_between "$t0" "$t1")"

mr_log "rollup of $N rows by the maintenance worker"
read -r r0d r0t r1d r1t <<<"$(run_job rollup)"
sleep 2	# the flush runs' history is written after each run
read -r r_n r_gap <<<"$(flushes_between "$r0d $r0t" "$r1d $r1t")"
r_secs="$(q -c "SELECT round(extract(epoch FROM timestamptz '$r1d $r1t' - timestamptz '$r0d $r0t'), 1)")"

mr_log "cleanup of $N rows by the maintenance worker"
read -r c0d c0t c1d c1t <<<"$(run_job cleanup)"
sleep 2
read -r c_n c_gap <<<"$(flushes_between "$c0d $c0t" "$c1d $c1t")"
c_secs="$(q -c "SELECT round(extract(epoch FROM timestamptz '$c1d $c1t' - timestamptz '$c0d $c0t'), 1)")"
left="$(q -c "SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = 'old'")"

echo "flushes during maintenance: $N raw rows, 2 pgbench clients calling record(), flush_interval 1s, $fw flush worker(s)"
printf '  %-28s %8s %8s %16s %12s\n' window seconds flushes "longest gap ms" "x baseline"
printf '  %-28s %8s %8s %16s %12s\n' "baseline (no maintenance)" 30 "$b_n" "$b_gap" 1.00
printf '  %-28s %8s %8s %16s %12.2f\n' "rollup by the worker" "$r_secs" "$r_n" "$r_gap" "$(awk -v a="$r_gap" -v b="$b_gap" 'BEGIN {print (b > 0 ? a / b : 0)}')"
printf '  %-28s %8s %8s %16s %12.2f\n' "cleanup by the worker" "$c_secs" "$c_n" "$c_gap" "$(awk -v a="$c_gap" -v b="$b_gap" 'BEGIN {print (b > 0 ? a / b : 0)}')"
echo "  rows of the $N left after cleanup: $left"
