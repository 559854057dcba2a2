#!/usr/bin/env bash
# test/bench/sustained_bench.sh: sustained ingest, what the flush workers
# commit of what record_batch() accepts, and how fast they drain.
#
# One throwaway server (test/lib.sh, private install), buffer_size 256MB,
# flush_workers $FW (default 0 = auto), then:
#  1. Sustained: 2 pgbench clients call record_batch(1000) for $SECS s
#     (default 60).  Every second the backlog (stats.events_pending) and the
#     counters are sampled.  Figure: events committed to raw_metrics per
#     second / events accepted per second over the window (goal >= 0.9).
#     The backlog over time is printed every 5 s.
#  2. Drain capacity, RUNS runs (default 3), medians: $EVENTS events buffered
#     while the flush workers sleep (flush_interval 1h, flush_threshold 100),
#     then flush() timed; baseline: one binary COPY stream of the same rows
#     into a copy of raw_metrics with the same index and no triggers
#     (goal >= 1.0).
# A benchmark, not a test: it never fails on a number.
#
#   bash test/bench/sustained_bench.sh
#   SECS=20 RUNS=1 FW=2 bash test/bench/sustained_bench.sh
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

SECS=${SECS:-60}
RUNS=${RUNS:-3}
EVENTS=${EVENTS:-1000000}
FW=${FW:-0}

mr_install_packages
mr_build_install
dir="$(mktemp -d "${TMPDIR:-/tmp}/mr_sustained_bench.XXXXXX")"
chmod 777 "$dir"
[ -n "$MR_RUNAS" ] && chown "$MR_TEST_USER" "$dir"
port="$(mr_free_port)"
mr_cluster_start "$dir" "$port" "metrics_rollup.buffer_size = '256MB'" "max_wal_size = '4GB'" \
	"metrics_rollup.flush_workers = $FW" "max_worker_processes = 40" \
	"metrics_rollup.rollup_enabled = off" "metrics_rollup.cleanup_enabled = off"
trap 'mr_cluster_ctl "$dir" stop -m fast || true; mr_remove_install' EXIT
q() { mr_psql "$dir" "$port" -At "$@"; }

q -c "CREATE EXTENSION metrics_rollup" >/dev/null
q -c "CREATE TABLE public.plain_copy (LIKE metrics_rollup.raw_metrics INCLUDING ALL)" >/dev/null
fw="$(q -c "SELECT count(*) FROM metrics_rollup.flush_workers")"

cat >"$dir/batch.sql" <<'SQL'
SELECT metrics_rollup.record_batch('tool', array_agg('entity' || (random() * 999)::int),
       array_agg(random()), array_agg(random() < 0.95)) FROM generate_series(1, 1000);
SQL
chmod 644 "$dir"/*.sql
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
counters() { q -c "SELECT extract(epoch FROM clock_timestamp()), events_buffered + events_direct, events_flushed, events_pending, buffer_used_bytes FROM metrics_rollup.stats"; }

# --- 1. sustained --------------------------------------------------------
mr_log "sustained: 2 clients record_batch(1000) for $SECS s, $fw flush worker(s)"
: >"$dir/samples"
read -r t0 a0 f0 _ _ <<<"$(counters | tr '|' ' ')"
mr_as_user "$MR_BINDIR/pgbench" -n -c 2 -j 2 -T "$SECS" -f "$dir/batch.sql" \
	-h "$dir" -p "$port" -U postgres postgres >"$dir/pgbench.out" 2>&1 &
pgb=$!
while kill -0 "$pgb" 2>/dev/null; do
	counters | tr '|' ' ' >>"$dir/samples"
	sleep 1
done
wait "$pgb" || true
read -r t1 a1 f1 p1 u1 <<<"$(counters | tr '|' ' ')"
secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')"
accepted=$((a1 - a0))
committed=$((f1 - f0))
td0=$(date +%s.%N)
q -c "SELECT metrics_rollup.flush()" >/dev/null
td1=$(date +%s.%N)

echo "sustained ingest: 2 clients x record_batch(1000), $SECS s, $fw flush worker(s), buffer 256MB"
echo "  backlog over time (s, events pending, MB in the buffer, events/s committed in the last second):"
awk -v t0="$t0" 'NR > 1 { r = ($3 - pf) / ($1 - pt) } { if ((NR - 1) % 5 == 0) printf "    %5.0f %10d %8.1f %10.0f\n", $1 - t0, $4, $5 / 1048576, r; pt = $1; pf = $3 }' "$dir/samples"
printf '  accepted  %12d events  %10.0f events/s\n' "$accepted" "$(awk -v n="$accepted" -v s="$secs" 'BEGIN {print n / s}')"
printf '  committed %12d events  %10.0f events/s   committed/accepted = %.3f (goal >= 0.9)\n' \
	"$committed" "$(awk -v n="$committed" -v s="$secs" 'BEGIN {print n / s}')" \
	"$(awk -v a="$committed" -v b="$accepted" 'BEGIN {print (b > 0 ? a / b : 0)}')"
printf '  backlog at the end %d events (%.1f MB), drained by flush() in %.2f s\n' "$p1" \
	"$(awk -v u="$u1" 'BEGIN {print u / 1048576}')" "$(awk -v a="$td0" -v b="$td1" 'BEGIN {print b - a}')"
grep -E "^tps|latency average" "$dir/pgbench.out" | sed 's/^/  pgbench: /'

# --- 2. drain capacity vs one COPY stream ---------------------------------
q -c "ALTER SYSTEM SET metrics_rollup.flush_interval = '1h'" \
	-c "ALTER SYSTEM SET metrics_rollup.flush_threshold = 100" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1.5
# events spread over many backends: each session appends to its own ring
fill() {
	local s
	for s in $(seq 16); do
		q -c "SELECT sum(metrics_rollup.record_batch('drain', ids, rts, oks)) FROM (
		  SELECT array_agg('entity' || (i % 1000)) ids, array_agg(((i::bigint * 7919) % 10000) / 1000.0) rts,
		         array_agg(i % 10 <> 0) oks
		    FROM generate_series(1, $EVENTS / 16) i GROUP BY i / 10000) b" >/dev/null &
	done
	wait
}
: >"$dir/drain.rate"; : >"$dir/copy.rate"
for run in $(seq "$RUNS"); do
	q -c "TRUNCATE metrics_rollup.raw_metrics, metrics_rollup.rollup_dirty" -c "CHECKPOINT" >/dev/null
	fill
	n0="$(q -c "SELECT events_pending FROM metrics_rollup.stats")"
	secs="$(q <<SQL
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT metrics_rollup.flush() \g /dev/null
SELECT extract(epoch FROM clock_timestamp()) - :t0;
SQL
)"
	n="$(q -c "SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = 'drain'")"
	rate="$(awk -v n="$n" -v s="$secs" 'BEGIN {printf "%.0f", n / s}')"
	mr_log "run $run drain: $n events (pending $n0) in ${secs}s = $rate events/s"
	echo "$rate" >>"$dir/drain.rate"

	q -c "COPY (SELECT * FROM metrics_rollup.raw_metrics WHERE kind = 'drain') TO '$dir/rows.bin' WITH (FORMAT binary)" >/dev/null
	q -c "TRUNCATE public.plain_copy" -c "CHECKPOINT" >/dev/null
	secs="$(q <<SQL
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
COPY public.plain_copy FROM '$dir/rows.bin' WITH (FORMAT binary);
SELECT extract(epoch FROM clock_timestamp()) - :t0;
SQL
)"
	rate="$(awk -v n="$n" -v s="$secs" 'BEGIN {printf "%.0f", n / s}')"
	mr_log "run $run COPY: $n rows in ${secs}s = $rate rows/s"
	echo "$rate" >>"$dir/copy.rate"
done
drain="$(median <"$dir/drain.rate")"; copy="$(median <"$dir/copy.rate")"
echo "drain capacity: medians of $RUNS runs, $EVENTS events buffered by 16 sessions, $fw flush worker(s)"
printf '  one binary COPY stream, same index, no trigger  %10.0f rows/s\n' "$copy"
printf '  flush workers (flush() of the buffered events)  %10.0f events/s   %.2f x COPY (goal >= 1.00)\n' \
	"$drain" "$(awk -v a="$drain" -v b="$copy" 'BEGIN {print a / b}')"
