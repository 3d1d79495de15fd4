/* write.c: the write path. A write is checked (state_validate, a session), packed into the open
 * batch, and the writes of one loop turn become one Raft entry, proposed at the end of the turn
 * (write_flush, from the node's uv_check). The entry's replies, stored by the FSM with each client
 * session, go back to the clients once it is applied on this leader (docs/design.md, "The write
 * path").
 *
 * A batch's life: open (n->open, filling) -> proposed (inflight list, index and term known) ->
 *   replied (write_applied: the entry of that index *and term* applied) -> done (batch_done_cb:
 *   unlinked and freed; a batch done without a reply failed: OUTCOME_UNKNOWN, retry with the same
 *   seq). A batch that cannot be proposed fails at once (NOT_LEADER or UNAVAILABLE).
 *
 * Invariants (checked here and by node_check): N2 and N3 of node_internal.h, and
 *   W1. Each command of a batch gets exactly one reply: b->replied is set once, and a replied
 *       batch never fails.
 *   W2. A batch holds a reference on each client connection it will answer. */
#include <assert.h>
#include <stdlib.h>

#include "authz.h"
#include "callraft_ops.h"
#include "log.h"
#include "node_internal.h"

static struct batch *batch_open(struct node *n)
{
	if (n->open == NULL) {
		n->open = calloc(1, sizeof *n->open);
		if (n->open != NULL)
			n->open->node = n;
	}
	return n->open;
}

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		if (b->items[i].conn != NULL)
			conn_unref(b->items[i].conn);
		if (b->reqs[i] != NULL)
			callraft__request__free_unpacked(b->reqs[i], NULL);
		if (b->owned[i] != NULL)
			callraft__command__free_unpacked(b->owned[i], NULL);
	}
	free(b);
}

/* Fails every command of a batch that will not reply (W1), and ends its admin requests. */
static void batch_fail(struct batch *b, Callraft__Code code, const char *fmt, const char *why)
{
	assert(!b->replied);
	for (size_t i = 0; i < b->n; i++) {
		conn_send_error(b->items[i].conn, b->items[i].request_id, code, fmt, why);
		if (b->items[i].admin != NULL)
			admin_done(b->items[i].admin);
	}
}

/* Replies to every command of a batch whose entry was applied. */
static void batch_reply(struct batch *b, const struct state_replies *replies)
{
	assert(!b->replied); /* W1 */
	for (size_t i = 0; i < b->n; i++) {
		struct batch_item *it = &b->items[i];
		if (i >= replies->n) {
			conn_send_error(it->conn, it->request_id, CALLRAFT__CODE__INTERNAL,
					"entry %llu applied without a reply", (unsigned long long)b->index);
			continue;
		}
		conn_log_denied(it->conn, b->reqs[i], replies->bytes[i], replies->len[i]);
		if (it->conn != NULL)
			conn_send_reply_bytes(it->conn, replies->bytes[i], replies->len[i], it->request_id);
		if (it->admin != NULL) {
			admin_done(it->admin);
			it->admin = NULL;
		}
	}
	b->replied = true;
}

static void batch_unlink(struct node *n, struct batch *b)
{
	struct batch **pp = &n->inflight_head;
	struct batch *prev = NULL;
	for (; *pp != NULL && *pp != b; prev = *pp, pp = &(*pp)->next)
		;
	if (*pp == NULL)
		return;
	*pp = b->next;
	if (n->inflight_tail == b)
		n->inflight_tail = prev;
}

static void batch_done_cb(void *data, Callraft__Code code, const char *why, uint64_t index)
{
	struct batch *b = data;
	(void)code;
	(void)index;
	batch_unlink(b->node, b);
	/* Leadership was lost after proposing: the entry may or may not commit. The client retries
	 * with the same seq; the session table answers it exactly once. */
	if (!b->replied)
		batch_fail(b, CALLRAFT__CODE__OUTCOME_UNKNOWN,
			   "leadership lost before the write committed (%s): retry with the same seq",
			   why);
	batch_free(b);
}

void write_applied(struct node *n, uint64_t index, const struct state_replies *replies)
{
	assert(index > n->applied_seen); /* N5 */
	n->applied_seen = index;
	for (struct batch *b = n->inflight_head; b != NULL; b = b->next) {
		/* Index and term identify the entry: an entry of another leader at an index where
		 * ours was truncated must never answer our clients. */
		if (b->index == index && b->term == replies->term) {
			histogram_observe(&n->metrics.commit_seconds,
					  (double)(uv_hrtime() - b->proposed_ns) / 1e9);
			batch_reply(b, replies);
			return;
		}
	}
}

void write_flush(struct node *n)
{
	struct batch *b = n->open;
	Callraft__Entry entry = CALLRAFT__ENTRY__INIT;
	Callraft__Code code;

	if (b == NULL || b->n == 0)
		return;
	n->open = NULL;
	entry.format = CALLRAFT_ENTRY_FORMAT;
	/* Steady across wall-clock steps, never behind the FSM's time (stamp_clock.h). */
	entry.time_ms = stamp_clock_now(&n->stamp_clock, node_now_ms(), uv_hrtime() / 1000000,
					(int64_t)state_time_ms(n->state));
	entry.term = repl_term(n->repl);
	entry.quota_bytes = n->cfg.quota_mb << 20; /* state/quota.c: every replica refuses alike */
	b->term = entry.term;
	entry.n_commands = b->n;
	entry.commands = b->cmd_ptrs;
	b->proposed_ns = uv_hrtime();
	code = repl_propose(n->repl, &entry, batch_done_cb, b, &b->index);
	if (code != CALLRAFT__CODE__OK) {
		LOG_EVENT_RATELIMITED(LOG_WARN, "refusal",
				      LOG_FIELDS(LOG_S("reason", "propose_failed"), LOG_U("commands", b->n)),
				      "propose %zu commands: %s", b->n, repl_errmsg(n->repl));
		batch_fail(b, code == CALLRAFT__CODE__NOT_LEADER ? code : CALLRAFT__CODE__UNAVAILABLE,
			   "propose: %s: retry", repl_errmsg(n->repl));
		batch_free(b);
		return;
	}
	n->batches_total++;
	n->commands_total += b->n;
	assert(n->inflight_tail == NULL || n->inflight_tail->index < b->index); /* N2 */
	if (n->inflight_tail)
		n->inflight_tail->next = b;
	else
		n->inflight_head = b;
	n->inflight_tail = b;
}

/* Adds a command slot to the open batch, proposing the batch first if it is full (N3). Returns
 * the slot's position, or -1 if out of memory. */
static int batch_add(struct node *n, struct conn *c, uint64_t request_id, size_t bytes)
{
	struct batch *b = n->open;
	if (b != NULL && (b->n == CALLRAFT_BATCH_COMMANDS_MAX || b->bytes + bytes > CALLRAFT_BATCH_BYTES_MAX))
		write_flush(n);
	b = batch_open(n);
	if (b == NULL)
		return -1;
	assert(b->n < CALLRAFT_BATCH_COMMANDS_MAX); /* N3 */
	size_t i = b->n++;
	b->items[i] = (struct batch_item){.conn = c, .request_id = request_id};
	b->bytes += bytes;
	if (c != NULL)
		conn_ref(c); /* W2 */
	return (int)i;
}

int write_append(struct node *n, Callraft__Command *cmd, struct admin_op *admin)
{
	struct conn *c = NULL;
	uint64_t request_id = 0;
	int pos;

	if (admin != NULL)
		admin_client(admin, &c, &request_id);
	pos = batch_add(n, c, request_id, callraft__command__get_packed_size(cmd));
	if (pos < 0) {
		callraft__command__free_unpacked(cmd, NULL);
		return -1;
	}
	n->open->owned[pos] = cmd;
	n->open->cmd_ptrs[pos] = cmd;
	n->open->items[pos].admin = admin;
	return 0;
}

void write_request(struct node *n, struct conn *c, Callraft__Request *req)
{
	Callraft__Command probe = CALLRAFT__COMMAND__INIT;
	struct batch *b;
	char msg[256];
	Callraft__Code code;
	int pos;

	if (req->op_case == CALLRAFT__REQUEST__OP_REGISTER_CLIENT &&
	    session_secret_draw(req->register_client) != 0) {
		conn_refuse(c, req, CALLRAFT__CODE__UNAVAILABLE,
			    "register: no random bytes for the session secret: retry");
		return;
	}
	callraft_command_from_request(&probe, req);
	code = state_validate(&probe, msg, sizeof msg);
	if (code != CALLRAFT__CODE__OK) {
		conn_refuse(c, req, code, "%s", msg);
		return;
	}
	/* Never propose what the active rules cannot apply (state/rules.c R3). Every operation needs
	 * version 1 today, which every state is at or above: the state is read only for newer ones. */
	uint32_t need = state_rules_needed(&probe);
	if (need > 1 && need > state_rules_active(n->state)) {
		conn_refuse(c, req, CALLRAFT__CODE__BAD_STATE,
			    "%s: needs rules version %u, the cluster's active version is %u: upgrade "
			    "every member, then callraft rules upgrade",
			    authz_op_name(req->op_case), need, state_rules_active(n->state));
		return;
	}
	if (req->op_case != CALLRAFT__REQUEST__OP_REGISTER_CLIENT && (req->client_id == 0 || req->seq == 0) &&
	    (req->idempotency_key == NULL || req->idempotency_key[0] == '\0' || req->client_id != 0)) {
		conn_refuse(c, req, CALLRAFT__CODE__INVALID_ARGUMENT,
			    "writes need a session (client_id and seq; register first) or an idempotency key");
		return;
	}
	pos = batch_add(n, c, req->request_id, callraft__request__get_packed_size(req));
	if (pos < 0) {
		conn_refuse(c, req, CALLRAFT__CODE__UNAVAILABLE, "out of memory: retry");
		return;
	}
	b = n->open;
	b->reqs[pos] = req;
	callraft__command__init(&b->cmds[pos]);
	callraft_command_from_request(&b->cmds[pos], req);
	b->cmd_ptrs[pos] = &b->cmds[pos];
}

void write_discard(struct node *n)
{
	if (n->open != NULL)
		batch_free(n->open);
	n->open = NULL;
}
