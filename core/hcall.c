/*
 * hcall: side HTTP calls made by plugins (host->http_call, ABI 1.1) - credential endpoints, prompt
 * templates, guardrail services.  They run on the request's worker through the same curl multi
 * handle as upstream calls, count as pending work of the request (so it is not freed under them),
 * and are cancelled when the request finishes or its client goes away: their callback then never
 * runs, so a plugin never sees a request that no longer exists.
 */
#include "hcall.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "srv.h"
#include "upstream.h"

#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_MAX_BYTES (8u << 20)

struct hcall {
    up_handle_t handle; /* first: CURLOPT_PRIVATE points here */
    CURL *easy;
    req_t *r;
    struct hcall *prev, *next;
    struct curl_slist *headers;
    char *url;
    char *body; /* the request body, which curl reads during the transfer */
    buf_t resp;
    gantry_http_cb cb;
    void *arg;
    bool too_large;
    bool added;        /* on the multi handle (else waiting for `defer`) */
    uv_timer_t *defer; /* adds the transfer from the loop when curl refused it in a callback */
    char errbuf[CURL_ERROR_SIZE];
};

static void unlink_call(hcall_t *c)
{
    req_t *r = c->r;
    if (c->prev)
        c->prev->next = c->next;
    else
        r->hcalls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    r->pending--;
}

static void timer_closed(uv_handle_t *h)
{
    free(h);
}

static void free_call(hcall_t *c)
{
    if (c->defer != NULL) {
        uv_timer_stop(c->defer);
        uv_close((uv_handle_t *)c->defer, timer_closed);
    }
    if (c->added)
        up_multi_remove(c->r->w->up, c->easy);
    curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->headers);
    free(c->url);
    free(c->body);
    buf_free(&c->resp);
    free(c);
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    hcall_t *c = ud;
    size_t n = size * nmemb;
    if (buf_append(&c->resp, p, n) != 0) {
        c->too_large = true;
        return 0;
    }
    return n;
}

static void call_done(up_handle_t *h, CURLcode cc)
{
    hcall_t *c = (hcall_t *)h;
    req_t *r = c->r;
    unlink_call(c);
    long status = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    gantry_http_result_t res = {.size = sizeof res};
    const char *why = NULL;
    if (c->too_large)
        why = "the response exceeded its size limit";
    else if (cc != CURLE_OK)
        why = curl_easy_strerror(cc);
    if (why == NULL && !c->added)
        why = "the call could not be started";
    if (why != NULL) {
        if (c->errbuf[0])
            log_msg(LOG_DEBUG, r->id, "side call to %s failed: %s", c->url, c->errbuf);
        res.error = (gantry_str_t){why, strlen(why)};
    } else {
        res.status = (int)status;
        res.body = (gantry_str_t){c->resp.ptr ? c->resp.ptr : "", c->resp.len};
    }
    req_hold(r);
    c->cb(r, c->arg, &res);
    free_call(c);
    req_release(r);
}

/* No CR, LF or NUL anywhere; names also need a token without ':' and spaces, within bounds. */
static bool header_ok(gantry_str_t s, bool name)
{
    if (s.len > 0 && s.ptr == NULL)
        return false;
    if (name && (s.len == 0 || s.len > 256))
        return false;
    if (!name && s.len > 16384)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (ch == '\r' || ch == '\n' || ch == '\0' || (name && (ch == ':' || ch <= ' ')))
            return false;
    }
    return true;
}

/* curl refuses new transfers inside its own callbacks (a plugin called from a stream's write
 * callback, e.g. a guardrail checking a window): the transfer is added from the loop instead. */
static void on_defer(uv_timer_t *t)
{
    hcall_t *c = t->data;
    if (up_multi_add(c->r->w->up, c->easy, &c->handle) == 0)
        c->added = true;
    else
        call_done(&c->handle, CURLE_FAILED_INIT); /* reports the failure to the plugin */
}

int hcall_start(req_t *r, const gantry_http_call_t *call, gantry_http_cb cb, void *arg)
{
    if (call == NULL || cb == NULL || call->url.ptr == NULL || call->url.len == 0 ||
        (call->nheaders > 0 && call->headers == NULL))
        return GANTRY_EINVAL;
    if (r->client_gone)
        return GANTRY_ESTATE;
    hcall_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return GANTRY_ENOMEM;
    c->r = r;
    c->cb = cb;
    c->arg = arg;
    c->handle.done = call_done;
    c->resp.limit = call->max_response_bytes ? call->max_response_bytes : DEFAULT_MAX_BYTES;
    c->url = strndup(call->url.ptr, call->url.len);
    c->easy = curl_easy_init();
    /* An empty Expect: keeps curl from waiting for 100-continue. */
    c->headers = curl_slist_append(NULL, "Expect:");
    int rc = GANTRY_ENOMEM;
    if (c->url == NULL || c->easy == NULL || c->headers == NULL)
        goto fail;
    for (size_t i = 0; i < call->nheaders; i++) {
        const gantry_http_header_t *hd = &call->headers[i];
        if (!header_ok(hd->name, true) || !header_ok(hd->value, false)) {
            rc = GANTRY_EINVAL; /* a header that would split or forge others */
            goto fail;
        }
        /* curl sends "Name;" as an empty header; "Name:" would remove it instead. */
        char line[16384 + 260];
        if (hd->value.len == 0)
            snprintf(line, sizeof line, "%.*s;", (int)hd->name.len, hd->name.ptr);
        else
            snprintf(line, sizeof line, "%.*s: %.*s", (int)hd->name.len, hd->name.ptr,
                     (int)hd->value.len, hd->value.ptr);
        struct curl_slist *nl = curl_slist_append(c->headers, line);
        if (nl == NULL)
            goto fail;
        c->headers = nl;
    }
    const char *method = call->method ? call->method : (call->body.len ? "POST" : "GET");
    if (call->body.len > 0) {
        c->body = malloc(call->body.len);
        if (c->body == NULL)
            goto fail;
        memcpy(c->body, call->body.ptr, call->body.len);
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body.len);
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, "");
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, method);
    const cfg_server_t *sc = &srv.cfg->server;
    int64_t timeout = call->timeout_ms > 0 ? call->timeout_ms : DEFAULT_TIMEOUT_MS;
    curl_easy_setopt(c->easy, CURLOPT_URL, c->url);
    curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)sc->connect_timeout_ms);
    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    if (up_multi_add(r->w->up, c->easy, &c->handle) == 0) {
        c->added = true;
    } else {
        c->defer = malloc(sizeof *c->defer);
        if (c->defer == NULL)
            goto fail;
        uv_timer_init(&r->w->loop, c->defer);
        c->defer->data = c;
        uv_timer_start(c->defer, on_defer, 0, 0);
    }
    c->next = r->hcalls;
    if (r->hcalls)
        r->hcalls->prev = c;
    r->hcalls = c;
    r->pending++;
    return GANTRY_OK;
fail:
    curl_slist_free_all(c->headers);
    if (c->easy != NULL)
        curl_easy_cleanup(c->easy);
    free(c->url);
    free(c->body);
    free(c);
    return rc;
}

void hcall_cancel_all(req_t *r)
{
    while (r->hcalls != NULL) {
        hcall_t *c = r->hcalls;
        unlink_call(c);
        free_call(c);
    }
}
