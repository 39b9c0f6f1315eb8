/*
 * sagemaker_lines: re-splitting a byte stream into lines.  A SageMaker response stream delivers
 * whatever the container wrote in PayloadPart events cut at arbitrary places (inside a JSON text,
 * inside "data:"), so the bytes are collected here and handed on one whole line at a time.
 *
 * Pure code without the host table, so that a unit test and a fuzz target can drive it directly;
 * memory comes from a caller-supplied allocator (the request arena in the plugin) and is never
 * freed piecemeal.
 */
#ifndef GANTRY_SAGEMAKER_LINES_H
#define GANTRY_SAGEMAKER_LINES_H

#include <stdbool.h>
#include <stddef.h>

/* Memory that lives as long as the line buffer (an arena); NULL when exhausted. */
typedef void *(*sm_lines_alloc_fn)(void *ctx, size_t size);
/* One complete line, without its terminator; return 0 to go on, anything else to stop. */
typedef int (*sm_line_fn)(void *ctx, const char *line, size_t len);

/* The unfinished line carried from one feed to the next.  Zero-initialised is empty. */
typedef struct sm_lines {
    char *buf;
    size_t len;
    size_t cap;
} sm_lines_t;

enum {
    SM_LINES_OK = 0,
    SM_LINES_NOMEM = -1,    /* the allocator failed */
    SM_LINES_TOO_LONG = -2, /* a line grew past max_line */
};

/*
 * Feed n bytes.  Lines end at LF, CR or CRLF; empty lines are skipped (neither SSE "data:" lines
 * nor JSON lines are ever empty, and skipping them makes a CRLF split between two feeds harmless).
 * Calls fn for each completed line in order and keeps the rest for the next feed.  Returns
 * SM_LINES_OK, a negative SM_LINES_* error, or the first non-zero value fn returned (then the
 * bytes after that line are dropped).
 */
int sm_lines_feed(sm_lines_t *l, const char *p, size_t n, size_t max_line, sm_lines_alloc_fn alloc,
                  void *actx, sm_line_fn fn, void *fctx);

/* Forget the unfinished line (it was consumed some other way). */
static inline void sm_lines_clear(sm_lines_t *l)
{
    l->len = 0;
}

#endif
