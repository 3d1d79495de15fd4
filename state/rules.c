/* rules.c: the cluster's FSM rules version (docs/design.md, "Rules versions").
 *
 * Business rule: every replica applies every entry by the same rules, or the replicas' tables part
 * for good. A release that changes how an entry is applied therefore numbers its rules: each binary
 * can apply the versions CALLRAFT_RULES_OLDEST..CALLRAFT_RULES_NEWEST (callraft_limits.h), and the
 * cluster applies by one active version, kept in the replicated state (meta "rules"; absent = 1,
 * so a store made before versions is at version 1). The active version moves only up, only through
 * a RulesSet entry, and only once every member has declared (RulesDeclare, written into its member
 * record) that its binary can apply the new version. A rolling upgrade is then safe: until the last
 * member runs the new binary, nothing switches the new rules on.
 *
 *   active 1 --RulesSet 2 (every member declares 2)--> active 2 --RulesSet 3--> ...
 *
 * Transitions: op_rules_set (the only writer of meta "rules"), op_rules_declare (a member's range),
 * op_member_upsert keeps a member's declared range (members.c).
 *
 * Invariants (state_check verifies 1 and 4; apply.c enforces 2 and 3):
 *   R1. 1 <= active <= CALLRAFT_RULES_VERSION_MAX, and active never decreases.
 *   R2. A RulesSet to N > active commits only if every member record declares oldest <= N <= newest;
 *       otherwise it is refused (BAD_STATE) and nothing changes, on every replica alike.
 *   R3. This binary never applies an entry it has no rules for: a state whose active version is
 *       above state_rules_newest (CALLRAFT_RULES_NEWEST), a RulesSet above it, or a command whose operation it does not
 *       know (an unknown field in place of the operation: a newer binary's). state_apply returns
 *       STATE_APPLY_RULES with nothing changed, and the node stops (CALLRAFT_EXIT_RULES). A known
 *       command that needs a version above the active one is refused (BAD_STATE) by every replica.
 *   R4. A member record declares 0..0 (not yet) or 1 <= oldest <= newest <= VERSION_MAX. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

uint32_t rules_needed(const Callraft__Command *cmd)
{
	/* Every operation is applied by version 1's rules unless state_rules_ops names it (a
	 * release that adds an operation applied only under a newer version names it there). */
	if (cmd->op_case == CALLRAFT__COMMAND__OP__NOT_SET)
		return 0;
	for (const struct state_rules_op *o = state_rules_ops; o->op_case != 0; o++)
		if (o->op_case == (int)cmd->op_case) {
			assert(o->version >= 2 && o->version <= CALLRAFT_RULES_VERSION_MAX);
			return o->version;
		}
	return 1;
}

int rules_active_get(struct state *s, MDB_txn *txn, uint32_t *out, char *errmsg, size_t errmsg_len)
{
	uint64_t v;

	if (store_meta_get(s, txn, META_RULES, &v, errmsg, errmsg_len) != 0)
		return -1;
	if (v > CALLRAFT_RULES_VERSION_MAX)
		return store_err(errmsg, errmsg_len, MDB_CORRUPTED, "meta 'rules' = %" PRIu64, v);
	*out = v == 0 ? 1 : (uint32_t)v; /* absent: a store made before versions (R1) */
	return 0;
}

uint32_t state_rules_active(struct state *s)
{
	MDB_txn *txn;
	char errmsg[128];
	uint32_t v = 0;

	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
		return 0;
	if (rules_active_get(s, txn, &v, errmsg, sizeof errmsg) != 0)
		v = 0;
	mdb_txn_abort(txn);
	return v;
}

uint32_t state_rules_needed(const Callraft__Command *cmd)
{
	return rules_needed(cmd);
}

int rules_entry_check(struct state *s, MDB_txn *txn, uint64_t index, const Callraft__Entry *e,
		      char *errmsg, size_t errmsg_len)
{
	uint32_t active;

	if (rules_active_get(s, txn, &active, errmsg, errmsg_len) != 0)
		return -1;
	if (active > state_rules_newest) {
		snprintf(errmsg, errmsg_len,
			 "rules: entry %" PRIu64 ": the cluster's active rules version is %u and this "
			 "binary applies versions %d..%u: install a binary that applies version %u on "
			 "this node",
			 index, active, CALLRAFT_RULES_OLDEST, state_rules_newest, active);
		return 1;
	}
	for (size_t i = 0; i < e->n_commands; i++) {
		const Callraft__Command *cmd = e->commands[i];
		if (cmd->op_case == CALLRAFT__COMMAND__OP__NOT_SET && cmd->base.n_unknown_fields > 0) {
			snprintf(errmsg, errmsg_len,
				 "rules: entry %" PRIu64 " command %zu: an operation this binary does not "
				 "know (field %u, from a newer binary; this one applies rules versions "
				 "%d..%u, the cluster's active version is %u): install the newer binary "
				 "on this node",
				 index, i, cmd->base.unknown_fields[0].tag, CALLRAFT_RULES_OLDEST,
				 state_rules_newest, active);
			return 1;
		}
		uint32_t want = rules_needed(cmd);
		if (cmd->op_case == CALLRAFT__COMMAND__OP_RULES_SET && cmd->rules_set != NULL &&
		    cmd->rules_set->version > want)
			want = cmd->rules_set->version;
		if (want > state_rules_newest) {
			snprintf(errmsg, errmsg_len,
				 "rules: entry %" PRIu64 " command %zu (%s) needs rules version %u and "
				 "this binary applies versions %d..%u: install a binary that applies "
				 "version %u on this node",
				 index, i, validate_op_name(cmd), want, CALLRAFT_RULES_OLDEST,
				 state_rules_newest, want);
			return 1;
		}
	}
	return 0;
}

int rules_command_allowed(struct apply_ctx *c, MDB_txn *txn, const Callraft__Command *cmd)
{
	uint32_t active, want = rules_needed(cmd);

	if (rules_active_get(c->s, txn, &active, c->errmsg, c->errmsg_len) != 0)
		return -1;
	if (want <= active)
		return 0;
	c->code = CALLRAFT__CODE__BAD_STATE;
	snprintf(c->msg, sizeof c->msg,
		 "%s: needs rules version %u, the cluster's active version is %u (callraft rules "
		 "upgrade)",
		 validate_op_name(cmd), want, active);
	return 1;
}

static int member_load(struct apply_ctx *c, uint64_t id, Callraft__Member **out)
{
	uint8_t key[8];
	char subject[24];

	be64_put(key, id);
	snprintf(subject, sizeof subject, "%" PRIu64, id);
	return store_get(c->s, c->txn, DB_MEMBERS, key, sizeof key, &callraft__member__descriptor,
			 (ProtobufCMessage **)out, "member", subject, c->errmsg, c->errmsg_len);
}

int op_rules_declare(struct apply_ctx *c, const Callraft__RulesDeclare *op)
{
	Callraft__Member *m;
	uint8_t key[8];
	char subject[24];
	int rc = member_load(c, op->member_id, &m);

	if (rc < 0)
		return -1;
	if (rc == 1) {
		c->code = CALLRAFT__CODE__NOT_FOUND;
		snprintf(c->msg, sizeof c->msg,
			 "rules_declare: member %" PRIu64 ": no member record yet (it declares again "
			 "once recorded)",
			 op->member_id);
		return 0;
	}
	assert(op->oldest >= 1 && op->oldest <= op->newest); /* state_validate (R4) */
	m->rules_oldest = op->oldest;
	m->rules_newest = op->newest;
	be64_put(key, op->member_id);
	snprintf(subject, sizeof subject, "%" PRIu64, op->member_id);
	rc = store_put(c->s, c->txn, DB_MEMBERS, key, sizeof key, &m->base, "member", subject,
		       c->errmsg, c->errmsg_len);
	callraft__member__free_unpacked(m, NULL);
	return rc;
}

/* The first member record that cannot apply version `v` (R2): 1 with its description in msg. */
struct gate_walk {
	uint32_t version;
	char *msg;
	size_t msg_len;
};

static int gate_each(void *arg, ProtobufCMessage *pm)
{
	struct gate_walk *g = arg;
	const Callraft__Member *m = (const Callraft__Member *)pm;

	if (m->rules_newest == 0) {
		snprintf(g->msg, g->msg_len, "member %" PRIu64 " has not declared the rules versions "
			 "it can apply (it does when its node starts)", m->id);
		return 1;
	}
	if (g->version < m->rules_oldest || g->version > m->rules_newest) {
		snprintf(g->msg, g->msg_len, "member %" PRIu64 " can apply rules versions %u..%u: "
			 "upgrade its binary or remove it", m->id, m->rules_oldest, m->rules_newest);
		return 1;
	}
	return 0;
}

int op_rules_set(struct apply_ctx *c, const Callraft__RulesSet *op)
{
	struct gate_walk g = {op->version, NULL, 0};
	char why[160];
	uint32_t active;
	int rc;

	if (rules_active_get(c->s, c->txn, &active, c->errmsg, c->errmsg_len) != 0)
		return -1;
	if (op->version < active) {
		c->code = CALLRAFT__CODE__BAD_STATE;
		snprintf(c->msg, sizeof c->msg, "rules_set %u: the active version is already %u "
			 "(versions never go down)", op->version, active);
		return 0;
	}
	if (op->version == active)
		return 0; /* a retry: nothing to do */
	g.msg = why;
	g.msg_len = sizeof why;
	rc = store_each(c->s, c->txn, DB_MEMBERS, &callraft__member__descriptor, gate_each, &g);
	if (rc == 1) {
		c->code = CALLRAFT__CODE__BAD_STATE;
		snprintf(c->msg, sizeof c->msg, "rules_set %u: %s", op->version, why);
		return 0;
	}
	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "rules_set: members");
	return store_meta_put(c->s, c->txn, META_RULES, op->version, c->errmsg, c->errmsg_len);
}

int state_rules_gate(struct state *s, uint32_t want, const uint64_t *ids, size_t n_ids,
		     uint32_t *version_out, char *msg, size_t msg_len)
{
	uint32_t lo = CALLRAFT_RULES_OLDEST, hi = CALLRAFT_RULES_VERSION_MAX, active;
	char errmsg[160];
	MDB_txn *txn;
	int rc = -1;

	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0) {
		snprintf(msg, msg_len, "rules: cannot read the state");
		return -1;
	}
	if (rules_active_get(s, txn, &active, errmsg, sizeof errmsg) != 0) {
		snprintf(msg, msg_len, "%s", errmsg);
		goto out_txn;
	}
	for (size_t i = 0; i < n_ids; i++) {
		Callraft__Member *m = NULL;
		uint8_t key[8];
		be64_put(key, ids[i]);
		if (store_get(s, txn, DB_MEMBERS, key, sizeof key, &callraft__member__descriptor,
			      (ProtobufCMessage **)&m, "member", "", errmsg, sizeof errmsg) != 0 ||
		    m->rules_newest == 0) {
			snprintf(msg, msg_len, "member %" PRIu64 " has not declared the rules versions "
				 "it can apply yet (it does when its node runs and reaches the leader)",
				 ids[i]);
			if (m != NULL)
				callraft__member__free_unpacked(m, NULL);
			goto out_txn;
		}
		if (want != 0 && (want < m->rules_oldest || want > m->rules_newest)) {
			snprintf(msg, msg_len, "member %" PRIu64 " can apply rules versions %u..%u, "
				 "not %u: upgrade its binary or remove it", ids[i], m->rules_oldest,
				 m->rules_newest, want);
			callraft__member__free_unpacked(m, NULL);
			goto out_txn;
		}
		lo = m->rules_oldest > lo ? m->rules_oldest : lo;
		hi = m->rules_newest < hi ? m->rules_newest : hi;
		callraft__member__free_unpacked(m, NULL);
	}
	*version_out = want != 0 ? want : (hi >= lo ? hi : 0);
	if (*version_out < active) {
		snprintf(msg, msg_len, "the active rules version is %u; the members can apply up to "
			 "%u (versions never go down)", active, *version_out);
		goto out_txn;
	}
	rc = 0;
out_txn:
	mdb_txn_abort(txn);
	return rc;
}

int rules_check(struct state *s, MDB_txn *txn, char *msg, size_t msg_len)
{
	uint32_t active;
	char errmsg[160];
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if (rules_active_get(s, txn, &active, errmsg, sizeof errmsg) != 0) {
		snprintf(msg, msg_len, "invariant R1: %s", errmsg);
		return -1;
	}
	if (mdb_cursor_open(txn, s->dbi[DB_MEMBERS], &cur) != 0) {
		snprintf(msg, msg_len, "invariant R4: cannot read members");
		return -1;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		Callraft__Member *m = callraft__member__unpack(NULL, v.mv_size, v.mv_data);
		bool ok = m != NULL &&
			  ((m->rules_oldest == 0 && m->rules_newest == 0) ||
			   (m->rules_oldest >= 1 && m->rules_oldest <= m->rules_newest &&
			    m->rules_newest <= CALLRAFT_RULES_VERSION_MAX));
		uint64_t id = m != NULL ? m->id : 0;
		if (m != NULL)
			callraft__member__free_unpacked(m, NULL);
		if (!ok) {
			mdb_cursor_close(cur);
			snprintf(msg, msg_len, "invariant R4: member %" PRIu64 ": bad rules range", id);
			return -1;
		}
	}
	mdb_cursor_close(cur);
	return 0;
}
