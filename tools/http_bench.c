/* http_bench.c: `callraft-http-bench`, a closed-loop load generator for the HTTP/JSON API, built to
 * stand next to `callraft bench --workload enqueue` (tools/bench.c) with the same model:
 *
 *   for each --clients level, K threads each open one TCP connection (HTTP/1.1 keep-alive, one
 *   request outstanding: send, wait for the whole answer, send the next) and enqueue new calls
 *   with the same shapes as the binary benchmark (a 64-byte PBX call id, customer, caller, tier,
 *   site) through POST /v1/calls with an Idempotency-Key, for --duration seconds. Only 200 counts
 *   as acknowledged; other statuses are counted apart. Threads connect before the clock starts.
 *
 * Raw sockets and a minimal HTTP/1.1 reader (status line, Content-Length): no library on the
 * client side, so the figures are the server's and not a client library's.
 *
 *   callraft-http-bench --address 127.0.0.1:17201 [--clients 1,16,64] [--duration 10] [--json]
 *
 * Every loop is bounded: HB_CLIENTS_MAX threads, HB_DURATION_S_MAX seconds, HB_SAMPLES_MAX samples
 * per thread, answers of at most HB_ANSWER_BYTES_MAX bytes. */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HB_CLIENTS_MAX 1024
#define HB_LEVELS_MAX 16
#define HB_DURATION_S_MAX 3600
#define HB_SAMPLES_MAX (4u * 1024 * 1024)
#define HB_ANSWER_BYTES_MAX (64u * 1024)
#define HB_SITE "tehran"

struct hb_opts {
	char host[128];
	char port[16];
	unsigned levels[HB_LEVELS_MAX];
	unsigned n_levels;
	unsigned duration_s;
	bool json;
	char tag[16];
};

struct hb_worker {
	const struct hb_opts *o;
	unsigned level, k;
	int fd;
	uint64_t n, ok, refused, failed;
	uint32_t *lat_us;
	size_t n_lat;
	uint64_t rnd;
	int first_status;
	pthread_t thread;
};

static pthread_barrier_t hb_start;
static volatile int64_t hb_stop_us;

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t rnd(struct hb_worker *w)
{
	w->rnd ^= w->rnd << 13;
	w->rnd ^= w->rnd >> 7;
	w->rnd ^= w->rnd << 17;
	return w->rnd;
}

static int connect_to(const struct hb_opts *o)
{
	struct addrinfo hints = {0}, *res;
	int fd, one = 1;

	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(o->host, o->port, &hints, &res) != 0)
		return -1;
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static int send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one answer; returns its status, or -1 if the connection failed. */
static int read_answer(int fd, char *buf, size_t cap)
{
	size_t have = 0, head = 0, body_len = 0;
	int status;

	for (;;) {
		ssize_t n = recv(fd, buf + have, cap - 1 - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		have += (size_t)n;
		buf[have] = '\0';
		if (head == 0) {
			char *end = strstr(buf, "\r\n\r\n");
			const char *cl;
			if (end == NULL) {
				if (have >= cap - 1)
					return -1;
				continue;
			}
			head = (size_t)(end - buf) + 4;
			cl = strcasestr(buf, "\r\ncontent-length:");
			if (cl == NULL || cl > end)
				return -1;
			body_len = strtoul(cl + 17, NULL, 10);
			if (head + body_len >= cap)
				return -1;
		}
		if (have >= head + body_len)
			break;
	}
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	return have == head + body_len ? status : -1; /* nothing may follow: one request at a time */
}

static int enqueue(struct hb_worker *w, char *req, size_t cap, char *ans, size_t ans_cap)
{
	char body[512], call_id[80];
	int blen, rlen;

	/* The binary benchmark's shapes (tools/bench.c bench_enqueue). */
	snprintf(call_id, sizeof call_id, "%s-L%u-k%04u-%012" PRIu64 "-pbx.thr.trunk07.leg-a.sip",
		 w->o->tag, w->level, w->k, ++w->n);
	blen = snprintf(body, sizeof body,
			"{\"call_id\":\"%s\",\"queue\":\"hb-q%u\",\"caller_number\":\"+98912%07" PRIu64
			"#%010" PRIu64 "\",\"customer_id\":\"CUST-IR-THR-%010" PRIu64
			"-%s-segment.b2c.loyalty-gold-vip\",\"tier\":%u,\"arrival_site\":\"" HB_SITE "\"}",
			call_id, w->k, rnd(w) % 10000000, (uint64_t)(rnd(w) % 10000000000ull),
			(uint64_t)(rnd(w) % 10000000000ull), w->o->tag, (unsigned)(rnd(w) % 4));
	rlen = snprintf(req, cap,
			"POST /v1/calls HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
			"Idempotency-Key: %s\r\nContent-Length: %d\r\n\r\n%s",
			w->o->host, call_id, blen, body);
	if (send_all(w->fd, req, (size_t)rlen) != 0)
		return -1;
	return read_answer(w->fd, ans, ans_cap);
}

static void *worker_main(void *arg)
{
	struct hb_worker *w = arg;
	char req[2048];
	char *ans = malloc(HB_ANSWER_BYTES_MAX);

	w->fd = connect_to(w->o);
	pthread_barrier_wait(&hb_start);
	while (ans != NULL && w->fd >= 0 && now_us() < hb_stop_us) {
		int64_t t0 = now_us();
		int st = enqueue(w, req, sizeof req, ans, HB_ANSWER_BYTES_MAX);
		int64_t t1 = now_us();
		if (st == 200) {
			w->ok++;
			if (w->n_lat < HB_SAMPLES_MAX)
				w->lat_us[w->n_lat++] = (uint32_t)(t1 - t0);
		} else if (st < 0) {
			w->failed++;
			close(w->fd);
			w->fd = connect_to(w->o);
		} else {
			w->refused++;
			if (w->first_status == 0)
				w->first_status = st;
		}
	}
	if (w->fd >= 0)
		close(w->fd);
	free(ans);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(const uint32_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i] / 1000.0;
}

static int run_level(const struct hb_opts *o, unsigned level, unsigned k, bool first)
{
	struct hb_worker *w = calloc(k, sizeof *w);
	uint64_t ok = 0, refused = 0, failed = 0;
	size_t n_lat = 0;
	uint32_t *all;
	int64_t t0, t1;
	int first_status = 0;

	if (w == NULL)
		return -1;
	pthread_barrier_init(&hb_start, NULL, k + 1);
	for (unsigned i = 0; i < k; i++) {
		w[i].o = o;
		w[i].level = level;
		w[i].k = i;
		w[i].rnd = 0x9e3779b97f4a7c15ull * (i + 1) + level;
		w[i].lat_us = malloc(HB_SAMPLES_MAX * sizeof(uint32_t));
		pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
	}
	hb_stop_us = INT64_MAX;
	pthread_barrier_wait(&hb_start);
	t0 = now_us();
	hb_stop_us = t0 + (int64_t)o->duration_s * 1000000;
	for (unsigned i = 0; i < k; i++)
		pthread_join(w[i].thread, NULL);
	t1 = now_us();
	pthread_barrier_destroy(&hb_start);
	for (unsigned i = 0; i < k; i++)
		n_lat += w[i].n_lat;
	all = malloc((n_lat ? n_lat : 1) * sizeof *all);
	n_lat = 0;
	for (unsigned i = 0; i < k; i++) {
		memcpy(all + n_lat, w[i].lat_us, w[i].n_lat * sizeof *all);
		n_lat += w[i].n_lat;
		ok += w[i].ok;
		refused += w[i].refused;
		failed += w[i].failed;
		if (first_status == 0)
			first_status = w[i].first_status;
		free(w[i].lat_us);
	}
	qsort(all, n_lat, sizeof *all, cmp_u32);
	double secs = (double)(t1 - t0) / 1e6;
	if (o->json)
		printf("%s{\"clients\":%u,\"ops\":%" PRIu64 ",\"elapsed_s\":%.3f,\"ops_per_s\":%.1f,"
		       "\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f},"
		       "\"refused\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"first_refusal_status\":%d}",
		       first ? "" : ",", k, ok, secs, ok / secs, pct(all, n_lat, 0.5),
		       pct(all, n_lat, 0.99), pct(all, n_lat, 0.999), pct(all, n_lat, 1.0), refused,
		       failed, first_status);
	else
		printf("http enqueue  clients %4u  %9.1f ops/s  p50 %7.3f ms  p99 %7.3f ms  p999 %7.3f ms"
		       "  max %8.3f ms  refused %" PRIu64 "  failed %" PRIu64 "\n",
		       k, ok / secs, pct(all, n_lat, 0.5), pct(all, n_lat, 0.99),
		       pct(all, n_lat, 0.999), pct(all, n_lat, 1.0), refused, failed);
	fflush(stdout);
	free(all);
	free(w);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: callraft-http-bench --address HOST:PORT [--clients 1,16,64] "
			"[--duration S] [--json]\n");
	return 2;
}

static int parse(int argc, char **argv, struct hb_opts *o)
{
	o->duration_s = 10;
	o->levels[0] = 1, o->levels[1] = 16, o->levels[2] = 64;
	o->n_levels = 3;
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(argv[i], "--json")) {
			o->json = true;
		} else if (!strcmp(argv[i], "--address") && v) {
			const char *c = strrchr(v, ':');
			if (c == NULL || (size_t)(c - v) >= sizeof o->host || strlen(c + 1) >= sizeof o->port)
				return -1;
			snprintf(o->host, sizeof o->host, "%.*s", (int)(c - v), v);
			snprintf(o->port, sizeof o->port, "%s", c + 1);
			i++;
		} else if (!strcmp(argv[i], "--duration") && v) {
			o->duration_s = (unsigned)strtoul(v, NULL, 10);
			if (o->duration_s == 0 || o->duration_s > HB_DURATION_S_MAX)
				return -1;
			i++;
		} else if (!strcmp(argv[i], "--clients") && v) {
			char buf[256], *save = NULL;
			snprintf(buf, sizeof buf, "%s", v);
			o->n_levels = 0;
			for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				unsigned k = (unsigned)strtoul(t, NULL, 10);
				if (k == 0 || k > HB_CLIENTS_MAX || o->n_levels == HB_LEVELS_MAX)
					return -1;
				o->levels[o->n_levels++] = k;
			}
			i++;
		} else {
			return -1;
		}
	}
	return o->host[0] && o->n_levels ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct hb_opts o = {0};

	if (parse(argc, argv, &o) != 0)
		return usage();
	/* A run tag: ids never collide with an earlier run's. */
	snprintf(o.tag, sizeof o.tag, "hb%06lx", (unsigned long)(now_us() & 0xffffff));
	if (o.json)
		printf("{\"workload\":\"http-enqueue\",\"levels\":[");
	for (unsigned i = 0; i < o.n_levels; i++)
		if (run_level(&o, i, o.levels[i], i == 0) != 0)
			return 1;
	if (o.json)
		printf("]}\n");
	return 0;
}
