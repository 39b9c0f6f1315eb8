/*
 * gen: a configuration generation - the parsed config, the plugin instances built from it and the
 * model groups - as one immutable unit.  A request takes a reference when it starts and drops it at
 * the end, so a reload can build and swap in a new generation while old requests finish on the old
 * one; the last reference destroys it.
 */
#ifndef GANTRY_GEN_H
#define GANTRY_GEN_H

#include <stdatomic.h>
#include <stdbool.h>

#include "cfg.h"
#include "plugin.h"
#include "rt.h"

typedef struct gen gen_t;
typedef struct group group_t;

struct gantry_instance {
    plugin_t *pl;
    const gantry_ops_t *ops;
    char *name;
    void *state;   /* from create() */
    void **wstate; /* per worker, from worker_init() */
    bool *winit;   /* worker_init() ran for that worker */
    unsigned slot; /* index for per-request data */
    const cfg_node_t *conf;
    gen_t *gen;
    /* guardrails: how the core runs the instance (from the guardrails: section; instances from
     * plugins.load run in pre_call and post_call and are always on) */
    unsigned guard_modes;
    bool guard_default_on, guard_fail_open, guard_allow_disable;
};
typedef struct gantry_instance inst_t;

typedef struct deployment {
    const cfg_deployment_t *cfg;
    inst_t *provider;
    void *pstate; /* from deployment_create() */
    group_t *group;
    rt_stats_t st;            /* live routing statistics (atomics) */
    double cost_in, cost_out; /* per token; < 0 unknown */
    int64_t max_input_tokens; /* model_info; 0 unknown */
    const char *region;       /* model_info.region, may be NULL */
    atomic_bool unhealthy;    /* background health check failed */
} deployment_t;

struct group {
    const char *name;
    deployment_t **deps;
    size_t ndeps;
    double total_weight;
};

enum { KIND_SLOTS = GANTRY_KIND_LOGGER + 1 };

struct gen {
    atomic_int refs;
    cfg_t *cfg;
    unsigned nworkers;
    inst_t **insts; /* creation order; slot = index */
    size_t ninsts;
    inst_t **by_kind[KIND_SLOTS]; /* config order within a kind = phase order */
    size_t nkind[KIND_SLOTS];
    deployment_t *deps;
    size_t ndeps;
    group_t *groups; /* sorted by name for bsearch */
    size_t ngroups;
    cfg_node_t *synth; /* synthesized config nodes (master_key) */
    rt_settings_t rt;
    struct pol_set *policies; /* custom routing rules (policies:), NULL when none */
};

/* Build a generation from a loaded config; NULL (errors already reported) on any problem. */
gen_t *gen_build(cfg_t *cfg, unsigned nworkers);
void gen_ref(gen_t *g);
void gen_unref(gen_t *g);
/* Run worker_init()/worker_fini() of every instance on the calling worker thread. */
int gen_worker_init(gen_t *g, unsigned wid);
void gen_worker_fini(gen_t *g, unsigned wid);
group_t *gen_group(gen_t *g, const char *name, size_t len);

/* The provider plugin that serves a model prefix ("groq" -> "openai"). */
const char *gen_provider_for_prefix(const char *prefix);

#endif
