/* node.c: the node's wiring. It opens the pieces in order (data dir, state, replication,
 * membership, client listener), installs the loop hooks (end-of-turn flush, housekeeping, tick,
 * signals), dispatches each request by kind to the file that serves it, and shuts down in reverse.
 * See node.h for the request path and node_internal.h for the files and the invariants (checked by
 * node_check.c). */
#include "node.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "callraft_ops.h"
#include "http_routes.h"
#include "log.h"
#include "node_internal.h"

int64_t node_now_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ------------------------------------------------------------------------------------------------
 * Dispatch: see node.h for the path of a request. */

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
	if (req->relay_ttl > CALLRAFT_RELAY_TTL_MAX || (req->relay_ttl > 0 && !req->forwarded)) {
		conn_send_error(c, req->request_id, CALLRAFT__CODE__INVALID_ARGUMENT,
				"relay_ttl %u: only a member's forwarded request may carry one, at most %u",
				req->relay_ttl, CALLRAFT_RELAY_TTL_MAX);
		goto done;
	}
	if (op == CALLRAFT__REQUEST__OP__NOT_SET) {
		conn_send_error(c, req->request_id, CALLRAFT__CODE__UNKNOWN_OPERATION,
				"request carries no operation");
		goto done;
	}
	if (conn_refuses(c, req))
		goto done;
	if (conn_stamp_actor(c, req) != 0) {
		conn_send_error(c, req->request_id, CALLRAFT__CODE__UNAVAILABLE, "out of memory: retry");
		goto done;
	}
	if (n->stopping) {
		conn_send_error(c, req->request_id, CALLRAFT__CODE__UNAVAILABLE, "node is shutting down: retry");
		goto done;
	}
	if (op == CALLRAFT__REQUEST__OP_STATUS) {
		status_reply(n, c, req->request_id, false);
		goto done;
	}
	if (op == CALLRAFT__REQUEST__OP_SNAPSHOT_TAKE) {
		status_snapshot_request(n, c, req);
		goto done;
	}
	if (op == CALLRAFT__REQUEST__OP_EVENTS_READ) { /* node-local: see events_hub.h */
		events_hub_read(&n->events, c, req);
		return;
	}
	if (callraft_op_is_read(op) && req->stale) {
		read_serve(n, c, req);
		goto done;
	}
	if (!callraft_op_is_read(op) && !callraft_op_is_write(op) && !callraft_op_is_admin(op)) {
		conn_send_error(c, req->request_id, CALLRAFT__CODE__UNKNOWN_OPERATION,
				"operation %d is not known", (int)op);
		goto done;
	}
	if (!repl_is_leader(n->repl)) {
		if (req->forwarded && req->relay_ttl == 0) /* node.h invariant 3: one relay at most */
			conn_send_error(c, req->request_id, CALLRAFT__CODE__NOT_LEADER,
					"node %llu is not the leader: retry", (unsigned long long)n->cfg.id);
		else
			fwd_request(n, c, req);
		goto done;
	}
	if (op == CALLRAFT__REQUEST__OP_RULES_DECLARE || op == CALLRAFT__REQUEST__OP_RULES_UPGRADE)
		return rules_request(n, c, req);
	if (callraft_op_is_write(op))
		return write_request(n, c, req);
	if (callraft_op_is_read(op))
		return read_request(n, c, req);
	return admin_request(n, c, req);
done:
	callraft__request__free_unpacked(req, NULL);
}

/* ------------------------------------------------------------------------------------------------
 * Replication's callbacks. */

/* An entry was applied: wake the event stream's readers, answer the batch it carried. */
static void on_applied(void *data, uint64_t index, const struct state_replies *replies)
{
	struct node *n = data;
	events_hub_applied(&n->events, index, replies->events);
	write_applied(n, index, replies);
}

static void on_role(void *data, bool leader, const char *state_name, uint64_t term)
{
	struct node *n = data;
	(void)term;
	LOG_EVENT(LOG_INFO, "role_change", LOG_FIELDS(LOG_S("role", state_name)), "raft: %s",
		  state_name);
	if (leader)
		fwd_reset(n, CALLRAFT__CODE__OUTCOME_UNKNOWN, "this node became leader: retry with the same seq");
}

static void on_ready(void *data, uint64_t term)
{
	struct node *n = data;
	LOG_EVENT(LOG_INFO, "leader_ready", LOG_NO_FIELDS,
		  "raft: leader ready (a barrier of term %llu committed)", (unsigned long long)term);
	membership_leader_ready(n->members, term);
	/* The witness city holds a full replica but should not lead: its links to both call-center
	 * cities are the longest. It hands leadership to a call-center voter now, and retries every
	 * Tick while it still leads (home.c). */
	home_witness_check(n);
}

static void on_fatal(void *data, const char *message)
{
	struct node *n = data;
	char space[700];

	datadir_space(n, space, sizeof space);
	LOG_EVENT(LOG_FATAL, "fatal", LOG_NO_FIELDS,
		  "%s%s: stopping (the supervisor restarts the node)", message, space);
	/* An I/O failure must not leave a node half-working: exit now, without a clean-shutdown
	 * marker, so that the restart rebuilds what it must from the Raft log. */
	_exit(CALLRAFT_EXIT_FATAL);
}

/* The state has no rules for the next entry (state/rules.c R3): stop applying, and say what to do.
 * Not a disk fault: the same binary would stop at the same entry again (CALLRAFT_EXIT_RULES). */
static void on_rules_stop(void *data, const char *message)
{
	(void)data;
	LOG_EVENT(LOG_FATAL, "rules_stop",
		  LOG_FIELDS(LOG_U("rules_oldest", CALLRAFT_RULES_OLDEST),
			     LOG_U("rules_newest", state_rules_newest)),
		  "%s: stopping without applying it (exit %d); the other members keep serving",
		  message, CALLRAFT_EXIT_RULES);
	_exit(CALLRAFT_EXIT_RULES);
}

/* A damaged raft snapshot found at start (replication/repl_snapcheck.c). */
static void on_snapshot_bad(void *data, const char *file, const char *why, const char *action)
{
	(void)data;
	LOG_EVENT(LOG_ERROR, "snapshot_corrupt", LOG_FIELDS(LOG_S("file", file)),
		  "raft snapshot '%s' is damaged (%s): %s", file, why, action);
}

/* ------------------------------------------------------------------------------------------------
 * Loop hooks. */

/* End of a loop turn: propose the open batch, start a barrier for waiting reads. */
static void flush_cb(uv_check_t *h)
{
	struct node *n = h->data;
	write_flush(n);
	read_flush(n);
}

static void housekeeping_cb(uv_timer_t *t)
{
	struct node *n = t->data;
	fwd_housekeeping(n);
	conn_sweep(n);
	node_alarm_check(n);
	rules_housekeeping(n);
	node_check(n);
	repl_check(n->repl);
}

/* Every CALLRAFT_TICK_INTERVAL_MS: a ready leader appends a Tick; the snapshot threshold follows
 * the state's size. */
static void tick_cb(uv_timer_t *t)
{
	struct node *n = t->data;

	if (repl_is_ready(n->repl) && tick_append(n) != 0)
		LOG_RATELIMITED(LOG_WARN, "tick: out of memory");
	home_check(n);
	repl_size_snapshot_threshold(n->repl, state_size_bytes(n->state));
	status_log_replication(n);
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Replication released everything: nothing may call it any more. */
static void repl_closed(void *data)
{
	struct node *n = data;
	n->repl = NULL;
}

static void node_stop(struct node *n)
{
	if (n->stopping)
		return;
	n->stopping = true;
	LOG_EVENT(LOG_INFO, "stopping", LOG_NO_FIELDS, "shutting down");
	uv_close((uv_handle_t *)&n->listener, NULL);
	uv_check_stop(&n->flush);
	uv_close((uv_handle_t *)&n->flush, NULL);
	uv_timer_stop(&n->housekeeping);
	uv_close((uv_handle_t *)&n->housekeeping, NULL);
	uv_timer_stop(&n->tick);
	uv_close((uv_handle_t *)&n->tick, NULL);
	uv_close((uv_handle_t *)&n->sigterm, NULL);
	uv_close((uv_handle_t *)&n->sigint, NULL);
	node_tls_close(n);
	fwd_close(n, "node is shutting down: retry");
	http_stop(n->http);
	events_hub_close(&n->events);
	if (n->repl != NULL)
		repl_close(n->repl, repl_closed, n);
	conn_close_all(n);
}

static void signal_cb(uv_signal_t *s, int signum)
{
	(void)signum;
	node_stop(s->data);
}

/* ------------------------------------------------------------------------------------------------
 * Life. */

static uint64_t term_of(void *data)
{
	struct node *n = data;
	return n->repl != NULL ? repl_term(n->repl) : 0;
}

static int node_open(struct node *n, char *err, size_t len)
{
	char state_dir[600], raft_dir[600];
	struct state_options so = {.map_bytes = (size_t)n->cfg.map_size_mb << 20,
				   .no_sync = !n->cfg.state_sync};
	struct repl_member initial[CALLRAFT_MEMBERS_MAX];
	struct repl_config rc = {0};
	struct repl_callbacks cb = {.on_role = on_role, .on_ready = on_ready, .on_fatal = on_fatal,
				    .on_rules_stop = on_rules_stop,
				    .on_snapshot_bad = on_snapshot_bad, .on_applied = on_applied, .data = n};
	struct membership_hooks hooks;

	snprintf(state_dir, sizeof state_dir, "%s/state", n->cfg.data_dir);
	snprintf(raft_dir, sizeof raft_dir, "%s/raft", n->cfg.data_dir);
	if (datadir_open(n, state_dir, err, len) != 0)
		return -1;
	if (state_seal_open(n, state_dir, &so, err, len) != 0)
		return -1;
	state_set_site_event(n->state, node_site_event_log, n);
	if (state_rules_active(n->state) > state_rules_newest) {
		char msg[300];
		snprintf(msg, sizeof msg, "rules: the state's active rules version is %u and this binary "
			 "applies versions %d..%u: install a binary that applies version %u on this node",
			 state_rules_active(n->state), CALLRAFT_RULES_OLDEST, state_rules_newest,
			 state_rules_active(n->state));
		on_rules_stop(n, msg);
	}
	for (unsigned i = 0; i < n->cfg.n_members; i++) {
		const struct config_member *cm = &n->cfg.members[i];
		initial[i] = (struct repl_member){.id = cm->id, .raft_address = cm->raft_address};
		n->initial[i] = (struct membership_initial){.id = cm->id, .site = cm->site,
							    .raft_address = cm->raft_address,
							    .client_address = cm->client_address,
							    .http_address = cm->http_address};
	}
	rc.id = n->cfg.id;
	rc.raft_address = n->cfg.raft_address;
	rc.dir = raft_dir;
	rc.heartbeat_timeout_ms = n->cfg.heartbeat_timeout_ms;
	rc.election_timeout_ms = n->cfg.election_timeout_ms;
	if (n->cfg.witness)
		rc.first_election_timeout_ms =
			CALLRAFT_WITNESS_FIRST_ELECTION_FACTOR * n->cfg.election_timeout_ms;
	rc.snapshot_threshold = n->cfg.snapshot_threshold;
	rc.snapshot_trailing = n->cfg.snapshot_trailing;
	rc.install_snapshot_timeout_ms = n->cfg.install_snapshot_timeout_ms;
	rc.initial = initial;
	rc.n_initial = n->cfg.n_members;
	if (node_tls_init(n, err, len) != 0)
		return -1;
	rc.tls_ctx = n->tls_ctx;
	if (repl_open(&n->repl, &n->loop, n->state, &rc, &cb, err, len) != 0)
		return -1;
	admin_hooks(n, &hooks);
	n->members = membership_new(n->repl, n->state, n->cfg.id, &hooks, n->initial, n->cfg.n_members);
	if (n->members == NULL)
		return snprintf(err, len, "membership: out of memory"), -1;
	return 0;
}

static int node_start(struct node *n, char *err, size_t len)
{
	if (conn_listen(n, err, len) != 0)
		return -1;
	if (n->cfg.http_address[0] != '\0') {
		n->http = http_new(&n->loop);
		if (n->http == NULL || http_routes_register(n->http, n) != 0 ||
		    http_start(n->http, &n->cfg, err, len) != 0)
			return n->http == NULL ? snprintf(err, len, "http: out of memory"), -1 : -1;
	}
	if (repl_start(n->repl) != 0)
		return snprintf(err, len, "%s", repl_errmsg(n->repl)), -1;
	events_hub_init(&n->events, n, &n->loop);
	stamp_clock_init(&n->stamp_clock, node_now_ms(), uv_hrtime() / 1000000);
	uv_check_init(&n->loop, &n->flush);
	n->flush.data = n;
	uv_check_start(&n->flush, flush_cb);
	uv_timer_init(&n->loop, &n->housekeeping);
	n->housekeeping.data = n;
	uv_timer_start(&n->housekeeping, housekeeping_cb, CALLRAFT_HOUSEKEEPING_INTERVAL_MS,
		       CALLRAFT_HOUSEKEEPING_INTERVAL_MS);
	uv_timer_init(&n->loop, &n->tick);
	n->tick.data = n;
	uv_timer_start(&n->tick, tick_cb, CALLRAFT_TICK_INTERVAL_MS, CALLRAFT_TICK_INTERVAL_MS);
	uv_signal_init(&n->loop, &n->sigterm);
	uv_signal_init(&n->loop, &n->sigint);
	n->sigterm.data = n->sigint.data = n;
	uv_signal_start(&n->sigterm, signal_cb, SIGTERM);
	uv_signal_start(&n->sigint, signal_cb, SIGINT);
	node_tls_start(n);
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
	log_set_format(strcmp(cfg->log_format, "json") == 0 ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT);
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&n->loop);
	fwd_init(n);
	histogram_init(&n->metrics.commit_seconds, histogram_seconds_bounds, histogram_seconds_n);
	if (node_open(n, err, sizeof err) != 0 || node_start(n, err, sizeof err) != 0) {
		LOG_EVENT(LOG_FATAL, "start_failed", LOG_NO_FIELDS, "%s", err);
		fprintf(stderr, "callraftd: %s\n", err);
		rc = 1;
		http_stop(n->http);
		/* lws closes its handles in a chain of close callbacks: let it finish before the
		 * walk below closes what is left, or lws closes a handle twice. */
		for (int i = 0; n->http != NULL && i < CALLRAFT_FAILED_START_LOOP_TURNS; i++)
			uv_run(&n->loop, UV_RUN_NOWAIT);
		if (n->repl != NULL && !n->stopping) {
			n->stopping = true;
			repl_close(n->repl, repl_closed, n);
		}
		uv_walk(&n->loop, close_walk_cb, NULL);
		uv_run(&n->loop, UV_RUN_DEFAULT);
		goto out;
	}
	LOG_EVENT(LOG_INFO, "started",
		  LOG_FIELDS(LOG_S("client_address", cfg->client_address),
			     LOG_S("raft_address", cfg->raft_address),
			     LOG_S("http_address", cfg->http_address), LOG_S("data_dir", cfg->data_dir),
			     LOG_S("version", CALLRAFT_VERSION_STRING)),
		  "serving clients on %s, raft on %s, data in %s", cfg->client_address,
		  cfg->raft_address, cfg->data_dir);
	fsync_guard_arm();
	uv_run(&n->loop, UV_RUN_DEFAULT);
	uv_walk(&n->loop, close_walk_cb, NULL);
	uv_run(&n->loop, UV_RUN_DEFAULT);
	write_discard(n);
	rc = n->exit_code;
out:
	if (uv_loop_close(&n->loop) != 0)
		LOG_WARN_("loop closed with handles still open");
	membership_free(n->members);
	if (rc == 0 && n->state != NULL)
		state_seal_write(n);
	state_close(n->state);
	if (rc == 0)
		datadir_mark_clean_shutdown(n);
	datadir_close(n);
	SSL_CTX_free(n->tls_ctx);
	LOG_EVENT(LOG_INFO, "stopped", LOG_NO_FIELDS, "stopped");
	http_free(n->http);
	free(n);
	return rc;
}
