/*
 * The gemini provider: checking one model_list entry and building its read-only deployment state.
 * Runs on the main thread; everything allocated here is instance memory freed by
 * gemini_deployment_destroy().
 */
#include <stdio.h>
#include <string.h>

#include "gemini.h"

const gantry_conf_field_t gemini_deployment_fields[] = {
    {"api_base", GANTRY_CONF_STRING, 0,
     "base URL, default https://generativelanguage.googleapis.com (a trailing /v1beta is kept)"},
    {"api_key", GANTRY_CONF_STRING, GANTRY_CONF_SECRET, "sent as the x-goog-api-key header"},
    {"extra_headers", GANTRY_CONF_MAP, 0, "more headers for every upstream request (name: value)"},
    {"safety_settings", GANTRY_CONF_SEQ, 0,
     "sent as safetySettings, e.g. [{category: HARM_CATEGORY_HARASSMENT, threshold: BLOCK_NONE}]"},
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

static const char default_base[] = "https://generativelanguage.googleapis.com";

/* Bytes of a JSON text built from configuration; safety settings are a few hundred bytes. */
#define SAFETY_MAX_BYTES 65536
#define SAFETY_MAX_DEPTH 8

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Header names compare case-insensitively (RFC 9110). */
static bool str_ieq(gantry_str_t s, const char *lit)
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

static bool has_suffix(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len >= n && memcmp(s.ptr + s.len - n, lit, n) == 0;
}

static bool is_token_char(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_header_name(gantry_str_t s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        if (!is_token_char((unsigned char)s.ptr[i]))
            return false;
    }
    return true;
}

/* CR, LF, NUL and other controls in a value would let configuration inject headers. */
static bool is_header_value(gantry_str_t s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/* Copy pieces, one after the other, plus a NUL into instance memory. */
static int concat(const gantry_host_t *host, gantry_str_t *out, const gantry_str_t *parts, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += parts[i].len;
    char *p = host->mem_alloc(len + 1);
    if (p == NULL)
        return GANTRY_ENOMEM;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (parts[i].len > 0)
            memcpy(p + at, parts[i].ptr, parts[i].len);
        at += parts[i].len;
    }
    p[len] = '\0';
    *out = (gantry_str_t){p, len};
    return GANTRY_OK;
}

static int copy_str(const gantry_host_t *host, gantry_str_t in, gantry_str_t *out)
{
    return concat(host, out, &in, 1);
}

static void free_str(const gantry_host_t *host, gantry_str_t *s)
{
    if (s->ptr != NULL)
        host->mem_free((void *)s->ptr);
    *s = GANTRY_STR_NULL;
}

static int read_string(const gantry_host_t *host, const gantry_conf_t *params, const char *key,
                       const gantry_conf_t **node, gantry_str_t *out)
{
    *out = GANTRY_STR_NULL;
    *node = host->conf_get(params, key);
    if (*node == NULL)
        return GANTRY_OK;
    if (host->conf_string(*node, out) != GANTRY_OK)
        return host->conf_error(*node, "%s must be a string", key);
    return GANTRY_OK;
}

/*
 * The model goes into the URL path, so only the characters of Google's model ids are accepted:
 * letters, digits, '.', '_' and '-'.  "models/x" means "x"; "tunedModels/x" names a tuned model,
 * whose path has no "models/" in front.
 */
static int conf_model(const gemini_instance_t *inst, const gantry_conf_t *params,
                      gantry_str_t model_id, gemini_deployment_t *dep, gantry_str_t *path)
{
    const gantry_host_t *host = inst->host;
    const gantry_conf_t *node = host->conf_get(params, "model");
    gantry_str_t id = model_id;
    bool tuned = false;

    if (gemini_has_prefix(id, "models/")) {
        id.ptr += 7;
        id.len -= 7;
    } else if (gemini_has_prefix(id, "tunedModels/")) {
        tuned = true;
    }
    size_t start = tuned ? 12 : 0;
    if (id.len <= start)
        return host->conf_error(node != NULL ? node : params,
                                "model must name the Gemini model after the provider prefix");
    for (size_t i = start; i < id.len; i++) {
        char ch = id.ptr[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        if (!ok)
            return host->conf_error(node != NULL ? node : params,
                                    "model \"%.*s\" has a character that cannot go into the URL",
                                    (int)model_id.len, model_id.ptr);
    }
    if (copy_str(host, id, &dep->model) != GANTRY_OK)
        return GANTRY_ENOMEM;
    *path = tuned ? id : GANTRY_STR_NULL;

    /* "gemini-3-pro-preview", "gemini-3.1-flash": a major version of 3 or more. */
    if (!tuned && gemini_has_prefix(id, "gemini-")) {
        int major = 0;
        size_t i = 7;
        while (i < id.len && id.ptr[i] >= '0' && id.ptr[i] <= '9' && major < 1000)
            major = major * 10 + (id.ptr[i++] - '0');
        dep->thinking_levels = i > 7 && major >= 3;
    }
    return GANTRY_OK;
}

/* api_base, checked, then the two URLs of the deployment. */
static int conf_urls(const gemini_instance_t *inst, const gantry_conf_t *params,
                     gemini_deployment_t *dep, gantry_str_t tuned_path)
{
    const gantry_host_t *host = inst->host;
    const gantry_conf_t *node;
    gantry_str_t base;
    int rc = read_string(host, params, "api_base", &node, &base);
    if (rc != GANTRY_OK)
        return rc;
    if (node == NULL || base.len == 0)
        base = GANTRY_STR_LIT(default_base);

    while (base.len > 0 && base.ptr[base.len - 1] == '/')
        base.len--;
    size_t scheme = gemini_has_prefix(base, "https://")  ? 8
                    : gemini_has_prefix(base, "http://") ? 7
                                                         : 0;
    if (scheme == 0)
        return host->conf_error(node, "api_base must start with http:// or https://");
    if (base.len == scheme)
        return host->conf_error(node, "api_base has no host");
    for (size_t i = 0; i < base.len; i++) {
        unsigned char ch = (unsigned char)base.ptr[i];
        /* The path is appended, so a query or fragment would end up in the wrong place. */
        if (ch <= 0x20 || ch == 0x7f || ch == '?' || ch == '#')
            return host->conf_error(
                node, "api_base must be a plain URL without spaces, query or fragment");
    }

    /* A base that already names the API version (.../v1beta, .../v1) is used as it is. */
    gantry_str_t version = GANTRY_STR_LIT("/v1beta");
    if (has_suffix(base, "/v1beta") || has_suffix(base, "/v1") || has_suffix(base, "/v1alpha"))
        version = GANTRY_STR_NULL;
    gantry_str_t models = tuned_path.ptr != NULL ? GANTRY_STR_LIT("/") : GANTRY_STR_LIT("/models/");
    gantry_str_t parts[5] = {base, version, models, dep->model, GANTRY_STR_LIT(":generateContent")};
    if (concat(host, &dep->url, parts, 5) != GANTRY_OK)
        return GANTRY_ENOMEM;
    parts[4] = GANTRY_STR_LIT(":streamGenerateContent?alt=sse");
    if (concat(host, &dep->stream_url, parts, 5) != GANTRY_OK)
        return GANTRY_ENOMEM;
    return GANTRY_OK;
}

static int conf_key(const gemini_instance_t *inst, const gantry_conf_t *params,
                    gemini_deployment_t *dep)
{
    const gantry_host_t *host = inst->host;
    const gantry_conf_t *node;
    gantry_str_t key;
    int rc = read_string(host, params, "api_key", &node, &key);
    if (rc != GANTRY_OK)
        return rc;
    /* An empty key (an unset variable resolved to "") sends no header: a proxy may add it. */
    if (key.len == 0)
        return GANTRY_OK;
    if (!is_header_value(key))
        return host->conf_error(node, "api_key contains control characters");
    return copy_str(host, key, &dep->api_key);
}

static bool is_reserved_header(gantry_str_t name)
{
    return str_ieq(name, "content-length") || str_ieq(name, "transfer-encoding") ||
           str_ieq(name, "host") || str_ieq(name, "connection");
}

static int conf_extra_headers(const gemini_instance_t *inst, const gantry_conf_t *params,
                              gemini_deployment_t *dep)
{
    const gantry_host_t *host = inst->host;
    const gantry_conf_t *map = host->conf_get(params, "extra_headers");
    if (map == NULL)
        return GANTRY_OK;
    if (host->conf_type(map) != GANTRY_CONF_MAP)
        return host->conf_error(map, "extra_headers must be a map of header name to value");
    size_t n = host->conf_count(map);
    if (n == 0)
        return GANTRY_OK;
    /* Zeroed entries are safe to free, so the count is set before any of them is filled. */
    dep->extra = host->mem_calloc(n, sizeof(*dep->extra));
    if (dep->extra == NULL)
        return GANTRY_ENOMEM;
    dep->n_extra = n;
    for (size_t i = 0; i < n; i++) {
        gantry_str_t name = host->conf_key_at(map, i);
        const gantry_conf_t *node = host->conf_at(map, i);
        gantry_str_t value;
        if (!is_header_name(name))
            return host->conf_error(node, "extra_headers: \"%.*s\" is not a valid header name",
                                    (int)name.len, name.ptr);
        if (is_reserved_header(name))
            return host->conf_error(node, "extra_headers: %.*s is set by the gateway",
                                    (int)name.len, name.ptr);
        if (host->conf_string(node, &value) != GANTRY_OK)
            return host->conf_error(node, "extra_headers: the value of %.*s must be a string",
                                    (int)name.len, name.ptr);
        if (!is_header_value(value))
            return host->conf_error(node, "extra_headers: %.*s has control characters",
                                    (int)name.len, name.ptr);
        if (copy_str(host, name, &dep->extra[i].name) != GANTRY_OK ||
            copy_str(host, value, &dep->extra[i].value) != GANTRY_OK)
            return GANTRY_ENOMEM;
    }
    return GANTRY_OK;
}

/* Content-Type and x-goog-api-key unless extra_headers names them, then the extra headers. */
static int build_headers(const gantry_host_t *host, gemini_deployment_t *dep)
{
    bool own_type = true, own_key = dep->api_key.ptr != NULL;
    for (size_t i = 0; i < dep->n_extra; i++) {
        if (str_ieq(dep->extra[i].name, "content-type"))
            own_type = false;
        if (str_ieq(dep->extra[i].name, "x-goog-api-key"))
            own_key = false;
    }
    dep->headers = host->mem_calloc(dep->n_extra + 2, sizeof(*dep->headers));
    if (dep->headers == NULL)
        return GANTRY_ENOMEM;
    size_t n = 0;
    if (own_type)
        dep->headers[n++] =
            (gemini_header_t){GANTRY_STR_LIT("Content-Type"), GANTRY_STR_LIT("application/json")};
    if (own_key)
        dep->headers[n++] = (gemini_header_t){GANTRY_STR_LIT("x-goog-api-key"), dep->api_key};
    for (size_t i = 0; i < dep->n_extra; i++)
        dep->headers[n++] = dep->extra[i];
    dep->n_headers = n;
    return GANTRY_OK;
}

/* A bounded text buffer in instance memory for the safety settings' JSON. */
typedef struct tbuf {
    const gantry_host_t *host;
    char *ptr;
    size_t len, cap;
    bool failed;
} tbuf_t;

static void tb_put(tbuf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (n > SAFETY_MAX_BYTES - b->len) {
        b->failed = true;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = b->host->mem_realloc(b->ptr, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->ptr = p;
        b->cap = cap;
    }
    memcpy(b->ptr + b->len, s, n);
    b->len += n;
    b->ptr[b->len] = '\0';
}

static void tb_string(tbuf_t *b, gantry_str_t s)
{
    static const char hex[] = "0123456789abcdef";
    tb_put(b, "\"", 1);
    for (size_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (ch == '"' || ch == '\\') {
            char esc[2] = {'\\', (char)ch};
            tb_put(b, esc, 2);
        } else if (ch < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
            tb_put(b, esc, 6);
        } else {
            tb_put(b, (const char *)&ch, 1);
        }
    }
    tb_put(b, "\"", 1);
}

/* Write a configuration subtree as JSON; YAML numbers and booleans keep their types. */
static int conf_to_json(const gantry_host_t *host, const gantry_conf_t *node, tbuf_t *b, int depth)
{
    if (depth > SAFETY_MAX_DEPTH)
        return host->conf_error(node, "safety_settings is nested too deeply");
    switch (host->conf_type(node)) {
    case GANTRY_CONF_MAP:
    case GANTRY_CONF_SEQ: {
        bool map = host->conf_type(node) == GANTRY_CONF_MAP;
        size_t n = host->conf_count(node);
        tb_put(b, map ? "{" : "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                tb_put(b, ",", 1);
            if (map) {
                tb_string(b, host->conf_key_at(node, i));
                tb_put(b, ":", 1);
            }
            int rc = conf_to_json(host, host->conf_at(node, i), b, depth + 1);
            if (rc != GANTRY_OK)
                return rc;
        }
        tb_put(b, map ? "}" : "]", 1);
        return GANTRY_OK;
    }
    case GANTRY_CONF_BOOL: {
        bool v = false;
        host->conf_bool(node, &v);
        tb_put(b, v ? "true" : "false", v ? 4 : 5);
        return GANTRY_OK;
    }
    case GANTRY_CONF_INT:
    case GANTRY_CONF_NUMBER: {
        double d = 0;
        char num[40];
        if (host->conf_number(node, &d) != GANTRY_OK || !(d > -1e300 && d < 1e300))
            return host->conf_error(node, "safety_settings: not a finite number");
        int n = snprintf(num, sizeof(num), "%.17g", d);
        if (n <= 0 || (size_t)n >= sizeof(num))
            return host->conf_error(node, "safety_settings: not a finite number");
        tb_put(b, num, (size_t)n);
        return GANTRY_OK;
    }
    case GANTRY_CONF_STRING: {
        gantry_str_t s;
        if (host->conf_string(node, &s) != GANTRY_OK)
            return host->conf_error(node, "safety_settings: unreadable value");
        tb_string(b, s);
        return GANTRY_OK;
    }
    default:
        tb_put(b, "null", 4);
        return GANTRY_OK;
    }
}

/* safety_settings: a list of {category, threshold} maps, kept as JSON text for prepare(). */
static int conf_safety(const gemini_instance_t *inst, const gantry_conf_t *params,
                       gemini_deployment_t *dep)
{
    const gantry_host_t *host = inst->host;
    const gantry_conf_t *seq = host->conf_get(params, "safety_settings");
    if (seq == NULL)
        return GANTRY_OK;
    if (host->conf_type(seq) != GANTRY_CONF_SEQ)
        return host->conf_error(seq, "safety_settings must be a list of {category, threshold}");
    for (size_t i = 0; i < host->conf_count(seq); i++) {
        const gantry_conf_t *item = host->conf_at(seq, i);
        if (host->conf_type(item) != GANTRY_CONF_MAP || host->conf_get(item, "category") == NULL)
            return host->conf_error(item, "safety_settings entries are maps with a category "
                                          "and a threshold");
    }
    tbuf_t b = {.host = host};
    int rc = conf_to_json(host, seq, &b, 0);
    if (rc == GANTRY_OK && b.failed)
        rc = host->conf_error(seq, "safety_settings is too large");
    if (rc == GANTRY_OK) {
        dep->safety = (gantry_str_t){b.ptr, b.len};
        return GANTRY_OK;
    }
    host->mem_free(b.ptr);
    return rc;
}

int gemini_deployment_create(void *state, const gantry_conf_t *params, gantry_str_t prefix,
                             gantry_str_t model_id, void **deployment)
{
    const gemini_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    gantry_str_t tuned_path = GANTRY_STR_NULL;
    int rc;
    (void)prefix;

    gemini_deployment_t *dep = host->mem_calloc(1, sizeof(*dep));
    if (dep == NULL)
        return host->conf_error(params, "out of memory");
    if ((rc = conf_model(inst, params, model_id, dep, &tuned_path)) != GANTRY_OK)
        goto fail;
    if ((rc = conf_urls(inst, params, dep, tuned_path)) != GANTRY_OK)
        goto fail;
    if ((rc = conf_key(inst, params, dep)) != GANTRY_OK)
        goto fail;
    if ((rc = conf_extra_headers(inst, params, dep)) != GANTRY_OK)
        goto fail;
    if ((rc = conf_safety(inst, params, dep)) != GANTRY_OK)
        goto fail;
    if ((rc = build_headers(host, dep)) != GANTRY_OK)
        goto fail;
    *deployment = dep;
    return GANTRY_OK;

fail:
    if (rc == GANTRY_ENOMEM)
        host->conf_error(params, "out of memory");
    gemini_deployment_destroy(state, dep);
    return rc;
}

void gemini_deployment_destroy(void *state, void *deployment)
{
    const gemini_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    gemini_deployment_t *dep = deployment;
    if (dep == NULL)
        return;
    free_str(host, &dep->model);
    free_str(host, &dep->url);
    free_str(host, &dep->stream_url);
    free_str(host, &dep->api_key);
    free_str(host, &dep->safety);
    host->mem_free(dep->headers);
    if (dep->extra != NULL) {
        for (size_t i = 0; i < dep->n_extra; i++) {
            free_str(host, &dep->extra[i].name);
            free_str(host, &dep->extra[i].value);
        }
        host->mem_free(dep->extra);
    }
    host->mem_free(dep);
}
