#include "router.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#include "srv.h"

#define MAX_CANDIDATES 256
#define RT_LATENCY_STALE_US 5000000

uint64_t rt_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static double unit(req_t *r)
{
    return (double)(rt_rand(&r->w->rng) >> 11) * (1.0 / 9007199254740992.0);
}

/* About four characters per token: the usual rule of thumb for English text and code. */
int64_t rt_estimate_tokens(const cJSON *body)
{
    int64_t chars = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(body, "messages"))
    {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (cJSON_IsString(c)) {
            chars += (int64_t)strlen(c->valuestring);
        } else if (cJSON_IsArray(c)) {
            const cJSON *p;
            cJSON_ArrayForEach(p, c)
            {
                const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
                if (cJSON_IsString(t))
                    chars += (int64_t)strlen(t->valuestring);
            }
        }
        chars += 16; /* role and framing */
    }
    return chars / 4 + 1;
}

static bool has_tag(const deployment_t *d, const char *tag)
{
    const cfg_node_t *lists[2] = {cfg_map_get(d->cfg->params, "tags"),
                                  cfg_map_get(d->cfg->info, "tags")};
    for (int k = 0; k < 2; k++) {
        const cfg_node_t *l = lists[k];
        for (size_t i = 0; l != NULL && l->kind == CFG_SEQ && i < l->count; i++) {
            if (l->items[i]->kind == CFG_STR && strcmp(l->items[i]->str, tag) == 0)
                return true;
        }
    }
    return false;
}

/* Can `d` take a request now?  Limits are hard: a deployment at its limit is skipped. */
static bool usable(const deployment_t *dc, int64_t now_us, bool check_health)
{
    deployment_t *d = (deployment_t *)dc;
    const cfg_deployment_t *c = d->cfg;
    if ((check_health && atomic_load_explicit(&d->unhealthy, memory_order_relaxed)) ||
        !rt_available(d, now_us))
        return false;
    if (c->max_parallel > 0 &&
        atomic_load_explicit(&d->st.inflight, memory_order_relaxed) >= c->max_parallel)
        return false;
    int64_t sec = now_us / 1000000;
    if (c->rpm > 0 && rt_window_sum(&d->st, d->st.rq, sec) >= (uint64_t)c->rpm)
        return false;
    if (c->tpm > 0 && rt_window_sum(&d->st, d->st.tk, sec) >= (uint64_t)c->tpm)
        return false;
    return true;
}

bool rt_has_other(req_t *r, const deployment_t *avoid)
{
    group_t *g = r->group;
    int64_t now = now_us();
    for (size_t i = 0; g != NULL && i < g->ndeps; i++) {
        if (g->deps[i] != avoid && usable(g->deps[i], now, true))
            return true;
    }
    return false;
}

static double cost(const deployment_t *d)
{
    if (d->cost_in < 0 && d->cost_out < 0)
        return INFINITY;
    return (d->cost_in > 0 ? d->cost_in : 0) + (d->cost_out > 0 ? d->cost_out : 0);
}

/* simple-shuffle: by weight when any deployment sets one, else by rpm, else tpm, else evenly. */
static deployment_t *shuffle(req_t *r, deployment_t **c, size_t n)
{
    double w[MAX_CANDIDATES], total = 0;
    bool any_weight = false, any_rpm = false, any_tpm = false;
    for (size_t i = 0; i < n; i++) {
        any_weight |= cfg_map_get(c[i]->cfg->params, "weight") != NULL;
        any_rpm |= c[i]->cfg->rpm > 0;
        any_tpm |= c[i]->cfg->tpm > 0;
    }
    for (size_t i = 0; i < n; i++) {
        const cfg_deployment_t *cd = c[i]->cfg;
        w[i] = any_weight ? cd->weight
               : any_rpm  ? (double)cd->rpm
               : any_tpm  ? (double)cd->tpm
                          : 1.0;
        if (w[i] < 0)
            w[i] = 0;
        total += w[i];
    }
    if (total <= 0)
        return c[rt_rand(&r->w->rng) % n];
    double x = unit(r) * total;
    for (size_t i = 0; i < n; i++) {
        x -= w[i];
        if (x < 0)
            return c[i];
    }
    return c[n - 1];
}

/* Choose uniformly among the candidates whose score is within `slack` of the best (lowest). */
static deployment_t *best_of(req_t *r, deployment_t **c, size_t n, const double *score,
                             double slack_ratio)
{
    double best = INFINITY;
    for (size_t i = 0; i < n; i++)
        best = score[i] < best ? score[i] : best;
    double limit = isinf(best) ? INFINITY : best + fabs(best) * slack_ratio;
    deployment_t *ties[MAX_CANDIDATES];
    size_t nt = 0;
    for (size_t i = 0; i < n; i++) {
        if (score[i] <= limit)
            ties[nt++] = c[i];
    }
    return nt ? ties[rt_rand(&r->w->rng) % nt] : c[rt_rand(&r->w->rng) % n];
}

static deployment_t *strategy(req_t *r, deployment_t **c, size_t n, bool cheapest)
{
    const rt_settings_t *s = &r->gen->rt;
    double score[MAX_CANDIDATES];
    rt_strategy_t st = cheapest ? RT_COST : s->strategy;
    int64_t sec = now_us() / 1000000;
    switch (st) {
    case RT_SIMPLE_SHUFFLE:
        return shuffle(r, c, n);
    case RT_LEAST_BUSY:
        for (size_t i = 0; i < n; i++)
            score[i] = atomic_load_explicit(&c[i]->st.inflight, memory_order_relaxed);
        return best_of(r, c, n, score, 0);
    case RT_LATENCY:
        /* Untried deployments score 0 so each gets measured, and so do ones whose figure is older
         * than RT_LATENCY_STALE: one slow spike must not keep a fast deployment out for good.
         * Streams are judged by time to first token. */
        for (size_t i = 0; i < n; i++) {
            int64_t t = r->stream ? atomic_load(&c[i]->st.ttft_us) : 0;
            bool stale = now_us() - atomic_load(&c[i]->st.lat_at_us) > RT_LATENCY_STALE_US;
            score[i] = stale ? 0 : (double)(t > 0 ? t : atomic_load(&c[i]->st.lat_us));
        }
        return best_of(r, c, n, score, s->latency_buffer);
    case RT_USAGE:
        /* Lowest share of its own limit in use; deployments without limits count as empty. */
        for (size_t i = 0; i < n; i++) {
            const cfg_deployment_t *cd = c[i]->cfg;
            double u = 0;
            if (cd->tpm > 0)
                u = (double)rt_window_sum(&c[i]->st, c[i]->st.tk, sec) / (double)cd->tpm;
            if (cd->rpm > 0) {
                double ur = (double)rt_window_sum(&c[i]->st, c[i]->st.rq, sec) / (double)cd->rpm;
                u = ur > u ? ur : u;
            }
            score[i] = u;
        }
        return best_of(r, c, n, score, 0);
    case RT_COST:
        for (size_t i = 0; i < n; i++)
            score[i] = cost(c[i]);
        return best_of(r, c, n, score, 0);
    }
    return c[0];
}

deployment_t *rt_pick(req_t *r, const deployment_t *avoid, const rt_filter_t *f, rt_none_t *why)
{
    group_t *g = r->group;
    *why = RT_NONE_COOLING;
    if (g == NULL || g->ndeps == 0)
        return NULL;
    int64_t now = now_us();
    const rt_settings_t *s = &r->gen->rt;
    int64_t est = -1;
    deployment_t *c[MAX_CANDIDATES];
    bool excluded[MAX_CANDIDATES] = {false};
    size_t ng = g->ndeps < MAX_CANDIDATES ? g->ndeps : MAX_CANDIDATES;
    /* A failed background probe is a hint, not a verdict: when it would leave nothing to try, the
     * deployments are tried anyway (a real request is the better test). */
    bool check_health = true;
    for (int round = 0; round < 5; round++) {
        size_t n = 0, ctx_skipped = 0, policy_skipped = 0, sick = 0;
        for (size_t i = 0; i < ng; i++) {
            deployment_t *d = g->deps[i];
            if (excluded[i])
                continue;
            if (f != NULL &&
                ((f->tag && !has_tag(d, f->tag)) ||
                 (f->region && (d->region == NULL || strcasecmp(d->region, f->region) != 0)) ||
                 (f->deployment && strcmp(d->cfg->id, f->deployment) != 0))) {
                policy_skipped++;
                continue;
            }
            if (s->pre_call_checks && d->max_input_tokens > 0) {
                if (est < 0)
                    est = rt_estimate_tokens(r->body);
                if (est > d->max_input_tokens) {
                    ctx_skipped++;
                    continue;
                }
            }
            if (usable(d, now, check_health))
                c[n++] = d;
            else if (check_health && atomic_load_explicit(&d->unhealthy, memory_order_relaxed))
                sick++;
        }
        if (n == 0 && sick > 0) {
            check_health = false;
            continue;
        }
        if (n == 0) {
            *why = policy_skipped == ng                                    ? RT_NONE_POLICY
                   : ctx_skipped > 0 && ctx_skipped + policy_skipped == ng ? RT_NONE_CONTEXT
                                                                           : RT_NONE_COOLING;
            return NULL;
        }
        /* A retry prefers deployments that have not failed this request yet, while any remain. */
        if (n > 1 && (avoid != NULL || r->ntried > 0)) {
            deployment_t *fresh[MAX_CANDIDATES];
            size_t nf = 0;
            for (size_t i = 0; i < n; i++) {
                bool failed = c[i] == avoid;
                for (int k = 0; k < r->ntried && !failed; k++)
                    failed = c[i] == r->tried[k];
                if (!failed)
                    fresh[nf++] = c[i];
            }
            if (nf > 0) {
                memcpy(c, fresh, nf * sizeof *c);
                n = nf;
            }
        }
        /* Priority tiers: only the lowest `order` present takes traffic. */
        int64_t tier = INT64_MAX;
        for (size_t i = 0; i < n; i++)
            tier = c[i]->cfg->order < tier ? c[i]->cfg->order : tier;
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (c[i]->cfg->order == tier)
                c[m++] = c[i];
        }
        deployment_t *d = strategy(r, c, m, f != NULL && f->cheapest);
        bool probe;
        if (rt_claim(d, &probe)) {
            r->attempt_probe = probe; /* start_upstream() follows at once and opens the attempt */
            return d;
        }
        /* Someone else is probing that recovering deployment: pick again without it. */
        for (size_t i = 0; i < ng; i++) {
            if (g->deps[i] == d)
                excluded[i] = true;
        }
    }
    return NULL;
}
