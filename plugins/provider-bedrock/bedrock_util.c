/*
 * The bedrock provider: small helpers every file uses - string views, base64, data URLs, building
 * JSON through the host table, and the two ways a body builder refuses a request.
 */
#include <stdarg.h>
#include <stdio.h>

#include "bedrock.h"

bool br_str_eq(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && (n == 0 || memcmp(s.ptr, lit, n) == 0);
}

static char lower(char ch)
{
    return (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
}

bool br_str_ieq(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (lower(s.ptr[i]) != lower(lit[i]))
            return false;
    }
    return true;
}

bool br_has_prefix(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len >= n && memcmp(s.ptr, lit, n) == 0;
}

bool br_contains_ci(gantry_str_t hay, const char *needle)
{
    size_t n = strlen(needle);
    if (hay.ptr == NULL)
        return false;
    for (size_t i = 0; i + n <= hay.len; i++) {
        size_t k = 0;
        while (k < n && lower(hay.ptr[i + k]) == needle[k])
            k++;
        if (k == n)
            return true;
    }
    return false;
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *br_b64_encode(gantry_req_t *req, const gantry_host_t *host, const void *data, size_t len,
                    size_t *outlen)
{
    const unsigned char *p = data;
    if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
        return NULL;
    size_t n = (len + 2) / 3 * 4;
    char *out = host->alloc(req, n + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64chars[v >> 18];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = b64chars[(v >> 6) & 63];
        out[o++] = b64chars[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = b64chars[v >> 18];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64chars[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

static int b64val(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

int br_b64_decode(gantry_req_t *req, const gantry_host_t *host, gantry_str_t in, gantry_str_t *out)
{
    size_t len = in.len;
    while (len > 0 && in.ptr[len - 1] == '=')
        len--;
    if (in.len - len > 2 || len % 4 == 1)
        return -1;
    char *buf = host->alloc(req, len / 4 * 3 + 3);
    if (buf == NULL)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)in.ptr[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    buf[o] = '\0';
    *out = (gantry_str_t){buf, o};
    return 0;
}

bool br_data_url(gantry_str_t url, gantry_str_t *mime, gantry_str_t *data)
{
    if (!br_has_prefix(url, "data:"))
        return false;
    const char *comma = memchr(url.ptr, ',', url.len);
    if (comma == NULL)
        return false;
    gantry_str_t meta = {url.ptr + 5, (size_t)(comma - url.ptr - 5)};
    /* Only base64 payloads: Bedrock takes bytes as base64, and percent-encoded image data is not
     * something clients send. */
    if (meta.len < 7 || memcmp(meta.ptr + meta.len - 7, ";base64", 7) != 0)
        return false;
    meta.len -= 7;
    /* Parameters such as ";charset=utf-8" may sit between the type and ";base64". */
    const char *semi = memchr(meta.ptr, ';', meta.len);
    if (semi != NULL)
        meta.len = (size_t)(semi - meta.ptr);
    *mime = meta;
    *data = (gantry_str_t){comma + 1, (size_t)(url.ptr + url.len - comma - 1)};
    return true;
}

/* ---- JSON building ---- */

static gantry_json_t *check(br_ctx_t *c, gantry_json_t *n)
{
    if (n == NULL)
        c->oom = true;
    return n;
}

gantry_json_t *br_obj(br_ctx_t *c, gantry_json_t *parent, const char *key)
{
    if (parent == NULL)
        return check(c, NULL);
    if (key == NULL)
        return check(c, c->host->json_append(parent, GANTRY_JSON_OBJECT));
    return check(c, c->host->json_set(parent, key, GANTRY_JSON_OBJECT));
}

gantry_json_t *br_arr(br_ctx_t *c, gantry_json_t *parent, const char *key)
{
    if (parent == NULL)
        return check(c, NULL);
    if (key == NULL)
        return check(c, c->host->json_append(parent, GANTRY_JSON_ARRAY));
    return check(c, c->host->json_set(parent, key, GANTRY_JSON_ARRAY));
}

gantry_json_t *br_push_obj(br_ctx_t *c, gantry_json_t *arr)
{
    return br_obj(c, arr, NULL);
}

void br_set_str(br_ctx_t *c, gantry_json_t *obj, const char *key, gantry_str_t v)
{
    gantry_json_t *n = obj != NULL ? c->host->json_set(obj, key, GANTRY_JSON_STRING) : NULL;
    if (n == NULL || c->host->json_set_string(n, v.ptr != NULL ? v : GANTRY_STR_LIT("")) != 0)
        c->oom = true;
}

void br_set_cstr(br_ctx_t *c, gantry_json_t *obj, const char *key, const char *v)
{
    br_set_str(c, obj, key, (gantry_str_t){v, strlen(v)});
}

void br_set_num(br_ctx_t *c, gantry_json_t *obj, const char *key, double v)
{
    gantry_json_t *n = obj != NULL ? c->host->json_set(obj, key, GANTRY_JSON_NUMBER) : NULL;
    if (n == NULL || c->host->json_set_number(n, v) != 0)
        c->oom = true;
}

void br_set_bool(br_ctx_t *c, gantry_json_t *obj, const char *key, bool v)
{
    gantry_json_t *n = obj != NULL ? c->host->json_set(obj, key, GANTRY_JSON_BOOL) : NULL;
    if (n == NULL || c->host->json_set_bool(n, v) != 0)
        c->oom = true;
}

void br_set_null(br_ctx_t *c, gantry_json_t *obj, const char *key)
{
    if (obj == NULL || c->host->json_set(obj, key, GANTRY_JSON_NULL) == NULL)
        c->oom = true;
}

void br_push_str(br_ctx_t *c, gantry_json_t *arr, gantry_str_t v)
{
    gantry_json_t *n = arr != NULL ? c->host->json_append(arr, GANTRY_JSON_STRING) : NULL;
    if (n == NULL || c->host->json_set_string(n, v.ptr != NULL ? v : GANTRY_STR_LIT("")) != 0)
        c->oom = true;
}

void br_copy(br_ctx_t *c, gantry_json_t *parent, const char *key, const gantry_json_t *node)
{
    gantry_json_t *dup = c->host->json_dup(c->req, node);
    if (parent == NULL || dup == NULL || c->host->json_attach(c->req, parent, key, dup) != 0)
        c->oom = true;
}

gantry_str_t br_get_str(const gantry_host_t *h, const gantry_json_t *obj, const char *key)
{
    return h->json_string(h->json_get(obj, key));
}

bool br_get_num(const gantry_host_t *h, const gantry_json_t *obj, const char *key, double *out)
{
    return h->json_number(h->json_get(obj, key), out) == GANTRY_OK;
}

/* Present and not null: clients send "seed": null for "not set". */
bool br_present(const gantry_host_t *h, const gantry_json_t *obj, const char *key)
{
    gantry_json_type_t t = h->json_type(h->json_get(obj, key));
    return t != GANTRY_JSON_INVALID && t != GANTRY_JSON_NULL;
}

/* ---- refusing a request ---- */

gantry_action_t br_bad_request(br_ctx_t *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return c->host->req_fail(c->req, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error", NULL,
                             "%s", msg);
}

int br_unsupported(br_ctx_t *c, const char *param, const char *why)
{
    if (c->drop)
        return 0;
    if (GANTRY_HOST_HAS(c->host, req_fail_param)) {
        c->host->req_fail_param(c->req, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error",
                                "unsupported_parameter", param,
                                "bedrock does not support the parameter '%s' for model %.*s%s%s "
                                "(set drop_params: true to drop it)",
                                param, (int)c->model_id.len, c->model_id.ptr,
                                why != NULL ? ": " : "", why != NULL ? why : "");
        return -1;
    }
    br_bad_request(c,
                   "bedrock does not support the parameter '%s' for model %.*s%s%s (set "
                   "drop_params: true to drop it)",
                   param, (int)c->model_id.len, c->model_id.ptr, why != NULL ? ": " : "",
                   why != NULL ? why : "");
    return -1;
}

int br_fail_oom(br_ctx_t *c)
{
    c->host->req_fail(c->req, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL,
                      "out of memory building the Bedrock request");
    return -1;
}
