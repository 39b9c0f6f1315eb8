/*
 * pii detectors: API tokens recognisable by their prefix (GitHub, Slack, OpenAI, Google, Stripe)
 * and JSON Web Tokens.
 *
 * Each is a whole run of token characters (letters, digits, '_' and '-'): a token never starts or
 * ends inside a longer word, so the scan can jump from run to run.
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

/* End of the run of token characters from i. */
static size_t run_end(const pii_text_t *t, size_t i, bool *hit)
{
    while (pii_tok(peek(t, i, hit)))
        i++;
    return i;
}

static bool has_prefix(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    return n >= k && memcmp(s, lit, k) == 0;
}

/* Whether every byte of s[0, n) is an ASCII letter or digit. */
static bool all_alnum(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!pii_alnum((unsigned char)s[i]))
            return false;
    }
    return true;
}

static bool mixed(const char *s, size_t n)
{
    bool alpha = false, digit = false;

    for (size_t i = 0; i < n; i++) {
        alpha |= pii_alpha((unsigned char)s[i]);
        digit |= pii_digit((unsigned char)s[i]);
    }
    return alpha && digit;
}

/* Which prefixed token the run s[0, n) is, or PII_NENTITIES. */
static pii_entity_t prefixed(const char *s, size_t n)
{
    /* GitHub: classic tokens ghp_/gho_/ghs_/ghu_/ghr_ + 36 base62 characters (at least), and
     * fine-grained github_pat_ tokens. */
    if (n >= 4 && s[0] == 'g' && s[1] == 'h' && strchr("posur", s[2]) != NULL && s[3] == '_')
        return n - 4 >= 36 && all_alnum(s + 4, n - 4) ? PII_GITHUB_TOKEN : PII_NENTITIES;
    if (has_prefix(s, n, "github_pat_"))
        return n - 11 >= 22 && memchr(s + 11, '-', n - 11) == NULL ? PII_GITHUB_TOKEN
                                                                   : PII_NENTITIES;
    /* Slack: xoxb- (bot), xoxp- (user), xoxa-, xoxr-, xoxs- */
    if (n >= 5 && memcmp(s, "xox", 3) == 0 && strchr("bpars", s[3]) != NULL && s[4] == '-')
        return n - 5 >= 10 && memchr(s + 5, '_', n - 5) == NULL ? PII_SLACK_TOKEN : PII_NENTITIES;
    /* Stripe secret and restricted live keys. */
    if (has_prefix(s, n, "sk_live_") || has_prefix(s, n, "rk_live_"))
        return n - 8 >= 10 && all_alnum(s + 8, n - 8) ? PII_STRIPE_KEY : PII_NENTITIES;
    /* OpenAI: sk-, sk-proj-, sk-svcacct-, ... with a long random tail.  Letters and digits both
     * appear in a real key; a hyphenated phrase ("sk-learn-style-...") has no digits. */
    if (has_prefix(s, n, "sk-"))
        return n - 3 >= 20 && mixed(s + 3, n - 3) ? PII_OPENAI_KEY : PII_NENTITIES;
    /* Google API keys: AIza + 35 characters. */
    if (has_prefix(s, n, "AIza"))
        return n == 39 ? PII_GOOGLE_API_KEY : PII_NENTITIES;
    return PII_NENTITIES;
}

#define JWT_MIN_PART 10

/*
 * header.payload.signature, the first two base64url JSON objects (so "eyJ"), the signature
 * possibly empty (alg "none").  Returns the end, or 0.
 */
static size_t jwt_end(const pii_text_t *t, size_t i, size_t r1, bool *hit)
{
    size_t r2, r3;

    if (r1 - i < JWT_MIN_PART || memcmp(t->s + i, "eyJ", 3) != 0 || peek(t, r1, hit) != '.')
        return 0;
    if (peek(t, r1 + 1, hit) != 'e' || peek(t, r1 + 2, hit) != 'y' || peek(t, r1 + 3, hit) != 'J')
        return 0;
    r2 = run_end(t, r1 + 1, hit);
    if (r2 - (r1 + 1) < JWT_MIN_PART || peek(t, r2, hit) != '.')
        return 0;
    r3 = run_end(t, r2 + 1, hit);
    return r3;
}

void pii_find_tokens(const pii_text_t *t, uint32_t enabled, pii_list_t *out)
{
    size_t i = t->from;

    while (i < t->len) {
        int prev = pii_prev(t, i);
        size_t r, end;
        bool hit = false;
        pii_entity_t e;

        if (!pii_tok((unsigned char)t->s[i])) {
            i++;
            continue;
        }
        /* Most runs are ordinary words: those that cannot start a token are skipped without
         * looking further than their first character. */
        if (strchr("gxsrAe", t->s[i]) == NULL || (prev >= 0 && pii_tok(prev))) {
            while (i < t->len && pii_tok((unsigned char)t->s[i]))
                i++;
            continue;
        }
        r = run_end(t, i, &hit);
        if ((prev >= 0 && (pii_tok(prev) || pii_latin_before(t, i))) ||
            pii_latin_next(t, r, &hit) > 0) {
            i = r;
            continue;
        }
        e = prefixed(t->s + i, r - i);
        if (e != PII_NENTITIES && (enabled & (1u << e))) {
            pii_add(out, i, r, e, hit);
        } else if ((enabled & (1u << PII_JWT)) && prev != '.' &&
                   (end = jwt_end(t, i, r, &hit)) != 0) {
            pii_add(out, i, end, PII_JWT, hit);
            r = end;
        }
        i = r;
    }
}
