-- Poll scheduling by class: classify() with known entities against a SQL
-- oracle over live_stats and known_entities, classification_info() and its
-- reason, should_poll()/mark_polled() rules (interval by class, boundaries
-- through completed_at, the 60 s future guard, fail open), argument errors,
-- slow_thresholds parsing.  (Concurrency, eviction, restart and the slow
-- LOG lines: test/t/100_poll.pl.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS metrics_rollup;
RESET client_min_messages;
\set VERBOSITY default
-- reclassify on every should_poll() call: each answer below sees the
-- classes of the events recorded just before it
SET metrics_rollup.class_refresh_interval = 0;
SET metrics_rollup.hot_poll_interval = '1h';
SET metrics_rollup.cold_poll_interval = '2h';

-- The oracle: the rule of the issue written in SQL over the same data.
CREATE TEMP TABLE declared (kind text, entity_id text);
CREATE FUNCTION pg_temp.oracle(p_kind text, p_fraction float8)
RETURNS TABLE(entity_id text, class text, rank bigint) LANGUAGE sql AS $$
  WITH u AS (
    SELECT coalesce(l.entity_id, k.entity_id) AS entity_id, l.last_seen,
           coalesce(l.use_count, 0) AS use_count
      FROM (SELECT * FROM metrics_rollup.live_stats WHERE kind = p_kind) l
      FULL JOIN (SELECT * FROM declared WHERE kind = p_kind) k USING (entity_id)),
  r AS (
    SELECT entity_id, last_seen,
           row_number() OVER (ORDER BY last_seen DESC NULLS LAST, use_count DESC,
                                       entity_id COLLATE "C") AS rank,
           count(*) OVER () AS n,
           count(last_seen) OVER () AS eligible
      FROM u)
  SELECT entity_id,
         CASE WHEN rank <= least(floor(p_fraction * n + 1e-9), eligible) THEN 'hot' ELSE 'cold' END,
         rank
    FROM r $$;

-- ---------------------------------------------------------------- ties
-- one record_batch(): one last_seen for all; a and d used twice
SELECT metrics_rollup.record_batch('poll_tie', ARRAY['b', 'a', 'c', 'a', 'd', 'd'],
       ARRAY[0.1, 0.1, 0.1, 0.1, 0.1, 0.1], ARRAY[true, true, true, true, true, true]);
SELECT entity_id, class, rank, use_count FROM metrics_rollup.classify('poll_tie', 0.5) ORDER BY rank;
-- the same as the oracle, and as classify() without known entities did
(SELECT entity_id, class, rank FROM metrics_rollup.classify('poll_tie', 0.5)
 EXCEPT SELECT * FROM pg_temp.oracle('poll_tie', 0.5))
UNION ALL
(SELECT * FROM pg_temp.oracle('poll_tie', 0.5)
 EXCEPT SELECT entity_id, class, rank FROM metrics_rollup.classify('poll_tie', 0.5));
SET metrics_rollup.hot_fraction = 0.5;
SELECT entities, declared, eligible, hot_cap, hot, cold, reason
  FROM metrics_rollup.classification_info('poll_tie');

-- ---------------------------------------------------------------- N = 10, 3 used
-- ten registered servers, three used (in this order: s03, s07, s09)
INSERT INTO metrics_rollup.known_entities (kind, entity_id)
SELECT 'poll_srv', 's' || lpad(i::text, 2, '0') FROM generate_series(1, 10) i;
INSERT INTO declared SELECT kind, entity_id FROM metrics_rollup.known_entities;
SELECT metrics_rollup.record('poll_srv', 's03', 0.1, true);
SELECT pg_sleep(0.01);
SELECT metrics_rollup.record('poll_srv', 's07', 0.1, true);
SELECT pg_sleep(0.01);
SELECT metrics_rollup.record('poll_srv', 's09', 0.1, true);
SET metrics_rollup.hot_fraction = 0.4;
SELECT entities, declared, eligible, hot_fraction, hot_cap, hot, cold, reason
  FROM metrics_rollup.classification_info('poll_srv');
SELECT entity_id, class, rank, use_count, last_seen IS NOT NULL AS used
  FROM metrics_rollup.classify('poll_srv') ORDER BY rank;
(SELECT entity_id, class, rank FROM metrics_rollup.classify('poll_srv', 0.4)
 EXCEPT SELECT * FROM pg_temp.oracle('poll_srv', 0.4))
UNION ALL
(SELECT * FROM pg_temp.oracle('poll_srv', 0.4)
 EXCEPT SELECT entity_id, class, rank FROM metrics_rollup.classify('poll_srv', 0.4));
-- the cap reached: no reason
SET metrics_rollup.hot_fraction = 0.2;
SELECT hot_cap, hot, reason FROM metrics_rollup.classification_info('poll_srv');
-- an entity that sends events without being registered still counts
SELECT metrics_rollup.record('poll_srv', 'zz', 0.1, true);
INSERT INTO declared VALUES ('poll_srv', 'zz');
SELECT entities, declared, eligible, hot_cap, hot FROM metrics_rollup.classification_info('poll_srv');
SELECT count(*) AS differences FROM (
  (SELECT entity_id, class, rank FROM metrics_rollup.classify('poll_srv', 0.35)
   EXCEPT SELECT * FROM pg_temp.oracle('poll_srv', 0.35))
  UNION ALL
  (SELECT * FROM pg_temp.oracle('poll_srv', 0.35)
   EXCEPT SELECT entity_id, class, rank FROM metrics_rollup.classify('poll_srv', 0.35))) d;
-- the caller declares the set instead: N = 3 given + live ones not in it
SELECT entity_id, class, rank FROM metrics_rollup.classify('poll_srv', 0.5, ARRAY['s09', 'q1', 'q1', 'q2'])
 ORDER BY rank;
SELECT * FROM metrics_rollup.classify(NULL, 0.5, ARRAY['x']);
SELECT * FROM metrics_rollup.classify('poll_srv', 0.5, ARRAY['x', NULL]);
SELECT * FROM metrics_rollup.classify('poll_srv', 1.5, ARRAY['x']);
-- known_entities refuses what record() would refuse
\set VERBOSITY terse
INSERT INTO metrics_rollup.known_entities (kind, entity_id) VALUES ('Bad', 'x');
INSERT INTO metrics_rollup.known_entities (kind, entity_id) VALUES ('poll_srv', '');
\set VERBOSITY default

-- ---------------------------------------------------------------- should_poll
-- classes now at 0.4: N = 11, cap 4, 4 used: all four hot
SET metrics_rollup.hot_fraction = 0.4;
SELECT entity_id, class FROM metrics_rollup.classify('poll_srv') WHERE class = 'hot' ORDER BY rank;
-- never polled: poll
SELECT metrics_rollup.should_poll('poll_srv', 's09', 'health') AS never_polled;
SELECT metrics_rollup.mark_polled('poll_srv', 's09', 'health');
SELECT metrics_rollup.should_poll('poll_srv', 's09', 'health') AS hot_just_polled,
       metrics_rollup.should_poll('poll_srv', 's09', 'tools') AS other_type;
-- a cold one (registered, never used) polled now: not due for 2h
SELECT metrics_rollup.mark_polled('poll_srv', 's01', 'health');
SELECT metrics_rollup.should_poll('poll_srv', 's01', 'health') AS cold_just_polled;
SELECT entity_id, class, poll_type, last_polled_at IS NOT NULL AS polled
  FROM metrics_rollup.poll_state()
 WHERE kind = 'poll_srv' AND poll_type IS NOT NULL ORDER BY entity_id, poll_type;

-- interval boundaries: hot 1h, cold 2h since the completed poll
SELECT metrics_rollup.mark_polled('poll_srv', 's09', 'b1', clock_timestamp() - interval '1 hour' + interval '10 s');
SELECT metrics_rollup.mark_polled('poll_srv', 's09', 'b2', clock_timestamp() - interval '1 hour');
SELECT metrics_rollup.mark_polled('poll_srv', 's01', 'b1', clock_timestamp() - interval '2 hours' + interval '10 s');
SELECT metrics_rollup.mark_polled('poll_srv', 's01', 'b2', clock_timestamp() - interval '2 hours');
SELECT metrics_rollup.should_poll('poll_srv', 's09', 'b1') AS hot_10s_before,
       metrics_rollup.should_poll('poll_srv', 's09', 'b2') AS hot_at_interval,
       metrics_rollup.should_poll('poll_srv', 's01', 'b1') AS cold_10s_before,
       metrics_rollup.should_poll('poll_srv', 's01', 'b2') AS cold_at_interval;
-- the interval is read at each call
SET metrics_rollup.cold_poll_interval = '1h';
SELECT metrics_rollup.should_poll('poll_srv', 's01', 'b1') AS cold_shorter_interval;
SET metrics_rollup.cold_poll_interval = '2h';
-- an older completion does not replace a newer one
SELECT metrics_rollup.mark_polled('poll_srv', 's09', 'health', clock_timestamp() - interval '3 hours');
SELECT metrics_rollup.should_poll('poll_srv', 's09', 'health') AS still_recent;

-- the class decides: s01 becomes hot once it is used most recently
SELECT metrics_rollup.should_poll('poll_srv', 's01', 'b1') AS cold_not_due;
SELECT metrics_rollup.record('poll_srv', 's01', 0.1, true);
SELECT metrics_rollup.should_poll('poll_srv', 's01', 'b1') AS hot_now_due;
SELECT class FROM metrics_rollup.poll_state() WHERE kind = 'poll_srv' AND entity_id = 's01' LIMIT 1;

-- a last poll more than 60 s in the future counts as never polled
SELECT metrics_rollup.mark_polled('poll_srv', 's07', 'f61', clock_timestamp() + interval '61 s');
SELECT metrics_rollup.mark_polled('poll_srv', 's07', 'f59', clock_timestamp() + interval '59 s');
SELECT metrics_rollup.should_poll('poll_srv', 's07', 'f61') AS future_61s,
       metrics_rollup.should_poll('poll_srv', 's07', 'f59') AS future_59s;
-- and a real poll replaces it, although older
SELECT metrics_rollup.mark_polled('poll_srv', 's07', 'f61');
SELECT metrics_rollup.should_poll('poll_srv', 's07', 'f61') AS after_real_poll;

-- never classified (neither used nor registered): always polled
SELECT metrics_rollup.mark_polled('poll_other', 'ghost', 'health');
SELECT metrics_rollup.should_poll('poll_other', 'ghost', 'health') AS unclassified;
SELECT class, poll_type FROM metrics_rollup.poll_state() WHERE kind = 'poll_other';

-- anything it cannot answer: true, never an error
SELECT metrics_rollup.should_poll(NULL, 's09', 'health') AS null_kind,
       metrics_rollup.should_poll('poll_srv', NULL, 'health') AS null_id,
       metrics_rollup.should_poll('poll_srv', 's09', NULL) AS null_type,
       metrics_rollup.should_poll('poll_srv', 's09', repeat('x', 32)) AS long_type,
       metrics_rollup.should_poll('poll_srv', '', 'health') AS empty_id;

-- a failing classification fails open, with a WARNING: a role that may
-- call should_poll() but not read known_entities
CREATE ROLE regress_poll_user;
GRANT EXECUTE ON FUNCTION metrics_rollup.should_poll(text, text, text) TO regress_poll_user;
SET ROLE regress_poll_user;
SELECT metrics_rollup.should_poll('poll_srv', 's09', 'health') AS fails_open;
RESET ROLE;
SELECT metrics_rollup.should_poll('poll_srv', 's09', 'health') AS owner_answer;
SELECT classify_passes > 0 AS passes, classify_failures AS failures, kinds >= 2 AS kinds,
       entities >= 12 AS entities, max_entities, evictions
  FROM metrics_rollup.poll_info();
REVOKE ALL ON FUNCTION metrics_rollup.should_poll(text, text, text) FROM regress_poll_user;
DROP ROLE regress_poll_user;

-- mark_polled() checks its arguments
SELECT metrics_rollup.mark_polled(NULL, 'x', 'health');
SELECT metrics_rollup.mark_polled('Bad kind', 'x', 'health');
SELECT metrics_rollup.mark_polled('poll_srv', repeat('x', 256), 'health');
SELECT metrics_rollup.mark_polled('poll_srv', 'x', '');
SELECT metrics_rollup.mark_polled('poll_srv', 'x', 'health', 'infinity');

-- ---------------------------------------------------------------- slow_thresholds
SET metrics_rollup.slow_thresholds = 'tool=500ms, prompt = 1s,resource=0';
SHOW metrics_rollup.slow_thresholds;
SET metrics_rollup.slow_thresholds = 'tool';
SET metrics_rollup.slow_thresholds = 'Tool=1s';
SET metrics_rollup.slow_thresholds = 'tool=2h';
SET metrics_rollup.slow_thresholds = 'tool=fast';
SET metrics_rollup.slow_thresholds = 'tool=1s,tool=2s';
RESET metrics_rollup.slow_thresholds;

DELETE FROM metrics_rollup.known_entities;
RESET metrics_rollup.hot_fraction;
