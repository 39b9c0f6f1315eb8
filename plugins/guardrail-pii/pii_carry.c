/*
 * pii scanner: text that arrives in pieces (see pii_carry_feed() in pii_scan.h for the rules).
 *
 * The aim is that a text masked piece by piece comes out exactly as the whole text would: every
 * match that the whole text has is complete, with the bytes its detector looks at, before any of
 * it is released; and the bytes a detector looks back at are still there as context.
 */
#include "pii_detect.h"

#include <string.h>

/* Characters that entities without spaces are made of (e-mail addresses, tokens, keys, IPv6). */
static bool run_char(const char *s, size_t len, size_t i)
{
    int c = (unsigned char)s[i];
    pii_text_t t = {.s = s, .len = len, .from = 0};

    if (c < 0x80)
        return pii_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-' ||
               c == '@' || c == ':';
    /* Both bytes of a Latin letter (e-mail local parts and domains may have them). */
    return pii_latin_at(&t, i) > 0 || (i > 0 && pii_latin_at(&t, i - 1) > 0);
}

/*
 * Where to cut s[from, len): everything before the cut is released now.  `raw` are the matches
 * as found, `merged` the same merged.  *forced is set when the cut had to leave text undecided.
 */
static size_t release_point(const char *s, size_t len, size_t from, const pii_list_t *raw,
                            const pii_list_t *merged, bool *forced)
{
    size_t cut = len - from > PII_HOLD ? len - PII_HOLD : from;

    /* Never inside a UTF-8 sequence.  First: the steps below only move the cut to the start of
     * a match or of a run, which are character boundaries already. */
    while (cut > from && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    /* A match that more text could still change waits whole. */
    for (size_t i = 0; i < raw->n; i++) {
        if (raw->v[i].open && raw->v[i].start < cut)
            cut = raw->v[i].start;
    }
    /* So does a run of entity characters that the cut would split. */
    if (cut > from && run_char(s, len, cut) && run_char(s, len, cut - 1)) {
        while (cut > from && run_char(s, len, cut - 1))
            cut--;
    }
    /* A match the cut would split waits whole (ranges are disjoint: one step is enough). */
    for (size_t i = 0; i < merged->n; i++) {
        if (merged->v[i].start < cut && merged->v[i].end > cut) {
            cut = merged->v[i].start;
            break;
        }
    }
    if (len - cut > PII_MAX_CARRY) {
        /* Held too long: release the oldest text, a match it ends in included. */
        *forced = true;
        cut = len - PII_MAX_CARRY;
        while (cut > from && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--;
        for (size_t i = 0; i < merged->n; i++) {
            if (merged->v[i].start < cut && merged->v[i].end > cut) {
                cut = merged->v[i].end;
                break;
            }
        }
    }
    return cut;
}

/* Make room for n more bytes in the carry. */
static bool carry_reserve(const pii_mem_t *mem, pii_carry_t *c, size_t n)
{
    size_t cap;
    char *buf;

    if (n <= c->cap - c->len && c->buf != NULL)
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

pii_verdict_t pii_carry_feed(const pii_rules_t *r, const pii_mem_t *mem, pii_carry_t *c,
                             const char *s, size_t n, bool final, pii_buf_t *out,
                             pii_entity_t *blocked)
{
    pii_list_t raw = {.mem = mem}, merged = {.mem = mem};
    pii_text_t t;
    const pii_match_t *b;
    pii_verdict_t v = PII_NOMEM;
    size_t cut, keep;
    bool masked = false;

    out->len = 0;
    if (!carry_reserve(mem, c, n))
        return PII_NOMEM;
    if (n > 0)
        memcpy(c->buf + c->len, s, n);
    c->len += n;
    if (c->len == c->ctx)
        return pii_buf_put(mem, out, "", 0) ? PII_CLEAN : PII_NOMEM;

    t = (pii_text_t){.s = c->buf, .len = c->len, .from = c->ctx};
    if (!pii_scan(&t, r->enabled, &raw))
        goto done;
    if (raw.n > 0) {
        merged.v = mem->realloc_fn(NULL, raw.n * sizeof(*raw.v));
        if (merged.v == NULL)
            goto done;
        memcpy(merged.v, raw.v, raw.n * sizeof(*raw.v));
        merged.n = merged.cap = raw.n;
        pii_merge(&merged);
    }
    cut = final ? c->len : release_point(c->buf, c->len, c->ctx, &raw, &merged, &c->forced);
    if ((b = pii_first_block(r, &raw, final, cut)) != NULL) {
        *blocked = (pii_entity_t)b->entity;
        v = PII_BLOCKED;
        goto done;
    }
    if (!pii_mask_range(r, mem, c->buf, c->ctx, cut, &merged, out, &masked))
        goto done;
    /* Keep up to PII_CONTEXT released bytes as context, then the held text. */
    keep = cut > PII_CONTEXT ? cut - PII_CONTEXT : 0;
    memmove(c->buf, c->buf + keep, c->len - keep);
    c->len -= keep;
    c->ctx = cut - keep;
    v = masked ? PII_MASKED : PII_CLEAN;
done:
    mem->free_fn(raw.v);
    mem->free_fn(merged.v);
    return v;
}

void pii_carry_free(const pii_mem_t *mem, pii_carry_t *c)
{
    mem->free_fn(c->buf);
    memset(c, 0, sizeof(*c));
}
