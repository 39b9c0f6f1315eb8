/*
 * Unit test of the sharded LRU (lru.c), without a core: the cache only needs the host's
 * allocator, so a stub host with mem_* is enough.  The clock is passed in explicitly, which makes
 * TTL expiry deterministic.
 */
#include "lru.c"

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static void *stub_alloc(size_t n)
{
    return malloc(n);
}

static void *stub_calloc(size_t n, size_t s)
{
    return calloc(n, s);
}

static void *stub_realloc(void *p, size_t n)
{
    return realloc(p, n);
}

static void stub_free(void *p)
{
    free(p);
}

static const gantry_host_t stub_host = {
    .size = sizeof(gantry_host_t),
    .abi_major = GANTRY_ABI_MAJOR,
    .abi_minor = GANTRY_ABI_MINOR,
    .mem_alloc = stub_alloc,
    .mem_calloc = stub_calloc,
    .mem_realloc = stub_realloc,
    .mem_free = stub_free,
};

typedef struct got {
    char buf[64];
    size_t len;
} got_t;

static void copy_out(void *arg, const char *value, size_t len)
{
    got_t *g = arg;

    g->len = len < sizeof(g->buf) - 1 ? len : sizeof(g->buf) - 1;
    memcpy(g->buf, value, g->len);
    g->buf[g->len] = '\0';
}

static mc_get_result_t get(mc_cache_t *c, const char *key, int64_t now, got_t *g)
{
    memset(g, 0, sizeof(*g));
    return mc_get(c, key, strlen(key), now, copy_out, g);
}

static void put(mc_cache_t *c, const char *key, const char *value, int64_t expires, int64_t now)
{
    CHECK(mc_put(c, key, strlen(key), value, strlen(value), expires, now) == MC_STORED);
}

static void test_lru_order(void)
{
    mc_cache_t c;
    got_t g;
    mc_stats_t st;

    CHECK(mc_cache_init(&c, &stub_host, 1, 1 << 20, 3) == GANTRY_OK);
    put(&c, "a", "A", 100, 0);
    put(&c, "b", "B", 100, 0);
    put(&c, "c", "C", 100, 0);
    /* Reading "a" makes "b" the least recently used, so "d" pushes "b" out. */
    CHECK(get(&c, "a", 1, &g) == MC_HIT && strcmp(g.buf, "A") == 0);
    put(&c, "d", "D", 100, 1);
    CHECK(get(&c, "b", 1, &g) == MC_MISS);
    CHECK(get(&c, "a", 1, &g) == MC_HIT);
    CHECK(get(&c, "c", 1, &g) == MC_HIT);
    CHECK(get(&c, "d", 1, &g) == MC_HIT);
    /* Replacing a key keeps one entry and serves the new value. */
    put(&c, "c", "C2", 100, 1);
    CHECK(get(&c, "c", 1, &g) == MC_HIT && strcmp(g.buf, "C2") == 0);
    mc_stats(&c, &st);
    CHECK(st.count == 3 && st.evictions == 1);
    mc_cache_fini(&c);
}

static void test_ttl(void)
{
    mc_cache_t c;
    got_t g;
    mc_stats_t st;

    CHECK(mc_cache_init(&c, &stub_host, 2, 1 << 20, 100) == GANTRY_OK);
    put(&c, "k", "V", 1000, 0);
    CHECK(get(&c, "k", 999, &g) == MC_HIT);
    CHECK(get(&c, "k", 1000, &g) == MC_EXPIRED);
    CHECK(get(&c, "k", 1001, &g) == MC_MISS);
    mc_stats(&c, &st);
    CHECK(st.count == 0 && st.bytes == 0 && st.expirations == 1);
    mc_cache_fini(&c);
}

static void test_del(void)
{
    mc_cache_t c;
    got_t g;
    mc_stats_t st;

    CHECK(mc_cache_init(&c, &stub_host, 2, 1 << 20, 100) == GANTRY_OK);
    put(&c, "x", "X", 100, 0);
    put(&c, "y", "Y", 100, 0);
    CHECK(mc_del(&c, "x", 1));
    CHECK(!mc_del(&c, "x", 1));
    CHECK(!mc_del(&c, "never", 5));
    CHECK(get(&c, "x", 1, &g) == MC_MISS);
    CHECK(get(&c, "y", 1, &g) == MC_HIT && strcmp(g.buf, "Y") == 0);
    mc_stats(&c, &st);
    CHECK(st.count == 1 && st.bytes == mc_entry_charge(1, 1));
    /* A removed key can be stored again. */
    put(&c, "x", "X2", 100, 1);
    CHECK(get(&c, "x", 1, &g) == MC_HIT && strcmp(g.buf, "X2") == 0);
    mc_cache_fini(&c);
}

static void test_byte_bound(void)
{
    mc_cache_t c;
    got_t g;
    mc_stats_t st;
    char key[16], value[1000];
    size_t shard_bytes = 4096;

    memset(value, 'v', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    CHECK(mc_cache_init(&c, &stub_host, 1, shard_bytes, 1000) == GANTRY_OK);
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        put(&c, key, value, 100, 0);
        mc_stats(&c, &st);
        CHECK(st.bytes <= shard_bytes);
    }
    /* Four entries of ~1 KiB plus bookkeeping do not fit in 4 KiB; three do. */
    CHECK(st.count == shard_bytes / mc_entry_charge(3, sizeof(value) - 1));
    CHECK(get(&c, "k19", 0, &g) == MC_HIT);
    CHECK(get(&c, "k0", 0, &g) == MC_MISS);
    /* A value larger than a shard is refused, and nothing is evicted for it. */
    {
        char *big = calloc(1, shard_bytes + 1);
        CHECK(big != NULL);
        CHECK(mc_put(&c, "big", 3, big, shard_bytes, 100, 0) == MC_TOO_BIG);
        free(big);
    }
    mc_stats(&c, &st);
    CHECK(st.count == 3);
    mc_cache_fini(&c);
}

static void test_growth(void)
{
    mc_cache_t c;
    got_t g;
    char key[16];

    CHECK(mc_cache_init(&c, &stub_host, 4, 1 << 24, 100000) == GANTRY_OK);
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "g%d", i);
        put(&c, key, "v", 100, 0);
    }
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "g%d", i);
        CHECK(get(&c, key, 0, &g) == MC_HIT);
    }
    for (size_t i = 0; i < c.nshards; i++)
        CHECK(c.shards[i].nbuckets >= c.shards[i].count);
    mc_cache_fini(&c);
}

typedef struct worker_arg {
    mc_cache_t *cache;
    unsigned seed;
} worker_arg_t;

/* Many threads on few keys: run under -fsanitize=thread, this is the locking test. */
static void *hammer(void *p)
{
    worker_arg_t *a = p;
    unsigned seed = a->seed;
    char key[16], value[32];
    got_t g;

    for (int i = 0; i < 20000; i++) {
        int k;

        seed = seed * 1103515245u + 12345u;
        k = (int)((seed >> 8) % 500);
        snprintf(key, sizeof(key), "k%d", k);
        if ((seed >> 4) % 3 == 0) {
            snprintf(value, sizeof(value), "value-%d", k);
            mc_put(a->cache, key, strlen(key), value, strlen(value), (int64_t)(i % 50) + 1,
                   (int64_t)(i % 50));
        } else if (get(a->cache, key, (int64_t)(i % 50), &g) == MC_HIT) {
            snprintf(value, sizeof(value), "value-%d", k);
            CHECK(strcmp(g.buf, value) == 0);
        }
    }
    return NULL;
}

static void test_threads(void)
{
    mc_cache_t c;
    pthread_t th[4];
    worker_arg_t args[4];
    mc_stats_t st;

    CHECK(mc_cache_init(&c, &stub_host, 4, 16384, 200) == GANTRY_OK);
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg_t){&c, (unsigned)i * 7919u + 1u};
        CHECK(pthread_create(&th[i], NULL, hammer, &args[i]) == 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    mc_stats(&c, &st);
    CHECK(st.count <= 200 && st.bytes <= 16384 && st.hits > 0);
    mc_cache_fini(&c);
}

int main(void)
{
    test_lru_order();
    test_ttl();
    test_del();
    test_byte_bound();
    test_growth();
    test_threads();
    printf("memory lru: ok\n");
    return 0;
}
