/*
 * sse: incremental text/event-stream parser.  Upstream chunk boundaries do not line up with events,
 * so bytes are fed as they come and complete events are handed to a callback.  Lines may end in LF,
 * CRLF or CR (also split across feeds).  Memory is bounded: an event larger than `max_event` is an
 * error.
 */
#ifndef GANTRY_SSE_H
#define GANTRY_SSE_H

#include <stddef.h>

#include "util.h"

/* Return 0 to go on; anything else stops sse_feed(), which returns that value. */
typedef int (*sse_cb)(void *arg, const char *event, size_t event_len, const char *data,
                      size_t data_len);

typedef struct sse {
    buf_t line;  /* the current, incomplete line */
    buf_t data;  /* data lines of the current event, joined with '\n' */
    buf_t event; /* event name of the current event */
    size_t max_event;
    int has_data;
    int last_cr; /* the previous feed ended with CR: a leading LF belongs to it */
} sse_t;

#define SSE_TOO_LARGE (-1)

void sse_init(sse_t *s, size_t max_event);
int sse_feed(sse_t *s, const char *p, size_t n, sse_cb cb, void *arg);
/* End of stream: a final event not followed by a blank line is dispatched, as browsers do not, but
 * upstreams that omit the last blank line are common enough to be worth it. */
int sse_finish(sse_t *s, sse_cb cb, void *arg);
void sse_free(sse_t *s);

#endif
