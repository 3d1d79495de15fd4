/* datadir.c: the data directory: its lock, its layout, and the markers that let LMDB skip its own
 * fsync (docs/design.md, "MDB_NOSYNC and the boot-id rebuild").
 *
 *   <data_dir>/LOCK             flock'ed while a callraftd runs on the directory
 *   <data_dir>/state/           the LMDB state (state/)
 *   <data_dir>/raft/            raft's log and snapshots (replication/)
 *   <data_dir>/running-boot-id  the kernel's boot id, written at start
 *   <data_dir>/clean-shutdown   written at a clean stop, removed at start
 *
 * With LMDB's own fsync off, a machine crash (not a process crash: the page cache survives that)
 * can leave the state behind or torn. It is detected at start: the kernel's boot id differs from
 * the one recorded while running, and no clean-shutdown marker exists. Then the state is discarded
 * and raft rebuilds it from its snapshot and log.
 *
 * Invariant: while the node runs, lock_fd holds the directory's flock (no second process on it). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "boot.h"
#include "log.h"
#include "node_internal.h"

static int lock_data_dir(struct node *n, char *err, size_t len)
{
	char path[600];
	if (mkdir(n->cfg.data_dir, 0750) != 0 && errno != EEXIST)
		return snprintf(err, len, "data dir '%s': %s", n->cfg.data_dir, strerror(errno)), -1;
	snprintf(path, sizeof path, "%s/LOCK", n->cfg.data_dir);
	n->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (n->lock_fd < 0)
		return snprintf(err, len, "data dir '%s': lock: %s", n->cfg.data_dir, strerror(errno)), -1;
	if (flock(n->lock_fd, LOCK_EX | LOCK_NB) != 0)
		return snprintf(err, len, "data dir '%s' is in use by another callraftd (flock: %s)",
				n->cfg.data_dir, strerror(errno)), -1;
	return 0;
}

/* The rule itself is in replication/boot.c, shared with the crash simulation (tests/sim). */
static int check_unclean_boot(struct node *n, const char *state_dir)
{
	char boot[64];
	bool discarded = false;
	int rc;

	boot_id_read(boot, sizeof boot);
	rc = boot_check(n->cfg.data_dir, state_dir, boot, n->cfg.state_sync, &discarded);
	if (discarded)
		LOG_EVENT(LOG_WARN, "state_discarded", LOG_NO_FIELDS, "machine restarted since the last unclean stop: discarded '%s' to rebuild it from the raft log",
			  state_dir);
	return rc;
}

int datadir_open(struct node *n, const char *state_dir, char *err, size_t len)
{
	if (lock_data_dir(n, err, len) != 0)
		return -1;
	if (check_unclean_boot(n, state_dir) != 0)
		return snprintf(err, len, "data dir '%s': unclean-reboot rule: %s", n->cfg.data_dir,
				strerror(errno)), -1;
	if (mkdir(state_dir, 0750) != 0 && errno != EEXIST)
		return snprintf(err, len, "state dir '%s': %s", state_dir, strerror(errno)), -1;
	return 0;
}

void datadir_mark_clean_shutdown(struct node *n)
{
	char boot[64];
	boot_id_read(boot, sizeof boot);
	boot_mark_clean(n->cfg.data_dir, boot);
}

void datadir_close(struct node *n)
{
	if (n->lock_fd >= 0)
		close(n->lock_fd);
	n->lock_fd = -1;
}

void datadir_space(const struct node *n, char *out, size_t len)
{
	struct statvfs fs;

	out[0] = '\0';
	if (statvfs(n->cfg.data_dir, &fs) == 0)
		snprintf(out, len, " (data dir '%s': %llu of %llu MiB free%s)", n->cfg.data_dir,
			 (unsigned long long)fs.f_bavail * fs.f_frsize >> 20,
			 (unsigned long long)fs.f_blocks * fs.f_frsize >> 20,
			 (uint64_t)fs.f_bavail * fs.f_frsize < CALLRAFT_DISK_FULL_BYTES
			     ? ": the disk is full"
			     : "");
}
