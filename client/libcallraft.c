/* libcallraft.c: the C client library of callraft (contract in callraft_client.h).
 *
 * Design. A client holds the node addresses it was given, at most one open connection, and one
 * session. A request is sent to one node; an answer that says "not here, not now" (a retryable
 * code, see callraft_code_is_retryable) or a broken connection makes the client close that
 * connection, back off and send the same request to the next node, until the request deadline.
 *
 * Session states:
 *   NONE       client_id == 0, last_seq == 0. The first write sends RegisterClient      -> ACTIVE
 *   ACTIVE     client_id != 0. Each write takes seq = ++last_seq and keeps it through all its
 *              retries. A write answered SESSION_UNKNOWN (the session expired after a day idle)
 *              drops the session and registers once more                                -> ACTIVE
 *
 * Invariants (checked by client_check):
 *   1. fd >= 0 exactly when `conn` names the address it is connected to.
 *   2. node < n_nodes, and 1 <= n_nodes <= CALLRAFT_MEMBERS_MAX.
 *   3. client_id == 0 implies last_seq == 0.
 *   4. Every wait is bounded by a deadline, every frame by CALLRAFT_FRAME_BYTES_MAX (replies) or
 *      CALLRAFT_REQUEST_BYTES_MAX (requests).
 *
 * Retries of one write all carry the same (client_id, seq), so the cluster applies it at most once
 * and answers a retry of an applied write with the stored reply.
 *
 * TLS: with a CA, certificate and key (options or CALLRAFT_TLS_CA/CERT/KEY) every connection is
 * TLS 1.3 on the non-blocking socket, driven with the same poll() deadlines; the node must show a
 * member certificate (callraft:node URI) signed by the CA and naming the host dialled.
 */
#include "callraft_client.h"
#include "callraft_ops.h"

#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "callraft_limits.h"
#include "tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

/* Client tunables (not cluster limits, so they live here rather than in limits.h). */
/* A request's deadline including retries: longer than an election (a few seconds) plus a forward. */
#define CLIENT_REQUEST_TIMEOUT_MS_DEFAULT 15000
/* One attempt on one node: a slow node must not eat the whole request deadline. Unless the
 * options fix it, the deadline of an attempt follows the answers seen, as TCP's retransmission
 * timeout does: srtt + 4 x rttvar of the times the nodes took to answer (writes: to commit),
 * within [MIN, MAX], and FIRST before any answer. A hung node (SIGSTOP, a dead machine behind a
 * live TCP connection) is then left after a few hundred ms for the next node, with the same
 * (client_id, seq): the session table applies the write once whichever copy commits first
 * (state/apply.c), so this deadline-split retry is still exactly once (issue 12). */
#define CLIENT_ATTEMPT_TIMEOUT_MS_DEFAULT 5000
#define CLIENT_ATTEMPT_TIMEOUT_MS_MIN 300
#define CLIENT_ATTEMPT_TIMEOUT_MS_FIRST 500
/* Backoff between attempts: short at first (a follower redirect is cheap), capped so that a new
 * leader is found soon after an election: with the 300 ms election timeout of cities 20 ms apart
 * (callraft_timing.h) a cap of 500 ms left clients asleep for up to half a second after the new
 * leader was ready; 100 ms costs a client one small request per ~75 ms while there is no leader. */
#define CLIENT_BACKOFF_MS_MIN 20
#define CLIENT_BACKOFF_MS_MAX 100
/* Longest "host:port" list accepted by callraft_client_open. */
#define CLIENT_CLUSTER_BYTES_MAX (CALLRAFT_MEMBERS_MAX * (CALLRAFT_ADDRESS_BYTES_MAX + 1))
/* A connection used this recently is reused without checking it first (see attempt). */
#define CLIENT_FRESH_CONN_MS 1000
/* A port is 1..65535: at most five digits. */
#define CLIENT_PORT_BYTES_MAX 5

_Static_assert(CLIENT_BACKOFF_MS_MIN * 2 <= CLIENT_BACKOFF_MS_MAX, "backoff must be able to grow");
_Static_assert(CALLRAFT_REQUEST_BYTES_MAX <= CALLRAFT_FRAME_BYTES_MAX, "a request is a frame");

struct client_address {
	char text[CALLRAFT_ADDRESS_BYTES_MAX + 1]; /* as given: "host:port" */
	char host[CALLRAFT_ADDRESS_BYTES_MAX + 1]; /* without brackets for "[v6]:port" */
	char port[CLIENT_PORT_BYTES_MAX + 1];
};

struct callraft_client {
	struct client_address nodes[CALLRAFT_MEMBERS_MAX];
	unsigned n_nodes;
	unsigned node;              /* index of the node the next new connection goes to */
	struct client_address hint; /* leader named by a NOT_LEADER reply; tried next once */
	bool has_hint;
	struct client_address conn; /* address of fd, when fd >= 0 */
	int fd;
	SSL_CTX *tls_ctx; /* NULL: plain TCP */
	SSL *ssl;         /* the connection's, when tls_ctx and fd >= 0 */
	/* TLS resumption: the last ticket each of nodes[] gave (NULL: none), offered on the next
	 * connection to it so that a reconnect (after a timed-out attempt, or to the leader after a
	 * NOT_LEADER) skips the certificate signature and verification: the node checks the
	 * certificate inside the ticket has not expired (tls.h). Owned; a failed handshake drops its
	 * node's. tls_slot: the nodes[] index of the connection's address, -1 for a hint outside the
	 * list (no resumption there). */
	SSL_SESSION *tls_session[CALLRAFT_MEMBERS_MAX];
	int tls_slot;
	char name[CALLRAFT_ID_BYTES_MAX + 1];
	int request_timeout_ms;
	int attempt_timeout_ms; /* fixed by the options, or the adaptive bound's ceiling */
	bool attempt_fixed;
	int64_t srtt_ms, rttvar_ms; /* smoothed answer time and its variation (0: none yet) */
	uint64_t request_id; /* last request id used on this client's connections */
	uint64_t client_id;
	uint64_t last_seq;
	/* The session's secret (Reply.session_secret of RegisterClient), sent with every write. */
	uint8_t secret[CALLRAFT_SESSION_SECRET_BYTES];
	size_t secret_len;
	uint64_t retries;
	uint64_t rand_state; /* xorshift64 state for backoff jitter; never 0 */
	enum callraft_client_error last_error;
	/* The connection's buffers, reused by every exchange: the outgoing frame, and bytes read but
	 * not yet decoded (a reply may arrive in pieces, or after a stale one). */
	uint8_t *out, *in;
	size_t out_cap, in_cap, in_len;
	int64_t last_exchange_ms; /* end of the last good exchange on fd */
};

static void client_check(const struct callraft_client *c)
{
	assert(c->n_nodes >= 1 && c->n_nodes <= CALLRAFT_MEMBERS_MAX);
	assert(c->node < c->n_nodes);
	assert(c->client_id != 0 || c->last_seq == 0);
	assert(c->rand_state != 0);
	(void)c;
}

/* ------------------------------------------------------------------------------------------------
 * Small helpers: time, frames, codes. */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

const char *callraft_code_name(Callraft__Code code)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&callraft__code__descriptor,
									   (int)code);
	return v != NULL ? v->name : "UNKNOWN_CODE";
}

bool callraft_code_is_retryable(Callraft__Code code)
{
	switch (code) {
	case CALLRAFT__CODE__NOT_LEADER:
	case CALLRAFT__CODE__NO_LEADER:
	case CALLRAFT__CODE__UNAVAILABLE:
	case CALLRAFT__CODE__OUTCOME_UNKNOWN:
	case CALLRAFT__CODE__TIMEOUT:
	case CALLRAFT__CODE__MEMBERSHIP_BUSY:
		return true;
	default:
		return false;
	}
}

bool callraft_request_is_write(const Callraft__Request *req)
{
	return callraft_op_is_write(req->op_case);
}

/* ------------------------------------------------------------------------------------------------
 * Addresses. */

/* Parses one "host:port" (or "[v6]:port") of `len` bytes. */
static int address_parse(const char *s, size_t len, struct client_address *out, char *errmsg,
			 size_t errmsg_len)
{
	if (len == 0) {
		snprintf(errmsg, errmsg_len, "empty address");
		return -1;
	}
	if (len > CALLRAFT_ADDRESS_BYTES_MAX) {
		snprintf(errmsg, errmsg_len, "'%.*s...': longer than %d bytes", 32, s,
			 CALLRAFT_ADDRESS_BYTES_MAX);
		return -1;
	}
	memcpy(out->text, s, len);
	out->text[len] = '\0';
	const char *colon = memrchr(s, ':', len);
	if (colon == NULL) {
		snprintf(errmsg, errmsg_len, "'%s': expected host:port", out->text);
		return -1;
	}
	const char *host = s;
	size_t host_len = (size_t)(colon - s);
	if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
		host++;
		host_len -= 2;
	}
	if (host_len == 0 || memchr(host, ' ', host_len) != NULL || memchr(host, ',', host_len) != NULL) {
		snprintf(errmsg, errmsg_len, "'%s': expected host:port (bad host)", out->text);
		return -1;
	}
	memcpy(out->host, host, host_len);
	out->host[host_len] = '\0';

	const char *port = colon + 1;
	size_t port_len = (size_t)(s + len - port);
	unsigned long value = 0;
	if (port_len == 0 || port_len > CLIENT_PORT_BYTES_MAX) {
		snprintf(errmsg, errmsg_len, "'%s': expected host:port (bad port)", out->text);
		return -1;
	}
	for (size_t i = 0; i < port_len; i++) {
		if (port[i] < '0' || port[i] > '9') {
			snprintf(errmsg, errmsg_len, "'%s': expected host:port (bad port)", out->text);
			return -1;
		}
		value = value * 10 + (unsigned long)(port[i] - '0');
	}
	if (value < 1 || value > 65535) {
		snprintf(errmsg, errmsg_len, "'%s': port out of range 1..65535", out->text);
		return -1;
	}
	snprintf(out->port, sizeof out->port, "%lu", value);
	return 0;
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Splits "a:1, b:2" into c->nodes. Entries are trimmed; an empty entry is an error. */
static int cluster_parse(struct callraft_client *c, const char *cluster, char *errmsg,
			 size_t errmsg_len)
{
	char why[256];
	size_t total = strnlen(cluster, CLIENT_CLUSTER_BYTES_MAX + 1);
	if (total > CLIENT_CLUSTER_BYTES_MAX) {
		snprintf(errmsg, errmsg_len, "cluster: longer than %d bytes", CLIENT_CLUSTER_BYTES_MAX);
		return -1;
	}
	const char *p = cluster;
	for (unsigned i = 0;; i++) {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		const char *q = p;
		while (len > 0 && is_space(*q)) {
			q++;
			len--;
		}
		while (len > 0 && is_space(q[len - 1]))
			len--;
		if (i == CALLRAFT_MEMBERS_MAX) {
			snprintf(errmsg, errmsg_len, "cluster: more than %d addresses",
				 CALLRAFT_MEMBERS_MAX);
			return -1;
		}
		if (address_parse(q, len, &c->nodes[i], why, sizeof why) != 0) {
			snprintf(errmsg, errmsg_len, "cluster: address %u: %s", i + 1, why);
			return -1;
		}
		c->n_nodes = i + 1;
		if (end == NULL)
			return 0;
		p = end + 1;
	}
}

/* ------------------------------------------------------------------------------------------------
 * Sockets: non-blocking, every wait bounded by `deadline` (monotonic ms). */

static int wait_fd(int fd, short events, int64_t deadline, const char *what, char *errmsg,
		   size_t errmsg_len)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			snprintf(errmsg, errmsg_len, "%s: timed out", what);
			return -1;
		}
		struct pollfd pfd = {.fd = fd, .events = events};
		int n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR) {
			snprintf(errmsg, errmsg_len, "%s: poll: %s", what, strerror(errno));
			return -1;
		}
	}
}

static int connect_one(const struct addrinfo *ai, int64_t deadline, char *errmsg, size_t errmsg_len)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0) {
		snprintf(errmsg, errmsg_len, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		if (errno != EINPROGRESS) {
			snprintf(errmsg, errmsg_len, "connect: %s", strerror(errno));
			goto err_fd;
		}
		if (wait_fd(fd, POLLOUT, deadline, "connect", errmsg, errmsg_len) != 0)
			goto err_fd;
		int so_error = 0;
		socklen_t so_len = sizeof so_error;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &so_len) != 0)
			so_error = errno;
		if (so_error != 0) {
			snprintf(errmsg, errmsg_len, "connect: %s", strerror(so_error));
			goto err_fd;
		}
	}
	int one = 1;
	/* Requests are small and latency matters: do not wait to coalesce. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;

err_fd:
	close(fd);
	return -1;
}

/* Resolves `a` (getaddrinfo: hostnames allowed) and connects to the first address that accepts.
 * NEEDSWORK: getaddrinfo blocks without a deadline; a resolver with timeouts (getaddrinfo_a or
 * c-ares) is needed if DNS outages must not stall a request. */
static int connect_address(const struct client_address *a, int64_t deadline, char *errmsg,
			   size_t errmsg_len)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *list = NULL;
	int rv = getaddrinfo(a->host, a->port, &hints, &list);
	if (rv != 0) {
		snprintf(errmsg, errmsg_len, "%s: resolve: %s", a->text, gai_strerror(rv));
		return -1;
	}
	char why[256] = "no address";
	int fd = -1;
	for (const struct addrinfo *ai = list; ai != NULL && fd < 0; ai = ai->ai_next)
		fd = connect_one(ai, deadline, why, sizeof why);
	freeaddrinfo(list);
	if (fd < 0)
		snprintf(errmsg, errmsg_len, "%s: %s", a->text, why);
	return fd;
}

/* The socket under a TLS connection. OpenSSL's own socket BIO writes with write(2): a node that went
 * away would raise SIGPIPE and kill the process (found by the chaos drill: the PBX traffic of a
 * site whose nodes were killed died), and a library must not change the process's signal
 * handling. This BIO writes with send(MSG_NOSIGNAL) (the error comes back as EPIPE) and reads with
 * recv: one system call per SSL call's I/O, as on plain TCP (blocking SIGPIPE around every SSL call
 * instead cost four more per call). The fd is borrowed: the connection closes it. */
static BIO_METHOD *nosig_method;
static pthread_once_t nosig_method_once = PTHREAD_ONCE_INIT;

static int nosig_write(BIO *b, const char *buf, int len)
{
	ssize_t n;
	BIO_clear_retry_flags(b);
	do
		n = send((int)(intptr_t)BIO_get_data(b), buf, (size_t)len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_write(b);
	return (int)n;
}

static int nosig_read(BIO *b, char *buf, int len)
{
	ssize_t n;
	BIO_clear_retry_flags(b);
	do
		n = recv((int)(intptr_t)BIO_get_data(b), buf, (size_t)len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_read(b);
	return (int)n;
}

static long nosig_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0; /* nothing is buffered here */
}

static void nosig_method_make(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "callraft socket");
	if (m != NULL && (BIO_meth_set_write(m, nosig_write) != 1 ||
			  BIO_meth_set_read(m, nosig_read) != 1 ||
			  BIO_meth_set_ctrl(m, nosig_ctrl) != 1)) {
		BIO_meth_free(m);
		m = NULL;
	}
	nosig_method = m;
}

/* Gives `ssl` the socket `fd` through the BIO above. 0, or -1 with OpenSSL's error queued. */
static int ssl_set_socket(SSL *ssl, int fd)
{
	BIO *b;
	pthread_once(&nosig_method_once, nosig_method_make);
	if (nosig_method == NULL || (b = BIO_new(nosig_method)) == NULL)
		return -1;
	BIO_set_data(b, (void *)(intptr_t)fd);
	BIO_set_init(b, 1);
	SSL_set_bio(ssl, b, b); /* one reference, taken by the SSL */
	return 0;
}

/* TLS: one non-blocking SSL call repeated until done, waiting with poll() for what it wants. */
static int tls_wait(SSL *ssl, int fd, int rv, int64_t deadline, const char *what, char *errmsg,
		    size_t errmsg_len)
{
	char why[400];
	int err = SSL_get_error(ssl, rv);
	if (err == SSL_ERROR_WANT_READ)
		return wait_fd(fd, POLLIN, deadline, what, errmsg, errmsg_len);
	if (err == SSL_ERROR_WANT_WRITE)
		return wait_fd(fd, POLLOUT, deadline, what, errmsg, errmsg_len);
	if (err == SSL_ERROR_ZERO_RETURN) {
		snprintf(errmsg, errmsg_len, "%s: connection closed by the node", what);
		return -1;
	}
	long verify = SSL_get_verify_result(ssl);
	if (verify != X509_V_OK)
		snprintf(errmsg, errmsg_len, "%s: TLS: node certificate: %s", what,
			 X509_verify_cert_error_string(verify));
	else if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		snprintf(errmsg, errmsg_len, "%s: TLS: connection closed by the node (is this a callraft "
			 "node with TLS, and does it accept our certificate? see its log)", what);
	else
		snprintf(errmsg, errmsg_len, "%s: TLS: %s", what, tls_error_string(why, sizeof why));
	ERR_clear_error();
	return -1;
}

/* Runs the TLS handshake on connected `fd` to `host`, offering `resume` (borrowed; may be NULL: a
 * ticket this node gave earlier, see struct callraft_client) and with `owner` as the SSL's app
 * data (for session_new_cb; NULL: tickets are not kept). Returns the SSL, or NULL with errmsg. */
static SSL *tls_connect(SSL_CTX *ctx, int fd, const char *host, SSL_SESSION *resume, void *owner,
			int64_t deadline, char *errmsg, size_t errmsg_len)
{
	SSL *ssl = SSL_new(ctx);
	struct tls_identity id;
	char why[300];
	int rv;
	if (ssl == NULL || ssl_set_socket(ssl, fd) != 0 ||
	    (resume != NULL && SSL_set_session(ssl, resume) != 1)) {
		snprintf(errmsg, errmsg_len, "TLS: %s", tls_error_string(why, sizeof why));
		goto err;
	}
	/* The node's certificate must name the host we dialled (IP literal or DNS name). */
	if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1) {
		ERR_clear_error();
		if (SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1) {
			snprintf(errmsg, errmsg_len, "TLS: host '%s': %s", host,
				 tls_error_string(why, sizeof why));
			goto err;
		}
	}
	SSL_set_app_data(ssl, owner);
	while ((rv = SSL_connect(ssl)) != 1)
		if (tls_wait(ssl, fd, rv, deadline, "TLS handshake", errmsg, errmsg_len) != 0)
			goto err;
	if (tls_identity_from_ssl(ssl, &id) != 0 || id.node_id == 0) {
		snprintf(errmsg, errmsg_len, "TLS: the node's certificate '%s' is not a member's "
			 "(no callraft:node URI)", id.name);
		goto err;
	}
	return ssl;
err:
	SSL_free(ssl);
	return NULL;
}

static int send_all_tls(SSL *ssl, int fd, const uint8_t *buf, size_t len, int64_t deadline,
			char *errmsg, size_t errmsg_len)
{
	while (len > 0) {
		int n = SSL_write(ssl, buf, (int)len);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (tls_wait(ssl, fd, n, deadline, "send", errmsg, errmsg_len) != 0) {
			return -1;
		}
	}
	return 0;
}

static int send_all(int fd, const uint8_t *buf, size_t len, int64_t deadline, char *errmsg,
		    size_t errmsg_len)
{
	while (len > 0) {
		/* MSG_NOSIGNAL: a node that went away must give EPIPE, not kill the process. */
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fd, POLLOUT, deadline, "send", errmsg, errmsg_len) != 0)
				return -1;
		} else if (n < 0 && errno != EINTR) {
			snprintf(errmsg, errmsg_len, "send: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Grows *buf to at least `need` bytes. */
static int buf_reserve(uint8_t **buf, size_t *cap, size_t need)
{
	if (*cap >= need)
		return 0;
	size_t n = *cap ? *cap : 4096;
	while (n < need)
		n *= 2;
	uint8_t *p = realloc(*buf, n);
	if (p == NULL)
		return -1;
	*buf = p;
	*cap = n;
	return 0;
}

/* Sends `req` as one frame (req->request_id set by the caller) and reads frames until the reply
 * with the same request_id arrives; replies to earlier requests are skipped. On error the caller
 * must close the connection: the stream may be mid-frame.
 *
 * The hot path of every PBX request: one send, one poll, usually one recv (the frame is read
 * with whatever follows it into the reused input buffer), no allocation but the reply's. */
static Callraft__Reply *exchange(struct callraft_client *c, const Callraft__Request *req,
				 int64_t deadline, char *errmsg, size_t errmsg_len)
{
	size_t len = callraft__request__get_packed_size(req);
	assert(len <= CALLRAFT_REQUEST_BYTES_MAX); /* checked by the callers before any attempt */
	if (buf_reserve(&c->out, &c->out_cap, 4 + len) != 0) {
		snprintf(errmsg, errmsg_len, "out of memory");
		return NULL;
	}
	callraft_frame_put_len(c->out, (uint32_t)len);
	size_t packed = callraft__request__pack(req, c->out + 4);
	assert(packed == len);
	if (c->ssl != NULL ? send_all_tls(c->ssl, c->fd, c->out, 4 + len, deadline, errmsg, errmsg_len)
			   : send_all(c->fd, c->out, 4 + len, deadline, errmsg, errmsg_len))
		return NULL;

	for (;;) {
		/* Decode what is buffered, if a whole frame is there. */
		if (c->in_len >= 4) {
			uint32_t reply_len = callraft_frame_get_len(c->in);
			if (reply_len > CALLRAFT_FRAME_BYTES_MAX) {
				snprintf(errmsg, errmsg_len,
					 "reply of %u bytes exceeds the %u-byte frame limit", reply_len,
					 CALLRAFT_FRAME_BYTES_MAX);
				return NULL;
			}
			if (c->in_len >= 4 + (size_t)reply_len) {
				Callraft__Reply *reply =
				    callraft__reply__unpack(NULL, reply_len, c->in + 4);
				c->in_len -= 4 + (size_t)reply_len;
				memmove(c->in, c->in + 4 + reply_len, c->in_len);
				if (reply == NULL) {
					snprintf(errmsg, errmsg_len, "reply of %u bytes: cannot decode",
						 reply_len);
					return NULL;
				}
				/* A frame the node could not read is answered with request_id 0
				 * (it never learnt ours), then the connection closes. */
				if (reply->request_id == req->request_id ||
				    (reply->request_id == 0 && reply->code == CALLRAFT__CODE__BAD_FRAME))
					return reply;
				callraft__reply__free_unpacked(reply, NULL); /* a stale reply */
				continue;
			}
			if (buf_reserve(&c->in, &c->in_cap, 4 + (size_t)reply_len) != 0) {
				snprintf(errmsg, errmsg_len, "out of memory");
				return NULL;
			}
		} else if (buf_reserve(&c->in, &c->in_cap, 4) != 0) {
			snprintf(errmsg, errmsg_len, "out of memory");
			return NULL;
		}
		if (c->ssl != NULL) {
			/* As on plain TCP, wait before reading unless OpenSSL holds bytes already: an
			 * SSL_read right after the send would only find the socket empty. */
			if (!SSL_has_pending(c->ssl) &&
			    wait_fd(c->fd, POLLIN, deadline, "recv", errmsg, errmsg_len) != 0)
				return NULL;
			int n = SSL_read(c->ssl, c->in + c->in_len, (int)(c->in_cap - c->in_len));
			if (n > 0)
				c->in_len += (size_t)n;
			else if (tls_wait(c->ssl, c->fd, n, deadline, "recv", errmsg, errmsg_len) != 0)
				return NULL;
			continue;
		}
		/* The reply cannot be there right after the send: wait first, then read. */
		if (wait_fd(c->fd, POLLIN, deadline, "recv", errmsg, errmsg_len) != 0)
			return NULL;
		ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
		if (n > 0) {
			c->in_len += (size_t)n;
		} else if (n == 0) {
			snprintf(errmsg, errmsg_len, "recv: connection closed by the node");
			return NULL;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			snprintf(errmsg, errmsg_len, "recv: %s", strerror(errno));
			return NULL;
		}
	}
}

static int request_check_size(const Callraft__Request *req, char *errmsg, size_t errmsg_len)
{
	if (req->op_case == CALLRAFT__REQUEST__OP__NOT_SET) {
		snprintf(errmsg, errmsg_len, "request: no operation set");
		return -1;
	}
	size_t len = callraft__request__get_packed_size(req);
	if (len > CALLRAFT_REQUEST_BYTES_MAX) {
		snprintf(errmsg, errmsg_len, "request: %zu bytes exceeds the %u-byte limit", len,
			 CALLRAFT_REQUEST_BYTES_MAX);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Open, close, accessors. */

/* The TLS context from the options, else the environment; *out = NULL when neither names files. */
static int client_tls_ctx(const struct callraft_client_options *opts, SSL_CTX **out, char *errmsg,
			  size_t errmsg_len)
{
	const char *ca = opts != NULL ? opts->tls_ca : NULL;
	const char *cert = opts != NULL ? opts->tls_cert : NULL;
	const char *key = opts != NULL ? opts->tls_key : NULL;
	struct tls_files f;
	*out = NULL;
	if (ca == NULL && cert == NULL && key == NULL) {
		ca = getenv("CALLRAFT_TLS_CA");
		cert = getenv("CALLRAFT_TLS_CERT");
		key = getenv("CALLRAFT_TLS_KEY");
	}
	if ((ca == NULL || !*ca) && (cert == NULL || !*cert) && (key == NULL || !*key))
		return 0;
	if (ca == NULL || !*ca || cert == NULL || !*cert || key == NULL || !*key) {
		snprintf(errmsg, errmsg_len, "tls: CA, certificate and key are all needed "
			 "(CALLRAFT_TLS_CA, CALLRAFT_TLS_CERT, CALLRAFT_TLS_KEY)");
		return -1;
	}
	if (strlen(ca) >= sizeof f.ca || strlen(cert) >= sizeof f.cert || strlen(key) >= sizeof f.key) {
		snprintf(errmsg, errmsg_len, "tls: a file name is longer than %d bytes",
			 TLS_PATH_BYTES_MAX - 1);
		return -1;
	}
	snprintf(f.ca, sizeof f.ca, "%s", ca);
	snprintf(f.cert, sizeof f.cert, "%s", cert);
	snprintf(f.key, sizeof f.key, "%s", key);
	*out = tls_ctx_new(&f, errmsg, errmsg_len);
	return *out != NULL ? 0 : -1;
}

/* A ticket from the node of the connection: kept for the next connection to that node. TLS 1.3
 * sends tickets after the handshake, so this runs inside an SSL_read of exchange(). Returns 1 when
 * it keeps the session (OpenSSL then leaves its reference to us), 0 otherwise. */
static int session_new_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct callraft_client *c = SSL_get_app_data(ssl);
	if (c == NULL || c->tls_slot < 0)
		return 0;
	assert((unsigned)c->tls_slot < c->n_nodes);
	SSL_SESSION_free(c->tls_session[c->tls_slot]);
	c->tls_session[c->tls_slot] = sess;
	return 1;
}

int callraft_client_open(const struct callraft_client_options *opts, struct callraft_client **out,
			 char *errmsg, size_t errmsg_len)
{
	assert(opts != NULL && out != NULL);
	*out = NULL;
	if (opts->cluster == NULL) {
		snprintf(errmsg, errmsg_len, "cluster: missing");
		return -1;
	}
	if (opts->request_timeout_ms < 0 || opts->attempt_timeout_ms < 0) {
		snprintf(errmsg, errmsg_len, "timeouts: must not be negative");
		return -1;
	}
	if (opts->name != NULL && strlen(opts->name) > CALLRAFT_ID_BYTES_MAX) {
		snprintf(errmsg, errmsg_len, "name: '%.32s...': longer than %d bytes", opts->name,
			 CALLRAFT_ID_BYTES_MAX);
		return -1;
	}
	struct callraft_client *c = calloc(1, sizeof *c);
	if (c == NULL) {
		snprintf(errmsg, errmsg_len, "out of memory");
		return -1;
	}
	c->fd = -1;
	c->tls_slot = -1;
	if (cluster_parse(c, opts->cluster, errmsg, errmsg_len) != 0 ||
	    client_tls_ctx(opts, &c->tls_ctx, errmsg, errmsg_len) != 0) {
		free(c);
		return -1;
	}
	if (c->tls_ctx != NULL) {
		/* Tickets come to session_new_cb (no internal cache: they are kept per node). */
		SSL_CTX_set_session_cache_mode(c->tls_ctx, SSL_SESS_CACHE_CLIENT |
								SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(c->tls_ctx, session_new_cb);
		/* Read whole records with one recv (OpenSSL otherwise reads a record's 5-byte
		 * header and its body separately); exchange() checks SSL_has_pending before
		 * waiting on the socket. */
		SSL_CTX_set_read_ahead(c->tls_ctx, 1);
	}
	if (opts->name != NULL)
		snprintf(c->name, sizeof c->name, "%s", opts->name);
	c->request_timeout_ms = opts->request_timeout_ms > 0 ? opts->request_timeout_ms
							     : CLIENT_REQUEST_TIMEOUT_MS_DEFAULT;
	c->attempt_fixed = opts->attempt_timeout_ms > 0;
	c->attempt_timeout_ms = opts->attempt_timeout_ms > 0 ? opts->attempt_timeout_ms
							     : CLIENT_ATTEMPT_TIMEOUT_MS_DEFAULT;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	c->rand_state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)getpid() ^
			(uint64_t)(uintptr_t)c;
	if (c->rand_state == 0)
		c->rand_state = 0x9e3779b97f4a7c15ull;
	client_check(c);
	*out = c;
	return 0;
}

static void conn_close(struct callraft_client *c)
{
	if (c->ssl != NULL) {
		/* No close_notify: the node treats EOF the same. Marked shut down all the same, or
		 * OpenSSL would take the connection's session (the ticket kept in tls_session) for
		 * a broken one and make it not resumable. */
		SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->in_len = 0;
}

void callraft_client_close(struct callraft_client *c)
{
	if (c == NULL)
		return;
	conn_close(c);
	for (unsigned i = 0; i < c->n_nodes; i++)
		SSL_SESSION_free(c->tls_session[i]);
	SSL_CTX_free(c->tls_ctx);
	free(c->out);
	free(c->in);
	free(c);
}

uint64_t callraft_client_id(const struct callraft_client *c)
{
	return c->client_id;
}

uint64_t callraft_client_seq(const struct callraft_client *c)
{
	return c->last_seq;
}

uint64_t callraft_client_retries(const struct callraft_client *c)
{
	return c->retries;
}

enum callraft_client_error callraft_client_last_error(const struct callraft_client *c)
{
	return c->last_error;
}

/* ------------------------------------------------------------------------------------------------
 * Attempts and retries. */

static uint64_t rand_next(struct callraft_client *c)
{
	uint64_t x = c->rand_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	c->rand_state = x;
	return x;
}

/* Sleeps a random time in [backoff/2, backoff] (jitter keeps clients that lost the same leader
 * from retrying in lockstep), never past `deadline`. */
static void backoff_sleep(struct callraft_client *c, int backoff_ms, int64_t deadline)
{
	int64_t ms = backoff_ms / 2 + (int64_t)(rand_next(c) % (uint64_t)(backoff_ms / 2 + 1));
	int64_t left = deadline - now_ms();
	sleep_ms(ms < left ? ms : left);
}

/* True if a reused connection was closed or has unread bytes: the node restarted, or a stale
 * reply is pending. Either way a fresh connection is cheaper than a failed attempt. */
static bool conn_is_stale(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	return poll(&pfd, 1, 0) != 0;
}

/* Picks where the next attempt goes: the leader hint once, else the open connection, else the
 * current node of the list. */
static const struct client_address *attempt_target(struct callraft_client *c, bool *from_hint)
{
	*from_hint = false;
	if (c->has_hint) {
		c->has_hint = false;
		for (unsigned i = 0; i < c->n_nodes; i++) {
			if (strcmp(c->nodes[i].text, c->hint.text) == 0) {
				c->node = i;
				return &c->nodes[i];
			}
		}
		*from_hint = true;
		return &c->hint;
	}
	if (c->fd >= 0)
		return &c->conn;
	return &c->nodes[c->node];
}

/* The index of `a` in nodes[], or -1 (a leader hint naming an address outside the list). */
static int node_index(const struct callraft_client *c, const struct client_address *a)
{
	for (unsigned i = 0; i < c->n_nodes; i++)
		if (strcmp(c->nodes[i].text, a->text) == 0)
			return (int)i;
	return -1;
}

/* Forgets the ticket of the node a connection just failed on: a node that restarted or reloaded
 * its certificates no longer reads it, and a full handshake says why it refuses, if it does. */
static void tls_session_drop(struct callraft_client *c)
{
	if (c->tls_slot < 0)
		return;
	SSL_SESSION_free(c->tls_session[c->tls_slot]);
	c->tls_session[c->tls_slot] = NULL;
}

/* One attempt of `req` on `a`, reusing the connection if it goes there. */
static Callraft__Reply *attempt(struct callraft_client *c, const struct client_address *a,
				Callraft__Request *req, int64_t deadline, char *errmsg,
				size_t errmsg_len)
{
	/* A connection idle for a while may have been closed by the node (or hold a late reply to a
	 * timed-out request): check before reusing it. One used a moment ago is reused as is; if the
	 * node closed it meanwhile, the attempt fails and is retried on a new connection. */
	if (c->fd >= 0 && (strcmp(c->conn.text, a->text) != 0 ||
			   (now_ms() - c->last_exchange_ms > CLIENT_FRESH_CONN_MS && conn_is_stale(c->fd))))
		conn_close(c);
	if (c->fd < 0) {
		int fd = connect_address(a, deadline, errmsg, errmsg_len);
		if (fd < 0)
			return NULL;
		c->tls_slot = node_index(c, a);
		if (c->tls_ctx != NULL) {
			char why[400];
			SSL_SESSION *resume = c->tls_slot >= 0 ? c->tls_session[c->tls_slot] : NULL;
			c->ssl = tls_connect(c->tls_ctx, fd, a->host, resume, c, deadline, why,
					     sizeof why);
			if (c->ssl == NULL) {
				snprintf(errmsg, errmsg_len, "%s: %s", a->text, why);
				close(fd);
				tls_session_drop(c);
				return NULL;
			}
		}
		c->conn = *a;
		c->fd = fd;
	}
	req->request_id = ++c->request_id;
	char why[256];
	Callraft__Reply *reply = exchange(c, req, deadline, why, sizeof why);
	if (reply == NULL) {
		snprintf(errmsg, errmsg_len, "%s: %s", a->text, why);
		conn_close(c); /* the ticket stays: the reconnect after a timeout is what it is for */
	} else {
		c->last_exchange_ms = now_ms();
	}
	return reply;
}

/* After a failed attempt: close, remember a leader hint, move to the next node. */
static void attempt_failed(struct callraft_client *c, const Callraft__Reply *reply, bool from_hint)
{
	conn_close(c);
	if (reply != NULL && reply->code == CALLRAFT__CODE__NOT_LEADER &&
	    reply->leader_address != NULL && reply->leader_address[0] != '\0') {
		char why[128];
		c->has_hint = address_parse(reply->leader_address, strlen(reply->leader_address),
					    &c->hint, why, sizeof why) == 0;
	}
	if (!from_hint)
		c->node = (c->node + 1) % c->n_nodes;
}

/* The deadline of one attempt (see CLIENT_ATTEMPT_TIMEOUT_MS_DEFAULT); a long poll's wait comes on
 * top. */
static int64_t attempt_timeout(const struct callraft_client *c, const Callraft__Request *req)
{
	int64_t t = c->attempt_timeout_ms;

	if (!c->attempt_fixed) {
		t = c->srtt_ms == 0 ? CLIENT_ATTEMPT_TIMEOUT_MS_FIRST : c->srtt_ms + 4 * c->rttvar_ms;
		if (t < CLIENT_ATTEMPT_TIMEOUT_MS_MIN)
			t = CLIENT_ATTEMPT_TIMEOUT_MS_MIN;
		if (t > c->attempt_timeout_ms)
			t = c->attempt_timeout_ms;
	}
	if (req->op_case == CALLRAFT__REQUEST__OP_EVENTS_READ && req->events_read != NULL)
		t += req->events_read->wait_ms;
	return t;
}

/* Folds the time one answer took into srtt and rttvar (RFC 6298's gains, 1/8 and 1/4). */
static void answer_time(struct callraft_client *c, int64_t ms)
{
	if (ms < 1)
		ms = 1;
	if (c->srtt_ms == 0) {
		c->srtt_ms = ms;
		c->rttvar_ms = ms / 2;
		return;
	}
	int64_t d = c->srtt_ms > ms ? c->srtt_ms - ms : ms - c->srtt_ms;
	c->rttvar_ms = (3 * c->rttvar_ms + d) / 4;
	c->srtt_ms = (7 * c->srtt_ms + ms) / 8;
}

/* Sends `req` (op, ids and seq set) until a node gives a final reply or `deadline` passes. */
static Callraft__Reply *call_retrying(struct callraft_client *c, Callraft__Request *req,
				      int64_t deadline, char *errmsg, size_t errmsg_len)
{
	char last[512] = "no attempt made";
	int backoff_ms = CLIENT_BACKOFF_MS_MIN;
	for (unsigned attempts = 0;; attempts++) {
		int64_t start = now_ms();
		if (start >= deadline)
			break;
		if (attempts > 0)
			c->retries++;
		int64_t attempt_deadline = start + attempt_timeout(c, req);
		if (attempt_deadline > deadline)
			attempt_deadline = deadline;
		bool from_hint;
		const struct client_address *a = attempt_target(c, &from_hint);
		Callraft__Reply *reply = attempt(c, a, req, attempt_deadline, last, sizeof last);
		if (reply != NULL && req->op_case != CALLRAFT__REQUEST__OP_EVENTS_READ &&
		    !callraft_code_is_retryable(reply->code))
			answer_time(c, now_ms() - start);
		if (reply != NULL && !callraft_code_is_retryable(reply->code))
			return reply;
		if (reply != NULL)
			snprintf(last, sizeof last, "%s: %s%s%s", a->text,
				 callraft_code_name(reply->code), reply->message[0] ? ": " : "",
				 reply->message);
		attempt_failed(c, reply, from_hint);
		if (reply != NULL)
			callraft__reply__free_unpacked(reply, NULL);
		backoff_sleep(c, backoff_ms, deadline);
		backoff_ms = backoff_ms * 2 < CLIENT_BACKOFF_MS_MAX ? backoff_ms * 2
								    : CLIENT_BACKOFF_MS_MAX;
	}
	c->last_error = CALLRAFT_CLIENT_UNAVAILABLE;
	snprintf(errmsg, errmsg_len, "no node answered in %d ms (last: %s)", c->request_timeout_ms,
		 last);
	return NULL;
}

/* Makes the session of a RegisterClient reply this client's: its id and its secret. */
static void session_adopt(struct callraft_client *c, const Callraft__Reply *reply)
{
	c->client_id = reply->client_id;
	c->last_seq = 0;
	c->secret_len = reply->session_secret.len <= sizeof c->secret ? reply->session_secret.len : 0;
	if (c->secret_len > 0)
		memcpy(c->secret, reply->session_secret.data, c->secret_len);
}

/* Registers a session. Returns 0 with c->client_id set; -1 with *refused set to the node's
 * non-OK reply (the caller returns it), or with *refused NULL and errmsg.
 * A registration whose reply was lost is retried as a new registration: the first session is
 * then never used and expires after CALLRAFT_SESSION_TTL_MS. Harmless: sessions hold no state. */
static int session_register(struct callraft_client *c, int64_t deadline, Callraft__Reply **refused,
			    char *errmsg, size_t errmsg_len)
{
	*refused = NULL;
	Callraft__RegisterClient reg = CALLRAFT__REGISTER_CLIENT__INIT;
	reg.name = c->name;
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.version = CALLRAFT_PROTOCOL_VERSION;
	req.op_case = CALLRAFT__REQUEST__OP_REGISTER_CLIENT;
	req.register_client = &reg;
	Callraft__Reply *reply = call_retrying(c, &req, deadline, errmsg, errmsg_len);
	if (reply == NULL)
		return -1;
	if (reply->code != CALLRAFT__CODE__OK) {
		*refused = reply;
		return -1;
	}
	uint64_t id = reply->client_id;
	if (id != 0)
		session_adopt(c, reply);
	callraft__reply__free_unpacked(reply, NULL);
	if (id == 0) {
		snprintf(errmsg, errmsg_len, "register: the node returned client id 0");
		c->last_error = CALLRAFT_CLIENT_UNAVAILABLE;
		return -1;
	}
	return 0;
}

/* Stamps a write with the session and the next seq (kept through all retries). */
static void stamp(struct callraft_client *c, Callraft__Request *req, bool write)
{
	req->version = CALLRAFT_PROTOCOL_VERSION;
	if (write) {
		req->client_id = c->client_id;
		req->seq = ++c->last_seq;
		req->session_secret.data = c->secret_len > 0 ? c->secret : NULL;
		req->session_secret.len = c->secret_len;
	} else {
		req->client_id = 0;
		req->seq = 0;
		req->session_secret.data = NULL;
		req->session_secret.len = 0;
	}
}

Callraft__Reply *callraft_client_call(struct callraft_client *c, Callraft__Request *req, char *errmsg,
				      size_t errmsg_len)
{
	assert(c != NULL && req != NULL);
	client_check(c);
	c->last_error = CALLRAFT_CLIENT_OK;
	if (request_check_size(req, errmsg, errmsg_len) != 0) {
		c->last_error = CALLRAFT_CLIENT_INVALID;
		return NULL;
	}
	int64_t deadline = now_ms() + c->request_timeout_ms;
	Callraft__Reply *reply = NULL;
	if (req->op_case == CALLRAFT__REQUEST__OP_REGISTER_CLIENT) {
		/* An explicit registration: needs no session, and becomes this client's session. */
		stamp(c, req, false);
		reply = call_retrying(c, req, deadline, errmsg, errmsg_len);
		if (reply != NULL && reply->code == CALLRAFT__CODE__OK && reply->client_id != 0)
			session_adopt(c, reply);
		return reply;
	}
	bool write = callraft_request_is_write(req);
	if (write && c->client_id == 0 &&
	    session_register(c, deadline, &reply, errmsg, errmsg_len) != 0)
		return reply;
	stamp(c, req, write);
	reply = call_retrying(c, req, deadline, errmsg, errmsg_len);
	if (reply != NULL && write && reply->code == CALLRAFT__CODE__SESSION_UNKNOWN) {
		/* The session expired (CALLRAFT_SESSION_TTL_MS idle). Register once more and retry
		 * under the new session. This is the only retry that may duplicate a write: the
		 * cluster cannot match the new (client_id, seq) with an attempt made under the old
		 * session, so if such an attempt had been applied before the session expired it
		 * applies again. That needs a day between the attempts, far beyond one request's
		 * deadline; natural keys (call ids) still protect enqueues. */
		callraft__reply__free_unpacked(reply, NULL);
		reply = NULL;
		c->client_id = 0;
		c->last_seq = 0;
		if (session_register(c, deadline, &reply, errmsg, errmsg_len) != 0)
			return reply;
		stamp(c, req, true);
		reply = call_retrying(c, req, deadline, errmsg, errmsg_len);
	}
	client_check(c);
	return reply;
}

/* The environment's TLS context for probes, loaded once per process (probes come one after the
 * other: `status` asks every member, the tests' verifiers ask thousands of times). NULL and an
 * empty errmsg when TLS is not configured; NULL and errmsg when it is and fails to load. */
static SSL_CTX *probe_ctx;
static char probe_ctx_err[300];
static pthread_once_t probe_ctx_once = PTHREAD_ONCE_INIT;

static void probe_ctx_load(void)
{
	if (client_tls_ctx(NULL, &probe_ctx, probe_ctx_err, sizeof probe_ctx_err) != 0)
		probe_ctx = NULL;
}

static SSL_CTX *probe_tls_ctx(char *errmsg, size_t errmsg_len)
{
	pthread_once(&probe_ctx_once, probe_ctx_load);
	snprintf(errmsg, errmsg_len, "%s", probe_ctx == NULL ? probe_ctx_err : "");
	return probe_ctx;
}

Callraft__Reply *callraft_client_call_node(const char *address, Callraft__Request *req, int timeout_ms,
					   char *errmsg, size_t errmsg_len)
{
	assert(address != NULL && req != NULL);
	struct client_address a;
	char why[256];
	if (address_parse(address, strlen(address), &a, why, sizeof why) != 0) {
		snprintf(errmsg, errmsg_len, "address: %s", why);
		return NULL;
	}
	if (request_check_size(req, errmsg, errmsg_len) != 0)
		return NULL;
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : CLIENT_ATTEMPT_TIMEOUT_MS_DEFAULT);
	SSL_CTX *ctx = probe_tls_ctx(errmsg, errmsg_len);
	if (ctx == NULL && errmsg[0] != '\0')
		return NULL;
	int fd = connect_address(&a, deadline, errmsg, errmsg_len);
	if (fd < 0)
		return NULL;
	SSL *ssl = NULL;
	if (ctx != NULL) {
		ssl = tls_connect(ctx, fd, a.host, NULL, NULL, deadline, why, sizeof why);
		if (ssl == NULL) {
			snprintf(errmsg, errmsg_len, "%s: %s", a.text, why);
			close(fd);
			return NULL;
		}
	}
	req->version = CALLRAFT_PROTOCOL_VERSION;
	req->request_id = 1;
	req->client_id = 0;
	req->seq = 0;
	req->session_secret.data = NULL;
	req->session_secret.len = 0;
	struct callraft_client *probe = calloc(1, sizeof *probe); /* only its connection is used */
	if (probe == NULL) {
		SSL_free(ssl);
		close(fd);
		snprintf(errmsg, errmsg_len, "out of memory");
		return NULL;
	}
	probe->fd = fd;
	probe->ssl = ssl;
	Callraft__Reply *reply = exchange(probe, req, deadline, why, sizeof why);
	if (reply == NULL)
		snprintf(errmsg, errmsg_len, "%s: %s", a.text, why);
	SSL_free(ssl);
	close(fd);
	free(probe->out);
	free(probe->in);
	free(probe);
	return reply;
}
