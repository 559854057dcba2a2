#!/usr/bin/env bash
# test/bench/mark_partial_bench.sh: what the partial summaries of dirty marks
# cost the writers (issue 16 part 3).
#
# raw_metrics' INSERT statement trigger writes, per (kind, entity, hour) of
# the statement, a mark with the summary of its rows (rollup_agg over the
# transition table).  Timed, in one session, ROUNDS rounds alternating:
#   partials    the trigger as installed
#   marks only  the same trigger writing marks without summary (what 1.2
#               did before: SELECT DISTINCT of the groups)
#   no trigger  ALTER TABLE ... DISABLE TRIGGER (the floor)
# each an INSERT of ROWS rows (100 entities, 2 hours).  Prints medians in
# microseconds per event and the ratios.  A benchmark, not a test.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

ROWS=${ROWS:-200000}
ROUNDS=${ROUNDS:-7}
mr_install_packages
mr_build_install
dir="$(mktemp -d "${TMPDIR:-/tmp}/mr_mark_partial_bench.XXXXXX")"
chmod 777 "$dir"
[ -n "$MR_RUNAS" ] && chown "$MR_TEST_USER" "$dir"
port="$(mr_free_port)"
mr_cluster_start "$dir" "$port" "max_wal_size = 4GB" \
	"metrics_rollup.rollup_enabled = off" "metrics_rollup.cleanup_enabled = off"
trap 'mr_cluster_ctl "$dir" stop -m fast || true; mr_remove_install' EXIT
q() { mr_psql "$dir" "$port" -At "$@"; }
q -c "CREATE EXTENSION metrics_rollup" >/dev/null
q -c "CREATE TABLE public.timings (variant text, us_per_event float8)" >/dev/null
# the installed trigger function, to put back after the "marks only" variant
q -c "SELECT pg_get_functiondef('metrics_rollup.rollup_mark_inserted()'::regprocedure)" >"$dir/installed.sql"
echo ";" >>"$dir/installed.sql"
cat >"$dir/marks_only.sql" <<'SQL'
CREATE OR REPLACE FUNCTION metrics_rollup.rollup_mark_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    oldest timestamptz;
    limit_days integer := COALESCE(NULLIF(pg_catalog.current_setting(
        'metrics_rollup.rollup_retention_days', true), ''), '365')::integer;
BEGIN
    SELECT pg_catalog.min(n.recorded_at) INTO oldest FROM new_rows n;
    IF oldest < pg_catalog.now() - pg_catalog.make_interval(days => limit_days) THEN
        RAISE EXCEPTION 'too old';
    END IF;
    INSERT INTO metrics_rollup.rollup_dirty (kind, entity_id, hour_start)
    SELECT DISTINCT n.kind, n.entity_id, pg_catalog.date_trunc('hour', n.recorded_at, 'UTC')
      FROM new_rows n
     ORDER BY 1, 2, 3;
    RETURN NULL;
END
$$;
SQL
one() {
	local variant="$1"
	case "$variant" in
	partials) q -f "$dir/installed.sql" >/dev/null ;;
	marks_only) q -f "$dir/marks_only.sql" >/dev/null ;;
	esac
	if [ "$variant" = no_trigger ]; then
		q -c "ALTER TABLE metrics_rollup.raw_metrics DISABLE TRIGGER rollup_mark_inserted" >/dev/null
	else
		q -c "ALTER TABLE metrics_rollup.raw_metrics ENABLE TRIGGER rollup_mark_inserted" >/dev/null
	fi
	q -c "TRUNCATE metrics_rollup.raw_metrics, metrics_rollup.rollup_dirty" >/dev/null
	q -c "CHECKPOINT" >/dev/null
	q <<SQL >/dev/null
DO \$\$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
  SELECT 'tb', 'e' || (g % 100), now() - (g % 7200) * interval '1 s', (g % 997) / 1000.0, g % 13 <> 0
    FROM generate_series(1, $ROWS) g;
  INSERT INTO public.timings
  VALUES ('$variant', extract(epoch FROM clock_timestamp() - t0) * 1e6 / $ROWS);
END
\$\$;
SQL
}
for _ in $(seq "$ROUNDS"); do
	for v in partials marks_only no_trigger; do one "$v"; done
done
one partials # leave it as installed
med() { q -c "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY us_per_event)::numeric, 3) FROM public.timings WHERE variant = '$1'"; }
p="$(med partials)"
m="$(med marks_only)"
n="$(med no_trigger)"
echo "INSERT of $ROWS rows into raw_metrics, medians of $ROUNDS alternating rounds (us per event)"
printf '  %-34s %8s\n' "trigger with partials (installed)" "$p" "trigger, marks only (before)" "$m" "no trigger" "$n"
awk -v p="$p" -v m="$m" -v n="$n" 'BEGIN {
	printf "  partials / marks only: %.2f;  trigger cost %.2f us -> %.2f us an event (%.2fx)\n", p / m, m - n, p - n, (p - n) / (m - n) }'
