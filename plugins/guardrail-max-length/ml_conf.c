/*
 * max_length guardrail: configuration, instance lifecycle, and the plugin descriptor.
 */
#include "ml_int.h"

/* A limit: a positive integer, or absent (not checked). */
static int parse_limit(const ml_instance_t *ml, const gantry_conf_t *conf, const char *key,
                       int64_t *out)
{
    const gantry_host_t *host = ml->host;
    const gantry_conf_t *node = host->conf_get(conf, key);

    *out = 0;
    if (node == NULL)
        return GANTRY_OK;
    if (host->conf_int(node, out) != GANTRY_OK || *out < 1)
        return host->conf_error(node, "max_length: `%s` must be a positive integer", key);
    return GANTRY_OK;
}

static void ml_destroy(void *state)
{
    ml_instance_t *ml = state;

    if (ml != NULL)
        ml->host->mem_free(ml);
}

static int ml_create(const gantry_host_t *host, gantry_instance_t *self, const gantry_conf_t *conf,
                     void **state)
{
    ml_instance_t *ml = host->mem_calloc(1, sizeof(*ml));
    int rc;

    if (ml == NULL) {
        host->log(self, NULL, GANTRY_LOG_ERROR, "out of memory");
        return GANTRY_ENOMEM;
    }
    ml->host = host;
    ml->self = self;
    ml->name = host->instance_name(self);
    if (ml->name == NULL)
        ml->name = "max_length";
    if ((rc = parse_limit(ml, conf, "max_input_chars", &ml->max_input_chars)) != GANTRY_OK ||
        (rc = parse_limit(ml, conf, "max_input_tokens", &ml->max_input_tokens)) != GANTRY_OK ||
        (rc = parse_limit(ml, conf, "max_messages", &ml->max_messages)) != GANTRY_OK ||
        (rc = parse_limit(ml, conf, "max_output_chars", &ml->max_output_chars)) != GANTRY_OK)
        goto fail;
    /* A guardrail without a limit would do nothing: that is a mistake in the config. */
    if (ml->max_input_chars == 0 && ml->max_input_tokens == 0 && ml->max_messages == 0 &&
        ml->max_output_chars == 0) {
        rc = host->conf_error(conf, "max_length: set at least one of max_input_chars, "
                                    "max_input_tokens, max_messages, max_output_chars");
        goto fail;
    }
    *state = ml;
    return GANTRY_OK;

fail:
    ml_destroy(ml);
    return rc;
}

static const gantry_conf_field_t ml_fields[] = {
    {"max_input_chars", GANTRY_CONF_INT, 0,
     "most characters (Unicode code points) of prompt text in a request"},
    {"max_input_tokens", GANTRY_CONF_INT, 0,
     "most prompt tokens, estimated as characters / 4 rounded up"},
    {"max_messages", GANTRY_CONF_INT, 0, "most messages in a request"},
    {"max_output_chars", GANTRY_CONF_INT, 0,
     "most characters of a completion (each choice); a stream is cut with an error event"},
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

static const gantry_ops_t ml_ops = {
    .size = sizeof(gantry_ops_t),
    .create = ml_create,
    .destroy = ml_destroy,
    .check_request = ml_check_request,
    .check_chunk = ml_check_chunk,
    .check_response = ml_check_response,
};

static const gantry_plugin_desc_t ml_desc = {
    .size = sizeof(gantry_plugin_desc_t),
    .abi_major = GANTRY_ABI_MAJOR,
    .abi_minor = GANTRY_ABI_MINOR,
    .kind = GANTRY_KIND_GUARDRAIL,
    .name = "max_length",
    .version = "0.1.0",
    .summary = "blocks prompts and completions over a length limit (characters, estimated "
               "tokens, messages)",
    .flags = 0,
    .config_fields = ml_fields,
    .deployment_fields = NULL,
    .ops = &ml_ops,
};

GANTRY_PLUGIN(&ml_desc)
