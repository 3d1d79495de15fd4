/* bench.c: callraft-bench, the program behind `callraft bench` (the CLI runs it with the same
 * arguments, see client/cli_bench.c): a closed-loop load generator that measures acknowledged
 * writes. A program of its own, built like any user's program on libcallraft's public API (the
 * request builder and callraft_client_call of callraft_client.h), JSON with json-c.
 *
 *   callraft-bench [--cluster A,B,..] [--json] [--timeout MS] [--workload enqueue|cycle|ticket|mix]
 *                  [--clients 1,16,64] [--duration S] [--ops N] [--pids P1,P2] [--any-node]
 *                  [--queue Q]
 * Exit codes as the CLI's: 0 ok, 2 usage, 3 no client could start.
 *
 * Model. For each level of --clients (run one after the other), K threads each open their own
 * callraft_client (its own session and TCP connection) and keep exactly one request outstanding:
 * send, wait for the reply, send the next. Only replies with code OK count as acknowledged ops; a
 * business refusal (e.g. QUEUE_EMPTY) or a request that no node answered is counted apart. A
 * level ends at --duration seconds or after --ops requests in all, whichever comes first.
 *
 * Phases of one level, separated by barriers so that set-up never pollutes the figures:
 *   set-up   every thread opens its client and registers its session (one untimed write:
 *            an agent login for cycle/mix, a first enqueue or ticket otherwise), at most
 *            BENCH_SETUP_CONCURRENT threads at a time: 64 clients connecting at once on a loaded
 *            machine made every TLS handshake miss the client's first 500 ms attempt deadline,
 *            and each retry queued yet another handshake behind the abandoned ones (no client
 *            started in 15 s)
 *   measure  the main thread samples the nodes' CPU time, releases the threads, waits for them
 *   report   latencies of every thread are merged and sorted; CPU and peak RSS of each --pids node
 *
 * Workloads (every id carries a run tag, so runs never collide with earlier data):
 *   enqueue  call enqueue with ~256 bytes of attributes (call id, queue, caller, customer, site)
 *   cycle    per thread one agent and one queue: enqueue, next, answer (with the offer's token),
 *            end; each step is one op
 *   ticket   ticket open with ~256 bytes (customer, category, subject, note, author)
 *   mix      60% cycle steps, 15% ticket open, 15% call show, 10% queue show (reads are
 *            linearizable: they wait for the leader's read barrier)
 *
 * By default the clients talk to the leader first (found with one status request), as a PBX in
 * the leader's site would; --any-node keeps the --cluster order (followers forward).
 *
 * --queue Q: every thread enqueues into and takes from the one queue Q (which may hold a large
 * preloaded backlog: `next` then takes the head of it) instead of a queue of its own. Latency is
 * also reported by operation (enqueue, next, answer, end, ticket, read) when a workload has
 * several.
 *
 * Every loop is bounded: BENCH_CLIENTS_MAX threads, BENCH_DURATION_S_MAX seconds, at most
 * BENCH_SAMPLES_MAX latency samples per thread (later ones are counted, not sampled). */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "callraft_client.h"
#include "callraft_limits.h"

/* Limits of the command line: a typo must not start 100k threads or a day-long run. */
#define BENCH_CLIENTS_MAX    1024
#define BENCH_LEVELS_MAX     16
#define BENCH_DURATION_S_MAX 3600
#define BENCH_PIDS_MAX	     16
/* Threads opening their client at the same time (set-up, above). */
#define BENCH_SETUP_CONCURRENT 8
/* Latency samples kept per thread: 4M x 4 bytes = 16 MiB at most per thread. */
#define BENCH_SAMPLES_MAX (4u * 1024 * 1024)
/* Site of the agents and arrival site of the calls: they must match, or routing (state/routing.c)
 * offers a call to an agent of another site only after the queue's overflow delay. */
#define BENCH_SITE "tehran"
/* The run tag prefixes every id this run creates. */
#define BENCH_TAG_BYTES 8

_Static_assert(BENCH_CLIENTS_MAX <= CALLRAFT_CONNECTIONS_MAX, "one connection per client");

enum bench_workload { BENCH_ENQUEUE, BENCH_CYCLE, BENCH_TICKET, BENCH_MIX };

static const char *const bench_workload_names[] = {"enqueue", "cycle", "ticket", "mix"};

/* Operation kinds, for latency by operation. A sample keeps its kind in its top BENCH_KIND_BITS
 * bits and the latency in microseconds below (capped at BENCH_LAT_MAX_US, about 9 minutes). */
enum bench_kind { K_ENQUEUE, K_NEXT, K_ANSWER, K_END, K_TICKET, K_READ, K_COUNT };
static const char *const bench_kind_names[K_COUNT] = {"enqueue", "next",   "answer",
						      "end",     "ticket", "read"};
#define BENCH_KIND_BITS	 3
#define BENCH_LAT_BITS	 (32 - BENCH_KIND_BITS)
#define BENCH_LAT_MAX_US ((1u << BENCH_LAT_BITS) - 1)
_Static_assert(K_COUNT <= (1 << BENCH_KIND_BITS), "kinds fit their bits");

struct bench_opts {
	enum bench_workload workload;
	unsigned levels[BENCH_LEVELS_MAX];
	unsigned n_levels;
	unsigned duration_s;
	uint64_t ops; /* per level; 0: no bound but the duration */
	int pids[BENCH_PIDS_MAX];
	unsigned n_pids;
	bool any_node;
	char cluster[CALLRAFT_MEMBERS_MAX * (CALLRAFT_ADDRESS_BYTES_MAX + 1)];
	char tag[BENCH_TAG_BYTES + 1];
	int timeout_ms;
	char queue[CALLRAFT_QUEUE_BYTES_MAX + 1]; /* --queue: one queue for every thread */
};

/* One level in progress, shared by its threads. */
struct bench_level {
	const struct bench_opts *o;
	unsigned index; /* position in o->levels: part of agent and queue names */
	unsigned clients;
	pthread_barrier_t ready, go;
	pthread_mutex_t setup_lock; /* guards setting_up */
	pthread_cond_t setup_cond;
	unsigned setting_up;        /* threads in set-up, at most BENCH_SETUP_CONCURRENT */
	atomic_uint_fast64_t started; /* requests started, for --ops */
	int64_t deadline_us;	      /* set by the main thread between the barriers */
};

/* The state of one client thread. Cycle steps: 0 enqueue, 1 next, 2 answer, 3 end. */
struct bench_worker {
	pthread_t thread;
	struct bench_level *lv;
	unsigned k;
	struct callraft_client *client;
	uint32_t *lat_us;
	size_t n_lat, cap_lat;
	uint64_t ok, refused, failed, unsampled;
	uint64_t n;    /* ids made so far */
	uint64_t rand; /* xorshift64, never 0 */
	int step;
	enum bench_kind kind; /* of the request being sent */
	char call_id[CALLRAFT_ID_BYTES_MAX + 1];
	uint64_t offer_term, offer_index;
	char agent[CALLRAFT_ID_BYTES_MAX + 1];
	char queue[CALLRAFT_QUEUE_BYTES_MAX + 1];
	char err[256];	 /* first failure, for the report */
	int64_t last_us; /* end of the last measured request */
	bool setup_failed;
	bool draining; /* after the deadline: clean-up requests are not counted */
};

/* Per-node figures read from /proc. */
struct bench_proc {
	uint64_t cpu_ticks; /* utime + stime */
	uint64_t hwm_kb;    /* VmHWM: peak resident set since the process started */
	bool ok;
};

static int64_t bench_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t bench_rand(struct bench_worker *w)
{
	w->rand ^= w->rand << 13;
	w->rand ^= w->rand >> 7;
	w->rand ^= w->rand << 17;
	return w->rand;
}

/* ------------------------------------------------------------------------------------------------
 * /proc: CPU time and peak RSS of the nodes. */

static void bench_proc_read(int pid, struct bench_proc *p)
{
	char path[64], buf[2048];
	FILE *f;
	*p = (struct bench_proc){0};
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return;
	size_t len = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[len] = '\0';
	/* The command name may hold spaces and parentheses: fields restart after the last ')'. */
	char *rest = strrchr(buf, ')');
	unsigned long long utime, stime;
	if (rest == NULL ||
	    sscanf(rest + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
		   &stime) != 2)
		return;
	p->cpu_ticks = utime + stime;
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return;
	char line[256];
	while (fgets(line, sizeof line, f) != NULL) {
		unsigned long long kb;
		if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
			p->hwm_kb = kb;
	}
	fclose(f);
	p->ok = true;
}

/* ------------------------------------------------------------------------------------------------
 * Requests of each workload. Strings are sized to give ~256 bytes of attributes per request. */

/* Sends `req`, records its latency, and returns the reply if it is OK (caller frees), else NULL. */
static Callraft__Reply *bench_send(struct bench_worker *w, Callraft__Request *req, bool timed)
{
	char errmsg[CALLRAFT_ERRMSG_BYTES];
	int64_t t0 = bench_now_us();
	Callraft__Reply *r = callraft_client_call(w->client, req, errmsg, sizeof errmsg);
	int64_t t1 = bench_now_us();
	timed = timed && !w->draining;
	if (!timed && w->draining) {
		callraft_reply_free(r);
		return NULL;
	}
	if (r == NULL) {
		w->failed++;
		if (w->err[0] == '\0')
			snprintf(w->err, sizeof w->err, "%s", errmsg);
		return NULL;
	}
	if (r->code != CALLRAFT__CODE__OK) {
		w->refused++;
		if (w->err[0] == '\0')
			snprintf(w->err, sizeof w->err, "%s: %s", callraft_code_name(r->code),
				 r->message);
		callraft_reply_free(r);
		return NULL;
	}
	if (!timed)
		return r;
	w->ok++;
	w->last_us = t1;
	if (w->n_lat == w->cap_lat && w->cap_lat < BENCH_SAMPLES_MAX) {
		size_t cap = w->cap_lat ? 2 * w->cap_lat : 4096;
		uint32_t *p = realloc(w->lat_us, cap * sizeof *p);
		if (p != NULL) {
			w->lat_us = p;
			w->cap_lat = cap;
		}
	}
	if (w->n_lat < w->cap_lat)
		w->lat_us[w->n_lat++] =
		    (uint32_t)w->kind << BENCH_LAT_BITS |
		    (uint32_t)(t1 - t0 > BENCH_LAT_MAX_US ? BENCH_LAT_MAX_US : t1 - t0);
	else
		w->unsampled++;
	return r;
}

static bool bench_enqueue(struct bench_worker *w, const char *queue, bool timed)
{
	const struct bench_opts *o = w->lv->o;
	struct callraft_request req;
	char customer[CALLRAFT_ID_BYTES_MAX + 1], caller[CALLRAFT_PHONE_BYTES_MAX + 1];
	uint64_t n = ++w->n;

	/* A PBX call id: trunk, leg, and a unique counter (64 bytes). */
	snprintf(w->call_id, sizeof w->call_id,
		 "%s-L%u-k%04u-%012" PRIu64 "-pbx.thr.trunk07.leg-a.sip", o->tag, w->lv->index,
		 w->k, n);
	snprintf(customer, sizeof customer,
		 "CUST-IR-THR-%010" PRIu64 "-%s-segment.b2c.loyalty-gold-vip",
		 (uint64_t)(bench_rand(w) % 10000000000ull), o->tag);
	snprintf(caller, sizeof caller, "+98912%07" PRIu64 "#%010" PRIu64, bench_rand(w) % 10000000,
		 (uint64_t)(bench_rand(w) % 10000000000ull));
	uint32_t tier = (uint32_t)(bench_rand(w) % 4);
	Callraft__Reply *r = bench_send(w,
					callraft_request_call_enqueue(&req, w->call_id, queue, caller,
								      customer, tier, BENCH_SITE),
					timed);
	bool ok = r != NULL;
	callraft_reply_free(r);
	return ok;
}

static bool bench_ticket(struct bench_worker *w, bool timed)
{
	const struct bench_opts *o = w->lv->o;
	struct callraft_request req;
	char customer[CALLRAFT_ID_BYTES_MAX + 1];
	uint64_t n = ++w->n;

	snprintf(customer, sizeof customer, "CUST-IR-THR-%s-L%u-k%04u-%012" PRIu64, o->tag,
		 w->lv->index, w->k, n);
	callraft_request_ticket_open(&req, customer, "billing.dispute", NULL,
				     "Customer reports a double charge on the last invoice after the "
				     "plan change; asks for a refund to the original card",
				     "Verified identity, invoice 2026-01 shows two charges; escalated "
				     "to billing",
				     "agent.tehran.0042", NULL);
	Callraft__Reply *r = bench_send(w, &req.req, timed);
	bool ok = r != NULL;
	callraft_reply_free(r);
	return ok;
}

static bool bench_agent_login(struct bench_worker *w)
{
	struct callraft_request req;
	char *skills[1] = {w->queue};
	Callraft__Reply *r = bench_send(
	    w, callraft_request_agent_login(&req, w->agent, "bench agent", BENCH_SITE, skills, 1),
	    false);
	bool ok = r != NULL;
	callraft_reply_free(r);
	return ok;
}

static void bench_agent_logout(struct bench_worker *w)
{
	struct callraft_request req;
	callraft_reply_free(bench_send(w, callraft_request_agent_logout(&req, w->agent), false));
}

/* One step of the agent's cycle. A refused step starts the cycle over with a new call. */
static void bench_cycle_step(struct bench_worker *w)
{
	struct callraft_request req;
	Callraft__Reply *r;

	w->kind = (enum bench_kind)(K_ENQUEUE + w->step);
	switch (w->step) {
	case 0:
		w->step = bench_enqueue(w, w->queue, true) ? 1 : 0;
		return;
	case 1:
		callraft_request_call_next(&req, w->agent);
		break;
	case 2:
		callraft_request_call_answer(&req, w->call_id, w->agent, w->offer_term,
					     w->offer_index);
		break;
	default:
		callraft_request_call_end(&req, w->call_id, w->agent);
		break;
	}
	r = bench_send(w, &req.req, true);
	if (r != NULL && w->step == 1 && r->call != NULL) {
		snprintf(w->call_id, sizeof w->call_id, "%s", r->call->call_id);
		w->offer_term = r->call->offer_term;
		w->offer_index = r->call->offer_index;
	}
	/* After a refused answer the agent may still hold the call: end it before going on. */
	w->step = r != NULL ? (w->step + 1) % 4 : (w->step == 2 ? 3 : 0);
	callraft_reply_free(r);
}

static void bench_read(struct bench_worker *w, bool queue_show)
{
	struct callraft_request req;
	w->kind = K_READ;
	if (queue_show || w->call_id[0] == '\0')
		callraft_request_queue_show(&req, w->queue, 10);
	else
		callraft_request_call_show(&req, w->call_id);
	callraft_reply_free(bench_send(w, &req.req, true));
}

static void bench_op(struct bench_worker *w)
{
	switch (w->lv->o->workload) {
	case BENCH_ENQUEUE:
		w->kind = K_ENQUEUE;
		bench_enqueue(w, w->queue, true);
		return;
	case BENCH_CYCLE:
		bench_cycle_step(w);
		return;
	case BENCH_TICKET:
		w->kind = K_TICKET;
		bench_ticket(w, true);
		return;
	case BENCH_MIX: {
		unsigned pick = (unsigned)(bench_rand(w) % 100);
		if (pick < 60)
			bench_cycle_step(w);
		else if (pick < 75) {
			w->kind = K_TICKET;
			bench_ticket(w, true);
		}
		else
			bench_read(w, pick >= 90);
		return;
	}
	}
}

/* ------------------------------------------------------------------------------------------------
 * Threads. */

/* Opens the client and does the untimed first write that registers the session. */
static bool bench_setup(struct bench_worker *w)
{
	const struct bench_opts *o = w->lv->o;
	struct callraft_client_options co = {
	    .cluster = o->cluster, .name = "callraft-bench", .request_timeout_ms = o->timeout_ms};
	char errmsg[CALLRAFT_ERRMSG_BYTES];
	snprintf(w->agent, sizeof w->agent, "bench-%s-L%u-a%04u", o->tag, w->lv->index, w->k);
	if (o->queue[0] != '\0')
		snprintf(w->queue, sizeof w->queue, "%s", o->queue);
	else
		snprintf(w->queue, sizeof w->queue, "q.%s.L%u.k%04u.sales-fa", o->tag,
			 w->lv->index, w->k);
	if (callraft_client_open(&co, &w->client, errmsg, sizeof errmsg) != 0) {
		snprintf(w->err, sizeof w->err, "%s", errmsg);
		return false;
	}
	switch (o->workload) {
	case BENCH_CYCLE:
	case BENCH_MIX:
		return bench_agent_login(w);
	case BENCH_TICKET:
		return bench_ticket(w, false);
	default:
		return bench_enqueue(w, w->queue, false);
	}
}

static void *bench_worker_main(void *arg)
{
	struct bench_worker *w = arg;
	struct bench_level *lv = w->lv;
	pthread_mutex_lock(&lv->setup_lock);
	while (lv->setting_up >= BENCH_SETUP_CONCURRENT)
		pthread_cond_wait(&lv->setup_cond, &lv->setup_lock);
	lv->setting_up++;
	pthread_mutex_unlock(&lv->setup_lock);
	w->setup_failed = !bench_setup(w);
	pthread_mutex_lock(&lv->setup_lock);
	lv->setting_up--;
	pthread_cond_signal(&lv->setup_cond);
	pthread_mutex_unlock(&lv->setup_lock);
	pthread_barrier_wait(&lv->ready);
	pthread_barrier_wait(&lv->go);
	while (!w->setup_failed && bench_now_us() < lv->deadline_us) {
		if (lv->o->ops != 0 && atomic_fetch_add(&lv->started, 1) >= lv->o->ops)
			break;
		bench_op(w);
	}
	w->draining = true;
	if (!w->setup_failed && (lv->o->workload == BENCH_CYCLE || lv->o->workload == BENCH_MIX)) {
		if (w->step == 2 || w->step == 3) {
			w->step = 3; /* the agent holds a call: end it so the logout is accepted */
			bench_cycle_step(w);
		}
		bench_agent_logout(w);
	}
	callraft_client_close(w->client);
	w->client = NULL;
	return NULL;
}

/* ------------------------------------------------------------------------------------------------
 * One level: run, then merge the figures. */

struct bench_result {
	unsigned clients;
	uint64_t ok, refused, failed, unsampled;
	double elapsed_s;
	double p50_ms, p99_ms, p999_ms, max_ms, mean_ms;
	struct bench_kind_result {
		uint64_t n;
		double p50_ms, p99_ms, p999_ms, max_ms;
	} by_kind[K_COUNT];
	uint64_t cpu_ticks[BENCH_PIDS_MAX];
	uint64_t hwm_kb[BENCH_PIDS_MAX];
	bool proc_ok[BENCH_PIDS_MAX];
	double client_cpu_s;
	char err[256];
};

static uint32_t bench_lat(uint32_t sample)
{
	return sample & BENCH_LAT_MAX_US;
}

static int bench_cmp_u32(const void *a, const void *b)
{
	uint32_t x = bench_lat(*(const uint32_t *)a), y = bench_lat(*(const uint32_t *)b);
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples, in ms. */
static double bench_pct_ms(const uint32_t *v, size_t n, double q)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(q * (double)n);
	return bench_lat(i >= n ? v[n - 1] : v[i]) / 1000.0;
}

static double bench_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* Merges the workers' samples and counters into r (frees the samples). */
static void bench_merge(struct bench_worker *ws, unsigned k, int64_t t0_us, struct bench_result *r)
{
	size_t total = 0;
	int64_t last_us = t0_us;
	for (unsigned i = 0; i < k; i++)
		total += ws[i].n_lat;
	uint32_t *all = malloc((total ? total : 1) * sizeof *all);
	size_t n = 0;
	double sum = 0;
	for (unsigned i = 0; i < k; i++) {
		if (all != NULL)
			memcpy(all + n, ws[i].lat_us, ws[i].n_lat * sizeof *all);
		n += ws[i].n_lat;
		for (size_t j = 0; j < ws[i].n_lat; j++)
			sum += bench_lat(ws[i].lat_us[j]);
		free(ws[i].lat_us);
		r->ok += ws[i].ok;
		r->refused += ws[i].refused;
		r->failed += ws[i].failed;
		r->unsampled += ws[i].unsampled;
		if (ws[i].last_us > last_us)
			last_us = ws[i].last_us;
		if (r->err[0] == '\0' && ws[i].err[0] != '\0')
			snprintf(r->err, sizeof r->err, "%s", ws[i].err);
	}
	r->elapsed_s = (double)(last_us - t0_us) / 1e6;
	if (all != NULL) {
		qsort(all, n, sizeof *all, bench_cmp_u32);
		r->p50_ms = bench_pct_ms(all, n, 0.50);
		r->p99_ms = bench_pct_ms(all, n, 0.99);
		r->p999_ms = bench_pct_ms(all, n, 0.999);
		r->max_ms = n ? bench_lat(all[n - 1]) / 1000.0 : 0;
		r->mean_ms = n ? sum / (double)n / 1000.0 : 0;
		/* By kind: a stable partition of the sorted samples keeps each kind sorted. */
		uint32_t *part = malloc((n ? n : 1) * sizeof *part);
		size_t at = 0;
		for (unsigned kd = 0; part != NULL && kd < K_COUNT; kd++) {
			size_t from = at;
			for (size_t j = 0; j < n; j++)
				if (all[j] >> BENCH_LAT_BITS == kd)
					part[at++] = all[j];
			struct bench_kind_result *kr = &r->by_kind[kd];
			kr->n = at - from;
			kr->p50_ms = bench_pct_ms(part + from, kr->n, 0.50);
			kr->p99_ms = bench_pct_ms(part + from, kr->n, 0.99);
			kr->p999_ms = bench_pct_ms(part + from, kr->n, 0.999);
			kr->max_ms = kr->n ? bench_lat(part[at - 1]) / 1000.0 : 0;
		}
		free(part);
	}
	free(all);
}

static int bench_level_run(const struct bench_opts *o, unsigned index, struct bench_result *r)
{
	struct bench_level lv = {.o = o, .index = index, .clients = o->levels[index]};
	struct bench_worker *ws = calloc(lv.clients, sizeof *ws);
	struct bench_proc before[BENCH_PIDS_MAX], after;
	unsigned started = 0;

	*r = (struct bench_result){.clients = lv.clients};
	if (ws == NULL)
		return -1;
	atomic_init(&lv.started, 0);
	pthread_mutex_init(&lv.setup_lock, NULL);
	pthread_cond_init(&lv.setup_cond, NULL);
	pthread_barrier_init(&lv.ready, NULL, lv.clients + 1);
	pthread_barrier_init(&lv.go, NULL, lv.clients + 1);
	for (unsigned i = 0; i < lv.clients; i++) {
		ws[i].lv = &lv;
		ws[i].k = i;
		ws[i].rand = 0x9e3779b97f4a7c15ull ^ ((uint64_t)(index + 1) << 32) ^ (i + 1);
		if (pthread_create(&ws[i].thread, NULL, bench_worker_main, &ws[i]) != 0)
			abort(); /* the barriers count on every thread: nothing sane to fall back to
				  */
		started++;
	}
	pthread_barrier_wait(&lv.ready);
	for (unsigned p = 0; p < o->n_pids; p++)
		bench_proc_read(o->pids[p], &before[p]);
	double cpu0 = bench_cpu_s();
	int64_t t0 = bench_now_us();
	lv.deadline_us = t0 + (int64_t)o->duration_s * 1000000;
	pthread_barrier_wait(&lv.go);
	for (unsigned i = 0; i < started; i++)
		pthread_join(ws[i].thread, NULL);
	r->client_cpu_s = bench_cpu_s() - cpu0;
	for (unsigned p = 0; p < o->n_pids; p++) {
		bench_proc_read(o->pids[p], &after);
		r->proc_ok[p] = before[p].ok && after.ok;
		r->cpu_ticks[p] = after.cpu_ticks - before[p].cpu_ticks;
		r->hwm_kb[p] = after.hwm_kb;
	}
	unsigned setup_failed = 0;
	for (unsigned i = 0; i < lv.clients; i++)
		setup_failed += ws[i].setup_failed;
	bench_merge(ws, lv.clients, t0, r);
	pthread_barrier_destroy(&lv.ready);
	pthread_barrier_destroy(&lv.go);
	pthread_cond_destroy(&lv.setup_cond);
	pthread_mutex_destroy(&lv.setup_lock);
	free(ws);
	return setup_failed == lv.clients ? -1 : 0;
}

/* ------------------------------------------------------------------------------------------------
 * Reports. */

static double bench_ops_s(const struct bench_result *r)
{
	return r->elapsed_s > 0 ? (double)r->ok / r->elapsed_s : 0;
}

static void bench_print_text(const struct bench_opts *o, const struct bench_result *r)
{
	long hz = sysconf(_SC_CLK_TCK);
	printf("%7u %9" PRIu64 " %9.0f %8.2f %8.2f %8.2f %8.2f %7" PRIu64 " %7" PRIu64 " %8.2f",
	       r->clients, r->ok, bench_ops_s(r), r->p50_ms, r->p99_ms, r->p999_ms, r->max_ms,
	       r->refused, r->failed, r->client_cpu_s);
	for (unsigned p = 0; p < o->n_pids; p++) {
		double cpu_s = (double)r->cpu_ticks[p] / (double)hz;
		if (r->proc_ok[p])
			printf("  %d:%.2fs/%.0fMiB", o->pids[p], cpu_s, r->hwm_kb[p] / 1024.0);
		else
			printf("  %d:gone", o->pids[p]);
	}
	printf("\n");
	unsigned kinds = 0;
	for (unsigned kd = 0; kd < K_COUNT; kd++)
		kinds += r->by_kind[kd].n > 0;
	for (unsigned kd = 0; kinds > 1 && kd < K_COUNT; kd++) {
		const struct bench_kind_result *kr = &r->by_kind[kd];
		if (kr->n > 0)
			printf("   %-8s %9" PRIu64 " %9s %8.2f %8.2f %8.2f %8.2f\n", bench_kind_names[kd],
			       kr->n, "", kr->p50_ms, kr->p99_ms, kr->p999_ms, kr->max_ms);
	}
	if (r->refused + r->failed > 0)
		printf("        first error: %s\n", r->err);
}

/* json-c shortcuts. */
static void json_u64(json_object *o, const char *key, uint64_t value)
{
	json_object_object_add(o, key, json_object_new_uint64(value));
}

static void json_i64(json_object *o, const char *key, int64_t value)
{
	json_object_object_add(o, key, json_object_new_int64(value));
}

static void json_str(json_object *o, const char *key, const char *value)
{
	json_object_object_add(o, key, json_object_new_string(value != NULL ? value : ""));
}

static void json_print(json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						   JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static json_object *bench_json_level(const struct bench_opts *o, const struct bench_result *r)
{
	long hz = sysconf(_SC_CLK_TCK);
	json_object *l = json_object_new_object();
	json_u64(l, "clients", r->clients);
	json_u64(l, "ops", r->ok);
	json_object_object_add(l, "elapsed_s", json_object_new_double(r->elapsed_s));
	json_object_object_add(l, "ops_per_s", json_object_new_double(bench_ops_s(r)));
	json_object *lat = json_object_new_object();
	json_object_object_add(lat, "p50", json_object_new_double(r->p50_ms));
	json_object_object_add(lat, "p99", json_object_new_double(r->p99_ms));
	json_object_object_add(lat, "p999", json_object_new_double(r->p999_ms));
	json_object_object_add(lat, "max", json_object_new_double(r->max_ms));
	json_object_object_add(lat, "mean", json_object_new_double(r->mean_ms));
	json_object_object_add(l, "latency_ms", lat);
	json_object *by_op = json_object_new_object();
	for (unsigned kd = 0; kd < K_COUNT; kd++) {
		const struct bench_kind_result *kr = &r->by_kind[kd];
		if (kr->n == 0)
			continue;
		json_object *k = json_object_new_object();
		json_u64(k, "samples", kr->n);
		json_object_object_add(k, "p50", json_object_new_double(kr->p50_ms));
		json_object_object_add(k, "p99", json_object_new_double(kr->p99_ms));
		json_object_object_add(k, "p999", json_object_new_double(kr->p999_ms));
		json_object_object_add(k, "max", json_object_new_double(kr->max_ms));
		json_object_object_add(by_op, bench_kind_names[kd], k);
	}
	json_object_object_add(l, "latency_ms_by_op", by_op);
	json_u64(l, "refused", r->refused);
	json_u64(l, "failed", r->failed);
	json_u64(l, "unsampled", r->unsampled);
	json_str(l, "first_error", r->err);
	json_object_object_add(l, "client_cpu_s", json_object_new_double(r->client_cpu_s));
	json_object *nodes = json_object_new_array();
	for (unsigned p = 0; p < o->n_pids; p++) {
		json_object *nd = json_object_new_object();
		double cpu_s = (double)r->cpu_ticks[p] / (double)hz;
		json_i64(nd, "pid", o->pids[p]);
		json_object_object_add(nd, "ok", json_object_new_boolean(r->proc_ok[p]));
		json_object_object_add(nd, "cpu_s", json_object_new_double(cpu_s));
		json_object_object_add(
		    nd, "cpu_ms_per_op",
		    json_object_new_double(r->ok ? 1000.0 * cpu_s / (double)r->ok : 0));
		json_u64(nd, "rss_peak_kb", r->hwm_kb[p]);
		json_object_array_add(nodes, nd);
	}
	json_object_object_add(l, "nodes", nodes);
	return l;
}

/* ------------------------------------------------------------------------------------------------
 * Options and the command. Errors are reported as the CLI reports them (docs/cli.md): one line
 * "callraft: bench: ..." on stderr and, with --json, {"error":{"code":..,"message":..}} on stdout. */

enum { BENCH_EXIT_OK = 0, BENCH_EXIT_USAGE = 2, BENCH_EXIT_UNAVAILABLE = 3 };

/* Longest --timeout accepted (as the CLI's): a day. */
#define BENCH_TIMEOUT_MS_MAX (24 * 3600 * 1000)

static bool bench_json; /* --json: set once while parsing, read when reporting */

static int bench_fail(int exit_code, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bench_fail(int exit_code, const char *code, const char *fmt, ...)
{
	char msg[CALLRAFT_ERRMSG_BYTES + 128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "callraft: bench: %s\n", msg);
	if (bench_json) {
		json_object *err = json_object_new_object(), *top = json_object_new_object();
		json_str(err, "code", code);
		json_str(err, "message", msg);
		json_object_object_add(top, "error", err);
		json_print(top);
	}
	return exit_code;
}
#define bench_usage_error(...) bench_fail(BENCH_EXIT_USAGE, "INVALID_ARGUMENT", __VA_ARGS__)

/* Strict decimal. */
static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (s == NULL || s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* Parses "1,16,64" into out (each 1..max). Returns the count, or -1. */
static int bench_parse_list(const char *s, unsigned *out, unsigned n_max, uint64_t max)
{
	char copy[256], *save = NULL;
	int n = 0;
	if (strlen(s) >= sizeof copy)
		return -1;
	snprintf(copy, sizeof copy, "%s", s);
	for (char *tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;
		if ((unsigned)n == n_max || parse_u64(tok, &v) != 0 || v < 1 || v > max)
			return -1;
		out[n++] = (unsigned)v;
	}
	return n > 0 ? n : -1;
}

enum {
	BENCH_OPT_CLUSTER = 256,
	BENCH_OPT_JSON,
	BENCH_OPT_STALE,
	BENCH_OPT_TIMEOUT,
	BENCH_OPT_WORKLOAD,
	BENCH_OPT_CLIENTS,
	BENCH_OPT_DURATION,
	BENCH_OPT_OPS,
	BENCH_OPT_PIDS,
	BENCH_OPT_ANY_NODE,
	BENCH_OPT_QUEUE,
};

static void bench_usage(FILE *f)
{
	fprintf(f, "usage: callraft bench [--workload enqueue|cycle|ticket|mix] [--clients 1,16,64]\n"
		   "                      [--duration S] [--ops N] [--pids P1,P2,..] [--any-node]\n"
		   "                      [--queue Q] [--cluster ADDR[,ADDR...]] [--json] [--timeout MS]\n");
}

/* The cluster given by --cluster, else $CALLRAFT_CLUSTER. */
static const char *bench_cluster_arg;

/* -1 to go on parsing, else the exit code. */
static int bench_option(struct bench_opts *o, int opt, char **argv)
{
	uint64_t v;
	unsigned pids[BENCH_PIDS_MAX];
	int n;
	switch (opt) {
	case BENCH_OPT_CLUSTER:
		bench_cluster_arg = optarg;
		return -1;
	case BENCH_OPT_JSON:
		bench_json = true;
		return -1;
	case BENCH_OPT_STALE: /* accepted like every CLI command's; the bench's reads are linearizable */
		return -1;
	case BENCH_OPT_TIMEOUT:
		if (parse_u64(optarg, &v) != 0 || v == 0 || v > BENCH_TIMEOUT_MS_MAX)
			return bench_usage_error("--timeout: '%s': expected milliseconds, 1..%d",
						 optarg, BENCH_TIMEOUT_MS_MAX);
		o->timeout_ms = (int)v;
		return -1;
	case BENCH_OPT_WORKLOAD:
		for (unsigned i = 0; i < 4; i++)
			if (strcmp(optarg, bench_workload_names[i]) == 0) {
				o->workload = (enum bench_workload)i;
				return -1;
			}
		return bench_usage_error("--workload: '%s': expected enqueue, cycle, ticket or mix",
					 optarg);
	case BENCH_OPT_CLIENTS:
		n = bench_parse_list(optarg, o->levels, BENCH_LEVELS_MAX, BENCH_CLIENTS_MAX);
		if (n < 0)
			return bench_usage_error("--clients: '%s': expected a list like 1,16,64 "
						 "(each 1..%d, at most %d)",
						 optarg, BENCH_CLIENTS_MAX, BENCH_LEVELS_MAX);
		o->n_levels = (unsigned)n;
		return -1;
	case BENCH_OPT_DURATION:
		if (parse_u64(optarg, &v) != 0 || v < 1 || v > BENCH_DURATION_S_MAX)
			return bench_usage_error("--duration: '%s': expected seconds, 1..%d", optarg,
						 BENCH_DURATION_S_MAX);
		o->duration_s = (unsigned)v;
		return -1;
	case BENCH_OPT_OPS:
		if (parse_u64(optarg, &v) != 0 || v < 1)
			return bench_usage_error("--ops: '%s': expected a count >= 1", optarg);
		o->ops = v;
		return -1;
	case BENCH_OPT_PIDS:
		n = bench_parse_list(optarg, pids, BENCH_PIDS_MAX, INT32_MAX);
		if (n < 0)
			return bench_usage_error("--pids: '%s': expected P1,P2,... (at most %d)", optarg,
						 BENCH_PIDS_MAX);
		for (int i = 0; i < n; i++)
			o->pids[i] = (int)pids[i];
		o->n_pids = (unsigned)n;
		return -1;
	case BENCH_OPT_ANY_NODE:
		o->any_node = true;
		return -1;
	case BENCH_OPT_QUEUE:
		if (optarg[0] == '\0' || strlen(optarg) > CALLRAFT_QUEUE_BYTES_MAX)
			return bench_usage_error("--queue: expected a queue name of 1..%d bytes",
						 CALLRAFT_QUEUE_BYTES_MAX);
		snprintf(o->queue, sizeof o->queue, "%s", optarg);
		return -1;
	case 'h':
		bench_usage(stdout);
		return BENCH_EXIT_OK;
	case ':':
		return bench_usage_error("option '%s' needs a value", argv[optind - 1]);
	default:
		if (optopt != 0)
			return bench_usage_error("unknown option '-%c'", optopt);
		return bench_usage_error("unknown option '%s'", argv[optind - 1]);
	}
}

/* Puts the leader's client address first in o->cluster. Right after a cluster starts, the leader
 * may not have recorded the members' client addresses yet: asks again, BENCH_LEADER_TRIES times
 * BENCH_LEADER_WAIT_MS apart, then goes on with the given order. */
#define BENCH_LEADER_TRIES   25
#define BENCH_LEADER_WAIT_MS 200
static void bench_leader_first(struct bench_opts *o, const char *cluster)
{
	struct callraft_client_options co = {
	    .cluster = cluster, .name = "callraft-bench", .request_timeout_ms = o->timeout_ms};
	struct callraft_client *c;
	char errmsg[CALLRAFT_ERRMSG_BYTES];
	snprintf(o->cluster, sizeof o->cluster, "%s", cluster);
	if (o->any_node)
		return;
	if (callraft_client_open(&co, &c, errmsg, sizeof errmsg) != 0) {
		fprintf(stderr, "callraft: bench: %s\n", errmsg); /* the run reports it again */
		return;
	}
	for (int t = 0; t < BENCH_LEADER_TRIES; t++) {
		struct callraft_request req;
		if (t > 0)
			usleep(BENCH_LEADER_WAIT_MS * 1000);
		Callraft__Reply *r =
		    callraft_client_call(c, callraft_request_status(&req), errmsg, sizeof errmsg);
		if (r == NULL || r->code != CALLRAFT__CODE__OK) {
			/* The run goes on and will report its own failures. */
			fprintf(stderr, "callraft: bench: status: %s\n",
				r != NULL ? callraft_code_name(r->code) : errmsg);
			callraft_reply_free(r);
			break;
		}
		bool found = false;
		for (size_t i = 0; r->status != NULL && i < r->status->n_members && !found; i++) {
			const Callraft__Member *m = r->status->members[i];
			if (m->id == r->status->leader_id && m->client_address[0] != '\0') {
				snprintf(o->cluster, sizeof o->cluster, "%s,%s", m->client_address,
					 cluster);
				found = true;
			}
		}
		callraft_reply_free(r);
		if (found)
			break;
	}
	callraft_client_close(c);
}

/* Encoded size of a typical request of the workload (reported so value sizes can be compared). */
static size_t bench_request_bytes(const struct bench_opts *o)
{
	struct callraft_request req;
	char customer[CALLRAFT_ID_BYTES_MAX + 1];
	/* Mirrors bench_enqueue's shapes; tickets are of the same order. */
	snprintf(customer, sizeof customer, "CUST-IR-THR-%010d-%s-segment.b2c.loyalty-gold-vip", 0,
		 o->tag);
	callraft_request_call_enqueue(&req,
				      "0123456789012345678901234567890123456789012345678901234567890123",
				      "q.00000000.L0.k0000.sales-fa", "+989120000000#0000000000",
				      customer, 3, BENCH_SITE);
	req.req.version = CALLRAFT_PROTOCOL_VERSION;
	req.req.request_id = 1000000;
	req.req.client_id = 1000000;
	req.req.seq = 1000000;
	return callraft__request__get_packed_size(&req.req);
}

static int bench_parse(struct bench_opts *o, int argc, char **argv)
{
	static const struct option options[] = {
	    {"cluster", required_argument, NULL, BENCH_OPT_CLUSTER},
	    {"json", no_argument, NULL, BENCH_OPT_JSON},
	    {"stale", no_argument, NULL, BENCH_OPT_STALE},
	    {"timeout", required_argument, NULL, BENCH_OPT_TIMEOUT},
	    {"workload", required_argument, NULL, BENCH_OPT_WORKLOAD},
	    {"clients", required_argument, NULL, BENCH_OPT_CLIENTS},
	    {"duration", required_argument, NULL, BENCH_OPT_DURATION},
	    {"ops", required_argument, NULL, BENCH_OPT_OPS},
	    {"pids", required_argument, NULL, BENCH_OPT_PIDS},
	    {"any-node", no_argument, NULL, BENCH_OPT_ANY_NODE},
	    {"queue", required_argument, NULL, BENCH_OPT_QUEUE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	int opt;
	o->workload = BENCH_ENQUEUE;
	o->levels[0] = 1;
	o->n_levels = 1;
	o->duration_s = 10;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		int rv = bench_option(o, opt, argv);
		if (rv >= 0)
			return rv;
	}
	if (optind < argc)
		return bench_usage_error("unexpected argument '%s'", argv[optind]);
	return -1;
}

int main(int argc, char **argv)
{
	static struct bench_opts o; /* the cluster string is large; one bench per process */
	static struct bench_result results[BENCH_LEVELS_MAX];
	int rv = bench_parse(&o, argc, argv);
	if (rv >= 0)
		return rv;
	const char *cluster = bench_cluster_arg != NULL ? bench_cluster_arg : getenv("CALLRAFT_CLUSTER");
	if (cluster == NULL || cluster[0] == '\0')
		return bench_usage_error("no cluster: pass --cluster or set CALLRAFT_CLUSTER");
	snprintf(o.tag, sizeof o.tag, "%08x",
		 (unsigned)((uint64_t)bench_now_us() ^ ((uint64_t)getpid() << 20)));
	bench_leader_first(&o, cluster);
	if (!bench_json)
		printf("callraft bench: workload %s, %u s or %" PRIu64
		       " ops per level, request ~%zu "
		       "bytes, run tag %s, first node %.*s\n"
		       "clients       ops     ops/s  p50 ms   p99 ms  p999 ms   max ms refused  "
		       "failed  cli cpu  node pid:cpu/peak-rss\n",
		       bench_workload_names[o.workload], o.duration_s, o.ops,
		       bench_request_bytes(&o), o.tag, (int)strcspn(o.cluster, ","), o.cluster);
	unsigned done = 0;
	for (; done < o.n_levels; done++) {
		if (bench_level_run(&o, done, &results[done]) != 0) {
			if (!bench_json)
				bench_print_text(&o, &results[done]);
			return bench_fail(BENCH_EXIT_UNAVAILABLE, "UNAVAILABLE",
					  "%u clients: no client could start: %s", o.levels[done],
					  results[done].err);
		}
		if (!bench_json) {
			bench_print_text(&o, &results[done]);
			fflush(stdout);
		}
	}
	if (bench_json) {
		json_object *top = json_object_new_object();
		json_str(top, "workload", bench_workload_names[o.workload]);
		json_u64(top, "duration_s", o.duration_s);
		json_u64(top, "ops_max", o.ops);
		json_u64(top, "request_bytes", bench_request_bytes(&o));
		json_str(top, "run_tag", o.tag);
		json_str(top, "cluster", o.cluster);
		json_object *levels = json_object_new_array();
		for (unsigned i = 0; i < done; i++)
			json_object_array_add(levels, bench_json_level(&o, &results[i]));
		json_object_object_add(top, "levels", levels);
		json_print(top);
	}
	return BENCH_EXIT_OK;
}
