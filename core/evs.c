/*
 * evs: AWS event-stream framing (see evs.h).  The decoder keeps at most one message's bytes: it
 * first collects the 12-byte prelude, checks its CRC and the declared length against max_msg, and
 * only then collects the rest, so a hostile length can neither allocate much nor make it wait for
 * gigabytes that never come.
 */
#include "evs.h"

#include <gantry/plugin.h>
#include <pthread.h>
#include <string.h>

#define PRELUDE 12
#define MIN_MSG 16 /* prelude + message CRC */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t evs_crc32(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *b = p;
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ b[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

static uint32_t get32(const char *p)
{
    const uint8_t *b = (const uint8_t *)p;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void put32(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}

void evs_dec_init(evs_dec_t *d, size_t max_msg)
{
    memset(d, 0, sizeof *d);
    d->max_msg = max_msg;
    d->buf.limit = max_msg;
}

void evs_dec_free(evs_dec_t *d)
{
    buf_free(&d->buf);
}

/* Fixed size of a header value of type t, or -1 for variable-length (6, 7) and unknown types. */
static int fixed_size(uint8_t t)
{
    switch (t) {
    case 0:
    case 1:
        return 0;
    case 2:
        return 1;
    case 3:
        return 2;
    case 4:
        return 4;
    case 5:
    case 8:
        return 8;
    case 9:
        return 16;
    default:
        return -1;
    }
}

static int parse_headers(const char *p, size_t n, evs_msg_t *m)
{
    size_t i = 0;
    m->nheaders = 0;
    while (i < n) {
        size_t nl = (uint8_t)p[i++];
        if (nl == 0 || i + nl + 1 > n)
            return EVS_E_MALFORMED;
        evs_header_t h = {.name = p + i, .name_len = nl};
        i += nl;
        h.type = (uint8_t)p[i++];
        int fs = fixed_size(h.type);
        if (h.type == 6 || h.type == 7) {
            if (i + 2 > n)
                return EVS_E_MALFORMED;
            size_t vl = (size_t)((uint8_t)p[i] << 8 | (uint8_t)p[i + 1]);
            i += 2;
            if (i + vl > n)
                return EVS_E_MALFORMED;
            h.value = p + i;
            h.value_len = vl;
            i += vl;
        } else if (fs >= 0) {
            if (i + (size_t)fs > n)
                return EVS_E_MALFORMED;
            h.value = p + i;
            h.value_len = (size_t)fs;
            i += (size_t)fs;
        } else {
            return EVS_E_MALFORMED;
        }
        if (m->nheaders == EVS_MAX_HEADERS)
            return EVS_E_MALFORMED;
        m->headers[m->nheaders++] = h;
    }
    return 0;
}

/* A complete message is in p[0..total): check it and hand it over. */
static int dispatch(const char *p, size_t total, evs_cb cb, void *arg)
{
    uint32_t hlen = get32(p + 4);
    if (get32(p + total - 4) != evs_crc32(0, p, total - 4))
        return EVS_E_CRC;
    evs_msg_t m;
    int rc = parse_headers(p + PRELUDE, hlen, &m);
    if (rc != 0)
        return rc;
    m.payload = p + PRELUDE + hlen;
    m.payload_len = total - PRELUDE - hlen - 4;
    return cb(arg, &m);
}

/* Check a prelude; the message's total length, or a negative error. */
static int64_t check_prelude(const evs_dec_t *d, const char *p)
{
    uint32_t total = get32(p), hlen = get32(p + 4);
    if (get32(p + 8) != evs_crc32(0, p, 8))
        return EVS_E_CRC;
    if (total < MIN_MSG || (uint64_t)hlen + MIN_MSG > total)
        return EVS_E_MALFORMED;
    if (total > d->max_msg)
        return EVS_E_TOO_LARGE;
    return total;
}

int evs_dec_feed(evs_dec_t *d, const char *p, size_t n, evs_cb cb, void *arg)
{
    while (n > 0) {
        /* Fast path: a whole message in the input with nothing buffered is used in place. */
        if (d->buf.len == 0 && n >= PRELUDE) {
            int64_t total = check_prelude(d, p);
            if (total < 0)
                return (int)total;
            if ((size_t)total <= n) {
                int rc = dispatch(p, (size_t)total, cb, arg);
                if (rc != 0)
                    return rc;
                p += total;
                n -= (size_t)total;
                continue;
            }
        }
        size_t want = PRELUDE;
        if (d->buf.len >= PRELUDE) {
            want = get32(d->buf.ptr);
        } else if (d->buf.len + n >= PRELUDE) {
            /* Complete the prelude first and validate it before taking any more. */
            size_t take = PRELUDE - d->buf.len;
            if (buf_append(&d->buf, p, take) != 0)
                return EVS_E_TOO_LARGE;
            p += take;
            n -= take;
            int64_t total = check_prelude(d, d->buf.ptr);
            if (total < 0)
                return (int)total;
            want = (size_t)total;
        }
        size_t take = want - d->buf.len < n ? want - d->buf.len : n;
        if (buf_append(&d->buf, p, take) != 0)
            return EVS_E_TOO_LARGE;
        p += take;
        n -= take;
        if (d->buf.len >= PRELUDE && d->buf.len == get32(d->buf.ptr)) {
            int rc = dispatch(d->buf.ptr, d->buf.len, cb, arg);
            buf_reset(&d->buf);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

int evs_dec_finish(evs_dec_t *d)
{
    return d->buf.len == 0 ? 0 : EVS_E_TRUNCATED;
}

evs_str_t evs_header_str(const evs_msg_t *m, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < m->nheaders; i++) {
        const evs_header_t *h = &m->headers[i];
        if (h->type == 7 && h->name_len == nl && memcmp(h->name, name, nl) == 0)
            return (evs_str_t){h->value, h->value_len};
    }
    return (evs_str_t){NULL, 0};
}

int evs_encode(buf_t *out, const evs_kv_t *headers, size_t nheaders, const void *payload,
               size_t payload_len)
{
    size_t hlen = 0;
    for (size_t i = 0; i < nheaders; i++) {
        size_t nl = strlen(headers[i].name);
        if (nl == 0 || nl > 255 || headers[i].value_len > 65535)
            return -1;
        hlen += 1 + nl + 1 + 2 + headers[i].value_len;
    }
    size_t total = PRELUDE + hlen + payload_len + 4;
    if (total > UINT32_MAX)
        return -1;
    size_t start = out->len;
    char pre[PRELUDE];
    put32(pre, (uint32_t)total);
    put32(pre + 4, (uint32_t)hlen);
    put32(pre + 8, evs_crc32(0, pre, 8));
    if (buf_append(out, pre, PRELUDE) != 0)
        goto fail;
    for (size_t i = 0; i < nheaders; i++) {
        size_t nl = strlen(headers[i].name);
        char h[4];
        h[0] = (char)nl;
        if (buf_append(out, h, 1) != 0 || buf_append(out, headers[i].name, nl) != 0)
            goto fail;
        h[0] = 7;
        h[1] = (char)(headers[i].value_len >> 8);
        h[2] = (char)headers[i].value_len;
        if (buf_append(out, h, 3) != 0 ||
            buf_append(out, headers[i].value, headers[i].value_len) != 0)
            goto fail;
    }
    if (payload_len > 0 && buf_append(out, payload, payload_len) != 0)
        goto fail;
    char crc[4];
    put32(crc, evs_crc32(0, out->ptr + start, total - 4));
    if (buf_append(out, crc, 4) != 0)
        goto fail;
    return 0;
fail:
    out->len = start;
    return -1;
}

void evs_to_frame(const evs_msg_t *m, gantry_frame_t *f)
{
    evs_str_t mt = evs_header_str(m, ":message-type");
    evs_str_t ev = evs_header_str(m, ":event-type");
    if (mt.len == 9 && memcmp(mt.ptr, "exception", 9) == 0)
        ev = evs_header_str(m, ":exception-type");
    else if (mt.len == 5 && memcmp(mt.ptr, "error", 5) == 0)
        ev = evs_header_str(m, ":error-code");
    *f = (gantry_frame_t){.size = sizeof *f};
    f->event = (gantry_str_t){ev.ptr, ev.len};
    f->message_type = (gantry_str_t){mt.ptr, mt.len};
    f->data = (gantry_str_t){m->payload, m->payload_len};
}
