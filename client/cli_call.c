/* cli_call.c: `callraft call ...` and `callraft queue show`: calls waiting, offered, answered.
 *
 * The offer token printed by `call next` ("TERM.INDEX") is the fencing token of the offer: `call
 * answer` must send it back, so an answer to an offer that was withdrawn (agent timed out, leader
 * changed) is refused with STALE_TOKEN instead of answering the wrong call. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "callraft_limits.h"

static void cli_format_token(const Callraft__Call *call, char *buf, size_t len)
{
	snprintf(buf, len, "%llu.%llu", (unsigned long long)call->offer_term,
		 (unsigned long long)call->offer_index);
}

void cli_format_tier(uint32_t tier, char *buf, size_t len)
{
	const char *name = cli_tier_name(tier);
	if (name != NULL)
		snprintf(buf, len, "%u (%s)", tier, name);
	else
		snprintf(buf, len, "%u", tier);
}

json_object *cli_json_call(const Callraft__Call *call)
{
	json_object *o = json_object_new_object();
	cli_json_fields(o, &call->base, "call_id", "state", "queue", "caller_number", "customer_id",
			"tier", "arrival_site", "enqueued_ms", "agent_id", NULL);
	if (call->offer_term != 0) {
		char token[48];
		cli_format_token(call, token, sizeof token);
		cli_json_str(o, "offer_token", token);
		cli_json_fields(o, &call->base, "offer_term", "offer_index", NULL);
	}
	cli_json_fields(o, &call->base, "offered_ms", "answered_ms", "ended_ms", "ticket_code", NULL);
	if (call->callback)
		cli_json_fields(o, &call->base, "callback", "callback_number", "dial_attempts", NULL);
	if (call->preferred_agent[0] != '\0')
		cli_json_fields(o, &call->base, "preferred_agent", "preferred_until_ms", NULL);
	if (call->release_ms != 0) /* a scheduled or voicemail callback: when it enters the queue */
		cli_json_fields(o, &call->base, "release_ms", NULL);
	cli_json_fields(o, &call->base, "offer_expires_ms", NULL);
	/* What a site loss or a redial did to it (docs/routing.md). */
	if (call->converted_ms != 0)
		cli_json_fields(o, &call->base, "converted_ms", NULL);
	if (call->outcome[0] != '\0')
		cli_json_fields(o, &call->base, "outcome", "callback_id", NULL);
	if (call->origin_call_id[0] != '\0')
		cli_json_fields(o, &call->base, "origin_call_id", NULL);
	if (call->merged_into[0] != '\0')
		cli_json_fields(o, &call->base, "merged_into", NULL);
	if (call->merged_from[0] != '\0')
		cli_json_fields(o, &call->base, "merged_from", NULL);
	return o;
}

/* {"call":{...},"applied_index":N} for the commands that change or show one call. */
static void cli_print_call_json(const Callraft__Reply *reply)
{
	json_object *top = json_object_new_object();
	if (reply->call != NULL)
		json_object_object_add(top, "call", cli_json_call(reply->call));
	if (reply->queue_position != 0) { /* call show of a waiting call */
		cli_json_u64(top, "queue_position", reply->queue_position);
		json_object_object_add(top, "expected_wait_ms",
				       json_object_new_int64(reply->expected_wait_ms));
	}
	cli_json_u64(top, "applied_index", reply->applied_index);
	cli_print_json(top);
}

int cli_parse_tier(struct cli *cli, const char *s, uint32_t *out)
{
	for (uint32_t t = 0; cli_tier_name(t) != NULL; t++) {
		if (strcmp(s, cli_tier_name(t)) == 0) {
			*out = t;
			return CLI_EXIT_OK;
		}
	}
	uint64_t v;
	if (cli_parse_u64(s, &v) == 0 && v <= CALLRAFT_TIER_MAX) {
		*out = (uint32_t)v;
		return CLI_EXIT_OK;
	}
	return cli_usage_error(cli, "--tier: '%s': expected regular, silver, gold, diamond or 0..%d",
			       s, CALLRAFT_TIER_MAX);
}

/* Parses "TERM.INDEX" as printed by `call next`. */
static int cli_parse_token(struct cli *cli, const char *s, uint64_t *term, uint64_t *index)
{
	const char *dot = strchr(s, '.');
	char head[24];
	size_t head_len = dot != NULL ? (size_t)(dot - s) : 0;
	if (dot == NULL || head_len == 0 || head_len >= sizeof head)
		goto bad;
	memcpy(head, s, head_len);
	head[head_len] = '\0';
	if (cli_parse_u64(head, term) != 0 || cli_parse_u64(dot + 1, index) != 0 || *term == 0)
		goto bad;
	return CLI_EXIT_OK;
bad:
	return cli_usage_error(cli, "--token: '%s': expected TERM.INDEX as printed by 'call next'",
			       s);
}

/* Prints a call write's outcome: "call 'ID' <verb>", or the call as JSON. */
static int cli_call_written(struct cli *cli, const Callraft__Reply *reply, const char *call_id,
			    const char *verb)
{
	if (cli->json)
		cli_print_call_json(reply);
	else
		printf("call '%s' %s\n", call_id, verb);
	return CLI_EXIT_OK;
}

int cli_call_enqueue_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	const char *call_id = cli_opt(a, "call-id"), *queue = cli_opt(a, "queue");
	const char *caller = cli_opt(a, "caller"), *customer = cli_opt(a, "customer");
	const char *tier = cli_opt(a, "tier"), *site = cli_opt(a, "site");
	uint32_t tier_value = 0;
	int rv;

	if (call_id == NULL || queue == NULL || caller == NULL || !call_id[0] || !queue[0] ||
	    !caller[0])
		return cli_usage_error(cli, "--call-id, --queue and --caller are required");
	if ((rv = cli_check_id(cli, "--call-id", call_id)) ||
	    (rv = cli_check_name(cli, "--queue", queue, CALLRAFT_QUEUE_BYTES_MAX)) ||
	    (rv = cli_check_phone(cli, "--caller", caller)) ||
	    (customer && customer[0] && (rv = cli_check_id(cli, "--customer", customer))) ||
	    (site && site[0] && (rv = cli_check_name(cli, "--site", site, CALLRAFT_SITE_BYTES_MAX))) ||
	    (tier != NULL && (rv = cli_parse_tier(cli, tier, &tier_value))))
		return rv;
	callraft_request_call_enqueue(r, call_id, queue, caller, customer, tier_value, site);
	/* With a customer record the record's tier counts unless the PBX overrides it. */
	Callraft__CallEnqueue *op = r->req.call_enqueue;
	op->tier_override = cli_opt(a, "tier-override") != NULL;
	/* A known agent only on request (docs/routing.md, section 9); the cluster checks the rest. */
	const char *agent = cli_opt(a, "agent"), *agent_timeout = cli_opt(a, "agent-timeout");
	if (agent != NULL && (rv = cli_check_id(cli, "--agent", agent)))
		return rv;
	op->requested_agent = agent != NULL ? (char *)agent : "";
	op->same_agent = cli_opt(a, "same-agent") != NULL;
	if (agent_timeout != NULL &&
	    (rv = cli_parse_duration(cli, "--agent-timeout", agent_timeout, CALLRAFT_CONFIG_MS_MAX,
				     &op->agent_timeout_ms)))
		return rv;
	return CLI_EXIT_OK;
}

int cli_call_enqueue_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			    const Callraft__Reply *reply)
{
	const Callraft__CallEnqueue *enq = req->call_enqueue;
	if (cli->json) {
		cli_print_call_json(reply);
	} else {
		char tier_text[32];
		/* the call's tier as stored: the customer's record may have set it */
		cli_format_tier(reply->call != NULL ? reply->call->tier : enq->tier, tier_text,
				sizeof tier_text);
		printf("call '%s' enqueued in '%s', tier %s\n", enq->call_id, enq->queue, tier_text);
	}
	return CLI_EXIT_OK;
}

/* Checks --agent (required) and, with `token`, --token (required, parsed) and the call id. */
static int cli_call_agent_args(struct cli *cli, const struct cli_args *a, bool token,
			       uint64_t *term, uint64_t *index)
{
	const char *agent = cli_opt(a, "agent");
	int rv;

	if (a->n_pos == 1 && (rv = cli_check_id(cli, "call id", a->pos[0])) != CLI_EXIT_OK)
		return rv;
	if (agent == NULL)
		return cli_usage_error(cli, "--agent is required");
	if ((rv = cli_check_id(cli, "--agent", agent)) != CLI_EXIT_OK)
		return rv;
	if (!token)
		return CLI_EXIT_OK;
	if (cli_opt(a, "token") == NULL)
		return cli_usage_error(cli, "--token is required (as printed by 'call next')");
	return cli_parse_token(cli, cli_opt(a, "token"), term, index);
}

int cli_call_next_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	int rv = cli_call_agent_args(cli, a, false, NULL, NULL);
	if (rv == CLI_EXIT_OK)
		callraft_request_call_next(r, cli_opt(a, "agent"));
	return rv;
}

int cli_call_next_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			 const Callraft__Reply *reply)
{
	const Callraft__Call *call = reply->call;
	const char *agent = cli_opt(a, "agent");
	/* The wait ends at the offer; both times come from the cluster's clock. */
	int64_t waited_ms = call == NULL ? 0
			    : (call->offered_ms > 0 ? call->offered_ms : cli_now_ms()) - call->enqueued_ms;
	if (cli->json) {
		json_object *top = json_object_new_object();
		if (call != NULL) {
			json_object *o = cli_json_call(call);
			cli_json_i64(o, "waited_ms", waited_ms);
			json_object_object_add(top, "call", o);
		}
		cli_json_u64(top, "applied_index", reply->applied_index);
		cli_print_json(top);
	} else if (call == NULL) {
		printf("no call offered\n");
	} else {
		char tier[32], waited[32], token[48];
		cli_format_tier(call->tier, tier, sizeof tier);
		cli_format_duration(waited_ms, waited, sizeof waited);
		cli_format_token(call, token, sizeof token);
		printf("call:    %s\ncaller:  %s\nqueue:   %s\ntier:    %s\nwaited:  %s\n"
		       "token:   %s\n\nanswer with: callraft call answer %s --agent %s --token %s\n",
		       call->call_id, call->caller_number, call->queue, tier, waited, token,
		       call->call_id, agent, token);
		if (call->callback)
			printf("\nthis is a CALLBACK: record the attempt first, then dial %s:\n"
			       "  callraft call dial %s --agent %s\n",
			       call->callback_number, call->call_id, agent);
	}
	return CLI_EXIT_OK;
}

int cli_call_answer_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	uint64_t term = 0, index = 0;
	int rv = cli_call_agent_args(cli, a, true, &term, &index);
	if (rv == CLI_EXIT_OK)
		callraft_request_call_answer(r, a->pos[0], cli_opt(a, "agent"), term, index);
	return rv;
}

int cli_call_answer_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			   const Callraft__Reply *reply)
{
	char verb[CALLRAFT_ID_BYTES_MAX + 32];
	snprintf(verb, sizeof verb, "answered by agent '%s'", req->call_answer->agent_id);
	return cli_call_written(cli, reply, a->pos[0], verb);
}

int cli_call_end_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	int rv = cli_call_agent_args(cli, a, false, NULL, NULL);
	if (rv == CLI_EXIT_OK)
		callraft_request_call_end(r, a->pos[0], cli_opt(a, "agent"));
	return rv;
}

int cli_call_end_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			const Callraft__Reply *reply)
{
	return cli_call_written(cli, reply, a->pos[0], "ended");
}

int cli_call_abandon_output(struct cli *cli, const struct cli_args *a,
			    const Callraft__Request *req, const Callraft__Reply *reply)
{
	return cli_call_written(cli, reply, a->pos[0], "abandoned");
}

static void cli_print_call_text(const Callraft__Call *call, uint64_t position,
				int64_t expected_wait_ms)
{
	char tier[32], enqueued[32], offered[32], answered[32], ended[32], token[48] = "-";
	cli_format_tier(call->tier, tier, sizeof tier);
	cli_format_time(call->enqueued_ms, enqueued, sizeof enqueued);
	cli_format_time(call->offered_ms, offered, sizeof offered);
	cli_format_time(call->answered_ms, answered, sizeof answered);
	cli_format_time(call->ended_ms, ended, sizeof ended);
	if (call->offer_term != 0)
		cli_format_token(call, token, sizeof token);
#define OR_DASH(s) ((s)[0] != '\0' ? (s) : "-")
	printf("call:      %s\nstate:     %s\nqueue:     %s\ncaller:    %s\ncustomer:  %s\n"
	       "tier:      %s\nsite:      %s\nagent:     %s\nenqueued:  %s\noffered:   %s\n"
	       "answered:  %s\nended:     %s\ntoken:     %s\nticket:    %s\n",
	       call->call_id, cli_call_state_name(call->state), call->queue, call->caller_number,
	       OR_DASH(call->customer_id), tier, OR_DASH(call->arrival_site),
	       OR_DASH(call->agent_id), enqueued, offered, answered, ended, token,
	       OR_DASH(call->ticket_code));
	if (call->state == CALLRAFT__CALL_STATE__SCHEDULED) {
		char release[32];
		cli_format_time(call->release_ms, release, sizeof release);
		printf("release:   %s\n", release);
	}
	if (call->preferred_agent[0] != '\0') {
		char until[32];
		cli_format_time(call->preferred_until_ms, until, sizeof until);
		printf("held for:  %s until %s\n", call->preferred_agent, until);
	}
	if (position != 0) { /* a waiting call: its place in the queue's routing order */
		char wait[64] = "unknown (the queue has answered nobody yet)";
		if (expected_wait_ms >= 0)
			cli_format_duration(expected_wait_ms, wait, sizeof wait);
		printf("position:  %llu\nexpected:  %s\n", (unsigned long long)position, wait);
	}
#undef OR_DASH
}

int cli_call_show_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			 const Callraft__Reply *reply)
{
	if (cli->json)
		cli_print_call_json(reply);
	else if (reply->call != NULL)
		cli_print_call_text(reply->call, reply->queue_position, reply->expected_wait_ms);
	return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------------
 * queue show */

static void cli_queue_print(const char *queue, const Callraft__Reply *reply, bool json)
{
	int64_t now = cli_now_ms();
	json_object *arr = json ? json_object_new_array() : NULL;
	static const char *const headers[] = {"POS", "CALL-ID", "KIND", "SITE", "CALLER", "TIER", "WAITED"};
	struct cli_table t;
	cli_table_init(&t, 7, headers);
	for (size_t i = 0; i < reply->n_calls; i++) {
		const Callraft__Call *call = reply->calls[i];
		/* Wait against the local clock: good enough for display. */
		int64_t waited_ms = now - call->enqueued_ms > 0 ? now - call->enqueued_ms : 0;
		if (json) {
			json_object *o = cli_json_call(call);
			cli_json_u64(o, "position", i + 1);
			cli_json_i64(o, "waited_ms", waited_ms);
			json_object_array_add(arr, o);
			continue;
		}
		char pos[24], tier[32], waited[32];
		snprintf(pos, sizeof pos, "%zu", i + 1);
		cli_format_tier(call->tier, tier, sizeof tier);
		cli_format_duration(waited_ms, waited, sizeof waited);
		/* A callback is a promise to call back (in-queue request, scheduled, voicemail, or a
		 * caller of a lost site): the agent who gets it dials out. */
		const char *row[] = {pos, call->call_id, call->callback ? "callback" : "inbound",
				     call->arrival_site ? call->arrival_site : "", call->caller_number, tier,
				     waited};
		cli_table_add(&t, row);
	}
	if (json) {
		json_object *top = json_object_new_object();
		cli_json_str(top, "queue", queue);
		cli_json_u64(top, "total", reply->total);
		json_object_object_add(top, "calls", arr);
		if (reply->queue_config != NULL)
			json_object_object_add(top, "config", cli_json_queue_config(reply->queue_config));
		cli_print_json(top);
	} else if (reply->n_calls == 0) {
		printf("queue '%s' is empty\n", queue);
		if (reply->queue_config != NULL)
			cli_print_queue_config(reply->queue_config);
	} else {
		cli_table_print(&t, stdout);
		printf("\n%llu waiting in '%s'", (unsigned long long)reply->total, queue);
		if (reply->total > reply->n_calls)
			printf(" (first %zu shown)", reply->n_calls);
		printf("\n");
		if (reply->queue_config != NULL)
			cli_print_queue_config(reply->queue_config);
	}
	cli_table_release(&t);
}

int cli_queue_show_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	uint32_t limit = CALLRAFT_LIST_LIMIT_DEFAULT;
	const char *limit_arg = cli_opt(a, "limit");
	int rv;

	if ((limit_arg != NULL && (rv = cli_parse_limit(cli, limit_arg, &limit)) != CLI_EXIT_OK) ||
	    (rv = cli_check_name(cli, "queue", a->pos[0], CALLRAFT_QUEUE_BYTES_MAX)))
		return rv;
	callraft_request_queue_show(r, a->pos[0], limit);
	return CLI_EXIT_OK;
}

int cli_queue_show_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			  const Callraft__Reply *reply)
{
	cli_queue_print(req->queue_show->queue, reply, cli->json);
	return CLI_EXIT_OK;
}
