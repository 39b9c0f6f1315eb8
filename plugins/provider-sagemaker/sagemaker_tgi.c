/*
 * The sagemaker provider: text-generation containers (Hugging Face TGI, LMI, JumpStart) that take
 * {"inputs": <prompt>, "parameters": {...}} and answer [{"generated_text", "details"}], streaming
 * TGI token events {"token": {"text", "special"}, "generated_text": null | "...", "details": ...}.
 *
 * The chat messages become one prompt through the deployment's template (sagemaker_prompt.c); the
 * OpenAI sampling parameters become TGI's, and the ones TGI cannot honour are refused by
 * sagemaker_params.c.  TGI reports generated tokens but not prompt tokens (except in a stream's
 * final details, as input_length), so the prompt's count is estimated when it is missing.
 */
#include "sagemaker.h"

/*
 * TGI's own generation parameters a client may send at the top level of its body (as LiteLLM
 * forwards provider-specific keys).  Copied into "parameters" as they are; the container checks
 * them.
 */
static const char *const native_params[] = {
    "repetition_penalty",    "typical_p", "truncate", "watermark", "top_n_tokens", "adapter_id",
    "decoder_input_details",
};

static bool set_num(const gantry_host_t *host, gantry_json_t *obj, const char *key, double v)
{
    return host->json_set_number(host->json_set(obj, key, GANTRY_JSON_NUMBER), v) == GANTRY_OK;
}

static bool set_bool(const gantry_host_t *host, gantry_json_t *obj, const char *key, bool v)
{
    return host->json_set_bool(host->json_set(obj, key, GANTRY_JSON_BOOL), v) == GANTRY_OK;
}

static bool get_num(const gantry_host_t *host, const gantry_json_t *obj, const char *key,
                    double *out)
{
    const gantry_json_t *n = host->json_get(obj, key);
    return host->json_type(n) == GANTRY_JSON_NUMBER && host->json_number(n, out) == GANTRY_OK;
}

/* response_format becomes TGI's grammar: {"type": "json", "value": <JSON schema>}. */
static bool map_response_format(const sm_instance_t *inst, gantry_req_t *req,
                                const gantry_json_t *rf, gantry_json_t *params)
{
    const gantry_host_t *host = inst->host;
    gantry_str_t type = host->json_string(host->json_get(rf, "type"));
    gantry_json_t *g;
    if (sm_str_eq(type, "json_object")) {
        g = host->json_set(params, "grammar", GANTRY_JSON_OBJECT);
        gantry_json_t *v = host->json_set(g, "value", GANTRY_JSON_OBJECT);
        return host->json_set_string(host->json_set(g, "type", GANTRY_JSON_STRING),
                                     GANTRY_STR_LIT("json")) == GANTRY_OK &&
               host->json_set_string(host->json_set(v, "type", GANTRY_JSON_STRING),
                                     GANTRY_STR_LIT("object")) == GANTRY_OK;
    }
    if (sm_str_eq(type, "json_schema")) {
        const gantry_json_t *schema = host->json_get(host->json_get(rf, "json_schema"), "schema");
        if (host->json_type(schema) != GANTRY_JSON_OBJECT)
            return true; /* nothing to constrain with; sagemaker_params.c refused it already */
        g = host->json_set(params, "grammar", GANTRY_JSON_OBJECT);
        return host->json_set_string(host->json_set(g, "type", GANTRY_JSON_STRING),
                                     GANTRY_STR_LIT("json")) == GANTRY_OK &&
               sm_json_copy(host, g, "value", schema);
    }
    return true;
}

/* The OpenAI sampling parameters in TGI's names and ranges. */
static bool map_parameters(const sm_instance_t *inst, gantry_req_t *req, const gantry_json_t *body,
                           gantry_json_t *params)
{
    const gantry_host_t *host = inst->host;
    int64_t max_tokens;
    double d;
    bool sample = false, greedy = false;

    /* max_completion_tokens is the newer name and wins when both are present. */
    if (sm_json_int(host, host->json_get(body, "max_completion_tokens"), 1, INT32_MAX,
                    &max_tokens) ||
        sm_json_int(host, host->json_get(body, "max_tokens"), 1, INT32_MAX, &max_tokens)) {
        if (!set_num(host, params, "max_new_tokens", (double)max_tokens))
            return false;
    }
    /* TGI refuses temperature 0 ("must be strictly positive"): 0 means greedy decoding. */
    if (get_num(host, body, "temperature", &d)) {
        if (d > 0) {
            sample = true;
            if (!set_num(host, params, "temperature", d))
                return false;
        } else {
            greedy = true;
        }
    }
    /* TGI takes top_p only inside (0, 1); 1 is OpenAI's "no nucleus cut", the default anyway. */
    if (get_num(host, body, "top_p", &d) && d > 0 && d < 1) {
        sample = true;
        if (!set_num(host, params, "top_p", d))
            return false;
    }
    int64_t k;
    if (sm_json_int(host, host->json_get(body, "top_k"), 1, INT32_MAX, &k)) {
        sample = true;
        if (!set_num(host, params, "top_k", (double)k))
            return false;
    }
    if (sample || greedy) {
        if (!set_bool(host, params, "do_sample", sample && !greedy))
            return false;
    }
    if (get_num(host, body, "frequency_penalty", &d) && d != 0 &&
        !set_num(host, params, "frequency_penalty", d))
        return false;
    int64_t seed;
    if (sm_json_int(host, host->json_get(body, "seed"), 0, INT64_C(9007199254740991), &seed) &&
        !set_num(host, params, "seed", (double)seed))
        return false;

    const gantry_json_t *stop = host->json_get(body, "stop");
    if (host->json_type(stop) == GANTRY_JSON_STRING || host->json_type(stop) == GANTRY_JSON_ARRAY) {
        gantry_json_t *arr = host->json_set(params, "stop", GANTRY_JSON_ARRAY);
        if (arr == NULL)
            return false;
        if (host->json_type(stop) == GANTRY_JSON_STRING) {
            if (host->json_set_string(host->json_append(arr, GANTRY_JSON_STRING),
                                      host->json_string(stop)) != GANTRY_OK)
                return false;
        } else {
            for (const gantry_json_t *s = host->json_first(stop); s != NULL;
                 s = host->json_next(s)) {
                if (host->json_type(s) == GANTRY_JSON_STRING &&
                    host->json_set_string(host->json_append(arr, GANTRY_JSON_STRING),
                                          host->json_string(s)) != GANTRY_OK)
                    return false;
            }
        }
    }
    const gantry_json_t *rf = host->json_get(body, "response_format");
    if (host->json_type(rf) == GANTRY_JSON_OBJECT && !map_response_format(inst, req, rf, params))
        return false;

    for (size_t i = 0; i < sizeof(native_params) / sizeof(native_params[0]); i++) {
        const gantry_json_t *n = host->json_get(body, native_params[i]);
        if (n != NULL && !sm_json_copy(host, params, native_params[i], n))
            return false;
    }
    /* details gives finish_reason and the token count; the prompt is not wanted back. */
    return set_bool(host, params, "details", true) &&
           set_bool(host, params, "return_full_text", false);
}

gantry_action_t sm_tgi_body(const sm_instance_t *inst, const sm_deployment_t *dep,
                            gantry_req_t *req, sm_req_t *rs, bool stream, gantry_str_t *out)
{
    const gantry_host_t *host = inst->host;
    const gantry_json_t *body = host->req_body(req);
    bool drop = GANTRY_HOST_HAS(host, req_drop_params) ? host->req_drop_params(req) : false;
    gantry_endpoint_t ep =
        GANTRY_HOST_HAS(host, req_endpoint) ? host->req_endpoint(req) : GANTRY_EP_CHAT;
    gantry_str_t prompt = GANTRY_STR_NULL;

    gantry_action_t act = sm_check_tgi_params(inst, req, body, drop);
    if (act != GANTRY_CONTINUE)
        return act;

    /* A /v1/completions prompt is already what a text-generation model takes: no template. */
    const gantry_json_t *raw = host->json_get(body, "prompt");
    if (ep == GANTRY_EP_COMPLETIONS && host->json_type(raw) == GANTRY_JSON_STRING) {
        prompt = host->json_string(raw);
    } else {
        act = sm_render_prompt(inst, dep, req, host->json_get(body, "messages"), drop, &prompt);
        if (act != GANTRY_CONTINUE)
            return act;
    }
    rs->prompt_bytes = prompt.len;
    rs->prompt = prompt;

    int rc = GANTRY_ENOMEM;
    gantry_json_t *root = host->json_new(req, GANTRY_JSON_OBJECT);
    if (root == NULL)
        goto fail;
    if (host->json_set_string(host->json_set(root, "inputs", GANTRY_JSON_STRING), prompt) !=
        GANTRY_OK)
        goto fail;
    gantry_json_t *params = host->json_set(root, "parameters", GANTRY_JSON_OBJECT);
    if (params == NULL || !map_parameters(inst, req, body, params))
        goto fail;
    /* TGI's /invocations streams when the body says so (SageMaker passes the body as it is). */
    if (stream && !set_bool(host, root, "stream", true))
        goto fail;
    rc = host->json_write(req, root, out);
fail:
    host->json_release(req, root);
    if (rc != GANTRY_OK)
        return sm_internal(inst, req, "could not build the upstream request", rc);
    return GANTRY_CONTINUE;
}

/* TGI's finish reasons: length, eos_token, stop_sequence (LMI adds others); OpenAI's: length, stop.
 */
static gantry_str_t finish_reason(const gantry_host_t *host, const gantry_json_t *details)
{
    gantry_str_t r = host->json_string(host->json_get(details, "finish_reason"));
    if (sm_str_eq(r, "length") || sm_str_eq(r, "max_tokens"))
        return GANTRY_STR_LIT("length");
    return GANTRY_STR_LIT("stop");
}

/* The first result of an answer: [{...}] (TGI on SageMaker) or {...} (some LMI versions). */
static const gantry_json_t *first_result(const gantry_host_t *host, const gantry_json_t *root)
{
    if (host->json_type(root) == GANTRY_JSON_ARRAY)
        root = host->json_first(root);
    return host->json_type(root) == GANTRY_JSON_OBJECT ? root : NULL;
}

static bool carries_error(const gantry_host_t *host, const gantry_json_t *obj)
{
    gantry_json_type_t t = host->json_type(host->json_get(obj, "error"));
    return t == GANTRY_JSON_OBJECT || t == GANTRY_JSON_STRING;
}

gantry_action_t sm_tgi_response(const sm_instance_t *inst, const sm_deployment_t *dep,
                                gantry_req_t *req, sm_req_t *rs, gantry_str_t body)
{
    const gantry_host_t *host = inst->host;
    gantry_json_t *root = host->json_parse(req, body);
    const gantry_json_t *res = first_result(host, root);
    if (res == NULL)
        return host->req_fail(req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                              "SageMaker endpoint %s returned a malformed response (expected "
                              "[{\"generated_text\": ...}])",
                              dep->endpoint.ptr);
    if (carries_error(host, res))
        return sm_fail_container_error(inst, req, res, body);

    gantry_str_t text = host->json_string(host->json_get(res, "generated_text"));
    if (text.ptr == NULL) {
        /* Older LMI answers {"generated_texts": ["..."]}. */
        text = host->json_string(host->json_first(host->json_get(res, "generated_texts")));
    }
    if (text.ptr == NULL)
        return host->req_fail(req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                              "SageMaker endpoint %s answered without \"generated_text\": is it "
                              "a TGI-style container? (sagemaker_api: messages for OpenAI-style "
                              "ones)",
                              dep->endpoint.ptr);
    /* Containers that ignore return_full_text echo the prompt first. */
    if (rs->prompt.len > 0 && text.len >= rs->prompt.len &&
        memcmp(text.ptr, rs->prompt.ptr, rs->prompt.len) == 0) {
        text.ptr += rs->prompt.len;
        text.len -= rs->prompt.len;
    }

    const gantry_json_t *details = host->json_get(res, "details");
    int64_t completion, prompt;
    if (!sm_json_int(host, host->json_get(details, "generated_tokens"), 0, INT32_MAX, &completion))
        completion = sm_estimate_tokens(text.len);
    size_t prefill = host->json_count(host->json_get(details, "prefill"));
    prompt = prefill > 0 ? (int64_t)prefill : sm_estimate_tokens(rs->prompt_bytes);

    sm_ensure_id(inst, req, rs);
    int rc = GANTRY_ENOMEM;
    gantry_json_t *out = host->json_new(req, GANTRY_JSON_OBJECT);
    if (out == NULL ||
        host->json_set_string(host->json_set(out, "id", GANTRY_JSON_STRING), rs->id) != GANTRY_OK ||
        host->json_set_string(host->json_set(out, "object", GANTRY_JSON_STRING),
                              GANTRY_STR_LIT("chat.completion")) != GANTRY_OK ||
        !set_num(host, out, "created", (double)rs->created) ||
        host->json_set_string(host->json_set(out, "model", GANTRY_JSON_STRING), dep->endpoint) !=
            GANTRY_OK)
        goto fail;
    gantry_json_t *choice =
        host->json_append(host->json_set(out, "choices", GANTRY_JSON_ARRAY), GANTRY_JSON_OBJECT);
    gantry_json_t *msg = host->json_set(choice, "message", GANTRY_JSON_OBJECT);
    if (choice == NULL || msg == NULL || !set_num(host, choice, "index", 0) ||
        host->json_set_string(host->json_set(msg, "role", GANTRY_JSON_STRING),
                              GANTRY_STR_LIT("assistant")) != GANTRY_OK ||
        host->json_set_string(host->json_set(msg, "content", GANTRY_JSON_STRING), text) !=
            GANTRY_OK ||
        host->json_set_string(host->json_set(choice, "finish_reason", GANTRY_JSON_STRING),
                              finish_reason(host, details)) != GANTRY_OK)
        goto fail;
    if ((rc = sm_set_usage(host, out, prompt, completion)) != GANTRY_OK)
        goto fail;
    host->json_release(req, root);
    if ((rc = host->resp_set_take(req, out)) != GANTRY_OK)
        return sm_internal(inst, req, "could not keep the upstream response", rc);
    return GANTRY_CONTINUE;
fail:
    host->json_release(req, out);
    return sm_internal(inst, req, "could not build the response", GANTRY_ENOMEM);
}

/* A chat.completion.chunk with one choice; *delta is its (empty) delta object. */
static gantry_json_t *new_chunk(const sm_instance_t *inst, const sm_deployment_t *dep,
                                gantry_req_t *req, sm_req_t *rs, gantry_str_t finish,
                                gantry_json_t **delta)
{
    const gantry_host_t *host = inst->host;
    sm_ensure_id(inst, req, rs);
    gantry_json_t *c = host->json_new(req, GANTRY_JSON_OBJECT);
    if (c == NULL ||
        host->json_set_string(host->json_set(c, "id", GANTRY_JSON_STRING), rs->id) != GANTRY_OK ||
        host->json_set_string(host->json_set(c, "object", GANTRY_JSON_STRING),
                              GANTRY_STR_LIT("chat.completion.chunk")) != GANTRY_OK ||
        !set_num(host, c, "created", (double)rs->created) ||
        host->json_set_string(host->json_set(c, "model", GANTRY_JSON_STRING), dep->endpoint) !=
            GANTRY_OK)
        goto fail;
    gantry_json_t *choice =
        host->json_append(host->json_set(c, "choices", GANTRY_JSON_ARRAY), GANTRY_JSON_OBJECT);
    if (choice == NULL || !set_num(host, choice, "index", 0))
        goto fail;
    *delta = host->json_set(choice, "delta", GANTRY_JSON_OBJECT);
    if (*delta == NULL)
        goto fail;
    if (finish.ptr != NULL) {
        if (host->json_set_string(host->json_set(choice, "finish_reason", GANTRY_JSON_STRING),
                                  finish) != GANTRY_OK)
            goto fail;
    } else if (host->json_set(choice, "finish_reason", GANTRY_JSON_NULL) == NULL) {
        goto fail;
    }
    /* The first chunk of the answer names the role, whatever else it carries. */
    if (!rs->role_sent) {
        if (host->json_set_string(host->json_set(*delta, "role", GANTRY_JSON_STRING),
                                  GANTRY_STR_LIT("assistant")) != GANTRY_OK)
            goto fail;
        rs->role_sent = true;
    }
    return c;
fail:
    host->json_release(req, c);
    return NULL;
}

static gantry_action_t emit(const sm_instance_t *inst, gantry_req_t *req, gantry_json_t *chunk)
{
    if (chunk == NULL)
        return sm_internal(inst, req, "could not build a stream chunk", GANTRY_ENOMEM);
    int rc = inst->host->stream_chunk_take(req, chunk);
    if (rc != GANTRY_OK)
        return sm_internal(inst, req, "could not forward a stream chunk", rc);
    return GANTRY_CONTINUE;
}

static gantry_action_t emit_text(const sm_instance_t *inst, const sm_deployment_t *dep,
                                 gantry_req_t *req, sm_req_t *rs, gantry_str_t text)
{
    gantry_json_t *delta = NULL;
    gantry_json_t *c = new_chunk(inst, dep, req, rs, GANTRY_STR_NULL, &delta);
    if (c != NULL &&
        inst->host->json_set_string(inst->host->json_set(delta, "content", GANTRY_JSON_STRING),
                                    text) != GANTRY_OK) {
        inst->host->json_release(req, c);
        c = NULL;
    }
    rs->text_bytes += text.len;
    return emit(inst, req, c);
}

/* The final event: the finish chunk, the usage chunk, and the end of the stream. */
static gantry_action_t finish(const sm_instance_t *inst, const sm_deployment_t *dep,
                              gantry_req_t *req, sm_req_t *rs, const gantry_json_t *details)
{
    const gantry_host_t *host = inst->host;
    gantry_json_t *delta = NULL;
    gantry_action_t act =
        emit(inst, req, new_chunk(inst, dep, req, rs, finish_reason(host, details), &delta));
    if (act != GANTRY_CONTINUE)
        return act;

    int64_t prompt, completion;
    if (!sm_json_int(host, host->json_get(details, "input_length"), 0, INT32_MAX, &prompt))
        prompt = sm_estimate_tokens(rs->prompt_bytes);
    if (!sm_json_int(host, host->json_get(details, "generated_tokens"), 0, INT32_MAX, &completion))
        completion =
            rs->completion_tokens > 0 ? rs->completion_tokens : sm_estimate_tokens(rs->text_bytes);
    act = sm_emit_usage(inst, req, rs, dep, prompt, completion);
    if (act != GANTRY_CONTINUE)
        return act;
    rs->finished = true;
    host->stream_end(req);
    return GANTRY_CONTINUE;
}

gantry_action_t sm_tgi_line(const sm_instance_t *inst, const sm_deployment_t *dep,
                            gantry_req_t *req, sm_req_t *rs, gantry_str_t data)
{
    const gantry_host_t *host = inst->host;
    gantry_json_t *root = host->json_parse(req, data);
    if (host->json_type(root) != GANTRY_JSON_OBJECT) {
        host->json_release(req, root);
        return host->req_fail(req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                              "SageMaker endpoint %s sent a malformed stream line (not a JSON "
                              "object)",
                              dep->endpoint.ptr);
    }
    if (carries_error(host, root))
        return sm_fail_container_error(inst, req, root, data);

    gantry_action_t act = GANTRY_CONTINUE;
    const gantry_json_t *token = host->json_get(root, "token");
    if (host->json_type(token) == GANTRY_JSON_OBJECT) {
        bool special = false;
        host->json_bool(host->json_get(token, "special"), &special);
        gantry_str_t text = host->json_string(host->json_get(token, "text"));
        rs->completion_tokens++;
        /* Special tokens (</s>, <|eot_id|>) are control symbols, not text. */
        if (!special && text.len > 0)
            act = emit_text(inst, dep, req, rs, text);
    }
    const gantry_json_t *details = host->json_get(root, "details");
    bool last = host->json_type(details) == GANTRY_JSON_OBJECT ||
                host->json_type(host->json_get(root, "generated_text")) == GANTRY_JSON_STRING;
    if (act == GANTRY_CONTINUE && last)
        act = finish(inst, dep, req, rs, details);
    host->json_release(req, root);
    return act;
}
