/* node.c: request dispatch, batching, linearizable reads, membership, and the node's life.
 * See node.h for the request path and its invariants. */
#include "node.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "log.h"
#include "callraft_ops.h"
#include "node_internal.h"

int64_t node_now_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ------------------------------------------------------------------------------------------------
 * Classification of operations. */

void node_leader_hint(struct node *n, Callraft__Reply *reply, char *addr_buf, size_t addr_len)
{
	Callraft__Member *m = NULL;
	uint64_t id = repl_leader(&n->repl, NULL);
	if (id == 0)
		return;
	reply->leader_hint = id;
	if (state_member_get(n->state, id, &m) == 0) {
		snprintf(addr_buf, addr_len, "%s", m->client_address ? m->client_address : "");
		reply->leader_address = addr_buf;
		callraft__member__free_unpacked(m, NULL);
	}
}

/* ------------------------------------------------------------------------------------------------
 * Status and members: the Raft configuration joined with the members table. */

static Callraft__MemberRole role_proto(int role)
{
	return role == RAFT_VOTER     ? CALLRAFT__MEMBER_ROLE__VOTER
	       : role == RAFT_STANDBY ? CALLRAFT__MEMBER_ROLE__STANDBY
				      : CALLRAFT__MEMBER_ROLE__SPARE;
}

/* Fills out[] (up to max) with every member of the configuration and of the members table.
 * Returns the count; each element must be freed with callraft__member__free_unpacked. */
static size_t members_collect(struct node *n, Callraft__Member **out, size_t max)
{
	uint64_t ids[CALLRAFT_MEMBERS_MAX];
	int roles[CALLRAFT_MEMBERS_MAX];
	const char *addrs[CALLRAFT_MEMBERS_MAX];
	unsigned nc = repl_configuration(&n->repl, ids, roles, addrs, CALLRAFT_MEMBERS_MAX);
	size_t count = state_members(n->state, out, max);

	for (size_t i = 0; i < count; i++) {
		out[i]->in_configuration = false;
		out[i]->role = CALLRAFT__MEMBER_ROLE__ROLE_NONE;
	}
	for (unsigned j = 0; j < nc; j++) {
		size_t i;
		for (i = 0; i < count && out[i]->id != ids[j]; i++)
			;
		if (i == count) {
			if (count == max)
				continue;
			Callraft__Member *m = calloc(1, sizeof *m);
			if (m == NULL)
				continue;
			callraft__member__init(m);
			m->id = ids[j];
			m->raft_address = strdup(addrs[j]);
			m->site = strdup("");
			m->client_address = strdup("");
			out[count++] = m;
		}
		out[i]->in_configuration = true;
		out[i]->role = role_proto(roles[j]);
	}
	return count;
}

static void members_free(Callraft__Member **m, size_t count)
{
	for (size_t i = 0; i < count; i++)
		callraft__member__free_unpacked(m[i], NULL);
}

static void reply_status(struct node *n, struct conn *c, uint64_t request_id, bool members_only)
{
	Callraft__Reply reply = CALLRAFT__REPLY__INIT;
	Callraft__NodeStatus st = CALLRAFT__NODE_STATUS__INIT;
	Callraft__Member *members[2 * CALLRAFT_MEMBERS_MAX];
	size_t count = members_collect(n, members, 2 * CALLRAFT_MEMBERS_MAX);
	char state_name[32];

	snprintf(state_name, sizeof state_name, "%s", repl_state_name(&n->repl));
	for (char *p = state_name; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	reply.request_id = request_id;
	reply.code = CALLRAFT__CODE__OK;
	reply.applied_index = state_applied_index(n->state);
	if (members_only) {
		reply.members = members;
		reply.n_members = count;
	} else {
		st.id = n->cfg.id;
		st.site = n->cfg.site;
		st.state = state_name;
		st.leader_id = repl_leader(&n->repl, NULL);
		st.term = repl_term(&n->repl);
		st.commit_index = repl_commit_index(&n->repl);
		st.applied_index = repl_last_applied(&n->repl);
		st.state_applied_index = state_applied_index(n->state);
		st.last_log_index = repl_last_index(&n->repl);
		st.members = members;
		st.n_members = count;
		st.client_address = n->cfg.client_address;
		st.raft_address = n->cfg.raft_address;
		st.version = CALLRAFT_VERSION_STRING;
		st.state_bytes = state_size_bytes(n->state);
		st.snapshots = n->repl.snapshot_stats.count;
		st.snapshot_index = n->repl.snapshot_stats.index;
		st.snapshot_bytes = n->repl.snapshot_stats.bytes;
		st.snapshot_copy_ms = n->repl.snapshot_stats.copy_ms;
		st.snapshot_write_ms = n->repl.snapshot_stats.write_ms;
		st.snapshot_threshold = n->repl.snapshot_threshold;
		reply.status = &st;
	}
	conn_send_reply(c, &reply);
	members_free(members, count);
}

/* ------------------------------------------------------------------------------------------------
 * Batching: the writes of one loop turn become one Raft entry. */

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
	}
	free(b);
}

struct admin_op {
	struct node *n;
	struct conn *conn;
	uint64_t request_id;
	Callraft__Request *req;
};

static void admin_finish(struct admin_op *op)
{
	conn_unref(op->conn);
	callraft__request__free_unpacked(op->req, NULL);
	free(op);
}

/* Replies to every command of a batch whose entry was applied at `index`. */
static void batch_reply(struct batch *b, const struct state_replies *replies)
{
	for (size_t i = 0; i < b->n; i++) {
		struct batch_item *it = &b->items[i];
		if (i >= replies->n) {
			conn_send_error(it->conn, it->request_id, CALLRAFT__CODE__INTERNAL,
					"entry %llu applied without a reply", (unsigned long long)b->index);
			continue;
		}
		if (it->conn != NULL)
			conn_send_reply_bytes(it->conn, replies->bytes[i], replies->len[i], it->request_id);
		if (it->admin != NULL) {
			admin_finish(it->admin);
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

static void batch_done_cb(void *data, int status, uint64_t index)
{
	struct batch *b = data;
	struct node *n = b->node;
	(void)index;
	batch_unlink(n, b);
	if (!b->replied) {
		/* Leadership was lost after proposing: the entry may or may not commit. The client
		 * retries with the same seq; the session table answers it exactly once. */
		for (size_t i = 0; i < b->n; i++) {
			conn_send_error(b->items[i].conn, b->items[i].request_id,
					CALLRAFT__CODE__OUTCOME_UNKNOWN,
					"leadership lost before the write committed (%s): retry with the same seq",
					raft_strerror(status));
			if (b->items[i].admin != NULL)
				admin_finish(b->items[i].admin);
		}
	}
	batch_free(b);
}

static void on_applied(void *data, uint64_t index, const struct state_replies *replies)
{
	struct node *n = data;
	events_hub_applied(&n->events, index, replies->events);
	for (struct batch *b = n->inflight_head; b != NULL; b = b->next) {
		/* Index and term identify the entry: an entry of another leader at an index where
		 * ours was truncated must never answer our clients. */
		if (b->index == index && b->term == replies->term) {
			batch_reply(b, replies);
			return;
		}
	}
}

static void batch_propose(struct node *n)
{
	struct batch *b = n->open;
	Callraft__Entry entry = CALLRAFT__ENTRY__INIT;
	size_t len;
	void *buf;
	int rv;

	n->open = NULL;
	entry.format = CALLRAFT_ENTRY_FORMAT;
	entry.time_ms = node_now_ms();
	entry.term = repl_term(&n->repl);
	b->term = entry.term;
	entry.n_commands = b->n;
	entry.commands = b->cmd_ptrs;
	buf = fsm_entry_encode(&entry, &len);
	if (buf == NULL)
		rv = RAFT_NOMEM;
	else
		rv = repl_propose(&n->repl, buf, len, batch_done_cb, b, &b->index);
	if (rv != 0) {
		LOG_RATELIMITED(LOG_WARN, "propose %zu commands: %s", b->n, n->repl.errmsg);
		for (size_t i = 0; i < b->n; i++) {
			conn_send_error(b->items[i].conn, b->items[i].request_id,
					rv == RAFT_NOTLEADER ? CALLRAFT__CODE__NOT_LEADER
							     : CALLRAFT__CODE__UNAVAILABLE,
					"propose: %s: retry", raft_strerror(rv));
			if (b->items[i].admin != NULL)
				admin_finish(b->items[i].admin);
		}
		batch_free(b);
		return;
	}
	n->batches_total++;
	n->commands_total += b->n;
	if (n->inflight_tail)
		n->inflight_tail->next = b;
	else
		n->inflight_head = b;
	n->inflight_tail = b;
}

/* Adds a command to the open batch, proposing the batch first if it is full.
 * Returns the command slot (client_id/seq/op to be set by the caller), or NULL. */
static Callraft__Command *batch_add(struct node *n, struct conn *c, uint64_t request_id,
				    enum item_kind kind, Callraft__Request *owner, size_t bytes,
				    size_t *pos_out)
{
	struct batch *b = n->open;
	if (b != NULL && (b->n == CALLRAFT_BATCH_COMMANDS_MAX || b->bytes + bytes > CALLRAFT_BATCH_BYTES_MAX))
		batch_propose(n);
	b = batch_open(n);
	if (b == NULL)
		return NULL;
	size_t i = b->n++;
	callraft__command__init(&b->cmds[i]);
	b->cmd_ptrs[i] = &b->cmds[i];
	b->reqs[i] = owner;
	b->items[i].conn = c;
	b->items[i].request_id = request_id;
	b->items[i].kind = kind;
	b->items[i].admin = NULL;
	b->bytes += bytes;
	if (c != NULL)
		conn_ref(c);
	*pos_out = i;
	return &b->cmds[i];
}

/* Copies the op of a write request into a command (pointers into the request, which the batch
 * owns until it is freed). */
static void command_from_request(Callraft__Command *cmd, const Callraft__Request *req)
{
	cmd->client_id = req->client_id;
	cmd->seq = req->seq;
	switch (req->op_case) {
#define OP(UP, low)                                                                                \
	case CALLRAFT__REQUEST__OP_##UP:                                                           \
		cmd->op_case = CALLRAFT__COMMAND__OP_##UP;                                         \
		cmd->low = req->low;                                                               \
		break;
		OP(REGISTER_CLIENT, register_client)
		OP(CALL_ENQUEUE, call_enqueue)
		OP(CALL_NEXT, call_next)
		OP(CALL_ANSWER, call_answer)
		OP(CALL_END, call_end)
		OP(CALL_ABANDON, call_abandon)
		OP(AGENT_LOGIN, agent_login)
		OP(AGENT_SET_STATE, agent_set_state)
		OP(AGENT_LOGOUT, agent_logout)
		OP(TICKET_OPEN, ticket_open)
		OP(TICKET_UPDATE, ticket_update)
		OP(CALL_REJECT, call_reject)
		OP(AGENT_HEARTBEAT, agent_heartbeat)
		OP(QUEUE_CONFIGURE, queue_configure)
		OP(CALLBACK_REQUEST, callback_request)
		OP(CALLBACK_SCHEDULE, callback_schedule)
		OP(CALLBACK_VOICEMAIL, callback_voicemail)
		OP(CALL_DIAL_ATTEMPT, call_dial_attempt)
		OP(SITE_CONFIGURE, site_configure)
		OP(SITE_DOWN, site_down)
		OP(SITE_UP, site_up)
#undef OP
	default:
		assert(0 && "not a write");
	}
}

static void handle_write(struct node *n, struct conn *c, Callraft__Request *req)
{
	Callraft__Command probe = CALLRAFT__COMMAND__INIT;
	Callraft__Command *cmd;
	char msg[256];
	size_t pos;
	Callraft__Code code;

	command_from_request(&probe, req);
	code = state_validate(&probe, msg, sizeof msg);
	if (code != CALLRAFT__CODE__OK) {
		conn_send_error(c, req->request_id, code, "%s", msg);
		callraft__request__free_unpacked(req, NULL);
		return;
	}
	if (req->op_case != CALLRAFT__REQUEST__OP_REGISTER_CLIENT && (req->client_id == 0 || req->seq == 0)) {
		conn_send_error(c, req->request_id, CALLRAFT__CODE__INVALID_ARGUMENT,
				"writes need a session: client_id and seq must be set (register first)");
		callraft__request__free_unpacked(req, NULL);
		return;
	}
	cmd = batch_add(n, c, req->request_id, ITEM_CLIENT, req, callraft__request__get_packed_size(req), &pos);
	if (cmd == NULL) {
		conn_send_error(c, req->request_id, CALLRAFT__CODE__UNAVAILABLE, "out of memory: retry");
		callraft__request__free_unpacked(req, NULL);
		return;
	}
	command_from_request(cmd, req);
}

/* ------------------------------------------------------------------------------------------------
 * Linearizable reads: served after a barrier of the current term commits. */

static void serve_read(struct node *n, struct conn *c, Callraft__Request *req)
{
	if (req->op_case == CALLRAFT__REQUEST__OP_MEMBERS_LIST) {
		reply_status(n, c, req->request_id, true);
		return;
	}
	size_t len = 0;
	uint8_t *bytes = state_read(n->state, req, &len);
	if (bytes == NULL) {
		conn_send_error(c, req->request_id, CALLRAFT__CODE__INTERNAL, "read: out of memory");
		return;
	}
	conn_send_reply_bytes(c, bytes, len, req->request_id);
	free(bytes);
}

static void reads_barrier_cb(void *data, int status, uint64_t index)
{
	struct read_group *g = data;
	struct node *n = g->node;
	(void)index;
	n->read_barrier_inflight = false;
	while (g->head != NULL) {
		struct read_wait *w = g->head;
		g->head = w->next;
		if (status == 0)
			serve_read(n, w->conn, w->req);
		else
			conn_send_error(w->conn, w->req->request_id, CALLRAFT__CODE__NOT_LEADER,
					"leadership lost before the read could be served: retry");
		conn_unref(w->conn);
		callraft__request__free_unpacked(w->req, NULL);
		free(w);
	}
	free(g);
}

static void reads_start_barrier(struct node *n)
{
	struct read_group *g;
	int rv;
	if (n->reads == NULL || n->read_barrier_inflight)
		return;
	g = calloc(1, sizeof *g);
	if (g == NULL)
		return; /* retried next turn */
	g->node = n;
	g->head = n->reads;
	n->reads = NULL;
	n->reads_tail = &n->reads;
	rv = repl_barrier(&n->repl, reads_barrier_cb, g);
	if (rv != 0) {
		reads_barrier_cb(g, rv, 0);
		return;
	}
	n->read_barrier_inflight = true;
}

static void handle_read(struct node *n, struct conn *c, Callraft__Request *req)
{
	struct read_wait *w = calloc(1, sizeof *w);
	if (w == NULL) {
		conn_send_error(c, req->request_id, CALLRAFT__CODE__UNAVAILABLE, "out of memory: retry");
		callraft__request__free_unpacked(req, NULL);
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

/* ------------------------------------------------------------------------------------------------
 * Membership: a raft change, then a MemberUpsert/MemberDelete entry carrying site and address. */

static Callraft__Code raft_code(int status)
{
	switch (status) {
	case 0:
		return CALLRAFT__CODE__OK;
	case RAFT_NOTLEADER:
		return CALLRAFT__CODE__NOT_LEADER;
	case RAFT_LEADERSHIPLOST:
		return CALLRAFT__CODE__OUTCOME_UNKNOWN;
	case RAFT_CANTCHANGE:
		return CALLRAFT__CODE__MEMBERSHIP_BUSY;
	case RAFT_NOTFOUND:
		return CALLRAFT__CODE__NOT_FOUND;
	case RAFT_DUPLICATEID:
	case RAFT_DUPLICATEADDRESS:
		return CALLRAFT__CODE__ALREADY_EXISTS;
	case RAFT_BADROLE:
		return CALLRAFT__CODE__INVALID_ARGUMENT;
	case RAFT_NOCONNECTION:
		return CALLRAFT__CODE__UNAVAILABLE;
	default:
		return CALLRAFT__CODE__INTERNAL;
	}
}

static void admin_fail(struct admin_op *op, int status, const char *what)
{
	conn_send_error(op->conn, op->request_id, raft_code(status), "%s: %s", what,
			raft_strerror(status));
	admin_finish(op);
}

/* Appends an internal MemberUpsert (or, with del, MemberDelete) for `m`; with op, its reply goes
 * to the admin client. */
static int member_record(struct node *n, const Callraft__Member *m, bool del, struct admin_op *op)
{
	size_t pos;
	Callraft__Command *cmd = batch_add(n, op ? op->conn : NULL, op ? op->request_id : 0,
					   op ? ITEM_ADMIN : ITEM_INTERNAL, NULL, 256, &pos);
	struct batch *b = n->open;
	if (cmd == NULL)
		return -1;
	if (del) {
		callraft__member_delete__init(&b->deletes[pos]);
		b->deletes[pos].id = m->id;
		cmd->op_case = CALLRAFT__COMMAND__OP_MEMBER_DELETE;
		cmd->member_delete = &b->deletes[pos];
	} else {
		callraft__member__init(&b->members[pos]);
		b->members[pos].id = m->id;
		b->members[pos].site = m->site;
		b->members[pos].raft_address = m->raft_address;
		b->members[pos].client_address = m->client_address;
		callraft__member_upsert__init(&b->upserts[pos]);
		b->upserts[pos].member = &b->members[pos];
		cmd->op_case = CALLRAFT__COMMAND__OP_MEMBER_UPSERT;
		cmd->member_upsert = &b->upserts[pos];
	}
	b->items[pos].admin = op;
	return 0;
}

/* Whether member `id` is in contact with this leader: its match index moved since the last tick
 * or has reached our last index (the leader appends a Tick every interval, so a live follower's
 * match index keeps moving). A member first seen in this term gets the benefit of the doubt. */
static bool member_in_contact(struct node *n, uint64_t id, uint64_t now_ms)
{
	struct member_contact *mc = NULL;
	uint64_t match = 0;

	for (unsigned i = 0; i < n->n_contacts; i++)
		if (n->contacts[i].id == id)
			mc = &n->contacts[i];
	if (repl_match_index(&n->repl, id, &match) != 0)
		return false;
	if (mc == NULL) {
		if (n->n_contacts == CALLRAFT_MEMBERS_MAX)
			return true;
		mc = &n->contacts[n->n_contacts++];
		*mc = (struct member_contact){.id = id, .match = match, .last_ms = now_ms};
	}
	if (match != mc->match || match >= repl_last_index(&n->repl)) {
		mc->match = match;
		mc->last_ms = now_ms;
	}
	return now_ms - mc->last_ms < NODE_CONTACT_TIMEOUT_FACTOR * (uint64_t)n->cfg.election_timeout_ms;
}

/* Fills the Tick's per-site report: a site is reachable if any of its replicating members (voter
 * or standby, with a recorded site) is this leader or in contact with it. */
static void tick_sites(struct node *n, Callraft__Tick *tick)
{
	static Callraft__SiteNodes sites[CALLRAFT_MEMBERS_MAX];
	static Callraft__SiteNodes *ptrs[CALLRAFT_MEMBERS_MAX];
	static char names[CALLRAFT_MEMBERS_MAX][CALLRAFT_SITE_BYTES_MAX + 1];
	uint64_t ids[CALLRAFT_MEMBERS_MAX], now = uv_now(&n->loop);
	int roles[CALLRAFT_MEMBERS_MAX];
	const char *addrs[CALLRAFT_MEMBERS_MAX];
	unsigned nc = repl_configuration(&n->repl, ids, roles, addrs, CALLRAFT_MEMBERS_MAX);
	size_t ns = 0;

	if (n->contacts_term != repl_term(&n->repl)) {
		n->contacts_term = repl_term(&n->repl);
		n->n_contacts = 0;
	}
	for (unsigned i = 0; i < nc; i++) {
		Callraft__Member *m = NULL;
		size_t j;
		if (roles[i] == RAFT_SPARE || state_member_get(n->state, ids[i], &m) != 0)
			continue;
		bool reachable = ids[i] == n->cfg.id || member_in_contact(n, ids[i], now);
		for (j = 0; j < ns && strcmp(names[j], m->site) != 0; j++)
			;
		if (j == ns) {
			snprintf(names[ns], sizeof names[ns], "%s", m->site);
			callraft__site_nodes__init(&sites[ns]);
			sites[ns].site = names[ns];
			ptrs[ns] = &sites[ns];
			ns++;
		}
		sites[j].reachable = sites[j].reachable || reachable;
		callraft__member__free_unpacked(m, NULL);
	}
	tick->sites = ptrs;
	tick->n_sites = ns;
}

/* Appends an internal Tick (client_id 0) to the open batch, as member_record does: the FSM runs
 * every time-based routing rule on it (state/routing.c). The Tick and its site report live in
 * static storage: the batch is packed at the end of this loop turn, before the next tick. */
static int tick_record(struct node *n)
{
	static Callraft__Tick tick;
	size_t pos;
	Callraft__Command *cmd = batch_add(n, NULL, 0, ITEM_INTERNAL, NULL, 512, &pos);

	if (cmd == NULL)
		return -1;
	callraft__tick__init(&tick);
	tick_sites(n, &tick);
	cmd->op_case = CALLRAFT__COMMAND__OP_TICK;
	cmd->tick = &tick;
	return 0;
}

static void admin_change_cb(void *data, int status, uint64_t index)
{
	struct admin_op *op = data;
	struct node *n = op->n;
	Callraft__Request *req = op->req;
	(void)index;

	if (req->op_case == CALLRAFT__REQUEST__OP_MEMBER_ADD) {
		Callraft__MemberAdd *a = req->member_add;
		Callraft__Member m = CALLRAFT__MEMBER__INIT;
		if (status != 0 && status != RAFT_DUPLICATEID)
			return admin_fail(op, status, "members add");
		m.id = a->id;
		m.site = a->site;
		m.raft_address = a->raft_address;
		m.client_address = a->client_address;
		if (member_record(n, &m, false, op) != 0)
			return admin_fail(op, RAFT_NOMEM, "members add");
		return; /* the reply goes out when the MemberUpsert entry applies */
	}
	if (req->op_case == CALLRAFT__REQUEST__OP_MEMBER_REMOVE) {
		Callraft__Member m = CALLRAFT__MEMBER__INIT;
		if (status != 0)
			return admin_fail(op, status, "members remove");
		m.id = req->member_remove->id;
		if (member_record(n, &m, true, op) != 0)
			return admin_fail(op, RAFT_NOMEM, "members remove");
		return;
	}
	if (status != 0)
		return admin_fail(op, status, req->op_case == CALLRAFT__REQUEST__OP_MEMBER_ASSIGN
							? "members assign"
							: "members transfer");
	Callraft__Reply reply = CALLRAFT__REPLY__INIT;
	char addr[CALLRAFT_ADDRESS_BYTES_MAX + 1];
	reply.request_id = op->request_id;
	reply.code = CALLRAFT__CODE__OK;
	node_leader_hint(n, &reply, addr, sizeof addr);
	conn_send_reply(op->conn, &reply);
	admin_finish(op);
}

static int admin_check(Callraft__Request *req, char *msg, size_t len)
{
	switch (req->op_case) {
	case CALLRAFT__REQUEST__OP_MEMBER_ADD: {
		Callraft__MemberAdd *a = req->member_add;
		if (a->id == 0)
			return snprintf(msg, len, "members add: id: must be > 0"), -1;
		if (!a->raft_address || !config_address_valid(a->raft_address))
			return snprintf(msg, len, "members add: raft_address: expected host:port"), -1;
		if (!a->client_address || !config_address_valid(a->client_address))
			return snprintf(msg, len, "members add: client_address: expected host:port"), -1;
		if (!a->site || !a->site[0] || strlen(a->site) > CALLRAFT_SITE_BYTES_MAX)
			return snprintf(msg, len, "members add: site: missing or too long"), -1;
		return 0;
	}
	case CALLRAFT__REQUEST__OP_MEMBER_REMOVE:
		return req->member_remove->id == 0 ? (snprintf(msg, len, "members remove: id: must be > 0"), -1) : 0;
	case CALLRAFT__REQUEST__OP_MEMBER_ASSIGN: {
		Callraft__MemberAssign *a = req->member_assign;
		if (a->id == 0)
			return snprintf(msg, len, "members assign: id: must be > 0"), -1;
		if (a->role != CALLRAFT__MEMBER_ROLE__VOTER && a->role != CALLRAFT__MEMBER_ROLE__STANDBY &&
		    a->role != CALLRAFT__MEMBER_ROLE__SPARE)
			return snprintf(msg, len, "members assign: role: must be voter, standby or spare"), -1;
		return 0;
	}
	default:
		return 0;
	}
}

static void handle_admin(struct node *n, struct conn *c, Callraft__Request *req)
{
	struct admin_op *op;
	char msg[256];
	int rv;

	if (admin_check(req, msg, sizeof msg) != 0) {
		conn_send_error(c, req->request_id, CALLRAFT__CODE__INVALID_ARGUMENT, "%s", msg);
		callraft__request__free_unpacked(req, NULL);
		return;
	}
	op = calloc(1, sizeof *op);
	if (op == NULL) {
		conn_send_error(c, req->request_id, CALLRAFT__CODE__UNAVAILABLE, "out of memory: retry");
		callraft__request__free_unpacked(req, NULL);
		return;
	}
	op->n = n;
	op->conn = c;
	op->request_id = req->request_id;
	op->req = req;
	conn_ref(c);
	switch (req->op_case) {
	case CALLRAFT__REQUEST__OP_MEMBER_ADD:
		rv = repl_add(&n->repl, req->member_add->id, req->member_add->raft_address, admin_change_cb, op);
		if (rv == RAFT_DUPLICATEID) {
			admin_change_cb(op, rv, 0); /* a retried add: record the site and address again */
			return;
		}
		break;
	case CALLRAFT__REQUEST__OP_MEMBER_REMOVE:
		rv = repl_remove(&n->repl, req->member_remove->id, admin_change_cb, op);
		break;
	case CALLRAFT__REQUEST__OP_MEMBER_ASSIGN: {
		Callraft__MemberRole r = req->member_assign->role;
		int role = r == CALLRAFT__MEMBER_ROLE__VOTER ? RAFT_VOTER
			   : r == CALLRAFT__MEMBER_ROLE__STANDBY ? RAFT_STANDBY : RAFT_SPARE;
		/* A retried assign that already took effect is a success, not an error. */
		if (repl_role_of(&n->repl, req->member_assign->id, NULL) == role) {
			admin_change_cb(op, 0, 0);
			return;
		}
		rv = repl_assign(&n->repl, req->member_assign->id, role, admin_change_cb, op);
		break;
	}
	case CALLRAFT__REQUEST__OP_LEADER_TRANSFER:
		/* A retried transfer that already took effect (its reply was lost when leadership
		 * moved, and the retry reached the new leader) is a success, not an error. */
		if (req->leader_transfer->id == n->cfg.id) {
			admin_change_cb(op, 0, 0);
			return;
		}
		rv = repl_transfer(&n->repl, req->leader_transfer->id, admin_change_cb, op);
		break;
	default:
		rv = RAFT_INVALID;
		snprintf(n->repl.errmsg, sizeof n->repl.errmsg, "operation %d is not an admin change",
			 (int)req->op_case);
		break;
	}
	if (rv != 0)
		admin_fail(op, rv, n->repl.errmsg);
}

/* ------------------------------------------------------------------------------------------------
 * Dispatch. */

void node_handle_request(struct node *n, struct conn *c, Callraft__Request *req)
{
	Callraft__Request__OpCase op = req->op_case;

	if (req->version != CALLRAFT_PROTOCOL_VERSION) {
		conn_send_error(c, req->request_id, CALLRAFT__CODE__BAD_VERSION,
				"protocol version %u is not supported (this node speaks %d)", req->version,
				CALLRAFT_PROTOCOL_VERSION);
		goto done;
	}
	if (req->base.n_unknown_fields > 0) {
		conn_send_error(c, req->request_id, CALLRAFT__CODE__BAD_FRAME,
				"request carries %u unknown field(s), first tag %u: refused",
				req->base.n_unknown_fields, req->base.unknown_fields[0].tag);
		goto done;
	}
	if (op == CALLRAFT__REQUEST__OP__NOT_SET) {
		conn_send_error(c, req->request_id, CALLRAFT__CODE__UNKNOWN_OPERATION,
				"request carries no operation");
		goto done;
	}
	if (n->stopping) {
		conn_send_error(c, req->request_id, CALLRAFT__CODE__UNAVAILABLE, "node is shutting down: retry");
		goto done;
	}
	if (op == CALLRAFT__REQUEST__OP_STATUS) {
		reply_status(n, c, req->request_id, false);
		goto done;
	}
	if (op == CALLRAFT__REQUEST__OP_SNAPSHOT_TAKE) { /* node-local, like status */
		if (repl_snapshot_soon(&n->repl) != 0) {
			conn_send_error(c, req->request_id, CALLRAFT__CODE__UNAVAILABLE, "%s",
					n->repl.errmsg);
		} else {
			Callraft__Reply reply = CALLRAFT__REPLY__INIT;
			reply.request_id = req->request_id;
			reply.code = CALLRAFT__CODE__OK;
			reply.applied_index = state_applied_index(n->state);
			conn_send_reply(c, &reply);
			LOG_INFO_("snapshot requested by a client: taken at the next entry");
		}
		goto done;
	}
	if (op == CALLRAFT__REQUEST__OP_EVENTS_READ) { /* node-local: see events_hub.h */
		events_hub_read(&n->events, c, req);
		return;
	}
	if (callraft_op_is_read(op) && req->stale) {
		serve_read(n, c, req);
		goto done;
	}
	if (!callraft_op_is_read(op) && !callraft_op_is_write(op) && !callraft_op_is_admin(op)) {
		conn_send_error(c, req->request_id, CALLRAFT__CODE__UNKNOWN_OPERATION,
				"operation %d is not known", (int)op);
		goto done;
	}
	if (!repl_is_leader(&n->repl)) {
		if (req->forwarded)
			conn_send_error(c, req->request_id, CALLRAFT__CODE__NOT_LEADER,
					"node %llu is not the leader: retry", (unsigned long long)n->cfg.id);
		else
			fwd_request(n, c, req);
		goto done;
	}
	if (callraft_op_is_write(op))
		return handle_write(n, c, req);
	if (callraft_op_is_read(op))
		return handle_read(n, c, req);
	return handle_admin(n, c, req);
done:
	callraft__request__free_unpacked(req, NULL);
}

/* ------------------------------------------------------------------------------------------------
 * Loop hooks. */

/* End of a loop turn: propose the open batch, start a barrier for waiting reads. */
static void flush_cb(uv_check_t *h)
{
	struct node *n = h->data;
	if (n->open != NULL && n->open->n > 0)
		batch_propose(n);
	if (n->reads != NULL) {
		if (repl_is_leader(&n->repl)) {
			reads_start_barrier(n);
		} else if (!n->read_barrier_inflight) {
			struct read_group *g = calloc(1, sizeof *g);
			if (g != NULL) {
				g->node = n;
				g->head = n->reads;
				n->reads = NULL;
				n->reads_tail = &n->reads;
				reads_barrier_cb(g, RAFT_NOTLEADER, 0);
			}
		}
	}
}

/* Records the initial members' sites and client addresses once per term of leadership. */
static void record_initial_members(struct node *n, uint64_t term)
{
	if (n->upserted_term == term)
		return;
	n->upserted_term = term;
	for (unsigned i = 0; i < n->cfg.n_members; i++) {
		const struct config_member *cm = &n->cfg.members[i];
		Callraft__Member *m = NULL;
		if (repl_role_of(&n->repl, cm->id, NULL) < 0)
			continue; /* removed since bootstrap */
		if (state_member_get(n->state, cm->id, &m) == 0) {
			/* Already recorded (possibly re-added with other values): the table wins. */
			callraft__member__free_unpacked(m, NULL);
			continue;
		}
		Callraft__Member rec = CALLRAFT__MEMBER__INIT;
		rec.id = cm->id;
		rec.site = (char *)cm->site;
		rec.raft_address = (char *)cm->raft_address;
		rec.client_address = (char *)cm->client_address;
		member_record(n, &rec, false, NULL);
	}
}

static void on_role(void *data, int old_state, int new_state, uint64_t term)
{
	struct node *n = data;
	(void)old_state;
	LOG_INFO_("raft: %s", raft_state_name(new_state));
	if (new_state == RAFT_LEADER)
		fwd_reset(n, CALLRAFT__CODE__OUTCOME_UNKNOWN, "this node became leader: retry with the same seq");
	(void)term;
}

static void on_ready(void *data, uint64_t term)
{
	struct node *n = data;
	LOG_INFO_("raft: leader ready (a barrier of term %llu committed)", (unsigned long long)term);
	record_initial_members(n, term);
	if (n->cfg.witness) {
		/* The witness city holds a full replica but should not lead: its links to both
		 * call-center cities are the longest. Hand leadership to the most up-to-date voter. */
		int rv = repl_transfer(&n->repl, 0, NULL, NULL);
		LOG_INFO_("witness: handing leadership away: %s", rv ? raft_strerror(rv) : "started");
	}
}

static void on_fatal(void *data, const char *message)
{
	struct node *n = data;
	LOG(LOG_FATAL, "%s: stopping (the supervisor restarts the node)", message);
	(void)n;
	/* An I/O failure must not leave a node half-working: exit now, without a clean-shutdown
	 * marker, so that the restart rebuilds what it must from the Raft log. */
	_exit(70);
}

static void housekeeping_cb(uv_timer_t *t)
{
	struct node *n = t->data;
	fwd_housekeeping(n);
}

/* Every CALLRAFT_TICK_INTERVAL_MS: a ready leader appends a Tick. */
static void tick_cb(uv_timer_t *t)
{
	struct node *n = t->data;

	const struct repl_snapshot_stats *snap = &n->repl.snapshot_stats;

	if (repl_is_ready(&n->repl) && tick_record(n) != 0)
		LOG_RATELIMITED(LOG_WARN, "tick: out of memory");
	repl_size_snapshot_threshold(&n->repl, state_size_bytes(n->state));
	if (snap->count != n->snapshots_logged) {
		n->snapshots_logged = snap->count;
		LOG_INFO_("snapshot at index %llu: %.1f MB, copied in %llu ms off the loop, written in "
			  "%llu ms; next after %u entries",
			  (unsigned long long)snap->index, (double)snap->bytes / 1e6,
			  (unsigned long long)snap->copy_ms, (unsigned long long)snap->write_ms,
			  n->repl.snapshot_threshold);
	}
	if (n->repl.installs_dropped != n->dropped_logged) {
		n->dropped_logged = n->repl.installs_dropped;
		LOG_INFO_("raft asked to send a snapshot to a member that one is still going to: not "
			  "sent again (%llu so far)",
			  (unsigned long long)n->repl.installs_dropped);
	}
	if (n->fsm.snapshots_restored != n->restores_logged) {
		n->restores_logged = n->fsm.snapshots_restored;
		LOG_INFO_("snapshot restored: the state is now at applied index %llu",
			  (unsigned long long)state_applied_index(n->state));
	}
}

static void repl_closed_cb(struct repl *r)
{
	(void)r;
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void node_stop(struct node *n)
{
	if (n->stopping)
		return;
	n->stopping = true;
	LOG_INFO_("shutting down");
	uv_close((uv_handle_t *)&n->listener, NULL);
	uv_check_stop(&n->flush);
	uv_close((uv_handle_t *)&n->flush, NULL);
	uv_timer_stop(&n->housekeeping);
	uv_close((uv_handle_t *)&n->housekeeping, NULL);
	uv_timer_stop(&n->tick);
	uv_close((uv_handle_t *)&n->tick, NULL);
	uv_close((uv_handle_t *)&n->sigterm, NULL);
	uv_close((uv_handle_t *)&n->sigint, NULL);
	fwd_reset(n, CALLRAFT__CODE__UNAVAILABLE, "node is shutting down: retry");
	events_hub_close(&n->events);
	if (n->repl_open)
		repl_close(&n->repl, repl_closed_cb);
	conn_close_all(n);
}

static void signal_cb(uv_signal_t *s, int signum)
{
	(void)signum;
	node_stop(s->data);
}

/* ------------------------------------------------------------------------------------------------
 * Data dir: lock, layout, and the clean-shutdown marker that lets LMDB skip its own fsync. */

static int lock_data_dir(struct node *n, char *err, size_t len)
{
	char path[600];
	if (mkdir(n->cfg.data_dir, 0750) != 0 && errno != EEXIST)
		return snprintf(err, len, "data dir '%s': %s", n->cfg.data_dir, strerror(errno)), -1;
	snprintf(path, sizeof path, "%s/LOCK", n->cfg.data_dir);
	n->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (n->lock_fd < 0)
		return snprintf(err, len, "data dir '%s': lock: %s", n->cfg.data_dir, strerror(errno)), -1;
	if (flock(n->lock_fd, LOCK_EX | LOCK_NB) != 0)
		return snprintf(err, len, "data dir '%s' is in use by another callraftd (flock: %s)",
				n->cfg.data_dir, strerror(errno)), -1;
	return 0;
}

static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;
	if (fd < 0)
		return -1;
	r = read(fd, buf, len - 1);
	close(fd);
	if (r < 0)
		return -1;
	buf[r] = '\0';
	return 0;
}

static int write_small(const char *dir, const char *name, const char *content)
{
	char path[600], tmp[620];
	int fd, dfd;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	if (write(fd, content, strlen(content)) != (ssize_t)strlen(content) || fsync(fd) != 0) {
		close(fd);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) != 0)
		return -1;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

static void remove_tree(const char *dir)
{
	char cmd[700];
	/* Only our own state directory, whose path we built. */
	snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
	if (system(cmd) != 0)
		LOG_WARN_("could not remove '%s'", dir);
}

/* With LMDB's own fsync off, a machine crash (not a process crash: the page cache survives that)
 * can leave the state behind or torn. Detect it: the kernel's boot id at start differs from the
 * one recorded while running, and no clean-shutdown marker exists. Then the state is discarded and
 * raft rebuilds it from its snapshot and log. */
static int check_unclean_boot(struct node *n, const char *state_dir)
{
	char boot[64] = "", running[64] = "", path[600];
	if (read_small("/proc/sys/kernel/random/boot_id", boot, sizeof boot) != 0)
		return 0;
	snprintf(path, sizeof path, "%s/clean-shutdown", n->cfg.data_dir);
	bool clean = access(path, F_OK) == 0;
	snprintf(path, sizeof path, "%s/running-boot-id", n->cfg.data_dir);
	bool was_running = read_small(path, running, sizeof running) == 0;
	if (!n->cfg.state_sync && !clean && was_running && strcmp(running, boot) != 0) {
		LOG_WARN_("machine restarted since the last unclean stop: discarding '%s' to rebuild it from the raft log",
			  state_dir);
		remove_tree(state_dir);
	}
	snprintf(path, sizeof path, "%s/clean-shutdown", n->cfg.data_dir);
	unlink(path);
	return write_small(n->cfg.data_dir, "running-boot-id", boot);
}

static void mark_clean_shutdown(struct node *n)
{
	char boot[64] = "";
	read_small("/proc/sys/kernel/random/boot_id", boot, sizeof boot);
	write_small(n->cfg.data_dir, "clean-shutdown", boot);
}

/* ------------------------------------------------------------------------------------------------
 * Life. */

static uint64_t term_of(void *data)
{
	struct node *n = data;
	return n->repl_open ? repl_term(&n->repl) : 0;
}

static int node_open(struct node *n, char *err, size_t len)
{
	char state_dir[600], raft_dir[600];
	struct state_options so = {.map_bytes = (size_t)n->cfg.map_size_mb << 20,
				   .no_sync = !n->cfg.state_sync};
	struct repl_member initial[CALLRAFT_MEMBERS_MAX];
	struct repl_config rc = {0};

	if (lock_data_dir(n, err, len) != 0)
		return -1;
	snprintf(state_dir, sizeof state_dir, "%s/state", n->cfg.data_dir);
	snprintf(raft_dir, sizeof raft_dir, "%s/raft", n->cfg.data_dir);
	if (check_unclean_boot(n, state_dir) != 0)
		return snprintf(err, len, "data dir '%s': cannot write markers: %s", n->cfg.data_dir,
				strerror(errno)), -1;
	if (mkdir(state_dir, 0750) != 0 && errno != EEXIST)
		return snprintf(err, len, "state dir '%s': %s", state_dir, strerror(errno)), -1;
	if (state_open(state_dir, &so, &n->state, err, len) != 0)
		return -1;
	fsm_init(&n->fsm, n->state);
	fsm_set_callbacks(&n->fsm, on_applied, on_fatal, n);
	for (unsigned i = 0; i < n->cfg.n_members; i++) {
		initial[i].id = n->cfg.members[i].id;
		initial[i].raft_address = n->cfg.members[i].raft_address;
	}
	rc.id = n->cfg.id;
	rc.raft_address = n->cfg.raft_address;
	rc.dir = raft_dir;
	rc.heartbeat_timeout_ms = n->cfg.heartbeat_timeout_ms;
	rc.election_timeout_ms = n->cfg.election_timeout_ms;
	rc.snapshot_threshold = n->cfg.snapshot_threshold;
	rc.snapshot_trailing = n->cfg.snapshot_trailing;
	rc.install_snapshot_timeout_ms = n->cfg.install_snapshot_timeout_ms;
	rc.initial = initial;
	rc.n_initial = n->cfg.n_members;
	if (repl_init(&n->repl, &n->loop, &n->fsm, &rc) != 0)
		return snprintf(err, len, "%s", n->repl.errmsg), -1;
	n->repl_open = true;
	repl_set_callbacks(&n->repl, on_role, on_ready, on_fatal, n);
	return 0;
}

static int node_start(struct node *n, char *err, size_t len)
{
	if (conn_listen(n, err, len) != 0)
		return -1;
	if (repl_start(&n->repl) != 0)
		return snprintf(err, len, "%s", n->repl.errmsg), -1;
	events_hub_init(&n->events, n, &n->loop);
	uv_check_init(&n->loop, &n->flush);
	n->flush.data = n;
	uv_check_start(&n->flush, flush_cb);
	uv_timer_init(&n->loop, &n->housekeeping);
	n->housekeeping.data = n;
	uv_timer_start(&n->housekeeping, housekeeping_cb, 500, 500);
	uv_timer_init(&n->loop, &n->tick);
	n->tick.data = n;
	uv_timer_start(&n->tick, tick_cb, CALLRAFT_TICK_INTERVAL_MS, CALLRAFT_TICK_INTERVAL_MS);
	uv_signal_init(&n->loop, &n->sigterm);
	uv_signal_init(&n->loop, &n->sigint);
	n->sigterm.data = n->sigint.data = n;
	uv_signal_start(&n->sigterm, signal_cb, SIGTERM);
	uv_signal_start(&n->sigint, signal_cb, SIGINT);
	return 0;
}

int node_run(const struct config *cfg)
{
	struct node *n = calloc(1, sizeof *n);
	char err[600] = "";
	enum log_level level = LOG_INFO;
	int rc = 0;

	if (n == NULL)
		return 1;
	n->cfg = *cfg;
	n->lock_fd = -1;
	n->reads_tail = &n->reads;
	log_level_parse(cfg->log_level, &level);
	log_level_enabled = level;
	log_init(cfg->site, cfg->id, term_of, n);
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&n->loop);
	fwd_init(n);
	if (node_open(n, err, sizeof err) != 0 || node_start(n, err, sizeof err) != 0) {
		LOG(LOG_FATAL, "%s", err);
		fprintf(stderr, "callraftd: %s\n", err);
		rc = 1;
		if (n->repl_open && !n->stopping) {
			n->stopping = true;
			repl_close(&n->repl, repl_closed_cb);
		}
		uv_walk(&n->loop, close_walk_cb, NULL);
		uv_run(&n->loop, UV_RUN_DEFAULT);
		goto out;
	}
	LOG_INFO_("serving clients on %s, raft on %s, data in %s", cfg->client_address,
		  cfg->raft_address, cfg->data_dir);
	uv_run(&n->loop, UV_RUN_DEFAULT);
	uv_walk(&n->loop, close_walk_cb, NULL);
	uv_run(&n->loop, UV_RUN_DEFAULT);
	if (n->open != NULL)
		batch_free(n->open);
	rc = n->exit_code;
out:
	if (uv_loop_close(&n->loop) != 0)
		LOG_WARN_("loop closed with handles still open");
	state_close(n->state);
	if (rc == 0)
		mark_clean_shutdown(n);
	if (n->lock_fd >= 0)
		close(n->lock_fd);
	LOG_INFO_("stopped");
	free(n);
	return rc;
}
