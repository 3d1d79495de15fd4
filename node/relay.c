/* relay.c: the choice of a relay member (contract and rule in relay.h). */
#include "relay.h"

#include <assert.h>
#include <string.h>

static int avoid_find(const struct relay_avoid *a, uint64_t id)
{
	for (unsigned i = 0; i < a->n; i++)
		if (a->id[i] == id)
			return (int)i;
	return -1;
}

void relay_avoid_add(struct relay_avoid *a, uint64_t id, uint64_t until_ms)
{
	int i = avoid_find(a, id);
	if (i >= 0) {
		if (a->until_ms[i] < until_ms)
			a->until_ms[i] = until_ms;
		return;
	}
	if (a->n == CALLRAFT_MEMBERS_MAX) {
		unsigned first = 0;
		for (unsigned j = 1; j < a->n; j++)
			if (a->until_ms[j] < a->until_ms[first])
				first = j;
		a->id[first] = id;
		a->until_ms[first] = until_ms;
		return;
	}
	a->id[a->n] = id;
	a->until_ms[a->n] = until_ms;
	a->n++;
}

void relay_avoid_clear(struct relay_avoid *a, uint64_t id)
{
	int i = avoid_find(a, id);
	if (i < 0)
		return;
	a->n--;
	a->id[i] = a->id[a->n];
	a->until_ms[i] = a->until_ms[a->n];
}

bool relay_avoided(const struct relay_avoid *a, uint64_t id, uint64_t now_ms)
{
	int i = avoid_find(a, id);
	return i >= 0 && a->until_ms[i] > now_ms;
}

static bool same_site(const char *a, const char *b)
{
	return a != NULL && b != NULL && a[0] != '\0' && strcmp(a, b) == 0;
}

/* 1: a third site, 2: the leader's site, 3: this node's site (relay.h). */
static int rank_of(const struct relay_member *m, const char *self_site, const char *leader_site)
{
	if (same_site(m->site, self_site))
		return 3;
	if (same_site(m->site, leader_site))
		return 2;
	return 1;
}

uint64_t relay_choose(const struct relay_member *m, size_t n, uint64_t self_id,
		      const char *self_site, uint64_t leader_id, const char *leader_site,
		      const struct relay_avoid *a, uint64_t now_ms)
{
	const struct relay_member *best = NULL, *fallback = NULL;
	int best_rank = 0;
	uint64_t fallback_until = 0;

	for (size_t i = 0; i < n; i++) {
		const struct relay_member *c = &m[i];
		if (c->id == 0 || c->id == self_id || c->id == leader_id || !c->has_address)
			continue;
		if (relay_avoided(a, c->id, now_ms)) {
			uint64_t until = a->until_ms[avoid_find(a, c->id)];
			if (fallback == NULL || until < fallback_until ||
			    (until == fallback_until && c->id < fallback->id)) {
				fallback = c;
				fallback_until = until;
			}
			continue;
		}
		int r = rank_of(c, self_site, leader_site);
		if (best == NULL || r < best_rank || (r == best_rank && c->id < best->id)) {
			best = c;
			best_rank = r;
		}
	}
	if (best != NULL)
		return best->id;
	return fallback != NULL ? fallback->id : 0;
}

void relay_avoid_check(const struct relay_avoid *a)
{
	assert(a->n <= CALLRAFT_MEMBERS_MAX); /* R1 */
	for (unsigned i = 0; i < a->n; i++)
		for (unsigned j = i + 1; j < a->n; j++)
			assert(a->id[i] != a->id[j]);
	(void)a;
}
