/* rxbuf.c: receive buffers (contract in rxbuf.h). */
#include "rxbuf.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "callraft_timing.h"

/* Makes room for at least `n` more bytes, allocating `extra` beyond them when it must grow: 0, or
 * -1 when memory is short (nothing changed). */
static int grow(struct rxbuf *b, size_t n, size_t extra)
{
	size_t want = b->len + n + extra;
	uint8_t *p;

	if (b->cap - b->len >= n)
		return 0;
	p = realloc(b->data, want);
	if (p == NULL)
		return -1;
	b->data = p;
	b->cap = want;
	return 0;
}

void rxbuf_reserve(struct rxbuf *b, uv_buf_t *buf)
{
	if (grow(b, CALLRAFT_RX_CHUNK_BYTES, 0) != 0) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init((char *)b->data + b->len, (unsigned)(b->cap - b->len));
}

int rxbuf_append(struct rxbuf *b, const uint8_t *bytes, size_t n)
{
	if (grow(b, n, CALLRAFT_RX_CHUNK_BYTES) != 0)
		return -1;
	memcpy(b->data + b->len, bytes, n);
	b->len += n;
	return 0;
}

void rxbuf_consume(struct rxbuf *b, size_t n)
{
	assert(n <= b->len);
	if (n == 0)
		return;
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void rxbuf_release(struct rxbuf *b)
{
	free(b->data);
	*b = (struct rxbuf){0};
}
