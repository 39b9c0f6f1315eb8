/*
 * memory cache: the lookup and store callbacks.
 */
#include "memory_int.h"

#include <stdio.h>

typedef struct hit_ctx {
    const gantry_host_t *host;
    gantry_req_t *req;
    int rc;
} hit_ctx_t;

/* Runs under the shard lock: host->cache_hit() copies the value, which is all we need. */
static void copy_hit(void *arg, const char *value, size_t len)
{
    hit_ctx_t *h = arg;

    h->rc = h->host->cache_hit(h->req, (gantry_str_t){value, len});
}

gantry_action_t mc_lookup(gantry_req_t *req, void *state, void *worker_state, gantry_str_t key)
{
    mc_instance_t *mc = state;
    const gantry_host_t *host = mc->host;
    hit_ctx_t h = {host, req, GANTRY_OK};

    (void)worker_state;
    if (key.ptr == NULL || key.len == 0)
        return GANTRY_CONTINUE;
    if (mc_get(&mc->cache, key.ptr, key.len, host->now_us(), copy_hit, &h) != MC_HIT)
        return GANTRY_CONTINUE;
    if (h.rc < 0) {
        /* The host could not take the value (memory budget): serve the request as a miss. */
        host->log(mc->self, req, GANTRY_LOG_WARN, "cache hit not served: %s", host->strerror(h.rc));
        return GANTRY_CONTINUE;
    }
    return GANTRY_RESPOND;
}

void mc_store(gantry_req_t *req, void *state, void *worker_state, gantry_str_t key,
              gantry_str_t value, uint32_t ttl_s)
{
    mc_instance_t *mc = state;
    const gantry_host_t *host = mc->host;
    int64_t now = host->now_us();
    int64_t ttl = ttl_s != 0 ? (int64_t)ttl_s : mc->ttl_s;

    (void)worker_state;
    if (key.ptr == NULL || key.len == 0)
        return;
    switch (mc_put(&mc->cache, key.ptr, key.len, value.ptr, value.len, now + ttl * 1000000, now)) {
    case MC_STORED:
        break;
    case MC_TOO_BIG:
        host->log(mc->self, req, GANTRY_LOG_DEBUG,
                  "response of %zu bytes not cached: larger than one shard (%zu bytes)", value.len,
                  mc->cache.shard_max_bytes);
        break;
    case MC_NOMEM:
        host->log(mc->self, req, GANTRY_LOG_WARN, "response not cached: out of memory");
        break;
    }
}

void mc_remove(gantry_req_t *req, void *state, void *worker_state, gantry_str_t key)
{
    mc_instance_t *mc = state;

    (void)req;
    (void)worker_state;
    if (key.ptr != NULL && key.len > 0)
        mc_del(&mc->cache, key.ptr, key.len);
}

/* Process memory cannot be unreachable: always healthy, with the numbers as the detail. */
int mc_health(void *state, void *worker_state, char *detail, size_t len)
{
    mc_instance_t *mc = state;
    mc_stats_t st;

    (void)worker_state;
    mc_stats(&mc->cache, &st);
    if (detail != NULL && len > 0)
        snprintf(detail, len, "%zu entries, %zu bytes; hits=%llu misses=%llu", st.count, st.bytes,
                 (unsigned long long)st.hits, (unsigned long long)st.misses);
    return GANTRY_OK;
}
