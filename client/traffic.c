/* traffic.c: callraft-traffic, demo traffic and the write/verify pair behind the failover tests.
 *
 *   callraft-traffic demo   --cluster A,B,.. [--sites tehran,shiraz] [--rate 20] [--duration 30]
 *       Plays the PBXs and agent desktops of every site: callers arrive at each site, agents log in
 *       and take calls (next, answer, end), ~3% of calls open a ticket, some callers abandon.
 *       Prints one line a second and a summary.
 *
 *   callraft-traffic write  --cluster A,B,.. --ack-file F [--ops N] [--duration S] [--clients K]
 *       K sessions (threads), each opening tickets for unique customers ("w<k>-<i>") one after the
 *       other, through failover. Every acknowledged ticket is appended to F as
 *       "<ack_ms> <customer> <code> <latency_ms>". Stops after N ops in all or S seconds.
 *
 *   callraft-traffic verify --nodes A,B,.. --ack-file F [--expect-total N]
 *       Asks every node directly (stale reads of its own state) for each acknowledged customer's
 *       tickets: each must have exactly one ticket with the acknowledged code (none lost, none
 *       applied twice). Exit 0 only if every node passes.
 *
 * Every loop is bounded by a count and a duration. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "callraft_client.h"

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

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct callraft_client_options co = {.cluster = w->o->cluster, .name = "traffic-write",
					     .request_timeout_ms = 30000};
	struct callraft_client *c;
	char err[512];

	if (callraft_client_open(&co, &c, err, sizeof err) != 0) {
		fprintf(stderr, "callraft-traffic: %s\n", err);
		return NULL;
	}
	for (long i = 0;; i++) {
		if (now_ms() >= w->deadline_ms || atomic_fetch_add(w->ops_started, 1) >= w->o->ops)
			break;
		char customer[64];
		snprintf(customer, sizeof customer, "w%d-%ld", w->k, i);
		Callraft__Request req = CALLRAFT__REQUEST__INIT;
		Callraft__TicketOpen to = CALLRAFT__TICKET_OPEN__INIT;
		to.customer_id = customer;
		to.category = "request";
		to.subject = "failover test";
		req.op_case = CALLRAFT__REQUEST__OP_TICKET_OPEN;
		req.ticket_open = &to;
		int64_t t0 = now_ms();
		Callraft__Reply *r = callraft_client_call(c, &req, err, sizeof err);
		int64_t t1 = now_ms();
		if (r == NULL || r->code != CALLRAFT__CODE__OK || r->ticket == NULL) {
			/* Not acknowledged: it may or may not have been applied; the verifier only checks
			 * acknowledged writes for loss, and every write for duplicates. */
			w->failed++;
			if (r)
				callraft__reply__free_unpacked(r, NULL);
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
		callraft__reply__free_unpacked(r, NULL);
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
	char line[512], customer[128], code[64];
	long long at, lat;
	int bad = 0;
	char err[512];

	rewind(ack);
	*checked = 0;
	while (fgets(line, sizeof line, ack)) {
		if (sscanf(line, "%lld %127s %63s %lld", &at, customer, code, &lat) != 4)
			continue;
		Callraft__Request req = CALLRAFT__REQUEST__INIT;
		Callraft__TicketList tl = CALLRAFT__TICKET_LIST__INIT;
		tl.customer_id = customer;
		tl.limit = 10;
		req.op_case = CALLRAFT__REQUEST__OP_TICKET_LIST;
		req.ticket_list = &tl;
		req.stale = true;
		Callraft__Reply *r = callraft_client_call_node(node, &req, 5000, err, sizeof err);
		if (r == NULL) {
			fprintf(stderr, "verify: node %s: %s\n", node, err);
			return -1;
		}
		if (r->code != CALLRAFT__CODE__OK || r->n_tickets != 1 ||
		    strcmp(r->tickets[0]->code, code) != 0) {
			fprintf(stderr, "verify: node %s: customer %s: expected exactly ticket %s, found %zu%s%s\n",
				node, customer, code, r->n_tickets, r->n_tickets ? " first " : "",
				r->n_tickets ? r->tickets[0]->code : "");
			bad++;
		}
		callraft__reply__free_unpacked(r, NULL);
		(*checked)++;
	}
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

static Callraft__Reply *demo_call(struct callraft_client *c, Callraft__Request *req, struct demo_stats *st)
{
	char err[512];
	Callraft__Reply *r = callraft_client_call(c, req, err, sizeof err);
	if (r == NULL) {
		atomic_fetch_add(&st->errors, 1);
		fprintf(stderr, "demo: %s\n", err);
	}
	return r;
}

static void demo_pbx(struct demo_actor *a, struct callraft_client *c)
{
	unsigned seed = (unsigned)(a->k * 7919 + 1);
	double per_site = a->o->rate;
	long n = 0;
	int64_t start = now_ms();
	while (now_ms() < a->deadline_ms) {
		int64_t due = start + (int64_t)(1000.0 * (double)n / per_site);
		if (due > now_ms())
			sleep_ms((int)(due - now_ms()));
		char call_id[64], caller[32], customer[32];
		snprintf(call_id, sizeof call_id, "%s-%lld-%ld", a->site, (long long)start, n);
		snprintf(caller, sizeof caller, "+98%09u", rand_r(&seed) % 1000000000u);
		snprintf(customer, sizeof customer, "cust-%u", rand_r(&seed) % 5000);
		Callraft__Request req = CALLRAFT__REQUEST__INIT;
		Callraft__CallEnqueue ce = CALLRAFT__CALL_ENQUEUE__INIT;
		ce.call_id = call_id;
		ce.queue = (char *)demo_queues[rand_r(&seed) % 3];
		ce.caller_number = caller;
		ce.customer_id = customer;
		ce.tier = rand_r(&seed) % 10 == 0 ? 3 : rand_r(&seed) % 4;
		ce.arrival_site = (char *)a->site;
		req.op_case = CALLRAFT__REQUEST__OP_CALL_ENQUEUE;
		req.call_enqueue = &ce;
		Callraft__Reply *r = demo_call(c, &req, a->st);
		if (r && r->code == CALLRAFT__CODE__OK)
			atomic_fetch_add(&a->st->enqueued, 1);
		if (r)
			callraft__reply__free_unpacked(r, NULL);
		if (rand_r(&seed) % 100 < 4) { /* a caller hangs up while waiting */
			Callraft__Request ab = CALLRAFT__REQUEST__INIT;
			Callraft__CallAbandon ca = CALLRAFT__CALL_ABANDON__INIT;
			ca.call_id = call_id;
			ab.op_case = CALLRAFT__REQUEST__OP_CALL_ABANDON;
			ab.call_abandon = &ca;
			r = demo_call(c, &ab, a->st);
			if (r && r->code == CALLRAFT__CODE__OK)
				atomic_fetch_add(&a->st->abandoned, 1);
			if (r)
				callraft__reply__free_unpacked(r, NULL);
		}
		n++;
	}
}

static void demo_agent(struct demo_actor *a, struct callraft_client *c)
{
	char agent_id[64];
	unsigned seed = (unsigned)(a->k * 104729 + 3);
	char *skills[3] = {(char *)demo_queues[0], (char *)demo_queues[1], (char *)demo_queues[2]};
	snprintf(agent_id, sizeof agent_id, "%s-agent-%d", a->site, a->k);
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	Callraft__AgentLogin al = CALLRAFT__AGENT_LOGIN__INIT;
	al.agent_id = agent_id;
	al.name = agent_id;
	al.site = (char *)a->site;
	al.skills = skills;
	al.n_skills = 3;
	req.op_case = CALLRAFT__REQUEST__OP_AGENT_LOGIN;
	req.agent_login = &al;
	Callraft__Reply *r = demo_call(c, &req, a->st);
	if (r)
		callraft__reply__free_unpacked(r, NULL);
	while (now_ms() < a->deadline_ms) {
		Callraft__Request nx = CALLRAFT__REQUEST__INIT;
		Callraft__CallNext cn = CALLRAFT__CALL_NEXT__INIT;
		cn.agent_id = agent_id;
		nx.op_case = CALLRAFT__REQUEST__OP_CALL_NEXT;
		nx.call_next = &cn;
		r = demo_call(c, &nx, a->st);
		if (r == NULL || r->code != CALLRAFT__CODE__OK || r->call == NULL) {
			if (r && r->code == CALLRAFT__CODE__QUEUE_EMPTY)
				atomic_fetch_add(&a->st->empty, 1);
			if (r)
				callraft__reply__free_unpacked(r, NULL);
			sleep_ms(200);
			continue;
		}
		char call_id[128], customer[64];
		snprintf(call_id, sizeof call_id, "%s", r->call->call_id);
		snprintf(customer, sizeof customer, "%s", r->call->customer_id ? r->call->customer_id : "");
		Callraft__Request an = CALLRAFT__REQUEST__INIT;
		Callraft__CallAnswer ca = CALLRAFT__CALL_ANSWER__INIT;
		ca.call_id = call_id;
		ca.agent_id = agent_id;
		ca.offer_term = r->call->offer_term;
		ca.offer_index = r->call->offer_index;
		an.op_case = CALLRAFT__REQUEST__OP_CALL_ANSWER;
		an.call_answer = &ca;
		callraft__reply__free_unpacked(r, NULL);
		r = demo_call(c, &an, a->st);
		if (r && r->code == CALLRAFT__CODE__OK)
			atomic_fetch_add(&a->st->answered, 1);
		if (r)
			callraft__reply__free_unpacked(r, NULL);
		sleep_ms(50 + (int)(rand_r(&seed) % 150)); /* talk time, compressed */
		if (rand_r(&seed) % 100 < 3 && customer[0]) {
			Callraft__Request tq = CALLRAFT__REQUEST__INIT;
			Callraft__TicketOpen to = CALLRAFT__TICKET_OPEN__INIT;
			to.customer_id = customer;
			to.call_id = call_id;
			to.category = "complaint-passenger";
			to.subject = "opened during a demo call";
			to.author = agent_id;
			tq.op_case = CALLRAFT__REQUEST__OP_TICKET_OPEN;
			tq.ticket_open = &to;
			r = demo_call(c, &tq, a->st);
			if (r && r->code == CALLRAFT__CODE__OK)
				atomic_fetch_add(&a->st->tickets, 1);
			if (r)
				callraft__reply__free_unpacked(r, NULL);
		}
		Callraft__Request en = CALLRAFT__REQUEST__INIT;
		Callraft__CallEnd ce = CALLRAFT__CALL_END__INIT;
		ce.call_id = call_id;
		ce.agent_id = agent_id;
		en.op_case = CALLRAFT__REQUEST__OP_CALL_END;
		en.call_end = &ce;
		r = demo_call(c, &en, a->st);
		if (r && r->code == CALLRAFT__CODE__OK)
			atomic_fetch_add(&a->st->ended, 1);
		if (r)
			callraft__reply__free_unpacked(r, NULL);
	}
}

static void *demo_main(void *arg)
{
	struct demo_actor *a = arg;
	struct callraft_client_options co = {.cluster = a->o->cluster, .name = a->pbx ? "pbx" : "desktop",
					     .request_timeout_ms = 20000};
	struct callraft_client *c;
	char err[512];
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

static void usage(FILE *f)
{
	fprintf(f, "usage: callraft-traffic demo   --cluster A,B [--sites S1,S2] [--rate R] [--duration S]\n"
		   "       callraft-traffic write  --cluster A,B --ack-file F [--ops N] [--duration S] [--clients K]\n"
		   "       callraft-traffic verify --nodes A,B --ack-file F [--expect-total N]\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"cluster", required_argument, NULL, 'c'}, {"nodes", required_argument, NULL, 'n'},
		{"ack-file", required_argument, NULL, 'a'}, {"sites", required_argument, NULL, 's'},
		{"rate", required_argument, NULL, 'r'},     {"duration", required_argument, NULL, 'd'},
		{"ops", required_argument, NULL, 'o'},      {"clients", required_argument, NULL, 'k'},
		{"expect-total", required_argument, NULL, 'e'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	struct opts o = {.sites = "tehran,shiraz", .rate = 10, .duration_s = 30, .ops = 1000000,
			 .clients = 4, .expect_total = -1};
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
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (o.rate <= 0 || o.rate > 10000 || o.duration_s <= 0 || o.duration_s > 24 * 3600 || o.clients <= 0 ||
	    o.clients > 1024 || o.ops <= 0) {
		fprintf(stderr, "callraft-traffic: --rate (0,10000], --duration (0,86400], --clients [1,1024], --ops > 0\n");
		return 2;
	}
	if (!strcmp(argv[1], "demo"))
		return cmd_demo(&o);
	if (!strcmp(argv[1], "write"))
		return cmd_write(&o);
	if (!strcmp(argv[1], "verify"))
		return cmd_verify(&o);
	usage(stderr);
	return 2;
}
