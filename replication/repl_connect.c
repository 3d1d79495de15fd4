/* repl_connect.c: raft's outgoing connections, with a deadline and a dead-link timeout (issue 12).
 *
 * Why: raft_uv writes to a peer over one outgoing TCP connection and never reads from it, so a
 * link cut between cities (packets dropped, no reset) leaves that connection open: its writes land
 * in the kernel's send buffer and TCP retransmits them with exponential back-off (0.2, 0.4, 0.8 s
 * ... doubling). When the link heals, nothing moves until the next retransmission, and after a cut
 * of tens of seconds that is seconds away: the link-cut drill measured 10-17 s before the healed
 * city caught up. A reconnect does not help by itself: a connect started during the cut sends SYNs
 * at 1, 3, 7, 15 ... s, and the stock transport has no deadline on it. So this module replaces the
 * stock transport's connect (src/uv_tcp_connect.c of canonical raft: resolve, connect, then raft's
 * handshake of protocol version, server id and address) with one that
 *   - sets TCP_USER_TIMEOUT (r->link_dead_ms) on the socket before connecting: data unacknowledged
 *     that long aborts the connection; raft's next write to it fails and raft reconnects at once;
 *   - gives up on a connect (resolution, TCP, handshake write) not done within r->connect_ms, so
 *     that raft retries after its connect retry delay (repl.c sets it) with a fresh SYN.
 * A healed link therefore carries raft traffic again within about connect_ms + the retry delay +
 * a round trip or two (TLS), instead of the TCP back-off. Listening stays the stock transport's.
 *
 * States of a request: RESOLVING -> CONNECTING -> HANDSHAKE (raft's handshake being written) ->
 * handed over (to tls_transport.c, or to raft); any state -> FAILING (the socket closing) ->
 * reported. Invariants:
 *   C1. raft's callback runs exactly once per request whose start returned 0, with a stream only on
 *       success (invariant 2 of tls_transport.c for the TLS leg).
 *   C2. A request is on r->connecting until it is freed, and it is freed only once its timer and
 *       socket are closed (or the socket handed over) and no resolution is in flight.
 *   C3. The transport's close waits until r->connecting is empty: no handle of ours is left. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "callraft_limits.h"
#include "dlist.h"
#include "repl_internal.h"
#include "tls.h"

/* raft's handshake (src/uv_tcp.h, UV__TCP_HANDSHAKE_PROTOCOL): three 64-bit little-endian words
 * (protocol, id, padded address length), then the address, NUL-padded to 8 bytes. */
#define RAFT_HANDSHAKE_PROTOCOL 1
#define HANDSHAKE_BYTES_MAX (3 * 8 + CALLRAFT_ADDRESS_BYTES_MAX + 1 + 7)

struct repl_connect {
	struct repl *r;
	struct repl_connect *prev, *next; /* r->connecting, until freed (C2) */
	struct raft_uv_connect *req;
	raft_uv_connect_cb cb;
	raft_id id;
	char address[CALLRAFT_ADDRESS_BYTES_MAX + 1];
	uv_getaddrinfo_t gai;
	bool resolving;
	struct addrinfo *ai; /* the resolved list, freed with the request */
	uv_tcp_t *tcp;       /* raft_malloc'd: raft (or tls_transport.c) frees it once handed over */
	bool tcp_open;       /* ours and not yet closed */
	uv_connect_t connect;
	uv_write_t write;
	uv_timer_t timer;
	bool timer_open;
	bool reported;
	int status; /* 0, or what to report once the socket is closed */
	size_t handshake_len;
	uint8_t handshake[HANDSHAKE_BYTES_MAX];
};

static void put64(uint8_t **p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		*(*p)++ = (uint8_t)(v >> (8 * i));
}

static size_t handshake_encode(uint8_t *buf, raft_id id, const char *address)
{
	size_t len = strlen(address) + 1, padded = (len + 7) / 8 * 8;
	uint8_t *p = buf;
	put64(&p, RAFT_HANDSHAKE_PROTOCOL);
	put64(&p, id);
	put64(&p, padded);
	memset(p, 0, padded);
	memcpy(p, address, len);
	return 3 * 8 + padded;
}

/* C2: free once nothing of the request is left in flight; report a failure first (C1). */
static void connect_maybe_done(struct repl_connect *c)
{
	struct repl *r = c->r;
	if (c->resolving || c->tcp_open || c->timer_open)
		return;
	if (!c->reported) {
		c->reported = true;
		c->cb(c->req, NULL, c->status);
	}
	DLIST_UNLINK(r->connecting, c);
	uv_freeaddrinfo(c->ai);
	free(c);
	repl_connect_maybe_closed(r);
}

static void tcp_closed_cb(uv_handle_t *h)
{
	struct repl_connect *c = h->data;
	raft_free(c->tcp);
	c->tcp = NULL;
	c->tcp_open = false;
	connect_maybe_done(c);
}

static void timer_closed_cb(uv_handle_t *h)
{
	struct repl_connect *c = h->data;
	c->timer_open = false;
	connect_maybe_done(c);
}

/* Any state -> FAILING: close what is open; connect_maybe_done reports `status` at the end. */
static void connect_fail(struct repl_connect *c, int status)
{
	if (c->status == 0)
		c->status = status;
	if (c->resolving)
		uv_cancel((uv_req_t *)&c->gai); /* its callback still runs, and sees the status */
	if (c->tcp_open && !uv_is_closing((uv_handle_t *)c->tcp))
		uv_close((uv_handle_t *)c->tcp, tcp_closed_cb);
	if (c->timer_open && !uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, timer_closed_cb);
	connect_maybe_done(c);
}

/* HANDSHAKE -> handed over: the stream goes to TLS (which reports to raft once the peer is
 * proven) or straight to raft. */
static void write_cb(uv_write_t *w, int status)
{
	struct repl_connect *c = w->data;
	struct repl *r = c->r;
	uv_stream_t *stream = (uv_stream_t *)c->tcp;

	if (status != 0 || c->status != 0 || r->connect_closing) {
		connect_fail(c, r->connect_closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
		return;
	}
	c->reported = true;
	c->tcp_open = false; /* no longer ours */
	if (r->peers.ctx != NULL)
		tls_peers_connect(&r->peers, c->id, c->address, stream, c->req, c->cb);
	else
		c->cb(c->req, stream, 0);
	uv_close((uv_handle_t *)&c->timer, timer_closed_cb);
}

/* CONNECTING -> HANDSHAKE, or the next resolved address. */
static void connect_start(struct repl_connect *c, const struct addrinfo *ai);

static void connect_cb(uv_connect_t *req, int status)
{
	struct repl_connect *c = req->data;
	uv_buf_t b;

	if (c->status != 0 || c->r->connect_closing) {
		connect_fail(c, c->r->connect_closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
		return;
	}
	if (status != 0) {
		connect_fail(c, RAFT_NOCONNECTION);
		return;
	}
	(void)uv_tcp_nodelay(c->tcp, 1); /* repl_transport.c: Nagle held small messages ~40 ms */
	b = uv_buf_init((char *)c->handshake, (unsigned)c->handshake_len);
	c->write.data = c;
	if (uv_write(&c->write, (uv_stream_t *)c->tcp, &b, 1, write_cb) != 0)
		connect_fail(c, RAFT_NOCONNECTION);
}

static void connect_start(struct repl_connect *c, const struct addrinfo *ai)
{
	uv_os_fd_t fd;
	unsigned dead_ms = c->r->link_dead_ms;

	c->tcp = raft_malloc(sizeof *c->tcp);
	if (c->tcp == NULL) {
		connect_fail(c, RAFT_NOMEM);
		return;
	}
	/* _ex creates the socket now, so that its options are set before the SYN. */
	if (uv_tcp_init_ex(c->r->loop, c->tcp, (unsigned)ai->ai_family) != 0) {
		raft_free(c->tcp);
		c->tcp = NULL;
		connect_fail(c, RAFT_NOCONNECTION);
		return;
	}
	c->tcp->data = c;
	c->tcp_open = true;
	/* A failure leaves the stock behaviour (TCP's own back-off): slower to heal, still correct. */
	if (uv_fileno((uv_handle_t *)c->tcp, &fd) == 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &dead_ms, sizeof dead_ms);
	c->connect.data = c;
	if (uv_tcp_connect(&c->connect, c->tcp, ai->ai_addr, connect_cb) != 0)
		connect_fail(c, RAFT_NOCONNECTION);
}

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct repl_connect *c = req->data;
	c->resolving = false;
	c->ai = res;
	if (c->status != 0 || c->r->connect_closing)
		connect_fail(c, c->r->connect_closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
	else if (status != 0 || res == NULL)
		connect_fail(c, RAFT_NOCONNECTION);
	else
		connect_start(c, res); /* the first address (names of members resolve to one) */
}

/* The deadline. A loop stalled past it (a loaded machine) may find the TCP connection already up
 * with its callback not yet run: then wait for it rather than throw a good connection away. */
static bool socket_connected(struct repl_connect *c)
{
	uv_os_fd_t fd;
	struct pollfd p;
	int err = 0;
	socklen_t len = sizeof err;
	if (!c->tcp_open || uv_fileno((uv_handle_t *)c->tcp, &fd) != 0)
		return false;
	p.fd = fd;
	p.events = POLLOUT;
	p.revents = 0;
	return poll(&p, 1, 0) == 1 && (p.revents & POLLOUT) &&
	       getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
}

static void timer_cb(uv_timer_t *t)
{
	struct repl_connect *c = t->data;
	if (socket_connected(c)) {
		uv_timer_start(&c->timer, timer_cb, c->r->connect_ms, 0);
		return;
	}
	connect_fail(c, RAFT_NOCONNECTION);
}

int repl_connect_start(struct repl *r, struct raft_uv_connect *req, raft_id id, const char *address,
		       raft_uv_connect_cb cb)
{
	static const struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	char host[CALLRAFT_ADDRESS_BYTES_MAX + 1];
	const char *port = strrchr(address, ':');
	struct repl_connect *c;

	if (r->connect_closing)
		return RAFT_CANCELED;
	if (strlen(address) > CALLRAFT_ADDRESS_BYTES_MAX || port == NULL ||
	    tls_address_host(address, host, sizeof host) != 0) {
		snprintf(r->transport.errmsg, sizeof r->transport.errmsg,
			 "connect: address '%s' is not host:port", address);
		return RAFT_NOCONNECTION;
	}
	c = calloc(1, sizeof *c);
	if (c == NULL) {
		snprintf(r->transport.errmsg, sizeof r->transport.errmsg, "connect: out of memory");
		return RAFT_NOMEM;
	}
	c->r = r;
	c->req = req;
	c->cb = cb;
	c->id = id;
	snprintf(c->address, sizeof c->address, "%s", address);
	c->handshake_len = handshake_encode(c->handshake, r->self_id, r->self_address);
	c->gai.data = c;
	if (uv_getaddrinfo(r->loop, &c->gai, resolved_cb, host, port + 1, &hints) != 0) {
		snprintf(r->transport.errmsg, sizeof r->transport.errmsg,
			 "connect: cannot resolve '%s'", host);
		free(c);
		return RAFT_NOCONNECTION;
	}
	c->resolving = true;
	uv_timer_init(r->loop, &c->timer);
	c->timer.data = c;
	c->timer_open = true;
	uv_timer_start(&c->timer, timer_cb, r->connect_ms, 0);
	req->cb = cb; /* as the stock transport does for its caller's request */
	DLIST_PUSH(r->connecting, c);
	return 0;
}

void repl_connect_close(struct repl *r, void (*cb)(struct repl *r))
{
	struct repl_connect *c, *next;
	r->connect_closing = true;
	r->connect_closed_cb = cb;
	DLIST_FOREACH_SAFE(c, r->connecting, next) {
		connect_fail(c, RAFT_CANCELED);
	}
	repl_connect_maybe_closed(r);
}

void repl_connect_maybe_closed(struct repl *r)
{
	void (*cb)(struct repl *r) = r->connect_closed_cb;
	if (r->connect_closing && r->connecting == NULL && cb != NULL) {
		r->connect_closed_cb = NULL;
		cb(r);
	}
}
