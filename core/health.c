/*
 * health: /health/liveliness and /health/readiness (no key; for load balancers) and /health (key
 * required), which checks that every deployment's endpoint accepts a connection (TCP, and TLS for
 * https) without spending tokens.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "pipe.h"
#include "router.h"
#include "routes.h"
#include "upstream.h"

static int send_simple(h2o_req_t *h, int status, const char *reason, const char *body)
{
    h->res.status = status;
    h->res.reason = reason;
    h2o_add_header(&h->pool, &h->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h->res.content_length = strlen(body);
    h2o_send_inline(h, body, strlen(body));
    return 0;
}

int health_live(worker_t *w, h2o_req_t *h)
{
    (void)w;
    /* LiteLLM answers with this JSON string; load balancer checks written for it keep working. */
    return send_simple(h, 200, "OK", "\"I'm alive!\"");
}

int health_ready(worker_t *w, h2o_req_t *h)
{
    (void)w;
    if (atomic_load(&srv.draining))
        return send_simple(h, 503, "Service Unavailable", "{\"status\":\"draining\"}");
    char body[160];
    snprintf(body, sizeof body, "{\"status\":\"healthy\",\"version\":\"%s\"}", GANTRY_VERSION);
    return send_simple(h, 200, "OK", body);
}

int routes_not_found(worker_t *w, h2o_req_t *h)
{
    req_t *r = routes_new_req(w, h, "unknown");
    if (r == NULL)
        return -1;
    req_hold(r);
    char msg[200];
    snprintf(msg, sizeof msg, "Unknown route %.*s %.*s",
             (int)(h->method.len > 10 ? 10 : h->method.len), h->method.base,
             (int)(h->path_normalized.len > 100 ? 100 : h->path_normalized.len),
             h->path_normalized.base);
    req_set_error(r, 404, GANTRY_ERR_NOT_FOUND, "invalid_request_error", "not_found", NULL, msg);
    pipe_fail(r);
    req_release(r);
    return 0;
}

typedef struct probe {
    up_handle_t handle; /* first: the curl private pointer */
    CURL *easy;
    struct health_ctx *ctx;
    deployment_t *dep;
    char *url;
} probe_t;

typedef struct health_ctx {
    req_t *r;
    size_t left;
    cJSON *healthy, *unhealthy;
} health_ctx_t;

static cJSON *entry(deployment_t *d, const char *url)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "model_name", d->cfg->model_name);
    cJSON_AddStringToObject(e, "model", d->cfg->model);
    cJSON_AddStringToObject(e, "model_id", d->cfg->id);
    cJSON_AddStringToObject(e, "state", rt_state(d, now_us()));
    if (url != NULL) {
        /* Query strings can carry credentials (some providers take keys there): never show them. */
        size_t n = strcspn(url, "?#");
        char *base = strndup(url, n);
        cJSON_AddStringToObject(e, "api_base", base ? base : "");
        free(base);
    }
    return e;
}

static void finish(health_ctx_t *c)
{
    req_t *r = c->r;
    cJSON *root = cJSON_CreateObject();
    int nh = cJSON_GetArraySize(c->healthy), nu = cJSON_GetArraySize(c->unhealthy);
    cJSON_AddItemToObject(root, "healthy_endpoints", c->healthy);
    cJSON_AddItemToObject(root, "unhealthy_endpoints", c->unhealthy);
    cJSON_AddNumberToObject(root, "healthy_count", nh);
    cJSON_AddNumberToObject(root, "unhealthy_count", nu);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    r->phase = PH_SENT;
    resp_send_body(r, 200, "application/json", s ? s : "{}", s ? strlen(s) : 2);
    cJSON_free(s);
}

static void probe_done(up_handle_t *h, CURLcode cc)
{
    probe_t *p = (probe_t *)h;
    health_ctx_t *c = p->ctx;
    req_t *r = c->r;
    up_multi_remove(r->w->up, p->easy);
    curl_easy_cleanup(p->easy);
    cJSON *e = entry(p->dep, p->url);
    if (cc == CURLE_OK) {
        cJSON_AddItemToArray(c->healthy, e);
    } else {
        cJSON_AddStringToObject(e, "error", curl_easy_strerror(cc));
        cJSON_AddItemToArray(c->unhealthy, e);
    }
    free(p->url);
    free(p);
    r->pending--;
    req_hold(r);
    if (--c->left == 0) {
        if (r->client_gone) {
            cJSON_Delete(c->healthy);
            cJSON_Delete(c->unhealthy);
        } else {
            finish(c);
        }
    }
    req_release(r);
}

/*
 * The URL a deployment's provider would call for a minimal request; only a connection to it is
 * made, nothing is sent.  `r` supplies the arena and JSON helpers the provider's prepare() uses.
 */
static char *probe_url(req_t *r, deployment_t *d)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "model", d->cfg->model_name);
    cJSON *msgs = cJSON_AddArrayToObject(body, "messages");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddStringToObject(m, "content", "ping");
    cJSON_AddItemToArray(msgs, m);
    cJSON_AddNumberToObject(body, "max_tokens", 1);
    cJSON *saved = r->body;
    deployment_t *saved_dep = r->dep;
    r->body = body;
    r->dep = d;
    struct gantry_upstream spec;
    up_spec_init(&spec, r);
    gantry_action_t act = d->provider->ops->prepare(r, d->provider->state, d->pstate, &spec);
    r->body = saved;
    r->dep = saved_dep;
    r->failed = false;
    cJSON_Delete(body);
    char *url = act == GANTRY_CONTINUE && spec.url ? strdup(spec.url) : NULL;
    up_spec_free(&spec);
    return url;
}

static void op_health(req_t *r)
{
    gen_t *g = r->gen;
    health_ctx_t *c = arena_alloc(&r->arena, sizeof *c);
    if (c == NULL) {
        req_set_error(r, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL, NULL, "out of memory");
        pipe_fail(r);
        return;
    }
    c->r = r;
    c->healthy = cJSON_CreateArray();
    c->unhealthy = cJSON_CreateArray();
    c->left = 1; /* held until every probe is started */
    int64_t ct = srv.cfg->server.connect_timeout_ms;
    if (ct > 5000)
        ct = 5000;
    for (size_t i = 0; i < g->ndeps; i++) {
        deployment_t *d = &g->deps[i];
        if (d->provider->ops->invoke != NULL) {
            cJSON_AddItemToArray(c->healthy, entry(d, NULL));
            continue;
        }
        char *url = probe_url(r, d);
        if (url == NULL) {
            cJSON *e = entry(d, NULL);
            cJSON_AddStringToObject(e, "error", "the provider could not build a request");
            cJSON_AddItemToArray(c->unhealthy, e);
            continue;
        }
        probe_t *p = calloc(1, sizeof *p);
        CURL *easy = p != NULL ? curl_easy_init() : NULL;
        if (easy == NULL) {
            cJSON *e = entry(d, url);
            cJSON_AddStringToObject(e, "error", "out of memory starting the probe");
            cJSON_AddItemToArray(c->unhealthy, e);
            free(url);
            free(p);
            continue;
        }
        p->handle.done = probe_done;
        p->ctx = c;
        p->dep = d;
        p->url = url;
        p->easy = easy;
        curl_easy_setopt(p->easy, CURLOPT_URL, p->url);
        curl_easy_setopt(p->easy, CURLOPT_CONNECT_ONLY, 1L);
        curl_easy_setopt(p->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(p->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)ct);
        curl_easy_setopt(p->easy, CURLOPT_TIMEOUT_MS, (long)ct + 1000);
        if (up_multi_add(r->w->up, p->easy, &p->handle) != 0) {
            curl_easy_cleanup(p->easy);
            cJSON *e = entry(d, p->url);
            cJSON_AddStringToObject(e, "error", "could not start the probe");
            cJSON_AddItemToArray(c->unhealthy, e);
            free(p->url);
            free(p);
            continue;
        }
        c->left++;
        r->pending++;
    }
    if (--c->left == 0)
        finish(c);
}

int health_full(worker_t *w, h2o_req_t *h)
{
    req_t *r = routes_new_req(w, h, "/health");
    if (r == NULL)
        return -1;
    req_hold(r);
    pipe_start(r, op_health);
    req_release(r);
    return 0;
}

/* ---- background health checks (general_settings.background_health_checks) ----
 * Worker 0 probes every HTTP deployment every health_check_interval with a connect (TCP and TLS),
 * and routing skips the ones that fail until a later probe succeeds.  One probe per deployment at a
 * time.
 */

typedef struct bg_probe {
    up_handle_t handle;
    CURL *easy;
    deployment_t *d;
    worker_t *w;
} bg_probe_t;

typedef struct bg_state {
    uv_timer_t timer;
    worker_t *w;
    gen_t *gen;
    char **urls;        /* per deployment, computed on the first tick */
    bg_probe_t **probe; /* per deployment: the probe in flight, or NULL */
    bool ready;
} bg_state_t;

static bg_state_t *bg;

static void bg_done(up_handle_t *h, CURLcode cc)
{
    bg_probe_t *p = (bg_probe_t *)h;
    up_multi_remove(p->w->up, p->easy);
    curl_easy_cleanup(p->easy);
    bool was = atomic_exchange(&p->d->unhealthy, cc != CURLE_OK);
    if (was != (cc != CURLE_OK))
        log_msg(cc == CURLE_OK ? LOG_INFO : LOG_WARN, NULL, "deployment %s is %s (%s)",
                p->d->cfg->id, cc == CURLE_OK ? "reachable again" : "unreachable",
                curl_easy_strerror(cc));
    if (bg != NULL)
        bg->probe[p->d - bg->gen->deps] = NULL;
    free(p);
}

static void bg_tick(uv_timer_t *t)
{
    bg_state_t *b = t->data;
    gen_t *g = b->gen;
    if (!b->ready) {
        /* A stand-in request gives the providers' prepare() an arena and JSON helpers. */
        req_t *r = calloc(1, sizeof *r);
        if (r == NULL)
            return; /* out of memory: try again on the next tick */
        r->gen = g;
        r->w = b->w;
        arena_init(&r->arena, 1 << 20);
        for (size_t i = 0; i < g->ndeps; i++) {
            if (g->deps[i].provider->ops->invoke == NULL)
                b->urls[i] = probe_url(r, &g->deps[i]);
        }
        for (size_t i = 0; i < r->nroots; i++)
            cJSON_Delete(r->roots[i].root);
        free(r->roots);
        arena_free(&r->arena);
        free(r);
        b->ready = true;
    }
    int64_t ct =
        srv.cfg->server.connect_timeout_ms > 5000 ? 5000 : srv.cfg->server.connect_timeout_ms;
    for (size_t i = 0; i < g->ndeps; i++) {
        if (b->urls[i] == NULL || b->probe[i] != NULL)
            continue;
        bg_probe_t *p = calloc(1, sizeof *p);
        CURL *easy = p != NULL ? curl_easy_init() : NULL;
        if (easy == NULL) {
            free(p); /* out of memory: this deployment is probed on a later tick */
            continue;
        }
        p->handle.done = bg_done;
        p->d = &g->deps[i];
        p->w = b->w;
        p->easy = easy;
        curl_easy_setopt(p->easy, CURLOPT_URL, b->urls[i]);
        curl_easy_setopt(p->easy, CURLOPT_CONNECT_ONLY, 1L);
        curl_easy_setopt(p->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(p->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)ct);
        curl_easy_setopt(p->easy, CURLOPT_TIMEOUT_MS, (long)ct + 1000);
        if (up_multi_add(b->w->up, p->easy, &p->handle) != 0) {
            curl_easy_cleanup(p->easy);
            free(p);
            continue;
        }
        b->probe[i] = p;
    }
}

void health_bg_start(worker_t *w, gen_t *g)
{
    if (!g->rt.background_health_checks || bg != NULL)
        return;
    bg = calloc(1, sizeof *bg);
    bg->w = w;
    bg->gen = g;
    bg->urls = calloc(g->ndeps + 1, sizeof *bg->urls);
    bg->probe = calloc(g->ndeps + 1, sizeof *bg->probe);
    uv_timer_init(&w->loop, &bg->timer);
    bg->timer.data = bg;
    uint64_t every = (uint64_t)g->rt.health_check_interval_ms;
    uv_timer_start(&bg->timer, bg_tick, 0, every);
    uv_unref((uv_handle_t *)&bg->timer); /* never keeps the worker's loop alive by itself */
}

static void bg_closed(uv_handle_t *h)
{
    bg_state_t *b = h->data;
    for (size_t i = 0; i < b->gen->ndeps; i++)
        free(b->urls[i]);
    free(b->urls);
    free(b->probe);
    free(b);
}

void health_bg_stop(void)
{
    if (bg == NULL)
        return;
    uv_timer_stop(&bg->timer);
    for (size_t i = 0; i < bg->gen->ndeps; i++) {
        bg_probe_t *p = bg->probe[i];
        if (p != NULL) {
            up_multi_remove(p->w->up, p->easy);
            curl_easy_cleanup(p->easy);
            free(p);
        }
    }
    uv_close((uv_handle_t *)&bg->timer, bg_closed);
    bg = NULL;
}
