/* aws_util: string building, hashing and the SigV4 URI encoding shared by the signer and the
 * credential sources. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "aws_internal.h"

static bool buf_grow(aws_buf_t *b, size_t extra)
{
    if (b->oom)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    if (extra > SIZE_MAX / 4 - b->len) {
        b->oom = true;
        return false;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void aws_buf_put(aws_buf_t *b, const void *data, size_t len)
{
    if (!buf_grow(b, len))
        return;
    if (len > 0)
        memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
}

void aws_buf_puts(aws_buf_t *b, const char *s)
{
    aws_buf_put(b, s, strlen(s));
}

void aws_buf_putc(aws_buf_t *b, char c)
{
    aws_buf_put(b, &c, 1);
}

char *aws_buf_take(aws_buf_t *b)
{
    if (b->oom) {
        aws_buf_free(b);
        return NULL;
    }
    if (b->p == NULL) /* nothing was written: still hand out an empty string */
        aws_buf_put(b, "", 0);
    char *p = b->oom ? NULL : b->p;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void aws_buf_free(aws_buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void aws_free_secret(char *s)
{
    if (s == NULL)
        return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

char *aws_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p == NULL)
        return NULL;
    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void aws_hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

void aws_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (data == NULL)
        data = "";
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        /* Only on a broken libcrypto; an all-zero hash makes the request fail loudly upstream. */
        memset(md, 0, sizeof md);
    }
    aws_hex(md, 32, out);
}

void aws_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                     unsigned char out[32])
{
    unsigned int outlen = 0;
    if (HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &outlen) == NULL || outlen != 32)
        memset(out, 0, 32);
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

size_t aws_uri_encode(const char *in, size_t len, bool keep_slash, char *out, size_t outlen)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        char enc[3];
        size_t k;
        if (unreserved(c) || (keep_slash && c == '/')) {
            enc[0] = (char)c;
            k = 1;
        } else {
            enc[0] = '%';
            enc[1] = digits[c >> 4];
            enc[2] = digits[c & 15];
            k = 3;
        }
        for (size_t j = 0; j < k; j++, n++)
            if (out != NULL && n + 1 < outlen)
                out[n] = enc[j];
    }
    if (out != NULL && outlen > 0)
        out[n < outlen ? n : outlen - 1] = '\0';
    return n;
}

void aws_buf_put_encoded(aws_buf_t *b, const char *s, size_t len)
{
    char chunk[3 * 64 + 1];
    while (len > 0) {
        size_t n = len < 64 ? len : 64;
        size_t k = aws_uri_encode(s, n, false, chunk, sizeof chunk);
        aws_buf_put(b, chunk, k);
        s += n;
        len -= n;
    }
}

void aws_excerpt(char *dst, size_t dstlen, const char *s, size_t len)
{
    if (dstlen == 0)
        return;
    size_t n = 0;
    for (size_t i = 0; s != NULL && i < len && i < 120 && n + 1 < dstlen; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    dst[n] = '\0';
}
