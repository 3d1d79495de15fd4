/* test_sim_crash.c: deterministic simulation of crashes, power loss and torn writes.
 *
 * test_sim.c runs raft's own fixture, whose in-memory disk never loses anything and whose servers
 * never restart. This file replaces it with a raft_io of its own (below, "sim io") over a simulated
 * disk and network, so that a node can die with writes in flight and come back from what it had
 * persisted:
 *
 *   Raft's disk. term and vote are durable when set_term/set_vote return (raft_uv writes and fsyncs
 *   its metadata synchronously). Appends, truncations and snapshot writes are queued in order and
 *   become durable when they complete, after a disk latency; only then do their callbacks fire (as
 *   raft_uv's do, after the write is on disk). A crash makes a random prefix of the queue durable,
 *   and may tear the first operation left: a prefix of an append's entries persists (raft_uv drops
 *   a torn tail entry by its checksum, which leaves exactly that).
 *   The state's disk. The real FSM (replication/fsm.c) over real LMDB with MDB_NOSYNC, as the daemon
 *   runs it, on files under a page cache that can lose power (sim_disk.c, interposed under liblmdb):
 *   at a power loss every page written since the last fsync is kept, reverted or torn.
 *   Restart. The node is rebuilt through the daemon's start-up path: the unclean-reboot rule
 *   (replication/boot.c, the code callraftd runs, with a simulated boot id that changes at every
 *   power loss), state_open, fsm_init, raft_init over the sim io, raft_start (which loads the
 *   snapshot and log the sim io persisted).
 *   Network. Per message: loss (random, and cut links), duplication, delay with jitter (so
 *   reordering), partitions.
 *   Faults. Process crashes (the page cache survives), power loss of one node and of every node at
 *   once, crashes in the middle of an LMDB commit inside apply (sim_disk freezes the files at the
 *   n-th write: later writes never happened), crashes while a snapshot is being written, clean
 *   restarts, membership changes (voters demoted to standby and promoted back).
 *
 * Checks: I1-I4 of test_sim.c (same entries and replies at each index, re-applications after a
 * rebuild included; same digests at the same applied index; one leader per term; convergence after
 * healing), plus I5: every acknowledged write is in the converged state of every node exactly once,
 * and I6: a snapshot a node takes carries the last configuration at or below its index (checked
 * in sio_snapshot_put against the configuration entries still in the node's log).
 * Clients write like callraft-traffic: each of SIM_SESSIONS sessions opens a ticket for a customer
 * named after its (session, seq), retries the same (client_id, seq) until a leader acknowledges it
 * (raft_apply's callback with status 0), then moves on. At the end every node lists the tickets of
 * each such customer: 0 for an acknowledged one is a lost write, 2 a duplicated one.
 *
 * The state digest these checks compare is sim_digest.c's: the same bytes as state_digest, kept
 * up to date from LMDB's write calls instead of walking the whole state after every entry (which
 * was two thirds of a seed's CPU), and compared to a full walk every SIM_DIGEST_CHECK_EVERY digests
 * and at the end of each seed.
 *
 * Coverage counters (elections, snapshot installs, log truncations, membership changes, crashes
 * during a snapshot write and during apply, torn writes) are printed per run and required non-zero
 * over the default seeds.
 *
 * Knobs: CALLRAFT_SIM_SEEDS, CALLRAFT_SIM_SEED_FIRST, CALLRAFT_SIM_VERBOSE=1,
 * CALLRAFT_SIM_TRACE=1 (raft's tracer), CALLRAFT_SIM_FILTER, CALLRAFT_SIM_DURATION_MS (simulated
 * chaos per seed). Negative controls (tests/sim/README.md): CALLRAFT_SIM_BREAK=early-ack (the sim
 * io acknowledges appends before they are durable) and CALLRAFT_SIM_BREAK=no-boot-rule (restart
 * skips the unclean-reboot rule); both must make seeds fail. */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <malloc.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <raft.h>

#include "boot.h"
#include "callraft.pb-c.h"
#include "callraft_limits.h"
#include "fsm.h"
#include "sim_digest.h"
#include "sim_disk.h"
#include "state.h"
#include "state_internal.h" /* the environment and tables, for sim_digest */

/* ------------------------------------------------------------------------------------------------
 * Parameters. */
#define N_MAX 5
#define SIM_HEARTBEAT_MS 100
#define SIM_ELECTION_MS 1000
#define SIM_SNAPSHOT_THRESHOLD 24
#define SIM_SNAPSHOT_TRAILING 16
#define SIM_EPOCH_MS 1700000000000ll
#define SIM_MAP_BYTES (16u * 1024 * 1024)
#define SIM_SESSIONS 3
#define SIM_SEQ_MAX 4096            /* acknowledged-write table per session */
#define SIM_DURATION_MS 30000       /* simulated time of chaos per seed */
#define SIM_SEEDS_DEFAULT 400
#define SIM_RETRY_MS 1500           /* a client retries an unanswered write after this */
#define SIM_CONVERGE_MS 60000
#define SIM_INDEX_MAX 1000000
#define SIM_TERMS_MAX 100000
#define SIM_MALLOC_MMAP_BYTES (32 * 1024 * 1024) /* glibc's largest: LMDB's copy buffer stays in the heap */
#define SIM_MALLOC_TRIM_BYTES (128 * 1024 * 1024) /* the heap is not shrunk and regrown at every snapshot */
#define SIM_DIGEST_CHECK_EVERY 64   /* every so many digests a node compares sim_digest to a walk */

/* ------------------------------------------------------------------------------------------------
 * Helpers. */
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

static bool rng_permille(uint64_t *s, unsigned p)
{
	return rng_below(s, 1000) < p;
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

/* Where the nodes' directories go: $CALLRAFT_SIM_TMPDIR, else /dev/shm if it is a writable
 * directory (a tmpfs spares the real disk the states' syncs at every crash and restart: the same
 * seeds and checks, half the wall time), else /tmp. */
static const char *sim_tmpdir(void)
{
	const char *d = getenv("CALLRAFT_SIM_TMPDIR");
	if (d != NULL && *d != '\0')
		return d;
	return access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
}

static bool sim_in_child;
static int sim_verdict_fd = -1;
#define SIM_EXIT_HARNESS 100

static void sim_harness_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));

static void sim_harness_fail(const char *file, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s:%d: harness: %s\n", file, line, msg);
	fflush(NULL);
	if (sim_in_child)
		_exit(SIM_EXIT_HARNESS);
	print_error("%s\n", msg);
	_fail(file, line);
	abort();
}

#define SIM_REQUIRE(cond)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			sim_harness_fail(__FILE__, __LINE__, "check failed: %s", #cond);           \
	} while (0)

static void *xmalloc(size_t n)
{
	void *p = raft_malloc(n);
	SIM_REQUIRE(p != NULL || n == 0);
	return p;
}

/* ------------------------------------------------------------------------------------------------
 * Coverage counters and failures. */
enum sim_count {
	C_ELECTIONS,
	C_INSTALLS,
	C_TRUNCATIONS,
	C_MEMBERSHIP,
	C_CRASH_SNAPSHOT,
	C_CRASH_APPLY,
	C_TORN_LOG,
	C_TORN_PAGES,
	C_CRASHES,
	C_POWER_LOSSES,
	C_CLUSTER_POWER_LOSSES,
	C_REBUILDS,
	C_RESTARTS,
	C_ACKED,
	C_DUPLICATED_MSGS,
	C_DROPPED_MSGS,
	C_IO_ERRORS,
	C_FAIL_STOPS,
	C_COUNTS
};

static const char *const count_names[C_COUNTS] = {
	"elections", "snapshot installs", "log truncations", "membership changes",
	"crashes during snapshot", "crashes during apply", "torn log writes", "torn pages",
	"crashes", "power losses", "whole-cluster power losses", "state rebuilds (boot rule)",
	"restarts", "acknowledged writes", "duplicated messages", "dropped messages",
	"log write errors", "fail-stops",
};

/* The counters that must be non-zero over the CI seeds. */
static const enum sim_count required_counts[] = {
	C_ELECTIONS,      C_INSTALLS,    C_TRUNCATIONS, C_MEMBERSHIP,
	C_CRASH_SNAPSHOT, C_CRASH_APPLY, C_TORN_LOG,    C_TORN_PAGES,
	C_IO_ERRORS,      C_FAIL_STOPS,
};

enum sim_failure {
	SIM_OK = 0,
	SIM_DIVERGED,
	SIM_TWO_LEADERS,
	SIM_NO_CONVERGENCE,
	SIM_LOST,       /* an acknowledged write is missing */
	SIM_DUPLICATED, /* a write is applied twice */
	SIM_FATAL,      /* an LMDB failure, or a node that cannot restart */
	SIM_CRASHED,
	SIM_HARNESS,
	SIM_STALE_CONFIG, /* a snapshot without the configuration entry its index covers (I6) */
	SIM_FAILURE_KINDS
};

static const char *const failure_names[SIM_FAILURE_KINDS] = {
	"ok", "diverged", "two leaders in a term", "no convergence", "acknowledged write lost",
	"write applied twice", "fatal", "crashed", "harness error", "stale snapshot configuration",
};

/* What a seed reports to the parent through its pipe. */
struct sim_verdict {
	uint8_t failure;
	uint64_t counts[C_COUNTS];
};

/* ------------------------------------------------------------------------------------------------
 * The simulated world: time, the network, and one sim io per node. */

struct sim;

enum op_kind { OP_APPEND = 1, OP_TRUNCATE, OP_SNAPSHOT_PUT };

/* A disk operation of raft, queued until it completes. */
struct op {
	enum op_kind kind;
	raft_time done_at;
	struct op *next;
	/* append */
	struct raft_io_append *append_req;
	struct raft_entry *entries; /* copies, each buf its own raft_malloc */
	unsigned n;
	raft_index index; /* of the first entry (append) or the truncation point */
	/* snapshot put */
	struct raft_io_snapshot_put *put_req;
	struct raft_snapshot *snapshot; /* a copy */
	unsigned trailing;
};

/* A durable log entry. */
struct dentry {
	raft_term term;
	unsigned short type;
	struct raft_buffer buf;
};

struct pending_send {
	struct raft_io_send *req;
	struct pending_send *next;
};

struct pending_get {
	struct raft_io_snapshot_get *req;
	raft_time done_at;
	struct pending_get *next;
};

struct sio {
	struct raft_io io;
	struct sim *sim;
	unsigned i;
	raft_id id;
	char address[16];
	bool up;   /* a raft instance runs on it */
	bool dead; /* the process died (frozen): nothing it does persists or leaves the node */
	bool log_failed; /* a log write failed: nothing queued after it reaches the disk */
	/* Durable. */
	raft_term term;
	raft_id vote;
	struct raft_snapshot *snapshot;
	struct dentry *log;
	size_t n_log, cap_log;
	raft_index start; /* index of log[0] */
	/* Pending, in raft's order. */
	struct op *ops, *ops_tail;
	struct op *lazy, *lazy_tail; /* CALLRAFT_SIM_BREAK=early-ack: acknowledged, not yet durable */
	raft_index next_index; /* where raft's next append goes */
	struct pending_send *sends;
	struct pending_get *gets;
	unsigned tick_ms;
	raft_time next_tick;
	raft_io_tick_cb tick_cb;
	raft_io_recv_cb recv_cb;
	unsigned disk_latency;
};

struct msg {
	unsigned from, to;
	raft_time at;
	uint64_t seq;
	struct raft_message m;
	struct msg *next;
};

struct sim_record {
	uint64_t entry_hash;
	uint64_t reply_hash;
	uint64_t digest;
	bool applied;
	bool replied;
};

struct sim_node {
	struct sim *sim;
	unsigned i;
	char data_dir[128];
	char state_dir[160];
	char prefix[140]; /* data_dir + "/": what sim_disk crashes */
	struct sio sio;
	struct raft *raft; /* NULL while down */
	struct state *state;
	struct fsm fsm;
	struct raft_fsm wrap;
	bool starting; /* inside raft_start: a restore is a local load, not an install */
	unsigned boots; /* power losses so far: the boot id */
	raft_time restart_at; /* when down: when it comes back */
	bool crash_now;       /* died mid-apply: crash it once the current event returns */
	bool crash_power;
	bool arm_apply_crash; /* the next apply dies at a random write */
	bool crash_on_snapshot; /* dies when it next queues a snapshot write */
	bool io_error_next;     /* its next log write fails (EIO) */
	bool io_error_injected; /* it failed one: raft must stop (fail-stop), the supervisor restarts it */
	struct sim_record *rec;
	size_t rec_cap;
	uint64_t digests; /* taken so far (sim_node_digest) */
	struct raft_tracer tracer; /* CALLRAFT_SIM_TRACE=1: raft's diagnostics with time and node */
};

struct session {
	uint64_t client_id;
	uint64_t seq;      /* the write in progress (or the last one) */
	bool busy;         /* seq not yet acknowledged */
	raft_time sent_at; /* last attempt */
	bool acked[SIM_SEQ_MAX];
};

struct proposal {
	struct raft_apply req;
	struct sim *sim;
	int session; /* -1: the registration or a noise entry */
	uint64_t seq;
	uint64_t incarnation;
};

struct sim {
	unsigned n;
	uint64_t seed;
	uint64_t rng;
	char root[64];
	raft_time now;
	uint64_t msg_seq;
	struct msg *msgs;
	struct sim_node nodes[N_MAX];
	/* Network. */
	bool cut[N_MAX][N_MAX];
	unsigned loss_permille, dup_permille, latency_ms, jitter_ms;
	/* Clients. */
	struct session sessions[SIM_SESSIONS];
	uint64_t noise_client, noise_seq;
	bool registered;
	unsigned calls;
	/* Checks. */
	raft_id *term_leader;
	size_t term_cap;
	raft_term last_leader_term;
	uint64_t counts[C_COUNTS];
	enum sim_failure failure;
	char failmsg[512];
	bool chaos;
	bool break_early_ack, break_boot_rule;
	bool allow_unavailable; /* the forged-message case stops a node on purpose */
	bool verbose;
	uint64_t incarnations;
};

static void sim_fail(struct sim *s, enum sim_failure kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void sim_fail(struct sim *s, enum sim_failure kind, const char *fmt, ...)
{
	va_list ap;
	if (s->failure != SIM_OK)
		return;
	s->failure = kind;
	va_start(ap, fmt);
	vsnprintf(s->failmsg, sizeof s->failmsg, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------------------------------------
 * Copies of raft's structures (the sim io owns what it persists and what is on the wire). */

static void buf_copy(const struct raft_buffer *src, struct raft_buffer *dst)
{
	dst->len = src->len;
	dst->base = xmalloc(src->len > 0 ? src->len : 1);
	if (src->len > 0)
		memcpy(dst->base, src->base, src->len);
}

static void conf_copy(const struct raft_configuration *src, struct raft_configuration *dst)
{
	struct raft_buffer b;
	raft_configuration_init(dst);
	SIM_REQUIRE(raft_configuration_encode(src, &b) == 0);
	SIM_REQUIRE(raft_configuration_decode(&b, dst) == 0);
	raft_free(b.base);
}

static struct raft_snapshot *snapshot_copy(const struct raft_snapshot *src)
{
	struct raft_snapshot *dst = xmalloc(sizeof *dst);
	size_t len = 0;
	uint8_t *p;

	memset(dst, 0, sizeof *dst);
	dst->index = src->index;
	dst->term = src->term;
	conf_copy(&src->configuration, &dst->configuration);
	dst->configuration_index = src->configuration_index;
	for (unsigned k = 0; k < src->n_bufs; k++)
		len += src->bufs[k].len;
	dst->bufs = xmalloc(sizeof *dst->bufs);
	dst->n_bufs = 1;
	dst->bufs[0].len = len;
	dst->bufs[0].base = p = xmalloc(len > 0 ? len : 1);
	for (unsigned k = 0; k < src->n_bufs; k++) {
		memcpy(p, src->bufs[k].base, src->bufs[k].len);
		p += src->bufs[k].len;
	}
	return dst;
}

static void snapshot_free(struct raft_snapshot *s)
{
	if (s == NULL)
		return;
	raft_configuration_close(&s->configuration);
	for (unsigned k = 0; k < s->n_bufs; k++)
		raft_free(s->bufs[k].base);
	raft_free(s->bufs);
	raft_free(s);
}

/* n entries with their data in one batch, as raft expects from load and from the network. */
static struct raft_entry *entries_batch(const struct raft_entry *src, const struct dentry *dsrc,
					unsigned n)
{
	struct raft_entry *dst;
	size_t total = 0;
	uint8_t *batch, *p;

	if (n == 0)
		return NULL;
	for (unsigned k = 0; k < n; k++)
		total += src != NULL ? src[k].buf.len : dsrc[k].buf.len;
	dst = xmalloc(n * sizeof *dst);
	batch = p = xmalloc(total > 0 ? total : 8);
	for (unsigned k = 0; k < n; k++) {
		const struct raft_buffer *b = src != NULL ? &src[k].buf : &dsrc[k].buf;
		dst[k].term = src != NULL ? src[k].term : dsrc[k].term;
		dst[k].type = src != NULL ? src[k].type : dsrc[k].type;
		dst[k].buf.base = p;
		dst[k].buf.len = b->len;
		dst[k].batch = batch;
		if (b->len > 0)
			memcpy(p, b->base, b->len);
		p += b->len;
	}
	return dst;
}

static void message_free(struct raft_message *m)
{
	switch (m->type) {
	case RAFT_APPEND_ENTRIES:
		if (m->append_entries.n_entries > 0) {
			raft_free(m->append_entries.entries[0].batch);
			raft_free(m->append_entries.entries);
		}
		break;
	case RAFT_INSTALL_SNAPSHOT:
		raft_configuration_close(&m->install_snapshot.conf);
		raft_free(m->install_snapshot.data.base);
		break;
	default:
		break;
	}
}

static void message_copy(const struct raft_message *src, struct raft_message *dst)
{
	*dst = *src;
	switch (src->type) {
	case RAFT_APPEND_ENTRIES:
		dst->append_entries.entries =
			entries_batch(src->append_entries.entries, NULL, src->append_entries.n_entries);
		break;
	case RAFT_INSTALL_SNAPSHOT:
		conf_copy(&src->install_snapshot.conf, &dst->install_snapshot.conf);
		buf_copy(&src->install_snapshot.data, &dst->install_snapshot.data);
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------------------------------------------
 * The sim io: durable state. */

static raft_index dlog_last(const struct sio *io)
{
	return io->n_log == 0 ? io->start - 1 : io->start + io->n_log - 1;
}

static void dlog_drop_from(struct sio *io, raft_index index)
{
	while (io->n_log > 0 && dlog_last(io) >= index) {
		io->n_log--;
		raft_free(io->log[io->n_log].buf.base);
	}
	if (io->n_log == 0 && index < io->start)
		io->start = index;
}

static void dlog_drop_before(struct sio *io, raft_index index)
{
	size_t k = 0;
	while (k < io->n_log && io->start + k < index) {
		raft_free(io->log[k].buf.base);
		k++;
	}
	if (k == 0)
		return;
	memmove(io->log, io->log + k, (io->n_log - k) * sizeof *io->log);
	io->n_log -= k;
	io->start += k;
}

static void dlog_append(struct sio *io, raft_index index, const struct raft_entry *e)
{
	if (io->n_log == 0)
		io->start = index;
	SIM_REQUIRE(index == io->start + io->n_log);
	if (io->n_log == io->cap_log) {
		io->cap_log = io->cap_log == 0 ? 64 : io->cap_log * 2;
		io->log = realloc(io->log, io->cap_log * sizeof *io->log);
		SIM_REQUIRE(io->log != NULL);
	}
	io->log[io->n_log].term = e->term;
	io->log[io->n_log].type = e->type;
	buf_copy(&e->buf, &io->log[io->n_log].buf);
	io->n_log++;
}

static void op_free(struct op *op)
{
	for (unsigned k = 0; k < op->n; k++)
		raft_free(op->entries[k].buf.base);
	raft_free(op->entries);
	snapshot_free(op->snapshot);
	free(op);
}

/* Makes an operation durable (the first `n_entries` entries of an append: a torn write keeps
 * fewer). */
static void op_persist(struct sio *io, struct op *op, unsigned n_entries)
{
	switch (op->kind) {
	case OP_APPEND:
		for (unsigned k = 0; k < n_entries; k++)
			dlog_append(io, op->index + k, &op->entries[k]);
		break;
	case OP_TRUNCATE:
		dlog_drop_from(io, op->index);
		break;
	case OP_SNAPSHOT_PUT:
		snapshot_free(io->snapshot);
		io->snapshot = op->snapshot;
		op->snapshot = NULL;
		if (op->trailing == 0) {
			dlog_drop_from(io, 1);
			io->start = io->snapshot->index + 1;
		} else if (io->snapshot->index > op->trailing) {
			dlog_drop_before(io, io->snapshot->index - op->trailing + 1);
		}
		break;
	}
}

static void sio_reset_durable(struct sio *io)
{
	while (io->lazy != NULL) {
		struct op *op = io->lazy;
		io->lazy = op->next;
		op_free(op);
	}
	io->lazy_tail = NULL;
	dlog_drop_from(io, 1);
	free(io->log);
	io->log = NULL;
	io->n_log = io->cap_log = 0;
	snapshot_free(io->snapshot);
	io->snapshot = NULL;
}

/* ------------------------------------------------------------------------------------------------
 * The sim io: raft_io methods. */

static int sio_init(struct raft_io *rio, raft_id id, const char *address)
{
	(void)rio;
	(void)id;
	(void)address;
	return 0;
}

/* Fails every pending request (raft is closing), then reports the close. */
static void sio_close(struct raft_io *rio, raft_io_close_cb cb)
{
	struct sio *io = rio->impl;

	while (io->ops != NULL) {
		struct op *op = io->ops;
		io->ops = op->next;
		if (op->kind == OP_APPEND && op->append_req->cb != NULL)
			op->append_req->cb(op->append_req, RAFT_CANCELED);
		else if (op->kind == OP_SNAPSHOT_PUT && op->put_req->cb != NULL)
			op->put_req->cb(op->put_req, RAFT_CANCELED);
		op_free(op);
	}
	io->ops_tail = NULL;
	while (io->sends != NULL) {
		struct pending_send *p = io->sends;
		io->sends = p->next;
		if (p->req->cb != NULL)
			p->req->cb(p->req, RAFT_CANCELED);
		free(p);
	}
	while (io->gets != NULL) {
		struct pending_get *g = io->gets;
		io->gets = g->next;
		g->req->cb(g->req, NULL, RAFT_CANCELED);
		free(g);
	}
	io->up = false;
	if (cb != NULL)
		cb(rio);
}

static int sio_load(struct raft_io *rio, raft_term *term, raft_id *voted_for,
		    struct raft_snapshot **snapshot, raft_index *start_index, struct raft_entry *entries[],
		    size_t *n_entries)
{
	struct sio *io = rio->impl;

	*term = io->term;
	*voted_for = io->vote;
	*snapshot = io->snapshot != NULL ? snapshot_copy(io->snapshot) : NULL;
	if (io->n_log == 0)
		io->start = io->snapshot != NULL ? io->snapshot->index + 1 : 1;
	*start_index = io->start;
	*entries = entries_batch(NULL, io->log, (unsigned)io->n_log);
	*n_entries = io->n_log;
	io->next_index = io->start + io->n_log;
	return 0;
}

static int sio_start(struct raft_io *rio, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv)
{
	struct sio *io = rio->impl;
	io->tick_ms = msecs;
	io->tick_cb = tick;
	io->recv_cb = recv;
	io->next_tick = io->sim->now + msecs;
	return 0;
}

static int sio_bootstrap(struct raft_io *rio, const struct raft_configuration *conf)
{
	struct sio *io = rio->impl;
	struct raft_entry e;

	if (io->term != 0 || io->n_log > 0 || io->snapshot != NULL)
		return RAFT_CANTBOOTSTRAP;
	e.term = 1;
	e.type = RAFT_CHANGE;
	e.batch = NULL;
	SIM_REQUIRE(raft_configuration_encode(conf, &e.buf) == 0);
	dlog_append(io, 1, &e);
	raft_free(e.buf.base);
	io->term = 1;
	io->vote = 0;
	return 0;
}

static int sio_recover(struct raft_io *rio, const struct raft_configuration *conf)
{
	(void)rio;
	(void)conf;
	return RAFT_NOTFOUND;
}

static int sio_set_term(struct raft_io *rio, raft_term term)
{
	struct sio *io = rio->impl;
	if (!io->dead) {
		io->term = term;
		io->vote = 0;
	}
	return 0;
}

static int sio_set_vote(struct raft_io *rio, raft_id id)
{
	struct sio *io = rio->impl;
	if (!io->dead)
		io->vote = id;
	return 0;
}

static void sio_queue(struct sio *io, struct op *op)
{
	raft_time at = io->sim->now + 1 + io->disk_latency;
	if (io->ops_tail != NULL && io->ops_tail->done_at > at)
		at = io->ops_tail->done_at; /* in order, as one disk writes them */
	op->done_at = at;
	op->next = NULL;
	if (io->ops_tail != NULL)
		io->ops_tail->next = op;
	else
		io->ops = op;
	io->ops_tail = op;
}

static int sio_append(struct raft_io *rio, struct raft_io_append *req, const struct raft_entry entries[],
		      unsigned n, raft_io_append_cb cb)
{
	struct sio *io = rio->impl;
	struct op *op = calloc(1, sizeof *op);

	SIM_REQUIRE(op != NULL);
	req->cb = cb;
	op->kind = OP_APPEND;
	op->append_req = req;
	op->n = n;
	op->index = io->next_index;
	op->entries = xmalloc(n * sizeof *op->entries);
	for (unsigned k = 0; k < n; k++) {
		op->entries[k] = entries[k];
		buf_copy(&entries[k].buf, &op->entries[k].buf);
		op->entries[k].batch = NULL;
	}
	io->next_index += n;
	sio_queue(io, op);
	return 0;
}

static int sio_truncate(struct raft_io *rio, raft_index index)
{
	struct sio *io = rio->impl;
	struct op *op;

	if (index >= io->next_index)
		return 0;
	op = calloc(1, sizeof *op);
	SIM_REQUIRE(op != NULL);
	op->kind = OP_TRUNCATE;
	op->index = index;
	io->next_index = index;
	io->sim->counts[C_TRUNCATIONS]++;
	sio_queue(io, op);
	return 0;
}

/* The index of the last configuration entry in lo..hi of the log as raft now sees it (the durable
 * log, then the queued operations in order), 0 if there is none. */
static raft_index sio_last_conf_entry(const struct sio *io, raft_index lo, raft_index hi)
{
	size_t n = hi >= lo ? (size_t)(hi - lo + 1) : 0;
	unsigned short *type;
	raft_index found = 0;

	if (n == 0)
		return 0;
	type = calloc(n, sizeof *type);
	SIM_REQUIRE(type != NULL);
	for (size_t k = 0; k < io->n_log; k++)
		if (io->start + k >= lo && io->start + k <= hi)
			type[io->start + k - lo] = io->log[k].type;
	for (const struct op *op = io->ops; op != NULL; op = op->next) {
		if (op->kind == OP_APPEND) {
			for (unsigned k = 0; k < op->n; k++)
				if (op->index + k >= lo && op->index + k <= hi)
					type[op->index + k - lo] = op->entries[k].type;
		} else if (op->kind == OP_TRUNCATE) {
			for (raft_index x = op->index > lo ? op->index : lo; x <= hi; x++)
				type[x - lo] = 0;
		} else if (op->trailing == 0) {
			memset(type, 0, n * sizeof *type); /* an installed snapshot replaces the log */
		}
	}
	for (raft_index x = hi; x >= lo && found == 0; x--)
		if (type[x - lo] == RAFT_CHANGE)
			found = x;
	free(type);
	return found;
}

static int sio_snapshot_put(struct raft_io *rio, unsigned trailing, struct raft_io_snapshot_put *req,
			    const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
	struct sio *io = rio->impl;
	struct op *op = calloc(1, sizeof *op);
	raft_index conf;

	SIM_REQUIRE(op != NULL);
	/* I6: a snapshot taken locally (trailing > 0; an installed one is the leader's) carries the
	 * last configuration at or below its index. Every entry up to the index is committed and
	 * applied, so a configuration entry still in the log between the snapshot's configuration
	 * index and its index means raft lost track of a committed configuration: after the entry
	 * is compacted, a restart would load the older one (seed 64632). */
	if (trailing > 0 && snapshot->index > snapshot->configuration_index &&
	    (conf = sio_last_conf_entry(io, snapshot->configuration_index + 1, snapshot->index)) != 0)
		sim_fail(io->sim, SIM_STALE_CONFIG,
			 "node %u: snapshot at %llu carries the configuration of index %llu, but the "
			 "log has a configuration entry at %llu",
			 io->i, (unsigned long long)snapshot->index,
			 (unsigned long long)snapshot->configuration_index, (unsigned long long)conf);
	req->cb = cb;
	op->kind = OP_SNAPSHOT_PUT;
	op->put_req = req;
	op->trailing = trailing;
	op->snapshot = snapshot_copy(snapshot);
	if (trailing == 0)
		io->next_index = snapshot->index + 1;
	sio_queue(io, op);
	if (io->sim->nodes[io->i].crash_on_snapshot && !io->dead) {
		io->sim->nodes[io->i].crash_on_snapshot = false;
		io->dead = true;
		io->sim->nodes[io->i].crash_now = true;
	}
	return 0;
}

static int sio_snapshot_get(struct raft_io *rio, struct raft_io_snapshot_get *req,
			    raft_io_snapshot_get_cb cb)
{
	struct sio *io = rio->impl;
	struct pending_get *g = calloc(1, sizeof *g);

	SIM_REQUIRE(g != NULL);
	req->cb = cb;
	g->req = req;
	g->done_at = io->sim->now + 1 + io->disk_latency;
	g->next = io->gets;
	io->gets = g;
	return 0;
}

static raft_time sio_time(struct raft_io *rio)
{
	struct sio *io = rio->impl;
	return io->sim->now;
}

static int sio_random(struct raft_io *rio, int min, int max)
{
	struct sio *io = rio->impl;
	if (max <= min)
		return min;
	return min + (int)rng_below(&io->sim->rng, (unsigned)(max - min));
}

static void net_send(struct sim *s, unsigned from, unsigned to, const struct raft_message *m);

static int sio_send(struct raft_io *rio, struct raft_io_send *req, const struct raft_message *message,
		    raft_io_send_cb cb)
{
	struct sio *io = rio->impl;
	struct pending_send *p = calloc(1, sizeof *p);
	unsigned to = (unsigned)message->server_id - 1;

	SIM_REQUIRE(p != NULL);
	SIM_REQUIRE(to < io->sim->n);
	req->cb = cb;
	p->req = req;
	p->next = io->sends;
	io->sends = p;
	if (!io->dead)
		net_send(io->sim, io->i, to, message);
	return 0;
}

static void sio_setup(struct sim *s, unsigned i)
{
	struct sio *io = &s->nodes[i].sio;
	struct raft_io *r = &io->io;

	memset(r, 0, sizeof *r);
	r->version = 2;
	r->capacity = 4096;
	r->impl = io;
	r->init = sio_init;
	r->close = sio_close;
	r->load = sio_load;
	r->start = sio_start;
	r->bootstrap = sio_bootstrap;
	r->recover = sio_recover;
	r->set_term = sio_set_term;
	r->set_vote = sio_set_vote;
	r->send = sio_send;
	r->append = sio_append;
	r->truncate = sio_truncate;
	r->snapshot_put = sio_snapshot_put;
	r->snapshot_get = sio_snapshot_get;
	r->time = sio_time;
	r->random = sio_random;
}

/* ------------------------------------------------------------------------------------------------
 * The network. */

static void net_enqueue(struct sim *s, unsigned from, unsigned to, const struct raft_message *m,
			raft_time at)
{
	struct msg *x = calloc(1, sizeof *x);
	SIM_REQUIRE(x != NULL);
	x->from = from;
	x->to = to;
	x->at = at;
	x->seq = s->msg_seq++;
	message_copy(m, &x->m);
	x->next = s->msgs;
	s->msgs = x;
}

static raft_time net_delay(struct sim *s)
{
	return s->now + s->latency_ms + (s->jitter_ms > 0 ? rng_below(&s->rng, s->jitter_ms + 1) : 0);
}

static void net_send(struct sim *s, unsigned from, unsigned to, const struct raft_message *m)
{
	if (s->cut[from][to] || (s->loss_permille > 0 && rng_permille(&s->rng, s->loss_permille))) {
		s->counts[C_DROPPED_MSGS]++;
		return;
	}
	net_enqueue(s, from, to, m, net_delay(s));
	if (s->dup_permille > 0 && rng_permille(&s->rng, s->dup_permille)) {
		s->counts[C_DUPLICATED_MSGS]++;
		net_enqueue(s, from, to, m, net_delay(s) + rng_below(&s->rng, 200));
	}
}

static void net_deliver(struct sim *s, struct msg *x)
{
	struct sim_node *dst = &s->nodes[x->to];

	if (dst->raft == NULL || dst->sio.dead || s->cut[x->from][x->to]) {
		message_free(&x->m);
		free(x);
		return;
	}
	x->m.server_id = s->nodes[x->from].sio.id;
	x->m.server_address = s->nodes[x->from].sio.address;
	dst->sio.recv_cb(&dst->sio.io, &x->m); /* raft owns the message's memory from here */
	free(x);
}

static void net_free_all(struct sim *s)
{
	while (s->msgs != NULL) {
		struct msg *x = s->msgs;
		s->msgs = x->next;
		message_free(&x->m);
		free(x);
	}
}

/* ------------------------------------------------------------------------------------------------
 * Recording FSM wrapper (as in test_sim.c), across the node's incarnations. */

static struct sim_record *record_at(struct sim_node *nd, uint64_t index)
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

static int wrap_apply(struct raft_fsm *w, const struct raft_buffer *buf, void **result)
{
	struct sim_node *nd = w->data;
	struct sim *s = nd->sim;
	uint64_t index = raft_last_applied(nd->raft) + 1;
	struct sim_record *r = record_at(nd, index);
	uint64_t h = fnv1a(FNV_OFFSET, buf->base, buf->len);
	int rv;

	if (r->applied && r->entry_hash != h)
		sim_fail(s, SIM_DIVERGED, "node %u applied index %" PRIu64 " twice, differently", nd->i,
			 index);
	r->applied = true;
	r->entry_hash = h;
	if (nd->arm_apply_crash && !nd->sio.dead) {
		/* Die in the middle of this entry's LMDB commit, at one of its first writes. */
		nd->arm_apply_crash = false;
		simdisk_freeze_at(nd->prefix, 1 + rng_below(&s->rng, 6));
	}
	rv = nd->fsm.base.apply(&nd->fsm.base, buf, result);
	simdisk_freeze_at(nd->prefix, 0);
	if (!nd->sio.dead && simdisk_frozen(nd->prefix)) {
		nd->sio.dead = true;
		nd->crash_now = true;
		s->counts[C_CRASH_APPLY]++;
	}
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
	if (!nd->starting)
		nd->sim->counts[C_INSTALLS]++;
	return nd->fsm.base.restore(&nd->fsm.base, buf);
}

/* The digest of node nd's committed state (sim_digest.h: incremental, the same bytes as
 * state_digest). Every SIM_DIGEST_CHECK_EVERY calls, and with `check`, it is compared to a full
 * walk: a difference is a bug of the tracking, a harness error. */
static uint64_t sim_node_digest(struct sim_node *nd, bool check)
{
	uint64_t d, walked;

	SIM_REQUIRE(simdigest_get(nd->state->env, nd->state->dbi, DB_COUNT, &d) == 0);
	if (check || ++nd->digests % SIM_DIGEST_CHECK_EVERY == 0) {
		SIM_REQUIRE(simdigest_full(nd->state->env, nd->state->dbi, DB_COUNT, &walked) == 0);
		if (walked != d)
			sim_harness_fail(__FILE__, __LINE__, "node %u: incremental digest %016" PRIx64
					 " but a walk gives %016" PRIx64, nd->i, d, walked);
	}
	return d;
}

static void on_applied(void *data, uint64_t index, const struct state_replies *replies)
{
	struct sim_node *nd = data;
	struct sim *s = nd->sim;
	struct sim_record *r = record_at(nd, index);
	uint64_t h = FNV_OFFSET, digest;

	for (size_t k = 0; k < replies->n; k++) {
		h = fnv1a(h, &replies->len[k], sizeof replies->len[k]);
		h = fnv1a(h, replies->bytes[k], replies->len[k]);
	}
	digest = sim_node_digest(nd, false);
	/* A re-application after a rebuild must reproduce what the first one did. */
	if (r->replied && (r->reply_hash != h || r->digest != digest))
		sim_fail(s, SIM_DIVERGED, "node %u re-applied index %" PRIu64 " with another %s", nd->i,
			 index, r->reply_hash != h ? "reply" : "state");
	r->replied = true;
	r->reply_hash = h;
	r->digest = digest;
	if (!s->registered) {
		for (size_t k = 0; k < replies->n && k <= SIM_SESSIONS; k++) {
			Callraft__Reply *rep =
				callraft__reply__unpack(NULL, replies->len[k], replies->bytes[k]);
			if (rep != NULL && rep->code == CALLRAFT__CODE__OK && rep->client_id != 0) {
				if (k < SIM_SESSIONS && s->sessions[k].client_id == 0)
					s->sessions[k].client_id = rep->client_id;
				else if (k == SIM_SESSIONS && s->noise_client == 0)
					s->noise_client = rep->client_id;
			}
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
 * Node life: start (the daemon's start-up path), crash, clean stop. */

static void sim_trace_emit(struct raft_tracer *t, int type, const void *data)
{
	const struct sim_node *nd = t->impl;
	const struct raft_tracer_info *info = data;

	if (type != RAFT_TRACER_DIAGNOSTIC || info->diagnostic.level > 3)
		return;
	fprintf(stderr, "[%7llu] n%u: %s\n", (unsigned long long)nd->sim->now, nd->i,
		info->diagnostic.message);
}

static void node_close_cb(struct raft *r)
{
	(void)r;
}

/* Starts node i from what its disks hold. Returns false (and a failure) if it cannot. */
static bool node_start(struct sim *s, unsigned i, bool bootstrap)
{
	struct sim_node *nd = &s->nodes[i];
	struct state_options so = {.map_bytes = SIM_MAP_BYTES, .no_sync = true};
	char boot[32], err[256];
	bool discarded = false;
	struct raft *r;
	int rv;

	/* The daemon's order (node/node.c node_open): the unclean-reboot rule, the state, the fsm,
	 * raft over its log. */
	snprintf(boot, sizeof boot, "sim-boot-%u", nd->boots);
	if (boot_check(nd->data_dir, nd->state_dir, s->break_boot_rule ? "" : boot, false,
		       &discarded) != 0)
		sim_harness_fail(__FILE__, __LINE__, "boot_check: %s", strerror(errno));
	if (discarded)
		s->counts[C_REBUILDS]++;
	if (mkdir(nd->state_dir, 0700) != 0 && errno != EEXIST)
		sim_harness_fail(__FILE__, __LINE__, "mkdir: %s", strerror(errno));
	if (state_open(nd->state_dir, &so, &nd->state, err, sizeof err) != 0) {
		sim_fail(s, SIM_FATAL, "node %u cannot restart: %s", i, err);
		return false;
	}
	fsm_init(&nd->fsm, nd->state);
	fsm_set_callbacks(&nd->fsm, on_applied, on_fatal, nd);
	memset(&nd->wrap, 0, sizeof nd->wrap);
	nd->wrap.version = 2;
	nd->wrap.data = nd;
	nd->wrap.apply = wrap_apply;
	nd->wrap.snapshot = wrap_snapshot;
	nd->wrap.snapshot_finalize = wrap_snapshot_finalize;
	nd->wrap.restore = wrap_restore;

	r = calloc(1, sizeof *r);
	SIM_REQUIRE(r != NULL);
	nd->sio.up = true;
	nd->sio.dead = false;
	nd->sio.log_failed = false;
	SIM_REQUIRE(raft_init(r, &nd->sio.io, &nd->wrap, nd->sio.id, nd->sio.address) == 0);
	r->tracer = NULL;
	if (getenv("CALLRAFT_SIM_TRACE") != NULL) {
		nd->tracer.impl = nd;
		nd->tracer.version = 2;
		nd->tracer.emit = sim_trace_emit;
		r->tracer = &nd->tracer;
	}
	fsm_set_raft(&nd->fsm, r);
	nd->raft = r;
	raft_set_heartbeat_timeout(r, SIM_HEARTBEAT_MS);
	raft_set_election_timeout(r, SIM_ELECTION_MS);
	raft_set_pre_vote(r, true);
	raft_set_snapshot_threshold(r, SIM_SNAPSHOT_THRESHOLD);
	raft_set_snapshot_trailing(r, SIM_SNAPSHOT_TRAILING);
	if (bootstrap) {
		struct raft_configuration conf;
		raft_configuration_init(&conf);
		for (unsigned k = 0; k < s->n; k++)
			SIM_REQUIRE(raft_configuration_add(&conf, s->nodes[k].sio.id,
							   s->nodes[k].sio.address, RAFT_VOTER) == 0);
		SIM_REQUIRE(raft_bootstrap(r, &conf) == 0);
		raft_configuration_close(&conf);
	}
	nd->starting = true;
	rv = raft_start(r);
	nd->starting = false;
	if (rv != 0) {
		sim_fail(s, SIM_FATAL, "node %u cannot restart: raft_start: %s", i, raft_errmsg(r));
		return false;
	}
	s->incarnations++;
	return true;
}

/* Closes raft and the state. With `crash`, the state is closed as a dead process leaves it (the
 * files are frozen first, so the syncs of the close do not count). */
static void node_stop(struct sim *s, unsigned i, bool crash)
{
	struct sim_node *nd = &s->nodes[i];

	if (crash)
		simdisk_freeze(nd->prefix);
	if (nd->raft != NULL) {
		raft_close(nd->raft, node_close_cb);
		free(nd->raft);
		nd->raft = NULL;
	}
	state_close(nd->state);
	nd->state = NULL;
	nd->sio.up = false;
	nd->crash_now = false;
	nd->io_error_next = false;
	nd->io_error_injected = false;
	(void)s;
}

/* The crash of node i: a process crash, or with `power` the power of its machine lost. */
static void node_crash(struct sim *s, unsigned i, bool power)
{
	struct sim_node *nd = &s->nodes[i];
	struct sio *io = &nd->sio;
	struct simdisk_crash_stats st = {0};
	unsigned n_ops = 0, keep;
	bool lost_before_queue;

	SIM_REQUIRE(nd->raft != NULL);
	s->counts[C_CRASHES]++;
	if (power)
		s->counts[C_POWER_LOSSES]++;
	io->dead = true;
	/* Raft's disk: a prefix of the queue made it, the next append possibly in part. */
	for (struct op *op = io->ops; op != NULL; op = op->next) {
		n_ops++;
		if (op->kind == OP_SNAPSHOT_PUT)
			s->counts[C_CRASH_SNAPSHOT]++;
	}
	keep = rng_below(&s->rng, n_ops + 1);
	/* After a failed log write nothing queued behind it reaches the disk (raft_uv fails every
	 * later append once a write failed), not even in part. */
	lost_before_queue = io->log_failed;
	if (io->lazy != NULL) {
		/* The broken disk loses what it acknowledged but had not written, and so everything
		 * queued after it. */
		while (io->lazy != NULL) {
			struct op *op = io->lazy;
			io->lazy = op->next;
			op_free(op);
		}
		io->lazy_tail = NULL;
		lost_before_queue = true;
	}
	if (lost_before_queue)
		keep = 0;
	{
		struct op *op = io->ops;
		for (unsigned k = 0; k < keep; k++, op = op->next)
			op_persist(io, op, op->n);
		/* A torn write is a prefix of the first operation not kept, and only if every
		 * operation before it was written: a tear behind a lost write would leave a hole in
		 * the log (seed 4192: a fail-stop after an EIO on 399..400 tore 401..403 onto a log
		 * ending at 398). The draw is made either way, so that the other seeds' random
		 * streams stay as they were. */
		if (op != NULL && op->kind == OP_APPEND && op->n > 1) {
			unsigned part = rng_below(&s->rng, op->n);
			if (part > 0 && !lost_before_queue) {
				op_persist(io, op, part);
				s->counts[C_TORN_LOG]++;
			}
		}
	}
	/* raft_close cancels every request left, persisted or not (their callbacks fire as they
	 * do when raft_uv closes). */
	node_stop(s, i, true);
	simdisk_crash(nd->prefix, power, &s->rng, &st);
	if (st.pages_torn > 0)
		s->counts[C_TORN_PAGES]++;
	if (power)
		nd->boots++;
}

/* A clean stop (SIGTERM): raft closes, the state is synced and closed, the marker written. */
static void node_clean_stop(struct sim *s, unsigned i)
{
	struct sim_node *nd = &s->nodes[i];
	char boot[32];

	/* raft_uv completes the writes it has started before its close callback. */
	while (nd->sio.lazy != NULL) {
		struct op *op = nd->sio.lazy;
		nd->sio.lazy = op->next;
		op_persist(&nd->sio, op, op->n);
		op_free(op);
	}
	nd->sio.lazy_tail = NULL;
	for (struct op *op = nd->sio.ops; op != NULL; op = op->next)
		op_persist(&nd->sio, op, op->n);
	node_stop(s, i, false);
	snprintf(boot, sizeof boot, "sim-boot-%u", nd->boots);
	boot_mark_clean(nd->data_dir, boot);
}

/* ------------------------------------------------------------------------------------------------
 * The scheduler: the earliest of every node's tick, disk completion, send completion and snapshot
 * read, and every message's delivery. */

/* Fires raft's completed client requests (apply, barrier, membership change). raft_uv does this
 * from a uv_check handle after every loop iteration by calling raft's internal
 * LegacyFireCompletedRequests, which libraft does not export; this is the same walk over the
 * public r->legacy.requests queue (raft 0.22.1, src/legacy.c). */
static void sim_fire_completed(struct raft *r)
{
	typedef void *squeue[2];
	squeue *head = (squeue *)&r->legacy.requests;

	while ((squeue *)(*head)[0] != head) {
		squeue *e = (squeue *)(*head)[0];
		struct raft_apply *req;
		/* QUEUE_REMOVE */
		(*(squeue *)(*e)[1])[0] = (*e)[0];
		(*(squeue *)(*e)[0])[1] = (*e)[1];
		req = (struct raft_apply *)(void *)((char *)e - offsetof(struct raft_apply, queue));
		switch (req->type) {
		case RAFT_COMMAND:
			req->cb(req, req->status, req->result);
			break;
		case RAFT_BARRIER: {
			struct raft_barrier *b = (struct raft_barrier *)(void *)req;
			b->cb(b, b->status);
			break;
		}
		case RAFT_CHANGE: {
			struct raft_change *c = (struct raft_change *)(void *)req;
			c->cb(c, c->status);
			break;
		}
		default:
			sim_harness_fail(__FILE__, __LINE__, "raft request of unknown type %d", req->type);
		}
	}
}

static raft_time sim_next_time(struct sim *s)
{
	raft_time t = UINT64_MAX;

	for (unsigned i = 0; i < s->n; i++) {
		struct sim_node *nd = &s->nodes[i];
		struct sio *io = &nd->sio;
		if (nd->raft == NULL) {
			if (nd->restart_at > 0 && nd->restart_at < t)
				t = nd->restart_at;
			continue;
		}
		if (io->sends != NULL)
			t = s->now;
		if (io->ops != NULL && io->ops->done_at < t)
			t = io->ops->done_at;
		for (struct pending_get *g = io->gets; g != NULL; g = g->next)
			if (g->done_at < t)
				t = g->done_at;
		if (io->next_tick < t)
			t = io->next_tick;
	}
	for (struct msg *x = s->msgs; x != NULL; x = x->next)
		if (x->at < t)
			t = x->at;
	return t < s->now ? s->now : t;
}

static void sim_check_leaders(struct sim *s);
static void node_restart(struct sim *s, unsigned i);

/* A node that died inside an event (mid-apply, at a snapshot write): crashed once the event
 * returned, back after a while. */
static void node_crash_later(struct sim *s, unsigned i)
{
	node_crash(s, i, s->nodes[i].crash_power);
	s->nodes[i].restart_at = s->now + 1 + rng_below(&s->rng, 3000);
}

/* Runs every event due at time t, in a fixed order (so that a seed replays exactly). */
static void sim_run_events(struct sim *s, raft_time t)
{
	s->now = t;
	for (unsigned i = 0; i < s->n; i++) {
		struct sim_node *nd = &s->nodes[i];
		struct sio *io = &nd->sio;

		if (nd->raft == NULL) {
			if (nd->restart_at > 0 && nd->restart_at <= t)
				node_restart(s, i);
			continue;
		}
		while (io->lazy != NULL && (io->lazy->done_at <= t || !s->chaos)) {
			struct op *op = io->lazy;
			io->lazy = op->next;
			if (io->lazy == NULL)
				io->lazy_tail = NULL;
			op_persist(io, op, op->n);
			op_free(op);
		}
		while (io->sends != NULL && nd->raft != NULL) {
			struct pending_send *p = io->sends;
			io->sends = p->next;
			if (p->req->cb != NULL)
				p->req->cb(p->req, 0);
			free(p);
		}
		while (nd->raft != NULL && io->ops != NULL && io->ops->done_at <= t && !nd->crash_now) {
			struct op *op = io->ops;
			io->ops = op->next;
			if (io->ops == NULL)
				io->ops_tail = NULL;
			if (nd->io_error_next && op->kind == OP_APPEND && !io->dead) {
				/* The disk fails this write: nothing of it, nor anything the node
				 * writes after it, reaches the disk; raft must stop. */
				nd->io_error_next = false;
				nd->io_error_injected = true;
				io->dead = true;
				io->log_failed = true;
				s->counts[C_IO_ERRORS]++;
				if (op->append_req->cb != NULL)
					op->append_req->cb(op->append_req, RAFT_IOERR);
				op_free(op);
				continue;
			}
			if (s->break_early_ack) {
				/* The broken disk: acknowledged now, durable only later. */
				op->done_at = t + 300;
				op->next = NULL;
				if (io->lazy_tail != NULL)
					io->lazy_tail->next = op;
				else
					io->lazy = op;
				io->lazy_tail = op;
			} else if (!io->dead) {
				op_persist(io, op, op->n);
			}
			if (op->kind == OP_APPEND && op->append_req->cb != NULL)
				op->append_req->cb(op->append_req, io->dead ? RAFT_IOERR : 0);
			else if (op->kind == OP_SNAPSHOT_PUT && op->put_req->cb != NULL)
				op->put_req->cb(op->put_req, io->dead ? RAFT_IOERR : 0);
			if (!s->break_early_ack)
				op_free(op);
		}
		for (struct pending_get **pg = &io->gets; *pg != NULL && nd->raft != NULL && !nd->crash_now;) {
			struct pending_get *g = *pg;
			if (g->done_at > t) {
				pg = &g->next;
				continue;
			}
			*pg = g->next;
			SIM_REQUIRE(io->snapshot != NULL);
			g->req->cb(g->req, snapshot_copy(io->snapshot), 0);
			free(g);
			pg = &io->gets; /* the callback may have queued more */
		}
		if (nd->raft != NULL && io->next_tick <= t && !nd->crash_now) {
			io->next_tick = t + io->tick_ms;
			io->tick_cb(&io->io);
		}
		if (nd->raft != NULL && !nd->crash_now)
			sim_fire_completed(nd->raft);
		if (nd->crash_now)
			node_crash_later(s, i);
	}
	/* Messages due, oldest first. */
	for (;;) {
		struct msg **best = NULL;
		for (struct msg **px = &s->msgs; *px != NULL; px = &(*px)->next)
			if ((*px)->at <= t && (best == NULL || (*px)->at < (*best)->at ||
					       ((*px)->at == (*best)->at && (*px)->seq < (*best)->seq)))
				best = px;
		if (best == NULL)
			break;
		struct msg *x = *best;
		*best = x->next;
		net_deliver(s, x);
		for (unsigned i = 0; i < s->n; i++)
			if (s->nodes[i].raft != NULL && !s->nodes[i].crash_now)
				sim_fire_completed(s->nodes[i].raft);
		for (unsigned i = 0; i < s->n; i++)
			if (s->nodes[i].crash_now)
				node_crash_later(s, i);
	}
	/* Fail-stop: a node whose raft stopped is restarted by its supervisor if a disk error
	 * stopped it; any other stop is a failure (raft found a conflicting committed entry). */
	for (unsigned i = 0; i < s->n; i++) {
		struct sim_node *nd = &s->nodes[i];
		if (nd->raft == NULL || raft_state(nd->raft) != RAFT_UNAVAILABLE)
			continue;
		if (nd->io_error_injected) {
			nd->io_error_injected = false;
			s->counts[C_FAIL_STOPS]++;
			node_crash(s, i, false);
			nd->restart_at = s->now + 1 + rng_below(&s->rng, 3000);
		} else if (!s->allow_unavailable) {
			sim_fail(s, SIM_FATAL, "node %u stopped: %s", i, raft_errmsg(nd->raft));
		}
	}
	sim_check_leaders(s);
}

static void sim_step(struct sim *s)
{
	sim_run_events(s, sim_next_time(s));
}

/* ------------------------------------------------------------------------------------------------
 * Checks during the run. */

/* I3, and the election counter: one leader per term. */
static void sim_check_leaders(struct sim *s)
{
	for (unsigned i = 0; i < s->n; i++) {
		struct raft *r = s->nodes[i].raft;
		raft_term t;

		if (r == NULL || s->nodes[i].sio.dead || raft_state(r) != RAFT_LEADER)
			continue;
		t = raft_current_term(r);
		SIM_REQUIRE(t < SIM_TERMS_MAX);
		if (t >= s->term_cap) {
			size_t cap = s->term_cap == 0 ? 64 : s->term_cap;
			while (cap <= t)
				cap *= 2;
			s->term_leader = realloc(s->term_leader, cap * sizeof *s->term_leader);
			SIM_REQUIRE(s->term_leader != NULL);
			memset(s->term_leader + s->term_cap, 0, (cap - s->term_cap) * sizeof *s->term_leader);
			s->term_cap = cap;
		}
		if (s->term_leader[t] == 0) {
			s->term_leader[t] = r->id;
			s->counts[C_ELECTIONS]++;
		} else if (s->term_leader[t] != r->id) {
			sim_fail(s, SIM_TWO_LEADERS, "term %llu: leaders %llu and %llu",
				 (unsigned long long)t, (unsigned long long)s->term_leader[t],
				 (unsigned long long)r->id);
		}
	}
}

/* I1 over every node's records (across incarnations). */
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
			} else if (r->entry_hash != first->entry_hash) {
				sim_fail(s, SIM_DIVERGED, "index %zu: nodes %u and %u applied different entries",
					 index, first_i, i);
			} else if (r->replied && first->replied &&
				   (r->reply_hash != first->reply_hash || r->digest != first->digest)) {
				sim_fail(s, SIM_DIVERGED,
					 "index %zu: nodes %u and %u applied one entry with different %s",
					 index, first_i, i,
					 r->reply_hash != first->reply_hash ? "replies" : "states");
			}
		}
	}
}

/* ------------------------------------------------------------------------------------------------
 * Clients. */

static void sim_apply_cb(struct raft_apply *req, int status, void *result)
{
	struct proposal *p = req->data;
	struct sim *s = p->sim;
	(void)result;
	if (status == 0 && p->session >= 0) {
		struct session *ss = &s->sessions[p->session];
		if (!ss->acked[p->seq]) {
			ss->acked[p->seq] = true;
			s->counts[C_ACKED]++;
		}
		if (ss->busy && ss->seq == p->seq)
			ss->busy = false;
	}
	free(p);
}

static int sim_propose(struct sim *s, unsigned i, Callraft__Command **cmds, size_t n, int session,
		       uint64_t seq)
{
	struct raft *r = s->nodes[i].raft;
	Callraft__Entry e = CALLRAFT__ENTRY__INIT;
	struct raft_buffer buf;
	struct proposal *p;
	int rv;

	if (r == NULL || s->nodes[i].sio.dead)
		return RAFT_NOTLEADER;
	e.format = CALLRAFT_ENTRY_FORMAT;
	e.time_ms = SIM_EPOCH_MS + (int64_t)s->now;
	e.term = raft_current_term(r);
	e.n_commands = n;
	e.commands = cmds;
	buf.base = fsm_entry_encode(&e, &buf.len);
	SIM_REQUIRE(buf.base != NULL);
	p = calloc(1, sizeof *p);
	SIM_REQUIRE(p != NULL);
	p->sim = s;
	p->session = session;
	p->seq = seq;
	p->req.data = p;
	rv = raft_apply(r, &p->req, &buf, 1, sim_apply_cb);
	if (rv != 0) {
		raft_free(buf.base);
		free(p);
	}
	return rv;
}

/* The node that believes it leads (a random one of several), or n. */
static unsigned sim_any_leader(struct sim *s)
{
	unsigned cand[N_MAX], n = 0;
	for (unsigned i = 0; i < s->n; i++)
		if (s->nodes[i].raft != NULL && !s->nodes[i].sio.dead &&
		    raft_state(s->nodes[i].raft) == RAFT_LEADER)
			cand[n++] = i;
	return n == 0 ? s->n : cand[rng_below(&s->rng, n)];
}

static bool sim_register(struct sim *s)
{
	Callraft__Command cmds[SIM_SESSIONS + 1];
	Callraft__RegisterClient regs[SIM_SESSIONS + 1];
	Callraft__Command *ptrs[SIM_SESSIONS + 1];
	char names[SIM_SESSIONS + 1][32];
	raft_time deadline = s->now + 30000, next_try = 0;

	for (unsigned k = 0; k <= SIM_SESSIONS; k++) {
		callraft__command__init(&cmds[k]);
		callraft__register_client__init(&regs[k]);
		snprintf(names[k], sizeof names[k], "pbx-%u", k);
		regs[k].name = names[k];
		cmds[k].op_case = CALLRAFT__COMMAND__OP_REGISTER_CLIENT;
		cmds[k].register_client = &regs[k];
		ptrs[k] = &cmds[k];
	}
	while (s->now < deadline && s->failure == SIM_OK) {
		bool all = s->noise_client != 0;
		for (unsigned k = 0; k < SIM_SESSIONS; k++)
			all = all && s->sessions[k].client_id != 0;
		if (all) {
			s->registered = true;
			return true;
		}
		if (s->now >= next_try) {
			unsigned l = sim_any_leader(s);
			if (l < s->n)
				sim_propose(s, l, ptrs, SIM_SESSIONS + 1, -1, 0);
			next_try = s->now + 2000;
		}
		sim_step(s);
	}
	return false;
}

/* One write of session k (its current seq): a ticket for customer "m<k>-<seq>", with a few other
 * commands of the noise session in the same entry. */
static void sim_write(struct sim *s, unsigned k, unsigned node)
{
	struct session *ss = &s->sessions[k];
	Callraft__Command cmd[3];
	Callraft__TicketOpen topen = CALLRAFT__TICKET_OPEN__INIT;
	Callraft__CallEnqueue enq = CALLRAFT__CALL_ENQUEUE__INIT;
	Callraft__AgentLogin login = CALLRAFT__AGENT_LOGIN__INIT;
	Callraft__CallNext next = CALLRAFT__CALL_NEXT__INIT;
	Callraft__Command *ptrs[3];
	char customer[32], call[32], agent[32], number[32];
	char *skills[1] = {"sales"};
	size_t n = 0;

	for (unsigned c = 0; c < 3; c++)
		callraft__command__init(&cmd[c]);
	snprintf(customer, sizeof customer, "m%u-%" PRIu64, k, ss->seq);
	topen.customer_id = customer;
	topen.category = "billing";
	topen.subject = "crash simulation";
	cmd[n].client_id = ss->client_id;
	cmd[n].seq = ss->seq;
	cmd[n].op_case = CALLRAFT__COMMAND__OP_TICKET_OPEN;
	cmd[n].ticket_open = &topen;
	n++;
	switch (rng_below(&s->rng, 4)) {
	case 0:
		snprintf(call, sizeof call, "c%u", s->calls++);
		snprintf(number, sizeof number, "+98912%07u", rng_below(&s->rng, 10000000));
		enq.call_id = call;
		enq.queue = "sales";
		enq.caller_number = number;
		enq.arrival_site = "tehran";
		cmd[n].op_case = CALLRAFT__COMMAND__OP_CALL_ENQUEUE;
		cmd[n].call_enqueue = &enq;
		break;
	case 1:
		snprintf(agent, sizeof agent, "agent-%u", rng_below(&s->rng, 4));
		login.agent_id = agent;
		login.name = agent;
		login.site = "tehran";
		login.n_skills = 1;
		login.skills = skills;
		cmd[n].op_case = CALLRAFT__COMMAND__OP_AGENT_LOGIN;
		cmd[n].agent_login = &login;
		break;
	case 2:
		snprintf(agent, sizeof agent, "agent-%u", rng_below(&s->rng, 4));
		next.agent_id = agent;
		cmd[n].op_case = CALLRAFT__COMMAND__OP_CALL_NEXT;
		cmd[n].call_next = &next;
		break;
	default:
		break;
	}
	if (cmd[n].op_case != CALLRAFT__COMMAND__OP__NOT_SET) {
		cmd[n].client_id = s->noise_client;
		cmd[n].seq = ++s->noise_seq;
		n++;
	}
	for (size_t c = 0; c < n; c++)
		ptrs[c] = &cmd[c];
	ss->sent_at = s->now;
	sim_propose(s, node, ptrs, n, (int)k, ss->seq);
}

/* Every client: a new write when the last one was acknowledged, a retry (same seq) when it has
 * gone unanswered for SIM_RETRY_MS. */
static void sim_clients(struct sim *s)
{
	for (unsigned k = 0; k < SIM_SESSIONS; k++) {
		struct session *ss = &s->sessions[k];
		unsigned l;
		if (ss->busy && s->now < ss->sent_at + SIM_RETRY_MS)
			continue;
		if (!ss->busy) {
			if (!rng_permille(&s->rng, 300) || ss->seq + 1 >= SIM_SEQ_MAX)
				continue;
			ss->seq++;
			ss->busy = true;
		}
		l = sim_any_leader(s);
		if (l < s->n)
			sim_write(s, k, l);
		else
			ss->sent_at = s->now; /* no leader known: try again later */
	}
}

/* ------------------------------------------------------------------------------------------------
 * Faults. */

static void node_restart(struct sim *s, unsigned i)
{
	s->nodes[i].restart_at = 0;
	s->counts[C_RESTARTS]++;
	node_start(s, i, false);
}

static void node_down_for(struct sim *s, unsigned i, unsigned ms)
{
	s->nodes[i].restart_at = s->now + 1 + ms;
}

struct sim_change {
	struct raft_change req;
	struct sim *sim;
};

static void sim_change_cb(struct raft_change *req, int status)
{
	struct sim_change *c = req->data;
	if (status == 0)
		c->sim->counts[C_MEMBERSHIP]++;
	free(c);
}

/* A voter demoted to standby (keeping at least three voters) or a standby promoted back. */
static void sim_membership_change(struct sim *s)
{
	unsigned l = sim_any_leader(s), voters = 0;
	struct raft *r;
	const struct raft_server *target;
	struct sim_change *c;
	int role;

	if (l == s->n)
		return;
	r = s->nodes[l].raft;
	for (unsigned k = 0; k < r->configuration.n; k++)
		voters += r->configuration.servers[k].role == RAFT_VOTER;
	target = &r->configuration.servers[rng_below(&s->rng, r->configuration.n)];
	if (target->id == r->id)
		return;
	if (target->role == RAFT_VOTER && voters > 3)
		role = RAFT_STANDBY;
	else if (target->role != RAFT_VOTER)
		role = RAFT_VOTER;
	else
		return;
	c = calloc(1, sizeof *c);
	SIM_REQUIRE(c != NULL);
	c->sim = s;
	c->req.data = c;
	if (raft_assign(r, &c->req, target->id, role, sim_change_cb) != 0)
		free(c);
}

static unsigned sim_up_count(const struct sim *s)
{
	unsigned n = 0;
	for (unsigned i = 0; i < s->n; i++)
		n += s->nodes[i].raft != NULL;
	return n;
}

/* One random fault or repair. */
static void sim_fault(struct sim *s)
{
	unsigned i = rng_below(&s->rng, s->n), j = (i + 1 + rng_below(&s->rng, s->n - 1)) % s->n;
	struct sim_node *nd = &s->nodes[i];
	unsigned what = rng_below(&s->rng, 100);

	if (what < 12) {
		s->cut[i][j] = true;
	} else if (what < 24) {
		s->cut[i][j] = false;
	} else if (what < 28) {
		unsigned side = 1 + rng_below(&s->rng, (1u << s->n) - 2);
		for (unsigned a = 0; a < s->n; a++)
			for (unsigned b = 0; b < s->n; b++)
				s->cut[a][b] = a != b && ((side >> a) & 1) != ((side >> b) & 1);
	} else if (what < 34) {
		memset(s->cut, 0, sizeof s->cut);
	} else if (what < 40) {
		s->loss_permille = rng_below(&s->rng, 4) == 0 ? 0 : rng_below(&s->rng, 200);
		s->dup_permille = rng_below(&s->rng, 3) == 0 ? 0 : rng_below(&s->rng, 100);
	} else if (what < 46) {
		s->latency_ms = 1 + rng_below(&s->rng, 40);
		s->jitter_ms = rng_below(&s->rng, 80);
	} else if (what < 50) {
		nd->sio.disk_latency = rng_below(&s->rng, 60);
	} else if (what < 60) {
		if (nd->raft != NULL) { /* a process crash: the page cache survives */
			node_crash(s, i, false);
			node_down_for(s, i, rng_below(&s->rng, 3000));
		}
	} else if (what < 70) {
		if (nd->raft != NULL) { /* the machine loses power */
			node_crash(s, i, true);
			node_down_for(s, i, rng_below(&s->rng, 3000));
		}
	} else if (what < 72) {
		/* Every machine at once: a site-wide power cut. */
		s->counts[C_CLUSTER_POWER_LOSSES]++;
		for (unsigned k = 0; k < s->n; k++)
			if (s->nodes[k].raft != NULL) {
				node_crash(s, k, true);
				node_down_for(s, k, rng_below(&s->rng, 3000));
			}
	} else if (what < 80) {
		if (nd->raft != NULL) { /* dies inside the next apply's LMDB commit */
			nd->arm_apply_crash = true;
			nd->crash_power = rng_below(&s->rng, 2) == 0;
		}
	} else if (what < 86) {
		if (nd->raft != NULL && nd->sio.ops != NULL) {
			node_crash(s, i, rng_below(&s->rng, 2) == 0);
			node_down_for(s, i, rng_below(&s->rng, 3000));
		}
	} else if (what < 90) {
		if (nd->raft != NULL) {
			node_clean_stop(s, i);
			node_down_for(s, i, rng_below(&s->rng, 2000));
		}
	} else if (what < 94) {
		sim_membership_change(s);
	} else if (what < 96) {
		if (nd->raft != NULL)
			nd->io_error_next = true; /* its next log write fails */
	} else if (nd->raft != NULL && sim_up_count(s) == s->n) {
		/* A crash the moment the next snapshot write is queued (see sio_snapshot_put). */
		nd->crash_on_snapshot = true;
		nd->crash_power = rng_below(&s->rng, 2) == 0;
	}
}

/* Heals the network and brings every node back. */
static void sim_heal(struct sim *s)
{
	s->chaos = false;
	memset(s->cut, 0, sizeof s->cut);
	s->loss_permille = s->dup_permille = 0;
	s->latency_ms = 10;
	s->jitter_ms = 5;
	for (unsigned i = 0; i < s->n; i++) {
		s->nodes[i].arm_apply_crash = false;
		s->nodes[i].crash_on_snapshot = false;
		s->nodes[i].io_error_next = false;
		s->nodes[i].sio.disk_latency = 5;
		if (s->nodes[i].raft == NULL && s->failure == SIM_OK)
			node_restart(s, i);
	}
}

static bool sim_all_applied(struct sim *s, raft_index index)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->nodes[i].raft == NULL || raft_last_applied(s->nodes[i].raft) < index)
			return false;
	return true;
}

/* I4: after healing, a new write commits and every node applies it; the clients' writes in flight
 * are finished (retried until acknowledged). */
static bool sim_converge(struct sim *s)
{
	raft_time deadline = s->now + SIM_CONVERGE_MS;

	while (s->now < deadline && s->failure == SIM_OK) {
		bool busy = false;
		for (unsigned k = 0; k < SIM_SESSIONS; k++) {
			struct session *ss = &s->sessions[k];
			busy = busy || ss->busy;
			if (ss->busy && s->now >= ss->sent_at + SIM_RETRY_MS) {
				unsigned l = sim_any_leader(s);
				if (l < s->n)
					sim_write(s, k, l);
				else
					ss->sent_at = s->now;
			}
		}
		if (!busy) {
			unsigned l = sim_any_leader(s);
			if (l < s->n && raft_commit_index(s->nodes[l].raft) == raft_last_index(s->nodes[l].raft) &&
			    sim_all_applied(s, raft_last_index(s->nodes[l].raft)))
				return true;
		}
		sim_step(s);
	}
	if (s->failure == SIM_OK) {
		char nodes[256];
		size_t off = 0;
		for (unsigned i = 0; i < s->n && off < sizeof nodes; i++) {
			struct raft *r = s->nodes[i].raft;
			off += (size_t)snprintf(nodes + off, sizeof nodes - off, "%s%u:%s/t%llu/a%llu",
						i > 0 ? " " : "", i,
						r == NULL ? "down" : raft_state_name(raft_state(r)),
						r == NULL ? 0ull : (unsigned long long)raft_current_term(r),
						r == NULL ? 0ull : (unsigned long long)raft_last_applied(r));
		}
		sim_fail(s, SIM_NO_CONVERGENCE, "no convergence after healing (%s)", nodes);
	}
	return false;
}

/* The tickets of one customer on node i. */
static size_t sim_ticket_count(struct sim *s, unsigned i, const char *customer)
{
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	Callraft__TicketList list = CALLRAFT__TICKET_LIST__INIT;
	Callraft__Reply *rep;
	uint8_t *bytes;
	size_t len, n;

	req.version = CALLRAFT_PROTOCOL_VERSION;
	req.stale = true;
	req.op_case = CALLRAFT__REQUEST__OP_TICKET_LIST;
	req.ticket_list = &list;
	list.customer_id = (char *)customer;
	list.limit = 10;
	bytes = state_read(s->nodes[i].state, &req, &len);
	SIM_REQUIRE(bytes != NULL);
	rep = callraft__reply__unpack(NULL, len, bytes);
	SIM_REQUIRE(rep != NULL);
	SIM_REQUIRE(rep->code == CALLRAFT__CODE__OK);
	n = rep->n_tickets;
	callraft__reply__free_unpacked(rep, NULL);
	free(bytes);
	return n;
}

/* The end of a seed: I1, equal states, and I5 (every acknowledged write exactly once). */
static void sim_check_final(struct sim *s)
{
	uint64_t idx0, dig0;

	sim_check_records(s);
	if (s->failure != SIM_OK)
		return;
	for (unsigned i = 0; i < s->n; i++)
		(void)sim_node_digest(&s->nodes[i], true);
	idx0 = state_applied_index(s->nodes[0].state);
	dig0 = state_digest(s->nodes[0].state);
	for (unsigned i = 1; i < s->n; i++) {
		uint64_t idx = state_applied_index(s->nodes[i].state);
		if (idx != idx0)
			sim_fail(s, SIM_DIVERGED, "converged, but node %u is at applied index %" PRIu64
				 " and node 0 at %" PRIu64, i, idx, idx0);
		else if (state_digest(s->nodes[i].state) != dig0)
			sim_fail(s, SIM_DIVERGED, "nodes 0 and %u differ at applied index %" PRIu64, i,
				 idx);
	}
	for (unsigned i = 0; i < s->n; i++) {
		for (unsigned k = 0; k < SIM_SESSIONS; k++) {
			const struct session *ss = &s->sessions[k];
			for (uint64_t seq = 1; seq <= ss->seq; seq++) {
				char customer[32];
				size_t n;
				snprintf(customer, sizeof customer, "m%u-%" PRIu64, k, seq);
				n = sim_ticket_count(s, i, customer);
				if (ss->acked[seq] && n == 0)
					sim_fail(s, SIM_LOST, "node %u: acknowledged write %s is missing", i,
						 customer);
				else if (n > 1)
					sim_fail(s, SIM_DUPLICATED, "node %u: write %s applied %zu times", i,
						 customer, n);
			}
		}
	}
}

/* ------------------------------------------------------------------------------------------------
 * Seeds. */

/* The negative-control case sets this instead of CALLRAFT_SIM_BREAK. */
static const char *sim_break_override;

static struct sim *sim_create(unsigned n, uint64_t seed, const char *root)
{
	struct sim *s = calloc(1, sizeof *s);
	const char *brk = sim_break_override != NULL ? sim_break_override : getenv("CALLRAFT_SIM_BREAK");

	SIM_REQUIRE(s != NULL);
	s->n = n;
	s->seed = seed;
	s->rng = rng_seed(seed);
	snprintf(s->root, sizeof s->root, "%s", root);
	s->latency_ms = 10;
	s->jitter_ms = 5;
	s->break_early_ack = brk != NULL && strcmp(brk, "early-ack") == 0;
	s->break_boot_rule = brk != NULL && strcmp(brk, "no-boot-rule") == 0;
	simdisk_track(root);
	for (unsigned i = 0; i < n; i++) {
		struct sim_node *nd = &s->nodes[i];
		nd->sim = s;
		nd->i = i;
		snprintf(nd->data_dir, sizeof nd->data_dir, "%s/n%u", root, i);
		snprintf(nd->state_dir, sizeof nd->state_dir, "%s/n%u/state", root, i);
		snprintf(nd->prefix, sizeof nd->prefix, "%s/n%u/", root, i);
		SIM_REQUIRE(mkdir(nd->data_dir, 0700) == 0);
		nd->sio.sim = s;
		nd->sio.i = i;
		nd->sio.id = i + 1;
		snprintf(nd->sio.address, sizeof nd->sio.address, "%u", i + 1);
		nd->sio.disk_latency = 5;
		nd->sio.start = 1;
		sio_setup(s, i);
	}
	for (unsigned i = 0; i < n; i++)
		if (!node_start(s, i, true))
			sim_harness_fail(__FILE__, __LINE__, "node %u did not start", i);
	return s;
}

static void sim_destroy(struct sim *s)
{
	for (unsigned i = 0; i < s->n; i++) {
		if (s->nodes[i].raft != NULL)
			node_stop(s, i, false);
		sio_reset_durable(&s->nodes[i].sio);
		free(s->nodes[i].rec);
	}
	net_free_all(s);
	simdisk_reset();
	free(s->term_leader);
	free(s);
}

/* One seed in this process: returns its verdict. */
static struct sim_verdict sim_run_seed(uint64_t seed, const char *root, bool verbose)
{
	unsigned n = seed % 2 == 1 ? 3 : 5;
	struct sim *s = sim_create(n, seed, root);
	raft_time end, next_fault;
	struct sim_verdict v;

	s->verbose = verbose;
	if (!sim_register(s)) {
		sim_fail(s, SIM_NO_CONVERGENCE, "could not register sessions on a healthy cluster");
		goto out;
	}
	s->chaos = true;
	end = s->now + env_unsigned("CALLRAFT_SIM_DURATION_MS", SIM_DURATION_MS);
	next_fault = s->now + 500;
	while (s->now < end && s->failure == SIM_OK) {
		sim_step(s);
		if (s->now >= next_fault) {
			sim_fault(s);
			next_fault = s->now + 50 + rng_below(&s->rng, 1200);
		}
		sim_clients(s);
	}
	sim_check_records(s);
	if (s->failure == SIM_OK) {
		sim_heal(s);
		sim_converge(s);
	}
	if (s->failure == SIM_OK)
		sim_check_final(s);
out:
	memset(&v, 0, sizeof v);
	v.failure = (uint8_t)s->failure;
	memcpy(v.counts, s->counts, sizeof v.counts);
	if (verbose || s->failure != SIM_OK) {
		printf("seed %" PRIu64 ": %s%s%s (%u nodes, t=%llu ms, %" PRIu64 " acknowledged, %" PRIu64
		       " crashes, %" PRIu64 " power losses, %" PRIu64 " rebuilds, %" PRIu64 " installs)\n",
		       seed, failure_names[s->failure], s->failure != SIM_OK ? ": " : "", s->failmsg, n,
		       (unsigned long long)s->now, s->counts[C_ACKED], s->counts[C_CRASHES],
		       s->counts[C_POWER_LOSSES], s->counts[C_REBUILDS], s->counts[C_INSTALLS]);
	}
	fflush(stdout);
	if (sim_verdict_fd >= 0)
		SIM_REQUIRE(write(sim_verdict_fd, &v, sizeof v) == (ssize_t)sizeof v);
	sim_destroy(s);
	return v;
}

/* Runs one seed in a child process (a crash inside raft is reported against its seed). */
static struct sim_verdict sim_run_seed_isolated(uint64_t seed, bool verbose)
{
	char root[64];
	int fds[2];
	struct sim_verdict v;
	bool have;
	pid_t pid;
	int status;

	snprintf(root, sizeof root, "%s/callraft-simc-XXXXXX", sim_tmpdir());
	SIM_REQUIRE(mkdtemp(root) != NULL);
	SIM_REQUIRE(pipe(fds) == 0);
	fflush(NULL);
	pid = fork();
	SIM_REQUIRE(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		sim_verdict_fd = fds[1];
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		signal(SIGILL, SIG_DFL);
		signal(SIGFPE, SIG_DFL);
		sim_in_child = true;
		v = sim_run_seed(seed, root, verbose);
		fflush(NULL);
		_exit(v.failure);
	}
	close(fds[1]);
	SIM_REQUIRE(waitpid(pid, &status, 0) == pid);
	memset(&v, 0, sizeof v);
	have = read(fds[0], &v, sizeof v) == (ssize_t)sizeof v && v.failure < SIM_FAILURE_KINDS;
	close(fds[0]);
	rm_tree(root);
	if (WIFSIGNALED(status)) {
		printf("seed %" PRIu64 ": crashed %s: signal %d (%s)\n", seed,
		       have ? "in teardown" : "while running", WTERMSIG(status), strsignal(WTERMSIG(status)));
		if (!have || v.failure == SIM_OK)
			v.failure = SIM_CRASHED;
		return v;
	}
	if (!have || (WIFEXITED(status) && WEXITSTATUS(status) == SIM_EXIT_HARNESS)) {
		/* The child stopped before its verdict line: name the seed here. */
		printf("seed %" PRIu64 ": %s (exit status %d)\n", seed, failure_names[SIM_HARNESS],
		       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		v.failure = SIM_HARNESS;
	}
	return v;
}

/* Runs seeds first..first+n-1; prints the verdicts and the coverage counters. */
static void sim_run_seeds(unsigned first, unsigned n, unsigned kinds[SIM_FAILURE_KINDS],
			  uint64_t counts[C_COUNTS])
{
	bool verbose = env_unsigned("CALLRAFT_SIM_VERBOSE", 0) != 0;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned seed = first; seed < first + n; seed++) {
		struct sim_verdict v = sim_run_seed_isolated(seed, verbose);
		kinds[v.failure]++;
		for (int c = 0; c < C_COUNTS; c++)
			counts[c] += v.counts[c];
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("crash: %u/%u seeds passed (seeds %u..%u, %.1f s)", kinds[SIM_OK], n, first,
	       first + n - 1, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	for (int k = 1; k < SIM_FAILURE_KINDS; k++)
		if (kinds[k] > 0)
			printf("; %s: %u", failure_names[k], kinds[k]);
	printf("\ncrash: coverage:");
	for (int c = 0; c < C_COUNTS; c++)
		printf("%s %s %" PRIu64, c == 0 ? "" : ",", count_names[c], counts[c]);
	printf("\n");
	fflush(stdout);
}

/* For many seeds: crashes, power loss, torn writes and network faults while clients write; then
 * heal and check I1-I6. Every coverage counter the issue names must be non-zero over the default
 * seed count. */
static void crash_restart_many_seeds(void **state)
{
	unsigned first = env_unsigned("CALLRAFT_SIM_SEED_FIRST", 1);
	unsigned n = env_unsigned("CALLRAFT_SIM_SEEDS", SIM_SEEDS_DEFAULT);
	unsigned kinds[SIM_FAILURE_KINDS] = {0};
	uint64_t counts[C_COUNTS] = {0};

	(void)state;
	sim_run_seeds(first, n, kinds, counts);
	assert_int_equal(kinds[SIM_OK], n);
	if (n >= SIM_SEEDS_DEFAULT / 4)
		for (size_t k = 0; k < sizeof required_counts / sizeof required_counts[0]; k++) {
			if (counts[required_counts[k]] == 0)
				fail_msg("coverage: no %s in %u seeds", count_names[required_counts[k]], n);
		}
}

/* Seeds that once failed, each for a reason now fixed; they run in CI whatever the seed range.
 *   4192, 4316, 4602: a harness bug. A node stopped by an injected log write error (EIO) was crashed
 *   with an append still queued behind the failed one, and the crash tore that append onto the
 *   durable log: entries 401..403 persisted on a log ending at 398 (the sim io's check that an
 *   append lands where the durable log ends caught it). Nothing queued after a failed or lost
 *   write reaches the disk now, not even in part (node_crash).
 *   64632: a raft bug (raft-0.22.1-committed-configuration.patch). Followers got configuration entry
 *   419 second in a batch, recorded it as uncommitted at 418, and so never committed it: their
 *   snapshots kept the five-voter configuration. Node 0, restarted once 419 was compacted, counted
 *   two standbys as voters, was elected with its log at 474 while voters 1 and 2 had committed
 *   up to 510, and overwrote 475..: node 1 stopped on "conflicting terms 2 and 3 for entry 495".
 *   I6 now fails this seed at node 0's first stale snapshot (436).
 *   63838: the same patch, found by I6 once the first defect was fixed. Node 0 restarted with
 *   configuration entries 554 and 569 in its log, not yet applied, then received 583: raft committed
 *   only the latest of them, and took the snapshot at 591 while the events of 569 and 583 were
 *   still queued, so it carried configuration 554. */
static const unsigned regression_seeds[] = {4192, 4316, 4602, 63838, 64632};

static void crash_regression_seeds_pass(void **state)
{
	size_t n = sizeof regression_seeds / sizeof regression_seeds[0];

	(void)state;
	for (size_t k = 0; k < n; k++) {
		unsigned kinds[SIM_FAILURE_KINDS] = {0};
		uint64_t counts[C_COUNTS] = {0};
		sim_run_seeds(regression_seeds[k], 1, kinds, counts);
		if (kinds[SIM_OK] != 1)
			fail_msg("regression seed %u failed", regression_seeds[k]);
	}
}

/* Steps the cluster for `ms` of simulated time with the clients writing (no faults). */
static void sim_run_for(struct sim *s, raft_time ms)
{
	raft_time end = s->now + ms;
	while (s->now < end && s->failure == SIM_OK) {
		sim_step(s);
		sim_clients(s);
	}
}

/* A forged AppendEntries of the current term, from the leader's id, holding one entry of the given
 * term at prev + 1. */
static void sim_forge_append(struct sim *s, unsigned from, unsigned to, raft_index prev,
			     raft_term prev_term, raft_term entry_term)
{
	struct raft *r = s->nodes[to].raft;
	struct raft_message m;
	struct raft_entry e;
	uint8_t payload[8] = {0};

	memset(&m, 0, sizeof m);
	m.type = RAFT_APPEND_ENTRIES;
	m.server_id = s->nodes[from].sio.id;
	m.server_address = s->nodes[from].sio.address;
	m.append_entries.term = raft_current_term(r);
	m.append_entries.prev_log_index = prev;
	m.append_entries.prev_log_term = prev_term;
	m.append_entries.leader_commit = raft_commit_index(r);
	e.term = entry_term;
	e.type = RAFT_COMMAND;
	e.buf.base = payload;
	e.buf.len = sizeof payload;
	e.batch = NULL;
	m.append_entries.entries = entries_batch(&e, NULL, 1);
	m.append_entries.n_entries = 1;
	s->nodes[to].sio.recv_cb(&s->nodes[to].sio.io, &m);
}

/* What a faulty or forged peer can send a follower (deploy/raft-patches/
 * raft-0.22.1-fail-stop.patch; both crashed raft 0.22.1):
 *   1. an AppendEntries with prev_log_index 0 after the follower compacted its log: the entry is
 *      below its snapshot, so committed and already held: ignored (0.22.1 appended it after the end
 *      of its trail and corrupted the heap);
 *   2. an entry that conflicts with a committed one (index commit - 1, another term): the follower
 *      stops cleanly, RAFT_UNAVAILABLE with the reason in raft_errmsg (0.22.1 freed the entries
 *      twice, "free(): double free detected", then asserted).
 * The other nodes keep committing. */
static void forged_conflicting_entry_below_commit_fails_stop(void **state)
{
	char root[64];
	struct sim *s;
	unsigned l, f, g;
	struct raft *rf, *rg;
	struct sio *io;
	raft_index idx;
	raft_term local, forged;
	uint64_t acked;

	(void)state;
	snprintf(root, sizeof root, "%s/callraft-simc-XXXXXX", sim_tmpdir());
	assert_non_null(mkdtemp(root));
	s = sim_create(3, 7, root);
	s->allow_unavailable = true;
	assert_true(sim_register(s));
	sim_run_for(s, 3000);
	assert_int_equal(s->failure, SIM_OK);
	l = sim_any_leader(s);
	assert_true(l < s->n);
	f = (l + 1) % s->n;
	g = (l + 2) % s->n;
	rf = s->nodes[f].raft;
	rg = s->nodes[g].raft;

	/* 1. */
	assert_true(s->nodes[g].fsm.snapshots_taken > 0 || s->nodes[g].sio.snapshot != NULL);
	sim_forge_append(s, l, g, 0, 0, raft_current_term(rg));
	assert_int_equal(raft_state(rg), RAFT_FOLLOWER);

	/* 2. The entry before the commit index, from the follower's durable log. */
	io = &s->nodes[f].sio;
	idx = raft_commit_index(rf) - 1;
	assert_true(idx > io->start && idx < io->start + io->n_log);
	local = io->log[idx - io->start].term;
	forged = local < raft_current_term(rf) ? raft_current_term(rf) : local - 1;
	assert_true(forged >= 1 && forged != local);
	sim_forge_append(s, l, f, idx - 1, io->log[idx - 1 - io->start].term, forged);
	assert_int_equal(raft_state(rf), RAFT_UNAVAILABLE);
	printf("forged entry at %llu: node %u is %s: %s\n", (unsigned long long)idx, f,
	       raft_state(rf) == RAFT_UNAVAILABLE ? "unavailable" : "running", raft_errmsg(rf));
	assert_non_null(strstr(raft_errmsg(rf), "conflicts with a committed one"));

	acked = s->counts[C_ACKED];
	sim_run_for(s, 5000); /* the stopped node gets ticks and messages: it ignores them */
	assert_int_equal(raft_state(rf), RAFT_UNAVAILABLE);
	assert_true(s->counts[C_ACKED] > acked);
	sim_check_records(s);
	assert_int_equal(s->failure, SIM_OK);
	sim_destroy(s);
	rm_tree(root);
}

static unsigned sim_voters(const struct raft_configuration *c)
{
	unsigned v = 0;
	for (unsigned k = 0; k < c->n; k++)
		v += c->servers[k].role == RAFT_VOTER;
	return v;
}

/* Demotes server `target` to standby through leader l and runs until the change is committed
 * (the membership counter moves), at most 1 s. Returns the configuration entry's index. */
static raft_index sim_demote(struct sim *s, unsigned l, unsigned target)
{
	struct sim_change *c = calloc(1, sizeof *c);
	uint64_t before = s->counts[C_MEMBERSHIP];
	raft_index index = raft_last_index(s->nodes[l].raft) + 1;

	assert_non_null(c);
	c->sim = s;
	c->req.data = c;
	assert_int_equal(raft_assign(s->nodes[l].raft, &c->req, s->nodes[target].sio.id, RAFT_STANDBY,
				     sim_change_cb),
			 0);
	for (raft_time deadline = s->now + 1000; s->counts[C_MEMBERSHIP] == before && s->now < deadline;)
		sim_run_for(s, 1);
	assert_int_equal(s->counts[C_MEMBERSHIP], before + 1);
	return index;
}

/* A follower that receives a configuration change in the middle of a batch of entries commits it
 * (deploy/raft-patches/raft-0.22.1-committed-configuration.patch, its first defect). raft 0.22.1
 * recorded the entry under the index of the batch's first entry, so committing it never updated the
 * follower's committed configuration: its snapshots kept the old one, and once the entry was
 * compacted a restart loaded the old configuration, whose extra voters let it win an election it
 * should have lost (seed 64632). Scripted: cut a follower off, write, demote a voter, write, heal: the
 * follower catches up with the configuration entry inside the batch. I6 checks each snapshot it
 * takes; after the entry is compacted from its log, a clean restart must come back with the
 * leader's voters. */
static void follower_commits_configuration_inside_a_batch(void **state)
{
	char root[64];
	struct sim *s;
	unsigned l, f, t;
	struct raft *rl;
	raft_index cut_at, conf_index;
	raft_time deadline;

	(void)state;
	snprintf(root, sizeof root, "%s/callraft-simc-XXXXXX", sim_tmpdir());
	assert_non_null(mkdtemp(root));
	s = sim_create(5, 11, root);
	assert_true(sim_register(s));
	sim_run_for(s, 2000);
	assert_int_equal(s->failure, SIM_OK);
	l = sim_any_leader(s);
	assert_true(l < s->n);
	rl = s->nodes[l].raft;
	f = (l + 1) % s->n;
	t = (l + 2) % s->n;
	assert_int_equal(sim_voters(&rl->configuration), 5);

	/* Cut the follower off for a few entries only: it must catch up by entries (the
	 * configuration one among them), not by a snapshot install. */
	for (unsigned k = 0; k < s->n; k++)
		s->cut[k][f] = s->cut[f][k] = true;
	cut_at = raft_last_index(rl);
	for (deadline = s->now + 1000; raft_last_index(rl) == cut_at && s->now < deadline;)
		sim_run_for(s, 1);
	assert_int_equal(s->counts[C_MEMBERSHIP], 0);
	conf_index = sim_demote(s, l, t); /* committed by the leader and the two voters left */
	assert_int_equal(s->counts[C_MEMBERSHIP], 1);
	assert_true(raft_last_index(s->nodes[f].raft) < conf_index - 1);
	for (unsigned k = 0; k < s->n; k++)
		s->cut[k][f] = s->cut[f][k] = false;

	/* Enough writes for the follower's snapshots to compact the entry from its log (I6 is
	 * checked at each of them). */
	sim_run_for(s, 5000);
	if (s->failure != SIM_OK)
		printf("%s: %s\n", failure_names[s->failure], s->failmsg);
	assert_int_equal(s->failure, SIM_OK);
	assert_int_equal(sim_any_leader(s), l);
	assert_int_equal(s->counts[C_INSTALLS], 0);
	assert_non_null(s->nodes[f].sio.snapshot);
	assert_true(s->nodes[f].sio.start > conf_index);
	printf("configuration entry %llu: follower %u's snapshot %llu has configuration %llu\n",
	       (unsigned long long)conf_index, f, (unsigned long long)s->nodes[f].sio.snapshot->index,
	       (unsigned long long)s->nodes[f].sio.snapshot->configuration_index);
	assert_true(s->nodes[f].sio.snapshot->configuration_index >= conf_index);

	node_clean_stop(s, f);
	node_restart(s, f);
	assert_non_null(s->nodes[f].raft);
	assert_int_equal(sim_voters(&s->nodes[f].raft->configuration), 4);
	assert_int_equal(sim_voters(&s->nodes[f].raft->configuration),
			 sim_voters(&rl->configuration));
	sim_run_for(s, 2000);
	sim_check_records(s);
	assert_int_equal(s->failure, SIM_OK);
	sim_destroy(s);
	rm_tree(root);
}

/* A follower that applies several configuration entries at once, and takes a snapshot in that
 * pass, puts the last of them into the snapshot (raft-0.22.1-committed-configuration.patch, its
 * third defect: raft 0.22.1 handles each applied configuration entry as a queued event but took
 * the snapshot while handling the first, before the later ones were committed; seed 63838).
 * Scripted: once the follower is a few entries short of its next snapshot, cut it off while the
 * leader demotes two voters one after the other and writes a few more entries (fewer than the
 * trailing window, so the follower catches up by entries), then heal: the follower applies both
 * configuration entries and crosses its snapshot threshold in one pass. I6 checks the snapshot. */
static void follower_snapshot_after_several_configurations(void **state)
{
	char root[64];
	struct sim *s;
	unsigned l, f;
	struct raft *rl;
	struct sio *io;
	raft_index f_last, first, second;

	(void)state;
	snprintf(root, sizeof root, "%s/callraft-simc-XXXXXX", sim_tmpdir());
	assert_non_null(mkdtemp(root));
	s = sim_create(5, 13, root);
	assert_true(sim_register(s));
	sim_run_for(s, 2000);
	assert_int_equal(s->failure, SIM_OK);
	l = sim_any_leader(s);
	assert_true(l < s->n);
	rl = s->nodes[l].raft;
	f = (l + 1) % s->n;
	io = &s->nodes[f].sio;

	/* Wait until the follower is 6..8 entries short of its next snapshot, with nothing queued. */
	for (raft_time deadline = s->now + 5000; s->now < deadline; sim_run_for(s, 1)) {
		raft_index c = raft_commit_index(s->nodes[f].raft);
		raft_index snap = io->snapshot != NULL ? io->snapshot->index : 0;
		if (io->ops == NULL && c == raft_last_index(s->nodes[f].raft) &&
		    c - snap + 8 >= SIM_SNAPSHOT_THRESHOLD && c - snap + 6 <= SIM_SNAPSHOT_THRESHOLD)
			break;
	}
	for (unsigned k = 0; k < s->n; k++)
		s->cut[k][f] = s->cut[f][k] = true;
	f_last = raft_last_index(s->nodes[f].raft);
	first = sim_demote(s, l, (l + 2) % s->n);
	second = sim_demote(s, l, (l + 3) % s->n);
	assert_true(first > f_last + 1); /* neither is first in the follower's catch-up batch */
	for (raft_time deadline = s->now + 1000; raft_last_index(rl) < f_last + 10 && s->now < deadline;)
		sim_run_for(s, 1);
	assert_true(raft_last_index(rl) >= f_last + 10);
	assert_true(raft_last_index(rl) <= f_last + SIM_SNAPSHOT_TRAILING - 2);
	for (unsigned k = 0; k < s->n; k++)
		s->cut[k][f] = s->cut[f][k] = false;

	sim_run_for(s, 2000);
	if (s->failure != SIM_OK)
		printf("%s: %s\n", failure_names[s->failure], s->failmsg);
	assert_int_equal(s->failure, SIM_OK);
	assert_int_equal(s->counts[C_INSTALLS], 0);
	assert_non_null(io->snapshot);
	printf("configuration entries %llu and %llu: follower %u's snapshot %llu has configuration "
	       "%llu\n",
	       (unsigned long long)first, (unsigned long long)second, f,
	       (unsigned long long)io->snapshot->index,
	       (unsigned long long)io->snapshot->configuration_index);
	assert_true(io->snapshot->index >= second);
	assert_int_equal(io->snapshot->configuration_index, second);
	sim_check_records(s);
	assert_int_equal(s->failure, SIM_OK);
	sim_destroy(s);
	rm_tree(root);
}

/* Negative controls: the same run with a broken disk (appends acknowledged before they are
 * durable, as with eatmydata) and with the unclean-reboot rule skipped must fail seeds, or the
 * checks above could not see what they look for. */
static void crash_negative_controls_fail(void **state)
{
	static const char *const modes[] = {"early-ack", "no-boot-rule"};
	unsigned n = 10;

	(void)state;
	for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
		unsigned kinds[SIM_FAILURE_KINDS] = {0};
		uint64_t counts[C_COUNTS] = {0};
		printf("negative control CALLRAFT_SIM_BREAK=%s (failures expected):\n", modes[m]);
		sim_break_override = modes[m];
		sim_run_seeds(1, n, kinds, counts);
		sim_break_override = NULL;
		if (kinds[SIM_OK] == n)
			fail_msg("CALLRAFT_SIM_BREAK=%s: all %u seeds passed: the checks see nothing", modes[m],
				 n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crash_restart_many_seeds),
		cmocka_unit_test(crash_regression_seeds_pass),
		cmocka_unit_test(follower_commits_configuration_inside_a_batch),
		cmocka_unit_test(follower_snapshot_after_several_configurations),
		cmocka_unit_test(crash_negative_controls_fail),
		cmocka_unit_test(forged_conflicting_entry_below_commit_fails_stop),
	};
	const char *filter = getenv("CALLRAFT_SIM_FILTER");

	/* Every snapshot a node takes (one per SIM_SNAPSHOT_THRESHOLD entries) runs LMDB's compacting
	 * copy, which allocates and zeroes a 2 MiB buffer and frees it. glibc serves that from a fresh
	 * mmap each time (its dynamic threshold stays just below an aligned request of that size), so
	 * each snapshot paid for 512 page faults, the kernel zeroing the pages and a munmap: about a
	 * third of a seed's system time. Kept in the heap, the buffer is reused. Allocation only: no
	 * seed draws, checks or replays differently (the verdict lines are identical). */
	mallopt(M_MMAP_THRESHOLD, SIM_MALLOC_MMAP_BYTES);
	mallopt(M_TRIM_THRESHOLD, SIM_MALLOC_TRIM_BYTES);
	if (filter != NULL && *filter != '\0')
		cmocka_set_test_filter(filter);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
