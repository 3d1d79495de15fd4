/* repl.c: see repl.h; the files of replication/ and the invariants are listed in repl_internal.h.
 *
 * Life of a node's Raft side:
 *   repl_open: transport (bind to our raft address) -> raft_uv (auto-recovery off) -> snapshot and
 *     install interposers -> raft_init -> bootstrap if pristine and an initial member -> options.
 *   repl_start: raft_start (restores the last snapshot into the fsm and replays later entries);
 *     the monitor starts watching the role (repl_monitor.c).
 *   repl_close: raft_close (after a snapshot copy in flight) -> raft_uv_close + raft_uv_tcp_close
 *     -> monitor closed -> r freed. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "repl_internal.h"

Callraft__Code repl_code(int status)
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

struct repl_op *repl_op_new(struct repl *r, repl_done_cb cb, void *data)
{
	struct repl_op *op = malloc(sizeof *op);
	if (op != NULL)
		*op = (struct repl_op){.r = r, .cb = cb, .data = data};
	return op;
}

const char *repl_errmsg(const struct repl *r)
{
	return r->errmsg;
}

void repl_check(const struct repl *r)
{
	/* R1 */
	assert(!r->ready || r->last_state == RAFT_LEADER);
	/* R2 */
	assert(!r->close_pending || (r->closing && r->snapshot_job != NULL));
	/* R3 */
	for (size_t i = 0; i < CALLRAFT_MEMBERS_MAX; i++)
		for (size_t j = i + 1; j < CALLRAFT_MEMBERS_MAX; j++)
			assert(r->installs_in_flight[i] == 0 ||
			       r->installs_in_flight[i] != r->installs_in_flight[j]);
	/* R4 */
	assert(r->snapshot_requested || r->snapshot_threshold >= r->snapshot_threshold_min);
	/* R5 */
	assert(r->sized_entries <= r->fsm.entries_applied);
	assert(r->sized_bytes <= r->fsm.bytes_applied);
}

/* ------------------------------------------------------------------------------------------------
 * Open, bootstrap, start, close. */

static int make_dir(const char *dir, char *errmsg, size_t len)
{
	if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
		snprintf(errmsg, len, "raft: mkdir '%s': %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int repl_bootstrap(struct repl *r, const struct repl_config *cfg)
{
	struct raft_configuration conf;
	bool member = false;
	int rv;

	for (unsigned i = 0; i < cfg->n_initial; i++)
		member = member || cfg->initial[i].id == cfg->id;
	if (!member)
		return 0; /* a new member: starts empty, brought in with `members add` */
	raft_configuration_init(&conf);
	for (unsigned i = 0; i < cfg->n_initial; i++) {
		rv = raft_configuration_add(&conf, cfg->initial[i].id, cfg->initial[i].raft_address,
					    RAFT_VOTER);
		if (rv != 0) {
			snprintf(r->errmsg, sizeof r->errmsg, "raft: initial member %llu '%s': %s",
				 (unsigned long long)cfg->initial[i].id, cfg->initial[i].raft_address,
				 raft_strerror(rv));
			raft_configuration_close(&conf);
			return -1;
		}
	}
	rv = raft_bootstrap(&r->raft, &conf);
	raft_configuration_close(&conf);
	if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
		snprintf(r->errmsg, sizeof r->errmsg, "raft: bootstrap: %s", raft_errmsg(&r->raft));
		return -1;
	}
	return 0;
}

/* raft_uv's start, once the loop's clock is current. raft (legacy layer) starts a follower's
 * election timer at the time raft_init read from raft_uv, uv_now: the loop's cached clock, not
 * updated since uv_loop_init. Opening the state, TLS and raft's own load and replay come in
 * between, so the timer had long expired at the first tick and every node turned candidate the
 * moment it served (issue 12): at a cluster's first start the election was a race decided by the
 * order the nodes started in and by which of their first connections were refused (raft_uv redials
 * after 1 s), and the witness, started last in the lab, found every peer listening and won it.
 * Here the clock is brought up to date and a follower's timer starts now, as raft's own reset of
 * the timer (electionResetTimer) would do: only when the first campaign may start changes. */
static int start_now(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
		     raft_io_recv_cb recv)
{
	struct repl *r = (struct repl *)((char *)io - offsetof(struct repl, io));

	uv_update_time(r->loop);
	r->raft.now = uv_now(r->loop);
	if (raft_state(&r->raft) == RAFT_FOLLOWER)
		r->raft.election_timer_start = r->raft.now;
	return r->uv_start(io, msecs, tick, recv);
}

void repl_first_election_check(struct repl *r)
{
	raft_id id = 0;
	const char *address = NULL;

	if (!r->first_election)
		return;
	raft_leader(&r->raft, &id, &address);
	if (id == 0)
		return;
	r->first_election = false;
	raft_set_election_timeout(&r->raft, r->election_timeout_ms);
}

static int repl_init(struct repl *r, uv_loop_t *loop, const struct repl_config *cfg)
{
	int rv;

	r->loop = loop;
	r->last_state = -1;
	if (make_dir(cfg->dir, r->errmsg, sizeof r->errmsg) != 0)
		return -1;
	if (strlen(cfg->dir) >= sizeof r->dir)
		return snprintf(r->errmsg, sizeof r->errmsg, "raft: dir '%s': path too long", cfg->dir),
		       -1;
	strcpy(r->dir, cfg->dir);
	tls_peers_init(&r->peers, loop);
	tls_peers_set_ctx(&r->peers, cfg->tls_ctx);
	r->connect_ms = CALLRAFT_RAFT_CONNECT_ELECTIONS * cfg->election_timeout_ms;
	r->link_dead_ms = CALLRAFT_RAFT_LINK_DEAD_ELECTIONS * cfg->election_timeout_ms;
	if (repl_transport_init(r, loop, cfg->raft_address) != 0)
		return -1;
	rv = raft_uv_init(&r->io, loop, cfg->dir, &r->transport);
	if (rv != 0) {
		snprintf(r->errmsg, sizeof r->errmsg, "raft: io '%s': %s", cfg->dir, r->io.errmsg);
		goto err_transport;
	}
	/* Auto-recovery silently drops corrupt log tails, even acknowledged entries: a node with a
	 * corrupt log must refuse to start instead (it is then wiped and re-added with a new id). */
	raft_uv_set_auto_recovery(&r->io, false);
	repl_snapshot_interpose(r);
	repl_install_interpose(r);
	repl_snapcheck_interpose(r);
	r->uv_start = r->io.start;
	r->io.start = start_now;
	rv = raft_init(&r->raft, &r->io, &r->fsm.base, cfg->id, cfg->raft_address);
	if (rv != 0) {
		snprintf(r->errmsg, sizeof r->errmsg, "raft: init: %s", raft_errmsg(&r->raft));
		goto err_io;
	}
	fsm_set_raft(&r->fsm, &r->raft);
	if (repl_bootstrap(r, cfg) != 0)
		goto err_raft;
	raft_set_heartbeat_timeout(&r->raft, cfg->heartbeat_timeout_ms);
	r->election_timeout_ms = cfg->election_timeout_ms;
	r->first_election = cfg->first_election_timeout_ms > cfg->election_timeout_ms;
	raft_set_election_timeout(&r->raft, r->first_election ? cfg->first_election_timeout_ms
							       : cfg->election_timeout_ms);
	raft_set_pre_vote(&r->raft, true);
	raft_set_snapshot_threshold(&r->raft, cfg->snapshot_threshold);
	r->snapshot_threshold_min = r->snapshot_threshold = cfg->snapshot_threshold;
	r->snapshot_trailing_min = cfg->snapshot_trailing;
	raft_set_snapshot_trailing(&r->raft, cfg->snapshot_trailing);
	raft_set_install_snapshot_timeout(&r->raft, cfg->install_snapshot_timeout_ms);
	/* Catch-up of a joining node across cities: generous rounds. */
	raft_set_max_catch_up_rounds(&r->raft, CALLRAFT_CATCH_UP_ROUNDS_MAX);
	raft_set_max_catch_up_round_duration(&r->raft,
					     CALLRAFT_CATCH_UP_ROUND_ELECTIONS * cfg->election_timeout_ms);
	return 0;

err_raft:
	/* raft_init succeeded: raft owns io/transport from here; close them through raft_close.
	 * Running the loop is the caller's duty; we close synchronously best-effort. */
	r->closing = true;
	raft_close(&r->raft, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	raft_uv_close(&r->io);
	raft_uv_tcp_close(&r->tcp);
	uv_run(loop, UV_RUN_DEFAULT);
	return -1;
err_io:
	raft_uv_close(&r->io);
err_transport:
	raft_uv_tcp_close(&r->tcp);
	uv_run(loop, UV_RUN_DEFAULT);
	return -1;
}

int repl_open(struct repl **out, uv_loop_t *loop, struct state *state, const struct repl_config *cfg,
	      const struct repl_callbacks *cb, char *err, size_t len)
{
	struct repl *r = calloc(1, sizeof *r);

	if (r == NULL)
		return snprintf(err, len, "raft: out of memory"), -1;
	r->cb = *cb;
	fsm_init(&r->fsm, state);
	fsm_set_callbacks(&r->fsm, cb->on_applied, cb->on_fatal, cb->data);
	fsm_set_rules_stop(&r->fsm, cb->on_rules_stop);
	histogram_init(&r->snapshot_stats.seconds, histogram_seconds_bounds, histogram_seconds_n);
	histogram_init(&r->snapshot_stats.image_bytes, histogram_snapshot_bytes_bounds,
		       histogram_snapshot_bytes_n);
	if (repl_init(r, loop, cfg) != 0) {
		snprintf(err, len, "%s", r->errmsg);
		free(r);
		return -1;
	}
	*out = r;
	return 0;
}

int repl_start(struct repl *r)
{
	int rv = raft_start(&r->raft);
	if (rv != 0) {
		/* raft leaves its message empty for some load failures (a truncated snapshot). */
		const char *why = raft_errmsg(&r->raft);
		snprintf(r->errmsg, sizeof r->errmsg, "raft: start: %s (%s)",
			 why[0] != '\0' ? why : "no detail from raft", raft_strerror(rv));
		return -1;
	}
	repl_monitor_start(r);
	repl_warm_start(r);
	return 0;
}

static void repl_free(struct repl *r)
{
	if (r->closed != NULL)
		r->closed(r->closed_data);
	free(r);
}

static void monitor_close_cb(uv_handle_t *h)
{
	repl_free(h->data);
}

void repl_raft_closed_cb(struct raft *raft)
{
	struct repl *r = (struct repl *)((char *)raft - offsetof(struct repl, raft));
	raft_uv_close(&r->io);
	raft_uv_tcp_close(&r->tcp);
	/* raft calls its close callback last: r is no longer referenced once it returns. */
	if (r->monitor_started && !uv_is_closing((uv_handle_t *)&r->monitor))
		uv_close((uv_handle_t *)&r->monitor, monitor_close_cb);
	else if (!r->monitor_started)
		repl_free(r);
	/* else: the monitor was closed by a loop walk at a failed start; r is left to the exit. */
}

void repl_close(struct repl *r, void (*closed)(void *data), void *data)
{
	r->closing = true;
	r->closed = closed;
	r->closed_data = data;
	repl_warm_stop(r);
	if (r->snapshot_job != NULL) {
		r->close_pending = true; /* the monitor collects the copy, then closes raft */
		return;
	}
	if (r->monitor_started)
		uv_prepare_stop(&r->monitor);
	raft_close(&r->raft, repl_raft_closed_cb);
}

/* ------------------------------------------------------------------------------------------------
 * Accessors. */

void repl_stats(const struct repl *r, struct repl_stats *out)
{
	out->snapshots = r->snapshot_stats.count;
	out->snapshot_index = r->snapshot_stats.index;
	out->snapshot_bytes = r->snapshot_stats.bytes;
	out->snapshot_copy_ms = r->snapshot_stats.copy_ms;
	out->snapshot_write_ms = r->snapshot_stats.write_ms;
	out->snapshot_threshold = r->snapshot_threshold;
	out->installs_dropped = r->installs_dropped;
	out->snapshots_restored = r->fsm.snapshots_restored;
}

void repl_metrics(const struct repl *r, struct repl_metrics *out)
{
	out->apply_seconds = &r->fsm.apply_seconds;
	out->entry_bytes = &r->fsm.entry_bytes;
	out->snapshot_seconds = &r->snapshot_stats.seconds;
	out->snapshot_bytes = &r->snapshot_stats.image_bytes;
	out->entries_applied = r->fsm.entries_applied;
	out->bytes_applied = r->fsm.bytes_applied;
}

bool repl_is_leader(struct repl *r)
{
	return !r->closing && raft_state(&r->raft) == RAFT_LEADER;
}

bool repl_is_ready(struct repl *r)
{
	return repl_is_leader(r) && r->ready && raft_current_term(&r->raft) == r->last_term;
}

uint64_t repl_leader(struct repl *r, const char **raft_address)
{
	raft_id id = 0;
	const char *addr = NULL;
	raft_leader(&r->raft, &id, &addr);
	if (raft_address != NULL)
		*raft_address = addr;
	return id;
}

uint64_t repl_term(struct repl *r)
{
	return raft_current_term(&r->raft);
}

uint64_t repl_commit_index(struct repl *r)
{
	return raft_commit_index(&r->raft);
}

uint64_t repl_last_applied(struct repl *r)
{
	return raft_last_applied(&r->raft);
}

uint64_t repl_last_index(struct repl *r)
{
	return raft_last_index(&r->raft);
}

int repl_match_index(struct repl *r, uint64_t id, uint64_t *index)
{
	raft_index i = 0;
	if (!repl_is_leader(r) || raft_match_index(&r->raft, id, &i) != 0)
		return -1;
	*index = i;
	return 0;
}

bool repl_transfer_pending(struct repl *r)
{
	return raft_transferee(&r->raft) != 0 || r->raft.transfer != NULL;
}

const char *repl_state_name(struct repl *r)
{
	return raft_state_name(raft_state(&r->raft));
}

static Callraft__MemberRole role_of_raft(int role)
{
	return role == RAFT_VOTER     ? CALLRAFT__MEMBER_ROLE__VOTER
	       : role == RAFT_STANDBY ? CALLRAFT__MEMBER_ROLE__STANDBY
				      : CALLRAFT__MEMBER_ROLE__SPARE;
}

Callraft__MemberRole repl_role_of(struct repl *r, uint64_t id, const char **raft_address)
{
	const struct raft_configuration *c = &r->raft.configuration;
	for (unsigned i = 0; i < c->n; i++) {
		if (c->servers[i].id == id) {
			if (raft_address != NULL)
				*raft_address = c->servers[i].address;
			return role_of_raft(c->servers[i].role);
		}
	}
	return CALLRAFT__MEMBER_ROLE__ROLE_NONE;
}

unsigned repl_configuration(struct repl *r, uint64_t *ids, Callraft__MemberRole *roles,
			    const char **addresses, unsigned max)
{
	const struct raft_configuration *c = &r->raft.configuration;
	unsigned n = 0;
	for (unsigned i = 0; i < c->n && n < max; i++, n++) {
		ids[n] = c->servers[i].id;
		roles[n] = role_of_raft(c->servers[i].role);
		addresses[n] = c->servers[i].address;
	}
	return n;
}

/* ------------------------------------------------------------------------------------------------
 * Proposals and barriers. */

static void apply_cb(struct raft_apply *req, int status, void *result)
{
	struct repl_op *op = req->data;
	(void)result; /* replies travel through fsm's on_applied, never through result */
	if (op->cb != NULL)
		op->cb(op->data, repl_code(status), raft_strerror(status), op->index);
	free(op);
}

Callraft__Code repl_propose(struct repl *r, const Callraft__Entry *entry, repl_done_cb cb,
			    void *data, uint64_t *index_out)
{
	struct raft_buffer b;
	struct repl_op *op;
	int rv;

	b.base = fsm_entry_encode(entry, &b.len);
	if (b.base == NULL) {
		snprintf(r->errmsg, sizeof r->errmsg, "%s", raft_strerror(RAFT_NOMEM));
		return CALLRAFT__CODE__UNAVAILABLE;
	}
	op = repl_op_new(r, cb, data);
	if (op == NULL) {
		raft_free(b.base);
		snprintf(r->errmsg, sizeof r->errmsg, "%s", raft_strerror(RAFT_NOMEM));
		return CALLRAFT__CODE__UNAVAILABLE;
	}
	op->req.apply.data = op;
	rv = raft_apply(&r->raft, &op->req.apply, &b, 1, apply_cb);
	if (rv != 0) {
		snprintf(r->errmsg, sizeof r->errmsg, "%s", raft_strerror(rv));
		/* raft 0.22's legacy layer copies the entry and frees our buffer before it appends;
		 * only the early leadership checks return with the buffer still ours. */
		if (rv == RAFT_NOTLEADER)
			raft_free(b.base);
		free(op);
		/* Anything but "not leader" is this node's trouble (memory, I/O): retry later. */
		return rv == RAFT_NOTLEADER ? CALLRAFT__CODE__NOT_LEADER : CALLRAFT__CODE__UNAVAILABLE;
	}
	op->index = op->req.apply.index;
	if (index_out != NULL)
		*index_out = op->index;
	return CALLRAFT__CODE__OK;
}

static void barrier_cb(struct raft_barrier *req, int status)
{
	struct repl_op *op = req->data;
	if (op->cb != NULL)
		op->cb(op->data, repl_code(status), raft_strerror(status), 0);
	free(op);
}

Callraft__Code repl_barrier(struct repl *r, repl_done_cb cb, void *data)
{
	struct repl_op *op = repl_op_new(r, cb, data);
	int rv;
	if (op == NULL) {
		snprintf(r->errmsg, sizeof r->errmsg, "raft: barrier: %s", raft_strerror(RAFT_NOMEM));
		return CALLRAFT__CODE__UNAVAILABLE;
	}
	op->req.barrier.data = op;
	rv = raft_barrier(&r->raft, &op->req.barrier, barrier_cb);
	if (rv != 0) {
		snprintf(r->errmsg, sizeof r->errmsg, "raft: barrier: %s", raft_strerror(rv));
		free(op);
		return rv == RAFT_NOTLEADER ? CALLRAFT__CODE__NOT_LEADER : CALLRAFT__CODE__UNAVAILABLE;
	}
	return CALLRAFT__CODE__OK;
}
