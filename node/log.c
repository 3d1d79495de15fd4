/* log.c: see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_BYTES_MAX 2048
#define LOG_MSG_BYTES_MAX 1024

enum log_level log_level_enabled = LOG_INFO;

static char log_site[64] = "-";
static uint64_t log_node_id;
static uint64_t (*log_term_fn)(void *);
static void *log_term_data;
static enum log_format log_format;
static bool log_journal;

/* systemd sets JOURNAL_STREAM to "device:inode" of the stream it connected to stderr. */
static bool journal_detect(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *site, uint64_t node_id, uint64_t (*term_fn)(void *), void *term_data)
{
	snprintf(log_site, sizeof log_site, "%s", site);
	log_node_id = node_id;
	log_term_fn = term_fn;
	log_term_data = term_data;
	log_journal = journal_detect();
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

int log_format_parse(const char *name, enum log_format *out)
{
	if (strcmp(name, "text") == 0 || strcmp(name, "kv") == 0)
		*out = LOG_FORMAT_TEXT;
	else if (strcmp(name, "json") == 0)
		*out = LOG_FORMAT_JSON;
	else
		return -1;
	return 0;
}

void log_set_format(enum log_format format)
{
	log_format = format;
}

void log_set_journal(int on)
{
	log_journal = on < 0 ? journal_detect() : on != 0;
}

/* ---- the line ---------------------------------------------------------------------------- */

struct line {
	char b[LOG_LINE_BYTES_MAX];
	size_t len;
};

static void put(struct line *l, const char *s, size_t n)
{
	if (n > sizeof l->b - 2 - l->len)
		n = sizeof l->b - 2 - l->len; /* room for the closing brace and newline */
	memcpy(l->b + l->len, s, n);
	l->len += n;
}

static void puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

/* A value that needs no quotes in key=value: non-empty, no space, quote, '=' or control. */
static bool bare(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == '"' || *s == '=' || *s == '\\')
			return false;
	return true;
}

/* A quoted string: backslash, quote and control characters escaped (JSON's rules, which also read
 * well in key=value). */
static void quoted(struct line *l, const char *s)
{
	char esc[8];

	put(l, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(l, esc, 2);
		} else if (c == '\n') {
			put(l, "\\n", 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			puts_(l, esc);
		} else {
			put(l, (const char *)&c, 1);
		}
	}
	put(l, "\"", 1);
}

/* The separator and key of a field: `,"key":` in JSON, ` key=` in key=value. */
static void field_key(struct line *l, const char *key)
{
	bool json = log_format == LOG_FORMAT_JSON;

	puts_(l, json ? ",\"" : " ");
	puts_(l, key);
	puts_(l, json ? "\":" : "=");
}

static void field_s(struct line *l, const char *key, const char *v)
{
	field_key(l, key);
	if (log_format != LOG_FORMAT_JSON && bare(v))
		puts_(l, v);
	else
		quoted(l, v);
}

static void field_u(struct line *l, const char *key, uint64_t v)
{
	char num[24];

	snprintf(num, sizeof num, "%llu", (unsigned long long)v);
	field_key(l, key);
	puts_(l, num);
}

static void emit(enum log_level level, const char *event, const struct log_kv *fields,
		 uint64_t suppressed, const char *fmt, va_list ap)
{
	static const char *names[] = {"debug", "info", "warn", "error", "fatal"};
	static const int syslog_prio[] = {7, 6, 4, 3, 2};
	char stamp[48], msg[LOG_MSG_BYTES_MAX];
	struct line l = {.len = 0};
	struct timeval tv;
	struct tm tm;
	bool json = log_format == LOG_FORMAT_JSON;

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (log_journal) {
		snprintf(stamp, sizeof stamp, "<%d>", syslog_prio[level]);
		puts_(&l, stamp);
	}
	if (json)
		put(&l, "{", 1);
	if (!log_journal) {
		char t[32];
		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(stamp, sizeof stamp, "%s.%03dZ", t, (int)(tv.tv_usec / 1000));
		if (json) {
			puts_(&l, "\"time\":");
			quoted(&l, stamp);
		} else {
			puts_(&l, "time=");
			puts_(&l, stamp);
		}
		field_s(&l, "level", names[level]);
	} else if (json) {
		puts_(&l, "\"level\":\"");
		puts_(&l, names[level]);
		puts_(&l, "\"");
	} else {
		puts_(&l, "level=");
		puts_(&l, names[level]);
	}
	field_u(&l, "node", log_node_id);
	field_s(&l, "site", log_site);
	field_u(&l, "term", log_term_fn ? log_term_fn(log_term_data) : 0);
	field_s(&l, "event", event);
	for (const struct log_kv *f = fields; f != NULL && f->key != NULL; f++) {
		if (f->s != NULL)
			field_s(&l, f->key, f->s);
		else
			field_u(&l, f->key, f->u);
	}
	if (suppressed > 0)
		field_u(&l, "suppressed", suppressed);
	field_s(&l, "msg", msg);
	if (json)
		l.b[l.len++] = '}';
	l.b[l.len++] = '\n';
	/* One write per line: lines of concurrent writers (none today) never interleave. */
	if (write(STDERR_FILENO, l.b, l.len) < 0)
		return;
}

void log_emit(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(level, "log", NULL, 0, fmt, ap);
	va_end(ap);
}

void log_event(enum log_level level, const char *event, const struct log_kv *fields,
	       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(level, event, fields, 0, fmt, ap);
	va_end(ap);
}

void log_event_suppressed(enum log_level level, const char *event, const struct log_kv *fields,
			  uint64_t suppressed, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(level, event, fields, suppressed, fmt, ap);
	va_end(ap);
}
