/*
 * jsonl logger: the log callback and the JSON line it writes.
 *
 * Only the request summary from host->req_info() is logged.  Prompts, completions and
 * credentials never reach this file: the summary does not carry them.
 */
#include "jsonl_int.h"

#include <stddef.h>
#include <string.h>
#include <time.h>

/* Output into a fixed buffer; an overflow is remembered and the line dropped whole. */
typedef struct jl_out {
    char *p;
    size_t len;
    size_t cap;
    bool overflow;
} jl_out_t;

static void put(jl_out_t *o, const char *s, size_t n)
{
    if (o->overflow || n > o->cap - o->len) {
        o->overflow = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

/* A string literal: its length is known at compile time. */
#define put_lit(o, s) put((o), "" s, sizeof(s) - 1)

/*
 * Length of the well-formed UTF-8 sequence at s[0] (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), or 0 when it is malformed or cut short.
 */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t len;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    }
    return len;
}

/*
 * Bytes copied as they are: printable ASCII (DEL included) except '"' and '\\'.  A table, because
 * put_str() asks once per byte.  Bytes from 0x80 on are 0 (UTF-8 is checked separately).
 */
static const unsigned char plain_ascii[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x70 */
};

/*
 * A JSON string: quotes, backslashes and control characters escaped, valid UTF-8 passed through,
 * malformed bytes replaced by U+FFFD (so the line stays valid JSON for strict parsers), and at
 * most `max` input bytes kept, cut on a character boundary and marked with "...".
 */
static void put_str(jl_out_t *o, gantry_str_t s, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t i = 0, n = s.len;

    put(o, "\"", 1);
    while (i < n && p != NULL) {
        unsigned char c;
        size_t len;

        /*
         * Copy a run of printable ASCII that needs no escaping in one piece.  It stops at `max`:
         * whatever byte comes next is then cut off below, as it would be one byte at a time.
         */
        size_t end = n < max ? n : max, j = i;
        while (j < end && plain_ascii[p[j]])
            j++;
        if (j > i) {
            put(o, (const char *)&p[i], j - i);
            i = j;
            continue;
        }
        c = p[i];
        if (c < 0x80) {
            if (i + 1 > max)
                goto truncated;
            switch (c) {
            case '"':
                put(o, "\\\"", 2);
                break;
            case '\\':
                put(o, "\\\\", 2);
                break;
            case '\n':
                put(o, "\\n", 2);
                break;
            case '\r':
                put(o, "\\r", 2);
                break;
            case '\t':
                put(o, "\\t", 2);
                break;
            default:
                if (c < 0x20) {
                    char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
                    put(o, esc, sizeof(esc));
                } else {
                    put(o, (const char *)&p[i], 1);
                }
            }
            i++;
            continue;
        }
        len = utf8_seq(p + i, n - i);
        if (i + (len != 0 ? len : 1) > max)
            goto truncated;
        if (len == 0) {
            put(o, "\\ufffd", 6);
            i++;
        } else {
            put(o, (const char *)&p[i], len);
            i += len;
        }
    }
    put(o, "\"", 1);
    return;

truncated:
    put(o, "...\"", 4);
}

/* A string field that is JSON null when empty (no deployment, no principal, ...). */
static void put_opt_str(jl_out_t *o, gantry_str_t s, size_t max)
{
    if (s.len == 0)
        put_lit(o, "null");
    else
        put_str(o, s, max);
}

/*
 * Integers are formatted by hand: snprintf costs about as much per number as the rest of the line
 * around it.  Digits of v into the end of tmp; returns where they start.
 */
static char *format_u64(char *end, uint64_t v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return end;
}

static void put_i64(jl_out_t *o, int64_t v)
{
    char tmp[24];
    /* The magnitude in unsigned arithmetic, so that INT64_MIN has one too. */
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    char *p = format_u64(tmp + sizeof(tmp), mag);

    if (v < 0)
        *--p = '-';
    put(o, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* A count that is null when unknown (-1). */
static void put_count(jl_out_t *o, int64_t v)
{
    if (v < 0)
        put_lit(o, "null");
    else
        put_i64(o, v);
}

/*
 * Microseconds as milliseconds with three decimals, null when negative (not measured).  Integer
 * arithmetic, not "%f": a locale that uses a decimal comma must not break the JSON.
 */
static void put_ms(jl_out_t *o, int64_t us)
{
    char tmp[32];
    char *end = tmp + sizeof(tmp), *p;
    int64_t frac;

    if (us < 0) {
        put_lit(o, "null");
        return;
    }
    frac = us % 1000;
    *--end = (char)('0' + frac % 10);
    *--end = (char)('0' + frac / 10 % 10);
    *--end = (char)('0' + frac / 100);
    *--end = '.';
    p = format_u64(end, (uint64_t)(us / 1000));
    put(o, p, (size_t)(tmp + sizeof(tmp) - p));
}

static void put_bool(jl_out_t *o, bool b)
{
    if (b)
        put_lit(o, "true");
    else
        put_lit(o, "false");
}

/* Two digits, zero-padded, of a value in 0..99. */
static char *put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

/*
 * The "\"YYYY-MM-DDTHH:MM:SS." part of the timestamps of one second into ts; false when gmtime_r
 * cannot express it.  The year is at least four digits ("%04d"); it is never negative here,
 * since times before 1970 are not formatted.
 */
static bool format_second(jl_ts_cache_t *ts, int64_t secs)
{
    time_t t = (time_t)secs;
    struct tm tm;
    char year[16], *y, *p = ts->text;

    if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900)
        return false;
    y = format_u64(year + sizeof(year), (uint64_t)(tm.tm_year + 1900));
    *p++ = '"';
    for (ptrdiff_t pad = 4 - (year + sizeof(year) - y); pad > 0; pad--)
        *p++ = '0';
    memcpy(p, y, (size_t)(year + sizeof(year) - y));
    p += year + sizeof(year) - y;
    *p++ = '-';
    p = put2(p, tm.tm_mon + 1);
    *p++ = '-';
    p = put2(p, tm.tm_mday);
    *p++ = 'T';
    p = put2(p, tm.tm_hour);
    *p++ = ':';
    p = put2(p, tm.tm_min);
    *p++ = ':';
    p = put2(p, tm.tm_sec);
    *p++ = '.';
    ts->len = (size_t)(p - ts->text);
    ts->sec = secs;
    ts->valid = true;
    return true;
}

/*
 * ISO 8601 UTC with milliseconds: "2025-01-31T12:34:56.789Z".  Lines of the same second share
 * everything up to the milliseconds, so that part comes from `cache` (when given) and gmtime_r
 * runs once per second rather than once per line.
 */
static void put_ts(jl_out_t *o, int64_t unix_ms, jl_ts_cache_t *cache)
{
    jl_ts_cache_t local;
    jl_ts_cache_t *ts = cache != NULL ? cache : &local;
    int64_t secs = unix_ms / 1000;
    int ms = (int)(unix_ms % 1000);
    char tail[5];

    if (unix_ms < 0) {
        put_lit(o, "null");
        return;
    }
    if (cache == NULL || !cache->valid || cache->sec != secs) {
        if (!format_second(ts, secs)) {
            put_lit(o, "null");
            return;
        }
    }
    put(o, ts->text, ts->len);
    tail[0] = (char)('0' + ms / 100);
    put2(tail + 1, ms % 100);
    tail[3] = 'Z';
    tail[4] = '"';
    put(o, tail, sizeof(tail));
}

size_t jl_build_line(const gantry_req_info_t *info, int64_t now_ms, char *buf, size_t cap)
{
    return jl_build_line_cached(info, now_ms, NULL, buf, cap);
}

size_t jl_build_line_cached(const gantry_req_info_t *info, int64_t now_ms, jl_ts_cache_t *ts,
                            char *buf, size_t cap)
{
    jl_out_t o = {buf, 0, cap, false};

    /* The arrival time: with latency_ms it also gives the end, and it orders lines by request. */
    put_lit(&o, "{\"ts\":");
    put_ts(&o, info->start_unix_ms > 0 ? info->start_unix_ms : now_ms, ts);
    put_lit(&o, ",\"request_id\":");
    put_str(&o, info->request_id, JL_FIELD_MAX);
    put_lit(&o, ",\"route\":");
    put_str(&o, info->route, JL_FIELD_MAX);
    put_lit(&o, ",\"model_group\":");
    put_str(&o, info->model_group, JL_FIELD_MAX);
    put_lit(&o, ",\"deployment\":");
    put_opt_str(&o, info->deployment_id, JL_FIELD_MAX);
    put_lit(&o, ",\"provider\":");
    put_opt_str(&o, info->provider, JL_FIELD_MAX);
    put_lit(&o, ",\"upstream_model\":");
    put_opt_str(&o, info->upstream_model, JL_FIELD_MAX);
    put_lit(&o, ",\"status\":");
    put_i64(&o, info->status);
    put_lit(&o, ",\"stream\":");
    put_bool(&o, info->stream);
    put_lit(&o, ",\"latency_ms\":");
    put_ms(&o, info->duration_us);
    put_lit(&o, ",\"ttft_ms\":");
    put_ms(&o, info->ttft_us);
    put_lit(&o, ",\"upstream_ms\":");
    put_ms(&o, info->upstream_us);
    put_lit(&o, ",\"overhead_ms\":");
    put_ms(&o, info->overhead_us);
    put_lit(&o, ",\"prompt_tokens\":");
    put_count(&o, info->prompt_tokens);
    put_lit(&o, ",\"completion_tokens\":");
    put_count(&o, info->completion_tokens);
    put_lit(&o, ",\"total_tokens\":");
    put_count(&o, info->total_tokens);
    put_lit(&o, ",\"cached_tokens\":");
    put_count(&o, info->cached_tokens);
    put_lit(&o, ",\"cache_hit\":");
    put_bool(&o, info->cache_hit);
    put_lit(&o, ",\"principal\":");
    put_opt_str(&o, info->principal, JL_FIELD_MAX);
    put_lit(&o, ",\"user\":");
    put_opt_str(&o, info->end_user, JL_FIELD_MAX);
    put_lit(&o, ",\"attempts\":");
    put_i64(&o, info->attempts);
    put_lit(&o, ",\"client_aborted\":");
    put_bool(&o, info->client_aborted);
    put_lit(&o, ",\"error_type\":");
    put_opt_str(&o, info->error_type, JL_FIELD_MAX);
    put_lit(&o, ",\"error\":");
    put_opt_str(&o, info->error_message, JL_ERROR_MAX);
    put_lit(&o, "}\n");
    return o.overflow ? 0 : o.len;
}

void jl_log(gantry_req_t *req, void *state, void *worker_state)
{
    jl_instance_t *jl = state;
    const gantry_host_t *host = jl->host;
    jl_slot_t *slot = worker_state != NULL ? worker_state : jl->shared;
    bool shared = worker_state == NULL;
    gantry_req_info_t info;
    int64_t now_ms;
    size_t n;
    bool kick = false;

    memset(&info, 0, sizeof(info));
    info.size = sizeof(info);
    info.ttft_us = info.upstream_us = info.overhead_us = -1;
    info.prompt_tokens = info.completion_tokens = info.total_tokens = info.cached_tokens = -1;
    host->req_info(req, &info);

    /* The clock is read only when the line needs it. */
    now_ms = info.start_unix_ms > 0 ? 0 : host->unix_ms();
    /*
     * A worker's own slot has a scratch buffer (and timestamp cache) only it uses, so the line is
     * built before taking the lock.  The shared slot's are shared too, so it is built under the
     * lock.
     */
    if (shared)
        pthread_mutex_lock(&slot->lock);
    n = jl_build_line_cached(&info, now_ms, &slot->ts, slot->scratch, JL_LINE_MAX);
    if (!shared)
        pthread_mutex_lock(&slot->lock);
    if (n == 0 || n > jl->buf_size - slot->len) {
        slot->dropped++;
    } else {
        memcpy(slot->buf + slot->len, slot->scratch, n);
        slot->len += n;
        if (slot->len >= jl->buf_size / 2 && !slot->kicked)
            kick = slot->kicked = true;
    }
    pthread_mutex_unlock(&slot->lock);
    if (kick)
        jl_kick(jl);
}
