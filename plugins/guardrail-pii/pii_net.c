/*
 * pii detectors: IPv4 and IPv6 addresses.
 */
#include "pii_detect.h"

#include <string.h>

static int peek(const pii_text_t *t, size_t i, bool *hit)
{
    if (i >= t->len) {
        *hit = true;
        return -1;
    }
    return (unsigned char)t->s[i];
}

/* ---- IPv4 ---- */

/* One decimal octet at *p: 0-255 without leading zeros ("010" reads as octal to some tools and is
 * more often part of a version or a date than an address). */
static bool octet(const char *s, size_t len, size_t *p, bool *hit)
{
    size_t q = *p;
    int v = 0, n = 0;

    for (;;) {
        if (q >= len) {
            *hit = true;
            break;
        }
        if (!pii_digit((unsigned char)s[q]) || n == 4)
            break;
        v = v * 10 + (s[q] - '0');
        q++;
        n++;
    }
    if (n == 0 || n > 3 || v > 255 || (n > 1 && s[*p] == '0'))
        return false;
    *p = q;
    return true;
}

/* Four octets separated by dots; *p moves past them. */
static bool dotted_quad(const char *s, size_t len, size_t *p, bool *hit)
{
    for (int k = 0; k < 4; k++) {
        if (k > 0) {
            if (*p >= len) {
                *hit = true;
                return false;
            }
            if (s[*p] != '.')
                return false;
            (*p)++;
        }
        if (!octet(s, len, p, hit))
            return false;
    }
    return true;
}

static bool ipv4_at(const pii_text_t *t, size_t i, size_t *endp, bool *hit)
{
    size_t p = i;
    int prev = pii_prev(t, i), c;

    if (prev >= 0 && (pii_alnum(prev) || prev == '.' || prev == '_' || pii_latin_before(t, i)))
        return false;
    if (!dotted_quad(t->s, t->len, &p, hit))
        return false;
    c = peek(t, p, hit);
    if (pii_alnum(c) || c == '_' || pii_latin_next(t, p, hit) > 0)
        return false;
    /* "1.2.3.4.5" is a version or an OID, not an address. */
    if (c == '.' && pii_digit(peek(t, p + 1, hit)))
        return false;
    *endp = p;
    return true;
}

/* ---- IPv6 ---- */

static bool v6_char(int c)
{
    return pii_hex(c) || c == ':' || c == '.';
}

/*
 * RFC 4291 text forms: eight groups of 1-4 hex digits, or fewer with one "::", the last 32 bits
 * optionally as a dotted quad.  A compressed form needs at least two groups and four digits, or
 * is "::1": shorter ones ("1::2", "::2") are more often code (slices, C++ scopes) than addresses.
 */
static bool ipv6_valid(const char *s, size_t n)
{
    size_t p = 0;
    int groups = 0, digits = 0;
    bool compressed = false, hit = false;

    if (n == 3 && s[0] == ':' && s[1] == ':' && s[2] == '1')
        return true;
    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        compressed = true;
        p = 2;
    } else if (n == 0 || s[0] == ':') {
        return false;
    }
    while (p < n) {
        size_t q = p;

        while (q < n && pii_hex((unsigned char)s[q]))
            q++;
        if (q < n && s[q] == '.') {
            /* The embedded IPv4 address must be the whole rest. */
            size_t r = p;
            if (!dotted_quad(s, n, &r, &hit) || r != n)
                return false;
            groups += 2;
            digits += 4;
            p = n;
            break;
        }
        if (q == p || q - p > 4)
            return false;
        groups++;
        digits += (int)(q - p);
        p = q;
        if (p == n)
            break;
        /* s[p] is ':' */
        if (p + 1 < n && s[p + 1] == ':') {
            if (compressed)
                return false;
            compressed = true;
            p += 2;
        } else if (p + 1 == n) {
            return false;
        } else {
            p++;
        }
    }
    if (!compressed)
        return groups == 8;
    return groups <= 7 && groups >= 2 && digits >= 4;
}

void pii_find_ip(const pii_text_t *t, uint32_t enabled, pii_list_t *out)
{
    size_t i;

    if (enabled & (1u << PII_IPV4)) {
        for (i = t->from; i < t->len;) {
            size_t end;
            bool hit = false;

            if (pii_digit((unsigned char)t->s[i]) && ipv4_at(t, i, &end, &hit)) {
                pii_add(out, i, end, PII_IPV4, hit);
                i = end;
            } else {
                i++;
            }
        }
    }
    if (!(enabled & (1u << PII_IPV6)))
        return;
    /* Every address has a ':': look at the runs around each one, once. */
    for (i = t->from; i < t->len;) {
        const char *colon = memchr(t->s + i, ':', t->len - i);
        size_t rs, r, end;
        int prev, c;
        bool hit = false;

        if (colon == NULL)
            return;
        rs = r = (size_t)(colon - t->s);
        while (rs > 0 && v6_char((unsigned char)t->s[rs - 1]))
            rs--;
        while (v6_char(peek(t, r, &hit)))
            r++;
        i = r;
        /* A run that started in released text, or with a dot, is no address; nor is one inside
         * a word or glued to the letters after it. */
        if (rs < t->from || t->s[rs] == '.')
            continue;
        prev = pii_prev(t, rs);
        if (prev >= 0 && (pii_alnum(prev) || prev == '_' || pii_latin_before(t, rs)))
            continue;
        c = peek(t, r, &hit);
        if (pii_alnum(c) || c == '_' || pii_latin_next(t, r, &hit) > 0)
            continue;
        /* Sentence punctuation after an address: "fe80::1." or "fe80::1: ...". */
        end = r;
        while (end > rs && t->s[end - 1] == '.')
            end--;
        if (end - rs >= 2 && t->s[end - 1] == ':' && t->s[end - 2] != ':')
            end--;
        if (ipv6_valid(t->s + rs, end - rs))
            pii_add(out, rs, end, PII_IPV6, hit);
    }
}
