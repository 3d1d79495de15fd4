/* sitelog.c: logs the FSM's site liveness decisions (state/sitewatch.c) with their evidence.
 *
 * Every replica applies the same Tick and so logs the same decision at the same log index; an
 * operator reading any node's log sees "site 'tehran' lost at index 8812 (last evidence: nodes
 * 8000 ms ago, pbx 8000 ms ago, agents 9500 ms ago)". Entries replayed after a restart log again.
 * NEEDSWORK: push these through the FSM event stream once it is on main. */
#include "log.h"
#include "node_internal.h"

void node_site_event_log(void *data, uint64_t index, const char *site, const char *what,
			 const char *evidence)
{
	(void)data;
	LOG(LOG_WARN, "site '%s' %s at index %llu (%s)", site, what, (unsigned long long)index,
	    evidence);
}
