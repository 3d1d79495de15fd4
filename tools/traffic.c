/* traffic.c: callraft-traffic, demo traffic and the write/verify pair behind the failover tests.
 * A program of its own, built like any user's program on libcallraft's public API: the typed
 * calls and the request builder of callraft_client.h, JSON with json-c.
 *
 *   callraft-traffic demo   --cluster A,B,.. [--sites tehran,shiraz] [--rate 20] [--duration 30]
 *       Plays the PBXs and agent desktops of every site: callers arrive at each site, agents log in
 *       and take calls (next, answer, end), ~3% of calls open a ticket, some callers abandon.
 *       Prints one line a second and a summary.
 *
 *   callraft-traffic write  --cluster A,B,.. --ack-file F [--ops N] [--duration S] [--clients K]
 *       K sessions (threads), each opening tickets for unique customers ("w<k>-<i>") one after the
 *       other, through failover. Every acknowledged ticket is appended to F as
 *       "<ack_ms> <customer> <code> <latency_ms>". Stops after N ops in all or S seconds, or at
 *       SIGTERM/SIGINT once every session has recorded the request in flight.
 *
 *   callraft-traffic verify --nodes A,B,.. --ack-file F [--expect-total N]
 *       Asks every node directly (stale reads of its own state) for each acknowledged customer's
 *       tickets: each must have exactly one ticket with the acknowledged code (none lost, none
 *       applied twice). Exit 0 only if every node passes.
 *
 *   callraft-traffic center --cluster A,B --site S --history F [--rate 10] [--agents 8] ...
 *       The PBX and agent desktops of one site, talking to that site's nodes only, recording every
 *       request and reply in a JSON-lines history for deploy/drill/check.py (see "center" below).
 *
 *   callraft-traffic dump --nodes ADDR --keys F --out F
 *       One node's own state (stale reads) of the objects listed in F, for the checker.
 *
 * Every loop is bounded by a count and a duration. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "callraft_client.h"
#include "callraft_limits.h"

/* scanf width of an id: CALLRAFT_ID_BYTES_MAX as a string literal. */
#define STR_(x) #x
#define STR(x) STR_(x)
#define ID_SCAN STR(CALLRAFT_ID_BYTES_MAX)

static int64_t now_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

struct opts {
	const char *cluster;
	const char *nodes;
	const char *ack_file;
	const char *sites;
	double rate;
	int duration_s;
	long ops;
	int clients;
	long expect_total;
	const char *site;     /* center: this process's site */
	const char *history;  /* center: history file (JSON lines, appended) */
	int agents;           /* center: agent desktops of the site */
	unsigned seed;
	int request_timeout_ms;
	const char *keys, *out; /* dump */
};

/* ------------------------------------------------------------------------------------------------
 * write */

struct writer {
	pthread_t thread;
	int k;
	const struct opts *o;
	FILE *ack;
	pthread_mutex_t *ack_lock;
	atomic_long *ops_started;
	int64_t deadline_ms;
	long acked, failed;
	int64_t max_gap_ms, last_ack_ms;
	uint64_t retries;
};

/* SIGTERM/SIGINT: every session finishes (and records) the request in flight, then stops, so a
 * test can end the writes once its faults are over instead of waiting out --duration. */
static volatile sig_atomic_t write_stop;

static void write_on_signal(int sig)
{
	(void)sig;
	write_stop = 1;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct callraft_client_options co = {.cluster = w->o->cluster, .name = "traffic-write",
					     .request_timeout_ms = 30000};
	struct callraft_client *c;
	char err[CALLRAFT_ERRMSG_BYTES];

	if (callraft_client_open(&co, &c, err, sizeof err) != 0) {
		fprintf(stderr, "callraft-traffic: %s\n", err);
		return NULL;
	}
	for (long i = 0;; i++) {
		if (write_stop || now_ms() >= w->deadline_ms ||
		    atomic_fetch_add(w->ops_started, 1) >= w->o->ops)
			break;
		char customer[CALLRAFT_ID_BYTES_MAX + 1];
		snprintf(customer, sizeof customer, "w%d-%ld", w->k, i);
		int64_t t0 = now_ms();
		Callraft__Reply *r = callraft_ticket_open(c, customer, "request", NULL, "failover test",
							  NULL, NULL, err, sizeof err);
		int64_t t1 = now_ms();
		if (r == NULL || r->code != CALLRAFT__CODE__OK || r->ticket == NULL) {
			/* Not acknowledged: it may or may not have been applied; the verifier only checks
			 * acknowledged writes for loss, and every write for duplicates. */
			w->failed++;
			callraft_reply_free(r);
			continue;
		}
		pthread_mutex_lock(w->ack_lock);
		fprintf(w->ack, "%lld %s %s %lld\n", (long long)t1, customer, r->ticket->code,
			(long long)(t1 - t0));
		fflush(w->ack);
		pthread_mutex_unlock(w->ack_lock);
		if (w->last_ack_ms && t1 - w->last_ack_ms > w->max_gap_ms)
			w->max_gap_ms = t1 - w->last_ack_ms;
		w->last_ack_ms = t1;
		w->acked++;
		callraft_reply_free(r);
	}
	w->retries = callraft_client_retries(c);
	callraft_client_close(c);
	return NULL;
}

static int cmd_write(const struct opts *o)
{
	FILE *ack;
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	atomic_long started = 0;
	struct writer *ws;
	long acked = 0, failed = 0;
	int64_t gap = 0;
	uint64_t retries = 0;

	if (o->cluster == NULL || o->ack_file == NULL) {
		fprintf(stderr, "callraft-traffic write: --cluster and --ack-file are required\n");
		return 2;
	}
	ack = fopen(o->ack_file, "a");
	if (ack == NULL) {
		fprintf(stderr, "callraft-traffic: ack file '%s': %s\n", o->ack_file, strerror(errno));
		return 2;
	}
	ws = calloc((size_t)o->clients, sizeof *ws);
	signal(SIGTERM, write_on_signal);
	signal(SIGINT, write_on_signal);
	int64_t t0 = now_ms();
	for (int k = 0; k < o->clients; k++) {
		ws[k] = (struct writer){.k = k, .o = o, .ack = ack, .ack_lock = &lock,
					.ops_started = &started,
					.deadline_ms = t0 + (int64_t)o->duration_s * 1000};
		pthread_create(&ws[k].thread, NULL, writer_main, &ws[k]);
	}
	for (int k = 0; k < o->clients; k++) {
		pthread_join(ws[k].thread, NULL);
		acked += ws[k].acked;
		failed += ws[k].failed;
		retries += ws[k].retries;
		if (ws[k].max_gap_ms > gap)
			gap = ws[k].max_gap_ms;
	}
	fclose(ack);
	printf("write: acknowledged=%ld not_acknowledged=%ld retries=%llu max_gap_between_acks_ms=%lld "
	       "elapsed_ms=%lld\n",
	       acked, failed, (unsigned long long)retries, (long long)gap, (long long)(now_ms() - t0));
	free(ws);
	return 0;
}

/* ------------------------------------------------------------------------------------------------
 * verify */

static int split(const char *list, char ***out)
{
	char *copy = strdup(list), *save = NULL, *tok;
	int n = 0;
	*out = NULL;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		*out = realloc(*out, (size_t)(n + 1) * sizeof **out);
		(*out)[n++] = strdup(tok);
	}
	free(copy);
	return n;
}

static int verify_node(const char *node, FILE *ack, long *checked)
{
	char line[512], customer[CALLRAFT_ID_BYTES_MAX + 1], code[CALLRAFT_ID_BYTES_MAX + 1];
	long long at, lat;
	int bad = 0;
	char err[CALLRAFT_ERRMSG_BYTES];

	/* One connection to the node for the whole check (a TLS handshake per read would cost more
	 * than the reads). */
	struct callraft_client_options co = {.cluster = node, .name = "traffic-verify",
					     .attempt_timeout_ms = 5000, .request_timeout_ms = 5000};
	struct callraft_client *cl;
	if (callraft_client_open(&co, &cl, err, sizeof err) != 0) {
		fprintf(stderr, "verify: node %s: %s\n", node, err);
		return -1;
	}
	rewind(ack);
	*checked = 0;
	while (fgets(line, sizeof line, ack)) {
		if (sscanf(line, "%lld %" ID_SCAN "s %" ID_SCAN "s %lld", &at, customer, code, &lat) != 4)
			continue;
		struct callraft_request req;
		callraft_request_ticket_list(&req, customer, 10)->stale = true;
		Callraft__Reply *r = callraft_client_call(cl, &req.req, err, sizeof err);
		if (r == NULL) {
			fprintf(stderr, "verify: node %s: %s\n", node, err);
			callraft_client_close(cl);
			return -1;
		}
		if (r->code != CALLRAFT__CODE__OK || r->n_tickets != 1 ||
		    strcmp(r->tickets[0]->code, code) != 0) {
			fprintf(stderr, "verify: node %s: customer %s: expected exactly ticket %s, found %zu%s%s\n",
				node, customer, code, r->n_tickets, r->n_tickets ? " first " : "",
				r->n_tickets ? r->tickets[0]->code : "");
			bad++;
		}
		callraft_reply_free(r);
		(*checked)++;
	}
	callraft_client_close(cl);
	return bad;
}

static int cmd_verify(const struct opts *o)
{
	char **nodes;
	int n, failures = 0;
	FILE *ack;

	if (o->nodes == NULL || o->ack_file == NULL) {
		fprintf(stderr, "callraft-traffic verify: --nodes and --ack-file are required\n");
		return 2;
	}
	ack = fopen(o->ack_file, "r");
	if (ack == NULL) {
		fprintf(stderr, "callraft-traffic: ack file '%s': %s\n", o->ack_file, strerror(errno));
		return 2;
	}
	n = split(o->nodes, &nodes);
	for (int i = 0; i < n; i++) {
		long checked = 0;
		int bad = verify_node(nodes[i], ack, &checked);
		if (bad != 0 || (o->expect_total >= 0 && checked != o->expect_total))
			failures++;
		printf("verify: node %s: acknowledged=%ld lost_or_duplicated=%d%s\n", nodes[i], checked,
		       bad < 0 ? -1 : bad, bad < 0 ? " (unreachable)" : "");
		free(nodes[i]);
	}
	free(nodes);
	fclose(ack);
	printf("verify: %s\n", failures ? "FAILED" : "ok: every acknowledged write exactly once on every node");
	return failures ? 1 : 0;
}

/* ------------------------------------------------------------------------------------------------
 * demo: PBXs and agents of every site. */

struct demo_stats {
	atomic_long enqueued, answered, ended, abandoned, tickets, errors, empty;
};

struct demo_actor {
	pthread_t thread;
	const struct opts *o;
	struct demo_stats *st;
	const char *site;
	int k;
	bool pbx;
	int64_t deadline_ms;
};

static const char *demo_queues[] = {"sales", "after-sales", "roadside"};
#define DEMO_QUEUES_COUNT (sizeof demo_queues / sizeof demo_queues[0])

/* One caller as a PBX of `site` sees them arrive (demo and center share it): a queue, a number, a
 * customer, and a tier: 1 in 10 is diamond (3), the rest regular, silver or gold. */
struct caller {
	char call_id[CALLRAFT_ID_BYTES_MAX + 1];
	char number[CALLRAFT_PHONE_BYTES_MAX + 1];
	char customer[CALLRAFT_ID_BYTES_MAX + 1];
	const char *queue;
	uint32_t tier;
};

static void caller_make(struct caller *cl, unsigned *seed, const char *site, int64_t start_ms,
			long n)
{
	snprintf(cl->call_id, sizeof cl->call_id, "%s-%lld-%ld", site, (long long)start_ms, n);
	snprintf(cl->number, sizeof cl->number, "+98%09u", rand_r(seed) % 1000000000u);
	snprintf(cl->customer, sizeof cl->customer, "cust-%u", rand_r(seed) % 5000);
	cl->queue = demo_queues[rand_r(seed) % DEMO_QUEUES_COUNT];
	cl->tier = rand_r(seed) % 10 == 0 ? 3 : rand_r(seed) % 3;
}

/* Counts a reply into `counter` if OK, an error if none came; frees it. */
static void demo_done(Callraft__Reply *r, const char *err, struct demo_stats *st,
		      atomic_long *counter)
{
	if (r == NULL) {
		atomic_fetch_add(&st->errors, 1);
		fprintf(stderr, "demo: %s\n", err);
	} else if (r->code == CALLRAFT__CODE__OK && counter != NULL) {
		atomic_fetch_add(counter, 1);
	}
	callraft_reply_free(r);
}

static void demo_pbx(struct demo_actor *a, struct callraft_client *c)
{
	unsigned seed = (unsigned)(a->k * 7919 + 1);
	double per_site = a->o->rate;
	long n = 0;
	int64_t start = now_ms();
	char err[CALLRAFT_ERRMSG_BYTES];
	while (now_ms() < a->deadline_ms) {
		int64_t due = start + (int64_t)(1000.0 * (double)n / per_site);
		if (due > now_ms())
			sleep_ms((int)(due - now_ms()));
		struct caller cl;
		caller_make(&cl, &seed, a->site, start, n);
		demo_done(callraft_call_enqueue(c, cl.call_id, cl.queue, cl.number, cl.customer, cl.tier,
						a->site, err, sizeof err),
			  err, a->st, &a->st->enqueued);
		if (rand_r(&seed) % 100 < 4) /* a caller hangs up while waiting */
			demo_done(callraft_call_abandon(c, cl.call_id, err, sizeof err), err, a->st,
				  &a->st->abandoned);
		n++;
	}
}

static void demo_agent(struct demo_actor *a, struct callraft_client *c)
{
	char agent_id[CALLRAFT_ID_BYTES_MAX + 1], err[CALLRAFT_ERRMSG_BYTES];
	unsigned seed = (unsigned)(a->k * 104729 + 3);
	snprintf(agent_id, sizeof agent_id, "%s-agent-%d", a->site, a->k);
	demo_done(callraft_agent_login(c, agent_id, agent_id, a->site, (char *const *)demo_queues,
				       DEMO_QUEUES_COUNT, err, sizeof err),
		  err, a->st, NULL);
	while (now_ms() < a->deadline_ms) {
		Callraft__Reply *r = callraft_call_next(c, agent_id, err, sizeof err);
		if (r == NULL || r->code != CALLRAFT__CODE__OK || r->call == NULL) {
			if (r && r->code == CALLRAFT__CODE__QUEUE_EMPTY)
				atomic_fetch_add(&a->st->empty, 1);
			demo_done(r, err, a->st, NULL);
			sleep_ms(200);
			continue;
		}
		char call_id[CALLRAFT_ID_BYTES_MAX + 1], customer[CALLRAFT_ID_BYTES_MAX + 1];
		uint64_t term = r->call->offer_term, index = r->call->offer_index;
		snprintf(call_id, sizeof call_id, "%s", r->call->call_id);
		snprintf(customer, sizeof customer, "%s", r->call->customer_id ? r->call->customer_id : "");
		callraft_reply_free(r);
		demo_done(callraft_call_answer(c, call_id, agent_id, term, index, err, sizeof err), err,
			  a->st, &a->st->answered);
		sleep_ms(50 + (int)(rand_r(&seed) % 150)); /* talk time, compressed */
		if (rand_r(&seed) % 100 < 3 && customer[0])
			demo_done(callraft_ticket_open(c, customer, "complaint-passenger", call_id,
						       "opened during a demo call", NULL, agent_id, err,
						       sizeof err),
				  err, a->st, &a->st->tickets);
		demo_done(callraft_call_end(c, call_id, agent_id, err, sizeof err), err, a->st,
			  &a->st->ended);
	}
}

static void *demo_main(void *arg)
{
	struct demo_actor *a = arg;
	struct callraft_client_options co = {.cluster = a->o->cluster, .name = a->pbx ? "pbx" : "desktop",
					     .request_timeout_ms = 20000};
	struct callraft_client *c;
	char err[CALLRAFT_ERRMSG_BYTES];
	if (callraft_client_open(&co, &c, err, sizeof err) != 0) {
		fprintf(stderr, "demo: %s\n", err);
		return NULL;
	}
	if (a->pbx)
		demo_pbx(a, c);
	else
		demo_agent(a, c);
	callraft_client_close(c);
	return NULL;
}

static int cmd_demo(const struct opts *o)
{
	char **sites;
	int n_sites = split(o->sites, &sites), agents_per_site = 4, n = 0;
	struct demo_stats st = {0};
	int64_t t0 = now_ms();
	struct demo_actor *actors = calloc((size_t)n_sites * (size_t)(1 + agents_per_site), sizeof *actors);

	if (o->cluster == NULL) {
		fprintf(stderr, "callraft-traffic demo: --cluster is required\n");
		return 2;
	}
	for (int s = 0; s < n_sites; s++) {
		for (int k = 0; k <= agents_per_site; k++, n++) {
			actors[n] = (struct demo_actor){.o = o, .st = &st, .site = sites[s], .k = k + s * 100,
							.pbx = k == 0, .deadline_ms = t0 + o->duration_s * 1000LL};
			pthread_create(&actors[n].thread, NULL, demo_main, &actors[n]);
		}
	}
	for (int sec = 1; now_ms() < t0 + o->duration_s * 1000LL + 500; sec++) {
		sleep_ms(1000);
		printf("t=%3ds enqueued=%ld answered=%ld ended=%ld abandoned=%ld tickets=%ld errors=%ld\n", sec,
		       atomic_load(&st.enqueued), atomic_load(&st.answered), atomic_load(&st.ended),
		       atomic_load(&st.abandoned), atomic_load(&st.tickets), atomic_load(&st.errors));
		fflush(stdout);
	}
	for (int i = 0; i < n; i++)
		pthread_join(actors[i].thread, NULL);
	printf("demo done: enqueued=%ld answered=%ld ended=%ld abandoned=%ld tickets=%ld errors=%ld in %.1fs\n",
	       atomic_load(&st.enqueued), atomic_load(&st.answered), atomic_load(&st.ended),
	       atomic_load(&st.abandoned), atomic_load(&st.tickets), atomic_load(&st.errors),
	       (double)(now_ms() - t0) / 1000.0);
	for (int s = 0; s < n_sites; s++)
		free(sites[s]);
	free(sites);
	free(actors);
	return atomic_load(&st.enqueued) > 0 ? 0 : 1;
}

/* ------------------------------------------------------------------------------------------------
 * center: the PBX and the agent desktops of one site, with a history of every request.
 *
 * One process per site, run inside that site (the lab runs it in the site's namespace) and given
 * only that site's nodes, as a real PBX would be. Callers arrive at --rate calls/s (evenly spaced);
 * ~5% of callers hang up after 0.2-2.2 s of patience if nobody answered; --agents desktops log in and
 * loop: next, answer, talk 100-600 ms, in 3% of calls open a ticket, end. A desktop that lost track
 * of an offer (no reply to `next` or `answer`) asks the cluster which call it holds and finishes it,
 * as a real desktop reloading its screen would.
 *
 * History (--history F): one JSON object per line for every write, written when its reply (or the
 * give-up) arrives:
 *   {"op":"enqueue|next|answer|end|abandon|ticket|login|heartbeat","site":..,"actor":..,
 *    "client_id":N,"seq":N,"call":..,"agent":..,"customer":..,"ticket":..,"start_ms":N,"end_ms":N,
 *    "outcome":"OK|<code name>|unknown","index":N, ...result fields}
 * "unknown" means no final reply before the request deadline: the write may or may not have been
 * applied (the checker treats it as possibly applied, at most once). "index" is the log index the
 * write was applied at (0 if unknown). Result fields: "state" (the call's state in the reply),
 * "offer_term"/"offer_index" (next), "enqueue_seq" (enqueue), "ticket" (ticket code). */

#define CENTER_ABANDONS_MAX 256   /* pending caller hang-ups held by one PBX */
#define CENTER_AGENTS_MAX 64      /* desktops of one site */

/* SIGTERM/SIGINT: every actor finishes (and records) the request in flight, then stops. Without
 * this, a write applied by the cluster but cut off before its record would look like a phantom. */
static volatile sig_atomic_t center_stop;

static void center_on_signal(int sig)
{
	(void)sig;
	center_stop = 1;
}

static bool center_running(int64_t deadline_ms)
{
	return !center_stop && now_ms() < deadline_ms;
}

struct center {
	const struct opts *o;
	FILE *hist;
	pthread_mutex_t hist_lock;
	int64_t deadline_ms;
	atomic_long enqueued, answered, ended, abandoned, tickets, unknown, refused;
};

struct center_actor {
	pthread_t thread;
	struct center *ctr;
	int k; /* 0: PBX, 1..: agents */
	char name[CALLRAFT_ID_BYTES_MAX + 1];
	struct callraft_client *c;
};

/* Sites of one drill share --seed: mix the site in so their callers differ. */
static unsigned site_hash(const char *site)
{
	unsigned h = 2166136261u;
	for (; *site; site++)
		h = (h ^ (unsigned char)*site) * 16777619u;
	return h;
}

/* The protocol's name of an enum value ("WAITING"), from the descriptors protoc-c generated. */
static const char *enum_name(const ProtobufCEnumDescriptor *d, int value)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
	return v ? v->name : "?";
}

/* JSON members. Strings go through json-c, which escapes whatever they hold; a NULL string adds
 * nothing. */
static void json_str(json_object *o, const char *key, const char *s)
{
	if (s != NULL)
		json_object_object_add(o, key, json_object_new_string(s));
}

static void json_num(json_object *o, const char *key, long long v)
{
	json_object_object_add(o, key, json_object_new_int64(v));
}

/* Writes `o` as one line of `f` and drops it. Whole lines, however long: the checker reads them. */
static void json_line(FILE *f, json_object *o)
{
	fprintf(f, "%s\n",
		json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* A history record: the fields every record carries (center_call); the caller adds the rest, then
 * center_record writes it. */
struct center_rec {
	json_object *o;
};

static Callraft__Reply *center_call(struct center_actor *a, Callraft__Request *req, const char *op,
				    struct center_rec *rec)
{
	char err[CALLRAFT_ERRMSG_BYTES];
	int64_t t0 = now_ms();
	Callraft__Reply *r = callraft_client_call(a->c, req, err, sizeof err);
	int64_t t1 = now_ms();
	const char *outcome = r ? callraft_code_name(r->code) : "unknown";

	rec->o = json_object_new_object();
	json_str(rec->o, "op", op);
	json_str(rec->o, "site", a->ctr->o->site);
	json_str(rec->o, "actor", a->name);
	json_num(rec->o, "client_id", (long long)callraft_client_id(a->c));
	json_num(rec->o, "seq", (long long)callraft_client_seq(a->c));
	json_num(rec->o, "start_ms", t0);
	json_num(rec->o, "end_ms", t1);
	json_str(rec->o, "outcome", outcome);
	json_num(rec->o, "index", r ? (long long)r->applied_index : 0);
	if (r && r->call) {
		json_str(rec->o, "state", enum_name(&callraft__call_state__descriptor, r->call->state));
		json_str(rec->o, "holder", r->call->agent_id);
	}
	if (r == NULL) {
		atomic_fetch_add(&a->ctr->unknown, 1);
		json_str(rec->o, "error", err);
	} else if (r->code != CALLRAFT__CODE__OK && r->code != CALLRAFT__CODE__QUEUE_EMPTY) {
		atomic_fetch_add(&a->ctr->refused, 1);
	}
	return r;
}

static void center_record(struct center_actor *a, struct center_rec *rec)
{
	pthread_mutex_lock(&a->ctr->hist_lock);
	json_line(a->ctr->hist, rec->o);
	fflush(a->ctr->hist);
	pthread_mutex_unlock(&a->ctr->hist_lock);
	rec->o = NULL;
}

static bool center_ok(const Callraft__Reply *r)
{
	return r != NULL && r->code == CALLRAFT__CODE__OK;
}

static void center_abandon(struct center_actor *a, const char *call_id)
{
	struct center_rec rec;
	struct callraft_request req;
	Callraft__Reply *r = center_call(a, callraft_request_call_abandon(&req, call_id), "abandon", &rec);
	json_str(rec.o, "call", call_id);
	center_record(a, &rec);
	if (center_ok(r))
		atomic_fetch_add(&a->ctr->abandoned, 1);
	callraft_reply_free(r);
}

static void center_pbx(struct center_actor *a)
{
	const struct opts *o = a->ctr->o;
	unsigned seed = (unsigned)o->seed * 7919u + site_hash(o->site);
	struct {
		char call_id[CALLRAFT_ID_BYTES_MAX + 1];
		int64_t due_ms;
	} pending[CENTER_ABANDONS_MAX];
	int n_pending = 0;
	int64_t start = now_ms();

	for (long n = 0; n < o->ops && center_running(a->ctr->deadline_ms); n++) {
		int64_t due = start + (int64_t)(1000.0 * (double)n / o->rate);
		while (now_ms() < due && !center_stop) {
			int64_t wait = due - now_ms();
			sleep_ms(wait > 20 ? 20 : (int)wait);
		}
		for (int i = 0; i < n_pending; i++) {
			if (pending[i].due_ms > now_ms())
				continue;
			center_abandon(a, pending[i].call_id);
			pending[i--] = pending[--n_pending];
		}
		struct caller cl;
		struct center_rec rec;
		struct callraft_request req;
		caller_make(&cl, &seed, o->site, start, n);
		Callraft__Reply *r = center_call(a,
						 callraft_request_call_enqueue(&req, cl.call_id, cl.queue,
									       cl.number, cl.customer,
									       cl.tier, o->site),
						 "enqueue", &rec);
		json_str(rec.o, "call", cl.call_id);
		json_str(rec.o, "queue", cl.queue);
		json_str(rec.o, "customer", cl.customer);
		if (r && r->call)
			json_num(rec.o, "enqueue_seq", (long long)r->call->enqueue_seq);
		center_record(a, &rec);
		if (center_ok(r)) {
			atomic_fetch_add(&a->ctr->enqueued, 1);
			if (rand_r(&seed) % 100 < 5 && n_pending < CENTER_ABANDONS_MAX) {
				snprintf(pending[n_pending].call_id, sizeof pending[0].call_id, "%s",
					 cl.call_id);
				pending[n_pending++].due_ms = now_ms() + 200 + rand_r(&seed) % 2000;
			}
		}
		callraft_reply_free(r);
	}
}

/* Writes one agent operation on `call_id` ("answer" with the offer token, or "end") and records
 * it; returns the reply (caller frees). */
static Callraft__Reply *center_agent_op(struct center_actor *a, const char *op, const char *call_id,
					uint64_t term, uint64_t index)
{
	struct center_rec rec;
	struct callraft_request req;
	bool answer = !strcmp(op, "answer");
	Callraft__Reply *r =
	    center_call(a,
			answer ? callraft_request_call_answer(&req, call_id, a->name, term, index)
			       : callraft_request_call_end(&req, call_id, a->name),
			op, &rec);
	json_str(rec.o, "call", call_id);
	json_str(rec.o, "agent", a->name);
	if (answer) {
		json_num(rec.o, "offer_term", (long long)term);
		json_num(rec.o, "offer_index", (long long)index);
	}
	center_record(a, &rec);
	return r;
}

/* After a `next` or `answer` without a final reply: which call does this agent hold, and with
 * which offer token? A linearizable read, so the answer reflects every write applied so far. */
static bool center_recover(struct center_actor *a, char *call_id, size_t len, uint64_t *term,
			   uint64_t *index, bool *answered)
{
	char err[CALLRAFT_ERRMSG_BYTES];
	Callraft__Reply *r = callraft_agent_show(a->c, a->name, err, sizeof err);
	bool held = r && r->code == CALLRAFT__CODE__OK && r->agent && r->agent->call_id &&
		    r->agent->call_id[0];
	if (held)
		snprintf(call_id, len, "%s", r->agent->call_id);
	callraft_reply_free(r);
	if (!held)
		return false;
	r = callraft_call_show(a->c, call_id, err, sizeof err);
	held = r && r->code == CALLRAFT__CODE__OK && r->call;
	if (held) {
		*term = r->call->offer_term;
		*index = r->call->offer_index;
		*answered = r->call->state == CALLRAFT__CALL_STATE__ANSWERED;
	}
	callraft_reply_free(r);
	return held;
}

static bool center_login(struct center_actor *a)
{
	const struct opts *o = a->ctr->o;
	struct center_rec rec;
	struct callraft_request req;
	Callraft__Reply *r = center_call(a,
					 callraft_request_agent_login(&req, a->name, a->name, o->site,
								      (char *const *)demo_queues,
								      DEMO_QUEUES_COUNT),
					 "login", &rec);
	json_str(rec.o, "agent", a->name);
	center_record(a, &rec);
	bool ok = r && (r->code == CALLRAFT__CODE__OK || r->code == CALLRAFT__CODE__BAD_STATE);
	callraft_reply_free(r);
	return ok;
}

/* Talks, maybe opens a ticket, ends the call. */
static void center_finish(struct center_actor *a, unsigned *seed, const char *call_id,
			  const char *customer)
{
	sleep_ms(100 + (int)(rand_r(seed) % 500));
	if (customer[0] && rand_r(seed) % 100 < 3) {
		struct center_rec rec;
		struct callraft_request req;
		Callraft__Reply *r =
		    center_call(a,
				callraft_request_ticket_open(&req, customer, "complaint-passenger",
							     call_id, "opened during a call", NULL,
							     a->name, NULL),
				"ticket", &rec);
		json_str(rec.o, "call", call_id);
		json_str(rec.o, "agent", a->name);
		json_str(rec.o, "customer", customer);
		if (r && r->ticket)
			json_str(rec.o, "ticket", r->ticket->code);
		center_record(a, &rec);
		if (center_ok(r))
			atomic_fetch_add(&a->ctr->tickets, 1);
		callraft_reply_free(r);
	}
	Callraft__Reply *r = center_agent_op(a, "end", call_id, 0, 0);
	if (center_ok(r))
		atomic_fetch_add(&a->ctr->ended, 1);
	callraft_reply_free(r);
}

static void center_agent(struct center_actor *a)
{
	unsigned seed = (unsigned)a->ctr->o->seed * 104729u + (unsigned)a->k + site_hash(a->ctr->o->site);
	int64_t login_retry_until = a->ctr->deadline_ms;

	while (!center_login(a)) {
		if (now_ms() >= login_retry_until || center_stop)
			return;
		sleep_ms(500);
	}
	for (long round = 0; round < a->ctr->o->ops && center_running(a->ctr->deadline_ms); round++) {
		struct center_rec rec;
		struct callraft_request req;
		char call_id[CALLRAFT_ID_BYTES_MAX + 1] = "", customer[CALLRAFT_ID_BYTES_MAX + 1] = "";
		uint64_t term = 0, index = 0;
		bool answered = false, have = false;
		Callraft__Reply *r = center_call(a, callraft_request_call_next(&req, a->name), "next", &rec);
		json_str(rec.o, "agent", a->name);
		if (center_ok(r) && r->call) {
			json_str(rec.o, "call", r->call->call_id);
			json_num(rec.o, "offer_term", (long long)r->call->offer_term);
			json_num(rec.o, "offer_index", (long long)r->call->offer_index);
			snprintf(call_id, sizeof call_id, "%s", r->call->call_id);
			snprintf(customer, sizeof customer, "%s",
				 r->call->customer_id ? r->call->customer_id : "");
			term = r->call->offer_term;
			index = r->call->offer_index;
			have = true;
		}
		center_record(a, &rec);
		bool lost = r == NULL || (r->code != CALLRAFT__CODE__OK && r->code != CALLRAFT__CODE__QUEUE_EMPTY);
		callraft_reply_free(r);
		if (!have && lost)
			have = center_recover(a, call_id, sizeof call_id, &term, &index, &answered);
		if (!have) {
			sleep_ms(100 + (int)(rand_r(&seed) % 100));
			continue;
		}
		if (!answered) {
			r = center_agent_op(a, "answer", call_id, term, index);
			if (center_ok(r))
				atomic_fetch_add(&a->ctr->answered, 1);
			bool settled = r != NULL;
			callraft_reply_free(r);
			if (!settled && !center_recover(a, call_id, sizeof call_id, &term, &index, &answered))
				continue;
		}
		center_finish(a, &seed, call_id, customer);
	}
}

static void *center_main(void *arg)
{
	struct center_actor *a = arg;
	struct callraft_client_options co = {.cluster = a->ctr->o->cluster,
					     .name = a->k == 0 ? "pbx" : "desktop",
					     .request_timeout_ms = a->ctr->o->request_timeout_ms};
	char err[CALLRAFT_ERRMSG_BYTES];
	if (callraft_client_open(&co, &a->c, err, sizeof err) != 0) {
		fprintf(stderr, "center: %s\n", err);
		return NULL;
	}
	if (a->k == 0)
		center_pbx(a);
	else
		center_agent(a);
	callraft_client_close(a->c);
	return NULL;
}

/* The site's PBX says it is alive every second (issue 12, docs/routing.md): a site whose nodes are
 * killed or cut while its PBX still reaches the cluster is not lost. Its own session, not in the
 * history (the checker has nothing to verify of it). */
static void *center_heartbeat(void *arg)
{
	struct center *ctr = arg;
	struct callraft_client_options co = {.cluster = ctr->o->cluster, .name = "pbx-heartbeat",
					     .request_timeout_ms = 2000};
	struct callraft_client *c;
	struct callraft_request req;
	char err[CALLRAFT_ERRMSG_BYTES];

	if (callraft_client_open(&co, &c, err, sizeof err) != 0) {
		fprintf(stderr, "center: heartbeat: %s\n", err);
		return NULL;
	}
	while (center_running(ctr->deadline_ms)) {
		int64_t next = now_ms() + 1000;
		Callraft__Reply *r = callraft_client_call(
		    c, callraft_request_with_key(&req, CALLRAFT__REQUEST__OP_SITE_HEARTBEAT, ctr->o->site),
		    err, sizeof err);
		callraft_reply_free(r);
		while (now_ms() < next && center_running(ctr->deadline_ms))
			sleep_ms(20);
	}
	callraft_client_close(c);
	return NULL;
}

static int cmd_center(const struct opts *o)
{
	pthread_t heartbeat;
	struct center ctr = {.o = o, .hist_lock = PTHREAD_MUTEX_INITIALIZER};
	struct center_actor *actors;
	int n = o->agents + 1;
	int64_t t0 = now_ms();

	if (o->cluster == NULL || o->history == NULL || o->site == NULL) {
		fprintf(stderr, "callraft-traffic center: --cluster, --site and --history are required\n");
		return 2;
	}
	if (o->agents < 1 || o->agents > CENTER_AGENTS_MAX) {
		fprintf(stderr, "callraft-traffic center: --agents [1,%d]\n", CENTER_AGENTS_MAX);
		return 2;
	}
	ctr.hist = fopen(o->history, "a");
	if (ctr.hist == NULL) {
		fprintf(stderr, "callraft-traffic: history '%s': %s\n", o->history, strerror(errno));
		return 2;
	}
	ctr.deadline_ms = t0 + (int64_t)o->duration_s * 1000;
	signal(SIGTERM, center_on_signal);
	signal(SIGINT, center_on_signal);
	actors = calloc((size_t)n, sizeof *actors);
	for (int k = 0; k < n; k++) {
		actors[k].ctr = &ctr;
		actors[k].k = k;
		if (k == 0)
			snprintf(actors[k].name, sizeof actors[k].name, "%s-pbx", o->site);
		else
			snprintf(actors[k].name, sizeof actors[k].name, "%s-agent-%d", o->site, k);
		pthread_create(&actors[k].thread, NULL, center_main, &actors[k]);
	}
	pthread_create(&heartbeat, NULL, center_heartbeat, &ctr);
	for (int k = 0; k < n; k++)
		pthread_join(actors[k].thread, NULL);
	pthread_join(heartbeat, NULL);
	fclose(ctr.hist);
	printf("center %s: enqueued=%ld answered=%ld ended=%ld abandoned=%ld tickets=%ld refused=%ld "
	       "unknown=%ld in %.1fs\n",
	       o->site, atomic_load(&ctr.enqueued), atomic_load(&ctr.answered), atomic_load(&ctr.ended),
	       atomic_load(&ctr.abandoned), atomic_load(&ctr.tickets), atomic_load(&ctr.refused),
	       atomic_load(&ctr.unknown), (double)(now_ms() - t0) / 1000.0);
	free(actors);
	return 0;
}

/* ------------------------------------------------------------------------------------------------
 * dump: one node's own state (stale reads) of every object a history names, for the checker.
 *
 * --keys F lists objects, one per line: "call ID", "agent ID", "customer ID", "queue NAME". The
 * output (--out, JSON lines) holds one record per object with the applied index the node served it
 * at, then {"kind":"status",...} of the node before and after, so the checker knows whether the
 * whole dump is one consistent state (applied index unchanged throughout). */

static void dump_call_json(json_object *o, const Callraft__Call *c)
{
	json_str(o, "id", c->call_id);
	json_str(o, "state", enum_name(&callraft__call_state__descriptor, c->state));
	json_str(o, "agent", c->agent_id);
	json_str(o, "queue", c->queue);
	json_str(o, "ticket", c->ticket_code);
	json_num(o, "enqueue_seq", (long long)c->enqueue_seq);
	json_num(o, "offer_term", (long long)c->offer_term);
	json_num(o, "offer_index", (long long)c->offer_index);
	json_num(o, "enqueued_ms", c->enqueued_ms);
	json_num(o, "answered_ms", c->answered_ms);
	json_num(o, "ended_ms", c->ended_ms);
	/* What the FSM did by itself (issue 12): the checker allows for it. */
	json_str(o, "outcome", c->outcome);
	json_str(o, "origin_call_id", c->origin_call_id);
	json_str(o, "merged_into", c->merged_into);
	json_str(o, "arrival_site", c->arrival_site);
	json_num(o, "callback", c->callback ? 1 : 0);
	json_num(o, "converted_ms", c->converted_ms);
}

static int dump_status(FILE *out, const char *node, const char *when)
{
	char err[CALLRAFT_ERRMSG_BYTES];
	struct callraft_request req;
	callraft_request_status(&req)->stale = true;
	Callraft__Reply *r = callraft_client_call_node(node, &req.req, 5000, err, sizeof err);
	if (r == NULL || r->status == NULL) {
		fprintf(stderr, "dump: node %s: status: %s\n", node, r ? r->message : err);
		callraft_reply_free(r);
		return -1;
	}
	json_object *o = json_object_new_object();
	json_str(o, "kind", "status");
	json_str(o, "when", when);
	json_num(o, "node", (long long)r->status->id);
	json_str(o, "state", r->status->state);
	json_num(o, "term", (long long)r->status->term);
	json_num(o, "commit_index", (long long)r->status->commit_index);
	json_num(o, "applied_index", (long long)r->status->applied_index);
	json_num(o, "state_applied_index", (long long)r->status->state_applied_index);
	json_line(out, o);
	callraft_reply_free(r);
	return 0;
}

/* Builds the stale read of one object of the key file; NULL for a kind it does not know. */
static Callraft__Request *dump_request(struct callraft_request *req, const char *kind,
				       const char *id)
{
	Callraft__Request *q = NULL;
	if (!strcmp(kind, "call"))
		q = callraft_request_call_show(req, id);
	else if (!strcmp(kind, "agent"))
		q = callraft_request_agent_show(req, id);
	else if (!strcmp(kind, "customer"))
		q = callraft_request_ticket_list(req, id, 100);
	else if (!strcmp(kind, "queue"))
		q = callraft_request_queue_show(req, id, 1000);
	if (q != NULL)
		q->stale = true;
	return q;
}

static int dump_one(FILE *out, struct callraft_client *cl, const char *node, const char *kind,
		    const char *id)
{
	char err[CALLRAFT_ERRMSG_BYTES];
	struct callraft_request req;
	Callraft__Request *q = dump_request(&req, kind, id);
	if (q == NULL)
		return 0;
	Callraft__Reply *r = callraft_client_call(cl, q, err, sizeof err);
	if (r == NULL) {
		fprintf(stderr, "dump: node %s: %s '%s': %s\n", node, kind, id, err);
		return -1;
	}
	json_object *o = json_object_new_object();
	json_str(o, "kind", kind);
	json_str(o, "key", id);
	json_str(o, "code", callraft_code_name(r->code));
	json_num(o, "index", (long long)r->applied_index);
	if (r->call)
		dump_call_json(o, r->call);
	if (r->agent) {
		json_str(o, "agent_state", enum_name(&callraft__agent_state__descriptor, r->agent->state));
		json_str(o, "holds", r->agent->call_id);
	}
	if (r->n_tickets) {
		json_object *tickets = json_object_new_array();
		for (size_t i = 0; i < r->n_tickets; i++) {
			json_object *t = json_object_new_array();
			json_object_array_add(t, json_object_new_string(r->tickets[i]->code));
			json_object_array_add(t, json_object_new_string(r->tickets[i]->call_id));
			json_object_array_add(tickets, t);
		}
		json_object_object_add(o, "tickets", tickets);
	}
	if (!strcmp(kind, "queue")) {
		json_object *calls = json_object_new_array();
		json_num(o, "total", (long long)r->total);
		for (size_t i = 0; i < r->n_calls; i++)
			json_object_array_add(calls, json_object_new_string(r->calls[i]->call_id));
		json_object_object_add(o, "calls", calls);
	}
	json_line(out, o);
	callraft_reply_free(r);
	return 0;
}

static int cmd_dump(const struct opts *o)
{
	char line[512], kind[16], id[CALLRAFT_ID_BYTES_MAX + 1];
	int failures = 0;
	if (o->nodes == NULL || o->keys == NULL || o->out == NULL) {
		fprintf(stderr, "callraft-traffic dump: --nodes ADDR, --keys F and --out F are required\n");
		return 2;
	}
	FILE *keys = fopen(o->keys, "r"), *out = fopen(o->out, "w");
	if (keys == NULL || out == NULL) {
		fprintf(stderr, "callraft-traffic dump: '%s' / '%s': %s\n", o->keys, o->out, strerror(errno));
		if (keys)
			fclose(keys);
		if (out)
			fclose(out);
		return 2;
	}
	/* One connection to the node for every key, as verify does: a drill's dump reads a few
	 * thousand keys of each of five nodes, and a TLS handshake per read cost more than the reads
	 * (tens of seconds a drill, minutes under the sanitizers). Stale reads: the node answers from
	 * its own state, nothing is forwarded or written. */
	struct callraft_client_options co = {.cluster = o->nodes, .name = "traffic-dump",
					     .attempt_timeout_ms = 5000, .request_timeout_ms = 5000};
	struct callraft_client *cl = NULL;
	char err[CALLRAFT_ERRMSG_BYTES];
	if (callraft_client_open(&co, &cl, err, sizeof err) != 0) {
		fprintf(stderr, "dump: node %s: %s\n", o->nodes, err);
		failures++;
	}
	if (failures == 0 && dump_status(out, o->nodes, "before") != 0)
		failures++;
	while (failures == 0 && fgets(line, sizeof line, keys))
		if (sscanf(line, "%15s %" ID_SCAN "s", kind, id) == 2 &&
		    dump_one(out, cl, o->nodes, kind, id) != 0)
			failures++;
	callraft_client_close(cl);
	if (failures == 0 && dump_status(out, o->nodes, "after") != 0)
		failures++;
	fclose(keys);
	fclose(out);
	return failures ? 1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: callraft-traffic demo   --cluster A,B [--sites S1,S2] [--rate R] [--duration S]\n"
		   "       callraft-traffic write  --cluster A,B --ack-file F [--ops N] [--duration S] [--clients K]\n"
		   "       callraft-traffic verify --nodes A,B --ack-file F [--expect-total N]\n"
		   "       callraft-traffic center --cluster A,B --site S --history F [--rate R] [--duration S]\n"
		   "                               [--agents N] [--ops N] [--seed N] [--request-timeout-ms MS]\n"
		   "       callraft-traffic dump   --nodes ADDR --keys F --out F\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"cluster", required_argument, NULL, 'c'}, {"nodes", required_argument, NULL, 'n'},
		{"ack-file", required_argument, NULL, 'a'}, {"sites", required_argument, NULL, 's'},
		{"rate", required_argument, NULL, 'r'},     {"duration", required_argument, NULL, 'd'},
		{"ops", required_argument, NULL, 'o'},      {"clients", required_argument, NULL, 'k'},
		{"expect-total", required_argument, NULL, 'e'}, {"help", no_argument, NULL, 'h'},
		{"site", required_argument, NULL, 'S'},     {"history", required_argument, NULL, 'H'},
		{"agents", required_argument, NULL, 'A'},   {"seed", required_argument, NULL, 'x'},
		{"request-timeout-ms", required_argument, NULL, 'T'}, {"keys", required_argument, NULL, 'K'},
		{"out", required_argument, NULL, 'O'},
		{NULL, 0, NULL, 0}};
	struct opts o = {.sites = "tehran,shiraz", .rate = 10, .duration_s = 30, .ops = 1000000,
			 .clients = 4, .expect_total = -1, .agents = 8, .seed = 1, .request_timeout_ms = 20000};
	int c;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	o.cluster = getenv("CALLRAFT_CLUSTER");
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'c': o.cluster = optarg; break;
		case 'n': o.nodes = optarg; break;
		case 'a': o.ack_file = optarg; break;
		case 's': o.sites = optarg; break;
		case 'r': o.rate = atof(optarg); break;
		case 'd': o.duration_s = atoi(optarg); break;
		case 'o': o.ops = atol(optarg); break;
		case 'k': o.clients = atoi(optarg); break;
		case 'e': o.expect_total = atol(optarg); break;
		case 'S': o.site = optarg; break;
		case 'H': o.history = optarg; break;
		case 'A': o.agents = atoi(optarg); break;
		case 'x': o.seed = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'T': o.request_timeout_ms = atoi(optarg); break;
		case 'K': o.keys = optarg; break;
		case 'O': o.out = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (o.rate <= 0 || o.rate > 10000 || o.duration_s <= 0 || o.duration_s > 24 * 3600 || o.clients <= 0 ||
	    o.clients > 1024 || o.ops <= 0 || o.request_timeout_ms < 100 || o.request_timeout_ms > 600000) {
		fprintf(stderr, "callraft-traffic: --rate (0,10000], --duration (0,86400], --clients [1,1024], --ops > 0, --request-timeout-ms [100,600000]\n");
		return 2;
	}
	if (!strcmp(argv[1], "demo"))
		return cmd_demo(&o);
	if (!strcmp(argv[1], "write"))
		return cmd_write(&o);
	if (!strcmp(argv[1], "verify"))
		return cmd_verify(&o);
	if (!strcmp(argv[1], "center"))
		return cmd_center(&o);
	if (!strcmp(argv[1], "dump"))
		return cmd_dump(&o);
	usage(stderr);
	return 2;
}
