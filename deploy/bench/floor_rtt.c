/* floor_rtt.c: the network's floor on loopback: TCP round trip of a small message.
 *
 *   floor_rtt [COUNT] [BYTES]
 *
 * A thread echoes on an ephemeral 127.0.0.1 port; the main thread sends BYTES and reads them back
 * COUNT times over one connection with TCP_NODELAY on both ends (as callraftd's client sockets),
 * and prints p50/p90/p99/max/mean in microseconds. Bounded: COUNT <= 1000000, BYTES <= 64 KiB. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define COUNT_MAX 1000000
#define BYTES_MAX 65536

static int g_count, g_bytes, g_listen_fd;

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

/* Moves exactly len bytes (send if out, else receive). */
static int move_all(int fd, char *p, int len, int out)
{
	while (len > 0) {
		ssize_t k =
		    out ? send(fd, p, (size_t)len, MSG_NOSIGNAL) : recv(fd, p, (size_t)len, 0);
		if (k <= 0)
			return -1;
		p += k;
		len -= (int)k;
	}
	return 0;
}

static void nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void *echo_main(void *arg)
{
	char *buf = malloc((size_t)g_bytes);
	int fd = accept(g_listen_fd, NULL, NULL);
	(void)arg;
	if (fd >= 0 && buf != NULL) {
		nodelay(fd);
		for (int i = 0; i < g_count; i++)
			if (move_all(fd, buf, g_bytes, 0) || move_all(fd, buf, g_bytes, 1))
				break;
		close(fd);
	}
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	g_count = argc > 1 ? atoi(argv[1]) : 10000;
	g_bytes = argc > 2 ? atoi(argv[2]) : 64;
	if (g_count < 10 || g_count > COUNT_MAX || g_bytes < 1 || g_bytes > BYTES_MAX) {
		fprintf(stderr, "floor_rtt: COUNT 10..%d, BYTES 1..%d\n", COUNT_MAX, BYTES_MAX);
		return 2;
	}
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	g_listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (g_listen_fd < 0 || bind(g_listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    listen(g_listen_fd, 1) != 0 ||
	    getsockname(g_listen_fd, (struct sockaddr *)&a, &alen) != 0) {
		perror("floor_rtt: listen");
		return 1;
	}
	pthread_t echo;
	pthread_create(&echo, NULL, echo_main, NULL);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		perror("floor_rtt: connect");
		return 1;
	}
	nodelay(fd);
	char *buf = calloc(1, (size_t)g_bytes);
	double *us = malloc(sizeof *us * (size_t)g_count), sum = 0;
	if (buf == NULL || us == NULL)
		return 1;
	for (int i = 0; i < g_count; i++) {
		double t0 = mono_us();
		if (move_all(fd, buf, g_bytes, 1) || move_all(fd, buf, g_bytes, 0)) {
			fprintf(stderr, "floor_rtt: connection lost\n");
			return 1;
		}
		us[i] = mono_us() - t0;
		sum += us[i];
	}
	close(fd);
	pthread_join(echo, NULL);
	qsort(us, (size_t)g_count, sizeof *us, by_value);
	printf("rtt bytes=%d n=%d p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f mean_us=%.1f\n",
	       g_bytes, g_count, us[g_count / 2], us[g_count * 9 / 10], us[g_count * 99 / 100],
	       us[g_count - 1], sum / g_count);
	free(us);
	free(buf);
	return 0;
}
