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

static int metrics_scopes(struct state *s, MDB_txn *txn, const struct state_metrics_hooks *h)
{
	uint64_t now = 0;
	char err[128];
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if (store_meta_get(s, txn, META_TIME, &now, err, sizeof err) != 0)
		return -1;
	if (mdb_cursor_open(txn, s->dbi[DB_STATS], &cur) != 0)
		return -1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		Callraft__Stats *st = callraft__stats__unpack(NULL, v.mv_size, v.mv_data);
		if (st == NULL || stats_figures(s, txn, (int64_t)now, st) != 0) {
			if (st != NULL)
				callraft__stats__free_unpacked(st, NULL);
			rc = -1;
			break;
		}
		h->scope(h->data, st);
		callraft__stats__free_unpacked(st, NULL);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : -1;
}

static int metrics_sites(struct state *s, MDB_txn *txn, const struct state_metrics_hooks *h)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if (mdb_cursor_open(txn, s->dbi[DB_SITES], &cur) != 0)
		return -1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		Callraft__Site *site = callraft__site__unpack(NULL, v.mv_size, v.mv_data);
		if (site == NULL) {
			rc = -1;
			break;
		}
		h->site(h->data, site);
		callraft__site__free_unpacked(site, NULL);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : -1;
}

static int metrics_agents(struct state *s, MDB_txn *txn, const struct state_metrics_hooks *h)
{
	struct site_agents *sites = calloc(METRICS_SITES_MAX, sizeof *sites);
	unsigned n = 0;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if (sites == NULL)
		return -1;
	if (mdb_cursor_open(txn, s->dbi[DB_AGENTS], &cur) != 0) {
		free(sites);
		return -1;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		Callraft__Agent *a = callraft__agent__unpack(NULL, v.mv_size, v.mv_data);
		unsigned i;
		if (a == NULL) {
			rc = -1;
			break;
		}
		for (i = 0; i < n && strcmp(sites[i].site, a->site) != 0; i++)
			;
		if (i == n && n < METRICS_SITES_MAX)
			snprintf(sites[n++].site, sizeof sites[0].site, "%s", a->site);
		if (i < n && (unsigned)a->state <= CALLRAFT__AGENT_STATE__UNREACHABLE)
			sites[i].by_state[a->state]++;
		callraft__agent__free_unpacked(a, NULL);
	}
	mdb_cursor_close(cur);
	for (unsigned i = 0; rc == MDB_NOTFOUND && i < n; i++)
		h->agents(h->data, sites[i].site, sites[i].by_state,
			  CALLRAFT__AGENT_STATE__UNREACHABLE + 1);
	free(sites);
	return rc == MDB_NOTFOUND ? 0 : -1;
}

int state_metrics(struct state *s, const struct state_metrics_hooks *h)
{
	MDB_txn *txn;
	int rc;

	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
		return -1;
	rc = metrics_scopes(s, txn, h);
	if (rc == 0)
		rc = metrics_sites(s, txn, h);
	if (rc == 0)
		rc = metrics_agents(s, txn, h);
	mdb_txn_abort(txn);
	return rc;
}
