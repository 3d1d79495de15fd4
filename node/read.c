/* read.c: linearizable reads. A read on the leader waits for the next read barrier: every read
 * that arrives during a loop turn joins one group, and at the end of the turn (read_flush) one
 * barrier is started for the group, unless one is in flight already (then the group waits for the
 * next turn). Once the barrier commits, every entry before it has been applied on this node, so
 * the state read reflects every write acknowledged before the read arrived (docs/design.md, "The
 * read path"). A read that arrives on a follower is forwarded; a stale read is served at once from
 * the local state.
 *
 * Invariants: N4 of node_internal.h, and
 *   RD1. At most one read barrier is in flight (read_barrier_inflight).
 *   RD2. A waiting read holds a reference on its connection until it is answered. */
#include <stdlib.h>

#include "node_internal.h"

void read_serve(struct node *n, struct conn *c, const Callraft__Request *req)
{
	if (req->op_case == CALLRAFT__REQUEST__OP_MEMBERS_LIST) {
		status_reply(n, c, req->request_id, true);
		return;
	}
	if (req->op_case == CALLRAFT__REQUEST__OP_RULES_SHOW) {
		rules_show(n, c, req->request_id);
		return;
	}
	size_t len = 0;
	uint8_t *bytes = state_read(n->state, req, &len);
	if (bytes == NULL) {
		conn_send_error(c, req->request_id, CALLRAFT__CODE__INTERNAL, "read: out of memory");
		return;
	}
	conn_log_denied(c, req, bytes, len);
	conn_send_reply_bytes(c, bytes, len, req->request_id);
	free(bytes);
}

/* Answers every read of the group: served if the barrier committed, NOT_LEADER otherwise. */
static void reads_answer(struct node *n, struct read_wait *head, bool ok)
{
	while (head != NULL) {
		struct read_wait *w = head;
		head = w->next;
		if (ok)
			read_serve(n, w->conn, w->req);
		else
			conn_send_error(w->conn, w->req->request_id, CALLRAFT__CODE__NOT_LEADER,
					"leadership lost before the read could be served: retry");
		conn_unref(w->conn); /* RD2 */
		callraft__request__free_unpacked(w->req, NULL);
		free(w);
	}
}

static void reads_barrier_cb(void *data, Callraft__Code code, const char *why, uint64_t index)
{
	struct read_group *g = data;
	struct node *n = g->node;
	(void)why;
	(void)index;
	n->read_barrier_inflight = false;
	reads_answer(n, g->head, code == CALLRAFT__CODE__OK);
	free(g);
}

/* Takes the waiting reads off the node (N4). */
static struct read_wait *reads_take(struct node *n)
{
	struct read_wait *head = n->reads;
	n->reads = NULL;
	n->reads_tail = &n->reads;
	return head;
}

void read_flush(struct node *n)
{
	struct read_group *g;

	if (n->reads == NULL)
		return;
	if (!repl_is_leader(n->repl)) {
		if (!n->read_barrier_inflight)
			reads_answer(n, reads_take(n), false);
		return;
	}
	if (n->read_barrier_inflight) /* RD1: the group waits for the next turn */
		return;
	g = calloc(1, sizeof *g);
	if (g == NULL)
		return; /* retried next turn */
	g->node = n;
	g->head = reads_take(n);
	if (repl_barrier(n->repl, reads_barrier_cb, g) != CALLRAFT__CODE__OK) {
		reads_answer(n, g->head, false);
		free(g);
		return;
	}
	n->read_barrier_inflight = true;
}

void read_request(struct node *n, struct conn *c, Callraft__Request *req)
{
	struct read_wait *w = calloc(1, sizeof *w);
	if (w == NULL) {
		conn_refuse(c, req, CALLRAFT__CODE__UNAVAILABLE, "out of memory: retry");
		return;
	}
	w->conn = c;
	w->req = req;
	conn_ref(c);
	if (n->reads == NULL)
		n->reads_tail = &n->reads;
	*n->reads_tail = w;
	n->reads_tail = &w->next;
}
