/* apply.c: state_apply, the FSM's only write path.
 *
 * One entry, one LMDB write transaction:
 *
 *   begin txn
 *   index <= meta.applied ............................. abort, return 1 (replay after restart)
 *   entry does not decode / format != 1 / too many commands
 *                          ............................ meta.applied = index, commit, no replies
 *   now = max(meta.time, entry.time_ms) -> meta.time
 *   expire at most CALLRAFT_SESSION_EXPIRE_PER_ENTRY sessions idle since before now - TTL
 *   expire at most CALLRAFT_IDEMPOTENCY_EXPIRE_PER_ENTRY idempotency keys older than their TTL
 *   for each command i:  reply i = run_command(i)      (see below)
 *   meta.applied = index; commit
 *
 * run_command, for a command of a client session:
 *
 *   session absent or idle beyond the TTL, or
 *   its secret not the command's, or
 *   its owner (an actor) not the command's ..... SESSION_UNKNOWN   (nothing stored)
 *   seq == 0 ................................... INVALID_ARGUMENT  (nothing stored)
 *   seq == session.last_seq .................... the stored reply, byte for byte (nothing stored)
 *   seq <  session.last_seq .................... SEQ_TOO_OLD       (nothing stored)
 *   seq >  session.last_seq .................... validate; refuse a site-limited actor's command
 *        on another site's call or agent (site_scope.c, PERMISSION_DENIED); run the operation in a nested
 *        transaction (committed on OK, aborted on a business error or when it would exceed a
 *        quota: RESOURCE_EXHAUSTED, see quota.c); then, in the entry's transaction,
 *        session = {last_seq: seq, last_reply: reply, last_used_ms: now, growth window}.
 *
 * A command with client_id 0 and an idempotency_key (a sessionless write, from HTTP) passes the
 * key's gate instead (idem.c): the key's stored reply if its operation is the same, refused with
 * IDEMPOTENCY_KEY_REUSED if not, else run and store its reply under the key.
 *
 * RegisterClient needs no session (it creates one: client_id = ++meta.client_seq); MemberUpsert,
 * MemberDelete, Tick, RulesDeclare and RulesSet with client_id 0 are written by the leader itself
 * and need none either (a Tick with a client session is refused like any command of an unknown op:
 * validate).
 *
 * Rules versions (rules.c): before the entry runs, an entry this binary has no rules for (the
 * state's active version or a RulesSet above its newest, an operation it does not know) is not
 * applied: state_apply returns STATE_APPLY_RULES and the node stops. A known command that needs a
 * version above the active one is refused (BAD_STATE) by every replica alike.
 *
 * Invariants (checked where they are cheap):
 *   1. meta.applied only grows, and is written in the same transaction as the entry's effects.
 *   2. meta.time only grows; every time stored in a record is <= meta.time.
 *   3. sessions and sess_time hold the same set of client ids; sess_time's key carries the
 *      session's last_used_ms.
 *   4. A command's effects are all or nothing: a business error rolls back its nested txn.
 *   5. Nothing here reads a clock, a random source or local configuration: replicas applying the
 *      same entries at the same indexes hold byte-identical tables. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_internal.h"

struct entry_run {
	struct state *s;
	MDB_txn *txn;      /* the entry's write transaction */
	uint64_t index;
	uint64_t term;
	int64_t now_ms;
	uint64_t quota_bytes; /* Entry.quota_bytes (0: none) */
	char *errmsg;
	size_t errmsg_len;
	struct state_replies *out;
	uint32_t event_pos; /* events emitted by the entry so far (events.c) */
};

static void ctx_init(struct apply_ctx *c, struct entry_run *r, unsigned position)
{
	memset(c, 0, sizeof *c);
	c->s = r->s;
	c->index = r->index;
	c->position = position;
	c->term = r->term;
	c->now_ms = r->now_ms;
	c->event_pos = &r->event_pos;
	c->quota_bytes = r->quota_bytes;
	c->errmsg = r->errmsg;
	c->errmsg_len = r->errmsg_len;
	c->code = CALLRAFT__CODE__OK;
}

/* Copies `len` bytes into reply buffer i (grown as needed) and publishes it in out. */
static int reply_set(struct entry_run *r, unsigned i, const void *bytes, size_t len)
{
	struct state *s = r->s;

	if (len > s->reply_cap[i] || s->reply_buf[i] == NULL) {
		size_t cap = len < 256 ? 256 : len;
		uint8_t *b = realloc(s->reply_buf[i], cap);
		if (b == NULL) {
			snprintf(r->errmsg, r->errmsg_len, "state: reply %u: out of memory", i);
			return -1;
		}
		s->reply_buf[i] = b;
		s->reply_cap[i] = cap;
	}
	if (len > 0)
		memcpy(s->reply_buf[i], bytes, len);
	r->out->bytes[i] = s->reply_buf[i];
	r->out->len[i] = len;
	return 0;
}

/* Packs `reply` into reply buffer i. */
static int reply_pack(struct entry_run *r, unsigned i, const Callraft__Reply *reply)
{
	size_t len = callraft__reply__get_packed_size(reply);
	uint8_t stack[512];
	uint8_t *b = len <= sizeof stack ? stack : malloc(len);
	int rc;

	if (b == NULL) {
		snprintf(r->errmsg, r->errmsg_len, "state: reply %u: out of memory", i);
		return -1;
	}
	callraft__reply__pack(reply, b);
	rc = reply_set(r, i, b, len);
	if (b != stack)
		free(b);
	return rc;
}

/* A reply that carries only a code and a message (and is not stored in a session). */
static int reply_error(struct entry_run *r, unsigned i, Callraft__Code code, const char *msg)
{
	Callraft__Reply reply = CALLRAFT__REPLY__INIT;

	reply.code = code;
	reply.message = (char *)msg;
	reply.applied_index = r->index;
	return reply_pack(r, i, &reply);
}

/* ---- sessions --------------------------------------------------------------------------- */

static size_t sess_time_key(uint8_t out[16], int64_t last_used_ms, uint64_t client_id)
{
	be64_put(out, (uint64_t)last_used_ms);
	be64_put(out + 8, client_id);
	return 16;
}

static bool session_expired(const struct entry_run *r, int64_t last_used_ms)
{
	return last_used_ms < r->now_ms - CALLRAFT_SESSION_TTL_MS;
}

/* Returns 0 with *out, 1 if absent or expired, -1 on failure. */
static int session_get(struct entry_run *r, uint64_t client_id, Callraft__Session **out)
{
	uint8_t key[8];
	char subject[24];
	int rc;

	be64_put(key, client_id);
	snprintf(subject, sizeof subject, "%llu", (unsigned long long)client_id);
	rc = store_get(r->s, r->txn, DB_SESSIONS, key, sizeof key, &callraft__session__descriptor,
		       (ProtobufCMessage **)out, "session", subject, r->errmsg, r->errmsg_len);
	if (rc == 0 && session_expired(r, (*out)->last_used_ms)) {
		protobuf_c_message_free_unpacked(&(*out)->base, NULL);
		*out = NULL;
		return 1;
	}
	return rc;
}

/* Stores `sess` (new or updated) and moves its expiry key from old_used_ms (< 0: none). */
static int session_put(struct entry_run *r, const Callraft__Session *sess, int64_t old_used_ms)
{
	uint8_t key[8], tkey[16];
	char subject[24];

	be64_put(key, sess->client_id);
	snprintf(subject, sizeof subject, "%llu", (unsigned long long)sess->client_id);
	if (old_used_ms >= 0) {
		sess_time_key(tkey, old_used_ms, sess->client_id);
		if (store_del(r->s, r->txn, DB_SESS_TIME, tkey, sizeof tkey, "session time", subject,
			      r->errmsg, r->errmsg_len) < 0)
			return -1;
	}
	sess_time_key(tkey, sess->last_used_ms, sess->client_id);
	if (store_put_raw(r->s, r->txn, DB_SESS_TIME, tkey, sizeof tkey, "", 0, "session time",
			  subject, r->errmsg, r->errmsg_len) != 0)
		return -1;
	return store_put(r->s, r->txn, DB_SESSIONS, key, sizeof key, &sess->base, "session", subject,
			 r->errmsg, r->errmsg_len);
}

/* Deletes up to CALLRAFT_SESSION_EXPIRE_PER_ENTRY sessions idle since before now - TTL, oldest
 * first. Bounded so that one entry's apply time stays small after a long idle period. */
static int sessions_expire(struct entry_run *r)
{
	for (int n = 0; n < CALLRAFT_SESSION_EXPIRE_PER_ENTRY; n++) {
		MDB_cursor *cur;
		MDB_val k, v;
		uint8_t tkey[16], key[8];
		int rc = mdb_cursor_open(r->txn, r->s->dbi[DB_SESS_TIME], &cur);

		if (rc != 0)
			return store_err(r->errmsg, r->errmsg_len, rc, "expire sessions");
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		if (rc == 0) {
			assert(k.mv_size == sizeof tkey);
			memcpy(tkey, k.mv_data, sizeof tkey);
		}
		mdb_cursor_close(cur);
		if (rc == MDB_NOTFOUND || (rc == 0 && !session_expired(r, (int64_t)be64_get(tkey))))
			return 0;
		if (rc != 0)
			return store_err(r->errmsg, r->errmsg_len, rc, "expire sessions");
		memcpy(key, tkey + 8, sizeof key);
		if (store_del(r->s, r->txn, DB_SESS_TIME, tkey, sizeof tkey, "session time", "expired",
			      r->errmsg, r->errmsg_len) < 0 ||
		    store_del(r->s, r->txn, DB_SESSIONS, key, sizeof key, "session", "expired",
			      r->errmsg, r->errmsg_len) < 0)
			return -1;
	}
	return 0;
}

/* ---- operations ------------------------------------------------------------------------- */

static int dispatch(struct apply_ctx *c, const Callraft__Command *cmd)
{
	switch (cmd->op_case) {
	case CALLRAFT__COMMAND__OP_CALL_ENQUEUE: return op_call_enqueue(c, cmd->call_enqueue);
	case CALLRAFT__COMMAND__OP_CALL_NEXT: return op_call_next(c, cmd->call_next);
	case CALLRAFT__COMMAND__OP_CALL_ANSWER: return op_call_answer(c, cmd->call_answer);
	case CALLRAFT__COMMAND__OP_CALL_END: return op_call_end(c, cmd->call_end);
	case CALLRAFT__COMMAND__OP_CALL_ABANDON: return op_call_abandon(c, cmd->call_abandon);
	case CALLRAFT__COMMAND__OP_AGENT_LOGIN: return op_agent_login(c, cmd->agent_login);
	case CALLRAFT__COMMAND__OP_AGENT_SET_STATE: return op_agent_set_state(c, cmd->agent_set_state);
	case CALLRAFT__COMMAND__OP_AGENT_LOGOUT: return op_agent_logout(c, cmd->agent_logout);
	case CALLRAFT__COMMAND__OP_TICKET_OPEN: return op_ticket_open(c, cmd->ticket_open);
	case CALLRAFT__COMMAND__OP_TICKET_UPDATE: return op_ticket_update(c, cmd->ticket_update);
	case CALLRAFT__COMMAND__OP_MEMBER_UPSERT: return op_member_upsert(c, cmd->member_upsert);
	case CALLRAFT__COMMAND__OP_MEMBER_DELETE: return op_member_delete(c, cmd->member_delete);
	case CALLRAFT__COMMAND__OP_CALL_REJECT: return op_call_reject(c, cmd->call_reject);
	case CALLRAFT__COMMAND__OP_AGENT_HEARTBEAT: return op_agent_heartbeat(c, cmd->agent_heartbeat);
	case CALLRAFT__COMMAND__OP_QUEUE_CONFIGURE: return op_queue_configure(c, cmd->queue_configure);
	case CALLRAFT__COMMAND__OP_CALLBACK_REQUEST: return op_callback_request(c, cmd->callback_request);
	case CALLRAFT__COMMAND__OP_CALLBACK_SCHEDULE:
		return op_callback_schedule(c, cmd->callback_schedule);
	case CALLRAFT__COMMAND__OP_CALLBACK_VOICEMAIL:
		return op_callback_voicemail(c, cmd->callback_voicemail);
	case CALLRAFT__COMMAND__OP_CALL_DIAL_ATTEMPT:
		return op_call_dial_attempt(c, cmd->call_dial_attempt);
	case CALLRAFT__COMMAND__OP_SITE_CONFIGURE: return op_site_configure(c, cmd->site_configure);
	case CALLRAFT__COMMAND__OP_SITE_DOWN: return op_site_down(c, cmd->site_down);
	case CALLRAFT__COMMAND__OP_SITE_UP: return op_site_up(c, cmd->site_up);
	case CALLRAFT__COMMAND__OP_SITE_HEARTBEAT: return op_site_heartbeat(c, cmd->site_heartbeat);
	case CALLRAFT__COMMAND__OP_CUSTOMER_SET: return op_customer_set(c, cmd->customer_set);
	case CALLRAFT__COMMAND__OP_TICKET_CLASS_CONFIGURE:
		return op_ticket_class_configure(c, cmd->ticket_class_configure);
	case CALLRAFT__COMMAND__OP_TOKEN_ISSUE:
		return op_token_issue(c, cmd->token_issue, cmd->actor != NULL ? cmd->actor : "");
	case CALLRAFT__COMMAND__OP_TOKEN_REVOKE: return op_token_revoke(c, cmd->token_revoke);
	case CALLRAFT__COMMAND__OP_CAMPAIGN_CREATE: return op_campaign_create(c, cmd->campaign_create);
	case CALLRAFT__COMMAND__OP_CAMPAIGN_ADD: return op_campaign_add(c, cmd->campaign_add);
	case CALLRAFT__COMMAND__OP_CAMPAIGN_PAUSE: return op_campaign_pause(c, cmd->campaign_pause);
	case CALLRAFT__COMMAND__OP_CAMPAIGN_DELETE: return op_campaign_delete(c, cmd->campaign_delete);
	case CALLRAFT__COMMAND__OP_TICK: return op_tick(c, cmd->tick);
	case CALLRAFT__COMMAND__OP_RULES_DECLARE: return op_rules_declare(c, cmd->rules_declare);
	case CALLRAFT__COMMAND__OP_RULES_SET: return op_rules_set(c, cmd->rules_set);
	default:
		/* state_validate refuses every other case before we get here. */
		assert(0 && "unreachable: validated command without an operation");
		return -1;
	}
}

/* Validates and runs one operation in a nested transaction of `parent`. */
static int run_op(struct apply_ctx *c, MDB_txn *parent, const Callraft__Command *cmd)
{
	Callraft__Code code = state_validate(cmd, c->msg, sizeof c->msg);
	uint32_t event_pos = *c->event_pos;
	int rc;

	if (code != CALLRAFT__CODE__OK) {
		c->code = code;
		return 0;
	}
	uint64_t before[DB_COUNT];
	int64_t growth = 0;

	rc = rules_command_allowed(c, parent, cmd);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	rc = site_scope_check(c->s, parent, cmd, c->msg, sizeof c->msg, c->errmsg, c->errmsg_len);
	if (rc != 0) {
		if (rc > 0)
			c->code = CALLRAFT__CODE__PERMISSION_DENIED;
		return rc < 0 ? -1 : 0;
	}
	rc = mdb_txn_begin(c->s->env, parent, 0, &c->txn);
	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "%s: begin", validate_op_name(cmd));
	memcpy(before, c->s->bytes, sizeof before);
	rc = dispatch(c, cmd);
	if (rc == 0 && c->code == CALLRAFT__CODE__OK)
		rc = assign_after_command(c);
	if (rc == 0 && c->code == CALLRAFT__CODE__OK && quota_refuse(c, cmd, before, &growth))
		assert(c->code == CALLRAFT__CODE__RESOURCE_EXHAUSTED);
	if (rc != 0 || c->code != CALLRAFT__CODE__OK) {
		mdb_txn_abort(c->txn);
		c->txn = NULL;
		*c->event_pos = event_pos; /* the command's events were rolled back with it */
		memcpy(c->s->bytes, before, sizeof before); /* quota.c invariant 2 */
		return rc;
	}
	c->growth_bytes = growth;
	rc = mdb_txn_commit(c->txn);
	c->txn = NULL;
	if (rc != 0)
		return store_err(c->errmsg, c->errmsg_len, rc, "%s: commit", validate_op_name(cmd));
	return 0;
}

/* Runs the operation and packs its reply into buffer i. */
/* sess: the command's session (its growth window), or NULL; exempt: the leader's own command,
 * never refused by a quota. */
static int run_and_reply(struct entry_run *r, unsigned i, const Callraft__Command *cmd,
			 const Callraft__Session *sess, bool exempt, int64_t *growth_out)
{
	Callraft__Reply reply = CALLRAFT__REPLY__INIT;
	struct apply_ctx c;
	int rc;

	ctx_init(&c, r, i);
	c.session = sess;
	c.quota_exempt = exempt;
	rc = run_op(&c, r->txn, cmd);
	if (growth_out != NULL)
		*growth_out = c.growth_bytes;
	if (rc == 0) {
		reply.code = c.code;
		reply.message = c.msg;
		reply.applied_index = r->index;
		reply.call = c.has_call ? &c.call : NULL;
		reply.agent = c.has_agent ? &c.agent : NULL;
		reply.ticket = c.has_ticket ? &c.ticket : NULL;
		reply.token = c.has_token ? &c.token : NULL;
		reply.campaign = c.has_campaign ? &c.campaign : NULL;
		rc = reply_pack(r, i, &reply);
	}
	apply_ctx_release(&c);
	return rc;
}

static int run_register(struct entry_run *r, unsigned i, const Callraft__Command *cmd)
{
	Callraft__Session sess = CALLRAFT__SESSION__INIT;
	Callraft__Reply reply = CALLRAFT__REPLY__INIT;
	char msg[STATE_MSG_BYTES_MAX];
	uint64_t id;
	Callraft__Code code = state_validate(cmd, msg, sizeof msg);

	if (code != CALLRAFT__CODE__OK)
		return reply_error(r, i, code, msg);
	if (quota_sessions_full(r->s, r->quota_bytes)) {
		snprintf(msg, sizeof msg,
			 "quota: sessions hold %llu bytes, above their quota of %llu bytes: retry "
			 "once idle sessions expire, or raise [state] quota_mb",
			 (unsigned long long)r->s->bytes[DB_SESSIONS],
			 (unsigned long long)quota_table_bytes(DB_SESSIONS, r->quota_bytes));
		return reply_error(r, i, CALLRAFT__CODE__RESOURCE_EXHAUSTED, msg);
	}
	if (store_meta_get(r->s, r->txn, META_CLIENT_SEQ, &id, r->errmsg, r->errmsg_len) != 0 ||
	    store_meta_put(r->s, r->txn, META_CLIENT_SEQ, ++id, r->errmsg, r->errmsg_len) != 0)
		return -1;
	reply.applied_index = r->index;
	reply.client_id = id;
	reply.session_secret = cmd->register_client->secret;
	if (reply_pack(r, i, &reply) != 0)
		return -1;
	sess.client_id = id;
	sess.name = cmd->register_client->name;
	sess.secret = cmd->register_client->secret;
	sess.owner = cmd->actor;
	sess.last_used_ms = r->now_ms;
	sess.last_reply.data = (uint8_t *)r->out->bytes[i];
	sess.last_reply.len = r->out->len[i];
	return session_put(r, &sess, -1);
}

static bool is_internal(const Callraft__Command *cmd)
{
	return cmd->client_id == 0 && (cmd->op_case == CALLRAFT__COMMAND__OP_MEMBER_UPSERT ||
				       cmd->op_case == CALLRAFT__COMMAND__OP_MEMBER_DELETE ||
				       cmd->op_case == CALLRAFT__COMMAND__OP_TICK ||
				       cmd->op_case == CALLRAFT__COMMAND__OP_RULES_DECLARE ||
				       cmd->op_case == CALLRAFT__COMMAND__OP_RULES_SET);
}

/* A session made with a secret (RegisterClient.secret, drawn by the leader) accepts only commands
 * that carry it; sessions made before secrets have none and accept any. The comparison takes the
 * same time whatever the bytes. */
static bool secret_matches(const Callraft__Session *sess, const Callraft__Command *cmd)
{
	uint8_t diff = 0;

	if (sess->secret.len == 0)
		return true;
	if (cmd->session_secret.len != sess->secret.len)
		return false;
	for (size_t k = 0; k < sess->secret.len; k++)
		diff |= sess->secret.data[k] ^ cmd->session_secret.data[k];
	return diff == 0;
}

/* A session registered by an actor (a certificate, a token; Command.actor) is that actor's only:
 * another actor holding its id and secret is told it does not exist. Sessions registered without
 * an actor (no TLS, or before actors) accept any. */
static bool owner_matches(const Callraft__Session *sess, const Callraft__Command *cmd)
{
	return sess->owner == NULL || sess->owner[0] == '\0' ||
	       (cmd->actor != NULL && strcmp(sess->owner, cmd->actor) == 0);
}

/* The exactly-once gate of a session command; see the table at the top. */
static int run_session_command(struct entry_run *r, unsigned i, const Callraft__Command *cmd)
{
	Callraft__Session *sess, upd;
	char msg[STATE_MSG_BYTES_MAX];
	int rc = session_get(r, cmd->client_id, &sess);

	if (rc < 0)
		return -1;
	if (rc == 0 && (!secret_matches(sess, cmd) || !owner_matches(sess, cmd))) {
		/* The same answer as for an unknown session: a guessed id learns nothing. */
		protobuf_c_message_free_unpacked(&sess->base, NULL);
		rc = 1;
	}
	if (rc == 1) {
		snprintf(msg, sizeof msg, "session %llu: unknown or expired: register again",
			 (unsigned long long)cmd->client_id);
		return reply_error(r, i, CALLRAFT__CODE__SESSION_UNKNOWN, msg);
	}
	if (cmd->seq == 0) {
		snprintf(msg, sizeof msg, "%s: seq: missing", validate_op_name(cmd));
		rc = reply_error(r, i, CALLRAFT__CODE__INVALID_ARGUMENT, msg);
	} else if (cmd->seq == sess->last_seq) {
		rc = reply_set(r, i, sess->last_reply.data, sess->last_reply.len);
	} else if (cmd->seq < sess->last_seq) {
		snprintf(msg, sizeof msg, "session %llu: seq %llu is below the last applied seq %llu",
			 (unsigned long long)cmd->client_id, (unsigned long long)cmd->seq,
			 (unsigned long long)sess->last_seq);
		rc = reply_error(r, i, CALLRAFT__CODE__SEQ_TOO_OLD, msg);
	} else {
		int64_t growth = 0;
		rc = run_and_reply(r, i, cmd, sess, false, &growth);
		if (rc == 0) {
			upd = *sess;
			quota_session_add(&upd, r->now_ms, growth);
			upd.last_seq = cmd->seq;
			upd.last_reply.data = (uint8_t *)r->out->bytes[i];
			upd.last_reply.len = r->out->len[i];
			upd.last_used_ms = r->now_ms;
			rc = session_put(r, &upd, sess->last_used_ms);
		}
	}
	protobuf_c_message_free_unpacked(&sess->base, NULL);
	return rc;
}

/* The exactly-once gate of a sessionless command with an idempotency key (idem.c). */
static int run_idem_command(struct entry_run *r, unsigned i, const Callraft__Command *cmd)
{
	Callraft__IdempotencyRecord *rec = NULL;
	const char *key = cmd->idempotency_key;
	uint64_t fp = idem_fingerprint(cmd);
	char msg[STATE_MSG_BYTES_MAX];
	int rc;

	rc = idem_get(r->s, r->txn, key, r->now_ms, &rec, r->errmsg, r->errmsg_len);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		if (rec->fingerprint == fp) {
			rc = reply_set(r, i, rec->reply.data, rec->reply.len);
		} else {
			snprintf(msg, sizeof msg,
				 "idempotency key '%s' was used for another request: use a new key",
				 key);
			rc = reply_error(r, i, CALLRAFT__CODE__IDEMPOTENCY_KEY_REUSED, msg);
		}
		protobuf_c_message_free_unpacked(&rec->base, NULL);
		return rc;
	}
	if (run_and_reply(r, i, cmd, NULL, false, NULL) != 0)
		return -1;
	return idem_put(r->s, r->txn, key, fp, r->now_ms, r->out->bytes[i], r->out->len[i],
			CALLRAFT_IDEMPOTENCY_KEYS_MAX, r->errmsg, r->errmsg_len);
}

static int run_command(struct entry_run *r, unsigned i, const Callraft__Command *cmd)
{
	if (cmd->op_case == CALLRAFT__COMMAND__OP_REGISTER_CLIENT)
		return run_register(r, i, cmd);
	if (is_internal(cmd))
		return run_and_reply(r, i, cmd, NULL, true, NULL);
	if (cmd->client_id == 0 && cmd->idempotency_key != NULL && cmd->idempotency_key[0] != '\0') {
		char msg[STATE_MSG_BYTES_MAX];
		/* Checked before the key is used as an LMDB key (validate also checks it). */
		Callraft__Code code = state_validate(cmd, msg, sizeof msg);
		if (code != CALLRAFT__CODE__OK)
			return reply_error(r, i, code, msg);
		return run_idem_command(r, i, cmd);
	}
	return run_session_command(r, i, cmd);
}

/* ---- the entry -------------------------------------------------------------------------- */

static int run_entry(struct entry_run *r, const Callraft__Entry *e)
{
	uint64_t stored;

	if (store_meta_get(r->s, r->txn, META_TIME, &stored, r->errmsg, r->errmsg_len) != 0)
		return -1;
	/* FSM time never goes backwards: a new leader with a slower clock cannot reorder queues. It
	 * never passes CALLRAFT_FSM_TIME_MS_MAX either, whatever an entry says (a wild clock, a
	 * forged entry), so that now + any duration fits an int64 (found by tests/fuzz/fuzz_entry:
	 * Tick's now + site_loss_after_ms overflowed). */
	int64_t stamped = e->time_ms < CALLRAFT_FSM_TIME_MS_MAX ? e->time_ms : CALLRAFT_FSM_TIME_MS_MAX;
	r->now_ms = stamped > (int64_t)stored ? stamped : (int64_t)stored;
	assert(r->now_ms >= 0 && r->now_ms <= CALLRAFT_FSM_TIME_MS_MAX);
	r->term = e->term;
	r->quota_bytes = e->quota_bytes;
	r->s->quota_bytes_seen = e->quota_bytes;
	if (store_meta_put(r->s, r->txn, META_TIME, (uint64_t)r->now_ms, r->errmsg, r->errmsg_len) != 0)
		return -1;
	if (sessions_expire(r) != 0 || idem_expire(r->s, r->txn, r->now_ms, r->errmsg, r->errmsg_len) != 0)
		return -1;
	for (size_t i = 0; i < e->n_commands; i++) {
		if (run_command(r, (unsigned)i, e->commands[i]) != 0)
			return -1;
	}
	if (events_trim(r->s, r->txn, r->now_ms, r->event_pos, r->errmsg, r->errmsg_len) != 0)
		return -1;
	r->out->n = e->n_commands;
	r->out->term = e->term;
	r->out->events = r->event_pos;
	return 0;
}

static bool entry_acceptable(const Callraft__Entry *e)
{
	return e != NULL && e->format == CALLRAFT_ENTRY_FORMAT &&
	       e->n_commands <= CALLRAFT_BATCH_COMMANDS_MAX;
}

int state_apply(struct state *s, uint64_t index, const void *entry, size_t entry_len,
		struct state_replies *out, char *errmsg, size_t errmsg_len)
{
	struct entry_run r = {.s = s, .index = index, .errmsg = errmsg, .errmsg_len = errmsg_len,
			      .out = out};
	Callraft__Entry *e = NULL;
	uint64_t applied, before[DB_COUNT];
	int rc;

	out->n = 0;
	out->term = 0;
	out->events = 0;
	memcpy(before, s->bytes, sizeof before);
	rc = mdb_txn_begin(s->env, NULL, 0, &r.txn);
	if (rc != 0)
		return store_err(errmsg, errmsg_len, rc, "apply %llu: begin", (unsigned long long)index);
	if (store_meta_get(s, r.txn, META_APPLIED, &applied, errmsg, errmsg_len) != 0)
		goto err_txn;
	if (index <= applied) {
		mdb_txn_abort(r.txn);
		return 1;
	}
	e = callraft__entry__unpack(NULL, entry_len, entry);
	/* An entry every replica fails to decode is applied as a no-op by all of them alike. */
	if (entry_acceptable(e)) {
		/* rules.c R3: an entry this binary has no rules for is not applied at all. */
		rc = rules_entry_check(s, r.txn, index, e, errmsg, errmsg_len);
		if (rc > 0) {
			callraft__entry__free_unpacked(e, NULL);
			mdb_txn_abort(r.txn);
			return STATE_APPLY_RULES;
		}
		if (rc < 0 || run_entry(&r, e) != 0)
			goto err_entry;
	}
	if (quota_save(s, r.txn, before, errmsg, errmsg_len) != 0 ||
	    store_meta_put(s, r.txn, META_APPLIED, index, errmsg, errmsg_len) != 0)
		goto err_entry;
	rc = mdb_txn_commit(r.txn);
	if (e != NULL)
		callraft__entry__free_unpacked(e, NULL);
	if (rc != 0) {
		out->n = 0;
		memcpy(s->bytes, before, sizeof before);
		return store_err(errmsg, errmsg_len, rc, "apply %llu: commit",
				 (unsigned long long)index);
	}
	return 0;

err_entry:
	if (e != NULL)
		callraft__entry__free_unpacked(e, NULL);
err_txn:
	mdb_txn_abort(r.txn);
	memcpy(s->bytes, before, sizeof before); /* quota.c invariant 2 */
	out->n = 0;
	return -1;
}
