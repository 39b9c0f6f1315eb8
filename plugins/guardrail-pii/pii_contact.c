/*
 * pii detectors: e-mail addresses and phone numbers.
 */
#include "pii_detect.h"

#include <string.h>

/*
 * Reads t->s[i], noting in *hit when i is past the end: the decision then depends on text that
 * has not arrived yet, and a stream must hold the match back (pii_match_t.open).
 */
static int peek(const pii_text_t *t, size_t i, bool *hit)
{
    if (i >= t->len) {
        *hit = true;
        return -1;
    }
    return (unsigned char)t->s[i];
}

/* ---- e-mail ---- */

/* The local part as people write it; the rarer RFC 5322 characters (!#$&'*=?^`{|}~ and /) are
 * left out because they glue an address to the URL or text around it. */
static bool local_char(int c)
{
    return pii_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

#define EMAIL_MAX_LOCAL 64
#define EMAIL_MAX_LABEL 63

/* Start of the local part that ends at `at` (the '@'), or `at` when there is none. */
static size_t local_start(const pii_text_t *t, size_t at)
{
    size_t j = at;

    while (j > 0 && at - j <= EMAIL_MAX_LOCAL) {
        int c = (unsigned char)t->s[j - 1];

        if (c < 0x80 && local_char(c))
            j--;
        else if (pii_latin_before(t, j))
            j -= 2;
        else
            break;
    }
    if (at - j > EMAIL_MAX_LOCAL)
        return at; /* too long for an address: a blob that happens to contain '@' */
    while (j < at && t->s[j] == '.')
        j++;
    if (j == at || t->s[at - 1] == '.')
        return at;
    return j;
}

/* One domain label from d: letters, digits, '-' and Latin letters.  Returns its end. */
static size_t label_end(const pii_text_t *t, size_t d, bool *hit)
{
    size_t j = d;

    for (;;) {
        int c = peek(t, j, hit);
        size_t n;

        if (c >= 0 && c < 0x80 && (pii_alnum(c) || c == '-'))
            j++;
        else if ((n = pii_latin_next(t, j, hit)) > 0)
            j += n;
        else
            return j;
    }
}

/* A top-level domain: two or more ASCII letters, or an IDNA "xn--" label. */
static bool tld_ok(const char *s, size_t n)
{
    if (n >= 5 && memcmp(s, "xn--", 4) == 0) {
        for (size_t i = 4; i < n; i++) {
            if (!pii_alnum((unsigned char)s[i]) && s[i] != '-')
                return false;
        }
        return true;
    }
    if (n < 2)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!pii_alpha((unsigned char)s[i]))
            return false;
    }
    return true;
}

/*
 * The domain after an '@' at d-1: two or more labels separated by single dots, none starting or
 * ending with '-'.  A dot not followed by a label ends the domain (the end of a sentence).
 * Returns the end of the domain, or 0 when there is no valid one.
 */
static size_t domain_end(const pii_text_t *t, size_t d, bool *hit)
{
    size_t j = d, last = d, end = d, labels = 0;

    for (;;) {
        size_t e = label_end(t, j, hit);
        bool dashed = false;
        int c;

        if (e == j || t->s[j] == '-')
            break;
        /* "a@b.com-": the address ends before the dash. */
        while (t->s[e - 1] == '-') {
            e--;
            dashed = true;
        }
        if (e - j > EMAIL_MAX_LABEL)
            break;
        last = j;
        end = e;
        labels++;
        if (dashed)
            break;
        c = peek(t, e, hit);
        if (c != '.')
            break;
        c = peek(t, e + 1, hit);
        if (c < 0 || !(pii_alnum(c) || pii_latin_next(t, e + 1, hit) > 0))
            break;
        j = e + 1;
    }
    if (labels < 2 || !tld_ok(t->s + last, end - last))
        return 0;
    return end;
}

void pii_find_email(const pii_text_t *t, pii_list_t *out)
{
    size_t i = t->from;

    while (i < t->len) {
        const char *at = memchr(t->s + i, '@', t->len - i);
        size_t a, start, end;
        bool hit = false;

        if (at == NULL)
            return;
        a = (size_t)(at - t->s);
        start = local_start(t, a);
        end = start < a ? domain_end(t, a + 1, &hit) : 0;
        if (end == 0) {
            i = a + 1;
            continue;
        }
        /* The local part reaches into released text only after a forced release. */
        pii_add(out, start < t->from ? t->from : start, end, PII_EMAIL, hit);
        i = end;
    }
}

/* ---- phone numbers ---- */

/*
 * The rule (README.md, "Phone numbers"):
 *   - "+" and 8 to 15 digits (E.164), the first not 0, with or without separators;
 *   - otherwise 10 to 12 digits written in at least two groups, separated by single spaces, dashes
 *     or dots, or with an area code in parentheses; the first group has at most 5 digits.
 * A plain run of digits without "+" is never a phone number (order ids, amounts, timestamps), nor
 * is anything glued to letters, a longer digit sequence (more than 15 digits in a row of groups),
 * or four dot-separated groups of at most three digits (an IPv4 address).
 */
typedef struct phone_parse {
    size_t end;
    int digits;
    int groups;
    int seps;
    int first;   /* digits of the first group */
    int longest; /* digits of the longest group */
    bool plus;
    bool paren;
    bool dots_only;
    unsigned sepmask; /* separators used: 1 space, 2 dash, 4 dot */
} phone_parse_t;

static bool phone_sep(int c)
{
    return c == ' ' || c == '-' || c == '.';
}

/* Whether a candidate may start at i: not inside a word, a number, a version or a path. */
static bool phone_start_ok(const pii_text_t *t, size_t i)
{
    int p = pii_prev(t, i);

    if (p < 0)
        return true;
    if (pii_alnum(p) || pii_latin_before(t, i))
        return false;
    /* Signs, paths, versions and ids: "+-._/$#@&=" right before a number. */
    return memchr("+-._/$#@&=", p, 10) == NULL;
}

/* Parse digits, groups and separators from i; false when it is too long to be a phone number. */
static bool phone_parse(const pii_text_t *t, size_t i, phone_parse_t *ph, bool *hit)
{
    size_t p = i;

    memset(ph, 0, sizeof(*ph));
    ph->dots_only = true;
    if (peek(t, p, hit) == '+') {
        int c = peek(t, p + 1, hit);
        if (!pii_digit(c) || c == '0')
            return false;
        ph->plus = true;
        p++;
    }
    for (;;) {
        int c = peek(t, p, hit), n = 0;

        if (c == '(' && !ph->paren) {
            size_t q = p + 1;
            while (pii_digit(peek(t, q, hit)) && n <= 5) {
                q++;
                n++;
            }
            if (n == 0 || n > 5 || peek(t, q, hit) != ')')
                break;
            p = q + 1;
            ph->paren = true;
        } else if (pii_digit(c)) {
            while (pii_digit(peek(t, p, hit)) && ph->digits + n <= 15) {
                p++;
                n++;
            }
        } else {
            break;
        }
        ph->digits += n;
        if (ph->digits > 15)
            return false;
        if (++ph->groups == 1)
            ph->first = n;
        if (n > ph->longest)
            ph->longest = n;
        ph->end = p;
        c = peek(t, p, hit);
        if (phone_sep(c)) {
            int d = peek(t, p + 1, hit);
            if (!pii_digit(d) && !(d == '(' && !ph->paren))
                break;
            if (c != '.')
                ph->dots_only = false;
            ph->sepmask |= c == ' ' ? 1u : c == '-' ? 2u : 4u;
            ph->seps++;
            p++;
        } else if (!(c == '(' && !ph->paren) && !pii_digit(c)) {
            break;
        }
    }
    return ph->groups > 0;
}

static bool phone_valid(const phone_parse_t *ph)
{
    if (ph->plus)
        return ph->digits >= 8 && ph->digits <= 15;
    if (ph->digits < 10 || ph->digits > 12 || ph->groups < 2)
        return false;
    if (ph->seps == 0 && !ph->paren)
        return false;
    if (ph->first > 5)
        return false;
    return !(ph->dots_only && !ph->paren && ph->groups == 4 && ph->longest <= 3);
}

void pii_find_phone(const pii_text_t *t, pii_list_t *out)
{
    size_t i = t->from;

    while (i < t->len) {
        int c = (unsigned char)t->s[i], after;
        phone_parse_t ph;
        bool hit = false;

        if (!(c == '+' || c == '(' || pii_digit(c)) || !phone_start_ok(t, i) ||
            !phone_parse(t, i, &ph, &hit) || !phone_valid(&ph)) {
            i++;
            continue;
        }
        /* Not the later groups of a longer number grouped the same way ("1234 5678 9012 3456
         * 7890"), while "room 12 415-555-2671" still has its phone number. */
        if (i >= 2 && phone_sep(pii_prev(t, i)) && pii_digit((unsigned char)t->s[i - 2])) {
            int p = pii_prev(t, i);
            unsigned bit = p == ' ' ? 1u : p == '-' ? 2u : 4u;
            if (ph.sepmask == 0 || (ph.sepmask & bit)) {
                i++;
                continue;
            }
        }
        after = peek(t, ph.end, &hit);
        if (pii_alnum(after) || after == '_' || pii_latin_next(t, ph.end, &hit) > 0) {
            i++;
            continue;
        }
        pii_add(out, i, ph.end, PII_PHONE, hit);
        i = ph.end;
    }
}
