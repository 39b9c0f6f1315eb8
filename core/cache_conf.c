/*
 * cache_conf: LiteLLM's cache settings.  `litellm_settings.cache: true` creates one cache instance
 * (gen.c) from `cache_params`: type local is the memory plugin, type redis the redis plugin, and
 * the keys each plugin understands become its config block (keeping their file:line:col).  The
 * other keys (namespace, mode, supported_call_types, scope) are the core's: they shape the key and
 * decide which requests use the cache, for every cache instance.
 */
#include <stdlib.h>
#include <string.h>

#include <gantry/host.h>

#include "cache.h"

#define S GANTRY_CONF_STRING
#define I GANTRY_CONF_INT
#define A GANTRY_CONF_ANY
#define Q GANTRY_CONF_SEQ

/* Every key LiteLLM's cache_params may carry that Gantry serves; anything else is a typo or a
 * backend Gantry does not have, and both are errors. */
static const gantry_conf_field_t params_fields[] = {
    {"type", S, 0, "local (in-process memory, the default) or redis"},
    {"host", S, 0, "redis: server host"},
    {"port", A, 0, "redis: server port"},
    {"password", S, GANTRY_CONF_SECRET, "redis: AUTH password"},
    {"username", S, 0, "redis: ACL user name"},
    {"db", I, 0, "redis: database number"},
    {"ttl", I, 0, "seconds an entry lives unless the request says (cache.ttl)"},
    {"namespace", S, 0, "prefix of every key: separates gateways sharing one cache"},
    {"mode", S, 0, "default_on (every request) or default_off (only cache: {use-cache: true})"},
    {"supported_call_types", Q, 0, "which calls use the cache (completion, embedding, ...)"},
    {"scope", S, 0, "team (the default: entries per team, else per key) or shared"},
    {NULL, 0, 0, NULL},
};

/* The keys handed to each backend's plugin as its config. */
static const char *const local_keys[] = {"ttl", NULL};
static const char *const redis_keys[] = {"host",      "port", "password", "username", "db",
                                         "namespace", "ttl",  NULL};
/* Keys that only mean something to Redis (namespace is also the core's: part of every key). */
static const char *const redis_only[] = {"host", "port", "password", "username", "db", NULL};

/* LiteLLM's call type names.  Those of APIs Gantry does not serve are accepted and change
 * nothing, so a LiteLLM config's usual list loads unchanged. */
static const struct {
    const char *name;
    unsigned endpoint; /* 0: not an API Gantry serves */
} call_types[] = {
    {"completion", GANTRY_EP_CHAT},
    {"acompletion", GANTRY_EP_CHAT},
    {"text_completion", GANTRY_EP_COMPLETIONS},
    {"atext_completion", GANTRY_EP_COMPLETIONS},
    {"embedding", GANTRY_EP_EMBEDDINGS},
    {"aembedding", GANTRY_EP_EMBEDDINGS},
    {"transcription", 0},
    {"atranscription", 0},
    {"rerank", 0},
    {"arerank", 0},
    {"responses", 0},
    {"aresponses", 0},
};

static const unsigned all_endpoints =
    (1u << GANTRY_EP_CHAT) | (1u << GANTRY_EP_COMPLETIONS) | (1u << GANTRY_EP_EMBEDDINGS);

static bool listed(const char *const *keys, const char *key)
{
    for (; *keys != NULL; keys++) {
        if (strcmp(*keys, key) == 0)
            return true;
    }
    return false;
}

static unsigned load_call_types(const cfg_node_t *list)
{
    unsigned bits = 0;
    for (size_t i = 0; i < list->count; i++) {
        const cfg_node_t *n = list->items[i];
        size_t k = 0;
        while (k < sizeof call_types / sizeof call_types[0] &&
               (n->kind != CFG_STR || strcmp(n->str, call_types[k].name) != 0))
            k++;
        if (k == sizeof call_types / sizeof call_types[0]) {
            cfg_error(n,
                      "supported_call_types: '%s' is not a call type (completion, acompletion, "
                      "text_completion, atext_completion, embedding, aembedding, ...)",
                      n->kind == CFG_STR ? n->str : cfg_kind_name(n->kind));
            continue;
        }
        if (call_types[k].endpoint != 0)
            bits |= 1u << call_types[k].endpoint;
    }
    return bits;
}

/* The plugin's config: the pairs of cache_params it takes, pointing at the original nodes. */
static cfg_node_t *plugin_conf(const cfg_node_t *params, const char *const *keys)
{
    cfg_node_t *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    *m = *params;
    m->pairs = calloc(params->count + 1, sizeof *m->pairs);
    m->count = 0;
    if (m->pairs == NULL) {
        free(m);
        return NULL;
    }
    for (size_t i = 0; i < params->count; i++) {
        const cfg_pair_t *p = &params->pairs[i];
        if (listed(keys, p->key) && p->value->kind != CFG_NULL)
            m->pairs[m->count++] = *p;
    }
    return m;
}

/* A string setting that must be one of two words; false leaves *out unchanged. */
static void choice(const cfg_node_t *params, const char *key, const char *no, const char *yes,
                   bool *out)
{
    const cfg_node_t *n = cfg_map_get(params, key);
    if (n == NULL || n->kind == CFG_NULL)
        return;
    if (n->kind == CFG_STR && strcmp(n->str, no) == 0) {
        *out = false;
    } else if (n->kind == CFG_STR && strcmp(n->str, yes) == 0) {
        *out = true;
    } else {
        cfg_error(n, "cache_params.%s must be %s or %s", key, no, yes);
    }
}

void cache_conf_load(cfg_t *c, const cfg_node_t *ls)
{
    cfg_cache_t *v = &c->cache;
    *v = (cfg_cache_t){.type = "local", .plugin = "memory", .endpoints = all_endpoints};
    const cfg_node_t *on = cfg_map_get(ls, "cache");
    const cfg_node_t *params = cfg_map_get(ls, "cache_params");
    cfg_get_bool(ls, "cache", &v->enabled);
    v->node = params != NULL && params->kind == CFG_MAP ? params : on;
    if (params == NULL || params->kind != CFG_MAP)
        return; /* absent, null, or not a map (cfg_check_map said so) */
    unsigned before = cfg_error_count();
    cfg_check_map(params, "cache_params", params_fields, NULL);
    const char *type = cfg_get_str(params, "type");
    const char *const *keys = local_keys;
    if (type != NULL && strcmp(type, "redis") == 0) {
        v->type = "redis";
        v->plugin = "redis";
        keys = redis_keys;
    } else if (type != NULL && strcmp(type, "local") != 0) {
        cfg_error(cfg_map_get(params, "type"),
                  "cache_params.type '%s' is not supported by Gantry (local or redis)", type);
    }
    for (size_t i = 0; i < params->count; i++) {
        const cfg_pair_t *p = &params->pairs[i];
        if (listed(redis_only, p->key) && keys != redis_keys && p->value->kind != CFG_NULL) {
            cfg_node_t pos = *p->value;
            pos.line = p->key_line;
            pos.col = p->key_col;
            cfg_error(&pos, "cache_params.%s is a setting of type: redis, not of type: %s", p->key,
                      v->type);
        }
    }
    int64_t ttl;
    if (cfg_get_int(params, "ttl", &ttl) && (ttl < 1 || ttl > 366 * 86400))
        cfg_error(cfg_map_get(params, "ttl"), "cache_params.ttl must be 1 to 31622400 seconds");
    const char *ns = cfg_get_str(params, "namespace");
    if (ns != NULL && *ns != '\0')
        v->namespace_ = ns;
    choice(params, "mode", "default_on", "default_off", &v->default_off);
    choice(params, "scope", "team", "shared", &v->shared);
    const cfg_node_t *ct = cfg_map_get(params, "supported_call_types");
    if (ct != NULL && ct->kind == CFG_SEQ)
        v->endpoints = load_call_types(ct);
    if (cfg_error_count() != before)
        return;
    v->plugin_conf = plugin_conf(params, keys);
    if (v->plugin_conf == NULL)
        cfg_error(params, "out of memory");
}

void cache_conf_free(cfg_t *c)
{
    if (c->cache.plugin_conf != NULL)
        free(c->cache.plugin_conf->pairs);
    free(c->cache.plugin_conf);
    c->cache.plugin_conf = NULL;
}
