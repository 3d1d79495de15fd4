/* rules.c: the node's side of FSM rules versions (state/rules.c; docs/design.md "Rules versions").
 *
 * Declaring: every housekeeping turn while it knows a leader, until its own member record in the
 * state shows the range this binary applies (CALLRAFT_RULES_OLDEST..state_rules_newest), a node
 * sends a RulesDeclare request for itself through the ordinary request path: the leader handles it
 * at once, a follower forwards it like a client's. The leader turns it into an internal
 * RulesDeclare command (none if the record already shows the range); once it is applied, the
 * record shows the range and the node stops sending. A declaration lost on the way (leader
 * change, timeout) is sent again on a later turn (at most one every
 * CALLRAFT_RULES_DECLARE_INTERVAL_MS).
 *
 * Upgrading: `callraft rules upgrade [N]` (admin) reaches the leader, which checks the gate against
 * the Raft configuration (every voter, standby and spare, the witness included, has declared a
 * range holding N: state_rules_gate) and appends a RulesSet; its reply is the state's, which checks
 * the same against the member records (R2). The leader never raises the version by itself: an
 * operator chooses when the new rules start (docs/operations.md, "Rolling upgrade").
 *
 * Spares: raft sends a spare nothing (no entries, no heartbeats), so a spare knows no leader to
 * declare to and its state never shows a declaration: a node added as a spare declares only once
 * it is a standby or voter, and one demoted to spare keeps the range it declared before (or, if
 * restarted on another binary while a spare, cannot declare the new one). The gate still counts
 * spares (apply's pair check R2 walks every member record, and the FSM knows no roles), so the
 * leader refuses an upgrade that a spare's recorded range does not allow with a message that says
 * so and what to do: assign it standby (it then declares within a housekeeping turn) or remove it
 * (spare_refusal).
 *
 * Stopping: a node whose state has no rules for an entry stops (on_rules_stop in node.c, exit
 * CALLRAFT_EXIT_RULES). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "node_internal.h"

/* Where a declaration's reply goes: nowhere but a log line on a refusal. */
static void declare_reply(struct conn *c, const uint8_t *bytes, size_t len, uint64_t request_id)
{
	Callraft__Reply *reply = callraft__reply__unpack(NULL, len, bytes);

	(void)request_id;
	if (reply != NULL && reply->code != CALLRAFT__CODE__OK)
		LOG_EVENT_RATELIMITED(LOG_INFO, "rules_declare", LOG_FIELDS(LOG_U("code", reply->code)),
				      "rules: declaring versions %d..%u to the leader: %s (retrying)",
				      CALLRAFT_RULES_OLDEST, state_rules_newest, reply->message);
	if (reply != NULL)
		callraft__reply__free_unpacked(reply, NULL);
	(void)c;
}

static void declare_release(struct conn *c)
{
	free(c);
}

static const struct conn_sink declare_sink = {.reply = declare_reply, .release = declare_release};

static bool declared(struct node *n)
{
	Callraft__Member *m;
	bool same;

	if (state_member_get(n->state, n->cfg.id, &m) != 0)
		return false; /* no record yet: the leader writes it; we declare once it is there */
	same = m->rules_oldest == CALLRAFT_RULES_OLDEST && m->rules_newest == state_rules_newest;
	callraft__member__free_unpacked(m, NULL);
	return same;
}

void rules_housekeeping(struct node *n)
{
	uint64_t now = uv_now(&n->loop);
	Callraft__Request *req;
	Callraft__RulesDeclare *d;
	struct conn *c;

	if (n->stopping || repl_leader(n->repl, NULL) == 0 || declared(n))
		return;
	if (n->rules_declared_ms != 0 && now - n->rules_declared_ms < CALLRAFT_RULES_DECLARE_INTERVAL_MS)
		return;
	n->rules_declared_ms = now;
	req = calloc(1, sizeof *req);
	d = calloc(1, sizeof *d);
	c = calloc(1, sizeof *c);
	if (req == NULL || d == NULL || c == NULL) {
		free(req), free(d), free(c);
		return; /* the next turn tries again */
	}
	callraft__request__init(req);
	callraft__rules_declare__init(d);
	d->member_id = n->cfg.id;
	d->oldest = CALLRAFT_RULES_OLDEST;
	d->newest = state_rules_newest;
	req->version = CALLRAFT_PROTOCOL_VERSION;
	req->op_case = CALLRAFT__REQUEST__OP_RULES_DECLARE;
	req->rules_declare = d;
	conn_virtual_init(c, n, &declare_sink);
	if (n->tls_ctx != NULL) {
		/* The node's own request, with its own member identity (authz.h: a member's). */
		c->id = n->tls_self;
		c->id.node_id = n->cfg.id;
		c->authn = true;
	}
	conn_ref(c);
	node_handle_request(n, c, req); /* takes req */
	conn_close(c);
	conn_unref(c); /* freed here, or once a forwarded request lets go of it */
}

static Callraft__Command *command_new(void)
{
	Callraft__Command *cmd = calloc(1, sizeof *cmd);

	if (cmd != NULL)
		callraft__command__init(cmd);
	return cmd;
}

/* The leader: a member's declaration becomes an internal command (nothing if already recorded). */
static void declare(struct node *n, struct conn *c, Callraft__Request *req)
{
	const Callraft__RulesDeclare *in = req->rules_declare;
	Callraft__Command *cmd = command_new();
	Callraft__RulesDeclare *d = calloc(1, sizeof *d);
	Callraft__Reply reply = CALLRAFT__REPLY__INIT;
	Callraft__Member *m = NULL;
	char msg[256];
	Callraft__Code code;

	if (cmd == NULL || d == NULL) {
		free(cmd), free(d);
		conn_refuse(c, req, CALLRAFT__CODE__UNAVAILABLE, "out of memory: retry");
		return;
	}
	callraft__rules_declare__init(d);
	d->member_id = in->member_id;
	d->oldest = in->oldest;
	d->newest = in->newest;
	cmd->op_case = CALLRAFT__COMMAND__OP_RULES_DECLARE;
	cmd->rules_declare = d;
	code = state_validate(cmd, msg, sizeof msg); /* pair check: apply validates again */
	if (code != CALLRAFT__CODE__OK) {
		callraft__command__free_unpacked(cmd, NULL);
		conn_refuse(c, req, code, "%s", msg);
		return;
	}
	if (state_member_get(n->state, in->member_id, &m) != 0) {
		callraft__command__free_unpacked(cmd, NULL);
		conn_refuse(c, req, CALLRAFT__CODE__NOT_FOUND,
			    "rules_declare: member %" PRIu64 ": no member record yet: retry", in->member_id);
		return;
	}
	bool same = m->rules_oldest == in->oldest && m->rules_newest == in->newest;
	callraft__member__free_unpacked(m, NULL);
	if (same)
		callraft__command__free_unpacked(cmd, NULL);
	else if (write_append(n, cmd, NULL) != 0) {
		conn_refuse(c, req, CALLRAFT__CODE__UNAVAILABLE, "out of memory: retry");
		return;
	} else
		LOG_EVENT(LOG_INFO, "rules_declare", LOG_FIELDS(LOG_U("member", in->member_id)),
			  "rules: member %" PRIu64 " declares rules versions %u..%u", in->member_id,
			  in->oldest, in->newest);
	reply.request_id = req->request_id;
	conn_send_reply(c, &reply);
	callraft__request__free_unpacked(req, NULL);
}

/* The gate's refusal for a spare (see the top): true, with the reason in why, when a spare of the
 * configuration has no recorded range, or (want != 0) a range without want. Voters and standbys
 * are state_rules_gate's alone, and a spare's narrower range still bounds an upgrade without N. */
static bool spare_refusal(struct node *n, uint32_t want, const uint64_t *ids,
			  const Callraft__MemberRole *roles, unsigned nc, char *why, size_t len)
{
	for (unsigned i = 0; i < nc; i++) {
		Callraft__Member *m = NULL;
		uint32_t oldest = 0, newest = 0;

		if (roles[i] != CALLRAFT__MEMBER_ROLE__SPARE)
			continue;
		if (state_member_get(n->state, ids[i], &m) == 0) {
			oldest = m->rules_oldest;
			newest = m->rules_newest;
			callraft__member__free_unpacked(m, NULL);
		}
		if (newest == 0) {
			snprintf(why, len, "member %" PRIu64 " is a spare and has not declared the rules "
				 "versions it can apply (raft sends a spare nothing, so it declares once it "
				 "is a standby or voter): assign it standby, or remove it", ids[i]);
			return true;
		}
		if (want != 0 && (want < oldest || want > newest)) {
			snprintf(why, len, "member %" PRIu64 " is a spare that can apply rules versions "
				 "%u..%u, not %u (as declared when it last received entries): upgrade its "
				 "binary and assign it standby so that it declares again, or remove it",
				 ids[i], oldest, newest, want);
			return true;
		}
	}
	return false;
}

/* The leader: `callraft rules upgrade [N]`, through the gate. */
static void upgrade(struct node *n, struct conn *c, Callraft__Request *req)
{
	uint64_t ids[CALLRAFT_MEMBERS_MAX];
	Callraft__MemberRole roles[CALLRAFT_MEMBERS_MAX];
	const char *addrs[CALLRAFT_MEMBERS_MAX];
	unsigned nc = repl_configuration(n->repl, ids, roles, addrs, CALLRAFT_MEMBERS_MAX);
	uint32_t want = req->rules_upgrade->version, version, active = state_rules_active(n->state);
	char why[256];

	if (want > CALLRAFT_RULES_VERSION_MAX) {
		conn_refuse(c, req, CALLRAFT__CODE__INVALID_ARGUMENT,
			    "rules upgrade: version %u is above the bound %d", want,
			    CALLRAFT_RULES_VERSION_MAX);
		return;
	}
	if (spare_refusal(n, want, ids, roles, nc, why, sizeof why) ||
	    state_rules_gate(n->state, want, ids, nc, &version, why, sizeof why) != 0) {
		if (want != 0)
			conn_refuse(c, req, CALLRAFT__CODE__BAD_STATE,
				    "rules upgrade to %u: refused: %s", want, why);
		else
			conn_refuse(c, req, CALLRAFT__CODE__BAD_STATE, "rules upgrade: refused: %s",
				    why);
		return;
	}
	if (version == active) {
		Callraft__Reply reply = CALLRAFT__REPLY__INIT;
		char msg[128];
		snprintf(msg, sizeof msg, "rules version %u is already active", active);
		reply.request_id = req->request_id;
		reply.message = msg;
		conn_send_reply(c, &reply);
		callraft__request__free_unpacked(req, NULL);
		return;
	}
	Callraft__Command *cmd = command_new();
	Callraft__RulesSet *set = calloc(1, sizeof *set);
	struct admin_op *op = NULL;
	if (cmd == NULL || set == NULL || (op = admin_op_new(n, c, req)) == NULL) {
		free(cmd), free(set);
		conn_refuse(c, req, CALLRAFT__CODE__UNAVAILABLE, "out of memory: retry");
		return;
	}
	callraft__rules_set__init(set);
	set->version = version;
	cmd->op_case = CALLRAFT__COMMAND__OP_RULES_SET;
	cmd->rules_set = set;
	LOG_EVENT(LOG_INFO, "rules_upgrade", LOG_FIELDS(LOG_U("version", version)),
		  "rules: raising the active rules version from %u to %u (every member declared it)",
		  active, version);
	if (write_append(n, cmd, op) != 0) { /* takes cmd in every case */
		conn_send_error(c, req->request_id, CALLRAFT__CODE__UNAVAILABLE, "out of memory: retry");
		admin_done(op);
	}
}

/* RulesShow: what the gate says now. On the leader (a linearizable read) the configuration is the
 * one `rules upgrade` would check; a stale read answers from this node's view. */
void rules_show(struct node *n, struct conn *c, uint64_t request_id)
{
	uint64_t ids[CALLRAFT_MEMBERS_MAX];
	Callraft__MemberRole roles[CALLRAFT_MEMBERS_MAX];
	const char *addrs[CALLRAFT_MEMBERS_MAX];
	unsigned nc = repl_configuration(n->repl, ids, roles, addrs, CALLRAFT_MEMBERS_MAX);
	uint32_t version = 0;
	char why[256];

	if (spare_refusal(n, 0, ids, roles, nc, why, sizeof why) ||
	    state_rules_gate(n->state, 0, ids, nc, &version, why, sizeof why) != 0) {
		char msg[300];
		snprintf(msg, sizeof msg, "rules upgrade: refused now: %s", why);
		status_members_reply(n, c, request_id, 0, msg);
		return;
	}
	status_members_reply(n, c, request_id, version, NULL);
}

void rules_request(struct node *n, struct conn *c, Callraft__Request *req)
{
	if (req->op_case == CALLRAFT__REQUEST__OP_RULES_DECLARE)
		declare(n, c, req);
	else
		upgrade(n, c, req);
}
