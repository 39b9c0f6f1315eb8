/*
 * memory cache: the sharded LRU.  Each shard is a chained hash table plus a doubly linked list in
 * recency order, under one mutex.  Entries are allocated, filled and freed outside the locks, so a
 * lock is held for pointer updates, on a hit for copying the value out, and now and then for
 * doubling a bucket array.
 */
#include "memory_int.h"

#include <string.h>

#define MC_MIN_BUCKETS 16
#define MC_MAX_BUCKETS ((size_t)1 << 24)
/* Expired entries removed from the LRU tail per store, to bound the work under the lock. */
#define MC_REAP_PER_PUT 8

/* FNV-1a with a final avalanche (MurmurHash3's fmix64): fine for keys the core already hashed. */
static uint64_t hash_key(const char *key, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* The high bits choose the shard and the low bits the bucket, so both spread evenly. */
static mc_shard_t *shard_of(mc_cache_t *c, uint64_t hash)
{
    return &c->shards[(hash >> 32) % c->nshards];
}

size_t mc_entry_charge(size_t key_len, size_t val_len)
{
    return sizeof(mc_entry_t) + key_len + val_len + MC_ALLOC_OVERHEAD;
}

int mc_cache_init(mc_cache_t *c, const gantry_host_t *host, size_t nshards, size_t max_bytes,
                  size_t max_entries)
{
    memset(c, 0, sizeof(*c));
    c->host = host;
    if (nshards == 0 || max_entries < nshards)
        return GANTRY_EINVAL;
    c->nshards = nshards;
    /* Per-shard bounds are the global ones divided, so the totals never exceed the config. */
    c->shard_max_bytes = max_bytes / nshards;
    c->shard_max_entries = max_entries / nshards;
    c->shards = host->mem_calloc(nshards, sizeof(*c->shards));
    if (c->shards == NULL)
        goto nomem;
    for (size_t i = 0; i < nshards; i++) {
        mc_shard_t *s = &c->shards[i];

        s->nbuckets = MC_MIN_BUCKETS;
        s->buckets = host->mem_calloc(s->nbuckets, sizeof(*s->buckets));
        if (s->buckets == NULL)
            goto nomem;
        if (pthread_mutex_init(&s->lock, NULL) != 0) {
            host->mem_free(s->buckets);
            s->buckets = NULL;
            goto nomem;
        }
        c->ninit = i + 1;
    }
    return GANTRY_OK;

nomem:
    mc_cache_fini(c);
    return GANTRY_ENOMEM;
}

void mc_cache_fini(mc_cache_t *c)
{
    const gantry_host_t *host = c->host;

    if (c->shards == NULL)
        return;
    for (size_t i = 0; i < c->ninit; i++) {
        mc_shard_t *s = &c->shards[i];
        mc_entry_t *e = s->head;

        while (e != NULL) {
            mc_entry_t *next = e->next;
            host->mem_free(e);
            e = next;
        }
        host->mem_free(s->buckets);
        pthread_mutex_destroy(&s->lock);
    }
    host->mem_free(c->shards);
    c->shards = NULL;
    c->ninit = 0;
}

static mc_entry_t **find_slot(mc_shard_t *s, uint64_t hash, const char *key, size_t key_len)
{
    mc_entry_t **pp = &s->buckets[hash & (s->nbuckets - 1)];

    for (; *pp != NULL; pp = &(*pp)->hnext) {
        mc_entry_t *e = *pp;
        if (e->hash == hash && e->key_len == key_len && memcmp(e->data, key, key_len) == 0)
            return pp;
    }
    return pp;
}

static void lru_unlink(mc_shard_t *s, mc_entry_t *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        s->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        s->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(mc_shard_t *s, mc_entry_t *e)
{
    e->prev = NULL;
    e->next = s->head;
    if (s->head != NULL)
        s->head->prev = e;
    else
        s->tail = e;
    s->head = e;
}

/* Take an entry out of the shard entirely; the caller frees it after dropping the lock. */
static void remove_entry(mc_shard_t *s, mc_entry_t *e)
{
    mc_entry_t **pp = &s->buckets[e->hash & (s->nbuckets - 1)];

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    e->hnext = NULL;
    lru_unlink(s, e);
    s->count--;
    s->bytes -= e->charge;
}

/*
 * Double the bucket array when the table is fuller than one entry per bucket.  A failed
 * allocation only leaves the chains longer; the cache keeps working.
 */
static void maybe_grow(const gantry_host_t *host, mc_shard_t *s)
{
    mc_entry_t **nb;
    size_t n;

    if (s->count <= s->nbuckets || s->nbuckets >= MC_MAX_BUCKETS)
        return;
    n = s->nbuckets * 2;
    nb = host->mem_calloc(n, sizeof(*nb));
    if (nb == NULL)
        return;
    for (mc_entry_t *e = s->head; e != NULL; e = e->next) {
        mc_entry_t **slot = &nb[e->hash & (n - 1)];
        e->hnext = *slot;
        *slot = e;
    }
    host->mem_free(s->buckets);
    s->buckets = nb;
    s->nbuckets = n;
}

mc_get_result_t mc_get(mc_cache_t *c, const char *key, size_t key_len, int64_t now_us,
                       mc_copy_fn copy, void *arg)
{
    uint64_t hash = hash_key(key, key_len);
    mc_shard_t *s = shard_of(c, hash);
    mc_entry_t *e;

    pthread_mutex_lock(&s->lock);
    e = *find_slot(s, hash, key, key_len);
    if (e == NULL) {
        s->misses++;
        pthread_mutex_unlock(&s->lock);
        return MC_MISS;
    }
    if (e->expires_us <= now_us) {
        remove_entry(s, e);
        s->expirations++;
        s->misses++;
        pthread_mutex_unlock(&s->lock);
        c->host->mem_free(e);
        return MC_EXPIRED;
    }
    lru_unlink(s, e);
    lru_push_front(s, e);
    s->hits++;
    /* The entry may be evicted by another thread the moment the lock drops: copy it now. */
    copy(arg, e->data + e->key_len, e->val_len);
    pthread_mutex_unlock(&s->lock);
    return MC_HIT;
}

mc_put_result_t mc_put(mc_cache_t *c, const char *key, size_t key_len, const char *value,
                       size_t val_len, int64_t expires_us, int64_t now_us)
{
    const gantry_host_t *host = c->host;
    uint64_t hash = hash_key(key, key_len);
    mc_shard_t *s = shard_of(c, hash);
    size_t charge;
    mc_entry_t *e, **slot, *garbage = NULL;
    unsigned reaped = 0;

    if (key_len > SIZE_MAX / 4 || val_len > SIZE_MAX / 4)
        return MC_TOO_BIG;
    charge = mc_entry_charge(key_len, val_len);
    if (charge > c->shard_max_bytes)
        return MC_TOO_BIG;
    /* Allocate and copy before locking: the lock guards pointers, not memcpy of large values. */
    e = host->mem_alloc(sizeof(*e) + key_len + val_len);
    if (e == NULL)
        return MC_NOMEM;
    memset(e, 0, sizeof(*e));
    e->hash = hash;
    e->expires_us = expires_us;
    e->key_len = key_len;
    e->val_len = val_len;
    e->charge = charge;
    if (key_len > 0)
        memcpy(e->data, key, key_len);
    if (val_len > 0)
        memcpy(e->data + key_len, value, val_len);

    pthread_mutex_lock(&s->lock);
    slot = find_slot(s, hash, key, key_len);
    if (*slot != NULL) {
        mc_entry_t *old = *slot;
        remove_entry(s, old);
        old->hnext = garbage;
        garbage = old;
        /* remove_entry() changed the chain; look the slot up again for the insertion. */
        slot = find_slot(s, hash, key, key_len);
    }
    e->hnext = *slot;
    *slot = e;
    lru_push_front(s, e);
    s->count++;
    s->bytes += charge;

    /* Stale entries at the cold end go first, whether or not a bound is reached. */
    while (s->tail != NULL && s->tail != e && s->tail->expires_us <= now_us &&
           reaped < MC_REAP_PER_PUT) {
        mc_entry_t *old = s->tail;
        remove_entry(s, old);
        s->expirations++;
        old->hnext = garbage;
        garbage = old;
        reaped++;
    }
    /* The new entry fits a shard on its own (checked above), so this stops before reaching it. */
    while (s->count > c->shard_max_entries || s->bytes > c->shard_max_bytes) {
        mc_entry_t *old = s->tail;
        remove_entry(s, old);
        s->evictions++;
        old->hnext = garbage;
        garbage = old;
    }
    maybe_grow(host, s);
    pthread_mutex_unlock(&s->lock);

    while (garbage != NULL) {
        mc_entry_t *next = garbage->hnext;
        host->mem_free(garbage);
        garbage = next;
    }
    return MC_STORED;
}

bool mc_del(mc_cache_t *c, const char *key, size_t key_len)
{
    uint64_t hash = hash_key(key, key_len);
    mc_shard_t *s = shard_of(c, hash);
    mc_entry_t *e;

    pthread_mutex_lock(&s->lock);
    e = *find_slot(s, hash, key, key_len);
    if (e != NULL)
        remove_entry(s, e);
    pthread_mutex_unlock(&s->lock);
    c->host->mem_free(e); /* outside the lock, as everywhere else */
    return e != NULL;
}

void mc_stats(mc_cache_t *c, mc_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < c->ninit; i++) {
        mc_shard_t *s = &c->shards[i];

        pthread_mutex_lock(&s->lock);
        out->hits += s->hits;
        out->misses += s->misses;
        out->evictions += s->evictions;
        out->expirations += s->expirations;
        out->count += s->count;
        out->bytes += s->bytes;
        pthread_mutex_unlock(&s->lock);
    }
}
