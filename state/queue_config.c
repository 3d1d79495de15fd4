/* queue_config.c: the configuration of queues and sites (QueueConfigure, SiteConfigure), and the
 * defaults a never-configured queue or site routes with (routing.c describes the rules they feed).
 *
 * Lowest of the routing files: it reads and writes only its own tables (DB_QUEUES, DB_SITES)
 * through store.c, so every other file of state/ may ask it for a config without a call circle. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "state_internal.h"

void route_queue_defaults(Callraft__QueueConfig *q, const char *queue)
{
	*q = (Callraft__QueueConfig)CALLRAFT__QUEUE_CONFIG__INIT;
	q->queue = (char *)queue;
	q->overflow_after_ms = CALLRAFT_OVERFLOW_AFTER_MS_DEFAULT;
	q->offer_timeout_ms = CALLRAFT_OFFER_TIMEOUT_MS_DEFAULT;
	q->known_agent_timeout_ms = CALLRAFT_KNOWN_AGENT_TIMEOUT_MS_DEFAULT;
	q->aging_ms_per_tier = CALLRAFT_AGING_MS_PER_TIER_DEFAULT;
	q->service_level_ms = CALLRAFT_SERVICE_LEVEL_MS_DEFAULT;
	q->wrap_up_ms = CALLRAFT_WRAP_UP_MS_DEFAULT;
	q->top_tier = CALLRAFT_TOP_TIER_DEFAULT;
	q->redial_window_ms = CALLRAFT_REDIAL_WINDOW_MS_DEFAULT;
	q->known_agent_link_ttl_ms = CALLRAFT_KNOWN_AGENT_LINK_TTL_MS_DEFAULT;
	q->callback_retry_ms = CALLRAFT_CALLBACK_RETRY_MS_DEFAULT;
	q->callback_attempts_max = CALLRAFT_CALLBACK_ATTEMPTS_MAX;
}

int route_queue_config(struct apply_ctx *c, const char *queue, Callraft__QueueConfig *out)
{
	Callraft__QueueConfig *rec;
	int rc = store_get(c->s, c->txn, DB_QUEUES, queue, strlen(queue),
			   &callraft__queue_config__descriptor, (ProtobufCMessage **)&rec,
			   "queue config", queue, c->errmsg, c->errmsg_len);

	route_queue_defaults(out, queue);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	Callraft__QueueConfig copy = *rec;
	copy.base = out->base;
	copy.queue = (char *)queue;
	*out = copy;
	protobuf_c_message_free_unpacked(&rec->base, NULL);
	return 0;
}

static void site_defaults(Callraft__Site *s, const char *site)
{
	*s = (Callraft__Site)CALLRAFT__SITE__INIT;
	s->site = (char *)site;
	s->presence_timeout_ms = CALLRAFT_PRESENCE_TIMEOUT_MS_DEFAULT;
	s->site_loss_after_ms = CALLRAFT_SITE_LOSS_AFTER_MS_DEFAULT;
	s->contact_timeout_ms = CALLRAFT_CONTACT_TIMEOUT_MS_DEFAULT;
}

int route_site(struct apply_ctx *c, const char *site, Callraft__Site *out)
{
	Callraft__Site *rec;
	int rc;

	site_defaults(out, site);
	if (site == NULL || site[0] == '\0')
		return 0;
	rc = store_get(c->s, c->txn, DB_SITES, site, strlen(site), &callraft__site__descriptor,
		       (ProtobufCMessage **)&rec, "site", site, c->errmsg, c->errmsg_len);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	Callraft__Site copy = *rec;
	copy.base = out->base;
	copy.site = (char *)site;
	copy.down_reason = "";
	if (copy.contact_timeout_ms == 0) /* a record written before issue 12 */
		copy.contact_timeout_ms = CALLRAFT_CONTACT_TIMEOUT_MS_DEFAULT;
	*out = copy;
	protobuf_c_message_free_unpacked(&rec->base, NULL);
	return 0;
}

/* Every write of a site goes through here: a change of `down` is a SITE_LOST / SITE_RESTORED
 * event (events.c), whichever rule made it. */
int route_site_put(struct apply_ctx *c, const Callraft__Site *site)
{
	Callraft__Site *old;
	int rc = store_get(c->s, c->txn, DB_SITES, site->site, strlen(site->site),
			   &callraft__site__descriptor, (ProtobufCMessage **)&old, "site", site->site,
			   c->errmsg, c->errmsg_len);

	if (rc < 0)
		return -1;
	/* route_site hands out no strings but the name: a site still down keeps its reason. */
	Callraft__Site put = *site;
	if (old != NULL && old->down && put.down && (put.down_reason == NULL ||
						     put.down_reason[0] == '\0'))
		put.down_reason = old->down_reason;
	rc = event_site_changed(c, old != NULL && old->down, &put);
	if (rc == 0)
		rc = store_put(c->s, c->txn, DB_SITES, put.site, strlen(put.site), &put.base, "site",
			       put.site, c->errmsg, c->errmsg_len);
	if (old != NULL)
		protobuf_c_message_free_unpacked(&old->base, NULL);
	return rc;
}

int op_queue_configure(struct apply_ctx *c, const Callraft__QueueConfigure *op)
{
	Callraft__QueueConfig q;

	if (route_queue_config(c, op->queue, &q) != 0)
		return -1;
	config_fields_apply(&op->base, config_queue_fields, &q.base);
	if (op->site_lost_callback != NULL)
		q.site_lost_no_callback = !op->site_lost_callback->value;
	if (store_put(c->s, c->txn, DB_QUEUES, q.queue, strlen(q.queue), &q.base, "queue config",
		      q.queue, c->errmsg, c->errmsg_len) != 0)
		return -1;
	snprintf(c->msg, sizeof c->msg, "queue '%s' configured", q.queue);
	return 0;
}

int op_site_configure(struct apply_ctx *c, const Callraft__SiteConfigure *op)
{
	Callraft__Site s;

	if (route_site(c, op->site, &s) != 0)
		return -1;
	config_fields_apply(&op->base, config_site_fields, &s.base);
	/* The opening hours are known once any of them is set. */
	if (op->opens_at_minute != NULL || op->utc_offset_minutes != NULL ||
	    op->closes_at_minute != NULL)
		s.configured = true;
	snprintf(c->msg, sizeof c->msg, "site '%s' configured", s.site);
	return route_site_put(c, &s);
}
