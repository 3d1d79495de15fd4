/* stats_bench.c: how long a stats read takes with a million callers waiting (issue 15 item 3: under
 * 10 ms). Not a test: a measurement, reported in docs/bench.md.
 *
 *   callraft-stats-bench [--calls N] [--reads N] [--dir DIR]
 *
 * Fills a scratch LMDB state (the state machine itself, no cluster) with N waiting calls (default
 * 1,000,000) over 4 queues, 2 sites and 3 tiers, entered across 90 days of FSM time so that every
 * minute and day bucket of every (queue, site) is in use, plus answered and abandoned calls, agents
 * and tickets of both classes. Then times state_read of every kind of stats read (what the leader
 * runs for `callraft stats` and GET /v1/stats: read transaction, the read, the encoded reply), N
 * reads each (default 200), and prints min / median / p99 / max in milliseconds of wall-clock time,
 * and the p99 of the thread's CPU time (what the read itself costs, whatever else the machine
 * runs). The scratch directory is removed at the end unless --dir was given; --dir naming a state
 * this program filled before reuses it (only the reads run). */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "state.h"

#define BATCH CALLRAFT_BATCH_COMMANDS_MAX
#define DAY_MS (24ll * 3600 * 1000)
#define T0 (20000 * DAY_MS)

static const char *const queues[] = {"sales", "support", "billing", "roadside"};
static const char *const sites[] = {"tehran", "shiraz"};

struct bench {
	struct state *s;
	uint64_t index, client_id, seq;
	int64_t time_ms;
	Callraft__Command cmds[BATCH];
	Callraft__Command *ptrs[BATCH];
	size_t n;
};

static double clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double now_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

static void die(const char *what, const char *err)
{
	fprintf(stderr, "callraft-stats-bench: %s: %s\n", what, err);
	exit(1);
}

/* Applies the batched commands as one entry; returns the replies' codes' worst. */
static void flush(struct bench *b)
{
	Callraft__Entry e = CALLRAFT__ENTRY__INIT;
	struct state_replies out;
	char err[256];

	if (b->n == 0)
		return;
	e.format = CALLRAFT_ENTRY_FORMAT;
	e.time_ms = b->time_ms;
	e.term = 2;
	e.n_commands = b->n;
	e.commands = b->ptrs;
	size_t len = callraft__entry__get_packed_size(&e);
	uint8_t *buf = malloc(len);
	if (buf == NULL)
		die("entry", "out of memory");
	callraft__entry__pack(&e, buf);
	if (state_apply(b->s, ++b->index, buf, len, &out, err, sizeof err) != 0)
		die("apply", err);
	free(buf);
	for (size_t i = 0; i < out.n; i++) {
		Callraft__Reply *r = callraft__reply__unpack(NULL, out.len[i], out.bytes[i]);
		if (r == NULL || (r->code != CALLRAFT__CODE__OK && r->code != CALLRAFT__CODE__QUEUE_EMPTY))
			die("command", r != NULL ? r->message : "reply does not decode");
		if (b->cmds[i].op_case == CALLRAFT__COMMAND__OP_REGISTER_CLIENT)
			b->client_id = r->client_id, b->seq = 0;
		callraft__reply__free_unpacked(r, NULL);
	}
	b->n = 0;
}

/* The next command slot of the batch (a session command unless it registers). */
static Callraft__Command *slot(struct bench *b, Callraft__Command__OpCase op)
{
	if (b->n == BATCH)
		flush(b);
	Callraft__Command *c = &b->cmds[b->n];
	*c = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	c->op_case = op;
	if (op != CALLRAFT__COMMAND__OP_REGISTER_CLIENT) {
		c->client_id = b->client_id;
		c->seq = ++b->seq;
	}
	b->ptrs[b->n++] = c;
	return c;
}

static void register_client(struct bench *b)
{
	static Callraft__RegisterClient reg = CALLRAFT__REGISTER_CLIENT__INIT;
	flush(b);
	reg.name = "stats-bench";
	slot(b, CALLRAFT__COMMAND__OP_REGISTER_CLIENT)->register_client = &reg;
	flush(b);
}

/* Storage of the ops of one batch (each command points into it). */
static struct {
	Callraft__CallEnqueue enq[BATCH];
	Callraft__CallAbandon ab[BATCH];
	Callraft__TicketOpen topen[BATCH];
	Callraft__TicketUpdate tupd[BATCH];
	Callraft__AgentLogin login[BATCH];
	Callraft__SiteConfigure sc[BATCH];
	Callraft__Int32Value off[BATCH];
	char ids[BATCH][32];
	char numbers[BATCH][24]; /* one caller each: a caller calling again takes the old place */
	char *skills[4];
} ops;

static void fill(struct bench *b, long calls)
{
	double t = now_ms();
	/* Enqueues spread over 90 days of FSM time: one entry of BATCH calls per step. */
	long entries = calls / BATCH + 1;
	int64_t step_ms = 90 * DAY_MS / entries;
	long done = 0, waiting = 0;

	register_client(b);
	Callraft__Command *c = slot(b, CALLRAFT__COMMAND__OP_SITE_CONFIGURE);
	ops.sc[0] = (Callraft__SiteConfigure)CALLRAFT__SITE_CONFIGURE__INIT;
	ops.off[0] = (Callraft__Int32Value)CALLRAFT__INT32_VALUE__INIT;
	ops.off[0].value = 210;
	ops.sc[0].site = "tehran";
	ops.sc[0].utc_offset_minutes = &ops.off[0];
	c->site_configure = &ops.sc[0];
	for (int i = 0; i < 4; i++)
		ops.skills[i] = (char *)queues[i];
	flush(b);
	for (long e = 0; waiting < calls; e++) {
		b->time_ms = T0 + e * step_ms;
		if (e % 1000 == 0 || step_ms > DAY_MS / 4)
			register_client(b); /* sessions expire after a day of FSM time */
		for (int i = 0; i < BATCH && waiting < calls; i++, done++, waiting++) {
			c = slot(b, CALLRAFT__COMMAND__OP_CALL_ENQUEUE);
			Callraft__CallEnqueue *q = &ops.enq[b->n - 1];
			*q = (Callraft__CallEnqueue)CALLRAFT__CALL_ENQUEUE__INIT;
			snprintf(ops.ids[b->n - 1], sizeof ops.ids[0], "c%ld", done);
			q->call_id = ops.ids[b->n - 1];
			q->queue = (char *)queues[done % 4];
			q->arrival_site = (char *)sites[(done / 4) % 2];
			q->tier = (uint32_t)(done % 3);
			snprintf(ops.numbers[b->n - 1], sizeof ops.numbers[0], "+98%010ld", done);
			q->caller_number = ops.numbers[b->n - 1];
			c->call_enqueue = q;
		}
		flush(b);
		/* Every 64th entry: four abandons and two tickets, so buckets hold more than offers. */
		if (e % 64 == 0 && done > 8) {
			for (int i = 0; i < 4; i++) { /* the last four calls abandon */
				c = slot(b, CALLRAFT__COMMAND__OP_CALL_ABANDON);
				ops.ab[b->n - 1] = (Callraft__CallAbandon)CALLRAFT__CALL_ABANDON__INIT;
				snprintf(ops.ids[b->n - 1], sizeof ops.ids[0], "c%ld", done - 1 - i);
				ops.ab[b->n - 1].call_id = ops.ids[b->n - 1];
				c->call_abandon = &ops.ab[b->n - 1];
				waiting--; /* more are enqueued to keep the number waiting */
			}
			for (int i = 0; i < 2; i++) {
				c = slot(b, CALLRAFT__COMMAND__OP_TICKET_OPEN);
				ops.topen[b->n - 1] = (Callraft__TicketOpen)CALLRAFT__TICKET_OPEN__INIT;
				ops.topen[b->n - 1].customer_id = "cust-1";
				ops.topen[b->n - 1].category = "request";
				ops.topen[b->n - 1].ticket_class = i ? "urgent" : "follow-up";
				c->ticket_open = &ops.topen[b->n - 1];
			}
			flush(b);
		}
		if (e % 100 == 0) {
			fprintf(stderr, "\rfilled %ld calls (%.0f s)", done, (now_ms() - t) / 1e3);
			fflush(stderr);
		}
	}
	register_client(b);
	for (int i = 0; i < 50; i++) { /* agents, so the read counts them by state; logged in last (FSM
					 * time jumps while filling: they would go unreachable and their
					 * sites be lost, the callers turned into callbacks) */
		c = slot(b, CALLRAFT__COMMAND__OP_AGENT_LOGIN);
		ops.login[b->n - 1] = (Callraft__AgentLogin)CALLRAFT__AGENT_LOGIN__INIT;
		snprintf(ops.ids[b->n - 1], sizeof ops.ids[0], "agent-%d", i);
		ops.login[b->n - 1].agent_id = ops.ids[b->n - 1];
		ops.login[b->n - 1].site = (char *)sites[i % 2];
		ops.login[b->n - 1].skills = ops.skills;
		ops.login[b->n - 1].n_skills = 4;
		c->agent_login = &ops.login[b->n - 1];
	}
	flush(b);
	/* FSM time stays at the last entry's: the reads see the newest minute and day. */
	fprintf(stderr, "\rfilled %ld calls (%ld waiting) in %.0f s\n", done, waiting,
		(now_ms() - t) / 1e3);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Times `reads` state_read calls of one stats request; prints a line. */
static void time_read(struct bench *b, const char *label, const char *queue, const char *site,
		      const char *cls, const char *interval, int reads)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__StatsGet sg = CALLRAFT__STATS_GET__INIT;
	double *ms = calloc((size_t)reads, sizeof *ms), *cpu = calloc((size_t)reads, sizeof *cpu);
	size_t len = 0, scopes = 0;

	sg.queue = (char *)queue;
	sg.site = (char *)site;
	sg.ticket_class = (char *)cls;
	sg.interval = (char *)interval;
	q.op_case = CALLRAFT__REQUEST__OP_STATS_GET;
	q.stats_get = &sg;
	for (int i = 0; i < reads; i++) {
		double t = now_ms(), c = clock_ms(CLOCK_THREAD_CPUTIME_ID);
		uint8_t *out = state_read(b->s, &q, &len);
		ms[i] = now_ms() - t;
		cpu[i] = clock_ms(CLOCK_THREAD_CPUTIME_ID) - c;
		Callraft__Reply *r = out ? callraft__reply__unpack(NULL, len, out) : NULL;
		if (r == NULL || r->code != CALLRAFT__CODE__OK)
			die(label, r != NULL ? r->message : "no reply");
		scopes = r->n_stats;
		if (i == 0 && strcmp(label, "all queues and sites, lifetime") == 0) {
			uint64_t waiting = 0;
			for (size_t j = 0; j < r->n_stats; j++)
				if (strcmp(r->stats[j]->scope, "queue") == 0)
					waiting += r->stats[j]->waiting;
			printf("waiting calls (sum over queues, from the read): %llu\n",
			       (unsigned long long)waiting);
		}
		callraft__reply__free_unpacked(r, NULL);
		free(out);
	}
	qsort(ms, (size_t)reads, sizeof *ms, cmp_double);
	qsort(cpu, (size_t)reads, sizeof *cpu, cmp_double);
	printf("| %-34s | %6zu | %8zu | %7.3f | %7.3f | %7.3f | %7.3f | %7.3f |\n", label, scopes,
	       len, ms[0], ms[reads / 2], ms[reads * 99 / 100], ms[reads - 1], cpu[reads * 99 / 100]);
	free(ms);
	free(cpu);
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

int main(int argc, char **argv)
{
	long calls = 1000000;
	int reads = 200;
	const char *dir = NULL;
	char tmp[] = "/tmp/callraft-stats-bench.XXXXXX", err[256];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc)
			calls = atol(argv[++i]);
		else if (strcmp(argv[i], "--reads") == 0 && i + 1 < argc)
			reads = atoi(argv[++i]);
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else {
			fprintf(stderr, "usage: callraft-stats-bench [--calls N] [--reads N] [--dir DIR]\n");
			return 2;
		}
	}
	if (calls < 1 || calls > 10000000 || reads < 1 || reads > 100000) {
		fprintf(stderr, "callraft-stats-bench: --calls 1..10000000, --reads 1..100000\n");
		return 2;
	}
	if (dir == NULL && (dir = mkdtemp(tmp)) == NULL)
		die("mkdtemp", "cannot create the scratch directory");
	mkdir(dir, 0750);
	struct state_options o = {.map_bytes = (size_t)16 << 30, .no_sync = true};
	struct bench *b = calloc(1, sizeof *b);
	if (b == NULL || state_open(dir, &o, &b->s, err, sizeof err) != 0)
		die("state_open", err);
	b->time_ms = T0;
	if (state_applied_index(b->s) > 0)
		printf("reusing the state in %s (--calls ignored)\n", dir);
	else
		fill(b, calls);
	printf("state: %s, applied index %llu, %.0f MB\n", dir,
	       (unsigned long long)state_applied_index(b->s),
	       (double)state_size_bytes(b->s) / 1e6);
	printf("| %-34s | %6s | %8s | %7s | %7s | %7s | %7s | %7s |\n", "stats read", "scopes",
	       "bytes", "min ms", "p50 ms", "p99 ms", "max ms", "cpu p99");
	printf("|%s|%s|%s|%s|%s|%s|%s|%s|\n", "------------------------------------", "--------",
	       "----------", "---------", "---------", "---------", "---------", "---------");
	time_read(b, "all queues and sites, lifetime", "", "", "", "", reads);
	time_read(b, "all scopes, today", "", "", "", "today", reads);
	time_read(b, "all scopes, last 15 minutes", "", "", "", "15m", reads);
	time_read(b, "all scopes, last 60 minutes", "", "", "", "60m", reads);
	time_read(b, "queue sales, today", "sales", "", "", "today", reads);
	time_read(b, "queue sales, 90 days", "sales", "", "", "days", reads);
	time_read(b, "site tehran, 90 days", "", "tehran", "", "days", reads);
	time_read(b, "ticket class urgent, 90 days", "", "", "urgent", "days", reads);
	state_close(b->s);
	free(b);
	if (strcmp(dir, tmp) == 0)
		nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
