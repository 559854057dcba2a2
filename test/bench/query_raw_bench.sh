#!/usr/bin/env bash
# test/bench/query_raw_bench.sh: do aggregate() calls ending at now() pay for
# the raw rows that rolled-up hours still keep?
#
# Data (issue 16, part 3): 200 entities; 720k events over the last 30 days,
# rolled up, raw rows deleted (cleanup); then RAW events (default 1M) in the
# last 100 minutes, rolled up (nothing dirty), raw rows kept (as
# delete_raw_after_rollup_hours keeps them).  Server-side medians of CALLS
# calls (plpgsql loop, cached plans):
#   - all entities over 7 days until now()      vs the same ending 3 h ago
#   - one entity over 30 days until now()       vs the same ending 3 h ago
#   - one entity over a year until now()        (goal <= 5 ms)
# and the ratio (goal <= 1.2).  The same again for a second kind (svc, same
# history) whose last 100 minutes are NOT rolled up: written by STATEMENTS
# INSERT statements (one per minute of data, as a flush every few seconds
# would), so its hours hold dirty marks with partial summaries; measured as
# written, then after compact_marks() (what the worker does every 10 flush
# intervals).  A benchmark, not a test.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

RAW=${RAW:-1000000}
CALLS=${CALLS:-15}
STATEMENTS=${STATEMENTS:-100}
mr_install_packages
mr_build_install
dir="$(mktemp -d "${TMPDIR:-/tmp}/mr_query_raw_bench.XXXXXX")"
chmod 777 "$dir"
[ -n "$MR_RUNAS" ] && chown "$MR_TEST_USER" "$dir"
port="$(mr_free_port)"
mr_cluster_start "$dir" "$port" "shared_buffers = 1GB" "max_wal_size = 8GB" \
	"metrics_rollup.rollup_enabled = off" "metrics_rollup.cleanup_enabled = off"
trap 'mr_cluster_ctl "$dir" stop -m fast || true; mr_remove_install' EXIT
q() { mr_psql "$dir" "$port" -At "$@"; }
q -c "CREATE EXTENSION metrics_rollup" >/dev/null

mr_log "loading: 720k events over 30 days per kind, rolled up and cleaned; $RAW events in the last 100 min: tool rolled up, svc dirty"
q -c "INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
      SELECT k, 'e' || (g % 200), date_trunc('hour', now()) - interval '3 hours' - g * interval '3.5 s',
             (g % 997) / 1000.0, g % 20 <> 0
        FROM generate_series(1, 720000) g, (VALUES ('tool'), ('svc')) k(k)" >/dev/null
q -c "SELECT metrics_rollup.run_rollup()" >/dev/null
q -c "DELETE FROM metrics_rollup.raw_metrics" >/dev/null
q -c "INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
      SELECT 'tool', 'e' || (g % 200), now() - g * (interval '100 min' / $RAW),
             (g % 997) / 1000.0, g % 20 <> 0 FROM generate_series(1, $RAW) g" >/dev/null
q -c "SELECT metrics_rollup.run_rollup()" >/dev/null
# svc: the same events, one INSERT per 1/STATEMENTS of the 100 minutes
q -c "SELECT now()" >/dev/null
t_end="$(q -c "SELECT now()")"
for s in $(seq 0 $((STATEMENTS - 1))); do
	q -c "INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
	      SELECT 'svc', 'e' || (g % 200), '$t_end'::timestamptz - g * (interval '100 min' / $RAW),
	             (g % 997) / 1000.0, g % 20 <> 0
	        FROM generate_series($((s * RAW / STATEMENTS + 1)), $(((s + 1) * RAW / STATEMENTS))) g" >/dev/null
done
q -c "VACUUM ANALYZE" >/dev/null
mr_log "dirty marks: $(q -c "SELECT count(*) FROM metrics_rollup.rollup_dirty"), raw rows: $(q -c "SELECT count(*) FROM metrics_rollup.raw_metrics")"

# median ms of CALLS calls of the SQL in $1 (a SELECT), measured in the server
med() {
	q <<SQL
CREATE OR REPLACE FUNCTION pg_temp.bench(n int) RETURNS SETOF double precision LANGUAGE plpgsql AS \$\$
DECLARE t timestamptz; r record;
BEGIN
  FOR i IN 1 .. n LOOP
    t := clock_timestamp();
    FOR r IN $1 LOOP END LOOP;
    RETURN NEXT extract(epoch FROM clock_timestamp() - t) * 1000;
  END LOOP;
END \$\$;
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x)::numeric, 2) FROM pg_temp.bench($CALLS) x;
SQL
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
line() { printf '  %-40s %9s ms   ending 3 h ago %9s ms   ratio %s (goal <= 1.2)\n' "$1" "$2" "$3" "$(ratio "$2" "$3")"; }
measure() {
	local k="$1"
	all_now="$(med "SELECT * FROM metrics_rollup.aggregate('$k', NULL, now() - interval '7 days', now())")"
	all_3h="$(med "SELECT * FROM metrics_rollup.aggregate('$k', NULL, now() - interval '7 days', now() - interval '3 hours')")"
	one_now="$(med "SELECT * FROM metrics_rollup.aggregate('$k', 'e7', now() - interval '30 days', now())")"
	one_3h="$(med "SELECT * FROM metrics_rollup.aggregate('$k', 'e7', now() - interval '30 days', now() - interval '3 hours')")"
	year_now="$(med "SELECT * FROM metrics_rollup.aggregate('$k', 'e7', now() - interval '365 days', now())")"
	ts_now="$(med "SELECT * FROM metrics_rollup.timeseries('$k', NULL, now() - interval '24 hours', now())")"
	ts_3h="$(med "SELECT * FROM metrics_rollup.timeseries('$k', NULL, now() - interval '27 hours', now() - interval '3 hours')")"
	line "all entities, 7 days until now()" "$all_now" "$all_3h"
	line "one entity, 30 days until now()" "$one_now" "$one_3h"
	line "timeseries all, 24 h until now()" "$ts_now" "$ts_3h"
	printf '  %-40s %9s ms   (goal <= 5 ms)\n' "one entity, a year until now()" "$year_now"
}
echo "aggregate() with $RAW raw rows in the last 100 min, medians of $CALLS calls"
echo "kind tool: rolled up, nothing dirty"
measure tool
echo "kind svc: nothing rolled up for the last 100 min ($STATEMENTS INSERT statements, $(q -c "SELECT count(*) FROM metrics_rollup.rollup_dirty WHERE kind = 'svc'") marks)"
measure svc
q -c "SELECT metrics_rollup.compact_marks()" >/dev/null
echo "kind svc after compact_marks() ($(q -c "SELECT count(*) FROM metrics_rollup.rollup_dirty WHERE kind = 'svc'") marks)"
measure svc
