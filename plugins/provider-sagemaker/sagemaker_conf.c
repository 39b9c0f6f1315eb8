/*
 * The sagemaker provider: checking one model_list entry and building its read-only deployment
 * state.  Runs on the main thread; everything allocated here is instance memory freed by
 * sm_deployment_destroy().
 */
#include <stdio.h>
#include <string.h>

#include "sagemaker.h"

/*
 * The keys of litellm_params this provider adds to the core's own.  The AWS names are LiteLLM's,
 * so that a LiteLLM config works unchanged.
 */
const gantry_conf_field_t sm_deployment_fields[] = {
    {"aws_access_key_id", GANTRY_CONF_STRING, GANTRY_CONF_SECRET,
     "static credentials (else the AWS default chain)"},
    {"aws_secret_access_key", GANTRY_CONF_STRING, GANTRY_CONF_SECRET, NULL},
    {"aws_session_token", GANTRY_CONF_STRING, GANTRY_CONF_SECRET, NULL},
    {"aws_region_name", GANTRY_CONF_STRING, 0, "region of the endpoint (else $AWS_REGION)"},
    {"aws_profile_name", GANTRY_CONF_STRING, 0, "profile of the shared AWS files"},
    {"aws_role_name", GANTRY_CONF_STRING, 0, "role ARN to assume"},
    {"aws_session_name", GANTRY_CONF_STRING, 0, "session name when assuming a role"},
    {"aws_web_identity_token", GANTRY_CONF_STRING, 0,
     "web identity token file (with aws_role_name)"},
    {"aws_sts_endpoint", GANTRY_CONF_STRING, 0, "STS endpoint URL"},
    {"api_base", GANTRY_CONF_STRING, 0,
     "SageMaker Runtime base URL (default https://runtime.sagemaker.<region>.amazonaws.com)"},
    {"extra_headers", GANTRY_CONF_MAP, 0, "more headers for every upstream request (signed too)"},
    {"sagemaker_api", GANTRY_CONF_STRING, 0,
     "messages (OpenAI chat bodies) or tgi ({\"inputs\", \"parameters\"}); default by prefix"},
    {"prompt_template", GANTRY_CONF_STRING, 0,
     "tgi prompt format: llama3 (default), llama2, mistral, chatml, plain"},
    {"hf_model_name", GANTRY_CONF_STRING, 0, "Hugging Face model name: picks the prompt format"},
    {"roles", GANTRY_CONF_MAP, 0,
     "custom prompt format: {role: {pre_message, post_message}} (LiteLLM's custom template)"},
    {"initial_prompt_value", GANTRY_CONF_STRING, 0,
     "custom prompt format: text before the messages"},
    {"final_prompt_value", GANTRY_CONF_STRING, 0, "custom prompt format: text after the messages"},
    {"container_model", GANTRY_CONF_STRING, 0,
     "\"model\" to send in messages bodies (containers that require one); default: none"},
    {"target_model", GANTRY_CONF_STRING, 0,
     "X-Amzn-SageMaker-Target-Model (multi-model endpoints)"},
    {"target_variant", GANTRY_CONF_STRING, 0, "X-Amzn-SageMaker-Target-Variant"},
    {"inference_component_name", GANTRY_CONF_STRING, 0, "X-Amzn-SageMaker-Inference-Component"},
    {"model_id", GANTRY_CONF_STRING, 0, "LiteLLM's name for inference_component_name"},
    {"custom_attributes", GANTRY_CONF_STRING, 0, "X-Amzn-SageMaker-Custom-Attributes"},
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

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

static bool prefix_ieq(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len >= n && str_ieq((gantry_str_t){s.ptr, n}, lit);
}

/* Case-insensitive substring test; `needle` is lowercase. */
static bool contains_ci(gantry_str_t hay, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= hay.len; i++) {
        size_t k = 0;
        while (k < n && lower(hay.ptr[i + k]) == needle[k])
            k++;
        if (k == n)
            return true;
    }
    return false;
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

/* No CR, LF, NUL or other control characters (tab excepted): they would split the request. */
static bool is_header_value(gantry_str_t s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

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

static void free_str(const gantry_host_t *host, gantry_str_t *s)
{
    if (s->ptr != NULL)
        host->mem_free((void *)s->ptr);
    *s = GANTRY_STR_NULL;
}

/* An optional string key; a missing key leaves *out empty and *node NULL. */
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

/* An optional string copied into instance memory; empty values count as unset. */
static int read_copy(const gantry_host_t *host, const gantry_conf_t *params, const char *key,
                     gantry_str_t *out)
{
    const gantry_conf_t *node;
    gantry_str_t v;
    int rc = read_string(host, params, key, &node, &v);
    if (rc != GANTRY_OK || v.len == 0)
        return rc;
    return copy_str(host, v.ptr, v.len, out);
}

/* A value that ends up in a header must be a valid header value. */
static int read_header_value(const gantry_host_t *host, const gantry_conf_t *params,
                             const char *key, gantry_str_t *out)
{
    const gantry_conf_t *node;
    gantry_str_t v;
    int rc = read_string(host, params, key, &node, &v);
    if (rc != GANTRY_OK || v.len == 0)
        return rc;
    if (!is_header_value(v) || v.len > 1024)
        return host->conf_error(node,
                                "%s must be at most 1024 characters without control "
                                "characters",
                                key);
    return copy_str(host, v.ptr, v.len, out);
}

/* SageMaker's EndpointName: [a-zA-Z0-9](-*[a-zA-Z0-9])*, at most 63 characters. */
static bool is_endpoint_name(gantry_str_t s)
{
    if (s.len == 0 || s.len > 63 || s.ptr[0] == '-' || s.ptr[s.len - 1] == '-')
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-'))
            return false;
    }
    return true;
}

static int conf_api(const gantry_host_t *host, const gantry_conf_t *params, gantry_str_t prefix,
                    sm_deployment_t *dep)
{
    const gantry_conf_t *node;
    gantry_str_t v;
    int rc = read_string(host, params, "sagemaker_api", &node, &v);
    if (rc != GANTRY_OK)
        return rc;
    if (node == NULL) {
        /* LiteLLM's split: sagemaker_chat/ talks the Messages API, sagemaker/ the TGI one. */
        dep->api = sm_str_eq(prefix, "sagemaker_chat") ? SM_API_MESSAGES : SM_API_TGI;
        return GANTRY_OK;
    }
    if (sm_str_eq(v, "messages"))
        dep->api = SM_API_MESSAGES;
    else if (sm_str_eq(v, "tgi"))
        dep->api = SM_API_TGI;
    else
        return host->conf_error(node, "sagemaker_api must be \"messages\" or \"tgi\"");
    return GANTRY_OK;
}

static const struct {
    const char *name;
    sm_template_t tpl;
} template_names[] = {
    {"llama3", SM_TPL_LLAMA3}, {"llama2", SM_TPL_LLAMA2}, {"mistral", SM_TPL_MISTRAL},
    {"chatml", SM_TPL_CHATML}, {"plain", SM_TPL_PLAIN},
};

/* The prompt format a Hugging Face model name implies (LiteLLM picks templates by it too). */
static sm_template_t template_for_model(gantry_str_t name)
{
    if (contains_ci(name, "llama-3") || contains_ci(name, "llama3"))
        return SM_TPL_LLAMA3;
    if (contains_ci(name, "llama-2") || contains_ci(name, "llama2"))
        return SM_TPL_LLAMA2;
    if (contains_ci(name, "mistral") || contains_ci(name, "mixtral"))
        return SM_TPL_MISTRAL;
    if (contains_ci(name, "qwen") || contains_ci(name, "hermes") || contains_ci(name, "chatml"))
        return SM_TPL_CHATML;
    return SM_TPL_LLAMA3;
}

static const char *const role_names[SM_ROLE_COUNT] = {"system", "user", "assistant", "tool"};

/* LiteLLM's custom template: roles: {user: {pre_message: "...", post_message: "..."}, ...}. */
static int conf_roles(const gantry_host_t *host, const gantry_conf_t *roles, sm_deployment_t *dep)
{
    size_t n = host->conf_count(roles);
    for (size_t i = 0; i < n; i++) {
        gantry_str_t role = host->conf_key_at(roles, i);
        const gantry_conf_t *spec = host->conf_at(roles, i);
        int r = -1;
        for (int k = 0; k < SM_ROLE_COUNT; k++) {
            if (sm_str_eq(role, role_names[k]))
                r = k;
        }
        if (r < 0)
            return host->conf_error(spec,
                                    "roles: unknown role \"%.*s\" (system, user, assistant "
                                    "or tool)",
                                    (int)role.len, role.ptr);
        if (host->conf_type(spec) != GANTRY_CONF_MAP)
            return host->conf_error(spec,
                                    "roles: %s must be a map with pre_message and/or "
                                    "post_message",
                                    role_names[r]);
        size_t m = host->conf_count(spec);
        for (size_t j = 0; j < m; j++) {
            gantry_str_t key = host->conf_key_at(spec, j);
            const gantry_conf_t *node = host->conf_at(spec, j);
            gantry_str_t v;
            gantry_str_t *slot = sm_str_eq(key, "pre_message")    ? &dep->roles[r].pre
                                 : sm_str_eq(key, "post_message") ? &dep->roles[r].post
                                                                  : NULL;
            if (slot == NULL)
                return host->conf_error(node,
                                        "roles: unknown key \"%.*s\" (pre_message or "
                                        "post_message)",
                                        (int)key.len, key.ptr);
            if (host->conf_string(node, &v) != GANTRY_OK)
                return host->conf_error(node, "roles: %.*s must be a string", (int)key.len,
                                        key.ptr);
            free_str(host, slot);
            if (copy_str(host, v.ptr, v.len, slot) != GANTRY_OK)
                return GANTRY_ENOMEM;
        }
    }
    return GANTRY_OK;
}

static int conf_template(const gantry_host_t *host, const gantry_conf_t *params,
                         sm_deployment_t *dep)
{
    const gantry_conf_t *node, *hf_node;
    gantry_str_t name, hf;
    int rc;
    const gantry_conf_t *roles = host->conf_get(params, "roles");

    if ((rc = read_string(host, params, "prompt_template", &node, &name)) != GANTRY_OK ||
        (rc = read_string(host, params, "hf_model_name", &hf_node, &hf)) != GANTRY_OK)
        return rc;
    if ((rc = read_copy(host, params, "initial_prompt_value", &dep->initial_prompt)) != GANTRY_OK ||
        (rc = read_copy(host, params, "final_prompt_value", &dep->final_prompt)) != GANTRY_OK)
        return rc;

    if (roles != NULL) {
        if (host->conf_type(roles) != GANTRY_CONF_MAP)
            return host->conf_error(roles, "roles must be a map of role to "
                                           "{pre_message, post_message}");
        if (node != NULL && !sm_str_eq(name, "custom"))
            return host->conf_error(node, "prompt_template and roles exclude each other (roles "
                                          "define a custom template)");
        dep->tpl = SM_TPL_CUSTOM;
        return conf_roles(host, roles, dep);
    }
    if (dep->initial_prompt.ptr != NULL || dep->final_prompt.ptr != NULL) {
        /* Without roles the custom template is the plain one between the two values. */
        if (node != NULL)
            return host->conf_error(node, "initial_prompt_value/final_prompt_value make a "
                                          "custom template; leave prompt_template out");
        dep->tpl = SM_TPL_CUSTOM;
        for (int r = 0; r < SM_ROLE_COUNT; r++) {
            char pre[32];
            int n = snprintf(pre, sizeof(pre), "%s: ", role_names[r]);
            if (copy_str(host, pre, (size_t)n, &dep->roles[r].pre) != GANTRY_OK ||
                copy_str(host, "\n", 1, &dep->roles[r].post) != GANTRY_OK)
                return GANTRY_ENOMEM;
        }
        return GANTRY_OK;
    }
    if (node == NULL) {
        dep->tpl = hf_node != NULL ? template_for_model(hf) : SM_TPL_LLAMA3;
        return GANTRY_OK;
    }
    for (size_t i = 0; i < sizeof(template_names) / sizeof(template_names[0]); i++) {
        if (sm_str_eq(name, template_names[i].name)) {
            dep->tpl = template_names[i].tpl;
            return GANTRY_OK;
        }
    }
    return host->conf_error(node, "prompt_template must be llama3, llama2, mistral, chatml or "
                                  "plain (or give roles for a custom one)");
}

/* The region the endpoint lives in: the deployment's, else the environment's or the profile's. */
static int conf_region(const gantry_host_t *host, const gantry_conf_t *params, sm_deployment_t *dep)
{
    const gantry_conf_t *node;
    gantry_str_t v, profile;
    int rc = read_string(host, params, "aws_region_name", &node, &v);
    if (rc != GANTRY_OK)
        return rc;
    if (v.len == 0) {
        const gantry_conf_t *pnode;
        if ((rc = read_string(host, params, "aws_profile_name", &pnode, &profile)) != GANTRY_OK)
            return rc;
        const char *def = aws_default_region(profile.len > 0 ? profile.ptr : NULL);
        if (def == NULL || def[0] == '\0')
            return host->conf_error(params, "aws_region_name is required (or set AWS_REGION)");
        v = (gantry_str_t){def, strlen(def)};
    }
    /* The region becomes part of a host name and of the signature's scope. */
    for (size_t i = 0; i < v.len; i++) {
        char c = v.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return host->conf_error(node != NULL ? node : params,
                                    "\"%.*s\" is not an AWS region name", (int)v.len, v.ptr);
    }
    if (v.len > 32)
        return host->conf_error(node != NULL ? node : params, "the region name is too long");
    return copy_str(host, v.ptr, v.len, &dep->region);
}

/* <base>/endpoints/<name>/invocations and the streaming twin. */
static int conf_urls(const gantry_host_t *host, const gantry_conf_t *params, sm_deployment_t *dep)
{
    const gantry_conf_t *node;
    gantry_str_t base;
    char def[128];
    int rc = read_string(host, params, "api_base", &node, &base);
    if (rc != GANTRY_OK)
        return rc;
    if (base.len == 0) {
        /* China regions live under their own domain. */
        bool china = dep->region.len >= 3 && memcmp(dep->region.ptr, "cn-", 3) == 0;
        int n = snprintf(def, sizeof(def), "https://runtime.sagemaker.%s.amazonaws.com%s",
                         dep->region.ptr, china ? ".cn" : "");
        if (n <= 0 || (size_t)n >= sizeof(def))
            return host->conf_error(params, "the region name is too long");
        base = (gantry_str_t){def, (size_t)n};
        node = NULL;
    }
    while (base.len > 0 && base.ptr[base.len - 1] == '/')
        base.len--;
    size_t scheme = prefix_ieq(base, "https://") ? 8 : prefix_ieq(base, "http://") ? 7 : 0;
    if (scheme == 0)
        return host->conf_error(node, "api_base must start with http:// or https://");
    if (base.len == scheme)
        return host->conf_error(node, "api_base has no host");
    for (size_t i = 0; i < base.len; i++) {
        unsigned char c = (unsigned char)base.ptr[i];
        if (c <= 0x20 || c == 0x7f || c == '?' || c == '#')
            return host->conf_error(
                node, "api_base must be a plain URL without spaces, query or fragment");
    }

    static const char mid[] = "/endpoints/";
    static const char tail[] = "/invocations";
    static const char tail_stream[] = "/invocations-response-stream";
    size_t cap = base.len + sizeof(mid) + dep->endpoint.len + sizeof(tail_stream);
    char *u = host->mem_alloc(cap);
    char *s = host->mem_alloc(cap);
    if (u == NULL || s == NULL) {
        host->mem_free(u);
        host->mem_free(s);
        return GANTRY_ENOMEM;
    }
    /* The endpoint name is [A-Za-z0-9-] only, so it needs no URI encoding. */
    int nu = snprintf(u, cap, "%.*s%s%s%s", (int)base.len, base.ptr, mid, dep->endpoint.ptr, tail);
    int ns = snprintf(s, cap, "%.*s%s%s%s", (int)base.len, base.ptr, mid, dep->endpoint.ptr,
                      tail_stream);
    dep->url = (gantry_str_t){u, (size_t)nu};
    dep->url_stream = (gantry_str_t){s, (size_t)ns};
    return GANTRY_OK;
}

/* Headers the gateway or the signer set; a configured copy would contradict or forge them. */
static bool is_reserved_header(gantry_str_t name)
{
    static const char *const reserved[] = {
        "content-length",       "transfer-encoding",    "host",
        "connection",           "authorization",        "x-amz-date",
        "x-amz-security-token", "x-amz-content-sha256",
    };
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (str_ieq(name, reserved[i]))
            return true;
    }
    return false;
}

static int conf_extra_headers(const gantry_host_t *host, const gantry_conf_t *params,
                              sm_deployment_t *dep)
{
    const gantry_conf_t *map = host->conf_get(params, "extra_headers");
    if (map == NULL)
        return GANTRY_OK;
    if (host->conf_type(map) != GANTRY_CONF_MAP)
        return host->conf_error(map, "extra_headers must be a map of header name to value");
    size_t n = host->conf_count(map);
    if (n == 0)
        return GANTRY_OK;
    if (n > 64)
        return host->conf_error(map, "extra_headers: at most 64 headers");
    dep->extra = host->mem_calloc(n, sizeof(*dep->extra));
    if (dep->extra == NULL)
        return GANTRY_ENOMEM;
    dep->n_extra = n;
    for (size_t i = 0; i < n; i++) {
        gantry_str_t name = host->conf_key_at(map, i);
        const gantry_conf_t *node = host->conf_at(map, i);
        gantry_str_t value;
        if (!is_header_name(name) || name.len > 128)
            return host->conf_error(node, "extra_headers: \"%.*s\" is not a valid header name",
                                    (int)name.len, name.ptr);
        if (is_reserved_header(name))
            return host->conf_error(node,
                                    "extra_headers: %.*s is set by the gateway or the "
                                    "request signer",
                                    (int)name.len, name.ptr);
        if (host->conf_string(node, &value) != GANTRY_OK)
            return host->conf_error(node, "extra_headers: the value of %.*s must be a string",
                                    (int)name.len, name.ptr);
        if (!is_header_value(value) || value.len > 4096)
            return host->conf_error(node,
                                    "extra_headers: %.*s has control characters or is "
                                    "too long",
                                    (int)name.len, name.ptr);
        if (copy_str(host, name.ptr, name.len, &dep->extra[i].name) != GANTRY_OK ||
            copy_str(host, value.ptr, value.len, &dep->extra[i].value) != GANTRY_OK)
            return GANTRY_ENOMEM;
    }
    return GANTRY_OK;
}

/* Where credentials come from: the deployment's keys, else the AWS default chain. */
static int conf_credentials(const gantry_host_t *host, const gantry_conf_t *params,
                            sm_deployment_t *dep)
{
    static const struct {
        const char *key;
        size_t offset;
    } keys[] = {
        {"aws_access_key_id", offsetof(aws_cred_conf_t, access_key_id)},
        {"aws_secret_access_key", offsetof(aws_cred_conf_t, secret_access_key)},
        {"aws_session_token", offsetof(aws_cred_conf_t, session_token)},
        {"aws_profile_name", offsetof(aws_cred_conf_t, profile)},
        {"aws_role_name", offsetof(aws_cred_conf_t, role_arn)},
        {"aws_session_name", offsetof(aws_cred_conf_t, session_name)},
        {"aws_web_identity_token", offsetof(aws_cred_conf_t, web_identity_token_file)},
        {"aws_sts_endpoint", offsetof(aws_cred_conf_t, sts_endpoint)},
    };
    aws_cred_conf_t cc = {.region = dep->region.ptr};
    const gantry_conf_t *node;
    gantry_str_t v;
    int rc;

    /* conf_string() values are NUL-terminated and live as long as the instance. */
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if ((rc = read_string(host, params, keys[i].key, &node, &v)) != GANTRY_OK)
            return rc;
        if (v.len > 0)
            *(const char **)((char *)&cc + keys[i].offset) = v.ptr;
    }
    if ((cc.access_key_id == NULL) != (cc.secret_access_key == NULL))
        return host->conf_error(params, "aws_access_key_id and aws_secret_access_key go "
                                        "together");

    char err[256] = "";
    dep->creds = aws_creds_new(&cc, err, sizeof(err));
    if (dep->creds == NULL)
        return host->conf_error(params, "AWS credentials: %s",
                                err[0] != '\0' ? err : "could not be set up");
    return GANTRY_OK;
}

static int conf_routing(const gantry_host_t *host, const gantry_conf_t *params,
                        sm_deployment_t *dep)
{
    int rc;
    if ((rc = read_header_value(host, params, "target_model", &dep->target_model)) != GANTRY_OK ||
        (rc = read_header_value(host, params, "target_variant", &dep->target_variant)) !=
            GANTRY_OK ||
        (rc = read_header_value(host, params, "custom_attributes", &dep->custom_attributes)) !=
            GANTRY_OK ||
        (rc = read_copy(host, params, "container_model", &dep->container_model)) != GANTRY_OK)
        return rc;
    const gantry_conf_t *a = host->conf_get(params, "inference_component_name");
    const gantry_conf_t *b = host->conf_get(params, "model_id");
    if (a != NULL && b != NULL)
        return host->conf_error(b, "model_id is LiteLLM's name for inference_component_name: "
                                   "give only one");
    return read_header_value(host, params, a != NULL ? "inference_component_name" : "model_id",
                             &dep->component);
}

int sm_deployment_create(void *state, const gantry_conf_t *params, gantry_str_t prefix,
                         gantry_str_t model_id, void **deployment)
{
    const sm_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    int rc;

    if (!is_endpoint_name(model_id)) {
        const gantry_conf_t *model = host->conf_get(params, "model");
        return host->conf_error(model != NULL ? model : params,
                                "model must be %.*s/<endpoint name>; \"%.*s\" is not a SageMaker "
                                "endpoint name (letters, digits and inner hyphens, at most 63)",
                                (int)prefix.len, prefix.ptr, (int)model_id.len, model_id.ptr);
    }
    sm_deployment_t *dep = host->mem_calloc(1, sizeof(*dep));
    if (dep == NULL)
        return host->conf_error(params, "out of memory");
    if ((rc = copy_str(host, model_id.ptr, model_id.len, &dep->endpoint)) != GANTRY_OK)
        goto fail;
    if ((rc = conf_api(host, params, prefix, dep)) != GANTRY_OK)
        goto fail;
    if ((rc = conf_template(host, params, dep)) != GANTRY_OK)
        goto fail;
    if ((rc = conf_region(host, params, dep)) != GANTRY_OK)
        goto fail;
    if ((rc = conf_urls(host, params, dep)) != GANTRY_OK)
        goto fail;
    if ((rc = conf_extra_headers(host, params, dep)) != GANTRY_OK)
        goto fail;
    if ((rc = conf_routing(host, params, dep)) != GANTRY_OK)
        goto fail;
    /* Last: it may start a background fetch, which failing steps above should not leave behind. */
    if ((rc = conf_credentials(host, params, dep)) != GANTRY_OK)
        goto fail;
    *deployment = dep;
    return GANTRY_OK;

fail:
    if (rc == GANTRY_ENOMEM)
        host->conf_error(params, "out of memory");
    sm_deployment_destroy(state, dep);
    return rc;
}

void sm_deployment_destroy(void *state, void *deployment)
{
    const sm_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    sm_deployment_t *dep = deployment;
    if (dep == NULL)
        return;
    if (dep->creds != NULL)
        aws_creds_release(dep->creds);
    free_str(host, &dep->endpoint);
    free_str(host, &dep->url);
    free_str(host, &dep->url_stream);
    free_str(host, &dep->region);
    free_str(host, &dep->initial_prompt);
    free_str(host, &dep->final_prompt);
    free_str(host, &dep->container_model);
    free_str(host, &dep->target_model);
    free_str(host, &dep->target_variant);
    free_str(host, &dep->component);
    free_str(host, &dep->custom_attributes);
    for (int r = 0; r < SM_ROLE_COUNT; r++) {
        free_str(host, &dep->roles[r].pre);
        free_str(host, &dep->roles[r].post);
    }
    if (dep->extra != NULL) {
        for (size_t i = 0; i < dep->n_extra; i++) {
            free_str(host, &dep->extra[i].name);
            free_str(host, &dep->extra[i].value);
        }
        host->mem_free(dep->extra);
    }
    host->mem_free(dep);
}
