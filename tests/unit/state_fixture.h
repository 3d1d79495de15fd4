/* state_fixture.h: the state-model test fixture shared by the test_state_*.c files that drive the
 * FSM one command at a time (routing, events, stats, tickets, tokens, site scope, sessions,
 * campaigns; idem, with a second replica of its own): a scratch LMDB state, commands built as the
 * leader builds them (one entry per command, leader-stamped time and term, state_check after every
 * command), reads, and the scenario helpers
 * (register a client, tick, take/serve the next call). Define STATE_FIXTURE_NAME (the scratch
 * directory's prefix) before including it. Every function is static: a test file uses the ones it
 * needs. Setups: `setup` (an empty state), `setup_client` (and the PBX's session registered), or
 * fx_open from a file's own setup for other state options. */
#ifndef CALLRAFT_TESTS_STATE_FIXTURE_H
#define CALLRAFT_TESTS_STATE_FIXTURE_H

#ifndef STATE_FIXTURE_NAME
#error "define STATE_FIXTURE_NAME before including state_fixture.h"
#endif

/* Not every test file uses every helper. */
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
	const char *actor; /* if set, Command.actor of every command run (as a node stamps it) */
};

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* Opens (creating it if need be) the state in f->base/NAME with options o (NULL: the fixture's,
 * 64 MiB without sync). The caller closes it, unless it is f->s. */
static struct state *fx_state_at(const struct fx *f, const char *name,
				 const struct state_options *o)
{
	struct state_options defaults = {.map_bytes = 64u << 20, .no_sync = true};
	struct state *s;
	char err[256], dir[96];

	snprintf(dir, sizeof dir, "%s/%s", f->base, name);
	mkdir(dir, 0750);
	if (state_open(dir, o != NULL ? o : &defaults, &s, err, sizeof err) != 0)
		fail_msg("state_open %s: %s", dir, err);
	return s;
}

/* Opens a scratch state with options o (NULL: the fixture's) into *state (a struct fx the
 * teardown frees). */
static int fx_open(void **state, const struct state_options *o)
{
	struct fx *f = calloc(1, sizeof *f);

	snprintf(f->base, sizeof f->base, "/tmp/" STATE_FIXTURE_NAME ".XXXXXX");
	assert_non_null(mkdtemp(f->base));
	f->s = fx_state_at(f, "a", o);
	f->time_ms = T0;
	f->term = 2;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return fx_open(state, NULL);
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

/* A test case on a fresh state with the PBX's session registered, or on an empty one. */
#define FX_TEST(fn)	  cmocka_unit_test_setup_teardown(fn, setup_client, teardown)
#define FX_TEST_EMPTY(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* ---- applying commands ------------------------------------------------------------------ */

/* Applies `cmd` as it stands, alone in an entry at the next index with the fixture's time and
 * term, as the leader writes one. Returns state_apply's code (err says why when not 0); the
 * index advances only if it applied (0), and *out then holds the reply (valid until the next
 * apply). */
static int fx_apply(struct fx *f, Callraft__Command *cmd, struct state_replies *out, char *err,
		    size_t err_len)
{
	Callraft__Entry e = CALLRAFT__ENTRY__INIT;
	size_t len;
	int rc;

	e.format = CALLRAFT_ENTRY_FORMAT;
	e.time_ms = f->time_ms;
	e.term = f->term;
	e.n_commands = 1;
	e.commands = &cmd;
	len = callraft__entry__get_packed_size(&e);
	uint8_t *b = malloc(len);
	assert_non_null(b);
	callraft__entry__pack(&e, b);
	err[0] = '\0';
	rc = state_apply(f->s, f->index + 1, b, len, out, err, err_len);
	free(b);
	if (rc == 0)
		f->index++;
	return rc;
}

static Callraft__Reply *run(struct fx *f, Callraft__Command *cmd)
{
	struct state_replies out;
	char err[256];

	/* The fixture's session, unless the command names its own or is sessionless on purpose. */
	if (cmd->op_case != CALLRAFT__COMMAND__OP_REGISTER_CLIENT &&
	    cmd->op_case != CALLRAFT__COMMAND__OP_TICK && cmd->client_id == 0 &&
	    (cmd->idempotency_key == NULL || cmd->idempotency_key[0] == '\0')) {
		cmd->client_id = f->client_id;
		cmd->seq = ++f->seq;
	}
	if (f->actor != NULL)
		cmd->actor = (char *)f->actor;
	if (fx_apply(f, cmd, &out, err, sizeof err) != 0)
		fail_msg("state_apply: %s", err);
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
		Callraft__MemberUpsert mup;
		Callraft__MemberDelete mdel;
		Callraft__RulesDeclare rdecl;
		Callraft__RulesSet rset;
	} op;
	Callraft__Member member; /* op.mup's */
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

/* `agent ready` (push true: the FSM offers it calls itself, assign.c) or plain AVAILABLE. */
static Callraft__Command *c_ready(struct cb *b, const char *agent, bool push)
{
	SET_OP(b, AGENT_SET_STATE, agent_set_state, ss, CALLRAFT__AGENT_SET_STATE__INIT);
	b->op.ss.agent_id = (char *)agent;
	b->op.ss.state = CALLRAFT__AGENT_STATE__AVAILABLE;
	b->op.ss.push = push;
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

/* The value of `expr` over call `id`'s `call show` reply, named `r` in expr (the reply is freed
 * before the value is returned: copy strings out in expr). */
#define CALL_READ(f, id, r, expr)                                                                  \
	({                                                                                         \
		Callraft__Reply *r;                                                                \
		call_get((f), (id), &r);                                                           \
		__typeof__(expr) v_ = (expr);                                                      \
		callraft__reply__free_unpacked(r, NULL);                                           \
		v_;                                                                                \
	})

static Callraft__CallState call_state(struct fx *f, const char *id)
{
	return CALL_READ(f, id, r, r->call->state);
}

static bool call_is_callback(struct fx *f, const char *id)
{
	return CALL_READ(f, id, r, r->call->callback);
}

/* The caller's place in line (1 is next; 0 when not waiting). */
static uint64_t position_of(struct fx *f, const char *id)
{
	return CALL_READ(f, id, r, r->queue_position);
}

static Callraft__Agent *agent_get(struct fx *f, const char *id, Callraft__Reply **keep)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__AgentShow op = CALLRAFT__AGENT_SHOW__INIT;
	op.agent_id = (char *)id;
	q.op_case = CALLRAFT__REQUEST__OP_AGENT_SHOW;
	q.agent_show = &op;
	*keep = read_req(f, &q);
	assert_non_null((*keep)->agent);
	return (*keep)->agent;
}

/* As CALL_READ, over agent `id`'s `agent show` reply. */
#define AGENT_READ(f, id, r, expr)                                                                 \
	({                                                                                         \
		Callraft__Reply *r;                                                                \
		agent_get((f), (id), &r);                                                          \
		__typeof__(expr) v_ = (expr);                                                      \
		callraft__reply__free_unpacked(r, NULL);                                           \
		v_;                                                                                \
	})

static Callraft__AgentState agent_state(struct fx *f, const char *id)
{
	return AGENT_READ(f, id, r, r->agent->state);
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

/* The setup of a test that starts with the PBX's session registered. */
static int setup_client(void **state)
{
	setup(state);
	register_client(*state);
	return 0;
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

#endif
