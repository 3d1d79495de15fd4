/* node_internal.h: the structures shared by the node's modules (node.c, conn.c, forward.c). */
#ifndef CALLRAFT_NODE_INTERNAL_H
#define CALLRAFT_NODE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "callraft.pb-c.h"
#include "config.h"
#include "events_hub.h"
#include "fsm.h"
#include "callraft_limits.h"
#include "repl.h"
#include "state.h"

struct node;

/* A client connection (or a follower's forwarding connection seen from the leader). */
struct conn {
	uv_tcp_t tcp;
	struct node *node;
	struct conn *prev, *next; /* node->conns */
	int refs;                 /* batches, reads, forwards and admin ops that will reply */
	bool closing;
	uint8_t *rx;              /* bytes received, not yet a whole frame */
	size_t rx_len, rx_cap;
};

enum item_kind { ITEM_CLIENT = 0, ITEM_INTERNAL, ITEM_ADMIN };

struct admin_op;

/* One command in a batch: who gets its reply. */
struct batch_item {
	struct conn *conn;        /* NULL for internal commands */
	uint64_t request_id;
	enum item_kind kind;
	struct admin_op *admin;
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
	Callraft__Command cmds[CALLRAFT_BATCH_COMMANDS_MAX];
	Callraft__Command *cmd_ptrs[CALLRAFT_BATCH_COMMANDS_MAX];
	Callraft__Request *reqs[CALLRAFT_BATCH_COMMANDS_MAX]; /* owners of the commands' fields */
	Callraft__MemberUpsert upserts[CALLRAFT_BATCH_COMMANDS_MAX];
	Callraft__Member members[CALLRAFT_BATCH_COMMANDS_MAX];
	Callraft__MemberDelete deletes[CALLRAFT_BATCH_COMMANDS_MAX];
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

#define FWD_BUCKETS 4096

enum fwd_state { FWD_IDLE = 0, FWD_CONNECTING, FWD_CONNECTED, FWD_CLOSING };

struct fwd_link {
	struct node *node;
	uv_tcp_t tcp;
	uv_connect_t connect_req;
	enum fwd_state state;
	uint64_t leader_id;
	char address[CALLRAFT_ADDRESS_BYTES_MAX + 1];
	uint8_t *rx;
	size_t rx_len, rx_cap;
	uint64_t next_fwd_id;
	size_t n_pending;
	struct fwd_pending *buckets[FWD_BUCKETS];
	/* Frames queued while connecting. */
	uv_buf_t *queued;
	size_t n_queued, cap_queued;
};

/* A member's last contact with this leader (site-loss detection). */
struct member_contact {
	uint64_t id;
	uint64_t match;
	uint64_t last_ms;
};

/* A member out of contact this many election timeouts counts as unreachable. */
#define NODE_CONTACT_TIMEOUT_FACTOR 3

struct node {
	uv_loop_t loop;
	struct config cfg;
	struct state *state;
	struct fsm fsm;
	struct repl repl;
	bool repl_open;
	uv_tcp_t listener;
	uv_check_t flush;
	uv_timer_t housekeeping;
	uv_timer_t tick;
	struct member_contact contacts[CALLRAFT_MEMBERS_MAX];
	unsigned n_contacts;
	uint64_t contacts_term;             /* appends a Tick while this node is a ready leader */
	uv_signal_t sigterm, sigint;
	int lock_fd;
	struct conn *conns;
	unsigned n_conns;
	struct batch *open;          /* commands of this loop turn */
	struct batch *inflight_head; /* proposed, oldest first */
	struct batch *inflight_tail;
	struct read_wait *reads;     /* waiting for the next barrier */
	struct read_wait **reads_tail;
	bool read_barrier_inflight;
	struct fwd_link fwd;
	struct events_hub events;    /* event stream readers (issue #14) */
	bool stopping;
	uint64_t snapshots_logged; /* repl.snapshot_stats.count when last logged */
	uint64_t restores_logged;  /* fsm.snapshots_restored when last logged */
	uint64_t dropped_logged;   /* repl.installs_dropped when last logged */
	int exit_code;
	uint64_t upserted_term;      /* term in which the initial members were recorded */
	uint64_t requests_total;
	uint64_t batches_total;
	uint64_t commands_total;
};

/* conn.c */
int conn_listen(struct node *n, char *errmsg, size_t len);
void conn_ref(struct conn *c);
void conn_unref(struct conn *c);
void conn_close(struct conn *c);
void conn_close_all(struct node *n);
/* Sends an encoded Reply, overriding its request_id (appends field 1: last value wins). */
void conn_send_reply_bytes(struct conn *c, const uint8_t *bytes, size_t len, uint64_t request_id);
/* Sends a reply with just a code and message (and a leader hint if known). */
void conn_send_error(struct conn *c, uint64_t request_id, Callraft__Code code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void conn_send_reply(struct conn *c, Callraft__Reply *reply);

/* node.c */
void node_handle_request(struct node *n, struct conn *c, Callraft__Request *req);
void node_leader_hint(struct node *n, Callraft__Reply *reply, char *addr_buf, size_t addr_len);

/* forward.c */
void fwd_init(struct node *n);
/* Forwards `req` (ownership stays with the caller) from connection `c` to the leader. */
void fwd_request(struct node *n, struct conn *c, Callraft__Request *req);
/* Fails every forwarded request (leader change, shutdown) and drops the connection. */
void fwd_reset(struct node *n, Callraft__Code code, const char *why);
/* Expires forwarded requests older than `age_ms`; resets the link if the leader changed. */
void fwd_housekeeping(struct node *n);

/* Milliseconds since the epoch (the leader stamps entries with it). */
int64_t node_now_ms(void);

#endif
