/* log: the core's own log lines on stderr ("ts level [where] message"), one write(2) per line. */
#ifndef GANTRY_LOG_H
#define GANTRY_LOG_H

#include <stdarg.h>

enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern int log_level; /* lines above this level are dropped */

void log_msg(int level, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(int level, const char *where, const char *fmt, va_list ap);

#define log_error(...) log_msg(LOG_ERROR, NULL, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, NULL, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...)                             \
    do {                                           \
        if (log_level >= LOG_DEBUG)                \
            log_msg(LOG_DEBUG, NULL, __VA_ARGS__); \
    } while (0)

#endif
