/* log.h: the one logger of callraftd.
 *
 * A line reads "2026-11-25T04:39:58.123Z INFO  tehran/1 t=7 raft: became leader". The prefix (site,
 * node id) is set once; the term is read through a callback so every line carries the current term.
 * Nothing is formatted unless the level is enabled. Hot paths use LOG_RATELIMITED. Lines go to
 * stderr (systemd's journal collects them). */
#ifndef CALLRAFT_LOG_H
#define CALLRAFT_LOG_H

#include <stdint.h>
#include <time.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_FATAL };

extern enum log_level log_level_enabled;

/* Sets the prefix; `term_fn` (may be NULL) gives the current term. */
void log_init(const char *site, uint64_t node_id, uint64_t (*term_fn)(void *), void *term_data);
/* Parses "debug", "info", "warn", "error". Returns -1 if unknown. */
int log_level_parse(const char *name, enum log_level *out);
void log_emit(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG(level, ...)                                                                            \
	do {                                                                                       \
		if ((level) >= log_level_enabled)                                                  \
			log_emit((level), __VA_ARGS__);                                            \
	} while (0)
#define LOG_DEBUG_(...) LOG(LOG_DEBUG, __VA_ARGS__)
#define LOG_INFO_(...) LOG(LOG_INFO, __VA_ARGS__)
#define LOG_WARN_(...) LOG(LOG_WARN, __VA_ARGS__)
#define LOG_ERROR_(...) LOG(LOG_ERROR, __VA_ARGS__)

/* At most one line per second from this call site. */
#define LOG_RATELIMITED(level, ...)                                                                \
	do {                                                                                       \
		static int64_t last_s_;                                                            \
		int64_t now_s_ = (int64_t)time(NULL);                                              \
		if ((level) >= log_level_enabled && now_s_ != last_s_) {                           \
			last_s_ = now_s_;                                                          \
			log_emit((level), __VA_ARGS__);                                            \
		}                                                                                  \
	} while (0)

#endif
