-- Every object of the extension that users touch explains itself: functions,
-- aggregates, tables, views, types and the columns of tables and views carry
-- a COMMENT.  Members are found through pg_depend (deptype 'e'), so an object
-- added later without a comment shows up here.
SET client_min_messages = warning;
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS metrics_rollup; RESET client_min_messages;
RESET client_min_messages;

CREATE TEMP VIEW ext_members AS
SELECT d.classid, d.objid
  FROM pg_catalog.pg_depend d
  JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
 WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass
   AND d.deptype = 'e'
   AND e.extname = 'metrics_rollup';

-- functions, aggregates, types, tables and views (not indexes, sequences).
-- PostgreSQL 17 also records implicit types as members (15 does not): the
-- row type of a table or view and every array type; they are described by
-- what they belong to, so they are left out.
CREATE TEMP VIEW ext_objects AS
SELECT m.classid, m.objid,
       pg_catalog.pg_describe_object(m.classid, m.objid, 0) AS object,
       pg_catalog.obj_description(m.objid, m.classid::regclass::name) AS description
  FROM ext_members m
  LEFT JOIN pg_catalog.pg_class c
    ON m.classid = 'pg_catalog.pg_class'::regclass AND c.oid = m.objid
  LEFT JOIN pg_catalog.pg_type t
    ON m.classid = 'pg_catalog.pg_type'::regclass AND t.oid = m.objid
 WHERE m.classid = 'pg_catalog.pg_proc'::regclass
    OR (t.oid IS NOT NULL
        AND NOT EXISTS (SELECT FROM pg_catalog.pg_class r
                         WHERE r.oid = t.typrelid AND r.relkind <> 'c')
        AND NOT EXISTS (SELECT FROM pg_catalog.pg_type e
                         WHERE e.oid = t.typelem AND e.typarray = t.oid))
    OR c.relkind IN ('r', 'p', 'v', 'm', 'f');

-- columns of those tables and views, and the fields of composite types
CREATE TEMP VIEW ext_columns AS
SELECT pg_catalog.format('%s.%s', a.attrelid::regclass, a.attname) AS object,
       pg_catalog.col_description(a.attrelid, a.attnum) AS description
  FROM ext_objects o
  LEFT JOIN pg_catalog.pg_type t
    ON o.classid = 'pg_catalog.pg_type'::regclass AND t.oid = o.objid
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid = CASE WHEN o.classid = 'pg_catalog.pg_class'::regclass THEN o.objid
                         ELSE t.typrelid END
 WHERE a.attnum > 0 AND NOT a.attisdropped;

-- the check looks at something: each kind of object is there
SELECT count(*) FILTER (WHERE classid = 'pg_catalog.pg_proc'::regclass) >= 30 AS has_functions,
       count(*) FILTER (WHERE classid = 'pg_catalog.pg_type'::regclass) >= 2 AS has_types,
       count(*) FILTER (WHERE classid = 'pg_catalog.pg_class'::regclass) >= 5 AS has_relations
  FROM ext_objects;
SELECT count(*) >= 60 AS has_columns FROM ext_columns;
SELECT count(*) >= 1 AS has_aggregates
  FROM ext_objects o JOIN pg_catalog.pg_aggregate a ON a.aggfnoid = o.objid
 WHERE o.classid = 'pg_catalog.pg_proc'::regclass;

-- objects without a comment (or with an empty one): none
SELECT object FROM ext_objects
 WHERE coalesce(pg_catalog.btrim(description), '') = ''
 ORDER BY object;

-- columns without a comment: none
SELECT object FROM ext_columns
 WHERE coalesce(pg_catalog.btrim(description), '') = ''
 ORDER BY object;

-- the tables whose rows pg_dump must carry are marked as configuration
-- tables of the extension (see the dump section of the script)
SELECT c::regclass AS dumped_table, x.cond AS filter
  FROM pg_catalog.pg_extension e,
       unnest(e.extconfig, e.extcondition) AS x(c, cond)
 WHERE e.extname = 'metrics_rollup'
 ORDER BY c::regclass::text;

DROP VIEW ext_columns, ext_objects, ext_members;
