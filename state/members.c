/* members.c: the member table, written only through the log (MemberUpsert, MemberDelete: the leader
 * records each member's site and client address on membership changes), and read by the node and
 * the admin CLI.
 *
 * A member's role and in_configuration come from the live Raft configuration, not from the log:
 * they are zeroed before storing so that replicas never store a guess about them. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

/* MEMBER_CHANGED when the record is new or its site or addresses change (a new leader records the
 * members again: that is no change). */
/* Also carries the rules range the member declared (rules.c) over to the new record `m`: the leader
 * writes MemberUpsert without it. */
static int member_event(struct apply_ctx *c, const uint8_t key[8], Callraft__Member *m)
{
	Callraft__Event ev = CALLRAFT__EVENT__INIT;
	Callraft__Member *old;
	bool same;
	int rc = store_get(c->s, c->txn, DB_MEMBERS, key, 8, &callraft__member__descriptor,
			   (ProtobufCMessage **)&old, "member", "old", c->errmsg, c->errmsg_len);

	if (rc < 0)
		return -1;
	same = rc == 0 && strcmp(old->site, m->site) == 0 &&
	       strcmp(old->raft_address, m->raft_address) == 0 &&
	       strcmp(old->client_address, m->client_address) == 0;
	if (old != NULL) {
		m->rules_oldest = old->rules_oldest;
		m->rules_newest = old->rules_newest;
		callraft__member__free_unpacked(old, NULL);
	}
	if (same)
		return 0;
	ev.kind = CALLRAFT__EVENT_KIND__MEMBER_CHANGED;
	ev.member_id = m->id;
	ev.site = m->site;
	return event_emit(c, &ev);
}

int op_member_upsert(struct apply_ctx *c, const Callraft__MemberUpsert *op)
{
	Callraft__Member m = *op->member;
	uint8_t key[8];
	char subject[24];

	assert(m.id != 0); /* state_validate */
	m.base.n_unknown_fields = 0; /* never store what this version cannot read */
	m.base.unknown_fields = NULL;
	m.role = CALLRAFT__MEMBER_ROLE__ROLE_NONE;
	m.in_configuration = 0;
	m.rules_oldest = 0; /* only RulesDeclare sets them (rules.c); member_event keeps the old */
	m.rules_newest = 0;
	be64_put(key, m.id);
	snprintf(subject, sizeof subject, "%llu", (unsigned long long)m.id);
	if (member_event(c, key, &m) != 0)
		return -1;
	return store_put(c->s, c->txn, DB_MEMBERS, key, sizeof key, &m.base, "member", subject,
			 c->errmsg, c->errmsg_len);
}

int op_member_delete(struct apply_ctx *c, const Callraft__MemberDelete *op)
{
	uint8_t key[8];
	char subject[24];

	be64_put(key, op->id);
	snprintf(subject, sizeof subject, "%llu", (unsigned long long)op->id);
	/* Deleting an absent member is OK: the leader may write the same removal twice. */
	int rc = store_del(c->s, c->txn, DB_MEMBERS, key, sizeof key, "member", subject, c->errmsg,
			   c->errmsg_len);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	Callraft__Event ev = CALLRAFT__EVENT__INIT;
	ev.kind = CALLRAFT__EVENT_KIND__MEMBER_REMOVED;
	ev.member_id = op->id;
	return event_emit(c, &ev);
}

int state_member_get(struct state *s, uint64_t id, Callraft__Member **out)
{
	MDB_txn *txn;
	uint8_t key[8];
	char errmsg[256];
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);

	*out = NULL;
	if (rc != 0)
		return -1;
	be64_put(key, id);
	rc = store_get(s, txn, DB_MEMBERS, key, sizeof key, &callraft__member__descriptor,
		       (ProtobufCMessage **)out, "member", "", errmsg, sizeof errmsg);
	mdb_txn_abort(txn);
	return rc == 0 ? 0 : -1;
}

size_t state_members(struct state *s, Callraft__Member **out, size_t max)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t n = 0;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);

	if (rc != 0)
		return 0;
	if (mdb_cursor_open(txn, s->dbi[DB_MEMBERS], &cur) != 0)
		goto out_txn;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && n < max;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		out[n] = callraft__member__unpack(NULL, v.mv_size, v.mv_data);
		if (out[n] != NULL) /* a record that does not unpack is left out, never half read */
			n++;
	}
	mdb_cursor_close(cur);
out_txn:
	mdb_txn_abort(txn);
	return n;
}
