#!/usr/bin/env bash
# test/bench/reliability_bench.sh: what a poison event costs the flush job.
#
# One throwaway server (test/lib.sh) with a CHECK constraint on raw_metrics.
# EVENTS events are buffered while the worker sleeps (flush_interval 1h,
# flush_threshold 100), then flush() is timed: (a) all events good
# (baseline: one COPY in one subtransaction), (b) one poison event in the
# middle (the batch is bisected: about two COPYs of it plus log2(EVENTS)
# rolled-back subtransactions).  RUNS runs each, interleaved; prints the
# medians and the ratio.  Not a pass/fail test; run_tests.sh does not run it.
# Installs the extension: run under the install lock:
#   flock /tmp/metrics_rollup-install.lock bash test/bench/reliability_bench.sh
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

RUNS=${RUNS:-5}
EVENTS=${EVENTS:-100000}

mr_install_packages
mr_build_install
dir="$(mktemp -d /tmp/mr_reliability_bench.XXXXXX)"
chmod 777 "$dir"
[ -n "$MR_RUNAS" ] && chown "$MR_TEST_USER" "$dir"
port="$(mr_free_port)"
mr_cluster_start "$dir" "$port" "metrics_rollup.buffer_size = '256MB'" "max_wal_size = '4GB'" \
	"metrics_rollup.flush_interval = '1h'" "metrics_rollup.flush_threshold = 100" \
	"metrics_rollup.rollup_enabled = off" "metrics_rollup.cleanup_enabled = off"
trap 'mr_cluster_ctl "$dir" stop -m fast || true' EXIT
psqlc() { mr_psql "$dir" "$port" "$@"; }

psqlc -c "CREATE EXTENSION metrics_rollup"
psqlc -c "ALTER TABLE metrics_rollup.raw_metrics ADD CONSTRAINT bench_sane CHECK (response_time < 1000)"
# warm up the worker
psqlc -c "SELECT metrics_rollup.record('warm', 'e', 0, true)" -c "SELECT metrics_rollup.flush()" >/dev/null

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# Buffer EVENTS events (poison = 1: one of them breaks the CHECK), then time flush() in ms.
flush_ms() {
	psqlc -At -c "SELECT metrics_rollup.record_batch('bench', array_agg('e' || i % 100),
	                  array_agg(CASE WHEN $1 = 1 AND i = $EVENTS / 2 THEN 5000 ELSE i * 0.000001 END),
	                  array_agg(true))
	             FROM generate_series(1, $EVENTS) i" >/dev/null
	psqlc -At -c "SELECT extract(epoch FROM clock_timestamp()) * 1000 AS t0" \
		-c "SELECT metrics_rollup.flush()" \
		-c "SELECT extract(epoch FROM clock_timestamp()) * 1000" |
		awk 'NR == 1 {t0 = $1} NR == 3 {printf "%.1f\n", $1 - t0}'
	psqlc -c "TRUNCATE metrics_rollup.raw_metrics, metrics_rollup.rollup_dirty, metrics_rollup.rejected_events" >/dev/null
}

: >"$dir/clean.ms"; : >"$dir/poison.ms"
for run in $(seq "$RUNS"); do
	flush_ms 0 >>"$dir/clean.ms"
	flush_ms 1 >>"$dir/poison.ms"
done
clean=$(median <"$dir/clean.ms")
poison=$(median <"$dir/poison.ms")
echo "flush of $EVENTS events, median of $RUNS runs:"
echo "  baseline, all events good:      $clean ms   (runs: $(tr '\n' ' ' <"$dir/clean.ms"))"
echo "  one poison event (bisected):    $poison ms   (runs: $(tr '\n' ' ' <"$dir/poison.ms"))"
awk -v a="$clean" -v b="$poison" 'BEGIN {printf "  ratio poison / clean:           %.2f\n", b / a}'
psqlc -At -c "SELECT 'dead-lettered: ' || events_dead_lettered FROM metrics_rollup.stats"
