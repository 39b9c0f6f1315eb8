/*
 * The sagemaker provider: the canonical parameters a text-generation (tgi) container cannot
 * honour.  Each is refused with a 400 that names it, as LiteLLM does, unless drop_params is on;
 * then it is simply not mapped.  Neutral values (presence_penalty 0, an empty tools list,
 * logprobs false, n 1) ask for nothing and pass.  Messages containers get the request as it is
 * and judge it themselves.
 */
#include "sagemaker.h"

gantry_action_t sm_unsupported(const sm_instance_t *inst, gantry_req_t *req, const char *param,
                               const char *why)
{
    const gantry_host_t *host = inst->host;
    if (GANTRY_HOST_HAS(host, req_fail_param))
        return host->req_fail_param(req, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error",
                                    "unsupported_parameter", param,
                                    "sagemaker (tgi) does not support the parameter '%s'%s%s. To "
                                    "drop unsupported parameters instead, set drop_params: true",
                                    param, why != NULL ? ": " : "", why != NULL ? why : "");
    return host->req_fail(req, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error",
                          "unsupported_parameter",
                          "sagemaker (tgi) does not support the parameter '%s'%s%s. To drop "
                          "unsupported parameters instead, set drop_params: true",
                          param, why != NULL ? ": " : "", why != NULL ? why : "");
}

static bool is_zero(const gantry_host_t *host, const gantry_json_t *n)
{
    double d;
    return host->json_type(n) == GANTRY_JSON_NULL ||
           (host->json_number(n, &d) == GANTRY_OK && d == 0);
}

static bool is_false(const gantry_host_t *host, const gantry_json_t *n)
{
    bool b = true;
    return host->json_type(n) == GANTRY_JSON_NULL || (host->json_bool(n, &b) == GANTRY_OK && !b);
}

static bool is_empty(const gantry_host_t *host, const gantry_json_t *n)
{
    gantry_json_type_t t = host->json_type(n);
    return t == GANTRY_JSON_NULL ||
           ((t == GANTRY_JSON_ARRAY || t == GANTRY_JSON_OBJECT) && host->json_count(n) == 0);
}

/* The name of the first parameter that asks for something TGI cannot do, or NULL. */
static const char *first_unsupported(const gantry_host_t *host, const gantry_json_t *body,
                                     const char **why)
{
    const gantry_json_t *n;
    int64_t count;
    *why = NULL;

    n = host->json_get(body, "n");
    if (n != NULL && host->json_type(n) != GANTRY_JSON_NULL &&
        !(sm_json_int(host, n, 1, 1, &count))) {
        *why = "one completion per request";
        return "n";
    }
    if ((n = host->json_get(body, "presence_penalty")) != NULL && !is_zero(host, n))
        return "presence_penalty";
    if ((n = host->json_get(body, "logit_bias")) != NULL && !is_empty(host, n))
        return "logit_bias";
    if ((n = host->json_get(body, "logprobs")) != NULL && !is_false(host, n))
        return "logprobs";
    if ((n = host->json_get(body, "top_logprobs")) != NULL && !is_zero(host, n))
        return "top_logprobs";
    if ((n = host->json_get(body, "tools")) != NULL && !is_empty(host, n)) {
        *why = "text-generation containers have no tool calling (use sagemaker_chat/ with a "
               "Messages API container)";
        return "tools";
    }
    if ((n = host->json_get(body, "functions")) != NULL && !is_empty(host, n))
        return "functions";
    n = host->json_get(body, "tool_choice");
    if (n != NULL && host->json_type(n) != GANTRY_JSON_NULL) {
        gantry_str_t s = host->json_string(n);
        if (!sm_str_eq(s, "none") && !sm_str_eq(s, "auto"))
            return "tool_choice";
    }
    n = host->json_get(body, "function_call");
    if (n != NULL && host->json_type(n) != GANTRY_JSON_NULL &&
        !sm_str_eq(host->json_string(n), "none") && !sm_str_eq(host->json_string(n), "auto"))
        return "function_call";
    n = host->json_get(body, "reasoning_effort");
    if (n != NULL && host->json_type(n) != GANTRY_JSON_NULL &&
        !sm_str_eq(host->json_string(n), "none"))
        return "reasoning_effort";
    n = host->json_get(body, "thinking");
    if (host->json_type(n) == GANTRY_JSON_OBJECT &&
        !sm_str_eq(host->json_string(host->json_get(n, "type")), "disabled"))
        return "thinking";
    if ((n = host->json_get(body, "audio")) != NULL && host->json_type(n) != GANTRY_JSON_NULL)
        return "audio";
    if ((n = host->json_get(body, "prediction")) != NULL && host->json_type(n) != GANTRY_JSON_NULL)
        return "prediction";
    if ((n = host->json_get(body, "web_search_options")) != NULL &&
        host->json_type(n) != GANTRY_JSON_NULL)
        return "web_search_options";
    n = host->json_get(body, "modalities");
    if (host->json_type(n) == GANTRY_JSON_ARRAY) {
        for (const gantry_json_t *m = host->json_first(n); m != NULL; m = host->json_next(m)) {
            if (!sm_str_eq(host->json_string(m), "text"))
                return "modalities";
        }
    }
    /* json_schema needs a schema object to become a grammar; "text" and json_object map. */
    n = host->json_get(body, "response_format");
    if (host->json_type(n) == GANTRY_JSON_OBJECT) {
        gantry_str_t type = host->json_string(host->json_get(n, "type"));
        if (sm_str_eq(type, "json_schema") &&
            host->json_type(host->json_get(host->json_get(n, "json_schema"), "schema")) !=
                GANTRY_JSON_OBJECT) {
            *why = "json_schema needs a \"schema\" object";
            return "response_format";
        }
        if (!sm_str_eq(type, "text") && !sm_str_eq(type, "json_object") &&
            !sm_str_eq(type, "json_schema"))
            return "response_format";
    }
    return NULL;
}

gantry_action_t sm_check_tgi_params(const sm_instance_t *inst, gantry_req_t *req,
                                    const gantry_json_t *body, bool drop)
{
    const char *why;
    const char *param = first_unsupported(inst->host, body, &why);
    if (param == NULL || drop)
        return GANTRY_CONTINUE;
    return sm_unsupported(inst, req, param, why);
}
