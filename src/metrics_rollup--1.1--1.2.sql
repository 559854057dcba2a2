/* metrics_rollup--1.1--1.2.sql: ALTER EXTENSION metrics_rollup UPDATE TO '1.2'. */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION metrics_rollup UPDATE TO '1.2'" to load this file. \quit

-- What 1.2 adds to 1.1.  A fresh install runs metrics_rollup--1.0.sql, then
-- metrics_rollup--1.0--1.1.sql, then this file (PostgreSQL chains update
-- scripts), so an updated installation and a fresh one run the same
-- statements; test/t/080_upgrade.pl checks that the data survives.
--
-- Sections, one per concern, in dependency order; a change adds its objects
-- to its own section.  Objects that readers may use are granted to
-- pg_read_all_stats in the privileges section, which comes last.

-------------------------------------------------------------------------------
-- Hardening: input rules, lock timeouts, dirty marks (src/rollup.c, src/flush.c)
-------------------------------------------------------------------------------

-- (hardening section)

-------------------------------------------------------------------------------
-- Percentiles: one rule (percentile_cont) everywhere (src/sketch.c)
-------------------------------------------------------------------------------

-- (percentiles section)

-- Every percentile the extension reports follows percentile_cont: linear
-- interpolation between the values at 0-based rows floor(q * (n - 1)) and
-- ceil(q * (n - 1)).  hourly_metrics computes it exactly from the raw rows
-- (src/rollup_agg.c); everything that merges sketches (aggregate(),
-- timeseries(), the daily level they read, merged hourly rows, live_stats)
-- computes it from the sketch, within its relative accuracy.  Queries read
-- the sketch even where raw rows exist, so an answer does not change when
-- cleanup deletes raw rows.  sketch_quantile(s) keep percentile_disc's rank.

CREATE FUNCTION metrics_rollup.sketch_percentile_cont(metrics_rollup.sketch, q double precision)
RETURNS double precision
    AS 'MODULE_PATHNAME', 'sketch_percentile_cont' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_percentile_cont(metrics_rollup.sketch, double precision) IS
  'percentile_cont(q) of the sketched values: interpolates between the values at rows floor(q(n-1)) and ceil(q(n-1)), each within the relative accuracy (the first and last rows exact), so the result is within the relative accuracy of the exact percentile_cont; clamped to [min, max]. NULL for an empty sketch.';
CREATE FUNCTION metrics_rollup.sketch_percentiles_cont(metrics_rollup.sketch, q double precision[])
RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'sketch_percentiles_cont' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_percentiles_cont(metrics_rollup.sketch, double precision[]) IS
  'sketch_percentile_cont for each element of the array (NULL elements give NULL).';
-- like every sketch function: usable by everyone
GRANT EXECUTE ON FUNCTION
    metrics_rollup.sketch_percentile_cont(metrics_rollup.sketch, double precision),
    metrics_rollup.sketch_percentiles_cont(metrics_rollup.sketch, double precision[])
  TO PUBLIC;

-- aggregate() and timeseries(): their 1.1 definitions, with percentiles by
-- the rule of percentile_cont (sketch_percentiles_cont) instead of
-- percentile_disc's rank (sketch_quantiles).

CREATE OR REPLACE FUNCTION metrics_rollup.query_aggregate(
    p_kind text, p_entity_id text, p_since timestamptz, p_until timestamptz)
RETURNS TABLE(r_kind text, r_entity_id text, entity_name text,
              total_count bigint, success_count bigint, failure_count bigint,
              failure_rate double precision,
              min_response_time double precision, max_response_time double precision,
              avg_response_time double precision,
              p50_response_time double precision, p95_response_time double precision,
              p99_response_time double precision,
              last_recorded_at timestamptz)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
-- the plans take the bounds as parameters: planned once per session
SET plan_cache_mode = force_generic_plan
-- the generic plan's cost (query_pieces() over an unknown number of ranges)
-- crosses jit_above_cost: compiling it took ~1 s, running it a few ms
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    p_entity ALIAS FOR p_entity_id;
    p_lo     timestamptz := coalesce(p_since, '-infinity');
    p_hi     timestamptz := coalesce(p_until, 'infinity');
    covered  timestamptz[];     -- days read from daily_metrics, in order
    first_day timestamptz;      -- covered[1]
    last_day timestamptz;       -- the last of covered
    skipped  timestamptz[];     -- days between those two that are not covered
    rest     tstzmultirange;    -- the rest of [p_lo, p_hi), read by query_pieces()
BEGIN
    IF p_kind IS NULL THEN
        RAISE EXCEPTION 'kind must not be NULL'
              USING ERRCODE = 'null_value_not_allowed',
                    HINT = 'Pass the kind of entity to summarise, e.g. ''tool''.';
    END IF;
    -- days are 24 hours in UTC whatever the session's time zone
    IF p_entity IS NULL THEN
        SELECT array_agg(b.day_start ORDER BY b.day_start), min(b.day_start), max(b.day_start)
          INTO covered, first_day, last_day
          FROM metrics_rollup.daily_built b
         WHERE b.kind = p_kind
           AND b.day_start >= p_lo AND b.day_start <= p_hi - interval '24 hours'
           AND NOT EXISTS (SELECT FROM metrics_rollup.rollup_dirty d
                            WHERE d.hour_start >= b.day_start
                              AND d.hour_start < b.day_start + interval '24 hours'
                              AND d.kind = p_kind);
    ELSE
        SELECT array_agg(b.day_start ORDER BY b.day_start), min(b.day_start), max(b.day_start)
          INTO covered, first_day, last_day
          FROM metrics_rollup.daily_built b
         WHERE b.kind = p_kind
           AND b.day_start >= p_lo AND b.day_start <= p_hi - interval '24 hours'
           AND NOT EXISTS (SELECT FROM metrics_rollup.rollup_dirty d
                            WHERE d.kind = p_kind AND d.entity_id = p_entity
                              AND d.hour_start >= b.day_start
                              AND d.hour_start < b.day_start + interval '24 hours');
    END IF;
    -- daily rows are read by one range scan from first_day to last_day,
    -- less the few days in between that are not covered
    IF first_day + (cardinality(covered) - 1) * interval '24 hours' < last_day THEN
        SELECT array_agg(g) INTO skipped
          FROM generate_series(first_day, last_day, interval '24 hours') g
         WHERE g <> ALL (covered);
    ELSE
        skipped := '{}';
    END IF;
    IF p_lo < p_hi THEN
        SELECT tstzmultirange(tstzrange(p_lo, p_hi))
               - coalesce(range_agg(tstzrange(c, c + interval '24 hours')), '{}')
          INTO rest
          FROM unnest(covered) c;
    ELSE
        rest := '{}';
    END IF;
    IF p_entity IS NULL THEN
        RETURN QUERY
        SELECT a.kind, a.entity_id, a.entity_name, a.n, a.ok, a.n - a.ok,
               (a.n - a.ok)::float8 / a.n, a.mn, a.mx, (a.sm / a.n)::float8,
               a.q[1], a.q[2], a.q[3], a.last_at
          FROM (SELECT p.kind, p.entity_id,
                       (array_agg(p.entity_name ORDER BY p.name_at DESC)
                            FILTER (WHERE p.entity_name IS NOT NULL))[1] AS entity_name,
                       sum(p.total_count)::bigint AS n, sum(p.success_count)::bigint AS ok,
                       min(p.min_value) AS mn, max(p.max_value) AS mx, sum(p.sum_value) AS sm,
                       metrics_rollup.sketch_percentiles_cont(metrics_rollup.query_sketch_merge(p.sketch),
                                                              '{0.5,0.95,0.99}') AS q,
                       max(p.last_at) AS last_at
                  FROM (SELECT dm.kind, dm.entity_id, dm.total_count, dm.success_count,
                               dm.min_response_time AS min_value, dm.max_response_time AS max_value,
                               dm.sum_response_time AS sum_value, dm.sketch, dm.entity_name,
                               dm.name_at, dm.last_recorded_at AS last_at
                          FROM metrics_rollup.daily_metrics dm
                         WHERE dm.kind = p_kind
                           AND dm.day_start >= first_day AND dm.day_start <= last_day
                           AND dm.day_start <> ALL (skipped)
                        UNION ALL
                        SELECT q.kind, q.entity_id, q.total_count, q.success_count, q.min_value,
                               q.max_value, q.sum_value, q.sketch, q.entity_name, q.name_at, q.last_at
                          FROM unnest(rest) r(r),
                               LATERAL metrics_rollup.query_pieces(p_kind, NULL, true,
                                                                   lower(r.r), upper(r.r)) q) p
                 GROUP BY p.kind, p.entity_id) a
         ORDER BY a.entity_id;
    ELSE
        RETURN QUERY
        SELECT p_kind, p_entity, a.entity_name, a.n, a.ok, a.n - a.ok,
               CASE WHEN a.n > 0 THEN (a.n - a.ok)::float8 / a.n ELSE 0 END,
               a.mn, a.mx, (a.sm / nullif(a.n, 0))::float8,
               a.q[1], a.q[2], a.q[3], a.last_at
          FROM (SELECT (array_agg(p.entity_name ORDER BY p.name_at DESC)
                            FILTER (WHERE p.entity_name IS NOT NULL))[1] AS entity_name,
                       coalesce(sum(p.total_count), 0)::bigint AS n,
                       coalesce(sum(p.success_count), 0)::bigint AS ok,
                       min(p.min_value) AS mn, max(p.max_value) AS mx, sum(p.sum_value) AS sm,
                       metrics_rollup.sketch_percentiles_cont(metrics_rollup.query_sketch_merge(p.sketch),
                                                              '{0.5,0.95,0.99}') AS q,
                       max(p.last_at) AS last_at
                  FROM (SELECT dm.total_count, dm.success_count,
                               dm.min_response_time AS min_value, dm.max_response_time AS max_value,
                               dm.sum_response_time AS sum_value, dm.sketch, dm.entity_name,
                               dm.name_at, dm.last_recorded_at AS last_at
                          FROM metrics_rollup.daily_metrics dm
                         WHERE dm.kind = p_kind AND dm.entity_id = p_entity
                           AND dm.day_start >= first_day AND dm.day_start <= last_day
                           AND dm.day_start <> ALL (skipped)
                        UNION ALL
                        SELECT q.total_count, q.success_count, q.min_value, q.max_value,
                               q.sum_value, q.sketch, q.entity_name, q.name_at, q.last_at
                          FROM unnest(rest) r(r),
                               LATERAL metrics_rollup.query_pieces(p_kind, p_entity, false,
                                                                   lower(r.r), upper(r.r)) q) p) a;
    END IF;
END
$$;
COMMENT ON FUNCTION metrics_rollup.query_aggregate(text, text, timestamptz, timestamptz) IS
  'Implementation of aggregate() (same arguments and result columns): covered whole UTC days from daily_metrics, the rest through query_pieces().';

CREATE OR REPLACE FUNCTION metrics_rollup.timeseries(
    kind text,
    entity_id text,
    since timestamptz,
    until timestamptz,
    bucket interval DEFAULT '1 hour')
RETURNS TABLE(bucket_start timestamptz, total_count bigint, failure_count bigint,
              avg_response_time double precision,
              p50_response_time double precision, p95_response_time double precision,
              p99_response_time double precision)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
-- as in aggregate(): the generic plan's cost would trigger JIT compilation
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    p_kind   ALIAS FOR $1;
    p_entity ALIAS FOR $2;
    p_lo     ALIAS FOR $3;
    p_hi     ALIAS FOR $4;
    p_bucket interval;
    seconds  numeric;
    covered  timestamptz[];     -- days read from daily_metrics, in order
    first_day timestamptz;
    last_day timestamptz;
    skipped  timestamptz[] := '{}';
    rest     tstzmultirange := '{}';
BEGIN
    IF p_kind IS NULL OR p_lo IS NULL OR p_hi IS NULL OR $5 IS NULL THEN
        RAISE EXCEPTION 'kind, since, until and bucket must not be NULL'
              USING ERRCODE = 'null_value_not_allowed',
                    HINT = 'Pass a kind and finite since and until; entity_id NULL means every entity of the kind.';
    END IF;
    IF NOT isfinite(p_lo) OR NOT isfinite(p_hi) THEN
        RAISE EXCEPTION 'since and until must be finite'
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'Give the time range of the chart.';
    END IF;
    seconds := extract(epoch FROM $5);
    IF extract(month FROM $5) <> 0 OR extract(year FROM $5) <> 0
       OR seconds <= 0 OR seconds % 3600 <> 0 THEN
        RAISE EXCEPTION 'bucket must be a positive whole number of hours: %', $5
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'Use e.g. ''1 hour'', ''6 hours'' or ''1 day'' (24 hours); months are not fixed lengths.';
    END IF;
    -- in seconds: a day is 24 hours, whatever the session's time zone
    p_bucket := make_interval(secs => seconds);
    IF seconds % 86400 = 0 THEN
        SELECT array_agg(b.day_start ORDER BY b.day_start), min(b.day_start), max(b.day_start)
          INTO covered, first_day, last_day
          FROM metrics_rollup.daily_built b
         WHERE b.kind = p_kind
           AND b.day_start >= p_lo AND b.day_start <= p_hi - interval '24 hours'
           AND NOT EXISTS (SELECT FROM metrics_rollup.rollup_dirty d
                            WHERE d.kind = p_kind
                              AND (p_entity IS NULL OR d.entity_id = p_entity)
                              AND d.hour_start >= b.day_start
                              AND d.hour_start < b.day_start + interval '24 hours');
        IF first_day + (cardinality(covered) - 1) * interval '24 hours' < last_day THEN
            SELECT array_agg(g) INTO skipped
              FROM generate_series(first_day, last_day, interval '24 hours') g
             WHERE g <> ALL (covered);
        END IF;
    END IF;
    IF p_lo < p_hi THEN
        SELECT tstzmultirange(tstzrange(p_lo, p_hi))
               - coalesce(range_agg(tstzrange(c, c + interval '24 hours')), '{}')
          INTO rest
          FROM unnest(covered) c;
    END IF;
    IF p_entity IS NULL THEN
        RETURN QUERY
        SELECT b.b, coalesce(a.n, 0), coalesce(a.n - a.ok, 0), (a.sm / a.n)::float8,
               a.q[1], a.q[2], a.q[3]
          FROM generate_series(date_bin(p_bucket, p_lo, '1970-01-01 00:00:00+00'),
                               p_hi - interval '1 microsecond', p_bucket) b(b)
          LEFT JOIN (SELECT date_bin(p_bucket, p.hour_start, '1970-01-01 00:00:00+00') AS b,
                            sum(p.total_count)::bigint AS n, sum(p.success_count)::bigint AS ok,
                            sum(p.sum_value) AS sm,
                            metrics_rollup.sketch_percentiles_cont(metrics_rollup.query_sketch_merge(p.sketch),
                                                                   '{0.5,0.95,0.99}') AS q
                       FROM (SELECT dm.day_start AS hour_start, dm.total_count, dm.success_count,
                                    dm.sum_response_time AS sum_value, dm.sketch
                               FROM metrics_rollup.daily_metrics dm
                              WHERE dm.kind = p_kind
                                AND dm.day_start >= first_day AND dm.day_start <= last_day
                                AND dm.day_start <> ALL (skipped)
                             UNION ALL
                             SELECT q.hour_start, q.total_count, q.success_count, q.sum_value, q.sketch
                               FROM unnest(rest) r(r),
                                    LATERAL metrics_rollup.query_pieces(p_kind, NULL, true,
                                                                        lower(r.r), upper(r.r)) q) p
                      GROUP BY 1) a ON a.b = b.b
         ORDER BY b.b;
    ELSE
        RETURN QUERY
        SELECT b.b, coalesce(a.n, 0), coalesce(a.n - a.ok, 0), (a.sm / a.n)::float8,
               a.q[1], a.q[2], a.q[3]
          FROM generate_series(date_bin(p_bucket, p_lo, '1970-01-01 00:00:00+00'),
                               p_hi - interval '1 microsecond', p_bucket) b(b)
          LEFT JOIN (SELECT date_bin(p_bucket, p.hour_start, '1970-01-01 00:00:00+00') AS b,
                            sum(p.total_count)::bigint AS n, sum(p.success_count)::bigint AS ok,
                            sum(p.sum_value) AS sm,
                            metrics_rollup.sketch_percentiles_cont(metrics_rollup.query_sketch_merge(p.sketch),
                                                                   '{0.5,0.95,0.99}') AS q
                       FROM (SELECT dm.day_start AS hour_start, dm.total_count, dm.success_count,
                                    dm.sum_response_time AS sum_value, dm.sketch
                               FROM metrics_rollup.daily_metrics dm
                              WHERE dm.kind = p_kind AND dm.entity_id = p_entity
                                AND dm.day_start >= first_day AND dm.day_start <= last_day
                                AND dm.day_start <> ALL (skipped)
                             UNION ALL
                             SELECT q.hour_start, q.total_count, q.success_count, q.sum_value, q.sketch
                               FROM unnest(rest) r(r),
                                    LATERAL metrics_rollup.query_pieces(p_kind, p_entity, false,
                                                                        lower(r.r), upper(r.r)) q) p
                      GROUP BY 1) a ON a.b = b.b
         ORDER BY b.b;
    END IF;
END
$$;
COMMENT ON FUNCTION metrics_rollup.timeseries(text, text, timestamptz, timestamptz, interval) IS
  'Per bucket of [since, until) (a positive whole number of hours, aligned to multiples of the bucket since the Unix epoch, UTC), every bucket listed, empty ones with zero counts: events, failures, avg exact, p50/p95/p99 by the rule of percentile_cont from the merged sketches (within sketch_relative_accuracy of the exact percentile_cont). Same counting rule as aggregate() (buckets of whole days read the daily level), so the buckets sum to its totals. entity_id NULL: every entity of the kind together.';

COMMENT ON FUNCTION metrics_rollup.aggregate(text, text, timestamptz, timestamptz) IS
  'Summary per entity of the kind (or of the one entity_id) over [since, until) (NULL: unbounded), every event counted once whether its raw row or only its hourly rollup remains. Counts, min, max, avg exact; p50/p95/p99 by the rule of percentile_cont from the merged sketches (within sketch_relative_accuracy of the exact percentile_cont), also over raw rows. An hour cut by since/until counts its raw rows in range while they all exist, else whole when its hour_start is in range. entity_name: latest non-NULL name in range. One entity with no events: one row of zero counts; all entities: only those with events.';

-- live_stats: percentiles by percentile_cont's rule from a real sketch per
-- time slice (src/live.c), and two new columns.  The result type of
-- live_entities() grows, so the view and the function are recreated (the
-- new columns come last: the library also serves 1.1's 13 columns).
DROP VIEW metrics_rollup.live_stats;
DROP FUNCTION metrics_rollup.live_entities();
CREATE FUNCTION metrics_rollup.live_entities(
    OUT kind text,
    OUT entity_id text,
    OUT entity_name text,
    OUT count bigint,
    OUT failures bigint,
    OUT min_response_time double precision,
    OUT max_response_time double precision,
    OUT avg_response_time double precision,
    OUT p50_response_time double precision,
    OUT p95_response_time double precision,
    OUT p99_response_time double precision,
    OUT last_seen timestamptz,
    OUT use_count bigint,
    OUT total_response_time double precision,
    OUT last_response_time double precision)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'live_stats'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.live_entities() IS
  'Every entity tracked in shared memory with its statistics over metrics_rollup.live_window; the live_stats view shows them.';
REVOKE ALL ON FUNCTION metrics_rollup.live_entities() FROM PUBLIC;

CREATE VIEW metrics_rollup.live_stats AS
SELECT l.kind,
       l.entity_id,
       l.entity_name,
       l.count,
       l.failures,
       l.min_response_time,
       l.max_response_time,
       l.avg_response_time,
       l.p50_response_time,
       l.p95_response_time,
       l.p99_response_time,
       l.last_seen,
       l.use_count,
       l.total_response_time,
       l.last_response_time
  FROM metrics_rollup.live_entities() l;
REVOKE ALL ON metrics_rollup.live_stats FROM PUBLIC;

COMMENT ON VIEW metrics_rollup.live_stats IS
  'Per (kind, entity_id), from shared memory: events recorded during the last metrics_rollup.live_window (kept at least 5/6 of the window, never longer). An entity with no event left in the window stays with count 0 and NULL statistics until it is evicted (at most metrics_rollup.max_live_entities entities; the least recently seen goes first).';
COMMENT ON COLUMN metrics_rollup.live_stats.kind IS 'What was called.';
COMMENT ON COLUMN metrics_rollup.live_stats.entity_id IS 'Which one was called.';
COMMENT ON COLUMN metrics_rollup.live_stats.entity_name IS 'Latest entity_name recorded for it (an event without a name keeps the previous one).';
COMMENT ON COLUMN metrics_rollup.live_stats.count IS 'Events recorded in the window (buffered or written directly; dropped events are not counted).';
COMMENT ON COLUMN metrics_rollup.live_stats.failures IS 'Events in the window with success = false.';
COMMENT ON COLUMN metrics_rollup.live_stats.min_response_time IS 'Exact minimum response time in the window, seconds.';
COMMENT ON COLUMN metrics_rollup.live_stats.max_response_time IS 'Exact maximum response time in the window, seconds.';
COMMENT ON COLUMN metrics_rollup.live_stats.avg_response_time IS 'Mean response time in the window, seconds.';
COMMENT ON COLUMN metrics_rollup.live_stats.p50_response_time IS 'Median (percentile_cont rule) within 1% relative error, seconds.';
COMMENT ON COLUMN metrics_rollup.live_stats.p95_response_time IS '95th percentile (percentile_cont rule) within 1% relative error, seconds.';
COMMENT ON COLUMN metrics_rollup.live_stats.p99_response_time IS '99th percentile (percentile_cont rule) within 1% relative error, seconds.';
COMMENT ON COLUMN metrics_rollup.live_stats.last_seen IS 'Clock time of the last record() or record_batch() call that counted an event of this entity.';
COMMENT ON COLUMN metrics_rollup.live_stats.use_count IS 'Events counted since the entity entered the live table (all time, not only the window).';
COMMENT ON COLUMN metrics_rollup.live_stats.total_response_time IS 'Sum of the response times of the events in the window, seconds.';
COMMENT ON COLUMN metrics_rollup.live_stats.last_response_time IS 'Response time of the entity''s latest recorded event (the one of last_seen), seconds; kept after it leaves the window.';

-------------------------------------------------------------------------------
-- Scale up: flush workers, queries independent of raw volume
-------------------------------------------------------------------------------

-- (scale-up section)

-------------------------------------------------------------------------------
-- Scale out: Citus, distribute() and undistribute()
-------------------------------------------------------------------------------

-- (citus section)

-------------------------------------------------------------------------------
-- Poll scheduling by class: should_poll(), mark_polled(), classification_info()
-------------------------------------------------------------------------------

-- (polling section)

-------------------------------------------------------------------------------
-- Observability: stats_reset(), config, consistent names
-------------------------------------------------------------------------------

-- (observability section)

-------------------------------------------------------------------------------
-- Privileges: pg_read_all_stats reads, grants cover public objects only
-------------------------------------------------------------------------------

-- (privileges section)
