/* sitewatch.c: site liveness (issue 12), decided inside the FSM from leader-stamped evidence.
 *
 * Evidence. Three kinds, each kept in the Site record as the last FSM time it was seen:
 *   nodes_seen_ms   a Tick's leader saw one of the site's nodes make progress (SiteNodes, with how
 *                   long ago: silent_ms), or the site's node is the leader itself;
 *   pbx_seen_ms     the site's PBX sent a SiteHeartbeat (it does so every second or so);
 *   agents_seen_ms  one of the site's agents' desktops sent a command (login, heartbeat, state
 *                   change, call next).
 * life = the latest of the three. A site is *watched* once its nodes are reported or its PBX has
 * sent a heartbeat; a site with agents only is judged by its agents' leases (callbacks.c,
 * callbacks_site_check), as before.
 *
 * States of a watched site, decided by every Tick (sitewatch_tick), in FSM time only:
 *
 *   IN CONTACT --now - life >= hold_after--> OUT OF CONTACT --now - life >=
 *       ^                                          |           site_loss_after_ms--> LOST
 *       +--------- evidence again (any kind) ------+----------------------------------+
 *                                                    (only a loss this rule declared;
 *                                                     SiteDown holds until SiteUp)
 *
 *   hold_after = contact_timeout_ms, or CALLRAFT_SITE_HOLD_UNREACHABLE_MS (2 s) if that is sooner
 *   and the last Tick said none of the site's nodes is in contact with the leader: then only its
 *   PBX and its agents speak for it, and a PBX beats every second. A dead site is so held about
 *   2-2.5 s after its last sign of life, not 3-3.5 s, which shortens the time in which a live
 *   agent can be offered one of its callers; nothing but evidence undoes the hold.
 *
 * Rules:
 *   1. Out of contact: the site's live callers are *held*: route_pick never offers a call that
 *      arrived there (and is not a callback) to anyone; each keeps its queue key, so its place.
 *      Offers of such calls still open (not answered, not being dialled) are withdrawn at once:
 *      the call goes back under its key and the agent is free. Nobody is offered a caller who
 *      may no longer be on the line.
 *   2. Back in contact: held callers are offered again as they were, in their place.
 *   3. Lost (callbacks_site_lost): every held caller becomes a callback in its place, in original
 *      order; the offers of the site's agents are withdrawn (the caller becomes a callback); a
 *      call in progress (ANSWERED, or a callback being dialled) at the site is ENDED with outcome
 *      "site-lost" and, unless its queue says site_lost_no_callback, a new callback record
 *      (origin_call_id) takes the call's original place, so the customer is called back.
 *   4. A site is never declared lost while any evidence keeps arriving: its PBX heartbeats or a
 *      node in contact with the leader are enough. A cut between the site and the leader that
 *      still lets its PBX's writes through (relayed) does not lose it.
 *   5. Every decision (out of contact, back, lost, restored) is reported through the state's
 *      site event hook with the evidence (how long ago each kind was last seen); the node logs it.
 *      Lost and restored are also SITE_LOST / SITE_RESTORED events of the event stream (written
 *      by route_site_put), their reason carrying the same evidence.
 *   6. The cluster's own silence is not a site's: after a stall (no Tick for more than
 *      CALLRAFT_TICK_STALL_MS: an election, a lost quorum) every site's evidence is as old as the
 *      stall, so no site is declared lost until Ticks have flowed again for
 *      CALLRAFT_SITE_LOSS_OBSERVED_MS, time for live nodes and PBXs to be heard. A hold may come
 *      at once (it costs a live caller a moment and is undone by the next evidence).
 *
 * Defaults (callraft_limits.h): contact_timeout 3 s, site_loss_after 8 s, so a dead site is held
 * within about 3.5 s (2.5 s once the leader reports its nodes out of contact) and declared lost
 * within about 8.5 s of its last sign of life (Ticks every 500 ms), and within 10 s when the
 * leader died with it (about a second of election). */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_internal.h"
static int64_t life_ms(const Callraft__Site *s)
{
	int64_t t = s->nodes_reported ? s->nodes_seen_ms : 0;

	if (s->pbx_seen_ms > t)
		t = s->pbx_seen_ms;
	if (s->agents_seen_ms > t)
		t = s->agents_seen_ms;
	return t;
}

/* Rule 1's threshold: contact_timeout, or CALLRAFT_SITE_HOLD_UNREACHABLE_MS when that is sooner
 * and the last Tick reported none of the site's nodes in contact with the leader. */
static int64_t hold_after_ms(const Callraft__Site *s)
{
	if (s->nodes_reported && !s->nodes_reachable &&
	    CALLRAFT_SITE_HOLD_UNREACHABLE_MS < s->contact_timeout_ms)
		return CALLRAFT_SITE_HOLD_UNREACHABLE_MS;
	return s->contact_timeout_ms;
}

static void event(struct apply_ctx *c, const char *site, const char *what, const Callraft__Site *s)
{
	char ev[STATE_MSG_BYTES_MAX];

	if (c->s->site_event_fn == NULL)
		return;
	sitelive_evidence(c, s, ev, sizeof ev);
	c->s->site_event_fn(c->s->site_event_data, c->index, site, what, ev);
}

int op_site_heartbeat(struct apply_ctx *c, const Callraft__SiteHeartbeat *op)
{
	Callraft__Site s;

	if (route_site(c, op->site, &s) != 0)
		return -1;
	s.pbx_seen_ms = c->now_ms;
	snprintf(c->msg, sizeof c->msg, "site '%s': heartbeat", op->site);
	return route_site_put(c, &s);
}

int sitewatch_nodes(struct apply_ctx *c, const Callraft__SiteNodes *sn)
{
	Callraft__Site s;
	int64_t seen = 0;

	if (route_site(c, sn->site, &s) != 0)
		return -1;
	if (!s.nodes_reported) { /* first report: the members exist, count them as seen now */
		s.nodes_reported = true;
		s.nodes_seen_ms = c->now_ms;
		s.nodes_reachable = true;
	}
	if (sn->silent_ms > 0 || (sn->silent_ms == 0 && sn->reachable))
		seen = c->now_ms - sn->silent_ms; /* else unknown: no new evidence */
	if (seen > s.nodes_seen_ms)
		s.nodes_seen_ms = seen;
	if (s.nodes_reachable && !sn->reachable)
		s.nodes_unreachable_since_ms = c->now_ms;
	else if (sn->reachable)
		s.nodes_unreachable_since_ms = 0;
	s.nodes_reachable = sn->reachable;
	return route_site_put(c, &s);
}

/* Rule 1: withdraws every open offer of a caller who arrived at `site`. */
static int withdraw_one(struct apply_ctx *c, const char *agent_id, const char *site, unsigned *n)
{
	Callraft__Agent *a;
	Callraft__Call *call = NULL;
	int rc = ctx_get_agent(c, agent_id, &a);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (a->state == CALLRAFT__AGENT_STATE__ON_CALL && (rc = ctx_get_call(c, a->call_id, &call)) != 0)
		rc = rc < 0 ? -1 : 0;
	if (rc == 0 && call != NULL && call->state == CALLRAFT__CALL_STATE__OFFERED &&
	    !call->dialing && !call->callback && strcmp(call->arrival_site, site) == 0) {
		Callraft__Call cc = *call;
		Callraft__Agent ac = *a;
		rc = (route_requeue(c, &cc) != 0 || route_release_agent(c, &ac) != 0) ? -1 : 0;
		(*n)++;
	}
	if (call != NULL)
		protobuf_c_message_free_unpacked(&call->base, NULL);
	protobuf_c_message_free_unpacked(&a->base, NULL);
	return rc;
}

/* The ids of every ON_CALL agent (malloc'd, strings too; at most CALLRAFT_SITE_CONVERT_MAX). */
static int on_call_agents(struct apply_ctx *c, char ***ids, size_t *n)
{
	MDB_cursor *cur;
	MDB_val k, v;
	size_t cap = 0;
	int rc = mdb_cursor_open(c->txn, c->s->dbi[DB_AGENTS], &cur);

	*ids = NULL;
	*n = 0;
	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "withdraw offers: agents");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && *n < CALLRAFT_SITE_CONVERT_MAX;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		Callraft__Agent *a = callraft__agent__unpack(NULL, v.mv_size, v.mv_data);
		bool take = a != NULL && a->state == CALLRAFT__AGENT_STATE__ON_CALL;
		if (a != NULL)
			callraft__agent__free_unpacked(a, NULL);
		if (!take)
			continue;
		if (*n == cap) {
			char **grown = realloc(*ids, (cap ? 2 * cap : 16) * sizeof **ids);
			if (grown == NULL)
				break;
			*ids = grown;
			cap = cap ? 2 * cap : 16;
		}
		if (((*ids)[*n] = strndup(k.mv_data, k.mv_size)) == NULL)
			break;
		(*n)++;
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND || (rc == 0 && *n == CALLRAFT_SITE_CONVERT_MAX))
		return 0;
	for (size_t i = 0; i < *n; i++)
		free((*ids)[i]);
	free(*ids);
	*ids = NULL;
	*n = 0;
	snprintf(c->errmsg, c->errmsg_len, "state: withdraw offers: agents: %s",
		 rc == 0 ? "out of memory" : mdb_strerror(rc));
	return -1;
}

static int withdraw_offers(struct apply_ctx *c, const char *site, unsigned *n)
{
	char **ids;
	size_t n_ids;
	int rc = on_call_agents(c, &ids, &n_ids);

	for (size_t i = 0; i < n_ids; i++) {
		if (rc == 0)
			rc = withdraw_one(c, ids[i], site, n);
		free(ids[i]);
	}
	free(ids);
	return rc;
}

/* Rule 6: the FSM time since which Ticks have flowed without a stall (CALLRAFT_TICK_STALL_MS), kept
 * in the meta table with the time of this Tick; and c->stall_ended_ms, when the last stall ended
 * (the first Tick ever is not the end of a stall), which tick.c's presence rule reads. */
static int ticking_since(struct apply_ctx *c, int64_t *since_ms)
{
	uint64_t last = 0, since = 0, stall_ended = 0;

	if (store_meta_get(c->s, c->txn, META_TICK_LAST, &last, c->errmsg, c->errmsg_len) != 0 ||
	    store_meta_get(c->s, c->txn, META_TICKING_SINCE, &since, c->errmsg, c->errmsg_len) != 0 ||
	    store_meta_get(c->s, c->txn, META_STALL_ENDED, &stall_ended, c->errmsg,
			   c->errmsg_len) != 0)
		return -1;
	bool stalled = last != 0 && c->now_ms - (int64_t)last > CALLRAFT_TICK_STALL_MS;
	if (last == 0 || since == 0 || stalled)
		since = (uint64_t)c->now_ms;
	if (stalled)
		stall_ended = (uint64_t)c->now_ms;
	*since_ms = (int64_t)since;
	c->stall_ended_ms = (int64_t)stall_ended;
	if (store_meta_put(c->s, c->txn, META_TICK_LAST, (uint64_t)c->now_ms, c->errmsg,
			   c->errmsg_len) != 0 ||
	    store_meta_put(c->s, c->txn, META_TICKING_SINCE, since, c->errmsg, c->errmsg_len) != 0 ||
	    (stalled && store_meta_put(c->s, c->txn, META_STALL_ENDED, stall_ended, c->errmsg,
				       c->errmsg_len) != 0))
		return -1;
	return 0;
}

/* One watched site, by the rules of the header. */
static int evaluate(struct apply_ctx *c, const char *site, int64_t ticking_since_ms)
{
	Callraft__Site s;
	char reason[STATE_MSG_BYTES_MAX];
	unsigned withdrawn = 0;

	if (route_site(c, site, &s) != 0)
		return -1;
	if (!sitelive_watched(&s))
		return 0;
	int64_t silent = c->now_ms - life_ms(&s);
	if (silent < hold_after_ms(&s)) {
		bool was_out = s.out_of_contact, restore = s.down && s.lost_auto;
		if (!was_out && !restore)
			return 0;
		s.out_of_contact = false;
		if (restore) { /* the SITE_RESTORED event (events.c) carries the evidence */
			s.down = false;
			s.lost_auto = false;
			s.down_since_ms = 0;
			sitelive_evidence(c, &s, reason, sizeof reason);
			s.down_reason = reason;
		}
		event(c, site, restore ? "restored" : "back in contact", &s);
		return route_site_put(c, &s);
	}
	if (!s.out_of_contact) {
		s.out_of_contact = true;
		if (route_site_put(c, &s) != 0 || withdraw_offers(c, site, &withdrawn) != 0)
			return -1;
		event(c, site, "out of contact: its callers are held", &s);
	}
	if (s.down || silent < s.site_loss_after_ms ||
	    c->now_ms - ticking_since_ms < CALLRAFT_SITE_LOSS_OBSERVED_MS)
		return 0;
	sitelive_evidence(c, &s, reason, sizeof reason);
	if (callbacks_site_lost(c, site, reason, true) != 0)
		return -1;
	event(c, site, "lost", &s);
	return 0;
}

int sitewatch_tick(struct apply_ctx *c)
{
	char names[CALLRAFT_SITES_WATCHED_MAX][CALLRAFT_SITE_BYTES_MAX + 1];
	size_t n = 0;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(c->txn, c->s->dbi[DB_SITES], &cur);

	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "tick: sites");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && n < CALLRAFT_SITES_WATCHED_MAX;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size == 0 || k.mv_size > CALLRAFT_SITE_BYTES_MAX)
			continue;
		memcpy(names[n], k.mv_data, k.mv_size);
		names[n++][k.mv_size] = '\0';
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_err(c->errmsg, c->errmsg_len, rc, "tick: sites");
	int64_t since;
	if (ticking_since(c, &since) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (evaluate(c, names[i], since) != 0)
			return -1;
	return 0;
}
