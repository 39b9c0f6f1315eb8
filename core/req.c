#include "req.h"

#include <stdlib.h>
#include <string.h>

#include "hcall.h"
#include "log.h"
#include "pipe.h"
#include "srv.h"
#include "upstream.h"

struct req_timer {
    uv_timer_t t;
    req_t *r;
    gantry_timer_cb cb;
    void *arg;
    req_timer_t *next, *prev;
};

static void on_dispose(void *p)
{
    req_t *r = *(req_t **)p;
    r->h = NULL;
    srv_unwatch(r);
    if (!r->final_sent) {
        /* The client left before the whole response was written: stop paying for upstream work. */
        r->client_gone = true;
        req_abort_work(r);
    }
    req_maybe_finish(r);
}

req_t *req_new(worker_t *w, h2o_req_t *h, const api_fmt_t *api, const char *route)
{
    req_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->w = w;
    r->h = h;
    r->api = api;
    r->route = route;
    r->gen = srv_gen_acquire();
    arena_init(&r->arena, (size_t)srv.cfg->server.request_memory_bytes);
    r->resume_early = -1;
    r->req_num_retries = -1;
    r->t_start = now_us();
    r->start_unix_ms = unix_ms();
    r->prompt_tokens = r->completion_tokens = r->total_tokens = r->cached_tokens = -1;
    r->status = 200;
    r->out_fill.limit = 0;
    r->slots = arena_alloc(&r->arena, sizeof(void *) * (r->gen->ninsts + 1));
    if (r->slots != NULL)
        memset(r->slots, 0, sizeof(void *) * (r->gen->ninsts + 1));
    req_t **sentinel = h2o_mem_alloc_shared(&h->pool, sizeof(req_t *), on_dispose);
    *sentinel = r;
    w->inflight++;
    return r;
}

void req_hold(req_t *r)
{
    r->busy++;
}

static void destroy(req_t *r)
{
    pipe_attempt_end(r, false); /* an attempt still open here was abandoned */
    req_cancel_timers(r);
    hcall_cancel_all(r);
    for (req_cleanup_t *c = r->cleanups; c != NULL; c = c->next)
        c->fn(c->arg);
    for (size_t i = 0; i < r->nroots; i++)
        cJSON_Delete(r->roots[i].root);
    free(r->roots);
    cJSON_Delete(r->body);
    cJSON_Delete(r->resp);
    free(r->cached);
    buf_free(&r->out_fill);
    buf_free(&r->out_send);
    worker_t *w = r->w;
    gen_unref(r->gen);
    arena_free(&r->arena);
    free(r);
    w->inflight--;
    if (atomic_load(&w->stop) && w->inflight == 0)
        uv_async_send(&w->wake);
}

void req_maybe_finish(req_t *r)
{
    if (r->busy > 0) {
        r->freed_pending = true;
        return;
    }
    if (r->h != NULL || r->xfer != NULL || r->pending > 0)
        return;
    if (!r->logged) {
        r->logged = true;
        if (r->t_end == 0)
            r->t_end = now_us();
        r->busy++;
        pipe_log(r);
        r->busy--;
    }
    destroy(r);
}

void req_release(req_t *r)
{
    /* Leaving the outermost hold is a checkpoint: whatever finished meanwhile is acted on now. */
    if (--r->busy == 0) {
        r->freed_pending = false;
        req_maybe_finish(r);
    }
}

void req_client_detached(req_t *r)
{
    r->client_gone = true;
    req_abort_work(r);
}

void req_abort_work(req_t *r)
{
    if (r->xfer != NULL)
        up_cancel(r->xfer);
    req_cancel_timers(r);
    hcall_cancel_all(r);
}

bool req_own_json_src(req_t *r, cJSON *root, const char *src, size_t len, uint64_t mut)
{
    if (root == NULL)
        return false;
    if (r->nroots == r->caproots) {
        size_t cap = r->caproots ? r->caproots * 2 : 8;
        req_root_t *n = realloc(r->roots, cap * sizeof *n);
        if (n == NULL) {
            /* Cannot track it: free it now rather than leak.  Callers must not hand the root out
             * (false), or a plugin would be given freed memory. */
            cJSON_Delete(root);
            return false;
        }
        r->roots = n;
        r->caproots = cap;
    }
    r->roots[r->nroots++] = (req_root_t){root, src, len, mut};
    return true;
}

bool req_own_json(req_t *r, cJSON *root)
{
    return req_own_json_src(r, root, NULL, 0, 0);
}

bool req_disown_json(req_t *r, cJSON *root, req_root_t *info)
{
    /* Search from the end: the root handed over is almost always the one made last. */
    for (size_t i = r->nroots; i-- > 0;) {
        if (r->roots[i].root == root) {
            if (info != NULL)
                *info = r->roots[i];
            r->roots[i] = r->roots[--r->nroots];
            return true;
        }
    }
    return false;
}

static gantry_str_t dup_str(req_t *r, const char *s)
{
    if (s == NULL)
        return GANTRY_STR_NULL;
    size_t n = strlen(s);
    char *p = arena_strndup(&r->arena, s, n);
    return p ? (gantry_str_t){p, n} : GANTRY_STR_NULL;
}

void req_set_error(req_t *r, int status, gantry_error_class_t cls, const char *type,
                   const char *code, const char *param, const char *msg)
{
    r->failed = true;
    memset(&r->err, 0, sizeof r->err);
    r->err.size = sizeof r->err;
    r->err.status = status;
    r->err.class_ = cls;
    r->err.type = dup_str(r, type);
    r->err.code = dup_str(r, code);
    r->err.param = dup_str(r, param);
    r->err.message = dup_str(r, msg);
    r->err.retry_after_ms = -1;
}

int req_add_header(req_t *r, const char *name, const char *value, size_t len)
{
    req_hdr_t *hd = arena_alloc(&r->arena, sizeof *hd);
    if (hd == NULL)
        return -1;
    hd->name_len = strlen(name);
    hd->name = arena_strndup(&r->arena, name, hd->name_len);
    char *v = arena_strndup(&r->arena, value, len);
    if (hd->name == NULL || v == NULL)
        return -1;
    hd->value = (gantry_str_t){v, len};
    hd->next = r->hdrs;
    r->hdrs = hd;
    return 0;
}

void req_note_guardrail(req_t *r, const char *name)
{
    size_t n = strlen(name);
    /* Each guardrail is listed once however many times it acted. */
    if (r->guardrails != NULL) {
        const char *p = r->guardrails;
        while (p != NULL && *p) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            if (len == n && memcmp(p, name, n) == 0)
                return;
            p = comma ? comma + 1 : NULL;
        }
    }
    size_t total = r->guardrails_len + (r->guardrails_len ? 1 : 0) + n;
    char *s = arena_alloc(&r->arena, total + 1);
    if (s == NULL)
        return;
    size_t off = 0;
    if (r->guardrails_len) {
        memcpy(s, r->guardrails, r->guardrails_len);
        s[r->guardrails_len] = ',';
        off = r->guardrails_len + 1;
    }
    memcpy(s + off, name, n);
    s[total] = '\0';
    r->guardrails = s;
    r->guardrails_len = total;
}

static int64_t usage_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 ? (int64_t)v->valuedouble : -1;
}

void req_take_usage(req_t *r, const cJSON *u)
{
    if (!cJSON_IsObject(u))
        return;
    int64_t v;
    if ((v = usage_num(u, "prompt_tokens")) >= 0)
        r->prompt_tokens = v;
    if ((v = usage_num(u, "completion_tokens")) >= 0)
        r->completion_tokens = v;
    if ((v = usage_num(u, "total_tokens")) >= 0)
        r->total_tokens = v;
    else if (r->prompt_tokens >= 0 && r->completion_tokens >= 0)
        r->total_tokens = r->prompt_tokens + r->completion_tokens;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens_details");
    if ((v = usage_num(d, "cached_tokens")) >= 0)
        r->cached_tokens = v;
    if ((v = usage_num(u, "cache_creation_input_tokens")) >= 0)
        r->cache_write_tokens = v; /* priced at the cache-write rate (cost.c) */
}

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void unlink_timer(req_t *r, req_timer_t *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        r->timers = t->next;
    if (t->next)
        t->next->prev = t->prev;
    r->pending--;
}

static void timer_fired(uv_timer_t *ut)
{
    req_timer_t *t = ut->data;
    req_t *r = t->r;
    unlink_timer(r, t);
    uv_close((uv_handle_t *)&t->t, timer_closed);
    req_hold(r);
    t->cb(r, t->arg);
    req_release(r);
}

int req_timer_start(req_t *r, uint64_t ms, gantry_timer_cb cb, void *arg)
{
    if (r->client_gone)
        return GANTRY_ESTATE;
    req_timer_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return GANTRY_ENOMEM;
    uv_timer_init(&r->w->loop, &t->t);
    t->t.data = t;
    t->r = r;
    t->cb = cb;
    t->arg = arg;
    t->next = r->timers;
    if (r->timers)
        r->timers->prev = t;
    r->timers = t;
    r->pending++;
    uv_timer_start(&t->t, timer_fired, ms, 0);
    return GANTRY_OK;
}

void req_cancel_timers(req_t *r)
{
    while (r->timers != NULL) {
        req_timer_t *t = r->timers;
        uv_timer_stop(&t->t);
        unlink_timer(r, t);
        uv_close((uv_handle_t *)&t->t, timer_closed);
    }
}
