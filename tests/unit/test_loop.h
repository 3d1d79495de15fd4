/* test_loop.h: the libuv loop helpers of the unit tests that run a module's handles in a loop of
 * their own (test_tls_transport.c, test_repl_connect.c). Header-only; include it after cmocka.h.
 * As libuv's own tests do, a test's loop must end with nothing left open: loop_close_checked. */
#ifndef CALLRAFT_TESTS_TEST_LOOP_H
#define CALLRAFT_TESTS_TEST_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

static void loop_count_cb(uv_handle_t *h, void *arg)
{
	(void)h;
	(*(int *)arg)++;
}

/* Runs `loop` until it has nothing left to do, then fails the test if any handle is still open
 * (a close that never completed), and closes the loop. */
static void loop_close_checked(uv_loop_t *loop)
{
	int open_handles = 0;
	uv_run(loop, UV_RUN_DEFAULT);
	uv_walk(loop, loop_count_cb, &open_handles);
	assert_int_equal(open_handles, 0);
	assert_int_equal(uv_loop_close(loop), 0);
}

/* Runs `loop` one turn at a time until done(arg) is true or `limit_ms` of loop time has passed;
 * the caller checks what it waited for. */
static void loop_run_until(uv_loop_t *loop, bool (*done)(void *), void *arg, uint64_t limit_ms)
{
	uv_update_time(loop);
	uint64_t t0 = uv_now(loop);
	while (!done(arg) && uv_now(loop) - t0 < limit_ms) {
		uv_run(loop, UV_RUN_ONCE);
		uv_update_time(loop);
	}
}

#endif
