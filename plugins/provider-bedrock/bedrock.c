/*
 * The bedrock provider: Amazon Bedrock Runtime (Converse, ConverseStream, InvokeModel,
 * InvokeModelWithResponseStream) with SigV4 or Bedrock API keys, and Bedrock managed prompts.
 * This file holds the descriptor, the instance lifecycle and the per-worker cache of prompt
 * templates; the rest is split by job (see bedrock.h).
 */
#include "bedrock.h"

/* ---- the per-worker prompt cache ---- */

#define PCACHE_SLOTS 32
#define PCACHE_TTL_US (5LL * 60 * 1000 * 1000)
#define PCACHE_MAX_BODY (256u * 1024)
#define MAX_INSTANCES_PER_WORKER 16

typedef struct pcache_entry {
    char *key;
    char *body;
    size_t body_len;
    int64_t fetched_us;
} pcache_entry_t;

struct br_pcache {
    const bedrock_instance_t *inst;
    pcache_entry_t e[PCACHE_SLOTS];
};

/*
 * prepare() has no worker-state argument, so each worker thread keeps the caches its
 * worker_init() made in a thread-local list, one per instance.  Only that thread reads or writes
 * it, so there is no locking.
 */
static _Thread_local br_pcache_t *tl_caches[MAX_INSTANCES_PER_WORKER];

br_pcache_t *bedrock_pcache(const bedrock_instance_t *inst)
{
    for (size_t i = 0; i < MAX_INSTANCES_PER_WORKER; i++) {
        if (tl_caches[i] != NULL && tl_caches[i]->inst == inst)
            return tl_caches[i];
    }
    return NULL;
}

static void entry_free(const gantry_host_t *host, pcache_entry_t *e)
{
    host->mem_free(e->key);
    host->mem_free(e->body);
    memset(e, 0, sizeof(*e));
}

gantry_str_t bedrock_pcache_get(br_pcache_t *c, const char *key, int64_t now_us)
{
    if (c == NULL)
        return GANTRY_STR_NULL;
    for (size_t i = 0; i < PCACHE_SLOTS; i++) {
        pcache_entry_t *e = &c->e[i];
        if (e->key == NULL || strcmp(e->key, key) != 0)
            continue;
        if (now_us - e->fetched_us > PCACHE_TTL_US) {
            entry_free(c->inst->host, e);
            return GANTRY_STR_NULL;
        }
        return (gantry_str_t){e->body, e->body_len};
    }
    return GANTRY_STR_NULL;
}

void bedrock_pcache_put(br_pcache_t *c, const char *key, gantry_str_t body, int64_t now_us)
{
    if (c == NULL || body.len > PCACHE_MAX_BODY)
        return;
    const gantry_host_t *host = c->inst->host;
    /* The same key, else an empty slot, else the oldest entry makes room. */
    pcache_entry_t *slot = NULL;
    for (size_t i = 0; i < PCACHE_SLOTS && slot == NULL; i++) {
        if (c->e[i].key != NULL && strcmp(c->e[i].key, key) == 0)
            slot = &c->e[i];
    }
    for (size_t i = 0; i < PCACHE_SLOTS && slot == NULL; i++) {
        if (c->e[i].key == NULL)
            slot = &c->e[i];
    }
    if (slot == NULL) {
        slot = &c->e[0];
        for (size_t i = 1; i < PCACHE_SLOTS; i++) {
            if (c->e[i].fetched_us < slot->fetched_us)
                slot = &c->e[i];
        }
    }
    entry_free(host, slot);
    size_t klen = strlen(key);
    char *k = host->mem_alloc(klen + 1);
    char *b = host->mem_alloc(body.len + 1);
    if (k == NULL || b == NULL) {
        host->mem_free(k);
        host->mem_free(b);
        return;
    }
    memcpy(k, key, klen + 1);
    memcpy(b, body.ptr, body.len);
    b[body.len] = '\0';
    *slot = (pcache_entry_t){k, b, body.len, now_us};
}

static int bedrock_worker_init(void *state, unsigned worker_id, void **worker_state)
{
    bedrock_instance_t *inst = state;
    (void)worker_id;
    br_pcache_t *c = inst->host->mem_calloc(1, sizeof(*c));
    if (c == NULL)
        return GANTRY_ENOMEM;
    c->inst = inst;
    for (size_t i = 0; i < MAX_INSTANCES_PER_WORKER; i++) {
        if (tl_caches[i] == NULL) {
            tl_caches[i] = c;
            *worker_state = c;
            return GANTRY_OK;
        }
    }
    /* More bedrock instances than slots on this worker: that one works without a cache. */
    inst->host->mem_free(c);
    *worker_state = NULL;
    return GANTRY_OK;
}

static void bedrock_worker_fini(void *state, unsigned worker_id, void *worker_state)
{
    bedrock_instance_t *inst = state;
    br_pcache_t *c = worker_state;
    (void)worker_id;
    if (c == NULL)
        return;
    for (size_t i = 0; i < MAX_INSTANCES_PER_WORKER; i++) {
        if (tl_caches[i] == c)
            tl_caches[i] = NULL;
    }
    for (size_t i = 0; i < PCACHE_SLOTS; i++)
        entry_free(inst->host, &c->e[i]);
    inst->host->mem_free(c);
}

/* ---- the instance ---- */

static int bedrock_create(const gantry_host_t *host, gantry_instance_t *self,
                          const gantry_conf_t *conf, void **state)
{
    (void)conf;
    /* The 1.1 entries are what prepare() needs to wait for credentials and fetch prompts. */
    if (!GANTRY_HOST_HAS(host, http_call) || !GANTRY_HOST_HAS(host, req_endpoint) ||
        !GANTRY_HOST_HAS(host, req_drop_params)) {
        host->log(self, NULL, GANTRY_LOG_ERROR, "the bedrock plugin needs a core with ABI 1.1");
        return GANTRY_EUNSUPPORTED;
    }
    bedrock_instance_t *inst = host->mem_calloc(1, sizeof(*inst));
    if (inst == NULL) {
        host->log(self, NULL, GANTRY_LOG_ERROR, "out of memory creating the instance");
        return GANTRY_ENOMEM;
    }
    inst->host = host;
    inst->self = self;
    *state = inst;
    return GANTRY_OK;
}

static void bedrock_destroy(void *state)
{
    bedrock_instance_t *inst = state;
    if (inst != NULL)
        inst->host->mem_free(inst);
}

static const gantry_conf_field_t bedrock_config_fields[] = {
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

static const gantry_ops_t bedrock_ops = {
    .size = sizeof(gantry_ops_t),
    .create = bedrock_create,
    .destroy = bedrock_destroy,
    .worker_init = bedrock_worker_init,
    .worker_fini = bedrock_worker_fini,
    .deployment_create = bedrock_deployment_create,
    .deployment_destroy = bedrock_deployment_destroy,
    .prepare = bedrock_prepare,
    .parse_response = bedrock_parse_response,
    .parse_frame = bedrock_parse_frame,
    .map_error = bedrock_map_error,
};

static const gantry_plugin_desc_t bedrock_desc = {
    .size = sizeof(gantry_plugin_desc_t),
    .abi_major = GANTRY_ABI_MAJOR,
    .abi_minor = GANTRY_ABI_MINOR,
    .kind = GANTRY_KIND_PROVIDER,
    .name = "bedrock",
    .version = "0.1.0",
    .summary = "Amazon Bedrock: Converse, InvokeModel, embeddings and managed prompts",
    .flags = 0,
    .config_fields = bedrock_config_fields,
    .deployment_fields = bedrock_deployment_fields,
    .ops = &bedrock_ops,
};

GANTRY_PLUGIN(&bedrock_desc)
