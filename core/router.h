/*
 * router: picks the deployment of a model group that serves one attempt of a request.  Filters
 * (cooldown, health, max_parallel_requests, rpm/tpm, context window, policy restrictions), then the
 * lowest `order` tier, then the configured strategy.  The pick reads the immutable generation and
 * per-deployment atomics and draws from a per-worker generator: no lock.
 */
#ifndef GANTRY_ROUTER_H
#define GANTRY_ROUTER_H

#include "req.h"

typedef struct rt_outcome {
    bool ok;
    bool aborted;          /* the client left: neither success nor failure */
    bool deployment_fault; /* counts toward cooldowns */
    bool probe;            /* this attempt holds the half-open probe slot (rt_claim) */
    rt_class_t cls;
    int status;
    int64_t latency_us, ttft_us, tokens;
} rt_outcome_t;

/* Why a pick found nothing. */
typedef enum rt_none {
    RT_NONE_COOLING = 1, /* every deployment is cooling down, unhealthy or at a limit */
    RT_NONE_CONTEXT,     /* the prompt is longer than every deployment's max_input_tokens */
    RT_NONE_POLICY,      /* a policy restriction left no deployment */
} rt_none_t;

/* Restrictions a policy puts on the pick (NULL fields: none). */
typedef struct rt_filter {
    const char *tag;
    const char *region;
    const char *deployment;
    bool cheapest;
} rt_filter_t;

deployment_t *rt_pick(req_t *r, const deployment_t *avoid, const rt_filter_t *f, rt_none_t *why);
bool rt_available(deployment_t *d, int64_t now_us);
/* Take the half-open probe slot if the deployment needs one; *probe says whether it was taken. */
bool rt_claim(deployment_t *d, bool *probe);
void rt_begin(deployment_t *d, int64_t now_us);
void rt_end(deployment_t *d, const rt_settings_t *s, const rt_outcome_t *o, int64_t now_us);
const char *rt_state(deployment_t *d, int64_t now_us);
int64_t rt_estimate_tokens(const cJSON *body);
uint64_t rt_rand(uint64_t *state);
/* Any deployment other than `avoid` that could take a request now. */
bool rt_has_other(req_t *r, const deployment_t *avoid);

#endif
