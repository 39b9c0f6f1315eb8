/*
 * keywords matcher: masking, whole texts, and text that arrives in pieces (kw_match.h).
 *
 * As in the pii guardrail, a text masked piece by piece comes out exactly as the whole text
 * would: a keyword that the next piece could complete or undo is held back whole.
 */
#include "kw_scan.h"

#include <string.h>

bool kw_buf_put(const kw_mem_t *mem, kw_buf_t *b, const char *p, size_t n)
{
    if (b->ptr == NULL || n >= b->cap - b->len) {
        size_t cap = b->cap != 0 ? b->cap : 128;
        char *q;

        if (b->len + n + 1 < b->len)
            return false;
        while (cap < b->len + n + 1) {
            if (cap > SIZE_MAX / 2)
                return false;
            cap *= 2;
        }
        q = mem->realloc_fn(b->ptr, cap);
        if (q == NULL)
            return false;
        b->ptr = q;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return true;
}

void kw_buf_free(const kw_mem_t *mem, kw_buf_t *b)
{
    mem->free_fn(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}

/* s[from, to) with the ranges inside it replaced; *masked when one was. */
static bool mask_range(const kw_set_t *set, const kw_mem_t *mem, const char *s, size_t from,
                       size_t to, const kw_scan_t *sc, kw_buf_t *out, bool *masked)
{
    size_t at = from;

    for (size_t i = 0; i < sc->n; i++) {
        const kw_range_t *r = &sc->r[i];
        const kw_word_t *w = &set->words[r->first_word];

        if (r->start < from || r->end > to)
            continue;
        if (!kw_buf_put(mem, out, s + at, r->start - at) ||
            !kw_buf_put(mem, out, w->repl, w->repl_len))
            return false;
        at = r->end;
        *masked = true;
    }
    return kw_buf_put(mem, out, s + at, to - at);
}

kw_verdict_t kw_check_text(const kw_set_t *set, const kw_mem_t *mem, const char *s, size_t len,
                           kw_buf_t *out, size_t *word)
{
    kw_scan_t sc = {.mem = mem};
    kw_verdict_t v = KW_NOMEM;
    bool masked = false;

    out->len = 0;
    kw_scan(set, s, len, 0, &sc);
    if (sc.nomem)
        goto done;
    /* The text ends here: a match waiting for the next character is a match. */
    if (sc.block || sc.open_block) {
        bool open_first = sc.open_block && (!sc.block || sc.open_block_start < sc.block_start);
        *word = open_first ? sc.open_block_word : sc.block_word;
        v = KW_BLOCKED;
        goto done;
    }
    if (sc.n == 0) {
        v = KW_CLEAN;
        goto done;
    }
    if (mask_range(set, mem, s, 0, len, &sc, out, &masked))
        v = masked ? KW_MASKED : KW_CLEAN;
done:
    mem->free_fn(sc.r);
    return v;
}

/* Where to cut buf[from, len): everything before is released now. */
static size_t release_point(const kw_set_t *set, const char *s, size_t len, size_t from,
                            const kw_scan_t *sc, bool *forced)
{
    size_t cut = len - from > set->maxlen ? len - set->maxlen : from;

    /* Never inside a UTF-8 sequence; the steps below only move to match starts. */
    while (cut > from && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    if (sc->min_open < cut)
        cut = sc->min_open;
    for (size_t i = 0; i < sc->n; i++) {
        if (sc->r[i].start < cut && sc->r[i].end > cut) {
            cut = sc->r[i].start;
            break;
        }
    }
    if (len - cut > KW_MAX_CARRY) {
        /* Overlapping matches chained too far: release the oldest text, masked. */
        *forced = true;
        cut = len - KW_MAX_CARRY;
        while (cut > from && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--;
        for (size_t i = 0; i < sc->n; i++) {
            if (sc->r[i].start < cut && sc->r[i].end > cut) {
                cut = sc->r[i].end;
                break;
            }
        }
    }
    return cut;
}

static bool carry_reserve(const kw_mem_t *mem, kw_carry_t *c, size_t n)
{
    size_t cap;
    char *buf;

    if (c->buf != NULL && n <= c->cap - c->len)
        return true;
    if (c->len + n < c->len)
        return false;
    cap = c->cap != 0 ? c->cap : 256;
    while (cap < c->len + n) {
        if (cap > SIZE_MAX / 2)
            return false;
        cap *= 2;
    }
    buf = mem->realloc_fn(c->buf, cap);
    if (buf == NULL)
        return false;
    c->buf = buf;
    c->cap = cap;
    return true;
}

kw_verdict_t kw_carry_feed(const kw_set_t *set, const kw_mem_t *mem, kw_carry_t *c, const char *s,
                           size_t n, bool final, kw_buf_t *out, size_t *word)
{
    kw_scan_t sc = {.mem = mem};
    kw_verdict_t v = KW_NOMEM;
    size_t cut, keep;
    bool masked = false;

    out->len = 0;
    if (!carry_reserve(mem, c, n))
        return KW_NOMEM;
    if (n > 0)
        memcpy(c->buf + c->len, s, n);
    c->len += n;
    kw_scan(set, c->buf, c->len, c->ctx, &sc);
    if (sc.nomem)
        goto done;
    cut = final ? c->len : release_point(set, c->buf, c->len, c->ctx, &sc, &c->forced);
    if (sc.block || (sc.open_block && (final || sc.open_block_start < cut))) {
        bool open_first = sc.open_block && (final || sc.open_block_start < cut) &&
                          (!sc.block || sc.open_block_start < sc.block_start);
        *word = open_first ? sc.open_block_word : sc.block_word;
        v = KW_BLOCKED;
        goto done;
    }
    if (!mask_range(set, mem, c->buf, c->ctx, cut, &sc, out, &masked))
        goto done;
    keep = cut > KW_CONTEXT ? cut - KW_CONTEXT : 0;
    memmove(c->buf, c->buf + keep, c->len - keep);
    c->len -= keep;
    c->ctx = cut - keep;
    v = masked ? KW_MASKED : KW_CLEAN;
done:
    mem->free_fn(sc.r);
    return v;
}

void kw_carry_free(const kw_mem_t *mem, kw_carry_t *c)
{
    mem->free_fn(c->buf);
    memset(c, 0, sizeof(*c));
}
