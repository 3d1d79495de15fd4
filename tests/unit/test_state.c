/* test_state.c: unit tests of state/ (the FSM over LMDB).
 *
 * Entries are built as the leader would: Callraft__Entry{format 1, time_ms, term, commands}, packed
 * and applied at increasing indexes. Each test gets a fresh environment in a temporary directory.
 * Some checks are white-box (they include state_internal.h to count or hash single tables), so that
 * "nothing stored changed" can be proven on the business tables alone while the session table
 * legitimately records a seq. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"
#include "state_internal.h"

#define MAP_BYTES (64u << 20)

/* ---- fixture ---------------------------------------------------------------------------- */

struct fx {
	char base[64];   /* temporary directory holding the environments */
	char dir[96];    /* <base>/a: the main state */
	struct state *s;
	uint64_t index;  /* last index applied through the helpers */
	int64_t time_ms; /* time stamped on the next entry */
	uint64_t term;
	uint64_t client_id;
	uint64_t seq;
};

static struct state *open_at(const char *dir)
{
	struct state_options o = {.map_bytes = MAP_BYTES, .no_sync = true};
	struct state *s;
	char err[256];

	mkdir(dir, 0750);
	int rc = state_open(dir, &o, &s, err, sizeof err);
	if (rc != 0)
		fail_msg("state_open: %s", err);
	return s;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);

	snprintf(f->base, sizeof f->base, "/tmp/test_state.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->dir, sizeof f->dir, "%s/a", f->base);
	f->s = open_at(f->dir);
	f->time_ms = 1000;
	f->term = 1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	state_close(f->s);
	nftw(f->base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* ---- entries and replies ---------------------------------------------------------------- */

static uint8_t *pack_entry(int64_t time_ms, uint64_t term, Callraft__Command **cmds, size_t n,
			   size_t *len)
{
	Callraft__Entry e = CALLRAFT__ENTRY__INIT;
	uint8_t *b;

	e.format = 1;
	e.time_ms = time_ms;
	e.term = term;
	e.n_commands = n;
	e.commands = cmds;
	*len = callraft__entry__get_packed_size(&e);
	b = malloc(*len + 1);
	callraft__entry__pack(&e, b);
	return b;
}

/* Applies raw bytes at index; asserts the return code. */
static void apply_raw(struct state *s, uint64_t index, const void *b, size_t len,
		      struct state_replies *out, int want)
{
	char err[256] = "";
	int rc = state_apply(s, index, b, len, out, err, sizeof err);

	if (rc != want)
		fail_msg("state_apply(%llu) = %d, want %d: %s", (unsigned long long)index, rc, want, err);
}

static Callraft__Reply *decode(const struct state_replies *out, size_t i)
{
	assert_true(i < out->n);
	Callraft__Reply *r = callraft__reply__unpack(NULL, out->len[i], out->bytes[i]);
	assert_non_null(r);
	return r;
}

/* Applies a batch at the next index; returns the decoded replies (free with free_replies). */
static Callraft__Reply **apply_batch(struct fx *f, struct state *s, Callraft__Command **cmds,
				     size_t n)
{
	struct state_replies out;
	size_t len;
	uint8_t *b = pack_entry(f->time_ms, f->term, cmds, n, &len);
	Callraft__Reply **r = calloc(n + 1, sizeof *r);

	apply_raw(s, ++f->index, b, len, &out, 0);
	assert_int_equal(out.n, n);
	for (size_t i = 0; i < n; i++)
		r[i] = decode(&out, i);
	free(b);
	return r;
}

static void free_replies(Callraft__Reply **r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		callraft__reply__free_unpacked(r[i], NULL);
	free(r);
}

/* Applies one command as the fixture's client (stamping client_id and the next seq unless set). */
static Callraft__Reply *run(struct fx *f, Callraft__Command *cmd)
{
	if (cmd->op_case != CALLRAFT__COMMAND__OP_REGISTER_CLIENT && cmd->client_id == 0 &&
	    cmd->op_case != CALLRAFT__COMMAND__OP_MEMBER_UPSERT &&
	    cmd->op_case != CALLRAFT__COMMAND__OP_MEMBER_DELETE) {
		cmd->client_id = f->client_id;
		if (cmd->seq == 0)
			cmd->seq = ++f->seq;
	}
	Callraft__Reply **rs = apply_batch(f, f->s, &cmd, 1);
	Callraft__Reply *r = rs[0];
	free(rs);
	return r;
}

static void empty_entry(struct fx *f, struct state *s)
{
	free_replies(apply_batch(f, s, NULL, 0), 0);
}

/* Runs a command and checks its code; returns nothing. */
#define RUN_CODE(f, cmd, want)                                                                   \
	do {                                                                                     \
		Callraft__Reply *r_ = run((f), (cmd));                                           \
		if (r_->code != (want))                                                          \
			fail_msg("code %d, want %d: %s", r_->code, (want), r_->message);         \
		callraft__reply__free_unpacked(r_, NULL);                                        \
	} while (0)

/* ---- command builders (each fills a caller-owned buffer) -------------------------------- */

struct cb {
	Callraft__Command cmd;
	union {
		Callraft__RegisterClient reg;
		Callraft__CallEnqueue enq;
		Callraft__CallNext next;
		Callraft__CallAnswer ans;
		Callraft__CallEnd end;
		Callraft__CallAbandon ab;
		Callraft__AgentLogin login;
		Callraft__AgentSetState set;
		Callraft__AgentLogout logout;
		Callraft__TicketOpen topen;
		Callraft__TicketUpdate tupd;
		Callraft__MemberUpsert mup;
		Callraft__MemberDelete mdel;
	} op;
	Callraft__Member member;
	char *skills[CALLRAFT_AGENT_SKILLS_MAX + 1];
	char number[24];
};

static Callraft__Command *c_register(struct cb *b, const char *name)
{
	b->cmd = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	b->op.reg = (Callraft__RegisterClient)CALLRAFT__REGISTER_CLIENT__INIT;
	b->op.reg.name = (char *)name;
	b->cmd.op_case = CALLRAFT__COMMAND__OP_REGISTER_CLIENT;
	b->cmd.register_client = &b->op.reg;
	return &b->cmd;
}

static Callraft__Command *c_enqueue(struct cb *b, const char *call_id, const char *queue,
				    unsigned tier)
{
	b->cmd = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	b->op.enq = (Callraft__CallEnqueue)CALLRAFT__CALL_ENQUEUE__INIT;
	b->op.enq.call_id = (char *)call_id;
	b->op.enq.queue = (char *)queue;
	b->op.enq.tier = tier;
	/* One caller per call id: the same number in the same queue would be a redial (merged). */
	unsigned h = 5381;
	for (const char *p = call_id; *p != '\0'; p++)
		h = h * 33 + (unsigned char)*p;
	snprintf(b->number, sizeof b->number, "+98%010u", h);
	b->op.enq.caller_number = b->number;
	b->op.enq.arrival_site = "tehran";
	b->cmd.op_case = CALLRAFT__COMMAND__OP_CALL_ENQUEUE;
	b->cmd.call_enqueue = &b->op.enq;
	return &b->cmd;
}

static Callraft__Command *c_next(struct cb *b, const char *agent_id)
{
	b->cmd = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	b->op.next = (Callraft__CallNext)CALLRAFT__CALL_NEXT__INIT;
	b->op.next.agent_id = (char *)agent_id;
	b->cmd.op_case = CALLRAFT__COMMAND__OP_CALL_NEXT;
	b->cmd.call_next = &b->op.next;
	return &b->cmd;
}

static Callraft__Command *c_answer(struct cb *b, const char *call_id, const char *agent_id,
				   uint64_t term, uint64_t index)
{
	b->cmd = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	b->op.ans = (Callraft__CallAnswer)CALLRAFT__CALL_ANSWER__INIT;
	b->op.ans.call_id = (char *)call_id;
	b->op.ans.agent_id = (char *)agent_id;
	b->op.ans.offer_term = term;
	b->op.ans.offer_index = index;
	b->cmd.op_case = CALLRAFT__COMMAND__OP_CALL_ANSWER;
	b->cmd.call_answer = &b->op.ans;
	return &b->cmd;
}

static Callraft__Command *c_end(struct cb *b, const char *call_id, const char *agent_id)
{
	b->cmd = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	b->op.end = (Callraft__CallEnd)CALLRAFT__CALL_END__INIT;
	b->op.end.call_id = (char *)call_id;
	b->op.end.agent_id = (char *)agent_id;
	b->cmd.op_case = CALLRAFT__COMMAND__OP_CALL_END;
	b->cmd.call_end = &b->op.end;
	return &b->cmd;
}

static Callraft__Command *c_abandon(struct cb *b, const char *call_id)
{
	b->cmd = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	b->op.ab = (Callraft__CallAbandon)CALLRAFT__CALL_ABANDON__INIT;
	b->op.ab.call_id = (char *)call_id;
	b->cmd.op_case = CALLRAFT__COMMAND__OP_CALL_ABANDON;
	b->cmd.call_abandon = &b->op.ab;
	return &b->cmd;
}

/* skills: a NULL-terminated list */
static Callraft__Command *c_login(struct cb *b, const char *agent_id, const char *site, ...)
{
	va_list ap;
	size_t n = 0;
	const char *sk;

	b->cmd = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	b->op.login = (Callraft__AgentLogin)CALLRAFT__AGENT_LOGIN__INIT;
	b->op.login.agent_id = (char *)agent_id;
	b->op.login.name = "Sara Ahmadi";
	b->op.login.site = (char *)site;
	va_start(ap, site);
	while ((sk = va_arg(ap, const char *)) != NULL)
		b->skills[n++] = (char *)sk;
	va_end(ap);
	b->op.login.n_skills = n;
	b->op.login.skills = b->skills;
	b->cmd.op_case = CALLRAFT__COMMAND__OP_AGENT_LOGIN;
	b->cmd.agent_login = &b->op.login;
	return &b->cmd;
}

static Callraft__Command *c_set_state(struct cb *b, const char *agent_id, Callraft__AgentState st,
				      const char *reason)
{
	b->cmd = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	b->op.set = (Callraft__AgentSetState)CALLRAFT__AGENT_SET_STATE__INIT;
	b->op.set.agent_id = (char *)agent_id;
	b->op.set.state = st;
	b->op.set.reason = (char *)reason;
	b->cmd.op_case = CALLRAFT__COMMAND__OP_AGENT_SET_STATE;
	b->cmd.agent_set_state = &b->op.set;
	return &b->cmd;
}

static Callraft__Command *c_logout(struct cb *b, const char *agent_id)
{
	b->cmd = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	b->op.logout = (Callraft__AgentLogout)CALLRAFT__AGENT_LOGOUT__INIT;
	b->op.logout.agent_id = (char *)agent_id;
	b->cmd.op_case = CALLRAFT__COMMAND__OP_AGENT_LOGOUT;
	b->cmd.agent_logout = &b->op.logout;
	return &b->cmd;
}

static Callraft__Command *c_topen(struct cb *b, const char *customer, const char *call_id,
				  const char *note)
{
	b->cmd = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	b->op.topen = (Callraft__TicketOpen)CALLRAFT__TICKET_OPEN__INIT;
	b->op.topen.customer_id = (char *)customer;
	b->op.topen.call_id = (char *)call_id;
	b->op.topen.category = "billing";
	b->op.topen.subject = "Double charge on invoice";
	b->op.topen.note = (char *)note;
	b->op.topen.author = "agent7";
	b->cmd.op_case = CALLRAFT__COMMAND__OP_TICKET_OPEN;
	b->cmd.ticket_open = &b->op.topen;
	return &b->cmd;
}

static Callraft__Command *c_tupdate(struct cb *b, const char *code, Callraft__TicketStatus st,
				    const char *note)
{
	b->cmd = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	b->op.tupd = (Callraft__TicketUpdate)CALLRAFT__TICKET_UPDATE__INIT;
	b->op.tupd.code = (char *)code;
	b->op.tupd.status = st;
	b->op.tupd.note = (char *)note;
	b->op.tupd.author = "agent7";
	b->cmd.op_case = CALLRAFT__COMMAND__OP_TICKET_UPDATE;
	b->cmd.ticket_update = &b->op.tupd;
	return &b->cmd;
}

static Callraft__Command *c_member_upsert(struct cb *b, uint64_t id, const char *site)
{
	b->cmd = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	b->op.mup = (Callraft__MemberUpsert)CALLRAFT__MEMBER_UPSERT__INIT;
	b->member = (Callraft__Member)CALLRAFT__MEMBER__INIT;
	b->member.id = id;
	b->member.site = (char *)site;
	b->member.raft_address = "10.0.0.1:7001";
	b->member.client_address = "10.0.0.1:7002";
	b->member.role = CALLRAFT__MEMBER_ROLE__VOTER;
	b->member.in_configuration = 1;
	b->op.mup.member = &b->member;
	b->cmd.op_case = CALLRAFT__COMMAND__OP_MEMBER_UPSERT;
	b->cmd.member_upsert = &b->op.mup;
	return &b->cmd;
}

static Callraft__Command *c_member_delete(struct cb *b, uint64_t id)
{
	b->cmd = (Callraft__Command)CALLRAFT__COMMAND__INIT;
	b->op.mdel = (Callraft__MemberDelete)CALLRAFT__MEMBER_DELETE__INIT;
	b->op.mdel.id = id;
	b->cmd.op_case = CALLRAFT__COMMAND__OP_MEMBER_DELETE;
	b->cmd.member_delete = &b->op.mdel;
	return &b->cmd;
}

/* Registers the fixture's client. */
static void register_client(struct fx *f)
{
	struct cb b;
	Callraft__Reply *r = run(f, c_register(&b, "pbx-1"));

	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	f->client_id = r->client_id;
	f->seq = 0;
	callraft__reply__free_unpacked(r, NULL);
}

/* Registers the client and logs agent a1 in at tehran with the given skill. */
static void with_agent(struct fx *f, const char *skill)
{
	struct cb b;

	register_client(f);
	RUN_CODE(f, c_login(&b, "a1", "tehran", skill, NULL), CALLRAFT__CODE__OK);
}

/* ---- reads ------------------------------------------------------------------------------ */

static Callraft__Reply *read_req(struct state *s, Callraft__Request *q)
{
	size_t len;
	uint8_t *b = state_read(s, q, &len);
	assert_non_null(b);
	Callraft__Reply *r = callraft__reply__unpack(NULL, len, b);
	assert_non_null(r);
	free(b);
	return r;
}

static Callraft__Reply *call_show(struct state *s, const char *call_id)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__CallShow op = CALLRAFT__CALL_SHOW__INIT;
	op.call_id = (char *)call_id;
	q.request_id = 77;
	q.op_case = CALLRAFT__REQUEST__OP_CALL_SHOW;
	q.call_show = &op;
	return read_req(s, &q);
}

static Callraft__Reply *agent_show(struct state *s, const char *agent_id)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__AgentShow op = CALLRAFT__AGENT_SHOW__INIT;
	op.agent_id = (char *)agent_id;
	q.op_case = CALLRAFT__REQUEST__OP_AGENT_SHOW;
	q.agent_show = &op;
	return read_req(s, &q);
}

static Callraft__Reply *queue_show(struct state *s, const char *queue, uint32_t limit)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__QueueShow op = CALLRAFT__QUEUE_SHOW__INIT;
	op.queue = (char *)queue;
	op.limit = limit;
	q.op_case = CALLRAFT__REQUEST__OP_QUEUE_SHOW;
	q.queue_show = &op;
	return read_req(s, &q);
}

static Callraft__Reply *ticket_show(struct state *s, const char *code)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__TicketShow op = CALLRAFT__TICKET_SHOW__INIT;
	op.code = (char *)code;
	q.op_case = CALLRAFT__REQUEST__OP_TICKET_SHOW;
	q.ticket_show = &op;
	return read_req(s, &q);
}

static Callraft__Reply *ticket_list(struct state *s, const char *customer, uint32_t limit)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__TicketList op = CALLRAFT__TICKET_LIST__INIT;
	op.customer_id = (char *)customer;
	op.limit = limit;
	q.op_case = CALLRAFT__REQUEST__OP_TICKET_LIST;
	q.ticket_list = &op;
	return read_req(s, &q);
}

static Callraft__CallState call_state(struct state *s, const char *call_id)
{
	Callraft__Reply *r = call_show(s, call_id);
	Callraft__CallState st = r->call != NULL ? r->call->state : CALLRAFT__CALL_STATE__CALL_STATE_NONE;
	callraft__reply__free_unpacked(r, NULL);
	return st;
}

static Callraft__AgentState agent_state(struct state *s, const char *agent_id)
{
	Callraft__Reply *r = agent_show(s, agent_id);
	Callraft__AgentState st =
		r->agent != NULL ? r->agent->state : CALLRAFT__AGENT_STATE__AGENT_STATE_NONE;
	callraft__reply__free_unpacked(r, NULL);
	return st;
}

static uint64_t queue_total(struct state *s, const char *queue)
{
	Callraft__Reply *r = queue_show(s, queue, 0);
	uint64_t n = r->total;
	callraft__reply__free_unpacked(r, NULL);
	return n;
}

/* ---- white-box helpers ------------------------------------------------------------------ */

/* FNV-1a over the business tables (calls, queue, agents, tickets, cust_tix, members) and the
 * ticket counter: what a command may change, leaving out sessions, applied index and time. */
static uint64_t business_digest(struct state *s)
{
	uint64_t h = 14695981039346656037ull, ticket_seq = 0;
	MDB_txn *txn;
	char err[128];

	assert_int_equal(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
	for (int db = DB_CALLS; db < DB_COUNT; db++) {
		MDB_cursor *cur;
		MDB_val k, v;
		assert_int_equal(mdb_cursor_open(txn, s->dbi[db], &cur), 0);
		while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
			for (size_t i = 0; i < k.mv_size; i++)
				h = (h ^ ((uint8_t *)k.mv_data)[i]) * 1099511628211ull;
			h = (h ^ 0xff) * 1099511628211ull;
			for (size_t i = 0; i < v.mv_size; i++)
				h = (h ^ ((uint8_t *)v.mv_data)[i]) * 1099511628211ull;
		}
		mdb_cursor_close(cur);
	}
	assert_int_equal(store_meta_get(s, txn, META_TICKET_SEQ, &ticket_seq, err, sizeof err), 0);
	mdb_txn_abort(txn);
	return h ^ ticket_seq;
}

static size_t db_count(struct state *s, enum state_db db)
{
	MDB_txn *txn;
	MDB_stat st;

	assert_int_equal(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_stat(txn, s->dbi[db], &st), 0);
	mdb_txn_abort(txn);
	return st.ms_entries;
}

/* ==== sessions ============================================================================ */

static void test_register_gives_increasing_ids(void **state)
{
	struct fx *f = *state;
	struct cb b;
	uint64_t prev = 0;

	for (int i = 0; i < 3; i++) {
		Callraft__Reply *r = run(f, c_register(&b, "desk"));
		assert_int_equal(r->code, CALLRAFT__CODE__OK);
		assert_true(r->client_id > prev);
		assert_int_equal(r->applied_index, f->index);
		assert_int_equal(r->request_id, 0);
		prev = r->client_id;
		callraft__reply__free_unpacked(r, NULL);
	}
	assert_int_equal(prev, 3);
	assert_int_equal(db_count(f->s, DB_SESSIONS), 3);
	assert_int_equal(db_count(f->s, DB_SESS_TIME), 3);
}

static void test_retried_seq_returns_identical_reply_and_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct cb b, rb;
	struct state_replies out;
	Callraft__Command *cmd, *reg = c_register(&rb, "pbx-1");
	uint8_t *e_reg, *e_enq, *e_retry, *e_empty, *first;
	size_t l_reg, l_enq, l_retry, l_empty, first_len;
	char dir[128];

	/* The fixture's state: register (index 1), enqueue (2), then the retry of the enqueue (3). */
	e_reg = pack_entry(f->time_ms, f->term, &reg, 1, &l_reg);
	apply_raw(f->s, 1, e_reg, l_reg, &out, 0);
	cmd = c_enqueue(&b, "c1", "sales", 0);
	cmd->client_id = 1;
	cmd->seq = 1;
	e_enq = pack_entry(f->time_ms, f->term, &cmd, 1, &l_enq);
	apply_raw(f->s, 2, e_enq, l_enq, &out, 0);
	first_len = out.len[0];
	first = malloc(first_len);
	memcpy(first, out.bytes[0], first_len);
	e_retry = pack_entry(f->time_ms + 500, f->term + 1, &cmd, 1, &l_retry);
	apply_raw(f->s, 3, e_retry, l_retry, &out, 0);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.len[0], first_len);
	assert_memory_equal(out.bytes[0], first, first_len);

	/* A twin applies the same history with an empty entry where the retry went. */
	snprintf(dir, sizeof dir, "%s/twin", f->base);
	struct state *twin = open_at(dir);
	apply_raw(twin, 1, e_reg, l_reg, &out, 0);
	apply_raw(twin, 2, e_enq, l_enq, &out, 0);
	e_empty = pack_entry(f->time_ms + 500, f->term + 1, NULL, 0, &l_empty);
	apply_raw(twin, 3, e_empty, l_empty, &out, 0);
	assert_int_equal(state_digest(f->s), state_digest(twin));
	assert_int_equal(queue_total(f->s, "sales"), 1);
	state_close(twin);
	free(first), free(e_reg), free(e_enq), free(e_retry), free(e_empty);
}

static void test_seq_below_last_is_seq_too_old(void **state)
{
	struct fx *f = *state;
	struct cb b;

	register_client(f);
	RUN_CODE(f, c_enqueue(&b, "c1", "sales", 0), CALLRAFT__CODE__OK); /* seq 1 */
	RUN_CODE(f, c_enqueue(&b, "c2", "sales", 0), CALLRAFT__CODE__OK); /* seq 2 */
	uint64_t before = business_digest(f->s);
	Callraft__Command *cmd = c_enqueue(&b, "c3", "sales", 0);
	cmd->seq = 1;
	RUN_CODE(f, cmd, CALLRAFT__CODE__SEQ_TOO_OLD);
	assert_int_equal(business_digest(f->s), before);
}

static void test_unknown_client_is_session_unknown(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Command *cmd = c_enqueue(&b, "c1", "sales", 0);

	cmd->client_id = 999;
	cmd->seq = 1;
	RUN_CODE(f, cmd, CALLRAFT__CODE__SESSION_UNKNOWN);
	assert_int_equal(queue_total(f->s, "sales"), 0);
	assert_int_equal(db_count(f->s, DB_SESSIONS), 0);
}

static void test_seq_zero_is_invalid_argument(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Command *cmd;

	register_client(f);
	cmd = c_enqueue(&b, "c1", "sales", 0);
	cmd->client_id = f->client_id;
	cmd->seq = 0;
	Callraft__Reply **r = apply_batch(f, f->s, &cmd, 1);
	assert_int_equal(r[0]->code, CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_string_equal(r[0]->message, "call_enqueue: seq: missing");
	free_replies(r, 1);
	assert_int_equal(queue_total(f->s, "sales"), 0);
}

static void test_session_expiry_after_ttl_is_deterministic(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Command *cmds[20];
	struct cb bs[20];
	Callraft__Reply **r;

	/* 20 sessions at t = 1000 (one entry), then one more (the fixture's) at TTL/2. */
	for (int i = 0; i < 20; i++)
		cmds[i] = c_register(&bs[i], "old");
	free_replies(apply_batch(f, f->s, cmds, 20), 20);
	f->time_ms = 1000 + CALLRAFT_SESSION_TTL_MS / 2;
	register_client(f);
	assert_int_equal(db_count(f->s, DB_SESSIONS), 21);

	/* At exactly TTL after their last use they are still alive ... */
	f->time_ms = 1000 + CALLRAFT_SESSION_TTL_MS;
	empty_entry(f, f->s);
	assert_int_equal(db_count(f->s, DB_SESSIONS), 21);
	/* ... one ms later they expire, at most CALLRAFT_SESSION_EXPIRE_PER_ENTRY per entry, ... */
	f->time_ms++;
	empty_entry(f, f->s);
	assert_int_equal(db_count(f->s, DB_SESSIONS), 21 - CALLRAFT_SESSION_EXPIRE_PER_ENTRY);
	/* ... an expired session that is not yet swept is refused all the same ... */
	Callraft__Command *cmd = c_enqueue(&b, "c1", "sales", 0);
	cmd->client_id = 20;
	cmd->seq = 1;
	r = apply_batch(f, f->s, &cmd, 1);
	assert_int_equal(r[0]->code, CALLRAFT__CODE__SESSION_UNKNOWN);
	free_replies(r, 1);
	assert_int_equal(db_count(f->s, DB_SESSIONS), 1);
	assert_int_equal(db_count(f->s, DB_SESS_TIME), 1);
	/* ... and the recent session still works. */
	RUN_CODE(f, c_enqueue(&b, "c2", "sales", 0), CALLRAFT__CODE__OK);
}

/* ==== calls =============================================================================== */

static void test_enqueue_next_answer_end_happy_path(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *r;
	uint64_t term, index;

	with_agent(f, "sales");
	r = run(f, c_enqueue(&b, "c1", "sales", 0));
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_non_null(r->call);
	assert_int_equal(r->call->state, CALLRAFT__CALL_STATE__WAITING);
	assert_int_equal(r->call->enqueued_ms, f->time_ms);
	assert_int_equal(r->call->enqueue_seq, f->index << 8);
	callraft__reply__free_unpacked(r, NULL);

	f->term = 3;
	f->time_ms += 10;
	r = run(f, c_next(&b, "a1"));
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_string_equal(r->call->call_id, "c1");
	assert_int_equal(r->call->state, CALLRAFT__CALL_STATE__OFFERED);
	assert_string_equal(r->call->agent_id, "a1");
	assert_int_equal(r->call->offer_term, 3);
	assert_int_equal(r->call->offer_index, f->index << 8);
	assert_int_equal(r->call->offered_ms, f->time_ms);
	assert_int_equal(r->agent->state, CALLRAFT__AGENT_STATE__ON_CALL);
	assert_string_equal(r->agent->call_id, "c1");
	term = r->call->offer_term;
	index = r->call->offer_index;
	callraft__reply__free_unpacked(r, NULL);
	assert_int_equal(queue_total(f->s, "sales"), 0);

	r = run(f, c_answer(&b, "c1", "a1", term, index));
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_int_equal(r->call->state, CALLRAFT__CALL_STATE__ANSWERED);
	callraft__reply__free_unpacked(r, NULL);
	/* answering again with the same token is idempotent */
	RUN_CODE(f, c_answer(&b, "c1", "a1", term, index), CALLRAFT__CODE__OK);

	r = run(f, c_end(&b, "c1", "a1"));
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_int_equal(r->call->state, CALLRAFT__CALL_STATE__ENDED);
	assert_int_equal(r->agent->state, CALLRAFT__AGENT_STATE__AVAILABLE);
	assert_string_equal(r->agent->call_id, "");
	callraft__reply__free_unpacked(r, NULL);
	assert_int_equal(agent_state(f->s, "a1"), CALLRAFT__AGENT_STATE__AVAILABLE);

	r = run(f, c_end(&b, "c1", "a1"));
	assert_int_equal(r->code, CALLRAFT__CODE__BAD_STATE);
	assert_non_null(strstr(r->message, "already ended"));
	callraft__reply__free_unpacked(r, NULL);
}

static const char *next_call_id(struct fx *f, const char *agent)
{
	static char id[65];
	struct cb b;
	Callraft__Reply *r = run(f, c_next(&b, agent));

	if (r->code != CALLRAFT__CODE__OK)
		fail_msg("call next: %d %s", r->code, r->message);
	snprintf(id, sizeof id, "%s", r->call->call_id);
	callraft__reply__free_unpacked(r, NULL);
	RUN_CODE(f, c_end(&b, id, agent), CALLRAFT__CODE__OK);
	return id;
}

static void test_queue_order_is_tier_then_arrival_then_seq(void **state)
{
	struct fx *f = *state;
	struct cb b[4];
	Callraft__Command *batch[2];

	with_agent(f, "sales");
	f->time_ms = 2000;
	RUN_CODE(f, c_enqueue(&b[0], "early-t0", "sales", 0), CALLRAFT__CODE__OK);
	f->time_ms = 3000;
	RUN_CODE(f, c_enqueue(&b[0], "late-t5", "sales", 5), CALLRAFT__CODE__OK);
	/* Same time, same tier, one entry: the position in the entry decides. */
	f->time_ms = 4000;
	batch[0] = c_enqueue(&b[1], "same-a", "sales", 0);
	batch[1] = c_enqueue(&b[2], "same-b", "sales", 0);
	batch[0]->client_id = batch[1]->client_id = f->client_id;
	batch[0]->seq = ++f->seq;
	batch[1]->seq = ++f->seq;
	free_replies(apply_batch(f, f->s, batch, 2), 2);

	Callraft__Reply *r = queue_show(f->s, "sales", 2);
	assert_int_equal(r->total, 4);
	assert_int_equal(r->n_calls, 2);
	assert_string_equal(r->calls[0]->call_id, "late-t5");
	assert_string_equal(r->calls[1]->call_id, "early-t0");
	callraft__reply__free_unpacked(r, NULL);

	assert_string_equal(next_call_id(f, "a1"), "late-t5");
	assert_string_equal(next_call_id(f, "a1"), "early-t0");
	assert_string_equal(next_call_id(f, "a1"), "same-a");
	assert_string_equal(next_call_id(f, "a1"), "same-b");
}

static void test_next_picks_best_head_across_skills(void **state)
{
	struct fx *f = *state;
	struct cb b;

	register_client(f);
	RUN_CODE(f, c_login(&b, "a1", "tehran", "billing", "sales", "support", NULL), CALLRAFT__CODE__OK);
	/* "sales.vip" sorts right after "sales": a prefix seek must not mistake one for the other */
	RUN_CODE(f, c_enqueue(&b, "other", "sales.vip", 9), CALLRAFT__CODE__OK);
	f->time_ms = 2000;
	RUN_CODE(f, c_enqueue(&b, "s1", "support", 1), CALLRAFT__CODE__OK);
	f->time_ms = 1500;  /* older stamp: FSM time stays 2000 */
	RUN_CODE(f, c_enqueue(&b, "b1", "billing", 1), CALLRAFT__CODE__OK);
	f->time_ms = 2500;
	RUN_CODE(f, c_enqueue(&b, "sa1", "sales", 0), CALLRAFT__CODE__OK);
	assert_string_equal(next_call_id(f, "a1"), "s1");
	assert_string_equal(next_call_id(f, "a1"), "b1");
	assert_string_equal(next_call_id(f, "a1"), "sa1");
	RUN_CODE(f, c_next(&b, "a1"), CALLRAFT__CODE__QUEUE_EMPTY);
	assert_int_equal(queue_total(f->s, "sales.vip"), 1);
}

static void test_next_with_no_waiting_call_is_queue_empty(void **state)
{
	struct fx *f = *state;
	struct cb b;

	with_agent(f, "sales");
	RUN_CODE(f, c_next(&b, "a1"), CALLRAFT__CODE__QUEUE_EMPTY);
	assert_int_equal(agent_state(f->s, "a1"), CALLRAFT__AGENT_STATE__AVAILABLE);
	RUN_CODE(f, c_next(&b, "nobody"), CALLRAFT__CODE__NOT_FOUND);
	RUN_CODE(f, c_set_state(&b, "a1", CALLRAFT__AGENT_STATE__BREAK, "lunch"), CALLRAFT__CODE__OK);
	RUN_CODE(f, c_enqueue(&b, "c1", "sales", 0), CALLRAFT__CODE__OK);
	RUN_CODE(f, c_next(&b, "a1"), CALLRAFT__CODE__BAD_STATE);
}

static void test_enqueue_same_call_id_twice_queues_once(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *r;

	register_client(f);
	RUN_CODE(f, c_enqueue(&b, "c1", "sales", 0), CALLRAFT__CODE__OK);
	uint64_t before = business_digest(f->s);
	f->time_ms += 1000;
	r = run(f, c_enqueue(&b, "c1", "support", 3)); /* a new seq: not a session retry */
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_string_equal(r->message, "already enqueued");
	assert_string_equal(r->call->queue, "sales");
	assert_int_equal(r->call->enqueued_ms, 1000);
	callraft__reply__free_unpacked(r, NULL);
	assert_int_equal(business_digest(f->s), before);
	assert_int_equal(queue_total(f->s, "sales"), 1);
	assert_int_equal(queue_total(f->s, "support"), 0);
}

static void test_answer_with_wrong_token_is_stale_token(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *r;
	uint64_t index;

	with_agent(f, "sales");
	RUN_CODE(f, c_enqueue(&b, "c1", "sales", 0), CALLRAFT__CODE__OK);
	r = run(f, c_next(&b, "a1"));
	index = r->call->offer_index;
	callraft__reply__free_unpacked(r, NULL);
	RUN_CODE(f, c_answer(&b, "c1", "a1", f->term, index + 1), CALLRAFT__CODE__STALE_TOKEN);
	RUN_CODE(f, c_answer(&b, "c1", "a1", f->term + 1, index), CALLRAFT__CODE__STALE_TOKEN);
	RUN_CODE(f, c_answer(&b, "c1", "a1", f->term, 0), CALLRAFT__CODE__INVALID_ARGUMENT);
	RUN_CODE(f, c_answer(&b, "c1", "a2", f->term, index), CALLRAFT__CODE__BAD_STATE);
	assert_int_equal(call_state(f->s, "c1"), CALLRAFT__CALL_STATE__OFFERED);
	RUN_CODE(f, c_answer(&b, "c1", "a1", f->term, index), CALLRAFT__CODE__OK);
	RUN_CODE(f, c_answer(&b, "c1", "a1", f->term, index + 1), CALLRAFT__CODE__STALE_TOKEN);
	RUN_CODE(f, c_answer(&b, "nope", "a1", f->term, index), CALLRAFT__CODE__NOT_FOUND);
}

static void test_abandon_waiting_call_leaves_the_queue(void **state)
{
	struct fx *f = *state;
	struct cb b;

	with_agent(f, "sales");
	RUN_CODE(f, c_enqueue(&b, "c1", "sales", 0), CALLRAFT__CODE__OK);
	RUN_CODE(f, c_abandon(&b, "c1"), CALLRAFT__CODE__OK);
	assert_int_equal(call_state(f->s, "c1"), CALLRAFT__CALL_STATE__ABANDONED);
	assert_int_equal(queue_total(f->s, "sales"), 0);
	assert_int_equal(db_count(f->s, DB_QUEUE), 0);
	RUN_CODE(f, c_next(&b, "a1"), CALLRAFT__CODE__QUEUE_EMPTY);
	RUN_CODE(f, c_abandon(&b, "c1"), CALLRAFT__CODE__BAD_STATE);
	RUN_CODE(f, c_abandon(&b, "zz"), CALLRAFT__CODE__NOT_FOUND);
	/* a re-enqueue of the abandoned call id is still the same call */
	RUN_CODE(f, c_enqueue(&b, "c1", "sales", 0), CALLRAFT__CODE__OK);
	assert_int_equal(queue_total(f->s, "sales"), 0);
}

static void test_abandon_offered_call_frees_the_agent(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *r;

	with_agent(f, "sales");
	RUN_CODE(f, c_enqueue(&b, "c1", "sales", 0), CALLRAFT__CODE__OK);
	RUN_CODE(f, c_next(&b, "a1"), CALLRAFT__CODE__OK);
	assert_int_equal(agent_state(f->s, "a1"), CALLRAFT__AGENT_STATE__ON_CALL);
	r = run(f, c_abandon(&b, "c1"));
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_int_equal(r->call->state, CALLRAFT__CALL_STATE__ABANDONED);
	assert_int_equal(r->call->ended_ms, f->time_ms);
	assert_int_equal(r->agent->state, CALLRAFT__AGENT_STATE__AVAILABLE);
	callraft__reply__free_unpacked(r, NULL);
	assert_int_equal(agent_state(f->s, "a1"), CALLRAFT__AGENT_STATE__AVAILABLE);
	RUN_CODE(f, c_end(&b, "c1", "a1"), CALLRAFT__CODE__BAD_STATE);
}

static void test_answered_call_cannot_be_abandoned(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *r;

	with_agent(f, "sales");
	RUN_CODE(f, c_enqueue(&b, "c1", "sales", 0), CALLRAFT__CODE__OK);
	r = run(f, c_next(&b, "a1"));
	RUN_CODE(f, c_answer(&b, "c1", "a1", r->call->offer_term, r->call->offer_index),
		 CALLRAFT__CODE__OK);
	callraft__reply__free_unpacked(r, NULL);
	RUN_CODE(f, c_abandon(&b, "c1"), CALLRAFT__CODE__BAD_STATE);
	RUN_CODE(f, c_end(&b, "c1", "someone-else"), CALLRAFT__CODE__BAD_STATE);
	assert_int_equal(call_state(f->s, "c1"), CALLRAFT__CALL_STATE__ANSWERED);
}

/* ==== agents ============================================================================== */

static void test_agent_login_same_site_updates_other_site_refused(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *r;

	register_client(f);
	RUN_CODE(f, c_login(&b, "a1", "tehran", "sales", NULL), CALLRAFT__CODE__OK);
	f->time_ms += 100;
	r = run(f, c_login(&b, "a1", "tehran", "sales", "support", NULL));
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_int_equal(r->agent->n_skills, 2);
	assert_int_equal(r->agent->since_ms, 1000); /* still the same login */
	callraft__reply__free_unpacked(r, NULL);
	r = run(f, c_login(&b, "a1", "shiraz", "sales", NULL));
	assert_int_equal(r->code, CALLRAFT__CODE__ALREADY_EXISTS);
	assert_non_null(strstr(r->message, "tehran"));
	callraft__reply__free_unpacked(r, NULL);
	RUN_CODE(f, c_logout(&b, "a1"), CALLRAFT__CODE__OK);
	assert_int_equal(agent_state(f->s, "a1"), CALLRAFT__AGENT_STATE__OFFLINE);
	r = run(f, c_login(&b, "a1", "shiraz", "billing", NULL));
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_string_equal(r->agent->site, "shiraz");
	assert_int_equal(r->agent->state, CALLRAFT__AGENT_STATE__AVAILABLE);
	callraft__reply__free_unpacked(r, NULL);
}

static void test_agent_set_state_rules(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *r;

	with_agent(f, "sales");
	RUN_CODE(f, c_set_state(&b, "ghost", CALLRAFT__AGENT_STATE__BREAK, ""), CALLRAFT__CODE__NOT_FOUND);
	r = run(f, c_set_state(&b, "a1", CALLRAFT__AGENT_STATE__BREAK, "lunch"));
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_string_equal(r->agent->reason, "lunch");
	callraft__reply__free_unpacked(r, NULL);
	RUN_CODE(f, c_set_state(&b, "a1", CALLRAFT__AGENT_STATE__ON_CALL, ""),
		 CALLRAFT__CODE__INVALID_ARGUMENT);
	RUN_CODE(f, c_set_state(&b, "a1", CALLRAFT__AGENT_STATE__OFFLINE, ""),
		 CALLRAFT__CODE__INVALID_ARGUMENT);
	r = run(f, c_set_state(&b, "a1", CALLRAFT__AGENT_STATE__AVAILABLE, "ignored"));
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_string_equal(r->agent->reason, "");
	callraft__reply__free_unpacked(r, NULL);
	/* holding a call: no state change, no logout */
	RUN_CODE(f, c_enqueue(&b, "c1", "sales", 0), CALLRAFT__CODE__OK);
	RUN_CODE(f, c_next(&b, "a1"), CALLRAFT__CODE__OK);
	RUN_CODE(f, c_set_state(&b, "a1", CALLRAFT__AGENT_STATE__WRAP_UP, ""), CALLRAFT__CODE__BAD_STATE);
	RUN_CODE(f, c_logout(&b, "a1"), CALLRAFT__CODE__BAD_STATE);
	RUN_CODE(f, c_end(&b, "c1", "a1"), CALLRAFT__CODE__OK);
	RUN_CODE(f, c_set_state(&b, "a1", CALLRAFT__AGENT_STATE__WRAP_UP, ""), CALLRAFT__CODE__OK);
	RUN_CODE(f, c_logout(&b, "a1"), CALLRAFT__CODE__OK);
	r = run(f, c_set_state(&b, "a1", CALLRAFT__AGENT_STATE__AVAILABLE, ""));
	assert_int_equal(r->code, CALLRAFT__CODE__BAD_STATE);
	assert_non_null(strstr(r->message, "not logged in"));
	callraft__reply__free_unpacked(r, NULL);
	RUN_CODE(f, c_logout(&b, "ghost"), CALLRAFT__CODE__NOT_FOUND);
}

/* ==== tickets ============================================================================= */

static char *open_ticket(struct fx *f, const char *customer, const char *call_id)
{
	struct cb b;
	Callraft__Reply *r = run(f, c_topen(&b, customer, call_id, ""));

	if (r->code != CALLRAFT__CODE__OK)
		fail_msg("ticket open: %s", r->message);
	char *code = strdup(r->ticket->code);
	callraft__reply__free_unpacked(r, NULL);
	return code;
}

static void test_ticket_open_update_show_and_list_by_customer(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *r;
	char expect[24];

	register_client(f);
	RUN_CODE(f, c_enqueue(&b, "c1", "sales", 0), CALLRAFT__CODE__OK);
	char *t1 = open_ticket(f, "cust-9", "c1");
	state_ticket_code(1, expect);
	assert_string_equal(t1, expect);
	f->time_ms += 10;
	char *t2 = open_ticket(f, "cust-9", "");
	char *t3 = open_ticket(f, "cust-other", "");
	assert_true(state_ticket_code_valid(t2));

	r = call_show(f->s, "c1");
	assert_string_equal(r->call->ticket_code, t1);
	assert_int_equal(r->request_id, 77);
	assert_int_equal(r->applied_index, f->index);
	callraft__reply__free_unpacked(r, NULL);

	f->time_ms += 10;
	RUN_CODE(f, c_tupdate(&b, t1, CALLRAFT__TICKET_STATUS__IN_PROGRESS, "called back"),
		 CALLRAFT__CODE__OK);
	RUN_CODE(f, c_tupdate(&b, t1, 0, "customer sent the invoice"), CALLRAFT__CODE__OK);
	RUN_CODE(f, c_tupdate(&b, t1, 0, ""), CALLRAFT__CODE__INVALID_ARGUMENT);

	r = ticket_show(f->s, t1);
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_int_equal(r->ticket->status, CALLRAFT__TICKET_STATUS__IN_PROGRESS);
	assert_int_equal(r->ticket->n_notes, 3);
	assert_string_equal(r->ticket->notes[0]->text, "opened");
	assert_int_equal(r->ticket->notes[0]->status, CALLRAFT__TICKET_STATUS__OPEN);
	assert_string_equal(r->ticket->notes[1]->text, "called back");
	assert_int_equal(r->ticket->notes[1]->status, CALLRAFT__TICKET_STATUS__IN_PROGRESS);
	assert_int_equal(r->ticket->notes[2]->status, CALLRAFT__TICKET_STATUS__IN_PROGRESS);
	assert_int_equal(r->ticket->created_ms, 1000);
	assert_int_equal(r->ticket->updated_ms, 1020);
	assert_string_equal(r->ticket->call_id, "c1");
	callraft__reply__free_unpacked(r, NULL);

	r = ticket_list(f->s, "cust-9", 0);
	assert_int_equal(r->total, 2);
	assert_int_equal(r->n_tickets, 2);
	assert_string_equal(r->tickets[0]->code, t1);
	assert_string_equal(r->tickets[1]->code, t2);
	callraft__reply__free_unpacked(r, NULL);
	r = ticket_list(f->s, "cust-9", 1);
	assert_int_equal(r->total, 2);
	assert_int_equal(r->n_tickets, 1);
	callraft__reply__free_unpacked(r, NULL);
	r = ticket_list(f->s, "cust", 0); /* a prefix of a customer id is another customer */
	assert_int_equal(r->total, 0);
	callraft__reply__free_unpacked(r, NULL);
	free(t1), free(t2), free(t3);
}

/* Codes read back over the phone: any case, O for 0, I/L for 1, dashes; the check symbol is
 * checked after the mapping, so a misread digit is still refused. */
static void test_ticket_code_normalize_maps_case_and_confusables(void **state)
{
	static const uint64_t sample[] = {0, 1, 12, 31, 32, 36, 1000, 123456789012ull, UINT64_MAX};
	char code[24], out[24], typed[24];
	(void)state;

	assert_true(state_ticket_code_normalize("t000011", out));
	assert_string_equal(out, "T000011");
	assert_true(state_ticket_code_normalize("TOOOOll", out)); /* O->0, l->1 */
	assert_string_equal(out, "T000011");
	assert_true(state_ticket_code_normalize("t-oooo-I1", out)); /* dashes dropped, I->1 */
	assert_string_equal(out, "T000011");
	assert_true(state_ticket_code_normalize("t00014u", out)); /* 36 mod 37: check symbol U */
	assert_string_equal(out, "T00014U");
	assert_true(state_ticket_code_normalize("t0000cc", out));
	assert_string_equal(out, "T0000CC");
	/* still refused after normalisation: wrong check, wrong prefix, too short/long, junk */
	assert_false(state_ticket_code_normalize("t000012", out));
	assert_false(state_ticket_code_normalize("t000021", out));
	assert_false(state_ticket_code_normalize("O000011", out)); /* the prefix is not a digit */
	assert_false(state_ticket_code_normalize("t00011", out));
	assert_false(state_ticket_code_normalize("t0000u11", out)); /* U is only a check symbol */
	assert_false(state_ticket_code_normalize("t00001!", out));
	assert_false(state_ticket_code_normalize("T0000000000000000000000000011", out));
	assert_false(state_ticket_code_normalize("", out));
	assert_false(state_ticket_code_normalize(NULL, out));
	/* every code, lower-cased, normalises to itself */
	for (size_t i = 0; i < sizeof sample / sizeof sample[0]; i++) {
		state_ticket_code(sample[i], code);
		for (size_t k = 0; k <= strlen(code); k++)
			typed[k] = (char)tolower((unsigned char)code[k]);
		assert_true(state_ticket_code_normalize(typed, out));
		assert_string_equal(out, code);
	}
}

/* ticket_show and ticket_update find a ticket from its code as typed; a code whose check symbol
 * is wrong after normalisation is INVALID_ARGUMENT and changes nothing; show carries the class
 * and the target time. */
static void test_ticket_read_back_case_insensitively(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *r;

	register_client(f);
	char *t = open_ticket(f, "cust-1", "");
	assert_string_equal(t, "T000011");

	r = ticket_show(f->s, "t0000ll");
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_string_equal(r->ticket->code, "T000011");
	assert_string_equal(r->ticket->ticket_class, "follow-up");
	assert_int_equal(r->ticket->target_ms,
			 r->ticket->created_ms + CALLRAFT_TICKET_FOLLOW_UP_TARGET_MS);
	callraft__reply__free_unpacked(r, NULL);

	r = ticket_show(f->s, "t000012");
	assert_int_equal(r->code, CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_non_null(strstr(r->message, "check symbol"));
	callraft__reply__free_unpacked(r, NULL);
	r = ticket_show(f->s, "t000022"); /* valid code, no such ticket */
	assert_int_equal(r->code, CALLRAFT__CODE__NOT_FOUND);
	callraft__reply__free_unpacked(r, NULL);

	RUN_CODE(f, c_tupdate(&b, "tOOOO-11", CALLRAFT__TICKET_STATUS__IN_PROGRESS, "called back"),
		 CALLRAFT__CODE__OK);
	uint64_t before = business_digest(f->s);
	RUN_CODE(f, c_tupdate(&b, "t000012", 0, "misread"), CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_int_equal(business_digest(f->s), before);
	assert_int_equal(db_count(f->s, DB_TICKETS), 1);

	r = ticket_show(f->s, t);
	assert_int_equal(r->ticket->status, CALLRAFT__TICKET_STATUS__IN_PROGRESS);
	assert_int_equal(r->ticket->n_notes, 2);
	assert_string_equal(r->ticket->notes[1]->text, "called back");
	callraft__reply__free_unpacked(r, NULL);
	free(t);
}

static void test_closed_ticket_refuses_update(void **state)
{
	struct fx *f = *state;
	struct cb b;

	register_client(f);
	char *t = open_ticket(f, "cust-1", "");
	RUN_CODE(f, c_tupdate(&b, t, CALLRAFT__TICKET_STATUS__CLOSED, "done"), CALLRAFT__CODE__OK);
	uint64_t before = business_digest(f->s);
	RUN_CODE(f, c_tupdate(&b, t, 0, "one more thing"), CALLRAFT__CODE__BAD_STATE);
	RUN_CODE(f, c_tupdate(&b, t, CALLRAFT__TICKET_STATUS__OPEN, ""), CALLRAFT__CODE__BAD_STATE);
	assert_int_equal(business_digest(f->s), before);
	free(t);
}

static void test_unknown_ticket_and_unknown_call_are_not_found(void **state)
{
	struct fx *f = *state;
	struct cb b;
	char code[24];
	Callraft__Reply *r;

	register_client(f);
	state_ticket_code(42, code);
	RUN_CODE(f, c_tupdate(&b, code, 0, "hello"), CALLRAFT__CODE__NOT_FOUND);
	RUN_CODE(f, c_tupdate(&b, "T00001X", 0, "hello"), CALLRAFT__CODE__INVALID_ARGUMENT);
	r = ticket_show(f->s, code);
	assert_int_equal(r->code, CALLRAFT__CODE__NOT_FOUND);
	callraft__reply__free_unpacked(r, NULL);
	/* a ticket for a call that does not exist is refused and consumes no ticket number */
	RUN_CODE(f, c_topen(&b, "cust-1", "no-such-call", ""), CALLRAFT__CODE__NOT_FOUND);
	char *t = open_ticket(f, "cust-1", "");
	state_ticket_code(1, code);
	assert_string_equal(t, code);
	free(t);
}

static void test_ticket_notes_are_bounded(void **state)
{
	struct fx *f = *state;
	struct cb b;

	register_client(f);
	char *t = open_ticket(f, "cust-1", "");
	for (int i = 1; i < CALLRAFT_TICKET_NOTES_MAX; i++)
		RUN_CODE(f, c_tupdate(&b, t, 0, "note"), CALLRAFT__CODE__OK);
	RUN_CODE(f, c_tupdate(&b, t, 0, "one too many"), CALLRAFT__CODE__INVALID_ARGUMENT);
	Callraft__Reply *r = ticket_show(f->s, t);
	assert_int_equal(r->ticket->n_notes, CALLRAFT_TICKET_NOTES_MAX);
	callraft__reply__free_unpacked(r, NULL);
	free(t);
}

static void test_ticket_code_check_detects_substitutions_and_transpositions(void **state)
{
	static const char chars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*~$=abc";
	static const uint64_t sample[] = {0, 1, 31, 32, 36, 37, 1000, 33554431, 33554432,
					  123456789012ull, UINT64_MAX};
	char code[24], c2[24];
	(void)state;

	state_ticket_code(1, code);
	assert_string_equal(code, "T000011");
	state_ticket_code(32, code);
	assert_string_equal(code, "T00010*"); /* 32 mod 37 = 32: the first symbol past the digits */
	for (size_t s = 0; s < sizeof sample / sizeof sample[0]; s++) {
		state_ticket_code(sample[s], code);
		assert_true(state_ticket_code_valid(code));
		size_t len = strlen(code);
		for (size_t i = 0; i < len; i++) {
			for (size_t k = 0; chars[k] != '\0'; k++) {
				if (chars[k] == code[i])
					continue;
				memcpy(c2, code, len + 1);
				c2[i] = chars[k];
				if (state_ticket_code_valid(c2))
					fail_msg("substitution %s -> %s accepted", code, c2);
			}
			if (i + 1 < len && code[i] != code[i + 1]) {
				memcpy(c2, code, len + 1);
				c2[i] = code[i + 1];
				c2[i + 1] = code[i];
				if (state_ticket_code_valid(c2))
					fail_msg("transposition %s -> %s accepted", code, c2);
			}
		}
	}
	/* strict: no lower case, no aliases, no extra padding */
	assert_false(state_ticket_code_valid("t000011"));
	assert_false(state_ticket_code_valid("TOOOO11"));
	assert_false(state_ticket_code_valid("T0000011"));
	assert_false(state_ticket_code_valid("T00011"));
	assert_false(state_ticket_code_valid(""));
	assert_false(state_ticket_code_valid(NULL));
	assert_false(state_ticket_code_valid("TZZZZZZZZZZZZZ0")); /* overflows 64 bits */
}

/* ==== validation ========================================================================== */

static void test_validate_messages_name_operation_field_and_problem(void **state)
{
	struct cb b;
	char msg[STATE_MSG_BYTES_MAX];
	char long_id[71];
	(void)state;

	assert_int_equal(state_validate(c_enqueue(&b, "", "sales", 0), msg, sizeof msg),
			 CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_string_equal(msg, "call_enqueue: call_id: missing");
	memset(long_id, 'x', 70);
	long_id[70] = '\0';
	assert_int_equal(state_validate(c_enqueue(&b, long_id, "sales", 0), msg, sizeof msg),
			 CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_string_equal(msg, "call_enqueue: call_id: too long (70 > 64 bytes)");
	assert_int_equal(state_validate(c_enqueue(&b, "c 1", "sales", 0), msg, sizeof msg),
			 CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_int_equal(state_validate(c_enqueue(&b, "c1", "sa/les", 0), msg, sizeof msg),
			 CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_int_equal(state_validate(c_enqueue(&b, "c1", "sales", 10), msg, sizeof msg),
			 CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_string_equal(msg, "call_enqueue: tier: out of range (10 > 9)");
	Callraft__Command *cmd = c_enqueue(&b, "c1", "sales", 9);
	b.op.enq.caller_number = "+98-21";
	assert_int_equal(state_validate(cmd, msg, sizeof msg), CALLRAFT__CODE__INVALID_ARGUMENT);
	b.op.enq.caller_number = "+9821*12#";
	assert_int_equal(state_validate(cmd, msg, sizeof msg), CALLRAFT__CODE__OK);
	assert_string_equal(msg, "");

	assert_int_equal(state_validate(c_login(&b, "a1", "tehran", NULL), msg, sizeof msg),
			 CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_int_equal(state_validate(c_login(&b, "a1", "tehran", "x", "x", NULL), msg, sizeof msg),
			 CALLRAFT__CODE__INVALID_ARGUMENT);
	cmd = c_login(&b, "a1", "tehran", "x", NULL);
	b.op.login.name = "bad\xc3";
	assert_int_equal(state_validate(cmd, msg, sizeof msg), CALLRAFT__CODE__INVALID_ARGUMENT);
	b.op.login.name = "Zoë Ahmadi";
	assert_int_equal(state_validate(cmd, msg, sizeof msg), CALLRAFT__CODE__OK);
	assert_int_equal(state_validate(c_tupdate(&b, "T000011", 9, "x"), msg, sizeof msg),
			 CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_int_equal(state_validate(c_member_upsert(&b, 0, "tehran"), msg, sizeof msg),
			 CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_int_equal(state_validate(c_member_delete(&b, 0), msg, sizeof msg),
			 CALLRAFT__CODE__INVALID_ARGUMENT);

	Callraft__Command none = CALLRAFT__COMMAND__INIT;
	assert_int_equal(state_validate(&none, msg, sizeof msg), CALLRAFT__CODE__UNKNOWN_OPERATION);
}

static void test_invalid_command_is_invalid_argument_and_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct cb b;
	struct state_replies out;
	size_t len;
	uint8_t *e, *first;
	size_t first_len;

	with_agent(f, "sales");
	RUN_CODE(f, c_enqueue(&b, "c1", "sales", 0), CALLRAFT__CODE__OK);
	uint64_t before = business_digest(f->s);

	/* Invalid on the wire (bypassing the node's check): apply validates again. */
	Callraft__Command *cmd = c_enqueue(&b, "c2", "sales", 12);
	cmd->client_id = f->client_id;
	cmd->seq = ++f->seq;
	e = pack_entry(f->time_ms, f->term, &cmd, 1, &len);
	apply_raw(f->s, ++f->index, e, len, &out, 0);
	Callraft__Reply *r = decode(&out, 0);
	assert_int_equal(r->code, CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_string_equal(r->message, "call_enqueue: tier: out of range (12 > 9)");
	callraft__reply__free_unpacked(r, NULL);
	first_len = out.len[0];
	first = malloc(first_len);
	memcpy(first, out.bytes[0], first_len);
	assert_int_equal(business_digest(f->s), before);
	assert_int_equal(queue_total(f->s, "sales"), 1);

	/* the seq was recorded: the retry gets the same reply */
	apply_raw(f->s, ++f->index, e, len, &out, 0);
	assert_int_equal(out.len[0], first_len);
	assert_memory_equal(out.bytes[0], first, first_len);
	free(first);
	free(e);

	/* bad input in every operation leaves the business tables alone */
	RUN_CODE(f, c_next(&b, ""), CALLRAFT__CODE__INVALID_ARGUMENT);
	RUN_CODE(f, c_login(&b, "a2", "teh ran", "sales", NULL), CALLRAFT__CODE__INVALID_ARGUMENT);
	RUN_CODE(f, c_topen(&b, "", "", "x"), CALLRAFT__CODE__INVALID_ARGUMENT);
	RUN_CODE(f, c_member_upsert(&b, 0, "tehran"), CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_int_equal(business_digest(f->s), before);
}

static void test_business_error_rolls_back_only_its_command(void **state)
{
	struct fx *f = *state;
	struct cb b[3];
	Callraft__Command *batch[3];

	with_agent(f, "sales");
	batch[0] = c_enqueue(&b[0], "c1", "sales", 0);
	batch[1] = c_topen(&b[1], "cust-1", "no-such-call", ""); /* NOT_FOUND after seq++ */
	batch[2] = c_enqueue(&b[2], "c2", "sales", 0);
	for (int i = 0; i < 3; i++) {
		batch[i]->client_id = f->client_id;
		batch[i]->seq = ++f->seq;
	}
	Callraft__Reply **r = apply_batch(f, f->s, batch, 3);
	assert_int_equal(r[0]->code, CALLRAFT__CODE__OK);
	assert_int_equal(r[1]->code, CALLRAFT__CODE__NOT_FOUND);
	assert_int_equal(r[2]->code, CALLRAFT__CODE__OK);
	assert_int_equal(r[2]->call->enqueue_seq, (f->index << 8) | 2);
	free_replies(r, 3);
	assert_int_equal(queue_total(f->s, "sales"), 2);
	assert_int_equal(db_count(f->s, DB_TICKETS), 0);
	char *t = open_ticket(f, "cust-1", "");
	char code[24];
	state_ticket_code(1, code);
	assert_string_equal(t, code);
	free(t);
}

/* ==== entries, replay, time =============================================================== */

static void test_undecodable_entry_advances_applied_and_changes_nothing_else(void **state)
{
	struct fx *f = *state;
	struct cb b;
	struct state_replies out;
	static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};

	register_client(f);
	RUN_CODE(f, c_enqueue(&b, "c1", "sales", 0), CALLRAFT__CODE__OK);
	uint64_t digest = state_digest(f->s), biz = business_digest(f->s);

	apply_raw(f->s, ++f->index, junk, sizeof junk, &out, 0);
	assert_int_equal(out.n, 0);
	assert_int_equal(state_applied_index(f->s), f->index);
	assert_int_not_equal(state_digest(f->s), digest); /* the applied index moved ... */
	assert_int_equal(business_digest(f->s), biz);     /* ... and nothing else */

	/* wrong format, and too many commands, are treated the same */
	Callraft__Entry e = CALLRAFT__ENTRY__INIT;
	uint8_t buf[64];
	e.format = 2;
	e.time_ms = 99999999;
	apply_raw(f->s, ++f->index, buf, callraft__entry__pack(&e, buf), &out, 0);
	assert_int_equal(out.n, 0);

	Callraft__Command *many[CALLRAFT_BATCH_COMMANDS_MAX + 1];
	for (size_t i = 0; i <= CALLRAFT_BATCH_COMMANDS_MAX; i++)
		many[i] = c_enqueue(&b, "cx", "sales", 0);
	size_t len;
	uint8_t *big = pack_entry(f->time_ms, f->term, many, CALLRAFT_BATCH_COMMANDS_MAX + 1, &len);
	apply_raw(f->s, ++f->index, big, len, &out, 0);
	free(big);
	assert_int_equal(out.n, 0);
	assert_int_equal(business_digest(f->s), biz);
	assert_int_equal(state_applied_index(f->s), f->index);
	/* FSM time did not take the junk entry's stamp */
	f->time_ms = 5000;
	Callraft__Reply *r = run(f, c_enqueue(&b, "c2", "sales", 0));
	assert_int_equal(r->call->enqueued_ms, 5000);
	callraft__reply__free_unpacked(r, NULL);
}

static void test_replayed_index_is_skipped(void **state)
{
	struct fx *f = *state;
	struct cb b;
	struct state_replies out;
	size_t len;

	register_client(f);
	Callraft__Command *cmd = c_enqueue(&b, "c1", "sales", 0);
	cmd->client_id = f->client_id;
	cmd->seq = ++f->seq;
	uint8_t *e = pack_entry(f->time_ms, f->term, &cmd, 1, &len);
	apply_raw(f->s, ++f->index, e, len, &out, 0);
	uint64_t digest = state_digest(f->s);

	apply_raw(f->s, f->index, e, len, &out, 1);
	assert_int_equal(out.n, 0);
	apply_raw(f->s, 1, e, len, &out, 1);
	assert_int_equal(state_digest(f->s), digest);
	assert_int_equal(state_applied_index(f->s), f->index);
	free(e);
}

static void test_fsm_time_never_goes_backwards(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *r;

	register_client(f);
	f->time_ms = 50000;
	RUN_CODE(f, c_enqueue(&b, "c1", "sales", 0), CALLRAFT__CODE__OK);
	f->time_ms = 20000; /* a new leader with a slow clock */
	r = run(f, c_enqueue(&b, "c2", "sales", 0));
	assert_int_equal(r->call->enqueued_ms, 50000);
	callraft__reply__free_unpacked(r, NULL);
	f->time_ms = -5;
	r = run(f, c_enqueue(&b, "c3", "sales", 0));
	assert_int_equal(r->call->enqueued_ms, 50000);
	callraft__reply__free_unpacked(r, NULL);
	r = queue_show(f->s, "sales", 0);
	assert_int_equal(r->n_calls, 3);
	assert_string_equal(r->calls[0]->call_id, "c1"); /* order kept: c2 did not jump ahead */
	assert_string_equal(r->calls[1]->call_id, "c2");
	callraft__reply__free_unpacked(r, NULL);
}

/* ==== persistence ========================================================================= */

/* A small but complete history, applied to the fixture's state. */
static void some_history(struct fx *f)
{
	struct cb b;

	with_agent(f, "sales");
	RUN_CODE(f, c_enqueue(&b, "c1", "sales", 2), CALLRAFT__CODE__OK);
	RUN_CODE(f, c_enqueue(&b, "c2", "sales", 0), CALLRAFT__CODE__OK);
	RUN_CODE(f, c_next(&b, "a1"), CALLRAFT__CODE__OK);
	char *t = open_ticket(f, "cust-1", "c1");
	free(t);
	RUN_CODE(f, c_member_upsert(&b, 1, "tehran"), CALLRAFT__CODE__OK);
}

static void test_restart_keeps_state(void **state)
{
	struct fx *f = *state;

	some_history(f);
	uint64_t digest = state_digest(f->s), applied = state_applied_index(f->s);
	state_close(f->s);
	f->s = open_at(f->dir);
	assert_int_equal(state_digest(f->s), digest);
	assert_int_equal(state_applied_index(f->s), applied);
	assert_int_equal(call_state(f->s, "c1"), CALLRAFT__CALL_STATE__OFFERED);
}

static void test_snapshot_restore_into_fresh_dir_gives_equal_digest(void **state)
{
	struct fx *f = *state;
	void *img;
	size_t len;
	bool replaced;
	char err[256], dir[128];

	some_history(f);
	assert_int_equal(state_snapshot(f->s, &img, &len, err, sizeof err), 0);
	assert_memory_equal(img, "CRSNAP02", 8);
	assert_int_equal(be64_get((uint8_t *)img + 8), state_applied_index(f->s));
	assert_int_equal(be64_get((uint8_t *)img + 16), len - STATE_IMAGE_HEADER_BYTES);

	snprintf(dir, sizeof dir, "%s/fresh", f->base);
	struct state *s2 = open_at(dir);
	assert_int_equal(state_restore(s2, img, len, &replaced, err, sizeof err), 0);
	assert_true(replaced);
	assert_int_equal(state_digest(s2), state_digest(f->s));
	assert_int_equal(state_applied_index(s2), state_applied_index(f->s));
	struct stat st;
	char aside[160];
	snprintf(aside, sizeof aside, "%s.old", dir);
	assert_int_not_equal(stat(aside, &st), 0);
	snprintf(aside, sizeof aside, "%s.restore", dir);
	assert_int_not_equal(stat(aside, &st), 0);

	/* the restored state keeps working, and matches the source entry for entry */
	struct cb b;
	uint64_t index = f->index;
	Callraft__Command *cmd = c_enqueue(&b, "c9", "sales", 0);
	cmd->client_id = f->client_id;
	cmd->seq = ++f->seq;
	free_replies(apply_batch(f, f->s, &cmd, 1), 1);
	f->index = index;
	free_replies(apply_batch(f, s2, &cmd, 1), 1);
	assert_int_equal(state_digest(s2), state_digest(f->s));
	/* and survives a restart */
	state_close(s2);
	s2 = open_at(dir);
	assert_int_equal(state_digest(s2), state_digest(f->s));
	state_close(s2);
	free(img);
}

/* The two-part image the daemon writes (header + a mapping of the copy) is the same image, and
 * stays the state at the take while the source goes on changing. */
static void test_image_in_two_parts_is_the_snapshot_and_stays_fixed(void **state)
{
	struct fx *f = *state;
	struct state_image im;
	bool replaced;
	char err[256], dir[128];
	struct cb b;

	some_history(f);
	uint64_t digest = state_digest(f->s), applied = state_applied_index(f->s);
	assert_int_equal(state_image_take(f->s, &im, err, sizeof err), 0);
	assert_int_equal(im.applied, applied);
	assert_memory_equal(im.header, "CRSNAP02", 8);
	assert_int_equal(be64_get(im.header + 8), applied);
	assert_int_equal(be64_get(im.header + 16), im.data_len);
	RUN_CODE(f, c_enqueue(&b, "c7", "sales", 0), CALLRAFT__CODE__OK);
	assert_int_not_equal(state_digest(f->s), digest);

	size_t len = STATE_IMAGE_HEADER_BYTES + im.data_len;
	uint8_t *img = malloc(len);
	assert_non_null(img);
	memcpy(img, im.header, STATE_IMAGE_HEADER_BYTES);
	memcpy(img + STATE_IMAGE_HEADER_BYTES, im.data, im.data_len);
	state_image_release(&im);
	assert_null(im.data);
	snprintf(dir, sizeof dir, "%s/two-part", f->base);
	struct state *s2 = open_at(dir);
	assert_int_equal(state_restore(s2, img, len, &replaced, err, sizeof err), 0);
	assert_true(replaced);
	assert_int_equal(state_applied_index(s2), applied);
	assert_int_equal(state_digest(s2), digest);
	assert_true(state_size_bytes(s2) > 0);
	state_close(s2);
	free(img);
}

static void test_restore_of_older_image_is_noop(void **state)
{
	struct fx *f = *state;
	void *img;
	size_t len;
	bool replaced = true;
	char err[256];
	struct cb b;

	some_history(f);
	assert_int_equal(state_snapshot(f->s, &img, &len, err, sizeof err), 0);
	RUN_CODE(f, c_enqueue(&b, "c5", "sales", 0), CALLRAFT__CODE__OK);
	uint64_t digest = state_digest(f->s);
	assert_int_equal(state_restore(f->s, img, len, &replaced, err, sizeof err), 0);
	assert_false(replaced);
	assert_int_equal(state_digest(f->s), digest);
	/* an image at the same index is a no-op too */
	free(img);
	assert_int_equal(state_snapshot(f->s, &img, &len, err, sizeof err), 0);
	replaced = true;
	assert_int_equal(state_restore(f->s, img, len, &replaced, err, sizeof err), 0);
	assert_false(replaced);
	free(img);
}

static void test_corrupt_snapshot_is_refused_and_old_state_stays(void **state)
{
	struct fx *f = *state;
	void *img;
	size_t len;
	bool replaced;
	char err[256], dir[128];
	struct cb b;

	some_history(f);
	assert_int_equal(state_snapshot(f->s, &img, &len, err, sizeof err), 0);
	snprintf(dir, sizeof dir, "%s/victim", f->base);
	struct state *s2 = open_at(dir);
	struct fx g = {.time_ms = 1000, .term = 1};
	g.s = s2;
	RUN_CODE(&g, c_register(&b, "x"), CALLRAFT__CODE__OK);
	uint64_t digest = state_digest(s2);
	uint8_t *bad = malloc(len);

	memcpy(bad, img, len);
	bad[0] = 'X';
	assert_int_equal(state_restore(s2, bad, len, &replaced, err, sizeof err), -1);
	assert_false(replaced);
	assert_non_null(strstr(err, "bad magic"));
	assert_int_equal(state_restore(s2, img, 10, &replaced, err, sizeof err), -1);
	assert_non_null(strstr(err, "too short"));
	assert_int_equal(state_restore(s2, img, len - 1, &replaced, err, sizeof err), -1);
	assert_non_null(strstr(err, "payload length"));
	/* a good header over a damaged payload: the checksum refuses it before anything is written */
	memcpy(bad, img, len);
	memset(bad + 32, 0x5a, len - 32 > 8192 ? 8192 : len - 32);
	assert_int_equal(state_restore(s2, bad, len, &replaced, err, sizeof err), -1);
	assert_false(replaced);
	assert_non_null(strstr(err, "checksum mismatch"));
	/* a header whose index disagrees with the image's, its checksum made to match: LMDB's copy is
	 * read back and compared before the swap */
	memcpy(bad, img, len);
	be64_put(bad + 8, be64_get(bad + 8) + 5);
	be64_put(bad + 24, crc32c(crc32c(0, bad, 24), bad + 32, len - 32));
	assert_int_equal(state_restore(s2, bad, len, &replaced, err, sizeof err), -1);
	assert_non_null(strstr(err, "applied index"));
	assert_int_equal(state_digest(s2), digest);
	RUN_CODE(&g, c_register(&b, "y"), CALLRAFT__CODE__OK); /* still writable */
	state_close(s2);
	free(bad);
	free(img);
}

/* CRC-32C is the standard one, whichever implementation runs (the CPU's instruction or the
 * table), on any alignment and length, and continues across calls. */
static void test_crc32c_is_castagnoli_in_both_implementations(void **state)
{
	uint8_t buf[1031];
	uint32_t fast, slow;

	(void)state;
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283u);
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	for (size_t off = 0; off < 9; off++) {
		for (size_t len = 0; len + off <= sizeof buf; len += 97) {
			crc32c_force_table = false;
			fast = crc32c(crc32c(0, buf + off, len / 2), buf + off + len / 2, len - len / 2);
			crc32c_force_table = true;
			slow = crc32c(0, buf + off, len);
			assert_int_equal(fast, slow);
		}
	}
	crc32c_force_table = false;
}

/* A damaged image is refused wherever the damage is (one bit anywhere, a zeroed page, a cut), even
 * when it is not newer than the state (a node's restart restores its own snapshot, usually older
 * than its state: the image must still be checked, it is what a lagging peer would get). An image
 * of format 1 (no checksum) still restores. */
static void test_damaged_image_is_refused_even_when_not_newer(void **state)
{
	struct fx *f = *state;
	void *img;
	size_t len, off;
	uint64_t applied;
	bool replaced;
	char err[256], dir[128];

	some_history(f);
	assert_int_equal(state_snapshot(f->s, &img, &len, err, sizeof err), 0);
	uint8_t *bad = malloc(len);
	assert_non_null(bad);
	assert_int_equal(state_image_check(img, len, &applied, &off, err, sizeof err), 0);
	assert_int_equal(off, STATE_IMAGE_HEADER_BYTES);
	assert_int_equal(applied, state_applied_index(f->s));
	for (size_t at = 0; at < len; at += len / 37 + 1) {
		memcpy(bad, img, len);
		bad[at] ^= (uint8_t)(1u << (at % 8));
		assert_int_equal(state_image_check(bad, len, &applied, &off, err, sizeof err), -1);
		assert_int_equal(state_restore(f->s, bad, len, &replaced, err, sizeof err), -1);
		assert_false(replaced);
	}
	memcpy(bad, img, len);
	memset(bad + (len / 2 & ~(size_t)4095), 0, 4096 < len / 2 ? 4096 : len / 2);
	assert_int_equal(state_image_check(bad, len, &applied, &off, err, sizeof err), -1);
	assert_non_null(strstr(err, "checksum mismatch"));
	assert_int_equal(state_image_check(img, len - 4096, &applied, &off, err, sizeof err), -1);
	assert_non_null(strstr(err, "payload length"));

	/* format 1: "CRSNAP01", applied, length, payload */
	memcpy(bad, "CRSNAP01", 8);
	memcpy(bad + 8, (uint8_t *)img + 8, 8);
	memcpy(bad + 24, (uint8_t *)img + 32, len - 32);
	be64_put(bad + 16, len - 24); /* format 2's length would be wrong here */
	assert_int_equal(state_image_check(bad, len - 8, &applied, &off, err, sizeof err), -1);
	be64_put(bad + 16, len - 32);
	assert_int_equal(state_image_check(bad, len - 8, &applied, &off, err, sizeof err), 0);
	assert_int_equal(off, 24);
	snprintf(dir, sizeof dir, "%s/format1", f->base);
	struct state *s2 = open_at(dir);
	assert_int_equal(state_restore(s2, bad, len - 8, &replaced, err, sizeof err), 0);
	assert_true(replaced);
	assert_int_equal(state_digest(s2), state_digest(f->s));
	state_close(s2);
	free(bad);
	free(img);
}

struct snapper {
	struct fx *f;
	int taken;
	int bad;          /* images whose content disagrees with their header */
	uint64_t last_applied;
	char err[256];
};

/* Worker thread: snapshots while the main thread applies. No cmocka asserts off the main thread:
 * problems are counted and checked afterwards. */
static void *snap_thread(void *arg)
{
	struct snapper *sn = arg;
	char dir[128];

	for (int i = 0; i < 6; i++) {
		void *img;
		size_t len;
		bool replaced;

		if (state_snapshot(sn->f->s, &img, &len, sn->err, sizeof sn->err) != 0) {
			sn->bad++;
			break;
		}
		uint64_t applied = be64_get((uint8_t *)img + 8);
		snprintf(dir, sizeof dir, "%s/snap%d", sn->f->base, i);
		struct state *s2 = open_at(dir);
		if (state_restore(s2, img, len, &replaced, sn->err, sizeof sn->err) != 0 ||
		    state_applied_index(s2) != applied ||
		    (applied >= 1 && queue_total(s2, "sales") != applied - 1))
			sn->bad++;
		sn->last_applied = applied;
		sn->taken++;
		state_close(s2);
		free(img);
	}
	return NULL;
}

static void test_snapshot_on_a_worker_thread_while_applying_is_consistent(void **state)
{
	struct fx *f = *state;
	struct snapper sn = {.f = f};
	pthread_t t;
	struct cb b;
	char id[16];

	register_client(f); /* index 1; index i >= 2 enqueues one call: queue total = applied - 1 */
	assert_int_equal(pthread_create(&t, NULL, snap_thread, &sn), 0);
	for (int i = 0; i < 400; i++) {
		snprintf(id, sizeof id, "c%d", i);
		RUN_CODE(f, c_enqueue(&b, id, "sales", 0), CALLRAFT__CODE__OK);
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	if (sn.bad != 0)
		fail_msg("%d inconsistent snapshot(s): %s", sn.bad, sn.err);
	assert_int_equal(sn.taken, 6);
}

static void test_two_replicas_applying_the_same_entries_have_equal_digests(void **state)
{
	struct fx *f = *state;
	char dir[128];

	some_history(f);
	snprintf(dir, sizeof dir, "%s/replica", f->base);
	struct state *s2 = open_at(dir);
	/* replay the fixture's entries into s2 through a snapshot-free path: the same history again */
	struct fx g = {.time_ms = 1000, .term = 1};
	memcpy(g.base, f->base, sizeof g.base);
	g.s = s2;
	some_history(&g);
	assert_int_equal(g.index, f->index);
	assert_int_equal(state_digest(s2), state_digest(f->s));
	state_close(s2);
}

/* ==== members and reads =================================================================== */

static void test_members_are_stored_without_raft_status(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Member *m, *all[4];

	RUN_CODE(f, c_member_upsert(&b, 2, "shiraz"), CALLRAFT__CODE__OK);
	RUN_CODE(f, c_member_upsert(&b, 1, "tehran"), CALLRAFT__CODE__OK);
	assert_int_equal(state_member_get(f->s, 2, &m), 0);
	assert_string_equal(m->site, "shiraz");
	assert_int_equal(m->role, CALLRAFT__MEMBER_ROLE__ROLE_NONE);
	assert_false(m->in_configuration);
	callraft__member__free_unpacked(m, NULL);
	assert_int_equal(state_members(f->s, all, 4), 2);
	assert_int_equal(all[0]->id, 1);
	assert_int_equal(all[1]->id, 2);
	callraft__member__free_unpacked(all[0], NULL);
	callraft__member__free_unpacked(all[1], NULL);
	RUN_CODE(f, c_member_delete(&b, 2), CALLRAFT__CODE__OK);
	RUN_CODE(f, c_member_delete(&b, 2), CALLRAFT__CODE__OK);
	assert_int_equal(state_member_get(f->s, 2, &m), -1);

	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__MembersList ml = CALLRAFT__MEMBERS_LIST__INIT;
	q.op_case = CALLRAFT__REQUEST__OP_MEMBERS_LIST;
	q.members_list = &ml;
	Callraft__Reply *r = read_req(f->s, &q);
	assert_int_equal(r->n_members, 1);
	callraft__reply__free_unpacked(r, NULL);
}

static void test_reads_refuse_writes_and_bad_fields(void **state)
{
	struct fx *f = *state;
	struct cb b;

	register_client(f);
	RUN_CODE(f, c_login(&b, "a1", "tehran", "sales", NULL), CALLRAFT__CODE__OK);
	RUN_CODE(f, c_login(&b, "a2", "shiraz", "sales", NULL), CALLRAFT__CODE__OK);

	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__CallNext cn = CALLRAFT__CALL_NEXT__INIT;
	q.op_case = CALLRAFT__REQUEST__OP_CALL_NEXT;
	q.call_next = &cn;
	Callraft__Reply *r = read_req(f->s, &q);
	assert_int_equal(r->code, CALLRAFT__CODE__UNKNOWN_OPERATION);
	callraft__reply__free_unpacked(r, NULL);

	r = queue_show(f->s, "bad queue", 0);
	assert_int_equal(r->code, CALLRAFT__CODE__INVALID_ARGUMENT);
	callraft__reply__free_unpacked(r, NULL);
	r = call_show(f->s, "nope");
	assert_int_equal(r->code, CALLRAFT__CODE__NOT_FOUND);
	assert_int_equal(r->applied_index, f->index);
	callraft__reply__free_unpacked(r, NULL);

	Callraft__AgentList al = CALLRAFT__AGENT_LIST__INIT;
	q.op_case = CALLRAFT__REQUEST__OP_AGENT_LIST;
	q.agent_list = &al;
	al.site = "shiraz";
	r = read_req(f->s, &q);
	assert_int_equal(r->total, 1);
	assert_string_equal(r->agents[0]->agent_id, "a2");
	callraft__reply__free_unpacked(r, NULL);
	al.site = "";
	r = read_req(f->s, &q);
	assert_int_equal(r->total, 2);
	callraft__reply__free_unpacked(r, NULL);
}

/* This binary applies rules version 1 only (state/rules_newest.c): a RulesSet to 2 is an entry it
 * has no rules for, whatever the members declared. It stops (STATE_APPLY_RULES) with nothing
 * changed; test_rules.c covers the rest with a binary of 1..2. */
static void test_rules_set_above_the_binary_stops_apply(void **state)
{
	struct fx *f = *state;
	Callraft__RulesSet rs = CALLRAFT__RULES_SET__INIT;
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT, *p = &cmd;
	struct state_replies out;
	uint64_t digest = state_digest(f->s);
	size_t len;

	assert_int_equal(state_rules_newest, 1);
	assert_int_equal(state_rules_active(f->s), 1);
	rs.version = 2;
	cmd.op_case = CALLRAFT__COMMAND__OP_RULES_SET;
	cmd.rules_set = &rs;
	uint8_t *b = pack_entry(f->time_ms, f->term, &p, 1, &len);
	apply_raw(f->s, f->index + 1, b, len, &out, STATE_APPLY_RULES);
	free(b);
	assert_int_equal(state_applied_index(f->s), f->index);
	assert_int_equal(state_digest(f->s), digest);
	assert_int_equal(state_rules_active(f->s), 1);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_register_gives_increasing_ids),
		T(test_rules_set_above_the_binary_stops_apply),
		T(test_retried_seq_returns_identical_reply_and_changes_nothing),
		T(test_seq_below_last_is_seq_too_old),
		T(test_unknown_client_is_session_unknown),
		T(test_seq_zero_is_invalid_argument),
		T(test_session_expiry_after_ttl_is_deterministic),
		T(test_enqueue_next_answer_end_happy_path),
		T(test_queue_order_is_tier_then_arrival_then_seq),
		T(test_next_picks_best_head_across_skills),
		T(test_next_with_no_waiting_call_is_queue_empty),
		T(test_enqueue_same_call_id_twice_queues_once),
		T(test_answer_with_wrong_token_is_stale_token),
		T(test_abandon_waiting_call_leaves_the_queue),
		T(test_abandon_offered_call_frees_the_agent),
		T(test_answered_call_cannot_be_abandoned),
		T(test_agent_login_same_site_updates_other_site_refused),
		T(test_agent_set_state_rules),
		T(test_ticket_open_update_show_and_list_by_customer),
		T(test_ticket_code_normalize_maps_case_and_confusables),
		T(test_ticket_read_back_case_insensitively),
		T(test_closed_ticket_refuses_update),
		T(test_unknown_ticket_and_unknown_call_are_not_found),
		T(test_ticket_notes_are_bounded),
		T(test_ticket_code_check_detects_substitutions_and_transpositions),
		T(test_validate_messages_name_operation_field_and_problem),
		T(test_invalid_command_is_invalid_argument_and_changes_nothing),
		T(test_business_error_rolls_back_only_its_command),
		T(test_undecodable_entry_advances_applied_and_changes_nothing_else),
		T(test_replayed_index_is_skipped),
		T(test_fsm_time_never_goes_backwards),
		T(test_restart_keeps_state),
		T(test_snapshot_restore_into_fresh_dir_gives_equal_digest),
		T(test_image_in_two_parts_is_the_snapshot_and_stays_fixed),
		T(test_restore_of_older_image_is_noop),
		T(test_crc32c_is_castagnoli_in_both_implementations),
		T(test_damaged_image_is_refused_even_when_not_newer),
		T(test_corrupt_snapshot_is_refused_and_old_state_stays),
		T(test_snapshot_on_a_worker_thread_while_applying_is_consistent),
		T(test_two_replicas_applying_the_same_entries_have_equal_digests),
		T(test_members_are_stored_without_raft_status),
		T(test_reads_refuse_writes_and_bad_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
