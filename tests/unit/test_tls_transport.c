/* test_tls_transport.c: Raft peers over TLS (replication/tls_transport.c) on loopback, two members
 * in one loop: member 1 dials member 2; both prove themselves with certificates this test makes
 * (a CA, callraft:node URIs, IP 127.0.0.1) and hand raft a plain stream that carries bytes both
 * ways. Then the close paths: tls_peers_close's callback fires exactly once, only after every
 * link's handles have closed (invariant 4), whether the links are up (handed to raft) or still in
 * their handshake, and whether raft closes its ends before the transport or after. The owner of
 * the tls_peers frees it from that callback, as repl.c does with struct repl: a callback fired
 * early (the shutdown use-after-free that CI's ASan stage found in test_cluster_5, fixed in
 * 5e6d16f) fails the callback's check here, and under the sanitizers is also a heap
 * use-after-free. The loop ends with nothing open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "tls_transport.h"

#include "test_loop.h"
#include "test_pki.h"

/* ------------------------------------------------------------------------------------------------
 * Two members' transports in one loop. */

/* What holds a tls_peers in the node: struct repl, freed from the close callback. */
struct owner {
	struct tls_peers peers; /* first */
	int *closed;
};

struct fixture {
	uv_loop_t loop;
	struct test_pki pki;
	SSL_CTX *ctx1, *ctx2;
	struct owner *a, *b; /* a: member 1 (dials), b: member 2 (accepts); NULL once freed */
	struct raft_uv_connect req;
	struct raft_uv_transport transport;
	int connect_cbs, connect_status, accept_cbs, closed_a, closed_b;
	struct uv_stream_s *out; /* raft's end of the link at member 1 */
	struct uv_stream_s *in;  /* at member 2 */
	char got[16];
	size_t got_len;
};

static struct fixture *fixture_of(struct uv_stream_s *s)
{
	return s->loop->data;
}

static void owner_closed(struct tls_peers *p)
{
	struct owner *o = (struct owner *)p;
	/* Invariant 4: nothing of any link is left to call back into the memory freed here. */
	assert_null(p->head);
	assert_int_equal(p->n_handshaking, 0);
	(*o->closed)++;
	memset(o, 0xa5, sizeof *o);
	free(o);
}

static struct owner *owner_new(uv_loop_t *loop, SSL_CTX *ctx, int *closed)
{
	struct owner *o = calloc(1, sizeof *o);
	assert_non_null(o);
	tls_peers_init(&o->peers, loop);
	tls_peers_set_ctx(&o->peers, ctx);
	o->closed = closed;
	return o;
}

static void connect_cb(struct raft_uv_connect *req, struct uv_stream_s *stream, int status)
{
	struct fixture *f = req->data;
	f->connect_cbs++;
	f->connect_status = status;
	f->out = stream;
}

static void accept_cb(struct raft_uv_transport *t, raft_id id, const char *address,
		      struct uv_stream_s *stream)
{
	struct fixture *f = t->data;
	assert_int_equal(id, 1);
	assert_string_equal(address, "127.0.0.1:9001");
	f->accept_cbs++;
	f->in = stream;
}

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof f);
	assert_int_equal(uv_loop_init(&f.loop), 0);
	f.loop.data = &f;
	/* As deploy/certs.sh makes them: member 1 and member 2 on 127.0.0.1. */
	pki_init(&f.pki, "test_tls_transport");
	pki_issue(&f.pki, "node1", "URI:callraft:node:1,IP:127.0.0.1", 3600);
	pki_issue(&f.pki, "node2", "URI:callraft:node:2,IP:127.0.0.1", 3600);
	f.ctx1 = pki_ctx(&f.pki, "node1");
	f.ctx2 = pki_ctx(&f.pki, "node2");
	f.a = owner_new(&f.loop, f.ctx1, &f.closed_a);
	f.b = owner_new(&f.loop, f.ctx2, &f.closed_b);
	f.req.data = &f;
	f.transport.data = &f;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	loop_close_checked(&f->loop); /* every handle of every link was closed */
	assert_int_equal(f->closed_a, 1);
	assert_int_equal(f->closed_b, 1);
	SSL_CTX_free(f->ctx1);
	SSL_CTX_free(f->ctx2);
	pki_release(&f->pki);
	return 0;
}

/* A connected loopback TCP pair as the stock transport hands it over (raft_malloc'd uv_tcp_t,
 * raft's own handshake already exchanged), then to the TLS layer of each member. */
static void link_start(struct fixture *f)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sa;
	int lfd = socket(AF_INET, SOCK_STREAM, 0), cfd, afd;
	uv_tcp_t *ta = raft_malloc(sizeof *ta), *tb = raft_malloc(sizeof *tb);

	assert_true(lfd >= 0 && ta != NULL && tb != NULL);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&sa, sizeof sa), 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	close(lfd);
	assert_int_equal(uv_tcp_init(&f->loop, ta), 0);
	assert_int_equal(uv_tcp_open(ta, cfd), 0);
	assert_int_equal(uv_tcp_init(&f->loop, tb), 0);
	assert_int_equal(uv_tcp_open(tb, afd), 0);
	tls_peers_connect(&f->a->peers, 2, "127.0.0.1:9002", (struct uv_stream_s *)ta, &f->req,
			  connect_cb);
	tls_peers_accept(&f->b->peers, 1, "127.0.0.1:9001", (struct uv_stream_s *)tb, &f->transport,
			 accept_cb);
}

static bool both_up(void *arg)
{
	struct fixture *f = arg;
	return f->connect_cbs > 0 && f->accept_cbs > 0;
}

static bool got_ping(void *arg)
{
	struct fixture *f = arg;
	return f->got_len >= 4;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct fixture *f = fixture_of((struct uv_stream_s *)h);
	(void)suggested;
	*buf = uv_buf_init(f->got + f->got_len, (unsigned)(sizeof f->got - f->got_len));
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct fixture *f = fixture_of(s);
	(void)buf;
	if (nread > 0)
		f->got_len += (size_t)nread;
	else if (nread < 0)
		uv_read_stop(s);
}

static void write_cb(uv_write_t *w, int status)
{
	assert_int_equal(status, 0);
	free(w);
}

/* Both members proven, and raft's bytes cross the link: member 1's raft end to member 2's. */
static void links_up(struct fixture *f)
{
	uv_write_t *w = malloc(sizeof *w);
	uv_buf_t b = uv_buf_init((char *)"ping", 4);

	link_start(f);
	loop_run_until(&f->loop, both_up, f, 10000);
	assert_int_equal(f->connect_cbs, 1);
	assert_int_equal(f->connect_status, 0);
	assert_int_equal(f->accept_cbs, 1);
	assert_non_null(f->out);
	assert_non_null(f->in);
	assert_int_equal(f->a->peers.refused + f->b->peers.refused, 0);
	assert_non_null(w);
	assert_int_equal(uv_read_start(f->in, alloc_cb, read_cb), 0);
	assert_int_equal(uv_write(w, f->out, &b, 1, write_cb), 0);
	loop_run_until(&f->loop, got_ping, f, 10000);
	assert_int_equal(f->got_len, 4);
	assert_memory_equal(f->got, "ping", 4);
}

/* raft_uv's close: it closes its streams, then the transport (repl_transport.c chains to
 * tls_peers_close). Both in one loop turn, before any close callback has run. */
static void close_after_raft_closed_its_ends(void **state)
{
	struct fixture *f = *state;
	links_up(f);
	uv_close((uv_handle_t *)f->out, (uv_close_cb)raft_free);
	uv_close((uv_handle_t *)f->in, (uv_close_cb)raft_free);
	tls_peers_close(&f->a->peers, owner_closed);
	tls_peers_close(&f->b->peers, owner_closed);
	/* The links' handles are closing: the callbacks wait for them. */
	assert_int_equal(f->closed_a, 0);
	assert_int_equal(f->closed_b, 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->connect_cbs, 1);
	assert_int_equal(f->accept_cbs, 1);
}

/* The transport closes while raft still holds its ends (they see EOF and are closed later). */
static void close_before_raft_closes_its_ends(void **state)
{
	struct fixture *f = *state;
	links_up(f);
	tls_peers_close(&f->a->peers, owner_closed);
	tls_peers_close(&f->b->peers, owner_closed);
	assert_int_equal(f->closed_a, 0);
	assert_int_equal(f->closed_b, 0);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	uv_close((uv_handle_t *)f->out, (uv_close_cb)raft_free);
	uv_close((uv_handle_t *)f->in, (uv_close_cb)raft_free);
	uv_run(&f->loop, UV_RUN_DEFAULT);
}

/* A close during the handshake: the outgoing connect is cancelled exactly once, the incoming one
 * never reaches raft, and the callbacks wait for the links' handles. */
static void close_during_the_handshake(void **state)
{
	struct fixture *f = *state;
	link_start(f); /* member 1's ClientHello is written; nothing read yet */
	tls_peers_close(&f->a->peers, owner_closed);
	tls_peers_close(&f->b->peers, owner_closed);
	assert_int_equal(f->connect_cbs, 1);
	assert_int_equal(f->connect_status, RAFT_CANCELED);
	assert_null(f->out);
	assert_int_equal(f->closed_a, 0);
	assert_int_equal(f->closed_b, 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->connect_cbs, 1);
	assert_int_equal(f->accept_cbs, 0);
}

/* A transport with no link closes at once (repl.c frees struct repl from the callback). */
static void close_with_no_link(void **state)
{
	struct fixture *f = *state;
	tls_peers_close(&f->a->peers, owner_closed);
	tls_peers_close(&f->b->peers, owner_closed);
	assert_int_equal(f->closed_a, 1);
	assert_int_equal(f->closed_b, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(close_after_raft_closed_its_ends, setup, teardown),
	    cmocka_unit_test_setup_teardown(close_before_raft_closes_its_ends, setup, teardown),
	    cmocka_unit_test_setup_teardown(close_during_the_handshake, setup, teardown),
	    cmocka_unit_test_setup_teardown(close_with_no_link, setup, teardown),
	};
	/* A close callback that never fires leaves links open and the loop waiting: fail, not hang. */
	alarm(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
