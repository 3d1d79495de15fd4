/* limits.h: every limit of callraft in one place, each with its reason.
 *
 * A request that exceeds a limit is refused with INVALID_ARGUMENT (fields) or BAD_FRAME (frames) and
 * a message naming the limit; nothing stored changes. */
#ifndef CALLRAFT_LIMITS_H
#define CALLRAFT_LIMITS_H

/* Wire protocol version carried in Request.version; Entry.format of the log. */
#define CALLRAFT_PROTOCOL_VERSION 1
#define CALLRAFT_ENTRY_FORMAT 1

/* One frame (request or reply). Large enough for a list reply of CALLRAFT_LIST_LIMIT_MAX tickets with
 * notes; small enough that a malicious length cannot make a node allocate much. */
#define CALLRAFT_FRAME_BYTES_MAX (4u * 1024 * 1024)
/* A request frame: requests are small; anything larger is an attack or a bug. */
#define CALLRAFT_REQUEST_BYTES_MAX (64u * 1024)

/* Commands packed into one Raft entry. Offer tokens and queue tie-breaks are (index << 8) + position,
 * so a batch can never exceed 256 commands. */
#define CALLRAFT_BATCH_COMMANDS_MAX 256
#define CALLRAFT_BATCH_POSITION_BITS 8
_Static_assert(CALLRAFT_BATCH_COMMANDS_MAX <= (1 << CALLRAFT_BATCH_POSITION_BITS),
               "batch positions must fit the low bits of tokens");
/* Bytes of encoded commands packed into one entry: keeps AppendEntries messages and apply times small. */
#define CALLRAFT_BATCH_BYTES_MAX (1024u * 1024)
_Static_assert(CALLRAFT_REQUEST_BYTES_MAX <= CALLRAFT_BATCH_BYTES_MAX, "one request must fit a batch");

/* Identifiers (call id, agent id, customer id, ticket code, client name): printable, no spaces. */
#define CALLRAFT_ID_BYTES_MAX 64
/* Queue names and skills ([A-Za-z0-9._-]). */
#define CALLRAFT_QUEUE_BYTES_MAX 32
/* Site names ([A-Za-z0-9._-]). */
#define CALLRAFT_SITE_BYTES_MAX 32
/* Phone numbers (E.164 allows 15 digits; room for a '+' and extensions). */
#define CALLRAFT_PHONE_BYTES_MAX 32
/* Free text. */
#define CALLRAFT_SUBJECT_BYTES_MAX 256
#define CALLRAFT_NOTE_BYTES_MAX 2048
#define CALLRAFT_REASON_BYTES_MAX 64
#define CALLRAFT_CATEGORY_BYTES_MAX 32
/* Network addresses "host:port". */
#define CALLRAFT_ADDRESS_BYTES_MAX 128

/* Customer tiers: 0 (regular) to 9; higher tiers are served first. */
#define CALLRAFT_TIER_MAX 9
/* Skills per agent: each is a queue the agent serves; `call next` seeks each queue's head. */
#define CALLRAFT_AGENT_SKILLS_MAX 16
/* Notes and status changes per ticket: a ticket's history stays readable and its record small. */
#define CALLRAFT_TICKET_NOTES_MAX 256
/* Rows in one list reply (queue show, ticket list, agent list). */
#define CALLRAFT_LIST_LIMIT_DEFAULT 100
#define CALLRAFT_LIST_LIMIT_MAX 1000

/* Client sessions idle longer than this are expired (FSM time, deterministic). A retry after that
 * gets SESSION_UNKNOWN. A day is far beyond any retry loop. */
#define CALLRAFT_SESSION_TTL_MS (24ll * 3600 * 1000)
/* Sessions expired per applied entry: bounds the work of one apply. */
#define CALLRAFT_SESSION_EXPIRE_PER_ENTRY 16

/* Members of a cluster (raft_fixture supports at most 8; real clusters stay small). */
#define CALLRAFT_MEMBERS_MAX 16

/* Node: connections and requests in flight. */
#define CALLRAFT_CONNECTIONS_MAX 4096
#define CALLRAFT_PENDING_REQUESTS_MAX 65536

#endif
