/* cli_campaign.c: `campaign create|add|pause|resume|show|list`, outbound campaigns (issue 16
 * item 4; state/campaigns.c, docs/routing.md section 11). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callraft_limits.h"

static json_object *cli_json_campaign(const Callraft__Campaign *cp)
{
	json_object *o = json_object_new_object();
	cli_json_fields(o, &cp->base, "campaign_id", "queue", "site", "pacing_percent", "start_ms",
			"end_ms", "paused", "targets", "released", "reached", "unreached", "ended",
			"duplicates", "created_ms", NULL);
	return o;
}

/* --start/--end: +DURATION from now, or ms since the epoch; absent: 0. */
static int cli_campaign_time(struct cli *cli, const struct cli_args *a, const char *opt,
			     int64_t *out)
{
	const char *v = cli_opt(a, opt);
	int64_t ms;
	int rv;

	*out = 0;
	if (v == NULL)
		return CLI_EXIT_OK;
	if (v[0] == '+') {
		if ((rv = cli_parse_duration(cli, opt, v + 1, CALLRAFT_CONFIG_MS_MAX, &ms)))
			return rv;
		*out = cli_now_ms() + ms;
	} else if (cli_parse_u64(v, (uint64_t *)out) != 0 || *out <= 0) {
		return cli_usage_error(cli, "--%s: '%s': expected +DURATION or ms since the epoch",
				       opt, v);
	}
	return CLI_EXIT_OK;
}

int cli_campaign_create_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	const char *queue = cli_opt(a, "queue"), *site = cli_opt(a, "site");
	const char *pacing = cli_opt(a, "pacing");
	uint64_t pct = 100;
	int64_t start, end;
	int rv;

	if ((rv = cli_check_name(cli, "campaign", a->pos[0], CALLRAFT_CAMPAIGN_ID_BYTES_MAX)))
		return rv;
	if (queue == NULL || site == NULL)
		return cli_usage_error(cli, "--queue and --site are required");
	if ((rv = cli_check_name(cli, "--queue", queue, CALLRAFT_QUEUE_BYTES_MAX)) ||
	    (rv = cli_check_name(cli, "--site", site, CALLRAFT_SITE_BYTES_MAX)) ||
	    (rv = cli_campaign_time(cli, a, "start", &start)) ||
	    (rv = cli_campaign_time(cli, a, "end", &end)))
		return rv;
	if (pacing != NULL && (cli_parse_u64(pacing, &pct) != 0 || pct < 1 ||
			       pct > CALLRAFT_CAMPAIGN_PACING_PERCENT_MAX))
		return cli_usage_error(cli, "--pacing: '%s': expected a percent, 1..%d", pacing,
				       CALLRAFT_CAMPAIGN_PACING_PERCENT_MAX);
	Callraft__CampaignCreate *op = callraft_request_init(r, CALLRAFT__REQUEST__OP_CAMPAIGN_CREATE);
	op->campaign_id = a->pos[0];
	op->queue = (char *)queue;
	op->site = (char *)site;
	op->pacing_percent = (uint32_t)pct;
	op->start_ms = start;
	op->end_ms = end;
	return CLI_EXIT_OK;
}

/* The targets of --file (one "NUMBER[,CUSTOMER]" a line; blank lines and # comments skipped; "-"
 * reads stdin), kept for the life of the process. */
static int cli_campaign_targets(struct cli *cli, const char *path, Callraft__CampaignAdd *op)
{
	static Callraft__CampaignTarget targets[CALLRAFT_CAMPAIGN_ADD_MAX];
	static Callraft__CampaignTarget *ptrs[CALLRAFT_CAMPAIGN_ADD_MAX];
	static char lines[CALLRAFT_CAMPAIGN_ADD_MAX][CALLRAFT_PHONE_BYTES_MAX + CALLRAFT_ID_BYTES_MAX + 4];
	char line[256];
	unsigned n = 0, lineno = 0;
	int rv = CLI_EXIT_OK;
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");

	if (f == NULL)
		return cli_usage_error(cli, "--file: '%s': cannot open", path);
	while (rv == CLI_EXIT_OK && fgets(line, sizeof line, f) != NULL) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (n == CALLRAFT_CAMPAIGN_ADD_MAX) {
			rv = cli_usage_error(cli, "--file: more than %d targets: split the list",
					     CALLRAFT_CAMPAIGN_ADD_MAX);
			break;
		}
		if (strlen(line) >= sizeof lines[n]) {
			rv = cli_usage_error(cli, "--file: line %u: too long", lineno);
			break;
		}
		snprintf(lines[n], sizeof lines[n], "%s", line);
		char *comma = strchr(lines[n], ',');
		if (comma != NULL)
			*comma++ = '\0';
		targets[n] = (Callraft__CampaignTarget)CALLRAFT__CAMPAIGN_TARGET__INIT;
		targets[n].number = lines[n];
		targets[n].customer_id = comma != NULL ? comma : "";
		if ((rv = cli_check_phone(cli, "--file", lines[n])) == CLI_EXIT_OK && comma != NULL &&
		    comma[0] != '\0')
			rv = cli_check_id(cli, "--file: customer", comma);
		ptrs[n] = &targets[n];
		n++;
	}
	if (f != stdin)
		fclose(f);
	if (rv == CLI_EXIT_OK && n == 0)
		rv = cli_usage_error(cli, "--file: '%s': no targets", path);
	op->targets = ptrs;
	op->n_targets = n;
	return rv;
}

int cli_campaign_add_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	const char *file = cli_opt(a, "file");
	int rv;

	if ((rv = cli_check_name(cli, "campaign", a->pos[0], CALLRAFT_CAMPAIGN_ID_BYTES_MAX)))
		return rv;
	if (file == NULL)
		return cli_usage_error(cli, "--file is required (one NUMBER[,CUSTOMER] a line)");
	Callraft__CampaignAdd *op = callraft_request_init(r, CALLRAFT__REQUEST__OP_CAMPAIGN_ADD);
	op->campaign_id = a->pos[0];
	return cli_campaign_targets(cli, file, op);
}

static int cli_campaign_pause_to(struct cli *cli, struct cli_args *a, struct callraft_request *r,
				 bool paused)
{
	int rv = cli_check_name(cli, "campaign", a->pos[0], CALLRAFT_CAMPAIGN_ID_BYTES_MAX);
	if (rv != CLI_EXIT_OK)
		return rv;
	Callraft__CampaignPause *op = callraft_request_init(r, CALLRAFT__REQUEST__OP_CAMPAIGN_PAUSE);
	op->campaign_id = a->pos[0];
	op->paused = paused;
	return CLI_EXIT_OK;
}

int cli_campaign_pause_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	return cli_campaign_pause_to(cli, a, r, true);
}

int cli_campaign_resume_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	return cli_campaign_pause_to(cli, a, r, false);
}

/* A write's output: the node's message ("campaign 'x': 3 target(s) added, ...") or the JSON. */
static int cli_campaign_write_output(struct cli *cli, const Callraft__Reply *reply)
{
	if (cli->json) {
		json_object *top = json_object_new_object();
		if (reply->campaign != NULL)
			json_object_object_add(top, "campaign", cli_json_campaign(reply->campaign));
		cli_json_str(top, "message", reply->message);
		cli_json_u64(top, "applied_index", reply->applied_index);
		return cli_print_json(top);
	}
	printf("%s\n", reply->message);
	return CLI_EXIT_OK;
}

#define CAMPAIGN_WRITE_OUTPUT(name)                                                                \
	int cli_##name##_output(struct cli *cli, const struct cli_args *a,                          \
				const Callraft__Request *req, const Callraft__Reply *reply)         \
	{                                                                                          \
		return cli_campaign_write_output(cli, reply);                                      \
	}
CAMPAIGN_WRITE_OUTPUT(campaign_create)
CAMPAIGN_WRITE_OUTPUT(campaign_add)
CAMPAIGN_WRITE_OUTPUT(campaign_pause)
CAMPAIGN_WRITE_OUTPUT(campaign_resume)
CAMPAIGN_WRITE_OUTPUT(campaign_delete)

int cli_campaign_show_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	const char *limit_arg = cli_opt(a, "limit");
	uint32_t limit = 0;
	int rv;

	if ((limit_arg != NULL && (rv = cli_parse_limit(cli, limit_arg, &limit))) ||
	    (rv = cli_check_name(cli, "campaign", a->pos[0], CALLRAFT_CAMPAIGN_ID_BYTES_MAX)))
		return rv;
	Callraft__CampaignShow *op = callraft_request_init(r, CALLRAFT__REQUEST__OP_CAMPAIGN_SHOW);
	op->campaign_id = a->pos[0];
	op->limit = limit;
	return cli_cursor_option(cli, a, &op->cursor);
}

static const char *cli_campaign_status(const Callraft__Campaign *cp)
{
	if (cp->paused)
		return "paused";
	if (cp->released < cp->targets)
		return "running";
	return cp->reached + cp->unreached + cp->ended < cp->released ? "calling" : "done";
}

int cli_campaign_show_output(struct cli *cli, const struct cli_args *a,
			     const Callraft__Request *req, const Callraft__Reply *reply)
{
	static const char *const headers[] = {"CALL", "NUMBER", "STATE", "ATTEMPTS", "OUTCOME"};
	const Callraft__Campaign *cp = reply->campaign;
	char hex[2 * CLI_CURSOR_BYTES_MAX + 1] = "", start[32], end[32];
	struct cli_table t;
	json_object *arr = json_object_new_array();

	if (cp == NULL) {
		json_object_put(arr);
		return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "INTERNAL",
				"campaign show: no campaign in the reply");
	}
	cli_cursor_hex(&reply->next_cursor, hex, sizeof hex);
	cli_table_init(&t, 5, headers);
	for (size_t i = 0; i < reply->n_calls; i++) {
		const Callraft__Call *c = reply->calls[i];
		char attempts[16];
		snprintf(attempts, sizeof attempts, "%u", c->dial_attempts);
		const char *outcome = c->answered_ms != 0 ? "reached"
				      : c->outcome[0] != '\0' ? c->outcome
							      : "-";
		const char *row[] = {c->call_id, c->callback_number, cli_call_state_name(c->state),
				     attempts, outcome};
		cli_table_add(&t, row);
		json_object_array_add(arr, cli_json_call(c));
	}
	if (cli->json) {
		json_object *top = json_object_new_object();
		json_object_object_add(top, "campaign", cli_json_campaign(cp));
		json_object_object_add(top, "calls", arr);
		if (hex[0] != '\0')
			cli_json_str(top, "next_cursor", hex);
		cli_table_release(&t);
		return cli_print_json(top);
	}
	json_object_put(arr);
	cli_format_time(cp->start_ms, start, sizeof start);
	cli_format_time(cp->end_ms, end, sizeof end);
	printf("campaign:  %s (%s)\nqueue:     %s\nsite:      %s\npacing:    %u%% of free agents\n"
	       "window:    %s .. %s\ntargets:   %u (released %u: reached %u, unreached %u, ended %u; "
	       "%u duplicate(s) skipped)\n",
	       cp->campaign_id, cli_campaign_status(cp), cp->queue, cp->site, cp->pacing_percent,
	       start, end, cp->targets, cp->released, cp->reached, cp->unreached, cp->ended,
	       cp->duplicates);
	if (reply->n_calls > 0) {
		printf("\n");
		cli_table_print(&t, stdout);
	}
	if (hex[0] != '\0')
		printf("next page: callraft campaign show %s --cursor %s\n", cp->campaign_id, hex);
	cli_table_release(&t);
	return CLI_EXIT_OK;
}

int cli_campaign_list_output(struct cli *cli, const struct cli_args *a,
			     const Callraft__Request *req, const Callraft__Reply *reply)
{
	static const char *const headers[] = {"CAMPAIGN", "STATUS", "QUEUE", "SITE", "TARGETS",
					      "RELEASED", "REACHED", "UNREACHED", "ENDED"};
	struct cli_table t;
	json_object *arr = json_object_new_array();

	cli_table_init(&t, 9, headers);
	for (size_t i = 0; i < reply->n_campaigns; i++) {
		const Callraft__Campaign *cp = reply->campaigns[i];
		char n[5][16];
		uint32_t v[5] = {cp->targets, cp->released, cp->reached, cp->unreached, cp->ended};
		for (int k = 0; k < 5; k++)
			snprintf(n[k], sizeof n[k], "%u", v[k]);
		const char *row[] = {cp->campaign_id, cli_campaign_status(cp), cp->queue, cp->site,
				     n[0], n[1], n[2], n[3], n[4]};
		cli_table_add(&t, row);
		json_object_array_add(arr, cli_json_campaign(cp));
	}
	return cli_print_list(cli, "campaigns", arr, &t);
}
