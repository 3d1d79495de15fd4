/* conn.c: the client listener, framing and replies.
 *
 * Frames are a 4-byte big-endian length and a protobuf message. A request frame longer than
 * CALLRAFT_REQUEST_BYTES_MAX gets a BAD_FRAME reply and the connection is closed (the stream cannot
 * be resynchronised); a frame that does not decode gets BAD_FRAME and the connection stays open. */
#include <assert.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callraft_ops.h"
#include "log.h"
#include "node_internal.h"

struct write_req {
	uv_write_t req;
	uint8_t *buf;
};

static void conn_free_cb(uv_handle_t *h)
{
	struct conn *c = h->data;
	free(c->rx);
	free(c);
}

static void conn_maybe_free(struct conn *c)
{
	if (c->sink != NULL) {
		if (c->closing && c->refs == 0)
			c->sink->release(c); /* frees c */
		return;
	}
	if (c->closing && c->refs == 0 && !uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, conn_free_cb);
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
	uv_read_stop((uv_stream_t *)&c->tcp);
	if (c->prev)
		c->prev->next = c->next;
	else
		n->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	n->n_conns--;
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
	(void)status; /* a failed write means the peer is gone: its read side closes the conn */
	free(w->buf);
	free(w);
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


void conn_send_reply_bytes(struct conn *c, const uint8_t *bytes, size_t len, uint64_t request_id)
{
	struct write_req *w;
	size_t patch;
	uv_buf_t b;

	if (c == NULL || c->closing)
		return;
	if (c->sink != NULL) {
		c->sink->reply(c, bytes, len, request_id);
		return;
	}
	w = malloc(sizeof *w);
	if (w == NULL)
		return;
	w->buf = malloc(4 + len + 11);
	if (w->buf == NULL) {
		free(w);
		return;
	}
	memcpy(w->buf + 4, bytes, len);
	/* Field 1 (request_id), varint: appended, so it overrides any earlier value. */
	w->buf[4 + len] = 0x08;
	patch = 1 + put_varint(w->buf + 4 + len + 1, request_id);
	callraft_frame_put_len(w->buf, (uint32_t)(len + patch));
	b = uv_buf_init((char *)w->buf, (unsigned)(4 + len + patch));
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb) != 0) {
		free(w->buf);
		free(w);
		conn_close(c);
	}
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

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)suggested;
	if (c->rx_cap - c->rx_len < CALLRAFT_RX_CHUNK_BYTES) {
		size_t cap = c->rx_len + CALLRAFT_RX_CHUNK_BYTES;
		uint8_t *p = realloc(c->rx, cap);
		if (p == NULL) {
			*buf = uv_buf_init(NULL, 0);
			return;
		}
		c->rx = p;
		c->rx_cap = cap;
	}
	*buf = uv_buf_init((char *)c->rx + c->rx_len, (unsigned)(c->rx_cap - c->rx_len));
}


/* Handles every whole frame in rx. Returns -1 if the connection must close. */
static int conn_process(struct conn *c)
{
	size_t off = 0;
	while (c->rx_len - off >= 4) {
		uint32_t len = callraft_frame_get_len(c->rx + off);
		Callraft__Request *req;
		if (len > CALLRAFT_REQUEST_BYTES_MAX) {
			conn_send_error(c, 0, CALLRAFT__CODE__BAD_FRAME,
					"frame of %u bytes exceeds the limit of %u bytes: closing", len,
					CALLRAFT_REQUEST_BYTES_MAX);
			return -1;
		}
		if (c->rx_len - off - 4 < len)
			break;
		req = callraft__request__unpack(NULL, len, c->rx + off + 4);
		off += 4 + len;
		if (req == NULL) {
			conn_send_error(c, 0, CALLRAFT__CODE__BAD_FRAME,
					"frame of %u bytes is not a valid Request message", len);
			continue;
		}
		c->node->requests_total++;
		node_handle_request(c->node, c, req); /* takes ownership of req */
		if (c->closing)
			return -1;
	}
	memmove(c->rx, c->rx + off, c->rx_len - off);
	c->rx_len -= off;
	return 0;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	(void)buf;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->rx_len += (size_t)nread;
	if (conn_process(c) != 0)
		conn_close(c);
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
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || n->stopping ||
	    n->n_conns >= CALLRAFT_CONNECTIONS_MAX) {
		if (n->n_conns >= CALLRAFT_CONNECTIONS_MAX)
			LOG_RATELIMITED(LOG_WARN, "client: refusing a connection: %u open (limit)",
					n->n_conns);
		c->closing = true;
		uv_close((uv_handle_t *)&c->tcp, conn_free_cb);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	uv_tcp_keepalive(&c->tcp, 1, CALLRAFT_TCP_KEEPALIVE_S);
	c->next = n->conns;
	if (n->conns)
		n->conns->prev = c;
	n->conns = c;
	n->n_conns++;
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

/* Resolves "host:port" (IPv4/IPv6 literal or name) into a sockaddr. */
static int resolve(const char *address, struct sockaddr_storage *out, char *errmsg, size_t len)
{
	char host[CALLRAFT_ADDRESS_BYTES_MAX + 1];
	const char *colon = strrchr(address, ':');
	struct addrinfo hints = {0}, *res = NULL;
	int rv;

	if (colon == NULL || (size_t)(colon - address) >= sizeof host) {
		snprintf(errmsg, len, "address '%s': expected host:port", address);
		return -1;
	}
	memcpy(host, address, (size_t)(colon - address));
	host[colon - address] = '\0';
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
