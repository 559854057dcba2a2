/* metrics_rollup--1.0--1.1.sql: ALTER EXTENSION metrics_rollup UPDATE TO '1.1'. */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION metrics_rollup UPDATE TO '1.1'" to load this file. \quit

-- Each change of metrics_rollup--1.1.sql, applied to a 1.0 installation with
-- its data in place.  test/t/080_upgrade.pl compares the result with a fresh
-- 1.1 install, object by object (definitions, comments, privileges, columns
-- in order), so a change made in one file and not the other fails the tests.
