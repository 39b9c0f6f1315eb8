#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int buf_append(buf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (b->limit != 0 && b->len + n > b->limit)
        return -1;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        if (b->limit != 0 && cap > b->limit)
            cap = b->limit;
        char *np = realloc(b->ptr, cap);
        if (np == NULL)
            return -1;
        b->ptr = np;
        b->cap = cap;
    }
    memcpy(b->ptr + b->len, p, n);
    b->len += n;
    return 0;
}

int buf_appendz(buf_t *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

void buf_reset(buf_t *b)
{
    b->len = 0;
}

void buf_free(buf_t *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}

int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int parse_duration_ms(const char *s, int64_t *ms)
{
    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || !isfinite(v) || v < 0)
        return -1;
    double mult;
    if (*end == '\0' || strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "m") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else
        return -1;
    double r = v * mult;
    if (r > 9.0e15)
        return -1;
    *ms = (int64_t)llround(r);
    return 0;
}

void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

void random_id(char out[33])
{
    unsigned char r[16];
    if (RAND_bytes(r, sizeof r) != 1)
        memset(r, 0, sizeof r);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[r[i] >> 4];
        out[2 * i + 1] = hex[r[i] & 15];
    }
    out[32] = '\0';
}

bool str_ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    return alen == blen && strncasecmp(a, b, alen) == 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

const char *url_query_param(const char *q, size_t qlen, const char *name, char *buf, size_t len)
{
    size_t nlen = strlen(name);
    if (len == 0)
        return NULL;
    for (size_t i = 0; i < qlen;) {
        size_t end = i;
        while (end < qlen && q[end] != '&')
            end++;
        if (end - i > nlen && memcmp(q + i, name, nlen) == 0 && q[i + nlen] == '=') {
            size_t o = 0;
            for (size_t k = i + nlen + 1; k < end && o + 1 < len; k++) {
                int hi, lo;
                if (q[k] == '%' && k + 2 < end && (hi = hexval(q[k + 1])) >= 0 &&
                    (lo = hexval(q[k + 2])) >= 0) {
                    buf[o++] = (char)(hi << 4 | lo);
                    k += 2;
                } else {
                    buf[o++] = q[k] == '+' ? ' ' : q[k];
                }
            }
            buf[o] = '\0';
            return buf;
        }
        i = end + 1;
    }
    return NULL;
}
