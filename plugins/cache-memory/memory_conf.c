/*
 * memory cache: configuration, instance lifecycle and the plugin descriptor.
 */
#include "memory_int.h"

#define MC_DEFAULT_TTL_S 600
#define MC_DEFAULT_MAX_BYTES (64 * 1024 * 1024)
#define MC_DEFAULT_MAX_ENTRIES 10000
#define MC_DEFAULT_SHARDS 16
#define MC_MAX_SHARDS 1024
/* Below this a shard could not hold a typical response, so fewer shards are used instead. */
#define MC_MIN_SHARD_BYTES 4096
/* A year: more would overflow nothing, but is surely a typo. */
#define MC_MAX_TTL_S (366 * 24 * 3600)

/* Read an optional integer key within [min, max], or leave *out at its default. */
static int get_int(const gantry_host_t *host, const gantry_conf_t *conf, const char *key,
                   int64_t min, int64_t max, int64_t *out)
{
    const gantry_conf_t *node = host->conf_get(conf, key);
    int64_t v;

    if (node == NULL)
        return GANTRY_OK;
    if (host->conf_int(node, &v) != GANTRY_OK)
        return host->conf_error(node, "memory: `%s` must be an integer", key);
    if (v < min || v > max)
        return host->conf_error(node, "memory: `%s` must be between %lld and %lld", key,
                                (long long)min, (long long)max);
    *out = v;
    return GANTRY_OK;
}

static void mc_destroy(void *state)
{
    mc_instance_t *mc = state;
    mc_stats_t st;

    if (mc == NULL)
        return;
    mc_stats(&mc->cache, &st);
    mc->host->log(mc->self, NULL, GANTRY_LOG_INFO,
                  "hits=%llu misses=%llu evictions=%llu expired=%llu entries=%zu bytes=%zu",
                  (unsigned long long)st.hits, (unsigned long long)st.misses,
                  (unsigned long long)st.evictions, (unsigned long long)st.expirations, st.count,
                  st.bytes);
    mc_cache_fini(&mc->cache);
    mc->host->mem_free(mc);
}

static int mc_create(const gantry_host_t *host, gantry_instance_t *self, const gantry_conf_t *conf,
                     void **state)
{
    int64_t ttl = MC_DEFAULT_TTL_S, max_bytes = MC_DEFAULT_MAX_BYTES;
    int64_t max_entries = MC_DEFAULT_MAX_ENTRIES, shards = MC_DEFAULT_SHARDS, eff;
    mc_instance_t *mc;
    int rc;

    if ((rc = get_int(host, conf, "ttl", 1, MC_MAX_TTL_S, &ttl)) != GANTRY_OK ||
        (rc = get_int(host, conf, "max_bytes", MC_MIN_SHARD_BYTES, INT64_MAX / 2, &max_bytes)) !=
            GANTRY_OK ||
        (rc = get_int(host, conf, "max_entries", 1, INT64_MAX / 2, &max_entries)) != GANTRY_OK ||
        (rc = get_int(host, conf, "shards", 1, MC_MAX_SHARDS, &shards)) != GANTRY_OK)
        return rc;
    if ((uint64_t)max_bytes > SIZE_MAX / 2 || (uint64_t)max_entries > SIZE_MAX / 2)
        return host->conf_error(conf,
                                "memory: `max_bytes`/`max_entries` too large for this machine");

    /*
     * Every shard gets an equal part of the bounds, and each part must be worth having: a small
     * cache uses fewer shards rather than refusing the default of 16.
     */
    eff = shards;
    if (eff > max_entries)
        eff = max_entries;
    if (eff > max_bytes / MC_MIN_SHARD_BYTES)
        eff = max_bytes / MC_MIN_SHARD_BYTES;
    if (eff < shards)
        host->log(self, NULL, GANTRY_LOG_INFO, "using %lld shards instead of %lld for this size",
                  (long long)eff, (long long)shards);

    mc = host->mem_calloc(1, sizeof(*mc));
    if (mc == NULL)
        goto nomem;
    mc->host = host;
    mc->self = self;
    mc->ttl_s = ttl;
    if (mc_cache_init(&mc->cache, host, (size_t)eff, (size_t)max_bytes, (size_t)max_entries) !=
        GANTRY_OK)
        goto nomem;
    *state = mc;
    return GANTRY_OK;

nomem:
    host->log(self, NULL, GANTRY_LOG_ERROR, "out of memory");
    host->mem_free(mc);
    return GANTRY_ENOMEM;
}

static const gantry_conf_field_t mc_fields[] = {
    {"ttl", GANTRY_CONF_INT, 0, "seconds an entry stays valid (default 600)"},
    {"max_bytes", GANTRY_CONF_INT, 0,
     "memory bound in bytes, counting keys, values and per-entry overhead (default 67108864)"},
    {"max_entries", GANTRY_CONF_INT, 0, "entry count bound (default 10000)"},
    {"shards", GANTRY_CONF_INT, 0,
     "independently locked partitions, each with 1/shards of the bounds (default 16)"},
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

static const gantry_ops_t mc_ops = {
    .size = sizeof(gantry_ops_t),
    .create = mc_create,
    .destroy = mc_destroy,
    .lookup = mc_lookup,
    .store = mc_store,
    .remove = mc_remove,
    .health = mc_health,
};

static const gantry_plugin_desc_t mc_desc = {
    .size = sizeof(gantry_plugin_desc_t),
    .abi_major = GANTRY_ABI_MAJOR,
    .abi_minor = GANTRY_ABI_MINOR,
    .kind = GANTRY_KIND_CACHE,
    .name = "memory",
    .version = "0.1.0",
    .summary = "in-process exact-match response cache: sharded LRU with TTL and a byte bound",
    .flags = 0,
    .config_fields = mc_fields,
    .deployment_fields = NULL,
    .ops = &mc_ops,
};

GANTRY_PLUGIN(&mc_desc)
