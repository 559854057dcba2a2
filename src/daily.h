/*-------------------------------------------------------------------------
 *
 * daily.h
 *	  The daily level: building metrics_rollup.daily_metrics (daily.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_DAILY_H
#define METRICS_ROLLUP_DAILY_H

/* What a build did. */
typedef struct DailyTotals
{
	int32		days;			/* (kind, day)s built */
	int64		rows;			/* daily rows written */
	int32		days_failed;	/* (kind, day)s set aside in rollup_failures */
	int			failure_sqlstate;	/* the first one's error */
	char		failure_message[256];
} DailyTotals;

/*
 * Build up to max_days queued (kind, UTC day)s that are ready (ended, no
 * dirty hour and no hole of the kind inside), oldest first, in the current
 * transaction; max_days <= 0 means all of them.  The caller holds the runner
 * lock and has SPI connected.  Takes SHARE on hourly_metrics (until the end
 * of the transaction) only when there is something to build.  Does nothing
 * on a 1.0 installation (no daily tables).  From 1.2 on every day runs in
 * a subtransaction: a day that fails with a data error is set aside in
 * rollup_failures (it stays queued, tried again after the others) and the
 * other days go on.  Adds to *totals; returns the number of days tried by
 * this call.
 */
extern int	daily_build(int max_days, DailyTotals *totals);
extern int	daily_read_kind_days(Datum **kinds, Datum **days);

#endif							/* METRICS_ROLLUP_DAILY_H */
