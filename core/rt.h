/*
 * rt: routing and resilience - how a deployment is chosen, how failures are counted into cooldowns,
 * and the settings behind retries and fallbacks (LiteLLM's router_settings names).
 *
 * Everything here is read-only after the generation is built, except the per-deployment statistics,
 * which are atomics updated by every worker without locks.
 */
#ifndef GANTRY_RT_H
#define GANTRY_RT_H

#include <gantry/plugin.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cfg_node.h"

typedef enum rt_strategy {
    RT_SIMPLE_SHUFFLE = 0,
    RT_LEAST_BUSY,
    RT_LATENCY,
    RT_USAGE,
    RT_COST,
} rt_strategy_t;

/* Error classes for retry_policy / allowed_fails_policy (LiteLLM's *ErrorRetries names). */
typedef enum rt_class {
    RT_C_AUTH = 0,       /* AuthenticationError */
    RT_C_TIMEOUT,        /* Timeout */
    RT_C_RATE_LIMIT,     /* RateLimitError */
    RT_C_CONTENT_POLICY, /* ContentPolicyViolationError */
    RT_C_SERVER,         /* InternalServerError (5xx, connection failures) */
    RT_C_BAD_REQUEST,    /* BadRequestError (includes context window) */
    RT_C_COUNT,
} rt_class_t;

typedef struct rt_fallback {
    const char *group; /* model group it applies to ("*" for all) */
    const char **to;   /* fallback groups, in order */
    size_t nto;
    const cfg_node_t *node;
} rt_fallback_t;

typedef struct rt_fallbacks {
    rt_fallback_t *v;
    size_t n;
} rt_fallbacks_t;

typedef struct rt_settings {
    rt_strategy_t strategy;
    double latency_buffer;                /* routing_strategy_args.lowest_latency_buffer */
    int num_retries;                      /* default 2 */
    int retry_policy[RT_C_COUNT];         /* -1 = use num_retries */
    int64_t retry_after_ms;               /* minimum wait before a retry */
    int64_t backoff_base_ms;              /* full-jitter exponential back-off: base ... */
    int64_t backoff_max_ms;               /* ... and cap */
    int allowed_fails;                    /* per minute before a cooldown (default 3) */
    int allowed_fails_policy[RT_C_COUNT]; /* -1 = allowed_fails */
    int64_t cooldown_ms;                  /* default 5 s */
    bool disable_cooldowns;
    double failure_threshold; /* failure share in a minute that cools down (default 0.5) */
    int failure_min_requests; /* ... counted once a minute has this many requests (5) */
    rt_fallbacks_t fallbacks, context_window_fallbacks, content_policy_fallbacks;
    const char **default_fallbacks;
    size_t ndefault_fallbacks;
    int max_fallbacks; /* default 5 */
    bool pre_call_checks;
    bool background_health_checks;
    int64_t health_check_interval_ms;
} rt_settings_t;

/* Parse router_settings (and the litellm_settings / general_settings keys that feed it). */
void rt_settings_load(rt_settings_t *s, const cfg_node_t *router, const cfg_node_t *litellm,
                      const cfg_node_t *general);
void rt_settings_free(rt_settings_t *s);
rt_class_t rt_class_of(gantry_error_class_t c);
/* Fallback groups for `group` in a list ("*" entries apply to every group); NULL when none. */
const rt_fallback_t *rt_fallbacks_for(const rt_fallbacks_t *f, const char *group);

/* Per-deployment live statistics (all atomics; shared by workers). */
#define RT_WINDOW 60 /* one-second buckets of the sliding minute */
typedef struct rt_stats {
    atomic_int inflight;
    _Atomic int64_t cooldown_until_us; /* 0 = not cooling */
    atomic_bool probing;            /* half-open: one request is testing a recovered deployment */
    atomic_bool needs_probe;        /* set when a cooldown started; cleared by a successful probe */
    _Atomic int64_t minute;         /* the minute the counters below belong to */
    atomic_int fails, reqs;         /* in that minute */
    _Atomic int64_t lat_us;         /* EWMA of whole-call latency */
    _Atomic int64_t ttft_us;        /* EWMA of time to first token (streams) */
    _Atomic int64_t lat_at_us;      /* when lat_us/ttft_us were last updated */
    _Atomic int64_t sec[RT_WINDOW]; /* second each bucket counts */
    atomic_uint rq[RT_WINDOW];      /* requests started in that second */
    atomic_uint tk[RT_WINDOW];      /* tokens used in that second */
} rt_stats_t;

uint32_t rt_window_sum(rt_stats_t *s, const atomic_uint *bucket, int64_t now_s);
void rt_window_add(rt_stats_t *s, atomic_uint *bucket, int64_t now_s, uint32_t n);

#endif
