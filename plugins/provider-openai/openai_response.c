/*
 * The openai provider: turning a 2xx upstream answer (one JSON body, or SSE frames) into the
 * canonical response.  The upstream already speaks the canonical shape, so parsing is validation
 * plus hand-over; errors that arrive inside a 2xx answer are described by openai_error.c, and
 * text completions are translated by openai_completions.c.
 */
#include <string.h>

#include "openai.h"

/*
 * Some compatible servers (and OpenAI itself, mid-stream) report a failure as {"error": ...} with a
 * 2xx status.  Only an object or a string counts: "error": null is not a failure.
 */
static bool carries_error(const gantry_host_t *host, const gantry_json_t *root)
{
    gantry_json_type_t t = host->json_type(host->json_get(root, "error"));
    return t == GANTRY_JSON_OBJECT || t == GANTRY_JSON_STRING;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static gantry_str_t trim(gantry_str_t s)
{
    while (s.len > 0 && is_space(s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && is_space(s.ptr[s.len - 1]))
        s.len--;
    return s;
}

/* An embeddings answer is installed as it came; it must at least be a list of data. */
static gantry_action_t embeddings_response(gantry_req_t *req, const gantry_host_t *host,
                                           gantry_json_t *root)
{
    if (host->json_type(host->json_get(root, "data")) != GANTRY_JSON_ARRAY)
        return host->req_fail(req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                              "the upstream returned a malformed embeddings response (no data "
                              "list)");
    int rc = host->resp_set_take(req, root);
    if (rc != GANTRY_OK)
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                              "could not keep the upstream response: %s", host->strerror(rc));
    return GANTRY_CONTINUE;
}

gantry_action_t openai_parse_response(gantry_req_t *req, void *state, void *deployment, int status,
                                      gantry_str_t body)
{
    const openai_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    const openai_deployment_t *dep = deployment;
    (void)status;

    gantry_json_t *root = host->json_parse(req, body);
    if (host->json_type(root) != GANTRY_JSON_OBJECT)
        return host->req_fail(req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                              "the upstream returned a malformed response (not a JSON object)");

    gantry_endpoint_t ep = openai_endpoint(host, req);
    if (ep == GANTRY_EP_EMBEDDINGS) {
        if (carries_error(host, root) && host->json_get(root, "data") == NULL)
            return openai_fail_with_error(inst, dep, req, root, body);
        return embeddings_response(req, host, root);
    }
    if (carries_error(host, root) && host->json_get(root, "choices") == NULL)
        return openai_fail_with_error(inst, dep, req, root, body);
    if (dep->completion_api)
        return openai_completion_response(req, inst, dep, root);

    int rc = host->resp_set_take(req, root);
    if (rc != GANTRY_OK)
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                              "could not keep the upstream response: %s", host->strerror(rc));
    return GANTRY_CONTINUE;
}

/*
 * Azure opens a stream with an event that only reports its prompt filter results ("choices": [],
 * "prompt_filter_results": [...], "model": "") and may send more such annotation events.  They
 * carry nothing a canonical chunk has, and an empty-choices chunk reads as a usage chunk: they are
 * not passed on.
 */
static bool is_annotation_only(const gantry_host_t *host, const gantry_json_t *root)
{
    const gantry_json_t *choices = host->json_get(root, "choices");
    return host->json_type(choices) == GANTRY_JSON_ARRAY && host->json_count(choices) == 0 &&
           host->json_type(host->json_get(root, "usage")) != GANTRY_JSON_OBJECT;
}

gantry_action_t openai_parse_frame(gantry_req_t *req, void *state, void *deployment,
                                   const gantry_frame_t *frame)
{
    const openai_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    const openai_deployment_t *dep = deployment;
    gantry_str_t data = trim(frame->data);

    /* Comment-only events (keep-alives) reach us with no data and carry nothing. */
    if (data.len == 0)
        return GANTRY_CONTINUE;
    if (data.len == 6 && memcmp(data.ptr, "[DONE]", 6) == 0) {
        host->stream_end(req);
        return GANTRY_CONTINUE;
    }

    gantry_json_t *root = host->json_parse(req, data);
    bool is_object = host->json_type(root) == GANTRY_JSON_OBJECT;

    /* An "event: error" frame is a failure whatever its data holds, JSON or plain text. */
    if (frame->event.len == 5 && memcmp(frame->event.ptr, "error", 5) == 0)
        return openai_fail_with_error(inst, dep, req, is_object ? root : NULL, data);
    if (!is_object)
        return host->req_fail(req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                              "the upstream sent a malformed stream event (not a JSON object)");
    if (carries_error(host, root))
        return openai_fail_with_error(inst, dep, req, root, data);
    if (dep->azure && is_annotation_only(host, root)) {
        host->json_release(req, root);
        return GANTRY_CONTINUE;
    }
    if (dep->completion_api)
        return openai_completion_chunk(req, inst, dep, root);

    int rc = host->stream_chunk_take(req, root);
    if (rc != GANTRY_OK)
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                              "could not forward a stream chunk: %s", host->strerror(rc));
    return GANTRY_CONTINUE;
}
