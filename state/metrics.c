/* metrics.c: what a node's /metrics reads from the state (state_metrics in state.h).
 *
 * One read transaction. Cost per scrape, so a scrape stays cheap however many calls wait:
 *   - per queue and per site: the counters apply keeps in the stats table (one record each) and
 *     the figures stats_figures derives from the waiting counts and one seek per queue tier
 *     (no walk of the queue index);
 *   - per site: its row in the sites table (down, nodes reachable);
 *   - agents by state per site: one pass over the agents table. No counter is kept per state (it
 *     would be FSM state, in every snapshot, for a view only); the pass is O(agents), a few
 *     milliseconds at 10,000 agents, and the node caches the whole scrape for
 *     CALLRAFT_METRICS_CACHE_MS. NEEDSWORK: an apply-kept counter per (site, state) if agent tables
 *     grow past that. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_internal.h"

#define METRICS_SITES_MAX 64

struct site_agents {
	char site[CALLRAFT_SITE_BYTES_MAX + 1];
	uint32_t by_state[CALLRAFT__AGENT_STATE__UNREACHABLE + 1];
};

/* Walks table `db` (store_each); -1 when a record does not decode, `each` fails or LMDB does. */
static int metrics_walk(struct state *s, MDB_txn *txn, enum state_db db,
			const ProtobufCMessageDescriptor *desc,
			int (*each)(void *arg, ProtobufCMessage *m), void *arg)
{
	return store_each(s, txn, db, desc, each, arg) != 0 ? -1 : 0;
}

struct scope_walk {
	struct state *s;
	MDB_txn *txn;
	int64_t now;
	const struct state_metrics_hooks *h;
};

static int scope_each(void *arg, ProtobufCMessage *m)
{
	struct scope_walk *w = arg;
	Callraft__Stats *st = (Callraft__Stats *)m;

	if (stats_figures(w->s, w->txn, w->now, st) != 0)
		return -1;
	w->h->scope(w->h->data, st);
	return 0;
}

static int site_each(void *arg, ProtobufCMessage *m)
{
	const struct state_metrics_hooks *h = ((struct scope_walk *)arg)->h;

	h->site(h->data, (Callraft__Site *)m);
	return 0;
}

/* Per queue and per site: the stats records, then the sites table. */
static int metrics_scopes(struct state *s, MDB_txn *txn, const struct state_metrics_hooks *h)
{
	uint64_t now = 0;
	char err[128];

	if (store_meta_get(s, txn, META_TIME, &now, err, sizeof err) != 0)
		return -1;
	struct scope_walk w = {s, txn, (int64_t)now, h};
	if (metrics_walk(s, txn, DB_STATS, &callraft__stats__descriptor, scope_each, &w) != 0)
		return -1;
	return metrics_walk(s, txn, DB_SITES, &callraft__site__descriptor, site_each, &w);
}

struct agents_walk {
	struct site_agents *sites;
	unsigned n;
};

static int agent_each(void *arg, ProtobufCMessage *m)
{
	struct agents_walk *w = arg;
	const Callraft__Agent *a = (const Callraft__Agent *)m;
	unsigned i;

	for (i = 0; i < w->n && strcmp(w->sites[i].site, a->site) != 0; i++)
		;
	if (i == w->n && w->n < METRICS_SITES_MAX)
		snprintf(w->sites[w->n++].site, sizeof w->sites[0].site, "%s", a->site);
	if (i < w->n && (unsigned)a->state <= CALLRAFT__AGENT_STATE__UNREACHABLE)
		w->sites[i].by_state[a->state]++;
	return 0;
}

static int metrics_agents(struct state *s, MDB_txn *txn, const struct state_metrics_hooks *h)
{
	struct agents_walk w = {calloc(METRICS_SITES_MAX, sizeof *w.sites), 0};
	int rc;

	if (w.sites == NULL)
		return -1;
	rc = metrics_walk(s, txn, DB_AGENTS, &callraft__agent__descriptor, agent_each, &w);
	for (unsigned i = 0; rc == 0 && i < w.n; i++)
		h->agents(h->data, w.sites[i].site, w.sites[i].by_state,
			  CALLRAFT__AGENT_STATE__UNREACHABLE + 1);
	free(w.sites);
	return rc;
}

int state_metrics(struct state *s, const struct state_metrics_hooks *h)
{
	MDB_txn *txn;
	int rc;

	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
		return -1;
	rc = metrics_scopes(s, txn, h);
	if (rc == 0)
		rc = metrics_agents(s, txn, h);
	mdb_txn_abort(txn);
	return rc;
}
