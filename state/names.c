/* names.c: the readable names of the model's states ("WAITING", "ON_CALL", "IN_PROGRESS") that
 * business messages and the stats read use. The zero values read "NONE" (the protobuf names carry
 * an enum prefix, CALL_STATE_NONE), and a value this build does not know reads "UNKNOWN". */
#include "state_internal.h"

const char *state_call_state_name(Callraft__CallState st)
{
	switch (st) {
	case CALLRAFT__CALL_STATE__CALL_STATE_NONE: return "NONE";
	case CALLRAFT__CALL_STATE__WAITING: return "WAITING";
	case CALLRAFT__CALL_STATE__OFFERED: return "OFFERED";
	case CALLRAFT__CALL_STATE__ANSWERED: return "ANSWERED";
	case CALLRAFT__CALL_STATE__ENDED: return "ENDED";
	case CALLRAFT__CALL_STATE__ABANDONED: return "ABANDONED";
	case CALLRAFT__CALL_STATE__SCHEDULED: return "SCHEDULED";
	default: return "UNKNOWN";
	}
}

const char *state_agent_state_name(Callraft__AgentState st)
{
	switch (st) {
	case CALLRAFT__AGENT_STATE__AGENT_STATE_NONE: return "NONE";
	case CALLRAFT__AGENT_STATE__OFFLINE: return "OFFLINE";
	case CALLRAFT__AGENT_STATE__AVAILABLE: return "AVAILABLE";
	case CALLRAFT__AGENT_STATE__ON_CALL: return "ON_CALL";
	case CALLRAFT__AGENT_STATE__WRAP_UP: return "WRAP_UP";
	case CALLRAFT__AGENT_STATE__BREAK: return "BREAK";
	case CALLRAFT__AGENT_STATE__UNREACHABLE: return "UNREACHABLE";
	default: return "UNKNOWN";
	}
}

const char *state_ticket_status_name(Callraft__TicketStatus st)
{
	switch (st) {
	case CALLRAFT__TICKET_STATUS__TICKET_STATUS_NONE: return "NONE";
	case CALLRAFT__TICKET_STATUS__OPEN: return "OPEN";
	case CALLRAFT__TICKET_STATUS__IN_PROGRESS: return "IN_PROGRESS";
	case CALLRAFT__TICKET_STATUS__RESOLVED: return "RESOLVED";
	case CALLRAFT__TICKET_STATUS__CLOSED: return "CLOSED";
	default: return "UNKNOWN";
	}
}
