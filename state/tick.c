/* tick.c: the Tick command, which fires the timers that are due (routing.c, "Time", says why time
 * is a table of timers): offers that expired, presence that lapsed, wrap-up that ended, scheduled
 * callbacks to release (callbacks.c) and sites to check for loss (callbacks.c); the leader's report
 * of which sites' nodes are in contact; and, before the timers, the release of outbound campaigns'
 * targets (campaigns.c), so a lease lapsed since the last Tick has not yet made its agent
 * UNREACHABLE when the release counts the free agents (free_agents.c subtracts it).
 *
 * It sits above routing.c and callbacks.c (it calls both, neither calls it), so the timer kinds
 * that belong to callbacks need no forward declaration. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

/* Loads a call and an agent for a timer (records the caller frees). 1 if either is missing. */
static int load_pair(struct apply_ctx *c, const char *call_id, const char *agent_id,
		     Callraft__Call **call, Callraft__Agent **agent)
{
	int rc = ctx_get_call(c, call_id, call);

	*agent = NULL;
	if (rc != 0)
		return rc;
	rc = ctx_get_agent(c, agent_id, agent);
	if (rc != 0) {
		protobuf_c_message_free_unpacked(&(*call)->base, NULL);
		*call = NULL;
		return rc < 0 ? -1
			      : store_err(c->errmsg, c->errmsg_len, MDB_NOTFOUND,
					  "agent '%s' of call '%s'", agent_id, call_id);
	}
	return 0;
}

static void free_pair(Callraft__Call *call, Callraft__Agent *agent)
{
	if (call != NULL)
		protobuf_c_message_free_unpacked(&call->base, NULL);
	if (agent != NULL)
		protobuf_c_message_free_unpacked(&agent->base, NULL);
}

/* TIMER_OFFER: an offer nobody answered returns to the queue; the agent is free again. */
static int fire_offer(struct apply_ctx *c, const char *call_id, int64_t due_ms)
{
	Callraft__Call *call;
	Callraft__Agent *agent;
	char agent_id[CALLRAFT_ID_BYTES_MAX + 1];
	bool current;
	int rc = ctx_get_call(c, call_id, &call);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	current = call->state == CALLRAFT__CALL_STATE__OFFERED &&
		  call->offer_expires_ms == due_ms && !call->dialing;
	snprintf(agent_id, sizeof agent_id, "%s", call->agent_id);
	protobuf_c_message_free_unpacked(&call->base, NULL);
	if (!current)
		return 0; /* answered, rejected or being dialled meanwhile: a stale timer */
	rc = load_pair(c, call_id, agent_id, &call, &agent);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	/* Unpacked records are changed through copies: their strings belong to the unpacker. */
	Callraft__Call call_copy = *call;
	Callraft__Agent agent_copy = *agent;
	call_copy.offer_expires_ms = 0; /* the timer is already gone */
	agent_copy.push = false;        /* no answer: not ready until it says so again (assign.c) */
	rc = (route_requeue(c, &call_copy) != 0 || route_release_agent(c, &agent_copy) != 0) ? -1
											     : 0;
	free_pair(call, agent);
	return rc;
}

/* Schedules the legacy site check (callbacks_site_check) site_loss_after_ms from now. */
static int site_check_later(struct apply_ctx *c, const char *site)
{
	Callraft__Site s;

	if (route_site(c, site, &s) != 0)
		return -1;
	return timer_set(c, TIMER_SITE, c->now_ms + s.site_loss_after_ms, site);
}

/* The lease of an agent holding a call in progress (answered, or a callback being dialled)
 * lapsed. The site's PBX holds the phone call: if the PBX sent a heartbeat within the presence
 * timeout, it renews the lease. If the site is lost, the call is ended "site-lost" (with a
 * callback). Otherwise the lease stays lapsed (presence_due_ms in the past): the agent keeps the
 * call until it ends or the site is lost, and counts as gone for the site check. *ended says
 * whether the call was ended. */
static int lapsed_in_progress(struct apply_ctx *c, Callraft__Agent *a, Callraft__Call *call,
			      bool *ended)
{
	Callraft__Site site;

	if (route_site(c, a->site, &site) != 0)
		return -1;
	if (site.down) {
		Callraft__Call copy = *call;
		*ended = true;
		return callbacks_end_site_lost(c, &copy);
	}
	if (site.pbx_seen_ms != 0 && c->now_ms - site.pbx_seen_ms < site.presence_timeout_ms) {
		a->presence_due_ms = c->now_ms + site.presence_timeout_ms;
		return timer_set(c, TIMER_PRESENCE, a->presence_due_ms, a->agent_id);
	}
	return site_check_later(c, a->site);
}

/* The cluster's own silence is not an agent's (as sitewatch.c rule 6 is for sites): while the
 * cluster committed nothing (an election, a lost quorum) no desktop's heartbeat could be written,
 * so a lease does not lapse until the agent has had min(CALLRAFT_PRESENCE_STALL_GRACE_MS, its
 * site's presence timeout) of Ticks after the last stall to be heard. 1: the lease was extended to
 * then (its timer set again), 0: it lapses now. */
static int presence_after_stall(struct apply_ctx *c, Callraft__Agent *a)
{
	Callraft__Site site;

	if (c->stall_ended_ms == 0 || c->now_ms - c->stall_ended_ms >= CALLRAFT_PRESENCE_STALL_GRACE_MS)
		return 0;
	if (route_site(c, a->site, &site) != 0)
		return -1;
	int64_t grace = site.presence_timeout_ms < CALLRAFT_PRESENCE_STALL_GRACE_MS
				? site.presence_timeout_ms
				: CALLRAFT_PRESENCE_STALL_GRACE_MS;
	if (c->now_ms >= c->stall_ended_ms + grace)
		return 0;
	a->presence_due_ms = c->stall_ended_ms + grace;
	return timer_set(c, TIMER_PRESENCE, a->presence_due_ms, a->agent_id) != 0 ? -1 : 1;
}

/* TIMER_PRESENCE: a silent agent's lease lapsed (whatever its state). An open offer is withdrawn
 * (the call goes back in its place) and the agent becomes UNREACHABLE; a call in progress is
 * handled by lapsed_in_progress. Not within the grace after a stall (presence_after_stall). */
static int fire_presence(struct apply_ctx *c, const char *agent_id, int64_t due_ms)
{
	Callraft__Agent *src, copy, *a = &copy;
	Callraft__Call *call = NULL;
	bool ended = false;
	int rc = ctx_get_agent(c, agent_id, &src);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	copy = *src;
	if (a->presence_due_ms != due_ms || a->state == CALLRAFT__AGENT_STATE__OFFLINE ||
	    a->state == CALLRAFT__AGENT_STATE__UNREACHABLE)
		goto out; /* renewed or gone meanwhile */
	if ((rc = presence_after_stall(c, a)) != 0) {
		if (rc > 0)
			rc = ctx_put_agent(c, a);
		goto out;
	}
	if (a->state == CALLRAFT__AGENT_STATE__ON_CALL) {
		rc = ctx_get_call(c, a->call_id, &call);
		if (rc != 0) {
			rc = store_err(c->errmsg, c->errmsg_len, MDB_NOTFOUND,
				       "call '%s' of agent '%s'", a->call_id, a->agent_id);
			goto out;
		}
		if (call->state == CALLRAFT__CALL_STATE__ANSWERED || call->dialing) {
			rc = lapsed_in_progress(c, a, call, &ended);
			if (rc != 0 || !ended) {
				if (rc == 0)
					rc = ctx_put_agent(c, a);
				goto out;
			}
		} else {
			Callraft__Call cc = *call;
			if ((rc = route_requeue(c, &cc)) != 0)
				goto out;
		}
	}
	a->state = CALLRAFT__AGENT_STATE__UNREACHABLE;
	a->call_id = "";
	a->reason = "";
	a->since_ms = c->now_ms;
	rc = site_check_later(c, a->site);
	if (rc == 0)
		rc = ctx_put_agent(c, a);
out:
	if (call != NULL)
		protobuf_c_message_free_unpacked(&call->base, NULL);
	protobuf_c_message_free_unpacked(&src->base, NULL);
	return rc;
}

/* TIMER_WRAP: wrap-up time is over. */
static int fire_wrap(struct apply_ctx *c, const char *agent_id, int64_t due_ms)
{
	Callraft__Agent *a, copy;
	int rc = ctx_get_agent(c, agent_id, &a);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	copy = *a;
	if (a->state == CALLRAFT__AGENT_STATE__WRAP_UP && a->wrap_until_ms == due_ms) {
		copy.wrap_until_ms = 0;
		rc = route_release_agent(c, &copy);
	}
	protobuf_c_message_free_unpacked(&a->base, NULL);
	return rc;
}

static int fire(struct apply_ctx *c, enum timer_kind kind, int64_t due_ms, const char *id)
{
	switch (kind) {
	case TIMER_OFFER:
		return fire_offer(c, id, due_ms);
	case TIMER_PRESENCE:
		return fire_presence(c, id, due_ms);
	case TIMER_WRAP:
		return fire_wrap(c, id, due_ms);
	case TIMER_RELEASE:
		return callbacks_release(c, id, due_ms);
	case TIMER_SITE:
		return callbacks_site_check(c, id);
	}
	return store_err(c->errmsg, c->errmsg_len, MDB_CORRUPTED, "timer kind %d", (int)kind);
}

/* Takes the first timer if it is due: 1 with kind/due/id filled, 0 if none is due. */
static int timer_pop(struct apply_ctx *c, enum timer_kind *kind, int64_t *due_ms,
		     char id[CALLRAFT_ID_BYTES_MAX + 1])
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint8_t key[TIMER_KEY_BYTES_MAX];
	size_t len;
	int rc = mdb_cursor_open(c->txn, c->s->dbi[DB_TIMERS], &cur);

	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "tick: timers");
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (rc == 0) {
		assert(k.mv_size > 9 && k.mv_size <= TIMER_KEY_BYTES_MAX);
		memcpy(key, k.mv_data, k.mv_size);
	}
	len = rc == 0 ? k.mv_size : 0;
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "tick: timers");
	*due_ms = (int64_t)be64_get(key);
	if (*due_ms > c->now_ms)
		return 0;
	*kind = (enum timer_kind)key[8];
	memcpy(id, key + 9, len - 9);
	id[len - 9] = '\0';
	return store_del(c->s, c->txn, DB_TIMERS, key, len, "timer", id, c->errmsg, c->errmsg_len) <
		       0
		   ? -1
		   : 1;
}

int op_tick(struct apply_ctx *c, const Callraft__Tick *op)
{
	unsigned fired = 0;

	c->assign_sweep = true; /* time changes who may take a call (assign.c) */

	for (size_t i = 0; i < op->n_sites; i++)
		if (sitewatch_nodes(c, op->sites[i]) != 0)
			return -1;
	if (sitewatch_tick(c) != 0 || campaigns_tick(c) != 0)
		return -1;
	while (fired < CALLRAFT_TICK_TIMERS_MAX) {
		enum timer_kind kind = TIMER_OFFER;
		int64_t due_ms = 0;
		char id[CALLRAFT_ID_BYTES_MAX + 1];
		int rc = timer_pop(c, &kind, &due_ms, id);

		if (rc <= 0)
			return rc;
		if (fire(c, kind, due_ms, id) != 0)
			return -1;
		fired++;
	}
	return 0;
}
