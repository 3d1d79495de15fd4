/* site_scope.c: a site-limited actor acts on its own site's calls and agents only (issue 13).
 *
 * An agent or pbx certificate (or bearer token) may name a site (callraft:site:tehran). The node
 * that received the request checks what the request itself names (the arrival site of an enqueue,
 * the site of a login: node/authz.c) and stamps the limit on the command (Command.actor_site). What
 * the request only names by id, a call or an agent, is checked here, against the replicated
 * state at the command's place in the log: every replica decides alike, and no stale follower
 * read can let a command through.
 *
 * The rules, for a command with actor_site S:
 *   it names an agent (call next/answer/end/reject/dial attempt, agent state/logout/heartbeat)
 *        ... the agent, if it exists, must be of site S (agent.site). The call of such a command
 *            is checked by the operation itself: it must be that agent's.
 *   it names a call only (abandon, callback request), or creates one under an id the client
 *   chose (call enqueue, callback schedule, callback voicemail: an existing id answers OK with
 *   the existing call, its caller number and customer, and changes nothing)
 *        ... the call, if it exists, must have arrived at S, or be held by an agent of site S
 *            (an overflow call answered by S's agent). A call of no site (a scheduled callback)
 *            is no site-limited actor's: its retry from another session is refused too.
 *   an object that does not exist passes: the operation answers NOT_FOUND as for anyone.
 *   an agent login names its site (checked by the node); an agent it names that is logged in
 *   at another site is refused here (the operation's own ALREADY_EXISTS would answer with that
 *   agent's record); an OFFLINE agent may move to the login's site.
 * A refused command changes nothing (PERMISSION_DENIED, with the object, its site and the limit).
 * Commands without actor_site (supervisors, admins, members, no TLS) are not limited. */
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

static int get(struct state *s, MDB_txn *txn, enum state_db db, const char *id,
	       const ProtobufCMessageDescriptor *d, ProtobufCMessage **out, const char *what,
	       char *errmsg, size_t errmsg_len)
{
	return store_get(s, txn, db, id, strlen(id), d, out, what, id, errmsg, errmsg_len);
}

/* The site of agent `agent_id`: 0 and a copy in site[], 1 if there is no such agent, -1. */
static int agent_site(struct state *s, MDB_txn *txn, const char *agent_id,
		      char site[CALLRAFT_SITE_BYTES_MAX + 1], char *errmsg, size_t errmsg_len)
{
	Callraft__Agent *a;
	int rc = get(s, txn, DB_AGENTS, agent_id, &callraft__agent__descriptor,
		     (ProtobufCMessage **)&a, "agent", errmsg, errmsg_len);
	if (rc != 0)
		return rc;
	snprintf(site, CALLRAFT_SITE_BYTES_MAX + 1, "%s", a->site);
	protobuf_c_message_free_unpacked(&a->base, NULL);
	return 0;
}

int site_scope_agent(struct state *s, MDB_txn *txn, const char *op, const char *agent_id,
		     const char *actor, const char *actor_site, char *msg, size_t msg_len,
		     char *errmsg, size_t errmsg_len)
{
	char site[CALLRAFT_SITE_BYTES_MAX + 1];
	int rc = agent_site(s, txn, agent_id, site, errmsg, errmsg_len);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (strcmp(site, actor_site) == 0)
		return 0;
	snprintf(msg, msg_len, "%s: agent '%s' is of site '%s'; '%s' is limited to site '%s'", op,
		 agent_id, site, actor, actor_site);
	return 1;
}

int site_scope_call(struct state *s, MDB_txn *txn, const char *op, const char *call_id,
		    const char *actor, const char *actor_site, char *msg, size_t msg_len,
		    char *errmsg, size_t errmsg_len)
{
	char holder_site[CALLRAFT_SITE_BYTES_MAX + 1] = "";
	Callraft__Call *call;
	int rc = get(s, txn, DB_CALLS, call_id, &callraft__call__descriptor,
		     (ProtobufCMessage **)&call, "call", errmsg, errmsg_len);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (strcmp(call->arrival_site, actor_site) == 0)
		goto allowed;
	if (call->agent_id[0] != '\0') {
		rc = agent_site(s, txn, call->agent_id, holder_site, errmsg, errmsg_len);
		if (rc < 0)
			goto failed;
		if (rc == 0 && strcmp(holder_site, actor_site) == 0)
			goto allowed;
	}
	snprintf(msg, msg_len, "%s: call '%s' %s%s%s%s%s%s; '%s' is limited to site '%s'", op, call_id,
		 call->arrival_site[0] ? "arrived at site '" : "is of no site",
		 call->arrival_site, call->arrival_site[0] ? "'" : "",
		 call->agent_id[0] ? " and is held by agent '" : "",
		 call->agent_id, call->agent_id[0] ? "' of another site" : "", actor, actor_site);
	protobuf_c_message_free_unpacked(&call->base, NULL);
	return 1;
allowed:
	protobuf_c_message_free_unpacked(&call->base, NULL);
	return 0;
failed:
	protobuf_c_message_free_unpacked(&call->base, NULL);
	return -1;
}

/* A login by a site-limited actor of an agent logged in at another site: refused here rather
 * than by the operation (whose ALREADY_EXISTS answers with that agent's record). 1 if refused. */
static int login_check(struct state *s, MDB_txn *txn, const char *agent_id, const char *actor,
		       const char *actor_site, char *msg, size_t msg_len, char *errmsg,
		       size_t errmsg_len)
{
	Callraft__Agent *a;
	int rc = get(s, txn, DB_AGENTS, agent_id, &callraft__agent__descriptor,
		     (ProtobufCMessage **)&a, "agent", errmsg, errmsg_len);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (a->state != CALLRAFT__AGENT_STATE__OFFLINE && strcmp(a->site, actor_site) != 0) {
		snprintf(msg, msg_len,
			 "agent_login: agent '%s' is logged in at site '%s'; '%s' is limited to site "
			 "'%s'", agent_id, a->site, actor, actor_site);
		rc = 1;
	}
	protobuf_c_message_free_unpacked(&a->base, NULL);
	return rc;
}

int site_scope_check(struct state *s, MDB_txn *txn, const Callraft__Command *cmd, char *msg,
		     size_t msg_len, char *errmsg, size_t errmsg_len)
{
	const char *op = validate_op_name(cmd), *agent = NULL, *call = NULL;
	const char *actor = cmd->actor != NULL ? cmd->actor : "";

	if (cmd->actor_site == NULL || cmd->actor_site[0] == '\0')
		return 0;
	switch (cmd->op_case) {
	case CALLRAFT__COMMAND__OP_CALL_NEXT: agent = cmd->call_next->agent_id; break;
	case CALLRAFT__COMMAND__OP_CALL_ANSWER: agent = cmd->call_answer->agent_id; break;
	case CALLRAFT__COMMAND__OP_CALL_END: agent = cmd->call_end->agent_id; break;
	case CALLRAFT__COMMAND__OP_CALL_REJECT: agent = cmd->call_reject->agent_id; break;
	case CALLRAFT__COMMAND__OP_CALL_DIAL_ATTEMPT: agent = cmd->call_dial_attempt->agent_id; break;
	case CALLRAFT__COMMAND__OP_AGENT_SET_STATE: agent = cmd->agent_set_state->agent_id; break;
	case CALLRAFT__COMMAND__OP_AGENT_LOGOUT: agent = cmd->agent_logout->agent_id; break;
	case CALLRAFT__COMMAND__OP_AGENT_HEARTBEAT: agent = cmd->agent_heartbeat->agent_id; break;
	case CALLRAFT__COMMAND__OP_CALL_ABANDON: call = cmd->call_abandon->call_id; break;
	case CALLRAFT__COMMAND__OP_CALLBACK_REQUEST: call = cmd->callback_request->call_id; break;
	/* Idempotent creates: an existing id answers with the existing call (caller number,
	 * customer), so naming another site's call there is naming it by id. */
	case CALLRAFT__COMMAND__OP_CALL_ENQUEUE: call = cmd->call_enqueue->call_id; break;
	case CALLRAFT__COMMAND__OP_CALLBACK_SCHEDULE: call = cmd->callback_schedule->callback_id; break;
	case CALLRAFT__COMMAND__OP_CALLBACK_VOICEMAIL: call = cmd->callback_voicemail->callback_id; break;
	case CALLRAFT__COMMAND__OP_AGENT_LOGIN:
		return login_check(s, txn, cmd->agent_login->agent_id, actor, cmd->actor_site, msg,
				   msg_len, errmsg, errmsg_len);
	default: return 0;
	}
	if (agent != NULL && agent[0] != '\0')
		return site_scope_agent(s, txn, op, agent, actor, cmd->actor_site, msg, msg_len, errmsg,
					errmsg_len);
	if (call != NULL && call[0] != '\0')
		return site_scope_call(s, txn, op, call, actor, cmd->actor_site, msg, msg_len, errmsg,
				       errmsg_len);
	return 0;
}
