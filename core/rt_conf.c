/*
 * rt_conf: router_settings (and the litellm_settings / general_settings keys that feed the router)
 * turned into rt_settings_t.  Types were already checked against cfg_schema; this reports the
 * semantic problems (unknown strategy, malformed fallback lists) with positions.
 */
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "rt.h"

static const struct {
    const char *name;
    rt_strategy_t s;
} strategies[] = {
    {"simple-shuffle", RT_SIMPLE_SHUFFLE}, {"least-busy", RT_LEAST_BUSY},
    {"latency-based-routing", RT_LATENCY}, {"usage-based-routing", RT_USAGE},
    {"usage-based-routing-v2", RT_USAGE}, /* LiteLLM's newer name; same policy here */
    {"cost-based-routing", RT_COST},
};

/* LiteLLM's retry_policy / allowed_fails_policy key prefixes, by class. */
static const char *const class_keys[RT_C_COUNT] = {
    "AuthenticationError",         "TimeoutError",        "RateLimitError",
    "ContentPolicyViolationError", "InternalServerError", "BadRequestError",
};

rt_class_t rt_class_of(gantry_error_class_t c)
{
    switch (c) {
    case GANTRY_ERR_AUTH:
        return RT_C_AUTH;
    case GANTRY_ERR_TIMEOUT:
        return RT_C_TIMEOUT;
    case GANTRY_ERR_RATE_LIMIT:
        return RT_C_RATE_LIMIT;
    case GANTRY_ERR_CONTENT_POLICY:
        return RT_C_CONTENT_POLICY;
    case GANTRY_ERR_SERVER:
    case GANTRY_ERR_CONNECT:
    case GANTRY_ERR_INTERNAL:
        return RT_C_SERVER;
    default:
        return RT_C_BAD_REQUEST;
    }
}

static void load_policy(int out[RT_C_COUNT], const cfg_node_t *map, const char *suffix,
                        const char *what)
{
    for (int c = 0; c < RT_C_COUNT; c++)
        out[c] = -1;
    if (map == NULL || map->kind != CFG_MAP)
        return;
    for (size_t i = 0; i < map->count; i++) {
        const cfg_pair_t *p = &map->pairs[i];
        int found = -1;
        for (int c = 0; c < RT_C_COUNT; c++) {
            size_t n = strlen(class_keys[c]);
            if (strncmp(p->key, class_keys[c], n) == 0 && strcmp(p->key + n, suffix) == 0)
                found = c;
        }
        int64_t v;
        if (found < 0) {
            cfg_error(p->value, "unknown key '%s' in %s (expected e.g. 'RateLimitError%s')", p->key,
                      what, suffix);
        } else if (cfg_read_int(p->value, &v) != 0 || v < 0 || v > 100) {
            cfg_error(p->value, "'%s' must be an integer from 0 to 100", p->key);
        } else {
            out[found] = (int)v;
        }
    }
}

static const char *group_name(const cfg_node_t *n)
{
    return n != NULL && n->kind == CFG_STR && n->len > 0 ? n->str : NULL;
}

static void free_list(rt_fallbacks_t *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].to);
    free(f->v);
    f->v = NULL;
    f->n = 0;
}

/* [{"gpt-4": ["gpt-3.5", "claude"]}, ...] - LiteLLM's list of one-key maps (several keys allowed).
 */
static void load_fallbacks(rt_fallbacks_t *f, const cfg_node_t *seq, const char *what)
{
    if (seq == NULL || seq->kind != CFG_SEQ)
        return;
    free_list(f); /* router_settings replaces what litellm_settings gave */
    size_t total = 0;
    for (size_t i = 0; i < seq->count; i++)
        total += seq->items[i]->kind == CFG_MAP ? seq->items[i]->count : 0;
    f->v = calloc(total + 1, sizeof *f->v);
    for (size_t i = 0; i < seq->count; i++) {
        const cfg_node_t *m = seq->items[i];
        if (m->kind != CFG_MAP) {
            cfg_error(m, "%s entries must be maps like {\"model-a\": [\"model-b\"]}", what);
            continue;
        }
        for (size_t k = 0; k < m->count; k++) {
            const cfg_node_t *to = m->pairs[k].value;
            rt_fallback_t *fb = &f->v[f->n];
            fb->group = m->pairs[k].key;
            fb->node = to;
            if (to->kind == CFG_STR) { /* a single group written without brackets */
                fb->to = calloc(1, sizeof *fb->to);
                fb->to[fb->nto++] = to->str;
            } else if (to->kind == CFG_SEQ) {
                fb->to = calloc(to->count + 1, sizeof *fb->to);
                for (size_t j = 0; j < to->count; j++) {
                    const char *g = group_name(to->items[j]);
                    if (g == NULL)
                        cfg_error(to->items[j], "%s: fallback targets must be model group names",
                                  what);
                    else
                        fb->to[fb->nto++] = g;
                }
            } else {
                cfg_error(to, "%s: '%s' must map to a list of model groups", what, fb->group);
                continue;
            }
            f->n++;
        }
    }
}

void rt_settings_load(rt_settings_t *s, const cfg_node_t *rs, const cfg_node_t *ls,
                      const cfg_node_t *gs)
{
    memset(s, 0, sizeof *s);
    s->strategy = RT_SIMPLE_SHUFFLE;
    s->latency_buffer = 0.1;
    s->num_retries = 2;
    s->backoff_base_ms = 500;
    s->backoff_max_ms = 8000;
    s->allowed_fails = 3;
    s->cooldown_ms = 5000;
    s->failure_threshold = 0.5;
    s->failure_min_requests = 5;
    s->max_fallbacks = 5;
    s->health_check_interval_ms = 300000;
    for (int c = 0; c < RT_C_COUNT; c++)
        s->retry_policy[c] = s->allowed_fails_policy[c] = -1;

    /* litellm_settings first: router_settings, when both are given, win. */
    const cfg_node_t *srcs[2] = {ls, rs};
    for (int k = 0; k < 2; k++) {
        const cfg_node_t *m = srcs[k];
        if (m == NULL || m->kind != CFG_MAP)
            continue;
        int64_t v;
        if (cfg_get_int(m, "num_retries", &v)) {
            if (v < 0 || v > 100)
                cfg_error(cfg_map_get(m, "num_retries"), "num_retries must be from 0 to 100");
            s->num_retries = (int)v;
        }
        load_fallbacks(&s->fallbacks, cfg_map_get(m, "fallbacks"), "fallbacks");
        load_fallbacks(&s->context_window_fallbacks, cfg_map_get(m, "context_window_fallbacks"),
                       "context_window_fallbacks");
        load_fallbacks(&s->content_policy_fallbacks, cfg_map_get(m, "content_policy_fallbacks"),
                       "content_policy_fallbacks");
        const cfg_node_t *df = cfg_map_get(m, "default_fallbacks");
        if (df != NULL && df->kind == CFG_SEQ) {
            free(s->default_fallbacks);
            s->default_fallbacks = calloc(df->count + 1, sizeof *s->default_fallbacks);
            s->ndefault_fallbacks = 0;
            for (size_t i = 0; i < df->count; i++) {
                const char *g = group_name(df->items[i]);
                if (g == NULL)
                    cfg_error(df->items[i], "default_fallbacks entries must be model group names");
                else
                    s->default_fallbacks[s->ndefault_fallbacks++] = g;
            }
        }
    }
    if (rs != NULL && rs->kind == CFG_MAP) {
        const char *st = cfg_get_str(rs, "routing_strategy");
        if (st != NULL) {
            bool ok = false;
            for (size_t i = 0; i < sizeof strategies / sizeof strategies[0]; i++) {
                if (strcmp(strategies[i].name, st) == 0) {
                    s->strategy = strategies[i].s;
                    ok = true;
                }
            }
            if (!ok)
                cfg_error(cfg_map_get(rs, "routing_strategy"),
                          "unknown routing_strategy '%s' (simple-shuffle, least-busy, "
                          "latency-based-routing, usage-based-routing, cost-based-routing)",
                          st);
        }
        const cfg_node_t *args = cfg_map_get(rs, "routing_strategy_args");
        double d;
        if (cfg_get_num(args, "lowest_latency_buffer", &d)) {
            if (d < 0 || d > 10)
                cfg_error(cfg_map_get(args, "lowest_latency_buffer"),
                          "lowest_latency_buffer must be 0..10");
            s->latency_buffer = d;
        }
        if (cfg_get_num(rs, "retry_after", &d))
            s->retry_after_ms = (int64_t)(d * 1000);
        cfg_get_duration(rs, "retry_backoff_base", &s->backoff_base_ms);
        cfg_get_duration(rs, "retry_backoff_max", &s->backoff_max_ms);
        load_policy(s->retry_policy, cfg_map_get(rs, "retry_policy"), "Retries", "retry_policy");
        load_policy(s->allowed_fails_policy, cfg_map_get(rs, "allowed_fails_policy"),
                    "AllowedFails", "allowed_fails_policy");
        int64_t v;
        if (cfg_get_int(rs, "allowed_fails", &v))
            s->allowed_fails = (int)(v < 0 ? 0 : v);
        if (cfg_get_num(rs, "cooldown_time", &d)) {
            if (d < 0)
                cfg_error(cfg_map_get(rs, "cooldown_time"), "cooldown_time must not be negative");
            s->cooldown_ms = (int64_t)(d * 1000);
        }
        cfg_get_bool(rs, "disable_cooldowns", &s->disable_cooldowns);
        if (cfg_get_num(rs, "failure_threshold_percent", &d))
            s->failure_threshold = d;
        if (cfg_get_int(rs, "max_fallbacks", &v))
            s->max_fallbacks = (int)(v < 0 ? 0 : v);
        bool b;
        if (cfg_get_bool(rs, "enable_pre_call_checks", &b) ||
            cfg_get_bool(rs, "enable_pre_call_check", &b))
            s->pre_call_checks = b;
    }
    if (gs != NULL && gs->kind == CFG_MAP) {
        cfg_get_bool(gs, "background_health_checks", &s->background_health_checks);
        cfg_get_duration(gs, "health_check_interval", &s->health_check_interval_ms);
        if (s->health_check_interval_ms < 1000)
            s->health_check_interval_ms = 1000;
    }
}

void rt_settings_free(rt_settings_t *s)
{
    free_list(&s->fallbacks);
    free_list(&s->context_window_fallbacks);
    free_list(&s->content_policy_fallbacks);
    free(s->default_fallbacks);
    s->default_fallbacks = NULL;
}

const rt_fallback_t *rt_fallbacks_for(const rt_fallbacks_t *f, const char *group)
{
    const rt_fallback_t *star = NULL;
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->v[i].group, group) == 0)
            return &f->v[i];
        if (strcmp(f->v[i].group, "*") == 0)
            star = &f->v[i];
    }
    return star;
}
