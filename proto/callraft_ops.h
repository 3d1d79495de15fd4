/* callraft_ops.h: frame lengths, and which requests are writes (through the log, with a session), reads
 * (linearizable by default, or stale) and admin operations (membership, leadership). One table
 * shared by the node (dispatch) and the client library (sessions and retries). `status` is none of
 * them: every node answers it from its own view. */
#ifndef CALLRAFT_OPS_H
#define CALLRAFT_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "callraft.pb-c.h"

bool callraft_op_is_write(Callraft__Request__OpCase op);
bool callraft_op_is_read(Callraft__Request__OpCase op);
/* Admin: membership, leadership, snapshots, rules versions (rules_declare is a member node's). */
bool callraft_op_is_admin(Callraft__Request__OpCase op);

/* The 4-byte big-endian length that prefixes every frame on the wire (and every encoded entry in a
 * Raft log payload). Shared by the node, the FSM adapter and the client library. */
void callraft_frame_put_len(uint8_t hdr[4], uint32_t len);
uint32_t callraft_frame_get_len(const uint8_t hdr[4]);

/* The next frame of a receive buffer (buf, len: borrowed). WHOLE: *body points into buf and the
 * frame takes 4 + *body_len bytes; PARTIAL: more bytes are needed; TOO_BIG: the announced length
 * (*body_len) is above `max` and the stream cannot be resynchronised. */
enum callraft_frame { CALLRAFT_FRAME_PARTIAL, CALLRAFT_FRAME_WHOLE, CALLRAFT_FRAME_TOO_BIG };
enum callraft_frame callraft_frame_next(const uint8_t *buf, size_t len, uint32_t max,
					const uint8_t **body, uint32_t *body_len);

/* True if `m` packs into bytes that unpack again. protobuf-c 1.4.1 accepts a field numbered 0 when
 * its tag is an overlong varint, keeps it as an unknown field and re-encodes it canonically, which
 * it then refuses. A command carrying one nested in its op (state_validate refuses unknown fields
 * of the op itself, not of the messages inside it) made the leader's whole entry undecodable:
 * every replica applied it as a no-op, and the other clients' writes batched with it were not
 * applied (found by tests/fuzz/fuzz_frame). The node refuses such a request at the door
 * (conn.c). */
bool callraft_message_reencodes(const ProtobufCMessage *m);

/* Copies the op of a write request into a command: client_id, seq and the op pointer, which borrows
 * from `req` (keep req alive while cmd is used). A request that is not a write leaves the command
 * without an op (state_validate refuses it). */
void callraft_command_from_request(Callraft__Command *cmd, const Callraft__Request *req);

#endif
