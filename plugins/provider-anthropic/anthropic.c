/*
 * The anthropic provider: Anthropic's Messages API (POST /v1/messages).  This file holds the
 * descriptor and the instance lifecycle; configuration, request translation, response and stream
 * parsing and error mapping live in the other anthropic_*.c files.
 */
#include "anthropic.h"

/*
 * The instance has no configuration of its own, but the host table reaches the plugin only
 * through create(), and every other callback needs it: keep it in the instance.
 */
static int anth_create(const gantry_host_t *host, gantry_instance_t *self,
                       const gantry_conf_t *conf, void **state)
{
    (void)conf;
    anth_instance_t *inst = host->mem_calloc(1, sizeof(*inst));
    if (inst == NULL) {
        host->log(self, NULL, GANTRY_LOG_ERROR, "out of memory creating the instance");
        return GANTRY_ENOMEM;
    }
    inst->host = host;
    inst->self = self;
    *state = inst;
    return GANTRY_OK;
}

static void anth_destroy(void *state)
{
    anth_instance_t *inst = state;
    if (inst != NULL)
        inst->host->mem_free(inst);
}

/* No instance configuration: the array holds only its terminator. */
static const gantry_conf_field_t anth_config_fields[] = {
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

static const gantry_ops_t anth_ops = {
    .size = sizeof(gantry_ops_t),
    .create = anth_create,
    .destroy = anth_destroy,
    .deployment_create = anth_deployment_create,
    .deployment_destroy = anth_deployment_destroy,
    .prepare = anth_prepare,
    .parse_response = anth_parse_response,
    .parse_frame = anth_parse_frame,
    .map_error = anth_map_error,
};

static const gantry_plugin_desc_t anth_desc = {
    .size = sizeof(gantry_plugin_desc_t),
    .abi_major = GANTRY_ABI_MAJOR,
    .abi_minor = GANTRY_ABI_MINOR,
    .kind = GANTRY_KIND_PROVIDER,
    .name = "anthropic",
    .version = "0.1.0",
    .summary = "Anthropic Messages API (Claude)",
    .flags = 0,
    .config_fields = anth_config_fields,
    .deployment_fields = anth_deployment_fields,
    .ops = &anth_ops,
};

GANTRY_PLUGIN(&anth_desc)
