/*
 * The fake provider's embeddings: a deterministic unit vector per input, derived from a hash of
 * the input's text, so equal inputs get equal vectors and tests can compare them across calls.
 * encoding_format "base64" gives the little-endian float32 bytes base64-encoded, as OpenAI does.
 */
#include <math.h>
#include <string.h>

#include "fake.h"

#define DEFAULT_DIMS 16
#define MAX_DIMS 4096

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t next_rand(uint64_t *s)
{
    /* splitmix64: a good spread from a 64-bit seed */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void make_vector(uint64_t seed, float *v, size_t dims)
{
    double norm = 0;
    for (size_t i = 0; i < dims; i++) {
        v[i] = (float)((double)(next_rand(&seed) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
        norm += (double)v[i] * v[i];
    }
    norm = sqrt(norm);
    for (size_t i = 0; i < dims && norm > 0; i++)
        v[i] = (float)(v[i] / norm);
}

static char *base64(const gantry_host_t *host, gantry_req_t *req, const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = host->alloc(req, (n + 2) / 3 * 4 + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t b = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        *o++ = tab[b >> 18 & 63];
        *o++ = tab[b >> 12 & 63];
        *o++ = i + 1 < n ? tab[b >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tab[b & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* The text (or token ids, as written) of one input element, for hashing and counting. */
static gantry_str_t input_text(const gantry_host_t *host, gantry_req_t *req, gantry_json_t *in)
{
    if (host->json_type(in) == GANTRY_JSON_STRING)
        return host->json_string(in);
    gantry_str_t s = GANTRY_STR_NULL;
    host->json_write(req, in, &s);
    return s;
}

static gantry_action_t add_item(const gantry_host_t *host, gantry_req_t *req, gantry_json_t *data,
                                gantry_str_t text, size_t index, size_t dims, bool b64,
                                float *vec)
{
    gantry_json_t *item = host->json_append(data, GANTRY_JSON_OBJECT);
    host->json_set_string(host->json_set(item, "object", GANTRY_JSON_STRING),
                          GANTRY_STR_LIT("embedding"));
    host->json_set_number(host->json_set(item, "index", GANTRY_JSON_NUMBER), (double)index);
    make_vector(hash_bytes(text.ptr ? text.ptr : "", text.len), vec, dims);
    if (b64) {
        unsigned char bytes[MAX_DIMS * 4];
        for (size_t i = 0; i < dims; i++) {
            uint32_t u;
            memcpy(&u, &vec[i], 4);
            for (int k = 0; k < 4; k++)
                bytes[i * 4 + (size_t)k] = (unsigned char)(u >> (8 * k));
        }
        char *enc = base64(host, req, bytes, dims * 4);
        if (enc == NULL)
            return GANTRY_FAIL;
        host->json_set_string(host->json_set(item, "embedding", GANTRY_JSON_STRING),
                              (gantry_str_t){enc, strlen(enc)});
    } else {
        gantry_json_t *arr = host->json_set(item, "embedding", GANTRY_JSON_ARRAY);
        for (size_t i = 0; i < dims; i++)
            host->json_set_number(host->json_append(arr, GANTRY_JSON_NUMBER), vec[i]);
    }
    return GANTRY_CONTINUE;
}

gantry_action_t fake_embed(const fake_instance_t *inst, gantry_req_t *req,
                           const fake_deployment_t *dep)
{
    const gantry_host_t *host = inst->host;
    gantry_json_t *body = host->req_body(req);
    gantry_json_t *input = host->json_get(body, "input");
    double d = DEFAULT_DIMS;
    host->json_number(host->json_get(body, "dimensions"), &d);
    if (!(d >= 1 && d <= MAX_DIMS))
        return host->req_fail(req, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error",
                              "invalid_value", "'dimensions' must be between 1 and %d", MAX_DIMS);
    size_t dims = (size_t)d;
    gantry_str_t fmt = host->json_string(host->json_get(body, "encoding_format"));
    bool b64 = fmt.len == 6 && memcmp(fmt.ptr, "base64", 6) == 0;
    float *vec = host->alloc(req, dims * sizeof *vec);
    gantry_json_t *root = host->json_new(req, GANTRY_JSON_OBJECT);
    if (vec == NULL || root == NULL)
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                              "request memory exhausted");
    host->json_set_string(host->json_set(root, "object", GANTRY_JSON_STRING),
                          GANTRY_STR_LIT("list"));
    gantry_json_t *data = host->json_set(root, "data", GANTRY_JSON_ARRAY);
    uint32_t tokens = 0;
    size_t index = 0;
    /* A lone string or a lone token list is one input; an array of those is several. */
    gantry_json_t *first = host->json_first(input);
    bool many = host->json_type(input) == GANTRY_JSON_ARRAY &&
                host->json_type(first) != GANTRY_JSON_NUMBER;
    for (gantry_json_t *in = many ? first : input; in != NULL;
         in = many ? host->json_next(in) : NULL) {
        gantry_str_t text = input_text(host, req, in);
        tokens += host->json_type(in) == GANTRY_JSON_STRING ? fake_count_words(text)
                                                             : (uint32_t)host->json_count(in);
        if (add_item(host, req, data, text, index++, dims, b64, vec) != GANTRY_CONTINUE)
            return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                                  "request memory exhausted");
    }
    host->json_set_string(host->json_set(root, "model", GANTRY_JSON_STRING), dep->model);
    gantry_json_t *usage = host->json_set(root, "usage", GANTRY_JSON_OBJECT);
    host->json_set_number(host->json_set(usage, "prompt_tokens", GANTRY_JSON_NUMBER), tokens);
    host->json_set_number(host->json_set(usage, "total_tokens", GANTRY_JSON_NUMBER), tokens);
    int rc = host->resp_set_take(req, root);
    if (rc != GANTRY_OK)
        return host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL,
                              "could not install the response: %s", host->strerror(rc));
    return GANTRY_RESPOND;
}
