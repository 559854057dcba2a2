/*-------------------------------------------------------------------------
 *
 * cleanup_archive.h
 *	  Cleanup's fast archive of rolled-up, clean groups (cleanup_archive.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_CLEANUP_ARCHIVE_H
#define METRICS_ROLLUP_CLEANUP_ARCHIVE_H

#include "datatype/timestamp.h"

/*
 * Does the installed SQL support the fast archive (its DELETE trigger asks
 * cleanup_archive_suppressed())?  False for a 1.0 installation.  Inside a
 * transaction.
 */
extern bool cleanup_archive_available(void);

/*
 * Delete every raw row of hour of the groups (kinds[i], ids[i]) that are
 * still rolled up and clean, setting their hourly rows' archived to the
 * rows' own summary.  Returns the rows deleted, or -1 when it had to undo
 * its work (a raw row of the groups was updated concurrently): the caller
 * then deletes them the ordinary way.  Needs SPI and a transaction.
 */
extern int64 cleanup_archive_batch(TimestampTz hour, Datum *kinds, Datum *ids,
								   int n);

#endif							/* METRICS_ROLLUP_CLEANUP_ARCHIVE_H */
