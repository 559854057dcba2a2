#!/usr/bin/env bash
# test/demo.sh: the metrics_rollup demo.
#
# Installs what is missing, builds, installs, starts a throwaway cluster with
# the extension preloaded and simulates an API gateway: 5 kinds, 1000
# entities, log-normal latencies with a slow tail, ~5% failures with error
# text, late events, renamed and deleted entities, and a server restart in
# the middle.  Then it prints what the pipeline did and checks it: events
# lost (must be 0) and rollup percentiles against percentile_cont (must be
# exact).  Exits non-zero when a check fails.
#
# Simulated clock: round r of the workload stands for the UTC hour
# (start + r hours), with start = now - (rounds + 2) hours, so a few seconds
# of real time cover a simulated day; events carry recorded_at explicitly.
#
#   bash test/demo.sh            # 36 simulated hours, ~540k events
#   bash test/demo.sh --short    # 12 simulated hours, ~120k events (CI)
#   KEEP=1 bash test/demo.sh     # keep the cluster and install afterwards
#
# Removes its cluster directory and private install when the checks pass;
# keeps them (and says where) when they fail.  Works as root without sudo.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

rounds=36
per_round=15000
if [ "${1:-}" = "--short" ]; then
	rounds=12
	per_round=10000
fi

mr_install_packages
mr_build_install
dir="$(mktemp -d "${TMPDIR:-/tmp}/metrics_rollup_demo.XXXXXX")"
[ -n "$MR_RUNAS" ] && chown "$MR_TEST_USER" "$dir"
port="$(mr_free_port)"
# the test user's commands start here: as root, a cwd that "postgres" cannot
# read would make every one of them print "could not change directory"
cd "$dir" || exit 1
status=1	# until the checks at the end ran
# On success the cluster and the private install go; on failure, or with
# KEEP=1, they stay for a look, and we say where.
cleanup() {
	mr_as_user "$MR_BINDIR/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1
	cd / || return
	if [ "$status" -eq 0 ] && [ "${KEEP:-0}" != 1 ]; then
		rm -rf "$dir"
		mr_remove_install
	else
		mr_log "kept: cluster and logs in $dir, private install in $MR_INST"
	fi
}
trap cleanup EXIT

mr_log "starting a throwaway cluster in $dir (port $port)"
mr_cluster_start "$dir" "$port" \
	"metrics_rollup.buffer_size = '16MB'" \
	"metrics_rollup.flush_interval = '200ms'" \
	"metrics_rollup.rollup_interval = '1min'"
q() { mr_psql "$dir" "$port" -At "$@"; }
q -c "CREATE EXTENSION metrics_rollup" || mr_die "CREATE EXTENSION failed"

# The workload generator: one round = one simulated hour.  Entities are
# (kind, e1..e200); 5% of calls fail; latencies are log-normal (median
# ~80 ms) with a 1% tail 10x slower; 3% of a round's events are late
# (stamped two hours earlier).  From round 1/2 on, entities e1..e20 are
# renamed; from round 2/3 on, e181..e200 are gone (deleted upstream).
q <<'SQL' || mr_die "setting up the generator failed"
CREATE TABLE demo_sent (kind text, entity_id text, recorded_at timestamptz, response_time float8, success bool);
CREATE FUNCTION demo_round(start timestamptz, r int, rounds int, n int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    k text;
    sent bigint := 0;
BEGIN
    FOREACH k IN ARRAY ARRAY['tool', 'resource', 'prompt', 'server', 'a2a_agent'] LOOP
        CREATE TEMP TABLE batch ON COMMIT DROP AS
        SELECT 'e' || e AS entity_id,
               CASE WHEN e <= 20 AND r >= rounds / 2 THEN k || ' ' || e || ' (v2)'
                    ELSE k || ' ' || e END AS entity_name,
               start + make_interval(hours => r - CASE WHEN random() < 0.03 THEN 2 ELSE 0 END)
                     + random() * interval '59 minutes 59 seconds' AS recorded_at,
               exp(ln(0.08) + 0.6 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))
                 * CASE WHEN random() < 0.01 THEN 10 ELSE 1 END AS response_time,
               random() >= 0.05 AS success
          FROM (SELECT 1 + (random() * 199.999)::int AS e FROM generate_series(1, n / 5)) g
         WHERE NOT (e > 180 AND r >= 2 * rounds / 3);
        PERFORM metrics_rollup.record_batch(k,
                    array_agg(entity_id), array_agg(response_time), array_agg(success),
                    array_agg(CASE WHEN success THEN NULL ELSE 'upstream returned 503 for ' || entity_id END),
                    array_agg(entity_name), array_agg(recorded_at))
          FROM batch;
        INSERT INTO demo_sent SELECT k, entity_id, recorded_at, response_time, success FROM batch;
        sent := sent + (SELECT count(*) FROM batch);
        DROP TABLE batch;
    END LOOP;
    RETURN sent;
END $$;
SQL

start="$(q -c "SELECT date_trunc('hour', now()) - interval '$((rounds + 2)) hours'")"
mr_log "simulating $rounds hours from $start, $per_round events per hour"
sent=0
t0=$(date +%s.%N)
for r in $(seq 0 $((rounds - 1))); do
	n="$(q -c "SELECT demo_round('$start', $r, $rounds, $per_round)")" || mr_die "round $r failed"
	sent=$((sent + n))
	now=$(date +%s.%N)
	line="$(q -c "SELECT round(100.0 * buffer_used_bytes / buffer_capacity_bytes, 1) || '% buffer, ' || flush_count || ' flushes, ' || events_flushed || ' flushed since start' FROM metrics_rollup.stats")"
	printf '\r  hour %2d/%d  sent %7d  %6.0f ev/s  %s   ' "$((r + 1))" "$rounds" "$sent" \
		"$(awk -v s="$sent" -v a="$t0" -v b="$now" 'BEGIN { print s / (b - a) }')" "$line"
	if [ "$r" -eq $((rounds / 2)) ]; then
		printf '\n'
		mr_log "restarting the server (pg_ctl restart -m fast) in the middle of the workload"
		mr_cluster_ctl "$dir" restart -m fast
	fi
done
printf '\n'

t1=$(date +%s.%N)
mr_log "$sent events sent in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s (record_batch, 1000-event batches per kind and hour)"

# Single-call ingest rate: pgbench, 2 clients, 5 s of record() calls.
cat >"$dir/record.sql" <<'SQL'
\set e random(1, 200)
SELECT metrics_rollup.record('bench', 'e' || :e, 0.05, true);
SQL
[ -n "$MR_RUNAS" ] && chown "$MR_TEST_USER" "$dir/record.sql"
rate="$(mr_as_user "$MR_BINDIR/pgbench" -h "$dir" -p "$port" -U postgres -n -c 2 -j 2 -T 5 -f "$dir/record.sql" postgres 2>/dev/null |
	awk '/^tps/ { printf "%d", $3 }')"
mr_log "record() single calls: ${rate:-?} calls/s with 2 pgbench clients"

q -c "SELECT metrics_rollup.flush()" >/dev/null || mr_die "flush() failed"
echo
echo "== Ingest"
mr_psql "$dir" "$port" -c "SELECT buffer_capacity_bytes / 1048576 AS buffer_mb, events_buffered, events_flushed, events_direct,
       events_dropped, flush_count, last_flush_duration FROM metrics_rollup.stats"

echo "== Rollup (late events: 3% arrive stamped two hours back, after their hour was rolled up)"
mr_psql "$dir" "$port" -c "SELECT * FROM metrics_rollup.run_rollup()"
counted_sql="SELECT coalesce(sum(total_count), 0) FROM metrics_rollup.hourly_metrics
              WHERE kind IN ('tool', 'resource', 'prompt', 'server', 'a2a_agent')"
lost=$((sent - $(q -c "$counted_sql")))
echo "events sent: $sent   events counted in hourly_metrics: $((sent - lost))   lost: $lost"

echo
echo "== Hourly p50/p95/p99 against percentile_cont over every event sent"
echo "   (exact while an hour's raw rows exist; within the sketch's 1% of percentile_disc once some were cleaned)"
q <<'SQL' >/dev/null
CREATE TABLE demo_oracle AS
SELECT kind, entity_id, date_trunc('hour', recorded_at, 'UTC') AS hour_start, count(*) AS n,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time) AS c,
       percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time) AS d
  FROM demo_sent GROUP BY 1, 2, 3;
CREATE VIEW demo_check AS
SELECT h.percentiles_exact, h.total_count = o.n AS count_ok,
       greatest(abs(h.p50_response_time - (CASE WHEN h.percentiles_exact THEN o.c ELSE o.d END)[1]) / o.d[1],
                abs(h.p95_response_time - (CASE WHEN h.percentiles_exact THEN o.c ELSE o.d END)[2]) / o.d[2],
                abs(h.p99_response_time - (CASE WHEN h.percentiles_exact THEN o.c ELSE o.d END)[3]) / o.d[3]) AS rel_err
  FROM demo_oracle o JOIN metrics_rollup.hourly_metrics h USING (kind, entity_id, hour_start);
SQL
mr_psql "$dir" "$port" -c "SELECT CASE WHEN percentiles_exact THEN 'exact (percentile_cont)' ELSE 'from sketch (percentile_disc)' END AS hours,
       count(*) AS checked, count(*) FILTER (WHERE NOT count_ok) AS count_mismatches, max(rel_err) AS max_relative_error
  FROM demo_check GROUP BY 1 ORDER BY 1"
bad="$(q -c "SELECT count(*) FROM demo_check
             WHERE NOT count_ok OR rel_err > CASE WHEN percentiles_exact THEN 1e-9 ELSE 0.01 + 1e-12 END")"

echo
echo "== Cleanup (defaults: raw rows go ~2 hours after their hour is rolled up)"
size_sql="SELECT pg_size_pretty(pg_total_relation_size('metrics_rollup.raw_metrics')) AS raw_metrics_size,
       (SELECT count(*) FROM metrics_rollup.raw_metrics) AS raw_rows,
       pg_size_pretty(pg_total_relation_size('metrics_rollup.hourly_metrics')) AS hourly_metrics_size,
       (SELECT count(*) FROM metrics_rollup.hourly_metrics) AS hourly_rows"
echo "before:"; mr_psql "$dir" "$port" -c "$size_sql"
mr_psql "$dir" "$port" -c "SELECT * FROM metrics_rollup.run_cleanup()"
mr_psql "$dir" "$port" -c "VACUUM metrics_rollup.raw_metrics" >/dev/null
echo "after (VACUUM makes the freed space reusable for new rows; the file keeps its size):"; mr_psql "$dir" "$port" -c "$size_sql"
q -c "SELECT hours_processed FROM metrics_rollup.run_rollup()" >/dev/null
lost_after=$((sent - $(q -c "$counted_sql")))
echo "events still counted after cleanup: $((sent - lost_after)) of $sent"

echo
echo "== Renamed and deleted entities (names survive in the rollups)"
mr_psql "$dir" "$port" -c "SELECT entity_id, min(hour_start) AS first_hour, max(hour_start) AS last_hour,
       (array_agg(entity_name ORDER BY hour_start DESC))[1] AS latest_name
  FROM metrics_rollup.hourly_metrics WHERE kind = 'tool' AND entity_id IN ('e1', 'e2', 'e190', 'e199')
 GROUP BY 1 ORDER BY 1"

has() { [ "$(q -c "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                    WHERE n.nspname = 'metrics_rollup' AND p.proname = '$1'")" -gt 0 ]; }
if has aggregate; then
	echo "== aggregate(): the 5 slowest tools by p95 over the last 30 days"
	mr_psql "$dir" "$port" -c "SELECT entity_id, entity_name, total_count, round(failure_rate::numeric, 3) AS failure_rate,
	       round(p50_response_time::numeric, 4) AS p50, round(p95_response_time::numeric, 4) AS p95,
	       round(p99_response_time::numeric, 4) AS p99
	  FROM metrics_rollup.aggregate('tool', NULL, now() - interval '30 days', now())
	 ORDER BY p95_response_time DESC NULLS LAST LIMIT 5"
else
	echo "== aggregate(): not in this build"
fi
if has live_stats_rows || has live_stats; then
	echo "== live_stats: busiest entities in the live window"
	mr_psql "$dir" "$port" -c "SELECT * FROM metrics_rollup.live_stats ORDER BY count DESC LIMIT 5" 2>&1 | head -12
fi
if has classify; then
	echo "== classify(): hot/cold entities of kind tool"
	mr_psql "$dir" "$port" -c "SELECT class, count(*), min(rank), max(rank) FROM metrics_rollup.classify('tool') GROUP BY 1 ORDER BY 1"
fi
if has timeseries; then
	echo "== timeseries(): p95 per hour of tool e1 (each # = 10 ms)"
	q -F ' ' -c "SELECT to_char(bucket_start AT TIME ZONE 'UTC', 'MM-DD HH24:00'), total_count,
	              round(p95_response_time * 1000), repeat('#', least(80, (p95_response_time * 100)::int))
	         FROM metrics_rollup.timeseries('tool', 'e1', '$start', now())" |
		awk '{ printf "  %s %s  %5d calls  p95 %4d ms  %s\n", $1, $2, $3, $4, $5 }'
fi

echo
status=0
if [ "$lost" != "0" ] || [ "$lost_after" != "0" ]; then
	echo "CHECK FAILED: events lost ($lost before cleanup, $lost_after after)"
	status=1
fi
if [ "$bad" != "0" ]; then
	echo "CHECK FAILED: $bad hourly rows differ from percentile_cont over the events sent"
	status=1
fi
[ "$status" -eq 0 ] && echo "demo checks passed: 0 events lost, hourly percentiles exact"
exit "$status"
