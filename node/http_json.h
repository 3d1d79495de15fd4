/* http_json.h: protobuf-c messages to and from JSON (json-c), driven by the messages' descriptors.
 *
 * One mapping for every operation, so the HTTP API and proto/callraft.proto cannot drift apart:
 *   - a JSON key is the proto field name ("call_id", "offer_term");
 *   - strings are JSON strings; integers JSON integers (64-bit ones too: json-c keeps them exact);
 *     bools JSON booleans; doubles JSON numbers;
 *   - enums are their value names ("WAITING"); input also takes lower case and '-' for '_'
 *     ("in-progress", "wrap-up") and the number;
 *   - a presence wrapper (Int64Value, Int32Value, UInt32Value: one field "value") is the bare number;
 *   - repeated fields are arrays; a proto map (Stats.agents) is a JSON object;
 *   - other messages are objects.
 * Input is strict: an unknown key, a wrong type, a number out of the field's range or a fraction
 * where an integer is expected is refused with a message naming the field. */
#ifndef CALLRAFT_HTTP_JSON_H
#define CALLRAFT_HTTP_JSON_H

#include <json-c/json.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

/* Every field of `m` (scalars included when zero, so each object has a stable shape), or, with
 * `omit_empty`, only fields with a non-default value at the top level (nested messages are always
 * whole). Returns a new object (the caller owns the reference), or NULL on allocation failure. */
json_object *http_json_from_message(const ProtobufCMessage *m, bool omit_empty);

/* Fills a new message of type `d` from `obj` (a JSON object). Returns the message (free it with
 * protobuf_c_message_free_unpacked(m, NULL)), or NULL with "field 'tier': expected an integer from
 * 0 to 4294967295" in err. `where` prefixes field names in messages ("" at the top). */
ProtobufCMessage *http_json_to_message(json_object *obj, const ProtobufCMessageDescriptor *d,
				       const char *where, char *err, size_t err_len);

/* Converts a text value (a path segment or a query argument) to the JSON type of field `f`
 * ("42" -> 42 for an integer field). Returns a new object, or NULL with a message in err. */
json_object *http_json_from_text(const ProtobufCFieldDescriptor *f, const char *text, char *err,
				 size_t err_len);

#endif
