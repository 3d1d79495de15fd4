/* stamp_clock.c: see stamp_clock.h. */
#include "stamp_clock.h"

#include <assert.h>

void stamp_clock_init(struct stamp_clock *c, int64_t wall_ms, uint64_t mono_ms)
{
	*c = (struct stamp_clock){.anchored = true, .stamp_ms = wall_ms, .mono_ms = mono_ms};
}

int64_t stamp_clock_now(struct stamp_clock *c, int64_t wall_ms, uint64_t mono_ms, int64_t fsm_ms)
{
	assert(c->anchored);
	assert(mono_ms >= c->mono_ms);
	int64_t elapsed = (int64_t)(mono_ms - c->mono_ms);
	int64_t slew = elapsed * STAMP_CLOCK_SLEW_PPM / 1000000;
	int64_t lo = c->stamp_ms + elapsed - slew, hi = c->stamp_ms + elapsed + slew;
	int64_t stamp = wall_ms < lo ? lo : wall_ms > hi ? hi : wall_ms; /* S2 */

	if (stamp < fsm_ms)
		stamp = fsm_ms; /* S3 */
	assert(stamp >= c->stamp_ms); /* S1 */
	c->stamp_ms = stamp;
	c->mono_ms = mono_ms;
	return stamp;
}
