#include "pipe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cache.h"
#include "guard.h"
#include "gov_int.h"
#include "hist.h"
#include "host.h"
#include "log.h"
#include "policy.h"
#include "router.h"
#include "srv.h"

static void run(req_t *r);
static void upstream_error(req_t *r);

static void *wstate(req_t *r, inst_t *in)
{
    return in->wstate[r->w->id];
}

/* Every plugin call goes through here so resume() inside the call is recognised. */
static gantry_action_t settle(req_t *r, gantry_action_t act)
{
    r->in_call = false;
    if (act == GANTRY_PAUSE && r->resume_early >= 0) {
        act = (gantry_action_t)r->resume_early;
    } else if (act == GANTRY_PAUSE) {
        r->paused = true;
    }
    r->resume_early = -1;
    return act;
}

static void enter(req_t *r)
{
    r->in_call = true;
    r->resume_early = -1;
}

void pipe_fail(req_t *r)
{
    if (!r->failed)
        req_set_error(r, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL, NULL,
                      "the request failed inside the gateway");
    r->phase = PH_SENT;
    resp_send_error(r);
}

static void fail(req_t *r, int status, gantry_error_class_t cls, const char *type, const char *code,
                 const char *msg)
{
    req_set_error(r, status, cls, type, code, NULL, msg);
    pipe_fail(r);
}

void pipe_start(req_t *r, pipe_op_fn op)
{
    req_hold(r);
    r->phase = PH_AUTH;
    r->pidx = 0;
    if (op != NULL) {
        /* Non-completion routes share AUTH with completions, then do their own work. */
        size_t n = r->gen->nkind[GANTRY_KIND_AUTH];
        for (size_t i = 0; i < n; i++) {
            inst_t *in = r->gen->by_kind[GANTRY_KIND_AUTH][i];
            enter(r);
            gantry_action_t act = settle(r, in->ops->authenticate(r, in->state, wstate(r, in)));
            if (act == GANTRY_PAUSE) {
                /* Asynchronous auth on info routes is not supported: fail clearly. */
                r->paused = false;
                fail(r, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL,
                     "an auth plugin paused on a route that cannot wait");
                req_release(r);
                return;
            }
            if (act == GANTRY_FAIL) {
                pipe_fail(r);
                req_release(r);
                return;
            }
        }
        if (!gov_authenticate(r)) {
            pipe_fail(r); /* a virtual key that is unknown, expired, blocked, ... */
        } else if (n > 0 && !r->has_principal) {
            fail(r, 401, GANTRY_ERR_AUTH, "invalid_request_error", "invalid_api_key",
                 "Invalid or missing API key. Pass it as 'Authorization: Bearer <key>'.");
        } else {
            op(r);
        }
        req_release(r);
        return;
    }
    run(r);
    req_release(r);
}

void pipe_resume(req_t *r, gantry_action_t a)
{
    if (r->in_call) {
        r->resume_early = (int)a;
        return;
    }
    if (!r->paused) {
        log_msg(LOG_WARN, r->id, "a plugin called resume() on a request that was not paused");
        return;
    }
    r->paused = false;
    req_hold(r);
    if (a != GANTRY_CONTINUE && a != GANTRY_FAIL)
        r->preparing = false; /* a RESPOND ends the attempt; nothing is prepared again */
    if (a == GANTRY_FAIL && (r->phase == PH_GUARD_PRE || r->phase == PH_RESPONSE) && r->pidx > 0)
        a = guard_settle(r, r->gen->by_kind[GANTRY_KIND_GUARDRAIL][r->pidx - 1], a);
    if (guard_failed(r) && !r->client_gone) {
        /* A deferred verdict blocked while this plugin was busy. */
        r->t_up_total += r->phase == PH_UPSTREAM ? now_us() - r->t_up_start : 0;
        pipe_fail(r);
        req_release(r);
        return;
    }
    if (r->client_gone) {
        /* Nobody to answer: let the request finish. */
    } else if (a == GANTRY_FAIL && r->phase == PH_UPSTREAM) {
        r->t_up_total += now_us() - r->t_up_start;
        if (r->preparing && !r->failed)
            req_set_error(r, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL, NULL,
                          "the provider could not build the upstream request");
        r->preparing = false;
        upstream_error(r);
    } else if (a == GANTRY_FAIL) {
        pipe_fail(r);
    } else if (a == GANTRY_RESPOND && r->phase == PH_UPSTREAM) {
        r->t_up_total += now_us() - r->t_up_start;
        pipe_attempt_end(r, true);
        r->phase = PH_RESPONSE;
        r->pidx = 0;
        run(r);
    } else if (a == GANTRY_RESPOND && r->phase == PH_CACHE_LOOKUP) {
        run(r); /* cache_hit() already moved the request on */
    } else {
        run(r);
    }
    req_release(r);
}

/* Run the plugins of one kind from r->pidx on; returns the action that stopped the loop. */
static gantry_action_t run_list(req_t *r, gantry_kind_t kind)
{
    inst_t **list = r->gen->by_kind[kind];
    size_t n = r->gen->nkind[kind];
    while (r->pidx < n) {
        inst_t *in = list[r->pidx++];
        gantry_action_t act = GANTRY_CONTINUE;
        enter(r);
        switch (kind) {
        case GANTRY_KIND_AUTH:
            act = in->ops->authenticate(r, in->state, wstate(r, in));
            break;
        case GANTRY_KIND_GUARDRAIL:
            if (r->phase == PH_GUARD_PRE && in->ops->check_request != NULL &&
                guard_runs(r, in, GANTRY_GUARD_PRE_CALL | GANTRY_GUARD_DURING_CALL))
                act = in->ops->check_request(r, in->state, wstate(r, in));
            else if (r->phase == PH_RESPONSE && in->ops->check_response != NULL &&
                     guard_runs(r, in, GANTRY_GUARD_POST_CALL))
                act = in->ops->check_response(r, in->state, wstate(r, in));
            break;
        case GANTRY_KIND_CACHE: {
            gantry_str_t key = {r->cache_key, 64};
            act = in->ops->lookup(r, in->state, wstate(r, in), key);
            break;
        }
        default:
            break;
        }
        act = settle(r, act);
        if (kind == GANTRY_KIND_GUARDRAIL)
            act = guard_settle(r, in, act); /* fail open or closed when it could not decide */
        if (act != GANTRY_CONTINUE)
            return act;
    }
    return GANTRY_CONTINUE;
}

/* ---- attempts, retries, fallbacks ---- */

/* Failures that say something about the deployment (and so count toward its cooldown). */
static bool deployment_fault(gantry_error_class_t c)
{
    switch (c) {
    case GANTRY_ERR_AUTH:
    case GANTRY_ERR_NOT_FOUND:
    case GANTRY_ERR_RATE_LIMIT:
    case GANTRY_ERR_TIMEOUT:
    case GANTRY_ERR_SERVER:
    case GANTRY_ERR_CONNECT:
        return true;
    default:
        return false;
    }
}

void pipe_attempt_end(req_t *r, bool ok)
{
    deployment_t *d = r->attempt_dep;
    if (d == NULL)
        return;
    r->attempt_dep = NULL;
    if (ok && r->resp != NULL) /* tokens count toward the deployment's tpm window */
        req_take_usage(r, cJSON_GetObjectItemCaseSensitive(r->resp, "usage"));
    int64_t now = now_us();
    rt_outcome_t o = {.ok = ok};
    o.aborted = !ok && (!r->failed || r->client_gone);
    o.cls = rt_class_of(r->err.class_);
    o.status = r->err.status;
    o.deployment_fault = !ok && deployment_fault(r->err.class_);
    o.latency_us = now - r->attempt_start;
    o.ttft_us = r->stream && r->t_first > r->attempt_start ? r->t_first - r->attempt_start : 0;
    o.tokens = r->total_tokens > 0 ? r->total_tokens : 0;
    o.probe = r->attempt_probe;
    r->attempt_probe = false;
    rt_end(d, &r->gen->rt, &o, now);
}

/* Which retry_policy class an error belongs to, and whether it is retried by default. */
static int retry_limit(req_t *r)
{
    const rt_settings_t *s = &r->gen->rt;
    gantry_error_class_t ec = r->err.class_;
    rt_class_t c = ec == GANTRY_ERR_NOT_FOUND ? RT_C_SERVER : rt_class_of(ec);
    if (ec == GANTRY_ERR_CONTEXT_WINDOW || ec == GANTRY_ERR_GUARDRAIL || ec == GANTRY_ERR_BUDGET)
        return 0; /* the same request fails the same way anywhere */
    if (r->req_num_retries >= 0)
        return c == RT_C_BAD_REQUEST || c == RT_C_CONTENT_POLICY ? 0 : r->req_num_retries;
    if (s->retry_policy[c] >= 0)
        return s->retry_policy[c];
    if (c == RT_C_BAD_REQUEST || c == RT_C_CONTENT_POLICY)
        return 0;
    const deployment_t *d = r->last_failed;
    if (d != NULL && d->cfg->max_retries >= 0)
        return (int)d->cfg->max_retries;
    return s->num_retries;
}

static void retry_now(req_t *r, void *arg)
{
    (void)arg;
    if (r->client_gone)
        return;
    r->failed = false;
    r->dep = NULL;
    r->phase = PH_ROUTE;
    req_hold(r);
    run(r);
    req_release(r);
}

/* Full-jitter exponential back-off: uniform in [0, min(max, base * 2^(k-1))]. */
static int64_t backoff_ms(req_t *r)
{
    const rt_settings_t *s = &r->gen->rt;
    int k = r->retries > 30 ? 30 : r->retries;
    double ceiling = (double)s->backoff_base_ms * (double)(1ull << (k > 0 ? k - 1 : 0));
    if (ceiling > (double)s->backoff_max_ms)
        ceiling = (double)s->backoff_max_ms;
    double u = (double)(rt_rand(&r->w->rng) >> 11) * (1.0 / 9007199254740992.0);
    return (int64_t)(u * ceiling);
}

static bool try_retry(req_t *r)
{
    if (r->retries >= retry_limit(r))
        return false;
    const rt_settings_t *s = &r->gen->rt;
    r->retries++;
    int64_t wait = backoff_ms(r);
    int64_t ra = r->err.retry_after_ms;
    if (ra > 0 && !rt_has_other(r, r->last_failed)) {
        /* Only this deployment could answer: honour its Retry-After, unless that is hopeless. */
        int64_t cap = s->backoff_max_ms > 30000 ? s->backoff_max_ms : 30000;
        if (ra > cap)
            return false;
        wait = wait > ra ? wait : ra;
    }
    if (wait < s->retry_after_ms)
        wait = s->retry_after_ms;
    return req_timer_start(r, (uint64_t)wait, retry_now, NULL) == GANTRY_OK;
}

static void choose_fallbacks(req_t *r)
{
    r->fb_chosen = true;
    const cJSON *client = cJSON_GetObjectItemCaseSensitive(r->body, "fallbacks");
    if (cJSON_IsArray(client)) {
        size_t n = (size_t)cJSON_GetArraySize(client), k = 0;
        r->fb_list = arena_alloc(&r->arena, (n + 1) * sizeof *r->fb_list);
        const cJSON *e;
        cJSON_ArrayForEach(e, client)
        {
            if (r->fb_list != NULL && cJSON_IsString(e))
                r->fb_list[k++] = e->valuestring;
        }
        r->fb_n = r->fb_list ? k : 0;
        return;
    }
    const rt_settings_t *s = &r->gen->rt;
    const char *g = r->group->name;
    const rt_fallback_t *fb = NULL;
    switch (r->err.class_) {
    case GANTRY_ERR_CONTEXT_WINDOW:
        fb = rt_fallbacks_for(&s->context_window_fallbacks, g);
        break;
    case GANTRY_ERR_CONTENT_POLICY:
        fb = rt_fallbacks_for(&s->content_policy_fallbacks, g);
        break;
    case GANTRY_ERR_BAD_REQUEST:
    case GANTRY_ERR_GUARDRAIL:
    case GANTRY_ERR_BUDGET:
        return; /* the client's own request is at fault: another model will not help */
    default:
        break;
    }
    if (fb == NULL)
        fb = rt_fallbacks_for(&s->fallbacks, g);
    if (fb != NULL) {
        r->fb_list = fb->to;
        r->fb_n = fb->nto;
    } else {
        r->fb_list = s->default_fallbacks;
        r->fb_n = s->ndefault_fallbacks;
    }
}

static bool try_fallback(req_t *r)
{
    if (!r->fb_chosen)
        choose_fallbacks(r);
    while (r->fb_i < r->fb_n && r->fallbacks_used < r->gen->rt.max_fallbacks) {
        const char *name = r->fb_list[r->fb_i++];
        group_t *g = gen_group(r->gen, name, strlen(name));
        if (g == NULL || g == r->group)
            continue;
        r->group = g;
        r->retries = 0;
        r->last_failed = NULL;
        r->ntried = 0;
        r->fallbacks_used++;
        /* Through a timer, so the next attempt never starts inside curl's completion loop. */
        return req_timer_start(r, 0, retry_now, NULL) == GANTRY_OK;
    }
    return false;
}

/* An attempt failed with r->err: retry in the group, fall back to another group, or answer. */
static void upstream_error(req_t *r)
{
    const deployment_t *failed = r->attempt_dep ? r->attempt_dep : r->dep;
    pipe_attempt_end(r, false);
    if (r->client_gone || r->final_sent)
        return;
    r->last_err = r->err;
    r->has_last_err = true;
    if (!r->started) {
        r->last_failed = failed;
        if (failed != NULL && r->ntried < (int)(sizeof r->tried / sizeof r->tried[0]))
            r->tried[r->ntried++] = failed;
        if (try_retry(r) || try_fallback(r))
            return;
    }
    pipe_fail(r); /* after the first byte: an error event, never a silent restart */
}

static void start_upstream(req_t *r)
{
    deployment_t *d = r->dep;
    inst_t *prov = d->provider;
    if (r->preparing) {
        /* prepare() paused (ABI 1.1) and was resumed: same attempt, prepare() runs again. */
        r->preparing = false;
        goto prepare;
    }
    if (r->endpoint != GANTRY_EP_CHAT && r->endpoint != 0 && prov->pl->desc->abi_minor < 1) {
        /* An ABI 1.0 provider cannot tell an embeddings or completions body from a chat one. */
        char msg[200];
        snprintf(msg, sizeof msg, "The provider '%s' of this model only serves chat completions.",
                 prov->pl->desc->name);
        req_set_error(r, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error",
                      "unsupported_endpoint", NULL, msg);
        pipe_fail(r);
        return;
    }
    r->attempts++;
    r->attempt_dep = d;
    r->attempt_start = now_us();
    rt_begin(d, r->attempt_start);
    if (prov->ops->invoke != NULL) {
        r->t_up_start = now_us();
        enter(r);
        gantry_action_t act = settle(r, prov->ops->invoke(r, prov->state, d->pstate));
        if (act == GANTRY_PAUSE) {
            if (!r->started && r->h != NULL && r->h->version < 0x200)
                srv_watch(r);
            return;
        }
        r->t_up_total += now_us() - r->t_up_start;
        if (act == GANTRY_FAIL) {
            upstream_error(r);
        } else if (r->stream) {
            if (!r->stream_done)
                pipe_stream_end(r);
        } else {
            pipe_attempt_end(r, true);
            r->phase = PH_RESPONSE;
            r->pidx = 0;
            run(r);
        }
        return;
    }
prepare:;
    struct gantry_upstream spec;
    up_spec_init(&spec, r);
    enter(r);
    r->t_up_start = now_us();
    gantry_action_t raw = prov->ops->prepare(r, prov->state, d->pstate, &spec);
    gantry_action_t act = settle(r, raw);
    if (raw == GANTRY_PAUSE && act == GANTRY_CONTINUE) {
        /* resume(CONTINUE) came inside the call: prepare() runs again at once, as documented. */
        up_spec_free(&spec);
        goto prepare;
    }
    if (act == GANTRY_PAUSE) {
        /* Waiting for credentials, a template, ...: resume(CONTINUE) comes back above. */
        up_spec_free(&spec);
        r->preparing = true;
        if (!r->started && r->h != NULL && r->h->version < 0x200)
            srv_watch(r);
        return;
    }
    if (act == GANTRY_FAIL || spec.url == NULL) {
        up_spec_free(&spec);
        if (!r->failed)
            req_set_error(r, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL, NULL,
                          "the provider did not build an upstream request");
        upstream_error(r);
        return;
    }
    const cfg_deployment_t *c = d->cfg;
    int rc = up_start(r, &spec, r->stream, c->timeout_ms, c->stream_timeout_ms);
    up_spec_free(&spec);
    if (rc != 0) {
        req_set_error(r, 502, GANTRY_ERR_CONNECT, "api_connection_error", NULL, NULL,
                      "could not start the upstream request");
        upstream_error(r);
        return;
    }
    if (r->h != NULL && r->h->version < 0x200)
        srv_watch(r);
}

static void send_response(req_t *r)
{
    if (r->resp == NULL) {
        fail(r, 502, GANTRY_ERR_SERVER, "api_error", NULL, "the provider returned no response");
        return;
    }
    req_take_usage(r, cJSON_GetObjectItemCaseSensitive(r->resp, "usage"));
    /* Saved before the client sees the answer, so its next turn (loaded after this save on the
     * store's single queue) always finds this one. */
    if (r->hist != NULL)
        hist_finish(r);
    cache_response(r); /* stores the answer, or reports a hit as costing nothing */
    gov_charge(r);     /* before the client can send its next request */
    if (r->resp_raw != NULL && r->api->native) {
        /* The upstream's answer, untouched by any plugin: send its bytes as they came. */
        r->phase = PH_SENT;
        resp_send_body(r, 200, "application/json", r->resp_raw, r->resp_raw_len);
        return;
    }
    buf_t b = {0};
    if (r->api->response(r, r->resp, &b) != 0) {
        buf_free(&b);
        fail(r, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL, "could not encode the response");
        return;
    }
    r->phase = PH_SENT;
    resp_send_body(r, 200, "application/json", b.ptr, b.len);
    buf_free(&b);
}

/* ---- routing rules (policies:) ---- */

static const char *pol_header(void *arg, const char *name, size_t *len)
{
    req_t *r = arg;
    if (r->h == NULL)
        return NULL;
    ssize_t i = h2o_find_header_by_str(&r->h->headers, name, strlen(name), -1);
    if (i < 0)
        return NULL;
    *len = r->h->headers.entries[i].value.len;
    return r->h->headers.entries[i].value.base;
}

/* Tests pin the clock with GANTRY_CLOCK (Unix milliseconds) to check time-of-day rules. */
static int64_t policy_now(void)
{
    /* Every worker thread may be first to get here: atomic, so the lazy init is not a data race. */
    static _Atomic int64_t fixed = -1;
    int64_t f = atomic_load_explicit(&fixed, memory_order_relaxed);
    if (f == -1) {
        const char *env = getenv("GANTRY_CLOCK");
        f = env != NULL ? strtoll(env, NULL, 10) : 0;
        atomic_store_explicit(&fixed, f, memory_order_relaxed);
    }
    return f > 0 ? f : unix_ms();
}

static bool has_images(const cJSON *body)
{
    const cJSON *m, *p;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(body, "messages"))
    {
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(m, "content"))
        {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "type");
            if (cJSON_IsString(t) &&
                (strcmp(t->valuestring, "image_url") == 0 || strcmp(t->valuestring, "image") == 0))
                return true;
        }
    }
    return false;
}

void pipe_policy_input(req_t *r, pipe_pol_t *pp)
{
    char *model = pp->model;
    snprintf(pp->model, sizeof pp->model, "%.*s", (int)r->model.len, r->model.ptr);
    char *user = pp->user;
    user[0] = '\0';
    if (r->end_user.len)
        snprintf(pp->user, sizeof pp->user, "%.*s", (int)r->end_user.len, r->end_user.ptr);
    const char **tags = pp->tags;
    size_t ntags = 0;
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(r->body, "metadata");
    const cJSON *lists[2] = {cJSON_GetObjectItemCaseSensitive(r->body, "tags"),
                             cJSON_GetObjectItemCaseSensitive(md, "tags")};
    for (int k = 0; k < 2; k++) {
        const cJSON *t;
        cJSON_ArrayForEach(t, lists[k])
        {
            if (cJSON_IsString(t) && ntags < 64)
                tags[ntags++] = t->valuestring;
        }
    }
    pol_input_t in = {0};
    in.model = model;
    if (r->has_principal) {
        in.key_alias = r->principal.name.len ? r->principal.name.ptr : NULL;
        in.key_hash = r->principal.id.len ? r->principal.id.ptr : NULL;
        in.user_id = r->principal.user_id.len ? r->principal.user_id.ptr : NULL;
        in.team_id = r->principal.team_id.len ? r->principal.team_id.ptr : NULL;
    }
    in.customer = user[0] ? user : NULL;
    in.tags = tags;
    in.ntags = ntags;
    in.header = pol_header;
    in.header_arg = r;
    in.prompt_tokens = rt_estimate_tokens(r->body);
    in.has_tools = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r->body, "tools")) > 0;
    in.has_images = has_images(r->body);
    in.now_unix_ms = policy_now();
    pp->in = in;
}

/* Evaluate the rules; false when the request was answered (rejected). */
static bool apply_policies(req_t *r)
{
    pipe_pol_t pp;
    pipe_policy_input(r, &pp);
    pol_input_t in = pp.in;
    pol_result_t res;
    if (!pol_eval(r->gen->policies, &in, &res))
        return true;
    req_add_header(r, "x-gantry-policy", res.rule, strlen(res.rule));
    rt_filter_t *f = NULL;
    switch (res.action) {
    case POL_NONE:
    case POL_LIMIT: /* never returned by pol_eval(): gov_req.c applies them */
        return true;
    case POL_REJECT:
        req_set_error(r, res.status ? res.status : 403, GANTRY_ERR_BAD_REQUEST,
                      "invalid_request_error", "policy_violation", NULL,
                      res.message ? res.message : "Rejected by policy.");
        pipe_fail(r);
        return false;
    case POL_ROUTE_GROUP:
        r->group = gen_group(r->gen, res.target, strlen(res.target));
        return true;
    case POL_ROUTE_DEPLOYMENT:
        for (size_t i = 0; i < r->gen->ndeps; i++) {
            if (strcmp(r->gen->deps[i].cfg->id, res.target) == 0)
                r->group = r->gen->deps[i].group;
        }
        f = arena_alloc(&r->arena, sizeof *f);
        if (f != NULL) {
            memset(f, 0, sizeof *f);
            f->deployment = res.target;
        }
        break;
    case POL_RESTRICT:
    case POL_PREFER_CHEAPEST:
        f = arena_alloc(&r->arena, sizeof *f);
        if (f != NULL) {
            memset(f, 0, sizeof *f);
            f->tag = res.tag;
            f->region = res.region;
            f->cheapest = res.prefer_cheapest || res.action == POL_PREFER_CHEAPEST;
        }
        break;
    }
    if (f != NULL) {
        r->filter = f;
        r->has_filter = true;
    }
    return true;
}

static void run(req_t *r)
{
    gantry_action_t act;
    for (;;) {
        if (r->client_gone)
            return;
        switch (r->phase) {
        case PH_RECEIVE:
        case PH_AUTH:
            r->phase = PH_AUTH;
            act = run_list(r, GANTRY_KIND_AUTH);
            if (act == GANTRY_PAUSE)
                return;
            if (act == GANTRY_FAIL) {
                pipe_fail(r);
                return;
            }
            if (!gov_authenticate(r)) {
                pipe_fail(r);
                return;
            }
            if (r->gen->nkind[GANTRY_KIND_AUTH] > 0 && !r->has_principal) {
                fail(r, 401, GANTRY_ERR_AUTH, "invalid_request_error", "invalid_api_key",
                     "Invalid or missing API key. Pass it as 'Authorization: Bearer <key>'.");
                return;
            }
            r->phase = PH_POLICY;
            r->pidx = 0;
            break;
        case PH_POLICY:
            if (r->gen->policies != NULL && !apply_policies(r))
                return;
            if (r->group == NULL) {
                /* A team's model_aliases name another group for its keys. */
                const char *alias = gov_model_alias(r, r->model.ptr, r->model.len);
                r->group = alias ? gen_group(r->gen, alias, strlen(alias))
                                 : gen_group(r->gen, r->model.ptr, r->model.len);
            }
            if (r->group == NULL) {
                char msg[320];
                snprintf(msg, sizeof msg,
                         "The model '%.*s' does not exist or you do not have access to it.",
                         (int)(r->model.len > 200 ? 200 : r->model.len), r->model.ptr);
                req_set_error(r, 404, GANTRY_ERR_NOT_FOUND, "invalid_request_error",
                              "model_not_found", "model", msg);
                pipe_fail(r);
                return;
            }
            {
                const cJSON *nr = cJSON_GetObjectItemCaseSensitive(r->body, "num_retries");
                if (cJSON_IsNumber(nr) && nr->valuedouble >= 0 && nr->valuedouble <= 100)
                    r->req_num_retries = (int)nr->valuedouble;
            }
            if (!guard_select(r)) {
                pipe_fail(r);
                return;
            }
            /* Model access, budgets and rate limits of the caller's key, team, user, ... */
            if (!gov_model_allowed(r, r->group->name) || !gov_admit(r)) {
                pipe_fail(r);
                return;
            }
            r->phase = PH_CACHE_LOOKUP;
            r->pidx = 0;
            break;
        case PH_CACHE_LOOKUP:
            if (!r->hist_checked) {
                /* Stored history joins the request before anything looks at its messages. */
                r->hist_checked = true;
                int hr = hist_begin(r);
                if (hr < 0) {
                    pipe_fail(r);
                    return;
                }
                if (hr > 0)
                    return; /* loading; pipe_continue() comes back here */
            }
            if (!r->cache_keyed) {
                r->cache_keyed = true;
                if (!cache_begin(r)) { /* an invalid cache control */
                    pipe_fail(r);
                    return;
                }
            }
            /* An entry refused by the request (s-maxage) answers RESPOND without a hit: ask the
             * next cache. */
            act = GANTRY_RESPOND;
            while (r->cache_lookup && !r->cache_hit && act == GANTRY_RESPOND)
                act = run_list(r, GANTRY_KIND_CACHE);
            if (act == GANTRY_PAUSE)
                return;
            if (act == GANTRY_FAIL) {
                pipe_fail(r);
                return;
            }
            if (r->cache_hit && r->stream) {
                cache_replay(r);
                return;
            }
            if (r->cache_hit) {
                r->phase = PH_RESPONSE;
                r->pidx = 0;
                break;
            }
            r->phase = PH_GUARD_PRE;
            r->pidx = 0;
            break;
        case PH_GUARD_PRE:
            act = run_list(r, GANTRY_KIND_GUARDRAIL);
            if (act == GANTRY_PAUSE)
                return;
            if (act == GANTRY_FAIL || act == GANTRY_RESPOND) {
                pipe_fail(r);
                return;
            }
            r->phase = PH_ROUTE;
            r->pidx = 0;
            break;
        case PH_ROUTE: {
            rt_none_t why;
            r->dep = rt_pick(r, r->last_failed, r->has_filter ? r->filter : NULL, &why);
            if (r->dep == NULL) {
                if (why == RT_NONE_CONTEXT) {
                    req_set_error(
                        r, 400, GANTRY_ERR_CONTEXT_WINDOW, "invalid_request_error",
                        "context_length_exceeded", "messages",
                        "The prompt is longer than the context window of every deployment "
                        "of this model.");
                } else if (r->has_last_err) {
                    r->err = r->last_err; /* report what the last deployment said */
                    r->failed = true;
                } else {
                    req_set_error(r, 503, GANTRY_ERR_SERVER, "api_error", "no_deployment_available",
                                  NULL,
                                  why == RT_NONE_POLICY
                                      ? "No deployment of this model is allowed for this request."
                                      : "No deployment of this model is available right now.");
                }
                /* Nothing to retry here; a fallback group may still answer. */
                if (!try_fallback(r))
                    pipe_fail(r);
                return;
            }
            r->phase = PH_UPSTREAM;
            r->pidx = 0;
            break;
        }
        case PH_UPSTREAM:
            start_upstream(r);
            return;
        case PH_RESPONSE: {
            uint64_t mut0 = host_json_mutations();
            if (r->pidx > 0)
                r->resp_raw = NULL; /* resumed after a pause: changes may have happened meanwhile */
            act = run_list(r, GANTRY_KIND_GUARDRAIL);
            if (host_json_mutations() != mut0)
                r->resp_raw = NULL; /* a guardrail rewrote the answer */
            if (act == GANTRY_PAUSE)
                return;
            if (act == GANTRY_FAIL || act == GANTRY_RESPOND) {
                pipe_fail(r);
                return;
            }
            if (guard_pending(r) > 0) {
                guard_park(r); /* a during_call verdict is still out: guard_deliver() goes on */
                return;
            }
            send_response(r);
            return;
        }
        case PH_SENT:
        case PH_DONE:
            return;
        }
    }
}

int pipe_cache_hit(req_t *r, const char *value, size_t len)
{
    return cache_take_hit(r, value, len);
}

/* ---- upstream results ---- */

int pipe_upstream_frame(req_t *r, const gantry_frame_t *f)
{
    if (r->client_gone || r->stream_done)
        return r->stream_done ? 0 : -1;
    inst_t *prov = r->dep->provider;
    if (prov->ops->parse_frame == NULL)
        return -1;
    enter(r);
    gantry_action_t act = settle(r, prov->ops->parse_frame(r, prov->state, r->dep->pstate, f));
    if (act == GANTRY_PAUSE) {
        r->paused = false;
        act = GANTRY_FAIL;
        req_set_error(r, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL, NULL,
                      "provider paused in parse_frame()");
    }
    if (act == GANTRY_FAIL) {
        /* Before the first byte reached the client the attempt can still be retried; that is
         * decided when the transfer has ended (pipe_upstream_done sees r->failed). */
        if (r->started)
            upstream_error(r);
        return -1;
    }
    return 0;
}

static void map_upstream_error(req_t *r, int status, const char *body, size_t len, int64_t retry)
{
    inst_t *prov = r->dep->provider;
    gantry_error_t e = {.size = sizeof e};
    e.status = status;
    e.retry_after_ms = retry;
    e.class_ = status == 401 || status == 403 ? GANTRY_ERR_AUTH
               : status == 404                ? GANTRY_ERR_NOT_FOUND
               : status == 408                ? GANTRY_ERR_TIMEOUT
               : status == 429                ? GANTRY_ERR_RATE_LIMIT
               : status >= 500                ? GANTRY_ERR_SERVER
                                              : GANTRY_ERR_BAD_REQUEST;
    e.type = GANTRY_STR_LIT("api_error");
    if (prov->ops->map_error != NULL) {
        gantry_str_t b = {body ? body : "", len};
        prov->ops->map_error(r, prov->state, r->dep->pstate, status, b, &e);
    }
    if (e.message.len == 0)
        e.message = GANTRY_STR_LIT("the upstream provider returned an error");
    if (e.status < 400 || e.status > 599)
        e.status = 502;
    r->failed = true;
    r->err = e;
}

void pipe_upstream_done(req_t *r, up_result_t res, int status, const char *body, size_t len,
                        const char *errtext, int64_t retry_after_ms)
{
    if (r->client_gone || res == UP_ABORTED || r->final_sent) {
        pipe_attempt_end(r, !r->failed && !r->client_gone);
        return;
    }
    char msg[512];
    switch (res) {
    case UP_OK:
        break;
    case UP_CONNECT:
        snprintf(msg, sizeof msg, "could not connect to the upstream provider (%s)", errtext);
        req_set_error(r, 502, GANTRY_ERR_CONNECT, "api_connection_error", "upstream_connect_failed",
                      NULL, msg);
        upstream_error(r);
        return;
    case UP_TIMEOUT:
        req_set_error(r, 504, GANTRY_ERR_TIMEOUT, "timeout", "upstream_timeout", NULL,
                      "the upstream provider did not answer in time");
        upstream_error(r);
        return;
    case UP_TOO_LARGE:
        req_set_error(r, 502, GANTRY_ERR_SERVER, "api_error", "upstream_response_too_large", NULL,
                      "the upstream response exceeded max_response_bytes");
        upstream_error(r);
        return;
    case UP_BROKEN:
    case UP_ABORTED:
        if (!r->failed) { /* unless a provider already said why */
            snprintf(msg, sizeof msg, "the upstream connection failed mid-response (%s)", errtext);
            req_set_error(r, 502, GANTRY_ERR_SERVER, "api_error", "upstream_broken", NULL, msg);
        }
        upstream_error(r);
        return;
    }
    if (status < 200 || status >= 300) {
        map_upstream_error(r, status, body, len, retry_after_ms);
        upstream_error(r);
        return;
    }
    if (r->stream) {
        if (!r->stream_done && !(r->guard != NULL && r->guard->end_deferred)) {
            req_set_error(r, 502, GANTRY_ERR_SERVER, "api_error", "upstream_stream_incomplete",
                          NULL, "the upstream stream ended without its final event");
            upstream_error(r);
        }
        return;
    }
    inst_t *prov = r->dep->provider;
    enter(r);
    gantry_str_t b = {body ? body : "", len};
    gantry_action_t act =
        settle(r, prov->ops->parse_response(r, prov->state, r->dep->pstate, status, b));
    if (act == GANTRY_PAUSE) {
        r->paused = false;
        act = GANTRY_FAIL;
        req_set_error(r, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL, NULL,
                      "provider paused in parse_response()");
    }
    if (act == GANTRY_FAIL) {
        upstream_error(r);
        return;
    }
    if (r->resp != NULL)
        req_take_usage(r, cJSON_GetObjectItemCaseSensitive(r->resp, "usage"));
    pipe_attempt_end(r, true);
    r->phase = PH_RESPONSE;
    r->pidx = 0;
    run(r);
}

/* ---- streaming ---- */

static bool has_content(const cJSON *chunk)
{
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(chunk, "choices");
    const cJSON *c;
    cJSON_ArrayForEach(c, choices)
    {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(c, "delta");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(d, "content");
        if ((cJSON_IsString(t) && t->valuestring[0] != '\0') ||
            cJSON_GetObjectItemCaseSensitive(d, "tool_calls") != NULL)
            return true;
    }
    return false;
}

int pipe_stream_chunk(req_t *r, cJSON *chunk, const char *raw, size_t raw_len)
{
    uint64_t mut0 = host_json_mutations();
    if (r->client_gone || r->stream_done || r->final_sent || !r->stream) {
        cJSON_Delete(chunk);
        return r->stream ? GANTRY_ESTATE : GANTRY_EINVAL;
    }
    req_hold(r);
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(chunk, "usage");
    if (cJSON_IsObject(usage))
        req_take_usage(r, usage);
    if (!r->chunk_seen && has_content(chunk)) {
        r->chunk_seen = true;
        r->t_first = now_us();
    }
    size_t n = r->gen->nkind[GANTRY_KIND_GUARDRAIL];
    for (size_t i = 0; i < n; i++) {
        inst_t *in = r->gen->by_kind[GANTRY_KIND_GUARDRAIL][i];
        if (in->ops->check_chunk == NULL || !guard_runs(r, in, GANTRY_GUARD_POST_CALL))
            continue;
        enter(r);
        gantry_action_t act =
            settle(r, in->ops->check_chunk(r, in->state, wstate(r, in), (gantry_json_t *)chunk));
        if (act == GANTRY_PAUSE) {
            r->paused = false;
            act = GANTRY_FAIL;
            req_set_error(r, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL, NULL,
                          "a guardrail paused inside a stream");
        }
        act = guard_settle(r, in, act);
        if (act != GANTRY_CONTINUE) {
            cJSON_Delete(chunk);
            pipe_fail(r);
            req_release(r);
            return GANTRY_OK;
        }
    }
    if (r->hist != NULL)
        hist_chunk(r, chunk); /* what the client sees, after the guardrails */
    if (r->cache_store)
        cache_chunk(r, chunk); /* the same, for the cache */
    if (!r->include_usage && usage != NULL) {
        /* The usage chunk was asked for by the gateway, not the client: keep it to ourselves. */
        const cJSON *choices = cJSON_GetObjectItemCaseSensitive(chunk, "choices");
        if (cJSON_GetArraySize(choices) == 0) {
            cJSON_Delete(chunk);
            req_release(r);
            return GANTRY_OK;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(chunk, "usage");
        raw = NULL;
    }
    if (raw != NULL && r->api->native && host_json_mutations() == mut0) {
        /* Nobody changed the chunk: relay the upstream's own bytes instead of printing them again.
         */
        char pre[] = "data: ";
        if (!r->final_sent && r->h != NULL) {
            resp_stream_push(r, pre, 6, false);
            resp_stream_push(r, raw, raw_len, false);
            resp_stream_push(r, "\n\n", 2, false);
        }
        cJSON_Delete(chunk);
        req_release(r);
        return GANTRY_OK;
    }
    buf_t b = {0};
    r->api->chunk(r, chunk, &b);
    cJSON_Delete(chunk);
    resp_stream_push(r, b.ptr, b.len, false);
    buf_free(&b);
    req_release(r);
    return GANTRY_OK;
}

void pipe_stream_end(req_t *r)
{
    if (r->stream_done || r->final_sent || r->client_gone)
        return;
    if (guard_pending(r) > 0) {
        /* The end waits for the last verdicts (stream windows); guard_deliver() comes back. */
        if (r->dep != NULL && r->dep->provider->ops->invoke != NULL)
            r->paused = false; /* a local provider's PAUSE ends with its stream */
        guard_defer_end(r);
        return;
    }
    req_hold(r);
    if (r->dep != NULL && r->dep->provider->ops->invoke != NULL && r->t_up_start != 0 &&
        r->paused) {
        r->t_up_total += now_us() - r->t_up_start;
        r->paused = false; /* a local provider's PAUSE ends with its stream */
    }
    pipe_attempt_end(r, true);
    if (r->hist != NULL && !r->failed)
        hist_finish(r); /* before the last bytes go out: see send_response() */
    if (r->cache_store && !r->failed)
        cache_stream_done(r);
    gov_charge(r); /* the final usage is in: before the last bytes go out */
    buf_t b = {0};
    r->api->stream_end(r, &b);
    r->phase = PH_SENT;
    if (r->t_end == 0)
        r->t_end = now_us();
    resp_stream_push(r, b.ptr, b.len, true);
    buf_free(&b);
    req_release(r);
}

void pipe_continue(req_t *r)
{
    req_hold(r);
    run(r);
    req_release(r);
}

void pipe_log(req_t *r)
{
    gov_finish(r); /* spend, token counts for the limits, references */
    guard_log_copy(r); /* logging_only guardrails mask what the loggers see */
    size_t n = r->gen->nkind[GANTRY_KIND_LOGGER];
    for (size_t i = 0; i < n; i++) {
        inst_t *in = r->gen->by_kind[GANTRY_KIND_LOGGER][i];
        in->ops->log(r, in->state, wstate(r, in));
    }
}
