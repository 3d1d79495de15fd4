/* stats.c: live statistics per queue and per site, from committed state.
 *
 * Counters are kept by apply in the `stats` table, in the same transaction as the change they
 * count, so they survive failover and restarts and every replica holds the same figures. Keys:
 * 'q' queue and 's' arrival site (a call with no arrival site counts for its queue only).
 *
 * Definitions (the wait of a call is now - enqueued_ms; a call returned to the queue keeps its
 * enqueued_ms, so its wait runs from when it first entered):
 *   entered          calls that entered the queue (enqueue, scheduled callback or voicemail
 *                    released); a redial that takes back a site-loss callback's place is the same
 *                    contact and is not counted again
 *   answered         CallAnswer; answered_in_sl if the wait was <= the queue's service_level_ms (T)
 *   abandoned        CallAbandon of a WAITING or OFFERED call; abandoned_short if the wait was
 *                    < CALLRAFT_SHORT_ABANDON_MS (5 s). A callback request is not an abandon.
 *   service level    answered_in_sl / (answered + abandoned - abandoned_short): abandons after 5 s
 *                    count as missed, short abandons are left out of numerator and denominator.
 *   ASA              wait_answered_ms / answered
 *   abandon rate     (abandoned - abandoned_short) / (answered + abandoned - abandoned_short)
 * Intervals (StatsGet.interval: today by the site's local day, 15m, 60m, 90 days) and ticket
 * classes: the same events are also counted in minute and day buckets by stats_interval.c; an
 * interval read replaces the counters above with the interval's before deriving the figures.
 * Computed by the read (stats_read) from the current tables, at FSM time (meta.time):
 *   waiting, longest_wait_ms (queue index), agents by state (agents table; for a queue, the agents
 *   who have it as a skill). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_internal.h"

#define STATS_KEY_BYTES_MAX (1 + CALLRAFT_QUEUE_BYTES_MAX + CALLRAFT_SITE_BYTES_MAX)

static size_t stats_key(uint8_t out[STATS_KEY_BYTES_MAX], char scope, const char *name)
{
	size_t n = strlen(name);

	out[0] = (uint8_t)scope;
	memcpy(out + 1, name, n);
	return n + 1;
}

static int count_one(struct apply_ctx *c, char scope, const char *name, const Callraft__Call *call,
		     enum stats_event ev, int64_t sl_ms)
{
	uint8_t key[STATS_KEY_BYTES_MAX];
	size_t key_len = stats_key(key, scope, name);
	Callraft__Stats *rec, st = CALLRAFT__STATS__INIT;
	int64_t wait = c->now_ms - call->enqueued_ms;
	int rc = store_get(c->s, c->txn, DB_STATS, key, key_len, &callraft__stats__descriptor,
			   (ProtobufCMessage **)&rec, "stats", name, c->errmsg, c->errmsg_len);

	if (rc == 1)
		rec = NULL;
	if (rc < 0)
		return -1;
	if (rc == 0) {
		ProtobufCMessage base = st.base;
		st = *rec;
		st.base = base;
	}
	st.scope = scope == 'q' ? "queue" : "site";
	st.name = (char *)name;
	if (wait < 0)
		wait = 0;
	switch (ev) {
	case STATS_ENTER:
		st.entered++;
		break;
	case STATS_ANSWER:
		st.answered++;
		st.answered_in_sl += wait <= sl_ms;
		st.wait_answered_ms += (uint64_t)wait;
		break;
	case STATS_ABANDON:
		st.abandoned++;
		st.abandoned_short += wait < CALLRAFT_SHORT_ABANDON_MS;
		break;
	case STATS_CALLBACK:
		st.callbacks++;
		break;
	}
	rc = store_put(c->s, c->txn, DB_STATS, key, key_len, &st.base, "stats", name, c->errmsg,
		       c->errmsg_len);
	if (rec != NULL)
		protobuf_c_message_free_unpacked(&rec->base, NULL);
	return rc;
}

int stats_count(struct apply_ctx *c, const Callraft__Call *call, enum stats_event ev)
{
	Callraft__QueueConfig cfg;
	int64_t wait = c->now_ms - call->enqueued_ms;

	if (route_queue_config(c, call->queue, &cfg) != 0 ||
	    count_one(c, 'q', call->queue, call, ev, cfg.service_level_ms) != 0 ||
	    stats_iv_call(c, call, ev, wait < 0 ? 0 : wait, cfg.service_level_ms) != 0)
		return -1;
	if (call->arrival_site[0] == '\0')
		return 0;
	return count_one(c, 's', call->arrival_site, call, ev, cfg.service_level_ms);
}

/* ---- the read --------------------------------------------------------------------------- */

bool stats_get_valid(const Callraft__StatsGet *q, char *msg, size_t msg_len)
{
	static const char *const intervals[] = {"", "today", "15m", "60m", "days"};
	bool known = false;

	for (size_t i = 0; i < sizeof intervals / sizeof intervals[0]; i++)
		known |= strcmp(q->interval, intervals[i]) == 0;
	if (!known) {
		snprintf(msg, msg_len, "stats: interval: '%.32s' is not one of today, 15m, 60m, days",
			 q->interval);
		return false;
	}
	/* Its shape here; whether it is a class (urgent, follow-up or configured): read.c. */
	if (!validate_name("stats", "ticket_class", q->ticket_class, CALLRAFT_CATEGORY_BYTES_MAX,
			   false, msg, msg_len))
		return false;
	if (q->ticket_class[0] != '\0' && q->interval[0] == '\0') {
		snprintf(msg, msg_len, "stats: ticket_class: needs an interval (today, 15m, 60m, days)");
		return false;
	}
	if (strcmp(q->interval, "days") == 0 &&
	    (q->queue[0] != '\0') + (q->site[0] != '\0') + (q->ticket_class[0] != '\0') != 1) {
		snprintf(msg, msg_len, "stats: interval days: name one queue, site or ticket_class");
		return false;
	}
	return true;
}

struct stats_scan {
	MDB_txn *txn;
	struct state *s;
	int64_t now_ms;
	const char *interval; /* "" (lifetime counters) or a StatsGet interval */
};

/* waiting and longest wait of one scope, from the counts and indexes kept with the queue index
 * (routing.c): the count, then the oldest call: for a site the first entry of its DB_SITE_WAIT
 * range; for a queue the oldest of the first entries of each tier present (the queue index orders
 * a tier by enqueued_ms), one seek per tier. No walk, however deep the queue. */
static int scan_waiting(struct stats_scan *sc, Callraft__Stats *st, bool site)
{
	uint8_t wkey[CALLRAFT_QUEUE_BYTES_MAX + CALLRAFT_SITE_BYTES_MAX + 2];
	size_t nlen = strlen(st->name);
	MDB_val k, v;
	MDB_cursor *cur;
	int64_t oldest = sc->now_ms;
	int rc;

	if (waiting_count(sc->s, sc->txn, site ? 's' : 'q', st->name, &st->waiting) != 0)
		return -1;
	if (st->waiting == 0) {
		st->longest_wait_ms = 0;
		return 0;
	}
	if (mdb_cursor_open(sc->txn, sc->s->dbi[site ? DB_SITE_WAIT : DB_QUEUE], &cur) != 0)
		return -1;
	memcpy(wkey, st->name, nlen);
	wkey[nlen] = '\0';
	unsigned from = 255 - CALLRAFT_TIER_MAX; /* queue: the key byte of the highest tier */
	for (;;) {
		wkey[nlen + 1] = (uint8_t)from;
		k.mv_size = site ? nlen + 1 : nlen + 2;
		k.mv_data = wkey;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc != 0 || k.mv_size <= nlen + 1 || memcmp(k.mv_data, wkey, nlen + 1) != 0)
			break;
		const uint8_t *kb = k.mv_data;
		int64_t enq = (int64_t)be64_get(kb + nlen + (site ? 1 : 2));
		if (enq < oldest)
			oldest = enq;
		if (site || kb[nlen + 1] == 255)
			break;
		from = kb[nlen + 1] + 1u;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return -1;
	st->longest_wait_ms = st->waiting > 0 ? sc->now_ms - oldest : 0;
	return 0;
}

static bool agent_in_scope(const Callraft__Agent *a, const Callraft__Stats *st, bool site)
{
	if (site)
		return strcmp(a->site, st->name) == 0;
	for (size_t i = 0; i < a->n_skills; i++) {
		if (strcmp(a->skills[i], st->name) == 0)
			return true;
	}
	return false;
}

/* Agents by state name into st->agents (entries malloc'd: freed with the unpacked message). */
static int scan_agents(struct stats_scan *sc, Callraft__Stats *st, bool site)
{
	uint32_t by_state[CALLRAFT__AGENT_STATE__UNREACHABLE + 1] = {0};
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(sc->txn, sc->s->dbi[DB_AGENTS], &cur);

	if (rc != 0)
		return -1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		Callraft__Agent *a = callraft__agent__unpack(NULL, v.mv_size, v.mv_data);
		if (a != NULL && agent_in_scope(a, st, site) &&
		    (unsigned)a->state <= CALLRAFT__AGENT_STATE__UNREACHABLE)
			by_state[a->state]++;
		if (a != NULL)
			callraft__agent__free_unpacked(a, NULL);
	}
	mdb_cursor_close(cur);
	st->agents = calloc(CALLRAFT__AGENT_STATE__UNREACHABLE + 1, sizeof *st->agents);
	if (st->agents == NULL)
		return -1;
	for (int i = 1; i <= CALLRAFT__AGENT_STATE__UNREACHABLE; i++) {
		Callraft__Stats__AgentsEntry *e = malloc(sizeof *e);
		if (e == NULL)
			return -1;
		callraft__stats__agents_entry__init(e);
		e->key = strdup(state_agent_state_name((Callraft__AgentState)i));
		e->value = by_state[i];
		st->agents[st->n_agents++] = e;
		if (e->key == NULL)
			return -1;
	}
	return 0;
}


/* The computed figures of one record but its agents: service level, ASA, waiting, longest wait. */
static int stats_figures_scan(struct stats_scan *sc, Callraft__Stats *st)
{
	bool site = strcmp(st->scope, "site") == 0;
	int64_t sl_ms = CALLRAFT_SERVICE_LEVEL_MS_DEFAULT;

	if (!site) {
		Callraft__QueueConfig *q;
		char err[128];
		if (store_get(sc->s, sc->txn, DB_QUEUES, st->name, strlen(st->name),
			      &callraft__queue_config__descriptor, (ProtobufCMessage **)&q, "queue",
			      st->name, err, sizeof err) == 0) {
			sl_ms = q->service_level_ms;
			callraft__queue_config__free_unpacked(q, NULL);
		}
	}
	stats_derive(st, sl_ms, false);
	return scan_waiting(sc, st, site);
}

int stats_figures(struct state *s, MDB_txn *txn, int64_t now_ms, Callraft__Stats *st)
{
	struct stats_scan sc = {txn, s, now_ms, ""};

	return stats_figures_scan(&sc, st);
}

/* Completes one unpacked Stats record with the computed figures and, for an interval read, the
 * interval's counters (state/stats_interval.c) in place of the lifetime ones. */
static int stats_complete(struct stats_scan *sc, Callraft__Stats *st)
{
	bool site = strcmp(st->scope, "site") == 0;

	if (stats_figures_scan(sc, st) != 0 || scan_agents(sc, st, site) != 0)
		return -1;
	if (sc->interval[0] == '\0')
		return 0;
	if ((st->interval = strdup(sc->interval)) == NULL ||
	    stats_iv_fill(sc->s, sc->txn, sc->now_ms, st) != 0)
		return -1;
	stats_derive(st, st->service_level_ms, false);
	return 0;
}

/* A Stats message as if unpacked (so free_unpacked releases it), for a scope with no counters. */
static Callraft__Stats *stats_new(const char *scope, const char *name)
{
	Callraft__Stats *st = callraft__stats__unpack(NULL, 0, (const uint8_t *)"");

	if (st == NULL)
		return NULL;
	st->scope = strdup(scope);
	st->name = strdup(name);
	if (st->scope == NULL || st->name == NULL) {
		callraft__stats__free_unpacked(st, NULL);
		return NULL;
	}
	return st;
}

static int stats_one(struct stats_scan *sc, char scope, const char *name, Callraft__Stats **out)
{
	uint8_t key[STATS_KEY_BYTES_MAX];
	char err[128];
	int rc = store_get(sc->s, sc->txn, DB_STATS, key, stats_key(key, scope, name),
			   &callraft__stats__descriptor, (ProtobufCMessage **)out, "stats", name,
			   err, sizeof err);

	if (rc < 0)
		return -1;
	if (rc == 1 && (*out = stats_new(scope == 'q' ? "queue" : "site", name)) == NULL)
		return -1;
	return stats_complete(sc, *out);
}

/* A ticket class's stats over the read's interval (no lifetime counters are kept for tickets). */
static int stats_class(struct stats_scan *sc, const char *cls, Callraft__Stats **out)
{
	Callraft__Stats *st = stats_new("ticket_class", cls);

	*out = st;
	if (st == NULL || (st->interval = strdup(sc->interval)) == NULL ||
	    stats_iv_fill(sc->s, sc->txn, sc->now_ms, st) != 0)
		return -1;
	stats_derive(st, 0, true);
	for (size_t i = 0; i < st->n_days; i++)
		stats_derive(st->days[i], 0, true);
	return 0;
}

struct class_walk {
	struct stats_scan *sc;
	Callraft__Stats **items;
	size_t *n;
};

static int class_each(void *arg, const char *cls)
{
	struct class_walk *w = arg;

	if (*w->n >= CALLRAFT_LIST_LIMIT_MAX)
		return 0;
	return stats_class(w->sc, cls, &w->items[(*w->n)++]);
}

int stats_read(struct state *s, MDB_txn *txn, int64_t now_ms, const Callraft__StatsGet *q,
	       Callraft__Stats ***items, size_t *n)
{
	struct stats_scan sc = {txn, s, now_ms, q->interval};
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	*n = 0;
	*items = calloc(CALLRAFT_LIST_LIMIT_MAX, sizeof **items);
	if (*items == NULL)
		return -1;
	if (q->queue[0] != '\0' || q->site[0] != '\0' || q->ticket_class[0] != '\0') {
		if (q->queue[0] != '\0' && stats_one(&sc, 'q', q->queue, &(*items)[(*n)++]) != 0)
			return -1;
		if (q->site[0] != '\0' && stats_one(&sc, 's', q->site, &(*items)[(*n)++]) != 0)
			return -1;
		if (q->ticket_class[0] != '\0' &&
		    stats_class(&sc, q->ticket_class, &(*items)[(*n)++]) != 0)
			return -1;
		return 0;
	}
	if ((rc = mdb_cursor_open(txn, s->dbi[DB_STATS], &cur)) != 0)
		return -1;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && *n < CALLRAFT_LIST_LIMIT_MAX;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		Callraft__Stats *st = callraft__stats__unpack(NULL, v.mv_size, v.mv_data);
		if (st == NULL)
			break;
		(*items)[(*n)++] = st;
		if (stats_complete(&sc, st) != 0) {
			rc = -1;
			break;
		}
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return -1;
	if (q->interval[0] == '\0')
		return 0;
	struct class_walk w = {&sc, *items, n};
	return stats_iv_classes(s, txn, class_each, &w);
}
