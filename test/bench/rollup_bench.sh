#!/usr/bin/env bash
# test/bench/rollup_bench.sh: run_rollup() against the SQL a user would write.
#
# 5M raw rows (1000 entities x 24 hours, time-ordered like real ingest) on a
# throwaway cluster.  Prints, as medians of several runs:
#   - baseline: INSERT ... SELECT ... GROUP BY ... percentile_cont(ARRAY[.5,.95,.99])
#     ... ON CONFLICT DO UPDATE into a table shaped like hourly_metrics;
#   - figure: run_rollup() over the same rows, every group dirty, hourly_metrics empty;
#   - their ratio (goal <= 0.4);
#   - run_rollup() with nothing dirty (goal <= 10 ms);
#   - the cost of the dirty-marking trigger on a 100k-row INSERT.
# Not a pass/fail test; not run by run_tests.sh.  Installs the extension:
#   flock /tmp/metrics_rollup-install.lock bash test/bench/rollup_bench.sh
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

ROWS=${ROWS:-5000000}
RUNS=${RUNS:-3}
mr_install_packages
mr_build_install
dir="$(mktemp -d /tmp/rollup_bench.XXXXXX)"
chown "$MR_TEST_USER" "$dir" 2>/dev/null || true
port="$(mr_free_port)"
mr_cluster_start "$dir" "$port" "shared_buffers = 512MB" "max_wal_size = 8GB" \
	"metrics_rollup.enabled = off" "autovacuum = off"
trap 'mr_cluster_ctl "$dir" stop -m fast; rm -rf "$dir"' EXIT
q() { mr_psql "$dir" "$port" -At "$@"; }

# seconds taken by the SQL on stdin (server clock)
timed() {
	{ echo "SELECT clock_timestamp() AS t0 \\gset"; cat; echo ";"
	  echo "SELECT round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 4);"; } |
		q -f - | tail -n 1
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

q -c "CREATE EXTENSION metrics_rollup" >/dev/null
q >/dev/null <<SQL
INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, entity_name, recorded_at, response_time, success)
SELECT 'tool', 'entity-' || (g % 1000), 'Entity ' || (g % 1000),
       '2026-01-01 00:00:00+00'::timestamptz + (g::float8 / $ROWS) * interval '24 hours',
       random() ^ 2 * 2, random() < 0.95
  FROM generate_series(0, $ROWS - 1) g;
VACUUM ANALYZE metrics_rollup.raw_metrics;
CREATE TABLE user_hourly (LIKE metrics_rollup.hourly_metrics INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
                          PRIMARY KEY (kind, entity_id, hour_start));
SQL
echo "rows: $(q -c 'SELECT count(*) FROM metrics_rollup.raw_metrics'), groups: $(q -c 'SELECT count(*) FROM metrics_rollup.rollup_dirty')"
echo "settings: shared_buffers=$(q -c 'SHOW shared_buffers') work_mem=$(q -c 'SHOW work_mem') max_parallel_workers_per_gather=$(q -c 'SHOW max_parallel_workers_per_gather')"

base=() ; fig=()
for i in $(seq "$RUNS"); do
	q -c "TRUNCATE user_hourly" >/dev/null
	t=$(timed <<'SQL'
INSERT INTO user_hourly AS u (kind, entity_id, hour_start, total_count, success_count, failure_count,
       min_response_time, max_response_time, avg_response_time, sum_response_time,
       p50_response_time, p95_response_time, p99_response_time, last_recorded_at, percentiles_exact)
SELECT kind, entity_id, hour_start, n, ok, n - ok, lo, hi, av, total, p[1], p[2], p[3], last, true
  FROM (SELECT kind, entity_id, date_trunc('hour', recorded_at, 'UTC') AS hour_start,
               count(*) AS n, count(*) FILTER (WHERE success) AS ok,
               min(response_time) AS lo, max(response_time) AS hi, avg(response_time) AS av,
               sum(response_time)::numeric AS total, max(recorded_at) AS last,
               percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time) AS p
          FROM metrics_rollup.raw_metrics GROUP BY 1, 2, 3) s
ON CONFLICT (kind, entity_id, hour_start) DO UPDATE SET
       total_count = excluded.total_count, success_count = excluded.success_count,
       failure_count = excluded.failure_count, min_response_time = excluded.min_response_time,
       max_response_time = excluded.max_response_time, avg_response_time = excluded.avg_response_time,
       sum_response_time = excluded.sum_response_time, p50_response_time = excluded.p50_response_time,
       p95_response_time = excluded.p95_response_time, p99_response_time = excluded.p99_response_time,
       last_recorded_at = excluded.last_recorded_at, updated_at = now()
SQL
)
	base+=("$t")
	# every group dirty and no hourly row yet, as after a day of ingest
	q >/dev/null <<'SQL'
TRUNCATE metrics_rollup.hourly_metrics;
INSERT INTO metrics_rollup.rollup_dirty (kind, entity_id, hour_start)
SELECT DISTINCT kind, entity_id, date_trunc('hour', recorded_at, 'UTC') FROM metrics_rollup.raw_metrics
ON CONFLICT DO NOTHING;
VACUUM ANALYZE metrics_rollup.rollup_dirty, metrics_rollup.hourly_metrics;
SQL
	t=$(echo "SELECT * FROM metrics_rollup.run_rollup()" | timed)
	fig+=("$t")
	echo "run $i: user SQL ${base[-1]} s, run_rollup() ${fig[-1]} s"
done
check=$(q -c "SELECT count(*) FROM user_hourly u JOIN metrics_rollup.hourly_metrics h USING (kind, entity_id, hour_start)
               WHERE (u.total_count, u.success_count, u.min_response_time, u.max_response_time, u.p50_response_time, u.p95_response_time, u.p99_response_time)
                   = (h.total_count, h.success_count, h.min_response_time, h.max_response_time, h.p50_response_time, h.p95_response_time, h.p99_response_time)")
echo "groups where run_rollup() and the user SQL agree exactly: $check of $(q -c 'SELECT count(*) FROM user_hourly')"

bm=$(printf '%s\n' "${base[@]}" | median)
fm=$(printf '%s\n' "${fig[@]}" | median)
echo "baseline (user SQL, median of $RUNS): $bm s"
echo "figure (run_rollup, median of $RUNS): $fm s"
echo "ratio run_rollup / user SQL: $(echo "scale=3; $fm / $bm" | bc) (goal <= 0.4)"

empty=()
for i in $(seq 20); do
	empty+=("$(q -c "SELECT round(extract(epoch FROM duration)::numeric * 1000, 3) FROM metrics_rollup.run_rollup()")")
done
echo "empty run (nothing dirty, median of 20): $(printf '%s\n' "${empty[@]}" | median) ms (goal <= 10 ms)"

# the dirty-marking trigger on a 100k-row INSERT (new hours: 1000 groups x 1 hour)
trig=() ; notrig=()
for i in $(seq 5); do
	ins="INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
	     SELECT 'tool', 'entity-' || (g % 1000), '2026-02-0${i} 00:00:00+00'::timestamptz + g * interval '30 ms', 0.1, true
	       FROM generate_series(0, 99999) g"
	trig+=("$(echo "$ins" | timed)")
	q -c "ALTER TABLE metrics_rollup.raw_metrics DISABLE TRIGGER rollup_mark_inserted" >/dev/null
	notrig+=("$(echo "${ins/2026-02-0/2026-03-0}" | timed)")
	q -c "ALTER TABLE metrics_rollup.raw_metrics ENABLE TRIGGER rollup_mark_inserted" >/dev/null
done
tm=$(printf '%s\n' "${trig[@]}" | median); nm=$(printf '%s\n' "${notrig[@]}" | median)
echo "100k-row INSERT: without trigger $nm s, with trigger $tm s (median of 5), ratio $(echo "scale=3; $tm / $nm" | bc)"

# the archiving DELETE trigger: deleting one rolled-up hour of raw rows
# (about ROWS/24), as cleanup does, with and without the trigger
q -c "SELECT count(*) FROM metrics_rollup.run_rollup()" >/dev/null
del=() ; nodel=()
# DELETE of raw hour h (0..23)
del_hour() {
	echo "DELETE FROM metrics_rollup.raw_metrics
	       WHERE recorded_at >= '2026-01-01 00:00:00+00'::timestamptz + interval '$1 hours'
	         AND recorded_at < '2026-01-01 00:00:00+00'::timestamptz + interval '$(($1 + 1)) hours'"
}
for h in 1 2 3; do
	del+=("$(del_hour "$h" | timed)")
	q -c "ALTER TABLE metrics_rollup.raw_metrics DISABLE TRIGGER rollup_archive_deleted" >/dev/null
	nodel+=("$(del_hour "$((h + 10))" | timed)")
	q -c "ALTER TABLE metrics_rollup.raw_metrics ENABLE TRIGGER rollup_archive_deleted" >/dev/null
done
dm=$(printf '%s\n' "${del[@]}" | median); nm=$(printf '%s\n' "${nodel[@]}" | median)
echo "DELETE of one hour ($((ROWS / 24)) rows): without trigger $nm s, with trigger $dm s (median of 3), ratio $(echo "scale=3; $dm / $nm" | bc)"
t=$(echo "SELECT * FROM metrics_rollup.run_rollup()" | timed)
echo "run_rollup() after those deletions (archived hours re-checked, nothing rewritten): $t s"
