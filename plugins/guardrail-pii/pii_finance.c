/*
 * pii detectors: payment card numbers (Luhn check, known issuer prefixes) and IBANs (ISO 13616
 * country lengths, ISO 7064 mod-97 check).
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

/* A number may not start inside a word, another number, a version or a path. */
static bool number_start_ok(const pii_text_t *t, size_t i)
{
    int p = pii_prev(t, i);

    if (p < 0)
        return true;
    if (pii_alnum(p) || pii_latin_before(t, i))
        return false;
    /* Signs, paths, versions and ids: "+-._/$#@&=" right before a number. */
    return memchr("+-._/$#@&=", p, 10) == NULL;
}

/* ---- payment cards ---- */

bool pii_luhn_ok(const char *digits, size_t n)
{
    unsigned sum = 0;

    for (size_t k = 0; k < n; k++) {
        unsigned d = (unsigned)(digits[n - 1 - k] - '0');
        if (k % 2 == 1) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return n > 0 && sum % 10 == 0;
}

static int prefix_num(const char *d, int k)
{
    int v = 0;
    for (int i = 0; i < k; i++)
        v = v * 10 + (d[i] - '0');
    return v;
}

/* Issuer identification ranges and the lengths their cards have. */
static bool card_brand_ok(const char *d, size_t n)
{
    int p2 = prefix_num(d, 2), p3 = prefix_num(d, 3), p4 = prefix_num(d, 4);
    bool n16_19 = n >= 16 && n <= 19;

    switch (d[0]) {
    case '4': /* Visa */
        return n == 13 || n == 16 || n == 19;
    case '5':
        if (p2 >= 51 && p2 <= 55) /* Mastercard */
            return n == 16;
        return p2 == 50 || (p2 >= 56 && p2 <= 58); /* Maestro */
    case '2':
        if (p4 >= 2221 && p4 <= 2720) /* Mastercard 2-series */
            return n == 16;
        return p4 >= 2200 && p4 <= 2204 && n16_19; /* Mir */
    case '3':
        if (p2 == 34 || p2 == 37) /* American Express */
            return n == 15;
        if (p4 >= 3528 && p4 <= 3589) /* JCB */
            return n16_19;
        if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39) /* Diners Club */
            return n >= 14;
        return false;
    case '6':
        if (p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65) /* Discover */
            return n16_19;
        if (p2 == 62) /* UnionPay */
            return n16_19;
        return p4 == 6304 || p4 == 6759 || (p4 >= 6761 && p4 <= 6763); /* Maestro */
    default:
        return false;
    }
}

#define CARD_MAX 19
#define CARD_MIN 13

/*
 * Digits in groups separated by single spaces or dashes, 13 to 19 in all.  A run of groups with
 * more than 19 digits is a longer number, not a card.  The card may end at any group boundary
 * (a card number followed by " 12/27" reads on into the expiry date): the longest valid one wins.
 */
static bool card_at(const pii_text_t *t, size_t i, size_t *endp, bool *hit)
{
    char d[CARD_MAX];
    size_t ends[CARD_MAX + 1], counts[CARD_MAX + 1];
    size_t n = 0, p = i, k = 0;
    int after;

    for (;;) {
        int c;

        while (pii_digit(c = peek(t, p, hit))) {
            if (n == CARD_MAX)
                return false;
            d[n++] = (char)c;
            p++;
        }
        ends[k] = p;
        counts[k++] = n;
        if ((c == ' ' || c == '-') && pii_digit(peek(t, p + 1, hit))) {
            p++;
            continue;
        }
        break;
    }
    after = peek(t, p, hit);
    while (k-- > 0) {
        size_t m = counts[k];

        if (m < CARD_MIN)
            break;
        if (ends[k] == p && (pii_alpha(after) || after == '_' || pii_latin_next(t, p, hit) > 0))
            continue; /* glued to a word */
        if (card_brand_ok(d, m) && pii_luhn_ok(d, m)) {
            *endp = ends[k];
            return true;
        }
    }
    return false;
}

void pii_find_card(const pii_text_t *t, pii_list_t *out)
{
    size_t i = t->from;

    while (i < t->len) {
        size_t end;
        bool hit = false;

        if (pii_digit((unsigned char)t->s[i]) && number_start_ok(t, i) &&
            card_at(t, i, &end, &hit)) {
            pii_add(out, i, end, PII_CREDIT_CARD, hit);
            i = end;
        } else {
            i++;
        }
    }
}

/* ---- IBAN ---- */

/* IBAN lengths by country (SWIFT's IBAN registry). */
static const struct {
    char cc[3];
    unsigned char len;
} iban_countries[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22},
    {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24},
    {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18},
    {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27},
    {"GT", 28}, {"HN", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26},
    {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20},
    {"LU", 20}, {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20},
    {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23}, {"PK", 24},
    {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24},
    {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"SO", 23}, {"ST", 25},
    {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
    {"YE", 30},
};

#define IBAN_MAX 34

int pii_iban_length(char c0, char c1)
{
    for (size_t k = 0; k < sizeof(iban_countries) / sizeof(iban_countries[0]); k++) {
        if (iban_countries[k].cc[0] == c0 && iban_countries[k].cc[1] == c1)
            return iban_countries[k].len;
    }
    return 0;
}

/* ISO 7064 MOD 97-10: the first four characters moved to the end, letters as 10..35. */
bool pii_iban_ok(const char *s, size_t n)
{
    unsigned r = 0;

    if (n < 5)
        return false;
    for (size_t k = 0; k < n; k++) {
        char c = s[(k + 4) % n];
        if (pii_digit((unsigned char)c))
            r = (r * 10 + (unsigned)(c - '0')) % 97;
        else if (pii_upper((unsigned char)c))
            r = (r * 100 + (unsigned)(c - 'A' + 10)) % 97;
        else
            return false;
    }
    return r == 1;
}

/*
 * Country code (uppercase), two check digits, then the rest, compact or in groups of four
 * separated by single spaces; exactly the country's length, not glued to more letters or digits.
 */
static bool iban_at(const pii_text_t *t, size_t i, size_t *endp, bool *hit)
{
    char buf[IBAN_MAX];
    size_t n = 0, p = i, want;
    int after;

    if (!pii_upper(peek(t, i, hit)) || !pii_upper(peek(t, i + 1, hit)) ||
        !pii_digit(peek(t, i + 2, hit)) || !pii_digit(peek(t, i + 3, hit)))
        return false;
    want = (size_t)pii_iban_length(t->s[i], t->s[i + 1]);
    if (want == 0)
        return false;
    while (n < want) {
        int c = peek(t, p, hit);

        if (pii_alnum(c)) {
            buf[n++] = (char)(pii_lower(c) ? c - 'a' + 'A' : c);
            p++;
        } else if (c == ' ' && n % 4 == 0 && pii_alnum(peek(t, p + 1, hit))) {
            p++;
        } else {
            return false;
        }
    }
    after = peek(t, p, hit);
    if (pii_alnum(after) || after == '_' || pii_latin_next(t, p, hit) > 0)
        return false;
    if (!pii_iban_ok(buf, n))
        return false;
    *endp = p;
    return true;
}

void pii_find_iban(const pii_text_t *t, pii_list_t *out)
{
    size_t i = t->from;

    while (i < t->len) {
        size_t end;
        bool hit = false;

        if (pii_upper((unsigned char)t->s[i]) && number_start_ok(t, i) &&
            iban_at(t, i, &end, &hit)) {
            pii_add(out, i, end, PII_IBAN, hit);
            i = end;
        } else {
            i++;
        }
    }
}
