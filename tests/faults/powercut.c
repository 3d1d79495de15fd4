/* powercut.c: libcallraft_powercut.so, an LD_PRELOAD library that lets a test cut the power of a
 * real callraftd: every write that was not made durable (fsync, fdatasync, O_DSYNC/O_SYNC, or
 * RWF_DSYNC/RWF_SYNC on pwritev2 and on kernel AIO) can be undone after the process is killed.
 *
 * Writes go to the files as usual (the running process, and LMDB's mmap, must see them: that is the
 * page cache). Before a write changes a 4 KiB page of a followed file for the first time since the
 * file was last synced, the page's durable content is appended to the file's undo journal,
 * <journal dir>/<dev>-<inode>: records of {u64 page number, 4096 bytes}. A sync of the file empties
 * its journal. After SIGKILL, `powercut.py cut` (tests/faults/) undoes the journals of a node: each
 * unsynced page is reverted, kept or torn at 512-byte sectors, as a power loss may leave it.
 *
 * Environment:
 *   CALLRAFT_POWERCUT_ROOT     follow the regular files under this directory (the node's data dir)
 *   CALLRAFT_POWERCUT_JOURNAL  where the undo journals go (outside the root)
 *   CALLRAFT_POWERCUT_BOOT_ID  a file whose content replaces /proc/sys/kernel/random/boot_id, so
 *                              that a restart after a simulated power cut is a new boot
 *   CALLRAFT_POWERCUT_NOSYNC=1 the negative control: syncs succeed but make nothing durable, as
 *                              with eatmydata (and O_DSYNC / RWF_DSYNC writes are not durable either)
 *
 * Followed calls: open/open64/openat/openat64, write, pwrite/pwrite64, writev, pwritev/pwritev64,
 * pwritev2, fsync, fdatasync, close, and syscall(SYS_io_submit) (raft_uv's kernel AIO). Not
 * followed: mmap writes (LMDB writes through its mapping only with MDB_WRITEMAP, which callraft does
 * not use), and directory operations, which are taken as durable at once. */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define PC_PAGE 4096u
#define PC_FDS 65536
#define PC_FILES 4096

struct pc_file {
	dev_t dev;
	ino_t ino;
	int rfd; /* our own read-only descriptor (the writer's may be O_WRONLY or O_DIRECT) */
	int jfd; /* the undo journal, append-only */
	uint64_t *saved; /* page numbers saved since the last sync (a small open-addressed set) */
	size_t n_saved, cap_saved;
};

static pthread_mutex_t pc_lock = PTHREAD_MUTEX_INITIALIZER;
static char pc_root[512];
static char pc_journal[512];
static char pc_boot[512];
static bool pc_nosync;
static bool pc_ready;
static int pc_fd_file[PC_FDS]; /* fd -> 1 + index, 0: not followed */
static bool pc_fd_dsync[PC_FDS];
static struct pc_file *pc_files[PC_FILES];
static size_t pc_n_files;

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev2)(int, const struct iovec *, int, off_t, int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_close)(int);
static long (*real_syscall)(long, ...);

static void pc_init(void)
{
	const char *v;
	if (pc_ready)
		return;
	real_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	real_openat = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
	real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	real_pwrite = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
	real_writev = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
	real_pwritev = (ssize_t(*)(int, const struct iovec *, int, off_t))dlsym(RTLD_NEXT, "pwritev");
	real_pwritev2 = (ssize_t(*)(int, const struct iovec *, int, off_t, int))dlsym(RTLD_NEXT, "pwritev2");
	real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
	real_syscall = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	if ((v = getenv("CALLRAFT_POWERCUT_ROOT")) != NULL && *v != '\0')
		snprintf(pc_root, sizeof pc_root, "%s/", v);
	if ((v = getenv("CALLRAFT_POWERCUT_JOURNAL")) != NULL)
		snprintf(pc_journal, sizeof pc_journal, "%s", v);
	if ((v = getenv("CALLRAFT_POWERCUT_BOOT_ID")) != NULL)
		snprintf(pc_boot, sizeof pc_boot, "%s", v);
	pc_nosync = (v = getenv("CALLRAFT_POWERCUT_NOSYNC")) != NULL && strcmp(v, "1") == 0;
	if (pc_journal[0] == '\0')
		pc_root[0] = '\0'; /* nothing to follow without a journal */
	pc_ready = true;
}

static void pc_die(const char *what)
{
	char msg[256];
	int n = snprintf(msg, sizeof msg, "powercut: %s: %s\n", what, strerror(errno));
	real_write(2, msg, (size_t)n);
	abort();
}

/* An absolute path for `path` opened relative to dirfd. */
static bool pc_abs(int dirfd, const char *path, char *out, size_t len)
{
	char dir[512], link[64];
	ssize_t n;
	if (path[0] == '/') {
		snprintf(out, len, "%s", path);
		return true;
	}
	if (dirfd == AT_FDCWD) {
		if (getcwd(dir, sizeof dir) == NULL)
			return false;
	} else {
		snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
		n = readlink(link, dir, sizeof dir - 1);
		if (n <= 0)
			return false;
		dir[n] = '\0';
	}
	snprintf(out, len, "%s/%s", dir, path);
	return true;
}

static void pc_follow(int fd, const char *abs, int flags)
{
	struct stat st;
	char self[64], jpath[700];
	struct pc_file *f = NULL;

	if (fd < 0 || fd >= PC_FDS || pc_root[0] == '\0' || strncmp(abs, pc_root, strlen(pc_root)) != 0)
		return;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return;
	pthread_mutex_lock(&pc_lock);
	for (size_t i = 0; i < pc_n_files; i++)
		if (pc_files[i]->dev == st.st_dev && pc_files[i]->ino == st.st_ino) {
			pc_fd_file[fd] = (int)i + 1;
			goto out;
		}
	if (pc_n_files == PC_FILES)
		goto out;
	f = calloc(1, sizeof *f);
	if (f == NULL)
		pc_die("calloc");
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
	f->rfd = real_open(self, O_RDONLY | O_CLOEXEC);
	if (f->rfd < 0)
		pc_die("reopen");
	snprintf(jpath, sizeof jpath, "%s/%llu-%llu", pc_journal, (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	f->jfd = real_open(jpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (f->jfd < 0)
		pc_die(jpath);
	f->cap_saved = 64;
	f->saved = malloc(f->cap_saved * sizeof *f->saved);
	if (f->saved == NULL)
		pc_die("malloc");
	memset(f->saved, 0xff, f->cap_saved * sizeof *f->saved);
	pc_files[pc_n_files++] = f;
	pc_fd_file[fd] = (int)pc_n_files;
out:
	pc_fd_dsync[fd] = (flags & (O_DSYNC | O_SYNC)) != 0;
	pthread_mutex_unlock(&pc_lock);
}

static bool pc_saved_has(struct pc_file *f, uint64_t no, bool insert)
{
	size_t mask = f->cap_saved - 1, h = (size_t)(no * 0x9e3779b97f4a7c15ull) & mask;
	while (f->saved[h] != UINT64_MAX) {
		if (f->saved[h] == no)
			return true;
		h = (h + 1) & mask;
	}
	if (insert) {
		if ((f->n_saved + 1) * 2 > f->cap_saved) {
			uint64_t *old = f->saved;
			size_t old_cap = f->cap_saved;
			f->cap_saved *= 2;
			f->n_saved = 0;
			f->saved = malloc(f->cap_saved * sizeof *f->saved);
			if (f->saved == NULL)
				pc_die("malloc");
			memset(f->saved, 0xff, f->cap_saved * sizeof *f->saved);
			for (size_t i = 0; i < old_cap; i++)
				if (old[i] != UINT64_MAX)
					pc_saved_has(f, old[i], true);
			free(old);
			return pc_saved_has(f, no, true);
		}
		f->saved[h] = no;
		f->n_saved++;
	}
	return false;
}

/* Before a non-durable write of len bytes at off to fd: the durable content of every page it
 * changes, once per sync. */
static void pc_before_write(int fd, off_t off, size_t len, bool durable)
{
	struct pc_file *f;
	uint8_t rec[8 + PC_PAGE];

	if (fd < 0 || fd >= PC_FDS || pc_fd_file[fd] == 0 || len == 0)
		return;
	if ((durable || pc_fd_dsync[fd]) && !pc_nosync)
		return;
	pthread_mutex_lock(&pc_lock);
	f = pc_files[pc_fd_file[fd] - 1];
	for (uint64_t no = (uint64_t)off / PC_PAGE; no <= ((uint64_t)off + len - 1) / PC_PAGE; no++) {
		ssize_t n;
		if (pc_saved_has(f, no, true))
			continue;
		memcpy(rec, &no, 8);
		memset(rec + 8, 0, PC_PAGE);
		n = pread(f->rfd, rec + 8, PC_PAGE, (off_t)(no * PC_PAGE));
		if (n < 0)
			pc_die("pread");
		if (real_write(f->jfd, rec, sizeof rec) != (ssize_t)sizeof rec)
			pc_die("journal write");
	}
	pthread_mutex_unlock(&pc_lock);
}

static void pc_synced(int fd)
{
	struct pc_file *f;
	if (fd < 0 || fd >= PC_FDS || pc_fd_file[fd] == 0 || pc_nosync)
		return;
	pthread_mutex_lock(&pc_lock);
	f = pc_files[pc_fd_file[fd] - 1];
	if (ftruncate(f->jfd, 0) != 0)
		pc_die("journal truncate");
	memset(f->saved, 0xff, f->cap_saved * sizeof *f->saved);
	f->n_saved = 0;
	pthread_mutex_unlock(&pc_lock);
}

static off_t pc_pos(int fd)
{
	return lseek(fd, 0, SEEK_CUR);
}

static size_t pc_iov_len(const struct iovec *iov, int n)
{
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	return len;
}

/* ------------------------------------------------------------------------------------------------
 * Interposed calls. */

static int pc_open_common(int dirfd, const char *path, int flags, mode_t mode, bool at)
{
	char abs[1024];
	int fd;

	pc_init();
	/* The boot id: the simulated machine's, if the test gives one. */
	if (pc_boot[0] != '\0' && strcmp(path, "/proc/sys/kernel/random/boot_id") == 0)
		path = pc_boot;
	fd = at ? real_openat(dirfd, path, flags, mode) : real_open(path, flags, mode);
	if (fd >= 0 && fd < PC_FDS) {
		pc_fd_file[fd] = 0;
		if (pc_root[0] != '\0' && pc_abs(at ? dirfd : AT_FDCWD, path, abs, sizeof abs))
			pc_follow(fd, abs, flags);
	}
	return fd;
}

static mode_t pc_mode(int flags, va_list ap)
{
	return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;
	va_start(ap, flags);
	mode = pc_mode(flags, ap);
	va_end(ap);
	return pc_open_common(AT_FDCWD, path, flags, mode, false);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;
	va_start(ap, flags);
	mode = pc_mode(flags, ap);
	va_end(ap);
	return pc_open_common(AT_FDCWD, path, flags, mode, false);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;
	va_start(ap, flags);
	mode = pc_mode(flags, ap);
	va_end(ap);
	return pc_open_common(dirfd, path, flags, mode, true);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;
	va_start(ap, flags);
	mode = pc_mode(flags, ap);
	va_end(ap);
	return pc_open_common(dirfd, path, flags, mode, true);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	pc_init();
	if (fd >= 0 && fd < PC_FDS && pc_fd_file[fd] != 0)
		pc_before_write(fd, pc_pos(fd), n, false);
	return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	pc_init();
	pc_before_write(fd, off, n, false);
	return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	return pwrite(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
	pc_init();
	if (fd >= 0 && fd < PC_FDS && pc_fd_file[fd] != 0)
		pc_before_write(fd, pc_pos(fd), pc_iov_len(iov, n), false);
	return real_writev(fd, iov, n);
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	pc_init();
	pc_before_write(fd, off, pc_iov_len(iov, n), false);
	return real_pwritev(fd, iov, n, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int n, off_t off)
{
	return pwritev(fd, iov, n, off);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int n, off_t off, int flags)
{
	pc_init();
	pc_before_write(fd, off, pc_iov_len(iov, n), (flags & (RWF_DSYNC | RWF_SYNC)) != 0);
	if (pc_nosync)
		flags &= ~(RWF_DSYNC | RWF_SYNC);
	return real_pwritev2(fd, iov, n, off, flags);
}

int fsync(int fd)
{
	pc_init();
	if (pc_nosync && fd >= 0 && fd < PC_FDS && pc_fd_file[fd] != 0)
		return 0;
	pc_synced(fd);
	return real_fsync(fd);
}

int fdatasync(int fd)
{
	pc_init();
	if (pc_nosync && fd >= 0 && fd < PC_FDS && pc_fd_file[fd] != 0)
		return 0;
	pc_synced(fd);
	return real_fdatasync(fd);
}

int close(int fd)
{
	pc_init();
	if (fd >= 0 && fd < PC_FDS)
		pc_fd_file[fd] = 0;
	return real_close(fd);
}

/* raft_uv submits its log writes through syscall(__NR_io_submit, ...). */
long syscall(long number, ...)
{
	va_list ap;
	long a[6];

	pc_init();
	va_start(ap, number);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (number == SYS_io_submit && pc_root[0] != '\0') {
		struct iocb **iocbs = (struct iocb **)a[2];
		for (long k = 0; k < a[1]; k++) {
			struct iocb *cb = iocbs[k];
			bool durable = (cb->aio_rw_flags & (RWF_DSYNC | RWF_SYNC)) != 0;
			if (cb->aio_lio_opcode == IOCB_CMD_PWRITE)
				pc_before_write((int)cb->aio_fildes, (off_t)cb->aio_offset,
						(size_t)cb->aio_nbytes, durable);
			else if (cb->aio_lio_opcode == IOCB_CMD_PWRITEV)
				pc_before_write((int)cb->aio_fildes, (off_t)cb->aio_offset,
						pc_iov_len((const struct iovec *)(uintptr_t)cb->aio_buf,
							   (int)cb->aio_nbytes),
						durable);
			if (pc_nosync)
				cb->aio_rw_flags &= ~(RWF_DSYNC | RWF_SYNC);
		}
	}
	return real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
