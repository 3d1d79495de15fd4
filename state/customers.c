/* customers.c: the customer record the CRM keeps in the cluster (issue 16, item 5; docs/routing.md
 * section 9), and what a call takes from it.
 *
 *   customers   customer_id -> Customer
 *
 * A customer row exists once the customer has talked to an agent (last_agent_id, the known agent
 * of calls.c) or the CRM has set their record (CustomerSet: record = true). CustomerSet replaces
 * every CRM field at once (tier, preferred agent, phone numbers, national id, CRM id, SMS consent)
 * and keeps last_agent_id and last_call_ms, which only calls change; after_talk (calls.c) in turn
 * keeps the CRM fields. Both are read-modify-write in the command's transaction.
 *
 * What an enqueued call takes from the record (customer_apply_tier, customer_prefer):
 *   tier       the record's tier, unless the PBX sets tier_override (or there is no record): the
 *              centers keep tier by purchase volume in the club, and the PBX need not know it;
 *   preferred  a known agent only on request (issue 16 item 2), the first of: the agent the caller
 *              asked for (CallEnqueue.requested_agent, an IVR option); the record's preferred
 *              agent (asked for through the CRM); with CallEnqueue.same_agent, the customer's last
 *              agent, unless their last talk is older than the queue's known_agent_link_ttl_ms
 *              (the link expired). That agent has the call to themselves for agent_timeout_ms
 *              (per request) or the queue's known_agent_timeout_ms, while reachable (routing.c,
 *              eligible); top-tier callers are never held for anyone. A caller who asks for
 *              nothing is held for nobody.
 * Every input is the command and committed state: replicas decide alike. */
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

int customer_get(struct apply_ctx *c, const char *customer_id, Callraft__Customer **out)
{
	*out = NULL;
	if (customer_id == NULL || customer_id[0] == '\0')
		return 1;
	return store_get(c->s, c->txn, DB_CUSTOMERS, customer_id, strlen(customer_id),
			 &callraft__customer__descriptor, (ProtobufCMessage **)out, "customer",
			 customer_id, c->errmsg, c->errmsg_len);
}

static int customer_put(struct apply_ctx *c, const Callraft__Customer *cu)
{
	return store_put(c->s, c->txn, DB_CUSTOMERS, cu->customer_id, strlen(cu->customer_id),
			 &cu->base, "customer", cu->customer_id, c->errmsg, c->errmsg_len);
}

int op_customer_set(struct apply_ctx *c, const Callraft__CustomerSet *op)
{
	Callraft__Customer *old, cu = CALLRAFT__CUSTOMER__INIT;
	int rc = customer_get(c, op->customer_id, &old);

	if (rc < 0)
		return -1;
	cu.customer_id = op->customer_id;
	if (old != NULL) {
		cu.last_agent_id = old->last_agent_id;
		cu.last_call_ms = old->last_call_ms;
	}
	cu.record = true;
	cu.tier = op->tier;
	cu.preferred_agent = op->preferred_agent;
	cu.n_phone_numbers = op->n_phone_numbers;
	cu.phone_numbers = op->phone_numbers;
	cu.national_id = op->national_id;
	cu.crm_id = op->crm_id;
	cu.sms_consent = op->sms_consent;
	cu.updated_ms = c->now_ms;
	rc = customer_put(c, &cu);
	if (old != NULL)
		protobuf_c_message_free_unpacked(&old->base, NULL);
	return rc;
}

int customer_talked(struct apply_ctx *c, const char *customer_id, const char *agent_id)
{
	Callraft__Customer *old, cu = CALLRAFT__CUSTOMER__INIT;
	int rc = customer_get(c, customer_id, &old);

	if (rc < 0)
		return -1;
	if (old != NULL)
		cu = *old; /* the CRM's fields stay as they are */
	cu.customer_id = (char *)customer_id;
	cu.last_agent_id = (char *)agent_id;
	cu.last_call_ms = c->now_ms;
	rc = customer_put(c, &cu);
	if (old != NULL)
		protobuf_c_message_free_unpacked(&old->base, NULL);
	return rc;
}

int customer_apply_tier(struct apply_ctx *c, Callraft__Call *call, bool tier_override)
{
	Callraft__Customer *cu;
	int rc = customer_get(c, call->customer_id, &cu);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (cu->record && !tier_override)
		call->tier = cu->tier;
	protobuf_c_message_free_unpacked(&cu->base, NULL);
	return 0;
}

/* The agent the call asks for, or NULL: see the header comment. */
static const char *asked_agent(const struct apply_ctx *c, const Callraft__CallEnqueue *op,
			       const Callraft__Customer *cu, const Callraft__QueueConfig *cfg)
{
	if (op->requested_agent[0] != '\0')
		return op->requested_agent;
	if (cu != NULL && cu->preferred_agent[0] != '\0')
		return cu->preferred_agent;
	if (!op->same_agent || cu == NULL || cu->last_agent_id[0] == '\0')
		return NULL;
	if (cfg->known_agent_link_ttl_ms > 0 &&
	    c->now_ms - cu->last_call_ms >= cfg->known_agent_link_ttl_ms)
		return NULL; /* the link expired: the agent no longer knows the case */
	return cu->last_agent_id;
}

int customer_prefer(struct apply_ctx *c, Callraft__Call *call, const Callraft__CallEnqueue *op)
{
	Callraft__QueueConfig cfg;
	Callraft__Customer *cu = NULL;
	int rc = customer_get(c, call->customer_id, &cu);

	if (rc < 0 || route_queue_config(c, call->queue, &cfg) != 0) {
		if (cu != NULL)
			protobuf_c_message_free_unpacked(&cu->base, NULL);
		return -1;
	}
	const char *agent = asked_agent(c, op, cu, &cfg);
	int64_t timeout_ms = op->agent_timeout_ms > 0 ? op->agent_timeout_ms : cfg.known_agent_timeout_ms;
	if (agent != NULL && timeout_ms > 0) {
		call->preferred_agent = (char *)agent;
		call->preferred_until_ms = c->now_ms + timeout_ms;
	}
	if (cu != NULL && agent != NULL && agent != op->requested_agent)
		ctx_own(c, &cu->base); /* the call borrows the agent id until the reply is packed */
	else if (cu != NULL)
		protobuf_c_message_free_unpacked(&cu->base, NULL);
	return 0;
}
