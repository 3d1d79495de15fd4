/* queue_index.c: the queue index and what is kept with it (see the section comment below): the
 * order in which waiting callers are served (routing.c picks from it) and the counts stats read.
 *
 * It touches DB_QUEUE, DB_SITE_WAIT and DB_WAITING only, through store.c; callers keep the call
 * record itself (ctx_put_call) and the stats counters (stats.c) in step. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

/* ---- the queue index and what is kept with it -------------------------------------------
 *
 * Every WAITING call has one entry in DB_QUEUE (queue_key), one in DB_SITE_WAIT if it has an
 * arrival site, and counts once in DB_WAITING for its queue and for its site: stats read the
 * counts and the oldest entries instead of walking a queue that may be a million calls deep. */

#define WAITING_KEY_BYTES_MAX (1 + (CALLRAFT_QUEUE_BYTES_MAX > CALLRAFT_SITE_BYTES_MAX \
					? CALLRAFT_QUEUE_BYTES_MAX                      \
					: CALLRAFT_SITE_BYTES_MAX))

size_t site_wait_key(uint8_t *out, const char *site, int64_t enqueued_ms, uint64_t seq)
{
	size_t n = strlen(site);

	assert(n >= 1 && n <= CALLRAFT_SITE_BYTES_MAX);
	memcpy(out, site, n);
	out[n] = '\0';
	be64_put(out + n + 1, (uint64_t)enqueued_ms);
	be64_put(out + n + 9, seq);
	return n + 17;
}

static size_t waiting_key(uint8_t key[WAITING_KEY_BYTES_MAX], char scope, const char *name)
{
	size_t n = strlen(name);

	key[0] = (uint8_t)scope;
	memcpy(key + 1, name, n);
	return n + 1;
}

int waiting_count(struct state *s, MDB_txn *txn, char scope, const char *name, uint64_t *out)
{
	uint8_t key[WAITING_KEY_BYTES_MAX];

	return store_get_u64(s, txn, DB_WAITING, key, waiting_key(key, scope, name), out);
}

static int waiting_add(struct apply_ctx *c, char scope, const char *name, int delta)
{
	uint8_t key[WAITING_KEY_BYTES_MAX], val[8];
	size_t klen = waiting_key(key, scope, name);
	uint64_t count;
	int rc = waiting_count(c->s, c->txn, scope, name, &count);

	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "waiting count of '%s'", name);
	if (delta < 0 && count == 0) /* the index and the counts disagree: refuse to go on */
		return store_err(c->errmsg, c->errmsg_len, MDB_CORRUPTED, "waiting count of '%s'",
				 name);
	count = delta < 0 ? count - 1 : count + 1;
	if (count == 0)
		return store_del(c->s, c->txn, DB_WAITING, key, klen, "waiting count", name,
				 c->errmsg, c->errmsg_len) < 0
			   ? -1
			   : 0;
	be64_put(val, count);
	return store_put_raw(c->s, c->txn, DB_WAITING, key, klen, val, 8, "waiting count", name,
			     c->errmsg, c->errmsg_len);
}

static int waiting_index_add(struct apply_ctx *c, const Callraft__Call *call, bool counts,
			     bool rank);

int route_queue_put(struct apply_ctx *c, const Callraft__Call *call)
{
	uint8_t key[QUEUE_KEY_BYTES_MAX];
	size_t key_len = queue_key(key, call);
	MDB_val k = {key_len, key}, v;
	int rc;

	assert(call->state == CALLRAFT__CALL_STATE__WAITING);
	rc = mdb_get(c->txn, c->s->dbi[DB_QUEUE], &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_err(c->errmsg, c->errmsg_len, rc, "queue entry '%s'", call->call_id);
	bool present = rc == 0;
	ready_note_queue(c, call->queue); /* a waiting call: a ready agent may take it (assign.c) */
	if (store_put_raw(c->s, c->txn, DB_QUEUE, key, key_len, call->call_id,
			  strlen(call->call_id), "queue entry", call->call_id, c->errmsg,
			  c->errmsg_len) != 0)
		return -1;
	if (present) /* the same place again: already indexed and counted */
		return 0;
	return waiting_index_add(c, call, true, true);
}

static int waiting_index_add(struct apply_ctx *c, const Callraft__Call *call, bool counts,
			     bool rank)
{
	if (rank && rank_add(c, call, +1) != 0) /* queue_rank.c */
		return -1;
	if (!counts)
		return 0;
	if (waiting_add(c, 'q', call->queue, +1) != 0)
		return -1;
	if (call->arrival_site[0] == '\0')
		return 0;
	uint8_t sk[SITE_WAIT_KEY_BYTES_MAX];
	return (store_put_raw(c->s, c->txn, DB_SITE_WAIT, sk,
			      site_wait_key(sk, call->arrival_site, call->enqueued_ms,
					    call->enqueue_seq),
			      call->call_id, strlen(call->call_id), "site wait entry", call->call_id,
			      c->errmsg, c->errmsg_len) != 0 ||
		waiting_add(c, 's', call->arrival_site, +1) != 0)
		   ? -1
		   : 0;
}

int route_waiting_rebuild(struct state *s, char *errmsg, size_t errmsg_len)
{
	struct apply_ctx c;
	MDB_cursor *cur;
	MDB_stat st;
	MDB_val k, v;
	int rc;

	if (ctx_begin_at_open(&c, s, "waiting counts", errmsg, errmsg_len) != 0)
		return -1;
	bool counts, rank;
	if ((rc = mdb_stat(c.txn, s->dbi[DB_WAITING], &st)) != 0 ||
	    (rc = rank_present(s, c.txn, &rank)) != 0)
		goto done;
	counts = st.ms_entries == 0;
	rank = !rank; /* a store written before the rank counters (queue_rank.c): add them */
	if (!counts && !rank)
		goto done; /* kept since the state was made: nothing to rebuild */
	if ((rc = mdb_cursor_open(c.txn, s->dbi[DB_QUEUE], &cur)) != 0)
		goto done;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		Callraft__Call *call;
		char id[CALLRAFT_ID_BYTES_MAX + 1];
		if (v.mv_size > CALLRAFT_ID_BYTES_MAX) {
			rc = MDB_CORRUPTED;
			break;
		}
		memcpy(id, v.mv_data, v.mv_size);
		id[v.mv_size] = '\0';
		if (store_get(s, c.txn, DB_CALLS, id, v.mv_size, &callraft__call__descriptor,
			      (ProtobufCMessage **)&call, "call", id, errmsg, errmsg_len) != 0) {
			rc = MDB_CORRUPTED;
			break;
		}
		int r = waiting_index_add(&c, call, counts, rank);
		callraft__call__free_unpacked(call, NULL);
		if (r != 0) {
			mdb_cursor_close(cur);
			mdb_txn_abort(c.txn);
			return -1;
		}
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		rc = 0;
done:
	if (rc != 0) {
		mdb_txn_abort(c.txn);
		return store_err(errmsg, errmsg_len, rc, "open '%s': rebuild waiting counts", s->dir);
	}
	rc = mdb_txn_commit(c.txn);
	return rc == 0 ? 0 : store_err(errmsg, errmsg_len, rc, "open '%s': commit", s->dir);
}

int route_queue_del(struct apply_ctx *c, const Callraft__Call *call)
{
	uint8_t key[QUEUE_KEY_BYTES_MAX];
	int rc = store_del(c->s, c->txn, DB_QUEUE, key, queue_key(key, call), "queue entry",
			   call->call_id, c->errmsg, c->errmsg_len);

	if (rc != 0)
		return rc;
	if (rank_add(c, call, -1) != 0 || waiting_add(c, 'q', call->queue, -1) != 0)
		return -1;
	if (call->arrival_site[0] == '\0')
		return 0;
	uint8_t sk[SITE_WAIT_KEY_BYTES_MAX];
	rc = store_del(c->s, c->txn, DB_SITE_WAIT, sk,
		       site_wait_key(sk, call->arrival_site, call->enqueued_ms, call->enqueue_seq),
		       "site wait entry", call->call_id, c->errmsg, c->errmsg_len);
	if (rc != 0) /* absent: the indexes disagree */
		return rc < 0 ? -1
			      : store_err(c->errmsg, c->errmsg_len, MDB_CORRUPTED,
					  "site wait entry of '%s'", call->call_id);
	return waiting_add(c, 's', call->arrival_site, -1);
}
