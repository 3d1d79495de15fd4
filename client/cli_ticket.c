/* cli_ticket.c: `callraft ticket ...`: tickets opened for customers (often from a call), their
 * status changes and notes. The tracking code is what the agent reads out to the customer, so
 * `ticket open` prints it on a line of its own. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "callraft_limits.h"

json_object *cli_json_ticket(const Callraft__Ticket *ticket)
{
	json_object *o = json_object_new_object();
	cli_json_str(o, "code", ticket->code);
	cli_json_str(o, "customer_id", ticket->customer_id);
	cli_json_str(o, "call_id", ticket->call_id);
	cli_json_str(o, "category", ticket->category);
	cli_json_str(o, "subject", ticket->subject);
	cli_json_str(o, "status", cli_ticket_status_name(ticket->status));
	cli_json_i64(o, "created_ms", ticket->created_ms);
	cli_json_i64(o, "updated_ms", ticket->updated_ms);
	cli_json_str(o, "class", ticket->ticket_class);
	cli_json_i64(o, "target_ms", ticket->target_ms);
	json_object *notes = json_object_new_array();
	for (size_t i = 0; i < ticket->n_notes; i++) {
		const Callraft__TicketNote *n = ticket->notes[i];
		json_object *note = json_object_new_object();
		cli_json_i64(note, "at_ms", n->at_ms);
		cli_json_str(note, "status", cli_ticket_status_name(n->status));
		cli_json_str(note, "text", n->text);
		cli_json_str(note, "author", n->author);
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

int cli_ticket_open(struct cli *cli, int argc, char **argv)
{
	enum { OPT_CUSTOMER = CLI_OPT_FIRST_FREE, OPT_CATEGORY, OPT_CALL, OPT_SUBJECT, OPT_NOTE,
	       OPT_AUTHOR, OPT_CLASS };
	static const struct option options[] = {
	    {"class", required_argument, NULL, OPT_CLASS},
	    {"customer", required_argument, NULL, OPT_CUSTOMER},
	    {"category", required_argument, NULL, OPT_CATEGORY},
	    {"call", required_argument, NULL, OPT_CALL},
	    {"subject", required_argument, NULL, OPT_SUBJECT},
	    {"note", required_argument, NULL, OPT_NOTE},
	    {"author", required_argument, NULL, OPT_AUTHOR},
	    CLI_COMMON_OPTIONS};
	Callraft__TicketOpen open = CALLRAFT__TICKET_OPEN__INIT;
	int opt, rv;
	while ((opt = getopt_long(argc, argv, CLI_SHORT_OPTIONS, options, NULL)) != -1) {
		switch (opt) {
		case OPT_CUSTOMER: open.customer_id = optarg; break;
		case OPT_CATEGORY: open.category = optarg; break;
		case OPT_CALL: open.call_id = optarg; break;
		case OPT_SUBJECT: open.subject = optarg; break;
		case OPT_NOTE: open.note = optarg; break;
		case OPT_AUTHOR: open.author = optarg; break;
		case OPT_CLASS:
			if (strcmp(optarg, "urgent") != 0 && strcmp(optarg, "follow-up") != 0)
				return cli_usage_error(cli, "--class: '%s': expected urgent or follow-up",
						       optarg);
			open.ticket_class = optarg;
			break;
		default:
			if ((rv = cli_common_option(cli, opt, argv)) >= 0)
				return rv;
		}
	}
	if ((rv = cli_positionals(cli, argc, argv, 0, 0)) != CLI_EXIT_OK)
		return rv;
	if (open.customer_id[0] == '\0' || open.category[0] == '\0')
		return cli_usage_error(cli, "--customer and --category are required");
	if ((rv = cli_check_id(cli, "--customer", open.customer_id)) ||
	    (rv = cli_check_name(cli, "--category", open.category, CALLRAFT_CATEGORY_BYTES_MAX)) ||
	    (open.call_id[0] && (rv = cli_check_id(cli, "--call", open.call_id))) ||
	    (rv = cli_check_text(cli, "--subject", open.subject, CALLRAFT_SUBJECT_BYTES_MAX)) ||
	    (rv = cli_check_text(cli, "--note", open.note, CALLRAFT_NOTE_BYTES_MAX)) ||
	    (open.author[0] && (rv = cli_check_id(cli, "--author", open.author))))
		return rv;
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_TICKET_OPEN;
	req.ticket_open = &open;
	Callraft__Reply *reply;
	if ((rv = cli_send(cli, &req, &reply)) != CLI_EXIT_OK)
		return rv;
	if (cli->json)
		cli_print_ticket_json(reply);
	else
		printf("ticket opened for customer '%s'\n\n    tracking code:  %s\n\n", open.customer_id,
		       reply->ticket != NULL ? reply->ticket->code : "(not returned)");
	callraft__reply__free_unpacked(reply, NULL);
	return CLI_EXIT_OK;
}

static int cli_parse_ticket_status(struct cli *cli, const char *s, Callraft__TicketStatus *out)
{
	for (int st = CALLRAFT__TICKET_STATUS__OPEN; st <= CALLRAFT__TICKET_STATUS__CLOSED; st++) {
		if (strcmp(s, cli_ticket_status_name((Callraft__TicketStatus)st)) == 0) {
			*out = (Callraft__TicketStatus)st;
			return CLI_EXIT_OK;
		}
	}
	return cli_usage_error(cli, "--status: '%s': expected open, in-progress, resolved or closed",
			       s);
}

int cli_ticket_update(struct cli *cli, int argc, char **argv)
{
	enum { OPT_STATUS = CLI_OPT_FIRST_FREE, OPT_NOTE, OPT_AUTHOR };
	static const struct option options[] = {{"status", required_argument, NULL, OPT_STATUS},
						{"note", required_argument, NULL, OPT_NOTE},
						{"author", required_argument, NULL, OPT_AUTHOR},
						CLI_COMMON_OPTIONS};
	Callraft__TicketUpdate update = CALLRAFT__TICKET_UPDATE__INIT;
	int opt, rv;
	while ((opt = getopt_long(argc, argv, CLI_SHORT_OPTIONS, options, NULL)) != -1) {
		if (opt == OPT_STATUS) {
			if ((rv = cli_parse_ticket_status(cli, optarg, &update.status)) != 0)
				return rv;
		} else if (opt == OPT_NOTE) {
			update.note = optarg;
		} else if (opt == OPT_AUTHOR) {
			update.author = optarg;
		} else if ((rv = cli_common_option(cli, opt, argv)) >= 0) {
			return rv;
		}
	}
	if ((rv = cli_positionals(cli, argc, argv, 1, 1)) != CLI_EXIT_OK)
		return rv;
	update.code = argv[optind];
	if (update.status == CALLRAFT__TICKET_STATUS__TICKET_STATUS_NONE && update.note[0] == '\0')
		return cli_usage_error(cli, "nothing to update: pass --status or --note");
	if ((rv = cli_check_id(cli, "ticket code", update.code)) ||
	    (rv = cli_check_text(cli, "--note", update.note, CALLRAFT_NOTE_BYTES_MAX)) ||
	    (update.author[0] && (rv = cli_check_id(cli, "--author", update.author))))
		return rv;
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_TICKET_UPDATE;
	req.ticket_update = &update;
	Callraft__Reply *reply;
	if ((rv = cli_send(cli, &req, &reply)) != CLI_EXIT_OK)
		return rv;
	if (cli->json)
		cli_print_ticket_json(reply);
	else
		printf("ticket '%s' updated: status %s\n", update.code,
		       reply->ticket != NULL ? cli_ticket_status_name(reply->ticket->status)
					     : cli_ticket_status_name(update.status));
	callraft__reply__free_unpacked(reply, NULL);
	return CLI_EXIT_OK;
}

static void cli_print_ticket_text(const Callraft__Ticket *t)
{
	char created[32], updated[32];
	cli_format_time(t->created_ms, created, sizeof created);
	cli_format_time(t->updated_ms, updated, sizeof updated);
	printf("ticket:    %s\nstatus:    %s\ncustomer:  %s\ncategory:  %s\nsubject:   %s\n"
	       "call:      %s\ncreated:   %s\nupdated:   %s\n",
	       t->code, cli_ticket_status_name(t->status), t->customer_id, t->category,
	       t->subject[0] ? t->subject : "-", t->call_id[0] ? t->call_id : "-", created,
	       updated);
	if (t->n_notes == 0)
		return;
	printf("\nhistory:\n");
	static const char *const headers[] = {"AT", "STATUS", "AUTHOR", "NOTE"};
	struct cli_table table;
	cli_table_init(&table, 4, headers);
	for (size_t i = 0; i < t->n_notes; i++) {
		const Callraft__TicketNote *n = t->notes[i];
		char at[32];
		cli_format_time(n->at_ms, at, sizeof at);
		const char *row[] = {at, cli_ticket_status_name(n->status), n->author, n->text};
		cli_table_add(&table, row);
	}
	cli_table_print(&table, stdout);
	cli_table_release(&table);
}

int cli_ticket_show(struct cli *cli, int argc, char **argv)
{
	int rv = cli_options_none(cli, argc, argv);
	if (rv >= 0)
		return rv;
	if ((rv = cli_positionals(cli, argc, argv, 1, 1)) != CLI_EXIT_OK ||
	    (rv = cli_check_id(cli, "ticket code", argv[optind])) != CLI_EXIT_OK)
		return rv;
	Callraft__TicketShow show = CALLRAFT__TICKET_SHOW__INIT;
	show.code = argv[optind];
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_TICKET_SHOW;
	req.ticket_show = &show;
	Callraft__Reply *reply;
	if ((rv = cli_send(cli, &req, &reply)) != CLI_EXIT_OK)
		return rv;
	if (cli->json)
		cli_print_ticket_json(reply);
	else if (reply->ticket != NULL)
		cli_print_ticket_text(reply->ticket);
	callraft__reply__free_unpacked(reply, NULL);
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
	for (size_t i = 0; i < reply->n_tickets; i++) {
		const Callraft__Ticket *tk = reply->tickets[i];
		char created[32];
		cli_format_time(tk->created_ms, created, sizeof created);
		const char *row[] = {tk->code, cli_ticket_status_name(tk->status), tk->category,
				     created, tk->subject};
		cli_table_add(&t, row);
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	printf("\n%llu ticket%s for customer '%s'", (unsigned long long)reply->total,
	       reply->total == 1 ? "" : "s", customer);
	if (reply->total > reply->n_tickets)
		printf(" (%zu shown)", reply->n_tickets);
	printf("\n");
}

int cli_ticket_list(struct cli *cli, int argc, char **argv)
{
	enum { OPT_CUSTOMER = CLI_OPT_FIRST_FREE, OPT_LIMIT };
	static const struct option options[] = {{"customer", required_argument, NULL, OPT_CUSTOMER},
						{"limit", required_argument, NULL, OPT_LIMIT},
						CLI_COMMON_OPTIONS};
	Callraft__TicketList list = CALLRAFT__TICKET_LIST__INIT;
	list.limit = CALLRAFT_LIST_LIMIT_DEFAULT;
	int opt, rv;
	while ((opt = getopt_long(argc, argv, CLI_SHORT_OPTIONS, options, NULL)) != -1) {
		if (opt == OPT_CUSTOMER) {
			list.customer_id = optarg;
		} else if (opt == OPT_LIMIT) {
			if ((rv = cli_parse_limit(cli, optarg, &list.limit)) != CLI_EXIT_OK)
				return rv;
		} else if ((rv = cli_common_option(cli, opt, argv)) >= 0) {
			return rv;
		}
	}
	if ((rv = cli_positionals(cli, argc, argv, 0, 0)) != CLI_EXIT_OK)
		return rv;
	if (list.customer_id[0] == '\0')
		return cli_usage_error(cli, "--customer is required");
	if ((rv = cli_check_id(cli, "--customer", list.customer_id)) != CLI_EXIT_OK)
		return rv;
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_TICKET_LIST;
	req.ticket_list = &list;
	Callraft__Reply *reply;
	if ((rv = cli_send(cli, &req, &reply)) != CLI_EXIT_OK)
		return rv;
	if (cli->json) {
		json_object *arr = json_object_new_array();
		for (size_t i = 0; i < reply->n_tickets; i++)
			json_object_array_add(arr, cli_json_ticket(reply->tickets[i]));
		json_object *top = json_object_new_object();
		cli_json_str(top, "customer_id", list.customer_id);
		cli_json_u64(top, "total", reply->total);
		json_object_object_add(top, "tickets", arr);
		cli_print_json(top);
	} else {
		cli_ticket_list_text(list.customer_id, reply);
	}
	callraft__reply__free_unpacked(reply, NULL);
	return CLI_EXIT_OK;
}
