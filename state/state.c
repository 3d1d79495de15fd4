/* state.c: the environment's life (open, close), the applied index and the digest.
 *
 * The environment is opened with MDB_NOTLS so that state_snapshot may run its read transaction on
 * a worker thread while the loop thread writes, never with MDB_WRITEMAP (nested transactions, which
 * apply uses per command, are not supported with it), and with MDB_NOSYNC only when the caller says
 * the Raft log makes entries durable. Every named database is created in one transaction at open,
 * so later transactions never create a database (which a nested transaction could not publish). */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "state_internal.h"

const char *const state_db_names[DB_COUNT] = {
	[DB_META] = "meta",         [DB_SESSIONS] = "sessions", [DB_SESS_TIME] = "sess_time",
	[DB_CALLS] = "calls",       [DB_QUEUE] = "queue",       [DB_AGENTS] = "agents",
	[DB_TICKETS] = "tickets",   [DB_CUST_TIX] = "cust_tix", [DB_MEMBERS] = "members",
	[DB_QUEUES] = "queues",     [DB_SITES] = "sites",       [DB_CUSTOMERS] = "customers",
	[DB_TIMERS] = "timers",     [DB_BY_NUMBER] = "by_number", [DB_STATS] = "stats",
	[DB_CUST_HIST] = "cust_history", [DB_SITE_WAIT] = "site_waiting",
	[DB_WAITING] = "waiting",   [DB_EVENTS] = "events",     [DB_READY] = "ready",
	[DB_IDEM] = "idem",         [DB_IDEM_TIME] = "idem_time", [DB_STATS_IV] = "stats_interval",
	[DB_TOKENS] = "tokens",
	[DB_TICKET_CLASSES] = "ticket_classes",
	[DB_TICKET_DUE] = "ticket_due",
	[DB_CAMPAIGNS] = "campaigns",
	[DB_CAMPAIGN_TARGETS] = "campaign_targets",
	[DB_FREE_AGENTS] = "free_agents",
};

static int open_dbs(struct state *s, char *errmsg, size_t errmsg_len)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);

	if (rc != 0)
		return store_err(errmsg, errmsg_len, rc, "open '%s': begin", s->dir);
	for (int i = 0; i < DB_COUNT; i++) {
		rc = mdb_dbi_open(txn, state_db_names[i], MDB_CREATE, &s->dbi[i]);
		if (rc != 0) {
			mdb_txn_abort(txn);
			return store_err(errmsg, errmsg_len, rc, "open '%s': database '%s'", s->dir,
					 state_db_names[i]);
		}
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		return store_err(errmsg, errmsg_len, rc, "open '%s': commit", s->dir);
	return 0;
}

/* LMDB trusts its file to hold every page its meta page counts: a shorter data.mdb (a truncation)
 * would end the process with SIGBUS at the first read past its end. Refused as corrupt instead. */
static int check_not_truncated(struct state *s, char *errmsg, size_t errmsg_len)
{
	MDB_envinfo info;
	MDB_stat st;
	struct stat fst;
	char path[600];

	snprintf(path, sizeof path, "%s/data.mdb", s->dir);
	if (mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0 || stat(path, &fst) != 0)
		return snprintf(errmsg, errmsg_len, "state: corrupt: cannot read '%s'", path), -1;
	if ((uint64_t)fst.st_size < ((uint64_t)info.me_last_pgno + 1) * st.ms_psize)
		return snprintf(errmsg, errmsg_len, "state: corrupt: '%s' is truncated: %lld bytes, "
			"its last page %zu ends at %llu", path, (long long)fst.st_size,
			info.me_last_pgno, ((unsigned long long)info.me_last_pgno + 1) * st.ms_psize), -1;
	return 0;
}

/* The free agents' counts of a store written before them (free_agents.c): 1 if written, 0, -1. */
static int free_agents_at_open(struct state *s, char *errmsg, size_t errmsg_len)
{
	struct apply_ctx c;
	int rc, wrote;

	if (ctx_begin_at_open(&c, s, "free agents", errmsg, errmsg_len) != 0)
		return -1;
	if ((wrote = free_agents_rebuild(&c)) <= 0) {
		mdb_txn_abort(c.txn);
		return wrote;
	}
	rc = mdb_txn_commit(c.txn);
	return rc == 0 ? 1 : store_err(errmsg, errmsg_len, rc, "open '%s': free agents", s->dir);
}

int state_env_open(struct state *s, char *errmsg, size_t errmsg_len)
{
	int rebuilt, counted;
	unsigned flags = MDB_NOTLS | (s->no_sync ? MDB_NOSYNC : 0);
	int rc = mdb_env_create(&s->env);

	if (rc != 0) {
		s->env = NULL;
		return store_err(errmsg, errmsg_len, rc, "open '%s'", s->dir);
	}
	rc = mdb_env_set_maxdbs(s->env, DB_COUNT);
	if (rc == 0)
		rc = mdb_env_set_mapsize(s->env, s->map_bytes);
	if (rc == 0)
		rc = mdb_env_open(s->env, s->dir, flags, 0640);
	if (rc != 0) {
		store_err(errmsg, errmsg_len, rc, "open '%s'", s->dir);
		goto err_env;
	}
	if (check_not_truncated(s, errmsg, errmsg_len) != 0)
		goto err_env;
	s->bytes_ready = false;
	if (open_dbs(s, errmsg, errmsg_len) != 0 || route_waiting_rebuild(s, errmsg, errmsg_len) != 0 ||
	    (rebuilt = ticket_due_rebuild(s, errmsg, errmsg_len)) < 0 ||
	    (counted = free_agents_at_open(s, errmsg, errmsg_len)) < 0 ||
	    quota_load(s, rebuilt == 1 || counted == 1, errmsg, errmsg_len) != 0)
		goto err_env;
	return 0;

err_env:
	mdb_env_close(s->env);
	s->env = NULL;
	return -1;
}

void state_env_close(struct state *s)
{
	if (s->env == NULL)
		return;
	mdb_env_sync(s->env, 1);
	mdb_env_close(s->env);
	s->env = NULL;
}

int state_open(const char *dir, const struct state_options *opts, struct state **out, char *errmsg,
	       size_t errmsg_len)
{
	struct state *s = calloc(1, sizeof *s);

	*out = NULL;
	if (s == NULL)
		goto err;
	s->dir = strdup(dir);
	if (s->dir == NULL)
		goto err_state;
	s->map_bytes = (opts != NULL && opts->map_bytes != 0) ? opts->map_bytes
							      : STATE_MAP_BYTES_DEFAULT;
	s->no_sync = opts != NULL && opts->no_sync;
	s->events_retained_max = (opts != NULL && opts->events_retained_max != 0)
					 ? opts->events_retained_max
					 : CALLRAFT_EVENTS_RETAINED_MAX;
	if (state_env_open(s, errmsg, errmsg_len) != 0)
		goto err_dir;
	*out = s;
	return 0;

err_dir:
	free(s->dir);
err_state:
	free(s);
	return -1;
err:
	snprintf(errmsg, errmsg_len, "state: open '%s': out of memory", dir);
	return -1;
}

void state_close(struct state *s)
{
	if (s == NULL)
		return;
	state_env_close(s);
	for (size_t i = 0; i < CALLRAFT_BATCH_COMMANDS_MAX; i++)
		free(s->reply_buf[i]);
	free(s->dir);
	free(s);
}

uint64_t state_applied_index(struct state *s)
{
	MDB_txn *txn;
	uint64_t applied = 0;
	char errmsg[256];
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);

	/* A read transaction fails only when the reader table is full or the environment is broken;
	 * neither can be answered with an index, and a wrong index would replay or skip entries. */
	assert(rc == 0);
	rc = store_meta_get(s, txn, META_APPLIED, &applied, errmsg, sizeof errmsg);
	assert(rc == 0);
	mdb_txn_abort(txn);
	return applied;
}

uint64_t state_time_ms(struct state *s)
{
	MDB_txn *txn;
	uint64_t now = 0;
	char errmsg[256];
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);

	assert(rc == 0); /* as state_applied_index */
	rc = store_meta_get(s, txn, META_TIME, &now, errmsg, sizeof errmsg);
	assert(rc == 0);
	mdb_txn_abort(txn);
	return now;
}

#define FNV_OFFSET 14695981039346656037ull
#define FNV_PRIME 1099511628211ull

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= FNV_PRIME;
	}
	return h;
}

static uint64_t fnv_len(uint64_t h, size_t n)
{
	uint8_t b[8];
	be64_put(b, n);
	return fnv(h, b, sizeof b);
}

/* FNV-1a over each database's name, then every (key length, key, value length, value) in key
 * order. Lengths are hashed so that moving a byte from a key to its value changes the digest. */
int state_digest_checked(struct state *s, uint64_t *out)
{
	uint64_t h = FNV_OFFSET;
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);

	if (rc != 0)
		return rc;
	for (int i = 0; i < DB_COUNT && rc == 0; i++) {
		MDB_cursor *cur;
		MDB_val k, v;

		h = fnv(h, state_db_names[i], strlen(state_db_names[i]) + 1);
		if ((rc = mdb_cursor_open(txn, s->dbi[i], &cur)) != 0)
			break;
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			h = fnv_len(h, k.mv_size);
			h = fnv(h, k.mv_data, k.mv_size);
			h = fnv_len(h, v.mv_size);
			h = fnv(h, v.mv_data, v.mv_size);
		}
		if (rc == MDB_NOTFOUND)
			rc = 0;
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
	*out = h;
	return rc;
}

uint64_t state_digest(struct state *s)
{
	uint64_t h;
	int rc = state_digest_checked(s, &h);

	assert(rc == 0);
	return h;
}

uint64_t state_size_bytes(struct state *s)
{
	MDB_txn *txn;
	MDB_stat st;
	uint64_t pages = 0, psize = 4096;

	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
		return 0;
	for (int i = 0; i < DB_COUNT; i++) {
		if (mdb_stat(txn, s->dbi[i], &st) != 0)
			continue;
		pages += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
		psize = st.ms_psize;
	}
	mdb_txn_abort(txn);
	return pages * psize;
}
