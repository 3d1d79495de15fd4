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

int cli_parse_duration(struct cli *cli, const char *opt, const char *s, int64_t max, int64_t *out)
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

int cli_print_write(struct cli *cli, const Callraft__Reply *reply, const char *done)
{
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
	return CLI_EXIT_OK;
}

/* The output of a write answered with a message: cli_print_write with `done`. */
#define CLI_WRITE_OUTPUT(name, done)                                                               \
	int cli_##name##_output(struct cli *cli, const struct cli_args *a,                          \
				const Callraft__Request *req, const Callraft__Reply *reply)        \
	{                                                                                          \
		return cli_print_write(cli, reply, done);                                          \
	}

/* ---- calls and agents ------------------------------------------------------------------- */

/* CALL_ID, --agent (required) and, with `token`, --token TERM.INDEX (required). */
static int cli_offer_args(struct cli *cli, const struct cli_args *a, bool token, uint64_t *term,
			  uint64_t *index)
{
	const char *agent = cli_opt(a, "agent"), *tok = token ? cli_opt(a, "token") : NULL;
	unsigned long long t, i;
	char extra;
	int rv;

	if (agent == NULL || agent[0] == '\0' || (token && tok == NULL))
		return cli_usage_error(cli, token ? "--agent and --token are required"
						  : "--agent is required");
	if (token) {
		if (sscanf(tok, "%llu.%llu%c", &t, &i, &extra) != 2 || t == 0)
			return cli_usage_error(
			    cli, "--token: '%s': expected TERM.INDEX as printed by 'call next'", tok);
		*term = t;
		*index = i;
	}
	if ((rv = cli_check_id(cli, "call id", a->pos[0])) ||
	    (rv = cli_check_id(cli, "--agent", agent)))
		return rv;
	return CLI_EXIT_OK;
}

int cli_call_reject_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	uint64_t term = 0, index = 0;
	int rv = cli_offer_args(cli, a, true, &term, &index);
	if (rv != CLI_EXIT_OK)
		return rv;
	Callraft__CallReject *op = callraft_request_init(r, CALLRAFT__REQUEST__OP_CALL_REJECT);
	op->call_id = a->pos[0];
	op->agent_id = (char *)cli_opt(a, "agent");
	op->offer_term = term;
	op->offer_index = index;
	const char *outcome = cli_opt(a, "outcome");
	if (outcome != NULL) {
		static const int values[] = {CALLRAFT__DIAL_OUTCOME__NO_ANSWER, CALLRAFT__DIAL_OUTCOME__BUSY,
					     CALLRAFT__DIAL_OUTCOME__INVALID_NUMBER};
		int v;
		if ((rv = cli_parse_enum(cli, "--outcome", outcome, &callraft__dial_outcome__descriptor,
					 values, 3, &v)))
			return rv;
		op->dial_outcome = (Callraft__DialOutcome)v;
	}
	return CLI_EXIT_OK;
}

int cli_call_reject_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			   const Callraft__Reply *reply)
{
	const Callraft__Call *call = reply->call;
	char when[32];
	if (cli->json || call == NULL)
		return cli_print_write(cli, reply, "call returned to the queue (place kept)");
	if (call->state == CALLRAFT__CALL_STATE__UNREACHED) {
		printf("callback '%s' unreached: %s\n", call->call_id, call->outcome);
	} else if (call->state == CALLRAFT__CALL_STATE__SCHEDULED) {
		cli_format_time(call->release_ms, when, sizeof when);
		printf("callback '%s' not reached (attempt %u): back in its place at %s\n",
		       call->call_id, call->dial_attempts, when);
	} else {
		printf("call returned to the queue (place kept)\n");
	}
	return CLI_EXIT_OK;
}
CLI_WRITE_OUTPUT(call_callback, "callback requested (place kept)")

int cli_call_dial_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	int rv = cli_offer_args(cli, a, false, NULL, NULL);
	if (rv != CLI_EXIT_OK)
		return rv;
	Callraft__CallDialAttempt *op = callraft_request_init(r, CALLRAFT__REQUEST__OP_CALL_DIAL_ATTEMPT);
	op->call_id = a->pos[0];
	op->agent_id = (char *)cli_opt(a, "agent");
	return CLI_EXIT_OK;
}
int cli_call_dial_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			 const Callraft__Reply *reply)
{
	const Callraft__Call *call = reply->call;
	char when[32];

	if (cli->json || call == NULL || call->state != CALLRAFT__CALL_STATE__SCHEDULED)
		return cli_print_write(cli, reply, "dial attempt recorded: dial now");
	cli_format_time(call->release_ms, when, sizeof when);
	printf("not dialled: outside the calling hours of site '%s'; back in its place at %s\n",
	       call->arrival_site, when);
	return CLI_EXIT_OK;
}

CLI_WRITE_OUTPUT(agent_heartbeat, "heartbeat recorded")

/* ---- queue configuration ---------------------------------------------------------------- */

json_object *cli_json_queue_config(const Callraft__QueueConfig *q)
{
	json_object *o = json_object_new_object();
	cli_json_fields(o, &q->base, "overflow_after_ms", "offer_timeout_ms", "known_agent_timeout_ms",
			"aging_ms_per_tier", "service_level_ms", "wrap_up_ms", "top_tier",
			"redial_window_ms", "site_lost_no_callback", NULL);
	return o;
}

void cli_print_queue_config(const Callraft__QueueConfig *q)
{
	char a[32], b[32], c[32], d[32], e[32], f[32], g[32], h[32] = "never";
	cli_format_duration(q->overflow_after_ms, a, sizeof a);
	cli_format_duration(q->offer_timeout_ms, b, sizeof b);
	cli_format_duration(q->known_agent_timeout_ms, c, sizeof c);
	cli_format_duration(q->aging_ms_per_tier, d, sizeof d);
	cli_format_duration(q->service_level_ms, e, sizeof e);
	cli_format_duration(q->wrap_up_ms, f, sizeof f);
	cli_format_duration(q->redial_window_ms, g, sizeof g);
	char k[32];
	cli_format_duration(q->callback_retry_ms, k, sizeof k);
	if (q->known_agent_link_ttl_ms > 0)
		cli_format_duration(q->known_agent_link_ttl_ms, h, sizeof h);
	printf(
	    "config: overflow-after %s, offer-timeout %s, known-agent-timeout %s, aging %s/tier,\n"
	    "        service-level %s, wrap-up %s, top-tier %u, redial-window %s,\n"
	    "        site-lost-callback %s, known-agent-link %s, callback-retry %s,\n"
	    "        callback-attempts %u\n",
	    a, b, c, d, e, f, q->top_tier, g, q->site_lost_no_callback ? "no" : "yes", h, k,
	    q->callback_attempts_max);
}

/* The duration options `names` of a configure command: each one given is parsed (at most
 * CALLRAFT_CONFIG_MS_MAX) into *slots[i], an Int64Value in the arguments' scratch. */
static int cli_config_durations(struct cli *cli, struct cli_args *a, const char *const *names,
				Callraft__Int64Value **const *slots, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *v = cli_opt(a, names[i]);
		int64_t ms;
		int rv;
		if (v == NULL)
			continue;
		if ((rv = cli_parse_duration(cli, names[i], v, CALLRAFT_CONFIG_MS_MAX, &ms)))
			return rv;
		*slots[i] = i64_of(&a->scratch.i64[i], ms);
	}
	return CLI_EXIT_OK;
}

int cli_queue_configure_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	/* The durations, in the order of the command's options (top-tier aside). */
	static const char *const durations[] = {"overflow-after", "offer-timeout",
						"known-agent-timeout", "aging", "service-level",
						"wrap-up", "redial-window"};
	const char *top = cli_opt(a, "top-tier");
	uint64_t n;
	int rv;

	if ((rv = cli_check_name(cli, "queue", a->pos[0], CALLRAFT_QUEUE_BYTES_MAX)))
		return rv;
	Callraft__QueueConfigure *op = callraft_request_init(r, CALLRAFT__REQUEST__OP_QUEUE_CONFIGURE);
	Callraft__Int64Value **slot[] = {&op->overflow_after_ms, &op->offer_timeout_ms,
					 &op->known_agent_timeout_ms, &op->aging_ms_per_tier,
					 &op->service_level_ms, &op->wrap_up_ms,
					 &op->redial_window_ms};
	_Static_assert(sizeof slot / sizeof slot[0] == sizeof durations / sizeof durations[0],
		       "one slot per duration");
	op->queue = a->pos[0];
	if ((rv = cli_config_durations(cli, a, durations, slot,
				       sizeof durations / sizeof durations[0])))
		return rv;
	if (top != NULL) {
		if (cli_parse_u64(top, &n) != 0 || n > CALLRAFT_TIER_MAX + 1)
			return cli_usage_error(cli, "--top-tier: '%s': expected 0..%d", top,
					       CALLRAFT_TIER_MAX + 1);
		a->scratch.u32 = (Callraft__UInt32Value)CALLRAFT__UINT32_VALUE__INIT;
		a->scratch.u32.value = (uint32_t)n;
		op->top_tier = &a->scratch.u32;
	}
	const char *retry = cli_opt(a, "callback-retry"), *attempts = cli_opt(a, "callback-attempts");
	if (retry != NULL) {
		int64_t ms;
		if ((rv = cli_parse_duration(cli, "--callback-retry", retry, CALLRAFT_CONFIG_MS_MAX,
					     &ms)))
			return rv;
		op->callback_retry_ms = i64_of(&a->scratch.i64[8], ms);
	}
	if (attempts != NULL) {
		if (cli_parse_u64(attempts, &n) != 0 || n < 1 || n > CALLRAFT_CALLBACK_ATTEMPTS_MAX)
			return cli_usage_error(cli, "--callback-attempts: '%s': expected 1..%d",
					       attempts, CALLRAFT_CALLBACK_ATTEMPTS_MAX);
		a->scratch.u32b = (Callraft__UInt32Value)CALLRAFT__UINT32_VALUE__INIT;
		a->scratch.u32b.value = (uint32_t)n;
		op->callback_attempts_max = &a->scratch.u32b;
	}
	const char *link = cli_opt(a, "known-agent-link");
	if (link != NULL) {
		int64_t ms;
		if ((rv = cli_parse_duration(cli, "--known-agent-link", link,
					     CALLRAFT_KNOWN_AGENT_LINK_TTL_MS_MAX, &ms)))
			return rv;
		op->known_agent_link_ttl_ms = i64_of(&a->scratch.i64[7], ms);
	}
	const char *slc = cli_opt(a, "site-lost-callback");
	if (slc != NULL) {
		if (strcmp(slc, "yes") != 0 && strcmp(slc, "no") != 0)
			return cli_usage_error(cli, "--site-lost-callback: '%s': expected yes or no",
					       slc);
		a->scratch.b = (Callraft__BoolValue)CALLRAFT__BOOL_VALUE__INIT;
		a->scratch.b.value = strcmp(slc, "yes") == 0;
		op->site_lost_callback = &a->scratch.b;
	}
	return CLI_EXIT_OK;
}
CLI_WRITE_OUTPUT(queue_configure, "ok")

/* ---- callbacks -------------------------------------------------------------------------- */

/* The options `callback schedule` and `callback voicemail` share. */
struct cb_args {
	const char *id, *number, *queue, *customer, *site, *at;
	uint32_t tier;
};

static int cli_callback_args(struct cli *cli, const struct cli_args *args, struct cb_args *a)
{
	const char *tier = cli_opt(args, "tier");
	uint64_t n;
	int rv;

	*a = (struct cb_args){cli_opt(args, "id"),   cli_opt(args, "number"),
			      cli_opt(args, "queue"), cli_opt(args, "customer"),
			      cli_opt(args, "site"), cli_opt(args, "at"), 0};
	if (tier != NULL) {
		if (cli_parse_u64(tier, &n) != 0 || n > CALLRAFT_TIER_MAX)
			return cli_usage_error(cli, "--tier: '%s': expected 0..%d", tier,
					       CALLRAFT_TIER_MAX);
		a->tier = (uint32_t)n;
	}
	if (a->id == NULL || a->number == NULL || a->queue == NULL)
		return cli_usage_error(cli, "--id, --number and --queue are required");
	if ((rv = cli_check_id(cli, "--id", a->id)) ||
	    (rv = cli_check_phone(cli, "--number", a->number)) ||
	    (rv = cli_check_name(cli, "--queue", a->queue, CALLRAFT_QUEUE_BYTES_MAX)) ||
	    (a->customer && (rv = cli_check_id(cli, "--customer", a->customer))))
		return rv;
	return CLI_EXIT_OK;
}

/* Sets the fields scheduled and voicemail callbacks share (the request borrows the strings). */
static void cli_callback_fill(const struct cb_args *a, char **id, char **number, char **queue,
			      char **customer, uint32_t *tier)
{
	*id = (char *)a->id;
	*number = (char *)a->number;
	*queue = (char *)a->queue;
	*customer = (char *)(a->customer != NULL ? a->customer : "");
	*tier = a->tier;
}

int cli_callback_schedule_request(struct cli *cli, struct cli_args *args,
				  struct callraft_request *r)
{
	struct cb_args a;
	int64_t ms, at_ms = 0;
	int rv = cli_callback_args(cli, args, &a);

	if (rv != CLI_EXIT_OK)
		return rv;
	if (a.at == NULL)
		return cli_usage_error(
		    cli, "--at is required (+DURATION from now, or ms since the epoch)");
	if (a.at[0] == '+') {
		if ((rv = cli_parse_duration(cli, "--at", a.at + 1, CALLRAFT_CALLBACK_AHEAD_MS_MAX,
					     &ms)))
			return rv;
		at_ms = cli_now_ms() + ms;
	} else if (cli_parse_u64(a.at, (uint64_t *)&at_ms) != 0 || at_ms <= 0) {
		return cli_usage_error(cli, "--at: '%s': expected +DURATION or ms since the epoch",
				       a.at);
	}
	Callraft__CallbackSchedule *op = callraft_request_init(r, CALLRAFT__REQUEST__OP_CALLBACK_SCHEDULE);
	op->at_ms = at_ms;
	cli_callback_fill(&a, &op->callback_id, &op->number, &op->queue, &op->customer_id, &op->tier);
	return CLI_EXIT_OK;
}
CLI_WRITE_OUTPUT(callback_schedule, "callback scheduled")

int cli_callback_voicemail_request(struct cli *cli, struct cli_args *args,
				   struct callraft_request *r)
{
	struct cb_args a;
	int rv = cli_callback_args(cli, args, &a);

	if (rv != CLI_EXIT_OK)
		return rv;
	if (a.site == NULL)
		return cli_usage_error(cli, "--site is required");
	if ((rv = cli_check_name(cli, "--site", a.site, CALLRAFT_SITE_BYTES_MAX)))
		return rv;
	Callraft__CallbackVoicemail *op = callraft_request_init(r, CALLRAFT__REQUEST__OP_CALLBACK_VOICEMAIL);
	op->site = (char *)a.site;
	cli_callback_fill(&a, &op->callback_id, &op->number, &op->queue, &op->customer_id, &op->tier);
	return CLI_EXIT_OK;
}
CLI_WRITE_OUTPUT(callback_voicemail, "voicemail callback held until the site opens")

/* ---- sites ------------------------------------------------------------------------------ */

/* --calling-hours HH:MM-HH:MM (or "none": no restriction) and --voicemail-per-hour N (0: no cap)
 * of site configure. */
static int cli_site_calling_hours(struct cli *cli, struct cli_args *a, Callraft__SiteConfigure *op)
{
	const char *hours = cli_opt(a, "calling-hours"), *cap = cli_opt(a, "voicemail-per-hour");
	int rv, from = 0, until = 0;
	uint64_t n;

	if (hours != NULL && strcmp(hours, "none") != 0) {
		char first[8];
		const char *dash = strchr(hours, '-');
		if (dash == NULL || dash - hours >= (ptrdiff_t)sizeof first)
			return cli_usage_error(cli, "--calling-hours: '%s': expected HH:MM-HH:MM or none",
					       hours);
		memcpy(first, hours, (size_t)(dash - hours));
		first[dash - hours] = '\0';
		if ((rv = cli_parse_clock(cli, "--calling-hours", first, false, &from)) ||
		    (rv = cli_parse_clock(cli, "--calling-hours", dash + 1, false, &until)))
			return rv;
		if (from == until)
			return cli_usage_error(cli, "--calling-hours: '%s': an empty window (say none "
					       "for no restriction)", hours);
	}
	if (hours != NULL) {
		op->calling_from_minute = i32_of(&a->scratch.i32[3], from);
		op->calling_until_minute = i32_of(&a->scratch.i32[4], until);
	}
	if (cap != NULL) {
		if (cli_parse_u64(cap, &n) != 0 || n > CALLRAFT_VOICEMAIL_PER_HOUR_MAX)
			return cli_usage_error(cli, "--voicemail-per-hour: '%s': expected 0..%d (0: no cap)",
					       cap, CALLRAFT_VOICEMAIL_PER_HOUR_MAX);
		a->scratch.u32 = (Callraft__UInt32Value)CALLRAFT__UINT32_VALUE__INIT;
		a->scratch.u32.value = (uint32_t)n;
		op->voicemail_per_hour_max = &a->scratch.u32;
	}
	return CLI_EXIT_OK;
}

int cli_site_configure_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	static const char *const clocks[] = {"opens", "closes", "utc-offset"};
	static const char *const durations[] = {"presence-timeout", "loss-after", "contact-timeout"};
	int rv;

	if ((rv = cli_check_name(cli, "site", a->pos[0], CALLRAFT_SITE_BYTES_MAX)))
		return rv;
	Callraft__SiteConfigure *op = callraft_request_init(r, CALLRAFT__REQUEST__OP_SITE_CONFIGURE);
	Callraft__Int32Value **clock_slot[] = {&op->opens_at_minute, &op->closes_at_minute,
					       &op->utc_offset_minutes};
	Callraft__Int64Value **duration_slot[] = {&op->presence_timeout_ms,
						  &op->site_loss_after_ms, &op->contact_timeout_ms};
	op->site = a->pos[0];
	for (size_t i = 0; i < 3; i++) {
		const char *v = cli_opt(a, clocks[i]);
		int minutes = 0;
		if (v == NULL)
			continue;
		if ((rv = cli_parse_clock(cli, clocks[i], v, i == 2, &minutes)))
			return rv;
		*clock_slot[i] = i32_of(&a->scratch.i32[i], minutes);
	}
	if ((rv = cli_site_calling_hours(cli, a, op)))
		return rv;
	return cli_config_durations(cli, a, durations, duration_slot, 3);
}
CLI_WRITE_OUTPUT(site_configure, "ok")
CLI_WRITE_OUTPUT(site_down, "ok")

CLI_WRITE_OUTPUT(site_up, "ok")

/* The PBX of a site says it is alive (state/sitewatch.c): sent every second or so. */
CLI_WRITE_OUTPUT(site_heartbeat, "ok")

static void cli_format_minute(int m, char *buf, size_t len)
{
	snprintf(buf, len, "%s%02d:%02d", m < 0 ? "-" : "", abs(m) / 60, abs(m) % 60);
}

int cli_site_list_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	callraft_request_init(r, CALLRAFT__REQUEST__OP_SITE_LIST);
	return CLI_EXIT_OK;
}

int cli_site_list_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			 const Callraft__Reply *reply)
{
	static const char *const headers[] = {"SITE",	  "STATUS",	"OPENS",   "CLOSES", "UTC",
					      "PRESENCE", "LOSS-AFTER", "CALLING", "VM/H"};
	struct cli_table t;
	json_object *arr = json_object_new_array();
	cli_table_init(&t, 9, headers);
	for (size_t i = 0; i < reply->n_sites; i++) {
		const Callraft__Site *s = reply->sites[i];
		char o[16], c[16], u[16], p[32], l[32];
		cli_format_minute(s->opens_at_minute, o, sizeof o);
		cli_format_minute(s->closes_at_minute, c, sizeof c);
		cli_format_minute(s->utc_offset_minutes, u, sizeof u);
		cli_format_duration(s->presence_timeout_ms, p, sizeof p);
		cli_format_duration(s->site_loss_after_ms, l, sizeof l);
		char ch[32] = "any", vm[16] = "-", cf[16], cu[16];
		if (s->calling_from_minute != s->calling_until_minute) {
			cli_format_minute(s->calling_from_minute, cf, sizeof cf);
			cli_format_minute(s->calling_until_minute, cu, sizeof cu);
			snprintf(ch, sizeof ch, "%s-%s", cf, cu);
		}
		if (s->voicemail_per_hour_max > 0)
			snprintf(vm, sizeof vm, "%u", s->voicemail_per_hour_max);
		const char *row[] = {s->site, s->down ? "DOWN" : s->out_of_contact ? "held" : "up",
				     o, c, u, p, l, ch, vm};
		cli_table_add(&t, row);
		json_object *js = json_object_new_object();
		cli_json_fields(js, &s->base, "site", "down", "down_reason", "down_since_ms",
				"opens_at_minute", "closes_at_minute", "utc_offset_minutes",
				"presence_timeout_ms", "site_loss_after_ms", "contact_timeout_ms",
				"out_of_contact", "lost_auto", "nodes_seen_ms", "pbx_seen_ms",
				"agents_seen_ms", "calling_from_minute", "calling_until_minute",
				"voicemail_per_hour_max", "voicemail_next_ms", NULL);
		json_object_array_add(arr, js);
	}
	return cli_print_list(cli, "sites", arr, &t);
}

/* ---- stats and history ------------------------------------------------------------------ */

json_object *cli_json_stats(const Callraft__Stats *s)
{
	json_object *o = json_object_new_object();
	cli_json_fields(o, &s->base, "scope", "name", "interval", "offered", "entered", "answered",
			"answered_in_sl", "abandoned", "abandoned_short", "callbacks", "service_level",
			"asa_ms", "abandon_rate", NULL);
	bool day = strcmp(s->scope, "day") == 0;
	if (day || strcmp(s->scope, "ticket_class") == 0)
		cli_json_fields(o, &s->base, "tickets_opened", "tickets_closed",
				"tickets_closed_in_target", NULL);
	if (!day && strcmp(s->scope, "ticket_class") != 0) {
		json_object *agents = json_object_new_object();
		cli_json_fields(o, &s->base, "waiting", "longest_wait_ms", "service_level_ms", NULL);
		for (size_t i = 0; i < s->n_agents; i++)
			cli_json_u64(agents, s->agents[i]->key, s->agents[i]->value);
		json_object_object_add(o, "agents", agents);
	}
	if (s->interval[0] != '\0' && !day)
		cli_json_fields(o, &s->base, "from_ms", NULL);
	if (s->n_days > 0) {
		json_object *days = json_object_new_array();
		for (size_t i = 0; i < s->n_days; i++)
			json_object_array_add(days, cli_json_stats(s->days[i]));
		json_object_object_add(o, "days", days);
	}
	return o;
}

static void cli_stats_row(struct cli_table *t, const Callraft__Stats *s)
{
	char waiting[24], longest[32], offered[24], answered[24], abandoned[24], sl[24], asa[32],
	    ab[24], agents[128] = "";
	snprintf(waiting, sizeof waiting, "%llu", (unsigned long long)s->waiting);
	cli_format_duration(s->longest_wait_ms, longest, sizeof longest);
	snprintf(offered, sizeof offered, "%llu", (unsigned long long)s->offered);
	snprintf(answered, sizeof answered, "%llu", (unsigned long long)s->answered);
	snprintf(abandoned, sizeof abandoned, "%llu", (unsigned long long)s->abandoned);
	snprintf(sl, sizeof sl, "%.1f%%", 100 * s->service_level);
	cli_format_duration(s->asa_ms, asa, sizeof asa);
	snprintf(ab, sizeof ab, "%.1f%%", 100 * s->abandon_rate);
	for (size_t i = 0; i < s->n_agents; i++) {
		if (s->agents[i]->value > 0)
			snprintf(agents + strlen(agents), sizeof agents - strlen(agents), "%s%s %u",
				 agents[0] ? ", " : "", s->agents[i]->key, s->agents[i]->value);
	}
	bool day = strcmp(s->scope, "day") == 0;
	const char *row[] = {s->scope,	    s->name,  day ? "-" : waiting, day ? "-" : longest,
			     offered,	    answered, abandoned,	   sl,
			     asa,	    ab,	      agents[0] ? agents : "-"};
	cli_table_add(t, row);
}

static void cli_ticket_row(struct cli_table *t, const Callraft__Stats *s)
{
	char opened[24], closed[24], in_target[24], sl[24];
	snprintf(opened, sizeof opened, "%llu", (unsigned long long)s->tickets_opened);
	snprintf(closed, sizeof closed, "%llu", (unsigned long long)s->tickets_closed);
	snprintf(in_target, sizeof in_target, "%llu", (unsigned long long)s->tickets_closed_in_target);
	snprintf(sl, sizeof sl, "%.1f%%", 100 * s->service_level);
	const char *row[] = {s->scope, s->name, opened, closed, in_target, sl};
	cli_table_add(t, row);
}

int cli_stats_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	const char *queue = cli_opt(a, "queue"), *site = cli_opt(a, "site");
	const char *cls = cli_opt(a, "ticket-class"), *interval = cli_opt(a, "interval");
	int rv;
	if ((queue && queue[0] &&
	     (rv = cli_check_name(cli, "--queue", queue, CALLRAFT_QUEUE_BYTES_MAX))) ||
	    (site && site[0] && (rv = cli_check_name(cli, "--site", site, CALLRAFT_SITE_BYTES_MAX))))
		return rv;
	if (interval != NULL && strcmp(interval, "today") != 0 && strcmp(interval, "15m") != 0 &&
	    strcmp(interval, "60m") != 0 && strcmp(interval, "days") != 0)
		return cli_usage_error(cli, "--interval: '%.32s': use today, 15m, 60m or days",
				       interval);
	if (cls != NULL && (rv = cli_check_name(cli, "--ticket-class", cls,
					       CALLRAFT_CATEGORY_BYTES_MAX)))
		return rv;
	if (cls != NULL && interval == NULL)
		return cli_usage_error(cli, "--ticket-class needs --interval (today, 15m, 60m, days)");
	if (interval != NULL && strcmp(interval, "days") == 0 &&
	    (queue != NULL) + (site != NULL) + (cls != NULL) != 1)
		return cli_usage_error(cli, "--interval days: give one --queue, --site or --ticket-class");
	Callraft__StatsGet *op = callraft_request_init(r, CALLRAFT__REQUEST__OP_STATS_GET);
	op->queue = (char *)(queue != NULL ? queue : "");
	op->site = (char *)(site != NULL ? site : "");
	op->ticket_class = (char *)(cls != NULL ? cls : "");
	op->interval = (char *)(interval != NULL ? interval : "");
	return CLI_EXIT_OK;
}

static void cli_stats_tables(const Callraft__Reply *reply)
{
	static const char *const headers[] = {"SCOPE", "NAME",	"WAITING", "LONGEST",
					      "OFFERED", "ANSWERED", "ABANDONED", "SL",
					      "ASA",   "ABANDON", "AGENTS"};
	static const char *const theaders[] = {"SCOPE", "NAME", "OPENED", "CLOSED", "IN-TARGET", "SL"};
	struct cli_table t, tt;
	size_t tickets = 0;

	cli_table_init(&t, 11, headers);
	cli_table_init(&tt, 6, theaders);
	for (size_t i = 0; i < reply->n_stats; i++) {
		const Callraft__Stats *s = reply->stats[i];
		bool cls = strcmp(s->scope, "ticket_class") == 0;
		for (size_t d = 0; d < s->n_days; d++) {
			if (cls)
				cli_ticket_row(&tt, s->days[d]);
			else
				cli_stats_row(&t, s->days[d]);
		}
		if (cls)
			cli_ticket_row(&tt, s), tickets++;
		else
			cli_stats_row(&t, s);
	}
	if (tickets < reply->n_stats)
		cli_table_print(&t, stdout);
	if (tickets > 0) {
		if (tickets < reply->n_stats)
			printf("\n");
		cli_table_print(&tt, stdout);
	}
	cli_table_release(&t);
	cli_table_release(&tt);
}

int cli_stats_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
		     const Callraft__Reply *reply)
{
	const char *interval = req->stats_get->interval;

	if (cli->json) {
		json_object *top = json_object_new_object();
		cli_json_list(top, &reply->base, "stats");
		cli_json_u64(top, "applied_index", reply->applied_index);
		cli_print_json(top);
	} else {
		if (interval[0] != '\0')
			printf("interval: %s%s\n", interval,
			       strcmp(interval, "today") == 0 ? " (each site's local day)"
			       : strcmp(interval, "days") == 0 ? " (90 local days and their total)"
							       : " (minutes, the current one included)");
		cli_stats_tables(reply);
		printf(
		    "\nSL: answered within T (20s unless configured) / (answered + abandons after "
		    "5s);\nabandons within 5s are left out. Tickets: closed by the class's target / "
		    "closed.\n");
	}
	return CLI_EXIT_OK;
}

int cli_customer_history_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	const char *limit_arg = cli_opt(a, "limit");
	uint32_t limit = 0;
	int rv;
	if ((limit_arg != NULL && (rv = cli_parse_limit(cli, limit_arg, &limit)) != CLI_EXIT_OK) ||
	    (rv = cli_check_id(cli, "customer", a->pos[0])))
		return rv;
	Callraft__CustomerHistory *op =
	    callraft_request_init(r, CALLRAFT__REQUEST__OP_CUSTOMER_HISTORY);
	op->customer_id = a->pos[0];
	op->limit = limit;
	return cli_cursor_option(cli, a, &op->cursor);
}

int cli_customer_history_output(struct cli *cli, const struct cli_args *a,
				const Callraft__Request *req, const Callraft__Reply *reply)
{
	const Callraft__CustomerHistory *op = req->customer_history;
	json_object *arr = json_object_new_array();
	static const char *const headers[] = {"TIME", "KIND", "ID", "DETAIL"};
	struct cli_table t;
	char hex[2 * CLI_CURSOR_BYTES_MAX + 1] = "";
	cli_cursor_hex(&reply->next_cursor, hex, sizeof hex);
	cli_table_init(&t, 4, headers);
	for (size_t i = 0; i < reply->n_history; i++) {
		const Callraft__HistoryItem *h = reply->history[i];
		cli_table_add_fields(&t, &h->base, "at_ms", "kind", "id", "detail", NULL);
		json_object *o = json_object_new_object();
		cli_json_fields(o, &h->base, "at_ms", "kind", "id", "detail", NULL);
		json_object_array_add(arr, o);
	}
	if (cli->json) {
		json_object *top = json_object_new_object();
		cli_json_str(top, "customer_id", op->customer_id);
		cli_json_str(top, "last_agent_id",
			     reply->customer ? reply->customer->last_agent_id : "");
		json_object_object_add(top, "history", arr);
		cli_json_u64(top, "total", reply->total);
		if (hex[0] != '\0')
			cli_json_str(top, "next_cursor", hex);
		cli_print_json(top);
	} else {
		json_object_put(arr);
		if (reply->n_history == 0)
			printf("no contact history for '%s'\n", op->customer_id);
		else
			cli_table_print(&t, stdout);
		if (reply->customer != NULL && reply->customer->last_agent_id[0])
			printf("last agent: %s\n", reply->customer->last_agent_id);
		if (hex[0] != '\0')
			printf("next page: callraft customer history %s --cursor %s\n", op->customer_id,
			       hex);
	}
	cli_table_release(&t);
	return CLI_EXIT_OK;
}
