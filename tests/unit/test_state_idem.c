/* test_state_idem.c: unit tests of state/idem.c, the exactly-once gate of sessionless writes
 * (HTTP's Idempotency-Key), through state_apply as the leader's entries would reach it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "state.h"
#include "state_internal.h"

#define STATE_FIXTURE_NAME "test_idem"
#include "state_fixture.h"

/* Replica a is the fixture's state (f->s); b is fed the same entries (apply). */
static struct state *replica_b;

static int setup_two(void **state)
{
	setup(state);
	struct fx *f = *state;
	replica_b = fx_state_at(f, "b", NULL);
	f->time_ms = 1000000;
	return 0;
}

static int teardown_two(void **state)
{
	state_close(replica_b);
	return teardown(state);
}

/* ---- commands ------------------------------------------------------------------------------ */

struct cmd {
	Callraft__Command c;
	Callraft__CallEnqueue enq;
	Callraft__TicketOpen topen;
};

static Callraft__Command *enqueue(struct cmd *b, const char *key, const char *call_id)
{
	b->c = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	b->enq = (Callraft__CallEnqueue)CALLRAFT__CALL_ENQUEUE__INIT;
	b->enq.call_id = (char *)call_id;
	b->enq.queue = "sales";
	b->enq.caller_number = "+982155501001";
	b->enq.arrival_site = "tehran";
	b->c.op_case = CALLRAFT__COMMAND__OP_CALL_ENQUEUE;
	b->c.call_enqueue = &b->enq;
	b->c.idempotency_key = (char *)key;
	return &b->c;
}

static Callraft__Command *ticket(struct cmd *b, const char *key, const char *customer)
{
	b->c = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	b->topen = (Callraft__TicketOpen)CALLRAFT__TICKET_OPEN__INIT;
	b->topen.customer_id = (char *)customer;
	b->topen.category = "complaint-passenger";
	b->c.op_case = CALLRAFT__COMMAND__OP_TICKET_OPEN;
	b->c.ticket_open = &b->topen;
	b->c.idempotency_key = (char *)key;
	return &b->c;
}

/* Applies one entry of `n` commands to both replicas; returns the raw replies of replica a
 * (copied: out[i] malloc'd, lens[i]) and checks that b answered the same bytes. */
static void apply(struct fx *f, Callraft__Command **cmds, size_t n, uint8_t **out, size_t *lens)
{
	Callraft__Entry e = CALLRAFT__ENTRY__INIT;
	struct state_replies ra, rb;
	char err[256];
	size_t len;
	uint8_t *buf;

	e.format = CALLRAFT_ENTRY_FORMAT;
	e.time_ms = f->time_ms;
	e.term = 1;
	e.n_commands = n;
	e.commands = cmds;
	len = callraft__entry__get_packed_size(&e);
	buf = malloc(len + 1);
	callraft__entry__pack(&e, buf);
	f->index++;
	if (state_apply(f->s, f->index, buf, len, &ra, err, sizeof err) != 0)
		fail_msg("apply a: %s", err);
	for (size_t i = 0; i < n; i++) {
		out[i] = malloc(ra.len[i] + 1);
		memcpy(out[i], ra.bytes[i], ra.len[i]);
		lens[i] = ra.len[i];
	}
	if (state_apply(replica_b, f->index, buf, len, &rb, err, sizeof err) != 0)
		fail_msg("apply b: %s", err);
	assert_int_equal(ra.n, n);
	assert_int_equal(rb.n, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(rb.len[i], lens[i]);
		assert_memory_equal(rb.bytes[i], out[i], lens[i]);
	}
	free(buf);
}

static Callraft__Reply *apply_one(struct fx *f, Callraft__Command *c, uint8_t **raw, size_t *raw_len)
{
	uint8_t *out[1];
	size_t lens[1];
	Callraft__Reply *r;

	apply(f, &c, 1, out, lens);
	r = callraft__reply__unpack(NULL, lens[0], out[0]);
	assert_non_null(r);
	if (raw != NULL) {
		*raw = out[0];
		*raw_len = lens[0];
	} else {
		free(out[0]);
	}
	return r;
}

static uint64_t count_db(struct state *s, enum state_db db)
{
	MDB_txn *txn;
	MDB_stat st;
	assert_int_equal(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_stat(txn, s->dbi[db], &st), 0);
	mdb_txn_abort(txn);
	return st.ms_entries;
}

static void check_replicas(struct fx *f)
{
	char msg[256];
	if (state_check(f->s, msg, sizeof msg) != 0)
		fail_msg("state_check: %s", msg);
	assert_int_equal(state_digest(f->s), state_digest(replica_b));
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_retried_key_returns_first_reply_and_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct cmd b;
	uint8_t *first, *again;
	size_t first_len, again_len;
	Callraft__Reply *r = apply_one(f, ticket(&b, "key-1", "c-42"), &first, &first_len);

	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_non_null(r->ticket);
	callraft__reply__free_unpacked(r, NULL);
	assert_int_equal(count_db(f->s, DB_TICKETS), 1);

	/* The retry, in a later entry (after a failover, say): same bytes, nothing changes but the
	 * FSM time and applied index (meta). */
	f->time_ms += 60000;
	r = apply_one(f, ticket(&b, "key-1", "c-42"), &again, &again_len);
	assert_int_equal(again_len, first_len);
	assert_memory_equal(again, first, first_len);
	assert_int_equal(count_db(f->s, DB_TICKETS), 1);
	assert_int_equal(count_db(f->s, DB_IDEM), 1);
	assert_int_equal(count_db(f->s, DB_IDEM_TIME), 1);
	callraft__reply__free_unpacked(r, NULL);
	free(first);
	free(again);
	check_replicas(f);
}

static void test_same_key_twice_in_one_entry_applies_once(void **state)
{
	struct fx *f = *state;
	struct cmd b1, b2;
	Callraft__Command *cmds[2] = {ticket(&b1, "key-2", "c-1"), ticket(&b2, "key-2", "c-1")};
	uint8_t *out[2];
	size_t lens[2];

	apply(f, cmds, 2, out, lens);
	assert_int_equal(lens[0], lens[1]);
	assert_memory_equal(out[0], out[1], lens[0]);
	assert_int_equal(count_db(f->s, DB_TICKETS), 1);
	free(out[0]);
	free(out[1]);
	check_replicas(f);
}

static void test_key_reused_for_another_request_is_refused(void **state)
{
	struct fx *f = *state;
	struct cmd b;
	Callraft__Reply *r = apply_one(f, enqueue(&b, "key-3", "pbx-1"), NULL, NULL);

	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	callraft__reply__free_unpacked(r, NULL);
	r = apply_one(f, enqueue(&b, "key-3", "pbx-2"), NULL, NULL);
	assert_int_equal(r->code, CALLRAFT__CODE__IDEMPOTENCY_KEY_REUSED);
	assert_non_null(strstr(r->message, "key-3"));
	callraft__reply__free_unpacked(r, NULL);
	assert_int_equal(count_db(f->s, DB_CALLS), 1);
	check_replicas(f);
}

static void test_key_expires_after_ttl_of_fsm_time(void **state)
{
	struct fx *f = *state;
	struct cmd b;
	Callraft__Reply *r = apply_one(f, ticket(&b, "key-4", "c-9"), NULL, NULL);
	char code1[24];

	snprintf(code1, sizeof code1, "%s", r->ticket->code);
	callraft__reply__free_unpacked(r, NULL);
	/* Just inside the retention: the same ticket. */
	f->time_ms += CALLRAFT_IDEMPOTENCY_TTL_MS;
	r = apply_one(f, ticket(&b, "key-4", "c-9"), NULL, NULL);
	assert_string_equal(r->ticket->code, code1);
	callraft__reply__free_unpacked(r, NULL);
	assert_int_equal(count_db(f->s, DB_TICKETS), 1);
	/* Beyond it: the key is gone (expired by the entry itself), the write applies anew. */
	f->time_ms += 1;
	r = apply_one(f, ticket(&b, "key-4", "c-9"), NULL, NULL);
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_string_not_equal(r->ticket->code, code1);
	callraft__reply__free_unpacked(r, NULL);
	assert_int_equal(count_db(f->s, DB_TICKETS), 2);
	assert_int_equal(count_db(f->s, DB_IDEM), 1);
	check_replicas(f);
}

static void test_expiry_is_bounded_per_entry_and_oldest_first(void **state)
{
	struct fx *f = *state;
	enum { N = CALLRAFT_IDEMPOTENCY_EXPIRE_PER_ENTRY + 5 };
	struct cmd b[N];
	Callraft__Command *cmds[N];
	char keys[N][16];
	uint8_t *out[N];
	size_t lens[N];

	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof keys[i], "old-%02d", i);
		cmds[i] = ticket(&b[i], keys[i], "c-1");
	}
	apply(f, cmds, N, out, lens);
	for (int i = 0; i < N; i++)
		free(out[i]);
	assert_int_equal(count_db(f->s, DB_IDEM), N);
	f->time_ms += CALLRAFT_IDEMPOTENCY_TTL_MS + 1;
	apply(f, NULL, 0, out, lens);
	assert_int_equal(count_db(f->s, DB_IDEM), N - CALLRAFT_IDEMPOTENCY_EXPIRE_PER_ENTRY);
	apply(f, NULL, 0, out, lens);
	assert_int_equal(count_db(f->s, DB_IDEM), 0);
	check_replicas(f);
}

static void test_count_bound_drops_the_oldest_key(void **state)
{
	struct fx *f = *state;
	MDB_txn *txn;
	char err[256];
	Callraft__IdempotencyRecord *rec = NULL;
	const uint8_t reply[] = {0x10, 0x00};
	uint64_t bytes[DB_COUNT]; /* the transaction is aborted: restored as apply does (quota.c 2) */

	memcpy(bytes, f->s->bytes, sizeof bytes);
	assert_int_equal(mdb_txn_begin(f->s->env, NULL, 0, &txn), 0);
	for (int i = 0; i < 5; i++) {
		char key[8];
		snprintf(key, sizeof key, "k%d", i);
		if (idem_put(f->s, txn, key, 7, 1000 + i, reply, sizeof reply, 3, err, sizeof err) != 0)
			fail_msg("idem_put: %s", err);
	}
	/* k0 and k1 made room for k3 and k4. */
	assert_int_equal(idem_get(f->s, txn, "k0", 2000, &rec, err, sizeof err), 1);
	assert_int_equal(idem_get(f->s, txn, "k1", 2000, &rec, err, sizeof err), 1);
	for (int i = 2; i < 5; i++) {
		char key[8];
		snprintf(key, sizeof key, "k%d", i);
		assert_int_equal(idem_get(f->s, txn, key, 2000, &rec, err, sizeof err), 0);
		assert_int_equal(rec->at_ms, 1000 + i);
		assert_int_equal(rec->fingerprint, 7);
		protobuf_c_message_free_unpacked(&rec->base, NULL);
	}
	if (idem_check(f->s, txn, err, sizeof err) != 0)
		fail_msg("idem_check: %s", err);
	mdb_txn_abort(txn);
	memcpy(f->s->bytes, bytes, sizeof bytes);
}

static void test_bad_keys_and_keys_with_a_session_are_invalid(void **state)
{
	struct fx *f = *state;
	struct cmd b;
	char msg[256], long_key[CALLRAFT_IDEMPOTENCY_KEY_BYTES_MAX + 2];

	assert_int_equal(state_validate(enqueue(&b, "has space", "x"), msg, sizeof msg),
			 CALLRAFT__CODE__INVALID_ARGUMENT);
	memset(long_key, 'k', sizeof long_key - 1);
	long_key[sizeof long_key - 1] = '\0';
	assert_int_equal(state_validate(enqueue(&b, long_key, "x"), msg, sizeof msg),
			 CALLRAFT__CODE__INVALID_ARGUMENT);
	Callraft__Command *c = enqueue(&b, "good-key", "x");
	assert_int_equal(state_validate(c, msg, sizeof msg), CALLRAFT__CODE__OK);
	c->client_id = 5;
	c->seq = 1;
	assert_int_equal(state_validate(c, msg, sizeof msg), CALLRAFT__CODE__INVALID_ARGUMENT);
	/* Applied anyway (a leader that skipped validation): refused, nothing stored. */
	Callraft__Reply *r = apply_one(f, enqueue(&b, "has space", "x"), NULL, NULL);
	assert_int_equal(r->code, CALLRAFT__CODE__INVALID_ARGUMENT);
	callraft__reply__free_unpacked(r, NULL);
	assert_int_equal(count_db(f->s, DB_CALLS), 0);
	assert_int_equal(count_db(f->s, DB_IDEM), 0);
}

static void test_fingerprint_ignores_session_and_key_only(void **state)
{
	struct cmd a, b;
	(void)state;
	assert_int_equal(idem_fingerprint(enqueue(&a, "k1", "pbx-1")),
			 idem_fingerprint(enqueue(&b, "k2", "pbx-1")));
	assert_int_not_equal(idem_fingerprint(enqueue(&a, "k1", "pbx-1")),
			     idem_fingerprint(enqueue(&b, "k1", "pbx-2")));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_retried_key_returns_first_reply_and_changes_nothing,
						setup_two, teardown_two),
		cmocka_unit_test_setup_teardown(test_same_key_twice_in_one_entry_applies_once, setup_two,
						teardown_two),
		cmocka_unit_test_setup_teardown(test_key_reused_for_another_request_is_refused, setup_two,
						teardown_two),
		cmocka_unit_test_setup_teardown(test_key_expires_after_ttl_of_fsm_time, setup_two, teardown_two),
		cmocka_unit_test_setup_teardown(test_expiry_is_bounded_per_entry_and_oldest_first, setup_two,
						teardown_two),
		cmocka_unit_test_setup_teardown(test_count_bound_drops_the_oldest_key, setup_two, teardown_two),
		cmocka_unit_test_setup_teardown(test_bad_keys_and_keys_with_a_session_are_invalid, setup_two,
						teardown_two),
		cmocka_unit_test(test_fingerprint_ignores_session_and_key_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
