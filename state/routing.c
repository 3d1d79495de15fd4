/* routing.c: the routing rules of issue #3, decided inside the FSM from FSM time only.
 *
 * The rules span four files: this one (timers, offers and presence, the choice of `call next`),
 * queue_config.c (queue and site settings), queue_index.c (the order of waiting callers and the
 * counts kept with it) and tick.c (op_tick and the fire_* functions that apply a due timer).
 *
 * Time. Every rule reads c->now_ms (max(stored, leader-stamped)); nothing here reads a clock. A
 * rule that must happen *at* a time (an offer expiring, an agent's presence lapsing, wrap-up
 * ending, a scheduled callback entering the queue, a site being declared lost) is a row of the
 * `timers` table, key be64(due_ms) kind id. The leader appends a Tick command every
 * CALLRAFT_TICK_INTERVAL_MS; op_tick fires every timer due at or before now, oldest first, at most
 * CALLRAFT_TICK_TIMERS_MAX per Tick. Every replica applies the same Ticks at the same log
 * positions, so every replica takes the same decisions, and a new leader simply goes on ticking: no
 * rule depends on which node leads. A timer is checked against its record when it fires (a stale
 * timer, e.g. an offer that was answered meanwhile, does nothing), so deleting timers is an
 * optimisation.
 *
 * Offers (the state diagram of calls.c, plus):
 *
 *   WAITING --op_call_next--> OFFERED --op_call_answer (token, before expiry)--> ANSWERED
 *      ^                         |
 *      +--- op_call_reject ------+  (the agent declines)
 *      +--- fire_offer ----------+  (not answered within offer_timeout_ms)
 *      +--- fire_presence -------+  (the agent's presence lapsed)
 *
 *   route_requeue puts the call back under its original key (tier, enqueued_ms, enqueue_seq): the
 *   caller keeps their place. An answer carrying a token that is not the current offer's, or
 *   arriving after offer_expires_ms, is STALE_TOKEN.
 *
 * Agent presence: every login, heartbeat, state change and `call next` renews a lease of the
 * site's presence_timeout_ms (TIMER_PRESENCE). The lease lapses in every state: an offered call
 * goes back to the queue and the agent becomes UNREACHABLE; an agent on a call in progress keeps
 * it (the phone call lives in the PBX) while its site's PBX heartbeats renew the lease, else the
 * lease stays lapsed and counts as gone; at a lost site the call is ended "site-lost" with a
 * callback (sitewatch.c). A heartbeat brings an UNREACHABLE agent back to AVAILABLE.
 *
 * Held callers: a caller whose arrival site is out of contact (sitewatch.c) is eligible for no
 * agent until the site is back or lost.
 *
 * Wrap-up: after CallEnd of an answered call the agent is WRAP_UP for the queue's wrap_up_ms
 * (TIMER_WRAP), then AVAILABLE; wrap_up_ms 0 means straight to AVAILABLE.
 *
 * The choice of `call next` (route_pick), for an agent with skills Q1..Qn:
 *   eligible(call)  a caller whose site is out of contact: nobody (sitewatch.c). A top-tier caller
 *                   (tier >= top_tier): every agent with the skill, at once ("diamond never
 *                   waits", issue 16 item 1): no known-agent hold, no overflow delay. Else:
 *                   the agent is the call's known agent; or, if the call has a known agent who is
 *                   reachable (not OFFLINE or UNREACHABLE) and now < preferred_until_ms, no;
 *                   else the call arrived at the agent's site (or has no site), or has waited
 *                   >= overflow_after_ms (the pool widens; the caller never moves), or its
 *                   arrival site is down (site loss).
 *   priority(call)  tier >= top_tier: 1000 + tier (ahead of everyone, no aging);
 *                   else min(tier + floor(waited / aging_ms_per_tier), top_tier - 1).
 *   best            highest priority, then earliest enqueued_ms, then lowest enqueue_seq.
 * Cost: the queue index orders each queue by (tier desc, enqueued_ms, seq). Within one tier the
 * first eligible call is the best of that tier (priority only grows with wait), so route_pick makes
 * one MDB_SET_RANGE seek per tier present (at most CALLRAFT_TIER_MAX + 1 = 10 per queue), walking
 * at most CALLRAFT_NEXT_SCAN_PER_TIER_MAX ineligible calls per tier: O(skills x tiers) seeks. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

/* ---- timers ----------------------------------------------------------------------------- */

int timer_set(struct apply_ctx *c, enum timer_kind kind, int64_t due_ms, const char *id)
{
	uint8_t key[TIMER_KEY_BYTES_MAX];

	return store_put_raw(c->s, c->txn, DB_TIMERS, key, timer_key(key, kind, due_ms, id), "", 0,
			     "timer", id, c->errmsg, c->errmsg_len);
}

int timer_del(struct apply_ctx *c, enum timer_kind kind, int64_t due_ms, const char *id)
{
	uint8_t key[TIMER_KEY_BYTES_MAX];

	if (due_ms <= 0)
		return 0;
	return store_del(c->s, c->txn, DB_TIMERS, key, timer_key(key, kind, due_ms, id), "timer",
			 id, c->errmsg, c->errmsg_len) < 0
		   ? -1
		   : 0;
}

/* ---- offers and presence ---------------------------------------------------------------- */

int route_requeue(struct apply_ctx *c, Callraft__Call *call)
{
	assert(call->state == CALLRAFT__CALL_STATE__OFFERED ||
	       call->state == CALLRAFT__CALL_STATE__ANSWERED);
	if (timer_del(c, TIMER_OFFER, call->offer_expires_ms, call->call_id) != 0)
		return -1;
	call->state = CALLRAFT__CALL_STATE__WAITING;
	call->agent_id = "";
	call->offer_expires_ms = 0;
	call->dialing = false;
	return (ctx_put_call(c, call) != 0 || route_queue_put(c, call) != 0) ? -1 : 0;
}

int route_enter_queue(struct apply_ctx *c, const Callraft__Call *call)
{
	return (route_queue_put(c, call) != 0 || stats_count(c, call, STATS_ENTER) != 0) ? -1 : 0;
}

static bool presence_lapsed(const struct apply_ctx *c, const Callraft__Agent *a)
{
	return a->presence_due_ms != 0 && c->now_ms >= a->presence_due_ms;
}

int route_release_agent(struct apply_ctx *c, Callraft__Agent *agent)
{
	agent->state = presence_lapsed(c, agent) ? CALLRAFT__AGENT_STATE__UNREACHABLE
						 : CALLRAFT__AGENT_STATE__AVAILABLE;
	agent->call_id = "";
	agent->reason = "";
	agent->since_ms = c->now_ms;
	return ctx_put_agent(c, agent);
}

int route_touch_agent(struct apply_ctx *c, Callraft__Agent *agent)
{
	Callraft__Site site;

	if (timer_del(c, TIMER_PRESENCE, agent->presence_due_ms, agent->agent_id) != 0 ||
	    route_site(c, agent->site, &site) != 0)
		return -1;
	agent->last_seen_ms = c->now_ms;
	agent->presence_due_ms = c->now_ms + site.presence_timeout_ms;
	if (agent->state == CALLRAFT__AGENT_STATE__UNREACHABLE) {
		agent->state = CALLRAFT__AGENT_STATE__AVAILABLE;
		agent->since_ms = c->now_ms;
	}
	if (sitelive_agent_seen(c, agent->site) != 0)
		return -1;
	return timer_set(c, TIMER_PRESENCE, agent->presence_due_ms, agent->agent_id);
}

int op_agent_heartbeat(struct apply_ctx *c, const Callraft__AgentHeartbeat *op)
{
	int rc = ctx_load_agent_in(c, op->agent_id);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	return (route_touch_agent(c, &c->agent) != 0 || ctx_put_agent(c, &c->agent) != 0) ? -1 : 0;
}

/* ---- the choice of `call next` ---------------------------------------------------------- */

int route_effective_priority(const Callraft__Call *call, const Callraft__QueueConfig *cfg,
			     int64_t now_ms)
{
	int64_t waited = now_ms - call->enqueued_ms, p = call->tier;

	if (call->tier >= cfg->top_tier)
		return 1000 + (int)call->tier;
	if (cfg->aging_ms_per_tier > 0 && waited > 0)
		p += waited / cfg->aging_ms_per_tier;
	return (int)(p < (int64_t)cfg->top_tier - 1 ? p : (int64_t)cfg->top_tier - 1);
}

struct pick {
	bool found;
	int priority;
	int64_t enqueued_ms;
	uint64_t seq;
	uint8_t key[QUEUE_KEY_BYTES_MAX];
	size_t key_len;
	char call_id[CALLRAFT_ID_BYTES_MAX + 1];
};

static bool pick_better(const struct pick *p, int priority, const Callraft__Call *call)
{
	if (!p->found || priority != p->priority)
		return !p->found || priority > p->priority;
	if (call->enqueued_ms != p->enqueued_ms)
		return call->enqueued_ms < p->enqueued_ms;
	return call->enqueue_seq < p->seq;
}

/* 1 if the agent is logged in and heard from (not OFFLINE, not UNREACHABLE), 0 if not. */
static int agent_reachable(struct apply_ctx *c, const char *agent_id)
{
	Callraft__Agent *a;
	int rc = ctx_get_agent(c, agent_id, &a);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	rc = a->state != CALLRAFT__AGENT_STATE__OFFLINE &&
	     a->state != CALLRAFT__AGENT_STATE__UNREACHABLE;
	protobuf_c_message_free_unpacked(&a->base, NULL);
	return rc;
}

/* 1 if `agent` may take `call` now, 0 if not (see the header comment). */
static int eligible(struct apply_ctx *c, const Callraft__Agent *agent, const Callraft__Call *call,
		    const Callraft__QueueConfig *cfg)
{
	Callraft__Site site;
	int rc = sitelive_held(c, call);

	if (rc != 0) /* its site is out of contact: the caller may be gone, offer nobody */
		return rc < 0 ? -1 : 0;
	/* The top tier's promise is that it never waits while an agent who could answer is free:
	 * neither a busy known agent nor the caller's own site's agents being busy may hold it. */
	if (call->tier >= cfg->top_tier)
		return 1;
	if (call->preferred_agent[0] != '\0') {
		if (strcmp(call->preferred_agent, agent->agent_id) == 0)
			return 1;
		if (c->now_ms < call->preferred_until_ms &&
		    (rc = agent_reachable(c, call->preferred_agent)) != 0)
			return rc < 0 ? -1 : 0;
	}
	if (call->arrival_site[0] == '\0' || strcmp(call->arrival_site, agent->site) == 0)
		return 1;
	if (c->now_ms - call->enqueued_ms >= cfg->overflow_after_ms)
		return 1;
	if (route_site(c, call->arrival_site, &site) != 0)
		return -1;
	return site.down ? 1 : 0;
}

/* Considers the waiting call of entry (k, v); 1 if it was eligible (the tier is done). */
static int pick_consider(struct apply_ctx *c, const Callraft__Agent *agent,
			 const Callraft__QueueConfig *cfg, const MDB_val *k, const MDB_val *v,
			 struct pick *best)
{
	char id[CALLRAFT_ID_BYTES_MAX + 1];
	Callraft__Call *call;
	int rc;

	assert(v->mv_size >= 1 && v->mv_size <= CALLRAFT_ID_BYTES_MAX);
	memcpy(id, v->mv_data, v->mv_size);
	id[v->mv_size] = '\0';
	rc = ctx_get_call(c, id, &call);
	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc < 0 ? MDB_CORRUPTED : MDB_NOTFOUND,
				 "call next: queued call '%s'", id);
	rc = eligible(c, agent, call, cfg);
	if (rc == 1) {
		int priority = route_effective_priority(call, cfg, c->now_ms);
		if (pick_better(best, priority, call)) {
			best->found = true;
			best->priority = priority;
			best->enqueued_ms = call->enqueued_ms;
			best->seq = call->enqueue_seq;
			memcpy(best->key, k->mv_data, k->mv_size);
			best->key_len = k->mv_size;
			memcpy(best->call_id, id, v->mv_size + 1);
		}
	}
	protobuf_c_message_free_unpacked(&call->base, NULL);
	return rc;
}

static bool in_queue(const MDB_val *k, const char *queue, size_t qlen)
{
	return k->mv_size == qlen + 1 + QUEUE_KEY_SUFFIX_BYTES &&
	       memcmp(k->mv_data, queue, qlen + 1) == 0;
}

/* One queue: one seek per tier present, then at most CALLRAFT_NEXT_SCAN_PER_TIER_MAX steps. */
static int pick_in_queue(struct apply_ctx *c, MDB_cursor *cur, const Callraft__Agent *agent,
			 const char *queue, struct pick *best)
{
	Callraft__QueueConfig cfg;
	uint8_t seek[CALLRAFT_QUEUE_BYTES_MAX + 2];
	size_t qlen = strlen(queue);
	unsigned from = 255 - CALLRAFT_TIER_MAX; /* the key byte of the highest tier */
	int rc;

	if (route_queue_config(c, queue, &cfg) != 0)
		return -1;
	memcpy(seek, queue, qlen + 1);
	while (from <= 255) {
		MDB_val k = {qlen + 2, seek}, v;

		seek[qlen + 1] = (uint8_t)from;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc != 0 || !in_queue(&k, queue, qlen))
			goto done;
		unsigned tier_byte = ((const uint8_t *)k.mv_data)[qlen + 1];
		for (int n = 0; n < CALLRAFT_NEXT_SCAN_PER_TIER_MAX; n++) {
			rc = pick_consider(c, agent, &cfg, &k, &v, best);
			if (rc != 0)
				break; /* eligible: the best of this tier; or a failure */
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
			if (rc != 0 || !in_queue(&k, queue, qlen))
				goto done;
			if (((const uint8_t *)k.mv_data)[qlen + 1] != tier_byte)
				break;
		}
		if (rc < 0)
			return -1;
		from = tier_byte + 1;
	}
	return 0;
done:
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_err(c->errmsg, c->errmsg_len, rc, "call next: seek queue '%s'", queue);
	return 0;
}

int route_pick(struct apply_ctx *c, const Callraft__Agent *agent, uint8_t key[QUEUE_KEY_BYTES_MAX],
	       size_t *key_len, char call_id[CALLRAFT_ID_BYTES_MAX + 1])
{
	struct pick best = {.found = false};
	MDB_cursor *cur;
	int rc = mdb_cursor_open(c->txn, c->s->dbi[DB_QUEUE], &cur);

	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "call next: agent '%s'",
				 agent->agent_id);
	for (size_t i = 0; i < agent->n_skills && rc == 0; i++)
		rc = pick_in_queue(c, cur, agent, agent->skills[i], &best);
	mdb_cursor_close(cur);
	if (rc != 0)
		return -1;
	if (!best.found)
		return 1;
	memcpy(key, best.key, best.key_len);
	*key_len = best.key_len;
	memcpy(call_id, best.call_id, strlen(best.call_id) + 1);
	return 0;
}
