/* repl.c: see repl.h.
 *
 * Life of a node's Raft side:
 *   repl_init: transport (bind to our raft address) -> raft_uv (auto-recovery off) -> raft_init ->
 *     bootstrap if pristine and an initial member -> options.
 *   repl_start: raft_start (restores the last snapshot into the fsm and replays later entries);
 *     the monitor starts watching the role.
 *   monitor (before each loop iteration): role or term changed -> on_role; became leader -> a
 *     barrier of the new term; when it commits and we still lead in that term -> ready, on_ready.
 *   repl_close: raft_close -> raft_uv_close + raft_uv_tcp_close -> monitor closed -> close_cb.
 *   snapshots: raft asks the fsm for one on the loop; the fsm answers with a placeholder; our
 *     snapshot_put copies the state on a worker thread, then hands the image to raft_uv's.
 */
#include "repl.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void repl_raft_closed_cb(struct raft *raft);

struct repl_op {
	union {
		struct raft_apply apply;
		struct raft_barrier barrier;
		struct raft_change change;
		struct raft_transfer transfer;
	} req;
	struct repl *r;
	repl_done_cb cb;
	void *data;
	uint64_t index;
	uint64_t term; /* for the readiness barrier */
};

/* ------------------------------------------------------------------------------------------------
 * Transport: the stock TCP transport with TCP_NODELAY on every Raft connection.
 *
 * raft_uv_tcp leaves Nagle's algorithm on. Leader and follower exchange small messages back to
 * back (AppendEntries, its result, the next AppendEntries before the last one was acknowledged),
 * so Nagle holds a message until the peer's delayed ACK fires, up to 40 ms later: measured as a p99
 * of ~45 ms at 16 clients against a p50 of 1.4 ms (docs/bench.md). The wrapper delegates every
 * call to the stock transport and turns Nagle off on each stream it hands to raft_uv. */

struct nodelay_connect {
	struct raft_uv_connect inner;  /* the stock transport's request */
	struct raft_uv_connect *outer; /* raft_uv's request */
	raft_uv_connect_cb cb;
};

/* raft_uv keeps its own pointer in transport->data: find the repl from the embedded structs. */
static struct repl *repl_of_transport(struct raft_uv_transport *t)
{
	return (struct repl *)((char *)t - offsetof(struct repl, transport));
}

static struct repl *repl_of_tcp(struct raft_uv_transport *tcp)
{
	return (struct repl *)((char *)tcp - offsetof(struct repl, tcp));
}

static void nodelay_set(struct uv_stream_s *stream)
{
	/* A latency optimisation only: if it fails the connection still works. */
	if (stream != NULL && stream->type == UV_TCP)
		(void)uv_tcp_nodelay((uv_tcp_t *)stream, 1);
}

static int nodelay_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
	struct repl *r = repl_of_transport(t);
	int rv = r->tcp.init(&r->tcp, id, address);
	if (rv != 0)
		snprintf(t->errmsg, sizeof t->errmsg, "%s", r->tcp.errmsg);
	return rv;
}

static void nodelay_accept_cb(struct raft_uv_transport *tcp, raft_id id, const char *address,
			      struct uv_stream_s *stream)
{
	struct repl *r = repl_of_tcp(tcp);
	nodelay_set(stream);
	r->accept_cb(&r->transport, id, address, stream);
}

static int nodelay_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
	struct repl *r = repl_of_transport(t);
	r->accept_cb = cb;
	int rv = r->tcp.listen(&r->tcp, nodelay_accept_cb);
	if (rv != 0)
		snprintf(t->errmsg, sizeof t->errmsg, "%s", r->tcp.errmsg);
	return rv;
}

static void nodelay_connect_cb(struct raft_uv_connect *inner, struct uv_stream_s *stream,
			       int status)
{
	struct nodelay_connect *c = inner->data;
	struct raft_uv_connect *outer = c->outer;
	raft_uv_connect_cb cb = c->cb;
	free(c);
	if (status == 0)
		nodelay_set(stream);
	cb(outer, stream, status);
}

static int nodelay_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
			   const char *address, raft_uv_connect_cb cb)
{
	struct repl *r = repl_of_transport(t);
	struct nodelay_connect *c = malloc(sizeof *c);
	if (c == NULL) {
		snprintf(t->errmsg, sizeof t->errmsg, "connect: out of memory");
		return RAFT_NOMEM;
	}
	c->inner.data = c;
	c->outer = req;
	c->cb = cb;
	req->cb = cb; /* as the stock transport does for its caller's request */
	int rv = r->tcp.connect(&r->tcp, &c->inner, id, address, nodelay_connect_cb);
	if (rv != 0) {
		snprintf(t->errmsg, sizeof t->errmsg, "%s", r->tcp.errmsg);
		free(c);
	}
	return rv;
}

static void nodelay_close_cb(struct raft_uv_transport *tcp)
{
	struct repl *r = repl_of_tcp(tcp);
	if (r->transport_close_cb != NULL)
		r->transport_close_cb(&r->transport);
}

static void nodelay_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
	struct repl *r = repl_of_transport(t);
	r->transport_close_cb = cb;
	r->tcp.close(&r->tcp, nodelay_close_cb);
}

/* Sets up r->tcp (the stock transport, bound to `address`) and r->transport around it. */
/* ------------------------------------------------------------------------------------------------
 * Snapshots off the loop.
 *
 * raft 0.22.1's legacy layer calls fsm->snapshot on the loop thread and writes what it returns.
 * Copying a large LMDB environment there stalls the loop for seconds (a 237 MB state: longer than
 * the election timeout, and leadership moved). So the fsm returns a placeholder (deferred
 * snapshots), and raft_io's snapshot_put is interposed: for a placeholder, the state is copied on a
 * thread of its own at a lower CPU priority (LMDB lets a read transaction run there while the loop
 * writes); the monitor (before each loop iteration) collects the copy, and the image then goes to
 * raft_uv's snapshot_put with raft's metadata; its completion completes raft's request. Anything
 * else (a snapshot installed from the leader) goes straight to raft_uv.
 *
 * Every node reaches the threshold at about the same index; copying and writing a large state at
 * once on every node of a small machine hurts. So the sized threshold is staggered per node (up to
 * +7/16 by node id): nodes snapshot one after the other.
 *
 * Raft takes one snapshot at a time, and puts an install that arrives meanwhile on hold until the
 * take completes, so no restore runs during the copy. A close waits for the copy: raft cannot be
 * closed under a request raft_uv does not know about yet. */

#define REPL_SNAPSHOT_SIZING_BYTES (64ull << 20)
#define REPL_SNAPSHOT_NICE 10
#define REPL_SNAPSHOT_LOG_BYTES_MAX (256ull << 20)

struct repl_snapshot_job {
	pthread_t thread;
	atomic_bool copied; /* set by the copy thread when it is done; the monitor collects it */
	struct repl *r;
	struct fsm *fsm;
	unsigned trailing;
	struct raft_io_snapshot_put *outer; /* raft's request */
	const struct raft_snapshot *outer_snapshot; /* raft's (the placeholder): valid until outer_cb */
	raft_io_snapshot_put_cb outer_cb;
	struct raft_io_snapshot_put inner; /* ours, to raft_uv */
	struct raft_snapshot snapshot;     /* raft's metadata with the real image */
	struct raft_buffer bufs[2];
	struct state_image image;
	int rc;
	uint64_t started_ms, copied_ms;
	char errmsg[256];
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The copy thread: at a lower CPU priority than the loop (nice +REPL_SNAPSHOT_NICE), so that a
 * copy of a large state on a busy machine slows down rather than the nodes' answers. */
static void *snapshot_copy_main(void *arg)
{
	struct repl_snapshot_job *job = arg;
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), REPL_SNAPSHOT_NICE);
	job->rc = state_image_take(job->fsm->state, &job->image, job->errmsg, sizeof job->errmsg);
	atomic_store(&job->copied, true);
	return NULL;
}

static void snapshot_written_cb(struct raft_io_snapshot_put *inner, int status)
{
	struct repl_snapshot_job *job = inner->data;
	struct repl *r = job->r;
	struct raft_io_snapshot_put *outer = job->outer;
	raft_io_snapshot_put_cb outer_cb = job->outer_cb;

	if (status != 0 && status != RAFT_CANCELED) {
		/* raft's legacy layer takes only a cancellation (at close) as a failed take: anything
		 * else would be dropped silently and leave a held install waiting forever. A node
		 * that cannot write its snapshot has a disk fault: stop, as for any I/O failure. */
		snprintf(r->errmsg, sizeof r->errmsg, "raft: snapshot at %llu: write: %s",
			 (unsigned long long)job->snapshot.index, raft_strerror(status));
		state_image_release(&job->image);
		if (r->on_fatal != NULL)
			r->on_fatal(r->cb_data, r->errmsg);
		abort(); /* on_fatal does not return; without one there is nothing safe to do */
	}
	if (status == 0) {
		r->snapshot_stats.count++;
		r->snapshot_stats.index = job->snapshot.index;
		r->snapshot_stats.bytes = STATE_IMAGE_HEADER_BYTES + job->image.data_len;
		r->snapshot_stats.copy_ms = job->copied_ms - job->started_ms;
		r->snapshot_stats.write_ms = mono_ms() - job->copied_ms;
	}
	state_image_release(&job->image);
	free(job);
	outer_cb(outer, status);
}

/* On the loop (the monitor, before each loop iteration), once the copy thread is done. */
static void snapshot_copied(struct repl *r)
{
	struct repl_snapshot_job *job = r->snapshot_job;
	int rv;

	pthread_join(job->thread, NULL);
	r->snapshot_job = NULL;
	job->copied_ms = mono_ms();
	if (job->rc == 0) {
		job->bufs[0].base = job->image.header;
		job->bufs[0].len = STATE_IMAGE_HEADER_BYTES;
		job->bufs[1].base = job->image.data;
		job->bufs[1].len = job->image.data_len;
		job->snapshot = *job->outer_snapshot;
		job->snapshot.bufs = job->bufs;
		job->snapshot.n_bufs = 2;
		job->inner.data = job;
		rv = r->uv_snapshot_put(&r->io, job->trailing, &job->inner, &job->snapshot,
					snapshot_written_cb);
		if (rv != 0) {
			snprintf(job->errmsg, sizeof job->errmsg, "write: %s", r->io.errmsg);
			job->rc = -1;
		}
	}
	if (job->rc != 0) {
		/* raft's legacy layer accepts no failed take (it asserts the status is a cancellation),
		 * and a node that cannot copy or write its state has a disk or memory fault: stop, as
		 * for any I/O failure; the supervisor restarts the node, which replays its log. */
		snprintf(r->errmsg, sizeof r->errmsg, "raft: snapshot at %llu: %s",
			 (unsigned long long)job->outer_snapshot->index, job->errmsg);
		state_image_release(&job->image);
		if (r->on_fatal != NULL)
			r->on_fatal(r->cb_data, r->errmsg);
		abort(); /* on_fatal does not return; without one there is nothing safe to do */
	}
	if (r->close_pending) {
		r->close_pending = false;
		raft_close(&r->raft, repl_raft_closed_cb);
	}
}

static int snapshot_put(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
			const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
	struct repl *r = (struct repl *)((char *)io - offsetof(struct repl, io));
	/* Only a take (trailing > 0) can carry our placeholder: an install's bytes come from a peer
	 * and are never taken for one, whatever they hold. */
	struct fsm *fsm = trailing > 0 ? fsm_deferred_snapshot_of(snapshot) : NULL;
	struct repl_snapshot_job *job;
	int rv;

	if (fsm != r->fsm)
		fsm = NULL;
	if (fsm == NULL)
		return r->uv_snapshot_put(io, trailing, req, snapshot, cb);
	assert(r->snapshot_job == NULL);
	if (r->snapshot_requested) {
		r->snapshot_requested = false;
		raft_set_snapshot_threshold(&r->raft, r->snapshot_threshold);
	}
	job = calloc(1, sizeof *job);
	if (job == NULL)
		return RAFT_NOMEM;
	job->r = r;
	job->fsm = fsm;
	job->trailing = trailing;
	job->outer = req;
	job->outer_snapshot = snapshot;
	job->outer_cb = cb;
	atomic_init(&job->copied, false);
	job->started_ms = mono_ms();
	rv = pthread_create(&job->thread, NULL, snapshot_copy_main, job);
	if (rv != 0) {
		free(job);
		snprintf(io->errmsg, sizeof io->errmsg, "snapshot: start the copy thread: %s",
			 strerror(rv));
		return RAFT_IOERR;
	}
	r->snapshot_job = job;
	return 0;
}

int repl_snapshot_soon(struct repl *r)
{
	if (r->snapshot_job != NULL) {
		snprintf(r->errmsg, sizeof r->errmsg, "a snapshot is being taken already: retry later");
		return -1;
	}
	r->snapshot_requested = true;
	raft_set_snapshot_threshold(&r->raft, 1);
	return 0;
}

/* ------------------------------------------------------------------------------------------------
 * At most one InstallSnapshot in flight per member.
 *
 * Each InstallSnapshot carries the whole state (1.6 GB with a million calls and a million
 * tickets), loaded from disk for that one message. If raft decides to send another before the
 * last one has left (its install_snapshot_timeout is shorter than a transfer across cities, or an
 * abort), a second copy would be loaded and queued behind the first on the same connection: the
 * memory of a copy per retry. A duplicate is therefore completed at once without being sent: the
 * copy in flight is as new or newer than what raft knows the member has, and raft's own timeout
 * sends again if that one is lost. */

struct install_send {
	struct raft_io_send inner;
	struct raft_io_send *outer;
	raft_io_send_cb cb;
	struct repl *r;
	size_t slot;
};

static void install_sent_cb(struct raft_io_send *inner, int status)
{
	struct install_send *is = inner->data;
	struct raft_io_send *outer = is->outer;
	raft_io_send_cb cb = is->cb;

	is->r->installs_in_flight[is->slot] = 0;
	free(is);
	cb(outer, status);
}

static int install_send(struct raft_io *io, struct raft_io_send *req,
			const struct raft_message *message, raft_io_send_cb cb)
{
	struct repl *r = (struct repl *)((char *)io - offsetof(struct repl, io));
	const size_t n = sizeof r->installs_in_flight / sizeof r->installs_in_flight[0];
	size_t free_slot = n;
	struct install_send *is;
	int rv;

	if (message->type != RAFT_INSTALL_SNAPSHOT)
		return r->uv_send(io, req, message, cb);
	for (size_t i = 0; i < n; i++) {
		if (r->installs_in_flight[i] == message->server_id) {
			r->installs_dropped++;
			cb(req, 0); /* raft's callback only frees the message (legacy.c) */
			return 0;
		}
		if (r->installs_in_flight[i] == 0 && free_slot == n)
			free_slot = i;
	}
	if (free_slot == n || (is = calloc(1, sizeof *is)) == NULL)
		return r->uv_send(io, req, message, cb); /* untracked: still correct */
	is->outer = req;
	is->cb = cb;
	is->r = r;
	is->slot = free_slot;
	is->inner.data = is;
	r->installs_in_flight[free_slot] = message->server_id;
	rv = r->uv_send(io, &is->inner, message, install_sent_cb);
	if (rv != 0) {
		r->installs_in_flight[free_slot] = 0;
		free(is);
	}
	return rv;
}

void repl_size_snapshot_threshold(struct repl *r, uint64_t state_bytes)
{
	const struct fsm *f = r->fsm;
	uint64_t per_entry, want;

	if (r->snapshot_requested)
		return; /* keeps threshold 1 until the requested snapshot starts */
	if (f->entries_applied < 64)
		return; /* no measure of entry size yet */
	/* Entry size: the larger of the lifetime average and the average since the last call, so
	 * that a burst of large batches (a bulk import) is not hidden by a history of small ones. */
	per_entry = f->bytes_applied / f->entries_applied;
	if (f->entries_applied - r->sized_entries >= 64) {
		uint64_t recent = (f->bytes_applied - r->sized_bytes) /
				  (f->entries_applied - r->sized_entries);
		if (recent > per_entry)
			per_entry = recent;
		r->sized_entries = f->entries_applied;
		r->sized_bytes = f->bytes_applied;
	}
	if (per_entry < 64)
		per_entry = 64;
	/* A state under REPL_SNAPSHOT_SIZING_BYTES copies in well under 100 ms: the configured
	 * threshold alone. Above, the log between snapshots grows with the state. */
	want = state_bytes < REPL_SNAPSHOT_SIZING_BYTES ? 0 : state_bytes / 2 / per_entry;
	/* raft keeps the log since the last snapshot, plus the trailing entries, in memory: bound it
	 * in bytes. */
	if (want > REPL_SNAPSHOT_LOG_BYTES_MAX / per_entry)
		want = REPL_SNAPSHOT_LOG_BYTES_MAX / per_entry;
	if (want < r->snapshot_threshold_min)
		want = r->snapshot_threshold_min;
	else
		want += want * (r->raft.id % 8) / 16; /* staggered (see above) */
	/* Move only on a real change (a quarter), not on every tick. */
	if (want * 4 < (uint64_t)r->snapshot_threshold * 3 ||
	    want * 4 > (uint64_t)r->snapshot_threshold * 5) {
		r->snapshot_threshold = (unsigned)want;
		raft_set_snapshot_threshold(&r->raft, r->snapshot_threshold);
		/* As many entries kept behind a snapshot: a follower that far behind (a restart, a
		 * cut link) catches up from the log, not with a copy of the whole state. */
		raft_set_snapshot_trailing(&r->raft, r->snapshot_threshold > r->snapshot_trailing_min
							 ? r->snapshot_threshold
							 : r->snapshot_trailing_min);
	}
}

static int transport_init(struct repl *r, uv_loop_t *loop, const char *address)
{
	int rv;
	r->tcp.version = 1; /* 0.16+: the struct version must be set */
	rv = raft_uv_tcp_init(&r->tcp, loop);
	if (rv != 0) {
		snprintf(r->errmsg, sizeof r->errmsg, "raft: transport: %s", raft_strerror(rv));
		return -1;
	}
	rv = raft_uv_tcp_set_bind_address(&r->tcp, address);
	if (rv != 0) {
		snprintf(r->errmsg, sizeof r->errmsg, "raft: bind address '%s': %s", address,
			 raft_strerror(rv));
		raft_uv_tcp_close(&r->tcp);
		return -1;
	}
	r->transport.version = 1;
	r->transport.init = nodelay_init;
	r->transport.listen = nodelay_listen;
	r->transport.connect = nodelay_connect;
	r->transport.close = nodelay_close;
	return 0;
}

static struct repl_op *op_new(struct repl *r, repl_done_cb cb, void *data)
{
	struct repl_op *op = calloc(1, sizeof *op);
	if (op == NULL)
		return NULL;
	op->r = r;
	op->cb = cb;
	op->data = data;
	return op;
}

static void ready_barrier_cb(struct raft_barrier *req, int status)
{
	struct repl_op *op = req->data;
	struct repl *r = op->r;

	if (status == 0 && !r->closing && raft_state(&r->raft) == RAFT_LEADER &&
	    raft_current_term(&r->raft) == op->term) {
		r->ready = true;
		if (r->on_ready != NULL)
			r->on_ready(r->cb_data, op->term);
	}
	free(op);
}

static void start_ready_barrier(struct repl *r)
{
	struct repl_op *op = op_new(r, NULL, NULL);
	if (op == NULL)
		return; /* retried at the next role check: ready stays false */
	op->term = raft_current_term(&r->raft);
	op->req.barrier.data = op;
	if (raft_barrier(&r->raft, &op->req.barrier, ready_barrier_cb) != 0)
		free(op);
}

static void monitor_cb(uv_prepare_t *handle)
{
	struct repl *r = handle->data;
	int st;
	uint64_t term;

	if (r->snapshot_job != NULL && atomic_load(&r->snapshot_job->copied))
		snapshot_copied(r);
	if (r->closing)
		return;
	st = raft_state(&r->raft);
	term = raft_current_term(&r->raft);
	if (st == RAFT_UNAVAILABLE && r->last_state != RAFT_UNAVAILABLE) {
		r->last_state = st;
		snprintf(r->errmsg, sizeof r->errmsg, "raft: unavailable (I/O failure): %s",
			 raft_errmsg(&r->raft));
		if (r->on_fatal != NULL)
			r->on_fatal(r->cb_data, r->errmsg);
		return;
	}
	if (st == r->last_state && term == r->last_term)
		return;
	int old = r->last_state;
	r->last_state = st;
	r->last_term = term;
	r->ready = false;
	if (st == RAFT_LEADER)
		start_ready_barrier(r);
	if (r->on_role != NULL)
		r->on_role(r->cb_data, old, st, term);
}

static int make_dir(const char *dir, char *errmsg, size_t len)
{
	if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
		snprintf(errmsg, len, "raft: mkdir '%s': %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int repl_bootstrap(struct repl *r, const struct repl_config *cfg)
{
	struct raft_configuration conf;
	bool member = false;
	int rv;

	for (unsigned i = 0; i < cfg->n_initial; i++)
		member = member || cfg->initial[i].id == cfg->id;
	if (!member)
		return 0; /* a new member: starts empty, brought in with `members add` */
	raft_configuration_init(&conf);
	for (unsigned i = 0; i < cfg->n_initial; i++) {
		rv = raft_configuration_add(&conf, cfg->initial[i].id, cfg->initial[i].raft_address,
					    RAFT_VOTER);
		if (rv != 0) {
			snprintf(r->errmsg, sizeof r->errmsg, "raft: initial member %llu '%s': %s",
				 (unsigned long long)cfg->initial[i].id, cfg->initial[i].raft_address,
				 raft_strerror(rv));
			raft_configuration_close(&conf);
			return -1;
		}
	}
	rv = raft_bootstrap(&r->raft, &conf);
	raft_configuration_close(&conf);
	if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
		snprintf(r->errmsg, sizeof r->errmsg, "raft: bootstrap: %s", raft_errmsg(&r->raft));
		return -1;
	}
	return 0;
}

int repl_init(struct repl *r, uv_loop_t *loop, struct fsm *fsm, const struct repl_config *cfg)
{
	int rv;

	memset(r, 0, sizeof *r);
	r->loop = loop;
	r->fsm = fsm;
	r->last_state = -1;
	if (make_dir(cfg->dir, r->errmsg, sizeof r->errmsg) != 0)
		return -1;
	if (transport_init(r, loop, cfg->raft_address) != 0)
		return -1;
	rv = raft_uv_init(&r->io, loop, cfg->dir, &r->transport);
	if (rv != 0) {
		snprintf(r->errmsg, sizeof r->errmsg, "raft: io '%s': %s", cfg->dir, r->io.errmsg);
		goto err_transport;
	}
	/* Auto-recovery silently drops corrupt log tails, even acknowledged entries: a node with a
	 * corrupt log must refuse to start instead (it is then wiped and re-added with a new id). */
	raft_uv_set_auto_recovery(&r->io, false);
	r->uv_snapshot_put = r->io.snapshot_put;
	r->io.snapshot_put = snapshot_put;
	r->uv_send = r->io.send;
	r->io.send = install_send;
	fsm_set_deferred_snapshots(fsm, true);
	rv = raft_init(&r->raft, &r->io, &fsm->base, cfg->id, cfg->raft_address);
	if (rv != 0) {
		snprintf(r->errmsg, sizeof r->errmsg, "raft: init: %s", raft_errmsg(&r->raft));
		goto err_io;
	}
	fsm_set_raft(fsm, &r->raft);
	if (repl_bootstrap(r, cfg) != 0)
		goto err_raft;
	raft_set_heartbeat_timeout(&r->raft, cfg->heartbeat_timeout_ms);
	raft_set_election_timeout(&r->raft, cfg->election_timeout_ms);
	raft_set_pre_vote(&r->raft, true);
	raft_set_snapshot_threshold(&r->raft, cfg->snapshot_threshold);
	r->snapshot_threshold_min = r->snapshot_threshold = cfg->snapshot_threshold;
	r->snapshot_trailing_min = cfg->snapshot_trailing;
	raft_set_snapshot_trailing(&r->raft, cfg->snapshot_trailing);
	raft_set_install_snapshot_timeout(&r->raft, cfg->install_snapshot_timeout_ms);
	/* Catch-up of a joining node across cities: generous rounds. */
	raft_set_max_catch_up_rounds(&r->raft, 100);
	raft_set_max_catch_up_round_duration(&r->raft, 10 * cfg->election_timeout_ms);
	return 0;

err_raft:
	/* raft_init succeeded: raft owns io/transport from here; close them through raft_close.
	 * Running the loop is the caller's duty; we close synchronously best-effort. */
	r->closing = true;
	raft_close(&r->raft, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	raft_uv_close(&r->io);
	raft_uv_tcp_close(&r->tcp);
	uv_run(loop, UV_RUN_DEFAULT);
	return -1;
err_io:
	raft_uv_close(&r->io);
err_transport:
	raft_uv_tcp_close(&r->tcp);
	uv_run(loop, UV_RUN_DEFAULT);
	return -1;
}

void repl_set_callbacks(struct repl *r, repl_role_cb role, repl_ready_cb ready, repl_fatal_cb fatal,
			void *data)
{
	r->on_role = role;
	r->on_ready = ready;
	r->on_fatal = fatal;
	r->cb_data = data;
}

int repl_start(struct repl *r)
{
	int rv = raft_start(&r->raft);
	if (rv != 0) {
		snprintf(r->errmsg, sizeof r->errmsg, "raft: start: %s", raft_errmsg(&r->raft));
		return -1;
	}
	uv_prepare_init(r->loop, &r->monitor);
	r->monitor_started = true;
	r->monitor.data = r;
	uv_prepare_start(&r->monitor, monitor_cb);
	return 0;
}

static void monitor_close_cb(uv_handle_t *h)
{
	struct repl *r = h->data;
	if (r->close_cb != NULL)
		r->close_cb(r);
}

static void repl_raft_closed_cb(struct raft *raft)
{
	struct repl *r = (struct repl *)((char *)raft - offsetof(struct repl, raft));
	raft_uv_close(&r->io);
	raft_uv_tcp_close(&r->tcp);
	if (r->monitor_started)
		uv_close((uv_handle_t *)&r->monitor, monitor_close_cb);
	else if (r->close_cb != NULL)
		r->close_cb(r);
}

void repl_close(struct repl *r, void (*cb)(struct repl *))
{
	r->closing = true;
	r->close_cb = cb;
	if (r->snapshot_job != NULL) {
		r->close_pending = true; /* the monitor collects the copy, then snapshot_copied closes */
		return;
	}
	if (r->monitor_started)
		uv_prepare_stop(&r->monitor);
	raft_close(&r->raft, repl_raft_closed_cb);
}

bool repl_is_leader(struct repl *r)
{
	return !r->closing && raft_state(&r->raft) == RAFT_LEADER;
}

bool repl_is_ready(struct repl *r)
{
	return repl_is_leader(r) && r->ready && raft_current_term(&r->raft) == r->last_term;
}

uint64_t repl_leader(struct repl *r, const char **raft_address)
{
	raft_id id = 0;
	const char *addr = NULL;
	raft_leader(&r->raft, &id, &addr);
	if (raft_address != NULL)
		*raft_address = addr;
	return id;
}

uint64_t repl_term(struct repl *r)
{
	return raft_current_term(&r->raft);
}

uint64_t repl_commit_index(struct repl *r)
{
	return raft_commit_index(&r->raft);
}

uint64_t repl_last_applied(struct repl *r)
{
	return raft_last_applied(&r->raft);
}

uint64_t repl_last_index(struct repl *r)
{
	return raft_last_index(&r->raft);
}

int repl_match_index(struct repl *r, uint64_t id, uint64_t *index)
{
	raft_index i = 0;
	if (!repl_is_leader(r) || raft_match_index(&r->raft, id, &i) != 0)
		return -1;
	*index = i;
	return 0;
}

const char *repl_state_name(struct repl *r)
{
	return raft_state_name(raft_state(&r->raft));
}

int repl_role_of(struct repl *r, uint64_t id, const char **raft_address)
{
	const struct raft_configuration *c = &r->raft.configuration;
	for (unsigned i = 0; i < c->n; i++) {
		if (c->servers[i].id == id) {
			if (raft_address != NULL)
				*raft_address = c->servers[i].address;
			return c->servers[i].role;
		}
	}
	return -1;
}

unsigned repl_configuration(struct repl *r, uint64_t *ids, int *roles, const char **addresses,
			    unsigned max)
{
	const struct raft_configuration *c = &r->raft.configuration;
	unsigned n = 0;
	for (unsigned i = 0; i < c->n && n < max; i++, n++) {
		ids[n] = c->servers[i].id;
		roles[n] = c->servers[i].role;
		addresses[n] = c->servers[i].address;
	}
	return n;
}

void *repl_buf_alloc(size_t len)
{
	return raft_malloc(len == 0 ? 1 : len);
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
	struct repl_op *op = req->data;
	(void)result; /* replies travel through fsm's on_applied, never through result */
	if (op->cb != NULL)
		op->cb(op->data, status, op->index);
	free(op);
}

int repl_propose(struct repl *r, void *buf, size_t len, repl_done_cb cb, void *data,
		 uint64_t *index_out)
{
	struct raft_buffer b = {.base = buf, .len = len};
	struct repl_op *op = op_new(r, cb, data);
	int rv;

	if (op == NULL) {
		raft_free(buf);
		return RAFT_NOMEM;
	}
	op->req.apply.data = op;
	rv = raft_apply(&r->raft, &op->req.apply, &b, 1, apply_cb);
	if (rv != 0) {
		snprintf(r->errmsg, sizeof r->errmsg, "raft: apply: %s", raft_strerror(rv));
		/* raft 0.22's legacy layer copies the entry and frees our buffer before it appends;
		 * only the early leadership checks return with the buffer still ours. */
		if (rv == RAFT_NOTLEADER)
			raft_free(buf);
		free(op);
		return rv;
	}
	op->index = op->req.apply.index;
	if (index_out != NULL)
		*index_out = op->index;
	return 0;
}

static void barrier_cb(struct raft_barrier *req, int status)
{
	struct repl_op *op = req->data;
	if (op->cb != NULL)
		op->cb(op->data, status, 0);
	free(op);
}

int repl_barrier(struct repl *r, repl_done_cb cb, void *data)
{
	struct repl_op *op = op_new(r, cb, data);
	int rv;
	if (op == NULL)
		return RAFT_NOMEM;
	op->req.barrier.data = op;
	rv = raft_barrier(&r->raft, &op->req.barrier, barrier_cb);
	if (rv != 0) {
		snprintf(r->errmsg, sizeof r->errmsg, "raft: barrier: %s", raft_strerror(rv));
		free(op);
	}
	return rv;
}

static void change_cb(struct raft_change *req, int status)
{
	struct repl_op *op = req->data;
	if (op->cb != NULL)
		op->cb(op->data, status, 0);
	free(op);
}

/* Runs one membership change; `kind` 0 add, 1 assign, 2 remove. */
static int repl_change(struct repl *r, int kind, uint64_t id, const char *address, int role,
		       repl_done_cb cb, void *data)
{
	struct repl_op *op = op_new(r, cb, data);
	int rv;
	if (op == NULL)
		return RAFT_NOMEM;
	op->req.change.data = op;
	if (kind == 0)
		rv = raft_add(&r->raft, &op->req.change, id, address, change_cb);
	else if (kind == 1)
		rv = raft_assign(&r->raft, &op->req.change, id, role, change_cb);
	else
		rv = raft_remove(&r->raft, &op->req.change, id, change_cb);
	if (rv != 0) {
		snprintf(r->errmsg, sizeof r->errmsg, "raft: membership change of %llu: %s",
			 (unsigned long long)id, raft_errmsg(&r->raft)[0] ? raft_errmsg(&r->raft)
									   : raft_strerror(rv));
		free(op);
	}
	return rv;
}

int repl_add(struct repl *r, uint64_t id, const char *raft_address, repl_done_cb cb, void *data)
{
	return repl_change(r, 0, id, raft_address, 0, cb, data);
}

int repl_assign(struct repl *r, uint64_t id, int role, repl_done_cb cb, void *data)
{
	return repl_change(r, 1, id, NULL, role, cb, data);
}

int repl_remove(struct repl *r, uint64_t id, repl_done_cb cb, void *data)
{
	return repl_change(r, 2, id, NULL, 0, cb, data);
}

static void transfer_cb(struct raft_transfer *req)
{
	struct repl_op *op = req->data;
	struct repl *r = op->r;
	/* A transfer can fail silently: report whether someone else leads now. */
	int status = raft_state(&r->raft) == RAFT_LEADER ? RAFT_NOTLEADER : 0;
	if (op->cb != NULL)
		op->cb(op->data, status, 0);
	free(op);
}

int repl_transfer(struct repl *r, uint64_t id, repl_done_cb cb, void *data)
{
	struct repl_op *op = op_new(r, cb, data);
	int rv;
	if (op == NULL)
		return RAFT_NOMEM;
	op->req.transfer.data = op;
	rv = raft_transfer(&r->raft, &op->req.transfer, id, transfer_cb);
	if (rv != 0) {
		snprintf(r->errmsg, sizeof r->errmsg, "raft: transfer to %llu: %s",
			 (unsigned long long)id, raft_strerror(rv));
		free(op);
	}
	return rv;
}
