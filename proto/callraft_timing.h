/* callraft_timing.h: the timings and tunables of the node and of replication, each with its
 * reason; the limits on data (field and frame sizes, counts) are in callraft_limits.h. Relations
 * between them are checked with _Static_assert. An operator may override the *_DEFAULT values in
 * the node's configuration file (node/config.h), within the *_MIN bounds checked there.
 * docs/design.md ("Limits and timings") explains how they fit together. */
#ifndef CALLRAFT_TIMING_H
#define CALLRAFT_TIMING_H

#include "callraft_limits.h"

/* ---- Process ---------------------------------------------------------------------------------- */

/* Exit code of a node that stops on a fatal I/O error (raft or the state cannot write): EX_SOFTWARE
 * of sysexits.h, distinct from 1 (bad usage or configuration) so that a supervisor can tell a disk
 * fault from a bad deployment. The restart replays the Raft log. */
#define CALLRAFT_EXIT_FATAL 70
/* Exit code of a node that stops because it is asked to apply an entry by rules its binary does not
 * have (a RulesSet above CALLRAFT_RULES_NEWEST, a command type it does not know, a state whose
 * active rules version is above its newest): EX_PROTOCOL of sysexits.h. A restart on the same
 * binary stops again at the same entry; the fix is to install a binary that can apply it
 * (docs/operations.md, "Rolling upgrade"). The unit does not restart on it. */
#define CALLRAFT_EXIT_RULES 76

/* A node sends its RulesDeclare (node/rules.c) at most this often until the state records it: a
 * declaration lost to a leader change is sent again a second later. */
#define CALLRAFT_RULES_DECLARE_INTERVAL_MS 1000

/* ---- Raft timings (defaults of the [raft] section) ----------------------------------------- */

/* Across cities (10-30 ms RTT): a heartbeat every 100 ms, an election after 1 s without one. Ten
 * heartbeats per election timeout ride out a lost packet or two without an election. */
#define CALLRAFT_HEARTBEAT_TIMEOUT_MS_DEFAULT 100
#define CALLRAFT_ELECTION_TIMEOUT_MS_DEFAULT 1000
/* Timeouts from the round trip (issue 12): with `[raft] site_rtt_ms` = the longest round trip
 * between two voters' sites (measured: ping, or deploy/bench/floor_rtt), a node that does not set
 * the timeouts itself uses
 *   heartbeat_timeout_ms = max(CALLRAFT_HEARTBEAT_TIMEOUT_MS_MIN, RTT_HEARTBEATS_X2 x site_rtt_ms / 2)
 *   election_timeout_ms  = max(CALLRAFT_ELECTION_FROM_RTT_MS_MIN,
 *                              CALLRAFT_ELECTION_HEARTBEATS x heartbeat_timeout_ms)
 * 20 ms gives 50 / 300 ms: a heartbeat is 2.5 round trips apart, an election waits for six missed
 * heartbeats (a pre-vote and a vote then take two round trips), so a dead leader is replaced when
 * the first surviving voter's randomized timer fires (0.3-0.6 s after the last heartbeat; the
 * others vote for it once they have missed three heartbeats: raft-0.22.1-election-speed.patch)
 * plus two round trips, where the 1000 ms default takes 1-2 s. The floor keeps a loaded machine's
 * scheduling hiccups (tens to a hundred ms at a load average of 15 on 2 cores) from looking like
 * a dead leader. Figures: docs/bench.md, "Failover across cities". */
#define CALLRAFT_RTT_HEARTBEATS_X2 5 /* 2.5 round trips, in halves */
#define CALLRAFT_ELECTION_HEARTBEATS 6
#define CALLRAFT_ELECTION_FROM_RTT_MS_MIN 300
/* The witness (`[node] witness = true`) uses this many times the election timeout it would
 * otherwise have (derived, default or set in its file: one template serves every node): its
 * randomized timer fires after every call-center voter's, so a surviving call-center voter
 * campaigns first and the witness votes for it (a voter that grants a pre-vote restarts its own
 * timer: deploy/raft-patches/raft-0.22.1-election-speed.patch). The witness still campaigns when no
 * call-center voter can win (both cities cut off from each other, say), and hands leadership to a
 * call-center voter as soon as it has it and every Tick while it keeps it (node/home.c). Until it
 * first learns of a leader after it starts, it waits CALLRAFT_WITNESS_FIRST_ELECTION_FACTOR times
 * longer again (replication/repl.c): at a cluster's first start the voters' first campaigns can
 * fail on peers not yet listening (raft_uv redials after 1 s), and the witness must not be the
 * one that finds every peer up. It still votes meanwhile, and still campaigns, only later. */
#define CALLRAFT_WITNESS_ELECTION_FACTOR 2
#define CALLRAFT_WITNESS_FIRST_ELECTION_FACTOR 2
/* Leadership returns to [raft] home_site (node/home.c) once a home voter has kept within this many
 * entries of the leader's log for this long: healthy, not merely restarted. */
#define CALLRAFT_HOME_LAG_MAX 64
#define CALLRAFT_HOME_SETTLE_MS 10000
/* A round trip above this between cities is a typo or a satellite: refuse it. */
#define CALLRAFT_SITE_RTT_MS_MAX 1000
/* Below 10 ms a heartbeat costs more than the work it guards (and libuv timers are ms-grained). */
#define CALLRAFT_HEARTBEAT_TIMEOUT_MS_MIN 10
_Static_assert(CALLRAFT_HEARTBEAT_TIMEOUT_MS_MIN <= CALLRAFT_HEARTBEAT_TIMEOUT_MS_DEFAULT &&
		       CALLRAFT_HEARTBEAT_TIMEOUT_MS_DEFAULT * 4 <= CALLRAFT_ELECTION_TIMEOUT_MS_DEFAULT,
	       "several heartbeats must fit an election timeout");
/* Raft's links after a cut heals (replication/repl_connect.c, issue 12). raft_uv never reads from
 * its outgoing connection, so a cut (packets dropped, no reset) leaves it open while TCP retransmits
 * with a doubling back-off: a healed link moved nothing until the next retransmission, 10-17 s
 * after a 20 s cut in the link-cut drill. Now a connection whose data has gone unacknowledged for
 * CALLRAFT_RAFT_LINK_DEAD_ELECTIONS election timeouts is aborted (TCP_USER_TIMEOUT; the peer's
 * kernel acknowledges even for a paused or busy process, so only a lost link trips it), a connect
 * not done within CALLRAFT_RAFT_CONNECT_ELECTIONS election timeouts is given up, and raft retries
 * after its connect retry delay (raft_uv's 1 s). A healed link carries raft traffic within about
 * one election timeout + the retry delay + the TLS handshake. A retry delay of 100 ms was tried
 * and dropped: it made every survivor redial a dead site ten times a second (a TLS handshake
 * each) right while the survivors elected a leader, and the paired failover drill (docs/bench.md)
 * saw more than twice as many check-quorum step-downs as the old code. */
#define CALLRAFT_RAFT_LINK_DEAD_ELECTIONS 2
#define CALLRAFT_RAFT_CONNECT_ELECTIONS 1
_Static_assert(CALLRAFT_RAFT_LINK_DEAD_ELECTIONS >= 2,
	       "a live link under load must not be taken for dead: a lost packet and its retransmission "
	       "fit in two election timeouts");
/* Every voter keeps an outgoing raft link open to every other voter (replication/repl_warm.c):
 * raft_uv opens one only when it first sends to a peer and finds one broken only when a write
 * into it fails (dropping that message), and a follower sends only to its leader, so a candidate
 * paid a TCP + TLS handshake each way for its pre-vote, and a grant written into a link to the
 * candidate's earlier incarnation was lost (an election timeout more). Every this often each node
 * sends each other voter a message raft ignores; a broken link is redialled then. A link broken by
 * a peer's restart is open again within this + raft_uv's 1 s connect retry. */
#define CALLRAFT_RAFT_WARM_MS 1000
/* An InstallSnapshot of a large state crosses cities in tens of seconds (1.6 GB at 1M calls and
 * 1M tickets: docs/bench.md); a shorter timeout makes raft send it again before it has arrived. */
#define CALLRAFT_INSTALL_SNAPSHOT_TIMEOUT_MS_DEFAULT 60000
/* A joining node catches up across cities in generous rounds: up to this many, each up to this
 * many election timeouts long, before raft gives up on promoting it. */
#define CALLRAFT_CATCH_UP_ROUNDS_MAX 100
#define CALLRAFT_CATCH_UP_ROUND_ELECTIONS 10

/* ---- Snapshots (replication/repl_threshold.c, repl_snapshot.c) ------------------------------ */

/* Entries between snapshots at least (the configured threshold), and entries kept behind one so
 * that a follower a little behind catches up from the log, not with a copy of the state. */
#define CALLRAFT_SNAPSHOT_THRESHOLD_DEFAULT 4096
#define CALLRAFT_SNAPSHOT_TRAILING_DEFAULT 8192
/* Fewer entries between snapshots would copy the state for every handful of writes. */
#define CALLRAFT_SNAPSHOT_THRESHOLD_MIN 16
_Static_assert(CALLRAFT_SNAPSHOT_TRAILING_DEFAULT >= CALLRAFT_SNAPSHOT_THRESHOLD_DEFAULT &&
		       CALLRAFT_SNAPSHOT_THRESHOLD_DEFAULT >= CALLRAFT_SNAPSHOT_THRESHOLD_MIN,
	       "trailing >= threshold >= its minimum (config_check enforces the same)");
/* A state under this size copies in well under 100 ms: the configured threshold alone. Above,
 * the threshold grows so that the log between snapshots is about half the state's bytes. */
#define CALLRAFT_SNAPSHOT_SIZING_BYTES (64ull << 20)
/* raft keeps the log since the last snapshot, plus the trailing entries, in memory: the sized
 * threshold never lets it pass this many bytes. */
#define CALLRAFT_SNAPSHOT_LOG_BYTES_MAX (256ull << 20)
_Static_assert(CALLRAFT_SNAPSHOT_LOG_BYTES_MAX >= CALLRAFT_SNAPSHOT_SIZING_BYTES / 2,
	       "the log bound must not undercut the threshold where sizing starts");
/* Entries applied before their average size means anything (and the least entry size assumed:
 * the framing alone is about that). */
#define CALLRAFT_SNAPSHOT_SIZING_ENTRIES_MIN 64
#define CALLRAFT_SNAPSHOT_ENTRY_BYTES_MIN 64
/* The copy thread's nice increment: a copy of a large state on a busy machine slows down rather
 * than the node's answers. */
#define CALLRAFT_SNAPSHOT_COPY_NICE 10

/* ---- The state (defaults of the [state] section) ------------------------------------------- */

/* LMDB's map: address space reserved for the state, not memory used. 8 GB holds the 1M-call,
 * 1M-ticket state of docs/bench.md several times over; below 16 MB not even a small site fits. */
#define CALLRAFT_MAP_SIZE_MB_DEFAULT 8192
#define CALLRAFT_MAP_SIZE_MB_MIN 16
/* Any unsigned number in the configuration file: larger is a typo (and keeps sums of timings far
 * from overflowing 32 bits). */
#define CALLRAFT_CONFIG_NUMBER_MAX 100000000u

/* ---- The node's loop ------------------------------------------------------------------------- */

/* The leader's Tick interval is CALLRAFT_TICK_INTERVAL_MS (callraft_limits.h: the FSM's timers
 * depend on it). A member whose match index has not moved for this many election timeouts counts
 * as out of contact with the leader (node/tick.h): a follower answers within one heartbeat, so
 * three election timeouts is a lost link, not a slow one. */
#define CALLRAFT_CONTACT_TIMEOUT_FACTOR 3
_Static_assert(CALLRAFT_CONTACT_TIMEOUT_FACTOR * CALLRAFT_ELECTION_TIMEOUT_MS_DEFAULT >=
		       2 * CALLRAFT_TICK_INTERVAL_MS,
	       "a member must miss at least two Ticks before its site counts as unreachable");

/* The housekeeping timer: expires forwarded requests and checks the node's invariants
 * (node_check, repl_check). Forwarded requests therefore time out up to one interval late. */
#define CALLRAFT_HOUSEKEEPING_INTERVAL_MS 500

/* A follower's forwarded request gets TIMEOUT after this long without the leader's reply (a
 * paused leader): long enough for a batch to commit across cities under load, short enough that
 * a client's retry finds the next leader within a few elections. */
#define CALLRAFT_FORWARD_TIMEOUT_MS 10000
_Static_assert(CALLRAFT_FORWARD_TIMEOUT_MS >= 4 * CALLRAFT_HOUSEKEEPING_INTERVAL_MS,
	       "expiry runs on housekeeping: its lateness must be small against the timeout");
_Static_assert(CALLRAFT_FORWARD_TIMEOUT_MS >= 2 * CALLRAFT_ELECTION_TIMEOUT_MS_DEFAULT,
	       "a forwarded write must be able to outlast an election");
/* Relaying (node/forward.c, issue 12). A forward link whose requests have had no answer at all
 * for CALLRAFT_FORWARD_SILENT_MS (a link cut between cities leaves the TCP connection open and
 * silent; a dead host leaves a connect pending) counts as not reaching its target: new requests go
 * through another member (leader link) or another relay (relay link) at once, and the pending ones
 * keep waiting for their own answer or timeout. About one election timeout of cities 20 ms apart:
 * a leader merely slow under load costs one extra hop when taken for unreachable, a cut leader
 * costs its clients this long. A link that failed outright (refused, reset, TLS) is avoided for
 * CALLRAFT_RELAY_AVOID_MS before it is tried again. A relayed request is forwarded once more at
 * most (Request.relay_ttl <= CALLRAFT_RELAY_TTL_MAX): one relay, no loops. */
#define CALLRAFT_FORWARD_SILENT_MS 300
#define CALLRAFT_RELAY_AVOID_MS 2000
#define CALLRAFT_RELAY_TTL_MAX 1
_Static_assert(CALLRAFT_FORWARD_SILENT_MS >= CALLRAFT_ELECTION_FROM_RTT_MS_MIN &&
		       CALLRAFT_FORWARD_SILENT_MS * 4 <= CALLRAFT_FORWARD_TIMEOUT_MS,
	       "silence is noticed within an election, long before a forwarded request times out");
/* Hash buckets of the forwarded requests: a power of two, and CALLRAFT_PENDING_REQUESTS_MAX
 * requests spread 16 to a bucket at most. */
#define CALLRAFT_FORWARD_BUCKETS 4096
_Static_assert((CALLRAFT_FORWARD_BUCKETS & (CALLRAFT_FORWARD_BUCKETS - 1)) == 0,
	       "forward buckets: a power of two");
_Static_assert(CALLRAFT_PENDING_REQUESTS_MAX / CALLRAFT_FORWARD_BUCKETS <= 16,
	       "forward chains stay short at the pending-request limit");

/* ---- HTTP, the event stream, alarms (node/http*.c, events_hub.c, alarm.c) --------------------- */

/* How often held long polls are checked for their deadline: a poll ends at most this late. */
#define CALLRAFT_EVENTS_HUB_TIMER_MS 100
/* How often HTTP request deadlines are checked: a request is answered at most this late. */
#define CALLRAFT_HTTP_SWEEP_MS 100
/* Bytes written per writable callback (the rest waits for the next one): one slow client cannot
 * hold the loop for a large answer. */
#define CALLRAFT_HTTP_WRITE_CHUNK_BYTES (16u * 1024)
/* Queued bytes above which an SSE stream waits for the client (the core refuses beyond
 * CALLRAFT_HTTP_STREAM_BUFFER_BYTES_MAX). */
#define CALLRAFT_SSE_PENDING_BYTES_MAX (256u * 1024)
_Static_assert(CALLRAFT_SSE_PENDING_BYTES_MAX <= CALLRAFT_HTTP_STREAM_BUFFER_BYTES_MAX / 2,
	       "a stream pauses well before the core cuts it off");
/* The SSE module's timer (catch-up of streams left behind), and the keep-alive comment it writes:
 * proxies and idle timeouts see traffic on a quiet stream. */
#define CALLRAFT_SSE_TIMER_MS 1000
#define CALLRAFT_SSE_PING_MS 15000
_Static_assert(CALLRAFT_SSE_PING_MS >= CALLRAFT_SSE_TIMER_MS, "pings ride the module's timer");
/* Nesting of JSON objects mapped to messages: callraft.proto is shallow (Reply > NodeStatus >
 * Member); deeper input is refused rather than recursed into. */
#define CALLRAFT_HTTP_JSON_DEPTH_MAX 8
/* Seconds between two log lines of a lasting space alarm. */
#define CALLRAFT_ALARM_LOG_INTERVAL_S 60

/* ---- Sockets ---------------------------------------------------------------------------------- */

/* Receive buffers grow by this much at a time (client connections and the forward link): a read
 * takes many small frames at once; a larger frame takes a few growths, up to the frame limits.
 * Also the size of each read of a TLS stream's ciphertext and of raft's side of the TLS transport
 * (tls_stream_alloc_cb): several 16 KiB TLS records a read. */
#define CALLRAFT_RX_CHUNK_BYTES (64u * 1024)
/* Pending connections the kernel queues for the client listener: a burst of reconnecting clients
 * after a failover. */
#define CALLRAFT_LISTEN_BACKLOG 1024
/* TCP keepalive on client connections: a peer gone without a FIN (a cut link) is noticed within
 * about a minute and its connection freed. */
#define CALLRAFT_TCP_KEEPALIVE_S 30

/* ---- Start-up ---------------------------------------------------------------------------------- */

/* A node that fails to start lets the HTTP library close its handles before closing the rest:
 * libwebsockets closes them in a short chain of close callbacks (a handle per listener, its timer
 * and idle handles), each taking one loop turn. Turns with nothing to do return at once. */
#define CALLRAFT_FAILED_START_LOOP_TURNS 16

#endif
