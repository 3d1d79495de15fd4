/* sim_digest.c: the crash simulation's incremental state digest (see sim_digest.h). */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_digest.h"

#define SIMDIGEST_ENVS_MAX 32 /* open environments at once: 5 nodes, each a state and a restore */
#define SIMDIGEST_SLOTS (2 * SIMDIGEST_TOUCHED_MAX)
_Static_assert((SIMDIGEST_SLOTS & (SIMDIGEST_SLOTS - 1)) == 0, "slots: a power of two");

/* A key touched by the open top-level write transaction, with its value's hash at the start. */
struct touched {
	MDB_dbi dbi;
	size_t key_off, key_len; /* in keys */
	uint64_t key_hash;
	bool had;       /* the key existed at the start */
	uint64_t old_h; /* record_hash of it then */
};

struct tracked {
	MDB_env *env;   /* NULL: a free slot */
	MDB_txn *wtxn;  /* the open top-level write transaction, or NULL */
	bool valid;     /* sum is the digest of the committed records */
	bool txn_lost;  /* the open transaction cannot be tracked: the sum is invalid at its commit */
	uint64_t sum;
	struct touched t[SIMDIGEST_TOUCHED_MAX];
	size_t n_t;
	int slot[SIMDIGEST_SLOTS]; /* index into t + 1, 0 free */
	unsigned char *keys;
	size_t keys_len, keys_cap;
};

static struct tracked *envs[SIMDIGEST_ENVS_MAX];
static _Thread_local int depth; /* > 0 inside a wrapper: liblmdb calling itself is forwarded untouched */
static uint64_t n_incremental, n_walks;

/* ------------------------------------------------------------------------------------------------
 * liblmdb's functions. */

#define REAL(name)                                                                                 \
	static __typeof__(name) *real_##name;                                                      \
	if (real_##name == NULL) {                                                                 \
		real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name);                         \
		if (real_##name == NULL) {                                                         \
			fprintf(stderr, "sim_digest: no %s in liblmdb\n", #name);                  \
			abort();                                                                   \
		}                                                                                  \
	}

static int lmdb_get(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{
	REAL(mdb_get);
	return real_mdb_get(txn, dbi, k, v);
}

/* ------------------------------------------------------------------------------------------------
 * The record hash. */

static uint64_t fmix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return k;
}

static uint64_t word_in(uint64_t h, uint64_t w)
{
	h ^= w * 0x87c37b91114253d5ull;
	h = (h << 31) | (h >> 33);
	return h * 0x4cf5ad432745937full;
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t w = 0;

	h = word_in(h, n);
	for (; n >= 8; n -= 8, b += 8) {
		memcpy(&w, b, 8);
		h = word_in(h, w);
	}
	if (n > 0) {
		w = 0;
		memcpy(&w, b, n);
		h = word_in(h, w);
	}
	return h;
}

static uint64_t key_hash(MDB_dbi dbi, const MDB_val *k)
{
	return fmix(hash_bytes(fmix(dbi + 1), k->mv_data, k->mv_size));
}

static uint64_t record_hash(MDB_dbi dbi, const MDB_val *k, const MDB_val *v)
{
	return fmix(hash_bytes(key_hash(dbi, k), v->mv_data, v->mv_size));
}

/* ------------------------------------------------------------------------------------------------
 * Tracked environments. */

static struct tracked *tracked_find(MDB_env *env, bool create)
{
	struct tracked *free_slot = NULL;
	int free_k = -1;

	for (int k = 0; k < SIMDIGEST_ENVS_MAX; k++) {
		if (envs[k] != NULL && envs[k]->env == env)
			return envs[k];
		if (envs[k] == NULL && free_k < 0)
			free_k = k;
	}
	if (!create)
		return NULL;
	if (free_k < 0) {
		fprintf(stderr, "sim_digest: more than %d environments open\n", SIMDIGEST_ENVS_MAX);
		abort();
	}
	free_slot = calloc(1, sizeof *free_slot);
	if (free_slot == NULL)
		abort();
	free_slot->env = env;
	envs[free_k] = free_slot;
	return free_slot;
}

static void tracked_clear_txn(struct tracked *e)
{
	e->wtxn = NULL;
	e->txn_lost = false;
	e->n_t = 0;
	e->keys_len = 0;
	memset(e->slot, 0, sizeof e->slot);
}

/* A write (put or delete of key k in dbi) is about to happen in txn: record the key's value as of
 * the top-level transaction's start, the first time it is touched. */
static void note_write(MDB_txn *txn, MDB_dbi dbi, const MDB_val *k)
{
	struct tracked *e = tracked_find(mdb_txn_env(txn), false);
	uint64_t kh;
	unsigned s;
	struct touched *t;
	MDB_val key = *k, old;

	if (e == NULL)
		return; /* never digested and no write transaction seen: a walk comes first anyway */
	if (e->wtxn == NULL) {
		e->valid = false; /* a write outside any transaction we saw begin */
		return;
	}
	if (e->txn_lost)
		return;
	kh = key_hash(dbi, k);
	for (s = (unsigned)kh & (SIMDIGEST_SLOTS - 1); e->slot[s] != 0; s = (s + 1) & (SIMDIGEST_SLOTS - 1)) {
		t = &e->t[e->slot[s] - 1];
		if (t->key_hash == kh && t->dbi == dbi && t->key_len == k->mv_size &&
		    memcmp(e->keys + t->key_off, k->mv_data, k->mv_size) == 0)
			return;
	}
	if (e->n_t == SIMDIGEST_TOUCHED_MAX) {
		e->txn_lost = true;
		return;
	}
	if (e->keys_len + k->mv_size > e->keys_cap) {
		size_t cap = e->keys_cap == 0 ? 4096 : e->keys_cap;
		while (cap < e->keys_len + k->mv_size)
			cap *= 2;
		e->keys = realloc(e->keys, cap);
		if (e->keys == NULL)
			abort();
		e->keys_cap = cap;
	}
	t = &e->t[e->n_t];
	t->dbi = dbi;
	t->key_off = e->keys_len;
	t->key_len = k->mv_size;
	t->key_hash = kh;
	if (k->mv_size > 0)
		memcpy(e->keys + e->keys_len, k->mv_data, k->mv_size);
	e->keys_len += k->mv_size;
	t->had = lmdb_get(txn, dbi, &key, &old) == 0;
	t->old_h = t->had ? record_hash(dbi, k, &old) : 0;
	e->slot[s] = (int)++e->n_t;
}

/* The change of the sum that committing e's transaction makes (looked up before the commit). */
static uint64_t txn_delta(struct tracked *e)
{
	uint64_t d = 0;

	for (size_t i = 0; i < e->n_t; i++) {
		const struct touched *t = &e->t[i];
		MDB_val k = {t->key_len, e->keys + t->key_off}, v;
		if (lmdb_get(e->wtxn, t->dbi, &k, &v) == 0)
			d += record_hash(t->dbi, &k, &v);
		if (t->had)
			d -= t->old_h;
	}
	return d;
}

/* ------------------------------------------------------------------------------------------------
 * The interposed functions. */

int mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn)
{
	int rc;
	REAL(mdb_txn_begin);

	rc = real_mdb_txn_begin(env, parent, flags, txn);
	if (depth == 0 && rc == 0 && parent == NULL && !(flags & MDB_RDONLY)) {
		struct tracked *e = tracked_find(env, true);
		tracked_clear_txn(e);
		e->wtxn = *txn;
	}
	return rc;
}

int mdb_txn_commit(MDB_txn *txn)
{
	struct tracked *e;
	uint64_t d = 0;
	bool top;
	int rc;
	REAL(mdb_txn_commit);

	if (depth > 0)
		return real_mdb_txn_commit(txn);
	e = tracked_find(mdb_txn_env(txn), false);
	top = e != NULL && e->wtxn == txn;
	depth++;
	if (top && e->valid && !e->txn_lost)
		d = txn_delta(e);
	rc = real_mdb_txn_commit(txn);
	depth--;
	if (top) {
		if (rc == 0 && e->valid) {
			if (e->txn_lost)
				e->valid = false;
			else
				e->sum += d;
		}
		tracked_clear_txn(e);
	}
	return rc;
}

void mdb_txn_abort(MDB_txn *txn)
{
	struct tracked *e;
	REAL(mdb_txn_abort);

	if (depth == 0 && (e = tracked_find(mdb_txn_env(txn), false)) != NULL && e->wtxn == txn)
		tracked_clear_txn(e);
	real_mdb_txn_abort(txn);
}

int mdb_put(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data, unsigned int flags)
{
	int rc;
	REAL(mdb_put);

	if (depth > 0)
		return real_mdb_put(txn, dbi, key, data, flags);
	depth++;
	note_write(txn, dbi, key);
	rc = real_mdb_put(txn, dbi, key, data, flags);
	depth--;
	return rc;
}

int mdb_del(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data)
{
	int rc;
	REAL(mdb_del);

	if (depth > 0)
		return real_mdb_del(txn, dbi, key, data);
	depth++;
	note_write(txn, dbi, key);
	rc = real_mdb_del(txn, dbi, key, data);
	depth--;
	return rc;
}

int mdb_cursor_put(MDB_cursor *cursor, MDB_val *key, MDB_val *data, unsigned int flags)
{
	int rc;
	REAL(mdb_cursor_put);

	if (depth > 0)
		return real_mdb_cursor_put(cursor, key, data, flags);
	depth++;
	note_write(mdb_cursor_txn(cursor), mdb_cursor_dbi(cursor), key);
	rc = real_mdb_cursor_put(cursor, key, data, flags);
	depth--;
	return rc;
}

int mdb_cursor_del(MDB_cursor *cursor, unsigned int flags)
{
	MDB_val k, v;
	int rc;
	REAL(mdb_cursor_del);
	REAL(mdb_cursor_get);

	if (depth > 0)
		return real_mdb_cursor_del(cursor, flags);
	depth++;
	if (real_mdb_cursor_get(cursor, &k, &v, MDB_GET_CURRENT) == 0) {
		note_write(mdb_cursor_txn(cursor), mdb_cursor_dbi(cursor), &k);
	} else {
		struct tracked *e = tracked_find(mdb_txn_env(mdb_cursor_txn(cursor)), false);
		if (e != NULL)
			e->txn_lost = true;
	}
	rc = real_mdb_cursor_del(cursor, flags);
	depth--;
	return rc;
}

int mdb_drop(MDB_txn *txn, MDB_dbi dbi, int del)
{
	struct tracked *e;
	int rc;
	REAL(mdb_drop);

	if (depth == 0 && (e = tracked_find(mdb_txn_env(txn), false)) != NULL) {
		if (e->wtxn != NULL)
			e->txn_lost = true;
		else
			e->valid = false;
	}
	depth++;
	rc = real_mdb_drop(txn, dbi, del);
	depth--;
	return rc;
}

void mdb_env_close(MDB_env *env)
{
	REAL(mdb_env_close);

	for (int k = 0; k < SIMDIGEST_ENVS_MAX; k++)
		if (envs[k] != NULL && envs[k]->env == env) {
			free(envs[k]->keys);
			free(envs[k]);
			envs[k] = NULL;
		}
	real_mdb_env_close(env);
}

/* ------------------------------------------------------------------------------------------------
 * The digest. */

int simdigest_full(MDB_env *env, const MDB_dbi *dbis, unsigned n, uint64_t *out)
{
	uint64_t sum = 0;
	MDB_txn *txn;
	int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);

	if (rc != 0)
		return rc;
	for (unsigned i = 0; i < n && rc == 0; i++) {
		MDB_cursor *cur;
		MDB_val k, v;
		if ((rc = mdb_cursor_open(txn, dbis[i], &cur)) != 0)
			break;
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
			sum += record_hash(dbis[i], &k, &v);
		if (rc == MDB_NOTFOUND)
			rc = 0;
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
	n_walks++;
	*out = sum;
	return rc;
}

int simdigest_get(MDB_env *env, const MDB_dbi *dbis, unsigned n, uint64_t *out)
{
	struct tracked *e = tracked_find(env, true);
	int rc;

	if (e->valid) {
		n_incremental++;
		*out = e->sum;
		return 0;
	}
	if ((rc = simdigest_full(env, dbis, n, out)) != 0)
		return rc;
	/* The walk read the committed records; an open write transaction's first touches were
	 * looked up against the same records, so its commit moves the sum correctly. */
	e->sum = *out;
	e->valid = true;
	return 0;
}

void simdigest_stats(uint64_t *incremental, uint64_t *walks)
{
	*incremental = n_incremental;
	*walks = n_walks;
}
