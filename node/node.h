/* node.h: callraftd, one node of a callraft cluster.
 *
 * One libuv loop runs everything: raft I/O (replication/), the client listener, batching and
 * forwarding. No locks: everything that touches raft or LMDB runs on the loop thread.
 *
 * A request's path:
 *   frame -> decode -> check (version, unknown fields, op) ->
 *     status                          -> answered here
 *     read, stale                     -> state_read here
 *     read, linearizable, leader      -> waits for the next read barrier, then state_read
 *     write, leader                   -> validated, packed into the open batch; the batch becomes
 *                                        one Raft entry at the end of the loop turn (uv_check)
 *     admin, leader                   -> raft membership call, then a MemberUpsert/Delete entry
 *     anything else on a follower     -> forwarded to the leader's client address (or through a
 *                                        relay member when the leader is unreachable), reply relayed
 *   A write is acknowledged only when its entry is applied on the leader: the reply is the one the
 *   FSM stored with the client session, so a retry gets the same bytes.
 *
 * Invariants:
 *   1. A client frame gets at most one reply per request_id; a request whose outcome cannot be
 *      known (leadership lost, forward link lost) gets OUTCOME_UNKNOWN/UNAVAILABLE: retryable.
 *   2. A connection's memory is released only when it is closed and no batch, read or forward
 *      references it (conn->refs == 0).
 *   3. A request crosses at most two links: a follower forwards it to the leader, or, when it
 *      cannot reach the leader, to a relay member with relay_ttl 1, which forwards it to the leader
 *      with relay_ttl 0 (forward.c, relay.h). A forwarded request with relay_ttl 0 is never
 *      forwarded again; relay_ttl is at most CALLRAFT_RELAY_TTL_MAX and only on forwarded ones. */
#ifndef CALLRAFT_NODE_H
#define CALLRAFT_NODE_H

#include <stdbool.h>

#include "config.h"

/* Runs a node until SIGTERM/SIGINT. Returns the process exit code (0 on clean shutdown). */
int node_run(const struct config *cfg);

/* `callraftd --recover` (node/recover.c): forces `spec` ("ID=HOST:PORT[,...]", this node among
 * them) as the raft configuration of this stopped node, after a loud data-loss warning; refused
 * unless `accept_data_loss`. Returns the process exit code (0 recovered, 1 refused or failed). */
int node_recover(const struct config *cfg, const char *spec, bool accept_data_loss);

#endif
