/* cli_token.c: `callraft token issue|revoke|list`: bearer tokens for browsers (issue 13,
 * state/tokens.c). The token is drawn here (tls/token.h); only its SHA-256 is sent, and the token
 * is printed once. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "callraft_limits.h"
#include "token.h"

/* The token of this invocation (one request per process), printed by the output. */
static char cli_bearer[TOKEN_STRING_BYTES + 1];
static uint8_t cli_bearer_hash[TOKEN_HASH_BYTES];

static json_object *cli_json_token(const Callraft__Token *t)
{
	json_object *o = json_object_new_object(), *roles = json_object_new_array();
	cli_json_fields(o, &t->base, "id", "name", "site", "expires_ms", "issued_ms", "issued_by",
			NULL);
	for (size_t i = 0; i < t->n_roles; i++)
		json_object_array_add(roles, json_object_new_string(t->roles[i]));
	json_object_object_add(o, "roles", roles);
	return o;
}

int cli_token_issue_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	const char *roles = cli_opt(a, "roles"), *site = cli_opt(a, "site"), *ttl = cli_opt(a, "ttl");
	static char roles_buf[64];
	int64_t ttl_ms = CALLRAFT_TOKEN_TTL_MS_DEFAULT;
	size_t n = 0;
	int rv;

	if ((rv = cli_check_text(cli, "name", a->pos[0], CALLRAFT_TOKEN_NAME_BYTES_MAX)) ||
	    (site != NULL && (rv = cli_check_name(cli, "--site", site, CALLRAFT_SITE_BYTES_MAX))) ||
	    (ttl != NULL &&
	     (rv = cli_parse_duration(cli, "--ttl", ttl, CALLRAFT_TOKEN_TTL_MS_MAX, &ttl_ms))))
		return rv;
	if (roles == NULL || roles[0] == '\0' || strlen(roles) >= sizeof roles_buf)
		return cli_usage_error(cli, "--roles: one or more of agent, pbx, supervisor, admin");
	if (ttl_ms <= 0)
		return cli_usage_error(cli, "--ttl: must be more than 0");
	snprintf(roles_buf, sizeof roles_buf, "%s", roles);
	for (char *save = NULL, *t = strtok_r(roles_buf, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save)) {
		if (n == 4)
			return cli_usage_error(cli, "--roles: at most 4");
		a->scratch.list[n++] = t;
	}
	if (token_new(cli_bearer, cli_bearer_hash) != 0)
		return cli_fail(cli, CLI_EXIT_USAGE, "UNAVAILABLE", "token: no random bytes");
	Callraft__TokenIssue *op = callraft_request_init(r, CALLRAFT__REQUEST__OP_TOKEN_ISSUE);
	op->name = a->pos[0];
	op->roles = a->scratch.list;
	op->n_roles = n;
	op->site = (char *)(site != NULL ? site : "");
	op->expires_ms = cli_now_ms() + ttl_ms;
	op->hash.data = cli_bearer_hash;
	op->hash.len = sizeof cli_bearer_hash;
	return CLI_EXIT_OK;
}

int cli_token_issue_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			   const Callraft__Reply *reply)
{
	(void)a, (void)req;
	if (reply->token == NULL)
		return cli_fail(cli, CLI_EXIT_USAGE, "INTERNAL", "token issue: no token in the reply");
	if (cli->json) {
		json_object *top = json_object_new_object();
		json_object_object_add(top, "token", cli_json_token(reply->token));
		cli_json_str(top, "bearer", cli_bearer);
		return cli_print_json(top);
	}
	char exp[40];
	cli_format_time(reply->token->expires_ms, exp, sizeof exp);
	printf("token %llu issued to '%s', expires %s (shown once: it is not stored anywhere)\n%s\n",
	       (unsigned long long)reply->token->id, reply->token->name, exp, cli_bearer);
	return CLI_EXIT_OK;
}

int cli_token_revoke_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	uint64_t id;
	if (cli_parse_u64(a->pos[0], &id) != 0 || id == 0)
		return cli_usage_error(cli, "token id: '%s' is not a number above 0", a->pos[0]);
	Callraft__TokenRevoke *op = callraft_request_init(r, CALLRAFT__REQUEST__OP_TOKEN_REVOKE);
	op->id = id;
	return CLI_EXIT_OK;
}

int cli_token_revoke_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			    const Callraft__Reply *reply)
{
	(void)a, (void)req;
	if (cli->json) {
		json_object *top = json_object_new_object();
		if (reply->token != NULL)
			json_object_object_add(top, "token", cli_json_token(reply->token));
		return cli_print_json(top);
	}
	printf("token %llu revoked\n", reply->token != NULL ? (unsigned long long)reply->token->id : 0ull);
	return CLI_EXIT_OK;
}

int cli_token_list_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	(void)cli, (void)a;
	callraft_request_init(r, CALLRAFT__REQUEST__OP_TOKEN_LIST);
	return CLI_EXIT_OK;
}

int cli_token_list_output(struct cli *cli, const struct cli_args *a, const Callraft__Request *req,
			  const Callraft__Reply *reply)
{
	static const char *const headers[] = {"ID", "NAME", "ROLES", "SITE", "EXPIRES", "ISSUED-BY"};
	json_object *arr = json_object_new_array();
	struct cli_table t;

	(void)a, (void)req;
	cli_table_init(&t, 6, headers);
	for (size_t i = 0; i < reply->n_tokens; i++) {
		const Callraft__Token *k = reply->tokens[i];
		char id[24], roles[64] = "", exp[40];
		snprintf(id, sizeof id, "%llu", (unsigned long long)k->id);
		for (size_t j = 0; j < k->n_roles; j++)
			snprintf(roles + strlen(roles), sizeof roles - strlen(roles), "%s%s",
				 j ? "," : "", k->roles[j]);
		cli_format_time(k->expires_ms, exp, sizeof exp);
		const char *row[] = {id, k->name, roles, k->site[0] ? k->site : "-", exp, k->issued_by};
		cli_table_add(&t, row);
		json_object_array_add(arr, cli_json_token(k));
	}
	return cli_print_list(cli, "tokens", arr, &t);
}
