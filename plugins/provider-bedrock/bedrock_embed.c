/*
 * The bedrock provider: /v1/embeddings through InvokeModel.  Amazon Titan Text Embeddings (v1,
 * v2) embed one text per call, so a request with several inputs is refused rather than split into
 * several upstream calls; Cohere Embed takes a list of up to 96 texts.  Answers become OpenAI's
 * embedding list, as floats or, when the client asked for encoding_format "base64" (the openai
 * SDKs do by default), as base64 of little-endian float32 values.
 */
#include <stdio.h>

#include "bedrock.h"

#define COHERE_MAX_TEXTS 96

/* Only text inputs: Bedrock's embedding models take no token arrays. */
static int input_texts(br_ctx_t *c, const gantry_json_t *input, size_t *count)
{
    const gantry_host_t *h = c->host;
    if (h->json_type(input) == GANTRY_JSON_STRING) {
        *count = 1;
        return 0;
    }
    if (h->json_type(input) != GANTRY_JSON_ARRAY || h->json_count(input) == 0) {
        br_bad_request(c, "input must be a string or a non-empty array of strings");
        return -1;
    }
    for (const gantry_json_t *e = h->json_first(input); e != NULL; e = h->json_next(e)) {
        if (h->json_type(e) != GANTRY_JSON_STRING) {
            br_bad_request(c, "input: Bedrock embedding models take text, not token arrays");
            return -1;
        }
    }
    *count = h->json_count(input);
    return 0;
}

int br_embed_body(br_ctx_t *c, const gantry_json_t *body, gantry_json_t **out_root)
{
    const gantry_host_t *h = c->host;
    const gantry_json_t *input = h->json_get(body, "input");
    size_t n;
    double d;
    if (input_texts(c, input, &n) != 0)
        return -1;
    gantry_str_t enc = br_get_str(h, body, "encoding_format");
    if (enc.len > 0 && !br_str_eq(enc, "float") && !br_str_eq(enc, "base64")) {
        br_bad_request(c, "encoding_format must be float or base64");
        return -1;
    }
    c->rs->embed_b64 = br_str_eq(enc, "base64");
    gantry_json_t *out = h->json_new(c->req, GANTRY_JSON_OBJECT);
    if (out == NULL)
        return br_fail_oom(c);
    size_t chars = 0;

    if (c->family == BR_FAM_TITAN_EMBED) {
        if (n != 1) {
            br_bad_request(c,
                           "input: Amazon Titan embedding models embed one text per request; send "
                           "%zu requests, or use a Cohere embedding model for lists",
                           n);
            return -1;
        }
        gantry_str_t text = h->json_type(input) == GANTRY_JSON_STRING
                                ? h->json_string(input)
                                : h->json_string(h->json_first(input));
        br_set_str(c, out, "inputText", text);
        chars = text.len;
        bool v1 = br_contains_ci(c->model_id, "text-v1") || br_contains_ci(c->model_id, "g1-text");
        if (br_get_num(h, body, "dimensions", &d)) {
            if (v1) {
                if (br_unsupported(c, "dimensions", "Titan v1 has a fixed size") != 0)
                    return -1;
            } else {
                br_set_num(c, out, "dimensions", d);
            }
        }
        bool norm;
        if (!v1 && h->json_bool(h->json_get(body, "normalize"), &norm) == GANTRY_OK)
            br_set_bool(c, out, "normalize", norm);
    } else {
        if (n > COHERE_MAX_TEXTS) {
            br_bad_request(c, "input: Cohere embedding models take at most %d texts per request",
                           COHERE_MAX_TEXTS);
            return -1;
        }
        gantry_json_t *texts = br_arr(c, out, "texts");
        if (h->json_type(input) == GANTRY_JSON_STRING) {
            br_push_str(c, texts, h->json_string(input));
            chars = h->json_string(input).len;
        } else {
            for (const gantry_json_t *e = h->json_first(input); e != NULL; e = h->json_next(e)) {
                br_push_str(c, texts, h->json_string(e));
                chars += h->json_string(e).len;
            }
        }
        /* Cohere's input_type matters for retrieval quality; LiteLLM's default is documents. */
        gantry_str_t it = br_get_str(h, body, "input_type");
        br_set_str(c, out, "input_type", it.len > 0 ? it : GANTRY_STR_LIT("search_document"));
        gantry_str_t trunc = br_get_str(h, body, "truncate");
        if (trunc.len > 0)
            br_set_str(c, out, "truncate", trunc);
        br_push_str(c, br_arr(c, out, "embedding_types"), GANTRY_STR_LIT("float"));
        if (br_get_num(h, body, "dimensions", &d)) {
            if (br_contains_ci(c->model_id, "embed-v4"))
                br_set_num(c, out, "output_dimension", d);
            else if (br_unsupported(c, "dimensions", "only Cohere Embed v4 takes it") != 0)
                return -1;
        }
    }
    /* Cohere's answer carries no token count; an estimate (4 bytes a token) stands in. */
    c->rs->est_in = (int64_t)((chars + 3) / 4);
    if (c->oom)
        return br_fail_oom(c);
    *out_root = out;
    return 0;
}

/* One vector: copied as numbers, or packed as base64 float32 (little-endian). */
static int put_vector(br_ctx_t *c, gantry_json_t *item, const gantry_json_t *vec)
{
    const gantry_host_t *h = c->host;
    if (h->json_type(vec) != GANTRY_JSON_ARRAY)
        return -1;
    if (!c->rs->embed_b64) {
        for (const gantry_json_t *e = h->json_first(vec); e != NULL; e = h->json_next(e)) {
            if (h->json_type(e) != GANTRY_JSON_NUMBER)
                return -1;
        }
        br_copy(c, item, "embedding", vec);
        return 0;
    }
    size_t n = h->json_count(vec);
    unsigned char *bytes = h->alloc(c->req, n * 4 + 1);
    if (bytes == NULL) {
        c->oom = true;
        return 0;
    }
    size_t i = 0;
    for (const gantry_json_t *e = h->json_first(vec); e != NULL; e = h->json_next(e), i++) {
        double d;
        if (h->json_number(e, &d) != GANTRY_OK)
            return -1;
        float f = (float)d;
        uint32_t u;
        memcpy(&u, &f, 4);
        bytes[i * 4] = (unsigned char)u;
        bytes[i * 4 + 1] = (unsigned char)(u >> 8);
        bytes[i * 4 + 2] = (unsigned char)(u >> 16);
        bytes[i * 4 + 3] = (unsigned char)(u >> 24);
    }
    size_t len;
    char *b64 = br_b64_encode(c->req, h, bytes, n * 4, &len);
    if (b64 == NULL) {
        c->oom = true;
        return 0;
    }
    br_set_str(c, item, "embedding", (gantry_str_t){b64, len});
    return 0;
}

gantry_action_t br_embed_response(br_ctx_t *c, gantry_json_t *root)
{
    const gantry_host_t *h = c->host;
    gantry_json_t *resp = h->json_new(c->req, GANTRY_JSON_OBJECT);
    if (resp == NULL) {
        br_fail_oom(c);
        return GANTRY_FAIL;
    }
    br_set_cstr(c, resp, "object", "list");
    gantry_json_t *data = br_arr(c, resp, "data");
    int64_t tokens = c->rs->est_in;
    bool found;
    int bad = 0;

    if (c->family == BR_FAM_TITAN_EMBED) {
        const gantry_json_t *vec = h->json_get(root, "embedding");
        if (vec == NULL)
            vec = h->json_get(h->json_get(root, "embeddingsByType"), "float");
        gantry_json_t *item = br_push_obj(c, data);
        br_set_cstr(c, item, "object", "embedding");
        br_set_num(c, item, "index", 0);
        bad = put_vector(c, item, vec);
        int64_t t = br_int(h, root, "inputTextTokenCount", &found);
        if (found)
            tokens = t;
    } else {
        const gantry_json_t *emb = h->json_get(root, "embeddings");
        if (h->json_type(emb) == GANTRY_JSON_OBJECT)
            emb = h->json_get(emb, "float");
        if (h->json_type(emb) != GANTRY_JSON_ARRAY || h->json_count(emb) == 0)
            bad = -1;
        int i = 0;
        for (const gantry_json_t *vec = h->json_first(emb); vec != NULL && bad == 0;
             vec = h->json_next(vec), i++) {
            gantry_json_t *item = br_push_obj(c, data);
            br_set_cstr(c, item, "object", "embedding");
            br_set_num(c, item, "index", i);
            bad = put_vector(c, item, vec);
        }
    }
    if (bad != 0)
        return h->req_fail(c->req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                           "the upstream embedding answer has no vector of numbers");
    br_set_str(c, resp, "model", c->rs->model);
    gantry_json_t *usage = br_obj(c, resp, "usage");
    br_set_num(c, usage, "prompt_tokens", (double)tokens);
    br_set_num(c, usage, "total_tokens", (double)tokens);
    if (c->oom) {
        br_fail_oom(c);
        return GANTRY_FAIL;
    }
    if (h->resp_set_take(c->req, resp) != GANTRY_OK)
        return h->req_fail(c->req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL,
                           "could not keep the response");
    return GANTRY_CONTINUE;
}
