/* test_sim_election.c: how raft elects a new leader after the old one dies, on raft_fixture
 * (virtual time, the library's own election code), for the 2+2+1 layout of five voters. Checks the
 * behaviour deploy/raft-patches/raft-0.22.1-election-speed.patch gives (issue 12):
 *
 *   site loss   the leader's whole site (two voters) dies; the three survivors must all vote for
 *               one of them. The first survivor whose election timer fires wins, in one election
 *               (term + 1), about one election timeout after the death. Unpatched raft 0.22.1
 *               refuses that first candidate at the two others (they still "have" the dead
 *               leader until their own, later timers fire), so a later node wins, later.
 *   leader loss the leader alone dies: again the first timer wins, in one election.
 *   stickiness  a follower that cannot hear a live leader (a one-link partition) campaigns, but
 *               the others, which hear the leader, refuse it: the leader and its term stay.
 *   close race  two survivors' timers fire while the first one's election is in flight: the
 *               second grants the first's pre-vote and waits, instead of splitting the vote.
 *
 * The FSM is a counter: what is under test is raft's election, not the state machine. Timing
 * here is virtual, so the bounds are exact and the test cannot flake on a loaded machine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <raft.h>
#include <raft/fixture.h>

#define N 5
#define ELECTION_MS 1000 /* the fixture's default election timeout */
#define HEARTBEAT_MS 100
#define NETWORK_MS 15 /* the fixture's default one-way latency */

struct counter_fsm {
	struct raft_fsm fsm;
	unsigned applied;
};

static int counter_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
	struct counter_fsm *c = fsm->data;
	(void)buf;
	c->applied++;
	*result = NULL;
	return 0;
}

static int counter_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
	(void)fsm;
	(void)bufs;
	(void)n;
	return RAFT_BUSY; /* never reached: the threshold is far above what the cases append */
}

static int counter_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	(void)fsm;
	raft_free(buf->base);
	return 0;
}

struct cluster {
	struct raft_fixture f;
	struct counter_fsm fsms[N];
};

/* Five voters, pre-vote on, node i's randomized election timeout `timeouts[i]`; node 0 leads. */
static void cluster_start(struct cluster *c, const unsigned timeouts[N])
{
	struct raft_configuration conf;

	memset(c, 0, sizeof *c);
	assert_int_equal(raft_fixture_initialize(&c->f), 0);
	for (unsigned i = 0; i < N; i++) {
		c->fsms[i].fsm.version = 1;
		c->fsms[i].fsm.data = &c->fsms[i];
		c->fsms[i].fsm.apply = counter_apply;
		c->fsms[i].fsm.snapshot = counter_snapshot;
		c->fsms[i].fsm.restore = counter_restore;
		assert_int_equal(raft_fixture_grow(&c->f, &c->fsms[i].fsm), 0);
		struct raft *r = raft_fixture_get(&c->f, i);
		if (getenv("CALLRAFT_SIM_TRACE") == NULL) /* raft's own trace, on request */
			r->tracer = NULL;
		raft_set_pre_vote(r, true);
		raft_set_election_timeout(r, ELECTION_MS);
		raft_set_heartbeat_timeout(r, HEARTBEAT_MS);
		raft_set_snapshot_threshold(r, 1u << 20);
	}
	assert_int_equal(raft_fixture_configuration(&c->f, N, &conf), 0);
	assert_int_equal(raft_fixture_bootstrap(&c->f, &conf), 0);
	raft_configuration_close(&conf);
	/* The fixture's "random" timeout is the value set here, drawn whenever a node becomes
	 * follower or candidate; node 0's is the shortest, so it wins the first election. */
	for (unsigned i = 0; i < N; i++)
		raft_fixture_set_randomized_election_timeout(&c->f, i, timeouts[i]);
	assert_int_equal(raft_fixture_start(&c->f), 0);
	assert_true(raft_fixture_step_until_has_leader(&c->f, 10 * ELECTION_MS));
	assert_int_equal(raft_fixture_leader_index(&c->f), 0);
	/* Some heartbeats, so every follower's timer runs from a recent AppendEntries. */
	raft_fixture_step_until_elapsed(&c->f, 5 * HEARTBEAT_MS);
	assert_int_equal(raft_fixture_leader_index(&c->f), 0);
}

static raft_term term_of(struct cluster *c, unsigned i)
{
	return raft_fixture_get(&c->f, i)->current_term;
}

/* Kills `dead` (a mask of nodes, the leader among them) and returns how long, in virtual ms, the
 * survivors took to elect a leader; *leader is its index. */
static raft_time kill_and_elect(struct cluster *c, unsigned dead, unsigned *leader)
{
	raft_time t0 = raft_fixture_time(&c->f);
	for (unsigned i = 0; i < N; i++)
		if (dead & (1u << i))
			raft_fixture_kill(&c->f, i);
	assert_true(raft_fixture_step_until_has_no_leader(&c->f, 10 * ELECTION_MS));
	assert_true(raft_fixture_step_until_has_leader(&c->f, 20 * ELECTION_MS));
	*leader = raft_fixture_leader_index(&c->f);
	assert_true(*leader < N && !(dead & (1u << *leader)));
	return raft_fixture_time(&c->f) - t0;
}

static void site_loss_first_timer_wins_in_one_election(void **state)
{
	static const unsigned timeouts[N] = {1000, 1050, 1200, 1500, 1800};
	struct cluster *c = test_malloc(sizeof *c);
	unsigned leader;
	(void)state;

	cluster_start(c, timeouts);
	raft_term before = term_of(c, 2);
	raft_time took = kill_and_elect(c, 0x3 /* nodes 0 and 1: the leader's site */, &leader);
	assert_int_equal(leader, 2);
	assert_int_equal(term_of(c, 2), before + 1);
	/* Node 2's timer (1200 ms after the last heartbeat), a pre-vote and a vote round trip. */
	assert_true(took <= 1200 + 4 * NETWORK_MS + 2 * HEARTBEAT_MS);
	raft_fixture_close(&c->f);
	test_free(c);
}

static void leader_loss_first_timer_wins_in_one_election(void **state)
{
	static const unsigned timeouts[N] = {1000, 1700, 1900, 1300, 1600};
	struct cluster *c = test_malloc(sizeof *c);
	unsigned leader;
	(void)state;

	cluster_start(c, timeouts);
	raft_term before = term_of(c, 3);
	raft_time took = kill_and_elect(c, 0x1, &leader);
	assert_int_equal(leader, 3);
	assert_int_equal(term_of(c, 3), before + 1);
	assert_true(took <= 1300 + 4 * NETWORK_MS + 2 * HEARTBEAT_MS);
	raft_fixture_close(&c->f);
	test_free(c);
}

static void live_leader_keeps_its_followers(void **state)
{
	static const unsigned timeouts[N] = {1000, 1100, 1200, 1300, 1400};
	struct cluster *c = test_malloc(sizeof *c);
	(void)state;

	cluster_start(c, timeouts);
	raft_term before = term_of(c, 0);
	/* Node 4 stops hearing the leader (and the leader it); everyone else is connected. */
	raft_fixture_saturate(&c->f, 0, 4);
	raft_fixture_saturate(&c->f, 4, 0);
	raft_fixture_step_until_elapsed(&c->f, 10 * ELECTION_MS);
	assert_int_equal(raft_fixture_leader_index(&c->f), 0);
	assert_int_equal(term_of(c, 0), before);
	for (unsigned i = 1; i < 4; i++)
		assert_int_equal(term_of(c, i), before);
	raft_fixture_close(&c->f);
	test_free(c);
}

static void close_timers_do_not_split_the_vote(void **state)
{
	/* Nodes 2 and 3 fire one tick (100 ms) apart over links of 60 ms one way: node 2's pre-vote
	 * reaches node 3 before node 3's timer fires, its vote only after. */
	static const unsigned timeouts[N] = {1000, 1050, 1200, 1300, 1800};
	struct cluster *c = test_malloc(sizeof *c);
	unsigned leader;
	(void)state;

	cluster_start(c, timeouts);
	for (unsigned i = 0; i < N; i++)
		raft_fixture_set_network_latency(&c->f, i, 60);
	raft_term before = term_of(c, 2);
	(void)kill_and_elect(c, 0x3, &leader);
	assert_int_equal(leader, 2);
	assert_int_equal(term_of(c, 2), before + 1);
	assert_int_equal(term_of(c, 3), before + 1);
	raft_fixture_close(&c->f);
	test_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(site_loss_first_timer_wins_in_one_election),
		cmocka_unit_test(leader_loss_first_timer_wins_in_one_election),
		cmocka_unit_test(live_leader_keeps_its_followers),
		cmocka_unit_test(close_timers_do_not_split_the_vote),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
