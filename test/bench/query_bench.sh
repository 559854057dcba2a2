#!/usr/bin/env bash
# test/bench/query_bench.sh: aggregate() and timeseries() against the SQL a
# user would write over the same tables.
#
# Data: one year of hourly rows for 1000 entities (8.76M rows, written
# directly; sketches of 20 values, 100 distinct ones spread over the rows),
# then one day of raw rows (240k events) rolled up, then an hour of late raw
# rows not rolled up yet (dirty).  The rollups build the daily level
# (daily_metrics) of every ended day; its build time for the year is
# measured by rebuilding it (every day queued again, one run_rollup()).
# Prints, as median and p95 of per-call
# latencies measured on the server (plpgsql loop, cached plans on both sides):
#   - aggregate() for one entity over the year;
#   - aggregate() for all entities over 30 days;
#   - timeseries() of one entity over 30 days by hour;
# each next to the baseline: hand-written SQL over hourly_metrics only (it
# ignores raw rows and dirty hours, so it does less than aggregate()), merging
# sketches with sketch_merge; and the ratio figure / baseline.
# Goal: one entity over a year <= 5 ms median.
# Not a pass/fail test; not run by run_tests.sh.  Installs the extension and
# holds the lock for the whole run (about 5 minutes):
#   flock /tmp/metrics_rollup-install.lock bash test/bench/query_bench.sh
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

ENTITIES=${ENTITIES:-1000}
HOURS=${HOURS:-8760}
CALLS=${CALLS:-40}
mr_install_packages
mr_build_install
dir="$(mktemp -d /tmp/query_bench.XXXXXX)"
chown "$MR_TEST_USER" "$dir" 2>/dev/null || true
port="$(mr_free_port)"
mr_cluster_start "$dir" "$port" "shared_buffers = 4GB" "max_wal_size = 8GB" "work_mem = 64MB" \
	"metrics_rollup.enabled = off" "metrics_rollup.rollup_enabled = off" \
	"metrics_rollup.cleanup_enabled = off" "autovacuum = off"
trap 'mr_cluster_ctl "$dir" stop -m fast; rm -rf "$dir"' EXIT
q() { mr_psql "$dir" "$port" -At "$@"; }

q -c "CREATE EXTENSION metrics_rollup" >/dev/null
start=$(date +%s)
q >/dev/null <<SQL
CREATE TABLE sk AS
SELECT i, metrics_rollup.sketch_agg(v) AS sk, count(*) AS n, count(*) FILTER (WHERE ok) AS ok,
       min(v) AS mn, max(v) AS mx, sum(round(v::numeric, 9)) AS sm, max(at) AS at
  FROM (SELECT i, round((random() ^ 2 * 2)::numeric, 6)::float8 AS v, random() < 0.95 AS ok,
               g * interval '3 minutes' AS at
          FROM generate_series(0, 99) i, generate_series(1, 20) g) x
 GROUP BY i;
INSERT INTO metrics_rollup.hourly_metrics (kind, entity_id, entity_name, hour_start, total_count,
       success_count, failure_count, min_response_time, max_response_time, avg_response_time,
       p50_response_time, p95_response_time, p99_response_time, sketch, sum_response_time,
       last_recorded_at, percentiles_exact)
SELECT 'tool', 'entity-' || e, 'Entity ' || e, h, s.n, s.ok, s.n - s.ok, s.mn, s.mx, (s.sm / s.n)::float8,
       q[1], q[2], q[3], s.sk, s.sm, h + s.at, false
  FROM generate_series('2025-01-01 00:00+00'::timestamptz,
                       '2025-01-01 00:00+00'::timestamptz + ($HOURS - 1) * interval '1 hour', interval '1 hour') h(h)
 CROSS JOIN generate_series(0, $ENTITIES - 1) e(e)
  JOIN (SELECT sk.*, metrics_rollup.sketch_quantiles(sk, '{0.5,0.95,0.99}') AS q FROM sk) s
    ON s.i = (e * 7 + extract(epoch FROM h)::bigint / 3600) % 100;
-- the last day as raw rows, rolled up, then an hour of late rows
INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, entity_name, recorded_at, response_time, success)
SELECT 'tool', 'entity-' || (g % $ENTITIES), 'Entity ' || (g % $ENTITIES),
       '2025-01-01 00:00+00'::timestamptz + $HOURS * interval '1 hour' + (g::float8 / 240000) * interval '24 hours',
       round((random() ^ 2 * 2)::numeric, 6)::float8, random() < 0.95
  FROM generate_series(0, 239999) g;
SELECT metrics_rollup.run_rollup();
INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, entity_name, recorded_at, response_time, success)
SELECT 'tool', 'entity-' || (g % $ENTITIES), 'Entity ' || (g % $ENTITIES),
       '2025-01-01 00:00+00'::timestamptz + ($HOURS + 23) * interval '1 hour' + (g::float8 / 5000) * interval '59 minutes',
       round((random() ^ 2 * 2)::numeric, 6)::float8, random() < 0.95
  FROM generate_series(0, 4999) g;
VACUUM ANALYZE metrics_rollup.raw_metrics, metrics_rollup.hourly_metrics, metrics_rollup.rollup_dirty;
-- warm the cache: the whole hourly table and its primary key
SELECT count(*), sum(pg_column_size(sketch)) FROM metrics_rollup.hourly_metrics;
SQL
echo "generated in $(( $(date +%s) - start )) s (daily level built by the rollup included)"
# the daily level of the year, rebuilt from scratch: every (kind, day) queued
echo "daily level build, $HOURS hours x $ENTITIES entities: $(q <<'SQL'
INSERT INTO metrics_rollup.daily_queue (kind, day_start)
SELECT kind, day_start FROM metrics_rollup.daily_built ON CONFLICT DO NOTHING;
SELECT format('%s days, %s daily rows, run_rollup() took %s',
              (SELECT count(*) FROM metrics_rollup.daily_queue),
              (SELECT count(*) FROM metrics_rollup.daily_metrics), r.duration)
  FROM metrics_rollup.run_rollup() r;
SQL
)"
q -c "VACUUM ANALYZE metrics_rollup.daily_metrics, metrics_rollup.daily_built" >/dev/null
# warm the daily level as the hourly table was warmed above (VACUUM reads
# through a small ring and leaves little in shared_buffers): both sides of
# every comparison then read from shared_buffers
q -c "SELECT count(*), sum(pg_column_size(sketch)) FROM metrics_rollup.daily_metrics" >/dev/null
echo "hourly rows $(q -c 'SELECT count(*) FROM metrics_rollup.hourly_metrics'), raw rows $(q -c 'SELECT count(*) FROM metrics_rollup.raw_metrics'), dirty groups $(q -c 'SELECT count(*) FROM metrics_rollup.rollup_dirty'), hourly size $(q -c "SELECT pg_size_pretty(pg_total_relation_size('metrics_rollup.hourly_metrics'))")"

# Per-call latencies (ms) of query $3 run $2 times in a plpgsql loop (PERFORM
# reads every row); it may use i (the call number) and t_end (end of the data).
q >/dev/null <<'SQL'
CREATE TABLE lat (name text, ms float8);
SQL
measure() {
	local name="$1" calls="$2" stmt="$3"
	q >/dev/null <<SQL
DO \$\$
DECLARE
    t_end timestamptz := '2025-01-01 00:00+00'::timestamptz + ($HOURS + 24) * interval '1 hour';
    t0 timestamptz;
BEGIN
    FOR i IN 1 .. $calls LOOP
        t0 := clock_timestamp();
        PERFORM * FROM ($stmt) x;
        INSERT INTO lat VALUES ('$name', extract(epoch FROM clock_timestamp() - t0) * 1000);
    END LOOP;
END
\$\$;
SQL
}
report() {
	local figure="$1" baseline="$2"
	q -F ' ' <<SQL
SELECT format('%s median %s ms  p95 %s ms', rpad(name, 44),
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2),
              round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 2))
  FROM lat WHERE name IN ('$baseline', '$figure') GROUP BY name ORDER BY name = '$figure';
SELECT format('ratio figure / baseline (medians): %s', round((
         (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM lat WHERE name = '$figure') /
         (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM lat WHERE name = '$baseline'))::numeric, 2));
SQL
}

ENTITY="'entity-' || (i * 37 % $ENTITIES)"
echo "--- aggregate(), one entity over the year (+ the raw day), $CALLS calls"
measure "baseline: hand-written, hourly only" "$CALLS" \
	"SELECT sum(total_count), sum(success_count), min(min_response_time), max(max_response_time),
	        sum(sum_response_time) / sum(total_count),
	        metrics_rollup.sketch_quantiles(metrics_rollup.sketch_merge(sketch), '{0.5,0.95,0.99}')
	   FROM metrics_rollup.hourly_metrics
	  WHERE kind = 'tool' AND entity_id = $ENTITY AND hour_start >= t_end - interval '366 days' AND hour_start < t_end"
measure "figure: aggregate()" "$CALLS" \
	"SELECT total_count FROM metrics_rollup.aggregate('tool', $ENTITY, t_end - interval '366 days', t_end)"
measure "figure: aggregate(), since/until NULL" "$CALLS" \
	"SELECT total_count FROM metrics_rollup.aggregate('tool', $ENTITY)"
report "figure: aggregate()" "baseline: hand-written, hourly only"
report "figure: aggregate(), since/until NULL" "baseline: hand-written, hourly only"

echo "--- aggregate(), all entities over 30 days, 5 calls"
measure "baseline: hand-written all, hourly only" 5 \
	"SELECT entity_id, sum(total_count), sum(success_count), min(min_response_time), max(max_response_time),
	          sum(sum_response_time) / sum(total_count),
	          metrics_rollup.sketch_quantiles(metrics_rollup.sketch_merge(sketch), '{0.5,0.95,0.99}')
	     FROM metrics_rollup.hourly_metrics
	    WHERE kind = 'tool' AND hour_start >= t_end - interval '30 days' AND hour_start < t_end
	    GROUP BY entity_id"
measure "figure: aggregate() all" 5 \
	"SELECT * FROM metrics_rollup.aggregate('tool', NULL, t_end - interval '30 days', t_end)"
report "figure: aggregate() all" "baseline: hand-written all, hourly only"

echo "--- timeseries(), one entity over 30 days by hour, $CALLS calls"
measure "baseline: hand-written series, hourly only" "$CALLS" \
	"SELECT hour_start, total_count, failure_count, sum_response_time / total_count,
	          metrics_rollup.sketch_quantiles(sketch, '{0.5,0.95,0.99}')
	     FROM metrics_rollup.hourly_metrics
	    WHERE kind = 'tool' AND entity_id = $ENTITY AND hour_start >= t_end - interval '30 days' AND hour_start < t_end"
measure "figure: timeseries()" "$CALLS" \
	"SELECT * FROM metrics_rollup.timeseries('tool', $ENTITY, t_end - interval '30 days', t_end)"
report "figure: timeseries()" "baseline: hand-written series, hourly only"

echo "--- merging the year's 8760 sketches of one entity, $CALLS calls"
measure "baseline: sketch_merge" "$CALLS" \
	"SELECT metrics_rollup.sketch_count(metrics_rollup.sketch_merge(sketch)) FROM metrics_rollup.hourly_metrics
	  WHERE kind = 'tool' AND entity_id = $ENTITY"
measure "figure: query_sketch_merge" "$CALLS" \
	"SELECT metrics_rollup.sketch_count(metrics_rollup.query_sketch_merge(sketch)) FROM metrics_rollup.hourly_metrics
	  WHERE kind = 'tool' AND entity_id = $ENTITY"
measure "reference: no sketch (counts only)" "$CALLS" \
	"SELECT sum(total_count) FROM metrics_rollup.hourly_metrics
	  WHERE kind = 'tool' AND entity_id = $ENTITY"
report "figure: query_sketch_merge" "baseline: sketch_merge"
report "reference: no sketch (counts only)" "baseline: sketch_merge"
