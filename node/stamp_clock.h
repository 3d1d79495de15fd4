/* stamp_clock.h: the leader's clock for the time it stamps on each entry (Entry.time_ms), kept
 * steady when the machine's wall clock steps.
 *
 * The FSM's time is max(last, stamped) (state/apply.c), so a stamp hours ahead moves every
 * time-based rule hours ahead at once (overflow, offer timeouts, callbacks due, session expiry),
 * and a stamp hours behind freezes them until the wall clock catches up. A wall clock steps when
 * an operator or a broken NTP sets it; the monotonic clock (uv_hrtime) never steps. So the stamp
 * advances at the monotonic clock's rate and is pulled toward the wall clock by at most
 * STAMP_CLOCK_SLEW_PPM of the elapsed time: NTP's own slewing (at most 500 ppm) is followed; a
 * step is absorbed (a 3 h step would take 3000 h to reach).
 *
 * Invariants:
 *   S1. The stamp never goes backwards: each stamp >= the previous one.
 *   S2. Between two stamps, the stamp advances by the monotonic time elapsed, within
 *       STAMP_CLOCK_SLEW_PPM of it, unless FSM time is ahead (S3).
 *   S3. A stamp is never behind the FSM time it is given: a leader whose clock is behind the
 *       cluster's continues from the cluster's time instead of freezing it.
 * What it cannot absorb: a process that *starts* with a wrong wall clock anchors to it (it has no
 * earlier reading to compare with). Start nodes after NTP has synchronised the clock
 * (deploy/callraftd.service: After=time-sync.target); docs/operations.md, "Clock jumps". */
#ifndef CALLRAFT_STAMP_CLOCK_H
#define CALLRAFT_STAMP_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

/* How far the stamp may be pulled toward the wall clock, per million of elapsed time (0.1 %). */
#define STAMP_CLOCK_SLEW_PPM 1000

struct stamp_clock {
	bool anchored;
	int64_t stamp_ms; /* the last stamp */
	uint64_t mono_ms; /* the monotonic reading it was taken at */
};

/* Anchors the clock: the stamp starts at `wall_ms`. */
void stamp_clock_init(struct stamp_clock *c, int64_t wall_ms, uint64_t mono_ms);

/* The stamp now, given the wall clock, the monotonic clock and the FSM's time; advances the
 * clock. `mono_ms` must not be below the previous call's (monotonic). */
int64_t stamp_clock_now(struct stamp_clock *c, int64_t wall_ms, uint64_t mono_ms, int64_t fsm_ms);

#endif
