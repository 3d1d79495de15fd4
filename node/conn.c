/* conn.c: the client listener, framing and replies.
 *
 * With TLS (the default) each connection runs a server-side tls_stream: nothing is read as a
 * request until the client's certificate was verified against the cluster CA; its identity (roles,
 * site, or member id for a forwarding node) is kept in c->id for authz. A client that speaks plain
 * TCP to a TLS port gets one plain BAD_FRAME reply saying so, then the connection closes.
 *
 * Frames are a 4-byte big-endian length and a protobuf message. A request frame longer than
 * CALLRAFT_REQUEST_BYTES_MAX gets a BAD_FRAME reply and the connection is closed (the stream cannot
 * be resynchronised); a frame that does not decode gets BAD_FRAME and the connection stays open.
 *
 * Hostile clients (issue 13; every number is in proto/callraft_limits.h):
 *   - slots: at most CALLRAFT_CONNECTIONS_MAX connections, and [client] connections_per_source
 *     from one address; beyond either, CALLRAFT_CONNECTIONS_RESERVED more are accepted on
 *     probation for the forward links of other members: such a connection must send a forwarded
 *     request within CALLRAFT_CONN_RESERVED_PROBATION_MS, else it is refused (UNAVAILABLE) and
 *     closed. A client flood therefore cannot block forwarded writes.
 *   - replies: a reply above the frame limit is replaced by RESOURCE_EXHAUSTED; reply bytes queued
 *     above CALLRAFT_CONN_TX_BYTES_HIGH (or too many requests in flight) stop reading the
 *     connection (TCP backpressure) until they drain below the low mark; above
 *     CALLRAFT_CONN_TX_BYTES_MAX, or stalled for CALLRAFT_CONN_STALL_MS, the connection is closed.
 *   - time: a frame must arrive whole within [client] frame_timeout_ms (slowloris), unless its
 *     rest already waits unread in the socket (the node's delay, conn_bytes_waiting); a connection
 *     with nothing in flight and nothing received for [client] idle_timeout_ms is closed, unless
 *     it has sent forwarded requests (a member's forward link stays up between bursts).
 * Refusals are logged at most once a second per kind. */
#include <assert.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "authz.h"
#include "callraft_ops.h"
#include "dlist.h"
#include "log.h"
#include "node_internal.h"

struct write_req {
	uv_write_t req;
	struct conn *conn;
	uint8_t *buf;
};

static int conn_process(struct conn *c);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static uint64_t conn_now_ms(const struct conn *c)
{
	return uv_now(&c->node->loop);
}

/* Stops reading (backpressure); conn_maybe_resume reads again. */
static void conn_pause(struct conn *c)
{
	if (c->paused || c->closing)
		return;
	c->paused = true;
	c->paused_ms = conn_now_ms(c);
	if (c->tls != NULL)
		tls_stream_read_stop(c->tls);
	else
		uv_read_stop((uv_stream_t *)&c->tcp);
}

static bool conn_overloaded(const struct conn *c)
{
	return c->tcp.write_queue_size > CALLRAFT_CONN_TX_BYTES_HIGH || c->refs >= CALLRAFT_CONN_INFLIGHT_MAX;
}

/* Reads again once the queued replies drained below the low mark and few requests are in
 * flight; first handles the whole frames still buffered. */
static void conn_maybe_resume(struct conn *c)
{
	if (!c->paused || c->closing || c->tcp.write_queue_size > CALLRAFT_CONN_TX_BYTES_LOW ||
	    c->refs >= CALLRAFT_CONN_INFLIGHT_MAX / 2)
		return;
	c->paused = false;
	c->frame_start_ms = conn_now_ms(c);
	if (conn_process(c) != 0) {
		conn_close(c);
		return;
	}
	if (c->paused)
		return;
	if (c->tls != NULL)
		(void)tls_stream_read_start(c->tls);
	else
		uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

static void conn_free_cb(uv_handle_t *h)
{
	struct conn *c = h->data;
	if (c->tls != NULL) {
		tls_stream_release(c->tls);
		free(c->tls);
	}
	rxbuf_release(&c->rx);
	free(c);
}

static void conn_maybe_free(struct conn *c)
{
	if (c->sink != NULL) {
		if (c->closing && c->refs == 0)
			c->sink->release(c); /* frees c */
		return;
	}
	if (c->closing && c->refs == 0 && !uv_is_closing((uv_handle_t *)&c->tcp)) {
		c->tcp.data = c; /* a tls_stream had it: conn_free_cb needs the conn */
		uv_close((uv_handle_t *)&c->tcp, conn_free_cb);
	}
}

void conn_virtual_init(struct conn *c, struct node *n, const struct conn_sink *sink)
{
	memset(c, 0, sizeof *c);
	c->node = n;
	c->sink = sink;
}

void conn_ref(struct conn *c)
{
	c->refs++;
}

void conn_unref(struct conn *c)
{
	assert(c->refs > 0);
	c->refs--;
	/* A paused connection resumes from write_cb (a clean loop context): the reply of this
	 * request is being written. */
	conn_maybe_free(c);
}

void conn_close(struct conn *c)
{
	struct node *n = c->node;
	if (c->closing)
		return;
	c->closing = true;
	if (c->sink != NULL) {
		conn_maybe_free(c);
		return;
	}
	if (c->tls != NULL)
		tls_stream_stop(c->tls);
	uv_read_stop((uv_stream_t *)&c->tcp);
	DLIST_UNLINK(n->conns, c);
	n->n_conns--;
	if (c->reserved)
		n->n_reserved--;
	conn_maybe_free(c);
}

void conn_close_all(struct node *n)
{
	while (n->conns != NULL)
		conn_close(n->conns);
}

static void write_cb(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct conn *c = w->conn;

	/* A failed write means the peer is gone: its read side closes the conn. The conn outlives
	 * its writes: uv_close cancels them (status UV_ECANCELED) before the close callback. */
	free(w->buf);
	free(w);
	if (status == 0)
		conn_maybe_resume(c);
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}


/* The code of an encoded Reply without decoding it: protobuf-c writes fields in number order, so
 * the code (field 2, varint) follows the request id (field 1, varint) or is absent (OK). */
static Callraft__Code reply_code_peek(const uint8_t *p, size_t len)
{
	size_t i = 0;
	uint64_t v;

	while (i < len) {
		uint8_t tag = p[i++];
		if (tag != 0x08 && tag != 0x10)
			return CALLRAFT__CODE__OK;
		v = 0;
		for (unsigned shift = 0; i < len && shift < 64; shift += 7) {
			v |= (uint64_t)(p[i] & 0x7f) << shift;
			if ((p[i++] & 0x80) == 0)
				break;
		}
		if (tag == 0x10)
			return (Callraft__Code)v;
	}
	return CALLRAFT__CODE__OK;
}

/* The frame of a reply (`bytes` with request_id appended, see conn_send_reply_bytes), in `frame`
 * of at least 4 + len + 11 bytes. Returns the frame's length. */
static size_t reply_frame(uint8_t *frame, const uint8_t *bytes, size_t len, uint64_t request_id)
{
	size_t patch;
	memcpy(frame + 4, bytes, len);
	/* Field 1 (request_id), varint: appended, so it overrides any earlier value. */
	frame[4 + len] = 0x08;
	patch = 1 + put_varint(frame + 4 + len + 1, request_id);
	callraft_frame_put_len(frame, (uint32_t)(len + patch));
	return 4 + len + patch;
}

/* A reply over TLS: OpenSSL copies the plaintext into its records, so a usual reply's frame is
 * built on the stack (no allocation, no write request of ours). */
static void conn_send_tls(struct conn *c, const uint8_t *bytes, size_t len, uint64_t request_id)
{
	uint8_t small[4096], *frame = 4 + len + 11 <= sizeof small ? small : malloc(4 + len + 11);
	int rv;
	if (frame == NULL)
		return;
	rv = tls_stream_write(c->tls, frame, reply_frame(frame, bytes, len, request_id));
	if (frame != small)
		free(frame);
	if (rv != 0)
		conn_close(c);
	else if (conn_overloaded(c))
		conn_pause(c);
}

void conn_send_reply_bytes(struct conn *c, const uint8_t *bytes, size_t len, uint64_t request_id)
{
	struct write_req *w;
	uv_buf_t b;

	if (c == NULL || c->closing)
		return;
	Callraft__Code code = reply_code_peek(bytes, len);
	if ((unsigned)code <= CALLRAFT__CODE__INTERNAL)
		c->node->metrics.replies_by_code[code]++;
	if (c->sink != NULL) {
		c->sink->reply(c, bytes, len, request_id);
		return;
	}
	if (len + 4 + 11 > CALLRAFT_FRAME_BYTES_MAX) {
		/* Never a frame the client must refuse: say what happened instead. */
		LOG_EVENT_RATELIMITED(LOG_WARN, "refusal",
				      LOG_FIELDS(LOG_S("reason", "reply_too_large"),
						 LOG_S("client", c->source), LOG_U("bytes", len)),
				      "client %s: reply of %zu bytes exceeds the frame limit",
				      c->source, len);
		conn_send_error(c, request_id, CALLRAFT__CODE__RESOURCE_EXHAUSTED,
				"reply of %zu bytes exceeds the frame limit of %u bytes: ask for fewer "
				"rows (limit)", len, CALLRAFT_FRAME_BYTES_MAX);
		return;
	}
	if (c->tcp.write_queue_size + len > CALLRAFT_CONN_TX_BYTES_MAX) {
		LOG_EVENT_RATELIMITED(LOG_WARN, "client_closed",
				      LOG_FIELDS(LOG_S("reason", "replies_not_read"),
						 LOG_S("client", c->source)),
				      "client %s: %zu reply bytes queued, not read: closing", c->source,
				      c->tcp.write_queue_size);
		conn_close(c);
		return;
	}
	if (c->tls != NULL) {
		conn_send_tls(c, bytes, len, request_id);
		return;
	}
	w = malloc(sizeof *w);
	if (w == NULL)
		return;
	w->conn = c;
	w->buf = malloc(4 + len + 11);
	if (w->buf == NULL) {
		free(w);
		return;
	}
	b = uv_buf_init((char *)w->buf, (unsigned)reply_frame(w->buf, bytes, len, request_id));
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb) != 0) {
		free(w->buf);
		free(w);
		conn_close(c);
		return;
	}
	if (conn_overloaded(c))
		conn_pause(c);
}

void conn_send_reply(struct conn *c, Callraft__Reply *reply)
{
	size_t len = callraft__reply__get_packed_size(reply);
	uint8_t *buf = malloc(len ? len : 1);
	if (buf == NULL)
		return;
	callraft__reply__pack(reply, buf);
	conn_send_reply_bytes(c, buf, len, reply->request_id);
	free(buf);
}

void conn_send_error(struct conn *c, uint64_t request_id, Callraft__Code code, const char *fmt, ...)
{
	Callraft__Reply reply = CALLRAFT__REPLY__INIT;
	char msg[512], addr[CALLRAFT_ADDRESS_BYTES_MAX + 1];
	va_list ap;

	if (c == NULL || c->closing)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	reply.request_id = request_id;
	reply.code = code;
	reply.message = msg;
	if (code == CALLRAFT__CODE__NOT_LEADER || code == CALLRAFT__CODE__NO_LEADER)
		node_leader_hint(c->node, &reply, addr, sizeof addr);
	conn_send_reply(c, &reply);
}

void conn_refuse(struct conn *c, Callraft__Request *req, Callraft__Code code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	conn_send_error(c, req->request_id, code, "%s", msg);
	callraft__request__free_unpacked(req, NULL);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)suggested;
	rxbuf_reserve(&c->rx, buf);
}

/* Handles every whole frame in rx. Returns -1 if the connection must close. */
static int conn_process(struct conn *c)
{
	size_t off = 0;
	for (;;) {
		const uint8_t *body;
		uint32_t len;
		enum callraft_frame f = callraft_frame_next(c->rx.data + off, c->rx.len - off,
							    CALLRAFT_REQUEST_BYTES_MAX, &body, &len);
		Callraft__Request *req;
		if (f == CALLRAFT_FRAME_TOO_BIG) {
			conn_send_error(c, 0, CALLRAFT__CODE__BAD_FRAME,
					"frame of %u bytes exceeds the limit of %u bytes: closing", len,
					CALLRAFT_REQUEST_BYTES_MAX);
			return -1;
		}
		if (f == CALLRAFT_FRAME_PARTIAL)
			break;
		req = callraft__request__unpack(NULL, len, body);
		off += 4 + len;
		if (req == NULL) {
			conn_send_error(c, 0, CALLRAFT__CODE__BAD_FRAME,
					"frame of %u bytes is not a valid Request message", len);
			continue;
		}
		if (!callraft_message_reencodes(&req->base)) {
			/* It would poison the entry it is batched into (callraft_ops.h). */
			conn_send_error(c, req->request_id, CALLRAFT__CODE__BAD_FRAME,
					"frame of %u bytes holds a malformed field (number 0)", len);
			callraft__request__free_unpacked(req, NULL);
			continue;
		}
		if (c->reserved && !c->peer) {
			if (!req->forwarded) {
				conn_send_error(c, req->request_id, CALLRAFT__CODE__UNAVAILABLE,
						"too many connections (from '%s' or in all): retry later",
						c->source);
				callraft__request__free_unpacked(req, NULL);
				return -1;
			}
		}
		c->peer = c->peer || req->forwarded;
		c->node->requests_total++;
		node_handle_request(c->node, c, req); /* takes ownership of req */
		if (c->closing)
			return -1;
		if (conn_overloaded(c))
			conn_pause(c);
		if (c->paused)
			break; /* the rest waits for conn_maybe_resume */
	}
	rxbuf_consume(&c->rx, off);
	return 0;
}

/* The last `n` bytes of rx just arrived (read from the socket, or decrypted): handles the whole
 * frames. */
static void conn_received(struct conn *c, size_t n)
{
	bool fresh = c->rx.len == n;
	uint64_t now = conn_now_ms(c);
	size_t before = c->rx.len;

	c->last_rx_ms = now;
	if (conn_process(c) != 0) {
		conn_close(c);
		return;
	}
	/* The frame clock starts with the first byte of a frame. */
	if (c->rx.len > 0 && (fresh || c->rx.len < before))
		c->frame_start_ms = now;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	(void)buf;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->rx.len += (size_t)nread;
	conn_received(c, (size_t)nread);
}

/* Number of open ordinary (not reserved) connections from `source`. */
static unsigned source_count(const struct node *n, const char *source)
{
	unsigned count = 0;

	for (const struct conn *c = n->conns; c != NULL; c = c->next)
		if (!c->reserved && strcmp(c->source, source) == 0)
			count++;
	return count;
}

static void peer_name(uv_tcp_t *tcp, char *out, size_t len)
{
	struct sockaddr_storage sa;
	int sa_len = sizeof sa;

	snprintf(out, len, "?");
	if (uv_tcp_getpeername(tcp, (struct sockaddr *)&sa, &sa_len) != 0)
		return;
	if (sa.ss_family == AF_INET)
		uv_ip4_name((struct sockaddr_in *)&sa, out, len);
	else if (sa.ss_family == AF_INET6)
		uv_ip6_name((struct sockaddr_in6 *)&sa, out, len);
}

/* A configured limit, or its default when the config left it 0 (nodes built without config_load,
 * as unit tests do). */
static unsigned cfg_or(unsigned v, unsigned dflt)
{
	return v != 0 ? v : dflt;
}

/* Decides the slot of a new connection: 0 ordinary, 1 reserved (probation), -1 refused. */
static int conn_slot(struct node *n, const char *source)
{
	unsigned ordinary = n->n_conns - n->n_reserved;

	if (ordinary < CALLRAFT_CONNECTIONS_MAX &&
	    source_count(n, source) < cfg_or(n->cfg.client_connections_per_source,
					     CALLRAFT_CONNECTIONS_PER_SOURCE_DEFAULT))
		return 0;
	if (n->n_reserved < CALLRAFT_CONNECTIONS_RESERVED)
		return 1;
	LOG_EVENT_RATELIMITED(LOG_WARN, "refusal",
			      LOG_FIELDS(LOG_S("reason", "connection_limit"), LOG_S("client", source)),
			      "client: refusing a connection from %s: %u open, %u from it, reserved "
			      "slots full (limits)",
			      source, ordinary, source_count(n, source));
	return -1;
}

static void conn_expire(struct conn *c, const char *why)
{
	LOG_EVENT_RATELIMITED(LOG_INFO, "client_closed",
			      LOG_FIELDS(LOG_S("reason", why), LOG_S("client", c->source)),
			      "client %s: closing: %s", c->source, why);
	conn_close(c);
}

/* Whether the connection's socket holds bytes the node has not read yet. The sweep runs from a
 * timer, and libuv runs timers before it polls for I/O: after the loop was busy (a burst of
 * pipelined requests processed under load, a sanitized build) the rest of a frame may be waiting
 * unread in the socket. The frame's clock is then the node's delay, not the client's. */
static bool conn_bytes_waiting(struct conn *c)
{
	uv_os_fd_t fd;
	int pending = 0;
	return uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 && ioctl(fd, FIONREAD, &pending) == 0 &&
	       pending > 0;
}

void conn_sweep(struct node *n)
{
	uint64_t now = uv_now(&n->loop);
	uint64_t frame_ms = cfg_or(n->cfg.client_frame_timeout_ms, CALLRAFT_CONN_FRAME_MS_DEFAULT);
	uint64_t idle_ms = cfg_or(n->cfg.client_idle_timeout_ms, CALLRAFT_CONN_IDLE_MS_DEFAULT);
	struct conn *c, *next;

	DLIST_FOREACH_SAFE(c, n->conns, next) { /* conn_close unlinks c */
		if (c->tls != NULL && !c->tls->open &&
		    now - c->accepted_ms >= CALLRAFT_TLS_HANDSHAKE_TIMEOUT_MS)
			conn_expire(c, "no TLS handshake in time");
		else if (c->reserved && !c->peer &&
		    now - c->accepted_ms >= CALLRAFT_CONN_RESERVED_PROBATION_MS)
			conn_expire(c, "reserved slot without a forwarded request");
		else if (c->rx.len > 0 && !c->paused &&
			 now - c->frame_start_ms >= frame_ms && !conn_bytes_waiting(c))
			conn_expire(c, "frame not complete in time (frame_timeout_ms)");
		else if (c->paused && now - c->paused_ms >= CALLRAFT_CONN_STALL_MS)
			conn_expire(c, "replies not read (stalled)");
		else if (c->refs == 0 && c->rx.len == 0 && !c->peer &&
			 now - c->last_rx_ms >= idle_ms)
			conn_expire(c, "idle (idle_timeout_ms)");
	}
}

/* ------------------------------------------------------------------------------------------------
 * TLS: the stream's callbacks. */

static void tls_handshake_cb(struct tls_stream *ts)
{
	struct conn *c = ts->data;
	char roles[64];
	if (tls_identity_from_ssl(ts->ssl, &c->id) != 0) {
		LOG_RATELIMITED(LOG_WARN, "client %s: refused: certificate carries a malformed callraft: URI",
				c->source);
		conn_close(c);
		return;
	}
	if (c->reserved && c->id.node_id == 0) {
		/* The reserved slots are for other members' forward links (see above). */
		LOG_RATELIMITED(LOG_WARN, "client %s: refused: too many connections, and certificate "
				"'%s' is not a member's", c->source, c->id.name);
		conn_close(c);
		return;
	}
	c->peer = c->id.node_id != 0;
	c->authn = true;
	if (SSL_session_reused(ts->ssl))
		c->node->metrics.tls_handshakes_resumed++;
	else
		c->node->metrics.tls_handshakes_full++;
	tls_roles_format(c->id.roles, roles, sizeof roles);
	if (c->id.node_id != 0)
		LOG_DEBUG_("client %s: TLS: member %llu ('%s')", c->source,
			   (unsigned long long)c->id.node_id, c->id.name);
	else
		LOG_DEBUG_("client %s: TLS: '%s' roles %s%s%s", c->source, c->id.name, roles,
			   c->id.site[0] ? " site " : "", c->id.site);
}

static void tls_data_cb(struct tls_stream *ts, const uint8_t *data, size_t len)
{
	struct conn *c = ts->data;
	if (rxbuf_append(&c->rx, data, len) != 0) {
		conn_close(c);
		return;
	}
	conn_received(c, len);
}

/* A TLS write completed: a paused connection may read again. */
static void tls_written_cb(struct tls_stream *ts)
{
	conn_maybe_resume(ts->data);
}

/* A plain-TCP client on a TLS port: one plain reply it can decode, so its user learns why. */
static void send_plain_refusal(struct conn *c)
{
	static const char msg[] = "this node requires TLS with a client certificate signed by the "
				  "cluster CA (set CALLRAFT_TLS_CA, CALLRAFT_TLS_CERT, CALLRAFT_TLS_KEY; "
				  "docs/security.md)";
	Callraft__Reply reply = CALLRAFT__REPLY__INIT;
	struct write_req *w = malloc(sizeof *w);
	size_t len;
	uv_buf_t b;
	if (w == NULL)
		return;
	w->conn = c; /* write_cb resumes it (a no-op: it is closing) */
	reply.code = CALLRAFT__CODE__BAD_FRAME;
	reply.message = (char *)msg;
	len = callraft__reply__get_packed_size(&reply);
	w->buf = malloc(4 + len);
	if (w->buf == NULL) {
		free(w);
		return;
	}
	callraft_frame_put_len(w->buf, (uint32_t)len);
	callraft__reply__pack(&reply, w->buf + 4);
	b = uv_buf_init((char *)w->buf, (unsigned)(4 + len));
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb) != 0) {
		free(w->buf);
		free(w);
	}
}

static void tls_error_cb(struct tls_stream *ts, const char *reason)
{
	struct conn *c = ts->data;
	if (!ts->open) {
		LOG_RATELIMITED(LOG_WARN, "client %s: TLS handshake refused: %s", c->source, reason);
		if (strstr(reason, "http request") != NULL || strstr(reason, "wrong version number") != NULL ||
		    strstr(reason, "packet length too long") != NULL)
			send_plain_refusal(c);
	} else {
		LOG_DEBUG_("client %s: TLS: %s", c->source, reason);
	}
	conn_close(c);
}

static int conn_tls_start(struct conn *c)
{
	static const struct tls_stream_callbacks cbs = {tls_handshake_cb, tls_data_cb, tls_error_cb,
							 tls_written_cb};
	char err[256];

	c->tls = tls_stream_new(c->node->tls_ctx, (uv_stream_t *)&c->tcp, true, NULL, c, &cbs, err,
				sizeof err);
	if (c->tls == NULL) {
		LOG_RATELIMITED(LOG_WARN, "client %s: %s", c->source, err);
		return -1;
	}
	return tls_stream_start(c->tls) == 0 ? 0 : -1;
}

bool conn_refuses(struct conn *c, const Callraft__Request *req)
{
	char why[300];
	if (!c->authn && c->node->tls_ctx == NULL)
		return false; /* insecure = true: no identities */
	if (!c->authn) /* cannot happen: requests are read only after a verified handshake */
		snprintf(why, sizeof why, "no verified client certificate on this connection");
	else if (authz_check(&c->id, req, why, sizeof why) == 0)
		return false;
	LOG_RATELIMITED(LOG_WARN, "client %s: PERMISSION_DENIED: %s", c->source[0] ? c->source : "http",
			why);
	conn_send_error(c, req->request_id, CALLRAFT__CODE__PERMISSION_DENIED, "%s", why);
	return true;
}

void conn_log_denied(struct conn *c, const Callraft__Request *req, const uint8_t *reply, size_t len)
{
	Callraft__Reply *r;

	if (req == NULL || req->actor_site == NULL || req->actor_site[0] == '\0')
		return; /* only a site-limited actor's commands are refused by the state */
	r = callraft__reply__unpack(NULL, len, reply);
	if (r != NULL && r->code == CALLRAFT__CODE__PERMISSION_DENIED)
		LOG_RATELIMITED(LOG_WARN, "client %s: PERMISSION_DENIED: %s",
				c != NULL && c->source[0] ? c->source : "http", r->message);
	if (r != NULL)
		callraft__reply__free_unpacked(r, NULL);
}

int conn_stamp_actor(struct conn *c, Callraft__Request *req)
{
	if (c->authn && c->id.node_id != 0)
		return 0; /* a member forwarding: the stamp of the node that received it stands */
	return authz_stamp(c->authn ? &c->id : NULL, req);
}

static void connection_cb(uv_stream_t *server, int status)
{
	struct node *n = server->data;
	struct conn *c;

	if (status != 0)
		return;
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return;
	c->node = n;
	uv_tcp_init(&n->loop, &c->tcp);
	c->tcp.data = c;
	int slot = -1;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) == 0 && !n->stopping) {
		peer_name(&c->tcp, c->source, sizeof c->source);
		slot = conn_slot(n, c->source);
	}
	if (slot < 0) {
		c->closing = true;
		uv_close((uv_handle_t *)&c->tcp, conn_free_cb);
		return;
	}
	c->reserved = slot == 1;
	n->n_reserved += c->reserved;
	c->accepted_ms = c->last_rx_ms = uv_now(&n->loop);
	uv_tcp_nodelay(&c->tcp, 1);
	uv_tcp_keepalive(&c->tcp, 1, CALLRAFT_TCP_KEEPALIVE_S);
	DLIST_PUSH(n->conns, c);
	n->n_conns++;
	if (n->tls_ctx != NULL) {
		if (conn_tls_start(c) != 0)
			conn_close(c);
		return;
	}
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

/* Resolves "host:port" (IPv4/IPv6 literal or name) into a sockaddr. */
static int resolve(const char *address, struct sockaddr_storage *out, char *errmsg, size_t len)
{
	char host[CALLRAFT_ADDRESS_BYTES_MAX + 1];
	const char *colon = strrchr(address, ':');
	struct addrinfo hints = {0}, *res = NULL;
	int rv;

	/* "[v6]:port" as well as "v4:port" and "name:port". */
	if (colon == NULL || tls_address_host(address, host, sizeof host) != 0) {
		snprintf(errmsg, len, "address '%s': expected host:port", address);
		return -1;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rv = getaddrinfo(host, colon + 1, &hints, &res);
	if (rv != 0) {
		snprintf(errmsg, len, "address '%s': %s", address, gai_strerror(rv));
		return -1;
	}
	memcpy(out, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

int conn_listen(struct node *n, char *errmsg, size_t len)
{
	struct sockaddr_storage sa;
	int rv;

	if (resolve(n->cfg.client_address, &sa, errmsg, len) != 0)
		return -1;
	uv_tcp_init(&n->loop, &n->listener);
	n->listener.data = n;
	rv = uv_tcp_bind(&n->listener, (struct sockaddr *)&sa, 0);
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)&n->listener, CALLRAFT_LISTEN_BACKLOG, connection_cb);
	if (rv != 0) {
		snprintf(errmsg, len, "client: listen on '%s': %s", n->cfg.client_address,
			 uv_strerror(rv));
		return -1;
	}
	return 0;
}
