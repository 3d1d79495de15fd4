/* callraft_timing.h: the timings and tunables of the node and of replication, each with its
 * reason; the limits on data are in callraft_limits.h. Relations between them are checked with
 * _Static_assert. Timings an operator sets (heartbeat, election, snapshot threshold) are in the
 * node's configuration file (node/config.h), with their bounds checked there.
 * docs/design.md ("Limits and timings") explains how they fit together. */
#ifndef CALLRAFT_TIMING_H
#define CALLRAFT_TIMING_H

#include "callraft_limits.h"

/* Process exit code of a node that stops on a fatal I/O error (raft or the state cannot write):
 * EX_SOFTWARE of sysexits.h, distinct from 1 (bad usage or configuration) so that a supervisor can
 * tell a disk fault from a bad deployment. The restart replays the Raft log. */
#define CALLRAFT_EXIT_FATAL 70

/* The node's housekeeping timer: expires forwarded requests and checks the node's invariants.
 * Forwarded requests therefore time out up to one interval late. */
#define CALLRAFT_HOUSEKEEPING_INTERVAL_MS 500

/* A follower's forwarded request gets TIMEOUT after this long without the leader's reply (a
 * paused leader): long enough for a batch to commit across cities under load (a few hundred ms),
 * short enough that a client's retry finds the next leader within one election. */
#define CALLRAFT_FORWARD_TIMEOUT_MS 10000
_Static_assert(CALLRAFT_FORWARD_TIMEOUT_MS >= 4 * CALLRAFT_HOUSEKEEPING_INTERVAL_MS,
	       "expiry runs on housekeeping: its lateness must be small against the timeout");
/* Hash buckets of the forwarded requests: a power of two, and CALLRAFT_PENDING_REQUESTS_MAX
 * requests spread 16 to a bucket at most. */
#define CALLRAFT_FORWARD_BUCKETS 4096
_Static_assert((CALLRAFT_FORWARD_BUCKETS & (CALLRAFT_FORWARD_BUCKETS - 1)) == 0,
	       "forward buckets: a power of two");
_Static_assert(CALLRAFT_PENDING_REQUESTS_MAX / CALLRAFT_FORWARD_BUCKETS <= 16,
	       "forward chains stay short at the pending-request limit");

/* A member whose match index has not moved for this many election timeouts counts as out of
 * contact with the leader (tick.h): a follower answers a heartbeat within one, so three is a
 * lost link, not a slow one. */
#define CALLRAFT_CONTACT_TIMEOUT_FACTOR 3

#endif
