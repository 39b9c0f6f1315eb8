/*
 * The openai provider: OpenAI Chat Completions and every server that speaks the same API (vLLM,
 * Ollama, LM Studio, Groq, Mistral, DeepSeek, xAI, ...).  This file holds the descriptor and the
 * instance lifecycle; configuration, request building, response parsing and error mapping live in
 * openai_conf.c, openai_request.c, openai_response.c and openai_error.c.
 */
#include "openai.h"

/*
 * The instance has no configuration of its own, but the host table reaches the plugin only through
 * create(), and deployment_create() and the request callbacks need it: keep it in the instance.
 */
static int openai_create(const gantry_host_t *host, gantry_instance_t *self,
                         const gantry_conf_t *conf, void **state)
{
    (void)conf;
    openai_instance_t *inst = host->mem_calloc(1, sizeof(*inst));
    if (inst == NULL) {
        host->log(self, NULL, GANTRY_LOG_ERROR, "out of memory creating the instance");
        return GANTRY_ENOMEM;
    }
    inst->host = host;
    inst->self = self;
    *state = inst;
    return GANTRY_OK;
}

static void openai_destroy(void *state)
{
    openai_instance_t *inst = state;
    if (inst != NULL)
        inst->host->mem_free(inst);
}

/* No instance configuration: the array holds only its terminator. */
static const gantry_conf_field_t openai_config_fields[] = {
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

static const gantry_ops_t openai_ops = {
    .size = sizeof(gantry_ops_t),
    .create = openai_create,
    .destroy = openai_destroy,
    .deployment_create = openai_deployment_create,
    .deployment_destroy = openai_deployment_destroy,
    .prepare = openai_prepare,
    .parse_response = openai_parse_response,
    .parse_frame = openai_parse_frame,
    .map_error = openai_map_error,
};

static const gantry_plugin_desc_t openai_desc = {
    .size = sizeof(gantry_plugin_desc_t),
    .abi_major = GANTRY_ABI_MAJOR,
    .abi_minor = GANTRY_ABI_MINOR,
    .kind = GANTRY_KIND_PROVIDER,
    .name = "openai",
    .version = "0.1.0",
    .summary = "OpenAI Chat Completions and OpenAI-compatible servers",
    .flags = 0,
    .config_fields = openai_config_fields,
    .deployment_fields = openai_deployment_fields,
    .ops = &openai_ops,
};

GANTRY_PLUGIN(&openai_desc)
