/* alarm.c: the node's space alarm (issue 13): warns well before a quota or LMDB's map is reached,
 * in the log (at most once a minute while it lasts) and in `status` (NodeStatus.alarm).
 *
 * Two sizes are watched: the logical bytes the FSM counts against the replicated quota (the same on
 * every replica; reaching the quota refuses writes with RESOURCE_EXHAUSTED, see state/quota.c) and
 * the pages LMDB has in use against this node's map (local; reaching the map would stop the node,
 * which the quota's margin is there to prevent). A quota (the leader's) above this node's map / 4
 * is an alarm too: a rolling change raised the quota before this node's map. */
#include <stdio.h>

#include "log.h"
#include "node_internal.h"

#define MIB (1024.0 * 1024.0)

void node_alarm(struct node *n, char *buf, size_t len)
{
	struct state_usage u;

	buf[0] = '\0';
	state_usage(n->state, &u);
	if (u.quota_bytes != 0 && u.bytes * 100 >= u.quota_bytes * CALLRAFT_QUOTA_ALARM_PERCENT)
		snprintf(buf, len, "state holds %.1f MiB, %.0f%% of its quota of %.1f MiB (new "
			 "writes are refused at 100%%): free space or raise [state] quota_mb "
			 "(docs/security.md)",
			 (double)u.bytes / MIB, 100.0 * (double)u.bytes / (double)u.quota_bytes,
			 (double)u.quota_bytes / MIB);
	else if (u.map_bytes != 0 && u.quota_bytes > u.map_bytes / CALLRAFT_QUOTA_MAP_FACTOR)
		snprintf(buf, len, "the leader's quota of %.1f MiB is above this node's map of %.1f MiB "
			 "/ %d: raise [state] map_size_mb here (maps first, then quotas: "
			 "docs/security.md)",
			 (double)u.quota_bytes / MIB, (double)u.map_bytes / MIB,
			 CALLRAFT_QUOTA_MAP_FACTOR);
	else if (u.map_bytes != 0 &&
		 u.map_used_bytes * 100 >= u.map_bytes * CALLRAFT_MAP_ALARM_PERCENT)
		snprintf(buf, len, "LMDB uses %.1f MiB, %.0f%% of its map of %.1f MiB: grow "
			 "[state] map_size_mb (rolling restart, docs/security.md)",
			 (double)u.map_used_bytes / MIB,
			 100.0 * (double)u.map_used_bytes / (double)u.map_bytes,
			 (double)u.map_bytes / MIB);
}

void node_alarm_check(struct node *n)
{
	static int64_t last_s;
	char alarm[320];
	int64_t now_s = (int64_t)(uv_now(&n->loop) / 1000); /* monotonic: a clock step neither floods nor mutes it */

	node_alarm(n, alarm, sizeof alarm);
	if (alarm[0] != '\0' && now_s - last_s >= CALLRAFT_ALARM_LOG_INTERVAL_S) {
		last_s = now_s;
		LOG_EVENT(LOG_WARN, "space_alarm", LOG_NO_FIELDS, "alarm: %s", alarm);
	}
}
