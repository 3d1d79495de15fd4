/* test_rxbuf.c: the receive buffer a client connection and a forward link share (node/rxbuf.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "callraft_timing.h"
#include "rxbuf.h"

/* A read reserves at least a chunk after what is held, and the bytes libuv writes there count once
 * the caller adds them. */
static void test_reserve_gives_a_chunk_after_the_held_bytes(void **state)
{
	struct rxbuf b = {0};
	uv_buf_t buf;

	(void)state;
	rxbuf_reserve(&b, &buf);
	assert_non_null(buf.base);
	assert_true(buf.len >= CALLRAFT_RX_CHUNK_BYTES);
	assert_ptr_equal(buf.base, b.data);
	memcpy(buf.base, "abc", 3);
	b.len += 3;
	rxbuf_reserve(&b, &buf);
	assert_ptr_equal(buf.base, (char *)b.data + 3);
	assert_true(buf.len >= CALLRAFT_RX_CHUNK_BYTES);
	assert_memory_equal(b.data, "abc", 3);
	rxbuf_release(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
}

/* Appending more than the room left grows the buffer and keeps what was held, in order. */
static void test_append_grows_and_keeps_order(void **state)
{
	struct rxbuf b = {0};
	static uint8_t big[3 * CALLRAFT_RX_CHUNK_BYTES];

	(void)state;
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)(i * 7);
	assert_int_equal(rxbuf_append(&b, (const uint8_t *)"xy", 2), 0);
	assert_int_equal(rxbuf_append(&b, big, sizeof big), 0);
	assert_int_equal(b.len, 2 + sizeof big);
	assert_true(b.cap >= b.len);
	assert_memory_equal(b.data, "xy", 2);
	assert_memory_equal(b.data + 2, big, sizeof big);
	rxbuf_release(&b);
}

/* Consuming the handled frames moves the rest to the front; consuming nothing changes nothing. */
static void test_consume_moves_the_rest_to_the_front(void **state)
{
	struct rxbuf b = {0};

	(void)state;
	rxbuf_consume(&b, 0); /* empty and never allocated */
	assert_int_equal(rxbuf_append(&b, (const uint8_t *)"frame1frame2", 12), 0);
	rxbuf_consume(&b, 0);
	assert_int_equal(b.len, 12);
	rxbuf_consume(&b, 6);
	assert_int_equal(b.len, 6);
	assert_memory_equal(b.data, "frame2", 6);
	rxbuf_consume(&b, 6);
	assert_int_equal(b.len, 0);
	rxbuf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reserve_gives_a_chunk_after_the_held_bytes),
	    cmocka_unit_test(test_append_grows_and_keeps_order),
	    cmocka_unit_test(test_consume_moves_the_rest_to_the_front),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
