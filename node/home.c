/* home.c: leadership returns home (issue 12).
 *
 * With `[raft] home_site = tehran`, a ready leader outside the home site (after a failover, or the
 * witness) hands leadership back to a voter of the home site once that voter has kept up with the
 * log (match index within CALLRAFT_HOME_LAG_MAX entries of the leader's last) for
 * CALLRAFT_HOME_SETTLE_MS without a break: the home site is healthy again, not merely restarted.
 * After a transfer it waits as long again before another try, so a home site that keeps failing
 * does not make leadership bounce. Raft's transfer itself waits for the target to catch up and
 * then has it elect itself at once (TimeoutNow), so the handover costs about one round trip of
 * writes, not an election timeout. Without home_site nothing happens. */
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

void home_check(struct node *n)
{
	uint64_t now = uv_now(&n->loop), id;
	const char *why;

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
