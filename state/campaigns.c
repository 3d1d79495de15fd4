/* campaigns.c: outbound campaigns (issue 16 item 4): the travel agency's calls about flight
 * changes, the car maker's 1,200-2,000 outbound calls a day.
 *
 * A campaign (table `campaigns`) is a list of targets (number, customer; table `campaign_targets`)
 * owned by a site and served by a queue. Its targets become calls through the one state machine of
 * callbacks (callbacks.c): a released target is a callback Call "<campaign>.NNNNNN" (n, 1-based,
 * six digits: list order is id order), WAITING in the campaign's queue, with the owning site as
 * its arrival site. From there on nothing is special: agents with the queue's skill take it with
 * `call next` (the PBX's automatic lines are agents too: a line logged in with the skill plays the
 * recorded message), the dial attempt is committed before anyone dials (CallDialAttempt), the
 * outcome is CallAnswer (reached) or CallReject with a dial outcome (retried later in its place,
 * within its site's calling hours, or UNREACHED), a site loss is a site loss.
 *
 *   target:  listed (n > released) --campaigns_tick--> released: a callback call, WAITING
 *            --call next / dial / answer | reject | end--> reached | retried | UNREACHED | ended
 *
 * Release (campaigns_tick, on every Tick: a pure function of the state and FSM time). For each
 * campaign not paused, with targets left, inside its window [start_ms, end_ms) and inside its
 * site's calling hours (site_hours.c): free = agents AVAILABLE with a live presence lease and the
 * queue's skill; room = ceil(free x pacing_percent / 100) - the queue's WAITING calls; it releases
 * min(room, targets left, the Tick's budget) targets in list order. The pacing rule is the
 * predictive dialler's "agents free x ratio": 100 % keeps one call ready per free agent, 150 %
 * dials ahead of the answers that will not come. The Tick's budget is
 * CALLRAFT_CAMPAIGN_RELEASE_PER_TICK_MAX calls in all; the j-th gets enqueued_ms = now - 63 + j and
 * the entry's sequence (index, position): distinct queue keys without a sequence per call, at most
 * 63 ms backdated.
 *
 * Invariants (campaign_count.c's campaigns_check, run by state_check):
 *   C1 released <= targets <= CALLRAFT_CAMPAIGN_TARGETS_MAX; reached + unreached + ended <= released.
 *   C2 target rows exist exactly for n = 1..targets, each with its number's index row (a number is
 *      in a campaign once); the table holds nothing else.
 *   C3 the call "<campaign>.NNNNNN" exists exactly for n <= released, names the campaign and dials
 *      the target's number; the counters equal the counts of its calls' outcomes.
 *
 * Deleting (CampaignDelete) a campaign that is over (every released call final; all released, or
 * paused, or past its end) removes its record and target rows; its calls remain, so a used id is
 * never taken again (CampaignCreate refuses an id while any call "<id>.NNNNNN" exists). While a
 * campaign exists, its call ids are its own: a client's create under one (enqueue, callback
 * schedule or voicemail) is ALREADY_EXISTS (campaign_call_reserved), so a release never writes
 * over another call. Cost per Tick: at most CALLRAFT_CAMPAIGNS_MAX
 * records read, at most CALLRAFT_CAMPAIGN_RELEASE_PER_TICK_MAX releases, and per queue with a
 * campaign that may release now (free_cache) one read of the free agents' count that apply keeps
 * (free_agents.c) and a walk of the timers already due: never the agents table.
 *
 * Exactly once per target, across failovers: the release writes the call record and `released`
 * in one transaction of one log entry, and the call id is derived from (campaign, n): a replayed
 * entry or a retried command cannot make a second call for a target (C3 would find one). A number
 * is never dialled twice for one attempt: the attempt is committed before the dial, as for every
 * callback; a new leader sees the attempt and refuses a second one while it is in progress.
 * Site loss: the owning site's waiting calls are callbacks already and every site's agents take
 * them at once (routing.c); a campaign call being dialled by an agent of the lost site counts as
 * an attempt not reached ("site-lost") and is retried in its place; one answered there was reached
 * and gets no callback (callbacks.c). So the survivors take the campaign over with nothing lost and
 * nothing doubled. */
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

/* The campaign id of a call id of the form "<campaign>.NNNNNN" (into out), or false. */
static bool campaign_of_call_id(const char *call_id, char out[CALLRAFT_CAMPAIGN_ID_BYTES_MAX + 1])
{
	size_t len = strlen(call_id);

	if (len < 8 || len - 7 > CALLRAFT_CAMPAIGN_ID_BYTES_MAX || call_id[len - 7] != '.')
		return false;
	for (size_t i = len - 6; i < len; i++)
		if (call_id[i] < '0' || call_id[i] > '9')
			return false;
	memcpy(out, call_id, len - 7);
	out[len - 7] = '\0';
	return true;
}

int campaign_call_reserved(struct apply_ctx *c, const char *call_id)
{
	char campaign[CALLRAFT_CAMPAIGN_ID_BYTES_MAX + 1];
	MDB_val k, v;
	int rc;

	if (!campaign_of_call_id(call_id, campaign))
		return 0;
	k = (MDB_val){strlen(campaign), campaign};
	if ((rc = mdb_get(c->txn, c->s->dbi[DB_CAMPAIGNS], &k, &v)) == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "campaign '%s'", campaign);
	ctx_fail(c, CALLRAFT__CODE__ALREADY_EXISTS,
		 "call id '%s' is campaign '%s''s (its calls are '%s.NNNNNN'): choose another",
		 call_id, campaign, campaign);
	return 1;
}

/* Whether a call "<campaign_id>.NNNNNN" exists (a deleted campaign's, or a client's from before the
 * campaign): 1, 0, or -1. Walks the calls whose ids start "<campaign_id>." up to the first such. */
static int campaign_call_ids_used(struct apply_ctx *c, const char *campaign_id)
{
	char prefix[CALLRAFT_CAMPAIGN_ID_BYTES_MAX + 2], campaign[CALLRAFT_CAMPAIGN_ID_BYTES_MAX + 1];
	size_t plen = (size_t)snprintf(prefix, sizeof prefix, "%s.", campaign_id);
	MDB_cursor *cur;
	MDB_val k = {plen, prefix}, v;
	bool used = false;
	int rc = mdb_cursor_open(c->txn, c->s->dbi[DB_CALLS], &cur);

	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "calls of campaign '%s'", campaign_id);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && !used;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		char id[CALLRAFT_ID_BYTES_MAX + 1];
		if (k.mv_size < plen || k.mv_size > CALLRAFT_ID_BYTES_MAX ||
		    memcmp(k.mv_data, prefix, plen) != 0)
			break;
		memcpy(id, k.mv_data, k.mv_size);
		id[k.mv_size] = '\0';
		used = campaign_of_call_id(id, campaign) && strcmp(campaign, campaign_id) == 0;
	}
	mdb_cursor_close(cur);
	if (!used && rc != 0 && rc != MDB_NOTFOUND)
		return store_err(c->errmsg, c->errmsg_len, rc, "calls of campaign '%s'", campaign_id);
	return used;
}

int op_campaign_create(struct apply_ctx *c, const Callraft__CampaignCreate *op)
{
	Callraft__Campaign *old;
	MDB_stat st;
	int rc = campaign_get(c->s, c->txn, op->campaign_id, &old, c->errmsg, c->errmsg_len);

	if (rc < 0)
		return -1;
	if (rc == 0) {
		protobuf_c_message_free_unpacked(&old->base, NULL);
		ctx_fail(c, CALLRAFT__CODE__ALREADY_EXISTS, "campaign '%s' already exists",
			 op->campaign_id);
		return 0;
	}
	/* A deleted campaign's calls remain, and a client may have named a call so before the
	 * campaign existed (campaign_call_reserved refuses it only since): an id whose call ids are
	 * taken is never used (its releases would overwrite those calls). */
	if ((rc = campaign_call_ids_used(c, op->campaign_id)) < 0)
		return -1;
	if (rc == 1) {
		ctx_fail(c, CALLRAFT__CODE__ALREADY_EXISTS,
			 "campaign id '%s' was used before (calls '%s.NNNNNN' exist): choose another",
			 op->campaign_id, op->campaign_id);
		return 0;
	}
	if ((rc = mdb_stat(c->txn, c->s->dbi[DB_CAMPAIGNS], &st)) != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "campaigns");
	if (st.ms_entries >= CALLRAFT_CAMPAIGNS_MAX) {
		ctx_fail(c, CALLRAFT__CODE__RESOURCE_EXHAUSTED,
			 "campaign_create: %d campaigns exist (the most a Tick walks)",
			 CALLRAFT_CAMPAIGNS_MAX);
		return 0;
	}
	Callraft__Campaign *cp = &c->campaign;
	*cp = (Callraft__Campaign)CALLRAFT__CAMPAIGN__INIT;
	cp->campaign_id = op->campaign_id;
	cp->queue = op->queue;
	cp->site = op->site;
	cp->pacing_percent = op->pacing_percent != 0 ? op->pacing_percent : 100;
	cp->start_ms = op->start_ms;
	cp->end_ms = op->end_ms;
	cp->created_ms = c->now_ms;
	c->has_campaign = true;
	snprintf(c->msg, sizeof c->msg, "campaign '%s' created", cp->campaign_id);
	return campaign_put(c, cp);
}

/* Loads the command's campaign into c->campaign (owned by the context): 0, 1 with NOT_FOUND, -1. */
static int load(struct apply_ctx *c, const char *campaign_id)
{
	Callraft__Campaign *cp;
	int rc = campaign_get(c->s, c->txn, campaign_id, &cp, c->errmsg, c->errmsg_len);

	if (rc == 1)
		ctx_fail(c, CALLRAFT__CODE__NOT_FOUND, "campaign '%s': not found", campaign_id);
	if (rc != 0)
		return rc;
	ctx_own(c, &cp->base);
	c->campaign = *cp;
	c->has_campaign = true;
	return 0;
}

/* Appends one target unless its number is in the campaign already: 0 added, 1 duplicate, -1. */
static int add_target(struct apply_ctx *c, Callraft__Campaign *cp, const Callraft__CampaignTarget *t)
{
	uint8_t key[CAMPAIGN_KEY_BYTES_MAX], n_be[4];
	MDB_val k = {campaign_target_key(key, cp->campaign_id, CAMPAIGN_KEY_NUMBER, 0, t->number),
		     key},
		v;
	int rc = mdb_get(c->txn, c->s->dbi[DB_CAMPAIGN_TARGETS], &k, &v);

	if (rc == 0)
		return 1;
	if (rc != MDB_NOTFOUND)
		return store_err(c->errmsg, c->errmsg_len, rc, "campaign '%s' number '%s'",
				 cp->campaign_id, t->number);
	uint32_t n = cp->targets + 1;
	n_be[0] = (uint8_t)(n >> 24), n_be[1] = (uint8_t)(n >> 16), n_be[2] = (uint8_t)(n >> 8);
	n_be[3] = (uint8_t)n;
	if (store_put_raw(c->s, c->txn, DB_CAMPAIGN_TARGETS, key, k.mv_size, n_be, 4,
			  "campaign number", t->number, c->errmsg, c->errmsg_len) != 0)
		return -1;
	k.mv_size = campaign_target_key(key, cp->campaign_id, CAMPAIGN_KEY_TARGET, n, NULL);
	if (store_put(c->s, c->txn, DB_CAMPAIGN_TARGETS, key, k.mv_size, &t->base,
		      "campaign target", t->number, c->errmsg, c->errmsg_len) != 0)
		return -1;
	cp->targets = n;
	return 0;
}

int op_campaign_add(struct apply_ctx *c, const Callraft__CampaignAdd *op)
{
	int rc = load(c, op->campaign_id);
	unsigned added = 0, dup = 0;

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	Callraft__Campaign *cp = &c->campaign;
	if ((uint64_t)cp->targets + op->n_targets > CALLRAFT_CAMPAIGN_TARGETS_MAX) {
		ctx_fail(c, CALLRAFT__CODE__RESOURCE_EXHAUSTED,
			 "campaign '%s': %u targets + %zu would pass %d", cp->campaign_id, cp->targets,
			 op->n_targets, CALLRAFT_CAMPAIGN_TARGETS_MAX);
		return 0;
	}
	for (size_t i = 0; i < op->n_targets; i++) {
		rc = add_target(c, cp, op->targets[i]);
		if (rc < 0)
			return -1;
		added += rc == 0;
		dup += rc == 1;
	}
	cp->duplicates += dup;
	snprintf(c->msg, sizeof c->msg, "campaign '%s': %u target(s) added, %u duplicate(s) skipped",
		 cp->campaign_id, added, dup);
	return campaign_put(c, cp);
}

int op_campaign_pause(struct apply_ctx *c, const Callraft__CampaignPause *op)
{
	int rc = load(c, op->campaign_id);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	c->campaign.paused = op->paused;
	snprintf(c->msg, sizeof c->msg, "campaign '%s' %s", op->campaign_id,
		 op->paused ? "paused" : "resumed");
	return campaign_put(c, &c->campaign);
}

/* Over: every released call is final, and nothing more will be released (all released, paused,
 * or past its end). */
static bool campaign_over(const struct apply_ctx *c, const Callraft__Campaign *cp)
{
	bool settled = cp->reached + cp->unreached + cp->ended == cp->released;
	bool stopped = cp->released == cp->targets || cp->paused ||
		       (cp->end_ms != 0 && c->now_ms >= cp->end_ms);
	return settled && stopped;
}

int op_campaign_delete(struct apply_ctx *c, const Callraft__CampaignDelete *op)
{
	uint8_t prefix[CALLRAFT_CAMPAIGN_ID_BYTES_MAX + 1];
	size_t plen = strlen(op->campaign_id) + 1;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = load(c, op->campaign_id);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	const Callraft__Campaign *cp = &c->campaign;
	if (!campaign_over(c, cp)) {
		ctx_fail(c, CALLRAFT__CODE__BAD_STATE,
			 "campaign '%s' is not over: %u of %u target(s) released, %u call(s) in "
			 "progress (pause it and let them end first)",
			 cp->campaign_id, cp->released, cp->targets,
			 cp->released - cp->reached - cp->unreached - cp->ended);
		return 0;
	}
	memcpy(prefix, op->campaign_id, plen); /* the id and its '\0': both kinds of rows */
	if ((rc = mdb_cursor_open(c->txn, c->s->dbi[DB_CAMPAIGN_TARGETS], &cur)) != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "campaign '%s'", op->campaign_id);
	for (;;) { /* each time from the prefix: the first row left is the next to go */
		k = (MDB_val){plen, prefix};
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc != 0 || k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		store_account(c->s, DB_CAMPAIGN_TARGETS, k.mv_size, v.mv_size, true, 0, false);
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_err(c->errmsg, c->errmsg_len, rc, "campaign '%s': targets",
				 op->campaign_id);
	snprintf(c->msg, sizeof c->msg, "campaign '%s' deleted (%u target(s); its calls remain)",
		 op->campaign_id, cp->targets);
	return store_del(c->s, c->txn, DB_CAMPAIGNS, op->campaign_id, strlen(op->campaign_id),
			 "campaign", op->campaign_id, c->errmsg, c->errmsg_len) < 0
		   ? -1
		   : 0;
}

/* ---- release ------------------------------------------------------------------------------- */

/* The free agents of each queue a Tick asked about: counted once per queue and Tick, however many
 * campaigns share the queue. */
struct free_cache {
	unsigned n;
	char queue[CALLRAFT_CAMPAIGNS_MAX][CALLRAFT_QUEUE_BYTES_MAX + 1];
	uint32_t free[CALLRAFT_CAMPAIGNS_MAX];
};

static int free_agents_cached(struct apply_ctx *c, struct free_cache *fc, const char *queue,
			      uint32_t *out)
{
	for (unsigned i = 0; i < fc->n; i++)
		if (strcmp(fc->queue[i], queue) == 0) {
			*out = fc->free[i];
			return 0;
		}
	if (free_agents_count(c, queue, out) != 0)
		return -1;
	if (fc->n < CALLRAFT_CAMPAIGNS_MAX) { /* one queue per campaign at most */
		snprintf(fc->queue[fc->n], sizeof fc->queue[fc->n], "%s", queue);
		fc->free[fc->n++] = *out;
	}
	return 0;
}

/* How many targets campaign cp may release now (before the Tick's budget). */
static int release_room(struct apply_ctx *c, const Callraft__Campaign *cp, struct free_cache *fc,
			uint32_t *room)
{
	Callraft__Site site;
	uint32_t free;
	uint64_t waiting;
	int rc;

	*room = 0;
	if (cp->paused || cp->released >= cp->targets || c->now_ms < cp->start_ms ||
	    (cp->end_ms != 0 && c->now_ms >= cp->end_ms))
		return 0;
	if (route_site(c, cp->site, &site) != 0)
		return -1;
	if (site_calling_next(&site, c->now_ms) != c->now_ms)
		return 0; /* outside the owning site's calling hours */
	if (free_agents_cached(c, fc, cp->queue, &free) != 0)
		return -1;
	if ((rc = waiting_count(c->s, c->txn, 'q', cp->queue, &waiting)) != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "campaign '%s': waiting count",
				 cp->campaign_id);
	uint64_t want = ((uint64_t)free * cp->pacing_percent + 99) / 100;
	if (want > waiting)
		*room = (uint32_t)(want - waiting < cp->targets - cp->released
					   ? want - waiting
					   : cp->targets - cp->released);
	return 0;
}

/* Releases target n of cp as a callback call in its queue; *j: the Tick's calls so far. */
static int release_one(struct apply_ctx *c, Callraft__Campaign *cp, uint32_t n, unsigned *j)
{
	uint8_t key[CAMPAIGN_KEY_BYTES_MAX];
	char id[CALLRAFT_ID_BYTES_MAX + 1];
	Callraft__CampaignTarget *t;
	size_t klen = campaign_target_key(key, cp->campaign_id, CAMPAIGN_KEY_TARGET, n, NULL);
	int rc = store_get(c->s, c->txn, DB_CAMPAIGN_TARGETS, key, klen,
			   &callraft__campaign_target__descriptor, (ProtobufCMessage **)&t,
			   "campaign target", cp->campaign_id, c->errmsg, c->errmsg_len);

	if (rc != 0) /* C2: every n <= targets has its row */
		return rc < 0 ? -1
			      : store_err(c->errmsg, c->errmsg_len, MDB_NOTFOUND,
					  "campaign '%s' target %u", cp->campaign_id, n);
	Callraft__Call call;
	campaign_call_id(id, cp->campaign_id, n);
	call_init_waiting(c, &call, id, cp->queue, t->number, t->customer_id, cp->site);
	call.callback_number = t->number;
	call.callback = true;
	call.campaign_id = cp->campaign_id;
	call.enqueued_ms -= (CALLRAFT_CAMPAIGN_RELEASE_PER_TICK_MAX - 1) - (int64_t)*j;
	(*j)++;
	rc = (ctx_put_call(c, &call) != 0 || route_enter_queue(c, &call) != 0 ||
	      history_add(c, call.customer_id, "campaign", id) != 0)
		     ? -1
		     : 0;
	protobuf_c_message_free_unpacked(&t->base, NULL);
	return rc;
}

int campaigns_tick(struct apply_ctx *c)
{
	MDB_cursor *cur;
	MDB_val k, v;
	unsigned j = 0;
	char ids[CALLRAFT_CAMPAIGNS_MAX][CALLRAFT_CAMPAIGN_ID_BYTES_MAX + 1];
	struct free_cache fc; /* this Tick's; n reset below */
	size_t n = 0;
	int rc = mdb_cursor_open(c->txn, c->s->dbi[DB_CAMPAIGNS], &cur);

	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "campaigns");
	/* the ids first: releasing writes the table the cursor walks */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && n < CALLRAFT_CAMPAIGNS_MAX;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		size_t len = k.mv_size <= CALLRAFT_CAMPAIGN_ID_BYTES_MAX ? k.mv_size : 0;
		memcpy(ids[n], k.mv_data, len);
		ids[n++][len] = '\0';
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_err(c->errmsg, c->errmsg_len, rc, "campaigns");
	fc.n = 0;
	for (size_t i = 0; i < n && j < CALLRAFT_CAMPAIGN_RELEASE_PER_TICK_MAX; i++) {
		Callraft__Campaign *cp;
		uint32_t room;
		if ((rc = campaign_get(c->s, c->txn, ids[i], &cp, c->errmsg, c->errmsg_len)) != 0)
			return -1; /* listed a moment ago: absent is corruption too */
		rc = release_room(c, cp, &fc, &room);
		for (uint32_t r = 0; rc == 0 && r < room && j < CALLRAFT_CAMPAIGN_RELEASE_PER_TICK_MAX;
		     r++) {
			rc = release_one(c, cp, cp->released + 1, &j);
			cp->released += rc == 0;
		}
		if (rc == 0 && room > 0)
			rc = campaign_put(c, cp);
		protobuf_c_message_free_unpacked(&cp->base, NULL);
		if (rc != 0)
			return -1;
	}
	return 0;
}
