/*
 * sagemaker_lines: see sagemaker_lines.h.  Complete lines inside one feed are handed on straight
 * from the caller's bytes; only a line cut by the end of a feed is copied, so the common case of a
 * container writing whole lines costs no copy at all.
 */
#include <string.h>

#include "sagemaker_lines.h"

/* Make room for `need` bytes in total; the old bytes move to the new block. */
static int grow(sm_lines_t *l, size_t need, size_t max_line, sm_lines_alloc_fn alloc, void *actx)
{
    if (need <= l->cap)
        return SM_LINES_OK;
    if (need > max_line)
        return SM_LINES_TOO_LONG;
    /* Doubling keeps the arena's total at most twice the longest line. */
    size_t cap = l->cap < 256 ? 256 : l->cap;
    while (cap < need)
        cap = cap > max_line / 2 ? max_line : cap * 2;
    char *p = alloc(actx, cap);
    if (p == NULL)
        return SM_LINES_NOMEM;
    if (l->len > 0)
        memcpy(p, l->buf, l->len);
    l->buf = p;
    l->cap = cap;
    return SM_LINES_OK;
}

static const char *find_eol(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n' || p[i] == '\r')
            return p + i;
    }
    return NULL;
}

int sm_lines_feed(sm_lines_t *l, const char *p, size_t n, size_t max_line, sm_lines_alloc_fn alloc,
                  void *actx, sm_line_fn fn, void *fctx)
{
    while (n > 0) {
        const char *eol = find_eol(p, n);
        size_t take = eol != NULL ? (size_t)(eol - p) : n;
        const char *line = p;
        size_t len = take;

        if (l->len > 0 || eol == NULL) {
            /* The line started in an earlier feed, or goes on in a later one: collect it. */
            if (take > max_line - l->len)
                return SM_LINES_TOO_LONG;
            int rc = grow(l, l->len + take, max_line, alloc, actx);
            if (rc != SM_LINES_OK)
                return rc;
            if (take > 0)
                memcpy(l->buf + l->len, p, take);
            l->len += take;
            if (eol == NULL)
                return SM_LINES_OK;
            line = l->buf;
            len = l->len;
        } else if (len > max_line) {
            return SM_LINES_TOO_LONG;
        }

        p += take + 1;
        n -= take + 1;
        if (len > 0) {
            /* The line stays readable during the call (the block is not reused before the next
             * feed); fn must not feed this buffer itself. */
            l->len = 0;
            int rc = fn(fctx, line, len);
            if (rc != 0)
                return rc;
        }
        l->len = 0;
    }
    return SM_LINES_OK;
}
