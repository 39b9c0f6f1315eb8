/*
 * memory cache: internal declarations shared by the sharded LRU (lru.c), the cache callbacks
 * (memory.c) and the configuration (memory_conf.c).  Not called memory.h, which would shadow the
 * C library's <memory.h> through meson's implicit include directories.
 */
#ifndef GANTRY_PLUGIN_MEMORY_INT_H
#define GANTRY_PLUGIN_MEMORY_INT_H

#include <gantry/gantry.h>

#include <pthread.h>

/*
 * Bytes charged per entry on top of the entry header, key and value: roughly what malloc keeps
 * for itself, so that max_bytes bounds real memory and not only payload.
 */
#define MC_ALLOC_OVERHEAD 16

/* One cached value.  One allocation holds the header, the key and the value. */
typedef struct mc_entry {
    struct mc_entry *hnext; /* hash chain of the bucket */
    struct mc_entry *prev;  /* LRU list: towards the most recently used */
    struct mc_entry *next;  /* LRU list: towards the least recently used */
    uint64_t hash;
    int64_t expires_us; /* host->now_us() clock */
    size_t key_len;
    size_t val_len;
    size_t charge; /* what this entry counts against the shard's byte bound */
    char data[];   /* key_len bytes of key, then val_len bytes of value */
} mc_entry_t;

/*
 * One shard: its own lock, hash table and LRU list, so that workers touching different keys
 * rarely wait for each other.  Every field below `lock` is guarded by it.
 */
typedef struct mc_shard {
    pthread_mutex_t lock;
    mc_entry_t **buckets;
    size_t nbuckets;  /* a power of two */
    mc_entry_t *head; /* most recently used */
    mc_entry_t *tail; /* least recently used: evicted first */
    size_t count;
    size_t bytes;
    uint64_t hits, misses, evictions, expirations;
    /* Keeps the next shard's lock off this one's cache line (no false sharing between locks). */
    char _pad[64];
} mc_shard_t;

/* The whole cache.  Shared by every worker thread; internally locked per shard. */
typedef struct mc_cache {
    const gantry_host_t *host; /* only mem_* is used, from any thread */
    mc_shard_t *shards;
    size_t nshards;
    size_t shard_max_bytes;
    size_t shard_max_entries;
    size_t ninit; /* shards whose mutex is initialised, for a partial cleanup */
} mc_cache_t;

typedef enum mc_get_result {
    MC_MISS = 0,
    MC_HIT = 1,
    MC_EXPIRED = 2, /* found but stale: removed */
} mc_get_result_t;

typedef enum mc_put_result {
    MC_STORED = 0,
    MC_TOO_BIG = 1, /* larger than one shard may hold */
    MC_NOMEM = 2,
} mc_put_result_t;

/* Receives a hit's value while the shard is locked: copy it and return quickly. */
typedef void (*mc_copy_fn)(void *arg, const char *value, size_t len);

typedef struct mc_stats {
    uint64_t hits, misses, evictions, expirations;
    size_t count, bytes;
} mc_stats_t;

/* lru.c */
int mc_cache_init(mc_cache_t *c, const gantry_host_t *host, size_t nshards, size_t max_bytes,
                  size_t max_entries);
void mc_cache_fini(mc_cache_t *c);
mc_get_result_t mc_get(mc_cache_t *c, const char *key, size_t key_len, int64_t now_us,
                       mc_copy_fn copy, void *arg);
mc_put_result_t mc_put(mc_cache_t *c, const char *key, size_t key_len, const char *value,
                       size_t val_len, int64_t expires_us, int64_t now_us);
/* Remove an entry; false when there was none. */
bool mc_del(mc_cache_t *c, const char *key, size_t key_len);
void mc_stats(mc_cache_t *c, mc_stats_t *out);
size_t mc_entry_charge(size_t key_len, size_t val_len);

/* Instance state.  The cache inside is mutated after create(), but only under its shard locks. */
typedef struct mc_instance {
    const gantry_host_t *host;
    gantry_instance_t *self;
    int64_t ttl_s;
    mc_cache_t cache;
} mc_instance_t;

/* memory.c */
gantry_action_t mc_lookup(gantry_req_t *req, void *state, void *worker_state, gantry_str_t key);
void mc_store(gantry_req_t *req, void *state, void *worker_state, gantry_str_t key,
              gantry_str_t value, uint32_t ttl_s);
void mc_remove(gantry_req_t *req, void *state, void *worker_state, gantry_str_t key);
int mc_health(void *state, void *worker_state, char *detail, size_t len);

#endif
