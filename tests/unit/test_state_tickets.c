/* test_state_tickets.c: unit tests of issue 16 item 6 on the state model: ticket classes with
 * configurable targets (state/ticket_classes.c: defaults, TicketClassConfigure, new classes,
 * refusals that change nothing, ticket_class_show) and the TICKET_OPENED event (code, class,
 * site, target, summary; once per ticket). Entries are built as the leader builds them (the
 * fixture of state_fixture.h: leader-stamped time, state_check after every command). */
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
#include "state_internal.h"

#define STATE_FIXTURE_NAME "test_state_tickets"
#include "state_fixture.h"

#define MIN_MS (60ll * 1000)

/* TicketClassConfigure; a negative value leaves the field absent. */
static Callraft__Reply *class_configure(struct fx *f, const char *cls, int64_t target,
					int64_t due_soon)
{
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;
	Callraft__TicketClassConfigure op = CALLRAFT__TICKET_CLASS_CONFIGURE__INIT;
	Callraft__Int64Value t = CALLRAFT__INT64_VALUE__INIT, d = CALLRAFT__INT64_VALUE__INIT;

	op.ticket_class = (char *)cls;
	if (target >= 0) {
		t.value = target;
		op.target_ms = &t;
	}
	if (due_soon >= 0) {
		d.value = due_soon;
		op.due_soon_ms = &d;
	}
	cmd.op_case = CALLRAFT__COMMAND__OP_TICKET_CLASS_CONFIGURE;
	cmd.ticket_class_configure = &op;
	return run(f, &cmd);
}

static void class_configure_expect(struct fx *f, const char *cls, int64_t target, int64_t due_soon,
				   Callraft__Code want, const char *msg_part)
{
	Callraft__Reply *r = class_configure(f, cls, target, due_soon);

	if (r->code != want)
		fail_msg("configure %s: code %d, want %d: %s", cls, r->code, want, r->message);
	if (msg_part != NULL && strstr(r->message, msg_part) == NULL)
		fail_msg("configure %s: message '%s' lacks '%s'", cls, r->message, msg_part);
	callraft__reply__free_unpacked(r, NULL);
}

static Callraft__Reply *class_show(struct fx *f, const char *cls)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__TicketClassShow op = CALLRAFT__TICKET_CLASS_SHOW__INIT;

	op.ticket_class = (char *)cls;
	q.op_case = CALLRAFT__REQUEST__OP_TICKET_CLASS_SHOW;
	q.ticket_class_show = &op;
	return read_req(f, &q);
}

/* The effective (target, due soon, configured) of one class. */
static void expect_class(struct fx *f, const char *cls, int64_t target, int64_t due_soon,
			 bool configured)
{
	Callraft__Reply *r = class_show(f, cls);

	if (r->code != CALLRAFT__CODE__OK)
		fail_msg("class show %s: %d %s", cls, r->code, r->message);
	assert_int_equal(r->n_ticket_classes, 1);
	assert_string_equal(r->ticket_classes[0]->ticket_class, cls);
	assert_int_equal(r->ticket_classes[0]->target_ms, target);
	assert_int_equal(r->ticket_classes[0]->due_soon_ms, due_soon);
	assert_int_equal(r->ticket_classes[0]->configured, configured);
	callraft__reply__free_unpacked(r, NULL);
}

/* Opens a ticket; returns the reply (caller frees). */
static Callraft__Reply *topen(struct fx *f, const char *call, const char *cls, const char *subject)
{
	struct cb b;

	SET_OP(&b, TICKET_OPEN, ticket_open, topen, CALLRAFT__TICKET_OPEN__INIT);
	b.op.topen.customer_id = "cust-1";
	b.op.topen.call_id = (char *)call;
	b.op.topen.category = "complaint-passenger";
	b.op.topen.subject = (char *)subject;
	b.op.topen.ticket_class = (char *)cls;
	return run(f, &b.cmd);
}

static Callraft__Ticket *ticket_get(struct fx *f, const char *code, Callraft__Reply **keep)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__TicketShow op = CALLRAFT__TICKET_SHOW__INIT;

	op.code = (char *)code;
	q.op_case = CALLRAFT__REQUEST__OP_TICKET_SHOW;
	q.ticket_show = &op;
	*keep = read_req(f, &q);
	assert_int_equal((*keep)->code, CALLRAFT__CODE__OK);
	return (*keep)->ticket;
}

static void test_class_defaults_until_configured(void **state)
{
	struct fx *f = *state;
	Callraft__Reply *r, *keep;

	expect_class(f, "urgent", 30 * MIN_MS, 10 * MIN_MS, false);
	expect_class(f, "follow-up", 72 * 60 * MIN_MS, 12 * 60 * MIN_MS, false);
	r = topen(f, "", "urgent", "lost bag");
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_int_equal(r->ticket->target_ms, T0 + 30 * MIN_MS);
	char *first = strdup(r->ticket->code);
	callraft__reply__free_unpacked(r, NULL);

	f->time_ms += MIN_MS;
	class_configure_expect(f, "urgent", 15 * MIN_MS, 5 * MIN_MS, CALLRAFT__CODE__OK, NULL);
	expect_class(f, "urgent", 15 * MIN_MS, 5 * MIN_MS, true);
	/* due soon alone: the target stays */
	class_configure_expect(f, "urgent", -1, 3 * MIN_MS, CALLRAFT__CODE__OK, NULL);
	expect_class(f, "urgent", 15 * MIN_MS, 3 * MIN_MS, true);
	expect_class(f, "follow-up", 72 * 60 * MIN_MS, 12 * 60 * MIN_MS, false);

	r = topen(f, "", "urgent", "lost bag again");
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_int_equal(r->ticket->target_ms, T0 + MIN_MS + 15 * MIN_MS);
	callraft__reply__free_unpacked(r, NULL);
	/* the ticket opened before keeps the target it opened with */
	assert_int_equal(ticket_get(f, first, &keep)->target_ms, T0 + 30 * MIN_MS);
	callraft__reply__free_unpacked(keep, NULL);
	/* no class: follow-up, with its default */
	r = topen(f, "", "", "question");
	assert_string_equal(r->ticket->ticket_class, "follow-up");
	assert_int_equal(r->ticket->target_ms, T0 + MIN_MS + 72 * 60 * MIN_MS);
	callraft__reply__free_unpacked(r, NULL);

	/* the list: urgent configured (from the table), follow-up's defaults */
	r = class_show(f, "");
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_int_equal(r->n_ticket_classes, 2);
	assert_string_equal(r->ticket_classes[0]->ticket_class, "follow-up");
	assert_false(r->ticket_classes[0]->configured);
	assert_string_equal(r->ticket_classes[1]->ticket_class, "urgent");
	assert_int_equal(r->ticket_classes[1]->target_ms, 15 * MIN_MS);
	callraft__reply__free_unpacked(r, NULL);
	free(first);
}

static void test_new_class_and_refusals_change_nothing(void **state)
{
	struct fx *f = *state;
	Callraft__Reply *r;

	/* a class never configured: refused, and no ticket number is spent */
	r = topen(f, "", "vip-complaint", "x");
	assert_int_equal(r->code, CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_non_null(strstr(r->message, "vip-complaint"));
	callraft__reply__free_unpacked(r, NULL);
	r = class_show(f, "vip-complaint");
	assert_int_equal(r->code, CALLRAFT__CODE__NOT_FOUND);
	callraft__reply__free_unpacked(r, NULL);

	class_configure_expect(f, "vip-complaint", 0, -1, CALLRAFT__CODE__INVALID_ARGUMENT,
			       "target_ms");
	class_configure_expect(f, "vip-complaint", 91 * 24 * 60 * MIN_MS, -1,
			       CALLRAFT__CODE__INVALID_ARGUMENT, "target_ms");
	class_configure_expect(f, "vip-complaint", -1, -1, CALLRAFT__CODE__INVALID_ARGUMENT,
			       "nothing to set");
	class_configure_expect(f, "bad class", 60 * MIN_MS, -1, CALLRAFT__CODE__INVALID_ARGUMENT,
			       "ticket_class");
	/* due soon above the target, also when the target is the stored one */
	class_configure_expect(f, "vip-complaint", 10 * MIN_MS, 20 * MIN_MS,
			       CALLRAFT__CODE__INVALID_ARGUMENT, "due_soon_ms");
	class_configure_expect(f, "urgent", -1, 31 * MIN_MS, CALLRAFT__CODE__INVALID_ARGUMENT,
			       "due_soon_ms");
	expect_class(f, "urgent", 30 * MIN_MS, 10 * MIN_MS, false);
	r = class_show(f, "vip-complaint");
	assert_int_equal(r->code, CALLRAFT__CODE__NOT_FOUND);
	callraft__reply__free_unpacked(r, NULL);

	/* configured: a class tickets open with, with its own target and stats */
	class_configure_expect(f, "vip-complaint", 120 * MIN_MS, -1, CALLRAFT__CODE__OK, NULL);
	expect_class(f, "vip-complaint", 120 * MIN_MS, 30 * MIN_MS, true);
	class_configure_expect(f, "follow-up", 60 * MIN_MS, -1, CALLRAFT__CODE__OK, NULL);
	expect_class(f, "follow-up", 60 * MIN_MS, 15 * MIN_MS, true);
	r = topen(f, "", "vip-complaint", "seat");
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_string_equal(r->ticket->ticket_class, "vip-complaint");
	assert_int_equal(r->ticket->target_ms, T0 + 120 * MIN_MS);
	/* the first ticket number: the refused open spent none */
	char want[24];
	state_ticket_code(1, want);
	assert_string_equal(r->ticket->code, want);
	callraft__reply__free_unpacked(r, NULL);

	/* per-class stats: a configured class reads, an unknown one is refused */
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__StatsGet sg = CALLRAFT__STATS_GET__INIT;
	sg.interval = "today";
	sg.ticket_class = "vip-complaint";
	q.op_case = CALLRAFT__REQUEST__OP_STATS_GET;
	q.stats_get = &sg;
	r = read_req(f, &q);
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	assert_int_equal(r->n_stats, 1);
	assert_int_equal(r->stats[0]->tickets_opened, 1);
	callraft__reply__free_unpacked(r, NULL);
	sg.ticket_class = "nope";
	r = read_req(f, &q);
	assert_int_equal(r->code, CALLRAFT__CODE__INVALID_ARGUMENT);
	assert_non_null(strstr(r->message, "nope"));
	callraft__reply__free_unpacked(r, NULL);
}

/* TICKET_OPENED carries what the SMS gateway sends, once per ticket; updates are TICKET_UPDATED. */
static void test_ticket_opened_event_once_with_code(void **state)
{
	struct fx *f = *state;
	struct cb b;
	Callraft__Reply *r;

	OK(f, c_enqueue(&b, "c1", "tehran", 0, "+98211", "cust-1"));
	uint64_t from = f->index + 1;
	r = topen(f, "c1", "urgent", "bag lost on IR-452");
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	char *code = strdup(r->ticket->code);
	callraft__reply__free_unpacked(r, NULL);
	f->time_ms += MIN_MS;
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;
	Callraft__TicketUpdate u = CALLRAFT__TICKET_UPDATE__INIT;
	u.code = code;
	u.status = CALLRAFT__TICKET_STATUS__IN_PROGRESS;
	u.note = "calling the airport";
	cmd.op_case = CALLRAFT__COMMAND__OP_TICKET_UPDATE;
	cmd.ticket_update = &u;
	OK(f, &cmd);

	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__EventsRead er = CALLRAFT__EVENTS_READ__INIT;
	er.from_index = from;
	q.op_case = CALLRAFT__REQUEST__OP_EVENTS_READ;
	q.events_read = &er;
	r = read_req(f, &q);
	assert_int_equal(r->code, CALLRAFT__CODE__OK);
	int opened = 0, updated = 0;
	char summary[256];
	snprintf(summary, sizeof summary, "%s urgent complaint-passenger: bag lost on IR-452", code);
	for (size_t i = 0; i < r->n_events; i++) {
		const Callraft__Event *e = r->events[i];
		if (e->kind == CALLRAFT__EVENT_KIND__TICKET_OPENED) {
			opened++;
			assert_string_equal(e->ticket_code, code);
			assert_string_equal(e->ticket_class, "urgent");
			assert_string_equal(e->site, "tehran");
			assert_string_equal(e->customer_id, "cust-1");
			assert_int_equal(e->target_ms, T0 + 30 * MIN_MS);
			assert_string_equal(e->summary, summary);
		} else if (e->kind == CALLRAFT__EVENT_KIND__TICKET_UPDATED) {
			updated++;
			assert_string_equal(e->ticket_code, code);
			assert_string_equal(e->summary, "");
		}
	}
	assert_int_equal(opened, 1);
	assert_int_equal(updated, 1);
	callraft__reply__free_unpacked(r, NULL);
	free(code);
}

/* The codes of a due list page, space-separated; *next set to whether a next_cursor came. */
static void due_list(struct fx *f, bool due_soon, const char *cls, const char *site, uint32_t limit,
		     ProtobufCBinaryData *cursor, char *out, size_t len)
{
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__TicketDueList op = CALLRAFT__TICKET_DUE_LIST__INIT;

	op.due_soon = due_soon;
	op.ticket_class = (char *)cls;
	op.site = (char *)site;
	op.limit = limit;
	if (cursor != NULL)
		op.cursor = *cursor;
	q.op_case = CALLRAFT__REQUEST__OP_TICKET_DUE_LIST;
	q.ticket_due_list = &op;
	Callraft__Reply *r = read_req(f, &q);
	if (r->code != CALLRAFT__CODE__OK)
		fail_msg("due list: %d %s", r->code, r->message);
	out[0] = '\0';
	for (size_t i = 0; i < r->n_tickets; i++)
		snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? " " : "", r->tickets[i]->subject);
	if (cursor != NULL) {
		free(cursor->data);
		cursor->data = NULL;
		cursor->len = r->next_cursor.len;
		if (r->next_cursor.len > 0) {
			cursor->data = malloc(r->next_cursor.len);
			memcpy(cursor->data, r->next_cursor.data, r->next_cursor.len);
		}
	}
	callraft__reply__free_unpacked(r, NULL);
}

static char *open_named(struct fx *f, const char *call, const char *cls, const char *subject)
{
	Callraft__Reply *r = topen(f, call, cls, subject);
	if (r->code != CALLRAFT__CODE__OK)
		fail_msg("open %s: %s", subject, r->message);
	char *code = strdup(r->ticket->code);
	callraft__reply__free_unpacked(r, NULL);
	return code;
}

static void set_status(struct fx *f, const char *code, Callraft__TicketStatus st)
{
	Callraft__Command cmd = CALLRAFT__COMMAND__INIT;
	Callraft__TicketUpdate u = CALLRAFT__TICKET_UPDATE__INIT;
	u.code = (char *)code;
	u.status = st;
	u.note = "n";
	cmd.op_case = CALLRAFT__COMMAND__OP_TICKET_UPDATE;
	cmd.ticket_update = &u;
	OK(f, &cmd);
}

/* Overdue and due-soon lists per class and site, in due order, paged, kept by status changes. */
static void test_overdue_and_due_soon_lists(void **state)
{
	struct fx *f = *state;
	struct cb b;
	char got[512];

	OK(f, c_enqueue(&b, "ct", "tehran", 0, "+98211", "cust-1"));
	OK(f, c_enqueue(&b, "cs", "shiraz", 0, "+98711", "cust-1"));
	class_configure_expect(f, "vip", 60 * MIN_MS, 40 * MIN_MS, CALLRAFT__CODE__OK, NULL);
	/* T0: u1 urgent tehran (due T0+30m, soon from +20m), v1 vip shiraz (due +60m, soon +20m) */
	char *u1 = open_named(f, "ct", "urgent", "u1");
	char *v1 = open_named(f, "cs", "vip", "v1");
	f->time_ms += 5 * MIN_MS; /* +5m: u2 urgent shiraz (due +35m, soon +25m), f1 follow-up */
	char *u2 = open_named(f, "cs", "urgent", "u2");
	char *f1 = open_named(f, "", "follow-up", "f1");
	due_list(f, false, "", "", 0, NULL, got, sizeof got);
	assert_string_equal(got, "");
	due_list(f, true, "", "", 0, NULL, got, sizeof got);
	assert_string_equal(got, "");

	f->time_ms = T0 + 22 * MIN_MS; /* u1 and v1 due soon; u2 not yet */
	OK(f, c_tick(&b));
	due_list(f, true, "", "", 0, NULL, got, sizeof got);
	assert_string_equal(got, "u1 v1");
	due_list(f, true, "vip", "", 0, NULL, got, sizeof got);
	assert_string_equal(got, "v1");
	due_list(f, true, "", "tehran", 0, NULL, got, sizeof got);
	assert_string_equal(got, "u1");
	due_list(f, true, "urgent", "shiraz", 0, NULL, got, sizeof got);
	assert_string_equal(got, "");

	f->time_ms = T0 + 36 * MIN_MS; /* u1 (30m), u2 (35m) overdue; v1 due soon */
	OK(f, c_tick(&b));
	due_list(f, false, "", "", 0, NULL, got, sizeof got);
	assert_string_equal(got, "u1 u2");
	due_list(f, false, "urgent", "shiraz", 0, NULL, got, sizeof got);
	assert_string_equal(got, "u2");
	due_list(f, true, "", "", 0, NULL, got, sizeof got);
	assert_string_equal(got, "v1");
	/* paging: one a page, the cursor goes on in due order */
	ProtobufCBinaryData cur = {0, NULL};
	due_list(f, false, "", "", 1, &cur, got, sizeof got);
	assert_string_equal(got, "u1");
	assert_true(cur.len > 0);
	due_list(f, false, "", "", 1, &cur, got, sizeof got);
	assert_string_equal(got, "u2");
	assert_int_equal(cur.len, 0);

	/* resolved leaves the lists, reopened comes back, closed leaves for good */
	set_status(f, u1, CALLRAFT__TICKET_STATUS__RESOLVED);
	due_list(f, false, "", "", 0, NULL, got, sizeof got);
	assert_string_equal(got, "u2");
	set_status(f, u1, CALLRAFT__TICKET_STATUS__IN_PROGRESS);
	set_status(f, u2, CALLRAFT__TICKET_STATUS__IN_PROGRESS); /* stays */
	due_list(f, false, "", "", 0, NULL, got, sizeof got);
	assert_string_equal(got, "u1 u2");
	set_status(f, u1, CALLRAFT__TICKET_STATUS__CLOSED);
	due_list(f, false, "urgent", "", 0, NULL, got, sizeof got);
	assert_string_equal(got, "u2");
	due_list(f, false, "", "tehran", 0, NULL, got, sizeof got);
	assert_string_equal(got, "");

	/* a cursor of another list is refused */
	Callraft__Request q = CALLRAFT__REQUEST__INIT;
	Callraft__TicketDueList op = CALLRAFT__TICKET_DUE_LIST__INIT;
	uint8_t bogus[12] = {'c', 'x', 0};
	op.ticket_class = "urgent";
	op.site = "";
	op.cursor = (ProtobufCBinaryData){sizeof bogus, bogus};
	q.op_case = CALLRAFT__REQUEST__OP_TICKET_DUE_LIST;
	q.ticket_due_list = &op;
	Callraft__Reply *r = read_req(f, &q);
	assert_int_equal(r->code, CALLRAFT__CODE__INVALID_ARGUMENT);
	callraft__reply__free_unpacked(r, NULL);
	free(u1), free(u2), free(v1), free(f1);
}

/* Removes the due index and its "built" mark, as in a store written before the index existed. */
static void forget_due_index(struct fx *f)
{
	MDB_txn *txn;
	MDB_val k = {strlen(META_TICKET_DUE), META_TICKET_DUE};

	assert_int_equal(mdb_txn_begin(f->s->env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_drop(txn, f->s->dbi[DB_TICKET_DUE], 0), 0);
	assert_int_equal(mdb_del(txn, f->s->dbi[DB_META], &k, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
}

/* Tickets stored before the due index existed are in the lists after the next open, with the same
 * rows apply would have written (state_check); a row missing from the index is caught. */
static void test_due_index_is_built_at_open_for_older_tickets(void **state)
{
	struct fx *f = *state;
	struct cb b;
	char got[512], msg[256];

	OK(f, c_enqueue(&b, "ct", "tehran", 0, "+98211", "cust-1"));
	char *u1 = open_named(f, "ct", "urgent", "u1");
	char *u2 = open_named(f, "", "urgent", "u2");
	char *f1 = open_named(f, "", "follow-up", "f1");
	set_status(f, u2, CALLRAFT__TICKET_STATUS__RESOLVED);
	uint64_t before = state_digest(f->s);
	forget_due_index(f);
	f->time_ms = T0 + 31 * MIN_MS;
	/* the store as an older version left it: no index, so the check fails and the lists miss u1 */
	assert_int_equal(state_check(f->s, msg, sizeof msg), -1);
	assert_non_null(strstr(msg, "missing from the due index"));
	state_close(f->s);
	f->s = fx_state_at(f, "a", NULL); /* the next open builds it */
	assert_int_equal(state_check(f->s, msg, sizeof msg), 0);
	assert_true(state_digest(f->s) == before); /* exactly the rows apply wrote */
	OK(f, c_tick(&b));
	due_list(f, false, "", "", 0, NULL, got, sizeof got);
	assert_string_equal(got, "u1");
	due_list(f, false, "", "tehran", 0, NULL, got, sizeof got);
	assert_string_equal(got, "u1");
	/* built once: a reopen does not walk the tickets again, and apply keeps it from here */
	set_status(f, u1, CALLRAFT__TICKET_STATUS__CLOSED);
	state_close(f->s);
	f->s = fx_state_at(f, "a", NULL);
	due_list(f, false, "", "", 0, NULL, got, sizeof got);
	assert_string_equal(got, "");
	/* a lost row is a violation */
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	assert_int_equal(mdb_txn_begin(f->s->env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_cursor_open(txn, f->s->dbi[DB_TICKET_DUE], &cur), 0);
	assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0); /* f1's 'a' row */
	assert_int_equal(mdb_cursor_del(cur, 0), 0);
	mdb_cursor_close(cur);
	assert_int_equal(mdb_txn_commit(txn), 0);
	assert_int_equal(state_check(f->s, msg, sizeof msg), -1);
	assert_non_null(strstr(msg, f1));
	/* put it back for the teardown's check: a reopen does not rebuild a store marked built */
	forget_due_index(f);
	state_close(f->s);
	f->s = fx_state_at(f, "a", NULL);
	free(u1), free(u2), free(f1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    FX_TEST(test_class_defaults_until_configured),
	    FX_TEST(test_new_class_and_refusals_change_nothing),
	    FX_TEST(test_ticket_opened_event_once_with_code),
	    FX_TEST(test_overdue_and_due_soon_lists),
	    FX_TEST(test_due_index_is_built_at_open_for_older_tickets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
