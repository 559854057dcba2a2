/* metrics_rollup--1.0--1.1.sql: ALTER EXTENSION metrics_rollup UPDATE TO '1.1'. */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION metrics_rollup UPDATE TO '1.1'" to load this file. \quit

-- What 1.1 added to 1.0, applied to an installation with its data in place.
-- A fresh install runs metrics_rollup--1.0.sql and then every update script
-- in turn (PostgreSQL chains them), so there is no second copy to keep in
-- step.  Shipped scripts never change: new objects go into the next update.

-------------------------------------------------------------------------------
-- Daily level: daily_metrics and its bookkeeping (src/daily.c)
-------------------------------------------------------------------------------

-- (daily section)

-- A year of one entity is 8760 hourly rows but 365 daily ones: aggregate()
-- reads whole UTC days of a range from daily_metrics when the day is
-- "covered", and everything else (range edges, days not built, days with
-- dirty hours) through query_pieces() as before.  The rule that keeps it
-- exact:
--   * daily_metrics holds, per (kind, entity_id, UTC day), the merge of the
--     day's hourly rows' own figures, written by the builder (src/daily.c)
--     for a whole (kind, day) at a time, and only for a day with no
--     rollup_dirty mark of the kind inside it and no hourly "hole" (below):
--     then every hourly row equals archived (+) raw of its hour, so the
--     daily row equals what query_pieces() counts for the day;
--   * daily_built says that (kind, day) is built: every entity with an event
--     that day has its daily row (an all-entities query needs that);
--   * any change of an hourly row's figures (INSERT, DELETE, TRUNCATE,
--     UPDATE of what the daily row is made of) deletes the day's marker and
--     queues the (kind, day) in daily_queue, in the same transaction, by the
--     triggers below.  The archive trigger of a DELETE on raw_metrics updates
--     only archived/updated_at: it neither changes a daily figure nor fires
--     them (its dirty mark makes the day uncovered until the next rollup,
--     which finds the counts unchanged and rewrites nothing);
--   * at query time a built day counts for an entity (all entities) only if
--     no rollup_dirty mark of the entity (kind) lies inside it: a mark means
--     its hourly row may be behind its raw rows;
--   * the builder holds SHARE on hourly_metrics from its read to its commit,
--     so no writer of hourly rows slips in between.
-- Daily rows of a (kind, day) without a marker are never read; the next
-- build replaces them.

CREATE TABLE metrics_rollup.daily_metrics (
    kind              text             NOT NULL,
    entity_id         text             NOT NULL,
    day_start         timestamptz      NOT NULL,
    entity_name       text,
    name_at           timestamptz,
    total_count       bigint           NOT NULL,
    success_count     bigint           NOT NULL,
    min_response_time double precision NOT NULL,
    max_response_time double precision NOT NULL,
    sum_response_time numeric          NOT NULL,
    sketch            metrics_rollup.sketch,
    last_recorded_at  timestamptz      NOT NULL,
    hours_merged      integer          NOT NULL,
    PRIMARY KEY (kind, entity_id, day_start)
);
CREATE INDEX daily_metrics_kind_day_idx ON metrics_rollup.daily_metrics (kind, day_start);
COMMENT ON INDEX metrics_rollup.daily_metrics_kind_day_idx IS
  'Serves aggregate() over every entity of a kind: the daily rows of the covered days.';
COMMENT ON TABLE metrics_rollup.daily_metrics IS
  'One row per (kind, entity_id, UTC day): the merge of that day''s hourly rows, written by the rollup (src/daily.c); read by aggregate() only for days marked in daily_built.';
COMMENT ON COLUMN metrics_rollup.daily_metrics.kind IS 'What was called.';
COMMENT ON COLUMN metrics_rollup.daily_metrics.entity_id IS 'Which one was called.';
COMMENT ON COLUMN metrics_rollup.daily_metrics.day_start IS 'Start of the UTC day (00:00 UTC); the day is [day_start, day_start + 24 hours).';
COMMENT ON COLUMN metrics_rollup.daily_metrics.entity_name IS 'entity_name of the latest hour of the day that has one.';
COMMENT ON COLUMN metrics_rollup.daily_metrics.name_at IS 'last_recorded_at of that hour (how aggregate() picks the latest name).';
COMMENT ON COLUMN metrics_rollup.daily_metrics.total_count IS 'Events of the day (sum of the hourly total_count).';
COMMENT ON COLUMN metrics_rollup.daily_metrics.success_count IS 'Successful events of the day.';
COMMENT ON COLUMN metrics_rollup.daily_metrics.min_response_time IS 'Smallest response time of the day (s), exact.';
COMMENT ON COLUMN metrics_rollup.daily_metrics.max_response_time IS 'Largest response time of the day (s), exact.';
COMMENT ON COLUMN metrics_rollup.daily_metrics.sum_response_time IS 'Exact sum of the day''s response times (sum of the hourly sum_response_time).';
COMMENT ON COLUMN metrics_rollup.daily_metrics.sketch IS 'Merge of the hourly sketches of the day (byte-identical to merging them at query time).';
COMMENT ON COLUMN metrics_rollup.daily_metrics.last_recorded_at IS 'recorded_at of the day''s latest event.';
COMMENT ON COLUMN metrics_rollup.daily_metrics.hours_merged IS 'Hourly rows merged into this row.';

CREATE TABLE metrics_rollup.daily_built (
    kind           text        NOT NULL,
    day_start      timestamptz NOT NULL,
    entities       integer     NOT NULL,
    hours          integer     NOT NULL,
    built_at       timestamptz NOT NULL DEFAULT now(),
    build_duration interval    NOT NULL,
    PRIMARY KEY (kind, day_start)
);
COMMENT ON TABLE metrics_rollup.daily_built IS
  'One row per (kind, UTC day) whose daily_metrics rows are complete and equal to its hourly rows; deleted by any change of those hourly rows. aggregate() reads only these days from daily_metrics.';
COMMENT ON COLUMN metrics_rollup.daily_built.kind IS 'What was called.';
COMMENT ON COLUMN metrics_rollup.daily_built.day_start IS 'Start of the UTC day.';
COMMENT ON COLUMN metrics_rollup.daily_built.entities IS 'Daily rows the build wrote (entities with events that day).';
COMMENT ON COLUMN metrics_rollup.daily_built.hours IS 'Hourly rows the build merged.';
COMMENT ON COLUMN metrics_rollup.daily_built.built_at IS 'Start of the transaction that built the day.';
COMMENT ON COLUMN metrics_rollup.daily_built.build_duration IS 'How long building the day took.';

CREATE TABLE metrics_rollup.daily_queue (
    kind      text        NOT NULL,
    day_start timestamptz NOT NULL,
    queued_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, day_start)
);
COMMENT ON TABLE metrics_rollup.daily_queue IS
  '(kind, UTC day)s whose daily rows must be (re)built: filled by the triggers on hourly_metrics, emptied by the rollup once the day has ended and has no dirty hour and no hole.';
COMMENT ON COLUMN metrics_rollup.daily_queue.kind IS 'What was called.';
COMMENT ON COLUMN metrics_rollup.daily_queue.day_start IS 'Start of the UTC day.';
COMMENT ON COLUMN metrics_rollup.daily_queue.queued_at IS 'When the day was first queued (since its last build).';

-- A "hole": an hour whose hourly row was deleted (rollup retention, a user's
-- DELETE or TRUNCATE) while raw rows of that group and hour remain and no
-- dirty mark says so.  query_pieces() counts such raw rows; daily rows,
-- made of hourly rows only, would not: a day with a hole is not built.  The
-- hole goes when the hour gets an hourly row again (a rollup, or the archive
-- trigger when those raw rows are deleted).
CREATE TABLE metrics_rollup.daily_holes (
    kind       text        NOT NULL,
    hour_start timestamptz NOT NULL,
    entity_id  text        NOT NULL,
    PRIMARY KEY (kind, hour_start, entity_id)
);
COMMENT ON TABLE metrics_rollup.daily_holes IS
  'Hours (kind, UTC hour, entity_id) with raw rows but no hourly row and no dirty mark (their hourly row was deleted): their day is not built from hourly rows while the hole exists.';
COMMENT ON COLUMN metrics_rollup.daily_holes.kind IS 'What was called.';
COMMENT ON COLUMN metrics_rollup.daily_holes.hour_start IS 'The UTC hour.';
COMMENT ON COLUMN metrics_rollup.daily_holes.entity_id IS 'Which one was called.';

-- Inserted hourly rows: their days are out of date; a hole of theirs is filled.
CREATE FUNCTION metrics_rollup.daily_hourly_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM metrics_rollup.daily_built b
     USING (SELECT DISTINCT n.kind, pg_catalog.date_trunc('day', n.hour_start, 'UTC') AS day_start
              FROM new_rows n) c
     WHERE b.kind = c.kind AND b.day_start = c.day_start;
    INSERT INTO metrics_rollup.daily_queue (kind, day_start)
    SELECT DISTINCT n.kind, pg_catalog.date_trunc('day', n.hour_start, 'UTC')
      FROM new_rows n
    ON CONFLICT (kind, day_start) DO NOTHING;
    IF EXISTS (SELECT FROM metrics_rollup.daily_holes) THEN
        DELETE FROM metrics_rollup.daily_holes h
         USING new_rows n
         WHERE h.kind = n.kind AND h.hour_start = n.hour_start AND h.entity_id = n.entity_id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION metrics_rollup.daily_hourly_inserted() IS
  'Statement trigger on hourly_metrics: the days of the inserted rows lose their daily_built marker and are queued; holes of those hours are filled.';

CREATE TRIGGER daily_hourly_inserted
    AFTER INSERT ON metrics_rollup.hourly_metrics
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_rollup.daily_hourly_inserted();
COMMENT ON TRIGGER daily_hourly_inserted ON metrics_rollup.hourly_metrics IS
  'Invalidates and queues the daily rows of the inserted hours.';

-- Deleted hourly rows: their days are out of date; an hour that keeps raw
-- rows and has no dirty mark becomes a hole.
CREATE FUNCTION metrics_rollup.daily_hourly_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM metrics_rollup.daily_built b
     USING (SELECT DISTINCT o.kind, pg_catalog.date_trunc('day', o.hour_start, 'UTC') AS day_start
              FROM old_rows o) c
     WHERE b.kind = c.kind AND b.day_start = c.day_start;
    INSERT INTO metrics_rollup.daily_queue (kind, day_start)
    SELECT DISTINCT o.kind, pg_catalog.date_trunc('day', o.hour_start, 'UTC')
      FROM old_rows o
    ON CONFLICT (kind, day_start) DO NOTHING;
    INSERT INTO metrics_rollup.daily_holes (kind, hour_start, entity_id)
    SELECT o.kind, o.hour_start, o.entity_id
      FROM old_rows o
     WHERE EXISTS (SELECT FROM metrics_rollup.raw_metrics r
                    WHERE r.kind = o.kind AND r.entity_id = o.entity_id
                      AND r.recorded_at >= o.hour_start
                      AND r.recorded_at < o.hour_start + interval '1 hour')
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION metrics_rollup.daily_hourly_deleted() IS
  'Statement trigger on hourly_metrics: the days of the deleted rows lose their daily_built marker and are queued; a deleted hour that still has raw rows becomes a hole.';

CREATE TRIGGER daily_hourly_deleted
    AFTER DELETE ON metrics_rollup.hourly_metrics
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_rollup.daily_hourly_deleted();
COMMENT ON TRIGGER daily_hourly_deleted ON metrics_rollup.hourly_metrics IS
  'Invalidates and queues the daily rows of the deleted hours; records holes.';

-- XXX: a row trigger, not a statement trigger with transition tables:
-- PostgreSQL refuses transition tables on a trigger with a column list, and
-- the column list is what keeps the archive trigger's UPDATE (archived,
-- updated_at only) from firing it at all.  The WHEN clause skips rewrites
-- that change nothing the daily row is made of (run_rollup(since)).
CREATE FUNCTION metrics_rollup.daily_hourly_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM metrics_rollup.daily_built b
     WHERE (b.kind = OLD.kind AND b.day_start = pg_catalog.date_trunc('day', OLD.hour_start, 'UTC'))
        OR (b.kind = NEW.kind AND b.day_start = pg_catalog.date_trunc('day', NEW.hour_start, 'UTC'));
    INSERT INTO metrics_rollup.daily_queue (kind, day_start)
    VALUES (OLD.kind, pg_catalog.date_trunc('day', OLD.hour_start, 'UTC')),
           (NEW.kind, pg_catalog.date_trunc('day', NEW.hour_start, 'UTC'))
    ON CONFLICT (kind, day_start) DO NOTHING;
    IF (OLD.kind, OLD.entity_id, OLD.hour_start) IS DISTINCT FROM (NEW.kind, NEW.entity_id, NEW.hour_start) THEN
        -- the row moved: its old hour may be left with raw rows only
        INSERT INTO metrics_rollup.daily_holes (kind, hour_start, entity_id)
        SELECT OLD.kind, OLD.hour_start, OLD.entity_id
         WHERE EXISTS (SELECT FROM metrics_rollup.raw_metrics r
                        WHERE r.kind = OLD.kind AND r.entity_id = OLD.entity_id
                          AND r.recorded_at >= OLD.hour_start
                          AND r.recorded_at < OLD.hour_start + interval '1 hour')
        ON CONFLICT DO NOTHING;
        DELETE FROM metrics_rollup.daily_holes h
         WHERE h.kind = NEW.kind AND h.hour_start = NEW.hour_start AND h.entity_id = NEW.entity_id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION metrics_rollup.daily_hourly_updated() IS
  'Row trigger on hourly_metrics: an UPDATE of a figure a daily row is made of invalidates and queues the old and new row''s days.';

CREATE TRIGGER daily_hourly_updated
    AFTER UPDATE OF kind, entity_id, hour_start, entity_name, total_count, success_count,
                    min_response_time, max_response_time, sum_response_time, sketch, last_recorded_at
    ON metrics_rollup.hourly_metrics
    FOR EACH ROW
    WHEN ((OLD.kind, OLD.entity_id, OLD.hour_start, OLD.entity_name, OLD.total_count, OLD.success_count,
           OLD.min_response_time, OLD.max_response_time, OLD.sum_response_time, OLD.last_recorded_at,
           metrics_rollup.sketch_to_bytea(OLD.sketch))
          IS DISTINCT FROM
          (NEW.kind, NEW.entity_id, NEW.hour_start, NEW.entity_name, NEW.total_count, NEW.success_count,
           NEW.min_response_time, NEW.max_response_time, NEW.sum_response_time, NEW.last_recorded_at,
           metrics_rollup.sketch_to_bytea(NEW.sketch)))
    EXECUTE FUNCTION metrics_rollup.daily_hourly_updated();
COMMENT ON TRIGGER daily_hourly_updated ON metrics_rollup.hourly_metrics IS
  'Invalidates and queues the days of an hourly row whose daily figures changed (not archived or updated_at).';

-- TRUNCATE: nothing built is left; hours whose raw rows remain are holes.
CREATE FUNCTION metrics_rollup.daily_hourly_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM metrics_rollup.daily_built;
    DELETE FROM metrics_rollup.daily_metrics;
    DELETE FROM metrics_rollup.daily_queue;
    INSERT INTO metrics_rollup.daily_holes (kind, hour_start, entity_id)
    SELECT DISTINCT r.kind, pg_catalog.date_trunc('hour', r.recorded_at, 'UTC'), r.entity_id
      FROM metrics_rollup.raw_metrics r
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION metrics_rollup.daily_hourly_truncated() IS
  'Statement trigger on hourly_metrics: TRUNCATE empties the daily level; every hour with raw rows becomes a hole.';

CREATE TRIGGER daily_hourly_truncated
    AFTER TRUNCATE ON metrics_rollup.hourly_metrics
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_rollup.daily_hourly_truncated();
COMMENT ON TRIGGER daily_hourly_truncated ON metrics_rollup.hourly_metrics IS
  'Empties the daily level when hourly_metrics is truncated.';

-- A restore may load daily_queue after hourly_metrics, whose insert trigger
-- has queued the same days: an existing entry absorbs the restored one.
CREATE FUNCTION metrics_rollup.daily_queue_merge() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM metrics_rollup.daily_queue q
                WHERE q.kind = NEW.kind AND q.day_start = NEW.day_start) THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION metrics_rollup.daily_queue_merge() IS
  'Row trigger on daily_queue for top-level inserts (COPY of a restore): a day already queued absorbs the new entry instead of failing on the primary key.';

CREATE TRIGGER daily_queue_merge
    BEFORE INSERT ON metrics_rollup.daily_queue
    FOR EACH ROW WHEN (pg_catalog.pg_trigger_depth() = 0)
    EXECUTE FUNCTION metrics_rollup.daily_queue_merge();
COMMENT ON TRIGGER daily_queue_merge ON metrics_rollup.daily_queue IS
  'Lets a restore load daily_queue after hourly_metrics: queued days absorb restored ones.';

-- Dumped like the other data tables (see the dump section of the full script).
SELECT pg_catalog.pg_extension_config_dump('metrics_rollup.daily_metrics', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_rollup.daily_built', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_rollup.daily_queue', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_rollup.daily_holes', '');

-- What 1.0 left: every (kind, day) with hourly rows is queued, so the first
-- rollups after the update build the daily level; hours whose hourly row
-- is gone (rollup retention) while raw rows and no dirty mark remain are
-- holes.
INSERT INTO metrics_rollup.daily_queue (kind, day_start)
SELECT DISTINCT h.kind, pg_catalog.date_trunc('day', h.hour_start, 'UTC')
  FROM metrics_rollup.hourly_metrics h;
INSERT INTO metrics_rollup.daily_holes (kind, hour_start, entity_id)
SELECT DISTINCT r.kind, pg_catalog.date_trunc('hour', r.recorded_at, 'UTC'), r.entity_id
  FROM metrics_rollup.raw_metrics r
 WHERE NOT EXISTS (SELECT FROM metrics_rollup.hourly_metrics h
                    WHERE h.kind = r.kind AND h.entity_id = r.entity_id
                      AND h.hour_start = pg_catalog.date_trunc('hour', r.recorded_at, 'UTC'))
   AND NOT EXISTS (SELECT FROM metrics_rollup.rollup_dirty d
                    WHERE d.kind = r.kind AND d.entity_id = r.entity_id
                      AND d.hour_start = pg_catalog.date_trunc('hour', r.recorded_at, 'UTC'));

-- plpgsql cannot have an argument and a result column of the same name
-- (kind, entity_id): aggregate() is a thin SQL wrapper of this one.
-- The whole UTC days of the range that are covered (built in daily_built,
-- and no rollup_dirty mark of the entity, or of the kind for all entities,
-- inside them) come from daily_metrics, one row per entity and day; the
-- rest of [since, until) (a multirange: the edges and the other days) comes
-- from query_pieces(), one call per range.  Every cut is at a whole hour,
-- where query_pieces() is additive: each hour falls in exactly one part.
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
                       metrics_rollup.sketch_quantiles(metrics_rollup.query_sketch_merge(p.sketch),
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
                       metrics_rollup.sketch_quantiles(metrics_rollup.query_sketch_merge(p.sketch),
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

-- Buckets of whole days start at UTC midnight (multiples of 24 hours since
-- the epoch): their covered days come from daily_metrics, as in aggregate();
-- everything else through query_pieces(), one call per range.
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
                            metrics_rollup.sketch_quantiles(metrics_rollup.query_sketch_merge(p.sketch),
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
                            metrics_rollup.sketch_quantiles(metrics_rollup.query_sketch_merge(p.sketch),
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
  'Per bucket of [since, until) (a positive whole number of hours, aligned to multiples of the bucket since the Unix epoch, UTC), every bucket listed, empty ones with zero counts: events, failures, avg exact, p50/p95/p99 from the merged sketches. Same counting rule as aggregate() (buckets of whole days read the daily level), so the buckets sum to its totals. entity_id NULL: every entity of the kind together.';

-- Privileges of the new objects, as the privileges section of the full
-- script gives them: nothing for PUBLIC; trigger functions run as the owner
-- with a pinned search_path.
REVOKE ALL ON TABLE metrics_rollup.daily_metrics, metrics_rollup.daily_built,
    metrics_rollup.daily_queue, metrics_rollup.daily_holes FROM PUBLIC;
REVOKE ALL ON FUNCTION
    metrics_rollup.daily_hourly_inserted(), metrics_rollup.daily_hourly_deleted(),
    metrics_rollup.daily_hourly_updated(), metrics_rollup.daily_hourly_truncated(),
    metrics_rollup.daily_queue_merge()
  FROM PUBLIC;
ALTER FUNCTION metrics_rollup.daily_hourly_inserted() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION metrics_rollup.daily_hourly_deleted() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION metrics_rollup.daily_hourly_updated() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION metrics_rollup.daily_hourly_truncated() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION metrics_rollup.daily_queue_merge() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- Cleanup: fast archive of rolled-up, clean groups (src/cleanup_archive.c).
CREATE FUNCTION metrics_rollup.cleanup_archive_suppressed() RETURNS boolean
AS 'MODULE_PATHNAME', 'cleanup_archive_suppressed_sql' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION metrics_rollup.cleanup_archive_suppressed() IS
  'True only inside the triggers of run_cleanup()''s fast archive statement (a backend-local flag that only the C code of cleanup sets): rollup_archive_deleted then skips its aggregation, the statement having set archived itself. No setting or function can turn it on.';
REVOKE ALL ON FUNCTION metrics_rollup.cleanup_archive_suppressed() FROM PUBLIC;

-- CREATE OR REPLACE resets SECURITY DEFINER and SET: restore them as the
-- privileges section of the full script sets them.
CREATE OR REPLACE FUNCTION metrics_rollup.rollup_archive_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF metrics_rollup.cleanup_archive_suppressed() THEN
        RETURN NULL;
    END IF;
    INSERT INTO metrics_rollup.hourly_metrics AS h
           (kind, entity_id, entity_name, hour_start, total_count, success_count, failure_count,
            min_response_time, max_response_time, avg_response_time,
            p50_response_time, p95_response_time, p99_response_time,
            sketch, sum_response_time, last_recorded_at, percentiles_exact, archived)
    SELECT o.kind, o.entity_id, (o.s).entity_name, o.hour_start, (o.s).total_count, (o.s).success_count,
           (o.s).total_count - (o.s).success_count, (o.s).min_value, (o.s).max_value,
           ((o.s).sum_value / (o.s).total_count)::double precision,
           (o.s).p50, (o.s).p95, (o.s).p99,
           (o.s).sketch, (o.s).sum_value, (o.s).last_at, (o.s).percentiles_exact, o.s
      FROM (SELECT r.kind, r.entity_id, pg_catalog.date_trunc('hour', r.recorded_at, 'UTC') AS hour_start,
                   metrics_rollup.rollup_agg(r.response_time, r.success, r.recorded_at, r.entity_name) AS s
              FROM old_rows r
             GROUP BY 1, 2, 3) o
    ON CONFLICT (kind, entity_id, hour_start) DO UPDATE
       SET archived = metrics_rollup.rollup_stats_merge(h.archived, excluded.archived),
           updated_at = pg_catalog.now();

    INSERT INTO metrics_rollup.rollup_dirty AS d (kind, entity_id, hour_start)
    SELECT DISTINCT o.kind, o.entity_id, pg_catalog.date_trunc('hour', o.recorded_at, 'UTC')
      FROM old_rows o
    ON CONFLICT (kind, entity_id, hour_start) DO UPDATE SET force = d.force WHERE false;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION metrics_rollup.rollup_archive_deleted() IS
  'Statement trigger on raw_metrics: deleted events are added to their hourly row''s archived summary (created if missing) and the group is marked dirty; skipped only inside run_cleanup()''s fast archive, which has set archived itself.';
ALTER FUNCTION metrics_rollup.rollup_archive_deleted()
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
