/* http_callwait.c: a bounded long poll on one call, for SIP servers that hold a caller until the
 * cluster offers the call to an agent (issue 17, docs/telephony.md):
 *
 *   GET /v1/calls/{call_id}/wait?wait_ms=W&min_index=N
 *
 * answers, from this node's own state, the call as GET /v1/calls/{call_id} would
 * ({"code":"OK","applied_index":...,"call":{...}}), as soon as
 *   - this node has applied at least log index N (default 0: at once), and
 *   - the call exists and is no longer WAITING (offered to an agent, abandoned, a callback, ...),
 * or after W ms (default 10000, at most CALLRAFT_CALL_WAIT_MS_MAX) with the call as it is then
 * (still WAITING: the client asks again), or 404 NOT_FOUND if the node applied N and the call does
 * not exist. N lets a client that just wrote (the enqueue, a reject) wait for its own write on a
 * follower: it passes the write's applied_index, and no answer predates it, so a reject's old
 * offer is never handed back as if new.
 *
 * Why a long poll and not the offers stream: a SIP server (Kamailio's http_client, Asterisk's
 * CURL(), FreeSWITCH's mod_curl) can make a request and wait for its answer, but cannot hold an SSE
 * stream. A committed state read from a follower is safe: a replica's state is a prefix of the
 * committed log's, so an offer seen here was made; its token answers it on any node.
 *
 * Life of a wait (struct cwait, loop thread only):
 *   handler: check, read; ready -> answer, done. Else hold: subscribe to the event hub (every
 *            applied entry that added events wakes it) and the module's timer.
 *   wake or timer tick (CALLRAFT_CALL_WAIT_TICK_MS, for a min_index reached by an entry without
 *            events) -> read again; ready -> answer. Timer past wait_ms -> answer as it is.
 *   done (answered and sent, client gone, node stopping) -> unsubscribe, free.
 * Bounded: at most CALLRAFT_CALL_WAITERS_MAX held per node; one more gets 503 UNAVAILABLE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "dlist.h"
#include "http_json.h"
#include "http_routes.h"
#include "log.h"
#include "node_internal.h"

struct cwait {
	struct cwait *prev, *next;     /* the module's held waits */
	struct http_callwait *mod;
	struct http_req *req;
	struct events_sub sub;
	char call_id[CALLRAFT_ID_BYTES_MAX + 1];
	uint64_t min_index;
	uint64_t expires_ms;
	bool held;
};

struct http_callwait {
	struct node *node;
	struct cwait *waits;
	unsigned n_waits;
	uv_timer_t timer;
	bool timer_on;
};

static const char *code_name(Callraft__Code code)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&callraft__code__descriptor, (int)code);
	return v != NULL ? v->name : "INTERNAL";
}

/* Reads the call from this node's state. Returns the reply (caller frees) or NULL. */
static Callraft__Reply *cwait_read(struct cwait *w)
{
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	Callraft__CallShow cs = CALLRAFT__CALL_SHOW__INIT;
	Callraft__Reply *r = NULL;
	size_t len = 0;
	uint8_t *bytes;

	cs.call_id = w->call_id;
	req.op_case = CALLRAFT__REQUEST__OP_CALL_SHOW;
	req.call_show = &cs;
	req.stale = true;
	bytes = state_read(w->mod->node->state, &req, &len);
	if (bytes != NULL)
		r = callraft__reply__unpack(NULL, len, bytes);
	free(bytes);
	return r;
}

/* Answers with the reply as GET /v1/calls/{id} does ("code" first). */
static void cwait_answer(struct cwait *w, const Callraft__Reply *r)
{
	json_object *o, *out;
	int status = r->code == CALLRAFT__CODE__OK ? 200 : r->code == CALLRAFT__CODE__NOT_FOUND ? 404 : 500;

	o = http_json_from_message(&r->base, true);
	if (o == NULL) {
		http_respond_error(w->req, 503, "UNAVAILABLE", "out of memory", "Retry-After: 1\r\n");
		return;
	}
	json_object_object_del(o, "request_id");
	json_object_object_del(o, "code");
	out = json_object_new_object();
	json_object_object_add(out, "code", json_object_new_string(code_name(r->code)));
	json_object_object_foreach(o, key, val)
		json_object_object_add(out, key, json_object_get(val));
	json_object_put(o);
	http_respond_json(w->req, status, out, NULL);
}

/* Reads the call and answers if the wait is over (or `force`). Returns true once answered. */
static bool cwait_check(struct cwait *w, bool force)
{
	Callraft__Reply *r = cwait_read(w);
	bool reached, over;

	if (r == NULL) {
		http_respond_error(w->req, 500, "INTERNAL", "state read failed", NULL);
		return true;
	}
	reached = r->applied_index >= w->min_index;
	over = reached && (r->code != CALLRAFT__CODE__OK ||
			   (r->call != NULL && r->call->state != CALLRAFT__CALL_STATE__WAITING));
	if (over || force) {
		if (!reached && r->code == CALLRAFT__CODE__NOT_FOUND)
			http_respond_error(w->req, 503, "UNAVAILABLE",
					   "this node has not applied min_index yet", "Retry-After: 1\r\n");
		else
			cwait_answer(w, r);
	}
	callraft__reply__free_unpacked(r, NULL);
	return over || force;
}

static void cwait_wake(struct events_sub *sub, uint64_t index)
{
	struct cwait *w = sub->data;

	(void)index;
	if (w->held && !http_req_answered(w->req))
		cwait_check(w, false);
}

static void cwait_done(struct http_req *req, void *data)
{
	struct cwait *w = data;
	struct http_callwait *m = w->mod;

	(void)req;
	if (w->held) {
		events_hub_unsubscribe(&m->node->events, &w->sub);
		DLIST_UNLINK(m->waits, w);
		m->n_waits--;
	}
	free(w);
}

static void timer_cb(uv_timer_t *t)
{
	struct http_callwait *m = t->data;
	uint64_t now = uv_now(t->loop);
	struct cwait *w, *next;

	DLIST_FOREACH_SAFE(w, m->waits, next) {
		if (!http_req_answered(w->req))
			cwait_check(w, now >= w->expires_ms);
	}
}

/* Parses an unsigned decimal query argument into *out (left as is when absent). -1 after a 400. */
static int query_u64(struct http_req *r, const char *name, uint64_t max, uint64_t *out)
{
	char v[32], msg[120];
	char *end;
	unsigned long long x;

	if (http_req_query(r, name, v, sizeof v) < 0)
		return 0;
	x = strtoull(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || *end != '\0' || x > max) {
		snprintf(msg, sizeof msg, "%s: expected 0 to %llu", name, (unsigned long long)max);
		http_respond_error(r, 400, "INVALID_ARGUMENT", msg, NULL);
		return -1;
	}
	*out = x;
	return 0;
}

/* The certificate must allow reading a call (role agent, pbx, supervisor or admin). */
static int cwait_authorized(struct http_req *r, struct node *n, const char *call_id)
{
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	Callraft__CallShow cs = CALLRAFT__CALL_SHOW__INIT;
	struct tls_identity id;
	char why[300];

	if (n->tls_ctx == NULL)
		return 0;
	if (http_req_identity(r, &id) != 0) {
		http_respond_error(r, 403, "PERMISSION_DENIED",
				   "client certificate missing or malformed (callraft: URIs)", NULL);
		return -1;
	}
	cs.call_id = (char *)call_id;
	req.op_case = CALLRAFT__REQUEST__OP_CALL_SHOW;
	req.call_show = &cs;
	if (authz_check(&id, &req, why, sizeof why) != 0) {
		http_respond_error(r, 403, "PERMISSION_DENIED", why, NULL);
		return -1;
	}
	return 0;
}

/* /v1/calls/{call_id}/wait */
static void callwait_handler(struct http_req *r, void *data)
{
	struct http_callwait *m = data;
	const char *path = http_req_path(r) + strlen("/v1/calls/");
	size_t n = strcspn(path, "/");
	uint64_t wait_ms = CALLRAFT_CALL_WAIT_MS_DEFAULT;
	struct cwait *w;

	if (n == 0 || n > CALLRAFT_ID_BYTES_MAX || strcmp(path + n, "/wait") != 0) {
		http_respond_error(r, 404, "UNKNOWN_OPERATION", "no route for this path", NULL);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (path[i] <= ' ' || path[i] == 0x7f || path[i] == '%') {
			http_respond_error(r, 400, "INVALID_ARGUMENT",
					   "call_id: printable, no spaces, not percent-encoded", NULL);
			return;
		}
	}
	w = calloc(1, sizeof *w);
	if (w == NULL) {
		http_respond_error(r, 503, "UNAVAILABLE", "out of memory", "Retry-After: 1\r\n");
		return;
	}
	memcpy(w->call_id, path, n);
	w->mod = m;
	w->req = r;
	if (query_u64(r, "wait_ms", CALLRAFT_CALL_WAIT_MS_MAX, &wait_ms) != 0 ||
	    query_u64(r, "min_index", UINT64_MAX, &w->min_index) != 0 ||
	    cwait_authorized(r, m->node, w->call_id) != 0) {
		free(w);
		return;
	}
	/* The core's deadline (504) must not beat our own answer. */
	http_req_set_deadline_in(r, wait_ms + CALLRAFT_CALL_WAIT_DEADLINE_SLACK_MS);
	http_req_on_done(r, cwait_done, w);
	if (cwait_check(w, wait_ms == 0))
		return;
	if (m->n_waits >= CALLRAFT_CALL_WAITERS_MAX) {
		http_respond_error(r, 503, "UNAVAILABLE", "too many calls waited on at this node",
				   "Retry-After: 1\r\n");
		return;
	}
	w->expires_ms = uv_now(&m->node->loop) + wait_ms;
	w->held = true;
	w->sub.wake = cwait_wake;
	w->sub.data = w;
	DLIST_PUSH(m->waits, w);
	m->n_waits++;
	events_hub_subscribe(&m->node->events, &w->sub);
	if (!m->timer_on) {
		uv_timer_start(&m->timer, timer_cb, CALLRAFT_CALL_WAIT_TICK_MS, CALLRAFT_CALL_WAIT_TICK_MS);
		uv_unref((uv_handle_t *)&m->timer); /* never keeps a stopping node's loop alive */
		m->timer_on = true;
	}
}

int http_callwait_register(struct http *h, struct node *n)
{
	static struct http_callwait mod; /* one node per process */

	mod.node = n;
	uv_timer_init(&n->loop, &mod.timer);
	mod.timer.data = &mod;
	return http_route_add(h, HTTP_GET, "/v1/calls/*/wait", callwait_handler, &mod);
}
