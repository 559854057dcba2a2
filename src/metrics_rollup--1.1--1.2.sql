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

-------------------------------------------------------------------------------
-- Observability: stats_reset(), config, consistent names
-------------------------------------------------------------------------------

-- (observability section)

-------------------------------------------------------------------------------
-- Privileges: pg_read_all_stats reads, grants cover public objects only
-------------------------------------------------------------------------------

-- (privileges section)
