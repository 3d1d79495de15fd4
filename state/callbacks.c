/* callbacks.c: promises to call a customer back, and what a site loss turns into such promises.
 *
 * A callback is a Call record with callback = true: `call next` hands it to an agent like any call
 * (the reply carries callback and callback_number), and the agent dials out.
 *
 *   in-queue (op_callback_request)   a WAITING caller hangs up but keeps their place: the same
 *                                    record, flagged; a later CallAbandon of it changes nothing.
 *   scheduled (op_callback_schedule) SCHEDULED until at_ms (at most CALLRAFT_CALLBACK_AHEAD_MS_MAX
 *                                    ahead), then TIMER_RELEASE puts it in the queue with
 *                                    enqueued_ms = at_ms: callbacks are ordered by scheduled time.
 *   voicemail (op_callback_voicemail) SCHEDULED until the site's next opening (opens_at_minute,
 *                                    local time by utc_offset_minutes), then released with
 *                                    enqueued_ms = the voicemail's arrival: in order of arrival.
 *                                    If the site is open now (closes_at_minute set and the local
 *                                    time within [opens, closes)) it enters the queue at once.
 *                                    With the site's voicemail_per_hour_max, releases are spaced
 *                                    3600 s / cap apart (voicemail_release): the morning batch
 *                                    enters at that pace, in order of arrival.
 *
 * Calling hours (issue 16 item 3; site_hours.c): a callback of a site with calling hours is
 * dialled only inside them, in the site's local time from FSM time. Three places keep it:
 *   - a retry after an attempt not reached is scheduled into the next calling hour;
 *   - TIMER_RELEASE outside calling hours (the site's hours changed meanwhile) waits for them;
 *   - a dial attempt asked for outside them is not recorded: the callback goes back to SCHEDULED
 *     until the next calling hour with its key (place) kept, and the agent is free
 *     (defer_to_calling_hours; hours_deferrals counts them). Every attempt goes through
 *     op_call_dial_attempt, so no attempt is ever made outside calling hours.
 *
 *   SCHEDULED --TIMER_RELEASE--> WAITING --call next--> OFFERED --op_call_dial_attempt--> (dialing)
 *       --op_call_answer--> ANSWERED (reached)   --op_call_reject--> SCHEDULED (not reached: a
 *       retry later, place intact) or UNREACHED   --op_call_end--> ENDED (given up)
 *   OFFERED --op_call_dial_attempt outside calling hours--> SCHEDULED (not dialled, place intact)
 *
 * Dial attempts: CallDialAttempt is committed *before* the agent dials. While one is in progress
 * (dialing), a second is refused (BAD_STATE), the offer does not expire and a lapsed presence does
 * not take the call away; so no failover or retry makes a customer be called twice. At most
 * CALLRAFT_CALLBACK_ATTEMPTS_MAX attempts per callback.
 *
 * Site loss (callbacks_site_lost), by SiteDown or by the liveness rule (sitewatch.c: no evidence
 * of life from a watched site for site_loss_after_ms; for a site with agents only, every agent's
 * presence lease lapsed that long, callbacks_site_check):
 *   1. the site is marked down (routing.c then lets every site's agents take its callers at once);
 *   2. every caller WAITING who arrived there becomes a callback, keeping their queue key, so the
 *      surviving sites call them back in their original order; their number goes into by_number;
 *   3. its agents' open offers go back to the queue as callbacks under their original keys; their
 *      calls in progress are ENDED "site-lost" with a callback in their place
 *      (callbacks_end_site_lost); the agents become UNREACHABLE.
 * Nothing is deleted: every promise stays a record in `calls`.
 * Redial (callbacks_redial): a CallEnqueue whose (caller number, queue) is in by_number, of a call
 * still WAITING (held or not) or OFFERED (not being dialled back), or a site-loss callback
 * converted no longer than the queue's redial_window_ms ago, takes that call's place (queue, tier,
 * enqueued_ms, enqueue_seq); the earlier call is ENDED with merged_into set (its offer withdrawn),
 * so the customer is neither called back nor queued twice. docs/routing.md states every rule.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_internal.h"

#define DAY_MS (24ll * 3600 * 1000)

int op_callback_request(struct apply_ctx *c, const Callraft__CallbackRequest *op)
{
	Callraft__Call *call = &c->call;
	int rc = ctx_load_call(c, op->call_id);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (call->state != CALLRAFT__CALL_STATE__WAITING) {
		ctx_fail(c, CALLRAFT__CODE__BAD_STATE,
			 "call '%s' is %s: only a WAITING caller can ask "
			 "for a callback",
			 op->call_id, state_call_state_name(call->state));
		return 0;
	}
	if (call->callback) {
		snprintf(c->msg, sizeof c->msg, "already a callback");
		return 0;
	}
	call->callback_number = op->number[0] != '\0' ? op->number : call->caller_number;
	if (call->callback_number[0] == '\0') {
		ctx_fail(c, CALLRAFT__CODE__BAD_STATE, "call '%s': no number to call back",
			 op->call_id);
		return 0;
	}
	call->callback = true;
	if (ctx_put_call(c, call) != 0 || stats_count(c, call, STATS_CALLBACK) != 0)
		return -1;
	return history_add(c, call->customer_id, "callback", call->call_id);
}

/* A new SCHEDULED callback record from the command's fields; released at release_ms (at once if
 * that is not in the future). */
static int schedule(struct apply_ctx *c, const char *id, const char *customer, const char *number,
		    const char *queue, const char *site, uint32_t tier, int64_t release_ms,
		    int64_t enqueued_ms, const char *kind)
{
	Callraft__Call *call = &c->call;

	*call = (Callraft__Call)CALLRAFT__CALL__INIT;
	c->has_call = true;
	call->call_id = (char *)id;
	call->queue = (char *)queue;
	call->caller_number = (char *)number;
	call->callback_number = (char *)number;
	call->customer_id = (char *)customer;
	call->arrival_site = (char *)site;
	call->tier = tier;
	call->callback = true;
	call->enqueued_ms = enqueued_ms;
	call->enqueue_seq = (c->index << CALLRAFT_BATCH_POSITION_BITS) | c->position;
	call->release_ms = release_ms;
	if (history_add(c, customer, kind, id) != 0)
		return -1;
	if (release_ms <= c->now_ms) {
		call->state = CALLRAFT__CALL_STATE__WAITING;
		return (ctx_put_call(c, call) != 0 || route_enter_queue(c, call) != 0) ? -1 : 0;
	}
	call->state = CALLRAFT__CALL_STATE__SCHEDULED;
	return (ctx_put_call(c, call) != 0 || timer_set(c, TIMER_RELEASE, release_ms, id) != 0) ? -1
												: 0;
}

/* The existing record of an idempotent create: 1 (attached, outcome set) if it exists; 1 with
 * ALREADY_EXISTS if the id is an outbound campaign's (campaign_call_reserved). */
static int existing(struct apply_ctx *c, const char *id)
{
	Callraft__Call *old;
	int rc = ctx_get_call(c, id, &old);

	if (rc == 0) {
		ctx_attach_call(c, old);
		snprintf(c->msg, sizeof c->msg, "already exists");
		return 1;
	}
	return rc == 1 ? campaign_call_reserved(c, id) : -1;
}

int op_callback_schedule(struct apply_ctx *c, const Callraft__CallbackSchedule *op)
{
	int rc = existing(c, op->callback_id);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (op->at_ms > c->now_ms + CALLRAFT_CALLBACK_AHEAD_MS_MAX) {
		ctx_fail(c, CALLRAFT__CODE__INVALID_ARGUMENT,
			 "callback_schedule: at_ms: more than %lld days ahead",
			 CALLRAFT_CALLBACK_AHEAD_MS_MAX / DAY_MS);
		return 0;
	}
	int64_t at = op->at_ms > c->now_ms ? op->at_ms : c->now_ms;
	return schedule(c, op->callback_id, op->customer_id, op->number, op->queue, "", op->tier,
			at, at, "callback");
}

/* The release time of a new voicemail callback of site `s` (issue 16 item 3): the site's next
 * opening (now if it is open), then, under an hourly cap, no earlier than the site's next free
 * slot (a slot past a known closing time moves to the next opening), then inside its calling
 * hours. The cap spaces releases 3600 s / cap apart: a night of voicemails enters the queue from
 * the opening on at that pace, in order of arrival, and the morning shift is not flooded. */
static int64_t voicemail_release(Callraft__Site *s, int64_t now_ms)
{
	int64_t release = site_opening_next(s, now_ms);

	if (s->voicemail_per_hour_max > 0 && s->voicemail_next_ms > release) {
		release = s->voicemail_next_ms;
		if (s->closes_at_minute != s->opens_at_minute)
			release = site_opening_next(s, release);
	}
	release = site_calling_next(s, release);
	if (s->voicemail_per_hour_max > 0)
		s->voicemail_next_ms = release + 3600000ll / s->voicemail_per_hour_max;
	return release;
}

int op_callback_voicemail(struct apply_ctx *c, const Callraft__CallbackVoicemail *op)
{
	Callraft__Site site;
	int rc = existing(c, op->callback_id);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (route_site(c, op->site, &site) != 0)
		return -1;
	int64_t release = c->now_ms;
	if (site.configured) {
		release = voicemail_release(&site, c->now_ms);
		if (site.voicemail_per_hour_max > 0 && route_site_put(c, &site) != 0)
			return -1;
	}
	return schedule(c, op->callback_id, op->customer_id, op->number, op->queue, op->site,
			op->tier, release, c->now_ms, "voicemail");
}

/* The first time at or after t when a callback of call's arrival site may be dialled (its site's
 * calling hours; a call of no site, or a site without calling hours: t). 0, or -1. */
static int calling_next(struct apply_ctx *c, const Callraft__Call *call, int64_t t, int64_t *out)
{
	Callraft__Site site;

	if (route_site(c, call->arrival_site, &site) != 0)
		return -1;
	*out = site_calling_next(&site, t);
	return 0;
}

int callbacks_release(struct apply_ctx *c, const char *call_id, int64_t due_ms)
{
	Callraft__Call *call;
	int rc = ctx_get_call(c, call_id, &call);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (call->state == CALLRAFT__CALL_STATE__SCHEDULED && call->release_ms == due_ms) {
		int64_t at;
		rc = calling_next(c, call, c->now_ms, &at);
		if (rc == 0 && at > c->now_ms) { /* outside its site's calling hours: wait for them */
			call->release_ms = at;
			rc = (ctx_put_call(c, call) != 0 ||
			      timer_set(c, TIMER_RELEASE, at, call->call_id) != 0)
				 ? -1
				 : 0;
		} else if (rc == 0) {
			call->state = CALLRAFT__CALL_STATE__WAITING;
			/* a retry or a deferral re-enters: it entered the queue once already */
			bool again = call->dial_attempts > 0 || call->hours_deferrals > 0;
			rc = (ctx_put_call(c, call) != 0 ||
			      (again ? route_queue_put(c, call) : route_enter_queue(c, call)) != 0)
				 ? -1
				 : 0;
		}
	}
	protobuf_c_message_free_unpacked(&call->base, NULL);
	return rc;
}

/* Ends the open offer of an OFFERED call (its timer) and frees the agent holding it; the call
 * record is the caller's to change and write. */
static int withdraw_offer(struct apply_ctx *c, const Callraft__Call *call)
{
	Callraft__Agent *a;
	int rc = ctx_get_agent(c, call->agent_id, &a);

	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc < 0 ? MDB_CORRUPTED : MDB_NOTFOUND,
				 "agent '%s' of call '%s'", call->agent_id, call->call_id);
	Callraft__Agent copy = *a;
	rc = (timer_del(c, TIMER_OFFER, call->offer_expires_ms, call->call_id) != 0 ||
	      route_release_agent(c, &copy) != 0)
		     ? -1
		     : 0;
	protobuf_c_message_free_unpacked(&a->base, NULL);
	return rc;
}

/* A dial attempt asked for outside the calling hours of the callback's site: nothing is dialled
 * and no attempt is counted; the offer ends (the agent is free), and the callback is SCHEDULED
 * until the next calling hour, when it re-enters the queue under its original key (its place). */
static int defer_to_calling_hours(struct apply_ctx *c, Callraft__Call *call, int64_t at)
{
	if (withdraw_offer(c, call) != 0)
		return -1;
	call->state = CALLRAFT__CALL_STATE__SCHEDULED;
	call->agent_id = "";
	call->offer_expires_ms = 0;
	call->release_ms = at;
	call->hours_deferrals++;
	snprintf(c->msg, sizeof c->msg,
		 "not dialled: outside the calling hours of site '%s'; back in its place at %lld",
		 call->arrival_site, (long long)at);
	return (ctx_put_call(c, call) != 0 || timer_set(c, TIMER_RELEASE, at, call->call_id) != 0)
		   ? -1
		   : 0;
}

int op_call_dial_attempt(struct apply_ctx *c, const Callraft__CallDialAttempt *op)
{
	Callraft__Call *call = &c->call;
	int rc = ctx_load_call(c, op->call_id);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (!call->callback || call->state != CALLRAFT__CALL_STATE__OFFERED ||
	    strcmp(call->agent_id, op->agent_id) != 0) {
		ctx_fail(c, CALLRAFT__CODE__BAD_STATE,
			 "call '%s' is not a callback offered to agent '%s'", op->call_id,
			 op->agent_id);
		return 0;
	}
	if (call->dialing) {
		ctx_fail(c, CALLRAFT__CODE__BAD_STATE,
			 "call '%s': a dial attempt is already in progress", op->call_id);
		return 0;
	}
	if (call->dial_attempts >= CALLRAFT_CALLBACK_ATTEMPTS_MAX) {
		ctx_fail(c, CALLRAFT__CODE__BAD_STATE, "call '%s': %u dial attempts made: end it",
			 op->call_id, call->dial_attempts);
		return 0;
	}
	int64_t at;
	if (calling_next(c, call, c->now_ms, &at) != 0)
		return -1;
	if (at > c->now_ms)
		return defer_to_calling_hours(c, call, at);
	if (timer_del(c, TIMER_OFFER, call->offer_expires_ms, call->call_id) != 0)
		return -1;
	call->offer_expires_ms = 0; /* dialling: the offer no longer expires */
	call->dialing = true;
	call->dial_attempts++;
	return ctx_put_call(c, call);
}

/* A callback dialled and not reached (CallReject of a dial attempt; issue 16 item 3): an invalid
 * number, or the queue's callback_attempts_max-th attempt unanswered, makes it UNREACHED (final;
 * the event CALL_UNREACHED tells the SMS gateway, with the reason); else it is SCHEDULED again
 * callback_retry_ms later and then re-enters the queue under its original key: its place is
 * kept, and five attempts no longer go in a minute. The agent is released by the caller.
 * `why` names the outcome in the history and the reason; `final`: UNREACHED at once. */
static int not_reached(struct apply_ctx *c, Callraft__Call *call, const char *why, bool final)
{
	Callraft__QueueConfig cfg;
	uint32_t max;

	assert(call->state == CALLRAFT__CALL_STATE__OFFERED && call->dialing);
	if (route_queue_config(c, call->queue, &cfg) != 0 ||
	    timer_del(c, TIMER_OFFER, call->offer_expires_ms, call->call_id) != 0 ||
	    history_add_detail(c, call->customer_id, "not-reached", call->call_id, why) != 0)
		return -1;
	max = cfg.callback_attempts_max >= 1 && cfg.callback_attempts_max <= CALLRAFT_CALLBACK_ATTEMPTS_MAX
		      ? cfg.callback_attempts_max
		      : CALLRAFT_CALLBACK_ATTEMPTS_MAX;
	call->agent_id = "";
	call->offer_expires_ms = 0;
	call->dialing = false;
	if (final || call->dial_attempts >= max) {
		snprintf(c->msg, sizeof c->msg, "%s after %u attempt(s)", why, call->dial_attempts);
		call->state = CALLRAFT__CALL_STATE__UNREACHED;
		call->ended_ms = c->now_ms;
		call->outcome = c->msg; /* copied when the call is packed, before c->msg changes */
		return (ctx_put_call(c, call) != 0 ||
			history_add_detail(c, call->customer_id, "unreached", call->call_id, c->msg) != 0)
			   ? -1
			   : 0;
	}
	call->state = CALLRAFT__CALL_STATE__SCHEDULED;
	if (calling_next(c, call, c->now_ms + (cfg.callback_retry_ms > 0 ? cfg.callback_retry_ms : 0),
			 &call->release_ms) != 0)
		return -1;
	if (call->release_ms <= c->now_ms) { /* a queue configured before retries: at once */
		call->state = CALLRAFT__CALL_STATE__WAITING;
		return (ctx_put_call(c, call) != 0 || route_queue_put(c, call) != 0) ? -1 : 0;
	}
	return (ctx_put_call(c, call) != 0 ||
		timer_set(c, TIMER_RELEASE, call->release_ms, call->call_id) != 0)
		   ? -1
		   : 0;
}

int callbacks_not_reached(struct apply_ctx *c, Callraft__Call *call, Callraft__DialOutcome outcome)
{
	static const char *const names[] = {"no-answer", "no-answer", "busy", "invalid-number"};

	return not_reached(c, call, names[outcome <= CALLRAFT__DIAL_OUTCOME__INVALID_NUMBER ? outcome : 0],
			   outcome == CALLRAFT__DIAL_OUTCOME__INVALID_NUMBER);
}

/* ---- site loss -------------------------------------------------------------------------- */

/* The by_number key of a caller in a queue: number '\0' queue. */
#define BYN_KEY_BYTES_MAX (CALLRAFT_PHONE_BYTES_MAX + 1 + CALLRAFT_QUEUE_BYTES_MAX)
static size_t byn_key(uint8_t out[BYN_KEY_BYTES_MAX], const char *number, const char *queue)
{
	size_t n = strlen(number), q = strlen(queue);

	assert(n >= 1 && n <= CALLRAFT_PHONE_BYTES_MAX && q <= CALLRAFT_QUEUE_BYTES_MAX);
	memcpy(out, number, n);
	out[n] = '\0';
	memcpy(out + n + 1, queue, q);
	return n + 1 + q;
}

int callbacks_number_put(struct apply_ctx *c, const Callraft__Call *call)
{
	uint8_t key[BYN_KEY_BYTES_MAX];

	if (call->caller_number[0] == '\0')
		return 0;
	return store_put_raw(c->s, c->txn, DB_BY_NUMBER, key,
			     byn_key(key, call->caller_number, call->queue), call->call_id,
			     strlen(call->call_id), "by number", call->caller_number, c->errmsg,
			     c->errmsg_len);
}

int callbacks_convert(struct apply_ctx *c, Callraft__Call *call)
{
	call->callback = true;
	if (call->callback_number[0] == '\0')
		call->callback_number = call->caller_number;
	call->converted_ms = c->now_ms;
	return callbacks_number_put(c, call);
}

/* Step 2: every caller waiting who arrived at `site` becomes a callback, place intact. */
static int convert_waiting(struct apply_ctx *c, const char *site, unsigned *n)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(c->txn, c->s->dbi[DB_QUEUE], &cur);

	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "site '%s' lost: queue", site);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && *n < CALLRAFT_SITE_CONVERT_MAX;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		char id[CALLRAFT_ID_BYTES_MAX + 1];
		Callraft__Call *call;

		memcpy(id, v.mv_data, v.mv_size);
		id[v.mv_size] = '\0';
		if (ctx_get_call(c, id, &call) != 0) {
			rc = -1;
			break;
		}
		if (strcmp(call->arrival_site, site) == 0 && !call->callback) {
			Callraft__Call copy = *call;
			rc = (callbacks_convert(c, &copy) != 0 || ctx_put_call(c, &copy) != 0) ? -1 : 0;
			(*n)++;
		}
		protobuf_c_message_free_unpacked(&call->base, NULL);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc == -1)
		return -1;
	return rc == 0 || rc == MDB_NOTFOUND
		   ? 0
		   : store_err(c->errmsg, c->errmsg_len, rc, "site '%s'", site);
}

/* The ids of the logged-in agents of `site` (malloc'd, strings too); -1 on failure. */
static int site_agents(struct apply_ctx *c, const char *site, char ***ids, size_t *n)
{
	MDB_cursor *cur;
	MDB_val k, v;
	size_t cap = 0;
	int rc = mdb_cursor_open(c->txn, c->s->dbi[DB_AGENTS], &cur);

	*ids = NULL;
	*n = 0;
	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "site '%s': agents", site);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		Callraft__Agent *a = callraft__agent__unpack(NULL, v.mv_size, v.mv_data);
		bool take = a != NULL && strcmp(a->site, site) == 0 &&
			    a->state != CALLRAFT__AGENT_STATE__OFFLINE;
		if (a != NULL)
			callraft__agent__free_unpacked(a, NULL);
		if (!take)
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			char **grown = realloc(*ids, cap * sizeof **ids);
			if (grown == NULL)
				break;
			*ids = grown;
		}
		(*ids)[*n] = strndup(k.mv_data, k.mv_size);
		if ((*ids)[*n] == NULL)
			break;
		(*n)++;
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		return 0;
	snprintf(c->errmsg, c->errmsg_len, "state: site '%s': agents: %s", site,
		 rc == 0 ? "out of memory" : mdb_strerror(rc));
	return -1;
}

static void free_ids(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* A deterministic id for the callback of a call ended by a site loss, not used by any call. */
static int callback_id(struct apply_ctx *c, char out[CALLRAFT_ID_BYTES_MAX + 1])
{
	for (unsigned i = 0; i < 1000; i++) {
		Callraft__Call *old;
		snprintf(out, CALLRAFT_ID_BYTES_MAX + 1, "site-lost:%llu.%u.%u",
			 (unsigned long long)c->index, c->position, i);
		int rc = ctx_get_call(c, out, &old);
		if (rc != 0)
			return rc < 0 ? -1 : 0;
		protobuf_c_message_free_unpacked(&old->base, NULL);
	}
	return store_err(c->errmsg, c->errmsg_len, MDB_KEYEXIST, "site-lost callback id");
}

int callbacks_end_site_lost(struct apply_ctx *c, Callraft__Call *call)
{
	Callraft__QueueConfig cfg;
	char id[CALLRAFT_ID_BYTES_MAX + 1];
	const char *number = call->callback_number[0] != '\0' ? call->callback_number
							      : call->caller_number;

	assert(call->state == CALLRAFT__CALL_STATE__ANSWERED ||
	       call->state == CALLRAFT__CALL_STATE__OFFERED);
	/* A campaign call (campaigns.c) is one target, called once: being dialled, the attempt counts
	 * as not reached and is retried in its place; answered, it was reached: no callback. */
	if (call->campaign_id[0] != '\0' && call->state == CALLRAFT__CALL_STATE__OFFERED)
		return not_reached(c, call, "site-lost", false);
	if (route_queue_config(c, call->queue, &cfg) != 0 ||
	    timer_del(c, TIMER_OFFER, call->offer_expires_ms, call->call_id) != 0)
		return -1;
	call->state = CALLRAFT__CALL_STATE__ENDED;
	call->ended_ms = c->now_ms;
	call->offer_expires_ms = 0;
	call->dialing = false;
	call->outcome = "site-lost";
	if (history_add_detail(c, call->customer_id, "ended", call->call_id, "site-lost") != 0)
		return -1;
	if (!cfg.site_lost_no_callback && number[0] != '\0' && call->campaign_id[0] == '\0') {
		Callraft__Call cb = CALLRAFT__CALL__INIT;
		if (callback_id(c, id) != 0)
			return -1;
		cb.call_id = id;
		cb.queue = call->queue;
		cb.caller_number = (char *)number;
		cb.callback_number = (char *)number;
		cb.customer_id = call->customer_id;
		cb.tier = call->tier;
		cb.arrival_site = call->arrival_site;
		cb.state = CALLRAFT__CALL_STATE__WAITING;
		cb.enqueued_ms = call->enqueued_ms; /* the original place */
		cb.enqueue_seq = call->enqueue_seq;
		cb.callback = true;
		cb.converted_ms = c->now_ms;
		cb.origin_call_id = call->call_id;
		call->callback_id = id;
		if (ctx_put_call(c, &cb) != 0 || route_queue_put(c, &cb) != 0 ||
		    callbacks_number_put(c, &cb) != 0 || stats_count(c, &cb, STATS_CALLBACK) != 0 ||
		    history_add(c, cb.customer_id, "callback", cb.call_id) != 0)
			return -1;
	}
	return ctx_put_call(c, call);
}

/* Step 3 for one agent: an open offer goes back as a callback (place intact); a call in progress
 * (answered, or a callback being dialled) is ended "site-lost" with a callback in its place
 * (callbacks_end_site_lost); the agent becomes UNREACHABLE. */
static int agent_lost(struct apply_ctx *c, const char *agent_id)
{
	Callraft__Agent *a, upd;
	Callraft__Call *call = NULL, copy;
	int rc = ctx_get_agent(c, agent_id, &a);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (a->state == CALLRAFT__AGENT_STATE__ON_CALL) {
		rc = ctx_get_call(c, a->call_id, &call);
		if (rc == 0) {
			copy = *call;
			if (call->state == CALLRAFT__CALL_STATE__ANSWERED || call->dialing)
				rc = callbacks_end_site_lost(c, &copy);
			else
				rc = ((!copy.callback && callbacks_convert(c, &copy) != 0) ||
				      route_requeue(c, &copy) != 0)
					 ? -1
					 : 0;
		} else {
			rc = -1;
		}
	}
	if (rc == 0) {
		upd = *a;
		upd.state = CALLRAFT__AGENT_STATE__UNREACHABLE;
		upd.call_id = "";
		upd.reason = "";
		upd.since_ms = c->now_ms;
		rc = ctx_put_agent(c, &upd);
	}
	if (call != NULL)
		protobuf_c_message_free_unpacked(&call->base, NULL);
	protobuf_c_message_free_unpacked(&a->base, NULL);
	return rc;
}

int callbacks_site_lost(struct apply_ctx *c, const char *site, const char *reason, bool automatic)
{
	Callraft__Site s;
	char **ids;
	size_t n_agents;
	unsigned n_calls = 0;
	int rc = 0;

	if (route_site(c, site, &s) != 0)
		return -1;
	if (s.down) {
		snprintf(c->msg, sizeof c->msg, "site '%s' is already down", site);
		return 0;
	}
	s.down = true;
	s.down_since_ms = c->now_ms;
	s.down_reason = (char *)reason;
	s.lost_auto = automatic;
	if (route_site_put(c, &s) != 0 || convert_waiting(c, site, &n_calls) != 0 ||
	    site_agents(c, site, &ids, &n_agents) != 0)
		return -1;
	for (size_t i = 0; i < n_agents && rc == 0; i++)
		rc = agent_lost(c, ids[i]);
	free_ids(ids, n_agents);
	snprintf(
	    c->msg, sizeof c->msg,
	    "site '%s' down: %u waiting caller(s) and the calls of %zu agent(s) became callbacks",
	    site, n_calls, n_agents);
	return rc;
}

int op_site_down(struct apply_ctx *c, const Callraft__SiteDown *op)
{
	return callbacks_site_lost(c, op->site, op->reason[0] != '\0' ? op->reason : "operator",
				   false);
}

int op_site_up(struct apply_ctx *c, const Callraft__SiteUp *op)
{
	Callraft__Site s;

	if (route_site(c, op->site, &s) != 0)
		return -1;
	s.down = false;
	s.lost_auto = false;
	s.down_since_ms = 0;
	s.down_reason = "";
	snprintf(c->msg, sizeof c->msg, "site '%s' up", op->site);
	return route_site_put(c, &s);
}

/* TIMER_SITE, for a site that is not watched (no nodes reported, no PBX heartbeat: sitewatch.c
 * decides the others): the site is lost when every logged-in agent's presence lease has lapsed
 * (whatever its state, on a call too) for site_loss_after_ms. */
int callbacks_site_check(struct apply_ctx *c, const char *site)
{
	Callraft__Site s;
	char **ids;
	size_t n;
	int64_t last = 0;
	int rc = 0;
	bool live = false;

	if (route_site(c, site, &s) != 0)
		return -1;
	if (s.down || sitelive_watched(&s))
		return 0;
	if (site_agents(c, site, &ids, &n) != 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0 && !live; i++) {
		Callraft__Agent *a;
		rc = ctx_get_agent(c, ids[i], &a);
		if (rc != 0)
			break;
		live = a->presence_due_ms > c->now_ms;
		if (a->presence_due_ms > last)
			last = a->presence_due_ms;
		protobuf_c_message_free_unpacked(&a->base, NULL);
	}
	free_ids(ids, n);
	if (rc != 0)
		return -1;
	if (n == 0 || live || c->now_ms - last < s.site_loss_after_ms)
		return 0;
	return callbacks_site_lost(c, site, "every agent's presence lease lapsed", true);
}

/* The earlier call of a redialling caller: by (number, queue), or by number alone (the key of
 * states written before issue 12). 0 with *old, 1 if none. */
static int redial_find(struct apply_ctx *c, const Callraft__Call *call, Callraft__Call **old)
{
	uint8_t key[BYN_KEY_BYTES_MAX];
	char id[CALLRAFT_ID_BYTES_MAX + 1];
	MDB_val k = {byn_key(key, call->caller_number, call->queue), key}, v;
	int rc = mdb_get(c->txn, c->s->dbi[DB_BY_NUMBER], &k, &v);

	if (rc == MDB_NOTFOUND) {
		k = (MDB_val){strlen(call->caller_number), call->caller_number};
		rc = mdb_get(c->txn, c->s->dbi[DB_BY_NUMBER], &k, &v);
	}
	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc != 0 || v.mv_size == 0 || v.mv_size > CALLRAFT_ID_BYTES_MAX)
		return store_err(c->errmsg, c->errmsg_len, rc ? rc : MDB_CORRUPTED,
				 "by number '%s'", call->caller_number);
	memcpy(id, v.mv_data, v.mv_size);
	id[v.mv_size] = '\0';
	rc = ctx_get_call(c, id, old);
	if (rc == 0 && strcmp((*old)->queue, call->queue) != 0) {
		protobuf_c_message_free_unpacked(&(*old)->base, NULL);
		return 1;
	}
	return rc;
}

/* Whether the earlier call still holds a place the redial takes (see the header). */
static bool redial_keeps_place(struct apply_ctx *c, const Callraft__Call *old,
			       const Callraft__QueueConfig *cfg)
{
	if (old->state != CALLRAFT__CALL_STATE__WAITING && old->state != CALLRAFT__CALL_STATE__OFFERED)
		return false;
	if (old->state == CALLRAFT__CALL_STATE__OFFERED && old->callback && old->dialing)
		return false; /* the agent is dialling them right now: that call goes on */
	return old->converted_ms == 0 || c->now_ms - old->converted_ms <= cfg->redial_window_ms;
}

/* Takes the earlier call out of its place: out of the queue, or its offer withdrawn. */
static int redial_vacate(struct apply_ctx *c, Callraft__Call *old)
{
	if (old->state == CALLRAFT__CALL_STATE__WAITING)
		return route_queue_del(c, old) < 0 ? -1 : 0;
	return withdraw_offer(c, old);
}

int callbacks_redial(struct apply_ctx *c, Callraft__Call *call)
{
	Callraft__QueueConfig cfg;
	Callraft__Call *old;
	int rc;

	if (call->caller_number[0] == '\0')
		return 0;
	if ((rc = redial_find(c, call, &old)) != 0)
		return rc < 0 ? -1 : 0;
	ctx_own(c, &old->base);
	if (route_queue_config(c, old->queue, &cfg) != 0)
		return -1;
	if (!redial_keeps_place(c, old, &cfg))
		return 0;
	if (redial_vacate(c, old) != 0)
		return -1;
	Callraft__Call upd = *old;
	upd.state = CALLRAFT__CALL_STATE__ENDED;
	upd.ended_ms = c->now_ms;
	upd.merged_into = call->call_id;
	upd.agent_id = "";
	upd.offer_expires_ms = 0;
	upd.dialing = false;
	call->queue = old->queue;
	call->tier = old->tier;
	call->enqueued_ms = old->enqueued_ms;
	call->enqueue_seq = old->enqueue_seq;
	call->preferred_agent = old->preferred_agent;
	call->preferred_until_ms = old->preferred_until_ms;
	call->merged_from = old->call_id;
	snprintf(c->msg, sizeof c->msg, "redial: took the place of call '%s'", old->call_id);
	return (ctx_put_call(c, &upd) != 0 ||
		history_add(c, call->customer_id, "redial", call->call_id) != 0)
		       ? -1
		       : 1;
}
