#!/usr/bin/env bash
# test/bench/ingest_bench.sh: what record() costs and how fast the worker drains.
#
# One throwaway server (test/lib.sh), then:
#  1. pgbench -c 2 -j 2 -T $SECS, RUNS runs each, interleaved, medians:
#     (a) SELECT of the same parameters (baseline), (b) metrics_rollup.record(),
#     (c) a single-row INSERT into a plain copy of raw_metrics (same index).
#  2. The worker's drain rate: EVENTS events buffered while the worker sleeps
#     (flush_interval 1h, flush_threshold 100), then flush() timed; vs COPY FROM a file of the same rows
#     into an identical table.  RUNS runs each, medians.
# Prints medians and ratios.  Not a pass/fail test; run_tests.sh does not run it.
# Installs the extension: run under the install lock:
#   flock /tmp/metrics_rollup-install.lock bash test/bench/ingest_bench.sh
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

SECS=${SECS:-15}
RUNS=${RUNS:-3}
EVENTS=${EVENTS:-2000000}

mr_install_packages
mr_build_install
dir="$(mktemp -d /tmp/mr_ingest_bench.XXXXXX)"
chmod 777 "$dir"
[ -n "$MR_RUNAS" ] && chown "$MR_TEST_USER" "$dir"
port="$(mr_free_port)"
mr_cluster_start "$dir" "$port" "metrics_rollup.buffer_size = '256MB'" "max_wal_size = '4GB'" \
	"metrics_rollup.flush_interval = '1h'" "metrics_rollup.flush_threshold = 100"
trap 'mr_cluster_ctl "$dir" stop -m fast || true' EXIT
psqlc() { mr_psql "$dir" "$port" "$@"; }

psqlc -c "CREATE EXTENSION metrics_rollup"
psqlc -c "CREATE TABLE public.plain_insert (LIKE metrics_rollup.raw_metrics INCLUDING ALL)"
psqlc -c "CREATE TABLE public.plain_copy (LIKE metrics_rollup.raw_metrics INCLUDING ALL)"

cat >"$dir/select.sql" <<'SQL'
\set e random(1, 1000)
SELECT 'tool', 'entity' || :e, 0.125, true;
SQL
cat >"$dir/record.sql" <<'SQL'
\set e random(1, 1000)
SELECT metrics_rollup.record('tool', 'entity' || :e, 0.125, true);
SQL
cat >"$dir/insert.sql" <<'SQL'
\set e random(1, 1000)
INSERT INTO public.plain_insert (kind, entity_id, recorded_at, response_time, success)
VALUES ('tool', 'entity' || :e, clock_timestamp(), 0.125, true);
SQL
chmod 644 "$dir"/*.sql

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
tps() {
	mr_as_user "$MR_BINDIR/pgbench" -n -c 2 -j 2 -T "$SECS" -f "$dir/$1.sql" \
		-h "$dir" -p "$port" -U postgres postgres 2>&1 |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

: >"$dir/select.tps"; : >"$dir/record.tps"; : >"$dir/insert.tps"
for run in $(seq "$RUNS"); do
	for t in select record insert; do
		v="$(tps $t)"
		mr_log "run $run $t: $v tps"
		echo "$v" >>"$dir/$t.tps"
		psqlc -At -c "SELECT metrics_rollup.flush()" >/dev/null	# untimed
	done
done

# --- drain ---------------------------------------------------------------
fill_sql="SELECT sum(metrics_rollup.record_batch('drain', ids, rts, oks)) FROM (
  SELECT array_agg('entity' || (i % 1000)) ids, array_agg(((i::bigint * 7919) % 10000) / 1000.0) rts,
         array_agg(i % 10 <> 0) oks
    FROM generate_series(1, $EVENTS) i GROUP BY i / 100000) b"
: >"$dir/drain.rate"; : >"$dir/copy.rate"
for run in $(seq "$RUNS"); do
	psqlc -c "TRUNCATE metrics_rollup.raw_metrics" -c "CHECKPOINT"
	psqlc -At -c "$fill_sql" >/dev/null
	secs="$(psqlc -At <<SQL
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT metrics_rollup.flush() \g /dev/null
SELECT extract(epoch FROM clock_timestamp()) - :t0;
SQL
)"
	n="$(psqlc -At -c "SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = 'drain'")"
	rate="$(awk -v n="$n" -v s="$secs" 'BEGIN {printf "%.0f", n / s}')"
	mr_log "run $run drain: $n events in ${secs}s = $rate events/s"
	echo "$rate" >>"$dir/drain.rate"

	psqlc -c "COPY (SELECT * FROM metrics_rollup.raw_metrics WHERE kind = 'drain') TO '$dir/rows.copy'"
	psqlc -c "TRUNCATE public.plain_copy" -c "CHECKPOINT"
	secs="$(psqlc -At <<SQL
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
COPY public.plain_copy FROM '$dir/rows.copy';
SELECT extract(epoch FROM clock_timestamp()) - :t0;
SQL
)"
	rate="$(awk -v n="$n" -v s="$secs" 'BEGIN {printf "%.0f", n / s}')"
	mr_log "run $run COPY: $n rows in ${secs}s = $rate rows/s"
	echo "$rate" >>"$dir/copy.rate"
done

sel="$(median <"$dir/select.tps")"; rec="$(median <"$dir/record.tps")"; ins="$(median <"$dir/insert.tps")"
drain="$(median <"$dir/drain.rate")"; copy="$(median <"$dir/copy.rate")"
echo "ingest benchmark: medians of $RUNS runs, pgbench -c 2 -j 2 -T $SECS, $EVENTS events drained"
printf '  baseline SELECT        %12.0f tps\n' "$sel"
printf '  record()               %12.0f tps   %.2f x baseline (goal >= 0.70)\n' "$rec" "$(awk -v a="$rec" -v b="$sel" 'BEGIN {print a / b}')"
printf '  single-row INSERT      %12.0f tps   record() = %.1f x INSERT (goal >= 15)\n' "$ins" "$(awk -v a="$rec" -v b="$ins" 'BEGIN {print a / b}')"
printf '  COPY FROM file         %12.0f rows/s\n' "$copy"
printf '  worker drain           %12.0f events/s   %.2f x COPY (goal >= 1.00)\n' "$drain" "$(awk -v a="$drain" -v b="$copy" 'BEGIN {print a / b}')"
