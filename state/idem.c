/* idem.c: idempotency keys of sessionless writes (HTTP's Idempotency-Key), the exactly-once gate
 * of a command that carries a key instead of a (client_id, seq) session.
 *
 * Tables:
 *   idem        key -> IdempotencyRecord {fingerprint, at_ms, reply}
 *   idem_time   be64(at_ms) key -> ""   (expiry order: oldest first)
 *   meta        "idem_count" -> u64 records in idem
 *
 * The gate, for a command with key K, applied at FSM time now (apply.c, run_idem_command):
 *   K absent, or stored at_ms < now - CALLRAFT_IDEMPOTENCY_TTL_MS .... run the operation; store
 *        {fingerprint(op), now, reply} under K (replacing an expired record)
 *   K present, same fingerprint ..................................... the stored reply, byte for
 *        byte; nothing changes
 *   K present, another fingerprint .................................. IDEMPOTENCY_KEY_REUSED;
 *        nothing changes
 *
 * Retention: a key lives CALLRAFT_IDEMPOTENCY_TTL_MS of FSM time, or until
 * CALLRAFT_IDEMPOTENCY_KEYS_MAX newer keys were stored (the oldest is dropped to make room),
 * whichever comes first. Each entry expires at most CALLRAFT_IDEMPOTENCY_EXPIRE_PER_ENTRY keys by age.
 * Everything is decided from the log (FSM time, the entry's commands): every replica keeps the
 * same keys.
 *
 * Invariants (idem_check): 1. idem and idem_time hold the same keys, idem_time's at_ms being the
 * record's; 2. meta.idem_count is the number of records; 3. idem_count <= KEYS_MAX. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_internal.h"

#define IDEM_TIME_KEY_BYTES_MAX (8 + CALLRAFT_IDEMPOTENCY_KEY_BYTES_MAX)

static size_t time_key(uint8_t *out, int64_t at_ms, const char *key)
{
	size_t n = strlen(key);
	assert(n <= CALLRAFT_IDEMPOTENCY_KEY_BYTES_MAX);
	be64_put(out, (uint64_t)at_ms);
	memcpy(out + 8, key, n);
	return 8 + n;
}

uint64_t idem_fingerprint(const Callraft__Command *cmd)
{
	/* The operation alone: the same request retried has the same one whatever carries it. */
	Callraft__Command op = *cmd;
	uint8_t stack[1024], *buf;
	uint64_t h = 1469598103934665603ull;
	size_t len;

	op.client_id = 0;
	op.seq = 0;
	op.idempotency_key = (char *)protobuf_c_empty_string;
	len = callraft__command__get_packed_size(&op);
	buf = len <= sizeof stack ? stack : malloc(len);
	if (buf == NULL)
		return 0; /* cannot happen for a command that fits a batch; 0 still compares equal */
	callraft__command__pack(&op, buf);
	for (size_t i = 0; i < len; i++) {
		h ^= buf[i];
		h *= 1099511628211ull;
	}
	if (buf != stack)
		free(buf);
	return h;
}

static bool expired(int64_t at_ms, int64_t now_ms)
{
	return at_ms < now_ms - CALLRAFT_IDEMPOTENCY_TTL_MS;
}

int idem_get(struct state *s, MDB_txn *txn, const char *key, int64_t now_ms,
	     Callraft__IdempotencyRecord **out, char *errmsg, size_t errmsg_len)
{
	int rc = store_get(s, txn, DB_IDEM, key, strlen(key), &callraft__idempotency_record__descriptor,
			   (ProtobufCMessage **)out, "idempotency key", key, errmsg, errmsg_len);
	if (rc == 0 && expired((*out)->at_ms, now_ms)) {
		protobuf_c_message_free_unpacked(&(*out)->base, NULL);
		*out = NULL;
		return 1;
	}
	return rc;
}

/* Deletes the record of `key` stored at `at_ms` and its expiry key; counts it. */
static int idem_del(struct state *s, MDB_txn *txn, const char *key, int64_t at_ms, char *errmsg,
		    size_t errmsg_len)
{
	uint8_t tkey[IDEM_TIME_KEY_BYTES_MAX];
	uint64_t count;

	if (store_del(s, txn, DB_IDEM_TIME, tkey, time_key(tkey, at_ms, key), "idempotency time", key,
		      errmsg, errmsg_len) < 0 ||
	    store_del(s, txn, DB_IDEM, key, strlen(key), "idempotency key", key, errmsg, errmsg_len) < 0 ||
	    store_meta_get(s, txn, META_IDEM_COUNT, &count, errmsg, errmsg_len) != 0)
		return -1;
	assert(count > 0);
	return store_meta_put(s, txn, META_IDEM_COUNT, count - 1, errmsg, errmsg_len);
}

/* The oldest key: 0 and its at_ms/key, 1 if none, -1 on failure. */
static int oldest(struct state *s, MDB_txn *txn, int64_t *at_ms, char key[CALLRAFT_IDEMPOTENCY_KEY_BYTES_MAX + 1],
		  char *errmsg, size_t errmsg_len)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, s->dbi[DB_IDEM_TIME], &cur);

	if (rc != 0)
		return store_err(errmsg, errmsg_len, rc, "idempotency keys: cursor");
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (rc == 0) {
		/* Check after reading: a key we did not write is corruption, not a bug to assert. */
		if (k.mv_size <= 8 || k.mv_size > IDEM_TIME_KEY_BYTES_MAX) {
			mdb_cursor_close(cur);
			return store_err(errmsg, errmsg_len, MDB_CORRUPTED, "idempotency keys: time key");
		}
		*at_ms = (int64_t)be64_get(k.mv_data);
		memcpy(key, (uint8_t *)k.mv_data + 8, k.mv_size - 8);
		key[k.mv_size - 8] = '\0';
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		return 1;
	return rc == 0 ? 0 : store_err(errmsg, errmsg_len, rc, "idempotency keys: first");
}

int idem_expire(struct state *s, MDB_txn *txn, int64_t now_ms, char *errmsg, size_t errmsg_len)
{
	for (int n = 0; n < CALLRAFT_IDEMPOTENCY_EXPIRE_PER_ENTRY; n++) {
		char key[CALLRAFT_IDEMPOTENCY_KEY_BYTES_MAX + 1];
		int64_t at_ms;
		int rc = oldest(s, txn, &at_ms, key, errmsg, errmsg_len);
		if (rc != 0)
			return rc < 0 ? -1 : 0;
		if (!expired(at_ms, now_ms))
			return 0;
		if (idem_del(s, txn, key, at_ms, errmsg, errmsg_len) != 0)
			return -1;
	}
	return 0;
}

int idem_put(struct state *s, MDB_txn *txn, const char *key, uint64_t fingerprint, int64_t now_ms,
	     const uint8_t *reply, size_t reply_len, uint64_t keys_max, char *errmsg,
	     size_t errmsg_len)
{
	Callraft__IdempotencyRecord rec = CALLRAFT__IDEMPOTENCY_RECORD__INIT, *old = NULL;
	uint8_t tkey[IDEM_TIME_KEY_BYTES_MAX];
	uint64_t count;
	int rc;

	/* An expired record of the same key is replaced. */
	rc = store_get(s, txn, DB_IDEM, key, strlen(key), &callraft__idempotency_record__descriptor,
		       (ProtobufCMessage **)&old, "idempotency key", key, errmsg, errmsg_len);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		int64_t at = old->at_ms;
		protobuf_c_message_free_unpacked(&old->base, NULL);
		if (idem_del(s, txn, key, at, errmsg, errmsg_len) != 0)
			return -1;
	}
	if (store_meta_get(s, txn, META_IDEM_COUNT, &count, errmsg, errmsg_len) != 0)
		return -1;
	/* Full: the oldest key makes room (its retention ends early; see the top). */
	assert(keys_max > 0);
	while (count >= keys_max) {
		char okey[CALLRAFT_IDEMPOTENCY_KEY_BYTES_MAX + 1];
		int64_t at_ms;
		rc = oldest(s, txn, &at_ms, okey, errmsg, errmsg_len);
		if (rc != 0)
			return rc < 0 ? -1 : store_err(errmsg, errmsg_len, MDB_CORRUPTED,
							"idempotency keys: counted but none found");
		if (idem_del(s, txn, okey, at_ms, errmsg, errmsg_len) != 0)
			return -1;
		count--;
	}
	rec.fingerprint = fingerprint;
	rec.at_ms = now_ms;
	rec.reply.data = (uint8_t *)reply;
	rec.reply.len = reply_len;
	if (store_put_raw(s, txn, DB_IDEM_TIME, tkey, time_key(tkey, now_ms, key), "", 0,
			  "idempotency time", key, errmsg, errmsg_len) != 0 ||
	    store_put(s, txn, DB_IDEM, key, strlen(key), &rec.base, "idempotency key", key, errmsg,
		      errmsg_len) != 0)
		return -1;
	return store_meta_put(s, txn, META_IDEM_COUNT, count + 1, errmsg, errmsg_len);
}

int idem_check(struct state *s, MDB_txn *txn, char *msg, size_t msg_len)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t count = 0, stored;
	char err[256];
	int rc;

	if (store_meta_get(s, txn, META_IDEM_COUNT, &stored, err, sizeof err) != 0)
		return snprintf(msg, msg_len, "idem: %s", err), -1;
	rc = mdb_cursor_open(txn, s->dbi[DB_IDEM], &cur);
	if (rc != 0)
		return snprintf(msg, msg_len, "idem: cursor: %s", mdb_strerror(rc)), -1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		Callraft__IdempotencyRecord *rec =
			callraft__idempotency_record__unpack(NULL, v.mv_size, v.mv_data);
		char key[CALLRAFT_IDEMPOTENCY_KEY_BYTES_MAX + 1];
		uint8_t tkey[IDEM_TIME_KEY_BYTES_MAX];
		MDB_val tk, tv;
		if (rec == NULL || k.mv_size == 0 || k.mv_size > CALLRAFT_IDEMPOTENCY_KEY_BYTES_MAX) {
			if (rec != NULL)
				callraft__idempotency_record__free_unpacked(rec, NULL);
			mdb_cursor_close(cur);
			return snprintf(msg, msg_len, "idem: a record does not decode"), -1;
		}
		memcpy(key, k.mv_data, k.mv_size);
		key[k.mv_size] = '\0';
		tk.mv_size = time_key(tkey, rec->at_ms, key);
		tk.mv_data = tkey;
		callraft__idempotency_record__free_unpacked(rec, NULL);
		if (mdb_get(txn, s->dbi[DB_IDEM_TIME], &tk, &tv) != 0) {
			mdb_cursor_close(cur);
			return snprintf(msg, msg_len, "idem: key '%s' has no expiry entry", key), -1;
		}
		count++;
	}
	mdb_cursor_close(cur);
	if (count != stored)
		return snprintf(msg, msg_len, "idem: %llu records but idem_count says %llu",
				(unsigned long long)count, (unsigned long long)stored), -1;
	if (count > CALLRAFT_IDEMPOTENCY_KEYS_MAX)
		return snprintf(msg, msg_len, "idem: %llu records exceed the bound",
				(unsigned long long)count), -1;
	{
		MDB_stat st;
		if (mdb_stat(txn, s->dbi[DB_IDEM_TIME], &st) != 0 || st.ms_entries != count)
			return snprintf(msg, msg_len, "idem: idem_time does not match idem"), -1;
	}
	return 0;
}
