/* sim_disk.c: see sim_disk.h. */
#include "sim_disk.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define SD_PAGE 4096u
#define SD_SECTOR 512u
#define SD_FDS 4096
#define SD_FD_DIR (-2) /* a directory under the root: its fsync is a no-op */

struct sd_page {
	uint64_t no; /* UINT64_MAX: free slot */
	uint8_t *saved;
};

struct sd_undo {
	off_t off;
	size_t len;
	uint8_t *bytes;
};

struct sd_file {
	dev_t dev;
	ino_t ino;
	char path[512];
	int fd; /* our own read-write descriptor on the inode */
	struct sd_page *pages;
	size_t n_pages, cap_pages;
	struct sd_undo *undo;
	size_t n_undo, cap_undo;
};

static char sd_root[256];
static size_t sd_root_len;
static struct sd_file **sd_files;
static size_t sd_n_files, sd_cap_files;
static int sd_fd_file[SD_FDS]; /* fd -> 1 + index in sd_files, 0 untracked, SD_FD_DIR */
static char sd_frozen[8][512];
static uint64_t sd_writes;
static char sd_armed[512]; /* simdisk_freeze_at */
static unsigned sd_armed_countdown;

static int (*real_open)(const char *, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_close)(int);

static void sd_resolve(void)
{
	if (real_open != NULL)
		return;
	real_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	real_pwrite = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
	real_writev = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
	real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
	if (real_open == NULL || real_write == NULL || real_pwrite == NULL || real_writev == NULL ||
	    real_fsync == NULL || real_fdatasync == NULL || real_close == NULL)
		abort();
}

static void *sd_xmalloc(size_t n)
{
	void *p = malloc(n);
	if (p == NULL)
		abort();
	return p;
}

static bool sd_under(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);
	return prefix[0] != '\0' && strncmp(path, prefix, n) == 0;
}

static bool sd_file_frozen(const struct sd_file *f)
{
	for (size_t k = 0; k < sizeof sd_frozen / sizeof sd_frozen[0]; k++)
		if (sd_under(f->path, sd_frozen[k]))
			return true;
	return false;
}

/* Reads len bytes at off through our descriptor; bytes past the end of the file read as zeros. */
static void sd_read(const struct sd_file *f, off_t off, uint8_t *buf, size_t len)
{
	size_t done = 0;
	memset(buf, 0, len);
	while (done < len) {
		ssize_t r = pread(f->fd, buf + done, len - done, off + (off_t)done);
		if (r <= 0)
			break;
		done += (size_t)r;
	}
}

static struct sd_page *sd_page_slot(struct sd_file *f, uint64_t no)
{
	size_t mask = f->cap_pages - 1;
	size_t h = (size_t)(no * 0x9e3779b97f4a7c15ull) & mask;
	while (f->pages[h].no != UINT64_MAX && f->pages[h].no != no)
		h = (h + 1) & mask;
	return &f->pages[h];
}

static void sd_pages_init(struct sd_file *f, size_t cap)
{
	f->cap_pages = cap;
	f->n_pages = 0;
	f->pages = sd_xmalloc(cap * sizeof *f->pages);
	for (size_t i = 0; i < cap; i++) {
		f->pages[i].no = UINT64_MAX;
		f->pages[i].saved = NULL;
	}
}

static void sd_pages_clear(struct sd_file *f)
{
	for (size_t i = 0; i < f->cap_pages; i++)
		free(f->pages[i].saved);
	free(f->pages);
	sd_pages_init(f, 64);
}

/* Saves the synced content of page `no` before its first write since the last sync. */
static void sd_page_save(struct sd_file *f, uint64_t no)
{
	struct sd_page *p;

	if ((f->n_pages + 1) * 2 > f->cap_pages) {
		struct sd_page *old = f->pages;
		size_t old_cap = f->cap_pages;
		sd_pages_init(f, old_cap * 2);
		for (size_t i = 0; i < old_cap; i++) {
			if (old[i].no == UINT64_MAX)
				continue;
			*sd_page_slot(f, old[i].no) = old[i];
			f->n_pages++;
		}
		free(old);
	}
	p = sd_page_slot(f, no);
	if (p->no == no)
		return;
	p->no = no;
	p->saved = sd_xmalloc(SD_PAGE);
	sd_read(f, (off_t)(no * SD_PAGE), p->saved, SD_PAGE);
	f->n_pages++;
}

static void sd_file_free(struct sd_file *f)
{
	for (size_t i = 0; i < f->cap_pages; i++)
		free(f->pages[i].saved);
	free(f->pages);
	for (size_t i = 0; i < f->n_undo; i++)
		free(f->undo[i].bytes);
	free(f->undo);
	real_close(f->fd);
	free(f);
}

/* Before a write of len bytes at off: the synced content of the pages it changes and, when frozen,
 * what it overwrites. */
static void sd_before_write(struct sd_file *f, off_t off, size_t len)
{
	if (len == 0)
		return;
	sd_writes++;
	if (sd_armed_countdown > 0 && sd_under(f->path, sd_armed) && --sd_armed_countdown == 0)
		simdisk_freeze(sd_armed);
	if (sd_file_frozen(f)) {
		struct sd_undo *u;
		if (f->n_undo == f->cap_undo) {
			f->cap_undo = f->cap_undo == 0 ? 16 : f->cap_undo * 2;
			f->undo = realloc(f->undo, f->cap_undo * sizeof *f->undo);
			if (f->undo == NULL)
				abort();
		}
		u = &f->undo[f->n_undo++];
		u->off = off;
		u->len = len;
		u->bytes = sd_xmalloc(len);
		sd_read(f, off, u->bytes, len);
	}
	for (uint64_t no = (uint64_t)off / SD_PAGE; no <= ((uint64_t)off + len - 1) / SD_PAGE; no++)
		sd_page_save(f, no);
}

static struct sd_file *sd_file_of(int fd)
{
	if (fd < 0 || fd >= SD_FDS || sd_fd_file[fd] <= 0)
		return NULL;
	return sd_files[sd_fd_file[fd] - 1];
}

/* Starts following fd, just opened on `path`. */
static void sd_follow(int fd, const char *path)
{
	struct stat st;
	char self[64];
	struct sd_file *f = NULL;

	if (fd < 0 || fd >= SD_FDS || sd_root_len == 0 || strncmp(path, sd_root, sd_root_len) != 0)
		return;
	if (fstat(fd, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		sd_fd_file[fd] = SD_FD_DIR;
		return;
	}
	if (!S_ISREG(st.st_mode))
		return;
	for (size_t i = 0; i < sd_n_files; i++) {
		if (sd_files[i] != NULL && sd_files[i]->dev == st.st_dev && sd_files[i]->ino == st.st_ino) {
			f = sd_files[i];
			snprintf(f->path, sizeof f->path, "%s", path);
			sd_fd_file[fd] = (int)i + 1;
			return;
		}
	}
	f = sd_xmalloc(sizeof *f);
	memset(f, 0, sizeof *f);
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	snprintf(f->path, sizeof f->path, "%s", path);
	snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
	f->fd = real_open(self, O_RDWR | O_CLOEXEC);
	if (f->fd < 0)
		abort();
	sd_pages_init(f, 64);
	if (sd_n_files == sd_cap_files) {
		sd_cap_files = sd_cap_files == 0 ? 32 : sd_cap_files * 2;
		sd_files = realloc(sd_files, sd_cap_files * sizeof *sd_files);
		if (sd_files == NULL)
			abort();
	}
	sd_files[sd_n_files] = f;
	sd_fd_file[fd] = (int)++sd_n_files;
}

/* ------------------------------------------------------------------------------------------------
 * The interposed calls. */

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	int fd;

	sd_resolve();
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	fd = real_open(path, flags, mode);
	if (fd >= 0 && fd < SD_FDS) {
		sd_fd_file[fd] = 0;
		sd_follow(fd, path);
	}
	return fd;
}

ssize_t write(int fd, const void *buf, size_t n)
{
	struct sd_file *f;
	sd_resolve();
	f = sd_file_of(fd);
	if (f != NULL) {
		off_t pos = lseek(fd, 0, SEEK_CUR);
		if (pos >= 0)
			sd_before_write(f, pos, n);
	}
	return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	struct sd_file *f;
	sd_resolve();
	f = sd_file_of(fd);
	if (f != NULL)
		sd_before_write(f, off, n);
	return real_pwrite(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	struct sd_file *f;
	sd_resolve();
	f = sd_file_of(fd);
	if (f != NULL) {
		off_t pos = lseek(fd, 0, SEEK_CUR);
		size_t n = 0;
		for (int i = 0; i < iovcnt; i++)
			n += iov[i].iov_len;
		if (pos >= 0)
			sd_before_write(f, pos, n);
	}
	return real_writev(fd, iov, iovcnt);
}

/* A sync of a followed file makes its pages durable (no real sync: durability is modelled). */
static int sd_sync(int fd, int (*real)(int))
{
	struct sd_file *f;
	sd_resolve();
	if (fd >= 0 && fd < SD_FDS && sd_fd_file[fd] == SD_FD_DIR)
		return 0;
	f = sd_file_of(fd);
	if (f == NULL)
		return real(fd);
	if (!sd_file_frozen(f))
		sd_pages_clear(f);
	return 0;
}

int fsync(int fd)
{
	sd_resolve();
	return sd_sync(fd, real_fsync);
}

int fdatasync(int fd)
{
	sd_resolve();
	return sd_sync(fd, real_fdatasync);
}

int close(int fd)
{
	sd_resolve();
	if (fd >= 0 && fd < SD_FDS)
		sd_fd_file[fd] = 0;
	return real_close(fd);
}

/* ------------------------------------------------------------------------------------------------
 * Control. */

void simdisk_track(const char *root)
{
	sd_resolve();
	snprintf(sd_root, sizeof sd_root, "%s/", root);
	sd_root_len = strlen(sd_root);
}

void simdisk_reset(void)
{
	for (size_t i = 0; i < sd_n_files; i++)
		if (sd_files[i] != NULL)
			sd_file_free(sd_files[i]);
	free(sd_files);
	sd_files = NULL;
	sd_n_files = sd_cap_files = 0;
	memset(sd_fd_file, 0, sizeof sd_fd_file);
	memset(sd_frozen, 0, sizeof sd_frozen);
	sd_armed_countdown = 0;
	sd_root[0] = '\0';
	sd_root_len = 0;
}

void simdisk_freeze(const char *prefix)
{
	size_t k;
	if (simdisk_frozen(prefix))
		return;
	for (k = 0; k < sizeof sd_frozen / sizeof sd_frozen[0]; k++)
		if (sd_frozen[k][0] == '\0')
			break;
	if (k == sizeof sd_frozen / sizeof sd_frozen[0])
		abort();
	snprintf(sd_frozen[k], sizeof sd_frozen[k], "%s", prefix);
}

bool simdisk_frozen(const char *prefix)
{
	for (size_t k = 0; k < sizeof sd_frozen / sizeof sd_frozen[0]; k++)
		if (strcmp(sd_frozen[k], prefix) == 0)
			return true;
	return false;
}

void simdisk_freeze_at(const char *prefix, unsigned nth)
{
	snprintf(sd_armed, sizeof sd_armed, "%s", prefix);
	sd_armed_countdown = nth;
}

uint64_t simdisk_writes(void)
{
	return sd_writes;
}

static uint64_t sd_rng(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

void simdisk_crash(const char *prefix, bool power_loss, uint64_t *rng, struct simdisk_crash_stats *st)
{
	for (size_t i = 0; i < sd_n_files; i++) {
		struct sd_file *f = sd_files[i];
		if (f == NULL || !sd_under(f->path, prefix))
			continue;
		/* The process died at the freeze: what it wrote after never happened. */
		while (f->n_undo > 0) {
			struct sd_undo *u = &f->undo[--f->n_undo];
			if (real_pwrite(f->fd, u->bytes, u->len, u->off) != (ssize_t)u->len)
				abort();
			free(u->bytes);
			st->writes_undone++;
		}
		if (!power_loss)
			continue; /* the page cache survives a process crash: pages stay dirty */
		for (size_t k = 0; k < f->cap_pages; k++) {
			struct sd_page *p = &f->pages[k];
			unsigned r;
			if (p->no == UINT64_MAX)
				continue;
			st->pages_dirty++;
			r = (unsigned)(sd_rng(rng) % 100);
			if (r < 35)
				continue; /* written back before the power went */
			if (r < 85) {
				if (real_pwrite(f->fd, p->saved, SD_PAGE, (off_t)(p->no * SD_PAGE)) != SD_PAGE)
					abort();
				st->pages_reverted++;
				continue;
			}
			for (unsigned s = 0; s < SD_PAGE / SD_SECTOR; s++)
				if (sd_rng(rng) % 2 == 0 &&
				    real_pwrite(f->fd, p->saved + s * SD_SECTOR, SD_SECTOR,
						(off_t)(p->no * SD_PAGE + s * SD_SECTOR)) != SD_SECTOR)
					abort();
			st->pages_torn++;
		}
		/* After the power loss everything on disk is what there is: forget the file. */
		for (int fd = 0; fd < SD_FDS; fd++)
			if (sd_fd_file[fd] == (int)i + 1)
				sd_fd_file[fd] = 0;
		sd_file_free(f);
		sd_files[i] = NULL;
	}
	for (size_t k = 0; k < sizeof sd_frozen / sizeof sd_frozen[0]; k++)
		if (strcmp(sd_frozen[k], prefix) == 0)
			sd_frozen[k][0] = '\0';
}
