/*
 * rl: the rate limiter's front end - argument normalisation, the decision's defaults, and the
 * fail-open policy when the backend cannot decide.  The counting itself is the backend's (rl_mem.c
 * for one process).
 */
#include "rl.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* At most one fail-open warning this often; it gives the number of admissions since the last. */
#define RL_WARN_EVERY_MS 10000

struct rl_table {
    const rl_backend_t *be;
    void *state;
    _Atomic int64_t warned_ms;     /* when the last warning was logged (INT64_MIN: never) */
    atomic_uint_fast64_t unwarned; /* fail-open admissions not yet reported */
};

rl_table_t *rl_new(size_t capacity, const rl_backend_t *backend)
{
    if (capacity == 0)
        return NULL;
    rl_table_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->be = backend != NULL ? backend : &rl_backend_memory;
    atomic_init(&t->warned_ms, INT64_MIN);
    atomic_init(&t->unwarned, 0);
    t->state = t->be->create(t->be, capacity);
    if (t->state == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

void rl_free(rl_table_t *t)
{
    if (t == NULL)
        return;
    t->be->destroy(t->state);
    free(t);
}

static int64_t nonneg(int64_t v)
{
    return v > 0 ? v : 0;
}

/* Times before 0 count as 0; far-future ones are capped so that bucket arithmetic cannot
 * overflow (a millisecond clock reaches INT64_MAX / 4 in 73 million years). */
static int64_t clock_ms(int64_t v)
{
    return v <= 0 ? 0 : v > INT64_MAX / 4 ? INT64_MAX / 4 : v;
}

/* A decision that admits without counting: what rl_check() starts from. */
static void uncounted(rl_decision_t *d, const rl_limits_t *lim)
{
    memset(d, 0, sizeof *d);
    d->admitted = true;
    d->limit_requests = lim->rpm;
    d->limit_tokens = lim->tpm;
    d->limit_parallel = lim->max_parallel;
    d->remaining_requests = d->remaining_tokens = d->remaining_parallel = -1;
}

static const char *why(int rc)
{
    switch (rc) {
    case RL_EFULL:
        return "its subject table is full (raise the capacity)";
    case RL_ENOMEM:
        return "out of memory";
    case RL_EBACKEND:
        return "its shared store is unavailable";
    default:
        return "an unknown backend error";
    }
}

/* Report fail-open admissions, but not for each of them: a full table under load would otherwise
 * write a line per request.  Whoever moves warned_ms forward logs the count gathered so far. */
static void warn_open(rl_table_t *t, int rc, int64_t now_ms)
{
    atomic_fetch_add_explicit(&t->unwarned, 1, memory_order_relaxed);
    int64_t last = atomic_load_explicit(&t->warned_ms, memory_order_relaxed);
    if (last != INT64_MIN && now_ms - last < RL_WARN_EVERY_MS)
        return;
    if (!atomic_compare_exchange_strong_explicit(&t->warned_ms, &last, now_ms, memory_order_relaxed,
                                                 memory_order_relaxed))
        return;
    uint_fast64_t n = atomic_exchange_explicit(&t->unwarned, 0, memory_order_relaxed);
    log_warn("rate limiter (%s): %s; admitted %llu request(s) without rate limits", t->be->name,
             why(rc), (unsigned long long)n);
}

bool rl_check(rl_table_t *t, const char *subject, rl_limits_t lim, int64_t now_ms,
              int64_t est_tokens, rl_decision_t *d)
{
    lim.rpm = nonneg(lim.rpm);
    lim.tpm = nonneg(lim.tpm);
    lim.max_parallel = nonneg(lim.max_parallel);
    now_ms = clock_ms(now_ms);
    est_tokens = nonneg(est_tokens);

    uncounted(d, &lim);
    if (lim.rpm == 0 && lim.tpm == 0 && lim.max_parallel == 0)
        return true; /* nothing to limit: no need to take a place in the table either */

    int rc = t->be->admit(t->state, subject, strlen(subject), &lim, now_ms, est_tokens, d);
    if (rc == 0)
        return d->admitted;
    /* Whatever the backend wrote is void: the request goes through, uncounted. */
    uncounted(d, &lim);
    d->fail_open = true;
    warn_open(t, rc, now_ms);
    return true;
}

void rl_settle(rl_table_t *t, const char *subject, rl_ticket_t *tk, int64_t actual_tokens,
               int64_t now_ms)
{
    if (!tk->_live)
        return;
    t->be->settle(t->state, subject, strlen(subject), tk, nonneg(actual_tokens), clock_ms(now_ms));
}

void rl_release(rl_table_t *t, const char *subject, rl_ticket_t *tk, int64_t now_ms)
{
    if (!tk->_held)
        return;
    t->be->release(t->state, subject, strlen(subject), tk, clock_ms(now_ms));
}

void rl_cancel(rl_table_t *t, const char *subject, rl_ticket_t *tk, int64_t now_ms)
{
    if (!tk->_live && !tk->_held)
        return;
    t->be->cancel(t->state, subject, strlen(subject), tk, clock_ms(now_ms));
}
