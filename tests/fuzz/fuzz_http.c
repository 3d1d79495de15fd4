/* fuzz_http.c: libFuzzer target for the HTTP/JSON request path (node/http_json.c) and what follows
 * it on the node.
 *
 * Input: one byte choosing the operation (a field of Request's oneof, as a route names it), then a
 * JSON body. As node/http_api.c does: json-c parses the body, http_json_to_message fills the
 * operation's message, the Request is built around it; then the node's path: the door check, a
 * write's validation (and its entry must decode again), a read answered from a seeded scratch
 * LMDB. Oracles: the sanitizers; a message built from JSON always re-encodes (the door never has
 * to refuse what HTTP built); JSON -> message -> JSON -> message gives the same encoding. */
#include <assert.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "callraft_ops.h"
#include "fuzz_state.h"
#include "http_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fuzz_state fx;

static void cleanup(void)
{
	fuzz_state_close(&fx);
}

/* The fields of Request's oneof (the operations). */
static const ProtobufCFieldDescriptor *op_field(uint8_t pick)
{
	const ProtobufCMessageDescriptor *d = &callraft__request__descriptor;
	const ProtobufCFieldDescriptor *ops[64];
	unsigned n = 0;

	for (unsigned i = 0; i < d->n_fields && n < 64; i++)
		if (d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
			ops[n++] = &d->fields[i];
	assert(n > 0);
	return ops[pick % n];
}

static size_t packed(const ProtobufCMessage *m, uint8_t **out)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	*out = malloc(len ? len : 1);
	assert(*out != NULL);
	protobuf_c_message_pack(m, *out);
	return len;
}

/* JSON -> message -> JSON -> message: the same bytes. */
static void json_round_trip(const ProtobufCMessage *m)
{
	char err[300];
	json_object *j = http_json_from_message(m, false);
	assert(j != NULL);
	ProtobufCMessage *again = http_json_to_message(j, m->descriptor, "", err, sizeof err);
	json_object_put(j);
	assert(again != NULL);
	uint8_t *a, *b;
	size_t la = packed(m, &a), lb = packed(again, &b);
	assert(la == lb && memcmp(a, b, la) == 0);
	free(a);
	free(b);
	protobuf_c_message_free_unpacked(again, NULL);
}

static void node_path(Callraft__Request *req)
{
	char msg[256];

	assert(callraft_message_reencodes(&req->base));
	if (callraft_op_is_read(req->op_case)) {
		size_t len = 0;
		uint8_t *bytes = state_read(fx.s, req, &len);
		assert(bytes != NULL);
		Callraft__Reply *reply = callraft__reply__unpack(NULL, len, bytes);
		assert(reply != NULL);
		callraft__reply__free_unpacked(reply, NULL);
		free(bytes);
	} else if (callraft_op_is_write(req->op_case)) {
		Callraft__Command cmd = CALLRAFT__COMMAND__INIT;
		callraft_command_from_request(&cmd, req);
		(void)state_validate(&cmd, msg, sizeof msg);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[300];

	if (fx.s == NULL) {
		fuzz_state_open(&fx);
		atexit(cleanup);
	}
	if (size < 1 || size > 64 * 1024)
		return 0;
	const ProtobufCFieldDescriptor *f = op_field(data[0]);
	json_tokener *tok = json_tokener_new_ex(32);
	json_object *in = json_tokener_parse_ex(tok, (const char *)data + 1, (int)(size - 1));
	json_tokener_free(tok);
	if (in == NULL)
		return 0;
	if (!json_object_is_type(in, json_type_object)) {
		json_object_put(in);
		return 0;
	}
	ProtobufCMessage *m = http_json_to_message(in, f->descriptor, "", err, sizeof err);
	json_object_put(in);
	if (m == NULL) {
		assert(err[0] != '\0');
		return 0;
	}
	json_round_trip(m);
	Callraft__Request *req = calloc(1, sizeof *req);
	assert(req != NULL);
	callraft__request__init(req);
	req->version = CALLRAFT_PROTOCOL_VERSION;
	req->request_id = 1;
	*(uint32_t *)((uint8_t *)req + f->quantifier_offset) = f->id;
	*(ProtobufCMessage **)((uint8_t *)req + f->offset) = m;
	node_path(req);
	callraft__request__free_unpacked(req, NULL);
	return 0;
}
