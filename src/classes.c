/*-------------------------------------------------------------------------
 *
 * classes.c
 *	  Hot/cold classes: classify(), its overload with declared entities,
 *	  and classification_info().
 *
 * Owns: the classification rule.  The universe of a kind is every entity
 * of the live table (live.c, through live_uses()) plus every declared one:
 * the rows of metrics_rollup.known_entities, or the entity_ids array of
 * classify(kind, hot_fraction, entity_ids).  N counts that universe; an
 * entity is eligible once used (it has a last_seen); entities are ranked
 * by last use desc, use count desc, entity_id asc (byte order), kind asc;
 * hot = the first min(floor(hot_fraction x N), eligible); everyone else
 * is cold, never-used declared entities included.  The gateway's "active
 * sessions" key has no counterpart here: nothing records open sessions.
 *
 * Without declared entities the universe is the live table and every
 * entity in it is eligible, so classify() keeps its 1.0 contract.
 *
 * Must never: keep state (poll.c caches classes in shared memory), touch
 * the live table other than through live_uses(), or build SQL from input
 * (the one query takes the kind as a parameter).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "catalog.h"
#include "classes.h"
#include "guc.h"
#include "live.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(classes_classify);
PG_FUNCTION_INFO_V1(classes_classify_ids);
PG_FUNCTION_INFO_V1(classes_info);

/* ----------------------------------------------------------------
 * The rule
 * ----------------------------------------------------------------
 */

/* kind, then entity_id, then used before unused: for merging duplicates */
static int
classes_key_cmp(const void *a, const void *b)
{
	const ClassItem *x = (const ClassItem *) a;
	const ClassItem *y = (const ClassItem *) b;
	int			c = strcmp(x->kind, y->kind);

	if (c != 0)
		return c;
	c = strcmp(x->id, y->id);
	if (c != 0)
		return c;
	if (x->last_seen != y->last_seen)
		return x->last_seen > y->last_seen ? -1 : 1;
	return 0;
}

/* last use desc, use count desc, entity_id asc (bytes), kind asc */
static int
classes_rank_cmp(const void *a, const void *b)
{
	const ClassItem *x = (const ClassItem *) a;
	const ClassItem *y = (const ClassItem *) b;
	int			c;

	if (x->last_seen != y->last_seen)
		return x->last_seen > y->last_seen ? -1 : 1;
	if (x->use_count != y->use_count)
		return x->use_count > y->use_count ? -1 : 1;
	c = strcmp(x->id, y->id);
	if (c != 0)
		return c;
	return strcmp(x->kind, y->kind);
}

/* Append the rows of known_entities (of kind, or all) to items. */
static ClassItem *
classes_read_known(const char *kind, ClassItem *items, int *n, int *cap)
{
	MemoryContext outer = CurrentMemoryContext;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	int			rc;

	/* a 1.0 or 1.1 schema served by this library has no known_entities */
	if (!catalog_schema_1_2())
		return items;
	/* The query runs with the caller's rights: SELECT on known_entities. */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (kind != NULL)
	{
		values[0] = CStringGetTextDatum(kind);
		rc = SPI_execute_with_args("SELECT kind, entity_id FROM metrics_rollup.known_entities WHERE kind = $1",
								   1, argtypes, values, NULL, true, 0);
	}
	else
		rc = SPI_execute("SELECT kind, entity_id FROM metrics_rollup.known_entities",
						 true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading metrics_rollup.known_entities failed: %s",
			 SPI_result_code_string(rc));

	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *k = SPI_getvalue(tup, desc, 1);
		char	   *id = SPI_getvalue(tup, desc, 2);
		MemoryContext spi = MemoryContextSwitchTo(outer);

		if (*n >= *cap)
		{
			*cap *= 2;
			items = repalloc(items, sizeof(ClassItem) * *cap);
		}
		items[*n].kind = pstrdup(k);
		items[*n].id = pstrdup(id);
		items[*n].last_seen = 0;
		items[*n].use_count = 0;
		items[*n].declared = true;
		(*n)++;
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return items;
}

/*
 * Merge repeated (kind, entity_id) pairs into one item, keeping the use
 * figures of the live one; returns the new count.
 */
static int
classes_dedup(ClassItem *items, int n)
{
	int			out = 0;

	qsort(items, n, sizeof(ClassItem), classes_key_cmp);
	for (int k = 0; k < n; k++)
	{
		if (out > 0 && strcmp(items[out - 1].kind, items[k].kind) == 0 &&
			strcmp(items[out - 1].id, items[k].id) == 0)
		{
			items[out - 1].declared |= items[k].declared;
			continue;
		}
		items[out++] = items[k];
	}
	return out;
}

void
classes_compute(const char *kind, double fraction, char **ids, int nids,
				ClassResult *r)
{
	LiveUse    *uses;
	int			nlive;
	int			cap;
	int			n;
	ClassItem  *items;

	uses = live_uses(kind, &nlive);
	cap = Max(nlive + nids, 16);
	items = palloc(sizeof(ClassItem) * cap);
	for (n = 0; n < nlive; n++)
	{
		items[n].kind = uses[n].kind;
		items[n].id = uses[n].id;
		items[n].last_seen = uses[n].last_seen;
		items[n].use_count = uses[n].use_count;
		items[n].declared = false;
	}
	if (ids != NULL)
	{
		for (int k = 0; k < nids; k++, n++)
		{
			items[n].kind = (char *) kind;
			items[n].id = ids[k];
			items[n].last_seen = 0;
			items[n].use_count = 0;
			items[n].declared = true;
		}
	}
	else
		items = classes_read_known(kind, items, &n, &cap);

	n = classes_dedup(items, n);
	qsort(items, n, sizeof(ClassItem), classes_rank_cmp);

	r->items = items;
	r->n = n;
	r->fraction = fraction;
	r->eligible = 0;
	r->declared = 0;
	for (int k = 0; k < n; k++)
	{
		if (items[k].last_seen != 0)
			r->eligible++;
		if (items[k].declared)
			r->declared++;
	}
	/* the epsilon keeps e.g. 0.29 * 100 = 28.999999999999996 at 29 */
	r->cap = Min((int) floor(fraction * n + 1e-9), n);
	r->hot = Min(r->cap, r->eligible);
	for (int k = 0; k < n; k++)
		items[k].hot = k < r->hot;
}

/* ----------------------------------------------------------------
 * SQL functions
 * ----------------------------------------------------------------
 */

/* hot_fraction argument argno, or the setting when NULL; checked. */
static double
classes_fraction_arg(FunctionCallInfo fcinfo, int argno)
{
	double		fraction = PG_ARGISNULL(argno) ? mr_hot_fraction :
		PG_GETARG_FLOAT8(argno);

	if (isnan(fraction) || fraction < 0 || fraction > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hot_fraction must be between 0 and 1, not %g", fraction),
				 errhint("Pass a fraction from 0 to 1, or NULL to use metrics_rollup.hot_fraction.")));
	return fraction;
}

/* The rows of classify(): kind, entity_id, class, rank, last_seen, use_count. */
static void
classes_put_rows(FunctionCallInfo fcinfo, const ClassResult *r)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int k = 0; k < r->n; k++)
	{
		const ClassItem *it = &r->items[k];
		Datum		values[6];
		bool		nulls[6] = {0};

		values[0] = CStringGetTextDatum(it->kind);
		values[1] = CStringGetTextDatum(it->id);
		values[2] = CStringGetTextDatum(it->hot ? "hot" : "cold");
		values[3] = Int32GetDatum(k + 1);
		nulls[4] = it->last_seen == 0;
		values[4] = TimestampTzGetDatum(it->last_seen);
		values[5] = Int64GetDatum((int64) it->use_count);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/* classify(kind, hot_fraction): live entities plus known_entities. */
Datum
classes_classify(PG_FUNCTION_ARGS)
{
	char	   *kind = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	double		fraction = classes_fraction_arg(fcinfo, 1);
	ClassResult r;

	mr_require_preload("classify()");
	classes_compute(kind, fraction, NULL, 0, &r);
	classes_put_rows(fcinfo, &r);
	return (Datum) 0;
}

/*
 * The C symbol the 1.0 and 1.1 scripts declare classify(kind, hot_fraction)
 * with (a schema not updated yet keeps calling it): the same function.
 */
PG_FUNCTION_INFO_V1(live_classify);

Datum
live_classify(PG_FUNCTION_ARGS)
{
	return classes_classify(fcinfo);
}

/* classify(kind, hot_fraction, entity_ids): the caller declares the set. */
Datum
classes_classify_ids(PG_FUNCTION_ARGS)
{
	double		fraction;
	char	   *kind;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *elnulls;
	int			nids;
	char	  **ids;
	ClassResult r;

	mr_require_preload("classify()");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("kind must not be null when entity_ids are given"),
				 errhint("Declared entities belong to one kind: pass it.")));
	kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	fraction = classes_fraction_arg(fcinfo, 1);
	nids = 0;
	ids = NULL;
	if (!PG_ARGISNULL(2))
	{
		arr = PG_GETARG_ARRAYTYPE_P(2);
		if (ARR_NDIM(arr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("entity_ids must be a one-dimensional array"),
					 errhint("Pass ARRAY['id1', 'id2', ...].")));
		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &elnulls, &nids);
		ids = palloc(sizeof(char *) * Max(nids, 1));
		for (int k = 0; k < nids; k++)
		{
			if (elnulls[k])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("entity_ids must not contain null"),
						 errdetail("Element %d is null.", k + 1),
						 errhint("Leave unknown entities out of the array.")));
			ids[k] = TextDatumGetCString(elems[k]);
		}
	}
	else
		ids = palloc(sizeof(char *));	/* an empty declared set */
	classes_compute(kind, fraction, ids, nids, &r);
	classes_put_rows(fcinfo, &r);
	return (Datum) 0;
}

/* classification_info(kind): the figures of classify(kind) and why. */
Datum
classes_info(PG_FUNCTION_ARGS)
{
	char	   *kind = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	TupleDesc	tupdesc;
	ClassResult r;
	Datum		values[8];
	bool		nulls[8] = {0};

	mr_require_preload("classification_info()");
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (tupdesc->natts != 8)
		elog(ERROR, "classification_info() must return 8 columns, not %d",
			 tupdesc->natts);
	classes_compute(kind, mr_hot_fraction, NULL, 0, &r);

	values[0] = Int32GetDatum(r.n);
	values[1] = Int32GetDatum(r.declared);
	values[2] = Int32GetDatum(r.eligible);
	values[3] = Float8GetDatum(r.fraction);
	values[4] = Int32GetDatum(r.cap);
	values[5] = Int32GetDatum(r.hot);
	values[6] = Int32GetDatum(r.n - r.hot);
	nulls[7] = r.hot >= r.cap;
	if (r.hot < r.cap)
		values[7] = CStringGetTextDatum(psprintf("only %d %s used, below hot_cap = %d",
												 r.eligible,
												 r.eligible == 1 ? "entity was" : "entities were",
												 r.cap));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
