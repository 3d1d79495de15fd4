/* tokens.c: bearer tokens for browsers (issue 13): issue, revoke, list, and the lookup a node makes
 * for each HTTP request that carries one (node/token.c).
 *
 * Table `tokens`: SHA-256(token string) (32 bytes) -> Token {id, name, roles, site, expires_ms,
 * issued_ms, issued_by, hash}; meta "token_seq": the last id given.
 *
 * The token string itself never reaches the log: whoever issues a token draws it and sends its
 * hash (the CLI, or the HTTP API on the node that received the request), so a copy of the data
 * directory, a snapshot or the Raft log holds nothing that authenticates.
 *
 *   token_issue  hash new, expires_ms after FSM time, fewer than CALLRAFT_TOKENS_MAX live tokens
 *                (tokens expired by FSM time are dropped first) -> stored with id = ++token_seq
 *   token_revoke the token with that id -> deleted (NOT_FOUND if none)
 *
 * Expiry is decided twice: the FSM drops tokens past their expiry (by FSM time) when it issues
 * another, and the node refuses a token past its expiry by its own clock at every request.
 *
 * Invariants (state_check via tokens_check): every key is 32 bytes and is its record's hash; ids are
 * unique and at most meta.token_seq; at most CALLRAFT_TOKENS_MAX records. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_internal.h"

#define META_TOKEN_SEQ "token_seq"

/* Calls fn on every stored token until it returns non-zero (that value is returned); -1 on an
 * LMDB failure or a record that does not decode. */
static int each_token(struct state *s, MDB_txn *txn,
		      int (*fn)(const MDB_val *key, Callraft__Token *t, void *arg),
		      void *arg, char *errmsg, size_t errmsg_len)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, s->dbi[DB_TOKENS], &cur), out = 0;

	if (rc != 0)
		return store_err(errmsg, errmsg_len, rc, "tokens: cursor");
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && out == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		Callraft__Token *t = callraft__token__unpack(NULL, v.mv_size, v.mv_data);
		if (t == NULL || k.mv_size != CALLRAFT_TOKEN_HASH_BYTES) {
			if (t != NULL)
				callraft__token__free_unpacked(t, NULL);
			mdb_cursor_close(cur);
			return store_err(errmsg, errmsg_len, MDB_CORRUPTED, "tokens: record");
		}
		out = fn(&k, t, arg);
		callraft__token__free_unpacked(t, NULL);
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_err(errmsg, errmsg_len, rc, "tokens: next");
	return out;
}

struct sweep {
	int64_t now_ms;
	unsigned live, n_expired;
	uint8_t expired[CALLRAFT_TOKENS_MAX][CALLRAFT_TOKEN_HASH_BYTES];
};

static int sweep_one(const MDB_val *key, Callraft__Token *t, void *arg)
{
	(void)key;
	struct sweep *w = arg;

	if (t->expires_ms > w->now_ms) {
		w->live++;
	} else if (w->n_expired < CALLRAFT_TOKENS_MAX && t->hash.len == CALLRAFT_TOKEN_HASH_BYTES) {
		memcpy(w->expired[w->n_expired++], t->hash.data, CALLRAFT_TOKEN_HASH_BYTES);
	}
	return 0;
}

int op_token_issue(struct apply_ctx *c, const Callraft__TokenIssue *op, const char *actor)
{
	struct sweep *w = calloc(1, sizeof *w);
	Callraft__Token t = CALLRAFT__TOKEN__INIT, *old;
	uint64_t id;
	int rc;

	if (w == NULL)
		return store_err(c->errmsg, c->errmsg_len, ENOMEM, "tokens: sweep");
	w->now_ms = c->now_ms;
	rc = each_token(c->s, c->txn, sweep_one, w, c->errmsg, c->errmsg_len);
	for (unsigned i = 0; rc == 0 && i < w->n_expired; i++)
		rc = store_del(c->s, c->txn, DB_TOKENS, w->expired[i], CALLRAFT_TOKEN_HASH_BYTES,
			       "token", "(expired)", c->errmsg, c->errmsg_len) < 0 ? -1 : 0;
	unsigned live = w->live;
	free(w);
	if (rc != 0)
		return -1;
	if (op->expires_ms <= c->now_ms) {
		ctx_fail(c, CALLRAFT__CODE__INVALID_ARGUMENT,
			 "token_issue: expires_ms %lld is not after the cluster's time %lld",
			 (long long)op->expires_ms, (long long)c->now_ms);
		return 0;
	}
	if (live >= CALLRAFT_TOKENS_MAX) {
		ctx_fail(c, CALLRAFT__CODE__RESOURCE_EXHAUSTED,
			 "token_issue: %u live tokens, the limit: revoke some first", live);
		return 0;
	}
	rc = store_get(c->s, c->txn, DB_TOKENS, op->hash.data, op->hash.len,
		       &callraft__token__descriptor, (ProtobufCMessage **)&old, "token", op->name,
		       c->errmsg, c->errmsg_len);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		callraft__token__free_unpacked(old, NULL);
		ctx_fail(c, CALLRAFT__CODE__ALREADY_EXISTS, "token_issue: this token is issued already");
		return 0;
	}
	if (store_meta_get(c->s, c->txn, META_TOKEN_SEQ, &id, c->errmsg, c->errmsg_len) != 0 ||
	    store_meta_put(c->s, c->txn, META_TOKEN_SEQ, ++id, c->errmsg, c->errmsg_len) != 0)
		return -1;
	t.id = id;
	t.name = op->name;
	t.n_roles = op->n_roles;
	t.roles = op->roles;
	t.site = op->site;
	t.expires_ms = op->expires_ms;
	t.issued_ms = c->now_ms;
	t.issued_by = (char *)actor;
	t.hash = op->hash;
	if (store_put(c->s, c->txn, DB_TOKENS, op->hash.data, op->hash.len, &t.base, "token",
		      op->name, c->errmsg, c->errmsg_len) != 0)
		return -1;
	c->token = t;
	c->token.hash.len = 0; /* replies never carry a hash */
	c->token.hash.data = NULL;
	c->has_token = true;
	return 0;
}

struct find_id {
	uint64_t id;
	Callraft__Token *found; /* a copy, packed and unpacked again (the walk frees its own) */
};

static int find_id_one(const MDB_val *key, Callraft__Token *t, void *arg)
{
	(void)key;
	struct find_id *f = arg;
	size_t len;
	uint8_t *b;

	if (t->id != f->id)
		return 0;
	len = callraft__token__get_packed_size(t);
	b = malloc(len > 0 ? len : 1);
	if (b == NULL)
		return -1;
	callraft__token__pack(t, b);
	f->found = callraft__token__unpack(NULL, len, b);
	free(b);
	return f->found != NULL ? 1 : -1;
}

int op_token_revoke(struct apply_ctx *c, const Callraft__TokenRevoke *op)
{
	struct find_id f = {.id = op->id};
	int rc = each_token(c->s, c->txn, find_id_one, &f, c->errmsg, c->errmsg_len);

	if (rc < 0)
		return -1;
	if (f.found == NULL) {
		ctx_fail(c, CALLRAFT__CODE__NOT_FOUND, "token %llu: not found (revoked already?)",
			 (unsigned long long)op->id);
		return 0;
	}
	ctx_own(c, &f.found->base);
	if (store_del(c->s, c->txn, DB_TOKENS, f.found->hash.data, f.found->hash.len, "token",
		      f.found->name, c->errmsg, c->errmsg_len) < 0)
		return -1;
	c->token = *f.found;
	c->token.hash.len = 0;
	c->token.hash.data = NULL;
	c->has_token = true;
	return 0;
}

int state_token_find(struct state *s, const uint8_t hash[CALLRAFT_TOKEN_HASH_BYTES],
		     Callraft__Token **out, char *errmsg, size_t errmsg_len)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);

	*out = NULL;
	if (rc != 0)
		return store_err(errmsg, errmsg_len, rc, "tokens: begin");
	rc = store_get(s, txn, DB_TOKENS, hash, CALLRAFT_TOKEN_HASH_BYTES,
		       &callraft__token__descriptor, (ProtobufCMessage **)out, "token", "(by hash)",
		       errmsg, errmsg_len);
	mdb_txn_abort(txn);
	return rc;
}

struct tcheck {
	uint64_t seq;
	unsigned n;
	uint64_t ids[CALLRAFT_TOKENS_MAX];
	char *msg;
	size_t msg_len;
};

static int check_one(const MDB_val *key, Callraft__Token *t, void *arg)
{
	struct tcheck *k = arg;

	if (t->hash.len != CALLRAFT_TOKEN_HASH_BYTES ||
	    memcmp(key->mv_data, t->hash.data, CALLRAFT_TOKEN_HASH_BYTES) != 0 || t->id == 0 ||
	    t->id > k->seq || k->n >= CALLRAFT_TOKENS_MAX) {
		snprintf(k->msg, k->msg_len, "tokens: token %llu: key not its hash, bad id, or too many",
			 (unsigned long long)t->id);
		return 1;
	}
	for (unsigned i = 0; i < k->n; i++) {
		if (k->ids[i] == t->id) {
			snprintf(k->msg, k->msg_len, "tokens: id %llu twice", (unsigned long long)t->id);
			return 1;
		}
	}
	k->ids[k->n++] = t->id;
	return 0;
}

int tokens_check(struct state *s, MDB_txn *txn, char *msg, size_t msg_len)
{
	struct tcheck *k = calloc(1, sizeof *k);
	int rc;

	if (k == NULL) {
		snprintf(msg, msg_len, "tokens: out of memory");
		return -1;
	}
	k->msg = msg;
	k->msg_len = msg_len;
	rc = store_meta_get(s, txn, META_TOKEN_SEQ, &k->seq, msg, msg_len);
	if (rc == 0)
		rc = each_token(s, txn, check_one, k, msg, msg_len);
	free(k);
	return rc == 0 ? 0 : -1;
}
