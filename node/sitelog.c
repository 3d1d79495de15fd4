/* sitelog.c: logs the FSM's site liveness decisions (state/sitewatch.c) with their evidence.
 *
 * Every replica applies the same Tick and so logs the same decision at the same log index; an
 * operator reading any node's log sees "site 'tehran' lost at index 8812 (last evidence: nodes
 * 8000 ms ago, pbx 8000 ms ago, agents 9500 ms ago)". Entries replayed after a restart log again.
 * A loss and a restoration are also SITE_LOST / SITE_RESTORED events of the FSM's event stream
 * (state/queue_config.c, route_site_put), their reason the same evidence. */
#include <string.h>

#include "log.h"
#include "node_internal.h"

void node_site_event_log(void *data, uint64_t index, const char *site, const char *what,
			 const char *evidence)
{
	const char *event = "site_change";

	(void)data;
	if (strcmp(what, "lost") == 0)
		event = "site_lost";
	else if (strcmp(what, "restored") == 0)
		event = "site_restored";
	else if (strcmp(what, "back in contact") == 0)
		event = "site_back_in_contact";
	else if (strncmp(what, "out of contact", 14) == 0)
		event = "site_out_of_contact";
	LOG_EVENT(LOG_WARN, event,
		  LOG_FIELDS(LOG_S("subject_site", site), LOG_U("index", index),
			     LOG_S("evidence", evidence)),
		  "site '%s' %s at index %llu (%s)", site, what, (unsigned long long)index, evidence);
}
