/* site_hours.c: a site's local clock windows (opening hours, calling hours) as pure functions of
 * the site record and an FSM time: no clock, no table, so every replica gets the same answer.
 *
 * A site's local time is FSM time (UTC ms, leader-stamped) + utc_offset_minutes. A window is a
 * pair of local minutes of the day [from, until), wrapping past midnight when from > until.
 *
 *   opening hours  [opens_at_minute, closes_at_minute): voicemail callbacks wait for the next
 *                  opening (closes == opens: the closing time is unknown, so the site is never
 *                  taken to be open now and a voicemail always waits for the next opening).
 *   calling hours  [calling_from_minute, calling_until_minute): a callback of the site is dialled
 *                  only inside them (from == until: no restriction). Issue 16 item 3.
 *
 * Invariants: site_hours_next(w, t) >= t; it is t exactly when t lies in the window (or there is
 * no window); otherwise it is the window's next start, less than one day after t. */
#include <assert.h>
#include <stdbool.h>

#include "state_internal.h"

#define DAY_MS (24ll * 3600 * 1000)

/* The local minute of the day at t and the UTC time of that local day's start. */
static int64_t local_day(int32_t offset_minutes, int64_t t, int64_t *day_start_utc)
{
	int64_t offset_ms = (int64_t)offset_minutes * 60000;
	int64_t local = t + offset_ms;
	int64_t day_start = local - ((local % DAY_MS) + DAY_MS) % DAY_MS;

	*day_start_utc = day_start - offset_ms;
	return (local - day_start) / 60000;
}

static bool in_window(int64_t minute, int32_t from, int32_t until)
{
	return from < until ? minute >= from && minute < until : minute >= from || minute < until;
}

/* The next start of the window at or after t (its local minute `from`), in UTC ms. */
static int64_t next_start(int32_t offset_minutes, int32_t from, int64_t t)
{
	int64_t day_start;

	(void)local_day(offset_minutes, t, &day_start);
	int64_t start = day_start + (int64_t)from * 60000;
	return start < t ? start + DAY_MS : start;
}

int64_t site_hours_next(int32_t offset_minutes, int32_t from, int32_t until, int64_t t)
{
	int64_t day_start;

	if (from == until || in_window(local_day(offset_minutes, t, &day_start), from, until))
		return t;
	int64_t next = next_start(offset_minutes, from, t);
	assert(next > t && next - t <= DAY_MS);
	return next;
}

int64_t site_opening_next(const Callraft__Site *s, int64_t t)
{
	int64_t day_start;

	if (s->closes_at_minute != s->opens_at_minute &&
	    in_window(local_day(s->utc_offset_minutes, t, &day_start), s->opens_at_minute,
		      s->closes_at_minute))
		return t;
	int64_t next = next_start(s->utc_offset_minutes, s->opens_at_minute, t);
	return next == t ? next + DAY_MS : next; /* closing unknown: the *next* opening */
}

int64_t site_calling_next(const Callraft__Site *s, int64_t t)
{
	return site_hours_next(s->utc_offset_minutes, s->calling_from_minute,
			       s->calling_until_minute, t);
}
