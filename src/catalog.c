/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The extension's schema and tables as the C code sees them: relation
 *	  OIDs, which version's objects are installed, raw_metrics' column list
 *	  and the conversion of an event into a row of it, and the SPI result
 *	  check every job uses.
 *
 * Owns: a backend-local cache of relation OIDs, emptied by a syscache
 * callback on any change to pg_class (CREATE/DROP EXTENSION, a user's DDL),
 * so a lookup costs a cache probe and never returns a dropped relation.
 *
 * Must never: run SQL, create or alter objects, or touch shared memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/value.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "catalog.h"

static const char *const catalog_rel_names[CATALOG_REL_COUNT] = {
	[CATALOG_RAW_METRICS] = "raw_metrics",
	[CATALOG_JOB_RUNS] = "job_runs",
	[CATALOG_ROLLUP_DIRTY] = "rollup_dirty",
	[CATALOG_DAILY_QUEUE] = "daily_queue",
	[CATALOG_ROLLUP_FAILURES] = "rollup_failures",
};

const Oid	catalog_raw_types[CATALOG_RAW_NCOLUMNS] = {
	TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, FLOAT8OID, BOOLOID, TEXTOID
};

static const char *const catalog_raw_names[CATALOG_RAW_NCOLUMNS] = {
	"kind", "entity_id", "entity_name", "recorded_at", "response_time",
	"success", "error_message"
};

/* InvalidOid: not looked up since the last invalidation */
static Oid	catalog_cache[CATALOG_REL_COUNT];
static bool catalog_callback_registered = false;

static void
catalog_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	memset(catalog_cache, 0, sizeof(catalog_cache));
}

/* rel's OID, or InvalidOid when it does not exist (no extension). */
Oid
catalog_relid(CatalogRel rel)
{
	Oid			nsp;

	Assert(rel >= 0 && rel < CATALOG_REL_COUNT);
	if (!catalog_callback_registered)
	{
		CacheRegisterSyscacheCallback(RELNAMENSP, catalog_invalidate, (Datum) 0);
		catalog_callback_registered = true;
	}
	if (OidIsValid(catalog_cache[rel]))
		return catalog_cache[rel];
	nsp = get_namespace_oid(MR_SCHEMA, true);
	if (!OidIsValid(nsp))
		return InvalidOid;
	catalog_cache[rel] = get_relname_relid(catalog_rel_names[rel], nsp);
	return catalog_cache[rel];
}

/* Is the extension installed in this database (any version)? */
bool
catalog_extension_ready(void)
{
	return OidIsValid(catalog_relid(CATALOG_ROLLUP_DIRTY));
}

/*
 * Are 1.1's objects installed?  The 1.0--1.1 script creates daily_queue in
 * the same transaction as every other 1.1 object, so its existence tells.
 */
bool
catalog_schema_1_1(void)
{
	return OidIsValid(catalog_relid(CATALOG_DAILY_QUEUE));
}

/* rollup_failures comes with 1.2's append-only dirty marks. */
bool
catalog_schema_1_2(void)
{
	return OidIsValid(catalog_relid(CATALOG_ROLLUP_FAILURES));
}

/* The column name list of CATALOG_RAW_COLUMNS, for BeginCopyFrom. */
List *
catalog_raw_column_names(void)
{
	List	   *cols = NIL;

	for (int i = 0; i < CATALOG_RAW_NCOLUMNS; i++)
		cols = lappend(cols, makeString(pstrdup(catalog_raw_names[i])));
	return cols;
}

static Datum
catalog_text(const char *bytes, int len, char *null)
{
	*null = bytes ? ' ' : 'n';
	return bytes ? PointerGetDatum(cstring_to_text_with_len(bytes, len)) : (Datum) 0;
}

/*
 * An event as SPI parameters of CATALOG_RAW_COLUMNS: values and nulls have
 * room for CATALOG_RAW_NCOLUMNS; text is palloc'd in the current context.
 */
void
catalog_raw_datums(const BufferEvent *ev, Datum *values, char *nulls)
{
	values[0] = catalog_text(ev->kind, ev->kind_len, &nulls[0]);
	values[1] = catalog_text(ev->entity_id, ev->entity_id_len, &nulls[1]);
	values[2] = catalog_text(ev->entity_name, ev->entity_name_len, &nulls[2]);
	values[3] = TimestampTzGetDatum(ev->recorded_at);
	nulls[3] = ' ';
	values[4] = Float8GetDatum(ev->response_time);
	nulls[4] = ' ';
	values[5] = BoolGetDatum(ev->success);
	nulls[5] = ' ';
	values[6] = catalog_text(ev->error_message, ev->error_len, &nulls[6]);
}

/* ERROR unless an SPI call returned what was expected. */
void
catalog_spi_check(int rc, int expected, const char *what)
{
	if (rc != expected)
		elog(ERROR, "SPI failed while %s: %s", what, SPI_result_code_string(rc));
}
