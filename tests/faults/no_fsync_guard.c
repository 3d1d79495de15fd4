/* no_fsync_guard.c: callraftd-nofsyncguard, the daemon without node/fsync_guard.c, for the negative
 * control of test_disk_faults.sh's case D (test_fsync_guard_control.sh).
 *
 * This file defines what fsync_guard.c gives the daemon: fsync_guard_arm (here doing nothing) and
 * the process's fsync and fdatasync, here libc's unchanged (looked up with dlsym(RTLD_NEXT)), so
 * that the linker never takes fsync_guard.o from the node library. A failed sync then goes back
 * to its caller only, as it did before the guard: raft_uv ignores or retries it and the node runs
 * on. Built only under tests/, never installed. */
#include <dlfcn.h>
#include <stddef.h>

#include "node_internal.h"

void fsync_guard_arm(void)
{
}

static int pass(int (**libc)(int), const char *name, int fd)
{
	if (*libc == NULL)
		*libc = (int (*)(int))dlsym(RTLD_NEXT, name);
	return (*libc)(fd);
}

int fsync(int fd)
{
	static int (*libc_fsync)(int);

	return pass(&libc_fsync, "fsync", fd);
}

int fdatasync(int fd)
{
	static int (*libc_fdatasync)(int);

	return pass(&libc_fdatasync, "fdatasync", fd);
}
