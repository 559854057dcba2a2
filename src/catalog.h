/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  The extension's names in the database, in one place.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MR_CATALOG_H
#define MR_CATALOG_H

#include "buffer.h"

/* The schema every object lives in (the extension is not relocatable). */
#define MR_SCHEMA "metrics_rollup"

/* Tables the C code looks up by OID (catalog_relid). */
typedef enum CatalogRel
{
	CATALOG_RAW_METRICS,
	CATALOG_JOB_RUNS,
	CATALOG_ROLLUP_DIRTY,
	CATALOG_DAILY_QUEUE,
	CATALOG_ROLLUP_FAILURES,
	CATALOG_REL_COUNT
} CatalogRel;

/*
 * raw_metrics' columns as the C code writes them, in this order: the binary
 * COPY tuples of buffer.c, the direct INSERT of ingest.c and the dead
 * letters of flush.c.  Added columns take their defaults.
 */
#define CATALOG_RAW_NCOLUMNS 7
#define CATALOG_RAW_COLUMNS \
	"kind, entity_id, entity_name, recorded_at, response_time, success, error_message"
extern const Oid catalog_raw_types[CATALOG_RAW_NCOLUMNS];

extern Oid	catalog_relid(CatalogRel rel);
/* Is the extension installed in the current database?  Inside a transaction. */
extern bool catalog_extension_ready(void);

/*
 * Are the 1.1 objects installed (rather than 1.0's, which this library also
 * serves until ALTER EXTENSION UPDATE)?  Inside a transaction.
 */
extern bool catalog_schema_1_1(void);

/*
 * Are the 1.2 objects installed (append-only dirty marks, rollup_failures)?
 * Inside a transaction.
 */
extern bool catalog_schema_1_2(void);
extern List *catalog_raw_column_names(void);
extern void catalog_raw_datums(const BufferEvent *ev, Datum *values, char *nulls);
extern void catalog_spi_check(int rc, int expected, const char *what);

#endif							/* MR_CATALOG_H */
