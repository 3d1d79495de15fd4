/* events.c: the event stream of issue #14, an ordered, resumable log of committed changes.
 *
 * Model. Every change a contact center integration cares about (a call queued, offered, answered,
 * ended, abandoned, made a callback, returned to the queue; an agent's state; a ticket opened or
 * updated; a site lost or restored; a member recorded or removed) is written by apply into the
 * `events` table, in the same LMDB transaction as the change itself:
 *
 *   events   be64(log index) be32(position) -> Event
 *
 * position counts the events of one entry from 0 (an entry batches up to 256 commands and one
 * command may make several changes). A command that fails rolls back its nested transaction, its
 * events with it, and gives their positions back. Every replica applies the same entries at the
 * same indexes, so every replica writes byte-identical events: a subscriber may resume on any node
 * from the cursor (index, position) it last saw and gets every later event exactly once, in log
 * order (etcd's watch from a revision). A node's table is a prefix of the committed log's events:
 * a lagging follower has fewer, never different ones.
 *
 * Who emits. Calls, agents and sites are emitted centrally where their records are written
 * (ctx_put_call, ctx_put_agent, route_site_put compare the old record with the new one and call
 * event_call_changed / event_agent_changed / event_site_changed), so a new code path that changes
 * a call's state emits its event without knowing about this file. Tickets and members call
 * event_emit themselves. Another module that needs a new kind adds it to EventKind and calls
 * event_emit.
 *
 * Retention (deterministic: FSM time and counts only). After each entry, apply trims the oldest
 * events while there are more than CALLRAFT_EVENTS_RETAINED_MAX or the oldest is older than
 * CALLRAFT_EVENTS_RETAINED_MS (FSM time), at most (events the entry added +
 * CALLRAFT_EVENTS_TRIM_PER_ENTRY) per entry. meta "events_trimmed" holds the highest index trimmed:
 * a read from an index at or below it gets COMPACTED (etcd's "required revision has been
 * compacted"), since some of that index's events may be gone.
 *
 * Invariants:
 *   1. Keys only grow within the table over time: an entry's events are appended after every
 *      event of earlier entries (index is the applied index, which only grows).
 *   2. Every event's index is > meta.events_trimmed.
 *   3. An event's stored index and position equal its key's. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_internal.h"

#define EVENT_KEY_BYTES 12
#define META_EVENTS_TRIMMED "events_trimmed"

static void event_key(uint8_t out[EVENT_KEY_BYTES], uint64_t index, uint32_t position)
{
	be64_put(out, index);
	out[8] = (uint8_t)(position >> 24);
	out[9] = (uint8_t)(position >> 16);
	out[10] = (uint8_t)(position >> 8);
	out[11] = (uint8_t)position;
}

static uint32_t be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int event_emit(struct apply_ctx *c, Callraft__Event *ev)
{
	uint8_t key[EVENT_KEY_BYTES];
	char subject[48];

	assert(c->event_pos != NULL && ev->kind != CALLRAFT__EVENT_KIND__EVENT_KIND_NONE);
	ev->index = c->index;
	ev->position = (*c->event_pos)++;
	ev->at_ms = c->now_ms;
	event_key(key, ev->index, ev->position);
	snprintf(subject, sizeof subject, "%llu.%u", (unsigned long long)ev->index, ev->position);
	return store_put(c->s, c->txn, DB_EVENTS, key, sizeof key, &ev->base, "event", subject,
			 c->errmsg, c->errmsg_len);
}

/* The kind of change from `old` (NULL: a new call) to `now`, or NONE if nothing an integration
 * follows changed (a dial attempt, a known-agent update). */
static Callraft__EventKind call_change_kind(const Callraft__Call *old, const Callraft__Call *now)
{
	Callraft__CallState was = old != NULL ? old->state : CALLRAFT__CALL_STATE__CALL_STATE_NONE;
	bool callback_now = now->callback && (old == NULL || !old->callback ||
					      old->converted_ms != now->converted_ms);

	if (was == now->state && !callback_now)
		return CALLRAFT__EVENT_KIND__EVENT_KIND_NONE;
	switch (now->state) {
	case CALLRAFT__CALL_STATE__WAITING:
		if (was == CALLRAFT__CALL_STATE__OFFERED || was == CALLRAFT__CALL_STATE__ANSWERED)
			return callback_now ? CALLRAFT__EVENT_KIND__CALL_CALLBACK
					    : CALLRAFT__EVENT_KIND__CALL_REQUEUED;
		if (callback_now)
			return CALLRAFT__EVENT_KIND__CALL_CALLBACK;
		return CALLRAFT__EVENT_KIND__CALL_QUEUED;
	case CALLRAFT__CALL_STATE__SCHEDULED: return CALLRAFT__EVENT_KIND__CALL_CALLBACK;
	case CALLRAFT__CALL_STATE__OFFERED: return CALLRAFT__EVENT_KIND__CALL_OFFERED;
	case CALLRAFT__CALL_STATE__ANSWERED: return CALLRAFT__EVENT_KIND__CALL_ANSWERED;
	case CALLRAFT__CALL_STATE__ENDED: return CALLRAFT__EVENT_KIND__CALL_ENDED;
	case CALLRAFT__CALL_STATE__ABANDONED: return CALLRAFT__EVENT_KIND__CALL_ABANDONED;
	case CALLRAFT__CALL_STATE__UNREACHED: return CALLRAFT__EVENT_KIND__CALL_UNREACHED;
	default: return CALLRAFT__EVENT_KIND__EVENT_KIND_NONE;
	}
}

int event_call_changed(struct apply_ctx *c, const Callraft__Call *old, const Callraft__Call *now)
{
	Callraft__Event ev = CALLRAFT__EVENT__INIT;

	ev.kind = call_change_kind(old, now);
	if (ev.kind == CALLRAFT__EVENT_KIND__EVENT_KIND_NONE)
		return 0;
	ev.call_id = now->call_id;
	ev.queue = now->queue;
	ev.site = now->arrival_site;
	ev.customer_id = now->customer_id;
	ev.caller_number = now->caller_number;
	ev.tier = now->tier;
	ev.call_state = now->state;
	ev.callback = now->callback;
	ev.callback_number = now->callback_number;
	ev.ticket_code = now->ticket_code;
	/* The agent an offer, a talk or its end concerns; a requeued call names the one it left. */
	if (now->agent_id[0] != '\0')
		ev.agent_id = now->agent_id;
	else if (old != NULL && old->agent_id[0] != '\0')
		ev.agent_id = old->agent_id;
	if (now->state == CALLRAFT__CALL_STATE__OFFERED) {
		ev.offer_term = now->offer_term;
		ev.offer_index = now->offer_index;
	}
	if (now->state == CALLRAFT__CALL_STATE__UNREACHED)
		ev.reason = now->outcome; /* "invalid-number" or "no-answer after N attempts" */
	return event_emit(c, &ev);
}

int event_agent_changed(struct apply_ctx *c, const Callraft__Agent *old, const Callraft__Agent *now)
{
	Callraft__Event ev = CALLRAFT__EVENT__INIT;

	if (old != NULL && old->state == now->state && old->push == now->push &&
	    strcmp(old->reason, now->reason) == 0)
		return 0;
	ev.kind = CALLRAFT__EVENT_KIND__AGENT_STATE;
	ev.agent_id = now->agent_id;
	ev.site = now->site;
	ev.agent_state = now->state;
	ev.reason = now->reason;
	ev.call_id = now->call_id;
	ev.push = now->push;
	return event_emit(c, &ev);
}

int event_site_changed(struct apply_ctx *c, bool was_down, const Callraft__Site *now)
{
	Callraft__Event ev = CALLRAFT__EVENT__INIT;

	if (was_down == now->down)
		return 0;
	ev.kind = now->down ? CALLRAFT__EVENT_KIND__SITE_LOST : CALLRAFT__EVENT_KIND__SITE_RESTORED;
	ev.site = now->site;
	ev.reason = now->down_reason != NULL ? now->down_reason : "";
	return event_emit(c, &ev);
}

/* ---- retention -------------------------------------------------------------------------- */

int events_trim(struct state *s, MDB_txn *txn, int64_t now_ms, uint32_t added, char *errmsg,
		size_t errmsg_len)
{
	uint64_t trimmed, count, max = s->events_retained_max;
	uint64_t budget = (uint64_t)added + CALLRAFT_EVENTS_TRIM_PER_ENTRY, was;
	MDB_cursor *cur;
	MDB_stat st;
	MDB_val k, v;
	int rc;

	if (store_meta_get(s, txn, META_EVENTS_TRIMMED, &trimmed, errmsg, errmsg_len) != 0)
		return -1;
	was = trimmed;
	if ((rc = mdb_stat(txn, s->dbi[DB_EVENTS], &st)) != 0)
		return store_err(errmsg, errmsg_len, rc, "trim events");
	count = st.ms_entries;
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_EVENTS], &cur)) != 0)
		return store_err(errmsg, errmsg_len, rc, "trim events");
	for (; budget > 0; budget--) {
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		if (rc != 0)
			break;
		assert(k.mv_size == EVENT_KEY_BYTES);
		if (count <= max) {
			Callraft__Event *ev = callraft__event__unpack(NULL, v.mv_size, v.mv_data);
			if (ev == NULL) {
				rc = MDB_CORRUPTED;
				break;
			}
			bool young = ev->at_ms >= now_ms - CALLRAFT_EVENTS_RETAINED_MS;
			callraft__event__free_unpacked(ev, NULL);
			if (young)
				break;
		}
		uint64_t index = be64_get(k.mv_data);
		size_t key_len = k.mv_size, val_len = v.mv_size;
		assert(index >= trimmed); /* invariant 2 */
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		store_account(s, DB_EVENTS, key_len, val_len, true, 0, false);
		trimmed = index;
		count--;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_err(errmsg, errmsg_len, rc, "trim events");
	if (trimmed == was)
		return 0;
	return store_meta_put(s, txn, META_EVENTS_TRIMMED, trimmed, errmsg, errmsg_len);
}

/* ---- reads ------------------------------------------------------------------------------ */

const char *state_event_kind_name(Callraft__EventKind kind)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(&callraft__event_kind__descriptor, (int)kind);
	return v != NULL ? v->name : "?";
}

static bool event_matches(const Callraft__Event *ev, const Callraft__EventsRead *q)
{
	if (q->queue[0] != '\0' && strcmp(ev->queue, q->queue) != 0)
		return false;
	if (q->site[0] != '\0' && strcmp(ev->site, q->site) != 0)
		return false;
	if (q->agent_id[0] != '\0' && strcmp(ev->agent_id, q->agent_id) != 0)
		return false;
	if (q->n_kinds == 0)
		return true;
	for (size_t i = 0; i < q->n_kinds; i++)
		if (q->kinds[i] == ev->kind)
			return true;
	return false;
}

int events_read(struct state *s, MDB_txn *txn, const Callraft__EventsRead *q, uint64_t applied,
		Callraft__Reply *reply, char *msg, size_t msg_len)
{
	uint32_t limit = q->limit == 0 ? CALLRAFT_EVENTS_READ_DEFAULT
		       : q->limit > CALLRAFT_EVENTS_READ_MAX ? CALLRAFT_EVENTS_READ_MAX
							     : q->limit;
	uint64_t from_index = q->from_index, trimmed, next_index;
	uint32_t from_position = q->from_position, next_position;
	uint8_t key[EVENT_KEY_BYTES];
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if (store_meta_get(s, txn, META_EVENTS_TRIMMED, &trimmed, msg, msg_len) != 0)
		return CALLRAFT__CODE__INTERNAL;
	if (from_index == 0) { /* from the next entry on */
		from_index = applied + 1;
		from_position = 0;
	}
	if (from_index <= trimmed) {
		reply->next_index = trimmed + 1;
		snprintf(msg, msg_len,
			 "events_read: events at index %llu were trimmed (retention: %llu events, "
			 "%lld s); the oldest index still complete is %llu",
			 (unsigned long long)from_index, (unsigned long long)s->events_retained_max,
			 (long long)(CALLRAFT_EVENTS_RETAINED_MS / 1000),
			 (unsigned long long)trimmed + 1);
		return CALLRAFT__CODE__COMPACTED;
	}
	reply->events = calloc(limit, sizeof *reply->events);
	if (reply->events == NULL) {
		snprintf(msg, msg_len, "events_read: out of memory");
		return CALLRAFT__CODE__INTERNAL;
	}
	next_index = from_index;
	next_position = from_position;
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_EVENTS], &cur)) != 0) {
		snprintf(msg, msg_len, "state: events_read: %s", mdb_strerror(rc));
		return CALLRAFT__CODE__INTERNAL;
	}
	event_key(key, from_index, from_position);
	k.mv_size = sizeof key;
	k.mv_data = key;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	for (unsigned scanned = 0; rc == 0 && reply->n_events < limit; scanned++) {
		if (scanned == CALLRAFT_EVENTS_SCAN_MAX)
			break;
		Callraft__Event *ev = callraft__event__unpack(NULL, v.mv_size, v.mv_data);
		if (ev == NULL) {
			rc = MDB_CORRUPTED;
			break;
		}
		/* Check after reading: the key and the record agree (invariant 3). */
		assert(k.mv_size == EVENT_KEY_BYTES && ev->index == be64_get(k.mv_data) &&
		       ev->position == be32_get((const uint8_t *)k.mv_data + 8));
		next_index = ev->index;
		next_position = ev->position + 1;
		if (event_matches(ev, q))
			reply->events[reply->n_events++] = ev;
		else
			callraft__event__free_unpacked(ev, NULL);
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		snprintf(msg, msg_len, "state: events_read: %s", mdb_strerror(rc));
		return CALLRAFT__CODE__INTERNAL;
	}
	/* The whole table was read: every later event will be of an entry after `applied`. */
	if (rc == MDB_NOTFOUND && next_index <= applied) {
		next_index = applied + 1;
		next_position = 0;
	}
	reply->next_index = next_index;
	reply->next_position = next_position;
	return CALLRAFT__CODE__OK;
}

bool events_read_valid(const Callraft__EventsRead *q, char *msg, size_t msg_len)
{
	if (!validate_name("events_read", "queue", q->queue, CALLRAFT_QUEUE_BYTES_MAX, false, msg,
			   msg_len) ||
	    !validate_name("events_read", "site", q->site, CALLRAFT_SITE_BYTES_MAX, false, msg,
			   msg_len) ||
	    !validate_id("events_read", "agent_id", q->agent_id, false, msg, msg_len))
		return false;
	for (size_t i = 0; i < q->n_kinds; i++) {
		if (protobuf_c_enum_descriptor_get_value(&callraft__event_kind__descriptor,
							 (int)q->kinds[i]) == NULL ||
		    q->kinds[i] == CALLRAFT__EVENT_KIND__EVENT_KIND_NONE) {
			snprintf(msg, msg_len, "events_read: kinds: %d is not an event kind",
				 (int)q->kinds[i]);
			return false;
		}
	}
	if (q->wait_ms > CALLRAFT_EVENTS_WAIT_MS_MAX) {
		snprintf(msg, msg_len, "events_read: wait_ms: %u is above the limit %d", q->wait_ms,
			 CALLRAFT_EVENTS_WAIT_MS_MAX);
		return false;
	}
	return true;
}
