/* test_state_stats.c: stats over intervals (state/stats_interval.c, the interval reads of
 * stats.c): minute buckets roll out of the 15- and 60-minute windows, "today" ends at the site's
 * local midnight, the day history keeps 90 days, service level / ASA / abandons over an interval,
 * ticket classes' service level, a snapshot round trip, two replicas alike, and bad reads refused.
 * Time is the leader-stamped entry time of the fixture (state_fixture.h), never a clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "state.h"
#include "state_internal.h"

#define STATE_FIXTURE_NAME "test_state_stats"
#include "state_fixture.h"

#define MIN_MS 60000ll
#define HOUR_MS (60 * MIN_MS)

/* A stats read; the caller frees the reply. */
static Callraft__Reply *stats(struct fx *f, const char *queue, const char *site, const char *cls,
			      const char *interval)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__StatsGet sg = CALLRAFT__STATS_GET__INIT;

	sg.queue = (char *)queue;
	sg.site = (char *)site;
	sg.ticket_class = (char *)cls;
	sg.interval = (char *)interval;
	q.op_case = CALLRAFT__REQUEST__OP_STATS_GET;
	q.stats_get = &sg;
	return read_req(f, &q);
}

/* One counter of queue "sales" (or site `site` when given) over `interval`. */
static uint64_t count_of(struct fx *f, const char *site, const char *interval, const char *what)
{
	Callraft__Reply *r = stats(f, site ? "" : "sales", site ? site : "", "", interval);
	uint64_t v = 0;

	if (r->code != CALLRAFT__CODE__OK)
		fail_msg("stats %s: %s", interval, r->message);
	assert_int_equal(r->n_stats, 1);
	const Callraft__Stats *st = r->stats[0];
	assert_string_equal(st->interval, interval);
	if (strcmp(what, "answered") == 0)
		v = st->answered;
	else if (strcmp(what, "abandoned") == 0)
		v = st->abandoned;
	else if (strcmp(what, "offered") == 0)
		v = st->offered;
	else
		fail_msg("count_of: %s", what);
	callraft__reply__free_unpacked(r, NULL);
	return v;
}

/* A call that waits `wait_ms` and is abandoned (no agent needed). */
static void abandoned_call(struct fx *f, const char *id, const char *site, int64_t wait_ms)
{
	struct cb b;

	OK(f, c_enqueue(&b, id, site, 0, "+9821000001", ""));
	f->time_ms += wait_ms;
	OK(f, c_abandon(&b, id));
}

/* Buckets of the raw record 'p' sales '\0' site, straight from LMDB. */
static void series_sizes(struct fx *f, const char *site, size_t *minutes, size_t *days)
{
	uint8_t key[64];
	size_t n = 0;
	MDB_txn *txn;
	MDB_val k, v;

	key[n++] = 'p';
	memcpy(key + n, "sales", 6);
	n += 6;
	memcpy(key + n, site, strlen(site));
	n += strlen(site);
	k.mv_size = n;
	k.mv_data = key;
	assert_int_equal(mdb_txn_begin(f->s->env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_get(txn, f->s->dbi[DB_STATS_IV], &k, &v), 0);
	Callraft__StatsSeries *rec = callraft__stats_series__unpack(NULL, v.mv_size, v.mv_data);
	assert_non_null(rec);
	*minutes = rec->n_minutes;
	*days = rec->n_days;
	callraft__stats_series__free_unpacked(rec, NULL);
	mdb_txn_abort(txn);
}

/* ---- minutes ------------------------------------------------------------------------------ */

static void test_minute_buckets_roll_out_of_the_15_and_60_minute_windows(void **state)
{
	struct fx *f = *state;

	f->time_ms = T0 + 10 * HOUR_MS + 30 * 1000; /* 10:00:30 */
	abandoned_call(f, "c1", "paris", 10000);     /* abandoned at 10:00:40 */
	assert_int_equal(count_of(f, NULL, "15m", "abandoned"), 1);
	assert_int_equal(count_of(f, NULL, "60m", "abandoned"), 1);
	assert_int_equal(count_of(f, NULL, "15m", "offered"), 1);

	/* 10:14:59: the current minute and the 14 before it still hold 10:00. */
	f->time_ms = T0 + 10 * HOUR_MS + 14 * MIN_MS + 59000;
	tick(f);
	assert_int_equal(count_of(f, NULL, "15m", "abandoned"), 1);
	Callraft__Reply *r = stats(f, "sales", "", "", "15m");
	assert_int_equal(r->stats[0]->from_ms, T0 + 10 * HOUR_MS);
	callraft__reply__free_unpacked(r, NULL);
	/* 10:15:00: it left the 15-minute window, not the hour's. Nothing was applied for it: the
	 * read rolls the window. */
	f->time_ms = T0 + 10 * HOUR_MS + 15 * MIN_MS;
	tick(f);
	assert_int_equal(count_of(f, NULL, "15m", "abandoned"), 0);
	assert_int_equal(count_of(f, NULL, "60m", "abandoned"), 1);
	f->time_ms = T0 + 11 * HOUR_MS - 1;
	tick(f);
	assert_int_equal(count_of(f, NULL, "60m", "abandoned"), 1);
	f->time_ms = T0 + 11 * HOUR_MS;
	tick(f);
	assert_int_equal(count_of(f, NULL, "60m", "abandoned"), 0);
	assert_int_equal(count_of(f, NULL, "today", "abandoned"), 1);
	assert_int_equal(count_of(f, NULL, "", "abandoned"), 1); /* lifetime */

	/* A call a minute for 100 minutes: the record keeps at most 60 minute buckets, the hour
	 * counts the last 60 calls, 15 minutes the last 15. */
	for (int i = 0; i < 100; i++) {
		char id[16];
		snprintf(id, sizeof id, "m%d", i);
		f->time_ms = T0 + 12 * HOUR_MS + i * MIN_MS;
		abandoned_call(f, id, "paris", 1000);
	}
	size_t mins, days;
	series_sizes(f, "paris", &mins, &days);
	assert_int_equal(mins, CALLRAFT_STATS_MINUTES);
	assert_int_equal(days, 1);
	assert_int_equal(count_of(f, NULL, "60m", "abandoned"), 60);
	assert_int_equal(count_of(f, NULL, "15m", "abandoned"), 15);
	assert_int_equal(count_of(f, NULL, "today", "abandoned"), 101);
}

/* ---- days --------------------------------------------------------------------------------- */

static void test_today_ends_at_the_sites_local_midnight(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_site_conf(&b, "tehran", 8 * 60, 210, 30000, 60000)); /* UTC+03:30 */
	/* 20:25 UTC is 23:55 in Tehran; 20:35 UTC is 00:05 the next day there, still the same UTC
	 * day in Paris (offset 0). */
	f->time_ms = T0 + 20 * HOUR_MS + 25 * MIN_MS - 10000;
	abandoned_call(f, "t1", "tehran", 10000);
	abandoned_call(f, "p1", "paris", 0);
	assert_int_equal(count_of(f, "tehran", "today", "abandoned"), 1);
	f->time_ms = T0 + 20 * HOUR_MS + 35 * MIN_MS - 10000;
	abandoned_call(f, "t2", "tehran", 10000);
	abandoned_call(f, "p2", "paris", 0);
	/* Tehran's today holds only t2; Paris's both; the queue's today is each site's today. */
	assert_int_equal(count_of(f, "tehran", "today", "abandoned"), 1);
	assert_int_equal(count_of(f, "paris", "today", "abandoned"), 2);
	assert_int_equal(count_of(f, NULL, "today", "abandoned"), 3);
	Callraft__Reply *r = stats(f, "", "tehran", "", "today");
	assert_int_equal(r->stats[0]->from_ms, T0 + DAY_MS - 210 * MIN_MS); /* local midnight */
	callraft__reply__free_unpacked(r, NULL);

	/* The history: Tehran's two local days, by local date. T0 is day 20000 (2024-10-04). */
	r = stats(f, "", "tehran", "", "days");
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_int_equal(r->stats[0]->n_days, 2);
	assert_string_equal(r->stats[0]->days[0]->scope, "day");
	assert_string_equal(r->stats[0]->days[0]->name, "2024-10-04");
	assert_int_equal(r->stats[0]->days[0]->abandoned, 1);
	assert_string_equal(r->stats[0]->days[1]->name, "2024-10-05");
	assert_int_equal(r->stats[0]->days[1]->abandoned, 1);
	assert_int_equal(r->stats[0]->abandoned, 2);
	callraft__reply__free_unpacked(r, NULL);
	/* The queue's history merges the sites by local date: Paris's day is 2024-10-04. */
	r = stats(f, "sales", "", "", "days");
	assert_int_equal(r->stats[0]->n_days, 2);
	assert_string_equal(r->stats[0]->days[0]->name, "2024-10-04");
	assert_int_equal(r->stats[0]->days[0]->abandoned, 3);
	assert_int_equal(r->stats[0]->days[1]->abandoned, 1);
	callraft__reply__free_unpacked(r, NULL);

	/* Tehran's next local midnight (20:30 UTC) ends its today. */
	f->time_ms = T0 + DAY_MS + 20 * HOUR_MS + 30 * MIN_MS;
	tick(f);
	assert_int_equal(count_of(f, "tehran", "today", "abandoned"), 0);
	assert_int_equal(count_of(f, "paris", "today", "abandoned"), 0);
}

/* West of UTC the local day starts after UTC midnight; and a site whose offset changes (daylight
 * saving) may write a day older than its newest bucket: it goes in order (state_check checks), and
 * a bucket of a day that is now in the future counts when that day comes. */
static void test_negative_offsets_and_an_offset_change(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_site_conf(&b, "nyc", 8 * 60, -300, 30000, 60000)); /* UTC-05:00 */
	f->time_ms = T0 + 4 * HOUR_MS + 59 * MIN_MS;                /* 23:59 the day before */
	abandoned_call(f, "n1", "nyc", 0);
	f->time_ms = T0 + 5 * HOUR_MS; /* 00:00 local */
	abandoned_call(f, "n2", "nyc", 0);
	assert_int_equal(count_of(f, "nyc", "today", "abandoned"), 1);
	Callraft__Reply *r = stats(f, "", "nyc", "", "days");
	assert_int_equal(r->stats[0]->n_days, 2);
	assert_string_equal(r->stats[0]->days[0]->name, "2024-10-03");
	assert_string_equal(r->stats[0]->days[1]->name, "2024-10-04");
	callraft__reply__free_unpacked(r, NULL);

	/* Tehran at +03:30 writes its local 2024-10-05 at 21:00 UTC; moved to +00:00, its next event
	 * is on 2024-10-04 again: an older day, inserted before the newest, both kept. */
	OK(f, c_site_conf(&b, "tehran", 8 * 60, 210, 30000, 60000));
	f->time_ms = T0 + 21 * HOUR_MS;
	abandoned_call(f, "t1", "tehran", 0);
	OK(f, c_site_conf(&b, "tehran", 8 * 60, 0, 30000, 60000));
	abandoned_call(f, "t2", "tehran", 0);
	size_t mins, days;
	series_sizes(f, "tehran", &mins, &days);
	assert_int_equal(days, 2);
	assert_int_equal(count_of(f, "tehran", "today", "abandoned"), 1); /* today is 2024-10-04 */
	/* The 2024-10-05 bucket is tomorrow now: not shown until that day comes, then counted with
	 * it. */
	r = stats(f, "", "tehran", "", "days");
	assert_int_equal(r->stats[0]->n_days, 1);
	assert_string_equal(r->stats[0]->days[0]->name, "2024-10-04");
	assert_int_equal(r->stats[0]->days[0]->abandoned, 1);
	callraft__reply__free_unpacked(r, NULL);
	f->time_ms = T0 + DAY_MS + HOUR_MS;
	register_client(f);
	abandoned_call(f, "t3", "tehran", 0);
	assert_int_equal(count_of(f, "tehran", "today", "abandoned"), 2);
	series_sizes(f, "tehran", &mins, &days);
	assert_int_equal(days, 2);
}

static void test_the_day_history_keeps_90_days(void **state)
{
	struct fx *f = *state;

	for (int d = 0; d < 100; d++) {
		char id[16];
		f->time_ms = T0 + d * DAY_MS + 9 * HOUR_MS;
		register_client(f); /* a day apart, the session would have expired */
		for (int i = 0; i <= d % 3; i++) {
			snprintf(id, sizeof id, "d%d-%d", d, i);
			abandoned_call(f, id, "paris", 6000);
		}
	}
	size_t mins, days;
	series_sizes(f, "paris", &mins, &days);
	assert_int_equal(days, CALLRAFT_STATS_DAYS);
	Callraft__Reply *r = stats(f, "sales", "", "", "days");
	const Callraft__Stats *st = r->stats[0];
	assert_int_equal(st->n_days, CALLRAFT_STATS_DAYS);
	/* Days 10..99 are kept: day 10 is T0 + 10 days = 2024-10-14, the last 2025-01-11. */
	assert_string_equal(st->days[0]->name, "2024-10-14");
	assert_string_equal(st->days[89]->name, "2025-01-11");
	uint64_t sum = 0;
	for (size_t i = 0; i < st->n_days; i++) {
		assert_int_equal(st->days[i]->abandoned, (uint64_t)((10 + i) % 3 + 1));
		sum += st->days[i]->abandoned;
	}
	assert_int_equal(st->abandoned, sum);
	callraft__reply__free_unpacked(r, NULL);
	/* Nothing more for 89 days: only the last day is left in the window. */
	f->time_ms = T0 + 188 * DAY_MS;
	tick(f);
	r = stats(f, "sales", "", "", "days");
	assert_int_equal(r->stats[0]->n_days, 1);
	assert_string_equal(r->stats[0]->days[0]->name, "2025-01-11");
	callraft__reply__free_unpacked(r, NULL);
	f->time_ms = T0 + 189 * DAY_MS;
	tick(f);
	r = stats(f, "sales", "", "", "days");
	assert_int_equal(r->stats[0]->n_days, 0);
	assert_int_equal(r->stats[0]->abandoned, 0);
	callraft__reply__free_unpacked(r, NULL);
}

/* ---- figures ------------------------------------------------------------------------------ */

static void test_service_level_and_asa_over_an_interval(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;

	/* Yesterday: one call answered late, which today's figures must not see. */
	f->time_ms = T0 + 12 * HOUR_MS;
	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_enqueue(&b, "y1", "tehran", 0, "+9821000009", ""));
	f->time_ms += 60000;
	serve(f, "a1");
	/* Today: the scenario of the lifetime test (test_state_routing.c). */
	int64_t t0 = T0 + DAY_MS + 9 * HOUR_MS;
	f->time_ms = t0;
	register_client(f);
	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_enqueue(&b, "c1", "tehran", 0, "+9821000001", ""));
	OK(f, c_enqueue(&b, "c2", "tehran", 0, "+9821000002", ""));
	OK(f, c_enqueue(&b, "c3", "tehran", 0, "+9821000003", ""));
	f->time_ms = t0 + 3000;
	OK(f, c_abandon(&b, "c2")); /* short: left out */
	f->time_ms = t0 + 10000;
	serve(f, "a1"); /* c1 in 10 s: within T = 20 s */
	f->time_ms = t0 + 25000;
	OK(f, c_enqueue(&b, "c4", "tehran", 0, "+9821000004", ""));
	assert_string_equal(next(f, "a1", &term, &index, NULL), "c3");
	OK(f, c_answer(&b, "c3", "a1", term, index)); /* 25 s: missed T */
	f->time_ms = t0 + 35000;
	OK(f, c_abandon(&b, "c4")); /* 10 s: counts as missed */
	OK(f, c_enqueue(&b, "c5", "tehran", 0, "+9821000005", ""));
	f->time_ms += 4000;
	tick(f);

	const char *intervals[] = {"today", "15m", "60m"};
	for (int i = 0; i < 3; i++) {
		Callraft__Reply *r = stats(f, "sales", "", "", intervals[i]);
		const Callraft__Stats *st = r->stats[0];
		assert_int_equal(st->offered, 5);
		assert_int_equal(st->entered, 5);
		assert_int_equal(st->answered, 2);
		assert_int_equal(st->answered_in_sl, 1);
		assert_int_equal(st->abandoned, 2);
		assert_int_equal(st->abandoned_short, 1);
		assert_int_equal(st->asa_ms, 17500);
		assert_true(st->service_level > 0.333 && st->service_level < 0.334);
		assert_true(st->abandon_rate > 0.333 && st->abandon_rate < 0.334);
		assert_int_equal(st->waiting, 1); /* the current figures come with every interval */
		assert_int_equal(st->longest_wait_ms, 4000);
		callraft__reply__free_unpacked(r, NULL);
	}
	/* The lifetime counters include yesterday's call (answered after 60 s: not in SL). */
	Callraft__Reply *r = stats(f, "sales", "", "", "");
	assert_int_equal(r->stats[0]->answered, 3);
	assert_int_equal(r->stats[0]->asa_ms, (10000 + 25000 + 60000) / 3);
	callraft__reply__free_unpacked(r, NULL);
	/* The day history: yesterday's line and today's, each with its own figures. */
	r = stats(f, "", "tehran", "", "days");
	assert_int_equal(r->stats[0]->n_days, 2);
	assert_int_equal(r->stats[0]->days[0]->answered, 1);
	assert_int_equal(r->stats[0]->days[0]->asa_ms, 60000);
	assert_true(r->stats[0]->days[0]->service_level == 0);
	assert_int_equal(r->stats[0]->days[1]->asa_ms, 17500);
	callraft__reply__free_unpacked(r, NULL);
}

static Callraft__Command *c_topen(struct cb *b, const char *call, const char *cls)
{
	SET_OP(b, TICKET_OPEN, ticket_open, topen, CALLRAFT__TICKET_OPEN__INIT);
	b->op.topen.customer_id = "cust-1";
	b->op.topen.call_id = (char *)call;
	b->op.topen.category = "request";
	b->op.topen.ticket_class = (char *)cls;
	return &b->cmd;
}

/* Opens a ticket of class `cls` from `call` and returns its code (caller frees). */
static char *ticket_open(struct fx *f, const char *call, const char *cls)
{
	struct cb b;
	Callraft__Reply *r = run(f, c_topen(&b, call, cls));
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	char *code = strdup(r->ticket->code);
	callraft__reply__free_unpacked(r, NULL);
	return code;
}

static void ticket_set(struct fx *f, const char *code, Callraft__TicketStatus status,
		       Callraft__Code want)
{
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;
	Callraft__TicketUpdate u = CALLRAFT__TICKET_UPDATE__INIT;

	u.code = (char *)code;
	u.status = status;
	u.note = "done";
	cmd.op_case = CALLRAFT__COMMAND__OP_TICKET_UPDATE;
	cmd.ticket_update = &u;
	EXPECT(f, &cmd, want);
}

static void test_ticket_classes_service_level_is_closed_within_target(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_site_conf(&b, "tehran", 8 * 60, 210, 30000, 60000));
	f->time_ms = T0 + 10 * HOUR_MS;
	OK(f, c_enqueue(&b, "c1", "tehran", 0, "+9821000001", "cust-1"));
	char *u1 = ticket_open(f, "c1", "urgent"), *u2 = ticket_open(f, "c1", "urgent");
	char *fu = ticket_open(f, "", "follow-up");
	f->time_ms += 29 * MIN_MS;
	ticket_set(f, u1, CALLRAFT__TICKET_STATUS__RESOLVED, CALLRAFT__CODE__OK); /* not closed */
	ticket_set(f, u1, CALLRAFT__TICKET_STATUS__CLOSED, CALLRAFT__CODE__OK);  /* in target */
	f->time_ms += 2 * MIN_MS;
	ticket_set(f, u2, CALLRAFT__TICKET_STATUS__CLOSED, CALLRAFT__CODE__OK); /* 31 min: late */
	ticket_set(f, u2, CALLRAFT__TICKET_STATUS__CLOSED, CALLRAFT__CODE__BAD_STATE);
	ticket_set(f, fu, CALLRAFT__TICKET_STATUS__CLOSED, CALLRAFT__CODE__OK);

	Callraft__Reply *r = stats(f, "", "", "urgent", "today");
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_int_equal(r->n_stats, 1);
	const Callraft__Stats *st = r->stats[0];
	assert_string_equal(st->scope, "ticket_class");
	assert_string_equal(st->name, "urgent");
	assert_int_equal(st->tickets_opened, 2);
	assert_int_equal(st->tickets_closed, 2);
	assert_int_equal(st->tickets_closed_in_target, 1);
	assert_true(st->service_level == 0.5);
	callraft__reply__free_unpacked(r, NULL);
	/* Both classes in the all-scopes read of an interval, after the queue and the site. */
	r = stats(f, "", "", "", "60m");
	bool seen_fu = false, seen_u = false;
	for (size_t i = 0; i < r->n_stats; i++) {
		if (strcmp(r->stats[i]->scope, "ticket_class") != 0)
			continue;
		if (strcmp(r->stats[i]->name, "follow-up") == 0) {
			seen_fu = true;
			assert_int_equal(r->stats[i]->tickets_closed_in_target, 1);
			assert_true(r->stats[i]->service_level == 1);
		}
		seen_u |= strcmp(r->stats[i]->name, "urgent") == 0;
	}
	assert_true(seen_fu && seen_u);
	callraft__reply__free_unpacked(r, NULL);
	/* The urgent tickets came from a Tehran call: their day is Tehran's. At 20:31 UTC Tehran's
	 * day is over, UTC's (the follow-up ticket, opened from no call) is not. */
	f->time_ms = T0 + 20 * HOUR_MS + 31 * MIN_MS;
	tick(f);
	r = stats(f, "", "", "urgent", "today");
	assert_int_equal(r->stats[0]->tickets_closed, 0);
	callraft__reply__free_unpacked(r, NULL);
	r = stats(f, "", "", "follow-up", "today");
	assert_int_equal(r->stats[0]->tickets_closed, 1);
	callraft__reply__free_unpacked(r, NULL);
	r = stats(f, "", "", "urgent", "days");
	assert_int_equal(r->stats[0]->n_days, 1);
	assert_true(r->stats[0]->days[0]->service_level == 0.5);
	callraft__reply__free_unpacked(r, NULL);
	free(u1);
	free(u2);
	free(fu);
}

static void test_bad_stats_reads_are_refused(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *queue, *site, *cls, *interval;
	} bad[] = {
	    {"sales", "", "", "7d"},    {"sales", "", "", "TODAY"}, {"", "", "urgent", ""},
	    {"", "", "vip", "today"},   {"", "", "", "days"},       {"sales", "paris", "", "days"},
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		Callraft__Reply *r = stats(f, bad[i].queue, bad[i].site, bad[i].cls, bad[i].interval);
		if (r->code != CALLRAFT__CODE__INVALID_ARGUMENT)
			fail_msg("case %zu: code %d", i, r->code);
		assert_non_null(strstr(r->message, "stats"));
		callraft__reply__free_unpacked(r, NULL);
	}
}

/* ---- snapshots and replicas --------------------------------------------------------------- */

/* A few days of calls and tickets at two sites. */
static void some_history(struct fx *f)
{
	struct cb b;

	register_client(f);
	OK(f, c_site_conf(&b, "tehran", 8 * 60, 210, 30000, 60000));
	for (int d = 0; d < 3; d++) {
		f->time_ms = T0 + d * DAY_MS + 18 * HOUR_MS;
		register_client(f);
		for (int i = 0; i < 5; i++) {
			char id[16];
			snprintf(id, sizeof id, "s%d-%d", d, i);
			abandoned_call(f, id, i % 2 ? "tehran" : "paris", 2000 + 3000 * i);
			f->time_ms += 23 * MIN_MS;
		}
		char id[16];
		snprintf(id, sizeof id, "s%d-0", d);
		char *code = ticket_open(f, id, d % 2 ? "urgent" : "follow-up");
		f->time_ms += HOUR_MS;
		ticket_set(f, code, CALLRAFT__TICKET_STATUS__CLOSED, CALLRAFT__CODE__OK);
		free(code);
	}
}

/* The packed replies of every interval read of f's state (a canonical picture of the stats). */
static void stats_picture(struct fx *f, char *out, size_t len)
{
	static const char *const reads[][4] = {
	    {"", "", "", "today"},     {"", "", "", "15m"},      {"", "", "", "60m"},
	    {"sales", "", "", "days"}, {"", "tehran", "", "days"}, {"", "", "urgent", "days"},
	    {"", "", "follow-up", "days"},
	};

	out[0] = '\0';
	for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
		Callraft__Reply *r = stats(f, reads[i][0], reads[i][1], reads[i][2], reads[i][3]);
		assert_int_equal(r->code, CALLRAFT__CODE__OK);
		for (size_t j = 0; j < r->n_stats; j++) {
			const Callraft__Stats *st = r->stats[j];
			snprintf(out + strlen(out), len - strlen(out),
				 "%s/%s/%s: %llu %llu %llu %llu %llu %lld|", st->interval, st->scope,
				 st->name, (unsigned long long)st->offered,
				 (unsigned long long)st->abandoned,
				 (unsigned long long)st->abandoned_short,
				 (unsigned long long)st->tickets_closed, (unsigned long long)st->n_days,
				 (long long)st->from_ms);
			for (size_t k = 0; k < st->n_days; k++)
				snprintf(out + strlen(out), len - strlen(out), "%s=%llu,",
					 st->days[k]->name,
					 (unsigned long long)(st->days[k]->abandoned +
							      st->days[k]->tickets_closed));
		}
		callraft__reply__free_unpacked(r, NULL);
	}
}

static void test_snapshot_round_trip_keeps_the_buckets(void **state)
{
	struct fx *f = *state;
	char err[256];
	struct state *twin;
	void *img;
	size_t len;
	bool replaced;

	some_history(f);
	static char before[16384], after[16384];
	stats_picture(f, before, sizeof before);
	assert_non_null(strstr(before, "days/site/tehran"));
	assert_int_equal(state_snapshot(f->s, &img, &len, err, sizeof err), 0);
	twin = fx_state_at(f, "b", NULL);
	assert_int_equal(state_restore(twin, img, len, &replaced, err, sizeof err), 0);
	assert_true(replaced);
	free(img);
	assert_true(state_digest(twin) == state_digest(f->s));
	struct state *orig = f->s;
	f->s = twin;
	stats_picture(f, after, sizeof after);
	assert_string_equal(before, after);
	/* And the restored state goes on counting as the original would. */
	uint64_t today = count_of(f, "tehran", "60m", "abandoned");
	abandoned_call(f, "late", "tehran", 1000);
	assert_int_equal(count_of(f, "tehran", "60m", "abandoned"), today + 1);
	f->s = orig;
	state_close(twin);
}

static void test_two_replicas_fill_the_same_buckets(void **state)
{
	struct fx *f = *state;
	struct fx g = *f;

	g.s = fx_state_at(f, "b", NULL);
	some_history(f);
	some_history(&g);
	assert_int_equal(f->index, g.index);
	assert_true(state_digest(f->s) == state_digest(g.s));
	static char pf[16384], pg[16384];
	stats_picture(f, pf, sizeof pf);
	stats_picture(&g, pg, sizeof pg);
	assert_string_equal(pf, pg);
	state_close(g.s);
}

/* A state (or snapshot image) written before the table existed: no stats_interval table and the
 * quota's byte counts of the old set of tables. It opens, the table is created empty, the
 * lifetime counters are intact, and interval counting starts from there. */
static void test_a_state_from_before_the_table_opens_and_counts(void **state)
{
	struct fx *f = *state;
	MDB_txn *txn;

	f->time_ms = T0 + 10 * HOUR_MS;
	abandoned_call(f, "old", "paris", 6000);
	assert_int_equal(mdb_txn_begin(f->s->env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_drop(txn, f->s->dbi[DB_STATS_IV], 1), 0);
	MDB_val k = {5, "bytes"};
	assert_int_equal(mdb_del(txn, f->s->dbi[DB_META], &k, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	state_close(f->s);
	f->s = fx_state_at(f, "a", NULL);
	assert_int_equal(count_of(f, NULL, "today", "abandoned"), 0);
	assert_int_equal(count_of(f, NULL, "", "abandoned"), 1);
	abandoned_call(f, "new", "paris", 6000);
	assert_int_equal(count_of(f, NULL, "today", "abandoned"), 1);
	assert_int_equal(count_of(f, NULL, "", "abandoned"), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    FX_TEST(test_minute_buckets_roll_out_of_the_15_and_60_minute_windows),
	    FX_TEST(test_today_ends_at_the_sites_local_midnight),
	    FX_TEST(test_negative_offsets_and_an_offset_change),
	    FX_TEST_EMPTY(test_the_day_history_keeps_90_days),
	    FX_TEST(test_service_level_and_asa_over_an_interval),
	    FX_TEST(test_ticket_classes_service_level_is_closed_within_target),
	    FX_TEST_EMPTY(test_bad_stats_reads_are_refused),
	    FX_TEST_EMPTY(test_snapshot_round_trip_keeps_the_buckets),
	    FX_TEST_EMPTY(test_two_replicas_fill_the_same_buckets),
	    FX_TEST(test_a_state_from_before_the_table_opens_and_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
