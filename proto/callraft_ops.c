/* callraft_ops.c: see callraft_ops.h. */
#include "callraft_ops.h"

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
		return true;
	default:
		return false;
	}
}

bool callraft_op_is_admin(Callraft__Request__OpCase op)
{
	return op == CALLRAFT__REQUEST__OP_MEMBER_ADD || op == CALLRAFT__REQUEST__OP_MEMBER_REMOVE ||
	       op == CALLRAFT__REQUEST__OP_MEMBER_ASSIGN || op == CALLRAFT__REQUEST__OP_LEADER_TRANSFER ||
	       op == CALLRAFT__REQUEST__OP_SNAPSHOT_TAKE;
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
