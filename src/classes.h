/*-------------------------------------------------------------------------
 *
 * classes.h
 *	  Hot/cold classes of entities: live use plus declared (known) entities.
 *
 * classes.c ranks; poll.c calls classes_compute() in its classification
 * pass, the SQL functions classify() and classification_info() call it
 * for their answers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_CLASSES_H
#define METRICS_ROLLUP_CLASSES_H

#include "datatype/timestamp.h"

/* One entity of the universe, in rank order once computed. */
typedef struct ClassItem
{
	char	   *kind;
	char	   *id;
	TimestampTz last_seen;		/* 0: never used (declared only) */
	uint64		use_count;		/* 0: never used */
	bool		declared;		/* in known_entities or entity_ids */
	bool		hot;
} ClassItem;

/* A classification: the ranked universe and its figures. */
typedef struct ClassResult
{
	ClassItem  *items;			/* n items, best rank first */
	int			n;				/* N: declared and used entities */
	int			declared;		/* of which declared (distinct) */
	int			eligible;		/* used at least once */
	int			cap;			/* floor(hot_fraction x N) */
	int			hot;			/* min(cap, eligible) */
	double		fraction;
} ClassResult;

/*
 * Classify kind's entities (every kind when NULL): the live ones plus the
 * declared ones, which are ids[0..nids) when ids != NULL, else the rows of
 * metrics_rollup.known_entities (read through SPI with the caller's
 * rights).  fraction must be within [0, 1].
 */
extern void classes_compute(const char *kind, double fraction,
							char **ids, int nids, ClassResult *r);

#endif							/* METRICS_ROLLUP_CLASSES_H */
