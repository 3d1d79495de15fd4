/* boot.c: see boot.h. */
#include "boot.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

/* Writes `content` to dir/name through a temporary file, fsynced, renamed, directory fsynced. */
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
		int e = errno;
		close(fd);
		errno = e;
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

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (type == FTW_DP ? rmdir(path) : unlink(path)) != 0 && errno != ENOENT ? -1 : 0;
}

int boot_discard_state(const char *state_dir)
{
	return nftw(state_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT ? -1 : 0;
}

void boot_id_read(char *buf, size_t len)
{
	if (read_small("/proc/sys/kernel/random/boot_id", buf, len) != 0)
		buf[0] = '\0';
}

int boot_check(const char *data_dir, const char *state_dir, const char *boot_id, bool state_sync,
	       bool *discarded)
{
	char running[64] = "", path[600];
	bool clean, was_running;

	if (discarded != NULL)
		*discarded = false;
	if (boot_id[0] == '\0')
		return 0;
	snprintf(path, sizeof path, "%s/clean-shutdown", data_dir);
	clean = access(path, F_OK) == 0;
	snprintf(path, sizeof path, "%s/running-boot-id", data_dir);
	was_running = read_small(path, running, sizeof running) == 0;
	if (!state_sync && !clean && was_running && strcmp(running, boot_id) != 0) {
		/* Without following symbolic links out of it (FTW_PHYS). A state that cannot be
		 * removed must not be used: fail, and keep the markers as they are. */
		if (boot_discard_state(state_dir) != 0)
			return -1;
		if (discarded != NULL)
			*discarded = true;
	}
	snprintf(path, sizeof path, "%s/clean-shutdown", data_dir);
	unlink(path);
	return write_small(data_dir, "running-boot-id", boot_id);
}

void boot_mark_clean(const char *data_dir, const char *boot_id)
{
	write_small(data_dir, "clean-shutdown", boot_id);
}
