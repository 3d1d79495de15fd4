/* tick.h: the leader's Tick and its site report, apart from the node so that it can be tested
 * with fake time (tests/unit/test_tick.c).
 *
 * Every CALLRAFT_TICK_INTERVAL_MS a ready leader appends a Tick; the FSM runs every time-based
 * routing rule on it (state/routing.c). The Tick carries, per site, whether any of its replicating
 * members (voter or standby, with a recorded site) is the leader or in contact with it: the FSM
 * converts a site's waiting calls once the site has been unreachable long enough.
 *
 * Contact: a member is in contact while its match index moved within the last
 * CALLRAFT_CONTACT_TIMEOUT_FACTOR election timeouts, or has reached the leader's last index (the
 * leader appends a Tick every interval, so a live follower's match index keeps moving). Each site
 * also carries silent_ms, how long ago one of its members last made progress, the evidence the
 * FSM decides site liveness from (state/sitewatch.c). A member first seen in a term gets the
 * benefit of the doubt for `reachable`, but its silence is unknown (-1) until it is seen to make
 * progress: a new leader knows nothing of the time before its election, so it never vouches for
 * it (the FSM keeps the evidence it has).
 *
 * Invariants of struct site_contacts:
 *   C1. n <= CALLRAFT_MEMBERS_MAX and each id appears at most once.
 *   C2. Entries belong to `term`: a new term starts an empty table.
 *   C3. last_ms never exceeds the time of the last check (time is monotonic). */
#ifndef CALLRAFT_TICK_H
#define CALLRAFT_TICK_H

#include <stdbool.h>
#include <stdint.h>

#include "callraft.pb-c.h"
#include "callraft_limits.h"
#include "callraft_timing.h"

struct site_contact {
	uint64_t id;
	uint64_t match;   /* match index at the last movement */
	uint64_t last_ms; /* when it last moved (loop time) */
	bool seen;        /* it moved or was caught up in this term: last_ms is evidence */
};

struct site_contacts {
	struct site_contact c[CALLRAFT_MEMBERS_MAX];
	unsigned n;
	uint64_t term;
};

/* One member of the configuration as the leader sees it. */
struct tick_member {
	uint64_t id;
	const char *site;   /* NULL: no member record yet (skipped) */
	bool replicating;   /* voter or standby (spares hold no data) */
	bool self;          /* this leader */
	bool match_known;   /* the leader knows its match index */
	uint64_t match;
};

/* Forgets every contact if `term` is not the table's. */
void site_contacts_term(struct site_contacts *t, uint64_t term);
/* Whether member `id`, with match index `match` (the leader's last index `last_index`), is in
 * contact at `now_ms`; records its movement. *silent_ms: how long ago it last made progress, or
 * -1 if it has not been seen to in this term. */
bool site_contacts_check(struct site_contacts *t, uint64_t id, uint64_t match, uint64_t last_index,
			 uint64_t now_ms, uint64_t timeout_ms, int64_t *silent_ms);
/* Aborts if an invariant C1-C3 is broken (now_ms: the time of the last check). */
void site_contacts_verify(const struct site_contacts *t, uint64_t now_ms);

/* Builds a Tick command (heap: free with callraft__command__free_unpacked) with the site report of
 * `members` (sites in order of first appearance). NULL if out of memory. */
Callraft__Command *tick_command_new(struct site_contacts *t, const struct tick_member *members,
				    unsigned n_members, uint64_t last_index, uint64_t now_ms,
				    uint64_t timeout_ms);

#endif
