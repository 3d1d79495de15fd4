/* sim_disk.h: a page cache that can lose power, interposed under the real LMDB (and every other
 * file the code under test writes) in the crash simulation.
 *
 * The test executable defines open, write, pwrite, writev, fsync, fdatasync, ftruncate and close;
 * the dynamic linker binds liblmdb's calls (and ours) to them. Files opened under the tracked root
 * are followed by inode: before a write changes a 4 KiB page for the first time since the file was
 * last synced, the page's synced content is saved. The writes themselves go to the real file (LMDB
 * reads through mmap, so they must), which is what the page cache of a live machine holds.
 *
 * A crash of the files under a prefix (one simulated machine):
 *   - process crash: the page cache survives; nothing reverts;
 *   - power loss: every page written since its file's last fsync is, independently, kept (the
 *     kernel had written it back), reverted to its synced content, or torn (a random subset of its
 *     512-byte sectors reverted), as writeback in arbitrary order and a sector-atomic disk allow.
 * A freeze (simdisk_freeze) marks the instant the process dies in the middle of something (an LMDB
 * commit inside an apply): every later write to the prefix is undone at the crash, in reverse
 * order, and later syncs do not count. Directory operations (create, rename, unlink) are durable at
 * once: a modelling limit, noted in tests/sim/README.md. */
#ifndef CALLRAFT_SIM_DISK_H
#define CALLRAFT_SIM_DISK_H

#include <stdbool.h>
#include <stdint.h>

struct simdisk_crash_stats {
	uint64_t pages_dirty;    /* pages written since their last sync */
	uint64_t pages_reverted; /* of those, reverted to the synced content */
	uint64_t pages_torn;     /* of those, torn at a sector boundary */
	uint64_t writes_undone;  /* writes after the freeze, undone */
};

/* Follows the files opened under `root` from now on. */
void simdisk_track(const char *root);
/* Forgets every file (the caller removes the directory). */
void simdisk_reset(void);

/* The crash of the machine whose files are under `prefix`. With `power_loss`, unsynced pages are
 * kept, reverted or torn using `rng` (xorshift state advanced by the call). The caller freezes the
 * prefix, closes its files (syncs after the freeze do not count), then calls this. */
void simdisk_crash(const char *prefix, bool power_loss, uint64_t *rng, struct simdisk_crash_stats *st);

/* The process of `prefix` dies now: later writes are undone at the crash. */
void simdisk_freeze(const char *prefix);
bool simdisk_frozen(const char *prefix);
/* Freezes `prefix` at its nth next write (that write and the later ones are undone at the crash);
 * nth 0 disarms. */
void simdisk_freeze_at(const char *prefix, unsigned nth);

/* Writes to files under the root so far (a trigger for freezes). */
uint64_t simdisk_writes(void);

#endif
