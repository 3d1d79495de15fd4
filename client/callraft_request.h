/* callraft_request.h: the request builder of libcallraft, the one place that turns an operation
 * and its arguments into a Callraft__Request (the CLI, the bench, the traffic tool and the typed
 * calls of callraft_client.h all build through it, so they cannot drift apart).
 *
 * A struct callraft_request holds the request and the message of its operation side by side:
 *
 *     struct callraft_request r;
 *     Callraft__CallShow *show = callraft_request_init(&r, CALLRAFT__REQUEST__OP_CALL_SHOW);
 *     show->call_id = "c1";
 *     reply = callraft_client_call(client, &r.req, errmsg, sizeof errmsg);
 *
 * or, for the common operations, with one typed call:
 *
 *     callraft_request_call_show(&r, "c1");
 *
 * Ownership: the request borrows every string and array it is given (they must outlive the send);
 * nothing is allocated, so there is nothing to free. r.req points into r itself: do not copy or
 * move a struct callraft_request after init (build it where it is used). NULL strings are sent as
 * "" (the field's default). */
#ifndef CALLRAFT_REQUEST_H
#define CALLRAFT_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "callraft.pb-c.h"

/* Room for the largest operation message (QueueConfigure, a few dozen pointers); a unit test walks
 * every operation of the protocol and checks that each fits. */
#define CALLRAFT_REQUEST_OP_BYTES_MAX 512

struct callraft_request {
	Callraft__Request req;
	/* The operation's message (e.g. a Callraft__CallEnqueue), pointed to by req's oneof. */
	_Alignas(max_align_t) unsigned char op[CALLRAFT_REQUEST_OP_BYTES_MAX];
};

/* Initialises r as a request of operation `op` (version and session fields are set when it is
 * sent) and returns the operation's message, set to its defaults, for the caller to fill. NULL if
 * `op` is not an operation of this protocol (r is then an empty request, which the library refuses
 * to send). */
void *callraft_request_init(struct callraft_request *r, Callraft__Request__OpCase op);

/* The message descriptor of operation `op` (NULL if unknown): names and fields, for tools that
 * print or validate requests generically. */
const ProtobufCMessageDescriptor *callraft_request_op_descriptor(Callraft__Request__OpCase op);

/* The name of operation `op` as the protocol spells it ("call_enqueue"), or NULL. */
const char *callraft_request_op_name(Callraft__Request__OpCase op);

/* Initialises r as a request of operation `op` whose message's field 1 is its key, a string
 * (call_show, agent_logout, site_up, ticket_show, ...), and sets it to `key`. NULL (and r empty)
 * if op is unknown or its field 1 is not a string. */
Callraft__Request *callraft_request_with_key(struct callraft_request *r,
					     Callraft__Request__OpCase op, const char *key);

/* Typed builders of the common operations. Each initialises r and returns &r->req. */
Callraft__Request *callraft_request_call_enqueue(struct callraft_request *r, const char *call_id,
						 const char *queue, const char *caller_number,
						 const char *customer_id, uint32_t tier,
						 const char *arrival_site);
Callraft__Request *callraft_request_call_next(struct callraft_request *r, const char *agent_id);
Callraft__Request *callraft_request_call_answer(struct callraft_request *r, const char *call_id,
						const char *agent_id, uint64_t offer_term,
						uint64_t offer_index);
Callraft__Request *callraft_request_call_end(struct callraft_request *r, const char *call_id,
					     const char *agent_id);
Callraft__Request *callraft_request_call_abandon(struct callraft_request *r, const char *call_id);
Callraft__Request *callraft_request_call_show(struct callraft_request *r, const char *call_id);
Callraft__Request *callraft_request_queue_show(struct callraft_request *r, const char *queue,
					       uint32_t limit);
/* skills: n_skills queue names (borrowed). */
Callraft__Request *callraft_request_agent_login(struct callraft_request *r, const char *agent_id,
						const char *name, const char *site,
						char *const *skills, size_t n_skills);
Callraft__Request *callraft_request_agent_set_state(struct callraft_request *r, const char *agent_id,
						    Callraft__AgentState state, const char *reason);
/* The agent is ready: AVAILABLE, and the cluster offers it calls by itself (pushed offers, issue
 * #14: the FSM assigns; the agent's desktop follows CALL_OFFERED events). */
Callraft__Request *callraft_request_agent_ready(struct callraft_request *r, const char *agent_id);
Callraft__Request *callraft_request_agent_logout(struct callraft_request *r, const char *agent_id);
Callraft__Request *callraft_request_agent_show(struct callraft_request *r, const char *agent_id);
/* call_id, subject, note, author, ticket_class may be NULL or "". */
Callraft__Request *callraft_request_ticket_open(struct callraft_request *r, const char *customer_id,
						const char *category, const char *call_id,
						const char *subject, const char *note,
						const char *author, const char *ticket_class);
Callraft__Request *callraft_request_ticket_list(struct callraft_request *r, const char *customer_id,
						uint32_t limit);
Callraft__Request *callraft_request_status(struct callraft_request *r);

#endif
