/* tick.c: see tick.h. */
#include "tick.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "node_internal.h"

void site_contacts_term(struct site_contacts *t, uint64_t term)
{
	if (t->term != term) {
		t->term = term;
		t->n = 0; /* C2 */
	}
}

bool site_contacts_check(struct site_contacts *t, uint64_t id, uint64_t match, uint64_t last_index,
			 uint64_t now_ms, uint64_t timeout_ms, int64_t *silent_ms)
{
	struct site_contact *mc = NULL;

	*silent_ms = -1;
	for (unsigned i = 0; i < t->n; i++)
		if (t->c[i].id == id)
			mc = &t->c[i];
	if (mc == NULL) {
		if (t->n == CALLRAFT_MEMBERS_MAX) {
			*silent_ms = 0; /* C1: cannot track it; no site is lost on a full table */
			return true;
		}
		mc = &t->c[t->n++];
		*mc = (struct site_contact){.id = id, .match = match, .last_ms = now_ms};
	}
	assert(mc->last_ms <= now_ms); /* C3 */
	if (match != mc->match || match >= last_index) {
		mc->match = match;
		mc->last_ms = now_ms;
		mc->seen = true;
	}
	if (mc->seen)
		*silent_ms = (int64_t)(now_ms - mc->last_ms);
	return now_ms - mc->last_ms < timeout_ms;
}

void site_contacts_verify(const struct site_contacts *t, uint64_t now_ms)
{
	assert(t->n <= CALLRAFT_MEMBERS_MAX);
	for (unsigned i = 0; i < t->n; i++) {
		assert(t->c[i].id != 0 && t->c[i].last_ms <= now_ms);
		for (unsigned j = i + 1; j < t->n; j++)
			assert(t->c[i].id != t->c[j].id);
	}
}

/* The site named `site` in the report, added if new; NULL if out of memory. */
static Callraft__SiteNodes *site_of(Callraft__Tick *tick, const char *site)
{
	Callraft__SiteNodes *s;
	for (size_t j = 0; j < tick->n_sites; j++)
		if (strcmp(tick->sites[j]->site, site) == 0)
			return tick->sites[j];
	if ((s = calloc(1, sizeof *s)) == NULL)
		return NULL;
	callraft__site_nodes__init(s);
	s->silent_ms = -1; /* nothing known yet */
	if ((s->site = strdup(site)) == NULL) {
		free(s);
		return NULL;
	}
	tick->sites[tick->n_sites++] = s;
	return s;
}

Callraft__Command *tick_command_new(struct site_contacts *t, const struct tick_member *members,
				    unsigned n_members, uint64_t last_index, uint64_t now_ms,
				    uint64_t timeout_ms)
{
	Callraft__Command *cmd = calloc(1, sizeof *cmd);
	Callraft__Tick *tick = calloc(1, sizeof *tick);

	if (cmd == NULL || tick == NULL)
		goto err;
	callraft__command__init(cmd);
	callraft__tick__init(tick);
	cmd->op_case = CALLRAFT__COMMAND__OP_TICK;
	cmd->tick = tick;
	if (n_members > 0 && (tick->sites = calloc(n_members, sizeof *tick->sites)) == NULL)
		goto err_cmd;
	for (unsigned i = 0; i < n_members; i++) {
		const struct tick_member *m = &members[i];
		Callraft__SiteNodes *s;
		if (!m->replicating || m->site == NULL)
			continue;
		int64_t silent = m->self ? 0 : -1;
		bool reachable = m->self || (m->match_known && site_contacts_check(t, m->id, m->match,
										   last_index, now_ms,
										   timeout_ms, &silent));
		if ((s = site_of(tick, m->site)) == NULL)
			goto err_cmd;
		if (silent >= 0 && (s->silent_ms < 0 || silent < s->silent_ms))
			s->silent_ms = silent;
		s->reachable = s->reachable || reachable;
	}
	return cmd;
err_cmd:
	callraft__command__free_unpacked(cmd, NULL);
	return NULL;
err:
	free(tick);
	free(cmd);
	return NULL;
}

/* Gathers the configuration as this leader sees it, and appends a Tick to the open batch. */
int tick_append(struct node *n)
{
	uint64_t ids[CALLRAFT_MEMBERS_MAX];
	Callraft__MemberRole roles[CALLRAFT_MEMBERS_MAX];
	const char *addrs[CALLRAFT_MEMBERS_MAX];
	Callraft__Member *recs[CALLRAFT_MEMBERS_MAX] = {0};
	struct tick_member members[CALLRAFT_MEMBERS_MAX];
	unsigned nc = repl_configuration(n->repl, ids, roles, addrs, CALLRAFT_MEMBERS_MAX);
	uint64_t now = uv_now(&n->loop);
	Callraft__Command *cmd;

	site_contacts_term(&n->contacts, repl_term(n->repl));
	for (unsigned i = 0; i < nc; i++) {
		struct tick_member *m = &members[i];
		*m = (struct tick_member){.id = ids[i], .self = ids[i] == n->cfg.id};
		m->replicating = roles[i] != CALLRAFT__MEMBER_ROLE__SPARE;
		if (m->replicating && state_member_get(n->state, ids[i], &recs[i]) == 0)
			m->site = recs[i]->site;
		m->match_known = repl_match_index(n->repl, ids[i], &m->match) == 0;
	}
	cmd = tick_command_new(&n->contacts, members, nc, repl_last_index(n->repl), now,
			       CALLRAFT_CONTACT_TIMEOUT_FACTOR * (uint64_t)n->cfg.election_timeout_ms);
	for (unsigned i = 0; i < nc; i++)
		if (recs[i] != NULL)
			callraft__member__free_unpacked(recs[i], NULL);
	if (cmd == NULL)
		return -1;
	return write_append(n, cmd, NULL);
}
