/* test_state_time.c: FSM time under entries with absurd clocks (state/apply.c, issue 13).
 *
 * FSM time is the largest time stamped so far, clamped to CALLRAFT_FSM_TIME_MS_MAX: an entry from a
 * wild clock or a forged one cannot push it to where now + a duration overflows (fuzz_entry found
 * Tick's now + site_loss_after_ms overflowing after an entry stamped near INT64_MAX). */
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

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void apply_at(struct state *s, uint64_t index, int64_t time_ms, Callraft__Command *cmd)
{
	Callraft__Entry e = CALLRAFT__ENTRY__INIT;
	struct state_replies out;
	char err[256];

	e.format = CALLRAFT_ENTRY_FORMAT;
	e.time_ms = time_ms;
	e.term = 1;
	e.n_commands = cmd != NULL;
	e.commands = &cmd;
	size_t len = callraft__entry__get_packed_size(&e);
	uint8_t *b = malloc(len);
	callraft__entry__pack(&e, b);
	if (state_apply(s, index, b, len, &out, err, sizeof err) != 0)
		fail_msg("apply %llu: %s", (unsigned long long)index, err);
	free(b);
}

/* An entry stamped INT64_MAX, then Ticks and a site configuration: time stops at the clamp, every
 * timer computed from it fits, the invariants hold. */
static void time_is_clamped(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_state_time.XXXXXX", msg[256];
	struct state_options o = {.map_bytes = 64u << 20, .no_sync = true};
	struct state *s;
	Callraft__Command tick = CALLRAFT__COMMAND__INIT;
	Callraft__Tick t = CALLRAFT__TICK__INIT;
	Callraft__Command reg = CALLRAFT__COMMAND__INIT;
	Callraft__RegisterClient rc = CALLRAFT__REGISTER_CLIENT__INIT;
	Callraft__Command login = CALLRAFT__COMMAND__INIT;
	Callraft__AgentLogin al = CALLRAFT__AGENT_LOGIN__INIT;
	char *skills[] = {"sales"};

	assert_non_null(mkdtemp(dir));
	assert_int_equal(state_open(dir, &o, &s, msg, sizeof msg), 0);
	tick.op_case = CALLRAFT__COMMAND__OP_TICK;
	tick.tick = &t;
	reg.op_case = CALLRAFT__COMMAND__OP_REGISTER_CLIENT;
	reg.register_client = &rc;
	apply_at(s, 1, 1000, &reg);
	al.agent_id = "ag-1";
	al.site = "tehran";
	al.n_skills = 1;
	al.skills = skills;
	login.client_id = 1;
	login.seq = 1;
	login.op_case = CALLRAFT__COMMAND__OP_AGENT_LOGIN;
	login.agent_login = &al;
	apply_at(s, 2, 2000, &login);
	apply_at(s, 3, INT64_MAX, &tick);
	apply_at(s, 4, 1000, &tick); /* an earlier clock: time does not go back */
	apply_at(s, 5, INT64_MAX - 5, &tick);
	assert_int_equal(state_check(s, msg, sizeof msg), 0);

	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__AgentShow as = CALLRAFT__AGENT_SHOW__INIT;
	size_t len;
	as.agent_id = "ag-1";
	q.op_case = CALLRAFT__REQUEST__OP_AGENT_SHOW;
	q.agent_show = &as;
	uint8_t *b = state_read(s, &q, &len);
	Callraft__Reply *r = callraft__reply__unpack(NULL, len, b);
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	/* Every time the agent carries is at most the clamp plus a timeout. */
	assert_true(r->agent->presence_due_ms <= CALLRAFT_FSM_TIME_MS_MAX + CALLRAFT_CONFIG_MS_MAX);
	callraft__reply__free_unpacked(r, NULL);
	free(b);
	state_close(s);
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(time_is_clamped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
