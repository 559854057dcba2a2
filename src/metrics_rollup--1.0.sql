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
-- Ingest: raw table, record(), record_batch(), flush(), stats (src/ingest.c)
-------------------------------------------------------------------------------

-- (ingest section)

