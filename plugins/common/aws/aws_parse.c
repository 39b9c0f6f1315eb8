/*
 * aws_parse: the small parsers for what credential endpoints send back - a flat JSON object
 * (container and instance metadata credentials), the STS Query API's XML, and ISO-8601 times.
 * Everything here reads untrusted bytes with explicit lengths: no NUL termination is assumed and
 * every index is checked.
 */
#include <stdlib.h>
#include <string.h>

#include "aws_internal.h"

#define JSON_MAX_DEPTH 64

/* ---- JSON ---- */

typedef struct jcur {
    const char *p, *end;
} jcur_t;

static void jskip_ws(jcur_t *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int hex4(const char *p, const char *end, unsigned *out)
{
    if (end - p < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = p[i];
        v <<= 4;
        if (ch >= '0' && ch <= '9')
            v |= (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            v |= (unsigned)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F')
            v |= (unsigned)(ch - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static void put_utf8(aws_buf_t *b, unsigned cp)
{
    char u[4];
    if (cp < 0x80) {
        aws_buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        aws_buf_put(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        aws_buf_put(b, u, 3);
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        aws_buf_put(b, u, 4);
    }
}

/* A string at c->p ('"'); its unescaped text into out (when not NULL).  -1 when malformed or when
 * it holds a NUL, which no credential field may contain. */
static int jstring(jcur_t *c, aws_buf_t *out)
{
    if (c->p >= c->end || *c->p != '"')
        return -1;
    c->p++;
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p++;
        if (ch == '"')
            return 0;
        if (ch < 0x20)
            return -1;
        if (ch != '\\') {
            if (out != NULL)
                aws_buf_putc(out, (char)ch);
            continue;
        }
        if (c->p >= c->end)
            return -1;
        char e = *c->p++;
        unsigned cp;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            cp = (unsigned char)e;
            break;
        case 'b':
            cp = '\b';
            break;
        case 'f':
            cp = '\f';
            break;
        case 'n':
            cp = '\n';
            break;
        case 'r':
            cp = '\r';
            break;
        case 't':
            cp = '\t';
            break;
        case 'u':
            if (hex4(c->p, c->end, &cp) != 0)
                return -1;
            c->p += 4;
            if (cp >= 0xd800 && cp < 0xdc00) {
                unsigned lo;
                if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' ||
                    hex4(c->p + 2, c->end, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
                    return -1;
                c->p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return -1;
            }
            if (cp == 0)
                return -1;
            break;
        default:
            return -1;
        }
        if (out != NULL)
            put_utf8(out, cp);
    }
    return -1;
}

/* Skip any value (nesting bounded). */
static int jskip(jcur_t *c, int depth)
{
    jskip_ws(c);
    if (c->p >= c->end || depth > JSON_MAX_DEPTH)
        return -1;
    char ch = *c->p;
    if (ch == '"')
        return jstring(c, NULL);
    if (ch == '{' || ch == '[') {
        char close = ch == '{' ? '}' : ']';
        c->p++;
        jskip_ws(c);
        if (c->p < c->end && *c->p == close) {
            c->p++;
            return 0;
        }
        for (;;) {
            if (ch == '{') {
                jskip_ws(c);
                if (jstring(c, NULL) != 0)
                    return -1;
                jskip_ws(c);
                if (c->p >= c->end || *c->p++ != ':')
                    return -1;
            }
            if (jskip(c, depth + 1) != 0)
                return -1;
            jskip_ws(c);
            if (c->p >= c->end)
                return -1;
            if (*c->p == ',') {
                c->p++;
                continue;
            }
            if (*c->p++ == close)
                return 0;
            return -1;
        }
    }
    /* number, true, false, null: a run of their characters */
    const char *start = c->p;
    while (c->p < c->end && strchr("0123456789+-.eEtrufalsn", *c->p) != NULL && *c->p != '\0')
        c->p++;
    return c->p > start ? 0 : -1;
}

char *aws_json_string(const char *json, size_t len, const char *key)
{
    if (json == NULL || key == NULL)
        return NULL;
    jcur_t c = {json, json + len};
    jskip_ws(&c);
    if (c.p >= c.end || *c.p++ != '{')
        return NULL;
    jskip_ws(&c);
    if (c.p < c.end && *c.p == '}')
        return NULL;
    size_t klen = strlen(key);
    for (;;) {
        aws_buf_t name = {0};
        jskip_ws(&c);
        if (jstring(&c, &name) != 0 || name.oom) {
            aws_buf_free(&name);
            return NULL;
        }
        bool match = name.len == klen && (klen == 0 || memcmp(name.p, key, klen) == 0);
        aws_buf_free(&name);
        jskip_ws(&c);
        if (c.p >= c.end || *c.p++ != ':')
            return NULL;
        jskip_ws(&c);
        if (match && c.p < c.end && *c.p == '"') {
            aws_buf_t val = {0};
            if (jstring(&c, &val) != 0) {
                aws_buf_free(&val);
                return NULL;
            }
            return aws_buf_take(&val);
        }
        if (match || jskip(&c, 1) != 0)
            return NULL; /* the member is not a string, or the document is malformed */
        jskip_ws(&c);
        if (c.p >= c.end)
            return NULL;
        char ch = *c.p++;
        if (ch == '}')
            return NULL;
        if (ch != ',')
            return NULL;
    }
}

/* ---- XML ---- */

static const char *find_bytes(const char *h, size_t hlen, const char *n, size_t nlen)
{
    if (nlen == 0 || hlen < nlen)
        return NULL;
    for (size_t i = 0; i + nlen <= hlen; i++)
        if (h[i] == n[0] && memcmp(h + i, n, nlen) == 0)
            return h + i;
    return NULL;
}

/* The element named tag in [p, end): its text lies between *content and *content_end.  1 when
 * found. */
static int find_element(const char *p, const char *end, const char *tag, const char **content,
                        const char **content_end)
{
    size_t tlen = strlen(tag);
    if (tlen == 0 || tlen > 128)
        return 0;
    char close[136];
    close[0] = '<';
    close[1] = '/';
    memcpy(close + 2, tag, tlen);
    close[2 + tlen] = '>';
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (lt == NULL)
            return 0;
        const char *name = lt + 1;
        if ((size_t)(end - name) > tlen && memcmp(name, tag, tlen) == 0) {
            char after = name[tlen];
            if (after == '>' || after == ' ' || after == '\t' || after == '\n' || after == '\r' ||
                after == '/') {
                const char *gt = memchr(name + tlen, '>', (size_t)(end - name - tlen));
                if (gt == NULL)
                    return 0;
                if (gt[-1] == '/') { /* <Tag/> */
                    *content = *content_end = gt;
                    return 1;
                }
                const char *c = find_bytes(gt + 1, (size_t)(end - gt - 1), close, tlen + 3);
                if (c == NULL)
                    return 0;
                *content = gt + 1;
                *content_end = c;
                return 1;
            }
        }
        p = lt + 1;
    }
    return 0;
}

static int decode_entity(const char *p, const char *end, aws_buf_t *out, size_t *used)
{
    static const struct {
        const char *name;
        char ch;
    } named[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        size_t n = strlen(named[i].name);
        if ((size_t)(end - p) >= n && memcmp(p, named[i].name, n) == 0) {
            aws_buf_putc(out, named[i].ch);
            *used = n;
            return 0;
        }
    }
    if (end - p < 4 || p[1] != '#')
        return -1;
    const char *q = p + 2;
    bool hex = *q == 'x' || *q == 'X';
    if (hex)
        q++;
    unsigned long cp = 0;
    int digits = 0;
    for (; q < end && *q != ';'; q++, digits++) {
        int d;
        if (*q >= '0' && *q <= '9')
            d = *q - '0';
        else if (hex && *q >= 'a' && *q <= 'f')
            d = *q - 'a' + 10;
        else if (hex && *q >= 'A' && *q <= 'F')
            d = *q - 'A' + 10;
        else
            return -1;
        cp = cp * (hex ? 16 : 10) + (unsigned long)d;
        if (cp > 0x10ffff)
            return -1;
    }
    if (q >= end || digits == 0 || cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    put_utf8(out, (unsigned)cp);
    *used = (size_t)(q + 1 - p);
    return 0;
}

char *aws_xml_text(const char *xml, size_t len, const char *within, const char *tag)
{
    if (xml == NULL || tag == NULL)
        return NULL;
    const char *p = xml, *end = xml + len;
    if (within != NULL && find_element(p, end, within, &p, &end) != 1)
        return NULL;
    const char *c, *ce;
    if (find_element(p, end, tag, &c, &ce) != 1)
        return NULL;
    aws_buf_t out = {0};
    while (c < ce) {
        if (*c == '<' || *c == '\0') { /* markup inside: not a text element */
            aws_buf_free(&out);
            return NULL;
        }
        if (*c == '&') {
            size_t used;
            if (decode_entity(c, ce, &out, &used) != 0) {
                aws_buf_free(&out);
                return NULL;
            }
            c += used;
            continue;
        }
        aws_buf_putc(&out, *c++);
    }
    return aws_buf_take(&out);
}

/* ---- ISO-8601 ---- */

static int digits(const char *s, const char *end, int n, int *out)
{
    if (end - s < n)
        return -1;
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's civil-days algorithm). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int aws_parse_iso8601(const char *s, size_t len, int64_t *out_ms)
{
    if (s == NULL)
        return -1;
    const char *end = s + len;
    while (end > s && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\r' || end[-1] == '\t'))
        end--;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    int y, mo, d, h, mi, sec;
    if (digits(s, end, 4, &y) || end - s < 19 || s[4] != '-' || digits(s + 5, end, 2, &mo) ||
        s[7] != '-' || digits(s + 8, end, 2, &d) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || digits(s + 11, end, 2, &h) ||
        s[13] != ':' || digits(s + 14, end, 2, &mi) || s[16] != ':' || digits(s + 17, end, 2, &sec))
        return -1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
        return -1;
    const char *p = s + 19;
    int64_t ms = 0;
    if (p < end && *p == '.') {
        p++;
        int n = 0;
        for (; p < end && *p >= '0' && *p <= '9'; p++, n++)
            if (n < 3)
                ms = ms * 10 + (*p - '0');
        if (n == 0)
            return -1;
        for (; n < 3; n++)
            ms *= 10;
    }
    int64_t offset = 0;
    if (p < end && (*p == 'Z' || *p == 'z')) {
        p++;
    } else if (p < end && (*p == '+' || *p == '-')) {
        int oh, om;
        int sign = *p == '-' ? -1 : 1;
        p++;
        if (digits(p, end, 2, &oh))
            return -1;
        p += 2;
        if (p < end && *p == ':')
            p++;
        if (digits(p, end, 2, &om) || oh > 23 || om > 59)
            return -1;
        p += 2;
        offset = sign * (oh * 3600 + om * 60);
    }
    if (p != end)
        return -1;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
    *out_ms = secs * 1000 + ms;
    return 0;
}
