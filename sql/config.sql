-- The extension installs, its settings are all visible through the config
-- view, and bad values are rejected with the range in the message.
SET client_min_messages = warning;
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS metrics_rollup; RESET client_min_messages;
RESET client_min_messages;
SELECT count(*) AS settings FROM metrics_rollup.config;
SELECT name, value, default_value, unit, min_val, max_val, allowed_values, requires_restart
  FROM metrics_rollup.config ORDER BY name;
-- every setting explains itself
SELECT name FROM metrics_rollup.config WHERE coalesce(description, '') = '';
-- out of range: the message names the range
SET metrics_rollup.sketch_relative_accuracy = 0.5;
SET metrics_rollup.hot_fraction = -1;
-- restart-only settings cannot change in a session
SET metrics_rollup.buffer_size = '2MB';
-- a name under the reserved prefix that is no setting is refused
SET metrics_rollup.no_such_setting = 1;
SELECT count(*) FROM metrics_rollup.raw_metrics;
-- pending_restart and source as pg_settings has them; display_value as SHOW
-- prints it (with its unit)
SELECT name, requires_restart, pending_restart, source, display_value
  FROM metrics_rollup.config
 WHERE name IN ('metrics_rollup.buffer_size', 'metrics_rollup.flush_interval',
                'metrics_rollup.database', 'metrics_rollup.rollup_enabled')
 ORDER BY name;
