/* forward.c: a follower's links to the leader and to a relay.
 *
 * A follower forwards a request it cannot serve to the leader over node->fwd. When the leader is
 * not reachable from here (none known, its link failed, or it has answered nothing for
 * CALLRAFT_FORWARD_SILENT_MS: a cut between cities leaves the connection open and silent) the
 * request goes over node->fwd_relay to another member chosen by relay.h's rule, with relay_ttl 1;
 * that member forwards it to its leader with relay_ttl 0, never further (node.h invariant 3). The
 * request keeps its session (client_id, seq, secret) or Idempotency-Key on every hop, so however
 * many copies reach the leader (a retry through another node, a relayed copy after a direct one
 * that was only slow) the FSM applies it once and answers the others with the stored reply or
 * SEQ_TOO_OLD (state/apply.c, state/idem.c).
 *
 * Link states: IDLE -> CONNECTING (uv_tcp_connect to the target's client address) -> CONNECTED ->
 * IDLE (reset). A reset detaches the link's connection (struct fwd_conn), which closes and frees
 * itself, so the link can connect again at once: a request for a new leader opens the new link
 * instead of failing. Requests that arrive while CONNECTING are queued. Each forwarded request gets a
 * link-local fwd_id (the request_id on the link); the target's reply goes back to the client with
 * the client's own request_id.
 *
 * Whatever breaks a link (leader change, connection error, shutdown) fails every pending request
 * with a retryable code: the client retries with the same (client_id, seq) and the FSM's session
 * table makes the retry harmless. Requests older than CALLRAFT_FORWARD_TIMEOUT_MS (a paused leader)
 * get TIMEOUT. A link that failed, or went silent, has its target avoided for
 * CALLRAFT_RELAY_AVOID_MS (relay.h); a relay that answers "no leader here" likewise.
 *
 * With TLS a link is a client-side tls_stream: CONNECTING lasts until the handshake is done and
 * the target's certificate names member target_id (callraft:node URI) and the host we dialled;
 * the target, seeing a member's certificate, accepts the `forwarded` requests (authz.h).
 *
 * Invariants (fwd_check verifies them; tests/unit/test_forward.c exercises the paths):
 *   F1. n_pending is the number of requests in a link's buckets, at most
 *       CALLRAFT_PENDING_REQUESTS_MAX, each in the bucket of its fwd_id and holding a reference on
 *       its client connection.
 *   F2. Frames are queued only while the link is not CONNECTED (link_up sends them all).
 *   F3. A pending request ends exactly once: relayed, failed (reset, timeout) or never sent.
 *   F4. waiting_since_ms is 0 when nothing is pending; fwd is never the relay link, fwd_relay is.
 *   F5. conn is NULL exactly when the link is IDLE, and an attached conn points back at its link. */
#include <assert.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callraft_ops.h"
#include "log.h"
#include "node_internal.h"

static const char *link_name(const struct fwd_link *l)
{
	return l->relay ? "relay" : "leader";
}

static struct fwd_pending **bucket_of(struct fwd_link *l, uint64_t id)
{
	return &l->buckets[id % CALLRAFT_FORWARD_BUCKETS];
}

static struct fwd_pending *pending_take(struct fwd_link *l, uint64_t id)
{
	struct fwd_pending **pp = bucket_of(l, id);
	for (; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->fwd_id == id) {
			struct fwd_pending *p = *pp;
			*pp = p->next;
			l->n_pending--;
			if (l->n_pending == 0)
				l->waiting_since_ms = 0;
			return p;
		}
	}
	return NULL;
}

static void pending_fail(struct fwd_pending *p, Callraft__Code code, const char *why)
{
	conn_send_error(p->conn, p->request_id, code, "%s", why);
	conn_unref(p->conn);
	free(p);
}

static void queued_free(struct fwd_link *l)
{
	for (size_t i = 0; i < l->n_queued; i++)
		free(l->queued[i].base);
	l->n_queued = 0;
}

static void conn_closed_cb(uv_handle_t *h)
{
	struct fwd_conn *fc = h->data;
	if (fc->tls != NULL) {
		tls_stream_release(fc->tls);
		free(fc->tls);
	}
	free(fc);
}

/* Detaches the link's connection (it closes and frees itself): the link is IDLE at once. */
static void link_detach(struct fwd_link *l)
{
	struct fwd_conn *fc = l->conn;
	l->conn = NULL;
	l->state = FWD_IDLE;
	l->rx.len = 0;
	if (fc == NULL)
		return;
	fc->link = NULL;
	if (fc->tls != NULL)
		tls_stream_stop(fc->tls);
	fc->tcp.data = fc; /* the tls_stream had it */
	uv_close((uv_handle_t *)&fc->tcp, conn_closed_cb);
}

static void link_reset(struct fwd_link *l, Callraft__Code code, const char *why)
{
	for (size_t b = 0; b < CALLRAFT_FORWARD_BUCKETS; b++) {
		while (l->buckets[b] != NULL) {
			struct fwd_pending *p = l->buckets[b];
			l->buckets[b] = p->next;
			l->n_pending--;
			pending_fail(p, code, why);
		}
	}
	l->waiting_since_ms = 0;
	queued_free(l);
	link_detach(l);
}

void fwd_reset(struct node *n, Callraft__Code code, const char *why)
{
	link_reset(&n->fwd, code, why);
	link_reset(&n->fwd_relay, code, why);
}

void fwd_close(struct node *n, const char *why)
{
	fwd_reset(n, CALLRAFT__CODE__UNAVAILABLE, why);
	/* Detached connections never reach their link again (link_detach): its buffers can go. */
	struct fwd_link *links[] = {&n->fwd, &n->fwd_relay};
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
		rxbuf_release(&links[i]->rx);
		free(links[i]->queued); /* link_reset freed the frames in it */
		links[i]->queued = NULL;
		links[i]->cap_queued = 0;
	}
}

/* The link's target could not be reached: avoid it for a while (relay.h), then reset the link. */
static void link_fail_why(struct fwd_link *l, const char *why)
{
	struct node *n = l->node;
	relay_avoid_add(&n->relay_avoid, l->target_id, uv_now(&n->loop) + CALLRAFT_RELAY_AVOID_MS);
	LOG_EVENT_RATELIMITED(LOG_WARN, "forward_reset",
			      LOG_FIELDS(LOG_S("link", link_name(l)), LOG_U("member", l->target_id)),
			      "%s", why);
	link_reset(l, CALLRAFT__CODE__UNAVAILABLE, why);
}

static void link_fail(struct fwd_link *l, const char *what, int status)
{
	char why[256];
	snprintf(why, sizeof why, "forward to %s %llu at '%s': %s: %s: retry", link_name(l),
		 (unsigned long long)l->target_id, l->address, what, uv_strerror(status));
	link_fail_why(l, why);
}

/* A link whose requests have had no answer for CALLRAFT_FORWARD_SILENT_MS does not reach its
 * target (a cut link, a paused host): avoid the target; the pending requests keep waiting. */
static void link_note_silence(struct fwd_link *l, uint64_t now)
{
	struct node *n = l->node;
	if (l->waiting_since_ms == 0 || now < l->waiting_since_ms ||
	    now - l->waiting_since_ms < CALLRAFT_FORWARD_SILENT_MS)
		return;
	if (!relay_avoided(&n->relay_avoid, l->target_id, now))
		LOG_EVENT_RATELIMITED(LOG_WARN, "forward_silent",
				      LOG_FIELDS(LOG_S("link", link_name(l)), LOG_U("member", l->target_id)),
				      "forward to %s %llu at '%s': no answer for %llu ms: avoiding it",
				      link_name(l), (unsigned long long)l->target_id, l->address,
				      (unsigned long long)(now - l->waiting_since_ms));
	relay_avoid_add(&n->relay_avoid, l->target_id, now + CALLRAFT_RELAY_AVOID_MS);
}

static void write_cb(uv_write_t *req, int status)
{
	free(req->data);
	free(req);
	(void)status; /* errors surface on the read side */
}

static void link_write(struct fwd_link *l, uv_buf_t b)
{
	uv_write_t *w = malloc(sizeof *w);
	if (w == NULL) {
		free(b.base);
		return;
	}
	w->data = b.base;
	if (l->conn->tls != NULL) {
		if (tls_stream_write(l->conn->tls, (const uint8_t *)b.base, b.len) != 0)
			LOG_RATELIMITED(LOG_WARN, "forward: TLS write to %s %llu failed", link_name(l),
					(unsigned long long)l->target_id);
		free(b.base);
		free(w);
		return;
	}
	if (uv_write(w, (uv_stream_t *)&l->conn->tcp, &b, 1, write_cb) != 0) {
		free(b.base);
		free(w);
	}
}

/* Whether a relay's answer says it could not help (it knows no leader, or cannot reach it). */
static bool relay_could_not_help(Callraft__Code code)
{
	return code == CALLRAFT__CODE__NO_LEADER || code == CALLRAFT__CODE__NOT_LEADER ||
	       code == CALLRAFT__CODE__UNAVAILABLE;
}

/* Passes one reply frame from the target back to the client. */
static void relay(struct fwd_link *l, const uint8_t *frame, uint32_t len)
{
	struct node *n = l->node;
	Callraft__Reply *reply = callraft__reply__unpack(NULL, len, frame);
	struct fwd_pending *p;
	if (reply == NULL) {
		LOG_RATELIMITED(LOG_WARN, "forward: undecodable reply of %u bytes from %s %llu", len,
				link_name(l), (unsigned long long)l->target_id);
		return;
	}
	/* The target answered: it is reachable, unless it is a relay saying it cannot help. */
	if (l->relay && relay_could_not_help(reply->code))
		relay_avoid_add(&n->relay_avoid, l->target_id,
				uv_now(&n->loop) + CALLRAFT_RELAY_AVOID_MS);
	else
		relay_avoid_clear(&n->relay_avoid, l->target_id);
	p = pending_take(l, reply->request_id);
	callraft__reply__free_unpacked(reply, NULL);
	if (l->n_pending > 0)
		l->waiting_since_ms = uv_now(&n->loop); /* the others wait from this answer on */
	if (p == NULL)
		return; /* expired meanwhile */
	conn_send_reply_bytes(p->conn, frame, len, p->request_id);
	conn_unref(p->conn);
	free(p);
}

static void link_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct fwd_conn *fc = h->data;
	(void)suggested;
	if (fc->link == NULL) {
		*buf = uv_buf_init(NULL, 0); /* detached: libuv reports ENOBUFS, ignored below */
		return;
	}
	rxbuf_reserve(&fc->link->rx, buf);
}

/* Passes back every whole reply frame in rx. */
static void link_process(struct fwd_link *l)
{
	size_t off = 0;
	const uint8_t *body;
	uint32_t len;
	enum callraft_frame f;

	while ((f = callraft_frame_next(l->rx.data + off, l->rx.len - off, CALLRAFT_FRAME_BYTES_MAX,
					&body, &len)) == CALLRAFT_FRAME_WHOLE) {
		off += 4 + len;
		relay(l, body, len);
		if (l->state != FWD_CONNECTED)
			return;
	}
	if (f == CALLRAFT_FRAME_TOO_BIG) {
		link_fail(l, "reply frame too large", UV_EPROTO);
		return;
	}
	rxbuf_consume(&l->rx, off);
}

static void link_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct fwd_conn *fc = s->data;
	struct fwd_link *l = fc->link;
	(void)buf;
	if (l == NULL)
		return;
	if (nread < 0) {
		link_fail(l, "read", (int)nread);
		return;
	}
	l->rx.len += (size_t)nread;
	link_process(l);
}

static void link_up(struct fwd_link *l)
{
	l->state = FWD_CONNECTED;
	for (size_t i = 0; i < l->n_queued; i++)
		link_write(l, l->queued[i]);
	l->n_queued = 0;
}

static void tls_handshake_cb(struct tls_stream *ts)
{
	struct fwd_conn *fc = ts->data;
	struct fwd_link *l = fc->link;
	struct tls_identity id;
	char why[200];
	if (l == NULL)
		return;
	if (tls_identity_from_ssl(ts->ssl, &id) != 0 || id.node_id != l->target_id) {
		snprintf(why, sizeof why, "forward to %s %llu at '%s': certificate '%s' is not that "
			 "member's (callraft:node:%llu): retry", link_name(l),
			 (unsigned long long)l->target_id, l->address, id.name,
			 (unsigned long long)id.node_id);
		link_fail_why(l, why);
		return;
	}
	link_up(l);
}

static void tls_data_cb(struct tls_stream *ts, const uint8_t *data, size_t len)
{
	struct fwd_conn *fc = ts->data;
	struct fwd_link *l = fc->link;
	if (l == NULL)
		return;
	if (rxbuf_append(&l->rx, data, len) != 0) {
		link_fail(l, "read", UV_ENOMEM);
		return;
	}
	link_process(l);
}

static void tls_error_cb(struct tls_stream *ts, const char *reason)
{
	struct fwd_conn *fc = ts->data;
	struct fwd_link *l = fc->link;
	char why[400];
	if (l == NULL)
		return;
	snprintf(why, sizeof why, "forward to %s %llu at '%s': TLS: %s: retry", link_name(l),
		 (unsigned long long)l->target_id, l->address, reason);
	link_fail_why(l, why);
}

/* Starts the TLS client on the connected TCP stream; 0 or -1. */
static int link_tls_start(struct fwd_link *l)
{
	static const struct tls_stream_callbacks cbs = {tls_handshake_cb, tls_data_cb, tls_error_cb,
							 NULL};
	struct fwd_conn *fc = l->conn;
	char host[CALLRAFT_ADDRESS_BYTES_MAX + 1], err[256];

	if (tls_address_host(l->address, host, sizeof host) != 0)
		return -1;
	fc->tls = tls_stream_new(l->node->tls_ctx, (uv_stream_t *)&fc->tcp, false, host, fc, &cbs,
				 err, sizeof err);
	if (fc->tls == NULL) {
		LOG_RATELIMITED(LOG_WARN, "forward: %s", err);
		return -1;
	}
	return tls_stream_start(fc->tls) == 0 ? 0 : -1;
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct fwd_conn *fc = req->data;
	struct fwd_link *l = fc->link;
	if (l == NULL || l->state != FWD_CONNECTING)
		return; /* detached (reset) meanwhile */
	if (status != 0) {
		link_fail(l, "connect", status);
		return;
	}
	uv_tcp_nodelay(&fc->tcp, 1);
	uv_tcp_keepalive(&fc->tcp, 1, CALLRAFT_TCP_KEEPALIVE_S);
	if (l->node->tls_ctx != NULL) {
		if (link_tls_start(l) != 0)
			link_fail(l, "TLS", UV_EPROTO);
		return; /* CONNECTING until the target's certificate is proven */
	}
	uv_read_start((uv_stream_t *)&fc->tcp, link_alloc_cb, link_read_cb);
	link_up(l);
}

static int link_connect(struct fwd_link *l, uint64_t target_id, const char *address)
{
	struct node *n = l->node;
	char host[CALLRAFT_ADDRESS_BYTES_MAX + 1];
	const char *colon = strrchr(address, ':');
	struct addrinfo hints = {0}, *res = NULL;

	if (colon == NULL || tls_address_host(address, host, sizeof host) != 0)
		return -1; /* "[v6]:port" as well as "v4:port" and "name:port" */
	hints.ai_socktype = SOCK_STREAM;
	/* Member addresses are IP literals in practice: this does not block on DNS. */
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		return -1;
	struct fwd_conn *fc = calloc(1, sizeof *fc);
	if (fc == NULL) {
		freeaddrinfo(res);
		return -1;
	}
	uv_tcp_init(&n->loop, &fc->tcp);
	fc->tcp.data = fc;
	fc->connect_req.data = fc;
	fc->link = l;
	l->conn = fc;
	l->target_id = target_id;
	snprintf(l->address, sizeof l->address, "%s", address);
	l->state = FWD_CONNECTING;
	l->connect_started_ms = uv_now(&n->loop);
	if (uv_tcp_connect(&fc->connect_req, &fc->tcp, res->ai_addr, connect_cb) != 0) {
		freeaddrinfo(res);
		link_detach(l);
		return -1;
	}
	freeaddrinfo(res);
	return 0;
}

static int queue_frame(struct fwd_link *l, uv_buf_t b)
{
	if (l->n_queued == l->cap_queued) {
		size_t cap = l->cap_queued ? 2 * l->cap_queued : 64;
		uv_buf_t *q = realloc(l->queued, cap * sizeof *q);
		if (q == NULL)
			return -1;
		l->queued = q;
		l->cap_queued = cap;
	}
	l->queued[l->n_queued++] = b;
	return 0;
}

/* Member `id`'s client address into addr; 0, or -1 if it has none recorded. */
static int member_address(struct node *n, uint64_t id, char *addr, size_t len)
{
	Callraft__Member *m = NULL;
	int rv = -1;
	if (state_member_get(n->state, id, &m) != 0)
		return -1;
	if (m->client_address != NULL && m->client_address[0] != '\0') {
		snprintf(addr, len, "%s", m->client_address);
		rv = 0;
	}
	callraft__member__free_unpacked(m, NULL);
	return rv;
}

/* The relay for a request whose leader (`leader_id`, 0 if none) is not reachable (relay.h). */
static uint64_t relay_pick(struct node *n, uint64_t leader_id, uint64_t now)
{
	Callraft__Member *ms[CALLRAFT_MEMBERS_MAX];
	struct relay_member rm[CALLRAFT_MEMBERS_MAX];
	uint64_t known = leader_id != 0 ? leader_id : n->leader_last_id;
	const char *leader_site = NULL;
	size_t count = state_members(n->state, ms, CALLRAFT_MEMBERS_MAX);
	uint64_t id;

	for (size_t i = 0; i < count; i++) {
		rm[i].id = ms[i]->id;
		rm[i].site = ms[i]->site != NULL ? ms[i]->site : "";
		rm[i].has_address = ms[i]->client_address != NULL && ms[i]->client_address[0] != '\0';
		if (ms[i]->id == known)
			leader_site = rm[i].site;
	}
	id = relay_choose(rm, count, n->cfg.id, n->cfg.site, known, leader_site, &n->relay_avoid, now);
	for (size_t i = 0; i < count; i++)
		callraft__member__free_unpacked(ms[i], NULL);
	return id;
}

bool fwd_leader_reachable(struct node *n, uint64_t leader_id, uint64_t now_ms)
{
	if (n->fwd.target_id == leader_id)
		link_note_silence(&n->fwd, now_ms);
	return !relay_avoided(&n->relay_avoid, leader_id, now_ms);
}

void fwd_request(struct node *n, struct conn *c, Callraft__Request *req)
{
	char addr[CALLRAFT_ADDRESS_BYTES_MAX + 1];
	uint64_t now = uv_now(&n->loop), leader = repl_leader(n->repl, NULL), relay_id;
	bool relayed_here = req->forwarded; /* node.c lets only relay_ttl 1 through */

	if (leader == n->cfg.id)
		leader = 0; /* leader, not yet ready: as good as none for a forward */
	if (leader != 0 && leader != n->leader_last_id) {
		/* Raft just heard from a new leader: whatever made us avoid that member as a relay
		 * (it knew no leader during the election) no longer holds. */
		relay_avoid_clear(&n->relay_avoid, leader);
		n->leader_last_id = leader;
	}
	if (leader != 0 && fwd_leader_reachable(n, leader, now) &&
	    member_address(n, leader, addr, sizeof addr) == 0) {
		req->relay_ttl = 0;
		fwd_send(n, c, req, leader, addr);
		return;
	}
	if (relayed_here) { /* one relay, no more (node.h invariant 3) */
		if (leader == 0)
			conn_send_error(c, req->request_id, CALLRAFT__CODE__NO_LEADER,
					"relay %llu knows no leader either: retry",
					(unsigned long long)n->cfg.id);
		else
			conn_send_error(c, req->request_id, CALLRAFT__CODE__UNAVAILABLE,
					"relay %llu cannot reach leader %llu either: retry",
					(unsigned long long)n->cfg.id, (unsigned long long)leader);
		return;
	}
	link_note_silence(&n->fwd_relay, now);
	relay_id = relay_pick(n, leader, now);
	if (relay_id == 0 || member_address(n, relay_id, addr, sizeof addr) != 0) {
		if (leader == 0)
			conn_send_error(c, req->request_id, CALLRAFT__CODE__NO_LEADER,
					"no leader known at node %llu (election in progress, or site '%s' is cut off) and no member to relay through: retry",
					(unsigned long long)n->cfg.id, n->cfg.site);
		else
			conn_send_error(c, req->request_id, CALLRAFT__CODE__UNAVAILABLE,
					"leader %llu is not reachable from node %llu and no member to relay through: retry",
					(unsigned long long)leader, (unsigned long long)n->cfg.id);
		return;
	}
	if (leader == 0)
		LOG_EVENT_RATELIMITED(LOG_INFO, "forward_relay",
				      LOG_FIELDS(LOG_U("leader", leader), LOG_U("relay", relay_id)),
				      "forward: no leader known here (last: %llu): relaying through member %llu",
				      (unsigned long long)n->leader_last_id, (unsigned long long)relay_id);
	else
		LOG_EVENT_RATELIMITED(LOG_INFO, "forward_relay",
				      LOG_FIELDS(LOG_U("leader", leader), LOG_U("relay", relay_id)),
				      "forward: leader %llu not reachable from here: relaying through member %llu",
				      (unsigned long long)leader, (unsigned long long)relay_id);
	fwd_relay_send(n, c, req, relay_id, addr);
}

/* Sends `req` over link `l` to member `target_id` at `addr` with relay_ttl `ttl`. */
static void link_send(struct fwd_link *l, struct conn *c, Callraft__Request *req,
		      uint64_t target_id, const char *addr, uint32_t ttl)
{
	struct node *n = l->node;
	struct fwd_pending *p;
	uint64_t orig_id = req->request_id;
	uint32_t orig_ttl = req->relay_ttl;
	size_t len;
	uv_buf_t b;

	if (l->state != FWD_IDLE && (l->target_id != target_id || strcmp(l->address, addr) != 0))
		/* A new leader (or relay): the requests on the old link may or may not have been
		 * applied; this one goes over a new link at once. */
		link_reset(l, CALLRAFT__CODE__OUTCOME_UNKNOWN,
			   l->relay ? "relay changed: retry with the same seq"
				    : "leader changed: retry with the same seq");
	if (l->n_pending >= CALLRAFT_PENDING_REQUESTS_MAX) {
		conn_send_error(c, orig_id, CALLRAFT__CODE__UNAVAILABLE,
				"too many requests forwarded (%zu): retry later", l->n_pending);
		return;
	}
	if (l->state == FWD_IDLE && link_connect(l, target_id, addr) != 0) {
		relay_avoid_add(&n->relay_avoid, target_id, uv_now(&n->loop) + CALLRAFT_RELAY_AVOID_MS);
		conn_send_error(c, orig_id, CALLRAFT__CODE__UNAVAILABLE,
				"cannot connect to %s %llu at '%s': retry", link_name(l),
				(unsigned long long)target_id, addr);
		return;
	}
	if (l->relay)
		n->metrics.relayed_total++;
	else
		n->metrics.forwarded_total++;
	p = calloc(1, sizeof *p);
	if (p == NULL) {
		conn_send_error(c, orig_id, CALLRAFT__CODE__UNAVAILABLE, "out of memory: retry");
		return;
	}
	/* On the link the request travels under its link-local id; the caller keeps its own. The
	 * session, seq, secret and idempotency key travel unchanged: they make copies harmless. */
	req->request_id = p->fwd_id = ++l->next_fwd_id;
	req->forwarded = true;
	req->relay_ttl = ttl;
	len = callraft__request__get_packed_size(req);
	b = uv_buf_init(malloc(4 + len), (unsigned)(4 + len));
	if (b.base != NULL) {
		callraft_frame_put_len((uint8_t *)b.base, (uint32_t)len);
		callraft__request__pack(req, (uint8_t *)b.base + 4);
	}
	req->request_id = orig_id;
	req->relay_ttl = orig_ttl;
	if (b.base == NULL) {
		free(p);
		conn_send_error(c, orig_id, CALLRAFT__CODE__UNAVAILABLE, "out of memory: retry");
		return;
	}
	p->request_id = orig_id;
	p->conn = c;
	p->started_ms = uv_now(&n->loop);
	conn_ref(c);
	p->next = *bucket_of(l, p->fwd_id);
	*bucket_of(l, p->fwd_id) = p;
	l->n_pending++;
	if (l->waiting_since_ms == 0)
		l->waiting_since_ms = p->started_ms;
	if (l->state == FWD_CONNECTED)
		link_write(l, b);
	else if (queue_frame(l, b) != 0)
		free(b.base); /* the pending entry expires with TIMEOUT */
}

void fwd_send(struct node *n, struct conn *c, Callraft__Request *req, uint64_t leader_id,
	      const char *addr)
{
	link_send(&n->fwd, c, req, leader_id, addr, 0);
}

void fwd_relay_send(struct node *n, struct conn *c, Callraft__Request *req, uint64_t relay_id,
		    const char *addr)
{
	link_send(&n->fwd_relay, c, req, relay_id, addr, CALLRAFT_RELAY_TTL_MAX);
}

void fwd_housekeeping(struct node *n)
{
	fwd_expire(n, repl_leader(n->repl, NULL), uv_now(&n->loop));
}

/* Expires the link's requests older than CALLRAFT_FORWARD_TIMEOUT_MS and a connect that takes too
 * long. */
static void link_expire(struct fwd_link *l, uint64_t now)
{
	if (l->state == FWD_CONNECTING && now - l->connect_started_ms > CALLRAFT_TLS_HANDSHAKE_TIMEOUT_MS) {
		link_fail(l, "connect or TLS handshake", UV_ETIMEDOUT);
		return;
	}
	link_note_silence(l, now);
	for (size_t b = 0; b < CALLRAFT_FORWARD_BUCKETS; b++) {
		struct fwd_pending **pp = &l->buckets[b];
		while (*pp != NULL) {
			struct fwd_pending *p = *pp;
			if (now - p->started_ms < CALLRAFT_FORWARD_TIMEOUT_MS) {
				pp = &p->next;
				continue;
			}
			*pp = p->next;
			l->n_pending--;
			pending_fail(p, CALLRAFT__CODE__TIMEOUT,
				     l->relay ? "the relay did not answer in time: retry with the same seq"
					      : "the leader did not answer in time: retry with the same seq");
		}
	}
	if (l->n_pending == 0)
		l->waiting_since_ms = 0;
}

void fwd_expire(struct node *n, uint64_t leader, uint64_t now)
{
	struct fwd_link *l = &n->fwd;

	if (l->state != FWD_IDLE && l->target_id != leader)
		link_reset(l, CALLRAFT__CODE__OUTCOME_UNKNOWN, "leader changed: retry with the same seq");
	else
		link_expire(l, now);
	link_expire(&n->fwd_relay, now);
}

void fwd_init(struct node *n)
{
	memset(&n->fwd, 0, sizeof n->fwd);
	memset(&n->fwd_relay, 0, sizeof n->fwd_relay);
	memset(&n->relay_avoid, 0, sizeof n->relay_avoid);
	n->fwd.node = n;
	n->fwd_relay.node = n;
	n->fwd_relay.relay = true;
	n->leader_last_id = 0;
}

static void link_check(const struct fwd_link *l)
{
	size_t pending = 0;

	for (size_t b = 0; b < CALLRAFT_FORWARD_BUCKETS; b++)
		for (const struct fwd_pending *p = l->buckets[b]; p != NULL; p = p->next) {
			assert(p->fwd_id % CALLRAFT_FORWARD_BUCKETS == b && p->conn->refs > 0); /* F1 */
			pending++;
		}
	assert(pending == l->n_pending && pending <= CALLRAFT_PENDING_REQUESTS_MAX);
	assert(l->state != FWD_CONNECTED || l->n_queued == 0); /* F2 */
	assert(l->n_pending > 0 || l->waiting_since_ms == 0);  /* F4 */
	assert((l->conn == NULL) == (l->state == FWD_IDLE));    /* F5 */
	assert(l->conn == NULL || l->conn->link == l);
	(void)pending;
}

void fwd_check(const struct node *n)
{
	assert(!n->fwd.relay && n->fwd_relay.relay); /* F4 */
	link_check(&n->fwd);
	link_check(&n->fwd_relay);
	relay_avoid_check(&n->relay_avoid);
}
