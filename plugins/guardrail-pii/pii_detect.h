/*
 * pii scanner internals: the text being scanned, the list of matches, character classes and the
 * detectors (pii_contact.c, pii_finance.c, pii_net.c, pii_secret.c).
 */
#ifndef GANTRY_PII_DETECT_H
#define GANTRY_PII_DETECT_H

#include "pii_scan.h"

/*
 * The text a detector scans: matches start in [from, len); the bytes before `from` were already
 * released and are only context for look-behind (a digit before a number, a key id before its
 * secret).  A match is `open` when text after `len` could still change it - it touches the end,
 * or its end depends on bytes that have not arrived - so a stream keeps it back.
 */
typedef struct pii_text {
    const char *s;
    size_t len;
    size_t from;
} pii_text_t;

typedef struct pii_match {
    size_t start;
    size_t end;
    uint8_t entity;
    bool open;
} pii_match_t;

typedef struct pii_list {
    const pii_mem_t *mem;
    pii_match_t *v;
    size_t n;
    size_t cap;
    bool nomem;
} pii_list_t;

void pii_add(pii_list_t *l, size_t start, size_t end, pii_entity_t e, bool open);
/* Run every enabled detector over t; false when memory ran out. */
bool pii_scan(const pii_text_t *t, uint32_t enabled, pii_list_t *out);
/* Sort matches by start (longest first) and merge overlapping ones into one range, which keeps
 * the entity of its first match and is open when any of them was. */
void pii_merge(pii_list_t *l);

/*
 * Append s[from, to) to `out` with each merged range inside it replaced by its entity's
 * replacement (ranges outside [from, to) are skipped).  *masked is set when one was replaced.
 */
bool pii_mask_range(const pii_rules_t *r, const pii_mem_t *mem, const char *s, size_t from,
                    size_t to, const pii_list_t *merged, pii_buf_t *out, bool *masked);
/* The first match of a blocking entity that is settled: not open, unless the text is final or
 * the match starts before `before` (text that must be released now). */
const pii_match_t *pii_first_block(const pii_rules_t *r, const pii_list_t *raw, bool final,
                                   size_t before);
/* Append n bytes to b (NUL kept after them). */
bool pii_buf_put(const pii_mem_t *mem, pii_buf_t *b, const char *p, size_t n);

/* The detectors: each appends the matches of its entities that start in [t->from, t->len). */
void pii_find_email(const pii_text_t *t, pii_list_t *out);
void pii_find_phone(const pii_text_t *t, pii_list_t *out);
void pii_find_card(const pii_text_t *t, pii_list_t *out);
void pii_find_iban(const pii_text_t *t, pii_list_t *out);
void pii_find_aws(const pii_text_t *t, uint32_t enabled, pii_list_t *out);
void pii_find_ip(const pii_text_t *t, uint32_t enabled, pii_list_t *out);
void pii_find_pem(const pii_text_t *t, pii_list_t *out);
void pii_find_tokens(const pii_text_t *t, uint32_t enabled, pii_list_t *out);

/* Exposed for the tests: the checksums the detectors use. */
bool pii_luhn_ok(const char *digits, size_t n);
bool pii_iban_ok(const char *compact, size_t n); /* uppercase letters and digits, no spaces */
int pii_iban_length(char c0, char c1);           /* the country's IBAN length, 0 if unknown */

/* ---- character classes (ASCII unless said otherwise) ---- */

static inline int pii_at(const pii_text_t *t, size_t i)
{
    return i < t->len ? (unsigned char)t->s[i] : -1;
}

static inline bool pii_digit(int c)
{
    return c >= '0' && c <= '9';
}

static inline bool pii_upper(int c)
{
    return c >= 'A' && c <= 'Z';
}

static inline bool pii_lower(int c)
{
    return c >= 'a' && c <= 'z';
}

static inline bool pii_alpha(int c)
{
    return pii_upper(c) || pii_lower(c);
}

static inline bool pii_alnum(int c)
{
    return pii_alpha(c) || pii_digit(c);
}

static inline bool pii_hex(int c)
{
    return pii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static inline bool pii_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Characters of url-safe base64 tokens (JWT segments, API keys). */
static inline bool pii_tok(int c)
{
    return pii_alnum(c) || c == '_' || c == '-';
}

/* The character before t->s[i], or -1 at the start of the buffer. */
static inline int pii_prev(const pii_text_t *t, size_t i)
{
    return i > 0 ? (unsigned char)t->s[i - 1] : -1;
}

/*
 * Latin letters beyond ASCII (U+00C0-U+024F without the signs × and ÷), as two-byte UTF-8: the
 * accented letters of European names and domains.  Returns the sequence's length (2) when s[i]
 * starts one, else 0.  Other scripts are left out on purpose: CJK text has no spaces, and letting
 * its characters into an e-mail's local part would mask whole sentences before the address.
 */
static inline size_t pii_latin_at(const pii_text_t *t, size_t i)
{
    int c0 = pii_at(t, i), c1 = pii_at(t, i + 1);
    unsigned cp;

    if (c0 < 0xC3 || c0 > 0xC9 || c1 < 0x80 || c1 > 0xBF)
        return 0;
    cp = ((unsigned)(c0 & 0x1F) << 6) | (unsigned)(c1 & 0x3F);
    if (cp < 0xC0 || cp > 0x24F || cp == 0xD7 || cp == 0xF7)
        return 0;
    return 2;
}

/* pii_latin_at() for a look ahead: a lead byte whose second byte has not arrived yet sets *hit
 * (the next piece of a stream may complete the letter). */
static inline size_t pii_latin_next(const pii_text_t *t, size_t i, bool *hit)
{
    int c0 = pii_at(t, i);

    if (c0 >= 0xC3 && c0 <= 0xC9 && i + 1 >= t->len)
        *hit = true;
    return pii_latin_at(t, i);
}

/* Whether a Latin letter (as above) ends just before s[i]. */
static inline bool pii_latin_before(const pii_text_t *t, size_t i)
{
    return i >= 2 && pii_latin_at(t, i - 2) == 2;
}

#endif
