/* sitelive.c: what the rest of state/ asks about a site's liveness (issue 12): whether a site is
 * watched, whether a caller is held, evidence from agents, and the evidence text. The rules and
 * the Tick that decides them are in sitewatch.c (docs/routing.md). */
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

bool sitelive_watched(const Callraft__Site *s)
{
	return s->nodes_reported || s->pbx_seen_ms != 0;
}

static void ago(char *out, size_t len, const char *what, int64_t now_ms, int64_t at_ms, bool known)
{
	if (!known || at_ms == 0)
		snprintf(out, len, "%s never", what);
	else
		snprintf(out, len, "%s %lld ms ago", what, (long long)(now_ms - at_ms));
}

void sitelive_evidence(const struct apply_ctx *c, const Callraft__Site *s, char *out, size_t len)
{
	char n[64], p[64], a[64];

	ago(n, sizeof n, "nodes", c->now_ms, s->nodes_seen_ms, s->nodes_reported);
	ago(p, sizeof p, "pbx", c->now_ms, s->pbx_seen_ms, true);
	ago(a, sizeof a, "agents", c->now_ms, s->agents_seen_ms, true);
	snprintf(out, len, "last evidence: %s, %s, %s", n, p, a);
}

int sitelive_agent_seen(struct apply_ctx *c, const char *site)
{
	Callraft__Site s;

	if (site == NULL || site[0] == '\0' || route_site(c, site, &s) != 0)
		return site == NULL || site[0] == '\0' ? 0 : -1;
	if (!sitelive_watched(&s) || c->now_ms - s.agents_seen_ms < CALLRAFT_TICK_INTERVAL_MS)
		return 0; /* to the Tick's precision: no write on every heartbeat */
	s.agents_seen_ms = c->now_ms;
	return route_site_put(c, &s);
}

int sitelive_held(struct apply_ctx *c, const Callraft__Call *call)
{
	Callraft__Site s;

	if (call->callback || call->arrival_site[0] == '\0')
		return 0;
	if (route_site(c, call->arrival_site, &s) != 0)
		return -1;
	return sitelive_watched(&s) && s.out_of_contact && !s.down ? 1 : 0;
}

void state_set_site_event(struct state *s, state_site_event_fn *fn, void *data)
{
	s->site_event_fn = fn;
	s->site_event_data = data;
}
