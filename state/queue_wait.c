/* queue_wait.c: the expected wait of a waiting caller, from committed state (issue 16, item 7;
 * docs/routing.md section 7).
 *
 * What Asterisk announces next to the position is an estimated hold time. We derive it from how
 * fast the queue has been answering its callers: apply keeps, per queue, in DB_WAITING under scope
 * 'a' (next to the waiting counts and rank counters of queue_index.c and queue_rank.c):
 *
 *   'a' queue -> be64(last_answer_ms) be64(interval_ms) be64(samples)
 *
 * updated by every answer of a call of that queue (op_call_answer, FSM time only):
 *
 *   sample      = now - max(last_answer_ms, call->enqueued_ms), at least 0: the time the queue
 *                 took to answer one more caller. While callers wait the whole time it is the gap
 *                 between two answers (the queue's service interval); when the queue had run dry,
 *                 the gap also holds time with nobody to answer, so the answered caller's own wait
 *                 is taken instead.
 *   interval_ms = sample for the first answer; then (3 x interval_ms + sample) / 4, rounded (the
 *                 exponential average Asterisk keeps for its hold time, weight 1/4).
 *
 * expected wait of the caller at position p = p x interval_ms: the p callers up to and including
 * them are answered one interval apart. A queue that has answered nobody has no rate: the wait is
 * unknown (-1). Like the position, this is a figure about the queue's own order and recent pace,
 * not a promise: skills, known agents and sites decide who is answered next.
 *
 * Every replica applies the same answers at the same indexes with the same FSM time, so every
 * replica answers `call show` the same for the same applied index. The record is a few bytes per
 * queue, counted by quota.c like every other row. */
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

#define QUEUE_WAIT_REC_BYTES 24
#define QUEUE_WAIT_KEY_BYTES_MAX (1 + CALLRAFT_QUEUE_BYTES_MAX)
/* Weight of a new sample in the average: 1/QUEUE_WAIT_EWMA_DIV (Asterisk's holdtime uses 1/4):
 * recent enough to follow a shift change, steady enough that one slow answer does not double it. */
#define QUEUE_WAIT_EWMA_DIV 4

struct queue_wait {
	int64_t last_answer_ms;
	int64_t interval_ms;
	uint64_t samples;
};

static size_t queue_wait_key(uint8_t key[QUEUE_WAIT_KEY_BYTES_MAX], const char *queue)
{
	size_t n = strlen(queue);

	key[0] = 'a';
	memcpy(key + 1, queue, n);
	return n + 1;
}

/* 0 with *w (zeroes when the queue has none yet), or an LMDB error code. */
static int queue_wait_get(struct state *s, MDB_txn *txn, const char *queue, struct queue_wait *w)
{
	uint8_t key[QUEUE_WAIT_KEY_BYTES_MAX];
	MDB_val k = {queue_wait_key(key, queue), key}, v;
	int rc = mdb_get(txn, s->dbi[DB_WAITING], &k, &v);

	memset(w, 0, sizeof *w);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (v.mv_size != QUEUE_WAIT_REC_BYTES)
		return MDB_CORRUPTED;
	const uint8_t *p = v.mv_data;
	w->last_answer_ms = (int64_t)be64_get(p);
	w->interval_ms = (int64_t)be64_get(p + 8);
	w->samples = be64_get(p + 16);
	if (w->last_answer_ms < 0 || w->interval_ms < 0 || w->samples == 0)
		return MDB_CORRUPTED; /* a record is only written with an answer */
	return 0;
}

int queue_wait_answered(struct apply_ctx *c, const Callraft__Call *call)
{
	uint8_t key[QUEUE_WAIT_KEY_BYTES_MAX], val[QUEUE_WAIT_REC_BYTES];
	struct queue_wait w;
	int rc = queue_wait_get(c->s, c->txn, call->queue, &w);

	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "answer rate of queue '%s'",
				 call->queue);
	int64_t from = w.last_answer_ms > call->enqueued_ms ? w.last_answer_ms : call->enqueued_ms;
	int64_t sample = c->now_ms > from ? c->now_ms - from : 0;
	if (w.samples == 0)
		w.interval_ms = sample;
	else
		w.interval_ms = ((QUEUE_WAIT_EWMA_DIV - 1) * w.interval_ms + sample +
				 QUEUE_WAIT_EWMA_DIV / 2) /
				QUEUE_WAIT_EWMA_DIV;
	w.last_answer_ms = c->now_ms > w.last_answer_ms ? c->now_ms : w.last_answer_ms;
	w.samples += w.samples < UINT64_MAX;
	be64_put(val, (uint64_t)w.last_answer_ms);
	be64_put(val + 8, (uint64_t)w.interval_ms);
	be64_put(val + 16, w.samples);
	return store_put_raw(c->s, c->txn, DB_WAITING, key, queue_wait_key(key, call->queue), val,
			     sizeof val, "answer rate", call->queue, c->errmsg, c->errmsg_len);
}

int queue_wait_expected(struct state *s, MDB_txn *txn, const char *queue, uint64_t position,
			int64_t *wait_ms)
{
	struct queue_wait w;
	int rc = queue_wait_get(s, txn, queue, &w);

	*wait_ms = -1;
	if (rc != 0 || w.samples == 0)
		return rc;
	if (w.interval_ms != 0 && position > (uint64_t)(INT64_MAX / w.interval_ms))
		*wait_ms = INT64_MAX;
	else
		*wait_ms = (int64_t)position * w.interval_ms;
	return 0;
}
