/* cli_events.c: `callraft events` (the event stream of issue #14 over the binary protocol),
 * `callraft agent ready` and `callraft agent offers` (pushed offers, pulled by a long poll).
 *
 * events [--from INDEX[.POS]] [filters] [--limit N] [--follow]
 *   Reads the events from the cursor (default: from the next entry on, i.e. only new ones). Text:
 *   one line per event, "INDEX.POS KIND key=value..."; --json: one JSON object per event per line
 *   (JSON Lines), then, without --follow, {"next":"I.P","applied_index":N}. With --follow the
 *   command long-polls (EventsRead wait_ms) from the cursor of each reply until interrupted; the
 *   client library moves to another node when one fails, and the cursor makes the stream resume
 *   there with no gap and no repeat. A cursor older than retention is COMPACTED (exit 1). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "callraft_limits.h"
#include "cli.h"

/* Long poll of one EventsRead: well under the library's attempt timeout (5 s). */
#define CLI_EVENTS_WAIT_MS 2000

static const char *kind_name(Callraft__EventKind k)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(&callraft__event_kind__descriptor, (int)k);
	return v != NULL ? v->name : "?";
}

/* "call_offered" or "CALL_OFFERED" -> the kind; 0 if unknown. */
static Callraft__EventKind kind_parse(const char *s)
{
	char up[48];
	size_t n = strlen(s);

	if (n == 0 || n >= sizeof up)
		return 0;
	for (size_t i = 0; i <= n; i++)
		up[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 'a' + 'A' : s[i] == '-' ? '_' : s[i]);
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value_by_name(&callraft__event_kind__descriptor, up);
	return v != NULL ? (Callraft__EventKind)v->value : 0;
}

static json_object *event_json(const Callraft__Event *e)
{
	json_object *o = json_object_new_object();
	char id[48];

	snprintf(id, sizeof id, "%llu.%u", (unsigned long long)e->index, e->position);
	cli_json_str(o, "id", id);
	cli_json_u64(o, "index", e->index);
	cli_json_u64(o, "position", e->position);
	cli_json_i64(o, "at_ms", e->at_ms);
	cli_json_str(o, "kind", kind_name(e->kind));
#define STR(f)                                                                                     \
	if (e->f[0] != '\0')                                                                       \
		cli_json_str(o, #f, e->f);
	STR(call_id) STR(queue) STR(site) STR(agent_id) STR(customer_id) STR(ticket_code)
	STR(caller_number) STR(reason) STR(callback_number) STR(ticket_class)
#undef STR
	if (e->call_state != 0)
		cli_json_str(o, "call_state", cli_call_state_name(e->call_state));
	if (e->agent_state != 0)
		cli_json_str(o, "agent_state", cli_agent_state_name(e->agent_state));
	if (e->ticket_status != 0)
		cli_json_str(o, "ticket_status", cli_ticket_status_name(e->ticket_status));
	if (e->kind == CALLRAFT__EVENT_KIND__CALL_OFFERED) {
		char token[48];
		snprintf(token, sizeof token, "%llu.%llu", (unsigned long long)e->offer_term,
			 (unsigned long long)e->offer_index);
		cli_json_str(o, "offer_token", token);
	}
	if (e->target_ms != 0)
		cli_json_i64(o, "target_ms", e->target_ms);
	if (e->summary[0] != '\0') /* TICKET_OPENED: what an SMS gateway sends */
		cli_json_str(o, "summary", e->summary);
	if (e->tier != 0)
		cli_json_u64(o, "tier", e->tier);
	if (e->member_id != 0)
		cli_json_u64(o, "member_id", e->member_id);
	if (e->callback)
		json_object_object_add(o, "callback", json_object_new_boolean(true));
	if (e->kind == CALLRAFT__EVENT_KIND__AGENT_STATE)
		json_object_object_add(o, "ready", json_object_new_boolean(e->push));
	return o;
}

static void event_print(struct cli *cli, const Callraft__Event *e)
{
	json_object *o = event_json(e);

	if (cli->json) {
		cli_print_json(o);
	} else {
		/* The same fields as the JSON, as key=value after the id and kind. */
		printf("%llu.%u %s", (unsigned long long)e->index, e->position, kind_name(e->kind));
		json_object_object_foreach(o, key, val)
		{
			if (strcmp(key, "id") == 0 || strcmp(key, "index") == 0 ||
			    strcmp(key, "position") == 0 || strcmp(key, "kind") == 0)
				continue;
			printf(" %s=%s", key, json_object_get_string(val));
		}
		printf("\n");
		json_object_put(o);
	}
	fflush(stdout);
}

static int parse_cursor(struct cli *cli, const char *s, uint64_t *index, uint32_t *pos)
{
	char buf[48];
	char *dot;
	uint64_t p = 0;

	if (strlen(s) >= sizeof buf)
		return cli_usage_error(cli, "--from: '%s': expected INDEX or INDEX.POS", s);
	snprintf(buf, sizeof buf, "%s", s);
	dot = strchr(buf, '.');
	if (dot != NULL)
		*dot++ = '\0';
	if (cli_parse_u64(buf, index) != 0 || (dot != NULL && cli_parse_u64(dot, &p) != 0) ||
	    p > UINT32_MAX)
		return cli_usage_error(cli, "--from: '%s': expected INDEX or INDEX.POS", s);
	*pos = (uint32_t)p;
	return CLI_EXIT_OK;
}

static volatile sig_atomic_t stop_follow;

static void on_signal(int sig)
{
	(void)sig;
	stop_follow = 1;
}

/* Reads (and with follow, keeps reading) from q's cursor, printing every event. */
static int events_loop(struct cli *cli, Callraft__EventsRead *q, bool follow)
{
	struct callraft_request req;
	Callraft__Reply *reply;
	int rv;

	callraft_request_init(&req, CALLRAFT__REQUEST__OP_EVENTS_READ);
	req.req.events_read = q; /* the caller's query, updated with each reply's cursor */
	if (follow) {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		q->wait_ms = CLI_EVENTS_WAIT_MS;
	}
	do {
		if ((rv = cli_send(cli, &req.req, &reply)) != CLI_EXIT_OK)
			return rv;
		for (size_t i = 0; i < reply->n_events; i++)
			event_print(cli, reply->events[i]);
		q->from_index = reply->next_index;
		q->from_position = reply->next_position;
		if (!follow) {
			char next[48];
			snprintf(next, sizeof next, "%llu.%u", (unsigned long long)reply->next_index,
				 reply->next_position);
			if (cli->json) {
				json_object *top = json_object_new_object();
				cli_json_str(top, "next", next);
				cli_json_u64(top, "applied_index", reply->applied_index);
				cli_print_json(top);
			} else {
				fprintf(stderr, "next: --from %s\n", next);
			}
		}
		callraft__reply__free_unpacked(reply, NULL);
	} while (follow && !stop_follow);
	return CLI_EXIT_OK;
}

int cli_events(struct cli *cli, struct cli_args *a)
{
	static Callraft__EventKind kinds[32];
	Callraft__EventsRead q = CALLRAFT__EVENTS_READ__INIT;
	const char *from = cli_opt(a, "from"), *limit = cli_opt(a, "limit");
	char *kind = (char *)cli_opt(a, "kind"); /* split in place: argv is writable */
	int rv;

	q.kinds = kinds;
	if (from != NULL && (rv = parse_cursor(cli, from, &q.from_index, &q.from_position)) != 0)
		return rv;
	q.queue = (char *)(cli_opt(a, "queue") ? cli_opt(a, "queue") : "");
	q.site = (char *)(cli_opt(a, "site") ? cli_opt(a, "site") : "");
	q.agent_id = (char *)(cli_opt(a, "agent") ? cli_opt(a, "agent") : "");
	for (char *save = NULL, *s = kind ? strtok_r(kind, ",", &save) : NULL; s != NULL;
	     s = strtok_r(NULL, ",", &save)) {
		Callraft__EventKind k = kind_parse(s);
		if (k == 0)
			return cli_usage_error(cli, "--kind: '%s' is not an event kind "
						    "(e.g. call_offered, agent_state)",
					       s);
		if (q.n_kinds == sizeof kinds / sizeof kinds[0])
			return cli_usage_error(cli, "--kind: too many kinds");
		kinds[q.n_kinds++] = k;
	}
	if (limit != NULL) {
		uint64_t n;
		if (cli_parse_u64(limit, &n) != 0 || n == 0 || n > CALLRAFT_EVENTS_READ_MAX)
			return cli_usage_error(cli, "--limit: '%s': expected 1..%d", limit,
					       CALLRAFT_EVENTS_READ_MAX);
		q.limit = (uint32_t)n;
	}
	if ((q.queue[0] && (rv = cli_check_name(cli, "--queue", q.queue, CALLRAFT_QUEUE_BYTES_MAX))) ||
	    (q.site[0] && (rv = cli_check_name(cli, "--site", q.site, CALLRAFT_SITE_BYTES_MAX))) ||
	    (q.agent_id[0] && (rv = cli_check_id(cli, "--agent", q.agent_id))))
		return rv;
	return events_loop(cli, &q, cli_opt(a, "follow") != NULL);
}

/* agent ready AGENT: AVAILABLE, and offers are pushed to it (the FSM assigns calls). */
int cli_agent_ready_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	int rv = cli_check_id(cli, "agent", a->pos[0]);
	if (rv == CLI_EXIT_OK)
		callraft_request_agent_ready(r, a->pos[0]);
	return rv;
}

int cli_agent_ready_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			   const Callraft__Reply *reply)
{
	char text[CALLRAFT_ID_BYTES_MAX + 64];
	snprintf(text, sizeof text, "agent '%s' is ready: calls are offered to it as they come",
		 req->agent_set_state->agent_id);
	return cli_agent_done(cli, reply, text);
}

/* agent offers AGENT [--from I.P]: follows the offers made to the agent (CALL_OFFERED events with
 * their tokens), from now on unless --from says where to resume. */
/* Sets *index to the log index of the offer `agent` holds unanswered, or 0 (agent show, then call
 * show). Returns CLI_EXIT_OK, or the exit code of a failed read (an unknown agent: NOT_FOUND). */
static int pending_offer_index(struct cli *cli, const char *agent, uint64_t *index)
{
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	Callraft__AgentShow as = CALLRAFT__AGENT_SHOW__INIT;
	Callraft__CallShow cs = CALLRAFT__CALL_SHOW__INIT;
	char call_id[CALLRAFT_ID_BYTES_MAX + 1] = "";
	Callraft__Reply *r;
	int rv;

	*index = 0;
	as.agent_id = (char *)agent;
	req.op_case = CALLRAFT__REQUEST__OP_AGENT_SHOW;
	req.agent_show = &as;
	if ((rv = cli_send(cli, &req, &r)) != CLI_EXIT_OK)
		return rv;
	if (r->agent != NULL)
		snprintf(call_id, sizeof call_id, "%s", r->agent->call_id);
	callraft__reply__free_unpacked(r, NULL);
	if (call_id[0] == '\0')
		return CLI_EXIT_OK;
	req = (Callraft__Request)CALLRAFT__REQUEST__INIT;
	cs.call_id = call_id;
	req.op_case = CALLRAFT__REQUEST__OP_CALL_SHOW;
	req.call_show = &cs;
	if ((rv = cli_send(cli, &req, &r)) != CLI_EXIT_OK)
		return rv;
	if (r->call != NULL && r->call->state == CALLRAFT__CALL_STATE__OFFERED &&
	    strcmp(r->call->agent_id, agent) == 0)
		*index = r->call->offer_index >> CALLRAFT_BATCH_POSITION_BITS;
	callraft__reply__free_unpacked(r, NULL);
	return CLI_EXIT_OK;
}

int cli_agent_offers(struct cli *cli, struct cli_args *a)
{
	Callraft__EventsRead q = CALLRAFT__EVENTS_READ__INIT;
	Callraft__EventKind kind = CALLRAFT__EVENT_KIND__CALL_OFFERED;
	const char *from = cli_opt(a, "from");
	int rv;

	if (from != NULL && (rv = parse_cursor(cli, from, &q.from_index, &q.from_position)) != 0)
		return rv;
	if ((rv = cli_check_id(cli, "agent", a->pos[0])) != CLI_EXIT_OK)
		return rv;
	q.agent_id = a->pos[0];
	q.kinds = &kind;
	q.n_kinds = 1;
	/* Without --from: from the offer the agent holds unanswered, if any (a desktop started after
	 * its offer was made still gets it), else new ones only. */
	if (from == NULL && (rv = pending_offer_index(cli, a->pos[0], &q.from_index)) != CLI_EXIT_OK)
		return rv;
	return events_loop(cli, &q, true);
}
