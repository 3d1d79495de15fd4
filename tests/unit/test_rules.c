/* test_rules.c: FSM rules versions (state/rules.c, invariants R1-R4): declarations in member
 * records, the gate of RulesSet, and the stop of a binary asked to apply an entry it has no rules
 * for. This executable declares versions 1..2 (it defines state_rules_newest, in place of
 * state/rules_newest.c, as callraftd-rules2 does), so that a RulesSet to 2 can pass the gate and
 * one to 3 is beyond it, and says that ticket_class_configure needs version 2 (state_rules_ops).
 * The state fixture runs state_check at teardown; the stop cases also check
 * that nothing changed (digest, applied index). */
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

#define STATE_FIXTURE_NAME "test_rules"
#include "state_fixture.h"

const uint32_t state_rules_newest = 2;
/* As in callraftd-rules2: one operation needs version 2, so that its refusal at version 1 is
 * tested (R3's last sentence). */
const struct state_rules_op state_rules_ops[] = {
	{CALLRAFT__COMMAND__OP_TICKET_CLASS_CONFIGURE, 2},
	{0, 0},
};

/* Applies one leader-written command (client_id 0) in an entry of its own at the next index
 * (state_fixture.h's fx_apply). Returns state_apply's code; *code gets the reply's code when it
 * applied (0). */
static int apply_one(struct fx *f, Callraft__Command *cmd, Callraft__Code *code, char *err,
		     size_t err_len)
{
	struct state_replies out;
	int rc = fx_apply(f, cmd, &out, err, err_len);

	if (rc == 0) {
		assert_int_equal(out.n, 1);
		Callraft__Reply *r = callraft__reply__unpack(NULL, out.len[0], out.bytes[0]);
		assert_non_null(r);
		*code = r->code;
		snprintf(err, err_len, "%s", r->message);
		callraft__reply__free_unpacked(r, NULL);
	}
	return rc;
}

/* Applies `cmd` and expects it to apply with reply code `want`. */
static void expect(struct fx *f, Callraft__Command *cmd, Callraft__Code want, int line)
{
	Callraft__Code code = CALLRAFT__CODE__INTERNAL;
	char msg[512];
	int rc = apply_one(f, cmd, &code, msg, sizeof msg);

	if (rc != 0)
		fail_msg("line %d: state_apply = %d: %s", line, rc, msg);
	if (code != want)
		fail_msg("line %d: code %d, want %d: %s", line, code, want, msg);
}
#define EXPECT_CODE(f, cmd, want) expect((f), (cmd), (want), __LINE__)

static Callraft__Command *upsert(struct cb *b, uint64_t id)
{
	SET_OP(b, MEMBER_UPSERT, member_upsert, mup, CALLRAFT__MEMBER_UPSERT__INIT);
	b->member = (Callraft__Member)CALLRAFT__MEMBER__INIT;
	b->member.id = id;
	b->member.site = "tehran";
	b->member.raft_address = "10.0.0.1:7001";
	b->member.client_address = "10.0.0.1:7002";
	b->op.mup.member = &b->member;
	return &b->cmd;
}

static Callraft__Command *delete(struct cb *b, uint64_t id)
{
	SET_OP(b, MEMBER_DELETE, member_delete, mdel, CALLRAFT__MEMBER_DELETE__INIT);
	b->op.mdel.id = id;
	return &b->cmd;
}

static Callraft__Command *declare(struct cb *b, uint64_t id, uint32_t oldest, uint32_t newest)
{
	SET_OP(b, RULES_DECLARE, rules_declare, rdecl, CALLRAFT__RULES_DECLARE__INIT);
	b->op.rdecl.member_id = id;
	b->op.rdecl.oldest = oldest;
	b->op.rdecl.newest = newest;
	return &b->cmd;
}

static Callraft__Command *set(struct cb *b, uint32_t version)
{
	SET_OP(b, RULES_SET, rules_set, rset, CALLRAFT__RULES_SET__INIT);
	b->op.rset.version = version;
	return &b->cmd;
}

static void member_range(struct fx *f, uint64_t id, uint32_t oldest, uint32_t newest)
{
	Callraft__Member *m;

	assert_int_equal(state_member_get(f->s, id, &m), 0);
	assert_int_equal(m->rules_oldest, oldest);
	assert_int_equal(m->rules_newest, newest);
	callraft__member__free_unpacked(m, NULL);
}

/* Two members recorded; member 1 declared 1..2. */
static void two_members(struct fx *f)
{
	struct cb b;

	EXPECT_CODE(f, upsert(&b, 1), CALLRAFT__CODE__OK);
	EXPECT_CODE(f, upsert(&b, 2), CALLRAFT__CODE__OK);
	EXPECT_CODE(f, declare(&b, 1, 1, 2), CALLRAFT__CODE__OK);
}

static void a_store_without_a_version_is_at_version_1(void **state)
{
	struct fx *f = *state;

	assert_int_equal(state_rules_active(f->s), 1);
	struct cb b;
	EXPECT_CODE(f, upsert(&b, 1), CALLRAFT__CODE__OK);
	assert_int_equal(state_rules_active(f->s), 1);
	member_range(f, 1, 0, 0); /* not declared yet */
}

static void a_declaration_lands_in_the_member_record_and_survives_upserts(void **state)
{
	struct fx *f = *state;
	struct cb b;

	/* No record yet: refused, nothing stored (the node declares again later). */
	EXPECT_CODE(f, declare(&b, 1, 1, 2), CALLRAFT__CODE__NOT_FOUND);
	assert_int_not_equal(state_member_get(f->s, 1, &(Callraft__Member *){NULL}), 0);
	EXPECT_CODE(f, upsert(&b, 1), CALLRAFT__CODE__OK);
	EXPECT_CODE(f, declare(&b, 1, 1, 2), CALLRAFT__CODE__OK);
	member_range(f, 1, 1, 2);
	/* A new leader records the members again, without ranges: the declaration stays. */
	EXPECT_CODE(f, upsert(&b, 1), CALLRAFT__CODE__OK);
	member_range(f, 1, 1, 2);
	/* Whatever range a MemberUpsert carries is not stored (only RulesDeclare sets it). */
	upsert(&b, 1);
	b.member.rules_oldest = 5;
	b.member.rules_newest = 9;
	EXPECT_CODE(f, &b.cmd, CALLRAFT__CODE__OK);
	member_range(f, 1, 1, 2);
	/* A node restarted on another binary declares again: the record follows. */
	EXPECT_CODE(f, declare(&b, 1, 1, 1), CALLRAFT__CODE__OK);
	member_range(f, 1, 1, 1);
}

static void rules_set_waits_for_every_member(void **state)
{
	struct fx *f = *state;
	struct cb b;

	two_members(f);
	/* Member 2 has not declared: refused, nothing changes but the applied index. */
	EXPECT_CODE(f, set(&b, 2), CALLRAFT__CODE__BAD_STATE);
	assert_int_equal(state_rules_active(f->s), 1);
	/* Member 2 declares 1..1: still refused. */
	EXPECT_CODE(f, declare(&b, 2, 1, 1), CALLRAFT__CODE__OK);
	Callraft__Code code;
	char msg[512];
	assert_int_equal(apply_one(f, set(&b, 2), &code, msg, sizeof msg), 0);
	assert_int_equal(code, CALLRAFT__CODE__BAD_STATE);
	assert_non_null(strstr(msg, "member 2 can apply rules versions 1..1"));
	assert_int_equal(state_rules_active(f->s), 1);
	/* Member 2 runs the new binary: accepted. */
	EXPECT_CODE(f, declare(&b, 2, 1, 2), CALLRAFT__CODE__OK);
	EXPECT_CODE(f, set(&b, 2), CALLRAFT__CODE__OK);
	assert_int_equal(state_rules_active(f->s), 2);
	/* A retry is OK and changes nothing; versions never go down. */
	EXPECT_CODE(f, set(&b, 2), CALLRAFT__CODE__OK);
	EXPECT_CODE(f, set(&b, 1), CALLRAFT__CODE__BAD_STATE);
	assert_int_equal(state_rules_active(f->s), 2);
}

static void removing_the_narrow_member_opens_the_gate(void **state)
{
	struct fx *f = *state;
	struct cb b;

	two_members(f);
	EXPECT_CODE(f, declare(&b, 2, 1, 1), CALLRAFT__CODE__OK);
	EXPECT_CODE(f, set(&b, 2), CALLRAFT__CODE__BAD_STATE);
	EXPECT_CODE(f, delete(&b, 2), CALLRAFT__CODE__OK);
	EXPECT_CODE(f, set(&b, 2), CALLRAFT__CODE__OK);
	assert_int_equal(state_rules_active(f->s), 2);
}

static void the_leaders_gate_checks_the_configuration(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t ids[] = {1, 2, 3};
	uint32_t v = 0;
	char msg[256];

	two_members(f);
	/* Member 2 undeclared, member 3 has no record at all (being added): both refuse. */
	assert_int_equal(state_rules_gate(f->s, 2, ids, 2, &v, msg, sizeof msg), -1);
	assert_non_null(strstr(msg, "member 2 has not declared"));
	EXPECT_CODE(f, declare(&b, 2, 1, 1), CALLRAFT__CODE__OK);
	assert_int_equal(state_rules_gate(f->s, 2, ids, 2, &v, msg, sizeof msg), -1);
	assert_non_null(strstr(msg, "member 2 can apply rules versions 1..1, not 2"));
	/* Without a version: the newest all hold, here the active one. */
	assert_int_equal(state_rules_gate(f->s, 0, ids, 2, &v, msg, sizeof msg), 0);
	assert_int_equal(v, 1);
	EXPECT_CODE(f, declare(&b, 2, 1, 2), CALLRAFT__CODE__OK);
	assert_int_equal(state_rules_gate(f->s, 0, ids, 2, &v, msg, sizeof msg), 0);
	assert_int_equal(v, 2);
	assert_int_equal(state_rules_gate(f->s, 3, ids, 2, &v, msg, sizeof msg), -1);
	assert_int_equal(state_rules_gate(f->s, 2, ids, 3, &v, msg, sizeof msg), -1);
	assert_non_null(strstr(msg, "member 3 has not declared"));
}

static void bad_rules_commands_are_refused(void **state)
{
	struct fx *f = *state;
	struct cb b;
	char msg[256];

	EXPECT_CODE(f, upsert(&b, 1), CALLRAFT__CODE__OK);
	EXPECT_CODE(f, declare(&b, 1, 2, 1), CALLRAFT__CODE__INVALID_ARGUMENT);
	EXPECT_CODE(f, declare(&b, 1, 0, 1), CALLRAFT__CODE__INVALID_ARGUMENT);
	EXPECT_CODE(f, declare(&b, 1, 1, CALLRAFT_RULES_VERSION_MAX + 1),
		    CALLRAFT__CODE__INVALID_ARGUMENT);
	EXPECT_CODE(f, declare(&b, 0, 1, 1), CALLRAFT__CODE__INVALID_ARGUMENT);
	EXPECT_CODE(f, set(&b, 0), CALLRAFT__CODE__INVALID_ARGUMENT);
	member_range(f, 1, 0, 0);
	/* Only the leader writes them: a client session's is refused before it runs. */
	set(&b, 2);
	b.cmd.client_id = 7;
	b.cmd.seq = 1;
	assert_int_equal(state_validate(&b.cmd, msg, sizeof msg), CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_non_null(strstr(msg, "only the leader"));
	assert_int_equal(state_rules_active(f->s), 1);
}

/* The stop (R3): state_apply answers STATE_APPLY_RULES and nothing changes. */
static void expect_stop(struct fx *f, Callraft__Command *cmd, const char *needle)
{
	uint64_t digest = state_digest(f->s), applied = state_applied_index(f->s);
	Callraft__Code code;
	char msg[512];

	assert_int_equal(apply_one(f, cmd, &code, msg, sizeof msg), STATE_APPLY_RULES);
	if (strstr(msg, needle) == NULL)
		fail_msg("stop message '%s' lacks '%s'", msg, needle);
	assert_int_equal(state_digest(f->s), digest);
	assert_int_equal(state_applied_index(f->s), applied);
	/* Asked again (a restart on the same binary), it stops again. */
	assert_int_equal(apply_one(f, cmd, &code, msg, sizeof msg), STATE_APPLY_RULES);
}

static void a_rules_set_above_this_binary_stops_it(void **state)
{
	struct fx *f = *state;
	struct cb b;

	two_members(f);
	EXPECT_CODE(f, declare(&b, 2, 1, 3), CALLRAFT__CODE__OK);
	EXPECT_CODE(f, declare(&b, 1, 1, 3), CALLRAFT__CODE__OK);
	/* Every member declares 3, but this binary applies 1..2: it must not apply the entry. */
	expect_stop(f, set(&b, 3), "needs rules version 3 and this binary applies versions 1..2");
	assert_int_equal(state_rules_active(f->s), 1);
}

static void an_operation_this_binary_does_not_know_stops_it(void **state)
{
	struct fx *f = *state;
	struct cb b;
	/* protobuf-c keeps an unknown field's bytes after its tag: here the length prefix 0. */
	uint8_t empty_message[] = {0};
	ProtobufCMessageUnknownField uf = {.tag = 120,
					   .wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED,
					   .len = sizeof empty_message,
					   .data = empty_message};

	EXPECT_CODE(f, upsert(&b, 1), CALLRAFT__CODE__OK);
	/* A newer binary's command: its operation is a field this one does not know. */
	b.cmd = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	b.cmd.base.n_unknown_fields = 1;
	b.cmd.base.unknown_fields = &uf;
	expect_stop(f, &b.cmd, "an operation this binary does not know (field 120");
	/* A command without any operation at all is still a business error, as before. */
	b.cmd = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	b.cmd.idempotency_key = "k1";
	EXPECT_CODE(f, &b.cmd, CALLRAFT__CODE__UNKNOWN_OPERATION);
}

static void a_state_above_this_binary_stops_every_entry(void **state)
{
	struct fx *f = *state;
	struct cb b;
	MDB_txn *txn;
	char err[256];

	EXPECT_CODE(f, upsert(&b, 1), CALLRAFT__CODE__OK);
	/* As if a snapshot of a cluster at version 3 were installed here. */
	assert_int_equal(mdb_txn_begin(f->s->env, NULL, 0, &txn), 0);
	assert_int_equal(store_meta_put(f->s, txn, META_RULES, 3, err, sizeof err), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	assert_int_equal(state_rules_active(f->s), 3);
	expect_stop(f, upsert(&b, 2), "the cluster's active rules version is 3 and this binary "
				      "applies versions 1..2");
}

/* A client's operation that needs version 2 is refused (BAD_STATE) while version 1 is active,
 * changing nothing but its session's reply, and applied once the cluster is at version 2. */
static void an_operation_of_a_newer_version_waits_for_the_upgrade(void **state)
{
	struct fx *f = *state;
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT, enq = CALLRAFT__COMMAND__INIT;
	Callraft__TicketClassConfigure tc = CALLRAFT__TICKET_CLASS_CONFIGURE__INIT;
	Callraft__Int64Value target = CALLRAFT__INT64_VALUE__INIT;
	Callraft__TicketClassShow show = CALLRAFT__TICKET_CLASS_SHOW__INIT;
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__Reply *r;
	struct cb b;

	tc.ticket_class = "billing";
	target.value = 3600000;
	tc.target_ms = &target;
	cmd.op_case = CALLRAFT__COMMAND__OP_TICKET_CLASS_CONFIGURE;
	cmd.ticket_class_configure = &tc;
	enq.op_case = CALLRAFT__COMMAND__OP_CALL_ENQUEUE;
	assert_int_equal(state_rules_needed(&cmd), 2);
	assert_int_equal(state_rules_needed(&enq), 1);
	show.ticket_class = "billing";
	q.op_case = CALLRAFT__REQUEST__OP_TICKET_CLASS_SHOW;
	q.ticket_class_show = &show;

	r = run(f, &cmd);
	assert_int_equal(r->code, CALLRAFT__CODE__BAD_STATE);
	assert_non_null(strstr(r->message, "ticket_class_configure: needs rules version 2, the "
					   "cluster's active version is 1"));
	callraft__reply__free_unpacked(r, NULL);
	r = read_req(f, &q); /* not configured: the class does not exist */
	assert_int_equal(r->code, CALLRAFT__CODE__NOT_FOUND);
	callraft__reply__free_unpacked(r, NULL);

	two_members(f);
	EXPECT_CODE(f, declare(&b, 2, 1, 2), CALLRAFT__CODE__OK);
	EXPECT_CODE(f, set(&b, 2), CALLRAFT__CODE__OK);
	cmd.client_id = 0; /* a new request of the session (run gives it the next seq) */
	OK(f, &cmd);
	r = read_req(f, &q);
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_int_equal(r->n_ticket_classes, 1);
	assert_int_equal(r->ticket_classes[0]->target_ms, 3600000);
	callraft__reply__free_unpacked(r, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST_EMPTY(a_store_without_a_version_is_at_version_1),
		FX_TEST_EMPTY(a_declaration_lands_in_the_member_record_and_survives_upserts),
		FX_TEST_EMPTY(rules_set_waits_for_every_member),
		FX_TEST_EMPTY(removing_the_narrow_member_opens_the_gate),
		FX_TEST_EMPTY(the_leaders_gate_checks_the_configuration),
		FX_TEST_EMPTY(bad_rules_commands_are_refused),
		FX_TEST_EMPTY(a_rules_set_above_this_binary_stops_it),
		FX_TEST_EMPTY(an_operation_this_binary_does_not_know_stops_it),
		FX_TEST_EMPTY(a_state_above_this_binary_stops_every_entry),
		FX_TEST(an_operation_of_a_newer_version_waits_for_the_upgrade),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
