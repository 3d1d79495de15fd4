/* test_tick.c: the leader's Tick and its site report (node/tick.c), driven in a loop with fake
 * time: which sites a Tick reports reachable as members' match indexes move, stall, catch up, or
 * a new term begins. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "tick.h"

#define ELECTION_MS 1000
#define TIMEOUT_MS (CALLRAFT_CONTACT_TIMEOUT_FACTOR * ELECTION_MS)

/* Builds a Tick and returns whether `site` is reported reachable: 1 yes, 0 no, -1 absent. */
static int site_state(struct site_contacts *t, const struct tick_member *m, unsigned n,
		      uint64_t last_index, uint64_t now_ms, const char *site)
{
	Callraft__Command *cmd = tick_command_new(t, m, n, last_index, now_ms, TIMEOUT_MS);
	int found = -1;

	assert_non_null(cmd);
	assert_int_equal(cmd->op_case, CALLRAFT__COMMAND__OP_TICK);
	for (size_t i = 0; i < cmd->tick->n_sites; i++)
		if (strcmp(cmd->tick->sites[i]->site, site) == 0)
			found = cmd->tick->sites[i]->reachable;
	site_contacts_verify(t, now_ms);
	callraft__command__free_unpacked(cmd, NULL);
	return found;
}

static struct tick_member member(uint64_t id, const char *site, uint64_t match)
{
	return (struct tick_member){.id = id, .site = site, .replicating = true,
				    .match_known = true, .match = match};
}

static void sites_listed_once_in_order_of_first_member(void **state)
{
	(void)state;
	struct site_contacts t = {0};
	struct tick_member m[4] = {member(1, "tehran", 10), member(2, "shiraz", 10),
				   member(3, "tehran", 10), member(4, "kish", 10)};
	m[0].self = true;
	Callraft__Command *cmd = tick_command_new(&t, m, 4, 10, 1000, TIMEOUT_MS);

	assert_non_null(cmd);
	assert_int_equal(cmd->tick->n_sites, 3);
	assert_string_equal(cmd->tick->sites[0]->site, "tehran");
	assert_string_equal(cmd->tick->sites[1]->site, "shiraz");
	assert_string_equal(cmd->tick->sites[2]->site, "kish");
	for (size_t i = 0; i < 3; i++)
		assert_true(cmd->tick->sites[i]->reachable);
	callraft__command__free_unpacked(cmd, NULL);
}

static void moving_follower_stays_in_contact(void **state)
{
	(void)state;
	struct site_contacts t = {0};
	struct tick_member m[2] = {member(1, "tehran", 0), member(2, "shiraz", 0)};
	m[0].self = true;
	/* 60 s of Ticks every 500 ms; the follower's match index trails the leader's by one. */
	for (uint64_t now = 0, last = 1; now < 60000; now += CALLRAFT_TICK_INTERVAL_MS, last++) {
		m[1].match = last - 1;
		assert_int_equal(site_state(&t, m, 2, last, now, "shiraz"), 1);
	}
}

static void stalled_follower_is_lost_after_the_contact_timeout(void **state)
{
	(void)state;
	struct site_contacts t = {0};
	struct tick_member m[2] = {member(1, "tehran", 0), member(2, "shiraz", 5)};
	uint64_t moved = 0;
	m[0].self = true;
	/* The follower replicates until index 5, then its link is cut while the leader goes on. */
	for (uint64_t now = 0, last = 6; now <= 10000; now += 100, last++) {
		int reachable = site_state(&t, m, 2, last, now, "shiraz");
		if (now == 0)
			moved = now;
		assert_int_equal(reachable, now - moved < TIMEOUT_MS ? 1 : 0);
		assert_int_equal(site_state(&t, m, 2, last, now, "tehran"), 1); /* the leader's own */
	}
}

static void caught_up_follower_stays_in_contact_without_new_entries(void **state)
{
	(void)state;
	struct site_contacts t = {0};
	struct tick_member m[2] = {member(1, "tehran", 40), member(2, "shiraz", 40)};
	m[0].self = true;
	for (uint64_t now = 0; now < 20000; now += CALLRAFT_TICK_INTERVAL_MS)
		assert_int_equal(site_state(&t, m, 2, 40, now, "shiraz"), 1);
}

static void site_is_reachable_while_any_member_is(void **state)
{
	(void)state;
	struct site_contacts t = {0};
	struct tick_member m[3] = {member(1, "tehran", 0), member(2, "shiraz", 3),
				   member(3, "shiraz", 3)};
	uint64_t last = 4;
	m[0].self = true;
	for (uint64_t now = 0; now <= 2 * TIMEOUT_MS; now += CALLRAFT_TICK_INTERVAL_MS, last++) {
		m[2].match = last - 1; /* node 3 keeps up, node 2 is stalled */
		assert_int_equal(site_state(&t, m, 3, last, now, "shiraz"), 1);
	}
	/* Now node 3 stalls too: the site goes once neither moved for the timeout. */
	uint64_t stalled_at = 2 * TIMEOUT_MS + CALLRAFT_TICK_INTERVAL_MS;
	for (uint64_t now = stalled_at; now <= stalled_at + 2 * TIMEOUT_MS;
	     now += CALLRAFT_TICK_INTERVAL_MS, last++) {
		int expect = now - (stalled_at - CALLRAFT_TICK_INTERVAL_MS) < TIMEOUT_MS;
		assert_int_equal(site_state(&t, m, 3, last, now, "shiraz"), expect);
	}
}

static void spares_unrecorded_and_unknown_members(void **state)
{
	(void)state;
	struct site_contacts t = {0};
	struct tick_member m[4] = {member(1, "tehran", 9), member(2, "spare-city", 9),
				   member(3, NULL, 9), member(4, "kish", 9)};
	m[0].self = true;
	m[1].replicating = false;  /* a spare holds no data: not reported */
	m[3].match_known = false;  /* the leader does not know its progress: not in contact */
	assert_int_equal(site_state(&t, m, 4, 9, 0, "spare-city"), -1);
	assert_int_equal(site_state(&t, m, 4, 9, 0, "kish"), 0);
	Callraft__Command *cmd = tick_command_new(&t, m, 4, 9, 0, TIMEOUT_MS);
	assert_int_equal(cmd->tick->n_sites, 2); /* tehran, kish: no site for the unrecorded one */
	callraft__command__free_unpacked(cmd, NULL);
}

static void new_term_gives_the_benefit_of_the_doubt_again(void **state)
{
	(void)state;
	struct site_contacts t = {0};
	struct tick_member m[2] = {member(1, "tehran", 0), member(2, "shiraz", 2)};
	m[0].self = true;
	site_contacts_term(&t, 3);
	for (uint64_t now = 0; now <= TIMEOUT_MS; now += CALLRAFT_TICK_INTERVAL_MS)
		site_state(&t, m, 2, 100, now, "shiraz");
	assert_int_equal(site_state(&t, m, 2, 100, TIMEOUT_MS, "shiraz"), 0);
	site_contacts_term(&t, 3); /* same term: remembered */
	assert_int_equal(site_state(&t, m, 2, 100, TIMEOUT_MS + 1, "shiraz"), 0);
	site_contacts_term(&t, 4); /* a new leadership: contact is measured afresh */
	assert_int_equal(t.n, 0);
	assert_int_equal(site_state(&t, m, 2, 100, TIMEOUT_MS + 2, "shiraz"), 1);
}

/* The silence a Tick reports for `site` (-2 if absent). */
static int64_t site_silent(struct site_contacts *t, const struct tick_member *m, unsigned n,
			   uint64_t last_index, uint64_t now_ms, const char *site)
{
	Callraft__Command *cmd = tick_command_new(t, m, n, last_index, now_ms, TIMEOUT_MS);
	int64_t silent = -2;

	assert_non_null(cmd);
	for (size_t i = 0; i < cmd->tick->n_sites; i++)
		if (strcmp(cmd->tick->sites[i]->site, site) == 0)
			silent = cmd->tick->sites[i]->silent_ms;
	callraft__command__free_unpacked(cmd, NULL);
	return silent;
}

static void silence_is_reported_only_for_members_seen_in_this_term(void **state)
{
	(void)state;
	struct site_contacts t = {0};
	struct tick_member m[3] = {member(1, "tehran", 0), member(2, "shiraz", 7),
				   member(3, "shiraz", 7)};
	m[0].self = true;
	site_contacts_term(&t, 5);
	/* A new leader: shiraz's members are behind and have not moved yet. Reachable by the
	 * benefit of the doubt, but their silence is unknown: the leader does not vouch for the
	 * time before it. */
	assert_int_equal(site_state(&t, m, 3, 9, 0, "shiraz"), 1);
	assert_int_equal(site_silent(&t, m, 3, 9, 0, "shiraz"), -1);
	assert_int_equal(site_silent(&t, m, 3, 9, 0, "tehran"), 0); /* the leader itself */
	/* Node 3 moves at 500 ms, then stalls: the site's silence grows from there. */
	m[2].match = 8;
	assert_int_equal(site_silent(&t, m, 3, 9, 500, "shiraz"), 0);
	assert_int_equal(site_silent(&t, m, 3, 9, 2500, "shiraz"), 2000);
	/* Node 2 catches up at 3000 ms: the least silence of the site's members counts. */
	m[1].match = 9;
	assert_int_equal(site_silent(&t, m, 3, 9, 3000, "shiraz"), 0);
}

static void full_contact_table_loses_no_site(void **state)
{
	(void)state;
	struct site_contacts t = {0};
	int64_t silent;
	for (uint64_t id = 1; id <= CALLRAFT_MEMBERS_MAX; id++)
		assert_true(site_contacts_check(&t, id, 1, 100, 0, TIMEOUT_MS, &silent));
	assert_int_equal(t.n, CALLRAFT_MEMBERS_MAX);
	/* One more member than the table holds: reported in contact rather than tracked. */
	assert_true(site_contacts_check(&t, 999, 1, 100, 10 * TIMEOUT_MS, TIMEOUT_MS, &silent));
	assert_false(site_contacts_check(&t, 1, 1, 100, 10 * TIMEOUT_MS, TIMEOUT_MS, &silent));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sites_listed_once_in_order_of_first_member),
		cmocka_unit_test(moving_follower_stays_in_contact),
		cmocka_unit_test(stalled_follower_is_lost_after_the_contact_timeout),
		cmocka_unit_test(caught_up_follower_stays_in_contact_without_new_entries),
		cmocka_unit_test(site_is_reachable_while_any_member_is),
		cmocka_unit_test(spares_unrecorded_and_unknown_members),
		cmocka_unit_test(new_term_gives_the_benefit_of_the_doubt_again),
		cmocka_unit_test(full_contact_table_loses_no_site),
		cmocka_unit_test(silence_is_reported_only_for_members_seen_in_this_term),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
