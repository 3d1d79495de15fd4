/* log.h: the one logger of callraftd: structured lines, one per event.
 *
 * Every line carries the time, level, node id, site, current term and a stable event name, then the
 * event's own keys and a human message (docs/operations.md lists every event and its keys):
 *
 *   time=2026-12-07T02:20:00.123Z level=info node=1 site=tehran term=7 event=leader_change
 *       leader=2 previous=1 msg="leader is now 2"
 *
 * or, with `[log] format = json`, the same as one JSON object per line:
 *
 *   {"time":"2026-12-07T02:20:00.123Z","level":"info","node":1,"site":"tehran","term":7,
 *    "event":"leader_change","leader":2,"previous":1,"msg":"leader is now 2"}
 *
 * Under systemd (JOURNAL_STREAM names stderr) the time is left out, journald stamps the line, and
 * the line starts with the syslog priority ("<6>"), which journald turns into the entry's priority.
 *
 * Events: LOG_EVENT(level, "name", LOG_FIELDS(LOG_U("key", n), LOG_S("key", s)...), fmt, ...):
 * the name is [a-z_] and never changes once documented; the fields are typed (unsigned integer or
 * string); the message is free text. The older calls (LOG, LOG_INFO_, ..., LOG_RATELIMITED) stay
 * and emit event=log with their text as msg. Nothing is formatted unless the level is enabled; hot
 * paths use the _RATELIMITED forms (at most one line per second per call site; the next line says
 * how many were suppressed). Lines go to stderr, each in one write. */
#ifndef CALLRAFT_LOG_H
#define CALLRAFT_LOG_H

#include <stdint.h>
#include <time.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_FATAL };
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON };

extern enum log_level log_level_enabled;

/* One typed field of an event. */
struct log_kv {
	const char *key;   /* NULL ends a LOG_FIELDS list */
	const char *s;     /* a string value (NULL: the integer u) */
	uint64_t u;
};
#define LOG_U(k, v) ((struct log_kv){(k), NULL, (uint64_t)(v)})
#define LOG_S(k, v) ((struct log_kv){(k), (v) != NULL ? (v) : "", 0})
#define LOG_FIELDS(...) ((const struct log_kv[]){__VA_ARGS__, {NULL, NULL, 0}})
#define LOG_NO_FIELDS ((const struct log_kv[]){{NULL, NULL, 0}})

/* Sets the node's fields; `term_fn` (may be NULL) gives the current term. Detects the journal
 * (JOURNAL_STREAM matching stderr). */
void log_init(const char *site, uint64_t node_id, uint64_t (*term_fn)(void *), void *term_data);
/* Parses "debug", "info", "warn", "error". Returns -1 if unknown. */
int log_level_parse(const char *name, enum log_level *out);
/* Parses "text" (key=value) or "json". Returns -1 if unknown. */
int log_format_parse(const char *name, enum log_format *out);
void log_set_format(enum log_format format);
/* Forces (1) or forbids (0) journal mode; -1 detects it again from the environment (tests). */
void log_set_journal(int on);

void log_emit(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_event(enum log_level level, const char *event, const struct log_kv *fields,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The same with the count of lines suppressed before it (the rate limiter's). */
void log_event_suppressed(enum log_level level, const char *event, const struct log_kv *fields,
			  uint64_t suppressed, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#define LOG(level, ...)                                                                            \
	do {                                                                                       \
		if ((level) >= log_level_enabled)                                                  \
			log_emit((level), __VA_ARGS__);                                            \
	} while (0)
#define LOG_DEBUG_(...) LOG(LOG_DEBUG, __VA_ARGS__)
#define LOG_INFO_(...) LOG(LOG_INFO, __VA_ARGS__)
#define LOG_WARN_(...) LOG(LOG_WARN, __VA_ARGS__)
#define LOG_ERROR_(...) LOG(LOG_ERROR, __VA_ARGS__)

#define LOG_EVENT(level, event, fields, ...)                                                       \
	do {                                                                                       \
		if ((level) >= log_level_enabled)                                                  \
			log_event((level), (event), (fields), __VA_ARGS__);                        \
	} while (0)

/* At most one line per second from this call site. */
#define LOG_RATELIMITED(level, ...) LOG_EVENT_RATELIMITED(level, "log", LOG_NO_FIELDS, __VA_ARGS__)
#define LOG_EVENT_RATELIMITED(level, event, fields, ...)                                           \
	do {                                                                                       \
		static int64_t last_s_;                                                            \
		static uint64_t suppressed_;                                                       \
		int64_t now_s_ = (int64_t)time(NULL);                                              \
		if ((level) < log_level_enabled) {                                                 \
		} else if (now_s_ != last_s_) {                                                    \
			last_s_ = now_s_;                                                          \
			log_event_suppressed((level), (event), (fields), suppressed_, __VA_ARGS__); \
			suppressed_ = 0;                                                           \
		} else {                                                                           \
			suppressed_++;                                                             \
		}                                                                                  \
	} while (0)

#endif
