#!/usr/bin/env bash
# test/bench/drain_profile.sh: where a flush's time goes, by timing
# experiments (remove one piece of raw_metrics at a time).
#
# One throwaway server, one flush worker.  Each variant: $EVENTS events
# buffered by 8 sessions while the flush worker sleeps (flush_interval 1h,
# flush_threshold 100), then flush() timed; RUNS runs, medians, in
# microseconds per event.  Variants, each on top of the previous one:
#   full          raw_metrics as installed (btree + BRIN index, the INSERT
#                 statement trigger with its transition table)
#   no trigger    ALTER TABLE ... DISABLE TRIGGER rollup_mark_inserted
#   no BRIN       the BRIN index dropped too
#   no btree      the btree index dropped too (a bare heap)
# and the baselines: one binary COPY stream of the same rows from a file
# into raw_metrics (trigger and indexes) and into a copy of it with the
# same btree index and no trigger.
# A benchmark, not a test: it never fails on a number.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

RUNS=${RUNS:-3}
EVENTS=${EVENTS:-400000}

mr_install_packages
mr_build_install
dir="$(mktemp -d "${TMPDIR:-/tmp}/mr_drain_profile.XXXXXX")"
chmod 777 "$dir"
[ -n "$MR_RUNAS" ] && chown "$MR_TEST_USER" "$dir"
port="$(mr_free_port)"
mr_cluster_start "$dir" "$port" "metrics_rollup.buffer_size = '256MB'" "max_wal_size = '4GB'" \
	"metrics_rollup.flush_workers = 1" "metrics_rollup.flush_interval = '1h'" \
	"metrics_rollup.flush_threshold = 100" \
	"metrics_rollup.rollup_enabled = off" "metrics_rollup.cleanup_enabled = off"
trap 'mr_cluster_ctl "$dir" stop -m fast || true; mr_remove_install' EXIT
q() { mr_psql "$dir" "$port" -At "$@"; }
q -c "CREATE EXTENSION metrics_rollup" >/dev/null
q -c "CREATE TABLE public.plain_copy (LIKE metrics_rollup.raw_metrics INCLUDING INDEXES)" >/dev/null
q -c "DROP INDEX public.plain_copy_recorded_at_idx" >/dev/null 2>&1 || true
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

fill() {
	local s
	for s in $(seq 8); do
		q -c "SELECT sum(metrics_rollup.record_batch('drain', ids, rts, oks)) FROM (
		  SELECT array_agg('entity' || (i % 1000)) ids, array_agg(((i::bigint * 7919) % 10000) / 1000.0) rts,
		         array_agg(i % 10 <> 0) oks
		    FROM generate_series(1, $EVENTS / 8) i GROUP BY i / 10000) b" >/dev/null &
	done
	wait
}
# microseconds per event of the SQL in $1 (after a TRUNCATE and CHECKPOINT)
timed() {
	q <<SQL
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
$1
SELECT round((extract(epoch FROM clock_timestamp()) - :t0) * 1e6 / $EVENTS, 3);
SQL
}
drain_variant() {
	local name="$1" run
	: >"$dir/v"
	for run in $(seq "$RUNS"); do
		q -c "TRUNCATE metrics_rollup.raw_metrics, metrics_rollup.rollup_dirty" -c "CHECKPOINT" >/dev/null
		fill
		timed "SELECT metrics_rollup.flush() \\g /dev/null" | tail -n 1 >>"$dir/v"
	done
	printf '  %-44s %8.3f us/event\n' "flush(): $name" "$(median <"$dir/v")"
}
copy_variant() {
	local name="$1" table="$2" run
	: >"$dir/v"
	for run in $(seq "$RUNS"); do
		q -c "TRUNCATE $table" -c "TRUNCATE metrics_rollup.rollup_dirty" -c "CHECKPOINT" >/dev/null
		timed "COPY $table FROM '$dir/rows.bin' WITH (FORMAT binary);" | tail -n 1 >>"$dir/v"
	done
	printf '  %-44s %8.3f us/event\n' "COPY: $name" "$(median <"$dir/v")"
}

echo "drain profile: $EVENTS events per flush, 1 flush worker, medians of $RUNS runs"
drain_variant "full raw_metrics"
q -c "COPY (SELECT kind, entity_id, entity_name, recorded_at, response_time, success, error_message FROM metrics_rollup.raw_metrics) TO '$dir/rows.bin' WITH (FORMAT binary)" >/dev/null
copy_variant "into raw_metrics (trigger, indexes)" "metrics_rollup.raw_metrics"
copy_variant "into a copy, btree index, no trigger" "public.plain_copy"
q -c "ALTER TABLE metrics_rollup.raw_metrics DISABLE TRIGGER rollup_mark_inserted" >/dev/null
drain_variant "no statement trigger"
copy_variant "into raw_metrics, no trigger" "metrics_rollup.raw_metrics"
q -c "DROP INDEX metrics_rollup.raw_metrics_recorded_at_brin" >/dev/null
drain_variant "no trigger, no BRIN"
q -c "DROP INDEX metrics_rollup.raw_metrics_entity_time_idx" >/dev/null
drain_variant "no trigger, no index (bare heap)"
