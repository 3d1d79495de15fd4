/* test_stamp_clock.c: the leader's entry-time clock (node/stamp_clock.c) with fake wall and
 * monotonic clocks: it follows the wall clock's slewing, absorbs its steps forward and back, never
 * goes backwards, and never lags the FSM's time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "stamp_clock.h"

#define T0 1795000000000LL /* a wall-clock time in ms (2026-11) */
#define HOUR_MS 3600000LL

/* Steps of 1 s for `seconds`, the wall clock at `wall_offset_ms` from true time; returns the last
 * stamp and checks each one against the previous (S1) and the elapsed time (S2). */
static int64_t run(struct stamp_clock *c, uint64_t *mono, int64_t *truth, int seconds,
		   int64_t wall_offset_ms)
{
	int64_t prev = c->stamp_ms, stamp = prev;
	for (int i = 0; i < seconds; i++) {
		*mono += 1000;
		*truth += 1000;
		stamp = stamp_clock_now(c, *truth + wall_offset_ms, *mono, 0);
		assert_true(stamp >= prev);
		assert_true(stamp - prev >= 999 && stamp - prev <= 1001);
		prev = stamp;
	}
	return stamp;
}

static void follows_a_steady_wall_clock(void **state)
{
	(void)state;
	struct stamp_clock c;
	uint64_t mono = 5000;
	int64_t truth = T0;
	stamp_clock_init(&c, truth, mono);
	int64_t stamp = run(&c, &mono, &truth, 600, 0);
	assert_int_equal(stamp, truth);
}

static void absorbs_a_step_forward_by_hours(void **state)
{
	(void)state;
	struct stamp_clock c;
	uint64_t mono = 5000;
	int64_t truth = T0;
	stamp_clock_init(&c, truth, mono);
	run(&c, &mono, &truth, 10, 0);
	int64_t stamp = run(&c, &mono, &truth, 600, 3 * HOUR_MS);
	/* Pulled toward the wall clock by at most 1 ms per s: 600 ms ahead after 10 minutes. */
	assert_true(stamp - truth <= 600 && stamp - truth >= 0);
}

static void absorbs_a_step_back_by_hours(void **state)
{
	(void)state;
	struct stamp_clock c;
	uint64_t mono = 5000;
	int64_t truth = T0;
	stamp_clock_init(&c, truth, mono);
	run(&c, &mono, &truth, 10, 0);
	int64_t stamp = run(&c, &mono, &truth, 600, -3 * HOUR_MS);
	assert_true(truth - stamp <= 600 && truth - stamp >= 0);
}

static void follows_ntp_slewing(void **state)
{
	(void)state;
	struct stamp_clock c;
	uint64_t mono = 0;
	int64_t truth = T0, wall = T0;
	stamp_clock_init(&c, wall, mono);
	/* The wall clock runs 500 ppm fast (NTP's largest slew) for an hour: the stamp keeps up. */
	for (int i = 0; i < 3600; i++) {
		mono += 1000;
		truth += 1000;
		wall += 1000 + 1000 * 500 / 1000000 + (i % 2); /* 1000.5 ms per s */
		assert_int_equal(stamp_clock_now(&c, wall, mono, 0), wall);
	}
	assert_true(wall - truth >= 1800);
}

static void never_lags_the_fsm_time(void **state)
{
	(void)state;
	struct stamp_clock c;
	uint64_t mono = 0;
	stamp_clock_init(&c, T0, mono);
	/* This node's clock is an hour behind the cluster's: it continues from the FSM's time, and on
	 * from there at the monotonic rate (no freeze until its wall clock catches up). */
	mono += 100;
	int64_t s1 = stamp_clock_now(&c, T0 + 100, mono, T0 + HOUR_MS);
	assert_int_equal(s1, T0 + HOUR_MS);
	mono += 5000;
	int64_t s2 = stamp_clock_now(&c, T0 + 5100, mono, T0 + HOUR_MS);
	assert_true(s2 - s1 >= 4995 && s2 - s1 <= 5005);
}

static void monotonic_pause_keeps_the_stamp(void **state)
{
	(void)state;
	struct stamp_clock c;
	stamp_clock_init(&c, T0, 7);
	/* Two stamps in the same millisecond: equal, not earlier, whatever the wall clock says. */
	assert_int_equal(stamp_clock_now(&c, T0 - HOUR_MS, 7, 0), T0);
	assert_int_equal(stamp_clock_now(&c, T0 + HOUR_MS, 7, 0), T0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(follows_a_steady_wall_clock),
		cmocka_unit_test(absorbs_a_step_forward_by_hours),
		cmocka_unit_test(absorbs_a_step_back_by_hours),
		cmocka_unit_test(follows_ntp_slewing),
		cmocka_unit_test(never_lags_the_fsm_time),
		cmocka_unit_test(monotonic_pause_keeps_the_stamp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
