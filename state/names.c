/* names.c: the readable names of the model's states ("WAITING", "ON_CALL", "IN_PROGRESS") that
 * business messages and the stats read use. They are the protocol's own names, read from the
 * enum descriptors protoc-c generates (so a state added to callraft.proto is named without code
 * here), except the zero values, which read "NONE" (the protocol spells them CALL_STATE_NONE,
 * ...), and values this build does not know, which read "UNKNOWN". */
#include "state_internal.h"

static const char *enum_name(const ProtobufCEnumDescriptor *d, int value)
{
	const ProtobufCEnumValue *v;

	if (value == 0)
		return "NONE";
	v = protobuf_c_enum_descriptor_get_value(d, value);
	return v != NULL ? v->name : "UNKNOWN";
}

const char *state_call_state_name(Callraft__CallState st)
{
	return enum_name(&callraft__call_state__descriptor, (int)st);
}

const char *state_agent_state_name(Callraft__AgentState st)
{
	return enum_name(&callraft__agent_state__descriptor, (int)st);
}

const char *state_ticket_status_name(Callraft__TicketStatus st)
{
	return enum_name(&callraft__ticket_status__descriptor, (int)st);
}
