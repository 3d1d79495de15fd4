/* config_fields.c: the tunable fields of a queue's and a site's configuration, one table each.
 *
 * QueueConfigure and SiteConfigure carry every tunable as an optional wrapper (Int64Value,
 * Int32Value, UInt32Value: absent means "leave as it is") under the same name as the field of the
 * stored QueueConfig or Site it sets. The tables below name those fields with their bounds once:
 * validate.c checks each present value against them (in table order, so the first field out of
 * range is the one reported) and queue_config.c copies each present value into the stored record.
 * Fields are found through the descriptors protoc-c generated, so a field named here that the
 * messages do not both have is a bug caught by the asserts on first use. */
#include <assert.h>
#include <stdint.h>

#include "state_internal.h"

const struct config_field config_queue_fields[] = {
	{"overflow_after_ms", 0, CALLRAFT_CONFIG_MS_MAX},
	{"offer_timeout_ms", CALLRAFT_OFFER_TIMEOUT_MS_MIN, CALLRAFT_CONFIG_MS_MAX},
	{"known_agent_timeout_ms", 0, CALLRAFT_CONFIG_MS_MAX},
	{"aging_ms_per_tier", 0, CALLRAFT_CONFIG_MS_MAX},
	{"service_level_ms", 0, CALLRAFT_CONFIG_MS_MAX},
	{"wrap_up_ms", 0, CALLRAFT_CONFIG_MS_MAX},
	{"top_tier", 0, CALLRAFT_TIER_MAX + 1},
	{"redial_window_ms", 0, CALLRAFT_CONFIG_MS_MAX},
	{"known_agent_link_ttl_ms", 0, CALLRAFT_KNOWN_AGENT_LINK_TTL_MS_MAX},
	{"callback_retry_ms", 1000, CALLRAFT_CONFIG_MS_MAX},
	{"callback_attempts_max", 1, CALLRAFT_CALLBACK_ATTEMPTS_MAX},
	{NULL, 0, 0},
};

const struct config_field config_site_fields[] = {
	{"opens_at_minute", 0, CALLRAFT_MINUTES_PER_DAY - 1},
	{"closes_at_minute", 0, CALLRAFT_MINUTES_PER_DAY - 1},
	{"utc_offset_minutes", -CALLRAFT_UTC_OFFSET_MINUTES_MAX, CALLRAFT_UTC_OFFSET_MINUTES_MAX},
	{"presence_timeout_ms", CALLRAFT_PRESENCE_TIMEOUT_MS_MIN, CALLRAFT_CONFIG_MS_MAX},
	{"site_loss_after_ms", 0, CALLRAFT_CONFIG_MS_MAX},
	{"contact_timeout_ms", CALLRAFT_CONTACT_TIMEOUT_MS_MIN, CALLRAFT_CONFIG_MS_MAX},
	{"calling_from_minute", 0, CALLRAFT_MINUTES_PER_DAY - 1},
	{"calling_until_minute", 0, CALLRAFT_MINUTES_PER_DAY - 1},
	{"voicemail_per_hour_max", 0, CALLRAFT_VOICEMAIL_PER_HOUR_MAX},
	{NULL, 0, 0},
};

static const ProtobufCFieldDescriptor *field_of(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);

	assert(f != NULL && f->label != PROTOBUF_C_LABEL_REPEATED);
	return f;
}

/* The integer at field `f` of `m`. */
static int64_t int_get(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *at = (const char *)m + f->offset;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64: return *(const int64_t *)at;
	case PROTOBUF_C_TYPE_INT32: return *(const int32_t *)at;
	case PROTOBUF_C_TYPE_UINT32: return *(const uint32_t *)at;
	default: assert(!"config field: not an int64, int32 or uint32"); return 0;
	}
}

static void int_set(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, int64_t v)
{
	char *at = (char *)m + f->offset;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64: *(int64_t *)at = v; break;
	case PROTOBUF_C_TYPE_INT32: *(int32_t *)at = (int32_t)v; break;
	case PROTOBUF_C_TYPE_UINT32: *(uint32_t *)at = (uint32_t)v; break;
	default: assert(!"config field: not an int64, int32 or uint32");
	}
}

bool config_field_get(const ProtobufCMessage *op, const struct config_field *cf, int64_t *value)
{
	const ProtobufCFieldDescriptor *f = field_of(op, cf->name);
	const ProtobufCMessage *wrapper;

	assert(f->type == PROTOBUF_C_TYPE_MESSAGE);
	wrapper = *(const ProtobufCMessage *const *)((const char *)op + f->offset);
	if (wrapper == NULL)
		return false;
	*value = int_get(wrapper, field_of(wrapper, "value"));
	return true;
}

int config_fields_apply(const ProtobufCMessage *op, const struct config_field *table,
			ProtobufCMessage *to)
{
	int set = 0;
	int64_t v;

	for (const struct config_field *cf = table; cf->name != NULL; cf++)
		if (config_field_get(op, cf, &v)) {
			int_set(to, field_of(to, cf->name), v);
			set++;
		}
	return set;
}
