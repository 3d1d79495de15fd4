/* node_internal.h: the structures shared by the node's files, one job each (docs/design.md,
 * "node/"):
 *   node.c     wiring: opens the pieces, loop hooks, dispatch of a request by kind, shutdown
 *   conn.c     the client listener, framing and replies
 *   forward.c  a follower's link to the leader
 *   write.c    the write path: validation, batching into one entry per loop turn, replies
 *   read.c     linearizable reads behind a barrier
 *   admin.c    membership requests handed to replication/membership.c
 *   tick.c     the leader's Tick and its site-contact report
 *   status.c   status, members list and the leader hint
 *   events_hub.c  long polls and subscribers of the event stream
 *   datadir.c  the data directory: lock, boot-id markers, discard of a stale state
 *   fsync_guard.c  a failed fsync or fdatasync once started stops the node (exit 70)
 *   node_check.c  node_check: the invariants below (N1-N4), on the housekeeping timer
 *
 * Invariants of struct node (node_check verifies them):
 *   N1. n_conns is the length of the conns list; every listed conn is open (not closing).
 *   N2. inflight batches are in proposal order: indexes strictly increase from head to tail, and
 *       none has replied (a replied batch is unlinked when raft completes it).
 *   N3. The open batch holds at most CALLRAFT_BATCH_COMMANDS_MAX commands.
 *   N4. reads_tail points at the last read's next (or at reads when none waits).
 *   N5. Applied entries reach the node in increasing index order (applied_seen). */
#ifndef CALLRAFT_NODE_INTERNAL_H
#define CALLRAFT_NODE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "callraft.pb-c.h"
#include "config.h"
#include "events_hub.h"
#include "callraft_limits.h"
#include "callraft_timing.h"
#include "membership.h"
#include "relay.h"
#include "repl.h"
#include "rxbuf.h"
#include "stamp_clock.h"
#include "state.h"
#include "tick.h"
#include "tls.h"
#include "tls_stream.h"

struct node;
struct conn;

/* Where the replies of a connection that is not a binary-protocol socket go (an HTTP request, see
 * node/http_api.c). Such a "virtual" conn enters the same request path (node_handle_request) as a
 * socket: batching, forwarding and read barriers reference it and reply to it alike. */
struct conn_sink {
	/* A reply (an encoded Callraft__Reply) for the request. Called on the loop thread, at most
	 * once per request_id, never after conn_close. */
	void (*reply)(struct conn *c, const uint8_t *bytes, size_t len, uint64_t request_id);
	/* The conn is closed and nothing references it any more: free it. */
	void (*release)(struct conn *c);
};

/* A client connection (or a follower's forwarding connection seen from the leader). */
struct conn {
	uv_tcp_t tcp;             /* unused by a virtual conn */
	const struct conn_sink *sink; /* NULL for a socket */
	struct node *node;
	struct conn *prev, *next; /* node->conns */
	int refs;                 /* batches, reads, forwards and admin ops that will reply */
	bool closing;
	struct rxbuf rx;          /* bytes received, not yet a whole frame */
	/* Limits against hostile clients (conn.c, issue 13). Times are uv_now() milliseconds. */
	char source[48];          /* the peer's address, for the per-source limit */
	bool reserved;            /* in a slot kept for forward links (until it proves to be one) */
	bool peer;                /* sent a forwarded request: another member's forward link (no
				   * idle timeout) */
	bool paused;              /* reading stopped: too many reply bytes queued or in flight */
	uint64_t accepted_ms, last_rx_ms, frame_start_ms, paused_ms;
	struct tls_stream *tls;   /* NULL without TLS (insecure = true) */
	bool authn;               /* id holds a verified certificate's identity: authz applies */
	struct tls_identity id;   /* the client certificate's, once the handshake is done */
};

struct admin_op;

/* One command in a batch: who gets its reply. */
struct batch_item {
	struct conn *conn;        /* NULL for internal commands */
	uint64_t request_id;
	struct admin_op *admin;   /* a membership request, ended when the entry replies */
};

/* The commands of one Raft entry. */
struct batch {
	struct batch *next;
	struct node *node;
	uint64_t index;
	uint64_t term;             /* the term stamped on the entry */
	bool replied;
	size_t n;
	size_t bytes;
	uint64_t proposed_ns;      /* uv_hrtime at repl_propose (commit latency metric) */
	Callraft__Command cmds[CALLRAFT_BATCH_COMMANDS_MAX];
	Callraft__Command *cmd_ptrs[CALLRAFT_BATCH_COMMANDS_MAX];
	Callraft__Request *reqs[CALLRAFT_BATCH_COMMANDS_MAX]; /* owners of the commands' fields */
	Callraft__Command *owned[CALLRAFT_BATCH_COMMANDS_MAX]; /* internal commands, on the heap */
	struct batch_item items[CALLRAFT_BATCH_COMMANDS_MAX];
};

/* A linearizable read waiting for a barrier. */
struct read_wait {
	struct read_wait *next;
	struct conn *conn;
	Callraft__Request *req;
};

struct read_group {
	struct node *node;
	struct read_wait *head;
};

/* A request forwarded to the leader. */
struct fwd_pending {
	struct fwd_pending *next;  /* hash chain */
	uint64_t fwd_id;
	uint64_t request_id;       /* the client's */
	struct conn *conn;
	uint64_t started_ms;
};


enum fwd_state { FWD_IDLE = 0, FWD_CONNECTING, FWD_CONNECTED };

struct fwd_link;

/* One connection of a link, allocated per connect: a link that is reset (a new leader) detaches
 * its connection, which closes and frees itself, and opens the next one at once. */
struct fwd_conn {
	uv_tcp_t tcp;
	uv_connect_t connect_req;
	struct tls_stream *tls;   /* with TLS: CONNECTING lasts until the target's certificate is proven */
	struct fwd_link *link;    /* NULL once detached: its callbacks do nothing */
};

/* A link to one member: the leader (node->fwd) or a relay (node->fwd_relay, relay.h). */
struct fwd_link {
	struct node *node;
	bool relay;               /* the relay link: its requests travel with relay_ttl 1 */
	struct fwd_conn *conn;    /* NULL exactly when IDLE */
	enum fwd_state state;
	uint64_t target_id;       /* the member at the other end */
	char address[CALLRAFT_ADDRESS_BYTES_MAX + 1];
	struct rxbuf rx; /* reply bytes, not yet a whole frame */
	uint64_t next_fwd_id;
	size_t n_pending;
	struct fwd_pending *buckets[CALLRAFT_FORWARD_BUCKETS];
	/* Frames queued while connecting. */
	uv_buf_t *queued;
	size_t n_queued, cap_queued;
	uint64_t connect_started_ms;
	/* 0 when no request waits; else the loop time since which requests have waited with nothing
	 * received (the first send after the last reply): silence (CALLRAFT_FORWARD_SILENT_MS). */
	uint64_t waiting_since_ms;
};

/* home.c: every Tick, a leader outside [raft] home_site hands leadership back to a healthy voter
 * of the home site; a witness that leads hands it to a call-center voter that keeps up
 * (home_witness_check, also called once the witness is ready). */
void home_check(struct node *n);
void home_witness_check(struct node *n);

/* sitelog.c: the state's site event hook (state_set_site_event): logs the decision. */
void node_site_event_log(void *data, uint64_t index, const char *site, const char *what,
			 const char *evidence);

/* What the node counts for /metrics (node/http_metrics.c) besides raft's and the state's own. */
struct node_metrics {
	struct histogram commit_seconds; /* a batch this node proposed: propose -> applied here */
	uint64_t forwarded_total;        /* requests forwarded to the leader (forward.c) */
	uint64_t relayed_total;          /* requests sent through a relay member (forward.c) */
	uint64_t replies_by_code[CALLRAFT__CODE__INTERNAL + 1]; /* replies sent, by code (conn.c) */
	/* TLS handshakes completed on the binary client port (conn.c), full or resumed from a ticket
	 * (a reconnecting client: tls.h). */
	uint64_t tls_handshakes_full, tls_handshakes_resumed;
};

struct node {
	uv_loop_t loop;
	struct config cfg;
	SSL_CTX *tls_ctx;                   /* NULL when insecure; replaced on SIGHUP (node_tls.c) */
	struct tls_identity tls_self;       /* our own certificate's identity (status: expiry) */
	uv_signal_t sighup;
	struct state *state;
	struct repl *repl;           /* NULL until opened */
	struct membership *members;
	uv_tcp_t listener;
	uv_check_t flush;
	uv_timer_t housekeeping;
	uv_timer_t tick;
	struct site_contacts contacts;     /* tick.c: members' last contact with this leader */
	struct stamp_clock stamp_clock;    /* write.c: the time stamped on entries (stamp_clock.h) */
	uint64_t home_ok_since_ms;         /* home.c: a home voter keeps up since (0: none does) */
	uint64_t home_transfer_ms;         /* home.c: the last hand-over started (loop time) */
	struct membership_initial initial[CALLRAFT_MEMBERS_MAX]; /* from cfg, for membership */
	uv_signal_t sigterm, sigint;
	int lock_fd;
	struct conn *conns;
	unsigned n_conns;            /* every open connection, reserved slots included */
	unsigned n_reserved;         /* connections in slots kept for forward links */
	struct batch *open;          /* commands of this loop turn */
	struct batch *inflight_head; /* proposed, oldest first */
	struct batch *inflight_tail;
	struct read_wait *reads;     /* waiting for the next barrier */
	struct read_wait **reads_tail;
	bool read_barrier_inflight;
	struct fwd_link fwd;         /* to the leader */
	struct fwd_link fwd_relay;   /* to a member relaying for us (relay.h) */
	struct relay_avoid relay_avoid; /* members (the leader too) this node could not reach lately */
	uint64_t leader_last_id;     /* the last leader raft named (relay.h: its site ranks relays) */
	struct events_hub events;    /* event stream readers (issue #14) */
	struct http *http;           /* NULL without [node] http_address */
	bool stopping;
	uint64_t snapshots_logged; /* repl_stats snapshots when last logged */
	uint64_t restores_logged;  /* repl_stats snapshots_restored when last logged */
	uint64_t dropped_logged;   /* repl_stats installs_dropped when last logged */
	uint64_t leader_logged;    /* the leader id when last logged (leader_change) */
	uint64_t members_logged;   /* a digest of the configuration when last logged (member_change) */
	uint64_t applied_seen;     /* the last index on_applied reported (N5) */
	uint64_t rules_declared_ms; /* rules.c: loop time of the last RulesDeclare sent (0: none) */
	int exit_code;
	uint64_t requests_total;
	uint64_t batches_total;
	uint64_t commands_total;
	struct node_metrics metrics;
};

/* conn.c */
int conn_listen(struct node *n, char *errmsg, size_t len);
/* Initialises a virtual conn (no socket): replies go to sink->reply; sink->release frees it once
 * conn_close was called and the last reference is gone. It is not counted in n->conns. */
void conn_virtual_init(struct conn *c, struct node *n, const struct conn_sink *sink);
void conn_ref(struct conn *c);
void conn_unref(struct conn *c);
void conn_close(struct conn *c);
void conn_close_all(struct node *n);
/* Closes connections past their deadlines (idle, slow frame, stalled, unproven reserved slot);
 * from the housekeeping timer. */
void conn_sweep(struct node *n);
/* Sends an encoded Reply, overriding its request_id (appends field 1: last value wins). */
void conn_send_reply_bytes(struct conn *c, const uint8_t *bytes, size_t len, uint64_t request_id);
/* Sends a reply with just a code and message (and a leader hint if known). */
void conn_send_error(struct conn *c, uint64_t request_id, Callraft__Code code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void conn_send_reply(struct conn *c, Callraft__Reply *reply);
/* Refuses `req` before it went anywhere: an error reply to its request id, then frees it. */
void conn_refuse(struct conn *c, Callraft__Request *req, Callraft__Code code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* True if the connection's certificate may not run `req` (authz.h): the client got a
 * PERMISSION_DENIED reply naming the missing role and the refusal was logged. Always false
 * without TLS. */
bool conn_refuses(struct conn *c, const Callraft__Request *req);
/* Stamps `req` with the connection's identity (authz_stamp; a member's requests keep theirs).
 * 0, or -1 out of memory. */
int conn_stamp_actor(struct conn *c, Callraft__Request *req);
/* Logs a PERMISSION_DENIED the state gave a site-limited actor's request (site_scope.c); `reply`
 * is the encoded Reply. Nothing for other requests or replies. */
void conn_log_denied(struct conn *c, const Callraft__Request *req, const uint8_t *reply, size_t len);

/* node_tls.c */
/* Loads [tls] into n->tls_ctx (no-op when insecure). -1 with errmsg. */
int node_tls_init(struct node *n, char *errmsg, size_t len);
/* Starts the SIGHUP handler that reloads the certificates and key. */
void node_tls_start(struct node *n);
void node_tls_close(struct node *n);

/* node.c */
void node_handle_request(struct node *n, struct conn *c, Callraft__Request *req);
/* Checks the invariants N1-N5; aborts on a violation. */
void node_check(const struct node *n);

/* write.c: the write path. Takes ownership of req. */
void write_request(struct node *n, struct conn *c, Callraft__Request *req);
/* Appends an internal command (heap, freed with callraft__command__free_unpacked; taken in every
 * case) to the open batch; its reply goes to admin's client, or nowhere. 0, or -1 (no memory). */
int write_append(struct node *n, Callraft__Command *cmd, struct admin_op *admin);
/* End of a loop turn: proposes the open batch. */
void write_flush(struct node *n);
/* An entry was applied: replies to the batch it carried, if this node proposed it. */
void write_applied(struct node *n, uint64_t index, const struct state_replies *replies);
/* Shutdown: frees the batch never proposed. */
void write_discard(struct node *n);

/* read.c: linearizable reads. read_request takes ownership of req; read_serve borrows it. */
void read_request(struct node *n, struct conn *c, Callraft__Request *req);
void read_serve(struct node *n, struct conn *c, const Callraft__Request *req);
/* End of a loop turn: starts a barrier for the waiting reads (leader), or fails them. */
void read_flush(struct node *n);

/* admin.c: membership requests. admin_request takes ownership of req. */
void admin_request(struct node *n, struct conn *c, Callraft__Request *req);
/* The entry that carried admin's member record replied (or failed): ends the request. */
void admin_done(struct admin_op *admin);
/* An admin request answered when an internal command's entry applies (write_append's `admin`):
 * refs c, takes req on success; NULL (out of memory: nothing taken). */
struct admin_op *admin_op_new(struct node *n, struct conn *c, Callraft__Request *req);
/* The client connection and request id the admin request's reply goes to. */
void admin_client(struct admin_op *admin, struct conn **conn, uint64_t *request_id);
/* The membership hooks (replication/membership.h) over this node. */
void admin_hooks(struct node *n, struct membership_hooks *hooks);

/* rules.c: FSM rules versions. rules_housekeeping declares this binary's range until the state
 * records it; rules_request (the leader) handles RulesDeclare and RulesUpgrade, taking req;
 * rules_show answers RulesShow (a read: the members list, the active version and what the gate
 * would raise it to now). */
void rules_housekeeping(struct node *n);
void rules_request(struct node *n, struct conn *c, Callraft__Request *req);
void rules_show(struct node *n, struct conn *c, uint64_t request_id);

/* tick.c: a ready leader appends a Tick (CALLRAFT_TICK_INTERVAL_MS). 0 or -1 (no memory). */
int tick_append(struct node *n);

/* status.c */
void status_reply(struct node *n, struct conn *c, uint64_t request_id, bool members_only);
/* The members list's reply (members, rules_active) with rules_upgradable and message (borrowed). */
void status_members_reply(struct node *n, struct conn *c, uint64_t request_id,
			  uint32_t rules_upgradable, const char *message);
/* Node-local, like status: a snapshot at the next entry on this node. Borrows req. */
void status_snapshot_request(struct node *n, struct conn *c, const Callraft__Request *req);
/* Logs what replication did since the last call (the node's tick): snapshots, restores, a new
 * leader (leader_change), a new configuration (member_change). */
void status_log_replication(struct node *n);
void node_leader_hint(struct node *n, Callraft__Reply *reply, char *addr_buf, size_t addr_len);

/* fsync_guard.c: from now on a failed fsync or fdatasync anywhere in the process (raft_uv, LMDB,
 * ours) logs a fatal line naming the file and exits CALLRAFT_EXIT_FATAL. Before, they pass through. */
void fsync_guard_arm(void);

/* datadir.c: locks the data dir, detects a machine restart since an unclean stop (then discards
 * the state dir: raft rebuilds it), and writes the markers. */
int datadir_open(struct node *n, const char *state_dir, char *err, size_t len);
void datadir_mark_clean_shutdown(struct node *n);
void datadir_close(struct node *n);
/* " (data dir '<dir>': F of T MiB free[: the disk is full])" into out, or "" if the file system
 * cannot be asked. A full disk often surfaces as EIO (LMDB's write of a page to a full tmpfs,
 * raft's retries): a fatal line with this tells a full disk from a failing one. */
void datadir_space(const struct node *n, char *out, size_t len);

/* forward.c */
void fwd_init(struct node *n);
/* Forwards `req` (ownership stays with the caller) from connection `c` to the leader, or through
 * a relay member when the leader is not reachable from here (relay.h). A request that is itself
 * relayed to this node (forwarded, relay_ttl 1) goes to the leader directly or is refused. */
void fwd_request(struct node *n, struct conn *c, Callraft__Request *req);
/* The same, to leader `leader_id` at client address `address` (fwd_request looks them up in raft
 * and the members table). */
void fwd_send(struct node *n, struct conn *c, Callraft__Request *req, uint64_t leader_id,
	      const char *address);
/* Sends `req` through relay member `relay_id` at client address `address` (relay_ttl 1). */
void fwd_relay_send(struct node *n, struct conn *c, Callraft__Request *req, uint64_t relay_id,
		    const char *address);
/* Whether requests for leader `leader_id` go straight to it at loop time `now_ms`: false while it
 * is avoided (its link failed, or went silent: relay.h). */
bool fwd_leader_reachable(struct node *n, uint64_t leader_id, uint64_t now_ms);
/* Fails every forwarded request (leader change, shutdown) and drops both links. */
void fwd_reset(struct node *n, Callraft__Code code, const char *why);
/* Shutdown: fwd_reset with UNAVAILABLE, then frees the links' buffers (LeakSanitizer
 * found them left at exit once every follower forwarded its rules declaration). */
void fwd_close(struct node *n, const char *why);
/* Expires forwarded requests older than CALLRAFT_FORWARD_TIMEOUT_MS (TIMEOUT); resets the leader
 * link if the leader changed (OUTCOME_UNKNOWN); notes silent links. fwd_expire does it for leader
 * `leader_id` at loop time `now_ms`; fwd_housekeeping for the current leader, now. */
void fwd_housekeeping(struct node *n);
void fwd_expire(struct node *n, uint64_t leader_id, uint64_t now_ms);
/* Checks F1-F4 of forward.c; aborts on a violation. */
void fwd_check(const struct node *n);

/* session_secret.c: replaces rc->secret with CALLRAFT_SESSION_SECRET_BYTES random bytes (the
 * leader, before proposing a RegisterClient). 0, or -1 (no memory, no randomness). */
int session_secret_draw(Callraft__RegisterClient *rc);

/* alarm.c: the space alarm ("" when all is well) and its rate-limited log line. */
void node_alarm(struct node *n, char *buf, size_t len);
void node_alarm_check(struct node *n);

/* Milliseconds since the epoch (the leader stamps entries with it). */
int64_t node_now_ms(void);

/* state_seal.c: the state's checksum across a clean stop. state_seal_open opens the state (as
 * state_open), discarding it for a rebuild from the raft log if it is damaged; state_seal_write
 * seals it at a clean stop (the state still open). */
int state_seal_open(struct node *n, const char *state_dir, const struct state_options *so,
		    char *err, size_t len);
void state_seal_write(struct node *n);

#endif
