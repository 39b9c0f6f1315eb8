/*
 * The openai provider: checking one model_list entry and building its read-only deployment state.
 * Runs on the main thread; everything allocated here is instance memory freed by
 * openai_deployment_destroy().
 */
#include <stdlib.h>
#include <string.h>

#include "openai.h"

/*
 * The keys of litellm_params this provider adds to the core's own (model, timeout, rpm, ...).
 * Types are checked by the core before deployment_create() runs.
 */
const gantry_conf_field_t openai_deployment_fields[] = {
    {"api_base", GANTRY_CONF_STRING, 0,
     "base URL of the API, e.g. https://api.openai.com/v1 (required for hosted_vllm, "
     "openai_compatible and openai_like; for azure the resource URL "
     "https://<resource>.openai.azure.com, else AZURE_API_BASE)"},
    {"api_key", GANTRY_CONF_STRING, GANTRY_CONF_SECRET,
     "sent as Authorization: Bearer <api_key> (azure: as the api-key header)"},
    {"organization", GANTRY_CONF_STRING, 0, "sent as the OpenAI-Organization header"},
    {"extra_headers", GANTRY_CONF_MAP, 0, "more headers for every upstream request (name: value)"},
    {"api_version", GANTRY_CONF_STRING, 0,
     "azure: API version, e.g. 2024-10-21 (default; or AZURE_API_VERSION), or v1/latest/preview "
     "for the v1 API"},
    {"azure_ad_token", GANTRY_CONF_STRING, GANTRY_CONF_SECRET,
     "azure: Microsoft Entra ID token, sent as Authorization: Bearer (instead of api-key)"},
    {"completion_api", GANTRY_CONF_BOOL, 0,
     "send requests to the legacy /completions API (default: true for text-completion-openai "
     "and azure_text, else false)"},
    {"forward_cache_control", GANTRY_CONF_BOOL, 0,
     "forward cache_control markers on messages, content parts and tools (default false: they "
     "are removed, as OpenAI and Azure refuse them)"},
    /* LiteLLM's Entra ID client-credential keys: listed so that they get a clear refusal. */
    {"tenant_id", GANTRY_CONF_STRING, 0, "not supported: use azure_ad_token or api_key"},
    {"client_id", GANTRY_CONF_STRING, 0, "not supported: use azure_ad_token or api_key"},
    {"client_secret", GANTRY_CONF_STRING, GANTRY_CONF_SECRET,
     "not supported: use azure_ad_token or api_key"},
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

/* Default api_base per model prefix; a prefix not listed here must set api_base itself. */
static const struct {
    const char *prefix;
    const char *api_base;
} default_bases[] = {
    {"openai", "https://api.openai.com/v1"},
    {"text-completion-openai", "https://api.openai.com/v1"},
    {"mistral", "https://api.mistral.ai/v1"},
    {"groq", "https://api.groq.com/openai/v1"},
    {"deepseek", "https://api.deepseek.com/v1"},
    {"xai", "https://api.x.ai/v1"},
    {"ollama", "http://localhost:11434/v1"},
};

/* Prefixes that reach OpenAI's or Azure's own API, which refuses parameters it does not know. */
static const char *const strict_prefixes[] = {"openai", "text-completion-openai", "azure",
                                              "azure_text"};

static const char chat_path[] = "/chat/completions";
static const char embeddings_path[] = "/embeddings";
static const char completions_path[] = "/completions";

static bool prefix_ieq(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len >= n && openai_str_ieq((gantry_str_t){s.ptr, n}, lit);
}

/* RFC 9110 token characters: what a header name may contain. */
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

/*
 * A header value may not hold CR, LF, NUL or other control characters (tab excepted): one would let
 * a configured value inject headers or split the request.
 */
static bool is_header_value(gantry_str_t s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/* Copy `len` bytes plus a NUL into instance memory. */
static int copy_str(const gantry_host_t *host, const char *ptr, size_t len, gantry_str_t *out)
{
    char *p = host->mem_alloc(len + 1);
    if (p == NULL)
        return GANTRY_ENOMEM;
    if (len > 0)
        memcpy(p, ptr, len);
    p[len] = '\0';
    *out = (gantry_str_t){p, len};
    return GANTRY_OK;
}

/* Copy two pieces, one after the other, plus a NUL into instance memory. */
static int concat_str(const gantry_host_t *host, gantry_str_t a, gantry_str_t b, gantry_str_t *out)
{
    char *p = host->mem_alloc(a.len + b.len + 1);
    if (p == NULL)
        return GANTRY_ENOMEM;
    memcpy(p, a.ptr, a.len);
    memcpy(p + a.len, b.ptr, b.len);
    p[a.len + b.len] = '\0';
    *out = (gantry_str_t){p, a.len + b.len};
    return GANTRY_OK;
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

static const char *default_base(gantry_str_t prefix)
{
    for (size_t i = 0; i < sizeof(default_bases) / sizeof(default_bases[0]); i++) {
        if (openai_str_eq(prefix, default_bases[i].prefix))
            return default_bases[i].api_base;
    }
    return NULL;
}

/* An environment variable LiteLLM reads for Azure deployments; NULL when unset or empty. */
static const char *azure_env(const openai_deployment_t *dep, const char *name)
{
    const char *v = dep->azure ? getenv(name) : NULL;
    return (v != NULL && v[0] != '\0') ? v : NULL;
}

/* Check api_base (or pick the prefix's default) and build the deployment's URLs from it. */
static int conf_url(const openai_instance_t *inst, const gantry_conf_t *params, gantry_str_t prefix,
                    openai_deployment_t *dep)
{
    const gantry_host_t *host = inst->host;
    const gantry_conf_t *node;
    gantry_str_t base;
    const char *env;
    int rc = read_string(host, params, "api_base", &node, &base);
    if (rc != GANTRY_OK)
        return rc;
    if (node == NULL && (env = azure_env(dep, "AZURE_API_BASE")) != NULL) {
        base = (gantry_str_t){env, strlen(env)};
        node = params;
    } else if (node == NULL) {
        const char *def = default_base(prefix);
        if (def == NULL)
            return host->conf_error(params, "api_base is required for provider \"%.*s\"%s",
                                    (int)prefix.len, prefix.ptr,
                                    dep->azure ? " (or set AZURE_API_BASE)" : "");
        base = (gantry_str_t){def, strlen(def)};
    }

    /* A trailing slash would double the one chat_path starts with. */
    while (base.len > 0 && base.ptr[base.len - 1] == '/')
        base.len--;

    size_t scheme = prefix_ieq(base, "https://") ? 8 : prefix_ieq(base, "http://") ? 7 : 0;
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
    if (dep->azure)
        return openai_azure_urls(inst, params, base, dep);
    if (concat_str(host, base, GANTRY_STR_LIT(chat_path), &dep->url) != GANTRY_OK ||
        concat_str(host, base, GANTRY_STR_LIT(embeddings_path), &dep->url_embeddings) !=
            GANTRY_OK ||
        concat_str(host, base, GANTRY_STR_LIT(completions_path), &dep->url_completions) !=
            GANTRY_OK)
        return GANTRY_ENOMEM;
    return GANTRY_OK;
}

/* A secret from the entry, else (azure) from the environment; empty when neither has one. */
static int read_secret(const gantry_host_t *host, const openai_deployment_t *dep,
                       const gantry_conf_t *params, const char *key, const char *const *envs,
                       const gantry_conf_t **node, gantry_str_t *out)
{
    int rc = read_string(host, params, key, node, out);
    if (rc != GANTRY_OK || *node != NULL)
        return rc;
    for (const char *const *e = envs; *e != NULL; e++) {
        const char *v = azure_env(dep, *e);
        if (v != NULL) {
            *out = (gantry_str_t){v, strlen(v)};
            *node = params;
            break;
        }
    }
    return GANTRY_OK;
}

static int conf_credentials(const openai_instance_t *inst, const gantry_conf_t *params,
                            openai_deployment_t *dep)
{
    static const char *const key_envs[] = {"AZURE_API_KEY", "AZURE_OPENAI_API_KEY", NULL};
    static const char *const token_envs[] = {"AZURE_AD_TOKEN", NULL};
    static const char *const no_envs[] = {NULL};
    const gantry_host_t *host = inst->host;
    const gantry_conf_t *node;
    gantry_str_t key, token, org;

    int rc = read_secret(host, dep, params, "api_key", key_envs, &node, &key);
    if (rc != GANTRY_OK)
        return rc;
    /* An empty key (say, an unset variable resolved to "") means "send no Authorization". */
    if (key.len > 0) {
        if (!is_header_value(key))
            return host->conf_error(node, "api_key contains control characters");
        if (copy_str(host, key.ptr, key.len, &dep->api_key) != GANTRY_OK)
            return GANTRY_ENOMEM;
    }

    /* AZURE_AD_TOKEN stands in only when there is no key at all: a configured key must not be
     * overridden by a variable of the environment. */
    rc = read_secret(host, dep, params, "azure_ad_token", key.len > 0 ? no_envs : token_envs, &node,
                     &token);
    if (rc != GANTRY_OK)
        return rc;
    if (node != NULL && !dep->azure)
        return host->conf_error(node, "azure_ad_token is only for azure/ deployments");
    if (token.len > 0) {
        if (!is_header_value(token))
            return host->conf_error(node, "azure_ad_token contains control characters");
        if (copy_str(host, token.ptr, token.len, &dep->ad_token) != GANTRY_OK)
            return GANTRY_ENOMEM;
    }

    /*
     * OpenAI takes the key as a bearer token.  Azure takes it in api-key, and an Entra ID token
     * as a bearer token; given both, the token is used (as the openai SDK's AzureOpenAI does).
     */
    gantry_str_t bearer = dep->azure ? dep->ad_token : dep->api_key;
    if (bearer.len > 0 &&
        concat_str(host, GANTRY_STR_LIT("Bearer "), bearer, &dep->authorization) != GANTRY_OK)
        return GANTRY_ENOMEM;

    rc = read_string(host, params, "organization", &node, &org);
    if (rc != GANTRY_OK)
        return rc;
    if (org.len > 0) {
        if (!is_header_value(org))
            return host->conf_error(node, "organization contains control characters");
        if (copy_str(host, org.ptr, org.len, &dep->organization) != GANTRY_OK)
            return GANTRY_ENOMEM;
    }
    return GANTRY_OK;
}

static bool is_prefix_in(gantry_str_t prefix, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (openai_str_eq(prefix, list[i]))
            return true;
    }
    return false;
}

/* What kind of upstream the prefix names, and the switches that default from it. */
static int conf_flavour(const openai_instance_t *inst, const gantry_conf_t *params,
                        gantry_str_t prefix, openai_deployment_t *dep)
{
    static const char *const unsupported[] = {"tenant_id", "client_id", "client_secret"};
    const gantry_host_t *host = inst->host;
    const gantry_conf_t *node;

    dep->azure = openai_str_eq(prefix, "azure") || openai_str_eq(prefix, "azure_text");
    dep->strict =
        is_prefix_in(prefix, strict_prefixes, sizeof(strict_prefixes) / sizeof(strict_prefixes[0]));
    dep->completion_api =
        openai_str_eq(prefix, "text-completion-openai") || openai_str_eq(prefix, "azure_text");
    dep->forward_cache_control = false;

    if ((node = host->conf_get(params, "completion_api")) != NULL &&
        host->conf_bool(node, &dep->completion_api) != GANTRY_OK)
        return host->conf_error(node, "completion_api must be true or false");
    if ((node = host->conf_get(params, "forward_cache_control")) != NULL &&
        host->conf_bool(node, &dep->forward_cache_control) != GANTRY_OK)
        return host->conf_error(node, "forward_cache_control must be true or false");
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        if ((node = host->conf_get(params, unsupported[i])) != NULL)
            return host->conf_error(node,
                                    "%s: Entra ID client credentials are not supported; set "
                                    "azure_ad_token (a token) or api_key instead",
                                    unsupported[i]);
    }
    return GANTRY_OK;
}

/* Headers the HTTP client derives from the request; a configured copy would contradict it. */
static bool is_reserved_header(gantry_str_t name)
{
    return openai_str_ieq(name, "content-length") || openai_str_ieq(name, "transfer-encoding") ||
           openai_str_ieq(name, "host") || openai_str_ieq(name, "connection");
}

static int conf_extra_headers(const openai_instance_t *inst, const gantry_conf_t *params,
                              openai_deployment_t *dep)
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
        if (copy_str(host, name.ptr, name.len, &dep->extra[i].name) != GANTRY_OK ||
            copy_str(host, value.ptr, value.len, &dep->extra[i].value) != GANTRY_OK)
            return GANTRY_ENOMEM;

        /* A configured header replaces the one the plugin would send (custom auth schemes). */
        dep->extra_has_authorization |= openai_str_ieq(name, "authorization");
        dep->extra_has_content_type |= openai_str_ieq(name, "content-type");
        dep->extra_has_organization |= openai_str_ieq(name, "openai-organization");
        dep->extra_has_api_key |= openai_str_ieq(name, "api-key");
    }
    return GANTRY_OK;
}

/*
 * The header list every request of the deployment carries: Content-Type, the credential
 * (Authorization, or api-key for Azure) and OpenAI-Organization unless extra_headers replaces them,
 * then the extra headers in configuration order.  Built once so that prepare() does no per-request
 * decisions or formatting.
 */
static int build_headers(const gantry_host_t *host, openai_deployment_t *dep)
{
    size_t n = 0;

    dep->headers = host->mem_calloc(dep->n_extra + 3, sizeof(*dep->headers));
    if (dep->headers == NULL)
        return GANTRY_ENOMEM;
    if (!dep->extra_has_content_type)
        dep->headers[n++] =
            (openai_header_t){GANTRY_STR_LIT("Content-Type"), GANTRY_STR_LIT("application/json")};
    if (dep->authorization.ptr != NULL && !dep->extra_has_authorization)
        dep->headers[n++] = (openai_header_t){GANTRY_STR_LIT("Authorization"), dep->authorization};
    else if (dep->azure && dep->authorization.ptr == NULL && dep->api_key.ptr != NULL &&
             !dep->extra_has_api_key)
        dep->headers[n++] = (openai_header_t){GANTRY_STR_LIT("api-key"), dep->api_key};
    if (dep->organization.ptr != NULL && !dep->extra_has_organization)
        dep->headers[n++] =
            (openai_header_t){GANTRY_STR_LIT("OpenAI-Organization"), dep->organization};
    for (size_t i = 0; i < dep->n_extra; i++)
        dep->headers[n++] = dep->extra[i];
    dep->n_headers = n;
    return GANTRY_OK;
}

/* `"model":"<upstream id>"`, escaped as the body writer escapes every string. */
static int build_model_member(const gantry_host_t *host, openai_deployment_t *dep)
{
    char stack[256];
    openai_wbuf_t b = {.host = host, .ptr = stack, .cap = sizeof(stack)};
    int rc = GANTRY_OK;

    gantry_str_t model = dep->model;
    /* The body used to carry the model as a C string, so it ended at a NUL; it still does. */
    const char *nul = memchr(model.ptr, '\0', model.len);
    if (nul != NULL)
        model.len = (size_t)(nul - model.ptr);

    openai_wb_put(&b, "\"model\":", 8);
    openai_wb_string(&b, model);
    if (b.failed || copy_str(host, b.ptr, b.len, &dep->model_member) != GANTRY_OK)
        rc = GANTRY_ENOMEM;
    openai_wb_release(&b);
    return rc;
}

int openai_deployment_create(void *state, const gantry_conf_t *params, gantry_str_t prefix,
                             gantry_str_t model_id, void **deployment)
{
    const openai_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    int rc;

    if (model_id.len == 0) {
        const gantry_conf_t *model = host->conf_get(params, "model");
        return host->conf_error(model != NULL ? model : params,
                                "model must name the upstream model after the provider prefix");
    }

    openai_deployment_t *dep = host->mem_calloc(1, sizeof(*dep));
    if (dep == NULL)
        return host->conf_error(params, "out of memory");
    if ((rc = copy_str(host, model_id.ptr, model_id.len, &dep->model)) != GANTRY_OK)
        goto fail;
    if ((rc = conf_flavour(inst, params, prefix, dep)) != GANTRY_OK)
        goto fail;
    if ((rc = conf_url(inst, params, prefix, dep)) != GANTRY_OK)
        goto fail;
    if ((rc = conf_credentials(inst, params, dep)) != GANTRY_OK)
        goto fail;
    if ((rc = conf_extra_headers(inst, params, dep)) != GANTRY_OK)
        goto fail;
    if ((rc = build_headers(host, dep)) != GANTRY_OK)
        goto fail;
    if ((rc = build_model_member(host, dep)) != GANTRY_OK)
        goto fail;
    *deployment = dep;
    return GANTRY_OK;

fail:
    if (rc == GANTRY_ENOMEM)
        host->conf_error(params, "out of memory");
    openai_deployment_destroy(state, dep);
    return rc;
}

void openai_deployment_destroy(void *state, void *deployment)
{
    const openai_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    openai_deployment_t *dep = deployment;
    if (dep == NULL)
        return;
    free_str(host, &dep->url);
    free_str(host, &dep->url_embeddings);
    free_str(host, &dep->url_completions);
    free_str(host, &dep->model);
    free_str(host, &dep->authorization);
    free_str(host, &dep->api_key);
    free_str(host, &dep->ad_token);
    free_str(host, &dep->organization);
    free_str(host, &dep->model_member);
    /* The list only borrows its strings. */
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
