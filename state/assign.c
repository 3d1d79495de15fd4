/* assign.c: offers pushed, not polled (issue #14). The FSM itself gives waiting calls to ready
 * agents, from committed entries only, so every replica makes the same offers at the same index.
 *
 * Ready. An agent is ready when it is AVAILABLE and its `push` flag is set (AgentSetState with
 * state AVAILABLE and push: `callraft agent ready`, one write). The flag survives the states an
 * agent passes through while working (ON_CALL, WRAP_UP, back to AVAILABLE; UNREACHABLE and back),
 * and is cleared by an offer that ended without an answer (CallReject, or the offer timing out:
 * the usual ACD rule "no answer -> not ready", which also keeps a declined call from coming straight
 * back to the agent who declined it), by another AgentSetState without push, and by logout.
 * Pull clients (`call next`) never set it and work as before; a ready agent may pull as well.
 *
 *   ready    skill '\0' be64(since_ms) agent_id -> ""   one row per skill of each ready agent,
 *            longest-idle first within a queue; kept by ctx_put_agent (ready.c), so
 *            every path that changes an agent keeps it right.
 *
 * The rule, run at the end of every command that succeeded, in its transaction (so the offer is
 * part of the same entry as its cause, and "within one commit" of it):
 *   1. every agent that became ready in the command (up to CALLRAFT_ASSIGN_AGENTS_MAX) gets
 *      route_pick's best call for it, if any;
 *   2. for every queue that got a waiting call (enqueue, requeue after a reject, expiry or site
 *      loss, a released callback), the ready agents with that skill, longest idle first (up to
 *      CALLRAFT_ASSIGN_AGENTS_MAX), each get route_pick's best call for them, until the queue has
 *      none waiting;
 *   3. a Tick (or a command whose changes overflowed the bounds above) sweeps up to
 *      CALLRAFT_ASSIGN_SWEEP_MAX ready agents in ready-table order while calls are waiting: the
 *      routing rules depend on time (overflow to other sites, aging, a known agent's reservation
 *      running out), so a call an agent could not take at arrival may become its best later.
 * route_pick and route_offer are the very functions `call next` uses: tiers, aging, overflow,
 * the known agent and site loss decide the same way, an offer carries the same fencing token and
 * expires after offer_timeout_ms back to the caller's place. Answer, reject and timeout work as for
 * pulled offers. Each pass looks at each agent at most once and an offer makes the agent ON_CALL
 * (no longer ready), so the rule always ends.
 *
 * Cost: with no call waiting, nothing is looked at (one mdb_stat per Tick); 300 ready idle agents
 * add no entry to the log: the leader's Ticks are the only entries. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

/* Gives `agent_id` its best waiting call if it is (still) ready. *offered says whether it did. */
static int assign_agent(struct apply_ctx *c, const char *agent_id, bool *offered)
{
	uint8_t key[QUEUE_KEY_BYTES_MAX];
	char call_id[CALLRAFT_ID_BYTES_MAX + 1];
	size_t key_len;
	Callraft__Agent *a;
	Callraft__Call *call;
	int rc = ctx_get_agent(c, agent_id, &a);

	*offered = false;
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (!ready_is(a)) {
		protobuf_c_message_free_unpacked(&a->base, NULL);
		return 0;
	}
	rc = route_pick(c, a, key, &key_len, call_id);
	if (rc == 0)
		rc = ctx_get_call(c, call_id, &call);
	if (rc == 0) {
		/* Unpacked records are changed through copies: their strings belong to the unpacker. */
		Callraft__Call call_copy = *call;
		Callraft__Agent agent_copy = *a;
		assert(call->state == CALLRAFT__CALL_STATE__WAITING);
		rc = (route_queue_del(c, &call_copy) != 0 ||
		      route_offer(c, &call_copy, &agent_copy) != 0)
			 ? -1
			 : 0;
		*offered = rc == 0;
		protobuf_c_message_free_unpacked(&call->base, NULL);
	} else if (rc == 1) {
		rc = 0; /* nothing it may take */
	}
	protobuf_c_message_free_unpacked(&a->base, NULL);
	return rc;
}

static int assign_queue(struct apply_ctx *c, const char *queue)
{
	char ids[CALLRAFT_ASSIGN_AGENTS_MAX][CALLRAFT_ID_BYTES_MAX + 1];
	int n = ready_collect(c, queue, ids, CALLRAFT_ASSIGN_AGENTS_MAX);

	for (int i = 0; i < n; i++) {
		uint64_t waiting;
		bool offered;
		int rc = waiting_count(c->s, c->txn, 'q', queue, &waiting);
		if (rc != 0)
			return store_err(c->errmsg, c->errmsg_len, rc, "assign: queue '%s'", queue);
		if (waiting == 0)
			return 0;
		if (assign_agent(c, ids[i], &offered) != 0)
			return -1;
	}
	return n < 0 ? -1 : 0;
}

static int assign_sweep(struct apply_ctx *c)
{
	char ids[CALLRAFT_ASSIGN_SWEEP_MAX][CALLRAFT_ID_BYTES_MAX + 1];
	MDB_stat queued, ready;
	int rc, n;

	if ((rc = mdb_stat(c->txn, c->s->dbi[DB_QUEUE], &queued)) != 0 ||
	    (rc = mdb_stat(c->txn, c->s->dbi[DB_READY], &ready)) != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "assign: sweep");
	if (queued.ms_entries == 0 || ready.ms_entries == 0)
		return 0;
	n = ready_collect(c, "", ids, CALLRAFT_ASSIGN_SWEEP_MAX);
	for (int i = 0; i < n; i++) {
		bool offered;
		if (assign_agent(c, ids[i], &offered) != 0)
			return -1;
	}
	return n < 0 ? -1 : 0;
}

int assign_after_command(struct apply_ctx *c)
{
	int rc = 0;

	c->assigning = true;
	for (unsigned i = 0; i < c->n_assign_agents && rc == 0; i++) {
		bool offered;
		rc = assign_agent(c, c->assign_agents[i], &offered);
	}
	for (unsigned i = 0; i < c->n_assign_queues && rc == 0; i++)
		rc = assign_queue(c, c->assign_queues[i]);
	if (rc == 0 && c->assign_sweep)
		rc = assign_sweep(c);
	c->assigning = false;
	return rc;
}
