/*
 * The anthropic provider: string helpers, and cleaning upstream text before it reaches clients
 * and logs (error messages are cut short, made valid single-line UTF-8 and scrubbed of the API
 * key, which a misconfigured proxy in front of the API might echo back).
 */
#include "anthropic.h"

/* Keys shorter than this are placeholders and may well be ordinary words. */
#define MIN_SCRUBBED_KEY 8

bool anth_str_eq(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.ptr != NULL && s.len == n && memcmp(s.ptr, lit, n) == 0;
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool anth_contains(gantry_str_t hay, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; hay.ptr != NULL && i + n <= hay.len; i++) {
        size_t k = 0;
        while (k < n && lower(hay.ptr[i + k]) == needle[k])
            k++;
        if (k == n)
            return true;
    }
    return false;
}

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 when it is not valid there. */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* the allowed range of the second byte */
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        lo = p[0] == 0xe0 ? 0xa0 : lo; /* overlong forms */
        hi = p[0] == 0xed ? 0x9f : hi; /* UTF-16 surrogates */
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        lo = p[0] == 0xf0 ? 0x90 : lo; /* overlong forms */
        hi = p[0] == 0xf4 ? 0x8f : hi; /* beyond U+10FFFF */
    } else {
        return 0;
    }
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    }
    return n;
}

gantry_str_t anth_clean_text(const gantry_host_t *host, gantry_req_t *req, gantry_str_t in,
                             size_t cap, gantry_str_t secret)
{
    static const char redacted[] = "[redacted]";
    if (in.ptr == NULL || in.len == 0)
        return (gantry_str_t){"", 0};
    char *out = host->alloc(req, cap + sizeof("..."));
    if (out == NULL)
        return (gantry_str_t){"", 0};

    const unsigned char *p = (const unsigned char *)in.ptr;
    size_t i = 0, o = 0;
    bool space = false, cut = false;
    bool scrub = secret.len >= MIN_SCRUBBED_KEY;

    /* The work is bounded by `cap`, not by the length of the input. */
    while (i < in.len) {
        const char *unit;
        size_t n;
        if (scrub && in.len - i >= secret.len && memcmp(p + i, secret.ptr, secret.len) == 0) {
            unit = redacted;
            n = sizeof(redacted) - 1;
            i += secret.len;
        } else if (p[i] <= 0x20 || p[i] == 0x7f) {
            space = true;
            i++;
            continue;
        } else if ((n = utf8_len(p + i, in.len - i)) == 0) {
            unit = "?";
            n = 1;
            i++;
        } else {
            unit = (const char *)p + i;
            i += n;
        }
        size_t sep = (space && o > 0) ? 1 : 0;
        if (o + sep + n > cap) {
            cut = true;
            break;
        }
        if (sep)
            out[o++] = ' ';
        memcpy(out + o, unit, n);
        o += n;
        space = false;
    }
    if (cut) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return (gantry_str_t){out, o};
}
