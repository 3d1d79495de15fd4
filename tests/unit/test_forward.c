/* test_forward.c: a follower's link to the leader (node/forward.c), against a leader played by the
 * test on a loopback socket: requests travel under link-local ids with `forwarded` set and their
 * replies come back under the client's own ids; requests queued while connecting go out in order;
 * a lost link, a leader change or a leader that does not answer in time fails every pending
 * request exactly once with a retryable code, and a request for a new leader opens a new link at
 * once; a reply nobody waits for is dropped; relayed requests keep their session and carry one
 * hop; a silent or refusing leader is avoided (relaying). Clients are
 * virtual connections (conn_sink) that record what they receive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "callraft_ops.h"
#include "node_internal.h"

#define REPLIES_MAX 16

/* A client: a virtual conn recording its replies. */
struct client {
	struct conn conn;
	int n;
	uint64_t request_id[REPLIES_MAX];
	Callraft__Code code[REPLIES_MAX];
	char message[REPLIES_MAX][128];
};

struct fixture {
	struct node *n;
	int listen_fd, leader_fd; /* the test's leader */
	char address[32];
	struct client client;
};

static void sink_reply(struct conn *c, const uint8_t *bytes, size_t len, uint64_t request_id)
{
	struct client *cl = (struct client *)c;
	Callraft__Reply *r = callraft__reply__unpack(NULL, len, bytes);
	assert_non_null(r);
	assert_true(cl->n < REPLIES_MAX);
	cl->request_id[cl->n] = request_id;
	cl->code[cl->n] = r->code;
	snprintf(cl->message[cl->n], sizeof cl->message[0], "%s", r->message ? r->message : "");
	cl->n++;
	callraft__reply__free_unpacked(r, NULL);
}

static void sink_release(struct conn *c)
{
	(void)c; /* embedded in the fixture */
}

static const struct conn_sink SINK = {.reply = sink_reply, .release = sink_release};

static void close_walk_cb(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t salen = sizeof sa;

	f->n = calloc(1, sizeof *f->n);
	uv_loop_init(&f->n->loop);
	fwd_init(f->n);
	conn_virtual_init(&f->client.conn, f->n, &SINK);
	f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(f->listen_fd, 4), 0);
	assert_int_equal(getsockname(f->listen_fd, (struct sockaddr *)&sa, &salen), 0);
	snprintf(f->address, sizeof f->address, "127.0.0.1:%u", ntohs(sa.sin_port));
	f->leader_fd = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	fwd_reset(f->n, CALLRAFT__CODE__UNAVAILABLE, "test over");
	uv_walk(&f->n->loop, close_walk_cb, NULL);
	uv_run(&f->n->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->n->loop), 0);
	assert_int_equal(f->client.conn.refs, 0); /* every pending request let go of its client */
	rxbuf_release(&f->n->fwd.rx);
	rxbuf_release(&f->n->fwd_relay.rx);
	free(f->n->fwd_relay.queued);
	free(f->n->fwd.queued);
	if (f->leader_fd >= 0)
		close(f->leader_fd);
	close(f->listen_fd);
	free(f->n);
	free(f);
	return 0;
}

static void pump(struct fixture *f, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		uv_run(&f->n->loop, UV_RUN_NOWAIT);
		fwd_check(f->n);
		usleep(1000);
	}
}

/* The leader accepts the follower's connection. */
static void leader_accept(struct fixture *f)
{
	for (int i = 0; i < 2000 && f->leader_fd < 0; i++) {
		struct pollfd p = {.fd = f->listen_fd, .events = POLLIN};
		uv_run(&f->n->loop, UV_RUN_NOWAIT);
		if (poll(&p, 1, 2) == 1)
			f->leader_fd = accept(f->listen_fd, NULL, NULL);
	}
	assert_true(f->leader_fd >= 0);
}

static void leader_read_exact(struct fixture *f, uint8_t *buf, size_t want)
{
	size_t got = 0;
	for (int i = 0; i < 5000 && got < want; i++) {
		struct pollfd p = {.fd = f->leader_fd, .events = POLLIN};
		uv_run(&f->n->loop, UV_RUN_NOWAIT);
		if (poll(&p, 1, 2) == 1) {
			ssize_t r = recv(f->leader_fd, buf + got, want - got, 0);
			assert_true(r > 0);
			got += (size_t)r;
		}
	}
	assert_int_equal(got, want);
}

/* The leader reads one forwarded request. */
static Callraft__Request *leader_recv(struct fixture *f)
{
	uint8_t hdr[4], *body;
	leader_read_exact(f, hdr, 4);
	uint32_t len = callraft_frame_get_len(hdr);
	assert_true(len <= CALLRAFT_REQUEST_BYTES_MAX);
	body = malloc(len + 1);
	leader_read_exact(f, body, len);
	Callraft__Request *req = callraft__request__unpack(NULL, len, body);
	free(body);
	assert_non_null(req);
	return req;
}

/* The leader answers link-local id `id` with `code`. */
static void leader_reply(struct fixture *f, uint64_t id, Callraft__Code code, const char *message)
{
	Callraft__Reply r = CALLRAFT__REPLY__INIT;
	uint8_t buf[512];
	r.request_id = id;
	r.code = code;
	r.message = (char *)message;
	size_t len = callraft__reply__get_packed_size(&r);
	callraft_frame_put_len(buf, (uint32_t)len);
	callraft__reply__pack(&r, buf + 4);
	assert_int_equal(send(f->leader_fd, buf, 4 + len, 0), (ssize_t)(4 + len));
}

/* The follower forwards a request of the client with the client's `request_id`. */
static void forward(struct fixture *f, uint64_t request_id, uint64_t leader_id)
{
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	Callraft__CallShow show = CALLRAFT__CALL_SHOW__INIT;
	show.call_id = (char *)"c-1";
	req.version = CALLRAFT_PROTOCOL_VERSION;
	req.request_id = request_id;
	req.op_case = CALLRAFT__REQUEST__OP_CALL_SHOW;
	req.call_show = &show;
	fwd_send(f->n, &f->client.conn, &req, leader_id, f->address);
	assert_int_equal(req.request_id, request_id); /* the caller keeps its own id */
}

static void replies_come_back_under_the_clients_ids(void **state)
{
	struct fixture *f = *state;

	/* Three requests before the link is up: queued, then sent in order. */
	forward(f, 501, 3);
	forward(f, 502, 3);
	forward(f, 503, 3);
	assert_int_equal(f->client.conn.refs, 3);
	leader_accept(f);
	uint64_t ids[3];
	for (int i = 0; i < 3; i++) {
		Callraft__Request *req = leader_recv(f);
		assert_true(req->forwarded); /* the leader never forwards it again */
		assert_int_equal(req->op_case, CALLRAFT__REQUEST__OP_CALL_SHOW);
		assert_string_equal(req->call_show->call_id, "c-1");
		ids[i] = req->request_id;
		callraft__request__free_unpacked(req, NULL);
	}
	assert_true(ids[0] < ids[1] && ids[1] < ids[2]);
	/* Answered out of order: each reply finds its own client request. */
	leader_reply(f, ids[2], CALLRAFT__CODE__NOT_FOUND, "third");
	leader_reply(f, ids[0], CALLRAFT__CODE__OK, "first");
	leader_reply(f, ids[1], CALLRAFT__CODE__OK, "second");
	for (int i = 0; i < 5000 && f->client.n < 3; i++)
		pump(f, 1);
	assert_int_equal(f->client.n, 3);
	assert_int_equal(f->client.request_id[0], 503);
	assert_int_equal(f->client.code[0], CALLRAFT__CODE__NOT_FOUND);
	assert_string_equal(f->client.message[0], "third");
	assert_int_equal(f->client.request_id[1], 501);
	assert_int_equal(f->client.request_id[2], 502);
	assert_int_equal(f->client.conn.refs, 0);
	assert_int_equal(f->n->fwd.n_pending, 0);

	/* A reply nobody waits for (a duplicate, or one for an expired request) is dropped. */
	leader_reply(f, ids[0], CALLRAFT__CODE__OK, "again");
	pump(f, 20);
	assert_int_equal(f->client.n, 3);
}

static void lost_link_fails_every_pending_request_once(void **state)
{
	struct fixture *f = *state;

	forward(f, 601, 3);
	leader_accept(f);
	Callraft__Request *req = leader_recv(f);
	callraft__request__free_unpacked(req, NULL);
	forward(f, 602, 3);
	close(f->leader_fd); /* the leader's process dies */
	f->leader_fd = -1;
	for (int i = 0; i < 5000 && f->client.n < 2; i++)
		pump(f, 1);
	assert_int_equal(f->client.n, 2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(f->client.code[i], CALLRAFT__CODE__UNAVAILABLE);
	assert_true(f->client.request_id[0] + f->client.request_id[1] == 601 + 602);
	assert_int_equal(f->client.conn.refs, 0);
	pump(f, 20); /* nothing more arrives */
	assert_int_equal(f->client.n, 2);
}

static void unanswered_request_times_out(void **state)
{
	struct fixture *f = *state;

	uint64_t sent = uv_now(&f->n->loop); /* the loop time forward() stamps */
	forward(f, 701, 3);
	leader_accept(f);
	callraft__request__free_unpacked(leader_recv(f), NULL);
	fwd_expire(f->n, 3, sent + CALLRAFT_FORWARD_TIMEOUT_MS - 1);
	assert_int_equal(f->client.n, 0);
	fwd_expire(f->n, 3, sent + CALLRAFT_FORWARD_TIMEOUT_MS + 1);
	assert_int_equal(f->client.n, 1);
	assert_int_equal(f->client.request_id[0], 701);
	assert_int_equal(f->client.code[0], CALLRAFT__CODE__TIMEOUT);
	/* The leader's late answer finds nobody. */
	leader_reply(f, 1, CALLRAFT__CODE__OK, "late");
	pump(f, 20);
	assert_int_equal(f->client.n, 1);
}

static void leader_change_fails_pending_requests_as_outcome_unknown(void **state)
{
	struct fixture *f = *state;

	forward(f, 801, 3);
	leader_accept(f);
	callraft__request__free_unpacked(leader_recv(f), NULL);
	/* Housekeeping sees another leader: the write may or may not have committed. */
	fwd_expire(f->n, 4, uv_now(&f->n->loop));
	assert_int_equal(f->client.n, 1);
	assert_int_equal(f->client.code[0], CALLRAFT__CODE__OUTCOME_UNKNOWN);
	assert_int_equal(f->n->fwd.n_pending, 0);
	/* Once the old link is closed, the next request goes to the new leader over a new one. */
	pump(f, 20);
	close(f->leader_fd);
	f->leader_fd = -1;
	forward(f, 802, 5);
	leader_accept(f);
	Callraft__Request *req = leader_recv(f);
	leader_reply(f, req->request_id, CALLRAFT__CODE__OK, "new leader");
	callraft__request__free_unpacked(req, NULL);
	for (int i = 0; i < 5000 && f->client.n < 2; i++)
		pump(f, 1);
	assert_int_equal(f->client.n, 2);
	assert_int_equal(f->client.request_id[1], 802);
	assert_int_equal(f->client.code[1], CALLRAFT__CODE__OK);
	assert_int_equal(f->n->fwd.target_id, 5);
}

static void request_for_another_leader_goes_over_a_new_link(void **state)
{
	struct fixture *f = *state;

	forward(f, 901, 3);
	leader_accept(f);
	callraft__request__free_unpacked(leader_recv(f), NULL);
	forward(f, 902, 4); /* raft now names node 4 */
	assert_int_equal(f->client.n, 1);
	assert_int_equal(f->client.request_id[0], 901); /* it may or may not have been applied */
	assert_int_equal(f->client.code[0], CALLRAFT__CODE__OUTCOME_UNKNOWN);
	assert_int_equal(f->client.conn.refs, 1); /* 902 waits on the new link, not failed */
	assert_int_equal(f->n->fwd.target_id, 4);
	close(f->leader_fd); /* the old link's connection is closed by the follower */
	f->leader_fd = -1;
	leader_accept(f); /* node 4 (played at the same address) */
	Callraft__Request *req = leader_recv(f);
	leader_reply(f, req->request_id, CALLRAFT__CODE__OK, "new leader");
	callraft__request__free_unpacked(req, NULL);
	for (int i = 0; i < 5000 && f->client.n < 2; i++)
		pump(f, 1);
	assert_int_equal(f->client.n, 2);
	assert_int_equal(f->client.request_id[1], 902);
	assert_int_equal(f->client.code[1], CALLRAFT__CODE__OK);
	assert_int_equal(f->client.conn.refs, 0);
}

/* A write of session (77, 9) with an idempotency key, as a client sent it. */
static void session_write(Callraft__Request *req, Callraft__CallEnd *end, uint64_t request_id)
{
	*req = (Callraft__Request)CALLRAFT__REQUEST__INIT;
	*end = (Callraft__CallEnd)CALLRAFT__CALL_END__INIT;
	end->call_id = (char *)"c-9";
	end->agent_id = (char *)"a-1";
	req->version = CALLRAFT_PROTOCOL_VERSION;
	req->request_id = request_id;
	req->client_id = 77;
	req->seq = 9;
	req->idempotency_key = (char *)"k-9";
	req->op_case = CALLRAFT__REQUEST__OP_CALL_END;
	req->call_end = end;
}

static void relayed_request_keeps_its_session_and_carries_one_hop(void **state)
{
	struct fixture *f = *state;
	Callraft__Request req;
	Callraft__CallEnd end;

	session_write(&req, &end, 1001);
	fwd_relay_send(f->n, &f->client.conn, &req, 5, f->address);
	assert_int_equal(req.request_id, 1001);
	assert_int_equal(req.relay_ttl, 0); /* the caller's request is left as it was */
	leader_accept(f);                   /* the test plays relay member 5 */
	Callraft__Request *got = leader_recv(f);
	assert_true(got->forwarded);
	assert_int_equal(got->relay_ttl, 1); /* the relay may forward it once, to its leader */
	assert_int_equal(got->client_id, 77); /* what makes a second copy harmless */
	assert_int_equal(got->seq, 9);
	assert_string_equal(got->idempotency_key, "k-9");
	assert_int_equal(f->n->metrics.relayed_total, 1);
	assert_int_equal(f->n->metrics.forwarded_total, 0);
	leader_reply(f, got->request_id, CALLRAFT__CODE__OK, "relayed");
	callraft__request__free_unpacked(got, NULL);
	for (int i = 0; i < 5000 && f->client.n < 1; i++)
		pump(f, 1);
	assert_int_equal(f->client.n, 1);
	assert_int_equal(f->client.request_id[0], 1001);
	assert_string_equal(f->client.message[0], "relayed");
	assert_false(relay_avoided(&f->n->relay_avoid, 5, uv_now(&f->n->loop)));
	assert_int_equal(f->n->fwd_relay.waiting_since_ms, 0);

	/* A relay that knows no leader is avoided: the next request picks another. */
	session_write(&req, &end, 1002);
	fwd_relay_send(f->n, &f->client.conn, &req, 5, f->address);
	got = leader_recv(f);
	leader_reply(f, got->request_id, CALLRAFT__CODE__NO_LEADER, "no leader here");
	callraft__request__free_unpacked(got, NULL);
	for (int i = 0; i < 5000 && f->client.n < 2; i++)
		pump(f, 1);
	assert_int_equal(f->client.code[1], CALLRAFT__CODE__NO_LEADER);
	assert_true(relay_avoided(&f->n->relay_avoid, 5, uv_now(&f->n->loop)));
}

static void silent_leader_is_avoided_until_it_answers(void **state)
{
	struct fixture *f = *state;

	uint64_t sent = uv_now(&f->n->loop);
	forward(f, 1101, 3);
	leader_accept(f);
	Callraft__Request *req = leader_recv(f);
	/* A cut link: the connection stays open, nothing comes back. */
	assert_true(fwd_leader_reachable(f->n, 3, sent + CALLRAFT_FORWARD_SILENT_MS - 1));
	assert_false(fwd_leader_reachable(f->n, 3, sent + CALLRAFT_FORWARD_SILENT_MS));
	assert_int_equal(f->n->fwd.n_pending, 1); /* it still waits for its own answer */
	assert_int_equal(f->client.n, 0);
	/* The link heals: the late answer reaches the client and the leader is used again. */
	leader_reply(f, req->request_id, CALLRAFT__CODE__OK, "late");
	callraft__request__free_unpacked(req, NULL);
	for (int i = 0; i < 5000 && f->client.n < 1; i++)
		pump(f, 1);
	assert_int_equal(f->client.n, 1);
	assert_int_equal(f->client.code[0], CALLRAFT__CODE__OK);
	assert_true(fwd_leader_reachable(f->n, 3, sent + CALLRAFT_FORWARD_SILENT_MS));
}

static void refused_connection_avoids_the_leader(void **state)
{
	struct fixture *f = *state;

	close(f->listen_fd); /* nobody listens there any more */
	f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	forward(f, 1201, 3);
	for (int i = 0; i < 5000 && f->client.n < 1; i++)
		pump(f, 1);
	assert_int_equal(f->client.n, 1);
	assert_int_equal(f->client.code[0], CALLRAFT__CODE__UNAVAILABLE);
	assert_false(fwd_leader_reachable(f->n, 3, uv_now(&f->n->loop)));
	assert_true(fwd_leader_reachable(f->n, 3, uv_now(&f->n->loop) + CALLRAFT_RELAY_AVOID_MS));
	assert_true(fwd_leader_reachable(f->n, 4, uv_now(&f->n->loop))); /* another leader: direct */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(replies_come_back_under_the_clients_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(lost_link_fails_every_pending_request_once, setup, teardown),
		cmocka_unit_test_setup_teardown(unanswered_request_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(leader_change_fails_pending_requests_as_outcome_unknown, setup,
						teardown),
		cmocka_unit_test_setup_teardown(request_for_another_leader_goes_over_a_new_link, setup,
						teardown),
		cmocka_unit_test_setup_teardown(relayed_request_keeps_its_session_and_carries_one_hop, setup,
						teardown),
		cmocka_unit_test_setup_teardown(silent_leader_is_avoided_until_it_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(refused_connection_avoids_the_leader, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
