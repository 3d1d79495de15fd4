/* fsync_guard.c: an fsync or fdatasync that fails in a running node stops it (fail-stop, exit 70).
 *
 * After a failed fsync Linux may have dropped the dirty pages it could not write and marked them
 * clean, reporting the error once: a retry then succeeds without having written anything. The
 * only safe answer is PostgreSQL's since 2018: stop, and at the restart rebuild from what is known
 * to be durable (the raft log, written with RWF_DSYNC and checksummed; the state is rebuilt from
 * it by the unclean-stop rules). raft_uv does not: a failed fsync of a segment it finalizes sets a
 * flag nothing reads, and one of a segment it prepares is retried every disk_retry without a word,
 * so the node ran on with files whose durability nobody knew (issue 18, item 2).
 *
 * The two functions below replace libc's for the whole process: libuv (which raft_uv calls) and
 * LMDB reach fsync and fdatasync through the dynamic linker, which finds the executable's
 * definitions first; they call libc's through dlsym(RTLD_NEXT). Until fsync_guard_arm they only
 * pass through: at start a failed fsync is an error its caller reports, and the node refuses to
 * start (exit 1). Any thread may call them (raft_uv syncs on libuv's pool threads); the fatal line
 * is one write(2). */
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "node_internal.h"

static atomic_bool armed;

void fsync_guard_arm(void)
{
	atomic_store(&armed, true);
}

/* A failed sync of `fd` by `what`: stop if armed and the failure is the disk's. */
static void sync_failed(const char *what, int fd, int err)
{
	char link[64], path[512];
	ssize_t n;

	/* EBADF, EINVAL (a pipe or socket), EROFS: the caller's mistake, not lost data. */
	if (!atomic_load(&armed) || err == EBADF || err == EINVAL || err == EROFS)
		return;
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof path - 1);
	path[n > 0 ? n : 0] = '\0';
	LOG_EVENT(LOG_FATAL, "fatal", LOG_FIELDS(LOG_S("file", path)),
		  "%s of '%s' failed: %s: what it was to make durable may be lost; stopping (the "
		  "restart rebuilds from the raft log)",
		  what, path[0] != '\0' ? path : "?", strerror(err));
	_exit(CALLRAFT_EXIT_FATAL);
}

/* Calls libc's `name` (fsync or fdatasync, looked up once into *libc) and stops the node if it
 * fails. */
static int guarded(int (**libc)(int), const char *name, int fd)
{
	int rc;

	if (*libc == NULL)
		*libc = (int (*)(int))dlsym(RTLD_NEXT, name);
	rc = (*libc)(fd);
	if (rc != 0)
		sync_failed(name, fd, errno);
	return rc;
}

int fsync(int fd)
{
	static int (*libc_fsync)(int);

	return guarded(&libc_fsync, "fsync", fd);
}

int fdatasync(int fd)
{
	static int (*libc_fdatasync)(int);

	return guarded(&libc_fdatasync, "fdatasync", fd);
}
