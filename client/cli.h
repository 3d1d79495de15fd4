/* cli.h: shared pieces of the `callraft` command-line tool (client/cli*.c).
 *
 * One command = one handler `int cli_<group>_<verb>(struct cli *, int argc, char **argv)` where
 * argv[0] is the verb and the rest its arguments; it returns the process exit code. Handlers parse
 * with getopt_long (CLI_COMMON_OPTIONS are accepted everywhere), validate locally, send one or more
 * requests through cli_send, and print either text (stdout) or exactly one JSON object (--json).
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

enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_BUSINESS = 1,    /* NOT_FOUND, BAD_STATE, QUEUE_EMPTY, STALE_TOKEN, ALREADY_EXISTS */
	CLI_EXIT_USAGE = 2,       /* bad command line, or INVALID_ARGUMENT from the node */
	CLI_EXIT_UNAVAILABLE = 3, /* no node answered in time (or the cluster failed internally) */
};

/* Time budget of one `status` probe of one member. */
#define CLI_PROBE_TIMEOUT_MS 1000
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
	CLI_OPT_FIRST_FREE, /* commands number their own long-only options from here */
};

#define CLI_COMMON_OPTIONS                                                                         \
	{"cluster", required_argument, NULL, CLI_OPT_CLUSTER},                                     \
	    {"json", no_argument, NULL, CLI_OPT_JSON}, {"stale", no_argument, NULL, CLI_OPT_STALE}, \
	    {"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},                                 \
	    {"help", no_argument, NULL, 'h'}, { NULL, 0, NULL, 0 }

/* The getopt_long short-option string of every command: only -h, and ':' to report a missing
 * argument as ':'. */
#define CLI_SHORT_OPTIONS ":h"

/* Handles an option that is not the command's own (common options, '?', ':'). Returns -1 to go on
 * parsing, else the exit code to return now. -h/--help prints the usage and exits the process. */
int cli_common_option(struct cli *cli, int opt, char **argv);

/* Parses the options of a command that has none of its own: -1 to go on, else the exit code. */
int cli_options_none(struct cli *cli, int argc, char **argv);

/* Prints the usage of every command to `f`. */
void cli_usage(FILE *f);

/* Reports an error and returns `exit_code`. `code` is the JSON error code ("NOT_FOUND"). */
int cli_fail(struct cli *cli, int exit_code, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define cli_usage_error(cli, ...) cli_fail((cli), CLI_EXIT_USAGE, "INVALID_ARGUMENT", __VA_ARGS__)

/* Checks that want_min..want_max positional arguments remain after getopt (argv[optind..]). */
int cli_positionals(struct cli *cli, int argc, char **argv, int want_min, int want_max);

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

/* Display helpers. Buffers: at least 32 bytes. */
int64_t cli_now_ms(void); /* wall clock, ms since the epoch */
void cli_format_time(int64_t ms, char *buf, size_t len);     /* "2026-01-31T12:00:00Z" or "-" */
void cli_format_duration(int64_t ms, char *buf, size_t len); /* "42s", "3m05s", "2h03m" */
const char *cli_tier_name(uint32_t tier);                    /* "gold", or NULL above 3 */
const char *cli_call_state_name(Callraft__CallState s);
const char *cli_agent_state_name(Callraft__AgentState s);
const char *cli_ticket_status_name(Callraft__TicketStatus s);
const char *cli_role_name(Callraft__MemberRole r);

/* Prints `obj` as one line of JSON on stdout and drops the reference. Returns CLI_EXIT_OK. */
int cli_print_json(json_object *obj);
/* json_object_object_add shortcuts; NULL strings become "". */
void cli_json_str(json_object *o, const char *key, const char *value);
void cli_json_u64(json_object *o, const char *key, uint64_t value);
void cli_json_i64(json_object *o, const char *key, int64_t value);

/* A text table: columns padded to their widest cell. Rows are bounded by the reply they show. */
struct cli_table {
	unsigned n_cols;
	unsigned n_rows; /* including the header */
	char **cells;    /* n_rows * n_cols, owned */
};
void cli_table_init(struct cli_table *t, unsigned n_cols, const char *const *headers);
void cli_table_add(struct cli_table *t, const char *const *cells);
void cli_table_print(const struct cli_table *t, FILE *f);
void cli_table_release(struct cli_table *t);

/* Commands (cli_cluster.c, cli_call.c, cli_agent.c, cli_ticket.c). */
int cli_status(struct cli *cli, int argc, char **argv);
int cli_members_list(struct cli *cli, int argc, char **argv);
int cli_members_add(struct cli *cli, int argc, char **argv);
int cli_members_remove(struct cli *cli, int argc, char **argv);
int cli_members_assign(struct cli *cli, int argc, char **argv);
int cli_snapshot(struct cli *cli, int argc, char **argv);
int cli_members_transfer(struct cli *cli, int argc, char **argv);
int cli_call_enqueue(struct cli *cli, int argc, char **argv);
int cli_call_next(struct cli *cli, int argc, char **argv);
int cli_call_answer(struct cli *cli, int argc, char **argv);
int cli_call_end(struct cli *cli, int argc, char **argv);
int cli_call_abandon(struct cli *cli, int argc, char **argv);
int cli_call_show(struct cli *cli, int argc, char **argv);
int cli_queue_show(struct cli *cli, int argc, char **argv);
int cli_agent_login(struct cli *cli, int argc, char **argv);
int cli_agent_state(struct cli *cli, int argc, char **argv);
int cli_agent_logout(struct cli *cli, int argc, char **argv);
int cli_agent_show(struct cli *cli, int argc, char **argv);
int cli_agent_list(struct cli *cli, int argc, char **argv);
int cli_ticket_open(struct cli *cli, int argc, char **argv);
int cli_ticket_update(struct cli *cli, int argc, char **argv);
int cli_ticket_show(struct cli *cli, int argc, char **argv);
int cli_ticket_list(struct cli *cli, int argc, char **argv);
/* Routing (cli_routing.c). */
int cli_call_reject(struct cli *cli, int argc, char **argv);
int cli_call_callback(struct cli *cli, int argc, char **argv);
int cli_call_dial(struct cli *cli, int argc, char **argv);
int cli_agent_heartbeat(struct cli *cli, int argc, char **argv);
int cli_queue_configure(struct cli *cli, int argc, char **argv);
int cli_callback_schedule(struct cli *cli, int argc, char **argv);
int cli_callback_voicemail(struct cli *cli, int argc, char **argv);
int cli_site_configure(struct cli *cli, int argc, char **argv);
int cli_site_down(struct cli *cli, int argc, char **argv);
int cli_site_up(struct cli *cli, int argc, char **argv);
int cli_site_list(struct cli *cli, int argc, char **argv);
int cli_stats(struct cli *cli, int argc, char **argv);
int cli_customer_history(struct cli *cli, int argc, char **argv);
json_object *cli_json_queue_config(const Callraft__QueueConfig *q);
void cli_print_queue_config(const Callraft__QueueConfig *q);
int cli_bench(struct cli *cli, int argc, char **argv); /* cli_bench.c */
/* The event stream and pushed offers (cli_events.c, issue #14). */
int cli_events(struct cli *cli, int argc, char **argv);
int cli_agent_ready(struct cli *cli, int argc, char **argv);
int cli_agent_offers(struct cli *cli, int argc, char **argv);
int cli_bench_push(struct cli *cli, int argc, char **argv); /* cli_bench_push.c */

/* JSON of model objects (cli_call.c, cli_agent.c, cli_ticket.c, cli_cluster.c). */
json_object *cli_json_call(const Callraft__Call *call);
json_object *cli_json_agent(const Callraft__Agent *agent);
json_object *cli_json_ticket(const Callraft__Ticket *ticket);
json_object *cli_json_member(const Callraft__Member *m);

#endif
