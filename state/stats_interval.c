/* stats_interval.c: stats over intervals, from committed state: today (by the site's local day),
 * the last 15 and 60 minutes, and one line per local day for 90 days.
 *
 * Apply counts every event twice: in the lifetime counters of stats.c and here, in buckets of the
 * table stats_interval, in the same transaction as the change it counts. Keys:
 *   'p' queue '\0' arrival site    the calls of a queue that arrived at a site ("" for none)
 *   't' ticket class '\0' site     the tickets of a class opened from a call of a site ("" none)
 * A record (StatsSeries) holds one bucket per minute (at = FSM ms / 60000) for the last
 * CALLRAFT_STATS_MINUTES minutes and one per local day of its site (at = days since 1970-01-01 in
 * local time: FSM ms + the site's utc_offset_minutes, divided by a day) for CALLRAFT_STATS_DAYS
 * days. The time is the entry's leader-stamped FSM time (never a local clock), and the site's
 * offset is in the replicated sites table, so every replica fills the same buckets.
 *
 * Invariants (stats_iv_check):
 *   1. A record's minute buckets, and its day buckets, are in strictly increasing order of `at`.
 *   2. At most CALLRAFT_STATS_MINUTES minute buckets, all within CALLRAFT_STATS_MINUTES minutes of
 *      the newest; at most CALLRAFT_STATS_DAYS day buckets, likewise in days. A bucket falls off
 *      when a newer one is written (the trim), so storage is bounded whatever the traffic: per
 *      record at most 150 buckets, and records are (queues x sites) + (classes x sites).
 *
 * Reads (stats_iv_fill) sum the buckets of a scope that fall in the interval at the read's FSM
 * time (meta.time): a bucket older than the window is simply not counted, so windows roll even
 * when nothing is applied. Cost: one prefix range (queue, ticket class) or one pass over the
 * table's call records (site): O(records x buckets), independent of how many calls wait.
 *
 * Windows:
 *   15m / 60m   the minute buckets at > now_minute - 15 (60): the current, partial minute and the
 *               14 (59) minutes before it; from_ms is the start of the first of them.
 *   today       the day bucket of each record whose `at` is its site's local day at now (a queue
 *               with callers of two sites counts each site's today).
 *   days        the day buckets within CALLRAFT_STATS_DAYS days of each site's today, merged by
 *               local date, oldest first.
 * A site whose utc offset changes keeps the day numbers its buckets were written with. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_internal.h"

#define IV_KEY_BYTES_MAX (1 + CALLRAFT_QUEUE_BYTES_MAX + 1 + CALLRAFT_SITE_BYTES_MAX)
#define MINUTE_MS 60000ll
#define DAY_MS (24ll * 3600 * 1000)

_Static_assert(CALLRAFT_SITE_BYTES_MAX <= CALLRAFT_QUEUE_BYTES_MAX + CALLRAFT_SITE_BYTES_MAX,
	       "a ticket class key fits the key buffer");

static int64_t floor_div(int64_t a, int64_t b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static size_t iv_key(uint8_t out[IV_KEY_BYTES_MAX], char kind, const char *name, const char *site)
{
	size_t n = strlen(name), m = strlen(site);

	out[0] = (uint8_t)kind;
	memcpy(out + 1, name, n);
	out[1 + n] = '\0';
	memcpy(out + 2 + n, site, m);
	return 2 + n + m;
}

/* The UTC offset of a site in minutes (0 for "" or a site never configured). */
static int site_offset_minutes(struct state *s, MDB_txn *txn, const char *site, int32_t *out,
			       char *errmsg, size_t errmsg_len)
{
	Callraft__Site *rec;
	int rc;

	*out = 0;
	if (site[0] == '\0')
		return 0;
	rc = store_get(s, txn, DB_SITES, site, strlen(site), &callraft__site__descriptor,
		       (ProtobufCMessage **)&rec, "site", site, errmsg, errmsg_len);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		*out = rec->utc_offset_minutes;
		callraft__site__free_unpacked(rec, NULL);
	}
	return 0;
}

static int64_t local_day(int64_t now_ms, int32_t offset_minutes)
{
	return floor_div(now_ms + (int64_t)offset_minutes * MINUTE_MS, DAY_MS);
}

/* ---- apply: the buckets ------------------------------------------------------------------ */

/* One ring of buckets, copied out of a record so apply can edit it (at most keep + 1 entries). */
struct ring {
	Callraft__StatsBucket b[CALLRAFT_STATS_DAYS + 1];
	Callraft__StatsBucket *p[CALLRAFT_STATS_DAYS + 1];
	size_t n;
};

_Static_assert(CALLRAFT_STATS_MINUTES <= CALLRAFT_STATS_DAYS, "a ring holds either kind");

static void ring_load(struct ring *r, Callraft__StatsBucket **src, size_t n)
{
	r->n = 0;
	for (size_t i = 0; i < n && r->n < CALLRAFT_STATS_DAYS; i++) {
		r->b[r->n] = *src[i];
		r->p[r->n] = &r->b[r->n];
		r->n++;
	}
}

/* The bucket `at` of the ring (inserted in order if absent), after dropping those more than
 * `keep` older than the newest. Returns NULL when `at` itself is too old to keep. */
static Callraft__StatsBucket *ring_at(struct ring *r, int64_t at, int64_t keep)
{
	size_t i = 0;

	while (i < r->n && r->b[i].at < at)
		i++;
	if (i == r->n || r->b[i].at != at) {
		memmove(&r->b[i + 1], &r->b[i], (r->n - i) * sizeof r->b[0]);
		r->b[i] = (Callraft__StatsBucket)CALLRAFT__STATS_BUCKET__INIT;
		r->b[i].at = at;
		r->n++;
	}
	int64_t newest = r->b[r->n - 1].at;
	size_t drop = 0;
	while (drop < r->n && r->b[drop].at <= newest - keep)
		drop++;
	memmove(&r->b[0], &r->b[drop], (r->n - drop) * sizeof r->b[0]);
	r->n -= drop;
	for (size_t j = 0; j < r->n; j++)
		r->p[j] = &r->b[j];
	if (i < drop)
		return NULL;
	return &r->b[i - drop];
}

struct iv_event {
	enum { IV_CALL, IV_TICKET } kind;
	enum stats_event call_ev;
	enum stats_ticket_event ticket_ev;
	int64_t wait_ms, sl_ms;
	bool in_target;
};

static void bucket_count(Callraft__StatsBucket *b, const struct iv_event *e)
{
	if (b == NULL)
		return;
	if (e->kind == IV_TICKET) {
		if (e->ticket_ev == STATS_TICKET_OPENED)
			b->tickets_opened++;
		else {
			b->tickets_closed++;
			b->tickets_closed_in_target += e->in_target;
		}
		return;
	}
	switch (e->call_ev) {
	case STATS_ENTER:
		b->entered++;
		break;
	case STATS_ANSWER:
		b->answered++;
		b->answered_in_sl += e->wait_ms <= e->sl_ms;
		b->wait_answered_ms += (uint64_t)e->wait_ms;
		break;
	case STATS_ABANDON:
		b->abandoned++;
		b->abandoned_short += e->wait_ms < CALLRAFT_SHORT_ABANDON_MS;
		break;
	case STATS_CALLBACK:
		b->callbacks++;
		break;
	}
}

static int iv_count(struct apply_ctx *c, char kind, const char *name, const char *site,
		    const struct iv_event *e)
{
	uint8_t key[IV_KEY_BYTES_MAX];
	size_t key_len = iv_key(key, kind, name, site);
	Callraft__StatsSeries *rec = NULL, out = CALLRAFT__STATS_SERIES__INIT;
	struct ring *mins = malloc(sizeof *mins), *days = malloc(sizeof *days);
	int32_t offset;
	int rc = -1;

	if (mins == NULL || days == NULL) {
		snprintf(c->errmsg, c->errmsg_len, "state: stats '%s': out of memory", name);
		goto out;
	}
	if (site_offset_minutes(c->s, c->txn, site, &offset, c->errmsg, c->errmsg_len) != 0)
		goto out;
	rc = store_get(c->s, c->txn, DB_STATS_IV, key, key_len, &callraft__stats_series__descriptor,
		       (ProtobufCMessage **)&rec, "stats interval", name, c->errmsg, c->errmsg_len);
	if (rc < 0)
		goto out;
	if (rc == 1)
		rec = NULL;
	ring_load(mins, rec ? rec->minutes : NULL, rec ? rec->n_minutes : 0);
	ring_load(days, rec ? rec->days : NULL, rec ? rec->n_days : 0);
	bucket_count(ring_at(mins, floor_div(c->now_ms, MINUTE_MS), CALLRAFT_STATS_MINUTES), e);
	bucket_count(ring_at(days, local_day(c->now_ms, offset), CALLRAFT_STATS_DAYS), e);
	out.minutes = mins->p;
	out.n_minutes = mins->n;
	out.days = days->p;
	out.n_days = days->n;
	rc = store_put(c->s, c->txn, DB_STATS_IV, key, key_len, &out.base, "stats interval", name,
		       c->errmsg, c->errmsg_len);
out:
	if (rec != NULL)
		callraft__stats_series__free_unpacked(rec, NULL);
	free(mins);
	free(days);
	return rc;
}

int stats_iv_call(struct apply_ctx *c, const Callraft__Call *call, enum stats_event ev,
		  int64_t wait_ms, int64_t sl_ms)
{
	struct iv_event e = {.kind = IV_CALL, .call_ev = ev, .wait_ms = wait_ms, .sl_ms = sl_ms};

	return iv_count(c, 'p', call->queue, call->arrival_site, &e);
}

int stats_iv_ticket(struct apply_ctx *c, const Callraft__Ticket *t, enum stats_ticket_event ev)
{
	struct iv_event e = {.kind = IV_TICKET, .ticket_ev = ev, .in_target = c->now_ms <= t->target_ms};

	return iv_count(c, 't', t->ticket_class, t->site, &e);
}

/* ---- the read ---------------------------------------------------------------------------- */

void stats_derive(Callraft__Stats *st, int64_t sl_ms, bool tickets)
{
	uint64_t missed = st->abandoned - st->abandoned_short;
	uint64_t offered = st->answered + missed;

	st->offered = st->entered;
	if (tickets) { /* a ticket class: closed by the class's target over closed */
		st->service_level = st->tickets_closed > 0 ? (double)st->tickets_closed_in_target /
								 (double)st->tickets_closed
							   : 0;
		return;
	}
	st->service_level_ms = sl_ms;
	st->service_level = offered > 0 ? (double)st->answered_in_sl / (double)offered : 0;
	st->asa_ms = st->answered > 0 ? (int64_t)(st->wait_answered_ms / st->answered) : 0;
	st->abandon_rate = offered > 0 ? (double)missed / (double)offered : 0;
}


enum iv_window { IV_TODAY, IV_MINUTES, IV_DAYS };

struct iv_read {
	struct state *s;
	MDB_txn *txn;
	int64_t now_ms;
	enum iv_window window;
	int64_t minutes;                       /* IV_MINUTES: 15 or 60 */
	Callraft__StatsBucket sum;             /* the interval's counts */
	Callraft__StatsBucket day[CALLRAFT_STATS_DAYS]; /* IV_DAYS: by days before the newest today */
	int64_t newest_day;                    /* IV_DAYS: the latest local today among records */
	bool any_day;
	int64_t from_ms;                       /* earliest start counted (0: none yet) */
};

static void bucket_add(Callraft__StatsBucket *to, const Callraft__StatsBucket *b)
{
	to->entered += b->entered;
	to->answered += b->answered;
	to->answered_in_sl += b->answered_in_sl;
	to->abandoned += b->abandoned;
	to->abandoned_short += b->abandoned_short;
	to->wait_answered_ms += b->wait_answered_ms;
	to->callbacks += b->callbacks;
	to->tickets_opened += b->tickets_opened;
	to->tickets_closed += b->tickets_closed;
	to->tickets_closed_in_target += b->tickets_closed_in_target;
}

static void from_at_least(struct iv_read *r, int64_t from_ms)
{
	if (r->from_ms == 0 || from_ms < r->from_ms)
		r->from_ms = from_ms;
}

/* Adds one record (its site's offset given) to the read. */
static void iv_add_record(struct iv_read *r, const Callraft__StatsSeries *rec, int32_t offset)
{
	int64_t today = local_day(r->now_ms, offset);

	if (r->window == IV_MINUTES) {
		int64_t now_min = floor_div(r->now_ms, MINUTE_MS);
		for (size_t i = 0; i < rec->n_minutes; i++)
			if (rec->minutes[i]->at > now_min - r->minutes && rec->minutes[i]->at <= now_min)
				bucket_add(&r->sum, rec->minutes[i]);
		return;
	}
	if (r->window == IV_TODAY) {
		for (size_t i = 0; i < rec->n_days; i++)
			if (rec->days[i]->at == today)
				bucket_add(&r->sum, rec->days[i]);
		from_at_least(r, today * DAY_MS - (int64_t)offset * MINUTE_MS);
		return;
	}
	/* IV_DAYS: slot = days before the newest today seen; records are merged by local date, so
	 * a later record with a later today shifts what earlier ones put in. */
	if (!r->any_day || today > r->newest_day) {
		int64_t shift = r->any_day ? today - r->newest_day : 0;
		Callraft__StatsBucket old[CALLRAFT_STATS_DAYS];
		memcpy(old, r->day, sizeof old);
		for (int i = 0; i < CALLRAFT_STATS_DAYS; i++) {
			r->day[i] = (Callraft__StatsBucket)CALLRAFT__STATS_BUCKET__INIT;
			if (i - shift >= 0)
				r->day[i] = old[i - shift];
		}
		r->newest_day = today;
		r->any_day = true;
	}
	for (size_t i = 0; i < rec->n_days; i++) {
		int64_t ago = r->newest_day - rec->days[i]->at;
		if (rec->days[i]->at > today - CALLRAFT_STATS_DAYS && rec->days[i]->at <= today &&
		    ago >= 0 && ago < CALLRAFT_STATS_DAYS) {
			bucket_add(&r->day[ago], rec->days[i]);
			bucket_add(&r->sum, rec->days[i]);
		}
	}
	from_at_least(r, (today - CALLRAFT_STATS_DAYS + 1) * DAY_MS - (int64_t)offset * MINUTE_MS);
}

/* Reads every record of `kind` whose name is `name` (or, kind 'p' with name NULL, every call
 * record of arrival site `site`) into the read. */
static int iv_scan(struct iv_read *r, char kind, const char *name, const char *site)
{
	uint8_t prefix[IV_KEY_BYTES_MAX];
	size_t plen = name != NULL ? iv_key(prefix, kind, name, "") : 1;
	MDB_cursor *cur;
	MDB_val k = {plen, prefix}, v;
	char err[128];
	int rc;

	prefix[0] = (uint8_t)kind;
	if (mdb_cursor_open(r->txn, r->s->dbi[DB_STATS_IV], &cur) != 0)
		return -1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *kb = k.mv_data;
		if (k.mv_size < plen || memcmp(kb, prefix, plen) != 0)
			break;
		const char *nul = memchr(kb + 1, '\0', k.mv_size - 1);
		if (nul == NULL) {
			rc = MDB_CORRUPTED;
			break;
		}
		char rec_site[CALLRAFT_SITE_BYTES_MAX + 1];
		size_t slen = k.mv_size - (size_t)(nul + 1 - kb);
		if (slen > CALLRAFT_SITE_BYTES_MAX) {
			rc = MDB_CORRUPTED;
			break;
		}
		memcpy(rec_site, nul + 1, slen);
		rec_site[slen] = '\0';
		if (site != NULL && strcmp(site, rec_site) != 0)
			continue;
		Callraft__StatsSeries *rec =
		    callraft__stats_series__unpack(NULL, v.mv_size, v.mv_data);
		int32_t offset;
		if (rec == NULL) {
			rc = MDB_CORRUPTED;
			break;
		}
		if (site_offset_minutes(r->s, r->txn, rec_site, &offset, err, sizeof err) != 0) {
			callraft__stats_series__free_unpacked(rec, NULL);
			rc = -1;
			break;
		}
		iv_add_record(r, rec, offset);
		callraft__stats_series__free_unpacked(rec, NULL);
	}
	mdb_cursor_close(cur);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : -1;
}

/* Copies the counts of b into st (and offered = entered). */
static void counts_to_stats(Callraft__Stats *st, const Callraft__StatsBucket *b)
{
	st->entered = b->entered;
	st->offered = b->entered;
	st->answered = b->answered;
	st->answered_in_sl = b->answered_in_sl;
	st->abandoned = b->abandoned;
	st->abandoned_short = b->abandoned_short;
	st->wait_answered_ms = b->wait_answered_ms;
	st->callbacks = b->callbacks;
	st->tickets_opened = b->tickets_opened;
	st->tickets_closed = b->tickets_closed;
	st->tickets_closed_in_target = b->tickets_closed_in_target;
}

/* YYYY-MM-DD of a day number (days since 1970-01-01), by Howard Hinnant's civil_from_days. */
static void day_date(int64_t z, char out[16])
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;

	snprintf(out, 16, "%04lld-%02lld-%02lld", (long long)(y + (m <= 2)), (long long)m,
		 (long long)d);
}

/* st->days: one Stats per day with counts, oldest first (malloc'd: freed with st, which must be
 * an unpacked message). */
static int iv_days_out(struct iv_read *r, Callraft__Stats *st, int64_t sl_ms)
{
	if (!r->any_day)
		return 0;
	st->days = calloc(CALLRAFT_STATS_DAYS, sizeof *st->days);
	if (st->days == NULL)
		return -1;
	for (int ago = CALLRAFT_STATS_DAYS - 1; ago >= 0; ago--) {
		const Callraft__StatsBucket *b = &r->day[ago];
		if (b->entered + b->answered + b->abandoned + b->callbacks + b->tickets_opened +
			b->tickets_closed ==
		    0)
			continue;
		char date[16];
		day_date(r->newest_day - ago, date);
		Callraft__Stats *d = callraft__stats__unpack(NULL, 0, (const uint8_t *)"");
		if (d == NULL)
			return -1;
		st->days[st->n_days++] = d;
		d->scope = strdup("day");
		d->name = strdup(date);
		if (d->scope == NULL || d->name == NULL)
			return -1;
		counts_to_stats(d, b);
		stats_derive(d, sl_ms, false);
	}
	return 0;
}

int stats_iv_fill(struct state *s, MDB_txn *txn, int64_t now_ms, Callraft__Stats *st)
{
	struct iv_read *r = calloc(1, sizeof *r);
	int rc;

	if (r == NULL)
		return -1;
	r->s = s;
	r->txn = txn;
	r->now_ms = now_ms;
	if (strcmp(st->interval, "today") == 0)
		r->window = IV_TODAY;
	else if (strcmp(st->interval, "days") == 0)
		r->window = IV_DAYS;
	else {
		r->window = IV_MINUTES;
		r->minutes = strcmp(st->interval, "15m") == 0 ? CALLRAFT_STATS_RECENT_SHORT_MINUTES
							       : CALLRAFT_STATS_MINUTES;
	}
	if (strcmp(st->scope, "queue") == 0)
		rc = iv_scan(r, 'p', st->name, NULL);
	else if (strcmp(st->scope, "site") == 0)
		rc = iv_scan(r, 'p', NULL, st->name);
	else
		rc = iv_scan(r, 't', st->name, NULL);
	if (rc == 0) {
		counts_to_stats(st, &r->sum);
		st->from_ms = r->window == IV_MINUTES
				  ? (floor_div(now_ms, MINUTE_MS) - r->minutes + 1) * MINUTE_MS
				  : r->from_ms;
	}
	if (rc == 0 && r->window == IV_DAYS)
		rc = iv_days_out(r, st, st->service_level_ms);
	free(r);
	return rc;
}

int stats_iv_classes(struct state *s, MDB_txn *txn, int (*each)(void *arg, const char *cls),
		     void *arg)
{
	char last[CALLRAFT_QUEUE_BYTES_MAX + 1] = "", cls[CALLRAFT_QUEUE_BYTES_MAX + 1];
	MDB_cursor *cur;
	MDB_val k = {1, "t"}, v;
	int rc;

	if (mdb_cursor_open(txn, s->dbi[DB_STATS_IV], &cur) != 0)
		return -1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *kb = k.mv_data;
		if (k.mv_size < 2 || kb[0] != 't')
			break;
		const char *nul = memchr(kb + 1, '\0', k.mv_size - 1);
		size_t n = nul != NULL ? (size_t)(nul - kb - 1) : sizeof cls;
		if (n >= sizeof cls) {
			rc = MDB_CORRUPTED;
			break;
		}
		memcpy(cls, kb + 1, n);
		cls[n] = '\0';
		if (strcmp(cls, last) == 0)
			continue;
		memcpy(last, cls, n + 1);
		if (each(arg, cls) != 0) {
			rc = -1;
			break;
		}
	}
	mdb_cursor_close(cur);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : -1;
}

/* ---- invariants -------------------------------------------------------------------------- */

static bool ring_ok(Callraft__StatsBucket **b, size_t n, size_t max)
{
	if (n > max)
		return false;
	for (size_t i = 1; i < n; i++)
		if (b[i]->at <= b[i - 1]->at || b[i]->at <= b[n - 1]->at - (int64_t)max)
			return false;
	return n == 0 || b[0]->at > b[n - 1]->at - (int64_t)max;
}

int stats_iv_check(struct state *s, MDB_txn *txn, char *msg, size_t msg_len)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, bad = 0;

	if (mdb_cursor_open(txn, s->dbi[DB_STATS_IV], &cur) != 0) {
		snprintf(msg, msg_len, "invariant: stats interval: cursor");
		return -1;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !bad;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *kb = k.mv_data;
		Callraft__StatsSeries *rec =
		    callraft__stats_series__unpack(NULL, v.mv_size, v.mv_data);
		bad = rec == NULL || k.mv_size < 2 || (kb[0] != 'p' && kb[0] != 't') ||
		      memchr(kb + 1, '\0', k.mv_size - 1) == NULL ||
		      !ring_ok(rec->minutes, rec->n_minutes, CALLRAFT_STATS_MINUTES) ||
		      !ring_ok(rec->days, rec->n_days, CALLRAFT_STATS_DAYS);
		if (bad)
			snprintf(msg, msg_len, "invariant: stats interval record '%.*s': %s",
				 (int)(k.mv_size > 1 ? strnlen(kb + 1, k.mv_size - 1) : 0),
				 k.mv_size > 1 ? kb + 1 : "",
				 rec == NULL ? "does not unpack" : "buckets out of order or bounds");
		if (rec != NULL)
			callraft__stats_series__free_unpacked(rec, NULL);
	}
	mdb_cursor_close(cur);
	if (bad)
		return -1;
	if (rc != MDB_NOTFOUND) {
		snprintf(msg, msg_len, "invariant: stats interval: %s", mdb_strerror(rc));
		return -1;
	}
	return 0;
}
