/*
 * The anthropic provider: checking one model_list entry and building its read-only deployment
 * state.  Runs on the main thread; everything allocated here is instance memory freed by
 * anth_deployment_destroy().
 */
#include <string.h>

#include "anthropic.h"

/* The keys of litellm_params this provider adds to the core's own (model, timeout, rpm, ...). */
const gantry_conf_field_t anth_deployment_fields[] = {
    {"api_base", GANTRY_CONF_STRING, 0,
     "API host, default https://api.anthropic.com (a base ending in /v1 or /v1/messages is "
     "accepted too)"},
    {"api_key", GANTRY_CONF_STRING, GANTRY_CONF_SECRET, "sent as x-api-key"},
    {"extra_headers", GANTRY_CONF_MAP, 0, "more headers for every upstream request (name: value)"},
    {"anthropic_version", GANTRY_CONF_STRING, 0, "the anthropic-version header (2023-06-01)"},
    {"anthropic_beta", GANTRY_CONF_ANY, 0,
     "anthropic-beta features: a string, or a list joined with commas"},
    {"default_max_tokens", GANTRY_CONF_INT, 0,
     "max_tokens when the client sets none (Anthropic requires one); default 4096"},
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

static const char default_base[] = "https://api.anthropic.com";
static const char default_version[] = "2023-06-01";
#define DEFAULT_MAX_TOKENS 4096
/* Far above any model's output limit; a larger value is a typo. */
#define MAX_MAX_TOKENS 10000000

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

static bool is_header_name(gantry_str_t s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
        if (!ok)
            return false;
    }
    return true;
}

/* A header value must not carry CR, LF or other controls: they would let config split headers. */
static bool is_header_value(gantry_str_t s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/* Copy the pieces, one after the other, plus a NUL into instance memory. */
static int concat3(const gantry_host_t *host, gantry_str_t a, gantry_str_t b, gantry_str_t c,
                   gantry_str_t *out)
{
    char *p = host->mem_alloc(a.len + b.len + c.len + 1);
    if (p == NULL)
        return GANTRY_ENOMEM;
    if (a.len > 0)
        memcpy(p, a.ptr, a.len);
    if (b.len > 0)
        memcpy(p + a.len, b.ptr, b.len);
    if (c.len > 0)
        memcpy(p + a.len + b.len, c.ptr, c.len);
    p[a.len + b.len + c.len] = '\0';
    *out = (gantry_str_t){p, a.len + b.len + c.len};
    return GANTRY_OK;
}

static int copy_str(const gantry_host_t *host, gantry_str_t s, gantry_str_t *out)
{
    return concat3(host, s, GANTRY_STR_NULL, GANTRY_STR_NULL, out);
}

static void free_str(const gantry_host_t *host, gantry_str_t *s)
{
    if (s->ptr != NULL)
        host->mem_free((void *)s->ptr);
    *s = GANTRY_STR_NULL;
}

/* Read an optional string key; a missing key leaves *out empty and *node NULL. */
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
 * The messages URL from api_base.  LiteLLM's convention is the bare host
 * (https://api.anthropic.com); bases that already end in /v1 or /v1/messages are common in
 * copied configs and mean the same endpoint.
 */
static int conf_url(const gantry_host_t *host, const gantry_conf_t *params, anth_deployment_t *dep)
{
    const gantry_conf_t *node;
    gantry_str_t base;
    int rc = read_string(host, params, "api_base", &node, &base);
    if (rc != GANTRY_OK)
        return rc;
    if (node == NULL)
        base = GANTRY_STR_LIT(default_base);
    while (base.len > 0 && base.ptr[base.len - 1] == '/')
        base.len--;

    size_t scheme = 0;
    if (base.len >= 8 && str_ieq((gantry_str_t){base.ptr, 8}, "https://"))
        scheme = 8;
    else if (base.len >= 7 && str_ieq((gantry_str_t){base.ptr, 7}, "http://"))
        scheme = 7;
    if (scheme == 0)
        return host->conf_error(node, "api_base must start with http:// or https://");
    if (base.len == scheme)
        return host->conf_error(node, "api_base has no host");
    for (size_t i = 0; i < base.len; i++) {
        unsigned char c = (unsigned char)base.ptr[i];
        /* The path is appended, so a query or fragment would end up in the wrong place. */
        if (c <= 0x20 || c == 0x7f || c == '?' || c == '#')
            return host->conf_error(
                node, "api_base must be a plain URL without spaces, query or fragment");
    }

    gantry_str_t path = GANTRY_STR_LIT("/v1/messages");
    if (has_suffix(base, "/v1/messages"))
        path = GANTRY_STR_NULL;
    else if (has_suffix(base, "/v1"))
        path = GANTRY_STR_LIT("/messages");
    return concat3(host, base, path, GANTRY_STR_NULL, &dep->url);
}

static int conf_key_and_version(const gantry_host_t *host, const gantry_conf_t *params,
                                anth_deployment_t *dep)
{
    const gantry_conf_t *node;
    gantry_str_t s;
    int rc = read_string(host, params, "api_key", &node, &s);
    if (rc != GANTRY_OK)
        return rc;
    /* An empty key (an unset variable resolved to "") means: send no x-api-key. */
    if (s.len > 0) {
        if (!is_header_value(s))
            return host->conf_error(node, "api_key contains control characters");
        if (copy_str(host, s, &dep->api_key) != GANTRY_OK)
            return GANTRY_ENOMEM;
    }

    rc = read_string(host, params, "anthropic_version", &node, &s);
    if (rc != GANTRY_OK)
        return rc;
    if (node == NULL)
        s = GANTRY_STR_LIT(default_version);
    if (s.len == 0 || !is_header_value(s))
        return host->conf_error(node, "anthropic_version must be a non-empty header value");
    if (copy_str(host, s, &dep->version) != GANTRY_OK)
        return GANTRY_ENOMEM;

    node = host->conf_get(params, "default_max_tokens");
    dep->default_max_tokens = DEFAULT_MAX_TOKENS;
    if (node != NULL) {
        int64_t v;
        if (host->conf_int(node, &v) != GANTRY_OK || v < 1 || v > MAX_MAX_TOKENS)
            return host->conf_error(node, "default_max_tokens must be an integer from 1 to %d",
                                    MAX_MAX_TOKENS);
        dep->default_max_tokens = v;
    }
    return GANTRY_OK;
}

/* One anthropic-beta item: a header-safe word without the separator. */
static int check_beta_item(const gantry_host_t *host, const gantry_conf_t *node, gantry_str_t s)
{
    if (s.len == 0 || !is_header_value(s) || memchr(s.ptr, ',', s.len) != NULL)
        return host->conf_error(node, "anthropic_beta items must be non-empty names without "
                                      "commas or control characters");
    return GANTRY_OK;
}

/* anthropic_beta: a string ("a,b" is taken as written) or a list of names joined with ",". */
static int conf_beta(const gantry_host_t *host, const gantry_conf_t *params, anth_deployment_t *dep)
{
    const gantry_conf_t *node = host->conf_get(params, "anthropic_beta");
    gantry_str_t s;
    if (node == NULL)
        return GANTRY_OK;
    if (host->conf_type(node) == GANTRY_CONF_STRING) {
        host->conf_string(node, &s);
        if (s.len == 0)
            return GANTRY_OK;
        if (!is_header_value(s))
            return host->conf_error(node, "anthropic_beta contains control characters");
        return copy_str(host, s, &dep->beta) == GANTRY_OK ? GANTRY_OK : GANTRY_ENOMEM;
    }
    if (host->conf_type(node) != GANTRY_CONF_SEQ)
        return host->conf_error(node, "anthropic_beta must be a string or a list of strings");

    size_t n = host->conf_count(node), total = 0;
    for (size_t i = 0; i < n; i++) {
        const gantry_conf_t *item = host->conf_at(node, i);
        if (host->conf_string(item, &s) != GANTRY_OK)
            return host->conf_error(item, "anthropic_beta items must be strings");
        int rc = check_beta_item(host, item, s);
        if (rc != GANTRY_OK)
            return rc;
        total += s.len + 1;
    }
    if (n == 0)
        return GANTRY_OK;
    char *p = host->mem_alloc(total);
    if (p == NULL)
        return GANTRY_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        host->conf_string(host->conf_at(node, i), &s);
        if (o > 0)
            p[o++] = ',';
        memcpy(p + o, s.ptr, s.len);
        o += s.len;
    }
    p[o] = '\0';
    dep->beta = (gantry_str_t){p, o};
    return GANTRY_OK;
}

/* Headers the HTTP client derives from the request; a configured copy would contradict it. */
static bool is_reserved_header(gantry_str_t name)
{
    return str_ieq(name, "content-length") || str_ieq(name, "transfer-encoding") ||
           str_ieq(name, "host") || str_ieq(name, "connection");
}

static int conf_extra_headers(const gantry_host_t *host, const gantry_conf_t *params,
                              anth_deployment_t *dep)
{
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

static bool extra_has(const anth_deployment_t *dep, const char *name)
{
    for (size_t i = 0; i < dep->n_extra; i++) {
        if (str_ieq(dep->extra[i].name, name))
            return true;
    }
    return false;
}

/*
 * The header list every request of the deployment carries, built once: the plugin's own headers
 * unless extra_headers names the same header (a proxy with its own auth scheme, a pinned
 * version), then the extra headers in configuration order.
 */
static int build_headers(const gantry_host_t *host, anth_deployment_t *dep)
{
    const anth_header_t own[] = {
        {GANTRY_STR_LIT("content-type"), GANTRY_STR_LIT("application/json")},
        {GANTRY_STR_LIT("x-api-key"), dep->api_key},
        {GANTRY_STR_LIT("anthropic-version"), dep->version},
        {GANTRY_STR_LIT("anthropic-beta"), dep->beta},
    };
    size_t n = 0, n_own = sizeof(own) / sizeof(own[0]);

    dep->headers = host->mem_calloc(dep->n_extra + n_own, sizeof(*dep->headers));
    if (dep->headers == NULL)
        return GANTRY_ENOMEM;
    for (size_t i = 0; i < n_own; i++) {
        if (own[i].value.ptr != NULL && !extra_has(dep, own[i].name.ptr))
            dep->headers[n++] = own[i];
    }
    for (size_t i = 0; i < dep->n_extra; i++)
        dep->headers[n++] = dep->extra[i];
    dep->n_headers = n;
    return GANTRY_OK;
}

int anth_deployment_create(void *state, const gantry_conf_t *params, gantry_str_t prefix,
                           gantry_str_t model_id, void **deployment)
{
    const anth_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    int rc;
    (void)prefix;

    if (model_id.len == 0) {
        const gantry_conf_t *model = host->conf_get(params, "model");
        return host->conf_error(model != NULL ? model : params,
                                "model must name the Anthropic model after the prefix, e.g. "
                                "anthropic/claude-sonnet-4-5");
    }
    anth_deployment_t *dep = host->mem_calloc(1, sizeof(*dep));
    if (dep == NULL)
        return host->conf_error(params, "out of memory");
    if ((rc = copy_str(host, model_id, &dep->model)) != GANTRY_OK)
        goto fail;
    if ((rc = conf_url(host, params, dep)) != GANTRY_OK)
        goto fail;
    if ((rc = conf_key_and_version(host, params, dep)) != GANTRY_OK)
        goto fail;
    if ((rc = conf_beta(host, params, dep)) != GANTRY_OK)
        goto fail;
    if ((rc = conf_extra_headers(host, params, dep)) != GANTRY_OK)
        goto fail;
    if ((rc = build_headers(host, dep)) != GANTRY_OK)
        goto fail;
    *deployment = dep;
    return GANTRY_OK;

fail:
    if (rc == GANTRY_ENOMEM)
        host->conf_error(params, "out of memory");
    anth_deployment_destroy(state, dep);
    return rc;
}

void anth_deployment_destroy(void *state, void *deployment)
{
    const anth_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    anth_deployment_t *dep = deployment;
    if (dep == NULL)
        return;
    free_str(host, &dep->url);
    free_str(host, &dep->model);
    free_str(host, &dep->api_key);
    free_str(host, &dep->version);
    free_str(host, &dep->beta);
    host->mem_free(dep->headers); /* the list only borrows its strings */
    if (dep->extra != NULL) {
        for (size_t i = 0; i < dep->n_extra; i++) {
            free_str(host, &dep->extra[i].name);
            free_str(host, &dep->extra[i].value);
        }
        host->mem_free(dep->extra);
    }
    host->mem_free(dep);
}
