/*
 * respond: getting bytes to the client through h2o.  Streams use a double buffer: one buffer is
 * being sent by h2o (which allows a single outstanding h2o_send), the other collects new chunks;
 * the upstream is paused when the collecting buffer passes HIGH_WATER, so a slow client never makes
 * memory grow without bound.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "guard.h"
#include "log.h"
#include "pipe.h"
#include "srv.h"
#include "upstream.h"

#define HIGH_WATER (256u << 10)

static void add_header(req_t *r, const char *name, size_t nlen, const char *val, size_t vlen)
{
    h2o_req_t *h = r->h;
    const h2o_token_t *tok = h2o_lookup_token(name, nlen);
    if (tok != NULL)
        h2o_add_header(&h->pool, &h->res.headers, tok, NULL, val, vlen);
    else
        h2o_add_header_by_str(&h->pool, &h->res.headers, name, nlen, 0, NULL, val, vlen);
}

void resp_add_common_headers(req_t *r)
{
    h2o_req_t *h = r->h;
    add_header(r, H2O_STRLIT("x-request-id"), r->id, r->id_len);
    if (r->dep != NULL) {
        const char *id = r->dep->cfg->id;
        add_header(r, H2O_STRLIT("x-gantry-model-id"), id, strlen(id));
    }
    if (r->attempts > 0) {
        char *a = h2o_mem_alloc_pool(&h->pool, 16);
        int n = snprintf(a, 16, "%d", r->attempts);
        add_header(r, H2O_STRLIT("x-gantry-attempts"), a, (size_t)n);
    }
    /* What Gantry itself cost so far: wall time minus time spent waiting for upstreams. */
    int64_t spent = now_us() - r->t_start - r->t_up_total;
    if (r->xfer != NULL)
        spent -= now_us() - r->t_up_start;
    if (spent < 0)
        spent = 0;
    char *ov = h2o_mem_alloc_pool(&h->pool, 32);
    int n = snprintf(ov, 32, "%.3f", (double)spent / 1000.0);
    add_header(r, H2O_STRLIT("x-gantry-overhead-duration-ms"), ov, (size_t)n);
    if (r->guardrails_len > 0)
        add_header(r, H2O_STRLIT("x-gantry-applied-guardrails"), r->guardrails, r->guardrails_len);
    /* The key on misses too: it is what /cache/delete takes. */
    if (r->cache_hit)
        add_header(r, H2O_STRLIT("x-gantry-cache-hit"), H2O_STRLIT("true"));
    if (r->cacheable && r->cache_key[0] != '\0')
        add_header(r, H2O_STRLIT("x-gantry-cache-key"), r->cache_key, strlen(r->cache_key));
    for (req_hdr_t *hd = r->hdrs; hd != NULL; hd = hd->next)
        add_header(r, hd->name, hd->name_len, hd->value.ptr, hd->value.len);
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 429:
        return "Too Many Requests";
    case 499:
        return "Client Closed Request";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

static void on_proceed(h2o_generator_t *g, h2o_req_t *h);

static void on_stop(h2o_generator_t *g, h2o_req_t *h)
{
    /* The connection died mid-response; the dispose hook in req.c does the cleanup. */
    (void)g;
    (void)h;
}

static void start(req_t *r, int status, const char *content_type, size_t content_length)
{
    h2o_req_t *h = r->h;
    /* h2o chooses chunked or fixed-length encoding inside h2o_start_response(). */
    h->res.content_length = content_length;
    srv_unwatch(r);
    r->status = status;
    h->res.status = status;
    h->res.reason = reason(status);
    h2o_add_header(&h->pool, &h->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                   strlen(content_type));
    resp_add_common_headers(r);
    r->generator.proceed = on_proceed;
    r->generator.stop = on_stop;
    r->started = true;
    h2o_start_response(h, &r->generator);
}

/* Send what has been collected.  Must be the last thing the caller does with `r` when final. */
static void flush(req_t *r, bool final)
{
    buf_t tmp = r->out_send;
    r->out_send = r->out_fill;
    r->out_fill = tmp;
    buf_reset(&r->out_fill);
    h2o_iovec_t v = h2o_iovec_init(r->out_send.ptr, r->out_send.len);
    r->sending = true;
    if (final)
        r->final_sent = true;
    h2o_send(r->h, &v, v.len ? 1 : 0, final ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void on_proceed(h2o_generator_t *g, h2o_req_t *h)
{
    req_t *r = H2O_STRUCT_FROM_MEMBER(req_t, generator, g);
    (void)h;
    r->sending = false;
    if (r->final_sent)
        return;
    req_hold(r);
    if (r->out_fill.len > 0 || r->stream_done) {
        flush(r, r->stream_done);
    } else if (up_paused(r->xfer)) {
        up_unpause(r->xfer);
    }
    req_release(r);
}

bool pipe_output_full(req_t *r)
{
    /* Held chunks (a verdict outstanding) count too, so a held stream pauses its upstream. */
    return (r->sending || guard_holding(r) > 0) && r->out_fill.len >= HIGH_WATER;
}

void resp_stream_release(req_t *r)
{
    if (r->h == NULL || r->final_sent || r->out_fill.len == 0)
        return;
    if (!r->started)
        start(r, 200, r->api->stream_content_type, SIZE_MAX);
    if (!r->sending)
        flush(r, false);
}

void resp_stream_push(req_t *r, const char *bytes, size_t len, bool final)
{
    if (r->h == NULL || r->final_sent)
        return;
    if (!final && guard_holding(r) > 0) {
        /* Nothing reaches the client before the verdict: collect (bounded by pipe_output_full). */
        if (len > 0 && buf_append(&r->out_fill, bytes, len) != 0)
            log_msg(LOG_ERROR, r->id, "out of memory holding the stream");
        return;
    }
    if (!r->started)
        start(r, 200, r->api->stream_content_type, SIZE_MAX);
    if (len > 0 && buf_append(&r->out_fill, bytes, len) != 0) {
        log_msg(LOG_ERROR, r->id, "out of memory buffering the stream");
        final = true;
    }
    if (final)
        r->stream_done = true;
    if (!r->sending)
        flush(r, final);
}

void resp_send_body(req_t *r, int status, const char *content_type, const char *body, size_t len)
{
    if (r->h == NULL || r->started)
        return;
    if (r->t_end == 0)
        r->t_end = now_us();
    /* Copy before the headers go out: a Content-Length that the body cannot honour would leave the
     * client waiting on a broken connection.  Without memory, answer an empty 500 instead. */
    buf_reset(&r->out_fill);
    if (buf_append(&r->out_fill, body, len) != 0) {
        log_msg(LOG_ERROR, r->id, "out of memory sending a response");
        buf_reset(&r->out_fill);
        status = 500;
        len = 0;
    }
    start(r, status, content_type, len);
    r->stream_done = true;
    flush(r, true);
}

void resp_send_error(req_t *r)
{
    if (r->h == NULL || r->final_sent)
        return;
    buf_t b = {0};
    /* The client gets its answer now: whatever the upstream still sends would be paid for and
     * thrown away (safe inside the transfer's own callbacks: the cancel is then deferred). */
    if (r->xfer != NULL)
        up_cancel(r->xfer);
    if (r->started) {
        r->api->stream_error(r, &r->err, &b);
        r->status = r->err.status; /* for the log: the stream ended in an error */
        resp_stream_push(r, b.ptr, b.len, true);
    } else {
        int status = r->err.status;
        if (r->api->error_headers != NULL)
            r->api->error_headers(r, &r->err, &status);
        r->api->error_body(r, &r->err, &b);
        if (r->err.retry_after_ms >= 0 && r->err.status == 429) {
            char v[32];
            int n =
                snprintf(v, sizeof v, "%lld", (long long)((r->err.retry_after_ms + 999) / 1000));
            req_add_header(r, "retry-after", v, (size_t)n);
        }
        resp_send_body(r, status, "application/json", b.ptr, b.len);
    }
    buf_free(&b);
}
