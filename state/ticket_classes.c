/* ticket_classes.c: ticket classes and their targets (TicketClassConfigure, table
 * `ticket_classes`).
 *
 * Rules:
 *   - "urgent" and "follow-up" always exist; until configured they have the defaults of
 *     callraft_limits.h (targets 30 min and 72 h, due soon 10 min and 12 h before).
 *   - A supervisor sets a class's target_ms and due_soon_ms (each optional: absent leaves it);
 *     configuring a new name creates the class (at most CALLRAFT_TICKET_CLASSES_MAX configured).
 *     Without a due-soon time, a new class (or one whose new target is below its due-soon time)
 *     is due soon a quarter of its target before it. due_soon_ms > target_ms is refused.
 *   - A ticket's target is stamped when it opens (tickets.c): a change of a class's target
 *     applies to the tickets opened after it, never retargets open ones.
 *
 * Invariant: every stored record has 0 < target_ms <= CALLRAFT_TICKET_TARGET_MS_MAX and
 * 0 <= due_soon_ms <= target_ms. */
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

static bool builtin(const char *cls)
{
	return strcmp(cls, "urgent") == 0 || strcmp(cls, "follow-up") == 0;
}

void ticket_class_defaults(Callraft__TicketClassConfig *out, const char *cls)
{
	bool urgent = strcmp(cls, "urgent") == 0;

	*out = (Callraft__TicketClassConfig)CALLRAFT__TICKET_CLASS_CONFIG__INIT;
	out->ticket_class = (char *)cls;
	out->target_ms = urgent ? CALLRAFT_TICKET_URGENT_TARGET_MS
				: CALLRAFT_TICKET_FOLLOW_UP_TARGET_MS;
	out->due_soon_ms = urgent ? CALLRAFT_TICKET_URGENT_DUE_SOON_MS
				  : CALLRAFT_TICKET_FOLLOW_UP_DUE_SOON_MS;
}

int ticket_class_get(struct state *s, MDB_txn *txn, const char *cls,
		     Callraft__TicketClassConfig *out, char *errmsg, size_t errmsg_len)
{
	Callraft__TicketClassConfig *rec;
	int rc = store_get(s, txn, DB_TICKET_CLASSES, cls, strlen(cls),
			   &callraft__ticket_class_config__descriptor, (ProtobufCMessage **)&rec,
			   "ticket class", cls, errmsg, errmsg_len);

	ticket_class_defaults(out, cls);
	if (rc < 0)
		return -1;
	if (rc == 1)
		return builtin(cls) ? 0 : 1;
	out->target_ms = rec->target_ms;
	out->due_soon_ms = rec->due_soon_ms;
	out->configured = true;
	protobuf_c_message_free_unpacked(&rec->base, NULL);
	return 0;
}

int op_ticket_class_configure(struct apply_ctx *c, const Callraft__TicketClassConfigure *op)
{
	Callraft__TicketClassConfig tc;
	int rc = ticket_class_get(c->s, c->txn, op->ticket_class, &tc, c->errmsg, c->errmsg_len);

	if (rc < 0)
		return -1;
	if (rc == 1) {
		MDB_stat st;
		int e = mdb_stat(c->txn, c->s->dbi[DB_TICKET_CLASSES], &st);

		if (e != 0) {
			snprintf(c->errmsg, c->errmsg_len, "state: ticket classes: %s",
				 mdb_strerror(e));
			return -1;
		}
		if (st.ms_entries >= CALLRAFT_TICKET_CLASSES_MAX) {
			ctx_fail(c, CALLRAFT__CODE__RESOURCE_EXHAUSTED,
				 "ticket class '%s': too many classes (%d max)", op->ticket_class,
				 CALLRAFT_TICKET_CLASSES_MAX);
			return 0;
		}
	}
	if (op->target_ms != NULL)
		tc.target_ms = op->target_ms->value;
	/* A new class, or a target now below the due-soon time, without a due-soon time given:
	 * due soon a quarter of the target before it. */
	if (op->due_soon_ms == NULL && (rc == 1 || tc.due_soon_ms > tc.target_ms))
		tc.due_soon_ms = tc.target_ms / 4;
	if (op->due_soon_ms != NULL)
		tc.due_soon_ms = op->due_soon_ms->value;
	if (tc.due_soon_ms > tc.target_ms) {
		ctx_fail(c, CALLRAFT__CODE__INVALID_ARGUMENT,
			 "ticket class '%s': due_soon_ms %lld is above target_ms %lld",
			 op->ticket_class, (long long)tc.due_soon_ms, (long long)tc.target_ms);
		return 0;
	}
	tc.configured = true;
	if (store_put(c->s, c->txn, DB_TICKET_CLASSES, tc.ticket_class, strlen(tc.ticket_class),
		      &tc.base, "ticket class", tc.ticket_class, c->errmsg, c->errmsg_len) != 0)
		return -1;
	snprintf(c->msg, sizeof c->msg, "ticket class '%s' configured", tc.ticket_class);
	return 0;
}

/* ---- the due index ----------------------------------------------------------------------- */
/* Every OPEN or IN_PROGRESS ticket has four keys in DB_TICKET_DUE, one per scope a list can ask
 * for: 'a' (all), 'c' class '\0', 's' site '\0', 'b' class '\0' site '\0'; then be64(target_ms)
 * and the code, so that a list walks one scope in due order from where it needs (overdue: from
 * the start to now; due soon: from now on). The value is be64(target_ms - due_soon_ms). */

size_t ticket_due_prefix(uint8_t *out, char scope, const char *cls, const char *site)
{
	size_t n = 0, l;

	out[n++] = (uint8_t)scope;
	if (scope == 'c' || scope == 'b') {
		l = strlen(cls) + 1;
		memcpy(out + n, cls, l);
		n += l;
	}
	if (scope == 's' || scope == 'b') {
		l = strlen(site) + 1;
		memcpy(out + n, site, l);
		n += l;
	}
	return n;
}

static bool due_listed(Callraft__TicketStatus st)
{
	return st == CALLRAFT__TICKET_STATUS__OPEN || st == CALLRAFT__TICKET_STATUS__IN_PROGRESS;
}

static const char due_scopes[] = {'a', 'c', 's', 'b'};
#define DUE_KEY_BYTES_MAX (TICKET_DUE_PREFIX_MAX + 8 + 24)

/* The due key of ticket t in scope i of due_scopes. */
static size_t due_key(uint8_t key[DUE_KEY_BYTES_MAX], size_t i, const Callraft__Ticket *t)
{
	size_t n = ticket_due_prefix(key, due_scopes[i], t->ticket_class, t->site);
	size_t l = strlen(t->code);

	be64_put(key + n, (uint64_t)t->target_ms);
	memcpy(key + n + 8, t->code, l);
	return n + 8 + l;
}

int ticket_due_update(struct apply_ctx *c, const Callraft__Ticket *t, bool was_listed)
{
	bool listed = due_listed(t->status);
	uint8_t key[DUE_KEY_BYTES_MAX], val[8];

	if (listed == was_listed)
		return 0;
	be64_put(val, (uint64_t)(t->target_ms - t->due_soon_ms));
	for (size_t i = 0; i < sizeof due_scopes; i++) {
		size_t n = due_key(key, i, t);
		int rc = listed ? store_put_raw(c->s, c->txn, DB_TICKET_DUE, key, n, val, sizeof val,
						"ticket due", t->code, c->errmsg, c->errmsg_len)
				: store_del(c->s, c->txn, DB_TICKET_DUE, key, n, "ticket due", t->code,
					    c->errmsg, c->errmsg_len);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ---- the due index of a store written before it existed, and its check -------------------- */

/* store_each over the tickets: what apply would have written for one ticket. */
static int rebuild_one(void *arg, ProtobufCMessage *m)
{
	return ticket_due_update(arg, (const Callraft__Ticket *)m, false) != 0 ? MDB_PANIC : 0;
}

int ticket_due_rebuild(struct state *s, char *errmsg, size_t errmsg_len)
{
	struct apply_ctx c;
	uint64_t built = 0;
	int rc;

	if (ctx_begin_at_open(&c, s, "ticket due index", errmsg, errmsg_len) != 0)
		return -1;
	if (store_meta_get(s, c.txn, META_TICKET_DUE, &built, errmsg, errmsg_len) != 0) {
		mdb_txn_abort(c.txn);
		return -1;
	}
	if (built != 0) { /* kept by apply since this store had the index */
		mdb_txn_abort(c.txn);
		return 0;
	}
	/* Rebuilt from scratch: what apply would have written, ticket by ticket. */
	if ((rc = mdb_drop(c.txn, s->dbi[DB_TICKET_DUE], 0)) == 0)
		rc = store_each(s, c.txn, DB_TICKETS, &callraft__ticket__descriptor, rebuild_one,
				&c);
	if (rc == MDB_PANIC) { /* ticket_due_update's own message is in errmsg */
		mdb_txn_abort(c.txn);
		return -1;
	}
	if (rc == 0 && store_meta_put(s, c.txn, META_TICKET_DUE, 1, errmsg, errmsg_len) != 0)
		rc = MDB_PANIC;
	if (rc == 0)
		rc = mdb_txn_commit(c.txn);
	else
		mdb_txn_abort(c.txn);
	if (rc == MDB_PANIC)
		return -1;
	return rc == 0 ? 1 : store_err(errmsg, errmsg_len, rc, "open '%s': ticket due index", s->dir);
}

struct due_check {
	struct state *s;
	MDB_txn *txn;
	uint64_t rows;
	const char *bad; /* the code of a listed ticket missing a key */
};

static int check_one(void *arg, ProtobufCMessage *m)
{
	const Callraft__Ticket *t = (const Callraft__Ticket *)m;
	struct due_check *k = arg;
	uint8_t key[DUE_KEY_BYTES_MAX];
	static char code[32];

	if (!due_listed(t->status))
		return 0;
	for (size_t i = 0; i < sizeof due_scopes; i++) {
		MDB_val kv = {due_key(key, i, t), key}, v;
		if (mdb_get(k->txn, k->s->dbi[DB_TICKET_DUE], &kv, &v) != 0 || v.mv_size != 8 ||
		    be64_get(v.mv_data) != (uint64_t)(t->target_ms - t->due_soon_ms)) {
			snprintf(code, sizeof code, "%s", t->code);
			k->bad = code;
			return 1;
		}
	}
	k->rows += sizeof due_scopes;
	return 0;
}

int ticket_due_check(struct state *s, MDB_txn *txn, char *msg, size_t msg_len)
{
	struct due_check k = {s, txn, 0, NULL};
	MDB_stat st;
	int rc = store_each(s, txn, DB_TICKETS, &callraft__ticket__descriptor, check_one, &k);

	if (rc == 1) {
		snprintf(msg, msg_len, "invariant: ticket '%s' (open) is missing from the due index",
			 k.bad);
		return -1;
	}
	if (rc != 0 || (rc = mdb_stat(txn, s->dbi[DB_TICKET_DUE], &st)) != 0) {
		snprintf(msg, msg_len, "invariant: tickets: %s", mdb_strerror(rc));
		return -1;
	}
	if (st.ms_entries != k.rows) {
		snprintf(msg, msg_len,
			 "invariant: the ticket due index holds %zu rows, the open tickets %llu",
			 (size_t)st.ms_entries, (unsigned long long)k.rows);
		return -1;
	}
	return 0;
}
