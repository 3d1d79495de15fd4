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
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "node_internal.h"

#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

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

static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;
	if (fd < 0)
		return -1;
	r = read(fd, buf, len - 1);
	close(fd);
	if (r < 0)
		return -1;
	buf[r] = '\0';
	return 0;
}

static int write_small(const char *dir, const char *name, const char *content)
{
	char path[600], tmp[620];
	int fd, dfd;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	if (write(fd, content, strlen(content)) != (ssize_t)strlen(content) || fsync(fd) != 0) {
		close(fd);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) != 0)
		return -1;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) != 0 && errno != ENOENT) {
		LOG_WARN_("could not remove '%s': %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Removes `dir` and everything under it, without a shell (a quote in a path cannot inject a
 * command) and without following symbolic links out of it (FTW_PHYS). */
static void remove_tree(const char *dir)
{
	if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
		LOG_WARN_("could not remove '%s'", dir);
}

static int check_unclean_boot(struct node *n, const char *state_dir)
{
	char boot[64] = "", running[64] = "", path[600];
	if (read_small(BOOT_ID_PATH, boot, sizeof boot) != 0)
		return 0;
	snprintf(path, sizeof path, "%s/clean-shutdown", n->cfg.data_dir);
	bool clean = access(path, F_OK) == 0;
	snprintf(path, sizeof path, "%s/running-boot-id", n->cfg.data_dir);
	bool was_running = read_small(path, running, sizeof running) == 0;
	if (!n->cfg.state_sync && !clean && was_running && strcmp(running, boot) != 0) {
		LOG_WARN_("machine restarted since the last unclean stop: discarding '%s' to rebuild it from the raft log",
			  state_dir);
		remove_tree(state_dir);
	}
	snprintf(path, sizeof path, "%s/clean-shutdown", n->cfg.data_dir);
	unlink(path);
	return write_small(n->cfg.data_dir, "running-boot-id", boot);
}

int datadir_open(struct node *n, const char *state_dir, char *err, size_t len)
{
	if (lock_data_dir(n, err, len) != 0)
		return -1;
	if (check_unclean_boot(n, state_dir) != 0)
		return snprintf(err, len, "data dir '%s': cannot write markers: %s", n->cfg.data_dir,
				strerror(errno)), -1;
	if (mkdir(state_dir, 0750) != 0 && errno != EEXIST)
		return snprintf(err, len, "state dir '%s': %s", state_dir, strerror(errno)), -1;
	return 0;
}

void datadir_mark_clean_shutdown(struct node *n)
{
	char boot[64] = "";
	read_small(BOOT_ID_PATH, boot, sizeof boot);
	write_small(n->cfg.data_dir, "clean-shutdown", boot);
}

void datadir_close(struct node *n)
{
	if (n->lock_fd >= 0)
		close(n->lock_fd);
	n->lock_fd = -1;
}
