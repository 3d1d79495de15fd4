/* cli_ticket.c: `callraft ticket ...`: tickets opened for customers (often from a call), their
 * status changes and notes. The tracking code is what the agent reads out to the customer, so
 * `ticket open` prints it on a line of its own. */
#include "cli.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callraft_limits.h"

json_object *cli_json_ticket(const Callraft__Ticket *ticket)
{
	json_object *o = json_object_new_object();
	cli_json_fields(o, &ticket->base, "code", "customer_id", "call_id", "category", "subject",
			"status", "created_ms", "updated_ms", NULL);
	cli_json_str(o, "class", ticket->ticket_class);
	cli_json_fields(o, &ticket->base, "target_ms", NULL);
	json_object *notes = json_object_new_array();
	for (size_t i = 0; i < ticket->n_notes; i++) {
		const Callraft__TicketNote *n = ticket->notes[i];
		json_object *note = json_object_new_object();
		cli_json_fields(note, &n->base, "at_ms", "status", "text", "author", NULL);
		json_object_array_add(notes, note);
	}
	json_object_object_add(o, "notes", notes);
	return o;
}

static void cli_print_ticket_json(const Callraft__Reply *reply)
{
	json_object *top = json_object_new_object();
	if (reply->ticket != NULL)
		json_object_object_add(top, "ticket", cli_json_ticket(reply->ticket));
	cli_json_u64(top, "applied_index", reply->applied_index);
	cli_print_json(top);
}

int cli_ticket_open_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	const char *customer = cli_opt(a, "customer"), *category = cli_opt(a, "category");
	const char *call = cli_opt(a, "call"), *subject = cli_opt(a, "subject");
	const char *note = cli_opt(a, "note"), *author = cli_opt(a, "author");
	const char *ticket_class = cli_opt(a, "class");
	int rv;

	/* urgent, follow-up or a configured class (`ticket classes`): the cluster checks */
	if (ticket_class != NULL &&
	    (rv = cli_check_name(cli, "--class", ticket_class, CALLRAFT_CATEGORY_BYTES_MAX)))
		return rv;
	if (customer == NULL || category == NULL || !customer[0] || !category[0])
		return cli_usage_error(cli, "--customer and --category are required");
	if ((rv = cli_check_id(cli, "--customer", customer)) ||
	    (rv = cli_check_name(cli, "--category", category, CALLRAFT_CATEGORY_BYTES_MAX)) ||
	    (call && call[0] && (rv = cli_check_id(cli, "--call", call))) ||
	    (subject && (rv = cli_check_text(cli, "--subject", subject, CALLRAFT_SUBJECT_BYTES_MAX))) ||
	    (note && (rv = cli_check_text(cli, "--note", note, CALLRAFT_NOTE_BYTES_MAX))) ||
	    (author && author[0] && (rv = cli_check_id(cli, "--author", author))))
		return rv;
	callraft_request_ticket_open(r, customer, category, call, subject, note, author,
				     ticket_class);
	return CLI_EXIT_OK;
}

int cli_ticket_open_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			   const Callraft__Reply *reply)
{
	if (cli->json)
		cli_print_ticket_json(reply);
	else
		printf("ticket opened for customer '%s'\n\n    tracking code:  %s\n\n",
		       req->ticket_open->customer_id,
		       reply->ticket != NULL ? reply->ticket->code : "(not returned)");
	return CLI_EXIT_OK;
}

static const int ticket_statuses[] = {CALLRAFT__TICKET_STATUS__OPEN,
				      CALLRAFT__TICKET_STATUS__IN_PROGRESS,
				      CALLRAFT__TICKET_STATUS__RESOLVED, CALLRAFT__TICKET_STATUS__CLOSED};

int cli_ticket_update_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	const char *status = cli_opt(a, "status"), *note = cli_opt(a, "note");
	const char *author = cli_opt(a, "author");
	int st = CALLRAFT__TICKET_STATUS__TICKET_STATUS_NONE;
	int rv;

	if (status != NULL &&
	    (rv = cli_parse_enum(cli, "--status", status, &callraft__ticket_status__descriptor,
				 ticket_statuses,
				 sizeof ticket_statuses / sizeof ticket_statuses[0], &st)) != CLI_EXIT_OK)
		return rv;
	if (st == CALLRAFT__TICKET_STATUS__TICKET_STATUS_NONE && (note == NULL || note[0] == '\0'))
		return cli_usage_error(cli, "nothing to update: pass --status or --note");
	if ((rv = cli_check_id(cli, "ticket code", a->pos[0])) ||
	    (note && (rv = cli_check_text(cli, "--note", note, CALLRAFT_NOTE_BYTES_MAX))) ||
	    (author && author[0] && (rv = cli_check_id(cli, "--author", author))))
		return rv;
	Callraft__TicketUpdate *update = callraft_request_init(r, CALLRAFT__REQUEST__OP_TICKET_UPDATE);
	update->code = a->pos[0];
	update->status = (Callraft__TicketStatus)st;
	update->note = (char *)(note != NULL ? note : "");
	update->author = (char *)(author != NULL ? author : "");
	return CLI_EXIT_OK;
}

int cli_ticket_update_output(struct cli *cli, const struct cli_args *a,
			     const Callraft__Request *req, const Callraft__Reply *reply)
{
	const Callraft__TicketUpdate *update = req->ticket_update;
	if (cli->json)
		cli_print_ticket_json(reply);
	else
		printf("ticket '%s' updated: status %s\n",
		       reply->ticket != NULL ? reply->ticket->code : update->code,
		       reply->ticket != NULL ? cli_ticket_status_name(reply->ticket->status)
					     : cli_ticket_status_name(update->status));
	return CLI_EXIT_OK;
}

static void cli_print_ticket_text(const Callraft__Ticket *t)
{
	char created[32], updated[32], target[32], within[32];
	cli_format_time(t->created_ms, created, sizeof created);
	cli_format_time(t->updated_ms, updated, sizeof updated);
	cli_format_time(t->target_ms, target, sizeof target);
	cli_format_duration(t->target_ms - t->created_ms, within, sizeof within);
	printf("ticket:    %s\nstatus:    %s\ncustomer:  %s\ncategory:  %s\nsubject:   %s\n"
	       "call:      %s\nclass:     %s\ncreated:   %s\ntarget:    %s (%s after opening)\n"
	       "updated:   %s\n",
	       t->code, cli_ticket_status_name(t->status), t->customer_id, t->category,
	       t->subject[0] ? t->subject : "-", t->call_id[0] ? t->call_id : "-",
	       t->ticket_class[0] ? t->ticket_class : "-", created, target, within, updated);
	if (t->n_notes == 0)
		return;
	printf("\nhistory:\n");
	static const char *const headers[] = {"AT", "STATUS", "AUTHOR", "NOTE"};
	struct cli_table table;
	cli_table_init(&table, 4, headers);
	for (size_t i = 0; i < t->n_notes; i++)
		cli_table_add_fields(&table, &t->notes[i]->base, "at_ms", "status", "author", "text",
				     NULL);
	cli_table_print(&table, stdout);
	cli_table_release(&table);
}

int cli_ticket_show_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			   const Callraft__Reply *reply)
{
	if (cli->json)
		cli_print_ticket_json(reply);
	else if (reply->ticket != NULL)
		cli_print_ticket_text(reply->ticket);
	return CLI_EXIT_OK;
}

/* A list cursor (Reply.next_cursor, TicketList.cursor) is an opaque key of the list, shown and
 * typed as hex. */


void cli_cursor_hex(const ProtobufCBinaryData *c, char *out, size_t len)
{
	size_t i;

	for (i = 0; i < c->len && 2 * i + 2 < len; i++)
		snprintf(out + 2 * i, 3, "%02x", c->data[i]);
	out[2 * i] = '\0';
}

/* Parses HEX into buf; returns the length, or -1. */
int cli_cursor_parse(const char *hex, uint8_t *buf, size_t cap)
{
	size_t n = strlen(hex);

	if (n == 0 || n % 2 != 0 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++)
		if (sscanf(hex + 2 * i, "%2hhx", &buf[i]) != 1 || !isxdigit((unsigned char)hex[2 * i]) ||
		    !isxdigit((unsigned char)hex[2 * i + 1]))
			return -1;
	return (int)(n / 2);
}

int cli_cursor_option(struct cli *cli, const struct cli_args *a, ProtobufCBinaryData *out)
{
	static uint8_t buf[CLI_CURSOR_BYTES_MAX]; /* one command per process: lives until it is sent */
	const char *cursor = cli_opt(a, "cursor");
	int len;

	if (cursor == NULL)
		return CLI_EXIT_OK;
	len = cli_cursor_parse(cursor, buf, sizeof buf);
	if (len < 0)
		return cli_usage_error(cli, "--cursor: not a cursor (hex, as 'next page' shows)");
	*out = (ProtobufCBinaryData){(size_t)len, buf};
	return CLI_EXIT_OK;
}

static void cli_ticket_list_text(const char *customer, const Callraft__Reply *reply)
{
	if (reply->n_tickets == 0) {
		printf("no tickets for customer '%s'\n", customer);
		return;
	}
	static const char *const headers[] = {"CODE", "STATUS", "CATEGORY", "CREATED", "SUBJECT"};
	struct cli_table t;
	cli_table_init(&t, 5, headers);
	for (size_t i = 0; i < reply->n_tickets; i++)
		cli_table_add_fields(&t, &reply->tickets[i]->base, "code", "status", "category",
				     "created_ms", "subject", NULL);
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	printf("\n%llu ticket%s for customer '%s'", (unsigned long long)reply->total,
	       reply->total == 1 ? "" : "s", customer);
	if (reply->total > reply->n_tickets)
		printf(" (%zu shown)", reply->n_tickets);
	printf("\n");
	if (reply->next_cursor.len > 0) {
		char hex[2 * CLI_CURSOR_BYTES_MAX + 1];
		cli_cursor_hex(&reply->next_cursor, hex, sizeof hex);
		printf("next page: callraft ticket list --customer %s --cursor %s\n", customer, hex);
	}
}

int cli_ticket_list_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	const char *customer = cli_opt(a, "customer"), *limit_arg = cli_opt(a, "limit");
	uint32_t limit = CALLRAFT_LIST_LIMIT_DEFAULT;
	int rv;

	if (limit_arg != NULL && (rv = cli_parse_limit(cli, limit_arg, &limit)) != CLI_EXIT_OK)
		return rv;
	if (customer == NULL || customer[0] == '\0')
		return cli_usage_error(cli, "--customer is required");
	if ((rv = cli_check_id(cli, "--customer", customer)) != CLI_EXIT_OK)
		return rv;
	Callraft__Request *req = callraft_request_ticket_list(r, customer, limit);
	return cli_cursor_option(cli, a, &req->ticket_list->cursor);
}

int cli_ticket_list_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			   const Callraft__Reply *reply)
{
	const char *customer = req->ticket_list->customer_id;
	if (cli->json) {
		json_object *top = json_object_new_object();
		cli_json_str(top, "customer_id", customer);
		cli_json_u64(top, "total", reply->total);
		cli_json_list(top, &reply->base, "tickets");
		if (reply->next_cursor.len > 0) {
			char hex[2 * CLI_CURSOR_BYTES_MAX + 1];
			cli_cursor_hex(&reply->next_cursor, hex, sizeof hex);
			cli_json_str(top, "next_cursor", hex);
		}
		cli_print_json(top);
	} else {
		cli_ticket_list_text(customer, reply);
	}
	return CLI_EXIT_OK;
}
