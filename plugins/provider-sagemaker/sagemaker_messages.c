/*
 * The sagemaker provider: containers that speak OpenAI's chat completions inside InvokeEndpoint
 * (LMI, vLLM, TGI's Messages API).  The canonical request is already that shape, so the body is a
 * copy without the gateway's own fields, and answers are checked and handed over; what differs
 * from a plain OpenAI server is the transport (SigV4, event-stream) and that such containers
 * often leave out the fields of the envelope (id, created, model), which are filled in here.
 */
#include "sagemaker.h"

/*
 * Top-level keys never sent to the container: the gateway's steering fields (LiteLLM names),
 * "model" (the container serves one model and some refuse a name they do not know; see
 * container_model), the stream settings (set per attempt below) and the /v1/completions prompt.
 */
static const char *const dropped_keys[] = {
    "fallbacks",      "guardrails",
    "cache",          "num_retries",
    "metadata",       "mock_response",
    "tags",           "session_id",
    "enable_history", "context_window_fallback_dict",
    "model",          "stream",
    "stream_options", "prompt",
};

int sm_messages_body(const sm_instance_t *inst, const sm_deployment_t *dep, gantry_req_t *req,
                     bool stream, gantry_str_t *out)
{
    const gantry_host_t *host = inst->host;
    const gantry_json_t *canonical = host->req_body(req);
    const gantry_json_t *opts = host->json_get(canonical, "stream_options");
    int rc = GANTRY_ENOMEM;

    /* A copy per attempt: the client's body stays as it came for retries and fallbacks. */
    gantry_json_t *copy = host->json_dup(req, canonical);
    if (copy == NULL)
        return GANTRY_ENOMEM;
    for (size_t i = 0; i < sizeof(dropped_keys) / sizeof(dropped_keys[0]); i++)
        host->json_remove(copy, dropped_keys[i]);
    if (dep->container_model.ptr != NULL &&
        host->json_set_string(host->json_set(copy, "model", GANTRY_JSON_STRING),
                              dep->container_model) != GANTRY_OK)
        goto out;
    if (stream) {
        /* The usage chunk is what the gateway accounts with; it hides it from clients that did
         * not ask for it.  The client's other stream options are kept. */
        if (host->json_set_bool(host->json_set(copy, "stream", GANTRY_JSON_BOOL), true) !=
            GANTRY_OK)
            goto out;
        gantry_json_t *o;
        if (host->json_type(opts) == GANTRY_JSON_OBJECT) {
            if (!sm_json_copy(host, copy, "stream_options", opts))
                goto out;
            o = host->json_get(copy, "stream_options");
        } else {
            o = host->json_set(copy, "stream_options", GANTRY_JSON_OBJECT);
        }
        if (host->json_set_bool(host->json_set(o, "include_usage", GANTRY_JSON_BOOL), true) !=
            GANTRY_OK)
            goto out;
    }
    rc = host->json_write(req, copy, out);
out:
    host->json_release(req, copy);
    return rc;
}

/* {"error": {...}} or {"error": "text"} (TGI, vLLM), or vLLM's {"object": "error", ...}. */
static bool carries_error(const gantry_host_t *host, const gantry_json_t *root)
{
    gantry_json_type_t t = host->json_type(host->json_get(root, "error"));
    if (t == GANTRY_JSON_OBJECT || t == GANTRY_JSON_STRING)
        return true;
    return sm_str_eq(host->json_string(host->json_get(root, "object")), "error");
}

/* Give the envelope fields a container left out (or sent with the wrong type) a value. */
static int fill_envelope(const sm_instance_t *inst, const sm_deployment_t *dep, gantry_req_t *req,
                         gantry_json_t *root, const char *object)
{
    const gantry_host_t *host = inst->host;
    sm_req_t *rs = sm_req_state(inst, req);
    if (rs == NULL)
        return GANTRY_ENOMEM;
    sm_ensure_id(inst, req, rs);
    if (host->json_type(host->json_get(root, "id")) != GANTRY_JSON_STRING &&
        host->json_set_string(host->json_set(root, "id", GANTRY_JSON_STRING), rs->id) != GANTRY_OK)
        return GANTRY_ENOMEM;
    if (!sm_str_eq(host->json_string(host->json_get(root, "object")), object) &&
        host->json_set_string(host->json_set(root, "object", GANTRY_JSON_STRING),
                              (gantry_str_t){object, strlen(object)}) != GANTRY_OK)
        return GANTRY_ENOMEM;
    if (host->json_type(host->json_get(root, "created")) != GANTRY_JSON_NUMBER &&
        host->json_set_number(host->json_set(root, "created", GANTRY_JSON_NUMBER),
                              (double)rs->created) != GANTRY_OK)
        return GANTRY_ENOMEM;
    gantry_str_t model = host->json_string(host->json_get(root, "model"));
    if (model.len == 0 && host->json_set_string(host->json_set(root, "model", GANTRY_JSON_STRING),
                                                dep->endpoint) != GANTRY_OK)
        return GANTRY_ENOMEM;
    return GANTRY_OK;
}

gantry_action_t sm_messages_response(const sm_instance_t *inst, const sm_deployment_t *dep,
                                     gantry_req_t *req, gantry_str_t body)
{
    const gantry_host_t *host = inst->host;
    gantry_json_t *root = host->json_parse(req, body);
    if (host->json_type(root) != GANTRY_JSON_OBJECT)
        return host->req_fail(req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                              "SageMaker endpoint %s returned a malformed response (not a JSON "
                              "object)",
                              dep->endpoint.ptr);
    if (carries_error(host, root) && host->json_get(root, "choices") == NULL)
        return sm_fail_container_error(inst, req, root, body);
    if (host->json_type(host->json_get(root, "choices")) != GANTRY_JSON_ARRAY)
        return host->req_fail(req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                              "SageMaker endpoint %s answered without \"choices\": is it a "
                              "Messages API container? (sagemaker_api: tgi for TGI-style ones)",
                              dep->endpoint.ptr);
    int rc = fill_envelope(inst, dep, req, root, "chat.completion");
    if (rc == GANTRY_OK)
        rc = host->resp_set_take(req, root);
    if (rc != GANTRY_OK)
        return sm_internal(inst, req, "could not keep the upstream response", rc);
    return GANTRY_CONTINUE;
}

gantry_action_t sm_messages_line(const sm_instance_t *inst, const sm_deployment_t *dep,
                                 gantry_req_t *req, sm_req_t *rs, gantry_str_t data)
{
    const gantry_host_t *host = inst->host;
    if (sm_str_eq(data, "[DONE]")) {
        rs->finished = true;
        host->stream_end(req);
        return GANTRY_CONTINUE;
    }
    gantry_json_t *root = host->json_parse(req, data);
    if (host->json_type(root) != GANTRY_JSON_OBJECT) {
        host->json_release(req, root);
        return host->req_fail(req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                              "SageMaker endpoint %s sent a malformed stream line (not a JSON "
                              "object)",
                              dep->endpoint.ptr);
    }
    if (carries_error(host, root) && host->json_get(root, "choices") == NULL)
        return sm_fail_container_error(inst, req, root, data);
    int rc = fill_envelope(inst, dep, req, root, "chat.completion.chunk");
    if (rc == GANTRY_OK)
        rc = host->stream_chunk_take(req, root);
    if (rc != GANTRY_OK)
        return sm_internal(inst, req, "could not forward a stream chunk", rc);
    return GANTRY_CONTINUE;
}
