/* tls_transport.c: see tls_transport.h.
 *
 * A link's handles: the TCP stream (the stock transport's, raft_malloc'd), a handshake timer, and
 * once proven our end of the socketpair (a uv_pipe_t). The link is freed when all of them have
 * closed (handles_open == 0). Invariants:
 *   1. state HANDSHAKING <=> counted in peers->n_handshaking.
 *   2. An outgoing link calls raft's connect callback exactly once (deliver or fail).
 *   3. raft gets a stream only after tls_identity matched the claimed id and host.
 *   4. tls_peers_close's callback fires once, after the last link's last handle has closed. */
#include "tls_transport.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "callraft_limits.h"
#include "callraft_timing.h"
#include "dlist.h"
#include "tls.h"
#include "tls_stream.h"

enum peer_state { PEER_HANDSHAKING = 0, PEER_PUMPING, PEER_CLOSING };

struct tls_peer {
	struct tls_peers *peers;
	struct tls_peer *prev, *next;
	enum peer_state state;
	bool outgoing;
	raft_id id;
	char address[CALLRAFT_ADDRESS_BYTES_MAX + 1];
	uv_tcp_t *tcp;
	struct tls_stream ts;
	uv_timer_t timer;
	uv_pipe_t pipe;        /* our end of the socketpair (PUMPING) */
	bool pipe_open;
	bool pipe_reading;
	unsigned handles_open;
	/* outgoing: raft's request; incoming: raft's accept callback */
	struct raft_uv_connect *req;
	raft_uv_connect_cb connect_cb;
	struct raft_uv_transport *transport;
	raft_uv_accept_cb accept_cb;
};

/* Invariant 4: the close callback fires once every link's handles have closed, never before:
 * the links live inside the owner's memory (struct repl), which is freed after the callback. */
static void peers_maybe_closed(struct tls_peers *p)
{
	if (p->closing && p->head == NULL && p->closed_cb != NULL) {
		void (*cb)(struct tls_peers *) = p->closed_cb;
		p->closed_cb = NULL;
		cb(p);
	}
}

static void peer_handle_closed(struct tls_peer *l)
{
	struct tls_peers *p = l->peers;
	assert(l->handles_open > 0);
	if (--l->handles_open > 0)
		return;
	DLIST_UNLINK(p->head, l);
	tls_stream_release(&l->ts);
	raft_free(l->tcp);
	free(l);
	peers_maybe_closed(p);
}

static void tcp_closed_cb(uv_handle_t *h)
{
	struct tls_stream *ts = h->data;
	peer_handle_closed(ts->data);
}

static void other_closed_cb(uv_handle_t *h)
{
	peer_handle_closed(h->data);
}

static void peer_close(struct tls_peer *l)
{
	if (l->state == PEER_CLOSING)
		return;
	if (l->state == PEER_HANDSHAKING) {
		assert(l->peers->n_handshaking > 0);
		l->peers->n_handshaking--;
	}
	l->state = PEER_CLOSING;
	tls_stream_stop(&l->ts);
	uv_close((uv_handle_t *)l->tcp, tcp_closed_cb);
	uv_close((uv_handle_t *)&l->timer, other_closed_cb);
	if (l->pipe_open)
		uv_close((uv_handle_t *)&l->pipe, other_closed_cb);
}

/* Refuses or drops a link before raft has it (invariant 2 for outgoing links). */
static void peer_fail(struct tls_peer *l, int status, const char *why)
{
	bool handshaking = l->state == PEER_HANDSHAKING;
	if (l->state == PEER_CLOSING)
		return;
	if (handshaking) {
		l->peers->refused++;
		tls_log(2, "peer %s member %llu at '%s': refused: %s",
			l->outgoing ? "to" : "from", (unsigned long long)l->id, l->address, why);
	} else {
		tls_log(0, "peer link %s member %llu at '%s': %s", l->outgoing ? "to" : "from",
			(unsigned long long)l->id, l->address, why);
	}
	if (handshaking && l->outgoing) {
		struct raft_uv_connect *req = l->req;
		raft_uv_connect_cb cb = l->connect_cb;
		l->req = NULL;
		peer_close(l);
		cb(req, NULL, status);
		return;
	}
	peer_close(l);
}

/* ------------------------------------------------------------------------------------------------
 * PUMPING: raft's plain bytes <-> TLS records. */

struct pipe_write {
	uv_write_t req;
	char buf[];
};

static void pipe_write_cb(uv_write_t *req, int status)
{
	(void)status; /* a failed write shows up as an error on the pipe's read side */
	free(req);
}

static void ts_data_cb(struct tls_stream *ts, const uint8_t *data, size_t len)
{
	struct tls_peer *l = ts->data;
	struct pipe_write *w;
	uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
	/* Straight into raft's end when nothing is queued before it (libuv refuses otherwise, which
	 * keeps the order); a copy is queued only for what the socketpair did not take. */
	int n = uv_try_write((uv_stream_t *)&l->pipe, &b, 1);
	if (n < 0 && n != UV_EAGAIN) {
		peer_fail(l, RAFT_IOERR, "write to raft's end failed");
		return;
	}
	if (n > 0) {
		data += n;
		len -= (size_t)n;
	}
	if (len == 0)
		return;
	w = malloc(sizeof *w + len);
	if (w == NULL) {
		peer_fail(l, RAFT_NOMEM, "out of memory");
		return;
	}
	memcpy(w->buf, data, len);
	b = uv_buf_init(w->buf, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&l->pipe, &b, 1, pipe_write_cb) != 0) {
		free(w);
		peer_fail(l, RAFT_IOERR, "write to raft's end failed");
	}
}

static void ts_error_cb(struct tls_stream *ts, const char *reason)
{
	struct tls_peer *l = ts->data;
	peer_fail(l, RAFT_NOCONNECTION, reason);
}

static void pipe_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct tls_peer *l = s->data;
	if (nread < 0) {
		free(buf->base);
		peer_fail(l, RAFT_NOCONNECTION, "closed by raft");
		return;
	}
	if (nread > 0 && l->state == PEER_PUMPING &&
	    tls_stream_write(&l->ts, (const uint8_t *)buf->base, (size_t)nread) == 0 &&
	    l->ts.queued_bytes > CALLRAFT_TLS_PEER_QUEUE_BYTES_MAX && l->pipe_reading) {
		/* Backpressure: raft's writes wait in the socketpair until the network catches up. */
		uv_read_stop((uv_stream_t *)&l->pipe);
		l->pipe_reading = false;
	}
	free(buf->base);
}

static void ts_drained_cb(struct tls_stream *ts)
{
	struct tls_peer *l = ts->data;
	if (l->state == PEER_PUMPING && !l->pipe_reading &&
	    l->ts.queued_bytes <= CALLRAFT_TLS_PEER_QUEUE_BYTES_MAX / 2 &&
	    uv_read_start((uv_stream_t *)&l->pipe, tls_stream_alloc_cb, pipe_read_cb) == 0)
		l->pipe_reading = true;
}

/* ------------------------------------------------------------------------------------------------
 * HANDSHAKING -> PUMPING. */

/* Invariant 3: the certificate names the member id and the host raft's handshake named. */
static int peer_verify(struct tls_peer *l, char *why, size_t len)
{
	struct tls_identity id;
	char host[CALLRAFT_ADDRESS_BYTES_MAX + 1];
	X509 *cert;
	bool host_ok;

	if (tls_identity_from_ssl(l->ts.ssl, &id) != 0)
		return snprintf(why, len, "certificate not verified or malformed"), -1;
	if (id.node_id == 0)
		return snprintf(why, len, "certificate '%s' is not a member's (no callraft:node URI)",
				id.name), -1;
	if (id.node_id != l->id)
		return snprintf(why, len, "certificate '%s' is member %llu's, not member %llu's", id.name,
				(unsigned long long)id.node_id, (unsigned long long)l->id), -1;
	if (tls_address_host(l->address, host, sizeof host) != 0)
		return snprintf(why, len, "address is not host:port"), -1;
	cert = SSL_get1_peer_certificate(l->ts.ssl);
	host_ok = cert != NULL && tls_cert_matches_host(cert, host);
	X509_free(cert);
	if (!host_ok)
		return snprintf(why, len, "certificate '%s' does not name host '%s'", id.name, host), -1;
	return 0;
}

static void ts_handshake_cb(struct tls_stream *ts)
{
	struct tls_peer *l = ts->data;
	struct tls_peers *p = l->peers;
	uv_pipe_t *raft_end = NULL;
	char why[256];
	int fds[2] = {-1, -1};

	if (peer_verify(l, why, sizeof why) != 0) {
		peer_fail(l, RAFT_NOCONNECTION, why);
		return;
	}
	raft_end = raft_malloc(sizeof *raft_end);
	if (raft_end == NULL || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
		raft_free(raft_end);
		peer_fail(l, RAFT_NOCONNECTION, "socketpair failed");
		return;
	}
	uv_pipe_init(p->loop, &l->pipe, 0);
	l->pipe.data = l;
	l->pipe_open = true;
	l->handles_open++;
	uv_pipe_init(p->loop, raft_end, 0);
	if (uv_pipe_open(&l->pipe, fds[0]) != 0 || uv_pipe_open(raft_end, fds[1]) != 0 ||
	    uv_read_start((uv_stream_t *)&l->pipe, tls_stream_alloc_cb, pipe_read_cb) != 0) {
		/* uv_close closes an fd the pipe holds; one it does not hold is closed here. */
		if (uv_fileno((uv_handle_t *)&l->pipe, &(uv_os_fd_t){0}) != 0)
			close(fds[0]);
		if (uv_fileno((uv_handle_t *)raft_end, &(uv_os_fd_t){0}) != 0)
			close(fds[1]);
		uv_close((uv_handle_t *)raft_end, (uv_close_cb)raft_free);
		peer_fail(l, RAFT_NOCONNECTION, "cannot open the socketpair");
		return;
	}
	l->pipe_reading = true;
	uv_timer_stop(&l->timer);
	assert(p->n_handshaking > 0);
	p->n_handshaking--;
	l->state = PEER_PUMPING;
	tls_log(1, "peer %s member %llu at '%s': TLS up", l->outgoing ? "to" : "from",
		(unsigned long long)l->id, l->address);
	if (l->outgoing) {
		struct raft_uv_connect *req = l->req;
		l->req = NULL;
		l->connect_cb(req, (struct uv_stream_s *)raft_end, 0);
	} else {
		l->accept_cb(l->transport, l->id, l->address, (struct uv_stream_s *)raft_end);
	}
}

static void timer_cb(uv_timer_t *t)
{
	struct tls_peer *l = t->data;
	char why[64];
	snprintf(why, sizeof why, "no TLS handshake within %d ms", CALLRAFT_TLS_HANDSHAKE_TIMEOUT_MS);
	peer_fail(l, RAFT_NOCONNECTION, why);
}

static struct tls_peer *peer_new(struct tls_peers *p, raft_id id, const char *address,
				 struct uv_stream_s *tcp, bool outgoing)
{
	struct tls_peer *l = calloc(1, sizeof *l);
	char err[256];
	char host[CALLRAFT_ADDRESS_BYTES_MAX + 1];
	if (l == NULL)
		return NULL;
	l->peers = p;
	l->outgoing = outgoing;
	l->id = id;
	snprintf(l->address, sizeof l->address, "%s", address);
	l->tcp = (uv_tcp_t *)tcp;
	l->ts.data = l;
	if (tls_address_host(address, host, sizeof host) != 0)
		host[0] = '\0';
	if (tls_stream_init(&l->ts, p->ctx, tcp, !outgoing, outgoing ? host : NULL, err, sizeof err) !=
	    0) {
		tls_log(3, "peer member %llu at '%s': %s", (unsigned long long)id, address, err);
		free(l);
		return NULL;
	}
	l->ts.on_handshake = ts_handshake_cb;
	l->ts.on_data = ts_data_cb;
	l->ts.on_error = ts_error_cb;
	l->ts.on_drained = ts_drained_cb;
	uv_timer_init(p->loop, &l->timer);
	l->timer.data = l;
	l->handles_open = 2; /* tcp, timer */
	DLIST_PUSH(p->head, l);
	p->n_handshaking++;
	(void)uv_tcp_nodelay(l->tcp, 1);
	(void)uv_tcp_keepalive(l->tcp, 1, CALLRAFT_TCP_KEEPALIVE_S);
	uv_timer_start(&l->timer, timer_cb, CALLRAFT_TLS_HANDSHAKE_TIMEOUT_MS, 0);
	return l;
}

/* Closes a stream we could not wrap (out of memory, closing). */
static void tcp_discard(struct uv_stream_s *tcp)
{
	uv_close((uv_handle_t *)tcp, (uv_close_cb)raft_free);
}

void tls_peers_init(struct tls_peers *p, uv_loop_t *loop)
{
	memset(p, 0, sizeof *p);
	p->loop = loop;
}

void tls_peers_set_ctx(struct tls_peers *p, SSL_CTX *ctx)
{
	p->ctx = ctx;
}

void tls_peers_accept(struct tls_peers *p, raft_id id, const char *address, struct uv_stream_s *tcp,
		      struct raft_uv_transport *transport, raft_uv_accept_cb cb)
{
	struct tls_peer *l;
	if (p->closing || (l = peer_new(p, id, address, tcp, false)) == NULL) {
		tcp_discard(tcp);
		return;
	}
	l->transport = transport;
	l->accept_cb = cb;
	if (tls_stream_start(&l->ts) != 0)
		peer_fail(l, RAFT_NOCONNECTION, "cannot read");
}

void tls_peers_connect(struct tls_peers *p, raft_id id, const char *address, struct uv_stream_s *tcp,
		       struct raft_uv_connect *req, raft_uv_connect_cb cb)
{
	struct tls_peer *l;
	if (p->closing || (l = peer_new(p, id, address, tcp, true)) == NULL) {
		tcp_discard(tcp);
		cb(req, NULL, p->closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
		return;
	}
	l->req = req;
	l->connect_cb = cb;
	if (tls_stream_start(&l->ts) != 0)
		peer_fail(l, RAFT_NOCONNECTION, "cannot read");
}

void tls_peers_close(struct tls_peers *p, void (*cb)(struct tls_peers *))
{
	struct tls_peer *l, *next;
	p->closing = true;
	p->closed_cb = cb;
	DLIST_FOREACH_SAFE(l, p->head, next) {
		if (l->state == PEER_HANDSHAKING)
			peer_fail(l, RAFT_CANCELED, "transport closing");
		else if (l->state == PEER_PUMPING)
			peer_close(l); /* raft is closing its ends too; nothing more is read or written */
	}
	peers_maybe_closed(p);
}
