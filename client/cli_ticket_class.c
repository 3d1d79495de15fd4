/* cli_ticket_class.c: `callraft ticket class-set` and `callraft ticket classes`: the targets of
 * ticket classes (state/ticket_classes.c), set by a supervisor and read back. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "callraft_limits.h"

int cli_ticket_class_set_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	static const char *const opts[] = {"target", "due-soon"};
	int rv;

	if ((rv = cli_check_name(cli, "ticket class", a->pos[0], CALLRAFT_CATEGORY_BYTES_MAX)))
		return rv;
	if (cli_opt(a, "target") == NULL && cli_opt(a, "due-soon") == NULL)
		return cli_usage_error(cli, "give --target and/or --due-soon");
	Callraft__TicketClassConfigure *op =
	    callraft_request_init(r, CALLRAFT__REQUEST__OP_TICKET_CLASS_CONFIGURE);
	Callraft__Int64Value **slot[] = {&op->target_ms, &op->due_soon_ms};
	op->ticket_class = a->pos[0];
	for (size_t i = 0; i < 2; i++) {
		const char *v = cli_opt(a, opts[i]);
		int64_t ms;
		if (v == NULL)
			continue;
		if ((rv = cli_parse_duration(cli, i == 0 ? "--target" : "--due-soon", v,
					     CALLRAFT_TICKET_TARGET_MS_MAX, &ms)))
			return rv;
		a->scratch.i64[i] = (Callraft__Int64Value)CALLRAFT__INT64_VALUE__INIT;
		a->scratch.i64[i].value = ms;
		*slot[i] = &a->scratch.i64[i];
	}
	return CLI_EXIT_OK;
}

int cli_ticket_class_set_output(struct cli *cli, const struct cli_args *a,
				const Callraft__Request *req, const Callraft__Reply *reply)
{
	return cli_print_write(cli, reply, "ok");
}

int cli_ticket_classes_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	int rv;

	if (a->n_pos > 0 &&
	    (rv = cli_check_name(cli, "ticket class", a->pos[0], CALLRAFT_CATEGORY_BYTES_MAX)))
		return rv;
	Callraft__TicketClassShow *op = callraft_request_init(r, CALLRAFT__REQUEST__OP_TICKET_CLASS_SHOW);
	op->ticket_class = a->n_pos > 0 ? a->pos[0] : "";
	return CLI_EXIT_OK;
}

int cli_ticket_classes_output(struct cli *cli, const struct cli_args *a,
			      const Callraft__Request *req, const Callraft__Reply *reply)
{
	static const char *const headers[] = {"CLASS", "TARGET", "DUE-SOON", "CONFIGURED"};
	struct cli_table t;
	json_object *arr = json_object_new_array();

	cli_table_init(&t, 4, headers);
	for (size_t i = 0; i < reply->n_ticket_classes; i++) {
		const Callraft__TicketClassConfig *c = reply->ticket_classes[i];
		char target[32], soon[32];
		cli_format_duration(c->target_ms, target, sizeof target);
		cli_format_duration(c->due_soon_ms, soon, sizeof soon);
		const char *row[] = {c->ticket_class, target, soon, c->configured ? "yes" : "default"};
		cli_table_add(&t, row);
		json_object *o = json_object_new_object();
		cli_json_fields(o, &c->base, "ticket_class", "target_ms", "due_soon_ms", "configured",
				NULL);
		json_object_array_add(arr, o);
	}
	if (cli->json) {
		json_object *top = json_object_new_object();
		json_object_object_add(top, "ticket_classes", arr);
		cli_print_json(top);
	} else {
		json_object_put(arr);
		cli_table_print(&t, stdout);
	}
	cli_table_release(&t);
	return CLI_EXIT_OK;
}

/* `ticket overdue` and `ticket due-soon`: one request, TicketDueList. */
static int due_request(struct cli *cli, struct cli_args *a, struct callraft_request *r,
		       bool due_soon)
{
	const char *cls = cli_opt(a, "class"), *site = cli_opt(a, "site");
	const char *limit_arg = cli_opt(a, "limit");
	uint32_t limit = CALLRAFT_LIST_LIMIT_DEFAULT;
	int rv;

	if ((limit_arg != NULL && (rv = cli_parse_limit(cli, limit_arg, &limit)) != CLI_EXIT_OK) ||
	    (cls != NULL && (rv = cli_check_name(cli, "--class", cls, CALLRAFT_CATEGORY_BYTES_MAX))) ||
	    (site != NULL && (rv = cli_check_name(cli, "--site", site, CALLRAFT_SITE_BYTES_MAX))))
		return rv;
	Callraft__TicketDueList *op = callraft_request_init(r, CALLRAFT__REQUEST__OP_TICKET_DUE_LIST);
	op->due_soon = due_soon;
	op->ticket_class = (char *)(cls != NULL ? cls : "");
	op->site = (char *)(site != NULL ? site : "");
	op->limit = limit;
	return cli_cursor_option(cli, a, &op->cursor);
}

int cli_ticket_overdue_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	return due_request(cli, a, r, false);
}

int cli_ticket_due_soon_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	return due_request(cli, a, r, true);
}

static int due_output(struct cli *cli, const Callraft__Request *req, const Callraft__Reply *reply)
{
	const Callraft__TicketDueList *q = req->ticket_due_list;
	const char *what = q->due_soon ? "due-soon" : "overdue";
	char hex[2 * CLI_CURSOR_BYTES_MAX + 1] = "";

	if (reply->next_cursor.len > 0)
		cli_cursor_hex(&reply->next_cursor, hex, sizeof hex);
	if (cli->json) {
		json_object *top = json_object_new_object();
		cli_json_list(top, &reply->base, "tickets");
		if (hex[0] != '\0')
			cli_json_str(top, "next_cursor", hex);
		cli_print_json(top);
		return CLI_EXIT_OK;
	}
	static const char *const headers[] = {"CODE", "CLASS", "SITE", "STATUS", "TARGET", "SUBJECT"};
	struct cli_table t;
	cli_table_init(&t, 6, headers);
	for (size_t i = 0; i < reply->n_tickets; i++)
		cli_table_add_fields(&t, &reply->tickets[i]->base, "code", "ticket_class", "site",
				     "status", "target_ms", "subject", NULL);
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	printf("\n%zu %s ticket%s shown\n", reply->n_tickets, what, reply->n_tickets == 1 ? "" : "s");
	if (hex[0] != '\0')
		printf("next page: callraft ticket %s%s%s%s%s --cursor %s\n", what,
		       q->ticket_class[0] ? " --class " : "", q->ticket_class,
		       q->site[0] ? " --site " : "", q->site, hex);
	return CLI_EXIT_OK;
}

int cli_ticket_overdue_output(struct cli *cli, const struct cli_args *a,
			      const Callraft__Request *req, const Callraft__Reply *reply)
{
	return due_output(cli, req, reply);
}

int cli_ticket_due_soon_output(struct cli *cli, const struct cli_args *a,
			       const Callraft__Request *req, const Callraft__Reply *reply)
{
	return due_output(cli, req, reply);
}
