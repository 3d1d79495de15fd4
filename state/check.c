/* check.c: state_check, the debug check of the invariants that span tables (calls.c, routing.c).
 *
 *   1. A call is in the queue index iff it is WAITING, under exactly queue_key(call).
 *   2. An OFFERED or ANSWERED call names an agent who is ON_CALL with that call: so one call is
 *      held by at most one agent, and two agents can never both hold one call.
 *   3. An ON_CALL agent holds a call that is OFFERED or ANSWERED and names it.
 *   4. A SCHEDULED call has a release time and is not in the queue index (by 1).
 *   5. A call is in the site index iff it is WAITING with an arrival site, under site_wait_key;
 *      every waiting count equals the entries of its range (routing.c).
 *   6. The ready index (ready.c) holds one row per skill of each ready agent (AVAILABLE, push)
 *      under ready_key, and nothing else.
 *   7. The logical bytes of every table equal the sum over its records (quota.c).
 *   8. Stats interval records hold bounded, ordered buckets (stats_interval.c).
 *   9. Campaigns: C1-C3 of campaigns.c (their targets, calls and counters).
 *  10. The ticket due index holds the four keys of exactly the OPEN and IN_PROGRESS tickets
 *      (tickets.c invariant 4; ticket_classes.c).
 *  11. The free agents' counts (free_agents.c F1) equal the agents they count, and an AVAILABLE
 *      agent with a presence lease has its presence timer (F2).
 *  12. The active rules version is within its bound and every member's declared range is empty
 *      or well formed (rules.c R1, R4).
 * O(calls + agents); for tests and simulations. */
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

struct check {
	struct state *s;
	MDB_txn *txn;
	char *msg;
	size_t len;
	uint64_t ready_rows; /* rows the ready agents seen so far should have (invariant 6) */
};

static int bad(struct check *k, const char *what, const char *id)
{
	snprintf(k->msg, k->len, "invariant: %s '%s'", what, id);
	return -1;
}

static int check_call(struct check *k, const Callraft__Call *call)
{
	uint8_t key[QUEUE_KEY_BYTES_MAX];
	MDB_val qk = {queue_key(key, call), key}, qv;
	bool queued = mdb_get(k->txn, k->s->dbi[DB_QUEUE], &qk, &qv) == 0 &&
		      qv.mv_size == strlen(call->call_id) &&
		      memcmp(qv.mv_data, call->call_id, qv.mv_size) == 0;

	if (queued != (call->state == CALLRAFT__CALL_STATE__WAITING))
		return bad(k, queued ? "queued call not WAITING" : "WAITING call not queued",
			   call->call_id);
	if (call->arrival_site[0] != '\0') {
		uint8_t sk[SITE_WAIT_KEY_BYTES_MAX];
		MDB_val skv = {site_wait_key(sk, call->arrival_site, call->enqueued_ms,
					     call->enqueue_seq),
			       sk},
			sv;
		bool indexed = mdb_get(k->txn, k->s->dbi[DB_SITE_WAIT], &skv, &sv) == 0 &&
			       sv.mv_size == strlen(call->call_id) &&
			       memcmp(sv.mv_data, call->call_id, sv.mv_size) == 0;
		if (indexed != queued)
			return bad(k, queued ? "WAITING call not in the site index"
					     : "site index entry of a call not WAITING",
				   call->call_id);
	}
	if (call->state != CALLRAFT__CALL_STATE__OFFERED &&
	    call->state != CALLRAFT__CALL_STATE__ANSWERED)
		return 0;
	MDB_val ak = {strlen(call->agent_id), call->agent_id}, av;
	if (ak.mv_size == 0 || mdb_get(k->txn, k->s->dbi[DB_AGENTS], &ak, &av) != 0)
		return bad(k, "held call without its agent", call->call_id);
	Callraft__Agent *a = callraft__agent__unpack(NULL, av.mv_size, av.mv_data);
	bool ok = a != NULL && a->state == CALLRAFT__AGENT_STATE__ON_CALL &&
		  strcmp(a->call_id, call->call_id) == 0;
	if (a != NULL)
		callraft__agent__free_unpacked(a, NULL);
	return ok ? 0 : bad(k, "held call whose agent does not hold it", call->call_id);
}

static int check_agent(struct check *k, const Callraft__Agent *a)
{
	for (size_t i = 0; i < a->n_skills; i++) {
		uint8_t key[READY_KEY_BYTES_MAX];
		MDB_val rk = {ready_key(key, a->skills[i], a->since_ms, a->agent_id), key}, rv;
		bool row = mdb_get(k->txn, k->s->dbi[DB_READY], &rk, &rv) == 0;
		if (row != ready_is(a))
			return bad(k, row ? "ready row of an agent not ready" : "ready agent not indexed",
				   a->agent_id);
		k->ready_rows += row;
	}
	if (a->state == CALLRAFT__AGENT_STATE__AVAILABLE && a->presence_due_ms != 0) {
		uint8_t key[TIMER_KEY_BYTES_MAX];
		MDB_val tk = {timer_key(key, TIMER_PRESENCE, a->presence_due_ms, a->agent_id), key},
			tv;
		if (mdb_get(k->txn, k->s->dbi[DB_TIMERS], &tk, &tv) != 0)
			return bad(k, "AVAILABLE agent without its presence timer", a->agent_id);
	}
	if ((a->state == CALLRAFT__AGENT_STATE__ON_CALL) != (a->call_id[0] != '\0'))
		return bad(k, "agent ON_CALL iff call_id", a->agent_id);
	if (a->state != CALLRAFT__AGENT_STATE__ON_CALL)
		return 0;
	MDB_val ck = {strlen(a->call_id), a->call_id}, cv;
	if (mdb_get(k->txn, k->s->dbi[DB_CALLS], &ck, &cv) != 0)
		return bad(k, "agent holds a missing call", a->agent_id);
	Callraft__Call *call = callraft__call__unpack(NULL, cv.mv_size, cv.mv_data);
	bool ok = call != NULL &&
		  (call->state == CALLRAFT__CALL_STATE__OFFERED ||
		   call->state == CALLRAFT__CALL_STATE__ANSWERED) &&
		  strcmp(call->agent_id, a->agent_id) == 0;
	if (call != NULL)
		callraft__call__free_unpacked(call, NULL);
	return ok ? 0 : bad(k, "agent holds a call that names someone else", a->agent_id);
}

static int walk(struct check *k, enum state_db db)
{
	MDB_cursor *cur;
	MDB_val key, v;
	int rc = mdb_cursor_open(k->txn, k->s->dbi[db], &cur);

	if (rc != 0)
		return bad(k, "cursor", state_db_names[db]);
	for (rc = mdb_cursor_get(cur, &key, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT)) {
		int r;
		if (db == DB_CALLS) {
			Callraft__Call *call = callraft__call__unpack(NULL, v.mv_size, v.mv_data);
			r = call == NULL ? bad(k, "call does not unpack", "") : check_call(k, call);
			if (call != NULL)
				callraft__call__free_unpacked(call, NULL);
		} else if (db == DB_AGENTS) {
			Callraft__Agent *a = callraft__agent__unpack(NULL, v.mv_size, v.mv_data);
			r = a == NULL ? bad(k, "agent does not unpack", "") : check_agent(k, a);
			if (a != NULL)
				callraft__agent__free_unpacked(a, NULL);
		} else { /* DB_QUEUE: every entry names a call (whose key check_call verifies) */
			MDB_val ck = {v.mv_size, v.mv_data}, cv;
			r = mdb_get(k->txn, k->s->dbi[DB_CALLS], &ck, &cv) == 0
				? 0
				: bad(k, "queue entry without its call", "");
		}
		if (r != 0) {
			mdb_cursor_close(cur);
			return -1;
		}
	}
	mdb_cursor_close(cur);
	return 0;
}

/* Every waiting count equals the entries of its range (a queue's in DB_QUEUE, a site's in
 * DB_SITE_WAIT), and the counts cover every entry of both indexes. */
static int check_waiting(struct check *k)
{
	MDB_cursor *cur, *idx;
	MDB_val key, v;
	MDB_stat st;
	uint64_t sum[2] = {0, 0};
	int rc = mdb_cursor_open(k->txn, k->s->dbi[DB_WAITING], &cur);

	if (rc != 0)
		return bad(k, "cursor", "waiting");
	for (rc = mdb_cursor_get(cur, &key, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT)) {
		const uint8_t *kb = key.mv_data;
		bool site = kb[0] == 's';
		if (kb[0] == 'r') /* rank counters (queue_rank.c): tests compare positions with a walk */
			continue;
		if (kb[0] == 'a') /* answer rates (queue_wait.c): not counts */
			continue;
		char prefix[CALLRAFT_QUEUE_BYTES_MAX + CALLRAFT_SITE_BYTES_MAX + 2];
		size_t plen = key.mv_size - 1;
		uint64_t n = 0;
		if (v.mv_size != 8 || plen + 1 > sizeof prefix ||
		    mdb_cursor_open(k->txn, k->s->dbi[site ? DB_SITE_WAIT : DB_QUEUE], &idx) != 0) {
			mdb_cursor_close(cur);
			return bad(k, "waiting count record", "");
		}
		memcpy(prefix, kb + 1, plen);
		prefix[plen] = '\0';
		MDB_val ik = {plen + 1, prefix}, iv;
		for (int r = mdb_cursor_get(idx, &ik, &iv, MDB_SET_RANGE);
		     r == 0 && ik.mv_size > plen + 1 && memcmp(ik.mv_data, prefix, plen + 1) == 0;
		     r = mdb_cursor_get(idx, &ik, &iv, MDB_NEXT))
			n++;
		mdb_cursor_close(idx);
		if (n != be64_get(v.mv_data) || n == 0) {
			mdb_cursor_close(cur);
			return bad(k, "waiting count differs from its index", prefix);
		}
		sum[site] += n;
	}
	mdb_cursor_close(cur);
	if (mdb_stat(k->txn, k->s->dbi[DB_QUEUE], &st) != 0 || st.ms_entries != sum[0])
		return bad(k, "queue entries not all counted", "");
	if (mdb_stat(k->txn, k->s->dbi[DB_SITE_WAIT], &st) != 0 || st.ms_entries != sum[1])
		return bad(k, "site index entries not all counted", "");
	return 0;
}

/* The checks of the modules that keep their own tables (invariants 8 to 11, and idem.c's), in this
 * order; each returns 0, or -1 with the first violation in msg. */
static int (*const module_checks[])(struct state *s, MDB_txn *txn, char *msg, size_t msg_len) = {
	idem_check, stats_iv_check, tokens_check, campaigns_check, ticket_due_check,
	free_agents_check, rules_check,
};

int state_check(struct state *s, char *msg, size_t msg_len)
{
	struct check k = {s, NULL, msg, msg_len, 0};
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &k.txn);

	if (rc != 0)
		return bad(&k, "read transaction", mdb_strerror(rc));
	msg[0] = '\0';
	rc = walk(&k, DB_CALLS);
	if (rc == 0)
		rc = walk(&k, DB_AGENTS);
	if (rc == 0)
		rc = walk(&k, DB_QUEUE);
	if (rc == 0)
		rc = check_waiting(&k);
	for (size_t i = 0; rc == 0 && i < sizeof module_checks / sizeof module_checks[0]; i++)
		rc = module_checks[i](s, k.txn, msg, msg_len);
	if (rc == 0) {
		MDB_stat st;
		if (mdb_stat(k.txn, s->dbi[DB_READY], &st) != 0 || st.ms_entries != k.ready_rows)
			rc = bad(&k, "ready index rows without a ready agent", "");
	}
	if (rc == 0 && s->bytes_ready) {
		uint64_t sums[DB_COUNT];
		int wrc = quota_walk(s, k.txn, sums);
		for (int i = 0; rc == 0 && i < DB_COUNT; i++)
			if (wrc != 0 || sums[i] != s->bytes[i])
				rc = bad(&k, "logical bytes differ from the table's records",
					 state_db_names[i]);
	}
	mdb_txn_abort(k.txn);
	return rc;
}
