/* test_client_request.c: the request builder (client/request.c, callraft_request.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "callraft_client.h"

/* Every member of the Request's `op` oneof, as protoc-c generated them. */
static void for_each_op(void (*fn)(Callraft__Request__OpCase op, const ProtobufCFieldDescriptor *f,
				   unsigned *count),
			unsigned *count)
{
	const ProtobufCMessageDescriptor *d = &callraft__request__descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->quantifier_offset == offsetof(Callraft__Request, op_case))
			fn((Callraft__Request__OpCase)f->id, f, count);
	}
}

static void check_op(Callraft__Request__OpCase op, const ProtobufCFieldDescriptor *f,
		     unsigned *count)
{
	struct callraft_request r;
	void *m = callraft_request_init(&r, op);
	void *linked;

	assert_non_null(m);
	assert_true(((const ProtobufCMessageDescriptor *)f->descriptor)->sizeof_message <=
		    CALLRAFT_REQUEST_OP_BYTES_MAX);
	assert_int_equal(r.req.op_case, op);
	memcpy(&linked, (char *)&r.req + f->offset, sizeof linked);
	assert_ptr_equal(linked, m);
	assert_ptr_equal(callraft_request_op_descriptor(op), f->descriptor);
	assert_string_equal(callraft_request_op_name(op), f->name);
	/* An operation with its defaults encodes and decodes back to the same operation. */
	r.req.version = 1;
	size_t len = callraft__request__get_packed_size(&r.req);
	uint8_t buf[1024];
	assert_true(len <= sizeof buf);
	callraft__request__pack(&r.req, buf);
	Callraft__Request *back = callraft__request__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_int_equal(back->op_case, op);
	callraft__request__free_unpacked(back, NULL);
	(*count)++;
}

/* Every operation of the protocol is buildable, fits the room, and round-trips. */
static void every_op_is_buildable(void **state)
{
	unsigned count = 0;
	(void)state;
	for_each_op(check_op, &count);
	assert_true(count >= 30); /* the protocol has 35 today; a broken walk would find none */
}

static void unknown_op_is_refused(void **state)
{
	struct callraft_request r;
	(void)state;
	assert_null(callraft_request_init(&r, CALLRAFT__REQUEST__OP__NOT_SET));
	assert_int_equal(r.req.op_case, CALLRAFT__REQUEST__OP__NOT_SET);
	assert_null(callraft_request_init(&r, (Callraft__Request__OpCase)9999));
	assert_int_equal(r.req.op_case, CALLRAFT__REQUEST__OP__NOT_SET);
	assert_null(callraft_request_op_name((Callraft__Request__OpCase)9999));
	/* "version" is a field of Request but not an operation. */
	assert_null(callraft_request_init(&r, (Callraft__Request__OpCase)1));
}

static void enqueue_builder_sets_every_field(void **state)
{
	struct callraft_request r;
	(void)state;
	Callraft__Request *q =
	    callraft_request_call_enqueue(&r, "c1", "sales", "+98912", "cust-1", 2, "tehran");
	assert_ptr_equal(q, &r.req);
	assert_int_equal(q->op_case, CALLRAFT__REQUEST__OP_CALL_ENQUEUE);
	assert_string_equal(q->call_enqueue->call_id, "c1");
	assert_string_equal(q->call_enqueue->queue, "sales");
	assert_string_equal(q->call_enqueue->caller_number, "+98912");
	assert_string_equal(q->call_enqueue->customer_id, "cust-1");
	assert_int_equal(q->call_enqueue->tier, 2);
	assert_string_equal(q->call_enqueue->arrival_site, "tehran");
}

/* NULL optional strings are sent as the field's default, "", never as a NULL pointer. */
static void null_strings_become_empty(void **state)
{
	struct callraft_request r;
	(void)state;
	Callraft__Request *q = callraft_request_ticket_open(&r, "cust-1", "billing", NULL, NULL,
							    NULL, NULL, NULL);
	assert_string_equal(q->ticket_open->customer_id, "cust-1");
	assert_string_equal(q->ticket_open->call_id, "");
	assert_string_equal(q->ticket_open->subject, "");
	assert_string_equal(q->ticket_open->ticket_class, "");
	q = callraft_request_call_enqueue(&r, "c1", "sales", "+1", NULL, 0, NULL);
	assert_string_equal(q->call_enqueue->customer_id, "");
	assert_string_equal(q->call_enqueue->arrival_site, "");
	q = callraft_request_agent_login(&r, "a1", NULL, "tehran", NULL, 3);
	assert_int_equal(q->agent_login->n_skills, 0);
	assert_string_equal(q->agent_login->name, "");
}

/* An operation keyed by its field 1 string builds from the key alone; others are refused. */
static void key_builder(void **state)
{
	struct callraft_request r;
	(void)state;
	Callraft__Request *q = callraft_request_with_key(&r, CALLRAFT__REQUEST__OP_SITE_UP, "shiraz");
	assert_non_null(q);
	assert_int_equal(q->op_case, CALLRAFT__REQUEST__OP_SITE_UP);
	assert_string_equal(q->site_up->site, "shiraz");
	q = callraft_request_with_key(&r, CALLRAFT__REQUEST__OP_TICKET_SHOW, NULL);
	assert_string_equal(q->ticket_show->code, "");
	/* MemberRemove's field 1 is a number, StatusGet has none. */
	assert_null(callraft_request_with_key(&r, CALLRAFT__REQUEST__OP_MEMBER_REMOVE, "2"));
	assert_int_equal(r.req.op_case, CALLRAFT__REQUEST__OP__NOT_SET);
	assert_null(callraft_request_with_key(&r, CALLRAFT__REQUEST__OP_STATUS, "x"));
	assert_null(callraft_request_with_key(&r, (Callraft__Request__OpCase)9999, "x"));
}

static void agent_and_answer_builders(void **state)
{
	struct callraft_request r;
	char *skills[] = {"sales", "support"};
	(void)state;
	Callraft__Request *q = callraft_request_agent_login(&r, "a1", "Ann", "tehran", skills, 2);
	assert_int_equal(q->op_case, CALLRAFT__REQUEST__OP_AGENT_LOGIN);
	assert_int_equal(q->agent_login->n_skills, 2);
	assert_string_equal(q->agent_login->skills[1], "support");
	q = callraft_request_agent_set_state(&r, "a1", CALLRAFT__AGENT_STATE__BREAK, "lunch");
	assert_int_equal(q->agent_set_state->state, CALLRAFT__AGENT_STATE__BREAK);
	assert_string_equal(q->agent_set_state->reason, "lunch");
	q = callraft_request_agent_ready(&r, "a1");
	assert_int_equal(q->agent_set_state->state, CALLRAFT__AGENT_STATE__AVAILABLE);
	assert_true(q->agent_set_state->push);
	assert_string_equal(q->agent_set_state->reason, "");
	q = callraft_request_call_answer(&r, "c1", "a1", 7, 1234);
	assert_int_equal(q->call_answer->offer_term, 7);
	assert_int_equal(q->call_answer->offer_index, 1234);
	q = callraft_request_queue_show(&r, "sales", 10);
	assert_int_equal(q->queue_show->limit, 10);
	q = callraft_request_status(&r);
	assert_int_equal(q->op_case, CALLRAFT__REQUEST__OP_STATUS);
	assert_non_null(q->status);
	assert_true(callraft_request_is_write(callraft_request_call_end(&r, "c1", "a1")));
	assert_false(callraft_request_is_write(callraft_request_call_show(&r, "c1")));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_op_is_buildable),
	    cmocka_unit_test(unknown_op_is_refused),
	    cmocka_unit_test(enqueue_builder_sets_every_field),
	    cmocka_unit_test(null_strings_become_empty),
	    cmocka_unit_test(key_builder),
	    cmocka_unit_test(agent_and_answer_builders),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
