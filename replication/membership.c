/* membership.c: see membership.h.
 *
 * A change's life (one struct change, from membership_change to its end):
 *   started -> raft change in flight (change_cb) -> [add, remove] member entry appended
 *                                                -> [assign, transfer, failure] finished
 * Invariants:
 *   M1. A change ends exactly once: through hooks.finish, or by handing its op to a successful
 *       hooks.append (the entry's reply then goes to the client); the struct change is freed then.
 *   M2. A member entry is appended only after raft accepted the configuration change (or found it
 *       made already: a retried add), so the members table never names a member raft refused.
 *   M3. The initial members are recorded at most once per term of leadership (recorded_term). */
#include "membership.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repl_internal.h"

struct membership {
	struct repl *r;
	struct state *state;
	uint64_t self_id;
	struct membership_hooks hooks;
	const struct membership_initial *initial;
	unsigned n_initial;
	uint64_t recorded_term; /* term in which the initial members were recorded (M3) */
};

/* One change in flight. */
struct change {
	struct membership *m;
	const Callraft__Request *req; /* borrowed until the change ends */
	void *op;                     /* the caller's, handed back through the hooks */
	union {
		struct raft_change change;
		struct raft_transfer transfer;
	} raft;
};

struct membership *membership_new(struct repl *r, struct state *s, uint64_t self_id,
				  const struct membership_hooks *hooks,
				  const struct membership_initial *initial, unsigned n_initial)
{
	struct membership *m = malloc(sizeof *m);
	if (m != NULL)
		*m = (struct membership){.r = r, .state = s, .self_id = self_id, .hooks = *hooks,
					 .initial = initial, .n_initial = n_initial};
	return m;
}

void membership_free(struct membership *m)
{
	free(m);
}

/* ------------------------------------------------------------------------------------------------
 * Member entries: a MemberUpsert or MemberDelete command, on the heap (the batch frees it). */

static Callraft__Command *member_upsert_new(uint64_t id, const char *site, const char *raft_address,
					    const char *client_address, const char *http_address)
{
	Callraft__Command *cmd = calloc(1, sizeof *cmd);
	Callraft__MemberUpsert *up = calloc(1, sizeof *up);
	Callraft__Member *mem = calloc(1, sizeof *mem);

	if (cmd == NULL || up == NULL || mem == NULL)
		goto err;
	callraft__command__init(cmd);
	callraft__member_upsert__init(up);
	callraft__member__init(mem);
	mem->id = id;
	if ((mem->site = strdup(site ? site : "")) == NULL ||
	    (mem->raft_address = strdup(raft_address ? raft_address : "")) == NULL ||
	    (mem->client_address = strdup(client_address ? client_address : "")) == NULL ||
	    (mem->http_address = strdup(http_address ? http_address : "")) == NULL) {
		callraft__member__free_unpacked(mem, NULL);
		mem = NULL;
		goto err;
	}
	up->member = mem;
	cmd->op_case = CALLRAFT__COMMAND__OP_MEMBER_UPSERT;
	cmd->member_upsert = up;
	return cmd;
err:
	free(mem);
	free(up);
	free(cmd);
	return NULL;
}

static Callraft__Command *member_delete_new(uint64_t id)
{
	Callraft__Command *cmd = calloc(1, sizeof *cmd);
	Callraft__MemberDelete *del = calloc(1, sizeof *del);

	if (cmd == NULL || del == NULL) {
		free(cmd);
		free(del);
		return NULL;
	}
	callraft__command__init(cmd);
	callraft__member_delete__init(del);
	del->id = id;
	cmd->op_case = CALLRAFT__COMMAND__OP_MEMBER_DELETE;
	cmd->member_delete = del;
	return cmd;
}

/* ------------------------------------------------------------------------------------------------
 * Changes. */

static void change_end(struct change *ch, int status, const char *what)
{
	struct membership *m = ch->m;
	void *op = ch->op;
	char msg[320];

	free(ch);
	if (status == 0) {
		m->hooks.finish(m->hooks.data, op, CALLRAFT__CODE__OK, NULL);
		return;
	}
	snprintf(msg, sizeof msg, "%s: %s", what, raft_strerror(status));
	m->hooks.finish(m->hooks.data, op, repl_code(status), msg);
}

/* Appends the member entry of an add or remove whose raft change succeeded (M2). */
static void change_record(struct change *ch, bool del, const char *what)
{
	struct membership *m = ch->m;
	const Callraft__Request *req = ch->req;
	Callraft__Command *cmd;
	void *op = ch->op;

	if (del) {
		cmd = member_delete_new(req->member_remove->id);
	} else {
		const Callraft__MemberAdd *a = req->member_add;
		cmd = member_upsert_new(a->id, a->site, a->raft_address, a->client_address,
					a->http_address);
	}
	/* append takes the command even when it fails: the change then ends here (M1). */
	if (cmd == NULL || m->hooks.append(m->hooks.data, cmd, op) != 0)
		return change_end(ch, RAFT_NOMEM, what);
	free(ch); /* the reply goes out when the entry applies */
}

static void change_done(struct change *ch, int status)
{
	switch (ch->req->op_case) {
	case CALLRAFT__REQUEST__OP_MEMBER_ADD:
		if (status != 0 && status != RAFT_DUPLICATEID)
			return change_end(ch, status, "members add");
		return change_record(ch, false, "members add");
	case CALLRAFT__REQUEST__OP_MEMBER_REMOVE:
		if (status != 0)
			return change_end(ch, status, "members remove");
		return change_record(ch, true, "members remove");
	case CALLRAFT__REQUEST__OP_MEMBER_ASSIGN:
		return change_end(ch, status, "members assign");
	default:
		return change_end(ch, status, "members transfer");
	}
}

static void change_cb(struct raft_change *req, int status)
{
	change_done(req->data, status);
}

static void transfer_cb(struct raft_transfer *req)
{
	struct change *ch = req->data;
	/* A transfer can fail silently: report whether someone else leads now. */
	change_done(ch, raft_state(&ch->m->r->raft) == RAFT_LEADER ? RAFT_NOTLEADER : 0);
}

static int role_to_raft(Callraft__MemberRole role)
{
	return role == CALLRAFT__MEMBER_ROLE__VOTER     ? RAFT_VOTER
	       : role == CALLRAFT__MEMBER_ROLE__STANDBY ? RAFT_STANDBY
							: RAFT_SPARE;
}

/* Starts the raft side of `ch`; returns raft's code. A change already in effect (a retry) is done
 * at once: *done_now is set and 0 returned. */
static int change_start(struct change *ch, bool *done_now)
{
	struct membership *m = ch->m;
	struct raft *raft = &m->r->raft;
	const Callraft__Request *req = ch->req;
	uint64_t id;
	int rv;

	*done_now = false;
	ch->raft.change.data = ch;
	/* raft 0.22.1's legacy layer encodes the new configuration before its core refuses a second
	 * change in flight (RAFT_CANTCHANGE), and never frees that buffer: refuse here first, as
	 * the core would (a configuration entry not yet committed, or a promotion catching up). */
	if (req->op_case != CALLRAFT__REQUEST__OP_LEADER_TRANSFER && raft->state == RAFT_LEADER &&
	    (raft->configuration_uncommitted_index != 0 || raft->leader_state.promotee_id != 0)) {
		snprintf(m->r->errmsg, sizeof m->r->errmsg,
			 "raft: membership change: another change is in progress: retry once it "
			 "commits");
		return RAFT_CANTCHANGE;
	}
	switch (req->op_case) {
	case CALLRAFT__REQUEST__OP_MEMBER_ADD:
		id = req->member_add->id;
		rv = raft_add(raft, &ch->raft.change, id, req->member_add->raft_address, change_cb);
		if (rv == RAFT_DUPLICATEID) {
			/* a retried add: record the site and address again */
			*done_now = true;
			return RAFT_DUPLICATEID;
		}
		break;
	case CALLRAFT__REQUEST__OP_MEMBER_REMOVE:
		id = req->member_remove->id;
		rv = raft_remove(raft, &ch->raft.change, id, change_cb);
		break;
	case CALLRAFT__REQUEST__OP_MEMBER_ASSIGN: {
		int role = role_to_raft(req->member_assign->role);
		id = req->member_assign->id;
		/* A retried assign that already took effect is a success, not an error. */
		if (repl_role_of(m->r, id, NULL) == req->member_assign->role) {
			*done_now = true;
			return 0;
		}
		rv = raft_assign(raft, &ch->raft.change, id, role, change_cb);
		break;
	}
	case CALLRAFT__REQUEST__OP_LEADER_TRANSFER:
		id = req->leader_transfer->id;
		/* A retried transfer that already took effect (its reply was lost when leadership
		 * moved, and the retry reached the new leader) is a success, not an error. */
		if (id == m->self_id) {
			*done_now = true;
			return 0;
		}
		ch->raft.transfer.data = ch;
		rv = raft_transfer(raft, &ch->raft.transfer, id, transfer_cb);
		if (rv != 0)
			snprintf(m->r->errmsg, sizeof m->r->errmsg, "raft: transfer to %llu: %s",
				 (unsigned long long)id, raft_strerror(rv));
		return rv;
	default:
		snprintf(m->r->errmsg, sizeof m->r->errmsg, "operation %d is not an admin change",
			 (int)req->op_case);
		return RAFT_INVALID;
	}
	if (rv != 0)
		snprintf(m->r->errmsg, sizeof m->r->errmsg, "raft: membership change of %llu: %s",
			 (unsigned long long)id,
			 raft_errmsg(raft)[0] ? raft_errmsg(raft) : raft_strerror(rv));
	return rv;
}

void membership_change(struct membership *m, const Callraft__Request *req, void *op)
{
	struct change *ch = calloc(1, sizeof *ch);
	bool done_now;
	int rv;

	if (ch == NULL) {
		m->hooks.finish(m->hooks.data, op, CALLRAFT__CODE__UNAVAILABLE, "out of memory: retry");
		return;
	}
	ch->m = m;
	ch->req = req;
	ch->op = op;
	rv = change_start(ch, &done_now);
	if (done_now)
		return change_done(ch, rv);
	if (rv != 0) {
		char what[sizeof m->r->errmsg];
		snprintf(what, sizeof what, "%s", m->r->errmsg);
		change_end(ch, rv, what);
	}
}

/* ------------------------------------------------------------------------------------------------
 * Leadership. */

void membership_leader_ready(struct membership *m, uint64_t term)
{
	if (m->recorded_term == term)
		return;
	m->recorded_term = term;
	for (unsigned i = 0; i < m->n_initial; i++) {
		const struct membership_initial *in = &m->initial[i];
		Callraft__Member *rec = NULL;
		Callraft__Command *cmd;

		if (repl_role_of(m->r, in->id, NULL) == CALLRAFT__MEMBER_ROLE__ROLE_NONE)
			continue; /* removed since bootstrap */
		if (state_member_get(m->state, in->id, &rec) == 0) {
			/* Already recorded (possibly re-added with other values): the table wins. */
			callraft__member__free_unpacked(rec, NULL);
			continue;
		}
		cmd = member_upsert_new(in->id, in->site, in->raft_address, in->client_address,
					in->http_address);
		if (cmd != NULL)
			(void)m->hooks.append(m->hooks.data, cmd, NULL);
	}
}

static void transfer_away_cb(struct raft_transfer *req)
{
	free(req);
}

int membership_transfer_away(struct membership *m, const char **why)
{
	return membership_transfer_to(m, 0, why);
}

int membership_transfer_to(struct membership *m, uint64_t id, const char **why)
{
	struct raft_transfer *req = calloc(1, sizeof *req);
	int rv;

	*why = "started";
	if (req == NULL) {
		*why = raft_strerror(RAFT_NOMEM);
		return -1;
	}
	rv = raft_transfer(&m->r->raft, req, id, transfer_away_cb);
	if (rv != 0) {
		free(req);
		*why = raft_strerror(rv);
		return -1;
	}
	return 0;
}
