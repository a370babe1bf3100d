/*-------------------------------------------------------------------------
 *
 * retry.c
 *	  What a delivery attempt's outcome means, and when to try again.
 *
 * After every attempt the worker asks wh_classify() what the HTTP status
 * means: delivered, gone (the receiver asked us to stop: the endpoint is
 * disabled but its events are kept), or worth another try.  For another
 * try, wh_retry_delay_ms() picks the delay from the retry schedule, with
 * random jitter so that events that failed together do not all come back
 * together; when the receiver sent a Retry-After header,
 * wh_parse_retry_after() turns it into a delay the worker can honour.
 *
 * Nothing here touches the database, allocates or ereports: the functions
 * are called from the delivery loop, and the Retry-After parser reads bytes
 * chosen by a remote server, so it must be safe on any input.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/pg_prng.h"

#include "common/retry.h"

/*
 * The longest delay a Retry-After header can ask for: one year.  Larger
 * values, however written, are cut to this, which also keeps every
 * computation below far from overflow.
 */
#define WH_RETRY_AFTER_MAX_SECS		((int64) 365 * 24 * 60 * 60)

/* Seconds per day, and days from 0000-03-01 to 1970-01-01 */
#define WH_SECS_PER_DAY				((int64) 86400)
#define WH_EPOCH_SHIFT_DAYS			((int64) 719468)

/* A read position within [p, end) of the header value */
typedef struct WhCursor
{
	const char *p;
	const char *end;
} WhCursor;

static const char *const wh_day_names[] = {
	"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"
};

static const char *const wh_day_names_long[] = {
	"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
	"Sunday"
};

static const char *const wh_month_names[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};


/*
 * wh_classify
 *		Classify an attempt by its HTTP status.
 *
 * Only 2xx counts as delivered and only 410 Gone stops an endpoint; any
 * other status, and no response at all (0), is treated as temporary.
 */
WhOutcome
wh_classify(long http_status)
{
	if (http_status >= 200 && http_status <= 299)
		return WH_OUTCOME_DELIVERED;
	if (http_status == 410)
		return WH_OUTCOME_GONE;
	return WH_OUTCOME_RETRY;
}

/*
 * wh_retry_delay_ms
 *		Delay before the next attempt, from the schedule plus jitter.
 *
 * The jitter is uniform in [-jitter, +jitter] times the scheduled delay, so
 * that a burst of events that failed together spreads out when retried.
 * A jitter outside [0, 1] is clamped, and the result is never negative.
 */
int64
wh_retry_delay_ms(const int64 *schedule_ms, int nschedule, int attempts,
				  double jitter)
{
	double		base;
	double		delay;

	if (schedule_ms == NULL || nschedule <= 0 || attempts > nschedule)
		return -1;
	/* attempts must be at least 1; treat anything less as the first */
	if (attempts < 1)
		attempts = 1;

	base = (double) Max(schedule_ms[attempts - 1], 0);

	if (isnan(jitter) || jitter < 0.0)
		jitter = 0.0;
	else if (jitter > 1.0)
		jitter = 1.0;

	/* pg_prng_double() is uniform in [0, 1) */
	delay = base * (1.0 + jitter *
					(2.0 * pg_prng_double(&pg_global_prng_state) - 1.0));
	delay = rint(delay);

	if (delay <= 0.0)
		return 0;
	if (delay >= (double) PG_INT64_MAX)
		return PG_INT64_MAX;
	return (int64) delay;
}

/*
 * wh_days_from_civil
 *		Days from 1970-01-01 to the given proleptic Gregorian date.
 *
 * Counts in 400-year eras starting on March 1st, so that the leap day is
 * the last day of its year and needs no special case.
 */
static int64
wh_days_from_civil(int64 year, int month, int day)
{
	int64		era;
	int64		yoe;
	int64		doy;
	int64		doe;

	if (month <= 2)
		year--;
	era = (year >= 0 ? year : year - 399) / 400;
	yoe = year - era * 400;
	doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - WH_EPOCH_SHIFT_DAYS;
}

/*
 * wh_year_of
 *		The proleptic Gregorian year in which Unix time t falls.
 *
 * The inverse of wh_days_from_civil(), needed only to place the two-digit
 * years of RFC 850 dates.
 */
static int64
wh_year_of(int64 t)
{
	int64		days;
	int64		era;
	int64		doe;
	int64		yoe;
	int64		doy;
	int64		mp;

	days = t / WH_SECS_PER_DAY;
	if (t % WH_SECS_PER_DAY < 0)
		days--;
	days += WH_EPOCH_SHIFT_DAYS;

	era = (days >= 0 ? days : days - 146096) / 146097;
	doe = days - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;

	/* January and February belong to the next year in this reckoning */
	return yoe + era * 400 + (mp >= 10 ? 1 : 0);
}

static bool
wh_is_leap(int64 year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static bool
wh_is_ows(char c)
{
	/* HTTP optional whitespace, plus any line ending left on the value */
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * wh_cur_lit
 *		Consume the literal lit if the input continues with it.
 */
static bool
wh_cur_lit(WhCursor *c, const char *lit)
{
	size_t		len = strlen(lit);

	if ((size_t) (c->end - c->p) < len || memcmp(c->p, lit, len) != 0)
		return false;
	c->p += len;
	return true;
}

/*
 * wh_cur_digits
 *		Consume exactly n ASCII digits and return their value in *value.
 */
static bool
wh_cur_digits(WhCursor *c, int n, int *value)
{
	int			v = 0;
	int			i;

	if (c->end - c->p < n)
		return false;
	for (i = 0; i < n; i++)
	{
		if (c->p[i] < '0' || c->p[i] > '9')
			return false;
		v = v * 10 + (c->p[i] - '0');
	}
	c->p += n;
	*value = v;
	return true;
}

/*
 * wh_cur_name
 *		Consume one of the given names, setting *index to which.
 *
 * Matching is case-sensitive, as RFC 9110 defines HTTP-date.  No name in
 * any of our lists is a prefix of another, so the first match is the match.
 */
static bool
wh_cur_name(WhCursor *c, const char *const *names, int nnames, int *index)
{
	int			i;

	for (i = 0; i < nnames; i++)
	{
		if (wh_cur_lit(c, names[i]))
		{
			*index = i;
			return true;
		}
	}
	return false;
}

/*
 * wh_cur_time
 *		Consume "HH:MM:SS", checking the ranges, as seconds since midnight.
 *
 * A second of 60 is accepted for a leap second.
 */
static bool
wh_cur_time(WhCursor *c, int *secs)
{
	int			hour;
	int			minute;
	int			second;

	if (!wh_cur_digits(c, 2, &hour) || !wh_cur_lit(c, ":") ||
		!wh_cur_digits(c, 2, &minute) || !wh_cur_lit(c, ":") ||
		!wh_cur_digits(c, 2, &second))
		return false;
	if (hour > 23 || minute > 59 || second > 60)
		return false;
	*secs = hour * 3600 + minute * 60 + second;
	return true;
}

/*
 * wh_make_time
 *		Unix time of a date and time of day, or false if the date is not real.
 *
 * month is 0-based, as the index into wh_month_names.
 */
static bool
wh_make_time(int64 year, int month, int day, int secs, int64 *result)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			maxday;

	if (month < 0 || month > 11 || day < 1)
		return false;
	maxday = mdays[month] + ((month == 1 && wh_is_leap(year)) ? 1 : 0);
	if (day > maxday)
		return false;

	*result = wh_days_from_civil(year, month + 1, day) * WH_SECS_PER_DAY + secs;
	return true;
}

/*
 * wh_parse_imf_fixdate
 *		"Sun, 06 Nov 1994 08:49:37 GMT", the form HTTP senders must use.
 */
static bool
wh_parse_imf_fixdate(WhCursor c, int64 *result)
{
	int			wday;
	int			day;
	int			month;
	int			year;
	int			secs;

	if (!wh_cur_name(&c, wh_day_names, lengthof(wh_day_names), &wday) ||
		!wh_cur_lit(&c, ", ") ||
		!wh_cur_digits(&c, 2, &day) || !wh_cur_lit(&c, " ") ||
		!wh_cur_name(&c, wh_month_names, lengthof(wh_month_names), &month) ||
		!wh_cur_lit(&c, " ") ||
		!wh_cur_digits(&c, 4, &year) || !wh_cur_lit(&c, " ") ||
		!wh_cur_time(&c, &secs) ||
		!wh_cur_lit(&c, " GMT") ||
		c.p != c.end)
		return false;

	return wh_make_time(year, month, day, secs, result);
}

/*
 * wh_parse_rfc850_date
 *		"Sunday, 06-Nov-94 08:49:37 GMT", the obsolete RFC 850 form.
 *
 * RFC 9110 has a two-digit year read as the latest year with those digits
 * that is no more than 50 years after now.
 */
static bool
wh_parse_rfc850_date(WhCursor c, int64 now, int64 *result)
{
	int			wday;
	int			day;
	int			month;
	int			yy;
	int			secs;
	int64		limit;
	int64		year;

	if (!wh_cur_name(&c, wh_day_names_long, lengthof(wh_day_names_long),
					 &wday) ||
		!wh_cur_lit(&c, ", ") ||
		!wh_cur_digits(&c, 2, &day) || !wh_cur_lit(&c, "-") ||
		!wh_cur_name(&c, wh_month_names, lengthof(wh_month_names), &month) ||
		!wh_cur_lit(&c, "-") ||
		!wh_cur_digits(&c, 2, &yy) || !wh_cur_lit(&c, " ") ||
		!wh_cur_time(&c, &secs) ||
		!wh_cur_lit(&c, " GMT") ||
		c.p != c.end)
		return false;

	/* a clock outside years 0 to 9999 is nonsense; keep the sums small */
	limit = wh_year_of(now);
	limit = Max(limit, 0);
	limit = Min(limit, 9999) + 50;
	year = limit - (((limit - yy) % 100) + 100) % 100;

	return wh_make_time(year, month, day, secs, result);
}

/*
 * wh_parse_asctime_date
 *		"Sun Nov  6 08:49:37 1994", C's asctime() form.
 *
 * The day of the month is two digits or a space and one digit.
 */
static bool
wh_parse_asctime_date(WhCursor c, int64 *result)
{
	int			wday;
	int			day;
	int			month;
	int			year;
	int			secs;

	if (!wh_cur_name(&c, wh_day_names, lengthof(wh_day_names), &wday) ||
		!wh_cur_lit(&c, " ") ||
		!wh_cur_name(&c, wh_month_names, lengthof(wh_month_names), &month) ||
		!wh_cur_lit(&c, " "))
		return false;
	if (wh_cur_lit(&c, " "))
	{
		if (!wh_cur_digits(&c, 1, &day))
			return false;
	}
	else if (!wh_cur_digits(&c, 2, &day))
		return false;
	if (!wh_cur_lit(&c, " ") ||
		!wh_cur_time(&c, &secs) || !wh_cur_lit(&c, " ") ||
		!wh_cur_digits(&c, 4, &year) ||
		c.p != c.end)
		return false;

	return wh_make_time(year, month, day, secs, result);
}

/*
 * wh_parse_retry_after
 *		Turn a Retry-After header value into a delay in milliseconds.
 *
 * The value comes from the receiver, so it is parsed strictly, by hand (no
 * locale, no libc date functions) and without reading past the NUL.  The
 * weekday name of a date must be a real one but need not match the date.
 * Delays, whether given in seconds or as a date, are capped at one year.
 */
int64
wh_parse_retry_after(const char *value, int64 now)
{
	WhCursor	c;
	int64		when;

	if (value == NULL)
		return -1;

	c.p = value;
	c.end = value + strlen(value);
	while (c.p < c.end && wh_is_ows(*c.p))
		c.p++;
	while (c.end > c.p && wh_is_ows(c.end[-1]))
		c.end--;
	if (c.p == c.end)
		return -1;

	/* delay-seconds: 1*DIGIT */
	if (*c.p >= '0' && *c.p <= '9')
	{
		const char *q;
		int64		secs = 0;

		for (q = c.p; q < c.end; q++)
		{
			if (*q < '0' || *q > '9')
				return -1;
			if (secs < WH_RETRY_AFTER_MAX_SECS)
				secs = secs * 10 + (*q - '0');
		}
		return Min(secs, WH_RETRY_AFTER_MAX_SECS) * 1000;
	}

	/* HTTP-date, in any of its three forms */
	if (!wh_parse_imf_fixdate(c, &when) &&
		!wh_parse_rfc850_date(c, now, &when) &&
		!wh_parse_asctime_date(c, &when))
		return -1;

	/* when lies within years -50 to 10049, so these cannot overflow */
	if (when <= now)
		return 0;
	if (now < when - WH_RETRY_AFTER_MAX_SECS)
		return WH_RETRY_AFTER_MAX_SECS * 1000;
	return (when - now) * 1000;
}
