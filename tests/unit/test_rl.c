/*
 * Unit tests for core/rl.c and core/rl_mem.c: the sliding window checked over every 60-second
 * interval of long timelines (bursts at bucket edges, random timelines against a reference model
 * of the specification), token reservation and settlement, Retry-After to the millisecond, parallel
 * slots, expiry and reuse of subjects, a full table failing open (and its warning), and threads
 * hammering one subject and many (run it in a -Db_sanitize=thread build as well).
 *
 * Time is injected: every call gets its `now` from the test.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "rl.h"

/* ---- helpers --------------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static int64_t rnd_in(int64_t lo, int64_t hi) /* inclusive */
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static rl_limits_t lim3(int64_t rpm, int64_t tpm, int64_t par)
{
    return (rl_limits_t){.rpm = rpm, .tpm = tpm, .max_parallel = par};
}

/*
 * The property the limiter promises: for every start a (each millisecond of the timeline), the
 * weight admitted in [a, a + 60 s] is at most `limit`.  Closed intervals, so also two admissions
 * exactly 60 s apart count together.  Returns the largest such weight.
 */
static int64_t max_in_any_minute(const int64_t *at, const int64_t *w, size_t n)
{
    if (n == 0)
        return 0;
    int64_t end = 0;
    for (size_t i = 0; i < n; i++)
        if (at[i] > end)
            end = at[i];
    size_t len = (size_t)end + 1;
    int64_t *pre = calloc(len + 1, sizeof *pre); /* pre[x] = weight admitted before ms x */
    for (size_t i = 0; i < n; i++)
        pre[at[i] + 1] += w != NULL ? w[i] : 1;
    for (size_t x = 1; x <= len; x++)
        pre[x] += pre[x - 1];
    int64_t worst = 0;
    for (int64_t a = 0; a <= end; a++) {
        int64_t b = a + RL_WINDOW_MS; /* inclusive */
        int64_t sum = pre[b + 1 > (int64_t)len ? (int64_t)len : b + 1] - pre[a];
        if (sum > worst)
            worst = sum;
    }
    free(pre);
    return worst;
}

/* ---- the window at bucket edges -------------------------------------------------------------- */

static void test_edge_bursts(void)
{
    enum { L = 10 };
    rl_table_t *t = rl_new(16, NULL);
    CHECK(t != NULL);
    rl_decision_t d;
    int64_t at[4096];
    size_t n = 0;

    /* The whole limit in the last millisecond of a second, then knocking at every millisecond
     * around the following edges: a fixed window would admit L more at 60.000 s. */
    for (int i = 0; i < L + 5; i++)
        if (rl_check(t, "s", lim3(L, 0, 0), 59999, 0, &d))
            at[n++] = 59999;
    CHECK(n == L);
    CHECK(!d.admitted && d.denied == RL_DENY_REQUESTS);
    /* Bucket 59 leaves the window at the start of second 120. */
    CHECK(d.retry_after_ms == 120000 - 59999);
    for (int64_t now = 60000; now < 125000; now++) {
        bool ok = rl_check(t, "s", lim3(L, 0, 0), now, 0, &d);
        if (ok)
            at[n++] = now;
        if (now < 120000)
            CHECK(!ok);
    }
    /* From 120.000 s the window is free again: L more, then shut until 181 s. */
    CHECK(n == 2 * L);
    CHECK(at[L] == 120000 && at[2 * L - 1] == 120000 + L - 1);

    /* Then bursts straddling many edges: half before, half after. */
    for (int64_t edge = 200000; edge < 800000; edge += 37000)
        for (int64_t now = edge - 3; now <= edge + 3; now++)
            for (int i = 0; i < 3; i++)
                if (rl_check(t, "s", lim3(L, 0, 0), now, 0, &d))
                    at[n++] = now;
    CHECK(n < sizeof at / sizeof at[0]);
    CHECK(max_in_any_minute(at, NULL, n) == L);
    rl_free(t);
}

/* A steady knock every few milliseconds for 20 minutes: the window holds in every interval and
 * the limiter admits the whole limit each time the window frees (not fewer). */
static void test_steady_knocking(void)
{
    enum { L = 100 };
    rl_table_t *t = rl_new(16, NULL);
    rl_decision_t d;
    size_t cap = 20 * 60 * 1000 / 7 + 16, n = 0;
    int64_t *at = malloc(cap * sizeof *at);
    for (int64_t now = 0; now < 20 * 60 * 1000; now += 7)
        if (rl_check(t, "k", lim3(L, 0, 0), now, 0, &d))
            at[n++] = now;
    CHECK(max_in_any_minute(at, NULL, n) == L);
    /* 100 per minute at 7 ms spacing: the limit fills in 0.7 s, then waits ~60.3 s; 20 minutes
     * hold 20 windows of 60 to 61 s. */
    CHECK(n >= 19 * L && n <= 20 * L);
    free(at);
    rl_free(t);
}

/* ---- a reference model of the specification, and random timelines ---------------------------- */

/*
 * The specification, by brute force over whole seconds: a check at t (second s) sees the requests
 * and tokens of seconds s-60 .. s; it admits when requests + 1 <= rpm, tokens + max(est, 1) <= tpm
 * and in-flight < max_parallel.  Tokens: the estimate in the admission second, corrected there by
 * settle while that second is in the window; afterwards an increase goes to the current second.
 */
#define REF_SECS 4000
typedef struct ref {
    int64_t req[REF_SECS], tok[REF_SECS];
    int64_t inflight;
} ref_t;

typedef struct ref_req {
    rl_ticket_t tk;  /* the limiter's */
    int64_t sec;     /* the model's: second its tokens are in */
    int64_t charged; /* ... how many */
    int64_t tokens;  /* reported so far */
    bool moved, live, held;
} ref_req_t;

static int64_t ref_sum(const int64_t *v, int64_t s)
{
    int64_t sum = 0;
    for (int64_t x = s - 60; x <= s; x++)
        if (x >= 0)
            sum += v[x];
    return sum;
}

static unsigned ref_denied(const ref_t *r, rl_limits_t l, int64_t s, int64_t need)
{
    unsigned den = 0;
    if (l.rpm > 0 && ref_sum(r->req, s) + 1 > l.rpm)
        den |= RL_DENY_REQUESTS;
    if (l.tpm > 0 && ref_sum(r->tok, s) + need > l.tpm)
        den |= RL_DENY_TOKENS;
    if (l.max_parallel > 0 && r->inflight >= l.max_parallel)
        den |= RL_DENY_PARALLEL;
    return den;
}

static int64_t ref_retry(const ref_t *r, rl_limits_t l, int64_t now, int64_t need, unsigned den)
{
    if ((den & RL_DENY_TOKENS) && need > l.tpm)
        return -1;
    int64_t s = now / 1000, wait = 0;
    unsigned window = den & (RL_DENY_REQUESTS | RL_DENY_TOKENS);
    if (window != 0) {
        /* Later seconds have no new requests: find the first second when the window has room. */
        int64_t k = 1;
        while (((window & RL_DENY_REQUESTS) && ref_sum(r->req, s + k) + 1 > l.rpm) ||
               ((window & RL_DENY_TOKENS) && ref_sum(r->tok, s + k) + need > l.tpm))
            k++;
        wait = (s + k) * 1000 - now;
    }
    if ((den & RL_DENY_PARALLEL) && wait < RL_PARALLEL_RETRY_MS)
        wait = RL_PARALLEL_RETRY_MS;
    return wait;
}

static int64_t ref_reset(const int64_t *v, int64_t now)
{
    int64_t s = now / 1000;
    for (int64_t x = s; x >= s - 60 && x >= 0; x--)
        if (v[x] != 0)
            return (x + 61) * 1000 - now;
    return 0;
}

static int64_t ref_left(int64_t limit, int64_t used)
{
    return limit == 0 ? -1 : used >= limit ? 0 : limit - used;
}

static int mismatches;

#define SAME(a, b)                                                                           \
    do {                                                                                     \
        if ((a) != (b)) {                                                                    \
            if (mismatches++ < 10)                                                           \
                fprintf(stderr, "%s:%d: t=%lld %s = %lld, model %lld\n", __FILE__, __LINE__, \
                        (long long)now, #a, (long long)(a), (long long)(b));                 \
        }                                                                                    \
    } while (0)

/* One random timeline against the model, then the window property over all its admissions. */
static void random_timeline(rl_limits_t l, int64_t end_ms, int64_t max_est, bool settle_often)
{
    rl_table_t *t = rl_new(8, NULL);
    ref_t *r = calloc(1, sizeof *r);
    enum { MAXREQ = 20000 };
    ref_req_t *q = calloc(MAXREQ, sizeof *q);
    int64_t *at = calloc(MAXREQ, sizeof *at), *est_at = calloc(MAXREQ, sizeof *est_at);
    size_t nq = 0;
    bool all_exact = true; /* no settle changed a count: the token property must hold too */
    int64_t now = 0;
    rl_decision_t d;
    int probes = 0;

    while (now < end_ms && nq < MAXREQ) {
        /* Steps cluster at bucket edges and sometimes jump past the window. */
        switch (rnd() % 8) {
        case 0:
            now += rnd_in(0, 2);
            break;
        case 1:
            now = (now / 1000 + 1) * 1000 - rnd_in(0, 1) * 1; /* the edge or just before it */
            if (now < 0)
                now = 0;
            break;
        case 2:
            now += rnd_in(20000, 70000);
            break;
        default:
            now += rnd_in(0, 1500);
        }
        int64_t s = now / 1000;
        unsigned op = (unsigned)(rnd() % 10);
        if (op < 6 || nq == 0) {
            int64_t est = rnd_in(0, max_est), need = est > 0 ? est : 1;
            unsigned den = ref_denied(r, l, s, need);
            bool ok = rl_check(t, "subject", l, now, est, &d);
            SAME((int64_t)ok, (int64_t)(den == 0));
            SAME((int64_t)d.denied, (int64_t)den);
            SAME(d.retry_after_ms, den == 0 ? 0 : ref_retry(r, l, now, need, den));
            if (ok) {
                r->req[s]++;
                r->tok[s] += est;
                r->inflight++;
                q[nq] = (ref_req_t){.tk = d.ticket,
                                    .sec = s,
                                    .charged = est,
                                    .tokens = est,
                                    .live = true,
                                    .held = true};
                at[nq] = now;
                est_at[nq] = est;
                nq++;
            }
            SAME(d.remaining_requests, ref_left(l.rpm, ref_sum(r->req, s)));
            SAME(d.remaining_tokens, ref_left(l.tpm, ref_sum(r->tok, s)));
            SAME(d.remaining_parallel, ref_left(l.max_parallel, r->inflight));
            SAME(d.reset_requests_ms, l.rpm > 0 ? ref_reset(r->req, now) : 0);
            SAME(d.reset_tokens_ms, l.tpm > 0 ? ref_reset(r->tok, now) : 0);
            /* Retry-After to the millisecond: refused 1 ms before, admitted at it. */
            if (!ok && d.retry_after_ms > 1 && !(den & RL_DENY_PARALLEL) && probes < 200) {
                probes++;
                int64_t w = d.retry_after_ms;
                rl_decision_t e;
                CHECK(!rl_check(t, "subject", l, now + w - 1, est, &e));
                CHECK(e.retry_after_ms == 1);
                now += w;
                s = now / 1000;
                CHECK(ref_denied(r, l, s, need) == 0);
                CHECK(rl_check(t, "subject", l, now, est, &e));
                r->req[s]++;
                r->tok[s] += est;
                r->inflight++;
                q[nq] = (ref_req_t){.tk = e.ticket,
                                    .sec = s,
                                    .charged = est,
                                    .tokens = est,
                                    .live = true,
                                    .held = true};
                at[nq] = now;
                est_at[nq] = est;
                nq++;
            }
        } else {
            ref_req_t *x = &q[rnd() % nq];
            if (op < 8 && settle_often && x->live) {
                int64_t actual = rnd_in(0, 2 * max_est + 1);
                int64_t delta = actual - x->tokens;
                x->tokens = actual;
                if (s - x->sec > 60) {
                    x->sec = s;
                    x->charged = 0;
                    x->moved = true;
                }
                if (delta > 0) {
                    r->tok[x->sec] += delta;
                    x->charged += delta;
                } else {
                    int64_t sub = -delta < x->charged ? -delta : x->charged;
                    r->tok[x->sec] -= sub;
                    x->charged -= sub;
                }
                if (delta != 0)
                    all_exact = false;
                rl_settle(t, "subject", &x->tk, actual, now);
            } else if (op < 9 && x->held) {
                r->inflight--;
                x->held = false;
                rl_release(t, "subject", &x->tk, now);
            } else if (x->live || x->held) {
                /* Cancel: the request and what it still has in the window go. */
                if (x->live && s - x->sec <= 60) {
                    if (!x->moved)
                        r->req[x->sec]--;
                    r->tok[x->sec] -= x->charged;
                }
                if (x->held)
                    r->inflight--;
                x->live = x->held = false;
                x->charged = 0;
                at[x - q] = -1; /* no longer an admission */
                rl_cancel(t, "subject", &x->tk, now);
            }
        }
    }
    CHECK(mismatches == 0);
    CHECK(now < REF_SECS * 1000);

    /* The promise itself, over every interval (cancelled admissions do not count). */
    size_t k = 0;
    for (size_t i = 0; i < nq; i++)
        if (at[i] >= 0) {
            at[k] = at[i];
            est_at[k] = est_at[i];
            k++;
        }
    if (l.rpm > 0)
        CHECK(max_in_any_minute(at, NULL, k) <= l.rpm);
    if (l.tpm > 0 && all_exact)
        CHECK(max_in_any_minute(at, est_at, k) <= l.tpm);
    for (size_t i = 0; i < nq; i++) {
        rl_release(t, "subject", &q[i].tk, now);
        rl_release(t, "subject", &q[i].tk, now); /* twice: harmless */
    }
    free(at);
    free(est_at);
    free(q);
    free(r);
    rl_free(t);
}

static void test_random_timelines(void)
{
    for (int round = 0; round < 30; round++) {
        random_timeline(lim3(rnd_in(1, 40), 0, 0), 3000000, 50, false);
        random_timeline(lim3(0, rnd_in(1, 3000), 0), 3000000, 300, false);
        random_timeline(lim3(rnd_in(1, 40), rnd_in(100, 3000), rnd_in(0, 5)), 3000000, 300, true);
    }
}

/* Retry-After and the reset times, worked out by hand. */
static void test_retry_after(void)
{
    rl_table_t *t = rl_new(4, NULL);
    rl_decision_t d;
    CHECK(rl_check(t, "r", lim3(3, 0, 0), 500, 0, &d));
    CHECK(d.remaining_requests == 2 && d.limit_requests == 3);
    CHECK(d.reset_requests_ms == 61000 - 500);
    CHECK(rl_check(t, "r", lim3(3, 0, 0), 1500, 0, &d));
    CHECK(rl_check(t, "r", lim3(3, 0, 0), 2500, 0, &d));
    CHECK(d.remaining_requests == 0);
    CHECK(d.reset_requests_ms == 63000 - 2500);
    CHECK(!rl_check(t, "r", lim3(3, 0, 0), 2600, 0, &d));
    CHECK(d.denied == RL_DENY_REQUESTS);
    CHECK(d.retry_after_ms == 61000 - 2600); /* second 0 leaves the window at 61 s */
    CHECK(d.remaining_requests == 0);
    CHECK(!rl_check(t, "r", lim3(3, 0, 0), 60999, 0, &d));
    CHECK(d.retry_after_ms == 1);
    CHECK(rl_check(t, "r", lim3(3, 0, 0), 61000, 0, &d));
    CHECK(d.retry_after_ms == 0);
    /* Seconds 1 and 2 each hold one, and 61 the new one: next room at 62 s. */
    CHECK(!rl_check(t, "r", lim3(3, 0, 0), 61000, 0, &d));
    CHECK(d.retry_after_ms == 1000);

    /* A clock that goes back for one caller is counted at the newest time seen. */
    CHECK(!rl_check(t, "r", lim3(3, 0, 0), 50000, 0, &d));
    CHECK(d.retry_after_ms == 62000 - 50000);
    rl_free(t);
}

/* ---- tokens ---------------------------------------------------------------------------------- */

static void test_tokens(void)
{
    rl_table_t *t = rl_new(16, NULL);
    rl_decision_t a, b, c, d;
    rl_limits_t l = lim3(0, 1000, 0);

    CHECK(rl_check(t, "tk", l, 1000, 300, &a));
    CHECK(a.remaining_tokens == 700 && a.limit_tokens == 1000 && a.remaining_requests == -1);
    CHECK(rl_check(t, "tk", l, 1100, 300, &b));
    CHECK(rl_check(t, "tk", l, 2000, 300, &c));
    CHECK(c.remaining_tokens == 100);
    /* 900 reserved: a fourth estimate of 300 does not fit until second 1 leaves the window. */
    CHECK(!rl_check(t, "tk", l, 3000, 300, &d));
    CHECK(d.denied == RL_DENY_TOKENS && d.retry_after_ms == 62000 - 3000);
    /* The first two used only 100 each: settled, that frees 400 at once. */
    rl_settle(t, "tk", &a.ticket, 100, 3000);
    rl_settle(t, "tk", &b.ticket, 100, 3000);
    CHECK(rl_check(t, "tk", l, 3000, 300, &d));
    CHECK(d.remaining_tokens == 1000 - 100 - 100 - 300 - 300);
    /* Running totals while streaming: settle again with more, then the final count. */
    rl_settle(t, "tk", &c.ticket, 350, 4000);
    rl_settle(t, "tk", &c.ticket, 420, 5000);
    rl_decision_t e;
    CHECK(rl_check(t, "tk", l, 5000, 0, &e));
    CHECK(e.remaining_tokens == 1000 - 100 - 100 - 420 - 300);
    rl_settle(t, "tk", &c.ticket, 420, 5000); /* the same total again: no change */
    rl_settle(t, "tk", &c.ticket, 0, 5000);   /* nothing used after all */
    CHECK(rl_check(t, "tk", l, 5000, 0, &e));
    CHECK(e.remaining_tokens == 1000 - 100 - 100 - 300);

    /* No estimate still needs a token of room: a window at the limit refuses it. */
    rl_decision_t f;
    CHECK(rl_check(t, "tk2", l, 5000, 1000, &f));
    CHECK(f.remaining_tokens == 0);
    CHECK(!rl_check(t, "tk2", l, 5000, 0, &e));
    CHECK(e.denied == RL_DENY_TOKENS && e.retry_after_ms == 66000 - 5000);
    /* More than the whole limit never fits. */
    CHECK(!rl_check(t, "tk3", l, 5000, 1001, &e));
    CHECK(e.denied == RL_DENY_TOKENS && e.retry_after_ms == -1);
    CHECK(rl_check(t, "tk3", l, 5000, 1000, &e));

    /* A long request: its bucket has left the window when it settles; the tokens beyond its
     * reservation are charged now, the reservation itself is not charged again. */
    rl_decision_t g;
    CHECK(rl_check(t, "long", l, 10000, 200, &g));
    CHECK(rl_check(t, "long", l, 75000, 0, &e));
    CHECK(e.remaining_tokens == 1000);
    rl_settle(t, "long", &g.ticket, 500, 75000);
    CHECK(rl_check(t, "long", l, 75000, 0, &e));
    CHECK(e.remaining_tokens == 700);
    rl_settle(t, "long", &g.ticket, 450, 76000); /* a lower final count corrects the new charge */
    CHECK(rl_check(t, "long", l, 76000, 0, &e));
    CHECK(e.remaining_tokens == 750);
    rl_settle(t, "long", &g.ticket, 0, 76000); /* ... but never below what it put there */
    CHECK(rl_check(t, "long", l, 76000, 0, &e));
    CHECK(e.remaining_tokens == 1000);
    rl_release(t, "long", &g.ticket, 76000);

    /* Cancel takes back the request and its reservation; twice is harmless. */
    rl_decision_t h, i;
    CHECK(rl_check(t, "c", lim3(2, 1000, 1), 1000, 400, &h));
    CHECK(!rl_check(t, "c", lim3(2, 1000, 1), 1000, 400, &i));
    CHECK(i.denied == RL_DENY_PARALLEL);
    rl_cancel(t, "c", &h.ticket, 1000);
    rl_cancel(t, "c", &h.ticket, 1000);
    rl_settle(t, "c", &h.ticket, 999, 1000); /* a cancelled ticket records nothing */
    CHECK(rl_check(t, "c", lim3(2, 1000, 1), 1000, 400, &i));
    CHECK(i.remaining_requests == 1 && i.remaining_tokens == 600 && i.remaining_parallel == 0);
    rl_release(t, "c", &i.ticket, 1000);
    rl_free(t);
}

/* ---- parallel slots -------------------------------------------------------------------------- */

static void test_parallel(void)
{
    rl_table_t *t = rl_new(4, NULL);
    rl_decision_t a, b, c;
    rl_limits_t l = lim3(0, 0, 2);
    CHECK(rl_check(t, "p", l, 0, 0, &a));
    CHECK(a.remaining_parallel == 1 && a.limit_parallel == 2);
    CHECK(rl_check(t, "p", l, 0, 0, &b));
    CHECK(!rl_check(t, "p", l, 0, 0, &c));
    CHECK(c.denied == RL_DENY_PARALLEL && c.retry_after_ms == RL_PARALLEL_RETRY_MS);
    CHECK(c.remaining_parallel == 0);
    rl_release(t, "p", &a.ticket, 10);
    rl_release(t, "p", &a.ticket, 10); /* twice: harmless */
    rl_release(t, "p", &c.ticket, 10); /* a refused ticket holds nothing */
    CHECK(rl_check(t, "p", l, 10, 0, &c));
    CHECK(c.remaining_parallel == 0);
    CHECK(!rl_check(t, "p", l, 10, 0, &a));
    /* Parallel and a window refusal together: the longer wait. */
    rl_decision_t d;
    CHECK(rl_check(t, "q", lim3(1, 0, 1), 500, 0, &d));
    CHECK(!rl_check(t, "q", lim3(1, 0, 1), 500, 0, &a));
    CHECK(a.denied == (RL_DENY_REQUESTS | RL_DENY_PARALLEL) && a.retry_after_ms == 60500);
    rl_release(t, "q", &d.ticket, 500);
    rl_release(t, "p", &b.ticket, 500);
    rl_release(t, "p", &c.ticket, 500);
    rl_free(t);
}

/* ---- the table: expiry, reuse, full ---------------------------------------------------------- */

static char errs[8192];

/* Run f with stderr captured into errs. */
static void capture(void (*f)(void *), void *arg)
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    f(arg);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(errs, 1, sizeof errs - 1, tmp);
    errs[n] = '\0';
    fclose(tmp);
}

/* Send stderr to /dev/null (the fail-open warnings of tests that are not about them), and back. */
static void quiet(bool on)
{
    static int saved = -1;
    fflush(stderr);
    if (on) {
        saved = dup(STDERR_FILENO);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDERR_FILENO);
        close(null);
    } else {
        dup2(saved, STDERR_FILENO);
        close(saved);
    }
}

static int count_lines(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void expiry_body(void *arg)
{
    (void)arg;
    rl_table_t *t = rl_new(4, NULL); /* four slots, one shard: every probe sees them all */
    rl_decision_t d;
    rl_limits_t l = lim3(1, 0, 0);
    static const char *const first[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) {
        CHECK(rl_check(t, first[i], l, 0, 0, &d));
        CHECK(!d.fail_open);
        rl_release(t, first[i], &d.ticket, 0);
    }
    /* Full: a fifth subject is admitted uncounted, each time. */
    CHECK(rl_check(t, "e", l, 1000, 0, &d));
    CHECK(d.fail_open && d.remaining_requests == -1 && d.limit_requests == 1);
    CHECK(rl_check(t, "e", l, 1000, 0, &d));
    CHECK(d.fail_open);
    rl_release(t, "e", &d.ticket, 1000); /* holds nothing */
    /* Subjects already in keep their counts. */
    CHECK(!rl_check(t, "a", l, 1000, 0, &d));
    CHECK(!d.fail_open);
    /* Idle since 0 but not for two windows yet. */
    CHECK(rl_check(t, "e", l, RL_IDLE_MS - 1, 0, &d));
    CHECK(d.fail_open);
    /* b, c and d have been idle for two windows: their places go to e, f, g, and a (used at
     * 1000) keeps its own. */
    static const char *const next[] = {"e", "f", "g"};
    for (int i = 0; i < 3; i++) {
        CHECK(rl_check(t, next[i], l, RL_IDLE_MS, 0, &d));
        CHECK(!d.fail_open);
        rl_release(t, next[i], &d.ticket, RL_IDLE_MS);
        CHECK(!rl_check(t, next[i], l, RL_IDLE_MS, 0, &d)); /* counted now */
    }
    CHECK(rl_check(t, "h", l, RL_IDLE_MS, 0, &d));
    CHECK(d.fail_open);
    CHECK(rl_check(t, "h", l, RL_IDLE_MS + 1000, 0, &d)); /* a's place */
    CHECK(!d.fail_open);
    rl_release(t, "h", &d.ticket, RL_IDLE_MS + 1000);
    /* b comes back: its old counts are gone with it; there is no place for it now. */
    CHECK(rl_check(t, "b", l, RL_IDLE_MS + 1000, 0, &d));
    CHECK(d.fail_open);
    rl_free(t);
}

static void test_expiry_and_full(void)
{
    capture(expiry_body, NULL);
    /* Three fail-open admissions within 10 s give one warning; the later ones, another. */
    CHECK(count_lines(errs, "subject table is full") == 2);
    CHECK(strstr(errs, "admitted 1 request(s)") != NULL);
    CHECK(strstr(errs, "admitted 2 request(s)") != NULL); /* the second at 1000, and 119999 */
}

static void test_inflight_keeps_place(void)
{
    rl_table_t *t = rl_new(1, NULL);
    rl_decision_t x, y, e;
    rl_limits_t l = lim3(0, 1000, 0);
    CHECK(rl_check(t, "x", l, 0, 100, &x));
    /* Five windows later x is still in flight: its place is not free. */
    quiet(true);
    CHECK(rl_check(t, "y", l, 5 * RL_WINDOW_MS, 10, &y) && y.fail_open);
    quiet(false);
    rl_settle(t, "x", &x.ticket, 150, 5 * RL_WINDOW_MS);
    rl_release(t, "x", &x.ticket, 5 * RL_WINDOW_MS);
    CHECK(rl_check(t, "y", l, 5 * RL_WINDOW_MS + RL_IDLE_MS, 10, &y));
    CHECK(!y.fail_open && y.remaining_tokens == 990);
    /* An old ticket of the place's previous subject changes nothing for the new one. */
    rl_settle(t, "x", &x.ticket, 900, 5 * RL_WINDOW_MS + RL_IDLE_MS);
    rl_cancel(t, "x", &x.ticket, 5 * RL_WINDOW_MS + RL_IDLE_MS);
    CHECK(rl_check(t, "y", l, 5 * RL_WINDOW_MS + RL_IDLE_MS, 0, &e));
    CHECK(e.remaining_tokens == 990);
    rl_release(t, "y", &y.ticket, 0);
    rl_release(t, "y", &e.ticket, 0);
    rl_free(t);
}

static void test_misc(void)
{
    CHECK(rl_new(0, NULL) == NULL);
    rl_table_t *t = rl_new(1, NULL);
    rl_decision_t d;
    /* No limits: admitted without taking the only place. */
    for (int i = 0; i < 100; i++)
        CHECK(rl_check(t, "free", lim3(0, -5, 0), i, 10, &d) && !d.fail_open);
    CHECK(d.remaining_requests == -1 && d.remaining_tokens == -1 && d.limit_tokens == 0);
    rl_release(t, "free", &d.ticket, 0);
    CHECK(rl_check(t, "only", lim3(1, 0, 0), 0, 0, &d) && !d.fail_open);
    /* Keys differing only after a shared prefix, long keys, the empty key. */
    rl_table_t *u = rl_new(64, NULL);
    char a[300], b[300];
    memset(a, 'k', sizeof a - 1);
    a[sizeof a - 1] = '\0';
    memcpy(b, a, sizeof a);
    b[sizeof b - 2] = 'j';
    CHECK(rl_check(u, a, lim3(1, 0, 0), 0, 0, &d));
    CHECK(rl_check(u, b, lim3(1, 0, 0), 0, 0, &d));
    CHECK(!rl_check(u, a, lim3(1, 0, 0), 0, 0, &d));
    CHECK(rl_check(u, "", lim3(1, 0, 0), 0, 0, &d));
    CHECK(!rl_check(u, "", lim3(1, 0, 0), 0, 0, &d));
    /* Negative times count as 0. */
    CHECK(!rl_check(u, "", lim3(1, 0, 0), -5000, 0, &d));
    CHECK(d.retry_after_ms == 61000);
    rl_free(u);
    rl_free(t);
    rl_free(NULL);
}

/* ---- threads --------------------------------------------------------------------------------- */

enum { NTHREADS = 8 };

typedef struct hammer {
    rl_table_t *t;
    rl_limits_t lim;
    int64_t est;
    int attempts;
    atomic_int *admitted;
    atomic_int *cur, *peak; /* parallel: requests between admission and release */
    _Atomic int64_t *clock; /* advanced by every call when non-NULL */
    int nsubjects;
    atomic_int *per_subject;
    atomic_int *fail_open;
    unsigned seed;
} hammer_t;

static void *hammer_one(void *arg)
{
    hammer_t *h = arg;
    for (int i = 0; i < h->attempts; i++) {
        rl_decision_t d;
        if (rl_check(h->t, "hot", h->lim, 30000, h->est, &d))
            atomic_fetch_add(h->admitted, 1);
    }
    return NULL;
}

static void *hammer_parallel(void *arg)
{
    hammer_t *h = arg;
    for (int i = 0; i < h->attempts; i++) {
        rl_decision_t d;
        if (!rl_check(h->t, "par", h->lim, 1000 + i, 0, &d))
            continue;
        atomic_fetch_add(h->admitted, 1);
        int c = atomic_fetch_add(h->cur, 1) + 1;
        int p = atomic_load(h->peak);
        while (c > p && !atomic_compare_exchange_weak(h->peak, &p, c))
            ;
        for (volatile int spin = 0; spin < 50; spin = spin + 1)
            ;
        atomic_fetch_sub(h->cur, 1);
        rl_settle(h->t, "par", &d.ticket, 3, 1000 + i);
        rl_release(h->t, "par", &d.ticket, 1000 + i);
    }
    return NULL;
}

static void *hammer_many(void *arg)
{
    hammer_t *h = arg;
    unsigned x = h->seed;
    for (int i = 0; i < h->attempts; i++) {
        x = x * 1103515245u + 12345u;
        int k = (int)((x >> 8) % (unsigned)h->nsubjects);
        char subj[32];
        snprintf(subj, sizeof subj, "team:%d", k);
        rl_decision_t d;
        if (rl_check(h->t, subj, h->lim, 2000, 1, &d)) {
            if (d.fail_open)
                atomic_fetch_add(h->fail_open, 1);
            atomic_fetch_add(&h->per_subject[k], 1);
            rl_release(h->t, subj, &d.ticket, 2000);
        }
    }
    return NULL;
}

/* Subjects come and go through a small table while the clock runs: inserts, reuse, settles and
 * cancels all race (for TSan; the counts themselves are checked elsewhere). */
static void *hammer_churn(void *arg)
{
    hammer_t *h = arg;
    unsigned x = h->seed;
    for (int i = 0; i < h->attempts; i++) {
        x = x * 1103515245u + 12345u;
        int k = (int)((x >> 8) % (unsigned)h->nsubjects);
        char subj[32];
        snprintf(subj, sizeof subj, "user:%d", k);
        int64_t now = atomic_fetch_add(h->clock, 97);
        rl_decision_t d;
        if (rl_check(h->t, subj, h->lim, now, (x >> 4) % 50, &d) && !d.fail_open) {
            atomic_fetch_add(h->admitted, 1);
            if ((x >> 3) & 1) {
                rl_cancel(h->t, subj, &d.ticket, now);
            } else {
                rl_settle(h->t, subj, &d.ticket, (x >> 5) % 80, now);
                rl_release(h->t, subj, &d.ticket, now);
            }
        }
    }
    return NULL;
}

static void run_threads(void *(*fn)(void *), hammer_t *proto)
{
    pthread_t th[NTHREADS];
    hammer_t h[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        h[i] = *proto;
        h[i].seed = 7919u * (unsigned)(i + 1);
        pthread_create(&th[i], NULL, fn, &h[i]);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
}

static void test_threads(void)
{
    /* One subject, eight threads, many more attempts than the limit: exactly the limit. */
    for (int round = 0; round < 5; round++) {
        atomic_int admitted = 0;
        hammer_t h = {.t = rl_new(64, NULL),
                      .lim = lim3(1000, 0, 0),
                      .attempts = 2000,
                      .admitted = &admitted};
        run_threads(hammer_one, &h);
        CHECK(atomic_load(&admitted) == 1000);
        rl_free(h.t);

        /* Tokens: 7 each under 7000 is 1000 requests too; plus rpm and parallel unset. */
        atomic_store(&admitted, 0);
        h = (hammer_t){.t = rl_new(64, NULL),
                       .lim = lim3(0, 7000, 0),
                       .est = 7,
                       .attempts = 2000,
                       .admitted = &admitted};
        run_threads(hammer_one, &h);
        CHECK(atomic_load(&admitted) == 1000);
        rl_free(h.t);
    }

    /* Parallel: never more than three between admission and release. */
    atomic_int admitted = 0, cur = 0, peak = 0;
    hammer_t p = {.t = rl_new(64, NULL),
                  .lim = lim3(0, 0, 3),
                  .attempts = 20000,
                  .admitted = &admitted,
                  .cur = &cur,
                  .peak = &peak};
    run_threads(hammer_parallel, &p);
    CHECK(atomic_load(&peak) <= 3 && atomic_load(&peak) >= 1);
    CHECK(atomic_load(&admitted) > 0);
    rl_decision_t d;
    CHECK(rl_check(p.t, "par", lim3(0, 0, 3), 30000, 0, &d) && d.remaining_parallel == 2);
    rl_free(p.t);

    /* Many subjects inserted concurrently: none is inserted twice (each gets exactly its limit). */
    enum { NSUBJ = 300 };
    atomic_int per[NSUBJ];
    for (int i = 0; i < NSUBJ; i++)
        atomic_init(&per[i], 0);
    atomic_int open_admits = 0;
    hammer_t m = {.t = rl_new(1024, NULL),
                  .lim = lim3(5, 0, 0),
                  .attempts = 20000,
                  .nsubjects = NSUBJ,
                  .per_subject = per,
                  .fail_open = &open_admits};
    run_threads(hammer_many, &m);
    CHECK(atomic_load(&open_admits) == 0);
    int wrong = 0;
    for (int i = 0; i < NSUBJ; i++)
        wrong += atomic_load(&per[i]) != 5;
    CHECK(wrong == 0);
    rl_free(m.t);

    /* Churn through a table too small for the subjects. */
    _Atomic int64_t clock = 0;
    atomic_store(&admitted, 0);
    hammer_t c = {.t = rl_new(16, NULL),
                  .lim = lim3(20, 500, 2),
                  .attempts = 20000,
                  .admitted = &admitted,
                  .clock = &clock,
                  .nsubjects = 40};
    quiet(true);
    run_threads(hammer_churn, &c);
    quiet(false);
    CHECK(atomic_load(&admitted) > 0);
    rl_free(c.t);
}

int main(void)
{
    test_edge_bursts();
    test_steady_knocking();
    test_retry_after();
    test_tokens();
    test_parallel();
    test_expiry_and_full();
    test_inflight_keeps_place();
    test_misc();
    test_random_timelines();
    test_threads();
    return check_report();
}
