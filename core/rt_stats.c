/*
 * rt_stats: per-deployment counters shared by all workers - in-flight requests, a sliding minute of
 * requests and tokens in one-second buckets, latency averages, and the cooldown state machine:
 *
 *   healthy --(429/401/404/408, too many fails, or failure rate)--> cooling (skipped until
 * cooldown_until) cooling --(time passes)--> half-open: exactly one request may probe it half-open
 * --(probe succeeds)--> healthy;  --(probe fails)--> cooling again
 *
 * Everything is lock-free; counters can be off by a request at a bucket boundary, which routing
 * tolerates (rate *limits* that must be exact live in the governance layer, not here).
 */
#include "router.h"

#include <stdlib.h>

uint32_t rt_window_sum(rt_stats_t *s, const atomic_uint *bucket, int64_t now_s)
{
    uint32_t sum = 0;
    for (int i = 0; i < RT_WINDOW; i++) {
        int64_t sec = atomic_load_explicit(&s->sec[i], memory_order_relaxed);
        if (sec > now_s - RT_WINDOW && sec <= now_s)
            sum += atomic_load_explicit(&bucket[i], memory_order_relaxed);
    }
    return sum;
}

static void roll(rt_stats_t *s, int i, int64_t now_s)
{
    int64_t sec = atomic_load_explicit(&s->sec[i], memory_order_relaxed);
    if (sec != now_s && atomic_compare_exchange_strong_explicit(
                            &s->sec[i], &sec, now_s, memory_order_acq_rel, memory_order_relaxed)) {
        /* This thread moved the bucket to a new second: it clears the old counts. */
        atomic_store_explicit(&s->rq[i], 0, memory_order_relaxed);
        atomic_store_explicit(&s->tk[i], 0, memory_order_relaxed);
    }
}

void rt_window_add(rt_stats_t *s, atomic_uint *bucket, int64_t now_s, uint32_t n)
{
    int i = (int)(now_s % RT_WINDOW);
    roll(s, i, now_s);
    atomic_fetch_add_explicit(&bucket[i], n, memory_order_relaxed);
}

static void ewma(_Atomic int64_t *v, int64_t x)
{
    int64_t old = atomic_load_explicit(v, memory_order_relaxed), nv;
    do {
        nv = old == 0 ? x : old + (x - old) / 5; /* alpha 0.2: recent calls dominate within ~10 */
        if (nv <= 0)
            nv = 1;
    } while (!atomic_compare_exchange_weak_explicit(v, &old, nv, memory_order_relaxed,
                                                    memory_order_relaxed));
}

static void minute_roll(rt_stats_t *s, int64_t now_us)
{
    int64_t m = now_us / 60000000, old = atomic_load_explicit(&s->minute, memory_order_relaxed);
    if (old != m && atomic_compare_exchange_strong(&s->minute, &old, m)) {
        atomic_store(&s->fails, 0);
        atomic_store(&s->reqs, 0);
    }
}

bool rt_available(deployment_t *d, int64_t now_us)
{
    if (atomic_load_explicit(&d->st.cooldown_until_us, memory_order_acquire) > now_us)
        return false;
    /* Half-open: only while nobody is probing. */
    if (atomic_load_explicit(&d->st.needs_probe, memory_order_acquire) &&
        atomic_load_explicit(&d->st.probing, memory_order_acquire))
        return false;
    return true;
}

bool rt_claim(deployment_t *d, bool *probe)
{
    *probe = false;
    if (!atomic_load_explicit(&d->st.needs_probe, memory_order_acquire))
        return true;
    bool expected = false;
    *probe = atomic_compare_exchange_strong(&d->st.probing, &expected, true);
    return *probe;
}

void rt_begin(deployment_t *d, int64_t now_us)
{
    atomic_fetch_add_explicit(&d->st.inflight, 1, memory_order_relaxed);
    rt_window_add(&d->st, d->st.rq, now_us / 1000000, 1);
}

static void cool(deployment_t *d, const rt_settings_t *s, int64_t now_us)
{
    atomic_store_explicit(&d->st.cooldown_until_us, now_us + s->cooldown_ms * 1000,
                          memory_order_release);
    atomic_store_explicit(&d->st.needs_probe, true, memory_order_release);
}

void rt_end(deployment_t *d, const rt_settings_t *s, const rt_outcome_t *o, int64_t now_us)
{
    rt_stats_t *st = &d->st;
    atomic_fetch_sub_explicit(&st->inflight, 1, memory_order_relaxed);
    if (o->tokens > 0)
        rt_window_add(st, st->tk, now_us / 1000000,
                      (uint32_t)(o->tokens > UINT32_MAX ? UINT32_MAX : o->tokens));
    /* Only the attempt that took the probe slot may settle it: another request that was already in
     * flight when the deployment cooled down would otherwise end the probe early (or free the slot
     * for a second concurrent probe while the first is still running). */
    bool was_probe = o->probe;
    if (o->aborted) {
        /* The client left: says nothing about the deployment.  Let another request probe. */
        if (was_probe)
            atomic_store(&st->probing, false);
        return;
    }
    if (o->latency_us > 0) {
        ewma(&st->lat_us, o->latency_us);
        atomic_store_explicit(&st->lat_at_us, now_us, memory_order_relaxed);
    }
    if (o->ttft_us > 0)
        ewma(&st->ttft_us, o->ttft_us);
    minute_roll(st, now_us);
    int reqs = atomic_fetch_add(&st->reqs, 1) + 1;
    if (o->ok) {
        if (was_probe) {
            atomic_store(&st->needs_probe, false);
            atomic_store(&st->probing, false);
        }
        return;
    }
    /* A client's own mistake (400, context window, content policy) is not the deployment's fault.
     */
    if (!o->deployment_fault) {
        if (was_probe)
            atomic_store(&st->probing, false);
        return;
    }
    int fails = atomic_fetch_add(&st->fails, 1) + 1;
    if (was_probe)
        atomic_store(&st->probing, false);
    /* Nothing to fail over to in a one-deployment group: cooling down would only turn upstream
     * errors into local ones. */
    if (s->disable_cooldowns || d->group == NULL || d->group->ndeps < 2)
        return;
    rt_class_t c = o->cls;
    int allowed = s->allowed_fails_policy[c] >= 0 ? s->allowed_fails_policy[c] : s->allowed_fails;
    bool immediate = o->status == 429 || o->status == 401 || o->status == 404 || o->status == 408;
    bool rate = reqs >= s->failure_min_requests && (double)fails / reqs >= s->failure_threshold;
    if (was_probe || immediate || fails > allowed || rate)
        cool(d, s, now_us);
}

const char *rt_state(deployment_t *d, int64_t now_us)
{
    if (atomic_load(&d->unhealthy))
        return "unhealthy";
    if (atomic_load(&d->st.cooldown_until_us) > now_us)
        return "cooldown";
    if (atomic_load(&d->st.needs_probe))
        return "half-open";
    return "healthy";
}
