/*
 * The bedrock provider: describing upstream errors.  Bedrock answers {"message": "..."} (some
 * services "Message") with the error's name in the x-amzn-errortype header, which map_error()
 * does not see, so the class comes from the status and, for 400s, from the wording; stream
 * exceptions do carry their name (":exception-type").  Upstream text reaches clients and logs, so
 * it is cut short, made valid UTF-8 without control characters, and scrubbed of credentials.
 */
#include <stdio.h>

#include "bedrock.h"

#define MESSAGE_CAP 1000
#define EXCERPT_CAP 200
#define MIN_SCRUBBED 8 /* shorter "secrets" are placeholders and may be ordinary words */

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
        lo = p[0] == 0xe0 ? 0xa0 : 0x80;
        hi = p[0] == 0xed ? 0x9f : 0xbf;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        lo = p[0] == 0xf0 ? 0x90 : 0x80;
        hi = p[0] == 0xf4 ? 0x8f : 0xbf;
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

/* The secrets a message must never show: the API key and the current AWS credentials. */
static size_t secrets(br_ctx_t *c, gantry_str_t out[4])
{
    size_t n = 0;
    const bedrock_deployment_t *dep = c->dep;
    if (dep == NULL)
        return 0;
    if (dep->api_key != NULL)
        out[n++] = (gantry_str_t){dep->api_key, strlen(dep->api_key)};
    const aws_creds_t *cr = dep->creds != NULL ? aws_creds_get(dep->creds) : NULL;
    if (cr != NULL) {
        if (cr->secret_access_key != NULL)
            out[n++] = (gantry_str_t){cr->secret_access_key, strlen(cr->secret_access_key)};
        if (cr->session_token != NULL)
            out[n++] = (gantry_str_t){cr->session_token, strlen(cr->session_token)};
        if (cr->access_key_id != NULL)
            out[n++] = (gantry_str_t){cr->access_key_id, strlen(cr->access_key_id)};
    }
    return n;
}

gantry_str_t br_clean_text(br_ctx_t *c, gantry_str_t in, size_t cap)
{
    static const char redacted[] = "[redacted]";
    const gantry_host_t *h = c->host;
    gantry_str_t sec[4];
    size_t nsec = secrets(c, sec);
    if (in.ptr == NULL || in.len == 0)
        return GANTRY_STR_LIT("");
    char *out = h->alloc(c->req, cap + 4);
    if (out == NULL)
        return GANTRY_STR_LIT("");
    const unsigned char *p = (const unsigned char *)in.ptr;
    size_t i = 0, o = 0;
    bool space = false, cut = false;
    while (i < in.len) {
        const char *unit = NULL;
        size_t n = 0;
        for (size_t k = 0; k < nsec && unit == NULL; k++) {
            if (sec[k].len >= MIN_SCRUBBED && in.len - i >= sec[k].len &&
                memcmp(p + i, sec[k].ptr, sec[k].len) == 0) {
                unit = redacted;
                n = sizeof(redacted) - 1;
                i += sec[k].len;
            }
        }
        if (unit == NULL) {
            if (p[i] <= 0x20 || p[i] == 0x7f) {
                space = true;
                i++;
                continue;
            }
            if ((n = utf8_len(p + i, in.len - i)) == 0) {
                unit = "?";
                n = 1;
                i++;
            } else {
                unit = (const char *)p + i;
                i += n;
            }
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

gantry_str_t br_error_message(br_ctx_t *c, gantry_str_t body)
{
    const gantry_host_t *h = c->host;
    gantry_json_t *root = h->json_parse(c->req, body);
    gantry_str_t msg = br_get_str(h, root, "message");
    if (msg.ptr == NULL)
        msg = br_get_str(h, root, "Message");
    if (msg.ptr == NULL) /* Anthropic-shaped errors from invoke */
        msg = br_get_str(h, h->json_get(root, "error"), "message");
    if (msg.ptr != NULL)
        return br_clean_text(c, msg, MESSAGE_CAP);
    return br_clean_text(c, body, EXCERPT_CAP);
}

static const char *type_for(gantry_error_class_t cls)
{
    switch (cls) {
    case GANTRY_ERR_BAD_REQUEST:
    case GANTRY_ERR_CONTEXT_WINDOW:
    case GANTRY_ERR_CONTENT_POLICY:
        return "invalid_request_error";
    case GANTRY_ERR_AUTH:
        return "authentication_error";
    case GANTRY_ERR_NOT_FOUND:
        return "not_found_error";
    case GANTRY_ERR_RATE_LIMIT:
        return "rate_limit_error";
    case GANTRY_ERR_TIMEOUT:
        return "timeout";
    default:
        return "api_error";
    }
}

static gantry_error_class_t class_for_status(int status)
{
    switch (status) {
    case 400:
    case 413:
    case 422:
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
        /* 424 ModelErrorException is the model failing, not the request being wrong. */
        return status == 424 || status >= 500 ? GANTRY_ERR_SERVER : GANTRY_ERR_BAD_REQUEST;
    }
}

/* Bedrock's wordings for a prompt longer than the model's window (a ValidationException). */
static bool is_context_window(gantry_str_t msg)
{
    static const char *const phrases[] = {
        "too long",        "context length",     "context window",
        "context limit",   "maximum context",    "too many input tokens",
        "too many tokens", "prompt is too long", "input length",
    };
    for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++) {
        if (br_contains_ci(msg, phrases[i]))
            return true;
    }
    return false;
}

void bedrock_map_error(gantry_req_t *req, void *state, void *deployment, int status,
                       gantry_str_t body, gantry_error_t *err)
{
    const bedrock_instance_t *inst = state;
    br_ctx_t c = {.host = inst->host, .req = req, .inst = inst, .dep = deployment};
    err->status = status;
    err->class_ = class_for_status(status);
    err->message = br_error_message(&c, body);
    err->code = GANTRY_STR_NULL;
    err->param = GANTRY_STR_NULL;
    if (err->class_ == GANTRY_ERR_BAD_REQUEST && is_context_window(err->message)) {
        err->class_ = GANTRY_ERR_CONTEXT_WINDOW;
        err->code = GANTRY_STR_LIT("context_length_exceeded");
    }
    const char *t = type_for(err->class_);
    err->type = (gantry_str_t){t, strlen(t)};
    if (err->message.len == 0) {
        char buf[64];
        int n = snprintf(buf, sizeof(buf), "Bedrock answered HTTP %d", status);
        char *m = n > 0 ? inst->host->strdup(req, buf, (size_t)n) : NULL;
        err->message = m != NULL ? (gantry_str_t){m, (size_t)n} : GANTRY_STR_LIT("Bedrock error");
    }
}

/* Stream exceptions and Anthropic error types: status and class by name. */
static const struct {
    const char *name; /* lowercase, without an "exception" suffix */
    int status;
    gantry_error_class_t cls;
} exceptions[] = {
    {"throttling", 429, GANTRY_ERR_RATE_LIMIT},
    {"servicequotaexceeded", 429, GANTRY_ERR_RATE_LIMIT},
    {"rate_limit_error", 429, GANTRY_ERR_RATE_LIMIT},
    {"validation", 400, GANTRY_ERR_BAD_REQUEST},
    {"invalid_request_error", 400, GANTRY_ERR_BAD_REQUEST},
    {"request_too_large", 413, GANTRY_ERR_BAD_REQUEST},
    {"accessdenied", 403, GANTRY_ERR_AUTH},
    {"permission_error", 403, GANTRY_ERR_AUTH},
    {"unrecognizedclient", 403, GANTRY_ERR_AUTH},
    {"invalidsignature", 403, GANTRY_ERR_AUTH},
    {"expiredtoken", 403, GANTRY_ERR_AUTH},
    {"authentication_error", 401, GANTRY_ERR_AUTH},
    {"resourcenotfound", 404, GANTRY_ERR_NOT_FOUND},
    {"not_found_error", 404, GANTRY_ERR_NOT_FOUND},
    {"modeltimeout", 408, GANTRY_ERR_TIMEOUT},
    {"modelerror", 424, GANTRY_ERR_SERVER},
    {"modelstreamerror", 502, GANTRY_ERR_SERVER},
    {"modelnotready", 503, GANTRY_ERR_SERVER},
    {"serviceunavailable", 503, GANTRY_ERR_SERVER},
    {"overloaded_error", 503, GANTRY_ERR_SERVER},
    {"internalserver", 500, GANTRY_ERR_SERVER},
    {"api_error", 500, GANTRY_ERR_SERVER},
};

gantry_action_t br_fail_exception(br_ctx_t *c, gantry_str_t type, gantry_str_t payload)
{
    const gantry_host_t *h = c->host;
    char name[64];
    size_t n = 0;
    for (size_t i = 0; i < type.len && n + 1 < sizeof(name); i++) {
        char ch = type.ptr[i];
        name[n++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    name[n] = '\0';
    if (n > 9 && strcmp(name + n - 9, "exception") == 0)
        name[n - 9] = '\0';
    int status = 502;
    gantry_error_class_t cls = GANTRY_ERR_SERVER;
    for (size_t i = 0; i < sizeof(exceptions) / sizeof(exceptions[0]); i++) {
        if (strcmp(name, exceptions[i].name) == 0) {
            status = exceptions[i].status;
            cls = exceptions[i].cls;
            break;
        }
    }
    gantry_str_t msg = payload.len > 0 ? br_error_message(c, payload) : GANTRY_STR_NULL;
    const char *code = NULL;
    if (cls == GANTRY_ERR_BAD_REQUEST && is_context_window(msg)) {
        cls = GANTRY_ERR_CONTEXT_WINDOW;
        code = "context_length_exceeded";
    }
    gantry_str_t tname = br_clean_text(c, type, 64);
    return h->req_fail(c->req, status, cls, type_for(cls), code, "Bedrock %.*s%s%.*s",
                       (int)(tname.len > 0 ? tname.len : 5), tname.len > 0 ? tname.ptr : "error",
                       msg.len > 0 ? ": " : "", (int)msg.len, msg.ptr != NULL ? msg.ptr : "");
}
