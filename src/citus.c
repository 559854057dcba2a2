/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  metrics_rollup on a Citus cluster: distribute(), undistribute(), the
 *	  node's role, and the flush into a distributed raw_metrics.
 *
 * Owns:
 *   - distribute(shard_count): on the coordinator, raw_metrics,
 *     hourly_metrics, daily_metrics and rollup_dirty become distributed
 *     tables by entity_id, co-located (so a group's raw rows, its dirty
 *     marks and its hourly row live in one shard group, on one node); every
 *     other table stays local to each node (none is ever joined with a
 *     distributed one).  The statement triggers of raw_metrics and
 *     hourly_metrics cannot run on shards (their transition tables are not
 *     visible to the queries Citus routes), so they are saved and dropped;
 *     raw_metrics gets the shard triggers instead (citus_raw_changed(),
 *     1.2 script: marks and the DELETE archive written into the co-located
 *     shards, for every writer).  An event trigger drops the distributed
 *     tables (so Citus removes their shards) before DROP EXTENSION, which
 *     otherwise fails on the workers' shards.
 *   - undistribute(): the inverse, in place: the same tables (members of
 *     the extension depend on them, so Citus's undistribute_table, which
 *     recreates a table, refuses them) get their rows back from the shards,
 *     lose their Citus metadata, and get the saved triggers back.
 *   - citus_role(): standalone, coordinator or worker (pg_dist_local_group).
 *   - citus_raw_distributed(): a backend-local answer, recomputed when
 *     raw_metrics' relcache entry or OID changes (Citus invalidates it when
 *     it distributes or undistributes a table).
 *   - citus_flush_range(): the flush's INSERT ... SELECT FROM unnest($n)
 *     that Citus routes to the shards; the shard trigger writes each
 *     shard's marks in the same statement, into the co-located shard of
 *     rollup_dirty, so a rollup that deleted a mark sees the rows.
 *   - the rollup of an hour and the cleanup's batches on distributed
 *     tables (called by rollup.c and cleanup.c), and the daily level's
 *     invalidation there, which the dropped daily_hourly_* triggers do on
 *     one node: the rollup unmarks and queues the (kind, UTC day)s of the
 *     hourly rows it inserted or changed (its upsert skips rows whose
 *     figures stay the same), the hourly retention those of the rows it
 *     deletes, in the same transaction (daily_queue and daily_built are
 *     local tables of the coordinator, written by statements of their
 *     own).  Direct writes into the distributed hourly_metrics are not
 *     tracked.
 *
 * Must never: write into a distributed table other than through a statement
 * Citus plans (a direct heap or COPY write lands in the coordinator's shell
 * table, which Citus never reads); build SQL from values; run without
 * Citus's own catalog being there (every lookup checks first).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "buffer.h"
#include "catalog.h"
#include "citus.h"
#include "daily.h"
#include "security.h"

PG_FUNCTION_INFO_V1(citus_distribute);
PG_FUNCTION_INFO_V1(citus_undistribute);
PG_FUNCTION_INFO_V1(citus_before_drop_extension);
PG_FUNCTION_INFO_V1(citus_is_distributed_sql);

/* The distributed tables, raw_metrics first (the others co-locate with it). */
static const char *const citus_tables[] = {
	"metrics_rollup.raw_metrics",
	"metrics_rollup.hourly_metrics",
	"metrics_rollup.daily_metrics",
	"metrics_rollup.rollup_dirty",
};

#define CITUS_NTABLES ((int) lengthof(citus_tables))

/*
 * The triggers distribute() drops (those that exist: idempotent), each saved
 * first in citus_saved_triggers (definition and comment) for undistribute().
 */
static const char *const citus_drop_triggers_sql =
"DO $d$ DECLARE t record; BEGIN"
"  FOR t IN SELECT g.oid, g.tgname, g.tgrelid::pg_catalog.regclass AS rel FROM pg_catalog.pg_trigger g"
"            WHERE g.tgrelid IN ('metrics_rollup.raw_metrics'::pg_catalog.regclass,"
"                                'metrics_rollup.hourly_metrics'::pg_catalog.regclass)"
"              AND g.tgname IN ('rollup_mark_inserted', 'rollup_mark_updated',"
"                               'rollup_archive_deleted', 'daily_hourly_inserted',"
"                               'daily_hourly_deleted', 'daily_hourly_updated',"
"                               'daily_hourly_truncated')"
"  LOOP"
"    INSERT INTO metrics_rollup.citus_saved_triggers"
"           (table_name, trigger_name, definition, description)"
"    VALUES (t.rel::pg_catalog.text, t.tgname, pg_catalog.pg_get_triggerdef(t.oid),"
"            pg_catalog.obj_description(t.oid, 'pg_trigger'))"
"    ON CONFLICT (table_name, trigger_name) DO UPDATE SET"
"           definition = excluded.definition, description = excluded.description;"
"    EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', t.tgname, t.rel);"
"  END LOOP;"
"END $d$";

/*
 * The shard triggers (citus_raw_changed(), 1.2 script): created on the
 * distributed raw_metrics, so Citus creates them on every shard (with
 * citus.enable_unsafe_triggers on: citus_set_unsafe_triggers()).
 */
static const char *const citus_create_shard_triggers_sql =
"DO $t$ DECLARE t record; BEGIN"
"  FOR t IN SELECT * FROM (VALUES"
"      ('citus_raw_inserted', 'INSERT', 'NEW TABLE AS new_rows',"
"       'Dirty marks of the inserted rows, written on their shards (citus_raw_changed()).'),"
"      ('citus_raw_updated', 'UPDATE', 'OLD TABLE AS old_rows NEW TABLE AS new_rows',"
"       'Forced dirty marks of the updated rows, written on their shards (citus_raw_changed()).'),"
"      ('citus_raw_deleted', 'DELETE', 'OLD TABLE AS old_rows',"
"       'The deleted rows archived into their hourly rows, with dirty marks, on their shards (citus_raw_changed()).'))"
"      v(name, event, transition, description)"
"  LOOP"
"    IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger"
"                    WHERE tgrelid = 'metrics_rollup.raw_metrics'::pg_catalog.regclass"
"                      AND tgname = t.name) THEN"
"      EXECUTE pg_catalog.format('CREATE TRIGGER %I AFTER %s ON metrics_rollup.raw_metrics"
"                                 REFERENCING %s FOR EACH STATEMENT"
"                                 EXECUTE FUNCTION metrics_rollup.citus_raw_changed()',"
"                                t.name, t.event, t.transition);"
"      EXECUTE pg_catalog.format('COMMENT ON TRIGGER %I ON metrics_rollup.raw_metrics IS %L',"
"                                t.name, t.description);"
"    END IF;"
"  END LOOP;"
"END $t$";

/* The event trigger that removes the shards before DROP EXTENSION. */
static const char *const citus_create_event_trigger_sql =
"DO $e$ BEGIN"
"  IF NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger"
"                  WHERE evtname = 'metrics_rollup_citus_drop') THEN"
"    CREATE EVENT TRIGGER metrics_rollup_citus_drop ON ddl_command_start"
"      WHEN TAG IN ('DROP EXTENSION')"
"      EXECUTE FUNCTION metrics_rollup.citus_before_drop_extension();"
"    ALTER EXTENSION metrics_rollup ADD EVENT TRIGGER metrics_rollup_citus_drop;"
"  END IF;"
"END $e$";

/*
 * Before DROP EXTENSION: the distributed tables, and the members of the
 * extension that depend on them (a view, a SQL function), leave the
 * extension and are dropped, so that Citus's own drop trigger removes the
 * shards and the metadata everywhere; DROP EXTENSION then drops the rest.
 */
static const char *const citus_drop_distributed_sql =
"DO $d$ DECLARE o record; t record; BEGIN"
"  FOR o IN"
"    WITH RECURSIVE deps(classid, objid) AS ("
"      SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid, p.logicalrelid::pg_catalog.oid"
"        FROM pg_catalog.pg_dist_partition p"
"        JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid"
"       WHERE c.relnamespace = 'metrics_rollup'::pg_catalog.regnamespace"
"      UNION"
"      SELECT CASE WHEN d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
"                  THEN 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid ELSE d.classid END,"
"             CASE WHEN d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
"                  THEN (SELECT r.ev_class FROM pg_catalog.pg_rewrite r WHERE r.oid = d.objid)"
"                  ELSE d.objid END"
"        FROM pg_catalog.pg_depend d JOIN deps ON d.refclassid = deps.classid AND d.refobjid = deps.objid"
"       WHERE d.deptype IN ('n', 'a'))"
"    SELECT DISTINCT i.type, i.identity"
"      FROM deps, LATERAL pg_catalog.pg_identify_object(deps.classid, deps.objid, 0) i"
"     WHERE EXISTS (SELECT FROM pg_catalog.pg_depend e"
"                    WHERE e.classid = deps.classid AND e.objid = deps.objid AND e.deptype = 'e')"
"  LOOP"
"    EXECUTE pg_catalog.format('ALTER EXTENSION metrics_rollup DROP %s %s', o.type, o.identity);"
"  END LOOP;"
"  FOR t IN SELECT p.logicalrelid FROM pg_catalog.pg_dist_partition p"
"             JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid"
"            WHERE c.relnamespace = 'metrics_rollup'::pg_catalog.regnamespace"
"  LOOP"
"    EXECUTE pg_catalog.format('DROP TABLE IF EXISTS %s CASCADE', t.logicalrelid);"
"  END LOOP;"
"END $d$";

/*
 * undistribute(), in one transaction (see citus_undistribute()).  Each
 * distributed table of ours: its rows are read into a temporary table (Citus
 * brings them from the shards), its shards and metadata removed the way
 * Citus's own DROP TABLE trigger does it (on workers Citus leaves a table
 * owned by an extension in place and removes only the metadata), and the
 * rows written back into the table, now local: the same table, so every
 * member of the extension that depends on it is untouched (the shard
 * triggers go first, everywhere).  Then Citus's
 * truncate triggers go, ours come back from citus_saved_triggers, every
 * group-hour with raw rows gets a dirty mark (the next rollup re-checks
 * them all, whatever happened to the tables meanwhile), and the DROP
 * EXTENSION event trigger goes.
 */
static const char *const citus_undistribute_sql =
"DO $u$ DECLARE t record; g record; cols text; BEGIN"
"  LOCK TABLE metrics_rollup.raw_metrics, metrics_rollup.hourly_metrics,"
"             metrics_rollup.daily_metrics, metrics_rollup.rollup_dirty"
"    IN ACCESS EXCLUSIVE MODE;"
"  DROP TRIGGER IF EXISTS citus_raw_inserted ON metrics_rollup.raw_metrics;"
"  DROP TRIGGER IF EXISTS citus_raw_updated ON metrics_rollup.raw_metrics;"
"  DROP TRIGGER IF EXISTS citus_raw_deleted ON metrics_rollup.raw_metrics;"
"  FOR t IN SELECT p.logicalrelid AS rel, c.relname"
"             FROM pg_catalog.pg_dist_partition p"
"             JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid"
"            WHERE c.relnamespace = 'metrics_rollup'::pg_catalog.regnamespace"
"            ORDER BY c.relname"
"  LOOP"
"    SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)"
"      INTO cols FROM pg_catalog.pg_attribute a"
"     WHERE a.attrelid = t.rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';"
"    EXECUTE pg_catalog.format('CREATE TEMP TABLE mr_undistribute ON COMMIT DROP AS SELECT %s FROM %s',"
"                              cols, t.rel);"
"    PERFORM pg_catalog.master_remove_distributed_table_metadata_from_workers(t.rel, 'metrics_rollup', t.relname);"
"    PERFORM pg_catalog.citus_drop_all_shards(t.rel, 'metrics_rollup', t.relname, false);"
"    PERFORM pg_catalog.master_remove_partition_metadata(t.rel, 'metrics_rollup', t.relname);"
"    EXECUTE pg_catalog.format('INSERT INTO %s (%s) SELECT %s FROM mr_undistribute',"
"                              t.rel, cols, cols);"
"    DROP TABLE mr_undistribute;"
"  END LOOP;"
"  FOR g IN SELECT r.tgname, r.tgrelid::pg_catalog.regclass AS rel FROM pg_catalog.pg_trigger r"
"            WHERE r.tgrelid IN ('metrics_rollup.raw_metrics'::pg_catalog.regclass,"
"                                'metrics_rollup.hourly_metrics'::pg_catalog.regclass,"
"                                'metrics_rollup.daily_metrics'::pg_catalog.regclass,"
"                                'metrics_rollup.rollup_dirty'::pg_catalog.regclass)"
"              AND r.tgfoid = 'pg_catalog.citus_truncate_trigger'::pg_catalog.regproc"
"  LOOP"
"    EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', g.tgname, g.rel);"
"  END LOOP;"
"  FOR g IN SELECT * FROM metrics_rollup.citus_saved_triggers ORDER BY table_name, trigger_name"
"  LOOP"
"    EXECUTE g.definition;"
"    IF g.description IS NOT NULL THEN"
"      EXECUTE pg_catalog.format('COMMENT ON TRIGGER %I ON %s IS %L',"
"                                g.trigger_name, g.table_name, g.description);"
"    END IF;"
"  END LOOP;"
"  DELETE FROM metrics_rollup.citus_saved_triggers;"
"  INSERT INTO metrics_rollup.rollup_dirty (kind, entity_id, hour_start)"
"  SELECT DISTINCT r.kind, r.entity_id, pg_catalog.date_trunc('hour', r.recorded_at, 'UTC')"
"    FROM metrics_rollup.raw_metrics r;"
"  IF EXISTS (SELECT FROM pg_catalog.pg_event_trigger"
"              WHERE evtname = 'metrics_rollup_citus_drop') THEN"
"    ALTER EXTENSION metrics_rollup DROP EVENT TRIGGER metrics_rollup_citus_drop;"
"    DROP EVENT TRIGGER metrics_rollup_citus_drop;"
"  END IF;"
"END $u$";

/* raw_metrics' distribution as last looked up; -1: look again */
static int	citus_raw_state = -1;
static Oid	citus_raw_state_relid = InvalidOid;
static bool citus_callback_registered = false;

static void
citus_relcache_callback(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == citus_raw_state_relid)
		citus_raw_state = -1;
}

/* The OID of a table of Citus's catalog in pg_catalog, or InvalidOid. */
static Oid
citus_catalog_relid(const char *name)
{
	return get_relname_relid(name, PG_CATALOG_NAMESPACE);
}

CitusRole
citus_role(void)
{
	Oid			relid = citus_catalog_relid("pg_dist_local_group");
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tuple;
	CitusRole	role = CITUS_ROLE_NONE;

	if (!OidIsValid(relid))
		return CITUS_ROLE_NONE;
	rel = table_open(relid, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		group = heap_getattr(tuple, 1, RelationGetDescr(rel), &isnull);

		role = (!isnull && DatumGetInt32(group) != 0) ?
			CITUS_ROLE_WORKER : CITUS_ROLE_COORDINATOR;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return role;
}

bool
citus_on_worker_node(void)
{
	bool		own_xact = !IsTransactionState();
	bool		worker;

	if (own_xact)
	{
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
	}
	worker = catalog_extension_ready() && citus_role() == CITUS_ROLE_WORKER;
	if (own_xact)
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	return worker;
}

/*
 * ERROR on a Citus worker node: rollup and cleanup have one runner for the
 * cluster, on the coordinator (the runner lock is per node).
 */
void
citus_forbid_worker_node(const char *what)
{
	if (citus_role() == CITUS_ROLE_WORKER)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s runs on the Citus coordinator only", what),
				 errhint("Call it on the coordinator (pg_dist_local_group.groupid = 0); worker nodes only flush.")));
}

/* Does pg_dist_partition list relid? */
static bool
citus_is_distributed(Oid relid)
{
	Oid			partition = citus_catalog_relid("pg_dist_partition");
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	bool		found;

	if (!OidIsValid(partition) || !OidIsValid(relid))
		return false;
	rel = table_open(partition, AccessShareLock);
	/* attribute 1: logicalrelid (regclass) */
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

bool
citus_raw_distributed(void)
{
	Oid			relid = catalog_relid(CATALOG_RAW_METRICS);

	if (!citus_callback_registered)
	{
		CacheRegisterRelcacheCallback(citus_relcache_callback, (Datum) 0);
		citus_callback_registered = true;
	}
	if (citus_raw_state < 0 || relid != citus_raw_state_relid)
	{
		citus_raw_state_relid = relid;
		citus_raw_state = citus_is_distributed(relid) ? 1 : 0;
	}
	return citus_raw_state == 1;
}

/* SQL citus_is_distributed(): the flush's and the rollup's cached answer. */
Datum
citus_is_distributed_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(citus_raw_distributed());
}

/* ----------------------------------------------------------------
 * The flush into a distributed raw_metrics
 * ----------------------------------------------------------------
 */

/*
 * $1..$7: the columns of CATALOG_RAW_COLUMNS as arrays.  Citus plans the
 * INSERT ... SELECT: the SELECT runs here, its rows go to their shards.
 */
static const char *const citus_flush_rows_sql =
"INSERT INTO metrics_rollup.raw_metrics (" CATALOG_RAW_COLUMNS ")"
" SELECT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]),"
"   pg_catalog.unnest($2::pg_catalog.text[]), pg_catalog.unnest($3::pg_catalog.text[]),"
"   pg_catalog.unnest($4::pg_catalog.timestamptz[]), pg_catalog.unnest($5::pg_catalog.float8[]),"
"   pg_catalog.unnest($6::pg_catalog.bool[]), pg_catalog.unnest($7::pg_catalog.text[]))";

/* One column's array, NULL elements where nulls[i] is 'n' (nulls NULL: none). */
static Datum
citus_array(Datum *values, char *nulls, int n, Oid type)
{
	bool	   *isnull = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;

	for (int i = 0; i < n; i++)
		isnull[i] = nulls != NULL && nulls[i] == 'n';
	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, isnull, 1, dims, lbs, type,
											  typlen, typbyval, typalign));
}

void
citus_flush_range(uint64 first, uint64 count)
{
	Oid			types[CATALOG_RAW_NCOLUMNS];
	Datum		args[CATALOG_RAW_NCOLUMNS];
	Datum	   *cols[CATALOG_RAW_NCOLUMNS];
	char	   *colnulls[CATALOG_RAW_NCOLUMNS];
	int			n = (int) count;

	for (int c = 0; c < CATALOG_RAW_NCOLUMNS; c++)
	{
		cols[c] = palloc(sizeof(Datum) * Max(n, 1));
		colnulls[c] = palloc(Max(n, 1));
		types[c] = get_array_type(catalog_raw_types[c]);
	}
	for (int i = 0; i < n; i++)
	{
		BufferEvent ev;
		Datum		values[CATALOG_RAW_NCOLUMNS];
		char		nulls[CATALOG_RAW_NCOLUMNS];

		if (!buffer_drain_event(first + i, &ev))
			elog(ERROR, "event " UINT64_FORMAT " is not in the flush batch", first + i);
		catalog_raw_datums(&ev, values, nulls);
		for (int c = 0; c < CATALOG_RAW_NCOLUMNS; c++)
		{
			cols[c][i] = values[c];
			colnulls[c][i] = nulls[c];
		}
	}
	for (int c = 0; c < CATALOG_RAW_NCOLUMNS; c++)
		args[c] = citus_array(cols[c], colnulls[c], n, catalog_raw_types[c]);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* citus_raw_changed() marks the rows on their shards */
	catalog_spi_check(SPI_execute_with_args(citus_flush_rows_sql, CATALOG_RAW_NCOLUMNS,
										   types, args, NULL, false, 0),
					 SPI_OK_INSERT, "inserting into the distributed raw_metrics");
	SPI_finish();
}

/* ----------------------------------------------------------------
 * distribute() and undistribute()
 * ----------------------------------------------------------------
 */

/* ERROR unless this is a Citus coordinator. */
static void
citus_require_coordinator(const char *what)
{
	CitusRole	role = citus_role();

	if (role == CITUS_ROLE_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s needs Citus", what),
				 errhint("Load citus first in shared_preload_libraries and run CREATE EXTENSION citus, then add the worker nodes.")));
	if (role == CITUS_ROLE_WORKER)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s must run on the Citus coordinator", what),
				 errhint("Connect to the coordinator (pg_dist_local_group.groupid = 0) and call it there.")));
}

/*
 * search_path pg_catalog, pg_temp until AtEOXact_GUC(true, level): the
 * trigger definitions distribute() saves and undistribute() runs are then
 * written with every name schema-qualified; and citus.enable_unsafe_triggers
 * on, for the shard triggers' DDL.
 */
static int
citus_pin_search_path(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("search_path", SECURITY_SEARCH_PATH, PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	/* Citus refuses trigger DDL on a distributed table without it */
	(void) set_config_option("citus.enable_unsafe_triggers", "on", PGC_SUSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return level;
}

static void
citus_exec(const char *sql, const char *what)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc < 0)
		elog(ERROR, "SPI failed while %s: %s", what, SPI_result_code_string(rc));
}

/*
 * One table to a distributed table by entity_id: raw_metrics with
 * shard_count shards (NULL: citus.shard_count), the others co-located
 * with it.
 */
static void
citus_distribute_table(int i, Datum shard_count, bool count_null)
{
	Oid			types[3] = {TEXTOID, INT4OID, TEXTOID};
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	const char *sql;

	args[0] = CStringGetTextDatum(citus_tables[i]);
	args[1] = shard_count;
	args[2] = CStringGetTextDatum(citus_tables[0]);
	if (i > 0)
		sql = "SELECT pg_catalog.create_distributed_table($1::pg_catalog.regclass,"
			" 'entity_id', colocate_with => $3)";
	else if (count_null)
		sql = "SELECT pg_catalog.create_distributed_table($1::pg_catalog.regclass,"
			" 'entity_id')";
	else
		sql = "SELECT pg_catalog.create_distributed_table($1::pg_catalog.regclass,"
			" 'entity_id', shard_count => $2)";
	if (count_null)
		nulls[1] = 'n';
	catalog_spi_check(SPI_execute_with_args(sql, 3, types, args, nulls, false, 0),
					 SPI_OK_SELECT, "distributing a table");
	/* the coordinator's shell keeps no copy of the rows */
	catalog_spi_check(SPI_execute_with_args("SELECT pg_catalog.truncate_local_data_after_distributing_table($1::pg_catalog.regclass)",
											1, types, args, NULL, false, 0),
					 SPI_OK_SELECT, "removing the local copy of a distributed table");
}

static Oid
citus_table_relid(int i)
{
	return DatumGetObjectId(DirectFunctionCall1(regclassin,
												CStringGetDatum(citus_tables[i])));
}

/*
 * distribute(shard_count integer DEFAULT NULL): see the file header.
 * Idempotent: tables already distributed are left as they are.
 */
Datum
citus_distribute(PG_FUNCTION_ARGS)
{
	int			nestlevel;

	citus_require_coordinator("metrics_rollup.distribute()");
	nestlevel = citus_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	citus_exec(citus_drop_triggers_sql, "dropping the marking triggers");
	for (int i = 0; i < CITUS_NTABLES; i++)
	{
		if (citus_is_distributed(citus_table_relid(i)))
			continue;
		citus_distribute_table(i, PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0),
							   PG_ARGISNULL(0));
	}
	citus_exec(citus_create_shard_triggers_sql, "creating the shard triggers");
	citus_exec(citus_create_event_trigger_sql, "creating the DROP EXTENSION event trigger");
	SPI_finish();
	AtEOXact_GUC(true, nestlevel);
	citus_raw_state = -1;
	PG_RETURN_VOID();
}

/* Is any table of ours distributed? */
static bool
citus_any_distributed(void)
{
	for (int i = 0; i < CITUS_NTABLES; i++)
		if (citus_is_distributed(citus_table_relid(i)))
			return true;
	return false;
}

/*
 * undistribute(): the inverse of distribute() (citus_undistribute_sql).
 * Every row comes back to the coordinator's own tables; worker nodes keep
 * their (empty) local tables.  Idempotent: nothing when no table of ours
 * is distributed.
 */
Datum
citus_undistribute(PG_FUNCTION_ARGS)
{
	int			nestlevel;

	citus_require_coordinator("metrics_rollup.undistribute()");
	if (!citus_any_distributed())
		PG_RETURN_VOID();
	nestlevel = citus_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	citus_exec(citus_undistribute_sql, "undistributing the tables");
	SPI_finish();
	AtEOXact_GUC(true, nestlevel);
	citus_raw_state = -1;
	PG_RETURN_VOID();
}

/* Does a DROP EXTENSION statement name metrics_rollup? */
static bool
citus_drops_us(Node *parsetree)
{
	ListCell   *lc;

	if (parsetree == NULL || !IsA(parsetree, DropStmt) ||
		((DropStmt *) parsetree)->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, ((DropStmt *) parsetree)->objects)
	{
		Node	   *name = (Node *) lfirst(lc);

		if (IsA(name, String) && strcmp(strVal(name), "metrics_rollup") == 0)
			return true;
	}
	return false;
}

/*
 * Event trigger on ddl_command_start for DROP EXTENSION (created by
 * distribute()): a DROP of metrics_rollup on the coordinator first drops
 * its distributed tables (citus_drop_distributed_sql), so that no shard is
 * left behind (the workers' DROP would otherwise fail on their shards'
 * columns of our types).  The event trigger goes with the extension.
 */
Datum
citus_before_drop_extension(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "citus_before_drop_extension() must be called as an event trigger");
	trigdata = (EventTriggerData *) fcinfo->context;
	if (!citus_drops_us(trigdata->parsetree) || !catalog_extension_ready() ||
		citus_role() != CITUS_ROLE_COORDINATOR)
		PG_RETURN_VOID();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	citus_exec(citus_drop_distributed_sql, "dropping the distributed tables");
	SPI_finish();
	citus_raw_state = -1;
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 * The rollup of one hour on distributed tables
 * ----------------------------------------------------------------
 */

/*
 * Take out the hour's marks ($1; $2/$3: one group only, or NULL): the
 * groups come back as "kind/entity_id" keys (a kind never holds a '/') and
 * entity ids, for filters every shard evaluates locally, and the keys of
 * forced marks (raw rows updated, run_rollup(since)).
 */
static const char *const citus_take_marks_sql =
"WITH x AS (DELETE FROM metrics_rollup.rollup_dirty"
"            WHERE hour_start = $1"
"              AND ($2::pg_catalog.text IS NULL OR (kind = $2 AND entity_id = $3))"
"           RETURNING kind, entity_id, force)"
" SELECT pg_catalog.array_agg(DISTINCT x.kind OPERATOR(pg_catalog.||) '/'"
"                             OPERATOR(pg_catalog.||) x.entity_id),"
"        pg_catalog.array_agg(DISTINCT x.entity_id),"
"        coalesce(pg_catalog.array_agg(DISTINCT x.kind OPERATOR(pg_catalog.||) '/'"
"                                      OPERATOR(pg_catalog.||) x.entity_id)"
"                     FILTER (WHERE x.force), '{}')"
"   FROM x";

/*
 * Recompute the taken groups as archived (+) their raw rows, in one
 * INSERT ... SELECT that Citus pushes down to each shard group: the raw
 * rows are grouped by (kind, entity_id) on the shard (entity_id is the
 * distribution column), joined with the co-located hourly row.  As on one
 * node (rollup.c), a row whose count already equals archived (+) raw is
 * unchanged and not rewritten unless its mark is forced.  $1 hour, $2 keys,
 * $3 entity ids, $4 now (ON CONFLICT DO UPDATE may not call now() on
 * Citus), $5 the hour's end, $6 forced keys.  Returns each written row's
 * raw count.
 */
static const char *const citus_rollup_write_sql =
"INSERT INTO metrics_rollup.hourly_metrics AS h"
"       (kind, entity_id, entity_name, hour_start, total_count, success_count, failure_count,"
"        min_response_time, max_response_time, avg_response_time,"
"        p50_response_time, p95_response_time, p99_response_time,"
"        sketch, sum_response_time, last_recorded_at, percentiles_exact)"
" SELECT m.kind, m.entity_id, (m.s).entity_name, $1::pg_catalog.timestamptz,"
"        (m.s).total_count, (m.s).success_count,"
"        (m.s).total_count - (m.s).success_count, (m.s).min_value, (m.s).max_value,"
"        ((m.s).sum_value / (m.s).total_count)::double precision,"
"        (m.s).p50, (m.s).p95, (m.s).p99,"
"        (m.s).sketch, (m.s).sum_value, (m.s).last_at, (m.s).percentiles_exact"
"   FROM (SELECT x.kind, x.entity_id,"
"                metrics_rollup.rollup_stats_merge(a.archived, x.s) AS s"
"           FROM (SELECT r.kind, r.entity_id,"
"                        metrics_rollup.rollup_agg(r.response_time, r.success,"
"                                                  r.recorded_at, r.entity_name) AS s"
"                   FROM metrics_rollup.raw_metrics r"
"                  WHERE r.recorded_at >= $1 AND r.recorded_at < $5"
"                    AND r.entity_id = ANY ($3)"
"                    AND (r.kind OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) r.entity_id) = ANY ($2)"
"                  GROUP BY r.kind, r.entity_id) x"
"           LEFT JOIN metrics_rollup.hourly_metrics a"
"             ON a.entity_id = x.entity_id AND a.kind = x.kind AND a.hour_start = $1"
"          WHERE (x.kind OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) x.entity_id) = ANY ($6)"
"             OR a.total_count IS DISTINCT FROM"
"                (x.s).total_count + coalesce((a.archived).total_count, 0)) m"
" ON CONFLICT (kind, entity_id, hour_start) DO UPDATE SET"
"       entity_name = coalesce(excluded.entity_name, h.entity_name),"
"       total_count = excluded.total_count, success_count = excluded.success_count,"
"       failure_count = excluded.failure_count,"
"       min_response_time = excluded.min_response_time,"
"       max_response_time = excluded.max_response_time,"
"       avg_response_time = excluded.avg_response_time,"
"       p50_response_time = excluded.p50_response_time,"
"       p95_response_time = excluded.p95_response_time,"
"       p99_response_time = excluded.p99_response_time,"
"       sketch = excluded.sketch,"
"       sum_response_time = excluded.sum_response_time,"
"       last_recorded_at = excluded.last_recorded_at,"
"       percentiles_exact = excluded.percentiles_exact,"
"       updated_at = $4::pg_catalog.timestamptz"
" WHERE (h.entity_name, h.total_count, h.success_count, h.min_response_time,"
"        h.max_response_time, h.sum_response_time, h.last_recorded_at,"
"        metrics_rollup.sketch_to_bytea(h.sketch), h.p50_response_time,"
"        h.p95_response_time, h.p99_response_time, h.percentiles_exact)"
"       IS DISTINCT FROM"
"       (coalesce(excluded.entity_name, h.entity_name), excluded.total_count,"
"        excluded.success_count, excluded.min_response_time,"
"        excluded.max_response_time, excluded.sum_response_time,"
"        excluded.last_recorded_at, metrics_rollup.sketch_to_bytea(excluded.sketch),"
"        excluded.p50_response_time, excluded.p95_response_time,"
"        excluded.p99_response_time, excluded.percentiles_exact)"
" RETURNING h.total_count - coalesce((h.archived).total_count, 0), h.kind";

/*
 * The taken groups left without raw rows in the hour (cleanup archived
 * them all): the hourly row is its archived summary.  Same parameters.
 */
static const char *const citus_rollup_archived_sql =
"UPDATE metrics_rollup.hourly_metrics h SET"
"       entity_name = coalesce((h.archived).entity_name, h.entity_name),"
"       total_count = (h.archived).total_count, success_count = (h.archived).success_count,"
"       failure_count = (h.archived).total_count - (h.archived).success_count,"
"       min_response_time = (h.archived).min_value, max_response_time = (h.archived).max_value,"
"       avg_response_time = ((h.archived).sum_value / (h.archived).total_count)::double precision,"
"       p50_response_time = (h.archived).p50, p95_response_time = (h.archived).p95,"
"       p99_response_time = (h.archived).p99, sketch = (h.archived).sketch,"
"       sum_response_time = (h.archived).sum_value, last_recorded_at = (h.archived).last_at,"
"       percentiles_exact = (h.archived).percentiles_exact,"
"       updated_at = $4::pg_catalog.timestamptz"
" WHERE h.hour_start = $1 AND h.archived IS NOT NULL"
"   AND h.total_count IS DISTINCT FROM (h.archived).total_count"
"   AND h.entity_id = ANY ($3)"
"   AND (h.kind OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) h.entity_id) = ANY ($2)"
"   AND NOT EXISTS (SELECT FROM metrics_rollup.raw_metrics r"
"                    WHERE r.entity_id = h.entity_id AND r.kind = h.kind"
"                      AND r.recorded_at >= $1 AND r.recorded_at < $5)"
" RETURNING h.kind";

/*
 * The daily level's invalidation on Citus, where hourly_metrics has no
 * triggers (src/daily.c): the UTC days ($2) of the kinds ($1) whose hourly
 * rows changed lose their daily_built marker and are queued, as the single
 * node's daily_hourly_* triggers do.  Both tables are local (coordinator).
 */
static const char *const citus_daily_unmark_sql =
"DELETE FROM metrics_rollup.daily_built b"
" USING ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]),"
"                  pg_catalog.unnest($2::pg_catalog.timestamptz[])) AS c(kind, day_start)"
" WHERE b.kind = c.kind AND b.day_start = c.day_start";

static const char *const citus_daily_queue_sql =
"INSERT INTO metrics_rollup.daily_queue (kind, day_start)"
" SELECT DISTINCT c.kind, c.day_start"
"   FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]),"
"                   pg_catalog.unnest($2::pg_catalog.timestamptz[])) AS c(kind, day_start)"
" ON CONFLICT (kind, day_start) DO NOTHING";

/*
 * Unmark and queue n (kind, UTC day)s: kinds[i] and days[i].  Nothing when
 * n is 0, or before 1.1 (no daily tables).
 */
static void
citus_daily_invalidate(Datum *kinds, Datum *days, int n)
{
	Oid			types[2] = {TEXTARRAYOID, TIMESTAMPTZARRAYOID};
	Datum		args[2];

	if (n == 0 || !catalog_schema_1_1())
		return;
	args[0] = citus_array(kinds, NULL, n, TEXTOID);
	args[1] = citus_array(days, NULL, n, TIMESTAMPTZOID);
	catalog_spi_check(SPI_execute_with_args(citus_daily_unmark_sql, 2, types, args,
										   NULL, false, 0),
					 SPI_OK_DELETE, "unmarking changed days");
	catalog_spi_check(SPI_execute_with_args(citus_daily_queue_sql, 2, types, args,
										   NULL, false, 0),
					 SPI_OK_INSERT, "queueing changed days");
}

/*
 * The (kind, UTC day)s of the hourly rows before $1, which the hourly
 * retention is about to delete: as the single node's daily_hourly_deleted
 * trigger, each loses its marker and is queued (its rebuild from the hourly
 * rows left drops the daily rows of a day that has none).  A statement of
 * its own on the distributed table, then local writes: Citus joins no
 * local table with a distributed one.
 */
static const char *const citus_hourly_days_before_sql =
"SELECT DISTINCT kind, pg_catalog.date_trunc('day', hour_start, 'UTC')"
"  FROM metrics_rollup.hourly_metrics WHERE hour_start < $1";

static void
citus_daily_invalidate_before(TimestampTz before)
{
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		args[1] = {TimestampTzGetDatum(before)};
	Datum	   *kinds;
	Datum	   *days;
	int			n;

	if (!catalog_schema_1_1())
		return;
	catalog_spi_check(SPI_execute_with_args(citus_hourly_days_before_sql, 1, types,
										   args, NULL, false, 0),
					 SPI_OK_SELECT, "listing the days of expired hourly rows");
	n = daily_read_kind_days(&kinds, &days);
	citus_daily_invalidate(kinds, days, n);
}

/*
 * The kinds of the rows SPI_tuptable returned (column col), appended to
 * kinds[*n] if not there yet (a handful of kinds: a linear search).
 */
static void
citus_collect_kinds(int col, Datum **kinds, int *n, int *size)
{
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		kind = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
										 col, &isnull);
		bool		seen = false;

		if (isnull)
			continue;
		for (int j = 0; j < *n && !seen; j++)
			seen = DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID,
														(*kinds)[j], kind));
		if (seen)
			continue;
		if (*n == *size)
		{
			*size *= 2;
			*kinds = repalloc(*kinds, sizeof(Datum) * *size);
		}
		/* out of the tuple table, which is freed next */
		(*kinds)[(*n)++] = PointerGetDatum(PG_DETOAST_DATUM_COPY(kind));
	}
}

/* The start of t's UTC day (TimestampTz counts from a UTC midnight). */
static TimestampTz
citus_utc_day(TimestampTz t)
{
	return t - ((t % USECS_PER_DAY) + USECS_PER_DAY) % USECS_PER_DAY;
}

/*
 * Totals: rows_written counts the hourly rows this run inserted or CHANGED
 * (an upsert that would rewrite a row with the same figures is skipped, see
 * citus_rollup_write_sql), and raw_rows the raw rows counted by those rows
 * beyond their archived part; the late-data window that every run re-reads
 * on Citus adds nothing to either while its hours do not change.
 */
void
citus_rollup_groups(TimestampTz hour, Datum kind, Datum entity_id,
					RollupTotals *totals)
{
	Oid			types[6] = {TIMESTAMPTZOID, TEXTARRAYOID, TEXTARRAYOID,
	TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTARRAYOID};
	Oid			take_types[3] = {TIMESTAMPTZOID, TEXTOID, TEXTOID};
	Datum		args[6];
	char		take_nulls[3] = {' ', kind ? ' ' : 'n', kind ? ' ' : 'n'};
	bool		isnull;
	SPITupleTable *marks;
	int			nkinds = 0;
	int			kinds_size = 4;
	Datum	   *kinds = palloc(sizeof(Datum) * kinds_size);
	Datum	   *days;

	args[0] = TimestampTzGetDatum(hour);
	args[1] = kind;
	args[2] = entity_id;
	catalog_spi_check(SPI_execute_with_args(citus_take_marks_sql, 3, take_types,
										   args, take_nulls, false, 0),
					 SPI_OK_SELECT, "taking dirty marks");
	marks = SPI_tuptable;
	args[1] = SPI_getbinval(marks->vals[0], marks->tupdesc, 1, &isnull);
	if (isnull)
	{
		/* another runner took them before we got the lock */
		SPI_freetuptable(marks);
		return;
	}
	if (kind == (Datum) 0)
		totals->hours++;
	args[2] = SPI_getbinval(marks->vals[0], marks->tupdesc, 2, &isnull);
	args[3] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	args[4] = TimestampTzGetDatum(hour + USECS_PER_HOUR);
	args[5] = SPI_getbinval(marks->vals[0], marks->tupdesc, 3, &isnull);

	/* a new statement, so a new snapshot: see rollup.c's header */
	catalog_spi_check(SPI_execute_with_args(citus_rollup_write_sql, 6, types,
										   args, NULL, false, 0),
					 SPI_OK_INSERT_RETURNING, "writing hourly rows");
	totals->rows_written += (int64) SPI_processed;
	for (uint64 i = 0; i < SPI_processed; i++)
		totals->raw_rows += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
														SPI_tuptable->tupdesc,
														1, &isnull));
	citus_collect_kinds(2, &kinds, &nkinds, &kinds_size);
	SPI_freetuptable(SPI_tuptable);
	catalog_spi_check(SPI_execute_with_args(citus_rollup_archived_sql, 5, types,
										   args, NULL, false, 0),
					 SPI_OK_UPDATE_RETURNING, "writing archived-only hourly rows");
	totals->rows_written += (int64) SPI_processed;
	citus_collect_kinds(1, &kinds, &nkinds, &kinds_size);
	SPI_freetuptable(SPI_tuptable);
	SPI_freetuptable(marks);

	/* the changed rows' (kind, day)s, in this transaction */
	days = palloc(sizeof(Datum) * Max(nkinds, 1));
	for (int i = 0; i < nkinds; i++)
		days[i] = TimestampTzGetDatum(citus_utc_day(hour));
	citus_daily_invalidate(kinds, days, nkinds);
}

/* ----------------------------------------------------------------
 * Cleanup on distributed tables
 * ----------------------------------------------------------------
 */

/* Hours with raw rows before $1, oldest first. */
static const char *const citus_cleanup_hours_sql =
"SELECT DISTINCT pg_catalog.date_trunc('hour', recorded_at, 'UTC')"
"  FROM metrics_rollup.raw_metrics WHERE recorded_at < $1 ORDER BY 1";

/*
 * One batch of an hour's raw rows goes: $1 hour, $2 its end, $3 the batch's
 * entity ids, $4 true when the hour is past retention_days (every row
 * goes; otherwise only rolled-up, clean groups: an hourly row and no mark).
 * citus_raw_changed() archives the deleted events into their hourly rows
 * and marks them, on the shards, in the same statement: nothing is lost
 * and no writer waits (no lock beyond the DELETE's own).
 */
static const char *const citus_cleanup_delete_sql =
"DELETE FROM metrics_rollup.raw_metrics r"
" WHERE r.recorded_at >= $1 AND r.recorded_at < $2 AND r.entity_id = ANY ($3)"
"   AND ($4"
"        OR (EXISTS (SELECT FROM metrics_rollup.hourly_metrics h"
"                     WHERE h.entity_id = r.entity_id AND h.kind = r.kind AND h.hour_start = $1)"
"            AND NOT EXISTS (SELECT FROM metrics_rollup.rollup_dirty d"
"                             WHERE d.entity_id = r.entity_id AND d.kind = r.kind"
"                               AND d.hour_start = $1)))";

/* The entities with raw rows in an hour, and how many, in entity_id order. */
static const char *const citus_cleanup_entities_sql =
"SELECT r.entity_id, pg_catalog.count(*)"
"  FROM metrics_rollup.raw_metrics r"
" WHERE r.recorded_at >= $1 AND r.recorded_at < $2"
" GROUP BY r.entity_id ORDER BY 1";

/* Hourly rows past rollup retention. */
static const char *const citus_cleanup_hourly_sql =
"DELETE FROM metrics_rollup.hourly_metrics WHERE hour_start < $1";

/* The hours with raw rows before before, allocated in cxt. */
TimestampTz *
citus_cleanup_hours(TimestampTz before, MemoryContext cxt, int *count)
{
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		args[1] = {TimestampTzGetDatum(before)};
	TimestampTz *hours;
	bool		isnull;

	catalog_spi_check(SPI_execute_with_args(citus_cleanup_hours_sql, 1, types, args,
										   NULL, false, 0),
					 SPI_OK_SELECT, "listing hours with expired raw rows");
	*count = (int) SPI_processed;
	hours = MemoryContextAlloc(cxt, sizeof(TimestampTz) * Max(*count, 1));
	for (int i = 0; i < *count; i++)
		hours[i] = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return hours;
}

/*
 * The hour's entities with raw rows, cut into batches of about batch_rows
 * raw rows (at least one entity each): batches[i] is a text[] of entity
 * ids, allocated in cxt.
 */
Datum *
citus_cleanup_batches(TimestampTz hour, int batch_rows, MemoryContext cxt,
					  int *count)
{
	Oid			types[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		args[2];
	Datum	   *batches;
	Datum	   *ids;
	int			nids = 0;
	int64		rows = 0;
	MemoryContext old;

	args[0] = TimestampTzGetDatum(hour);
	args[1] = TimestampTzGetDatum(hour + USECS_PER_HOUR);
	catalog_spi_check(SPI_execute_with_args(citus_cleanup_entities_sql, 2, types, args,
											NULL, true, 0),
					  SPI_OK_SELECT, "listing an hour's entities to clean up");
	old = MemoryContextSwitchTo(cxt);
	batches = palloc(sizeof(Datum) * Max(SPI_processed, 1));
	ids = palloc(sizeof(Datum) * Max(SPI_processed, 1));
	*count = 0;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		bool		isnull;

		ids[nids++] = SPI_getbinval(tuple, SPI_tuptable->tupdesc, 1, &isnull);
		rows += DatumGetInt64(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 2, &isnull));
		if (rows >= batch_rows || i + 1 == SPI_processed)
		{
			/* the ids are copied into the array, out of SPI's memory */
			batches[(*count)++] = PointerGetDatum(construct_array(ids, nids, TEXTOID,
																  -1, false, TYPALIGN_INT));
			nids = 0;
			rows = 0;
		}
	}
	pfree(ids);
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
	return batches;
}

/* Delete one batch of the hour (entity_ids, a text[]); see the statement. */
int64
citus_cleanup_hour(TimestampTz hour, Datum entity_ids, bool expired)
{
	Oid			types[4] = {TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTARRAYOID, BOOLOID};
	Datum		args[4];

	args[0] = TimestampTzGetDatum(hour);
	args[1] = TimestampTzGetDatum(hour + USECS_PER_HOUR);
	args[2] = entity_ids;
	args[3] = BoolGetDatum(expired);
	catalog_spi_check(SPI_execute_with_args(citus_cleanup_delete_sql, 4, types, args,
											NULL, false, 0),
					  SPI_OK_DELETE, "deleting expired raw rows");
	return (int64) SPI_processed;
}

int64
citus_cleanup_hourly(TimestampTz before)
{
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		args[1] = {TimestampTzGetDatum(before)};

	citus_daily_invalidate_before(before);
	catalog_spi_check(SPI_execute_with_args(citus_cleanup_hourly_sql, 1, types, args,
										   NULL, false, 0),
					 SPI_OK_DELETE, "deleting expired hourly rows");
	return (int64) SPI_processed;
}
