/* ctx.c: the apply context (struct apply_ctx, state_internal.h), the helpers every operation of
 * state/ shares: its business outcome (ctx_fail), the records a reply borrows from (ctx_own,
 * ctx_attach_*, apply_ctx_release), and the typed reads and writes of calls and agents in the
 * command's nested transaction (ctx_get_*, ctx_put_*, ctx_load_*).
 *
 * It calls store.c only, and every file that applies an operation calls it: keeping these helpers
 * here (and not in whichever operation needed them first) is what keeps state/ free of call
 * circles. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_internal.h"

void ctx_fail(struct apply_ctx *c, Callraft__Code code, const char *fmt, ...)
{
	va_list ap;

	assert(code != CALLRAFT__CODE__OK);
	c->code = code;
	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof c->msg, fmt, ap);
	va_end(ap);
}

void ctx_own(struct apply_ctx *c, ProtobufCMessage *m)
{
	assert(c->n_owned < sizeof c->owned / sizeof c->owned[0]);
	c->owned[c->n_owned++] = m;
}

void apply_ctx_release(struct apply_ctx *c)
{
	if (c->call_src != NULL)
		protobuf_c_message_free_unpacked(&c->call_src->base, NULL);
	if (c->agent_src != NULL)
		protobuf_c_message_free_unpacked(&c->agent_src->base, NULL);
	if (c->ticket_src != NULL)
		protobuf_c_message_free_unpacked(&c->ticket_src->base, NULL);
	free(c->notes);
	for (size_t i = 0; i < c->n_owned; i++)
		protobuf_c_message_free_unpacked(c->owned[i], NULL);
	c->n_owned = 0;
	c->call_src = NULL;
	c->agent_src = NULL;
	c->ticket_src = NULL;
	c->notes = NULL;
}

void ctx_attach_call(struct apply_ctx *c, Callraft__Call *src)
{
	assert(c->call_src == NULL);
	c->call_src = src;
	c->call = *src;
	c->has_call = true;
}

void ctx_attach_agent(struct apply_ctx *c, Callraft__Agent *src)
{
	assert(c->agent_src == NULL);
	c->agent_src = src;
	c->agent = *src;
	c->has_agent = true;
}

int ctx_load_call(struct apply_ctx *c, const char *call_id)
{
	Callraft__Call *call;
	int rc = ctx_get_call(c, call_id, &call);

	if (rc == 1)
		ctx_fail(c, CALLRAFT__CODE__NOT_FOUND, "call '%s': not found", call_id);
	else if (rc == 0)
		ctx_attach_call(c, call);
	return rc;
}

int ctx_load_agent(struct apply_ctx *c, const char *agent_id)
{
	Callraft__Agent *a;
	int rc = ctx_get_agent(c, agent_id, &a);

	if (rc == 1)
		ctx_fail(c, CALLRAFT__CODE__NOT_FOUND, "agent '%s': not found", agent_id);
	else if (rc == 0)
		ctx_attach_agent(c, a);
	return rc;
}

int ctx_load_agent_in(struct apply_ctx *c, const char *agent_id)
{
	int rc = ctx_load_agent(c, agent_id);

	if (rc == 0 && c->agent.state == CALLRAFT__AGENT_STATE__OFFLINE) {
		ctx_fail(c, CALLRAFT__CODE__BAD_STATE, "agent '%s': not logged in", agent_id);
		return 1;
	}
	return rc;
}

int ctx_get_call(struct apply_ctx *c, const char *call_id, Callraft__Call **out)
{
	return store_get(c->s, c->txn, DB_CALLS, call_id, strlen(call_id),
			 &callraft__call__descriptor, (ProtobufCMessage **)out, "call", call_id,
			 c->errmsg, c->errmsg_len);
}

int ctx_get_agent(struct apply_ctx *c, const char *agent_id, Callraft__Agent **out)
{
	return store_get(c->s, c->txn, DB_AGENTS, agent_id, strlen(agent_id),
			 &callraft__agent__descriptor, (ProtobufCMessage **)out, "agent", agent_id,
			 c->errmsg, c->errmsg_len);
}

/* Every write of a call or an agent goes through these two: they compare the record being written
 * with the stored one, so the event stream (events.c) and the ready index (ready.c) follow every
 * change, whichever code path made it. */
int ctx_put_call(struct apply_ctx *c, const Callraft__Call *call)
{
	Callraft__Call *old;
	int rc = ctx_get_call(c, call->call_id, &old);

	if (rc < 0)
		return -1;
	rc = event_call_changed(c, old, call); /* old is NULL when absent */
	if (old != NULL)
		protobuf_c_message_free_unpacked(&old->base, NULL);
	if (rc != 0)
		return -1;
	return store_put(c->s, c->txn, DB_CALLS, call->call_id, strlen(call->call_id), &call->base,
			 "call", call->call_id, c->errmsg, c->errmsg_len);
}

int ctx_put_agent(struct apply_ctx *c, const Callraft__Agent *agent)
{
	Callraft__Agent *old;
	int rc = ctx_get_agent(c, agent->agent_id, &old);

	if (rc < 0)
		return -1;
	rc = event_agent_changed(c, old, agent); /* old is NULL when absent */
	if (rc == 0)
		rc = ready_update(c, old, agent);
	if (old != NULL)
		protobuf_c_message_free_unpacked(&old->base, NULL);
	if (rc != 0)
		return -1;
	return store_put(c->s, c->txn, DB_AGENTS, agent->agent_id, strlen(agent->agent_id),
			 &agent->base, "agent", agent->agent_id, c->errmsg, c->errmsg_len);
}
