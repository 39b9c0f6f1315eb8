#include "gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_schema.h"
#include "host.h"
#include "log.h"
#include "policy.h"

/* Model prefixes served by another plugin (LiteLLM's names), e.g. OpenAI-compatible APIs. */
static const struct {
    const char *prefix, *plugin;
} prefix_aliases[] = {
    {"openai", "openai"},
    {"mistral", "openai"},
    {"groq", "openai"},
    {"deepseek", "openai"},
    {"xai", "openai"},
    {"hosted_vllm", "openai"},
    {"ollama", "openai"},
    {"ollama_chat", "openai"},
    {"openai_compatible", "openai"},
    {"openai_like", "openai"},
    {"lm_studio", "openai"},
    {"together_ai", "openai"},
    {"fireworks_ai", "openai"},
    {"perplexity", "openai"},
    {"nvidia_nim", "openai"},
    {"github", "openai"},
    {"text-completion-openai", "openai"},
    {"azure", "openai"},
    {"azure_text", "openai"},
    {"sagemaker_chat", "sagemaker"},
};

const char *gen_provider_for_prefix(const char *prefix)
{
    for (size_t i = 0; i < sizeof prefix_aliases / sizeof prefix_aliases[0]; i++) {
        if (strcmp(prefix_aliases[i].prefix, prefix) == 0)
            return prefix_aliases[i].plugin;
    }
    return prefix;
}

/* guard_modes is set before create(), which may ask for it (host->guard_modes). */
static inst_t *add_instance(gen_t *g, plugin_t *pl, const char *name, const cfg_node_t *conf,
                            const cfg_node_t *where, unsigned guard_modes)
{
    const gantry_plugin_desc_t *d = pl->desc;
    char what[160];
    snprintf(what, sizeof what, "the config of plugin instance '%s'", name);
    unsigned before = cfg_error_count();
    if (conf != NULL) {
        cfg_check_map(conf, what, d->config_fields, NULL);
    } else {
        for (const gantry_conf_field_t *f = d->config_fields; f && f->name; f++) {
            if (f->flags & GANTRY_CONF_REQUIRED)
                cfg_error(where, "plugin '%s' needs a config block with '%s'", d->name, f->name);
        }
    }
    if (cfg_error_count() != before)
        return NULL;
    inst_t *in = calloc(1, sizeof *in);
    in->pl = pl;
    in->ops = pl->ops;
    in->name = strdup(name);
    in->conf = conf;
    in->gen = g;
    in->slot = (unsigned)g->ninsts;
    in->wstate = calloc(g->nworkers, sizeof *in->wstate);
    in->winit = calloc(g->nworkers, sizeof *in->winit);
    in->guard_modes = guard_modes;
    int rc = in->ops->create(&host_table, in, (const gantry_conf_t *)conf, &in->state);
    if (rc != 0) {
        if (cfg_error_count() == before)
            cfg_error(where, "plugin instance '%s' (%s) failed to start: %s", name, d->name,
                      host_table.strerror(rc));
        free(in->wstate);
        free(in->winit);
        free(in->name);
        free(in);
        return NULL;
    }
    g->insts[g->ninsts++] = in;
    g->by_kind[d->kind][g->nkind[d->kind]++] = in;
    return in;
}

static inst_t *find_instance_of(gen_t *g, const char *plugin)
{
    for (size_t i = 0; i < g->ninsts; i++) {
        if (strcmp(g->insts[i]->pl->desc->name, plugin) == 0)
            return g->insts[i];
    }
    return NULL;
}

static int cmp_group(const void *a, const void *b)
{
    return strcmp(((const group_t *)a)->name, ((const group_t *)b)->name);
}

group_t *gen_group(gen_t *g, const char *name, size_t len)
{
    size_t lo = 0, hi = g->ngroups;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *n = g->groups[mid].name;
        int c = strncmp(n, name, len);
        if (c == 0 && n[len] != '\0')
            c = 1;
        if (c == 0)
            return &g->groups[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void build_groups(gen_t *g)
{
    g->groups = calloc(g->ndeps + 1, sizeof *g->groups);
    for (size_t i = 0; i < g->ndeps; i++) {
        const char *name = g->deps[i].cfg->model_name;
        group_t *grp = NULL;
        for (size_t k = 0; k < g->ngroups; k++) {
            if (strcmp(g->groups[k].name, name) == 0) {
                grp = &g->groups[k];
                break;
            }
        }
        if (grp == NULL) {
            grp = &g->groups[g->ngroups++];
            grp->name = name;
            grp->deps = calloc(g->ndeps, sizeof *grp->deps);
        }
        grp->deps[grp->ndeps++] = &g->deps[i];
        grp->total_weight += g->deps[i].cfg->weight;
    }
    qsort(g->groups, g->ngroups, sizeof *g->groups, cmp_group);
    for (size_t k = 0; k < g->ngroups; k++) {
        for (size_t j = 0; j < g->groups[k].ndeps; j++)
            g->groups[k].deps[j]->group = &g->groups[k];
    }
}

static void check_targets(gen_t *g, const rt_fallbacks_t *f, const char *what)
{
    for (size_t i = 0; i < f->n; i++) {
        const rt_fallback_t *fb = &f->v[i];
        if (strcmp(fb->group, "*") != 0 && gen_group(g, fb->group, strlen(fb->group)) == NULL)
            cfg_error(fb->node, "%s: '%s' is not a model group in model_list", what, fb->group);
        for (size_t k = 0; k < fb->nto; k++) {
            if (gen_group(g, fb->to[k], strlen(fb->to[k])) == NULL)
                cfg_error(fb->node, "%s: fallback '%s' is not a model group in model_list", what,
                          fb->to[k]);
        }
    }
}

static double num_or(const cfg_node_t *a, const cfg_node_t *b, const char *key, double dflt)
{
    double v;
    if (cfg_get_num(a, key, &v) || cfg_get_num(b, key, &v))
        return v;
    return dflt;
}

static bool known_target(void *arg, char kind, const char *name)
{
    gen_t *g = arg;
    if (kind == 'g')
        return gen_group(g, name, strlen(name)) != NULL;
    for (size_t i = 0; i < g->ndeps; i++) {
        if (strcmp(g->deps[i].cfg->id, name) == 0)
            return true;
    }
    return false;
}

/* Router settings, checked against the groups that exist, and what the router needs per deployment.
 */
static void load_routing(gen_t *g)
{
    const cfg_node_t *root = g->cfg->doc->root;
    const cfg_node_t *pol = cfg_map_get(root, "policies");
    if (pol != NULL && pol->kind != CFG_NULL) {
        g->policies = pol_load(pol, g->cfg->dir, known_target, g);
        if (g->policies != NULL && pol_count(g->policies) == 0) {
            pol_free(g->policies);
            g->policies = NULL;
        }
    }
    rt_settings_load(&g->rt, cfg_map_get(root, "router_settings"),
                     cfg_map_get(root, "litellm_settings"), cfg_map_get(root, "general_settings"));
    check_targets(g, &g->rt.fallbacks, "fallbacks");
    check_targets(g, &g->rt.context_window_fallbacks, "context_window_fallbacks");
    check_targets(g, &g->rt.content_policy_fallbacks, "content_policy_fallbacks");
    for (size_t i = 0; i < g->rt.ndefault_fallbacks; i++) {
        const char *name = g->rt.default_fallbacks[i];
        if (gen_group(g, name, strlen(name)) == NULL)
            cfg_error(cfg_map_get(cfg_map_get(root, "router_settings"), "default_fallbacks"),
                      "default_fallbacks: '%s' is not a model group in model_list", name);
    }
    for (size_t i = 0; i < g->ndeps; i++) {
        deployment_t *d = &g->deps[i];
        const cfg_deployment_t *c = d->cfg;
        d->cost_in = c->input_cost_per_token >= 0
                         ? c->input_cost_per_token
                         : num_or(c->info, NULL, "input_cost_per_token", -1);
        d->cost_out = c->output_cost_per_token >= 0
                          ? c->output_cost_per_token
                          : num_or(c->info, NULL, "output_cost_per_token", -1);
        d->max_input_tokens = (int64_t)num_or(c->info, NULL, "max_input_tokens", 0);
        d->region = cfg_get_str(c->info, "region");
        if (d->region == NULL)
            d->region = cfg_get_str(c->params, "region_name");
    }
}

static void destroy(gen_t *g)
{
    rt_settings_free(&g->rt);
    pol_free(g->policies);
    for (size_t i = 0; i < g->ndeps; i++) {
        deployment_t *d = &g->deps[i];
        if (d->provider != NULL && d->provider->ops->deployment_destroy != NULL &&
            d->pstate != NULL)
            d->provider->ops->deployment_destroy(d->provider->state, d->pstate);
    }
    for (size_t k = 0; k < g->ngroups; k++)
        free(g->groups[k].deps);
    free(g->groups);
    free(g->deps);
    for (size_t i = g->ninsts; i-- > 0;) {
        inst_t *in = g->insts[i];
        in->ops->destroy(in->state);
        plugin_release(in->pl);
        free(in->wstate);
        free(in->winit);
        free(in->name);
        free(in);
    }
    free(g->insts);
    for (int k = 0; k < KIND_SLOTS; k++)
        free(g->by_kind[k]);
    free(g->synth);
    cfg_free(g->cfg);
    free(g);
}

static plugin_t *load_or_report(const char *name, const cfg_node_t *where)
{
    char err[512];
    plugin_t *pl = plugin_load(name, err, sizeof err);
    if (pl == NULL)
        cfg_error(where, "%s", err);
    return pl;
}

gen_t *gen_build(cfg_t *cfg, unsigned nworkers)
{
    gen_t *g = calloc(1, sizeof *g);
    atomic_init(&g->refs, 1);
    g->cfg = cfg;
    g->nworkers = nworkers;
    size_t cap = cfg->nplugins + cfg->nguards + cfg->ndeps + 2;
    g->insts = calloc(cap, sizeof *g->insts);
    for (int k = 0; k < KIND_SLOTS; k++)
        g->by_kind[k] = calloc(cap, sizeof *g->by_kind[k]);
    unsigned errors = cfg_error_count();

    plugin_set_search(cfg->plugin_path, cfg->nplugin_path, cfg->dir);

    /* general_settings.master_key is the master-key auth plugin, configured for the user. */
    if (cfg->master_key != NULL) {
        plugin_t *pl = load_or_report("master-key", cfg->master_key_node);
        if (pl != NULL) {
            struct synth {
                cfg_node_t map;
                cfg_pair_t pair;
            } *s = calloc(1, sizeof *s);
            s->map = *cfg->master_key_node;
            s->map.kind = CFG_MAP;
            s->map.count = 1;
            s->map.pairs = &s->pair;
            s->pair.key = "key";
            s->pair.key_line = cfg->master_key_node->line;
            s->pair.key_col = cfg->master_key_node->col;
            s->pair.value = (cfg_node_t *)cfg->master_key_node;
            g->synth = &s->map;
            if (add_instance(g, pl, "master_key", &s->map, cfg->master_key_node, 0) == NULL)
                plugin_release(pl);
        }
    }

    for (size_t i = 0; i < cfg->nplugins; i++) {
        const cfg_plugin_ref_t *r = &cfg->plugins[i];
        if (r->plugin == NULL)
            continue;
        plugin_t *pl = load_or_report(r->plugin, r->node);
        if (pl == NULL)
            continue;
        const char *name = r->name ? r->name : pl->desc->name;
        bool taken = false;
        for (size_t k = 0; k < g->ninsts && !taken; k++)
            taken = strcmp(g->insts[k]->name, name) == 0;
        if (taken) {
            cfg_error(r->node,
                      "a plugin instance named '%s' already exists; give this one another 'name'",
                      name);
            plugin_release(pl);
            continue;
        }
        inst_t *in = add_instance(g, pl, name, r->config, r->node,
                                  GANTRY_GUARD_PRE_CALL | GANTRY_GUARD_POST_CALL);
        if (in == NULL) {
            plugin_release(pl);
            continue;
        }
        in->guard_default_on = true;
    }

    /* LiteLLM's guardrails: section, after plugins.load (the order within a phase). */
    for (size_t i = 0; i < cfg->nguards; i++) {
        const cfg_guard_t *gd = &cfg->guards[i];
        plugin_t *pl = load_or_report(gd->plugin, gd->node);
        if (pl == NULL)
            continue;
        bool taken = false;
        for (size_t k = 0; k < g->ninsts && !taken; k++)
            taken = strcmp(g->insts[k]->name, gd->name) == 0;
        if (pl->desc->kind != GANTRY_KIND_GUARDRAIL || taken) {
            cfg_error(gd->node,
                      taken ? "a plugin instance named '%s' already exists"
                            : "'%s' is not a guardrail plugin",
                      taken ? gd->name : gd->plugin);
            plugin_release(pl);
            continue;
        }
        inst_t *in = add_instance(g, pl, gd->name, gd->config, gd->node, gd->modes);
        if (in == NULL) {
            plugin_release(pl);
            continue;
        }
        in->guard_default_on = gd->default_on;
        in->guard_fail_open = gd->fail_open;
        in->guard_allow_disable = gd->allow_disable;
    }

    /* litellm_settings.cache: the cache instance LiteLLM's config asks for (cache_conf.c). */
    if (cfg->cache.enabled) {
        const cfg_cache_t *cc = &cfg->cache;
        plugin_t *pl = load_or_report(cc->plugin, cc->node);
        bool taken = false;
        for (size_t k = 0; pl != NULL && k < g->ninsts && !taken; k++)
            taken = strcmp(g->insts[k]->name, "cache") == 0;
        if (pl != NULL && (pl->desc->kind != GANTRY_KIND_CACHE || taken)) {
            if (taken)
                cfg_error(cc->node, "a plugin instance named 'cache' already exists (plugins.load)");
            else
                cfg_error(cc->node, "plugin '%s' is not a cache plugin", cc->plugin);
            plugin_release(pl);
        } else if (pl != NULL &&
                   add_instance(g, pl, "cache", cc->plugin_conf, cc->node, 0) == NULL) {
            plugin_release(pl);
        }
    }

    g->deps = calloc(cfg->ndeps + 1, sizeof *g->deps);
    for (size_t i = 0; i < cfg->ndeps; i++) {
        const cfg_deployment_t *cd = &cfg->deps[i];
        const cfg_node_t *mnode = cfg_map_get(cd->params, "model");
        const char *pname = gen_provider_for_prefix(cd->prefix);
        inst_t *prov = find_instance_of(g, pname);
        if (prov == NULL) {
            char path[4096];
            if (plugin_find(pname, path, sizeof path) != 0) {
                cfg_error(mnode, "unknown provider '%s' in model \"%s\" (no %s plugin found)",
                          cd->prefix, cd->model, pname);
                continue;
            }
            plugin_t *pl = load_or_report(pname, mnode);
            if (pl == NULL)
                continue;
            if (pl->desc->kind != GANTRY_KIND_PROVIDER) {
                cfg_error(mnode, "plugin '%s' is a %s plugin, not a provider", pname,
                          plugin_kind_name(pl->desc->kind));
                plugin_release(pl);
                continue;
            }
            prov = add_instance(g, pl, pname, NULL, mnode, 0);
            if (prov == NULL) {
                plugin_release(pl);
                continue;
            }
        } else if (prov->pl->desc->kind != GANTRY_KIND_PROVIDER) {
            cfg_error(mnode, "plugin '%s' is not a provider", pname);
            continue;
        }
        unsigned before = cfg_error_count();
        cfg_check_map(cd->params, "litellm_params", cfg_params_fields,
                      prov->pl->desc->deployment_fields);
        if (cfg_error_count() != before)
            continue;
        deployment_t *d = &g->deps[g->ndeps];
        d->cfg = cd;
        d->provider = prov;
        gantry_str_t prefix = {cd->prefix, strlen(cd->prefix)};
        gantry_str_t mid = {cd->model_id, strlen(cd->model_id)};
        int rc = prov->ops->deployment_create(prov->state, (const gantry_conf_t *)cd->params,
                                              prefix, mid, &d->pstate);
        if (rc != 0) {
            if (cfg_error_count() == before)
                cfg_error(cd->node, "provider '%s' rejected this deployment: %s", pname,
                          host_table.strerror(rc));
            continue;
        }
        g->ndeps++;
    }
    build_groups(g);
    load_routing(g);
    if (cfg_error_count() != errors) {
        g->cfg = NULL; /* the caller still owns cfg on failure */
        destroy(g);
        return NULL;
    }
    return g;
}

void gen_ref(gen_t *g)
{
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
}

void gen_unref(gen_t *g)
{
    if (g != NULL && atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1)
        destroy(g);
}

int gen_worker_init(gen_t *g, unsigned wid)
{
    int rc_all = 0;
    for (size_t i = 0; i < g->ninsts; i++) {
        inst_t *in = g->insts[i];
        if (in->ops->worker_init == NULL || in->winit[wid])
            continue;
        int rc = in->ops->worker_init(in->state, wid, &in->wstate[wid]);
        if (rc != 0) {
            /* The other instances still get their worker state; this one runs with NULL. */
            log_error("plugin instance '%s' failed to initialise worker %u: %s", in->name, wid,
                      host_table.strerror(rc));
            in->wstate[wid] = NULL;
            rc_all = -1;
            continue;
        }
        in->winit[wid] = true;
    }
    return rc_all;
}

void gen_worker_fini(gen_t *g, unsigned wid)
{
    for (size_t i = g->ninsts; i-- > 0;) {
        inst_t *in = g->insts[i];
        if (in->winit[wid] && in->ops->worker_fini != NULL)
            in->ops->worker_fini(in->state, wid, in->wstate[wid]);
        in->winit[wid] = false;
    }
}
