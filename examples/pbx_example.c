/* pbx_example.c: a whole call through callraft with the installed C client library, as a PBX and
 * an agent desktop would make it: no protobuf message is built by hand.
 *
 *   cc pbx_example.c $(pkg-config --cflags --libs callraft) -o pbx_example
 *   ./pbx_example 127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103 [RUN_ID]
 *
 * The agent logs in, the PBX enqueues a caller (twice: the call id is the idempotency key, so the
 * retry changes nothing), the agent takes the offer and answers it with its token, opens a ticket
 * for the customer and ends the call. Prints one line per step; exit 0 when every step succeeded,
 * 1 when the cluster refused one (the line says which), 3 when no node answered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <callraft_client.h>

static struct callraft_client *client;
static char errmsg[CALLRAFT_ERRMSG_BYTES];

/* Checks a reply: NULL (no node answered in time) or a refusal ends the program. */
static Callraft__Reply *must(const char *step, Callraft__Reply *r)
{
	if (r == NULL) {
		fprintf(stderr, "pbx_example: %s: %s\n", step, errmsg);
		callraft_client_close(client);
		exit(3);
	}
	if (r->code != CALLRAFT__CODE__OK) {
		fprintf(stderr, "pbx_example: %s: %s: %s\n", step, callraft_code_name(r->code),
			r->message);
		callraft_reply_free(r);
		callraft_client_close(client);
		exit(1);
	}
	return r;
}

int main(int argc, char **argv)
{
	const char *cluster = argc > 1 ? argv[1] : getenv("CALLRAFT_CLUSTER");
	const char *run = argc > 2 ? argv[2] : "1";
	struct callraft_client_options opts = {.cluster = cluster, .name = "pbx-example"};
	char call_id[CALLRAFT_ID_BYTES_MAX + 1], agent[CALLRAFT_ID_BYTES_MAX + 1];
	char customer[CALLRAFT_ID_BYTES_MAX + 1], queue[CALLRAFT_QUEUE_BYTES_MAX + 1];
	char *skills[1] = {queue};
	Callraft__Reply *r;

	if (cluster == NULL) {
		fprintf(stderr, "usage: pbx_example HOST:PORT[,HOST:PORT...] [RUN_ID]\n");
		return 2;
	}
	snprintf(call_id, sizeof call_id, "pbx-example-%s", run);
	snprintf(agent, sizeof agent, "agent-example-%s", run);
	snprintf(customer, sizeof customer, "cust-example-%s", run);
	snprintf(queue, sizeof queue, "example-%s", run);
	if (callraft_client_open(&opts, &client, errmsg, sizeof errmsg) != 0) {
		fprintf(stderr, "pbx_example: %s\n", errmsg);
		return 2;
	}

	r = must("agent login",
		 callraft_agent_login(client, agent, "Example Agent", "tehran", skills, 1, errmsg,
				      sizeof errmsg));
	printf("agent %s logged in: %s\n", agent, r->agent->agent_id);
	callraft_reply_free(r);

	for (int attempt = 1; attempt <= 2; attempt++) {
		r = must("call enqueue",
			 callraft_call_enqueue(client, call_id, queue, "+989121234567", customer, 2,
					       "tehran", errmsg, sizeof errmsg));
		printf("enqueue %d: call %s in queue %s, tier %u, seq %llu%s%s\n", attempt,
		       r->call->call_id, r->call->queue, r->call->tier,
		       (unsigned long long)r->call->enqueue_seq, r->message[0] ? ", " : "",
		       r->message);
		callraft_reply_free(r);
	}

	r = must("call next", callraft_call_next(client, agent, errmsg, sizeof errmsg));
	uint64_t term = r->call->offer_term, index = r->call->offer_index;
	printf("offered: call %s to %s, token %llu.%llu\n", r->call->call_id, agent,
	       (unsigned long long)term, (unsigned long long)index);
	if (strcmp(r->call->call_id, call_id) != 0) {
		fprintf(stderr, "pbx_example: offered '%s', expected '%s'\n", r->call->call_id,
			call_id);
		return 1;
	}
	callraft_reply_free(r);

	r = must("call answer",
		 callraft_call_answer(client, call_id, agent, term, index, errmsg, sizeof errmsg));
	printf("answered: call %s by %s\n", r->call->call_id, r->call->agent_id);
	callraft_reply_free(r);

	r = must("ticket open", callraft_ticket_open(client, customer, "billing", call_id,
						     "double charge", "refund asked", agent, errmsg,
						     sizeof errmsg));
	printf("ticket: %s for %s\n", r->ticket->code, customer);
	callraft_reply_free(r);

	r = must("call end", callraft_call_end(client, call_id, agent, errmsg, sizeof errmsg));
	callraft_reply_free(r);

	r = must("call show", callraft_call_show(client, call_id, errmsg, sizeof errmsg));
	const ProtobufCEnumValue *state =
	    protobuf_c_enum_descriptor_get_value(&callraft__call_state__descriptor, r->call->state);
	printf("final: call %s %s, ticket %s\n", r->call->call_id, state ? state->name : "?",
	       r->call->ticket_code);
	callraft_reply_free(r);

	r = must("agent logout", callraft_agent_logout(client, agent, errmsg, sizeof errmsg));
	callraft_reply_free(r);
	callraft_client_close(client);
	return 0;
}
