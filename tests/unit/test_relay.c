/* test_relay.c: the choice of a relay member (node/relay.c, rule in relay.h): a third site first
 * (the witness when the two call-center cities are cut apart), then the leader's site, then this
 * node's own; never this node, the leader or a member without a client address; avoided members
 * only when nothing else is left, the one whose avoidance ends first; the avoidance table's
 * bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "relay.h"

/* The 2+2+1 layout of deploy/configs: tehran 1, 2; shiraz 3, 4; witness 5. */
static const struct relay_member LAYOUT[] = {
	{1, "tehran", true}, {2, "tehran", true}, {3, "shiraz", true},
	{4, "shiraz", true}, {5, "witness", true},
};
#define N_LAYOUT (sizeof LAYOUT / sizeof LAYOUT[0])

static void cut_between_cities_relays_through_the_witness(void **state)
{
	struct relay_avoid a = {0};
	(void)state;
	/* Shiraz node 3, the leader 1 in tehran: the witness, not node 2 across the same cut. */
	assert_int_equal(relay_choose(LAYOUT, N_LAYOUT, 3, "shiraz", 1, "tehran", &a, 1000), 5);
	/* And the other way round. */
	assert_int_equal(relay_choose(LAYOUT, N_LAYOUT, 2, "tehran", 4, "shiraz", &a, 1000), 5);
}

static void no_leader_known_uses_the_last_leaders_site(void **state)
{
	struct relay_avoid a = {0};
	(void)state;
	/* Raft knows no leader (the site lost it), fwd remembers 1: its site ranks second. */
	assert_int_equal(relay_choose(LAYOUT, N_LAYOUT, 4, "shiraz", 1, "tehran", &a, 0), 5);
	/* Nothing remembered either: any other site before our own, lowest id first. */
	assert_int_equal(relay_choose(LAYOUT, N_LAYOUT, 4, "shiraz", 0, NULL, &a, 0), 1);
}

static void then_the_leaders_site_then_our_own(void **state)
{
	struct relay_avoid a = {0};
	(void)state;
	relay_avoid_add(&a, 5, 3000); /* the witness is down */
	assert_int_equal(relay_choose(LAYOUT, N_LAYOUT, 3, "shiraz", 1, "tehran", &a, 1000), 2);
	relay_avoid_add(&a, 2, 3000);
	assert_int_equal(relay_choose(LAYOUT, N_LAYOUT, 3, "shiraz", 1, "tehran", &a, 1000), 4);
	/* Avoidance ends: the witness again. */
	assert_int_equal(relay_choose(LAYOUT, N_LAYOUT, 3, "shiraz", 1, "tehran", &a, 3000), 5);
}

static void every_candidate_avoided_takes_the_one_ending_first(void **state)
{
	struct relay_avoid a = {0};
	(void)state;
	relay_avoid_add(&a, 5, 5000);
	relay_avoid_add(&a, 2, 4000);
	relay_avoid_add(&a, 4, 4500);
	assert_int_equal(relay_choose(LAYOUT, N_LAYOUT, 3, "shiraz", 1, "tehran", &a, 1000), 2);
}

static void never_self_leader_or_a_member_without_address(void **state)
{
	struct relay_avoid a = {0};
	const struct relay_member m[] = {{1, "tehran", true}, {3, "shiraz", true}, {5, "witness", false}};
	const struct relay_member only[] = {{3, "shiraz", true}, {1, "tehran", true}};
	(void)state;
	assert_int_equal(relay_choose(m, 3, 3, "shiraz", 1, "tehran", &a, 0), 0);
	assert_int_equal(relay_choose(only, 2, 3, "shiraz", 1, "tehran", &a, 0), 0);
	assert_int_equal(relay_choose(NULL, 0, 3, "shiraz", 1, "tehran", &a, 0), 0);
	/* A member with no site recorded ranks as a third site. */
	const struct relay_member nosite[] = {{2, "tehran", true}, {7, "", true}};
	assert_int_equal(relay_choose(nosite, 2, 3, "shiraz", 1, "tehran", &a, 0), 7);
}

static void avoid_table_extends_clears_and_stays_bounded(void **state)
{
	struct relay_avoid a = {0};
	(void)state;
	relay_avoid_add(&a, 9, 100);
	relay_avoid_add(&a, 9, 50); /* never shortened */
	assert_true(relay_avoided(&a, 9, 99));
	assert_false(relay_avoided(&a, 9, 100));
	relay_avoid_clear(&a, 9);
	assert_false(relay_avoided(&a, 9, 0));
	assert_int_equal(a.n, 0);
	relay_avoid_clear(&a, 9); /* absent: nothing happens */
	for (uint64_t id = 1; id <= CALLRAFT_MEMBERS_MAX + 3; id++)
		relay_avoid_add(&a, id, 1000 + id);
	relay_avoid_check(&a);
	assert_int_equal(a.n, CALLRAFT_MEMBERS_MAX);
	/* The newest avoidances are kept; the ones ending first made room. */
	assert_true(relay_avoided(&a, CALLRAFT_MEMBERS_MAX + 3, 0));
	assert_false(relay_avoided(&a, 1, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cut_between_cities_relays_through_the_witness),
		cmocka_unit_test(no_leader_known_uses_the_last_leaders_site),
		cmocka_unit_test(then_the_leaders_site_then_our_own),
		cmocka_unit_test(every_candidate_avoided_takes_the_one_ending_first),
		cmocka_unit_test(never_self_leader_or_a_member_without_address),
		cmocka_unit_test(avoid_table_extends_clears_and_stays_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
