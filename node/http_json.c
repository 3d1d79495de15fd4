/* http_json.c: protobuf-c <-> json-c by descriptor; see http_json.h for the mapping. */
#include "http_json.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callraft_timing.h"


static void *member_at(const void *m, unsigned offset)
{
	return (char *)m + offset;
}

/* A presence wrapper: a message whose only field is a scalar named "value". */
static bool is_wrapper(const ProtobufCMessageDescriptor *d)
{
	return d->n_fields == 1 && strcmp(d->fields[0].name, "value") == 0 &&
	       d->fields[0].type != PROTOBUF_C_TYPE_MESSAGE &&
	       d->fields[0].label != PROTOBUF_C_LABEL_REPEATED;
}

/* A proto map's entry: fields "key" and "value". */
static bool is_map_entry(const ProtobufCMessageDescriptor *d)
{
	return d->n_fields == 2 && strcmp(d->fields[0].name, "key") == 0 &&
	       strcmp(d->fields[1].name, "value") == 0;
}

/* A list's paging cursor (Request ops' `cursor`, Reply.next_cursor): the one kind of bytes JSON
 * carries, as lower-case hex, so that HTTP pages past the first page as the CLI does. Every other
 * bytes field (session secrets) stays out of JSON. */
static bool is_cursor(const ProtobufCFieldDescriptor *f)
{
	return f->type == PROTOBUF_C_TYPE_BYTES &&
	       (strcmp(f->name, "cursor") == 0 || strcmp(f->name, "next_cursor") == 0);
}

static json_object *cursor_to_json(const ProtobufCBinaryData *b)
{
	static const char digits[] = "0123456789abcdef";
	char hex[2 * CALLRAFT_CURSOR_BYTES_MAX + 1];
	size_t n = b->len <= CALLRAFT_CURSOR_BYTES_MAX ? b->len : 0;

	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[b->data[i] >> 4];
		hex[2 * i + 1] = digits[b->data[i] & 15];
	}
	hex[2 * n] = '\0';
	return json_object_new_string(hex);
}

static int hex_digit(char ch)
{
	return ch >= '0' && ch <= '9' ? ch - '0'
	       : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
	       : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
					: -1;
}

/* The integer field types: signed ones take [min, max], unsigned ones [0, umax]; `bytes` wide. */
struct int_kind {
	bool is_signed;
	int64_t min, max;
	uint64_t umax;
	size_t bytes;
};

static bool int_kind_of(ProtobufCType t, struct int_kind *k)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		*k = (struct int_kind){true, INT32_MIN, INT32_MAX, 0, 4};
		return true;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		*k = (struct int_kind){false, 0, 0, UINT32_MAX, 4};
		return true;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		*k = (struct int_kind){true, INT64_MIN, INT64_MAX, 0, 8};
		return true;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		*k = (struct int_kind){false, 0, 0, UINT64_MAX, 8};
		return true;
	default:
		return false;
	}
}

/* ---- to JSON ----------------------------------------------------------------------------- */

/* The integer of kind k at p. */
static json_object *int_to_json(const struct int_kind *k, const void *p)
{
	if (k->bytes == 8)
		return k->is_signed ? json_object_new_int64(*(const int64_t *)p)
				    : json_object_new_uint64(*(const uint64_t *)p);
	return json_object_new_int64(k->is_signed ? (int64_t) * (const int32_t *)p
						  : (int64_t) * (const uint32_t *)p);
}

static json_object *message_to_json(const ProtobufCMessage *m, bool omit_empty, int depth);

/* One value of field f at p (an element of a repeated field, or the member itself). */
static json_object *value_to_json(const ProtobufCFieldDescriptor *f, const void *p, int depth)
{
	struct int_kind k;

	if (int_kind_of(f->type, &k))
		return int_to_json(&k, p);
	switch (f->type) {
	case PROTOBUF_C_TYPE_FLOAT:
		return json_object_new_double(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_object_new_double(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_object_new_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *v =
			protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
		return v != NULL ? json_object_new_string(v->name) : json_object_new_int64(*(const int *)p);
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		return json_object_new_string(s != NULL ? s : "");
	}
	case PROTOBUF_C_TYPE_BYTES: /* a cursor only (message_to_json skips the others) */
		return is_cursor(f) ? cursor_to_json(p) : NULL;
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
		if (sub == NULL)
			return NULL;
		if (is_wrapper(sub->descriptor))
			return value_to_json(&sub->descriptor->fields[0],
					     member_at(sub, sub->descriptor->fields[0].offset), depth);
		return message_to_json(sub, false, depth + 1);
	}
	default: /* the integers: int_to_json above */
		break;
	}
	return NULL;
}

static bool scalar_is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_ENUM:
		return *(const uint32_t *)p == 0;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		return *(const uint64_t *)p == 0;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)p == 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)p == 0;
	case PROTOBUF_C_TYPE_BOOL:
		return !*(const protobuf_c_boolean *)p;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		return s == NULL || s[0] == '\0';
	}
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)p)->len == 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)p == NULL;
	}
	return true;
}

static size_t elem_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4;
	}
}

static json_object *repeated_to_json(const ProtobufCFieldDescriptor *f, const void *m, int depth)
{
	size_t n = *(const size_t *)member_at(m, f->quantifier_offset);
	const char *arr = *(char *const *)member_at(m, f->offset);
	bool map = f->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry(f->descriptor);
	json_object *out = map ? json_object_new_object() : json_object_new_array();

	for (size_t i = 0; i < n && out != NULL; i++) {
		const void *p = arr + i * elem_size(f);
		if (map) {
			const ProtobufCMessage *e = *(ProtobufCMessage *const *)p;
			const ProtobufCFieldDescriptor *kf = &e->descriptor->fields[0];
			const ProtobufCFieldDescriptor *vf = &e->descriptor->fields[1];
			const char *key = *(char *const *)member_at(e, kf->offset);
			if (kf->type != PROTOBUF_C_TYPE_STRING)
				continue;
			json_object_object_add(out, key != NULL ? key : "",
					       value_to_json(vf, member_at(e, vf->offset), depth));
		} else {
			json_object_array_add(out, value_to_json(f, p, depth));
		}
	}
	return out;
}

static json_object *message_to_json(const ProtobufCMessage *m, bool omit_empty, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	json_object *o = json_object_new_object();

	if (o == NULL || depth > CALLRAFT_HTTP_JSON_DEPTH_MAX)
		return o;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *p = member_at(m, f->offset);
		json_object *v;

		if (f->type == PROTOBUF_C_TYPE_BYTES &&
		    (!is_cursor(f) || ((const ProtobufCBinaryData *)p)->len == 0))
			continue;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			if (*(const uint32_t *)member_at(m, f->quantifier_offset) != f->id)
				continue;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			if (omit_empty && *(const size_t *)member_at(m, f->quantifier_offset) == 0)
				continue;
			v = repeated_to_json(f, m, depth);
		} else {
			if ((omit_empty || f->type == PROTOBUF_C_TYPE_MESSAGE) && scalar_is_default(f, p))
				continue;
			v = value_to_json(f, p, depth);
		}
		if (v != NULL)
			json_object_object_add(o, f->name, v);
	}
	return o;
}

json_object *http_json_from_message(const ProtobufCMessage *m, bool omit_empty)
{
	return message_to_json(m, omit_empty, 0);
}

/* ---- from JSON --------------------------------------------------------------------------- */

struct in_ctx {
	char *err;
	size_t err_len;
};

static int fail(struct in_ctx *c, const char *where, const char *name, const char *what)
{
	snprintf(c->err, c->err_len, "field '%s%s%s': %s", where, where[0] ? "." : "", name, what);
	return -1;
}

/* Reads the integer JSON value v into the field of kind k at p, or fails naming its range. */
static int int_from_json(struct in_ctx *c, const char *where, const char *name, json_object *v,
			 const struct int_kind *k, void *p)
{
	int64_t i = json_object_get_int64(v);
	uint64_t u = i == INT64_MAX ? json_object_get_uint64(v) : (uint64_t)i;
	bool ok = json_object_is_type(v, json_type_int) &&
		  (k->is_signed ? (i != INT64_MAX || u <= (uint64_t)INT64_MAX) && i >= k->min &&
				      i <= k->max
				: i >= 0 && u <= k->umax);
	char what[96];

	if (!ok) {
		if (k->is_signed)
			snprintf(what, sizeof what, "expected an integer from %" PRId64 " to %" PRId64,
				 k->min, k->max);
		else
			snprintf(what, sizeof what, "expected an integer from 0 to %" PRIu64, k->umax);
		return fail(c, where, name, what);
	}
	if (k->bytes == 8)
		*(uint64_t *)p = k->is_signed ? (uint64_t)i : u;
	else
		*(uint32_t *)p = k->is_signed ? (uint32_t)(int32_t)i : (uint32_t)u;
	return 0;
}

/* "in-progress", "In_Progress" and "IN_PROGRESS" all name IN_PROGRESS. */
static const ProtobufCEnumValue *enum_by_name(const ProtobufCEnumDescriptor *d, const char *s)
{
	char up[64];
	size_t n = strlen(s);
	if (n >= sizeof up)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		up[i] = s[i] == '-' ? '_' : (char)toupper((unsigned char)s[i]);
	return protobuf_c_enum_descriptor_get_value_by_name(d, up);
}

static ProtobufCMessage *to_message(struct in_ctx *c, json_object *obj,
				    const ProtobufCMessageDescriptor *d, const char *where, int depth);

/* Sets one value of field f at p from v. Strings and messages are allocated (freed with the
 * message by protobuf_c_message_free_unpacked). */
static int value_from_json(struct in_ctx *c, const ProtobufCFieldDescriptor *f, void *p,
			   json_object *v, const char *where, int depth)
{
	struct int_kind k;

	if (int_kind_of(f->type, &k))
		return int_from_json(c, where, f->name, v, &k, p);
	switch (f->type) {
	case PROTOBUF_C_TYPE_FLOAT: case PROTOBUF_C_TYPE_DOUBLE:
		if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
			return fail(c, where, f->name, "expected a number");
		if (f->type == PROTOBUF_C_TYPE_FLOAT)
			*(float *)p = (float)json_object_get_double(v);
		else
			*(double *)p = json_object_get_double(v);
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			return fail(c, where, f->name, "expected true or false");
		*(protobuf_c_boolean *)p = json_object_get_boolean(v);
		return 0;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		const ProtobufCEnumValue *ev = NULL;
		if (json_object_is_type(v, json_type_string))
			ev = enum_by_name(ed, json_object_get_string(v));
		else if (json_object_is_type(v, json_type_int))
			ev = protobuf_c_enum_descriptor_get_value(ed, (int)json_object_get_int64(v));
		if (ev == NULL) {
			char what[600];
			size_t off = (size_t)snprintf(what, sizeof what, "expected one of");
			for (unsigned i = 0; i < ed->n_values && off < sizeof what; i++)
				off += (size_t)snprintf(what + off, sizeof what - off, "%s %s",
							i ? "," : "", ed->values[i].name);
			return fail(c, where, f->name, what);
		}
		*(int *)p = ev->value;
		return 0;
	}
	case PROTOBUF_C_TYPE_STRING: {
		char *dup;
		if (!json_object_is_type(v, json_type_string))
			return fail(c, where, f->name, "expected a string");
		if (memchr(json_object_get_string(v), '\0', (size_t)json_object_get_string_len(v)) != NULL)
			return fail(c, where, f->name, "contains a NUL character");
		dup = strdup(json_object_get_string(v));
		if (dup == NULL)
			return fail(c, where, f->name, "out of memory");
		*(char **)p = dup;
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const char *hex = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
		size_t len = hex != NULL ? strlen(hex) : 0;
		ProtobufCBinaryData *b = p;
		if (!is_cursor(f))
			return fail(c, where, f->name, "bytes are not accepted over JSON");
		if (hex == NULL || len % 2 != 0 || len > 2 * CALLRAFT_CURSOR_BYTES_MAX)
			return fail(c, where, f->name, "expected a previous reply's next_cursor (hex)");
		b->data = len > 0 ? malloc(len / 2) : NULL;
		b->len = 0;
		if (len > 0 && b->data == NULL)
			return fail(c, where, f->name, "out of memory");
		for (size_t i = 0; i < len; i += 2) {
			int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
			if (hi < 0 || lo < 0)
				return fail(c, where, f->name,
					    "expected a previous reply's next_cursor (hex)");
			b->data[b->len++] = (uint8_t)(hi << 4 | lo);
		}
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessageDescriptor *sd = f->descriptor;
		ProtobufCMessage *sub;
		char sub_where[128];
		snprintf(sub_where, sizeof sub_where, "%s%s%s", where, where[0] ? "." : "", f->name);
		if (is_wrapper(sd) && !json_object_is_type(v, json_type_object)) {
			sub = calloc(1, sd->sizeof_message);
			if (sub == NULL)
				return fail(c, where, f->name, "out of memory");
			sd->message_init(sub);
			/* Errors name the field itself, not the wrapper's "value". */
			ProtobufCFieldDescriptor vf = sd->fields[0];
			vf.name = f->name;
			if (value_from_json(c, &vf, member_at(sub, vf.offset), v, where, depth) != 0) {
				protobuf_c_message_free_unpacked(sub, NULL);
				return -1;
			}
		} else {
			sub = to_message(c, v, sd, sub_where, depth + 1);
			if (sub == NULL)
				return -1;
		}
		*(ProtobufCMessage **)p = sub;
		return 0;
	}
	default: /* the integers: int_from_json above */
		break;
	}
	return fail(c, where, f->name, "unsupported type");
}

static int repeated_from_json(struct in_ctx *c, const ProtobufCFieldDescriptor *f, void *m,
			      json_object *v, const char *where, int depth)
{
	size_t n, sz = elem_size(f);
	char *arr;

	if (!json_object_is_type(v, json_type_array))
		return fail(c, where, f->name, "expected an array");
	n = json_object_array_length(v);
	arr = calloc(n ? n : 1, sz);
	if (arr == NULL)
		return fail(c, where, f->name, "out of memory");
	/* Owned by the message from here on, so a failure below frees what was set. */
	*(void **)member_at(m, f->offset) = arr;
	for (size_t i = 0; i < n; i++) {
		if (value_from_json(c, f, arr + i * sz, json_object_array_get_idx(v, i), where, depth) != 0)
			return -1;
		*(size_t *)member_at(m, f->quantifier_offset) = i + 1;
	}
	return 0;
}

static ProtobufCMessage *to_message(struct in_ctx *c, json_object *obj,
				    const ProtobufCMessageDescriptor *d, const char *where, int depth)
{
	ProtobufCMessage *m;

	if (depth > CALLRAFT_HTTP_JSON_DEPTH_MAX || !json_object_is_type(obj, json_type_object)) {
		if (where[0])
			snprintf(c->err, c->err_len, "field '%s': expected an object", where);
		else
			snprintf(c->err, c->err_len, "the body must be a JSON object");
		return NULL;
	}
	m = calloc(1, d->sizeof_message);
	if (m == NULL) {
		snprintf(c->err, c->err_len, "out of memory");
		return NULL;
	}
	d->message_init(m);
	json_object_object_foreach(obj, key, v)
	{
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
		int rc;
		if (f == NULL) {
			fail(c, where, key, "unknown field");
			goto err;
		}
		if (v == NULL) /* null: leave the default */
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			rc = repeated_from_json(c, f, m, v, where, depth);
		} else {
			rc = value_from_json(c, f, member_at(m, f->offset), v, where, depth);
			if (rc == 0 && (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
				*(uint32_t *)member_at(m, f->quantifier_offset) = f->id;
			else if (rc == 0 && f->label == PROTOBUF_C_LABEL_OPTIONAL &&
				 f->quantifier_offset != 0 && f->type != PROTOBUF_C_TYPE_MESSAGE &&
				 f->type != PROTOBUF_C_TYPE_STRING)
				*(protobuf_c_boolean *)member_at(m, f->quantifier_offset) = 1;
		}
		if (rc != 0)
			goto err;
	}
	return m;
err:
	protobuf_c_message_free_unpacked(m, NULL);
	return NULL;
}

ProtobufCMessage *http_json_to_message(json_object *obj, const ProtobufCMessageDescriptor *d,
				       const char *where, char *err, size_t err_len)
{
	struct in_ctx c = {.err = err, .err_len = err_len};
	return to_message(&c, obj, d, where, 0);
}

json_object *http_json_from_text(const ProtobufCFieldDescriptor *f, const char *text, char *err,
				 size_t err_len)
{
	const ProtobufCFieldDescriptor *vf = f;
	char *end;

	if (f->type == PROTOBUF_C_TYPE_MESSAGE && is_wrapper(f->descriptor))
		vf = &((const ProtobufCMessageDescriptor *)f->descriptor)->fields[0];
	if (is_cursor(vf))
		return json_object_new_string(text); /* checked as hex when the message is filled */
	switch (vf->type) {
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_ENUM:
		return json_object_new_string(text);
	case PROTOBUF_C_TYPE_BOOL:
		if (!strcmp(text, "true") || !strcmp(text, "1"))
			return json_object_new_boolean(1);
		if (!strcmp(text, "false") || !strcmp(text, "0"))
			return json_object_new_boolean(0);
		snprintf(err, err_len, "field '%s': expected true or false, not '%s'", f->name, text);
		return NULL;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: {
		errno = 0;
		unsigned long long v = strtoull(text, &end, 10);
		if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0) {
			snprintf(err, err_len, "field '%s': expected a non-negative integer, not '%s'",
				 f->name, text);
			return NULL;
		}
		return json_object_new_uint64(v);
	}
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64: {
		errno = 0;
		long long v = strtoll(text, &end, 10);
		if (text[0] == '\0' || *end != '\0' || errno != 0) {
			snprintf(err, err_len, "field '%s': expected an integer, not '%s'", f->name, text);
			return NULL;
		}
		return json_object_new_int64(v);
	}
	default:
		snprintf(err, err_len, "field '%s': cannot be given in a path or query", f->name);
		return NULL;
	}
}
