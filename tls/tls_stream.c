/* tls_stream.c: see tls_stream.h.
 *
 * Invariants:
 *   1. Every byte OpenSSL puts in wbio is written to the socket (uv_try_write) or handed to
 *      uv_write before control returns to the loop (flush after each SSL call), so the peer
 *      never waits on bytes we hold.
 *   2. After `stopped`, no callback of the owner runs again.
 *   3. queued_bytes is the sum of the lengths of the uv_write requests not yet completed. */
#include "tls_stream.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "callraft_timing.h"
#include "tls.h"

struct tls_write {
	uv_write_t req;
	struct tls_stream *ts;
	size_t len;
	char buf[]; /* ciphertext */
};

static void fail(struct tls_stream *ts, const char *reason)
{
	if (ts->stopped)
		return;
	ts->stopped = true;
	uv_read_stop(ts->tcp);
	if (ts->on_error != NULL)
		ts->on_error(ts, reason);
}

static void write_cb(uv_write_t *req, int status)
{
	struct tls_write *w = (struct tls_write *)req;
	struct tls_stream *ts = w->ts;
	assert(ts->queued_bytes >= w->len && ts->writes_inflight > 0);
	ts->queued_bytes -= w->len;
	ts->writes_inflight--;
	free(w);
	if (status != 0) {
		if (status != UV_ECANCELED)
			fail(ts, uv_strerror(status));
		return;
	}
	if (!ts->stopped && ts->on_drained != NULL)
		ts->on_drained(ts);
}

/* Writes what wbio holds straight to the socket when nothing is queued before it (uv_try_write
 * refuses otherwise, which keeps the order): no copy, no allocation, no write request. Leaves in
 * wbio what the socket did not take. -1 if the stream failed. */
static int flush_direct(struct tls_stream *ts)
{
	char *data, scratch[1024];
	long len = BIO_get_mem_data(ts->wbio, &data);
	int n;
	uv_buf_t b;
	if (len <= 0)
		return 0;
	b = uv_buf_init(data, (unsigned)len);
	n = uv_try_write(ts->tcp, &b, 1);
	if (n == UV_EAGAIN || n == UV_ENOSYS)
		return 0;
	if (n < 0) {
		fail(ts, uv_strerror(n));
		return -1;
	}
	if (n == len) {
		(void)BIO_reset(ts->wbio); /* a read-write memory BIO: empties it */
		return 0;
	}
	while (n > 0) { /* a partial write (the socket buffer filled): drop what went out */
		int k = BIO_read(ts->wbio, scratch, n < (int)sizeof scratch ? n : (int)sizeof scratch);
		assert(k > 0);
		n -= k;
	}
	return 0;
}

/* Sends whatever OpenSSL wrote into wbio (invariant 1). -1 if the stream failed. */
static int flush(struct tls_stream *ts)
{
	size_t pending;
	if (flush_direct(ts) != 0)
		return -1;
	while ((pending = BIO_ctrl_pending(ts->wbio)) > 0) {
		struct tls_write *w = malloc(sizeof *w + pending);
		uv_buf_t b;
		int n, rv;
		if (w == NULL) {
			fail(ts, "out of memory");
			return -1;
		}
		n = BIO_read(ts->wbio, w->buf, (int)pending);
		assert(n == (int)pending);
		w->ts = ts;
		w->len = (size_t)n;
		b = uv_buf_init(w->buf, (unsigned)n);
		rv = uv_write(&w->req, ts->tcp, &b, 1, write_cb);
		if (rv != 0) {
			free(w);
			fail(ts, uv_strerror(rv));
			return -1;
		}
		ts->queued_bytes += (size_t)n;
		ts->writes_inflight++;
	}
	return 0;
}

/* A failed handshake's reason: the certificate verification result if that was it. */
static void fail_ssl(struct tls_stream *ts, const char *what)
{
	char why[512], reason[700];
	long verify = SSL_get_verify_result(ts->ssl);
	if (verify != X509_V_OK)
		snprintf(reason, sizeof reason, "%s: certificate: %s", what,
			 X509_verify_cert_error_string(verify));
	else
		snprintf(reason, sizeof reason, "%s: %s", what, tls_error_string(why, sizeof why));
	ERR_clear_error();
	fail(ts, reason);
}

static void handshake_step(struct tls_stream *ts)
{
	int rv = SSL_do_handshake(ts->ssl);
	int err = rv == 1 ? SSL_ERROR_NONE : SSL_get_error(ts->ssl, rv);
	if (flush(ts) != 0)
		return;
	if (rv == 1) {
		ts->open = true;
		if (ts->on_handshake != NULL)
			ts->on_handshake(ts);
		return;
	}
	if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
		fail_ssl(ts, "handshake");
}

/* Delivers every decrypted byte OpenSSL can give. */
static void read_plain(struct tls_stream *ts)
{
	while (!ts->stopped) {
		int n = SSL_read(ts->ssl, ts->rx, (int)sizeof ts->rx);
		if (n > 0) {
			if (ts->on_data != NULL)
				ts->on_data(ts, ts->rx, (size_t)n);
			continue;
		}
		int err = SSL_get_error(ts->ssl, n);
		if (flush(ts) != 0) /* TLS 1.3 post-handshake messages may need an answer */
			return;
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
			return;
		if (err == SSL_ERROR_ZERO_RETURN)
			fail(ts, "closed by the peer");
		else
			fail_ssl(ts, "read");
		return;
	}
}

void tls_stream_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	buf->base = malloc(CALLRAFT_RX_CHUNK_BYTES);
	buf->len = buf->base != NULL ? CALLRAFT_RX_CHUNK_BYTES : 0;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct tls_stream *ts = s->data;
	if (nread < 0) {
		free(buf->base);
		fail(ts, nread == UV_EOF ? "connection closed by the peer" : uv_strerror((int)nread));
		return;
	}
	if (nread > 0 && !ts->stopped) {
		int n = BIO_write(ts->rbio, buf->base, (int)nread);
		assert(n == (int)nread); /* a memory BIO grows */
		(void)n;
	}
	free(buf->base);
	if (ts->stopped)
		return;
	if (!ts->open)
		handshake_step(ts);
	if (ts->open && !ts->stopped)
		read_plain(ts);
}

int tls_stream_init(struct tls_stream *ts, SSL_CTX *ctx, uv_stream_t *tcp, bool server,
		    const char *verify_host, char *errmsg, size_t errmsg_len)
{
	char why[512];
	void *data = ts->data;
	memset(ts, 0, offsetof(struct tls_stream, rx));
	ts->data = data;
	ts->tcp = tcp;
	ts->server = server;
	ts->ssl = SSL_new(ctx);
	ts->rbio = BIO_new(BIO_s_mem());
	ts->wbio = BIO_new(BIO_s_mem());
	if (ts->ssl == NULL || ts->rbio == NULL || ts->wbio == NULL) {
		snprintf(errmsg, errmsg_len, "tls: new connection: %s", tls_error_string(why, sizeof why));
		goto err;
	}
	/* An empty memory BIO means "would block", not end of file. */
	BIO_set_mem_eof_return(ts->rbio, -1);
	BIO_set_mem_eof_return(ts->wbio, -1);
	SSL_set_bio(ts->ssl, ts->rbio, ts->wbio); /* the SSL owns both from here */
	if (server) {
		SSL_set_accept_state(ts->ssl);
	} else {
		SSL_set_connect_state(ts->ssl);
		if (verify_host != NULL && verify_host[0] != '\0') {
			/* IP literals are checked against IP SANs, names against DNS SANs. */
			X509_VERIFY_PARAM *param = SSL_get0_param(ts->ssl);
			if (X509_VERIFY_PARAM_set1_ip_asc(param, verify_host) != 1 &&
			    (SSL_set1_host(ts->ssl, verify_host) != 1 ||
			     SSL_set_tlsext_host_name(ts->ssl, verify_host) != 1)) {
				snprintf(errmsg, errmsg_len, "tls: verify host '%s': %s", verify_host,
					 tls_error_string(why, sizeof why));
				goto err;
			}
			ERR_clear_error();
		}
	}
	tcp->data = ts;
	return 0;

err:
	if (ts->ssl != NULL) {
		SSL_free(ts->ssl); /* frees the BIOs if they were set */
	} else {
		BIO_free(ts->rbio);
		BIO_free(ts->wbio);
	}
	ts->ssl = NULL;
	return -1;
}

struct tls_stream *tls_stream_new(SSL_CTX *ctx, uv_stream_t *tcp, bool server,
				  const char *verify_host, void *data,
				  const struct tls_stream_callbacks *cbs, char *errmsg,
				  size_t errmsg_len)
{
	struct tls_stream *ts = calloc(1, sizeof *ts);

	if (ts == NULL) {
		snprintf(errmsg, errmsg_len, "tls: new connection: out of memory");
		return NULL;
	}
	ts->data = data;
	if (tls_stream_init(ts, ctx, tcp, server, verify_host, errmsg, errmsg_len) != 0) {
		free(ts);
		return NULL;
	}
	ts->on_handshake = cbs->on_handshake;
	ts->on_data = cbs->on_data;
	ts->on_error = cbs->on_error;
	ts->on_drained = cbs->on_drained;
	return ts;
}

int tls_stream_start(struct tls_stream *ts)
{
	int rv = uv_read_start(ts->tcp, tls_stream_alloc_cb, read_cb);
	if (rv != 0)
		return rv;
	if (!ts->server)
		handshake_step(ts);
	return 0;
}

int tls_stream_write(struct tls_stream *ts, const uint8_t *data, size_t len)
{
	if (ts->stopped || !ts->open)
		return -1;
	while (len > 0) {
		int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
		int n = SSL_write(ts->ssl, data, chunk);
		if (n <= 0) {
			fail_ssl(ts, "write");
			return -1;
		}
		data += n;
		len -= (size_t)n;
		if (flush(ts) != 0)
			return -1;
	}
	return 0;
}

void tls_stream_read_stop(struct tls_stream *ts)
{
	if (!ts->stopped)
		uv_read_stop(ts->tcp);
}

int tls_stream_read_start(struct tls_stream *ts)
{
	if (ts->stopped)
		return 0;
	return uv_read_start(ts->tcp, tls_stream_alloc_cb, read_cb);
}

void tls_stream_stop(struct tls_stream *ts)
{
	if (ts->stopped)
		return;
	ts->stopped = true;
	uv_read_stop(ts->tcp);
}

void tls_stream_release(struct tls_stream *ts)
{
	if (ts->ssl != NULL)
		SSL_free(ts->ssl);
	ts->ssl = NULL;
}
