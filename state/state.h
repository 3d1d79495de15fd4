/* state.h: the call-center model over LMDB.
 *
 * Pure functions from (log entry, index) to (LMDB changes, replies). No Raft, no sockets, no clock,
 * no randomness, no local configuration: every replica that applies the same entries at the same
 * indexes holds byte-identical tables (state_digest proves it).
 *
 * Tables (named LMDB databases):
 *   meta        "applied" -> u64 applied index; "time" -> i64 FSM time (never goes backwards);
 *               "ticket_seq" -> u64 last ticket number; "client_seq" -> u64 last client id;
 *               "tick_last_ms", "ticking_since_ms" -> u64 FSM times of the last Tick and of the
 *               first one after the cluster's last stall (sitewatch.c).
 *   sessions    be64(client_id) -> Session
 *   sess_time   be64(last_used_ms) be64(client_id) -> "" (expiry order)
 *   calls       call_id -> Call
 *   queue       queue '\0' (255 - tier) be64(enqueued_ms) be64(enqueue_seq) -> call_id
 *               (so the next call of a queue is one MDB_SET_RANGE seek on "queue\0")
 *   agents      agent_id -> Agent
 *   tickets     code -> Ticket
 *   cust_tix    customer_id '\0' be64(ticket number) -> code
 *   members     be64(id) -> Member
 *   queues      queue -> QueueConfig (routing config; defaults when absent)
 *   sites       site -> Site (opening time, presence and site-loss timeouts, down flag)
 *   customers   customer_id -> Customer (last agent: known-agent routing)
 *   timers      be64(due_ms) kind id -> "" (offers, presence, wrap-up, callback release, site
 *               loss; Tick fires those due, oldest first)
 *   by_number   caller number -> call id of a site-loss callback (a redial keeps the place)
 *   stats       'q' queue | 's' site -> Stats (counters kept by apply)
 *   cust_history customer_id '\0' be64(at_ms) be64(seq) -> HistoryItem
 *   events      be64(index) be32(position) -> Event: the event stream (events.c, issue #14)
 *   ready       skill '\0' be64(since_ms) agent_id -> "": agents offers are pushed to (assign.c)
 *   campaigns   campaign_id -> Campaign (outbound campaigns, campaigns.c, issue 16)
 *   campaign_targets  campaign_id '\0' 't' be32(n) -> CampaignTarget; campaign_id '\0' 'n' number
 *               -> be32(n)
 *   (and the tables state_internal.h lists with their files: site_waiting, waiting, idem, tokens,
 *   stats_interval, ticket_classes, ticket_due)
 *
 * Every multi-byte integer inside keys is big-endian so that LMDB's byte order is numeric order.
 *
 * Ownership: a struct state is used from one thread at a time for writes and reads (the node's loop
 * thread), except state_snapshot which may run on a worker thread concurrently with writes. */
#ifndef CALLRAFT_STATE_H
#define CALLRAFT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "callraft.pb-c.h"
#include "callraft_limits.h"

struct state;

struct state_options {
	size_t map_bytes;   /* LMDB map size; 0 means the default (8 GiB). */
	bool no_sync;       /* MDB_NOSYNC: the Raft log makes entries durable; see docs/design.md. */
	/* Events kept (retention by count); 0 means CALLRAFT_EVENTS_RETAINED_MAX. A test hook: it is
	 * part of the FSM's rules, so every replica of a cluster must use the same (the daemon never
	 * sets it). */
	uint64_t events_retained_max;
};

/* Opens (creating if needed) the LMDB environment in directory `dir` (which must exist).
 * Returns 0 and sets *out, or -1 with a message in errmsg ("state: open '<dir>': <lmdb error>"). */
int state_open(const char *dir, const struct state_options *opts, struct state **out, char *errmsg,
	       size_t errmsg_len);

/* Called by apply when the FSM decides a site's liveness (state/sitewatch.c): `what` is "out of
 * contact: its callers are held", "back in contact", "lost" or "restored"; `evidence` says how long
 * ago each kind of evidence was last seen. Every replica calls it at the same log index; strings
 * are valid during the call only. Runs inside apply: it must not call back into the state. */
typedef void state_site_event_fn(void *data, uint64_t index, const char *site, const char *what,
				 const char *evidence);
void state_set_site_event(struct state *s, state_site_event_fn *fn, void *data);

/* Syncs and closes. NULL is allowed. */
void state_close(struct state *s);

/* The applied index stored in `meta` (0 for a new environment). */
uint64_t state_applied_index(struct state *s);

/* The FSM's time stored in `meta`: max of the times stamped on the entries applied (0 for a new
 * environment). Never decreases. */
uint64_t state_time_ms(struct state *s);

/* Replies of one applied entry. Each reply is an encoded Callraft__Reply (request_id 0).
 * Owned by the state; valid until the next state_apply or state_close. */
struct state_replies {
	size_t n;
	uint64_t term; /* the term the leader stamped on the entry (Entry.term) */
	uint32_t events; /* events the entry added to the event stream (wakes subscribers) */
	const uint8_t *bytes[CALLRAFT_BATCH_COMMANDS_MAX];
	size_t len[CALLRAFT_BATCH_COMMANDS_MAX];
};

/* Applies one log entry (an encoded Callraft__Entry) found at log index `index`, in one LMDB write
 * transaction that also stores the applied index, the sessions' replies and the FSM time
 * (max(stored time, entry.time_ms)).
 *
 * - index <= state_applied_index(): nothing changes; returns 1 (replay after restart), out->n = 0.
 * - An entry that cannot be decoded or has a bad format is recorded as applied and changes nothing
 *   else; every reply is absent (out->n = 0); returns 0. (All replicas do the same.)
 * - Each command runs in a nested transaction: a business error (NOT_FOUND, BAD_STATE, ...) rolls
 *   back only that command and travels in its reply.
 * - Exactly once: a command whose (client_id, seq) was already applied gets the stored reply and
 *   changes nothing; seq below the session's last gets SEQ_TOO_OLD; an unknown client_id gets
 *   SESSION_UNKNOWN. RegisterClient needs no session: its reply carries the new client_id.
 * - Quotas (quota.c): a command that would grow the state beyond entry.quota_bytes, a table beyond
 *   its share, or its session beyond its growth per minute gets RESOURCE_EXHAUSTED and changes
 *   nothing but its session's reply; every replica decides alike.
 * Returns 0 on success, 1 when skipped, -1 on an LMDB failure (errmsg says which; nothing changed:
 * the caller must treat it as fatal I/O). */
int state_apply(struct state *s, uint64_t index, const void *entry, size_t entry_len,
		struct state_replies *out, char *errmsg, size_t errmsg_len);
/* state_apply's answer to an entry this binary has no rules for (state/rules.c, R3): the state's
 * active rules version or a RulesSet is above state_rules_newest, or a command's operation is one
 * this binary does not know. Nothing changed; errmsg names the versions and says what to do. The
 * caller must stop applying (the node exits CALLRAFT_EXIT_RULES): applying it by older rules, or
 * skipping it, would part this replica from the others. */
#define STATE_APPLY_RULES (-2)

/* FSM rules versions (state/rules.c, docs/design.md "Rules versions").
 * The newest version this binary applies: CALLRAFT_RULES_NEWEST (state/rules_newest.c; a test
 * build links its own). It applies CALLRAFT_RULES_OLDEST..state_rules_newest. */
extern const uint32_t state_rules_newest;
/* The cluster's active rules version in the state (1 for a store made before versions); 0 if the
 * state cannot be read. Loop thread. */
uint32_t state_rules_active(struct state *s);
/* The operations this binary applies only from a rules version above 1: {Command op case,
 * version} pairs ended by {0, 0} (state/rules_newest.c: none today; a release that adds an
 * operation under version N names it there). A test build links its own with state_rules_newest:
 * callraftd-rules2 and tests/unit/test_rules.c say that ticket_class_configure needs version 2, so
 * that the refusals of an operation newer than the active version are tested (R3). */
struct state_rules_op {
	int op_case;      /* Callraft__Command__OpCase */
	uint32_t version; /* the rules version it needs, 2..CALLRAFT_RULES_VERSION_MAX */
};
extern const struct state_rules_op state_rules_ops[];
/* The rules version a command's operation needs (state_rules_ops, else 1; 0: no operation). */
uint32_t state_rules_needed(const Callraft__Command *cmd);
/* The leader's gate before it proposes a RulesSet: every member `ids` (the Raft configuration:
 * voters, standbys, spares) must have declared a range holding `want`; want 0 asks for the newest
 * version they all hold. Returns 0 with *version_out (>= the active version), or -1 with the first
 * reason in msg ("member 3 can apply rules versions 1..1, not 2: upgrade its binary or remove it").
 * apply checks the same against the member records (R2). Loop thread. */
int state_rules_gate(struct state *s, uint32_t want, const uint64_t *ids, size_t n_ids,
		     uint32_t *version_out, char *msg, size_t msg_len);

/* Checks a command's fields (lengths, required fields, character sets, ranges) without touching
 * the state. Returns CALLRAFT__CODE__OK, or INVALID_ARGUMENT / UNKNOWN_OPERATION with a message
 * such as "call_enqueue: call_id: missing". Used by the node before proposing and by apply after
 * decoding. */
Callraft__Code state_validate(const Callraft__Command *cmd, char *msg, size_t msg_len);

/* Answers a read request (call_show, queue_show, agent_show, agent_list, ticket_show, ticket_list,
 * members_list, stats_get, customer_history, site_list) from the current state. Returns a malloc'd encoded Callraft__Reply (caller frees
 * with free()) with request_id and applied_index filled; NULL on allocation failure. A request that
 * is not a read gets UNKNOWN_OPERATION. */
uint8_t *state_read(struct state *s, const Callraft__Request *req, size_t *len_out);

/* The bearer token whose SHA-256 is `hash` (state/tokens.c), from a read transaction of its own:
 * 0 and *out (the caller frees it with callraft__token__free_unpacked), 1 if there is none, -1 on
 * an LMDB failure (errmsg). Expiry is the caller's to check (its clock). */
int state_token_find(struct state *s, const uint8_t hash[CALLRAFT_TOKEN_HASH_BYTES],
		     Callraft__Token **out, char *errmsg, size_t errmsg_len);

/* Looks up a member. Returns 0 and fills *out (caller frees with callraft__member__free_unpacked),
 * or -1 if absent. */
int state_member_get(struct state *s, uint64_t id, Callraft__Member **out);

/* All members, ordered by id. Returns the count (<= max) and fills out[]; each to be freed with
 * callraft__member__free_unpacked. */
size_t state_members(struct state *s, Callraft__Member **out, size_t max);

/* A 64-bit digest of every table's keys and values (FNV-1a over the sorted contents). Two replicas
 * at the same applied index must have the same digest. */
uint64_t state_digest(struct state *s);
/* The same digest without asserting: 0, or the LMDB error met on the way (MDB_CORRUPTED,
 * MDB_PAGE_NOTFOUND...: a damaged data.mdb). */
int state_digest_checked(struct state *s, uint64_t *out);

/* Snapshot image: a header {magic "CRSNAP02", be64 applied index, be64 payload length, be64 CRC-32C
 * of the header's first 24 bytes and the payload} followed by a compacted copy of the LMDB
 * environment (state/snapshot.c). Safe to call from a worker thread while the loop thread
 * applies entries: the image holds the state at some applied index >= the one when it was called,
 * and records that index in its header. Returns 0 and a malloc'd buffer (*buf, *len), or -1. */
int state_snapshot(struct state *s, void **buf, size_t *len, char *errmsg, size_t errmsg_len);

/* The same image in two parts, without a second copy: `header` (STATE_IMAGE_HEADER_BYTES) followed
 * by `data` (data_len bytes, a read-only mapping of the compacted copy). Thread-safety as for
 * state_snapshot. Concatenated, header and data are exactly what state_snapshot returns. Release
 * with state_image_release (on any thread). */
#define STATE_IMAGE_HEADER_BYTES 32
struct state_image {
	uint8_t header[STATE_IMAGE_HEADER_BYTES];
	void *data;
	size_t data_len;
	uint64_t applied; /* the applied index the image holds (also in the header) */
};
int state_image_take(struct state *s, struct state_image *img, char *errmsg, size_t errmsg_len);
void state_image_release(struct state_image *img);

/* Bytes of the pages the tables use (branch, leaf and overflow pages; free pages left out): about
 * the size of a snapshot image. For sizing the snapshot interval and for status. Loop thread. */
uint64_t state_size_bytes(struct state *s);

/* Size of the state against its quota and LMDB's map (status, alarms). Loop thread. */
struct state_usage {
	uint64_t bytes;             /* logical bytes of every table (quota.c) */
	uint64_t quota_bytes;       /* the quota of the last applied entry; 0: none yet */
	const char *table;          /* the largest table, its bytes and its quota */
	uint64_t table_bytes;
	uint64_t table_quota_bytes;
	uint64_t map_bytes;         /* LMDB's map size and the pages in use up to its high mark */
	uint64_t map_used_bytes;
};
void state_usage(struct state *s, struct state_usage *out);

/* Checks an image before anything reads its payload: magic, length and checksum (an image of format
 * 1, "CRSNAP01", has no checksum: magic and length only). Any thread; reads buf only. Returns 0
 * with the applied index the header records and the offset of the payload in buf, or -1 with
 * "state: image: <what is wrong>" in errmsg (a damaged image: bit flips, zeroed pages and
 * truncation all end here). */
int state_image_check(const void *buf, size_t len, uint64_t *applied, size_t *payload_offset,
		      char *errmsg, size_t errmsg_len);

/* Restores a snapshot image (checked first with state_image_check). If the image's applied index is <= the local one, the local state is
 * already at least as new (restart with a trusted environment): nothing changes, *replaced = false.
 * Otherwise the environment is replaced atomically (written to "<dir>.restore", fsynced, checked,
 * renamed) and reopened; *replaced = true. No read or write may be in progress. Returns 0, or -1
 * with errmsg (the old state is kept on failure). */
int state_restore(struct state *s, const void *buf, size_t len, bool *replaced, char *errmsg,
		  size_t errmsg_len);

/* Ticket tracking codes: "T" + Crockford base32 of n (at least 5 digits) + one check symbol
 * (Crockford's mod-37 symbol set). Short enough to read out over the phone or send by SMS. */
void state_ticket_code(uint64_t n, char out[24]);
/* True if `code` is well formed and its check symbol matches. Strict: only the canonical form
 * state_ticket_code writes (upper case, no O/I/L aliases). */
bool state_ticket_code_valid(const char *code);
/* Writes the canonical form of a code as typed or read back (any case, O for 0, I or L for 1,
 * '-' and ' ' ignored) to `out`; true if that form is a valid code (check symbol included).
 * Every lookup by code (ticket_show, ticket_update) goes through it. */
bool state_ticket_code_normalize(const char *in, char out[24]);

/* Debug check of the cross-table invariants (calls.c, routing.c): every WAITING call is in the
 * queue index under its key and nothing else is; every OFFERED/ANSWERED call is held by exactly one
 * agent, ON_CALL with that call (so two agents can never both hold one call); every ON_CALL agent
 * holds a call that names it. Returns 0, or -1 with the first violation in msg. O(calls + agents):
 * for tests and the simulation, not for the hot path. */
int state_check(struct state *s, char *msg, size_t msg_len);

/* The event stream (events.c): events_read is answered by state_read (EventsRead, node-local:
 * any replica's events are a prefix of the committed log's). */
const char *state_event_kind_name(Callraft__EventKind kind);

/* What a node's /metrics reads (metrics.c), in one read transaction; each hook's arguments are
 * valid during the call only:
 *   scope   each queue and site with counters (a Stats record: scope "queue" or "site", counters,
 *           waiting, longest_wait_ms, service_level; agents left empty);
 *   site    each row of the sites table (down, nodes_reported, nodes_reachable);
 *   agents  agents of each site by state: by_state[Callraft__AgentState], n_states entries.
 * Returns 0, or -1 (LMDB failure or no memory; hooks may have been called). Loop thread. */
struct state_metrics_hooks {
	void (*scope)(void *data, const Callraft__Stats *st);
	void (*site)(void *data, const Callraft__Site *site);
	void (*agents)(void *data, const char *site, const uint32_t *by_state, unsigned n_states);
	void *data;
};
int state_metrics(struct state *s, const struct state_metrics_hooks *h);

/* Names for CLI and logs. */
const char *state_call_state_name(Callraft__CallState st);
const char *state_agent_state_name(Callraft__AgentState st);
const char *state_ticket_status_name(Callraft__TicketStatus st);

#endif
