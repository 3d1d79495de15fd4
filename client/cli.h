/* cli.h: shared pieces of the `callraft` command-line tool (client/cli*.c).
 *
 * The CLI is table-driven: each command is one struct cli_command in cli_commands[] (cli.c): its
 * words, usage line, options, positionals, and the functions that validate the arguments and
 * build its request (through the request builder, callraft_request.h) and print the reply. The
 * driver (cli.c) parses the command line with getopt_long (CLI_COMMON_OPTIONS are accepted
 * everywhere), checks the count of positionals, calls `request`, sends it through cli_send, and
 * calls `output`, which prints either text (stdout) or exactly one JSON object (--json). A command
 * that is not one request (status probes every member, snapshot waits, bench runs a program) has
 * a `run` function instead; a command whose one positional is its operation's key (call show,
 * site up, ...) needs no request function: its entry names the key (CLI_KEY_REQUEST). Adding an
 * operation is one entry and its two functions (or one).
 * Errors go through cli_fail: one lowercase line on stderr, and with --json also
 * {"error":{"code":..,"message":..}} on stdout.
 */
#ifndef CALLRAFT_CLI_H
#define CALLRAFT_CLI_H

#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "callraft_client.h"
#include "callraft_limits.h"

struct cli_args;
struct cli_table;

enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_BUSINESS = 1,    /* NOT_FOUND, BAD_STATE, QUEUE_EMPTY, STALE_TOKEN, ALREADY_EXISTS */
	CLI_EXIT_USAGE = 2,       /* bad command line, or INVALID_ARGUMENT from the node */
	CLI_EXIT_UNAVAILABLE = 3, /* no node answered in time (or the cluster failed internally) */
};

/* Time budget of one `status` probe of one member. */
#define CLI_PROBE_TIMEOUT_MS 1000
/* One error line: a reason that quotes a few ids, addresses or a node's message. */
#define CLI_MESSAGE_BYTES_MAX 1024
_Static_assert(CLI_MESSAGE_BYTES_MAX > CALLRAFT_ERRMSG_BYTES + CALLRAFT_ADDRESS_BYTES_MAX,
	       "an error line holds the library's message and an address");
/* Longest --timeout accepted: a day; anything longer is a typo. */
#define CLI_TIMEOUT_MS_MAX (24 * 3600 * 1000)

struct cli {
	const char *cluster;  /* --cluster, else $CALLRAFT_CLUSTER (read at the first send) */
	bool json;            /* --json */
	bool stale;           /* --stale: reads served by any node */
	int timeout_ms;       /* --timeout; 0: the library's default */
	char command[32];     /* "call answer": prefixes messages */
	const char *usage;    /* the command's usage line, for "missing argument" */
	struct callraft_client *client; /* opened at the first send */
};

/* Long-only option values shared by every command (above any character value). */
enum {
	CLI_OPT_CLUSTER = 256,
	CLI_OPT_JSON,
	CLI_OPT_STALE,
	CLI_OPT_TIMEOUT,
	CLI_OPT_FIRST_FREE, /* a command's own options are numbered from here */
};

#define CLI_COMMON_OPTIONS                                                                         \
	{"cluster", required_argument, NULL, CLI_OPT_CLUSTER},                                     \
	    {"json", no_argument, NULL, CLI_OPT_JSON}, {"stale", no_argument, NULL, CLI_OPT_STALE}, \
	    {"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},                                 \
	    {"help", no_argument, NULL, 'h'}, { NULL, 0, NULL, 0 }

/* The getopt_long short-option string of every command: only -h, and ':' to report a missing
 * argument as ':'. */
#define CLI_SHORT_OPTIONS ":h"


/* Prints the usage of every command to `f`. */
void cli_usage(FILE *f);

/* Reports an error and returns `exit_code`. `code` is the JSON error code ("NOT_FOUND"). */
int cli_fail(struct cli *cli, int exit_code, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define cli_usage_error(cli, ...) cli_fail((cli), CLI_EXIT_USAGE, "INVALID_ARGUMENT", __VA_ARGS__)

/* Sends `req` through the cluster (reads get cli->stale). Returns CLI_EXIT_OK with *out set (free
 * with callraft__reply__free_unpacked), or the exit code after reporting the error. */
int cli_send(struct cli *cli, Callraft__Request *req, Callraft__Reply **out);

/* The exit code of a reply code. */
int cli_exit_for_code(Callraft__Code code);

/* Local validation, reporting a usage error (returns != 0) naming `what`. */
int cli_check_id(struct cli *cli, const char *what, const char *s);           /* printable, no space */
int cli_check_name(struct cli *cli, const char *what, const char *s, size_t max); /* [A-Za-z0-9._-] */
int cli_check_phone(struct cli *cli, const char *what, const char *s);        /* [+][0-9*#] */
int cli_check_text(struct cli *cli, const char *what, const char *s, size_t max); /* length */
int cli_check_address(struct cli *cli, const char *what, const char *s);      /* host:port */
int cli_parse_u64(const char *s, uint64_t *out);                              /* strict decimal */
int cli_parse_limit(struct cli *cli, const char *s, uint32_t *out);          /* 1..LIST_LIMIT_MAX */
int cli_parse_member_id(struct cli *cli, const char *s, uint64_t *out);       /* >= 1 */
/* "30s", "1500ms", "10m", "2h", "1d" or milliseconds, 0..max (option `opt` in errors). */
int cli_parse_duration(struct cli *cli, const char *opt, const char *s, int64_t max, int64_t *out);

/* Sets *out to the one of `values` (n of enum `d`) whose CLI name (cli_enum_name) is `s`;
 * otherwise a usage error listing those names ("what: 's': expected a, b or c"). */
int cli_parse_enum(struct cli *cli, const char *what, const char *s,
		   const ProtobufCEnumDescriptor *d, const int *values, size_t n, int *out);

/* Display helpers. Buffers: at least 32 bytes. */
int64_t cli_now_ms(void); /* wall clock, ms since the epoch */
void cli_format_time(int64_t ms, char *buf, size_t len);     /* "2026-01-31T12:00:00Z" or "-" */
void cli_format_duration(int64_t ms, char *buf, size_t len); /* "42s", "3m05s", "2h03m" */
const char *cli_tier_name(uint32_t tier);                    /* "gold", or NULL above 3 */
void cli_format_tier(uint32_t tier, char *buf, size_t len);  /* "2 (gold)" */
/* A list cursor (Reply.next_cursor) as hex, and back (the length, or -1): a key of the list, at
 * most CLI_CURSOR_BYTES_MAX bytes (a customer id and two 8-byte numbers, with room). */
#define CLI_CURSOR_BYTES_MAX (CALLRAFT_ID_BYTES_MAX + 24)
void cli_cursor_hex(const ProtobufCBinaryData *c, char *out, size_t len);
int cli_cursor_parse(const char *hex, uint8_t *buf, size_t cap);
/* The command's --cursor option, if given, into *out (a buffer kept until the request is sent):
 * CLI_EXIT_OK, or a usage error if it is not a cursor. */
int cli_cursor_option(struct cli *cli, const struct cli_args *a, ProtobufCBinaryData *out);
/* --tier: a name (regular, silver, gold, diamond) or 0..CALLRAFT_TIER_MAX; else a usage error. */
int cli_parse_tier(struct cli *cli, const char *s, uint32_t *out);
/* The CLI's name of an enum value: the protocol's name from the descriptor protoc-c generated, in
 * lower case with '-' for '_' ("ON_CALL" -> "on-call"); for the zero value and a value this build
 * does not know, "unknown" ("-" for ticket statuses and member roles). The string is kept for the
 * life of the process (at most CLI_ENUM_NAMES_MAX names are made). */
const char *cli_enum_name(const ProtobufCEnumDescriptor *d, int value);
#define cli_call_state_name(s) cli_enum_name(&callraft__call_state__descriptor, (int)(s))
#define cli_agent_state_name(s) cli_enum_name(&callraft__agent_state__descriptor, (int)(s))
#define cli_ticket_status_name(s) cli_enum_name(&callraft__ticket_status__descriptor, (int)(s))
#define cli_role_name(r) cli_enum_name(&callraft__member_role__descriptor, (int)(r))

/* Prints a list either as JSON, {"<key>": arr}, or as the text table `t`; releases both. Returns
 * CLI_EXIT_OK. */
int cli_print_list(struct cli *cli, const char *key, json_object *arr, struct cli_table *t);
/* Prints `obj` as one line of JSON on stdout and drops the reference. Returns CLI_EXIT_OK. */
int cli_print_json(json_object *obj);
/* json_object_object_add shortcuts; NULL strings become "". */
void cli_json_str(json_object *o, const char *key, const char *value);
void cli_json_u64(json_object *o, const char *key, uint64_t value);
void cli_json_i64(json_object *o, const char *key, int64_t value);
/* Adds the named scalar fields of `m` (a NULL-terminated list, in output order) under their
 * protocol names, typed from the descriptor: strings, numbers, booleans, and enums by their CLI
 * names (cli_call_state_name, ...). */
void cli_json_fields(json_object *o, const ProtobufCMessage *m, ...) __attribute__((sentinel));

/* A text table: columns padded to their widest cell. Rows are bounded by the reply they show. */
#define CLI_TABLE_COLS_MAX 16
struct cli_table {
	unsigned n_cols;
	unsigned n_rows; /* including the header */
	char **cells;    /* n_rows * n_cols, owned */
};
void cli_table_init(struct cli_table *t, unsigned n_cols, const char *const *headers);
void cli_table_add(struct cli_table *t, const char *const *cells);
/* Adds a row of the named scalar fields of `m` (a NULL-terminated list, one a column): int64
 * fields named *_ms as times (cli_format_time), enums by their CLI names, the rest as JSON shows
 * them. */
void cli_table_add_fields(struct cli_table *t, const ProtobufCMessage *m, ...)
	__attribute__((sentinel));
void cli_table_print(const struct cli_table *t, FILE *f);
void cli_table_release(struct cli_table *t);

/* ---- The command table ---------------------------------------------------------------- */

/* Most options one command has (queue configure: 8). */
#define CLI_OPTIONS_MAX 12

/* How a key command's option is checked before it is copied into the operation's string field of
 * the same name (CLI_KEY_REQUEST commands; other commands check their options themselves). */
enum cli_check {
	CLI_CHECK_NONE = 0,
	CLI_CHECK_PHONE, /* cli_check_phone, unless empty */
	CLI_CHECK_TEXT,  /* cli_check_text, at most `max` bytes */
	CLI_CHECK_NAME,  /* cli_check_name, at most `max` bytes, unless empty */
};

struct cli_option {
	const char *name; /* long name without "--"; NULL ends the list */
	bool flag;        /* takes no value */
	enum cli_check check;
	size_t max;
};

/* Room for the sub-messages and lists a request points to while it is sent (the request
 * borrows them from the parsed arguments). */
struct cli_scratch {
	Callraft__Int64Value i64[10];
	Callraft__Int32Value i32[5];
	Callraft__UInt32Value u32, u32b;
	Callraft__BoolValue b;
	char *list[CALLRAFT_AGENT_SKILLS_MAX];
};

/* One parsed command line. */
struct cli_args {
	const struct cli_command *cmd;
	const char *value[CLI_OPTIONS_MAX]; /* by position in cmd->options: NULL if absent, "" for a
					       flag given */
	char **pos;                         /* the positionals, pos_min..pos_max of them */
	int n_pos;
	int argc;                           /* the command's own words (argv[0]: its last word), */
	char **argv;                        /* for a command with raw_args */
	struct cli_scratch scratch;
};

struct cli_command {
	const char *group;
	const char *verb;  /* NULL: the group is the whole command */
	const char *usage; /* for --help and "missing argument" */
	struct cli_option options[CLI_OPTIONS_MAX];
	int pos_min, pos_max;
	/* Validates the arguments and builds the request: CLI_EXIT_OK, or the exit code after
	 * reporting (cli_usage_error). */
	int (*request)(struct cli *cli, struct cli_args *a, struct callraft_request *r);
	/* Prints the reply (code OK) as text or JSON; returns the exit code. */
	int (*output)(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
		      const Callraft__Reply *reply);
	/* Instead of `request`, for a command whose one positional is the key (field 1) of
	 * operation `op`, checked as an id, or as a name of at most name_max bytes when name_max >
	 * 0, and named `what` in errors (cli_request_key); what == NULL: no key, the options alone
	 * fill the operation. */
	struct {
		const char *what;
		size_t name_max;
		Callraft__Request__OpCase op;
	} key;
	/* Instead of request and output, for commands that are not one request. */
	int (*run)(struct cli *cli, struct cli_args *a);
	bool raw_args; /* run parses a->argc/a->argv itself (bench hands them to a program) */
};

/* The value of option `name` (declared by the command) or NULL if it was not given. */
const char *cli_opt(const struct cli_args *a, const char *name);

/* The request of a command whose one positional is the key (field 1) of operation `op`: checks
 * it as an id, or as a name of at most name_max bytes when name_max > 0, naming it `what` in
 * errors, and builds the request (callraft_request_with_key). */
int cli_request_key(struct cli *cli, const struct cli_args *a, const char *what, size_t name_max,
		    Callraft__Request__OpCase op, struct callraft_request *r);

/* Declares the request and output functions of command `name` (cli_<name>_request, ...). */
#define CLI_DECLARE(name)                                                                          \
	int cli_##name##_request(struct cli *cli, struct cli_args *a, struct callraft_request *r);  \
	int cli_##name##_output(struct cli *cli, const struct cli_args *a,                          \
				const Callraft__Request *req, const Callraft__Reply *reply)
#define CLI_REQUEST(name) .request = cli_##name##_request, .output = cli_##name##_output
/* Declares the output function of a command whose request the table describes (CLI_KEY_REQUEST,
 * CLI_OPTIONS_REQUEST). */
#define CLI_DECLARE_OUTPUT(name)                                                                   \
	int cli_##name##_output(struct cli *cli, const struct cli_args *a,                          \
				const Callraft__Request *req, const Callraft__Reply *reply)
/* The table entry's request of such a command: one positional, the key of CALLRAFT__REQUEST__OP_
 * `op`, checked as `what` (an id, or a name of at most `name_max` bytes); each option given is
 * checked as it declares and fills the operation's string field of the same name. */
#define CLI_KEY_REQUEST(name, what_, name_max_, op_)                                               \
	.pos_min = 1, .pos_max = 1, .key = {(what_), (name_max_), CALLRAFT__REQUEST__OP_##op_},     \
	.output = cli_##name##_output
/* The same for a command without positionals: its options alone fill operation `op`. */
#define CLI_OPTIONS_REQUEST(name, op_)                                                             \
	.key = {NULL, 0, CALLRAFT__REQUEST__OP_##op_}, .output = cli_##name##_output

/* cli_call.c */
CLI_DECLARE(call_enqueue);
CLI_DECLARE(call_next);
CLI_DECLARE(call_answer);
CLI_DECLARE(call_end);
CLI_DECLARE_OUTPUT(call_abandon);
CLI_DECLARE_OUTPUT(call_show);
CLI_DECLARE(queue_show);
/* cli_agent.c */
CLI_DECLARE(agent_login);
CLI_DECLARE(agent_state);
CLI_DECLARE_OUTPUT(agent_logout);
CLI_DECLARE_OUTPUT(agent_show);
CLI_DECLARE_OUTPUT(agent_list);
/* cli_ticket.c */
CLI_DECLARE(ticket_open);
CLI_DECLARE(ticket_update);
CLI_DECLARE_OUTPUT(ticket_show);
CLI_DECLARE(ticket_list);
/* cli_ticket_class.c */
CLI_DECLARE(ticket_class_set);
CLI_DECLARE(ticket_classes);
CLI_DECLARE(ticket_overdue);
CLI_DECLARE(ticket_due_soon);
/* cli_routing.c */
CLI_DECLARE(call_reject);
CLI_DECLARE_OUTPUT(call_callback);
CLI_DECLARE(call_dial);
CLI_DECLARE_OUTPUT(agent_heartbeat);
CLI_DECLARE(queue_configure);
CLI_DECLARE(callback_schedule);
CLI_DECLARE(callback_voicemail);
CLI_DECLARE(site_configure);
CLI_DECLARE_OUTPUT(site_down);
CLI_DECLARE_OUTPUT(site_up);
CLI_DECLARE_OUTPUT(site_heartbeat);
CLI_DECLARE(site_list);
CLI_DECLARE(stats);
CLI_DECLARE(customer_history);
/* cli_campaign.c */
CLI_DECLARE(campaign_create);
CLI_DECLARE(campaign_add);
CLI_DECLARE(campaign_pause);
CLI_DECLARE(campaign_resume);
CLI_DECLARE(campaign_show);
CLI_DECLARE_OUTPUT(campaign_list);
CLI_DECLARE_OUTPUT(campaign_delete);
/* cli_customer.c */
CLI_DECLARE(customer_set);
CLI_DECLARE(customer_show);
/* cli_token.c */
CLI_DECLARE(token_issue);
CLI_DECLARE(token_revoke);
CLI_DECLARE(token_list);
/* cli_cluster.c */
CLI_DECLARE(members_list);
CLI_DECLARE(members_add);
CLI_DECLARE(members_remove);
CLI_DECLARE(members_assign);
CLI_DECLARE(members_transfer);
CLI_DECLARE(rules_upgrade);
int cli_status(struct cli *cli, struct cli_args *a);
int cli_snapshot(struct cli *cli, struct cli_args *a);
/* cli_bench.c */
int cli_bench(struct cli *cli, struct cli_args *a);
/* The event stream and pushed offers (cli_events.c, issue #14). */
CLI_DECLARE(agent_ready);
int cli_events(struct cli *cli, struct cli_args *a);
int cli_agent_offers(struct cli *cli, struct cli_args *a);
int cli_bench_push(struct cli *cli, struct cli_args *a); /* cli_bench_push.c */

/* Prints an agent command's outcome: {"agent":{...},"applied_index":N}, or `text` (none if
 * NULL). */
int cli_agent_done(struct cli *cli, const Callraft__Reply *reply, const char *text);
json_object *cli_json_queue_config(const Callraft__QueueConfig *q);
void cli_print_queue_config(const Callraft__QueueConfig *q);
/* Writes that answer with a message: `done` for humans ("ok"), or {"message":..,
 * "applied_index":..} with the call or agent the reply carries. */
int cli_print_write(struct cli *cli, const Callraft__Reply *reply, const char *done);

/* JSON of model objects (cli_call.c, cli_agent.c, cli_ticket.c, cli_cluster.c). */
json_object *cli_json_call(const Callraft__Call *call);
json_object *cli_json_agent(const Callraft__Agent *agent);
json_object *cli_json_ticket(const Callraft__Ticket *ticket);
json_object *cli_json_member(const Callraft__Member *m);
json_object *cli_json_stats(const Callraft__Stats *s); /* cli_routing.c */
/* Adds the repeated message field `field` of `m` (a reply's "agents", "tickets", ...) under its
 * name: an array of the cli_json_* forms above. */
void cli_json_list(json_object *o, const ProtobufCMessage *m, const char *field);

#endif
