/* authz.c: see authz.h. */
#include "authz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum op_class { CLASS_ANY = 0, CLASS_CALLS, CLASS_SUPERVISE, CLASS_ADMIN, CLASS_MEMBER, CLASS_UNKNOWN };

#define ROLES_CALLS (TLS_ROLE_AGENT | TLS_ROLE_PBX | TLS_ROLE_SUPERVISOR | TLS_ROLE_ADMIN)
#define ROLES_SUPERVISE (TLS_ROLE_SUPERVISOR | TLS_ROLE_ADMIN)
#define ROLES_ADMIN (TLS_ROLE_ADMIN)

static enum op_class op_class(Callraft__Request__OpCase op)
{
	switch (op) {
	case CALLRAFT__REQUEST__OP_STATUS:
	case CALLRAFT__REQUEST__OP_REGISTER_CLIENT:
		return CLASS_ANY;
	case CALLRAFT__REQUEST__OP_CALL_ENQUEUE:
	case CALLRAFT__REQUEST__OP_CALL_NEXT:
	case CALLRAFT__REQUEST__OP_CALL_ANSWER:
	case CALLRAFT__REQUEST__OP_CALL_END:
	case CALLRAFT__REQUEST__OP_CALL_ABANDON:
	case CALLRAFT__REQUEST__OP_CALL_REJECT:
	case CALLRAFT__REQUEST__OP_CALL_DIAL_ATTEMPT:
	case CALLRAFT__REQUEST__OP_CALLBACK_REQUEST:
	case CALLRAFT__REQUEST__OP_CALLBACK_SCHEDULE:
	case CALLRAFT__REQUEST__OP_CALLBACK_VOICEMAIL:
	case CALLRAFT__REQUEST__OP_CALL_SHOW:
	case CALLRAFT__REQUEST__OP_AGENT_LOGIN:
	case CALLRAFT__REQUEST__OP_AGENT_SET_STATE:
	case CALLRAFT__REQUEST__OP_AGENT_LOGOUT:
	case CALLRAFT__REQUEST__OP_AGENT_HEARTBEAT:
	case CALLRAFT__REQUEST__OP_AGENT_SHOW:
	case CALLRAFT__REQUEST__OP_EVENTS_READ:
	case CALLRAFT__REQUEST__OP_SITE_HEARTBEAT:
		return CLASS_CALLS;
	case CALLRAFT__REQUEST__OP_QUEUE_CONFIGURE:
	case CALLRAFT__REQUEST__OP_QUEUE_SHOW:
	case CALLRAFT__REQUEST__OP_TICKET_OPEN:
	case CALLRAFT__REQUEST__OP_TICKET_UPDATE:
	case CALLRAFT__REQUEST__OP_TICKET_SHOW:
	case CALLRAFT__REQUEST__OP_TICKET_LIST:
	case CALLRAFT__REQUEST__OP_STATS_GET:
	case CALLRAFT__REQUEST__OP_AGENT_LIST:
	case CALLRAFT__REQUEST__OP_CUSTOMER_HISTORY:
	case CALLRAFT__REQUEST__OP_CUSTOMER_SET: /* the CRM's integration: a supervisor certificate */
	case CALLRAFT__REQUEST__OP_CUSTOMER_SHOW: /* personal data (national id, numbers) */
	case CALLRAFT__REQUEST__OP_MEMBERS_LIST:
	case CALLRAFT__REQUEST__OP_SITE_LIST:
	case CALLRAFT__REQUEST__OP_TICKET_CLASS_CONFIGURE:
	case CALLRAFT__REQUEST__OP_TICKET_CLASS_SHOW:
	case CALLRAFT__REQUEST__OP_TICKET_DUE_LIST:
	case CALLRAFT__REQUEST__OP_CAMPAIGN_CREATE: /* a supervisor runs the center's campaigns */
	case CALLRAFT__REQUEST__OP_CAMPAIGN_ADD:
	case CALLRAFT__REQUEST__OP_CAMPAIGN_PAUSE:
	case CALLRAFT__REQUEST__OP_CAMPAIGN_DELETE:
	case CALLRAFT__REQUEST__OP_CAMPAIGN_SHOW:
	case CALLRAFT__REQUEST__OP_CAMPAIGN_LIST:
		return CLASS_SUPERVISE;
	case CALLRAFT__REQUEST__OP_MEMBER_ADD:
	case CALLRAFT__REQUEST__OP_MEMBER_REMOVE:
	case CALLRAFT__REQUEST__OP_MEMBER_ASSIGN:
	case CALLRAFT__REQUEST__OP_LEADER_TRANSFER:
	case CALLRAFT__REQUEST__OP_SNAPSHOT_TAKE:
	case CALLRAFT__REQUEST__OP_SITE_CONFIGURE:
	case CALLRAFT__REQUEST__OP_SITE_DOWN:
	case CALLRAFT__REQUEST__OP_SITE_UP:
	case CALLRAFT__REQUEST__OP_TOKEN_ISSUE:
	case CALLRAFT__REQUEST__OP_TOKEN_REVOKE:
	case CALLRAFT__REQUEST__OP_TOKEN_LIST:
	case CALLRAFT__REQUEST__OP_RULES_UPGRADE:
	case CALLRAFT__REQUEST__OP_RULES_SHOW:
		return CLASS_ADMIN;
	case CALLRAFT__REQUEST__OP_RULES_DECLARE:
		return CLASS_MEMBER; /* a node's own (node/rules.c) */
	default:
		/* An operation added to the protocol but not here is refused until it is classed. */
		return CLASS_UNKNOWN;
	}
}

const char *authz_op_name(Callraft__Request__OpCase op)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field(&callraft__request__descriptor, (unsigned)op);
	return f != NULL ? f->name : "unknown";
}

/* The site an operation names, for site-limited certificates; NULL if it names none. */
static const char *op_site(const Callraft__Request *req)
{
	switch (req->op_case) {
	case CALLRAFT__REQUEST__OP_CALL_ENQUEUE:
		return req->call_enqueue != NULL ? req->call_enqueue->arrival_site : NULL;
	case CALLRAFT__REQUEST__OP_AGENT_LOGIN:
		return req->agent_login != NULL ? req->agent_login->site : NULL;
	case CALLRAFT__REQUEST__OP_CALLBACK_VOICEMAIL:
		return req->callback_voicemail != NULL ? req->callback_voicemail->site : NULL;
	case CALLRAFT__REQUEST__OP_EVENTS_READ:
		return req->events_read != NULL ? req->events_read->site : NULL;
	case CALLRAFT__REQUEST__OP_SITE_HEARTBEAT:
		return req->site_heartbeat != NULL ? req->site_heartbeat->site : NULL;
	default:
		return NULL;
	}
}

int authz_check(const struct tls_identity *id, const Callraft__Request *req, char *why, size_t len)
{
	const char *op = authz_op_name(req->op_case);
	const char *who = id->name[0] ? id->name : "(no CN)";
	char have[64];
	unsigned need;
	const char *need_name;
	enum op_class cls;

	if (id->node_id != 0)
		return 0; /* a member: forwards requests it has already checked */
	if (req->forwarded) {
		snprintf(why, len, "forwarded requests are accepted only from cluster members; "
				   "certificate '%s' is not a member's", who);
		return -1;
	}
	cls = op_class(req->op_case);
	switch (cls) {
	case CLASS_ANY:
		return 0;
	case CLASS_CALLS:
		need = ROLES_CALLS, need_name = "agent, pbx, supervisor or admin";
		break;
	case CLASS_SUPERVISE:
		need = ROLES_SUPERVISE, need_name = "supervisor or admin";
		break;
	case CLASS_ADMIN:
		need = ROLES_ADMIN, need_name = "admin";
		break;
	case CLASS_MEMBER: /* members returned above */
		snprintf(why, len, "%s: sent by cluster members' nodes only; certificate '%s' is not a "
			 "member's", op, who);
		return -1;
	default:
		snprintf(why, len, "%s: no role may run it (not classed in authz.c)", op);
		return -1;
	}
	if ((id->roles & need) == 0) {
		tls_roles_format(id->roles, have, sizeof have);
		snprintf(why, len, "%s needs role %s; certificate '%s' has roles: %s", op, need_name, who,
			 have);
		return -1;
	}
	/* A site-limited agent or pbx acts for its own site only (supervisors and admins span sites). */
	if (id->site[0] != '\0' && (id->roles & ROLES_SUPERVISE) == 0) {
		const char *site = op_site(req);
		if (site != NULL && strcmp(site, id->site) != 0) {
			snprintf(why, len, "%s for site '%s': certificate '%s' is limited to site '%s' "
				 "(name that site)", op, site, who, id->site);
			return -1;
		}
	}
	return 0;
}

/* Replaces an unpacked string field (freed by free_unpacked unless it is the empty default). */
static int set_field(char **field, const char *v)
{
	char *copy = (char *)protobuf_c_empty_string;

	if (v[0] != '\0' && (copy = strdup(v)) == NULL)
		return -1;
	if (*field != NULL && *field != protobuf_c_empty_string)
		free(*field);
	*field = copy;
	return 0;
}

int authz_stamp(const struct tls_identity *id, Callraft__Request *req)
{
	const char *site = "";

	if (id != NULL && (id->roles & ROLES_SUPERVISE) == 0)
		site = id->site;
	if (set_field(&req->actor, id != NULL ? id->principal : "") != 0)
		return -1;
	return set_field(&req->actor_site, site);
}
