/*
 * The Amazon Bedrock guardrail: configuration (LiteLLM's keys), the instance's lifecycle and the
 * plugin descriptor.  create() runs on the main thread; everything it allocates is freed by
 * destroy(), which also releases the credential provider (joining its thread) before the .so can
 * be unloaded.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bedrock_guardrail.h"

/* LiteLLM's fallback when nothing names a region. */
static const char default_region[] = "us-west-2";

static char *copy_str(const gantry_host_t *h, const char *p, size_t len)
{
    char *s = h->mem_alloc(len + 1);
    if (s == NULL)
        return NULL;
    if (len > 0)
        memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

/* An optional string key: NULL when absent or empty (an unset os.environ/ reads as ""). */
static int read_opt(const gantry_host_t *h, const gantry_conf_t *conf, const char *key,
                    const char **out, const gantry_conf_t **node)
{
    gantry_str_t s;
    *out = NULL;
    *node = h->conf_get(conf, key);
    if (*node == NULL)
        return GANTRY_OK;
    if (h->conf_string(*node, &s) != GANTRY_OK)
        return h->conf_error(*node, "bedrock guardrail: %s must be a string", key);
    if (s.len > 0)
        *out = s.ptr;
    return GANTRY_OK;
}

static int read_bool(const gantry_host_t *h, const gantry_conf_t *conf, const char *key, bool *out)
{
    const gantry_conf_t *n = h->conf_get(conf, key);
    *out = false;
    if (n != NULL && h->conf_bool(n, out) != GANTRY_OK)
        return h->conf_error(n, "bedrock guardrail: %s must be true or false", key);
    return GANTRY_OK;
}

static bool lower_alnum(const char *s)
{
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
            return false;
    }
    return true;
}

/* "arn:aws:bedrock:<region>:<account>:guardrail/<id>": the region field, or empty. */
static gantry_str_t arn_region(const char *id)
{
    if (strncmp(id, "arn:", 4) != 0)
        return GANTRY_STR_NULL;
    const char *p = id;
    for (int field = 0; field < 3; field++) {
        p = strchr(p, ':');
        if (p == NULL)
            return GANTRY_STR_NULL;
        p++;
    }
    const char *end = strchr(p, ':');
    return end != NULL ? (gantry_str_t){p, (size_t)(end - p)} : GANTRY_STR_NULL;
}

static bool region_ok(gantry_str_t r)
{
    if (r.len == 0 || r.len > 32)
        return false;
    for (size_t i = 0; i < r.len; i++) {
        char ch = r.ptr[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            return false;
    }
    return true;
}

/* The region in a "...bedrock...<region>.amazonaws.com" style URL, or empty. */
static gantry_str_t url_region(const char *url)
{
    const char *host = strstr(url, "://");
    if (host == NULL)
        return GANTRY_STR_NULL;
    host += 3;
    size_t hlen = strcspn(host, "/:?");
    bool after_bedrock = false;
    const char *l = host, *end = host + hlen;
    while (l < end) {
        const char *dot = memchr(l, '.', (size_t)(end - l));
        const char *le = dot != NULL ? dot : end;
        gantry_str_t label = {l, (size_t)(le - l)};
        /* us-east-1, eu-central-2, us-gov-west-1: two dashes or more and a final digit. */
        size_t dashes = 0;
        for (size_t i = 0; i < label.len; i++)
            dashes += label.ptr[i] == '-';
        if (after_bedrock && dashes >= 2 && label.len >= 6 && label.ptr[label.len - 1] >= '0' &&
            label.ptr[label.len - 1] <= '9' && region_ok(label))
            return label;
        after_bedrock = false;
        for (size_t i = 0; i + 7 <= label.len && !after_bedrock; i++)
            after_bedrock = strncmp(label.ptr + i, "bedrock", 7) == 0;
        l = dot != NULL ? dot + 1 : end;
    }
    return GANTRY_STR_NULL;
}

/* A base URL: http(s), a host, no spaces, query or fragment; trailing '/' dropped. */
static int check_url(const gantry_host_t *h, const gantry_conf_t *node, const char *url, char **out)
{
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/')
        len--;
    size_t scheme = strncmp(url, "https://", 8) == 0 ? 8 : strncmp(url, "http://", 7) == 0 ? 7 : 0;
    if (scheme == 0 || len <= scheme)
        return h->conf_error(node, "bedrock guardrail: the bedrock-runtime endpoint must be an "
                                   "http:// or https:// URL with a host");
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)url[i];
        if (ch <= 0x20 || ch == 0x7f || ch == '?' || ch == '#')
            return h->conf_error(node, "bedrock guardrail: the bedrock-runtime endpoint must be "
                                       "a plain URL without spaces, query or fragment");
    }
    *out = copy_str(h, url, len);
    return *out != NULL ? GANTRY_OK : GANTRY_ENOMEM;
}

static int conf_guardrail(bg_instance_t *bg, const gantry_conf_t *conf)
{
    const gantry_host_t *h = bg->host;
    const gantry_conf_t *node;
    const char *id, *version;
    int rc;
    if ((rc = read_opt(h, conf, "guardrailIdentifier", &id, &node)) != GANTRY_OK)
        return rc;
    if (id == NULL)
        return h->conf_error(node != NULL ? node : conf,
                             "bedrock guardrail: guardrailIdentifier (the guardrail's id or "
                             "ARN) is required");
    /* Bedrock's own pattern: an id of lowercase letters and digits, or a guardrail ARN. */
    bool ok = strlen(id) <= 2048 && (lower_alnum(id) || strncmp(id, "arn:", 4) == 0);
    for (const char *p = id; ok && *p; p++)
        ok = (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f && *p != '?' && *p != '#';
    if (!ok)
        return h->conf_error(node, "bedrock guardrail: guardrailIdentifier must be a guardrail "
                                   "id (lowercase letters and digits) or a guardrail ARN");
    if ((bg->guardrail_id = copy_str(h, id, strlen(id))) == NULL)
        return GANTRY_ENOMEM;

    if ((rc = read_opt(h, conf, "guardrailVersion", &version, &node)) != GANTRY_OK)
        return rc;
    if (version == NULL)
        version = "DRAFT";
    size_t vlen = strlen(version);
    ok = strcmp(version, "DRAFT") == 0 ||
         (vlen >= 1 && vlen <= 8 && version[0] >= '1' && version[0] <= '9');
    for (size_t i = 0; ok && strcmp(version, "DRAFT") != 0 && i < vlen; i++)
        ok = version[i] >= '0' && version[i] <= '9';
    if (!ok)
        return h->conf_error(node, "bedrock guardrail: guardrailVersion must be DRAFT or a "
                                   "version number (1, 2, ...)");
    bg->version = copy_str(h, version, vlen);
    return bg->version != NULL ? GANTRY_OK : GANTRY_ENOMEM;
}

static int conf_endpoint(bg_instance_t *bg, const gantry_conf_t *conf)
{
    const gantry_host_t *h = bg->host;
    const gantry_conf_t *rt_node, *base_node, *region_node, *node;
    const char *runtime, *base, *region, *profile;
    int rc;
    if ((rc = read_opt(h, conf, "aws_bedrock_runtime_endpoint", &runtime, &rt_node)) != 0 ||
        (rc = read_opt(h, conf, "api_base", &base, &base_node)) != 0 ||
        (rc = read_opt(h, conf, "aws_region_name", &region, &region_node)) != 0 ||
        (rc = read_opt(h, conf, "aws_profile_name", &profile, &node)) != 0)
        return rc;
    /* aws_bedrock_runtime_endpoint wins over api_base (LiteLLM's order), then the SDK variable. */
    const gantry_conf_t *ep_node = runtime != NULL ? rt_node : base_node;
    const char *ep = runtime != NULL ? runtime : base;
    if (ep == NULL) {
        ep = getenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME");
        ep_node = conf;
        if (ep != NULL && *ep == '\0')
            ep = NULL;
    }
    if (ep != NULL && (rc = check_url(h, ep_node, ep, &bg->endpoint)) != GANTRY_OK)
        return rc;

    /* The signing region: configured, else the endpoint's, else the ARN's, else the chain's. */
    gantry_str_t r = region != NULL ? (gantry_str_t){region, strlen(region)} : GANTRY_STR_NULL;
    if (r.len == 0 && bg->endpoint != NULL)
        r = url_region(bg->endpoint);
    if (r.len == 0)
        r = arn_region(bg->guardrail_id);
    if (r.len == 0) {
        const char *d = aws_default_region(profile);
        if (d != NULL)
            r = (gantry_str_t){d, strlen(d)};
    }
    if (r.len == 0)
        r = GANTRY_STR_LIT(default_region);
    if (!region_ok(r))
        return h->conf_error(region_node != NULL ? region_node : conf,
                             "bedrock guardrail: aws_region_name must look like us-east-1");
    if ((bg->region = copy_str(h, r.ptr, r.len)) == NULL)
        return GANTRY_ENOMEM;
    if (bg->endpoint == NULL) {
        size_t n = sizeof("https://bedrock-runtime..amazonaws.com") + r.len;
        if ((bg->endpoint = h->mem_alloc(n)) == NULL)
            return GANTRY_ENOMEM;
        snprintf(bg->endpoint, n, "https://bedrock-runtime.%s.amazonaws.com", bg->region);
    }

    /* The identifier is a path segment: an ARN's ':' and '/' are encoded, as AWS SDKs do. */
    size_t idlen = strlen(bg->guardrail_id);
    size_t enc = aws_uri_encode(bg->guardrail_id, idlen, false, NULL, 0);
    size_t n =
        strlen(bg->endpoint) + sizeof("/guardrail//version//apply") + enc + strlen(bg->version);
    if ((bg->url = h->mem_alloc(n)) == NULL)
        return GANTRY_ENOMEM;
    int k = snprintf(bg->url, n, "%s/guardrail/", bg->endpoint);
    aws_uri_encode(bg->guardrail_id, idlen, false, bg->url + k, n - (size_t)k);
    k += (int)enc;
    snprintf(bg->url + k, n - (size_t)k, "/version/%s/apply", bg->version);
    return GANTRY_OK;
}

static int conf_credentials(bg_instance_t *bg, const gantry_conf_t *conf)
{
    const gantry_host_t *h = bg->host;
    const gantry_conf_t *node, *akid_node, *secret_node;
    const char *akid, *secret, *token, *profile, *role, *session, *wit, *sts;
    int rc;
    if ((rc = read_opt(h, conf, "aws_access_key_id", &akid, &akid_node)) != 0 ||
        (rc = read_opt(h, conf, "aws_secret_access_key", &secret, &secret_node)) != 0 ||
        (rc = read_opt(h, conf, "aws_session_token", &token, &node)) != 0 ||
        (rc = read_opt(h, conf, "aws_profile_name", &profile, &node)) != 0 ||
        (rc = read_opt(h, conf, "aws_role_name", &role, &node)) != 0 ||
        (rc = read_opt(h, conf, "aws_session_name", &session, &node)) != 0 ||
        (rc = read_opt(h, conf, "aws_web_identity_token", &wit, &node)) != 0 ||
        (rc = read_opt(h, conf, "aws_sts_endpoint", &sts, &node)) != 0)
        return rc;
    if ((akid == NULL) != (secret == NULL))
        return h->conf_error(akid != NULL ? akid_node : secret_node,
                             "bedrock guardrail: aws_access_key_id and aws_secret_access_key go "
                             "together");
    aws_cred_conf_t cc = {
        .access_key_id = akid,
        .secret_access_key = secret,
        .session_token = token,
        .profile = profile,
        .role_arn = role,
        .session_name = session,
        .web_identity_token_file = wit,
        .sts_endpoint = sts,
        .region = bg->region,
    };
    char err[256] = "";
    bg->creds = aws_creds_new(&cc, err, sizeof err);
    if (bg->creds == NULL)
        return h->conf_error(conf, "bedrock guardrail: AWS credentials: %s",
                             err[0] ? err : "invalid settings");
    return GANTRY_OK;
}

/* A duration: an integer of milliseconds, or a string such as "500ms", "5s", "1.5s", "2m". */
static int conf_timeout(bg_instance_t *bg, const gantry_conf_t *conf)
{
    const gantry_host_t *h = bg->host;
    const gantry_conf_t *node = h->conf_get(conf, "timeout");
    bg->timeout_ms = BG_DEFAULT_TIMEOUT_MS;
    if (node == NULL)
        return GANTRY_OK;
    int64_t ms = -1;
    gantry_str_t s;
    if (h->conf_type(node) == GANTRY_CONF_INT && h->conf_int(node, &ms) == GANTRY_OK) {
        /* already milliseconds */
    } else if (h->conf_type(node) == GANTRY_CONF_STRING && h->conf_string(node, &s) == GANTRY_OK) {
        char *end;
        errno = 0;
        double v = strtod(s.ptr, &end);
        double mult = -1;
        if (end != s.ptr && errno == 0 && isfinite(v) && v >= 0) {
            if (*end == '\0' || strcmp(end, "ms") == 0)
                mult = 1;
            else if (strcmp(end, "s") == 0)
                mult = 1000;
            else if (strcmp(end, "m") == 0)
                mult = 60000;
        }
        if (mult > 0 && v * mult <= (double)BG_MAX_TIMEOUT_MS * 2)
            ms = (int64_t)(v * mult + 0.5);
    }
    if (ms < 0)
        return h->conf_error(node, "bedrock guardrail: timeout must be milliseconds (5000) or a "
                                   "duration such as \"500ms\", \"5s\", \"1m\"");
    /* A bare small number is most likely seconds written as milliseconds: say so. */
    if (ms < BG_MIN_TIMEOUT_MS || ms > BG_MAX_TIMEOUT_MS)
        return h->conf_error(node,
                             "bedrock guardrail: timeout must be from %d ms to 10 minutes "
                             "(a number is milliseconds; write \"5s\" for seconds)",
                             BG_MIN_TIMEOUT_MS);
    bg->timeout_ms = ms;
    return GANTRY_OK;
}

static int conf_window(bg_instance_t *bg, const gantry_conf_t *conf)
{
    const gantry_host_t *h = bg->host;
    const gantry_conf_t *node = h->conf_get(conf, "stream_window");
    int64_t v;
    bg->stream_window = BG_DEFAULT_WINDOW;
    if (node == NULL)
        return GANTRY_OK;
    if (h->conf_int(node, &v) != GANTRY_OK || v < BG_MIN_WINDOW || v > BG_MAX_WINDOW)
        return h->conf_error(node,
                             "bedrock guardrail: stream_window must be an integer from %d to %d "
                             "(characters of streamed text per check)",
                             BG_MIN_WINDOW, BG_MAX_WINDOW);
    bg->stream_window = (size_t)v;
    return GANTRY_OK;
}

static void bg_destroy(void *state)
{
    bg_instance_t *bg = state;
    if (bg == NULL)
        return;
    const gantry_host_t *h = bg->host;
    if (bg->creds != NULL)
        aws_creds_release(bg->creds);
    h->mem_free(bg->guardrail_id);
    h->mem_free(bg->version);
    h->mem_free(bg->endpoint);
    h->mem_free(bg->url);
    h->mem_free(bg->region);
    h->mem_free(bg);
}

static int bg_create(const gantry_host_t *host, gantry_instance_t *self, const gantry_conf_t *conf,
                     void **state)
{
    /* Modes and deferred verdicts are ABI 1.2; a core without them cannot run this guardrail. */
    if (!GANTRY_HOST_HAS(host, verdict_deliver) || !GANTRY_HOST_HAS(host, http_call) ||
        !GANTRY_HOST_HAS(host, guard_modes))
        return host->conf_error(conf, "bedrock guardrail: needs a Gantry core with plugin ABI "
                                      "1.2 (guardrail modes and deferred verdicts)");
    bg_instance_t *bg = host->mem_calloc(1, sizeof(*bg));
    if (bg == NULL)
        return host->conf_error(conf, "out of memory");
    int rc;
    bg->host = host;
    bg->self = self;
    bg->name = host->instance_name(self);
    if (bg->name == NULL)
        bg->name = "bedrock_guardrail";
    bg->modes = host->guard_modes(self);
    if (bg->modes & GANTRY_GUARD_LOGGING_ONLY) {
        /* The LOG phase runs the guardrail synchronously on the loggers' copy; an ApplyGuardrail
         * call cannot be waited for there. */
        rc = host->conf_error(conf,
                              "bedrock guardrail '%s': mode logging_only is not supported: it "
                              "needs a call to Bedrock while the request is being logged, and "
                              "logging cannot wait for one; use post_call with "
                              "mask_response_content instead",
                              bg->name);
        goto fail;
    }
    if ((rc = conf_guardrail(bg, conf)) != GANTRY_OK ||
        (rc = conf_endpoint(bg, conf)) != GANTRY_OK ||
        (rc = read_bool(host, conf, "mask_request_content", &bg->mask_request)) != GANTRY_OK ||
        (rc = read_bool(host, conf, "mask_response_content", &bg->mask_response)) != GANTRY_OK ||
        (rc = conf_timeout(bg, conf)) != GANTRY_OK || (rc = conf_window(bg, conf)) != GANTRY_OK ||
        (rc = conf_credentials(bg, conf)) != GANTRY_OK)
        goto fail;
    if (bg->mask_request && (bg->modes & GANTRY_GUARD_DURING_CALL) &&
        !(bg->modes & GANTRY_GUARD_PRE_CALL))
        host->log(self, NULL, GANTRY_LOG_WARN,
                  "mask_request_content has no effect in during_call mode: the request is "
                  "already upstream when the verdict comes (use pre_call to mask)");
    *state = bg;
    return GANTRY_OK;
fail:
    if (rc == GANTRY_ENOMEM)
        host->conf_error(conf, "out of memory");
    bg_destroy(bg);
    return rc;
}

static const gantry_conf_field_t bg_fields[] = {
    {"guardrailIdentifier", GANTRY_CONF_STRING, GANTRY_CONF_REQUIRED,
     "the Bedrock guardrail's id or ARN"},
    {"guardrailVersion", GANTRY_CONF_STRING, 0, "DRAFT (default) or a version number"},
    {"aws_access_key_id", GANTRY_CONF_STRING, GANTRY_CONF_SECRET, "static access key id"},
    {"aws_secret_access_key", GANTRY_CONF_STRING, GANTRY_CONF_SECRET, "static secret access key"},
    {"aws_session_token", GANTRY_CONF_STRING, GANTRY_CONF_SECRET,
     "session token of temporary static credentials"},
    {"aws_region_name", GANTRY_CONF_STRING, 0, "region of the guardrail, e.g. us-east-1"},
    {"aws_profile_name", GANTRY_CONF_STRING, 0,
     "profile of the shared AWS config/credentials files"},
    {"aws_role_name", GANTRY_CONF_STRING, 0, "role ARN to assume with the base credentials"},
    {"aws_session_name", GANTRY_CONF_STRING, 0, "session name for the assumed role"},
    {"aws_web_identity_token", GANTRY_CONF_STRING, GANTRY_CONF_SECRET,
     "file holding a web identity (OIDC) token, used with aws_role_name"},
    {"aws_sts_endpoint", GANTRY_CONF_STRING, 0, "STS endpoint URL for role assumption"},
    {"aws_bedrock_runtime_endpoint", GANTRY_CONF_STRING, 0,
     "bedrock-runtime base URL (VPC endpoints, proxies)"},
    {"api_base", GANTRY_CONF_STRING, 0,
     "bedrock-runtime base URL (same as aws_bedrock_runtime_endpoint)"},
    {"mask_request_content", GANTRY_CONF_BOOL, 0,
     "pre_call: send the guardrail's anonymized prompt upstream instead of blocking it"},
    {"mask_response_content", GANTRY_CONF_BOOL, 0,
     "post_call: give the client the guardrail's anonymized answer instead of blocking it"},
    {"timeout", GANTRY_CONF_ANY, 0,
     "how long to wait for Bedrock: milliseconds, or \"500ms\", \"5s\" (default 5s)"},
    {"stream_window", GANTRY_CONF_INT, 0,
     "characters of streamed text per ApplyGuardrail call (default 1000)"},
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

static const gantry_ops_t bg_ops = {
    .size = sizeof(gantry_ops_t),
    .create = bg_create,
    .destroy = bg_destroy,
    .check_request = bg_check_request,
    .check_chunk = bg_check_chunk,
    .check_response = bg_check_response,
};

static const gantry_plugin_desc_t bg_desc = {
    .size = sizeof(gantry_plugin_desc_t),
    .abi_major = GANTRY_ABI_MAJOR,
    .abi_minor = GANTRY_ABI_MINOR,
    .kind = GANTRY_KIND_GUARDRAIL,
    .name = "bedrock_guardrail",
    .version = "0.1.0",
    .summary = "checks prompts and completions with Amazon Bedrock Guardrails (ApplyGuardrail)",
    .flags = 0,
    .config_fields = bg_fields,
    .deployment_fields = NULL,
    .ops = &bg_ops,
};

GANTRY_PLUGIN(&bg_desc)
