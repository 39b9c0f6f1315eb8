/*
 * The gemini provider: describing upstream errors.  Google APIs answer
 * {"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED", "details": [...]}}
 * (google.rpc.Status); the canonical status of `status` decides the HTTP status and error class.
 * Text from the upstream reaches clients and logs, so it is cut short, reduced to valid UTF-8
 * without control characters, and scrubbed of the API key.
 */
#include <stdio.h>
#include <string.h>

#include "gemini.h"

#define MESSAGE_CAP 1000 /* bytes kept of an upstream error message */
#define EXCERPT_CAP 200  /* bytes kept of a body that is not a Google error object */
#define FIELD_CAP 64     /* bytes kept of the status name used as the error code */
#define MIN_SCRUBBED_KEY 8

/* google.rpc.Code names and the HTTP status Google maps each to. */
static const struct {
    const char *name;
    int status;
} rpc_codes[] = {
    {"INVALID_ARGUMENT", 400},
    {"FAILED_PRECONDITION", 400},
    {"OUT_OF_RANGE", 400},
    {"UNAUTHENTICATED", 401},
    {"PERMISSION_DENIED", 403},
    {"NOT_FOUND", 404},
    {"ABORTED", 409},
    {"ALREADY_EXISTS", 409},
    {"RESOURCE_EXHAUSTED", 429},
    {"CANCELLED", 499},
    {"INTERNAL", 500},
    {"UNKNOWN", 500},
    {"DATA_LOSS", 500},
    {"UNIMPLEMENTED", 501},
    {"UNAVAILABLE", 503},
    {"DEADLINE_EXCEEDED", 504},
};

static size_t utf8_len(const unsigned char *p, size_t avail)
{
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        lo = p[0] == 0xe0 ? 0xa0 : lo;
        hi = p[0] == 0xed ? 0x9f : hi;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        lo = p[0] == 0xf0 ? 0x90 : lo;
        hi = p[0] == 0xf4 ? 0x8f : hi;
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

/*
 * At most `cap` bytes of `in` as clean text in the arena: invalid UTF-8 becomes '?', runs of
 * whitespace and control characters one space, the secret "[redacted]", and "..." marks a cut.
 */
static gantry_str_t clean_text(const gantry_host_t *host, gantry_req_t *req, gantry_str_t in,
                               size_t cap, gantry_str_t secret)
{
    static const char redacted[] = "[redacted]";
    if (in.ptr == NULL || in.len == 0)
        return (gantry_str_t){"", 0};
    char *out = host->alloc(req, cap + 4);
    if (out == NULL)
        return (gantry_str_t){"", 0};
    const unsigned char *p = (const unsigned char *)in.ptr;
    size_t i = 0, o = 0;
    bool space = false, cut = false, scrub = secret.len >= MIN_SCRUBBED_KEY;
    while (i < in.len) {
        const char *unit;
        size_t n;
        if (scrub && in.len - i >= secret.len && memcmp(p + i, secret.ptr, secret.len) == 0) {
            unit = redacted;
            n = sizeof(redacted) - 1;
            i += secret.len;
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

static char lower(char ch)
{
    return (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
}

/* Case-insensitive substring test; `needle` is lowercase. */
static bool contains(gantry_str_t hay, const char *needle)
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

static gantry_error_class_t class_for_status(int status)
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
    case 504:
        return GANTRY_ERR_TIMEOUT;
    case 429:
        return GANTRY_ERR_RATE_LIMIT;
    default:
        return status >= 500 ? GANTRY_ERR_SERVER : GANTRY_ERR_BAD_REQUEST;
    }
}

static const char *type_for_status(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 429:
        return "rate_limit_error";
    default:
        return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

/* An error detail of the given @type suffix ("RetryInfo", "ErrorInfo"), or NULL. */
static const gantry_json_t *detail(const gantry_host_t *host, const gantry_json_t *e,
                                   const char *type)
{
    const gantry_json_t *details = host->json_get(e, "details");
    size_t n = strlen(type);
    for (const gantry_json_t *d = host->json_first(details); d != NULL; d = host->json_next(d)) {
        gantry_str_t t = host->json_string(host->json_get(d, "@type"));
        if (t.len >= n && memcmp(t.ptr + t.len - n, type, n) == 0)
            return d;
    }
    return NULL;
}

/* RetryInfo.retryDelay is a protobuf Duration in JSON: "37s", "1.5s". */
static int64_t retry_delay_ms(const gantry_host_t *host, const gantry_json_t *e)
{
    gantry_str_t d = host->json_string(host->json_get(detail(host, e, "RetryInfo"), "retryDelay"));
    double ms = 0, frac = 0.1;
    size_t i = 0;
    bool digits = false;
    if (d.len < 2 || d.ptr[d.len - 1] != 's')
        return -1;
    while (i < d.len - 1 && d.ptr[i] >= '0' && d.ptr[i] <= '9' && ms < 1e9) {
        ms = ms * 10 + (d.ptr[i++] - '0') * 1.0;
        digits = true;
    }
    ms *= 1000;
    if (i < d.len - 1 && d.ptr[i] == '.') {
        for (i++; i < d.len - 1 && d.ptr[i] >= '0' && d.ptr[i] <= '9'; i++, frac /= 10)
            ms += (d.ptr[i] - '0') * frac * 1000;
    }
    if (!digits || i != d.len - 1)
        return -1;
    return (int64_t)ms;
}

/* Google words a prompt beyond the model's window as "The input token count (N) exceeds the
 * maximum number of tokens allowed (M)". */
static bool is_context_window(gantry_str_t msg)
{
    return (contains(msg, "token count") && contains(msg, "exceed")) ||
           contains(msg, "exceeds the maximum number of tokens") ||
           contains(msg, "context window") || contains(msg, "context length") ||
           contains(msg, "too many tokens");
}

/*
 * Fill err from an error body.  `root` is the parsed body or NULL; `raw` the body as received.
 * With `status_from_body` (an error inside a 2xx answer or a stream) the status comes from the
 * body: its numeric code, else its status name, else 502.
 */
static void describe(const gemini_instance_t *inst, const gemini_deployment_t *dep,
                     gantry_req_t *req, const gantry_json_t *root, gantry_str_t raw,
                     gantry_error_t *err, bool status_from_body)
{
    const gantry_host_t *host = inst->host;
    gantry_str_t message = GANTRY_STR_NULL, rpc = GANTRY_STR_NULL;
    gantry_str_t secret = dep != NULL ? dep->api_key : GANTRY_STR_NULL;
    const gantry_json_t *e = NULL;
    size_t cap = MESSAGE_CAP;
    double code = 0;

    /* Some Google front ends answer a list of errors: the first one speaks for all. */
    if (host->json_type(root) == GANTRY_JSON_ARRAY)
        root = host->json_first(root);
    if (host->json_type(host->json_get(root, "error")) == GANTRY_JSON_OBJECT)
        e = host->json_get(root, "error");
    if (e != NULL) {
        message = host->json_string(host->json_get(e, "message"));
        rpc = host->json_string(host->json_get(e, "status"));
        if (host->json_number(host->json_get(e, "code"), &code) != GANTRY_OK)
            code = 0;
    }
    if (message.ptr == NULL) {
        message = raw;
        cap = EXCERPT_CAP;
    }

    if (status_from_body) {
        int st = 0;
        if (code >= 400 && code <= 599 && code == (double)(int)code)
            st = (int)code;
        for (size_t i = 0; st == 0 && i < sizeof(rpc_codes) / sizeof(rpc_codes[0]); i++) {
            if (gemini_str_eq(rpc, rpc_codes[i].name))
                st = rpc_codes[i].status;
        }
        err->status = st != 0 ? st : 502;
    }
    err->class_ = class_for_status(err->status);
    err->message = clean_text(host, req, message, cap, secret);
    err->code = clean_text(host, req, rpc, FIELD_CAP, GANTRY_STR_NULL);
    if (err->message.len == 0) {
        char buf[64];
        int n = snprintf(buf, sizeof(buf), "the upstream answered HTTP %d", err->status);
        char *copy = (n > 0 && (size_t)n < sizeof(buf)) ? host->strdup(req, buf, (size_t)n) : NULL;
        err->message = copy != NULL ? (gantry_str_t){copy, (size_t)n}
                                    : GANTRY_STR_LIT("the upstream answered with an error");
    }

    /* Google answers a bad key with 400 INVALID_ARGUMENT; clients and cooldowns expect 401. */
    gantry_str_t reason = host->json_string(host->json_get(detail(host, e, "ErrorInfo"), "reason"));
    if (gemini_str_eq(reason, "API_KEY_INVALID") ||
        (err->status == 400 && contains(err->message, "api key not valid"))) {
        err->status = 401;
        err->class_ = GANTRY_ERR_AUTH;
        err->code = GANTRY_STR_LIT("invalid_api_key");
    } else if (err->class_ == GANTRY_ERR_BAD_REQUEST && is_context_window(err->message)) {
        err->class_ = GANTRY_ERR_CONTEXT_WINDOW;
        err->code = GANTRY_STR_LIT("context_length_exceeded");
    }
    const char *type = type_for_status(err->status);
    err->type = (gantry_str_t){type, strlen(type)};
    if (err->retry_after_ms < 0 && err->class_ == GANTRY_ERR_RATE_LIMIT)
        err->retry_after_ms = retry_delay_ms(host, e);
}

void gemini_map_error(gantry_req_t *req, void *state, void *deployment, int status,
                      gantry_str_t body, gantry_error_t *err)
{
    const gemini_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    gantry_json_t *root = host->json_parse(req, body);
    /* Whatever the body says, the client is given the status the upstream answered with. */
    err->status = status;
    describe(inst, deployment, req, root, body, err, false);
    host->json_release(req, root);
}

gantry_action_t gemini_fail_with_error(const gemini_instance_t *inst,
                                       const gemini_deployment_t *dep, gantry_req_t *req,
                                       const gantry_json_t *root, gantry_str_t raw)
{
    gantry_error_t err = {
        .size = sizeof(err),
        .status = 502,
        .class_ = GANTRY_ERR_SERVER,
        .retry_after_ms = -1,
    };
    describe(inst, dep, req, root, raw, &err, true);
    return inst->host->req_fail(req, err.status, err.class_, err.type.ptr,
                                err.code.len > 0 ? err.code.ptr : NULL, "%.*s",
                                (int)err.message.len, err.message.ptr);
}

gantry_action_t gemini_fail_blocked(const gemini_instance_t *inst, gantry_req_t *req,
                                    const gantry_json_t *feedback)
{
    const gantry_host_t *host = inst->host;
    gantry_str_t why = host->json_string(host->json_get(feedback, "blockReason"));
    gantry_str_t text = host->json_string(host->json_get(feedback, "blockReasonMessage"));
    why = clean_text(host, req, why, FIELD_CAP, GANTRY_STR_NULL);
    text = clean_text(host, req, text, MESSAGE_CAP, GANTRY_STR_NULL);
    return host->req_fail(
        req, 400, GANTRY_ERR_CONTENT_POLICY, "invalid_request_error", "content_policy_violation",
        "The prompt was blocked by Gemini's content filter (blockReason: "
        "%.*s)%s%.*s",
        (int)why.len, why.ptr, text.len > 0 ? ": " : ".", (int)text.len, text.ptr);
}
