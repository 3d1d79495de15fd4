/* log.c: see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

enum log_level log_level_enabled = LOG_INFO;

static char log_prefix[96] = "-";
static uint64_t (*log_term_fn)(void *);
static void *log_term_data;

void log_init(const char *site, uint64_t node_id, uint64_t (*term_fn)(void *), void *term_data)
{
	snprintf(log_prefix, sizeof log_prefix, "%s/%llu", site, (unsigned long long)node_id);
	log_term_fn = term_fn;
	log_term_data = term_data;
}

int log_level_parse(const char *name, enum log_level *out)
{
	static const char *names[] = {"debug", "info", "warn", "error"};
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(name, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void log_emit(enum log_level level, const char *fmt, ...)
{
	static const char *level_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR", "FATAL"};
	char stamp[40], line[1024];
	struct timeval tv;
	struct tm tm;
	va_list ap;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s.%03dZ %s %s t=%llu %s\n", stamp, (int)(tv.tv_usec / 1000), level_names[level],
		log_prefix, (unsigned long long)(log_term_fn ? log_term_fn(log_term_data) : 0), line);
}
