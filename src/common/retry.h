/*-------------------------------------------------------------------------
 *
 * retry.h
 *	  What a delivery attempt's outcome means, and when to try again.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_RETRY_H
#define WEBHOOK_RETRY_H

typedef enum WhOutcome
{
	WH_OUTCOME_DELIVERED,		/* 2xx */
	WH_OUTCOME_GONE,			/* 410: disable the endpoint, keep the event */
	WH_OUTCOME_RETRY			/* anything else: try again later */
} WhOutcome;

/* Classify an attempt from its HTTP status (0 when no response arrived) */
extern WhOutcome wh_classify(long http_status);

/*
 * Delay in milliseconds before the next attempt, after "attempts" attempts
 * (1 or more) have failed, taken from schedule_ms[attempts - 1] with plus or
 * minus jitter (a fraction, 0.2 for 20%).  Returns -1 when the schedule is
 * exhausted: the event is dead.
 */
extern int64 wh_retry_delay_ms(const int64 *schedule_ms, int nschedule,
							   int attempts, double jitter);

/*
 * Parse a Retry-After header value: delay-seconds or an HTTP-date (IMF-fixdate,
 * RFC 850 or asctime form).  now is the current Unix time in seconds.
 * Returns the delay in milliseconds (0 for a date in the past), or -1 when
 * the value is not valid.  Never ereports; safe on any input.
 */
extern int64 wh_parse_retry_after(const char *value, int64 now);

#endif							/* WEBHOOK_RETRY_H */
