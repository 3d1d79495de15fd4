/* home.c: leadership returns home, and never stays with the witness (issue 12).
 *
 * With `[raft] home_site = tehran`, a ready leader outside the home site (after a failover, or the
 * witness) hands leadership back to a voter of the home site once that voter has kept up with the
 * log (match index within CALLRAFT_HOME_LAG_MAX entries of the leader's last) for
 * CALLRAFT_HOME_SETTLE_MS without a break: the home site is healthy again, not merely restarted.
 * After a transfer it waits as long again before another try, so a home site that keeps failing
 * does not make leadership bounce. Raft's transfer itself waits for the target to catch up and
 * then has it elect itself at once (TimeoutNow), so the handover costs about one round trip of
 * writes, not an election timeout. Without home_site nothing happens.
 *
 * The witness (`[node] witness = true`) leads only when no call-center voter can: it campaigns
 * last (CALLRAFT_WITNESS_ELECTION_FACTOR), but wins when every call-center voter's log is behind
 * its own (a site lost with the other site's nodes lagging) or their timers fire late. Once
 * ready, and again every Tick while it leads and no transfer is under way, it hands leadership to
 * the call-center voter (a voter of another site) whose log is nearest its own, the home site's
 * first, if that voter is within CALLRAFT_HOME_LAG_MAX entries (raft's transfer then waits for it
 * to catch up, at most one election timeout, and has it elect itself). Retrying matters: raft's
 * own choice (raft_transfer to 0) falls back to the last voter in the configuration when none is
 * exactly caught up, a dead one after a site loss, and a transfer that times out or whose target
 * lost its election is not retried by raft; the witness then kept leadership for good (minutes
 * after a link-cut drill). No settle time here: a leader in the third city costs every write. */
#include <string.h>

#include "log.h"
#include "node_internal.h"

/* A voter of the home site that keeps up with the log: its id, or 0. */
static uint64_t home_voter(struct node *n)
{
	uint64_t ids[CALLRAFT_MEMBERS_MAX], last = repl_last_index(n->repl), found = 0;
	Callraft__MemberRole roles[CALLRAFT_MEMBERS_MAX];
	const char *addrs[CALLRAFT_MEMBERS_MAX];
	unsigned nc = repl_configuration(n->repl, ids, roles, addrs, CALLRAFT_MEMBERS_MAX);

	for (unsigned i = 0; i < nc && found == 0; i++) {
		Callraft__Member *m = NULL;
		uint64_t match = 0;
		if (roles[i] != CALLRAFT__MEMBER_ROLE__VOTER || ids[i] == n->cfg.id ||
		    repl_match_index(n->repl, ids[i], &match) != 0 ||
		    match + CALLRAFT_HOME_LAG_MAX < last || state_member_get(n->state, ids[i], &m) != 0)
			continue;
		if (strcmp(m->site, n->cfg.home_site) == 0)
			found = ids[i];
		callraft__member__free_unpacked(m, NULL);
	}
	return found;
}

/* A call-center voter to hand the witness's leadership to: the home site's first, then the one
 * with the highest match index; within CALLRAFT_HOME_LAG_MAX of our log. 0 if none. */
static uint64_t witness_target(struct node *n, uint64_t *match_out)
{
	uint64_t ids[CALLRAFT_MEMBERS_MAX], last = repl_last_index(n->repl), best = 0, best_match = 0;
	Callraft__MemberRole roles[CALLRAFT_MEMBERS_MAX];
	const char *addrs[CALLRAFT_MEMBERS_MAX];
	unsigned nc = repl_configuration(n->repl, ids, roles, addrs, CALLRAFT_MEMBERS_MAX);
	bool best_home = false;

	for (unsigned i = 0; i < nc; i++) {
		Callraft__Member *m = NULL;
		uint64_t match = 0;
		bool home;
		if (roles[i] != CALLRAFT__MEMBER_ROLE__VOTER || ids[i] == n->cfg.id ||
		    repl_match_index(n->repl, ids[i], &match) != 0 || match + CALLRAFT_HOME_LAG_MAX < last ||
		    state_member_get(n->state, ids[i], &m) != 0)
			continue;
		home = n->cfg.home_site[0] != '\0' && strcmp(m->site, n->cfg.home_site) == 0;
		if (strcmp(m->site, n->cfg.site) != 0 &&
		    (best == 0 || (home && !best_home) || (home == best_home && match > best_match))) {
			best = ids[i];
			best_match = match;
			best_home = home;
		}
		callraft__member__free_unpacked(m, NULL);
	}
	*match_out = best_match;
	return best;
}

void home_witness_check(struct node *n)
{
	uint64_t id, match = 0;
	const char *why;

	if (!n->cfg.witness || !repl_is_ready(n->repl) || repl_transfer_pending(n->repl))
		return;
	id = witness_target(n, &match);
	if (id == 0) {
		LOG_EVENT_RATELIMITED(LOG_WARN, "leader_transfer", LOG_FIELDS(LOG_S("reason", "witness")),
				      "witness: leading: no call-center voter within %d entries of the log",
				      CALLRAFT_HOME_LAG_MAX);
		return;
	}
	membership_transfer_to(n->members, id, &why);
	LOG_EVENT(LOG_INFO, "leader_transfer", LOG_FIELDS(LOG_S("reason", "witness")),
		  "witness: handing leadership to node %llu (match %llu, last %llu): %s",
		  (unsigned long long)id, (unsigned long long)match,
		  (unsigned long long)repl_last_index(n->repl), why);
}

void home_check(struct node *n)
{
	uint64_t now = uv_now(&n->loop), id;
	const char *why;

	if (n->cfg.witness) {
		home_witness_check(n);
		return;
	}
	if (n->cfg.home_site[0] == '\0' || strcmp(n->cfg.site, n->cfg.home_site) == 0 ||
	    !repl_is_ready(n->repl) || (id = home_voter(n)) == 0) {
		n->home_ok_since_ms = 0;
		return;
	}
	if (n->home_ok_since_ms == 0)
		n->home_ok_since_ms = now;
	if (now - n->home_ok_since_ms < CALLRAFT_HOME_SETTLE_MS ||
	    (n->home_transfer_ms != 0 && now - n->home_transfer_ms < CALLRAFT_HOME_SETTLE_MS))
		return;
	n->home_transfer_ms = now;
	membership_transfer_to(n->members, id, &why);
	LOG_INFO_("home: site '%s' healthy for %llu ms: handing leadership to node %llu: %s",
		  n->cfg.home_site, (unsigned long long)(now - n->home_ok_since_ms),
		  (unsigned long long)id, why);
}
