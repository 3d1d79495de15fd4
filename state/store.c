/* store.c: LMDB access shared by the files of state/: big-endian integers, meta counters, protobuf
 * records packed straight into LMDB, and the translation of LMDB errors at the module boundary
 * ("state: put ticket 'T0001X': MDB_MAP_FULL: Environment mapsize limit reached").
 *
 * Records are checked after reading: a record that does not unpack is reported as corrupt (an
 * operational failure), never silently skipped. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

void be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

uint64_t be64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

int store_err(char *errmsg, size_t errmsg_len, int rc, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (errmsg != NULL && errmsg_len > 0)
		snprintf(errmsg, errmsg_len, "state: %s: %s", what, mdb_strerror(rc));
	return -1;
}

int store_meta_get(struct state *s, MDB_txn *txn, const char *key, uint64_t *out, char *errmsg,
		   size_t errmsg_len)
{
	MDB_val k = {strlen(key), (void *)key}, v;
	int rc = mdb_get(txn, s->dbi[DB_META], &k, &v);

	if (rc == MDB_NOTFOUND) {
		*out = 0;
		return 0;
	}
	if (rc != 0)
		return store_err(errmsg, errmsg_len, rc, "get meta '%s'", key);
	if (v.mv_size != 8)
		return store_err(errmsg, errmsg_len, MDB_CORRUPTED, "get meta '%s' (%zu bytes)", key,
				 v.mv_size);
	*out = be64_get(v.mv_data);
	return 0;
}

int store_meta_put(struct state *s, MDB_txn *txn, const char *key, uint64_t val, char *errmsg,
		   size_t errmsg_len)
{
	uint8_t b[8];

	be64_put(b, val);
	return store_put_raw(s, txn, DB_META, key, strlen(key), b, sizeof b, "meta", key, errmsg,
			     errmsg_len);
}

int store_get(struct state *s, MDB_txn *txn, enum state_db db, const void *key, size_t key_len,
	      const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out, const char *what,
	      const char *subject, char *errmsg, size_t errmsg_len)
{
	MDB_val k = {key_len, (void *)key}, v;
	int rc = mdb_get(txn, s->dbi[db], &k, &v);

	*out = NULL;
	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc != 0)
		return store_err(errmsg, errmsg_len, rc, "get %s '%s'", what, subject);
	*out = protobuf_c_message_unpack(desc, NULL, v.mv_size, v.mv_data);
	if (*out == NULL)
		return store_err(errmsg, errmsg_len, MDB_CORRUPTED, "get %s '%s': record does not unpack",
				 what, subject);
	return 0;
}

void store_account(struct state *s, enum state_db db, size_t key_len, size_t old_len, bool old,
		   size_t new_len, bool now)
{
	if (!s->bytes_ready || db == DB_META)
		return;
	if (old) {
		assert(s->bytes[db] >= key_len + old_len + CALLRAFT_QUOTA_RECORD_OVERHEAD_BYTES);
		s->bytes[db] -= key_len + old_len + CALLRAFT_QUOTA_RECORD_OVERHEAD_BYTES;
	}
	if (now)
		s->bytes[db] += key_len + new_len + CALLRAFT_QUOTA_RECORD_OVERHEAD_BYTES;
}

/* The current value size of a key, for the accounting of quota.c (meta is not counted).
 * Returns 0 (found), MDB_NOTFOUND, or an LMDB error. */
/* Calls `each` with every record of table `db` in key order, decoded as `desc`; the record is freed
 * after the call. Returns 0 after the last record, MDB_CORRUPTED when a record does not decode,
 * the first nonzero return of `each` (the walk stops there), or LMDB's code. */
int store_each(struct state *s, MDB_txn *txn, enum state_db db,
	       const ProtobufCMessageDescriptor *desc, int (*each)(void *arg, ProtobufCMessage *m),
	       void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, s->dbi[db], &cur);

	if (rc != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, v.mv_size, v.mv_data);
		if (m == NULL) {
			rc = MDB_CORRUPTED;
			break;
		}
		rc = each(arg, m);
		protobuf_c_message_free_unpacked(m, NULL);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int old_size(struct state *s, MDB_txn *txn, enum state_db db, const void *key,
		    size_t key_len, size_t *len)
{
	MDB_val k = {key_len, (void *)key}, v;
	int rc;

	*len = 0;
	if (!s->bytes_ready || db == DB_META)
		return MDB_NOTFOUND;
	rc = mdb_get(txn, s->dbi[db], &k, &v);
	if (rc == 0)
		*len = v.mv_size;
	return rc;
}

int store_put(struct state *s, MDB_txn *txn, enum state_db db, const void *key, size_t key_len,
	      const ProtobufCMessage *msg, const char *what, const char *subject, char *errmsg,
	      size_t errmsg_len)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	MDB_val k = {key_len, (void *)key}, v = {len, NULL};
	size_t old_len;
	int rc;

	/* A zero-length value is legal in LMDB but MDB_RESERVE then hands back no memory to fill. */
	if (len == 0)
		return store_put_raw(s, txn, db, key, key_len, "", 0, what, subject, errmsg, errmsg_len);
	rc = old_size(s, txn, db, key, key_len, &old_len);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_err(errmsg, errmsg_len, rc, "put %s '%s'", what, subject);
	bool old = rc == 0;
	rc = mdb_put(txn, s->dbi[db], &k, &v, MDB_RESERVE);
	if (rc != 0)
		return store_err(errmsg, errmsg_len, rc, "put %s '%s'", what, subject);
	store_account(s, db, key_len, old_len, old, len, true);
	assert(v.mv_size == len);
	size_t packed = protobuf_c_message_pack(msg, v.mv_data);
	assert(packed == len);
	(void)packed;
	return 0;
}

int store_put_raw(struct state *s, MDB_txn *txn, enum state_db db, const void *key, size_t key_len,
		  const void *val, size_t val_len, const char *what, const char *subject, char *errmsg,
		  size_t errmsg_len)
{
	MDB_val k = {key_len, (void *)key}, v = {val_len, (void *)val};
	size_t old_len;
	int rc = old_size(s, txn, db, key, key_len, &old_len);

	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_err(errmsg, errmsg_len, rc, "put %s '%s'", what, subject);
	bool old = rc == 0;
	rc = mdb_put(txn, s->dbi[db], &k, &v, 0);
	if (rc != 0)
		return store_err(errmsg, errmsg_len, rc, "put %s '%s'", what, subject);
	store_account(s, db, key_len, old_len, old, val_len, true);
	return 0;
}

int store_del(struct state *s, MDB_txn *txn, enum state_db db, const void *key, size_t key_len,
	      const char *what, const char *subject, char *errmsg, size_t errmsg_len)
{
	MDB_val k = {key_len, (void *)key};
	size_t old_len;
	int rc = old_size(s, txn, db, key, key_len, &old_len);

	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_err(errmsg, errmsg_len, rc, "delete %s '%s'", what, subject);
	rc = mdb_del(txn, s->dbi[db], &k, NULL);
	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc != 0)
		return store_err(errmsg, errmsg_len, rc, "delete %s '%s'", what, subject);
	store_account(s, db, key_len, old_len, true, 0, false);
	return 0;
}

int store_get_u64(struct state *s, MDB_txn *txn, enum state_db db, const void *key,
		  size_t key_len, uint64_t *out)
{
	MDB_val k = {key_len, (void *)key}, v;
	int rc = mdb_get(txn, s->dbi[db], &k, &v);

	*out = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc == 0 && v.mv_size != 8)
		return MDB_CORRUPTED;
	if (rc == 0)
		*out = be64_get(v.mv_data);
	return rc;
}

size_t timer_key(uint8_t out[TIMER_KEY_BYTES_MAX], int kind, int64_t due_ms, const char *id)
{
	size_t n = strlen(id);

	assert(due_ms >= 0 && n >= 1 && n <= CALLRAFT_ID_BYTES_MAX);
	be64_put(out, (uint64_t)due_ms);
	out[8] = (uint8_t)kind;
	memcpy(out + 9, id, n);
	return 9 + n;
}

size_t queue_key(uint8_t out[QUEUE_KEY_BYTES_MAX], const Callraft__Call *call)
{
	size_t n = strlen(call->queue);

	assert(n >= 1 && n <= CALLRAFT_QUEUE_BYTES_MAX);
	assert(call->tier <= CALLRAFT_TIER_MAX && call->enqueued_ms >= 0);
	memcpy(out, call->queue, n);
	out[n] = '\0';
	out[n + 1] = (uint8_t)(255 - call->tier);
	be64_put(out + n + 2, (uint64_t)call->enqueued_ms);
	be64_put(out + n + 10, call->enqueue_seq);
	return n + 1 + QUEUE_KEY_SUFFIX_BYTES;
}

size_t cust_key(uint8_t out[CUST_KEY_BYTES_MAX], const char *customer_id, uint64_t n)
{
	size_t len = strlen(customer_id);

	assert(len >= 1 && len <= CALLRAFT_ID_BYTES_MAX);
	memcpy(out, customer_id, len);
	out[len] = '\0';
	be64_put(out + len + 1, n);
	return len + 1 + 8;
}
