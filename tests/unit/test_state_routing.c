/* test_state_routing.c: unit tests of the routing rules of issue #3 on the state model (state/
 * routing.c, callbacks.c, stats.c): Tick-driven timers, offers with tokens, presence, wrap-up,
 * tiers and aging, overflow by wait, the known agent, callbacks, site loss and redial, stats,
 * ticket classes and contact history. Entries are built as the leader builds them; every test ends
 * with state_check (no call held by two agents, the queue index matches the calls). */
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

#include "callraft_timing.h"
#include "state.h"
#include "state_internal.h"

#define STATE_FIXTURE_NAME "test_state_routing"
#include "state_fixture.h"

/* ==== 1-2. Tick, offers with a token ===================================================== */

static void test_offer_not_answered_in_time_goes_back_with_place_intact(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;

	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_login(&b, "a2", "tehran"));
	OK(f, c_enqueue(&b, "c1", "tehran", 0, "+9821000001", ""));
	f->time_ms += 10;
	OK(f, c_enqueue(&b, "c2", "tehran", 0, "+9821000002", ""));
	assert_string_equal(next(f, "a1", &term, &index, NULL), "c1");
	int64_t offered = f->time_ms;

	f->time_ms = offered + CALLRAFT_OFFER_TIMEOUT_MS_DEFAULT - 1;
	tick(f);
	assert_int_equal(call_state(f, "c1"), CALLRAFT__CALL_STATE__OFFERED);
	f->time_ms = offered + CALLRAFT_OFFER_TIMEOUT_MS_DEFAULT;
	/* expired but not yet returned: the answer is already refused */
	EXPECT(f, c_answer(&b, "c1", "a1", term, index), CALLRAFT__CODE__STALE_TOKEN);
	tick(f);
	assert_int_equal(call_state(f, "c1"), CALLRAFT__CALL_STATE__WAITING);
	assert_int_equal(agent_state(f, "a1"), CALLRAFT__AGENT_STATE__AVAILABLE);
	ASSERT_QUEUE(f, "c1 c2");
	/* the old token stays stale once the call is offered again */
	assert_string_equal(next(f, "a2", NULL, NULL, NULL), "c1");
	EXPECT(f, c_answer(&b, "c1", "a1", term, index), CALLRAFT__CODE__STALE_TOKEN);
}

static void test_reject_returns_call_with_place_intact(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;

	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_enqueue(&b, "c1", "tehran", 0, "+9821000001", ""));
	f->time_ms += 10;
	OK(f, c_enqueue(&b, "c2", "tehran", 0, "+9821000002", ""));
	assert_string_equal(next(f, "a1", &term, &index, NULL), "c1");
	EXPECT(f, c_reject(&b, "c1", "a1", term, index + 1), CALLRAFT__CODE__STALE_TOKEN);
	OK(f, c_reject(&b, "c1", "a1", term, index));
	assert_int_equal(agent_state(f, "a1"), CALLRAFT__AGENT_STATE__AVAILABLE);
	ASSERT_QUEUE(f, "c1 c2");
	EXPECT(f, c_reject(&b, "c1", "a1", term, index), CALLRAFT__CODE__STALE_TOKEN);
	EXPECT(f, c_answer(&b, "c1", "a1", term, index), CALLRAFT__CODE__STALE_TOKEN);
}

/* ==== 3. presence and wrap-up ============================================================= */

static void test_silent_agent_becomes_unreachable_and_its_offer_goes_back(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_qconf(&b, -1, 60000, -1, -1, -1)); /* offers outlive presence here */
	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_login(&b, "a2", "tehran"));
	OK(f, c_enqueue(&b, "c1", "tehran", 0, "+9821000001", ""));
	assert_string_equal(next(f, "a1", NULL, NULL, NULL), "c1");
	f->time_ms += CALLRAFT_PRESENCE_TIMEOUT_MS_DEFAULT - 1;
	OK(f, c_heartbeat(&b, "a2"));
	tick(f);
	assert_int_equal(agent_state(f, "a1"), CALLRAFT__AGENT_STATE__ON_CALL);
	f->time_ms += 1;
	tick(f);
	assert_int_equal(agent_state(f, "a1"), CALLRAFT__AGENT_STATE__UNREACHABLE);
	assert_int_equal(agent_state(f, "a2"), CALLRAFT__AGENT_STATE__AVAILABLE);
	assert_int_equal(call_state(f, "c1"), CALLRAFT__CALL_STATE__WAITING);
	EXPECT(f, c_next(&b, "a1"), CALLRAFT__CODE__BAD_STATE);
	OK(f, c_heartbeat(&b, "a1")); /* back */
	assert_int_equal(agent_state(f, "a1"), CALLRAFT__AGENT_STATE__AVAILABLE);
	assert_string_equal(next(f, "a1", NULL, NULL, NULL), "c1");
}

static void test_agent_talking_keeps_the_call_when_presence_lapses(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;

	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_enqueue(&b, "c1", "tehran", 0, "+9821000001", ""));
	assert_string_equal(next(f, "a1", &term, &index, NULL), "c1");
	OK(f, c_answer(&b, "c1", "a1", term, index));
	f->time_ms += CALLRAFT_PRESENCE_TIMEOUT_MS_DEFAULT;
	tick(f);
	assert_int_equal(call_state(f, "c1"), CALLRAFT__CALL_STATE__ANSWERED);
	assert_int_equal(agent_state(f, "a1"), CALLRAFT__AGENT_STATE__ON_CALL);
	OK(f, c_end(&b, "c1", "a1"));
}

static void test_wrap_up_after_a_call_then_tick_makes_available(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_qconf(&b, -1, -1, -1, -1, 10000));
	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_enqueue(&b, "c1", "tehran", 0, "+9821000001", ""));
	serve(f, "a1");
	assert_int_equal(agent_state(f, "a1"), CALLRAFT__AGENT_STATE__WRAP_UP);
	f->time_ms += 9999;
	tick(f);
	assert_int_equal(agent_state(f, "a1"), CALLRAFT__AGENT_STATE__WRAP_UP);
	f->time_ms += 1;
	tick(f);
	assert_int_equal(agent_state(f, "a1"), CALLRAFT__AGENT_STATE__AVAILABLE);
}

/* ==== 4. queue config ===================================================================== */

static void test_queue_configure_is_stored_and_shown_with_defaults(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *r;

	r = queue_show(f);
	assert_non_null(r->queue_config);
	assert_int_equal(r->queue_config->overflow_after_ms, 30000);
	assert_int_equal(r->queue_config->offer_timeout_ms, 15000);
	assert_int_equal(r->queue_config->known_agent_timeout_ms, 20000);
	assert_int_equal(r->queue_config->aging_ms_per_tier, 60000);
	assert_int_equal(r->queue_config->service_level_ms, 20000);
	callraft__reply__free_unpacked(r, NULL);
	OK(f, c_qconf(&b, 45000, -1, -1, -1, 5000));
	r = queue_show(f);
	assert_int_equal(r->queue_config->overflow_after_ms, 45000);
	assert_int_equal(r->queue_config->offer_timeout_ms, 15000); /* unset: kept */
	assert_int_equal(r->queue_config->wrap_up_ms, 5000);
	callraft__reply__free_unpacked(r, NULL);
	EXPECT(f, c_qconf(&b, -1, 500, -1, -1, -1), CALLRAFT__CODE__INVALID_ARGUMENT);
	EXPECT(f, c_qconf(&b, -1, -1, -1, -1, CALLRAFT_CONFIG_MS_MAX + 1),
	       CALLRAFT__CODE__INVALID_ARGUMENT);
}

/* Every tunable of QueueConfigure and SiteConfigure is checked against its own bounds, named in
 * the message, and a value at a bound is stored (state/config_fields.c holds the one table both
 * validate.c and queue_config.c read; the bounds here are written out again on purpose). */
static void test_configure_fields_are_bounded_named_and_stored(void **state)
{
	struct fx *f = *state;
	static const struct {
		bool site;
		const char *name;
		int64_t lo, hi;
	} fields[] = {
	    {false, "overflow_after_ms", 0, CALLRAFT_CONFIG_MS_MAX},
	    {false, "offer_timeout_ms", CALLRAFT_OFFER_TIMEOUT_MS_MIN, CALLRAFT_CONFIG_MS_MAX},
	    {false, "known_agent_timeout_ms", 0, CALLRAFT_CONFIG_MS_MAX},
	    {false, "aging_ms_per_tier", 0, CALLRAFT_CONFIG_MS_MAX},
	    {false, "service_level_ms", 0, CALLRAFT_CONFIG_MS_MAX},
	    {false, "wrap_up_ms", 0, CALLRAFT_CONFIG_MS_MAX},
	    {false, "top_tier", 0, CALLRAFT_TIER_MAX + 1},
	    {false, "redial_window_ms", 0, CALLRAFT_CONFIG_MS_MAX},
	    {false, "known_agent_link_ttl_ms", 0, CALLRAFT_KNOWN_AGENT_LINK_TTL_MS_MAX},
	    {true, "opens_at_minute", 0, 1439},
	    {true, "closes_at_minute", 0, 1439},
	    {true, "utc_offset_minutes", -CALLRAFT_UTC_OFFSET_MINUTES_MAX,
	     CALLRAFT_UTC_OFFSET_MINUTES_MAX},
	    {true, "presence_timeout_ms", CALLRAFT_PRESENCE_TIMEOUT_MS_MIN, CALLRAFT_CONFIG_MS_MAX},
	    {true, "site_loss_after_ms", 0, CALLRAFT_CONFIG_MS_MAX},
	    {true, "contact_timeout_ms", CALLRAFT_CONTACT_TIMEOUT_MS_MIN, CALLRAFT_CONFIG_MS_MAX},
	};
	char msg[256], want[200];

	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		Callraft__QueueConfigure qc = CALLRAFT__QUEUE_CONFIGURE__INIT;
		Callraft__SiteConfigure sc = CALLRAFT__SITE_CONFIGURE__INIT;
		Callraft__Command cmd = CALLRAFT__COMMAND__INIT;
		Callraft__Int64Value i64 = CALLRAFT__INT64_VALUE__INIT;
		Callraft__Int32Value i32 = CALLRAFT__INT32_VALUE__INIT;
		Callraft__UInt32Value u32 = CALLRAFT__UINT32_VALUE__INIT;
		ProtobufCMessage *op = fields[i].site ? &sc.base : &qc.base;
		const ProtobufCFieldDescriptor *fd =
		    protobuf_c_message_descriptor_get_field_by_name(op->descriptor, fields[i].name);
		ProtobufCMessage *wrapper;

		assert_non_null(fd);
		wrapper = fd->descriptor == &callraft__int64_value__descriptor   ? &i64.base
			  : fd->descriptor == &callraft__int32_value__descriptor ? &i32.base
									       : &u32.base;
		*(ProtobufCMessage **)((char *)op + fd->offset) = wrapper;
		qc.queue = "sales";
		sc.site = "tehran";
		cmd.client_id = 1;
		cmd.seq = 1;
		cmd.op_case = fields[i].site ? CALLRAFT__COMMAND__OP_SITE_CONFIGURE
					     : CALLRAFT__COMMAND__OP_QUEUE_CONFIGURE;
		cmd.queue_configure = &qc; /* the oneof: one pointer for either */
		if (fields[i].site)
			cmd.site_configure = &sc;
		for (int side = 0; side < 2; side++) {
			int64_t bad = side == 0 ? fields[i].lo - 1 : fields[i].hi + 1;
			if (wrapper == &u32.base && bad < 0)
				continue; /* a uint32 cannot be below 0 */
			i64.value = bad;
			i32.value = (int32_t)bad;
			u32.value = (uint32_t)bad;
			assert_int_equal(state_validate(&cmd, msg, sizeof msg),
					 CALLRAFT__CODE__INVALID_ARGUMENT);
			snprintf(want, sizeof want, ": %s: out of range (%lld not in %lld..%lld)",
				 fields[i].name, (long long)bad, (long long)fields[i].lo,
				 (long long)fields[i].hi);
			assert_non_null(strstr(msg, want));
		}
		i64.value = fields[i].hi;
		i32.value = (int32_t)fields[i].hi;
		u32.value = (uint32_t)fields[i].hi;
		assert_int_equal(state_validate(&cmd, msg, sizeof msg), CALLRAFT__CODE__OK);
		if (fields[i].site)
			continue; /* sites' stored values: the opening-hours and site-loss tests */
		cmd.client_id = 0; /* run() stamps the fixture's session */
		OK(f, &cmd);
		Callraft__Reply *r = queue_show(f);
		const ProtobufCFieldDescriptor *stored = protobuf_c_message_descriptor_get_field_by_name(
		    r->queue_config->base.descriptor, fields[i].name);
		const char *at = (const char *)r->queue_config + stored->offset;
		assert_int_equal(stored->type == PROTOBUF_C_TYPE_UINT32 ? *(const uint32_t *)at
									: *(const int64_t *)at,
				 fields[i].hi);
		callraft__reply__free_unpacked(r, NULL);
	}
}

/* ==== 5. tiers and aging ================================================================== */

static void test_top_tier_goes_first_and_aging_prevents_starvation(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_enqueue(&b, "regular", "tehran", 0, "+9821000001", ""));
	f->time_ms += 60000;
	OK(f, c_enqueue(&b, "gold", "tehran", 2, "+9821000002", ""));
	f->time_ms += 1000;
	OK(f, c_enqueue(&b, "silver", "tehran", 1, "+9821000003", ""));
	f->time_ms += 1000;
	OK(f, c_enqueue(&b, "diamond", "tehran", 3, "+9821000004", ""));
	/* now: regular waited 62 s (0 + 1 = 1), gold 2, silver 1 (tie with regular: earlier wins)
	 */
	assert_string_equal(serve(f, "a1"), "diamond");
	assert_string_equal(serve(f, "a1"), "gold");
	assert_string_equal(serve(f, "a1"), "regular");
	assert_string_equal(serve(f, "a1"), "silver");
}

static void test_aging_is_capped_below_top_tier(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_enqueue(&b, "old-regular", "tehran", 0, "+9821000001", ""));
	f->time_ms += 3600 * 1000; /* an hour: 60 tiers of aging, capped at top - 1 = 2 */
	OK(f, c_enqueue(&b, "new-diamond", "tehran", 3, "+9821000002", ""));
	OK(f, c_enqueue(&b, "new-gold", "tehran", 2, "+9821000003", ""));
	assert_string_equal(serve(f, "a1"), "new-diamond");
	assert_string_equal(serve(f, "a1"), "old-regular"); /* 2 == 2: the older first */
	assert_string_equal(serve(f, "a1"), "new-gold");
	/* without aging, strict tiers */
	OK(f, c_qconf(&b, -1, -1, -1, 0, -1));
	OK(f, c_enqueue(&b, "r2", "tehran", 0, "+9821000004", ""));
	f->time_ms += 3600 * 1000;
	OK(f, c_enqueue(&b, "s2", "tehran", 1, "+9821000005", ""));
	assert_string_equal(serve(f, "a1"), "s2");
	assert_string_equal(serve(f, "a1"), "r2");
}

/* ==== issue 16 item 7: queue position ====================================================== */


static void test_queue_position_follows_tiers_and_aging(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_enqueue(&b, "regular", "tehran", 0, "+9821000001", ""));
	assert_int_equal(position_of(f, "regular"), 1);
	f->time_ms += 60000;
	OK(f, c_enqueue(&b, "gold", "tehran", 2, "+9821000002", ""));
	f->time_ms += 1000;
	OK(f, c_enqueue(&b, "silver", "tehran", 1, "+9821000003", ""));
	f->time_ms += 1000;
	OK(f, c_enqueue(&b, "diamond", "tehran", 3, "+9821000004", ""));
	/* the order `call next` serves them in (test_top_tier_goes_first_and_aging_prevents_...) */
	assert_int_equal(position_of(f, "diamond"), 1);
	assert_int_equal(position_of(f, "gold"), 2);
	assert_int_equal(position_of(f, "regular"), 3); /* aged to 1, ties silver: earlier first */
	assert_int_equal(position_of(f, "silver"), 4);
	assert_string_equal(serve(f, "a1"), "diamond");
	assert_int_equal(position_of(f, "diamond"), 0); /* not waiting */
	assert_int_equal(position_of(f, "gold"), 1);
	assert_int_equal(position_of(f, "regular"), 2);
	assert_int_equal(position_of(f, "silver"), 3);
	OK(f, c_abandon(&b, "gold"));
	assert_int_equal(position_of(f, "regular"), 1);
	assert_int_equal(position_of(f, "silver"), 2);
}

static int64_t expected_wait_of(struct fx *f, const char *id)
{
	return CALL_READ(f, id, r, r->expected_wait_ms);
}

/* The expected wait is position x the queue's average interval between answers (queue_wait.c):
 * unknown before the first answer; each sample is the time since the previous answer, or the
 * answered caller's own wait when the queue had run dry meanwhile; average weight 1/4. */
static void test_expected_wait_follows_the_answer_rate(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_enqueue(&b, "c1", "tehran", 0, "+9821000001", ""));
	OK(f, c_enqueue(&b, "c2", "tehran", 0, "+9821000002", ""));
	OK(f, c_enqueue(&b, "c3", "tehran", 0, "+9821000003", ""));
	assert_int_equal(expected_wait_of(f, "c1"), -1); /* nobody answered yet */
	assert_int_equal(expected_wait_of(f, "c3"), -1);
	f->time_ms += 10000;
	assert_string_equal(serve(f, "a1"), "c1"); /* sample 10 s: c1's own wait */
	assert_int_equal(position_of(f, "c2"), 1);
	assert_int_equal(expected_wait_of(f, "c2"), 10000);
	assert_int_equal(expected_wait_of(f, "c3"), 20000);
	assert_int_equal(expected_wait_of(f, "c1"), 0); /* not waiting */
	f->time_ms += 20000;
	assert_string_equal(serve(f, "a1"), "c2"); /* 20 s after c1: (3 x 10000 + 20000) / 4 */
	assert_int_equal(expected_wait_of(f, "c3"), 12500);
	f->time_ms += 10000;
	assert_string_equal(serve(f, "a1"), "c3"); /* (3 x 12500 + 10000) / 4 = 11875 */
	/* the queue runs dry for 160 s: the next sample is the next caller's own wait (5 s), not 165 s */
	f->time_ms += 160000;
	OK(f, c_enqueue(&b, "c4", "tehran", 0, "+9821000004", ""));
	assert_int_equal(expected_wait_of(f, "c4"), 11875);
	f->time_ms += 5000;
	OK(f, c_enqueue(&b, "c5", "tehran", 0, "+9821000005", ""));
	OK(f, c_enqueue(&b, "c6", "tehran", 3, "+9821000006", "")); /* diamond: ahead of c5 */
	assert_string_equal(serve(f, "a1"), "c6"); /* its own wait 0: (3 x 11875 + 0) / 4 */
	assert_string_equal(serve(f, "a1"), "c4"); /* c4 waited 5 s, the last answer was 0 s ago */
	/* (3 x 8906 + 0 + 2) / 4 = 6680 (rounded), and c5 is first in line */
	assert_int_equal(position_of(f, "c5"), 1);
	assert_int_equal(expected_wait_of(f, "c5"), 6680);
	/* another queue has its own rate: none yet */
	struct cb b2;
	c_enqueue(&b2, "o1", "tehran", 0, "+9821000007", "");
	b2.op.enq.queue = "support";
	OK(f, &b2.cmd);
	assert_int_equal(expected_wait_of(f, "o1"), -1);
}

struct waiter {
	char id[16];
	bool waiting;
	uint32_t tier;
	int64_t enqueued_ms;
	uint64_t seq;
};

/* Random arrivals (several in the same millisecond), abandons, answers and time steps across
 * every tier: every waiting caller's position equals its rank in a full sort by the routing order
 * (route_effective_priority, then enqueued_ms, then enqueue_seq), with and without aging. */
static void test_queue_position_matches_a_full_sort(void **state)
{
	enum { N = 160 };
	struct fx *f = *state;
	static struct waiter w[N];
	struct cb b;
	unsigned rng = 12345;
	size_t n = 0;

	for (int round = 0; round < 2; round++) {
		OK(f, c_qconf(&b, -1, -1, -1, round == 0 ? 20000 : 0, 0));
		Callraft__Reply *qr = queue_show(f);
		Callraft__QueueConfig cfg = *qr->queue_config;
		for (int step = 0; step < N / 2; step++) {
			rng = rng * 1103515245u + 12345u;
			unsigned r = (rng >> 8) % 100;
			if (r < 60 && n < N) { /* arrive */
				snprintf(w[n].id, sizeof w[n].id, "w%zu", n);
				uint32_t tier = (rng >> 16) % (CALLRAFT_TIER_MAX + 1);
				char number[24];
				snprintf(number, sizeof number, "+98210%05zu", n); /* no redial */
				OK(f, c_enqueue(&b, w[n].id, "", tier, number, ""));
				Callraft__Reply *cr;
				Callraft__Call *c = call_get(f, w[n].id, &cr);
				w[n].waiting = true;
				w[n].tier = c->tier;
				w[n].enqueued_ms = c->enqueued_ms;
				w[n].seq = c->enqueue_seq;
				callraft__reply__free_unpacked(cr, NULL);
				n++;
			} else if (r < 75 && n > 0) { /* leave */
				size_t i = (rng >> 12) % n;
				if (w[i].waiting) {
					OK(f, c_abandon(&b, w[i].id));
					w[i].waiting = false;
				}
			}
			if ((rng >> 20) % 3 != 0) /* else: the next arrival in the same millisecond */
				f->time_ms += (int64_t)((rng >> 4) % 30000);
			if (step % 8 != 7)
				continue;
			tick(f); /* FSM time = f->time_ms */
			for (size_t i = 0; i < n; i++) {
				if (!w[i].waiting)
					continue;
				Callraft__Call me = CALLRAFT__CALL__INIT, x = CALLRAFT__CALL__INIT;
				me.tier = w[i].tier;
				me.enqueued_ms = w[i].enqueued_ms;
				int pm = route_effective_priority(&me, &cfg, f->time_ms);
				uint64_t want = 1;
				for (size_t j = 0; j < n; j++) {
					if (j == i || !w[j].waiting)
						continue;
					x.tier = w[j].tier;
					x.enqueued_ms = w[j].enqueued_ms;
					int px = route_effective_priority(&x, &cfg, f->time_ms);
					if (px > pm ||
					    (px == pm && (w[j].enqueued_ms < w[i].enqueued_ms ||
							  (w[j].enqueued_ms == w[i].enqueued_ms &&
							   w[j].seq < w[i].seq))))
						want++;
				}
				uint64_t got = position_of(f, w[i].id);
				if (got != want)
					fail_msg("round %d step %d: %s (tier %u, state %d): position %llu, want %llu",
						 round, step, w[i].id, w[i].tier, (int)call_state(f, w[i].id),
						 (unsigned long long)got, (unsigned long long)want);
			}
		}
		callraft__reply__free_unpacked(qr, NULL);
	}
}

/* ==== issue 16 item 1: tiers that keep the promise ========================================= */

/* call enqueue asking for the same agent as last time (an IVR option; issue 16 item 2). */
static Callraft__Command *c_enqueue_same(struct cb *b, const char *id, const char *site,
					 unsigned tier, const char *number, const char *customer)
{
	c_enqueue(b, id, site, tier, number, customer);
	b->op.enq.same_agent = customer[0] != '\0';
	return &b->cmd;
}


/* The issue's report: a diamond caller whose known agent is busy waited while an idle agent was
 * given a regular caller. Now the idle agent takes the diamond caller, ahead of the regular one. */
static void test_top_tier_is_not_held_for_a_busy_known_agent(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;

	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_login(&b, "a2", "tehran"));
	OK(f, c_enqueue_same(&b, "d1", "tehran", 3, "+9821000001", "cust-d"));
	assert_string_equal(serve(f, "a1"), "d1"); /* a1 is cust-d's known agent */
	OK(f, c_enqueue_same(&b, "busy", "tehran", 0, "+9821000002", ""));
	assert_string_equal(next(f, "a1", &term, &index, NULL), "busy");
	OK(f, c_answer(&b, "busy", "a1", term, index)); /* a1 on a call */
	OK(f, c_enqueue_same(&b, "r1", "tehran", 0, "+9821000003", ""));
	f->time_ms += 1000;
	OK(f, c_enqueue_same(&b, "d2", "tehran", 3, "+9821000001", "cust-d"));
	Callraft__Reply *keep;
	Callraft__Call *d2 = call_get(f, "d2", &keep);
	assert_string_equal(d2->preferred_agent, "a1"); /* the hold a lower tier would get */
	assert_true(d2->preferred_until_ms > f->time_ms);
	callraft__reply__free_unpacked(keep, NULL);
	assert_string_equal(next(f, "a2", NULL, NULL, NULL), "d2");
	/* a regular caller of cust-d's is still held for a1 as before */
	OK(f, c_enqueue_same(&b, "r2", "tehran", 0, "+9821000004", "cust-d"));
	OK(f, c_login(&b, "a3", "tehran"));
	assert_string_equal(next(f, "a3", NULL, NULL, NULL), "r1");
	OK(f, c_login(&b, "a4", "tehran"));
	assert_null(next(f, "a4", NULL, NULL, NULL));
}

/* A top-tier caller of Tehran is taken by a free Shiraz agent at once, not after the queue's
 * overflow delay; a regular caller still waits overflow_after_ms for the other city. */
static void test_top_tier_skips_the_overflow_delay(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_login(&b, "shiraz1", "shiraz"));
	OK(f, c_enqueue(&b, "r1", "tehran", 0, "+9821000001", ""));
	OK(f, c_enqueue(&b, "d1", "tehran", 3, "+9821000002", ""));
	assert_string_equal(next(f, "shiraz1", NULL, NULL, NULL), "d1");
	OK(f, c_login(&b, "shiraz2", "shiraz"));
	assert_null(next(f, "shiraz2", NULL, NULL, NULL)); /* r1: its 30 s are not up */
	/* below the top tier (top_tier 3 by default) gold still overflows after the delay */
	OK(f, c_enqueue(&b, "g1", "tehran", 2, "+9821000003", ""));
	assert_null(next(f, "shiraz2", NULL, NULL, NULL));
}

/* Pushed offers: a top-tier caller is offered in the very command that queued it to the first
 * ready agent, whichever site, known agent or not. */
static void test_top_tier_is_offered_at_once_to_a_ready_agent(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;

	OK(f, c_login(&b, "t1", "tehran"));
	OK(f, c_enqueue_same(&b, "d0", "tehran", 3, "+9821000001", "cust-d"));
	assert_string_equal(next(f, "t1", &term, &index, NULL), "d0");
	OK(f, c_answer(&b, "d0", "t1", term, index));
	OK(f, c_end(&b, "d0", "t1")); /* t1: cust-d's known agent */
	OK(f, c_enqueue_same(&b, "x", "tehran", 0, "+9821000009", ""));
	assert_string_equal(next(f, "t1", &term, &index, NULL), "x");
	OK(f, c_answer(&b, "x", "t1", term, index)); /* t1 busy */
	OK(f, c_login(&b, "s1", "shiraz"));
	OK(f, c_ready(&b, "s1", true));
	OK(f, c_enqueue_same(&b, "d1", "tehran", 3, "+9821000001", "cust-d"));
	Callraft__Reply *keep;
	Callraft__Call *d1 = call_get(f, "d1", &keep);
	assert_int_equal(d1->state, CALLRAFT__CALL_STATE__OFFERED);
	assert_string_equal(d1->agent_id, "s1");
	callraft__reply__free_unpacked(keep, NULL);
	/* the same for a regular caller: held (known agent, and 30 s before overflow) */
	OK(f, c_enqueue_same(&b, "r1", "tehran", 0, "+9821000002", ""));
	assert_int_equal(call_state(f, "r1"), CALLRAFT__CALL_STATE__WAITING);
}

/* When no agent is free, the next agent to become free takes the top-tier caller before anyone
 * else, even callers who waited far longer, and even at another site. */
static void test_next_free_agent_takes_the_top_tier_first(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;

	OK(f, c_qconf(&b, -1, -1, -1, -1, 0)); /* no wrap-up: free at CallEnd */
	OK(f, c_login(&b, "s1", "shiraz"));
	OK(f, c_ready(&b, "s1", true));
	OK(f, c_enqueue(&b, "busy", "shiraz", 0, "+9871000001", ""));
	Callraft__Reply *keep;
	Callraft__Call *c = call_get(f, "busy", &keep);
	assert_string_equal(c->agent_id, "s1");
	term = c->offer_term, index = c->offer_index;
	callraft__reply__free_unpacked(keep, NULL);
	OK(f, c_answer(&b, "busy", "s1", term, index));
	OK(f, c_enqueue(&b, "old-shiraz", "shiraz", 2, "+9871000002", ""));
	f->time_ms += 3600 * 1000; /* an hour: aged to the cap */
	OK(f, c_enqueue(&b, "d-tehran", "tehran", 3, "+9821000003", ""));
	assert_int_equal(call_state(f, "d-tehran"), CALLRAFT__CALL_STATE__WAITING); /* none free */
	OK(f, c_heartbeat(&b, "s1")); /* its desktop is still there after the hour */
	OK(f, c_end(&b, "busy", "s1"));
	c = call_get(f, "d-tehran", &keep);
	assert_int_equal(c->state, CALLRAFT__CALL_STATE__OFFERED);
	assert_string_equal(c->agent_id, "s1");
	callraft__reply__free_unpacked(keep, NULL);
	assert_int_equal(call_state(f, "old-shiraz"), CALLRAFT__CALL_STATE__WAITING);
}

/* ---- the property: random arrivals through pushed offers ---------------------------------- */

enum { SIM_CALLS = 90, SIM_AGENTS = 4, SIM_CUSTOMERS = 6 };

struct sim_call {
	char id[16];
	Callraft__CallState state;
	uint32_t tier;
	int64_t enqueued_ms, free_for_all_ms, offered_ms;
	uint64_t seq;
};

struct sim {
	struct fx *f;
	Callraft__QueueConfig cfg;
	struct sim_call calls[SIM_CALLS];
	size_t n;
	unsigned rng;
	unsigned top_waits, aged_checks, overrides; /* the checks were not vacuous */
	int64_t wait_max_ms[CALLRAFT_TIER_MAX + 1];
};

static const char *const sim_agents[SIM_AGENTS] = {"t1", "t2", "s1", "s2"};

static unsigned sim_rand(struct sim *s, unsigned n)
{
	s->rng = s->rng * 1103515245u + 12345u;
	return (s->rng >> 8) % n;
}

/* The time after which a waiting lower-tier caller outranks every later lower-tier caller and may
 * be taken by any agent: aged to the cap ((top_tier - 1 - tier) x aging_ms_per_tier), past the
 * overflow delay and past its known agent's hold. From then on only top-tier callers and capped
 * callers who arrived earlier may be served before it: the aging bound this test checks. */
static int64_t sim_free_for_all(const struct sim *s, const Callraft__Call *c)
{
	int64_t t = ((int64_t)s->cfg.top_tier - 1 - c->tier) * s->cfg.aging_ms_per_tier;
	if (s->cfg.overflow_after_ms > t)
		t = s->cfg.overflow_after_ms;
	if (c->preferred_agent[0] != '\0' && c->preferred_until_ms - c->enqueued_ms > t)
		t = c->preferred_until_ms - c->enqueued_ms;
	return c->enqueued_ms + t;
}

static bool sim_agent_ready(struct fx *f, const char *id)
{
	return AGENT_READ(f, id, r,
			  r->agent->push && r->agent->state == CALLRAFT__AGENT_STATE__AVAILABLE);
}

/* After every command: (A) no top-tier caller waits while an agent is ready (every agent has the
 * skill; no site is out of contact in this run); (B) every offer made by the command went to a
 * top-tier caller, or to a capped caller who arrived before every free-for-all caller still
 * waiting. */
static void sim_check(struct sim *s, int step)
{
	struct fx *f = s->f;
	bool top_waiting = false;

	for (size_t i = 0; i < s->n; i++) {
		struct sim_call *x = &s->calls[i];
		if (x->state == CALLRAFT__CALL_STATE__ENDED)
			continue;
		Callraft__CallState now = call_state(f, x->id);
		if (x->state == CALLRAFT__CALL_STATE__WAITING && now != x->state) {
			x->offered_ms = f->time_ms;
			int64_t wait = f->time_ms - x->enqueued_ms;
			if (wait > s->wait_max_ms[x->tier])
				s->wait_max_ms[x->tier] = wait;
		}
		x->state = now;
		top_waiting |= now == CALLRAFT__CALL_STATE__WAITING && x->tier >= s->cfg.top_tier;
	}
	if (top_waiting) {
		s->top_waits++;
		for (int a = 0; a < SIM_AGENTS; a++)
			if (sim_agent_ready(f, sim_agents[a]))
				fail_msg("step %d: a top-tier caller waits while %s is ready", step,
					 sim_agents[a]);
	}
	for (size_t i = 0; i < s->n; i++) {
		struct sim_call *y = &s->calls[i];
		if (y->offered_ms != f->time_ms || y->state == CALLRAFT__CALL_STATE__WAITING ||
		    y->tier >= s->cfg.top_tier)
			continue;
		Callraft__Call yc = CALLRAFT__CALL__INIT;
		yc.tier = y->tier, yc.enqueued_ms = y->enqueued_ms;
		bool capped = route_effective_priority(&yc, &s->cfg, f->time_ms) ==
			      (int)s->cfg.top_tier - 1;
		for (size_t j = 0; j < s->n; j++) {
			struct sim_call *x = &s->calls[j];
			if (x->state != CALLRAFT__CALL_STATE__WAITING || x->tier >= s->cfg.top_tier ||
			    f->time_ms < x->free_for_all_ms)
				continue;
			s->aged_checks++;
			if (!capped || y->enqueued_ms > x->enqueued_ms ||
			    (y->enqueued_ms == x->enqueued_ms && y->seq > x->seq))
				fail_msg("step %d: %s (tier %u, waited %lld ms) was served before %s "
					 "(tier %u, free for all since %lld ms)",
					 step, y->id, y->tier, (long long)(f->time_ms - y->enqueued_ms),
					 x->id, x->tier, (long long)(f->time_ms - x->free_for_all_ms));
		}
	}
}

static void sim_cmd(struct sim *s, Callraft__Command *cmd, int step)
{
	OK(s->f, cmd);
	sim_check(s, step);
}

static void sim_arrive(struct sim *s, int step)
{
	struct sim_call *x = &s->calls[s->n];
	unsigned r = sim_rand(s, 100);
	uint32_t tier = r < 15 ? 3 : r < 35 ? 2 : r < 60 ? 1 : 0;
	char number[24], customer[16] = "";
	struct cb b;

	snprintf(x->id, sizeof x->id, "p%zu", s->n);
	snprintf(number, sizeof number, "+98210%05zu", s->n); /* no redial merge */
	if (sim_rand(s, 2) == 0) /* half of them club customers: known agents hold their calls */
		snprintf(customer, sizeof customer, "cust-%u", sim_rand(s, SIM_CUSTOMERS));
	OK(s->f, c_enqueue_same(&b, x->id, sim_rand(s, 2) ? "tehran" : "shiraz", tier, number,
				customer)); /* they ask for their last agent */
	Callraft__Reply *keep;
	Callraft__Call *c = call_get(s->f, x->id, &keep);
	x->state = CALLRAFT__CALL_STATE__WAITING;
	x->tier = c->tier;
	x->enqueued_ms = c->enqueued_ms;
	x->seq = c->enqueue_seq;
	x->free_for_all_ms = sim_free_for_all(s, c);
	x->offered_ms = -1;
	if (c->tier >= s->cfg.top_tier && c->state != CALLRAFT__CALL_STATE__WAITING &&
	    ((c->preferred_agent[0] != '\0' && strcmp(c->preferred_agent, c->agent_id) != 0) ||
	     strncmp(c->agent_id, c->arrival_site, 1) != 0))
		s->overrides++; /* offered past a known agent or to the other city */
	callraft__reply__free_unpacked(keep, NULL);
	s->n++;
	sim_check(s, step);
}

/* Answers every open offer; ends an answered call with probability 1/end_in. */
static void sim_work(struct sim *s, int step, unsigned end_in)
{
	struct cb b;

	for (size_t i = 0; i < s->n; i++) {
		struct sim_call *x = &s->calls[i];
		if (x->state != CALLRAFT__CALL_STATE__OFFERED &&
		    x->state != CALLRAFT__CALL_STATE__ANSWERED)
			continue;
		Callraft__Reply *keep;
		Callraft__Call *c = call_get(s->f, x->id, &keep);
		char agent[CALLRAFT_ID_BYTES_MAX + 1];
		uint64_t term = c->offer_term, index = c->offer_index;
		snprintf(agent, sizeof agent, "%s", c->agent_id);
		callraft__reply__free_unpacked(keep, NULL);
		if (x->state == CALLRAFT__CALL_STATE__OFFERED)
			sim_cmd(s, c_answer(&b, x->id, agent, term, index), step);
		else if (sim_rand(s, end_in) == 0)
			sim_cmd(s, c_end(&b, x->id, agent), step);
	}
}

/* Seeded random arrivals of every tier at both cities, half of them customers with known agents,
 * four pushed agents (two per city), in bursts the agents cannot keep up with (queues build and
 * aging matters) and lulls (agents free while others are busy), then a drain: checks (A) and (B) of sim_check after every
 * command, and that every caller is answered in the end (no tier starves). Bounded: 90 calls. */
static void test_property_top_tier_never_waits_and_no_tier_starves(void **state)
{
	struct fx *f = *state;
	static struct sim s;
	struct cb b;

	for (unsigned seed = 1; seed <= 3; seed++) {
		if (seed > 1) { /* a fresh state per seed */
			teardown(state);
			setup(state);
			f = *state;
		}
		memset(&s, 0, sizeof s);
		s.f = f;
		s.rng = seed * 7919u;
		register_client(f);
		OK(f, c_qconf(&b, 30000, 60000, 60000, 20000, 0));
		Callraft__Reply *qr = queue_show(f);
		s.cfg = *qr->queue_config;
		callraft__reply__free_unpacked(qr, NULL);
		for (int a = 0; a < SIM_AGENTS; a++) {
			OK(f, c_login(&b, sim_agents[a], sim_agents[a][0] == 't' ? "tehran" : "shiraz"));
			OK(f, c_ready(&b, sim_agents[a], true));
		}
		int step;
		for (step = 0; step < 4000; step++) {
			bool arriving = s.n < SIM_CALLS;
			/* bursts (60 %) that outrun the agents, then lulls (10 %) with agents free */
			if (arriving && sim_rand(&s, 100) < ((step / 40) % 2 == 0 ? 60u : 10u))
				sim_arrive(&s, step);
			sim_work(&s, step, 12);
			f->time_ms += 200 + sim_rand(&s, 2800);
			sim_cmd(&s, c_tick(&b), step);
			if (step % 4 == 0)
				for (int a = 0; a < SIM_AGENTS; a++)
					sim_cmd(&s, c_heartbeat(&b, sim_agents[a]), step);
			if (!arriving) {
				size_t open = 0;
				for (size_t i = 0; i < s.n; i++)
					open += s.calls[i].state != CALLRAFT__CALL_STATE__ENDED;
				if (open == 0)
					break;
			}
		}
		if (step == 4000)
			fail_msg("seed %u: callers still waiting after 4000 steps", seed);
		for (size_t i = 0; i < s.n; i++)
			if (s.calls[i].offered_ms < 0)
				fail_msg("seed %u: %s (tier %u) was never offered", seed, s.calls[i].id,
					 s.calls[i].tier);
		print_message("seed %u: %zu calls, %d steps; top tier waiting (all busy) at %u checks, "
			      "%u aged-caller checks, %u holds overridden; longest wait by tier "
			      "0..3: %lld %lld %lld %lld ms\n",
			      seed, s.n, step, s.top_waits, s.aged_checks, s.overrides,
			      (long long)s.wait_max_ms[0], (long long)s.wait_max_ms[1],
			      (long long)s.wait_max_ms[2], (long long)s.wait_max_ms[3]);
		assert_true(s.top_waits > 0 && s.aged_checks > 0 && s.overrides > 0);
	}
}

/* ==== issue 16 item 5: customers ============================================================ */

struct cust_cmd {
	Callraft__Command cmd;
	Callraft__CustomerSet op;
	char *numbers[CALLRAFT_CUSTOMER_NUMBERS_MAX + 1];
};

/* CustomerSet of `id`: tier, preferred agent, numbers (comma-separated in `numbers`, "" none),
 * national id, CRM id, SMS consent. */
static Callraft__Command *c_customer(struct cust_cmd *b, const char *id, uint32_t tier,
				     const char *preferred, const char *numbers, const char *nid,
				     const char *crm, bool sms)
{
	static char copy[512];
	b->cmd = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	b->op = (Callraft__CustomerSet)CALLRAFT__CUSTOMER_SET__INIT;
	b->cmd.op_case = CALLRAFT__COMMAND__OP_CUSTOMER_SET;
	b->cmd.customer_set = &b->op;
	b->op.customer_id = (char *)id;
	b->op.tier = tier;
	b->op.preferred_agent = (char *)preferred;
	b->op.national_id = (char *)nid;
	b->op.crm_id = (char *)crm;
	b->op.sms_consent = sms;
	snprintf(copy, sizeof copy, "%s", numbers);
	for (char *p = copy[0] ? copy : NULL, *next; p != NULL; p = next) {
		next = strchr(p, ',');
		if (next != NULL)
			*next++ = '\0';
		b->numbers[b->op.n_phone_numbers++] = p;
	}
	b->op.phone_numbers = b->numbers;
	return &b->cmd;
}

/* customer_show: the reply (free it) with code and customer. */
static Callraft__Reply *customer_show(struct fx *f, const char *id)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__CustomerShow op = CALLRAFT__CUSTOMER_SHOW__INIT;
	op.customer_id = (char *)id;
	q.op_case = CALLRAFT__REQUEST__OP_CUSTOMER_SHOW;
	q.customer_show = &op;
	return read_req(f, &q);
}

static uint32_t tier_of(struct fx *f, const char *call_id)
{
	return CALL_READ(f, call_id, r, r->call->tier);
}

/* The CRM's record gives a call its tier unless the PBX overrides it; a customer without a record
 * keeps the PBX's tier; talking to an agent keeps the record, and setting the record keeps the
 * last agent. */
static void test_customer_record_gives_the_tier_unless_the_pbx_overrides(void **state)
{
	struct fx *f = *state;
	struct cust_cmd cc;
	struct cb b;

	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_customer(&cc, "cust-1", 3, "", "+989121234567,+982155501001", "0499370899",
			 "crm-88", true));
	Callraft__Reply *r = customer_show(f, "cust-1");
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_true(r->customer->record && r->customer->tier == 3 && r->customer->sms_consent);
	assert_int_equal(r->customer->n_phone_numbers, 2);
	assert_string_equal(r->customer->phone_numbers[1], "+982155501001");
	assert_string_equal(r->customer->national_id, "0499370899");
	assert_string_equal(r->customer->crm_id, "crm-88");
	assert_int_equal(r->customer->updated_ms, f->time_ms);
	callraft__reply__free_unpacked(r, NULL);

	OK(f, c_enqueue(&b, "c1", "tehran", 0, "+989121234567", "cust-1")); /* PBX says regular */
	assert_int_equal(tier_of(f, "c1"), 3);				   /* the club says diamond */
	c_enqueue(&b, "c2", "tehran", 1, "+989121234568", "cust-1");
	b.op.enq.tier_override = true;
	OK(f, &b.cmd);
	assert_int_equal(tier_of(f, "c2"), 1); /* the PBX overrides */
	OK(f, c_enqueue(&b, "c3", "tehran", 2, "+989121234569", "cust-none"));
	assert_int_equal(tier_of(f, "c3"), 2); /* no record: the PBX's tier */

	assert_string_equal(serve(f, "a1"), "c1");
	r = customer_show(f, "cust-1");
	assert_string_equal(r->customer->last_agent_id, "a1");
	assert_true(r->customer->record && r->customer->tier == 3); /* kept by the talk */
	assert_string_equal(r->customer->crm_id, "crm-88");
	callraft__reply__free_unpacked(r, NULL);
	f->time_ms += 1000;
	OK(f, c_customer(&cc, "cust-1", 2, "", "", "", "", false)); /* the whole record again */
	r = customer_show(f, "cust-1");
	assert_string_equal(r->customer->last_agent_id, "a1"); /* kept by the set */
	assert_int_equal(r->customer->tier, 2);
	assert_int_equal(r->customer->n_phone_numbers, 0);
	assert_string_equal(r->customer->national_id, "");
	assert_false(r->customer->sms_consent);
	callraft__reply__free_unpacked(r, NULL);
	r = customer_show(f, "cust-none");
	assert_int_equal(r->code, CALLRAFT__CODE__NOT_FOUND);
	callraft__reply__free_unpacked(r, NULL);
}

/* Bad records are refused with a clear message and change nothing. */
static void test_customer_set_is_validated_and_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct cust_cmd cc;
	static const struct {
		uint32_t tier;
		const char *numbers, *nid, *agent, *want;
	} bad[] = {
	    {10, "", "", "", "tier: out of range"},
	    {0, "", "0499370898", "", "fails its check digit"},
	    {0, "", "049937089", "", "not 10 digits"},
	    {0, "", "04993708x9", "", "bad character"},
	    {0, "+98912,+98912", "", "", "duplicate '+98912'"},
	    {0, "+98-912", "", "", "phone_numbers: bad character"},
	    {0, "1,2,3,4,5,6,7,8,9", "", "", "9 given (at most 8)"},
	    {0, "", "", "a b", "preferred_agent: bad character"},
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		Callraft__Reply *r = run(f, c_customer(&cc, "cust-x", bad[i].tier, bad[i].agent,
						       bad[i].numbers, bad[i].nid, "", false));
		assert_int_equal(r->code, CALLRAFT__CODE__INVALID_ARGUMENT);
		if (strstr(r->message, bad[i].want) == NULL)
			fail_msg("case %zu: '%s' does not say '%s'", i, r->message, bad[i].want);
		callraft__reply__free_unpacked(r, NULL);
	}
	Callraft__Reply *r = customer_show(f, "cust-x");
	assert_int_equal(r->code, CALLRAFT__CODE__NOT_FOUND);
	callraft__reply__free_unpacked(r, NULL);
	OK(f, c_customer(&cc, "cust-x", 9, "", "1,2,3,4,5,6,7,8", "0000000000", "", false));
}

/* A preferred agent in the record holds the customer's calls like a known agent (for the queue's
 * known_agent_timeout_ms while reachable), ahead of the last agent; never a top-tier caller. */
static void test_customer_preferred_agent_holds_their_calls(void **state)
{
	struct fx *f = *state;
	struct cust_cmd cc;
	struct cb b;

	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_login(&b, "a2", "tehran"));
	OK(f, c_enqueue(&b, "c0", "tehran", 0, "+989120000000", "cust-p"));
	assert_string_equal(serve(f, "a1"), "c0"); /* a1: the last agent */
	OK(f, c_customer(&cc, "cust-p", 0, "a2", "", "", "", false));
	OK(f, c_enqueue(&b, "c1", "tehran", 0, "+989120000001", "cust-p"));
	int64_t enq = f->time_ms;
	Callraft__Reply *keep;
	assert_string_equal(call_get(f, "c1", &keep)->preferred_agent, "a2");
	callraft__reply__free_unpacked(keep, NULL);
	assert_null(next(f, "a1", NULL, NULL, NULL)); /* held for a2 */
	f->time_ms = enq + CALLRAFT_KNOWN_AGENT_TIMEOUT_MS_DEFAULT;
	OK(f, c_heartbeat(&b, "a2"));
	assert_string_equal(next(f, "a1", NULL, NULL, NULL), "c1"); /* then anyone */
	OK(f, c_customer(&cc, "cust-p", 3, "a2", "", "", "", false));
	OK(f, c_login(&b, "a3", "tehran"));
	OK(f, c_enqueue(&b, "c2", "tehran", 0, "+989120000002", "cust-p"));
	assert_string_equal(next(f, "a3", NULL, NULL, NULL), "c2"); /* diamond: nobody holds it */
}

/* `customer history` lists every call, callback, ticket and outcome in order, page by page. */
static void test_customer_history_has_every_contact_and_outcome_in_order(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;

	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_enqueue(&b, "h1", "tehran", 0, "+989120000001", "cust-h"));
	f->time_ms += 1000;
	assert_string_equal(next(f, "a1", &term, &index, NULL), "h1");
	OK(f, c_answer(&b, "h1", "a1", term, index));
	f->time_ms += 1000;
	OK(f, c_end(&b, "h1", "a1"));
	f->time_ms += 1000;
	OK(f, c_enqueue(&b, "h2", "tehran", 0, "+989120000002", "cust-h"));
	OK(f, c_abandon(&b, "h2"));
	SET_OP(&b, TICKET_OPEN, ticket_open, topen, CALLRAFT__TICKET_OPEN__INIT);
	b.op.topen.customer_id = "cust-h";
	b.op.topen.category = "complaint";
	b.op.topen.call_id = "h1";
	OK(f, &b.cmd);
	static const char *const want[][3] = {{"call", "h1", ""},	 {"answered", "h1", "a1"},
					      {"ended", "h1", "a1"},	 {"call", "h2", ""},
					      {"abandoned", "h2", ""}, {"ticket", "", ""}};
	size_t seen = 0;
	ProtobufCBinaryData cursor = {0, NULL};
	uint8_t cursor_buf[128];
	do { /* pages of 2 */
		Callraft__Request q = CALLRAFT__REQUEST__INIT;
		Callraft__CustomerHistory op = CALLRAFT__CUSTOMER_HISTORY__INIT;
		op.customer_id = "cust-h";
		op.limit = 2;
		op.cursor = cursor;
		q.op_case = CALLRAFT__REQUEST__OP_CUSTOMER_HISTORY;
		q.customer_history = &op;
		Callraft__Reply *r = read_req(f, &q);
		assert_int_equal(r->code, CALLRAFT__CODE__OK);
		assert_true(r->n_history <= 2);
		for (size_t i = 0; i < r->n_history; i++, seen++) {
			assert_true(seen < 6);
			assert_string_equal(r->history[i]->kind, want[seen][0]);
			if (want[seen][1][0] != '\0')
				assert_string_equal(r->history[i]->id, want[seen][1]);
			assert_string_equal(r->history[i]->detail, want[seen][2]);
		}
		assert_true(r->next_cursor.len <= sizeof cursor_buf);
		if (r->next_cursor.len > 0) /* data is NULL when empty: memcpy must not see it */
			memcpy(cursor_buf, r->next_cursor.data, r->next_cursor.len);
		cursor = (ProtobufCBinaryData){r->next_cursor.len, cursor_buf};
		callraft__reply__free_unpacked(r, NULL);
	} while (cursor.len > 0);
	assert_int_equal(seen, 6);
}

/* ==== issue 16 item 2: a known agent only on request, and the link expires ================== */

static const char *preferred_of(struct fx *f, const char *id)
{
	static char agent[CALLRAFT_ID_BYTES_MAX + 1];
	Callraft__Reply *keep;
	snprintf(agent, sizeof agent, "%s", call_get(f, id, &keep)->preferred_agent);
	callraft__reply__free_unpacked(keep, NULL);
	return agent;
}

/* A caller who asks for nothing is held for nobody (the issue: the last agent was forced on
 * everyone); same_agent asks for the last agent, requested_agent for a named one with its own
 * timeout; the link to the last agent expires after the queue's known_agent_link_ttl_ms. */
static void test_known_agent_only_on_request_with_timeouts_and_link_expiry(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_login(&b, "a2", "tehran"));
	OK(f, c_login(&b, "a3", "tehran"));
	OK(f, c_enqueue(&b, "c0", "tehran", 0, "+9821000000", "cust-7"));
	assert_string_equal(serve(f, "a1"), "c0"); /* a1: cust-7's last agent */

	OK(f, c_enqueue(&b, "c1", "tehran", 0, "+9821000001", "cust-7"));
	assert_string_equal(preferred_of(f, "c1"), ""); /* asked for nothing: nobody holds it */
	assert_string_equal(serve(f, "a2"), "c1");	 /* a2: now cust-7's last agent */

	OK(f, c_enqueue_same(&b, "c2", "tehran", 0, "+9821000002", "cust-7"));
	assert_string_equal(preferred_of(f, "c2"), "a2");
	assert_null(next(f, "a1", NULL, NULL, NULL)); /* held for a2 */
	assert_string_equal(serve(f, "a2"), "c2");
	int64_t talk = f->time_ms; /* a2's last talk with cust-7 */

	c_enqueue(&b, "c3", "tehran", 0, "+9821000003", "");
	b.op.enq.requested_agent = "a3"; /* the IVR: "press 1 for agent a3" */
	b.op.enq.agent_timeout_ms = 5000;
	OK(f, &b.cmd);
	int64_t enq = f->time_ms;
	assert_string_equal(preferred_of(f, "c3"), "a3");
	assert_null(next(f, "a1", NULL, NULL, NULL));
	f->time_ms = enq + 4999;
	assert_null(next(f, "a1", NULL, NULL, NULL));
	f->time_ms = enq + 5000; /* the request's own timeout, not the queue's 20 s */
	assert_string_equal(next(f, "a1", NULL, NULL, NULL), "c3");

	/* the link expires: one minute after the last talk, same_agent asks for nobody */
	c_qconf(&b, -1, -1, -1, -1, -1);
	b.i64[5] = (Callraft__Int64Value)CALLRAFT__INT64_VALUE__INIT;
	b.i64[5].value = 60000;
	b.op.qc.known_agent_link_ttl_ms = &b.i64[5];
	OK(f, &b.cmd);
	f->time_ms = talk + 59999;
	OK(f, c_heartbeat(&b, "a2"));
	OK(f, c_enqueue_same(&b, "c4", "tehran", 0, "+9821000004", "cust-7"));
	assert_string_equal(preferred_of(f, "c4"), "a2");
	OK(f, c_abandon(&b, "c4"));
	f->time_ms = talk + 60000;
	OK(f, c_heartbeat(&b, "a2"));
	OK(f, c_enqueue_same(&b, "c5", "tehran", 0, "+9821000005", "cust-7"));
	assert_string_equal(preferred_of(f, "c5"), ""); /* expired */
}

static void test_known_agent_requests_are_validated(void **state)
{
	struct fx *f = *state;
	struct cb b;
	static const char *const want[] = {"needs customer_id", "not with requested_agent",
					   "only with requested_agent or same_agent",
					   "agent_timeout_ms: out of range"};

	for (int i = 0; i < 4; i++) {
		c_enqueue(&b, "v1", "tehran", 0, "+9821000001", i == 0 ? "" : "cust-1");
		b.op.enq.same_agent = i == 0 || i == 1;
		b.op.enq.requested_agent = i == 1 ? "a1" : "";
		b.op.enq.agent_timeout_ms = i == 2 ? 1000 : i == 3 ? -1 : 0;
		if (i == 3)
			b.op.enq.requested_agent = "a1";
		Callraft__Reply *r = run(f, &b.cmd);
		assert_int_equal(r->code, CALLRAFT__CODE__INVALID_ARGUMENT);
		if (strstr(r->message, want[i]) == NULL)
			fail_msg("case %d: '%s' does not say '%s'", i, r->message, want[i]);
		callraft__reply__free_unpacked(r, NULL);
	}
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__CallShow show = CALLRAFT__CALL_SHOW__INIT;
	show.call_id = "v1";
	q.op_case = CALLRAFT__REQUEST__OP_CALL_SHOW;
	q.call_show = &show;
	Callraft__Reply *r = read_req(f, &q);
	assert_int_equal(r->code, CALLRAFT__CODE__NOT_FOUND); /* nothing was enqueued */
	callraft__reply__free_unpacked(r, NULL);
	c_qconf(&b, -1, -1, -1, -1, -1);
	b.i64[5] = (Callraft__Int64Value)CALLRAFT__INT64_VALUE__INIT;
	b.i64[5].value = -1;
	b.op.qc.known_agent_link_ttl_ms = &b.i64[5];
	EXPECT(f, &b.cmd, CALLRAFT__CODE__INVALID_ARGUMENT);
}

/* ==== 6. overflow between sites =========================================================== */

static void test_overflow_to_other_site_at_exact_boundary(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_login(&b, "shiraz1", "shiraz"));
	OK(f, c_enqueue(&b, "c1", "tehran", 0, "+9821000001", ""));
	int64_t enq = f->time_ms;
	f->time_ms = enq + CALLRAFT_OVERFLOW_AFTER_MS_DEFAULT - 1;
	assert_null(next(f, "shiraz1", NULL, NULL, NULL));
	f->time_ms = enq + CALLRAFT_OVERFLOW_AFTER_MS_DEFAULT;
	assert_string_equal(next(f, "shiraz1", NULL, NULL, NULL), "c1");
}

static void test_overflow_keeps_place_and_own_site_is_never_held_back(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_login(&b, "shiraz1", "shiraz"));
	OK(f, c_login(&b, "tehran1", "tehran"));
	OK(f, c_enqueue(&b, "t1", "tehran", 0, "+9821000001", ""));
	f->time_ms += 1000;
	OK(f, c_enqueue(&b, "s1", "shiraz", 0, "+9871000001", ""));
	/* shiraz1 skips t1 (not yet 30 s) and takes its own site's s1 */
	assert_string_equal(serve(f, "shiraz1"), "s1");
	OK(f, c_enqueue(&b, "t2", "tehran", 0, "+9821000002", ""));
	f->time_ms += 30000;
	/* t1 overflowed first (it is first in line); tehran1 still gets t2 */
	assert_string_equal(serve(f, "shiraz1"), "t1");
	assert_string_equal(serve(f, "tehran1"), "t2");
}

/* ==== 7. known agent ====================================================================== */

static void test_known_agent_first_then_anyone_after_timeout(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_login(&b, "a2", "tehran"));
	OK(f, c_enqueue_same(&b, "c1", "tehran", 0, "+9821000001", "cust-7"));
	assert_string_equal(serve(f, "a1"), "c1"); /* a1 is now cust-7's last agent */
	f->time_ms += 1000;
	OK(f, c_enqueue_same(&b, "c2", "tehran", 0, "+9821000001", "cust-7"));
	int64_t enq = f->time_ms;
	assert_null(next(f, "a2", NULL, NULL, NULL));
	f->time_ms = enq + CALLRAFT_KNOWN_AGENT_TIMEOUT_MS_DEFAULT - 1;
	assert_null(next(f, "a2", NULL, NULL, NULL));
	f->time_ms = enq + CALLRAFT_KNOWN_AGENT_TIMEOUT_MS_DEFAULT;
	assert_string_equal(next(f, "a2", NULL, NULL, NULL), "c2");
}

static void test_known_agent_offline_does_not_hold_the_call(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_login(&b, "a2", "tehran"));
	OK(f, c_enqueue_same(&b, "c1", "tehran", 0, "+9821000001", "cust-7"));
	assert_string_equal(serve(f, "a1"), "c1");
	OK(f, c_enqueue_same(&b, "c2", "tehran", 0, "+9821000001", "cust-7"));
	OK(f, c_enqueue_same(&b, "c3", "tehran", 0, "+9821000002", "cust-8"));
	assert_string_equal(next(f, "a2", NULL, NULL, NULL), "c3"); /* skips c2 */
	OK(f, c_logout(&b, "a1"));
	OK(f, c_enqueue_same(&b, "c4", "tehran", 0, "+9821000002", "cust-7"));
	OK(f, c_login(&b, "a3", "tehran"));
	assert_string_equal(next(f, "a3", NULL, NULL, NULL), "c2"); /* a1 offline: anyone */
}

static void test_known_agent_takes_the_call_ahead_of_the_site_rule(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_login(&b, "s1", "shiraz"));
	OK(f, c_enqueue_same(&b, "c1", "shiraz", 0, "+9871000001", "cust-9"));
	assert_string_equal(serve(f, "s1"), "c1");
	OK(f, c_enqueue_same(&b, "c2", "tehran", 0, "+9871000001", "cust-9"));
	assert_string_equal(next(f, "s1", NULL, NULL, NULL), "c2");
}

/* ==== 8. callbacks ======================================================================== */

static void test_in_queue_callback_keeps_place_and_dial_is_recorded_once(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;
	bool callback = false;

	OK(f, c_login(&b, "a1", "tehran"));
	OK(f, c_enqueue(&b, "c1", "tehran", 0, "+9821000001", ""));
	f->time_ms += 10;
	OK(f, c_enqueue(&b, "c2", "tehran", 0, "+9821000002", ""));
	SET_OP(&b, CALLBACK_REQUEST, callback_request, cbr, CALLRAFT__CALLBACK_REQUEST__INIT);
	b.op.cbr.call_id = "c1";
	OK(f, &b.cmd);
	OK(f, c_abandon(&b, "c1")); /* the caller hangs up: the callback keeps the place */
	ASSERT_QUEUE(f, "c1 c2");
	assert_string_equal(next(f, "a1", &term, &index, &callback), "c1");
	assert_true(callback);
	SET_OP(&b, CALL_DIAL_ATTEMPT, call_dial_attempt, dial, CALLRAFT__CALL_DIAL_ATTEMPT__INIT);
	b.op.dial.call_id = "c1";
	b.op.dial.agent_id = "a1";
	OK(f, &b.cmd);
	b.cmd.seq = 0, b.cmd.client_id = 0;
	EXPECT(f, &b.cmd,
	       CALLRAFT__CODE__BAD_STATE); /* a second attempt while one is in progress */
	f->time_ms += 60000;		   /* dialling: the offer does not expire */
	tick(f);
	assert_int_equal(call_state(f, "c1"), CALLRAFT__CALL_STATE__OFFERED);
	OK(f, c_reject(&b, "c1", "a1", term, index)); /* not reached: retried later (item 3) */
	ASSERT_QUEUE(f, "c2");
	assert_int_equal(call_state(f, "c1"), CALLRAFT__CALL_STATE__SCHEDULED);
	f->time_ms += CALLRAFT_CALLBACK_RETRY_MS_DEFAULT;
	tick(f);
	ASSERT_QUEUE(f, "c1 c2"); /* back in its place */
	Callraft__Reply *r;
	assert_int_equal(call_get(f, "c1", &r)->dial_attempts, 1);
	callraft__reply__free_unpacked(r, NULL);
}

/* One dial attempt of callback `id` by agent a1, not reached with `outcome`. */
static void dial_not_reached(struct fx *f, const char *id, Callraft__DialOutcome outcome)
{
	struct cb b;
	uint64_t term, index;
	bool callback = false;

	assert_string_equal(next(f, "a1", &term, &index, &callback), id);
	assert_true(callback);
	SET_OP(&b, CALL_DIAL_ATTEMPT, call_dial_attempt, dial, CALLRAFT__CALL_DIAL_ATTEMPT__INIT);
	b.op.dial.call_id = (char *)id;
	b.op.dial.agent_id = "a1";
	OK(f, &b.cmd);
	c_reject(&b, id, "a1", term, index);
	b.op.rej.dial_outcome = outcome;
	OK(f, &b.cmd);
}

/* Issue 16 item 3: attempts not reached are spaced by the queue's callback_retry_ms (no longer five
 * attempts in a minute) and keep the place; the queue's callback_attempts_max-th unanswered attempt
 * or an invalid number makes the callback UNREACHED, final, with a CALL_UNREACHED event carrying
 * the reason (for the SMS gateway) and history lines. */
static void test_callback_retries_are_spaced_then_unreached_with_an_event(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_login(&b, "a1", "tehran"));
	c_qconf(&b, -1, -1, -1, -1, 0);
	b.i64[5] = (Callraft__Int64Value)CALLRAFT__INT64_VALUE__INIT;
	b.i64[5].value = 120000;
	b.op.qc.callback_retry_ms = &b.i64[5];
	b.u32 = (Callraft__UInt32Value)CALLRAFT__UINT32_VALUE__INIT;
	b.u32.value = 3;
	b.op.qc.callback_attempts_max = &b.u32;
	OK(f, &b.cmd);
	for (int i = 0; i < 2; i++) {
		char id[8], number[16];
		snprintf(id, sizeof id, "k%d", i);
		snprintf(number, sizeof number, "+98210000%02d", i);
		OK(f, c_enqueue(&b, id, "tehran", 0, number, "cust-k"));
		SET_OP(&b, CALLBACK_REQUEST, callback_request, cbr, CALLRAFT__CALLBACK_REQUEST__INIT);
		b.op.cbr.call_id = id;
		OK(f, &b.cmd);
		f->time_ms += 10;
	}
	dial_not_reached(f, "k0", CALLRAFT__DIAL_OUTCOME__NO_ANSWER);
	dial_not_reached(f, "k1", CALLRAFT__DIAL_OUTCOME__BUSY);
	assert_null(next(f, "a1", NULL, NULL, NULL)); /* both wait for their retry */
	f->time_ms += 119999;
	tick(f);
	OK(f, c_heartbeat(&b, "a1")); /* the desktop is there */
	assert_null(next(f, "a1", NULL, NULL, NULL));
	f->time_ms += 1;
	tick(f);
	OK(f, c_heartbeat(&b, "a1")); /* the desktop is there */
	ASSERT_QUEUE(f, "k0 k1");
	dial_not_reached(f, "k0", CALLRAFT__DIAL_OUTCOME__NO_ANSWER);
	dial_not_reached(f, "k1", CALLRAFT__DIAL_OUTCOME__INVALID_NUMBER); /* final at once */
	assert_int_equal(call_state(f, "k1"), CALLRAFT__CALL_STATE__UNREACHED);
	f->time_ms += 120000;
	tick(f);
	OK(f, c_heartbeat(&b, "a1")); /* the desktop is there */
	dial_not_reached(f, "k0", CALLRAFT__DIAL_OUTCOME__NO_ANSWER); /* the 3rd: final */
	Callraft__Reply *r;
	Callraft__Call *k0 = call_get(f, "k0", &r);
	assert_int_equal(k0->state, CALLRAFT__CALL_STATE__UNREACHED);
	assert_int_equal(k0->dial_attempts, 3);
	assert_string_equal(k0->outcome, "no-answer after 3 attempt(s)");
	callraft__reply__free_unpacked(r, NULL);
	assert_int_equal(agent_state(f, "a1"), CALLRAFT__AGENT_STATE__AVAILABLE);
	ASSERT_QUEUE(f, "");
	/* the events the SMS gateway follows */
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__EventsRead er = CALLRAFT__EVENTS_READ__INIT;
	q.op_case = CALLRAFT__REQUEST__OP_EVENTS_READ;
	q.events_read = &er;
	er.limit = CALLRAFT_EVENTS_READ_MAX;
	er.from_index = 1; /* 0 would mean "from the next entry on" */
	r = read_req(f, &q);
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	int unreached = 0;
	for (size_t i = 0; i < r->n_events; i++)
		if (r->events[i]->kind == CALLRAFT__EVENT_KIND__CALL_UNREACHED) {
			unreached++;
			assert_string_equal(r->events[i]->reason,
					    strcmp(r->events[i]->call_id, "k1") == 0
						? "invalid-number after 2 attempt(s)"
						: "no-answer after 3 attempt(s)");
		}
	assert_int_equal(unreached, 2);
	callraft__reply__free_unpacked(r, NULL);
	/* bad settings are refused */
	c_qconf(&b, -1, -1, -1, -1, -1);
	b.u32 = (Callraft__UInt32Value)CALLRAFT__UINT32_VALUE__INIT;
	b.u32.value = CALLRAFT_CALLBACK_ATTEMPTS_MAX + 1;
	b.op.qc.callback_attempts_max = &b.u32;
	EXPECT(f, &b.cmd, CALLRAFT__CODE__INVALID_ARGUMENT);
}

static void test_scheduled_callbacks_released_by_tick_in_scheduled_order(void **state)
{
	struct fx *f = *state;
	struct cb b;

	SET_OP(&b, CALLBACK_SCHEDULE, callback_schedule, cbs, CALLRAFT__CALLBACK_SCHEDULE__INIT);
	b.op.cbs.callback_id = "late";
	b.op.cbs.number = "+9821000001";
	b.op.cbs.queue = "sales";
	b.op.cbs.at_ms = f->time_ms + 30 * DAY_MS; /* a month ahead */
	OK(f, &b.cmd);
	b.cmd.client_id = 0;
	b.op.cbs.callback_id = "early";
	b.op.cbs.at_ms = f->time_ms + 3600 * 1000;
	OK(f, &b.cmd);
	b.cmd.client_id = 0;
	b.op.cbs.callback_id = "too-far";
	b.op.cbs.at_ms = f->time_ms + 32 * DAY_MS;
	EXPECT(f, &b.cmd, CALLRAFT__CODE__INVALID_ARGUMENT);
	f->time_ms += 3600 * 1000 - 1;
	tick(f);
	assert_int_equal(call_state(f, "early"), CALLRAFT__CALL_STATE__SCHEDULED);
	f->time_ms += 1;
	tick(f);
	assert_int_equal(call_state(f, "early"), CALLRAFT__CALL_STATE__WAITING);
	assert_int_equal(call_state(f, "late"), CALLRAFT__CALL_STATE__SCHEDULED);
	f->time_ms = T0 + 30 * DAY_MS;
	tick(f);
	ASSERT_QUEUE(f, "early late");
}

static void test_voicemail_released_at_site_opening_in_arrival_order(void **state)
{
	struct fx *f = *state;
	struct cb b;
	const int offset = 210; /* Tehran, UTC+3:30; opens at 07:00 local = 03:30 UTC */

	f->time_ms = T0 + 2 * 3600 * 1000 - offset * 60000; /* 02:00 local */
	register_client(f);
	OK(f, c_site_conf(&b, "tehran", 7 * 60, offset, 30000, 60000));
	SET_OP(&b, CALLBACK_VOICEMAIL, callback_voicemail, vm, CALLRAFT__CALLBACK_VOICEMAIL__INIT);
	b.op.vm.callback_id = "vm1";
	b.op.vm.number = "+9821000001";
	b.op.vm.queue = "sales";
	b.op.vm.site = "tehran";
	OK(f, &b.cmd);
	f->time_ms += 60000;
	b.cmd.client_id = 0;
	b.op.vm.callback_id = "vm2";
	b.op.vm.number = "+9821000002";
	OK(f, &b.cmd);
	int64_t opening = T0 + (7 * 60 - offset) * 60000ll;
	f->time_ms = opening - 1;
	tick(f);
	assert_int_equal(call_state(f, "vm1"), CALLRAFT__CALL_STATE__SCHEDULED);
	f->time_ms = opening;
	tick(f);
	ASSERT_QUEUE(f, "vm1 vm2");
	assert_true(call_is_callback(f, "vm2"));
}

/* ---- issue 16 item 3: calling hours and the voicemail cap -------------------------------- */

#define TEHRAN_OFFSET 210 /* UTC+03:30 */
/* FSM time of local hh:mm at Tehran on day `day` after T0. */
#define TEHRAN(day, hh, mm) (T0 + (day) * DAY_MS + ((hh) * 60 + (mm) - TEHRAN_OFFSET) * 60000ll)

/* SiteConfigure of site at Tehran's offset: opening hours opens..closes, calling hours from..until
 * and the voicemail cap; a negative value leaves the field unset. */
static Callraft__Command *c_site_hours(struct cb *b, const char *site, int opens, int closes,
				       int from, int until, int64_t cap)
{
	int v[5] = {TEHRAN_OFFSET, opens, closes, from, until};

	SET_OP(b, SITE_CONFIGURE, site_configure, sc, CALLRAFT__SITE_CONFIGURE__INIT);
	b->op.sc.site = (char *)site;
	Callraft__Int32Value **fields[5] = {&b->op.sc.utc_offset_minutes, &b->op.sc.opens_at_minute,
					    &b->op.sc.closes_at_minute, &b->op.sc.calling_from_minute,
					    &b->op.sc.calling_until_minute};
	static Callraft__Int32Value extra[2];
	for (int i = 0; i < 5; i++) {
		if (v[i] < 0)
			continue;
		Callraft__Int32Value *slot = i < 4 ? &b->i32[i] : &extra[0];
		*slot = (Callraft__Int32Value)CALLRAFT__INT32_VALUE__INIT;
		slot->value = v[i];
		*fields[i] = slot;
	}
	if (cap >= 0) {
		b->u32 = (Callraft__UInt32Value)CALLRAFT__UINT32_VALUE__INIT;
		b->u32.value = (uint32_t)cap;
		b->op.sc.voicemail_per_hour_max = &b->u32;
	}
	return &b->cmd;
}

static int64_t call_release(struct fx *f, const char *id)
{
	return CALL_READ(f, id, r, r->call->release_ms);
}

/* Rules 1 and 2: a retry that would fall outside the site's calling hours (09:00-21:00 Tehran) is
 * scheduled for the next 09:00; a release due outside them (the hours changed meanwhile) waits
 * for them. */
static void test_callback_retry_waits_for_the_sites_calling_hours(void **state)
{
	struct fx *f = *state;
	struct cb b;

	f->time_ms = TEHRAN(0, 20, 50);
	register_client(f);
	OK(f, c_site_hours(&b, "tehran", -1, -1, 9 * 60, 21 * 60, -1));
	OK(f, c_login(&b, "a1", "tehran"));
	c_qconf(&b, -1, -1, -1, -1, 0);
	b.i64[5] = (Callraft__Int64Value)CALLRAFT__INT64_VALUE__INIT;
	b.i64[5].value = 10 * 60000; /* retry 10 min later: 21:00, outside */
	b.op.qc.callback_retry_ms = &b.i64[5];
	OK(f, &b.cmd);
	OK(f, c_enqueue(&b, "k0", "tehran", 0, "+982100000000", ""));
	SET_OP(&b, CALLBACK_REQUEST, callback_request, cbr, CALLRAFT__CALLBACK_REQUEST__INIT);
	b.op.cbr.call_id = "k0";
	OK(f, &b.cmd);
	dial_not_reached(f, "k0", CALLRAFT__DIAL_OUTCOME__NO_ANSWER);
	assert_int_equal(call_state(f, "k0"), CALLRAFT__CALL_STATE__SCHEDULED);
	assert_true(call_release(f, "k0") == TEHRAN(1, 9, 0));
	/* the same with a retry inside the hours: 10 min later */
	f->time_ms = TEHRAN(1, 9, 0) - 1;
	tick(f);
	assert_int_equal(call_state(f, "k0"), CALLRAFT__CALL_STATE__SCHEDULED);
	/* the hours move to 10:00 before the release: it waits for them */
	OK(f, c_site_hours(&b, "tehran", -1, -1, 10 * 60, 21 * 60, -1));
	f->time_ms += 1;
	tick(f);
	assert_int_equal(call_state(f, "k0"), CALLRAFT__CALL_STATE__SCHEDULED);
	assert_true(call_release(f, "k0") == TEHRAN(1, 10, 0));
	f->time_ms = TEHRAN(1, 10, 0);
	tick(f);
	OK(f, c_heartbeat(&b, "a1"));
	ASSERT_QUEUE(f, "k0");
	dial_not_reached(f, "k0", CALLRAFT__DIAL_OUTCOME__BUSY); /* 10:00 + 10 min: inside */
	assert_true(call_release(f, "k0") == TEHRAN(1, 10, 10));
}

/* Rule 3: a dial attempt asked for outside calling hours (a callback waiting since a site loss at
 * night, offered at 22:30) is not recorded: nothing is dialled, the agent is free, and the
 * callback waits SCHEDULED for 09:00 with its place; then it is dialled normally. A site without
 * calling hours (shiraz) is dialled at any hour. */
static void test_dial_outside_calling_hours_is_deferred_with_its_place(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;

	f->time_ms = TEHRAN(0, 22, 30);
	register_client(f);
	OK(f, c_site_hours(&b, "tehran", -1, -1, 9 * 60, 21 * 60, -1));
	OK(f, c_login(&b, "a1", "tehran"));
	const char *ids[] = {"n0", "n1", "s0"};
	for (int i = 0; i < 3; i++) {
		OK(f, c_enqueue(&b, ids[i], i < 2 ? "tehran" : "shiraz", 0,
				i == 0 ? "+982100000010" : i == 1 ? "+982100000011" : "+987100000012",
				""));
		SET_OP(&b, CALLBACK_REQUEST, callback_request, cbr, CALLRAFT__CALLBACK_REQUEST__INIT);
		b.op.cbr.call_id = (char *)ids[i];
		OK(f, &b.cmd);
		f->time_ms += 10;
	}
	for (int i = 0; i < 2; i++) {
		assert_string_equal(next(f, "a1", &term, &index, NULL), ids[i]);
		SET_OP(&b, CALL_DIAL_ATTEMPT, call_dial_attempt, dial, CALLRAFT__CALL_DIAL_ATTEMPT__INIT);
		b.op.dial.call_id = (char *)ids[i];
		b.op.dial.agent_id = "a1";
		Callraft__Reply *r = run(f, &b.cmd);
		assert_int_equal(r->code, CALLRAFT__CODE__OK);
		assert_non_null(strstr(r->message, "outside the calling hours of site 'tehran'"));
		assert_int_equal(r->call->state, CALLRAFT__CALL_STATE__SCHEDULED);
		assert_false(r->call->dialing);
		assert_int_equal(r->call->dial_attempts, 0);
		assert_int_equal(r->call->hours_deferrals, 1);
		assert_true(r->call->release_ms == TEHRAN(1, 9, 0));
		callraft__reply__free_unpacked(r, NULL);
		assert_int_equal(agent_state(f, "a1"), CALLRAFT__AGENT_STATE__AVAILABLE);
		/* the token of the withdrawn offer is stale */
		EXPECT(f, c_answer(&b, ids[i], "a1", term, index), CALLRAFT__CODE__STALE_TOKEN);
	}
	/* shiraz has no calling hours: dialled at once */
	OK(f, c_login(&b, "a2", "shiraz"));
	assert_string_equal(next(f, "a2", &term, &index, NULL), "s0");
	SET_OP(&b, CALL_DIAL_ATTEMPT, call_dial_attempt, dial, CALLRAFT__CALL_DIAL_ATTEMPT__INIT);
	b.op.dial.call_id = "s0";
	b.op.dial.agent_id = "a2";
	OK(f, &b.cmd);
	OK(f, c_end(&b, "s0", "a2"));
	f->time_ms = TEHRAN(1, 9, 0);
	tick(f);
	OK(f, c_heartbeat(&b, "a1"));
	ASSERT_QUEUE(f, "n0 n1"); /* back in their places, in order */
	assert_string_equal(next(f, "a1", &term, &index, NULL), "n0");
	SET_OP(&b, CALL_DIAL_ATTEMPT, call_dial_attempt, dial, CALLRAFT__CALL_DIAL_ATTEMPT__INIT);
	b.op.dial.call_id = "n0";
	b.op.dial.agent_id = "a1";
	Callraft__Reply *r = run(f, &b.cmd);
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_true(r->call->dialing);
	assert_int_equal(r->call->dial_attempts, 1);
	callraft__reply__free_unpacked(r, NULL);
}

/* The hourly cap: a night of voicemails enters the queue from 07:00 one every 3600 s / cap, in
 * order of arrival; a voicemail left in the morning takes the next free slot (not ahead of the
 * night's); without a cap it enters at once while the site is open; an opening before the calling
 * hours releases at their start. Bad settings are refused and change nothing. */
static void test_voicemail_releases_are_capped_per_hour(void **state)
{
	struct fx *f = *state;
	struct cb b;
	char id[8];

	f->time_ms = TEHRAN(0, 2, 0);
	register_client(f);
	OK(f, c_site_hours(&b, "tehran", 7 * 60, 20 * 60, -1, -1, 2)); /* 2 an hour: 30 min apart */
	OK(f, c_site_hours(&b, "shiraz", 7 * 60, 20 * 60, 8 * 60, 20 * 60, -1));
	SET_OP(&b, CALLBACK_VOICEMAIL, callback_voicemail, vm, CALLRAFT__CALLBACK_VOICEMAIL__INIT);
	b.op.vm.queue = "sales";
	b.op.vm.site = "tehran";
	b.op.vm.number = "+982100000020";
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof id, "vm%d", i);
		b.cmd.client_id = 0;
		b.op.vm.callback_id = id;
		OK(f, &b.cmd);
		f->time_ms += 60000;
	}
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof id, "vm%d", i);
		assert_true(call_release(f, id) == TEHRAN(0, 7, 0) + i * 30 * 60000ll);
	}
	f->time_ms = TEHRAN(0, 7, 0);
	tick(f);
	ASSERT_QUEUE(f, "vm0");
	f->time_ms = TEHRAN(0, 7, 10); /* open now: the next slot, after the night's */
	b.cmd.client_id = 0;
	b.op.vm.callback_id = "vm5";
	OK(f, &b.cmd);
	assert_true(call_release(f, "vm5") == TEHRAN(0, 9, 30));
	f->time_ms = TEHRAN(0, 7, 30);
	tick(f);
	ASSERT_QUEUE(f, "vm0 vm1");
	/* a slot past closing (20:00) moves to the next opening */
	f->time_ms = TEHRAN(0, 19, 45);
	for (int i = 6; i < 8; i++) {
		snprintf(id, sizeof id, "vm%d", i);
		b.cmd.client_id = 0;
		b.op.vm.callback_id = id;
		OK(f, &b.cmd);
	}
	assert_true(call_release(f, "vm6") == TEHRAN(0, 19, 45));
	assert_true(call_release(f, "vm7") == TEHRAN(1, 7, 0));
	/* shiraz: opens 07:00 but calls from 08:00; no cap: every one at 08:00 */
	f->time_ms = TEHRAN(1, 3, 0);
	b.op.vm.site = "shiraz";
	for (int i = 8; i < 10; i++) {
		snprintf(id, sizeof id, "vm%d", i);
		b.cmd.client_id = 0;
		b.op.vm.callback_id = id;
		OK(f, &b.cmd);
		assert_true(call_release(f, id) == TEHRAN(1, 8, 0));
	}
	/* bad settings: refused, the cap stays 2 */
	EXPECT(f, c_site_hours(&b, "tehran", -1, -1, CALLRAFT_MINUTES_PER_DAY, 60, -1),
	       CALLRAFT__CODE__INVALID_ARGUMENT);
	EXPECT(f, c_site_hours(&b, "tehran", -1, -1, -1, -1, CALLRAFT_VOICEMAIL_PER_HOUR_MAX + 1),
	       CALLRAFT__CODE__INVALID_ARGUMENT);
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__SiteList op = CALLRAFT__SITE_LIST__INIT;
	q.op_case = CALLRAFT__REQUEST__OP_SITE_LIST;
	q.site_list = &op;
	Callraft__Reply *r = read_req(f, &q);
	bool seen = false;
	for (size_t i = 0; i < r->n_sites; i++)
		if (strcmp(r->sites[i]->site, "tehran") == 0) {
			seen = true;
			assert_int_equal(r->sites[i]->voicemail_per_hour_max, 2);
			assert_int_equal(r->sites[i]->calling_from_minute, 0);
			assert_int_equal(r->sites[i]->calling_until_minute, 0);
		}
	assert_true(seen);
	callraft__reply__free_unpacked(r, NULL);
}

/* ==== 9. site loss and redial ============================================================= */

static void test_site_down_converts_callers_in_original_order_and_redial_keeps_place(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;

	OK(f, c_login(&b, "t-agent", "tehran"));
	OK(f, c_login(&b, "s-agent", "shiraz"));
	OK(f, c_enqueue(&b, "t0", "tehran", 0, "+9821000000", ""));
	assert_string_equal(next(f, "t-agent", &term, &index, NULL), "t0");
	OK(f, c_answer(&b, "t0", "t-agent", term, index)); /* in progress at tehran */
	f->time_ms += 10;
	OK(f, c_enqueue(&b, "t1", "tehran", 0, "+9821000001", ""));
	f->time_ms += 10;
	OK(f, c_enqueue(&b, "s1", "shiraz", 0, "+9871000001", ""));
	f->time_ms += 10;
	OK(f, c_enqueue(&b, "t2", "tehran", 0, "+9821000002", ""));
	SET_OP(&b, SITE_DOWN, site_down, down, CALLRAFT__SITE_DOWN__INIT);
	b.op.down.site = "tehran";
	OK(f, &b.cmd);
	assert_int_equal(agent_state(f, "t-agent"), CALLRAFT__AGENT_STATE__UNREACHABLE);
	/* t0 was in progress: ended "site-lost", and a callback took its place */
	char cb0[CALLRAFT_ID_BYTES_MAX + 1], want[256];
	Callraft__Reply *r0;
	Callraft__Call *t0 = call_get(f, "t0", &r0);
	assert_int_equal(t0->state, CALLRAFT__CALL_STATE__ENDED);
	assert_string_equal(t0->outcome, "site-lost");
	snprintf(cb0, sizeof cb0, "%s", t0->callback_id);
	callraft__reply__free_unpacked(r0, NULL);
	snprintf(want, sizeof want, "%s t1 s1 t2", cb0);
	ASSERT_QUEUE(f, want);
	assert_true(call_is_callback(f, cb0) && call_is_callback(f, "t1") &&
		    call_is_callback(f, "t2"));
	assert_false(call_is_callback(f, "s1"));
	/* t2's caller dials again (a new call id at shiraz): they keep t2's place */
	f->time_ms += 60000;
	OK(f, c_enqueue(&b, "t2-again", "shiraz", 0, "+9821000002", ""));
	snprintf(want, sizeof want, "%s t1 s1 t2-again", cb0);
	ASSERT_QUEUE(f, want);
	Callraft__Reply *r;
	Callraft__Call *old = call_get(f, "t2", &r);
	assert_int_equal(old->state, CALLRAFT__CALL_STATE__ENDED);
	assert_string_equal(old->merged_into, "t2-again");
	callraft__reply__free_unpacked(r, NULL);
	/* shiraz serves tehran's callers at once (no overflow wait), in the original order */
	bool callback;
	assert_string_equal(next(f, "s-agent", &term, &index, &callback), cb0);
	assert_true(callback);
	OK(f, c_reject(&b, cb0, "s-agent", term, index));
	ASSERT_QUEUE(f, want);
}

static void test_redial_after_window_queues_anew(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_enqueue(&b, "t1", "tehran", 0, "+9821000001", ""));
	SET_OP(&b, SITE_DOWN, site_down, down, CALLRAFT__SITE_DOWN__INIT);
	b.op.down.site = "tehran";
	OK(f, &b.cmd);
	f->time_ms += CALLRAFT_REDIAL_WINDOW_MS_DEFAULT + 1;
	OK(f, c_enqueue(&b, "t1-again", "shiraz", 0, "+9821000001", ""));
	ASSERT_QUEUE(f, "t1 t1-again");
}

/* Ticks every CALLRAFT_TICK_INTERVAL_MS, as a live leader does, and one at `until` exactly: time
 * passes without a stall of the cluster (a longer gap between Ticks is one: sitewatch.c rule 6). */
static void ticks_until(struct fx *f, int64_t until)
{
	while (f->time_ms + CALLRAFT_TICK_INTERVAL_MS < until) {
		f->time_ms += CALLRAFT_TICK_INTERVAL_MS;
		tick(f);
	}
	f->time_ms = until;
	tick(f);
}

static void test_site_lost_when_every_agent_unreachable_long_enough(void **state)
{
	struct fx *f = *state;
	struct cb b;
	int64_t t0 = f->time_ms;

	OK(f, c_site_conf(&b, "tehran", 0, 0, 5000, 10000));
	OK(f, c_login(&b, "t1", "tehran"));
	OK(f, c_login(&b, "t2", "tehran"));
	OK(f, c_enqueue(&b, "c1", "tehran", 0, "+9821000001", ""));
	ticks_until(f, t0 + 2000);
	OK(f, c_heartbeat(&b, "t2"));
	ticks_until(f, t0 + 5000); /* t1 lapses */
	assert_int_equal(agent_state(f, "t1"), CALLRAFT__AGENT_STATE__UNREACHABLE);
	ticks_until(f, t0 + 7000); /* t2 lapses: the last one */
	assert_int_equal(agent_state(f, "t2"), CALLRAFT__AGENT_STATE__UNREACHABLE);
	ticks_until(f, t0 + 17000 - 1);
	assert_false(call_is_callback(f, "c1"));
	ticks_until(f, t0 + 17000);
	assert_true(call_is_callback(f, "c1"));
}

/* The cluster committed nothing for 40 s (no quorum): every lease lapsed meanwhile, as no desktop's
 * heartbeat could be written. At the first Tick after it nobody is UNREACHABLE; each agent has
 * min(CALLRAFT_PRESENCE_STALL_GRACE_MS, presence timeout) of Ticks to be heard; one heard stays,
 * one still silent lapses then. Without a stall a lease lapses on time (the test above). */
static void test_presence_does_not_lapse_for_the_clusters_own_silence(void **state)
{
	struct fx *f = *state;
	struct cb b;
	int64_t t0 = f->time_ms;

	OK(f, c_qconf(&b, -1, 120000, -1, -1, -1)); /* the offer outlives the stall here */
	OK(f, c_login(&b, "t1", "tehran"));         /* presence timeout: the default, 30 s */
	OK(f, c_login(&b, "t2", "tehran"));
	OK(f, c_enqueue(&b, "c1", "tehran", 0, "+9821000001", ""));
	assert_string_equal(next(f, "t1", NULL, NULL, NULL), "c1"); /* t1 holds an open offer */
	ticks_until(f, t0 + 1000);
	f->time_ms += 40000; /* the stall */
	int64_t back = f->time_ms;
	tick(f);
	assert_int_equal(agent_state(f, "t1"), CALLRAFT__AGENT_STATE__ON_CALL);
	assert_int_equal(agent_state(f, "t2"), CALLRAFT__AGENT_STATE__AVAILABLE);
	ticks_until(f, back + 4000);
	OK(f, c_heartbeat(&b, "t2")); /* t2's desktop gets through; t1's is gone */
	ticks_until(f, back + CALLRAFT_PRESENCE_STALL_GRACE_MS - CALLRAFT_TICK_INTERVAL_MS);
	assert_int_equal(agent_state(f, "t1"), CALLRAFT__AGENT_STATE__ON_CALL);
	ticks_until(f, back + CALLRAFT_PRESENCE_STALL_GRACE_MS);
	assert_int_equal(agent_state(f, "t1"), CALLRAFT__AGENT_STATE__UNREACHABLE);
	assert_int_equal(call_state(f, "c1"), CALLRAFT__CALL_STATE__WAITING); /* back in its place */
	assert_int_equal(agent_state(f, "t2"), CALLRAFT__AGENT_STATE__AVAILABLE);
	ticks_until(f, back + 4000 + CALLRAFT_PRESENCE_TIMEOUT_MS_DEFAULT); /* t2's lease, on time */
	assert_int_equal(agent_state(f, "t2"), CALLRAFT__AGENT_STATE__UNREACHABLE);
}

/* A Tick reporting one site's nodes. */
static void tick_nodes(struct fx *f, const char *site, bool reachable)
{
	struct cb b;
	Callraft__SiteNodes sn = CALLRAFT__SITE_NODES__INIT;
	Callraft__SiteNodes *ptr = &sn;
	sn.site = (char *)site;
	sn.reachable = reachable;
	c_tick(&b);
	b.op.tick.sites = &ptr;
	b.op.tick.n_sites = 1;
	OK(f, &b.cmd);
}

/* Ticks every CALLRAFT_TICK_INTERVAL_MS (the last one sooner) for `ms`, as a leader does: a longer
 * gap between Ticks is a stall of the cluster, not a site's silence (sitewatch.c, rule 6). */
static void tick_nodes_for(struct fx *f, const char *site, bool reachable, int64_t ms)
{
	while (ms > 0) {
		int64_t step = ms < CALLRAFT_TICK_INTERVAL_MS ? ms : CALLRAFT_TICK_INTERVAL_MS;
		f->time_ms += step;
		ms -= step;
		tick_nodes(f, site, reachable);
	}
}

static void test_site_with_reachable_nodes_is_not_lost_when_agents_vanish(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_site_conf(&b, "tehran", 0, 0, 5000, 10000));
	OK(f, c_login(&b, "t1", "tehran"));
	OK(f, c_enqueue(&b, "c1", "tehran", 0, "+9821000001", ""));
	tick_nodes(f, "tehran", true);
	tick_nodes_for(f, "tehran", true, 5000); /* t1 lapses: no agent reachable, the nodes answer */
	assert_int_equal(agent_state(f, "t1"), CALLRAFT__AGENT_STATE__UNREACHABLE);
	tick_nodes_for(f, "tehran", true, 20000);
	assert_false(call_is_callback(f, "c1"));
	/* Then the nodes go too: lost site_loss_after later, not before. */
	tick_nodes(f, "tehran", false);
	tick_nodes_for(f, "tehran", false, 10000 - 1);
	assert_false(call_is_callback(f, "c1"));
	tick_nodes_for(f, "tehran", false, 1);
	assert_true(call_is_callback(f, "c1"));
}

static void test_site_whose_nodes_return_in_time_is_not_lost(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_site_conf(&b, "shiraz", 0, 0, 5000, 10000));
	OK(f, c_enqueue(&b, "c1", "shiraz", 0, "+9871000001", ""));
	tick_nodes(f, "shiraz", false); /* no agents logged in; nodes out of contact */
	tick_nodes_for(f, "shiraz", false, 8500);
	f->time_ms += 500;
	tick_nodes(f, "shiraz", true); /* back within site_loss_after */
	tick_nodes_for(f, "shiraz", true, 5000);
	assert_false(call_is_callback(f, "c1"));
	/* Out again, for the whole window this time: with no agents, the nodes decide. */
	tick_nodes(f, "shiraz", false);
	tick_nodes_for(f, "shiraz", false, 10000 - 1);
	assert_false(call_is_callback(f, "c1"));
	tick_nodes_for(f, "shiraz", false, 1);
	assert_true(call_is_callback(f, "c1"));
}

/* ==== 10-11. tickets, history, stats ====================================================== */

static void test_ticket_class_target_and_customer_history_in_order(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_enqueue(&b, "c1", "tehran", 0, "+9821000001", "cust-1"));
	f->time_ms += 1000;
	SET_OP(&b, CALLBACK_REQUEST, callback_request, cbr, CALLRAFT__CALLBACK_REQUEST__INIT);
	b.op.cbr.call_id = "c1";
	OK(f, &b.cmd);
	f->time_ms += 1000;
	SET_OP(&b, TICKET_OPEN, ticket_open, topen, CALLRAFT__TICKET_OPEN__INIT);
	b.op.topen.customer_id = "cust-1";
	b.op.topen.category = "complaint-passenger";
	b.op.topen.ticket_class = "urgent";
	Callraft__Reply *r = run(f, &b.cmd);
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_string_equal(r->ticket->ticket_class, "urgent");
	assert_int_equal(r->ticket->target_ms, f->time_ms + CALLRAFT_TICKET_URGENT_TARGET_MS);
	assert_true(state_ticket_code_valid(r->ticket->code));
	callraft__reply__free_unpacked(r, NULL);

	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__CustomerHistory h = CALLRAFT__CUSTOMER_HISTORY__INIT;
	h.customer_id = "cust-1";
	q.op_case = CALLRAFT__REQUEST__OP_CUSTOMER_HISTORY;
	q.customer_history = &h;
	r = read_req(f, &q);
	assert_int_equal(r->n_history, 3);
	assert_string_equal(r->history[0]->kind, "call");
	assert_string_equal(r->history[1]->kind, "callback");
	assert_string_equal(r->history[2]->kind, "ticket");
	callraft__reply__free_unpacked(r, NULL);
}

static void test_stats_service_level_asa_and_abandons(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;

	OK(f, c_login(&b, "a1", "tehran"));
	int64_t t0 = f->time_ms;
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

	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__StatsGet sg = CALLRAFT__STATS_GET__INIT;
	sg.queue = "sales";
	q.op_case = CALLRAFT__REQUEST__OP_STATS_GET;
	q.stats_get = &sg;
	f->time_ms += 4000;
	tick(f); /* FSM time moves on: c5 has waited 4 s */
	Callraft__Reply *r = read_req(f, &q);
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_int_equal(r->n_stats, 1);
	Callraft__Stats *st = r->stats[0];
	assert_int_equal(st->entered, 5);
	assert_int_equal(st->answered, 2);
	assert_int_equal(st->answered_in_sl, 1);
	assert_int_equal(st->abandoned, 2);
	assert_int_equal(st->abandoned_short, 1);
	assert_int_equal(st->asa_ms, 17500);
	assert_true(st->service_level > 0.333 && st->service_level < 0.334);
	assert_true(st->abandon_rate > 0.333 && st->abandon_rate < 0.334);
	assert_int_equal(st->waiting, 1);
	assert_int_equal(st->longest_wait_ms, 4000);
	callraft__reply__free_unpacked(r, NULL);
	sg.queue = "";
	sg.site = "tehran";
	r = read_req(f, &q);
	assert_int_equal(r->stats[0]->answered, 2);
	assert_int_equal(r->stats[0]->waiting, 1);
	callraft__reply__free_unpacked(r, NULL);
}

/* Waiting counts and the longest wait come from counts and indexes kept with the queue (no walk):
 * they must match across tiers (the oldest call may sit in a lower tier) and sites, and follow
 * calls leaving the queue. */
static void test_stats_waiting_across_tiers_and_sites(void **state)
{
	struct fx *f = *state;
	struct cb b;
	int64_t t0 = f->time_ms;
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__StatsGet sg = CALLRAFT__STATS_GET__INIT;
	Callraft__Reply *r;

	OK(f, c_enqueue(&b, "c1", "tehran", 0, "+9821000001", ""));
	f->time_ms = t0 + 5000;
	OK(f, c_enqueue(&b, "c2", "shiraz", 3, "+9871000002", ""));
	f->time_ms = t0 + 6000;
	OK(f, c_enqueue(&b, "c3", "tehran", 1, "+9821000003", ""));
	f->time_ms = t0 + 10000;
	tick(f);
	q.op_case = CALLRAFT__REQUEST__OP_STATS_GET;
	q.stats_get = &sg;
	sg.queue = "sales";
	r = read_req(f, &q);
	assert_int_equal(r->stats[0]->waiting, 3);
	assert_int_equal(r->stats[0]->longest_wait_ms, 10000); /* c1, the lowest tier */
	callraft__reply__free_unpacked(r, NULL);
	sg.queue = "";
	sg.site = "tehran";
	r = read_req(f, &q);
	assert_int_equal(r->stats[0]->waiting, 2);
	assert_int_equal(r->stats[0]->longest_wait_ms, 10000);
	callraft__reply__free_unpacked(r, NULL);
	sg.site = "shiraz";
	r = read_req(f, &q);
	assert_int_equal(r->stats[0]->waiting, 1);
	assert_int_equal(r->stats[0]->longest_wait_ms, 5000);
	callraft__reply__free_unpacked(r, NULL);

	OK(f, c_abandon(&b, "c1"));
	sg.site = "tehran";
	r = read_req(f, &q);
	assert_int_equal(r->stats[0]->waiting, 1);
	assert_int_equal(r->stats[0]->longest_wait_ms, 4000); /* c3 */
	callraft__reply__free_unpacked(r, NULL);
	OK(f, c_abandon(&b, "c3"));
	r = read_req(f, &q);
	assert_int_equal(r->stats[0]->waiting, 0);
	assert_int_equal(r->stats[0]->longest_wait_ms, 0);
	callraft__reply__free_unpacked(r, NULL);
	sg.site = "";
	sg.queue = "sales";
	r = read_req(f, &q);
	assert_int_equal(r->stats[0]->waiting, 1);
	assert_int_equal(r->stats[0]->longest_wait_ms, 5000); /* c2 */
	callraft__reply__free_unpacked(r, NULL);
}

static void test_tick_from_a_client_is_refused(void **state)
{
	struct fx *f = *state;
	struct cb b;

	c_tick(&b);
	b.cmd.client_id = f->client_id;
	b.cmd.seq = ++f->seq;
	EXPECT(f, &b.cmd, CALLRAFT__CODE__INVALID_ARGUMENT);
}

/* ==== 12. site liveness, held callers, presence that cannot stick, redial (issue 12) ======== */

/* A Tick reporting one site's nodes, with how long ago the leader last saw one in contact. */
static void tick_silent(struct fx *f, const char *site, bool reachable, int64_t silent_ms)
{
	struct cb b;
	Callraft__SiteNodes sn = CALLRAFT__SITE_NODES__INIT;
	Callraft__SiteNodes *ptr = &sn;
	sn.site = (char *)site;
	sn.reachable = reachable;
	sn.silent_ms = silent_ms;
	c_tick(&b);
	b.op.tick.sites = &ptr;
	b.op.tick.n_sites = 1;
	OK(f, &b.cmd);
}

static void pbx_heartbeat(struct fx *f, const char *site)
{
	struct cb b;
	Callraft__SiteHeartbeat hb = CALLRAFT__SITE_HEARTBEAT__INIT;
	b.cmd = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	b.cmd.op_case = CALLRAFT__COMMAND__OP_SITE_HEARTBEAT;
	hb.site = (char *)site;
	b.cmd.site_heartbeat = &hb;
	OK(f, &b.cmd);
}

/* The site's record: down and out_of_contact. */
static void site_flags(struct fx *f, const char *site, bool *down, bool *out)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__SiteList op = CALLRAFT__SITE_LIST__INIT;
	q.op_case = CALLRAFT__REQUEST__OP_SITE_LIST;
	q.site_list = &op;
	Callraft__Reply *r = read_req(f, &q);
	*down = *out = false;
	for (size_t i = 0; i < r->n_sites; i++)
		if (strcmp(r->sites[i]->site, site) == 0)
			*down = r->sites[i]->down, *out = r->sites[i]->out_of_contact;
	callraft__reply__free_unpacked(r, NULL);
}

static bool site_down(struct fx *f, const char *site)
{
	bool down, out;
	site_flags(f, site, &down, &out);
	return down;
}

static bool site_out(struct fx *f, const char *site)
{
	bool down, out;
	site_flags(f, site, &down, &out);
	return out;
}

/* Both sites healthy: ticks report both in contact, the PBXs beat. */
static void healthy(struct fx *f)
{
	tick_silent(f, "tehran", true, 0);
	tick_silent(f, "shiraz", true, 0);
	pbx_heartbeat(f, "tehran");
	pbx_heartbeat(f, "shiraz");
}

/* Tehran dies at the current time: from now on only shiraz shows life, every 500 ms. The leader
 * (at shiraz) reports how long it has not heard from tehran's nodes, and reports them out of
 * contact once that is `unreachable_after_ms` (node/tick.c: CALLRAFT_CONTACT_TIMEOUT_FACTOR
 * election timeouts). Returns how long after the death the site was declared lost (or -1 after
 * `limit_ms`), and in *held_ms when it went out of contact. */
static int64_t tehran_dies_nodes_unreachable_after(struct fx *f, int64_t limit_ms, int64_t *held_ms,
						   int64_t unreachable_after_ms)
{
	int64_t death = f->time_ms;
	*held_ms = -1;
	while (f->time_ms - death <= limit_ms) {
		f->time_ms += CALLRAFT_TICK_INTERVAL_MS;
		pbx_heartbeat(f, "shiraz");
		tick_silent(f, "shiraz", true, 0);
		int64_t silent = f->time_ms - death;
		tick_silent(f, "tehran", silent < unreachable_after_ms, silent);
		if (*held_ms < 0 && site_out(f, "tehran"))
			*held_ms = f->time_ms - death;
		if (site_down(f, "tehran"))
			return f->time_ms - death;
	}
	return -1;
}

/* The same with the default election timeout (1 s: its nodes out of contact after 3 s). */
static int64_t tehran_dies(struct fx *f, int64_t limit_ms, int64_t *held_ms)
{
	return tehran_dies_nodes_unreachable_after(
	    f, limit_ms, held_ms,
	    CALLRAFT_CONTACT_TIMEOUT_FACTOR * (int64_t)CALLRAFT_ELECTION_TIMEOUT_MS_DEFAULT);
}

static void test_dead_site_is_held_then_declared_lost_within_10s_by_default(void **state)
{
	struct fx *f = *state;
	struct cb b;
	int64_t held;

	healthy(f);
	OK(f, c_enqueue(&b, "t1", "tehran", 0, "+9821000001", ""));
	int64_t lost = tehran_dies(f, 20000, &held);
	assert_true(held >= CALLRAFT_CONTACT_TIMEOUT_MS_DEFAULT &&
		    held <= CALLRAFT_CONTACT_TIMEOUT_MS_DEFAULT + CALLRAFT_TICK_INTERVAL_MS);
	assert_true(lost >= CALLRAFT_SITE_LOSS_AFTER_MS_DEFAULT && lost <= 10000);
	assert_true(call_is_callback(f, "t1"));
	/* the reason says what was (not) seen, and later Ticks keep it */
	tick(f);
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__SiteList op = CALLRAFT__SITE_LIST__INIT;
	q.op_case = CALLRAFT__REQUEST__OP_SITE_LIST;
	q.site_list = &op;
	Callraft__Reply *r = read_req(f, &q);
	bool found = false;
	for (size_t i = 0; i < r->n_sites; i++)
		if (strcmp(r->sites[i]->site, "tehran") == 0)
			found = strstr(r->sites[i]->down_reason, "last evidence: nodes") != NULL;
	assert_true(found);
	callraft__reply__free_unpacked(r, NULL);
}

/* Cities 20 ms apart (election timeout 300 ms): the leader reports tehran's nodes out of contact
 * 900 ms after they die, and then only its PBX (last heard at the death) spoke for it: it is held
 * 2 s after that, not 3, and still lost only after site_loss_after. */
static void test_dead_site_is_held_sooner_once_its_nodes_are_out_of_contact(void **state)
{
	struct fx *f = *state;
	struct cb b;
	int64_t held;

	OK(f, c_qconf(&b, 0, -1, -1, -1, -1)); /* overflow at once: only the hold rule applies */
	healthy(f);
	OK(f, c_login(&b, "s-agent", "shiraz"));
	OK(f, c_enqueue(&b, "t1", "tehran", 0, "+9821000001", ""));
	int64_t lost = tehran_dies_nodes_unreachable_after(f, 20000, &held, 900);
	assert_true(held >= CALLRAFT_SITE_HOLD_UNREACHABLE_MS &&
		    held <= CALLRAFT_SITE_HOLD_UNREACHABLE_MS + CALLRAFT_TICK_INTERVAL_MS);
	assert_true(held < CALLRAFT_CONTACT_TIMEOUT_MS_DEFAULT);
	assert_true(lost >= CALLRAFT_SITE_LOSS_AFTER_MS_DEFAULT &&
		    lost <= CALLRAFT_SITE_LOSS_AFTER_MS_DEFAULT + CALLRAFT_TICK_INTERVAL_MS);
	bool callback = false;
	assert_string_equal(next(f, "s-agent", NULL, NULL, &callback), "t1");
	assert_true(callback && call_is_callback(f, "t1"));
	assert_true(call_is_callback(f, "t1"));
}

/* Between the two cities' cut (tehran's nodes out of contact all along) a PBX heartbeat at least
 * every 1.5 s keeps tehran in contact; a missed one (2 s of silence) holds its callers, and the
 * next heartbeat gives them back, in place. */
static void test_cut_site_is_held_only_when_its_pbx_misses_a_beat(void **state)
{
	struct fx *f = *state;
	struct cb b;

	OK(f, c_qconf(&b, 0, -1, -1, -1, -1));
	healthy(f);
	OK(f, c_enqueue(&b, "t1", "tehran", 0, "+9821000001", ""));
	int64_t cut = f->time_ms, beat = f->time_ms;
	for (int i = 0; i < 120; i++) { /* a minute: ticks every 500 ms, heartbeats 1.5 s apart */
		f->time_ms += CALLRAFT_TICK_INTERVAL_MS;
		if (i % 3 == 2) {
			pbx_heartbeat(f, "tehran");
			beat = f->time_ms;
		}
		tick_silent(f, "tehran", false, f->time_ms - cut);
		assert_false(site_out(f, "tehran"));
	}
	OK(f, c_login(&b, "s-agent", "shiraz")); /* (a minute: a desktop logged in earlier lapsed) */
	/* the PBX misses one: held once 2 s have passed since the last heartbeat, not before */
	while (f->time_ms - beat < CALLRAFT_SITE_HOLD_UNREACHABLE_MS) {
		assert_false(site_out(f, "tehran"));
		f->time_ms += CALLRAFT_TICK_INTERVAL_MS;
		tick_silent(f, "tehran", false, f->time_ms - cut);
	}
	assert_true(site_out(f, "tehran"));
	assert_null(next(f, "s-agent", NULL, NULL, NULL));
	pbx_heartbeat(f, "tehran");
	tick_silent(f, "tehran", false, f->time_ms - cut);
	assert_false(site_out(f, "tehran") || site_down(f, "tehran"));
	assert_false(call_is_callback(f, "t1"));
	assert_string_equal(next(f, "s-agent", NULL, NULL, NULL), "t1");
}

/* The cluster itself committed nothing for 90 s (an election storm): at the first Tick after it
 * every site's evidence is 90 s old, and the new leader has not yet seen any node make progress
 * (silent_ms -1). No site is lost then, nor until Ticks have flowed for
 * CALLRAFT_SITE_LOSS_OBSERVED_MS; a site heard meanwhile stays, one still silent is lost. */
static void test_no_site_is_lost_at_the_first_tick_after_the_cluster_stalled(void **state)
{
	struct fx *f = *state;
	struct cb b;

	healthy(f);
	OK(f, c_enqueue(&b, "t1", "tehran", 0, "+9821000001", ""));
	OK(f, c_enqueue(&b, "s1", "shiraz", 0, "+9871000001", ""));
	f->time_ms += 90000;
	int64_t back = f->time_ms;
	tick_silent(f, "tehran", true, -1);
	tick_silent(f, "shiraz", true, -1);
	assert_false(site_down(f, "tehran") || site_down(f, "shiraz"));
	/* shiraz is heard at once (its nodes make progress, its PBX beats); tehran stays silent */
	while (f->time_ms - back < CALLRAFT_SITE_LOSS_OBSERVED_MS) {
		assert_false(site_down(f, "tehran") || site_down(f, "shiraz"));
		f->time_ms += CALLRAFT_TICK_INTERVAL_MS;
		pbx_heartbeat(f, "shiraz");
		tick_silent(f, "shiraz", true, 0);
		tick_silent(f, "tehran", false, -1);
	}
	assert_true(site_down(f, "tehran"));
	assert_false(site_down(f, "shiraz") || site_out(f, "shiraz"));
	assert_false(call_is_callback(f, "s1"));
	assert_true(call_is_callback(f, "t1"));
}

static void test_site_is_never_lost_while_its_pbx_beats_though_its_nodes_are_cut(void **state)
{
	struct fx *f = *state;
	struct cb b;

	healthy(f);
	OK(f, c_enqueue(&b, "t1", "tehran", 0, "+9821000001", ""));
	int64_t cut = f->time_ms;
	for (int i = 0; i < 120; i++) { /* a minute of cut between the cities */
		f->time_ms += CALLRAFT_TICK_INTERVAL_MS;
		tick_silent(f, "tehran", false, f->time_ms - cut);
		if (i % 2 == 0)
			pbx_heartbeat(f, "tehran"); /* relayed through the witness */
		assert_false(site_out(f, "tehran"));
	}
	assert_false(site_down(f, "tehran"));
	assert_false(call_is_callback(f, "t1"));
	/* and so the caller is offered (overflow passed) like any live caller */
	OK(f, c_login(&b, "s-agent", "shiraz"));
	assert_string_equal(next(f, "s-agent", NULL, NULL, NULL), "t1");
}

static void test_site_is_not_lost_while_its_nodes_are_in_contact(void **state)
{
	struct fx *f = *state;
	struct cb b;

	healthy(f); /* its PBX beat once, then fell silent; its nodes stay in contact */
	OK(f, c_enqueue(&b, "t1", "tehran", 0, "+9821000001", ""));
	for (int i = 0; i < 120; i++) {
		f->time_ms += CALLRAFT_TICK_INTERVAL_MS;
		tick_silent(f, "tehran", true, 200);
	}
	assert_false(site_out(f, "tehran") || site_down(f, "tehran"));
}

static void test_held_caller_is_offered_to_nobody_and_keeps_place_until_back(void **state)
{
	struct fx *f = *state;
	struct cb b;
	int64_t held;

	OK(f, c_qconf(&b, 0, -1, -1, -1, -1)); /* overflow at once: only the hold rule applies */
	healthy(f);
	OK(f, c_login(&b, "s-agent", "shiraz"));
	OK(f, c_enqueue(&b, "t1", "tehran", 0, "+9821000001", ""));
	f->time_ms += 10;
	OK(f, c_enqueue(&b, "s1", "shiraz", 0, "+9871000001", ""));
	assert_int_equal(tehran_dies(f, CALLRAFT_CONTACT_TIMEOUT_MS_DEFAULT, &held), -1);
	assert_true(held > 0 && site_out(f, "tehran"));
	/* t1 is ahead in line, but it is held: s-agent gets s1, and then nothing */
	assert_string_equal(next(f, "s-agent", NULL, NULL, NULL), "s1");
	struct cb e;
	OK(f, c_end(&e, "s1", "s-agent"));
	assert_null(next(f, "s-agent", NULL, NULL, NULL));
	ASSERT_QUEUE(f, "t1");
	/* tehran's PBX is heard again: t1 is a live caller again, in place */
	pbx_heartbeat(f, "tehran");
	tick(f);
	assert_false(site_out(f, "tehran"));
	assert_false(call_is_callback(f, "t1"));
	assert_string_equal(next(f, "s-agent", NULL, NULL, NULL), "t1");
}

static void test_held_callers_become_callbacks_in_original_order_when_lost(void **state)
{
	struct fx *f = *state;
	struct cb b;
	int64_t held;

	healthy(f);
	OK(f, c_login(&b, "s-agent", "shiraz"));
	OK(f, c_enqueue(&b, "t1", "tehran", 0, "+9821000001", ""));
	f->time_ms += 10;
	OK(f, c_enqueue(&b, "s1", "shiraz", 0, "+9871000001", ""));
	f->time_ms += 10;
	OK(f, c_enqueue(&b, "t2", "tehran", 0, "+9821000002", ""));
	assert_true(tehran_dies(f, 20000, &held) > 0);
	ASSERT_QUEUE(f, "t1 s1 t2");
	assert_true(call_is_callback(f, "t1") && call_is_callback(f, "t2"));
	bool callback;
	assert_string_equal(next(f, "s-agent", NULL, NULL, &callback), "t1");
	assert_true(callback);
}

static void test_open_offer_of_a_caller_is_withdrawn_when_the_site_goes_out_of_contact(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;
	int64_t held;

	OK(f, c_qconf(&b, 0, -1, -1, -1, -1));
	healthy(f);
	OK(f, c_login(&b, "s-agent", "shiraz"));
	OK(f, c_enqueue(&b, "t1", "tehran", 0, "+9821000001", ""));
	assert_string_equal(next(f, "s-agent", &term, &index, NULL), "t1");
	assert_int_equal(tehran_dies(f, CALLRAFT_CONTACT_TIMEOUT_MS_DEFAULT, &held), -1);
	assert_true(held > 0);
	assert_int_equal(call_state(f, "t1"), CALLRAFT__CALL_STATE__WAITING);
	assert_int_equal(agent_state(f, "s-agent"), CALLRAFT__AGENT_STATE__AVAILABLE);
	EXPECT(f, c_answer(&b, "t1", "s-agent", term, index), CALLRAFT__CODE__STALE_TOKEN);
}

static void test_call_in_progress_at_a_lost_site_ends_site_lost_with_callback_in_place(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;
	int64_t held;

	healthy(f);
	OK(f, c_login(&b, "t-agent", "tehran"));
	OK(f, c_login(&b, "t-offered", "tehran"));
	OK(f, c_enqueue(&b, "t0", "tehran", 0, "+9821000000", "cust-0"));
	assert_string_equal(next(f, "t-agent", &term, &index, NULL), "t0");
	OK(f, c_answer(&b, "t0", "t-agent", term, index));
	f->time_ms += 10;
	OK(f, c_enqueue(&b, "t1", "tehran", 0, "+9821000001", ""));
	assert_string_equal(next(f, "t-offered", NULL, NULL, NULL), "t1");
	f->time_ms += 10;
	OK(f, c_enqueue(&b, "t2", "tehran", 0, "+9821000002", ""));
	assert_true(tehran_dies(f, 20000, &held) > 0);
	Callraft__Reply *r;
	Callraft__Call *t0 = call_get(f, "t0", &r);
	assert_int_equal(t0->state, CALLRAFT__CALL_STATE__ENDED);
	assert_string_equal(t0->outcome, "site-lost");
	char cb0[CALLRAFT_ID_BYTES_MAX + 1], want[256];
	snprintf(cb0, sizeof cb0, "%s", t0->callback_id);
	callraft__reply__free_unpacked(r, NULL);
	Callraft__Call *cb = call_get(f, cb0, &r);
	assert_true(cb->callback);
	assert_string_equal(cb->origin_call_id, "t0");
	assert_string_equal(cb->callback_number, "+9821000000");
	callraft__reply__free_unpacked(r, NULL);
	/* the offer of t1 was withdrawn: a callback, in its place; both agents are gone */
	snprintf(want, sizeof want, "%s t1 t2", cb0);
	ASSERT_QUEUE(f, want);
	assert_int_equal(agent_state(f, "t-agent"), CALLRAFT__AGENT_STATE__UNREACHABLE);
	assert_int_equal(agent_state(f, "t-offered"), CALLRAFT__AGENT_STATE__UNREACHABLE);
}

static void test_queue_without_site_lost_callback_ends_the_call_without_one(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;
	Callraft__BoolValue no = CALLRAFT__BOOL_VALUE__INIT;

	c_qconf(&b, -1, -1, -1, -1, -1);
	no.value = false;
	b.op.qc.site_lost_callback = &no;
	OK(f, &b.cmd);
	OK(f, c_login(&b, "t-agent", "tehran"));
	OK(f, c_enqueue(&b, "t0", "tehran", 0, "+9821000000", ""));
	assert_string_equal(next(f, "t-agent", &term, &index, NULL), "t0");
	OK(f, c_answer(&b, "t0", "t-agent", term, index));
	SET_OP(&b, SITE_DOWN, site_down, down, CALLRAFT__SITE_DOWN__INIT);
	b.op.down.site = "tehran";
	OK(f, &b.cmd);
	Callraft__Reply *r;
	Callraft__Call *t0 = call_get(f, "t0", &r);
	assert_string_equal(t0->outcome, "site-lost");
	assert_string_equal(t0->callback_id, "");
	callraft__reply__free_unpacked(r, NULL);
	ASSERT_QUEUE(f, "");
}

static void test_presence_of_an_agent_on_a_call_lapses_unless_renewed(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;

	OK(f, c_site_conf(&b, "tehran", 0, 0, 5000, 60000));
	OK(f, c_site_conf(&b, "shiraz", 0, 0, 5000, 60000));
	OK(f, c_login(&b, "t-agent", "tehran"));
	OK(f, c_login(&b, "s-agent", "shiraz"));
	OK(f, c_enqueue(&b, "t0", "tehran", 0, "+9821000000", ""));
	OK(f, c_enqueue(&b, "s0", "shiraz", 0, "+9871000000", ""));
	assert_string_equal(next(f, "t-agent", &term, &index, NULL), "t0");
	OK(f, c_answer(&b, "t0", "t-agent", term, index));
	assert_string_equal(next(f, "s-agent", &term, &index, NULL), "s0");
	OK(f, c_answer(&b, "s0", "s-agent", term, index));
	/* both desktops fall silent; only tehran's PBX goes on beating */
	for (int i = 0; i < 12; i++) {
		f->time_ms += 1000;
		pbx_heartbeat(f, "tehran");
		tick(f);
	}
	Callraft__Reply *r;
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__AgentShow op = CALLRAFT__AGENT_SHOW__INIT;
	q.op_case = CALLRAFT__REQUEST__OP_AGENT_SHOW;
	q.agent_show = &op;
	op.agent_id = "t-agent";
	r = read_req(f, &q);
	assert_true(r->agent->presence_due_ms > f->time_ms); /* renewed by its PBX */
	callraft__reply__free_unpacked(r, NULL);
	op.agent_id = "s-agent";
	r = read_req(f, &q);
	assert_int_equal(r->agent->state, CALLRAFT__AGENT_STATE__ON_CALL);
	assert_true(r->agent->presence_due_ms <= f->time_ms); /* lapsed: counts as gone */
	callraft__reply__free_unpacked(r, NULL);
	/* a heartbeat from the desktop renews it */
	OK(f, c_heartbeat(&b, "s-agent"));
	r = read_req(f, &q);
	assert_true(r->agent->presence_due_ms > f->time_ms);
	callraft__reply__free_unpacked(r, NULL);
}

static void test_agents_only_site_whose_agent_on_a_call_lapses_is_lost_and_call_ended(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;

	OK(f, c_site_conf(&b, "tehran", 0, 0, 5000, 8000));
	OK(f, c_login(&b, "t-agent", "tehran"));
	OK(f, c_enqueue(&b, "t0", "tehran", 0, "+9821000000", ""));
	assert_string_equal(next(f, "t-agent", &term, &index, NULL), "t0");
	OK(f, c_answer(&b, "t0", "t-agent", term, index));
	int64_t silent_from = f->time_ms;
	while (call_state(f, "t0") == CALLRAFT__CALL_STATE__ANSWERED &&
	       f->time_ms - silent_from < 60000) {
		f->time_ms += CALLRAFT_TICK_INTERVAL_MS;
		tick(f);
	}
	/* lease 5 s + loss after 8 s, to the tick */
	assert_true(f->time_ms - silent_from >= 13000 && f->time_ms - silent_from <= 13500);
	assert_true(site_down(f, "tehran"));
	Callraft__Reply *r;
	assert_string_equal(call_get(f, "t0", &r)->outcome, "site-lost");
	callraft__reply__free_unpacked(r, NULL);
}

static void test_lost_site_is_restored_when_evidence_returns_but_not_an_operator_down(void **state)
{
	struct fx *f = *state;
	struct cb b;
	int64_t held;

	healthy(f);
	assert_true(tehran_dies(f, 20000, &held) > 0);
	pbx_heartbeat(f, "tehran");
	tick(f);
	assert_false(site_down(f, "tehran"));
	SET_OP(&b, SITE_DOWN, site_down, down, CALLRAFT__SITE_DOWN__INIT);
	b.op.down.site = "tehran";
	OK(f, &b.cmd);
	pbx_heartbeat(f, "tehran");
	tick(f);
	assert_true(site_down(f, "tehran"));
}

struct events {
	int n;
	char what[8][64];
	char evidence[8][256];
};

static void on_site_event(void *data, uint64_t index, const char *site, const char *what,
			  const char *evidence)
{
	struct events *e = data;
	(void)index;
	if (e->n < 8 && strcmp(site, "tehran") == 0) {
		snprintf(e->what[e->n], sizeof e->what[0], "%s", what);
		snprintf(e->evidence[e->n], sizeof e->evidence[0], "%s", evidence);
		e->n++;
	}
}

static void test_site_lost_and_restored_are_reported_with_the_evidence(void **state)
{
	struct fx *f = *state;
	struct events e = {0};
	int64_t held;

	state_set_site_event(f->s, on_site_event, &e);
	register_client(f);
	healthy(f);
	assert_true(tehran_dies(f, 20000, &held) > 0);
	pbx_heartbeat(f, "tehran");
	tick(f);
	state_set_site_event(f->s, NULL, NULL);
	assert_int_equal(e.n, 3);
	assert_string_equal(e.what[0], "out of contact: its callers are held");
	assert_string_equal(e.what[1], "lost");
	assert_string_equal(e.what[2], "restored");
	assert_non_null(strstr(e.evidence[1], "nodes 8000 ms ago, pbx 8000 ms ago"));
	/* and they are events of the stream, SITE_LOST then SITE_RESTORED, with the evidence */
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__EventsRead er = CALLRAFT__EVENTS_READ__INIT;
	Callraft__EventKind kinds[2] = {CALLRAFT__EVENT_KIND__SITE_LOST,
					CALLRAFT__EVENT_KIND__SITE_RESTORED};
	er.from_index = 1;
	er.site = "tehran";
	er.kinds = kinds;
	er.n_kinds = 2;
	q.op_case = CALLRAFT__REQUEST__OP_EVENTS_READ;
	q.events_read = &er;
	Callraft__Reply *r = read_req(f, &q);
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_int_equal(r->n_events, 2);
	assert_int_equal(r->events[0]->kind, CALLRAFT__EVENT_KIND__SITE_LOST);
	assert_non_null(strstr(r->events[0]->reason, "last evidence: nodes 8000 ms ago"));
	assert_int_equal(r->events[1]->kind, CALLRAFT__EVENT_KIND__SITE_RESTORED);
	assert_non_null(strstr(r->events[1]->reason, "pbx 0 ms ago"));
	callraft__reply__free_unpacked(r, NULL);
}

static void test_redial_while_waiting_or_held_takes_the_place_at_any_site(void **state)
{
	struct fx *f = *state;
	struct cb b;
	int64_t held;

	healthy(f);
	OK(f, c_enqueue(&b, "t1", "tehran", 0, "+9821000001", "cust-1"));
	f->time_ms += 10;
	OK(f, c_enqueue(&b, "s1", "shiraz", 0, "+9871000001", ""));
	f->time_ms += 10;
	/* same caller, same queue, other site, while t1 waits: one call */
	OK(f, c_enqueue(&b, "t1-again", "shiraz", 0, "+9821000001", "cust-1"));
	ASSERT_QUEUE(f, "t1-again s1");
	Callraft__Reply *r;
	Callraft__Call *c1 = call_get(f, "t1", &r);
	assert_int_equal(c1->state, CALLRAFT__CALL_STATE__ENDED);
	assert_string_equal(c1->merged_into, "t1-again");
	callraft__reply__free_unpacked(r, NULL);
	assert_string_equal(call_get(f, "t1-again", &r)->merged_from, "t1");
	callraft__reply__free_unpacked(r, NULL);
	/* held: a caller of a site out of contact redials at shiraz */
	OK(f, c_enqueue(&b, "t2", "tehran", 0, "+9821000002", ""));
	assert_int_equal(tehran_dies(f, CALLRAFT_CONTACT_TIMEOUT_MS_DEFAULT, &held), -1);
	OK(f, c_enqueue(&b, "t2-again", "shiraz", 0, "+9821000002", ""));
	ASSERT_QUEUE(f, "t1-again s1 t2-again");
	/* a different queue is a different contact */
	c_enqueue(&b, "t2-support", "shiraz", 0, "+9821000002", "");
	b.op.enq.queue = "support";
	OK(f, &b.cmd);
	ASSERT_QUEUE(f, "t1-again s1 t2-again");
	/* the history says so */
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__CustomerHistory h = CALLRAFT__CUSTOMER_HISTORY__INIT;
	h.customer_id = "cust-1";
	q.op_case = CALLRAFT__REQUEST__OP_CUSTOMER_HISTORY;
	q.customer_history = &h;
	r = read_req(f, &q);
	bool redial = false;
	for (size_t i = 0; i < r->n_history; i++)
		redial = redial || (strcmp(r->history[i]->kind, "redial") == 0 &&
				    strcmp(r->history[i]->id, "t1-again") == 0);
	assert_true(redial);
	callraft__reply__free_unpacked(r, NULL);
}

static void test_redial_while_offered_withdraws_the_offer_and_takes_the_place(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;

	OK(f, c_login(&b, "t-agent", "tehran"));
	OK(f, c_enqueue(&b, "t1", "tehran", 0, "+9821000001", ""));
	f->time_ms += 10;
	OK(f, c_enqueue(&b, "t2", "tehran", 0, "+9821000002", ""));
	assert_string_equal(next(f, "t-agent", &term, &index, NULL), "t1");
	OK(f, c_enqueue(&b, "t1-again", "tehran", 0, "+9821000001", ""));
	ASSERT_QUEUE(f, "t1-again t2");
	assert_int_equal(agent_state(f, "t-agent"), CALLRAFT__AGENT_STATE__AVAILABLE);
	EXPECT(f, c_answer(&b, "t1", "t-agent", term, index), CALLRAFT__CODE__STALE_TOKEN);
	assert_string_equal(next(f, "t-agent", NULL, NULL, NULL), "t1-again");
}

static void test_site_heartbeat_and_contact_timeout_are_validated(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__SiteHeartbeat hb = CALLRAFT__SITE_HEARTBEAT__INIT;
	char msg[256];

	(void)f;
	b.cmd = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	b.cmd.op_case = CALLRAFT__COMMAND__OP_SITE_HEARTBEAT;
	b.cmd.site_heartbeat = &hb;
	b.cmd.client_id = 1;
	b.cmd.seq = 1;
	hb.site = "teh ran";
	assert_int_equal(state_validate(&b.cmd, msg, sizeof msg), CALLRAFT__CODE__INVALID_ARGUMENT);
	hb.site = "";
	assert_int_equal(state_validate(&b.cmd, msg, sizeof msg), CALLRAFT__CODE__INVALID_ARGUMENT);
	hb.site = "tehran";
	assert_int_equal(state_validate(&b.cmd, msg, sizeof msg), CALLRAFT__CODE__OK);
	c_site_conf(&b, "tehran", 0, 0, 5000, 8000);
	Callraft__Int64Value ct = CALLRAFT__INT64_VALUE__INIT;
	ct.value = CALLRAFT_CONTACT_TIMEOUT_MS_MIN - 1;
	b.op.sc.contact_timeout_ms = &ct;
	b.cmd.client_id = 1;
	b.cmd.seq = 1;
	assert_int_equal(state_validate(&b.cmd, msg, sizeof msg), CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_non_null(strstr(msg, "contact_timeout_ms"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    FX_TEST(test_offer_not_answered_in_time_goes_back_with_place_intact),
	    FX_TEST(test_reject_returns_call_with_place_intact),
	    FX_TEST(test_silent_agent_becomes_unreachable_and_its_offer_goes_back),
	    FX_TEST(test_agent_talking_keeps_the_call_when_presence_lapses),
	    FX_TEST(test_wrap_up_after_a_call_then_tick_makes_available),
	    FX_TEST(test_queue_configure_is_stored_and_shown_with_defaults),
	    FX_TEST(test_configure_fields_are_bounded_named_and_stored),
	    FX_TEST(test_top_tier_goes_first_and_aging_prevents_starvation),
	    FX_TEST(test_queue_position_follows_tiers_and_aging),
	    FX_TEST(test_queue_position_matches_a_full_sort),
	    FX_TEST(test_expected_wait_follows_the_answer_rate),
	    FX_TEST(test_top_tier_is_not_held_for_a_busy_known_agent),
	    FX_TEST(test_top_tier_skips_the_overflow_delay),
	    FX_TEST(test_top_tier_is_offered_at_once_to_a_ready_agent),
	    FX_TEST(test_next_free_agent_takes_the_top_tier_first),
	    FX_TEST_EMPTY(test_property_top_tier_never_waits_and_no_tier_starves),
	    FX_TEST(test_customer_record_gives_the_tier_unless_the_pbx_overrides),
	    FX_TEST(test_customer_set_is_validated_and_changes_nothing),
	    FX_TEST(test_customer_preferred_agent_holds_their_calls),
	    FX_TEST(test_customer_history_has_every_contact_and_outcome_in_order),
	    FX_TEST(test_known_agent_only_on_request_with_timeouts_and_link_expiry),
	    FX_TEST(test_known_agent_requests_are_validated),
	    FX_TEST(test_callback_retries_are_spaced_then_unreached_with_an_event),
	    FX_TEST(test_aging_is_capped_below_top_tier),
	    FX_TEST(test_overflow_to_other_site_at_exact_boundary),
	    FX_TEST(test_overflow_keeps_place_and_own_site_is_never_held_back),
	    FX_TEST(test_known_agent_first_then_anyone_after_timeout),
	    FX_TEST(test_known_agent_offline_does_not_hold_the_call),
	    FX_TEST(test_known_agent_takes_the_call_ahead_of_the_site_rule),
	    FX_TEST(test_in_queue_callback_keeps_place_and_dial_is_recorded_once),
	    FX_TEST(test_scheduled_callbacks_released_by_tick_in_scheduled_order),
	    FX_TEST_EMPTY(test_voicemail_released_at_site_opening_in_arrival_order),
	    FX_TEST_EMPTY(test_callback_retry_waits_for_the_sites_calling_hours),
	    FX_TEST_EMPTY(test_dial_outside_calling_hours_is_deferred_with_its_place),
	    FX_TEST_EMPTY(test_voicemail_releases_are_capped_per_hour),
	    FX_TEST(test_site_down_converts_callers_in_original_order_and_redial_keeps_place),
	    FX_TEST(test_redial_after_window_queues_anew),
	    FX_TEST(test_site_lost_when_every_agent_unreachable_long_enough),
	    FX_TEST(test_presence_does_not_lapse_for_the_clusters_own_silence),
	    FX_TEST(test_site_with_reachable_nodes_is_not_lost_when_agents_vanish),
	    FX_TEST(test_site_whose_nodes_return_in_time_is_not_lost),
	    FX_TEST(test_ticket_class_target_and_customer_history_in_order),
	    FX_TEST(test_stats_service_level_asa_and_abandons),
	    FX_TEST(test_stats_waiting_across_tiers_and_sites),
	    FX_TEST(test_tick_from_a_client_is_refused),
	    FX_TEST(test_dead_site_is_held_then_declared_lost_within_10s_by_default),
	    FX_TEST(test_dead_site_is_held_sooner_once_its_nodes_are_out_of_contact),
	    FX_TEST(test_cut_site_is_held_only_when_its_pbx_misses_a_beat),
	    FX_TEST(test_no_site_is_lost_at_the_first_tick_after_the_cluster_stalled),
	    FX_TEST(test_site_is_never_lost_while_its_pbx_beats_though_its_nodes_are_cut),
	    FX_TEST(test_site_is_not_lost_while_its_nodes_are_in_contact),
	    FX_TEST(test_held_caller_is_offered_to_nobody_and_keeps_place_until_back),
	    FX_TEST(test_held_callers_become_callbacks_in_original_order_when_lost),
	    FX_TEST(test_open_offer_of_a_caller_is_withdrawn_when_the_site_goes_out_of_contact),
	    FX_TEST(test_call_in_progress_at_a_lost_site_ends_site_lost_with_callback_in_place),
	    FX_TEST(test_queue_without_site_lost_callback_ends_the_call_without_one),
	    FX_TEST(test_presence_of_an_agent_on_a_call_lapses_unless_renewed),
	    FX_TEST(test_agents_only_site_whose_agent_on_a_call_lapses_is_lost_and_call_ended),
	    FX_TEST(test_lost_site_is_restored_when_evidence_returns_but_not_an_operator_down),
	    FX_TEST_EMPTY(test_site_lost_and_restored_are_reported_with_the_evidence),
	    FX_TEST(test_redial_while_waiting_or_held_takes_the_place_at_any_site),
	    FX_TEST(test_redial_while_offered_withdraws_the_offer_and_takes_the_place),
	    FX_TEST_EMPTY(test_site_heartbeat_and_contact_timeout_are_validated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
