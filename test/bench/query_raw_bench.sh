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
# and the ratio (goal <= 1.2).  A benchmark, not a test.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

RAW=${RAW:-1000000}
CALLS=${CALLS:-15}
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

mr_log "loading: 720k events over 30 days, rolled up and cleaned; $RAW events in the last 100 min, rolled up"
q -c "INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
      SELECT 'tool', 'e' || (g % 200), date_trunc('hour', now()) - interval '3 hours' - g * interval '3.5 s',
             (g % 997) / 1000.0, g % 20 <> 0 FROM generate_series(1, 720000) g" >/dev/null
q -c "SELECT metrics_rollup.run_rollup()" >/dev/null
q -c "DELETE FROM metrics_rollup.raw_metrics" >/dev/null
q -c "INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
      SELECT 'tool', 'e' || (g % 200), now() - g * (interval '100 min' / $RAW),
             (g % 997) / 1000.0, g % 20 <> 0 FROM generate_series(1, $RAW) g" >/dev/null
q -c "SELECT metrics_rollup.run_rollup()" >/dev/null
q -c "VACUUM ANALYZE" >/dev/null
mr_log "dirty marks left: $(q -c "SELECT count(*) FROM metrics_rollup.rollup_dirty"), raw rows: $(q -c "SELECT count(*) FROM metrics_rollup.raw_metrics")"

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
all_now="$(med "SELECT * FROM metrics_rollup.aggregate('tool', NULL, now() - interval '7 days', now())")"
all_3h="$(med "SELECT * FROM metrics_rollup.aggregate('tool', NULL, now() - interval '7 days', now() - interval '3 hours')")"
one_now="$(med "SELECT * FROM metrics_rollup.aggregate('tool', 'e7', now() - interval '30 days', now())")"
one_3h="$(med "SELECT * FROM metrics_rollup.aggregate('tool', 'e7', now() - interval '30 days', now() - interval '3 hours')")"
echo "aggregate() with $RAW raw rows of rolled-up hours in the last 100 min, medians of $CALLS calls"
printf '  %-36s %10s ms   ending 3 h ago %10s ms   ratio %.2f (goal <= 1.2)\n' "all entities, 7 days until now()" "$all_now" "$all_3h" "$(awk -v a="$all_now" -v b="$all_3h" 'BEGIN {print a / b}')"
printf '  %-36s %10s ms   ending 3 h ago %10s ms   ratio %.2f (goal <= 1.2)\n' "one entity, 30 days until now()" "$one_now" "$one_3h" "$(awk -v a="$one_now" -v b="$one_3h" 'BEGIN {print a / b}')"
