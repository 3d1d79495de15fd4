/* rxbuf.h: the bytes a stream received that are not yet a whole frame: a client connection's
 * requests (conn.c) and a follower's forward link's replies (forward.c). Both read into it the same
 * way: libuv reads into the room rxbuf_reserve gives (the caller then adds the count to len), TLS
 * hands decrypted bytes to rxbuf_append, the owner handles the whole frames at the front and drops
 * them with rxbuf_consume. It grows by CALLRAFT_RX_CHUNK_BYTES; the frame limits the owners check
 * (callraft_frame_next) bound it. */
#ifndef CALLRAFT_RXBUF_H
#define CALLRAFT_RXBUF_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct rxbuf {
	uint8_t *data; /* owned; NULL until the first byte */
	size_t len;    /* bytes held */
	size_t cap;    /* bytes allocated */
};

/* libuv's alloc callback body: *buf is the room after len, at least a chunk; len 0 when memory is
 * short (libuv then reports UV_ENOBUFS to the read callback). */
void rxbuf_reserve(struct rxbuf *b, uv_buf_t *buf);
/* Appends `n` bytes: 0, or -1 when memory is short (nothing changed). */
int rxbuf_append(struct rxbuf *b, const uint8_t *bytes, size_t n);
/* Drops the first `n` bytes (the frames handled): what follows moves to the front. */
void rxbuf_consume(struct rxbuf *b, size_t n);
/* Frees the bytes; the buffer is empty and may be used again. */
void rxbuf_release(struct rxbuf *b);

#endif
