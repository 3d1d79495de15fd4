/* repl_monitor.c: the role monitor and the readiness barrier.
 *
 * raft's legacy API has no state callback. A uv_prepare handle runs before every loop iteration:
 * it collects a finished snapshot copy (repl_snapshot.c), then compares raft's state and term with
 * the last ones seen. On a change it clears `ready` (invariant R1), starts a barrier if this node
 * now leads, and calls on_role. It also ends the longer timeout of a node's first election once a
 * leader is known (repl_first_election_check). When the barrier commits and this node still leads in the same term,
 * it becomes ready and on_ready runs. An unavailable raft (an I/O failure) goes to on_fatal. */
#include <stdio.h>
#include <stdlib.h>

#include "repl_internal.h"

static void ready_barrier_cb(struct raft_barrier *req, int status)
{
	struct repl_op *op = req->data;
	struct repl *r = op->r;

	if (status == 0 && !r->closing && raft_state(&r->raft) == RAFT_LEADER &&
	    raft_current_term(&r->raft) == op->term) {
		r->ready = true;
		if (r->cb.on_ready != NULL)
			r->cb.on_ready(r->cb.data, op->term);
	}
	free(op);
}

static void start_ready_barrier(struct repl *r)
{
	struct repl_op *op = repl_op_new(r, NULL, NULL);
	if (op == NULL)
		return; /* retried at the next role check: ready stays false */
	op->term = raft_current_term(&r->raft);
	op->req.barrier.data = op;
	if (raft_barrier(&r->raft, &op->req.barrier, ready_barrier_cb) != 0)
		free(op);
}

static void monitor_cb(uv_prepare_t *handle)
{
	struct repl *r = handle->data;
	int st;
	uint64_t term;

	repl_snapshot_poll(r);
	if (r->closing)
		return;
	st = raft_state(&r->raft);
	term = raft_current_term(&r->raft);
	if (st == RAFT_UNAVAILABLE && r->last_state != RAFT_UNAVAILABLE) {
		r->last_state = st;
		snprintf(r->errmsg, sizeof r->errmsg, "raft: unavailable (I/O failure): %s",
			 raft_errmsg(&r->raft));
		if (r->cb.on_fatal != NULL)
			r->cb.on_fatal(r->cb.data, r->errmsg);
		return;
	}
	repl_first_election_check(r);
	if (st == r->last_state && term == r->last_term)
		return;
	r->last_state = st;
	r->last_term = term;
	r->ready = false;
	if (st == RAFT_LEADER)
		start_ready_barrier(r);
	if (r->cb.on_role != NULL)
		r->cb.on_role(r->cb.data, st == RAFT_LEADER, raft_state_name(st), term);
}

void repl_monitor_start(struct repl *r)
{
	uv_prepare_init(r->loop, &r->monitor);
	r->monitor_started = true;
	r->monitor.data = r;
	uv_prepare_start(&r->monitor, monitor_cb);
}
