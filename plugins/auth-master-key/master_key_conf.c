/*
 * master-key: configuration, instance lifecycle and the plugin descriptor.
 */
#include "master_key.h"

#include <openssl/crypto.h>

static int mk_create(const gantry_host_t *host, gantry_instance_t *self, const gantry_conf_t *conf,
                     void **state)
{
    const gantry_conf_t *node = host->conf_get(conf, "key");
    gantry_str_t key;
    mk_instance_t *mk;

    /* The core has checked presence and type already; the checks stay for a misbehaving host. */
    if (node == NULL)
        return host->conf_error(conf, "master-key: `key` is required");
    if (host->conf_string(node, &key) != GANTRY_OK)
        return host->conf_error(node, "master-key: `key` must be a string");
    if (key.len == 0)
        return host->conf_error(node, "master-key: `key` must not be empty");

    mk = host->mem_calloc(1, sizeof(*mk));
    if (mk == NULL) {
        host->log(self, NULL, GANTRY_LOG_ERROR, "out of memory");
        return GANTRY_ENOMEM;
    }
    mk->host = host;
    mk->self = self;
    mk->name = host->instance_name(self);
    if (mk->name == NULL)
        mk->name = "master-key";
    mk->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    /* Hash once here so that every request costs one digest of the candidate only. */
    if (mk->sha256 == NULL || !mk_digest(mk, NULL, key.ptr, key.len, mk->key_digest)) {
        host->log(self, NULL, GANTRY_LOG_ERROR, "SHA-256 of the key failed (libcrypto)");
        EVP_MD_free(mk->sha256);
        host->mem_free(mk);
        return GANTRY_ENOMEM;
    }
    *state = mk;
    return GANTRY_OK;
}

static void mk_destroy(void *state)
{
    mk_instance_t *mk = state;
    const gantry_host_t *host;

    if (mk == NULL)
        return;
    host = mk->host;
    /* The digest is as good as the key against an unsalted lookup: wipe it before freeing. */
    OPENSSL_cleanse(mk->key_digest, sizeof(mk->key_digest));
    EVP_MD_free(mk->sha256);
    host->mem_free(mk);
}

/*
 * The worker state is one digest context, reused by every request of the worker: a context per
 * request would be an allocation and a free each time.  Without it (allocation failure) requests
 * still work, with a one-off context each.
 */
static int mk_worker_init(void *state, unsigned worker_id, void **worker_state)
{
    const mk_instance_t *mk = state;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (ctx == NULL) {
        mk->host->log(mk->self, NULL, GANTRY_LOG_WARN,
                      "worker %u: no digest context (out of memory); using one per request",
                      worker_id);
        return GANTRY_ENOMEM;
    }
    *worker_state = ctx;
    return GANTRY_OK;
}

static void mk_worker_fini(void *state, unsigned worker_id, void *worker_state)
{
    (void)state;
    (void)worker_id;
    /* Freeing also wipes what is left of the last candidate's hashing state. */
    EVP_MD_CTX_free(worker_state);
}

static const gantry_conf_field_t mk_fields[] = {
    {"key", GANTRY_CONF_STRING, GANTRY_CONF_REQUIRED | GANTRY_CONF_SECRET,
     "the master key; clients send it as `Authorization: Bearer <key>`, `x-api-key` or `api-key`"},
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

static const gantry_ops_t mk_ops = {
    .size = sizeof(gantry_ops_t),
    .create = mk_create,
    .destroy = mk_destroy,
    .worker_init = mk_worker_init,
    .worker_fini = mk_worker_fini,
    .authenticate = mk_authenticate,
};

static const gantry_plugin_desc_t mk_desc = {
    .size = sizeof(gantry_plugin_desc_t),
    .abi_major = GANTRY_ABI_MAJOR,
    .abi_minor = GANTRY_ABI_MINOR,
    .kind = GANTRY_KIND_AUTH,
    .name = "master-key",
    .version = "0.1.0",
    .summary = "accepts the configured master key as the proxy admin",
    .flags = 0,
    .config_fields = mk_fields,
    .deployment_fields = NULL,
    .ops = &mk_ops,
};

GANTRY_PLUGIN(&mk_desc)
