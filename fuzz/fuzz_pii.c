/*
 * libFuzzer target for the pii guardrail's scanner (plugins/guardrail-pii/pii_scan.h): the text a
 * client or a model sends, checked whole and as a stream.
 *
 * The input is <enabled: 2 bytes><block: 2 bytes><cut seed: 1 byte><text>.  The promises checked
 * (a broken one aborts, which libFuzzer reports as a crash):
 *   - masking keeps valid UTF-8 valid;
 *   - the same text fed as a stream, cut at places chosen by the seed, releases exactly what the
 *     whole text gives, and blocks exactly when it blocks (unless a run had to be released
 *     before it could be judged, PII_MAX_CARRY).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pii_detect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_CUTS 16

static void *fz_realloc(void *p, size_t n)
{
    return realloc(p, n);
}

static const pii_mem_t mem = {fz_realloc, free};

/* Well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). */
static bool utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned c = s[i], need, cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (unsigned k = 1; k <= need; k++) {
            if (i + k >= n || (s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((need == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        i += need + 1;
    }
    return true;
}

static pii_rules_t rules(uint32_t enabled, uint32_t block, const char *repl)
{
    pii_rules_t r = {.enabled = enabled & PII_ALL, .block = block & enabled & PII_ALL};

    for (unsigned e = 0; e < PII_NENTITIES; e++) {
        r.repl[e] = repl;
        r.repl_len[e] = strlen(repl);
    }
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pii_buf_t whole = {NULL, 0, 0}, out = {NULL, 0, 0}, joined = {NULL, 0, 0};
    pii_carry_t carry = {0};
    pii_entity_t e1 = PII_NENTITIES, e2 = PII_NENTITIES;
    pii_verdict_t vw, vs = PII_CLEAN;
    const char *text;
    size_t n, at = 0, cuts[FUZZ_MAX_CUTS], ncuts;
    uint32_t seed;
    pii_rules_t r;

    if (size < 5 || size > 32768)
        return 0;
    r = rules((uint32_t)data[0] | (uint32_t)data[1] << 8,
              (uint32_t)data[2] | (uint32_t)data[3] << 8, "[X]");
    seed = data[4];
    text = (const char *)data + 5;
    n = size - 5;

    vw = pii_check_text(&r, &mem, text, n, &whole, &e1);
    if (vw == PII_NOMEM)
        abort();
    if (vw == PII_MASKED && utf8_ok((const unsigned char *)text, n) &&
        !utf8_ok((const unsigned char *)whole.ptr, whole.len))
        abort();

    /* The stream: cut points from a small generator seeded by the input. */
    ncuts = n > 0 ? (seed % FUZZ_MAX_CUTS) : 0;
    seed = seed * 2654435761u + (uint32_t)n;
    for (size_t k = 0; k < ncuts; k++) {
        seed = seed * 1103515245u + 12345u;
        cuts[k] = (seed >> 8) % (n + 1);
    }
    for (size_t k = 1; k < ncuts; k++) { /* insertion sort: few cuts */
        size_t v = cuts[k], j = k;
        while (j > 0 && cuts[j - 1] > v) {
            cuts[j] = cuts[j - 1];
            j--;
        }
        cuts[j] = v;
    }
    for (size_t k = 0; k <= ncuts; k++) {
        size_t to = k < ncuts ? cuts[k] : n;

        vs = pii_carry_feed(&r, &mem, &carry, text + at, to - at, k == ncuts, &out, &e2);
        if (vs == PII_NOMEM)
            abort();
        if (vs == PII_BLOCKED)
            break;
        if (!pii_buf_put(&mem, &joined, out.ptr, out.len))
            abort();
        at = to;
    }
    if (!carry.forced) {
        if ((vs == PII_BLOCKED) != (vw == PII_BLOCKED))
            abort();
        if (vw != PII_BLOCKED) {
            const char *w = vw == PII_MASKED ? whole.ptr : text;
            size_t wl = vw == PII_MASKED ? whole.len : n;
            if (joined.len != wl || (wl > 0 && memcmp(joined.ptr, w, wl) != 0))
                abort();
        }
    }
    pii_carry_free(&mem, &carry);
    pii_buf_free(&mem, &whole);
    pii_buf_free(&mem, &out);
    pii_buf_free(&mem, &joined);
    return 0;
}
