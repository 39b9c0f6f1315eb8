/*
 * upstream: HTTP calls to providers through one libcurl multi handle per worker, driven by the
 * worker's libuv loop (curl's socket and timer callbacks mapped onto uv_poll/uv_timer). Connections
 * are reused per worker.  Timeouts: connect, whole call (non-streaming), first byte and idle
 * silence (streaming), so a long stream is never cut by a total timeout.
 */
#ifndef GANTRY_UPSTREAM_H
#define GANTRY_UPSTREAM_H

#include <curl/curl.h>
#include <gantry/host.h>
#include <uv.h>

#include "req.h"
#include "sse.h"

typedef struct up_multi up_multi_t;

/*
 * Every easy handle on a worker's multi handle carries one of these as CURLOPT_PRIVATE (first
 * member of its owner), so completions are dispatched without knowing the owner's type.
 */
typedef struct up_handle {
    void (*done)(struct up_handle *h, CURLcode cc);
} up_handle_t;

/* Add a foreign easy handle (e.g. a health probe) to the worker's multi handle. */
int up_multi_add(up_multi_t *m, CURL *easy, up_handle_t *h);
void up_multi_remove(up_multi_t *m, CURL *easy);

up_multi_t *up_multi_new(uv_loop_t *loop);
void up_multi_free(up_multi_t *m);

/* What a provider's prepare() fills (gantry_upstream_t for plugins). */
struct gantry_upstream {
    req_t *r;
    const char *method;
    char *url;
    struct curl_slist *headers;
    gantry_str_t body;
    gantry_framing_t framing;
};

void up_spec_init(struct gantry_upstream *s, req_t *r);
void up_spec_free(struct gantry_upstream *s);

typedef enum up_result {
    UP_OK = 0,    /* an HTTP answer came (any status) */
    UP_CONNECT,   /* could not connect / TLS / DNS */
    UP_TIMEOUT,   /* connect, whole-call, first-byte or idle timeout */
    UP_BROKEN,    /* the connection broke or the answer was malformed */
    UP_TOO_LARGE, /* the answer exceeded max_response_bytes */
    UP_ABORTED,   /* the gateway cancelled it */
} up_result_t;

/* Start the call described by `spec` (its headers are taken); sets r->xfer.  0 or -1. */
int up_start(req_t *r, struct gantry_upstream *spec, bool stream, int64_t timeout_ms,
             int64_t first_byte_ms);
/* Cancel: safe from anywhere, including inside the transfer's own callbacks (then deferred). */
void up_cancel(up_xfer_t *x);
/* Continue a transfer paused for backpressure. */
void up_unpause(up_xfer_t *x);
bool up_paused(const up_xfer_t *x);

#endif
