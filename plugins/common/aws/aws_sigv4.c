/*
 * aws_sigv4: AWS Signature Version 4 as a pure function of the request, the credentials and the
 * clock (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html).
 *
 * The canonical URI is derived from the path exactly as it travels on the wire.  Every service but
 * S3 encodes it once more (so a model id "a:b", sent as "a%3Ab", is signed as "a%253Ab") after
 * removing "." and ".." segments and empty segments; S3-style signing keeps the path as it is and
 * only encodes what is not encoded yet.  AWS's test-suite requests carry raw paths ("/example
 * space/"), which this rule signs exactly as the suite expects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "aws_internal.h"

#define MAX_URL 65536
#define MAX_HEADERS 128
#define MAX_HEADER_NAME 256

typedef struct url_parts {
    bool https;
    const char *authority; /* host[:port], userinfo refused */
    size_t authority_len;
    size_t host_len; /* authority_len without a default port */
    const char *path;
    size_t path_len;
    const char *query;
    size_t query_len;
} url_parts_t;

static bool ieq_prefix(const char *s, const char *prefix)
{
    for (; *prefix != '\0'; s++, prefix++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if (c != *prefix)
            return false;
    }
    return true;
}

static int parse_url(const char *url, url_parts_t *u)
{
    memset(u, 0, sizeof *u);
    if (url == NULL)
        return -1;
    size_t len = strnlen(url, MAX_URL + 1);
    if (len > MAX_URL)
        return -1;
    const char *p;
    if (ieq_prefix(url, "https://")) {
        u->https = true;
        p = url + 8;
    } else if (ieq_prefix(url, "http://")) {
        p = url + 7;
    } else {
        return -1;
    }
    const char *end = url + len;
    const char *a = p;
    while (p < end && *p != '/' && *p != '?' && *p != '#')
        p++;
    u->authority = a;
    u->authority_len = (size_t)(p - a);
    if (u->authority_len == 0 || memchr(a, '@', u->authority_len) != NULL)
        return -1;
    for (size_t i = 0; i < u->authority_len; i++)
        if ((unsigned char)a[i] <= ' ' || a[i] == 0x7f)
            return -1;
    /* The port is what follows the last ':' unless that ':' is inside an IPv6 literal. */
    u->host_len = u->authority_len;
    const char *colon = NULL;
    for (const char *c = a + u->authority_len; c > a; c--) {
        if (c[-1] == ']')
            break;
        if (c[-1] == ':') {
            colon = c - 1;
            break;
        }
    }
    if (colon != NULL) {
        const char *port = colon + 1;
        size_t plen = (size_t)(a + u->authority_len - port);
        for (size_t i = 0; i < plen; i++)
            if (port[i] < '0' || port[i] > '9')
                return -1;
        if ((plen == 2 && memcmp(port, "80", 2) == 0 && !u->https) ||
            (plen == 3 && memcmp(port, "443", 3) == 0 && u->https) || plen == 0)
            u->host_len = (size_t)(colon - a);
        if (u->host_len == 0)
            return -1;
    }
    const char *path = p;
    while (p < end && *p != '?' && *p != '#')
        p++;
    u->path = path;
    u->path_len = (size_t)(p - path);
    if (p < end && *p == '?') {
        const char *q = ++p;
        while (p < end && *p != '#')
            p++;
        u->query = q;
        u->query_len = (size_t)(p - q);
    }
    return 0;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c - 'A' + 10;
}

/* ---- canonical URI ---- */

static void put_canonical_uri(aws_buf_t *b, const url_parts_t *u, bool s3_style)
{
    const char *path = u->path_len > 0 ? u->path : "/";
    size_t len = u->path_len > 0 ? u->path_len : 1;
    if (s3_style) {
        /* Already-encoded octets stay (hex in upper case); anything else is encoded once. */
        for (size_t i = 0; i < len; i++) {
            if (path[i] == '%' && i + 2 < len && is_hex(path[i + 1]) && is_hex(path[i + 2])) {
                char e[3] = {'%', path[i + 1], path[i + 2]};
                for (int k = 1; k < 3; k++)
                    if (e[k] >= 'a' && e[k] <= 'f')
                        e[k] = (char)(e[k] - 32);
                aws_buf_put(b, e, 3);
                i += 2;
            } else if (path[i] == '/') {
                aws_buf_putc(b, '/');
            } else {
                aws_buf_put_encoded(b, path + i, 1);
            }
        }
        return;
    }
    /* Remove dot segments and empty segments first, then encode every segment again. */
    size_t nseg = 0, cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += path[i] == '/';
    struct seg {
        const char *p;
        size_t len;
    } *segs = malloc(cap * sizeof *segs);
    if (segs == NULL) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        size_t n = j - i;
        if (n == 2 && path[i] == '.' && path[i + 1] == '.') {
            if (nseg > 0)
                nseg--;
        } else if (n > 0 && !(n == 1 && path[i] == '.')) {
            segs[nseg].p = path + i;
            segs[nseg++].len = n;
        }
        i = j + 1;
    }
    for (size_t s = 0; s < nseg; s++) {
        aws_buf_putc(b, '/');
        aws_buf_put_encoded(b, segs[s].p, segs[s].len);
    }
    if (nseg == 0 || path[len - 1] == '/')
        aws_buf_putc(b, '/');
    free(segs);
}

/* ---- canonical query string ---- */

typedef struct qpair {
    char *key, *value; /* encoded */
} qpair_t;

static int cmp_qpair(const void *a, const void *b)
{
    const qpair_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c != 0 ? c : strcmp(x->value, y->value);
}

/* Decode %XX escapes (a malformed escape stays literal) and encode the result the SigV4 way, so a
 * query written raw or already encoded signs the same. */
static char *reencode(const char *s, size_t len)
{
    aws_buf_t raw = {0}, enc = {0};
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && is_hex(s[i + 1]) && is_hex(s[i + 2])) {
            aws_buf_putc(&raw, (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
            i += 2;
        } else {
            aws_buf_putc(&raw, s[i]);
        }
    }
    if (raw.oom) {
        aws_buf_free(&raw);
        return NULL;
    }
    aws_buf_put_encoded(&enc, raw.p != NULL ? raw.p : "", raw.len);
    aws_buf_free(&raw);
    return aws_buf_take(&enc);
}

static void put_canonical_query(aws_buf_t *b, const url_parts_t *u)
{
    if (u->query_len == 0)
        return;
    size_t cap = 1;
    for (size_t i = 0; i < u->query_len; i++)
        cap += u->query[i] == '&';
    qpair_t *pairs = calloc(cap, sizeof *pairs);
    if (pairs == NULL) {
        b->oom = true;
        return;
    }
    size_t n = 0;
    const char *q = u->query, *end = u->query + u->query_len;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp != NULL ? amp : end;
        if (stop > q) { /* "a=1&&b=2": empty parameters carry nothing to sign */
            const char *eq = memchr(q, '=', (size_t)(stop - q));
            const char *kend = eq != NULL ? eq : stop;
            pairs[n].key = reencode(q, (size_t)(kend - q));
            pairs[n].value =
                eq != NULL ? reencode(eq + 1, (size_t)(stop - eq - 1)) : reencode("", 0);
            n++;
            if (pairs[n - 1].key == NULL || pairs[n - 1].value == NULL) {
                b->oom = true;
                goto done;
            }
        }
        q = stop + 1;
    }
    qsort(pairs, n, sizeof *pairs, cmp_qpair);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            aws_buf_putc(b, '&');
        aws_buf_puts(b, pairs[i].key);
        aws_buf_putc(b, '=');
        aws_buf_puts(b, pairs[i].value);
    }
done:
    for (size_t i = 0; i < n; i++) {
        free(pairs[i].key);
        free(pairs[i].value);
    }
    free(pairs);
}

/* ---- canonical headers ---- */

typedef struct chdr {
    char name[MAX_HEADER_NAME + 1]; /* lowercase */
    size_t name_len;
    const char *value;
    size_t value_len;
    size_t index;
} chdr_t;

static int cmp_chdr(const void *a, const void *b)
{
    const chdr_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c != 0)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The value trimmed, with every run of whitespace inside it (folded lines too) made one space. */
static void put_trimmed(aws_buf_t *b, const char *v, size_t len)
{
    size_t i = 0;
    while (i < len && is_ws(v[i]))
        i++;
    while (len > i && is_ws(v[len - 1]))
        len--;
    bool space = false;
    for (; i < len; i++) {
        if (is_ws(v[i])) {
            space = true;
            continue;
        }
        if (space)
            aws_buf_putc(b, ' ');
        space = false;
        aws_buf_putc(b, v[i]);
    }
}

/* Sorted, lowercased copies of the headers; NULL on a malformed name or too many headers. */
static chdr_t *sort_headers(const aws_header_t *h, size_t n)
{
    if (n > MAX_HEADERS || (n > 0 && h == NULL))
        return NULL;
    chdr_t *out = calloc(n ? n : 1, sizeof *out);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *name = h[i].name;
        size_t len = h[i].name_len;
        while (len > 0 && is_ws(*name)) {
            name++;
            len--;
        }
        while (len > 0 && is_ws(name[len - 1]))
            len--;
        if (len == 0 || len > MAX_HEADER_NAME || (h[i].value == NULL && h[i].value_len > 0))
            goto fail;
        for (size_t k = 0; k < len; k++) {
            unsigned char c = (unsigned char)name[k];
            /* A name the signer would print ambiguously (':' ';' or controls) is refused. */
            if (c <= ' ' || c == ':' || c == ';' || c == 0x7f)
                goto fail;
            out[i].name[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        out[i].name[len] = '\0';
        /* A NUL would cut the canonical request short; folded lines (CR, LF) are whitespace. */
        if (h[i].value_len > 0 && memchr(h[i].value, '\0', h[i].value_len) != NULL)
            goto fail;
        out[i].name_len = len;
        out[i].value = h[i].value != NULL ? h[i].value : "";
        out[i].value_len = h[i].value_len;
        out[i].index = i;
    }
    qsort(out, n, sizeof *out, cmp_chdr);
    return out;
fail:
    free(out);
    return NULL;
}

static void put_signed_headers(aws_buf_t *b, const chdr_t *hs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(hs[i].name, hs[i - 1].name) == 0)
            continue;
        if (i > 0)
            aws_buf_putc(b, ';');
        aws_buf_put(b, hs[i].name, hs[i].name_len);
    }
}

static bool valid_token(const char *s, bool allow_slash)
{
    if (s == NULL || *s == '\0' || strlen(s) > 128)
        return false;
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c >= 0x7f || c == ',' || (!allow_slash && c == '/'))
            return false;
    }
    return true;
}

static int amz_date(time_t now, char out[17])
{
    struct tm tm;
    if (gmtime_r(&now, &tm) == NULL || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
        return -1;
    int n = snprintf(out, 17, "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return n == 16 ? 0 : -1;
}

/* Canonical request over already sorted headers; the signed-headers list too when wanted. */
static char *canonical_request(const aws_sign_in_t *in, const chdr_t *hs, size_t n)
{
    url_parts_t u;
    if (in->method == NULL || *in->method == '\0' || parse_url(in->url, &u) != 0)
        return NULL;
    for (const char *m = in->method; *m != '\0'; m++)
        if ((unsigned char)*m <= ' ' || *m == 0x7f)
            return NULL;
    aws_buf_t b = {0};
    aws_buf_puts(&b, in->method);
    aws_buf_putc(&b, '\n');
    put_canonical_uri(&b, &u, in->s3_style_path);
    aws_buf_putc(&b, '\n');
    put_canonical_query(&b, &u);
    aws_buf_putc(&b, '\n');
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(hs[i].name, hs[i - 1].name) == 0) {
            /* Repeated headers: one line, the values in the order they are sent. */
            aws_buf_putc(&b, ',');
        } else {
            if (i > 0)
                aws_buf_putc(&b, '\n');
            aws_buf_put(&b, hs[i].name, hs[i].name_len);
            aws_buf_putc(&b, ':');
        }
        put_trimmed(&b, hs[i].value, hs[i].value_len);
    }
    aws_buf_puts(&b, n > 0 ? "\n\n" : "\n");
    put_signed_headers(&b, hs, n);
    aws_buf_putc(&b, '\n');
    char hash[65];
    aws_sha256_hex(in->body, in->body != NULL ? in->body_len : 0, hash);
    aws_buf_puts(&b, hash);
    return aws_buf_take(&b);
}

int aws_sigv4_canonical_request(const aws_sign_in_t *in, char **out)
{
    *out = NULL;
    chdr_t *hs = sort_headers(in->headers, in->nheaders);
    if (hs == NULL)
        return -1;
    *out = canonical_request(in, hs, in->nheaders);
    free(hs);
    return *out != NULL ? 0 : -1;
}

int aws_sigv4_string_to_sign(const aws_sign_in_t *in, const char *canonical_request, char **out)
{
    *out = NULL;
    char date[17], hash[65];
    if (canonical_request == NULL || amz_date(in->now, date) != 0 ||
        !valid_token(in->region, false) || !valid_token(in->service, false))
        return -1;
    aws_sha256_hex(canonical_request, strlen(canonical_request), hash);
    aws_buf_t b = {0};
    aws_buf_puts(&b, "AWS4-HMAC-SHA256\n");
    aws_buf_puts(&b, date);
    aws_buf_putc(&b, '\n');
    aws_buf_put(&b, date, 8);
    aws_buf_putc(&b, '/');
    aws_buf_puts(&b, in->region);
    aws_buf_putc(&b, '/');
    aws_buf_puts(&b, in->service);
    aws_buf_puts(&b, "/aws4_request\n");
    aws_buf_puts(&b, hash);
    *out = aws_buf_take(&b);
    return *out != NULL ? 0 : -1;
}

/* The signature over a string to sign, as 64 hex characters. */
static int signature(const aws_sign_in_t *in, const char *sts, char out[65])
{
    const char *secret = in->creds->secret_access_key;
    size_t slen = strlen(secret);
    if (slen > 256)
        return -1;
    unsigned char key[4 + 256], k1[32], k2[32], k3[32], k4[32], sig[32];
    memcpy(key, "AWS4", 4);
    memcpy(key + 4, secret, slen);
    char date[17];
    if (amz_date(in->now, date) != 0)
        return -1;
    aws_hmac_sha256(key, 4 + slen, date, 8, k1);
    aws_hmac_sha256(k1, 32, in->region, strlen(in->region), k2);
    aws_hmac_sha256(k2, 32, in->service, strlen(in->service), k3);
    aws_hmac_sha256(k3, 32, "aws4_request", 12, k4);
    aws_hmac_sha256(k4, 32, sts, strlen(sts), sig);
    aws_hex(sig, 32, out);
    /* The derived keys are as good as the secret for a day: do not leave them on the stack. */
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(k1, 32);
    OPENSSL_cleanse(k2, 32);
    OPENSSL_cleanse(k3, 32);
    OPENSSL_cleanse(k4, 32);
    return 0;
}

static int authorization(const aws_sign_in_t *in, const chdr_t *hs, size_t n, char *out,
                         size_t outlen)
{
    const aws_creds_t *c = in->creds;
    if (c == NULL || !valid_token(c->access_key_id, false) || c->secret_access_key == NULL)
        return -1;
    char *creq = canonical_request(in, hs, n), *sts = NULL;
    int rc = -1;
    char sig[65], date[17];
    if (creq == NULL || aws_sigv4_string_to_sign(in, creq, &sts) != 0 ||
        signature(in, sts, sig) != 0 || amz_date(in->now, date) != 0)
        goto done;
    aws_buf_t b = {0};
    aws_buf_puts(&b, "AWS4-HMAC-SHA256 Credential=");
    aws_buf_puts(&b, c->access_key_id);
    aws_buf_putc(&b, '/');
    aws_buf_put(&b, date, 8);
    aws_buf_putc(&b, '/');
    aws_buf_puts(&b, in->region);
    aws_buf_putc(&b, '/');
    aws_buf_puts(&b, in->service);
    aws_buf_puts(&b, "/aws4_request, SignedHeaders=");
    put_signed_headers(&b, hs, n);
    aws_buf_puts(&b, ", Signature=");
    aws_buf_puts(&b, sig);
    char *auth = aws_buf_take(&b);
    if (auth != NULL && strlen(auth) < outlen) {
        memcpy(out, auth, strlen(auth) + 1);
        rc = 0;
    }
    free(auth);
done:
    free(creq);
    free(sts);
    return rc;
}

int aws_sigv4_authorization(const aws_sign_in_t *in, char *out, size_t outlen)
{
    chdr_t *hs = sort_headers(in->headers, in->nheaders);
    if (hs == NULL)
        return -1;
    int rc = authorization(in, hs, in->nheaders, out, outlen);
    free(hs);
    return rc;
}

static bool reserved_header(const aws_header_t *h)
{
    static const char *const names[] = {"host", "x-amz-date", "x-amz-content-sha256",
                                        "x-amz-security-token", "authorization"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (h->name != NULL && h->name_len == strlen(names[i]) &&
            strncasecmp(h->name, names[i], h->name_len) == 0)
            return true;
    return false;
}

int aws_sigv4_sign(const aws_sign_in_t *in, aws_sign_out_t *out)
{
    memset(out, 0, sizeof *out);
    url_parts_t u;
    if (in->creds == NULL || parse_url(in->url, &u) != 0 || u.host_len >= sizeof out->host ||
        in->nheaders > MAX_HEADERS - 4 || (in->nheaders > 0 && in->headers == NULL))
        return -1;
    memcpy(out->host, u.authority, u.host_len);
    out->host[u.host_len] = '\0';
    if (amz_date(in->now, out->amz_date) != 0)
        return -1;
    aws_sha256_hex(in->body, in->body != NULL ? in->body_len : 0, out->content_sha256);
    const char *token = in->creds->session_token;
    if (token != NULL && *token == '\0')
        token = NULL;

    aws_header_t all[MAX_HEADERS];
    size_t n = 0;
    for (size_t i = 0; i < in->nheaders; i++) {
        if (reserved_header(&in->headers[i]))
            return -1; /* the signer owns these: a second copy would break the signature */
        all[n++] = in->headers[i];
    }
    all[n++] = (aws_header_t){"host", 4, out->host, u.host_len};
    all[n++] = (aws_header_t){"x-amz-date", 10, out->amz_date, 16};
    all[n++] = (aws_header_t){"x-amz-content-sha256", 20, out->content_sha256, 64};
    if (token != NULL)
        all[n++] = (aws_header_t){"x-amz-security-token", 20, token, strlen(token)};
    chdr_t *hs = sort_headers(all, n);
    if (hs == NULL)
        return -1;
    int rc = authorization(in, hs, n, out->authorization, sizeof out->authorization);
    free(hs);
    if (rc != 0) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    out->security_token = token;
    return 0;
}
