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

int ctx_begin_at_open(struct apply_ctx *c, struct state *s, const char *what, char *errmsg,
		      size_t errmsg_len)
{
	int rc;

	memset(c, 0, sizeof *c);
	c->s = s;
	c->errmsg = errmsg;
	c->errmsg_len = errmsg_len;
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &c->txn)) != 0)
		return store_err(errmsg, errmsg_len, rc, "open '%s': %s", s->dir, what);
	return 0;
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

/* The records a command loads and writes by id: where each kind lives, its name in messages, how
 * the context attaches it, and what follows a change of one (`old` is NULL for a new record). */
struct ctx_kind {
	enum state_db db;
	const ProtobufCMessageDescriptor *descriptor;
	const char *name;
	void (*attach)(struct apply_ctx *c, ProtobufCMessage *m);
	int (*changed)(struct apply_ctx *c, const ProtobufCMessage *old, const ProtobufCMessage *now);
};

static void attach_call(struct apply_ctx *c, ProtobufCMessage *m)
{
	ctx_attach_call(c, (Callraft__Call *)m);
}

static void attach_agent(struct apply_ctx *c, ProtobufCMessage *m)
{
	ctx_attach_agent(c, (Callraft__Agent *)m);
}

/* Every write of a call or an agent goes through ctx_put: it compares the record being written
 * with the stored one, so the event stream (events.c), the ready index (ready.c) and the free
 * agents' counts (free_agents.c) follow every change, whichever code path made it; so do the
 * outcome counters of campaigns (campaign_count.c). */
static int call_changed(struct apply_ctx *c, const ProtobufCMessage *old,
			const ProtobufCMessage *now)
{
	const Callraft__Call *was = (const Callraft__Call *)old, *is = (const Callraft__Call *)now;

	return event_call_changed(c, was, is) != 0 ? -1 : campaign_call_changed(c, was, is);
}

static int agent_changed(struct apply_ctx *c, const ProtobufCMessage *old,
			 const ProtobufCMessage *now)
{
	const Callraft__Agent *was = (const Callraft__Agent *)old, *is = (const Callraft__Agent *)now;

	return (event_agent_changed(c, was, is) != 0 || ready_update(c, was, is) != 0) ? -1
										       : free_agents_update(c, was, is);
}

static const struct ctx_kind kind_call = {DB_CALLS, &callraft__call__descriptor, "call",
					  attach_call, call_changed};
static const struct ctx_kind kind_agent = {DB_AGENTS, &callraft__agent__descriptor, "agent",
					   attach_agent, agent_changed};

static int ctx_get(struct apply_ctx *c, const struct ctx_kind *k, const char *id,
		   ProtobufCMessage **out)
{
	return store_get(c->s, c->txn, k->db, id, strlen(id), k->descriptor, out, k->name, id,
			 c->errmsg, c->errmsg_len);
}

static int ctx_load(struct apply_ctx *c, const struct ctx_kind *k, const char *id)
{
	ProtobufCMessage *m;
	int rc = ctx_get(c, k, id, &m);

	if (rc == 1)
		ctx_fail(c, CALLRAFT__CODE__NOT_FOUND, "%s '%s': not found", k->name, id);
	else if (rc == 0)
		k->attach(c, m);
	return rc;
}

int ctx_load_call(struct apply_ctx *c, const char *call_id)
{
	return ctx_load(c, &kind_call, call_id);
}

int ctx_load_agent(struct apply_ctx *c, const char *agent_id)
{
	return ctx_load(c, &kind_agent, agent_id);
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
	return ctx_get(c, &kind_call, call_id, (ProtobufCMessage **)out);
}

int ctx_get_agent(struct apply_ctx *c, const char *agent_id, Callraft__Agent **out)
{
	return ctx_get(c, &kind_agent, agent_id, (ProtobufCMessage **)out);
}

static int ctx_put(struct apply_ctx *c, const struct ctx_kind *k, const char *id,
		   const ProtobufCMessage *m)
{
	ProtobufCMessage *old;
	int rc = ctx_get(c, k, id, &old);

	if (rc < 0)
		return -1;
	rc = k->changed(c, old, m); /* old is NULL when absent */
	if (old != NULL)
		protobuf_c_message_free_unpacked(old, NULL);
	if (rc != 0)
		return -1;
	return store_put(c->s, c->txn, k->db, id, strlen(id), m, k->name, id, c->errmsg,
			 c->errmsg_len);
}

int ctx_put_call(struct apply_ctx *c, const Callraft__Call *call)
{
	return ctx_put(c, &kind_call, call->call_id, &call->base);
}

int ctx_put_agent(struct apply_ctx *c, const Callraft__Agent *agent)
{
	return ctx_put(c, &kind_agent, agent->agent_id, &agent->base);
}

void call_init_waiting(const struct apply_ctx *c, Callraft__Call *call, char *call_id, char *queue,
		       char *caller_number, char *customer_id, char *arrival_site)
{
	*call = (Callraft__Call)CALLRAFT__CALL__INIT;
	call->call_id = call_id;
	call->queue = queue;
	call->caller_number = caller_number;
	call->customer_id = customer_id;
	call->arrival_site = arrival_site;
	call->state = CALLRAFT__CALL_STATE__WAITING;
	call->enqueued_ms = c->now_ms;
	call->enqueue_seq = (c->index << CALLRAFT_BATCH_POSITION_BITS) | c->position;
}
