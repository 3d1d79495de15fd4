/* test_state_pages.c: list replies in pages (state/read.c, issue 13).
 *
 * A customer whose tickets carry many notes used to produce a list reply above the frame limit,
 * which could not be sent at all. A page now ends before its rows pass
 * CALLRAFT_REPLY_LIST_BYTES_MAX, or at the row limit, and says where the next one starts
 * (next_cursor); following the cursors yields every row once, in order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "state.h"

#define TICKETS 10
#define NOTES 220 /* x ~2 KB: about 450 KB a ticket, 4.5 MB for the customer */

struct fx {
	char dir[64];
	struct state *s;
	uint64_t index;
	uint64_t seq;
	char codes[TICKETS][24];
};

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void apply(struct fx *f, Callraft__Command **cmds, size_t n, struct state_replies *out)
{
	Callraft__Entry e = CALLRAFT__ENTRY__INIT;
	char err[256];

	e.format = CALLRAFT_ENTRY_FORMAT;
	e.time_ms = 1000 + (int64_t)f->index;
	e.term = 1;
	e.n_commands = n;
	e.commands = cmds;
	size_t len = callraft__entry__get_packed_size(&e);
	uint8_t *b = malloc(len);
	callraft__entry__pack(&e, b);
	if (state_apply(f->s, ++f->index, b, len, out, err, sizeof err) != 0)
		fail_msg("apply: %s", err);
	free(b);
	assert_int_equal(out->n, n);
}

/* Client 1; TICKETS tickets for customer c-1 with NOTES notes each. */
static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	struct state_options o = {.map_bytes = 256u << 20, .no_sync = true};
	struct state_replies out;
	char err[256], note[CALLRAFT_NOTE_BYTES_MAX - 8];
	Callraft__RegisterClient rc = CALLRAFT__REGISTER_CLIENT__INIT;
	Callraft__Command c = CALLRAFT__COMMAND__INIT, *cp = &c;

	snprintf(f->dir, sizeof f->dir, "/tmp/test_state_pages.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	if (state_open(f->dir, &o, &f->s, err, sizeof err) != 0)
		fail_msg("state_open: %s", err);
	c.op_case = CALLRAFT__COMMAND__OP_REGISTER_CLIENT;
	c.register_client = &rc;
	apply(f, &cp, 1, &out);
	memset(note, 'n', sizeof note - 1);
	note[sizeof note - 1] = '\0';
	for (int t = 0; t < TICKETS; t++) {
		Callraft__TicketOpen op = CALLRAFT__TICKET_OPEN__INIT;
		c = (Callraft__Command)CALLRAFT__COMMAND__INIT;
		c.client_id = 1;
		c.seq = ++f->seq;
		op.customer_id = "c-1";
		op.category = "complaint";
		op.subject = "many notes";
		c.op_case = CALLRAFT__COMMAND__OP_TICKET_OPEN;
		c.ticket_open = &op;
		apply(f, &cp, 1, &out);
		Callraft__Reply *r = callraft__reply__unpack(NULL, out.len[0], out.bytes[0]);
		assert_int_equal(r->code, CALLRAFT__CODE__OK);
		snprintf(f->codes[t], sizeof f->codes[t], "%s", r->ticket->code);
		callraft__reply__free_unpacked(r, NULL);
		/* The notes, 110 to an entry. */
		for (int batch = 0; batch < NOTES / 110; batch++) {
			Callraft__Command cmds[110], *ptrs[110];
			Callraft__TicketUpdate ups[110];
			for (int i = 0; i < 110; i++) {
				ups[i] = (Callraft__TicketUpdate)CALLRAFT__TICKET_UPDATE__INIT;
				ups[i].code = f->codes[t];
				ups[i].note = note;
				cmds[i] = (Callraft__Command)CALLRAFT__COMMAND__INIT;
				cmds[i].client_id = 1;
				cmds[i].seq = ++f->seq;
				cmds[i].op_case = CALLRAFT__COMMAND__OP_TICKET_UPDATE;
				cmds[i].ticket_update = &ups[i];
				ptrs[i] = &cmds[i];
			}
			apply(f, ptrs, 110, &out);
		}
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	state_close(f->s);
	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static Callraft__Reply *list(struct fx *f, uint32_t limit, const ProtobufCBinaryData *cursor,
			     size_t *len_out)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__TicketList tl = CALLRAFT__TICKET_LIST__INIT;
	size_t len;

	tl.customer_id = "c-1";
	tl.limit = limit;
	if (cursor != NULL)
		tl.cursor = *cursor;
	q.op_case = CALLRAFT__REQUEST__OP_TICKET_LIST;
	q.ticket_list = &tl;
	uint8_t *b = state_read(f->s, &q, &len);
	assert_non_null(b);
	Callraft__Reply *r = callraft__reply__unpack(NULL, len, b);
	assert_non_null(r);
	free(b);
	if (len_out != NULL)
		*len_out = len;
	return r;
}

/* Every page fits a frame; following next_cursor yields every ticket once, oldest first. */
static void pages_fit_a_frame_and_cover_the_list(void **state)
{
	struct fx *f = *state;
	ProtobufCBinaryData cursor = {0, NULL};
	uint8_t cursor_buf[128];
	int seen = 0, pages = 0;

	for (;;) {
		size_t len;
		Callraft__Reply *r = list(f, CALLRAFT_LIST_LIMIT_MAX, pages ? &cursor : NULL, &len);
		assert_int_equal(r->code, CALLRAFT__CODE__OK);
		assert_true(len + 4 <= CALLRAFT_FRAME_BYTES_MAX);
		assert_true(r->n_tickets >= 1);
		assert_int_equal(r->total, TICKETS - seen); /* counted from the cursor on */
		for (size_t i = 0; i < r->n_tickets; i++) {
			assert_int_equal(r->tickets[i]->n_notes, NOTES + 1); /* and the opening */
			assert_string_equal(r->tickets[i]->code, f->codes[seen++]);
		}
		pages++;
		if (r->next_cursor.len == 0) {
			callraft__reply__free_unpacked(r, NULL);
			break;
		}
		assert_true(r->next_cursor.len <= sizeof cursor_buf);
		memcpy(cursor_buf, r->next_cursor.data, r->next_cursor.len);
		cursor = (ProtobufCBinaryData){r->next_cursor.len, cursor_buf};
		callraft__reply__free_unpacked(r, NULL);
		assert_true(pages < TICKETS);
	}
	assert_int_equal(seen, TICKETS);
	assert_true(pages >= 2); /* 4.5 MB do not fit one page */
}

/* The row limit pages too; a cursor of another customer's list is refused. */
static void row_limit_pages_and_cursors_are_checked(void **state)
{
	struct fx *f = *state;
	Callraft__Reply *r = list(f, 3, NULL, NULL);
	assert_int_equal(r->n_tickets, 3);
	assert_int_equal(r->total, TICKETS);
	assert_true(r->next_cursor.len > 0);
	Callraft__Reply *r2 = list(f, 3, &r->next_cursor, NULL);
	assert_int_equal(r2->code, CALLRAFT__CODE__OK);
	assert_string_equal(r2->tickets[0]->code, f->codes[3]);
	callraft__reply__free_unpacked(r2, NULL);
	callraft__reply__free_unpacked(r, NULL);

	ProtobufCBinaryData bad = {6, (uint8_t *)"c-2\0xx"};
	r = list(f, 3, &bad, NULL);
	assert_int_equal(r->code, CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_non_null(strstr(r->message, "cursor"));
	callraft__reply__free_unpacked(r, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pages_fit_a_frame_and_cover_the_list),
		cmocka_unit_test(row_limit_pages_and_cursors_are_checked),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
