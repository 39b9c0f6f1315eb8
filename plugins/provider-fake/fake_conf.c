/*
 * The fake provider: checking one model_list entry and building its read-only deployment state.
 * Runs on the main thread; memory is instance memory freed by fake_deployment_destroy().
 */
#include <string.h>

#include "fake.h"

#define DEFAULT_COMPLETION_TOKENS 16
/* Bounds that keep a typo from producing a gigabyte answer or a request that never ends. */
#define MAX_COMPLETION_TOKENS 100000
#define MAX_DURATION_MS (3600u * 1000u)

const gantry_conf_field_t fake_deployment_fields[] = {
    {"response", GANTRY_CONF_STRING, 0,
     "fixed answer text (default: words chosen from the prompt)"},
    {"latency", GANTRY_CONF_ANY, 0,
     "delay before the answer or first chunk: seconds, or \"250ms\", \"2s\", \"1m\" (default 0)"},
    {"token_latency", GANTRY_CONF_ANY, 0, "delay between streamed tokens, same forms (default 0)"},
    {"completion_tokens", GANTRY_CONF_INT, 0,
     "tokens in a generated answer (default 16; ignored when response is set)"},
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

/*
 * The value of "12", "1.5" or ".5" (nothing else: no sign, no exponent) in *out; returns the bytes
 * read, 0 when there is no number.  Written here rather than strtod() so the accepted forms are
 * exactly the documented ones and do not depend on the locale.
 */
static size_t parse_decimal(gantry_str_t s, double *out)
{
    size_t i = 0, digits = 0;
    double v = 0, scale = 1;
    while (i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9') {
        v = v * 10 + (s.ptr[i++] - '0');
        digits++;
    }
    if (i < s.len && s.ptr[i] == '.') {
        i++;
        while (i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9') {
            scale /= 10;
            v += (s.ptr[i++] - '0') * scale;
            digits++;
        }
    }
    if (digits == 0)
        return 0;
    *out = v;
    return i;
}

/* Seconds to whole milliseconds, rounded; false when negative, not a number or too long. */
static bool seconds_to_ms(double seconds, uint64_t *ms)
{
    double v = seconds * 1000.0;
    if (!(v >= 0 && v <= (double)MAX_DURATION_MS))
        return false;
    *ms = (uint64_t)(v + 0.5);
    return true;
}

bool fake_parse_duration(gantry_str_t text, uint64_t *ms)
{
    double v;
    size_t n = parse_decimal(text, &v);
    if (n == 0)
        return false;
    gantry_str_t unit = {text.ptr + n, text.len - n};
    double scale;
    if (unit.len == 0 || (unit.len == 1 && unit.ptr[0] == 's'))
        scale = 1;
    else if (unit.len == 2 && memcmp(unit.ptr, "ms", 2) == 0)
        scale = 0.001;
    else if (unit.len == 1 && unit.ptr[0] == 'm')
        scale = 60;
    else
        return false;
    return seconds_to_ms(v * scale, ms);
}

/* A duration key: a number of seconds or a string with a unit; absent means 0. */
static int read_duration(const gantry_host_t *host, const gantry_conf_t *params, const char *key,
                         uint64_t *ms)
{
    const gantry_conf_t *node = host->conf_get(params, key);
    *ms = 0;
    if (node == NULL)
        return GANTRY_OK;

    int64_t i;
    double d;
    gantry_str_t s;
    bool ok;
    switch (host->conf_type(node)) {
    case GANTRY_CONF_INT:
        ok = host->conf_int(node, &i) == GANTRY_OK && seconds_to_ms((double)i, ms);
        break;
    case GANTRY_CONF_NUMBER:
        ok = host->conf_number(node, &d) == GANTRY_OK && seconds_to_ms(d, ms);
        break;
    case GANTRY_CONF_STRING:
        ok = host->conf_string(node, &s) == GANTRY_OK && fake_parse_duration(s, ms);
        break;
    default:
        ok = false;
        break;
    }
    if (!ok)
        return host->conf_error(node,
                                "%s must be a duration between 0 and 1h: seconds, or a string like "
                                "\"250ms\", \"2s\" or \"1m\"",
                                key);
    return GANTRY_OK;
}

static int read_tokens(const fake_instance_t *inst, const gantry_conf_t *params,
                       fake_deployment_t *dep)
{
    const gantry_host_t *host = inst->host;
    const gantry_conf_t *node = host->conf_get(params, "completion_tokens");
    int64_t n = DEFAULT_COMPLETION_TOKENS;

    if (node != NULL &&
        (host->conf_int(node, &n) != GANTRY_OK || n < 0 || n > MAX_COMPLETION_TOKENS))
        return host->conf_error(node, "completion_tokens must be an integer from 0 to %d",
                                MAX_COMPLETION_TOKENS);
    if (dep->response.ptr != NULL) {
        if (node != NULL)
            host->log(inst->self, NULL, GANTRY_LOG_WARN,
                      "completion_tokens is ignored: the word count of response is used");
        dep->tokens = fake_count_words(dep->response);
    } else {
        dep->tokens = (uint32_t)n;
    }
    return GANTRY_OK;
}

static int copy_str(const gantry_host_t *host, const char *ptr, size_t len, gantry_str_t *out)
{
    char *p = host->mem_alloc(len + 1);
    if (p == NULL)
        return GANTRY_ENOMEM;
    if (len > 0)
        memcpy(p, ptr, len);
    p[len] = '\0';
    *out = (gantry_str_t){p, len};
    return GANTRY_OK;
}

int fake_deployment_create(void *state, const gantry_conf_t *params, gantry_str_t prefix,
                           gantry_str_t model_id, void **deployment)
{
    const fake_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    int rc;
    (void)prefix;

    fake_deployment_t *dep = host->mem_calloc(1, sizeof(*dep));
    if (dep == NULL)
        return host->conf_error(params, "out of memory");
    /* A bare "fake" names no model; answers then say "fake". */
    if (model_id.len == 0)
        model_id = GANTRY_STR_LIT("fake");
    if ((rc = copy_str(host, model_id.ptr, model_id.len, &dep->model)) != GANTRY_OK)
        goto fail;

    const gantry_conf_t *node = host->conf_get(params, "response");
    if (node != NULL) {
        gantry_str_t text;
        if (host->conf_string(node, &text) != GANTRY_OK) {
            rc = host->conf_error(node, "response must be a string");
            goto fail;
        }
        if ((rc = copy_str(host, text.ptr, text.len, &dep->response)) != GANTRY_OK)
            goto fail;
    }
    if ((rc = read_tokens(inst, params, dep)) != GANTRY_OK)
        goto fail;
    if ((rc = read_duration(host, params, "latency", &dep->latency_ms)) != GANTRY_OK)
        goto fail;
    if ((rc = read_duration(host, params, "token_latency", &dep->token_latency_ms)) != GANTRY_OK)
        goto fail;
    *deployment = dep;
    return GANTRY_OK;

fail:
    if (rc == GANTRY_ENOMEM)
        host->conf_error(params, "out of memory");
    fake_deployment_destroy(state, dep);
    return rc;
}

void fake_deployment_destroy(void *state, void *deployment)
{
    const fake_instance_t *inst = state;
    fake_deployment_t *dep = deployment;
    if (dep == NULL)
        return;
    if (dep->model.ptr != NULL)
        inst->host->mem_free((void *)dep->model.ptr);
    if (dep->response.ptr != NULL)
        inst->host->mem_free((void *)dep->response.ptr);
    inst->host->mem_free(dep);
}
