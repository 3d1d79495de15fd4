/* repl_warm.c: raft's outgoing links to every voter open before an election needs them (issue 12).
 *
 * Why: raft_uv opens an outgoing connection to a peer only when it first sends to it, and learns
 * that one is broken only when a write to it fails (it never reads from it), dropping the message
 * that failed. A follower sends only to its leader. So when a leader died, the survivor that turned
 * candidate dialled the other voters at that moment (TCP + TLS + raft's handshake before its
 * pre-vote left), each voter dialled the candidate back for its answer, and a voter whose link to
 * the candidate dated from before the candidate's last restart wrote its grant into the dead link:
 * the grant was lost, and the candidate waited a whole new election timeout. In the failover drill
 * a pre-vote round took 13-60 ms on links already open and 70-1000 ms (median ~170) when a link had
 * to be opened, in about a quarter of the candidacies (docs/bench.md, "Failover across cities").
 *
 * So every CALLRAFT_RAFT_WARM_MS each node sends every other voter a message raft ignores: an
 * AppendEntries result of term 0 (below every term in use: a leader ignores a result of a lower
 * term, anyone else any result; recv_append_entries_result.c). raft_uv opens the link for it and
 * keeps it; a write into a link broken by the peer's restart fails, and raft_uv reconnects at once
 * (then every connect retry delay while the peer is down), so the next election finds every link
 * open. At most one such message per voter is in flight (W1), so a dead voter's queue in raft_uv
 * does not grow.
 *
 * Invariants:
 *   W1. warm_to[i] != 0 iff a warming message to that member is in flight (its callback not yet
 *       run); each message's callback runs exactly once (raft_uv: sent, failed or cancelled at
 *       close) and frees it.
 *   W2. The timer is started only after raft_start and closed in repl_close before raft is: no
 *       send is made to a closing raft_io, and r outlives the timer (repl.c frees r only after raft
 *       has closed, a loop turn at least after the timer's close). */
#include <stdlib.h>

#include "repl_internal.h"

struct warm_send {
	struct raft_io_send req;
	struct raft_message message;
	struct repl *r;
	size_t slot;
};

static void warm_sent_cb(struct raft_io_send *req, int status)
{
	struct warm_send *w = req->data;
	(void)status; /* a failure is the point: raft_uv has started reconnecting */
	w->r->warm_to[w->slot] = 0;
	free(w);
}

static void warm_one(struct repl *r, const struct raft_server *s)
{
	const size_t n = sizeof r->warm_to / sizeof r->warm_to[0];
	size_t slot = n;
	struct warm_send *w;

	for (size_t i = 0; i < n; i++) {
		if (r->warm_to[i] == s->id)
			return; /* W1: one in flight already */
		if (r->warm_to[i] == 0 && slot == n)
			slot = i;
	}
	if (slot == n || (w = calloc(1, sizeof *w)) == NULL)
		return; /* the link opens at the next election instead: slower, still correct */
	w->r = r;
	w->slot = slot;
	w->req.data = w;
	w->message.type = RAFT_APPEND_ENTRIES_RESULT;
	w->message.server_id = s->id;
	w->message.server_address = s->address;
	w->message.append_entries_result.term = 0; /* ignored by every receiver */
	r->warm_to[slot] = s->id;
	if (r->io.send(&r->io, &w->req, &w->message, warm_sent_cb) != 0) {
		r->warm_to[slot] = 0;
		free(w);
	}
}

void repl_warm_links(struct repl *r)
{
	const struct raft_configuration *c = &r->raft.configuration;
	if (r->closing)
		return;
	for (unsigned i = 0; i < c->n; i++)
		if (c->servers[i].id != r->self_id && c->servers[i].role == RAFT_VOTER)
			warm_one(r, &c->servers[i]);
}

static void warm_timer_cb(uv_timer_t *t)
{
	repl_warm_links(t->data);
}

void repl_warm_start(struct repl *r)
{
	uv_timer_init(r->loop, &r->warm_timer);
	r->warm_timer.data = r;
	r->warm_started = true;
	uv_timer_start(&r->warm_timer, warm_timer_cb, 0, CALLRAFT_RAFT_WARM_MS);
}

void repl_warm_stop(struct repl *r)
{
	/* W2. A loop walk at a failed start may have closed it already. */
	if (r->warm_started && !uv_is_closing((uv_handle_t *)&r->warm_timer))
		uv_close((uv_handle_t *)&r->warm_timer, NULL);
}
