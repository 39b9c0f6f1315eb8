/*
 * The sagemaker provider: models behind Amazon SageMaker real-time endpoints, through
 * SageMaker Runtime's InvokeEndpoint and InvokeEndpointWithResponseStream, signed with SigV4.
 * Model strings are sagemaker/<endpoint> (a text-generation container, TGI-style bodies) and
 * sagemaker_chat/<endpoint> (an OpenAI-compatible Messages API container), as in LiteLLM.
 *
 * This file holds the descriptor and the instance lifecycle; configuration, request building
 * and signing, the two container shapes, embeddings, streams and errors live in the other
 * sagemaker_*.c files.
 */
#include "sagemaker.h"

static int sm_create(const gantry_host_t *host, gantry_instance_t *self, const gantry_conf_t *conf,
                     void **state)
{
    (void)conf;
    /* prepare() may PAUSE and needs the 1.1 host table; an older core cannot run this plugin. */
    if (host->abi_minor < 1 || !GANTRY_HOST_HAS(host, req_endpoint)) {
        host->log(self, NULL, GANTRY_LOG_ERROR, "sagemaker needs a gateway with plugin ABI 1.1");
        return GANTRY_EUNSUPPORTED;
    }
    sm_instance_t *inst = host->mem_calloc(1, sizeof(*inst));
    if (inst == NULL) {
        host->log(self, NULL, GANTRY_LOG_ERROR, "out of memory creating the instance");
        return GANTRY_ENOMEM;
    }
    inst->host = host;
    inst->self = self;
    *state = inst;
    return GANTRY_OK;
}

static void sm_destroy(void *state)
{
    sm_instance_t *inst = state;
    if (inst != NULL)
        inst->host->mem_free(inst);
}

/* No instance configuration: everything is per deployment. */
static const gantry_conf_field_t sm_config_fields[] = {
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

static const gantry_ops_t sm_ops = {
    .size = sizeof(gantry_ops_t),
    .create = sm_create,
    .destroy = sm_destroy,
    .deployment_create = sm_deployment_create,
    .deployment_destroy = sm_deployment_destroy,
    .prepare = sm_prepare,
    .parse_response = sm_parse_response,
    .parse_frame = sm_parse_frame,
    .map_error = sm_map_error,
};

static const gantry_plugin_desc_t sm_desc = {
    .size = sizeof(gantry_plugin_desc_t),
    .abi_major = GANTRY_ABI_MAJOR,
    .abi_minor = GANTRY_ABI_MINOR,
    .kind = GANTRY_KIND_PROVIDER,
    .name = "sagemaker",
    .version = "0.1.0",
    .summary = "Amazon SageMaker endpoints (TGI-style and Messages API containers)",
    .flags = 0,
    .config_fields = sm_config_fields,
    .deployment_fields = sm_deployment_fields,
    .ops = &sm_ops,
};

GANTRY_PLUGIN(&sm_desc)
