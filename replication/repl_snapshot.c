/* repl_snapshot.c: snapshots off the loop.
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
 * When raft takes one (the threshold) is sized in repl_threshold.c.
 *
 * Raft takes one snapshot at a time, and puts an install that arrives meanwhile on hold until the
 * take completes, so no restore runs during the copy. A close waits for the copy: raft cannot be
 * closed under a request raft_uv does not know about yet. */
#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "repl_internal.h"

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

/* The copy thread: at a lower CPU priority than the loop (nice +CALLRAFT_SNAPSHOT_COPY_NICE), so that a
 * copy of a large state on a busy machine slows down rather than the nodes' answers. */
static void *snapshot_copy_main(void *arg)
{
	struct repl_snapshot_job *job = arg;
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), CALLRAFT_SNAPSHOT_COPY_NICE);
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
		if (r->cb.on_fatal != NULL)
			r->cb.on_fatal(r->cb.data, r->errmsg);
		abort(); /* on_fatal does not return; without one there is nothing safe to do */
	}
	if (status == 0) {
		r->snapshot_stats.count++;
		r->snapshot_stats.index = job->snapshot.index;
		r->snapshot_stats.bytes = STATE_IMAGE_HEADER_BYTES + job->image.data_len;
		r->snapshot_stats.copy_ms = job->copied_ms - job->started_ms;
		r->snapshot_stats.write_ms = mono_ms() - job->copied_ms;
		histogram_observe(&r->snapshot_stats.seconds,
				  (double)(r->snapshot_stats.copy_ms + r->snapshot_stats.write_ms) / 1e3);
		histogram_observe(&r->snapshot_stats.image_bytes, (double)r->snapshot_stats.bytes);
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
		if (r->cb.on_fatal != NULL)
			r->cb.on_fatal(r->cb.data, r->errmsg);
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

	if (fsm != &r->fsm)
		fsm = NULL;
	if (fsm == NULL) {
		if (trailing == 0)
			repl_snapcheck_install(r, snapshot);
		return r->uv_snapshot_put(io, trailing, req, snapshot, cb);
	}
	assert(r->snapshot_job == NULL);
	if (r->snapshot_requested) {
		r->snapshot_requested = false;
		raft_set_snapshot_threshold(&r->raft, r->snapshot_threshold);
	}
	job = malloc(sizeof *job);
	if (job == NULL)
		return RAFT_NOMEM;
	*job = (struct repl_snapshot_job){.r = r, .fsm = fsm, .trailing = trailing, .outer = req,
					  .outer_snapshot = snapshot, .outer_cb = cb,
					  .started_ms = mono_ms()};
	atomic_init(&job->copied, false);
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


/* On the loop (the monitor, before each loop iteration). */
void repl_snapshot_poll(struct repl *r)
{
	if (r->snapshot_job != NULL && atomic_load(&r->snapshot_job->copied))
		snapshot_copied(r);
}

void repl_snapshot_interpose(struct repl *r)
{
	r->uv_snapshot_put = r->io.snapshot_put;
	r->io.snapshot_put = snapshot_put;
	fsm_set_deferred_snapshots(&r->fsm, true);
}
