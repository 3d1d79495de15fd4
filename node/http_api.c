/* http_api.c: the request/response API under /v1/: every operation of the CLI, as JSON.
 *
 * A request becomes the same Callraft__Request the binary protocol carries and enters the same
 * path (node_handle_request: validation, batching into one Raft entry per loop turn, forwarding by a
 * follower to the leader, read barriers) through a virtual conn (node_internal.h, struct
 * conn_sink) whose replies come back here. The JSON of a request and of a reply is the proto's own
 * (http_json.h): the body of POST /v1/calls is a CallEnqueue, the answer is the Reply.
 *
 *   route table -> path parameters, query arguments (GET) and the JSON body (writes) fill the
 *   operation's message -> Request {op, stale (?stale=true), idempotency_key (header)} ->
 *   node_handle_request -> Reply -> HTTP status from the reply's code, body = the Reply as JSON.
 *
 * Exactly once: a write must carry an Idempotency-Key header; it travels in the Request to the
 * leader and into the log, where apply stores the first reply under the key (state/idem.c), so a
 * retry with the same key, to any node, after any failover, gets that reply and changes nothing.
 *
 * Status codes: OK 200; NOT_FOUND, QUEUE_EMPTY, UNKNOWN_OPERATION 404; ALREADY_EXISTS, BAD_STATE,
 * STALE_TOKEN, SESSION_UNKNOWN, SEQ_TOO_OLD 409; IDEMPOTENCY_KEY_REUSED 422; COMPACTED 410; INVALID_ARGUMENT,
 * BAD_FRAME, BAD_VERSION 400; NOT_LEADER, NO_LEADER, UNAVAILABLE, OUTCOME_UNKNOWN, MEMBERSHIP_BUSY
 * 503 with Retry-After; TIMEOUT 504; INTERNAL 500. The body always carries the code's name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callraft_ops.h"
#include "http_json.h"
#include "http_routes.h"
#include "log.h"
#include "node_internal.h"
#include "token.h"

/* Path parameters per route ("/v1/calls/{call_id}/answer" has one). */
#define API_PARAMS_MAX 2
#define API_SEGMENTS_MAX 8

struct api_route {
	enum http_method method;
	const char *pattern; /* literal segments and "{field}" */
	const char *op;      /* the Request's oneof field */
	const char *list;    /* a list reply's repeated field: present ([]) even when empty */
};

/* Literal routes come before parameterised ones that could match the same path
 * ("/v1/calls/next" before "/v1/calls/{call_id}"): the first match wins. */
static const struct api_route api_routes[] = {
	{HTTP_GET, "/v1/status", "status", NULL},
	{HTTP_GET, "/v1/members", "members_list", "members"},
	{HTTP_POST, "/v1/members", "member_add", NULL},
	{HTTP_POST, "/v1/members/transfer", "leader_transfer", NULL},
	{HTTP_DELETE, "/v1/members/{id}", "member_remove", NULL},
	{HTTP_POST, "/v1/members/{id}/assign", "member_assign", NULL},
	{HTTP_POST, "/v1/snapshot", "snapshot_take", NULL},
	{HTTP_GET, "/v1/rules", "rules_show", "members"},
	{HTTP_POST, "/v1/rules/upgrade", "rules_upgrade", NULL},

	{HTTP_POST, "/v1/calls", "call_enqueue", NULL},
	{HTTP_POST, "/v1/calls/next", "call_next", NULL},
	{HTTP_GET, "/v1/calls/{call_id}", "call_show", NULL},
	{HTTP_POST, "/v1/calls/{call_id}/answer", "call_answer", NULL},
	{HTTP_POST, "/v1/calls/{call_id}/reject", "call_reject", NULL},
	{HTTP_POST, "/v1/calls/{call_id}/end", "call_end", NULL},
	{HTTP_POST, "/v1/calls/{call_id}/abandon", "call_abandon", NULL},
	{HTTP_POST, "/v1/calls/{call_id}/callback", "callback_request", NULL},
	{HTTP_POST, "/v1/calls/{call_id}/dial", "call_dial_attempt", NULL},

	{HTTP_GET, "/v1/agents", "agent_list", "agents"},
	{HTTP_GET, "/v1/agents/{agent_id}", "agent_show", NULL},
	{HTTP_POST, "/v1/agents/{agent_id}/login", "agent_login", NULL},
	{HTTP_POST, "/v1/agents/{agent_id}/state", "agent_set_state", NULL},
	{HTTP_POST, "/v1/agents/{agent_id}/logout", "agent_logout", NULL},
	{HTTP_POST, "/v1/agents/{agent_id}/heartbeat", "agent_heartbeat", NULL},

	{HTTP_POST, "/v1/callbacks/schedule", "callback_schedule", NULL},
	{HTTP_POST, "/v1/callbacks/voicemail", "callback_voicemail", NULL},

	{HTTP_GET, "/v1/ticket-classes", "ticket_class_show", "ticket_classes"},
	{HTTP_POST, "/v1/ticket-classes/{ticket_class}", "ticket_class_configure", NULL},
	{HTTP_GET, "/v1/tickets-due", "ticket_due_list", "tickets"},
	{HTTP_GET, "/v1/tickets", "ticket_list", "tickets"},
	{HTTP_POST, "/v1/tickets", "ticket_open", NULL},
	{HTTP_GET, "/v1/tickets/{code}", "ticket_show", NULL},
	{HTTP_POST, "/v1/tickets/{code}/update", "ticket_update", NULL},

	{HTTP_GET, "/v1/customers/{customer_id}", "customer_show", NULL},
	{HTTP_POST, "/v1/customers/{customer_id}", "customer_set", NULL},
	{HTTP_GET, "/v1/customers/{customer_id}/history", "customer_history", "history"},

	{HTTP_GET, "/v1/campaigns", "campaign_list", "campaigns"},
	{HTTP_POST, "/v1/campaigns/{campaign_id}", "campaign_create", NULL},
	{HTTP_GET, "/v1/campaigns/{campaign_id}", "campaign_show", "calls"},
	{HTTP_POST, "/v1/campaigns/{campaign_id}/targets", "campaign_add", NULL},
	{HTTP_POST, "/v1/campaigns/{campaign_id}/pause", "campaign_pause", NULL},
	{HTTP_DELETE, "/v1/campaigns/{campaign_id}", "campaign_delete", NULL},

	{HTTP_GET, "/v1/queues/{queue}", "queue_show", "calls"},
	{HTTP_POST, "/v1/queues/{queue}/configure", "queue_configure", NULL},

	{HTTP_GET, "/v1/sites", "site_list", "sites"},
	{HTTP_GET, "/v1/tokens", "token_list", "tokens"},
	{HTTP_POST, "/v1/tokens", "token_issue", NULL},
	{HTTP_DELETE, "/v1/tokens/{id}", "token_revoke", NULL},
	{HTTP_POST, "/v1/sites/{site}/configure", "site_configure", NULL},
	{HTTP_POST, "/v1/sites/{site}/down", "site_down", NULL},
	{HTTP_POST, "/v1/sites/{site}/up", "site_up", NULL},
	{HTTP_POST, "/v1/sites/{site}/heartbeat", "site_heartbeat", NULL},

	{HTTP_GET, "/v1/stats", "stats_get", "stats"},
};

#define API_ROUTES_COUNT (sizeof api_routes / sizeof api_routes[0])

/* One HTTP request in the node's request path. */
struct api_call {
	struct conn conn;        /* first: the sink gets &conn */
	struct http_req *req;    /* NULL once the HTTP side is done */
	const struct api_route *route;
	bool replied;
	char bearer[TOKEN_STRING_BYTES + 1]; /* POST /v1/tokens: the token drawn here, shown once */
};

/* ---- replies ----------------------------------------------------------------------------- */

static int status_of(Callraft__Code code)
{
	switch (code) {
	case CALLRAFT__CODE__OK:
		return 200;
	case CALLRAFT__CODE__NOT_FOUND:
	case CALLRAFT__CODE__QUEUE_EMPTY:
	case CALLRAFT__CODE__UNKNOWN_OPERATION:
		return 404;
	case CALLRAFT__CODE__ALREADY_EXISTS:
	case CALLRAFT__CODE__BAD_STATE:
	case CALLRAFT__CODE__STALE_TOKEN:
	case CALLRAFT__CODE__SESSION_UNKNOWN:
	case CALLRAFT__CODE__SEQ_TOO_OLD:
		return 409;
	case CALLRAFT__CODE__IDEMPOTENCY_KEY_REUSED:
		return 422;
	case CALLRAFT__CODE__COMPACTED:
		return 410;
	case CALLRAFT__CODE__PERMISSION_DENIED:
		return 403;
	case CALLRAFT__CODE__INVALID_ARGUMENT:
	case CALLRAFT__CODE__BAD_FRAME:
	case CALLRAFT__CODE__BAD_VERSION:
		return 400;
	case CALLRAFT__CODE__NOT_LEADER:
	case CALLRAFT__CODE__NO_LEADER:
	case CALLRAFT__CODE__UNAVAILABLE:
	case CALLRAFT__CODE__OUTCOME_UNKNOWN:
	case CALLRAFT__CODE__MEMBERSHIP_BUSY:
		return 503;
	case CALLRAFT__CODE__TIMEOUT:
		return 504;
	default:
		return 500;
	}
}

static const char *code_name(Callraft__Code code)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&callraft__code__descriptor, code);
	return v != NULL ? v->name : "INTERNAL";
}

/* A reply of the node path, for this HTTP request. */
static void api_reply(struct conn *c, const uint8_t *bytes, size_t len, uint64_t request_id)
{
	struct api_call *ac = (struct api_call *)c;
	Callraft__Reply *reply;
	json_object *o, *out;
	int status;

	(void)request_id;
	if (ac->req == NULL || ac->replied)
		return;
	ac->replied = true;
	reply = callraft__reply__unpack(NULL, len, bytes);
	if (reply == NULL) {
		http_respond_error(ac->req, 500, "INTERNAL", "the node's reply does not decode", NULL);
		return;
	}
	status = status_of(reply->code);
	o = http_json_from_message(&reply->base, true);
	if (o == NULL) {
		callraft__reply__free_unpacked(reply, NULL);
		http_respond_error(ac->req, 500, "INTERNAL", "out of memory", NULL);
		return;
	}
	json_object_object_del(o, "request_id");
	json_object_object_del(o, "code");
	/* The shared path speaks of sessions; over HTTP the retry token is the key. */
	if (reply->message != NULL) {
		const char *seq = strstr(reply->message, "the same seq");
		if (seq != NULL && seq[strlen("the same seq")] == '\0') {
			char msg[600];
			snprintf(msg, sizeof msg, "%.*sthe same Idempotency-Key",
				 (int)(seq - reply->message), reply->message);
			json_object_object_add(o, "message", json_object_new_string(msg));
		}
	}
	if (reply->code == CALLRAFT__CODE__OK && ac->route->list != NULL &&
	    !json_object_object_get_ex(o, ac->route->list, NULL))
		json_object_object_add(o, ac->route->list, json_object_new_array());
	/* "code" comes first: a dialplan can test the answer's first bytes ({"code":"OK"). */
	out = json_object_new_object();
	json_object_object_add(out, "code", json_object_new_string(code_name(reply->code)));
	json_object_object_foreach(o, key, val)
		json_object_object_add(out, key, json_object_get(val));
	if (reply->code == CALLRAFT__CODE__OK && ac->bearer[0] != '\0')
		json_object_object_add(out, "bearer", json_object_new_string(ac->bearer));
	json_object_put(o);
	http_respond_json(ac->req, status, out, status == 503 ? "Retry-After: 1\r\n" : NULL);
	callraft__reply__free_unpacked(reply, NULL);
}

static void api_release(struct conn *c)
{
	free((struct api_call *)c);
}

static const struct conn_sink api_sink = {.reply = api_reply, .release = api_release};

/* The HTTP side is done (answer sent, client gone, or server stopping). */
static void api_done(struct http_req *r, void *data)
{
	struct api_call *ac = data;
	(void)r;
	ac->req = NULL;
	conn_close(&ac->conn); /* later replies are dropped; freed once the node lets go */
	conn_unref(&ac->conn);
}

/* POST /v1/tokens: this node draws the token and sends only its hash on (tls/token.h); the token
 * itself goes back in the answer ("bearer") and nowhere else. A retry gets a new token, so the
 * same Idempotency-Key is refused (IDEMPOTENCY_KEY_REUSED): issue again with a new key. */
static int token_draw(struct api_call *ac, Callraft__Request *req)
{
	uint8_t *hash = malloc(TOKEN_HASH_BYTES);

	if (hash == NULL || token_new(ac->bearer, hash) != 0) {
		free(hash);
		return -1;
	}
	free(req->token_issue->hash.data);
	req->token_issue->hash.data = hash;
	req->token_issue->hash.len = TOKEN_HASH_BYTES;
	return 0;
}

/* ---- requests ---------------------------------------------------------------------------- */

/* Matches `path` against a route's pattern; fills names/values of its parameters. */
static bool route_match(const char *pattern, const char *path, const char **names, size_t *name_lens,
			char values[][CALLRAFT_HTTP_PATH_BYTES_MAX + 1], unsigned *n_params)
{
	*n_params = 0;
	while (*pattern != '\0' && *path != '\0') {
		const char *pe, *se;
		if (*pattern != '/' || *path != '/')
			return false;
		pattern++;
		path++;
		pe = strchr(pattern, '/');
		se = strchr(path, '/');
		size_t pl = pe ? (size_t)(pe - pattern) : strlen(pattern);
		size_t sl = se ? (size_t)(se - path) : strlen(path);
		if (pattern[0] == '{') {
			if (sl == 0 || *n_params == API_PARAMS_MAX)
				return false;
			names[*n_params] = pattern + 1;
			name_lens[*n_params] = pl - 2;
			memcpy(values[*n_params], path, sl);
			values[*n_params][sl] = '\0';
			(*n_params)++;
		} else if (pl != sl || strncmp(pattern, path, pl) != 0) {
			return false;
		}
		pattern += pl;
		path += sl;
	}
	/* A trailing slash is forgiven: "/v1/calls/" is "/v1/calls". */
	return *pattern == '\0' && (*path == '\0' || (path[0] == '/' && path[1] == '\0'));
}

static int hex_digit(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes [p, p + n) into out (NUL-terminated; '+' is a space). -1 if malformed. */
static int form_decode(const char *p, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)p[i];
		if (c == '%') {
			if (i + 2 >= n || hex_digit(p[i + 1]) < 0 || hex_digit(p[i + 2]) < 0)
				return -1;
			c = hex_digit(p[i + 1]) * 16 + hex_digit(p[i + 2]);
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (c == 0 || o + 1 >= cap)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* A form body (key=value&...; what Asterisk's CURL() and FreeSWITCH's mod_curl post): values are
 * typed by the operation's fields; a repeated field takes a comma-separated list. */
static json_object *form_parse(const char *body, size_t len, const ProtobufCMessageDescriptor *d,
			       char *err, size_t err_len)
{
	json_object *o = json_object_new_object();
	size_t i = 0;

	while (o != NULL && i < len) {
		const char *pair = body + i, *amp = memchr(pair, '&', len - i), *eq;
		size_t plen = amp ? (size_t)(amp - pair) : len - i;
		char key[64], value[CALLRAFT_HTTP_BODY_BYTES_MAX < 4096 ? CALLRAFT_HTTP_BODY_BYTES_MAX : 4096];
		const ProtobufCFieldDescriptor *f;
		json_object *v;

		i += plen + 1;
		if (plen == 0)
			continue;
		eq = memchr(pair, '=', plen);
		if (eq == NULL || form_decode(pair, (size_t)(eq - pair), key, sizeof key) != 0 ||
		    form_decode(eq + 1, plen - (size_t)(eq - pair) - 1, value, sizeof value) != 0) {
			snprintf(err, err_len, "body is neither a JSON object nor a form (key=value&...): "
				 "byte %zu", (size_t)(pair - body));
			goto err;
		}
		f = protobuf_c_message_descriptor_get_field_by_name(d, key);
		if (f == NULL) {
			snprintf(err, err_len, "field '%s': unknown field", key);
			goto err;
		}
		if (json_object_object_get_ex(o, key, NULL)) {
			snprintf(err, err_len, "field '%s': given twice", key);
			goto err;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			char *save = NULL;
			v = json_object_new_array();
			for (char *t = strtok_r(value, ",", &save); t != NULL && v != NULL;
			     t = strtok_r(NULL, ",", &save)) {
				json_object *e = http_json_from_text(f, t, err, err_len);
				if (e == NULL) {
					json_object_put(v);
					goto err;
				}
				json_object_array_add(v, e);
			}
		} else {
			v = http_json_from_text(f, value, err, err_len);
		}
		if (v == NULL)
			goto err;
		json_object_object_add(o, key, v);
	}
	return o;
err:
	json_object_put(o);
	return NULL;
}

/* Parses the body: one JSON object (nothing after it) when it starts with '{' or '[', else a form.
 * Returns NULL with a message. */
static json_object *body_parse(struct http_req *r, const ProtobufCMessageDescriptor *d, char *err,
			       size_t err_len)
{
	size_t len, first = 0;
	const uint8_t *body = http_req_body(r, &len);
	struct json_tokener *tok;
	json_object *o;
	size_t end;

	if (body == NULL)
		return json_object_new_object();
	while (first < len && (body[first] == ' ' || body[first] == '\n' || body[first] == '\r' ||
			       body[first] == '\t'))
		first++;
	if (first < len && body[first] != '{' && body[first] != '[' && body[first] != '"')
		return form_parse((const char *)body, len, d, err, err_len);
	tok = json_tokener_new_ex(16);
	if (tok == NULL) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, (const char *)body, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (o == NULL) {
		enum json_tokener_error e = json_tokener_get_error(tok);
		snprintf(err, err_len, "body is not valid JSON: %s at byte %zu",
			 e == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(e), end);
	} else {
		while (end < len && (body[end] == ' ' || body[end] == '\n' || body[end] == '\r' ||
				     body[end] == '\t'))
			end++;
		if (end != len) {
			snprintf(err, err_len, "body is not valid JSON: trailing data at byte %zu", end);
			json_object_put(o);
			o = NULL;
		} else if (!json_object_is_type(o, json_type_object)) {
			snprintf(err, err_len, "the body must be a JSON object");
			json_object_put(o);
			o = NULL;
		}
	}
	json_tokener_free(tok);
	return o;
}

/* Adds path parameters and (for reads) query arguments to `in`, typed by the op's fields. */
static int add_params(struct http_req *r, const ProtobufCMessageDescriptor *d, json_object *in,
		      const char **names, const size_t *name_lens,
		      char values[][CALLRAFT_HTTP_PATH_BYTES_MAX + 1], unsigned n_params, bool query,
		      char *err, size_t err_len)
{
	for (unsigned i = 0; i < n_params; i++) {
		char name[64];
		const ProtobufCFieldDescriptor *f;
		json_object *v, *old;
		snprintf(name, sizeof name, "%.*s", (int)name_lens[i], names[i]);
		f = protobuf_c_message_descriptor_get_field_by_name(d, name);
		if (f == NULL) /* a route naming a field its op lacks: a bug in the table */
			return snprintf(err, err_len, "route parameter '%s' is not a field", name), -1;
		v = http_json_from_text(f, values[i], err, err_len);
		if (v == NULL)
			return -1;
		if (json_object_object_get_ex(in, name, &old) &&
		    !json_object_equal(old, v)) {
			json_object_put(v);
			return snprintf(err, err_len, "field '%s': the body says otherwise than the path",
					name), -1;
		}
		json_object_object_add(in, name, v);
	}
	if (!query)
		return 0;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char value[CALLRAFT_HTTP_PATH_BYTES_MAX + 1];
		json_object *v;
		if (f->label == PROTOBUF_C_LABEL_REPEATED ||
		    http_req_query(r, f->name, value, sizeof value) < 0)
			continue;
		v = http_json_from_text(f, value, err, err_len);
		if (v == NULL)
			return -1;
		json_object_object_add(in, f->name, v);
	}
	return 0;
}

/* Sets the Request's oneof operation `op` to `m` (taking it). */
static int request_set_op(Callraft__Request *req, const char *op, ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(&callraft__request__descriptor, op);
	if (f == NULL || !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		return -1;
	*(ProtobufCMessage **)((char *)req + f->offset) = m;
	*(uint32_t *)((char *)req + f->quantifier_offset) = f->id;
	return 0;
}

static bool key_valid(const char *k, size_t n)
{
	if (n == 0 || n > CALLRAFT_IDEMPOTENCY_KEY_BYTES_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (k[i] <= ' ' || k[i] > '~')
			return false;
	return true;
}

/* Reads ?stale, ?timeout_ms and Idempotency-Key into req. Returns -1 after answering 400. */
static int request_options(struct http_req *r, Callraft__Request *req)
{
	char v[CALLRAFT_IDEMPOTENCY_KEY_BYTES_MAX + 2];
	char msg[200];
	int n;

	if (http_req_query(r, "stale", v, sizeof v) >= 0) {
		if (strcmp(v, "true") && strcmp(v, "false") && strcmp(v, "1") && strcmp(v, "0"))
			return http_respond_error(r, 400, "INVALID_ARGUMENT",
						  "stale: expected true or false", NULL), -1;
		req->stale = !strcmp(v, "true") || !strcmp(v, "1");
	}
	if (http_req_query(r, "timeout_ms", v, sizeof v) >= 0) {
		char *end;
		unsigned long long ms = strtoull(v, &end, 10);
		if (v[0] < '0' || v[0] > '9' || *end != '\0' || ms < CALLRAFT_HTTP_DEADLINE_MS_MIN ||
		    ms > CALLRAFT_HTTP_DEADLINE_MS_MAX) {
			snprintf(msg, sizeof msg, "timeout_ms: expected %d to %d", CALLRAFT_HTTP_DEADLINE_MS_MIN,
				 CALLRAFT_HTTP_DEADLINE_MS_MAX);
			return http_respond_error(r, 400, "INVALID_ARGUMENT", msg, NULL), -1;
		}
		http_req_set_deadline_in(r, ms);
	}
	n = http_req_header(r, "Idempotency-Key", v, sizeof v);
	if (n >= 0 && !key_valid(v, (size_t)n)) {
		snprintf(msg, sizeof msg, "Idempotency-Key: 1 to %d printable characters, no spaces",
			 CALLRAFT_IDEMPOTENCY_KEY_BYTES_MAX);
		return http_respond_error(r, 400, "INVALID_ARGUMENT", msg, NULL), -1;
	}
	/* ?idempotency_key=: the same key for clients that cannot add a header on a kept-alive
	 * connection (Kamailio's http_connect, docs/telephony.md). Both given: they must agree. */
	{
		char q[CALLRAFT_IDEMPOTENCY_KEY_BYTES_MAX + 2];
		int qn = http_req_query(r, "idempotency_key", q, sizeof q);
		if (qn >= 0 && !key_valid(q, (size_t)qn)) {
			snprintf(msg, sizeof msg,
				 "idempotency_key: 1 to %d printable characters, no spaces",
				 CALLRAFT_IDEMPOTENCY_KEY_BYTES_MAX);
			return http_respond_error(r, 400, "INVALID_ARGUMENT", msg, NULL), -1;
		}
		if (qn >= 0 && n >= 0 && strcmp(q, v))
			return http_respond_error(r, 400, "INVALID_ARGUMENT",
						  "Idempotency-Key and ?idempotency_key differ", NULL),
			       -1;
		if (qn >= 0 && n < 0) {
			memcpy(v, q, (size_t)qn + 1);
			n = qn;
		}
	}
	if (callraft_op_is_write(req->op_case)) {
		if (n < 0)
			return http_respond_error(r, 400, "INVALID_ARGUMENT",
						  "writes need an Idempotency-Key header or ?idempotency_key= "
						  "(one unique value per logical operation, the same on every "
						  "retry)",
						  NULL), -1;
		req->idempotency_key = strdup(v);
		if (req->idempotency_key == NULL)
			return http_respond_error(r, 503, "UNAVAILABLE", "out of memory", NULL), -1;
	}
	return 0;
}

/* Builds the Request for route `rt`. Returns NULL after answering the error. */
static Callraft__Request *request_build(struct http_req *r, const struct api_route *rt,
					const char **names, const size_t *name_lens,
					char values[][CALLRAFT_HTTP_PATH_BYTES_MAX + 1],
					unsigned n_params)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(&callraft__request__descriptor, rt->op);
	const ProtobufCMessageDescriptor *d = f->descriptor;
	char err[300];
	json_object *in;
	ProtobufCMessage *m;
	Callraft__Request *req;

	in = rt->method == HTTP_GET ? json_object_new_object() : body_parse(r, d, err, sizeof err);
	if (in == NULL) {
		http_respond_error(r, 400, "INVALID_ARGUMENT", err, NULL);
		return NULL;
	}
	if (add_params(r, d, in, names, name_lens, values, n_params, rt->method == HTTP_GET, err,
		       sizeof err) != 0) {
		json_object_put(in);
		http_respond_error(r, 400, "INVALID_ARGUMENT", err, NULL);
		return NULL;
	}
	m = http_json_to_message(in, d, "", err, sizeof err);
	json_object_put(in);
	if (m == NULL) {
		http_respond_error(r, 400, "INVALID_ARGUMENT", err, NULL);
		return NULL;
	}
	req = calloc(1, sizeof *req);
	if (req == NULL) {
		protobuf_c_message_free_unpacked(m, NULL);
		http_respond_error(r, 503, "UNAVAILABLE", "out of memory", NULL);
		return NULL;
	}
	callraft__request__init(req);
	req->version = CALLRAFT_PROTOCOL_VERSION;
	req->request_id = 1;
	if (request_set_op(req, rt->op, m) != 0) {
		protobuf_c_message_free_unpacked(m, NULL);
		free(req);
		http_respond_error(r, 500, "INTERNAL", "route names no operation", NULL);
		return NULL;
	}
	if (request_options(r, req) != 0) {
		callraft__request__free_unpacked(req, NULL);
		return NULL;
	}
	return req;
}

static void api_handle(struct http_req *r, void *data)
{
	struct node *n = data;
	const char *path = http_req_path(r);
	const char *names[API_PARAMS_MAX];
	size_t name_lens[API_PARAMS_MAX];
	char values[API_PARAMS_MAX][CALLRAFT_HTTP_PATH_BYTES_MAX + 1];
	unsigned n_params = 0;
	const struct api_route *rt = NULL;
	bool path_known = false;
	Callraft__Request *req;
	struct api_call *ac;

	for (size_t i = 0; i < API_ROUTES_COUNT && rt == NULL; i++) {
		if (!route_match(api_routes[i].pattern, path, names, name_lens, values, &n_params))
			continue;
		path_known = true;
		if (api_routes[i].method == http_req_method(r))
			rt = &api_routes[i];
	}
	if (rt == NULL) {
		char msg[CALLRAFT_HTTP_PATH_BYTES_MAX + 64];
		snprintf(msg, sizeof msg, path_known ? "method not allowed on '%s'" : "no operation at '%s'",
			 path);
		http_respond_error(r, path_known ? 405 : 404, "UNKNOWN_OPERATION", msg, NULL);
		return;
	}
	req = request_build(r, rt, names, name_lens, values, n_params);
	if (req == NULL)
		return;
	ac = calloc(1, sizeof *ac);
	if (ac == NULL) {
		callraft__request__free_unpacked(req, NULL);
		http_respond_error(r, 503, "UNAVAILABLE", "out of memory", "Retry-After: 1\r\n");
		return;
	}
	conn_virtual_init(&ac->conn, n, &api_sink);
	/* With TLS, the request runs with the roles of the client's certificate (authz.h). */
	if (n->tls_ctx != NULL) {
		if (http_req_identity(r, &ac->conn.id) != 0) {
			free(ac);
			callraft__request__free_unpacked(req, NULL);
			http_respond_error(r, 403, "PERMISSION_DENIED",
					   "client certificate missing or malformed (callraft: URIs)", NULL);
			return;
		}
		ac->conn.authn = true;
	}
	if (req->op_case == CALLRAFT__REQUEST__OP_TOKEN_ISSUE && token_draw(ac, req) != 0) {
		free(ac);
		callraft__request__free_unpacked(req, NULL);
		http_respond_error(r, 503, "UNAVAILABLE", "no random bytes for a token: retry",
				   "Retry-After: 1\r\n");
		return;
	}
	conn_ref(&ac->conn); /* the HTTP side's; dropped in api_done */
	ac->req = r;
	ac->route = rt;
	http_req_on_done(r, api_done, ac);
	n->requests_total++;
	node_handle_request(n, &ac->conn, req); /* takes req */
}

int http_api_register(struct http *h, struct node *n)
{
	/* Every route names a real operation (checked once, at start). */
	for (size_t i = 0; i < API_ROUTES_COUNT; i++) {
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
			&callraft__request__descriptor, api_routes[i].op);
		if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE) {
			LOG(LOG_ERROR, "http: route '%s' names no operation '%s'", api_routes[i].pattern,
			    api_routes[i].op);
			return -1;
		}
	}
	return http_route_add(h, HTTP_GET | HTTP_POST | HTTP_PUT | HTTP_DELETE | HTTP_PATCH, "/v1/",
			      api_handle, n);
}
