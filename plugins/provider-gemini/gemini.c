/*
 * The gemini provider: Google's Gemini API (generativelanguage.googleapis.com, generateContent and
 * streamGenerateContent).  This file holds the descriptor and the instance lifecycle;
 * configuration, request translation, response and stream parsing and error mapping live in
 * gemini_conf.c, gemini_request.c (with gemini_messages.c and gemini_schema.c),
 * gemini_response.c, gemini_stream.c and gemini_error.c.
 */
#include "gemini.h"

/*
 * The instance has no configuration of its own, but the host table reaches the plugin only through
 * create(), and the other callbacks need it: keep it in the instance.
 */
static int gemini_create(const gantry_host_t *host, gantry_instance_t *self,
                         const gantry_conf_t *conf, void **state)
{
    (void)conf;
    gemini_instance_t *inst = host->mem_calloc(1, sizeof(*inst));
    if (inst == NULL) {
        host->log(self, NULL, GANTRY_LOG_ERROR, "out of memory creating the instance");
        return GANTRY_ENOMEM;
    }
    inst->host = host;
    inst->self = self;
    *state = inst;
    return GANTRY_OK;
}

static void gemini_destroy(void *state)
{
    gemini_instance_t *inst = state;
    if (inst != NULL)
        inst->host->mem_free(inst);
}

/* No instance configuration: the array holds only its terminator. */
static const gantry_conf_field_t gemini_config_fields[] = {
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

static const gantry_ops_t gemini_ops = {
    .size = sizeof(gantry_ops_t),
    .create = gemini_create,
    .destroy = gemini_destroy,
    .deployment_create = gemini_deployment_create,
    .deployment_destroy = gemini_deployment_destroy,
    .prepare = gemini_prepare,
    .parse_response = gemini_parse_response,
    .parse_frame = gemini_parse_frame,
    .map_error = gemini_map_error,
};

static const gantry_plugin_desc_t gemini_desc = {
    .size = sizeof(gantry_plugin_desc_t),
    .abi_major = GANTRY_ABI_MAJOR,
    .abi_minor = GANTRY_ABI_MINOR,
    .kind = GANTRY_KIND_PROVIDER,
    .name = "gemini",
    .version = "0.1.0",
    .summary = "Google Gemini API (generateContent, streamGenerateContent)",
    .flags = 0,
    .config_fields = gemini_config_fields,
    .deployment_fields = gemini_deployment_fields,
    .ops = &gemini_ops,
};

GANTRY_PLUGIN(&gemini_desc)
