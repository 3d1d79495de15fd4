/* state_internal.h: what the files of state/ share; nothing here is part of the contract (state.h).
 *
 * Files of the module, by job. They call each other in one direction only, from the top of this
 * list down (apply reaches the operations, the operations reach the helpers below them, nothing
 * calls back up), so there is no call circle among them:
 *   apply.c        state_apply: decoding, sessions (exactly once), nested transactions, replies.
 *   read.c         state_read.
 *   site_scope.c   issue 13: a site-limited actor acts on its own site's calls and agents only.
 *   metrics.c      state_metrics: what a node's /metrics reads (issue 15).
 *   assign.c       issue #14: pushed offers, the FSM giving waiting calls to ready agents.
 *   tick.c         Tick: fires the due timers, records the leader's report of sites' nodes.
 *   sitewatch.c    issue 12: site liveness decided by every Tick (held callers, loss, restore).
 *   calls.c        a call's life (enqueue, next, answer, end, abandon).
 *   agents.c       an agent's presence (login, set state, logout).
 *   tickets.c      tickets and their notes.
 *   customers.c    issue 16: the CRM's customer record; a call's tier and preferred agent.
 *   members.c      the member table (log-only upsert/delete, lookups).
 *   callbacks.c    callbacks (in-queue, scheduled, voicemail), dial attempts, site loss, redial.
 *   campaigns.c    issue 16: outbound campaigns (create, add, pause; the Tick's paced release).
 *   routing.c      issue #3: timers, the choice of `call next` (tiers, aging, overflow, known
 *                  agent), offers returning to the queue, presence.
 *   stats.c        live counters per queue and site (kept by apply) and the stats read.
 *   check.c        state_check: the debug check of every cross-table invariant.
 *   rules.c        FSM rules versions: the active version, members' declarations, the gate.
 *   stats_interval.c  stats over intervals: minute and site-local day buckets, their read.
 *   idem.c         idempotency keys of sessionless writes (HTTP's Idempotency-Key).
 *   tokens.c       issue 13: bearer tokens (issue, revoke, the node's lookup, their check).
 *   snapshot.c     state_snapshot, state_restore.
 *   state.c        open, close, the applied index, the digest.
 *   quota.c        the quotas over the logical bytes per table (RESOURCE_EXHAUSTED, issue 13).
 *   queue_index.c  the queue index, the site index and the waiting counts kept with it.
 *   queue_rank.c   issue 16: rank counters kept with the queue index; a waiting call's position.
 *   queue_wait.c   issue 16: the answer rate per queue and a waiting caller's expected wait.
 *   sitelive.c     issue 12: whether a site is watched, a caller held; evidence from agents.
 *   queue_config.c queue and site configuration, and the defaults of unconfigured ones.
 *   ticket_classes.c issue 16: ticket classes and their targets (configure, the defaults).
 *   history.c      a customer's contact history.
 *   ctx.c          the apply context: business outcome, borrowed records, typed call/agent I/O.
 *   events.c       issue #14: the event stream (emission, retention, events_read).
 *   campaign_count.c issue 16: campaign outcome counters (every campaign call's write), the
 *                  campaign tables' keys and their check.
 *   ready.c        issue #14: the ready index of agents offers are pushed to, and what a command
 *                  noted for assign.c.
 *   free_agents.c  the count of free agents per skill (campaign pacing), kept by every agent write.
 *   validate.c     state_validate.
 *   config_fields.c the tunable fields of QueueConfigure and SiteConfigure, with their bounds.
 *   ticket_code.c  tracking codes.
 *   names.c        names of states.
 *   site_hours.c   issue 16: a site's local clock windows (opening hours, calling hours).
 *   store.c        LMDB access: big-endian keys, meta counters, protobuf records, LMDB errors,
 *                  and the count of logical bytes per table that every write keeps (quota.c).
 *   checksum.c     CRC-32C, the checksum of snapshot images.
 *   rules_newest.c the newest rules version this binary applies (a test build links its own).
 * No file may call a function of one listed above it: tests/lint/state_layers.py (the unit test
 * unit/state_layers) checks every call between the files against this order.
 *
 * Error handling, everywhere in state/: functions that touch LMDB return 0 on success and -1 on an
 * LMDB failure, with "state: <what> '<subject>': <MDB error>" in errmsg. Such a failure is
 * operational (disk full, I/O): the whole entry is rolled back and the caller treats it as fatal.
 * Business outcomes (NOT_FOUND, BAD_STATE, ...) are not failures: they travel in the apply
 * context's code and message and roll back only the command's nested transaction. */
#ifndef CALLRAFT_STATE_INTERNAL_H
#define CALLRAFT_STATE_INTERNAL_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state.h"

/* Named databases, in the fixed order state_digest walks them. */
enum state_db {
	DB_META,
	DB_SESSIONS,
	DB_SESS_TIME,
	DB_CALLS,
	DB_QUEUE,
	DB_AGENTS,
	DB_TICKETS,
	DB_CUST_TIX,
	DB_MEMBERS,
	DB_QUEUES,     /* queue -> QueueConfig */
	DB_SITES,      /* site -> Site */
	DB_CUSTOMERS,  /* customer_id -> Customer */
	DB_TIMERS,     /* be64(due_ms) kind id -> "" (Tick fires them in due order) */
	DB_BY_NUMBER,  /* caller number -> call id of a site-loss callback (redial keeps the place) */
	DB_STATS,      /* 'q' queue | 's' site -> Stats (counters only) */
	DB_CUST_HIST,  /* customer_id '\0' be64(at_ms) be64(seq) -> HistoryItem */
	/* Kept with the queue index (routing.c) so that stats never walk the queues: */
	DB_SITE_WAIT,  /* arrival site '\0' be64(enqueued_ms) be64(seq) -> call id, WAITING calls */
	DB_WAITING,    /* 'q' queue | 's' arrival site -> be64 count of WAITING calls; 'r' rank counters
			* (queue_rank.c); 'a' queue -> its answer rate (queue_wait.c) */
	DB_EVENTS,     /* be64(index) be32(position) -> Event (events.c) */
	DB_READY,      /* skill '\0' be64(since_ms) agent_id -> "": ready agents (ready.c) */
	DB_IDEM,       /* idempotency key -> IdempotencyRecord (idem.c) */
	DB_IDEM_TIME,  /* be64(at_ms) key -> "" (expiry order of idempotency keys) */
	DB_STATS_IV,   /* 'p' queue '\0' site | 't' ticket class '\0' site -> StatsSeries */
	DB_TOKENS,     /* SHA-256 of a bearer token -> Token (tokens.c) */
	DB_TICKET_CLASSES, /* ticket class -> TicketClassConfig (ticket_classes.c) */
	DB_TICKET_DUE, /* scope [class '\0'] [site '\0'] be64(target_ms) code -> be64(due soon from)
			* for OPEN and IN_PROGRESS tickets, scopes 'a' 'c' 's' 'b' (ticket_classes.c) */
	DB_CAMPAIGNS,  /* campaign_id -> Campaign (campaigns.c) */
	DB_CAMPAIGN_TARGETS, /* campaign_id '\0' 't' be32(n) -> CampaignTarget; campaign_id '\0' 'n'
			      * number -> be32(n) (a number is in a campaign once) */
	DB_FREE_AGENTS, /* skill -> be64 count of AVAILABLE agents with a lease (free_agents.c) */
	DB_COUNT
};

extern const char *const state_db_names[DB_COUNT];

/* meta keys */
#define META_APPLIED "applied"
#define META_TIME "time"
#define META_TICKET_SEQ "ticket_seq"
#define META_CLIENT_SEQ "client_seq"
#define META_IDEM_COUNT "idem_count"
#define META_TICKET_DUE "ticket_due_built" /* 1 once the due index covers every ticket */
#define META_TICK_LAST "tick_last_ms"         /* FSM time of the last Tick (sitewatch.c) */
#define META_TICKING_SINCE "ticking_since_ms" /* the first Tick after the last stall */
#define META_STALL_ENDED "stall_ended_ms"     /* the first Tick after the last stall, not the first
						 * Tick ever (0: none yet) */
#define META_RULES "rules"                   /* the active FSM rules version (rules.c); absent: 1 */

#define STATE_MAP_BYTES_DEFAULT ((size_t)8 << 30)
/* Queue index key: queue '\0' (255 - tier) be64(enqueued_ms) be64(enqueue_seq). */
#define QUEUE_KEY_SUFFIX_BYTES (1 + 8 + 8)
#define QUEUE_KEY_BYTES_MAX (CALLRAFT_QUEUE_BYTES_MAX + 1 + QUEUE_KEY_SUFFIX_BYTES)
/* Customer ticket index key: customer_id '\0' be64(ticket number). */
#define CUST_KEY_BYTES_MAX (CALLRAFT_ID_BYTES_MAX + 1 + 8)
_Static_assert(QUEUE_KEY_BYTES_MAX <= 511 && CUST_KEY_BYTES_MAX <= 511,
	       "keys must fit LMDB's default maximum key size");
/* Timer key: be64(due_ms) kind id. */
#define TIMER_KEY_BYTES_MAX (8 + 1 + CALLRAFT_ID_BYTES_MAX)
#define HIST_KEY_BYTES_MAX (CALLRAFT_ID_BYTES_MAX + 1 + 16)
/* Business messages quote at most a few identifiers (each <= CALLRAFT_ID_BYTES_MAX). */
#define STATE_MSG_BYTES_MAX 320

struct state {
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	char *dir;                    /* the environment's directory (owned) */
	size_t map_bytes;
	bool no_sync;
	uint64_t events_retained_max; /* CALLRAFT_EVENTS_RETAINED_MAX unless a test lowers it */
	/* Logical bytes per table (quota.c), including the changes of the open write transaction;
	 * counted only once bytes_ready (after the open-time rebuilds). */
	uint64_t bytes[DB_COUNT];
	bool bytes_ready;
	uint64_t quota_bytes_seen;    /* the quota of the last applied entry (status only) */
	/* Reply buffers of the last applied entry, reused between calls (see state_replies). */
	uint8_t *reply_buf[CALLRAFT_BATCH_COMMANDS_MAX];
	size_t reply_cap[CALLRAFT_BATCH_COMMANDS_MAX];
	/* Site liveness decisions (sitewatch.c), see state_set_site_event. */
	state_site_event_fn *site_event_fn;
	void *site_event_data;
};

/* One command being applied. The objects a reply carries are copies (call, agent, ticket) whose
 * strings borrow from the unpacked records (*_src) and from the decoded command; apply.c packs the
 * reply and then releases everything with apply_ctx_release. */
struct apply_ctx {
	struct state *s;
	MDB_txn *txn;        /* the command's nested write transaction */
	uint64_t index;      /* log index of the entry */
	unsigned position;   /* position of the command in the entry */
	uint64_t term;       /* entry.term: first half of offer tokens */
	int64_t now_ms;      /* FSM time */
	uint32_t *event_pos; /* the entry's next event position (events.c) */
	char *errmsg;        /* LMDB failures */
	size_t errmsg_len;

	Callraft__Code code; /* business outcome; OK unless ctx_fail was called */
	char msg[STATE_MSG_BYTES_MAX];
	uint64_t client_id;  /* RegisterClient's reply */
	uint64_t quota_bytes;        /* the entry's quota (0: none) */
	bool quota_exempt;           /* the leader's own commands (Tick, membership) */
	const Callraft__Session *session; /* the command's session (its growth window), or NULL */
	int64_t growth_bytes;        /* logical bytes the committed command added (< 0: freed) */

	bool has_call, has_agent, has_ticket, has_token, has_campaign;
	Callraft__Campaign campaign;  /* campaign operations' reply (strings borrowed) */
	Callraft__Token token;        /* token issue/revoke's reply (without its hash) */
	Callraft__Call call;
	Callraft__Agent agent;
	Callraft__Ticket ticket;
	Callraft__Call *call_src;
	Callraft__Agent *agent_src;
	Callraft__Ticket *ticket_src;
	Callraft__TicketNote **notes; /* malloc'd notes array of the ticket copy, if rebuilt */
	Callraft__TicketNote note;    /* the note a ticket operation appends */
	char code_buf[24];            /* a new ticket's code */
	ProtobufCMessage *owned[4];   /* other records the reply's strings borrow from */
	size_t n_owned;

	/* ready.c notes what the command changed that may let a ready agent take a call; assign.c
	 * acts on it at the end of the command. */
	char assign_agents[CALLRAFT_ASSIGN_AGENTS_MAX][CALLRAFT_ID_BYTES_MAX + 1]; /* became ready */
	unsigned n_assign_agents;
	char assign_queues[CALLRAFT_AGENT_SKILLS_MAX][CALLRAFT_QUEUE_BYTES_MAX + 1]; /* got a call */
	unsigned n_assign_queues;
	bool assign_sweep;   /* more than the arrays hold, or a Tick: sweep the ready agents */
	int64_t stall_ended_ms; /* a Tick's: when the cluster's last stall ended (sitewatch.c), or 0 */
	bool assigning;      /* assign_after_command is running (its own offers note nothing) */
};

/* ---- assign.c (issue #14): pushed offers ------------------------------------------------- */
/* run_op, after a command succeeded, in its transaction: offers waiting calls to ready agents. */
int assign_after_command(struct apply_ctx *c);
/* calls.c: offers a WAITING call (out of the queue index) to an AVAILABLE agent; puts both. Used by
 * `call next` and assign.c. */
int route_offer(struct apply_ctx *c, Callraft__Call *call, Callraft__Agent *agent);

/* ---- ctx.c ------------------------------------------------------------------------------ */
/* A context for a rebuild at open (no entry: index, time and outcome zero) in a new top-level write
 * transaction of s (the caller commits or aborts c->txn): 0, or -1 with "open '<dir>': <what>". */
int ctx_begin_at_open(struct apply_ctx *c, struct state *s, const char *what, char *errmsg,
		      size_t errmsg_len);
/* Keeps an unpacked record alive until apply_ctx_release (the reply borrows its strings). */
void ctx_own(struct apply_ctx *c, ProtobufCMessage *m);

/* Sets the command's business outcome (the nested transaction will be rolled back). */
void ctx_fail(struct apply_ctx *c, Callraft__Code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Frees what the context borrowed from (unpacked records, the notes array). */
void apply_ctx_release(struct apply_ctx *c);

/* ---- events.c (issue #14) ------------------------------------------------------------------
 * The API other modules emit events through. event_emit fills index, position and at_ms and
 * writes the event in the command's transaction (so a failed command emits nothing); the event's
 * strings are borrowed only for the call. Returns 0 or -1 (LMDB failure, errmsg set). */
int event_emit(struct apply_ctx *c, Callraft__Event *ev);
/* Called by ctx_put_call / ctx_put_agent / route_site_put with the record before the write (NULL:
 * none) and the one being written: emit the event of the change, if it is one followed. */
int event_call_changed(struct apply_ctx *c, const Callraft__Call *old, const Callraft__Call *now);
int event_agent_changed(struct apply_ctx *c, const Callraft__Agent *old,
			const Callraft__Agent *now);
int event_site_changed(struct apply_ctx *c, bool was_down, const Callraft__Site *now);
/* Retention, after each entry (apply.c): see events.c. */
int events_trim(struct state *s, MDB_txn *txn, int64_t now_ms, uint32_t added, char *errmsg,
		size_t errmsg_len);
/* events_read into reply (events, next_index, next_position): a Code, with msg on failure. The
 * reply's events are malloc'd (free each with free_unpacked, and the array). */
int events_read(struct state *s, MDB_txn *txn, const Callraft__EventsRead *q, uint64_t applied,
		Callraft__Reply *reply, char *msg, size_t msg_len);
bool events_read_valid(const Callraft__EventsRead *q, char *msg, size_t msg_len);

/* ---- ready.c (issue #14) ------------------------------------------------------------------ */
/* ctx_put_agent: keeps the ready index in step with the agent record (old NULL: new agent) and
 * notes an agent that became ready. */
int ready_update(struct apply_ctx *c, const Callraft__Agent *old, const Callraft__Agent *now);
/* route_queue_put: notes a queue that got a waiting call. */
void ready_note_queue(struct apply_ctx *c, const char *queue);
/* The ready index's key of one skill of an agent. */
#define READY_KEY_BYTES_MAX (CALLRAFT_QUEUE_BYTES_MAX + 1 + 8 + CALLRAFT_ID_BYTES_MAX)
size_t ready_key(uint8_t out[READY_KEY_BYTES_MAX], const char *skill, int64_t since_ms,
		 const char *agent_id);
/* A ready agent: AVAILABLE with push set. */
bool ready_is(const Callraft__Agent *a);
/* Up to `max` agent ids from the ready index, from queue `prefix` on (""; the whole index), in
 * key order, each once: the count, or -1. */
int ready_collect(struct apply_ctx *c, const char *prefix, char ids[][CALLRAFT_ID_BYTES_MAX + 1],
		  unsigned max);
/* ---- free_agents.c -------------------------------------------------------------------------- */
/* ctx_put_agent: keeps the free agents' counts in step with the agent record (old NULL: new). */
int free_agents_update(struct apply_ctx *c, const Callraft__Agent *old, const Callraft__Agent *now);
/* Agents free to take a call of queue `skill` at c->now_ms: AVAILABLE, the skill, the presence
 * lease live. Reads one count and the timers already due, never the agents table. 0 or -1. */
int free_agents_count(struct apply_ctx *c, const char *skill, uint32_t *out);
/* At open, in the caller's transaction: the counts of a store written before the table. 1 if it
 * wrote any, 0 if nothing was missing, -1 (errmsg). */
int free_agents_rebuild(struct apply_ctx *c);
/* Invariant F1 (free_agents.c): 0, or -1 with the violation in msg. O(skills x agents). */
int free_agents_check(struct state *s, MDB_txn *txn, char *msg, size_t msg_len);
/* ---- idem.c ----------------------------------------------------------------------------- */
/* FNV-1a 64 of the command's operation (client_id, seq and key left out). */
uint64_t idem_fingerprint(const Callraft__Command *cmd);
/* The live record of `key`: 0 with *out (free with protobuf_c_message_free_unpacked), 1 if absent
 * or expired at now_ms, -1 on failure. */
int idem_get(struct state *s, MDB_txn *txn, const char *key, int64_t now_ms,
	     Callraft__IdempotencyRecord **out, char *errmsg, size_t errmsg_len);
/* Stores the first reply under `key` (replacing an expired record; dropping the oldest keys while
 * keys_max are held: apply passes CALLRAFT_IDEMPOTENCY_KEYS_MAX). 0 or -1. */
int idem_put(struct state *s, MDB_txn *txn, const char *key, uint64_t fingerprint, int64_t now_ms,
	     const uint8_t *reply, size_t reply_len, uint64_t keys_max, char *errmsg,
	     size_t errmsg_len);
/* Deletes up to CALLRAFT_IDEMPOTENCY_EXPIRE_PER_ENTRY keys older than the TTL. 0 or -1. */
int idem_expire(struct state *s, MDB_txn *txn, int64_t now_ms, char *errmsg, size_t errmsg_len);
/* The idempotency tables' invariants (idem.c's top). 0, or -1 with the first violation. */
int idem_check(struct state *s, MDB_txn *txn, char *msg, size_t msg_len);

/* ---- checksum.c ------------------------------------------------------------------------- */
/* CRC-32C of buf, continuing `crc` (0 to start). Any thread. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
/* Tests: true makes crc32c use its table even where the CPU has a crc32 instruction. */
extern bool crc32c_force_table;

/* ---- store.c ---------------------------------------------------------------------------- */
void be64_put(uint8_t *p, uint64_t v);
uint64_t be64_get(const uint8_t *p);

/* Formats "state: <what>: <mdb_strerror(rc)>" into errmsg; returns -1. */
int store_err(char *errmsg, size_t errmsg_len, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* meta counters: absent means 0. */
int store_meta_get(struct state *s, MDB_txn *txn, const char *key, uint64_t *out, char *errmsg,
		   size_t errmsg_len);
int store_meta_put(struct state *s, MDB_txn *txn, const char *key, uint64_t v, char *errmsg,
		   size_t errmsg_len);

/* Reads and unpacks a record. Returns 0 and *out (free with protobuf_c_message_free_unpacked),
 * 1 if absent, -1 on an LMDB failure or a record that does not unpack. `what` names the table and
 * `subject` the key in messages ("get call 'c1'"). */
int store_get(struct state *s, MDB_txn *txn, enum state_db db, const void *key, size_t key_len,
	      const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out, const char *what,
	      const char *subject, char *errmsg, size_t errmsg_len);
/* Calls `each` with every record of table `db` in key order, decoded as `desc` and freed after the
 * call. Returns 0 after the last record, MDB_CORRUPTED when a record does not decode, the first
 * nonzero return of `each` (the walk stops there), or LMDB's code. */
int store_each(struct state *s, MDB_txn *txn, enum state_db db,
	       const ProtobufCMessageDescriptor *desc, int (*each)(void *arg, ProtobufCMessage *m),
	       void *arg);
/* Packs `msg` straight into LMDB (MDB_RESERVE). */
int store_put(struct state *s, MDB_txn *txn, enum state_db db, const void *key, size_t key_len,
	      const ProtobufCMessage *msg, const char *what, const char *subject, char *errmsg,
	      size_t errmsg_len);
/* A counter record (be64 value): 0 with *out (0 if absent), MDB_CORRUPTED if the value is not
 * 8 bytes, or LMDB's code. */
int store_get_u64(struct state *s, MDB_txn *txn, enum state_db db, const void *key,
		  size_t key_len, uint64_t *out);
/* Puts raw bytes. */
int store_put_raw(struct state *s, MDB_txn *txn, enum state_db db, const void *key, size_t key_len,
		  const void *val, size_t val_len, const char *what, const char *subject, char *errmsg,
		  size_t errmsg_len);
/* Counts a write of `db` in s->bytes (quota.c): a record of key_len bytes whose value was old_len
 * bytes (if `old`) and is now new_len bytes (if `now`). Meta is not counted. The store_ functions
 * call it; a module that deletes through a cursor must call it itself. */
void store_account(struct state *s, enum state_db db, size_t key_len, size_t old_len, bool old,
		   size_t new_len, bool now);
/* Deletes a key; an absent key is not an error (returns 1). */
int store_del(struct state *s, MDB_txn *txn, enum state_db db, const void *key, size_t key_len,
	      const char *what, const char *subject, char *errmsg, size_t errmsg_len);

/* Key builders; return the key length. */
size_t queue_key(uint8_t out[QUEUE_KEY_BYTES_MAX], const Callraft__Call *call);
size_t cust_key(uint8_t out[CUST_KEY_BYTES_MAX], const char *customer_id, uint64_t n);
/* A timer's key in DB_TIMERS: be64(due_ms) kind (enum timer_kind) id. */
size_t timer_key(uint8_t out[TIMER_KEY_BYTES_MAX], int kind, int64_t due_ms, const char *id);

/* ctx.c: typed wrappers of store_get/store_put for the context's transaction (string keys). */
int ctx_get_call(struct apply_ctx *c, const char *call_id, Callraft__Call **out);
/* A new WAITING call born at this entry (enqueued_ms now, enqueue_seq from the entry's
 * index and position: the queue's order); every other field zero. For an enqueue and a campaign's
 * release alike. The strings are borrowed. */
void call_init_waiting(const struct apply_ctx *c, Callraft__Call *call, char *call_id, char *queue,
		       char *caller_number, char *customer_id, char *arrival_site);
int ctx_get_agent(struct apply_ctx *c, const char *agent_id, Callraft__Agent **out);
int ctx_put_call(struct apply_ctx *c, const Callraft__Call *call);
int ctx_put_agent(struct apply_ctx *c, const Callraft__Agent *agent);

/* ---- operations (calls.c, agents.c, tickets.c, members.c) ------------------------------- */
int op_call_enqueue(struct apply_ctx *c, const Callraft__CallEnqueue *op);
int op_call_next(struct apply_ctx *c, const Callraft__CallNext *op);
int op_call_answer(struct apply_ctx *c, const Callraft__CallAnswer *op);
int op_call_end(struct apply_ctx *c, const Callraft__CallEnd *op);
int op_call_abandon(struct apply_ctx *c, const Callraft__CallAbandon *op);
int op_agent_login(struct apply_ctx *c, const Callraft__AgentLogin *op);
int op_agent_set_state(struct apply_ctx *c, const Callraft__AgentSetState *op);
int op_agent_logout(struct apply_ctx *c, const Callraft__AgentLogout *op);
int op_ticket_open(struct apply_ctx *c, const Callraft__TicketOpen *op);
int op_ticket_update(struct apply_ctx *c, const Callraft__TicketUpdate *op);
int op_member_upsert(struct apply_ctx *c, const Callraft__MemberUpsert *op);

/* rules.c: the FSM rules version (invariants R1-R4 there). */
uint32_t rules_needed(const Callraft__Command *cmd);
/* The active version in txn (absent: 1). 0 with *out, or -1 (errmsg). */
int rules_active_get(struct state *s, MDB_txn *txn, uint32_t *out, char *errmsg, size_t errmsg_len);
/* R3, before an entry runs: 0, 1 when this binary has no rules for it (errmsg says why and what to
 * do), -1 on an LMDB failure. */
int rules_entry_check(struct state *s, MDB_txn *txn, uint64_t index, const Callraft__Entry *e,
		      char *errmsg, size_t errmsg_len);
/* R3, per command: 0 if the active version covers it, 1 when refused (c->code BAD_STATE), -1. */
int rules_command_allowed(struct apply_ctx *c, MDB_txn *txn, const Callraft__Command *cmd);
int op_rules_declare(struct apply_ctx *c, const Callraft__RulesDeclare *op);
int op_rules_set(struct apply_ctx *c, const Callraft__RulesSet *op);
int rules_check(struct state *s, MDB_txn *txn, char *msg, size_t msg_len);
int op_member_delete(struct apply_ctx *c, const Callraft__MemberDelete *op);
/* ctx.c: attaches records to the context (at most one of each). */
void ctx_attach_call(struct apply_ctx *c, Callraft__Call *src);
void ctx_attach_agent(struct apply_ctx *c, Callraft__Agent *src);
/* Load a command's call or agent and attach it: 0; 1 with NOT_FOUND set as the business outcome;
 * -1 on a store error. */
int ctx_load_call(struct apply_ctx *c, const char *call_id);
int ctx_load_agent(struct apply_ctx *c, const char *agent_id);
/* ctx_load_agent for a command only a logged-in agent may send: also 1, with BAD_STATE "not
 * logged in", when the agent is OFFLINE (the agent stays attached). */
int ctx_load_agent_in(struct apply_ctx *c, const char *agent_id);

/* ---- routing.c, queue_config.c, queue_index.c, tick.c -------------------------------------- */
enum timer_kind {
	TIMER_OFFER = 1,    /* id: call; an offer not answered in time returns to the queue */
	TIMER_PRESENCE = 2, /* id: agent; silent agents become UNREACHABLE */
	TIMER_WRAP = 3,     /* id: agent; WRAP_UP ends */
	TIMER_RELEASE = 4,  /* id: call; a SCHEDULED callback enters the queue */
	TIMER_SITE = 5,     /* id: site; check whether every agent of the site is gone */
};

/* A queue's config with defaults for what was never configured (queue borrowed). */
int route_queue_config(struct apply_ctx *c, const char *queue, Callraft__QueueConfig *out);
/* A site's record, or defaults (site borrowed, down false) if it was never configured. Scalars
 * only are valid after return (strings point to static ""), except site. */
int route_site(struct apply_ctx *c, const char *site, Callraft__Site *out);
/* Fills *q (whole struct) with the routing defaults of a never-configured queue; borrows `queue`. */
void route_queue_defaults(Callraft__QueueConfig *q, const char *queue);
int route_site_put(struct apply_ctx *c, const Callraft__Site *site);
int timer_set(struct apply_ctx *c, enum timer_kind kind, int64_t due_ms, const char *id);
int timer_del(struct apply_ctx *c, enum timer_kind kind, int64_t due_ms, const char *id);
/* Returns an OFFERED (or ANSWERED, for site loss) call to the queue under its original key
 * (tier, enqueued_ms, enqueue_seq): its place in line is intact. The agent is not touched. */
int route_requeue(struct apply_ctx *c, Callraft__Call *call);
/* Frees the agent holding `call` after an offer ended without an answer: AVAILABLE, or
 * UNREACHABLE if its presence has expired. */
int route_release_agent(struct apply_ctx *c, Callraft__Agent *agent);
/* Records that the agent was heard from now (presence lease renewed; UNREACHABLE -> AVAILABLE). */
int route_touch_agent(struct apply_ctx *c, Callraft__Agent *agent);
/* The best eligible waiting call for `agent` (see routing.c). 0 with key/call id, 1 if none. */
int route_pick(struct apply_ctx *c, const Callraft__Agent *agent, uint8_t key[QUEUE_KEY_BYTES_MAX],
	       size_t *key_len, char call_id[CALLRAFT_ID_BYTES_MAX + 1]);
/* Effective priority of a waiting call at now_ms under cfg. */
int route_effective_priority(const Callraft__Call *call, const Callraft__QueueConfig *cfg,
			     int64_t now_ms);
/* Key of a WAITING call in DB_SITE_WAIT (out: SITE_WAIT_KEY_BYTES_MAX bytes). */
#define SITE_WAIT_KEY_BYTES_MAX (CALLRAFT_SITE_BYTES_MAX + 1 + 8 + 8)
size_t site_wait_key(uint8_t *out, const char *site, int64_t enqueued_ms, uint64_t seq);
/* The count of WAITING calls of a queue (scope 'q') or arrival site ('s') in DB_WAITING: 0 (absent
 * is a count of 0), or an LMDB error code (MDB_CORRUPTED for a malformed record). */
int waiting_count(struct state *s, MDB_txn *txn, char scope, const char *name, uint64_t *out);
/* Puts a WAITING call into the queue index under queue_key(call), with its site index entry and
 * waiting counts. */
int route_queue_put(struct apply_ctx *c, const Callraft__Call *call);
/* At open: builds the site index and waiting counts from the queue index if the state has none
 * (a state made before they were kept). Deterministic: replicas build the same. */
int route_waiting_rebuild(struct state *s, char *errmsg, size_t errmsg_len);
/* queue_rank.c: rank counters kept with the queue index (+1 when a call enters it, -1 when it
 * leaves), whether any exist, and a waiting call's 1-based position in its queue's routing order
 * at now_ms (O(log n)); priority: route_effective_priority(call, cfg, now_ms). */
int rank_add(struct apply_ctx *c, const Callraft__Call *call, int delta);
int rank_present(struct state *s, MDB_txn *txn, bool *out);
int queue_position(struct state *s, MDB_txn *txn, int64_t now_ms, const Callraft__Call *call,
		   const Callraft__QueueConfig *cfg, int priority, uint64_t *position);
/* queue_wait.c: the answer rate kept per queue (DB_WAITING scope 'a') and a waiting caller's
 * expected wait from it. queue_wait_answered: at every answer of a call of the queue.
 * queue_wait_expected: position x the queue's average answer interval in *wait_ms, -1 when the
 * queue has answered nobody yet; 0 or an LMDB error code. */
int queue_wait_answered(struct apply_ctx *c, const Callraft__Call *call);
int queue_wait_expected(struct state *s, MDB_txn *txn, const char *queue, uint64_t position,
			int64_t *wait_ms);
/* Takes a call out of the queue index (queue_key(call)), its site index entry and waiting counts:
 * 0, 1 if it was not in the index (nothing changes), -1 on a store error. */
int route_queue_del(struct apply_ctx *c, const Callraft__Call *call);
/* Puts a call into the queue index and counts it as entered (stats). */
int route_enter_queue(struct apply_ctx *c, const Callraft__Call *call);
int op_tick(struct apply_ctx *c, const Callraft__Tick *op);

/* tokens.c: token issue (`actor`: the issuing request's, kept as issued_by) and revoke; their
 * reply is c->token. tokens_check: the invariants of the table (0, or -1 with msg). */
int op_token_issue(struct apply_ctx *c, const Callraft__TokenIssue *op, const char *actor);
int op_token_revoke(struct apply_ctx *c, const Callraft__TokenRevoke *op);
int tokens_check(struct state *s, MDB_txn *txn, char *msg, size_t msg_len);

/* site_scope.c: may a site-limited actor (Command.actor_site) run `cmd`? 0 yes (also when it has
 * no limit, or the call or agent does not exist), 1 no (msg names the object, its site and the
 * limit), -1 on an LMDB failure (errmsg). Reads through `txn`, writes nothing. */
int site_scope_check(struct state *s, MDB_txn *txn, const Callraft__Command *cmd, char *msg,
		     size_t msg_len, char *errmsg, size_t errmsg_len);
/* The same checks for one agent or one call, for reads (read.c); `op` prefixes the message. */
int site_scope_agent(struct state *s, MDB_txn *txn, const char *op, const char *agent_id,
		     const char *actor, const char *actor_site, char *msg, size_t msg_len,
		     char *errmsg, size_t errmsg_len);
int site_scope_call(struct state *s, MDB_txn *txn, const char *op, const char *call_id,
		    const char *actor, const char *actor_site, char *msg, size_t msg_len,
		    char *errmsg, size_t errmsg_len);
int op_call_reject(struct apply_ctx *c, const Callraft__CallReject *op);
int op_agent_heartbeat(struct apply_ctx *c, const Callraft__AgentHeartbeat *op);
int op_queue_configure(struct apply_ctx *c, const Callraft__QueueConfigure *op);
int op_site_configure(struct apply_ctx *c, const Callraft__SiteConfigure *op);

/* ---- callbacks.c ------------------------------------------------------------------------ */
int op_callback_request(struct apply_ctx *c, const Callraft__CallbackRequest *op);
int op_callback_schedule(struct apply_ctx *c, const Callraft__CallbackSchedule *op);
int op_callback_voicemail(struct apply_ctx *c, const Callraft__CallbackVoicemail *op);
int op_call_dial_attempt(struct apply_ctx *c, const Callraft__CallDialAttempt *op);
int op_site_down(struct apply_ctx *c, const Callraft__SiteDown *op);
int op_site_up(struct apply_ctx *c, const Callraft__SiteUp *op);
/* Site loss: marks the site down, makes its waiting callers callbacks (place intact) and returns
 * the calls its agents held to the queue as callbacks; its agents become UNREACHABLE. */
int callbacks_site_lost(struct apply_ctx *c, const char *site, const char *reason, bool automatic);
/* Called by Tick for TIMER_RELEASE: a SCHEDULED callback enters the queue. */
int callbacks_release(struct apply_ctx *c, const char *call_id, int64_t due_ms);
/* A callback being dialled was not reached (outcome): retried later in its place, or UNREACHED. */
int callbacks_not_reached(struct apply_ctx *c, Callraft__Call *call, Callraft__DialOutcome outcome);
/* CallEnqueue of a caller who redialled while an earlier call of theirs holds a place (see
 * callbacks.c): 1 if `call` took the old call's place (call filled with the old key), 0 if not,
 * -1 on failure. */
int callbacks_redial(struct apply_ctx *c, Callraft__Call *call);
/* TIMER_SITE (fired by tick.c), for a site sitewatch.c does not watch: the site is lost when every
 * agent's presence lease has lapsed for site_loss_after_ms. */
int callbacks_site_check(struct apply_ctx *c, const char *site);
/* Makes `call` (a copy, written back by the caller) a callback because its site was lost, and
 * indexes its number for a redial. */
int callbacks_convert(struct apply_ctx *c, Callraft__Call *call);
/* Indexes a call with a caller number under (number, queue) for a redial (callbacks_redial). */
int callbacks_number_put(struct apply_ctx *c, const Callraft__Call *call);
/* Ends a call in progress (ANSWERED, or OFFERED while dialled) with outcome "site-lost" and, per
 * its queue, puts a callback in its original place. `call` is a copy; the agent is not touched. */
int callbacks_end_site_lost(struct apply_ctx *c, Callraft__Call *call);

/* ---- campaigns.c (issue 16) ------------------------------------------------------------- */
int op_campaign_create(struct apply_ctx *c, const Callraft__CampaignCreate *op);
int op_campaign_add(struct apply_ctx *c, const Callraft__CampaignAdd *op);
int op_campaign_pause(struct apply_ctx *c, const Callraft__CampaignPause *op);
int op_campaign_delete(struct apply_ctx *c, const Callraft__CampaignDelete *op);
/* Every Tick: releases the targets the pacing rule allows (see campaigns.c). */
int campaigns_tick(struct apply_ctx *c);
/* A call id "<campaign>.NNNNNN" of an existing campaign is the campaign's (its target n, released
 * or to be): before creating a call under a client's id, 1 with ALREADY_EXISTS set if it is one,
 * 0 if not, -1. */
int campaign_call_reserved(struct apply_ctx *c, const char *call_id);

/* ---- campaign_count.c (issue 16) -------------------------------------------------------- */
/* The campaign's record: 0 with *out (free it), 1 if absent, -1 (errmsg). */
int campaign_get(struct state *s, MDB_txn *txn, const char *campaign_id, Callraft__Campaign **out,
		 char *errmsg, size_t errmsg_len);
int campaign_put(struct apply_ctx *c, const Callraft__Campaign *cp);
/* ctx_put_call: counts a campaign call's outcome (reached, unreached, ended) once. */
int campaign_call_changed(struct apply_ctx *c, const Callraft__Call *old, const Callraft__Call *now);
/* Keys of DB_CAMPAIGN_TARGETS: a target by its number n, or the number index row. */
#define CAMPAIGN_KEY_TARGET 't'
#define CAMPAIGN_KEY_NUMBER 'n'
#define CAMPAIGN_KEY_BYTES_MAX (CALLRAFT_CAMPAIGN_ID_BYTES_MAX + 2 + CALLRAFT_PHONE_BYTES_MAX)
size_t campaign_target_key(uint8_t out[CAMPAIGN_KEY_BYTES_MAX], const char *campaign_id, char kind,
			   uint32_t n, const char *number);
uint32_t campaign_be32(const void *p);
/* "<campaign>.NNNNNN": the call of target n. */
void campaign_call_id(char out[CALLRAFT_ID_BYTES_MAX + 1], const char *campaign_id, uint32_t n);
/* Invariants C1-C3 (campaigns.c): 0, or -1 with the first violation in msg. */
int campaigns_check(struct state *s, MDB_txn *txn, char *msg, size_t msg_len);

/* ---- history.c -------------------------------------------------------------------------- */
/* Appends a line to the customer's contact history (nothing if customer_id is empty). */
int history_add(struct apply_ctx *c, const char *customer_id, const char *kind, const char *id);
/* The same with a detail (the outcome lines of a call: answered, ended, abandoned). */
int history_add_detail(struct apply_ctx *c, const char *customer_id, const char *kind,
		       const char *id, const char *detail);

/* ---- ticket_classes.c ------------------------------------------------------------------- */
void ticket_class_defaults(Callraft__TicketClassConfig *out, const char *cls);
/* The class's effective targets into *out (its name borrowed from cls): 0, 1 when the class is
 * neither built in (urgent, follow-up) nor configured (*out then has follow-up's defaults), -1 on
 * a store error. */
int ticket_class_get(struct state *s, MDB_txn *txn, const char *cls,
		     Callraft__TicketClassConfig *out, char *errmsg, size_t errmsg_len);
int op_ticket_class_configure(struct apply_ctx *c, const Callraft__TicketClassConfigure *op);
/* Keeps the due index of ticket t: listed while OPEN or IN_PROGRESS (was_listed: before this
 * change). */
int ticket_due_update(struct apply_ctx *c, const Callraft__Ticket *t, bool was_listed);
/* At open: builds the due index from the tickets if this store has not had one since its first
 * ticket (meta ticket_due_built absent: tickets stored before the index existed), then marks it
 * built. Deterministic: every replica builds the same. 0, or -1 with errmsg. */
int ticket_due_rebuild(struct state *s, char *errmsg, size_t errmsg_len); /* 1: rebuilt */
/* Invariant 4 of tickets.c: the due index holds the four keys of exactly the OPEN and IN_PROGRESS
 * tickets (0, or -1 with the first violation in msg). O(tickets). */
int ticket_due_check(struct state *s, MDB_txn *txn, char *msg, size_t msg_len);
/* The due index key prefix of scope ('a' all, 'c' class, 's' site, 'b' both) into out. */
#define TICKET_DUE_PREFIX_MAX (2 * CALLRAFT_CATEGORY_BYTES_MAX + 2 * CALLRAFT_SITE_BYTES_MAX + 4)
size_t ticket_due_prefix(uint8_t *out, char scope, const char *cls, const char *site);

/* ---- customers.c ------------------------------------------------------------------------ */
/* The customer's row: 0 with *out (free it, or ctx_own it), 1 when there is none (or no id),
 * -1 on a store error. */
int customer_get(struct apply_ctx *c, const char *customer_id, Callraft__Customer **out);
int op_customer_set(struct apply_ctx *c, const Callraft__CustomerSet *op);
/* After a talk: agent_id is the customer's last agent (the CRM's fields are kept). */
int customer_talked(struct apply_ctx *c, const char *customer_id, const char *agent_id);
/* An enqueued call's tier from the customer's record unless tier_override; its preferred agent
 * on request (op's requested_agent, the record's, or with same_agent the unexpired last agent) for
 * op's agent_timeout_ms or the queue's known_agent_timeout_ms. */
int customer_apply_tier(struct apply_ctx *c, Callraft__Call *call, bool tier_override);
int customer_prefer(struct apply_ctx *c, Callraft__Call *call, const Callraft__CallEnqueue *op);

/* ---- site_hours.c (issue 16): pure functions of a site record and an FSM time --------------- */
/* t if t lies in the local window [from, until) of a site at offset_minutes (or from == until: no
 * window), else the window's next start (< 1 day after t). */
int64_t site_hours_next(int32_t offset_minutes, int32_t from, int32_t until, int64_t t);
/* t if the site is open at t (its closing time known), else its next opening after t. */
int64_t site_opening_next(const Callraft__Site *s, int64_t t);
/* t if a callback of the site may be dialled at t, else the next start of its calling hours. */
int64_t site_calling_next(const Callraft__Site *s, int64_t t);

/* ---- sitewatch.c (issue 12): the Tick's liveness decisions ------------------------------ */
int op_site_heartbeat(struct apply_ctx *c, const Callraft__SiteHeartbeat *op);
/* Records a Tick's report of one site's nodes. */
int sitewatch_nodes(struct apply_ctx *c, const Callraft__SiteNodes *sn);
/* Every Tick: decides contact, loss and restoration of every watched site. */
int sitewatch_tick(struct apply_ctx *c);

/* ---- sitelive.c (issue 12): what others ask about a site's liveness ---------------------- */
/* Watched: its nodes are reported by the leader's Ticks or its PBX sends heartbeats. */
bool sitelive_watched(const Callraft__Site *s);
/* "last evidence: nodes N ms ago, pbx ..., agents ..." for logs and the loss reason. */
void sitelive_evidence(const struct apply_ctx *c, const Callraft__Site *s, char *out, size_t len);
/* An agent of `site` was heard from (its own command): evidence that the site is alive. */
int sitelive_agent_seen(struct apply_ctx *c, const char *site);
/* 1 if `call` is held (its arrival site is out of contact, not lost; not a callback), 0 if not. */
int sitelive_held(struct apply_ctx *c, const Callraft__Call *call);

/* ---- stats.c ---------------------------------------------------------------------------- */
enum stats_event { STATS_ENTER, STATS_ANSWER, STATS_ABANDON, STATS_CALLBACK };
int stats_count(struct apply_ctx *c, const Callraft__Call *call, enum stats_event ev);
/* The stats read: a malloc'd array (*items, *n) of Stats messages to free with free_unpacked and
 * free(). One per asked scope, or every scope with counters when both are empty. 0, or -1. */
int stats_read(struct state *s, MDB_txn *txn, int64_t now_ms, const Callraft__StatsGet *q,
	       Callraft__Stats ***items, size_t *n);
/* Fills the computed figures of one unpacked Stats record (service level, ASA, abandon rate,
 * waiting, longest wait) but not its agents: no walk of any table (state/metrics.c). 0, or -1. */
int stats_figures(struct state *s, MDB_txn *txn, int64_t now_ms, Callraft__Stats *st);
/* The interval and ticket class of a stats read: false (with msg) for an unknown interval or
 * class, a class without an interval, or "days" without one queue, site or class. */
bool stats_get_valid(const Callraft__StatsGet *q, char *msg, size_t msg_len);

/* ---- stats_interval.c ------------------------------------------------------------------- */
/* Counts one call event in the minute and site-local day buckets of (call->queue,
 * call->arrival_site); wait_ms is the call's wait, sl_ms its queue's service level threshold. */
int stats_iv_call(struct apply_ctx *c, const Callraft__Call *call, enum stats_event ev,
		  int64_t wait_ms, int64_t sl_ms);
enum stats_ticket_event { STATS_TICKET_OPENED, STATS_TICKET_CLOSED };
/* Counts a ticket opened or closed (closed in target when now <= target_ms). */
int stats_iv_ticket(struct apply_ctx *c, const Callraft__Ticket *t, enum stats_ticket_event ev);
/* Fills st's counters (and st->days for "days") for st->interval over the records of scope
 * (st->scope "queue", "site" or "ticket_class", st->name); 0, or -1 when LMDB or a record fails. */
int stats_iv_fill(struct state *s, MDB_txn *txn, int64_t now_ms, Callraft__Stats *st);
/* The ticket classes with interval records, each once, in key order; calls `each` per class. */
int stats_iv_classes(struct state *s, MDB_txn *txn, int (*each)(void *arg, const char *cls),
		     void *arg);
/* Invariant check of the table: every record decodes, its buckets are in strictly increasing
 * order and at most CALLRAFT_STATS_MINUTES / CALLRAFT_STATS_DAYS. */
int stats_iv_check(struct state *s, MDB_txn *txn, char *msg, size_t msg_len);
/* Service level, ASA, abandon rate and offered from st's counters (tickets: a ticket class, whose
 * service level is tickets closed by their target over tickets closed). */
void stats_derive(Callraft__Stats *st, int64_t sl_ms, bool tickets);

/* ---- state.c / snapshot.c ---------------------------------------------------------------- */
/* Opens s->env on s->dir and its databases; on failure s->env is NULL. */
int state_env_open(struct state *s, char *errmsg, size_t errmsg_len);
void state_env_close(struct state *s);
/* Reads meta.applied of a closed LMDB image (a data file, opened read-only without a lock). */
int state_image_applied(const char *path, uint64_t *applied, char *errmsg, size_t errmsg_len);

/* ---- quota.c ---------------------------------------------------------------------------- */
uint64_t quota_total(const uint64_t bytes[DB_COUNT]);
/* A table's share of the quota. */
uint64_t quota_table_bytes(enum state_db db, uint64_t quota_bytes);
/* Sums every table's logical bytes from its records (open, state_check). 0 or an LMDB code. */
int quota_walk(struct state *s, MDB_txn *txn, uint64_t out[DB_COUNT]);
/* At open, after the rebuilds: s->bytes from meta "bytes", or from a walk when absent or `walk`
 * (a rebuild at open wrote rows the stored sums do not count). */
int quota_load(struct state *s, bool walk, char *errmsg, size_t errmsg_len);
/* Stores s->bytes in meta if it differs from `before` (the entry's start). */
int quota_save(struct state *s, MDB_txn *txn, const uint64_t before[DB_COUNT], char *errmsg,
	       size_t errmsg_len);
/* After a command ran (before its nested commit): true, with RESOURCE_EXHAUSTED set on c, if it
 * must be refused; *growth_out = its net logical bytes. */
bool quota_refuse(struct apply_ctx *c, const Callraft__Command *cmd,
		  const uint64_t before[DB_COUNT], int64_t *growth_out);
/* Bytes the session added in its current window at now_ms; adds a command's growth to it. */
uint64_t quota_session_used(const Callraft__Session *sess, int64_t now_ms);
void quota_session_add(Callraft__Session *sess, int64_t now_ms, int64_t growth);
/* True if RegisterClient must be refused: the session tables are beyond their share. */
bool quota_sessions_full(struct state *s, uint64_t quota_bytes);

/* ---- validate.c ------------------------------------------------------------------------- */
/* Name of a command's operation ("call_enqueue"), for messages. */
const char *validate_op_name(const Callraft__Command *cmd);
/* Field checks reused by state_read. Each returns true if valid, else writes
 * "<ctx>: <field>: <problem>" into msg. */
bool validate_id(const char *ctx, const char *field, const char *v, bool required, char *msg,
		 size_t msg_len);
bool validate_name(const char *ctx, const char *field, const char *v, size_t max, bool required,
		   char *msg, size_t msg_len);
bool validate_campaign_id(const char *ctx, const char *v, char *msg, size_t msg_len);

/* ---- config_fields.c -------------------------------------------------------------------- */
/* One tunable of a configure command: the optional wrapper field of the command and the field
 * of the stored record share `name`; a present value must lie in min..max. Tables end with a
 * NULL name. */
struct config_field {
	const char *name;
	int64_t min, max;
};
extern const struct config_field config_queue_fields[]; /* QueueConfigure -> QueueConfig */
extern const struct config_field config_site_fields[];  /* SiteConfigure -> Site */
/* True with *value set if the command `op` carries field `cf`; false if it is absent. */
bool config_field_get(const ProtobufCMessage *op, const struct config_field *cf, int64_t *value);
/* Copies every field of `table` that `op` carries into the record `to`; returns how many. */
int config_fields_apply(const ProtobufCMessage *op, const struct config_field *table,
			ProtobufCMessage *to);

#endif
