/*
 * The sagemaker provider: embeddings.  Text-embedding containers (Hugging Face TEI and
 * feature-extraction, JumpStart) take {"inputs": [texts]} and answer either a list of vectors or
 * an object holding one under "embeddings" / "embedding".  The answer is rewritten into OpenAI's
 * list shape; containers report no token counts, so usage is 0.  The OpenAI SDKs ask for base64
 * by default, so that encoding (little-endian float32, as OpenAI sends it) is produced here.
 */
#include "sagemaker.h"

gantry_action_t sm_embed_body(const sm_instance_t *inst, gantry_req_t *req, bool drop,
                              gantry_str_t *out)
{
    const gantry_host_t *host = inst->host;
    const gantry_json_t *body = host->req_body(req);
    const gantry_json_t *input = host->json_get(body, "input");
    int rc = GANTRY_ENOMEM;

    const gantry_json_t *dims = host->json_get(body, "dimensions");
    if (dims != NULL && host->json_type(dims) != GANTRY_JSON_NULL && !drop)
        return inst->host->req_fail(req, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error",
                                    "unsupported_parameter",
                                    "sagemaker does not support the parameter 'dimensions': the "
                                    "container's vectors have a fixed size. To drop unsupported "
                                    "parameters instead, set drop_params: true");

    gantry_json_t *root = host->json_new(req, GANTRY_JSON_OBJECT);
    gantry_json_t *arr = host->json_set(root, "inputs", GANTRY_JSON_ARRAY);
    if (arr == NULL)
        goto fail;
    if (host->json_type(input) == GANTRY_JSON_STRING) {
        if (host->json_set_string(host->json_append(arr, GANTRY_JSON_STRING),
                                  host->json_string(input)) != GANTRY_OK)
            goto fail;
    } else if (host->json_type(input) == GANTRY_JSON_ARRAY && host->json_count(input) > 0) {
        for (const gantry_json_t *s = host->json_first(input); s != NULL; s = host->json_next(s)) {
            /* Token ids ([int] or [[int]]) mean nothing to a container with its own tokenizer. */
            if (host->json_type(s) != GANTRY_JSON_STRING) {
                host->json_release(req, root);
                return host->req_fail(req, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error",
                                      "unsupported_parameter",
                                      "sagemaker embeddings take text input only (a string or "
                                      "an array of strings), not token ids");
            }
            if (host->json_set_string(host->json_append(arr, GANTRY_JSON_STRING),
                                      host->json_string(s)) != GANTRY_OK)
                goto fail;
        }
    } else {
        host->json_release(req, root);
        return host->req_fail(req, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error", NULL,
                              "input must be a non-empty string or array of strings");
    }
    rc = host->json_write(req, root, out);
fail:
    host->json_release(req, root);
    if (rc != GANTRY_OK)
        return sm_internal(inst, req, "could not build the upstream request", rc);
    return GANTRY_CONTINUE;
}

/* A vector: a non-empty array of numbers. */
static bool is_vector(const gantry_host_t *host, const gantry_json_t *v)
{
    if (host->json_type(v) != GANTRY_JSON_ARRAY || host->json_count(v) == 0)
        return false;
    for (const gantry_json_t *x = host->json_first(v); x != NULL; x = host->json_next(x)) {
        if (host->json_type(x) != GANTRY_JSON_NUMBER)
            return false;
    }
    return true;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The vector as OpenAI's base64: float32 values, little-endian, standard alphabet with padding. */
static gantry_str_t to_base64(const gantry_host_t *host, gantry_req_t *req,
                              const gantry_json_t *vec)
{
    size_t n = host->json_count(vec);
    if (n > SIZE_MAX / 8)
        return GANTRY_STR_NULL;
    size_t raw_len = n * 4;
    unsigned char *raw = host->alloc(req, raw_len);
    char *out = host->alloc(req, (raw_len + 2) / 3 * 4 + 1);
    if (raw == NULL || out == NULL)
        return GANTRY_STR_NULL;
    size_t i = 0;
    for (const gantry_json_t *x = host->json_first(vec); x != NULL && i < n;
         x = host->json_next(x)) {
        double d = 0;
        host->json_number(x, &d);
        float f = (float)d;
        uint32_t bits;
        memcpy(&bits, &f, sizeof(bits));
        raw[i * 4 + 0] = (unsigned char)(bits & 0xff);
        raw[i * 4 + 1] = (unsigned char)((bits >> 8) & 0xff);
        raw[i * 4 + 2] = (unsigned char)((bits >> 16) & 0xff);
        raw[i * 4 + 3] = (unsigned char)((bits >> 24) & 0xff);
        i++;
    }
    size_t o = 0;
    for (size_t k = 0; k < raw_len; k += 3) {
        uint32_t v = (uint32_t)raw[k] << 16;
        size_t left = raw_len - k;
        if (left > 1)
            v |= (uint32_t)raw[k + 1] << 8;
        if (left > 2)
            v |= raw[k + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = left > 1 ? b64[(v >> 6) & 63] : '=';
        out[o++] = left > 2 ? b64[v & 63] : '=';
    }
    out[o] = '\0';
    return (gantry_str_t){out, o};
}

/* The list of vectors in an answer, or NULL when there is none. */
static const gantry_json_t *find_vectors(const gantry_host_t *host, const gantry_json_t *root,
                                         bool *single)
{
    const gantry_json_t *list = root;
    *single = false;
    if (host->json_type(root) == GANTRY_JSON_OBJECT) {
        list = host->json_get(root, "embeddings");
        if (list == NULL)
            list = host->json_get(root, "embedding");
    }
    if (host->json_type(list) != GANTRY_JSON_ARRAY || host->json_count(list) == 0)
        return NULL;
    /* One input may come back as a bare vector rather than a list of one. */
    if (host->json_type(host->json_first(list)) == GANTRY_JSON_NUMBER)
        *single = true;
    return list;
}

gantry_action_t sm_embed_response(const sm_instance_t *inst, const sm_deployment_t *dep,
                                  gantry_req_t *req, gantry_str_t body)
{
    const gantry_host_t *host = inst->host;
    gantry_json_t *root = host->json_parse(req, body);
    bool single;
    const gantry_json_t *list = find_vectors(host, root, &single);
    if (list == NULL) {
        if (host->json_type(root) == GANTRY_JSON_OBJECT && host->json_get(root, "error") != NULL)
            return sm_fail_container_error(inst, req, root, body);
        return host->req_fail(req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                              "SageMaker endpoint %s returned no embeddings (expected a list of "
                              "vectors or {\"embeddings\": [...]})",
                              dep->endpoint.ptr);
    }
    bool base64 = sm_str_eq(
        host->json_string(host->json_get(host->req_body(req), "encoding_format")), "base64");

    gantry_json_t *out = host->json_new(req, GANTRY_JSON_OBJECT);
    gantry_json_t *data = host->json_set(out, "data", GANTRY_JSON_ARRAY);
    if (data == NULL)
        goto oom;
    if (host->json_set_string(host->json_set(out, "object", GANTRY_JSON_STRING),
                              GANTRY_STR_LIT("list")) != GANTRY_OK)
        goto oom;
    size_t index = 0;
    for (const gantry_json_t *v = single ? list : host->json_first(list); v != NULL;
         v = single ? NULL : host->json_next(v), index++) {
        if (!is_vector(host, v)) {
            host->json_release(req, out);
            return host->req_fail(req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                                  "SageMaker endpoint %s returned an embedding that is not a "
                                  "list of numbers (a token-level model without pooling?)",
                                  dep->endpoint.ptr);
        }
        gantry_json_t *item = host->json_append(data, GANTRY_JSON_OBJECT);
        if (item == NULL ||
            host->json_set_string(host->json_set(item, "object", GANTRY_JSON_STRING),
                                  GANTRY_STR_LIT("embedding")) != GANTRY_OK ||
            host->json_set_number(host->json_set(item, "index", GANTRY_JSON_NUMBER),
                                  (double)index) != GANTRY_OK)
            goto oom;
        if (base64) {
            gantry_str_t s = to_base64(host, req, v);
            if (s.ptr == NULL ||
                host->json_set_string(host->json_set(item, "embedding", GANTRY_JSON_STRING), s) !=
                    GANTRY_OK)
                goto oom;
        } else {
            if (!sm_json_copy(host, item, "embedding", v))
                goto oom;
        }
    }
    if (host->json_set_string(host->json_set(out, "model", GANTRY_JSON_STRING), dep->endpoint) !=
            GANTRY_OK ||
        sm_set_usage(host, out, 0, 0) != GANTRY_OK)
        goto oom;
    /* Embeddings have no completion: OpenAI's usage carries prompt and total tokens only. */
    host->json_remove(host->json_get(out, "usage"), "completion_tokens");
    host->json_release(req, root);
    int rc = host->resp_set_take(req, out);
    if (rc != GANTRY_OK)
        return sm_internal(inst, req, "could not keep the upstream response", rc);
    return GANTRY_CONTINUE;
oom:
    host->json_release(req, out);
    return sm_internal(inst, req, "could not build the embeddings response", GANTRY_ENOMEM);
}
