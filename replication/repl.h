/* repl.h: the Raft side of a node: raft_uv I/O over TCP, bootstrap and join, proposals, barriers,
 * the role monitor and snapshots. With membership.h, the only part of the daemon that calls
 * raft_*: callers see callraft codes (Callraft__Code), roles (Callraft__MemberRole) and plain
 * strings, never a raft type or constant (docs/design.md, "Layers").
 *
 * Role watching: the legacy API has no state callback, so a uv_prepare handle compares raft's
 * state and term before every loop iteration and calls `on_role` on a change. A new leader becomes
 * *ready* (may serve linearizable reads, may append Ticks) only once a barrier of its own term has
 * committed.
 *
 * Errors: functions return CALLRAFT__CODE__OK (0) or the callraft code raft's error translates to
 * (repl_code, repl.c); the text, with what failed, is in repl_errmsg(). An I/O failure of raft (or
 * of the state under the FSM) is reported through `on_fatal`, which must not return.
 *
 * Ownership: `struct repl` is opaque; repl_open allocates it, repl_close releases it once raft, its
 * I/O and its transport are closed. It borrows the loop and the state, which must outlive it. */
#ifndef CALLRAFT_REPL_H
#define CALLRAFT_REPL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "callraft.pb-c.h"
#include "histogram.h"
#include "state.h"

#include <openssl/ssl.h>

struct repl;

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
	/* The election timeout until this node first learns of a leader after it starts (0, or not
	 * above election_timeout_ms: the same). The witness waits longer at start, so that a
	 * call-center voter wins the cluster's first election (callraft_timing.h). */
	unsigned first_election_timeout_ms;
	unsigned snapshot_threshold;
	unsigned snapshot_trailing;
	unsigned install_snapshot_timeout_ms;
	/* Initial members: a pristine node whose id is among them bootstraps with all of them as voters;
	 * any other pristine node starts empty and waits to be added. */
	const struct repl_member *initial;
	unsigned n_initial;
	/* Peers over mutual TLS with this context (borrowed, see repl_set_tls); NULL: plain TCP. */
	SSL_CTX *tls_ctx;
};

struct repl_callbacks {
	/* Role or term changed; `state_name` is raft's name of the new role (static). */
	void (*on_role)(void *data, bool leader, const char *state_name, uint64_t term);
	/* This node leads and a barrier of `term` committed: it may serve linearizable reads. */
	void (*on_ready)(void *data, uint64_t term);
	/* Raft or the state cannot write: must not return (the node exits). */
	void (*on_fatal)(void *data, const char *message);
	/* The state has no rules for the next entry (STATE_APPLY_RULES, state/rules.c R3): must not
	 * return (the node exits CALLRAFT_EXIT_RULES). NULL: on_fatal. */
	void (*on_rules_stop)(void *data, const char *message);
	/* A damaged snapshot was found at start (repl_snapcheck.c): its data file, what is wrong, and
	 * what is done about it. Strings valid during the call. May be NULL. */
	void (*on_snapshot_bad)(void *data, const char *file, const char *why, const char *action);
	/* After each applied command entry, with its replies (owned by the state, valid during the
	 * call). */
	void (*on_applied)(void *data, uint64_t index, const struct state_replies *replies);
	void *data;
};

/* Completion of a proposal or barrier: code CALLRAFT__CODE__OK or the translated raft error, `why`
 * raft's text for the status (static), and the entry's index (proposals). */
typedef void (*repl_done_cb)(void *data, Callraft__Code code, const char *why, uint64_t index);

/* Forces the configuration `members` (voters) into the raft log in `dir` (raft_recover), for when
 * a majority is lost for good. The node must not be running (the caller holds the data dir's lock).
 * Entries that only the lost members had are lost. `id`/`raft_address`: this node's. Returns 0, or
 * -1 with the reason in err (nothing changed unless raft failed writing the segment). */
int repl_recover(const char *dir, uint64_t id, const char *raft_address,
		 const struct repl_member *members, unsigned n, char *err, size_t len);

/* Opens raft over `loop` with an FSM over `state` (open). Bootstraps a pristine node that is an
 * initial member. Returns 0 with *out set, or -1 with the reason in err. */
int repl_open(struct repl **out, uv_loop_t *loop, struct state *state, const struct repl_config *cfg,
	      const struct repl_callbacks *cb, char *err, size_t len);
/* Starts raft (restores the last snapshot into the state, replays later entries) and the role
 * monitor. Returns 0 or -1 with repl_errmsg. */
int repl_start(struct repl *r);
/* Closes raft, its I/O and transport, and frees `r` once everything is released (after a snapshot
 * copy in progress has finished); the loop must run for that. Raft completes its pending requests
 * meanwhile (their callbacks may still use `r`); `closed` (may be NULL) runs just before `r` is
 * freed, after which `r` must not be used. */
void repl_close(struct repl *r, void (*closed)(void *data), void *data);
/* The last error's text, with what failed ("raft: transfer to 3: ..."); valid until the next call. */
const char *repl_errmsg(const struct repl *r);
/* Checks the invariants listed in repl_internal.h; aborts on a violation (debug paths, tests). */
void repl_check(const struct repl *r);

/* Sizes raft's snapshot threshold to the state (repl_threshold.c). Call now and then (the node does
 * on its tick). */
void repl_size_snapshot_threshold(struct repl *r, uint64_t state_bytes);
/* Takes a snapshot at the next committed entry (on this node), then goes back to the sized
 * threshold. Returns 0, or -1 with repl_errmsg if one is being taken already. */
int repl_snapshot_soon(struct repl *r);

struct repl_stats {
	uint64_t snapshots;          /* snapshots written by this process */
	uint64_t snapshot_index;     /* the last one's index */
	uint64_t snapshot_bytes;     /* its image size */
	uint64_t snapshot_copy_ms;   /* the copy, on a worker thread */
	uint64_t snapshot_write_ms;  /* raft_uv writing it */
	unsigned snapshot_threshold; /* the one in force */
	uint64_t installs_dropped;   /* duplicate InstallSnapshot messages not sent */
	uint64_t snapshots_restored; /* restores that replaced the local state */
};
void repl_stats(const struct repl *r, struct repl_stats *out);
/* Replaces the TLS context new peer links use (certificates reloaded); `ctx` is borrowed and must
 * stay valid until replaced again or the repl is closed. */
void repl_set_tls(struct repl *r, SSL_CTX *ctx);

/* The histograms and counters behind the node's /metrics (node/http_metrics.c); borrowed, valid
 * while r is open. */
struct repl_metrics {
	const struct histogram *apply_seconds;     /* state_apply per entry */
	const struct histogram *entry_bytes;       /* payload bytes per applied entry */
	const struct histogram *snapshot_seconds;  /* copy + write per snapshot taken */
	const struct histogram *snapshot_bytes;    /* image bytes per snapshot taken */
	uint64_t entries_applied, bytes_applied;
};
void repl_metrics(const struct repl *r, struct repl_metrics *out);

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
/* A leadership transfer (ours, home.c's or an operator's) is under way: raft takes one at a time. */
bool repl_transfer_pending(struct repl *r);
/* Raft's name of this node's current role ("leader", "follower", ...; static). */
const char *repl_state_name(struct repl *r);
/* Member `id`'s role in the current configuration (ROLE_NONE if not a member); its raft address in
 * *raft_address (may be NULL; valid until the configuration changes). */
Callraft__MemberRole repl_role_of(struct repl *r, uint64_t id, const char **raft_address);
/* Members of the current configuration: fills ids/roles/addresses (up to max; addresses valid until
 * the configuration changes) and returns the count. */
unsigned repl_configuration(struct repl *r, uint64_t *ids, Callraft__MemberRole *roles,
			    const char **addresses, unsigned max);

/* Proposes one command entry (encoded here). On OK, `cb` fires exactly once with the entry's
 * index; *index_out (may be NULL) receives the index the entry will have. The entry is borrowed
 * for the call only. */
Callraft__Code repl_propose(struct repl *r, const Callraft__Entry *entry, repl_done_cb cb,
			    void *data, uint64_t *index_out);
/* A barrier: on OK, `cb` fires once every entry before it has been applied (or it failed). */
Callraft__Code repl_barrier(struct repl *r, repl_done_cb cb, void *data);

#endif
