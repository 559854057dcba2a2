-- test/upgrade_catalog.sql: one line per property of every object of the
-- metrics_rollup extension, for test/t/080_upgrade.pl (fresh install vs
-- ALTER EXTENSION UPDATE).  Sorted, free of OIDs and attnums.
WITH ext AS (
    SELECT oid, extconfig, extcondition FROM pg_extension WHERE extname = 'metrics_rollup'
), member AS (
    SELECT d.classid, d.objid
      FROM pg_depend d, ext
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), rel AS (
    SELECT c.* FROM pg_class c JOIN member m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
), lines AS (
    -- every member, its comment and its privileges
    SELECT pg_describe_object(m.classid, m.objid, 0) AS object,
           'comment ' || coalesce(obj_description(m.objid, cl.relname::name), '<none>') AS line
      FROM member m JOIN pg_class cl ON cl.oid = m.classid
    UNION ALL
    SELECT pg_describe_object(m.classid, m.objid, 0),
           'initial privileges ' || coalesce(ip.initprivs::text, '<none>')
      FROM member m
      LEFT JOIN pg_init_privs ip ON ip.classoid = m.classid AND ip.objoid = m.objid AND ip.objsubid = 0
    -- functions: the whole definition (arguments, volatility, SET, SECURITY)
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure::text,
           CASE WHEN p.prokind = 'a'
                THEN 'aggregate ' || concat_ws(' ', a.aggtransfn, a.aggfinalfn, a.aggcombinefn,
                                               a.aggserialfn, a.aggdeserialfn, a.aggtranstype::regtype,
                                               a.aggfinalextra, a.aggfinalmodify, a.agginitval,
                                               p.proparallel)
                ELSE pg_get_functiondef(p.oid) END
      FROM pg_proc p JOIN member m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
      LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure::text, 'acl ' || coalesce(p.proacl::text, '<default>')
      FROM pg_proc p JOIN member m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
    -- types
    UNION ALL
    SELECT 'type ' || format_type(t.oid, NULL),
           concat_ws(' ', 'type', t.typtype, t.typlen, t.typbyval, t.typalign, t.typstorage,
                     t.typinput::regproc, t.typoutput::regproc, t.typreceive, t.typsend,
                     coalesce(t.typacl::text, '<default>'))
      FROM pg_type t JOIN member m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
    -- relations: kind, options, privileges, view text
    UNION ALL
    SELECT 'relation ' || c.relname,
           concat_ws(' ', 'relation', c.relkind, c.relpersistence, coalesce(c.reloptions::text, ''),
                     coalesce(c.relacl::text, '<default>'),
                     CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END)
      FROM rel c
    -- columns in order (rank, not attnum: a dropped column leaves a gap)
    UNION ALL
    SELECT 'relation ' || c.relname,
           format('column %s %s %s %s notnull=%s default=%s generated=%s identity=%s acl=%s comment=%s',
                  row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum),
                  a.attname, format_type(a.atttypid, a.atttypmod),
                  coalesce(nullif(a.attcollation, 0)::regcollation::text, ''),
                  a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid), a.attgenerated, a.attidentity,
                  coalesce(a.attacl::text, '<default>'), coalesce(col_description(c.oid, a.attnum), '<none>'))
      FROM (SELECT oid, relname FROM rel
            UNION ALL
            SELECT t.typrelid, 'type ' || t.typname FROM pg_type t
              JOIN member m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
             WHERE t.typrelid <> 0) c
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    -- constraints, indexes and triggers of the extension's tables
    UNION ALL
    SELECT 'relation ' || c.relname, 'constraint ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
      FROM rel c JOIN pg_constraint co ON co.conrelid = c.oid
    UNION ALL
    SELECT 'relation ' || c.relname,
           'index ' || pg_get_indexdef(i.indexrelid) || ' comment=' ||
           coalesce(obj_description(i.indexrelid, 'pg_class'), '<none>')
      FROM rel c JOIN pg_index i ON i.indrelid = c.oid
    UNION ALL
    SELECT 'relation ' || c.relname,
           'trigger ' || pg_get_triggerdef(tg.oid) || ' enabled=' || tg.tgenabled::text || ' comment=' ||
           coalesce(obj_description(tg.oid, 'pg_trigger'), '<none>')
      FROM rel c JOIN pg_trigger tg ON tg.tgrelid = c.oid AND NOT tg.tgisinternal
    UNION ALL
    SELECT 'relation ' || s.seqrelid::regclass::text,
           concat_ws(' ', 'sequence', s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmax,
                     s.seqmin, s.seqcache, s.seqcycle)
      FROM pg_sequence s JOIN rel c ON c.oid = s.seqrelid
    -- what pg_dump dumps of the extension's tables
    UNION ALL
    SELECT 'extension', 'dumps ' || x.rel::regclass::text || ' ' || coalesce(x.cond, '')
      FROM ext, unnest(ext.extconfig, ext.extcondition) AS x(rel, cond)
)
SELECT replace(object || ': ' || line, E'\n', '\n') FROM lines ORDER BY 1;
