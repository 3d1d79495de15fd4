/* cli_cluster.c: `callraft status` and `callraft members ...`: the operator's view of the cluster.
 *
 * `status` asks any node for its NodeStatus (stale: whichever node answers), then probes every
 * member it lists, one attempt each with CLI_PROBE_TIMEOUT_MS, so that an unreachable member shows
 * as such instead of stalling the command. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "callraft_limits.h"

/* "1..2", or "-" for a member that has not declared its rules versions yet. */
static void cli_rules_range(const Callraft__Member *m, char *buf, size_t len)
{
	if (m->rules_newest == 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%u..%u", m->rules_oldest, m->rules_newest);
}

json_object *cli_json_member(const Callraft__Member *m)
{
	json_object *o = json_object_new_object();
	cli_json_fields(o, &m->base, "id", "site", "role", "raft_address", "client_address",
			"in_configuration", "rules_oldest", "rules_newest", NULL);
	return o;
}

/* ------------------------------------------------------------------------------------------------
 * status */

struct cli_probe {
	const Callraft__Member *member;
	Callraft__Reply *reply; /* NULL: unreachable */
	char error[CALLRAFT_ERRMSG_BYTES];
};

/* `fallback`: the client address of the node that answered, for its own entry when the members
 * table does not know it yet. */
static void cli_probe_member(struct cli_probe *p, const char *fallback)
{
	struct callraft_request req;
	callraft_request_status(&req)->stale = true; /* the member's own view, not the leader's */
	p->reply = NULL;
	p->error[0] = '\0';
	const char *address = p->member->client_address[0] ? p->member->client_address : fallback;
	if (address == NULL || address[0] == '\0') {
		snprintf(p->error, sizeof p->error, "no client address known");
		return;
	}
	p->reply = callraft_client_call_node(address, &req.req, CLI_PROBE_TIMEOUT_MS, p->error,
					     sizeof p->error);
	if (p->reply != NULL && (p->reply->code != CALLRAFT__CODE__OK || p->reply->status == NULL)) {
		snprintf(p->error, sizeof p->error, "%s: %s", callraft_code_name(p->reply->code),
			 p->reply->message);
		callraft__reply__free_unpacked(p->reply, NULL);
		p->reply = NULL;
	}
}

/* The leader's own view when it answered its probe, else the view of the node that answered. */
static const Callraft__NodeStatus *cli_status_summary(const Callraft__NodeStatus *answered,
						      const struct cli_probe *probes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (probes[i].reply != NULL && probes[i].member->id == answered->leader_id &&
		    answered->leader_id != 0)
			return probes[i].reply->status;
	return answered;
}

static int cli_status_json(const Callraft__NodeStatus *st, const Callraft__NodeStatus *sum,
			   const struct cli_probe *probes, size_t n)
{
	json_object *top = json_object_new_object();
	cli_json_u64(top, "answered_by", st->id);
	cli_json_u64(top, "leader_id", sum->leader_id);
	cli_json_u64(top, "term", sum->term);
	cli_json_u64(top, "commit_index", sum->commit_index);
	cli_json_u64(top, "applied_index", sum->applied_index);
	cli_json_u64(top, "rules_active", sum->rules_active);
	json_object *members = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		json_object *m = cli_json_member(probes[i].member);
		const Callraft__Reply *r = probes[i].reply;
		json_object_object_add(m, "reachable", json_object_new_boolean(r != NULL));
		if (r != NULL) {
			cli_json_fields(m, &r->status->base, "state", "leader_id", "term",
					"commit_index", "applied_index", "version", "state_bytes",
					"snapshots", "snapshot_index", "snapshot_bytes",
					"snapshot_copy_ms", "snapshot_write_ms", "snapshot_threshold",
					"quota_used_bytes", "quota_bytes", "map_bytes",
					"map_used_bytes", "alarm", "tls", "tls_cert_expires_s",
					"tls_cert_name", "rules_active", NULL);
		} else {
			cli_json_str(m, "error", probes[i].error);
		}
		json_object_array_add(members, m);
	}
	json_object_object_add(top, "members", members);
	return cli_print_json(top);
}

/* A certificate this close to expiry is called out under the table. */
#define CLI_CERT_WARN_DAYS 30

/* "2029-03-11 (824d)", "EXPIRED", or "off" for a node without TLS. */
static void cli_cert_expiry(const Callraft__NodeStatus *own, char *buf, size_t len)
{
	time_t t = (time_t)own->tls_cert_expires_s;
	struct tm tm;
	int64_t left_s;
	if (!own->tls) {
		snprintf(buf, len, "off");
		return;
	}
	left_s = own->tls_cert_expires_s - (int64_t)time(NULL);
	if (left_s <= 0 || gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "EXPIRED");
		return;
	}
	snprintf(buf, len, "%04d-%02d-%02d (%lldd)", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 (long long)(left_s / 86400));
}

static void cli_status_text(const Callraft__NodeStatus *st, const Callraft__NodeStatus *sum,
			    const struct cli_probe *probes, size_t n)
{
	static const char *const headers[] = {"ID",	   "SITE", "ROLE",  "CLIENT-ADDRESS",
					      "RAFT-ADDRESS", "REACHABLE", "STATE", "TERM",
					      "APPLIED",      "STATE-MB", "CERT-EXPIRES", "RULES"};
	struct cli_table t;
	cli_table_init(&t, 12, headers);
	for (size_t i = 0; i < n; i++) {
		const Callraft__Member *m = probes[i].member;
		const Callraft__NodeStatus *own = probes[i].reply ? probes[i].reply->status : NULL;
		char id[24], term[24] = "-", applied[24] = "-", mb[24] = "-", cert[48] = "-";
		char rules[24];
		snprintf(id, sizeof id, "%llu", (unsigned long long)m->id);
		cli_rules_range(m, rules, sizeof rules);
		if (own != NULL) {
			snprintf(term, sizeof term, "%llu", (unsigned long long)own->term);
			snprintf(applied, sizeof applied, "%llu",
				 (unsigned long long)own->applied_index);
			snprintf(mb, sizeof mb, "%.1f", (double)own->state_bytes / 1e6);
			cli_cert_expiry(own, cert, sizeof cert);
		}
		const char *row[] = {id,
				     m->site,
				     cli_role_name(m->role),
				     m->client_address,
				     m->raft_address,
				     own != NULL ? "yes" : "no",
				     own != NULL ? own->state : "-",
				     term,
				     applied,
				     mb,
				     cert,
				     rules};
		cli_table_add(&t, row);
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	printf("\n");
	for (size_t i = 0; i < n; i++)
		if (probes[i].reply == NULL)
			printf("member %llu unreachable: %s\n",
			       (unsigned long long)probes[i].member->id, probes[i].error);
		else if (probes[i].reply->status->alarm[0] != '\0')
			printf("member %llu alarm: %s\n", (unsigned long long)probes[i].member->id,
			       probes[i].reply->status->alarm);
	for (size_t i = 0; i < n; i++) {
		const Callraft__NodeStatus *own = probes[i].reply ? probes[i].reply->status : NULL;
		int64_t left_s = own != NULL && own->tls ? own->tls_cert_expires_s - (int64_t)time(NULL) : 0;
		if (own != NULL && own->tls && left_s < CLI_CERT_WARN_DAYS * 86400)
			printf("member %llu: certificate '%s' %s: reissue it (deploy/certs.sh) and send "
			       "the node SIGHUP\n",
			       (unsigned long long)probes[i].member->id, own->tls_cert_name,
			       left_s <= 0 ? "HAS EXPIRED" : "expires within 30 days");
		else if (own != NULL && !own->tls)
			printf("member %llu: insecure = true: no TLS, anyone who reaches it can change "
			       "the state\n", (unsigned long long)probes[i].member->id);
	}
	if (sum->leader_id == 0)
		printf("leader: none known (answered by node %llu)\n", (unsigned long long)st->id);
	else
		printf("leader: %llu, term %llu, commit index %llu, applied index %llu\n",
		       (unsigned long long)sum->leader_id, (unsigned long long)sum->term,
		       (unsigned long long)sum->commit_index, (unsigned long long)sum->applied_index);
	printf("rules: active version %u (RULES: the versions each member's binary declared it can "
	       "apply)\n", sum->rules_active);
	if (sum == st && sum->leader_id != 0)
		printf("(the leader did not answer its probe: numbers from node %llu)\n",
		       (unsigned long long)st->id);
}

/* The status of the node `cli` talks to (cli->stale: it answers itself). */
static int cli_node_status(struct cli *cli, Callraft__Reply **reply)
{
	struct callraft_request req;
	int rv = cli_send(cli, callraft_request_status(&req), reply);
	if (rv == CLI_EXIT_OK && (*reply)->status == NULL) {
		callraft__reply__free_unpacked(*reply, NULL);
		return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "INTERNAL", "the node sent no status");
	}
	return rv;
}

int cli_status(struct cli *cli, struct cli_args *a)
{
	int rv;
	cli->stale = true; /* any node may answer: status describes the cluster as that node sees it */
	Callraft__Reply *reply;
	if ((rv = cli_node_status(cli, &reply)) != CLI_EXIT_OK)
		return rv;
	const Callraft__NodeStatus *st = reply->status;
	size_t n = st->n_members < CALLRAFT_MEMBERS_MAX ? st->n_members : CALLRAFT_MEMBERS_MAX;
	struct cli_probe probes[CALLRAFT_MEMBERS_MAX];
	/* NEEDSWORK: probes run one after the other; with many unreachable members, status takes
	 * CLI_PROBE_TIMEOUT_MS per member. Probe in parallel (poll on all sockets) if that hurts. */
	for (size_t i = 0; i < n; i++) {
		probes[i].member = st->members[i];
		cli_probe_member(&probes[i], st->members[i]->id == st->id ? st->client_address : NULL);
	}
	const Callraft__NodeStatus *sum = cli_status_summary(st, probes, n);
	if (cli->json)
		cli_status_json(st, sum, probes, n);
	else
		cli_status_text(st, sum, probes, n);
	for (size_t i = 0; i < n; i++)
		if (probes[i].reply != NULL)
			callraft__reply__free_unpacked(probes[i].reply, NULL);
	callraft__reply__free_unpacked(reply, NULL);
	return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------------
 * members */

int cli_members_list_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	callraft_request_init(r, CALLRAFT__REQUEST__OP_MEMBERS_LIST);
	return CLI_EXIT_OK;
}

int cli_members_list_output(struct cli *cli, const struct cli_args *a,
			    const Callraft__Request *req, const Callraft__Reply *reply)
{
	if (cli->json) {
		json_object *top = json_object_new_object();
		cli_json_list(top, &reply->base, "members");
		cli_json_u64(top, "rules_active", reply->rules_active);
		cli_print_json(top);
	} else {
		static const char *const headers[] = {"ID", "SITE", "ROLE", "RAFT-ADDRESS",
						      "CLIENT-ADDRESS", "RULES"};
		struct cli_table t;
		cli_table_init(&t, 6, headers);
		for (size_t i = 0; i < reply->n_members; i++) {
			const Callraft__Member *m = reply->members[i];
			char id[24], rules[24];
			snprintf(id, sizeof id, "%llu", (unsigned long long)m->id);
			cli_rules_range(m, rules, sizeof rules);
			const char *row[] = {id, m->site, cli_role_name(m->role), m->raft_address,
					     m->client_address, rules};
			cli_table_add(&t, row);
		}
		cli_table_print(&t, stdout);
		cli_table_release(&t);
		printf("\nrules: active version %u\n", reply->rules_active);
	}
	return CLI_EXIT_OK;
}

/* Prints the outcome of an admin command on member `id`: `text` for humans, {"ok":true,...} for
 * machines. */
static int cli_admin_done(struct cli *cli, const Callraft__Reply *reply, uint64_t id,
			  const char *text)
{
	if (cli->json) {
		json_object *top = json_object_new_object();
		json_object_object_add(top, "ok", json_object_new_boolean(true));
		cli_json_u64(top, "id", id);
		cli_json_u64(top, "applied_index", reply->applied_index);
		cli_print_json(top);
	} else {
		printf("%s\n", text);
	}
	return CLI_EXIT_OK;
}

int cli_members_add_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	const char *site = cli_opt(a, "site"), *raft = cli_opt(a, "raft-address");
	const char *client = cli_opt(a, "client-address");
	uint64_t id;
	int rv;

	if ((rv = cli_parse_member_id(cli, a->pos[0], &id)) != CLI_EXIT_OK)
		return rv;
	if (site == NULL || raft == NULL || client == NULL || !site[0] || !raft[0] || !client[0])
		return cli_usage_error(cli, "--site, --raft-address and --client-address are "
					    "required");
	if ((rv = cli_check_name(cli, "--site", site, CALLRAFT_SITE_BYTES_MAX)) ||
	    (rv = cli_check_address(cli, "--raft-address", raft)) ||
	    (rv = cli_check_address(cli, "--client-address", client)))
		return rv;
	Callraft__MemberAdd *add = callraft_request_init(r, CALLRAFT__REQUEST__OP_MEMBER_ADD);
	add->id = id;
	add->site = (char *)site;
	add->raft_address = (char *)raft;
	add->client_address = (char *)client;
	return CLI_EXIT_OK;
}

int cli_members_add_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			   const Callraft__Reply *reply)
{
	const Callraft__MemberAdd *add = req->member_add;
	char text[CALLRAFT_SITE_BYTES_MAX + 2 * CALLRAFT_ADDRESS_BYTES_MAX + 64];
	snprintf(text, sizeof text, "member %llu added (site %s, raft %s, client %s)",
		 (unsigned long long)add->id, add->site, add->raft_address, add->client_address);
	return cli_admin_done(cli, reply, add->id, text);
}

int cli_members_remove_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	uint64_t id;
	int rv = cli_parse_member_id(cli, a->pos[0], &id);
	if (rv == CLI_EXIT_OK)
		((Callraft__MemberRemove *)callraft_request_init(r, CALLRAFT__REQUEST__OP_MEMBER_REMOVE))
		    ->id = id;
	return rv;
}

int cli_members_remove_output(struct cli *cli, const struct cli_args *a,
			      const Callraft__Request *req, const Callraft__Reply *reply)
{
	char text[64];
	snprintf(text, sizeof text, "member %llu removed", (unsigned long long)req->member_remove->id);
	return cli_admin_done(cli, reply, req->member_remove->id, text);
}

static const int member_roles[] = {CALLRAFT__MEMBER_ROLE__VOTER, CALLRAFT__MEMBER_ROLE__STANDBY,
				   CALLRAFT__MEMBER_ROLE__SPARE};

int cli_members_assign_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	uint64_t id;
	int role = CALLRAFT__MEMBER_ROLE__ROLE_NONE;
	int rv;
	if ((rv = cli_parse_member_id(cli, a->pos[0], &id)) != CLI_EXIT_OK ||
	    (rv = cli_parse_enum(cli, "role", a->pos[1], &callraft__member_role__descriptor,
				 member_roles, sizeof member_roles / sizeof member_roles[0],
				 &role)) != CLI_EXIT_OK)
		return rv;
	Callraft__MemberAssign *assign = callraft_request_init(r, CALLRAFT__REQUEST__OP_MEMBER_ASSIGN);
	assign->id = id;
	assign->role = (Callraft__MemberRole)role;
	return CLI_EXIT_OK;
}

int cli_members_assign_output(struct cli *cli, const struct cli_args *a,
			      const Callraft__Request *req, const Callraft__Reply *reply)
{
	char text[64];
	snprintf(text, sizeof text, "member %llu is now a %s",
		 (unsigned long long)req->member_assign->id, cli_role_name(req->member_assign->role));
	return cli_admin_done(cli, reply, req->member_assign->id, text);
}

/* ------------------------------------------------------------------------------------------------
 * rules upgrade [N] */

int cli_rules_upgrade_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	uint64_t v = 0;
	if (a->n_pos == 1 && (cli_parse_u64(a->pos[0], &v) != 0 || v < 1 ||
			      v > CALLRAFT_RULES_VERSION_MAX))
		return cli_usage_error(cli, "rules upgrade: version '%s': expected 1..%d", a->pos[0],
				       CALLRAFT_RULES_VERSION_MAX);
	((Callraft__RulesUpgrade *)callraft_request_init(r, CALLRAFT__REQUEST__OP_RULES_UPGRADE))
	    ->version = (uint32_t)v;
	return CLI_EXIT_OK;
}

int cli_rules_upgrade_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			     const Callraft__Reply *reply)
{
	(void)a;
	(void)req;
	if (cli->json) {
		json_object *top = json_object_new_object();
		json_object_object_add(top, "ok", json_object_new_boolean(true));
		cli_json_u64(top, "applied_index", reply->applied_index);
		cli_json_str(top, "message", reply->message);
		cli_print_json(top);
	} else if (reply->message[0] != '\0') {
		printf("%s\n", reply->message);
	} else {
		printf("rules version raised (applied at index %llu): see `callraft status`\n",
		       (unsigned long long)reply->applied_index);
	}
	return CLI_EXIT_OK;
}

int cli_members_transfer_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	uint64_t id = 0;
	int rv;
	if (a->n_pos == 1 && (rv = cli_parse_member_id(cli, a->pos[0], &id)) != CLI_EXIT_OK)
		return rv;
	((Callraft__LeaderTransfer *)callraft_request_init(r, CALLRAFT__REQUEST__OP_LEADER_TRANSFER))
	    ->id = id;
	return CLI_EXIT_OK;
}

int cli_members_transfer_output(struct cli *cli, const struct cli_args *a,
				const Callraft__Request *req, const Callraft__Reply *reply)
{
	uint64_t id = req->leader_transfer->id;
	char text[96];
	if (id != 0)
		snprintf(text, sizeof text, "leadership transferred to member %llu",
			 (unsigned long long)id);
	else
		snprintf(text, sizeof text, "leadership transferred to the most up-to-date voter");
	return cli_admin_done(cli, reply, id, text);
}

/* ------------------------------------------------------------------------------------------------
 * snapshot */

/* A multi-GB state copies and writes in minutes. */
#define CLI_SNAPSHOT_WAIT_MS_MAX (30 * 60 * 1000)
#define CLI_SNAPSHOT_POLL_MS	 200

int cli_snapshot(struct cli *cli, struct cli_args *a)
{
	bool wait = cli_opt(a, "no-wait") == NULL;
	int rv;
	cli->stale = true; /* node-local: the node that answers takes the snapshot */
	Callraft__Reply *before, *reply;
	if ((rv = cli_node_status(cli, &before)) != CLI_EXIT_OK)
		return rv;
	uint64_t id = before->status->id, count = before->status->snapshots;
	callraft__reply__free_unpacked(before, NULL);

	struct callraft_request req;
	callraft_request_init(&req, CALLRAFT__REQUEST__OP_SNAPSHOT_TAKE);
	if ((rv = cli_send(cli, &req.req, &reply)) != CLI_EXIT_OK)
		return rv;
	callraft__reply__free_unpacked(reply, NULL);
	if (!wait) {
		if (cli->json) {
			json_object *top = json_object_new_object();
			cli_json_u64(top, "node", id);
			cli_json_str(top, "result", "requested");
			return cli_print_json(top);
		}
		printf("node %llu: snapshot requested (see `callraft status --json`)\n",
		       (unsigned long long)id);
		return CLI_EXIT_OK;
	}
	for (int waited = 0; waited <= CLI_SNAPSHOT_WAIT_MS_MAX; waited += CLI_SNAPSHOT_POLL_MS) {
		usleep(CLI_SNAPSHOT_POLL_MS * 1000);
		if ((rv = cli_node_status(cli, &reply)) != CLI_EXIT_OK)
			return rv;
		const Callraft__NodeStatus *st = reply->status;
		if (st->id != id) {
			callraft__reply__free_unpacked(reply, NULL);
			return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "UNAVAILABLE",
					"node %llu asked, node %llu answered: give one node's address",
					(unsigned long long)id, (unsigned long long)st->id);
		}
		if (st->snapshots > count) {
			if (cli->json) {
				json_object *top = json_object_new_object();
				cli_json_u64(top, "node", id);
				cli_json_u64(top, "index", st->snapshot_index);
				cli_json_u64(top, "bytes", st->snapshot_bytes);
				cli_json_u64(top, "copy_ms", st->snapshot_copy_ms);
				cli_json_u64(top, "write_ms", st->snapshot_write_ms);
				cli_json_u64(top, "state_bytes", st->state_bytes);
				callraft__reply__free_unpacked(reply, NULL);
				return cli_print_json(top);
			}
			printf("node %llu: snapshot at index %llu: %.1f MB, copied in %llu ms (off the "
			       "loop), written in %llu ms\n",
			       (unsigned long long)id, (unsigned long long)st->snapshot_index,
			       (double)st->snapshot_bytes / 1e6,
			       (unsigned long long)st->snapshot_copy_ms,
			       (unsigned long long)st->snapshot_write_ms);
			callraft__reply__free_unpacked(reply, NULL);
			return CLI_EXIT_OK;
		}
		callraft__reply__free_unpacked(reply, NULL);
	}
	return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "UNAVAILABLE",
			"node %llu: no snapshot within %d s (it needs a new committed entry: is there a "
			"leader?)",
			(unsigned long long)id, CLI_SNAPSHOT_WAIT_MS_MAX / 1000);
}
