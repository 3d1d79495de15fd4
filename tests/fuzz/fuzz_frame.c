/* fuzz_frame.c: libFuzzer target for the wire framing and the message decoders behind it.
 *
 * The input is a byte stream as a socket would deliver it. callraft_frame_next (the splitter of
 * node/conn.c) cuts it into frames under the request limit; each frame is decoded as a Request
 * (what the node does) and as a Reply (what libcallraft does), and a Request that decodes must
 * survive a pack/unpack round trip. Oracles: the sanitizers, and the splitter's contract. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "callraft.pb-c.h"
#include "callraft_limits.h"
#include "callraft_ops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const Callraft__Request *req)
{
	size_t len = callraft__request__get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);
	Callraft__Request *again;

	assert(buf != NULL);
	assert(callraft__request__pack(req, buf) == len);
	again = callraft__request__unpack(NULL, len, buf);
	assert(again != NULL);
	assert(again->request_id == req->request_id && again->op_case == req->op_case);
	assert(callraft__request__get_packed_size(again) == len);
	callraft__request__free_unpacked(again, NULL);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	for (;;) {
		const uint8_t *body = NULL;
		uint32_t len = 0;
		enum callraft_frame f = callraft_frame_next(data + off, size - off,
							    CALLRAFT_REQUEST_BYTES_MAX, &body, &len);
		if (f == CALLRAFT_FRAME_TOO_BIG) {
			assert(len > CALLRAFT_REQUEST_BYTES_MAX);
			break;
		}
		if (f == CALLRAFT_FRAME_PARTIAL) {
			assert(size - off < 4 || size - off - 4 < callraft_frame_get_len(data + off));
			break;
		}
		assert(body == data + off + 4 && len <= size - off - 4);
		Callraft__Request *req = callraft__request__unpack(NULL, len, body);
		/* The node refuses what does not re-encode (callraft_ops.h); the rest must round-trip. */
		if (req != NULL && callraft_message_reencodes(&req->base)) {
			round_trip(req);
		}
		if (req != NULL)
			callraft__request__free_unpacked(req, NULL);
		Callraft__Reply *reply = callraft__reply__unpack(NULL, len, body);
		if (reply != NULL)
			callraft__reply__free_unpacked(reply, NULL);
		off += 4 + (size_t)len;
	}
	return 0;
}
