/* repl.h: the Raft side of a node: raft_uv I/O over TCP, bootstrap and join, proposals, barriers,
 * membership changes and leadership transfer. The only module of the daemon that calls raft_*.
 *
 * Role watching: the legacy API has no state callback, so a uv_prepare handle compares raft_state()
 * and the term before every loop iteration and calls `on_role` on a change. A new leader becomes
 * *ready* (may serve linearizable reads) only once a barrier of its own term has committed.
 *
 * Errors: functions return 0 or a raft error code (RAFT_NOTLEADER, RAFT_CANTCHANGE, ...); the text
 * is in repl->errmsg. An I/O failure of raft (state RAFT_UNAVAILABLE) is reported through `on_fatal`. */
#ifndef CALLRAFT_REPL_H
#define CALLRAFT_REPL_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "fsm.h"

struct repl_member {
	uint64_t id;
	const char *raft_address;
};

struct repl_config {
	uint64_t id;
	const char *raft_address;   /* this node's, "host:port" (IPv4 literal or name) */
	const char *dir;            /* raft's directory (created if missing) */
	unsigned heartbeat_timeout_ms;
	unsigned election_timeout_ms;
	unsigned snapshot_threshold;
	unsigned snapshot_trailing;
	unsigned install_snapshot_timeout_ms;
	/* Initial members: a pristine node whose id is among them bootstraps with all of them as voters;
	 * any other pristine node starts empty and waits to be added. */
	const struct repl_member *initial;
	unsigned n_initial;
};

struct repl;
typedef void (*repl_role_cb)(void *data, int old_state, int new_state, uint64_t term);
typedef void (*repl_ready_cb)(void *data, uint64_t term);
typedef void (*repl_fatal_cb)(void *data, const char *message);
/* Completion of a proposal, barrier or membership change: status 0 or a raft error code. */
typedef void (*repl_done_cb)(void *data, int status, uint64_t index);

struct repl {
	uv_loop_t *loop;
	struct raft raft;
	struct raft_io io;
	struct raft_uv_transport transport; /* what raft_uv uses: tcp with TCP_NODELAY (repl.c) */
	struct raft_uv_transport tcp;       /* the stock TCP transport it delegates to */
	raft_uv_accept_cb accept_cb;        /* raft_uv's, called through the wrapper */
	raft_uv_transport_close_cb transport_close_cb;
	struct fsm *fsm;
	uv_prepare_t monitor;
	bool monitor_started;
	int last_state;
	uint64_t last_term;
	bool ready;            /* leader and a barrier of this term has committed */
	bool closing;
	repl_role_cb on_role;
	repl_ready_cb on_ready;
	repl_fatal_cb on_fatal;
	void *cb_data;
	void (*close_cb)(struct repl *);
	/* Snapshots off the loop (repl.c): raft_uv's own snapshot_put, the copy in progress, and a
	 * close waiting for it. */
	int (*uv_snapshot_put)(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
			       const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb);
	struct repl_snapshot_job *snapshot_job;
	int (*uv_send)(struct raft_io *io, struct raft_io_send *req, const struct raft_message *message,
		       raft_io_send_cb cb);
	uint64_t installs_in_flight[CALLRAFT_MEMBERS_MAX]; /* members an install is going to */
	uint64_t installs_dropped;           /* duplicates not sent (repl.c, install_send) */
	bool close_pending;
	unsigned snapshot_threshold_min; /* the configured threshold: the floor of the sized one */
	unsigned snapshot_threshold;     /* the one in force */
	unsigned snapshot_trailing_min;  /* the configured trailing */
	uint64_t sized_entries, sized_bytes; /* fsm counters at the last sizing */
	bool snapshot_requested;         /* repl_snapshot_soon: threshold 1 until a take starts */
	struct repl_snapshot_stats {
		uint64_t count;     /* snapshots written by this process */
		uint64_t index;     /* the last one's index */
		uint64_t bytes;     /* its image size */
		uint64_t copy_ms;   /* the copy, on a worker thread */
		uint64_t write_ms;  /* raft_uv writing it */
	} snapshot_stats;
	char errmsg[256];
};

/* Initialises raft over `loop` with the fsm (which must be initialised over an open state).
 * Bootstraps a pristine node that is an initial member. Returns 0 or -1 with errmsg. */
int repl_init(struct repl *r, uv_loop_t *loop, struct fsm *fsm, const struct repl_config *cfg);
void repl_set_callbacks(struct repl *r, repl_role_cb role, repl_ready_cb ready, repl_fatal_cb fatal,
			void *data);
int repl_start(struct repl *r);
/* Sizes raft's snapshot threshold to the state: at least the configured threshold and, once the
 * state passes 64 MB, as many entries as make up about half the state's bytes (at most 256 MB of
 * log, which raft holds in memory), so that a large state is not copied every few thousand
 * entries; trailing follows the threshold. Call now and then (the node does on its tick). */
void repl_size_snapshot_threshold(struct repl *r, uint64_t state_bytes);
/* Takes a snapshot at the next committed entry (on this node), then goes back to the sized
 * threshold. Returns 0, or -1 with errmsg if one is being taken already. */
int repl_snapshot_soon(struct repl *r);
/* Closes raft, its I/O and transport; `cb` fires once everything is released (after a snapshot
 * copy in progress has finished). */
void repl_close(struct repl *r, void (*cb)(struct repl *));

bool repl_is_leader(struct repl *r);
bool repl_is_ready(struct repl *r);
/* Leader's id and raft address (0/NULL if unknown). */
uint64_t repl_leader(struct repl *r, const char **raft_address);
uint64_t repl_term(struct repl *r);
uint64_t repl_commit_index(struct repl *r);
uint64_t repl_last_applied(struct repl *r);
uint64_t repl_last_index(struct repl *r);
/* Leader only: the highest index known replicated on member `id`. 0, or -1 if not leader or not a
 * member. */
int repl_match_index(struct repl *r, uint64_t id, uint64_t *index);
const char *repl_state_name(struct repl *r);
/* This node's role in the current configuration: RAFT_VOTER / RAFT_STANDBY / RAFT_SPARE, -1 if not
 * a member. */
int repl_role_of(struct repl *r, uint64_t id, const char **raft_address);
/* Members of the current configuration: fills ids/roles (up to max) and returns the count. */
unsigned repl_configuration(struct repl *r, uint64_t *ids, int *roles, const char **addresses,
			    unsigned max);

/* A buffer for repl_propose (raft frees it once the entry is written). */
void *repl_buf_alloc(size_t len);
/* Proposes one command entry. Takes ownership of `buf` (from repl_buf_alloc) in every case.
 * On 0, `cb` fires exactly once with the entry's index; *index_out (may be NULL) receives the index
 * the entry will have. */
int repl_propose(struct repl *r, void *buf, size_t len, repl_done_cb cb, void *data,
		 uint64_t *index_out);
int repl_barrier(struct repl *r, repl_done_cb cb, void *data);
int repl_add(struct repl *r, uint64_t id, const char *raft_address, repl_done_cb cb, void *data);
int repl_assign(struct repl *r, uint64_t id, int role, repl_done_cb cb, void *data);
int repl_remove(struct repl *r, uint64_t id, repl_done_cb cb, void *data);
int repl_transfer(struct repl *r, uint64_t id, repl_done_cb cb, void *data);

#endif
