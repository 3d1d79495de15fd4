/* test_membership.c: membership changes end to end (replication/membership.c) on a real raft: a
 * one-voter cluster over raft_uv on loopback, in a temporary directory, with a real state. Checks
 * which entry each change appends, which code it ends with, that a retry is a success, that raft's
 * codes arrive translated, and that every change ends exactly once (one finish or one append). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "membership.h"
#include "repl.h"
#include "state.h"

#define OPS_MAX 16

/* One client request and what the hooks saw for it. membership borrows the request until the
 * change ends, so each op owns its own. */
struct op {
	Callraft__Request req;
	Callraft__MemberAdd add;
	Callraft__MemberRemove remove;
	Callraft__MemberAssign assign;
	Callraft__LeaderTransfer transfer;
	char raft_address[32];
	int appends, finishes;
	Callraft__Code code;
	char message[320];
	Callraft__Command *cmd; /* the last entry appended for it */
};

struct fixture {
	uv_loop_t loop;
	char dir[64], state_dir[80], raft_dir[80], address[32];
	struct state *state;
	struct repl *repl;
	struct membership *m;
	bool ready, closed;
	uint64_t ready_term;
	int internal_appends;          /* appends with no op (initial members) */
	Callraft__Command *internal[4];
	bool fail_append;
	struct op ops[OPS_MAX];
};

static void on_role(void *data, bool leader, const char *name, uint64_t term)
{
	(void)data, (void)leader, (void)name, (void)term;
}

static void on_ready(void *data, uint64_t term)
{
	struct fixture *f = data;
	f->ready = true;
	f->ready_term = term;
}

static void on_fatal(void *data, const char *message)
{
	(void)data;
	fail_msg("fatal: %s", message);
}

static int hook_append(void *data, Callraft__Command *cmd, void *opaque)
{
	struct fixture *f = data;
	struct op *op = opaque;
	if (f->fail_append) {
		callraft__command__free_unpacked(cmd, NULL);
		return -1;
	}
	if (op == NULL) {
		assert_true(f->internal_appends < 4);
		f->internal[f->internal_appends++] = cmd;
		return 0;
	}
	if (op->cmd != NULL)
		callraft__command__free_unpacked(op->cmd, NULL);
	op->cmd = cmd;
	op->appends++;
	return 0;
}

static void hook_finish(void *data, void *opaque, Callraft__Code code, const char *message)
{
	struct op *op = opaque;
	(void)data;
	op->finishes++;
	op->code = code;
	snprintf(op->message, sizeof op->message, "%s", message ? message : "");
}

/* A free loopback port for raft (the kernel's choice, released for raft to bind). */
static void free_address(char *buf, size_t len)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t salen = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &salen), 0);
	snprintf(buf, len, "127.0.0.1:%u", ntohs(sa.sin_port));
	close(fd);
}

/* Runs the loop until *flag, for at most 10 s. */
static void run_until(struct fixture *f, const bool *flag)
{
	for (int i = 0; i < 10000 && !*flag; i++) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		if (!*flag)
			usleep(1000);
	}
	assert_true(*flag);
}

/* Runs the loop until op has ended. */
static void run_until_ended(struct fixture *f, struct op *op)
{
	for (int i = 0; i < 10000 && op->appends + op->finishes == 0; i++) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	assert_int_equal(op->appends + op->finishes, 1); /* M1: exactly once */
}

static const struct membership_initial INITIAL[1] = {
	{.id = 1, .site = "tehran", .raft_address = NULL, .client_address = "127.0.0.1:1"}};
static struct membership_initial initial[1];

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	char err[512];
	struct state_options so = {.map_bytes = 64u << 20, .no_sync = true};
	struct repl_member members[1];
	struct repl_config rc = {0};
	struct repl_callbacks cb = {.on_role = on_role, .on_ready = on_ready, .on_fatal = on_fatal,
				    .data = f};
	struct membership_hooks hooks = {.append = hook_append, .finish = hook_finish, .data = f};

	strcpy(f->dir, "/tmp/callraft-membership-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->state_dir, sizeof f->state_dir, "%s/state", f->dir);
	snprintf(f->raft_dir, sizeof f->raft_dir, "%s/raft", f->dir);
	assert_int_equal(mkdir(f->state_dir, 0750), 0);
	assert_int_equal(state_open(f->state_dir, &so, &f->state, err, sizeof err), 0);
	free_address(f->address, sizeof f->address);
	uv_loop_init(&f->loop);
	members[0] = (struct repl_member){.id = 1, .raft_address = f->address};
	rc = (struct repl_config){.id = 1, .raft_address = f->address, .dir = f->raft_dir,
				  .heartbeat_timeout_ms = 20, .election_timeout_ms = 100,
				  .snapshot_threshold = 1024, .snapshot_trailing = 2048,
				  .install_snapshot_timeout_ms = 1000, .initial = members,
				  .n_initial = 1};
	assert_int_equal(repl_open(&f->repl, &f->loop, f->state, &rc, &cb, err, sizeof err), 0);
	assert_int_equal(repl_start(f->repl), 0);
	initial[0] = INITIAL[0];
	initial[0].raft_address = f->address;
	f->m = membership_new(f->repl, f->state, 1, &hooks, initial, 1);
	assert_non_null(f->m);
	run_until(f, &f->ready); /* a lone voter elects itself */
	*state = f;
	return 0;
}

static void closed_cb(void *data)
{
	*(bool *)data = true;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	repl_close(f->repl, closed_cb, &f->closed);
	run_until(f, &f->closed);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	membership_free(f->m);
	state_close(f->state);
	for (int i = 0; i < f->internal_appends; i++)
		callraft__command__free_unpacked(f->internal[i], NULL);
	for (int i = 0; i < OPS_MAX; i++)
		if (f->ops[i].cmd != NULL)
			callraft__command__free_unpacked(f->ops[i].cmd, NULL);
	snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", f->dir); /* a mkdtemp name: no quote in it */
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Starts an add of member `id` at `site` (raft address 127.0.0.1:<id>) for op. */
static void start_add(struct fixture *f, uint64_t id, const char *site, struct op *op)
{
	callraft__member_add__init(&op->add);
	callraft__request__init(&op->req);
	snprintf(op->raft_address, sizeof op->raft_address, "127.0.0.1:%u", (unsigned)id);
	op->add.id = id;
	op->add.site = (char *)site;
	op->add.raft_address = op->raft_address;
	op->add.client_address = (char *)"127.0.0.1:10";
	op->req.op_case = CALLRAFT__REQUEST__OP_MEMBER_ADD;
	op->req.member_add = &op->add;
	membership_change(f->m, &op->req, op);
}

static void add(struct fixture *f, uint64_t id, const char *site, struct op *op)
{
	start_add(f, id, site, op);
	run_until_ended(f, op);
}

/* Starts a remove, assign or transfer of member `id` for op. */
static void start_change(struct fixture *f, Callraft__Request__OpCase kind, uint64_t id,
			 Callraft__MemberRole role, struct op *op)
{
	callraft__request__init(&op->req);
	op->req.op_case = kind;
	switch (kind) {
	case CALLRAFT__REQUEST__OP_MEMBER_REMOVE:
		callraft__member_remove__init(&op->remove);
		op->remove.id = id;
		op->req.member_remove = &op->remove;
		break;
	case CALLRAFT__REQUEST__OP_MEMBER_ASSIGN:
		callraft__member_assign__init(&op->assign);
		op->assign.id = id;
		op->assign.role = role;
		op->req.member_assign = &op->assign;
		break;
	default:
		callraft__leader_transfer__init(&op->transfer);
		op->transfer.id = id;
		op->req.leader_transfer = &op->transfer;
		break;
	}
	membership_change(f->m, &op->req, op);
}

static void change(struct fixture *f, Callraft__Request__OpCase kind, uint64_t id,
		   Callraft__MemberRole role, struct op *op)
{
	start_change(f, kind, id, role, op);
	run_until_ended(f, op);
}

static void initial_members_are_recorded_once_per_term(void **state)
{
	struct fixture *f = *state;

	membership_leader_ready(f->m, f->ready_term);
	assert_int_equal(f->internal_appends, 1);
	Callraft__Command *cmd = f->internal[0];
	assert_int_equal(cmd->op_case, CALLRAFT__COMMAND__OP_MEMBER_UPSERT);
	assert_int_equal(cmd->member_upsert->member->id, 1);
	assert_string_equal(cmd->member_upsert->member->site, "tehran");
	assert_string_equal(cmd->member_upsert->member->raft_address, f->address);
	membership_leader_ready(f->m, f->ready_term); /* M3: not again in the same term */
	assert_int_equal(f->internal_appends, 1);
}

static void add_appends_the_member_entry_and_a_retry_does_again(void **state)
{
	struct fixture *f = *state;
	struct op *op = &f->ops[0], *retry = &f->ops[1];

	add(f, 2, "shiraz", op);
	assert_int_equal(op->appends, 1); /* the reply is the entry's */
	assert_int_equal(op->cmd->op_case, CALLRAFT__COMMAND__OP_MEMBER_UPSERT);
	const Callraft__Member *m = op->cmd->member_upsert->member;
	assert_int_equal(m->id, 2);
	assert_string_equal(m->site, "shiraz");
	assert_string_equal(m->raft_address, "127.0.0.1:2");
	assert_string_equal(m->client_address, "127.0.0.1:10");
	assert_int_equal(repl_role_of(f->repl, 2, NULL), CALLRAFT__MEMBER_ROLE__SPARE);

	/* The same add again (its reply was lost): recorded again, not ALREADY_EXISTS. */
	add(f, 2, "shiraz", retry);
	assert_int_equal(retry->appends, 1);
	assert_int_equal(retry->cmd->member_upsert->member->id, 2);
}

static void assign_changes_the_role_and_a_retry_is_done(void **state)
{
	struct fixture *f = *state;

	add(f, 2, "shiraz", &f->ops[0]);
	change(f, CALLRAFT__REQUEST__OP_MEMBER_ASSIGN, 2, CALLRAFT__MEMBER_ROLE__STANDBY, &f->ops[1]);
	assert_int_equal(f->ops[1].finishes, 1);
	assert_int_equal(f->ops[1].code, CALLRAFT__CODE__OK);
	assert_int_equal(repl_role_of(f->repl, 2, NULL), CALLRAFT__MEMBER_ROLE__STANDBY);
	/* Already a standby (a retry whose reply was lost): done at once, before returning, with
	 * no raft change (a change would need the loop to run). */
	start_change(f, CALLRAFT__REQUEST__OP_MEMBER_ASSIGN, 2, CALLRAFT__MEMBER_ROLE__STANDBY,
		     &f->ops[2]);
	assert_int_equal(f->ops[2].finishes, 1);
	assert_int_equal(f->ops[2].code, CALLRAFT__CODE__OK);
	assert_int_equal(f->ops[2].appends, 0);
}

static void raft_codes_arrive_translated(void **state)
{
	struct fixture *f = *state;
	struct op *busy = &f->ops[1];

	/* Unknown member. */
	change(f, CALLRAFT__REQUEST__OP_MEMBER_ASSIGN, 9, CALLRAFT__MEMBER_ROLE__STANDBY, &f->ops[0]);
	assert_int_equal(f->ops[0].finishes, 1);
	assert_int_equal(f->ops[0].code, CALLRAFT__CODE__NOT_FOUND);
	assert_non_null(strstr(f->ops[0].message, "membership change of 9"));

	/* One change at a time: a second while the first is in flight is MEMBERSHIP_BUSY. */
	start_add(f, 3, "kish", &f->ops[2]);
	start_add(f, 4, "kish", busy);
	assert_int_equal(busy->finishes, 1); /* refused before raft does anything */
	assert_int_equal(busy->code, CALLRAFT__CODE__MEMBERSHIP_BUSY);
	run_until_ended(f, &f->ops[2]);
	assert_int_equal(f->ops[2].appends, 1);
	assert_int_equal(f->ops[2].cmd->member_upsert->member->id, 3);
	assert_int_equal(repl_role_of(f->repl, 4, NULL), CALLRAFT__MEMBER_ROLE__ROLE_NONE);

	/* Removing a member that is not one refuses and appends nothing. */
	change(f, CALLRAFT__REQUEST__OP_MEMBER_REMOVE, 9, 0, &f->ops[3]);
	assert_int_equal(f->ops[3].finishes, 1);
	assert_int_not_equal(f->ops[3].code, CALLRAFT__CODE__OK);
}

static void remove_appends_the_member_delete(void **state)
{
	struct fixture *f = *state;

	add(f, 5, "kish", &f->ops[0]);
	change(f, CALLRAFT__REQUEST__OP_MEMBER_REMOVE, 5, 0, &f->ops[1]);
	assert_int_equal(f->ops[1].appends, 1);
	assert_int_equal(f->ops[1].cmd->op_case, CALLRAFT__COMMAND__OP_MEMBER_DELETE);
	assert_int_equal(f->ops[1].cmd->member_delete->id, 5);
	assert_int_equal(repl_role_of(f->repl, 5, NULL), CALLRAFT__MEMBER_ROLE__ROLE_NONE);
}

static void transfer_to_the_leader_itself_is_done_and_no_voter_to_hand_to(void **state)
{
	struct fixture *f = *state;
	const char *why = NULL;

	start_change(f, CALLRAFT__REQUEST__OP_LEADER_TRANSFER, 1, 0, &f->ops[0]);
	assert_int_equal(f->ops[0].finishes, 1); /* a retry that reached the new leader: done */
	assert_int_equal(f->ops[0].code, CALLRAFT__CODE__OK);
	/* A spare cannot take leadership. */
	add(f, 6, "kish", &f->ops[1]);
	change(f, CALLRAFT__REQUEST__OP_LEADER_TRANSFER, 6, 0, &f->ops[2]);
	assert_int_equal(f->ops[2].finishes, 1);
	assert_int_not_equal(f->ops[2].code, CALLRAFT__CODE__OK);
	assert_true(repl_is_leader(f->repl));
	/* The witness's hand-off, with no other voter: refused with raft's reason. */
	assert_int_equal(membership_transfer_away(f->m, &why), -1);
	assert_non_null(why);
	assert_true(repl_is_leader(f->repl));
}

static void failed_append_ends_the_change_with_an_error(void **state)
{
	struct fixture *f = *state;

	f->fail_append = true; /* the node could not batch the entry (out of memory) */
	add(f, 7, "kish", &f->ops[0]);
	assert_int_equal(f->ops[0].appends, 0);
	assert_int_equal(f->ops[0].finishes, 1);
	assert_int_equal(f->ops[0].code, CALLRAFT__CODE__INTERNAL);
	assert_non_null(strstr(f->ops[0].message, "members add"));
	f->fail_append = false;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(initial_members_are_recorded_once_per_term, setup, teardown),
		cmocka_unit_test_setup_teardown(add_appends_the_member_entry_and_a_retry_does_again, setup,
						teardown),
		cmocka_unit_test_setup_teardown(assign_changes_the_role_and_a_retry_is_done, setup, teardown),
		cmocka_unit_test_setup_teardown(raft_codes_arrive_translated, setup, teardown),
		cmocka_unit_test_setup_teardown(remove_appends_the_member_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(transfer_to_the_leader_itself_is_done_and_no_voter_to_hand_to,
						setup, teardown),
		cmocka_unit_test_setup_teardown(failed_append_ends_the_change_with_an_error, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
