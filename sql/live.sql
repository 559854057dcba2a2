-- Live statistics: the live_stats view against an exact oracle over the
-- same events, classify() on crafted ties, argument errors, live_info().
-- (Expiry, eviction, the slow-call log and dropped events: test/t/040_live.pl.)
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS metrics_rollup; RESET client_min_messages;
\set VERBOSITY default

-- ---------------------------------------------------------------- oracle
-- x: 1000 values in [0.01, 0.1) (a spread the histogram keeps whole),
-- y: 300 values with zeros and a wider spread, z: one event.
SELECT setseed(0.42);
CREATE TEMP TABLE live_ev AS
SELECT 'x'::text AS entity_id, 0.01 + 0.09 * random() AS rt, random() < 0.1 AS ok
  FROM generate_series(1, 1000)
UNION ALL
SELECT 'y', CASE WHEN i % 10 = 0 THEN 0 ELSE 0.2 + random() END, i % 7 <> 0
  FROM generate_series(1, 300) i
UNION ALL
SELECT 'z', 0.25, false;

SELECT metrics_rollup.record_batch('live_test', array_agg(entity_id), array_agg(rt), array_agg(ok))
  FROM live_ev WHERE entity_id <> 'z';
SELECT metrics_rollup.record('live_test', 'z', 0.25, false, entity_name => 'Zed');

-- counts, failures, min, max exact; avg to rounding; percentiles within
-- the 2% relative accuracy of percentile_disc over the same events
WITH o AS (
  SELECT entity_id, count(*) AS n, count(*) FILTER (WHERE NOT ok) AS f,
         min(rt) AS mn, max(rt) AS mx, avg(rt) AS av,
         percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY rt) AS p
    FROM live_ev GROUP BY entity_id)
SELECT o.entity_id, l.entity_name, l.count, l.count = o.n AS count_exact,
       l.failures = o.f AS failures_exact,
       l.min_response_time = o.mn AS min_exact,
       l.max_response_time = o.mx AS max_exact,
       abs(l.avg_response_time - o.av) <= 1e-9 * o.av AS avg_ok,
       abs(l.p50_response_time - o.p[1]) <= 0.02 * o.p[1] AS p50_ok,
       abs(l.p95_response_time - o.p[2]) <= 0.02 * o.p[2] AS p95_ok,
       abs(l.p99_response_time - o.p[3]) <= 0.02 * o.p[3] AS p99_ok,
       l.use_count = o.n AS use_count_ok,
       l.last_seen <= clock_timestamp() AND l.last_seen > now() - interval '1 minute' AS last_seen_ok
  FROM o JOIN metrics_rollup.live_stats l
    ON l.kind = 'live_test' AND l.entity_id = o.entity_id
 ORDER BY o.entity_id;

-- the percentiles are estimates, not copies of min or max
SELECT p50_response_time > min_response_time AND p50_response_time < max_response_time AS p50_inside
  FROM metrics_rollup.live_stats WHERE kind = 'live_test' AND entity_id = 'x';

-- w: 2000 values over four decades, more than one slice's histogram
-- spans, so its lowest buckets are folded together: p95 and p99 stay
-- within 2%, the median does not (it is only clamped to [min, max])
CREATE TEMP TABLE live_wide AS
SELECT power(10, -4 + 4 * random()) AS rt FROM generate_series(1, 2000);
SELECT metrics_rollup.record_batch('live_test', array_fill('w'::text, ARRAY[count(*)::int]),
       array_agg(rt), array_fill(true, ARRAY[count(*)::int]))
  FROM live_wide;
WITH o AS (
  SELECT count(*) AS n, min(rt) AS mn, max(rt) AS mx,
         percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY rt) AS p
    FROM live_wide)
SELECT l.count = o.n AS count_exact,
       l.min_response_time = o.mn AS min_exact,
       l.max_response_time = o.mx AS max_exact,
       abs(l.p95_response_time - o.p[2]) <= 0.02 * o.p[2] AS p95_ok,
       abs(l.p99_response_time - o.p[3]) <= 0.02 * o.p[3] AS p99_ok,
       l.p50_response_time > 2 * o.p[1] AS p50_folded_up
  FROM o, metrics_rollup.live_stats l
 WHERE l.kind = 'live_test' AND l.entity_id = 'w';

-- a later event without a name keeps the latest name; a new name replaces it
SELECT metrics_rollup.record('live_test', 'z', 0.5, true);
SELECT entity_name, count, failures, max_response_time FROM metrics_rollup.live_stats
 WHERE kind = 'live_test' AND entity_id = 'z';
SELECT metrics_rollup.record('live_test', 'z', 0.5, true, entity_name => 'Zed 2');
SELECT entity_name, count, use_count FROM metrics_rollup.live_stats
 WHERE kind = 'live_test' AND entity_id = 'z';

-- rejected events are not counted
SELECT metrics_rollup.record_batch('live_test', ARRAY['z', 'z'], ARRAY[0.1, -1], ARRAY[true, true]);
SELECT count FROM metrics_rollup.live_stats WHERE kind = 'live_test' AND entity_id = 'z';

-- ---------------------------------------------------------------- classify
-- one batch: every entity gets the same last_seen; use counts c=3, a=2,
-- d=2, then B, _x, b once each (byte order: 'B' < '_x' < 'b')
SELECT metrics_rollup.record_batch('live_cls',
    ARRAY['b', 'a', 'B', 'c', 'a', 'c', '_x', 'c', 'd', 'd'],
    array_fill(0.1::float8, ARRAY[10]), array_fill(true, ARRAY[10]));
SELECT count(DISTINCT last_seen) AS distinct_last_seen FROM metrics_rollup.live_stats WHERE kind = 'live_cls';
SELECT entity_id, class, rank, use_count FROM metrics_rollup.classify('live_cls', 0.5) ORDER BY rank;
-- same answer every call
SELECT (SELECT array_agg(entity_id || ':' || class ORDER BY rank) FROM metrics_rollup.classify('live_cls', 0.5))
     = (SELECT array_agg(entity_id || ':' || class ORDER BY rank) FROM metrics_rollup.classify('live_cls', 0.5))
       AS deterministic;
-- hot = floor(fraction x N): 0.34 x 6 = 2.04 -> 2; 0 -> none; 1 -> all
SELECT f, count(*) FILTER (WHERE class = 'hot') AS hot, count(*) FILTER (WHERE class = 'cold') AS cold
  FROM unnest(ARRAY[0, 0.34, 0.5, 0.99, 1]) f, metrics_rollup.classify('live_cls', f)
 GROUP BY f ORDER BY f;
-- a later event makes its entity the most recent: rank 1
SELECT metrics_rollup.record('live_cls', 'b', 0.1, true);
SELECT entity_id, class, rank, use_count FROM metrics_rollup.classify('live_cls', 0.5) ORDER BY rank;
-- NULL hot_fraction: the setting
SET metrics_rollup.hot_fraction = 0.5;
SELECT count(*) FILTER (WHERE class = 'hot') AS hot FROM metrics_rollup.classify('live_cls');
RESET metrics_rollup.hot_fraction;
SELECT count(*) FILTER (WHERE class = 'hot') AS hot FROM metrics_rollup.classify('live_cls');
-- NULL kind: every tracked entity once, ranked together
SELECT (SELECT count(*) FROM metrics_rollup.classify()) = (SELECT count(*) FROM metrics_rollup.live_stats) AS all_entities,
       (SELECT count(DISTINCT rank) = count(*) AND min(rank) = 1 AND max(rank) = count(*) FROM metrics_rollup.classify()) AS ranks_1_to_n,
       (SELECT count(*) FILTER (WHERE class = 'hot') = floor(0.2 * count(*)) FROM metrics_rollup.classify()) AS hot_is_floor;
-- unknown kind: no rows
SELECT count(*) FROM metrics_rollup.classify('no_such_kind');

-- hot_fraction outside [0, 1]: 22023 with a HINT
SELECT * FROM metrics_rollup.classify(NULL, 1.5);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_rollup.classify('live_cls', -0.1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_rollup.classify('live_cls', 'NaN');
\echo :LAST_ERROR_SQLSTATE

-- ---------------------------------------------------------------- live_info
SELECT entities = (SELECT count(*) FROM metrics_rollup.live_stats) AS entities_ok,
       max_entities = current_setting('metrics_rollup.max_live_entities')::int AS max_ok,
       evictions, slow_calls_logged, shared_memory_bytes > 0 AS has_memory
  FROM metrics_rollup.live_info();

-- leave the shared database empty for the tests after this one: the
-- worker would otherwise flush these events while they run
SELECT metrics_rollup.flush() >= 0 AS flushed;
TRUNCATE metrics_rollup.raw_metrics, metrics_rollup.hourly_metrics, metrics_rollup.rollup_dirty;
