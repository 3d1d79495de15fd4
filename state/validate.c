/* validate.c: state_validate, the field checks of every command.
 *
 * The same checks run twice (docs/design.md, "Pair checks"): in the node before a command is
 * proposed, so that a bad request never reaches the log, and in apply after decoding, so that a
 * command from an older or buggy leader cannot store what this version would refuse. They read nothing but the command.
 *
 * Field classes (limits in callraft_limits.h):
 *   id      printable ASCII without spaces (0x21..0x7e), 1..CALLRAFT_ID_BYTES_MAX
 *           (call, agent, customer ids, client names, authors, ticket codes)
 *   name    [A-Za-z0-9._-], 1..max (queues and skills, sites, categories)
 *   phone   an optional leading '+', then [0-9*#], 1..CALLRAFT_PHONE_BYTES_MAX
 *   text    valid UTF-8 without control characters (tab and newline allowed), 0..max
 *   address printable ASCII without spaces, 0..CALLRAFT_ADDRESS_BYTES_MAX
 *
 * Messages: "<operation>: <field>: <problem>", e.g. "call_enqueue: call_id: missing" or
 * "call_enqueue: call_id: too long (70 > 64 bytes)". A NULL string is treated as empty. */
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

const char *validate_op_name(const Callraft__Command *cmd)
{
	switch (cmd->op_case) {
	case CALLRAFT__COMMAND__OP_REGISTER_CLIENT: return "register_client";
	case CALLRAFT__COMMAND__OP_CALL_ENQUEUE: return "call_enqueue";
	case CALLRAFT__COMMAND__OP_CALL_NEXT: return "call_next";
	case CALLRAFT__COMMAND__OP_CALL_ANSWER: return "call_answer";
	case CALLRAFT__COMMAND__OP_CALL_END: return "call_end";
	case CALLRAFT__COMMAND__OP_CALL_ABANDON: return "call_abandon";
	case CALLRAFT__COMMAND__OP_AGENT_LOGIN: return "agent_login";
	case CALLRAFT__COMMAND__OP_AGENT_SET_STATE: return "agent_set_state";
	case CALLRAFT__COMMAND__OP_AGENT_LOGOUT: return "agent_logout";
	case CALLRAFT__COMMAND__OP_TICKET_OPEN: return "ticket_open";
	case CALLRAFT__COMMAND__OP_TICKET_UPDATE: return "ticket_update";
	case CALLRAFT__COMMAND__OP_MEMBER_UPSERT: return "member_upsert";
	case CALLRAFT__COMMAND__OP_MEMBER_DELETE: return "member_delete";
	case CALLRAFT__COMMAND__OP_CALL_REJECT: return "call_reject";
	case CALLRAFT__COMMAND__OP_AGENT_HEARTBEAT: return "agent_heartbeat";
	case CALLRAFT__COMMAND__OP_QUEUE_CONFIGURE: return "queue_configure";
	case CALLRAFT__COMMAND__OP_CALLBACK_REQUEST: return "callback_request";
	case CALLRAFT__COMMAND__OP_CALLBACK_SCHEDULE: return "callback_schedule";
	case CALLRAFT__COMMAND__OP_CALLBACK_VOICEMAIL: return "callback_voicemail";
	case CALLRAFT__COMMAND__OP_CALL_DIAL_ATTEMPT: return "call_dial_attempt";
	case CALLRAFT__COMMAND__OP_SITE_CONFIGURE: return "site_configure";
	case CALLRAFT__COMMAND__OP_SITE_DOWN: return "site_down";
	case CALLRAFT__COMMAND__OP_SITE_UP: return "site_up";
	case CALLRAFT__COMMAND__OP_SITE_HEARTBEAT: return "site_heartbeat";
	case CALLRAFT__COMMAND__OP_CUSTOMER_SET: return "customer_set";
	case CALLRAFT__COMMAND__OP_TICKET_CLASS_CONFIGURE: return "ticket_class_configure";
	case CALLRAFT__COMMAND__OP_CAMPAIGN_CREATE: return "campaign_create";
	case CALLRAFT__COMMAND__OP_CAMPAIGN_ADD: return "campaign_add";
	case CALLRAFT__COMMAND__OP_CAMPAIGN_PAUSE: return "campaign_pause";
	case CALLRAFT__COMMAND__OP_CAMPAIGN_DELETE: return "campaign_delete";
	case CALLRAFT__COMMAND__OP_TICK: return "tick";
	case CALLRAFT__COMMAND__OP_TOKEN_ISSUE: return "token_issue";
	case CALLRAFT__COMMAND__OP_TOKEN_REVOKE: return "token_revoke";
	case CALLRAFT__COMMAND__OP_RULES_DECLARE: return "rules_declare";
	case CALLRAFT__COMMAND__OP_RULES_SET: return "rules_set";
	default: return "command";
	}
}

/* Length checks shared by every class. Returns true if the length is acceptable. */
static bool check_len(const char *ctx, const char *field, const char *v, size_t max, bool required,
		      char *msg, size_t msg_len)
{
	size_t n = v != NULL ? strlen(v) : 0;

	if (n == 0 && required) {
		snprintf(msg, msg_len, "%s: %s: missing", ctx, field);
		return false;
	}
	if (n > max) {
		snprintf(msg, msg_len, "%s: %s: too long (%zu > %zu bytes)", ctx, field, n, max);
		return false;
	}
	return true;
}

static bool bad_char(const char *ctx, const char *field, const char *v, size_t at,
		     const char *allowed, char *msg, size_t msg_len)
{
	snprintf(msg, msg_len, "%s: %s: bad character 0x%02x at byte %zu (allowed: %s)", ctx, field,
		 (unsigned char)v[at], at, allowed);
	return false;
}

static bool check_printable(const char *ctx, const char *field, const char *v, size_t max,
			    bool required, char *msg, size_t msg_len)
{
	if (!check_len(ctx, field, v, max, required, msg, msg_len))
		return false;
	for (size_t i = 0; v != NULL && v[i] != '\0'; i++) {
		if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e)
			return bad_char(ctx, field, v, i, "printable ASCII without spaces", msg, msg_len);
	}
	return true;
}

bool validate_id(const char *ctx, const char *field, const char *v, bool required, char *msg,
		 size_t msg_len)
{
	return check_printable(ctx, field, v, CALLRAFT_ID_BYTES_MAX, required, msg, msg_len);
}

bool validate_name(const char *ctx, const char *field, const char *v, size_t max, bool required,
		   char *msg, size_t msg_len)
{
	if (!check_len(ctx, field, v, max, required, msg, msg_len))
		return false;
	for (size_t i = 0; v != NULL && v[i] != '\0'; i++) {
		char ch = v[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '_' || ch == '-'))
			return bad_char(ctx, field, v, i, "A-Z a-z 0-9 . _ -", msg, msg_len);
	}
	return true;
}

static bool check_phone(const char *ctx, const char *field, const char *v, bool required, char *msg,
			size_t msg_len)
{
	if (!check_len(ctx, field, v, CALLRAFT_PHONE_BYTES_MAX, required, msg, msg_len))
		return false;
	if (v == NULL || v[0] == '\0')
		return true;
	size_t i = v[0] == '+' ? 1 : 0;
	if (v[i] == '\0') {
		snprintf(msg, msg_len, "%s: %s: no digits", ctx, field);
		return false;
	}
	for (; v[i] != '\0'; i++) {
		if (!((v[i] >= '0' && v[i] <= '9') || v[i] == '*' || v[i] == '#'))
			return bad_char(ctx, field, v, i, "a leading +, then 0-9 * #", msg, msg_len);
	}
	return true;
}

/* Length of the UTF-8 sequence at p (1..4), or 0 if it is not valid (overlong forms, surrogates
 * and code points above U+10FFFF are refused). */
static size_t utf8_seq(const unsigned char *p)
{
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (p[0] >= 0xe0 && p[0] <= 0xef) {
		unsigned lo = p[0] == 0xe0 ? 0xa0 : 0x80, hi = p[0] == 0xed ? 0x9f : 0xbf;
		return (p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80) ? 3 : 0;
	}
	if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		unsigned lo = p[0] == 0xf0 ? 0x90 : 0x80, hi = p[0] == 0xf4 ? 0x8f : 0xbf;
		return (p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80)
			       ? 4
			       : 0;
	}
	return 0;
}

static bool check_text(const char *ctx, const char *field, const char *v, size_t max, bool required,
		       char *msg, size_t msg_len)
{
	if (!check_len(ctx, field, v, max, required, msg, msg_len))
		return false;
	for (size_t i = 0; v != NULL && v[i] != '\0';) {
		const unsigned char *p = (const unsigned char *)v + i;
		size_t n = utf8_seq(p);
		if (n == 0)
			return bad_char(ctx, field, v, i, "valid UTF-8", msg, msg_len);
		if (n == 1 && (p[0] < 0x20 || p[0] == 0x7f) && p[0] != '\t' && p[0] != '\n')
			return bad_char(ctx, field, v, i, "text without control characters", msg,
					msg_len);
		i += n;
	}
	return true;
}

/* Command.actor: stamped by a node from a certificate CN, so printable ASCII with spaces. */
static bool check_actor(const char *ctx, const char *v, char *msg, size_t msg_len)
{
	if (!check_len(ctx, "actor", v, CALLRAFT_ACTOR_BYTES_MAX, false, msg, msg_len))
		return false;
	for (size_t i = 0; v != NULL && v[i] != '\0'; i++) {
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
			return bad_char(ctx, "actor", v, i, "printable ASCII", msg, msg_len);
	}
	return true;
}

static bool check_unknown(const char *ctx, const ProtobufCMessage *m, char *msg, size_t msg_len)
{
	if (m->n_unknown_fields == 0)
		return true;
	snprintf(msg, msg_len, "%s: unknown field %u (sent by a newer version?)", ctx,
		 (unsigned)m->unknown_fields[0].tag);
	return false;
}

/* ---- per operation ---------------------------------------------------------------------- */

/* A token's roles are the certificate roles (tls.h); a site limits only agent and pbx tokens. */
static bool v_token_issue(const char *ctx, const Callraft__TokenIssue *op, char *m, size_t n)
{
	static const char *const roles[] = {"agent", "pbx", "supervisor", "admin"};

	if (!check_actor(ctx, op->name, m, n) || op->name == NULL || op->name[0] == '\0' ||
	    strlen(op->name) > CALLRAFT_TOKEN_NAME_BYTES_MAX) {
		if (m[0] == '\0')
			snprintf(m, n, "%s: name: missing or longer than %d bytes", ctx,
				 CALLRAFT_TOKEN_NAME_BYTES_MAX);
		return false;
	}
	if (op->n_roles == 0 || op->n_roles > 4) {
		snprintf(m, n, "%s: roles: %zu given (1 to 4 of agent, pbx, supervisor, admin)", ctx,
			 op->n_roles);
		return false;
	}
	for (size_t i = 0; i < op->n_roles; i++) {
		bool known = false;
		for (size_t r = 0; r < sizeof roles / sizeof roles[0]; r++)
			known = known || strcmp(op->roles[i], roles[r]) == 0;
		if (!known) {
			snprintf(m, n, "%s: roles: '%.32s' is not agent, pbx, supervisor or admin", ctx,
				 op->roles[i]);
			return false;
		}
	}
	if (!validate_name(ctx, "site", op->site, CALLRAFT_SITE_BYTES_MAX, false, m, n))
		return false;
	if (op->expires_ms <= 0) {
		snprintf(m, n, "%s: expires_ms: missing", ctx);
		return false;
	}
	if (op->hash.len != CALLRAFT_TOKEN_HASH_BYTES) {
		snprintf(m, n, "%s: hash: %zu bytes, not the %d of a SHA-256", ctx, op->hash.len,
			 CALLRAFT_TOKEN_HASH_BYTES);
		return false;
	}
	return true;
}

static bool v_range(const char *ctx, const char *field, bool has, int64_t v, int64_t lo, int64_t hi,
		    char *m, size_t n);

static bool v_call_enqueue(const char *ctx, const Callraft__CallEnqueue *op, char *m, size_t n)
{
	if (!validate_id(ctx, "call_id", op->call_id, true, m, n) ||
	    !validate_name(ctx, "queue", op->queue, CALLRAFT_QUEUE_BYTES_MAX, true, m, n) ||
	    !check_phone(ctx, "caller_number", op->caller_number, false, m, n) ||
	    !validate_id(ctx, "customer_id", op->customer_id, false, m, n) ||
	    !validate_name(ctx, "arrival_site", op->arrival_site, CALLRAFT_SITE_BYTES_MAX, false, m, n))
		return false;
	if (op->tier > CALLRAFT_TIER_MAX) {
		snprintf(m, n, "%s: tier: out of range (%u > %d)", ctx, op->tier, CALLRAFT_TIER_MAX);
		return false;
	}
	if (!validate_id(ctx, "requested_agent", op->requested_agent, false, m, n) ||
	    !v_range(ctx, "agent_timeout_ms", true, op->agent_timeout_ms, 0, CALLRAFT_CONFIG_MS_MAX,
		     m, n))
		return false;
	if (op->same_agent && op->requested_agent != NULL && op->requested_agent[0] != '\0') {
		snprintf(m, n, "%s: same_agent: not with requested_agent (ask for one agent)", ctx);
		return false;
	}
	if (op->agent_timeout_ms != 0 && !op->same_agent &&
	    (op->requested_agent == NULL || op->requested_agent[0] == '\0')) {
		snprintf(m, n, "%s: agent_timeout_ms: only with requested_agent or same_agent", ctx);
		return false;
	}
	if ((op->customer_id == NULL || op->customer_id[0] == '\0') && op->same_agent) {
		snprintf(m, n, "%s: same_agent: needs customer_id (whose last agent?)", ctx);
		return false;
	}
	return true;
}

static bool v_token(const char *ctx, const char *call_id, const char *agent_id,
		    uint64_t offer_index, char *m, size_t n)
{
	if (!validate_id(ctx, "call_id", call_id, true, m, n) ||
	    !validate_id(ctx, "agent_id", agent_id, true, m, n))
		return false;
	if (offer_index == 0) {
		snprintf(m, n, "%s: offer_index: missing (the offer's token is required)", ctx);
		return false;
	}
	return true;
}

static bool v_call_answer(const char *ctx, const Callraft__CallAnswer *op, char *m, size_t n)
{
	return v_token(ctx, op->call_id, op->agent_id, op->offer_index, m, n);
}

static bool v_agent_login(const char *ctx, const Callraft__AgentLogin *op, char *m, size_t n)
{
	if (!validate_id(ctx, "agent_id", op->agent_id, true, m, n) ||
	    !check_text(ctx, "name", op->name, CALLRAFT_ID_BYTES_MAX, false, m, n) ||
	    !validate_name(ctx, "site", op->site, CALLRAFT_SITE_BYTES_MAX, true, m, n))
		return false;
	if (op->n_skills < 1 || op->n_skills > CALLRAFT_AGENT_SKILLS_MAX) {
		snprintf(m, n, "%s: skills: %zu given (1..%d allowed)", ctx, op->n_skills,
			 CALLRAFT_AGENT_SKILLS_MAX);
		return false;
	}
	for (size_t i = 0; i < op->n_skills; i++) {
		if (!validate_name(ctx, "skills", op->skills[i], CALLRAFT_QUEUE_BYTES_MAX, true, m, n))
			return false;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(op->skills[i], op->skills[j]) == 0) {
				snprintf(m, n, "%s: skills: duplicate '%s'", ctx, op->skills[i]);
				return false;
			}
		}
	}
	return true;
}

static bool v_agent_set_state(const char *ctx, const Callraft__AgentSetState *op, char *m, size_t n)
{
	if (!validate_id(ctx, "agent_id", op->agent_id, true, m, n) ||
	    !check_text(ctx, "reason", op->reason, CALLRAFT_REASON_BYTES_MAX, false, m, n))
		return false;
	if (op->state != CALLRAFT__AGENT_STATE__AVAILABLE && op->state != CALLRAFT__AGENT_STATE__BREAK &&
	    op->state != CALLRAFT__AGENT_STATE__WRAP_UP) {
		snprintf(m, n, "%s: state: %d not allowed (AVAILABLE, BREAK or WRAP_UP)", ctx,
			 (int)op->state);
		return false;
	}
	if (op->push && op->state != CALLRAFT__AGENT_STATE__AVAILABLE) {
		snprintf(m, n, "%s: push: only with state AVAILABLE (ready)", ctx);
		return false;
	}
	return true;
}

/* urgent, follow-up or a configured class (the FSM refuses a name never configured). */
static bool v_ticket_class(const char *ctx, const char *v, char *m, size_t n)
{
	return validate_name(ctx, "ticket_class", v, CALLRAFT_CATEGORY_BYTES_MAX, false, m, n);
}

static bool v_ticket_open(const char *ctx, const Callraft__TicketOpen *op, char *m, size_t n)
{
	return validate_id(ctx, "customer_id", op->customer_id, true, m, n) &&
	       validate_id(ctx, "call_id", op->call_id, false, m, n) &&
	       validate_name(ctx, "category", op->category, CALLRAFT_CATEGORY_BYTES_MAX, true, m, n) &&
	       check_text(ctx, "subject", op->subject, CALLRAFT_SUBJECT_BYTES_MAX, false, m, n) &&
	       check_text(ctx, "note", op->note, CALLRAFT_NOTE_BYTES_MAX, false, m, n) &&
	       validate_id(ctx, "author", op->author, false, m, n) &&
	       v_ticket_class(ctx, op->ticket_class, m, n);
}

static bool v_ticket_update(const char *ctx, const Callraft__TicketUpdate *op, char *m, size_t n)
{
	if (!validate_id(ctx, "code", op->code, true, m, n))
		return false;
	char code[24];
	if (!state_ticket_code_normalize(op->code, code)) {
		snprintf(m, n, "%s: code: '%s' is not a ticket code (wrong check symbol?)", ctx, op->code);
		return false;
	}
	if ((unsigned)op->status > CALLRAFT__TICKET_STATUS__CLOSED) {
		snprintf(m, n, "%s: status: out of range (%d)", ctx, (int)op->status);
		return false;
	}
	if (!check_text(ctx, "note", op->note, CALLRAFT_NOTE_BYTES_MAX, false, m, n) ||
	    !validate_id(ctx, "author", op->author, false, m, n))
		return false;
	if (op->status == CALLRAFT__TICKET_STATUS__TICKET_STATUS_NONE &&
	    (op->note == NULL || op->note[0] == '\0')) {
		snprintf(m, n, "%s: status or note required", ctx);
		return false;
	}
	return true;
}

static bool v_range(const char *ctx, const char *field, bool has, int64_t v, int64_t lo, int64_t hi,
		    char *m, size_t n)
{
	if (!has || (v >= lo && v <= hi))
		return true;
	snprintf(m, n, "%s: %s: out of range (%lld not in %lld..%lld)", ctx, field, (long long)v,
		 (long long)lo, (long long)hi);
	return false;
}

/* A campaign id: a name that leaves room for ".NNNNNN" in its calls' ids. */
bool validate_campaign_id(const char *ctx, const char *v, char *m, size_t n)
{
	return validate_name(ctx, "campaign_id", v, CALLRAFT_CAMPAIGN_ID_BYTES_MAX, true, m, n);
}

static bool v_campaign_create(const char *ctx, const Callraft__CampaignCreate *op, char *m,
			      size_t n)
{
	if (!validate_campaign_id(ctx, op->campaign_id, m, n) ||
	    !validate_name(ctx, "queue", op->queue, CALLRAFT_QUEUE_BYTES_MAX, true, m, n) ||
	    !validate_name(ctx, "site", op->site, CALLRAFT_SITE_BYTES_MAX, true, m, n) ||
	    !v_range(ctx, "pacing_percent", true, op->pacing_percent, 0,
		     CALLRAFT_CAMPAIGN_PACING_PERCENT_MAX, m, n) ||
	    !v_range(ctx, "start_ms", true, op->start_ms, 0, CALLRAFT_FSM_TIME_MS_MAX, m, n) ||
	    !v_range(ctx, "end_ms", true, op->end_ms, 0, CALLRAFT_FSM_TIME_MS_MAX, m, n))
		return false;
	if (op->end_ms != 0 && op->end_ms <= op->start_ms) {
		snprintf(m, n, "%s: end_ms: not after start_ms (%lld <= %lld)", ctx,
			 (long long)op->end_ms, (long long)op->start_ms);
		return false;
	}
	return true;
}

static bool v_campaign_add(const char *ctx, const Callraft__CampaignAdd *op, char *m, size_t n)
{
	if (!validate_campaign_id(ctx, op->campaign_id, m, n))
		return false;
	if (op->n_targets == 0 || op->n_targets > CALLRAFT_CAMPAIGN_ADD_MAX) {
		snprintf(m, n, "%s: targets: %zu given (1..%d per command)", ctx, op->n_targets,
			 CALLRAFT_CAMPAIGN_ADD_MAX);
		return false;
	}
	for (size_t i = 0; i < op->n_targets; i++) {
		const Callraft__CampaignTarget *t = op->targets[i];
		if (!check_phone(ctx, "targets.number", t->number, true, m, n) ||
		    !validate_id(ctx, "targets.customer_id", t->customer_id, false, m, n))
			return false;
	}
	return true;
}

static bool v_ticket_class_configure(const char *ctx, const Callraft__TicketClassConfigure *op,
				     char *m, size_t n)
{
	if (!validate_name(ctx, "ticket_class", op->ticket_class, CALLRAFT_CATEGORY_BYTES_MAX, true,
			   m, n))
		return false;
	if (op->target_ms == NULL && op->due_soon_ms == NULL) {
		snprintf(m, n, "%s: nothing to set (target_ms or due_soon_ms)", ctx);
		return false;
	}
	return v_range(ctx, "target_ms", op->target_ms != NULL,
		       op->target_ms ? op->target_ms->value : 0, 1000, CALLRAFT_TICKET_TARGET_MS_MAX,
		       m, n) &&
	       v_range(ctx, "due_soon_ms", op->due_soon_ms != NULL,
		       op->due_soon_ms ? op->due_soon_ms->value : 0, 0,
		       CALLRAFT_TICKET_TARGET_MS_MAX, m, n);
}

/* Every tunable the configure command `op` carries lies within its bounds (config_fields.c). */
static bool v_config_fields(const char *ctx, const ProtobufCMessage *op,
			    const struct config_field *table, char *m, size_t n)
{
	int64_t v;

	for (const struct config_field *cf = table; cf->name != NULL; cf++)
		if (config_field_get(op, cf, &v) && !v_range(ctx, cf->name, true, v, cf->min, cf->max, m, n))
			return false;
	return true;
}

/* A national id (kodemelli): 10 digits, the last a check digit: r = sum(d[i] x (10 - i), i < 9)
 * mod 11; the check digit is r when r < 2, else 11 - r. */
static bool v_national_id(const char *ctx, const char *v, char *m, size_t n)
{
	unsigned sum = 0;
	size_t len = v != NULL ? strlen(v) : 0;

	if (len == 0)
		return true;
	if (len != 10) {
		snprintf(m, n, "%s: national_id: %zu characters, not 10 digits", ctx, len);
		return false;
	}
	for (size_t i = 0; i < 10; i++)
		if (v[i] < '0' || v[i] > '9')
			return bad_char(ctx, "national_id", v, i, "0-9", m, n);
	for (size_t i = 0; i < 9; i++)
		sum += (unsigned)(v[i] - '0') * (unsigned)(10 - i);
	unsigned r = sum % 11, check = r < 2 ? r : 11 - r;
	if ((unsigned)(v[9] - '0') != check) {
		snprintf(m, n, "%s: national_id: '%s' fails its check digit", ctx, v);
		return false;
	}
	return true;
}

static bool v_customer_set(const char *ctx, const Callraft__CustomerSet *op, char *m, size_t n)
{
	if (!validate_id(ctx, "customer_id", op->customer_id, true, m, n) ||
	    !v_range(ctx, "tier", true, op->tier, 0, CALLRAFT_TIER_MAX, m, n) ||
	    !validate_id(ctx, "preferred_agent", op->preferred_agent, false, m, n) ||
	    !v_national_id(ctx, op->national_id, m, n) ||
	    !validate_id(ctx, "crm_id", op->crm_id, false, m, n))
		return false;
	if (op->n_phone_numbers > CALLRAFT_CUSTOMER_NUMBERS_MAX) {
		snprintf(m, n, "%s: phone_numbers: %zu given (at most %d)", ctx, op->n_phone_numbers,
			 CALLRAFT_CUSTOMER_NUMBERS_MAX);
		return false;
	}
	for (size_t i = 0; i < op->n_phone_numbers; i++) {
		if (!check_phone(ctx, "phone_numbers", op->phone_numbers[i], true, m, n))
			return false;
		for (size_t j = 0; j < i; j++)
			if (strcmp(op->phone_numbers[i], op->phone_numbers[j]) == 0) {
				snprintf(m, n, "%s: phone_numbers: duplicate '%s'", ctx,
					 op->phone_numbers[i]);
				return false;
			}
	}
	return true;
}

/* The fields shared by scheduled and voicemail callbacks. */
static bool v_callback(const char *ctx, const char *id, const char *customer, const char *number,
		       const char *queue, uint32_t tier, char *m, size_t n)
{
	return validate_id(ctx, "callback_id", id, true, m, n) &&
	       validate_id(ctx, "customer_id", customer, false, m, n) &&
	       check_phone(ctx, "number", number, true, m, n) &&
	       validate_name(ctx, "queue", queue, CALLRAFT_QUEUE_BYTES_MAX, true, m, n) &&
	       v_range(ctx, "tier", true, tier, 0, CALLRAFT_TIER_MAX, m, n);
}

static bool v_routing(const char *ctx, const Callraft__Command *c, char *m, size_t n)
{
	switch (c->op_case) {
	case CALLRAFT__COMMAND__OP_CALL_REJECT:
		return v_token(ctx, c->call_reject->call_id, c->call_reject->agent_id,
			       c->call_reject->offer_index, m, n) &&
		       v_range(ctx, "dial_outcome", true, c->call_reject->dial_outcome, 0,
			       CALLRAFT__DIAL_OUTCOME__INVALID_NUMBER, m, n);
	case CALLRAFT__COMMAND__OP_AGENT_HEARTBEAT:
		return validate_id(ctx, "agent_id", c->agent_heartbeat->agent_id, true, m, n);
	case CALLRAFT__COMMAND__OP_QUEUE_CONFIGURE:
		return validate_name(ctx, "queue", c->queue_configure->queue, CALLRAFT_QUEUE_BYTES_MAX,
				     true, m, n) &&
		       v_config_fields(ctx, &c->queue_configure->base, config_queue_fields, m, n);
	case CALLRAFT__COMMAND__OP_CALLBACK_REQUEST:
		return validate_id(ctx, "call_id", c->callback_request->call_id, true, m, n) &&
		       check_phone(ctx, "number", c->callback_request->number, false, m, n);
	case CALLRAFT__COMMAND__OP_CALLBACK_SCHEDULE: {
		const Callraft__CallbackSchedule *o = c->callback_schedule;
		return v_callback(ctx, o->callback_id, o->customer_id, o->number, o->queue, o->tier, m,
				  n) &&
		       v_range(ctx, "at_ms", true, o->at_ms, 1, INT64_MAX / 2, m, n);
	}
	case CALLRAFT__COMMAND__OP_CALLBACK_VOICEMAIL: {
		const Callraft__CallbackVoicemail *o = c->callback_voicemail;
		return v_callback(ctx, o->callback_id, o->customer_id, o->number, o->queue, o->tier, m,
				  n) &&
		       validate_name(ctx, "site", o->site, CALLRAFT_SITE_BYTES_MAX, true, m, n);
	}
	case CALLRAFT__COMMAND__OP_CALL_DIAL_ATTEMPT:
		return validate_id(ctx, "call_id", c->call_dial_attempt->call_id, true, m, n) &&
		       validate_id(ctx, "agent_id", c->call_dial_attempt->agent_id, true, m, n);
	case CALLRAFT__COMMAND__OP_SITE_CONFIGURE:
		return validate_name(ctx, "site", c->site_configure->site, CALLRAFT_SITE_BYTES_MAX, true,
				     m, n) &&
		       v_config_fields(ctx, &c->site_configure->base, config_site_fields, m, n);
	case CALLRAFT__COMMAND__OP_SITE_DOWN:
		return validate_name(ctx, "site", c->site_down->site, CALLRAFT_SITE_BYTES_MAX, true, m,
				     n) &&
		       check_text(ctx, "reason", c->site_down->reason, CALLRAFT_REASON_BYTES_MAX, false, m,
				  n);
	case CALLRAFT__COMMAND__OP_SITE_UP:
		return validate_name(ctx, "site", c->site_up->site, CALLRAFT_SITE_BYTES_MAX, true, m, n);
	case CALLRAFT__COMMAND__OP_SITE_HEARTBEAT:
		return validate_name(ctx, "site", c->site_heartbeat->site, CALLRAFT_SITE_BYTES_MAX, true,
				     m, n);
	case CALLRAFT__COMMAND__OP_CUSTOMER_SET: return v_customer_set(ctx, c->customer_set, m, n);
	case CALLRAFT__COMMAND__OP_TICKET_CLASS_CONFIGURE:
		return v_ticket_class_configure(ctx, c->ticket_class_configure, m, n);
	case CALLRAFT__COMMAND__OP_TOKEN_ISSUE: return v_token_issue(ctx, c->token_issue, m, n);
	case CALLRAFT__COMMAND__OP_CAMPAIGN_CREATE:
		return v_campaign_create(ctx, c->campaign_create, m, n);
	case CALLRAFT__COMMAND__OP_CAMPAIGN_ADD: return v_campaign_add(ctx, c->campaign_add, m, n);
	case CALLRAFT__COMMAND__OP_CAMPAIGN_PAUSE:
		return validate_campaign_id(ctx, c->campaign_pause->campaign_id, m, n);
	case CALLRAFT__COMMAND__OP_CAMPAIGN_DELETE:
		return validate_campaign_id(ctx, c->campaign_delete->campaign_id, m, n);
	case CALLRAFT__COMMAND__OP_TOKEN_REVOKE:
		if (c->token_revoke->id == 0) {
			snprintf(m, n, "%s: id: missing", ctx);
			return false;
		}
		return true;
	case CALLRAFT__COMMAND__OP_TICK:
		if (c->client_id != 0) {
			snprintf(m, n, "%s: only the leader writes ticks", ctx);
			return false;
		}
		if (c->tick->n_sites > CALLRAFT_MEMBERS_MAX) {
			snprintf(m, n, "%s: sites: %zu reported (limit %d)", ctx, c->tick->n_sites,
				 CALLRAFT_MEMBERS_MAX);
			return false;
		}
		for (size_t i = 0; i < c->tick->n_sites; i++)
			if (!validate_name(ctx, "site", c->tick->sites[i]->site, CALLRAFT_SITE_BYTES_MAX,
					   true, m, n))
				return false;
		for (size_t i = 0; i < c->tick->n_sites; i++)
			if (!v_range(ctx, "silent_ms", true, c->tick->sites[i]->silent_ms, -1,
				     CALLRAFT_CONFIG_MS_MAX, m, n))
				return false;
		return true;
	default: return false;
	}
}

static bool v_member(const char *ctx, const Callraft__Member *mb, char *m, size_t n)
{
	if (mb == NULL) {
		snprintf(m, n, "%s: member: missing", ctx);
		return false;
	}
	if (mb->id == 0) {
		snprintf(m, n, "%s: member.id: missing", ctx);
		return false;
	}
	return check_unknown(ctx, &mb->base, m, n) &&
	       validate_name(ctx, "member.site", mb->site, CALLRAFT_SITE_BYTES_MAX, false, m, n) &&
	       check_printable(ctx, "member.raft_address", mb->raft_address,
			       CALLRAFT_ADDRESS_BYTES_MAX, false, m, n) &&
	       check_printable(ctx, "member.client_address", mb->client_address,
			       CALLRAFT_ADDRESS_BYTES_MAX, false, m, n) &&
	       check_printable(ctx, "member.http_address", mb->http_address,
			       CALLRAFT_ADDRESS_BYTES_MAX, false, m, n);
}

/* RulesDeclare and RulesSet (rules.c): the leader's own, versions within the bound. */
static bool v_rules(const char *ctx, const Callraft__Command *c, char *m, size_t n)
{
	if (c->client_id != 0) {
		snprintf(m, n, "%s: only the leader writes it", ctx);
		return false;
	}
	if (c->op_case == CALLRAFT__COMMAND__OP_RULES_SET)
		return v_range(ctx, "version", true, c->rules_set->version, 1,
			       CALLRAFT_RULES_VERSION_MAX, m, n);
	const Callraft__RulesDeclare *d = c->rules_declare;
	if (d->member_id == 0) {
		snprintf(m, n, "%s: member_id: missing", ctx);
		return false;
	}
	if (!v_range(ctx, "oldest", true, d->oldest, 1, CALLRAFT_RULES_VERSION_MAX, m, n) ||
	    !v_range(ctx, "newest", true, d->newest, 1, CALLRAFT_RULES_VERSION_MAX, m, n))
		return false;
	if (d->oldest > d->newest) {
		snprintf(m, n, "%s: oldest %u is above newest %u", ctx, d->oldest, d->newest);
		return false;
	}
	return true;
}

static bool v_op(const char *ctx, const Callraft__Command *c, char *m, size_t n)
{
	switch (c->op_case) {
	case CALLRAFT__COMMAND__OP_REGISTER_CLIENT:
		if (c->register_client->secret.len != 0 &&
		    c->register_client->secret.len != CALLRAFT_SESSION_SECRET_BYTES) {
			snprintf(m, n, "%s: secret: %zu bytes, not %d (the leader draws it)", ctx,
				 c->register_client->secret.len, CALLRAFT_SESSION_SECRET_BYTES);
			return false;
		}
		return validate_id(ctx, "name", c->register_client->name, false, m, n);
	case CALLRAFT__COMMAND__OP_CALL_ENQUEUE: return v_call_enqueue(ctx, c->call_enqueue, m, n);
	case CALLRAFT__COMMAND__OP_CALL_NEXT:
		return validate_id(ctx, "agent_id", c->call_next->agent_id, true, m, n);
	case CALLRAFT__COMMAND__OP_CALL_ANSWER: return v_call_answer(ctx, c->call_answer, m, n);
	case CALLRAFT__COMMAND__OP_CALL_END:
		return validate_id(ctx, "call_id", c->call_end->call_id, true, m, n) &&
		       validate_id(ctx, "agent_id", c->call_end->agent_id, true, m, n);
	case CALLRAFT__COMMAND__OP_CALL_ABANDON:
		return validate_id(ctx, "call_id", c->call_abandon->call_id, true, m, n);
	case CALLRAFT__COMMAND__OP_AGENT_LOGIN: return v_agent_login(ctx, c->agent_login, m, n);
	case CALLRAFT__COMMAND__OP_AGENT_SET_STATE:
		return v_agent_set_state(ctx, c->agent_set_state, m, n);
	case CALLRAFT__COMMAND__OP_AGENT_LOGOUT:
		return validate_id(ctx, "agent_id", c->agent_logout->agent_id, true, m, n);
	case CALLRAFT__COMMAND__OP_TICKET_OPEN: return v_ticket_open(ctx, c->ticket_open, m, n);
	case CALLRAFT__COMMAND__OP_TICKET_UPDATE: return v_ticket_update(ctx, c->ticket_update, m, n);
	case CALLRAFT__COMMAND__OP_MEMBER_UPSERT: return v_member(ctx, c->member_upsert->member, m, n);
	case CALLRAFT__COMMAND__OP_MEMBER_DELETE:
		if (c->member_delete->id != 0)
			return true;
		snprintf(m, n, "%s: id: missing", ctx);
		return false;
	case CALLRAFT__COMMAND__OP_RULES_DECLARE:
	case CALLRAFT__COMMAND__OP_RULES_SET: return v_rules(ctx, c, m, n);
	default: return v_routing(ctx, c, m, n);
	}
}

Callraft__Code state_validate(const Callraft__Command *cmd, char *msg, size_t msg_len)
{
	const char *ctx = validate_op_name(cmd);
	const ProtobufCMessage *op;

	msg[0] = '\0';
	if (cmd->op_case == CALLRAFT__COMMAND__OP__NOT_SET || strcmp(ctx, "command") == 0) {
		snprintf(msg, msg_len, "command: no operation this version knows (%d)",
			 (int)cmd->op_case);
		return CALLRAFT__CODE__UNKNOWN_OPERATION;
	}
	/* Every operation of the oneof is a message pointer at the same place in the union. */
	op = (const ProtobufCMessage *)cmd->register_client;
	if (op == NULL) {
		snprintf(msg, msg_len, "%s: missing", ctx);
		return CALLRAFT__CODE__INVALID_ARGUMENT;
	}
	if (!check_unknown("command", &cmd->base, msg, msg_len) ||
	    !check_unknown(ctx, op, msg, msg_len) || !v_op(ctx, cmd, msg, msg_len))
		return CALLRAFT__CODE__INVALID_ARGUMENT;
	if (cmd->session_secret.len > CALLRAFT_SESSION_SECRET_BYTES) {
		snprintf(msg, msg_len, "%s: session_secret: %zu bytes, above %d", ctx,
			 cmd->session_secret.len, CALLRAFT_SESSION_SECRET_BYTES);
		return CALLRAFT__CODE__INVALID_ARGUMENT;
	}
	if (!check_actor(ctx, cmd->actor, msg, msg_len) ||
	    !validate_name(ctx, "actor_site", cmd->actor_site, CALLRAFT_SITE_BYTES_MAX, false, msg,
			   msg_len))
		return CALLRAFT__CODE__INVALID_ARGUMENT;
	if (cmd->idempotency_key != NULL && cmd->idempotency_key[0] != '\0') {
		if (!check_printable(ctx, "idempotency_key", cmd->idempotency_key,
				     CALLRAFT_IDEMPOTENCY_KEY_BYTES_MAX, true, msg, msg_len))
			return CALLRAFT__CODE__INVALID_ARGUMENT;
		if (cmd->client_id != 0) {
			snprintf(msg, msg_len, "%s: idempotency_key: not with a session (client_id)", ctx);
			return CALLRAFT__CODE__INVALID_ARGUMENT;
		}
	}
	return CALLRAFT__CODE__OK;
}
