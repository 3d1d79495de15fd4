/* agents.c: an agent's presence.
 *
 * States and transitions (the function performing each):
 *
 *              op_agent_login                       op_call_next (calls.c)
 *   (none) ---------------------> AVAILABLE  -------------------------------> ON_CALL
 *   OFFLINE --------------------> AVAILABLE  <------------------------------- ON_CALL
 *                                  ^    |          op_call_end / op_call_abandon (calls.c)
 *              op_agent_set_state  |    v  op_agent_set_state
 *                              BREAK, WRAP_UP  (and back, or between them)
 *   AVAILABLE, BREAK, WRAP_UP, UNREACHABLE --op_agent_logout--> OFFLINE
 *   any logged-in state --presence lapsed (routing.c fire_presence)--> UNREACHABLE
 *   UNREACHABLE --heartbeat, login, state change (route_touch_agent)--> AVAILABLE
 *   ON_CALL --op_call_end of an answered call--> WRAP_UP (queue's wrap_up_ms) --Tick--> AVAILABLE
 *
 * Business rules:
 *   - An agent is logged in at one site at a time: a login from another site while logged in is
 *     ALREADY_EXISTS (log out first); a login again at the same site updates name and skills.
 *   - An agent holding a call (ON_CALL) cannot change state or log out until the call ends.
 *   - Every login, heartbeat and state change renews the agent's presence lease (routing.c).
 *   - Agents are never deleted: OFFLINE keeps the record (name, site, skills) for reports.
 *
 * Invariants: an agent is ON_CALL iff its call_id is set (see calls.c invariant 2); reason is set
 * only in BREAK. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

/* Loads agent `agent_id` into c->agent (it must be logged in if `logged_in`) and refuses to `what`
 * while it holds a call: 0 to go on, 1 with the outcome set (absent, not logged in, on a call), -1
 * on a store failure. */
static int load_off_call(struct apply_ctx *c, const char *agent_id, bool logged_in,
			 const char *what)
{
	int rc = logged_in ? ctx_load_agent_in(c, agent_id) : ctx_load_agent(c, agent_id);

	if (rc != 0 || c->agent.state != CALLRAFT__AGENT_STATE__ON_CALL)
		return rc;
	ctx_fail(c, CALLRAFT__CODE__BAD_STATE, "agent '%s' holds call '%s': cannot %s until it ends",
		 c->agent.agent_id, c->agent.call_id, what);
	return 1;
}

int op_agent_login(struct apply_ctx *c, const Callraft__AgentLogin *op)
{
	Callraft__Agent *a = &c->agent, *src;
	int rc = ctx_get_agent(c, op->agent_id, &src);

	if (rc < 0)
		return -1;
	if (rc == 0) {
		c->agent_src = src;
		*a = *src;
	} else { /* a new agent: as if it were OFFLINE */
		*a = (Callraft__Agent)CALLRAFT__AGENT__INIT;
		a->agent_id = op->agent_id;
		a->state = CALLRAFT__AGENT_STATE__OFFLINE;
	}
	c->has_agent = true;
	if (a->state != CALLRAFT__AGENT_STATE__OFFLINE && strcmp(a->site, op->site) != 0) {
		ctx_fail(c, CALLRAFT__CODE__ALREADY_EXISTS, "agent '%s' is logged in at site '%s'",
			 op->agent_id, a->site);
		return 0;
	}
	if (a->state == CALLRAFT__AGENT_STATE__OFFLINE) {
		a->state = CALLRAFT__AGENT_STATE__AVAILABLE;
		a->site = op->site;
		a->reason = "";
		a->call_id = "";
		a->since_ms = c->now_ms;
	}
	a->name = op->name;
	a->n_skills = op->n_skills;
	a->skills = op->skills;
	if (route_touch_agent(c, a) != 0)
		return -1;
	return ctx_put_agent(c, a);
}

int op_agent_set_state(struct apply_ctx *c, const Callraft__AgentSetState *op)
{
	Callraft__Agent *a = &c->agent;
	int rc = load_off_call(c, op->agent_id, true, "change state");

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (route_touch_agent(c, a) != 0)
		return -1;
	a->wrap_until_ms = 0; /* a WRAP_UP set by hand lasts until changed */
	assert(op->state == CALLRAFT__AGENT_STATE__AVAILABLE ||
	       op->state == CALLRAFT__AGENT_STATE__BREAK ||
	       op->state == CALLRAFT__AGENT_STATE__WRAP_UP); /* state_validate */
	if (a->state != op->state)
		a->since_ms = c->now_ms;
	a->state = op->state;
	a->reason = op->state == CALLRAFT__AGENT_STATE__BREAK ? op->reason : "";
	a->push = op->push; /* "ready" (assign.c); state_validate allows it only with AVAILABLE */
	return ctx_put_agent(c, a);
}

int op_agent_logout(struct apply_ctx *c, const Callraft__AgentLogout *op)
{
	Callraft__Agent *a = &c->agent;
	int rc = load_off_call(c, op->agent_id, false, "log out");

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (a->state == CALLRAFT__AGENT_STATE__OFFLINE)
		return 0; /* already out: idempotent */
	if (timer_del(c, TIMER_PRESENCE, a->presence_due_ms, a->agent_id) != 0)
		return -1;
	a->state = CALLRAFT__AGENT_STATE__OFFLINE;
	a->reason = "";
	a->push = false;
	a->since_ms = c->now_ms;
	a->presence_due_ms = 0;
	a->wrap_until_ms = 0;
	return ctx_put_agent(c, a);
}
