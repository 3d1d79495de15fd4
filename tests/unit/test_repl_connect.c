/* test_repl_connect.c: raft's outgoing connections (replication/repl_connect.c) on loopback: a
 * connect delivers a stream that carries raft's handshake and has TCP_USER_TIMEOUT set; a connect
 * whose SYN is never answered (a listener whose accept queue is full drops it, as a cut link does)
 * fails with RAFT_NOCONNECTION after the deadline instead of waiting for TCP's SYN retries; a close
 * cancels a connect in flight. Each callback fires exactly once and the loop ends with nothing
 * open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "repl_internal.h"
#include "test_loop.h"

struct fixture {
	uv_loop_t loop;
	struct repl r; /* only the fields repl_connect.c uses */
	struct raft_uv_connect req;
	int cbs, status;
	struct uv_stream_s *stream;
	int closed_cbs;
	int listen_fd;
	char address[32];
};

static void connect_cb(struct raft_uv_connect *req, struct uv_stream_s *stream, int status)
{
	struct fixture *f = req->data;
	f->cbs++;
	f->status = status;
	f->stream = stream;
}

static void closed_cb(struct repl *r)
{
	struct fixture *f = (struct fixture *)((char *)r - offsetof(struct fixture, r));
	f->closed_cbs++;
}

/* A loopback listener with the given backlog, not accepting: the kernel completes up to the
 * backlog's connections by itself, then drops further SYNs. */
static int listener(char *address, size_t len, int backlog)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(address, len, "127.0.0.1:%d", ntohs(sa.sin_port));
	return fd;
}

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof f);
	assert_int_equal(uv_loop_init(&f.loop), 0);
	f.r.loop = &f.loop;
	f.r.connect_ms = 300;
	f.r.link_dead_ms = 600;
	f.r.self_id = 7;
	snprintf(f.r.self_address, sizeof f.r.self_address, "127.0.0.1:7007");
	tls_peers_init(&f.r.peers, &f.loop); /* no context: plain TCP */
	f.req.data = &f;
	f.listen_fd = -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f->listen_fd >= 0)
		close(f->listen_fd);
	loop_close_checked(&f->loop); /* every timer and socket of the module was closed */
	return 0;
}

static bool connect_called(void *arg)
{
	struct fixture *f = arg;
	return f->cbs > 0;
}

static void run_until_cb(struct fixture *f, uint64_t limit_ms)
{
	loop_run_until(&f->loop, connect_called, f, limit_ms);
}

static void connect_delivers_handshake_and_user_timeout(void **state)
{
	struct fixture *f = *state;
	uint8_t hs[64];
	uv_os_fd_t fd;
	unsigned ut = 0;
	socklen_t ul = sizeof ut;
	int peer;

	f->listen_fd = listener(f->address, sizeof f->address, 8);
	assert_int_equal(repl_connect_start(&f->r, &f->req, 2, f->address, connect_cb), 0);
	run_until_cb(f, 5000);
	assert_int_equal(f->cbs, 1);
	assert_int_equal(f->status, 0);
	assert_non_null(f->stream);
	assert_int_equal(uv_fileno((uv_handle_t *)f->stream, &fd), 0);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, &ul), 0);
	assert_int_equal(ut, 600);
	/* raft's handshake: protocol 1, our id, the padded length, our address (src/uv_tcp_connect.c) */
	peer = accept(f->listen_fd, NULL, NULL);
	assert_true(peer >= 0);
	assert_int_equal(recv(peer, hs, 3 * 8 + 16, MSG_WAITALL), 3 * 8 + 16);
	assert_int_equal(hs[0], 1);
	assert_int_equal(hs[8], 7);
	assert_int_equal(hs[16], 16);
	assert_string_equal((char *)hs + 24, "127.0.0.1:7007");
	close(peer);
	uv_close((uv_handle_t *)f->stream, (uv_close_cb)raft_free);
	repl_connect_close(&f->r, closed_cb);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->closed_cbs, 1);
	assert_int_equal(f->cbs, 1);
}

static void unanswered_syn_fails_after_the_deadline(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int filler;
	uint64_t t0, took;

	/* Backlog 0: one connection waiting to be accepted fills the queue; the next SYN is dropped. */
	f->listen_fd = listener(f->address, sizeof f->address, 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	sa.sin_port = htons((uint16_t)atoi(strchr(f->address, ':') + 1));
	filler = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(filler, (struct sockaddr *)&sa, sizeof sa), 0);
	uv_update_time(&f->loop);
	t0 = uv_now(&f->loop);
	assert_int_equal(repl_connect_start(&f->r, &f->req, 2, f->address, connect_cb), 0);
	run_until_cb(f, 5000);
	took = uv_now(&f->loop) - t0;
	assert_int_equal(f->cbs, 1);
	assert_int_equal(f->status, RAFT_NOCONNECTION);
	assert_null(f->stream);
	/* The deadline (300 ms; the bound is loose for a loaded machine), not TCP's SYN retries,
	 * which would never be answered here: their last ends the connect after about 2 minutes. */
	assert_true(took >= 290 && took < 3000);
	repl_connect_close(&f->r, closed_cb);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->closed_cbs, 1);
	close(filler);
}

static void close_cancels_a_connect_in_flight(void **state)
{
	struct fixture *f = *state;
	f->listen_fd = listener(f->address, sizeof f->address, 8);
	assert_int_equal(repl_connect_start(&f->r, &f->req, 2, f->address, connect_cb), 0);
	repl_connect_close(&f->r, closed_cb); /* still resolving */
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->cbs, 1);
	assert_int_equal(f->status, RAFT_CANCELED);
	assert_null(f->stream);
	assert_int_equal(f->closed_cbs, 1);
	/* A closing transport starts no connect. */
	assert_int_equal(repl_connect_start(&f->r, &f->req, 2, f->address, connect_cb), RAFT_CANCELED);
}

static void bad_address_is_refused_at_once(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(repl_connect_start(&f->r, &f->req, 2, "no-port", connect_cb), RAFT_NOCONNECTION);
	assert_non_null(strstr(f->r.transport.errmsg, "'no-port'"));
	assert_int_equal(f->cbs, 0);
	repl_connect_close(&f->r, closed_cb);
	assert_int_equal(f->closed_cbs, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(connect_delivers_handshake_and_user_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(unanswered_syn_fails_after_the_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(close_cancels_a_connect_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_address_is_refused_at_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
