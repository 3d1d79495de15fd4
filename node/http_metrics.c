/* http_metrics.c: GET /metrics, the node's Prometheus metrics (text exposition format 0.0.4).
 *
 * Every node answers for itself (a follower's figures are its own view: its term, its applied
 * index, its copy of the replicated state). Families, by source:
 *   raft (replication/repl.h)  callraft_raft_*: term, role, leader id, commit/applied/last index;
 *                              apply time and bytes per entry, snapshots (histograms)
 *   node (node_internal.h)     commit latency of the batches it proposed, forwarded requests,
 *                              replies by code, binary connections; HTTP counters (http.h)
 *   state (state_metrics)      LMDB map and quota use; per queue and per site: waiting, longest
 *                              wait, offered, answered, abandoned, service level; agents by
 *                              state per site; sites up/down and their nodes' contact
 *   leader only                callraft_member_lag_entries and callraft_member_contact_age_seconds
 *                              (the leader's view of each member; other nodes omit them)
 * A scrape costs no walk of the calls or the queue index (state/metrics.c says what it reads); the
 * body is kept CALLRAFT_METRICS_CACHE_MS and served again within that time. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_routes.h"
#include "log.h"
#include "node_internal.h"

struct mbuf {
	char *p;
	size_t len, cap;
	bool failed; /* out of memory or over CALLRAFT_METRICS_BODY_BYTES_MAX */
};

struct http_metrics {
	struct node *node;
	struct mbuf body; /* the last rendering */
	uint64_t rendered_ms;
	bool have;
};

static void mb_printf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mb_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2 > b->len + (size_t)n + 1 ? b->cap * 2 : b->len + (size_t)n + 1;
		char *p = cap <= CALLRAFT_METRICS_BODY_BYTES_MAX ? realloc(b->p, cap) : NULL;
		if (p == NULL) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

static void family(struct mbuf *b, const char *name, const char *type, const char *help)
{
	mb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value escaped per the exposition format (backslash, quote, newline). */
static const char *esc(const char *s, char *out, size_t len)
{
	size_t j = 0;

	for (; *s != '\0' && j + 3 < len; s++) {
		if (*s == '\\' || *s == '"') {
			out[j++] = '\\';
			out[j++] = *s;
		} else if (*s == '\n') {
			out[j++] = '\\';
			out[j++] = 'n';
		} else {
			out[j++] = *s;
		}
	}
	out[j] = '\0';
	return out;
}

static void gauge(struct mbuf *b, const char *name, const char *help, double v)
{
	family(b, name, "gauge", help);
	mb_printf(b, "%s %.15g\n", name, v);
}

static void counter(struct mbuf *b, const char *name, const char *help, uint64_t v)
{
	family(b, name, "counter", help);
	mb_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void histogram(struct mbuf *b, const char *name, const char *help, const struct histogram *h)
{
	uint64_t cum = 0;

	family(b, name, "histogram", help);
	for (unsigned i = 0; i < h->n_bounds; i++) {
		cum += h->counts[i];
		mb_printf(b, "%s_bucket{le=\"%.15g\"} %llu\n", name, h->bounds[i],
			  (unsigned long long)cum);
	}
	mb_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.15g\n%s_count %llu\n", name,
		  (unsigned long long)h->count, name, h->sum, name, (unsigned long long)h->count);
}

/* ---- raft and the node ------------------------------------------------------------------- */

static void render_raft(struct node *n, struct mbuf *b)
{
	static const char *roles[] = {"follower", "candidate", "leader", "unavailable"};
	struct repl_metrics rm;
	struct repl_stats rs;
	char role[32], e1[96], e2[96];

	snprintf(role, sizeof role, "%s", repl_state_name(n->repl));
	for (char *p = role; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	family(b, "callraft_node_info", "gauge", "This node: id, site and version (value 1).");
	mb_printf(b, "callraft_node_info{node=\"%llu\",site=\"%s\",version=\"%s\"} 1\n",
		  (unsigned long long)n->cfg.id, esc(n->cfg.site, e1, sizeof e1),
		  esc(CALLRAFT_VERSION_STRING, e2, sizeof e2));
	gauge(b, "callraft_raft_term", "Raft's current term on this node.", (double)repl_term(n->repl));
	family(b, "callraft_raft_role", "gauge", "1 for this node's Raft role, 0 for the others.");
	for (unsigned i = 0; i < sizeof roles / sizeof roles[0]; i++)
		mb_printf(b, "callraft_raft_role{role=\"%s\"} %d\n", roles[i],
			  strcmp(role, roles[i]) == 0);
	gauge(b, "callraft_raft_leader_id", "The leader's member id as this node knows it (0: none).",
	      (double)repl_leader(n->repl, NULL));
	gauge(b, "callraft_raft_commit_index", "Raft's commit index on this node.",
	      (double)repl_commit_index(n->repl));
	gauge(b, "callraft_raft_applied_index", "The last index applied to this node's state.",
	      (double)repl_last_applied(n->repl));
	gauge(b, "callraft_raft_last_index", "The last index in this node's Raft log.",
	      (double)repl_last_index(n->repl));
	repl_metrics(n->repl, &rm);
	repl_stats(n->repl, &rs);
	counter(b, "callraft_raft_entries_applied_total", "Entries applied by this process.",
		rm.entries_applied);
	histogram(b, "callraft_apply_duration_seconds",
		  "Time to apply one entry to the state (one LMDB transaction).", rm.apply_seconds);
	histogram(b, "callraft_entry_bytes", "Payload bytes of each applied entry.", rm.entry_bytes);
	histogram(b, "callraft_commit_duration_seconds",
		  "Batches this node proposed as leader: from proposal to applied here.",
		  &n->metrics.commit_seconds);
	histogram(b, "callraft_snapshot_duration_seconds",
		  "Snapshots taken by this process: copy off the loop plus write.", rm.snapshot_seconds);
	histogram(b, "callraft_snapshot_bytes", "Image size of each snapshot taken.",
		  rm.snapshot_bytes);
	gauge(b, "callraft_snapshot_last_index", "Index of the last snapshot taken by this process.",
	      (double)rs.snapshot_index);
	counter(b, "callraft_snapshots_restored_total",
		"Snapshots installed from the leader that replaced the local state.",
		rs.snapshots_restored);
}

static void render_node(struct node *n, struct mbuf *b)
{
	const struct http_counters *hc = n->http != NULL ? http_counters(n->http) : NULL;
	struct state_usage u;

	counter(b, "callraft_requests_total", "Client requests received (binary protocol and HTTP).",
		n->requests_total);
	counter(b, "callraft_forwarded_requests_total", "Requests this node forwarded to the leader.",
		n->metrics.forwarded_total);
	counter(b, "callraft_relayed_requests_total",
		"Requests this node sent through another member because the leader was not reachable.",
		n->metrics.relayed_total);
	family(b, "callraft_replies_total", "counter", "Replies this node sent to clients, by code.");
	for (unsigned c = 0; c <= CALLRAFT__CODE__INTERNAL; c++) {
		const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
			&callraft__code__descriptor, (int)c);
		if (v != NULL)
			mb_printf(b, "callraft_replies_total{code=\"%s\"} %llu\n", v->name,
				  (unsigned long long)n->metrics.replies_by_code[c]);
	}
	family(b, "callraft_client_connections", "gauge",
	       "Open client connections on the binary port; HTTP: requests in flight (event streams "
	       "included).");
	mb_printf(b, "callraft_client_connections{protocol=\"binary\"} %u\n",
		  n->n_conns - n->n_reserved);
	mb_printf(b, "callraft_client_connections{protocol=\"http\"} %u\n", hc ? hc->open_reqs : 0);
	gauge(b, "callraft_forward_links", "Connections from other members forwarding to this node.",
	      (double)n->n_reserved);
	if (hc != NULL) {
		counter(b, "callraft_http_connections_accepted_total", "HTTP connections accepted.",
			hc->connections_accepted);
		family(b, "callraft_http_responses_total", "counter", "HTTP responses by status class.");
		mb_printf(b, "callraft_http_responses_total{class=\"2xx\"} %llu\n"
			     "callraft_http_responses_total{class=\"4xx\"} %llu\n"
			     "callraft_http_responses_total{class=\"5xx\"} %llu\n",
			  (unsigned long long)hc->responses_2xx, (unsigned long long)hc->responses_4xx,
			  (unsigned long long)hc->responses_5xx);
	}
	state_usage(n->state, &u);
	gauge(b, "callraft_state_bytes", "Logical bytes of every table (what the quota counts).",
	      (double)u.bytes);
	gauge(b, "callraft_state_quota_bytes", "The state quota in force (0: none yet).",
	      (double)u.quota_bytes);
	gauge(b, "callraft_lmdb_map_bytes", "LMDB's map size.", (double)u.map_bytes);
	gauge(b, "callraft_lmdb_map_used_bytes", "LMDB pages in use up to the high mark.",
	      (double)u.map_used_bytes);
	char alarm[320];
	node_alarm(n, alarm, sizeof alarm);
	gauge(b, "callraft_space_alarm",
	      "1 while the space alarm is on (80% of the quota, 50% of the map; status says which).",
	      alarm[0] != '\0' ? 1 : 0);
	if (n->tls_ctx != NULL) {
		/* The name and label deploy/prometheus/alerts.yml's expiry alert expects. */
		family(b, "callraft_tls_certificate_expiry_timestamp_seconds", "gauge",
		       "When this node's certificate expires (seconds since the epoch; SIGHUP reloads it).");
		mb_printf(b, "callraft_tls_certificate_expiry_timestamp_seconds{path=\"%s\"} %lld\n",
			  n->cfg.tls_cert, (long long)n->tls_self.not_after_s);
		family(b, "callraft_tls_handshakes_total", "counter",
		       "TLS handshakes completed on the binary client port: full (certificates exchanged "
		       "and verified) or resumed from a session ticket (a client reconnecting).");
		mb_printf(b, "callraft_tls_handshakes_total{session=\"full\"} %llu\n"
			     "callraft_tls_handshakes_total{session=\"resumed\"} %llu\n",
			  (unsigned long long)n->metrics.tls_handshakes_full,
			  (unsigned long long)n->metrics.tls_handshakes_resumed);
	}
}

/* Leader only: each member's replication lag and its last progress (tick.c's site contacts). */
static void render_members(struct node *n, struct mbuf *b)
{
	uint64_t ids[CALLRAFT_MEMBERS_MAX], last = repl_last_index(n->repl), now = uv_now(&n->loop);
	Callraft__MemberRole roles[CALLRAFT_MEMBERS_MAX];
	const char *addrs[CALLRAFT_MEMBERS_MAX];
	unsigned nc;

	if (!repl_is_leader(n->repl))
		return;
	nc = repl_configuration(n->repl, ids, roles, addrs, CALLRAFT_MEMBERS_MAX);
	family(b, "callraft_member_lag_entries", "gauge",
	       "Leader only: entries the member's log is behind the leader's last index.");
	for (unsigned i = 0; i < nc; i++) {
		uint64_t match;
		if (roles[i] == CALLRAFT__MEMBER_ROLE__SPARE || ids[i] == n->cfg.id ||
		    repl_match_index(n->repl, ids[i], &match) != 0)
			continue;
		mb_printf(b, "callraft_member_lag_entries{member=\"%llu\"} %llu\n",
			  (unsigned long long)ids[i],
			  (unsigned long long)(last > match ? last - match : 0));
	}
	family(b, "callraft_member_contact_age_seconds", "gauge",
	       "Leader only: seconds since the member last made replication progress this term.");
	for (unsigned i = 0; i < n->contacts.n; i++) {
		const struct site_contact *c = &n->contacts.c[i];
		if (c->seen && c->id != n->cfg.id)
			mb_printf(b, "callraft_member_contact_age_seconds{member=\"%llu\"} %.3f\n",
				  (unsigned long long)c->id,
				  now > c->last_ms ? (double)(now - c->last_ms) / 1e3 : 0.0);
	}
}

/* ---- the state: queues and sites --------------------------------------------------------- */

/* The scope families, rendered in three passes over the records state_metrics hands over (a family's
 * samples must be contiguous): records are copied into a small array first. */
struct scope_row {
	bool site;
	char name[CALLRAFT_QUEUE_BYTES_MAX + 1];
	Callraft__Stats st; /* the counters; its strings point at name (scope: "") */
};

struct site_row {
	char name[CALLRAFT_SITE_BYTES_MAX + 1];
	bool down, nodes_reported, nodes_reachable;
};

struct agents_row {
	char site[CALLRAFT_SITE_BYTES_MAX + 1];
	uint32_t by_state[CALLRAFT__AGENT_STATE__UNREACHABLE + 1];
};

#define METRICS_ROWS_MAX CALLRAFT_LIST_LIMIT_MAX

struct collect {
	struct scope_row *scopes;
	size_t n_scopes;
	struct site_row *sites;
	size_t n_sites;
	struct agents_row *agents;
	size_t n_agents;
	bool truncated;
};

/* The next free row of a table of `n` rows of `row_bytes`, or NULL (and the render marked
 * truncated) when the table is full. */
static void *row_take(struct collect *c, void *rows, size_t *n, size_t row_bytes)
{
	if (*n == METRICS_ROWS_MAX) {
		c->truncated = true;
		return NULL;
	}
	return (char *)rows + row_bytes * (*n)++;
}

static void on_scope(void *data, const Callraft__Stats *st)
{
	struct collect *c = data;
	struct scope_row *r = row_take(c, c->scopes, &c->n_scopes, sizeof *r);

	if (r == NULL)
		return;
	r->site = strcmp(st->scope, "site") == 0;
	snprintf(r->name, sizeof r->name, "%s", st->name);
	r->st = *st;
	r->st.base.n_unknown_fields = 0;
	r->st.base.unknown_fields = NULL;
	r->st.scope = "";
	r->st.name = r->name;
}

static void on_site(void *data, const Callraft__Site *s)
{
	struct collect *c = data;
	struct site_row *r = row_take(c, c->sites, &c->n_sites, sizeof *r);

	if (r == NULL)
		return;
	snprintf(r->name, sizeof r->name, "%s", s->site);
	r->down = s->down;
	r->nodes_reported = s->nodes_reported;
	r->nodes_reachable = s->nodes_reachable;
}

static void on_agents(void *data, const char *site, const uint32_t *by_state, unsigned n_states)
{
	struct collect *c = data;
	struct agents_row *r = row_take(c, c->agents, &c->n_agents, sizeof *r);

	if (r == NULL)
		return;
	snprintf(r->site, sizeof r->site, "%s", site);
	for (unsigned i = 0; i < n_states && i <= CALLRAFT__AGENT_STATE__UNREACHABLE; i++)
		r->by_state[i] = by_state[i];
}

/* The queue and site families: one row each, the Stats field it shows (by its protocol name) and
 * the divisor to its unit (ms to seconds). */
static const struct scope_family {
	const char *suffix, *type, *help, *field;
	double per;
} scope_families[] = {
    {"waiting_calls", "gauge", "Calls waiting now.", "waiting", 1},
    {"longest_wait_seconds", "gauge", "Wait of the oldest waiting call, at FSM time.",
     "longest_wait_ms", 1e3},
    {"offered_calls_total", "counter", "Calls that entered the queue (offered).", "entered", 1},
    {"answered_calls_total", "counter", "Calls answered.", "answered", 1},
    {"answered_in_service_level_calls_total", "counter",
     "Calls answered within the queue's service level time.", "answered_in_sl", 1},
    {"abandoned_calls_total", "counter", "Calls abandoned by the caller.", "abandoned", 1},
    {"abandoned_short_calls_total", "counter",
     "Calls abandoned within 5 s (left out of the service level).", "abandoned_short", 1},
    {"service_level_ratio", "gauge",
     "answered in SL / (answered + abandoned - short abandons), since the counters began.",
     "service_level", 1},
};

#define SCOPE_FAMILIES_COUNT (sizeof scope_families / sizeof scope_families[0])

/* The number in field `name` of `st` (uint64, int64 or double, as the table's fields are). */
static double stats_field(const Callraft__Stats *st, const char *name)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(&callraft__stats__descriptor, name);
	const char *at;

	assert(f != NULL);
	at = (const char *)st + f->offset;
	switch (f->type) {
	case PROTOBUF_C_TYPE_UINT64: return (double)*(const uint64_t *)at;
	case PROTOBUF_C_TYPE_INT64: return (double)*(const int64_t *)at;
	case PROTOBUF_C_TYPE_DOUBLE: return *(const double *)at;
	default: assert(!"metrics: a scope family's field is not a number"); return 0;
	}
}

static void render_scope_family(struct mbuf *b, const struct collect *c, bool site,
				const struct scope_family *fam)
{
	const char *scope = site ? "site" : "queue";
	char name[96], e[2 * CALLRAFT_QUEUE_BYTES_MAX + 2];

	snprintf(name, sizeof name, "callraft_%s_%s", scope, fam->suffix);
	family(b, name, fam->type, fam->help);
	for (size_t i = 0; i < c->n_scopes; i++) {
		const struct scope_row *r = &c->scopes[i];
		if (r->site == site)
			mb_printf(b, "%s{%s=\"%s\"} %.15g\n", name, scope, esc(r->name, e, sizeof e),
				  stats_field(&r->st, fam->field) / fam->per);
	}
}

static void render_sites(struct mbuf *b, const struct collect *c)
{
	char e[2 * CALLRAFT_SITE_BYTES_MAX + 2];

	family(b, "callraft_site_up", "gauge", "0 if the site is lost (down), 1 otherwise.");
	for (size_t i = 0; i < c->n_sites; i++)
		mb_printf(b, "callraft_site_up{site=\"%s\"} %d\n",
			  esc(c->sites[i].name, e, sizeof e), !c->sites[i].down);
	family(b, "callraft_site_nodes_reachable", "gauge",
	       "1 if at least one of the site's member nodes is in contact with the leader (sites "
	       "whose nodes the leader reports only).");
	for (size_t i = 0; i < c->n_sites; i++) {
		if (c->sites[i].nodes_reported)
			mb_printf(b, "callraft_site_nodes_reachable{site=\"%s\"} %d\n",
				  esc(c->sites[i].name, e, sizeof e), c->sites[i].nodes_reachable);
	}
	family(b, "callraft_site_agents", "gauge", "Agents of each site by state.");
	for (size_t i = 0; i < c->n_agents; i++) {
		for (int s = 1; s <= CALLRAFT__AGENT_STATE__UNREACHABLE; s++)
			mb_printf(b, "callraft_site_agents{site=\"%s\",state=\"%s\"} %u\n",
				  esc(c->agents[i].site, e, sizeof e),
				  state_agent_state_name((Callraft__AgentState)s),
				  c->agents[i].by_state[s]);
	}
}

static int render_state(struct node *n, struct mbuf *b)
{
	struct collect c = {0};
	struct state_metrics_hooks hooks = {on_scope, on_site, on_agents, &c};
	int rc = -1;

	c.scopes = calloc(METRICS_ROWS_MAX, sizeof *c.scopes);
	c.sites = calloc(METRICS_ROWS_MAX, sizeof *c.sites);
	c.agents = calloc(METRICS_ROWS_MAX, sizeof *c.agents);
	if (c.scopes == NULL || c.sites == NULL || c.agents == NULL ||
	    state_metrics(n->state, &hooks) != 0)
		goto out;
	for (int site = 0; site <= 1; site++)
		for (size_t f = 0; f < SCOPE_FAMILIES_COUNT; f++)
			render_scope_family(b, &c, site, &scope_families[f]);
	render_sites(b, &c);
	gauge(b, "callraft_metrics_truncated",
	      "1 if a family was cut at the row bound (more queues or sites than listed).",
	      c.truncated);
	rc = 0;
out:
	free(c.scopes);
	free(c.sites);
	free(c.agents);
	return rc;
}

/* ---- the route --------------------------------------------------------------------------- */

static int render(struct http_metrics *m, struct mbuf *b)
{
	struct node *n = m->node;

	if (n->repl == NULL || n->state == NULL)
		return -1;
	render_raft(n, b);
	render_node(n, b);
	render_members(n, b);
	if (render_state(n, b) != 0)
		return -1;
	return b->failed ? -1 : 0;
}

static void metrics_handler(struct http_req *r, void *data)
{
	struct http_metrics *m = data;
	uint64_t now = uv_now(&m->node->loop);

	if (strcmp(http_req_path(r), "/metrics") != 0) {
		http_respond_error(r, 404, "NOT_FOUND", "no such path", NULL);
		return;
	}
	if (!m->have || now - m->rendered_ms >= CALLRAFT_METRICS_CACHE_MS) {
		struct mbuf b = {0};
		if (render(m, &b) != 0) {
			free(b.p);
			LOG_RATELIMITED(LOG_WARN, "metrics: cannot render (out of memory, over %u bytes, or "
						  "a state read failed)", CALLRAFT_METRICS_BODY_BYTES_MAX);
			http_respond_error(r, 500, "INTERNAL", "metrics: cannot render", NULL);
			return;
		}
		free(m->body.p);
		m->body = b;
		m->rendered_ms = now;
		m->have = true;
	}
	http_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", m->body.p, m->body.len, NULL);
}

int http_metrics_register(struct http *h, struct node *n)
{
	/* One per node process, freed at exit: the route table holds its pointer until then. */
	static struct http_metrics m;

	free(m.body.p);
	memset(&m, 0, sizeof m);
	m.node = n;
	return http_route_add(h, HTTP_GET | HTTP_HEAD, "/metrics", metrics_handler, &m);
}
