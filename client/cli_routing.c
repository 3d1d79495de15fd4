/* cli_routing.c: the routing commands of issue #3: offers declined, presence, queue and site
 * configuration, callbacks and dial attempts, site loss, stats and customer history.
 *
 * Durations are typed with a unit ("30s", "1500ms", "10m", "2h"); a bare number is milliseconds.
 * Times of day are "HH:MM"; UTC offsets "+HH:MM" or "-HH:MM". */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "callraft_limits.h"

/* ---- parsing ---------------------------------------------------------------------------- */

/* "30s", "1500ms", "10m", "2h", "1d" or milliseconds, 0..max. */
static int cli_parse_duration(struct cli *cli, const char *opt, const char *s, int64_t max,
			      int64_t *out)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {{"ms", 1},	     {"s", 1000},     {"m", 60000},
		     {"h", 3600000}, {"d", 86400000}, {"", 1}};
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end != s && s[0] != '-') {
		for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
			if (strcmp(end, units[i].unit) == 0 &&
			    v <= (unsigned long long)(max / units[i].ms)) {
				*out = (int64_t)v * units[i].ms;
				return CLI_EXIT_OK;
			}
		}
	}
	return cli_usage_error(cli,
			       "%s: '%s': expected a duration such as 30s, 1500ms, 10m or 2h "
			       "(at most %lld ms)",
			       opt, s, (long long)max);
}

/* "HH:MM" (optionally signed, for offsets) into minutes. */
static int cli_parse_clock(struct cli *cli, const char *opt, const char *s, bool sign, int *out)
{
	int h, m, neg = 0;
	char extra;

	if (sign && (s[0] == '+' || s[0] == '-'))
		neg = *s++ == '-';
	if (sscanf(s, "%2d:%2d%c", &h, &m, &extra) != 2 || h < 0 || m < 0 || m > 59 ||
	    h > (sign ? 14 : 23))
		return cli_usage_error(cli, "%s: '%s': expected %sHH:MM", opt, s,
				       sign ? "+/-" : "");
	*out = (neg ? -1 : 1) * (h * 60 + m);
	return CLI_EXIT_OK;
}

static Callraft__Int64Value *i64_of(Callraft__Int64Value *slot, int64_t v)
{
	*slot = (Callraft__Int64Value)CALLRAFT__INT64_VALUE__INIT;
	slot->value = v;
	return slot;
}

static Callraft__Int32Value *i32_of(Callraft__Int32Value *slot, int32_t v)
{
	*slot = (Callraft__Int32Value)CALLRAFT__INT32_VALUE__INIT;
	slot->value = v;
	return slot;
}

/* Sends a write and prints `done` (text) or {"message":..,"applied_index":..} (JSON). */
static int cli_write(struct cli *cli, Callraft__Request *req, const char *done)
{
	Callraft__Reply *reply;
	int rv = cli_send(cli, req, &reply);

	if (rv != CLI_EXIT_OK)
		return rv;
	if (cli->json) {
		json_object *top = json_object_new_object();
		if (reply->call != NULL)
			json_object_object_add(top, "call", cli_json_call(reply->call));
		if (reply->agent != NULL)
			json_object_object_add(top, "agent", cli_json_agent(reply->agent));
		cli_json_str(top, "message", reply->message);
		cli_json_u64(top, "applied_index", reply->applied_index);
		cli_print_json(top);
	} else {
		printf("%s%s%s\n", done, reply->message[0] ? ": " : "", reply->message);
	}
	callraft__reply__free_unpacked(reply, NULL);
	return CLI_EXIT_OK;
}

/* Options of a command that takes only common options and `n` positionals (ids). */
static int cli_args(struct cli *cli, int argc, char **argv, int n)
{
	int rv = cli_options_none(cli, argc, argv);

	if (rv >= 0)
		return rv;
	if ((rv = cli_positionals(cli, argc, argv, n, n)) != CLI_EXIT_OK)
		return rv;
	return CLI_EXIT_OK;
}

/* ---- calls and agents ------------------------------------------------------------------- */

int cli_call_reject(struct cli *cli, int argc, char **argv)
{
	enum { OPT_AGENT = CLI_OPT_FIRST_FREE, OPT_TOKEN };
	static const struct option options[] = {{"agent", required_argument, NULL, OPT_AGENT},
						{"token", required_argument, NULL, OPT_TOKEN},
						CLI_COMMON_OPTIONS};
	Callraft__CallReject op = CALLRAFT__CALL_REJECT__INIT;
	const char *token = NULL;
	int opt, rv;

	while ((opt = getopt_long(argc, argv, CLI_SHORT_OPTIONS, options, NULL)) != -1) {
		if (opt == OPT_AGENT)
			op.agent_id = optarg;
		else if (opt == OPT_TOKEN)
			token = optarg;
		else if ((rv = cli_common_option(cli, opt, argv)) >= 0)
			return rv;
	}
	if ((rv = cli_positionals(cli, argc, argv, 1, 1)) != CLI_EXIT_OK)
		return rv;
	op.call_id = argv[optind];
	if (op.agent_id[0] == '\0' || token == NULL)
		return cli_usage_error(cli, "--agent and --token are required");
	unsigned long long term, index;
	char extra;
	if (sscanf(token, "%llu.%llu%c", &term, &index, &extra) != 2 || term == 0)
		return cli_usage_error(
		    cli, "--token: '%s': expected TERM.INDEX as printed by 'call next'", token);
	op.offer_term = term;
	op.offer_index = index;
	if ((rv = cli_check_id(cli, "call id", op.call_id)) ||
	    (rv = cli_check_id(cli, "--agent", op.agent_id)))
		return rv;
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_CALL_REJECT;
	req.call_reject = &op;
	return cli_write(cli, &req, "call returned to the queue (place kept)");
}

int cli_call_callback(struct cli *cli, int argc, char **argv)
{
	enum { OPT_NUMBER = CLI_OPT_FIRST_FREE };
	static const struct option options[] = {{"number", required_argument, NULL, OPT_NUMBER},
						CLI_COMMON_OPTIONS};
	Callraft__CallbackRequest op = CALLRAFT__CALLBACK_REQUEST__INIT;
	int opt, rv;

	while ((opt = getopt_long(argc, argv, CLI_SHORT_OPTIONS, options, NULL)) != -1) {
		if (opt == OPT_NUMBER)
			op.number = optarg;
		else if ((rv = cli_common_option(cli, opt, argv)) >= 0)
			return rv;
	}
	if ((rv = cli_positionals(cli, argc, argv, 1, 1)) != CLI_EXIT_OK ||
	    (rv = cli_check_id(cli, "call id", argv[optind])) ||
	    (op.number[0] && (rv = cli_check_phone(cli, "--number", op.number))))
		return rv;
	op.call_id = argv[optind];
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_CALLBACK_REQUEST;
	req.callback_request = &op;
	return cli_write(cli, &req, "callback requested (place kept)");
}

int cli_call_dial(struct cli *cli, int argc, char **argv)
{
	enum { OPT_AGENT = CLI_OPT_FIRST_FREE };
	static const struct option options[] = {{"agent", required_argument, NULL, OPT_AGENT},
						CLI_COMMON_OPTIONS};
	Callraft__CallDialAttempt op = CALLRAFT__CALL_DIAL_ATTEMPT__INIT;
	int opt, rv;

	while ((opt = getopt_long(argc, argv, CLI_SHORT_OPTIONS, options, NULL)) != -1) {
		if (opt == OPT_AGENT)
			op.agent_id = optarg;
		else if ((rv = cli_common_option(cli, opt, argv)) >= 0)
			return rv;
	}
	if ((rv = cli_positionals(cli, argc, argv, 1, 1)) != CLI_EXIT_OK)
		return rv;
	op.call_id = argv[optind];
	if (op.agent_id[0] == '\0')
		return cli_usage_error(cli, "--agent is required");
	if ((rv = cli_check_id(cli, "call id", op.call_id)) ||
	    (rv = cli_check_id(cli, "--agent", op.agent_id)))
		return rv;
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_CALL_DIAL_ATTEMPT;
	req.call_dial_attempt = &op;
	return cli_write(cli, &req, "dial attempt recorded: dial now");
}

int cli_agent_heartbeat(struct cli *cli, int argc, char **argv)
{
	Callraft__AgentHeartbeat op = CALLRAFT__AGENT_HEARTBEAT__INIT;
	int rv = cli_args(cli, argc, argv, 1);

	if (rv != CLI_EXIT_OK || (rv = cli_check_id(cli, "agent", argv[optind])))
		return rv;
	op.agent_id = argv[optind];
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_AGENT_HEARTBEAT;
	req.agent_heartbeat = &op;
	return cli_write(cli, &req, "heartbeat recorded");
}

/* ---- queue configuration ---------------------------------------------------------------- */

json_object *cli_json_queue_config(const Callraft__QueueConfig *q)
{
	json_object *o = json_object_new_object();
	cli_json_i64(o, "overflow_after_ms", q->overflow_after_ms);
	cli_json_i64(o, "offer_timeout_ms", q->offer_timeout_ms);
	cli_json_i64(o, "known_agent_timeout_ms", q->known_agent_timeout_ms);
	cli_json_i64(o, "aging_ms_per_tier", q->aging_ms_per_tier);
	cli_json_i64(o, "service_level_ms", q->service_level_ms);
	cli_json_i64(o, "wrap_up_ms", q->wrap_up_ms);
	cli_json_u64(o, "top_tier", q->top_tier);
	cli_json_i64(o, "redial_window_ms", q->redial_window_ms);
	return o;
}

void cli_print_queue_config(const Callraft__QueueConfig *q)
{
	char a[32], b[32], c[32], d[32], e[32], f[32], g[32];
	cli_format_duration(q->overflow_after_ms, a, sizeof a);
	cli_format_duration(q->offer_timeout_ms, b, sizeof b);
	cli_format_duration(q->known_agent_timeout_ms, c, sizeof c);
	cli_format_duration(q->aging_ms_per_tier, d, sizeof d);
	cli_format_duration(q->service_level_ms, e, sizeof e);
	cli_format_duration(q->wrap_up_ms, f, sizeof f);
	cli_format_duration(q->redial_window_ms, g, sizeof g);
	printf(
	    "config: overflow-after %s, offer-timeout %s, known-agent-timeout %s, aging %s/tier,\n"
	    "        service-level %s, wrap-up %s, top-tier %u, redial-window %s\n",
	    a, b, c, d, e, f, q->top_tier, g);
}

int cli_queue_configure(struct cli *cli, int argc, char **argv)
{
	enum {
		OPT_OVERFLOW = CLI_OPT_FIRST_FREE,
		OPT_OFFER,
		OPT_KNOWN,
		OPT_AGING,
		OPT_SL,
		OPT_WRAP,
		OPT_TOP,
		OPT_REDIAL
	};
	static const struct option options[] = {
	    {"overflow-after", required_argument, NULL, OPT_OVERFLOW},
	    {"offer-timeout", required_argument, NULL, OPT_OFFER},
	    {"known-agent-timeout", required_argument, NULL, OPT_KNOWN},
	    {"aging", required_argument, NULL, OPT_AGING},
	    {"service-level", required_argument, NULL, OPT_SL},
	    {"wrap-up", required_argument, NULL, OPT_WRAP},
	    {"top-tier", required_argument, NULL, OPT_TOP},
	    {"redial-window", required_argument, NULL, OPT_REDIAL},
	    CLI_COMMON_OPTIONS};
	Callraft__QueueConfigure op = CALLRAFT__QUEUE_CONFIGURE__INIT;
	Callraft__Int64Value v[7];
	Callraft__UInt32Value top = CALLRAFT__UINT32_VALUE__INIT;
	Callraft__Int64Value **slot[] = {&op.overflow_after_ms,
					 &op.offer_timeout_ms,
					 &op.known_agent_timeout_ms,
					 &op.aging_ms_per_tier,
					 &op.service_level_ms,
					 &op.wrap_up_ms,
					 NULL,
					 &op.redial_window_ms};
	int opt, rv;

	while ((opt = getopt_long(argc, argv, CLI_SHORT_OPTIONS, options, NULL)) != -1) {
		int i = opt - OPT_OVERFLOW;
		int64_t ms;
		uint64_t n;
		if (opt == OPT_TOP) {
			if (cli_parse_u64(optarg, &n) != 0 || n > CALLRAFT_TIER_MAX + 1)
				return cli_usage_error(cli, "--top-tier: '%s': expected 0..%d",
						       optarg, CALLRAFT_TIER_MAX + 1);
			top.value = (uint32_t)n;
			op.top_tier = &top;
		} else if (opt >= OPT_OVERFLOW && opt <= OPT_REDIAL) {
			if ((rv = cli_parse_duration(cli, options[i].name, optarg,
						     CALLRAFT_CONFIG_MS_MAX, &ms)) != CLI_EXIT_OK)
				return rv;
			*slot[i] = i64_of(&v[i < 6 ? i : 6], ms);
		} else if ((rv = cli_common_option(cli, opt, argv)) >= 0) {
			return rv;
		}
	}
	if ((rv = cli_positionals(cli, argc, argv, 1, 1)) != CLI_EXIT_OK ||
	    (rv = cli_check_name(cli, "queue", argv[optind], CALLRAFT_QUEUE_BYTES_MAX)))
		return rv;
	op.queue = argv[optind];
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_QUEUE_CONFIGURE;
	req.queue_configure = &op;
	return cli_write(cli, &req, "ok");
}

/* ---- callbacks -------------------------------------------------------------------------- */

/* Common options of `callback schedule` and `callback voicemail`. */
struct cb_args {
	const char *id, *number, *queue, *customer, *site, *at;
	uint32_t tier;
};

static int cli_callback_args(struct cli *cli, int argc, char **argv, struct cb_args *a)
{
	enum {
		OPT_ID = CLI_OPT_FIRST_FREE,
		OPT_NUMBER,
		OPT_QUEUE,
		OPT_CUSTOMER,
		OPT_SITE,
		OPT_AT,
		OPT_TIER
	};
	static const struct option options[] = {{"id", required_argument, NULL, OPT_ID},
						{"number", required_argument, NULL, OPT_NUMBER},
						{"queue", required_argument, NULL, OPT_QUEUE},
						{"customer", required_argument, NULL, OPT_CUSTOMER},
						{"site", required_argument, NULL, OPT_SITE},
						{"at", required_argument, NULL, OPT_AT},
						{"tier", required_argument, NULL, OPT_TIER},
						CLI_COMMON_OPTIONS};
	const char **field[] = {&a->id, &a->number, &a->queue, &a->customer, &a->site, &a->at};
	int opt, rv;
	uint64_t n;

	while ((opt = getopt_long(argc, argv, CLI_SHORT_OPTIONS, options, NULL)) != -1) {
		if (opt == OPT_TIER) {
			if (cli_parse_u64(optarg, &n) != 0 || n > CALLRAFT_TIER_MAX)
				return cli_usage_error(cli, "--tier: '%s': expected 0..%d", optarg,
						       CALLRAFT_TIER_MAX);
			a->tier = (uint32_t)n;
		} else if (opt >= OPT_ID && opt < OPT_TIER) {
			*field[opt - OPT_ID] = optarg;
		} else if ((rv = cli_common_option(cli, opt, argv)) >= 0) {
			return rv;
		}
	}
	if ((rv = cli_positionals(cli, argc, argv, 0, 0)) != CLI_EXIT_OK)
		return rv;
	if (a->id == NULL || a->number == NULL || a->queue == NULL)
		return cli_usage_error(cli, "--id, --number and --queue are required");
	if ((rv = cli_check_id(cli, "--id", a->id)) ||
	    (rv = cli_check_phone(cli, "--number", a->number)) ||
	    (rv = cli_check_name(cli, "--queue", a->queue, CALLRAFT_QUEUE_BYTES_MAX)) ||
	    (a->customer && (rv = cli_check_id(cli, "--customer", a->customer))))
		return rv;
	return CLI_EXIT_OK;
}

int cli_callback_schedule(struct cli *cli, int argc, char **argv)
{
	struct cb_args a = {0};
	Callraft__CallbackSchedule op = CALLRAFT__CALLBACK_SCHEDULE__INIT;
	int64_t ms;
	int rv = cli_callback_args(cli, argc, argv, &a);

	if (rv != CLI_EXIT_OK)
		return rv;
	if (a.at == NULL)
		return cli_usage_error(
		    cli, "--at is required (+DURATION from now, or ms since the epoch)");
	if (a.at[0] == '+') {
		if ((rv = cli_parse_duration(cli, "--at", a.at + 1, CALLRAFT_CALLBACK_AHEAD_MS_MAX,
					     &ms)))
			return rv;
		op.at_ms = cli_now_ms() + ms;
	} else if (cli_parse_u64(a.at, (uint64_t *)&op.at_ms) != 0 || op.at_ms <= 0) {
		return cli_usage_error(cli, "--at: '%s': expected +DURATION or ms since the epoch",
				       a.at);
	}
	op.callback_id = (char *)a.id;
	op.number = (char *)a.number;
	op.queue = (char *)a.queue;
	op.customer_id = (char *)(a.customer ? a.customer : "");
	op.tier = a.tier;
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_CALLBACK_SCHEDULE;
	req.callback_schedule = &op;
	return cli_write(cli, &req, "callback scheduled");
}

int cli_callback_voicemail(struct cli *cli, int argc, char **argv)
{
	struct cb_args a = {0};
	Callraft__CallbackVoicemail op = CALLRAFT__CALLBACK_VOICEMAIL__INIT;
	int rv = cli_callback_args(cli, argc, argv, &a);

	if (rv != CLI_EXIT_OK)
		return rv;
	if (a.site == NULL)
		return cli_usage_error(cli, "--site is required");
	if ((rv = cli_check_name(cli, "--site", a.site, CALLRAFT_SITE_BYTES_MAX)))
		return rv;
	op.callback_id = (char *)a.id;
	op.number = (char *)a.number;
	op.queue = (char *)a.queue;
	op.site = (char *)a.site;
	op.customer_id = (char *)(a.customer ? a.customer : "");
	op.tier = a.tier;
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_CALLBACK_VOICEMAIL;
	req.callback_voicemail = &op;
	return cli_write(cli, &req, "voicemail callback held until the site opens");
}

/* ---- sites ------------------------------------------------------------------------------ */

int cli_site_configure(struct cli *cli, int argc, char **argv)
{
	enum { OPT_OPENS = CLI_OPT_FIRST_FREE, OPT_CLOSES, OPT_OFFSET, OPT_PRESENCE, OPT_LOSS };
	static const struct option options[] = {
	    {"opens", required_argument, NULL, OPT_OPENS},
	    {"closes", required_argument, NULL, OPT_CLOSES},
	    {"utc-offset", required_argument, NULL, OPT_OFFSET},
	    {"presence-timeout", required_argument, NULL, OPT_PRESENCE},
	    {"loss-after", required_argument, NULL, OPT_LOSS},
	    CLI_COMMON_OPTIONS};
	Callraft__SiteConfigure op = CALLRAFT__SITE_CONFIGURE__INIT;
	Callraft__Int32Value i32[3];
	Callraft__Int64Value i64[2];
	int opt, rv, minutes = 0;
	int64_t ms;

	while ((opt = getopt_long(argc, argv, CLI_SHORT_OPTIONS, options, NULL)) != -1) {
		if (opt == OPT_OPENS || opt == OPT_CLOSES || opt == OPT_OFFSET) {
			if ((rv = cli_parse_clock(cli, options[opt - OPT_OPENS].name, optarg,
						  opt == OPT_OFFSET, &minutes)))
				return rv;
			Callraft__Int32Value *v = i32_of(&i32[opt - OPT_OPENS], minutes);
			if (opt == OPT_OPENS)
				op.opens_at_minute = v;
			else if (opt == OPT_CLOSES)
				op.closes_at_minute = v;
			else
				op.utc_offset_minutes = v;
		} else if (opt == OPT_PRESENCE || opt == OPT_LOSS) {
			if ((rv = cli_parse_duration(cli, options[opt - OPT_OPENS].name, optarg,
						     CALLRAFT_CONFIG_MS_MAX, &ms)))
				return rv;
			if (opt == OPT_PRESENCE)
				op.presence_timeout_ms = i64_of(&i64[0], ms);
			else
				op.site_loss_after_ms = i64_of(&i64[1], ms);
		} else if ((rv = cli_common_option(cli, opt, argv)) >= 0) {
			return rv;
		}
	}
	if ((rv = cli_positionals(cli, argc, argv, 1, 1)) != CLI_EXIT_OK ||
	    (rv = cli_check_name(cli, "site", argv[optind], CALLRAFT_SITE_BYTES_MAX)))
		return rv;
	op.site = argv[optind];
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_SITE_CONFIGURE;
	req.site_configure = &op;
	return cli_write(cli, &req, "ok");
}

int cli_site_down(struct cli *cli, int argc, char **argv)
{
	enum { OPT_REASON = CLI_OPT_FIRST_FREE };
	static const struct option options[] = {{"reason", required_argument, NULL, OPT_REASON},
						CLI_COMMON_OPTIONS};
	Callraft__SiteDown op = CALLRAFT__SITE_DOWN__INIT;
	int opt, rv;

	while ((opt = getopt_long(argc, argv, CLI_SHORT_OPTIONS, options, NULL)) != -1) {
		if (opt == OPT_REASON)
			op.reason = optarg;
		else if ((rv = cli_common_option(cli, opt, argv)) >= 0)
			return rv;
	}
	if ((rv = cli_positionals(cli, argc, argv, 1, 1)) != CLI_EXIT_OK ||
	    (rv = cli_check_name(cli, "site", argv[optind], CALLRAFT_SITE_BYTES_MAX)) ||
	    (rv = cli_check_text(cli, "--reason", op.reason, CALLRAFT_REASON_BYTES_MAX)))
		return rv;
	op.site = argv[optind];
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_SITE_DOWN;
	req.site_down = &op;
	return cli_write(cli, &req, "ok");
}

int cli_site_up(struct cli *cli, int argc, char **argv)
{
	Callraft__SiteUp op = CALLRAFT__SITE_UP__INIT;
	int rv = cli_args(cli, argc, argv, 1);

	if (rv != CLI_EXIT_OK ||
	    (rv = cli_check_name(cli, "site", argv[optind], CALLRAFT_SITE_BYTES_MAX)))
		return rv;
	op.site = argv[optind];
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_SITE_UP;
	req.site_up = &op;
	return cli_write(cli, &req, "ok");
}

static void cli_format_minute(int m, char *buf, size_t len)
{
	snprintf(buf, len, "%s%02d:%02d", m < 0 ? "-" : "", abs(m) / 60, abs(m) % 60);
}

int cli_site_list(struct cli *cli, int argc, char **argv)
{
	Callraft__SiteList op = CALLRAFT__SITE_LIST__INIT;
	Callraft__Reply *reply;
	int rv = cli_args(cli, argc, argv, 0);

	if (rv != CLI_EXIT_OK)
		return rv;
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_SITE_LIST;
	req.site_list = &op;
	if ((rv = cli_send(cli, &req, &reply)) != CLI_EXIT_OK)
		return rv;
	static const char *const headers[] = {"SITE", "STATUS",	  "OPENS",     "CLOSES",
					      "UTC",  "PRESENCE", "LOSS-AFTER"};
	struct cli_table t;
	json_object *arr = json_object_new_array();
	cli_table_init(&t, 7, headers);
	for (size_t i = 0; i < reply->n_sites; i++) {
		const Callraft__Site *s = reply->sites[i];
		char o[16], c[16], u[16], p[32], l[32];
		cli_format_minute(s->opens_at_minute, o, sizeof o);
		cli_format_minute(s->closes_at_minute, c, sizeof c);
		cli_format_minute(s->utc_offset_minutes, u, sizeof u);
		cli_format_duration(s->presence_timeout_ms, p, sizeof p);
		cli_format_duration(s->site_loss_after_ms, l, sizeof l);
		const char *row[] = {s->site, s->down ? "DOWN" : "up", o, c, u, p, l};
		cli_table_add(&t, row);
		json_object *js = json_object_new_object();
		cli_json_str(js, "site", s->site);
		json_object_object_add(js, "down", json_object_new_boolean(s->down));
		cli_json_str(js, "down_reason", s->down_reason);
		cli_json_i64(js, "down_since_ms", s->down_since_ms);
		cli_json_i64(js, "opens_at_minute", s->opens_at_minute);
		cli_json_i64(js, "closes_at_minute", s->closes_at_minute);
		cli_json_i64(js, "utc_offset_minutes", s->utc_offset_minutes);
		cli_json_i64(js, "presence_timeout_ms", s->presence_timeout_ms);
		cli_json_i64(js, "site_loss_after_ms", s->site_loss_after_ms);
		json_object_array_add(arr, js);
	}
	if (cli->json) {
		json_object *top = json_object_new_object();
		json_object_object_add(top, "sites", arr);
		cli_print_json(top);
	} else {
		json_object_put(arr);
		cli_table_print(&t, stdout);
	}
	cli_table_release(&t);
	callraft__reply__free_unpacked(reply, NULL);
	return CLI_EXIT_OK;
}

/* ---- stats and history ------------------------------------------------------------------ */

static json_object *cli_json_stats(const Callraft__Stats *s)
{
	json_object *o = json_object_new_object(), *agents = json_object_new_object();
	cli_json_str(o, "scope", s->scope);
	cli_json_str(o, "name", s->name);
	cli_json_u64(o, "waiting", s->waiting);
	cli_json_i64(o, "longest_wait_ms", s->longest_wait_ms);
	cli_json_u64(o, "entered", s->entered);
	cli_json_u64(o, "answered", s->answered);
	cli_json_u64(o, "answered_in_sl", s->answered_in_sl);
	cli_json_u64(o, "abandoned", s->abandoned);
	cli_json_u64(o, "abandoned_short", s->abandoned_short);
	cli_json_u64(o, "callbacks", s->callbacks);
	json_object_object_add(o, "service_level", json_object_new_double(s->service_level));
	cli_json_i64(o, "service_level_ms", s->service_level_ms);
	cli_json_i64(o, "asa_ms", s->asa_ms);
	json_object_object_add(o, "abandon_rate", json_object_new_double(s->abandon_rate));
	for (size_t i = 0; i < s->n_agents; i++)
		cli_json_u64(agents, s->agents[i]->key, s->agents[i]->value);
	json_object_object_add(o, "agents", agents);
	return o;
}

static void cli_stats_row(struct cli_table *t, const Callraft__Stats *s)
{
	char waiting[24], longest[32], sl[24], asa[32], ab[24], agents[128] = "";
	snprintf(waiting, sizeof waiting, "%llu", (unsigned long long)s->waiting);
	cli_format_duration(s->longest_wait_ms, longest, sizeof longest);
	snprintf(sl, sizeof sl, "%.1f%%", 100 * s->service_level);
	cli_format_duration(s->asa_ms, asa, sizeof asa);
	snprintf(ab, sizeof ab, "%.1f%%", 100 * s->abandon_rate);
	for (size_t i = 0; i < s->n_agents; i++) {
		if (s->agents[i]->value > 0)
			snprintf(agents + strlen(agents), sizeof agents - strlen(agents), "%s%s %u",
				 agents[0] ? ", " : "", s->agents[i]->key, s->agents[i]->value);
	}
	const char *row[] = {s->scope, s->name, waiting, longest,
			     sl,       asa,	ab,	 agents[0] ? agents : "-"};
	cli_table_add(t, row);
}

int cli_stats(struct cli *cli, int argc, char **argv)
{
	enum { OPT_QUEUE = CLI_OPT_FIRST_FREE, OPT_SITE };
	static const struct option options[] = {{"queue", required_argument, NULL, OPT_QUEUE},
						{"site", required_argument, NULL, OPT_SITE},
						CLI_COMMON_OPTIONS};
	Callraft__StatsGet op = CALLRAFT__STATS_GET__INIT;
	Callraft__Reply *reply;
	int opt, rv;

	while ((opt = getopt_long(argc, argv, CLI_SHORT_OPTIONS, options, NULL)) != -1) {
		if (opt == OPT_QUEUE)
			op.queue = optarg;
		else if (opt == OPT_SITE)
			op.site = optarg;
		else if ((rv = cli_common_option(cli, opt, argv)) >= 0)
			return rv;
	}
	if ((rv = cli_positionals(cli, argc, argv, 0, 0)) != CLI_EXIT_OK ||
	    (op.queue[0] &&
	     (rv = cli_check_name(cli, "--queue", op.queue, CALLRAFT_QUEUE_BYTES_MAX))) ||
	    (op.site[0] && (rv = cli_check_name(cli, "--site", op.site, CALLRAFT_SITE_BYTES_MAX))))
		return rv;
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_STATS_GET;
	req.stats_get = &op;
	if ((rv = cli_send(cli, &req, &reply)) != CLI_EXIT_OK)
		return rv;
	if (cli->json) {
		json_object *arr = json_object_new_array(), *top = json_object_new_object();
		for (size_t i = 0; i < reply->n_stats; i++)
			json_object_array_add(arr, cli_json_stats(reply->stats[i]));
		json_object_object_add(top, "stats", arr);
		cli_json_u64(top, "applied_index", reply->applied_index);
		cli_print_json(top);
	} else {
		static const char *const headers[] = {"SCOPE", "NAME", "WAITING", "LONGEST",
						      "SL",    "ASA",  "ABANDON", "AGENTS"};
		struct cli_table t;
		cli_table_init(&t, 8, headers);
		for (size_t i = 0; i < reply->n_stats; i++)
			cli_stats_row(&t, reply->stats[i]);
		cli_table_print(&t, stdout);
		cli_table_release(&t);
		printf(
		    "\nSL: answered within T (20s unless configured) / (answered + abandons after "
		    "5s);\nabandons within 5s are left out.\n");
	}
	callraft__reply__free_unpacked(reply, NULL);
	return CLI_EXIT_OK;
}

int cli_customer_history(struct cli *cli, int argc, char **argv)
{
	enum { OPT_LIMIT = CLI_OPT_FIRST_FREE };
	static const struct option options[] = {{"limit", required_argument, NULL, OPT_LIMIT},
						CLI_COMMON_OPTIONS};
	Callraft__CustomerHistory op = CALLRAFT__CUSTOMER_HISTORY__INIT;
	Callraft__Reply *reply;
	int opt, rv;

	while ((opt = getopt_long(argc, argv, CLI_SHORT_OPTIONS, options, NULL)) != -1) {
		if (opt == OPT_LIMIT) {
			if ((rv = cli_parse_limit(cli, optarg, &op.limit)) != CLI_EXIT_OK)
				return rv;
		} else if ((rv = cli_common_option(cli, opt, argv)) >= 0) {
			return rv;
		}
	}
	if ((rv = cli_positionals(cli, argc, argv, 1, 1)) != CLI_EXIT_OK ||
	    (rv = cli_check_id(cli, "customer", argv[optind])))
		return rv;
	op.customer_id = argv[optind];
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_CUSTOMER_HISTORY;
	req.customer_history = &op;
	if ((rv = cli_send(cli, &req, &reply)) != CLI_EXIT_OK)
		return rv;
	json_object *arr = json_object_new_array();
	static const char *const headers[] = {"TIME", "KIND", "ID"};
	struct cli_table t;
	cli_table_init(&t, 3, headers);
	for (size_t i = 0; i < reply->n_history; i++) {
		const Callraft__HistoryItem *h = reply->history[i];
		char when[40];
		cli_format_time(h->at_ms, when, sizeof when);
		const char *row[] = {when, h->kind, h->id};
		cli_table_add(&t, row);
		json_object *o = json_object_new_object();
		cli_json_i64(o, "at_ms", h->at_ms);
		cli_json_str(o, "kind", h->kind);
		cli_json_str(o, "id", h->id);
		json_object_array_add(arr, o);
	}
	if (cli->json) {
		json_object *top = json_object_new_object();
		cli_json_str(top, "customer_id", op.customer_id);
		cli_json_str(top, "last_agent_id",
			     reply->customer ? reply->customer->last_agent_id : "");
		json_object_object_add(top, "history", arr);
		cli_json_u64(top, "total", reply->total);
		cli_print_json(top);
	} else {
		json_object_put(arr);
		if (reply->n_history == 0)
			printf("no contact history for '%s'\n", op.customer_id);
		else
			cli_table_print(&t, stdout);
		if (reply->customer != NULL && reply->customer->last_agent_id[0])
			printf("last agent: %s\n", reply->customer->last_agent_id);
	}
	cli_table_release(&t);
	callraft__reply__free_unpacked(reply, NULL);
	return CLI_EXIT_OK;
}
