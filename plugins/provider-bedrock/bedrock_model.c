/*
 * The bedrock provider: what a model string says.  LiteLLM's spellings are kept:
 *   bedrock/<modelId>            Converse
 *   bedrock/converse/<modelId>   Converse
 *   bedrock/invoke/<modelId>     InvokeModel with the family's native body
 * A model id may carry a cross-region inference profile prefix ("us.", "eu.", "apac.",
 * "global.") or be an ARN (inference profiles, provisioned models, managed prompts).  Pure
 * functions, so the golden tests and the config check see the same answers.
 */
#include <stdio.h>

#include "bedrock.h"

/* Prefixes of cross-region inference profiles; what follows them is a base model id. */
static const char *const region_prefixes[] = {
    "us", "eu", "apac", "global", "us-gov", "jp", "au", "ca", "sa", "me", "af", "il", "mx",
};

static gantry_str_t skip_region_prefix(gantry_str_t id)
{
    const char *dot = memchr(id.ptr, '.', id.len);
    if (dot == NULL)
        return id;
    gantry_str_t head = {id.ptr, (size_t)(dot - id.ptr)};
    for (size_t i = 0; i < sizeof(region_prefixes) / sizeof(region_prefixes[0]); i++) {
        if (br_str_eq(head, region_prefixes[i]))
            return (gantry_str_t){dot + 1, id.len - head.len - 1};
    }
    return id;
}

br_family_t br_family_of(gantry_str_t id)
{
    id = skip_region_prefix(id);
    if (br_has_prefix(id, "anthropic."))
        return BR_FAM_ANTHROPIC;
    if (br_has_prefix(id, "amazon.titan-text-") || br_has_prefix(id, "amazon.titan-tg1"))
        return BR_FAM_TITAN_TEXT;
    if (br_has_prefix(id, "amazon.titan-embed-text-") ||
        br_has_prefix(id, "amazon.titan-embed-g1-text"))
        return BR_FAM_TITAN_EMBED;
    if (br_has_prefix(id, "amazon.nova-") && !br_contains_ci(id, "embed"))
        return BR_FAM_NOVA;
    if (br_has_prefix(id, "meta.llama"))
        return BR_FAM_LLAMA;
    if (br_has_prefix(id, "mistral."))
        return BR_FAM_MISTRAL;
    if (br_has_prefix(id, "cohere.embed-"))
        return BR_FAM_COHERE_EMBED;
    if (br_has_prefix(id, "openai."))
        return BR_FAM_OPENAI;
    return BR_FAM_OTHER;
}

/* The i-th ':'-separated field of an ARN (0 is "arn"), or empty. */
static gantry_str_t arn_field(gantry_str_t arn, int i, gantry_str_t *rest)
{
    const char *p = arn.ptr, *end = arn.ptr + arn.len;
    for (int k = 0; k < i; k++) {
        const char *c = memchr(p, ':', (size_t)(end - p));
        if (c == NULL)
            return GANTRY_STR_NULL;
        p = c + 1;
    }
    const char *c = memchr(p, ':', (size_t)(end - p));
    if (rest != NULL)
        *rest = (gantry_str_t){p, (size_t)(end - p)};
    return (gantry_str_t){p, c != NULL ? (size_t)(c - p) : (size_t)(end - p)};
}

static bool valid_id_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_';
}

/* arn:aws:bedrock:<region>:<account>:prompt/<id>[:<version>] */
static int parse_prompt_arn(gantry_str_t resource, br_model_t *out, char *err, size_t errlen)
{
    gantry_str_t p = {resource.ptr + 7, resource.len - 7}; /* after "prompt/" */
    const char *colon = memchr(p.ptr, ':', p.len);
    gantry_str_t id = {p.ptr, colon != NULL ? (size_t)(colon - p.ptr) : p.len};
    gantry_str_t ver =
        colon != NULL ? (gantry_str_t){colon + 1, p.len - id.len - 1} : GANTRY_STR_NULL;
    if (id.len == 0 || (colon != NULL && ver.len == 0)) {
        snprintf(err, errlen, "the prompt ARN has no prompt id or an empty version");
        return -1;
    }
    /* The id and the version go into a URL path and query: keep them to their documented forms. */
    for (size_t i = 0; i < id.len; i++) {
        if (!valid_id_char(id.ptr[i])) {
            snprintf(err, errlen, "the prompt id in the ARN has an invalid character");
            return -1;
        }
    }
    for (size_t i = 0; i < ver.len; i++) {
        if (!valid_id_char(ver.ptr[i])) {
            snprintf(err, errlen, "the prompt version in the ARN has an invalid character");
            return -1;
        }
    }
    out->prompt = true;
    out->prompt_id = id;
    out->prompt_version = ver;
    return 0;
}

int br_model_parse(gantry_str_t s, br_model_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->api = BR_API_CONVERSE;
    bool explicit_invoke = false;
    if (br_has_prefix(s, "converse/")) {
        s.ptr += 9;
        s.len -= 9;
    } else if (br_has_prefix(s, "invoke/")) {
        s.ptr += 7;
        s.len -= 7;
        out->api = BR_API_INVOKE;
        explicit_invoke = true;
    }
    if (s.len == 0) {
        snprintf(err, errlen, "model must name the Bedrock model id after the provider prefix");
        return -1;
    }
    for (size_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (ch <= 0x20 || ch == 0x7f) {
            snprintf(err, errlen, "the model id contains spaces or control characters");
            return -1;
        }
    }
    out->id = s;

    gantry_str_t base = s;
    if (br_has_prefix(s, "arn:")) {
        gantry_str_t resource;
        gantry_str_t service = arn_field(s, 2, NULL);
        out->region = arn_field(s, 3, NULL);
        arn_field(s, 5, &resource);
        if (!br_str_eq(service, "bedrock") || out->region.len == 0 || resource.len == 0) {
            snprintf(err, errlen,
                     "a model ARN must look like arn:aws:bedrock:<region>:<account>:<resource>");
            return -1;
        }
        if (br_has_prefix(resource, "prompt/")) {
            if (explicit_invoke) {
                snprintf(err, errlen, "managed prompts are served through Converse, not invoke/");
                return -1;
            }
            return parse_prompt_arn(resource, out, err, errlen);
        }
        /* inference-profile/us.anthropic..., foundation-model/anthropic...: the tail says the
         * family; provisioned and application profiles do not say it. */
        const char *slash = NULL;
        for (size_t i = resource.len; i > 0; i--) {
            if (resource.ptr[i - 1] == '/') {
                slash = resource.ptr + i - 1;
                break;
            }
        }
        if (slash != NULL)
            base = (gantry_str_t){slash + 1, (size_t)(resource.ptr + resource.len - slash - 1)};
    }
    out->family = br_family_of(base);

    /* Embedding models have no Converse API: they are always called with InvokeModel. */
    if (out->family == BR_FAM_TITAN_EMBED || out->family == BR_FAM_COHERE_EMBED)
        out->api = BR_API_INVOKE;
    if (out->api == BR_API_INVOKE &&
        (out->family == BR_FAM_OTHER || out->family == BR_FAM_OPENAI)) {
        snprintf(err, errlen,
                 "invoke/ needs a model family whose native body the plugin knows (anthropic.*, "
                 "amazon.titan-text-*, meta.llama*, mistral.*, amazon.nova-*, "
                 "amazon.titan-embed-text-*, cohere.embed-*); use converse/ for this model");
        return -1;
    }
    return 0;
}

static bool is_region_label(gantry_str_t l)
{
    /* us-east-1, eu-central-2, us-gov-west-1, ap-southeast-4: letters and dashes, a final digit. */
    int dashes = 0;
    if (l.len < 6 || l.ptr[l.len - 1] < '0' || l.ptr[l.len - 1] > '9')
        return false;
    for (size_t i = 0; i < l.len; i++) {
        char ch = l.ptr[i];
        if (ch == '-')
            dashes++;
        else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')))
            return false;
    }
    return dashes >= 2;
}

gantry_str_t br_region_of_url(gantry_str_t url)
{
    const char *p = url.ptr, *end = url.ptr + url.len;
    const char *scheme = NULL;
    for (const char *q = p; q + 2 < end; q++) {
        if (q[0] == ':' && q[1] == '/' && q[2] == '/') {
            scheme = q + 3;
            break;
        }
    }
    if (scheme == NULL)
        return GANTRY_STR_NULL;
    const char *host_end = scheme;
    while (host_end < end && *host_end != '/' && *host_end != ':' && *host_end != '?')
        host_end++;
    /* Look for <...bedrock...>.<region>. among the host's labels. */
    bool after_bedrock = false;
    const char *l = scheme;
    while (l < host_end) {
        const char *dot = memchr(l, '.', (size_t)(host_end - l));
        const char *le = dot != NULL ? dot : host_end;
        gantry_str_t label = {l, (size_t)(le - l)};
        if (after_bedrock && is_region_label(label))
            return label;
        after_bedrock = br_contains_ci(label, "bedrock");
        l = dot != NULL ? dot + 1 : host_end;
    }
    return GANTRY_STR_NULL;
}
