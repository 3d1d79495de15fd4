/* routing.c: the routing rules of issue #3, decided inside the FSM from FSM time only.
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
 * site's presence_timeout_ms (TIMER_PRESENCE). When it lapses the agent becomes UNREACHABLE and an
 * offered call goes back to the queue; an agent talking on an ANSWERED call keeps it (the phone
 * call lives in the PBX) and the lease is renewed. A heartbeat brings an UNREACHABLE agent back
 * to AVAILABLE. When an agent becomes UNREACHABLE, TIMER_SITE checks site_loss_after_ms later
 * whether the whole site is gone (callbacks.c).
 *
 * Wrap-up: after CallEnd of an answered call the agent is WRAP_UP for the queue's wrap_up_ms
 * (TIMER_WRAP), then AVAILABLE; wrap_up_ms 0 means straight to AVAILABLE.
 *
 * The choice of `call next` (route_pick), for an agent with skills Q1..Qn:
 *   eligible(call)  the agent is the call's known agent; or, if the call has a known agent who is
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

/* ---- configuration ---------------------------------------------------------------------- */

void route_queue_defaults(Callraft__QueueConfig *q, const char *queue)
{
	*q = (Callraft__QueueConfig)CALLRAFT__QUEUE_CONFIG__INIT;
	q->queue = (char *)queue;
	q->overflow_after_ms = CALLRAFT_OVERFLOW_AFTER_MS_DEFAULT;
	q->offer_timeout_ms = CALLRAFT_OFFER_TIMEOUT_MS_DEFAULT;
	q->known_agent_timeout_ms = CALLRAFT_KNOWN_AGENT_TIMEOUT_MS_DEFAULT;
	q->aging_ms_per_tier = CALLRAFT_AGING_MS_PER_TIER_DEFAULT;
	q->service_level_ms = CALLRAFT_SERVICE_LEVEL_MS_DEFAULT;
	q->wrap_up_ms = CALLRAFT_WRAP_UP_MS_DEFAULT;
	q->top_tier = CALLRAFT_TOP_TIER_DEFAULT;
	q->redial_window_ms = CALLRAFT_REDIAL_WINDOW_MS_DEFAULT;
}

int route_queue_config(struct apply_ctx *c, const char *queue, Callraft__QueueConfig *out)
{
	Callraft__QueueConfig *rec;
	int rc = store_get(c->s, c->txn, DB_QUEUES, queue, strlen(queue),
			   &callraft__queue_config__descriptor, (ProtobufCMessage **)&rec,
			   "queue config", queue, c->errmsg, c->errmsg_len);

	route_queue_defaults(out, queue);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	Callraft__QueueConfig copy = *rec;
	copy.base = out->base;
	copy.queue = (char *)queue;
	*out = copy;
	protobuf_c_message_free_unpacked(&rec->base, NULL);
	return 0;
}

static void site_defaults(Callraft__Site *s, const char *site)
{
	*s = (Callraft__Site)CALLRAFT__SITE__INIT;
	s->site = (char *)site;
	s->presence_timeout_ms = CALLRAFT_PRESENCE_TIMEOUT_MS_DEFAULT;
	s->site_loss_after_ms = CALLRAFT_SITE_LOSS_AFTER_MS_DEFAULT;
}

int route_site(struct apply_ctx *c, const char *site, Callraft__Site *out)
{
	Callraft__Site *rec;
	int rc;

	site_defaults(out, site);
	if (site == NULL || site[0] == '\0')
		return 0;
	rc = store_get(c->s, c->txn, DB_SITES, site, strlen(site), &callraft__site__descriptor,
		       (ProtobufCMessage **)&rec, "site", site, c->errmsg, c->errmsg_len);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	Callraft__Site copy = *rec;
	copy.base = out->base;
	copy.site = (char *)site;
	copy.down_reason = "";
	*out = copy;
	protobuf_c_message_free_unpacked(&rec->base, NULL);
	return 0;
}

int route_site_put(struct apply_ctx *c, const Callraft__Site *site)
{
	return store_put(c->s, c->txn, DB_SITES, site->site, strlen(site->site), &site->base,
			 "site", site->site, c->errmsg, c->errmsg_len);
}

int op_queue_configure(struct apply_ctx *c, const Callraft__QueueConfigure *op)
{
	Callraft__QueueConfig q;

	if (route_queue_config(c, op->queue, &q) != 0)
		return -1;
#define SET(f)                                                                                     \
	if (op->f != NULL)                                                                         \
		q.f = op->f->value;
	SET(overflow_after_ms)
	SET(offer_timeout_ms) SET(known_agent_timeout_ms) SET(aging_ms_per_tier)
	    SET(service_level_ms) SET(wrap_up_ms) SET(top_tier) SET(redial_window_ms)
#undef SET
		if (store_put(c->s, c->txn, DB_QUEUES, q.queue, strlen(q.queue), &q.base,
			      "queue config", q.queue, c->errmsg, c->errmsg_len) != 0) return -1;
	snprintf(c->msg, sizeof c->msg, "queue '%s' configured", q.queue);
	return 0;
}

int op_site_configure(struct apply_ctx *c, const Callraft__SiteConfigure *op)
{
	Callraft__Site s;

	if (route_site(c, op->site, &s) != 0)
		return -1;
	if (op->opens_at_minute != NULL)
		s.opens_at_minute = op->opens_at_minute->value;
	if (op->utc_offset_minutes != NULL)
		s.utc_offset_minutes = op->utc_offset_minutes->value;
	if (op->closes_at_minute != NULL)
		s.closes_at_minute = op->closes_at_minute->value;
	if (op->opens_at_minute != NULL || op->utc_offset_minutes != NULL ||
	    op->closes_at_minute != NULL)
		s.configured = true;
	if (op->presence_timeout_ms != NULL)
		s.presence_timeout_ms = op->presence_timeout_ms->value;
	if (op->site_loss_after_ms != NULL)
		s.site_loss_after_ms = op->site_loss_after_ms->value;
	snprintf(c->msg, sizeof c->msg, "site '%s' configured", s.site);
	return route_site_put(c, &s);
}

/* ---- timers ----------------------------------------------------------------------------- */

static size_t timer_key(uint8_t out[TIMER_KEY_BYTES_MAX], enum timer_kind kind, int64_t due_ms,
			const char *id)
{
	size_t n = strlen(id);

	assert(due_ms >= 0 && n >= 1 && n <= CALLRAFT_ID_BYTES_MAX);
	be64_put(out, (uint64_t)due_ms);
	out[8] = (uint8_t)kind;
	memcpy(out + 9, id, n);
	return 9 + n;
}

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

/* ---- the queue index and what is kept with it -------------------------------------------
 *
 * Every WAITING call has one entry in DB_QUEUE (queue_key), one in DB_SITE_WAIT if it has an
 * arrival site, and counts once in DB_WAITING for its queue and for its site: stats read the
 * counts and the oldest entries instead of walking a queue that may be a million calls deep. */

#define WAITING_KEY_BYTES_MAX (1 + (CALLRAFT_QUEUE_BYTES_MAX > CALLRAFT_SITE_BYTES_MAX \
					? CALLRAFT_QUEUE_BYTES_MAX                      \
					: CALLRAFT_SITE_BYTES_MAX))

size_t site_wait_key(uint8_t *out, const char *site, int64_t enqueued_ms, uint64_t seq)
{
	size_t n = strlen(site);

	assert(n >= 1 && n <= CALLRAFT_SITE_BYTES_MAX);
	memcpy(out, site, n);
	out[n] = '\0';
	be64_put(out + n + 1, (uint64_t)enqueued_ms);
	be64_put(out + n + 9, seq);
	return n + 17;
}

static size_t waiting_key(uint8_t key[WAITING_KEY_BYTES_MAX], char scope, const char *name)
{
	size_t n = strlen(name);

	key[0] = (uint8_t)scope;
	memcpy(key + 1, name, n);
	return n + 1;
}

int waiting_count(struct state *s, MDB_txn *txn, char scope, const char *name, uint64_t *out)
{
	uint8_t key[WAITING_KEY_BYTES_MAX];
	MDB_val k = {waiting_key(key, scope, name), key}, v;
	int rc = mdb_get(txn, s->dbi[DB_WAITING], &k, &v);

	*out = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc == 0 && v.mv_size != 8)
		return MDB_CORRUPTED;
	if (rc == 0)
		*out = be64_get(v.mv_data);
	return rc;
}

static int waiting_add(struct apply_ctx *c, char scope, const char *name, int delta)
{
	uint8_t key[WAITING_KEY_BYTES_MAX], val[8];
	size_t klen = waiting_key(key, scope, name);
	uint64_t count;
	int rc = waiting_count(c->s, c->txn, scope, name, &count);

	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "waiting count of '%s'", name);
	if (delta < 0 && count == 0) /* the index and the counts disagree: refuse to go on */
		return store_err(c->errmsg, c->errmsg_len, MDB_CORRUPTED, "waiting count of '%s'",
				 name);
	count = delta < 0 ? count - 1 : count + 1;
	if (count == 0)
		return store_del(c->s, c->txn, DB_WAITING, key, klen, "waiting count", name,
				 c->errmsg, c->errmsg_len) < 0
			   ? -1
			   : 0;
	be64_put(val, count);
	return store_put_raw(c->s, c->txn, DB_WAITING, key, klen, val, 8, "waiting count", name,
			     c->errmsg, c->errmsg_len);
}

static int waiting_index_add(struct apply_ctx *c, const Callraft__Call *call);

int route_queue_put(struct apply_ctx *c, const Callraft__Call *call)
{
	uint8_t key[QUEUE_KEY_BYTES_MAX];
	size_t key_len = queue_key(key, call);
	MDB_val k = {key_len, key}, v;
	int rc;

	assert(call->state == CALLRAFT__CALL_STATE__WAITING);
	rc = mdb_get(c->txn, c->s->dbi[DB_QUEUE], &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_err(c->errmsg, c->errmsg_len, rc, "queue entry '%s'", call->call_id);
	bool present = rc == 0;
	if (store_put_raw(c->s, c->txn, DB_QUEUE, key, key_len, call->call_id,
			  strlen(call->call_id), "queue entry", call->call_id, c->errmsg,
			  c->errmsg_len) != 0)
		return -1;
	if (present) /* the same place again: already indexed and counted */
		return 0;
	return waiting_index_add(c, call);
}

static int waiting_index_add(struct apply_ctx *c, const Callraft__Call *call)
{
	if (waiting_add(c, 'q', call->queue, +1) != 0)
		return -1;
	if (call->arrival_site[0] == '\0')
		return 0;
	uint8_t sk[SITE_WAIT_KEY_BYTES_MAX];
	return (store_put_raw(c->s, c->txn, DB_SITE_WAIT, sk,
			      site_wait_key(sk, call->arrival_site, call->enqueued_ms,
					    call->enqueue_seq),
			      call->call_id, strlen(call->call_id), "site wait entry", call->call_id,
			      c->errmsg, c->errmsg_len) != 0 ||
		waiting_add(c, 's', call->arrival_site, +1) != 0)
		   ? -1
		   : 0;
}

int route_waiting_rebuild(struct state *s, char *errmsg, size_t errmsg_len)
{
	struct apply_ctx c;
	MDB_cursor *cur;
	MDB_stat st;
	MDB_val k, v;
	int rc;

	memset(&c, 0, sizeof c);
	c.s = s;
	c.errmsg = errmsg;
	c.errmsg_len = errmsg_len;
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &c.txn)) != 0)
		return store_err(errmsg, errmsg_len, rc, "open '%s': waiting counts", s->dir);
	if ((rc = mdb_stat(c.txn, s->dbi[DB_WAITING], &st)) != 0 || st.ms_entries > 0)
		goto done; /* kept since the state was made: nothing to rebuild */
	if ((rc = mdb_cursor_open(c.txn, s->dbi[DB_QUEUE], &cur)) != 0)
		goto done;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		Callraft__Call *call;
		char id[CALLRAFT_ID_BYTES_MAX + 1];
		if (v.mv_size > CALLRAFT_ID_BYTES_MAX) {
			rc = MDB_CORRUPTED;
			break;
		}
		memcpy(id, v.mv_data, v.mv_size);
		id[v.mv_size] = '\0';
		if (store_get(s, c.txn, DB_CALLS, id, v.mv_size, &callraft__call__descriptor,
			      (ProtobufCMessage **)&call, "call", id, errmsg, errmsg_len) != 0) {
			rc = MDB_CORRUPTED;
			break;
		}
		int r = waiting_index_add(&c, call);
		callraft__call__free_unpacked(call, NULL);
		if (r != 0) {
			mdb_cursor_close(cur);
			mdb_txn_abort(c.txn);
			return -1;
		}
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		rc = 0;
done:
	if (rc != 0) {
		mdb_txn_abort(c.txn);
		return store_err(errmsg, errmsg_len, rc, "open '%s': rebuild waiting counts", s->dir);
	}
	rc = mdb_txn_commit(c.txn);
	return rc == 0 ? 0 : store_err(errmsg, errmsg_len, rc, "open '%s': commit", s->dir);
}

int route_queue_del(struct apply_ctx *c, const Callraft__Call *call)
{
	uint8_t key[QUEUE_KEY_BYTES_MAX];
	int rc = store_del(c->s, c->txn, DB_QUEUE, key, queue_key(key, call), "queue entry",
			   call->call_id, c->errmsg, c->errmsg_len);

	if (rc != 0)
		return rc;
	if (waiting_add(c, 'q', call->queue, -1) != 0)
		return -1;
	if (call->arrival_site[0] == '\0')
		return 0;
	uint8_t sk[SITE_WAIT_KEY_BYTES_MAX];
	rc = store_del(c->s, c->txn, DB_SITE_WAIT, sk,
		       site_wait_key(sk, call->arrival_site, call->enqueued_ms, call->enqueue_seq),
		       "site wait entry", call->call_id, c->errmsg, c->errmsg_len);
	if (rc != 0) /* absent: the indexes disagree */
		return rc < 0 ? -1
			      : store_err(c->errmsg, c->errmsg_len, MDB_CORRUPTED,
					  "site wait entry of '%s'", call->call_id);
	return waiting_add(c, 's', call->arrival_site, -1);
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
	return timer_set(c, TIMER_PRESENCE, agent->presence_due_ms, agent->agent_id);
}

int op_agent_heartbeat(struct apply_ctx *c, const Callraft__AgentHeartbeat *op)
{
	int rc = ctx_load_agent(c, op->agent_id);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (c->agent.state == CALLRAFT__AGENT_STATE__OFFLINE) {
		ctx_fail(c, CALLRAFT__CODE__BAD_STATE, "agent '%s': not logged in", op->agent_id);
		return 0;
	}
	return (route_touch_agent(c, &c->agent) != 0 || ctx_put_agent(c, &c->agent) != 0) ? -1 : 0;
}

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
	rc = (route_requeue(c, &call_copy) != 0 || route_release_agent(c, &agent_copy) != 0) ? -1
											     : 0;
	free_pair(call, agent);
	return rc;
}

/* The agent's presence lapsed while it held a call. */
static int presence_lapsed_on_call(struct apply_ctx *c, Callraft__Agent *a, bool *keep)
{
	Callraft__Call *call;
	int rc = ctx_get_call(c, a->call_id, &call);

	if (rc != 0)
		return rc < 0 ? -1
			      : store_err(c->errmsg, c->errmsg_len, MDB_NOTFOUND,
					  "call '%s' of agent '%s'", a->call_id, a->agent_id);
	Callraft__Call copy = *call;
	*keep = call->state == CALLRAFT__CALL_STATE__ANSWERED || call->dialing;
	if (!*keep)
		rc = route_requeue(c, &copy);
	protobuf_c_message_free_unpacked(&call->base, NULL);
	return rc;
}

/* TIMER_PRESENCE: a silent agent becomes UNREACHABLE; what was offered to it goes back. */
static int fire_presence(struct apply_ctx *c, const char *agent_id, int64_t due_ms)
{
	Callraft__Agent *src, copy, *a = &copy;
	Callraft__Site site;
	bool keep = false;
	int rc = ctx_get_agent(c, agent_id, &src);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	copy = *src;
	if (a->presence_due_ms != due_ms || a->state == CALLRAFT__AGENT_STATE__OFFLINE ||
	    a->state == CALLRAFT__AGENT_STATE__UNREACHABLE)
		goto out; /* renewed or gone meanwhile */
	if (a->state == CALLRAFT__AGENT_STATE__ON_CALL &&
	    (rc = presence_lapsed_on_call(c, a, &keep)) != 0)
		goto out;
	if (keep) { /* talking: the lease runs on */
		a->presence_due_ms = 0;
		rc = route_touch_agent(c, a);
		a->last_seen_ms = due_ms;
	} else {
		a->state = CALLRAFT__AGENT_STATE__UNREACHABLE;
		a->call_id = "";
		a->reason = "";
		a->since_ms = c->now_ms;
		rc = route_site(c, a->site, &site);
		if (rc == 0)
			rc = timer_set(c, TIMER_SITE, c->now_ms + site.site_loss_after_ms, a->site);
	}
	if (rc == 0)
		rc = ctx_put_agent(c, a);
out:
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

/* Declared in callbacks.c. */
int callbacks_site_check(struct apply_ctx *c, const char *site);

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

/* Records the leader's report of a site's nodes. When the last of them drops out of contact, a
 * TIMER_SITE re-checks the site after site_loss_after_ms (the agents may have gone first). The
 * Site record is written only on a change, not on every tick. */
static int tick_site_nodes(struct apply_ctx *c, const Callraft__SiteNodes *sn)
{
	Callraft__Site s;
	bool was_reachable;

	if (route_site(c, sn->site, &s) != 0)
		return -1;
	was_reachable = !s.nodes_reported || s.nodes_reachable;
	if (s.nodes_reported && s.nodes_reachable == sn->reachable)
		return 0;
	s.nodes_reported = true;
	s.nodes_reachable = sn->reachable;
	if (sn->reachable) {
		s.nodes_unreachable_since_ms = 0;
	} else if (was_reachable) {
		s.nodes_unreachable_since_ms = c->now_ms;
		if (timer_set(c, TIMER_SITE, c->now_ms + s.site_loss_after_ms, sn->site) != 0)
			return -1;
	}
	return route_site_put(c, &s);
}

int op_tick(struct apply_ctx *c, const Callraft__Tick *op)
{
	unsigned fired = 0;

	for (size_t i = 0; i < op->n_sites; i++)
		if (tick_site_nodes(c, op->sites[i]) != 0)
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
	int rc;

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
