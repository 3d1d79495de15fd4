/* cli.c: `callraft`, the command-line tool: global options, dispatch, and the helpers every
 * command shares (errors, sending, validation, formatting, tables). See cli.h and docs/cli.md. */
#include "cli.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "callraft_limits.h"

#define OPT(name) {name, false, CLI_CHECK_NONE, 0}
#define FLAG(name) {name, true, CLI_CHECK_NONE, 0}
#define OPT_PHONE(name) {name, false, CLI_CHECK_PHONE, 0}
#define OPT_TEXT(name, max) {name, false, CLI_CHECK_TEXT, max}
#define OPT_NAME(name, max) {name, false, CLI_CHECK_NAME, max}

/* Every command, in the order --help lists them. */
static const struct cli_command cli_commands[] = {
    {"status", NULL, "status", .run = cli_status},
    {"members", "list", "members list", CLI_REQUEST(members_list)},
    {"members", "add", "members add ID --site S --raft-address H:P --client-address H:P",
     {OPT("site"), OPT("raft-address"), OPT("client-address")}, 1, 1, CLI_REQUEST(members_add)},
    {"members", "remove", "members remove ID", .pos_min = 1, .pos_max = 1,
     CLI_REQUEST(members_remove)},
    {"members", "assign", "members assign ID voter|standby|spare", .pos_min = 2, .pos_max = 2,
     CLI_REQUEST(members_assign)},
    {"members", "transfer", "members transfer [ID]", .pos_max = 1, CLI_REQUEST(members_transfer)},
    {"rules", "upgrade", "rules upgrade [N]   (raise the FSM rules version; admin)", .pos_max = 1,
     CLI_REQUEST(rules_upgrade)},
    {"snapshot", NULL, "snapshot [--no-wait]     (on the node given by --cluster)",
     {FLAG("no-wait")}, .run = cli_snapshot},
    {"call", "enqueue",
     "call enqueue --call-id ID --queue Q --caller NUM [--customer C]\n"
     "                 [--tier regular|silver|gold|diamond|0-9 [--tier-override]] [--site S]\n"
     "                 [--agent A | --same-agent] [--agent-timeout D]",
     {OPT("call-id"), OPT("queue"), OPT("caller"), OPT("customer"), OPT("tier"), OPT("site"),
      FLAG("tier-override"), OPT("agent"), FLAG("same-agent"), OPT("agent-timeout")},
     CLI_REQUEST(call_enqueue)},
    {"call", "next", "call next --agent A", {OPT("agent")}, CLI_REQUEST(call_next)},
    {"call", "answer", "call answer CALL_ID --agent A --token TERM.INDEX",
     {OPT("agent"), OPT("token")}, 1, 1, CLI_REQUEST(call_answer)},
    {"call", "end", "call end CALL_ID --agent A", {OPT("agent")}, 1, 1, CLI_REQUEST(call_end)},
    {"call", "abandon", "call abandon CALL_ID",
     CLI_KEY_REQUEST(call_abandon, "call id", 0, CALL_ABANDON)},
    {"call", "show", "call show CALL_ID", CLI_KEY_REQUEST(call_show, "call id", 0, CALL_SHOW)},
    {"queue", "show", "queue show QUEUE [--limit N]", {OPT("limit")}, 1, 1,
     CLI_REQUEST(queue_show)},
    {"agent", "login", "agent login AGENT --site S --skills Q1,Q2 [--name N]",
     {OPT("site"), OPT("skills"), OPT("name")}, 1, 1, CLI_REQUEST(agent_login)},
    {"agent", "state", "agent state AGENT available|break|wrap-up [--reason R]",
     {OPT("reason")}, 2, 2, CLI_REQUEST(agent_state)},
    {"agent", "logout", "agent logout AGENT",
     CLI_KEY_REQUEST(agent_logout, "agent", 0, AGENT_LOGOUT)},
    {"agent", "show", "agent show AGENT", CLI_KEY_REQUEST(agent_show, "agent", 0, AGENT_SHOW)},
    {"agent", "list", "agent list [--site S]", {OPT_NAME("site", CALLRAFT_SITE_BYTES_MAX)},
     CLI_OPTIONS_REQUEST(agent_list, AGENT_LIST)},
    {"ticket", "open",
     "ticket open --customer C --category CAT [--call CALL_ID] [--subject S]\n"
     "                 [--note N] [--author A] [--class urgent|follow-up|CLASS]",
     {OPT("customer"), OPT("category"), OPT("call"), OPT("subject"), OPT("note"), OPT("author"),
      OPT("class")},
     CLI_REQUEST(ticket_open)},
    {"ticket", "update",
     "ticket update CODE [--status open|in-progress|resolved|closed] [--note N]\n"
     "                 [--author A]",
     {OPT("status"), OPT("note"), OPT("author")}, 1, 1, CLI_REQUEST(ticket_update)},
    {"ticket", "show", "ticket show CODE",
     CLI_KEY_REQUEST(ticket_show, "ticket code", 0, TICKET_SHOW)},
    {"ticket", "list", "ticket list --customer C [--limit N] [--cursor HEX]",
     {OPT("customer"), OPT("limit"), OPT("cursor")}, CLI_REQUEST(ticket_list)},
    {"ticket", "class-set",
     "ticket class-set CLASS [--target 30m] [--due-soon 10m]   (a new name adds a class)",
     {OPT("target"), OPT("due-soon")}, 1, 1, CLI_REQUEST(ticket_class_set)},
    {"ticket", "classes", "ticket classes [CLASS]   (targets: configured or default)",
     .pos_max = 1, CLI_REQUEST(ticket_classes)},
    {"ticket", "overdue",
     "ticket overdue [--class C] [--site S] [--limit N] [--cursor HEX]   (open, past target)",
     {OPT("class"), OPT("site"), OPT("limit"), OPT("cursor")}, CLI_REQUEST(ticket_overdue)},
    {"ticket", "due-soon", "ticket due-soon [--class C] [--site S] [--limit N] [--cursor HEX]",
     {OPT("class"), OPT("site"), OPT("limit"), OPT("cursor")}, CLI_REQUEST(ticket_due_soon)},
    {"call", "reject",
     "call reject CALL_ID --agent A --token TERM.INDEX\n"
     "                 [--outcome no-answer|busy|invalid-number]   (a callback dialled, not reached)",
     {OPT("agent"), OPT("token"), OPT("outcome")}, 1, 1, CLI_REQUEST(call_reject)},
    {"call", "callback", "call callback CALL_ID [--number NUM]", {OPT_PHONE("number")},
     CLI_KEY_REQUEST(call_callback, "call id", 0, CALLBACK_REQUEST)},
    {"call", "dial", "call dial CALL_ID --agent A", {OPT("agent")}, 1, 1, CLI_REQUEST(call_dial)},
    {"agent", "heartbeat", "agent heartbeat AGENT",
     CLI_KEY_REQUEST(agent_heartbeat, "agent", 0, AGENT_HEARTBEAT)},
    {"queue", "configure",
     "queue configure QUEUE [--overflow-after 30s] [--offer-timeout 15s]\n"
     "                 [--known-agent-timeout 20s] [--aging 60s] [--service-level 20s]\n"
     "                 [--wrap-up 0s] [--top-tier 3] [--redial-window 10m]\n"
     "                 [--site-lost-callback yes|no] [--known-agent-link 30d (0: never expires)]\n"
     "                 [--callback-retry 10m] [--callback-attempts 5]",
     {OPT("overflow-after"), OPT("offer-timeout"), OPT("known-agent-timeout"), OPT("aging"),
      OPT("service-level"), OPT("wrap-up"), OPT("top-tier"), OPT("redial-window"),
      OPT("site-lost-callback"), OPT("known-agent-link"), OPT("callback-retry"),
      OPT("callback-attempts")},
     1, 1, CLI_REQUEST(queue_configure)},
    {"callback", "schedule",
     "callback schedule --id ID --number NUM --queue Q --at +DURATION|EPOCH_MS\n"
     "                 [--customer C] [--tier N]",
     {OPT("id"), OPT("number"), OPT("queue"), OPT("customer"), OPT("site"), OPT("at"),
      OPT("tier")},
     CLI_REQUEST(callback_schedule)},
    {"callback", "voicemail",
     "callback voicemail --id ID --number NUM --queue Q --site S [--customer C] [--tier N]",
     {OPT("id"), OPT("number"), OPT("queue"), OPT("customer"), OPT("site"), OPT("at"),
      OPT("tier")},
     CLI_REQUEST(callback_voicemail)},
    {"site", "configure",
     "site configure SITE [--opens HH:MM] [--closes HH:MM] [--utc-offset +HH:MM]\n"
     "                 [--presence-timeout 30s] [--loss-after 8s] [--contact-timeout 3s]\n"
     "                 [--calling-hours HH:MM-HH:MM|none] [--voicemail-per-hour N]",
     {OPT("opens"), OPT("closes"), OPT("utc-offset"), OPT("presence-timeout"), OPT("loss-after"),
      OPT("contact-timeout"), OPT("calling-hours"), OPT("voicemail-per-hour")},
     1, 1, CLI_REQUEST(site_configure)},
    {"site", "down", "site down SITE [--reason R]", {OPT_TEXT("reason", CALLRAFT_REASON_BYTES_MAX)},
     CLI_KEY_REQUEST(site_down, "site", CALLRAFT_SITE_BYTES_MAX, SITE_DOWN)},
    {"site", "up", "site up SITE",
     CLI_KEY_REQUEST(site_up, "site", CALLRAFT_SITE_BYTES_MAX, SITE_UP)},
    {"site", "heartbeat", "site heartbeat SITE (sent by the site's PBX every second)",
     CLI_KEY_REQUEST(site_heartbeat, "site", CALLRAFT_SITE_BYTES_MAX, SITE_HEARTBEAT)},
    {"site", "list", "site list", CLI_REQUEST(site_list)},
    {"token", "issue",
     "token issue NAME --roles R[,R..] [--site S] [--ttl 12h]   (a bearer token for a browser)",
     {OPT("roles"), OPT("site"), OPT("ttl")}, 1, 1, CLI_REQUEST(token_issue)},
    {"token", "revoke", "token revoke ID", .pos_min = 1, .pos_max = 1, CLI_REQUEST(token_revoke)},
    {"token", "list", "token list", CLI_REQUEST(token_list)},
    {"stats", NULL, "stats [--queue Q] [--site S] [--ticket-class C] [--interval today|15m|60m|days]",
     {OPT("queue"), OPT("site"), OPT("ticket-class"), OPT("interval")}, CLI_REQUEST(stats)},
    {"customer", "history", "customer history CUSTOMER [--limit N] [--cursor HEX]",
     {OPT("limit"), OPT("cursor")}, 1, 1,
     CLI_REQUEST(customer_history)},
    {"customer", "set",
     "customer set CUSTOMER [--tier T] [--preferred-agent A] [--phone N[,N..]]\n"
     "                 [--national-id D] [--crm-id X] [--sms-consent yes|no]   (the whole record)",
     {OPT("tier"), OPT("preferred-agent"), OPT("phone"), OPT("national-id"), OPT("crm-id"),
      OPT("sms-consent")},
     1, 1, CLI_REQUEST(customer_set)},
    {"customer", "show", "customer show CUSTOMER", .pos_min = 1, .pos_max = 1,
     CLI_REQUEST(customer_show)},
    {"campaign", "create",
     "campaign create CAMPAIGN --queue Q --site S [--pacing PERCENT]\n"
     "                 [--start +DURATION|EPOCH_MS] [--end +DURATION|EPOCH_MS]",
     {OPT("queue"), OPT("site"), OPT("pacing"), OPT("start"), OPT("end")}, 1, 1,
     CLI_REQUEST(campaign_create)},
    {"campaign", "add", "campaign add CAMPAIGN --file FILE|-   (NUMBER[,CUSTOMER] a line, <= 500)",
     {OPT("file")}, 1, 1, CLI_REQUEST(campaign_add)},
    {"campaign", "pause", "campaign pause CAMPAIGN", .pos_min = 1, .pos_max = 1,
     CLI_REQUEST(campaign_pause)},
    {"campaign", "resume", "campaign resume CAMPAIGN", .pos_min = 1, .pos_max = 1,
     CLI_REQUEST(campaign_resume)},
    {"campaign", "show", "campaign show CAMPAIGN [--limit N] [--cursor HEX]",
     {OPT("limit"), OPT("cursor")}, 1, 1, CLI_REQUEST(campaign_show)},
    {"campaign", "list", "campaign list", CLI_OPTIONS_REQUEST(campaign_list, CAMPAIGN_LIST)},
    {"campaign", "delete", "campaign delete CAMPAIGN   (once it is over; its calls remain)",
     CLI_KEY_REQUEST(campaign_delete, "campaign", CALLRAFT_CAMPAIGN_ID_BYTES_MAX, CAMPAIGN_DELETE)},
    {"events", NULL,
     "events [--from INDEX[.POS]] [--queue Q] [--site S] [--agent A] [--kind K,..] [--limit N] "
     "[--follow]",
     {OPT("from"), OPT("queue"), OPT("site"), OPT("agent"), OPT("kind"), OPT("limit"),
      FLAG("follow")},
     .run = cli_events},
    {"agent", "ready", "agent ready AGENT       (offers are pushed to it)", .pos_min = 1,
     .pos_max = 1, CLI_REQUEST(agent_ready)},
    {"bench-push", NULL,
     "bench-push [--agents N] [--calls M] [--channel HOST:PORT] [--sse HTTP_HOST:PORT]   (pushed offer latency)",
     {OPT("agents"), OPT("calls"), OPT("channel"), OPT("sse")}, .run = cli_bench_push},
    {"agent", "offers", "agent offers AGENT [--from INDEX[.POS]]   (follows)", {OPT("from")}, 1, 1,
     .run = cli_agent_offers},
    /* Runs callraft-bench (tools/bench.c), which parses its own options. */
    {"bench", NULL,
     "bench [--workload enqueue|cycle|ticket|mix] [--clients 1,16,64] [--duration S]\n"
     "                 [--ops N] [--pids P1,P2,..] [--any-node]",
     .run = cli_bench, .raw_args = true},
};

#define CLI_COMMANDS_COUNT (sizeof cli_commands / sizeof cli_commands[0])

void cli_usage(FILE *f)
{
	fprintf(f, "usage: callraft [--cluster ADDR[,ADDR...]] [--json] [--stale] [--timeout MS] "
		   "COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < CLI_COMMANDS_COUNT; i++)
		fprintf(f, "  %s\n", cli_commands[i].usage);
	fprintf(f,
		"\noptions (accepted before or after the command):\n"
		"  --cluster ADDR[,ADDR...]  nodes to talk to (default: $CALLRAFT_CLUSTER)\n"
		"  --json                    print one JSON object per command\n"
		"  --stale                   reads: let any node answer from its own state\n"
		"  --timeout MS              give up after MS milliseconds, retries included\n"
		"  -h, --help                show this help\n"
		"\nexit codes: 0 ok, 1 refused by the cluster (not found, bad state, ...), "
		"2 usage or invalid\nargument, 3 cluster unavailable.\n");
}

/* ------------------------------------------------------------------------------------------------
 * Errors and options. */

/* Reports `msg`; `code_prefix` (may be NULL) is shown before it on stderr only, since JSON carries
 * the code in its own field. */
static int cli_report(struct cli *cli, int exit_code, const char *code, const char *code_prefix,
		      const char *msg)
{
	fprintf(stderr, "callraft: %s%s%s%s%s\n", cli->command, cli->command[0] ? ": " : "",
		code_prefix ? code_prefix : "", code_prefix ? ": " : "", msg);
	if (cli->json) {
		json_object *err = json_object_new_object();
		cli_json_str(err, "code", code);
		cli_json_str(err, "message", msg);
		json_object *top = json_object_new_object();
		json_object_object_add(top, "error", err);
		cli_print_json(top);
	}
	return exit_code;
}

int cli_fail(struct cli *cli, int exit_code, const char *code, const char *fmt, ...)
{
	char msg[CLI_MESSAGE_BYTES_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return cli_report(cli, exit_code, code, NULL, msg);
}

/* Handles an option that is not the command's own (common options, '?', ':'). Returns -1 to go on
 * parsing, else the exit code to return now. -h/--help prints the usage and exits the process. */
static int cli_common_option(struct cli *cli, int opt, char **argv)
{
	switch (opt) {
	case CLI_OPT_CLUSTER:
		cli->cluster = optarg;
		return -1;
	case CLI_OPT_JSON:
		cli->json = true;
		return -1;
	case CLI_OPT_STALE:
		cli->stale = true;
		return -1;
	case CLI_OPT_TIMEOUT: {
		uint64_t ms;
		if (cli_parse_u64(optarg, &ms) != 0 || ms == 0 || ms > CLI_TIMEOUT_MS_MAX)
			return cli_usage_error(cli, "--timeout: '%s': expected milliseconds, 1..%d",
					       optarg, CLI_TIMEOUT_MS_MAX);
		cli->timeout_ms = (int)ms;
		return -1;
	}
	case 'h':
		/* Exits here: handlers read 0 from their option helpers as "go on". */
		cli_usage(stdout);
		exit(CLI_EXIT_OK);
	case ':':
		return cli_usage_error(cli, "option '%s' needs a value", argv[optind - 1]);
	default:
		if (optopt != 0)
			return cli_usage_error(cli, "unknown option '-%c'", optopt);
		return cli_usage_error(cli, "unknown option '%s'", argv[optind - 1]);
	}
}

/* Checks that want_min..want_max positional arguments remain after getopt (argv[optind..]). */
static int cli_positionals(struct cli *cli, int argc, char **argv, int want_min, int want_max)
{
	int have = argc - optind;
	if (have < want_min)
		return cli_usage_error(cli, "missing argument (usage: callraft %s)", cli->usage);
	if (have > want_max)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind + want_max]);
	return CLI_EXIT_OK;
}

int cli_request_key(struct cli *cli, const struct cli_args *a, const char *what, size_t name_max,
		    Callraft__Request__OpCase op, struct callraft_request *r)
{
	int rv = name_max > 0 ? cli_check_name(cli, what, a->pos[0], name_max)
			      : cli_check_id(cli, what, a->pos[0]);
	if (rv == CLI_EXIT_OK && callraft_request_with_key(r, op, a->pos[0]) == NULL)
		return cli_fail(cli, CLI_EXIT_USAGE, "INTERNAL", "operation %d has no key", (int)op);
	return rv;
}

/* The request of a CLI_KEY_REQUEST or CLI_OPTIONS_REQUEST command: the key, then each option
 * given, checked as the table says, into the operation's string field of the same name (the
 * request borrows the value). */
static int cli_key_request(struct cli *cli, const struct cli_args *a, struct callraft_request *r)
{
	const struct cli_command *cmd = a->cmd;
	ProtobufCMessage *op = (ProtobufCMessage *)r->op;
	int rv = CLI_EXIT_OK;

	if (cmd->key.what != NULL)
		rv = cli_request_key(cli, a, cmd->key.what, cmd->key.name_max, cmd->key.op, r);
	else if (callraft_request_init(r, cmd->key.op) == NULL)
		return cli_fail(cli, CLI_EXIT_USAGE, "INTERNAL", "operation %d is not known",
				(int)cmd->key.op);

	for (int i = 0; i < CLI_OPTIONS_MAX && cmd->options[i].name != NULL; i++) {
		const struct cli_option *o = &cmd->options[i];
		const char *v = a->value[i];
		const ProtobufCFieldDescriptor *f;
		char what[48];

		if (rv != CLI_EXIT_OK || v == NULL)
			continue;
		snprintf(what, sizeof what, "--%s", o->name);
		if (o->check == CLI_CHECK_PHONE && v[0] != '\0')
			rv = cli_check_phone(cli, what, v);
		else if (o->check == CLI_CHECK_TEXT)
			rv = cli_check_text(cli, what, v, o->max);
		else if (o->check == CLI_CHECK_NAME && v[0] != '\0')
			rv = cli_check_name(cli, what, v, o->max);
		f = protobuf_c_message_descriptor_get_field_by_name(op->descriptor, o->name);
		assert(f != NULL && f->type == PROTOBUF_C_TYPE_STRING &&
		       f->label != PROTOBUF_C_LABEL_REPEATED);
		if (rv == CLI_EXIT_OK)
			*(char **)((char *)op + f->offset) = (char *)v;
	}
	return rv;
}

const char *cli_opt(const struct cli_args *a, const char *name)
{
	for (int i = 0; i < CLI_OPTIONS_MAX && a->cmd->options[i].name != NULL; i++)
		if (strcmp(a->cmd->options[i].name, name) == 0)
			return a->value[i];
	assert(!"cli_opt: an option the command does not declare");
	return NULL;
}

/* ------------------------------------------------------------------------------------------------
 * Sending. */

int cli_exit_for_code(Callraft__Code code)
{
	switch (code) {
	case CALLRAFT__CODE__OK:
		return CLI_EXIT_OK;
	case CALLRAFT__CODE__NOT_FOUND:
	case CALLRAFT__CODE__ALREADY_EXISTS:
	case CALLRAFT__CODE__BAD_STATE:
	case CALLRAFT__CODE__QUEUE_EMPTY:
	case CALLRAFT__CODE__STALE_TOKEN:
	case CALLRAFT__CODE__COMPACTED:
	case CALLRAFT__CODE__RESOURCE_EXHAUSTED: /* a quota: refused until space is freed */
		return CLI_EXIT_BUSINESS;
	case CALLRAFT__CODE__INVALID_ARGUMENT:
	case CALLRAFT__CODE__BAD_FRAME:
	case CALLRAFT__CODE__UNKNOWN_OPERATION:
	case CALLRAFT__CODE__BAD_VERSION:
		return CLI_EXIT_USAGE; /* this request cannot succeed as sent */
	default:
		/* Retryable codes after the deadline, INTERNAL, session errors: the cluster could
		 * not serve; trying again later may work. */
		return CLI_EXIT_UNAVAILABLE;
	}
}

static int cli_client_open(struct cli *cli)
{
	const char *cluster = cli->cluster;
	if (cluster == NULL)
		cluster = getenv("CALLRAFT_CLUSTER");
	if (cluster == NULL || cluster[0] == '\0')
		return cli_usage_error(cli, "no cluster: pass --cluster or set CALLRAFT_CLUSTER");
	struct callraft_client_options opts = {
	    .cluster = cluster,
	    .name = "callraft-cli",
	    .request_timeout_ms = cli->timeout_ms,
	};
	char errmsg[CALLRAFT_ERRMSG_BYTES];
	if (callraft_client_open(&opts, &cli->client, errmsg, sizeof errmsg) != 0)
		return cli_usage_error(cli, "%s", errmsg);
	return CLI_EXIT_OK;
}

int cli_send(struct cli *cli, Callraft__Request *req, Callraft__Reply **out)
{
	*out = NULL;
	if (cli->client == NULL) {
		int rv = cli_client_open(cli);
		if (rv != CLI_EXIT_OK)
			return rv;
	}
	req->stale = !callraft_request_is_write(req) && cli->stale;
	char errmsg[CALLRAFT_ERRMSG_BYTES];
	Callraft__Reply *reply = callraft_client_call(cli->client, req, errmsg, sizeof errmsg);
	if (reply == NULL) {
		if (callraft_client_last_error(cli->client) == CALLRAFT_CLIENT_INVALID)
			return cli_usage_error(cli, "%s", errmsg);
		return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "UNAVAILABLE", "%s", errmsg);
	}
	if (reply->code != CALLRAFT__CODE__OK) {
		const char *name = callraft_code_name(reply->code);
		int rv = cli_report(cli, cli_exit_for_code(reply->code), name, name,
				    reply->message[0] != '\0' ? reply->message : "(no message)");
		callraft__reply__free_unpacked(reply, NULL);
		return rv;
	}
	*out = reply;
	return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------------
 * Validation. */

int cli_check_id(struct cli *cli, const char *what, const char *s)
{
	size_t len = strlen(s);
	if (len == 0)
		return cli_usage_error(cli, "%s: must not be empty", what);
	if (len > CALLRAFT_ID_BYTES_MAX)
		return cli_usage_error(cli, "%s: '%.32s...': longer than %d bytes", what, s,
				       CALLRAFT_ID_BYTES_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x21 || ch > 0x7e)
			return cli_usage_error(cli, "%s: '%s': use printable ASCII without spaces",
					       what, s);
	}
	return CLI_EXIT_OK;
}

int cli_check_name(struct cli *cli, const char *what, const char *s, size_t max)
{
	size_t len = strlen(s);
	if (len == 0)
		return cli_usage_error(cli, "%s: must not be empty", what);
	if (len > max)
		return cli_usage_error(cli, "%s: '%.32s': longer than %zu bytes", what, s, max);
	if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != len)
		return cli_usage_error(cli, "%s: '%s': use only letters, digits, '.', '_' and '-'",
				       what, s);
	return CLI_EXIT_OK;
}

int cli_check_phone(struct cli *cli, const char *what, const char *s)
{
	size_t len = strlen(s);
	size_t digits = s[0] == '+' ? 1 : 0;
	if (len > CALLRAFT_PHONE_BYTES_MAX || len == digits ||
	    strspn(s + digits, "0123456789*#") != len - digits)
		return cli_usage_error(cli, "%s: '%s': expected an optional '+', then 0-9 * # (at "
					    "most %d bytes)", what, s, CALLRAFT_PHONE_BYTES_MAX);
	return CLI_EXIT_OK;
}

int cli_check_text(struct cli *cli, const char *what, const char *s, size_t max)
{
	if (strlen(s) > max)
		return cli_usage_error(cli, "%s: longer than %zu bytes", what, max);
	return CLI_EXIT_OK;
}

int cli_check_address(struct cli *cli, const char *what, const char *s)
{
	const char *colon = strrchr(s, ':');
	uint64_t port;
	if (strlen(s) > CALLRAFT_ADDRESS_BYTES_MAX || colon == NULL || colon == s ||
	    cli_parse_u64(colon + 1, &port) != 0 || port < 1 || port > 65535)
		return cli_usage_error(cli, "%s: '%s': expected host:port", what, s);
	return CLI_EXIT_OK;
}

int cli_parse_u64(const char *s, uint64_t *out)
{
	if (s == NULL || s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

int cli_parse_limit(struct cli *cli, const char *s, uint32_t *out)
{
	uint64_t v;
	if (cli_parse_u64(s, &v) != 0 || v < 1 || v > CALLRAFT_LIST_LIMIT_MAX)
		return cli_usage_error(cli, "--limit: '%s': expected 1..%d", s,
				       CALLRAFT_LIST_LIMIT_MAX);
	*out = (uint32_t)v;
	return CLI_EXIT_OK;
}

int cli_parse_member_id(struct cli *cli, const char *s, uint64_t *out)
{
	if (cli_parse_u64(s, out) != 0 || *out == 0)
		return cli_usage_error(cli, "member id: '%s': expected a number >= 1", s);
	return CLI_EXIT_OK;
}

int cli_parse_enum(struct cli *cli, const char *what, const char *s,
		   const ProtobufCEnumDescriptor *d, const int *values, size_t n, int *out)
{
	char expected[256] = "";
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, cli_enum_name(d, values[i])) == 0) {
			*out = values[i];
			return CLI_EXIT_OK;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
		int w = snprintf(expected + len, sizeof expected - len, "%s%s", sep,
				 cli_enum_name(d, values[i]));
		if (w < 0 || (size_t)w >= sizeof expected - len)
			break;
		len += (size_t)w;
	}
	return cli_usage_error(cli, "%s: '%s': expected %s", what, s, expected);
}

/* ------------------------------------------------------------------------------------------------
 * Formatting. */

int64_t cli_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cli_format_time(int64_t ms, char *buf, size_t len)
{
	struct tm tm;
	time_t t = (time_t)(ms / 1000);
	if (ms <= 0 || gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "-");
		return;
	}
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void cli_format_duration(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms > 0 ? ms / 1000 : 0;
	if (s < 60)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(buf, len, "%lldh%02lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
}

const char *cli_tier_name(uint32_t tier)
{
	static const char *const names[] = {"regular", "silver", "gold", "diamond"};
	return tier < 4 ? names[tier] : NULL;
}

/* Names are made once and kept: the protocol's enums have a few dozen values in all. */
#define CLI_ENUM_NAMES_MAX 64
#define CLI_ENUM_NAME_BYTES_MAX 32
const char *cli_enum_name(const ProtobufCEnumDescriptor *d, int value)
{
	static struct {
		const ProtobufCEnumDescriptor *d;
		int value;
		char name[CLI_ENUM_NAME_BYTES_MAX];
	} made[CLI_ENUM_NAMES_MAX];
	static size_t n_made;
	const ProtobufCEnumValue *v = value != 0 ? protobuf_c_enum_descriptor_get_value(d, value) : NULL;
	/* What the CLI has always shown for "none": "-" in ticket and member columns. */
	const char *none = d == &callraft__ticket_status__descriptor ||
				   d == &callraft__member_role__descriptor
			       ? "-"
			       : "unknown";

	if (v == NULL)
		return none;
	for (size_t i = 0; i < n_made; i++)
		if (made[i].d == d && made[i].value == value)
			return made[i].name;
	assert(n_made < CLI_ENUM_NAMES_MAX && strlen(v->name) < CLI_ENUM_NAME_BYTES_MAX);
	made[n_made].d = d;
	made[n_made].value = value;
	for (size_t i = 0; i <= strlen(v->name); i++) {
		char ch = v->name[i];
		made[n_made].name[i] = ch == '_' ? '-' : (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
	}
	return made[n_made++].name;
}

int cli_print_json(json_object *obj)
{
	puts(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(obj);
	return CLI_EXIT_OK;
}

void cli_json_str(json_object *o, const char *key, const char *value)
{
	json_object_object_add(o, key, json_object_new_string(value != NULL ? value : ""));
}

void cli_json_u64(json_object *o, const char *key, uint64_t value)
{
	json_object_object_add(o, key, json_object_new_uint64(value));
}

void cli_json_i64(json_object *o, const char *key, int64_t value)
{
	json_object_object_add(o, key, json_object_new_int64(value));
}

/* One field of a message as JSON, by its descriptor. */
static json_object *cli_json_field(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const void *p = (const char *)m + f->offset;

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return json_object_new_string(*(const char *const *)p ? *(const char *const *)p : "");
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		return json_object_new_int64(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		return json_object_new_uint64(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		return json_object_new_int64(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		return json_object_new_uint64(*(const uint64_t *)p);
	case PROTOBUF_C_TYPE_BOOL: return json_object_new_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_DOUBLE: return json_object_new_double(*(const double *)p);
	case PROTOBUF_C_TYPE_FLOAT: return json_object_new_double(*(const float *)p);
	case PROTOBUF_C_TYPE_ENUM:
		return json_object_new_string(cli_enum_name(f->descriptor, *(const int *)p));
	default:
		assert(!"cli_json_fields: a field that is not a scalar");
		return NULL;
	}
}

void cli_json_fields(json_object *o, const ProtobufCMessage *m, ...)
{
	va_list ap;
	va_start(ap, m);
	for (const char *name = va_arg(ap, const char *); name != NULL;
	     name = va_arg(ap, const char *)) {
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
		assert(f != NULL && f->label != PROTOBUF_C_LABEL_REPEATED);
		json_object_object_add(o, name, cli_json_field(m, f));
	}
	va_end(ap);
}

/* The JSON of a model object, by its message type. */
static json_object *cli_json_model(const ProtobufCMessage *m)
{
	if (m->descriptor == &callraft__call__descriptor)
		return cli_json_call((const Callraft__Call *)m);
	if (m->descriptor == &callraft__agent__descriptor)
		return cli_json_agent((const Callraft__Agent *)m);
	if (m->descriptor == &callraft__ticket__descriptor)
		return cli_json_ticket((const Callraft__Ticket *)m);
	if (m->descriptor == &callraft__member__descriptor)
		return cli_json_member((const Callraft__Member *)m);
	if (m->descriptor == &callraft__stats__descriptor)
		return cli_json_stats((const Callraft__Stats *)m);
	assert(!"cli_json_list: a message without a JSON form");
	return NULL;
}

int cli_print_list(struct cli *cli, const char *key, json_object *arr, struct cli_table *t)
{
	if (cli->json) {
		json_object *top = json_object_new_object();
		json_object_object_add(top, key, arr);
		cli_print_json(top);
	} else {
		json_object_put(arr);
		cli_table_print(t, stdout);
	}
	cli_table_release(t);
	return CLI_EXIT_OK;
}

void cli_json_list(json_object *o, const ProtobufCMessage *m, const char *field)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(m->descriptor, field);
	json_object *arr = json_object_new_array();
	size_t n;
	ProtobufCMessage *const *items;

	assert(f != NULL && f->label == PROTOBUF_C_LABEL_REPEATED &&
	       f->type == PROTOBUF_C_TYPE_MESSAGE);
	n = *(const size_t *)((const char *)m + f->quantifier_offset);
	items = *(ProtobufCMessage *const *const *)((const char *)m + f->offset);
	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, cli_json_model(items[i]));
	json_object_object_add(o, field, arr);
}

/* ------------------------------------------------------------------------------------------------
 * Tables. Allocation failures abort: a CLI that cannot allocate a few kilobytes cannot go on. */

static char *cli_strdup(const char *s)
{
	char *copy = strdup(s != NULL && s[0] != '\0' ? s : "-");
	if (copy == NULL)
		abort();
	return copy;
}

void cli_table_init(struct cli_table *t, unsigned n_cols, const char *const *headers)
{
	assert(n_cols > 0);
	t->n_cols = n_cols;
	t->n_rows = 0;
	t->cells = NULL;
	cli_table_add(t, headers);
}

void cli_table_add(struct cli_table *t, const char *const *cells)
{
	char **grown = realloc(t->cells, sizeof *grown * t->n_cols * (t->n_rows + 1));
	if (grown == NULL)
		abort();
	t->cells = grown;
	for (unsigned i = 0; i < t->n_cols; i++)
		t->cells[t->n_rows * t->n_cols + i] = cli_strdup(cells[i]);
	t->n_rows++;
}

void cli_table_add_fields(struct cli_table *t, const ProtobufCMessage *m, ...)
{
	const char *cells[CLI_TABLE_COLS_MAX] = {NULL};
	char times[CLI_TABLE_COLS_MAX][40];
	json_object *values[CLI_TABLE_COLS_MAX] = {NULL};
	unsigned n = 0;
	va_list ap;

	va_start(ap, m);
	for (const char *name = va_arg(ap, const char *); name != NULL;
	     name = va_arg(ap, const char *), n++) {
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
		size_t len = strlen(name);
		assert(f != NULL && f->label != PROTOBUF_C_LABEL_REPEATED && n < t->n_cols);
		if (f->type == PROTOBUF_C_TYPE_INT64 && len > 3 && strcmp(name + len - 3, "_ms") == 0) {
			cli_format_time(*(const int64_t *)((const char *)m + f->offset), times[n],
					sizeof times[n]);
			cells[n] = times[n];
		} else {
			values[n] = cli_json_field(m, f);
			cells[n] = json_object_get_string(values[n]);
		}
	}
	va_end(ap);
	assert(n == t->n_cols);
	cli_table_add(t, cells);
	for (unsigned i = 0; i < n; i++)
		json_object_put(values[i]);
}

void cli_table_print(const struct cli_table *t, FILE *f)
{
	size_t width[CLI_TABLE_COLS_MAX] = {0};
	assert(t->n_cols <= CLI_TABLE_COLS_MAX);
	for (unsigned r = 0; r < t->n_rows; r++)
		for (unsigned i = 0; i < t->n_cols; i++) {
			size_t w = strlen(t->cells[r * t->n_cols + i]);
			if (w > width[i])
				width[i] = w;
		}
	for (unsigned r = 0; r < t->n_rows; r++) {
		for (unsigned i = 0; i < t->n_cols; i++) {
			const char *cell = t->cells[r * t->n_cols + i];
			if (i + 1 == t->n_cols)
				fprintf(f, "%s\n", cell);
			else
				fprintf(f, "%-*s  ", (int)width[i], cell);
		}
	}
}

void cli_table_release(struct cli_table *t)
{
	for (unsigned i = 0; i < t->n_rows * t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->n_rows = 0;
}

/* ------------------------------------------------------------------------------------------------
 * main. */

static const struct cli_command *cli_find(const char *group, const char *verb, bool *group_known)
{
	*group_known = false;
	for (size_t i = 0; i < CLI_COMMANDS_COUNT; i++) {
		const struct cli_command *cmd = &cli_commands[i];
		if (strcmp(cmd->group, group) != 0)
			continue;
		*group_known = true;
		if (cmd->verb == NULL || (verb != NULL && strcmp(cmd->verb, verb) == 0))
			return cmd;
	}
	return NULL;
}

/* Parses the options before the command; stops at the first word. */
static int cli_global_options(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {CLI_COMMON_OPTIONS};
	opterr = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, "+" CLI_SHORT_OPTIONS, options, NULL)) != -1) {
		int rv = cli_common_option(cli, opt, argv);
		if (rv >= 0)
			return rv;
	}
	return -1;
}

/* Parses the command's options and positionals, then runs it: request, send, output. */
static int cli_run(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option common[] = {CLI_COMMON_OPTIONS};
	struct option options[CLI_OPTIONS_MAX + sizeof common / sizeof common[0]];
	static struct cli_args a; /* one command per process; holds the request's sub-messages */
	int n = 0, opt, rv;

	a = (struct cli_args){.cmd = cmd, .argc = argc, .argv = argv};
	if (cmd->raw_args)
		return cmd->run(cli, &a);
	for (; n < CLI_OPTIONS_MAX && cmd->options[n].name != NULL; n++)
		options[n] = (struct option){cmd->options[n].name,
					     cmd->options[n].flag ? no_argument : required_argument,
					     NULL, CLI_OPT_FIRST_FREE + n};
	memcpy(options + n, common, sizeof common);
	while ((opt = getopt_long(argc, argv, CLI_SHORT_OPTIONS, options, NULL)) != -1) {
		if (opt >= CLI_OPT_FIRST_FREE && opt < CLI_OPT_FIRST_FREE + n)
			a.value[opt - CLI_OPT_FIRST_FREE] = optarg != NULL ? optarg : "";
		else if ((rv = cli_common_option(cli, opt, argv)) >= 0)
			return rv;
	}
	if ((rv = cli_positionals(cli, argc, argv, cmd->pos_min, cmd->pos_max)) != CLI_EXIT_OK)
		return rv;
	a.pos = argv + optind;
	a.n_pos = argc - optind;
	if (cmd->run != NULL)
		return cmd->run(cli, &a);

	struct callraft_request req;
	Callraft__Reply *reply;
	rv = cmd->request != NULL ? cmd->request(cli, &a, &req) : cli_key_request(cli, &a, &req);
	if (rv != CLI_EXIT_OK || (rv = cli_send(cli, &req.req, &reply)) != CLI_EXIT_OK)
		return rv;
	rv = cmd->output(cli, &a, &req.req, reply);
	callraft__reply__free_unpacked(reply, NULL);
	return rv;
}

int main(int argc, char **argv)
{
	struct cli cli = {0};
	int rv = cli_global_options(&cli, argc, argv);
	if (rv >= 0)
		return rv;
	if (optind >= argc) {
		cli_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	const char *group = argv[optind];
	const char *verb = optind + 1 < argc ? argv[optind + 1] : NULL;
	bool group_known;
	const struct cli_command *cmd = cli_find(group, verb, &group_known);
	if (cmd == NULL && group_known && verb == NULL)
		return cli_usage_error(&cli, "%s: missing subcommand (see callraft --help)", group);
	if (cmd == NULL && group_known)
		return cli_usage_error(&cli, "%s: unknown subcommand '%s' (see callraft --help)", group,
				       verb);
	if (cmd == NULL)
		return cli_usage_error(&cli, "unknown command '%s' (see callraft --help)", group);
	snprintf(cli.command, sizeof cli.command, "%s%s%s", cmd->group, cmd->verb ? " " : "",
		 cmd->verb ? cmd->verb : "");
	cli.usage = cmd->usage;

	/* The command sees argv[0] = its last word, so getopt starts after it. */
	int first = optind + (cmd->verb != NULL ? 1 : 0);
	optind = 0; /* GNU getopt: reinitialise for the command's own options */
	rv = cli_run(&cli, cmd, argc - first, argv + first);
	callraft_client_close(cli.client);
	return rv;
}
