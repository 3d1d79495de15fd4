/* delayproxy.c: a TCP proxy that delays every byte by a fixed one-way latency per site pair.
 *
 * The lab has no tc netem, so inter-site latency is emulated in user space. Every byte read from
 * one side of a proxied connection is held until now + delay(direction) and only then written to
 * the other side; the delay is constant per direction, so order is kept and throughput is not
 * limited (a byte stream with latency, not a slow link).
 *
 * Two ways to get connections:
 *
 *   --transparent H:P  accept connections that iptables REDIRECTed to H:P (the lab's router
 *                      namespace: `-t nat -A PREROUTING -p tcp -j REDIRECT --to-ports P`); the
 *                      original destination comes from SO_ORIGINAL_DST, the source site from the
 *                      peer address, the destination site from the original destination.
 *   --forward L,T,SITE accept on L and connect to T (a node of site SITE). The source site is the
 *                      raft handshake's server id when the connection starts with one (canonical
 *                      raft's TCP transport sends protocol 1, then its id, both little-endian u64)
 *                      and --id-site maps it; otherwise --default-delay-ms applies.
 *
 *   --site NAME=A.B.C.D/N   address block of a site (transparent mode)
 *   --id-site ID=NAME        raft id of a node and its site (forward mode)
 *   --delay A:B=MS           one-way latency between sites A and B, both directions
 *   --default-delay-ms MS    anything not covered above (default 0)
 *
 * Design: one thread, poll() over every socket, rebuilt each round (a lab holds at most
 * DP_CONNS_MAX connections, so O(n) per round is cheap). A connection is a pair of sockets and
 * two directions; a direction is a FIFO of chunks, each with the time it may be written. Reading a
 * side stops while its direction holds more than DP_QUEUE_BYTES_MAX (backpressure instead of
 * unbounded memory). EOF travels as a chunk, so a half-close arrives after the data before it; a
 * read or write error closes both sides at once with a reset (SO_LINGER 0), as a broken link does.
 *
 * SIGTERM/SIGINT: close everything and exit 0. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Limits, each with its reason. */
#define DP_CONNS_MAX	     1024	 /* a 5-node lab with clients needs < 200 */
#define DP_LISTENERS_MAX     64		 /* one per forwarded node address, or one transparent */
#define DP_SITES_MAX	     16		 /* sites of one lab */
#define DP_IDS_MAX	     64		 /* raft ids mapped to sites */
#define DP_CHUNK_BYTES_MAX   (64 * 1024) /* one read */
#define DP_QUEUE_BYTES_MAX   (8 * 1024 * 1024) /* held per direction before reading stops */
#define DP_DELAY_MS_MAX	     10000	       /* longer is a typo */
#define DP_HANDSHAKE_BYTES   16		       /* protocol + server id of raft's TCP handshake */
#define DP_HANDSHAKE_WAIT_MS 200 /* a forward that sent no handshake by then gets the default */
_Static_assert(DP_CHUNK_BYTES_MAX <= DP_QUEUE_BYTES_MAX, "a chunk fits in a queue");

struct dp_chunk {
	struct dp_chunk *next;
	int64_t due_ms;
	size_t len, off; /* len 0: EOF marker */
	uint8_t data[];
};

struct dp_dir {
	int from, to; /* fds */
	int delay_ms;
	struct dp_chunk *head, *tail;
	size_t queued_bytes;
	bool read_eof; /* EOF read from `from` (marker queued) */
	bool done;     /* EOF delivered to `to` */
};

struct dp_conn {
	bool used;
	bool connecting; /* outbound connect in progress */
	bool classified; /* delays decided */
	int64_t accepted_ms;
	int src_site, dst_site;
	struct dp_dir up;   /* client -> target */
	struct dp_dir down; /* target -> client */
};

struct dp_listener {
	int fd;
	bool transparent;
	struct sockaddr_in target; /* forward mode */
	int dst_site;
};

struct dp_site {
	char name[32];
	uint32_t net, mask; /* host order */
};

static struct dp_site sites[DP_SITES_MAX];
static int n_sites;
static int delay_ms_matrix[DP_SITES_MAX][DP_SITES_MAX]; /* -1: default */
static int default_delay_ms;
static struct {
	uint64_t id;
	int site;
} id_sites[DP_IDS_MAX];
static int n_ids;
static struct dp_listener listeners[DP_LISTENERS_MAX];
static int n_listeners;
static struct dp_conn conns[DP_CONNS_MAX];
static volatile sig_atomic_t stopping;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static int parse_addr(const char *s, struct sockaddr_in *out)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (colon == NULL || (size_t)(colon - s) >= sizeof host)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	long port = strtol(colon + 1, NULL, 10);
	memset(out, 0, sizeof *out);
	out->sin_family = AF_INET;
	out->sin_port = htons((uint16_t)port);
	if (port <= 0 || port > 65535 || inet_pton(AF_INET, host, &out->sin_addr) != 1)
		return -1;
	return 0;
}

static int site_index(const char *name, bool create)
{
	for (int i = 0; i < n_sites; i++)
		if (!strcmp(sites[i].name, name))
			return i;
	if (!create || n_sites == DP_SITES_MAX || strlen(name) >= sizeof sites[0].name)
		return -1;
	snprintf(sites[n_sites].name, sizeof sites[n_sites].name, "%s", name);
	return n_sites++;
}

static int site_of_addr(uint32_t addr_host)
{
	for (int i = 0; i < n_sites; i++)
		if (sites[i].mask && (addr_host & sites[i].mask) == sites[i].net)
			return i;
	return -1;
}

static int delay_between(int a, int b)
{
	if (a < 0 || b < 0 || delay_ms_matrix[a][b] < 0)
		return default_delay_ms;
	return delay_ms_matrix[a][b];
}

static int listen_on(const char *address)
{
	struct sockaddr_in sa;
	int one = 1, fd;
	if (parse_addr(address, &sa) != 0) {
		fprintf(stderr, "delayproxy: address '%s': expected A.B.C.D:PORT\n", address);
		return -1;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 128) != 0) {
		fprintf(stderr, "delayproxy: listen '%s': %s\n", address, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- chunks ----------------------------------------------------------------------------- */

static int dir_push(struct dp_dir *d, const uint8_t *data, size_t len)
{
	struct dp_chunk *c = malloc(sizeof *c + len);
	if (c == NULL)
		return -1;
	c->next = NULL;
	c->due_ms = now_ms() + d->delay_ms;
	c->len = len;
	c->off = 0;
	if (len)
		memcpy(c->data, data, len);
	if (d->tail)
		d->tail->next = c;
	else
		d->head = c;
	d->tail = c;
	d->queued_bytes += len;
	return 0;
}

static void dir_free(struct dp_dir *d)
{
	while (d->head) {
		struct dp_chunk *c = d->head;
		d->head = c->next;
		free(c);
	}
	d->tail = NULL;
	d->queued_bytes = 0;
}

static void conn_close(struct dp_conn *c, bool reset)
{
	struct linger lg = {1, 0};
	if (reset) {
		setsockopt(c->up.from, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		setsockopt(c->up.to, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	}
	close(c->up.from);
	close(c->up.to);
	dir_free(&c->up);
	dir_free(&c->down);
	memset(c, 0, sizeof *c);
}

/* ---- accepting and classifying ----------------------------------------------------------- */

static void conn_classify(struct dp_conn *c, int src_site)
{
	c->src_site = src_site;
	c->up.delay_ms = delay_between(src_site, c->dst_site);
	c->down.delay_ms = delay_between(c->dst_site, src_site);
	c->classified = true;
	/* Chunks read before classification (the handshake) wait from now on. */
	for (struct dp_chunk *k = c->up.head; k; k = k->next)
		k->due_ms = now_ms() + c->up.delay_ms;
}

static void accept_one(struct dp_listener *l)
{
	struct sockaddr_in peer, dst;
	socklen_t plen = sizeof peer, dlen = sizeof dst;
	int in = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC), out,
	    slot;
	int one = 1;

	if (in < 0)
		return;
	for (slot = 0; slot < DP_CONNS_MAX && conns[slot].used; slot++)
		;
	if (slot == DP_CONNS_MAX) {
		fprintf(stderr, "delayproxy: more than %d connections: refusing one\n",
			DP_CONNS_MAX);
		close(in);
		return;
	}
	if (l->transparent) {
		if (getsockopt(in, SOL_IP, SO_ORIGINAL_DST, &dst, &dlen) != 0) {
			fprintf(stderr, "delayproxy: SO_ORIGINAL_DST: %s\n", strerror(errno));
			close(in);
			return;
		}
	} else {
		dst = l->target;
	}
	out = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(in, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(out, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(out, (struct sockaddr *)&dst, sizeof dst) != 0 && errno != EINPROGRESS) {
		close(in);
		close(out);
		return;
	}
	struct dp_conn *c = &conns[slot];
	memset(c, 0, sizeof *c);
	c->used = true;
	c->connecting = true;
	c->accepted_ms = now_ms();
	c->up.from = c->down.to = in;
	c->up.to = c->down.from = out;
	c->dst_site = l->transparent ? site_of_addr(ntohl(dst.sin_addr.s_addr)) : l->dst_site;
	if (l->transparent)
		conn_classify(c, site_of_addr(ntohl(peer.sin_addr.s_addr)));
	else if (n_ids == 0)
		conn_classify(c, -1);
}

/* Forward mode: the first DP_HANDSHAKE_BYTES of a raft connection name the sender. */
static void conn_try_handshake(struct dp_conn *c)
{
	uint8_t hs[DP_HANDSHAKE_BYTES];
	size_t have = 0;
	for (struct dp_chunk *k = c->up.head; k && have < sizeof hs; k = k->next) {
		size_t take = k->len < sizeof hs - have ? k->len : sizeof hs - have;
		memcpy(hs + have, k->data, take);
		have += take;
	}
	if (have < sizeof hs) {
		if (now_ms() - c->accepted_ms >= DP_HANDSHAKE_WAIT_MS || c->up.read_eof)
			conn_classify(c, -1);
		return;
	}
	uint64_t proto = 0, id = 0;
	for (int i = 7; i >= 0; i--) {
		proto = proto << 8 | hs[i];
		id = id << 8 | hs[8 + i];
	}
	int site = -1;
	for (int i = 0; proto == 1 && i < n_ids; i++)
		if (id_sites[i].id == id)
			site = id_sites[i].site;
	conn_classify(c, site);
}

/* ---- moving bytes ----------------------------------------------------------------------- */

/* Returns -1 on an error that breaks the connection. */
static int dir_read(struct dp_dir *d)
{
	uint8_t buf[DP_CHUNK_BYTES_MAX];
	if (d->read_eof)
		return 0;
	ssize_t n = read(d->from, buf, sizeof buf);
	if (n > 0)
		return dir_push(d, buf, (size_t)n);
	if (n == 0) {
		d->read_eof = true;
		return dir_push(d, NULL, 0);
	}
	return errno == EAGAIN || errno == EINTR ? 0 : -1;
}

static int dir_write(struct dp_dir *d, int64_t now)
{
	while (d->head && d->head->due_ms <= now) {
		struct dp_chunk *k = d->head;
		if (k->len == 0) {
			shutdown(d->to, SHUT_WR);
			d->done = true;
		} else {
			ssize_t n = write(d->to, k->data + k->off, k->len - k->off);
			if (n < 0)
				return errno == EAGAIN || errno == EINTR ? 0 : -1;
			k->off += (size_t)n;
			d->queued_bytes -= (size_t)n;
			if (k->off < k->len)
				return 0;
		}
		d->head = k->next;
		if (d->head == NULL)
			d->tail = NULL;
		free(k);
	}
	return 0;
}

static bool dir_wants_read(const struct dp_dir *d)
{
	return !d->read_eof && d->queued_bytes < DP_QUEUE_BYTES_MAX;
}

static bool dir_wants_write(const struct dp_dir *d, int64_t now)
{
	return d->head && d->head->due_ms <= now;
}

/* ---- the loop ----------------------------------------------------------------------------- */

struct dp_pollref {
	int conn;  /* -1: listener */
	int index; /* listener index, or 0 = client side, 1 = target side */
};

static int run(void)
{
	static struct pollfd pfd[DP_LISTENERS_MAX + 2 * DP_CONNS_MAX];
	static struct dp_pollref ref[DP_LISTENERS_MAX + 2 * DP_CONNS_MAX];

	while (!stopping) {
		int64_t now = now_ms(), next_due = INT64_MAX;
		int n = 0;
		for (int i = 0; i < n_listeners; i++) {
			pfd[n] = (struct pollfd){.fd = listeners[i].fd, .events = POLLIN};
			ref[n++] = (struct dp_pollref){-1, i};
		}
		for (int i = 0; i < DP_CONNS_MAX; i++) {
			struct dp_conn *c = &conns[i];
			if (!c->used)
				continue;
			if (!c->classified)
				next_due = now + 10 < next_due ? now + 10 : next_due;
			short ev0 = 0, ev1 = 0;
			if (c->connecting) {
				ev1 = POLLOUT;
			} else {
				if (dir_wants_read(&c->up))
					ev0 |= POLLIN;
				if (dir_wants_read(&c->down))
					ev1 |= POLLIN;
				if (c->classified && dir_wants_write(&c->up, now))
					ev1 |= POLLOUT;
				if (dir_wants_write(&c->down, now))
					ev0 |= POLLOUT;
			}
			if (c->classified && c->up.head && c->up.head->due_ms < next_due)
				next_due = c->up.head->due_ms;
			if (c->down.head && c->down.head->due_ms < next_due)
				next_due = c->down.head->due_ms;
			/* A socket with nothing wanted is left out (fd -1): a peer that hung up
			 * while bytes for it are still held would otherwise wake poll at once,
			 * every round. */
			pfd[n] = (struct pollfd){.fd = ev0 ? c->up.from : -1, .events = ev0};
			ref[n++] = (struct dp_pollref){i, 0};
			pfd[n] = (struct pollfd){.fd = ev1 ? c->up.to : -1, .events = ev1};
			ref[n++] = (struct dp_pollref){i, 1};
		}
		int timeout_ms =
		    next_due == INT64_MAX ? 1000 : (int)(next_due > now ? next_due - now : 0);
		if (poll(pfd, (nfds_t)n, timeout_ms) < 0 && errno != EINTR)
			return 1;
		now = now_ms();
		for (int k = 0; k < n; k++) {
			short re = pfd[k].revents;
			if (ref[k].conn < 0) {
				if (re & POLLIN)
					accept_one(&listeners[ref[k].index]);
				continue;
			}
			struct dp_conn *c = &conns[ref[k].conn];
			if (!c->used)
				continue;
			int bad = 0;
			if (ref[k].index == 1 && c->connecting && re) {
				int err = 0;
				socklen_t el = sizeof err;
				getsockopt(c->up.to, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err != 0) {
					conn_close(c, true);
					continue;
				}
				c->connecting = false;
				continue;
			}
			struct dp_dir *rd = ref[k].index == 0 ? &c->up : &c->down;
			struct dp_dir *wr = ref[k].index == 0 ? &c->down : &c->up;
			if (re & (POLLIN | POLLHUP | POLLERR))
				bad |= dir_read(rd);
			if (!bad && (re & POLLOUT))
				bad |= dir_write(wr, now);
			if (bad) {
				conn_close(c, true);
				continue;
			}
		}
		/* Deliver what fell due during poll, classify forwards, retire finished pairs. */
		for (int i = 0; i < DP_CONNS_MAX; i++) {
			struct dp_conn *c = &conns[i];
			if (!c->used || c->connecting)
				continue;
			if (!c->classified)
				conn_try_handshake(c);
			if ((c->classified && dir_write(&c->up, now) != 0) ||
			    dir_write(&c->down, now) != 0) {
				conn_close(c, true);
				continue;
			}
			if (c->up.done && c->down.done)
				conn_close(c, false);
		}
	}
	return 0;
}

/* ---- options ------------------------------------------------------------------------------- */

static int parse_site(const char *arg)
{
	char name[32], ip[32];
	int bits;
	struct in_addr a;
	if (sscanf(arg, "%31[^=]=%31[^/]/%d", name, ip, &bits) != 3 || bits < 0 || bits > 32 ||
	    inet_pton(AF_INET, ip, &a) != 1)
		return -1;
	int s = site_index(name, true);
	if (s < 0)
		return -1;
	sites[s].mask = bits ? 0xffffffffu << (32 - bits) : 0;
	sites[s].net = ntohl(a.s_addr) & sites[s].mask;
	return 0;
}

static int parse_delay(const char *arg)
{
	char a[32], b[32];
	int ms;
	if (sscanf(arg, "%31[^:]:%31[^=]=%d", a, b, &ms) != 3 || ms < 0 || ms > DP_DELAY_MS_MAX)
		return -1;
	int i = site_index(a, true), j = site_index(b, true);
	if (i < 0 || j < 0)
		return -1;
	delay_ms_matrix[i][j] = delay_ms_matrix[j][i] = ms;
	return 0;
}

static int parse_forward(const char *arg)
{
	char l[64], t[64], site[32];
	if (n_listeners == DP_LISTENERS_MAX || sscanf(arg, "%63[^,],%63[^,],%31s", l, t, site) != 3)
		return -1;
	struct dp_listener *li = &listeners[n_listeners];
	if (parse_addr(t, &li->target) != 0 || (li->fd = listen_on(l)) < 0)
		return -1;
	li->transparent = false;
	li->dst_site = site_index(site, true);
	n_listeners++;
	return 0;
}

static int parse_id_site(const char *arg)
{
	char site[32];
	unsigned long long id;
	if (n_ids == DP_IDS_MAX || sscanf(arg, "%llu=%31s", &id, site) != 2)
		return -1;
	id_sites[n_ids].id = id;
	id_sites[n_ids].site = site_index(site, true);
	n_ids++;
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: delayproxy [--transparent H:P] [--forward LISTEN,TARGET,SITE]...\n"
			"                  [--site NAME=A.B.C.D/N]... [--id-site ID=NAME]...\n"
			"                  [--delay A:B=MS]... [--default-delay-ms MS]\n");
}

int main(int argc, char **argv)
{
	for (int i = 0; i < DP_SITES_MAX; i++)
		for (int j = 0; j < DP_SITES_MAX; j++)
			delay_ms_matrix[i][j] = i == j ? 0 : -1;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int rc = -1;
		if (v == NULL) {
			usage();
			return 2;
		}
		if (!strcmp(o, "--transparent")) {
			if (n_listeners < DP_LISTENERS_MAX &&
			    (listeners[n_listeners].fd = listen_on(v)) >= 0) {
				listeners[n_listeners++].transparent = true;
				rc = 0;
			}
		} else if (!strcmp(o, "--forward")) {
			rc = parse_forward(v);
		} else if (!strcmp(o, "--site")) {
			rc = parse_site(v);
		} else if (!strcmp(o, "--id-site")) {
			rc = parse_id_site(v);
		} else if (!strcmp(o, "--delay")) {
			rc = parse_delay(v);
		} else if (!strcmp(o, "--default-delay-ms")) {
			default_delay_ms = atoi(v);
			rc = default_delay_ms >= 0 && default_delay_ms <= DP_DELAY_MS_MAX ? 0 : -1;
		}
		if (rc != 0) {
			fprintf(stderr, "delayproxy: bad option %s '%s'\n", o, v);
			usage();
			return 2;
		}
		i++;
	}
	if (n_listeners == 0) {
		usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	fprintf(stderr, "delayproxy: %d listener(s), %d site(s), default delay %d ms\n",
		n_listeners, n_sites, default_delay_ms);
	int rc = run();
	for (int i = 0; i < DP_CONNS_MAX; i++)
		if (conns[i].used)
			conn_close(&conns[i], false);
	for (int i = 0; i < n_listeners; i++)
		close(listeners[i].fd);
	return rc;
}
