/* test_state_events.c: unit tests of issue #14 on the state model: the event stream (state/
 * events.c: one event per change, in log order, positions within an entry, resume from a cursor,
 * filters, retention and COMPACTED, determinism) and pushed offers (state/assign.c, ready.c: the
 * FSM gives waiting calls to ready agents keeping the routing rules of routing.c). The fixture
 * (entries built as the leader builds them, state_check after every command) is the one of
 * test_state_routing.c. */
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

#define STATE_FIXTURE_NAME "test_state_events"
#include "state_fixture.h"


/* ---- issue #14 helpers ------------------------------------------------------------------ */

static Callraft__Command *c_break(struct cb *b, const char *agent)
{
	SET_OP(b, AGENT_SET_STATE, agent_set_state, ss, CALLRAFT__AGENT_SET_STATE__INIT);
	b->op.ss.agent_id = (char *)agent;
	b->op.ss.state = CALLRAFT__AGENT_STATE__BREAK;
	b->op.ss.reason = "lunch";
	return &b->cmd;
}

struct filter {
	const char *queue, *site, *agent;
	Callraft__EventKind kind; /* NONE: every kind */
	uint32_t limit;
};

static Callraft__Reply *events(struct fx *f, uint64_t from_index, uint32_t from_position,
			       const struct filter *flt)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__EventsRead op = CALLRAFT__EVENTS_READ__INIT;
	Callraft__EventKind kind = flt != NULL ? flt->kind : 0;

	op.from_index = from_index;
	op.from_position = from_position;
	if (flt != NULL) {
		op.queue = (char *)(flt->queue ? flt->queue : "");
		op.site = (char *)(flt->site ? flt->site : "");
		op.agent_id = (char *)(flt->agent ? flt->agent : "");
		op.limit = flt->limit;
		if (kind != CALLRAFT__EVENT_KIND__EVENT_KIND_NONE) {
			op.kinds = &kind;
			op.n_kinds = 1;
		}
	}
	q.op_case = CALLRAFT__REQUEST__OP_EVENTS_READ;
	q.events_read = &op;
	return read_req(f, &q);
}

/* The kinds of the events from (from_index, 0) on, space-separated, with the call or agent id:
 * "CALL_QUEUED:c1 AGENT_STATE:a1 ...". Checks log order on the way. */
static void kinds(struct fx *f, uint64_t from_index, const struct filter *flt, char *out,
		  size_t len)
{
	Callraft__Reply *r = events(f, from_index, 0, flt);
	uint64_t last_index = 0;
	uint32_t last_pos = 0;

	if (r->code != CALLRAFT__CODE__OK)
		fail_msg("events_read: %d %s", r->code, r->message);
	out[0] = '\0';
	for (size_t i = 0; i < r->n_events; i++) {
		const Callraft__Event *e = r->events[i];
		if (i > 0 && (e->index < last_index || (e->index == last_index && e->position <= last_pos)))
			fail_msg("event %zu out of order: %llu.%u after %llu.%u", i,
				 (unsigned long long)e->index, e->position,
				 (unsigned long long)last_index, last_pos);
		last_index = e->index;
		last_pos = e->position;
		snprintf(out + strlen(out), len - strlen(out), "%s%s:%s", i ? " " : "",
			 state_event_kind_name(e->kind),
			 e->kind == CALLRAFT__EVENT_KIND__AGENT_STATE || e->call_id[0] == '\0'
			     ? e->agent_id
			     : e->call_id);
	}
	callraft__reply__free_unpacked(r, NULL);
}

#define ASSERT_EVENTS(f, from, flt, want)                                                          \
	do {                                                                                       \
		char got_[2048];                                                                   \
		kinds((f), (from), (flt), got_, sizeof got_);                                      \
		assert_string_equal(got_, (want));                                                 \
	} while (0)

static bool agent_push(struct fx *f, const char *id)
{
	return AGENT_READ(f, id, r, r->agent->push);
}

/* ==== the event stream ==================================================================== */

static void test_every_change_of_a_call_is_one_event_in_log_order(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;

	uint64_t from = f->index + 1;
	OK(f, c_login(&b, "a1", "paris"));
	OK(f, c_enqueue(&b, "c1", "paris", 0, "+331", "cust-1"));
	assert_string_equal(next(f, "a1", &term, &index, NULL), "c1");
	OK(f, c_answer(&b, "c1", "a1", term, index));
	OK(f, c_end(&b, "c1", "a1"));
	OK(f, c_enqueue(&b, "c2", "paris", 0, "+332", ""));
	OK(f, c_abandon(&b, "c2"));
	ASSERT_EVENTS(f, from, NULL,
		      "AGENT_STATE:a1 CALL_QUEUED:c1 CALL_OFFERED:c1 AGENT_STATE:a1 CALL_ANSWERED:c1 "
		      "AGENT_STATE:a1 CALL_ENDED:c1 CALL_QUEUED:c2 CALL_ABANDONED:c2");
	/* The offer event carries the token the answer needs, and the agent. */
	struct filter offered = {.kind = CALLRAFT__EVENT_KIND__CALL_OFFERED};
	Callraft__Reply *r = events(f, from, 0, &offered);
	assert_int_equal(r->n_events, 1);
	assert_int_equal(r->events[0]->offer_term, term);
	assert_int_equal(r->events[0]->offer_index, index);
	assert_string_equal(r->events[0]->agent_id, "a1");
	assert_string_equal(r->events[0]->queue, "sales");
	assert_string_equal(r->events[0]->site, "paris");
	assert_int_equal(r->events[0]->at_ms, f->time_ms);
	callraft__reply__free_unpacked(r, NULL);
}

static void test_a_failed_command_emits_nothing_and_a_repeat_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;

	OK(f, c_login(&b, "a1", "paris"));
	OK(f, c_enqueue(&b, "c1", "paris", 0, "+331", ""));
	assert_non_null(next(f, "a1", &term, &index, NULL));
	uint64_t from = f->index + 1;
	EXPECT(f, c_answer(&b, "c1", "a1", term, index + 1), CALLRAFT__CODE__STALE_TOKEN);
	EXPECT(f, c_end(&b, "nope", "a1"), CALLRAFT__CODE__NOT_FOUND);
	OK(f, c_enqueue(&b, "c1", "paris", 0, "+331", "")); /* already enqueued */
	ASSERT_EVENTS(f, from, NULL, "");
	/* Nothing in the stream, yet the cursor moves on past the applied index. */
	Callraft__Reply *r = events(f, from, 0, NULL);
	assert_int_equal(r->next_index, f->index + 1);
	assert_int_equal(r->next_position, 0);
	callraft__reply__free_unpacked(r, NULL);
}

/* Several commands in one entry: positions order the events within the entry's index. */
static void test_positions_order_the_events_of_one_entry(void **state)
{
	struct fx *f = *state;
	struct cb b[3];
	Callraft__Entry e = CALLRAFT__ENTRY__INIT;
	Callraft__Command *cmds[3];
	struct state_replies out;
	char err[256];

	cmds[0] = c_enqueue(&b[0], "c1", "", 0, "+331", "");
	cmds[1] = c_enqueue(&b[1], "c2", "", 0, "+332", "");
	cmds[2] = c_login(&b[2], "a1", "paris");
	for (int i = 0; i < 3; i++) {
		cmds[i]->client_id = f->client_id;
		cmds[i]->seq = ++f->seq;
	}
	e.format = 1;
	e.time_ms = f->time_ms;
	e.term = f->term;
	e.n_commands = 3;
	e.commands = cmds;
	size_t len = callraft__entry__get_packed_size(&e);
	uint8_t *buf = malloc(len);
	callraft__entry__pack(&e, buf);
	assert_int_equal(state_apply(f->s, ++f->index, buf, len, &out, err, sizeof err), 0);
	free(buf);
	assert_int_equal(out.events, 3);
	Callraft__Reply *r = events(f, f->index, 0, NULL);
	assert_int_equal(r->n_events, 3);
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(r->events[i]->index, f->index);
		assert_int_equal(r->events[i]->position, i);
	}
	callraft__reply__free_unpacked(r, NULL);
	/* Resuming in the middle of the entry gets the rest of it, exactly once. */
	r = events(f, f->index, 2, NULL);
	assert_int_equal(r->n_events, 1);
	assert_string_equal(r->events[0]->agent_id, "a1");
	callraft__reply__free_unpacked(r, NULL);
}

static void test_resume_from_the_cursor_gets_every_event_once(void **state)
{
	struct fx *f = *state;
	struct cb b;
	char id[16];

	for (int i = 0; i < 7; i++) {
		snprintf(id, sizeof id, "c%d", i);
		OK(f, c_enqueue(&b, id, "", 0, "+331", ""));
	}
	char all[2048], pieces[2048] = "";
	kinds(f, 1, NULL, all, sizeof all);
	uint64_t index = 1;
	uint32_t pos = 0;
	for (int rounds = 0; rounds < 10; rounds++) {
		struct filter lim = {.limit = 2};
		Callraft__Reply *r = events(f, index, pos, &lim);
		assert_int_equal(r->code, CALLRAFT__CODE__OK);
		assert_true(r->n_events <= 2);
		for (size_t i = 0; i < r->n_events; i++)
			snprintf(pieces + strlen(pieces), sizeof pieces - strlen(pieces), "%s%s:%s",
				 pieces[0] ? " " : "", state_event_kind_name(r->events[i]->kind),
				 r->events[i]->call_id);
		index = r->next_index;
		pos = r->next_position;
		callraft__reply__free_unpacked(r, NULL);
	}
	assert_string_equal(pieces, all);
	assert_int_equal(index, f->index + 1);
}

static void test_filters_by_queue_site_agent_and_kind(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_login(&b, "a1", "paris"));
	OK(f, c_login(&b, "a2", "lyon"));
	OK(f, c_enqueue(&b, "c1", "paris", 0, "+331", ""));
	OK(f, c_enqueue(&b, "c2", "lyon", 0, "+332", ""));
	assert_string_equal(next(f, "a2", NULL, NULL, NULL), "c2");
	struct filter by_site = {.site = "lyon"};
	ASSERT_EVENTS(f, 1, &by_site, "AGENT_STATE:a2 CALL_QUEUED:c2 CALL_OFFERED:c2 AGENT_STATE:a2");
	struct filter by_agent = {.agent = "a2", .kind = CALLRAFT__EVENT_KIND__CALL_OFFERED};
	ASSERT_EVENTS(f, 1, &by_agent, "CALL_OFFERED:c2");
	struct filter by_queue = {.queue = "sales", .kind = CALLRAFT__EVENT_KIND__CALL_QUEUED};
	ASSERT_EVENTS(f, 1, &by_queue, "CALL_QUEUED:c1 CALL_QUEUED:c2");
	struct filter none = {.queue = "support"};
	ASSERT_EVENTS(f, 1, &none, "");
	/* Bad filters are refused. */
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__EventsRead op = CALLRAFT__EVENTS_READ__INIT;
	Callraft__EventKind bad = 99;
	op.kinds = &bad;
	op.n_kinds = 1;
	q.op_case = CALLRAFT__REQUEST__OP_EVENTS_READ;
	q.events_read = &op;
	Callraft__Reply *r = read_req(f, &q);
	assert_int_equal(r->code, CALLRAFT__CODE__INVALID_ARGUMENT);
	callraft__reply__free_unpacked(r, NULL);
}

static void test_tickets_sites_and_members_are_events(void **state)
{
	struct fx *f = *state;
	struct cb b;

	uint64_t from = f->index + 1;
	SET_OP(&b, TICKET_OPEN, ticket_open, topen, CALLRAFT__TICKET_OPEN__INIT);
	b.op.topen.customer_id = "cust-1";
	b.op.topen.category = "billing";
	b.op.topen.subject = "wrong bill";
	OK(f, &b.cmd);
	SET_OP(&b, SITE_DOWN, site_down, down, CALLRAFT__SITE_DOWN__INIT);
	b.op.down.site = "lyon";
	b.op.down.reason = "fire";
	OK(f, &b.cmd);
	OK(f, &b.cmd); /* already down: no second event */
	SET_OP(&b, SITE_UP, site_up, up, CALLRAFT__SITE_UP__INIT);
	b.op.up.site = "lyon";
	OK(f, &b.cmd);
	Callraft__Reply *r = events(f, from, 0, NULL);
	assert_int_equal(r->n_events, 3);
	assert_int_equal(r->events[0]->kind, CALLRAFT__EVENT_KIND__TICKET_OPENED);
	assert_string_equal(r->events[0]->customer_id, "cust-1");
	assert_true(state_ticket_code_valid(r->events[0]->ticket_code));
	assert_int_equal(r->events[1]->kind, CALLRAFT__EVENT_KIND__SITE_LOST);
	assert_string_equal(r->events[1]->site, "lyon");
	assert_string_equal(r->events[1]->reason, "fire");
	assert_int_equal(r->events[2]->kind, CALLRAFT__EVENT_KIND__SITE_RESTORED);
	callraft__reply__free_unpacked(r, NULL);
}

/* Retention by age (FSM time): a day later the old events are trimmed by the next entries, and a
 * resume from before the trimmed index gets COMPACTED; from after it, the rest. */
static void test_events_older_than_retention_are_trimmed_and_resume_before_is_compacted(
    void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_enqueue(&b, "c1", "", 0, "+331", ""));
	OK(f, c_enqueue(&b, "c2", "", 0, "+332", ""));
	uint64_t old_last = f->index;
	f->time_ms += CALLRAFT_EVENTS_RETAINED_MS + 1;
	register_client(f); /* the session expired too (a day) */
	OK(f, c_enqueue(&b, "c3", "", 0, "+333", ""));
	Callraft__Reply *r = events(f, 1, 0, NULL);
	assert_int_equal(r->code, CALLRAFT__CODE__COMPACTED);
	assert_int_equal(r->next_index, old_last + 1);
	callraft__reply__free_unpacked(r, NULL);
	ASSERT_EVENTS(f, old_last + 2, NULL, "CALL_QUEUED:c3");
}

/* A state whose event table keeps 3 events, with the PBX's session registered. */
static int setup_small(void **state)
{
	struct state_options o = {.map_bytes = 64u << 20, .no_sync = true, .events_retained_max = 3};

	fx_open(state, &o);
	register_client(*state);
	return 0;
}

/* Retention by count (a state opened with a bound of 3): the table keeps the newest 3. */
static void test_events_beyond_the_count_bound_are_trimmed_oldest_first(void **state)
{
	struct fx *f = *state;
	struct cb b;
	char id[16], number[16];

	for (int i = 0; i < 6; i++) { /* six callers: one number would be one caller redialling */
		snprintf(id, sizeof id, "c%d", i);
		snprintf(number, sizeof number, "+33100%d", i);
		OK(f, c_enqueue(&b, id, "", 0, number, ""));
	}
	ASSERT_EVENTS(f, f->index - 2, NULL, "CALL_QUEUED:c3 CALL_QUEUED:c4 CALL_QUEUED:c5");
	Callraft__Reply *r = events(f, f->index - 3, 0, NULL);
	assert_int_equal(r->code, CALLRAFT__CODE__COMPACTED);
	callraft__reply__free_unpacked(r, NULL);
}

/* ==== pushed offers ======================================================================= */

static void test_a_call_arriving_is_offered_to_a_ready_agent_in_the_same_entry(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *keep;

	OK(f, c_login(&b, "a1", "paris"));
	OK(f, c_ready(&b, "a1", true));
	assert_true(agent_push(f, "a1"));
	OK(f, c_enqueue(&b, "c1", "paris", 0, "+331", ""));
	uint64_t at = f->index;
	Callraft__Call *call = call_get(f, "c1", &keep);
	assert_int_equal(call->state, CALLRAFT__CALL_STATE__OFFERED);
	assert_string_equal(call->agent_id, "a1");
	uint64_t term = call->offer_term, index = call->offer_index;
	assert_int_equal(index >> CALLRAFT_BATCH_POSITION_BITS, at);
	callraft__reply__free_unpacked(keep, NULL);
	ASSERT_EVENTS(f, at, NULL, "CALL_QUEUED:c1 CALL_OFFERED:c1 AGENT_STATE:a1");
	/* The token of the pushed offer answers it, as with a pulled one. */
	OK(f, c_answer(&b, "c1", "a1", term, index));
	OK(f, c_end(&b, "c1", "a1"));
	/* Still ready after the talk (wrap-up 0): the next call is offered at once. */
	assert_true(agent_push(f, "a1"));
	OK(f, c_enqueue(&b, "c2", "paris", 0, "+332", ""));
	assert_int_equal(call_state(f, "c2"), CALLRAFT__CALL_STATE__OFFERED);
}

static void test_an_agent_becoming_ready_gets_the_best_waiting_call(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *keep;

	OK(f, c_enqueue(&b, "low", "paris", 0, "+331", ""));
	OK(f, c_enqueue(&b, "gold", "paris", 2, "+332", ""));
	OK(f, c_login(&b, "a1", "paris"));
	assert_int_equal(call_state(f, "low"), CALLRAFT__CALL_STATE__WAITING); /* not ready yet */
	OK(f, c_ready(&b, "a1", true));
	Callraft__Call *call = call_get(f, "gold", &keep); /* the higher tier first */
	assert_int_equal(call->state, CALLRAFT__CALL_STATE__OFFERED);
	callraft__reply__free_unpacked(keep, NULL);
	ASSERT_QUEUE(f, "low");
}

static void test_the_agent_idle_longest_gets_the_call(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *keep;

	OK(f, c_login(&b, "a2", "paris"));
	f->time_ms += 1000;
	OK(f, c_login(&b, "a1", "paris"));
	OK(f, c_ready(&b, "a1", true));
	OK(f, c_ready(&b, "a2", true)); /* ready later, but AVAILABLE (idle) for longer */
	OK(f, c_enqueue(&b, "c1", "paris", 0, "+331", ""));
	Callraft__Call *call = call_get(f, "c1", &keep);
	assert_string_equal(call->agent_id, "a2");
	callraft__reply__free_unpacked(keep, NULL);
}

static void test_a_rejected_offer_makes_the_agent_not_ready_and_goes_to_the_next(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *keep;

	OK(f, c_login(&b, "a1", "paris"));
	OK(f, c_ready(&b, "a1", true));
	OK(f, c_enqueue(&b, "c1", "paris", 0, "+331", ""));
	OK(f, c_enqueue(&b, "c0", "paris", 0, "+330", ""));
	Callraft__Call *call = call_get(f, "c1", &keep);
	uint64_t term = call->offer_term, index = call->offer_index;
	callraft__reply__free_unpacked(keep, NULL);
	OK(f, c_login(&b, "a2", "paris"));
	OK(f, c_ready(&b, "a2", true)); /* takes c0 */
	assert_int_equal(call_state(f, "c0"), CALLRAFT__CALL_STATE__OFFERED);
	OK(f, c_login(&b, "a3", "paris"));
	OK(f, c_ready(&b, "a3", true)); /* nothing left */
	OK(f, c_reject(&b, "c1", "a1", term, index));
	/* a1 declined: not ready; the call, back in its place, goes to a3 in the same entry. */
	assert_false(agent_push(f, "a1"));
	assert_int_equal(agent_state(f, "a1"), CALLRAFT__AGENT_STATE__AVAILABLE);
	call = call_get(f, "c1", &keep);
	assert_int_equal(call->state, CALLRAFT__CALL_STATE__OFFERED);
	assert_string_equal(call->agent_id, "a3");
	callraft__reply__free_unpacked(keep, NULL);
}

static void test_an_offer_timing_out_goes_back_and_the_agent_is_not_ready(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *keep;

	OK(f, c_qconf(&b, -1, 2000, -1, -1, -1));
	OK(f, c_login(&b, "a1", "paris"));
	OK(f, c_ready(&b, "a1", true));
	OK(f, c_enqueue(&b, "c1", "paris", 0, "+331", ""));
	OK(f, c_login(&b, "a2", "paris"));
	OK(f, c_ready(&b, "a2", true));
	assert_int_equal(agent_state(f, "a2"), CALLRAFT__AGENT_STATE__AVAILABLE);
	f->time_ms += 2000;
	OK(f, c_heartbeat(&b, "a2"));
	tick(f);
	assert_false(agent_push(f, "a1"));
	Callraft__Call *call = call_get(f, "c1", &keep);
	assert_int_equal(call->state, CALLRAFT__CALL_STATE__OFFERED);
	assert_string_equal(call->agent_id, "a2");
	assert_int_equal(call->offers, 2);
	callraft__reply__free_unpacked(keep, NULL);
}

/* The site rule holds for pushed offers: a call of another site is offered only once it has waited
 * overflow_after_ms, which the Tick's sweep notices. */
static void test_overflow_to_another_site_is_pushed_by_the_tick(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_qconf(&b, 10000, -1, -1, -1, -1));
	OK(f, c_login(&b, "a1", "paris"));
	OK(f, c_ready(&b, "a1", true));
	OK(f, c_enqueue(&b, "c1", "lyon", 0, "+331", ""));
	assert_int_equal(call_state(f, "c1"), CALLRAFT__CALL_STATE__WAITING);
	f->time_ms += 9999;
	OK(f, c_heartbeat(&b, "a1"));
	tick(f);
	assert_int_equal(call_state(f, "c1"), CALLRAFT__CALL_STATE__WAITING);
	f->time_ms += 1;
	tick(f);
	assert_int_equal(call_state(f, "c1"), CALLRAFT__CALL_STATE__OFFERED);
}

static void test_not_ready_agents_are_never_pushed_to(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_login(&b, "pull", "paris"));   /* AVAILABLE, but pulls */
	OK(f, c_login(&b, "brk", "paris"));
	OK(f, c_ready(&b, "brk", true));
	OK(f, c_break(&b, "brk"));            /* a break clears ready */
	OK(f, c_enqueue(&b, "c1", "paris", 0, "+331", ""));
	tick(f);
	assert_int_equal(call_state(f, "c1"), CALLRAFT__CALL_STATE__WAITING);
	assert_false(agent_push(f, "brk"));
	/* push is refused with any state but AVAILABLE. */
	SET_OP(&b, AGENT_SET_STATE, agent_set_state, ss, CALLRAFT__AGENT_SET_STATE__INIT);
	b.op.ss.agent_id = "brk";
	b.op.ss.state = CALLRAFT__AGENT_STATE__BREAK;
	b.op.ss.push = true;
	EXPECT(f, &b.cmd, CALLRAFT__CODE__INVALID_ARGUMENT);
	/* A pull client still works. */
	assert_string_equal(next(f, "pull", NULL, NULL, NULL), "c1");
}

/* Idle ready agents: a Tick with no call waiting changes nothing but the FSM time, and adds no
 * event. */
static void test_idle_ready_agents_cost_a_tick_nothing(void **state)
{
	struct fx *f = *state;
	struct cb b;
	char id[16];

	for (int i = 0; i < 20; i++) {
		snprintf(id, sizeof id, "a%d", i);
		OK(f, c_login(&b, id, "paris"));
		OK(f, c_ready(&b, id, true));
	}
	uint64_t from = f->index + 1;
	for (int i = 0; i < 5; i++)
		tick(f);
	ASSERT_EVENTS(f, from, NULL, "");
}

/* Two replicas applying the same entries (pushed offers, rejects, ticks, trims) hold the same
 * tables, events and ready index included. */
static void test_two_replicas_make_the_same_offers_and_events(void **state)
{
	struct fx *f = *state;
	struct fx g = *f;
	char err[256];

	g.s = fx_state_at(f, "b", NULL);
	struct fx *r[2] = {f, &g};
	for (int k = 0; k < 2; k++) {
		struct cb b;
		struct fx *x = r[k];
		register_client(x);
		OK(x, c_qconf(&b, 3000, 2000, -1, 1000, -1));
		for (int i = 0; i < 4; i++) {
			char id[16];
			snprintf(id, sizeof id, "a%d", i);
			OK(x, c_login(&b, id, i % 2 ? "paris" : "lyon"));
			OK(x, c_ready(&b, id, i != 3));
		}
		for (int i = 0; i < 12; i++) {
			char id[16];
			snprintf(id, sizeof id, "c%d", i);
			x->time_ms += 700;
			OK(x, c_enqueue(&b, id, i % 3 ? "paris" : "lyon", (unsigned)(i % 4), "+33", ""));
			tick(x);
		}
		for (int i = 0; i < 8; i++) {
			x->time_ms += 600;
			OK(x, c_heartbeat(&b, "a0"));
			tick(x);
		}
	}
	assert_int_equal(f->index, g.index);
	assert_true(state_digest(f->s) == state_digest(g.s));
	char ef[8192], eg[8192];
	kinds(f, 1, NULL, ef, sizeof ef);
	kinds(&g, 1, NULL, eg, sizeof eg);
	assert_string_equal(ef, eg);
	assert_non_null(strstr(ef, "CALL_OFFERED"));
	assert_non_null(strstr(ef, "CALL_REQUEUED"));
	if (state_check(g.s, err, sizeof err) != 0)
		fail_msg("%s", err);
	state_close(g.s);
}


/* A site loss (issue 12's rules) emits through the central hooks: SITE_LOST, its waiting callers
 * made callbacks, its call in progress ended with a callback in its place, its agent unreachable. */
static void test_a_site_loss_is_in_the_stream(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;
	char got[2048];

	OK(f, c_login(&b, "t-agent", "tehran"));
	OK(f, c_enqueue(&b, "t0", "tehran", 0, "+9821000000", ""));
	assert_string_equal(next(f, "t-agent", &term, &index, NULL), "t0");
	OK(f, c_answer(&b, "t0", "t-agent", term, index));
	OK(f, c_enqueue(&b, "t1", "tehran", 0, "+9821000001", ""));
	uint64_t from = f->index + 1;
	SET_OP(&b, SITE_DOWN, site_down, down, CALLRAFT__SITE_DOWN__INIT);
	b.op.down.site = "tehran";
	OK(f, &b.cmd);
	kinds(f, from, NULL, got, sizeof got);
	assert_non_null(strstr(got, "SITE_LOST:"));
	assert_non_null(strstr(got, "CALL_CALLBACK:t1"));
	assert_non_null(strstr(got, "CALL_ENDED:t0"));
	assert_non_null(strstr(got, "AGENT_STATE:t-agent"));
	/* Every event of the loss is of its entry. */
	Callraft__Reply *r = events(f, from, 0, NULL);
	for (size_t i = 0; i < r->n_events; i++)
		assert_int_equal(r->events[i]->index, from);
	callraft__reply__free_unpacked(r, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    FX_TEST(test_every_change_of_a_call_is_one_event_in_log_order),
	    FX_TEST(test_a_failed_command_emits_nothing_and_a_repeat_changes_nothing),
	    FX_TEST(test_positions_order_the_events_of_one_entry),
	    FX_TEST(test_resume_from_the_cursor_gets_every_event_once),
	    FX_TEST(test_filters_by_queue_site_agent_and_kind),
	    FX_TEST(test_tickets_sites_and_members_are_events),
	    FX_TEST(test_events_older_than_retention_are_trimmed_and_resume_before_is_compacted),
	    cmocka_unit_test_setup_teardown(
		test_events_beyond_the_count_bound_are_trimmed_oldest_first, setup_small, teardown),
	    FX_TEST(test_a_call_arriving_is_offered_to_a_ready_agent_in_the_same_entry),
	    FX_TEST(test_an_agent_becoming_ready_gets_the_best_waiting_call),
	    FX_TEST(test_the_agent_idle_longest_gets_the_call),
	    FX_TEST(test_a_rejected_offer_makes_the_agent_not_ready_and_goes_to_the_next),
	    FX_TEST(test_an_offer_timing_out_goes_back_and_the_agent_is_not_ready),
	    FX_TEST(test_overflow_to_another_site_is_pushed_by_the_tick),
	    FX_TEST(test_not_ready_agents_are_never_pushed_to),
	    FX_TEST(test_idle_ready_agents_cost_a_tick_nothing),
	    FX_TEST_EMPTY(test_two_replicas_make_the_same_offers_and_events),
	    FX_TEST(test_a_site_loss_is_in_the_stream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
