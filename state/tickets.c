/* tickets.c: tickets and their history.
 *
 * States and transitions (op_ticket_open creates; op_ticket_update performs every other change):
 *
 *   (none) --open--> OPEN <--> IN_PROGRESS <--> RESOLVED --> CLOSED (final)
 *                     \_____________\_______________\__________^
 *
 * Any status may follow any other except that CLOSED is final: an update of a CLOSED ticket is
 * BAD_STATE (reopening means opening a new ticket, which keeps the closed history intact).
 *
 * Business rules:
 *   - The ticket number n = ++meta.ticket_seq comes from the log, so every replica issues the same
 *     code; the code is state_ticket_code(n) (see ticket_code.c).
 *   - Every change appends a TicketNote (time, resulting status, text, author): notes[] is the
 *     ticket's complete history, oldest first, at most CALLRAFT_TICKET_NOTES_MAX entries.
 *   - A ticket opened from a call records the call id, and the call records the ticket's code.
 *   - Classes: "urgent" (answer at once), "follow-up" (reviewed case by case, the default) and
 *     any class a supervisor configured (ticket_classes.c); opening with another name is
 *     INVALID_ARGUMENT. target_ms = created_ms + the class's target time when it opens.
 *     Categories (complaint-passenger, complaint-commercial, request, ...) are free names.
 *   - Opening emits TICKET_OPENED with the code, class, site, target and a summary line (the
 *     SMS gateway's message); every later change TICKET_UPDATED.
 *   - Every ticket is a line of its customer's contact history (cust_history).
 *   - Stats (stats_interval.c): opening counts one ticket opened for its class, reaching CLOSED
 *     one closed, "in target" when closed at or before target_ms; the day is the local day of the
 *     site of the call it was opened from (site, "" for UTC).
 *
 * Invariants:
 *   1. tickets[code].notes is never empty, and its last note's status is the ticket's status.
 *   2. cust_tix holds customer_id '\0' be64(n) -> code for every ticket, and nothing else.
 *   3. created_ms <= updated_ms <= meta.time.
 *   4. ticket_due holds the four due keys (ticket_classes.c) of exactly the OPEN and IN_PROGRESS
 *      tickets: kept by every change of a ticket, and built at open for the tickets of a store
 *      written before the index existed (ticket_due_rebuild); state_check checks it. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_internal.h"

static int put_ticket(struct apply_ctx *c, const Callraft__Ticket *t)
{
	Callraft__Event ev = CALLRAFT__EVENT__INIT;
	char summary[CALLRAFT_SUMMARY_BYTES_MAX + 1];

	assert(t->n_notes >= 1 && t->notes[t->n_notes - 1]->status == t->status);
	/* Opening writes the first note; every update appends one. */
	ev.kind = t->n_notes == 1 ? CALLRAFT__EVENT_KIND__TICKET_OPENED
				  : CALLRAFT__EVENT_KIND__TICKET_UPDATED;
	ev.ticket_code = t->code;
	ev.customer_id = t->customer_id;
	ev.call_id = t->call_id;
	ev.ticket_status = t->status;
	ev.ticket_class = t->ticket_class;
	ev.site = t->site;
	ev.target_ms = t->target_ms;
	if (t->n_notes == 1) { /* TICKET_OPENED: what an SMS gateway sends at once */
		snprintf(summary, sizeof summary, "%s %s %s: %s", t->code, t->ticket_class,
			 t->category, t->subject);
		ev.summary = summary;
	}
	if (event_emit(c, &ev) != 0)
		return -1;
	return store_put(c->s, c->txn, DB_TICKETS, t->code, strlen(t->code), &t->base, "ticket",
			 t->code, c->errmsg, c->errmsg_len);
}

/* Makes the context's ticket copy carry its old notes plus c->note. */
static int append_note(struct apply_ctx *c, const Callraft__Ticket *old)
{
	size_t n = old != NULL ? old->n_notes : 0;

	c->notes = malloc((n + 1) * sizeof *c->notes);
	if (c->notes == NULL) {
		snprintf(c->errmsg, c->errmsg_len, "state: ticket '%s': out of memory", c->ticket.code);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		c->notes[i] = old->notes[i];
	c->notes[n] = &c->note;
	c->ticket.notes = c->notes;
	c->ticket.n_notes = n + 1;
	return 0;
}

/* Links the ticket to the call it was opened from (the call is loaded into the context). */
static int link_call(struct apply_ctx *c, const char *call_id)
{
	int rc = ctx_load_call(c, call_id);

	if (rc != 0)
		return rc;
	c->call.ticket_code = c->code_buf;
	return ctx_put_call(c, &c->call);
}

int op_ticket_open(struct apply_ctx *c, const Callraft__TicketOpen *op)
{
	Callraft__Ticket *t = &c->ticket;
	uint8_t key[CUST_KEY_BYTES_MAX];
	Callraft__TicketClassConfig tc;
	uint64_t n;
	int rc;

	rc = ticket_class_get(c->s, c->txn, op->ticket_class[0] != '\0' ? op->ticket_class : "follow-up",
			      &tc, c->errmsg, c->errmsg_len);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		ctx_fail(c, CALLRAFT__CODE__INVALID_ARGUMENT,
			 "ticket_open: ticket_class: '%s' is not urgent, follow-up or a configured "
			 "class", op->ticket_class);
		return 0;
	}
	if (store_meta_get(c->s, c->txn, META_TICKET_SEQ, &n, c->errmsg, c->errmsg_len) != 0 ||
	    store_meta_put(c->s, c->txn, META_TICKET_SEQ, ++n, c->errmsg, c->errmsg_len) != 0)
		return -1;
	state_ticket_code(n, c->code_buf);
	if (op->call_id[0] != '\0' && (rc = link_call(c, op->call_id)) != 0)
		return rc < 0 ? -1 : 0;
	*t = (Callraft__Ticket)CALLRAFT__TICKET__INIT;
	t->code = c->code_buf;
	t->customer_id = op->customer_id;
	t->call_id = op->call_id;
	t->category = op->category;
	t->subject = op->subject;
	t->status = CALLRAFT__TICKET_STATUS__OPEN;
	t->created_ms = c->now_ms;
	t->updated_ms = c->now_ms;
	t->ticket_class = tc.ticket_class;
	t->site = c->has_call ? c->call.arrival_site : "";
	t->target_ms = c->now_ms + tc.target_ms;
	t->due_soon_ms = tc.due_soon_ms;
	c->has_ticket = true;
	c->note = (Callraft__TicketNote)CALLRAFT__TICKET_NOTE__INIT;
	c->note.at_ms = c->now_ms;
	c->note.status = CALLRAFT__TICKET_STATUS__OPEN;
	c->note.text = op->note[0] != '\0' ? op->note : "opened";
	c->note.author = op->author;
	if (append_note(c, NULL) != 0 || put_ticket(c, t) != 0 || ticket_due_update(c, t, false) != 0 ||
	    stats_iv_ticket(c, t, STATS_TICKET_OPENED) != 0 ||
	    history_add(c, op->customer_id, "ticket", t->code) != 0)
		return -1;
	return store_put_raw(c->s, c->txn, DB_CUST_TIX, key, cust_key(key, op->customer_id, n),
			     t->code, strlen(t->code), "customer ticket", t->code, c->errmsg,
			     c->errmsg_len);
}

int op_ticket_update(struct apply_ctx *c, const Callraft__TicketUpdate *op)
{
	Callraft__Ticket *old, *t = &c->ticket;
	char code[24];
	int rc;

	/* validate accepted op->code because it normalises to a valid code (ticket_code.c) */
	if (!state_ticket_code_normalize(op->code, code))
		snprintf(code, sizeof code, "%s", op->code);
	rc = store_get(c->s, c->txn, DB_TICKETS, code, strlen(code),
			   &callraft__ticket__descriptor, (ProtobufCMessage **)&old, "ticket", code,
			   c->errmsg, c->errmsg_len);

	if (rc == 1)
		ctx_fail(c, CALLRAFT__CODE__NOT_FOUND, "ticket '%s': not found", code);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	c->ticket_src = old;
	*t = *old;
	c->has_ticket = true;
	if (old->status == CALLRAFT__TICKET_STATUS__CLOSED) {
		ctx_fail(c, CALLRAFT__CODE__BAD_STATE, "ticket '%s' is CLOSED", code);
		return 0;
	}
	if (old->n_notes >= CALLRAFT_TICKET_NOTES_MAX) {
		ctx_fail(c, CALLRAFT__CODE__INVALID_ARGUMENT, "ticket '%s': notes: too many (%d max)",
			 code, CALLRAFT_TICKET_NOTES_MAX);
		return 0;
	}
	c->note = (Callraft__TicketNote)CALLRAFT__TICKET_NOTE__INIT;
	c->note.at_ms = c->now_ms;
	c->note.status = op->status != CALLRAFT__TICKET_STATUS__TICKET_STATUS_NONE ? op->status
										 : old->status;
	c->note.text = op->note;
	c->note.author = op->author;
	t->status = c->note.status;
	t->updated_ms = c->now_ms;
	if (append_note(c, old) != 0)
		return -1;
	if (t->status == CALLRAFT__TICKET_STATUS__CLOSED &&
	    stats_iv_ticket(c, t, STATS_TICKET_CLOSED) != 0)
		return -1;
	if (ticket_due_update(c, t, old->status == CALLRAFT__TICKET_STATUS__OPEN ||
					old->status == CALLRAFT__TICKET_STATUS__IN_PROGRESS) != 0)
		return -1;
	return put_ticket(c, t);
}
