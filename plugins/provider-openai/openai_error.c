/*
 * The openai provider: describing upstream errors.  OpenAI answers {"error": {"message", "type",
 * "param", "code"}}; compatible servers vary ({"error": "text"}, {"message": ...} at the top level,
 * FastAPI's {"detail": ...}, or an HTML page from a proxy in front), so every shape is tried and
 * anything else becomes a short excerpt.  Text from the upstream reaches clients and logs, so it is
 * cut short, reduced to valid UTF-8 without control characters, and scrubbed of the API key.
 */
#include <stdio.h>
#include <string.h>

#include "openai.h"

#define MESSAGE_CAP 1000 /* bytes kept of an upstream error message */
#define EXCERPT_CAP 200  /* bytes kept of a body that is not a recognised error object */
#define FIELD_CAP 100    /* bytes kept of type, code and param */

/* Keys shorter than this are placeholders ("ollama", "none") and may well be ordinary words. */
#define MIN_SCRUBBED_KEY 8

static const char redacted[] = "[redacted]";

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 when it is not valid there. */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        if (p[0] == 0xe0)
            lo = 0xa0; /* overlong */
        else if (p[0] == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        if (p[0] == 0xf0)
            lo = 0x90; /* overlong */
        else if (p[0] == 0xf4)
            hi = 0x8f; /* beyond U+10FFFF */
    } else {
        return 0;
    }
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    }
    return n;
}

/* The credentials of a deployment, which upstream text must never carry to clients or logs. */
typedef struct secrets {
    gantry_str_t s[2];
} secrets_t;

/* Length of the secret that starts at p, or 0. */
static size_t secret_at(const secrets_t *secrets, const unsigned char *p, size_t avail)
{
    for (size_t k = 0; secrets != NULL && k < 2; k++) {
        gantry_str_t s = secrets->s[k];
        if (s.len >= MIN_SCRUBBED_KEY && avail >= s.len && memcmp(p, s.ptr, s.len) == 0)
            return s.len;
    }
    return 0;
}

/*
 * Copy at most `cap` bytes of `in` into the arena as clean text: invalid UTF-8 becomes '?', runs of
 * control characters and whitespace become one space (none at either end), every occurrence of
 * a secret becomes "[redacted]", and "..." marks a cut.  Returns an empty string (static) when the
 * arena is exhausted; the work is bounded by `cap`, not by the size of the input.
 */
static gantry_str_t clean_text(const gantry_host_t *host, gantry_req_t *req, gantry_str_t in,
                               size_t cap, const secrets_t *secrets)
{
    if (in.ptr == NULL || in.len == 0)
        return (gantry_str_t){"", 0};
    char *out = host->alloc(req, cap + sizeof("...")); /* the "..." and the NUL */
    if (out == NULL)
        return (gantry_str_t){"", 0};

    const unsigned char *p = (const unsigned char *)in.ptr;
    size_t i = 0, o = 0;
    bool space = false, cut = false;

    while (i < in.len) {
        const char *unit;
        size_t n, skip;
        if ((skip = secret_at(secrets, p + i, in.len - i)) > 0) {
            unit = redacted;
            n = sizeof(redacted) - 1;
            i += skip;
        } else if (p[i] <= 0x20 || p[i] == 0x7f) {
            space = true;
            i++;
            continue;
        } else if ((n = utf8_len(p + i, in.len - i)) == 0) {
            unit = "?";
            n = 1;
            i++;
        } else {
            unit = (const char *)p + i;
            i += n;
        }
        size_t sep = (space && o > 0) ? 1 : 0;
        if (o + sep + n > cap) {
            cut = true;
            break;
        }
        if (sep)
            out[o++] = ' ';
        memcpy(out + o, unit, n);
        o += n;
        space = false;
    }
    if (cut) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return (gantry_str_t){out, o};
}

/* The text of a message-like node: a string as is, any other JSON serialized. */
static gantry_str_t node_text(const gantry_host_t *host, gantry_req_t *req,
                              const gantry_json_t *node)
{
    gantry_str_t s = GANTRY_STR_NULL;
    switch (host->json_type(node)) {
    case GANTRY_JSON_STRING:
        return host->json_string(node);
    case GANTRY_JSON_OBJECT:
    case GANTRY_JSON_ARRAY:
    case GANTRY_JSON_NUMBER:
    case GANTRY_JSON_BOOL:
        if (host->json_write(req, node, &s) != GANTRY_OK)
            s = GANTRY_STR_NULL;
        return s;
    default:
        return GANTRY_STR_NULL;
    }
}

/* FastAPI's "detail" is a string, or a list of {"loc", "msg", "type"}: the first msg says most. */
static gantry_str_t detail_text(const gantry_host_t *host, gantry_req_t *req,
                                const gantry_json_t *detail)
{
    if (host->json_type(detail) == GANTRY_JSON_ARRAY) {
        gantry_str_t msg = host->json_string(host->json_get(host->json_first(detail), "msg"));
        if (msg.ptr != NULL)
            return msg;
    }
    return node_text(host, req, detail);
}

/* "code" is a string for OpenAI and a number (the HTTP status) for vLLM and others. */
static gantry_str_t code_text(const gantry_host_t *host, gantry_req_t *req,
                              const gantry_json_t *node, int *numeric)
{
    double d;
    *numeric = 0;
    if (host->json_type(node) == GANTRY_JSON_STRING)
        return host->json_string(node);
    if (host->json_number(node, &d) != GANTRY_OK || !(d >= -1e15 && d <= 1e15))
        return GANTRY_STR_NULL;

    long long v = (long long)d;
    char buf[32];
    int n = (d == (double)v) ? snprintf(buf, sizeof(buf), "%lld", v)
                             : snprintf(buf, sizeof(buf), "%g", d);
    if (d == (double)v && v >= 100 && v <= 599)
        *numeric = (int)v;
    if (n <= 0 || (size_t)n >= sizeof(buf))
        return GANTRY_STR_NULL;
    char *copy = host->strdup(req, buf, (size_t)n);
    return copy != NULL ? (gantry_str_t){copy, (size_t)n} : GANTRY_STR_NULL;
}

/* Case-insensitive substring test; `needle` is lowercase. */
static bool contains(gantry_str_t hay, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= hay.len; i++) {
        size_t k = 0;
        while (k < n && openai_lower(hay.ptr[i + k]) == needle[k])
            k++;
        if (k == n)
            return true;
    }
    return false;
}

/* The class an HTTP status implies, or `fallback` for statuses without a fixed meaning. */
static gantry_error_class_t class_for_status(int status, gantry_error_class_t fallback)
{
    switch (status) {
    case 400:
        return GANTRY_ERR_BAD_REQUEST;
    case 401:
    case 403:
        return GANTRY_ERR_AUTH;
    case 404:
        return GANTRY_ERR_NOT_FOUND;
    case 408:
    case 504: /* a gateway timeout in front of the model server: plugin.h counts it as TIMEOUT */
        return GANTRY_ERR_TIMEOUT;
    case 429:
        return GANTRY_ERR_RATE_LIMIT;
    default:
        return (status >= 500 && status <= 599) ? GANTRY_ERR_SERVER : fallback;
    }
}

/*
 * A prompt longer than the model's window is a 400 whose wording differs per server (OpenAI,
 * vLLM, DeepSeek, Mistral).  Rate-limit answers also talk about tokens ("too many tokens per
 * minute" from a 429 or Groq's 413), so the wording alone is trusted only on a bad-request answer.
 */
static bool is_context_window(const gantry_error_t *err)
{
    if (openai_str_eq(err->code, "context_length_exceeded"))
        return true;
    if (err->class_ != GANTRY_ERR_BAD_REQUEST || err->status == 413 || err->status == 429)
        return false;
    return contains(err->message, "maximum context length") ||
           contains(err->message, "context length") || contains(err->message, "context window") ||
           contains(err->message, "too many tokens");
}

/*
 * Fill err from an error body.  `root` is the parsed body or NULL; `raw` is the body as received.
 * When `status_from_code` is set (an error inside a 2xx answer), a numeric "code" that is an HTTP
 * error status replaces err->status.
 */
static void describe(const openai_instance_t *inst, const openai_deployment_t *dep,
                     gantry_req_t *req, const gantry_json_t *root, gantry_str_t raw,
                     gantry_error_t *err, bool status_from_code)
{
    const gantry_host_t *host = inst->host;
    gantry_str_t message = GANTRY_STR_NULL, type = GANTRY_STR_NULL, code = GANTRY_STR_NULL,
                 param = GANTRY_STR_NULL;
    size_t cap = MESSAGE_CAP;
    int numeric = 0;

    bool responsible_ai = false;
    if (host->json_type(root) == GANTRY_JSON_OBJECT) {
        const gantry_json_t *src = root;
        const gantry_json_t *e = host->json_get(root, "error");
        if (host->json_type(e) == GANTRY_JSON_OBJECT)
            src = e;
        else if (host->json_type(e) == GANTRY_JSON_STRING)
            message = host->json_string(e);
        if (message.ptr == NULL)
            message = node_text(host, req, host->json_get(src, "message"));
        if (message.ptr == NULL && src == root)
            message = detail_text(host, req, host->json_get(root, "detail"));
        type = host->json_string(host->json_get(src, "type"));
        param = host->json_string(host->json_get(src, "param"));
        code = code_text(host, req, host->json_get(src, "code"), &numeric);
        /* Azure's content filter names itself in innererror.code, whatever the outer code. */
        responsible_ai = openai_str_eq(
            host->json_string(host->json_get(host->json_get(src, "innererror"), "code")),
            "ResponsibleAIPolicyViolation");
    }
    if (message.ptr == NULL) {
        message = raw;
        cap = EXCERPT_CAP;
    }

    if (status_from_code && numeric >= 400) {
        err->status = numeric;
        err->class_ =
            class_for_status(numeric, numeric < 500 ? GANTRY_ERR_BAD_REQUEST : GANTRY_ERR_SERVER);
    } else {
        err->class_ = class_for_status(err->status, err->class_);
    }

    /* Upstreams echo what they were sent (Azure quotes a wrong api-key), so every field is
     * scrubbed. */
    secrets_t secrets = {{dep->api_key, dep->ad_token}};
    err->message = clean_text(host, req, message, cap, &secrets);
    err->type = clean_text(host, req, type, FIELD_CAP, &secrets);
    err->code = clean_text(host, req, code, FIELD_CAP, &secrets);
    err->param = clean_text(host, req, param, FIELD_CAP, &secrets);
    if (err->message.len == 0) {
        char buf[64];
        int n = snprintf(buf, sizeof(buf), "the upstream answered HTTP %d", err->status);
        char *copy = (n > 0 && (size_t)n < sizeof(buf)) ? host->strdup(req, buf, (size_t)n) : NULL;
        err->message = copy != NULL ? (gantry_str_t){copy, (size_t)n}
                                    : GANTRY_STR_LIT("the upstream answered with an error");
    }

    if (is_context_window(err))
        err->class_ = GANTRY_ERR_CONTEXT_WINDOW;
    else if (responsible_ai || openai_str_eq(err->code, "content_filter") ||
             openai_str_eq(err->code, "content_policy_violation"))
        err->class_ = GANTRY_ERR_CONTENT_POLICY;
}

void openai_map_error(gantry_req_t *req, void *state, void *deployment, int status,
                      gantry_str_t body, gantry_error_t *err)
{
    const openai_instance_t *inst = state;
    /* Whatever the body says, the client is given the status the upstream answered with. */
    err->status = status;
    describe(inst, deployment, req, inst->host->json_parse(req, body), body, err, false);
}

gantry_action_t openai_fail_with_error(const openai_instance_t *inst,
                                       const openai_deployment_t *dep, gantry_req_t *req,
                                       const gantry_json_t *root, gantry_str_t raw)
{
    gantry_error_t err = {
        .size = sizeof(err),
        .status = 502,
        .class_ = GANTRY_ERR_SERVER,
        .retry_after_ms = -1,
    };
    describe(inst, dep, req, root, raw, &err, true);
    return inst->host->req_fail(req, err.status, err.class_, err.type.len > 0 ? err.type.ptr : NULL,
                                err.code.len > 0 ? err.code.ptr : NULL, "%.*s",
                                (int)err.message.len, err.message.ptr);
}
