/* repl_internal.h: `struct repl` and the functions the files of replication/ share. Nothing outside
 * replication/ includes this header: there, `struct repl` is opaque (repl.h).
 *
 * The files, one job each:
 *   repl.c            life (open, bootstrap, start, close), accessors, proposals and barriers,
 *                     translation of raft codes (repl_code)
 *   repl_transport.c  the stock TCP transport (listening) with TCP_NODELAY, TLS on every stream
 *   repl_connect.c    outgoing connections with a deadline and a dead-link timeout
 *   repl_monitor.c    the role monitor and the readiness barrier
 *   repl_snapshot.c   snapshots copied off the loop, on a thread of their own
 *   repl_install.c    at most one InstallSnapshot in flight per member
 *   repl_snapcheck.c  every snapshot image raft reads checked (load, send, install)
 *   repl_threshold.c  snapshot threshold sized to the state
 *   repl_warm.c       raft's outgoing links to every voter kept open before an election
 *   membership.c      membership changes, leadership transfer, the member entries
 *
 * Invariants (repl_check verifies them; docs/design.md, "Invariants: replication/"):
 *   R1. ready implies the last role seen by the monitor is leader, in term last_term: any change of
 *       role or term clears it before on_role runs.
 *   R2. At most one snapshot copy is in flight (snapshot_job); close_pending implies closing and a
 *       copy in flight (raft is closed once the copy is collected).
 *   R3. A member id appears at most once in installs_in_flight (0 is a free slot).
 *   R4. Unless a requested snapshot is pending (threshold 1 in raft), the threshold in force is at
 *       least the configured one.
 *   R5. The sizing counters never run ahead of the fsm's (sized_entries <= entries_applied). */
#ifndef CALLRAFT_REPL_INTERNAL_H
#define CALLRAFT_REPL_INTERNAL_H

#include <raft.h>
#include <raft/uv.h>

#include "callraft_limits.h"
#include "callraft_timing.h"
#include "fsm.h"
#include "repl.h"
#include "tls_transport.h"

struct repl_snapshot_job;

struct repl {
	uv_loop_t *loop;
	struct raft raft;
	struct raft_io io;
	struct raft_uv_transport transport; /* what raft_uv uses: tcp with TCP_NODELAY */
	struct raft_uv_transport tcp;       /* the stock TCP transport it delegates to */
	raft_uv_accept_cb accept_cb;        /* raft_uv's, called through the wrapper */
	raft_uv_transport_close_cb transport_close_cb;
	struct tls_peers peers;             /* TLS on every stream the stock transport returns */
	/* Outgoing connections (repl_connect.c): every request not yet freed, the deadline of one and
	 * the TCP_USER_TIMEOUT of its socket, and raft's own handshake (our id and address). */
	struct repl_connect *connecting;
	bool connect_closing;
	void (*connect_closed_cb)(struct repl *r);
	unsigned connect_ms;
	unsigned link_dead_ms;
	raft_id self_id;
	char self_address[CALLRAFT_ADDRESS_BYTES_MAX + 1];
	struct fsm fsm;
	uv_prepare_t monitor;
	bool monitor_started;
	int last_state;
	uint64_t last_term;
	bool ready;            /* leader and a barrier of this term has committed */
	bool closing;
	struct repl_callbacks cb;
	void (*closed)(void *data); /* repl_close's */
	void *closed_data;
	/* Snapshots off the loop (repl_snapshot.c): raft_uv's own snapshot_put, the copy in progress,
	 * and a close waiting for it. */
	int (*uv_snapshot_put)(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
			       const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb);
	struct repl_snapshot_job *snapshot_job;
	/* raft_uv's own load and snapshot_get, called by repl_snapcheck.c's checks. */
	int (*uv_load)(struct raft_io *io, raft_term *term, raft_id *voted_for,
		       struct raft_snapshot **snapshot, raft_index *start_index,
		       struct raft_entry *entries[], size_t *n_entries);
	int (*uv_snapshot_get)(struct raft_io *io, struct raft_io_snapshot_get *req,
			       raft_io_snapshot_get_cb cb);
	char dir[512]; /* raft's directory */
	/* raft_uv's own start, called by start_now (repl.c) once the loop's clock is current. */
	int (*uv_start)(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
			raft_io_recv_cb recv);
	/* The election timeout, and whether the longer one of a node's first election
	 * (repl_config.first_election_timeout_ms) is still set: until a leader is first known. */
	unsigned election_timeout_ms;
	bool first_election;
	int (*uv_send)(struct raft_io *io, struct raft_io_send *req, const struct raft_message *message,
		       raft_io_send_cb cb);
	uint64_t installs_in_flight[CALLRAFT_MEMBERS_MAX]; /* members an install is going to */
	/* repl_warm.c: the timer that keeps a link open to every voter, and the members a warming
	 * message is in flight to (0 is a free slot). */
	uv_timer_t warm_timer;
	bool warm_started;
	uint64_t warm_to[CALLRAFT_MEMBERS_MAX];
	uint64_t installs_dropped;           /* duplicates not sent (repl_install.c) */
	bool close_pending;
	unsigned snapshot_threshold_min; /* the configured threshold: the floor of the sized one */
	unsigned snapshot_threshold;     /* the one in force */
	unsigned snapshot_trailing_min;  /* the configured trailing */
	uint64_t sized_entries, sized_bytes; /* fsm counters at the last sizing */
	bool snapshot_requested;         /* repl_snapshot_soon: threshold 1 until a take starts */
	struct {
		uint64_t count, index, bytes, copy_ms, write_ms;
		struct histogram seconds;    /* copy + write of each snapshot (metrics) */
		struct histogram image_bytes; /* each snapshot's image (metrics) */
	} snapshot_stats;
	char errmsg[256];
};

/* One raft request of the daemon (apply, barrier, change, transfer) and whom to tell. */
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

struct repl_op *repl_op_new(struct repl *r, repl_done_cb cb, void *data);
/* The callraft code for a raft status (0 -> OK). One table, used by every caller. */
Callraft__Code repl_code(int status);

/* repl_transport.c: sets up r->tcp (the stock transport, bound to `address`) and r->transport
 * around it. 0 or -1 with errmsg. */
int repl_transport_init(struct repl *r, uv_loop_t *loop, const char *address);
/* repl_connect.c: raft_uv_transport's connect (same contract: 0 and `cb` exactly once later, or
 * an error and no callback). repl_connect_close fails every request in flight with RAFT_CANCELED
 * and calls `cb` once none is left; repl_connect_maybe_closed is its internal re-check. */
struct repl_connect;
int repl_connect_start(struct repl *r, struct raft_uv_connect *req, raft_id id, const char *address,
		       raft_uv_connect_cb cb);
void repl_connect_close(struct repl *r, void (*cb)(struct repl *r));
void repl_connect_maybe_closed(struct repl *r);
/* repl_snapshot.c and repl_install.c: interpose on raft_uv's snapshot_put and send. */
void repl_snapshot_interpose(struct repl *r);
void repl_install_interpose(struct repl *r);
/* repl_snapcheck.c: interposes on raft_uv's load and snapshot_get to check every image read. */
void repl_snapcheck_interpose(struct repl *r);
/* repl_snapcheck.c: checks an image installed by the leader before it is written; a damaged one
 * stops the node (on_fatal) and this does not return. */
void repl_snapcheck_install(struct repl *r, const struct raft_snapshot *snapshot);
/* repl_snapshot.c: on the loop, collects a finished copy (called by the monitor). */
void repl_snapshot_poll(struct repl *r);
/* repl.c: once a leader is known, the election timeout of a node's first election is over. */
void repl_first_election_check(struct repl *r);
/* repl_warm.c: repl_warm_start after raft_start (a message to every other voter now and every
 * CALLRAFT_RAFT_WARM_MS), repl_warm_stop in repl_close before raft is closed; repl_warm_links
 * sends one round now. */
void repl_warm_start(struct repl *r);
void repl_warm_stop(struct repl *r);
void repl_warm_links(struct repl *r);
/* repl_monitor.c */
void repl_monitor_start(struct repl *r);
/* repl.c: raft is closed; closes the rest and frees r. */
void repl_raft_closed_cb(struct raft *raft);

#endif
