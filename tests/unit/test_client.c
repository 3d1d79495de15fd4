/* test_client.c: libcallraft without a cluster.
 *
 * Pure parts (frames, options, op and code tables) are checked directly. The retry logic is
 * checked against a scripted node run by this test: a thread with a listening socket on
 * 127.0.0.1:0 that speaks the frame protocol, records every request it reads, and answers as the
 * scenario says (NOT_LEADER, hang up mid-request, SESSION_UNKNOWN, an oversized frame, a stale
 * reply, or nothing at all), over plain TCP or over TLS with certificates this test makes (a CA,
 * the node's, clients' with a chosen lifetime). The real cluster is tested by the integration
 * tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "callraft_client.h"
#include "callraft_limits.h"
#include "tls.h"

#include "test_pki.h"

/* ------------------------------------------------------------------------------------------------
 * The scripted node. */

enum scenario {
	SCENARIO_RETRY,        /* write 1: NOT_LEADER naming itself; write 2: hang up; then OK */
	SCENARIO_SESSION,      /* write 1: SESSION_UNKNOWN; then OK */
	SCENARIO_OVERSIZE,     /* write 1: a frame header above the limit; then OK */
	SCENARIO_STALE_REPLY,  /* every reply is preceded by one with another request_id */
	SCENARIO_BLACKHOLE,    /* reads requests, never answers */
	SCENARIO_OK,           /* answers every request OK */
	SCENARIO_HANGS_LATER,  /* answers the registration and the first write, then never again */
	SCENARIO_CLOSE_AFTER_WRITE, /* answers every request OK, hangs up after each write's reply */
};

#define SERVER_RECORDS_MAX 64

struct record {
	Callraft__Request__OpCase op;
	uint64_t client_id;
	uint64_t seq;
	uint64_t request_id;
	unsigned conn; /* which accepted connection (1, 2, ...) */
};

struct server {
	enum scenario scenario;
	int listen_fd;
	uint16_t port;
	char address[32];
	pthread_t thread;
	pthread_mutex_t lock;
	volatile int stop;
	/* Under lock: */
	struct record records[SERVER_RECORDS_MAX];
	unsigned n_records;
	unsigned n_registers;
	unsigned n_writes;
	unsigned n_conns;
	SSL_CTX *tls;           /* NULL: plain TCP */
	unsigned n_tls_resumed; /* handshakes that resumed a session from a ticket */
	unsigned n_tls_failed;  /* handshakes that failed (a refused certificate) */
};

/* One accepted connection: the socket, and its TLS when the server runs TLS. */
struct server_io {
	int fd;
	SSL *ssl;
};

/* cmocka's assertions longjmp on the test's thread: the server thread aborts instead. */
#define SERVER_CHECK(cond)                                                                         \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "server: check failed: %s\n", #cond);                      \
			abort();                                                           \
		}                                                                                  \
	} while (0)

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads exactly len bytes, polling so that `stop` is noticed. 0 ok, -1 EOF/error/stop. */
static int server_read(struct server *s, struct server_io *io, uint8_t *buf, size_t len)
{
	while (len > 0) {
		struct pollfd pfd = {.fd = io->fd, .events = POLLIN};
		if (s->stop)
			return -1;
		if ((io->ssl == NULL || SSL_pending(io->ssl) == 0) && poll(&pfd, 1, 50) <= 0)
			continue;
		ssize_t n = io->ssl != NULL ? SSL_read(io->ssl, buf, (int)len) : recv(io->fd, buf, len, 0);
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void server_send(struct server_io *io, const uint8_t *buf, size_t len)
{
	/* SIGPIPE is ignored (main): a client that hung up is the scenario's business. */
	ssize_t n = io->ssl != NULL ? SSL_write(io->ssl, buf, (int)len)
				    : send(io->fd, buf, len, MSG_NOSIGNAL);
	(void)n;
}

static void server_send_reply(struct server_io *io, const Callraft__Reply *reply)
{
	size_t len = callraft__reply__get_packed_size(reply);
	uint8_t *buf = malloc(4 + len);
	SERVER_CHECK(buf != NULL);
	callraft_frame_put_len(buf, (uint32_t)len);
	callraft__reply__pack(reply, buf + 4);
	server_send(io, buf, 4 + len);
	free(buf);
}

/* Decides the answer to one request. Returns 1 to reply with *reply, 0 to hang up, -1 to send an
 * oversized header, 2 to stay silent, 3 to reply and then hang up. Under lock. */
static int server_decide(struct server *s, const Callraft__Request *req, Callraft__Reply *reply)
{
	reply->request_id = req->request_id;
	if (s->scenario == SCENARIO_BLACKHOLE)
		return 2;
	if (s->scenario == SCENARIO_HANGS_LATER && callraft_request_is_write(req) &&
	    req->op_case != CALLRAFT__REQUEST__OP_REGISTER_CLIENT && s->n_writes >= 1)
		return 2;
	if (req->op_case == CALLRAFT__REQUEST__OP_REGISTER_CLIENT) {
		s->n_registers++;
		reply->client_id = (s->scenario == SCENARIO_SESSION ? 100 : 42) + s->n_registers - 1;
		return 1;
	}
	if (!callraft_request_is_write(req))
		return 1;
	unsigned w = ++s->n_writes;
	reply->applied_index = 1000 + w;
	if (s->scenario == SCENARIO_RETRY && w == 1) {
		reply->code = CALLRAFT__CODE__NOT_LEADER;
		reply->leader_address = s->address;
		return 1;
	}
	if (s->scenario == SCENARIO_RETRY && w == 2)
		return 0;
	if (s->scenario == SCENARIO_SESSION && w == 1) {
		reply->code = CALLRAFT__CODE__SESSION_UNKNOWN;
		return 1;
	}
	if (s->scenario == SCENARIO_OVERSIZE && w == 1)
		return -1;
	if (s->scenario == SCENARIO_CLOSE_AFTER_WRITE)
		return 3;
	return 1;
}

/* Serves one connection until EOF, a hang-up decision or stop. */
static void server_conn(struct server *s, struct server_io *io, unsigned conn)
{
	for (;;) {
		uint8_t hdr[4];
		if (server_read(s, io, hdr, 4) != 0)
			return;
		uint32_t len = callraft_frame_get_len(hdr);
		SERVER_CHECK(len <= CALLRAFT_REQUEST_BYTES_MAX);
		uint8_t *body = malloc(len + 1);
		SERVER_CHECK(body != NULL);
		if (server_read(s, io, body, len) != 0) {
			free(body);
			return;
		}
		Callraft__Request *req = callraft__request__unpack(NULL, len, body);
		free(body);
		SERVER_CHECK(req != NULL);
		SERVER_CHECK(req->version == CALLRAFT_PROTOCOL_VERSION);

		Callraft__Reply reply = CALLRAFT__REPLY__INIT;
		pthread_mutex_lock(&s->lock);
		if (s->n_records < SERVER_RECORDS_MAX)
			s->records[s->n_records++] = (struct record){req->op_case, req->client_id,
								     req->seq, req->request_id, conn};
		int what = server_decide(s, req, &reply);
		pthread_mutex_unlock(&s->lock);
		callraft__request__free_unpacked(req, NULL);

		if (what == 0)
			return;
		if (what == -1) {
			uint8_t big[4];
			callraft_frame_put_len(big, CALLRAFT_FRAME_BYTES_MAX + 1);
			server_send(io, big, 4);
			continue;
		}
		if (what == 2)
			continue;
		if (s->scenario == SCENARIO_STALE_REPLY) {
			Callraft__Reply stale = CALLRAFT__REPLY__INIT;
			stale.request_id = reply.request_id + 1000;
			stale.code = CALLRAFT__CODE__NOT_FOUND;
			server_send_reply(io, &stale);
		}
		server_send_reply(io, &reply);
		if (what == 3)
			return;
	}
}

/* The server side of a TLS handshake (blocking, bounded by the socket's receive timeout). */
static SSL *server_tls_accept(struct server *s, int fd)
{
	struct timeval tv = {.tv_sec = 2};
	SSL *ssl = SSL_new(s->tls);
	SERVER_CHECK(ssl != NULL && SSL_set_fd(ssl, fd) == 1);
	SERVER_CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
	bool ok = SSL_accept(ssl) == 1;
	pthread_mutex_lock(&s->lock);
	if (!ok)
		s->n_tls_failed++;
	else if (SSL_session_reused(ssl))
		s->n_tls_resumed++;
	pthread_mutex_unlock(&s->lock);
	ERR_clear_error();
	if (ok)
		return ssl;
	SSL_free(ssl);
	return NULL;
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	while (!s->stop) {
		struct pollfd pfd = {.fd = s->listen_fd, .events = POLLIN};
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		int fd = accept(s->listen_fd, NULL, NULL);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&s->lock);
		unsigned conn = ++s->n_conns;
		pthread_mutex_unlock(&s->lock);
		struct server_io io = {.fd = fd, .ssl = s->tls != NULL ? server_tls_accept(s, fd) : NULL};
		if (s->tls == NULL || io.ssl != NULL)
			server_conn(s, &io, conn);
		SSL_free(io.ssl);
		close(fd);
	}
	return NULL;
}

/* A listening socket on 127.0.0.1 with a kernel-chosen port. */
static int listen_loopback(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(fd, 16), 0);
	socklen_t len = sizeof sa;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* A loopback port where nothing listens: connecting is refused. */
static uint16_t closed_port(void)
{
	uint16_t port;
	close(listen_loopback(&port));
	return port;
}

static struct server *server_start_tls(enum scenario scenario, SSL_CTX *tls)
{
	struct server *s = calloc(1, sizeof *s);
	assert_non_null(s);
	s->scenario = scenario;
	s->tls = tls;
	s->listen_fd = listen_loopback(&s->port);
	snprintf(s->address, sizeof s->address, "127.0.0.1:%u", s->port);
	pthread_mutex_init(&s->lock, NULL);
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
	return s;
}

static struct server *server_start(enum scenario scenario)
{
	return server_start_tls(scenario, NULL);
}

static void server_stop(struct server *s)
{
	s->stop = 1;
	pthread_join(s->thread, NULL);
	close(s->listen_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static struct callraft_client *client_open(const char *cluster, int request_ms, int attempt_ms)
{
	struct callraft_client_options opts = {.cluster = cluster,
					       .name = "test",
					       .request_timeout_ms = request_ms,
					       .attempt_timeout_ms = attempt_ms};
	struct callraft_client *c = NULL;
	char errmsg[256];
	assert_int_equal(callraft_client_open(&opts, &c, errmsg, sizeof errmsg), 0);
	assert_non_null(c);
	return c;
}

/* Sends CallEnqueue("c-1") and returns the reply (NULL on failure, errmsg set). */
static Callraft__Reply *enqueue(struct callraft_client *c, char *errmsg, size_t errmsg_len)
{
	Callraft__CallEnqueue enq = CALLRAFT__CALL_ENQUEUE__INIT;
	enq.call_id = "c-1";
	enq.queue = "sales";
	enq.caller_number = "+15550100";
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_CALL_ENQUEUE;
	req.call_enqueue = &enq;
	return callraft_client_call(c, &req, errmsg, errmsg_len);
}

/* ------------------------------------------------------------------------------------------------
 * Frames, options, tables. */

static void frame_len_is_big_endian(void **state)
{
	(void)state;
	uint8_t hdr[4];
	callraft_frame_put_len(hdr, 0x01020304u);
	assert_int_equal(hdr[0], 1);
	assert_int_equal(hdr[1], 2);
	assert_int_equal(hdr[2], 3);
	assert_int_equal(hdr[3], 4);
	assert_int_equal(callraft_frame_get_len(hdr), 0x01020304u);
	const uint32_t samples[] = {0, 1, 255, 256, CALLRAFT_FRAME_BYTES_MAX, UINT32_MAX};
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		callraft_frame_put_len(hdr, samples[i]);
		assert_int_equal(callraft_frame_get_len(hdr), samples[i]);
	}
}

static int try_open(const char *cluster, char *errmsg, size_t errmsg_len)
{
	struct callraft_client_options opts = {.cluster = cluster};
	struct callraft_client *c = NULL;
	int rv = callraft_client_open(&opts, &c, errmsg, errmsg_len);
	if (rv == 0) {
		assert_non_null(c);
		assert_int_equal(callraft_client_id(c), 0);
		assert_int_equal(callraft_client_seq(c), 0);
		assert_int_equal(callraft_client_retries(c), 0);
	} else {
		assert_null(c);
		assert_true(errmsg[0] != '\0');
	}
	callraft_client_close(c);
	return rv;
}

static void open_accepts_good_cluster_strings(void **state)
{
	(void)state;
	const char *good[] = {"a:1",
			      "127.0.0.1:7000",
			      "tehran-1.example:7000,shiraz-1.example:7000,witness:65535",
			      " a:1 , b:2 ",
			      "[::1]:7000",
			      "localhost:7000"};
	char errmsg[256];
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		errmsg[0] = '\0';
		assert_int_equal(try_open(good[i], errmsg, sizeof errmsg), 0);
	}
}

static void open_refuses_bad_cluster_strings(void **state)
{
	(void)state;
	const char *bad[] = {"",     ",",     "a:1,",   ",a:1",   "a:1,,b:2", "a",
			     "a:",   ":7000", "a:0",    "a:65536", "a:99999999", "a:12x",
			     "a:-1", "a b:1", "a:1 2", "[]:1"};
	char errmsg[256];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		errmsg[0] = '\0';
		if (try_open(bad[i], errmsg, sizeof errmsg) == 0)
			fail_msg("cluster '%s' was accepted", bad[i]);
		assert_non_null(strstr(errmsg, "cluster"));
	}
	/* Messages quote the subject. */
	try_open("a:1,nohost", errmsg, sizeof errmsg);
	assert_non_null(strstr(errmsg, "'nohost': expected host:port"));
	try_open("a:70000", errmsg, sizeof errmsg);
	assert_non_null(strstr(errmsg, "out of range"));
	try_open("a:1,,b:2", errmsg, sizeof errmsg);
	assert_non_null(strstr(errmsg, "empty"));
}

static void open_refuses_too_many_or_too_long(void **state)
{
	(void)state;
	char cluster[4096] = "";
	for (int i = 0; i <= CALLRAFT_MEMBERS_MAX; i++)
		snprintf(cluster + strlen(cluster), sizeof cluster - strlen(cluster), "%sn%d:7000",
			 i ? "," : "", i);
	char errmsg[256];
	assert_int_equal(try_open(cluster, errmsg, sizeof errmsg), -1);
	assert_non_null(strstr(errmsg, "more than"));

	char host[CALLRAFT_ADDRESS_BYTES_MAX + 16];
	memset(host, 'h', sizeof host);
	snprintf(host + CALLRAFT_ADDRESS_BYTES_MAX, 16, ":7000");
	assert_int_equal(try_open(host, errmsg, sizeof errmsg), -1);
	assert_non_null(strstr(errmsg, "longer than"));

	struct callraft_client_options opts = {.cluster = NULL};
	struct callraft_client *c = NULL;
	assert_int_equal(callraft_client_open(&opts, &c, errmsg, sizeof errmsg), -1);
	opts.cluster = "a:1";
	opts.request_timeout_ms = -1;
	assert_int_equal(callraft_client_open(&opts, &c, errmsg, sizeof errmsg), -1);
	assert_null(c);
}

static void request_is_write_for_every_op(void **state)
{
	(void)state;
	static const struct {
		Callraft__Request__OpCase op;
		bool write;
	} ops[] = {
	    {CALLRAFT__REQUEST__OP_REGISTER_CLIENT, true},
	    {CALLRAFT__REQUEST__OP_CALL_ENQUEUE, true},
	    {CALLRAFT__REQUEST__OP_CALL_NEXT, true},
	    {CALLRAFT__REQUEST__OP_CALL_ANSWER, true},
	    {CALLRAFT__REQUEST__OP_CALL_END, true},
	    {CALLRAFT__REQUEST__OP_CALL_ABANDON, true},
	    {CALLRAFT__REQUEST__OP_AGENT_LOGIN, true},
	    {CALLRAFT__REQUEST__OP_AGENT_SET_STATE, true},
	    {CALLRAFT__REQUEST__OP_AGENT_LOGOUT, true},
	    {CALLRAFT__REQUEST__OP_TICKET_OPEN, true},
	    {CALLRAFT__REQUEST__OP_TICKET_UPDATE, true},
	    {CALLRAFT__REQUEST__OP_CALL_REJECT, true},
	    {CALLRAFT__REQUEST__OP_AGENT_HEARTBEAT, true},
	    {CALLRAFT__REQUEST__OP_QUEUE_CONFIGURE, true},
	    {CALLRAFT__REQUEST__OP_CALLBACK_REQUEST, true},
	    {CALLRAFT__REQUEST__OP_CALLBACK_SCHEDULE, true},
	    {CALLRAFT__REQUEST__OP_CALLBACK_VOICEMAIL, true},
	    {CALLRAFT__REQUEST__OP_CALL_DIAL_ATTEMPT, true},
	    {CALLRAFT__REQUEST__OP_SITE_CONFIGURE, true},
	    {CALLRAFT__REQUEST__OP_SITE_DOWN, true},
	    {CALLRAFT__REQUEST__OP_SITE_UP, true},
	    {CALLRAFT__REQUEST__OP_SITE_HEARTBEAT, true},
	    {CALLRAFT__REQUEST__OP_CUSTOMER_SET, true},
	    {CALLRAFT__REQUEST__OP_CUSTOMER_SHOW, false},
	    {CALLRAFT__REQUEST__OP_TOKEN_ISSUE, true},
	    {CALLRAFT__REQUEST__OP_TOKEN_REVOKE, true},
	    {CALLRAFT__REQUEST__OP_TOKEN_LIST, false},
	    {CALLRAFT__REQUEST__OP_TICKET_CLASS_CONFIGURE, true},
	    {CALLRAFT__REQUEST__OP_TICKET_CLASS_SHOW, false},
	    {CALLRAFT__REQUEST__OP_TICKET_DUE_LIST, false},
	    {CALLRAFT__REQUEST__OP_CAMPAIGN_CREATE, true},
	    {CALLRAFT__REQUEST__OP_CAMPAIGN_ADD, true},
	    {CALLRAFT__REQUEST__OP_CAMPAIGN_PAUSE, true},
	    {CALLRAFT__REQUEST__OP_CAMPAIGN_DELETE, true},
	    {CALLRAFT__REQUEST__OP_CAMPAIGN_SHOW, false},
	    {CALLRAFT__REQUEST__OP_CAMPAIGN_LIST, false},
	    {CALLRAFT__REQUEST__OP_STATS_GET, false},
	    {CALLRAFT__REQUEST__OP_CUSTOMER_HISTORY, false},
	    {CALLRAFT__REQUEST__OP_SITE_LIST, false},
	    {CALLRAFT__REQUEST__OP_CALL_SHOW, false},
	    {CALLRAFT__REQUEST__OP_QUEUE_SHOW, false},
	    {CALLRAFT__REQUEST__OP_AGENT_SHOW, false},
	    {CALLRAFT__REQUEST__OP_AGENT_LIST, false},
	    {CALLRAFT__REQUEST__OP_TICKET_SHOW, false},
	    {CALLRAFT__REQUEST__OP_TICKET_LIST, false},
	    {CALLRAFT__REQUEST__OP_STATUS, false},
	    {CALLRAFT__REQUEST__OP_MEMBERS_LIST, false},
	    {CALLRAFT__REQUEST__OP_MEMBER_ADD, false},
	    {CALLRAFT__REQUEST__OP_MEMBER_REMOVE, false},
	    {CALLRAFT__REQUEST__OP_MEMBER_ASSIGN, false},
	    {CALLRAFT__REQUEST__OP_LEADER_TRANSFER, false},
	    {CALLRAFT__REQUEST__OP_SNAPSHOT_TAKE, false},
	    {CALLRAFT__REQUEST__OP_RULES_DECLARE, false},
	    {CALLRAFT__REQUEST__OP_RULES_UPGRADE, false},
	    {CALLRAFT__REQUEST__OP_RULES_SHOW, false},
	    {CALLRAFT__REQUEST__OP_EVENTS_READ, false},
	    {CALLRAFT__REQUEST__OP__NOT_SET, false},
	};
	/* Every op of the protocol is in the table. */
	const ProtobufCFieldDescriptor *fields = callraft__request__descriptor.fields;
	size_t n_ops = 0;
	for (unsigned i = 0; i < callraft__request__descriptor.n_fields; i++)
		if (fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
			n_ops++;
	assert_int_equal(n_ops + 1, sizeof ops / sizeof ops[0]);
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		Callraft__Request req = CALLRAFT__REQUEST__INIT;
		req.op_case = ops[i].op;
		if (callraft_request_is_write(&req) != ops[i].write)
			fail_msg("op %d: expected write=%d", (int)ops[i].op, ops[i].write);
	}
}

static void code_names_and_retryable(void **state)
{
	(void)state;
	assert_string_equal(callraft_code_name(CALLRAFT__CODE__OK), "OK");
	assert_string_equal(callraft_code_name(CALLRAFT__CODE__NOT_FOUND), "NOT_FOUND");
	assert_string_equal(callraft_code_name(CALLRAFT__CODE__STALE_TOKEN), "STALE_TOKEN");
	assert_string_equal(callraft_code_name(CALLRAFT__CODE__SESSION_UNKNOWN), "SESSION_UNKNOWN");
	assert_string_equal(callraft_code_name(CALLRAFT__CODE__MEMBERSHIP_BUSY), "MEMBERSHIP_BUSY");
	assert_string_equal(callraft_code_name(CALLRAFT__CODE__INTERNAL), "INTERNAL");
	assert_string_equal(callraft_code_name((Callraft__Code)999), "UNKNOWN_CODE");

	const ProtobufCEnumDescriptor *d = &callraft__code__descriptor;
	for (unsigned i = 0; i < d->n_values; i++) {
		Callraft__Code code = (Callraft__Code)d->values[i].value;
		assert_string_equal(callraft_code_name(code), d->values[i].name);
		bool want = code == CALLRAFT__CODE__NOT_LEADER || code == CALLRAFT__CODE__NO_LEADER ||
			    code == CALLRAFT__CODE__UNAVAILABLE ||
			    code == CALLRAFT__CODE__OUTCOME_UNKNOWN ||
			    code == CALLRAFT__CODE__TIMEOUT || code == CALLRAFT__CODE__MEMBERSHIP_BUSY;
		if (callraft_code_is_retryable(code) != want)
			fail_msg("%s: expected retryable=%d", d->values[i].name, want);
	}
}

/* ------------------------------------------------------------------------------------------------
 * Against the scripted node. */

static void write_retries_with_same_session_and_seq(void **state)
{
	(void)state;
	struct server *s = server_start(SCENARIO_RETRY);
	/* A refused node first, so the client also has to move on through the list. */
	char cluster[64];
	snprintf(cluster, sizeof cluster, "127.0.0.1:%u,%s", closed_port(), s->address);
	struct callraft_client *c = client_open(cluster, 5000, 1000);
	char errmsg[512] = "";

	Callraft__Reply *reply = enqueue(c, errmsg, sizeof errmsg);
	if (reply == NULL)
		fail_msg("call failed: %s", errmsg);
	assert_int_equal(reply->code, CALLRAFT__CODE__OK);
	assert_int_equal(reply->applied_index, 1003);
	callraft__reply__free_unpacked(reply, NULL);
	assert_int_equal(callraft_client_id(c), 42);
	assert_int_equal(callraft_client_seq(c), 1);
	assert_true(callraft_client_retries(c) >= 3); /* refused, NOT_LEADER, hang-up */

	pthread_mutex_lock(&s->lock);
	assert_int_equal(s->n_registers, 1);
	assert_int_equal(s->n_writes, 3);
	unsigned writes = 0;
	uint64_t last_request_id = 0;
	for (unsigned i = 0; i < s->n_records; i++) {
		const struct record *r = &s->records[i];
		if (r->op == CALLRAFT__REQUEST__OP_REGISTER_CLIENT) {
			assert_int_equal(r->client_id, 0);
			assert_int_equal(r->seq, 0);
			continue;
		}
		assert_int_equal(r->op, CALLRAFT__REQUEST__OP_CALL_ENQUEUE);
		assert_int_equal(r->client_id, 42);
		assert_int_equal(r->seq, 1);
		assert_true(r->request_id > last_request_id);
		last_request_id = r->request_id;
		writes++;
	}
	assert_int_equal(writes, 3);
	unsigned conns = s->n_conns;
	pthread_mutex_unlock(&s->lock);

	/* The next write takes the next seq, on the same connection, without registering. */
	reply = enqueue(c, errmsg, sizeof errmsg);
	assert_non_null(reply);
	assert_int_equal(reply->code, CALLRAFT__CODE__OK);
	callraft__reply__free_unpacked(reply, NULL);
	assert_int_equal(callraft_client_seq(c), 2);
	pthread_mutex_lock(&s->lock);
	assert_int_equal(s->n_registers, 1);
	assert_int_equal(s->n_conns, conns);
	assert_int_equal(s->records[s->n_records - 1].seq, 2);
	assert_int_equal(s->records[s->n_records - 1].client_id, 42);
	pthread_mutex_unlock(&s->lock);

	callraft_client_close(c);
	server_stop(s);
}

static void read_needs_no_session(void **state)
{
	(void)state;
	struct server *s = server_start(SCENARIO_RETRY);
	struct callraft_client *c = client_open(s->address, 2000, 1000);
	Callraft__CallShow show = CALLRAFT__CALL_SHOW__INIT;
	show.call_id = "c-1";
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_CALL_SHOW;
	req.call_show = &show;
	char errmsg[256];
	Callraft__Reply *reply = callraft_client_call(c, &req, errmsg, sizeof errmsg);
	assert_non_null(reply);
	assert_int_equal(reply->code, CALLRAFT__CODE__OK);
	callraft__reply__free_unpacked(reply, NULL);
	assert_int_equal(callraft_client_id(c), 0);
	pthread_mutex_lock(&s->lock);
	assert_int_equal(s->n_registers, 0);
	assert_int_equal(s->n_records, 1);
	assert_int_equal(s->records[0].client_id, 0);
	assert_int_equal(s->records[0].seq, 0);
	pthread_mutex_unlock(&s->lock);
	callraft_client_close(c);
	server_stop(s);
}

static void session_unknown_registers_once_more(void **state)
{
	(void)state;
	struct server *s = server_start(SCENARIO_SESSION);
	struct callraft_client *c = client_open(s->address, 3000, 1000);
	char errmsg[256];
	Callraft__Reply *reply = enqueue(c, errmsg, sizeof errmsg);
	assert_non_null(reply);
	assert_int_equal(reply->code, CALLRAFT__CODE__OK);
	callraft__reply__free_unpacked(reply, NULL);
	assert_int_equal(callraft_client_id(c), 101);
	assert_int_equal(callraft_client_seq(c), 1);
	pthread_mutex_lock(&s->lock);
	assert_int_equal(s->n_registers, 2);
	const struct record *last = &s->records[s->n_records - 1];
	assert_int_equal(last->client_id, 101);
	assert_int_equal(last->seq, 1);
	pthread_mutex_unlock(&s->lock);
	callraft_client_close(c);
	server_stop(s);
}

static void oversized_reply_closes_and_retries(void **state)
{
	(void)state;
	struct server *s = server_start(SCENARIO_OVERSIZE);
	struct callraft_client *c = client_open(s->address, 3000, 1000);
	char errmsg[256];
	Callraft__Reply *reply = enqueue(c, errmsg, sizeof errmsg);
	assert_non_null(reply);
	assert_int_equal(reply->code, CALLRAFT__CODE__OK);
	callraft__reply__free_unpacked(reply, NULL);
	assert_int_equal(callraft_client_retries(c), 1);
	pthread_mutex_lock(&s->lock);
	assert_int_equal(s->n_conns, 2); /* the connection was closed after the bad frame */
	assert_int_equal(s->n_writes, 2);
	assert_int_equal(s->records[s->n_records - 1].seq, 1);
	pthread_mutex_unlock(&s->lock);
	callraft_client_close(c);
	server_stop(s);
}

static void stale_replies_are_skipped(void **state)
{
	(void)state;
	struct server *s = server_start(SCENARIO_STALE_REPLY);
	struct callraft_client *c = client_open(s->address, 3000, 1000);
	char errmsg[256];
	Callraft__Reply *reply = enqueue(c, errmsg, sizeof errmsg);
	assert_non_null(reply);
	assert_int_equal(reply->code, CALLRAFT__CODE__OK); /* not the NOT_FOUND with another id */
	callraft__reply__free_unpacked(reply, NULL);
	assert_int_equal(callraft_client_retries(c), 0);
	callraft_client_close(c);
	server_stop(s);
}

static void unreachable_cluster_fails_within_deadline(void **state)
{
	(void)state;
	char cluster[64];
	snprintf(cluster, sizeof cluster, "127.0.0.1:%u,127.0.0.1:%u", closed_port(), closed_port());
	struct callraft_client *c = client_open(cluster, 300, 100);
	char errmsg[512] = "";
	int64_t start = mono_ms();
	Callraft__Reply *reply = enqueue(c, errmsg, sizeof errmsg);
	int64_t elapsed = mono_ms() - start;
	assert_null(reply);
	assert_true(elapsed >= 250);
	assert_true(elapsed < 1000);
	assert_int_equal(callraft_client_last_error(c), CALLRAFT_CLIENT_UNAVAILABLE);
	assert_non_null(strstr(errmsg, "no node answered"));
	assert_true(callraft_client_retries(c) > 0);
	assert_int_equal(callraft_client_id(c), 0); /* never registered */
	callraft_client_close(c);
}

static void silent_node_fails_within_deadline(void **state)
{
	(void)state;
	struct server *s = server_start(SCENARIO_BLACKHOLE);
	struct callraft_client *c = client_open(s->address, 400, 100);
	char errmsg[512] = "";
	int64_t start = mono_ms();
	Callraft__Reply *reply = enqueue(c, errmsg, sizeof errmsg);
	int64_t elapsed = mono_ms() - start;
	assert_null(reply);
	assert_true(elapsed < 1200);
	assert_non_null(strstr(errmsg, "timed out"));
	callraft_client_close(c);
	server_stop(s);
}

/* A hung node (it accepts and reads, never answers: SIGSTOP) is left for the next node after the
 * adaptive attempt deadline, not after a fixed 5 s; the write then goes through. */
static void hung_node_is_left_for_the_next_quickly(void **state)
{
	(void)state;
	struct server *hung = server_start(SCENARIO_BLACKHOLE), *good = server_start(SCENARIO_OK);
	char cluster[80], errmsg[512] = "";
	snprintf(cluster, sizeof cluster, "%s,%s", hung->address, good->address);
	struct callraft_client *c = client_open(cluster, 20000, 0);
	int64_t start = mono_ms();
	Callraft__Reply *reply = enqueue(c, errmsg, sizeof errmsg);
	int64_t elapsed = mono_ms() - start;
	if (reply == NULL)
		fail_msg("enqueue: %s", errmsg);
	assert_int_equal(reply->code, CALLRAFT__CODE__OK);
	callraft__reply__free_unpacked(reply, NULL);
	assert_true(elapsed < 3000); /* one first-attempt deadline (500 ms) and a backoff */
	pthread_mutex_lock(&hung->lock);
	assert_true(hung->n_records >= 1); /* it was asked first */
	pthread_mutex_unlock(&hung->lock);
	pthread_mutex_lock(&good->lock);
	assert_int_equal(good->n_writes, 1);
	pthread_mutex_unlock(&good->lock);
	callraft_client_close(c);
	server_stop(hung);
	server_stop(good);
}

/* The node a client has been using hangs mid-session (SIGSTOP): the client leaves it after an
 * attempt deadline derived from the answers it saw (a few hundred ms here: srtt of about 1 ms is
 * below the 300 ms floor), and sends the *same* write, same session and seq, to the next node, so
 * the cluster can apply it once whichever copy arrives first; no second session is registered. */
static void hung_node_mid_session_costs_one_short_deadline_same_seq(void **state)
{
	(void)state;
	struct server *a = server_start(SCENARIO_HANGS_LATER), *b = server_start(SCENARIO_OK);
	char cluster[80], errmsg[512] = "";
	snprintf(cluster, sizeof cluster, "%s,%s", a->address, b->address);
	struct callraft_client *c = client_open(cluster, 20000, 0);
	Callraft__Reply *reply = enqueue(c, errmsg, sizeof errmsg); /* answered by a */
	if (reply == NULL)
		fail_msg("enqueue 1: %s", errmsg);
	callraft__reply__free_unpacked(reply, NULL);
	uint64_t id = callraft_client_id(c);
	int64_t start = mono_ms();
	reply = enqueue(c, errmsg, sizeof errmsg); /* a hangs now */
	int64_t elapsed = mono_ms() - start;
	if (reply == NULL)
		fail_msg("enqueue 2: %s", errmsg);
	assert_int_equal(reply->code, CALLRAFT__CODE__OK);
	callraft__reply__free_unpacked(reply, NULL);
	print_message("hung node left after %lld ms\n", (long long)elapsed);
	/* The adaptive deadline is 300 ms here; 5 s was the fixed one. Generous for a loaded host. */
	assert_true(elapsed < 2500);
	assert_int_equal(callraft_client_seq(c), 2);
	pthread_mutex_lock(&a->lock);
	assert_int_equal(a->n_registers, 1);
	assert_int_equal(a->records[a->n_records - 1].client_id, id); /* the copy a holds ... */
	assert_int_equal(a->records[a->n_records - 1].seq, 2);
	pthread_mutex_unlock(&a->lock);
	pthread_mutex_lock(&b->lock);
	assert_int_equal(b->n_registers, 0);
	assert_int_equal(b->n_writes, 1);
	assert_int_equal(b->records[0].client_id, id); /* ... and the one b applied are one write */
	assert_int_equal(b->records[0].seq, 2);
	pthread_mutex_unlock(&b->lock);
	callraft_client_close(c);
	server_stop(a);
	server_stop(b);
}

static void call_without_op_is_invalid(void **state)
{
	(void)state;
	struct callraft_client *c = client_open("127.0.0.1:1", 300, 100);
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	char errmsg[256];
	assert_null(callraft_client_call(c, &req, errmsg, sizeof errmsg));
	assert_int_equal(callraft_client_last_error(c), CALLRAFT_CLIENT_INVALID);

	/* A request above CALLRAFT_REQUEST_BYTES_MAX is refused before any attempt. */
	char *note = malloc(CALLRAFT_REQUEST_BYTES_MAX + 1);
	assert_non_null(note);
	memset(note, 'n', CALLRAFT_REQUEST_BYTES_MAX);
	note[CALLRAFT_REQUEST_BYTES_MAX] = '\0';
	Callraft__TicketOpen open = CALLRAFT__TICKET_OPEN__INIT;
	open.note = note;
	req.op_case = CALLRAFT__REQUEST__OP_TICKET_OPEN;
	req.ticket_open = &open;
	assert_null(callraft_client_call(c, &req, errmsg, sizeof errmsg));
	assert_int_equal(callraft_client_last_error(c), CALLRAFT_CLIENT_INVALID);
	assert_int_equal(callraft_client_retries(c), 0);
	free(note);
	callraft_client_close(c);
}

static void call_node_probes_one_node(void **state)
{
	(void)state;
	struct server *s = server_start(SCENARIO_RETRY);
	Callraft__StatusGet get = CALLRAFT__STATUS_GET__INIT;
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_STATUS;
	req.status = &get;
	req.stale = true;
	char errmsg[256];
	Callraft__Reply *reply = callraft_client_call_node(s->address, &req, 1000, errmsg,
							   sizeof errmsg);
	assert_non_null(reply);
	assert_int_equal(reply->code, CALLRAFT__CODE__OK);
	callraft__reply__free_unpacked(reply, NULL);

	char closed[32];
	snprintf(closed, sizeof closed, "127.0.0.1:%u", closed_port());
	assert_null(callraft_client_call_node(closed, &req, 500, errmsg, sizeof errmsg));
	assert_non_null(strstr(errmsg, "127.0.0.1"));
	assert_null(callraft_client_call_node("nonsense", &req, 500, errmsg, sizeof errmsg));
	server_stop(s);
}

/* ------------------------------------------------------------------------------------------------
 * TLS: certificates made here (as deploy/certs.sh makes them), session resumption. */

/* A CA in a fresh directory, a node certificate for 127.0.0.1 and a long-lived admin client. */
static void pki_setup(struct test_pki *pki)
{
	pki_init(pki, "test_client_tls");
	pki_issue(pki, "node1", "URI:callraft:node:1,IP:127.0.0.1", 3600);
	pki_issue(pki, "admin", "URI:callraft:role:admin", 3600);
}

static struct callraft_client *pki_client_open(struct test_pki *pki, const char *cluster,
					       const char *name, int request_ms)
{
	char ca[128], cert[128], key[128], errmsg[512];
	pki_path(pki, "ca", "crt", ca, sizeof ca);
	pki_path(pki, name, "crt", cert, sizeof cert);
	pki_path(pki, name, "key", key, sizeof key);
	struct callraft_client_options opts = {.cluster = cluster, .name = "test",
					       .request_timeout_ms = request_ms,
					       .attempt_timeout_ms = 1000,
					       .tls_ca = ca, .tls_cert = cert, .tls_key = key};
	struct callraft_client *c = NULL;
	if (callraft_client_open(&opts, &c, errmsg, sizeof errmsg) != 0)
		fail_msg("open: %s", errmsg);
	return c;
}

/* A client that reconnects (the node hung up) resumes its TLS session from the node's ticket: no
 * second certificate exchange. */
static void tls_reconnect_resumes_the_session(void **state)
{
	(void)state;
	struct test_pki pki;
	pki_setup(&pki);
	SSL_CTX *ctx = pki_ctx(&pki, "node1");
	struct server *s = server_start_tls(SCENARIO_CLOSE_AFTER_WRITE, ctx);
	struct callraft_client *c = pki_client_open(&pki, s->address, "admin", 5000);
	char errmsg[512] = "";

	for (int i = 0; i < 3; i++) {
		Callraft__Reply *reply = enqueue(c, errmsg, sizeof errmsg);
		if (reply == NULL)
			fail_msg("write %d failed: %s", i + 1, errmsg);
		assert_int_equal(reply->code, CALLRAFT__CODE__OK);
		callraft__reply__free_unpacked(reply, NULL);
	}
	pthread_mutex_lock(&s->lock);
	assert_int_equal(s->n_writes, 3);
	assert_int_equal(s->n_conns, 3);
	assert_int_equal(s->n_tls_failed, 0);
	assert_int_equal(s->n_tls_resumed, 2); /* every connection but the first */
	pthread_mutex_unlock(&s->lock);
	callraft_client_close(c);
	server_stop(s);
	SSL_CTX_free(ctx);
	pki_release(&pki);
}

/* A ticket does not outlive the certificate it was issued for: once the client certificate has
 * expired, the reconnect is a full handshake, which refuses it. */
static void tls_ticket_of_an_expired_certificate_is_refused(void **state)
{
	(void)state;
	struct test_pki pki;
	pki_setup(&pki);
	pki_issue(&pki, "brief", "URI:callraft:role:admin", 2); /* expires in 2 s */
	SSL_CTX *ctx = pki_ctx(&pki, "node1");
	struct server *s = server_start_tls(SCENARIO_CLOSE_AFTER_WRITE, ctx);
	struct callraft_client *c = pki_client_open(&pki, s->address, "brief", 1500);
	char errmsg[512] = "";

	Callraft__Reply *reply = enqueue(c, errmsg, sizeof errmsg);
	if (reply == NULL)
		fail_msg("first write failed: %s", errmsg);
	callraft__reply__free_unpacked(reply, NULL);
	sleep(3);
	reply = enqueue(c, errmsg, sizeof errmsg);
	assert_null(reply);
	pthread_mutex_lock(&s->lock);
	assert_int_equal(s->n_writes, 1);
	assert_int_equal(s->n_tls_resumed, 0);
	assert_true(s->n_tls_failed >= 1);
	pthread_mutex_unlock(&s->lock);
	callraft_client_close(c);
	server_stop(s);
	SSL_CTX_free(ctx);
	pki_release(&pki);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(frame_len_is_big_endian),
	    cmocka_unit_test(open_accepts_good_cluster_strings),
	    cmocka_unit_test(open_refuses_bad_cluster_strings),
	    cmocka_unit_test(open_refuses_too_many_or_too_long),
	    cmocka_unit_test(request_is_write_for_every_op),
	    cmocka_unit_test(code_names_and_retryable),
	    cmocka_unit_test(write_retries_with_same_session_and_seq),
	    cmocka_unit_test(read_needs_no_session),
	    cmocka_unit_test(session_unknown_registers_once_more),
	    cmocka_unit_test(oversized_reply_closes_and_retries),
	    cmocka_unit_test(stale_replies_are_skipped),
	    cmocka_unit_test(unreachable_cluster_fails_within_deadline),
	    cmocka_unit_test(silent_node_fails_within_deadline),
	    cmocka_unit_test(hung_node_is_left_for_the_next_quickly),
	    cmocka_unit_test(hung_node_mid_session_costs_one_short_deadline_same_seq),
	    cmocka_unit_test(call_without_op_is_invalid),
	    cmocka_unit_test(call_node_probes_one_node),
	    cmocka_unit_test(tls_reconnect_resumes_the_session),
	    cmocka_unit_test(tls_ticket_of_an_expired_certificate_is_refused),
	};
	signal(SIGPIPE, SIG_IGN); /* the TLS server writes with SSL_write (write(2)) */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
