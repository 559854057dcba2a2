/* metrics_rollup--1.0.sql: objects of the extension, by concern. */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION metrics_rollup" to load this file. \quit

-- Every object lives in schema metrics_rollup (created by CREATE EXTENSION
-- from the control file).  Bodies schema-qualify what they use, so a
-- caller's search_path cannot redirect them.

-------------------------------------------------------------------------------
-- Settings
-------------------------------------------------------------------------------

CREATE VIEW metrics_rollup.config AS
SELECT s.name::text AS name,
       s.setting AS value,
       s.boot_val AS default_value,
       s.unit,
       s.min_val,
       s.max_val,
       CASE WHEN s.vartype = 'enum' THEN array_to_string(s.enumvals, ', ') END AS allowed_values,
       s.context = 'postmaster' AS requires_restart,
       s.short_desc AS description
  FROM pg_catalog.pg_settings s
 WHERE s.name LIKE 'metrics\_rollup.%'
 ORDER BY s.name;

COMMENT ON VIEW metrics_rollup.config IS
  'Every metrics_rollup.* setting: value, default, unit, range, whether it needs a restart, description.';

-------------------------------------------------------------------------------
-- Percentile sketch (src/sketch.c)
-------------------------------------------------------------------------------

-- (sketch section)

-------------------------------------------------------------------------------
-- Raw events and ingest: record(), record_batch(), flush(), stats (src/ingest.c)
-------------------------------------------------------------------------------

CREATE TABLE metrics_rollup.raw_metrics (
    kind          text             NOT NULL,
    entity_id     text             NOT NULL,
    entity_name   text,
    recorded_at   timestamptz      NOT NULL,
    response_time double precision NOT NULL,
    success       boolean          NOT NULL,
    error_message text
);
CREATE INDEX raw_metrics_entity_time_idx
    ON metrics_rollup.raw_metrics (kind, entity_id, recorded_at);

COMMENT ON TABLE metrics_rollup.raw_metrics IS
  'One row per metric event: written by the background worker from the ingest buffer, or directly by applications (INSERT/COPY).';
COMMENT ON COLUMN metrics_rollup.raw_metrics.kind IS 'What was called: tool, resource, prompt, server, a2a_agent, ...';
COMMENT ON COLUMN metrics_rollup.raw_metrics.entity_id IS 'Which one was called (1..255 bytes).';
COMMENT ON COLUMN metrics_rollup.raw_metrics.entity_name IS 'Optional display name at the time of the call.';
COMMENT ON COLUMN metrics_rollup.raw_metrics.recorded_at IS 'When the call happened.';
COMMENT ON COLUMN metrics_rollup.raw_metrics.response_time IS 'Response time in seconds.';
COMMENT ON COLUMN metrics_rollup.raw_metrics.success IS 'Whether the call succeeded.';
COMMENT ON COLUMN metrics_rollup.raw_metrics.error_message IS 'Error text of a failed call, cut to metrics_rollup.max_error_length bytes.';

-- (ingest section)

-------------------------------------------------------------------------------
-- Hourly rollup: hourly_metrics, dirty tracking, run_rollup() (src/rollup.c)
-------------------------------------------------------------------------------

-- (rollup section)

