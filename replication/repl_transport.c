/* repl_transport.c: the stock TCP transport with TCP_NODELAY on every Raft connection, and TLS on
 * every stream it returns (tls_transport.h) unless the node runs with insecure = true. Outgoing
 * connections are repl_connect.c's (a deadline, a dead-link timeout); listening is the stock one's.
 *
 * raft_uv_tcp leaves Nagle's algorithm on. Leader and follower exchange small messages back to
 * back (AppendEntries, its result, the next AppendEntries before the last one was acknowledged),
 * so Nagle holds a message until the peer's delayed ACK fires, up to 40 ms later: measured as a p99
 * of ~45 ms at 16 clients against a p50 of 1.4 ms (docs/bench.md). The wrapper delegates every
 * call to the stock transport and turns Nagle off on each stream it hands to raft_uv. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "callraft_limits.h"
#include "repl_internal.h"

/* raft_uv keeps its own pointer in transport->data: find the repl from the embedded structs. */
static struct repl *repl_of_transport(struct raft_uv_transport *t)
{
	return (struct repl *)((char *)t - offsetof(struct repl, transport));
}

static struct repl *repl_of_tcp(struct raft_uv_transport *tcp)
{
	return (struct repl *)((char *)tcp - offsetof(struct repl, tcp));
}

static void nodelay_set(struct uv_stream_s *stream)
{
	/* A latency optimisation only: if it fails the connection still works. */
	if (stream != NULL && stream->type == UV_TCP)
		(void)uv_tcp_nodelay((uv_tcp_t *)stream, 1);
}

static int nodelay_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
	struct repl *r = repl_of_transport(t);
	int rv = r->tcp.init(&r->tcp, id, address);
	r->self_id = id; /* raft's handshake on our own connections (repl_connect.c) */
	snprintf(r->self_address, sizeof r->self_address, "%s", address);
	if (rv != 0)
		snprintf(t->errmsg, sizeof t->errmsg, "%s", r->tcp.errmsg);
	return rv;
}

static void nodelay_accept_cb(struct raft_uv_transport *tcp, raft_id id, const char *address,
			      struct uv_stream_s *stream)
{
	struct repl *r = repl_of_tcp(tcp);
	nodelay_set(stream);
	if (r->peers.ctx != NULL) /* raft gets the stream once the peer's certificate proves `id` */
		tls_peers_accept(&r->peers, id, address, stream, &r->transport, r->accept_cb);
	else
		r->accept_cb(&r->transport, id, address, stream);
}

static int nodelay_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
	struct repl *r = repl_of_transport(t);
	r->accept_cb = cb;
	int rv = r->tcp.listen(&r->tcp, nodelay_accept_cb);
	if (rv != 0)
		snprintf(t->errmsg, sizeof t->errmsg, "%s", r->tcp.errmsg);
	return rv;
}

static int nodelay_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
			   const char *address, raft_uv_connect_cb cb)
{
	return repl_connect_start(repl_of_transport(t), req, id, address, cb);
}

static void nodelay_close_cb(struct raft_uv_transport *tcp)
{
	struct repl *r = repl_of_tcp(tcp);
	if (r->transport_close_cb != NULL)
		r->transport_close_cb(&r->transport);
}

static void peers_closed_cb(struct tls_peers *p)
{
	struct repl *r = (struct repl *)((char *)p - offsetof(struct repl, peers));
	r->tcp.close(&r->tcp, nodelay_close_cb);
}

static void connects_closed_cb(struct repl *r)
{
	tls_peers_close(&r->peers, peers_closed_cb); /* handshakes in progress next */
}

static void nodelay_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
	struct repl *r = repl_of_transport(t);
	r->transport_close_cb = cb;
	repl_connect_close(r, connects_closed_cb); /* our connects in flight first */
}

void repl_set_tls(struct repl *r, SSL_CTX *ctx)
{
	tls_peers_set_ctx(&r->peers, ctx);
}


int repl_transport_init(struct repl *r, uv_loop_t *loop, const char *address)
{
	int rv;
	r->tcp.version = 1; /* 0.16+: the struct version must be set */
	rv = raft_uv_tcp_init(&r->tcp, loop);
	if (rv != 0) {
		snprintf(r->errmsg, sizeof r->errmsg, "raft: transport: %s", raft_strerror(rv));
		return -1;
	}
	rv = raft_uv_tcp_set_bind_address(&r->tcp, address);
	if (rv != 0) {
		snprintf(r->errmsg, sizeof r->errmsg, "raft: bind address '%s': %s", address,
			 raft_strerror(rv));
		raft_uv_tcp_close(&r->tcp);
		return -1;
	}
	r->transport.version = 1;
	r->transport.init = nodelay_init;
	r->transport.listen = nodelay_listen;
	r->transport.connect = nodelay_connect;
	r->transport.close = nodelay_close;
	return 0;
}

