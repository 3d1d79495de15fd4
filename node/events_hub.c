/* events_hub.c: see events_hub.h.
 *
 * A long poll's life:
 *   events_hub_read --(found events, an error, or wait_ms 0)--> answered at once
 *        |  (nothing yet)
 *        v
 *      held: cursor moved to the reply's next cursor, deadline = now + wait_ms
 *        |--events_hub_applied: read again from the cursor; events -> answered, else held
 *        |--timer: deadline passed -> answered with no events and the cursor
 *        '--events_hub_close -> UNAVAILABLE
 * Every path that answers a held poll unlinks it, drops its connection reference and frees its
 * request: a held poll is answered exactly once. */
#include "events_hub.h"

#include <assert.h>
#include <stdlib.h>

#include "dlist.h"
#include "log.h"
#include "node_internal.h"

struct events_waiter {
	struct events_waiter *prev, *next;
	struct conn *conn;
	Callraft__Request *req;
	int64_t deadline_ms;
};

static void timer_cb(uv_timer_t *t);

void events_hub_init(struct events_hub *h, struct node *n, uv_loop_t *loop)
{
	*h = (struct events_hub){.node = n};
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	h->open = true;
}

/* Reads from the request's cursor. Returns the packed reply (malloc'd) and, through *found,
 * whether it should be sent now (events, or an error); moves the request's cursor on. */
static uint8_t *read_once(struct events_hub *h, Callraft__Request *req, size_t *len, bool *send)
{
	uint8_t *bytes = state_read(h->node->state, req, len);
	Callraft__Reply *r;

	*send = true;
	if (bytes == NULL)
		return NULL;
	r = callraft__reply__unpack(NULL, *len, bytes);
	if (r != NULL && r->code == CALLRAFT__CODE__OK && r->n_events == 0) {
		*send = false;
		req->events_read->from_index = r->next_index;
		req->events_read->from_position = r->next_position;
	}
	if (r != NULL)
		callraft__reply__free_unpacked(r, NULL);
	return bytes;
}

static void waiter_unlink(struct events_hub *h, struct events_waiter *w)
{
	DLIST_UNLINK(h->head, w);
	assert(h->n_waiters > 0);
	h->n_waiters--;
	if (h->n_waiters == 0 && h->timer_on) {
		uv_timer_stop(&h->timer);
		h->timer_on = false;
	}
}

/* Answers a held poll with `bytes` (or an error if NULL) and frees it. */
static void waiter_finish(struct events_hub *h, struct events_waiter *w, const uint8_t *bytes,
			  size_t len, Callraft__Code code, const char *why)
{
	waiter_unlink(h, w);
	if (bytes != NULL)
		conn_send_reply_bytes(w->conn, bytes, len, w->req->request_id);
	else
		conn_send_error(w->conn, w->req->request_id, code, "events_read: %s", why);
	conn_unref(w->conn);
	callraft__request__free_unpacked(w->req, NULL);
	free(w);
}

void events_hub_read(struct events_hub *h, struct conn *c, Callraft__Request *req)
{
	size_t len = 0;
	bool send;
	uint8_t *bytes;
	struct events_waiter *w;

	if (req->events_read == NULL) {
		conn_send_error(c, req->request_id, CALLRAFT__CODE__INVALID_ARGUMENT,
				"events_read: missing");
		goto done;
	}
	bytes = read_once(h, req, &len, &send);
	if (bytes == NULL) {
		conn_send_error(c, req->request_id, CALLRAFT__CODE__INTERNAL, "read: out of memory");
		goto done;
	}
	if (send || req->events_read->wait_ms == 0 || !h->open) {
		conn_send_reply_bytes(c, bytes, len, req->request_id);
		free(bytes);
		goto done;
	}
	free(bytes);
	if (h->n_waiters >= CALLRAFT_EVENTS_WAITERS_MAX || (w = calloc(1, sizeof *w)) == NULL) {
		conn_send_error(c, req->request_id, CALLRAFT__CODE__UNAVAILABLE,
				"events_read: %u long polls held on this node (limit %d): retry",
				h->n_waiters, CALLRAFT_EVENTS_WAITERS_MAX);
		goto done;
	}
	w->conn = c;
	w->req = req;
	w->deadline_ms = (int64_t)uv_now(h->timer.loop) + req->events_read->wait_ms; /* monotonic */
	conn_ref(c);
	/* Oldest first: appended at the tail (the list is short; walk to it). */
	struct events_waiter **pp = &h->head, *prev = NULL;
	while (*pp != NULL)
		prev = *pp, pp = &(*pp)->next;
	w->prev = prev;
	*pp = w;
	h->n_waiters++;
	if (!h->timer_on) {
		uv_timer_start(&h->timer, timer_cb, CALLRAFT_EVENTS_HUB_TIMER_MS, CALLRAFT_EVENTS_HUB_TIMER_MS);
		h->timer_on = true;
	}
	return;
done:
	callraft__request__free_unpacked(req, NULL);
}

void events_hub_applied(struct events_hub *h, uint64_t index, uint32_t events)
{
	if (events == 0 || !h->open)
		return;
	h->woken++;
	struct events_waiter *w, *next;

	DLIST_FOREACH_SAFE(w, h->head, next) {
		size_t len = 0;
		bool send;
		uint8_t *bytes;

		if (w->conn->closing) {
			waiter_finish(h, w, NULL, 0, CALLRAFT__CODE__UNAVAILABLE, "connection closed");
			continue;
		}
		bytes = read_once(h, w->req, &len, &send);
		if (bytes == NULL)
			waiter_finish(h, w, NULL, 0, CALLRAFT__CODE__INTERNAL, "out of memory");
		else if (send)
			waiter_finish(h, w, bytes, len, CALLRAFT__CODE__OK, NULL);
		free(bytes);
	}
	struct events_sub *s, *s_next;

	DLIST_FOREACH_SAFE(s, h->subs, s_next) /* a subscriber may leave from its own wake */
		s->wake(s, index);
}

static void timer_cb(uv_timer_t *t)
{
	struct events_hub *h = t->data;
	int64_t now = (int64_t)uv_now(t->loop);
	struct events_waiter *w, *next;

	DLIST_FOREACH_SAFE(w, h->head, next) {
		size_t len = 0;
		bool send;
		uint8_t *bytes;

		if (!w->conn->closing && w->deadline_ms > now)
			continue;
		/* Answered with its cursor (moved past what it scanned) and no events. */
		bytes = read_once(h, w->req, &len, &send);
		waiter_finish(h, w, bytes, len, CALLRAFT__CODE__INTERNAL, "out of memory");
		free(bytes);
	}
}

void events_hub_subscribe(struct events_hub *h, struct events_sub *sub)
{
	DLIST_PUSH(h->subs, sub);
}

void events_hub_unsubscribe(struct events_hub *h, struct events_sub *sub)
{
	if (sub->prev == NULL && h->subs != sub)
		return; /* not subscribed (or already left) */
	DLIST_UNLINK(h->subs, sub);
	sub->prev = sub->next = NULL;
}

void events_hub_close(struct events_hub *h)
{
	if (!h->open)
		return;
	h->open = false;
	while (h->head != NULL)
		waiter_finish(h, h->head, NULL, 0, CALLRAFT__CODE__UNAVAILABLE,
			      "node is shutting down: retry");
	uv_timer_stop(&h->timer);
	uv_close((uv_handle_t *)&h->timer, NULL);
}
