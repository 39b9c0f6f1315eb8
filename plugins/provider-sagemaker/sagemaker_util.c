/*
 * The sagemaker provider: small helpers the request, response and stream code share.
 */
#include <stdio.h>

#include "sagemaker.h"

bool sm_str_eq(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && s.ptr != NULL && memcmp(s.ptr, lit, n) == 0;
}

bool sm_key_is(const gantry_host_t *host, const gantry_json_t *member, const char *lit)
{
    return sm_str_eq(host->json_key(member), lit);
}

bool sm_json_int(const gantry_host_t *host, const gantry_json_t *node, int64_t lo, int64_t hi,
                 int64_t *out)
{
    double d;
    if (host->json_type(node) != GANTRY_JSON_NUMBER || host->json_number(node, &d) != GANTRY_OK)
        return false;
    /* The range check comes before the cast: a huge double does not fit an int64_t. */
    if (!(d >= (double)lo && d <= (double)hi))
        return false;
    int64_t v = (int64_t)d;
    if ((double)v != d)
        return false;
    *out = v;
    return true;
}

void sm_ensure_id(const sm_instance_t *inst, gantry_req_t *req, sm_req_t *rs)
{
    const gantry_host_t *host = inst->host;
    if (rs->id.ptr != NULL)
        return;
    /* The gateway's request id makes the answer traceable in the logs. */
    gantry_str_t rid = host->req_id(req);
    char buf[160];
    int n = snprintf(buf, sizeof(buf), "chatcmpl-%.*s", (int)(rid.len > 128 ? 128 : rid.len),
                     rid.ptr != NULL ? rid.ptr : "");
    char *copy = (n > 0 && (size_t)n < sizeof(buf)) ? host->strdup(req, buf, (size_t)n) : NULL;
    rs->id = copy != NULL ? (gantry_str_t){copy, (size_t)n} : GANTRY_STR_LIT("chatcmpl-sagemaker");
    rs->created = host->unix_ms() / 1000;
}

int64_t sm_estimate_tokens(size_t bytes)
{
    return bytes == 0 ? 0 : (int64_t)((bytes + 3) / 4);
}

int sm_set_usage(const gantry_host_t *host, gantry_json_t *obj, int64_t prompt, int64_t completion)
{
    gantry_json_t *u = host->json_set(obj, "usage", GANTRY_JSON_OBJECT);
    if (u == NULL)
        return GANTRY_ENOMEM;
    if (host->json_set_number(host->json_set(u, "prompt_tokens", GANTRY_JSON_NUMBER),
                              (double)prompt) != GANTRY_OK ||
        host->json_set_number(host->json_set(u, "completion_tokens", GANTRY_JSON_NUMBER),
                              (double)completion) != GANTRY_OK ||
        host->json_set_number(host->json_set(u, "total_tokens", GANTRY_JSON_NUMBER),
                              (double)(prompt + completion)) != GANTRY_OK)
        return GANTRY_ENOMEM;
    return GANTRY_OK;
}

gantry_action_t sm_emit_usage(const sm_instance_t *inst, gantry_req_t *req, sm_req_t *rs,
                              const sm_deployment_t *dep, int64_t prompt, int64_t completion)
{
    const gantry_host_t *host = inst->host;
    gantry_json_t *c = host->json_new(req, GANTRY_JSON_OBJECT);
    int rc = GANTRY_ENOMEM;
    sm_ensure_id(inst, req, rs);
    if (c != NULL &&
        host->json_set_string(host->json_set(c, "id", GANTRY_JSON_STRING), rs->id) == GANTRY_OK &&
        host->json_set_string(host->json_set(c, "object", GANTRY_JSON_STRING),
                              GANTRY_STR_LIT("chat.completion.chunk")) == GANTRY_OK &&
        host->json_set_number(host->json_set(c, "created", GANTRY_JSON_NUMBER),
                              (double)rs->created) == GANTRY_OK &&
        host->json_set_string(host->json_set(c, "model", GANTRY_JSON_STRING), dep->endpoint) ==
            GANTRY_OK &&
        host->json_set(c, "choices", GANTRY_JSON_ARRAY) != NULL)
        rc = sm_set_usage(host, c, prompt, completion);
    if (rc == GANTRY_OK)
        rc = host->stream_chunk_take(req, c);
    else
        host->json_release(req, c);
    if (rc != GANTRY_OK)
        return sm_internal(inst, req, "could not forward the usage chunk", rc);
    return GANTRY_CONTINUE;
}

/* Copy src's value into the new node dst (created by the caller with src's type). */
static bool copy_into(const gantry_host_t *host, gantry_json_t *dst, const gantry_json_t *src,
                      int depth)
{
    double d;
    bool b;
    if (dst == NULL || depth > 64)
        return false;
    switch (host->json_type(src)) {
    case GANTRY_JSON_NULL:
        return true;
    case GANTRY_JSON_BOOL:
        return host->json_bool(src, &b) == GANTRY_OK && host->json_set_bool(dst, b) == GANTRY_OK;
    case GANTRY_JSON_NUMBER:
        return host->json_number(src, &d) == GANTRY_OK &&
               host->json_set_number(dst, d) == GANTRY_OK;
    case GANTRY_JSON_STRING:
        return host->json_set_string(dst, host->json_string(src)) == GANTRY_OK;
    case GANTRY_JSON_ARRAY:
        for (const gantry_json_t *e = host->json_first(src); e != NULL; e = host->json_next(e)) {
            if (!copy_into(host, host->json_append(dst, host->json_type(e)), e, depth + 1))
                return false;
        }
        return true;
    case GANTRY_JSON_OBJECT:
        for (const gantry_json_t *m = host->json_first(src); m != NULL; m = host->json_next(m)) {
            gantry_str_t key = host->json_key(m);
            /* json_set takes a C string: a key with a NUL in it cannot be copied faithfully. */
            if (key.ptr == NULL || memchr(key.ptr, '\0', key.len) != NULL)
                return false;
            if (!copy_into(host, host->json_set(dst, key.ptr, host->json_type(m)), m, depth + 1))
                return false;
        }
        return true;
    default:
        return false;
    }
}

bool sm_json_copy(const gantry_host_t *host, gantry_json_t *obj, const char *key,
                  const gantry_json_t *src)
{
    gantry_json_type_t t = host->json_type(src);
    if (t == GANTRY_JSON_INVALID)
        return false;
    return copy_into(host, host->json_set(obj, key, t), src, 0);
}

gantry_action_t sm_internal(const sm_instance_t *inst, gantry_req_t *req, const char *what, int rc)
{
    return inst->host->req_fail(req, 500, GANTRY_ERR_INTERNAL, "api_error", NULL, "%s: %s", what,
                                inst->host->strerror(rc));
}
