/* cli_bench_push.c: `callraft bench-push`, the latency of pushed offers (issue #14).
 *
 * Model. --agents N agents (site "bench", agent k serves queue k only, so every call has exactly
 * one possible agent) go ready once. Each has a thread holding its push channel: the long poll of
 * `callraft agent offers` (EventsRead: its CALL_OFFERED events) on --channel (a node's client
 * address; default the first of --cluster), with a client of its own. The main thread enqueues
 * --calls calls one at a time, call j into the queue of agent j % N once that agent is idle again,
 * and records when each enqueue was acknowledged. The agent's thread records when the offer
 * arrives on its channel, then answers it with the pushed token and ends it (wrap-up 0: the agent
 * is ready again at once), and marks itself idle.
 *
 * With --sse HOST:PORT (a node's HTTP address) each agent's channel is the browser's instead: a
 * Server-Sent Events stream GET /v1/agents/{id}/offers read from a plain socket, the offer's token
 * parsed from its data line (json-c).
 *
 * Reported: the time from the enqueue's acknowledgement to the offer's arrival (p50, p99, max),
 * and from the enqueue's send. Negative values are possible and kept: a channel on a follower
 * can see the committed offer before the leader's reply reaches the PBX.
 * Bounded: BENCH_PUSH_AGENTS_MAX threads, BENCH_PUSH_CALLS_MAX calls; a call whose offer does not
 * arrive within BENCH_PUSH_WAIT_MS fails the run. */
#include "cli.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "callraft_limits.h"

#define BENCH_PUSH_AGENTS_MAX 256
#define BENCH_PUSH_CALLS_MAX 100000
#define BENCH_PUSH_WAIT_MS 20000

struct push_run;

struct push_agent {
	struct push_run *run;
	unsigned k;
	pthread_t thread;
	struct callraft_client *channel, *writer;
	char agent[CALLRAFT_ID_BYTES_MAX + 1], queue[CALLRAFT_QUEUE_BYTES_MAX + 1];
	atomic_bool idle;
	atomic_long pending; /* call number whose offer is awaited, -1 none */
	char err[CALLRAFT_ERRMSG_BYTES];
};

struct push_run {
	const char *cluster, *channel, *sse;
	unsigned n_agents, n_calls;
	char tag[16];
	int64_t *sent_us, *acked_us, *recv_us;
	atomic_bool stop;
	struct push_agent agents[BENCH_PUSH_AGENTS_MAX];
};

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One write or read; false with a message in err unless the reply is OK. */
static bool push_call(struct callraft_client *c, Callraft__Request *req, Callraft__Reply **out,
		      char *err, size_t len)
{
	char msg[CALLRAFT_ERRMSG_BYTES];
	Callraft__Reply *r = callraft_client_call(c, req, msg, sizeof msg);

	if (r == NULL) {
		snprintf(err, len, "%s", msg);
		return false;
	}
	if (r->code != CALLRAFT__CODE__OK) {
		snprintf(err, len, "%s: %s", callraft_code_name(r->code), r->message);
		callraft__reply__free_unpacked(r, NULL);
		return false;
	}
	if (out != NULL)
		*out = r;
	else
		callraft__reply__free_unpacked(r, NULL);
	return true;
}

static bool agent_setup(struct push_agent *a)
{
	struct callraft_request req;
	char *skills[1] = {a->queue};

	return push_call(a->writer,
			 callraft_request_agent_login(&req, a->agent, NULL, "bench", skills, 1), NULL,
			 a->err, sizeof a->err) &&
	       push_call(a->writer, callraft_request_agent_ready(&req, a->agent), NULL, a->err,
			 sizeof a->err);
}

/* Answers and ends the offered call with the pushed token. */
static bool agent_take(struct push_agent *a, const Callraft__Event *e)
{
	struct callraft_request req;

	return push_call(a->writer,
			 callraft_request_call_answer(&req, e->call_id, a->agent, e->offer_term,
						      e->offer_index),
			 NULL, a->err, sizeof a->err) &&
	       push_call(a->writer, callraft_request_call_end(&req, e->call_id, a->agent), NULL,
			 a->err, sizeof a->err);
}

static void agent_offered(struct push_agent *a, const Callraft__Event *e, int64_t t);

static void *agent_main(void *arg)
{
	struct push_agent *a = arg;
	struct push_run *run = a->run;
	Callraft__EventKind kind = CALLRAFT__EVENT_KIND__CALL_OFFERED;
	struct callraft_request req;
	Callraft__EventsRead *q = callraft_request_init(&req, CALLRAFT__REQUEST__OP_EVENTS_READ);

	q->agent_id = a->agent;
	q->kinds = &kind;
	q->n_kinds = 1;
	q->wait_ms = 1000;
	while (!atomic_load(&run->stop) && a->err[0] == '\0') {
		Callraft__Reply *r;
		if (!push_call(a->channel, &req.req, &r, a->err, sizeof a->err))
			break;
		int64_t t = now_us();
		q->from_index = r->next_index;
		q->from_position = r->next_position;
		for (size_t i = 0; i < r->n_events && a->err[0] == '\0'; i++)
			agent_offered(a, r->events[i], t);
		callraft__reply__free_unpacked(r, NULL);
	}
	return NULL;
}

/* Handles the offer of `call_id` received at `t`: records it, answers and ends the call. */
static void agent_offered(struct push_agent *a, const Callraft__Event *e, int64_t t)
{
	struct push_run *run = a->run;
	const char *dash = strrchr(e->call_id, '-');
	long j = dash != NULL ? strtol(dash + 1, NULL, 10) : -1;

	if (j < 0 || j >= (long)run->n_calls || j != atomic_load(&a->pending)) {
		snprintf(a->err, sizeof a->err, "unexpected offer of '%s'", e->call_id);
		return;
	}
	run->recv_us[j] = t;
	atomic_store(&a->pending, -1);
	if (agent_take(a, e))
		atomic_store(&a->idle, true);
}

/* The SSE channel: GET /v1/agents/{id}/offers on run->sse, one "data: {json}" line per offer. */
static void *agent_sse_main(void *arg)
{
	struct push_agent *a = arg;
	struct push_run *run = a->run;
	char host[CALLRAFT_ADDRESS_BYTES_MAX + 1], buf[16384], req[256];
	const char *colon = strrchr(run->sse, ':');
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200 * 1000};
	size_t have = 0;
	int fd = -1;

	snprintf(host, sizeof host, "%.*s", (int)(colon - run->sse), run->sse);
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 ||
	    (fd = socket(ai->ai_family, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		snprintf(a->err, sizeof a->err, "sse: connect to %s failed", run->sse);
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	int n = snprintf(req, sizeof req,
			 "GET /v1/agents/%s/offers HTTP/1.1\r\nHost: %s\r\nAccept: "
			 "text/event-stream\r\n\r\n",
			 a->agent, run->sse);
	if (send(fd, req, (size_t)n, 0) != n) {
		snprintf(a->err, sizeof a->err, "sse: send failed");
		goto out;
	}
	while (!atomic_load(&run->stop) && a->err[0] == '\0') {
		ssize_t got = recv(fd, buf + have, sizeof buf - 1 - have, 0);
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			continue;
		if (got <= 0) {
			snprintf(a->err, sizeof a->err, "sse: the stream closed");
			break;
		}
		int64_t t = now_us();
		have += (size_t)got;
		buf[have] = '\0';
		char *line = buf, *nl;
		while ((nl = strchr(line, '\n')) != NULL && a->err[0] == '\0') {
			*nl = '\0';
			if (strncmp(line, "data: ", 6) == 0) {
				json_object *o = json_tokener_parse(line + 6), *v;
				Callraft__Event e = CALLRAFT__EVENT__INIT;
				if (o != NULL && json_object_object_get_ex(o, "call_id", &v))
					e.call_id = (char *)json_object_get_string(v);
				if (o != NULL && json_object_object_get_ex(o, "offer_term", &v))
					e.offer_term = (uint64_t)json_object_get_int64(v);
				if (o != NULL && json_object_object_get_ex(o, "offer_index", &v))
					e.offer_index = (uint64_t)json_object_get_int64(v);
				if (e.offer_term == 0)
					snprintf(a->err, sizeof a->err, "sse: bad data line '%.60s'", line);
				else
					agent_offered(a, &e, t);
				json_object_put(o);
			}
			line = nl + 1;
		}
		have = strlen(line);
		memmove(buf, line, have);
		if (have == sizeof buf - 1) {
			snprintf(a->err, sizeof a->err, "sse: a line longer than %zu bytes", sizeof buf);
			break;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	if (ai != NULL)
		freeaddrinfo(ai);
	return NULL;
}

static int cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
	return a < b ? -1 : a > b;
}

static void report(struct cli *cli, const char *what, int64_t *d, unsigned n, json_object *top)
{
	qsort(d, n, sizeof *d, cmp_i64);
	double p50 = d[n / 2] / 1000.0, p99 = d[(size_t)(n * 0.99)] / 1000.0;
	double max = d[n - 1] / 1000.0;
	if (cli->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "p50_ms", json_object_new_double(p50));
		json_object_object_add(o, "p99_ms", json_object_new_double(p99));
		json_object_object_add(o, "max_ms", json_object_new_double(max));
		json_object_object_add(top, what, o);
	} else {
		printf("%-34s p50 %.3f ms  p99 %.3f ms  max %.3f ms\n", what, p50, p99, max);
	}
}

static int push_measure(struct cli *cli, struct push_run *run, struct callraft_client *pbx)
{
	char call_id[CALLRAFT_ID_BYTES_MAX + 1], err[CALLRAFT_ERRMSG_BYTES] = "";

	for (unsigned j = 0; j < run->n_calls && err[0] == '\0'; j++) {
		struct push_agent *a = &run->agents[j % run->n_agents];
		int64_t deadline = now_us() + BENCH_PUSH_WAIT_MS * 1000ll;
		while (!atomic_load(&a->idle) && a->err[0] == '\0' && now_us() < deadline)
			usleep(50);
		if (a->err[0] != '\0' || !atomic_load(&a->idle)) {
			snprintf(err, sizeof err, "agent %s: %s", a->agent,
				 a->err[0] ? a->err : "no offer within the wait");
			break;
		}
		atomic_store(&a->idle, false);
		atomic_store(&a->pending, (long)j);
		struct callraft_request req;
		snprintf(call_id, sizeof call_id, "bp.%s-%u", run->tag, j);
		callraft_request_call_enqueue(&req, call_id, a->queue, "+100", NULL, 0, "bench");
		run->sent_us[j] = now_us();
		if (!push_call(pbx, &req.req, NULL, err, sizeof err))
			break;
		run->acked_us[j] = now_us();
	}
	/* The last offers. */
	for (unsigned k = 0; k < run->n_agents && err[0] == '\0'; k++) {
		int64_t deadline = now_us() + BENCH_PUSH_WAIT_MS * 1000ll;
		while (!atomic_load(&run->agents[k].idle) && run->agents[k].err[0] == '\0' &&
		       now_us() < deadline)
			usleep(50);
		if (!atomic_load(&run->agents[k].idle))
			snprintf(err, sizeof err, "agent %s: %s", run->agents[k].agent,
				 run->agents[k].err[0] ? run->agents[k].err : "last offer never came");
	}
	if (err[0] != '\0')
		return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "UNAVAILABLE", "%s", err);
	int64_t *d = malloc(run->n_calls * sizeof *d);
	if (d == NULL)
		return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "INTERNAL", "out of memory");
	json_object *top = json_object_new_object();
	cli_json_u64(top, "agents", run->n_agents);
	cli_json_u64(top, "calls", run->n_calls);
	cli_json_str(top, "channel", run->sse != NULL ? run->sse : run->channel);
	cli_json_str(top, "channel_kind", run->sse != NULL ? "sse" : "binary");
	if (!cli->json)
		printf("%u calls, %u ready agents, push channels (%s) on %s\n", run->n_calls,
		       run->n_agents, run->sse != NULL ? "SSE" : "binary long poll",
		       run->sse != NULL ? run->sse : run->channel);
	for (unsigned j = 0; j < run->n_calls; j++)
		d[j] = run->recv_us[j] - run->acked_us[j];
	report(cli, "enqueue acknowledged -> offer", d, run->n_calls, top);
	for (unsigned j = 0; j < run->n_calls; j++)
		d[j] = run->recv_us[j] - run->sent_us[j];
	report(cli, "enqueue sent -> offer", d, run->n_calls, top);
	for (unsigned j = 0; j < run->n_calls; j++)
		d[j] = run->acked_us[j] - run->sent_us[j];
	report(cli, "enqueue sent -> acknowledged", d, run->n_calls, top);
	free(d);
	if (cli->json)
		cli_print_json(top);
	else
		json_object_put(top);
	return CLI_EXIT_OK;
}

int cli_bench_push(struct cli *cli, struct cli_args *args)
{
	static const char *const counts[] = {"agents", "calls"};
	static struct push_run run; /* large (agents): not on the stack */
	struct callraft_client_options co = {0};
	struct callraft_client *pbx = NULL;
	char errmsg[CALLRAFT_ERRMSG_BYTES], first[CALLRAFT_ADDRESS_BYTES_MAX + 1];
	uint64_t v;
	int rv = CLI_EXIT_OK;
	unsigned started = 0;

	run.n_agents = 16;
	run.n_calls = 1000;
	for (int i = 0; i < 2; i++) {
		const char *s = cli_opt(args, counts[i]);
		uint64_t max = i == 0 ? BENCH_PUSH_AGENTS_MAX : BENCH_PUSH_CALLS_MAX;
		if (s == NULL)
			continue;
		if (cli_parse_u64(s, &v) != 0 || v == 0 || v > max)
			return cli_usage_error(cli, "--%s: '%s': expected 1..%llu", counts[i], s,
					       (unsigned long long)max);
		*(i == 0 ? &run.n_agents : &run.n_calls) = (unsigned)v;
	}
	run.channel = cli_opt(args, "channel");
	run.sse = cli_opt(args, "sse");
	if (run.sse != NULL && (rv = cli_check_address(cli, "--sse", run.sse)) != CLI_EXIT_OK)
		return rv;
	run.cluster = cli->cluster != NULL ? cli->cluster : getenv("CALLRAFT_CLUSTER");
	if (run.cluster == NULL)
		return cli_usage_error(cli, "--cluster (or CALLRAFT_CLUSTER) is required");
	if (run.channel == NULL) {
		snprintf(first, sizeof first, "%.*s", (int)strcspn(run.cluster, ","), run.cluster);
		run.channel = first;
	}
	if ((rv = cli_check_address(cli, "--channel", run.channel)) != CLI_EXIT_OK)
		return rv;
	snprintf(run.tag, sizeof run.tag, "%lx", (unsigned long)(time(NULL) ^ getpid()) & 0xffffff);
	run.sent_us = calloc(run.n_calls, sizeof *run.sent_us);
	run.acked_us = calloc(run.n_calls, sizeof *run.acked_us);
	run.recv_us = calloc(run.n_calls, sizeof *run.recv_us);
	co.cluster = run.cluster;
	if (run.sent_us == NULL || run.acked_us == NULL || run.recv_us == NULL ||
	    callraft_client_open(&co, &pbx, errmsg, sizeof errmsg) != 0) {
		rv = cli_fail(cli, CLI_EXIT_USAGE, "INVALID_ARGUMENT", "bench-push: %s",
			      pbx == NULL ? errmsg : "out of memory");
		goto out;
	}
	for (; started < run.n_agents; started++) {
		struct push_agent *a = &run.agents[started];
		struct callraft_client_options cc = {.cluster = run.channel};
		a->run = &run;
		a->k = started;
		atomic_store(&a->idle, true);
		atomic_store(&a->pending, -1);
		snprintf(a->agent, sizeof a->agent, "bp.%s.a%u", run.tag, started);
		snprintf(a->queue, sizeof a->queue, "bp.%s.q%u", run.tag, started);
		if (callraft_client_open(&co, &a->writer, errmsg, sizeof errmsg) != 0 ||
		    callraft_client_open(&cc, &a->channel, errmsg, sizeof errmsg) != 0 ||
		    !agent_setup(a) ||
		    pthread_create(&a->thread, NULL, run.sse != NULL ? agent_sse_main : agent_main,
				   a) != 0) {
			rv = cli_fail(cli, CLI_EXIT_UNAVAILABLE, "UNAVAILABLE", "agent %s: %s",
				      a->agent, a->err[0] ? a->err : errmsg);
			callraft_client_close(a->writer);
			callraft_client_close(a->channel);
			goto out;
		}
	}
	usleep(300 * 1000); /* every channel holds its first long poll */
	rv = push_measure(cli, &run, pbx);
out:
	atomic_store(&run.stop, true);
	for (unsigned k = 0; k < started; k++) {
		pthread_join(run.agents[k].thread, NULL);
		callraft_client_close(run.agents[k].writer);
		callraft_client_close(run.agents[k].channel);
	}
	callraft_client_close(pbx);
	free(run.sent_us);
	free(run.acked_us);
	free(run.recv_us);
	return rv;
}
