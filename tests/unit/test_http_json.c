/* test_http_json.c: unit tests of node/http_json.c, the JSON <-> protobuf mapping of the HTTP API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "callraft.pb-c.h"
#include "http_json.h"

static ProtobufCMessage *parse(const char *json, const ProtobufCMessageDescriptor *d, char *err,
			       size_t len)
{
	json_object *o = json_tokener_parse(json);
	ProtobufCMessage *m;
	assert_non_null(o);
	m = http_json_to_message(o, d, "", err, len);
	json_object_put(o);
	return m;
}

/* Expects `json` to be refused with a message containing `want`. */
static void refused(const char *json, const ProtobufCMessageDescriptor *d, const char *want)
{
	char err[300] = "";
	ProtobufCMessage *m = parse(json, d, err, sizeof err);
	if (m != NULL) {
		protobuf_c_message_free_unpacked(m, NULL);
		fail_msg("accepted: %s", json);
	}
	if (strstr(err, want) == NULL)
		fail_msg("'%s': message '%s' lacks '%s'", json, err, want);
}

static void test_enqueue_from_json_with_every_type(void **state)
{
	char err[300];
	(void)state;
	Callraft__CallEnqueue *e = (Callraft__CallEnqueue *)parse(
		"{\"call_id\":\"pbx-1\",\"queue\":\"sales\",\"caller_number\":\"+98\",\"tier\":3,"
		"\"arrival_site\":\"tehran\",\"customer_id\":null}",
		&callraft__call_enqueue__descriptor, err, sizeof err);
	assert_non_null(e);
	assert_string_equal(e->call_id, "pbx-1");
	assert_string_equal(e->queue, "sales");
	assert_int_equal(e->tier, 3);
	assert_string_equal(e->customer_id, ""); /* null: the default */
	callraft__call_enqueue__free_unpacked(e, NULL);
}

static void test_refusals_name_the_field(void **state)
{
	const ProtobufCMessageDescriptor *enq = &callraft__call_enqueue__descriptor;
	(void)state;
	refused("{\"bogus\":1}", enq, "field 'bogus': unknown field");
	refused("{\"tier\":\"gold\"}", enq, "field 'tier': expected an integer from 0 to 4294967295");
	refused("{\"tier\":-1}", enq, "field 'tier'");
	refused("{\"tier\":4294967296}", enq, "field 'tier'");
	refused("{\"tier\":1.5}", enq, "field 'tier'");
	refused("{\"tier\":true}", enq, "field 'tier'");
	refused("{\"call_id\":7}", enq, "field 'call_id': expected a string");
	refused("{\"call_id\":\"a\\u0000b\"}", enq, "NUL");
	refused("[1]", enq, "the body must be a JSON object");
	refused("{\"state\":\"SLEEPING\"}", &callraft__agent_set_state__descriptor,
		"field 'state': expected one of AGENT_STATE_NONE, OFFLINE, AVAILABLE");
	refused("{\"push\":1}", &callraft__agent_set_state__descriptor, "expected true or false");
	refused("{\"skills\":\"sales\"}", &callraft__agent_login__descriptor,
		"field 'skills': expected an array");
	refused("{\"skills\":[\"a\",2]}", &callraft__agent_login__descriptor,
		"field 'skills': expected a string");
	refused("{\"offer_timeout_ms\":\"x\"}", &callraft__queue_configure__descriptor,
		"field 'offer_timeout_ms'");
	refused("{\"offer_timeout_ms\":{\"valu\":1}}", &callraft__queue_configure__descriptor,
		"field 'offer_timeout_ms.valu': unknown field");
}

static void test_enums_by_name_lower_case_dash_or_number(void **state)
{
	char err[300];
	const char *forms[] = {"{\"status\":\"IN_PROGRESS\"}", "{\"status\":\"in-progress\"}",
			       "{\"status\":\"In_Progress\"}", "{\"status\":2}"};
	(void)state;
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		Callraft__TicketUpdate *u = (Callraft__TicketUpdate *)parse(
			forms[i], &callraft__ticket_update__descriptor, err, sizeof err);
		assert_non_null(u);
		assert_int_equal(u->status, CALLRAFT__TICKET_STATUS__IN_PROGRESS);
		callraft__ticket_update__free_unpacked(u, NULL);
	}
	refused("{\"status\":99}", &callraft__ticket_update__descriptor, "expected one of");
}

static void test_presence_wrapper_is_a_bare_number_and_absent_stays_absent(void **state)
{
	char err[300];
	(void)state;
	Callraft__QueueConfigure *q = (Callraft__QueueConfigure *)parse(
		"{\"queue\":\"sales\",\"offer_timeout_ms\":20000,\"top_tier\":{\"value\":2}}",
		&callraft__queue_configure__descriptor, err, sizeof err);
	assert_non_null(q);
	assert_non_null(q->offer_timeout_ms);
	assert_int_equal(q->offer_timeout_ms->value, 20000);
	assert_non_null(q->top_tier);
	assert_int_equal(q->top_tier->value, 2);
	assert_null(q->overflow_after_ms); /* "leave as is" */
	callraft__queue_configure__free_unpacked(q, NULL);
}

static void test_64_bit_integers_are_exact(void **state)
{
	char err[300];
	(void)state;
	Callraft__CallAnswer *a = (Callraft__CallAnswer *)parse(
		"{\"offer_term\":18446744073709551615,\"offer_index\":9007199254740993}",
		&callraft__call_answer__descriptor, err, sizeof err);
	assert_non_null(a);
	assert_true(a->offer_term == UINT64_MAX);
	assert_true(a->offer_index == 9007199254740993ull);
	callraft__call_answer__free_unpacked(a, NULL);
	Callraft__CallbackSchedule *s = (Callraft__CallbackSchedule *)parse(
		"{\"at_ms\":-9223372036854775808}", &callraft__callback_schedule__descriptor, err,
		sizeof err);
	assert_non_null(s);
	assert_true(s->at_ms == INT64_MIN);
	callraft__callback_schedule__free_unpacked(s, NULL);
	refused("{\"at_ms\":9223372036854775808}", &callraft__callback_schedule__descriptor,
		"field 'at_ms'");
}

static void test_reply_to_json_enums_maps_and_omitted_defaults(void **state)
{
	Callraft__Reply r = CALLRAFT__REPLY__INIT;
	Callraft__Call call = CALLRAFT__CALL__INIT;
	Callraft__Stats st = CALLRAFT__STATS__INIT, *sts[1] = {&st};
	Callraft__Stats__AgentsEntry e = CALLRAFT__STATS__AGENTS_ENTRY__INIT, *es[1] = {&e};
	json_object *o, *v, *c;
	(void)state;

	call.call_id = "pbx-9";
	call.state = CALLRAFT__CALL_STATE__WAITING;
	call.offer_index = 9007199254740993ull;
	r.call = &call;
	r.applied_index = 12;
	e.key = "AVAILABLE";
	e.value = 3;
	st.scope = "queue";
	st.agents = es;
	st.n_agents = 1;
	r.stats = sts;
	r.n_stats = 1;
	o = http_json_from_message(&r.base, true);
	assert_non_null(o);
	assert_false(json_object_object_get_ex(o, "message", NULL)); /* top level: defaults left out */
	assert_false(json_object_object_get_ex(o, "agents", NULL));
	assert_true(json_object_object_get_ex(o, "applied_index", &v));
	assert_int_equal(json_object_get_int64(v), 12);
	assert_true(json_object_object_get_ex(o, "call", &c));
	assert_true(json_object_object_get_ex(c, "state", &v));
	assert_string_equal(json_object_get_string(v), "WAITING");
	assert_true(json_object_object_get_ex(c, "ended_ms", &v)); /* nested: whole */
	assert_int_equal(json_object_get_int64(v), 0);
	assert_true(json_object_object_get_ex(c, "offer_index", &v));
	assert_true(json_object_get_uint64(v) == 9007199254740993ull);
	assert_true(json_object_object_get_ex(o, "stats", &v));
	v = json_object_array_get_idx(v, 0);
	assert_true(json_object_object_get_ex(v, "agents", &v));
	assert_true(json_object_is_type(v, json_type_object));
	assert_true(json_object_object_get_ex(v, "AVAILABLE", &v));
	assert_int_equal(json_object_get_int64(v), 3);
	json_object_put(o);
}

static void test_text_values_are_typed_by_field(void **state)
{
	const ProtobufCMessageDescriptor *d = &callraft__queue_show__descriptor;
	const ProtobufCFieldDescriptor *limit = protobuf_c_message_descriptor_get_field_by_name(d, "limit");
	const ProtobufCFieldDescriptor *queue = protobuf_c_message_descriptor_get_field_by_name(d, "queue");
	char err[200];
	json_object *v;
	(void)state;

	v = http_json_from_text(limit, "25", err, sizeof err);
	assert_non_null(v);
	assert_int_equal(json_object_get_int64(v), 25);
	json_object_put(v);
	assert_null(http_json_from_text(limit, "25x", err, sizeof err));
	assert_non_null(strstr(err, "limit"));
	assert_null(http_json_from_text(limit, "-1", err, sizeof err));
	assert_null(http_json_from_text(limit, "", err, sizeof err));
	v = http_json_from_text(queue, "25", err, sizeof err);
	assert_string_equal(json_object_get_string(v), "25");
	json_object_put(v);
}

/* A list's cursor travels as hex both ways (a reply's next_cursor, a request's cursor); no other
 * bytes field does: a session secret is neither shown nor accepted. */
static void test_cursors_travel_as_hex_and_no_other_bytes(void **state)
{
	char err[300];
	(void)state;
	Callraft__TicketList *tl = (Callraft__TicketList *)parse(
	    "{\"customer_id\": \"c1\", \"cursor\": \"63310000Ff\"}", &callraft__ticket_list__descriptor,
	    err, sizeof err);
	assert_non_null(tl);
	assert_int_equal(tl->cursor.len, 5);
	assert_memory_equal(tl->cursor.data, "c1\0\0\xff", 5);
	protobuf_c_message_free_unpacked(&tl->base, NULL);
	refused("{\"cursor\": \"abc\"}", &callraft__ticket_list__descriptor, "next_cursor (hex)");
	refused("{\"cursor\": \"zz\"}", &callraft__ticket_list__descriptor, "next_cursor (hex)");
	refused("{\"cursor\": 12}", &callraft__ticket_list__descriptor, "next_cursor (hex)");
	refused("{\"secret\": \"00\"}", &callraft__register_client__descriptor,
		"bytes are not accepted");
	json_object *o = http_json_from_text(
	    protobuf_c_message_descriptor_get_field_by_name(&callraft__ticket_list__descriptor,
							   "cursor"),
	    "0a0b", err, sizeof err);
	assert_non_null(o);
	assert_string_equal(json_object_get_string(o), "0a0b");
	json_object_put(o);

	Callraft__Reply r = CALLRAFT__REPLY__INIT;
	uint8_t cur[] = {'c', '1', 0, 0xab}, secret[] = {1, 2, 3};
	r.next_cursor.data = cur;
	r.next_cursor.len = sizeof cur;
	r.session_secret.data = secret;
	r.session_secret.len = sizeof secret;
	json_object *j = http_json_from_message(&r.base, true), *v;
	assert_true(json_object_object_get_ex(j, "next_cursor", &v));
	assert_string_equal(json_object_get_string(v), "633100ab");
	assert_false(json_object_object_get_ex(j, "session_secret", &v));
	json_object_put(j);
	r.next_cursor.len = 0; /* the last page: no cursor */
	j = http_json_from_message(&r.base, false);
	assert_false(json_object_object_get_ex(j, "next_cursor", &v));
	json_object_put(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enqueue_from_json_with_every_type),
		cmocka_unit_test(test_refusals_name_the_field),
		cmocka_unit_test(test_enums_by_name_lower_case_dash_or_number),
		cmocka_unit_test(test_presence_wrapper_is_a_bare_number_and_absent_stays_absent),
		cmocka_unit_test(test_64_bit_integers_are_exact),
		cmocka_unit_test(test_reply_to_json_enums_maps_and_omitted_defaults),
		cmocka_unit_test(test_text_values_are_typed_by_field),
		cmocka_unit_test(test_cursors_travel_as_hex_and_no_other_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
