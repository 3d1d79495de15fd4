/* http.h: the node's HTTP server (HTTP/1.1 and h2, WebSocket, Server-Sent Events), on the node's
 * own libuv loop.
 *
 * Built on libwebsockets (Debian's libwebsockets-dev, 4.1) with its libuv event library joining the
 * node's loop as a "foreign" loop: no thread, no lock; handlers run on the loop thread like the
 * binary protocol's, and may call anything the node's loop may call.
 *
 * The core owns the listener, parsing, limits (proto/callraft_limits.h: body and header size,
 * connections, idle and receive timeouts) and a deadline on every request. It knows no route:
 * modules register theirs before the server starts (node/http_routes.c lists the modules):
 *
 *   - http_route_add(h, HTTP_GET | HTTP_POST, "/v1/", handler, data): a request whose path starts
 *     with the prefix goes to the handler of the longest matching prefix, once its whole body has
 *     arrived. A star in a prefix stands for one path segment (the offers route: "/v1/agents/", a
 *     star, "/offers"). The handler answers exactly once, now or later from the loop: http_respond (or
 *     http_respond_json), or http_stream_start ... http_stream_end for a long-lived response (SSE).
 *     A request not answered by its deadline gets 504 {"code":"TIMEOUT"} from the core.
 *   - http_ws_add(h, "/v1/ws", &protocol): WebSocket upgrades on that path go to a libwebsockets
 *     protocol of the caller's (lws_protocols: its callback, per-session size, rx buffer); see
 *     http_ws_add below.
 *
 * Request life (states of struct http_req, all on the loop thread):
 *
 *   READING --body complete--> HANDLING --http_respond--> RESPONDING --sent--> done
 *                                  |  \--http_stream_start--> STREAMING --http_stream_end--> done
 *                                  \--deadline--> RESPONDING (504)
 *   any state --connection closed--> done
 *
 * "done" calls the req's done callback (http_req_on_done) once, then frees the req: a handler that
 * answers later must register one and forget the req when it fires. Answering a req that is past
 * HANDLING (for instance after its 504) is a harmless no-op, but only while the req is not done.
 *
 * Invariants: 1. a request gets at most one response; 2. every request reaches "done" (a response
 * sent, or the connection closed) within its deadline plus the idle timeout; 3. the server never
 * buffers more than CALLRAFT_HTTP_BODY_BYTES_MAX of a body or CALLRAFT_HTTP_STREAM_BUFFER_BYTES_MAX
 * of a stream per request. */
#ifndef CALLRAFT_HTTP_H
#define CALLRAFT_HTTP_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"

struct http;
struct http_req;
struct lws_protocols;

enum http_method {
	HTTP_GET = 1 << 0,
	HTTP_POST = 1 << 1,
	HTTP_PUT = 1 << 2,
	HTTP_DELETE = 1 << 3,
	HTTP_PATCH = 1 << 4,
	HTTP_OPTIONS = 1 << 5,
	HTTP_HEAD = 1 << 6,
};

/* A route's handler: called once per request, with the whole body read. */
typedef void (*http_handler_fn)(struct http_req *r, void *data);
/* Called once when a request is done (answered and sent, or its connection closed). */
typedef void (*http_done_fn)(struct http_req *r, void *data);

/* Creates the server of a node (nothing listens yet). Returns NULL on allocation failure. */
struct http *http_new(uv_loop_t *loop);

/* Registers a route: requests whose path starts with `path_prefix` (and whose method is in
 * `methods`, a set of enum http_method) go to `fn`. The longest matching prefix wins; a path that
 * matches a prefix but not its methods gets 405. Only before http_start. Returns 0, or -1 if the
 * table is full (CALLRAFT_HTTP_ROUTES_MAX) or the prefix is not "/...". `path_prefix` is copied. */
int http_route_add(struct http *h, unsigned methods, const char *path_prefix, http_handler_fn fn,
		   void *data);

/* Registers a WebSocket protocol served on `path` (an upgrade request to exactly that path binds to
 * `proto`, as does one naming proto->name in Sec-WebSocket-Protocol; an upgrade to any other path
 * is refused; a connection bound by its path stays on the core's protocol, which passes every
 * callback on with `proto`'s per-session area, so wake it with lws_callback_on_writable(wsi), not
 * lws_callback_on_writable_all_protocol); lws calls proto->callback with its LWS_CALLBACK_*
 * reasons: ESTABLISHED, RECEIVE, SERVER_WRITEABLE, CLOSED, ...). `proto` (and its name) must
 * outlive the server; proto->user is left to the caller. Only before http_start. Returns 0 or -1
 * (table full: CALLRAFT_HTTP_WS_PROTOCOLS_MAX). A plain HTTP request on `path` also goes to
 * proto->callback (LWS_CALLBACK_HTTP), as libwebsockets does for a callback mount. */
int http_ws_add(struct http *h, const char *path, const struct lws_protocols *proto);

/* Starts listening on cfg->http_address (cfg is borrowed for the call). The listener's options
 * (address, limits, and later TLS) are taken in one place, http.c's vhost_create. Returns 0, or
 * -1 with a message in errmsg ("http: listen on '...': ..."). */
int http_start(struct http *h, const struct config *cfg, char *errmsg, size_t errmsg_len);

/* Stops: every request still open is done (its done callback runs); the listener and connections
 * close through the loop (the caller keeps running it). NULL is allowed. */
void http_stop(struct http *h);
/* Frees the server, after http_stop and after the loop has run to completion. NULL is allowed. */
void http_free(struct http *h);

struct tls_identity;
/* With TLS (the default), who sent the request: the verified client certificate's identity of its
 * connection or, without a certificate, the bearer token it presents (`Authorization: Bearer`, or
 * `?access_token=` on a GET for EventSource, which cannot set headers), as the authenticator says.
 * 0, or -1 (why says why) when the listener runs without TLS (insecure = true), the certificate is
 * malformed, or there is no valid token. Only during the handler call. */
int http_req_authenticate(struct http_req *r, struct tls_identity *id, char *why, size_t why_len);
/* http_req_authenticate without the reason. */
int http_req_identity(struct http_req *r, struct tls_identity *id);

/* Checks a bearer token: 0 and the identity it grants, or -1 with why ("unknown or revoked token",
 * "expired"). Set by the node (node/http_auth.c) before http_start. */
typedef int (*http_auth_fn)(void *data, const char *token, struct tls_identity *id, char *why,
			    size_t why_len);
void http_set_authenticator(struct http *h, http_auth_fn fn, void *data);
/* With TLS every route needs an authenticated request (401 otherwise) except the ones marked public
 * here (the wallboard page: code, no data). -1 if no route has that exact prefix. */
int http_route_set_public(struct http *h, const char *path_prefix);
/* SIGHUP: hands the reloaded certificate and key to the listener (new connections use them).
 * 0, or -1 with errmsg (the old ones stay). */
int http_tls_reload(struct http *h, const struct config *cfg, char *errmsg, size_t errmsg_len);

/* ---- the request (valid from the handler call until its done callback) -------------------- */

enum http_method http_req_method(const struct http_req *r);
/* The path, percent-decoded, without the query string. */
const char *http_req_path(const struct http_req *r);
/* The body (not NUL-terminated) and its length; NULL/0 when there is none. Owned by the req. */
const uint8_t *http_req_body(const struct http_req *r, size_t *len);
/* Copies the query argument `name` (decoded) into buf. Returns its length, or -1 if absent or
 * longer than len - 1. Only during the handler call. */
int http_req_query(struct http_req *r, const char *name, char *buf, size_t len);
/* Copies request header `name` ("Idempotency-Key", any case) into buf. Returns its length, or -1 if
 * absent or longer than len - 1. Only during the handler call. */
int http_req_header(struct http_req *r, const char *name, char *buf, size_t len);
/* The loop time (uv_now) by which the request must be answered; handlers may shorten or extend it
 * within CALLRAFT_HTTP_DEADLINE_MS_MIN..MAX from now. */
uint64_t http_req_deadline_ms(const struct http_req *r);
void http_req_set_deadline_in(struct http_req *r, uint64_t in_ms);
/* Registers the done callback (one per req; a second call replaces the first). */
void http_req_on_done(struct http_req *r, http_done_fn fn, void *data);
/* True once the request was answered (or is being streamed). */
bool http_req_answered(const struct http_req *r);

/* ---- answers ----------------------------------------------------------------------------- */

/* Answers with `status`, `content_type` and a copy of `body`. `headers` may add lines, each
 * "Name: value\r\n" (NULL: none). Returns 0, or -1 if the req was already answered. */
int http_respond(struct http_req *r, int status, const char *content_type, const void *body,
		 size_t len, const char *headers);
/* Answers with `obj` serialised (application/json); takes the reference to obj in every case. */
int http_respond_json(struct http_req *r, int status, json_object *obj, const char *headers);
/* Answers {"code": code, "message": message} with `status`. */
int http_respond_error(struct http_req *r, int status, const char *code, const char *message,
		       const char *headers);

/* A streamed answer (Server-Sent Events: content_type "text/event-stream"): sends the status and
 * headers, takes the req off its deadline; data follows with http_stream_write. Returns 0 or -1. */
int http_stream_start(struct http_req *r, int status, const char *content_type, const char *headers);
/* Queues bytes for the client. Returns 0, or -1 if more than CALLRAFT_HTTP_STREAM_BUFFER_BYTES_MAX
 * would be waiting (a client reading too slowly: end the stream) or the req is not streaming. */
int http_stream_write(struct http_req *r, const void *data, size_t len);
/* Bytes queued and not yet sent. */
size_t http_stream_pending(const struct http_req *r);
/* Ends the stream once the queued bytes are sent; the connection then closes. */
void http_stream_end(struct http_req *r);

/* Counters for status and metrics. */
struct http_counters {
	uint64_t requests;
	uint64_t responses_2xx, responses_4xx, responses_5xx;
	uint64_t deadlines;      /* answered 504 by the core */
	uint64_t rejected;       /* refused by the core before any handler (size, method, path) */
	unsigned open_reqs;       /* requests in flight, event streams included */
	uint64_t connections_accepted;
};
const struct http_counters *http_counters(const struct http *h);

#endif
