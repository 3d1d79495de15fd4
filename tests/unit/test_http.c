/* test_http.c: unit tests of node/http.c, the server core, on a loop of its own: a client thread
 * speaks raw HTTP/1.1 and WebSocket to it over loopback while the loop thread serves. Covers the
 * registration API the other modules use: longest-prefix routes, 404/405, the deadline (504), a
 * streamed answer (SSE), a WebSocket protocol added with http_ws_add, and a clean stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"

struct fx {
	uv_loop_t loop;
	uv_async_t done;
	struct http *h;
	int port;
	int calls_short, calls_long, calls_slow, dones;
	char results[8][256];
	int n_results;
	pthread_t client;
};

/* ---- server side ---------------------------------------------------------------------------- */

static void on_done(struct http_req *r, void *data)
{
	(void)r;
	((struct fx *)data)->dones++;
}

static void h_short(struct http_req *r, void *data)
{
	struct fx *f = data;
	f->calls_short++;
	http_respond(r, 200, "text/plain", "short", 5, "X-Route: short\r\n");
}

static void h_long(struct http_req *r, void *data)
{
	struct fx *f = data;
	size_t len;
	const uint8_t *body = http_req_body(r, &len);
	char out[128];
	int n;
	f->calls_long++;
	n = snprintf(out, sizeof out, "long %s %zu", http_req_path(r), body ? len : 0);
	http_respond(r, 200, "text/plain", out, (size_t)n, NULL);
}

static void h_slow(struct http_req *r, void *data)
{
	struct fx *f = data;
	f->calls_slow++;
	http_req_on_done(r, on_done, f);
	http_req_set_deadline_in(r, 200); /* never answered: the core answers 504 */
}

static void h_stream(struct http_req *r, void *data)
{
	(void)data;
	assert_int_equal(http_stream_start(r, 200, "text/event-stream", NULL), 0);
	assert_int_equal(http_stream_write(r, "data: one\n\n", 11), 0);
	assert_int_equal(http_stream_write(r, "data: two\n\n", 11), 0);
	assert_int_equal(http_respond(r, 200, "text/plain", "x", 1, NULL), -1); /* once only */
	http_stream_end(r);
}

static int ws_echo_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		      size_t len)
{
	char *pending = user; /* per-session: [0] length, then the text */
	uint8_t buf[LWS_PRE + 64];

	switch (reason) {
	case LWS_CALLBACK_RECEIVE:
		if (len > 60)
			return -1;
		pending[0] = (char)len;
		memcpy(pending + 1, in, len);
		lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		memcpy(buf + LWS_PRE, pending + 1, (size_t)pending[0]);
		return lws_write(wsi, buf + LWS_PRE, (size_t)pending[0], LWS_WRITE_TEXT) < 0 ? -1 : 0;
	default:
		return 0;
	}
}

static const struct lws_protocols ws_echo = {
	.name = "test-echo",
	.callback = ws_echo_cb,
	.per_session_data_size = 64,
	.rx_buffer_size = 128,
};

/* ---- client side (its own thread, blocking sockets) ---------------------------------------- */

static int dial(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = {.tv_sec = 5};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends `req` on a new connection, reads until the server closes or `until` appears. */
static void exchange(struct fx *f, const char *req, const char *until)
{
	char *out = f->results[f->n_results++];
	size_t have = 0;
	int fd = dial(f->port);
	if (fd < 0)
		return;
	send(fd, req, strlen(req), MSG_NOSIGNAL);
	while (have < 255) {
		ssize_t n = recv(fd, out + have, 255 - have, 0);
		if (n <= 0)
			break;
		have += (size_t)n;
		out[have] = '\0';
		if (until != NULL && strstr(out, until) != NULL)
			break;
	}
	close(fd);
}

static void ws_exchange(struct fx *f)
{
	char *out = f->results[f->n_results++];
	const char *hs = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
	uint8_t frame[8] = {0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2}, in[300];
	size_t have = 0;
	int fd = dial(f->port);
	if (fd < 0)
		return;
	send(fd, hs, strlen(hs), MSG_NOSIGNAL);
	while (have < sizeof in - 1) { /* the 101 answer */
		ssize_t n = recv(fd, in + have, sizeof in - 1 - have, 0);
		if (n <= 0)
			break;
		have += (size_t)n;
		in[have] = '\0';
		if (strstr((char *)in, "\r\n\r\n") != NULL)
			break;
	}
	snprintf(out, 256, "%.12s|", (char *)in);
	send(fd, frame, sizeof frame, MSG_NOSIGNAL);
	have = 0;
	while (have < 4) {
		ssize_t n = recv(fd, in + have, sizeof in - have, 0);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	if (have >= 4 && in[0] == 0x81 && in[1] == 2)
		snprintf(out + strlen(out), 256 - strlen(out), "%.2s", (char *)in + 2);
	close(fd);
}

static void *client_main(void *arg)
{
	struct fx *f = arg;
	exchange(f, "GET /a/b/c HTTP/1.1\r\nHost: x\r\n\r\n", "long");
	exchange(f, "GET /a/x HTTP/1.1\r\nHost: x\r\n\r\n", "short");
	exchange(f, "POST /a/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "\r\n\r\n{");
	exchange(f, "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", "}");
	exchange(f, "POST /a/b/d HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz", "long");
	exchange(f, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", "}");
	exchange(f, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n", NULL);
	ws_exchange(f);
	uv_async_send(&f->done);
	return NULL;
}

static void done_cb(uv_async_t *a)
{
	struct fx *f = a->data;
	http_stop(f->h);
	uv_close((uv_handle_t *)&f->done, NULL);
}

static void test_core_routes_deadline_stream_and_websocket(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	struct config cfg;
	char err[256];
	(void)state;

	uv_loop_init(&f->loop);
	uv_async_init(&f->loop, &f->done, done_cb);
	f->done.data = f;
	f->h = http_new(&f->loop);
	assert_non_null(f->h);
	assert_int_equal(http_route_add(f->h, HTTP_GET | HTTP_POST, "/a/b/", h_long, f), 0);
	assert_int_equal(http_route_add(f->h, HTTP_GET, "/a/", h_short, f), 0);
	assert_int_equal(http_route_add(f->h, HTTP_GET, "/slow", h_slow, f), 0);
	assert_int_equal(http_route_add(f->h, HTTP_GET, "/stream", h_stream, f), 0);
	assert_int_equal(http_route_add(f->h, HTTP_GET, "no-slash", h_short, f), -1);
	assert_int_equal(http_ws_add(f->h, "/ws", &ws_echo), 0);
	memset(&cfg, 0, sizeof cfg);
	cfg.insecure = true; /* the core on plain HTTP; TLS is test_tls_hostile.sh's */
	/* Below the ephemeral range; CALLRAFT_PORT_BASE + 250 is free in every layout (nodes use
	 * BASE + i, + 100 + i and + 200 + i). A port in use is skipped. */
	const char *base = getenv("CALLRAFT_PORT_BASE");
	f->port = base != NULL ? atoi(base) + 250 : 20000 + (int)(getpid() % 8000);
	for (int tries = 0;; tries++, f->port += 7) {
		snprintf(cfg.http_address, sizeof cfg.http_address, "127.0.0.1:%d", f->port);
		if (http_start(f->h, &cfg, err, sizeof err) == 0)
			break;
		if (tries == 10)
			fail_msg("http_start: %s", err);
		http_stop(f->h);
		uv_run(&f->loop, UV_RUN_NOWAIT);
		http_free(f->h);
		f->h = http_new(&f->loop);
		http_route_add(f->h, HTTP_GET | HTTP_POST, "/a/b/", h_long, f);
		http_route_add(f->h, HTTP_GET, "/a/", h_short, f);
		http_route_add(f->h, HTTP_GET, "/slow", h_slow, f);
		http_route_add(f->h, HTTP_GET, "/stream", h_stream, f);
		http_ws_add(f->h, "/ws", &ws_echo);
	}
	assert_int_equal(http_route_add(f->h, HTTP_GET, "/late", h_short, f), -1); /* started */
	pthread_create(&f->client, NULL, client_main, f);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	pthread_join(f->client, NULL);
	assert_int_equal(uv_loop_close(&f->loop), 0); /* nothing left open */
	assert_int_equal(http_counters(f->h)->deadlines, 1);
	assert_int_equal(http_counters(f->h)->open_reqs, 0);
	http_free(f->h);

	assert_int_equal(f->n_results, 8);
	assert_non_null(strstr(f->results[0], "200 OK"));          /* longest prefix wins */
	assert_non_null(strstr(f->results[0], "long /a/b/c 0"));
	assert_non_null(strstr(f->results[1], "short"));
	assert_non_null(strstr(f->results[1], "x-route: short"));  /* the handler's header */
	assert_non_null(strstr(f->results[2], "405"));             /* POST on a GET-only prefix */
	assert_non_null(strstr(f->results[3], "404"));
	assert_non_null(strstr(f->results[3], "\"code\":\"UNKNOWN_OPERATION\""));
	assert_non_null(strstr(f->results[4], "long /a/b/d 3"));   /* the body reached it */
	assert_non_null(strstr(f->results[5], "504"));             /* the deadline answered */
	assert_non_null(strstr(f->results[5], "\"code\":\"TIMEOUT\""));
	assert_non_null(strstr(f->results[6], "text/event-stream"));
	assert_non_null(strstr(f->results[6], "data: one\n\ndata: two\n\n"));
	assert_string_equal(f->results[7], "HTTP/1.1 101|hi");     /* upgraded, echoed */
	assert_int_equal(f->calls_long, 2);
	assert_int_equal(f->calls_short, 1);
	assert_int_equal(f->calls_slow, 1);
	assert_int_equal(f->dones, 1); /* the slow request's done callback ran once */
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_core_routes_deadline_stream_and_websocket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
