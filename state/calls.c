/* calls.c: a call's life, from the PBX putting a caller in a queue to the call's end.
 *
 * States and transitions (the function performing each):
 *
 *                 op_call_next                op_call_answer             op_call_end
 *   (none) --> WAITING ----------> OFFERED ---------------> ANSWERED -------------> ENDED
 *   op_call_enqueue |  ^ op_call_reject, Tick (offer expired, presence lapsed): back, place kept
 *                   |                 |    \________________________________________^
 *                   | op_call_abandon | op_call_abandon     op_call_end (offered, never answered)
 *                   v                 v
 *               ABANDONED         ABANDONED
 *
 * Business rules:
 *   - The PBX's call id is the idempotency key: enqueueing an existing call id changes nothing and
 *     answers OK with the existing call ("already enqueued"); a caller is never queued twice.
 *   - Queue order: higher tier first, then earlier enqueue time (FSM time), then enqueue_seq
 *     ((log index << 8) | position), which is unique and so breaks every tie.
 *   - `call next` offers an AVAILABLE agent the best head among the queues of its skills.
 *   - An offer carries a fencing token (offer_term, offer_index); only an answer with the current
 *     token is accepted (a stale desktop, e.g. one that saw an offer before a failover, cannot
 *     answer). Answering again with the same token is idempotent.
 *
 *   - Routing (routing.c): an offer expires after the queue's offer_timeout_ms and a declined offer
 *     (op_call_reject) goes back; both keep the caller's queue key, so their place. `call next`
 *     picks among tiers with aging, overflow by wait and the known agent (route_pick). Answering
 *     an expired or withdrawn offer is STALE_TOKEN. After a talk the agent wraps up, and becomes
 *     the customer's known agent (table customers).
 *   - A caller who asked for a callback (callbacks.c) is not abandoned by a hang-up.
 *
 * Invariants (state_check verifies them; check.c):
 *   1. A call is in the queue index iff its state is WAITING, under exactly queue_key(call).
 *   2. A call in OFFERED or ANSWERED has agent_id set, and that agent is ON_CALL with call_id
 *      equal to the call's id; conversely an ON_CALL agent holds exactly that call.
 *   3. ENDED and ABANDONED are final. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

int op_call_enqueue(struct apply_ctx *c, const Callraft__CallEnqueue *op)
{
	Callraft__Call *call = &c->call, *old;
	int rc = ctx_get_call(c, op->call_id, &old);

	if (rc < 0)
		return -1;
	if (rc == 0) {
		ctx_attach_call(c, old);
		snprintf(c->msg, sizeof c->msg, "already enqueued");
		return 0;
	}
	if ((rc = campaign_call_reserved(c, op->call_id)) != 0)
		return rc < 0 ? -1 : 0;
	call_init_waiting(c, call, op->call_id, op->queue, op->caller_number, op->customer_id,
			  op->arrival_site);
	c->has_call = true;
	call->tier = op->tier;
	if (customer_apply_tier(c, call, op->tier_override) != 0)
		return -1;
	rc = callbacks_redial(c, call);
	if (rc < 0 || (rc == 0 && customer_prefer(c, call, op) != 0))
		return -1;
	if (callbacks_number_put(c, call) != 0)
		return -1;
	if (rc == 1) /* the redialling caller took their old place: the same contact */
		return (ctx_put_call(c, call) != 0 || route_queue_put(c, call) != 0) ? -1 : 0;
	if (ctx_put_call(c, call) != 0 || route_enter_queue(c, call) != 0)
		return -1;
	return history_add(c, call->customer_id, "call", call->call_id);
}

/* Offers `call` (WAITING, already out of the queue index) to `agent` (AVAILABLE): the fencing token
 * is (term, (index << 8) | position), and the offer expires after the queue's offer_timeout_ms.
 * Used by `call next` (pull) and by assign.c (push). */
int route_offer(struct apply_ctx *c, Callraft__Call *call, Callraft__Agent *agent)
{
	Callraft__QueueConfig cfg;

	if (route_queue_config(c, call->queue, &cfg) != 0)
		return -1;
	call->state = CALLRAFT__CALL_STATE__OFFERED;
	call->agent_id = agent->agent_id;
	call->offer_term = c->term;
	call->offer_index = (c->index << CALLRAFT_BATCH_POSITION_BITS) | c->position;
	call->offered_ms = c->now_ms;
	call->offer_expires_ms = c->now_ms + cfg.offer_timeout_ms;
	call->dialing = false;
	call->offers++;
	if (call->callback && call->callback_number[0] == '\0')
		call->callback_number = call->caller_number;
	agent->state = CALLRAFT__AGENT_STATE__ON_CALL;
	agent->call_id = call->call_id;
	agent->reason = "";
	agent->since_ms = c->now_ms;
	if (timer_set(c, TIMER_OFFER, call->offer_expires_ms, call->call_id) != 0 ||
	    route_touch_agent(c, agent) != 0)
		return -1;
	return (ctx_put_call(c, call) != 0 || ctx_put_agent(c, agent) != 0) ? -1 : 0;
}

int op_call_next(struct apply_ctx *c, const Callraft__CallNext *op)
{
	uint8_t key[QUEUE_KEY_BYTES_MAX];
	char call_id[CALLRAFT_ID_BYTES_MAX + 1];
	size_t key_len = 0;
	Callraft__Call *call;
	int rc = ctx_load_agent(c, op->agent_id);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (c->agent.state != CALLRAFT__AGENT_STATE__AVAILABLE) {
		ctx_fail(c, CALLRAFT__CODE__BAD_STATE, "agent '%s' is %s, not AVAILABLE", op->agent_id,
			 state_agent_state_name(c->agent.state));
		return 0;
	}
	rc = route_pick(c, &c->agent, key, &key_len, call_id);
	if (rc != 0) {
		if (rc == 1)
			ctx_fail(c, CALLRAFT__CODE__QUEUE_EMPTY,
				 "agent '%s': no waiting call it may take in its %zu queue(s)",
				 op->agent_id, c->agent.n_skills);
		return rc < 0 ? -1 : 0;
	}
	rc = ctx_get_call(c, call_id, &call);
	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc < 0 ? MDB_CORRUPTED : MDB_NOTFOUND,
				 "call next: queued call '%s'", call_id);
	ctx_attach_call(c, call);
	assert(c->call.state == CALLRAFT__CALL_STATE__WAITING);
	{
		uint8_t again[QUEUE_KEY_BYTES_MAX];
		assert(queue_key(again, &c->call) == key_len && !memcmp(again, key, key_len));
		(void)again;
	}
	if (route_queue_del(c, &c->call) != 0)
		return -1;
	return route_offer(c, &c->call, &c->agent);
}

static bool held_by_other(struct apply_ctx *c, const char *agent_id)
{
	if (strcmp(c->call.agent_id, agent_id) == 0)
		return false;
	ctx_fail(c, CALLRAFT__CODE__BAD_STATE, "call '%s' is held by agent '%s', not '%s'",
		 c->call.call_id, c->call.agent_id, agent_id);
	return true;
}

/* The token check of answer and reject: false (with the outcome set) unless the request carries
 * the current offer's token, the offer has not expired and the agent is the one it was made to. */
static bool offer_current(struct apply_ctx *c, const char *agent_id, uint64_t term, uint64_t index)
{
	Callraft__Call *call = &c->call;
	bool held = call->state == CALLRAFT__CALL_STATE__OFFERED ||
		    call->state == CALLRAFT__CALL_STATE__ANSWERED;

	if (!held || call->offer_term != term || call->offer_index != index) {
		ctx_fail(c, CALLRAFT__CODE__STALE_TOKEN,
			 "call '%s': token %llu/%llu is not the current offer (call is %s, offer "
			 "%llu/%llu)",
			 call->call_id, (unsigned long long)term, (unsigned long long)index,
			 state_call_state_name(call->state), (unsigned long long)call->offer_term,
			 (unsigned long long)call->offer_index);
		return false;
	}
	if (held_by_other(c, agent_id))
		return false;
	if (call->state == CALLRAFT__CALL_STATE__OFFERED && !call->dialing &&
	    call->offer_expires_ms != 0 && c->now_ms >= call->offer_expires_ms) {
		ctx_fail(c, CALLRAFT__CODE__STALE_TOKEN, "call '%s': the offer expired %lld ms ago",
			 call->call_id, (long long)(c->now_ms - call->offer_expires_ms));
		return false;
	}
	return true;
}

int op_call_answer(struct apply_ctx *c, const Callraft__CallAnswer *op)
{
	Callraft__Call *call = &c->call;
	int rc = ctx_load_call(c, op->call_id);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (!offer_current(c, op->agent_id, op->offer_term, op->offer_index))
		return 0;
	if (call->state == CALLRAFT__CALL_STATE__ANSWERED) {
		snprintf(c->msg, sizeof c->msg, "already answered");
		return 0;
	}
	if (timer_del(c, TIMER_OFFER, call->offer_expires_ms, call->call_id) != 0)
		return -1;
	call->state = CALLRAFT__CALL_STATE__ANSWERED;
	call->answered_ms = c->now_ms;
	call->offer_expires_ms = 0;
	call->dialing = false;
	return (stats_count(c, call, STATS_ANSWER) != 0 || queue_wait_answered(c, call) != 0 ||
		history_add_detail(c, call->customer_id, "answered", call->call_id,
				   call->agent_id) != 0 ||
		ctx_put_call(c, call) != 0)
		   ? -1
		   : 0;
}

/* Loads the agent holding the call (invariant 2 says it exists and holds it). */
static int load_holder(struct apply_ctx *c)
{
	Callraft__Agent *a;
	int rc = ctx_get_agent(c, c->call.agent_id, &a);

	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc < 0 ? MDB_CORRUPTED : MDB_NOTFOUND,
				 "agent '%s' of call '%s'", c->call.agent_id, c->call.call_id);
	ctx_attach_agent(c, a);
	assert(c->agent.state == CALLRAFT__AGENT_STATE__ON_CALL);
	assert(strcmp(c->agent.call_id, c->call.call_id) == 0);
	return 0;
}

/* An agent declines an offer: the call goes back to the queue with its place intact. */
int op_call_reject(struct apply_ctx *c, const Callraft__CallReject *op)
{
	int rc = ctx_load_call(c, op->call_id);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (!offer_current(c, op->agent_id, op->offer_term, op->offer_index))
		return 0;
	if (c->call.state != CALLRAFT__CALL_STATE__OFFERED) {
		ctx_fail(c, CALLRAFT__CODE__BAD_STATE, "call '%s' is ANSWERED: end it instead",
			 op->call_id);
		return 0;
	}
	if (load_holder(c) != 0)
		return -1;
	if (c->call.callback && c->call.dialing) /* dialled, not reached: not the agent's doing */
		return (callbacks_not_reached(c, &c->call, op->dial_outcome) != 0 ||
			route_release_agent(c, &c->agent) != 0)
			   ? -1
			   : 0;
	c->agent.push = false; /* a declined offer makes the agent not ready (assign.c) */
	return (route_requeue(c, &c->call) != 0 || route_release_agent(c, &c->agent) != 0) ? -1 : 0;
}

/* The agent holding the call becomes AVAILABLE again (an offer that ended without a talk). */
static int free_agent(struct apply_ctx *c)
{
	if (load_holder(c) != 0 ||
	    timer_del(c, TIMER_OFFER, c->call.offer_expires_ms, c->call.call_id) != 0)
		return -1;
	c->call.offer_expires_ms = 0;
	return route_release_agent(c, &c->agent);
}

/* After a talk: WRAP_UP for the queue's wrap_up_ms (then Tick makes the agent AVAILABLE), and the
 * agent becomes the customer's known agent. */
static int after_talk(struct apply_ctx *c)
{
	Callraft__QueueConfig cfg;
	Callraft__Agent *a = &c->agent;

	if (load_holder(c) != 0 || route_queue_config(c, c->call.queue, &cfg) != 0)
		return -1;
	if (c->call.customer_id[0] != '\0' &&
	    customer_talked(c, c->call.customer_id, a->agent_id) != 0)
		return -1;
	if (cfg.wrap_up_ms <= 0)
		return route_release_agent(c, a);
	a->state = CALLRAFT__AGENT_STATE__WRAP_UP;
	a->call_id = "";
	a->since_ms = c->now_ms;
	a->wrap_until_ms = c->now_ms + cfg.wrap_up_ms;
	return (timer_set(c, TIMER_WRAP, a->wrap_until_ms, a->agent_id) != 0 ||
		ctx_put_agent(c, a) != 0)
		       ? -1
		       : 0;
}

int op_call_end(struct apply_ctx *c, const Callraft__CallEnd *op)
{
	int rc = ctx_load_call(c, op->call_id);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (c->call.state == CALLRAFT__CALL_STATE__ENDED) {
		ctx_fail(c, CALLRAFT__CODE__BAD_STATE, "call '%s': already ended", op->call_id);
		return 0;
	}
	if (c->call.state != CALLRAFT__CALL_STATE__ANSWERED &&
	    c->call.state != CALLRAFT__CALL_STATE__OFFERED) {
		ctx_fail(c, CALLRAFT__CODE__BAD_STATE, "call '%s' is %s, not ANSWERED", op->call_id,
			 state_call_state_name(c->call.state));
		return 0;
	}
	if (held_by_other(c, op->agent_id))
		return 0;
	rc = c->call.state == CALLRAFT__CALL_STATE__ANSWERED ? after_talk(c) : free_agent(c);
	if (rc != 0)
		return -1;
	c->call.state = CALLRAFT__CALL_STATE__ENDED;
	c->call.ended_ms = c->now_ms;
	c->call.dialing = false;
	if (history_add_detail(c, c->call.customer_id, "ended", c->call.call_id,
			       op->agent_id) != 0)
		return -1;
	return ctx_put_call(c, &c->call);
}

int op_call_abandon(struct apply_ctx *c, const Callraft__CallAbandon *op)
{
	int rc = ctx_load_call(c, op->call_id);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (c->call.callback && c->call.state == CALLRAFT__CALL_STATE__WAITING) {
		snprintf(c->msg, sizeof c->msg, "callback: the caller hung up and keeps the place");
		return 0;
	}
	if (c->call.state == CALLRAFT__CALL_STATE__WAITING) {
		rc = route_queue_del(c, &c->call);
		if (rc != 0) /* 1 would break invariant 1 */
			return rc < 0 ? -1
				      : store_err(c->errmsg, c->errmsg_len, MDB_NOTFOUND,
						  "abandon: queue entry of '%s'", op->call_id);
	} else if (c->call.state == CALLRAFT__CALL_STATE__OFFERED) {
		if (free_agent(c) != 0)
			return -1;
	} else {
		ctx_fail(c, CALLRAFT__CODE__BAD_STATE,
			 "call '%s' is %s: only a WAITING or OFFERED call can be abandoned", op->call_id,
			 state_call_state_name(c->call.state));
		return 0;
	}
	if (stats_count(c, &c->call, STATS_ABANDON) != 0)
		return -1;
	c->call.state = CALLRAFT__CALL_STATE__ABANDONED;
	c->call.ended_ms = c->now_ms;
	if (history_add(c, c->call.customer_id, "abandoned", c->call.call_id) != 0)
		return -1;
	return ctx_put_call(c, &c->call);
}
