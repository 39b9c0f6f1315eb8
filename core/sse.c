#include "sse.h"

#include <string.h>

void sse_init(sse_t *s, size_t max_event)
{
    memset(s, 0, sizeof *s);
    s->max_event = max_event;
    s->line.limit = max_event;
    s->data.limit = max_event;
    s->event.limit = 256;
}

void sse_free(sse_t *s)
{
    buf_free(&s->line);
    buf_free(&s->data);
    buf_free(&s->event);
}

static int dispatch(sse_t *s, sse_cb cb, void *arg)
{
    int rc = 0;
    if (s->has_data)
        rc = cb(arg, s->event.len ? s->event.ptr : "", s->event.len, s->data.len ? s->data.ptr : "",
                s->data.len);
    buf_reset(&s->data);
    buf_reset(&s->event);
    s->has_data = 0;
    return rc;
}

static int line(sse_t *s, const char *p, size_t n, sse_cb cb, void *arg)
{
    if (n == 0)
        return dispatch(s, cb, arg);
    if (p[0] == ':')
        return 0; /* comment, e.g. keep-alive pings */
    const char *colon = memchr(p, ':', n);
    size_t flen = colon ? (size_t)(colon - p) : n;
    const char *v = colon ? colon + 1 : p + n;
    size_t vlen = colon ? n - flen - 1 : 0;
    if (vlen > 0 && *v == ' ') {
        v++;
        vlen--;
    }
    if (flen == 4 && memcmp(p, "data", 4) == 0) {
        if (s->has_data && buf_append(&s->data, "\n", 1) != 0)
            return SSE_TOO_LARGE;
        if (buf_append(&s->data, v, vlen) != 0)
            return SSE_TOO_LARGE;
        s->has_data = 1;
    } else if (flen == 5 && memcmp(p, "event", 5) == 0) {
        buf_reset(&s->event);
        if (buf_append(&s->event, v, vlen) != 0)
            return SSE_TOO_LARGE;
    }
    /* id:, retry: and unknown fields carry nothing a gateway needs. */
    return 0;
}

int sse_feed(sse_t *s, const char *p, size_t n, sse_cb cb, void *arg)
{
    size_t i = 0;
    if (s->last_cr && n > 0) {
        s->last_cr = 0;
        if (p[0] == '\n')
            i = 1;
    }
    while (i < n) {
        const char *start = p + i;
        size_t left = n - i;
        const char *nl = memchr(start, '\n', left);
        const char *cr = memchr(start, '\r', nl ? (size_t)(nl - start) : left);
        const char *end = cr ? cr : nl;
        if (end == NULL) {
            if (buf_append(&s->line, start, left) != 0)
                return SSE_TOO_LARGE;
            return 0;
        }
        size_t len = (size_t)(end - start);
        size_t adv = len + 1;
        if (end == cr) {
            if (cr + 1 < p + n) {
                if (cr[1] == '\n')
                    adv++;
            } else {
                s->last_cr = 1;
            }
        }
        int rc;
        if (s->line.len > 0) {
            if (buf_append(&s->line, start, len) != 0)
                return SSE_TOO_LARGE;
            rc = line(s, s->line.ptr, s->line.len, cb, arg);
            buf_reset(&s->line);
        } else {
            rc = line(s, start, len, cb, arg);
        }
        if (rc != 0)
            return rc;
        i += adv;
    }
    return 0;
}

int sse_finish(sse_t *s, sse_cb cb, void *arg)
{
    int rc = 0;
    if (s->line.len > 0) {
        rc = line(s, s->line.ptr, s->line.len, cb, arg);
        buf_reset(&s->line);
        if (rc != 0)
            return rc;
    }
    return dispatch(s, cb, arg);
}
