/* test_state_events.c: unit tests of issue #14 on the state model: the event stream (state/
 * events.c: one event per change, in log order, positions within an entry, resume from a cursor,
 * filters, retention and COMPACTED, determinism) and pushed offers (state/assign.c, ready.c: the
 * FSM gives waiting calls to ready agents keeping the routing rules of routing.c). The fixture
 * (entries built as the leader builds them, state_check after every command) is the one of
 * test_state_routing.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "state.h"
#include "state_internal.h"

/* The fixture is shared with test_state_routing.c; not every helper is used here. */
#pragma GCC diagnostic ignored "-Wunused-function"

#define DAY_MS (24ll * 3600 * 1000)
#define T0     (20000 * DAY_MS) /* a day boundary (UTC midnight) */

struct fx {
	char base[64];
	struct state *s;
	uint64_t index;
	int64_t time_ms;
	uint64_t term;
	uint64_t client_id;
	uint64_t seq;
};

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	struct state_options o = {.map_bytes = 64u << 20, .no_sync = true};
	char err[256], dir[96];

	snprintf(f->base, sizeof f->base, "/tmp/test_state_events.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(dir, sizeof dir, "%s/a", f->base);
	mkdir(dir, 0750);
	if (state_open(dir, &o, &f->s, err, sizeof err) != 0)
		fail_msg("state_open: %s", err);
	f->time_ms = T0;
	f->term = 2;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char msg[256];

	if (state_check(f->s, msg, sizeof msg) != 0)
		fail_msg("%s", msg);
	state_close(f->s);
	nftw(f->base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* ---- applying commands ------------------------------------------------------------------ */

static Callraft__Reply *run(struct fx *f, Callraft__Command *cmd)
{
	Callraft__Entry e = CALLRAFT__ENTRY__INIT;
	struct state_replies out;
	char err[256];
	size_t len;

	if (cmd->op_case != CALLRAFT__COMMAND__OP_REGISTER_CLIENT &&
	    cmd->op_case != CALLRAFT__COMMAND__OP_TICK && cmd->client_id == 0) {
		cmd->client_id = f->client_id;
		cmd->seq = ++f->seq;
	}
	e.format = 1;
	e.time_ms = f->time_ms;
	e.term = f->term;
	e.n_commands = 1;
	e.commands = &cmd;
	len = callraft__entry__get_packed_size(&e);
	uint8_t *b = malloc(len);
	callraft__entry__pack(&e, b);
	if (state_apply(f->s, ++f->index, b, len, &out, err, sizeof err) != 0)
		fail_msg("state_apply: %s", err);
	free(b);
	assert_int_equal(out.n, 1);
	Callraft__Reply *r = callraft__reply__unpack(NULL, out.len[0], out.bytes[0]);
	assert_non_null(r);
	char msg[256];
	if (state_check(f->s, msg, sizeof msg) != 0)
		fail_msg("after %s: %s", validate_op_name(cmd), msg);
	return r;
}

#define EXPECT(f, cmd, want)                                                                       \
	do {                                                                                       \
		Callraft__Reply *r_ = run((f), (cmd));                                             \
		if (r_->code != (want))                                                            \
			fail_msg("line %d: code %d, want %d: %s", __LINE__, r_->code, (want),      \
				 r_->message);                                                     \
		callraft__reply__free_unpacked(r_, NULL);                                          \
	} while (0)
#define OK(f, cmd) EXPECT(f, cmd, CALLRAFT__CODE__OK)

/* One command of any kind, in caller-owned storage. */
struct cb {
	Callraft__Command cmd;
	union {
		Callraft__RegisterClient reg;
		Callraft__CallEnqueue enq;
		Callraft__CallNext next;
		Callraft__CallAnswer ans;
		Callraft__CallReject rej;
		Callraft__CallEnd end;
		Callraft__CallAbandon ab;
		Callraft__AgentLogin login;
		Callraft__AgentLogout logout;
		Callraft__AgentHeartbeat hb;
		Callraft__QueueConfigure qc;
		Callraft__SiteConfigure sc;
		Callraft__SiteDown down;
		Callraft__CallbackRequest cbr;
		Callraft__CallbackSchedule cbs;
		Callraft__CallbackVoicemail vm;
		Callraft__CallDialAttempt dial;
		Callraft__TicketOpen topen;
		Callraft__Tick tick;
		Callraft__AgentSetState ss;
		Callraft__SiteUp up;
	} op;
	Callraft__Int64Value i64[8];
	Callraft__Int32Value i32[4];
	Callraft__UInt32Value u32;
	char *skills[2];
};

#define SET_OP(b, CASE, field, member, INIT)                                                       \
	do {                                                                                       \
		(b)->cmd = (Callraft__Command)CALLRAFT__COMMAND__INIT;                             \
		(b)->op.member = (typeof((b)->op.member))INIT;                                     \
		(b)->cmd.op_case = CALLRAFT__COMMAND__OP_##CASE;                                   \
		(b)->cmd.field = &(b)->op.member;                                                  \
	} while (0)

static Callraft__Command *c_tick(struct cb *b)
{
	SET_OP(b, TICK, tick, tick, CALLRAFT__TICK__INIT);
	return &b->cmd;
}

static Callraft__Command *c_enqueue(struct cb *b, const char *id, const char *site, unsigned tier,
				    const char *number, const char *customer)
{
	SET_OP(b, CALL_ENQUEUE, call_enqueue, enq, CALLRAFT__CALL_ENQUEUE__INIT);
	b->op.enq.call_id = (char *)id;
	b->op.enq.queue = "sales";
	b->op.enq.arrival_site = (char *)site;
	b->op.enq.tier = tier;
	b->op.enq.caller_number = (char *)number;
	b->op.enq.customer_id = (char *)customer;
	return &b->cmd;
}

static Callraft__Command *c_login(struct cb *b, const char *agent, const char *site)
{
	SET_OP(b, AGENT_LOGIN, agent_login, login, CALLRAFT__AGENT_LOGIN__INIT);
	b->op.login.agent_id = (char *)agent;
	b->op.login.site = (char *)site;
	b->skills[0] = "sales";
	b->op.login.skills = b->skills;
	b->op.login.n_skills = 1;
	return &b->cmd;
}

static Callraft__Command *c_logout(struct cb *b, const char *agent)
{
	SET_OP(b, AGENT_LOGOUT, agent_logout, logout, CALLRAFT__AGENT_LOGOUT__INIT);
	b->op.logout.agent_id = (char *)agent;
	return &b->cmd;
}

static Callraft__Command *c_heartbeat(struct cb *b, const char *agent)
{
	SET_OP(b, AGENT_HEARTBEAT, agent_heartbeat, hb, CALLRAFT__AGENT_HEARTBEAT__INIT);
	b->op.hb.agent_id = (char *)agent;
	return &b->cmd;
}

static Callraft__Command *c_next(struct cb *b, const char *agent)
{
	SET_OP(b, CALL_NEXT, call_next, next, CALLRAFT__CALL_NEXT__INIT);
	b->op.next.agent_id = (char *)agent;
	return &b->cmd;
}

static Callraft__Command *c_answer(struct cb *b, const char *call, const char *agent, uint64_t term,
				   uint64_t index)
{
	SET_OP(b, CALL_ANSWER, call_answer, ans, CALLRAFT__CALL_ANSWER__INIT);
	b->op.ans.call_id = (char *)call;
	b->op.ans.agent_id = (char *)agent;
	b->op.ans.offer_term = term;
	b->op.ans.offer_index = index;
	return &b->cmd;
}

static Callraft__Command *c_reject(struct cb *b, const char *call, const char *agent, uint64_t term,
				   uint64_t index)
{
	SET_OP(b, CALL_REJECT, call_reject, rej, CALLRAFT__CALL_REJECT__INIT);
	b->op.rej.call_id = (char *)call;
	b->op.rej.agent_id = (char *)agent;
	b->op.rej.offer_term = term;
	b->op.rej.offer_index = index;
	return &b->cmd;
}

static Callraft__Command *c_end(struct cb *b, const char *call, const char *agent)
{
	SET_OP(b, CALL_END, call_end, end, CALLRAFT__CALL_END__INIT);
	b->op.end.call_id = (char *)call;
	b->op.end.agent_id = (char *)agent;
	return &b->cmd;
}

static Callraft__Command *c_abandon(struct cb *b, const char *call)
{
	SET_OP(b, CALL_ABANDON, call_abandon, ab, CALLRAFT__CALL_ABANDON__INIT);
	b->op.ab.call_id = (char *)call;
	return &b->cmd;
}

/* Queue "sales" config; a negative value leaves the field unset. */
static Callraft__Command *c_qconf(struct cb *b, int64_t overflow, int64_t offer, int64_t known,
				  int64_t aging, int64_t wrap)
{
	int64_t v[5] = {overflow, offer, known, aging, wrap};
	Callraft__Int64Value **fields[5];

	SET_OP(b, QUEUE_CONFIGURE, queue_configure, qc, CALLRAFT__QUEUE_CONFIGURE__INIT);
	fields[0] = &b->op.qc.overflow_after_ms;
	fields[1] = &b->op.qc.offer_timeout_ms;
	fields[2] = &b->op.qc.known_agent_timeout_ms;
	fields[3] = &b->op.qc.aging_ms_per_tier;
	fields[4] = &b->op.qc.wrap_up_ms;
	b->op.qc.queue = "sales";
	for (int i = 0; i < 5; i++) {
		if (v[i] < 0)
			continue;
		b->i64[i] = (Callraft__Int64Value)CALLRAFT__INT64_VALUE__INIT;
		b->i64[i].value = v[i];
		*fields[i] = &b->i64[i];
	}
	return &b->cmd;
}

static Callraft__Command *c_site_conf(struct cb *b, const char *site, int opens, int offset,
				      int64_t presence, int64_t loss)
{
	SET_OP(b, SITE_CONFIGURE, site_configure, sc, CALLRAFT__SITE_CONFIGURE__INIT);
	b->op.sc.site = (char *)site;
	for (int i = 0; i < 2; i++)
		b->i32[i] = (Callraft__Int32Value)CALLRAFT__INT32_VALUE__INIT;
	b->i32[0].value = opens;
	b->i32[1].value = offset;
	b->op.sc.opens_at_minute = &b->i32[0];
	b->op.sc.utc_offset_minutes = &b->i32[1];
	b->i64[0] = (Callraft__Int64Value)CALLRAFT__INT64_VALUE__INIT;
	b->i64[1] = (Callraft__Int64Value)CALLRAFT__INT64_VALUE__INIT;
	b->i64[0].value = presence;
	b->i64[1].value = loss;
	b->op.sc.presence_timeout_ms = &b->i64[0];
	b->op.sc.site_loss_after_ms = &b->i64[1];
	return &b->cmd;
}

/* ---- reads ------------------------------------------------------------------------------ */

static Callraft__Reply *read_req(struct fx *f, Callraft__Request *q)
{
	size_t len;
	uint8_t *b = state_read(f->s, q, &len);
	assert_non_null(b);
	Callraft__Reply *r = callraft__reply__unpack(NULL, len, b);
	assert_non_null(r);
	free(b);
	return r;
}

static Callraft__Call *call_get(struct fx *f, const char *id, Callraft__Reply **keep)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__CallShow op = CALLRAFT__CALL_SHOW__INIT;
	op.call_id = (char *)id;
	q.op_case = CALLRAFT__REQUEST__OP_CALL_SHOW;
	q.call_show = &op;
	*keep = read_req(f, &q);
	assert_non_null((*keep)->call);
	return (*keep)->call;
}

static Callraft__CallState call_state(struct fx *f, const char *id)
{
	Callraft__Reply *r;
	Callraft__CallState st = call_get(f, id, &r)->state;
	callraft__reply__free_unpacked(r, NULL);
	return st;
}

static bool call_is_callback(struct fx *f, const char *id)
{
	Callraft__Reply *r;
	bool cb = call_get(f, id, &r)->callback;
	callraft__reply__free_unpacked(r, NULL);
	return cb;
}

static Callraft__AgentState agent_state(struct fx *f, const char *id)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__AgentShow op = CALLRAFT__AGENT_SHOW__INIT;
	op.agent_id = (char *)id;
	q.op_case = CALLRAFT__REQUEST__OP_AGENT_SHOW;
	q.agent_show = &op;
	Callraft__Reply *r = read_req(f, &q);
	assert_non_null(r->agent);
	Callraft__AgentState st = r->agent->state;
	callraft__reply__free_unpacked(r, NULL);
	return st;
}

static Callraft__Reply *queue_show(struct fx *f)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__QueueShow op = CALLRAFT__QUEUE_SHOW__INIT;
	op.queue = "sales";
	q.op_case = CALLRAFT__REQUEST__OP_QUEUE_SHOW;
	q.queue_show = &op;
	return read_req(f, &q);
}

/* The queue's call ids in service order, space-separated. */
static void queue_order(struct fx *f, char *out, size_t len)
{
	Callraft__Reply *r = queue_show(f);
	out[0] = '\0';
	for (size_t i = 0; i < r->n_calls; i++)
		snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? " " : "",
			 r->calls[i]->call_id);
	callraft__reply__free_unpacked(r, NULL);
}

#define ASSERT_QUEUE(f, want)                                                                      \
	do {                                                                                       \
		char got_[512];                                                                    \
		queue_order((f), got_, sizeof got_);                                               \
		assert_string_equal(got_, (want));                                                 \
	} while (0)

/* ---- scenario helpers ------------------------------------------------------------------- */

static void register_client(struct fx *f)
{
	struct cb b;
	SET_OP(&b, REGISTER_CLIENT, register_client, reg, CALLRAFT__REGISTER_CLIENT__INIT);
	b.op.reg.name = "pbx";
	Callraft__Reply *r = run(f, &b.cmd);
	f->client_id = r->client_id;
	f->seq = 0;
	callraft__reply__free_unpacked(r, NULL);
}

static void tick(struct fx *f)
{
	struct cb b;
	OK(f, c_tick(&b));
}

/* `call next` for agent; returns the call id (static buffer) and the token, or NULL with
 * QUEUE_EMPTY. */
static const char *next(struct fx *f, const char *agent, uint64_t *term, uint64_t *index,
			bool *callback)
{
	static char id[CALLRAFT_ID_BYTES_MAX + 1];
	struct cb b;
	Callraft__Reply *r = run(f, c_next(&b, agent));

	if (r->code == CALLRAFT__CODE__QUEUE_EMPTY) {
		callraft__reply__free_unpacked(r, NULL);
		return NULL;
	}
	if (r->code != CALLRAFT__CODE__OK)
		fail_msg("call next %s: %d %s", agent, r->code, r->message);
	snprintf(id, sizeof id, "%s", r->call->call_id);
	if (term != NULL)
		*term = r->call->offer_term, *index = r->call->offer_index;
	if (callback != NULL)
		*callback = r->call->callback;
	callraft__reply__free_unpacked(r, NULL);
	return id;
}

/* Takes the next call, answers and ends it; returns its id (static buffer). */
static const char *serve(struct fx *f, const char *agent)
{
	uint64_t term, index;
	struct cb b;
	const char *id = next(f, agent, &term, &index, NULL);

	if (id == NULL)
		fail_msg("serve %s: queue empty", agent);
	OK(f, c_answer(&b, id, agent, term, index));
	OK(f, c_end(&b, id, agent));
	return id;
}


/* ---- issue #14 helpers ------------------------------------------------------------------ */

/* `agent ready` (push) or back to plain AVAILABLE (push false). */
static Callraft__Command *c_ready(struct cb *b, const char *agent, bool push)
{
	SET_OP(b, AGENT_SET_STATE, agent_set_state, ss, CALLRAFT__AGENT_SET_STATE__INIT);
	b->op.ss.agent_id = (char *)agent;
	b->op.ss.state = CALLRAFT__AGENT_STATE__AVAILABLE;
	b->op.ss.push = push;
	return &b->cmd;
}

static Callraft__Command *c_break(struct cb *b, const char *agent)
{
	SET_OP(b, AGENT_SET_STATE, agent_set_state, ss, CALLRAFT__AGENT_SET_STATE__INIT);
	b->op.ss.agent_id = (char *)agent;
	b->op.ss.state = CALLRAFT__AGENT_STATE__BREAK;
	b->op.ss.reason = "lunch";
	return &b->cmd;
}

struct filter {
	const char *queue, *site, *agent;
	Callraft__EventKind kind; /* NONE: every kind */
	uint32_t limit;
};

static Callraft__Reply *events(struct fx *f, uint64_t from_index, uint32_t from_position,
			       const struct filter *flt)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__EventsRead op = CALLRAFT__EVENTS_READ__INIT;
	Callraft__EventKind kind = flt != NULL ? flt->kind : 0;

	op.from_index = from_index;
	op.from_position = from_position;
	if (flt != NULL) {
		op.queue = (char *)(flt->queue ? flt->queue : "");
		op.site = (char *)(flt->site ? flt->site : "");
		op.agent_id = (char *)(flt->agent ? flt->agent : "");
		op.limit = flt->limit;
		if (kind != CALLRAFT__EVENT_KIND__EVENT_KIND_NONE) {
			op.kinds = &kind;
			op.n_kinds = 1;
		}
	}
	q.op_case = CALLRAFT__REQUEST__OP_EVENTS_READ;
	q.events_read = &op;
	return read_req(f, &q);
}

/* The kinds of the events from (from_index, 0) on, space-separated, with the call or agent id:
 * "CALL_QUEUED:c1 AGENT_STATE:a1 ...". Checks log order on the way. */
static void kinds(struct fx *f, uint64_t from_index, const struct filter *flt, char *out,
		  size_t len)
{
	Callraft__Reply *r = events(f, from_index, 0, flt);
	uint64_t last_index = 0;
	uint32_t last_pos = 0;

	if (r->code != CALLRAFT__CODE__OK)
		fail_msg("events_read: %d %s", r->code, r->message);
	out[0] = '\0';
	for (size_t i = 0; i < r->n_events; i++) {
		const Callraft__Event *e = r->events[i];
		if (i > 0 && (e->index < last_index || (e->index == last_index && e->position <= last_pos)))
			fail_msg("event %zu out of order: %llu.%u after %llu.%u", i,
				 (unsigned long long)e->index, e->position,
				 (unsigned long long)last_index, last_pos);
		last_index = e->index;
		last_pos = e->position;
		snprintf(out + strlen(out), len - strlen(out), "%s%s:%s", i ? " " : "",
			 state_event_kind_name(e->kind),
			 e->kind == CALLRAFT__EVENT_KIND__AGENT_STATE || e->call_id[0] == '\0'
			     ? e->agent_id
			     : e->call_id);
	}
	callraft__reply__free_unpacked(r, NULL);
}

#define ASSERT_EVENTS(f, from, flt, want)                                                          \
	do {                                                                                       \
		char got_[2048];                                                                   \
		kinds((f), (from), (flt), got_, sizeof got_);                                      \
		assert_string_equal(got_, (want));                                                 \
	} while (0)

static Callraft__Call *call_of(struct fx *f, const char *id, Callraft__Reply **keep)
{
	return call_get(f, id, keep);
}

static bool agent_push(struct fx *f, const char *id)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__AgentShow op = CALLRAFT__AGENT_SHOW__INIT;
	op.agent_id = (char *)id;
	q.op_case = CALLRAFT__REQUEST__OP_AGENT_SHOW;
	q.agent_show = &op;
	Callraft__Reply *r = read_req(f, &q);
	assert_non_null(r->agent);
	bool push = r->agent->push;
	callraft__reply__free_unpacked(r, NULL);
	return push;
}

/* ==== the event stream ==================================================================== */

static void test_every_change_of_a_call_is_one_event_in_log_order(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;

	register_client(f);
	uint64_t from = f->index + 1;
	OK(f, c_login(&b, "a1", "paris"));
	OK(f, c_enqueue(&b, "c1", "paris", 0, "+331", "cust-1"));
	assert_string_equal(next(f, "a1", &term, &index, NULL), "c1");
	OK(f, c_answer(&b, "c1", "a1", term, index));
	OK(f, c_end(&b, "c1", "a1"));
	OK(f, c_enqueue(&b, "c2", "paris", 0, "+332", ""));
	OK(f, c_abandon(&b, "c2"));
	ASSERT_EVENTS(f, from, NULL,
		      "AGENT_STATE:a1 CALL_QUEUED:c1 CALL_OFFERED:c1 AGENT_STATE:a1 CALL_ANSWERED:c1 "
		      "AGENT_STATE:a1 CALL_ENDED:c1 CALL_QUEUED:c2 CALL_ABANDONED:c2");
	/* The offer event carries the token the answer needs, and the agent. */
	struct filter offered = {.kind = CALLRAFT__EVENT_KIND__CALL_OFFERED};
	Callraft__Reply *r = events(f, from, 0, &offered);
	assert_int_equal(r->n_events, 1);
	assert_int_equal(r->events[0]->offer_term, term);
	assert_int_equal(r->events[0]->offer_index, index);
	assert_string_equal(r->events[0]->agent_id, "a1");
	assert_string_equal(r->events[0]->queue, "sales");
	assert_string_equal(r->events[0]->site, "paris");
	assert_int_equal(r->events[0]->at_ms, f->time_ms);
	callraft__reply__free_unpacked(r, NULL);
}

static void test_a_failed_command_emits_nothing_and_a_repeat_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;

	register_client(f);
	OK(f, c_login(&b, "a1", "paris"));
	OK(f, c_enqueue(&b, "c1", "paris", 0, "+331", ""));
	assert_non_null(next(f, "a1", &term, &index, NULL));
	uint64_t from = f->index + 1;
	EXPECT(f, c_answer(&b, "c1", "a1", term, index + 1), CALLRAFT__CODE__STALE_TOKEN);
	EXPECT(f, c_end(&b, "nope", "a1"), CALLRAFT__CODE__NOT_FOUND);
	OK(f, c_enqueue(&b, "c1", "paris", 0, "+331", "")); /* already enqueued */
	ASSERT_EVENTS(f, from, NULL, "");
	/* Nothing in the stream, yet the cursor moves on past the applied index. */
	Callraft__Reply *r = events(f, from, 0, NULL);
	assert_int_equal(r->next_index, f->index + 1);
	assert_int_equal(r->next_position, 0);
	callraft__reply__free_unpacked(r, NULL);
}

/* Several commands in one entry: positions order the events within the entry's index. */
static void test_positions_order_the_events_of_one_entry(void **state)
{
	struct fx *f = *state;
	struct cb b[3];
	Callraft__Entry e = CALLRAFT__ENTRY__INIT;
	Callraft__Command *cmds[3];
	struct state_replies out;
	char err[256];

	register_client(f);
	cmds[0] = c_enqueue(&b[0], "c1", "", 0, "+331", "");
	cmds[1] = c_enqueue(&b[1], "c2", "", 0, "+332", "");
	cmds[2] = c_login(&b[2], "a1", "paris");
	for (int i = 0; i < 3; i++) {
		cmds[i]->client_id = f->client_id;
		cmds[i]->seq = ++f->seq;
	}
	e.format = 1;
	e.time_ms = f->time_ms;
	e.term = f->term;
	e.n_commands = 3;
	e.commands = cmds;
	size_t len = callraft__entry__get_packed_size(&e);
	uint8_t *buf = malloc(len);
	callraft__entry__pack(&e, buf);
	assert_int_equal(state_apply(f->s, ++f->index, buf, len, &out, err, sizeof err), 0);
	free(buf);
	assert_int_equal(out.events, 3);
	Callraft__Reply *r = events(f, f->index, 0, NULL);
	assert_int_equal(r->n_events, 3);
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(r->events[i]->index, f->index);
		assert_int_equal(r->events[i]->position, i);
	}
	callraft__reply__free_unpacked(r, NULL);
	/* Resuming in the middle of the entry gets the rest of it, exactly once. */
	r = events(f, f->index, 2, NULL);
	assert_int_equal(r->n_events, 1);
	assert_string_equal(r->events[0]->agent_id, "a1");
	callraft__reply__free_unpacked(r, NULL);
}

static void test_resume_from_the_cursor_gets_every_event_once(void **state)
{
	struct fx *f = *state;
	struct cb b;
	char id[16];

	register_client(f);
	for (int i = 0; i < 7; i++) {
		snprintf(id, sizeof id, "c%d", i);
		OK(f, c_enqueue(&b, id, "", 0, "+331", ""));
	}
	char all[2048], pieces[2048] = "";
	kinds(f, 1, NULL, all, sizeof all);
	uint64_t index = 1;
	uint32_t pos = 0;
	for (int rounds = 0; rounds < 10; rounds++) {
		struct filter lim = {.limit = 2};
		Callraft__Reply *r = events(f, index, pos, &lim);
		assert_int_equal(r->code, CALLRAFT__CODE__OK);
		assert_true(r->n_events <= 2);
		for (size_t i = 0; i < r->n_events; i++)
			snprintf(pieces + strlen(pieces), sizeof pieces - strlen(pieces), "%s%s:%s",
				 pieces[0] ? " " : "", state_event_kind_name(r->events[i]->kind),
				 r->events[i]->call_id);
		index = r->next_index;
		pos = r->next_position;
		callraft__reply__free_unpacked(r, NULL);
	}
	assert_string_equal(pieces, all);
	assert_int_equal(index, f->index + 1);
}

static void test_filters_by_queue_site_agent_and_kind(void **state)
{
	struct fx *f = *state;
	struct cb b;

	register_client(f);
	OK(f, c_login(&b, "a1", "paris"));
	OK(f, c_login(&b, "a2", "lyon"));
	OK(f, c_enqueue(&b, "c1", "paris", 0, "+331", ""));
	OK(f, c_enqueue(&b, "c2", "lyon", 0, "+332", ""));
	assert_string_equal(next(f, "a2", NULL, NULL, NULL), "c2");
	struct filter by_site = {.site = "lyon"};
	ASSERT_EVENTS(f, 1, &by_site, "AGENT_STATE:a2 CALL_QUEUED:c2 CALL_OFFERED:c2 AGENT_STATE:a2");
	struct filter by_agent = {.agent = "a2", .kind = CALLRAFT__EVENT_KIND__CALL_OFFERED};
	ASSERT_EVENTS(f, 1, &by_agent, "CALL_OFFERED:c2");
	struct filter by_queue = {.queue = "sales", .kind = CALLRAFT__EVENT_KIND__CALL_QUEUED};
	ASSERT_EVENTS(f, 1, &by_queue, "CALL_QUEUED:c1 CALL_QUEUED:c2");
	struct filter none = {.queue = "support"};
	ASSERT_EVENTS(f, 1, &none, "");
	/* Bad filters are refused. */
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__EventsRead op = CALLRAFT__EVENTS_READ__INIT;
	Callraft__EventKind bad = 99;
	op.kinds = &bad;
	op.n_kinds = 1;
	q.op_case = CALLRAFT__REQUEST__OP_EVENTS_READ;
	q.events_read = &op;
	Callraft__Reply *r = read_req(f, &q);
	assert_int_equal(r->code, CALLRAFT__CODE__INVALID_ARGUMENT);
	callraft__reply__free_unpacked(r, NULL);
}

static void test_tickets_sites_and_members_are_events(void **state)
{
	struct fx *f = *state;
	struct cb b;

	register_client(f);
	uint64_t from = f->index + 1;
	SET_OP(&b, TICKET_OPEN, ticket_open, topen, CALLRAFT__TICKET_OPEN__INIT);
	b.op.topen.customer_id = "cust-1";
	b.op.topen.category = "billing";
	b.op.topen.subject = "wrong bill";
	OK(f, &b.cmd);
	SET_OP(&b, SITE_DOWN, site_down, down, CALLRAFT__SITE_DOWN__INIT);
	b.op.down.site = "lyon";
	b.op.down.reason = "fire";
	OK(f, &b.cmd);
	OK(f, &b.cmd); /* already down: no second event */
	SET_OP(&b, SITE_UP, site_up, up, CALLRAFT__SITE_UP__INIT);
	b.op.up.site = "lyon";
	OK(f, &b.cmd);
	Callraft__Reply *r = events(f, from, 0, NULL);
	assert_int_equal(r->n_events, 3);
	assert_int_equal(r->events[0]->kind, CALLRAFT__EVENT_KIND__TICKET_OPENED);
	assert_string_equal(r->events[0]->customer_id, "cust-1");
	assert_true(state_ticket_code_valid(r->events[0]->ticket_code));
	assert_int_equal(r->events[1]->kind, CALLRAFT__EVENT_KIND__SITE_LOST);
	assert_string_equal(r->events[1]->site, "lyon");
	assert_string_equal(r->events[1]->reason, "fire");
	assert_int_equal(r->events[2]->kind, CALLRAFT__EVENT_KIND__SITE_RESTORED);
	callraft__reply__free_unpacked(r, NULL);
}

/* Retention by age (FSM time): a day later the old events are trimmed by the next entries, and a
 * resume from before the trimmed index gets COMPACTED; from after it, the rest. */
static void test_events_older_than_retention_are_trimmed_and_resume_before_is_compacted(
    void **state)
{
	struct fx *f = *state;
	struct cb b;

	register_client(f);
	OK(f, c_enqueue(&b, "c1", "", 0, "+331", ""));
	OK(f, c_enqueue(&b, "c2", "", 0, "+332", ""));
	uint64_t old_last = f->index;
	f->time_ms += CALLRAFT_EVENTS_RETAINED_MS + 1;
	register_client(f); /* the session expired too (a day) */
	OK(f, c_enqueue(&b, "c3", "", 0, "+333", ""));
	Callraft__Reply *r = events(f, 1, 0, NULL);
	assert_int_equal(r->code, CALLRAFT__CODE__COMPACTED);
	assert_int_equal(r->next_index, old_last + 1);
	callraft__reply__free_unpacked(r, NULL);
	ASSERT_EVENTS(f, old_last + 2, NULL, "CALL_QUEUED:c3");
}

static int setup_small(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	struct state_options o = {.map_bytes = 64u << 20, .no_sync = true, .events_retained_max = 3};
	char err[256], dir[96];

	snprintf(f->base, sizeof f->base, "/tmp/test_state_events.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(dir, sizeof dir, "%s/a", f->base);
	mkdir(dir, 0750);
	if (state_open(dir, &o, &f->s, err, sizeof err) != 0)
		fail_msg("state_open: %s", err);
	f->time_ms = T0;
	f->term = 2;
	*state = f;
	return 0;
}

/* Retention by count (a state opened with a bound of 3): the table keeps the newest 3. */
static void test_events_beyond_the_count_bound_are_trimmed_oldest_first(void **state)
{
	struct fx *f = *state;
	struct cb b;
	char id[16], number[16];

	register_client(f);
	for (int i = 0; i < 6; i++) { /* six callers: one number would be one caller redialling */
		snprintf(id, sizeof id, "c%d", i);
		snprintf(number, sizeof number, "+33100%d", i);
		OK(f, c_enqueue(&b, id, "", 0, number, ""));
	}
	ASSERT_EVENTS(f, f->index - 2, NULL, "CALL_QUEUED:c3 CALL_QUEUED:c4 CALL_QUEUED:c5");
	Callraft__Reply *r = events(f, f->index - 3, 0, NULL);
	assert_int_equal(r->code, CALLRAFT__CODE__COMPACTED);
	callraft__reply__free_unpacked(r, NULL);
}

/* ==== pushed offers ======================================================================= */

static void test_a_call_arriving_is_offered_to_a_ready_agent_in_the_same_entry(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *keep;

	register_client(f);
	OK(f, c_login(&b, "a1", "paris"));
	OK(f, c_ready(&b, "a1", true));
	assert_true(agent_push(f, "a1"));
	OK(f, c_enqueue(&b, "c1", "paris", 0, "+331", ""));
	uint64_t at = f->index;
	Callraft__Call *call = call_of(f, "c1", &keep);
	assert_int_equal(call->state, CALLRAFT__CALL_STATE__OFFERED);
	assert_string_equal(call->agent_id, "a1");
	uint64_t term = call->offer_term, index = call->offer_index;
	assert_int_equal(index >> CALLRAFT_BATCH_POSITION_BITS, at);
	callraft__reply__free_unpacked(keep, NULL);
	ASSERT_EVENTS(f, at, NULL, "CALL_QUEUED:c1 CALL_OFFERED:c1 AGENT_STATE:a1");
	/* The token of the pushed offer answers it, as with a pulled one. */
	OK(f, c_answer(&b, "c1", "a1", term, index));
	OK(f, c_end(&b, "c1", "a1"));
	/* Still ready after the talk (wrap-up 0): the next call is offered at once. */
	assert_true(agent_push(f, "a1"));
	OK(f, c_enqueue(&b, "c2", "paris", 0, "+332", ""));
	assert_int_equal(call_state(f, "c2"), CALLRAFT__CALL_STATE__OFFERED);
}

static void test_an_agent_becoming_ready_gets_the_best_waiting_call(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *keep;

	register_client(f);
	OK(f, c_enqueue(&b, "low", "paris", 0, "+331", ""));
	OK(f, c_enqueue(&b, "gold", "paris", 2, "+332", ""));
	OK(f, c_login(&b, "a1", "paris"));
	assert_int_equal(call_state(f, "low"), CALLRAFT__CALL_STATE__WAITING); /* not ready yet */
	OK(f, c_ready(&b, "a1", true));
	Callraft__Call *call = call_of(f, "gold", &keep); /* the higher tier first */
	assert_int_equal(call->state, CALLRAFT__CALL_STATE__OFFERED);
	callraft__reply__free_unpacked(keep, NULL);
	ASSERT_QUEUE(f, "low");
}

static void test_the_agent_idle_longest_gets_the_call(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *keep;

	register_client(f);
	OK(f, c_login(&b, "a2", "paris"));
	f->time_ms += 1000;
	OK(f, c_login(&b, "a1", "paris"));
	OK(f, c_ready(&b, "a1", true));
	OK(f, c_ready(&b, "a2", true)); /* ready later, but AVAILABLE (idle) for longer */
	OK(f, c_enqueue(&b, "c1", "paris", 0, "+331", ""));
	Callraft__Call *call = call_of(f, "c1", &keep);
	assert_string_equal(call->agent_id, "a2");
	callraft__reply__free_unpacked(keep, NULL);
}

static void test_a_rejected_offer_makes_the_agent_not_ready_and_goes_to_the_next(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *keep;

	register_client(f);
	OK(f, c_login(&b, "a1", "paris"));
	OK(f, c_ready(&b, "a1", true));
	OK(f, c_enqueue(&b, "c1", "paris", 0, "+331", ""));
	OK(f, c_enqueue(&b, "c0", "paris", 0, "+330", ""));
	Callraft__Call *call = call_of(f, "c1", &keep);
	uint64_t term = call->offer_term, index = call->offer_index;
	callraft__reply__free_unpacked(keep, NULL);
	OK(f, c_login(&b, "a2", "paris"));
	OK(f, c_ready(&b, "a2", true)); /* takes c0 */
	assert_int_equal(call_state(f, "c0"), CALLRAFT__CALL_STATE__OFFERED);
	OK(f, c_login(&b, "a3", "paris"));
	OK(f, c_ready(&b, "a3", true)); /* nothing left */
	OK(f, c_reject(&b, "c1", "a1", term, index));
	/* a1 declined: not ready; the call, back in its place, goes to a3 in the same entry. */
	assert_false(agent_push(f, "a1"));
	assert_int_equal(agent_state(f, "a1"), CALLRAFT__AGENT_STATE__AVAILABLE);
	call = call_of(f, "c1", &keep);
	assert_int_equal(call->state, CALLRAFT__CALL_STATE__OFFERED);
	assert_string_equal(call->agent_id, "a3");
	callraft__reply__free_unpacked(keep, NULL);
}

static void test_an_offer_timing_out_goes_back_and_the_agent_is_not_ready(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *keep;

	register_client(f);
	OK(f, c_qconf(&b, -1, 2000, -1, -1, -1));
	OK(f, c_login(&b, "a1", "paris"));
	OK(f, c_ready(&b, "a1", true));
	OK(f, c_enqueue(&b, "c1", "paris", 0, "+331", ""));
	OK(f, c_login(&b, "a2", "paris"));
	OK(f, c_ready(&b, "a2", true));
	assert_int_equal(agent_state(f, "a2"), CALLRAFT__AGENT_STATE__AVAILABLE);
	f->time_ms += 2000;
	OK(f, c_heartbeat(&b, "a2"));
	tick(f);
	assert_false(agent_push(f, "a1"));
	Callraft__Call *call = call_of(f, "c1", &keep);
	assert_int_equal(call->state, CALLRAFT__CALL_STATE__OFFERED);
	assert_string_equal(call->agent_id, "a2");
	assert_int_equal(call->offers, 2);
	callraft__reply__free_unpacked(keep, NULL);
}

/* The site rule holds for pushed offers: a call of another site is offered only once it has waited
 * overflow_after_ms, which the Tick's sweep notices. */
static void test_overflow_to_another_site_is_pushed_by_the_tick(void **state)
{
	struct fx *f = *state;
	struct cb b;

	register_client(f);
	OK(f, c_qconf(&b, 10000, -1, -1, -1, -1));
	OK(f, c_login(&b, "a1", "paris"));
	OK(f, c_ready(&b, "a1", true));
	OK(f, c_enqueue(&b, "c1", "lyon", 0, "+331", ""));
	assert_int_equal(call_state(f, "c1"), CALLRAFT__CALL_STATE__WAITING);
	f->time_ms += 9999;
	OK(f, c_heartbeat(&b, "a1"));
	tick(f);
	assert_int_equal(call_state(f, "c1"), CALLRAFT__CALL_STATE__WAITING);
	f->time_ms += 1;
	tick(f);
	assert_int_equal(call_state(f, "c1"), CALLRAFT__CALL_STATE__OFFERED);
}

static void test_not_ready_agents_are_never_pushed_to(void **state)
{
	struct fx *f = *state;
	struct cb b;

	register_client(f);
	OK(f, c_login(&b, "pull", "paris"));   /* AVAILABLE, but pulls */
	OK(f, c_login(&b, "brk", "paris"));
	OK(f, c_ready(&b, "brk", true));
	OK(f, c_break(&b, "brk"));            /* a break clears ready */
	OK(f, c_enqueue(&b, "c1", "paris", 0, "+331", ""));
	tick(f);
	assert_int_equal(call_state(f, "c1"), CALLRAFT__CALL_STATE__WAITING);
	assert_false(agent_push(f, "brk"));
	/* push is refused with any state but AVAILABLE. */
	SET_OP(&b, AGENT_SET_STATE, agent_set_state, ss, CALLRAFT__AGENT_SET_STATE__INIT);
	b.op.ss.agent_id = "brk";
	b.op.ss.state = CALLRAFT__AGENT_STATE__BREAK;
	b.op.ss.push = true;
	EXPECT(f, &b.cmd, CALLRAFT__CODE__INVALID_ARGUMENT);
	/* A pull client still works. */
	assert_string_equal(next(f, "pull", NULL, NULL, NULL), "c1");
}

/* Idle ready agents: a Tick with no call waiting changes nothing but the FSM time, and adds no
 * event. */
static void test_idle_ready_agents_cost_a_tick_nothing(void **state)
{
	struct fx *f = *state;
	struct cb b;
	char id[16];

	register_client(f);
	for (int i = 0; i < 20; i++) {
		snprintf(id, sizeof id, "a%d", i);
		OK(f, c_login(&b, id, "paris"));
		OK(f, c_ready(&b, id, true));
	}
	uint64_t from = f->index + 1;
	for (int i = 0; i < 5; i++)
		tick(f);
	ASSERT_EVENTS(f, from, NULL, "");
}

/* Two replicas applying the same entries (pushed offers, rejects, ticks, trims) hold the same
 * tables, events and ready index included. */
static void test_two_replicas_make_the_same_offers_and_events(void **state)
{
	struct fx *f = *state;
	struct fx g = *f;
	struct state_options o = {.map_bytes = 64u << 20, .no_sync = true};
	char err[256], dir[96];

	snprintf(dir, sizeof dir, "%s/b", f->base);
	mkdir(dir, 0750);
	if (state_open(dir, &o, &g.s, err, sizeof err) != 0)
		fail_msg("state_open: %s", err);
	struct fx *r[2] = {f, &g};
	for (int k = 0; k < 2; k++) {
		struct cb b;
		struct fx *x = r[k];
		register_client(x);
		OK(x, c_qconf(&b, 3000, 2000, -1, 1000, -1));
		for (int i = 0; i < 4; i++) {
			char id[16];
			snprintf(id, sizeof id, "a%d", i);
			OK(x, c_login(&b, id, i % 2 ? "paris" : "lyon"));
			OK(x, c_ready(&b, id, i != 3));
		}
		for (int i = 0; i < 12; i++) {
			char id[16];
			snprintf(id, sizeof id, "c%d", i);
			x->time_ms += 700;
			OK(x, c_enqueue(&b, id, i % 3 ? "paris" : "lyon", (unsigned)(i % 4), "+33", ""));
			tick(x);
		}
		for (int i = 0; i < 8; i++) {
			x->time_ms += 600;
			OK(x, c_heartbeat(&b, "a0"));
			tick(x);
		}
	}
	assert_int_equal(f->index, g.index);
	assert_true(state_digest(f->s) == state_digest(g.s));
	char ef[8192], eg[8192];
	kinds(f, 1, NULL, ef, sizeof ef);
	kinds(&g, 1, NULL, eg, sizeof eg);
	assert_string_equal(ef, eg);
	assert_non_null(strstr(ef, "CALL_OFFERED"));
	assert_non_null(strstr(ef, "CALL_REQUEUED"));
	if (state_check(g.s, err, sizeof err) != 0)
		fail_msg("%s", err);
	state_close(g.s);
}


/* A site loss (issue 12's rules) emits through the central hooks: SITE_LOST, its waiting callers
 * made callbacks, its call in progress ended with a callback in its place, its agent unreachable. */
static void test_a_site_loss_is_in_the_stream(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t term, index;
	char got[2048];

	register_client(f);
	OK(f, c_login(&b, "t-agent", "tehran"));
	OK(f, c_enqueue(&b, "t0", "tehran", 0, "+9821000000", ""));
	assert_string_equal(next(f, "t-agent", &term, &index, NULL), "t0");
	OK(f, c_answer(&b, "t0", "t-agent", term, index));
	OK(f, c_enqueue(&b, "t1", "tehran", 0, "+9821000001", ""));
	uint64_t from = f->index + 1;
	SET_OP(&b, SITE_DOWN, site_down, down, CALLRAFT__SITE_DOWN__INIT);
	b.op.down.site = "tehran";
	OK(f, &b.cmd);
	kinds(f, from, NULL, got, sizeof got);
	assert_non_null(strstr(got, "SITE_LOST:"));
	assert_non_null(strstr(got, "CALL_CALLBACK:t1"));
	assert_non_null(strstr(got, "CALL_ENDED:t0"));
	assert_non_null(strstr(got, "AGENT_STATE:t-agent"));
	/* Every event of the loss is of its entry. */
	Callraft__Reply *r = events(f, from, 0, NULL);
	for (size_t i = 0; i < r->n_events; i++)
		assert_int_equal(r->events[i]->index, from);
	callraft__reply__free_unpacked(r, NULL);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_every_change_of_a_call_is_one_event_in_log_order),
	    T(test_a_failed_command_emits_nothing_and_a_repeat_changes_nothing),
	    T(test_positions_order_the_events_of_one_entry),
	    T(test_resume_from_the_cursor_gets_every_event_once),
	    T(test_filters_by_queue_site_agent_and_kind),
	    T(test_tickets_sites_and_members_are_events),
	    T(test_events_older_than_retention_are_trimmed_and_resume_before_is_compacted),
	    cmocka_unit_test_setup_teardown(
		test_events_beyond_the_count_bound_are_trimmed_oldest_first, setup_small, teardown),
	    T(test_a_call_arriving_is_offered_to_a_ready_agent_in_the_same_entry),
	    T(test_an_agent_becoming_ready_gets_the_best_waiting_call),
	    T(test_the_agent_idle_longest_gets_the_call),
	    T(test_a_rejected_offer_makes_the_agent_not_ready_and_goes_to_the_next),
	    T(test_an_offer_timing_out_goes_back_and_the_agent_is_not_ready),
	    T(test_overflow_to_another_site_is_pushed_by_the_tick),
	    T(test_not_ready_agents_are_never_pushed_to),
	    T(test_idle_ready_agents_cost_a_tick_nothing),
	    T(test_two_replicas_make_the_same_offers_and_events),
	    T(test_a_site_loss_is_in_the_stream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
