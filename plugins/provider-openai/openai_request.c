/*
 * The openai provider: building the upstream HTTP request for one attempt.  The canonical request
 * is already OpenAI-shaped, so the body is a copy of it with the deployment's model, without the
 * fields only the gateway understands, and with the stream settings the gateway needs.
 */
#include <string.h>

#include "openai.h"

/*
 * Request fields that steer the gateway (LiteLLM names) and mean nothing upstream; OpenAI answers
 * 400 to unknown fields, so they must not be forwarded.
 */
static const char *const gateway_fields[] = {
    "fallbacks",     "guardrails", "cache",      "num_retries",    "metadata",
    "mock_response", "tags",       "session_id", "enable_history", "context_window_fallback_dict",
};

/*
 * Edit the private copy of the canonical body.  The client's body itself is never touched: a retry
 * or a fallback to another deployment builds its request from it again.
 */
static int edit_body(const gantry_host_t *host, const openai_deployment_t *dep, gantry_json_t *body,
                     bool stream)
{
    for (size_t i = 0; i < sizeof(gateway_fields) / sizeof(gateway_fields[0]); i++)
        host->json_remove(body, gateway_fields[i]);

    gantry_json_t *model = host->json_set(body, "model", GANTRY_JSON_STRING);
    if (model == NULL || host->json_set_string(model, dep->model) != GANTRY_OK)
        return GANTRY_ENOMEM;

    if (!stream) {
        /*
         * The core decides whether this attempt streams; OpenAI refuses stream_options without
         * stream, and a stray "stream": true would answer SSE to a caller expecting one JSON body.
         */
        host->json_remove(body, "stream");
        host->json_remove(body, "stream_options");
        return GANTRY_OK;
    }

    gantry_json_t *flag = host->json_set(body, "stream", GANTRY_JSON_BOOL);
    if (flag == NULL || host->json_set_bool(flag, true) != GANTRY_OK)
        return GANTRY_ENOMEM;
    /*
     * The core needs the final usage chunk for accounting even when the client did not ask for it;
     * it drops that chunk again before the client sees it.  Other stream_options are kept.
     */
    gantry_json_t *opts = host->json_get(body, "stream_options");
    if (host->json_type(opts) != GANTRY_JSON_OBJECT)
        opts = host->json_set(body, "stream_options", GANTRY_JSON_OBJECT);
    if (opts == NULL)
        return GANTRY_ENOMEM;
    gantry_json_t *usage = host->json_set(opts, "include_usage", GANTRY_JSON_BOOL);
    if (usage == NULL || host->json_set_bool(usage, true) != GANTRY_OK)
        return GANTRY_ENOMEM;
    return GANTRY_OK;
}

static int add_headers(const gantry_host_t *host, const openai_deployment_t *dep,
                       gantry_upstream_t *up)
{
    int rc = GANTRY_OK;
    if (!dep->extra_has_content_type)
        rc = host->up_add_header(up, "Content-Type", GANTRY_STR_LIT("application/json"));
    if (rc == GANTRY_OK && dep->authorization.ptr != NULL && !dep->extra_has_authorization)
        rc = host->up_add_header(up, "Authorization", dep->authorization);
    if (rc == GANTRY_OK && dep->organization.ptr != NULL && !dep->extra_has_organization)
        rc = host->up_add_header(up, "OpenAI-Organization", dep->organization);
    for (size_t i = 0; rc == GANTRY_OK && i < dep->n_extra; i++)
        rc = host->up_add_header(up, dep->extra[i].name.ptr, dep->extra[i].value);
    return rc;
}

gantry_action_t openai_prepare(gantry_req_t *req, void *state, void *deployment,
                               gantry_upstream_t *up)
{
    const openai_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    const openai_deployment_t *dep = deployment;
    bool stream = host->req_is_stream(req);
    gantry_str_t text;
    int rc;

    const gantry_json_t *canonical = host->req_body(req);
    if (host->json_type(canonical) != GANTRY_JSON_OBJECT)
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                              "the request has no JSON object body");

    gantry_json_t *body = host->json_dup(req, canonical);
    if (body == NULL) {
        rc = GANTRY_ENOMEM;
        goto fail;
    }
    if ((rc = edit_body(host, dep, body, stream)) != GANTRY_OK)
        goto fail;
    rc = host->json_write(req, body, &text);
    /* The copy is only needed to produce the text; drop it so retries do not pile up copies. */
    host->json_release(req, body);
    body = NULL;
    if (rc != GANTRY_OK)
        goto fail;

    if ((rc = host->up_set_url(up, dep->url)) != GANTRY_OK)
        goto fail;
    if ((rc = add_headers(host, dep, up)) != GANTRY_OK)
        goto fail;
    if ((rc = host->up_set_body(up, text)) != GANTRY_OK)
        goto fail;
    if (stream && (rc = host->up_set_framing(up, GANTRY_FRAMING_SSE)) != GANTRY_OK)
        goto fail;
    return GANTRY_CONTINUE;

fail:
    if (body != NULL)
        host->json_release(req, body);
    return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                          "could not build the upstream request: %s", host->strerror(rc));
}
