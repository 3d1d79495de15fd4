/* repl_threshold.c: raft's snapshot threshold sized to the state.
 *
 * At least the configured threshold and, once the state passes CALLRAFT_SNAPSHOT_SIZING_BYTES,
 * as many entries as make up about half the state's bytes (at most CALLRAFT_SNAPSHOT_LOG_BYTES_MAX
 * of log, which raft holds in memory), so that a large state is not copied every few thousand
 * entries; trailing follows the threshold. Every node reaches the threshold at about the same index, and
 * copying and writing a large state at once on every node of a small machine hurts: the sized
 * threshold is staggered per node (up to +7/16 by node id), so nodes snapshot one after the other. */
#include "repl_internal.h"

void repl_size_snapshot_threshold(struct repl *r, uint64_t state_bytes)
{
	const struct fsm *f = &r->fsm;
	uint64_t per_entry, want;

	if (r->snapshot_requested)
		return; /* keeps threshold 1 until the requested snapshot starts */
	if (f->entries_applied < CALLRAFT_SNAPSHOT_SIZING_ENTRIES_MIN)
		return; /* no measure of entry size yet */
	/* Entry size: the larger of the lifetime average and the average since the last call, so
	 * that a burst of large batches (a bulk import) is not hidden by a history of small ones. */
	per_entry = f->bytes_applied / f->entries_applied;
	if (f->entries_applied - r->sized_entries >= CALLRAFT_SNAPSHOT_SIZING_ENTRIES_MIN) {
		uint64_t recent = (f->bytes_applied - r->sized_bytes) /
				  (f->entries_applied - r->sized_entries);
		if (recent > per_entry)
			per_entry = recent;
		r->sized_entries = f->entries_applied;
		r->sized_bytes = f->bytes_applied;
	}
	if (per_entry < CALLRAFT_SNAPSHOT_ENTRY_BYTES_MIN)
		per_entry = CALLRAFT_SNAPSHOT_ENTRY_BYTES_MIN;
	/* A state under CALLRAFT_SNAPSHOT_SIZING_BYTES copies in well under 100 ms: the configured
	 * threshold alone. Above, the log between snapshots grows with the state. */
	want = state_bytes < CALLRAFT_SNAPSHOT_SIZING_BYTES ? 0 : state_bytes / 2 / per_entry;
	/* raft keeps the log since the last snapshot, plus the trailing entries, in memory: bound it
	 * in bytes. */
	if (want > CALLRAFT_SNAPSHOT_LOG_BYTES_MAX / per_entry)
		want = CALLRAFT_SNAPSHOT_LOG_BYTES_MAX / per_entry;
	if (want < r->snapshot_threshold_min)
		want = r->snapshot_threshold_min;
	else
		want += want * (r->raft.id % 8) / 16; /* staggered (see above) */
	/* Move only on a real change (a quarter), not on every tick. */
	if (want * 4 < (uint64_t)r->snapshot_threshold * 3 ||
	    want * 4 > (uint64_t)r->snapshot_threshold * 5) {
		r->snapshot_threshold = (unsigned)want;
		raft_set_snapshot_threshold(&r->raft, r->snapshot_threshold);
		/* As many entries kept behind a snapshot: a follower that far behind (a restart, a
		 * cut link) catches up from the log, not with a copy of the whole state. */
		raft_set_snapshot_trailing(&r->raft, r->snapshot_threshold > r->snapshot_trailing_min
							 ? r->snapshot_threshold
							 : r->snapshot_trailing_min);
	}
}
