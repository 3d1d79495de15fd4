/* test_quota.c: unit tests of state/quota.c (issue 13: no poison pill).
 *
 * Two replicas (two LMDB environments) apply the same entries; the entries carry a small quota as
 * a leader stamps it. The flood that used to end in MDB_MAP_FULL on every replica must instead be
 * refused with RESOURCE_EXHAUSTED by both alike (same replies, same digest), keep the state
 * serving, and let the calls in progress finish. White-box: includes state_internal.h to compare
 * the in-memory sizes with a walk of the tables. */
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

#define MAP_BYTES (64u << 20)
#define QUOTA_BYTES (256u << 10)
#define REPLICAS 2

struct fx {
	char base[64];
	struct state *s[REPLICAS];
	uint64_t index;
	int64_t time_ms;
	uint64_t quota_bytes;
	uint64_t client_id;
	uint64_t seq;
};

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static struct state *open_at(const char *dir)
{
	struct state_options o = {.map_bytes = MAP_BYTES, .no_sync = true};
	struct state *s;
	char err[256];

	mkdir(dir, 0750);
	if (state_open(dir, &o, &s, err, sizeof err) != 0)
		fail_msg("state_open: %s", err);
	return s;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	char dir[96];

	snprintf(f->base, sizeof f->base, "/tmp/test_quota.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	for (int i = 0; i < REPLICAS; i++) {
		snprintf(dir, sizeof dir, "%s/%d", f->base, i);
		f->s[i] = open_at(dir);
	}
	f->time_ms = 1000;
	f->quota_bytes = QUOTA_BYTES;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	for (int i = 0; i < REPLICAS; i++)
		state_close(f->s[i]);
	nftw(f->base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Applies one command on every replica at the next index; checks that the replicas' replies are
 * byte-identical and returns the decoded reply. */
static Callraft__Reply *run(struct fx *f, Callraft__Command *cmd)
{
	Callraft__Entry e = CALLRAFT__ENTRY__INIT;
	struct state_replies out[REPLICAS];
	uint8_t *b, *first = NULL;
	size_t len, first_len = 0;
	char err[256];

	if (cmd->op_case != CALLRAFT__COMMAND__OP_REGISTER_CLIENT && cmd->client_id == 0) {
		cmd->client_id = f->client_id;
		cmd->seq = ++f->seq;
	}
	e.format = CALLRAFT_ENTRY_FORMAT;
	e.time_ms = f->time_ms;
	e.term = 1;
	e.quota_bytes = f->quota_bytes;
	e.n_commands = 1;
	e.commands = &cmd;
	len = callraft__entry__get_packed_size(&e);
	b = malloc(len);
	callraft__entry__pack(&e, b);
	f->index++;
	for (int i = 0; i < REPLICAS; i++) {
		if (state_apply(f->s[i], f->index, b, len, &out[i], err, sizeof err) != 0)
			fail_msg("replica %d: apply %llu: %s", i, (unsigned long long)f->index, err);
		assert_int_equal(out[i].n, 1);
		if (i == 0) {
			first = malloc(out[0].len[0]);
			memcpy(first, out[0].bytes[0], out[0].len[0]);
			first_len = out[0].len[0];
		} else {
			assert_int_equal(out[i].len[0], first_len);
			assert_memory_equal(out[i].bytes[0], first, first_len);
		}
	}
	Callraft__Reply *r = callraft__reply__unpack(NULL, first_len, first);
	assert_non_null(r);
	free(first);
	free(b);
	return r;
}

static void register_client(struct fx *f)
{
	Callraft__RegisterClient reg = CALLRAFT__REGISTER_CLIENT__INIT;
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;

	reg.name = "test";
	cmd.op_case = CALLRAFT__COMMAND__OP_REGISTER_CLIENT;
	cmd.register_client = &reg;
	Callraft__Reply *r = run(f, &cmd);
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	f->client_id = r->client_id;
	f->seq = 0;
	callraft__reply__free_unpacked(r, NULL);
}

static Callraft__Code ticket_open(struct fx *f, const char *customer, size_t subject_len)
{
	Callraft__TicketOpen op = CALLRAFT__TICKET_OPEN__INIT;
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;
	char subject[CALLRAFT_SUBJECT_BYTES_MAX + 1];

	memset(subject, 's', subject_len);
	subject[subject_len] = '\0';
	op.customer_id = (char *)customer;
	op.category = "complaint";
	op.subject = subject;
	cmd.op_case = CALLRAFT__COMMAND__OP_TICKET_OPEN;
	cmd.ticket_open = &op;
	Callraft__Reply *r = run(f, &cmd);
	Callraft__Code code = r->code;
	if (code == CALLRAFT__CODE__RESOURCE_EXHAUSTED)
		assert_non_null(strstr(r->message, "quota"));
	callraft__reply__free_unpacked(r, NULL);
	return code;
}

static Callraft__Code call_cmd(struct fx *f, Callraft__Command *cmd)
{
	Callraft__Reply *r = run(f, cmd);
	Callraft__Code code = r->code;
	callraft__reply__free_unpacked(r, NULL);
	return code;
}

static Callraft__Code enqueue(struct fx *f, const char *call_id)
{
	Callraft__CallEnqueue op = CALLRAFT__CALL_ENQUEUE__INIT;
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;
	char number[24];
	unsigned h = 5381;

	/* One caller per call id: one number in one queue would be a redial (merged). */
	for (const char *p = call_id; *p != '\0'; p++)
		h = h * 33 + (unsigned char)*p;
	snprintf(number, sizeof number, "+98%010u", h);
	op.call_id = (char *)call_id;
	op.queue = "sales";
	op.caller_number = number;
	op.arrival_site = "tehran";
	cmd.op_case = CALLRAFT__COMMAND__OP_CALL_ENQUEUE;
	cmd.call_enqueue = &op;
	return call_cmd(f, &cmd);
}

static Callraft__Code abandon(struct fx *f, const char *call_id)
{
	Callraft__CallAbandon op = CALLRAFT__CALL_ABANDON__INIT;
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;

	op.call_id = (char *)call_id;
	cmd.op_case = CALLRAFT__COMMAND__OP_CALL_ABANDON;
	cmd.call_abandon = &op;
	return call_cmd(f, &cmd);
}

static void check_replicas(struct fx *f)
{
	char msg[256];

	for (int i = 0; i < REPLICAS; i++)
		if (state_check(f->s[i], msg, sizeof msg) != 0)
			fail_msg("replica %d: %s", i, msg);
	assert_true(state_digest(f->s[0]) == state_digest(f->s[1]));
}

/* Advances FSM time past the per-session window so that only the state quota is in play. */
static void next_window(struct fx *f)
{
	f->time_ms += CALLRAFT_QUOTA_SESSION_WINDOW_MS;
}

/* The flood that filled LMDB's map now stops at the quota on every replica alike, with a clear
 * error, while the state stays under quota + headroom and consistent. */
static void test_flood_refused_alike_at_quota(void **state)
{
	struct fx *f = *state;
	char customer[32];
	int ok = 0, refused = 0;

	register_client(f);
	for (int i = 0; i < 4000 && refused < 20; i++) {
		if (i % 20 == 0) {
			next_window(f);
			register_client(f); /* a fresh session: the state quota, not the session's */
		}
		snprintf(customer, sizeof customer, "c-%d", i);
		Callraft__Code code = ticket_open(f, customer, CALLRAFT_SUBJECT_BYTES_MAX);
		if (code == CALLRAFT__CODE__OK)
			ok++;
		else if (code == CALLRAFT__CODE__RESOURCE_EXHAUSTED)
			refused++;
		else
			fail_msg("ticket %d: code %d", i, code);
	}
	assert_true(ok > 100);
	assert_int_equal(refused, 20);
	struct state_usage u;
	state_usage(f->s[0], &u);
	if (u.bytes > f->quota_bytes / 100 * (100 + CALLRAFT_QUOTA_HEADROOM_PERCENT))
		fail_msg("%llu bytes, table %s %llu, ok %d", (unsigned long long)u.bytes, u.table, (unsigned long long)u.table_bytes, ok);
	assert_int_equal(u.quota_bytes, f->quota_bytes);
	check_replicas(f);
}

/* Writes that only move existing objects along still pass at the quota: a waiting call can still
 * be abandoned once new calls are refused. */
static void test_full_state_still_lets_calls_finish(void **state)
{
	struct fx *f = *state;
	char id[32];
	int n = 0;

	register_client(f);
	for (;; n++) {
		if (n % 100 == 0) {
			next_window(f);
			register_client(f);
		}
		snprintf(id, sizeof id, "call-%d", n);
		Callraft__Code code = enqueue(f, id);
		if (code == CALLRAFT__CODE__RESOURCE_EXHAUSTED)
			break;
		assert_int_equal(code, CALLRAFT__CODE__OK);
		assert_true(n < 100000);
	}
	assert_true(n > 10);
	uint64_t digest = state_digest(f->s[0]);
	/* The refused enqueue changed nothing but the session's stored reply. */
	assert_int_equal(enqueue(f, "call-new"), CALLRAFT__CODE__RESOURCE_EXHAUSTED);
	assert_true(state_digest(f->s[0]) != digest); /* the session's reply and seq only */
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof id, "call-%d", i);
		assert_int_equal(abandon(f, id), CALLRAFT__CODE__OK);
	}
	check_replicas(f);
}

/* One session cannot add more than quota / QUOTA_SESSION_DIVISOR per window; the next window it
 * can again. */
static void test_session_growth_per_window(void **state)
{
	struct fx *f = *state;
	char customer[32];
	int i, ok = 0;

	f->quota_bytes = 4u << 20; /* the state quota is far away */
	register_client(f);
	for (i = 0; i < 2000; i++) {
		snprintf(customer, sizeof customer, "c-%d", i);
		Callraft__Code code = ticket_open(f, customer, CALLRAFT_SUBJECT_BYTES_MAX);
		if (code == CALLRAFT__CODE__RESOURCE_EXHAUSTED)
			break;
		assert_int_equal(code, CALLRAFT__CODE__OK);
		ok++;
	}
	assert_true(i < 2000 && ok > 10);
	struct state_usage u;
	state_usage(f->s[0], &u);
	assert_true(u.bytes < f->quota_bytes / 2);
	next_window(f);
	assert_int_equal(ticket_open(f, "after-window", 10), CALLRAFT__CODE__OK);
	check_replicas(f);
}

/* RegisterClient is refused once the session tables hold their share. */
static void test_sessions_share(void **state)
{
	struct fx *f = *state;
	int i;

	f->quota_bytes = 64u << 10;
	for (i = 0; i < 100000; i++) {
		Callraft__RegisterClient reg = CALLRAFT__REGISTER_CLIENT__INIT;
		Callraft__Command cmd = CALLRAFT__COMMAND__INIT;
		reg.name = "flood";
		cmd.op_case = CALLRAFT__COMMAND__OP_REGISTER_CLIENT;
		cmd.register_client = &reg;
		Callraft__Reply *r = run(f, &cmd);
		Callraft__Code code = r->code;
		callraft__reply__free_unpacked(r, NULL);
		if (code == CALLRAFT__CODE__RESOURCE_EXHAUSTED)
			break;
		assert_int_equal(code, CALLRAFT__CODE__OK);
	}
	assert_true(i > 10 && i < 100000);
	check_replicas(f);
}

/* Entries without a quota (written before quotas existed) are applied as before; the sizes are
 * still kept, survive a reopen, and match a walk of the tables. */
static void test_no_quota_and_reopen(void **state)
{
	struct fx *f = *state;
	char customer[32], dir[96];
	struct state_usage before, after;

	f->quota_bytes = 0;
	register_client(f);
	for (int i = 0; i < 50; i++) {
		snprintf(customer, sizeof customer, "c-%d", i);
		assert_int_equal(ticket_open(f, customer, 100), CALLRAFT__CODE__OK);
	}
	state_usage(f->s[0], &before);
	assert_true(before.bytes > 50 * 100);
	state_close(f->s[0]);
	snprintf(dir, sizeof dir, "%s/0", f->base);
	f->s[0] = open_at(dir);
	state_usage(f->s[0], &after);
	assert_int_equal(before.bytes, after.bytes);
	check_replicas(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_flood_refused_alike_at_quota, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_state_still_lets_calls_finish, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_session_growth_per_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions_share, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_quota_and_reopen, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
