/* relay.h: which member relays a request when this node cannot reach the leader (issue 12), apart
 * from the node so that the rule can be tested alone (tests/unit/test_relay.c).
 *
 * A follower forwards a client's request straight to the leader (forward.c). When it cannot reach
 * the leader (no leader known: raft is electing because this site lost the leader; the link to
 * the leader failed; or it has answered nothing for CALLRAFT_FORWARD_SILENT_MS) it sends the
 * request to another member instead, with Request.relay_ttl = 1; that member forwards it straight
 * to its own leader with relay_ttl = 0 and never further. The session (client_id, seq) or the
 * Idempotency-Key travels unchanged, so a request that reaches the leader twice (directly and
 * relayed, or relayed twice after a retry) is still applied once (state/apply.c, state/idem.c).
 *
 * The rule (relay_choose): among the members other than this node and the leader it knows (or
 * knew last), with a client address, and not avoided,
 *   1. a member of a third site, neither this node's nor the leader's: a cut between two cities
 *      leaves the witness reaching both;
 *   2. then another member of the leader's site (the leader's own machine may be the problem);
 *   3. then another member of this node's site: it shares this node's links, so it helps least.
 * Within a rank the lowest id, so that every node of a site relays through the same member. If
 * every candidate is avoided, the one whose avoidance ends first. No candidate at all: 0.
 *
 * Avoidance: a member this node could not reach (its link failed or went silent) or that answered
 * a relayed request with "no leader here" is avoided for CALLRAFT_RELAY_AVOID_MS; the leader
 * itself is avoided the same way, which is what sends requests through a relay.
 *
 * Invariants of struct relay_avoid: R1. n <= CALLRAFT_MEMBERS_MAX, each id at most once. */
#ifndef CALLRAFT_RELAY_H
#define CALLRAFT_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "callraft_limits.h"

/* A member as relay_choose sees it (borrowed strings). */
struct relay_member {
	uint64_t id;
	const char *site;  /* "" if not recorded */
	bool has_address;  /* it serves clients (and so forwarded requests) */
};

/* Members avoided until a loop time. */
struct relay_avoid {
	uint64_t id[CALLRAFT_MEMBERS_MAX];
	uint64_t until_ms[CALLRAFT_MEMBERS_MAX];
	unsigned n;
};

/* Avoids member `id` until `until_ms` (extends, never shortens, an avoidance). A full table
 * replaces the entry that ends first. */
void relay_avoid_add(struct relay_avoid *a, uint64_t id, uint64_t until_ms);
/* Ends the avoidance of `id` (it answered). */
void relay_avoid_clear(struct relay_avoid *a, uint64_t id);
/* Whether `id` is avoided at `now_ms`. */
bool relay_avoided(const struct relay_avoid *a, uint64_t id, uint64_t now_ms);

/* The member to relay through, by the rule above; 0 if there is none. `leader_id` may be 0 and
 * `leader_site` NULL (no leader known, none remembered). Borrows everything. */
uint64_t relay_choose(const struct relay_member *m, size_t n, uint64_t self_id,
		      const char *self_site, uint64_t leader_id, const char *leader_site,
		      const struct relay_avoid *a, uint64_t now_ms);

/* Checks R1; aborts on a violation. */
void relay_avoid_check(const struct relay_avoid *a);

#endif
