/* calls.c: a call's life, from the PBX putting a caller in a queue to the call's end.
 *
 * States and transitions (the function performing each):
 *
 *                 op_call_next                op_call_answer             op_call_end
 *   (none) --> WAITING ----------> OFFERED ---------------> ANSWERED -------------> ENDED
 *   op_call_enqueue |                 |    \________________________________________^
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
 * Invariants:
 *   1. A call is in the queue index iff its state is WAITING, under exactly queue_key(call).
 *   2. A call in OFFERED or ANSWERED has agent_id set, and that agent is ON_CALL with call_id
 *      equal to the call's id; conversely an ON_CALL agent holds exactly that call.
 *   3. ENDED and ABANDONED are final. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

static void attach_call(struct apply_ctx *c, Callraft__Call *src)
{
	assert(c->call_src == NULL);
	c->call_src = src;
	c->call = *src;
	c->has_call = true;
}

static void attach_agent(struct apply_ctx *c, Callraft__Agent *src)
{
	assert(c->agent_src == NULL);
	c->agent_src = src;
	c->agent = *src;
	c->has_agent = true;
}

int op_call_enqueue(struct apply_ctx *c, const Callraft__CallEnqueue *op)
{
	Callraft__Call call = CALLRAFT__CALL__INIT, *old;
	uint8_t key[QUEUE_KEY_BYTES_MAX];
	size_t key_len;
	int rc = ctx_get_call(c, op->call_id, &old);

	if (rc < 0)
		return -1;
	if (rc == 0) {
		attach_call(c, old);
		snprintf(c->msg, sizeof c->msg, "already enqueued");
		return 0;
	}
	call.call_id = op->call_id;
	call.queue = op->queue;
	call.caller_number = op->caller_number;
	call.customer_id = op->customer_id;
	call.tier = op->tier;
	call.arrival_site = op->arrival_site;
	call.state = CALLRAFT__CALL_STATE__WAITING;
	call.enqueued_ms = c->now_ms;
	call.enqueue_seq = (c->index << CALLRAFT_BATCH_POSITION_BITS) | c->position;
	key_len = queue_key(key, &call);
	if (ctx_put_call(c, &call) != 0 ||
	    store_put_raw(c->s, c->txn, DB_QUEUE, key, key_len, call.call_id, strlen(call.call_id),
			  "queue entry", call.call_id, c->errmsg, c->errmsg_len) != 0)
		return -1;
	c->call = call;
	c->has_call = true;
	return 0;
}

/* The best waiting call among the heads of the agent's queues: one MDB_SET_RANGE per queue, then
 * the smallest key suffix ((255 - tier), enqueued_ms, enqueue_seq). Returns 0 with call_id filled,
 * 1 if every queue is empty, -1 on failure. */
static int best_head(struct apply_ctx *c, const Callraft__Agent *agent,
		     uint8_t best_key[QUEUE_KEY_BYTES_MAX], size_t *best_len,
		     char call_id[CALLRAFT_ID_BYTES_MAX + 1])
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(c->txn, c->s->dbi[DB_QUEUE], &cur);

	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "call next: agent '%s'", agent->agent_id);
	*best_len = 0;
	for (size_t i = 0; i < agent->n_skills; i++) {
		size_t qlen = strlen(agent->skills[i]);
		MDB_val k = {qlen + 1, agent->skills[i]}, v; /* "queue\0" */

		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc != 0) {
			mdb_cursor_close(cur);
			return store_err(c->errmsg, c->errmsg_len, rc, "seek queue '%s'",
					 agent->skills[i]);
		}
		if (k.mv_size != qlen + 1 + QUEUE_KEY_SUFFIX_BYTES ||
		    memcmp(k.mv_data, agent->skills[i], qlen + 1) != 0)
			continue; /* the next queue's entries: this one is empty */
		const uint8_t *suffix = (const uint8_t *)k.mv_data + qlen + 1;
		if (*best_len != 0 &&
		    memcmp(suffix, best_key + *best_len - QUEUE_KEY_SUFFIX_BYTES,
			   QUEUE_KEY_SUFFIX_BYTES) >= 0)
			continue;
		assert(v.mv_size >= 1 && v.mv_size <= CALLRAFT_ID_BYTES_MAX);
		memcpy(best_key, k.mv_data, k.mv_size);
		*best_len = k.mv_size;
		memcpy(call_id, v.mv_data, v.mv_size);
		call_id[v.mv_size] = '\0';
	}
	mdb_cursor_close(cur);
	return *best_len == 0 ? 1 : 0;
}

/* Loads the agent of a command; NOT_FOUND is a business outcome (returns 1). */
static int load_agent(struct apply_ctx *c, const char *agent_id)
{
	Callraft__Agent *a;
	int rc = ctx_get_agent(c, agent_id, &a);

	if (rc == 1)
		ctx_fail(c, CALLRAFT__CODE__NOT_FOUND, "agent '%s': not found", agent_id);
	else if (rc == 0)
		attach_agent(c, a);
	return rc;
}

int op_call_next(struct apply_ctx *c, const Callraft__CallNext *op)
{
	uint8_t key[QUEUE_KEY_BYTES_MAX];
	char call_id[CALLRAFT_ID_BYTES_MAX + 1];
	size_t key_len = 0;
	Callraft__Call *call;
	int rc = load_agent(c, op->agent_id);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (c->agent.state != CALLRAFT__AGENT_STATE__AVAILABLE) {
		ctx_fail(c, CALLRAFT__CODE__BAD_STATE, "agent '%s' is %s, not AVAILABLE", op->agent_id,
			 state_agent_state_name(c->agent.state));
		return 0;
	}
	rc = best_head(c, &c->agent, key, &key_len, call_id);
	if (rc != 0) {
		if (rc == 1)
			ctx_fail(c, CALLRAFT__CODE__QUEUE_EMPTY, "agent '%s': no waiting call in its %zu queue(s)",
				 op->agent_id, c->agent.n_skills);
		return rc < 0 ? -1 : 0;
	}
	rc = ctx_get_call(c, call_id, &call);
	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc < 0 ? MDB_CORRUPTED : MDB_NOTFOUND,
				 "call next: queued call '%s'", call_id);
	attach_call(c, call);
	assert(c->call.state == CALLRAFT__CALL_STATE__WAITING);
	if (store_del(c->s, c->txn, DB_QUEUE, key, key_len, "queue entry", call_id, c->errmsg,
		      c->errmsg_len) != 0)
		return -1;
	c->call.state = CALLRAFT__CALL_STATE__OFFERED;
	c->call.agent_id = c->agent.agent_id;
	c->call.offer_term = c->term;
	c->call.offer_index = (c->index << CALLRAFT_BATCH_POSITION_BITS) | c->position;
	c->call.offered_ms = c->now_ms;
	c->agent.state = CALLRAFT__AGENT_STATE__ON_CALL;
	c->agent.call_id = c->call.call_id;
	c->agent.reason = "";
	c->agent.since_ms = c->now_ms;
	return (ctx_put_call(c, &c->call) != 0 || ctx_put_agent(c, &c->agent) != 0) ? -1 : 0;
}

/* Loads the call of a command; NOT_FOUND is a business outcome (returns 1). */
static int load_call(struct apply_ctx *c, const char *call_id)
{
	Callraft__Call *call;
	int rc = ctx_get_call(c, call_id, &call);

	if (rc == 1)
		ctx_fail(c, CALLRAFT__CODE__NOT_FOUND, "call '%s': not found", call_id);
	else if (rc == 0)
		attach_call(c, call);
	return rc;
}

static bool held_by_other(struct apply_ctx *c, const char *agent_id)
{
	if (strcmp(c->call.agent_id, agent_id) == 0)
		return false;
	ctx_fail(c, CALLRAFT__CODE__BAD_STATE, "call '%s' is held by agent '%s', not '%s'",
		 c->call.call_id, c->call.agent_id, agent_id);
	return true;
}

int op_call_answer(struct apply_ctx *c, const Callraft__CallAnswer *op)
{
	Callraft__Call *call = &c->call;
	int rc = load_call(c, op->call_id);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (call->state != CALLRAFT__CALL_STATE__OFFERED &&
	    call->state != CALLRAFT__CALL_STATE__ANSWERED) {
		ctx_fail(c, CALLRAFT__CODE__BAD_STATE, "call '%s' is %s, not OFFERED", op->call_id,
			 state_call_state_name(call->state));
		return 0;
	}
	if (held_by_other(c, op->agent_id))
		return 0;
	if (call->offer_term != op->offer_term || call->offer_index != op->offer_index) {
		ctx_fail(c, CALLRAFT__CODE__STALE_TOKEN,
			 "call '%s': token %llu/%llu is not the current offer %llu/%llu", op->call_id,
			 (unsigned long long)op->offer_term, (unsigned long long)op->offer_index,
			 (unsigned long long)call->offer_term, (unsigned long long)call->offer_index);
		return 0;
	}
	if (call->state == CALLRAFT__CALL_STATE__ANSWERED) {
		snprintf(c->msg, sizeof c->msg, "already answered");
		return 0;
	}
	call->state = CALLRAFT__CALL_STATE__ANSWERED;
	call->answered_ms = c->now_ms;
	return ctx_put_call(c, call);
}

/* The agent holding the call becomes AVAILABLE again (invariant 2 says it exists and holds it). */
static int free_agent(struct apply_ctx *c)
{
	Callraft__Agent *a;
	int rc = ctx_get_agent(c, c->call.agent_id, &a);

	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc < 0 ? MDB_CORRUPTED : MDB_NOTFOUND,
				 "agent '%s' of call '%s'", c->call.agent_id, c->call.call_id);
	attach_agent(c, a);
	assert(c->agent.state == CALLRAFT__AGENT_STATE__ON_CALL);
	assert(strcmp(c->agent.call_id, c->call.call_id) == 0);
	c->agent.state = CALLRAFT__AGENT_STATE__AVAILABLE;
	c->agent.call_id = "";
	c->agent.since_ms = c->now_ms;
	return ctx_put_agent(c, &c->agent);
}

int op_call_end(struct apply_ctx *c, const Callraft__CallEnd *op)
{
	int rc = load_call(c, op->call_id);

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
	if (free_agent(c) != 0)
		return -1;
	c->call.state = CALLRAFT__CALL_STATE__ENDED;
	c->call.ended_ms = c->now_ms;
	return ctx_put_call(c, &c->call);
}

int op_call_abandon(struct apply_ctx *c, const Callraft__CallAbandon *op)
{
	uint8_t key[QUEUE_KEY_BYTES_MAX];
	int rc = load_call(c, op->call_id);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (c->call.state == CALLRAFT__CALL_STATE__WAITING) {
		size_t key_len = queue_key(key, &c->call);
		rc = store_del(c->s, c->txn, DB_QUEUE, key, key_len, "queue entry", op->call_id,
			       c->errmsg, c->errmsg_len);
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
	c->call.state = CALLRAFT__CALL_STATE__ABANDONED;
	c->call.ended_ms = c->now_ms;
	return ctx_put_call(c, &c->call);
}
