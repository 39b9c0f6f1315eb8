/*
 * The bedrock provider: checking one model_list entry and building its read-only deployment state
 * (model route, endpoints, signing region, credential provider or API key, extra headers).  Runs
 * on the main thread; everything allocated here is freed by bedrock_deployment_destroy().
 */
#include <stdio.h>
#include <stdlib.h>

#include "bedrock.h"

/* LiteLLM's names for the Bedrock settings of a deployment. */
const gantry_conf_field_t bedrock_deployment_fields[] = {
    {"aws_access_key_id", GANTRY_CONF_STRING, GANTRY_CONF_SECRET, "static access key id"},
    {"aws_secret_access_key", GANTRY_CONF_STRING, GANTRY_CONF_SECRET, "static secret access key"},
    {"aws_session_token", GANTRY_CONF_STRING, GANTRY_CONF_SECRET,
     "session token of temporary static credentials"},
    {"aws_region_name", GANTRY_CONF_STRING, 0, "region to call and sign for, e.g. us-east-1"},
    {"aws_profile_name", GANTRY_CONF_STRING, 0,
     "profile of the shared AWS config/credentials files"},
    {"aws_role_name", GANTRY_CONF_STRING, 0, "role ARN to assume with the base credentials"},
    {"aws_session_name", GANTRY_CONF_STRING, 0, "session name for the assumed role"},
    {"aws_web_identity_token", GANTRY_CONF_STRING, GANTRY_CONF_SECRET,
     "file holding a web identity (OIDC) token, used with aws_role_name"},
    {"aws_sts_endpoint", GANTRY_CONF_STRING, 0, "STS endpoint URL for role assumption"},
    {"aws_bedrock_runtime_endpoint", GANTRY_CONF_STRING, 0,
     "bedrock-runtime base URL (VPC endpoints, proxies)"},
    {"aws_bedrock_agent_endpoint", GANTRY_CONF_STRING, 0,
     "bedrock-agent base URL, for managed prompts"},
    {"api_base", GANTRY_CONF_STRING, 0,
     "bedrock-runtime base URL (same as aws_bedrock_runtime_endpoint)"},
    {"api_key", GANTRY_CONF_STRING, GANTRY_CONF_SECRET,
     "Bedrock API key, sent as Authorization: Bearer instead of SigV4"},
    {"extra_headers", GANTRY_CONF_MAP, 0, "more headers for every upstream request (name: value)"},
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

/* LiteLLM's fallback when nothing names a region. */
static const char default_region[] = "us-west-2";

static char *copy_cstr(const gantry_host_t *host, const char *p, size_t len)
{
    char *s = host->mem_alloc(len + 1);
    if (s == NULL)
        return NULL;
    if (len > 0)
        memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

static char *concat3(const gantry_host_t *host, const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = host->mem_alloc(la + lb + lc + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, c, lc + 1);
    return s;
}

/* An optional string key: NULL when absent or empty (an unset variable resolves to ""). */
static int read_opt(const gantry_host_t *host, const gantry_conf_t *params, const char *key,
                    const char **out, const gantry_conf_t **node)
{
    gantry_str_t s;
    *out = NULL;
    *node = host->conf_get(params, key);
    if (*node == NULL)
        return GANTRY_OK;
    if (host->conf_string(*node, &s) != GANTRY_OK)
        return host->conf_error(*node, "%s must be a string", key);
    if (s.len > 0)
        *out = s.ptr;
    return GANTRY_OK;
}

static bool has_ctl(const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return true;
    }
    return false;
}

/* A base URL: http(s), a host, no spaces, query or fragment; the trailing '/' dropped. */
static int check_url(const gantry_host_t *host, const gantry_conf_t *node, const char *key,
                     const char *url, char **out)
{
    gantry_str_t u = {url, strlen(url)};
    while (u.len > 0 && u.ptr[u.len - 1] == '/')
        u.len--;
    size_t scheme = br_has_prefix(u, "https://") ? 8 : br_has_prefix(u, "http://") ? 7 : 0;
    if (scheme == 0 || u.len == scheme)
        return host->conf_error(node, "%s must be an http:// or https:// URL with a host", key);
    for (size_t i = 0; i < u.len; i++) {
        unsigned char ch = (unsigned char)u.ptr[i];
        if (ch <= 0x20 || ch == 0x7f || ch == '?' || ch == '#')
            return host->conf_error(
                node, "%s must be a plain URL without spaces, query or fragment", key);
    }
    *out = copy_cstr(host, u.ptr, u.len);
    return *out != NULL ? GANTRY_OK : GANTRY_ENOMEM;
}

static bool is_token_char(unsigned char ch)
{
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
        return true;
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* Headers the signer or the HTTP client owns; a configured copy would break one of them. */
static bool reserved_header(gantry_str_t n)
{
    static const char *const names[] = {
        "host",       "content-length",       "transfer-encoding",
        "connection", "authorization",        "content-type",
        "x-amz-date", "x-amz-content-sha256", "x-amz-security-token",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (br_str_ieq(n, names[i]))
            return true;
    }
    return false;
}

static int conf_extra_headers(const gantry_host_t *host, const gantry_conf_t *params,
                              bedrock_deployment_t *dep)
{
    const gantry_conf_t *map = host->conf_get(params, "extra_headers");
    if (map == NULL)
        return GANTRY_OK;
    if (host->conf_type(map) != GANTRY_CONF_MAP)
        return host->conf_error(map, "extra_headers must be a map of header name to value");
    size_t n = host->conf_count(map);
    if (n == 0)
        return GANTRY_OK;
    /* The signer takes a bounded number of headers; a handful of extras is all anyone needs. */
    if (n > 24)
        return host->conf_error(map, "extra_headers: at most 24 headers");
    dep->extra = host->mem_calloc(n, sizeof(*dep->extra));
    if (dep->extra == NULL)
        return GANTRY_ENOMEM;
    dep->n_extra = n;
    for (size_t i = 0; i < n; i++) {
        gantry_str_t name = host->conf_key_at(map, i), value;
        const gantry_conf_t *node = host->conf_at(map, i);
        bool ok = name.len > 0;
        for (size_t k = 0; k < name.len && ok; k++)
            ok = is_token_char((unsigned char)name.ptr[k]);
        if (!ok)
            return host->conf_error(node, "extra_headers: \"%.*s\" is not a valid header name",
                                    (int)name.len, name.ptr);
        if (reserved_header(name))
            return host->conf_error(node, "extra_headers: %.*s is set by the gateway",
                                    (int)name.len, name.ptr);
        if (host->conf_string(node, &value) != GANTRY_OK)
            return host->conf_error(node, "extra_headers: the value of %.*s must be a string",
                                    (int)name.len, name.ptr);
        char *v = copy_cstr(host, value.ptr, value.len);
        char *k = copy_cstr(host, name.ptr, name.len);
        dep->extra[i] = (br_header_t){{k, name.len}, {v, value.len}};
        if (k == NULL || v == NULL)
            return GANTRY_ENOMEM;
        if (has_ctl(v))
            return host->conf_error(node, "extra_headers: %.*s has control characters",
                                    (int)name.len, name.ptr);
    }
    return GANTRY_OK;
}

static int conf_credentials(const gantry_host_t *host, const gantry_conf_t *params,
                            bedrock_deployment_t *dep)
{
    const gantry_conf_t *node;
    const char *api_key, *akid, *secret, *token, *profile, *role, *session, *wit, *sts;
    int rc;
    if ((rc = read_opt(host, params, "api_key", &api_key, &node)) != GANTRY_OK)
        return rc;
    if (api_key != NULL && has_ctl(api_key))
        return host->conf_error(node, "api_key contains control characters");
    const gantry_conf_t *akid_node, *secret_node;
    if ((rc = read_opt(host, params, "aws_access_key_id", &akid, &akid_node)) != GANTRY_OK ||
        (rc = read_opt(host, params, "aws_secret_access_key", &secret, &secret_node)) !=
            GANTRY_OK ||
        (rc = read_opt(host, params, "aws_session_token", &token, &node)) != GANTRY_OK ||
        (rc = read_opt(host, params, "aws_profile_name", &profile, &node)) != GANTRY_OK ||
        (rc = read_opt(host, params, "aws_role_name", &role, &node)) != GANTRY_OK ||
        (rc = read_opt(host, params, "aws_session_name", &session, &node)) != GANTRY_OK ||
        (rc = read_opt(host, params, "aws_web_identity_token", &wit, &node)) != GANTRY_OK ||
        (rc = read_opt(host, params, "aws_sts_endpoint", &sts, &node)) != GANTRY_OK)
        return rc;
    if ((akid == NULL) != (secret == NULL))
        return host->conf_error(akid != NULL ? akid_node : secret_node,
                                "aws_access_key_id and aws_secret_access_key go together");

    /*
     * An API key replaces SigV4.  AWS SDKs also take one from AWS_BEARER_TOKEN_BEDROCK; it is used
     * only when the deployment names no AWS credentials of its own.
     */
    if (api_key == NULL && akid == NULL && profile == NULL && role == NULL) {
        const char *env = getenv("AWS_BEARER_TOKEN_BEDROCK");
        if (env != NULL && *env != '\0' && !has_ctl(env))
            api_key = env;
    }
    if (api_key != NULL) {
        dep->api_key = copy_cstr(host, api_key, strlen(api_key));
        dep->bearer = concat3(host, "Bearer ", api_key, "");
        return dep->api_key != NULL && dep->bearer != NULL ? GANTRY_OK : GANTRY_ENOMEM;
    }

    aws_cred_conf_t cc = {
        .access_key_id = akid,
        .secret_access_key = secret,
        .session_token = token,
        .profile = profile,
        .role_arn = role,
        .session_name = session,
        .web_identity_token_file = wit,
        .sts_endpoint = sts,
        .region = dep->region,
    };
    char err[256] = "";
    dep->creds = aws_creds_new(&cc, err, sizeof(err));
    if (dep->creds == NULL)
        return host->conf_error(params, "AWS credentials: %s", err[0] ? err : "invalid settings");
    return GANTRY_OK;
}

static int conf_endpoints(const gantry_host_t *host, const gantry_conf_t *params,
                          bedrock_deployment_t *dep)
{
    const gantry_conf_t *rt_node, *base_node, *agent_node, *region_node, *node;
    const char *runtime, *base, *agent, *region, *profile;
    int rc;
    if ((rc = read_opt(host, params, "aws_bedrock_runtime_endpoint", &runtime, &rt_node)) != 0 ||
        (rc = read_opt(host, params, "api_base", &base, &base_node)) != 0 ||
        (rc = read_opt(host, params, "aws_bedrock_agent_endpoint", &agent, &agent_node)) != 0 ||
        (rc = read_opt(host, params, "aws_region_name", &region, &region_node)) != 0 ||
        (rc = read_opt(host, params, "aws_profile_name", &profile, &node)) != 0)
        return rc;

    /* aws_bedrock_runtime_endpoint wins over api_base (LiteLLM's order), then the SDK variable. */
    const gantry_conf_t *ep_node = runtime != NULL ? rt_node : base_node;
    const char *ep = runtime != NULL ? runtime : base;
    if (ep == NULL) {
        ep = getenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME");
        ep_node = params;
        if (ep != NULL && *ep == '\0')
            ep = NULL;
    }
    if (ep != NULL && (rc = check_url(host, ep_node, "the bedrock-runtime endpoint", ep,
                                      &dep->endpoint)) != GANTRY_OK)
        return rc;

    /* The signing region: configured, else the endpoint's, else the ARN's, else the chain's. */
    gantry_str_t r = GANTRY_STR_NULL;
    if (region != NULL)
        r = (gantry_str_t){region, strlen(region)};
    if (r.len == 0 && dep->endpoint != NULL)
        r = br_region_of_url((gantry_str_t){dep->endpoint, strlen(dep->endpoint)});
    if (r.len == 0)
        r = dep->model.region;
    if (r.len == 0) {
        const char *d = aws_default_region(profile);
        if (d != NULL)
            r = (gantry_str_t){d, strlen(d)};
    }
    if (r.len == 0)
        r = GANTRY_STR_LIT(default_region);
    for (size_t i = 0; i < r.len; i++) {
        char ch = r.ptr[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            return host->conf_error(region_node != NULL ? region_node : params,
                                    "aws_region_name must look like us-east-1");
    }
    if ((dep->region = copy_cstr(host, r.ptr, r.len)) == NULL)
        return GANTRY_ENOMEM;

    if (dep->endpoint == NULL && (dep->endpoint = concat3(host, "https://bedrock-runtime.",
                                                          dep->region, ".amazonaws.com")) == NULL)
        return GANTRY_ENOMEM;

    if (agent == NULL) {
        agent = getenv("AWS_ENDPOINT_URL_BEDROCK_AGENT");
        agent_node = params;
        if (agent != NULL && *agent == '\0')
            agent = NULL;
    }
    if (agent != NULL)
        return check_url(host, agent_node, "the bedrock-agent endpoint", agent,
                         &dep->agent_endpoint);
    dep->agent_endpoint = concat3(host, "https://bedrock-agent.", dep->region, ".amazonaws.com");
    return dep->agent_endpoint != NULL ? GANTRY_OK : GANTRY_ENOMEM;
}

int bedrock_deployment_create(void *state, const gantry_conf_t *params, gantry_str_t prefix,
                              gantry_str_t model_id, void **deployment)
{
    const bedrock_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    (void)prefix;
    int rc = GANTRY_ENOMEM;

    bedrock_deployment_t *dep = host->mem_calloc(1, sizeof(*dep));
    if (dep == NULL)
        return host->conf_error(params, "out of memory");
    if ((dep->model_id = copy_cstr(host, model_id.ptr, model_id.len)) == NULL)
        goto fail;
    char err[300];
    gantry_str_t full = {dep->model_id, model_id.len};
    if (br_model_parse(full, &dep->model, err, sizeof(err)) != 0) {
        const gantry_conf_t *m = host->conf_get(params, "model");
        rc = host->conf_error(m != NULL ? m : params, "%s", err);
        goto fail;
    }
    /* model.id is a view into model_id; the path form encodes ':' and '/' (ARNs, versions). */
    size_t cap = dep->model.id.len * 3 + 1;
    if ((dep->model_path = host->mem_alloc(cap)) == NULL)
        goto fail;
    aws_uri_encode(dep->model.id.ptr, dep->model.id.len, false, dep->model_path, cap);

    if ((rc = conf_endpoints(host, params, dep)) != GANTRY_OK)
        goto fail;
    if ((rc = conf_credentials(host, params, dep)) != GANTRY_OK)
        goto fail;
    if ((rc = conf_extra_headers(host, params, dep)) != GANTRY_OK)
        goto fail;
    *deployment = dep;
    return GANTRY_OK;

fail:
    if (rc == GANTRY_ENOMEM)
        host->conf_error(params, "out of memory");
    bedrock_deployment_destroy(state, dep);
    return rc;
}

/* Wipe a secret before its memory goes back to the allocator. */
static void free_secret(const gantry_host_t *host, char *s)
{
    if (s == NULL)
        return;
    volatile char *p = s;
    while (*p)
        *p++ = '\0';
    host->mem_free(s);
}

void bedrock_deployment_destroy(void *state, void *deployment)
{
    const bedrock_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    bedrock_deployment_t *dep = deployment;
    if (dep == NULL)
        return;
    if (dep->creds != NULL)
        aws_creds_release(dep->creds);
    host->mem_free(dep->model_id);
    host->mem_free(dep->model_path);
    host->mem_free(dep->endpoint);
    host->mem_free(dep->agent_endpoint);
    host->mem_free(dep->region);
    free_secret(host, dep->bearer);
    free_secret(host, dep->api_key);
    for (size_t i = 0; i < dep->n_extra; i++) {
        host->mem_free((void *)dep->extra[i].name.ptr);
        host->mem_free((void *)dep->extra[i].value.ptr);
    }
    host->mem_free(dep->extra);
    host->mem_free(dep);
}
