/* test_fsm.c: the log payload framing of replication/fsm.c: raft_uv accepts only entry buffers
 * whose length is a multiple of 8, and the FSM must find the exact encoded Entry inside. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fsm.h"

static Callraft__Entry *entry_with(size_t n_commands, Callraft__Command *cmds, Callraft__Command **ptrs,
				   Callraft__CallAbandon *ops)
{
	static Callraft__Entry e;
	callraft__entry__init(&e);
	e.format = 1;
	e.time_ms = 1795580000123;
	e.term = 7;
	for (size_t i = 0; i < n_commands; i++) {
		callraft__command__init(&cmds[i]);
		callraft__call_abandon__init(&ops[i]);
		ops[i].call_id = "pbx-1";
		cmds[i].client_id = 3;
		cmds[i].seq = i + 1;
		cmds[i].op_case = CALLRAFT__COMMAND__OP_CALL_ABANDON;
		cmds[i].call_abandon = &ops[i];
		ptrs[i] = &cmds[i];
	}
	e.n_commands = n_commands;
	e.commands = ptrs;
	return &e;
}

static void payload_is_a_multiple_of_8_and_round_trips(void **s)
{
	Callraft__Command cmds[20], *ptrs[20];
	Callraft__CallAbandon ops[20];
	(void)s;
	for (size_t n = 0; n < 20; n++) {
		Callraft__Entry *e = entry_with(n, cmds, ptrs, ops);
		size_t len = 0, inner_len = 0;
		const void *inner = NULL;
		void *buf = fsm_entry_encode(e, &len);
		assert_non_null(buf);
		assert_int_equal(len % 8, 0);
		assert_int_equal(fsm_entry_payload(buf, len, &inner, &inner_len), 0);
		assert_int_equal(inner_len, callraft__entry__get_packed_size(e));
		Callraft__Entry *back = callraft__entry__unpack(NULL, inner_len, inner);
		assert_non_null(back);
		assert_int_equal(back->n_commands, n);
		assert_int_equal(back->term, 7);
		assert_int_equal(back->time_ms, 1795580000123);
		callraft__entry__free_unpacked(back, NULL);
		raft_free(buf);
	}
}

static void broken_framing_is_detected(void **s)
{
	uint8_t buf[16] = {0, 0, 0, 13};
	const void *inner;
	size_t inner_len;
	(void)s;
	assert_int_equal(fsm_entry_payload(buf, 3, &inner, &inner_len), -1);  /* no length */
	assert_int_equal(fsm_entry_payload(buf, 16, &inner, &inner_len), -1); /* 13 > 12 */
	buf[3] = 12;
	assert_int_equal(fsm_entry_payload(buf, 16, &inner, &inner_len), 0);
	assert_int_equal(inner_len, 12);
	assert_ptr_equal(inner, buf + 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(payload_is_a_multiple_of_8_and_round_trips),
		cmocka_unit_test(broken_framing_is_detected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
