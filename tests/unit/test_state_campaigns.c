/* test_state_campaigns.c: unit tests of issue 16 item 4 on the state model: outbound campaigns
 * (state/campaigns.c): targets released as callback calls paced by the free agents, in list
 * order, within the window and the owning site's calling hours; outcomes counted once; a site
 * loss neither loses nor doubles a target; refusals change nothing; the show is paged. Entries are
 * built as the leader builds them (state_fixture.h: leader-stamped time, state_check after every
 * command, which checks the campaign invariants C1-C3). */
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

#define STATE_FIXTURE_NAME "test_state_campaigns"
#include "state_fixture.h"

static Callraft__Reply *campaign_create(struct fx *f, const char *id, const char *site,
					uint32_t pacing, int64_t start, int64_t end)
{
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;
	Callraft__CampaignCreate op = CALLRAFT__CAMPAIGN_CREATE__INIT;
	op.campaign_id = (char *)id;
	op.queue = "sales";
	op.site = (char *)site;
	op.pacing_percent = pacing;
	op.start_ms = start;
	op.end_ms = end;
	cmd.op_case = CALLRAFT__COMMAND__OP_CAMPAIGN_CREATE;
	cmd.campaign_create = &op;
	return run(f, &cmd);
}

/* Adds targets +98210000NNN for NNN in first..first+n-1 (no customer). */
static Callraft__Reply *campaign_add(struct fx *f, const char *id, unsigned first, unsigned n)
{
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;
	Callraft__CampaignAdd op = CALLRAFT__CAMPAIGN_ADD__INIT;
	Callraft__CampaignTarget *ts = calloc(n, sizeof *ts), **ps = calloc(n, sizeof *ps);
	char(*numbers)[24] = calloc(n, sizeof *numbers);

	for (unsigned i = 0; i < n; i++) {
		ts[i] = (Callraft__CampaignTarget)CALLRAFT__CAMPAIGN_TARGET__INIT;
		snprintf(numbers[i], sizeof numbers[i], "+98210000%03u", first + i);
		ts[i].number = numbers[i];
		ps[i] = &ts[i];
	}
	op.campaign_id = (char *)id;
	op.targets = ps;
	op.n_targets = n;
	cmd.op_case = CALLRAFT__COMMAND__OP_CAMPAIGN_ADD;
	cmd.campaign_add = &op;
	Callraft__Reply *r = run(f, &cmd);
	free(ts), free(ps), free(numbers);
	return r;
}

static Callraft__Reply *campaign_pause(struct fx *f, const char *id, bool paused)
{
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;
	Callraft__CampaignPause op = CALLRAFT__CAMPAIGN_PAUSE__INIT;
	op.campaign_id = (char *)id;
	op.paused = paused;
	cmd.op_case = CALLRAFT__COMMAND__OP_CAMPAIGN_PAUSE;
	cmd.campaign_pause = &op;
	return run(f, &cmd);
}

#define WANT(f, expr, want)                                                                        \
	do {                                                                                       \
		Callraft__Reply *r_ = (expr);                                                      \
		if (r_->code != (want))                                                            \
			fail_msg("line %d: code %d, want %d: %s", __LINE__, r_->code, (want),      \
				 r_->message);                                                     \
		callraft__reply__free_unpacked(r_, NULL);                                          \
	} while (0)

static Callraft__Reply *campaign_delete(struct fx *f, const char *id)
{
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;
	Callraft__CampaignDelete op = CALLRAFT__CAMPAIGN_DELETE__INIT;
	op.campaign_id = (char *)id;
	cmd.op_case = CALLRAFT__COMMAND__OP_CAMPAIGN_DELETE;
	cmd.campaign_delete = &op;
	return run(f, &cmd);
}

static Callraft__Reply *campaign_show(struct fx *f, const char *id, uint32_t limit,
				      const ProtobufCBinaryData *cursor)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__CampaignShow op = CALLRAFT__CAMPAIGN_SHOW__INIT;
	op.campaign_id = (char *)id;
	op.limit = limit;
	if (cursor != NULL)
		op.cursor = *cursor;
	q.op_case = CALLRAFT__REQUEST__OP_CAMPAIGN_SHOW;
	q.campaign_show = &op;
	return read_req(f, &q);
}

/* The campaign's counters as "targets/released/reached/unreached/ended". */
static void counters(struct fx *f, const char *id, char *out, size_t len)
{
	Callraft__Reply *r = campaign_show(f, id, 1, NULL);
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	const Callraft__Campaign *cp = r->campaign;
	snprintf(out, len, "%u/%u/%u/%u/%u", cp->targets, cp->released, cp->reached, cp->unreached,
		 cp->ended);
	callraft__reply__free_unpacked(r, NULL);
}

/* The leader's Ticks are CALLRAFT_TICK_INTERVAL_MS apart. */
static void next_tick(struct fx *f)
{
	f->time_ms += CALLRAFT_TICK_INTERVAL_MS;
	tick(f);
}

#define ASSERT_COUNTERS(f, id, want)                                                               \
	do {                                                                                       \
		char got_[64];                                                                     \
		counters((f), (id), got_, sizeof got_);                                            \
		assert_string_equal(got_, (want));                                                 \
	} while (0)

static void dial(struct fx *f, const char *call, const char *agent)
{
	struct cb b;
	SET_OP(&b, CALL_DIAL_ATTEMPT, call_dial_attempt, dial, CALLRAFT__CALL_DIAL_ATTEMPT__INIT);
	b.op.dial.call_id = (char *)call;
	b.op.dial.agent_id = (char *)agent;
	OK(f, &b.cmd);
}

/* Pacing: waiting calls are kept at ceil(free agents x pacing / 100), released in list order as
 * callbacks of the owning site; a duplicate number is skipped; outcomes are counted once. */
static void test_campaign_releases_paced_by_free_agents_in_list_order(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;
	bool callback = false;

	WANT(f, campaign_create(f, "flights", "tehran", 100, 0, 0), CALLRAFT__CODE__OK);
	WANT(f, campaign_add(f, "flights", 1, 5), CALLRAFT__CODE__OK);
	Callraft__Reply *r = campaign_add(f, "flights", 5, 2); /* 005 again, and 006 */
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_non_null(strstr(r->message, "1 target(s) added, 1 duplicate(s) skipped"));
	assert_int_equal(r->campaign->duplicates, 1);
	callraft__reply__free_unpacked(r, NULL);
	next_tick(f);
	ASSERT_COUNTERS(f, "flights", "6/0/0/0/0"); /* nobody free: nothing released */
	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_login(&b, "a2", "tehran"));
	next_tick(f);
	ASSERT_QUEUE(f, "flights.000001 flights.000002");
	next_tick(f); /* two waiting for two free agents: nothing more */
	ASSERT_COUNTERS(f, "flights", "6/2/0/0/0");
	assert_string_equal(next(f, "a1", &term, &index, &callback), "flights.000001");
	assert_true(callback);
	next_tick(f); /* one free, one waiting */
	ASSERT_QUEUE(f, "flights.000002");
	dial(f, "flights.000001", "a1");
	OK(f, c_answer(&b, "flights.000001", "a1", term, index));
	ASSERT_COUNTERS(f, "flights", "6/2/1/0/0");
	OK(f, c_end(&b, "flights.000001", "a1"));
	ASSERT_COUNTERS(f, "flights", "6/2/1/0/0"); /* counted once */
	next_tick(f);
	ASSERT_QUEUE(f, "flights.000002 flights.000003");
	Callraft__Reply *cr;
	Callraft__Call *call = call_get(f, "flights.000003", &cr);
	assert_string_equal(call->callback_number, "+98210000003");
	assert_string_equal(call->arrival_site, "tehran");
	assert_string_equal(call->campaign_id, "flights");
	assert_true(call->callback);
	callraft__reply__free_unpacked(cr, NULL);
	/* an agent gives one up without an answer: ended */
	assert_string_equal(next(f, "a2", &term, &index, NULL), "flights.000002");
	OK(f, c_end(&b, "flights.000002", "a2"));
	ASSERT_COUNTERS(f, "flights", "6/3/1/0/1");
	/* 150 %: three waiting for two free agents */
	WANT(f, campaign_create(f, "cars", "tehran", 150, 0, 0), CALLRAFT__CODE__OK);
	WANT(f, campaign_add(f, "cars", 100, 10), CALLRAFT__CODE__OK);
	WANT(f, campaign_pause(f, "flights", true), CALLRAFT__CODE__OK);
	next_tick(f);
	ASSERT_QUEUE(f, "flights.000003 cars.000001 cars.000002");
}

/* The window [start, end), a pause, and the owning site's calling hours gate releases. */
static void test_campaign_releases_only_in_its_window_and_calling_hours(void **state)
{
	struct fx *f = *state;
	struct cb b;
	const int offset = 210; /* Tehran */
	int64_t nine = T0 + DAY_MS + (9 * 60 - offset) * 60000ll; /* 09:00 local, day 1 */

	f->time_ms = nine - 2 * 3600 * 1000; /* 07:00 local */
	register_client(f);
	SET_OP(&b, SITE_CONFIGURE, site_configure, sc, CALLRAFT__SITE_CONFIGURE__INIT);
	b.op.sc.site = "tehran";
	Callraft__Int32Value off = CALLRAFT__INT32_VALUE__INIT, from = CALLRAFT__INT32_VALUE__INIT,
			     until = CALLRAFT__INT32_VALUE__INIT;
	off.value = offset, from.value = 9 * 60, until.value = 21 * 60;
	b.op.sc.utc_offset_minutes = &off;
	b.op.sc.calling_from_minute = &from;
	b.op.sc.calling_until_minute = &until;
	OK(f, &b.cmd);
	WANT(f, campaign_create(f, "c1", "tehran", 100, nine + 3600 * 1000, nine + 7200 * 1000),
	     CALLRAFT__CODE__OK);
	WANT(f, campaign_add(f, "c1", 1, 5), CALLRAFT__CODE__OK);
	OK(f, c_login(&b, "a1", "tehran"));
	next_tick(f);
	ASSERT_COUNTERS(f, "c1", "5/0/0/0/0"); /* before 09:00: outside calling hours and window */
	f->time_ms = nine;
	OK(f, c_heartbeat(&b, "a1"));
	next_tick(f);
	ASSERT_COUNTERS(f, "c1", "5/0/0/0/0"); /* calling hours, but the window starts at 10:00 */
	f->time_ms = nine + 3600 * 1000;
	OK(f, c_heartbeat(&b, "a1"));
	WANT(f, campaign_pause(f, "c1", true), CALLRAFT__CODE__OK);
	next_tick(f);
	ASSERT_COUNTERS(f, "c1", "5/0/0/0/0"); /* paused */
	WANT(f, campaign_pause(f, "c1", false), CALLRAFT__CODE__OK);
	next_tick(f);
	ASSERT_QUEUE(f, "c1.000001");
	assert_string_equal(serve(f, "a1"), "c1.000001");
	f->time_ms = nine + 7200 * 1000; /* the window's end */
	OK(f, c_heartbeat(&b, "a1"));
	next_tick(f);
	ASSERT_COUNTERS(f, "c1", "5/1/1/0/0");
	ASSERT_QUEUE(f, "");
}

/* Bad input is refused with a clear error and changes nothing. */
static void test_campaign_input_is_validated_and_changes_nothing(void **state)
{
	struct fx *f = *state;

	WANT(f, campaign_create(f, "c1", "tehran", 1001, 0, 0), CALLRAFT__CODE__INVALID_ARGUMENT);
	WANT(f, campaign_create(f, "c1", "tehran", 100, 2000, 1000), CALLRAFT__CODE__INVALID_ARGUMENT);
	WANT(f, campaign_create(f, "c1", "", 100, 0, 0), CALLRAFT__CODE__INVALID_ARGUMENT);
	WANT(f, campaign_create(f, "a-campaign-id-that-is-far-too-long-for-the-ids-of-its-calls-1", "tehran",
				100, 0, 0),
	     CALLRAFT__CODE__INVALID_ARGUMENT);
	WANT(f, campaign_add(f, "c1", 1, 1), CALLRAFT__CODE__NOT_FOUND);
	Callraft__Reply *r = campaign_show(f, "c1", 0, NULL);
	assert_int_equal(r->code, CALLRAFT__CODE__NOT_FOUND);
	callraft__reply__free_unpacked(r, NULL);
	WANT(f, campaign_create(f, "c1", "tehran", 0, 0, 0), CALLRAFT__CODE__OK);
	WANT(f, campaign_create(f, "c1", "shiraz", 0, 0, 0), CALLRAFT__CODE__ALREADY_EXISTS);
	WANT(f, campaign_add(f, "c1", 1, CALLRAFT_CAMPAIGN_ADD_MAX + 1),
	     CALLRAFT__CODE__INVALID_ARGUMENT);
	/* a bad number among good ones: the whole command is refused */
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;
	Callraft__CampaignAdd op = CALLRAFT__CAMPAIGN_ADD__INIT;
	Callraft__CampaignTarget t[2] = {CALLRAFT__CAMPAIGN_TARGET__INIT,
					 CALLRAFT__CAMPAIGN_TARGET__INIT},
				 *ps[2] = {&t[0], &t[1]};
	t[0].number = "+982100000001";
	t[1].number = "call me";
	op.campaign_id = "c1";
	op.targets = ps;
	op.n_targets = 2;
	cmd.op_case = CALLRAFT__COMMAND__OP_CAMPAIGN_ADD;
	cmd.campaign_add = &op;
	r = run(f, &cmd);
	assert_int_equal(r->code, CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_non_null(strstr(r->message, "targets.number"));
	callraft__reply__free_unpacked(r, NULL);
	ASSERT_COUNTERS(f, "c1", "0/0/0/0/0");
	r = campaign_show(f, "c1", 0, NULL);
	assert_int_equal(r->campaign->pacing_percent, 100); /* 0: the default */
	assert_string_equal(r->campaign->site, "tehran");
	callraft__reply__free_unpacked(r, NULL);
}

/* A site loss: the call being dialled at the lost site counts as an attempt not reached and is
 * retried in its place (no second call for the target), the answered one was reached (no
 * callback), the waiting ones are taken by the survivors at once. */
static void test_campaign_survives_the_loss_of_its_site_without_doubles(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;

	c_qconf(&b, 60000, -1, -1, -1, 0); /* own site first for a minute */
	OK(f, &b.cmd);
	WANT(f, campaign_create(f, "c1", "tehran", 100, 0, 0), CALLRAFT__CODE__OK);
	WANT(f, campaign_add(f, "c1", 1, 4), CALLRAFT__CODE__OK);
	OK(f, c_login(&b, "t1", "tehran"));
	OK(f, c_login(&b, "t2", "tehran"));
	next_tick(f);
	assert_string_equal(next(f, "t1", &term, &index, NULL), "c1.000001");
	dial(f, "c1.000001", "t1");
	OK(f, c_answer(&b, "c1.000001", "t1", term, index)); /* reached, talking */
	assert_string_equal(next(f, "t2", NULL, NULL, NULL), "c1.000002");
	dial(f, "c1.000002", "t2"); /* being dialled */
	OK(f, c_login(&b, "s1", "shiraz"));
	next_tick(f); /* s1 free, nothing waiting: one released; tehran's callers wait for tehran */
	ASSERT_QUEUE(f, "c1.000003");
	assert_null(next(f, "s1", NULL, NULL, NULL));
	SET_OP(&b, SITE_DOWN, site_down, down, CALLRAFT__SITE_DOWN__INIT);
	b.op.down.site = "tehran";
	OK(f, &b.cmd);
	Callraft__Reply *r;
	Callraft__Call *c2 = call_get(f, "c1.000002", &r);
	assert_int_equal(c2->state, CALLRAFT__CALL_STATE__SCHEDULED);
	assert_int_equal(c2->dial_attempts, 1);
	callraft__reply__free_unpacked(r, NULL);
	Callraft__Call *c1 = call_get(f, "c1.000001", &r);
	assert_int_equal(c1->state, CALLRAFT__CALL_STATE__ENDED);
	assert_string_equal(c1->outcome, "site-lost");
	assert_string_equal(c1->callback_id, ""); /* reached: not called again */
	callraft__reply__free_unpacked(r, NULL);
	ASSERT_COUNTERS(f, "c1", "4/3/1/0/0");
	/* the survivors take the waiting call at once */
	assert_string_equal(next(f, "s1", &term, &index, NULL), "c1.000003");
	/* and the retried one comes back in its place, the same call: one per target */
	f->time_ms += CALLRAFT_CALLBACK_RETRY_MS_DEFAULT;
	OK(f, c_heartbeat(&b, "s1"));
	next_tick(f);
	r = campaign_show(f, "c1", 10, NULL);
	assert_int_equal(r->n_calls, r->campaign->released);
	callraft__reply__free_unpacked(r, NULL);
	assert_int_equal(call_state(f, "c1.000002"), CALLRAFT__CALL_STATE__WAITING);
}

/* Walks every page of `campaign show id` (limit a page), each OK with total `total`; appends each
 * call id (less its first `skip` characters) and a space to ids; returns the number of pages. */
static int show_pages(struct fx *f, const char *id, uint32_t limit, uint64_t total, size_t skip,
		      char *ids, size_t len)
{
	ProtobufCBinaryData cursor = {0, NULL};
	uint8_t keep[CALLRAFT_ID_BYTES_MAX];
	int pages = 0;
	do {
		Callraft__Reply *r = campaign_show(f, id, limit, &cursor);
		assert_int_equal(r->code, CALLRAFT__CODE__OK);
		assert_int_equal(r->total, total);
		for (size_t i = 0; i < r->n_calls; i++)
			snprintf(ids + strlen(ids), len - strlen(ids), "%s ", r->calls[i]->call_id + skip);
		cursor.len = r->next_cursor.len;
		if (cursor.len > 0) /* the last page has no cursor (and no data pointer) */
			memcpy(keep, r->next_cursor.data, r->next_cursor.len);
		cursor.data = keep;
		callraft__reply__free_unpacked(r, NULL);
		pages++;
	} while (cursor.len > 0 && pages < 10);
	return pages;
}

/* campaign show pages its calls in list order with a cursor. */
static void test_campaign_show_pages_its_calls_in_list_order(void **state)
{
	struct fx *f = *state;
	struct cb b;
	char ids[256] = "";

	WANT(f, campaign_create(f, "c1", "tehran", 300, 0, 0), CALLRAFT__CODE__OK);
	WANT(f, campaign_add(f, "c1", 1, 12), CALLRAFT__CODE__OK);
	for (int i = 0; i < 4; i++) {
		char a[8];
		snprintf(a, sizeof a, "a%d", i);
		OK(f, c_login(&b, a, "tehran"));
	}
	next_tick(f); /* 4 free x 300 % = 12 */
	assert_int_equal(show_pages(f, "c1", 5, 12, 3, ids, sizeof ids), 3);
	assert_string_equal(ids, "000001 000002 000003 000004 000005 000006 000007 000008 000009 "
				 "000010 000011 000012 ");
	/* a cursor of another campaign is refused */
	ProtobufCBinaryData other = {8, (uint8_t *)"c2.00001"};
	Callraft__Reply *r = campaign_show(f, "c1", 5, &other);
	assert_int_equal(r->code, CALLRAFT__CODE__INVALID_ARGUMENT);
	callraft__reply__free_unpacked(r, NULL);
}

/* campaign show lists only its own calls: under the key prefix "c1." also sit campaign "c1.x"'s
 * calls ("c1.x.000001") and a client's call "c1.abc", which are not c1's; paging still works. */
static void test_campaign_show_lists_only_its_own_calls(void **state)
{
	struct fx *f = *state;
	struct cb b;
	char ids[256] = "";

	OK(f, c_enqueue(&b, "c1.abc", "tehran", 0, "+982100000099", ""));
	WANT(f, campaign_create(f, "c1", "tehran", 300, 0, 0), CALLRAFT__CODE__OK);
	WANT(f, campaign_add(f, "c1", 1, 3), CALLRAFT__CODE__OK);
	WANT(f, campaign_create(f, "c1.x", "tehran", 300, 0, 0), CALLRAFT__CODE__OK);
	WANT(f, campaign_add(f, "c1.x", 1, 3), CALLRAFT__CODE__OK);
	for (int i = 0; i < 3; i++) {
		char a[8];
		snprintf(a, sizeof a, "a%d", i);
		OK(f, c_login(&b, a, "tehran"));
	}
	next_tick(f); /* 3 free x 300 % = 9 less c1.abc waiting: both campaigns release their 3 */
	int pages = show_pages(f, "c1", 2, 3, 0, ids, sizeof ids);
	assert_string_equal(ids, "c1.000001 c1.000002 c1.000003 ");
	assert_int_equal(pages, 2);
	Callraft__Reply *r = campaign_show(f, "c1.x", 10, NULL);
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_int_equal(r->n_calls, 3);
	assert_string_equal(r->calls[0]->call_id, "c1.x.000001");
	callraft__reply__free_unpacked(r, NULL);
}

/* A campaign is deleted only when it is over; its rows go (the check's row count proves it), its
 * calls stay, and so its id is not used again. */
static void test_campaign_is_deleted_only_when_over(void **state)
{
	struct fx *f = *state;
	struct cb b;

	WANT(f, campaign_create(f, "c1", "tehran", 100, 0, 0), CALLRAFT__CODE__OK);
	WANT(f, campaign_add(f, "c1", 1, 3), CALLRAFT__CODE__OK);
	WANT(f, campaign_create(f, "c2", "tehran", 100, 0, 0), CALLRAFT__CODE__OK);
	WANT(f, campaign_add(f, "c2", 1, 2), CALLRAFT__CODE__OK); /* the same numbers: another list */
	OK(f, c_login(&b, "a1", "tehran"));
	next_tick(f);
	ASSERT_QUEUE(f, "c1.000001");
	WANT(f, campaign_delete(f, "c1"), CALLRAFT__CODE__BAD_STATE); /* running */
	WANT(f, campaign_pause(f, "c1", true), CALLRAFT__CODE__OK);
	WANT(f, campaign_delete(f, "c1"), CALLRAFT__CODE__BAD_STATE); /* a call still waiting */
	assert_string_equal(serve(f, "a1"), "c1.000001");
	WANT(f, campaign_delete(f, "c1"), CALLRAFT__CODE__OK);
	WANT(f, campaign_delete(f, "c1"), CALLRAFT__CODE__NOT_FOUND);
	assert_int_equal(call_state(f, "c1.000001"), CALLRAFT__CALL_STATE__ENDED);
	ASSERT_COUNTERS(f, "c2", "2/0/0/0/0"); /* the other campaign's rows untouched */
	/* its calls remain, so its id is not used again (their ids would clash) */
	Callraft__Reply *r = campaign_create(f, "c1", "shiraz", 100, 0, 0);
	assert_int_equal(r->code, CALLRAFT__CODE__ALREADY_EXISTS);
	assert_non_null(strstr(r->message, "was used before"));
	callraft__reply__free_unpacked(r, NULL);
}

/* ---- the free agents' counts (free_agents.c) ------------------------------------------------ */

static const char *const skill_pool[] = {"sales", "support", "billing"};

struct walk_count {
	const char *skill;
	int64_t now_ms;
	uint32_t free, counted; /* free: the pacing rule's definition; counted: lease lapsed or not */
};

/* What the Tick counted before free_agents.c, by a walk of every agent: AVAILABLE, the skill, the
 * presence lease live. */
static int walk_one(void *arg, ProtobufCMessage *m)
{
	const Callraft__Agent *a = (const Callraft__Agent *)m;
	struct walk_count *w = arg;
	bool skill = false;

	for (size_t i = 0; i < a->n_skills && !skill; i++)
		skill = strcmp(a->skills[i], w->skill) == 0;
	bool available = skill && a->state == CALLRAFT__AGENT_STATE__AVAILABLE;
	w->free += available && a->presence_due_ms > w->now_ms;
	w->counted += available && a->presence_due_ms != 0;
	return 0;
}

/* Compares free_agents_count at FSM time now_ms with the walk for every skill; returns how many
 * skills had an agent whose lease lapsed and whose timer had not fired yet. */
static unsigned compare_free(struct fx *f, int64_t now_ms)
{
	struct apply_ctx c;
	char err[256];
	unsigned lapsed = 0;

	assert_int_equal(ctx_begin_at_open(&c, f->s, "test", err, sizeof err), 0);
	c.now_ms = now_ms;
	for (size_t i = 0; i < sizeof skill_pool / sizeof skill_pool[0]; i++) {
		struct walk_count w = {skill_pool[i], now_ms, 0, 0};
		uint32_t got;
		assert_int_equal(store_each(f->s, c.txn, DB_AGENTS, &callraft__agent__descriptor,
					    walk_one, &w),
				 0);
		if (free_agents_count(&c, skill_pool[i], &got) != 0)
			fail_msg("free_agents_count: %s", err);
		if (got != w.free)
			fail_msg("skill %s at %lld: %u free counted, the walk finds %u", skill_pool[i],
				 (long long)(now_ms - T0), got, w.free);
		lapsed += w.counted > w.free;
	}
	mdb_txn_abort(c.txn);
	return lapsed;
}

/* A deterministic random walk of agents through logins (with other skills), logouts, breaks,
 * ready, heartbeats, calls taken and ended, time passing past their leases, and Ticks: after every
 * step the count apply keeps says what the walk of every agent says, also while a lapsed lease's
 * timer has not fired yet (which the Tick's release sees: it runs before the timers). */
static void test_free_agents_counted_as_a_walk_of_the_agents_says(void **state)
{
	struct fx *f = *state;
	char agents[8][8], held[8][16] = {{0}}, call[16];
	unsigned calls = 0, lapsed_seen = 0;
	uint32_t x = 2463534242u; /* xorshift32 */

	for (unsigned i = 0; i < 8; i++)
		snprintf(agents[i], sizeof agents[i], "r%u", i);
	for (unsigned step = 0; step < 1500; step++) {
		struct cb b;
		Callraft__Reply *r = NULL;
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		unsigned a = x % 8, op = (x >> 8) % 10, pick = x >> 16;
		switch (op) {
		case 0: /* login, again with other skills while logged in */
			c_login(&b, agents[a], pick & 1 ? "tehran" : "shiraz");
			b.skills[0] = (char *)skill_pool[pick % 3];
			b.skills[1] = (char *)skill_pool[(pick % 3 + 1 + (pick >> 5 & 1)) % 3];
			b.op.login.n_skills = 1 + (pick >> 4 & 1);
			r = run(f, &b.cmd);
			break;
		case 1:
			r = run(f, c_logout(&b, agents[a]));
			break;
		case 2:
			SET_OP(&b, AGENT_SET_STATE, agent_set_state, ss,
			       CALLRAFT__AGENT_SET_STATE__INIT);
			b.op.ss.agent_id = agents[a];
			b.op.ss.state = CALLRAFT__AGENT_STATE__BREAK;
			b.op.ss.reason = "lunch";
			r = run(f, &b.cmd);
			break;
		case 3:
			r = run(f, c_ready(&b, agents[a], pick & 1));
			break;
		case 4:
			r = run(f, c_heartbeat(&b, agents[a]));
			break;
		case 5:
			snprintf(call, sizeof call, "k%u", calls++);
			r = run(f, c_enqueue(&b, call, "tehran", 0, "+982100000001", ""));
			break;
		case 6: /* take the next call and answer it */
			r = run(f, c_next(&b, agents[a]));
			if (r->code == CALLRAFT__CODE__OK) {
				Callraft__Reply *ar = run(f, c_answer(&b, r->call->call_id, agents[a],
								     r->call->offer_term,
								     r->call->offer_index));
				if (ar->code == CALLRAFT__CODE__OK)
					snprintf(held[a], sizeof held[a], "%s", r->call->call_id);
				callraft__reply__free_unpacked(ar, NULL);
			}
			break;
		case 7:
			if (held[a][0] != '\0')
				r = run(f, c_end(&b, held[a], agents[a]));
			held[a][0] = '\0';
			break;
		case 8: /* time passes, up to a lease and a half, with no Tick yet */
			f->time_ms += pick % (CALLRAFT_PRESENCE_TIMEOUT_MS_DEFAULT * 3 / 2);
			break;
		default:
			f->time_ms += CALLRAFT_TICK_INTERVAL_MS;
			tick(f);
			break;
		}
		if (r != NULL)
			callraft__reply__free_unpacked(r, NULL);
		lapsed_seen += compare_free(f, f->time_ms) > 0;
	}
	/* the case that needs the due timers did occur (else the test proves less than it says) */
	assert_true(lapsed_seen > 0);
}

/* The Tick's release counts an agent whose lease lapsed as not free, though its timer fires only
 * after the release (the same Tick). */
static void test_campaign_does_not_count_an_agent_whose_lease_lapsed(void **state)
{
	struct fx *f = *state;
	struct cb b;

	WANT(f, campaign_create(f, "c1", "tehran", 100, 0, 0), CALLRAFT__CODE__OK);
	WANT(f, campaign_add(f, "c1", 1, 5), CALLRAFT__CODE__OK);
	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_login(&b, "a2", "tehran"));
	f->time_ms += CALLRAFT_PRESENCE_TIMEOUT_MS_DEFAULT; /* a1's lease lapses now */
	OK(f, c_heartbeat(&b, "a2"));
	tick(f);
	ASSERT_COUNTERS(f, "c1", "5/1/0/0/0");
	assert_int_equal(agent_state(f, "a1"), CALLRAFT__AGENT_STATE__UNREACHABLE);
	OK(f, c_heartbeat(&b, "a1")); /* back: free again */
	next_tick(f);
	ASSERT_COUNTERS(f, "c1", "5/2/0/0/0");
}

/* A store written before the counts (the table empty while agents are free) gets them at open. */
static void test_free_agents_are_counted_at_open_for_an_older_store(void **state)
{
	struct fx *f = *state;
	struct cb b;
	MDB_txn *txn;

	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_login(&b, "a2", "shiraz"));
	assert_int_equal(mdb_txn_begin(f->s->env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_drop(txn, f->s->dbi[DB_FREE_AGENTS], 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	char msg[256];
	assert_int_not_equal(state_check(f->s, msg, sizeof msg), 0); /* the check sees it */
	state_close(f->s);
	f->s = fx_state_at(f, "a", NULL);
	assert_int_equal(state_check(f->s, msg, sizeof msg), 0);
	assert_int_equal(compare_free(f, f->time_ms), 0);
	WANT(f, campaign_create(f, "c1", "tehran", 100, 0, 0), CALLRAFT__CODE__OK);
	WANT(f, campaign_add(f, "c1", 1, 5), CALLRAFT__CODE__OK);
	next_tick(f);
	ASSERT_COUNTERS(f, "c1", "5/2/0/0/0");
}

/* While a campaign exists its call ids "<campaign>.NNNNNN" are its own: a client's enqueue or
 * callback under one is refused and changes nothing, so a release never writes over another call;
 * an id whose call ids a client took before is not given to a campaign. */
static void test_campaign_call_ids_are_the_campaigns(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *r;

	OK(f, c_enqueue(&b, "cars.000007", "tehran", 0, "+982100000007", "")); /* no campaign yet */
	WANT(f, campaign_create(f, "flights", "tehran", 100, 0, 0), CALLRAFT__CODE__OK);
	WANT(f, campaign_add(f, "flights", 1, 3), CALLRAFT__CODE__OK);
	r = run(f, c_enqueue(&b, "flights.000002", "tehran", 0, "+982100000009", ""));
	assert_int_equal(r->code, CALLRAFT__CODE__ALREADY_EXISTS);
	assert_non_null(strstr(r->message, "is campaign 'flights''s"));
	callraft__reply__free_unpacked(r, NULL);
	SET_OP(&b, CALLBACK_SCHEDULE, callback_schedule, cbs, CALLRAFT__CALLBACK_SCHEDULE__INIT);
	b.op.cbs.callback_id = "flights.000003";
	b.op.cbs.number = "+982100000009";
	b.op.cbs.queue = "sales";
	b.op.cbs.at_ms = f->time_ms + 3600 * 1000;
	r = run(f, &b.cmd);
	assert_int_equal(r->code, CALLRAFT__CODE__ALREADY_EXISTS);
	callraft__reply__free_unpacked(r, NULL);
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__CallShow show = CALLRAFT__CALL_SHOW__INIT;
	q.op_case = CALLRAFT__REQUEST__OP_CALL_SHOW;
	q.call_show = &show;
	for (int i = 0; i < 2; i++) { /* neither refused create left a call */
		show.call_id = i == 0 ? "flights.000002" : "flights.000003";
		r = read_req(f, &q);
		assert_int_equal(r->code, CALLRAFT__CODE__NOT_FOUND);
		callraft__reply__free_unpacked(r, NULL);
	}
	ASSERT_QUEUE(f, "cars.000007");
	/* ids not of the form are anyone's */
	OK(f, c_enqueue(&b, "flights.00002x", "tehran", 0, "+982100000010", ""));
	OK(f, c_enqueue(&b, "flights.2", "tehran", 0, "+982100000011", ""));
	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_login(&b, "a2", "tehran"));
	OK(f, c_login(&b, "a3", "tehran"));
	OK(f, c_login(&b, "a4", "tehran"));
	OK(f, c_login(&b, "a5", "tehran"));
	OK(f, c_login(&b, "a6", "tehran"));
	next_tick(f); /* six free, three waiting: all three targets released, as the campaign's calls */
	ASSERT_COUNTERS(f, "flights", "3/3/0/0/0");
	ASSERT_QUEUE(f, "cars.000007 flights.00002x flights.2 flights.000001 flights.000002 flights.000003");
	r = campaign_create(f, "cars", "tehran", 100, 0, 0);
	assert_int_equal(r->code, CALLRAFT__CODE__ALREADY_EXISTS);
	assert_non_null(strstr(r->message, "was used before"));
	callraft__reply__free_unpacked(r, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    FX_TEST(test_campaign_releases_paced_by_free_agents_in_list_order),
	    FX_TEST_EMPTY(test_campaign_releases_only_in_its_window_and_calling_hours),
	    FX_TEST(test_campaign_input_is_validated_and_changes_nothing),
	    FX_TEST(test_campaign_survives_the_loss_of_its_site_without_doubles),
	    FX_TEST(test_campaign_show_pages_its_calls_in_list_order),
	    FX_TEST(test_campaign_is_deleted_only_when_over),
	    FX_TEST(test_campaign_does_not_count_an_agent_whose_lease_lapsed),
	    FX_TEST(test_campaign_call_ids_are_the_campaigns),
	    FX_TEST(test_campaign_show_lists_only_its_own_calls),
	    FX_TEST(test_free_agents_counted_as_a_walk_of_the_agents_says),
	    FX_TEST(test_free_agents_are_counted_at_open_for_an_older_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
