/* request.c: the request builder (contract in callraft_request.h).
 *
 * callraft_request_init finds the operation in the Request descriptor (a oneof member's field
 * number is its op_case value), initialises the operation's message in place from its own
 * descriptor and links it from the oneof. So a new operation of the protocol needs no code here:
 * it is buildable as soon as protoc-c has generated it. The typed builders below are thin and
 * only name the fields of the common operations. */
#include "callraft_request.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

/* The Request field of operation `op`, or NULL if op is not a member of the `op` oneof. */
static const ProtobufCFieldDescriptor *op_field(Callraft__Request__OpCase op)
{
	const ProtobufCFieldDescriptor *f;

	if (op == CALLRAFT__REQUEST__OP__NOT_SET)
		return NULL;
	f = protobuf_c_message_descriptor_get_field(&callraft__request__descriptor, (unsigned)op);
	if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE ||
	    f->quantifier_offset != offsetof(Callraft__Request, op_case))
		return NULL;
	return f;
}

const ProtobufCMessageDescriptor *callraft_request_op_descriptor(Callraft__Request__OpCase op)
{
	const ProtobufCFieldDescriptor *f = op_field(op);
	return f != NULL ? f->descriptor : NULL;
}

const char *callraft_request_op_name(Callraft__Request__OpCase op)
{
	const ProtobufCFieldDescriptor *f = op_field(op);
	return f != NULL ? f->name : NULL;
}

void *callraft_request_init(struct callraft_request *r, Callraft__Request__OpCase op)
{
	const ProtobufCFieldDescriptor *f = op_field(op);
	const ProtobufCMessageDescriptor *d;

	assert(r != NULL);
	callraft__request__init(&r->req);
	if (f == NULL)
		return NULL;
	d = f->descriptor;
	/* A message larger than the room is a build that grew an operation past the limit: the unit
	 * test test_client_request catches it before a release does. */
	assert(d->sizeof_message <= sizeof r->op);
	protobuf_c_message_init(d, r->op);
	memcpy((char *)&r->req + f->offset, &(void *){r->op}, sizeof(void *));
	r->req.op_case = op;
	return r->op;
}

/* The builder sends NULL as the field's default, "". */
static char *str(const char *s)
{
	return (char *)(s != NULL ? s : "");
}

Callraft__Request *callraft_request_with_key(struct callraft_request *r,
					     Callraft__Request__OpCase op, const char *key)
{
	ProtobufCMessage *m = callraft_request_init(r, op);
	const ProtobufCFieldDescriptor *f;

	if (m == NULL)
		return NULL;
	f = protobuf_c_message_descriptor_get_field(m->descriptor, 1);
	if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED) {
		callraft__request__init(&r->req);
		return NULL;
	}
	*(char **)((char *)m + f->offset) = str(key);
	return &r->req;
}

Callraft__Request *callraft_request_call_enqueue(struct callraft_request *r, const char *call_id,
						 const char *queue, const char *caller_number,
						 const char *customer_id, uint32_t tier,
						 const char *arrival_site)
{
	Callraft__CallEnqueue *m = callraft_request_init(r, CALLRAFT__REQUEST__OP_CALL_ENQUEUE);
	m->call_id = str(call_id);
	m->queue = str(queue);
	m->caller_number = str(caller_number);
	m->customer_id = str(customer_id);
	m->tier = tier;
	m->arrival_site = str(arrival_site);
	return &r->req;
}

Callraft__Request *callraft_request_call_next(struct callraft_request *r, const char *agent_id)
{
	return callraft_request_with_key(r, CALLRAFT__REQUEST__OP_CALL_NEXT, agent_id);
}

Callraft__Request *callraft_request_call_answer(struct callraft_request *r, const char *call_id,
						const char *agent_id, uint64_t offer_term,
						uint64_t offer_index)
{
	Callraft__CallAnswer *m = callraft_request_init(r, CALLRAFT__REQUEST__OP_CALL_ANSWER);
	m->call_id = str(call_id);
	m->agent_id = str(agent_id);
	m->offer_term = offer_term;
	m->offer_index = offer_index;
	return &r->req;
}

Callraft__Request *callraft_request_call_end(struct callraft_request *r, const char *call_id,
					     const char *agent_id)
{
	Callraft__CallEnd *m = callraft_request_init(r, CALLRAFT__REQUEST__OP_CALL_END);
	m->call_id = str(call_id);
	m->agent_id = str(agent_id);
	return &r->req;
}

Callraft__Request *callraft_request_call_abandon(struct callraft_request *r, const char *call_id)
{
	return callraft_request_with_key(r, CALLRAFT__REQUEST__OP_CALL_ABANDON, call_id);
}

Callraft__Request *callraft_request_call_show(struct callraft_request *r, const char *call_id)
{
	return callraft_request_with_key(r, CALLRAFT__REQUEST__OP_CALL_SHOW, call_id);
}

Callraft__Request *callraft_request_queue_show(struct callraft_request *r, const char *queue,
					       uint32_t limit)
{
	Callraft__QueueShow *m = callraft_request_init(r, CALLRAFT__REQUEST__OP_QUEUE_SHOW);
	m->queue = str(queue);
	m->limit = limit;
	return &r->req;
}

Callraft__Request *callraft_request_agent_login(struct callraft_request *r, const char *agent_id,
						const char *name, const char *site,
						char *const *skills, size_t n_skills)
{
	Callraft__AgentLogin *m = callraft_request_init(r, CALLRAFT__REQUEST__OP_AGENT_LOGIN);
	m->agent_id = str(agent_id);
	m->name = str(name);
	m->site = str(site);
	m->skills = (char **)skills;
	m->n_skills = skills != NULL ? n_skills : 0;
	return &r->req;
}

Callraft__Request *callraft_request_agent_set_state(struct callraft_request *r, const char *agent_id,
						    Callraft__AgentState state, const char *reason)
{
	Callraft__AgentSetState *m = callraft_request_init(r, CALLRAFT__REQUEST__OP_AGENT_SET_STATE);
	m->agent_id = str(agent_id);
	m->state = state;
	m->reason = str(reason);
	return &r->req;
}

Callraft__Request *callraft_request_agent_ready(struct callraft_request *r, const char *agent_id)
{
	callraft_request_agent_set_state(r, agent_id, CALLRAFT__AGENT_STATE__AVAILABLE, NULL);
	r->req.agent_set_state->push = true;
	return &r->req;
}

Callraft__Request *callraft_request_agent_logout(struct callraft_request *r, const char *agent_id)
{
	return callraft_request_with_key(r, CALLRAFT__REQUEST__OP_AGENT_LOGOUT, agent_id);
}

Callraft__Request *callraft_request_agent_show(struct callraft_request *r, const char *agent_id)
{
	return callraft_request_with_key(r, CALLRAFT__REQUEST__OP_AGENT_SHOW, agent_id);
}

Callraft__Request *callraft_request_ticket_open(struct callraft_request *r, const char *customer_id,
						const char *category, const char *call_id,
						const char *subject, const char *note,
						const char *author, const char *ticket_class)
{
	Callraft__TicketOpen *m = callraft_request_init(r, CALLRAFT__REQUEST__OP_TICKET_OPEN);
	m->customer_id = str(customer_id);
	m->category = str(category);
	m->call_id = str(call_id);
	m->subject = str(subject);
	m->note = str(note);
	m->author = str(author);
	m->ticket_class = str(ticket_class);
	return &r->req;
}

Callraft__Request *callraft_request_ticket_list(struct callraft_request *r, const char *customer_id,
						uint32_t limit)
{
	Callraft__TicketList *m = callraft_request_init(r, CALLRAFT__REQUEST__OP_TICKET_LIST);
	m->customer_id = str(customer_id);
	m->limit = limit;
	return &r->req;
}

Callraft__Request *callraft_request_status(struct callraft_request *r)
{
	callraft_request_init(r, CALLRAFT__REQUEST__OP_STATUS);
	return &r->req;
}
