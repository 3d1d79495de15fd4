/* admin.c: membership requests, from a client to replication/membership.c and back.
 *
 * The node checks the request (fields present and in range), holds the client connection and
 * request for the change's life (struct admin_op), and answers with the code membership hands
 * back: at once for a failure, an assign or a transfer (OK, with the new leader's hint), or, for an
 * add or remove, when the member entry membership appended through write_append is applied.
 *
 * Invariant: an admin_op ends exactly once (admin_done), releasing its connection reference and
 * request; membership guarantees one finish or one append per op. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node_internal.h"

struct admin_op {
	struct node *n;
	struct conn *conn;
	uint64_t request_id;
	Callraft__Request *req;
};

struct admin_op *admin_op_new(struct node *n, struct conn *c, Callraft__Request *req)
{
	struct admin_op *op = malloc(sizeof *op);

	if (op == NULL)
		return NULL;
	*op = (struct admin_op){.n = n, .conn = c, .request_id = req->request_id, .req = req};
	conn_ref(c);
	return op;
}

void admin_client(struct admin_op *op, struct conn **conn, uint64_t *request_id)
{
	*conn = op->conn;
	*request_id = op->request_id;
}

void admin_done(struct admin_op *op)
{
	conn_unref(op->conn);
	callraft__request__free_unpacked(op->req, NULL);
	free(op);
}

static int hook_append(void *data, Callraft__Command *cmd, void *op)
{
	return write_append(data, cmd, op);
}

static void hook_finish(void *data, void *opaque, Callraft__Code code, const char *message)
{
	struct node *n = data;
	struct admin_op *op = opaque;

	if (code != CALLRAFT__CODE__OK) {
		conn_send_error(op->conn, op->request_id, code, "%s", message);
	} else {
		Callraft__Reply reply = CALLRAFT__REPLY__INIT;
		char addr[CALLRAFT_ADDRESS_BYTES_MAX + 1];
		reply.request_id = op->request_id;
		reply.code = CALLRAFT__CODE__OK;
		node_leader_hint(n, &reply, addr, sizeof addr);
		conn_send_reply(op->conn, &reply);
	}
	admin_done(op);
}

void admin_hooks(struct node *n, struct membership_hooks *hooks)
{
	hooks->append = hook_append;
	hooks->finish = hook_finish;
	hooks->data = n;
}

static int admin_check(const Callraft__Request *req, char *msg, size_t len)
{
	switch (req->op_case) {
	case CALLRAFT__REQUEST__OP_MEMBER_ADD: {
		const Callraft__MemberAdd *a = req->member_add;
		if (a->id == 0)
			return snprintf(msg, len, "members add: id: must be > 0"), -1;
		if (!a->raft_address || !config_address_valid(a->raft_address))
			return snprintf(msg, len, "members add: raft_address: expected host:port"), -1;
		if (!a->client_address || !config_address_valid(a->client_address))
			return snprintf(msg, len, "members add: client_address: expected host:port"), -1;
		if (!a->site || !a->site[0] || strlen(a->site) > CALLRAFT_SITE_BYTES_MAX)
			return snprintf(msg, len, "members add: site: missing or too long"), -1;
		if (a->http_address && a->http_address[0] && !config_address_valid(a->http_address))
			return snprintf(msg, len, "members add: http_address: expected host:port"), -1;
		return 0;
	}
	case CALLRAFT__REQUEST__OP_MEMBER_REMOVE:
		return req->member_remove->id == 0 ? (snprintf(msg, len, "members remove: id: must be > 0"), -1) : 0;
	case CALLRAFT__REQUEST__OP_MEMBER_ASSIGN: {
		const Callraft__MemberAssign *a = req->member_assign;
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

void admin_request(struct node *n, struct conn *c, Callraft__Request *req)
{
	struct admin_op *op;
	char msg[256];

	if (admin_check(req, msg, sizeof msg) != 0) {
		conn_refuse(c, req, CALLRAFT__CODE__INVALID_ARGUMENT, "%s", msg);
		return;
	}
	op = admin_op_new(n, c, req);
	if (op == NULL) {
		conn_refuse(c, req, CALLRAFT__CODE__UNAVAILABLE, "out of memory: retry");
		return;
	}
	membership_change(n->members, req, op);
}
