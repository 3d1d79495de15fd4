/* fuzz_request.c: libFuzzer target for a client request, from its bytes to its answer.
 *
 * The input is one Request message (a frame's body). The node's own path runs on it: decode;
 * a write becomes a command (callraft_command_from_request) that state_validate checks, as
 * node/write.c does before proposing; a read is answered by state_read from a seeded scratch
 * state, as node/read.c does. Oracles: the sanitizers; a read's answer is a Reply that decodes and
 * carries the request's id; validation answers OK or a request error, never a business code; a
 * write the node accepts packs into an Entry that decodes again (else it would poison its batch,
 * see callraft_message_reencodes). The
 * scratch state is never written here (writes are the entry target's job), so runs are
 * independent. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>

#include "callraft_ops.h"
#include "fuzz_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fuzz_state fx;

static void cleanup(void)
{
	fuzz_state_close(&fx);
}

static void read_one(const Callraft__Request *req)
{
	size_t len = 0;
	uint8_t *bytes = state_read(fx.s, req, &len);
	Callraft__Reply *reply;

	assert(bytes != NULL);
	reply = callraft__reply__unpack(NULL, len, bytes);
	assert(reply != NULL);
	assert(reply->request_id == req->request_id);
	callraft__reply__free_unpacked(reply, NULL);
	free(bytes);
}

static void write_one(const Callraft__Request *req)
{
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;
	char msg[256];
	Callraft__Code code;

	callraft_command_from_request(&cmd, req);
	code = state_validate(&cmd, msg, sizeof msg);
	assert(code == CALLRAFT__CODE__OK || code == CALLRAFT__CODE__INVALID_ARGUMENT ||
	       code == CALLRAFT__CODE__UNKNOWN_OPERATION);
	assert(code == CALLRAFT__CODE__OK || msg[0] != '\0');
	if (code == CALLRAFT__CODE__OK) {
		Callraft__Entry e = CALLRAFT__ENTRY__INIT;
		Callraft__Command *cp = &cmd;
		e.format = CALLRAFT_ENTRY_FORMAT;
		e.n_commands = 1;
		e.commands = &cp;
		size_t len = callraft__entry__get_packed_size(&e);
		uint8_t *b = malloc(len);
		assert(b != NULL);
		callraft__entry__pack(&e, b);
		Callraft__Entry *back = callraft__entry__unpack(NULL, len, b);
		assert(back != NULL && back->n_commands == 1);
		callraft__entry__free_unpacked(back, NULL);
		free(b);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Callraft__Request *req;

	if (fx.s == NULL) {
		fuzz_state_open(&fx);
		atexit(cleanup);
	}
	if (size > CALLRAFT_REQUEST_BYTES_MAX)
		return 0; /* conn.c refuses such a frame before decoding */
	req = callraft__request__unpack(NULL, size, data);
	if (req == NULL)
		return 0;
	if (!callraft_message_reencodes(&req->base)) { /* refused at the door (conn.c) */
		callraft__request__free_unpacked(req, NULL);
		return 0;
	}
	if (callraft_op_is_read(req->op_case))
		read_one(req);
	else if (callraft_op_is_write(req->op_case))
		write_one(req);
	callraft__request__free_unpacked(req, NULL);
	return 0;
}
