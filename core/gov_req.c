/*
 * gov_req: governance on the request path - virtual-key auth, model access, budgets, rate limits
 * and spend.  Everything here reads the worker's directory snapshot and atomics; the only database
 * work is the spend row, queued for the store thread at the end.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cost.h"
#include "gen.h"
#include "gov.h"
#include "gov_int.h"
#include "host.h"
#include "log.h"
#include "pipe.h"
#include "req.h"
#include "srv.h"
#include "store.h"
#include "util.h"

/* ---- the caller's credential ---- */

static bool header(req_t *r, const char *name, size_t len, h2o_iovec_t *out)
{
    if (r->h == NULL)
        return false;
    ssize_t i = h2o_find_header_by_str(&r->h->headers, name, len, -1);
    if (i < 0)
        return false;
    *out = r->h->headers.entries[i].value;
    return true;
}

static h2o_iovec_t trim(h2o_iovec_t v)
{
    while (v.len > 0 && isspace((unsigned char)v.base[0]))
        v.base++, v.len--;
    while (v.len > 0 && isspace((unsigned char)v.base[v.len - 1]))
        v.len--;
    return v;
}

/* Authorization: Bearer <key>, else x-api-key, else api-key (the master-key plugin's order). */
static h2o_iovec_t credential(req_t *r)
{
    h2o_iovec_t v;
    if (header(r, H2O_STRLIT("authorization"), &v)) {
        v = trim(v);
        if (v.len > 7 && strncasecmp(v.base, "bearer ", 7) == 0)
            return trim(h2o_iovec_init(v.base + 7, v.len - 7));
    }
    if (header(r, H2O_STRLIT("x-api-key"), &v) && (v = trim(v)).len > 0)
        return v;
    if (header(r, H2O_STRLIT("api-key"), &v) && (v = trim(v)).len > 0)
        return v;
    return h2o_iovec_init(NULL, 0);
}

/* ---- auth ---- */

/* In the request's arena: no malloc of its own on the hot path, gone with the request. */
static gov_ctx_t *ctx_new(req_t *r)
{
    if (r->gov == NULL && (r->gov = arena_alloc(&r->arena, sizeof *r->gov)) != NULL)
        memset(r->gov, 0, sizeof *r->gov);
    return r->gov;
}

static bool deny(req_t *r, int status, const char *code, const char *msg)
{
    req_set_error(r, status, status == 401 ? GANTRY_ERR_AUTH : GANTRY_ERR_BAD_REQUEST,
                  status == 401 ? "invalid_request_error" : "permission_error", code, NULL, msg);
    return false;
}

/* LiteLLM's allowed_routes: literal paths, path prefixes ending in '*', or route classes. */
static bool route_allowed(const cJSON *allowed, const char *path)
{
    if (allowed == NULL || cJSON_GetArraySize(allowed) == 0)
        return true;
    gov_route_class_t cls = gov_route_class(path);
    const cJSON *it;
    cJSON_ArrayForEach(it, allowed)
    {
        if (!cJSON_IsString(it))
            continue;
        const char *a = it->valuestring;
        size_t n = strlen(a);
        if (strcmp(a, path) == 0 || (n > 0 && a[n - 1] == '*' && strncmp(a, path, n - 1) == 0))
            return true;
        if ((strcmp(a, "llm_api_routes") == 0 || strcmp(a, "openai_routes") == 0 ||
             strcmp(a, "anthropic_routes") == 0) &&
            cls == GOV_ROUTE_LLM)
            return true;
        if (strcmp(a, "info_routes") == 0 && (cls == GOV_ROUTE_INFO || cls == GOV_ROUTE_LLM_INFO))
            return true;
        if (strcmp(a, "management_routes") == 0 && cls == GOV_ROUTE_MANAGEMENT)
            return true;
        if ((strcmp(a, "spend_tracking_routes") == 0 ||
             strcmp(a, "global_spend_tracking_routes") == 0) &&
            cls == GOV_ROUTE_SPEND)
            return true;
    }
    return false;
}

static const char *path_of(req_t *r, char *buf, size_t len)
{
    if (r->h == NULL)
        return r->route ? r->route : "";
    size_t n = r->h->path_normalized.len < len - 1 ? r->h->path_normalized.len : len - 1;
    memcpy(buf, r->h->path_normalized.base, n);
    buf[n] = '\0';
    return buf;
}

bool gov_authenticate(req_t *r)
{
    const gov_snap_t *s = gov_snap(r->w);
    if (s == NULL || r->gen->cfg->master_key == NULL)
        return true; /* no governance: the auth plugins decide alone */
    gov_ctx_t *g = ctx_new(r);
    if (g == NULL)
        return deny(r, 500, "internal_error", "out of memory");
    if (r->has_principal) {
        /* An auth plugin accepted the caller; the master key is the proxy admin. */
        g->master = r->principal.role.len == 11 && memcmp(r->principal.role.ptr, "proxy_admin", 11) == 0;
        g->role = g->master ? "proxy_admin" : "internal_user";
        return true;
    }
    h2o_iovec_t tok = credential(r);
    if (tok.len == 0)
        return true; /* the core answers 401 for a missing key */
    char hash[65];
    sha256_hex(tok.base, tok.len, hash);
    gov_rec_t *key = gov_find(s, GOV_KEY, hash, 64);
    if (key == NULL)
        return deny(r, 401, "invalid_api_key",
                    "Authentication Error: invalid API key (not the master key, and no virtual key "
                    "matches it).");
    g->ent[GOV_KEY] = key;
    if (key->expires_ms != 0 && unix_ms() >= key->expires_ms)
        return deny(r, 401, "expired_key", "Authentication Error: this key has expired.");
    if (key->blocked)
        return deny(r, 401, "key_blocked", "Authentication Error: this key is blocked.");
    if (key->user_id != NULL)
        g->ent[GOV_USER] = gov_find(s, GOV_USER, key->user_id, strlen(key->user_id));
    if (key->team_id != NULL)
        g->ent[GOV_TEAM] = gov_find(s, GOV_TEAM, key->team_id, strlen(key->team_id));
    const char *org = key->org_id ? key->org_id
                      : g->ent[GOV_TEAM] ? g->ent[GOV_TEAM]->org_id
                                         : NULL;
    if (org != NULL)
        g->ent[GOV_ORG] = gov_find(s, GOV_ORG, org, strlen(org));
    if (key->budget_id != NULL)
        g->ent[GOV_BUDGET] = gov_find(s, GOV_BUDGET, key->budget_id, strlen(key->budget_id));
    if (g->ent[GOV_TEAM] != NULL && g->ent[GOV_TEAM]->blocked)
        return deny(r, 401, "team_blocked",
                    "Authentication Error: this key's team is blocked; ask a proxy admin.");
    if (g->ent[GOV_USER] != NULL && g->ent[GOV_USER]->blocked)
        return deny(r, 401, "user_blocked", "Authentication Error: this key's user is blocked.");
    g->role = g->ent[GOV_USER] && g->ent[GOV_USER]->role ? g->ent[GOV_USER]->role : "internal_user";
    char pb[256];
    if (!route_allowed(key->allowed_routes, path_of(r, pb, sizeof pb)))
        return deny(r, 401, "route_not_allowed",
                    "Authentication Error: this key may not call this route (allowed_routes).");

    gantry_principal_t p = {
        .size = sizeof p,
        .id = {key->id, 64},
        .name = key->alias ? (gantry_str_t){key->alias, strlen(key->alias)} : GANTRY_STR_NULL,
        .role = {g->role, strlen(g->role)},
        .user_id = key->user_id ? (gantry_str_t){key->user_id, strlen(key->user_id)}
                                : GANTRY_STR_NULL,
        .team_id = key->team_id ? (gantry_str_t){key->team_id, strlen(key->team_id)}
                                : GANTRY_STR_NULL,
    };
    if (host_table.req_set_principal(r, &p) < 0)
        return deny(r, 500, "internal_error", "out of memory");
    return true;
}

/* The customer (end user) is known once the body is parsed: the request's `user`. */
static bool resolve_customer(req_t *r)
{
    gov_ctx_t *g = r->gov;
    if (g == NULL || g->ent[GOV_CUSTOMER] != NULL || r->end_user.len == 0)
        return true;
    const gov_snap_t *s = gov_snap(r->w);
    gov_rec_t *c = gov_find(s, GOV_CUSTOMER, r->end_user.ptr, r->end_user.len);
    if (c == NULL)
        return true;
    g->ent[GOV_CUSTOMER] = c;
    if (c->budget_id != NULL)
        g->cust_budget = gov_find(s, GOV_BUDGET, c->budget_id, strlen(c->budget_id));
    if (c->blocked) {
        req_set_error(r, 403, GANTRY_ERR_BAD_REQUEST, "permission_error", "customer_blocked",
                      "user", "This end user (the request's 'user') is blocked.");
        return false;
    }
    return true;
}

/* ---- model access ---- */

static bool wildcard(const char *pat, const char *s)
{
    size_t n = strlen(pat);
    if (n == 0 || pat[n - 1] != '*')
        return strcmp(pat, s) == 0;
    return strncmp(pat, s, n - 1) == 0;
}

/* Does one models list entry allow the group? */
static bool entry_allows(const char *e, const group_t *grp)
{
    if (strcmp(e, "*") == 0 || strcmp(e, "all-proxy-models") == 0)
        return true;
    if (wildcard(e, grp->name))
        return true;
    for (size_t i = 0; i < grp->ndeps; i++) {
        const cfg_deployment_t *d = grp->deps[i]->cfg;
        if (d->model != NULL && strchr(e, '*') != NULL && wildcard(e, d->model))
            return true;
        const cfg_node_t *ag = cfg_map_get(d->info, "access_groups");
        for (size_t k = 0; ag != NULL && ag->kind == CFG_SEQ && k < ag->count; k++) {
            if (ag->items[k]->kind == CFG_STR && strcmp(ag->items[k]->str, e) == 0)
                return true;
        }
    }
    return false;
}

/* An empty or absent list allows what the parent allows. */
static bool list_allows(const gov_rec_t *rec, const group_t *grp)
{
    if (rec == NULL || rec->models == NULL || cJSON_GetArraySize(rec->models) == 0)
        return true;
    const cJSON *it;
    cJSON_ArrayForEach(it, rec->models)
    {
        if (cJSON_IsString(it) && entry_allows(it->valuestring, grp))
            return true;
    }
    return false;
}

static bool allowed(const gov_ctx_t *g, const group_t *grp)
{
    if (g == NULL || g->master || strcmp(g->role, "proxy_admin") == 0)
        return true;
    return list_allows(g->ent[GOV_KEY], grp) && list_allows(g->ent[GOV_TEAM], grp) &&
           list_allows(g->ent[GOV_USER], grp) && list_allows(g->ent[GOV_ORG], grp);
}

const char *gov_model_alias(req_t *r, const char *model, size_t len)
{
    const gov_ctx_t *g = r->gov;
    const gov_rec_t *t = g ? g->ent[GOV_TEAM] : NULL;
    if (t == NULL || t->model_aliases == NULL)
        return NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, t->model_aliases)
    {
        if (cJSON_IsString(it) && strlen(it->string) == len && memcmp(it->string, model, len) == 0)
            return it->valuestring;
    }
    return NULL;
}

bool gov_model_allowed(req_t *r, const char *group)
{
    const group_t *grp = gen_group(r->gen, group, strlen(group));
    if (grp == NULL || allowed(r->gov, grp))
        return true;
    char msg[400];
    snprintf(msg, sizeof msg,
             "Authentication Error: this key may not call model '%.200s' (not in the models of "
             "its key, team or user).",
             group);
    req_set_error(r, 401, GANTRY_ERR_AUTH, "invalid_request_error", "model_not_allowed", "model",
                  msg);
    return false;
}

bool gov_model_visible(req_t *r, const char *group)
{
    const group_t *grp = gen_group(r->gen, group, strlen(group));
    return grp != NULL && allowed(r->gov, grp);
}

/* ---- budgets ---- */

static const char *level_name(gov_kind_t k)
{
    static const char *const n[GOV_NKINDS] = {"key", "user", "team", "organization",
                                              "end user (customer)", "budget"};
    return n[k];
}

/* A period that is over starts again at zero (LiteLLM resets on a schedule; we reset when the
 * entity is next used, and the store persists it). */
static void maybe_reset(gov_rec_t *e)
{
    if (e->budget_duration_s <= 0)
        return;
    int64_t now = unix_ms();
    int64_t at = atomic_load(&e->cell->reset_at);
    if (at == 0) {
        int64_t next = now + e->budget_duration_s * 1000;
        if (atomic_compare_exchange_strong(&e->cell->reset_at, &at, next))
            gov_store_reset(e, 0, next, false);
        return;
    }
    if (now < at)
        return;
    int64_t next = now + e->budget_duration_s * 1000;
    if (atomic_compare_exchange_strong(&e->cell->reset_at, &at, next)) {
        atomic_store(&e->cell->spend, 0);
        atomic_store(&e->cell->alerted, 0);
        gov_store_reset(e, 0, next, true);
    }
}

static bool over_budget(req_t *r, gov_rec_t *e, const char *what)
{
    if (e == NULL)
        return false;
    maybe_reset(e);
    if (e->max_budget < 0)
        return false;
    int64_t spend = atomic_load_explicit(&e->cell->spend, memory_order_relaxed);
    if (spend < e->max_budget)
        return false;
    char msg[400];
    snprintf(msg, sizeof msg,
             "Budget has been exceeded! The %s budget is spent: current cost %.6f, max budget "
             "%.6f (USD)%s%s.",
             what, (double)spend / GOV_NUSD, (double)e->max_budget / GOV_NUSD,
             e->alias ? " - " : "", e->alias ? e->alias : "");
    req_set_error(r, 400, GANTRY_ERR_BUDGET, "budget_exceeded", "budget_exceeded", NULL, msg);
    return true;
}

/* The key's spend on this model group, in the key's current budget period. */
static gov_cell_t *model_cell(gov_rec_t *key, const char *group)
{
    if (key == NULL || cJSON_GetObjectItemCaseSensitive(key->model_max_budget, group) == NULL)
        return NULL;
    gov_cell_t *mc = gov_model_cell(key->id, group);
    if (mc == NULL)
        return NULL;
    int64_t period = atomic_load(&key->cell->reset_at);
    int64_t seen = atomic_load(&mc->reset_at);
    if (seen != period && atomic_compare_exchange_strong(&mc->reset_at, &seen, period)) {
        atomic_store(&mc->spend, 0);
        char id[400];
        snprintf(id, sizeof id, "%s|%s", key->id, group);
        gov_store_reset_id("keymodel", id, period, true);
    }
    return mc;
}

/* model_max_budget: {"gpt-4o": 5.0} on the key, in USD per the key's budget period. */
static bool over_model_budget(req_t *r, gov_rec_t *key, const char *group)
{
    gov_cell_t *mc = model_cell(key, group);
    const cJSON *v = key ? cJSON_GetObjectItemCaseSensitive(key->model_max_budget, group) : NULL;
    if (mc == NULL || !cJSON_IsNumber(v))
        return false;
    int64_t max = (int64_t)(v->valuedouble * GOV_NUSD + 0.5);
    int64_t spend = atomic_load(&mc->spend);
    if (spend < max)
        return false;
    char msg[400];
    snprintf(msg, sizeof msg,
             "Budget has been exceeded! The key's budget for model '%.100s' is spent: current "
             "cost %.6f, max budget %.6f (USD).",
             group, (double)spend / GOV_NUSD, (double)max / GOV_NUSD);
    req_set_error(r, 400, GANTRY_ERR_BUDGET, "budget_exceeded", "budget_exceeded", "model", msg);
    return true;
}

/* ---- rate limits ---- */

/*
 * One limiter for the process, made on first use: a gateway without limits never pays for its
 * table (about 600 bytes per subject).  general_settings.rate_limit_subjects sizes it (default
 * 16384 subjects in use at once; a subject idle for two minutes gives its place up; beyond that
 * the limits fail open with a warning, see rl.h).
 */
static _Atomic(rl_table_t *) limiter_;
static size_t limiter_capacity = 16384;

static rl_table_t *get_limiter(void)
{
    rl_table_t *t = atomic_load_explicit(&limiter_, memory_order_acquire);
    if (t != NULL)
        return t;
    rl_table_t *mine = rl_new(limiter_capacity, NULL);
    if (mine == NULL)
        return NULL;
    if (!atomic_compare_exchange_strong(&limiter_, &t, mine)) {
        rl_free(mine); /* another worker made it first */
        return t;
    }
    return mine;
}

static bool subject(gov_ctx_t *g, const char *fmt, const char *a, const char *b)
{
    if (g->nsubj >= sizeof g->subj / sizeof g->subj[0])
        return false;
    snprintf(g->subj[g->nsubj].name, sizeof g->subj[0].name, fmt, a, b ? b : "");
    return true;
}

/* The most constraining figures, for the x-ratelimit headers. */
typedef struct shown {
    int64_t limit_req, rem_req, limit_tok, rem_tok;
} shown_t;

static void note(shown_t *sh, const rl_decision_t *d)
{
    if (d->limit_requests > 0 && (sh->limit_req == 0 || d->remaining_requests < sh->rem_req)) {
        sh->limit_req = d->limit_requests;
        sh->rem_req = d->remaining_requests;
    }
    if (d->limit_tokens > 0 && (sh->limit_tok == 0 || d->remaining_tokens < sh->rem_tok)) {
        sh->limit_tok = d->limit_tokens;
        sh->rem_tok = d->remaining_tokens;
    }
}

static void num_header(req_t *r, const char *name, int64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%lld", (long long)(v < 0 ? 0 : v));
    req_add_header(r, name, buf, (size_t)n);
}

static int64_t model_limit(const cJSON *map, const char *group)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(map, group);
    return cJSON_IsNumber(v) && v->valuedouble > 0 ? (int64_t)v->valuedouble : 0;
}

static int64_t estimate_tokens(req_t *r)
{
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(r->body, "max_completion_tokens");
    if (!cJSON_IsNumber(mt))
        mt = cJSON_GetObjectItemCaseSensitive(r->body, "max_tokens");
    int64_t out = cJSON_IsNumber(mt) && mt->valuedouble > 0 ? (int64_t)mt->valuedouble : 0;
    /* About four bytes of JSON per prompt token: cheap, and settled to the truth at the end. */
    int64_t in = r->h != NULL ? (int64_t)r->h->entity.len / 4 : 0;
    return in + out;
}

/*
 * Limit rules of the policies (time-of-day limits and the like): each matching rule counts the
 * requests of its `per` subject on a counter of its own, so a daytime and a night-time rule never
 * share a window.
 */
static void policy_limits(req_t *r, rl_limits_t *lim)
{
    gov_ctx_t *g = r->gov;
    if (r->gen->policies == NULL)
        return;
    pipe_pol_t pp;
    pipe_policy_input(r, &pp);
    const pol_result_t *hits[4];
    size_t n = pol_limits(r->gen->policies, &pp.in, hits, 4);
    for (size_t i = 0; i < n; i++) {
        const pol_result_t *h = hits[i];
        const char *who = h->per == POL_PER_KEY        ? pp.in.key_hash
                          : h->per == POL_PER_USER     ? pp.in.user_id
                          : h->per == POL_PER_TEAM     ? pp.in.team_id
                          : h->per == POL_PER_CUSTOMER ? pp.in.customer
                                                       : "all";
        if (who == NULL)
            continue; /* the request has no such subject: the rule limits nobody here */
        lim[g->nsubj] = (rl_limits_t){h->rpm, h->tpm, h->max_parallel};
        if (subject(g, "policy %s:%s", h->rule, who))
            g->nsubj++;
    }
}

static bool limits(req_t *r)
{
    gov_ctx_t *g = r->gov;
    const char *group = r->group->name;
    rl_limits_t lim[sizeof g->subj / sizeof g->subj[0]];
    g->nsubj = 0;
    for (int k = 0; k < GOV_NKINDS; k++) {
        gov_rec_t *e = g->ent[k];
        if (e == NULL || (e->rpm == 0 && e->tpm == 0 && e->max_parallel == 0))
            continue;
        lim[g->nsubj] = (rl_limits_t){e->rpm, e->tpm, e->max_parallel};
        if (subject(g, "%s:%s", gov_kind_name((gov_kind_t)k), e->id))
            g->nsubj++;
    }
    policy_limits(r, lim);
    gov_rec_t *key = g->ent[GOV_KEY];
    if (key != NULL) {
        int64_t mr = model_limit(key->model_rpm, group), mt = model_limit(key->model_tpm, group);
        if ((mr > 0 || mt > 0) && subject(g, "key-model:%s|%s", key->id, group)) {
            lim[g->nsubj] = (rl_limits_t){mr, mt, 0};
            g->nsubj++;
        }
    }
    if (g->nsubj == 0)
        return true;
    rl_table_t *limiter = get_limiter();
    if (limiter == NULL) {
        g->nsubj = 0;
        return true; /* out of memory: limits fail open, as a full table does */
    }
    g->est_tokens = estimate_tokens(r);
    shown_t sh = {0};
    int64_t now = unix_ms();
    for (unsigned i = 0; i < g->nsubj; i++) {
        rl_decision_t d;
        if (rl_check(limiter, g->subj[i].name, lim[i], now, g->est_tokens, &d)) {
            g->subj[i].ticket = d.ticket;
            note(&sh, &d);
            continue;
        }
        for (unsigned j = 0; j < i; j++)
            rl_cancel(limiter, g->subj[j].name, &g->subj[j].ticket, now);
        g->nsubj = 0;
        const char *which = d.denied & RL_DENY_REQUESTS ? "requests per minute (rpm)"
                            : d.denied & RL_DENY_TOKENS ? "tokens per minute (tpm)"
                                                        : "parallel requests";
        char msg[400];
        const char *colon = strchr(g->subj[i].name, ':');
        snprintf(msg, sizeof msg, "Rate limit exceeded: the %.*s limit of %s is reached (%s).",
                 colon ? (int)(colon - g->subj[i].name) : 0, g->subj[i].name, which,
                 d.retry_after_ms >= 0 ? "retry after the Retry-After seconds"
                                       : "this request alone is over the limit");
        req_set_error(r, 429, GANTRY_ERR_RATE_LIMIT, "rate_limit_error", "rate_limit_exceeded",
                      NULL, msg);
        r->err.retry_after_ms = d.retry_after_ms >= 0 ? d.retry_after_ms : 60000;
        note(&sh, &d);
        if (sh.limit_req > 0) {
            num_header(r, "x-ratelimit-limit-requests", sh.limit_req);
            num_header(r, "x-ratelimit-remaining-requests", 0);
        }
        if (sh.limit_tok > 0) {
            num_header(r, "x-ratelimit-limit-tokens", sh.limit_tok);
            num_header(r, "x-ratelimit-remaining-tokens", sh.rem_tok);
        }
        return false;
    }
    g->counted = true;
    if (sh.limit_req > 0) {
        num_header(r, "x-ratelimit-limit-requests", sh.limit_req);
        num_header(r, "x-ratelimit-remaining-requests", sh.rem_req);
    }
    if (sh.limit_tok > 0) {
        num_header(r, "x-ratelimit-limit-tokens", sh.limit_tok);
        num_header(r, "x-ratelimit-remaining-tokens", sh.rem_tok);
    }
    return true;
}

bool gov_admit(req_t *r)
{
    /* Without keys (no master key) only the policies' limit rules can apply. */
    if (r->gov == NULL && r->gen->policies != NULL && ctx_new(r) == NULL)
        return deny(r, 500, "internal_error", "out of memory");
    gov_ctx_t *g = r->gov;
    if (g == NULL || r->group == NULL)
        return true;
    if (!resolve_customer(r))
        return false;
    static const gov_kind_t order[] = {GOV_KEY, GOV_BUDGET, GOV_USER, GOV_TEAM, GOV_ORG,
                                       GOV_CUSTOMER};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (over_budget(r, g->ent[order[i]], level_name(order[i])))
            return false;
    }
    if (over_budget(r, g->cust_budget, "end user's budget"))
        return false;
    if (over_model_budget(r, g->ent[GOV_KEY], r->group->name))
        return false;
    return limits(r);
}

/* ---- the end ---- */

static const cost_table_t *prices;

/* The request's cost in nano-dollars (0 for a cache hit or an unknown price). */
static int64_t cost_nusd(req_t *r)
{
    if (r->cache_hit || r->dep == NULL || (r->prompt_tokens <= 0 && r->completion_tokens <= 0))
        return 0;
    const cfg_deployment_t *d = r->dep->cfg;
    const cost_price_t *p = prices ? cost_lookup(prices, d->prefix, d->model_id) : NULL;
    cost_override_t ov = COST_OVERRIDE_NONE;
    ov.input = r->dep->cost_in;
    ov.output = r->dep->cost_out;
    cost_usage_t u = {.prompt_tokens = r->prompt_tokens > 0 ? r->prompt_tokens : 0,
                      .completion_tokens = r->completion_tokens > 0 ? r->completion_tokens : 0,
                      .cache_read_tokens = r->cached_tokens > 0 ? r->cached_tokens : 0,
                      .cache_write_tokens = r->cache_write_tokens > 0 ? r->cache_write_tokens : 0,
                      .input_only = r->endpoint == GANTRY_EP_EMBEDDINGS};
    cost_breakdown_t b;
    if (cost_of(p, &ov, &u, &b) != 0)
        return 0;
    return (int64_t)(b.total * GOV_NUSD + 0.5);
}

void gov_charge(req_t *r)
{
    gov_ctx_t *g = r->gov;
    if (g == NULL || g->charged)
        return;
    g->charged = true;
    int64_t cost = cost_nusd(r);
    g->cost = cost;
    {
        gov_cell_t *mc = cost > 0 && r->group ? model_cell(g->ent[GOV_KEY], r->group->name) : NULL;
        if (mc != NULL)
            atomic_fetch_add(&mc->spend, cost);
        gov_rec_t *payers[GOV_NKINDS + 1];
        memcpy(payers, g->ent, sizeof g->ent);
        payers[GOV_NKINDS] = g->cust_budget;
        for (int k = 0; k <= GOV_NKINDS; k++) {
            if (payers[k] != NULL && cost > 0) {
                int64_t before = atomic_fetch_add(&payers[k]->cell->spend, cost);
                atomic_fetch_add(&payers[k]->cell->total, cost);
                gov_alert_check(payers[k], before, before + cost);
            }
        }
    }
}

void gov_finish(req_t *r)
{
    gov_ctx_t *g = r->gov;
    bool on = store_is_open() && r->gen->cfg->master_key != NULL && gov_snap(r->w) != NULL;
    gov_charge(r); /* when the answer did not get there (failures, client gone) */
    int64_t cost = g != NULL ? g->cost : on ? cost_nusd(r) : 0;
    if (g != NULL) {
        int64_t now = unix_ms();
        rl_table_t *limiter = atomic_load(&limiter_);
        for (unsigned i = 0; g->counted && i < g->nsubj; i++) {
            int64_t used = (r->prompt_tokens > 0 ? r->prompt_tokens : 0) +
                           (r->completion_tokens > 0 ? r->completion_tokens : 0);
            rl_settle(limiter, g->subj[i].name, &g->subj[i].ticket, used, now);
            rl_release(limiter, g->subj[i].name, &g->subj[i].ticket, now);
        }
    }
    /* Only requests that reached the model pipeline are spend (not management calls). */
    if (on && r->group != NULL)
        gov_store_spend(r, cost);
    if (g != NULL) {
        for (int k = 0; k < GOV_NKINDS; k++)
            gov_unref(g->ent[k]);
        gov_unref(g->cust_budget);
        r->gov = NULL; /* the arena frees it */
    }
}

int gov_req_init(void)
{
    char err[256];
    prices = cost_table_load(NULL, err, sizeof err);
    if (prices == NULL)
        log_warn("model prices not loaded (%s): costs count as 0", err);
    const cfg_node_t *gs = srv.cfg ? cfg_map_get(srv.cfg->doc->root, "general_settings") : NULL;
    int64_t cap;
    if (cfg_get_int(gs, "rate_limit_subjects", &cap) && cap > 0 && cap <= (1 << 24))
        limiter_capacity = (size_t)cap;
    return 0;
}

void gov_req_fini(void)
{
    rl_free(atomic_exchange(&limiter_, NULL));
    cost_table_free((cost_table_t *)prices);
    prices = NULL;
}
