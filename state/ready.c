/* ready.c: the ready index of issue #14, and what a command noted for assign.c.
 *
 *   ready    skill '\0' be64(since_ms) agent_id -> ""
 *
 * One row per skill of each ready agent (AVAILABLE with push set: see assign.c), so that within a
 * queue the agent idle longest comes first. ctx_put_agent calls ready_update with the stored
 * record and the one being written, so the index follows every change of every agent whichever
 * code path made it; route_queue_put calls ready_note_queue for every call put in line. Both only
 * note what happened in the apply context: assign.c acts on it at the end of the command.
 *
 * Invariant (state_check): a row exists iff its agent is ready, has that skill and that since_ms.
 * This file calls store.c only. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "state_internal.h"


bool ready_is(const Callraft__Agent *a)
{
	return a != NULL && a->push && a->state == CALLRAFT__AGENT_STATE__AVAILABLE;
}

size_t ready_key(uint8_t out[READY_KEY_BYTES_MAX], const char *skill, int64_t since_ms,
			const char *agent_id)
{
	size_t n = strlen(skill), m = strlen(agent_id);

	assert(n >= 1 && n <= CALLRAFT_QUEUE_BYTES_MAX && m >= 1 && m <= CALLRAFT_ID_BYTES_MAX);
	memcpy(out, skill, n);
	out[n] = '\0';
	be64_put(out + n + 1, (uint64_t)(since_ms < 0 ? 0 : since_ms));
	memcpy(out + n + 9, agent_id, m);
	return n + 9 + m;
}

static int ready_rows(struct apply_ctx *c, const Callraft__Agent *a, bool put)
{
	uint8_t key[READY_KEY_BYTES_MAX];

	for (size_t i = 0; i < a->n_skills; i++) {
		size_t len = ready_key(key, a->skills[i], a->since_ms, a->agent_id);
		int rc = put ? store_put_raw(c->s, c->txn, DB_READY, key, len, "", 0, "ready agent",
					     a->agent_id, c->errmsg, c->errmsg_len)
			     : store_del(c->s, c->txn, DB_READY, key, len, "ready agent", a->agent_id,
					 c->errmsg, c->errmsg_len);
		if (rc < 0 || (put && rc != 0))
			return -1;
	}
	return 0;
}

int ready_update(struct apply_ctx *c, const Callraft__Agent *old, const Callraft__Agent *now)
{
	bool was = ready_is(old), will = ready_is(now);

	if (was && ready_rows(c, old, false) != 0)
		return -1;
	if (!will)
		return 0;
	if (ready_rows(c, now, true) != 0)
		return -1;
	if (was || c->assigning)
		return 0;
	if (c->n_assign_agents == CALLRAFT_ASSIGN_AGENTS_MAX) {
		c->assign_sweep = true;
		return 0;
	}
	snprintf(c->assign_agents[c->n_assign_agents++], CALLRAFT_ID_BYTES_MAX + 1, "%s",
		 now->agent_id);
	return 0;
}

void ready_note_queue(struct apply_ctx *c, const char *queue)
{
	if (c->assigning)
		return;
	for (unsigned i = 0; i < c->n_assign_queues; i++)
		if (strcmp(c->assign_queues[i], queue) == 0)
			return;
	if (c->n_assign_queues == CALLRAFT_AGENT_SKILLS_MAX) {
		c->assign_sweep = true;
		return;
	}
	snprintf(c->assign_queues[c->n_assign_queues++], CALLRAFT_QUEUE_BYTES_MAX + 1, "%s", queue);
}

/* Up to `max` agent ids from the ready table, from `prefix` on (empty: the whole table), in key
 * order, each once. Returns the count or -1. */
int ready_collect(struct apply_ctx *c, const char *prefix,
			 char ids[][CALLRAFT_ID_BYTES_MAX + 1], unsigned max)
{
	size_t plen = prefix[0] != '\0' ? strlen(prefix) + 1 : 0; /* the queue and its '\0' */
	MDB_cursor *cur;
	MDB_val k = {plen, (void *)prefix}, v;
	unsigned n = 0;
	int rc = mdb_cursor_open(c->txn, c->s->dbi[DB_READY], &cur);

	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "assign: ready agents");
	rc = plen > 0 ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)
		      : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	for (; rc == 0 && n < max; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (plen > 0 && (k.mv_size <= plen + 8 || memcmp(k.mv_data, prefix, plen) != 0))
			break;
		const uint8_t *p = k.mv_data;
		size_t at = plen > 0 ? plen : strnlen((const char *)p, k.mv_size) + 1;
		if (k.mv_size <= at + 8 || k.mv_size - at - 8 > CALLRAFT_ID_BYTES_MAX) {
			rc = MDB_CORRUPTED;
			break;
		}
		char id[CALLRAFT_ID_BYTES_MAX + 1];
		memcpy(id, p + at + 8, k.mv_size - at - 8);
		id[k.mv_size - at - 8] = '\0';
		bool seen = false;
		for (unsigned i = 0; i < n && !seen; i++)
			seen = strcmp(ids[i], id) == 0;
		if (!seen)
			memcpy(ids[n++], id, strlen(id) + 1);
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_err(c->errmsg, c->errmsg_len, rc, "assign: ready agents");
	return (int)n;
}

