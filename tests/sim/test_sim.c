/* test_sim.c: deterministic simulations of a callraft cluster on raft_fixture, with the real FSM
 * adapter (replication/fsm.c) over real LMDB states (state/) in temporary directories.
 *
 * Every node i is: state_open(<tmp>/n<i>) -> fsm_init -> a thin recording wrapper (below) ->
 * raft_fixture_grow. Pre-vote is on; snapshots are taken every SIM_SNAPSHOT_THRESHOLD entries and
 * only SIM_SNAPSHOT_TRAILING entries are kept behind them, so snapshots and InstallSnapshot happen
 * in most runs. Proposals are real log entries (Callraft__Entry, format 1, framed with
 * fsm_entry_encode, stamped with the fixture time and the proposing leader's term) carrying
 * realistic commands (calls, agents, tickets, client retries with the same seq) from sessions
 * registered through the log.
 *
 * Invariants checked (a failing check fails the case; the random case counts failing seeds):
 *   I1. State machine safety: every log index applied by two replicas carried the same entry bytes
 *       and produced the same replies. The wrapper records, per node and index, an FNV-1a hash of
 *       the entry and of the replies the adapter reported through on_applied.
 *   I2. Replicas at the same applied index have the same state_digest: recorded after every
 *       applied entry and compared by index over the whole history (so a node that later installs
 *       a snapshot over a divergent past is still caught), checked live every
 *       SIM_DIGEST_EVERY_STEPS steps, and once more after the cluster has converged.
 *   I3. Election safety: never two leaders in the same term (our hook checks after every step; the
 *       fixture itself aborts on it as well).
 *   I4. Liveness after healing: once every fault is removed the cluster elects a leader, commits a
 *       new entry and every replica applies it (a replica raft shut down counts as a failure).
 * The fixture's own Leader Append-Only check is an assert() inside libraft, compiled out in the
 * NDEBUG builds we link; I1 covers what it would catch that matters to us.
 *
 * The random case runs each seed in a child process (fork), so a crash inside raft is reported
 * against its seed and the other seeds still run. Odd seeds run 3 nodes (the 1 + 1 + 1 lab), even
 * seeds 5 (the 2 + 2 + 1 layout). Faults: one-way drops, failing sends, partitions, pauses
 * (kill/revive, a minority at most), leader isolation and deposition, network and disk latency,
 * election timeouts, and a nemesis that sometimes cuts a leader off the moment its commit index
 * advances (Raft's figure 8 needs exactly that timing). Disks are reliable.
 *
 * Environment knobs: CALLRAFT_SIM_SEEDS (default SIM_SEEDS_DEFAULT), CALLRAFT_SIM_SEED_FIRST
 * (default 1), CALLRAFT_SIM_NODES (3..5; default by seed parity), CALLRAFT_SIM_CHAOS_STEPS,
 * CALLRAFT_SIM_FAULT_PERMILLE, CALLRAFT_SIM_PROPOSE_EVERY, CALLRAFT_SIM_COMMIT_ISOLATE_PERMILLE,
 * CALLRAFT_SIM_FILTER (a cmocka test-name pattern, e.g. "randomized*"), CALLRAFT_SIM_VERBOSE=1 (a
 * line per seed, node tables in the figure 8 case), CALLRAFT_SIM_TRACE=1 (raft 0.22's own trace).
 *
 * The file also builds against Debian 12's libraft 0.15: raft015-divergence.sh does it and shows
 * the figure 8 case diverging there. The few API differences are behind CALLRAFT_RAFT_015, set
 * automatically when raft.h predates RAFT_VERSION_NUMBER. */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include <cmocka.h>
#include <raft.h>
#include <raft/fixture.h>

#include "callraft.pb-c.h"
#include "fsm.h"
#include "callraft_limits.h"
#include "state.h"

#if !defined(CALLRAFT_RAFT_015) && !defined(RAFT_VERSION_NUMBER)
#define CALLRAFT_RAFT_015 1
#endif

/* ------------------------------------------------------------------------------------------------
 * Parameters. */
#define SIM_NODES_MAX 5
#define SIM_SNAPSHOT_THRESHOLD 32
#define SIM_SNAPSHOT_TRAILING 64
#define SIM_EPOCH_MS 1700000000000ll /* fixture time starts at 0; entries carry realistic clocks */
#define SIM_MAP_BYTES (64u * 1024 * 1024)
#define SIM_SESSIONS 3
#define SIM_AGENTS 6
#define SIM_BATCH_MAX 3               /* commands per proposed entry */
#define SIM_DIGEST_EVERY_STEPS 64
#define SIM_CHAOS_STEPS 3000          /* fixture steps with faults, per seed */
#define SIM_PROPOSE_EVERY_STEPS 8     /* a proposal every 8 steps on average */
#define SIM_COMMIT_ISOLATE_PERMILLE 50 /* a leader is cut off at 5% of its commit advances */
#define SIM_FAULT_PERMILLE 60         /* a fault or repair after 6% of the steps */
#define SIM_CONVERGE_ATTEMPTS 20
#define SIM_SEEDS_DEFAULT 1000         /* about 40 s on 2 cores (RelWithDebInfo) */
#define SIM_TERMS_MAX 100000          /* bound of the election-safety table */
#define SIM_INDEX_MAX 1000000         /* bound of the per-index records */

/* ------------------------------------------------------------------------------------------------
 * raft 0.22.1 / 0.15 differences. */
static raft_term sim_raft_term(struct raft *r)
{
#ifdef CALLRAFT_RAFT_015
	return r->current_term;
#else
	return raft_current_term(r);
#endif
}

static raft_index sim_raft_commit(struct raft *r)
{
#ifdef CALLRAFT_RAFT_015
	return r->commit_index;
#else
	return raft_commit_index(r);
#endif
}

/* ------------------------------------------------------------------------------------------------
 * Helpers: hashing, a seeded PRNG (never rand()), temporary directories. */
static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}
#define FNV_OFFSET 0xcbf29ce484222325ull

/* xorshift64*, seeded through splitmix64 so that seeds 1, 2, 3 give unrelated streams. */
static uint64_t rng_seed(uint64_t seed)
{
	uint64_t z = seed + 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return z != 0 ? z : 1;
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static unsigned rng_below(uint64_t *s, unsigned n)
{
	return (unsigned)(rng_next(s) % n);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static unsigned env_unsigned(const char *name, unsigned dflt)
{
	const char *v = getenv(name);
	return v != NULL && *v != '\0' ? (unsigned)strtoul(v, NULL, 10) : dflt;
}

/* Checks of the harness itself (not of the system under test). In the random case every seed runs
 * in a child process, where cmocka's assertions must not be used: they would longjmp back into the
 * cmocka runner of the child. */
static bool sim_in_child;
static int sim_verdict_fd = -1; /* the child's end of the pipe its seed's verdict goes to */
#define SIM_EXIT_HARNESS 100

/* cmocka's fail_msg() with our location, so failures point at the check that failed. */
static void sim_cmocka_fail(const char *file, int line, const char *msg)
{
	print_error("%s\n", msg);
	_fail(file, line);
}

static void sim_harness_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));

static void sim_harness_fail(const char *file, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (sim_in_child) {
		fprintf(stderr, "%s:%d: harness: %s\n", file, line, msg);
		fflush(NULL);
		_exit(SIM_EXIT_HARNESS);
	}
	sim_cmocka_fail(file, line, msg);
	abort(); /* not reached: cmocka leaves the test */
}

#define SIM_REQUIRE(cond)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			sim_harness_fail(__FILE__, __LINE__, "check failed: %s", #cond);           \
	} while (0)

/* ------------------------------------------------------------------------------------------------
 * The simulated cluster. */

/* What one node applied at one index. */
struct sim_record {
	uint64_t entry_hash;
	uint64_t reply_hash;
	bool applied;
	bool replied; /* on_applied fired (the adapter skips entries already in the state) */
	uint64_t digest; /* state_digest right after the entry (valid if replied) */
};

struct sim;

struct sim_node {
	struct sim *sim;
	unsigned i;
	char dir[96];
	struct state *state;
	struct fsm fsm;       /* the adapter under test */
	struct raft_fsm wrap; /* records entry hashes, then forwards to fsm.base */
	struct sim_record *rec;
	size_t rec_cap;
	uint64_t lost_applied; /* commands whose call_id starts with "lost-" that this node applied */
};

struct sim_session {
	uint64_t client_id;
	uint64_t seq;
	uint8_t last[512]; /* last proposed command, packed, to replay it as a client retry */
	size_t last_len;
};

enum sim_failure {
	SIM_OK = 0,
	SIM_DIVERGED,      /* I1 or I2 */
	SIM_TWO_LEADERS,   /* I3 */
	SIM_NO_CONVERGENCE, /* I4 */
	SIM_FATAL,         /* the adapter reported an LMDB failure */
	SIM_CRASHED,       /* the seed's process died on a signal (inside raft, so far) */
	SIM_HARNESS,       /* a check of the harness itself failed */
	SIM_FAILURE_KINDS
};

static const char *const sim_failure_names[SIM_FAILURE_KINDS] = {
	"ok", "diverged", "two leaders in a term", "no convergence", "fatal apply error", "crashed",
	"harness error",
};

struct sim {
	struct raft_fixture fx; /* first member: the hook gets &fx and casts back */
	unsigned n;
	uint64_t seed;
	uint64_t rng;
	char root[64];
	struct sim_node nodes[SIM_NODES_MAX];
	/* Client sessions and the model objects commands refer to. */
	struct sim_session sessions[SIM_SESSIONS];
	raft_index register_index;
	unsigned calls;   /* call ids issued so far: "c<seed>-<k>" */
	unsigned tickets; /* ticket opens proposed (codes refer to numbers up to this) */
	/* Proposals. */
	unsigned proposed, committed, aborted, lost_committed, lost_aborted, lost_proposed;
	/* Faults wanted by the chaos (the fixture's link state also reflects kills). */
	bool chaos;
	bool sat[SIM_NODES_MAX][SIM_NODES_MAX];
	bool disc[SIM_NODES_MAX][SIM_NODES_MAX];
	bool dead[SIM_NODES_MAX];
	unsigned faults;
	unsigned fault_permille;      /* chance of a fault (or repair) after each step, in 1/1000 */
	unsigned propose_every_steps; /* a proposal every this many steps on average */
	unsigned commit_isolate_permille; /* chance that a leader is cut off when its commit advances */
	raft_index last_commit[SIM_NODES_MAX];
	unsigned timeout_slot[SIM_NODES_MAX]; /* 1 + the 100 ms slot of each node's election timeout */
	/* Checks. */
	raft_id *term_leader; /* term -> id of the leader seen in that term */
	size_t term_cap;
	uint64_t steps;
	enum sim_failure failure;
	char failmsg[512];
};

static void sim_fail(struct sim *s, enum sim_failure kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void sim_fail(struct sim *s, enum sim_failure kind, const char *fmt, ...)
{
	va_list ap;

	if (s->failure != SIM_OK)
		return; /* keep the first failure: later ones are usually consequences */
	s->failure = kind;
	va_start(ap, fmt);
	vsnprintf(s->failmsg, sizeof s->failmsg, fmt, ap);
	va_end(ap);
}

static struct raft *sim_raft(struct sim *s, unsigned i)
{
	return raft_fixture_get(&s->fx, i);
}

/* ------------------------------------------------------------------------------------------------
 * Recording: a raft_fsm wrapper around the adapter, and the adapter's callbacks. */

static struct sim_record *sim_record_at(struct sim_node *nd, uint64_t index)
{
	SIM_REQUIRE(index > 0 && index < SIM_INDEX_MAX);
	if (index >= nd->rec_cap) {
		size_t cap = nd->rec_cap == 0 ? 256 : nd->rec_cap;
		while (cap <= index)
			cap *= 2;
		nd->rec = realloc(nd->rec, cap * sizeof *nd->rec);
		SIM_REQUIRE(nd->rec != NULL);
		memset(nd->rec + nd->rec_cap, 0, (cap - nd->rec_cap) * sizeof *nd->rec);
		nd->rec_cap = cap;
	}
	return &nd->rec[index];
}

/* Counts the commands of an entry that enqueue a call the partition case proposed to a leader that
 * had lost its majority: such a command must never be applied anywhere. */
static unsigned count_lost_commands(const struct raft_buffer *buf)
{
	const void *payload;
	size_t payload_len;
	Callraft__Entry *e;
	unsigned lost = 0;

	if (fsm_entry_payload(buf->base, buf->len, &payload, &payload_len) != 0)
		return 0;
	e = callraft__entry__unpack(NULL, payload_len, payload);
	if (e == NULL)
		return 0;
	for (size_t k = 0; k < e->n_commands; k++) {
		const Callraft__Command *c = e->commands[k];
		if (c->op_case == CALLRAFT__COMMAND__OP_CALL_ENQUEUE &&
		    strncmp(c->call_enqueue->call_id, "lost-", 5) == 0)
			lost++;
	}
	callraft__entry__free_unpacked(e, NULL);
	return lost;
}

static int wrap_apply(struct raft_fsm *w, const struct raft_buffer *buf, void **result)
{
	struct sim_node *nd = w->data;
	uint64_t index = raft_last_applied(nd->fsm.raft) + 1;
	struct sim_record *r = sim_record_at(nd, index);
	uint64_t h = fnv1a(FNV_OFFSET, buf->base, buf->len);
	int rv;

	if (r->applied && r->entry_hash != h)
		sim_fail(nd->sim, SIM_DIVERGED, "node %u applied index %" PRIu64 " twice, differently",
			 nd->i, index);
	r->applied = true;
	r->entry_hash = h;
	nd->lost_applied += count_lost_commands(buf);
	rv = nd->fsm.base.apply(&nd->fsm.base, buf, result);
	return rv;
}

static int wrap_snapshot(struct raft_fsm *w, struct raft_buffer *bufs[], unsigned *n)
{
	struct sim_node *nd = w->data;
	return nd->fsm.base.snapshot(&nd->fsm.base, bufs, n);
}

static int wrap_snapshot_finalize(struct raft_fsm *w, struct raft_buffer *bufs[], unsigned *n)
{
	struct sim_node *nd = w->data;
	return nd->fsm.base.snapshot_finalize(&nd->fsm.base, bufs, n);
}

static int wrap_restore(struct raft_fsm *w, struct raft_buffer *buf)
{
	struct sim_node *nd = w->data;
	return nd->fsm.base.restore(&nd->fsm.base, buf);
}

static void on_applied(void *data, uint64_t index, const struct state_replies *replies)
{
	struct sim_node *nd = data;
	struct sim *s = nd->sim;
	struct sim_record *r = sim_record_at(nd, index);
	uint64_t h = FNV_OFFSET;

	for (size_t k = 0; k < replies->n; k++) {
		h = fnv1a(h, &replies->len[k], sizeof replies->len[k]);
		h = fnv1a(h, replies->bytes[k], replies->len[k]);
	}
	r->replied = true;
	r->reply_hash = h;
	/* The state after this entry: compared across nodes by index (I2 over the whole history, so
	 * that a node which later installs a snapshot over a divergent past is still caught). */
	r->digest = state_digest(nd->state);

	/* The registration entry's replies carry the sessions' client ids. */
	if (index == s->register_index && s->sessions[0].client_id == 0) {
		for (size_t k = 0; k < replies->n && k < SIM_SESSIONS; k++) {
			Callraft__Reply *rep =
				callraft__reply__unpack(NULL, replies->len[k], replies->bytes[k]);
			if (rep != NULL && rep->code == CALLRAFT__CODE__OK)
				s->sessions[k].client_id = rep->client_id;
			if (rep != NULL)
				callraft__reply__free_unpacked(rep, NULL);
		}
	}
}

static void on_fatal(void *data, const char *message)
{
	struct sim_node *nd = data;
	sim_fail(nd->sim, SIM_FATAL, "node %u: %s", nd->i, message);
}

/* ------------------------------------------------------------------------------------------------
 * Checks. */

/* I3: record the leader of every term; two different leaders in one term is a failure. */
static void sim_check_election_safety(struct sim *s)
{
	for (unsigned i = 0; i < s->n; i++) {
		struct raft *r = sim_raft(s, i);
		raft_term t;

		if (raft_state(r) != RAFT_LEADER)
			continue;
		t = sim_raft_term(r);
		SIM_REQUIRE(t < SIM_TERMS_MAX);
		if (t >= s->term_cap) {
			size_t cap = s->term_cap == 0 ? 64 : s->term_cap;
			while (cap <= t)
				cap *= 2;
			s->term_leader = realloc(s->term_leader, cap * sizeof *s->term_leader);
			SIM_REQUIRE(s->term_leader != NULL);
			memset(s->term_leader + s->term_cap, 0,
			       (cap - s->term_cap) * sizeof *s->term_leader);
			s->term_cap = cap;
		}
		if (s->term_leader[t] == 0)
			s->term_leader[t] = r->id;
		else if (s->term_leader[t] != r->id)
			sim_fail(s, SIM_TWO_LEADERS, "term %llu: leaders %llu and %llu",
				 (unsigned long long)t, (unsigned long long)s->term_leader[t],
				 (unsigned long long)r->id);
	}
}

/* I2: nodes at the same state_applied_index must hold the same digest. */
static void sim_check_digests(struct sim *s)
{
	uint64_t idx[SIM_NODES_MAX], dig[SIM_NODES_MAX];

	for (unsigned i = 0; i < s->n; i++) {
		idx[i] = state_applied_index(s->nodes[i].state);
		dig[i] = state_digest(s->nodes[i].state);
		for (unsigned j = 0; j < i; j++) {
			if (idx[j] == idx[i] && dig[j] != dig[i])
				sim_fail(s, SIM_DIVERGED,
					 "nodes %u and %u at applied index %" PRIu64
					 ": digests %016" PRIx64 " != %016" PRIx64,
					 j, i, idx[i], dig[j], dig[i]);
		}
	}
}

/* I1: every index applied by two nodes carried the same entry and produced the same replies. */
static void sim_check_records(struct sim *s)
{
	size_t max = 0;

	for (unsigned i = 0; i < s->n; i++)
		if (s->nodes[i].rec_cap > max)
			max = s->nodes[i].rec_cap;
	for (size_t index = 1; index < max; index++) {
		const struct sim_record *first = NULL;
		unsigned first_i = 0;

		for (unsigned i = 0; i < s->n; i++) {
			const struct sim_node *nd = &s->nodes[i];
			const struct sim_record *r;

			if (index >= nd->rec_cap || !nd->rec[index].applied)
				continue;
			r = &nd->rec[index];
			if (first == NULL) {
				first = r;
				first_i = i;
				continue;
			}
			if (r->entry_hash != first->entry_hash)
				sim_fail(s, SIM_DIVERGED,
					 "index %zu: node %u and node %u applied different entries", index,
					 first_i, i);
			else if (r->replied && first->replied && r->reply_hash != first->reply_hash)
				sim_fail(s, SIM_DIVERGED,
					 "index %zu: node %u and node %u replied differently to one entry",
					 index, first_i, i);
			else if (r->replied && first->replied && r->digest != first->digest)
				sim_fail(s, SIM_DIVERGED,
					 "index %zu: node %u and node %u hold different states after it",
					 index, first_i, i);
		}
	}
}

/* ------------------------------------------------------------------------------------------------
 * Proposals. */

struct sim_proposal {
	struct raft_apply req;
	struct sim *sim;
	bool lost; /* proposed to a leader cut off from its majority */
};

static void sim_apply_cb(struct raft_apply *req, int status, void *result)
{
	struct sim_proposal *p = req->data;
	struct sim *s = p->sim;

	(void)result;
	if (status == 0) {
		s->committed++;
		s->lost_committed += p->lost;
	} else {
		s->aborted++;
		s->lost_aborted += p->lost;
	}
	free(p);
}

/* Proposes one entry holding `cmds` to node i. Returns 0 (and the entry's index), or the raft error
 * (RAFT_NOTLEADER, ...), which the callers treat as "try later". */
static int sim_propose(struct sim *s, unsigned i, Callraft__Command **cmds, size_t n_cmds, bool lost,
		       raft_index *index_out)
{
	struct raft *r = sim_raft(s, i);
	Callraft__Entry e = CALLRAFT__ENTRY__INIT;
	struct sim_proposal *p;
	struct raft_buffer buf;
	int rv;

	e.format = CALLRAFT_ENTRY_FORMAT;
	e.time_ms = SIM_EPOCH_MS + (int64_t)raft_fixture_time(&s->fx);
	e.term = sim_raft_term(r);
	e.n_commands = n_cmds;
	e.commands = cmds;
	buf.base = fsm_entry_encode(&e, &buf.len); /* the log's framing, as the node proposes */
	SIM_REQUIRE(buf.base != NULL);
	p = calloc(1, sizeof *p);
	SIM_REQUIRE(p != NULL);
	p->sim = s;
	p->lost = lost;
	p->req.data = p;
	rv = raft_apply(r, &p->req, &buf, 1, sim_apply_cb);
	if (rv != 0) {
		raft_free(buf.base);
		free(p);
		return rv;
	}
	s->proposed++;
	s->lost_proposed += lost;
	if (index_out != NULL)
		*index_out = p->req.index;
	return 0;
}

/* A command under construction: the protobuf-c structs and the strings they point to. */
struct sim_cmd {
	Callraft__Command cmd;
	union {
		Callraft__RegisterClient reg;
		Callraft__CallEnqueue enq;
		Callraft__CallNext next;
		Callraft__CallAnswer answer;
		Callraft__CallEnd end;
		Callraft__CallAbandon abandon;
		Callraft__AgentLogin login;
		Callraft__AgentSetState set_state;
		Callraft__AgentLogout logout;
		Callraft__TicketOpen topen;
		Callraft__TicketUpdate tupdate;
	} op;
	char s1[64], s2[64], s3[64], s4[64];
	char *skills[2];
	Callraft__Command *unpacked; /* a replayed command (client retry), freed after packing */
};

static const char *const sim_queues[] = {"sales", "support"};
static const char *const sim_sites[] = {"tehran", "shiraz"};

/* Fills c with a random but valid command of session k. */
static void sim_random_command(struct sim *s, unsigned k, struct sim_cmd *c)
{
	struct sim_session *ss = &s->sessions[k];
	unsigned agent = rng_below(&s->rng, SIM_AGENTS);
	unsigned call = s->calls > 0 ? rng_below(&s->rng, s->calls) : 0;
	unsigned what = rng_below(&s->rng, 100);
	char msg[160];

	memset(c, 0, sizeof *c);
	callraft__command__init(&c->cmd);
	/* A client retry: the same command with the same seq, as after OUTCOME_UNKNOWN. */
	if (ss->last_len > 0 && what < 8) {
		c->unpacked = callraft__command__unpack(NULL, ss->last_len, ss->last);
		SIM_REQUIRE(c->unpacked != NULL);
		return;
	}
	c->cmd.client_id = ss->client_id;
	c->cmd.seq = ++ss->seq;
	snprintf(c->s1, sizeof c->s1, "agent-%u", agent);
	snprintf(c->s2, sizeof c->s2, "c%" PRIu64 "-%u", s->seed, call);
	if (what < 30 || s->calls == 0) {
		callraft__call_enqueue__init(&c->op.enq);
		snprintf(c->s2, sizeof c->s2, "c%" PRIu64 "-%u", s->seed, s->calls++);
		snprintf(c->s3, sizeof c->s3, "+98912%07u", rng_below(&s->rng, 10000000));
		snprintf(c->s4, sizeof c->s4, "cust-%u", rng_below(&s->rng, 20));
		c->op.enq.call_id = c->s2;
		c->op.enq.queue = (char *)sim_queues[rng_below(&s->rng, 2)];
		c->op.enq.caller_number = c->s3;
		c->op.enq.customer_id = c->s4;
		c->op.enq.tier = rng_below(&s->rng, CALLRAFT_TIER_MAX + 1);
		c->op.enq.arrival_site = (char *)sim_sites[rng_below(&s->rng, 2)];
		c->cmd.op_case = CALLRAFT__COMMAND__OP_CALL_ENQUEUE;
		c->cmd.call_enqueue = &c->op.enq;
	} else if (what < 45) {
		callraft__call_next__init(&c->op.next);
		c->op.next.agent_id = c->s1;
		c->cmd.op_case = CALLRAFT__COMMAND__OP_CALL_NEXT;
		c->cmd.call_next = &c->op.next;
	} else if (what < 55) {
		/* A token guessed from the log: usually stale, sometimes right. Either way deterministic. */
		callraft__call_answer__init(&c->op.answer);
		c->op.answer.call_id = c->s2;
		c->op.answer.agent_id = c->s1;
		c->op.answer.offer_term = 1 + rng_below(&s->rng, 3);
		c->op.answer.offer_index = (uint64_t)(1 + rng_below(&s->rng, 200)) << 8;
		c->cmd.op_case = CALLRAFT__COMMAND__OP_CALL_ANSWER;
		c->cmd.call_answer = &c->op.answer;
	} else if (what < 65) {
		callraft__call_end__init(&c->op.end);
		c->op.end.call_id = c->s2;
		c->op.end.agent_id = c->s1;
		c->cmd.op_case = CALLRAFT__COMMAND__OP_CALL_END;
		c->cmd.call_end = &c->op.end;
	} else if (what < 69) {
		callraft__call_abandon__init(&c->op.abandon);
		c->op.abandon.call_id = c->s2;
		c->cmd.op_case = CALLRAFT__COMMAND__OP_CALL_ABANDON;
		c->cmd.call_abandon = &c->op.abandon;
	} else if (what < 77) {
		callraft__agent_login__init(&c->op.login);
		snprintf(c->s3, sizeof c->s3, "Agent %u", agent);
		c->op.login.agent_id = c->s1;
		c->op.login.name = c->s3;
		c->op.login.site = (char *)sim_sites[agent % 2];
		c->skills[0] = (char *)sim_queues[agent % 2];
		c->skills[1] = (char *)sim_queues[(agent + 1) % 2];
		c->op.login.n_skills = 1 + agent % 2;
		c->op.login.skills = c->skills;
		c->cmd.op_case = CALLRAFT__COMMAND__OP_AGENT_LOGIN;
		c->cmd.agent_login = &c->op.login;
	} else if (what < 83) {
		callraft__agent_set_state__init(&c->op.set_state);
		c->op.set_state.agent_id = c->s1;
		if (rng_below(&s->rng, 2) == 0) {
			c->op.set_state.state = CALLRAFT__AGENT_STATE__AVAILABLE;
			/* Even agents go ready (issue #14): the FSM then offers them calls by itself,
			 * which the replicas must decide alike under every fault too. */
			c->op.set_state.push = agent % 2 == 0;
		} else {
			c->op.set_state.state = CALLRAFT__AGENT_STATE__BREAK;
			c->op.set_state.reason = "lunch";
		}
		c->cmd.op_case = CALLRAFT__COMMAND__OP_AGENT_SET_STATE;
		c->cmd.agent_set_state = &c->op.set_state;
	} else if (what < 85) {
		callraft__agent_logout__init(&c->op.logout);
		c->op.logout.agent_id = c->s1;
		c->cmd.op_case = CALLRAFT__COMMAND__OP_AGENT_LOGOUT;
		c->cmd.agent_logout = &c->op.logout;
	} else if (what < 94) {
		callraft__ticket_open__init(&c->op.topen);
		snprintf(c->s3, sizeof c->s3, "cust-%u", rng_below(&s->rng, 20));
		c->op.topen.customer_id = c->s3;
		c->op.topen.call_id = c->s2;
		c->op.topen.category = "billing";
		c->op.topen.subject = "invoice charged twice";
		c->op.topen.note = "caller was polite";
		c->op.topen.author = c->s1;
		c->cmd.op_case = CALLRAFT__COMMAND__OP_TICKET_OPEN;
		c->cmd.ticket_open = &c->op.topen;
		s->tickets++;
	} else {
		static const Callraft__TicketStatus st[] = {
			CALLRAFT__TICKET_STATUS__IN_PROGRESS, CALLRAFT__TICKET_STATUS__RESOLVED,
			CALLRAFT__TICKET_STATUS__CLOSED};
		callraft__ticket_update__init(&c->op.tupdate);
		state_ticket_code(1 + rng_below(&s->rng, s->tickets + 1), c->s3);
		c->op.tupdate.code = c->s3;
		c->op.tupdate.status = st[rng_below(&s->rng, 3)];
		c->op.tupdate.note = "called back";
		c->op.tupdate.author = c->s1;
		c->cmd.op_case = CALLRAFT__COMMAND__OP_TICKET_UPDATE;
		c->cmd.ticket_update = &c->op.tupdate;
	}
	/* Pair check: what we propose passes the node's own validation. */
	if (state_validate(&c->cmd, msg, sizeof msg) != CALLRAFT__CODE__OK)
		sim_harness_fail(__FILE__, __LINE__, "sim built an invalid command: %s", msg);
	ss->last_len = callraft__command__get_packed_size(&c->cmd);
	SIM_REQUIRE(ss->last_len <= sizeof ss->last);
	callraft__command__pack(&c->cmd, ss->last);
}

static Callraft__Command *sim_cmd_get(struct sim_cmd *c)
{
	return c->unpacked != NULL ? c->unpacked : &c->cmd;
}

static void sim_cmd_release(struct sim_cmd *c)
{
	if (c->unpacked != NULL)
		callraft__command__free_unpacked(c->unpacked, NULL);
	c->unpacked = NULL;
}

/* Proposes an entry of 1..SIM_BATCH_MAX random commands to node i. */
static int sim_propose_random(struct sim *s, unsigned i, raft_index *index_out)
{
	struct sim_cmd cmds[SIM_BATCH_MAX];
	Callraft__Command *ptrs[SIM_BATCH_MAX];
	unsigned n = 1 + rng_below(&s->rng, SIM_BATCH_MAX);
	int rv;

	for (unsigned k = 0; k < n; k++) {
		sim_random_command(s, rng_below(&s->rng, SIM_SESSIONS), &cmds[k]);
		ptrs[k] = sim_cmd_get(&cmds[k]);
	}
	rv = sim_propose(s, i, ptrs, n, false, index_out);
	for (unsigned k = 0; k < n; k++)
		sim_cmd_release(&cmds[k]);
	return rv;
}

/* A call enqueue with a given call id (the partition case tags calls it expects to be lost). */
static int sim_propose_call(struct sim *s, unsigned i, const char *call_id, bool lost,
			    raft_index *index_out)
{
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;
	Callraft__CallEnqueue enq = CALLRAFT__CALL_ENQUEUE__INIT;
	Callraft__Command *ptr = &cmd;

	cmd.client_id = s->sessions[0].client_id;
	cmd.seq = ++s->sessions[0].seq;
	cmd.op_case = CALLRAFT__COMMAND__OP_CALL_ENQUEUE;
	cmd.call_enqueue = &enq;
	enq.call_id = (char *)call_id;
	enq.queue = "sales";
	enq.caller_number = "+982100000000";
	enq.customer_id = "cust-1";
	enq.arrival_site = "tehran";
	return sim_propose(s, i, &ptr, 1, lost, index_out);
}

/* ------------------------------------------------------------------------------------------------
 * Cluster life. */

static bool stop_applied_everywhere(struct raft_fixture *fx, void *arg)
{
	const raft_index *index = arg;
	for (unsigned i = 0; i < raft_fixture_n(fx); i++)
		if (raft_last_applied(raft_fixture_get(fx, i)) < *index)
			return false;
	return true;
}

/* The index of a node in leader state that is alive, picked at random if several (a stale leader in
 * an old term included: proposals to it are exactly what must never commit); n if none. */
static unsigned sim_any_leader(struct sim *s)
{
	unsigned cand[SIM_NODES_MAX], n = 0;

	for (unsigned i = 0; i < s->n; i++)
		if (!s->dead[i] && raft_state(sim_raft(s, i)) == RAFT_LEADER)
			cand[n++] = i;
	return n == 0 ? s->n : cand[rng_below(&s->rng, n)];
}

static void sim_hook(struct raft_fixture *fx, struct raft_fixture_event *event);

/* Gives node i a random election timeout in a 100 ms slot of [1000, 2000) that no other node uses.
 * The fixture fires timers only at ticks (every heartbeat, 100 ms) and, in 0.22, re-seeds raft's
 * generator at every step so a node draws the same timeout every time: two nodes sharing a slot
 * would campaign in lockstep and split the vote forever, a livelock real clocks do not have. */
static void sim_random_timeout(struct sim *s, unsigned i)
{
	bool used[10] = {false};
	unsigned slot;

	for (unsigned k = 0; k < s->n; k++)
		if (k != i && s->timeout_slot[k] > 0)
			used[s->timeout_slot[k] - 1] = true;
	do
		slot = rng_below(&s->rng, 10);
	while (used[slot]);
	s->timeout_slot[i] = slot + 1;
	raft_fixture_set_randomized_election_timeout(&s->fx, i,
						     1000 + 100 * slot + rng_below(&s->rng, 100));
}

/* Works around a bug of raft's test fixture (0.15 through 0.22.1, src/fixture.c ioMethodTruncate):
 * its in-memory log keeps "entries left = index - 1", as if it always started at index 1. After an
 * InstallSnapshot it starts later, so truncating a conflicting suffix reads past its array and
 * raft_fixture_close then frees garbage ("double free or corruption"). That copy of the log is read
 * only when a server starts, which never happens again in these runs; raft's own log, which the
 * protocol uses, is not touched by it. So only the harmless "truncate everything" (index 1, as at an
 * install) reaches the fixture. NEEDSWORK: remove once the fixture subtracts its start index. */
static int (*sim_fixture_truncate)(struct raft_io *io, raft_index index);

static int sim_io_truncate(struct raft_io *io, raft_index index)
{
	return index == 1 ? sim_fixture_truncate(io, index) : 0;
}

static void sim_node_open(struct sim *s, unsigned i)
{
	struct sim_node *nd = &s->nodes[i];
	struct state_options opts = {.map_bytes = SIM_MAP_BYTES, .no_sync = true};
	char err[256];

	nd->sim = s;
	nd->i = i;
	snprintf(nd->dir, sizeof nd->dir, "%s/n%u", s->root, i);
	SIM_REQUIRE(mkdir(nd->dir, 0700) == 0);
	if (state_open(nd->dir, &opts, &nd->state, err, sizeof err) != 0)
		sim_harness_fail(__FILE__, __LINE__, "%s", err);
	fsm_init(&nd->fsm, nd->state);
	fsm_set_callbacks(&nd->fsm, on_applied, on_fatal, nd);
	memset(&nd->wrap, 0, sizeof nd->wrap);
	nd->wrap.version = 2;
	nd->wrap.data = nd;
	nd->wrap.apply = wrap_apply;
	nd->wrap.snapshot = wrap_snapshot;
	nd->wrap.snapshot_finalize = wrap_snapshot_finalize;
	nd->wrap.restore = wrap_restore;
	SIM_REQUIRE(raft_fixture_grow(&s->fx, &nd->wrap) == 0);
	fsm_set_raft(&nd->fsm, sim_raft(s, i));
	sim_fixture_truncate = sim_raft(s, i)->io->truncate;
	sim_raft(s, i)->io->truncate = sim_io_truncate;
#ifndef CALLRAFT_RAFT_015
	/* The 0.22 fixture prints raft's diagnostics to stderr unconditionally: thousands of lines per
	 * seed. Keep them only on request (0.15's fixture tracer is off unless LIBRAFT_TRACE is set). */
	if (getenv("CALLRAFT_SIM_TRACE") == NULL)
		sim_raft(s, i)->tracer = NULL;
#endif
}

/* Creates an n-node cluster in `root` (an existing empty directory; NULL: a new temporary one) and
 * starts it. */
static struct sim *sim_create(unsigned n, uint64_t seed, const char *root)
{
	struct sim *s = calloc(1, sizeof *s);
	struct raft_configuration conf;

	SIM_REQUIRE(s != NULL);
	SIM_REQUIRE(n >= 3 && n <= SIM_NODES_MAX);
	s->n = n;
	s->seed = seed;
	s->rng = rng_seed(seed);
	if (root != NULL) {
		SIM_REQUIRE(strlen(root) < sizeof s->root);
		strcpy(s->root, root);
	} else {
		snprintf(s->root, sizeof s->root, "/tmp/callraft-sim-XXXXXX");
		SIM_REQUIRE(mkdtemp(s->root) != NULL);
	}
	memset(&s->fx, 0, sizeof s->fx); /* 0.15 does not zero everything */
	SIM_REQUIRE(raft_fixture_initialize(&s->fx) == 0);
	for (unsigned i = 0; i < n; i++) {
		struct raft *r;
		sim_node_open(s, i);
		r = sim_raft(s, i);
		raft_set_pre_vote(r, true);
		raft_set_snapshot_threshold(r, SIM_SNAPSHOT_THRESHOLD);
		raft_set_snapshot_trailing(r, SIM_SNAPSHOT_TRAILING);
		/* Seeded election timeouts, so that not always node 0 wins the first election. */
		sim_random_timeout(s, i);
	}
	SIM_REQUIRE(raft_fixture_configuration(&s->fx, n, &conf) == 0);
	SIM_REQUIRE(raft_fixture_bootstrap(&s->fx, &conf) == 0);
	raft_configuration_close(&conf);
	SIM_REQUIRE(raft_fixture_start(&s->fx) == 0);
	raft_fixture_hook(&s->fx, sim_hook);
	return s;
}

static void sim_destroy(struct sim *s)
{
	raft_fixture_close(&s->fx); /* fires pending apply callbacks; the fsms outlive raft */
	for (unsigned i = 0; i < s->n; i++) {
		state_close(s->nodes[i].state);
		free(s->nodes[i].rec);
	}
	rm_tree(s->root);
	free(s->term_leader);
	free(s);
}

/* Registers the sessions (one entry of SIM_SESSIONS RegisterClient commands) on a healthy
 * cluster. Returns false if that did not happen in time. */
static bool sim_register(struct sim *s)
{
	Callraft__Command cmds[SIM_SESSIONS];
	Callraft__RegisterClient regs[SIM_SESSIONS];
	Callraft__Command *ptrs[SIM_SESSIONS];
	char names[SIM_SESSIONS][32];
	unsigned leader;

	if (!raft_fixture_step_until_has_leader(&s->fx, 10000))
		return false;
	leader = raft_fixture_leader_index(&s->fx);
	for (unsigned k = 0; k < SIM_SESSIONS; k++) {
		callraft__command__init(&cmds[k]);
		callraft__register_client__init(&regs[k]);
		snprintf(names[k], sizeof names[k], "pbx-%u", k);
		regs[k].name = names[k];
		cmds[k].op_case = CALLRAFT__COMMAND__OP_REGISTER_CLIENT;
		cmds[k].register_client = &regs[k];
		ptrs[k] = &cmds[k];
	}
	if (sim_propose(s, leader, ptrs, SIM_SESSIONS, false, &s->register_index) != 0)
		return false;
	if (!raft_fixture_step_until(&s->fx, stop_applied_everywhere, &s->register_index, 10000))
		return false;
	for (unsigned k = 0; k < SIM_SESSIONS; k++)
		if (s->sessions[k].client_id == 0)
			return false;
	return true;
}

/* Proposes to the stable leader and steps until it applied. Returns the index, 0 on failure. */
static raft_index sim_write(struct sim *s)
{
	unsigned leader;
	raft_index index;

	if (!raft_fixture_step_until_has_leader(&s->fx, 10000))
		return 0;
	leader = raft_fixture_leader_index(&s->fx);
	if (sim_propose_random(s, leader, &index) != 0)
		return 0;
	if (!raft_fixture_step_until_applied(&s->fx, leader, index, 5000))
		return 0;
	return index;
}

/* Steps until every node applied an entry committed after the faults were healed (I4). Returns the
 * entry's index, or 0 (and a failure) if the cluster did not converge. */
static raft_index sim_converge(struct sim *s)
{
	for (unsigned attempt = 0; attempt < SIM_CONVERGE_ATTEMPTS; attempt++) {
		raft_index index;
		if (!raft_fixture_step_until_has_leader(&s->fx, 10000))
			continue;
		if (sim_propose_random(s, raft_fixture_leader_index(&s->fx), &index) != 0)
			continue;
		if (raft_fixture_step_until(&s->fx, stop_applied_everywhere, &index, 20000))
			return index;
	}
	{
		char nodes[256];
		size_t off = 0;
		for (unsigned i = 0; i < s->n && off < sizeof nodes; i++) {
			struct raft *r = sim_raft(s, i);
			off += (size_t)snprintf(nodes + off, sizeof nodes - off, "%s%u:%s/t%llu/a%llu",
						i > 0 ? " " : "", i,
						raft_state(r) == RAFT_LEADER      ? "L"
						: raft_state(r) == RAFT_FOLLOWER  ? "F"
						: raft_state(r) == RAFT_CANDIDATE ? "C"
										  : "U",
						(unsigned long long)sim_raft_term(r),
						(unsigned long long)raft_last_applied(r));
		}
		sim_fail(s, SIM_NO_CONVERGENCE,
			 "no convergence after healing (state/term/applied: %s; U = unavailable)", nodes);
	}
	return 0;
}

/* The final checks of every case: I1 over the whole history, equal applied index and digest. */
static void sim_check_final(struct sim *s)
{
	uint64_t idx0 = state_applied_index(s->nodes[0].state);

	sim_check_records(s);
	for (unsigned i = 1; i < s->n; i++) {
		uint64_t idx = state_applied_index(s->nodes[i].state);
		if (idx != idx0)
			sim_fail(s, SIM_DIVERGED, "converged, but node %u is at applied index %" PRIu64
				 " and node 0 at %" PRIu64, i, idx, idx0);
	}
	sim_check_digests(s);
}

/* Fails the case if a check failed, removing the cluster and its directories first. */
static void sim_assert_ok(struct sim *s)
{
	char msg[sizeof s->failmsg + 96];

	if (s->failure == SIM_OK)
		return;
	snprintf(msg, sizeof msg, "seed %" PRIu64 ": %s: %s", s->seed, sim_failure_names[s->failure],
		 s->failmsg);
	sim_destroy(s);
	fail_msg("%s", msg);
}

/* ------------------------------------------------------------------------------------------------
 * Faults. The fixture's link state is: saturated if the chaos wants it or an end is dead (kill
 * saturates every link of a node; revive desaturates them all, so we re-apply ours). */

static void sim_set_sat(struct sim *s, unsigned i, unsigned j, bool on)
{
	s->sat[i][j] = on;
	if (on)
		raft_fixture_saturate(&s->fx, i, j);
	else if (!s->dead[i] && !s->dead[j])
		raft_fixture_desaturate(&s->fx, i, j);
}

static unsigned sim_dead_count(const struct sim *s)
{
	unsigned d = 0;
	for (unsigned i = 0; i < s->n; i++)
		d += s->dead[i];
	return d;
}

static void sim_kill(struct sim *s, unsigned i)
{
	s->dead[i] = true;
	raft_fixture_kill(&s->fx, i);
}

static void sim_revive(struct sim *s, unsigned i)
{
	s->dead[i] = false;
	raft_fixture_revive(&s->fx, i);
	for (unsigned j = 0; j < s->n; j++) {
		if (j == i || s->dead[j])
			continue;
		if (s->sat[i][j])
			raft_fixture_saturate(&s->fx, i, j);
		if (s->sat[j][i])
			raft_fixture_saturate(&s->fx, j, i);
	}
}

/* Removes every fault. */
static void sim_heal(struct sim *s)
{
	s->chaos = false;
	for (unsigned i = 0; i < s->n; i++)
		if (s->dead[i])
			sim_revive(s, i);
	for (unsigned i = 0; i < s->n; i++) {
		for (unsigned j = 0; j < s->n; j++) {
			if (i == j)
				continue;
			if (s->sat[i][j])
				sim_set_sat(s, i, j, false);
			if (s->disc[i][j]) {
				s->disc[i][j] = false;
				raft_fixture_reconnect(&s->fx, i, j);
			}
		}
		raft_fixture_set_network_latency(&s->fx, i, 15);
		raft_fixture_set_disk_latency(&s->fx, i, 10);
	}
}

/* The faults, and how often each is picked (out of the sum of the weights). */
enum sim_fault {
	FAULT_DROP,          /* messages i -> j are dropped */
	FAULT_UNDROP,
	FAULT_DISCONNECT,    /* sends i -> j fail */
	FAULT_RECONNECT,
	FAULT_PAUSE,         /* node i stops (kill): at most a minority at a time */
	FAULT_RESUME,
	FAULT_DEPOSE,        /* a leader stops hearing from its followers */
	FAULT_ISOLATE_LEADER, /* a leader is cut off both ways */
	FAULT_PARTITION,     /* a random split, both directions */
	FAULT_HEAL_NETWORK,
	FAULT_NET_LATENCY,
	FAULT_DISK_LATENCY,
	FAULT_ELECTION_TIMEOUT,
	FAULT_KINDS
};

static const unsigned sim_fault_weight[FAULT_KINDS] = {
	[FAULT_DROP] = 10,          [FAULT_UNDROP] = 12,       [FAULT_DISCONNECT] = 4,
	[FAULT_RECONNECT] = 6,      [FAULT_PAUSE] = 3,         [FAULT_RESUME] = 5,
	[FAULT_DEPOSE] = 2,         [FAULT_ISOLATE_LEADER] = 4, [FAULT_PARTITION] = 2,
	[FAULT_HEAL_NETWORK] = 3,   [FAULT_NET_LATENCY] = 6,   [FAULT_DISK_LATENCY] = 4,
	[FAULT_ELECTION_TIMEOUT] = 3,
};

static enum sim_fault sim_pick_fault(struct sim *s)
{
	unsigned total = 0, r;

	for (int k = 0; k < FAULT_KINDS; k++)
		total += sim_fault_weight[k];
	r = rng_below(&s->rng, total);
	for (int k = 0; k < FAULT_KINDS; k++) {
		if (r < sim_fault_weight[k])
			return (enum sim_fault)k;
		r -= sim_fault_weight[k];
	}
	return FAULT_DROP; /* not reached */
}

/* Cuts (or restores) every link of node i, both directions. */
static void sim_isolate(struct sim *s, unsigned i, bool cut)
{
	for (unsigned k = 0; k < s->n; k++) {
		if (k != i) {
			sim_set_sat(s, i, k, cut);
			sim_set_sat(s, k, i, cut);
		}
	}
}

/* After a step, with probability fault_permille/1000: one random fault (or repair). Network and
 * process faults only (drops, failing sends, partitions, pauses, latency); the disks are reliable
 * (an I/O error ends a real node, see docs/design.md, "Fail-stop on I/O errors"). */
static void sim_chaos_step(struct sim *s)
{
	unsigned i, j, l;

	if (rng_below(&s->rng, 1000) >= s->fault_permille)
		return;
	i = rng_below(&s->rng, s->n);
	j = (i + 1 + rng_below(&s->rng, s->n - 1)) % s->n;
	s->faults++;
	switch (sim_pick_fault(s)) {
	case FAULT_DROP:
		sim_set_sat(s, i, j, true);
		break;
	case FAULT_UNDROP:
		sim_set_sat(s, i, j, false);
		break;
	case FAULT_DISCONNECT:
		s->disc[i][j] = true;
		raft_fixture_disconnect(&s->fx, i, j);
		break;
	case FAULT_RECONNECT:
		s->disc[i][j] = false;
		raft_fixture_reconnect(&s->fx, i, j);
		break;
	case FAULT_PAUSE:
		if (!s->dead[i] && sim_dead_count(s) + 1 <= (s->n - 1) / 2)
			sim_kill(s, i);
		break;
	case FAULT_RESUME:
		if (s->dead[i])
			sim_revive(s, i);
		break;
	case FAULT_DEPOSE:
		l = sim_any_leader(s);
		if (l < s->n)
			for (unsigned k = 0; k < s->n; k++)
				if (k != l)
					sim_set_sat(s, k, l, true);
		break;
	case FAULT_ISOLATE_LEADER:
		l = sim_any_leader(s);
		if (l < s->n)
			sim_isolate(s, l, true);
		break;
	case FAULT_PARTITION: {
		unsigned side = 1 + rng_below(&s->rng, (1u << s->n) - 2);
		for (unsigned a = 0; a < s->n; a++)
			for (unsigned b = 0; b < s->n; b++)
				if (a != b)
					sim_set_sat(s, a, b, ((side >> a) & 1) != ((side >> b) & 1));
		break;
	}
	case FAULT_HEAL_NETWORK:
		for (unsigned a = 0; a < s->n; a++)
			for (unsigned b = 0; b < s->n; b++)
				if (a != b && s->sat[a][b])
					sim_set_sat(s, a, b, false);
		break;
	case FAULT_NET_LATENCY:
		raft_fixture_set_network_latency(&s->fx, i, 5 + rng_below(&s->rng, 200));
		break;
	case FAULT_DISK_LATENCY:
		raft_fixture_set_disk_latency(&s->fx, i, 1 + rng_below(&s->rng, 80));
		break;
	case FAULT_ELECTION_TIMEOUT:
		sim_random_timeout(s, i);
		break;
	case FAULT_KINDS:
		break;
	}
}

/* Faults timed to the protocol, as a Jepsen nemesis would: when a leader's commit index advances,
 * sometimes cut it off at once, before its next heartbeat tells the followers. The followers then
 * hold entries they do not know are committed, and the next election decides whether those
 * survive: the situation of Raft's figure 8. */
static void sim_commit_nemesis(struct sim *s)
{
	for (unsigned i = 0; i < s->n; i++) {
		struct raft *r = sim_raft(s, i);
		raft_index commit = sim_raft_commit(r);

		if (commit > s->last_commit[i] && !s->dead[i] && raft_state(r) == RAFT_LEADER &&
		    rng_below(&s->rng, 1000) < s->commit_isolate_permille) {
			s->faults++;
			sim_isolate(s, i, true);
		}
		s->last_commit[i] = commit;
	}
}

static void sim_hook(struct raft_fixture *fx, struct raft_fixture_event *event)
{
	struct sim *s = (struct sim *)fx;

	(void)event;
	s->steps++;
	sim_check_election_safety(s);
	if (s->steps % SIM_DIGEST_EVERY_STEPS == 0)
		sim_check_digests(s);
	if (s->chaos) {
		sim_chaos_step(s);
		sim_commit_nemesis(s);
	}
}

/* ------------------------------------------------------------------------------------------------
 * Cases. */

/* Whole-cluster property after a scenario: I1, I2 and equal state on every replica. */
static void sim_finish(struct sim *s)
{
	sim_check_final(s);
	sim_assert_ok(s);
	sim_destroy(s);
}

static bool stop_new_leader(struct raft_fixture *fx, void *arg)
{
	const unsigned *old = arg;
	unsigned l = raft_fixture_leader_index(fx);
	return l != raft_fixture_n(fx) && l != *old;
}

/* Kill the leader: a new one is elected among the survivors; every entry the old leader had
 * committed is applied, identically, by all live nodes; the old leader, revived, catches up. */
static void leader_loss_elects_new_leader_and_keeps_committed_entries(void **state)
{
	struct sim *s = sim_create(5, 101, NULL);
	unsigned old, fresh;
	raft_index committed = 0;

	(void)state;
	assert_true(sim_register(s));
	for (unsigned k = 0; k < 40; k++)
		assert_true((committed = sim_write(s)) > 0);
	assert_true(raft_fixture_step_until(&s->fx, stop_applied_everywhere, &committed, 5000));
	old = raft_fixture_leader_index(&s->fx);
	committed = sim_raft_commit(sim_raft(s, old));

	sim_kill(s, old);
	assert_true(raft_fixture_step_until(&s->fx, stop_new_leader, &old, 10000));
	fresh = raft_fixture_leader_index(&s->fx);
	assert_int_not_equal(fresh, old);
	assert_true(sim_raft_term(sim_raft(s, fresh)) > sim_raft_term(sim_raft(s, old)));
	/* Nothing committed is lost: every live node applies at least the old commit index, and I1
	 * proves it applied the same entries there. */
	for (unsigned i = 0; i < s->n; i++)
		if (i != old)
			assert_true(raft_fixture_step_until_applied(&s->fx, i, committed, 5000));
	sim_check_records(s);
	sim_assert_ok(s);

	for (unsigned k = 0; k < 20; k++)
		assert_true(sim_write(s) > 0);
	sim_revive(s, old);
	assert_true(sim_converge(s) > 0);
	assert_int_equal(raft_state(sim_raft(s, old)), RAFT_FOLLOWER);
	sim_finish(s);
}

/* Reads a call on node i (stale read of the local state): returns the reply code. */
static Callraft__Code sim_call_code(struct sim *s, unsigned i, const char *call_id)
{
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	Callraft__CallShow show = CALLRAFT__CALL_SHOW__INIT;
	Callraft__Reply *rep;
	Callraft__Code code;
	uint8_t *bytes;
	size_t len;

	req.version = CALLRAFT_PROTOCOL_VERSION;
	req.stale = true;
	req.op_case = CALLRAFT__REQUEST__OP_CALL_SHOW;
	req.call_show = &show;
	show.call_id = (char *)call_id;
	bytes = state_read(s->nodes[i].state, &req, &len);
	assert_non_null(bytes);
	rep = callraft__reply__unpack(NULL, len, bytes);
	assert_non_null(rep);
	code = rep->code;
	callraft__reply__free_unpacked(rep, NULL);
	free(bytes);
	return code;
}

static bool stop_leader_other_than(struct raft_fixture *fx, void *arg)
{
	const unsigned *old = arg;
	for (unsigned i = 0; i < raft_fixture_n(fx); i++) {
		struct raft *r = raft_fixture_get(fx, i);
		if (i != *old && raft_state(r) == RAFT_LEADER &&
		    sim_raft_term(r) > sim_raft_term(raft_fixture_get(fx, *old)))
			return true;
	}
	return false;
}

static bool stop_not_leader(struct raft_fixture *fx, void *arg)
{
	const unsigned *old = arg;
	return raft_state(raft_fixture_get(fx, *old)) != RAFT_LEADER;
}

/* Cut the leader off (messages dropped both ways): what it is asked to write never commits and is
 * never applied anywhere; the majority elects a leader and goes on; after healing, the old leader
 * discards its uncommitted entries and every replica holds the same state. */
static void partition_minority_leader_cannot_commit(void **state)
{
	struct sim *s = sim_create(5, 202, NULL);
	unsigned old, fresh;
	raft_index index;
	char id[32];

	(void)state;
	assert_true(sim_register(s));
	for (unsigned k = 0; k < 10; k++)
		assert_true(sim_write(s) > 0);
	old = raft_fixture_leader_index(&s->fx);
	sim_isolate(s, old, true);
	for (unsigned k = 0; k < 5; k++) {
		snprintf(id, sizeof id, "lost-%u", k);
		assert_int_equal(sim_propose_call(s, old, id, true, NULL), 0);
	}
	assert_true(raft_fixture_step_until(&s->fx, stop_leader_other_than, &old, 10000));
	for (fresh = 0; fresh < s->n; fresh++)
		if (fresh != old && raft_state(sim_raft(s, fresh)) == RAFT_LEADER)
			break;
	assert_true(fresh < s->n);
	/* The majority commits; a call enqueued there is a positive control for the read below. */
	assert_int_equal(sim_propose_call(s, fresh, "kept-0", false, &index), 0);
	for (unsigned i = 0; i < s->n; i++)
		if (i != old)
			assert_true(raft_fixture_step_until_applied(&s->fx, i, index, 5000));
	/* The old leader notices it lost its majority and steps down. */
	assert_true(raft_fixture_step_until(&s->fx, stop_not_leader, &old, 10000));
	assert_int_equal(s->lost_committed, 0);

	sim_heal(s);
	assert_true(sim_converge(s) > 0);
	assert_int_equal(s->lost_proposed, 5);
	assert_int_equal(s->lost_aborted, 5); /* every lost proposal was answered, none as committed */
	assert_int_equal(s->lost_committed, 0);
	for (unsigned i = 0; i < s->n; i++) {
		assert_int_equal(s->nodes[i].lost_applied, 0);
		assert_int_equal(sim_call_code(s, i, "lost-0"), CALLRAFT__CODE__NOT_FOUND);
		assert_int_equal(sim_call_code(s, i, "lost-4"), CALLRAFT__CODE__NOT_FOUND);
		assert_int_equal(sim_call_code(s, i, "kept-0"), CALLRAFT__CODE__OK);
	}
	sim_finish(s);
}

/* A follower cut off while the leader writes far past the trailing window catches up by
 * InstallSnapshot: its state is replaced by the leader's image and ends equal to every other. */
static void lagging_follower_catches_up_by_snapshot(void **state)
{
	struct sim *s = sim_create(5, 303, NULL);
	unsigned leader, lag;
	raft_index index = 0;

	(void)state;
	assert_true(sim_register(s));
	leader = raft_fixture_leader_index(&s->fx);
	lag = (leader + 1) % s->n;
	sim_isolate(s, lag, true);
	for (unsigned k = 0; k < 2 * (SIM_SNAPSHOT_THRESHOLD + SIM_SNAPSHOT_TRAILING); k++)
		assert_true((index = sim_write(s)) > 0);
	assert_int_equal(raft_fixture_leader_index(&s->fx), leader);
	assert_true(s->nodes[leader].fsm.snapshots_taken > 0);
	assert_int_equal(s->nodes[lag].fsm.snapshots_restored, 0);
	assert_true(raft_last_applied(sim_raft(s, lag)) < index - SIM_SNAPSHOT_TRAILING);

	sim_heal(s);
	assert_true(raft_fixture_step_until_applied(&s->fx, lag, index, 20000));
	assert_true(s->nodes[lag].fsm.snapshots_restored > 0);
	assert_true(sim_converge(s) > 0);
	sim_finish(s);
}

/* Cuts every link between nodes of different groups (both directions) and restores the others. */
static void sim_groups(struct sim *s, const unsigned group[])
{
	for (unsigned a = 0; a < s->n; a++)
		for (unsigned b = 0; b < s->n; b++)
			if (a != b)
				sim_set_sat(s, a, b, group[a] != group[b]);
}

/* Election timeouts for scripted elections. raft 0.22's fixture can only produce values within
 * [election timeout, 2 x election timeout) = [1000, 2000), and only for the next draw. */
#define SIM_TIMEOUT_FAST_MS 1000
#define SIM_TIMEOUT_SLOW_MS 1900

/* With CALLRAFT_SIM_VERBOSE=1: each node's role, term, commit and applied index. */
static void sim_dump(struct sim *s, const char *label)
{
	if (env_unsigned("CALLRAFT_SIM_VERBOSE", 0) == 0)
		return;
	printf("%s (t=%llu ms)\n", label, (unsigned long long)raft_fixture_time(&s->fx));
	for (unsigned i = 0; i < s->n; i++) {
		struct raft *r = sim_raft(s, i);
		printf("  node %u: %s term %llu commit %llu applied %llu state %" PRIu64 "\n", i,
		       raft_state(r) == RAFT_LEADER ? "leader" : raft_state(r) == RAFT_CANDIDATE ?
		       "candidate" : "follower", (unsigned long long)sim_raft_term(r),
		       (unsigned long long)sim_raft_commit(r), (unsigned long long)raft_last_applied(r),
		       state_applied_index(s->nodes[i].state));
	}
}

static void sim_timeouts(struct sim *s, const unsigned ms[])
{
	for (unsigned i = 0; i < s->n; i++)
		raft_fixture_set_randomized_election_timeout(&s->fx, i, ms[i]);
}

struct sim_leader_above {
	unsigned exclude; /* a node that must not be the one */
	raft_term term;   /* the leader's term must be above this */
};

static bool stop_leader_above(struct raft_fixture *fx, void *arg)
{
	const struct sim_leader_above *want = arg;
	for (unsigned i = 0; i < raft_fixture_n(fx); i++) {
		struct raft *r = raft_fixture_get(fx, i);
		if (i != want->exclude && raft_state(r) == RAFT_LEADER && sim_raft_term(r) > want->term)
			return true;
	}
	return false;
}

static unsigned sim_leader_above(struct sim *s, unsigned exclude, raft_term term)
{
	for (unsigned i = 0; i < s->n; i++)
		if (i != exclude && raft_state(sim_raft(s, i)) == RAFT_LEADER &&
		    sim_raft_term(sim_raft(s, i)) > term)
			return i;
	return s->n;
}

/* Raft paper figure 8, scripted: an entry of an earlier term that a new leader has replicated to a
 * majority must not count as committed (and be applied) until an entry of the leader's own term
 * is committed on top of it, because a node holding a conflicting entry of a later term can still
 * win an election and overwrite it. raft >= 0.17.1 appends a no-op at election and checks the
 * term before committing; Debian 12's 0.15 does neither, and this case makes it apply different
 * entries at the same index (I1). Nodes: A leads first, then C, then A (or B), then C again. */
static void figure8_entry_of_earlier_term_is_not_committed_by_counting(void **state)
{
	struct sim *s = sim_create(5, 404, NULL);
	unsigned a, b, c, d, e, w, group[SIM_NODES_MAX], ms[SIM_NODES_MAX];
	struct sim_leader_above want;
	raft_index x;

	(void)state;
	assert_true(sim_register(s));
	for (unsigned k = 0; k < 5; k++)
		assert_true(sim_write(s) > 0);
	a = raft_fixture_leader_index(&s->fx);
	b = (a + 1) % s->n;
	c = (a + 2) % s->n;
	d = (a + 3) % s->n;
	e = (a + 4) % s->n;

	/* 1. A reaches only B: X gets to B and no further. C, D, E elect C. */
	group[a] = group[b] = 0;
	group[c] = group[d] = group[e] = 1;
	sim_groups(s, group);
	ms[a] = ms[b] = ms[d] = ms[e] = SIM_TIMEOUT_SLOW_MS;
	ms[c] = SIM_TIMEOUT_FAST_MS;
	sim_timeouts(s, ms);
	sim_dump(s, "figure 8: start");
	assert_int_equal(sim_propose_call(s, a, "fig8-x", false, &x), 0);
	want.exclude = a;
	want.term = sim_raft_term(sim_raft(s, a));
	assert_true(raft_fixture_step_until(&s->fx, stop_leader_above, &want, 20000));
	/* The timeouts make C the likely winner, not the certain one (a timer already running keeps
	 * its old value): whoever of C, D, E won plays C from here on. */
	w = sim_leader_above(s, a, want.term);
	assert_true(w == c || w == d || w == e);
	if (w != c) {
		unsigned other = w == d ? e : d;
		d = c;
		e = other;
		c = w;
	}

	sim_dump(s, "figure 8: C elected");
	/* 2. C appends Y and is cut off before sending it (saturation drops at delivery). */
	assert_int_equal(sim_propose_call(s, c, "fig8-y", false, NULL), 0);
	group[c] = 1;
	group[a] = group[b] = group[d] = group[e] = 0;
	sim_groups(s, group);

	/* 3. A (or B: both hold X) wins with D and E, and replicates X to them. */
	ms[a] = SIM_TIMEOUT_FAST_MS;
	ms[b] = (SIM_TIMEOUT_FAST_MS + SIM_TIMEOUT_SLOW_MS) / 2;
	ms[c] = ms[d] = ms[e] = SIM_TIMEOUT_SLOW_MS;
	sim_timeouts(s, ms);
	want.exclude = c;
	want.term = sim_raft_term(sim_raft(s, c));
	assert_true(raft_fixture_step_until(&s->fx, stop_leader_above, &want, 20000));
	w = sim_leader_above(s, c, want.term);
	assert_true(raft_fixture_step_until_applied(&s->fx, w, x, 5000));
	sim_dump(s, "figure 8: A or B elected, X applied on it");

	/* 4. The new leader is cut off at once, before its next heartbeat tells the followers that X
	 * is committed; C, holding Y from a later term than X, campaigns first. */
	for (unsigned i = 0; i < s->n; i++)
		group[i] = i == w ? 1 : 0;
	sim_groups(s, group);
	for (unsigned i = 0; i < s->n; i++)
		ms[i] = i == c ? SIM_TIMEOUT_FAST_MS : SIM_TIMEOUT_SLOW_MS;
	sim_timeouts(s, ms);
	want.exclude = w;
	want.term = sim_raft_term(sim_raft(s, w));
	assert_true(raft_fixture_step_until(&s->fx, stop_leader_above, &want, 20000));
	sim_dump(s, "figure 8: a leader after A");
	raft_fixture_step_until_elapsed(&s->fx, 2000);
	sim_dump(s, "figure 8: C elected again");
	sim_check_records(s);
	sim_assert_ok(s);

	/* 5. Heal: everybody converges on one history. */
	for (unsigned i = 0; i < s->n; i++)
		ms[i] = 1000 + 100 * i;
	sim_timeouts(s, ms);
	sim_heal(s);
	assert_true(sim_converge(s) > 0);
	sim_finish(s);
}

/* One seed of the random-fault simulation, in the current process. Returns the failure kind. */
static enum sim_failure sim_run_seed(uint64_t seed, const char *root, bool verbose)
{
	/* Odd seeds run the minimal lab (1 + 1 + 1), even seeds the default layout (2 + 2 + 1). */
	unsigned n = env_unsigned("CALLRAFT_SIM_NODES", seed % 2 == 1 ? 3 : 5);
	struct sim *s = sim_create(n, seed, root);
	unsigned chaos_steps = env_unsigned("CALLRAFT_SIM_CHAOS_STEPS", SIM_CHAOS_STEPS);
	enum sim_failure f;

	s->fault_permille = env_unsigned("CALLRAFT_SIM_FAULT_PERMILLE", SIM_FAULT_PERMILLE);
	s->propose_every_steps = env_unsigned("CALLRAFT_SIM_PROPOSE_EVERY", SIM_PROPOSE_EVERY_STEPS);
	SIM_REQUIRE(s->fault_permille >= 1 && s->fault_permille <= 1000);
	SIM_REQUIRE(s->propose_every_steps >= 1);
	s->commit_isolate_permille =
		env_unsigned("CALLRAFT_SIM_COMMIT_ISOLATE_PERMILLE", SIM_COMMIT_ISOLATE_PERMILLE);

	if (!sim_register(s)) {
		sim_fail(s, SIM_NO_CONVERGENCE, "could not register sessions on a healthy cluster");
		goto out;
	}
	s->chaos = true;
	for (unsigned step = 0; step < chaos_steps && s->failure == SIM_OK; step++) {
		raft_fixture_step(&s->fx);
		if (rng_below(&s->rng, s->propose_every_steps) == 0) {
			unsigned l = sim_any_leader(s);
			if (l < s->n)
				sim_propose_random(s, l, NULL);
		}
	}
	sim_check_records(s); /* first: a divergence is the finding, a stuck replica its symptom */
	sim_heal(s);
	if (s->failure == SIM_OK)
		sim_converge(s);
	sim_check_final(s);
	if (s->failure == SIM_NO_CONVERGENCE) {
		/* Did the healing phase apply a divergent history before getting stuck? */
		s->failure = SIM_OK;
		sim_check_records(s);
		if (s->failure == SIM_OK)
			s->failure = SIM_NO_CONVERGENCE;
	}
out:
	f = s->failure;
	if (verbose || f != SIM_OK) {
		uint64_t restored = 0;
		for (unsigned i = 0; i < s->n; i++)
			restored += s->nodes[i].fsm.snapshots_restored;
		printf("seed %" PRIu64 ": %s%s%s (t=%llu ms, %" PRIu64 " steps, %u faults, %u proposed, "
		       "%u committed, last applied %llu, snapshots installed %" PRIu64 ")\n",
		       seed, sim_failure_names[f], f != SIM_OK ? ": " : "", s->failmsg,
		       (unsigned long long)raft_fixture_time(&s->fx), s->steps, s->faults, s->proposed,
		       s->committed, (unsigned long long)raft_last_applied(sim_raft(s, 0)), restored);
	}
	/* The verdict is out before the teardown, which can crash too (0.15's raft_fixture_close
	 * frees a corrupted heap after some histories). */
	fflush(stdout);
	if (sim_verdict_fd >= 0) {
		uint8_t v = (uint8_t)f;
		SIM_REQUIRE(write(sim_verdict_fd, &v, 1) == 1);
	}
	sim_destroy(s);
	return f;
}

/* Runs one seed in a child process, so that a crash inside raft (a NULL dereference, an abort on
 * two leaders in a term) is reported against its seed and the remaining seeds still run. */
static enum sim_failure sim_run_seed_isolated(uint64_t seed, bool verbose)
{
	char root[64];
	int verdict_pipe[2];
	uint8_t verdict;
	bool have_verdict;
	pid_t pid;
	int status;

	snprintf(root, sizeof root, "/tmp/callraft-sim-XXXXXX");
	SIM_REQUIRE(mkdtemp(root) != NULL);
	SIM_REQUIRE(pipe(verdict_pipe) == 0);
	fflush(NULL);
	pid = fork();
	SIM_REQUIRE(pid >= 0);
	if (pid == 0) {
		close(verdict_pipe[0]);
		sim_verdict_fd = verdict_pipe[1];
		/* cmocka's handlers would longjmp into its runner inside the child. */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		signal(SIGILL, SIG_DFL);
		signal(SIGFPE, SIG_DFL);
		sim_in_child = true;
		status = (int)sim_run_seed(seed, root, verbose);
		fflush(NULL);
		_exit(status);
	}
	close(verdict_pipe[1]);
	SIM_REQUIRE(waitpid(pid, &status, 0) == pid);
	have_verdict = read(verdict_pipe[0], &verdict, 1) == 1 && verdict < SIM_FAILURE_KINDS;
	close(verdict_pipe[0]);
	rm_tree(root); /* what a crashed child left */
	if (WIFSIGNALED(status)) {
		printf("seed %" PRIu64 ": %s %s: signal %d (%s)\n", seed, sim_failure_names[SIM_CRASHED],
		       have_verdict ? "in teardown" : "while running", WTERMSIG(status),
		       strsignal(WTERMSIG(status)));
		/* A failed check is the finding; a crash after it is a consequence. */
		return have_verdict && verdict != SIM_OK ? (enum sim_failure)verdict : SIM_CRASHED;
	}
	SIM_REQUIRE(WIFEXITED(status));
	if (WEXITSTATUS(status) == SIM_EXIT_HARNESS || WEXITSTATUS(status) >= SIM_FAILURE_KINDS)
		return SIM_HARNESS;
	return (enum sim_failure)WEXITSTATUS(status);
}

/* For many seeds: random network and process faults while clients write through whichever node
 * believes it leads; then heal, converge and check I1-I4. */
static void randomized_faults_many_seeds(void **state)
{
	unsigned first = env_unsigned("CALLRAFT_SIM_SEED_FIRST", 1);
	unsigned n = env_unsigned("CALLRAFT_SIM_SEEDS", SIM_SEEDS_DEFAULT);
	bool verbose = env_unsigned("CALLRAFT_SIM_VERBOSE", 0) != 0;
	unsigned kinds[SIM_FAILURE_KINDS] = {0};
	struct timespec t0, t1;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned seed = first; seed < first + n; seed++)
		kinds[sim_run_seed_isolated(seed, verbose)]++;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("randomized: %u/%u seeds passed (seeds %u..%u, %.1f s)", kinds[SIM_OK], n, first,
	       first + n - 1, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	for (int k = 1; k < SIM_FAILURE_KINDS; k++)
		if (kinds[k] > 0)
			printf("; %s: %u", sim_failure_names[k], kinds[k]);
	printf("\n");
	fflush(stdout);
	assert_int_equal(kinds[SIM_OK], n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(leader_loss_elects_new_leader_and_keeps_committed_entries),
		cmocka_unit_test(partition_minority_leader_cannot_commit),
		cmocka_unit_test(lagging_follower_catches_up_by_snapshot),
		cmocka_unit_test(figure8_entry_of_earlier_term_is_not_committed_by_counting),
		cmocka_unit_test(randomized_faults_many_seeds),
	};
	const char *filter = getenv("CALLRAFT_SIM_FILTER");

	if (filter != NULL && *filter != '\0')
		cmocka_set_test_filter(filter);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
