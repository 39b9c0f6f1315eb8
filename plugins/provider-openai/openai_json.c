/*
 * The openai provider: a compact JSON writer over the host's JSON nodes.
 *
 * The upstream body used to be made with json_dup + edits + json_write, which costs a tree copy,
 * a malloc'd print buffer and an arena copy per attempt.  Walking the canonical tree and writing
 * the text directly avoids all three.  The output must stay byte for byte what the host's
 * json_write (cJSON_PrintUnformatted) gives, so that upstreams, caches of upstream bodies and the
 * tests see no difference: strings are escaped exactly as cJSON escapes them, and the one value
 * whose text is hard to reproduce (a non-integral number, printed with "%1.15g" and a round-trip
 * check) is still printed by the host.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "openai.h"

bool openai_wb_reserve(openai_wbuf_t *b, size_t n)
{
    if (b->failed)
        return false;
    if (n <= b->cap - b->len)
        return true;

    size_t need = b->len + n;
    if (need < b->len) {
        b->failed = true;
        return false;
    }
    size_t cap = b->cap * 2;
    if (cap < need)
        cap = need;
    /*
     * The first buffer is the caller's stack array; later ones are instance memory, so that a big
     * body does not leave every outgrown buffer behind in the request's arena budget.
     */
    char *p;
    if (b->heap) {
        p = b->host->mem_realloc(b->ptr, cap);
    } else {
        p = b->host->mem_alloc(cap);
        if (p != NULL && b->len > 0)
            memcpy(p, b->ptr, b->len);
    }
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    b->ptr = p;
    b->cap = cap;
    b->heap = true;
    return true;
}

void openai_wb_release(openai_wbuf_t *b)
{
    if (b->heap)
        b->host->mem_free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
    b->heap = false;
}

void openai_wb_put_slow(openai_wbuf_t *b, const char *s, size_t n)
{
    if (n == 0 || !openai_wb_reserve(b, n))
        return;
    memcpy(b->ptr + b->len, s, n);
    b->len += n;
}

/* Whether any byte of an 8-byte word needs escaping: below 0x20, '"' or '\\'. */
static bool word_needs_escape(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');

    /*
     * (x - 0x01..) & ~x & 0x80.. is non-zero exactly when some byte of x is zero (or, with
     * 0x20.., below 0x20).  Borrows may mark bytes after the first hit too, so the answer is only
     * "somewhere in this word", which is all the caller asks.
     */
    return (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs)) & highs;
}

/* Escape one byte the way cJSON does; returns the length written to esc. */
static size_t escape_byte(unsigned char c, char esc[6])
{
    static const char hex[] = "0123456789abcdef";

    esc[0] = '\\';
    switch (c) {
    case '"':
        esc[1] = '"';
        return 2;
    case '\\':
        esc[1] = '\\';
        return 2;
    case '\b':
        esc[1] = 'b';
        return 2;
    case '\f':
        esc[1] = 'f';
        return 2;
    case '\n':
        esc[1] = 'n';
        return 2;
    case '\r':
        esc[1] = 'r';
        return 2;
    case '\t':
        esc[1] = 't';
        return 2;
    default:
        esc[1] = 'u';
        esc[2] = '0';
        esc[3] = '0';
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 0xF];
        return 6;
    }
}

/*
 * cJSON's print_string_ptr(): '"' and '\\' escaped, the controls below 0x20 as \b \f \n \r \t or
 * \u00xx with lowercase hex, everything else (DEL, UTF-8, malformed bytes) copied as it is.
 * Prompts make up most of a body, so plain text is skipped eight bytes at a time and copied in
 * runs.
 */
void openai_wb_string(openai_wbuf_t *b, gantry_str_t s)
{
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t run = 0, i = 0;

    /* An empty view may have a NULL pointer, which must not reach the pointer arithmetic below. */
    if (s.len == 0) {
        openai_wb_put(b, "\"\"", 2);
        return;
    }
    /* Reserve for the common case (nothing to escape) so that the runs copy without growing. */
    if (!openai_wb_reserve(b, s.len + 2))
        return;
    openai_wb_put(b, "\"", 1);
    while (i < s.len) {
        if (s.len - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (!word_needs_escape(w)) {
                i += 8;
                continue;
            }
        }
        /* Somewhere in the next eight bytes (or the short tail): go byte by byte. */
        for (size_t end = s.len - i >= 8 ? i + 8 : s.len; i < end; i++) {
            unsigned char c = p[i];
            char esc[6];

            if (c >= 0x20 && c != '"' && c != '\\')
                continue;
            openai_wb_put(b, s.ptr + run, i - run);
            run = i + 1;
            openai_wb_put(b, esc, escape_byte(c, esc));
        }
    }
    openai_wb_put(b, s.ptr + run, s.len - run);
    openai_wb_put(b, "\"", 1);
}

/*
 * Rare (a prompt assembled from pieces), so it reuses openai_wb_string() and takes the quotes out
 * again rather than splitting the hot function in two.
 */
void openai_wb_escaped(openai_wbuf_t *b, gantry_str_t s)
{
    size_t start = b->len;
    openai_wb_string(b, s);
    if (b->failed || b->len < start + 2)
        return;
    memmove(b->ptr + start, b->ptr + start + 1, b->len - start - 2);
    b->len -= 2;
}

/*
 * An integral number below 1e15 in magnitude comes out of "%1.15g" as its plain digits, so it is
 * written here without the printf and sscanf round trip.  -0 ("-0" in cJSON 1.7.15, "0" in later
 * versions) and everything else is left to the host.
 */
static bool write_integer(openai_wbuf_t *b, double d)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    uint64_t u;
    bool neg = d < 0;

    /* The range test comes first: it also keeps NaN out and makes the conversion defined. */
    if (!(d > -1e15 && d < 1e15) || (double)(int64_t)d != d || (d == 0 && signbit(d)))
        return false;
    u = neg ? (uint64_t)(-(int64_t)d) : (uint64_t)d;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (neg)
        tmp[--i] = '-';
    openai_wb_put(b, tmp + i, sizeof(tmp) - i);
    return true;
}

/* Let the host print one node (the values this writer does not reproduce itself). */
static int write_by_host(gantry_req_t *req, openai_wbuf_t *b, const gantry_json_t *node)
{
    gantry_str_t text;
    int rc = b->host->json_write(req, node, &text);

    if (rc != GANTRY_OK)
        return rc;
    openai_wb_put(b, text.ptr, text.len);
    return GANTRY_OK;
}

int openai_wb_value(gantry_req_t *req, openai_wbuf_t *b, const gantry_json_t *node)
{
    const gantry_host_t *host = b->host;
    const gantry_json_t *child;
    bool first = true;
    double d;
    bool v;
    int rc;

    switch (host->json_type(node)) {
    case GANTRY_JSON_NULL:
        openai_wb_put(b, "null", 4);
        break;
    case GANTRY_JSON_BOOL:
        if (host->json_bool(node, &v) != GANTRY_OK)
            return write_by_host(req, b, node);
        if (v)
            openai_wb_put(b, "true", 4);
        else
            openai_wb_put(b, "false", 5);
        break;
    case GANTRY_JSON_NUMBER:
        if (host->json_number(node, &d) != GANTRY_OK || !write_integer(b, d))
            return write_by_host(req, b, node);
        break;
    case GANTRY_JSON_STRING:
        openai_wb_string(b, host->json_string(node));
        break;
    case GANTRY_JSON_ARRAY:
        openai_wb_put(b, "[", 1);
        for (child = host->json_first(node); child != NULL; child = host->json_next(child)) {
            if (!first)
                openai_wb_put(b, ",", 1);
            first = false;
            if ((rc = openai_wb_value(req, b, child)) != GANTRY_OK)
                return rc;
        }
        openai_wb_put(b, "]", 1);
        break;
    case GANTRY_JSON_OBJECT:
        openai_wb_put(b, "{", 1);
        for (child = host->json_first(node); child != NULL; child = host->json_next(child)) {
            if (!first)
                openai_wb_put(b, ",", 1);
            first = false;
            openai_wb_string(b, host->json_key(child));
            openai_wb_put(b, ":", 1);
            if ((rc = openai_wb_value(req, b, child)) != GANTRY_OK)
                return rc;
        }
        openai_wb_put(b, "}", 1);
        break;
    default:
        /* A type the SDK does not name (cJSON's raw values): the host knows how to print it. */
        return write_by_host(req, b, node);
    }
    return b->failed ? GANTRY_ENOMEM : GANTRY_OK;
}
