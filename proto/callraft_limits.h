/* limits.h: every limit of callraft in one place, each with its reason.
 *
 * A request that exceeds a limit is refused with INVALID_ARGUMENT (fields) or BAD_FRAME (frames) and
 * a message naming the limit; nothing stored changes. */
#ifndef CALLRAFT_LIMITS_H
#define CALLRAFT_LIMITS_H

#include <stdint.h>

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

/* Phone numbers in one customer record (CustomerSet): a person's mobile, home and work lines with
 * room to spare; the record stays small. */
#define CALLRAFT_CUSTOMER_NUMBERS_MAX 8
/* Customer tiers: 0 (regular) to 9; higher tiers are served first. */
#define CALLRAFT_TIER_MAX 9
/* Skills per agent: each is a queue the agent serves; `call next` seeks each queue's head. */
#define CALLRAFT_AGENT_SKILLS_MAX 16
/* Notes and status changes per ticket: a ticket's history stays readable and its record small. */
#define CALLRAFT_TICKET_NOTES_MAX 256
/* Rows in one list reply (queue show, ticket list, agent list). */
#define CALLRAFT_LIST_LIMIT_DEFAULT 100
#define CALLRAFT_LIST_LIMIT_MAX 1000
/* The rows of one list reply stop once their encoded size would pass this (the rest comes with the
 * reply's next_cursor): a list reply never exceeds the frame limit, whatever the rows hold (a
 * ticket with CALLRAFT_TICKET_NOTES_MAX notes is about 0.6 MB). The margin covers the reply's
 * other fields. */
#define CALLRAFT_REPLY_LIST_BYTES_MAX (CALLRAFT_FRAME_BYTES_MAX - 256u * 1024)
_Static_assert(CALLRAFT_TICKET_NOTES_MAX * (CALLRAFT_NOTE_BYTES_MAX + 64) + 64 * 1024 <
		       CALLRAFT_REPLY_LIST_BYTES_MAX,
	       "one ticket with every note fits a list reply");

/* Client sessions idle longer than this are expired (FSM time, deterministic). A retry after that
 * gets SESSION_UNKNOWN. A day is far beyond any retry loop. */
#define CALLRAFT_SESSION_TTL_MS (24ll * 3600 * 1000)
/* A session's secret (RegisterClient.secret, drawn by the leader from getrandom): 128 bits cannot be
 * guessed, so another client's session id is useless without it. */
#define CALLRAFT_SESSION_SECRET_BYTES 16
/* A request's actor (Request.actor: "cert:<CN>", "cert-sha256:<hex>", "token:<id>"): the CN's 64
 * bytes (TLS_NAME_BYTES_MAX) plus the prefix, with room to spare. */
#define CALLRAFT_ACTOR_BYTES_MAX 80
/* Bearer tokens (state/tokens.c): at most this many live at once (each issue walks them all, so
 * the bound is also the work of one issue); a token is "crt_" + 64 hex digits (256 random bits),
 * stored as its SHA-256. */
#define CALLRAFT_TOKENS_MAX 256
#define CALLRAFT_TOKEN_HASH_BYTES 32
#define CALLRAFT_TOKEN_STRING_BYTES 68
#define CALLRAFT_TOKEN_NAME_BYTES_MAX 64
/* `callraft token issue --ttl`: default and most (a lost token is good until revoked or expired:
 * keep them short, like client certificates). */
#define CALLRAFT_TOKEN_TTL_MS_DEFAULT (12ll * 3600 * 1000)
#define CALLRAFT_TOKEN_TTL_MS_MAX (90ll * 24 * 3600 * 1000)
/* Sessions expired per applied entry: bounds the work of one apply. */
#define CALLRAFT_SESSION_EXPIRE_PER_ENTRY 16

/* Members of a cluster (raft_fixture supports at most 8; real clusters stay small). */
#define CALLRAFT_MEMBERS_MAX 16

/* Node: connections and requests in flight. */
#define CALLRAFT_CONNECTIONS_MAX 4096
#define CALLRAFT_PENDING_REQUESTS_MAX 65536
/* TLS (docs/security.md): a connection (client, forward link or peer) whose handshake has not
 * completed this long after the TCP accept or connect is closed, so silent sockets cannot pin
 * connection slots. A TLS 1.3 handshake is one round trip: 10 s covers any link we run on. */
#define CALLRAFT_TLS_HANDSHAKE_TIMEOUT_MS 10000
/* A peer link stops reading raft's side while this many encrypted bytes wait for the network
 * (backpressure on snapshot installs instead of a second copy in memory). */
#define CALLRAFT_TLS_PEER_QUEUE_BYTES_MAX (4u << 20)
/* A TLS session ticket (resumption: a client reconnecting after a timed-out attempt skips the
 * certificate signature and chain verification, tls.h) is accepted this long after the full
 * handshake that verified the certificate. It bounds how long a certificate replaced on disk (the
 * node reloads on SIGHUP, which also drops every ticket) stays usable without a new handshake; an
 * expired certificate's ticket is never taken. */
#define CALLRAFT_TLS_SESSION_LIFETIME_S 300

/* Loads of raft's snapshot at start (replication/repl_snapcheck.c): each damaged snapshot found is
 * set aside and raft_uv loads again; raft_uv keeps two snapshots, so a third try already means
 * something other than those two is wrong. */
#define CALLRAFT_SNAPSHOT_LOAD_TRIES 3

/* ---- Hostile clients (issue 13; node/conn.c). ------------------------------------------------ */
/* Client connections from one source address ([client] connections_per_source): one host cannot
 * take every slot. Loopback labs run every client from 127.0.0.1, hence not smaller. */
#define CALLRAFT_CONNECTIONS_PER_SOURCE_DEFAULT 1024
_Static_assert(CALLRAFT_CONNECTIONS_PER_SOURCE_DEFAULT < CALLRAFT_CONNECTIONS_MAX,
	       "one source must not take every slot");
/* Slots beyond CALLRAFT_CONNECTIONS_MAX (and beyond the per-source limit) kept for the forward
 * links of other members: a client flood cannot block forwarded writes. A connection in such a
 * slot must send a forwarded request within CALLRAFT_CONN_RESERVED_PROBATION_MS, or is closed. */
#define CALLRAFT_CONNECTIONS_RESERVED (2 * CALLRAFT_MEMBERS_MAX)
#define CALLRAFT_CONN_RESERVED_PROBATION_MS 2000
/* Reply bytes queued on one connection (written by the node, not yet taken by the kernel). Above
 * the high mark the node stops reading that connection (backpressure: the client's sends block);
 * below the low mark it reads again; above the max (the replies of requests already in flight),
 * or stalled above the high mark for CALLRAFT_CONN_STALL_MS, the connection is closed. */
#define CALLRAFT_CONN_TX_BYTES_HIGH (1024u * 1024)
#define CALLRAFT_CONN_TX_BYTES_LOW (256u * 1024)
#define CALLRAFT_CONN_TX_BYTES_MAX (16u * 1024 * 1024)
#define CALLRAFT_CONN_STALL_MS 30000
/* Requests of one connection in flight (batches, reads, forwards): above it the node stops reading
 * the connection too (pipelined requests cannot pile up without bound). */
#define CALLRAFT_CONN_INFLIGHT_MAX 1024
_Static_assert(CALLRAFT_CONN_TX_BYTES_LOW < CALLRAFT_CONN_TX_BYTES_HIGH &&
		       CALLRAFT_CONN_TX_BYTES_HIGH + 2 * CALLRAFT_FRAME_BYTES_MAX <=
			       CALLRAFT_CONN_TX_BYTES_MAX,
	       "a connection at the high mark can still take its in-flight replies");
/* A connection with no request in flight and nothing received for this long is closed
 * ([client] idle_timeout_ms); clients reconnect and retry with the same seq. */
#define CALLRAFT_CONN_IDLE_MS_DEFAULT 300000
/* A frame must arrive whole within this long once its first byte came ([client]
 * frame_timeout_ms): a slowloris client cannot hold a slot and a buffer by trickling bytes. */
#define CALLRAFT_CONN_FRAME_MS_DEFAULT 10000
/* Lower bounds of the two timeouts (tests use short ones). */
#define CALLRAFT_CONN_TIMEOUT_MS_MIN 100

/* ---- Quotas: no poison pill (issue 13). A write that would not fit is refused by every replica
 * alike with RESOURCE_EXHAUSTED, long before LMDB's map is full (MDB_MAP_FULL is node-local and
 * would stop every replica on the same entry, again on every replay). state/quota.c keeps logical
 * bytes per table in the FSM; the leader stamps its [state] quota_mb on every entry. ---------- */

/* Logical bytes of a record: key + value + this. About LMDB's per-node header and page index
 * entry, so that tables of many tiny records are not under-counted. */
#define CALLRAFT_QUOTA_RECORD_OVERHEAD_BYTES 16
/* map_size_mb >= this * quota_mb (checked at config load): B-tree pages may be half empty, and
 * copy-on-write keeps the pages of the last transactions and of a running snapshot's read
 * transaction alive next to the live ones. */
#define CALLRAFT_QUOTA_MAP_FACTOR 4
/* Default quota_mb = map_size_mb / this. */
#define CALLRAFT_QUOTA_MAP_DIVISOR_DEFAULT CALLRAFT_QUOTA_MAP_FACTOR
/* No one table may hold more than this share of the quota (a flood of one kind of record leaves
 * room for the others, e.g. agents can still log in when tickets are exhausted). */
#define CALLRAFT_QUOTA_TABLE_PERCENT 50
/* Sessions are created by RegisterClient, which needs no prior session: their own small share. */
#define CALLRAFT_QUOTA_SESSIONS_PERCENT 10
/* Configuration tables (members, queues, sites): small by nature. */
#define CALLRAFT_QUOTA_CONFIG_PERCENT 5
/* Commands that only move existing objects along (answer, end, abandon, log out, Tick, ...) may
 * still grow the state by this share beyond the quota: a full state must not strand calls in
 * progress or agents on a call. Commands that create (enqueue, ticket open or note, login,
 * configure, callbacks) stop at the quota. */
#define CALLRAFT_QUOTA_HEADROOM_PERCENT 25
_Static_assert((100 + CALLRAFT_QUOTA_HEADROOM_PERCENT) * 2 <= 100 * CALLRAFT_QUOTA_MAP_FACTOR,
	       "even with headroom and half-empty pages, the state fits the map");
/* One client session may add at most quota / this logical bytes per window of FSM time: one
 * runaway or hostile client cannot fill the state before the alarm is seen. */
#define CALLRAFT_QUOTA_SESSION_DIVISOR 16
#define CALLRAFT_QUOTA_SESSION_WINDOW_MS 60000ll
/* Alarm (log warning, status) when the state reaches this share of its quota, or LMDB's map this
 * share of its size. */
#define CALLRAFT_QUOTA_ALARM_PERCENT 80
#define CALLRAFT_MAP_ALARM_PERCENT 50
/* Below this much free space in the data dir a fatal I/O error is reported as a full disk (node.c's
 * on_fatal): raft_uv preallocates 8 MiB segments, so less cannot take the next one. */
#define CALLRAFT_DISK_FULL_BYTES (8ull << 20)
_Static_assert(CALLRAFT_QUOTA_ALARM_PERCENT < 100 && CALLRAFT_MAP_ALARM_PERCENT < 100,
	       "alarms come before the limit");
_Static_assert(CALLRAFT_QUOTA_SESSIONS_PERCENT <= CALLRAFT_QUOTA_TABLE_PERCENT &&
		       CALLRAFT_QUOTA_CONFIG_PERCENT <= CALLRAFT_QUOTA_TABLE_PERCENT,
	       "special tables get at most an ordinary table's share");

/* ---- Routing (issue #3). Defaults apply while a queue or site is not configured; every time is
 * FSM time (leader-stamped), so each replica reaches the same decision. ---------------------- */

/* The leader appends a Tick command this often; Tick runs every time-based rule. Timers therefore
 * fire up to one interval late, never early. */
#define CALLRAFT_TICK_INTERVAL_MS 500
/* Timers fired by one Tick: bounds one apply; the rest fire at the next Tick. */
#define CALLRAFT_TICK_TIMERS_MAX 256

#define CALLRAFT_OVERFLOW_AFTER_MS_DEFAULT 30000ll
#define CALLRAFT_OFFER_TIMEOUT_MS_DEFAULT 15000ll
#define CALLRAFT_KNOWN_AGENT_TIMEOUT_MS_DEFAULT 20000ll
/* The customer-agent link (a caller asking for the same agent as last time) expires after 30 days
 * without a talk: by then the agent no longer knows the case. */
#define CALLRAFT_KNOWN_AGENT_LINK_TTL_MS_DEFAULT (30ll * 24 * 3600 * 1000)
/* At most ten years: long enough for any club, short enough to stay far from int64 overflow. */
#define CALLRAFT_KNOWN_AGENT_LINK_TTL_MS_MAX (3650ll * 24 * 3600 * 1000)
/* One tier of effective priority per minute waited (Genesys: 1 point ~ 1 minute). */
#define CALLRAFT_AGING_MS_PER_TIER_DEFAULT 60000ll
#define CALLRAFT_SERVICE_LEVEL_MS_DEFAULT 20000ll
#define CALLRAFT_WRAP_UP_MS_DEFAULT 0ll
/* diamond */
#define CALLRAFT_TOP_TIER_DEFAULT 3
#define CALLRAFT_REDIAL_WINDOW_MS_DEFAULT (10ll * 60 * 1000)
#define CALLRAFT_PRESENCE_TIMEOUT_MS_DEFAULT 30000ll
/* Site liveness (state/sitewatch.c), tuned for call-center cities 10-30 ms apart whose PBX sends a
 * SiteHeartbeat every second and whose nodes the leader hears from every Tick: no evidence for
 * contact_timeout (3 s: six Ticks, three PBX heartbeats) and the site's callers are held; none for
 * site_loss_after (8 s) and the site is lost. The leader's Ticks run every 500 ms and a new
 * leader takes about a second to be elected, so a dead site is declared lost within 10 s. */
#define CALLRAFT_SITE_LOSS_AFTER_MS_DEFAULT 8000ll
#define CALLRAFT_CONTACT_TIMEOUT_MS_DEFAULT 3000ll
#define CALLRAFT_CONTACT_TIMEOUT_MS_MIN 1000ll
/* Sites whose liveness one Tick evaluates (a contact center has a handful). */
#define CALLRAFT_SITES_WATCHED_MAX 64
/* Upper bound of every configurable duration: a day. Longer is a typo (and keeps sums of times far
 * from overflowing int64). */
#define CALLRAFT_CONFIG_MS_MAX (24ll * 3600 * 1000)
/* FSM time (milliseconds since the epoch) is clamped to this, whatever an entry says: 2^53, the
 * largest integer a JSON client holds exactly, about the year 287,000. Far from overflow: now plus
 * any duration below (a day of config, 31 days of callback lead) fits an int64. */
#define CALLRAFT_FSM_TIME_MS_MAX (1ll << 53)
/* An offer must last long enough for a desktop to answer across a failover. */
#define CALLRAFT_OFFER_TIMEOUT_MS_MIN 1000ll
#define CALLRAFT_PRESENCE_TIMEOUT_MS_MIN 2000ll
_Static_assert(CALLRAFT_OFFER_TIMEOUT_MS_MIN >= 2 * CALLRAFT_TICK_INTERVAL_MS,
	       "an offer must outlive a tick");
_Static_assert(CALLRAFT_PRESENCE_TIMEOUT_MS_MIN >= 2 * CALLRAFT_TICK_INTERVAL_MS,
	       "presence must outlive a tick");
_Static_assert(CALLRAFT_CONTACT_TIMEOUT_MS_MIN >= 2 * CALLRAFT_TICK_INTERVAL_MS,
	       "contact must outlive a tick");
_Static_assert(CALLRAFT_SITE_LOSS_AFTER_MS_DEFAULT > CALLRAFT_CONTACT_TIMEOUT_MS_DEFAULT,
	       "a site is held before it is lost");
/* A watched site none of whose nodes is in contact with the leader (the Tick's SiteNodes say so:
 * no progress for CALLRAFT_CONTACT_TIMEOUT_FACTOR election timeouts, node/tick.c) has only its
 * PBX's heartbeats and its agents' desktops left to speak for it, so its callers are held after
 * this long without any evidence instead of contact_timeout (when that is longer). Two seconds is
 * one missed heartbeat of a PBX beating every second plus a second for a late one to commit (a
 * heartbeat relayed through the witness across a cut took 0.4-0.75 s more: docs/lab.md). A hold
 * costs a live caller nothing but time (the next heartbeat ends it, the caller keeps the place);
 * the loss still waits for site_loss_after. */
#define CALLRAFT_SITE_HOLD_UNREACHABLE_MS 2000ll
/* The cluster's own silences (state/sitewatch.c): a gap of more than this between two Ticks (three
 * Tick intervals) is a stretch in which the cluster committed nothing (no leader, no quorum, a
 * paused leader), so no site's evidence could arrive either. After one, a site is declared lost
 * only once Ticks have flowed again for CALLRAFT_SITE_LOSS_OBSERVED_MS: enough for the new leader
 * to see each live node make progress (it reports none it has not seen since its election) and
 * for a PBX to get a heartbeat through. Without it, a 90 s election storm at a load average of 20
 * had every site, live ones included, declared lost at the first Tick after it, their calls in
 * progress ended (drill --fault cut-link on 1c7c007). A dead site's loss waits for it only when
 * the stall ended less than 2 s before the loss was due. */
#define CALLRAFT_TICK_STALL_MS 1500ll
/* After such a stall an agent's presence lease does not lapse until Ticks have flowed for this long
 * (or the site's presence timeout, if shorter): desktops heartbeat every 5 s (docs/integrate.md),
 * so each live one is heard at least once; a lease that lapsed during the silence is not taken
 * as the agent's absence (state/tick.c, presence_after_stall). */
#define CALLRAFT_PRESENCE_STALL_GRACE_MS 10000ll
#define CALLRAFT_SITE_LOSS_OBSERVED_MS 2000ll
_Static_assert(CALLRAFT_TICK_STALL_MS >= 3 * CALLRAFT_TICK_INTERVAL_MS,
	       "a late Tick or two under load is not a stall");
_Static_assert(CALLRAFT_SITE_LOSS_OBSERVED_MS >= 4 * CALLRAFT_TICK_INTERVAL_MS &&
		       CALLRAFT_SITE_LOSS_OBSERVED_MS < CALLRAFT_SITE_LOSS_AFTER_MS_DEFAULT,
	       "a loss needs a few Ticks of evidence after a stall, and less than the loss time");
_Static_assert(CALLRAFT_SITE_HOLD_UNREACHABLE_MS >= 2 * CALLRAFT_TICK_INTERVAL_MS &&
		       CALLRAFT_SITE_HOLD_UNREACHABLE_MS < CALLRAFT_CONTACT_TIMEOUT_MS_DEFAULT,
	       "the sooner hold must outlive a tick and come before the default contact timeout");

/* `call next` looks at most this many waiting calls per (queue, tier) before giving up on that
 * tier: calls skipped are those reserved for a known agent or not yet overflowed to this site. */
#define CALLRAFT_NEXT_SCAN_PER_TIER_MAX 64

/* Scheduled callbacks: up to 31 days ahead (Genesys allows 30). */
#define CALLRAFT_CALLBACK_AHEAD_MS_MAX (31ll * 24 * 3600 * 1000)
_Static_assert(CALLRAFT_FSM_TIME_MS_MAX < INT64_MAX - 4 * CALLRAFT_CALLBACK_AHEAD_MS_MAX,
	       "FSM time plus any duration fits an int64");
/* Dial attempts of one callback: after this many, the agent must end it. */
#define CALLRAFT_CALLBACK_ATTEMPTS_MAX 5
/* A callback not reached is tried again 10 minutes later by default (a queue may say 1 s .. 1 day):
 * five attempts then span most of an hour instead of a minute. */
#define CALLRAFT_CALLBACK_RETRY_MS_DEFAULT (10ll * 60 * 1000)
/* A list's paging cursor (a key of the list's table, so at most LMDB's 511-byte key): HTTP carries
 * it as hex (node/http_json.c). */
#define CALLRAFT_CURSOR_BYTES_MAX 511

/* Outbound campaigns (state/campaigns.c). Each Tick walks the campaigns, so they are few; a
 * campaign's calls are ids campaign_id.NNNNNN (6 digits: the list holds at most 999,999 targets;
 * the car maker's 2,000 a day for a year fits). A CampaignAdd carries at most 500 targets (about
 * 25 KB, well inside a frame). A Tick releases at most 64 calls in all: their enqueued_ms are
 * the entry's time minus 63..0 ms, distinct, so they need no sequence of their own. */
#define CALLRAFT_CAMPAIGNS_MAX 64
#define CALLRAFT_CAMPAIGN_TARGETS_MAX 999999
#define CALLRAFT_CAMPAIGN_ADD_MAX 500
#define CALLRAFT_CAMPAIGN_RELEASE_PER_TICK_MAX 64
#define CALLRAFT_CAMPAIGN_PACING_PERCENT_MAX 1000
#define CALLRAFT_CAMPAIGN_ID_BYTES_MAX (CALLRAFT_ID_BYTES_MAX - 7)
_Static_assert(CALLRAFT_CAMPAIGN_RELEASE_PER_TICK_MAX < CALLRAFT_TICK_INTERVAL_MS,
	       "the releases of successive Ticks do not interleave in time");
_Static_assert(CALLRAFT_CAMPAIGN_ADD_MAX * (CALLRAFT_PHONE_BYTES_MAX + CALLRAFT_ID_BYTES_MAX + 8) <
		   CALLRAFT_FRAME_BYTES_MAX / 2,
	       "a full CampaignAdd fits a frame");

/* Voicemail callbacks released per hour at a site (SiteConfigure.voicemail_per_hour_max): one a
 * second at most, so the spacing (3600 s / cap) is a whole number of milliseconds >= 1 s. */
#define CALLRAFT_VOICEMAIL_PER_HOUR_MAX 3600

/* Abandons after less wait than this are "short": excluded from the service level and the abandon
 * rate (caller misdial, hang-up during the greeting). */
#define CALLRAFT_SHORT_ABANDON_MS 5000ll

/* Stats over intervals (state/stats_interval.c): per (queue, arrival site) and per (ticket class,
 * site), one bucket per minute for the last hour and one per site-local day for 90 days, so a
 * record is at most (60 + 90) buckets (about 4 KB) and a stats read is O(scopes x buckets). */
#define CALLRAFT_STATS_MINUTES 60
#define CALLRAFT_STATS_DAYS 90
#define CALLRAFT_STATS_RECENT_SHORT_MINUTES 15
_Static_assert(CALLRAFT_STATS_RECENT_SHORT_MINUTES <= CALLRAFT_STATS_MINUTES,
	       "the 15-minute window is inside the kept hour");

/* Ticket classes and their target times. */
#define CALLRAFT_TICKET_URGENT_TARGET_MS (30ll * 60 * 1000)
#define CALLRAFT_TICKET_FOLLOW_UP_TARGET_MS (72ll * 3600 * 1000)
/* Due soon: this long before the target, for classes never configured. */
#define CALLRAFT_TICKET_URGENT_DUE_SOON_MS (10ll * 60 * 1000)
#define CALLRAFT_TICKET_FOLLOW_UP_DUE_SOON_MS (12ll * 3600 * 1000)
/* A configured target (TicketClassConfigure) is 1 s .. 90 days; configured classes at most 64. */
#define CALLRAFT_TICKET_TARGET_MS_MAX (90ll * 24 * 3600 * 1000)
#define CALLRAFT_TICKET_CLASSES_MAX 64
/* A due-soon list page examines at most this many index rows (rows not yet due soon are skipped). */
#define CALLRAFT_TICKET_DUE_SCAN_MAX 4096
/* TICKET_OPENED's summary line (code, class, category, subject), cut to this many bytes. */
#define CALLRAFT_SUMMARY_BYTES_MAX 160

/* Minutes of a day (site opening time); UTC offsets from -14:00 to +14:00. */
#define CALLRAFT_MINUTES_PER_DAY 1440
#define CALLRAFT_UTC_OFFSET_MINUTES_MAX (14 * 60)

/* Site-loss conversion rewrites every waiting call of the site in one apply; bounded by the
 * number of waiting calls a site can hold. */
#define CALLRAFT_SITE_CONVERT_MAX 100000

/* ---- The event stream (issue #14; state/events.c). Retention is by count and by age, both in
 * FSM terms (events, FSM time), so every replica trims the same events at the same index. --- */

/* Events kept: about a day of a large contact center (1M calls x ~5 events would need 5M; the
 * age bound below usually trims first). At ~150 bytes each this is ~300 MB of LMDB at most. */
#define CALLRAFT_EVENTS_RETAINED_MAX 2000000ull
/* Events older than this (FSM time) are trimmed: a subscriber down longer must resync from reads. */
#define CALLRAFT_EVENTS_RETAINED_MS (24ll * 3600 * 1000)
/* Trimming per entry: the events the entry added plus this many, so the table converges back
 * under the bounds after a burst while one apply stays bounded. */
#define CALLRAFT_EVENTS_TRIM_PER_ENTRY 256
/* Events in one events_read reply (~200 bytes each: far below a frame). */
#define CALLRAFT_EVENTS_READ_DEFAULT 256
#define CALLRAFT_EVENTS_READ_MAX 1000
/* Events one events_read looks at (filtered reads skip non-matching ones): bounds a read's time;
 * the reply's cursor says where to go on. */
#define CALLRAFT_EVENTS_SCAN_MAX 20000
/* Long poll of events_read (binary protocol): a held request is answered within this. */
#define CALLRAFT_EVENTS_WAIT_MS_MAX 30000
/* Requests held by one node's event hub (long polls and streams together). */
#define CALLRAFT_EVENTS_WAITERS_MAX 4096
/* GET /v1/calls/{id}/wait (node/http_callwait.c): a SIP server holding a caller asks again after
 * wait_ms; one held wait per caller in a site's queue, so the bound is a site's queue at its peak. */
#define CALLRAFT_CALL_WAIT_MS_DEFAULT 10000
#define CALLRAFT_CALL_WAIT_MS_MAX 30000
#define CALLRAFT_CALL_WAITERS_MAX 4096
/* Re-check of held waits (a min_index reached by an entry that added no event) and expiry. */
#define CALLRAFT_CALL_WAIT_TICK_MS 100
/* The request's deadline is wait_ms plus this, so the wait's own answer comes first. */
#define CALLRAFT_CALL_WAIT_DEADLINE_SLACK_MS 2000
_Static_assert(CALLRAFT_CALL_WAIT_MS_MAX + CALLRAFT_CALL_WAIT_DEADLINE_SLACK_MS <= 60000,
	       "a wait's deadline stays within the HTTP deadline's maximum");
_Static_assert(CALLRAFT_CALL_WAIT_MS_DEFAULT <= CALLRAFT_CALL_WAIT_MS_MAX, "default within max");
_Static_assert(CALLRAFT_EVENTS_READ_MAX * 1024 <= CALLRAFT_FRAME_BYTES_MAX,
	       "an events_read reply must fit a frame");

/* ---- Pushed offers (issue #14; state/assign.c). -------------------------------------------- */

/* Ready agents one command looks at for the queues that got a waiting call, and agents that
 * became ready in one command which get a pick: bounds one apply. What is left is assigned by the
 * next Tick's sweep. */
#define CALLRAFT_ASSIGN_AGENTS_MAX 64
/* Ready agents a Tick's sweep looks at while calls are waiting (eligibility changes with time:
 * overflow, aging, a known agent's reservation running out). */
#define CALLRAFT_ASSIGN_SWEEP_MAX 256
/* ---- HTTP/JSON API (issue #14, node/http*.c). ------------------------------------------- */

/* A request body: the JSON form of one Request is a few hundred bytes; the binary frame limit
 * bounds what a body can turn into. Larger bodies get 413 before they are read. */
#define CALLRAFT_HTTP_BODY_BYTES_MAX CALLRAFT_REQUEST_BYTES_MAX
/* Request line and headers together (libwebsockets' header buffer). Larger: 431/400, closed. */
#define CALLRAFT_HTTP_HEADER_BYTES_MAX 8192
/* A request path (after the host): the longest route plus an id of CALLRAFT_ID_BYTES_MAX,
 * percent-encoded (x3). */
#define CALLRAFT_HTTP_PATH_BYTES_MAX 512
/* Open HTTP connections (libwebsockets' descriptor table; sockets beyond wait in the backlog). */
#define CALLRAFT_HTTP_CONNECTIONS_MAX 4096
/* Connections parsing headers at the same time, each holding a CALLRAFT_HTTP_HEADER_BYTES_MAX
 * buffer while it does (32 MiB at most). As many as connections: with fewer, that many idle
 * connections that never send a request made every new client wait, then be reset (measured: 300
 * idle connections against a pool of 256); now they are closed after CALLRAFT_HTTP_RECEIVE_TIMEOUT_S
 * and hold nobody up. */
#define CALLRAFT_HTTP_HEADER_POOL_MAX CALLRAFT_HTTP_CONNECTIONS_MAX
/* An idle keep-alive connection is closed after this. */
#define CALLRAFT_HTTP_IDLE_TIMEOUT_S 30
/* Headers or a body that do not arrive in this time (a slow or half request): closed. */
#define CALLRAFT_HTTP_RECEIVE_TIMEOUT_S 10
/* Every request is answered within this: a write whose outcome is not known by then gets 504
 * TIMEOUT (retry with the same Idempotency-Key). Longer than the forwarder's own timeout, so a
 * follower's forward normally fails first with a precise code. */
#define CALLRAFT_HTTP_DEADLINE_MS_DEFAULT 12000
/* `?timeout_ms=` may ask for more or less, within these bounds. */
#define CALLRAFT_HTTP_DEADLINE_MS_MIN 100
#define CALLRAFT_HTTP_DEADLINE_MS_MAX 60000
/* Bytes a streaming response (SSE) may have queued and not yet sent: a client that reads slower
 * than events arrive is cut off rather than growing the node's memory. */
#define CALLRAFT_HTTP_STREAM_BUFFER_BYTES_MAX (1024u * 1024)
/* Idempotency keys of sessionless writes (HTTP's Idempotency-Key; state/idem.c). A key is kept
 * CALLRAFT_IDEMPOTENCY_TTL_MS of FSM time after its write was applied, or until
 * CALLRAFT_IDEMPOTENCY_KEYS_MAX newer keys were stored, whichever comes first: at the design load
 * (~50,000 writes a day) that is the full day; at a burst of 300 writes a second, 11 minutes, still
 * far beyond any client's retry loop. Each record holds the first reply (~300 bytes): the table
 * stays below ~100 MB. */
#define CALLRAFT_IDEMPOTENCY_KEY_BYTES_MAX 128
#define CALLRAFT_IDEMPOTENCY_TTL_MS (24ll * 3600 * 1000)
#define CALLRAFT_IDEMPOTENCY_KEYS_MAX 200000
/* Keys expired per applied entry (by age): bounds the work of one apply. */
#define CALLRAFT_IDEMPOTENCY_EXPIRE_PER_ENTRY 16
_Static_assert(CALLRAFT_IDEMPOTENCY_KEY_BYTES_MAX + 64 <= CALLRAFT_HTTP_PATH_BYTES_MAX,
	       "a key must fit the buffers its header is read into");

/* Routes and WebSocket protocols the server can hold (registered at start). */
#define CALLRAFT_HTTP_ROUTES_MAX 32
#define CALLRAFT_HTTP_WS_PROTOCOLS_MAX 8
_Static_assert(CALLRAFT_HTTP_DEADLINE_MS_DEFAULT >= CALLRAFT_HTTP_DEADLINE_MS_MIN &&
		       CALLRAFT_HTTP_DEADLINE_MS_DEFAULT <= CALLRAFT_HTTP_DEADLINE_MS_MAX,
	       "the default deadline must be allowed");
_Static_assert(CALLRAFT_HTTP_BODY_BYTES_MAX <= CALLRAFT_REQUEST_BYTES_MAX,
	       "a body must fit one request frame once translated");

/* /metrics (node/http_metrics.c): a scrape is rendered at most once per this many ms and served
 * from the copy meanwhile, so a burst of scrapers costs one pass over the agents table; the body is
 * bounded (per-queue families grow with queues): beyond the bound the scrape answers 500. */
#define CALLRAFT_METRICS_CACHE_MS 1000
#define CALLRAFT_METRICS_BODY_BYTES_MAX (4u << 20)


/* ---- FSM rules versions (state/rules.c, docs/design.md "Rules versions") ------------------------
 * The rules an FSM applies entries by are numbered. A binary declares the versions it can apply,
 * CALLRAFT_RULES_OLDEST..CALLRAFT_RULES_NEWEST; the cluster applies by one active version (meta
 * "rules", absent = 1), raised only by RulesSet once every member declared it can apply it. Today's
 * rules are version 1: no older rules exist in the code. A release that changes a rule keeps the
 * old behaviour under the old version, adds one to NEWEST, and branches on the active version.
 * A test-only build may define CALLRAFT_RULES_NEWEST (callraftd-rules2, tests/CMakeLists.txt). */
#define CALLRAFT_RULES_OLDEST 1
#ifndef CALLRAFT_RULES_NEWEST
#define CALLRAFT_RULES_NEWEST 1
#endif
/* The highest version a declaration or a RulesSet may name: a bound on input, far above any
 * release's. */
#define CALLRAFT_RULES_VERSION_MAX 1000
_Static_assert(1 <= CALLRAFT_RULES_OLDEST && CALLRAFT_RULES_OLDEST <= CALLRAFT_RULES_NEWEST &&
		       CALLRAFT_RULES_NEWEST <= CALLRAFT_RULES_VERSION_MAX,
	       "a binary applies at least one rules version, within the bound");

#endif
