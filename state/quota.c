/* quota.c: deterministic accounting of the state's size, and the quotas that keep every replica
 * from reaching LMDB's MDB_MAP_FULL (issue 13: no poison pill).
 *
 * Why not just catch MDB_MAP_FULL: the map size is local configuration and the pages a write needs
 * depend on each replica's page layout and on its readers (a snapshot's read transaction pins old
 * pages). A replica that fails an entry cannot skip it (the others applied it), so it stops, and
 * stops again on every replay; when every replica fills up on the same entry the whole cluster is
 * down for good. So the FSM refuses, with RESOURCE_EXHAUSTED, any command that would grow the
 * state past a quota, deciding only from what every replica holds alike:
 *
 *   logical bytes of a table = sum over its records of key + value + RECORD_OVERHEAD
 *
 * kept per table in memory (s->bytes), updated by every write of store.c (store_account), saved in
 * meta "bytes" with each entry that changed it, and the quota stamped on the entry by its leader (Entry.
 * quota_bytes, from [state] quota_mb; config.c makes map_size_mb >= QUOTA_MAP_FACTOR x quota_mb).
 *
 * Invariants:
 *   1. s->bytes[db] equals the sum above over db's records as seen by the innermost open write
 *      transaction (state_check recomputes it); meta itself is not counted.
 *   2. A transaction that aborts restores s->bytes to the copy taken when it began (apply.c:
 *      entry and command level).
 *   3. Refusals depend only on (s->bytes, the command's changes, the entry's quota, FSM time,
 *      the session record): replicas refuse the same commands.
 *
 * A command is refused when it grew a table that is then above its share of the limit, when it
 * grew the state and the state is then above the limit, or when its session added more than
 * quota / QUOTA_SESSION_DIVISOR bytes in the current window of FSM time. The limit is the quota
 * for commands that create objects (enqueue, ticket open and notes, login, configuration,
 * callbacks) and the quota plus QUOTA_HEADROOM_PERCENT for those that only move existing objects
 * along (answer, end, abandon, log out): a full state refuses new work but lets the calls in
 * progress finish. Commands that shrink the state always pass, and so do the leader's own
 * commands (Tick, membership): they must never be refused. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

#define META_BYTES "bytes"

uint64_t quota_total(const uint64_t bytes[DB_COUNT])
{
	uint64_t t = 0;

	for (int i = 0; i < DB_COUNT; i++)
		t += bytes[i];
	return t;
}

uint64_t quota_table_bytes(enum state_db db, uint64_t quota_bytes)
{
	unsigned pct = CALLRAFT_QUOTA_TABLE_PERCENT;

	if (db == DB_SESSIONS || db == DB_SESS_TIME)
		pct = CALLRAFT_QUOTA_SESSIONS_PERCENT;
	else if (db == DB_MEMBERS || db == DB_QUEUES || db == DB_SITES)
		pct = CALLRAFT_QUOTA_CONFIG_PERCENT;
	return quota_bytes / 100 * pct;
}

int quota_walk(struct state *s, MDB_txn *txn, uint64_t out[DB_COUNT])
{
	for (int i = 0; i < DB_COUNT; i++) {
		MDB_cursor *cur;
		MDB_val k, v;
		int rc;

		out[i] = 0;
		if (i == DB_META)
			continue;
		rc = mdb_cursor_open(txn, s->dbi[i], &cur);
		if (rc != 0)
			return rc;
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
			out[i] += k.mv_size + v.mv_size + CALLRAFT_QUOTA_RECORD_OVERHEAD_BYTES;
		mdb_cursor_close(cur);
		if (rc != MDB_NOTFOUND)
			return rc;
	}
	return 0;
}

int quota_load(struct state *s, bool walk, char *errmsg, size_t errmsg_len)
{
	MDB_txn *txn;
	MDB_val k = {strlen(META_BYTES), (void *)META_BYTES}, v;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);

	if (rc != 0)
		return store_err(errmsg, errmsg_len, rc, "open '%s': quota: begin", s->dir);
	rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
	if (rc == 0 && v.mv_size == sizeof s->bytes && !walk) {
		for (int i = 0; i < DB_COUNT; i++)
			s->bytes[i] = be64_get((const uint8_t *)v.mv_data + 8 * i);
	} else if (rc == 0 || rc == MDB_NOTFOUND) {
		/* A state written before quotas (or with another set of tables): the sums are a
		 * function of the tables alone, so every replica computes the same ones. */
		rc = quota_walk(s, txn, s->bytes);
	}
	mdb_txn_abort(txn);
	if (rc != 0)
		return store_err(errmsg, errmsg_len, rc, "open '%s': quota: read sizes", s->dir);
	s->bytes_ready = true;
	return 0;
}

int quota_save(struct state *s, MDB_txn *txn, const uint64_t before[DB_COUNT], char *errmsg,
	       size_t errmsg_len)
{
	uint8_t b[8 * DB_COUNT];

	if (memcmp(before, s->bytes, sizeof s->bytes) == 0)
		return 0;
	for (int i = 0; i < DB_COUNT; i++)
		be64_put(b + 8 * i, s->bytes[i]);
	return store_put_raw(s, txn, DB_META, META_BYTES, strlen(META_BYTES), b, sizeof b, "meta",
			     META_BYTES, errmsg, errmsg_len);
}

static bool op_creates(const Callraft__Command *cmd)
{
	switch (cmd->op_case) {
	case CALLRAFT__COMMAND__OP_CALL_ENQUEUE:
	case CALLRAFT__COMMAND__OP_AGENT_LOGIN:
	case CALLRAFT__COMMAND__OP_TICKET_OPEN:
	case CALLRAFT__COMMAND__OP_TICKET_UPDATE:
	case CALLRAFT__COMMAND__OP_QUEUE_CONFIGURE:
	case CALLRAFT__COMMAND__OP_CALLBACK_REQUEST:
	case CALLRAFT__COMMAND__OP_CALLBACK_SCHEDULE:
	case CALLRAFT__COMMAND__OP_CALLBACK_VOICEMAIL:
	case CALLRAFT__COMMAND__OP_SITE_CONFIGURE:
	case CALLRAFT__COMMAND__OP_CUSTOMER_SET:
	case CALLRAFT__COMMAND__OP_TICKET_CLASS_CONFIGURE:
	case CALLRAFT__COMMAND__OP_TOKEN_ISSUE:
	case CALLRAFT__COMMAND__OP_CAMPAIGN_CREATE:
	case CALLRAFT__COMMAND__OP_CAMPAIGN_ADD:
		return true;
	default:
		return false;
	}
}

/* `bytes` raised by the headroom of commands that do not create. */
static uint64_t with_headroom(uint64_t bytes, bool creates)
{
	return creates ? bytes : bytes / 100 * (100 + CALLRAFT_QUOTA_HEADROOM_PERCENT);
}

/* The first table the command grew beyond its share, or DB_COUNT. The event log has no share: its
 * retention (events.c) bounds it, and it counts in the total like every table. */
static enum state_db table_over(const struct apply_ctx *c, const uint64_t before[DB_COUNT],
				bool creates)
{
	for (int i = 0; i < DB_COUNT; i++)
		if (i != DB_EVENTS && c->s->bytes[i] > before[i] &&
		    c->s->bytes[i] > with_headroom(quota_table_bytes((enum state_db)i,
								     c->quota_bytes), creates))
			return (enum state_db)i;
	return DB_COUNT;
}

bool quota_refuse(struct apply_ctx *c, const Callraft__Command *cmd,
		  const uint64_t before[DB_COUNT], int64_t *growth_out)
{
	uint64_t was = quota_total(before), now = quota_total(c->s->bytes);
	int64_t growth = (int64_t)now - (int64_t)was;
	bool creates = op_creates(cmd);
	enum state_db db;

	*growth_out = growth;
	if (c->quota_bytes == 0 || c->quota_exempt)
		return false;
	db = table_over(c, before, creates);
	if (db != DB_COUNT) {
		ctx_fail(c, CALLRAFT__CODE__RESOURCE_EXHAUSTED,
			 "quota: %s: table '%s' would hold %llu bytes, above its quota of %llu bytes: "
			 "free space or raise [state] quota_mb",
			 validate_op_name(cmd), state_db_names[db],
			 (unsigned long long)c->s->bytes[db],
			 (unsigned long long)with_headroom(quota_table_bytes(db, c->quota_bytes),
							   creates));
		return true;
	}
	if (growth > 0 && now > with_headroom(c->quota_bytes, creates)) {
		ctx_fail(c, CALLRAFT__CODE__RESOURCE_EXHAUSTED,
			 "quota: %s: state would hold %llu bytes, above its quota of %llu bytes: free "
			 "space or raise [state] quota_mb",
			 validate_op_name(cmd), (unsigned long long)now,
			 (unsigned long long)with_headroom(c->quota_bytes, creates));
		return true;
	}
	if (growth > 0 && c->session != NULL) {
		uint64_t used = quota_session_used(c->session, c->now_ms);
		uint64_t max = c->quota_bytes / CALLRAFT_QUOTA_SESSION_DIVISOR;
		if (used + (uint64_t)growth > max) {
			ctx_fail(c, CALLRAFT__CODE__RESOURCE_EXHAUSTED,
				 "quota: %s: session %llu would add %llu bytes in this minute, its "
				 "quota is %llu bytes per minute: retry later",
				 validate_op_name(cmd), (unsigned long long)c->session->client_id,
				 (unsigned long long)(used + (uint64_t)growth),
				 (unsigned long long)max);
			return true;
		}
	}
	return false;
}

uint64_t quota_session_used(const Callraft__Session *sess, int64_t now_ms)
{
	if (now_ms - sess->quota_window_ms >= CALLRAFT_QUOTA_SESSION_WINDOW_MS)
		return 0;
	return sess->quota_window_bytes;
}

void quota_session_add(Callraft__Session *sess, int64_t now_ms, int64_t growth)
{
	if (growth <= 0)
		return;
	if (now_ms - sess->quota_window_ms >= CALLRAFT_QUOTA_SESSION_WINDOW_MS) {
		sess->quota_window_ms = now_ms;
		sess->quota_window_bytes = 0;
	}
	sess->quota_window_bytes += (uint64_t)growth;
}

bool quota_sessions_full(struct state *s, uint64_t quota_bytes)
{
	return quota_bytes != 0 &&
	       (s->bytes[DB_SESSIONS] > quota_table_bytes(DB_SESSIONS, quota_bytes) ||
		s->bytes[DB_SESS_TIME] > quota_table_bytes(DB_SESS_TIME, quota_bytes));
}

void state_usage(struct state *s, struct state_usage *out)
{
	MDB_envinfo info;
	MDB_stat st;

	memset(out, 0, sizeof *out);
	out->bytes = quota_total(s->bytes);
	out->quota_bytes = s->quota_bytes_seen;
	out->map_bytes = s->map_bytes;
	if (mdb_env_info(s->env, &info) == 0 && mdb_env_stat(s->env, &st) == 0) {
		out->map_bytes = info.me_mapsize;
		out->map_used_bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
	}
	for (int i = 0; i < DB_COUNT; i++)
		if (s->bytes[i] > out->table_bytes) {
			out->table_bytes = s->bytes[i];
			out->table = state_db_names[i];
			out->table_quota_bytes = quota_table_bytes((enum state_db)i, s->quota_bytes_seen);
		}
}
