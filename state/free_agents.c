/* free_agents.c: how many agents are free to take a call of a queue now, the figure the pacing
 * of outbound campaigns (campaigns.c) reads every Tick, without walking the agents.
 *
 *   free_agents    skill -> be64 count of the counted agents with that skill (no row: 0)
 *
 * Counted: an agent AVAILABLE with a presence lease (presence_due_ms != 0). Free, as campaigns.c
 * defines it: counted, with the skill, and the lease still live (presence_due_ms > now). The two
 * differ only by agents whose lease lapsed but whose TIMER_PRESENCE has not fired yet (the Tick
 * releases campaign targets before it fires the timers that are due): free_agents_count finds them
 * among the timers already due, which is the work this Tick and the next will do anyway, and
 * subtracts them.
 *
 * ctx_put_agent calls free_agents_update with the stored record and the one being written, so
 * the counts follow every change of every agent whichever code path made it. A heartbeat of an
 * AVAILABLE agent moves its lease but not the count: it writes nothing here.
 *
 * Invariants (state_check):
 *   F1 every row's count equals the number of counted agents with its skill, and is not 0;
 *   F2 a counted agent has its presence timer (TIMER_PRESENCE at presence_due_ms): so a counted
 *      agent whose lease lapsed is found among the due timers (check.c).
 * A store written before this table gets its counts at open (free_agents_rebuild).
 * This file calls store.c only. */
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

static bool counted(const Callraft__Agent *a)
{
	return a != NULL && a->state == CALLRAFT__AGENT_STATE__AVAILABLE && a->presence_due_ms != 0;
}

static bool has_skill(const Callraft__Agent *a, const char *skill)
{
	for (size_t i = 0; i < a->n_skills; i++)
		if (strcmp(a->skills[i], skill) == 0)
			return true;
	return false;
}

/* Skills are a set (validate.c refuses a duplicate): same size and every one of a in b. */
static bool same_skills(const Callraft__Agent *a, const Callraft__Agent *b)
{
	if (a->n_skills != b->n_skills)
		return false;
	for (size_t i = 0; i < a->n_skills; i++)
		if (!has_skill(b, a->skills[i]))
			return false;
	return true;
}

static int get(struct state *s, MDB_txn *txn, const char *skill, uint64_t *out)
{
	return store_get_u64(s, txn, DB_FREE_AGENTS, skill, strlen(skill), out);
}

static int add(struct apply_ctx *c, const char *skill, int delta)
{
	uint64_t n;
	uint8_t b[8];
	int rc = get(c->s, c->txn, skill, &n);

	if (rc == 0 && delta < 0 && n == 0)
		rc = MDB_CORRUPTED; /* F1: a counted agent is in its skills' counts */
	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "free agents '%s'", skill);
	n = delta < 0 ? n - 1 : n + 1;
	if (n == 0)
		return store_del(c->s, c->txn, DB_FREE_AGENTS, skill, strlen(skill), "free agents",
				 skill, c->errmsg, c->errmsg_len) < 0
			   ? -1
			   : 0;
	be64_put(b, n);
	return store_put_raw(c->s, c->txn, DB_FREE_AGENTS, skill, strlen(skill), b, sizeof b,
			     "free agents", skill, c->errmsg, c->errmsg_len);
}

int free_agents_update(struct apply_ctx *c, const Callraft__Agent *old, const Callraft__Agent *now)
{
	bool was = counted(old), will = counted(now);

	if (was && will && same_skills(old, now))
		return 0; /* a heartbeat, a new lease, a name: the counts stay */
	for (size_t i = 0; was && i < old->n_skills; i++)
		if (add(c, old->skills[i], -1) != 0)
			return -1;
	for (size_t i = 0; will && i < now->n_skills; i++)
		if (add(c, now->skills[i], +1) != 0)
			return -1;
	return 0;
}

/* Counted agents with `skill` whose lease lapsed by now: the due TIMER_PRESENCE timers (timer key
 * be64(due_ms) kind agent_id, routing.c) of agents still counted at that lease (F2). */
static int lapsed(struct apply_ctx *c, const char *skill, uint64_t *out)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(c->txn, c->s->dbi[DB_TIMERS], &cur);

	*out = 0;
	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "free agents: timers");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const uint8_t *key = k.mv_data;
		if (k.mv_size <= 9 || k.mv_size > TIMER_KEY_BYTES_MAX) {
			rc = MDB_CORRUPTED;
			break;
		}
		int64_t due_ms = (int64_t)be64_get(key);
		if (due_ms > c->now_ms)
			break;
		if (key[8] != TIMER_PRESENCE)
			continue;
		char id[CALLRAFT_ID_BYTES_MAX + 1];
		Callraft__Agent *a;
		memcpy(id, key + 9, k.mv_size - 9);
		id[k.mv_size - 9] = '\0';
		int r = store_get(c->s, c->txn, DB_AGENTS, id, k.mv_size - 9,
				  &callraft__agent__descriptor, (ProtobufCMessage **)&a, "agent", id,
				  c->errmsg, c->errmsg_len);
		if (r < 0) {
			mdb_cursor_close(cur);
			return -1;
		}
		if (r == 0) {
			*out += counted(a) && a->presence_due_ms == due_ms && has_skill(a, skill);
			protobuf_c_message_free_unpacked(&a->base, NULL);
		}
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_err(c->errmsg, c->errmsg_len, rc, "free agents: timers");
	return 0;
}

int free_agents_count(struct apply_ctx *c, const char *skill, uint32_t *out)
{
	uint64_t n, gone;
	int rc = get(c->s, c->txn, skill, &n);

	*out = 0;
	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "free agents '%s'", skill);
	if (n == 0)
		return 0;
	if (lapsed(c, skill, &gone) != 0)
		return -1;
	if (gone > n || n - gone > UINT32_MAX) /* F1 */
		return store_err(c->errmsg, c->errmsg_len, MDB_CORRUPTED,
				 "free agents '%s': %llu counted, %llu lapsed", skill,
				 (unsigned long long)n, (unsigned long long)gone);
	*out = (uint32_t)(n - gone);
	return 0;
}

/* ---- a store written before the table, and the check --------------------------------------- */

static int rebuild_one(void *arg, ProtobufCMessage *m)
{
	return free_agents_update(arg, NULL, (const Callraft__Agent *)m) != 0 ? MDB_PANIC : 0;
}

int free_agents_rebuild(struct apply_ctx *c)
{
	MDB_stat st;
	int rc = mdb_stat(c->txn, c->s->dbi[DB_FREE_AGENTS], &st);

	if (rc == 0 && st.ms_entries != 0)
		return 0; /* kept by apply since this store had the table */
	if (rc == 0) /* empty: no agent free, or a store from before the table; the walk tells */
		rc = store_each(c->s, c->txn, DB_AGENTS, &callraft__agent__descriptor, rebuild_one,
				c);
	if (rc == MDB_PANIC) /* add's own message is in errmsg */
		return -1;
	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "free agents: rebuild");
	if ((rc = mdb_stat(c->txn, c->s->dbi[DB_FREE_AGENTS], &st)) != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "free agents: rebuild");
	return st.ms_entries != 0;
}

struct free_check {
	const char *skill; /* the row being checked, or NULL: sum over every skill */
	uint64_t n;
};

static int check_one(void *arg, ProtobufCMessage *m)
{
	const Callraft__Agent *a = (const Callraft__Agent *)m;
	struct free_check *k = arg;

	if (counted(a))
		k->n += k->skill != NULL ? has_skill(a, k->skill) : a->n_skills;
	return 0;
}

int free_agents_check(struct state *s, MDB_txn *txn, char *msg, size_t msg_len)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t rows = 0;
	struct free_check all = {NULL, 0};
	int rc = mdb_cursor_open(txn, s->dbi[DB_FREE_AGENTS], &cur);

	if (rc != 0) {
		snprintf(msg, msg_len, "invariant: free agents: cursor: %s", mdb_strerror(rc));
		return -1;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		char skill[CALLRAFT_QUEUE_BYTES_MAX + 1];
		struct free_check one = {skill, 0};
		if (k.mv_size == 0 || k.mv_size > CALLRAFT_QUEUE_BYTES_MAX || v.mv_size != 8)
			break;
		memcpy(skill, k.mv_data, k.mv_size);
		skill[k.mv_size] = '\0';
		if (store_each(s, txn, DB_AGENTS, &callraft__agent__descriptor, check_one, &one) != 0 ||
		    one.n == 0 || one.n != be64_get(v.mv_data)) {
			mdb_cursor_close(cur);
			snprintf(msg, msg_len, "invariant: free agents of '%s' differ from the agents",
				 skill);
			return -1;
		}
		rows += one.n;
	}
	if (rc == 0) { /* the loop broke on a bad row */
		mdb_cursor_close(cur);
		snprintf(msg, msg_len, "invariant: free agents: a malformed row");
		return -1;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND ||
	    store_each(s, txn, DB_AGENTS, &callraft__agent__descriptor, check_one, &all) != 0 ||
	    all.n != rows) {
		snprintf(msg, msg_len, "invariant: free agents: a counted agent's skill has no row");
		return -1;
	}
	return 0;
}
