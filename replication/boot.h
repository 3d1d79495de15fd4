/* boot.h: the unclean-reboot rule of a node's start-up, shared by callraftd (node/datadir.c) and the
 * crash simulation (tests/sim/test_sim_crash.c), so that the simulation exercises the daemon's rule.
 *
 * With LMDB's own fsync off (MDB_NOSYNC, the default; see docs/design.md, "MDB_NOSYNC and the
 * boot-id rebuild"), a machine crash (power loss, kernel panic; not a process crash, whose writes
 * the page cache keeps) can leave the state behind or torn. The rule detects it: the kernel's boot
 * id at start differs from the one recorded while running, and no clean-shutdown marker exists.
 * The state directory is then discarded, and raft rebuilds it from its snapshot and log.
 *
 * Files in the data directory: "running-boot-id" (written, fsynced, at every start),
 * "clean-shutdown" (written at a clean stop, removed at start). */
#ifndef CALLRAFT_BOOT_H
#define CALLRAFT_BOOT_H

#include <stdbool.h>
#include <stddef.h>

/* The running kernel's boot id (/proc/sys/kernel/random/boot_id), or "" if unknown. */
void boot_id_read(char *buf, size_t len);

/* Applies the rule to `state_dir` (inside `data_dir`): discards it if the last stop was unclean,
 * on another boot, and the state is not synced on its own (state_sync false). Then records
 * `boot_id` as running and removes the clean-shutdown marker. An empty boot_id disables the rule
 * (nothing is discarded). *discarded (may be NULL) says whether the state was discarded.
 * Returns 0, or -1 with errno if the state could not be removed or the markers written. */
int boot_check(const char *data_dir, const char *state_dir, const char *boot_id, bool state_sync,
	       bool *discarded);

/* Removes `state_dir` and everything in it, following no symbolic link out of it (raft then
 * rebuilds the state). Returns 0 (also if it did not exist), or -1 with errno. */
int boot_discard_state(const char *state_dir);

/* Writes the clean-shutdown marker (after the state was closed and synced). */
void boot_mark_clean(const char *data_dir, const char *boot_id);

#endif
