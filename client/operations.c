/* operations.c: the typed calls of libcallraft (contract in callraft_client.h): each one builds
 * its request with the builder (request.c) and sends it with callraft_client_call, so they share
 * its retries, sessions and errors; nothing here knows the wire. */
#include "callraft_client.h"

Callraft__Reply *callraft_call_enqueue(struct callraft_client *c, const char *call_id,
				       const char *queue, const char *caller_number,
				       const char *customer_id, uint32_t tier,
				       const char *arrival_site, char *errmsg, size_t errmsg_len)
{
	struct callraft_request r;
	return callraft_client_call(c,
				    callraft_request_call_enqueue(&r, call_id, queue, caller_number,
								  customer_id, tier, arrival_site),
				    errmsg, errmsg_len);
}

Callraft__Reply *callraft_call_abandon(struct callraft_client *c, const char *call_id,
				       char *errmsg, size_t errmsg_len)
{
	struct callraft_request r;
	return callraft_client_call(c, callraft_request_call_abandon(&r, call_id), errmsg,
				    errmsg_len);
}

Callraft__Reply *callraft_call_next(struct callraft_client *c, const char *agent_id, char *errmsg,
				    size_t errmsg_len)
{
	struct callraft_request r;
	return callraft_client_call(c, callraft_request_call_next(&r, agent_id), errmsg, errmsg_len);
}

Callraft__Reply *callraft_call_answer(struct callraft_client *c, const char *call_id,
				      const char *agent_id, uint64_t offer_term, uint64_t offer_index,
				      char *errmsg, size_t errmsg_len)
{
	struct callraft_request r;
	return callraft_client_call(
	    c, callraft_request_call_answer(&r, call_id, agent_id, offer_term, offer_index), errmsg,
	    errmsg_len);
}

Callraft__Reply *callraft_call_end(struct callraft_client *c, const char *call_id,
				   const char *agent_id, char *errmsg, size_t errmsg_len)
{
	struct callraft_request r;
	return callraft_client_call(c, callraft_request_call_end(&r, call_id, agent_id), errmsg,
				    errmsg_len);
}

Callraft__Reply *callraft_call_show(struct callraft_client *c, const char *call_id, char *errmsg,
				    size_t errmsg_len)
{
	struct callraft_request r;
	return callraft_client_call(c, callraft_request_call_show(&r, call_id), errmsg, errmsg_len);
}

Callraft__Reply *callraft_agent_login(struct callraft_client *c, const char *agent_id,
				      const char *name, const char *site, char *const *skills,
				      size_t n_skills, char *errmsg, size_t errmsg_len)
{
	struct callraft_request r;
	return callraft_client_call(
	    c, callraft_request_agent_login(&r, agent_id, name, site, skills, n_skills), errmsg,
	    errmsg_len);
}

Callraft__Reply *callraft_agent_set_state(struct callraft_client *c, const char *agent_id,
					  Callraft__AgentState state, const char *reason,
					  char *errmsg, size_t errmsg_len)
{
	struct callraft_request r;
	return callraft_client_call(c, callraft_request_agent_set_state(&r, agent_id, state, reason),
				    errmsg, errmsg_len);
}

Callraft__Reply *callraft_agent_ready(struct callraft_client *c, const char *agent_id,
				      char *errmsg, size_t errmsg_len)
{
	struct callraft_request r;
	return callraft_client_call(c, callraft_request_agent_ready(&r, agent_id), errmsg,
				    errmsg_len);
}

Callraft__Reply *callraft_agent_logout(struct callraft_client *c, const char *agent_id,
				       char *errmsg, size_t errmsg_len)
{
	struct callraft_request r;
	return callraft_client_call(c, callraft_request_agent_logout(&r, agent_id), errmsg,
				    errmsg_len);
}

Callraft__Reply *callraft_agent_show(struct callraft_client *c, const char *agent_id, char *errmsg,
				     size_t errmsg_len)
{
	struct callraft_request r;
	return callraft_client_call(c, callraft_request_agent_show(&r, agent_id), errmsg, errmsg_len);
}

Callraft__Reply *callraft_ticket_open(struct callraft_client *c, const char *customer_id,
				      const char *category, const char *call_id,
				      const char *subject, const char *note, const char *author,
				      char *errmsg, size_t errmsg_len)
{
	struct callraft_request r;
	return callraft_client_call(c,
				    callraft_request_ticket_open(&r, customer_id, category, call_id,
								 subject, note, author, NULL),
				    errmsg, errmsg_len);
}

Callraft__Reply *callraft_ticket_list(struct callraft_client *c, const char *customer_id,
				      uint32_t limit, char *errmsg, size_t errmsg_len)
{
	struct callraft_request r;
	return callraft_client_call(c, callraft_request_ticket_list(&r, customer_id, limit), errmsg,
				    errmsg_len);
}

Callraft__Reply *callraft_queue_show(struct callraft_client *c, const char *queue, uint32_t limit,
				     char *errmsg, size_t errmsg_len)
{
	struct callraft_request r;
	return callraft_client_call(c, callraft_request_queue_show(&r, queue, limit), errmsg,
				    errmsg_len);
}

void callraft_reply_free(Callraft__Reply *reply)
{
	if (reply != NULL)
		callraft__reply__free_unpacked(reply, NULL);
}
