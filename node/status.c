/* status.c: what a node answers and logs from its own view: status (role, term, indexes,
 * snapshots), the members list (raft's configuration joined with the replicated members table), the
 * leader hint attached to NOT_LEADER / NO_LEADER replies, a snapshot request, and the log lines of
 * what replication did (snapshots taken, installs not resent, restores). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node_internal.h"

void node_leader_hint(struct node *n, Callraft__Reply *reply, char *addr_buf, size_t addr_len)
{
	Callraft__Member *m = NULL;
	uint64_t id = n->repl != NULL ? repl_leader(n->repl, NULL) : 0; /* NULL once closed */
	if (id == 0)
		return;
	reply->leader_hint = id;
	if (state_member_get(n->state, id, &m) == 0) {
		snprintf(addr_buf, addr_len, "%s", m->client_address ? m->client_address : "");
		reply->leader_address = addr_buf;
		callraft__member__free_unpacked(m, NULL);
	}
}

/* Fills out[] (up to max) with every member of the configuration and of the members table.
 * Returns the count; each element must be freed with callraft__member__free_unpacked. */
static size_t members_collect(struct node *n, Callraft__Member **out, size_t max)
{
	uint64_t ids[CALLRAFT_MEMBERS_MAX];
	Callraft__MemberRole roles[CALLRAFT_MEMBERS_MAX];
	const char *addrs[CALLRAFT_MEMBERS_MAX];
	unsigned nc = repl_configuration(n->repl, ids, roles, addrs, CALLRAFT_MEMBERS_MAX);
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
		out[i]->role = roles[j];
	}
	return count;
}

static void members_free(Callraft__Member **m, size_t count)
{
	for (size_t i = 0; i < count; i++)
		callraft__member__free_unpacked(m[i], NULL);
}

void status_members_reply(struct node *n, struct conn *c, uint64_t request_id,
			  uint32_t rules_upgradable, const char *message)
{
	Callraft__Reply reply = CALLRAFT__REPLY__INIT;
	Callraft__Member *members[2 * CALLRAFT_MEMBERS_MAX];
	size_t count = members_collect(n, members, 2 * CALLRAFT_MEMBERS_MAX);

	reply.request_id = request_id;
	reply.code = CALLRAFT__CODE__OK;
	reply.applied_index = state_applied_index(n->state);
	reply.members = members;
	reply.n_members = count;
	reply.rules_active = state_rules_active(n->state);
	reply.rules_upgradable = rules_upgradable;
	reply.message = (char *)message;
	conn_send_reply(c, &reply);
	members_free(members, count);
}

void status_reply(struct node *n, struct conn *c, uint64_t request_id, bool members_only)
{
	Callraft__Reply reply = CALLRAFT__REPLY__INIT;
	Callraft__NodeStatus st = CALLRAFT__NODE_STATUS__INIT;
	Callraft__Member *members[2 * CALLRAFT_MEMBERS_MAX];
	size_t count;
	struct repl_stats rs;
	struct state_usage usage;
	char state_name[32], alarm[320];

	if (members_only) {
		status_members_reply(n, c, request_id, 0, NULL);
		return;
	}
	count = members_collect(n, members, 2 * CALLRAFT_MEMBERS_MAX);
	repl_stats(n->repl, &rs);
	snprintf(state_name, sizeof state_name, "%s", repl_state_name(n->repl));
	for (char *p = state_name; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	reply.request_id = request_id;
	reply.code = CALLRAFT__CODE__OK;
	reply.applied_index = state_applied_index(n->state);
	st.id = n->cfg.id;
	st.site = n->cfg.site;
	st.state = state_name;
	st.leader_id = repl_leader(n->repl, NULL);
	st.term = repl_term(n->repl);
	st.commit_index = repl_commit_index(n->repl);
	st.applied_index = repl_last_applied(n->repl);
	st.state_applied_index = state_applied_index(n->state);
	st.last_log_index = repl_last_index(n->repl);
	st.members = members;
	st.n_members = count;
	st.client_address = n->cfg.client_address;
	st.raft_address = n->cfg.raft_address;
	st.version = CALLRAFT_VERSION_STRING;
	st.rules_active = state_rules_active(n->state);
	st.rules_oldest = CALLRAFT_RULES_OLDEST;
	st.rules_newest = state_rules_newest;
	st.state_bytes = state_size_bytes(n->state);
	st.snapshots = rs.snapshots;
	st.snapshot_index = rs.snapshot_index;
	st.snapshot_bytes = rs.snapshot_bytes;
	st.snapshot_copy_ms = rs.snapshot_copy_ms;
	st.snapshot_write_ms = rs.snapshot_write_ms;
	st.snapshot_threshold = rs.snapshot_threshold;
	state_usage(n->state, &usage);
	st.quota_used_bytes = usage.bytes;
	st.quota_bytes = usage.quota_bytes;
	st.map_bytes = usage.map_bytes;
	st.map_used_bytes = usage.map_used_bytes;
	node_alarm(n, alarm, sizeof alarm);
	st.alarm = alarm;
	st.tls = n->tls_ctx != NULL;
	st.tls_cert_expires_s = n->tls_self.not_after_s;
	st.tls_cert_name = n->tls_self.name;
	reply.status = &st;
	conn_send_reply(c, &reply);
	members_free(members, count);
}

/* Node-local, like status: a snapshot at the next entry. */
void status_snapshot_request(struct node *n, struct conn *c, const Callraft__Request *req)
{
	Callraft__Reply reply = CALLRAFT__REPLY__INIT;

	if (repl_snapshot_soon(n->repl) != 0) {
		conn_send_error(c, req->request_id, CALLRAFT__CODE__UNAVAILABLE, "%s", repl_errmsg(n->repl));
		return;
	}
	reply.request_id = req->request_id;
	reply.code = CALLRAFT__CODE__OK;
	reply.applied_index = state_applied_index(n->state);
	conn_send_reply(c, &reply);
	LOG_EVENT(LOG_INFO, "snapshot_requested", LOG_NO_FIELDS,
		  "snapshot requested by a client: taken at the next entry");
}

/* leader_change: the leader this node knows changed (0: none known). */
static void log_leader(struct node *n)
{
	uint64_t leader = repl_leader(n->repl, NULL);

	if (leader == n->leader_logged)
		return;
	LOG_EVENT(leader == 0 ? LOG_WARN : LOG_INFO, "leader_change",
		  LOG_FIELDS(LOG_U("leader", leader), LOG_U("previous", n->leader_logged)),
		  leader == 0 ? "no leader known (was %llu)" : "leader is now %llu",
		  (unsigned long long)(leader == 0 ? n->leader_logged : leader));
	n->leader_logged = leader;
}

/* member_change: the Raft configuration (ids and roles) changed; the line lists it. */
static void log_members(struct node *n)
{
	static const char *role_names[] = {"none", "voter", "standby", "spare"};
	uint64_t ids[CALLRAFT_MEMBERS_MAX], digest = 14695981039346656037ull;
	Callraft__MemberRole roles[CALLRAFT_MEMBERS_MAX];
	const char *addrs[CALLRAFT_MEMBERS_MAX];
	unsigned nc = repl_configuration(n->repl, ids, roles, addrs, CALLRAFT_MEMBERS_MAX);
	char list[CALLRAFT_MEMBERS_MAX * 32];
	size_t len = 0;

	for (unsigned i = 0; i < nc; i++)
		digest = (digest ^ (ids[i] * 4 + (uint64_t)roles[i])) * 1099511628211ull;
	if (nc == 0 || digest == n->members_logged)
		return;
	n->members_logged = digest;
	list[0] = '\0';
	for (unsigned i = 0; i < nc && len < sizeof list; i++)
		len += (size_t)snprintf(list + len, sizeof list - len, "%s%llu:%s", i ? "," : "",
					(unsigned long long)ids[i],
					(unsigned)roles[i] < 4 ? role_names[roles[i]] : "?");
	LOG_EVENT(LOG_INFO, "member_change", LOG_FIELDS(LOG_U("count", nc), LOG_S("members", list)),
		  "configuration: %s", list);
}

/* Logs what replication did since the last tick (snapshots, dropped installs, restores). */
void status_log_replication(struct node *n)
{
	struct repl_stats rs;

	log_leader(n);
	log_members(n);

	repl_stats(n->repl, &rs);
	if (rs.snapshots != n->snapshots_logged) {
		n->snapshots_logged = rs.snapshots;
		LOG_EVENT(LOG_INFO, "snapshot",
			  LOG_FIELDS(LOG_U("index", rs.snapshot_index), LOG_U("bytes", rs.snapshot_bytes),
				     LOG_U("copy_ms", rs.snapshot_copy_ms),
				     LOG_U("write_ms", rs.snapshot_write_ms),
				     LOG_U("next_after_entries", rs.snapshot_threshold)),
			  "snapshot at index %llu: %.1f MB, copied in %llu ms off the loop, written in "
			  "%llu ms; next after %u entries",
			  (unsigned long long)rs.snapshot_index, (double)rs.snapshot_bytes / 1e6,
			  (unsigned long long)rs.snapshot_copy_ms, (unsigned long long)rs.snapshot_write_ms,
			  rs.snapshot_threshold);
	}
	if (rs.installs_dropped != n->dropped_logged) {
		n->dropped_logged = rs.installs_dropped;
		LOG_EVENT(LOG_INFO, "snapshot_install_dropped",
			  LOG_FIELDS(LOG_U("dropped_total", rs.installs_dropped)),
			  "raft asked to send a snapshot to a member that one is still going to: not "
			  "sent again (%llu so far)",
			  (unsigned long long)rs.installs_dropped);
	}
	if (rs.snapshots_restored != n->restores_logged) {
		n->restores_logged = rs.snapshots_restored;
		LOG_EVENT(LOG_INFO, "snapshot_restored",
			  LOG_FIELDS(LOG_U("applied_index", state_applied_index(n->state))),
			  "snapshot restored: the state is now at applied index %llu",
			  (unsigned long long)state_applied_index(n->state));
	}
}
