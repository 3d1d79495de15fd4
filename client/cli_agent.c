/* cli_agent.c: `callraft agent ...`: agents log in with the queues they serve (skills), change
 * state (available, break, wrap-up) and log out. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "callraft_limits.h"

json_object *cli_json_agent(const Callraft__Agent *agent)
{
	json_object *o = json_object_new_object();
	cli_json_fields(o, &agent->base, "agent_id", "name", "site", NULL);
	json_object *skills = json_object_new_array();
	for (size_t i = 0; i < agent->n_skills; i++)
		json_object_array_add(skills, json_object_new_string(agent->skills[i]));
	json_object_object_add(o, "skills", skills);
	cli_json_fields(o, &agent->base, "state", "reason", "call_id", "since_ms", NULL);
	json_object_object_add(o, "ready", json_object_new_boolean(agent->push)); /* offers pushed */
	return o;
}

/* "q1,q2" (bounded by the buffer) */
static void cli_format_skills(const Callraft__Agent *agent, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < agent->n_skills && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "," : "",
					 agent->skills[i]);
}

int cli_agent_done(struct cli *cli, const Callraft__Reply *reply, const char *text)
{
	if (cli->json) {
		json_object *top = json_object_new_object();
		if (reply->agent != NULL)
			json_object_object_add(top, "agent", cli_json_agent(reply->agent));
		cli_json_u64(top, "applied_index", reply->applied_index);
		cli_print_json(top);
	} else if (text != NULL) {
		printf("%s\n", text);
	}
	return CLI_EXIT_OK;
}

/* Splits "q1,q2" in place into skills[]; each is a queue name. */
static int cli_parse_skills(struct cli *cli, char *list, char **skills, size_t *n)
{
	*n = 0;
	for (char *save = NULL, *s = strtok_r(list, ",", &save); s != NULL;
	     s = strtok_r(NULL, ",", &save)) {
		if (*n == CALLRAFT_AGENT_SKILLS_MAX)
			return cli_usage_error(cli, "--skills: more than %d skills",
					       CALLRAFT_AGENT_SKILLS_MAX);
		int rv = cli_check_name(cli, "--skills", s, CALLRAFT_QUEUE_BYTES_MAX);
		if (rv != CLI_EXIT_OK)
			return rv;
		skills[(*n)++] = s;
	}
	if (*n == 0)
		return cli_usage_error(cli, "--skills: name at least one queue");
	return CLI_EXIT_OK;
}

int cli_agent_login_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	const char *agent = a->pos[0], *site = cli_opt(a, "site"), *name = cli_opt(a, "name");
	char *skills_arg = (char *)cli_opt(a, "skills"); /* split in place: argv is writable */
	size_t n_skills = 0;
	int rv;

	if (site == NULL || site[0] == '\0' || skills_arg == NULL)
		return cli_usage_error(cli, "--site and --skills are required");
	if ((rv = cli_check_id(cli, "agent", agent)) ||
	    (rv = cli_check_name(cli, "--site", site, CALLRAFT_SITE_BYTES_MAX)) ||
	    (name != NULL && (rv = cli_check_text(cli, "--name", name, CALLRAFT_ID_BYTES_MAX))) ||
	    (rv = cli_parse_skills(cli, skills_arg, a->scratch.list, &n_skills)))
		return rv;
	callraft_request_agent_login(r, agent, name, site, a->scratch.list, n_skills);
	return CLI_EXIT_OK;
}

int cli_agent_login_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			   const Callraft__Reply *reply)
{
	char text[CALLRAFT_ID_BYTES_MAX + CALLRAFT_SITE_BYTES_MAX + 64];
	snprintf(text, sizeof text, "agent '%s' logged in at %s%s%s", req->agent_login->agent_id,
		 req->agent_login->site, reply->agent != NULL ? ", now " : "",
		 reply->agent != NULL ? cli_agent_state_name(reply->agent->state) : "");
	return cli_agent_done(cli, reply, text);
}

/* The states an agent may set by hand. */
static const int agent_states_settable[] = {CALLRAFT__AGENT_STATE__AVAILABLE,
					    CALLRAFT__AGENT_STATE__BREAK,
					    CALLRAFT__AGENT_STATE__WRAP_UP};

int cli_agent_state_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	const char *reason = cli_opt(a, "reason");
	int state = CALLRAFT__AGENT_STATE__AGENT_STATE_NONE;
	int rv;

	if ((rv = cli_check_id(cli, "agent", a->pos[0])) ||
	    (rv = cli_parse_enum(cli, "state", a->pos[1], &callraft__agent_state__descriptor,
				 agent_states_settable,
				 sizeof agent_states_settable / sizeof agent_states_settable[0], &state)) ||
	    (reason != NULL && (rv = cli_check_text(cli, "--reason", reason,
						    CALLRAFT_REASON_BYTES_MAX))))
		return rv;
	callraft_request_agent_set_state(r, a->pos[0], (Callraft__AgentState)state, reason);
	return CLI_EXIT_OK;
}

int cli_agent_state_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			   const Callraft__Reply *reply)
{
	const Callraft__AgentSetState *set = req->agent_set_state;
	char text[CALLRAFT_ID_BYTES_MAX + CALLRAFT_REASON_BYTES_MAX + 64];
	const char *phrase = set->state == CALLRAFT__AGENT_STATE__BREAK     ? "on break"
			     : set->state == CALLRAFT__AGENT_STATE__WRAP_UP ? "in wrap-up"
									    : "available";
	snprintf(text, sizeof text, "agent '%s' is now %s%s%s%s", set->agent_id, phrase,
		 set->reason[0] ? " (" : "", set->reason, set->reason[0] ? ")" : "");
	return cli_agent_done(cli, reply, text);
}

int cli_agent_logout_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			    const Callraft__Reply *reply)
{
	char text[CALLRAFT_ID_BYTES_MAX + 32];
	snprintf(text, sizeof text, "agent '%s' logged out", a->pos[0]);
	return cli_agent_done(cli, reply, text);
}

static void cli_print_agent_text(const Callraft__Agent *a)
{
	char skills[CALLRAFT_AGENT_SKILLS_MAX * (CALLRAFT_QUEUE_BYTES_MAX + 1) + 1];
	char since[32], in_state[32];
	cli_format_skills(a, skills, sizeof skills);
	cli_format_time(a->since_ms, since, sizeof since);
	cli_format_duration(cli_now_ms() - a->since_ms, in_state, sizeof in_state);
	printf("agent:   %s\nname:    %s\nsite:    %s\nskills:  %s\nstate:   %s%s%s%s\n"
	       "since:   %s (%s ago)\ncall:    %s\n",
	       a->agent_id, a->name[0] ? a->name : "-", a->site, skills,
	       cli_agent_state_name(a->state), a->reason[0] ? " (" : "", a->reason,
	       a->reason[0] ? ")" : "", since, in_state, a->call_id[0] ? a->call_id : "-");
}

int cli_agent_show_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			  const Callraft__Reply *reply)
{
	if (!cli->json && reply->agent != NULL)
		cli_print_agent_text(reply->agent);
	return cli_agent_done(cli, reply, NULL);
}

static void cli_agent_list_text(const Callraft__Reply *reply)
{
	static const char *const headers[] = {"AGENT", "NAME",	"SITE", "STATE",
					      "FOR",   "CALL", "SKILLS"};
	struct cli_table t;
	cli_table_init(&t, 7, headers);
	int64_t now = cli_now_ms();
	for (size_t i = 0; i < reply->n_agents; i++) {
		const Callraft__Agent *a = reply->agents[i];
		char skills[CALLRAFT_AGENT_SKILLS_MAX * (CALLRAFT_QUEUE_BYTES_MAX + 1) + 1];
		char in_state[32];
		cli_format_skills(a, skills, sizeof skills);
		cli_format_duration(now - a->since_ms, in_state, sizeof in_state);
		const char *row[] = {a->agent_id, a->name, a->site, cli_agent_state_name(a->state),
				     in_state, a->call_id, skills};
		cli_table_add(&t, row);
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	printf("\n%zu agent%s\n", reply->n_agents, reply->n_agents == 1 ? "" : "s");
}

int cli_agent_list_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			  const Callraft__Reply *reply)
{
	if (cli->json) {
		json_object *top = json_object_new_object();
		cli_json_u64(top, "total", reply->total);
		cli_json_list(top, &reply->base, "agents");
		cli_print_json(top);
	} else {
		cli_agent_list_text(reply);
	}
	return CLI_EXIT_OK;
}
