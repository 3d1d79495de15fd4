/* tls_stream.h: TLS over a libuv stream, on the loop, with memory BIOs (no blocking, no threads).
 *
 * The owner keeps the TCP handle; a tls_stream reads it (uv_read_start), feeds the ciphertext to
 * OpenSSL through a memory BIO, writes what OpenSSL produces with uv_write, and hands the owner
 * plaintext through callbacks:
 *
 *   tls_stream_start ─► HANDSHAKING ──handshake ok──► OPEN ──(EOF, error)──► FAILED
 *                            └──── bad certificate, timeout by the owner, EOF ──► FAILED
 *
 *   on_handshake(ts, 0, NULL)      once, when the peer's certificate was verified (the owner then
 *                                  checks the identity it needs: a node id, a role)
 *   on_data(ts, bytes, len)        plaintext, in order; the buffer is valid during the call
 *   on_error(ts, reason)           once; nothing more is delivered. The owner closes the TCP handle
 *                                  and then calls tls_stream_release.
 *
 * A callback may call tls_stream_stop (the owner closes the connection): nothing is delivered
 * after it. Writes are queued by libuv; tls_stream_queued_bytes tells the owner how much so it can
 * stop producing (backpressure), and on_drained (optional) fires after each write completes (the
 * owner compares queued_bytes with its own marks). tls_stream_read_stop / _read_start pause and
 * resume reading the TCP handle (the owner's backpressure the other way). */
#ifndef CALLRAFT_TLS_STREAM_H
#define CALLRAFT_TLS_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

struct tls_stream;

typedef void (*tls_stream_handshake_cb)(struct tls_stream *ts);
typedef void (*tls_stream_data_cb)(struct tls_stream *ts, const uint8_t *data, size_t len);
typedef void (*tls_stream_error_cb)(struct tls_stream *ts, const char *reason);
typedef void (*tls_stream_drained_cb)(struct tls_stream *ts);

struct tls_stream {
	void *data; /* the owner's */
	uv_stream_t *tcp;
	SSL *ssl;
	BIO *rbio, *wbio; /* ciphertext in (from the network) and out (to the network) */
	bool server;
	bool open;    /* the handshake completed */
	bool stopped; /* failed or stopped: no more callbacks */
	size_t queued_bytes;
	unsigned writes_inflight; /* uv_write requests not yet completed */
	tls_stream_handshake_cb on_handshake;
	tls_stream_data_cb on_data;
	tls_stream_error_cb on_error;
	tls_stream_drained_cb on_drained;
	uint8_t rx[16 * 1024];
};

/* Sets up `ts` over `tcp` (borrowed; must outlive the stream) with a new SSL from `ctx`. `server`:
 * accept side. `verify_host`, client side only and may be NULL: the peer certificate must name
 * this host (DNS or IP SAN). 0, or -1 with errmsg. */
int tls_stream_init(struct tls_stream *ts, SSL_CTX *ctx, uv_stream_t *tcp, bool server,
		    const char *verify_host, char *errmsg, size_t errmsg_len);

/* A stream's callbacks, set together (on_drained may be NULL). */
struct tls_stream_callbacks {
	tls_stream_handshake_cb on_handshake;
	tls_stream_data_cb on_data;
	tls_stream_error_cb on_error;
	tls_stream_drained_cb on_drained;
};

/* Allocates a stream for the owner `data` (tls_stream_init) with callbacks `cbs`, not started yet:
 * the stream, which the owner frees (tls_stream_release, then free) once the TCP handle is closed;
 * or NULL with errmsg, and nothing left allocated. */
struct tls_stream *tls_stream_new(SSL_CTX *ctx, uv_stream_t *tcp, bool server,
				  const char *verify_host, void *data,
				  const struct tls_stream_callbacks *cbs, char *errmsg,
				  size_t errmsg_len);

/* Starts reading the TCP handle and, client side, sends the ClientHello. 0 or a libuv error. */
int tls_stream_start(struct tls_stream *ts);

/* Encrypts and queues `len` bytes (OPEN only). 0, or -1 (the stream failed: on_error follows or
 * already fired). */
int tls_stream_write(struct tls_stream *ts, const uint8_t *data, size_t len);

/* A libuv alloc callback for a stream whose read callback frees every buffer it is given: a fresh
 * buffer of CALLRAFT_RX_CHUNK_BYTES, or none (len 0: libuv then reports UV_ENOBUFS) when memory is
 * short. The stream reads ciphertext with it; the raft TLS transport (replication/tls_transport.c)
 * reads raft's plaintext from its pipe with it. */
void tls_stream_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

/* Pauses and resumes reading the TCP handle (OPEN or HANDSHAKING; no-op once stopped). */
void tls_stream_read_stop(struct tls_stream *ts);
int tls_stream_read_start(struct tls_stream *ts);

/* Stops reading and delivering; the owner closes the TCP handle next. Idempotent. */
void tls_stream_stop(struct tls_stream *ts);

/* Frees the SSL. Call it from the TCP handle's close callback or later: libuv completes every
 * pending write (which updates ts) before that callback. */
void tls_stream_release(struct tls_stream *ts);

#endif
