/*
 * The fake provider: a deterministic model for demos and tests that answers without any network.
 * This file holds the descriptor and the instance lifecycle; configuration is in fake_conf.c, and
 * producing answers in fake_invoke.c, fake_stream.c, fake_reply.c, fake_prompt.c and fake_words.c.
 */
#include "fake.h"

/*
 * The instance has no configuration of its own, but the host table reaches the plugin only through
 * create(), and deployment_create() and invoke() need it: keep it in the instance.
 */
static int fake_create(const gantry_host_t *host, gantry_instance_t *self,
                       const gantry_conf_t *conf, void **state)
{
    (void)conf;
    fake_instance_t *inst = host->mem_calloc(1, sizeof(*inst));
    if (inst == NULL) {
        host->log(self, NULL, GANTRY_LOG_ERROR, "out of memory creating the instance");
        return GANTRY_ENOMEM;
    }
    inst->host = host;
    inst->self = self;
    *state = inst;
    return GANTRY_OK;
}

static void fake_destroy(void *state)
{
    fake_instance_t *inst = state;
    if (inst != NULL)
        inst->host->mem_free(inst);
}

/* No instance configuration: the array holds only its terminator. */
static const gantry_conf_field_t fake_config_fields[] = {
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

static const gantry_ops_t fake_ops = {
    .size = sizeof(gantry_ops_t),
    .create = fake_create,
    .destroy = fake_destroy,
    .deployment_create = fake_deployment_create,
    .deployment_destroy = fake_deployment_destroy,
    .invoke = fake_invoke,
};

static const gantry_plugin_desc_t fake_desc = {
    .size = sizeof(gantry_plugin_desc_t),
    .abi_major = GANTRY_ABI_MAJOR,
    .abi_minor = GANTRY_ABI_MINOR,
    .kind = GANTRY_KIND_PROVIDER,
    .name = "fake",
    .version = "0.1.0",
    .summary = "deterministic built-in model for demos and tests (no network)",
    .flags = 0,
    .config_fields = fake_config_fields,
    .deployment_fields = fake_deployment_fields,
    .ops = &fake_ops,
};

GANTRY_PLUGIN(&fake_desc)
