/* http_events.c: the event stream and the agents' offer push channel over HTTP (issue #14), as
 * Server-Sent Events:
 *
 *   GET /v1/events?from=INDEX[.POS]&queue=Q&site=S&agent=A&kind=K[,K...]
 *   GET /v1/agents/{agent_id}/offers[?from=INDEX[.POS]]     (CALL_OFFERED events of one agent;
 *       without a cursor, from the offer the agent holds unanswered, if any, else new ones)
 *
 * Each event is one SSE message:
 *
 *   id: 1842.1          the cursor "index.position": log index of the entry, position within it
 *   event: CALL_OFFERED the kind
 *   data: {...}         the Event as JSON (proto field names; offer_term/offer_index on offers)
 *
 * A browser's EventSource sends the last id back as Last-Event-ID when it reconnects, to any node:
 * the stream then resumes right after that event, with no gap and no repeat, even in the middle of
 * an entry's events. Last-Event-ID wins over ?from=. Without either, the stream starts with the
 * next entry (new events only). A cursor older than retention is 410 {"code":"COMPACTED"} (like
 * etcd's compacted revision); bad arguments are 400.
 *
 * Life of a stream (struct sse):
 *   handler: read from the cursor; an error -> an HTTP error, done; else http_stream_start and
 *            subscribe to the node's event hub (node/events_hub.h)
 *   wake (an applied entry added events) or the module's timer (stream behind) -> pump: read pages
 *            from the cursor and write them until caught up or CALLRAFT_SSE_PENDING_BYTES_MAX is queued
 *   the timer, every CALLRAFT_SSE_PING_MS: a comment line, so proxies and the idle timeout keep the stream
 *   done (client gone, node stopping) -> unsubscribe, free
 * A client that reads too slowly to keep its queue under the core's stream bound is ended; it
 * resumes with Last-Event-ID. Events come from this node's own state: a replica's events are a
 * prefix of the committed log's, so moving between nodes never skips or repeats one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "dlist.h"
#include "http_json.h"
#include "http_routes.h"
#include "log.h"
#include "node_internal.h"

#define SSE_KINDS_MAX 16

struct sse {
	struct sse *prev, *next;      /* the module's streams */
	struct http_events *mod;
	struct http_req *req;
	struct events_sub sub;
	Callraft__EventsRead q;       /* filters and cursor; strings below */
	Callraft__EventKind kinds[SSE_KINDS_MAX];
	char queue[CALLRAFT_QUEUE_BYTES_MAX + 1];
	char site[CALLRAFT_SITE_BYTES_MAX + 1];
	char agent[CALLRAFT_ID_BYTES_MAX + 1];
	bool behind;                  /* more events than were written: pump again */
	uint64_t pinged_ms;
};

struct http_events {
	struct node *node;
	struct sse *streams;
	uv_timer_t timer;
	bool timer_on;
};

static int sse_cursor_parse(const char *s, uint64_t *index, uint32_t *pos)
{
	char *end;
	unsigned long long i = strtoull(s, &end, 10);
	unsigned long p = 0;

	if (end == s || (*end != '\0' && *end != '.'))
		return -1;
	if (*end == '.') {
		const char *ps = end + 1;
		p = strtoul(ps, &end, 10);
		if (end == ps || *end != '\0' || p > UINT32_MAX)
			return -1;
	}
	*index = i;
	*pos = (uint32_t)p;
	return 0;
}

/* Reads one page from the stream's cursor. Returns the unpacked reply (caller frees) or NULL. */
static Callraft__Reply *sse_read(struct sse *s)
{
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	Callraft__Reply *r = NULL;
	size_t len = 0;
	uint8_t *bytes;

	req.op_case = CALLRAFT__REQUEST__OP_EVENTS_READ;
	req.events_read = &s->q;
	bytes = state_read(s->mod->node->state, &req, &len);
	if (bytes != NULL)
		r = callraft__reply__unpack(NULL, len, bytes);
	free(bytes);
	return r;
}

static int sse_write_event(struct sse *s, const Callraft__Event *e)
{
	json_object *o = http_json_from_message(&e->base, true);
	const ProtobufCEnumValue *kind =
	    protobuf_c_enum_descriptor_get_value(&callraft__event_kind__descriptor, (int)e->kind);
	char head[96];
	int n, rc;

	if (o == NULL)
		return -1;
	/* The cursor's two halves always, even when zero. */
	json_object_object_add(o, "index", json_object_new_int64((int64_t)e->index));
	json_object_object_add(o, "position", json_object_new_int64(e->position));
	n = snprintf(head, sizeof head, "id: %llu.%u\nevent: %s\ndata: ",
		     (unsigned long long)e->index, e->position, kind != NULL ? kind->name : "?");
	const char *data = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	rc = http_stream_write(s->req, head, (size_t)n) != 0 ||
		     http_stream_write(s->req, data, strlen(data)) != 0 ||
		     http_stream_write(s->req, "\n\n", 2) != 0
		 ? -1
		 : 0;
	json_object_put(o);
	return rc;
}

/* Writes events from the cursor until caught up or enough is queued. Ends the stream on an error
 * (a cursor trimmed meanwhile, a client that does not read). */
static void sse_pump(struct sse *s)
{
	s->behind = false;
	while (http_stream_pending(s->req) < CALLRAFT_SSE_PENDING_BYTES_MAX) {
		Callraft__Reply *r = sse_read(s);

		if (r == NULL || r->code != CALLRAFT__CODE__OK) {
			LOG_RATELIMITED(LOG_WARN, "http events: stream ended: %s",
					r != NULL ? r->message : "read failed");
			http_stream_end(s->req);
			if (r != NULL)
				callraft__reply__free_unpacked(r, NULL);
			return;
		}
		for (size_t i = 0; i < r->n_events; i++) {
			if (sse_write_event(s, r->events[i]) != 0) {
				LOG_RATELIMITED(LOG_WARN,
						"http events: stream ended at %llu.%u: the client reads "
						"too slowly (%zu bytes queued)",
						(unsigned long long)r->events[i]->index,
						r->events[i]->position, http_stream_pending(s->req));
				callraft__reply__free_unpacked(r, NULL);
				http_stream_end(s->req); /* too slow: it resumes with Last-Event-ID */
				return;
			}
		}
		/* Past the applied index: caught up until the next wake. */
		bool caught_up = r->next_index > r->applied_index;
		s->q.from_index = r->next_index;
		s->q.from_position = r->next_position;
		callraft__reply__free_unpacked(r, NULL);
		if (caught_up)
			return;
	}
	s->behind = true;
}

static void sse_wake(struct events_sub *sub, uint64_t index)
{
	(void)index;
	sse_pump(sub->data);
}

static void sse_done(struct http_req *req, void *data)
{
	struct sse *s = data;
	struct http_events *m = s->mod;

	(void)req;
	events_hub_unsubscribe(&m->node->events, &s->sub);
	DLIST_UNLINK(m->streams, s);
	free(s);
}

static void timer_cb(uv_timer_t *t)
{
	struct http_events *m = t->data;
	uint64_t now = uv_now(t->loop);
	struct sse *s, *next;

	DLIST_FOREACH_SAFE(s, m->streams, next) {
		if (s->behind && http_stream_pending(s->req) < CALLRAFT_SSE_PENDING_BYTES_MAX / 2)
			sse_pump(s);
		else if (now - s->pinged_ms >= CALLRAFT_SSE_PING_MS) {
			s->pinged_ms = now;
			if (http_stream_write(s->req, ": ping\n\n", 8) != 0) {
				LOG_RATELIMITED(LOG_WARN, "http events: stream ended: ping refused");
				http_stream_end(s->req);
			}
		}
	}
}

/* Copies query argument `name` into out (left "" when absent); -1 if it is too long. */
static int query_into(struct http_req *r, const char *name, char *out, size_t len, char *err,
		      size_t err_len)
{
	char buf[256];
	int n = http_req_query(r, name, buf, sizeof buf);

	if (n < 0)
		return 0;
	if ((size_t)n >= len)
		return snprintf(err, err_len, "%s: longer than %zu bytes", name, len - 1), -1;
	memcpy(out, buf, (size_t)n + 1);
	return 0;
}

/* Fills the stream's filters and cursor from the query, Last-Event-ID and (offers) the path. */
static int sse_parse(struct sse *s, struct http_req *r, const char *agent_from_path, char *err,
		     size_t err_len)
{
	char buf[256];

	s->q = (Callraft__EventsRead)CALLRAFT__EVENTS_READ__INIT;
	s->q.queue = s->queue;
	s->q.site = s->site;
	s->q.agent_id = s->agent;
	s->q.kinds = s->kinds;
	if (http_req_header(r, "Last-Event-ID", buf, sizeof buf) > 0) {
		if (sse_cursor_parse(buf, &s->q.from_index, &s->q.from_position) != 0)
			return snprintf(err, err_len, "Last-Event-ID: '%s': expected INDEX.POS", buf), -1;
		s->q.from_position++; /* resume after the last event received */
	} else if (http_req_query(r, "from", buf, sizeof buf) >= 0) {
		if (sse_cursor_parse(buf, &s->q.from_index, &s->q.from_position) != 0)
			return snprintf(err, err_len, "from: '%s': expected INDEX or INDEX.POS", buf), -1;
	}
	if (agent_from_path != NULL) {
		snprintf(s->agent, sizeof s->agent, "%s", agent_from_path);
		s->kinds[s->q.n_kinds++] = CALLRAFT__EVENT_KIND__CALL_OFFERED;
		return 0;
	}
	if (query_into(r, "queue", s->queue, sizeof s->queue, err, err_len) != 0 ||
	    query_into(r, "site", s->site, sizeof s->site, err, err_len) != 0 ||
	    query_into(r, "agent", s->agent, sizeof s->agent, err, err_len) != 0)
		return -1;
	if (http_req_query(r, "kind", buf, sizeof buf) >= 0) {
		for (char *save = NULL, *k = strtok_r(buf, ",", &save); k != NULL;
		     k = strtok_r(NULL, ",", &save)) {
			for (char *p = k; *p; p++)
				*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p == '-' ? '_' : *p);
			const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(
			    &callraft__event_kind__descriptor, k);
			if (v == NULL || v->value == 0 || s->q.n_kinds == SSE_KINDS_MAX)
				return snprintf(err, err_len, "kind: '%s' is not an event kind", k), -1;
			s->kinds[s->q.n_kinds++] = (Callraft__EventKind)v->value;
		}
	}
	return 0;
}

/* One local read (this node's state); the caller frees the reply. */
static Callraft__Reply *local_read(struct node *n, Callraft__Request *req)
{
	size_t len = 0;
	uint8_t *bytes = state_read(n->state, req, &len);
	Callraft__Reply *r = bytes != NULL ? callraft__reply__unpack(NULL, len, bytes) : NULL;

	free(bytes);
	return r;
}

/* The log index of the offer the agent holds unanswered, or 0: an offers channel opened without
 * a cursor starts there, so a desktop that connects after its offer was made still gets it. */
static uint64_t pending_offer_index(struct node *n, const char *agent_id)
{
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	Callraft__AgentShow as = CALLRAFT__AGENT_SHOW__INIT;
	Callraft__CallShow cs = CALLRAFT__CALL_SHOW__INIT;
	char call_id[CALLRAFT_ID_BYTES_MAX + 1] = "";
	uint64_t index = 0;
	Callraft__Reply *r;

	as.agent_id = (char *)agent_id;
	req.op_case = CALLRAFT__REQUEST__OP_AGENT_SHOW;
	req.agent_show = &as;
	r = local_read(n, &req);
	if (r != NULL && r->code == CALLRAFT__CODE__OK && r->agent != NULL)
		snprintf(call_id, sizeof call_id, "%s", r->agent->call_id);
	if (r != NULL)
		callraft__reply__free_unpacked(r, NULL);
	if (call_id[0] == '\0')
		return 0;
	cs.call_id = call_id;
	req.op_case = CALLRAFT__REQUEST__OP_CALL_SHOW;
	req.call_show = &cs;
	r = local_read(n, &req);
	if (r != NULL && r->code == CALLRAFT__CODE__OK && r->call != NULL &&
	    r->call->state == CALLRAFT__CALL_STATE__OFFERED &&
	    strcmp(r->call->agent_id, agent_id) == 0)
		index = r->call->offer_index >> CALLRAFT_BATCH_POSITION_BITS;
	if (r != NULL)
		callraft__reply__free_unpacked(r, NULL);
	return index;
}

/* The stream's reader must hold a role that reads events (authz.h: agent, pbx, supervisor,
 * admin). A site-limited one (agent or pbx certificate or token) reads its own site only: with no
 * site asked for, the stream is narrowed to it; another site is refused (403), as EventsRead is on
 * the binary protocol. 0, or -1 after answering. */
static int sse_authorized(struct http_req *r, struct sse *s)
{
	struct tls_identity id;
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	char why[300];

	if (s->mod->node->tls_ctx == NULL)
		return 0; /* insecure = true: no identities */
	if (http_req_authenticate(r, &id, why, sizeof why) != 0) {
		http_respond_error(r, 401, "PERMISSION_DENIED", why, NULL);
		return -1;
	}
	if (id.node_id == 0 && id.site[0] != '\0' &&
	    (id.roles & (TLS_ROLE_SUPERVISOR | TLS_ROLE_ADMIN)) == 0 && s->site[0] == '\0')
		snprintf(s->site, sizeof s->site, "%s", id.site);
	req.op_case = CALLRAFT__REQUEST__OP_EVENTS_READ;
	req.events_read = &s->q;
	if (authz_check(&id, &req, why, sizeof why) != 0) {
		LOG_RATELIMITED(LOG_WARN, "http: events: PERMISSION_DENIED: %s", why);
		http_respond_error(r, 403, "PERMISSION_DENIED", why, NULL);
		return -1;
	}
	return 0;
}

static void sse_open(struct http_req *r, struct http_events *m, const char *agent_from_path)
{
	struct sse *s = calloc(1, sizeof *s);
	char err[300] = "";
	Callraft__Reply *first;

	if (s == NULL) {
		http_respond_error(r, 503, "UNAVAILABLE", "out of memory", "Retry-After: 1\r\n");
		return;
	}
	s->mod = m;
	s->req = r;
	if (sse_parse(s, r, agent_from_path, err, sizeof err) != 0) {
		http_respond_error(r, 400, "INVALID_ARGUMENT",
				   err[0] ? err : "a query argument is too long", NULL);
		free(s);
		return;
	}
	if (sse_authorized(r, s) != 0) {
		free(s);
		return;
	}
	if (agent_from_path != NULL && s->q.from_index == 0)
		s->q.from_index = pending_offer_index(m->node, agent_from_path);
	/* The first read checks the filters and the cursor before the stream starts. */
	first = sse_read(s);
	if (first == NULL || first->code != CALLRAFT__CODE__OK) {
		Callraft__Code code = first != NULL ? first->code : CALLRAFT__CODE__INTERNAL;
		int status = code == CALLRAFT__CODE__COMPACTED		 ? 410
			     : code == CALLRAFT__CODE__INVALID_ARGUMENT ? 400
									 : 500;
		const ProtobufCEnumValue *name =
		    protobuf_c_enum_descriptor_get_value(&callraft__code__descriptor, (int)code);
		http_respond_error(r, status, name != NULL ? name->name : "INTERNAL",
				   first != NULL ? first->message : "read failed", NULL);
		if (first != NULL)
			callraft__reply__free_unpacked(first, NULL);
		free(s);
		return;
	}
	/* Starting "from the next entry" fixes the cursor now, so nothing falls between. */
	if (s->q.from_index == 0) {
		s->q.from_index = first->next_index;
		s->q.from_position = first->next_position;
	}
	callraft__reply__free_unpacked(first, NULL);
	if (http_stream_start(r, 200, "text/event-stream",
			      "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n") != 0) {
		free(s);
		return;
	}
	s->sub.wake = sse_wake;
	s->sub.data = s;
	s->pinged_ms = uv_now(&m->node->loop);
	DLIST_PUSH(m->streams, s);
	http_req_on_done(r, sse_done, s);
	events_hub_subscribe(&m->node->events, &s->sub);
	if (!m->timer_on) {
		uv_timer_start(&m->timer, timer_cb, CALLRAFT_SSE_TIMER_MS, CALLRAFT_SSE_TIMER_MS);
		uv_unref((uv_handle_t *)&m->timer); /* never keeps a stopping node's loop alive */
		m->timer_on = true;
	}
	/* A retry hint for EventSource, then whatever is already there. */
	http_stream_write(r, "retry: 1000\n\n", 13);
	sse_pump(s);
}

static void events_handler(struct http_req *r, void *data)
{
	if (strcmp(http_req_path(r), "/v1/events") != 0 &&
	    strcmp(http_req_path(r), "/v1/events/") != 0) {
		http_respond_error(r, 404, "UNKNOWN_OPERATION", "no route for this path", NULL);
		return;
	}
	sse_open(r, data, NULL);
}

/* /v1/agents/{agent_id}/offers */
static void offers_handler(struct http_req *r, void *data)
{
	const char *path = http_req_path(r) + strlen("/v1/agents/");
	size_t n = strcspn(path, "/");
	char agent[CALLRAFT_ID_BYTES_MAX + 1];

	if (n == 0 || n > CALLRAFT_ID_BYTES_MAX || strcmp(path + n, "/offers") != 0) {
		http_respond_error(r, 404, "UNKNOWN_OPERATION", "no route for this path", NULL);
		return;
	}
	memcpy(agent, path, n);
	agent[n] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (agent[i] <= ' ' || agent[i] == 0x7f) {
			http_respond_error(r, 400, "INVALID_ARGUMENT", "agent_id: not printable", NULL);
			return;
		}
	}
	sse_open(r, data, agent);
}

int http_events_register(struct http *h, struct node *n)
{
	static struct http_events mod; /* one node per process */

	mod.node = n;
	uv_timer_init(&n->loop, &mod.timer);
	mod.timer.data = &mod;
	if (http_route_add(h, HTTP_GET, "/v1/events", events_handler, &mod) != 0 ||
	    http_route_add(h, HTTP_GET, "/v1/agents/*/offers", offers_handler, &mod) != 0)
		return -1;
	return 0;
}
