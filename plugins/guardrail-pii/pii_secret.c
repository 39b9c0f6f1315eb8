/*
 * pii detectors: AWS access keys and their secrets, and PEM private keys.
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

/* Whether t->s + i starts with `lit`; bytes past the end set *hit and do not match. */
static bool starts(const pii_text_t *t, size_t i, const char *lit, bool *hit)
{
    for (size_t k = 0; lit[k] != '\0'; k++) {
        if (peek(t, i + k, hit) != (unsigned char)lit[k])
            return false;
    }
    return true;
}

/* ---- AWS ---- */

#define AWS_KEY_LEN 20
#define AWS_SECRET_LEN 40
/* How far before a secret its access key id (or a label naming it) may end. */
#define AWS_NEAR 128
#define AWS_LABEL_NEAR 48

/* AKIA (long-term) or ASIA (temporary) and 16 uppercase letters or digits, as a whole word. */
static bool aws_key_at(const pii_text_t *t, size_t i, bool *hit)
{
    int prev = pii_prev(t, i), c1;

    if (prev >= 0 && (pii_alnum(prev) || prev == '_'))
        return false;
    if (peek(t, i, hit) != 'A')
        return false;
    c1 = peek(t, i + 1, hit);
    if ((c1 != 'K' && c1 != 'S') || peek(t, i + 2, hit) != 'I' || peek(t, i + 3, hit) != 'A')
        return false;
    for (size_t k = 4; k < AWS_KEY_LEN; k++) {
        int c = peek(t, i + k, hit);
        if (!pii_upper(c) && !pii_digit(c))
            return false;
    }
    c1 = peek(t, i + AWS_KEY_LEN, hit);
    return !(pii_alnum(c1) || c1 == '_');
}

static bool b64_char(int c)
{
    return pii_alnum(c) || c == '/' || c == '+';
}

static int lower(int c)
{
    return pii_upper(c) ? c - 'A' + 'a' : c;
}

/* Whether s starts with the lowercase word `w`, in any case. */
static bool label_word(const char *s, const char *w)
{
    for (size_t j = 0; w[j] != '\0'; j++) {
        if (lower((unsigned char)s[j]) != w[j])
            return false;
    }
    return true;
}

/* "secret access key" in any case, the words joined by nothing, '_', '-', '.' or a space. */
static bool label_at(const char *s, size_t n)
{
    static const char *const words[] = {"secret", "access", "key"};
    size_t p = 0;

    for (size_t w = 0; w < 3; w++) {
        size_t k = strlen(words[w]);
        if (w > 0 && p < n && strchr("_-. ", s[p]) != NULL)
            p++;
        if (p + k > n)
            return false;
        for (size_t j = 0; j < k; j++) {
            if (lower((unsigned char)s[p + j]) != words[w][j])
                return false;
        }
        p += k;
    }
    return true;
}

/* An access key id ending, or a label, shortly before offset i. */
static bool aws_secret_context(const pii_text_t *t, size_t i)
{
    size_t lo = i > AWS_NEAR + AWS_KEY_LEN ? i - AWS_NEAR - AWS_KEY_LEN : 0;
    bool hit = false;

    for (size_t j = lo; j + AWS_KEY_LEN <= i; j++) {
        if (t->s[j] == 'A' && aws_key_at(t, j, &hit))
            return true;
    }
    lo = i > AWS_LABEL_NEAR ? i - AWS_LABEL_NEAR : 0;
    for (size_t j = lo; j < i; j++) {
        if ((t->s[j] == 's' || t->s[j] == 'S') && label_at(t->s + j, i - j))
            return true;
    }
    return false;
}

/*
 * A secret access key is 40 characters of base64 (letters of both cases and digits, '/' or '+'),
 * which random text of that shape is too; so it counts only after its access key id or a label
 * naming it ("aws_secret_access_key", "SecretAccessKey").  Looking only backwards keeps the
 * decision local, which a stream needs: it cannot wait for a key id that may follow.
 */
/* Whether s[lo, len) has anything a secret could follow: an access key id prefix or "secret". */
static bool any_anchor(const pii_text_t *t, size_t lo)
{
    for (size_t j = lo; j + 4 <= t->len; j++) {
        int c = (unsigned char)t->s[j];
        if (c == 'A' && (t->s[j + 1] == 'K' || t->s[j + 1] == 'S') && t->s[j + 2] == 'I' &&
            t->s[j + 3] == 'A')
            return true;
        if ((c == 's' || c == 'S') && j + 6 <= t->len && label_word(t->s + j, "secret"))
            return true;
    }
    return false;
}

static void find_aws_secret(const pii_text_t *t, pii_list_t *out)
{
    size_t i = t->from;

    /* Most texts have no key id nor label: then no secret either, and no run needs a look. */
    if (!any_anchor(t, t->from > AWS_NEAR + AWS_KEY_LEN ? t->from - AWS_NEAR - AWS_KEY_LEN : 0))
        return;

    while (i < t->len) {
        int prev = pii_prev(t, i), after;
        size_t r = i;
        bool hit = false, up = false, low = false, num = false;

        if (!b64_char((unsigned char)t->s[i])) {
            i++;
            continue;
        }
        while (b64_char(peek(t, r, &hit))) {
            int c = (unsigned char)t->s[r];
            up |= pii_upper(c);
            low |= pii_lower(c);
            num |= !pii_alpha(c);
            r++;
        }
        after = peek(t, r, &hit);
        if (r - i == AWS_SECRET_LEN && !(prev >= 0 && (b64_char(prev) || prev == '=')) &&
            after != '=' && up && low && num && aws_secret_context(t, i))
            pii_add(out, i, r, PII_AWS_SECRET_KEY, hit);
        i = r;
    }
}

void pii_find_aws(const pii_text_t *t, uint32_t enabled, pii_list_t *out)
{
    if (enabled & (1u << PII_AWS_ACCESS_KEY)) {
        for (size_t i = t->from; i < t->len;) {
            bool hit = false;

            if (t->s[i] == 'A' && aws_key_at(t, i, &hit)) {
                pii_add(out, i, i + AWS_KEY_LEN, PII_AWS_ACCESS_KEY, hit);
                i += AWS_KEY_LEN;
            } else {
                i++;
            }
        }
    }
    if (enabled & (1u << PII_AWS_SECRET_KEY))
        find_aws_secret(t, out);
}

/* ---- PEM private keys ---- */

#define PEM_MAX_LABEL 40
#define PEM_MAX_BODY 65536
/* Base64 lines are 64 characters; words of prose are shorter.  The body stops at the fifth
 * short token in a row (PEM header lines such as "Proc-Type: 4,ENCRYPTED" are two). */
#define PEM_LONG_TOKEN 16
#define PEM_MAX_SHORT 4

/* "-----BEGIN <label>-----" where the label ends in PRIVATE KEY (RSA, EC, DSA, OPENSSH,
 * ENCRYPTED, PGP ... BLOCK).  Returns the offset after it, or 0. */
static size_t pem_header_end(const pii_text_t *t, size_t i, const char *what, bool *hit)
{
    size_t p = i + 5 + strlen(what), k = 0;
    static const char *const tails[] = {"PRIVATE KEY", "PRIVATE KEY BLOCK"};

    if (!starts(t, i, "-----", hit) || !starts(t, i + 5, what, hit))
        return 0;
    while (k <= PEM_MAX_LABEL) {
        int c = peek(t, p + k, hit);
        if (!pii_upper(c) && !pii_digit(c) && c != ' ')
            break;
        k++;
    }
    if (k > PEM_MAX_LABEL || !starts(t, p + k, "-----", hit))
        return 0;
    for (size_t j = 0; j < 2; j++) {
        size_t n = strlen(tails[j]);
        if (k >= n && memcmp(t->s + p + k - n, tails[j], n) == 0)
            return p + k + 5;
    }
    return 0;
}

static bool pem_sep(const pii_text_t *t, size_t q, size_t *n, bool *hit)
{
    int c = peek(t, q, hit);

    if (pii_space(c)) {
        *n = 1;
        return true;
    }
    /* A key pasted inside JSON text keeps its line breaks as the two characters \n. */
    if (c == '\\') {
        int d = peek(t, q + 1, hit);
        if (d == 'n' || d == 'r' || d == 't') {
            *n = 2;
            return true;
        }
    }
    return false;
}

static bool pem_token_char(int c)
{
    return b64_char(c) || c == '=' || c == ':' || c == ',' || c == '-';
}

/*
 * The key's extent: header, body, and footer ("-----END ...-----") when there is one.  Without a
 * footer the body ends after its last long token; prose after a lone header ends it at once.
 */
static size_t pem_end(const pii_text_t *t, size_t h, bool *hit)
{
    size_t q = h, last = h, shorts = 0;

    while (q - h < PEM_MAX_BODY) {
        size_t n, tok;

        while (q - h < PEM_MAX_BODY && pem_sep(t, q, &n, hit))
            q += n;
        if (starts(t, q, "-----", hit)) {
            size_t f = pem_header_end(t, q, "END ", hit);
            return f != 0 ? f : last;
        }
        tok = q;
        while (pem_token_char(peek(t, q, hit)) && !starts(t, q, "-----", hit))
            q++;
        if (q == tok || *hit)
            break;
        if (q - tok >= PEM_LONG_TOKEN) {
            last = q;
            shorts = 0;
        } else if (++shorts > PEM_MAX_SHORT) {
            break;
        }
    }
    return last;
}

void pii_find_pem(const pii_text_t *t, pii_list_t *out)
{
    size_t i = t->from;

    while (i < t->len) {
        const char *dash = memchr(t->s + i, '-', t->len - i);
        size_t at, h, end;
        bool hit = false;

        if (dash == NULL)
            return;
        at = (size_t)(dash - t->s);
        h = pem_header_end(t, at, "BEGIN ", &hit);
        if (h == 0) {
            i = at + 1;
            continue;
        }
        end = pem_end(t, h, &hit);
        pii_add(out, at, end, PII_PRIVATE_KEY, hit);
        i = end;
    }
}
