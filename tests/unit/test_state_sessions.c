/* test_state_sessions.c: session secrets and owners in the FSM (state/apply.c, issue 13).
 *
 * A session registered with a secret (drawn by the leader, carried by the entry) accepts only the
 * commands that carry it: another client that knows or guesses the session id can neither read the
 * session's stored reply nor move its seq. Every refusal is the answer an unknown session gets, and
 * stores nothing. */
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

#define STATE_FIXTURE_NAME "test_state_sessions"
#include "state_fixture.h"

static uint64_t reg(struct fx *f, const uint8_t *secret, size_t secret_len)
{
	Callraft__RegisterClient rc = CALLRAFT__REGISTER_CLIENT__INIT;
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;

	rc.name = "pbx";
	rc.secret.data = (uint8_t *)secret;
	rc.secret.len = secret_len;
	cmd.op_case = CALLRAFT__COMMAND__OP_REGISTER_CLIENT;
	cmd.register_client = &rc;
	Callraft__Reply *r = run(f, &cmd);
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_int_equal(r->session_secret.len, secret_len);
	if (secret_len > 0)
		assert_memory_equal(r->session_secret.data, secret, secret_len);
	uint64_t id = r->client_id;
	callraft__reply__free_unpacked(r, NULL);
	return id;
}

/* An enqueue of call `call_id` as (client_id, seq) with `secret`; returns the reply. */
static Callraft__Reply *enqueue(struct fx *f, uint64_t client_id, uint64_t seq, const uint8_t *secret,
				size_t secret_len, const char *call_id)
{
	Callraft__CallEnqueue op = CALLRAFT__CALL_ENQUEUE__INIT;
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;

	op.call_id = (char *)call_id;
	op.queue = "sales";
	op.caller_number = "+982155501001";
	op.customer_id = "c-42";
	cmd.client_id = client_id;
	cmd.seq = seq;
	cmd.session_secret.data = (uint8_t *)secret;
	cmd.session_secret.len = secret_len;
	cmd.op_case = CALLRAFT__COMMAND__OP_CALL_ENQUEUE;
	cmd.call_enqueue = &op;
	return run(f, &cmd);
}

static Callraft__Code enqueue_code(struct fx *f, uint64_t id, uint64_t seq, const uint8_t *secret,
				   size_t len, const char *call_id)
{
	Callraft__Reply *r = enqueue(f, id, seq, secret, len, call_id);
	Callraft__Code code = r->code;
	callraft__reply__free_unpacked(r, NULL);
	return code;
}

static const uint8_t SECRET[CALLRAFT_SESSION_SECRET_BYTES] = "0123456789abcdef";
static const uint8_t WRONG[CALLRAFT_SESSION_SECRET_BYTES] = "0123456789abcdeX";

/* Another client that knows the session id cannot replay its stored reply (caller number,
 * customer id) nor move its seq; the owner's retries and next writes are untouched. */
static void session_id_alone_is_worth_nothing(void **state)
{
	struct fx *f = *state;
	uint64_t id = reg(f, SECRET, sizeof SECRET);
	Callraft__Reply *first = enqueue(f, id, 1, SECRET, sizeof SECRET, "pbx-1");
	assert_int_equal(first->code, CALLRAFT__CODE__OK);
	assert_non_null(first->call);

	/* The stored reply of seq 1, asked for without the secret or with a wrong one. */
	Callraft__Reply *r = enqueue(f, id, 1, NULL, 0, "pbx-1");
	assert_int_equal(r->code, CALLRAFT__CODE__SESSION_UNKNOWN);
	assert_null(r->call);
	assert_non_null(strstr(r->message, "unknown or expired"));
	callraft__reply__free_unpacked(r, NULL);
	assert_int_equal(enqueue_code(f, id, 1, WRONG, sizeof WRONG, "pbx-1"),
			 CALLRAFT__CODE__SESSION_UNKNOWN);
	/* A forged seq far ahead: refused, stores nothing. */
	assert_int_equal(enqueue_code(f, id, 1000, WRONG, sizeof WRONG, "pbx-forged"),
			 CALLRAFT__CODE__SESSION_UNKNOWN);
	/* A secret of another length. */
	assert_int_equal(enqueue_code(f, id, 2, SECRET, 8, "pbx-short"),
			 CALLRAFT__CODE__SESSION_UNKNOWN);

	/* The owner's retry still gets its first reply byte for byte, and seq 2 is still next. */
	r = enqueue(f, id, 1, SECRET, sizeof SECRET, "pbx-1");
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_string_equal(r->call->call_id, first->call->call_id);
	assert_int_equal(r->applied_index, first->applied_index);
	callraft__reply__free_unpacked(r, NULL);
	callraft__reply__free_unpacked(first, NULL);
	assert_int_equal(enqueue_code(f, id, 2, SECRET, sizeof SECRET, "pbx-2"), CALLRAFT__CODE__OK);
	/* Nothing the refused commands named was stored. */
	Callraft__Request show = CALLRAFT__REQUEST__INIT;
	Callraft__CallShow cs = CALLRAFT__CALL_SHOW__INIT;
	cs.call_id = "pbx-forged";
	show.op_case = CALLRAFT__REQUEST__OP_CALL_SHOW;
	show.call_show = &cs;
	size_t len;
	uint8_t *b = state_read(f->s, &show, &len);
	r = callraft__reply__unpack(NULL, len, b);
	assert_int_equal(r->code, CALLRAFT__CODE__NOT_FOUND);
	callraft__reply__free_unpacked(r, NULL);
	free(b);
}

static Callraft__Code show_code(struct fx *f, const char *call_id)
{
	Callraft__Request show = CALLRAFT__REQUEST__INIT;
	Callraft__CallShow cs = CALLRAFT__CALL_SHOW__INIT;
	size_t len;

	cs.call_id = (char *)call_id;
	show.op_case = CALLRAFT__REQUEST__OP_CALL_SHOW;
	show.call_show = &cs;
	uint8_t *b = state_read(f->s, &show, &len);
	Callraft__Reply *r = callraft__reply__unpack(NULL, len, b);
	Callraft__Code code = r->code;
	callraft__reply__free_unpacked(r, NULL);
	free(b);
	return code;
}

/* A session registered under one identity (a certificate's, stamped as Command.actor) is useless
 * to another, even with its id and its secret: no stored reply, no seq moved, nothing stored. */
static void session_is_bound_to_its_owner(void **state)
{
	struct fx *f = *state;

	f->actor = "cert:pbx-tehran";
	uint64_t id = reg(f, SECRET, sizeof SECRET);
	Callraft__Reply *first = enqueue(f, id, 1, SECRET, sizeof SECRET, "pbx-1");
	assert_int_equal(first->code, CALLRAFT__CODE__OK);

	const char *others[] = {"cert:intruder", "", "cert:pbx-tehran ", "token:7"};
	for (size_t k = 0; k < sizeof others / sizeof others[0]; k++) {
		f->actor = others[k];
		Callraft__Reply *r = enqueue(f, id, 1, SECRET, sizeof SECRET, "pbx-1");
		assert_int_equal(r->code, CALLRAFT__CODE__SESSION_UNKNOWN);
		assert_null(r->call); /* the owner's stored reply is not handed out */
		assert_non_null(strstr(r->message, "unknown or expired"));
		callraft__reply__free_unpacked(r, NULL);
		assert_int_equal(enqueue_code(f, id, 2, SECRET, sizeof SECRET, "intruder-2"),
				 CALLRAFT__CODE__SESSION_UNKNOWN);
		assert_int_equal(enqueue_code(f, id, 1000, SECRET, sizeof SECRET, "intruder-3"),
				 CALLRAFT__CODE__SESSION_UNKNOWN);
	}
	assert_int_equal(show_code(f, "intruder-2"), CALLRAFT__CODE__NOT_FOUND);
	assert_int_equal(show_code(f, "intruder-3"), CALLRAFT__CODE__NOT_FOUND);

	/* The owner: its retry gets its first reply, seq 2 is still next. */
	f->actor = "cert:pbx-tehran";
	Callraft__Reply *r = enqueue(f, id, 1, SECRET, sizeof SECRET, "pbx-1");
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_int_equal(r->applied_index, first->applied_index);
	callraft__reply__free_unpacked(r, NULL);
	callraft__reply__free_unpacked(first, NULL);
	assert_int_equal(enqueue_code(f, id, 2, SECRET, sizeof SECRET, "pbx-2"), CALLRAFT__CODE__OK);
}

/* Without TLS (no actor) sessions have no owner and accept any sender, as before. */
static void sessions_without_an_owner_accept_any_actor(void **state)
{
	struct fx *f = *state;
	uint64_t id = reg(f, SECRET, sizeof SECRET);

	f->actor = "cert:someone";
	assert_int_equal(enqueue_code(f, id, 1, SECRET, sizeof SECRET, "pbx-1"), CALLRAFT__CODE__OK);
}

/* A sessionless write's idempotency key is its sender's: another identity sending the same key
 * and the same operation does not get the first reply (the call, its caller) and changes
 * nothing; the owner's retry still gets it. */
static void idempotency_key_is_bound_to_its_sender(void **state)
{
	struct fx *f = *state;
	Callraft__CallEnqueue op = CALLRAFT__CALL_ENQUEUE__INIT;
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;

	op.call_id = "web-1";
	op.queue = "sales";
	op.caller_number = "+982155501001";
	op.customer_id = "c-42";
	cmd.idempotency_key = "key-0001";
	cmd.op_case = CALLRAFT__COMMAND__OP_CALL_ENQUEUE;
	cmd.call_enqueue = &op;
	f->actor = "token:1";
	Callraft__Reply *first = run(f, &cmd);
	assert_int_equal(first->code, CALLRAFT__CODE__OK);
	assert_non_null(first->call);

	f->actor = "token:2";
	Callraft__Reply *r = run(f, &cmd);
	assert_int_equal(r->code, CALLRAFT__CODE__IDEMPOTENCY_KEY_REUSED);
	assert_null(r->call);
	callraft__reply__free_unpacked(r, NULL);

	f->actor = "token:1";
	r = run(f, &cmd);
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_int_equal(r->applied_index, first->applied_index);
	callraft__reply__free_unpacked(r, NULL);
	callraft__reply__free_unpacked(first, NULL);
}

/* Sessions registered before secrets (no secret in their entry) keep working without one. */
static void sessions_without_a_secret_accept_any(void **state)
{
	struct fx *f = *state;
	uint64_t id = reg(f, NULL, 0);

	assert_int_equal(enqueue_code(f, id, 1, NULL, 0, "pbx-1"), CALLRAFT__CODE__OK);
	assert_int_equal(enqueue_code(f, id, 2, WRONG, sizeof WRONG, "pbx-2"), CALLRAFT__CODE__OK);
}

/* A RegisterClient whose secret is not CALLRAFT_SESSION_SECRET_BYTES long is invalid, and a
 * command's secret may not be longer. */
static void secret_lengths_are_validated(void **state)
{
	(void)state;
	Callraft__RegisterClient rc = CALLRAFT__REGISTER_CLIENT__INIT;
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;
	uint8_t big[CALLRAFT_SESSION_SECRET_BYTES + 1] = {0};
	char msg[256];

	rc.secret.data = big;
	rc.secret.len = 5;
	cmd.op_case = CALLRAFT__COMMAND__OP_REGISTER_CLIENT;
	cmd.register_client = &rc;
	assert_int_equal(state_validate(&cmd, msg, sizeof msg), CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_non_null(strstr(msg, "secret"));
	rc.secret.len = CALLRAFT_SESSION_SECRET_BYTES;
	assert_int_equal(state_validate(&cmd, msg, sizeof msg), CALLRAFT__CODE__OK);
	cmd.session_secret.data = big;
	cmd.session_secret.len = sizeof big;
	assert_int_equal(state_validate(&cmd, msg, sizeof msg), CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_non_null(strstr(msg, "session_secret"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST_EMPTY(session_id_alone_is_worth_nothing),
		FX_TEST_EMPTY(sessions_without_a_secret_accept_any),
		cmocka_unit_test(secret_lengths_are_validated),
		FX_TEST_EMPTY(session_is_bound_to_its_owner),
		FX_TEST_EMPTY(sessions_without_an_owner_accept_any_actor),
		FX_TEST_EMPTY(idempotency_key_is_bound_to_its_sender),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
