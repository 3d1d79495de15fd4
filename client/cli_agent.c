/* cli_agent.c: `callraft agent ...`: agents log in with the queues they serve (skills), change
 * state (available, break, wrap-up) and log out. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "callraft_limits.h"

json_object *cli_json_agent(const Callraft__Agent *agent)
{
	json_object *o = json_object_new_object();
	cli_json_str(o, "agent_id", agent->agent_id);
	cli_json_str(o, "name", agent->name);
	cli_json_str(o, "site", agent->site);
	json_object *skills = json_object_new_array();
	for (size_t i = 0; i < agent->n_skills; i++)
		json_object_array_add(skills, json_object_new_string(agent->skills[i]));
	json_object_object_add(o, "skills", skills);
	cli_json_str(o, "state", cli_agent_state_name(agent->state));
	cli_json_str(o, "reason", agent->reason);
	cli_json_str(o, "call_id", agent->call_id);
	cli_json_i64(o, "since_ms", agent->since_ms);
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

/* {"agent":{...},"applied_index":N}, or a one-line summary. */
static int cli_agent_done(struct cli *cli, Callraft__Reply *reply, const char *text)
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
	callraft__reply__free_unpacked(reply, NULL);
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

int cli_agent_login(struct cli *cli, int argc, char **argv)
{
	enum { OPT_SITE = CLI_OPT_FIRST_FREE, OPT_SKILLS, OPT_NAME };
	static const struct option options[] = {{"site", required_argument, NULL, OPT_SITE},
						{"skills", required_argument, NULL, OPT_SKILLS},
						{"name", required_argument, NULL, OPT_NAME},
						CLI_COMMON_OPTIONS};
	Callraft__AgentLogin login = CALLRAFT__AGENT_LOGIN__INIT;
	char *skills_arg = NULL;
	int opt, rv;
	while ((opt = getopt_long(argc, argv, CLI_SHORT_OPTIONS, options, NULL)) != -1) {
		if (opt == OPT_SITE)
			login.site = optarg;
		else if (opt == OPT_SKILLS)
			skills_arg = optarg;
		else if (opt == OPT_NAME)
			login.name = optarg;
		else if ((rv = cli_common_option(cli, opt, argv)) >= 0)
			return rv;
	}
	if ((rv = cli_positionals(cli, argc, argv, 1, 1)) != CLI_EXIT_OK)
		return rv;
	login.agent_id = argv[optind];
	if (login.site[0] == '\0' || skills_arg == NULL)
		return cli_usage_error(cli, "--site and --skills are required");
	char *skills[CALLRAFT_AGENT_SKILLS_MAX];
	if ((rv = cli_check_id(cli, "agent", login.agent_id)) ||
	    (rv = cli_check_name(cli, "--site", login.site, CALLRAFT_SITE_BYTES_MAX)) ||
	    (rv = cli_check_text(cli, "--name", login.name, CALLRAFT_ID_BYTES_MAX)) ||
	    (rv = cli_parse_skills(cli, skills_arg, skills, &login.n_skills)))
		return rv;
	login.skills = skills;
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_AGENT_LOGIN;
	req.agent_login = &login;
	Callraft__Reply *reply;
	if ((rv = cli_send(cli, &req, &reply)) != CLI_EXIT_OK)
		return rv;
	char text[256];
	snprintf(text, sizeof text, "agent '%s' logged in at %s%s%s", login.agent_id, login.site,
		 reply->agent != NULL ? ", now " : "",
		 reply->agent != NULL ? cli_agent_state_name(reply->agent->state) : "");
	return cli_agent_done(cli, reply, text);
}

static int cli_parse_agent_state(struct cli *cli, const char *s, Callraft__AgentState *out)
{
	if (strcmp(s, "available") == 0)
		*out = CALLRAFT__AGENT_STATE__AVAILABLE;
	else if (strcmp(s, "break") == 0)
		*out = CALLRAFT__AGENT_STATE__BREAK;
	else if (strcmp(s, "wrap-up") == 0)
		*out = CALLRAFT__AGENT_STATE__WRAP_UP;
	else
		return cli_usage_error(cli, "state: '%s': expected available, break or wrap-up", s);
	return CLI_EXIT_OK;
}

int cli_agent_state(struct cli *cli, int argc, char **argv)
{
	enum { OPT_REASON = CLI_OPT_FIRST_FREE };
	static const struct option options[] = {{"reason", required_argument, NULL, OPT_REASON},
						CLI_COMMON_OPTIONS};
	Callraft__AgentSetState set = CALLRAFT__AGENT_SET_STATE__INIT;
	int opt, rv;
	while ((opt = getopt_long(argc, argv, CLI_SHORT_OPTIONS, options, NULL)) != -1) {
		if (opt == OPT_REASON)
			set.reason = optarg;
		else if ((rv = cli_common_option(cli, opt, argv)) >= 0)
			return rv;
	}
	if ((rv = cli_positionals(cli, argc, argv, 2, 2)) != CLI_EXIT_OK)
		return rv;
	set.agent_id = argv[optind];
	if ((rv = cli_check_id(cli, "agent", set.agent_id)) ||
	    (rv = cli_parse_agent_state(cli, argv[optind + 1], &set.state)) ||
	    (rv = cli_check_text(cli, "--reason", set.reason, CALLRAFT_REASON_BYTES_MAX)))
		return rv;
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_AGENT_SET_STATE;
	req.agent_set_state = &set;
	Callraft__Reply *reply;
	if ((rv = cli_send(cli, &req, &reply)) != CLI_EXIT_OK)
		return rv;
	char text[256];
	const char *phrase = set.state == CALLRAFT__AGENT_STATE__BREAK     ? "on break"
			     : set.state == CALLRAFT__AGENT_STATE__WRAP_UP ? "in wrap-up"
									   : "available";
	snprintf(text, sizeof text, "agent '%s' is now %s%s%s%s", set.agent_id, phrase,
		 set.reason[0] ? " (" : "", set.reason,
		 set.reason[0] ? ")" : "");
	return cli_agent_done(cli, reply, text);
}

/* Parses `AGENT` alone (logout, show). */
static int cli_agent_id_arg(struct cli *cli, int argc, char **argv)
{
	int rv = cli_options_none(cli, argc, argv);
	if (rv >= 0)
		return rv;
	if ((rv = cli_positionals(cli, argc, argv, 1, 1)) != CLI_EXIT_OK)
		return rv;
	return cli_check_id(cli, "agent", argv[optind]);
}

int cli_agent_logout(struct cli *cli, int argc, char **argv)
{
	int rv = cli_agent_id_arg(cli, argc, argv);
	if (rv != CLI_EXIT_OK)
		return rv;
	Callraft__AgentLogout logout = CALLRAFT__AGENT_LOGOUT__INIT;
	logout.agent_id = argv[optind];
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_AGENT_LOGOUT;
	req.agent_logout = &logout;
	Callraft__Reply *reply;
	if ((rv = cli_send(cli, &req, &reply)) != CLI_EXIT_OK)
		return rv;
	char text[128];
	snprintf(text, sizeof text, "agent '%s' logged out", logout.agent_id);
	return cli_agent_done(cli, reply, text);
}

static void cli_print_agent_text(const Callraft__Agent *a)
{
	char skills[1024], since[32], in_state[32];
	cli_format_skills(a, skills, sizeof skills);
	cli_format_time(a->since_ms, since, sizeof since);
	cli_format_duration(cli_now_ms() - a->since_ms, in_state, sizeof in_state);
	printf("agent:   %s\nname:    %s\nsite:    %s\nskills:  %s\nstate:   %s%s%s%s\n"
	       "since:   %s (%s ago)\ncall:    %s\n",
	       a->agent_id, a->name[0] ? a->name : "-", a->site, skills,
	       cli_agent_state_name(a->state), a->reason[0] ? " (" : "", a->reason,
	       a->reason[0] ? ")" : "", since, in_state, a->call_id[0] ? a->call_id : "-");
}

int cli_agent_show(struct cli *cli, int argc, char **argv)
{
	int rv = cli_agent_id_arg(cli, argc, argv);
	if (rv != CLI_EXIT_OK)
		return rv;
	Callraft__AgentShow show = CALLRAFT__AGENT_SHOW__INIT;
	show.agent_id = argv[optind];
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_AGENT_SHOW;
	req.agent_show = &show;
	Callraft__Reply *reply;
	if ((rv = cli_send(cli, &req, &reply)) != CLI_EXIT_OK)
		return rv;
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
		char skills[1024], in_state[32];
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

int cli_agent_list(struct cli *cli, int argc, char **argv)
{
	enum { OPT_SITE = CLI_OPT_FIRST_FREE };
	static const struct option options[] = {{"site", required_argument, NULL, OPT_SITE},
						CLI_COMMON_OPTIONS};
	Callraft__AgentList list = CALLRAFT__AGENT_LIST__INIT;
	int opt, rv;
	while ((opt = getopt_long(argc, argv, CLI_SHORT_OPTIONS, options, NULL)) != -1) {
		if (opt == OPT_SITE)
			list.site = optarg;
		else if ((rv = cli_common_option(cli, opt, argv)) >= 0)
			return rv;
	}
	if ((rv = cli_positionals(cli, argc, argv, 0, 0)) != CLI_EXIT_OK ||
	    (list.site[0] && (rv = cli_check_name(cli, "--site", list.site, CALLRAFT_SITE_BYTES_MAX))))
		return rv;
	Callraft__Request req = CALLRAFT__REQUEST__INIT;
	req.op_case = CALLRAFT__REQUEST__OP_AGENT_LIST;
	req.agent_list = &list;
	Callraft__Reply *reply;
	if ((rv = cli_send(cli, &req, &reply)) != CLI_EXIT_OK)
		return rv;
	if (cli->json) {
		json_object *arr = json_object_new_array();
		for (size_t i = 0; i < reply->n_agents; i++)
			json_object_array_add(arr, cli_json_agent(reply->agents[i]));
		json_object *top = json_object_new_object();
		cli_json_u64(top, "total", reply->total);
		json_object_object_add(top, "agents", arr);
		cli_print_json(top);
	} else {
		cli_agent_list_text(reply);
	}
	callraft__reply__free_unpacked(reply, NULL);
	return CLI_EXIT_OK;
}
