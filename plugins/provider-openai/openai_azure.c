/*
 * The openai provider: the URLs of an Azure OpenAI deployment (prefixes azure and azure_text).
 *
 * Azure has two API surfaces:
 *   - the dated one: {api_base}/openai/deployments/{deployment}/chat/completions?api-version=V
 *     (and /embeddings, /completions), where the deployment name is in the path;
 *   - the v1 one (GA since August 2025): {api_base}/openai/v1/chat/completions with the deployment
 *     name as "model" in the body and no dated api-version.  api_version "v1", "latest" or
 *     "preview" selects it, as in LiteLLM; "preview" keeps ?api-version=preview, which the v1
 *     preview required.
 * Runs on the main thread inside deployment_create().
 */
#include <stdlib.h>
#include <string.h>

#include "openai.h"

/* The most recent GA version of the dated API, used when neither the config nor
 * AZURE_API_VERSION names one. */
#define AZURE_DEFAULT_API_VERSION "2024-10-21"
#define MAX_API_VERSION 64

static bool ends_with(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len >= n && memcmp(s.ptr + s.len - n, lit, n) == 0;
}

/* The version goes into a query string unescaped: allow only what dated and named versions use. */
static bool is_version(gantry_str_t v)
{
    if (v.len == 0 || v.len > MAX_API_VERSION)
        return false;
    for (size_t i = 0; i < v.len; i++) {
        char c = v.ptr[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '.' || c == '_'))
            return false;
    }
    return true;
}

/* A growing string in instance memory. */
typedef struct sbuf {
    const gantry_host_t *host;
    char *ptr;
    size_t len, cap;
    bool failed;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
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

static void sb_str(sbuf_t *b, gantry_str_t s)
{
    sb_put(b, s.ptr, s.len);
}

/* A deployment name as one path segment: everything but RFC 3986 unreserved characters escaped. */
static void sb_segment(sbuf_t *b, gantry_str_t s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            sb_put(b, (const char *)&s.ptr[i], 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 0xf]};
            sb_put(b, esc, 3);
        }
    }
}

/* prefix + path + query, as a NUL-terminated instance string in *out. */
static int make_url(const gantry_host_t *host, gantry_str_t prefix, const char *path,
                    gantry_str_t query, gantry_str_t *out)
{
    sbuf_t b = {.host = host};
    sb_str(&b, prefix);
    sb_put(&b, path, strlen(path));
    sb_str(&b, query);
    if (b.failed) {
        host->mem_free(b.ptr);
        return GANTRY_ENOMEM;
    }
    *out = (gantry_str_t){b.ptr, b.len};
    return GANTRY_OK;
}

/* api_version from the entry, else AZURE_API_VERSION (as LiteLLM reads it), else the default. */
static int read_version(const gantry_host_t *host, const gantry_conf_t *params, gantry_str_t *out,
                        const gantry_conf_t **where)
{
    const char *env;

    *where = host->conf_get(params, "api_version");
    if (*where != NULL) {
        if (host->conf_string(*where, out) != GANTRY_OK)
            return host->conf_error(*where, "api_version must be a string");
    } else if ((env = getenv("AZURE_API_VERSION")) != NULL && env[0] != '\0') {
        *out = (gantry_str_t){env, strlen(env)};
        *where = params;
    } else {
        *out = GANTRY_STR_LIT(AZURE_DEFAULT_API_VERSION);
    }
    if (!is_version(*out))
        return host->conf_error(*where != NULL ? *where : params,
                                "api_version \"%.*s\" is not an Azure API version (e.g. %s, or "
                                "v1 for the v1 API)",
                                (int)(out->len > MAX_API_VERSION ? MAX_API_VERSION : out->len),
                                out->ptr, AZURE_DEFAULT_API_VERSION);
    return GANTRY_OK;
}

int openai_azure_urls(const openai_instance_t *inst, const gantry_conf_t *params, gantry_str_t base,
                      openai_deployment_t *dep)
{
    const gantry_host_t *host = inst->host;
    const gantry_conf_t *where;
    gantry_str_t version;
    int rc = read_version(host, params, &version, &where);
    if (rc != GANTRY_OK)
        return rc;

    bool preview = openai_str_ieq(version, "preview");
    bool v1 = preview || openai_str_ieq(version, "v1") || openai_str_ieq(version, "latest");

    /* A base that already ends in the API's own path (copied from a portal URL) is cut back to
     * the resource, so the path is not doubled. */
    if (v1 && ends_with(base, "/openai/v1"))
        base.len -= strlen("/openai/v1");
    else if (ends_with(base, "/openai"))
        base.len -= strlen("/openai");
    if (base.len == 0 || ends_with(base, "/") || ends_with(base, ":"))
        return host->conf_error(host->conf_get(params, "api_base"),
                                "api_base must be the Azure resource URL, e.g. "
                                "https://<resource>.openai.azure.com");

    sbuf_t prefix = {.host = host}, query = {.host = host};
    sb_str(&prefix, base);
    if (v1) {
        sb_put(&prefix, "/openai/v1", 10);
        if (preview)
            sb_put(&query, "?api-version=preview", 20);
    } else {
        sb_put(&prefix, "/openai/deployments/", 20);
        sb_segment(&prefix, dep->model);
        sb_put(&query, "?api-version=", 13);
        sb_str(&query, version);
    }
    rc = (prefix.failed || query.failed) ? GANTRY_ENOMEM : GANTRY_OK;
    gantry_str_t p = {prefix.ptr, prefix.len}, q = {query.ptr != NULL ? query.ptr : "", query.len};
    if (rc == GANTRY_OK)
        rc = make_url(host, p, "/chat/completions", q, &dep->url);
    if (rc == GANTRY_OK)
        rc = make_url(host, p, "/embeddings", q, &dep->url_embeddings);
    if (rc == GANTRY_OK)
        rc = make_url(host, p, "/completions", q, &dep->url_completions);
    host->mem_free(prefix.ptr);
    host->mem_free(query.ptr);
    return rc;
}
