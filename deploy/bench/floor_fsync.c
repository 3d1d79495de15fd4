/* floor_fsync.c: the disk's floor for a durable append: latency of one write + fdatasync.
 *
 *   floor_fsync DIR [COUNT] [BYTES]
 *
 * Creates a scratch file in DIR (the data directory under test), then for each mode writes COUNT
 * blocks of BYTES sequentially, each followed by fdatasync, and prints one line per mode:
 *   mode=grow      the file grows with every write (each sync also commits the new size)
 *   mode=prealloc  the file is allocated and synced first, then overwritten in place: what a log
 *                  with preallocated segments pays (raft_uv and etcd's WAL both preallocate)
 *   mode=direct    as prealloc, but O_DIRECT | O_DSYNC writes instead of write + fdatasync: how
 *                  raft_uv writes its segments (io_submit, O_DIRECT, RWF_DSYNC)
 * with p50/p90/p99/max/mean in microseconds. The scratch file is removed. Bounded: COUNT <= 100000,
 * BYTES <= 1 MiB, a multiple of 4096. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define COUNT_MAX 100000
#define BYTES_MAX (1024 * 1024)

static double mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *mode, double *us, int n)
{
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += us[i];
	qsort(us, (size_t)n, sizeof *us, by_value);
	printf("fsync mode=%s n=%d p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f mean_us=%.1f\n",
	       mode, n, us[n / 2], us[n * 9 / 10], us[n * 99 / 100], us[n - 1], sum / n);
}

/* Runs one mode; returns 0 or -1 after printing why. */
static int run(const char *path, const char *mode, int n, int bytes, char *block, double *us)
{
	int direct = strcmp(mode, "direct") == 0;
	int prealloc = direct || strcmp(mode, "prealloc") == 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return fprintf(stderr, "floor_fsync: open '%s': %s\n", path, strerror(errno)), -1;
	if (prealloc && (posix_fallocate(fd, 0, (off_t)n * bytes) != 0 || fsync(fd) != 0)) {
		fprintf(stderr, "floor_fsync: preallocate '%s': %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (direct) {
		close(fd);
		fd = open(path, O_WRONLY | O_DIRECT | O_DSYNC | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "floor_fsync: O_DIRECT '%s': %s\n", path, strerror(errno));
			return -1;
		}
	}
	for (int i = 0; i < n; i++) {
		double t0 = mono_us();
		if (pwrite(fd, block, (size_t)bytes, (off_t)i * bytes) != bytes ||
		    (!direct && fdatasync(fd) != 0)) {
			fprintf(stderr, "floor_fsync: write '%s': %s\n", path, strerror(errno));
			close(fd);
			return -1;
		}
		us[i] = mono_us() - t0;
	}
	close(fd);
	report(mode, us, n);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: floor_fsync DIR [COUNT] [BYTES]\n");
		return 2;
	}
	int n = argc > 2 ? atoi(argv[2]) : 2000, bytes = argc > 3 ? atoi(argv[3]) : 4096;
	if (n < 10 || n > COUNT_MAX || bytes < 1 || bytes > BYTES_MAX) {
		fprintf(stderr, "floor_fsync: COUNT 10..%d, BYTES 1..%d\n", COUNT_MAX, BYTES_MAX);
		return 2;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/floor-fsync.%d", argv[1], (int)getpid());
	char *block = NULL;
	if (bytes % 4096 != 0) {
		fprintf(stderr, "floor_fsync: BYTES must be a multiple of 4096 (O_DIRECT)\n");
		return 2;
	}
	if (posix_memalign((void **)&block, 4096, (size_t)bytes) != 0)
		block = NULL;
	double *us = malloc(sizeof *us * (size_t)n);
	if (block == NULL || us == NULL)
		return 1;
	memset(block, 'f', (size_t)bytes);
	int rv = run(path, "grow", n, bytes, block, us) ||
		 run(path, "prealloc", n, bytes, block, us) ||
		 run(path, "direct", n, bytes, block, us);
	unlink(path);
	free(us);
	free(block);
	return rv ? 1 : 0;
}
