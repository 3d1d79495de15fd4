/* queue_rank.c: a waiting caller's position in the routing order, from committed state, in
 * O(log n) per read at any queue depth (issue 16, item 7; docs/routing.md section 7).
 *
 * LMDB keeps keys in order but cannot count a range without walking it, and a queue may be a
 * million calls deep. So, next to the queue index (queue_index.c), apply keeps rank counters in
 * DB_WAITING under scope 'r':
 *
 *   'r' queue '\0' (255 - tier) level be64(enqueued_ms >> (RANK_BITS * level)) -> be64 count
 *
 * for level 0..RANK_LEVELS-1: the number of waiting calls of that queue and tier whose
 * enqueued_ms falls in that bucket (64^level ms wide). Every call that enters the queue index adds
 * one to RANK_LEVELS counters and every call that leaves takes them back, in the same transaction;
 * a counter that reaches 0 is deleted. The calls of (queue, tier) enqueued before time E are then
 * at most 63 counters per level, read with one seek and up to 63 steps: O(RANK_LEVELS x 64)
 * cursor steps plus RANK_LEVELS seeks (each O(log n)), independent of the queue's depth. Calls
 * enqueued in the very same millisecond as the caller are ordered by enqueue_seq and counted by
 * walking those few entries of the queue index.
 *
 * The routing order (routing.c): priority(call) = 1000 + tier for tier >= top_tier; else
 * min(tier + floor(waited / aging_ms_per_tier), top_tier - 1); then earliest enqueued_ms, then
 * lowest enqueue_seq. Within one tier priority only grows with the wait, so the calls of tier t
 * ahead of the caller are those with (enqueued_ms, seq) below one bound K_t, computed from the
 * caller's priority P: with lo = now - (P - t + 1) * aging and hi = now - (P - t) * aging (lo =
 * -inf when P is the cap top_tier - 1), a call of tier t is ahead if enqueued <= lo (priority > P)
 * or lo < enqueued <= hi and (enqueued, seq) < the caller's (same priority, earlier). Position =
 * 1 + the sum over the (at most CALLRAFT_TIER_MAX + 1) tiers. It is the place in the queue's own
 * order, as Asterisk announces it; which agent takes which caller also depends on skills, known
 * agents and sites, so it is not a promise about which caller is answered next. */
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

#define RANK_BITS 6
#define RANK_FAN (1u << RANK_BITS)
#define RANK_LEVELS 8 /* 6 x 8 = 48 bits of milliseconds: the year 10889 */
#define RANK_TIME_MAX (((int64_t)1 << (RANK_BITS * RANK_LEVELS)) - 1)
#define RANK_PREFIX_BYTES_MAX (1 + CALLRAFT_QUEUE_BYTES_MAX + 1 + 1 + 1)
#define RANK_KEY_BYTES_MAX (RANK_PREFIX_BYTES_MAX + 8)

static int64_t rank_clamp(int64_t ms)
{
	return ms < 0 ? 0 : ms > RANK_TIME_MAX ? RANK_TIME_MAX : ms;
}

/* 'r' queue '\0' tier-byte level: the prefix of one level's counters. */
static size_t rank_prefix(uint8_t out[RANK_PREFIX_BYTES_MAX], const char *queue, uint32_t tier,
			  unsigned level)
{
	size_t n = strlen(queue);

	out[0] = 'r';
	memcpy(out + 1, queue, n);
	out[n + 1] = '\0';
	out[n + 2] = (uint8_t)(255 - tier);
	out[n + 3] = (uint8_t)level;
	return n + 4;
}

int rank_add(struct apply_ctx *c, const Callraft__Call *call, int delta)
{
	uint64_t e = (uint64_t)rank_clamp(call->enqueued_ms);

	for (unsigned level = 0; level < RANK_LEVELS; level++) {
		uint8_t key[RANK_KEY_BYTES_MAX], val[8];
		size_t klen = rank_prefix(key, call->queue, call->tier, level);
		be64_put(key + klen, e >> (RANK_BITS * level));
		klen += 8;
		MDB_val k = {klen, key}, v;
		uint64_t count = 0;
		int rc = mdb_get(c->txn, c->s->dbi[DB_WAITING], &k, &v);
		if (rc == 0 && v.mv_size == 8)
			count = be64_get(v.mv_data);
		else if (rc != MDB_NOTFOUND)
			return store_err(c->errmsg, c->errmsg_len, rc == 0 ? MDB_CORRUPTED : rc,
					 "rank count of '%s'", call->call_id);
		if (delta < 0 && count == 0) /* the index and the counters disagree */
			return store_err(c->errmsg, c->errmsg_len, MDB_CORRUPTED,
					 "rank count of '%s'", call->call_id);
		count = delta < 0 ? count - 1 : count + 1;
		if (count == 0)
			rc = store_del(c->s, c->txn, DB_WAITING, key, klen, "rank count",
				       call->call_id, c->errmsg, c->errmsg_len) < 0
				     ? -1
				     : 0;
		else {
			be64_put(val, count);
			rc = store_put_raw(c->s, c->txn, DB_WAITING, key, klen, val, 8, "rank count",
					   call->call_id, c->errmsg, c->errmsg_len);
		}
		if (rc != 0)
			return -1;
	}
	return 0;
}

int rank_present(struct state *s, MDB_txn *txn, bool *out)
{
	MDB_cursor *cur;
	MDB_val k = {1, "r"}, v;
	int rc = mdb_cursor_open(txn, s->dbi[DB_WAITING], &cur);

	*out = false;
	if (rc != 0)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	mdb_cursor_close(cur);
	if (rc == 0)
		*out = ((const uint8_t *)k.mv_data)[0] == 'r';
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The calls of (queue, tier) enqueued before e (ms). */
static int count_before(MDB_cursor *cur, const char *queue, uint32_t tier, int64_t e,
			uint64_t *out)
{
	*out = 0;
	if (e <= 0)
		return 0;
	if (e > RANK_TIME_MAX + 1) /* everything: the sum of the top level */
		e = RANK_TIME_MAX + 1;
	for (unsigned level = 0; level < RANK_LEVELS; level++) {
		uint8_t key[RANK_KEY_BYTES_MAX];
		size_t plen = rank_prefix(key, queue, tier, level);
		uint64_t b = (uint64_t)e >> (RANK_BITS * level);
		uint64_t lo = level + 1 < RANK_LEVELS ? b & ~(uint64_t)(RANK_FAN - 1) : 0;
		be64_put(key + plen, lo);
		MDB_val k = {plen + 8, key}, v;
		int rc;
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			if (k.mv_size != plen + 8 || memcmp(k.mv_data, key, plen) != 0 ||
			    be64_get((const uint8_t *)k.mv_data + plen) >= b)
				break;
			if (v.mv_size != 8)
				return MDB_CORRUPTED;
			*out += be64_get(v.mv_data);
		}
		if (rc != 0 && rc != MDB_NOTFOUND)
			return rc;
	}
	return 0;
}

/* The calls of (queue, tier) enqueued at exactly e with enqueue_seq < seq: a walk of the queue
 * index over that one millisecond. */
static int count_same_ms(MDB_cursor *qcur, const char *queue, uint32_t tier, int64_t e,
			 uint64_t seq, uint64_t *out)
{
	Callraft__Call probe = CALLRAFT__CALL__INIT;
	uint8_t key[QUEUE_KEY_BYTES_MAX];
	size_t klen, plen;
	int rc;

	*out = 0;
	probe.queue = (char *)queue;
	probe.tier = tier;
	probe.enqueued_ms = e;
	probe.enqueue_seq = 0;
	klen = queue_key(key, &probe);
	plen = klen - 8; /* queue '\0' tier enqueued_ms */
	MDB_val k = {klen, key}, v;
	for (rc = mdb_cursor_get(qcur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(qcur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != klen || memcmp(k.mv_data, key, plen) != 0 ||
		    be64_get((const uint8_t *)k.mv_data + plen) >= seq)
			break;
		(*out)++;
	}
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The calls of (queue, tier) whose (enqueued_ms, seq) is below (e, seq); seq UINT64_MAX: all
 * of millisecond e included. */
static int count_below(MDB_cursor *rcur, MDB_cursor *qcur, const char *queue, uint32_t tier,
		       int64_t e, uint64_t seq, uint64_t *out)
{
	uint64_t same = 0;
	int rc;

	if (seq == UINT64_MAX)
		return count_before(rcur, queue, tier, e + 1, out);
	if ((rc = count_before(rcur, queue, tier, e, out)) != 0 ||
	    (e >= 0 && (rc = count_same_ms(qcur, queue, tier, e, seq, &same)) != 0))
		return rc;
	*out += same;
	return 0;
}

struct bound {
	int64_t e;
	uint64_t seq; /* UINT64_MAX: the whole millisecond e */
};

static bool bound_less(struct bound a, struct bound b)
{
	return a.e != b.e ? a.e < b.e : a.seq < b.seq;
}

int queue_position(struct state *s, MDB_txn *txn, int64_t now_ms, const Callraft__Call *call,
		   const Callraft__QueueConfig *cfg, int priority, uint64_t *position)
{
	MDB_cursor *rcur = NULL, *qcur = NULL;
	const struct bound me = {call->enqueued_ms, call->enqueue_seq};
	int p = priority; /* route_effective_priority(call, cfg, now_ms), by the caller */
	int64_t aging = cfg->aging_ms_per_tier;
	bool top = call->tier >= cfg->top_tier;
	uint64_t ahead = 0;
	int rc;

	if ((rc = mdb_cursor_open(txn, s->dbi[DB_WAITING], &rcur)) != 0 ||
	    (rc = mdb_cursor_open(txn, s->dbi[DB_QUEUE], &qcur)) != 0)
		goto done;
	for (uint32_t t = 0; t <= CALLRAFT_TIER_MAX && rc == 0; t++) {
		struct bound k = {INT64_MIN, 0}; /* nothing of tier t ahead */
		uint64_t n = 0;
		if (t >= cfg->top_tier) { /* top tiers: by tier, then arrival; never aged */
			if (!top || t > call->tier)
				k = (struct bound){INT64_MAX, UINT64_MAX};
			else if (t == call->tier)
				k = me;
		} else if (top) {
			continue; /* a top-tier caller is ahead of every lower tier */
		} else if (aging <= 0 || (int64_t)t > p) {
			if ((int64_t)t > p)
				k = (struct bound){INT64_MAX, UINT64_MAX};
			else if (t == call->tier)
				k = me;
		} else {
			/* lo: priority above p up to here; hi: priority p up to here */
			int64_t hi = now_ms - ((int64_t)p - t) * aging;
			struct bound lo = {INT64_MIN, 0};
			if (p < (int)cfg->top_tier - 1)
				lo = (struct bound){now_ms - ((int64_t)p - t + 1) * aging, UINT64_MAX};
			struct bound h = {hi, UINT64_MAX};
			struct bound m = bound_less(me, h) ? me : h;
			k = bound_less(lo, m) ? m : lo;
		}
		if (k.e == INT64_MIN)
			continue;
		if (k.e == INT64_MAX)
			rc = count_before(rcur, call->queue, t, RANK_TIME_MAX + 1, &n);
		else if (k.e >= 0)
			rc = count_below(rcur, qcur, call->queue, t, k.e, k.seq, &n);
		ahead += n;
	}
done:
	if (qcur != NULL)
		mdb_cursor_close(qcur);
	if (rcur != NULL)
		mdb_cursor_close(rcur);
	*position = ahead + 1;
	return rc;
}
