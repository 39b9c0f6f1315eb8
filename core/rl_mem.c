/*
 * rl_mem: the in-memory rate-limit backend - a sliding minute per subject in a fixed-size table.
 *
 * The window.  Each subject counts requests and tokens in a ring of 61 one-second buckets, the
 * current second and the 60 before it, and a check compares the sum of all 61 with the limit.  That
 * covers every admission of the last 60 s, so in any 60-second interval the admissions never exceed
 * the limit: take the last request admitted in the interval; every other one admitted in it is
 * less than 60 s older, so it lies in one of the 61 buckets that last request was checked against,
 * and their sum was below the limit.  The price is a window between 60 and 61 s long, depending on
 * where in its second a request lands: a subject that used up its limit waits at most 1 s longer
 * than an exact sliding log would make it wait.  The alternatives:
 *   - a fixed minute (reset at :00) admits twice the limit around the reset;
 *   - the two-bucket estimate (the previous minute weighted by its overlap with the window) admits
 *     more than the limit when the previous minute's requests were bunched at its end;
 *   - a sliding log of admission times is exact but takes memory in proportion to the limit (rpm
 *     10000 is 80 kB per subject), and tokens would need an entry per request;
 *   - GCRA and token buckets bound the long-run rate, not the count in a 60-second interval: after
 *     a full burst they admit one more a fraction of a window later.
 * Two rings of 61 four-byte counters keep a subject in 576 bytes whatever its limits; narrower
 * buckets (RL_BUCKET_MS) would shorten the extra second for proportionally more memory.
 *
 * Tokens.  An admission reserves the caller's estimate in its bucket, and settle corrects that
 * bucket by the difference to the real count, so once its requests are settled a bucket holds
 * exactly the tokens of the requests admitted in its second.  A request that outlives its bucket (a
 * stream longer than the window) charges what it used beyond the reservation to the current bucket.
 *
 * Concurrency.  A check must decide on requests, tokens and parallel slots together and count all
 * three or none, and settle must correct the bucket the reservation went into.  Lock-free, over
 * several words, that either admits too many (check, then add) or refuses requests it should admit
 * (add, check, take back when over: two requests racing at limit - 1 both take back).  So each
 * subject has its own spinlock, held for a few dozen instructions: no allocation, no system call,
 * and the window sums are kept up to date, so a check does not add up 61 buckets.  Different
 * subjects never contend, and nothing is locked across the table on the path of a known subject.
 *
 * The table.  Open addressing with linear probing, split into shards of at most 256 slots with a
 * mutex each for inserting.  Finding a known subject locks nothing but the subject: the probe
 * compares 64-bit hashes without a lock, then locks the slot and compares the key.  A new subject
 * takes its shard's mutex, probes again (so two threads cannot insert it twice), and takes the
 * first slot on its path that is either empty or idle - unused for RL_IDLE_MS, when all its buckets
 * have long expired, and with no request in flight.  Slots never become empty again, so a probe can
 * stop at the first empty one.  When a shard has neither, the subject gets no place (RL_EFULL) and
 * the front end fails open.  Hashes are keyed with a random seed per table, because subjects can
 * carry values that clients choose (customer ids).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "rl.h"

_Static_assert(RL_WINDOW_MS % RL_BUCKET_MS == 0, "the window must be a whole number of buckets");

#define NB (RL_WINDOW_MS / RL_BUCKET_MS + 1) /* buckets in a ring: the window and one more */
#define SHARD_MAX 256                        /* slots per shard: bounds a probe */
#define CAPACITY_MAX ((size_t)1 << 31)       /* slot numbers fit a ticket's uint32_t */

typedef struct slot {
    /* Read without the lock (by probes and by inserters looking for idle slots): */
    _Alignas(64) atomic_uint lock;
    _Atomic uint64_t hash;   /* of the key; 0 = never used */
    _Atomic int64_t last_ms; /* last check, settle, release or cancel */
    /* Guarded by lock; key and hash are written only with the shard's mutex held as well. */
    uint32_t gen; /* bumped whenever the slot takes a new subject, so old tickets miss */
    uint32_t inflight;
    char *key;
    size_t keylen;
    int64_t head;        /* newest bucket counted: the ring holds head - NB + 1 .. head */
    uint64_t nreq, ntok; /* sums of the ring */
    uint32_t req[NB];    /* requests admitted in each bucket */
    uint32_t tok[NB];    /* tokens charged to each bucket */
} slot_t;

typedef struct mem {
    uint64_t seed;
    size_t nslots, shard_size, nshards;
    pthread_mutex_t *mu; /* one per shard: inserts */
    slot_t *slots;       /* shard i owns slots [i * shard_size, (i + 1) * shard_size) */
} mem_t;

/* ---- locks ----------------------------------------------------------------------------------- */

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Spin, then yield: a holder that was preempted gets the CPU back instead of being spun against. */
static void slot_lock(slot_t *s)
{
    unsigned spins = 0;
    while (atomic_exchange_explicit(&s->lock, 1, memory_order_acquire) != 0) {
        do {
            if (++spins < 100)
                cpu_relax();
            else
                sched_yield();
        } while (atomic_load_explicit(&s->lock, memory_order_relaxed) != 0);
    }
}

static void slot_unlock(slot_t *s)
{
    atomic_store_explicit(&s->lock, 0, memory_order_release);
}

/* ---- the ring -------------------------------------------------------------------------------- */

static size_t ring(int64_t bucket)
{
    int64_t i = bucket % NB;
    return (size_t)(i < 0 ? i + NB : i);
}

/* Move the ring forward to `bucket`, dropping the buckets that leave the window.  A bucket older
 * than head (a caller whose clock is behind another's) counts as head. */
static void advance(slot_t *s, int64_t bucket)
{
    if (bucket <= s->head)
        return;
    if (bucket - s->head >= NB) {
        memset(s->req, 0, sizeof s->req);
        memset(s->tok, 0, sizeof s->tok);
        s->nreq = s->ntok = 0;
    } else {
        for (int64_t b = s->head + 1; b <= bucket; b++) {
            size_t i = ring(b);
            s->nreq -= s->req[i];
            s->ntok -= s->tok[i];
            s->req[i] = s->tok[i] = 0;
        }
    }
    s->head = bucket;
}

static bool in_window(const slot_t *s, int64_t bucket)
{
    return bucket <= s->head && s->head - bucket < NB;
}

/* Add up to n to a bucket (it saturates: 4e9 tokens in a second); returns what was added. */
static uint32_t add_sat(uint32_t *c, uint64_t n)
{
    uint32_t room = UINT32_MAX - *c;
    uint32_t add = n < room ? (uint32_t)n : room;
    *c += add;
    return add;
}

static void touch(slot_t *s, int64_t now_ms)
{
    if (now_ms > atomic_load_explicit(&s->last_ms, memory_order_relaxed))
        atomic_store_explicit(&s->last_ms, now_ms, memory_order_relaxed);
}

/*
 * How long until the window holds room for `need` more under `limit`, nothing else happening: the
 * buckets leave the window oldest first, bucket head - NB + k at the start of bucket head + k.
 * -1 when need alone exceeds the limit.
 */
static int64_t wait_ms(const slot_t *s, const uint32_t *c, uint64_t sum, uint64_t need,
                       uint64_t limit, int64_t now_ms)
{
    if (need > limit)
        return -1;
    if (sum + need <= limit)
        return 0;
    for (int64_t k = 1; k <= NB; k++) {
        sum -= c[ring(s->head + k)];
        if (sum + need <= limit)
            return (s->head + k) * RL_BUCKET_MS - now_ms;
    }
    return -1; /* not reached: the ring is empty after NB steps */
}

/* How long until the newest non-empty bucket has left the window. */
static int64_t reset_ms(const slot_t *s, const uint32_t *c, uint64_t sum, int64_t now_ms)
{
    if (sum == 0)
        return 0;
    for (int64_t j = 0; j < NB; j++)
        if (c[ring(s->head - j)] != 0)
            return (s->head - j + NB) * RL_BUCKET_MS - now_ms;
    return 0;
}

static int64_t left(int64_t limit, uint64_t used)
{
    if (limit == 0)
        return -1;
    return used >= (uint64_t)limit ? 0 : limit - (int64_t)used;
}

/* ---- the table ------------------------------------------------------------------------------- */

static uint64_t fmix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t hash_key(uint64_t seed, const char *p, size_t n)
{
    uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL);
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ fmix(w ^ seed)) * 0x9e3779b97f4a7c15ULL;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = fmix(h ^ fmix(w ^ seed ^ 0x2545f4914f6cdd1dULL));
    return h != 0 ? h : 1; /* 0 marks an empty slot */
}

static size_t shard_of(const mem_t *m, uint64_t h)
{
    return (size_t)(h >> 32) & (m->nshards - 1);
}

static slot_t *probe_slot(mem_t *m, size_t shard, uint64_t h, size_t i)
{
    return &m->slots[shard * m->shard_size + ((h + i) & (m->shard_size - 1))];
}

static bool same_key(const slot_t *s, const char *key, size_t len)
{
    return s->keylen == len && (len == 0 || memcmp(s->key, key, len) == 0);
}

/* The subject's slot, locked, or NULL when it has none. */
static slot_t *find(mem_t *m, const char *key, size_t len, uint64_t h)
{
    size_t shard = shard_of(m, h);
    for (size_t i = 0; i < m->shard_size; i++) {
        slot_t *s = probe_slot(m, shard, h, i);
        uint64_t sh = atomic_load_explicit(&s->hash, memory_order_acquire);
        if (sh == 0)
            return NULL;
        if (sh != h)
            continue;
        slot_lock(s);
        /* The slot may have been given to another subject since the hash was read. */
        if (atomic_load_explicit(&s->hash, memory_order_relaxed) == h && same_key(s, key, len))
            return s;
        slot_unlock(s);
    }
    return NULL;
}

static bool idle(const slot_t *s, int64_t now_ms)
{
    return now_ms - atomic_load_explicit(&s->last_ms, memory_order_relaxed) >= RL_IDLE_MS;
}

/* Find or place the subject with its shard's mutex held; *out is the slot, locked. */
static int insert(mem_t *m, const char *key, size_t len, uint64_t h, int64_t now_ms, slot_t **out)
{
    size_t shard = shard_of(m, h);
    /* Copied before any lock is taken; freed again if the subject turns out to be there. */
    char *copy = malloc(len > 0 ? len : 1);
    if (copy == NULL)
        return RL_ENOMEM;
    memcpy(copy, key, len);

    pthread_mutex_lock(&m->mu[shard]);
    slot_t *found = NULL, *idle_slot = NULL, *empty = NULL;
    for (size_t i = 0; i < m->shard_size; i++) {
        slot_t *s = probe_slot(m, shard, h, i);
        /* Keys and hashes only change under this mutex: they can be read without the slot lock. */
        uint64_t sh = atomic_load_explicit(&s->hash, memory_order_relaxed);
        if (sh == 0) {
            empty = s;
            break;
        }
        if (sh == h && same_key(s, key, len)) {
            found = s;
            break;
        }
        if (idle_slot == NULL && idle(s, now_ms)) {
            /* Hold it while the rest of the path is searched: a check of its subject in between
             * would make it busy again.  Only one slot is ever held, so this cannot deadlock. */
            slot_lock(s);
            if (s->inflight == 0 && idle(s, now_ms))
                idle_slot = s;
            else
                slot_unlock(s);
        }
    }
    if (found != NULL) {
        if (idle_slot != NULL)
            slot_unlock(idle_slot);
        slot_lock(found);
        pthread_mutex_unlock(&m->mu[shard]);
        free(copy);
        *out = found;
        return 0;
    }
    slot_t *s = idle_slot;
    if (s == NULL && empty != NULL) {
        s = empty;
        slot_lock(s);
    }
    if (s == NULL) {
        pthread_mutex_unlock(&m->mu[shard]);
        free(copy);
        return RL_EFULL;
    }
    free(s->key);
    s->key = copy;
    s->keylen = len;
    s->gen++;
    s->inflight = 0;
    s->head = now_ms / RL_BUCKET_MS;
    s->nreq = s->ntok = 0;
    memset(s->req, 0, sizeof s->req);
    memset(s->tok, 0, sizeof s->tok);
    atomic_store_explicit(&s->last_ms, now_ms, memory_order_relaxed);
    atomic_store_explicit(&s->hash, h, memory_order_release);
    pthread_mutex_unlock(&m->mu[shard]);
    *out = s;
    return 0;
}

/* The ticket's slot, locked, if it still belongs to the ticket's subject; else NULL and the ticket
 * is emptied. */
static slot_t *ticket_slot(mem_t *m, rl_ticket_t *t)
{
    if (t->_slot < m->nslots) {
        slot_t *s = &m->slots[t->_slot];
        slot_lock(s);
        if (s->gen == t->_gen && atomic_load_explicit(&s->hash, memory_order_relaxed) != 0)
            return s;
        slot_unlock(s);
    }
    t->_live = t->_held = false;
    return NULL;
}

/* ---- the backend ----------------------------------------------------------------------------- */

static uint64_t random_seed(const void *salt)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed)
        return seed;
    /* No entropy this early in boot: still different per process and per table. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return fmix((uint64_t)(uintptr_t)salt ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec);
}

static void mem_destroy(void *state)
{
    mem_t *m = state;
    if (m == NULL)
        return;
    if (m->slots != NULL)
        for (size_t i = 0; i < m->nslots; i++)
            free(m->slots[i].key);
    free(m->slots);
    if (m->mu != NULL)
        for (size_t i = 0; i < m->nshards; i++)
            pthread_mutex_destroy(&m->mu[i]);
    free(m->mu);
    free(m);
}

static void *mem_create(const rl_backend_t *be, size_t capacity)
{
    (void)be;
    if (capacity == 0 || capacity > CAPACITY_MAX)
        return NULL;
    mem_t *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->nslots = 1;
    while (m->nslots < capacity)
        m->nslots <<= 1;
    m->shard_size = m->nslots < SHARD_MAX ? m->nslots : SHARD_MAX;
    m->nshards = m->nslots / m->shard_size;
    m->seed = random_seed(m);
    /* sizeof(slot_t) is a multiple of its 64-byte alignment, as aligned_alloc wants. */
    m->slots = aligned_alloc(_Alignof(slot_t), m->nslots * sizeof(slot_t));
    if (m->slots == NULL)
        goto fail;
    memset(m->slots, 0, m->nslots * sizeof(slot_t));
    for (size_t i = 0; i < m->nslots; i++) {
        atomic_init(&m->slots[i].lock, 0);
        atomic_init(&m->slots[i].hash, 0);
        atomic_init(&m->slots[i].last_ms, INT64_MIN / 2);
    }
    m->mu = calloc(m->nshards, sizeof *m->mu);
    if (m->mu == NULL)
        goto fail;
    for (size_t i = 0; i < m->nshards; i++)
        pthread_mutex_init(&m->mu[i], NULL);
    return m;
fail:
    free(m->slots);
    free(m);
    return NULL;
}

static int mem_admit(void *state, const char *subject, size_t len, const rl_limits_t *lim,
                     int64_t now_ms, int64_t est_tokens, rl_decision_t *d)
{
    mem_t *m = state;
    uint64_t h = hash_key(m->seed, subject, len);
    slot_t *s = find(m, subject, len, h);
    if (s == NULL) {
        int rc = insert(m, subject, len, h, now_ms, &s);
        if (rc != 0)
            return rc;
    }
    advance(s, now_ms / RL_BUCKET_MS);
    touch(s, now_ms);

    /* A request with no estimate still needs one token of room: a window at its limit is full. */
    uint64_t est = (uint64_t)est_tokens, need = est > 0 ? est : 1;
    unsigned denied = 0;
    if (lim->rpm > 0 && s->nreq + 1 > (uint64_t)lim->rpm)
        denied |= RL_DENY_REQUESTS;
    if (lim->tpm > 0 && s->ntok + need > (uint64_t)lim->tpm)
        denied |= RL_DENY_TOKENS;
    if (lim->max_parallel > 0 && s->inflight >= (uint64_t)lim->max_parallel)
        denied |= RL_DENY_PARALLEL;

    d->admitted = denied == 0;
    d->denied = denied;
    if (denied == 0) {
        size_t i = ring(s->head);
        s->nreq += add_sat(&s->req[i], 1);
        uint32_t charged = add_sat(&s->tok[i], est);
        s->ntok += charged;
        if (s->inflight < UINT32_MAX)
            s->inflight++;
        d->ticket = (rl_ticket_t){
            ._slot = (uint32_t)(s - m->slots),
            ._gen = s->gen,
            ._bucket = s->head,
            ._charged = charged,
            ._tokens = (int64_t)est,
            ._live = true,
            ._held = true,
        };
        d->retry_after_ms = 0;
    } else {
        int64_t wait = 0;
        if (denied & RL_DENY_REQUESTS)
            wait = wait_ms(s, s->req, s->nreq, 1, (uint64_t)lim->rpm, now_ms);
        if (denied & RL_DENY_TOKENS) {
            int64_t w = wait_ms(s, s->tok, s->ntok, need, (uint64_t)lim->tpm, now_ms);
            if (w < 0)
                wait = -1;
            else if (w > wait)
                wait = w;
        }
        if ((denied & RL_DENY_PARALLEL) && wait >= 0 && wait < RL_PARALLEL_RETRY_MS)
            wait = RL_PARALLEL_RETRY_MS;
        d->retry_after_ms = wait;
    }
    d->remaining_requests = left(lim->rpm, s->nreq);
    d->remaining_tokens = left(lim->tpm, s->ntok);
    d->remaining_parallel = left(lim->max_parallel, s->inflight);
    d->reset_requests_ms = lim->rpm > 0 ? reset_ms(s, s->req, s->nreq, now_ms) : 0;
    d->reset_tokens_ms = lim->tpm > 0 ? reset_ms(s, s->tok, s->ntok, now_ms) : 0;
    slot_unlock(s);
    return 0;
}

static void mem_settle(void *state, const char *subject, size_t len, rl_ticket_t *t,
                       int64_t actual_tokens, int64_t now_ms)
{
    (void)subject, (void)len;
    slot_t *s = ticket_slot(state, t);
    if (s == NULL)
        return;
    advance(s, now_ms / RL_BUCKET_MS);
    touch(s, now_ms);
    int64_t delta = actual_tokens - t->_tokens;
    t->_tokens = actual_tokens;
    if (!in_window(s, t->_bucket)) {
        /* What was charged has left the window, and the request's own count with it; only tokens
         * beyond that are still to be counted. */
        t->_bucket = s->head;
        t->_charged = 0;
        t->_moved = true;
    }
    size_t i = ring(t->_bucket);
    if (delta > 0) {
        uint32_t add = add_sat(&s->tok[i], (uint64_t)delta);
        s->ntok += add;
        t->_charged += add;
    } else if (delta < 0) {
        /* Never take back more than this request put there. */
        uint64_t sub = (uint64_t)-delta;
        if (sub > (uint64_t)t->_charged)
            sub = (uint64_t)t->_charged;
        if (sub > s->tok[i])
            sub = s->tok[i];
        s->tok[i] -= (uint32_t)sub;
        s->ntok -= sub;
        t->_charged -= (int64_t)sub;
    }
    slot_unlock(s);
}

static void mem_release(void *state, const char *subject, size_t len, rl_ticket_t *t,
                        int64_t now_ms)
{
    (void)subject, (void)len;
    slot_t *s = ticket_slot(state, t);
    if (s == NULL)
        return;
    touch(s, now_ms);
    if (s->inflight > 0)
        s->inflight--;
    t->_held = false;
    slot_unlock(s);
}

static void mem_cancel(void *state, const char *subject, size_t len, rl_ticket_t *t, int64_t now_ms)
{
    (void)subject, (void)len;
    slot_t *s = ticket_slot(state, t);
    if (s == NULL)
        return;
    advance(s, now_ms / RL_BUCKET_MS);
    touch(s, now_ms);
    if (t->_live && in_window(s, t->_bucket)) {
        size_t i = ring(t->_bucket);
        /* The request itself was counted in the bucket it was admitted in; when settle has moved
         * its tokens on, that bucket has left the window already. */
        if (!t->_moved && s->req[i] > 0) {
            s->req[i]--;
            s->nreq--;
        }
        uint64_t sub = (uint64_t)t->_charged < s->tok[i] ? (uint64_t)t->_charged : s->tok[i];
        s->tok[i] -= (uint32_t)sub;
        s->ntok -= sub;
    }
    if (t->_held && s->inflight > 0)
        s->inflight--;
    t->_live = t->_held = false;
    t->_charged = 0;
    slot_unlock(s);
}

const rl_backend_t rl_backend_memory = {
    .name = "memory",
    .conf = NULL,
    .create = mem_create,
    .destroy = mem_destroy,
    .admit = mem_admit,
    .settle = mem_settle,
    .release = mem_release,
    .cancel = mem_cancel,
};
