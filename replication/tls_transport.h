/* tls_transport.h: Raft peers over mutual TLS 1.3.
 *
 * repl.c's raft_uv_transport delegates TCP (bind, listen, connect, IPv4/IPv6/hostnames) and raft's
 * own connection handshake (protocol version, server id, address: src/uv_tcp_connect.c and
 * uv_tcp_listen.c of canonical raft) to the stock raft_uv_tcp transport, and hands every stream it
 * returns to this module before raft sees it:
 *
 *   stock accept/connect ─► HANDSHAKING (TLS over the TCP stream, memory BIOs on the loop)
 *        ─► VERIFY: the peer certificate chains to the cluster CA, carries callraft:node:<id> for
 *           the id raft's handshake named, and a DNS/IP SAN for the host of the address it named
 *           (incoming: the address the peer claims; outgoing: the one we dialled)
 *        ─► PUMPING: a socketpair; raft gets one end as a plain uv stream (a uv_pipe_t it frees
 *           with raft_free, as it does the stock transport's streams), and this module moves bytes
 *           between the other end and the TLS stream, both ways
 *        ─► CLOSED when either side closes or fails (raft sees EOF and reconnects as usual).
 *
 * Refused: no certificate, a certificate of another CA, expired, of another member, not naming
 * the claimed host, a plain-TCP peer (the forged RequestVote of issue 13), a handshake not done in
 * CALLRAFT_TLS_HANDSHAKE_TIMEOUT_MS. Each refusal is logged with the claimed id and address; raft
 * never reads a byte of a refused connection.
 *
 * The raft handshake itself (id and address, no secret) travels in clear before TLS starts; it is
 * only a claim, which the certificate must then prove. */
#ifndef CALLRAFT_TLS_TRANSPORT_H
#define CALLRAFT_TLS_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include <openssl/ssl.h>

struct tls_peer;

struct tls_peers {
	uv_loop_t *loop;
	SSL_CTX *ctx;           /* borrowed; NULL: TLS off (the streams pass through untouched) */
	struct tls_peer *head;  /* every link not yet closed */
	unsigned n_handshaking;
	bool closing;
	void (*closed_cb)(struct tls_peers *);
	uint64_t refused;       /* connections refused (bad or missing certificate, wrong identity) */
};

void tls_peers_init(struct tls_peers *p, uv_loop_t *loop);

/* Swaps the context new links use (SIGHUP reload); links already up keep theirs. */
void tls_peers_set_ctx(struct tls_peers *p, SSL_CTX *ctx);

/* An incoming stream that raft's handshake says comes from member `id` at `address`. Takes
 * ownership of `tcp` (allocated by the stock transport with raft_malloc). Calls
 * `cb(transport, id, address, stream)` once the peer is proven, never if it is refused. */
void tls_peers_accept(struct tls_peers *p, raft_id id, const char *address, struct uv_stream_s *tcp,
		      struct raft_uv_transport *transport, raft_uv_accept_cb cb);

/* An outgoing stream to member `id` at `address` (raft's handshake already sent). Takes
 * ownership of `tcp`. Calls `cb(req, stream, 0)` once the server is proven, or
 * `cb(req, NULL, RAFT_NOCONNECTION)` (RAFT_CANCELED when closing), exactly once. */
void tls_peers_connect(struct tls_peers *p, raft_id id, const char *address, struct uv_stream_s *tcp,
		       struct raft_uv_connect *req, raft_uv_connect_cb cb);

/* Fails every handshake in progress (outgoing ones with RAFT_CANCELED) and closes every link
 * already handed to raft (raft is closing its ends); `cb` fires once, after every link's handles
 * have closed, so `p` (and the memory holding it) may be freed from it. */
void tls_peers_close(struct tls_peers *p, void (*cb)(struct tls_peers *));

#endif
