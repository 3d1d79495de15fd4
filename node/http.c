/* http.c: the HTTP server core on libwebsockets; see http.h for the contract and the request life.
 *
 * libwebsockets calls one callback per protocol; protocol 0 ("callraft-http") serves every plain
 * HTTP request: it reads the request (method, path, body within its limit), finds the route, calls
 * the handler, and writes the answer when lws says the socket is writable. WebSocket protocols
 * registered with http_ws_add follow it in the vhost's protocol list, each bound to its path by a
 * callback mount. A uv timer sweeps the requests every CALLRAFT_HTTP_SWEEP_MS and answers 504 to those past
 * their deadline.
 *
 * Why libwebsockets (Debian 12's 4.1.6): it joins an existing libuv loop (LWS_SERVER_OPTION_LIBUV
 * with foreign_loops), so HTTP requests run on the node's loop thread next to raft and the binary
 * protocol with no lock; it serves HTTP/1.1, h2, WebSocket and SSE from one listener and does TLS
 * with OpenSSL, which the push channel and the TLS listener need; and it is packaged by Debian. */
#include "http.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "callraft_limits.h"
#include "callraft_timing.h"
#include "dlist.h"
#include "log.h"
#include "tls.h"
#include "token.h"

#define HTTP_WS_PATH_BYTES_MAX 64
#define HTTP_HEADERS_BYTES_MAX 1024

enum req_state { REQ_READING = 0, REQ_HANDLING, REQ_RESPONDING, REQ_STREAMING, REQ_DONE };

struct http_route {
	unsigned methods;
	char prefix[CALLRAFT_HTTP_PATH_BYTES_MAX + 1];
	size_t prefix_len;
	http_handler_fn fn;
	void *data;
	bool public; /* served without authentication (http_route_set_public) */
};

struct pss;

struct http_req {
	struct http *h;
	struct lws *wsi;            /* NULL once the connection is gone */
	struct pss *pss;
	struct http_req *prev, *next; /* h->reqs */
	enum req_state state;
	enum http_method method;
	char path[CALLRAFT_HTTP_PATH_BYTES_MAX + 1];
	uint8_t *body;
	size_t body_len, body_expected;
	uint64_t deadline_ms;
	bool in_handler;            /* headers and query readable */
	http_done_fn done_fn;
	void *done_data;
	/* The answer. */
	int status;
	char content_type[64];
	char headers[HTTP_HEADERS_BYTES_MAX];
	bool headers_sent;
	bool close_after;           /* close the connection once sent (body left unread) */
	bool stream_end;
	uint8_t *out;               /* body, or stream bytes queued */
	size_t out_len, out_off;
};

struct pss {
	struct http_req *req;
	const struct lws_protocols *ws; /* a WebSocket on a registered path: its protocol */
	void *ws_user;                  /* and that protocol's per-session area */
};

struct http {
	uv_loop_t *loop;
	struct lws_context *ctx;
	struct lws_vhost *vhost;
	struct http_route routes[CALLRAFT_HTTP_ROUTES_MAX];
	unsigned n_routes;
	/* protocol 0 is ours, then the WebSocket ones, then the terminator. */
	struct lws_protocols protocols[CALLRAFT_HTTP_WS_PROTOCOLS_MAX + 2];
	struct lws_http_mount mounts[CALLRAFT_HTTP_WS_PROTOCOLS_MAX];
	char ws_paths[CALLRAFT_HTTP_WS_PROTOCOLS_MAX][HTTP_WS_PATH_BYTES_MAX];
	unsigned n_ws;
	uv_timer_t sweep;
	bool sweep_open;
	bool stopping;
	struct http_req *reqs;
	struct http_counters counters;
	bool tls;          /* requests must be authenticated (certificate or bearer token) */
	http_auth_fn auth; /* bearer tokens' check, NULL: none accepted */
	void *auth_data;
};

/* ---- requests ---------------------------------------------------------------------------- */

static struct http_req *req_new(struct http *h, struct lws *wsi, struct pss *pss)
{
	struct http_req *r = calloc(1, sizeof *r);
	if (r == NULL)
		return NULL;
	r->h = h;
	r->wsi = wsi;
	r->pss = pss;
	r->deadline_ms = uv_now(h->loop) + CALLRAFT_HTTP_DEADLINE_MS_DEFAULT;
	DLIST_PUSH(h->reqs, r);
	h->counters.open_reqs++;
	h->counters.requests++;
	return r;
}

/* The request is finished: detach it from its connection, tell its owner, free it. */
static void req_done(struct http_req *r)
{
	struct http *h = r->h;

	assert(r->state != REQ_DONE);
	r->state = REQ_DONE;
	if (r->pss != NULL && r->pss->req == r)
		r->pss->req = NULL;
	r->pss = NULL;
	r->wsi = NULL;
	DLIST_UNLINK(h->reqs, r);
	h->counters.open_reqs--;
	if (r->done_fn != NULL)
		r->done_fn(r, r->done_data);
	free(r->body);
	free(r->out);
	free(r);
}

enum http_method http_req_method(const struct http_req *r)
{
	return r->method;
}

const char *http_req_path(const struct http_req *r)
{
	return r->path;
}

const uint8_t *http_req_body(const struct http_req *r, size_t *len)
{
	*len = r->body_len;
	return r->body_len > 0 ? r->body : NULL;
}

int http_req_query(struct http_req *r, const char *name, char *buf, size_t len)
{
	char key[64];
	const char *v;
	int n;

	if (!r->in_handler || r->wsi == NULL || len == 0 || strlen(name) + 2 > sizeof key)
		return -1;
	snprintf(key, sizeof key, "%s=", name);
	v = lws_get_urlarg_by_name(r->wsi, key, buf, (int)len);
	if (v == NULL)
		return -1;
	n = (int)strlen(v);
	/* lws truncates silently: a value that fills the buffer may have been cut. */
	if ((size_t)n >= len - 1)
		return -1;
	memmove(buf, v, (size_t)n + 1);
	return n;
}

int http_req_header(struct http_req *r, const char *name, char *buf, size_t len)
{
	char lower[64];
	size_t n = strlen(name);
	int got;

	if (!r->in_handler || r->wsi == NULL || n + 2 > sizeof lower || len == 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	lower[n] = ':';
	lower[n + 1] = '\0';
	if (lws_hdr_custom_length(r->wsi, lower, (int)n + 1) < 0)
		return -1;
	got = lws_hdr_custom_copy(r->wsi, buf, (int)len, lower, (int)n + 1);
	return got < 0 ? -1 : got;
}

uint64_t http_req_deadline_ms(const struct http_req *r)
{
	return r->deadline_ms;
}

void http_req_set_deadline_in(struct http_req *r, uint64_t in_ms)
{
	if (in_ms < CALLRAFT_HTTP_DEADLINE_MS_MIN)
		in_ms = CALLRAFT_HTTP_DEADLINE_MS_MIN;
	if (in_ms > CALLRAFT_HTTP_DEADLINE_MS_MAX)
		in_ms = CALLRAFT_HTTP_DEADLINE_MS_MAX;
	r->deadline_ms = uv_now(r->h->loop) + in_ms;
}

void http_req_on_done(struct http_req *r, http_done_fn fn, void *data)
{
	r->done_fn = fn;
	r->done_data = data;
}

bool http_req_answered(const struct http_req *r)
{
	return r->state >= REQ_RESPONDING;
}

const struct http_counters *http_counters(const struct http *h)
{
	return &h->counters;
}

/* ---- answers ----------------------------------------------------------------------------- */

static void count_status(struct http *h, int status)
{
	if (status < 300)
		h->counters.responses_2xx++;
	else if (status < 500)
		h->counters.responses_4xx++;
	else
		h->counters.responses_5xx++;
}

static int answer_begin(struct http_req *r, int status, const char *content_type,
			const char *headers, enum req_state next)
{
	if (r->state != REQ_HANDLING && r->state != REQ_READING)
		return -1;
	if (headers != NULL && strlen(headers) >= sizeof r->headers)
		return -1;
	r->state = next;
	r->status = status;
	snprintf(r->content_type, sizeof r->content_type, "%s", content_type);
	snprintf(r->headers, sizeof r->headers, "%s", headers != NULL ? headers : "");
	count_status(r->h, status);
	if (r->wsi != NULL)
		lws_callback_on_writable(r->wsi);
	return 0;
}

int http_respond(struct http_req *r, int status, const char *content_type, const void *body,
		 size_t len, const char *headers)
{
	uint8_t *copy = malloc(len ? len : 1);

	if (copy == NULL)
		return -1;
	if (len > 0)
		memcpy(copy, body, len);
	if (answer_begin(r, status, content_type, headers, REQ_RESPONDING) != 0) {
		free(copy);
		return -1;
	}
	r->out = copy;
	r->out_len = len;
	r->out_off = 0;
	return 0;
}

int http_respond_json(struct http_req *r, int status, json_object *obj, const char *headers)
{
	size_t len = 0;
	const char *s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
							  &len);
	int rc = -1;
	if (s != NULL) {
		/* A newline ends the body: friendlier to curl and line-based tools. */
		char *body = malloc(len + 1);
		if (body != NULL) {
			memcpy(body, s, len);
			body[len] = '\n';
			rc = http_respond(r, status, "application/json", body, len + 1, headers);
			free(body);
		}
	}
	json_object_put(obj);
	return rc;
}

int http_respond_error(struct http_req *r, int status, const char *code, const char *message,
		       const char *headers)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "code", json_object_new_string(code));
	json_object_object_add(o, "message", json_object_new_string(message));
	return http_respond_json(r, status, o, headers);
}

int http_stream_start(struct http_req *r, int status, const char *content_type, const char *headers)
{
	if (answer_begin(r, status, content_type, headers, REQ_STREAMING) != 0)
		return -1;
	/* A stream lives as long as its client reads: no libwebsockets timeout may end it (one left
	 * pending from the request's reception dropped busy event streams after a few seconds). */
	if (r->wsi != NULL)
		lws_set_timeout(r->wsi, NO_PENDING_TIMEOUT, 0);
	return 0;
}

int http_stream_write(struct http_req *r, const void *data, size_t len)
{
	uint8_t *p;

	if (r->state != REQ_STREAMING || r->stream_end)
		return -1;
	if (r->out_off > 0 && r->out_off == r->out_len)
		r->out_off = r->out_len = 0;
	if (r->out_len - r->out_off + len > CALLRAFT_HTTP_STREAM_BUFFER_BYTES_MAX)
		return -1;
	if (r->out_off > 0) {
		memmove(r->out, r->out + r->out_off, r->out_len - r->out_off);
		r->out_len -= r->out_off;
		r->out_off = 0;
	}
	p = realloc(r->out, r->out_len + len ? r->out_len + len : 1);
	if (p == NULL)
		return -1;
	memcpy(p + r->out_len, data, len);
	r->out = p;
	r->out_len += len;
	if (r->wsi != NULL)
		lws_callback_on_writable(r->wsi);
	return 0;
}

size_t http_stream_pending(const struct http_req *r)
{
	return r->out_len - r->out_off;
}

void http_stream_end(struct http_req *r)
{
	if (r->state != REQ_STREAMING)
		return;
	r->stream_end = true;
	if (r->wsi != NULL)
		lws_callback_on_writable(r->wsi);
}

/* ---- writing ----------------------------------------------------------------------------- */

/* Adds the caller's "Name: value\r\n" lines. Returns 0 or -1. */
static int add_extra_headers(struct lws *wsi, const char *lines, unsigned char **p, unsigned char *end)
{
	while (*lines != '\0') {
		const char *eol = strstr(lines, "\r\n"), *colon = strchr(lines, ':');
		char name[64];
		size_t n;
		const char *v;

		if (eol == NULL || colon == NULL || colon > eol || (size_t)(colon - lines) + 2 > sizeof name)
			return -1;
		n = (size_t)(colon - lines);
		for (size_t i = 0; i < n; i++)
			name[i] = (char)tolower((unsigned char)lines[i]);
		name[n] = ':';
		name[n + 1] = '\0';
		for (v = colon + 1; v < eol && *v == ' '; v++)
			;
		if (lws_add_http_header_by_name(wsi, (const unsigned char *)name,
						(const unsigned char *)v, (int)(eol - v), p, end))
			return -1;
		lines = eol + 2;
	}
	return 0;
}

/* CORS: any origin may read the API (GET and HEAD under /v1/, no credentials), so that a
 * wallboard served by one member keeps reading from another when its own node dies. Writes get no
 * CORS header and no preflight answer: a page of another origin cannot read their answers. */
static int cors_headers(const struct http_req *r, unsigned char **p, unsigned char *end)
{
	static const unsigned char name[] = "access-control-allow-origin:";

	if ((r->method & (HTTP_GET | HTTP_HEAD)) == 0 || strncmp(r->path, "/v1/", 4) != 0)
		return 0;
	return lws_add_http_header_by_name(r->wsi, name, (const unsigned char *)"*", 1, p, end) ? -1 : 0;
}

static int write_headers(struct http_req *r)
{
	uint8_t buf[LWS_PRE + 2048];
	unsigned char *start = &buf[LWS_PRE], *p = start, *end = &buf[sizeof buf - 1];
	lws_filepos_t len = r->state == REQ_STREAMING ? LWS_ILLEGAL_HTTP_CONTENT_LEN : r->out_len;

	if (lws_add_http_common_headers(r->wsi, (unsigned)r->status, r->content_type, len, &p, end) ||
	    add_extra_headers(r->wsi, r->headers, &p, end) || cors_headers(r, &p, end) ||
	    lws_finalize_write_http_header(r->wsi, start, &p, end))
		return -1;
	r->headers_sent = true;
	return 0;
}

/* Writes what it can of the answer. Returns -1 to close the connection. */
static int req_writable(struct http_req *r)
{
	uint8_t buf[LWS_PRE + CALLRAFT_HTTP_WRITE_CHUNK_BYTES];
	struct lws *wsi = r->wsi;
	size_t n;
	bool last;

	if (r->state != REQ_RESPONDING && r->state != REQ_STREAMING)
		return 0;
	if (!r->headers_sent) {
		if (write_headers(r) != 0)
			return -1;
		/* The body follows in the same callback when the socket takes it: one loop turn (and
		 * usually one segment less) per answer. */
		if (lws_send_pipe_choked(wsi)) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	n = r->out_len - r->out_off;
	if (n > CALLRAFT_HTTP_WRITE_CHUNK_BYTES)
		n = CALLRAFT_HTTP_WRITE_CHUNK_BYTES;
	last = r->state == REQ_RESPONDING && r->out_off + n == r->out_len;
	if (n > 0 || last) {
		memcpy(buf + LWS_PRE, r->out + r->out_off, n);
		if (lws_write(wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) !=
		    (int)n)
			return -1;
		r->out_off += n;
	}
	if (r->state == REQ_STREAMING) {
		if (r->stream_end && r->out_off == r->out_len) {
			req_done(r);
			return -1; /* a stream has no length: its end is the connection's */
		}
		if (r->out_off < r->out_len)
			lws_callback_on_writable(wsi);
		return 0;
	}
	if (!last) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	{
		bool close_after = r->close_after;
		req_done(r);
		if (close_after || lws_http_transaction_completed(wsi))
			return -1;
	}
	return 0;
}

/* ---- reading ----------------------------------------------------------------------------- */

static enum http_method method_of(struct lws *wsi)
{
	static const struct {
		enum lws_token_indexes token;
		enum http_method method;
	} methods[] = {
		{WSI_TOKEN_GET_URI, HTTP_GET},       {WSI_TOKEN_POST_URI, HTTP_POST},
		{WSI_TOKEN_PUT_URI, HTTP_PUT},       {WSI_TOKEN_DELETE_URI, HTTP_DELETE},
		{WSI_TOKEN_PATCH_URI, HTTP_PATCH},   {WSI_TOKEN_OPTIONS_URI, HTTP_OPTIONS},
		{WSI_TOKEN_HEAD_URI, HTTP_HEAD},
	};
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (lws_hdr_total_length(wsi, methods[i].token) > 0)
			return methods[i].method;
	return 0;
}

/* True if `path` starts with `prefix`, where a '*' in the prefix stands for one non-empty path
 * segment (the offers route is "/v1/agents/", a star, then "/offers"). */
static bool prefix_match(const char *path, const char *prefix)
{
	while (*prefix != '\0') {
		if (*prefix == '*') {
			if (*path == '\0' || *path == '/')
				return false;
			while (*path != '\0' && *path != '/')
				path++;
			prefix++;
		} else if (*path++ != *prefix++) {
			return false;
		}
	}
	return true;
}

static const struct http_route *route_find(const struct http *h, const char *path)
{
	const struct http_route *best = NULL;
	for (unsigned i = 0; i < h->n_routes; i++) {
		const struct http_route *rt = &h->routes[i];
		if (prefix_match(path, rt->prefix) &&
		    (best == NULL || rt->prefix_len > best->prefix_len))
			best = rt;
	}
	return best;
}

/* A refusal by the core itself: the connection closes after it when the body was left unread. */
static void refuse(struct http_req *r, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void refuse(struct http_req *r, int status, const char *code, const char *fmt, ...)
{
	char msg[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	r->h->counters.rejected++;
	/* A caller that set close_after (bad framing: what follows is not a request) keeps it. */
	r->close_after |= r->state == REQ_READING && r->body_expected > r->body_len;
	http_respond_error(r, status, code, msg, NULL);
}

static void dispatch(struct http_req *r)
{
	struct http *h = r->h;
	const struct http_route *rt = route_find(h, r->path);

	r->state = REQ_HANDLING;
	if (rt == NULL) {
		refuse(r, 404, "UNKNOWN_OPERATION", "no route for '%s'", r->path);
		return;
	}
	if ((rt->methods & r->method) == 0) {
		refuse(r, 405, "UNKNOWN_OPERATION", "method not allowed on '%s'", r->path);
		return;
	}
	/* From here the request's own deadline (504, http_req_set_deadline_in) bounds it: a
	 * libwebsockets timeout left pending from its reception would cut a request held longer
	 * (a long poll, a write waiting for an election) after a few seconds with no answer. */
	if (r->wsi != NULL)
		lws_set_timeout(r->wsi, NO_PENDING_TIMEOUT, 0);
	r->in_handler = true;
	if (h->tls && !rt->public) {
		struct tls_identity id;
		char why[200];
		if (http_req_authenticate(r, &id, why, sizeof why) != 0) {
			LOG_RATELIMITED(LOG_WARN, "http: %s refused: %s", r->path, why);
			h->counters.rejected++;
			http_respond_error(r, 401, "PERMISSION_DENIED", why,
					   "WWW-Authenticate: Bearer realm=\"callraft\"\r\n");
			r->in_handler = false;
			return;
		}
	}
	rt->fn(r, rt->data);
	/* The handler may have answered (and the req be waiting to be written) or kept it. */
	r->in_handler = false;
}

/* LWS_CALLBACK_HTTP: the request line and headers are in. Returns -1 to close. */
static int on_request(struct http *h, struct lws *wsi, struct pss *pss, const char *uri)
{
	struct http_req *r;
	char cl[32];

	if (h->stopping)
		return -1;
	r = req_new(h, wsi, pss);
	if (r == NULL)
		return -1;
	pss->req = r;
	r->method = method_of(wsi);
	if (strlen(uri) > CALLRAFT_HTTP_PATH_BYTES_MAX) {
		r->state = REQ_HANDLING;
		refuse(r, 414, "INVALID_ARGUMENT", "path longer than %d bytes",
		       CALLRAFT_HTTP_PATH_BYTES_MAX);
		return 0;
	}
	snprintf(r->path, sizeof r->path, "%s", uri);
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
		r->state = REQ_HANDLING;
		r->close_after = true;
		refuse(r, 411, "INVALID_ARGUMENT",
		       "a body must come with Content-Length (chunked bodies are not accepted)");
		return 0;
	}
	if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
		char *end;
		unsigned long long v = strtoull(cl, &end, 10);
		if (*end != '\0' || cl[0] == '-') {
			r->state = REQ_HANDLING;
			r->close_after = true;
			refuse(r, 400, "INVALID_ARGUMENT", "Content-Length '%s' is not a number", cl);
			return 0;
		}
		if (v > CALLRAFT_HTTP_BODY_BYTES_MAX) {
			r->body_expected = (size_t)-1;
			refuse(r, 413, "INVALID_ARGUMENT", "body of %llu bytes exceeds the limit of %u bytes",
			       v, CALLRAFT_HTTP_BODY_BYTES_MAX);
			return 0;
		}
		r->body_expected = (size_t)v;
	}
	if (r->body_expected == 0) {
		dispatch(r);
		return 0;
	}
	r->body = malloc(r->body_expected);
	if (r->body == NULL) {
		refuse(r, 503, "UNAVAILABLE", "out of memory: retry");
		return 0;
	}
	return 0;
}

static int on_body(struct http_req *r, const void *in, size_t len)
{
	if (r->state != REQ_READING)
		return 0; /* refused already: the rest is ignored */
	if (len > r->body_expected - r->body_len) {
		refuse(r, 413, "INVALID_ARGUMENT", "body longer than its Content-Length");
		r->close_after = true;
		return 0;
	}
	memcpy(r->body + r->body_len, in, len);
	r->body_len += len;
	return 0;
}

/* A WebSocket upgrade without a Sec-WebSocket-Protocol header is bound by libwebsockets to the
 * vhost's first protocol, ours (4.1 has no public call to rebind it): the connection stays ours and
 * every later callback is passed on to the protocol registered for its path, with a per-session
 * area of that protocol's size. An upgrade on any other path is refused. Returns 0 to go on, 1 to
 * refuse. */
static int ws_bind_by_path(struct http *h, struct lws *wsi, struct pss *pss)
{
	char uri[HTTP_WS_PATH_BYTES_MAX + 1];

	if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0)
		return 1;
	for (unsigned i = 0; i < h->n_ws; i++) {
		const struct lws_protocols *p = &h->protocols[1 + i];
		if (strcmp(uri, h->ws_paths[i]) != 0)
			continue;
		pss->ws_user = calloc(1, p->per_session_data_size ? p->per_session_data_size : 1);
		if (pss->ws_user == NULL)
			return 1;
		pss->ws = p;
		return p->callback(wsi, LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION, pss->ws_user, NULL, 0);
	}
	LOG_RATELIMITED(LOG_WARN, "http: WebSocket upgrade on '%s' refused: no protocol there", uri);
	return 1;
}

/* Passes a callback of a WebSocket connection on to its path's protocol. */
static int ws_pass(struct pss *pss, struct lws *wsi, enum lws_callback_reasons reason, void *in,
		   size_t len)
{
	const struct lws_protocols *p = pss->ws;
	void *user = pss->ws_user;
	int rc;

	if (reason == LWS_CALLBACK_CLOSED || reason == LWS_CALLBACK_WSI_DESTROY) {
		pss->ws = NULL;
		pss->ws_user = NULL;
		rc = reason == LWS_CALLBACK_CLOSED ? p->callback(wsi, reason, user, in, len) : 0;
		free(user);
		return rc;
	}
	return p->callback(wsi, reason, user, in, len);
}

static int http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		   size_t len)
{
	struct http *h;
	struct pss *pss;

	switch (reason) {
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		/* A client certificate is asked for and verified, but no longer required by the
		 * handshake: a browser with a bearer token has none. Every route but the public page
		 * then needs a certificate or a token (dispatch, http_req_authenticate). lws set
		 * VERIFY_PEER | FAIL_IF_NO_PEER_CERT with its own callback just before. */
		if (user != NULL)
			SSL_CTX_set_verify((SSL_CTX *)user, SSL_VERIFY_PEER,
					   SSL_CTX_get_verify_callback((SSL_CTX *)user));
		return 0;
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS:
	case LWS_CALLBACK_OPENSSL_CONTEXT_REQUIRES_PRIVATE_KEY:
	case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
	case LWS_CALLBACK_SSL_INFO:
		/* TLS set-up: `user` is an SSL_CTX, an X509_STORE_CTX or an info struct, never a
		 * session area (the checks below would read it as one). */
		return 0;
	default:
		break;
	}
	if (reason == LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION) {
		/* First: `user` is OpenSSL's X509_STORE_CTX here, not a session area. lws turns our 0
		 * into "certificate OK" whatever OpenSSL found: pass OpenSSL's verdict on (len is
		 * preverify_ok), so a certificate of another CA, or expired, is refused. */
		if (len == 0)
			LOG_RATELIMITED(LOG_WARN, "http: TLS client certificate refused: %s",
					X509_verify_cert_error_string(
					    X509_STORE_CTX_get_error((X509_STORE_CTX *)user)));
		return len != 0 ? 0 : 1;
	}
	h = lws_context_user(lws_get_context(wsi));
	pss = user;
	if (pss != NULL && pss->ws != NULL)
		return ws_pass(pss, wsi, reason, in, len);
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return on_request(h, wsi, pss, in != NULL ? (const char *)in : "/");
	case LWS_CALLBACK_HTTP_BODY:
		if (pss->req != NULL)
			return on_body(pss->req, in, len);
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (pss->req != NULL && pss->req->state == REQ_READING)
			dispatch(pss->req);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (pss == NULL || pss->req == NULL)
			return 0;
		return req_writable(pss->req);
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return ws_bind_by_path(h, wsi, pss);
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (pss != NULL && pss->req != NULL)
			req_done(pss->req);
		return 0;
	case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
		h->counters.connections_accepted++;
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

/* Reads a small file (a PEM) into a NUL-terminated heap buffer. */
static int read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;
	if (f == NULL)
		return -1;
	buf = malloc(64 * 1024);
	n = buf != NULL ? fread(buf, 1, 64 * 1024 - 1, f) : 0;
	fclose(f);
	if (buf == NULL || n == 0) {
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* ---- deadlines --------------------------------------------------------------------------- */

static void sweep_cb(uv_timer_t *t)
{
	struct http *h = t->data;
	uint64_t now = uv_now(h->loop);

	for (struct http_req *r = h->reqs; r != NULL; r = r->next) {
		if (r->state != REQ_HANDLING || now < r->deadline_ms)
			continue;
		h->counters.deadlines++;
		http_respond_error(r, 504, "TIMEOUT",
				   "no answer within the request's deadline: the outcome of a write is "
				   "unknown; retry with the same Idempotency-Key",
				   NULL);
	}
}

/* ---- server life ------------------------------------------------------------------------- */

static void lws_log_cb(int level, const char *line)
{
	char msg[256];
	size_t n;
	snprintf(msg, sizeof msg, "%s", line);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	LOG_RATELIMITED(level == LLL_ERR ? LOG_ERROR : LOG_WARN, "http: lws: %s", msg);
}

struct http *http_new(uv_loop_t *loop)
{
	struct http *h = calloc(1, sizeof *h);
	if (h == NULL)
		return NULL;
	h->loop = loop;
	h->protocols[0].name = "callraft-http";
	h->protocols[0].callback = http_cb;
	h->protocols[0].per_session_data_size = sizeof(struct pss);
	h->protocols[0].rx_buffer_size = 0;
	return h;
}

int http_route_add(struct http *h, unsigned methods, const char *path_prefix, http_handler_fn fn,
		   void *data)
{
	struct http_route *rt;
	if (h->ctx != NULL || h->n_routes == CALLRAFT_HTTP_ROUTES_MAX || path_prefix[0] != '/' ||
	    strlen(path_prefix) > CALLRAFT_HTTP_PATH_BYTES_MAX || methods == 0 || fn == NULL)
		return -1;
	rt = &h->routes[h->n_routes++];
	rt->methods = methods;
	snprintf(rt->prefix, sizeof rt->prefix, "%s", path_prefix);
	rt->prefix_len = strlen(rt->prefix);
	rt->fn = fn;
	rt->data = data;
	return 0;
}

int http_ws_add(struct http *h, const char *path, const struct lws_protocols *proto)
{
	unsigned i = h->n_ws;
	struct lws_http_mount *m;

	if (h->ctx != NULL || i == CALLRAFT_HTTP_WS_PROTOCOLS_MAX || path[0] != '/' ||
	    strlen(path) >= HTTP_WS_PATH_BYTES_MAX)
		return -1;
	h->protocols[1 + i] = *proto;
	snprintf(h->ws_paths[i], sizeof h->ws_paths[i], "%s", path);
	m = &h->mounts[i];
	memset(m, 0, sizeof *m);
	m->mountpoint = h->ws_paths[i];
	m->mountpoint_len = (unsigned char)strlen(h->ws_paths[i]);
	m->origin = proto->name;
	m->origin_protocol = LWSMPRO_CALLBACK;
	if (i > 0)
		h->mounts[i - 1].mount_next = m;
	h->n_ws++;
	return 0;
}

/* lws binds an interface name or an IP literal, not a host name ("localhost" gave "iface ... DOESN'T
 * EXIST" and the node did not start): a name is resolved here to the first address getaddrinfo
 * gives, as the binary listener does (conn.c). A host that does not resolve is left as it is (lws
 * may know it as an interface name). */
static void iface_numeric(char *host, size_t len)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
	unsigned char addr[sizeof(struct in6_addr)];
	char numeric[INET6_ADDRSTRLEN];

	if (host[0] == '\0' || inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1 || getaddrinfo(host, NULL, &hints, &res) != 0)
		return;
	if (getnameinfo(res->ai_addr, res->ai_addrlen, numeric, sizeof numeric, NULL, 0,
			NI_NUMERICHOST) == 0 && strlen(numeric) < len)
		memcpy(host, numeric, strlen(numeric) + 1);
	freeaddrinfo(res);
}

/* The listener: every option of the vhost comes from here (and, with TLS, its certificates). */
static struct lws_vhost *vhost_create(struct http *h, const struct config *cfg, char *errmsg,
				      size_t errmsg_len)
{
	struct lws_context_creation_info info;
	char host[CALLRAFT_ADDRESS_BYTES_MAX + 1];
	const char *colon = strrchr(cfg->http_address, ':');
	struct lws_vhost *vh;
	struct in_addr v4;
	size_t hl;

	/* "[v6]:port" as well as "v4:port", "name:port" and ":port" (every interface). */
	if (colon == NULL || (hl = (size_t)(colon - cfg->http_address)) >= sizeof host) {
		snprintf(errmsg, errmsg_len, "http: address '%s': expected host:port", cfg->http_address);
		return NULL;
	}
	if (hl == 0 || tls_address_host(cfg->http_address, host, sizeof host) != 0)
		host[0] = '\0';
	iface_numeric(host, sizeof host);
	memset(&info, 0, sizeof info);
	info.vhost_name = "callraft";
	info.port = atoi(colon + 1);
	/* lws takes an interface name or an IP literal; "0.0.0.0" or "" listens on every one. */
	info.iface = strcmp(host, "0.0.0.0") == 0 || host[0] == '\0' ? NULL : host;
	info.protocols = h->protocols;
	info.mounts = h->n_ws > 0 ? &h->mounts[0] : NULL;
	info.keepalive_timeout = CALLRAFT_HTTP_IDLE_TIMEOUT_S;
	info.timeout_secs = CALLRAFT_HTTP_RECEIVE_TIMEOUT_S;
	info.timeout_secs_ah_idle = CALLRAFT_HTTP_RECEIVE_TIMEOUT_S;
	info.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND | LWS_SERVER_OPTION_VALIDATE_UTF8;
	/* With IPv6 on, lws 4.1.6 binds an IPv6 socket to every address whatever iface says ("*:port"
	 * for "10.1.0.12"): an IPv4 literal must turn IPv6 off for this vhost, or the listener is
	 * open on every interface and two nodes of one machine (a site of the lab) collide on the
	 * port. */
	if (info.iface != NULL && inet_pton(AF_INET, info.iface, &v4) == 1)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	if (!cfg->insecure) {
		/* The node's own certificate and the cluster CA, as on the binary port: a client must
		 * present a certificate the CA signed (docs/security.md); its roles come from it. */
		info.ssl_cert_filepath = cfg->tls_cert;
		info.ssl_private_key_filepath = cfg->tls_key;
		info.ssl_ca_filepath = cfg->tls_ca;
		info.ssl_options_set = SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_TLSv1_2;
		info.options |= LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT;
		/* HTTP/1.1 only: over TLS curl and browsers would pick h2, where custom headers
		 * (Idempotency-Key) are not read yet (NEEDSWORK: h2 header access, then "h2,http/1.1"). */
		info.alpn = "http/1.1";
	}
	vh = lws_create_vhost(h->ctx, &info);
	if (vh == NULL)
		snprintf(errmsg, errmsg_len, "http: listen on '%s': cannot bind (in use, or not an "
			 "address of this machine)", cfg->http_address);
	return vh;
}

int http_start(struct http *h, const struct config *cfg, char *errmsg, size_t errmsg_len)
{
	struct lws_context_creation_info info;
	void *loops[1] = {h->loop};

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_cb);
	memset(&info, 0, sizeof info);
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	if (!cfg->insecure)
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	h->tls = !cfg->insecure;
	info.foreign_loops = loops;
	info.pcontext = &h->ctx; /* lws sets it to NULL once the context is gone */
	info.user = h;
	info.max_http_header_data = CALLRAFT_HTTP_HEADER_BYTES_MAX;
	info.max_http_header_pool = CALLRAFT_HTTP_HEADER_POOL_MAX;
	/* The listener, the cancel pipe and a few internal descriptors come on top. */
	info.fd_limit_per_thread = CALLRAFT_HTTP_CONNECTIONS_MAX + 16;
	info.pt_serv_buf_size = 32 * 1024;
	h->protocols[1 + h->n_ws] = (struct lws_protocols){0};
	h->ctx = lws_create_context(&info);
	if (h->ctx == NULL) {
		snprintf(errmsg, errmsg_len, "http: cannot create the libwebsockets context (is "
			 "libwebsockets-evlib-uv installed?)");
		return -1;
	}
	h->vhost = vhost_create(h, cfg, errmsg, errmsg_len);
	if (h->vhost == NULL)
		return -1;
	uv_timer_init(h->loop, &h->sweep);
	h->sweep.data = h;
	uv_timer_start(&h->sweep, sweep_cb, CALLRAFT_HTTP_SWEEP_MS, CALLRAFT_HTTP_SWEEP_MS);
	h->sweep_open = true;
	return 0;
}

void http_stop(struct http *h)
{
	if (h == NULL || h->stopping)
		return;
	h->stopping = true;
	if (h->sweep_open) {
		uv_timer_stop(&h->sweep);
		uv_close((uv_handle_t *)&h->sweep, NULL);
	}
	while (h->reqs != NULL)
		req_done(h->reqs);
	if (h->ctx != NULL)
		lws_context_destroy(h->ctx); /* closes its handles through the loop */
}

/* The bearer token of a request: the Authorization header's, or a GET's access_token argument. */
static int bearer_of(struct http_req *r, char *buf, size_t len)
{
	char hdr[16 + TOKEN_STRING_BYTES + 2];
	int n = r->wsi != NULL ? lws_hdr_copy(r->wsi, hdr, sizeof hdr, WSI_TOKEN_HTTP_AUTHORIZATION)
			       : -1;

	if (n > 0) {
		if (strncasecmp(hdr, "Bearer ", 7) != 0 || (size_t)n - 7 >= len)
			return -1;
		memcpy(buf, hdr + 7, (size_t)n - 7 + 1);
		return 0;
	}
	/* lws copies "name=value" into the buffer before it strips the name: room for both. */
	char q[32 + TOKEN_STRING_BYTES + 2];
	n = r->method == HTTP_GET ? http_req_query(r, "access_token", q, sizeof q) : -1;
	if (n <= 0 || (size_t)n >= len)
		return -1;
	memcpy(buf, q, (size_t)n + 1);
	return 0;
}

int http_req_authenticate(struct http_req *r, struct tls_identity *id, char *why, size_t why_len)
{
	/* An HTTP/2 stream's SSL is its network connection's (curl negotiates h2 over TLS). */
	SSL *ssl = r->wsi != NULL ? lws_get_ssl(lws_get_network_wsi(r->wsi)) : NULL;
	char token[TOKEN_STRING_BYTES + 2];
	X509 *cert;

	memset(id, 0, sizeof *id);
	if (ssl == NULL) {
		snprintf(why, why_len, "no TLS on this listener");
		return -1;
	}
	cert = SSL_get0_peer_certificate(ssl);
	if (cert != NULL) {
		/* A certificate was verified in the handshake (others are refused there). */
		if (tls_identity_from_ssl(ssl, id) == 0)
			return 0;
		snprintf(why, why_len, "client certificate malformed (callraft: URIs)");
		return -1;
	}
	if (bearer_of(r, token, sizeof token) != 0) {
		snprintf(why, why_len, "a client certificate or a bearer token is required "
				       "(Authorization: Bearer crt_...)");
		return -1;
	}
	if (r->h->auth == NULL) {
		snprintf(why, why_len, "bearer tokens are not accepted here");
		return -1;
	}
	return r->h->auth(r->h->auth_data, token, id, why, why_len);
}

int http_req_identity(struct http_req *r, struct tls_identity *id)
{
	char why[200];
	return http_req_authenticate(r, id, why, sizeof why);
}

void http_set_authenticator(struct http *h, http_auth_fn fn, void *data)
{
	h->auth = fn;
	h->auth_data = data;
}

int http_route_set_public(struct http *h, const char *path_prefix)
{
	for (unsigned i = 0; i < h->n_routes; i++) {
		if (strcmp(h->routes[i].prefix, path_prefix) == 0) {
			h->routes[i].public = true;
			return 0;
		}
	}
	return -1;
}

int http_tls_reload(struct http *h, const struct config *cfg, char *errmsg, size_t errmsg_len)
{
	char *cert = NULL, *key = NULL;
	size_t cert_len = 0, key_len = 0;
	int rv = -1;
	if (h == NULL || h->ctx == NULL || cfg->insecure)
		return 0;
	if (read_file(cfg->tls_cert, &cert, &cert_len) != 0 || read_file(cfg->tls_key, &key, &key_len) != 0) {
		snprintf(errmsg, errmsg_len, "http: cannot read '%s' or '%s'", cfg->tls_cert, cfg->tls_key);
		goto out;
	}
	if (lws_tls_cert_updated(h->ctx, cfg->tls_cert, cfg->tls_key, cert, cert_len, key, key_len) != 0) {
		snprintf(errmsg, errmsg_len, "http: libwebsockets refused the new certificate");
		goto out;
	}
	rv = 0;
out:
	free(cert);
	free(key);
	return rv;
}

void http_free(struct http *h)
{
	if (h == NULL)
		return;
	/* With a foreign loop, libwebsockets 4.1 closes its handles through the loop after the first
	 * lws_context_destroy, and frees the context itself only when called again once they are
	 * closed (h->ctx is still set until then: info.pcontext). */
	if (h->ctx != NULL)
		lws_context_destroy(h->ctx);
	free(h);
}
