/* test_conn.c: the client listener's framing (node/conn.c) over a real loopback socket: frames
 * split across writes or sharing one are each answered once with their own request id; a frame
 * that does not decode is refused and the connection stays usable; a frame over the request limit
 * is refused and the connection closed; requests the node refuses before any replication (bad
 * version, unknown fields, no operation) get their code. No replication is opened: the node
 * answers these from conn.c and the checks at the top of node_handle_request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "callraft_ops.h"
#include "node_internal.h"

struct fixture {
	struct node *n;
	int fd; /* the test's client socket (blocking) */
};

static void close_walk_cb(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct sockaddr_in sa;
	int salen = sizeof sa;
	char err[256];

	f->n = calloc(1, sizeof *f->n);
	uv_loop_init(&f->n->loop);
	f->n->reads_tail = &f->n->reads;
	strcpy(f->n->cfg.client_address, "127.0.0.1:0"); /* the kernel picks the port */
	assert_int_equal(conn_listen(f->n, err, sizeof err), 0);
	assert_int_equal(uv_tcp_getsockname(&f->n->listener, (struct sockaddr *)&sa, &salen), 0);
	f->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->fd >= 0);
	assert_int_equal(connect(f->fd, (struct sockaddr *)&sa, sizeof sa), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f->fd >= 0)
		close(f->fd);
	conn_close_all(f->n);
	uv_walk(&f->n->loop, close_walk_cb, NULL);
	uv_run(&f->n->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->n->loop), 0);
	free(f->n);
	free(f);
	return 0;
}

/* Runs the node's loop until the client socket has `want` bytes, or the peer closed (returns
 * what was read). */
static size_t pump_read(struct fixture *f, uint8_t *buf, size_t want, bool *eof)
{
	size_t got = 0;
	*eof = false;
	for (int i = 0; i < 2000 && got < want; i++) {
		struct pollfd p = {.fd = f->fd, .events = POLLIN};
		uv_run(&f->n->loop, UV_RUN_NOWAIT);
		if (poll(&p, 1, 5) == 1) {
			ssize_t r = recv(f->fd, buf + got, want - got, 0);
			if (r == 0) {
				*eof = true;
				break;
			}
			assert_true(r > 0);
			got += (size_t)r;
		}
	}
	return got;
}

/* Reads one reply frame. */
static Callraft__Reply *read_reply(struct fixture *f)
{
	uint8_t hdr[4], *body;
	bool eof;
	assert_int_equal(pump_read(f, hdr, 4, &eof), 4);
	uint32_t len = callraft_frame_get_len(hdr);
	assert_true(len <= CALLRAFT_FRAME_BYTES_MAX);
	body = malloc(len + 1);
	assert_int_equal(pump_read(f, body, len, &eof), len);
	Callraft__Reply *r = callraft__reply__unpack(NULL, len, body);
	free(body);
	assert_non_null(r);
	return r;
}

static void send_bytes(struct fixture *f, const void *buf, size_t len)
{
	assert_int_equal(send(f->fd, buf, len, 0), (ssize_t)len);
}

/* Encodes a frame for `req` into buf; returns its length. */
static size_t frame(const Callraft__Request *req, uint8_t *buf)
{
	size_t len = callraft__request__get_packed_size(req);
	callraft_frame_put_len(buf, (uint32_t)len);
	callraft__request__pack(req, buf + 4);
	return 4 + len;
}

/* A request the node answers without replication: version 1, no operation. */
static size_t no_op_frame(uint64_t request_id, uint8_t *buf)
{
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.version = CALLRAFT_PROTOCOL_VERSION;
	req.request_id = request_id;
	return frame(&req, buf);
}

static void expect_reply(struct fixture *f, uint64_t request_id, Callraft__Code code)
{
	Callraft__Reply *r = read_reply(f);
	assert_int_equal(r->request_id, request_id);
	assert_int_equal(r->code, code);
	callraft__reply__free_unpacked(r, NULL);
}

static void frames_split_or_coalesced_get_one_reply_each(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[256];
	size_t a = no_op_frame(7, buf);
	size_t b = no_op_frame(8, buf + a);
	size_t c = no_op_frame(9, buf + a + b);

	send_bytes(f, buf, a + b); /* two frames in one write */
	expect_reply(f, 7, CALLRAFT__CODE__UNKNOWN_OPERATION);
	expect_reply(f, 8, CALLRAFT__CODE__UNKNOWN_OPERATION);
	for (size_t i = 0; i < c; i++) { /* one frame, a byte per write, the loop running between */
		send_bytes(f, buf + a + b + i, 1);
		uv_run(&f->n->loop, UV_RUN_NOWAIT);
	}
	expect_reply(f, 9, CALLRAFT__CODE__UNKNOWN_OPERATION);
	assert_int_equal(f->n->requests_total, 3);
}

static void undecodable_frame_is_refused_and_the_connection_stays(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[64] = {0, 0, 0, 3, 0xff, 0xff, 0xff};

	send_bytes(f, buf, 7);
	expect_reply(f, 0, CALLRAFT__CODE__BAD_FRAME);
	send_bytes(f, buf, no_op_frame(11, buf));
	expect_reply(f, 11, CALLRAFT__CODE__UNKNOWN_OPERATION);
}

static void frame_over_the_limit_is_refused_and_closed(void **state)
{
	struct fixture *f = *state;
	uint8_t hdr[4], rest[16];
	bool eof = false;

	callraft_frame_put_len(hdr, CALLRAFT_REQUEST_BYTES_MAX + 1);
	send_bytes(f, hdr, 4);
	expect_reply(f, 0, CALLRAFT__CODE__BAD_FRAME);
	assert_int_equal(pump_read(f, rest, sizeof rest, &eof), 0);
	assert_true(eof);
	assert_int_equal(f->n->n_conns, 0);
}

static void frame_at_the_limit_is_read(void **state)
{
	struct fixture *f = *state;
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	size_t pad = CALLRAFT_REQUEST_BYTES_MAX - 64;
	uint8_t *buf = malloc(CALLRAFT_REQUEST_BYTES_MAX + 4);
	char *big = malloc(pad + 1);

	/* A request of nearly the limit (no operation, a long idempotency key): the node reads it
	 * whole, across however many reads the socket delivers it in. */
	memset(big, 'k', pad);
	big[pad] = '\0';
	req.version = CALLRAFT_PROTOCOL_VERSION;
	req.request_id = 12;
	req.idempotency_key = big;
	size_t len = frame(&req, buf);
	assert_true(len - 4 <= CALLRAFT_REQUEST_BYTES_MAX);
	send_bytes(f, buf, len);
	expect_reply(f, 12, CALLRAFT__CODE__UNKNOWN_OPERATION);
	free(big);
	free(buf);
}

static void bad_version_and_unknown_fields_are_refused(void **state)
{
	struct fixture *f = *state;
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	uint8_t buf[256];
	size_t len;

	req.version = CALLRAFT_PROTOCOL_VERSION + 1;
	req.request_id = 21;
	send_bytes(f, buf, frame(&req, buf));
	expect_reply(f, 21, CALLRAFT__CODE__BAD_VERSION);

	/* A field number no Request has (tag 2000, varint): refused, not ignored. */
	req.version = CALLRAFT_PROTOCOL_VERSION;
	req.request_id = 22;
	len = frame(&req, buf);
	uint8_t extra[] = {0x80, 0x7d, 0x01};
	memcpy(buf + len, extra, sizeof extra);
	callraft_frame_put_len(buf, (uint32_t)(len - 4 + sizeof extra));
	send_bytes(f, buf, len + sizeof extra);
	expect_reply(f, 22, CALLRAFT__CODE__BAD_FRAME);
}

/* Runs the node's loop until its one connection holds `len` bytes of a frame. */
static void pump_until_rx(struct fixture *f, size_t len)
{
	for (int i = 0; i < 2000 && (f->n->conns == NULL || f->n->conns->rx.len != len); i++) {
		uv_run(&f->n->loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	assert_non_null(f->n->conns);
	assert_int_equal(f->n->conns->rx.len, len);
}

/* The loop was busy past the frame timeout while the rest of a frame arrived (a burst of
 * pipelined requests under load: build-asan's test_hostile lost its pipeline connection so): the
 * sweep, a timer that runs before the loop reads, finds those bytes waiting unread in the socket:
 * the delay is the node's, and the connection stays. */
static void frame_rest_waiting_unread_is_not_expired(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[64];
	size_t len = no_op_frame(31, buf);

	f->n->cfg.client_frame_timeout_ms = 50;
	send_bytes(f, buf, 3);
	pump_until_rx(f, 3);
	send_bytes(f, buf + 3, len - 3);
	usleep(150 * 1000); /* the loop does not run: busy elsewhere */
	uv_update_time(&f->n->loop);
	conn_sweep(f->n);
	assert_non_null(f->n->conns);
	expect_reply(f, 31, CALLRAFT__CODE__UNKNOWN_OPERATION);
}

/* The control: a frame whose rest is not being sent (slowloris) is closed by the same sweep. */
static void frame_not_being_sent_is_expired(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[64], r[4];
	bool eof;

	no_op_frame(32, buf);
	f->n->cfg.client_frame_timeout_ms = 50;
	send_bytes(f, buf, 3);
	pump_until_rx(f, 3);
	usleep(150 * 1000);
	uv_update_time(&f->n->loop);
	conn_sweep(f->n);
	assert_null(f->n->conns);
	assert_int_equal(pump_read(f, r, sizeof r, &eof), 0);
	assert_true(eof);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(frames_split_or_coalesced_get_one_reply_each, setup, teardown),
		cmocka_unit_test_setup_teardown(undecodable_frame_is_refused_and_the_connection_stays, setup,
						teardown),
		cmocka_unit_test_setup_teardown(frame_over_the_limit_is_refused_and_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(frame_at_the_limit_is_read, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_version_and_unknown_fields_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(frame_rest_waiting_unread_is_not_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(frame_not_being_sent_is_expired, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
