#include "log.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_level = LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_vmsg(int level, const char *where, const char *fmt, va_list ap)
{
    if (level > log_level)
        return;
    char line[2048];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000),
                     level_names[level < 0   ? 0
                                 : level > 3 ? 3
                                             : level]);
    if (where != NULL && n < (int)sizeof line)
        n += snprintf(line + n, sizeof line - n, "[%s] ", where);
    if (n < (int)sizeof line)
        n += vsnprintf(line + n, sizeof line - n, fmt, ap);
    if (n >= (int)sizeof line - 1)
        n = sizeof line - 2;
    line[n++] = '\n';
    /* One write per line keeps lines from different threads whole. */
    ssize_t r = write(STDERR_FILENO, line, (size_t)n);
    (void)r;
}

void log_msg(int level, const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, where, fmt, ap);
    va_end(ap);
}
