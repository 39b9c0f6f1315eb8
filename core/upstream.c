#include "upstream.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "evs.h"
#include "log.h"
#include "pipe.h"
#include "srv.h"

/* Easy handles are kept for reuse: curl_easy_reset() is much cheaper than a new handle. */
#define EASY_POOL 64

struct up_multi {
    CURLM *multi;
    uv_loop_t *loop;
    uv_timer_t timer;
    CURL *pool[EASY_POOL];
    int npool;
};

typedef struct poll_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    up_multi_t *m;
} poll_ctx_t;

struct up_xfer {
    up_handle_t handle; /* first: CURLOPT_PRIVATE points here */
    CURL *easy;
    up_multi_t *m;
    req_t *r;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    long status;
    bool stream;
    bool in_cb;
    bool aborted;
    bool paused;
    bool got_byte;
    bool timed_out;
    bool too_large;
    bool frame_error;
    const char *frame_why; /* what was wrong with the framing, for the client's error message */
    gantry_framing_t framing;
    sse_t sse;
    evs_dec_t evs; /* event-stream decoder */
    buf_t lines;   /* NDJSON line buffer */
    buf_t body;  /* whole body (non-streaming) or error body */
    int64_t retry_after_ms;
    uv_timer_t *deadline; /* streaming: first-byte deadline, then the idle bound between chunks */
    int64_t idle_ms;
};

static void check_done(up_multi_t *m);

static void poll_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    poll_ctx_t *c = p->data;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(c->m->multi, c->fd, flags, &running);
    check_done(c->m);
}

static int on_socket(CURL *easy, curl_socket_t s, int action, void *userp, void *socketp)
{
    up_multi_t *m = userp;
    poll_ctx_t *c = socketp;
    (void)easy;
    if (action == CURL_POLL_REMOVE) {
        if (c != NULL) {
            uv_poll_stop(&c->poll);
            curl_multi_assign(m->multi, s, NULL);
            uv_close((uv_handle_t *)&c->poll, poll_closed);
        }
        return 0;
    }
    if (c == NULL) {
        c = calloc(1, sizeof *c);
        if (c == NULL)
            return -1;
        c->fd = s;
        c->m = m;
        if (uv_poll_init_socket(m->loop, &c->poll, s) != 0) {
            free(c);
            return -1;
        }
        c->poll.data = c;
        curl_multi_assign(m->multi, s, c);
    }
    int ev = 0;
    if (action & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (action & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&c->poll, ev, on_poll);
    return 0;
}

static void on_uv_timeout(uv_timer_t *t)
{
    up_multi_t *m = t->data;
    int running;
    curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(m);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    up_multi_t *m = userp;
    (void)multi;
    /* Never drive curl from inside this callback: schedule it (0 ms = next loop iteration). */
    if (timeout_ms < 0)
        uv_timer_stop(&m->timer);
    else
        uv_timer_start(&m->timer, on_uv_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

up_multi_t *up_multi_new(uv_loop_t *loop)
{
    up_multi_t *m = calloc(1, sizeof *m);
    m->multi = curl_multi_init();
    m->loop = loop;
    uv_timer_init(loop, &m->timer);
    m->timer.data = m;
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
    curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, 256L);
    return m;
}

static void timer_handle_closed(uv_handle_t *h)
{
    free(h->data);
}

void up_multi_free(up_multi_t *m)
{
    if (m == NULL)
        return;
    while (m->npool > 0)
        curl_easy_cleanup(m->pool[--m->npool]);
    curl_multi_cleanup(m->multi); /* closes connections; socket callbacks close the polls */
    uv_timer_stop(&m->timer);
    m->timer.data = m;
    uv_close((uv_handle_t *)&m->timer, timer_handle_closed);
}

void up_spec_init(struct gantry_upstream *s, req_t *r)
{
    memset(s, 0, sizeof *s);
    s->r = r;
    s->method = "POST";
    s->framing = GANTRY_FRAMING_SSE;
}

void up_spec_free(struct gantry_upstream *s)
{
    free(s->url);
    curl_slist_free_all(s->headers);
    s->url = NULL;
    s->headers = NULL;
}

static void deadline_closed(uv_handle_t *h)
{
    free(h);
}

static void stop_deadline(up_xfer_t *x)
{
    if (x->deadline != NULL) {
        uv_timer_stop(x->deadline);
        uv_close((uv_handle_t *)x->deadline, deadline_closed);
        x->deadline = NULL;
    }
}

static void on_deadline(uv_timer_t *t);

static void xfer_free(up_xfer_t *x)
{
    stop_deadline(x);
    curl_multi_remove_handle(x->m->multi, x->easy);
    up_multi_t *m = x->m;
    if (m->npool < EASY_POOL) {
        curl_easy_reset(x->easy);
        m->pool[m->npool++] = x->easy;
    } else {
        curl_easy_cleanup(x->easy);
    }
    curl_slist_free_all(x->headers);
    sse_free(&x->sse);
    evs_dec_free(&x->evs);
    buf_free(&x->lines);
    buf_free(&x->body);
    free(x);
}

static int on_sse_event(void *arg, const char *ev, size_t evlen, const char *data, size_t dlen)
{
    up_xfer_t *x = arg;
    gantry_frame_t f = {.size = sizeof f};
    f.event = (gantry_str_t){ev, evlen};
    f.data = (gantry_str_t){data, dlen};
    return pipe_upstream_frame(x->r, &f);
}

static int on_evs_message(void *arg, const evs_msg_t *m)
{
    up_xfer_t *x = arg;
    gantry_frame_t f;
    evs_to_frame(m, &f);
    return pipe_upstream_frame(x->r, &f);
}

static int feed_ndjson(up_xfer_t *x, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (buf_append(&x->lines, p, take) != 0)
            return SSE_TOO_LARGE;
        if (nl == NULL)
            return 0;
        size_t len = x->lines.len;
        if (len > 0 && x->lines.ptr[len - 1] == '\r')
            len--;
        if (len > 0) {
            gantry_frame_t f = {.size = sizeof f};
            f.data = (gantry_str_t){x->lines.ptr, len};
            int rc = pipe_upstream_frame(x->r, &f);
            if (rc != 0)
                return rc;
        }
        buf_reset(&x->lines);
        p += take + 1;
        n -= take + 1;
    }
    return 0;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    up_xfer_t *x = ud;
    size_t len = size * nmemb;
    if (x->aborted)
        return 0;
    if (x->status == 0)
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    x->got_byte = true;
    /* Every arrival restarts the idle clock (a uv timer restart is a heap update, no syscall). */
    if (x->deadline != NULL)
        uv_timer_start(x->deadline, on_deadline, (uint64_t)x->idle_ms, 0);
    if (!x->stream || x->status < 200 || x->status >= 300) {
        if (buf_append(&x->body, p, len) != 0) {
            x->too_large = true;
            return 0;
        }
        return len;
    }
    if (pipe_output_full(x->r)) {
        /* curl delivers these same bytes again after unpausing, so nothing is consumed now. */
        x->paused = true;
        if (x->deadline != NULL) /* a slow client is not a silent upstream */
            uv_timer_stop(x->deadline);
        return CURL_WRITEFUNC_PAUSE;
    }
    req_t *r = x->r;
    req_hold(r);
    x->in_cb = true;
    int rc;
    if (x->framing == GANTRY_FRAMING_NDJSON)
        rc = feed_ndjson(x, p, len);
    else if (x->framing == GANTRY_FRAMING_SSE)
        rc = sse_feed(&x->sse, p, len, on_sse_event, x);
    else if (x->framing == GANTRY_FRAMING_EVENTSTREAM)
        rc = evs_dec_feed(&x->evs, p, len, on_evs_message, x);
    else
        rc = -1;
    x->in_cb = false;
    bool stop = x->aborted || rc != 0;
    if (rc != 0) {
        x->frame_error = true;
        /* A provider that failed has said why (r->failed); decoder codes share values with it. */
        if (!r->failed && x->framing == GANTRY_FRAMING_EVENTSTREAM)
            x->frame_why = rc == EVS_E_CRC         ? "event-stream frame with a bad CRC"
                           : rc == EVS_E_TOO_LARGE ? "event-stream message over 16 MiB"
                           : rc == EVS_E_MALFORMED ? "malformed event-stream frame"
                                                   : NULL;
        else if (!r->failed && rc == SSE_TOO_LARGE)
            x->frame_why = "an upstream stream event over 8 MiB";
    }
    req_release(r);
    return stop ? 0 : len;
}

/* Upstream-controlled: converting an out-of-range double to int64_t is undefined, so clamp first
 * (a day is already far beyond any back-off cap; NaN and negatives mean "no hint"). */
static int64_t retry_ms(double ms)
{
    if (!(ms >= 0))
        return -1;
    return ms > 86400000.0 ? 86400000 : (int64_t)ms;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    up_xfer_t *x = ud;
    size_t len = size * nmemb;
    if (len > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
        x->retry_after_ms = retry_ms(strtod(p + 12, NULL) * 1000);
    } else if (len > 15 && strncasecmp(p, "retry-after-ms:", 15) == 0) {
        x->retry_after_ms = retry_ms(strtod(p + 15, NULL));
    }
    return len;
}

static void finish(up_xfer_t *x, CURLcode cc)
{
    req_t *r = x->r;
    up_result_t res = UP_OK;
    if (x->aborted) {
        res = UP_ABORTED;
    } else if (x->timed_out || cc == CURLE_OPERATION_TIMEDOUT) {
        res = UP_TIMEOUT;
    } else if (x->too_large) {
        res = UP_TOO_LARGE;
    } else if (x->frame_error) {
        res = UP_BROKEN;
    } else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
               cc == CURLE_COULDNT_RESOLVE_PROXY || cc == CURLE_SSL_CONNECT_ERROR ||
               cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE) {
        res = UP_CONNECT;
    } else if (cc != CURLE_OK) {
        res = UP_BROKEN;
    }
    if (x->status == 0)
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    if (res == UP_OK && x->stream && x->status >= 200 && x->status < 300) {
        req_hold(r);
        x->in_cb = true;
        if (x->framing == GANTRY_FRAMING_SSE)
            sse_finish(&x->sse, on_sse_event, x);
        else if (x->framing == GANTRY_FRAMING_EVENTSTREAM && evs_dec_finish(&x->evs) != 0) {
            res = UP_BROKEN;
            x->frame_why = "the event stream ended inside a message";
        }
        x->in_cb = false;
        req_release(r);
    }
    /* Clients get curl's generic wording; the detail (addresses, ports) stays in the gateway log.
     */
    char err[CURL_ERROR_SIZE + 64];
    snprintf(err, sizeof err, "%s", x->frame_why ? x->frame_why : curl_easy_strerror(cc));
    if (res != UP_OK && res != UP_ABORTED && x->errbuf[0])
        log_msg(LOG_WARN, r->id, "upstream %s failed: %s", r->dep ? r->dep->cfg->id : "?",
                x->errbuf);
    long status = x->status;
    int64_t retry = x->retry_after_ms;
    buf_t body = x->body;
    memset(&x->body, 0, sizeof x->body);
    r->xfer = NULL;
    xfer_free(x);
    r->t_up_total += now_us() - r->t_up_start;
    pipe_upstream_done(r, res, (int)status, body.ptr, body.len, err, retry);
    buf_free(&body);
}

static void check_done(up_multi_t *m)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        up_handle_t *h;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&h);
        h->done(h, msg->data.result);
    }
}

static void xfer_done(up_handle_t *h, CURLcode cc)
{
    up_xfer_t *x = (up_xfer_t *)h;
    req_t *r = x->r;
    req_hold(r);
    finish(x, cc);
    req_release(r);
}

int up_multi_add(up_multi_t *m, CURL *easy, up_handle_t *h)
{
    curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)h);
    return curl_multi_add_handle(m->multi, easy) == CURLM_OK ? 0 : -1;
}

void up_multi_remove(up_multi_t *m, CURL *easy)
{
    curl_multi_remove_handle(m->multi, easy);
}

static void on_deadline(uv_timer_t *t)
{
    up_xfer_t *x = t->data;
    x->timed_out = true;
    stop_deadline(x);
    req_t *r = x->r;
    req_hold(r);
    finish(x, CURLE_OPERATION_TIMEDOUT);
    req_release(r);
}

int up_start(req_t *r, struct gantry_upstream *spec, bool stream, int64_t timeout_ms,
             int64_t first_byte_ms)
{
    up_xfer_t *x = calloc(1, sizeof *x);
    if (x == NULL)
        return -1;
    /* Allocated before anything else is taken, so a failure has nothing else to give back. */
    x->deadline = malloc(sizeof *x->deadline);
    struct curl_slist *hl = x->deadline ? curl_slist_append(spec->headers, "Expect:") : NULL;
    if (hl == NULL) {
        /* spec->headers is untouched on failure; the caller's up_spec_free() frees it. */
        free(x->deadline);
        free(x);
        return -1;
    }
    spec->headers = NULL;
    x->headers = hl;
    up_multi_t *m = r->w->up;
    CURL *e = m->npool > 0 ? m->pool[--m->npool] : curl_easy_init();
    if (e == NULL) {
        curl_slist_free_all(x->headers);
        free(x->deadline);
        free(x);
        return -1;
    }
    const cfg_server_t *sc = &srv.cfg->server;
    x->handle.done = xfer_done;
    x->easy = e;
    x->m = r->w->up;
    x->r = r;
    x->stream = stream;
    x->framing = spec->framing;
    x->retry_after_ms = -1;
    x->body.limit = stream ? 1 << 20 : (size_t)sc->max_response_bytes;
    sse_init(&x->sse, 8u << 20);
    evs_dec_init(&x->evs, 16u << 20); /* AWS caps event-stream messages at 16 MiB */
    x->lines.limit = 8u << 20;
    /* An empty Expect: (appended above) stops curl from waiting for 100-continue on large bodies.
     */
    curl_easy_setopt(e, CURLOPT_URL, spec->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)sc->connect_timeout_ms);
    if (strcmp(spec->method, "POST") == 0) {
        /* The body lives in the request arena, and the transfer always ends before the request. */
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)spec->body.len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, spec->body.ptr ? spec->body.ptr : "");
    } else if (strcmp(spec->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, spec->method);
        if (spec->body.len) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)spec->body.len);
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, spec->body.ptr);
        }
    }
    /* Streams have no total timeout: a first-byte deadline, then an idle bound between chunks.  A
     * non-streamed answer has its whole-call timeout, and the same idle bound once bytes flow (a
     * body that stops half-way is not waited for until the end of the call).  curl's low-speed
     * check averages over several seconds, so it is not an idle timer. */
    if (!stream && timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    x->idle_ms = sc->idle_timeout_ms > 0 ? sc->idle_timeout_ms : 300000;
    uv_timer_init(&r->w->loop, x->deadline);
    x->deadline->data = x;
    if (stream)
        uv_timer_start(x->deadline, on_deadline,
                       (uint64_t)(first_byte_ms > 0 ? first_byte_ms : x->idle_ms), 0);
    r->xfer = x;
    r->t_up_start = now_us();
    if (curl_multi_add_handle(x->m->multi, e) != CURLM_OK) {
        r->xfer = NULL;
        xfer_free(x);
        return -1;
    }
    return 0;
}

void up_cancel(up_xfer_t *x)
{
    if (x == NULL || x->aborted)
        return;
    x->aborted = true;
    if (x->in_cb)
        return; /* on_write returns 0 and the transfer ends through check_done() */
    req_t *r = x->r;
    r->xfer = NULL;
    r->t_up_total += now_us() - r->t_up_start;
    xfer_free(x);
}

void up_unpause(up_xfer_t *x)
{
    if (x == NULL || !x->paused || x->aborted)
        return;
    x->paused = false;
    if (x->deadline != NULL)
        uv_timer_start(x->deadline, on_deadline, (uint64_t)x->idle_ms, 0);
    /* This may call on_write synchronously, so the state above is updated first. */
    curl_easy_pause(x->easy, CURLPAUSE_CONT);
}

bool up_paused(const up_xfer_t *x)
{
    return x != NULL && x->paused;
}
