/* test_histogram.c: the metrics histogram (replication/histogram.c): each observation lands in the
 * first bucket whose bound it does not exceed (a value on a bound counts in that bucket), values
 * above the last bound only in the count, and sum and count add up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "histogram.h"

static const double bounds[] = {1, 10, 100};

static void observe_lands_in_first_bucket_not_exceeded(void **state)
{
	struct histogram h;

	(void)state;
	histogram_init(&h, bounds, 3);
	histogram_observe(&h, 0.5);
	histogram_observe(&h, 1);   /* on the bound: le="1" */
	histogram_observe(&h, 1.5);
	histogram_observe(&h, 100);
	histogram_observe(&h, 1e6); /* +Inf only */
	assert_int_equal(h.counts[0], 2);
	assert_int_equal(h.counts[1], 1);
	assert_int_equal(h.counts[2], 1);
	assert_int_equal(h.count, 5);
	assert_true(h.sum > 1000102.9 && h.sum < 1000103.1);
}

static void empty_histogram_is_zero(void **state)
{
	struct histogram h;

	(void)state;
	histogram_init(&h, histogram_seconds_bounds, histogram_seconds_n);
	assert_int_equal(h.count, 0);
	for (unsigned i = 0; i < h.n_bounds; i++) {
		assert_int_equal(h.counts[i], 0);
		if (i > 0)
			assert_true(h.bounds[i] > h.bounds[i - 1]); /* the node's bounds increase */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(observe_lands_in_first_bucket_not_exceeded),
		cmocka_unit_test(empty_histogram_is_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
