/*-------------------------------------------------------------------------
 *
 * sketch.c
 *	  SQL face of the percentile sketch: type I/O, aggregates, accessors.
 *
 * Owns: the fmgr wrappers around sketch_core.c (palloc, ereport), the text
 * format and the mapping of core errors to SQLSTATEs.  The stored varlena
 * is exactly sketch_encode's output; every function decodes it with full
 * validation (a bad stored value is XX001 data_corrupted).
 *
 * Text format (keys in this order, no spaces; doubles in shortest
 * round-trip form; the sum is the exact decimal of its fixed-point value):
 *	 {"v":2,"alpha":0.01,"count":3,"zeros":1,"min":0,"max":2,
 *	  "sum":"3","bins":{"0":1,"35":1}}
 * "v":1 (the format of 1.1 and before) is read too; output is always 2.
 *
 * sketch_agg's state (1.2 on) is the sketch type, kept as an expanded
 * object during the aggregation (SketchExpanded); the internal-state
 * functions of 1.0/1.1 stay for installations not yet updated.
 *
 * Works without shared_preload_libraries: no shared memory here.
 *
 * Must never: keep state across calls outside the aggregate context, or
 * return an answer from an input it could not fully validate.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/expandeddatum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "guc.h"
#include "sketch_core.h"

/*
 * Aggregate transition state: the sketch, a dense stage in front of its
 * sorted bucket store (values land there by direct indexing, drained into
 * the sketch before it is read: sketch_agg_sketch), and their allocator.
 */
typedef struct SketchAggState
{
	SketchState sketch;
	SketchStage stage;
	SketchAllocator allocator;	/* allocates in the aggregate context */
} SketchAggState;

/*
 * sketch_agg's state from 1.2 on: the sketch type itself, held during the
 * aggregation as an expanded object (utils/expandeddatum.h) in a child
 * context of the aggregate context shared by the states of that context
 * (sketch_states_context), updated in place row by row.  Whoever
 * needs it flat (a partial aggregate's output, Citus's text transfer, a
 * copy) gets sketch_stage_encode's bytes, cached until the next change.
 */
typedef struct SketchExpanded
{
	ExpandedObjectHeader hdr;
	SketchAggState agg;			/* allocates in hdr.eoh_context */
	uint8	   *flat;			/* cached encoding (flat_len bytes) */
	Size		flat_len;		/* 0: no valid cache */
	Size		flat_cap;		/* allocated length of flat */
} SketchExpanded;

static Size sketch_expanded_flat_size(ExpandedObjectHeader *eohptr);
static void sketch_expanded_flatten(ExpandedObjectHeader *eohptr,
									void *result, Size allocated_size);

static const ExpandedObjectMethods sketch_expanded_methods = {
	sketch_expanded_flat_size,
	sketch_expanded_flatten
};

/* Scratch space for one encoding; the backend is single-threaded. */
static uint8_t encode_buffer[SKETCH_MAX_ENCODED];

static void *
sketch_palloc(void *ctx, size_t size)
{
	return MemoryContextAlloc((MemoryContext) ctx, size);
}

static void
sketch_pfree(void *ctx, void *ptr)
{
	pfree(ptr);
}

static const SketchAllocator *
sketch_current_allocator(void)
{
	SketchAllocator *a = palloc(sizeof(SketchAllocator));

	a->alloc = sketch_palloc;
	a->free = sketch_pfree;
	a->ctx = CurrentMemoryContext;
	return a;
}

/*
 * Raise the ERROR for a core failure.  format_code is the SQLSTATE for
 * malformed input on the path at hand (text, binary, stored).
 */
static void
sketch_raise(SketchError err, int format_code)
{
	const char *msg = sketch_error_message();

	switch (err)
	{
		case SKETCH_OK:
			return;
		case SKETCH_ERR_VALUE:
		case SKETCH_ERR_RANGE:
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("sketch value out of range: %s", msg),
					 errhint("A sketch accepts finite values from 0 to 1e15; NULLs are ignored.")));
			break;
		case SKETCH_ERR_COUNT:
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("sketch count out of range: %s", msg),
					 errhint("A sketch counts at most 9223372036854775807 values (the range of bigint); merge fewer sketches.")));
			break;
		case SKETCH_ERR_QUANTILE:
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("quantile must be between 0 and 1"),
					 errhint("Pass 0.5 for the median, 0.99 for the 99th percentile.")));
			break;
		case SKETCH_ERR_ALPHA:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("relative accuracy must be between %g and %g",
							SKETCH_MIN_ALPHA, SKETCH_MAX_ALPHA),
					 errhint("0.01 keeps every quantile within 1%% of the true value.")));
			break;
		case SKETCH_ERR_ALPHA_MISMATCH:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot merge sketches with different relative accuracy"),
					 errhint("Build every sketch that is merged together with the same relative_accuracy.")));
			break;
		case SKETCH_ERR_FORMAT:
			if (format_code == ERRCODE_DATA_CORRUPTED)
				ereport(ERROR,
						(errcode(format_code),
						 errmsg("stored sketch is corrupted"),
						 errdetail("The sketch is malformed: %s.", msg)));
			ereport(ERROR,
					(errcode(format_code),
					 errmsg("invalid sketch"),
					 errdetail("The sketch is malformed: %s.", msg)));
			break;
		case SKETCH_ERR_NOMEM:
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory building a sketch")));
			break;
	}
}

/* Decode a stored sketch into a state in the current memory context. */
static SketchState *
sketch_load(Datum datum)
{
	bytea	   *v = (bytea *) PG_DETOAST_DATUM(datum);
	SketchState *s = palloc(sizeof(SketchState));

	sketch_raise(sketch_decode((const uint8_t *) VARDATA_ANY(v),
							   VARSIZE_ANY_EXHDR(v), s,
							   sketch_current_allocator()),
				 ERRCODE_DATA_CORRUPTED);
	return s;
}

/* The canonical varlena of a state. */
static bytea *
sketch_store(const SketchState *s)
{
	size_t		len = sketch_encode(s, encode_buffer);
	bytea	   *result = palloc(VARHDRSZ + len);

	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), encode_buffer, len);
	return result;
}

/* The canonical varlena of sketch_agg's state (staged or not). */
static bytea *
sketch_store_staged(SketchState *s, SketchStage *st)
{
	size_t		len;
	bytea	   *result;

	sketch_raise(sketch_stage_encode(s, st, encode_buffer, &len), 0);
	result = palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), encode_buffer, len);
	return result;
}

/* ---------------- text input ---------------- */

typedef struct TextCursor
{
	const char *p;
	const char *input;
} TextCursor;

static void pg_attribute_noreturn()
text_fail(TextCursor *c, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type sketch: \"%s\"", c->input),
			 errdetail("%s", why),
			 errhint("Use the text form that sketch_out produces.")));
}

static void
text_expect(TextCursor *c, const char *literal)
{
	size_t		len = strlen(literal);

	if (strncmp(c->p, literal, len) != 0)
		text_fail(c, psprintf("Expected %s at offset %d.", literal,
							  (int) (c->p - c->input)));
	c->p += len;
}

static uint64
text_uint64(TextCursor *c)
{
	uint64		v = 0;
	const char *start = c->p;

	while (*c->p >= '0' && *c->p <= '9')
	{
		if (v > (PG_UINT64_MAX - 9) / 10)
			text_fail(c, "An integer is out of range.");
		v = v * 10 + (uint64) (*c->p - '0');
		c->p++;
	}
	if (c->p == start || (*start == '0' && c->p - start > 1))
		text_fail(c, "Expected an unsigned integer without leading zeros.");
	return v;
}

static int64
text_int64(TextCursor *c)
{
	bool		negative = (*c->p == '-');
	uint64		v;

	if (negative)
		c->p++;
	v = text_uint64(c);
	if (v > (uint64) PG_INT32_MAX + 1)
		text_fail(c, "A bucket index is out of range.");
	return negative ? -(int64) v : (int64) v;
}

/* A finite double in plain decimal or exponent notation. */
static double
text_double(TextCursor *c)
{
	const char *start = c->p;
	char	   *end;
	char	   *copy;
	double		v;

	while ((*c->p >= '0' && *c->p <= '9') || *c->p == '.' || *c->p == 'e' ||
		   *c->p == 'E' || *c->p == '-' || *c->p == '+')
		c->p++;
	if (c->p == start)
		text_fail(c, "Expected a number.");
	copy = pnstrdup(start, c->p - start);
	errno = 0;
	v = strtod(copy, &end);
	if (*end != '\0' || errno != 0 || !isfinite(v))
		text_fail(c, "A number is malformed or out of range.");
	return v;
}

static void
text_sum(TextCursor *c, SketchSum *sum)
{
	const char *start = c->p;

	while (*c->p != '"' && *c->p != '\0')
		c->p++;
	if (sketch_sum_parse(start, c->p - start, sum) != SKETCH_OK)
		text_fail(c, psprintf("The sum is malformed: %s.", sketch_error_message()));
}

/* Report a core error on text input as 22P02, keeping its reason. */
static void
text_check(TextCursor *c, SketchError err)
{
	if (err == SKETCH_OK)
		return;
	text_fail(c, psprintf("The sketch is malformed: %s.", sketch_error_message()));
}

PG_FUNCTION_INFO_V1(sketch_in);
Datum
sketch_in(PG_FUNCTION_ARGS)
{
	TextCursor	c;
	SketchState s;
	double		alpha;
	double		min;
	double		max;
	uint64		count;
	uint64		zeros;
	uint64		version;
	SketchSum	sum;

	c.input = PG_GETARG_CSTRING(0);
	c.p = c.input;
	text_expect(&c, "{\"v\":");
	version = text_uint64(&c);
	if (version != SKETCH_FORMAT_VERSION && version != SKETCH_FORMAT_V1)
		text_fail(&c, "Unsupported sketch format version.");
	text_expect(&c, ",\"alpha\":");
	alpha = text_double(&c);
	text_expect(&c, ",\"count\":");
	count = text_uint64(&c);
	text_expect(&c, ",\"zeros\":");
	zeros = text_uint64(&c);
	text_expect(&c, ",\"min\":");
	min = text_double(&c);
	text_expect(&c, ",\"max\":");
	max = text_double(&c);
	text_expect(&c, ",\"sum\":\"");
	text_sum(&c, &sum);
	text_expect(&c, "\",\"bins\":{");
	text_check(&c, sketch_build_begin(&s, alpha, count, zeros, min, max, &sum,
									  sketch_current_allocator()));
	if (*c.p != '}')
	{
		for (;;)
		{
			int64		index;

			text_expect(&c, "\"");
			index = text_int64(&c);
			text_expect(&c, "\":");
			text_check(&c, sketch_build_bucket(&s, index, text_uint64(&c)));
			if (*c.p != ',')
				break;
			c.p++;
		}
	}
	text_expect(&c, "}}");
	if (*c.p != '\0')
		text_fail(&c, "Unexpected characters after the sketch.");
	text_check(&c, sketch_build_finish(&s));
	PG_RETURN_BYTEA_P(sketch_store(&s));
}

/* ---------------- text output ---------------- */

static void
append_double(StringInfo buf, double d)
{
	char		tmp[DOUBLE_SHORTEST_DECIMAL_LEN];

	double_to_shortest_decimal_buf(d, tmp);
	appendStringInfoString(buf, tmp);
}

PG_FUNCTION_INFO_V1(sketch_out);
Datum
sketch_out(PG_FUNCTION_ARGS)
{
	SketchState *s = sketch_load(PG_GETARG_DATUM(0));
	StringInfoData buf;
	char		sum[SKETCH_SUM_TEXT_LEN];
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"v\":%d,\"alpha\":", SKETCH_FORMAT_VERSION);
	append_double(&buf, s->alpha);
	appendStringInfo(&buf, ",\"count\":" UINT64_FORMAT ",\"zeros\":" UINT64_FORMAT ",\"min\":",
					 s->count, s->zeros);
	append_double(&buf, s->min);
	appendStringInfoString(&buf, ",\"max\":");
	append_double(&buf, s->max);
	sketch_sum_format(&s->sum, sum);
	appendStringInfo(&buf, ",\"sum\":\"%s\",\"bins\":{", sum);
	for (int32 k = 0; k < s->nbuckets; k++)
	{
		appendStringInfo(&buf, "%s\"%d\":" UINT64_FORMAT, first ? "" : ",",
						 s->indexes[k], s->counts[k]);
		first = false;
	}
	appendStringInfoString(&buf, "}}");
	PG_RETURN_CSTRING(buf.data);
}

/* ---------------- binary I/O ---------------- */

/* Validate encoded bytes from the client; re-encode canonically. */
static bytea *
sketch_from_wire(const char *data, int len)
{
	SketchState s;

	sketch_raise(sketch_decode((const uint8_t *) data, len, &s,
							   sketch_current_allocator()),
				 ERRCODE_INVALID_BINARY_REPRESENTATION);
	return sketch_store(&s);
}

PG_FUNCTION_INFO_V1(sketch_recv);
Datum
sketch_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	const char *data = buf->data + buf->cursor;
	int			len = buf->len - buf->cursor;

	buf->cursor = buf->len;
	PG_RETURN_BYTEA_P(sketch_from_wire(data, len));
}

PG_FUNCTION_INFO_V1(sketch_send);
Datum
sketch_send(PG_FUNCTION_ARGS)
{
	bytea	   *v = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(sketch_to_bytea);
Datum
sketch_to_bytea(PG_FUNCTION_ARGS)
{
	/* the stored bytes are the binary format; validate them on the way */
	PG_RETURN_BYTEA_P(sketch_store(sketch_load(PG_GETARG_DATUM(0))));
}

PG_FUNCTION_INFO_V1(sketch_from_bytea);
Datum
sketch_from_bytea(PG_FUNCTION_ARGS)
{
	bytea	   *v = PG_GETARG_BYTEA_PP(0);

	PG_RETURN_BYTEA_P(sketch_from_wire(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v)));
}

/* ---------------- sketch_agg: internal dense state ---------------- */

static SketchAggState *
sketch_agg_new(MemoryContext aggcontext, double alpha)
{
	SketchAggState *st = MemoryContextAllocZero(aggcontext, sizeof(SketchAggState));

	st->allocator.alloc = sketch_palloc;
	st->allocator.free = sketch_pfree;
	st->allocator.ctx = aggcontext;
	sketch_raise(sketch_init(&st->sketch, alpha, &st->allocator), 0);
	sketch_stage_init(&st->stage);
	return st;
}

/*
 * The complete sketch of a state: staged buckets drained into it.  The
 * state changes form, not content (the same values, the same encoding), so
 * transitions may go on afterwards.  The final and serial functions encode
 * through sketch_store_staged, which leaves a state of one stage as it is.
 */
static SketchState *
sketch_agg_sketch(SketchAggState *st)
{
	sketch_raise(sketch_stage_drain(&st->sketch, &st->stage), 0);
	return &st->sketch;
}

static MemoryContext
sketch_agg_context(FunctionCallInfo fcinfo, const char *fname)
{
	MemoryContext aggcontext;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "%s called in non-aggregate context", fname);
	return aggcontext;
}

/* Shared by both transition functions: alpha is read at the first row. */
static Datum
sketch_agg_add(FunctionCallInfo fcinfo, double alpha)
{
	SketchAggState *st;

	/*
	 * The context check matters only when the state is created: SQL cannot
	 * pass a non-NULL internal value, so a later call is an aggregate's.
	 */
	if (PG_ARGISNULL(0))
		st = sketch_agg_new(sketch_agg_context(fcinfo, "sketch_agg"), alpha);
	else
	{
		st = (SketchAggState *) PG_GETARG_POINTER(0);
		if (st->sketch.alpha != alpha)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("relative accuracy changed within one sketch_agg group"),
					 errhint("Pass the same relative_accuracy for every row of a group.")));
	}
	sketch_raise(sketch_stage_add(&st->sketch, &st->stage, PG_GETARG_FLOAT8(1)), 0);
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(sketch_agg_trans);
Datum
sketch_agg_trans(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	if (PG_ARGISNULL(0))
		return sketch_agg_add(fcinfo, mr_sketch_relative_accuracy);
	return sketch_agg_add(fcinfo, ((SketchAggState *) PG_GETARG_POINTER(0))->sketch.alpha);
}

PG_FUNCTION_INFO_V1(sketch_agg_trans_alpha);
Datum
sketch_agg_trans_alpha(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relative accuracy must not be null"),
				 errhint("Pass a relative accuracy between 0.0001 and 0.1, or use sketch_agg(value).")));
	return sketch_agg_add(fcinfo, PG_GETARG_FLOAT8(2));
}

PG_FUNCTION_INFO_V1(sketch_agg_final);
Datum
sketch_agg_final(PG_FUNCTION_ARGS)
{
	SketchAggState *st;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = (SketchAggState *) PG_GETARG_POINTER(0);
	if (st->sketch.count == 0)
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(sketch_store_staged(&st->sketch, &st->stage));
}

PG_FUNCTION_INFO_V1(sketch_agg_combine);
Datum
sketch_agg_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext = sketch_agg_context(fcinfo, "sketch_agg_combine");
	SketchAggState *dst;
	SketchAggState *src;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	src = (SketchAggState *) PG_GETARG_POINTER(1);
	if (PG_ARGISNULL(0))
		dst = sketch_agg_new(aggcontext, src->sketch.alpha);
	else
		dst = (SketchAggState *) PG_GETARG_POINTER(0);
	sketch_raise(sketch_merge_into(sketch_agg_sketch(dst),
								   sketch_agg_sketch(src)), 0);
	PG_RETURN_POINTER(dst);
}

PG_FUNCTION_INFO_V1(sketch_agg_serial);
Datum
sketch_agg_serial(PG_FUNCTION_ARGS)
{
	SketchAggState *st = (SketchAggState *) PG_GETARG_POINTER(0);

	sketch_agg_context(fcinfo, "sketch_agg_serial");
	PG_RETURN_BYTEA_P(sketch_store_staged(&st->sketch, &st->stage));
}

PG_FUNCTION_INFO_V1(sketch_agg_deserial);
Datum
sketch_agg_deserial(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext = sketch_agg_context(fcinfo, "sketch_agg_deserial");
	bytea	   *v = PG_GETARG_BYTEA_PP(0);
	SketchAggState *st = MemoryContextAllocZero(aggcontext, sizeof(SketchAggState));

	st->allocator.alloc = sketch_palloc;
	st->allocator.free = sketch_pfree;
	st->allocator.ctx = aggcontext;
	sketch_raise(sketch_decode((const uint8_t *) VARDATA_ANY(v),
							   VARSIZE_ANY_EXHDR(v), &st->sketch, &st->allocator),
				 ERRCODE_DATA_CORRUPTED);
	sketch_stage_init(&st->stage);
	PG_RETURN_POINTER(st);
}

/* ---------------- sketch_agg: the sketch type as an expanded state ---------------- */

/*
 * The 1.0/1.1 functions above (STYPE internal) stay for installations not
 * yet updated to 1.2; from 1.2 on sketch_agg's STYPE is the sketch type,
 * so Citus can push it down (partial states cross as sketch_out's text)
 * and parallel workers hand over flat sketches.  The state reaches the
 * transition function as a read/write expanded pointer (nodeAgg keeps an
 * expanded object whose context is a child of the aggregate context), so
 * a row costs what it cost with the internal state: one staged add.
 */

/* Our expanded object behind a datum, or NULL when it is not one. */
static SketchExpanded *
sketch_expanded_of(Datum d, bool need_rw)
{
	ExpandedObjectHeader *eoh;

	if (!VARATT_IS_EXTERNAL_EXPANDED(DatumGetPointer(d)))
		return NULL;
	if (need_rw && !VARATT_IS_EXTERNAL_EXPANDED_RW(DatumGetPointer(d)))
		return NULL;
	eoh = DatumGetEOHP(d);
	if (eoh->eoh_methods != &sketch_expanded_methods)
		return NULL;
	return (SketchExpanded *) eoh;
}

/*
 * The context of every expanded state of one aggregate context: one child
 * of it, shared, found by name among its (few) children and gone with its
 * reset.  Not one context per state: nodeAgg's hash table sums its memory
 * over every child at each new group, which made 24k groups take seconds.
 * Sharing is safe because no caller deletes one state on its own: nodeAgg,
 * window aggregates and Citus delete a read/write state only when a
 * transition returns another datum, and ours return their read/write
 * argument itself (a flat argument yields a new state, the flat one is
 * freed).  nodeAgg keeps a state in place only when its context is a
 * direct child of the aggregate context, which this one is.
 */
#define SKETCH_STATES_CONTEXT "sketch_agg states"

static MemoryContext
sketch_states_context(MemoryContext aggcontext)
{
	for (MemoryContext c = aggcontext->firstchild; c != NULL; c = c->nextchild)
		if (strcmp(c->name, SKETCH_STATES_CONTEXT) == 0)
			return c;
	return AllocSetContextCreate(aggcontext, SKETCH_STATES_CONTEXT,
								 ALLOCSET_DEFAULT_SIZES);
}

/* An empty expanded state in the shared states context of aggcontext. */
static SketchExpanded *
sketch_expanded_alloc(MemoryContext aggcontext)
{
	MemoryContext cxt = sketch_states_context(aggcontext);
	SketchExpanded *x = MemoryContextAllocZero(cxt, sizeof(SketchExpanded));

	EOH_init_header(&x->hdr, &sketch_expanded_methods, cxt);
	x->agg.allocator.alloc = sketch_palloc;
	x->agg.allocator.free = sketch_pfree;
	x->agg.allocator.ctx = cxt;
	sketch_stage_init(&x->agg.stage);
	return x;
}

static SketchExpanded *
sketch_expanded_new(MemoryContext parent, double alpha)
{
	SketchExpanded *x = sketch_expanded_alloc(parent);

	sketch_raise(sketch_init(&x->agg.sketch, alpha, &x->agg.allocator), 0);
	return x;
}

/* An expanded copy of any sketch datum (flat, toasted or expanded). */
static SketchExpanded *
sketch_expanded_from(MemoryContext parent, Datum d)
{
	SketchExpanded *src = sketch_expanded_of(d, false);
	SketchExpanded *x = sketch_expanded_alloc(parent);

	if (src != NULL)
		sketch_raise(sketch_copy(&x->agg.sketch, sketch_agg_sketch(&src->agg),
								 &x->agg.allocator), 0);
	else
	{
		bytea	   *v = (bytea *) PG_DETOAST_DATUM(d);

		sketch_raise(sketch_decode((const uint8_t *) VARDATA_ANY(v),
								   VARSIZE_ANY_EXHDR(v), &x->agg.sketch,
								   &x->agg.allocator),
					 ERRCODE_DATA_CORRUPTED);
	}
	return x;
}

/* The encoding, computed once per change of the state. */
static void
sketch_expanded_encode(SketchExpanded *x)
{
	size_t		len;

	if (x->flat_len > 0)
		return;
	sketch_raise(sketch_stage_encode(&x->agg.sketch, &x->agg.stage,
									 encode_buffer, &len), 0);
	if (len > x->flat_cap)
	{
		if (x->flat != NULL)
			pfree(x->flat);
		x->flat = MemoryContextAlloc(x->hdr.eoh_context, len);
		x->flat_cap = len;
	}
	memcpy(x->flat, encode_buffer, len);
	x->flat_len = len;
}

static Size
sketch_expanded_flat_size(ExpandedObjectHeader *eohptr)
{
	SketchExpanded *x = (SketchExpanded *) eohptr;

	sketch_expanded_encode(x);
	return VARHDRSZ + x->flat_len;
}

static void
sketch_expanded_flatten(ExpandedObjectHeader *eohptr, void *result,
						Size allocated_size)
{
	SketchExpanded *x = (SketchExpanded *) eohptr;

	sketch_expanded_encode(x);
	if (allocated_size != VARHDRSZ + x->flat_len)
		elog(ERROR, "sketch flattened into %zu bytes, needs %zu",
			 (size_t) allocated_size, (size_t) (VARHDRSZ + x->flat_len));
	SET_VARSIZE(result, allocated_size);
	memcpy(VARDATA(result), x->flat, x->flat_len);
}

/*
 * The state to update in place: argument 0 itself when it is our
 * read/write expanded object, else (flat, e.g. copied by a caller that
 * flattened it) an expanded copy in the aggregate context.
 */
static SketchExpanded *
sketch_agg_state_arg(FunctionCallInfo fcinfo, const char *fname)
{
	SketchExpanded *x = sketch_expanded_of(PG_GETARG_DATUM(0), true);

	if (x != NULL)
		return x;
	return sketch_expanded_from(sketch_agg_context(fcinfo, fname),
								PG_GETARG_DATUM(0));
}

/*
 * Shared by both transition functions.  given: alpha is the call's (checked
 * against the state's); otherwise the setting's, read at the first row.
 */
static Datum
sketch_agg_state_add(FunctionCallInfo fcinfo, bool given, double alpha)
{
	SketchExpanded *x;

	if (PG_ARGISNULL(0))
		x = sketch_expanded_new(sketch_agg_context(fcinfo, "sketch_agg"),
								given ? alpha : mr_sketch_relative_accuracy);
	else
	{
		x = sketch_agg_state_arg(fcinfo, "sketch_agg");
		if (given && x->agg.sketch.alpha != alpha)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("relative accuracy changed within one sketch_agg group"),
					 errhint("Pass the same relative_accuracy for every row of a group.")));
	}
	x->flat_len = 0;
	sketch_raise(sketch_stage_add(&x->agg.sketch, &x->agg.stage,
								  PG_GETARG_FLOAT8(1)), 0);
	return EOHPGetRWDatum(&x->hdr);
}

PG_FUNCTION_INFO_V1(sketch_agg_state_trans);
Datum
sketch_agg_state_trans(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	return sketch_agg_state_add(fcinfo, false, 0.0);
}

PG_FUNCTION_INFO_V1(sketch_agg_state_trans_alpha);
Datum
sketch_agg_state_trans_alpha(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relative accuracy must not be null"),
				 errhint("Pass a relative accuracy between 0.0001 and 0.1, or use sketch_agg(value).")));
	return sketch_agg_state_add(fcinfo, true, PG_GETARG_FLOAT8(2));
}

/* The stored sketch: the state's encoding (a flat state is re-validated). */
PG_FUNCTION_INFO_V1(sketch_agg_state_final);
Datum
sketch_agg_state_final(PG_FUNCTION_ARGS)
{
	SketchExpanded *x;
	bytea	   *result;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	x = sketch_expanded_of(PG_GETARG_DATUM(0), false);
	if (x == NULL)
	{
		SketchState *s = sketch_load(PG_GETARG_DATUM(0));

		if (s->count == 0)
			PG_RETURN_NULL();
		PG_RETURN_BYTEA_P(sketch_store(s));
	}
	if (x->agg.sketch.count == 0)
		PG_RETURN_NULL();
	if (x->flat_len == 0)
		PG_RETURN_BYTEA_P(sketch_store_staged(&x->agg.sketch, &x->agg.stage));
	result = palloc(VARHDRSZ + x->flat_len);
	SET_VARSIZE(result, VARHDRSZ + x->flat_len);
	memcpy(VARDATA(result), x->flat, x->flat_len);
	PG_RETURN_BYTEA_P(result);
}

/*
 * Merge a partial state (flat from a parallel worker or Citus's text,
 * or expanded) into the state; NULL + s = s.
 */
PG_FUNCTION_INFO_V1(sketch_agg_state_combine);
Datum
sketch_agg_state_combine(PG_FUNCTION_ARGS)
{
	SketchExpanded *x;
	SketchExpanded *src;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	if (PG_ARGISNULL(0))
	{
		x = sketch_expanded_from(sketch_agg_context(fcinfo, "sketch_agg_combine"),
								 PG_GETARG_DATUM(1));
		return EOHPGetRWDatum(&x->hdr);
	}
	x = sketch_agg_state_arg(fcinfo, "sketch_agg_combine");
	x->flat_len = 0;
	src = sketch_expanded_of(PG_GETARG_DATUM(1), false);
	sketch_raise(sketch_merge_into(sketch_agg_sketch(&x->agg),
								   src != NULL ? sketch_agg_sketch(&src->agg)
								   : sketch_load(PG_GETARG_DATUM(1))), 0);
	return EOHPGetRWDatum(&x->hdr);
}

/* ---------------- functions on stored sketches ---------------- */

/* NULL + s = s; the aggregate sketch_merge uses it as SFUNC and COMBINEFUNC. */
PG_FUNCTION_INFO_V1(sketch_combine);
Datum
sketch_combine(PG_FUNCTION_ARGS)
{
	SketchState *a;
	SketchState *b;

	if (PG_ARGISNULL(0) && PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(0))
		PG_RETURN_BYTEA_P(sketch_store(sketch_load(PG_GETARG_DATUM(1))));
	a = sketch_load(PG_GETARG_DATUM(0));
	if (!PG_ARGISNULL(1))
	{
		b = sketch_load(PG_GETARG_DATUM(1));
		sketch_raise(sketch_merge_into(a, b), 0);
	}
	PG_RETURN_BYTEA_P(sketch_store(a));
}

/* A rule for one quantile of a state: disc (rank) or cont (interpolated). */
typedef SketchError (*SketchQuantileRule) (const SketchState *s, double q,
										   double *result);

static Datum
sketch_quantile_common(FunctionCallInfo fcinfo, SketchQuantileRule rule)
{
	SketchState *s = sketch_load(PG_GETARG_DATUM(0));
	double		q = PG_GETARG_FLOAT8(1);
	double		result;

	if (!(q >= 0.0 && q <= 1.0))
		sketch_raise(SKETCH_ERR_QUANTILE, 0);
	if (s->count == 0)
		PG_RETURN_NULL();
	sketch_raise(rule(s, q, &result), 0);
	PG_RETURN_FLOAT8(result);
}

/* One result per element of the array; NULL elements give NULL. */
static Datum
sketch_quantiles_common(FunctionCallInfo fcinfo, SketchQuantileRule rule)
{
	SketchState *s = sketch_load(PG_GETARG_DATUM(0));
	ArrayType  *qs = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			dims[1];
	int			lbs[1] = {1};

	deconstruct_array(qs, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL,
					  TYPALIGN_DOUBLE, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		double		q;
		double		result;

		if (nulls[i])
			continue;
		q = DatumGetFloat8(elems[i]);
		if (!(q >= 0.0 && q <= 1.0))
			sketch_raise(SKETCH_ERR_QUANTILE, 0);
		if (s->count == 0)
			nulls[i] = true;
		else
		{
			sketch_raise(rule(s, q, &result), 0);
			elems[i] = Float8GetDatum(result);
		}
	}
	dims[0] = n;
	if (n == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(FLOAT8OID));
	PG_RETURN_ARRAYTYPE_P(construct_md_array(elems, nulls, 1, dims, lbs,
											 FLOAT8OID, sizeof(float8),
											 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* The rank rule of percentile_disc. */
PG_FUNCTION_INFO_V1(sketch_quantile);
Datum
sketch_quantile(PG_FUNCTION_ARGS)
{
	return sketch_quantile_common(fcinfo, sketch_quantile_value);
}

PG_FUNCTION_INFO_V1(sketch_quantiles);
Datum
sketch_quantiles(PG_FUNCTION_ARGS)
{
	return sketch_quantiles_common(fcinfo, sketch_quantile_value);
}

/* The interpolation of percentile_cont. */
PG_FUNCTION_INFO_V1(sketch_percentile_cont);
Datum
sketch_percentile_cont(PG_FUNCTION_ARGS)
{
	return sketch_quantile_common(fcinfo, sketch_percentile_cont_value);
}

PG_FUNCTION_INFO_V1(sketch_percentiles_cont);
Datum
sketch_percentiles_cont(PG_FUNCTION_ARGS)
{
	return sketch_quantiles_common(fcinfo, sketch_percentile_cont_value);
}

PG_FUNCTION_INFO_V1(sketch_count);
Datum
sketch_count(PG_FUNCTION_ARGS)
{
	SketchState *s = sketch_load(PG_GETARG_DATUM(0));

	if (s->count > (uint64) PG_INT64_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("sketch count does not fit in bigint")));
	PG_RETURN_INT64((int64) s->count);
}

PG_FUNCTION_INFO_V1(sketch_sum);
Datum
sketch_sum(PG_FUNCTION_ARGS)
{
	SketchState *s = sketch_load(PG_GETARG_DATUM(0));

	if (s->count == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(sketch_sum_double(s));
}

PG_FUNCTION_INFO_V1(sketch_min);
Datum
sketch_min(PG_FUNCTION_ARGS)
{
	SketchState *s = sketch_load(PG_GETARG_DATUM(0));

	if (s->count == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(s->min);
}

PG_FUNCTION_INFO_V1(sketch_max);
Datum
sketch_max(PG_FUNCTION_ARGS)
{
	SketchState *s = sketch_load(PG_GETARG_DATUM(0));

	if (s->count == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(s->max);
}

PG_FUNCTION_INFO_V1(sketch_relative_accuracy);
Datum
sketch_relative_accuracy(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(sketch_load(PG_GETARG_DATUM(0))->alpha);
}
