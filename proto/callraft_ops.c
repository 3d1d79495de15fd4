/* callraft_ops.c: see callraft_ops.h. */
#include "callraft_ops.h"

#include <stdlib.h>

bool callraft_op_is_write(Callraft__Request__OpCase op)
{
	switch (op) {
	case CALLRAFT__REQUEST__OP_REGISTER_CLIENT:
	case CALLRAFT__REQUEST__OP_CALL_ENQUEUE:
	case CALLRAFT__REQUEST__OP_CALL_NEXT:
	case CALLRAFT__REQUEST__OP_CALL_ANSWER:
	case CALLRAFT__REQUEST__OP_CALL_END:
	case CALLRAFT__REQUEST__OP_CALL_ABANDON:
	case CALLRAFT__REQUEST__OP_AGENT_LOGIN:
	case CALLRAFT__REQUEST__OP_AGENT_SET_STATE:
	case CALLRAFT__REQUEST__OP_AGENT_LOGOUT:
	case CALLRAFT__REQUEST__OP_TICKET_OPEN:
	case CALLRAFT__REQUEST__OP_TICKET_UPDATE:
	case CALLRAFT__REQUEST__OP_CALL_REJECT:
	case CALLRAFT__REQUEST__OP_AGENT_HEARTBEAT:
	case CALLRAFT__REQUEST__OP_QUEUE_CONFIGURE:
	case CALLRAFT__REQUEST__OP_CALLBACK_REQUEST:
	case CALLRAFT__REQUEST__OP_CALLBACK_SCHEDULE:
	case CALLRAFT__REQUEST__OP_CALLBACK_VOICEMAIL:
	case CALLRAFT__REQUEST__OP_CALL_DIAL_ATTEMPT:
	case CALLRAFT__REQUEST__OP_SITE_CONFIGURE:
	case CALLRAFT__REQUEST__OP_SITE_DOWN:
	case CALLRAFT__REQUEST__OP_SITE_UP:
	case CALLRAFT__REQUEST__OP_SITE_HEARTBEAT:
	case CALLRAFT__REQUEST__OP_CUSTOMER_SET:
	case CALLRAFT__REQUEST__OP_TOKEN_ISSUE:
	case CALLRAFT__REQUEST__OP_TOKEN_REVOKE:
	case CALLRAFT__REQUEST__OP_TICKET_CLASS_CONFIGURE:
	case CALLRAFT__REQUEST__OP_CAMPAIGN_CREATE:
	case CALLRAFT__REQUEST__OP_CAMPAIGN_ADD:
	case CALLRAFT__REQUEST__OP_CAMPAIGN_PAUSE:
	case CALLRAFT__REQUEST__OP_CAMPAIGN_DELETE:
		return true;
	default:
		return false;
	}
}

bool callraft_op_is_read(Callraft__Request__OpCase op)
{
	switch (op) {
	case CALLRAFT__REQUEST__OP_CALL_SHOW:
	case CALLRAFT__REQUEST__OP_QUEUE_SHOW:
	case CALLRAFT__REQUEST__OP_AGENT_SHOW:
	case CALLRAFT__REQUEST__OP_AGENT_LIST:
	case CALLRAFT__REQUEST__OP_TICKET_SHOW:
	case CALLRAFT__REQUEST__OP_TICKET_LIST:
	case CALLRAFT__REQUEST__OP_MEMBERS_LIST:
	case CALLRAFT__REQUEST__OP_STATS_GET:
	case CALLRAFT__REQUEST__OP_CUSTOMER_HISTORY:
	case CALLRAFT__REQUEST__OP_SITE_LIST:
	case CALLRAFT__REQUEST__OP_CUSTOMER_SHOW:
	case CALLRAFT__REQUEST__OP_TOKEN_LIST:
	case CALLRAFT__REQUEST__OP_TICKET_CLASS_SHOW:
	case CALLRAFT__REQUEST__OP_TICKET_DUE_LIST:
	case CALLRAFT__REQUEST__OP_CAMPAIGN_SHOW:
	case CALLRAFT__REQUEST__OP_CAMPAIGN_LIST:
	case CALLRAFT__REQUEST__OP_RULES_SHOW:
		return true;
	default:
		return false;
	}
}

bool callraft_op_is_admin(Callraft__Request__OpCase op)
{
	return op == CALLRAFT__REQUEST__OP_MEMBER_ADD || op == CALLRAFT__REQUEST__OP_MEMBER_REMOVE ||
	       op == CALLRAFT__REQUEST__OP_MEMBER_ASSIGN || op == CALLRAFT__REQUEST__OP_LEADER_TRANSFER ||
	       op == CALLRAFT__REQUEST__OP_SNAPSHOT_TAKE || op == CALLRAFT__REQUEST__OP_RULES_UPGRADE ||
	       op == CALLRAFT__REQUEST__OP_RULES_DECLARE;
}

void callraft_frame_put_len(uint8_t hdr[4], uint32_t len)
{
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
}

uint32_t callraft_frame_get_len(const uint8_t hdr[4])
{
	return (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
}

void callraft_command_from_request(Callraft__Command *cmd, const Callraft__Request *req)
{
	cmd->client_id = req->client_id;
	cmd->seq = req->seq;
	cmd->idempotency_key = req->idempotency_key;
	cmd->session_secret = req->session_secret;
	cmd->actor = req->actor;
	cmd->actor_site = req->actor_site;
	switch (req->op_case) {
#define OP(UP, low)                                                                                \
	case CALLRAFT__REQUEST__OP_##UP:                                                           \
		cmd->op_case = CALLRAFT__COMMAND__OP_##UP;                                         \
		cmd->low = req->low;                                                               \
		break;
		OP(REGISTER_CLIENT, register_client)
		OP(CALL_ENQUEUE, call_enqueue)
		OP(CALL_NEXT, call_next)
		OP(CALL_ANSWER, call_answer)
		OP(CALL_END, call_end)
		OP(CALL_ABANDON, call_abandon)
		OP(AGENT_LOGIN, agent_login)
		OP(AGENT_SET_STATE, agent_set_state)
		OP(AGENT_LOGOUT, agent_logout)
		OP(TICKET_OPEN, ticket_open)
		OP(TICKET_UPDATE, ticket_update)
		OP(CALL_REJECT, call_reject)
		OP(AGENT_HEARTBEAT, agent_heartbeat)
		OP(QUEUE_CONFIGURE, queue_configure)
		OP(CALLBACK_REQUEST, callback_request)
		OP(CALLBACK_SCHEDULE, callback_schedule)
		OP(CALLBACK_VOICEMAIL, callback_voicemail)
		OP(CALL_DIAL_ATTEMPT, call_dial_attempt)
		OP(SITE_CONFIGURE, site_configure)
		OP(SITE_DOWN, site_down)
		OP(SITE_UP, site_up)
		OP(SITE_HEARTBEAT, site_heartbeat)
		OP(CUSTOMER_SET, customer_set)
		OP(TOKEN_ISSUE, token_issue)
		OP(TOKEN_REVOKE, token_revoke)
		OP(TICKET_CLASS_CONFIGURE, ticket_class_configure)
		OP(CAMPAIGN_CREATE, campaign_create)
		OP(CAMPAIGN_ADD, campaign_add)
		OP(CAMPAIGN_PAUSE, campaign_pause)
		OP(CAMPAIGN_DELETE, campaign_delete)
#undef OP
	default:
		cmd->op_case = CALLRAFT__COMMAND__OP__NOT_SET; /* not a write: state_validate refuses it */
	}
}


enum callraft_frame callraft_frame_next(const uint8_t *buf, size_t len, uint32_t max,
					const uint8_t **body, uint32_t *body_len)
{
	if (len < 4)
		return CALLRAFT_FRAME_PARTIAL;
	*body_len = callraft_frame_get_len(buf);
	if (*body_len > max)
		return CALLRAFT_FRAME_TOO_BIG;
	if (len - 4 < *body_len)
		return CALLRAFT_FRAME_PARTIAL;
	*body = buf + 4;
	return CALLRAFT_FRAME_WHOLE;
}

bool callraft_message_reencodes(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t stack[1024];
	uint8_t *buf = len <= sizeof stack ? stack : malloc(len);
	ProtobufCMessage *again;

	if (buf == NULL)
		return false;
	protobuf_c_message_pack(m, buf);
	again = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
	if (buf != stack)
		free(buf);
	if (again == NULL)
		return false;
	protobuf_c_message_free_unpacked(again, NULL);
	return true;
}
