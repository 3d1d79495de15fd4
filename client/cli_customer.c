/* cli_customer.c: `customer set` and `customer show`, the CRM's customer record (issue 16,
 * item 5; docs/routing.md section 9). `customer history` is in cli_routing.c. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "callraft_limits.h"

/* --phone N[,N..]: split into *numbers (pointers into a copy kept for the life of the process). */
static int cli_parse_phones(struct cli *cli, const char *s, char ***numbers, size_t *n)
{
	static char copy[CALLRAFT_CUSTOMER_NUMBERS_MAX * (CALLRAFT_PHONE_BYTES_MAX + 1) + 1];
	static char *list[CALLRAFT_CUSTOMER_NUMBERS_MAX];
	int rv;

	*n = 0;
	if (strlen(s) >= sizeof copy)
		return cli_usage_error(cli, "--phone: too long (at most %d numbers)",
				       CALLRAFT_CUSTOMER_NUMBERS_MAX);
	snprintf(copy, sizeof copy, "%s", s);
	for (char *p = copy, *next; p != NULL; p = next) {
		next = strchr(p, ',');
		if (next != NULL)
			*next++ = '\0';
		if (*n == CALLRAFT_CUSTOMER_NUMBERS_MAX)
			return cli_usage_error(cli, "--phone: more than %d numbers",
					       CALLRAFT_CUSTOMER_NUMBERS_MAX);
		if ((rv = cli_check_phone(cli, "--phone", p)) != CLI_EXIT_OK)
			return rv;
		list[(*n)++] = p;
	}
	*numbers = list;
	return CLI_EXIT_OK;
}

int cli_customer_set_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	const char *tier = cli_opt(a, "tier"), *agent = cli_opt(a, "preferred-agent");
	const char *phones = cli_opt(a, "phone"), *nid = cli_opt(a, "national-id");
	const char *crm = cli_opt(a, "crm-id"), *sms = cli_opt(a, "sms-consent");
	uint32_t tier_value = 0;
	char **numbers = NULL;
	size_t n_numbers = 0;
	int rv;

	if ((rv = cli_check_id(cli, "customer", a->pos[0])) ||
	    (tier != NULL && (rv = cli_parse_tier(cli, tier, &tier_value))) ||
	    (agent != NULL && agent[0] && (rv = cli_check_id(cli, "--preferred-agent", agent))) ||
	    (crm != NULL && crm[0] && (rv = cli_check_id(cli, "--crm-id", crm))) ||
	    (phones != NULL && phones[0] &&
	     (rv = cli_parse_phones(cli, phones, &numbers, &n_numbers))))
		return rv;
	if (sms != NULL && strcmp(sms, "yes") != 0 && strcmp(sms, "no") != 0)
		return cli_usage_error(cli, "--sms-consent: '%s': expected yes or no", sms);
	Callraft__CustomerSet *op = callraft_request_init(r, CALLRAFT__REQUEST__OP_CUSTOMER_SET);
	op->customer_id = a->pos[0];
	op->tier = tier_value;
	op->preferred_agent = agent != NULL ? (char *)agent : "";
	op->phone_numbers = numbers;
	op->n_phone_numbers = n_numbers;
	op->national_id = nid != NULL ? (char *)nid : ""; /* checked by the cluster (check digit) */
	op->crm_id = crm != NULL ? (char *)crm : "";
	op->sms_consent = sms != NULL && strcmp(sms, "yes") == 0;
	return CLI_EXIT_OK;
}

int cli_customer_set_output(struct cli *cli, const struct cli_args *a,
			    const Callraft__Request *req, const Callraft__Reply *reply)
{
	if (cli->json) {
		json_object *top = json_object_new_object();
		cli_json_str(top, "customer_id", req->customer_set->customer_id);
		cli_json_u64(top, "applied_index", reply->applied_index);
		return cli_print_json(top);
	}
	printf("customer '%s' set\n", req->customer_set->customer_id);
	return CLI_EXIT_OK;
}

int cli_customer_show_request(struct cli *cli, struct cli_args *a, struct callraft_request *r)
{
	int rv = cli_check_id(cli, "customer", a->pos[0]);
	if (rv != CLI_EXIT_OK)
		return rv;
	Callraft__CustomerShow *op = callraft_request_init(r, CALLRAFT__REQUEST__OP_CUSTOMER_SHOW);
	op->customer_id = a->pos[0];
	return CLI_EXIT_OK;
}

int cli_customer_show_output(struct cli *cli, const struct cli_args *a,
			     const Callraft__Request *req, const Callraft__Reply *reply)
{
	const Callraft__Customer *cu = reply->customer;
	if (cu == NULL)
		return cli_fail(cli, CLI_EXIT_UNAVAILABLE, "INTERNAL",
				"customer show: no customer in the reply");
	if (cli->json) {
		json_object *o = json_object_new_object(), *nums = json_object_new_array();
		cli_json_fields(o, &cu->base, "customer_id", "record", "tier", "preferred_agent",
				"national_id", "crm_id", "sms_consent", "last_agent_id", "last_call_ms",
				"updated_ms", NULL);
		for (size_t i = 0; i < cu->n_phone_numbers; i++)
			json_object_array_add(nums, json_object_new_string(cu->phone_numbers[i]));
		json_object_object_add(o, "phone_numbers", nums);
		return cli_print_json(o);
	}
	char tier[32] = "-", last[32], updated[32], numbers[CALLRAFT_CUSTOMER_NUMBERS_MAX *
						       (CALLRAFT_PHONE_BYTES_MAX + 2) + 2] = "";
	if (cu->record)
		cli_format_tier(cu->tier, tier, sizeof tier);
	cli_format_time(cu->last_call_ms, last, sizeof last);
	cli_format_time(cu->updated_ms, updated, sizeof updated);
	for (size_t i = 0; i < cu->n_phone_numbers; i++)
		snprintf(numbers + strlen(numbers), sizeof numbers - strlen(numbers), "%s%s",
			 i ? ", " : "", cu->phone_numbers[i]);
#define OR_DASH(s) ((s)[0] != '\0' ? (s) : "-")
	printf("customer:    %s\nrecord:      %s\ntier:        %s\npreferred:   %s\n"
	       "numbers:     %s\nnational id: %s\ncrm id:      %s\nsms consent: %s\n"
	       "last agent:  %s\nlast call:   %s\nupdated:     %s\n",
	       cu->customer_id, cu->record ? "yes (set by the CRM)" : "no (known from calls only)",
	       tier, OR_DASH(cu->preferred_agent), OR_DASH(numbers), OR_DASH(cu->national_id),
	       OR_DASH(cu->crm_id), cu->sms_consent ? "yes" : "no", OR_DASH(cu->last_agent_id),
	       last, updated);
#undef OR_DASH
	return CLI_EXIT_OK;
}
