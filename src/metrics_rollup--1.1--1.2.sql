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

-- Known entities: the set of entities of a kind that exist, used or not
-- (src/classes.c).  The application fills it; classify() and
-- classification_info() count every row in N, and never-used ones are cold.
CREATE TABLE metrics_rollup.known_entities (
    kind text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
    entity_id text NOT NULL CHECK (octet_length(entity_id) BETWEEN 1 AND 255),
    entity_name text CHECK (octet_length(entity_name) <= 255),
    registered_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (kind, entity_id)
);
SELECT pg_catalog.pg_extension_config_dump('metrics_rollup.known_entities', '');

COMMENT ON TABLE metrics_rollup.known_entities IS
  'Entities that exist, whether or not they sent events (e.g. every registered server): classify() and classification_info() count them in N and class them cold until used. Filled by the application; kinds without rows here are classified from live memory alone.';
COMMENT ON COLUMN metrics_rollup.known_entities.kind IS 'What kind of entity (the kind rule of record()).';
COMMENT ON COLUMN metrics_rollup.known_entities.entity_id IS 'Its identifier, as record() receives it (1 to 255 bytes).';
COMMENT ON COLUMN metrics_rollup.known_entities.entity_name IS 'Optional display name (not used by the classification).';
COMMENT ON COLUMN metrics_rollup.known_entities.registered_at IS 'When the row was added.';

-- classify() now counts known entities too: same signature, same result
-- for kinds without known entities.
CREATE OR REPLACE FUNCTION metrics_rollup.classify(
    kind text DEFAULT NULL,
    hot_fraction double precision DEFAULT NULL)
RETURNS TABLE(kind text, entity_id text, class text, rank integer, last_seen timestamptz, use_count bigint)
AS 'MODULE_PATHNAME', 'classes_classify'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION metrics_rollup.classify(text, double precision) IS
  'Hot/cold split of the entities of the live table plus the known_entities of the kind (N counts both): ranks them by last_seen desc, then use_count desc, then entity_id asc (byte order), then kind; hot = the first min(floor(hot_fraction x N), entities used at least once), everyone else cold, never-used known entities included. kind NULL ranks all kinds together; hot_fraction NULL uses metrics_rollup.hot_fraction. Reads known_entities with the caller''s rights.';

CREATE FUNCTION metrics_rollup.classify(
    kind text,
    hot_fraction double precision,
    entity_ids text[])
RETURNS TABLE(kind text, entity_id text, class text, rank integer, last_seen timestamptz, use_count bigint)
AS 'MODULE_PATHNAME', 'classes_classify_ids'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION metrics_rollup.classify(text, double precision, text[]) IS
  'classify() of one kind with the set of existing entities given by the caller instead of known_entities: N counts entity_ids plus the kind''s entities of the live table; never-used ones are cold. kind must not be NULL; hot_fraction NULL uses metrics_rollup.hot_fraction.';

CREATE FUNCTION metrics_rollup.classification_info(
    kind text,
    OUT entities integer,
    OUT declared integer,
    OUT eligible integer,
    OUT hot_fraction double precision,
    OUT hot_cap integer,
    OUT hot integer,
    OUT cold integer,
    OUT reason text)
RETURNS record
AS 'MODULE_PATHNAME', 'classes_info'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION metrics_rollup.classification_info(text) IS
  'The figures of classify(kind): entities (N, live plus known_entities), declared (of which in known_entities), eligible (used at least once), hot_fraction (metrics_rollup.hot_fraction), hot_cap = floor(hot_fraction x N), hot = min(hot_cap, eligible), cold, and reason: why fewer than hot_cap are hot (e.g. "only 3 entities were used, below hot_cap = 4"), NULL when hot = hot_cap. kind NULL: all kinds together.';

-- Poll scheduling (src/poll.c): state in shared memory, lost at restart.
CREATE FUNCTION metrics_rollup.should_poll(kind text, entity_id text, poll_type text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'poll_should_poll'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION metrics_rollup.should_poll(text, text, text) IS
  'True when the entity is due for a poll of poll_type: metrics_rollup.hot_poll_interval or cold_poll_interval (by its class, see classify()) has passed since its last poll of that type recorded by mark_polled(). Also true (fail open) when it was never polled or never classified, when its last poll lies more than 60 s in the future, when an argument is NULL or too long, and when the classification fails (a WARNING). Reclassifies the kind when its classes are older than metrics_rollup.class_refresh_interval (one session at a time). Server-wide state in shared memory, lost at restart.';

CREATE FUNCTION metrics_rollup.mark_polled(kind text, entity_id text, poll_type text)
RETURNS void
AS 'MODULE_PATHNAME', 'poll_mark_polled'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION metrics_rollup.mark_polled(text, text, text) IS
  'Records that a poll of poll_type of the entity completed now; call it only after the poll succeeded. The latest completion is kept (one more than 60 s in the future is always replaced). Not transactional. Bad arguments are an ERROR (22004, 22023).';

CREATE FUNCTION metrics_rollup.mark_polled(kind text, entity_id text, poll_type text, completed_at timestamptz)
RETURNS void
AS 'MODULE_PATHNAME', 'poll_mark_polled'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION metrics_rollup.mark_polled(text, text, text, timestamptz) IS
  'mark_polled() of a poll that completed at completed_at (NULL: now), e.g. as timed by the poller.';

CREATE FUNCTION metrics_rollup.poll_state()
RETURNS TABLE(kind text, entity_id text, class text, classified_at timestamptz,
              poll_type text, last_polled_at timestamptz, last_used timestamptz)
AS 'MODULE_PATHNAME', 'poll_state'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION metrics_rollup.poll_state() IS
  'The poll table in shared memory: per entity its class (NULL: unclassified) as of classified_at, and per poll type the last completed poll; an entity without a recorded poll has one row with poll_type NULL. last_used: its last should_poll() or mark_polled() (eviction order).';

CREATE FUNCTION metrics_rollup.poll_info(
    OUT entities integer,
    OUT max_entities integer,
    OUT evictions bigint,
    OUT kinds integer,
    OUT classify_passes bigint,
    OUT classify_failures bigint,
    OUT shared_memory_bytes bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'poll_info'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION metrics_rollup.poll_info() IS
  'The poll table: entities kept, capacity (metrics_rollup.max_poll_entities), evictions, kinds classified, classification passes run and failed since server start, shared memory size.';

-- Privileges as the 1.0 privileges section gives them: nothing for PUBLIC.
REVOKE ALL ON TABLE metrics_rollup.known_entities FROM PUBLIC;
REVOKE ALL ON FUNCTION
    metrics_rollup.classify(text, double precision, text[]),
    metrics_rollup.classification_info(text),
    metrics_rollup.should_poll(text, text, text),
    metrics_rollup.mark_polled(text, text, text),
    metrics_rollup.mark_polled(text, text, text, timestamptz),
    metrics_rollup.poll_state(),
    metrics_rollup.poll_info()
  FROM PUBLIC;

-------------------------------------------------------------------------------
-- Observability: stats_reset(), config, consistent names
-------------------------------------------------------------------------------

-- (observability section)

-------------------------------------------------------------------------------
-- Privileges: pg_read_all_stats reads, grants cover public objects only
-------------------------------------------------------------------------------

-- (privileges section)
