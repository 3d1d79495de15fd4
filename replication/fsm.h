/* fsm.h: the Raft state machine adapter, from raft's `struct raft_fsm` onto state/.
 *
 * apply: the entry's index is raft_last_applied(r) + 1 (raft passes no index); state_apply skips
 *   indexes at or below the applied index stored in LMDB, so restart replay is harmless. Business
 *   errors travel in replies; apply returns non-zero only on an LMDB failure, which is reported
 *   through `on_fatal`, or on an entry this binary has no rules for (`on_rules_stop`), (the node exits: a supervisor restarts it) because a non-zero return would
 *   stall raft's apply loop forever.
 * snapshot: raft (legacy API) takes it synchronously on the loop thread when
 *   last_applied == commit_index; the image is a compacted LMDB copy (state_snapshot), freed by
 *   snapshot_finalize. With deferred snapshots on (the daemon: see repl.c), the fsm instead hands
 *   raft a small placeholder at once, and the I/O layer makes the real image on a worker thread
 *   before writing it: the copy of a large state then never stalls the loop. The image is of some
 *   applied index >= the snapshot's (the loop keeps applying during the copy), which is safe
 *   because apply skips entries at or below the applied index the image records.
 * restore: called at start for the last local snapshot and for every InstallSnapshot; a local state
 *   that is already as new as the image is kept (no rewrite at every boot). On success the FSM owns
 *   and frees buf->base (raft_free).
 *
 * Ownership: the fsm borrows `state` and `raft`; both must outlive it. */
#ifndef CALLRAFT_FSM_H
#define CALLRAFT_FSM_H

#include <raft.h>
#include <stdbool.h>
#include <stdint.h>

#include "histogram.h"
#include "state.h"

/* Called after each applied entry with its replies (owned by the state, valid during the call). */
typedef void (*fsm_applied_cb)(void *data, uint64_t index, const struct state_replies *replies);
/* Called when the state cannot be written (disk full, I/O error): the message says what failed. */
typedef void (*fsm_fatal_cb)(void *data, const char *message);

struct fsm {
	struct raft_fsm base; /* handed to raft_init / raft_fixture_grow */
	struct state *state;
	struct raft *raft;
	fsm_applied_cb on_applied;
	fsm_fatal_cb on_fatal;
	fsm_fatal_cb on_rules_stop; /* STATE_APPLY_RULES; NULL: on_fatal */
	void *cb_data;
	uint64_t entries_applied;   /* entries applied by this process */
	uint64_t entries_skipped;   /* replayed entries at or below the stored applied index */
	uint64_t snapshots_taken;
	uint64_t snapshots_restored; /* restores that replaced the local state */
	uint64_t bytes_applied;      /* payload bytes of the entries applied by this process */
	uint64_t last_index;         /* the last index handed to apply (applied or skipped) */
	struct histogram apply_seconds; /* state_apply's time per applied entry (metrics) */
	struct histogram entry_bytes;   /* payload bytes per applied entry (metrics) */
	bool deferred_snapshots;
	char errmsg[256];
};

/* The log payload of a command entry: be32 length of the encoded Callraft__Entry, the encoded
 * entry, then zero padding to a multiple of 8 bytes (raft_uv refuses entry buffers whose length is
 * not a multiple of 8). fsm_entry_encode returns a raft_malloc'd buffer ready for raft_apply
 * (*len_out set), or NULL. fsm_entry_payload finds the encoded entry inside a payload; -1 if the
 * framing is broken. */
void *fsm_entry_encode(const Callraft__Entry *entry, size_t *len_out);
int fsm_entry_payload(const void *buf, size_t len, const void **entry, size_t *entry_len);

/* Initialises the adapter over `state`. raft must be set with fsm_set_raft before raft_start. */
void fsm_init(struct fsm *f, struct state *state);
void fsm_set_raft(struct fsm *f, struct raft *raft);
void fsm_set_callbacks(struct fsm *f, fsm_applied_cb applied, fsm_fatal_cb fatal, void *data);
/* Called instead of `fatal` when the state has no rules for an entry (STATE_APPLY_RULES): the
 * message names the versions. Must not return either. */
void fsm_set_rules_stop(struct fsm *f, fsm_fatal_cb rules_stop);

/* Deferred snapshots (off by default): fsm_snapshot returns a placeholder instead of the image, and
 * whoever writes the snapshot must replace it with state_image_take's image of f->state.
 * fsm_deferred_snapshot_of returns the fsm a snapshot's placeholder came from, or NULL if the
 * snapshot is not a placeholder. */
void fsm_set_deferred_snapshots(struct fsm *f, bool on);
struct fsm *fsm_deferred_snapshot_of(const struct raft_snapshot *snapshot);

#endif
